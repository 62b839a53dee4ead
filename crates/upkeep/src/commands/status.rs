//! `upkeep status`: every module of the manifest with its declared and applied version.

use std::collections::HashMap;

use upkeep_core::exit_codes;
use upkeep_core::plan::{self, PlanOptions};
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
    pub(crate) description: Option<String>,
}

pub(crate) fn status(ctx: &Context) -> Result<i32, CliError> {
    let manifest = ctx.load_manifest()?;
    let states = match Ledger::open_existing(&ctx.state_dir)? {
        Some(ledger) => ledger.module_states()?,
        None => HashMap::new(),
    };
    let all = PlanOptions {
        targets: manifest.names().map(str::to_owned).collect(),
        force: false,
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
                module: spec.name.clone(),
                kind: spec.kind.label(),
                state: step.action.describe(),
                enabled: spec.enabled,
                critical: spec.critical,
                declared_version: spec.version.as_ref().map(ToString::to_string),
                applied_version: state.applied_version.clone(),
                last_safe_version: state.last_safe_version.clone(),
                last_applied: state.applied_at_ms.map(render::timestamp),
                last_outcome: state.last_outcome.clone(),
                description: spec.description.clone(),
            }
        })
        .collect();
    let mut removed: Vec<(&String, &ModuleState)> = states
        .iter()
        .filter(|(name, _)| manifest.module(name).is_none())
        .collect();
    removed.sort_by_key(|(name, _)| *name);
    rows.extend(removed.into_iter().map(|(name, state)| StatusRow {
        module: name.clone(),
        kind: "-",
        state: "removed from manifest".to_owned(),
        enabled: false,
        critical: false,
        declared_version: None,
        applied_version: state.applied_version.clone(),
        last_safe_version: state.last_safe_version.clone(),
        last_applied: state.applied_at_ms.map(render::timestamp),
        last_outcome: state.last_outcome.clone(),
        description: None,
    }));
    if ctx.json {
        print_json(&rows)?;
    } else {
        print_text(&render::status_table(&rows))?;
    }
    Ok(exit_codes::OK)
}
