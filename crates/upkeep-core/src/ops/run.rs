//! Runs: a person's `upkeep run`, a scheduled run (from a timer's `run --scheduled NAME`
//! or the daemon, which both call [`scheduled`]), and the daemon's look at what is due.

use std::sync::Arc;
use std::time::Duration;

use super::{Context, Error};
use crate::lock::LockError;
use crate::manifest::Manifest;
use crate::notify::{Courier, Notifier, RetryPolicy};
use crate::plan::PlanOptions;
use crate::run::{self, Cancel, Reporter, RunError, RunOptions, RunSummary};
use crate::schedule::store;
use crate::state::schedules::ScheduleRow;
use crate::updates::UpdateType;

/// How long a command waits at its end for notifications still being delivered. Its
/// result never depends on them: what is not delivered by then stays in the outbox and is
/// retried by the next run, the daemon or `notify flush`.
pub const DELIVERY_BOUND: Duration = Duration::from_secs(2);

/// How long a scheduled run waits for another run's lock before it is recorded as not
/// started (unless the request says otherwise): long enough for any ordinary run, short
/// enough that a hung one is noticed the same day.
pub const SCHEDULED_LOCK_BOUND: Duration = Duration::from_secs(3600);

/// What a person asks of a run. Every field is a flag of `upkeep run`; `None` means "what
/// the settings or the engine's defaults say".
#[derive(Debug, Clone, Default)]
#[expect(
    clippy::struct_excessive_bools,
    reason = "independent switches, one per command-line flag"
)]
pub struct RunRequest {
    /// Modules to run (with their children and what they need); empty: the entrypoint,
    /// else all.
    pub targets: Vec<String>,
    /// Rerun modules that are up to date.
    pub force: bool,
    /// Take major and breaking updates that policies hold back.
    pub allow_breaking: bool,
    /// Only modules whose updates are of these types.
    pub types: Vec<UpdateType>,
    /// Ask the update sources before planning.
    pub check_first: bool,
    /// Plan and report without running anything or writing any state.
    pub dry_run: bool,
    /// Modules running at once.
    pub jobs: Option<usize>,
    /// Timeout for modules that set none.
    pub timeout: Option<Duration>,
    /// Time between SIGTERM and SIGKILL when stopping a module.
    pub grace: Option<Duration>,
    /// Wait for another run's lock instead of failing at once.
    pub wait: bool,
    /// With `wait`, give up after this long.
    pub lock_bound: Option<Duration>,
    /// Free-space floor for pre-update backups, overriding `safety.min_disk_space_mb`.
    pub min_free: Option<u64>,
    /// Hand module output lines to the reporter as well as the log.
    pub stream_output: bool,
    /// Cancel on SIGINT and SIGTERM (a command in a terminal; not a server, which cancels
    /// through [`RunRequest::cancel`]).
    pub handle_signals: bool,
    /// Thrown by the caller to stop the run.
    pub cancel: Cancel,
}

/// The run options for `request`: flags over settings over defaults, in this one place.
fn options(ctx: &Context, request: &RunRequest, trigger: String) -> RunOptions {
    let RunRequest {
        targets,
        force,
        allow_breaking,
        types,
        check_first: _,
        dry_run,
        jobs,
        timeout,
        grace,
        wait,
        lock_bound,
        min_free,
        stream_output,
        handle_signals,
        cancel,
    } = request;
    let settings = ctx.resolved();
    let mut options = RunOptions::new(ctx.state_dir().to_path_buf());
    options.plan = PlanOptions {
        targets: targets.clone(),
        force: *force,
        allow_breaking: *allow_breaking,
        types: types.clone(),
    };
    if let Some(jobs) = jobs {
        options.jobs = *jobs;
    }
    options.dry_run = *dry_run;
    options.stream_output = *stream_output;
    options.timeout = *timeout;
    if let Some(grace) = grace {
        options.grace = *grace;
    }
    options.trigger = trigger;
    options.wait_for_lock = *wait;
    options.lock_bound = *lock_bound;
    options.handle_signals = *handle_signals;
    options.cancel = cancel.clone();
    options.backup = settings.backup.clone();
    if let Some(min_free) = min_free {
        options.backup.min_free_bytes = *min_free;
    }
    options.keep_logs = Some(settings.keep_logs);
    options.log_cap = Some(settings.module_log_cap);
    options
}

