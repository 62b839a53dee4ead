//! `upkeep plan`: what a run would do, in what order, and why.

use std::collections::HashMap;

use upkeep_core::exit_codes;
use upkeep_core::plan::{self, PlanOptions};
use upkeep_core::state::Ledger;

use super::{Context, print_json, print_text};
use crate::cli::PlanArgs;
use crate::error::CliError;
use crate::render;

pub(crate) fn plan(ctx: &Context, args: PlanArgs) -> Result<i32, CliError> {
    let PlanArgs {
        targets,
        force,
        updates,
    } = args;
    let manifest = ctx.load_manifest()?;
    if updates.check {
        super::check::refresh(ctx, &manifest, &ctx.settings()?, &updates.types)?;
    }
    let states = match Ledger::open_existing(&ctx.state_dir)? {
        Some(ledger) => ledger.module_states()?,
        None => HashMap::new(),
    };
    let options = PlanOptions {
        targets,
        force,
        allow_breaking: updates.allow_breaking,
        types: updates.types,
    };
    let plan = plan::plan(&manifest, &states, &options)?;
    if ctx.json {
        print_json(&plan)?;
    } else {
        print_text(&render::plan_table(&plan))?;
    }
    Ok(exit_codes::OK)
}
