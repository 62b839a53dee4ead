//! `upkeep status`: every module of the manifest with its declared and applied version.

use std::collections::HashMap;

use upkeep_core::exit_codes;
use upkeep_core::plan::{self, PlanOptions};
use upkeep_core::state::safety::SafetyState;
use upkeep_core::state::{Ledger, ModuleState};

use super::{Context, print_json, print_text};
use crate::error::CliError;
use crate::render;

/// One row of `upkeep status`.
#[derive(Debug, serde::Serialize)]
pub(crate) struct StatusRow {
    pub(crate) module: String,
    pub(crate) kind: &'static str,
    pub(crate) state: String,
    pub(crate) enabled: bool,
    pub(crate) critical: bool,
    pub(crate) declared_version: Option<String>,
    pub(crate) applied_version: Option<String>,
    pub(crate) last_safe_version: Option<String>,
    pub(crate) last_applied: Option<String>,
    pub(crate) last_outcome: Option<String>,
    /// Newest backup holding the module's paths.
    pub(crate) last_backup: Option<i64>,
    pub(crate) last_backup_at: Option<String>,
    /// `passed` or `failed`, from the newest health check.
    pub(crate) last_health: Option<String>,
    pub(crate) last_health_at: Option<String>,
    /// Why the module is held for manual intervention, if it is.
    pub(crate) held: Option<String>,
    pub(crate) description: Option<String>,
}

impl StatusRow {
    /// What the ledger says, for a module the manifest does not (or no longer) describe.
    fn recorded(name: &str, state: &ModuleState) -> Self {
        Self {
            module: name.to_owned(),
            kind: "-",
            state: "removed from manifest".to_owned(),
            enabled: false,
            critical: false,
            declared_version: None,
            applied_version: state.applied_version.clone(),
            last_safe_version: state.last_safe_version.clone(),
            last_applied: state.applied_at_ms.map(render::timestamp),
            last_outcome: state.last_outcome.clone(),
            last_backup: None,
            last_backup_at: None,
            last_health: None,
            last_health_at: None,
            held: None,
            description: None,
        }
    }

    fn with_safety(mut self, safety: Option<&SafetyState>) -> Self {
        if let Some(s) = safety {
            self.last_backup = s.last_backup;
            self.last_backup_at = s.last_backup_ms.map(render::timestamp);
            self.last_health = s
                .last_health_passed
                .map(|p| if p { "passed" } else { "failed" }.to_owned());
            self.last_health_at = s.last_health_ms.map(render::timestamp);
            self.held.clone_from(&s.needs_intervention);
            if let Some(reason) = &s.needs_intervention {
                self.state = format!("held: {reason}");
            }
        }
        self
    }
}

/// The state's figures for `upkeep status`.
#[derive(Debug, serde::Serialize)]
pub(crate) struct Metrics {
    pub(crate) state_dir: std::path::PathBuf,
    #[serde(flatten)]
    pub(crate) runs: upkeep_core::state::RunMetrics,
    /// When the newest update check ended (ms since the epoch).
    pub(crate) last_check_ms: Option<i64>,
    /// Bytes per entry of the state directory, and in total.
    pub(crate) disk_usage: Vec<(String, u64)>,
    pub(crate) disk_usage_total: u64,
}

fn metrics(ctx: &Context) -> Result<Metrics, CliError> {
    let (runs, last_check_ms) = match Ledger::open_existing(&ctx.state_dir)? {
        Some(ledger) => (
            ledger.run_metrics(upkeep_core::state::now_ms())?,
            ledger.last_check_ms()?,
        ),
        None => (upkeep_core::state::RunMetrics::default(), None),
    };
    let disk_usage = upkeep_core::paths::disk_usage(&ctx.state_dir);
    Ok(Metrics {
        state_dir: ctx.state_dir.clone(),
        runs,
        last_check_ms,
        disk_usage_total: disk_usage.iter().map(|(_, n)| n).sum(),
        disk_usage,
    })
}

pub(crate) fn status(
    ctx: &Context,
    module: Option<&str>,
    only_metrics: bool,
    wide: bool,
) -> Result<i32, CliError> {
    if only_metrics {
        let figures = metrics(ctx)?;
        if ctx.json {
            print_json(&figures)?;
        } else {
            print_text(&render::metrics(&figures))?;
        }
        return Ok(exit_codes::OK);
    }
    let manifest = ctx.load_manifest()?;
    let (states, safety) = match Ledger::open_existing(&ctx.state_dir)? {
        Some(ledger) => (ledger.module_states()?, ledger.safety_states()?),
        None => (HashMap::new(), HashMap::new()),
    };
    let all = PlanOptions {
        targets: manifest.names().map(str::to_owned).collect(),
        ..PlanOptions::default()
    };
    let plan = plan::plan(&manifest, &states, &all)?;
    let mut rows: Vec<StatusRow> = manifest
        .modules
        .iter()
        .map(|spec| {
            let step = plan
                .steps
                .iter()
                .find(|s| s.name == spec.name)
                .expect("every module is planned");
            let state = states.get(&spec.name).cloned().unwrap_or_default();
            StatusRow {
                kind: spec.kind.label(),
                state: step.action.describe(),
                enabled: spec.enabled,
                critical: spec.critical,
                declared_version: spec.version.as_ref().map(ToString::to_string),
                description: spec.description.clone(),
                ..StatusRow::recorded(&spec.name, &state)
            }
            .with_safety(safety.get(&spec.name))
        })
        .collect();
    let mut removed: Vec<(&String, &ModuleState)> = states
        .iter()
        .filter(|(name, _)| manifest.module(name).is_none())
        .collect();
    removed.sort_by_key(|(name, _)| *name);
    rows.extend(removed.into_iter().map(|(name, state)| {
        StatusRow::recorded(name, state).with_safety(safety.get(name.as_str()))
    }));
    match module {
        Some(name) => one(ctx, &rows, name),
        None => every(ctx, &rows, wide),
    }
}

/// Every module: the table that fits, or every column.
fn every(ctx: &Context, rows: &[StatusRow], wide: bool) -> Result<i32, CliError> {
    if ctx.json {
        print_json(rows)?;
    } else {
        let mut text = render::metrics(&metrics(ctx)?);
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
fn one(ctx: &Context, rows: &[StatusRow], name: &str) -> Result<i32, CliError> {
    let Some(row) = rows.iter().find(|r| r.module == name) else {
        let names = rows.iter().map(|r| r.module.as_str());
        return Err(plan::PlanError::UnknownTarget {
            name: name.to_owned(),
            suggestion: upkeep_core::manifest::suggest(name, names),
        }
        .into());
    };
    if ctx.json {
        print_json(row)?;
    } else {
        print_text(&render::status_module(row))?;
    }
    Ok(exit_codes::OK)
}