/// A courier for one use case when the caller keeps none running: started before the
/// work and finished (bounded) after it, so events go out while the work goes on.
pub(super) struct Delivery(Option<Courier>);

impl Delivery {
    /// Start one when `ctx` has channels and no courier of its caller's.
    pub(super) fn start(ctx: &Context) -> Self {
        if ctx.courier.is_some() || ctx.resolved().channels.is_empty() {
            return Self(None);
        }
        Self(Some(Courier::start(
            ctx.state_dir().to_path_buf(),
            ctx.resolved().channels.clone(),
            RetryPolicy::default(),
        )))
    }

    /// What to enqueue events for and whom to wake.
    pub(super) fn notifier(&self, ctx: &Context) -> Notifier {
        ctx.notifier(self.0.as_ref().map(Courier::handle))
    }

    /// Deliver what is due, waiting at most [`DELIVERY_BOUND`].
    pub(super) fn finish(self) {
        if let Some(courier) = self.0 {
            courier.finish(DELIVERY_BOUND);
        }
    }
}

/// Plan and run the manifest as `request` asks (a person's `upkeep run`).
///
/// # Errors
/// [`Error`] when upkeep cannot run at all (manifest, lock, ledger, targets); module
/// failures are outcomes in the summary.
pub fn run(
    ctx: &Context,
    request: &RunRequest,
    reporter: &Arc<dyn Reporter>,
) -> Result<RunSummary, Error> {
    let manifest = ctx.manifest()?;
    let delivery = if request.dry_run {
        Delivery(None)
    } else {
        Delivery::start(ctx)
    };
    let result = run_manifest(
        ctx,
        &manifest,
        request,
        "manual".to_owned(),
        &delivery,
        reporter,
    );
    delivery.finish();
    result
}

fn run_manifest(
    ctx: &Context,
    manifest: &Manifest,
    request: &RunRequest,
    trigger: String,
    delivery: &Delivery,
    reporter: &Arc<dyn Reporter>,
) -> Result<RunSummary, Error> {
    let mut options = options(ctx, request, trigger);
    options.notify = delivery.notifier(ctx);
    if request.check_first && !request.dry_run {
        super::check::refresh(ctx, manifest, &request.types, &options.notify, reporter)?;
    }
    Ok(run::run(manifest, &options, reporter)?)
}

/// What became of a schedule that came due.
#[derive(Debug)]
pub enum Scheduled {
    /// It ran; the run's summary.
    Ran(RunSummary),
    /// It did not run, and was recorded as skipped (disabled, or schedules turned off).
    Skipped {
        /// Why.
        reason: String,
        /// What turns it back on.
        hint: String,
    },
    /// Its run could not start; recorded in the history as run `run_id` with the reason,
    /// and the "run failed to start" notification sent.
    NotStarted {
        /// The recorded run.
        run_id: i64,
        /// Why it could not start.
        error: Error,
    },
}

