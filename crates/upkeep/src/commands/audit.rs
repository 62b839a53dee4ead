//! `upkeep audit`: the access audit trail, newest first.

use std::time::Duration;

use upkeep_core::exit_codes;

use super::{Context, print_json, print_text};
use crate::error::CliError;
use crate::render;

pub(crate) fn audit(ctx: &Context, since: Option<Duration>) -> Result<i32, CliError> {
    let rows = upkeep_core::ops::audit::list(&ctx.ops, since)?;
    if ctx.json {
        print_json(&rows)?;
        return Ok(exit_codes::OK);
    }
    if rows.is_empty() {
        print_text("no audit entries\n")?;
        return Ok(exit_codes::OK);
    }
    let or_dash = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".to_owned());
    let body: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            vec![
                render::timestamp(r.at_ms),
                format!("{}:{}", r.principal_kind, r.principal),
                or_dash(&r.role),
                or_dash(&r.remote),
                r.action.clone(),
                or_dash(&r.target),
                r.outcome.clone(),
                or_dash(&r.detail),
            ]
        })
        .collect();
    print_text(&render::table(
        &[
            "WHEN", "WHO", "ROLE", "FROM", "ACTION", "TARGET", "OUTCOME", "DETAIL",
        ],
        &body,
    ))?;
    Ok(exit_codes::OK)
}
