//! `upkeep run`: plan and run (or run as a schedule), with live progress and a summary.

use std::sync::Arc;

use upkeep_core::exit_codes;
use upkeep_core::ops::run::{RunRequest, Scheduled};
use upkeep_core::run::{Reporter, RunResult, RunSummary};

use super::{Context, print_json, print_text};
use crate::cli::{RunArgs, UpdateArgs};
use crate::error::CliError;
use crate::render;

pub(crate) fn run(ctx: &Context, args: RunArgs) -> Result<i32, CliError> {
    let RunArgs {
        targets,
        force,
        updates:
            UpdateArgs {
                allow_breaking,
                types,
                check,
            },
        jobs,
        dry_run,
        timeout,
        grace,
        wait,
        wait_timeout,
        scheduled,
        min_free,
    } = args;
    let request = RunRequest {
        targets,
        force,
        allow_breaking,
        types,
        check_first: check,
        dry_run,
        jobs: jobs.map(usize::from),
        timeout,
        grace: Some(grace),
        wait,
        lock_bound: wait_timeout,
        min_free,
        stream_output: ctx.verbose,
        handle_signals: true,
        cancel: upkeep_core::run::Cancel::default(),
    };
    let reporter: Arc<dyn Reporter> = Arc::new(render::progress::ProgressReporter::new(ctx.json));
    let summary = match scheduled {
        None => upkeep_core::ops::run::run(&ctx.ops, &request, &reporter)?,
        Some(name) => match upkeep_core::ops::run::scheduled(&ctx.ops, &name, &request, &reporter)?
        {
            Scheduled::Ran(summary) => summary,
            Scheduled::Skipped { reason, hint } => {
                crate::printer::get()
                    .message(&format!("schedule {name} skipped: {reason} (`{hint}`)"));
                return Ok(exit_codes::OK);
            }
            Scheduled::NotStarted { run_id, error } => {
                crate::printer::get().message(&format!(
                    "schedule {name}: run {run_id} could not start; recorded in the history"
                ));
                return Err(error.into());
            }
        },
    };
    show(ctx, &summary)?;
    Ok(exit_code(&summary))
}

/// Print the summary (JSON or a table).
pub(crate) fn show(ctx: &Context, summary: &RunSummary) -> Result<(), CliError> {
    if ctx.json {
        print_json(summary)?;
    } else {
        // The run has happened; a closed stdout must not change its exit code.
        let layout = crate::printer::get().layout();
        let _ = print_text(&render::summary(summary, ctx.state_dir(), layout));
    }
    Ok(())
}

pub(crate) fn exit_code(summary: &RunSummary) -> i32 {
    match summary.result {
        RunResult::Succeeded => exit_codes::OK,
        RunResult::Failed => exit_codes::MODULES_FAILED,
        RunResult::IntegrityRefused => exit_codes::INTEGRITY_REFUSED,
        RunResult::Cancelled => exit_codes::CANCELLED,
    }
}
