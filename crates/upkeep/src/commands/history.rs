//! `upkeep history`: past runs, per-module outcomes, success rates and mean durations.

use upkeep_core::exit_codes;
use upkeep_core::state::{History, HistoryFilter, Ledger};

use super::{Context, print_json, print_text};
use crate::cli::HistoryArgs;
use crate::error::CliError;
use crate::render;

pub(crate) fn history(ctx: &Context, args: HistoryArgs) -> Result<i32, CliError> {
    let HistoryArgs {
        since,
        modules,
        outcome,
        limit,
    } = args;
    let since_ms = since.map(|d| {
        let ms = i64::try_from(d.as_millis()).unwrap_or(i64::MAX);
        upkeep_core::state::now_ms().saturating_sub(ms)
    });
    let filter = HistoryFilter {
        since_ms,
        modules,
        outcome,
        limit,
    };
    let history = match Ledger::open_existing(&ctx.state_dir)? {
        Some(ledger) => ledger.history(&filter)?,
        None => History::default(),
    };
    if ctx.json {
        print_json(&history)?;
    } else {
        print_text(&render::history(&history, crate::printer::get().layout()))?;
    }
    Ok(exit_codes::OK)
}
