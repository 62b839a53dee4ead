//! `upkeep check`: what the modules' update sources offer, and what their policies take.

use upkeep_core::exit_codes;
use upkeep_core::ops::check::CheckRequest;
use upkeep_core::updates::UpdateType;

use super::{Context, print_json, print_text};
use crate::cli::{CheckArgs, UpdateTypeArg};
use crate::error::CliError;
use crate::render;

/// Exit 0 when every source answered, [`exit_codes::MODULES_FAILED`] when any failed (the
/// others are still reported and cached).
pub(crate) fn check(ctx: &Context, args: CheckArgs) -> Result<i32, CliError> {
    let CheckArgs {
        modules,
        kind,
        security_only,
        details,
        cached,
    } = args;
    let update_type = match kind {
        UpdateTypeArg::App => Some(UpdateType::App),
        UpdateTypeArg::Packages => Some(UpdateType::Packages),
        UpdateTypeArg::Config => Some(UpdateType::Config),
        UpdateTypeArg::Dependencies => Some(UpdateType::Dependencies),
        UpdateTypeArg::All => None,
    };
    let request = CheckRequest {
        modules,
        update_type,
        security_only,
        cached,
    };
    let report = upkeep_core::ops::check::check(&ctx.ops, request)?;
    if ctx.json {
        print_json(&report)?;
    } else {
        print_text(&render::check_report(&report, details))?;
    }
    Ok(if report.summary.failed > 0 {
        exit_codes::MODULES_FAILED
    } else {
        exit_codes::OK
    })
}
