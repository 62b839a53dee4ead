//! The notifications a run's modules give rise to, built here, next to the outcomes they
//! tell of, so that `notify` knows nothing of runs: a module's failure and the run's end.
//! The run hands them to the ledger writer as outbox rows (see `notify::Routing::rows`)
//! with the change they describe.

use std::fmt::Write as _;
use std::time::Duration;

use super::outcome::{ModuleResult, Outcome, RunResult};
use crate::duration::format_duration;
use crate::notify::events::{RunRef, field, run_event_id, versions};
use crate::notify::{Event, EventKind, Severity};
use crate::state::now_ms;

/// A module ended badly in a way worth telling: failed, timed out, refused for its
/// checksum, its backup failed, unhealthy with nothing to roll back, or held for
/// intervention after a failed rollback. `None` for other outcomes (a rollback that
/// worked has its own event, see [`crate::notify::events::module_rolled_back`]; blocked and held modules are in
/// the run's summary).
pub(crate) fn module_failed(
    run: RunRef,
    result: &ModuleResult,
    target: Option<&str>,
) -> Option<Event> {
    let module = &result.module;
    let (title, advice) = match &result.outcome {
        Outcome::Failed { .. } => (
            format!("Update of {module} failed"),
            "Please check its log for details.",
        ),
        Outcome::TimedOut { .. } => (
            format!("Update of {module} timed out"),
            "It was stopped; please check its log.",
        ),
        Outcome::IntegrityRefused { .. } => (
            format!("Update of {module} refused: checksum mismatch"),
            "Its files do not match their approved checksum, so it did not run.",
        ),
        Outcome::BackupFailed { .. } => (
            format!("Update of {module} not started: backup failed"),
            "Failed to create backup before update, so it did not run.",
        ),
        Outcome::HealthFailed { .. } => (
            format!("{module} is unhealthy after its update"),
            "There was no backup to roll back to.",
        ),
        Outcome::NeedsIntervention { .. } => (
            format!("{module} needs manual intervention"),
            "Rollback operation failed. The module may be in an unstable state and is held until `upkeep clear`.",
        ),
        _ => return None,
    };
    let detail = result.outcome.detail().unwrap_or_default();
    let mut fields = vec![
        field("module", module.clone()),
        field("outcome", result.outcome.name()),
        field("run", run.id.to_string()),
        versions(result.version_before.as_deref(), target),
    ];
    if let Some(log) = &result.log_path {
        fields.push(field("log", log.clone()));
    }
    Some(Event {
        id: run_event_id(run, &format!("{module}.failed")),
        kind: EventKind::ModuleFailed,
        at_ms: now_ms(),
        title,
        text: format!("Update operation failed: {detail}. {advice}"),
        fields,
        severity: Severity::Error,
    })
}

/// A run ended: its result, how long it took, how many modules ended how, and which failed.
pub(crate) fn run_finished(
    run: RunRef,
    result: RunResult,
    modules: &[ModuleResult],
    duration_ms: u64,
) -> Event {
    let (title, severity) = match result {
        RunResult::Succeeded => ("Update Finished Successfully", Severity::Info),
        RunResult::Failed => ("Update Finished With Failures", Severity::Error),
        RunResult::IntegrityRefused => ("Update Refused: Checksum Mismatch", Severity::Error),
        RunResult::Cancelled => ("Update Cancelled", Severity::Warning),
    };
    let took = format_duration(Duration::from_millis(duration_ms));
    let updated = count(modules, "succeeded");
    let failed: Vec<&str> = modules
        .iter()
        .filter(|m| !m.outcome.satisfies_dependents())
        .map(|m| m.module.as_str())
        .collect();
    let mut text = format!("Updated modules: {updated}\nTotal time: {took}");
    if !failed.is_empty() {
        let _ = write!(text, "\nDid not succeed: {}", failed.join(", "));
    }
    let mut fields = vec![
        field("run", run.id.to_string()),
        field("result", result.name()),
        field("duration", took),
    ];
    let mut names: Vec<&str> = modules.iter().map(|m| m.outcome.name()).collect();
    names.sort_unstable();
    names.dedup();
    fields.extend(
        names
            .iter()
            .map(|n| field(n, count(modules, n).to_string())),
    );
    if !failed.is_empty() {
        fields.push(field("not succeeded", failed.join(", ")));
    }
    Event {
        id: run_event_id(run, "finished"),
        kind: EventKind::RunFinished,
        at_ms: now_ms(),
        title: title.to_owned(),
        text,
        fields,
        severity,
    }
}

fn count(modules: &[ModuleResult], outcome: &str) -> usize {
    modules
        .iter()
        .filter(|m| m.outcome.name() == outcome)
        .count()
}
