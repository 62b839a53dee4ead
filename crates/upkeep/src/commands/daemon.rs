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

/// A long-running upkeep's duties: which front end keeps them (for its status lines),
/// whether to stop after one look, the jitter before a due schedule, and the request every
/// scheduled run gets (waiting for the lock, and how it is stopped).
pub(crate) struct Duties {
    pub(crate) who: &'static str,
    pub(crate) once: bool,
    pub(crate) jitter: Duration,
    pub(crate) request: RunRequest,
}

/// How a long-running upkeep waits between its looks at the schedules: `upkeep daemon`
/// waits on its signals ([`Waiter`]), `upkeep serve` on its server's shutdown.
pub(crate) trait Pause {
    /// Sleep for `duration` unless told to stop first.
    fn pause(&mut self, duration: Duration) -> Wake;
}

impl Pause for Waiter {
    fn pause(&mut self, duration: Duration) -> Wake {
        self.wait(duration)
    }
}

pub(crate) fn daemon(ctx: &Context, once: bool, jitter: Duration) -> Result<i32, CliError> {
    let mut waiter = Waiter::new().map_err(io("start waiting for schedules"))?;
    let duties = Duties {
        who: "daemon",
        once,
        jitter,
        request: RunRequest {
            wait: true,
            handle_signals: true,
            ..RunRequest::default()
        },
    };
    keep(ctx, &duties, &mut waiter)
}

/// Keep `duties` until `pause` says stop (or after one look with `once`). The caller keeps
/// a courier of its own for its whole life: it retries undelivered notifications with
/// their backoff between runs, and is woken at every look at the schedules. `upkeep
/// daemon` and `upkeep serve` both call this.
pub(crate) fn keep(ctx: &Context, duties: &Duties, pause: &mut dyn Pause) -> Result<i32, CliError> {
    let courier = (!ctx.ops.resolved().channels.is_empty()).then(|| {
        Courier::start(
            ctx.state_dir().to_path_buf(),
            ctx.ops.resolved().channels.clone(),
            RetryPolicy::default(),
        )
    });
    let result = watch(ctx, duties, courier.as_ref(), pause);
    if let Some(courier) = courier {
        courier.finish(upkeep_core::ops::run::DELIVERY_BOUND);
    }
    result
}

fn watch(
    ctx: &Context,
    duties: &Duties,
    courier: Option<&Courier>,
    pause: &mut dyn Pause,
) -> Result<i32, CliError> {
    let Duties {
        who,
        once,
        jitter,
        request,
    } = duties;
    let reporter: Arc<dyn Reporter> = Arc::new(render::progress::ProgressReporter::new(ctx.json));
    let printer = crate::printer::get();
    printer.status(&format!(
        "upkeep {who}: state {}",
        ctx.state_dir().display()
    ));
    loop {
        // Read at every look, so a changed setting takes effect without a restart.
        let ops = ctx.ops.reload()?.with_courier(courier.map(Courier::handle));
        let mut shown = Ok(());
        let tick = upkeep_core::ops::run::tick(&ops, request, &reporter, &mut |event| {
            match event {
                TickEvent::Due(schedule) => {
                    if ops.resolved().schedules_enabled
                        && !jitter.is_zero()
                        && pause.pause(random_below(*jitter)) == Wake::Stop
                    {
                        return false;
                    }
                    printer.status(&format!("upkeep {who}: schedule {} is due", schedule.name));
                }
                TickEvent::Done(schedule, done) => {
                    shown = shown.and_then(|()| tell(ctx, who, &schedule.name, done));
                }
            }
            true
        })?;
        shown.map_err(|kind| CliError::Output(kind.into()))?;
        if tick.stopped {
            printer.status(&format!("upkeep {who}: stopped"));
            return Ok(exit_codes::OK);
        }
        if *once {
            return Ok(exit_codes::OK);
        }
        let now = ops.clock().now_ms();
        let until_next = tick.next_ms.map_or(RECHECK, |at| {
            Duration::from_millis(u64::try_from(at - now).unwrap_or(0))
        });
        if pause.pause(until_next.min(RECHECK)) == Wake::Stop {
            printer.status(&format!("upkeep {who}: stopped"));
            return Ok(exit_codes::OK);
        }
    }
}

/// Say how a due schedule went: a run's summary on stdout, a line on stderr.
fn tell(ctx: &Context, who: &str, name: &str, done: &Scheduled) -> Result<(), std::io::ErrorKind> {
    let printer = crate::printer::get();
    match done {
        Scheduled::Ran(summary) => {
            if super::run::show(ctx, summary).is_err() {
                return Err(std::io::ErrorKind::BrokenPipe);
            }
            printer.status(&format!(
                "upkeep {who}: schedule {name}: run {} {}",
                summary.run_id.unwrap_or_default(),
                summary.result.name()
            ));
        }
        Scheduled::Skipped { reason, .. } => {
            printer.status(&format!("upkeep {who}: schedule {name} skipped: {reason}"));
        }
        Scheduled::NotStarted { run_id, error } => printer.status(&format!(
            "upkeep {who}: schedule {name}: run {run_id} could not start: {}",
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
