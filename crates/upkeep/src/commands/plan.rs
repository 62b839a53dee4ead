//! `upkeep plan`: what a run would do, in what order, and why.

use std::sync::Arc;

use upkeep_core::exit_codes;
use upkeep_core::ops::query::PlanRequest;
use upkeep_core::run::Reporter;

use super::{Context, WithManifest, print_json, print_text};
use crate::cli::{PlanArgs, UpdateArgs};
use crate::error::CliError;
use crate::render;

pub(crate) fn plan(ctx: &Context, args: PlanArgs) -> Result<i32, CliError> {
    let PlanArgs {
        targets,
        force,
        updates:
            UpdateArgs {
                allow_breaking,
                types,
                check,
            },
    } = args;
    let request = PlanRequest {
        targets,
        force,
        allow_breaking,
        types,
        check_first: check,
    };
    let reporter: Arc<dyn Reporter> = Arc::new(render::progress::ProgressReporter::new(ctx.json));
    let report = upkeep_core::ops::query::plan(&ctx.ops, request, &reporter)?;
    let manifest = ctx.manifest_used();
    if ctx.json {
        print_json(&WithManifest {
            manifest,
            value: &report,
        })?;
    } else {
        render::warnings(&report.warnings);
        print_text(&render::plan_table(&report.plan))?;
    }
    Ok(exit_codes::OK)
}
