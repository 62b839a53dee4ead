//! `upkeep status [MODULE]`: every module of the manifest with its declared and applied
//! version (a table that fits the terminal, `--wide` for every column), one module in
//! full, or the state's figures.

use upkeep_core::exit_codes;
use upkeep_core::ops::query::{self, StatusRow};

use upkeep_core::ops::ManifestChoice;

use super::{Context, WithManifest, print_json, print_text};
use crate::error::CliError;
use crate::render;

pub(crate) fn status(
    ctx: &Context,
    module: Option<&str>,
    only_metrics: bool,
    wide: bool,
) -> Result<i32, CliError> {
    if only_metrics {
        let figures = query::metrics(&ctx.ops)?;
        if ctx.json {
            let manifest = ctx.manifest_used();
            print_json(&WithManifest {
                manifest,
                value: &figures,
            })?;
        } else {
            print_text(&render::metrics(&figures))?;
        }
        return Ok(exit_codes::OK);
    }
    let rows = query::status(&ctx.ops)?;
    let manifest = ctx.manifest_used();
    match module {
        Some(name) => one(ctx, &rows, name, manifest),
        None => every(ctx, &rows, wide, manifest),
    }
}

/// Every module: the table that fits, or every column.
fn every(
    ctx: &Context,
    rows: &[StatusRow],
    wide: bool,
    manifest: Option<&ManifestChoice>,
) -> Result<i32, CliError> {
    if ctx.json {
        // Each row names the manifest, so that the output stays the array it always was.
        let rows: Vec<WithManifest<'_, StatusRow>> = rows
            .iter()
            .map(|value| WithManifest { manifest, value })
            .collect();
        print_json(&rows)?;
    } else {
        let mut text = render::metrics(&query::metrics(&ctx.ops)?);
        text.push('\n');
        if wide {
            text.push_str(&render::status_wide(rows));
        } else {
            let layout = crate::printer::get().layout();
            text.push_str(&render::status_table(rows, layout));
        }
        print_text(&text)?;
    }
    Ok(exit_codes::OK)
}

/// `upkeep status MODULE`: the module's row, or an unknown-module error naming the
/// closest name (modules the ledger remembers count too).
fn one(
    ctx: &Context,
    rows: &[StatusRow],
    name: &str,
    manifest: Option<&ManifestChoice>,
) -> Result<i32, CliError> {
    let Some(row) = rows.iter().find(|r| r.module == name) else {
        let names = rows.iter().map(|r| r.module.as_str());
        return Err(upkeep_core::plan::PlanError::UnknownTarget {
            name: name.to_owned(),
            suggestion: upkeep_core::text::suggest(name, names),
        }
        .into());
    };
    if ctx.json {
        print_json(&WithManifest {
            manifest,
            value: row,
        })?;
    } else {
        print_text(&render::status_module(row))?;
    }
    Ok(exit_codes::OK)
}