/// Run schedule `name` now: what `upkeep run --scheduled NAME` (a systemd timer) and the
/// daemon both call. The schedule's targets and types apply unless `request` names its
/// own, and a schedule added with `force` forces the run; its sources are asked first; with `request.wait` the run waits for another run's
/// lock at most `request.lock_bound` (default [`SCHEDULED_LOCK_BOUND`]). A schedule that
/// cannot run never fails silently: it is recorded as skipped (disabled, schedules turned
/// off, another run holding the lock when not asked to wait), or as a run that did not
/// start (the manifest does not load, its targets are gone, the lock stayed held past the
/// bound), with its notification. A dry run records nothing.
///
/// # Errors
/// There is no schedule `name`, or the ledger fails.
pub fn scheduled(
    ctx: &Context,
    name: &str,
    request: &RunRequest,
    reporter: &Arc<dyn Reporter>,
) -> Result<Scheduled, Error> {
    let row = find(ctx, name)?;
    let delivery = if request.dry_run {
        Delivery(None)
    } else {
        Delivery::start(ctx)
    };
    let notifier = delivery.notifier(ctx);
    let result = scheduled_with(ctx, &row, request, &delivery, reporter);
    let recorded = match &result {
        Ok(Scheduled::Skipped { reason, .. }) if !request.dry_run => {
            skip(ctx, &row, reason, &notifier)
        }
        Ok(Scheduled::Ran(summary)) if !request.dry_run => {
            let mut ledger = ctx.ledger()?;
            store::ran(
                &mut ledger,
                &row.name,
                summary.run_id,
                summary.result.status(),
            )
            .map_err(Error::from)
        }
        _ => Ok(()),
    };
    let result = match result {
        // Not asked to wait: another run had this turn, and the schedule skips it.
        Err(Error::Run(RunError::Lock(held @ LockError::Held { .. })))
            if !request.wait && !request.dry_run =>
        {
            let pid = match &held {
                LockError::Held { holder, .. } => holder.pid.map(|p| format!(" (pid {p})")),
                LockError::StateDir { .. } | LockError::Io { .. } => None,
            };
            let reason = format!("another run holds the lock{}", pid.unwrap_or_default());
            skip(ctx, &row, &reason, &notifier)?;
            Err(Error::Run(RunError::Lock(held)))
        }
        Err(error) if !request.dry_run => not_started(ctx, &row, error, &notifier),
        other => other,
    };
    delivery.finish();
    recorded?;
    result
}

fn scheduled_with(
    ctx: &Context,
    row: &ScheduleRow,
    request: &RunRequest,
    delivery: &Delivery,
    reporter: &Arc<dyn Reporter>,
) -> Result<Scheduled, Error> {
    if !row.enabled {
        return Ok(Scheduled::Skipped {
            reason: "the schedule is disabled".to_owned(),
            hint: format!("upkeep schedule enable {}", row.name),
        });
    }
    if !ctx.resolved().schedules_enabled {
        return Ok(Scheduled::Skipped {
            reason: "schedules are turned off (setting schedule.enabled = false)".to_owned(),
            hint: "upkeep settings set schedule.enabled true".to_owned(),
        });
    }
    let manifest = ctx.manifest()?;
    let mut request = request.clone();
    if request.targets.is_empty() {
        request.targets.clone_from(&row.targets);
    }
    if request.types.is_empty() {
        request.types = row
            .types
            .iter()
            .filter_map(|t| UpdateType::from_name(t))
            .collect();
    }
    // Targets that are gone stop the run before anything is asked or locked.
    crate::plan::plan(
        &manifest,
        &std::collections::HashMap::new(),
        &PlanOptions {
            targets: request.targets.clone(),
            ..PlanOptions::default()
        },
    )?;
    request.check_first = true;
    request.force |= row.force;
    request.lock_bound = request.lock_bound.or(Some(SCHEDULED_LOCK_BOUND));
    let trigger = format!("schedule:{}", row.name);
    let summary = run_manifest(ctx, &manifest, &request, trigger, delivery, reporter)?;
    Ok(Scheduled::Ran(summary))
}

/// Record a scheduled run that could not start, with its notification, and wake the
/// courier. A lock held by another run is the one failure that is not the schedule's:
/// it is recorded too, as the run did not happen.
fn not_started(
    ctx: &Context,
    row: &ScheduleRow,
    error: Error,
    notifier: &Notifier,
) -> Result<Scheduled, Error> {
    if matches!(
        &error,
        Error::Run(RunError::Lock(
            LockError::Io { .. } | LockError::StateDir { .. }
        ))
    ) {
        // The state directory itself is unusable: there is nowhere to record it.
        return Err(error);
    }
    let reason = reason_of(&error);
    let manifest = ctx
        .manifest_chosen()
        .map_or_else(|_| std::path::PathBuf::from("-"), |m| m.path.clone());
    let mut ledger = ctx.ledger()?;
    let run_id = store::not_started(&mut ledger, row, &manifest, &reason, &notifier.routing)?;
    notifier.wake();
    Ok(Scheduled::NotStarted { run_id, error })
}

