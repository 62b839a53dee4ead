//! `upkeep doctor`: what stands between the updates directory and a first good run.

use super::{Context, print_json, print_text};
use crate::error::CliError;
use crate::render;

pub(crate) fn doctor(ctx: &Context) -> Result<i32, CliError> {
    let report = upkeep_core::ops::doctor::doctor(&ctx.ops)?;
    if ctx.json {
        print_json(&report)?;
    } else {
        render::warnings(&report.manifest.warnings);
        print_text(&render::doctor(&report))?;
    }
    Ok(report.exit_code())
}
