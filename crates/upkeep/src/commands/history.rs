//! `upkeep history`: past runs, per-module outcomes, success rates and mean durations.

use upkeep_core::exit_codes;
use upkeep_core::ops::query::HistoryRequest;

use super::{Context, WithManifest, print_json, print_text};
use crate::cli::HistoryArgs;
use crate::error::CliError;
use crate::render;

pub(crate) fn history(ctx: &Context, args: HistoryArgs) -> Result<i32, CliError> {
    let HistoryArgs {
        since,
        modules,
        outcomes,
        limit,
    } = args;
    let request = HistoryRequest {
        since,
        modules,
        outcomes,
        limit,
    };
    let history = upkeep_core::ops::query::history(&ctx.ops, request)?;
    let manifest = ctx.manifest_used();
    if ctx.json {
        print_json(&WithManifest {
            manifest,
            value: &history,
        })?;
    } else {
        print_text(&render::history(&history, crate::printer::get().layout()))?;
    }
    Ok(exit_codes::OK)
}
