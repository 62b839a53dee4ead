//! `upkeep run`: plan and run, with live progress and a summary.

use std::sync::Arc;

use upkeep_core::exit_codes;
use upkeep_core::plan::PlanOptions;
use upkeep_core::run::{self, Reporter, RunOptions, RunResult};

use super::{Context, print_json, print_text};
use crate::cli::RunArgs;
use crate::error::CliError;
use crate::render;

pub(crate) fn run(ctx: &Context, args: RunArgs) -> Result<i32, CliError> {
    let RunArgs {
        targets,
        force,
        jobs,
        dry_run,
        timeout,
        grace,
        wait,
        min_free,
    } = args;
    let manifest = ctx.load_manifest()?;
    let mut options = RunOptions::new(ctx.state_dir.clone());
    options.plan = PlanOptions { targets, force };
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
    let reporter: Arc<dyn Reporter> = Arc::new(render::progress::ProgressReporter::new(ctx.json));
    let summary = run::run(&manifest, &options, &reporter)?;
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
