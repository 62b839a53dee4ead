//! `upkeep status`: every module of the manifest with its declared and applied version,
//! and the state's figures.

use upkeep_core::exit_codes;

use super::{Context, print_json, print_text};
use crate::error::CliError;
use crate::render;

pub(crate) fn status(ctx: &Context, only_metrics: bool) -> Result<i32, CliError> {
    if only_metrics {
        let figures = upkeep_core::ops::query::metrics(&ctx.ops)?;
        if ctx.json {
            print_json(&figures)?;
        } else {
            print_text(&render::metrics(&figures))?;
        }
        return Ok(exit_codes::OK);
    }
    let rows = upkeep_core::ops::query::status(&ctx.ops)?;
    if ctx.json {
        print_json(&rows)?;
    } else {
        let mut text = render::metrics(&upkeep_core::ops::query::metrics(&ctx.ops)?);
        text.push('\n');
        text.push_str(&render::status_table(&rows));
        print_text(&text)?;
    }
    Ok(exit_codes::OK)
}
