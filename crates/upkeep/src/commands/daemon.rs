//! `upkeep daemon`: run due schedules as their times come, ask the update sources every
//! `update.update_check_interval`, and deliver notifications. Each due schedule goes
//! through the same use case a timer's `upkeep run --scheduled NAME` calls.

use std::sync::Arc;
use std::time::Duration;

use upkeep_core::exit_codes;
use upkeep_core::notify::{Courier, RetryPolicy};
use upkeep_core::ops::run::{RunRequest, Scheduled, TickEvent};
use upkeep_core::run::Reporter;
use upkeep_core::schedule::daemon::{Waiter, Wake};

use super::Context;
use crate::error::{CliError, io};
use crate::render;

/// Look at the schedules at least this often, so added or changed ones are seen.
const RECHECK: Duration = Duration::from_secs(60);

/// The daemon keeps a courier of its own for its whole life: it retries undelivered
/// notifications with their backoff between runs, and is woken at every look at the
/// schedules.
pub(crate) fn daemon(ctx: &Context, once: bool, jitter: Duration) -> Result<i32, CliError> {
    let courier = (!ctx.ops.resolved().channels.is_empty()).then(|| {
        Courier::start(
            ctx.state_dir().to_path_buf(),
            ctx.ops.resolved().channels.clone(),
            RetryPolicy::default(),
        )
    });
    let result = watch(ctx, once, jitter, courier.as_ref());
    if let Some(courier) = courier {
        courier.finish(upkeep_core::ops::run::DELIVERY_BOUND);
    }
    result
}

fn watch(
    ctx: &Context,
    once: bool,
    jitter: Duration,
    courier: Option<&Courier>,
) -> Result<i32, CliError> {
    let mut waiter = Waiter::new().map_err(io("start waiting for schedules"))?;
    let reporter: Arc<dyn Reporter> = Arc::new(render::progress::ProgressReporter::new(ctx.json));
    let printer = crate::printer::get();
    printer.status(&format!(
        "upkeep daemon: state {}",
        ctx.state_dir().display()
    ));
    let request = RunRequest {
        wait: true,
        handle_signals: true,
        ..RunRequest::default()
    };
    loop {
        // Read at every look, so a changed setting takes effect without a restart.
        let ops = ctx.ops.reload()?.with_courier(courier.map(Courier::handle));
        let mut shown = Ok(());
        let tick = upkeep_core::ops::run::tick(&ops, &request, &reporter, &mut |event| {
            match event {
                TickEvent::Due(schedule) => {
                    if ops.resolved().schedules_enabled
                        && !jitter.is_zero()
                        && waiter.wait(random_below(jitter)) == Wake::Stop
                    {
                        return false;
                    }
                    printer.status(&format!("upkeep daemon: schedule {} is due", schedule.name));
                }
                TickEvent::Done(schedule, done) => {
                    shown = shown.and_then(|()| tell(ctx, &schedule.name, done));
                }
            }
            true
        })?;
        shown.map_err(|kind| CliError::Output(kind.into()))?;
        if tick.stopped {
            printer.status("upkeep daemon: stopped");
            return Ok(exit_codes::OK);
        }
        if once {
            return Ok(exit_codes::OK);
        }
        let now = ops.clock().now_ms();
        let until_next = tick.next_ms.map_or(RECHECK, |at| {
            Duration::from_millis(u64::try_from(at - now).unwrap_or(0))
        });
        if waiter.wait(until_next.min(RECHECK)) == Wake::Stop {
            printer.status("upkeep daemon: stopped");
            return Ok(exit_codes::OK);
        }
    }
}

/// Say how a due schedule went: a run's summary on stdout, a line on stderr.
fn tell(ctx: &Context, name: &str, done: &Scheduled) -> Result<(), std::io::ErrorKind> {
    let printer = crate::printer::get();
    match done {
        Scheduled::Ran(summary) => {
            if super::run::show(ctx, summary).is_err() {
                return Err(std::io::ErrorKind::BrokenPipe);
            }
            printer.status(&format!(
                "upkeep daemon: schedule {name}: run {} {}",
                summary.run_id.unwrap_or_default(),
                summary.result.name()
            ));
        }
        Scheduled::Skipped { reason, .. } => {
            printer.status(&format!("upkeep daemon: schedule {name} skipped: {reason}"));
        }
        Scheduled::NotStarted { run_id, error } => printer.status(&format!(
            "upkeep daemon: schedule {name}: run {run_id} could not start: {}",
            upkeep_core::message::failed_to(error)
        )),
    }
    Ok(())
}

/// A time in `[0, limit)`, random enough to spread hosts that share a schedule.
fn random_below(limit: Duration) -> Duration {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u128(
        std::time::UNIX_EPOCH
            .elapsed()
            .unwrap_or_default()
            .as_nanos(),
    );
    let nanos = u64::try_from(limit.as_nanos()).unwrap_or(u64::MAX).max(1);
    Duration::from_nanos(hasher.finish() % nanos)
}
