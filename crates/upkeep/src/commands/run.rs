//! `upkeep run`: plan and run, with live progress and a summary.

use std::sync::Arc;

use upkeep_core::exit_codes;
use upkeep_core::plan::PlanOptions;
use upkeep_core::run::{self, Reporter, RunOptions, RunResult};
use upkeep_core::schedule::store;
use upkeep_core::state::schedules::ScheduleRow;
use upkeep_core::updates::UpdateType;

use super::{Context, print_json, print_text};
use crate::cli::RunArgs;
use crate::error::CliError;
use crate::render;

pub(crate) fn run(ctx: &Context, args: RunArgs) -> Result<i32, CliError> {
    let manifest = ctx.load_manifest()?;
    let scheduled = args.scheduled.clone();
    let Some(options) = run_options(ctx, args)? else {
        return Ok(exit_codes::OK);
    };
    let reporter: Arc<dyn Reporter> = Arc::new(render::progress::ProgressReporter::new(ctx.json));
    let summary = run::run(&manifest, &options, &reporter)?;
    if let (Some(name), false) = (&scheduled, options.dry_run) {
        let mut ledger = upkeep_core::state::Ledger::open(&ctx.state_dir)?;
        store::ran(&mut ledger, name, summary.run_id, summary.result.name())?;
    }
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

/// How to run, from the command line, the schedule it runs as and the settings; `None`
/// (after saying so) when the schedule is disabled.
fn run_options(ctx: &Context, args: RunArgs) -> Result<Option<RunOptions>, CliError> {
    let RunArgs {
        targets,
        force,
        updates,
        jobs,
        dry_run,
        timeout,
        grace,
        wait,
        min_free,
        scheduled,
    } = args;
    let mut options = RunOptions::new(ctx.state_dir.clone());
    options.plan = PlanOptions {
        targets,
        force,
        allow_breaking: updates.allow_breaking,
        types: updates.types,
    };
    if let Some(name) = &scheduled {
        let Some(row) = scheduled_row(ctx, name)? else {
            return Ok(None);
        };
        if options.plan.targets.is_empty() {
            options.plan.targets = row.targets;
        }
        if options.plan.types.is_empty() {
            options.plan.types = row
                .types
                .iter()
                .filter_map(|t| UpdateType::from_name(t))
                .collect();
        }
        options.trigger = format!("schedule:{name}");
    }
    if let Some(jobs) = jobs {
        options.jobs = usize::from(jobs);
    }
    options.dry_run = dry_run;
    options.stream_output = ctx.verbose;
    options.timeout = timeout;
    options.grace = grace;
    options.wait_for_lock = wait;
    options.handle_signals = true;
    options.backup = ctx.settings()?.backup_config();
    if let Some(min_free) = min_free {
        options.backup.min_free_bytes = min_free;
    }
    Ok(Some(options))
}

/// The schedule a scheduled run runs as; `None` (after saying so) when it is disabled.
fn scheduled_row(ctx: &Context, name: &str) -> Result<Option<ScheduleRow>, CliError> {
    let ledger = upkeep_core::state::Ledger::open_existing(&ctx.state_dir)?
        .ok_or_else(|| store::ScheduleError::NotFound(name.to_owned()))?;
    let row = store::find(&ledger, name)?;
    if row.enabled {
        return Ok(Some(row));
    }
    eprintln!("schedule {name} is disabled: skipped (`upkeep schedule enable {name}`)");
    Ok(None)
}
