//! `upkeep run`: plan and run, with live progress and a summary.
//!
//! Notifications are delivered by a courier thread started before the run, so they go out
//! while the run works; at the end the command waits for the last of them at most
//! [`DELIVERY_BOUND`](super::notify::DELIVERY_BOUND). Neither the run's result nor its
//! exit code depends on them.

use std::sync::Arc;

use upkeep_core::exit_codes;
use upkeep_core::lock::LockError;
use upkeep_core::notify::{Courier, Notifier};
use upkeep_core::plan::PlanOptions;
use upkeep_core::run::{self, Reporter, RunError, RunOptions, RunResult};
use upkeep_core::schedule::store;
use upkeep_core::settings::Settings;
use upkeep_core::state::Ledger;
use upkeep_core::state::schedules::ScheduleRow;
use upkeep_core::updates::UpdateType;

use super::notify::{DELIVERY_BOUND, courier};
use super::{Context, print_json, print_text};
use crate::cli::RunArgs;
use crate::error::CliError;
use crate::render;

pub(crate) fn run(ctx: &Context, args: RunArgs) -> Result<i32, CliError> {
    let settings = ctx.settings()?;
    let courier = if args.dry_run {
        None
    } else {
        courier(ctx, &settings)
    };
    let notifier = Notifier {
        routing: settings.notify_routing(),
        courier: courier.as_ref().map(Courier::handle),
    };
    let result = run_with(ctx, args, &settings, notifier);
    if let Some(courier) = courier {
        // Bounded: an endpoint that hangs costs the command this much at most.
        courier.finish(DELIVERY_BOUND);
    }
    result
}

fn run_with(
    ctx: &Context,
    args: RunArgs,
    settings: &Settings,
    notifier: Notifier,
) -> Result<i32, CliError> {
    let manifest = ctx.load_manifest()?;
    let mut options = RunOptions::new(ctx.state_dir.clone());
    set_flags(&mut options, ctx, settings, &args);
    let RunArgs {
        targets,
        force,
        updates,
        dry_run,
        scheduled,
        ..
    } = args;
    let mut targets = targets;
    let mut types = updates.types;
    let mut schedule = None;
    if let Some(name) = &scheduled {
        let record = (!dry_run).then_some(&notifier);
        let Some(row) = scheduled_row(ctx, name, settings, record)? else {
            return Ok(exit_codes::OK);
        };
        if targets.is_empty() {
            targets.clone_from(&row.targets);
        }
        if types.is_empty() {
            types = row
                .types
                .iter()
                .filter_map(|t| UpdateType::from_name(t))
                .collect();
        }
        options.trigger = format!("schedule:{name}");
        schedule = Some(row);
    }
    if (updates.check || schedule.is_some()) && !dry_run {
        super::check::refresh(ctx, &manifest, settings, &types)?;
    }
    options.plan = PlanOptions {
        targets,
        force,
        allow_breaking: updates.allow_breaking,
        types,
    };
    options.notify = notifier;
    let summary = execute(ctx, &manifest, &options, schedule.as_ref())?;
    if ctx.json {
        print_json(&summary)?;
    } else {
        // The run has happened; a closed stdout must not change its exit code.
        let _ = print_text(&render::summary(&summary, &options.state_dir));
    }
    Ok(match summary.result {
        RunResult::Succeeded => exit_codes::OK,
        RunResult::Failed => exit_codes::MODULES_FAILED,
        RunResult::IntegrityRefused => exit_codes::INTEGRITY_REFUSED,
        RunResult::Cancelled => exit_codes::CANCELLED,
    })
}

/// The run options the command line and the settings give directly.
fn set_flags(options: &mut RunOptions, ctx: &Context, settings: &Settings, args: &RunArgs) {
    if let Some(jobs) = args.jobs {
        options.jobs = usize::from(jobs);
    }
    options.dry_run = args.dry_run;
    options.stream_output = ctx.verbose;
    options.timeout = args.timeout;
    options.grace = args.grace;
    options.wait_for_lock = args.wait;
    options.handle_signals = true;
    options.backup = settings.backup_config();
    options.keep_logs = Some(settings.keep_logs());
    if let Some(min_free) = args.min_free {
        options.backup.min_free_bytes = min_free;
    }
}

/// Run, and record a scheduled run (or, when another run holds the lock, the schedule
/// as skipped).
fn execute(
    ctx: &Context,
    manifest: &upkeep_core::manifest::Manifest,
    options: &RunOptions,
    schedule: Option<&ScheduleRow>,
) -> Result<run::RunSummary, CliError> {
    let reporter: Arc<dyn Reporter> = Arc::new(render::progress::ProgressReporter::new(ctx.json));
    let summary = match (run::run(manifest, options, &reporter), schedule) {
        (Err(RunError::Lock(held @ LockError::Held { .. })), Some(row)) => {
            let pid = match &held {
                LockError::Held { holder, .. } => holder.pid.map(|p| format!(" (pid {p})")),
                LockError::StateDir { .. } | LockError::Io { .. } => None,
            };
            let reason = format!("another run holds the lock{}", pid.unwrap_or_default());
            skip(ctx, row, &reason, &options.notify)?;
            return Err(RunError::Lock(held).into());
        }
        (other, _) => other?,
    };
    if let (Some(row), false) = (schedule, options.dry_run) {
        let mut ledger = Ledger::open(&ctx.state_dir)?;
        store::ran(
            &mut ledger,
            &row.name,
            summary.run_id,
            summary.result.name(),
        )?;
    }
    Ok(summary)
}

/// The schedule a scheduled run runs as; `None` (after saying so, and recording it as
/// skipped unless this is a dry run, `record` = `None`) when it is disabled, or schedules
/// are turned off in the settings.
fn scheduled_row(
    ctx: &Context,
    name: &str,
    settings: &Settings,
    record: Option<&Notifier>,
) -> Result<Option<ScheduleRow>, CliError> {
    let ledger = Ledger::open_existing(&ctx.state_dir)?
        .ok_or_else(|| store::ScheduleError::NotFound(name.to_owned()))?;
    let row = store::find(&ledger, name)?;
    drop(ledger);
    let (skipped, hint) = if !row.enabled {
        (
            "the schedule is disabled",
            format!("upkeep schedule enable {name}"),
        )
    } else if !settings.schedules_enabled() {
        (
            "schedules are turned off (setting schedule.enabled = false)",
            "upkeep settings set schedule.enabled true".to_owned(),
        )
    } else {
        return Ok(Some(row));
    };
    if let Some(notifier) = record {
        skip(ctx, &row, skipped, notifier)?;
    }
    eprintln!("schedule {name} skipped: {skipped} (`{hint}`)");
    Ok(None)
}

/// Record that `row` came due and did not run, with its notification.
pub(crate) fn skip(
    ctx: &Context,
    row: &ScheduleRow,
    reason: &str,
    notifier: &Notifier,
) -> Result<(), CliError> {
    let mut ledger = Ledger::open(&ctx.state_dir)?;
    store::skipped(&mut ledger, row, reason, &notifier.routing)?;
    notifier.wake();
    Ok(())
}
