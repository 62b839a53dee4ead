//! `upkeep daemon`: run due schedules as their times come, ask the update sources every
//! `update.update_check_interval`, and deliver notifications.

use std::time::Duration;

use upkeep_core::exit_codes;
use upkeep_core::notify::{Courier, Notifier};
use upkeep_core::schedule::daemon::{self, Waiter, Wake};
use upkeep_core::settings::Settings;
use upkeep_core::state::schedules::ScheduleRow;
use upkeep_core::state::{Ledger, now_ms};

use super::Context;
use crate::cli::RunArgs;
use crate::error::{CliError, io};

/// Look at the schedules at least this often, so added or changed ones are seen.
const RECHECK: Duration = Duration::from_secs(60);

/// The daemon keeps a courier of its own for its whole life: it retries undelivered
/// notifications with their backoff between runs, and is woken at every look at the
/// schedules.
pub(crate) fn daemon(ctx: &Context, once: bool, jitter: Duration) -> Result<i32, CliError> {
    let courier = super::notify::courier(ctx, &ctx.settings()?);
    let result = watch(ctx, once, jitter, courier.as_ref());
    if let Some(courier) = courier {
        courier.finish(super::notify::DELIVERY_BOUND);
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
    crate::printer::get().status(&format!("upkeep daemon: state {}", ctx.state_dir.display()));
    loop {
        let next_check = check_if_due(ctx)?;
        if let Some(courier) = courier {
            courier.handle().wake();
        }
        let due = match Ledger::open_existing(&ctx.state_dir)? {
            Some(ledger) => daemon::due(&ledger, now_ms())?,
            None => Vec::new(),
        };
        for schedule in due {
            // Read at every schedule, so turning schedules off takes effect at once.
            let settings = ctx.settings()?;
            if !settings.schedules_enabled() {
                skip_turned_off(ctx, &schedule, &settings, courier)?;
                continue;
            }
            if !jitter.is_zero() && waiter.wait(random_below(jitter)) == Wake::Stop {
                crate::printer::get().status("upkeep daemon: stopped");
                return Ok(exit_codes::OK);
            }
            crate::printer::get().status(&format!(
                "upkeep daemon: running schedule {}",
                schedule.name
            ));
            let code = super::run::run(ctx, scheduled_args(&schedule.name))?;
            if code == exit_codes::CANCELLED {
                crate::printer::get().status("upkeep daemon: stopped during a run");
                return Ok(exit_codes::OK);
            }
        }
        if once {
            return Ok(exit_codes::OK);
        }
        let next = match Ledger::open_existing(&ctx.state_dir)? {
            Some(ledger) => daemon::next_due(&ledger)?,
            None => None,
        };
        let next = match (next, next_check) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        let until_next = next.map_or(RECHECK, |at| {
            Duration::from_millis(u64::try_from(at - now_ms()).unwrap_or(0))
        });
        if waiter.wait(until_next.min(RECHECK)) == Wake::Stop {
            crate::printer::get().status("upkeep daemon: stopped");
            return Ok(exit_codes::OK);
        }
    }
}

/// Ask the update sources when the newest check is older than
/// `update.update_check_interval` (new versions are announced as the check records them).
/// Returns when the next check is due; `None` when no module has a source.
fn check_if_due(ctx: &Context) -> Result<Option<i64>, CliError> {
    let settings = ctx.settings()?;
    let interval = i64::try_from(settings.update_check_interval().as_millis()).unwrap_or(i64::MAX);
    let last = match Ledger::open_existing(&ctx.state_dir)? {
        Some(ledger) => ledger.last_check_ms()?,
        None => None,
    };
    let now = now_ms();
    if let Some(last) = last.filter(|last| now - last < interval) {
        return Ok(Some(last.saturating_add(interval)));
    }
    let manifest = match ctx.load_manifest() {
        Ok(manifest) => manifest,
        Err(err) => {
            crate::printer::get()
                .message(&format!("upkeep daemon: cannot check for updates: {err}"));
            return Ok(Some(now.saturating_add(interval)));
        }
    };
    if !manifest.modules.iter().any(|m| m.source.is_some()) {
        return Ok(None);
    }
    crate::printer::get().status("upkeep daemon: checking for updates");
    super::check::refresh(ctx, &manifest, &settings, &[])?;
    Ok(Some(now.saturating_add(interval)))
}

/// Record a due schedule as skipped because `schedule.enabled` is off; it moves on to
/// its next time.
fn skip_turned_off(
    ctx: &Context,
    schedule: &ScheduleRow,
    settings: &Settings,
    courier: Option<&Courier>,
) -> Result<(), CliError> {
    let reason = "schedules are turned off (setting schedule.enabled = false)";
    let notifier = Notifier {
        routing: settings.notify_routing(),
        courier: courier.map(Courier::handle),
    };
    super::run::skip(ctx, schedule, reason, &notifier)?;
    crate::printer::get().status(&format!(
        "upkeep daemon: schedule {} skipped: {reason}",
        schedule.name
    ));
    Ok(())
}

fn scheduled_args(name: &str) -> RunArgs {
    RunArgs {
        targets: Vec::new(),
        force: false,
        updates: crate::cli::UpdateArgs {
            allow_breaking: false,
            types: Vec::new(),
            check: false,
        },
        jobs: None,
        dry_run: false,
        timeout: None,
        grace: Duration::from_secs(5),
        wait: true,
        min_free: None,
        scheduled: Some(name.to_owned()),
    }
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
