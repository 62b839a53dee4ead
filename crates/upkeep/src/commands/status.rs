//! `upkeep status [MODULE]`: whether automation works (working, degraded or stopped, and
//! why), every module of the manifest with its declared and applied version and why it is
//! where it is (a table that fits the terminal, `--wide` for every column), one module in
//! full, or the state's figures. `--json` prints `ops::status::StatusReport`, the value
//! the HTTP API's `GET /api/v1/status` serves.

use upkeep_core::exit_codes;
use upkeep_core::ops::query;
use upkeep_core::ops::status::{StatusReport, StatusRow};

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
    let report = upkeep_core::ops::status::status(&ctx.ops)?;
    let manifest = ctx.manifest_used();
    match module {
        Some(name) => one(ctx, &report.modules, name, manifest),
        None => every(ctx, &report, wide, manifest),
    }
}

/// Whether automation works and every module: the table that fits, or every column.
fn every(
    ctx: &Context,
    report: &StatusReport,
    wide: bool,
    manifest: Option<&ManifestChoice>,
) -> Result<i32, CliError> {
    if ctx.json {
        print_json(&WithManifest {
            manifest,
            value: report,
        })?;
    } else {
        let mut text = render::automation(report);
        text.push_str(&render::metrics(&query::metrics(&ctx.ops)?));
        text.push('\n');
        if wide {
            text.push_str(&render::status_wide(&report.modules));
        } else {
            let layout = crate::printer::get().layout();
            text.push_str(&render::status_table(&report.modules, layout));
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