/// The error and its causes, as one line for the ledger and the notification.
fn reason_of(error: &Error) -> String {
    let mut reason = crate::message::failed_to(error);
    if let Error::Manifest(crate::manifest::ManifestError::Invalid { diagnostics, .. }) = error
        && let Some(first) = diagnostics.first()
    {
        reason = format!("{reason}; the first: {}", first.message);
    }
    reason
}

/// Record that `row` came due and did not run, with its notification.
fn skip(ctx: &Context, row: &ScheduleRow, reason: &str, notifier: &Notifier) -> Result<(), Error> {
    let mut ledger = ctx.ledger()?;
    store::skipped(&mut ledger, row, reason, &notifier.routing)?;
    notifier.wake();
    Ok(())
}

fn find(ctx: &Context, name: &str) -> Result<ScheduleRow, Error> {
    let ledger = ctx
        .existing_ledger()?
        .ok_or_else(|| store::ScheduleError::NotFound(name.to_owned()))?;
    Ok(store::find(&ledger, name)?)
}

/// The schedules due now, earliest first.
///
/// # Errors
/// A ledger error.
pub fn due(ctx: &Context) -> Result<Vec<ScheduleRow>, Error> {
    Ok(match ctx.existing_ledger()? {
        Some(ledger) => crate::schedule::daemon::due(&ledger, ctx.clock().now_ms())?,
        None => Vec::new(),
    })
}

/// When the earliest enabled schedule fires next, if any.
///
/// # Errors
/// A ledger error.
pub fn next_due(ctx: &Context) -> Result<Option<i64>, Error> {
    Ok(match ctx.existing_ledger()? {
        Some(ledger) => crate::schedule::daemon::next_due(&ledger)?,
        None => None,
    })
}

/// What the daemon's look at its schedules reports as it goes.
#[derive(Debug)]
pub enum TickEvent<'a> {
    /// This schedule is due and about to run (a caller may wait its jitter here).
    Due(&'a ScheduleRow),
    /// This schedule came due and this became of it.
    Done(&'a ScheduleRow, &'a Scheduled),
}

/// What one look at the schedules did.
#[derive(Debug)]
pub struct Tick {
    /// Whether the caller stopped it, or a run was cancelled: the daemon is going down.
    pub stopped: bool,
    /// When to look again at the latest (ms since the epoch): the next schedule or the
    /// next update check, whichever comes first; `None` when neither is known.
    pub next_ms: Option<i64>,
}

/// One look of a long-running upkeep (`upkeep daemon`, a server) at its duties: ask the
/// update sources when a check is due ([`super::check::refresh_if_due`]), then run every
/// due schedule in turn through [`scheduled`], the function a timer's `run --scheduled`
/// calls, with `request` (`wait` for the lock, the caller's cancel). `on` hears each
/// schedule before and after it runs and returns `false` to stop (a signal during a
/// jitter wait).
///
/// # Errors
/// The ledger fails.
pub fn tick(
    ctx: &Context,
    request: &RunRequest,
    reporter: &Arc<dyn Reporter>,
    on: &mut dyn FnMut(TickEvent<'_>) -> bool,
) -> Result<Tick, Error> {
    let next_check = super::check::refresh_if_due(ctx, reporter)?;
    if let Some(courier) = &ctx.courier {
        courier.wake();
    }
    for schedule in due(ctx)? {
        if !on(TickEvent::Due(&schedule)) {
            return Ok(Tick {
                stopped: true,
                next_ms: None,
            });
        }
        let done = scheduled(ctx, &schedule.name, request, reporter)?;
        let cancelled = matches!(&done, Scheduled::Ran(s) if s.result == crate::run::RunResult::Cancelled)
            || request.cancel.is_cancelled();
        if !on(TickEvent::Done(&schedule, &done)) || cancelled {
            return Ok(Tick {
                stopped: true,
                next_ms: None,
            });
        }
    }
    let next_ms = match (next_due(ctx)?, next_check) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    };
    Ok(Tick {
        stopped: false,
        next_ms,
    })
}
