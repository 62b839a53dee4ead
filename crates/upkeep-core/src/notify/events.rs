//! The events upkeep sends, built from what happened, with titles in the words of the
//! seed Update Manager's messages ("Installing Updates", "Update Finished Successfully",
//! "... has been successfully rolled back to the previous state").
//!
//! Event ids are stable (the outbox stores the event, so every attempt sends the same id)
//! and unique: a run's events carry its ledger id and its start time, so a ledger that was
//! deleted and started over does not reuse them; an update found by a check carries the
//! module and the version found, so repeated checks tell it once.

use std::fmt::Write as _;

use super::{Event, EventKind, Severity};
pub use crate::state::RunRef;
use crate::state::now_ms;

/// The id of `run`'s event `what` (`started`, `finished`, `<module>.failed`, ...).
pub fn run_event_id(run: RunRef, what: &str) -> String {
    format!("evt_run{}.{}.{what}", run.id, run.started_ms)
}

/// A name/value detail of an event.
pub fn field(name: &str, value: impl Into<String>) -> (String, String) {
    (name.to_owned(), value.into())
}

/// A run began.
pub fn run_started(run: RunRef, trigger: &str, to_run: usize, total: usize) -> Event {
    Event {
        id: run_event_id(run, "started"),
        kind: EventKind::RunStarted,
        at_ms: run.started_ms,
        title: "Installing Updates".to_owned(),
        text: format!(
            "Run {} ({trigger}) started: {to_run} of {total} modules to update.",
            run.id
        ),
        fields: vec![
            field("run", run.id.to_string()),
            field("trigger", trigger),
            field("to update", to_run.to_string()),
        ],
        severity: Severity::Info,
    }
}

/// The `version` detail: what a module was on and what it moved to.
pub fn versions(before: Option<&str>, target: Option<&str>) -> (String, String) {
    field(
        "version",
        format!(
            "{} → {}",
            before.unwrap_or("none"),
            target.unwrap_or("unversioned")
        ),
    )
}

/// What a module's automatic rollback restored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RolledBack<'a> {
    /// The module.
    pub module: &'a str,
    /// What failed.
    pub cause: &'a str,
    /// The backup restored.
    pub backup_id: i64,
    /// The version the update tried.
    pub from_version: Option<&'a str>,
    /// The version it is back at.
    pub to_version: Option<&'a str>,
}

/// A module's update failed and its paths were restored from the pre-update backup.
pub fn module_rolled_back(run: RunRef, rolled: &RolledBack<'_>) -> Event {
    let module = rolled.module;
    Event {
        id: run_event_id(run, &format!("{module}.rolled_back")),
        kind: EventKind::ModuleRolledBack,
        at_ms: now_ms(),
        title: format!("Update of {module} rolled back"),
        text: format!(
            "{}. {module} has been successfully rolled back to the previous state (backup {}).",
            capitalized(rolled.cause),
            rolled.backup_id
        ),
        fields: vec![
            field("module", module),
            field("run", run.id.to_string()),
            field("restored version", rolled.to_version.unwrap_or("none")),
            field(
                "failed version",
                rolled.from_version.unwrap_or("unversioned"),
            ),
            field("backup", rolled.backup_id.to_string()),
        ],
        severity: Severity::Warning,
    }
}

/// A module rolled back outside a run: by `upkeep rollback` (`trigger` "manual") or by a
/// run undoing an update that an interrupted run left half-done ("recovery"). `result` is
/// the rollback's: `rolled-back`, or `needs-intervention` when it did not work. Its id
/// names the module and the time.
pub fn module_rolled_back_outside_run(
    trigger: &str,
    record: &crate::state::rollbacks::RollbackRecord,
) -> Event {
    let module = &record.module;
    let at_ms = now_ms();
    let worked = record.result == crate::state::rollbacks::RollbackResult::RolledBack;
    let title = if worked {
        format!("{module} rolled back ({trigger})")
    } else {
        format!("Rollback of {module} failed ({trigger}): it needs intervention")
    };
    let mut text = record.cause.as_deref().map(capitalized).unwrap_or_default();
    if let Some(detail) = &record.detail {
        let _ = write!(text, "{}{detail}", if text.is_empty() { "" } else { ". " });
    }
    let mut fields = vec![
        field("module", module.as_str()),
        field(
            "restored version",
            record.to_version.as_deref().unwrap_or("none"),
        ),
    ];
    if let Some(backup) = record.backup_id {
        fields.push(field("backup", backup.to_string()));
    }
    if let Some(tag) = &record.git_tag {
        fields.push(field("git tag", tag.as_str()));
    }
    Event {
        id: format!("evt_rollback.{module}.{at_ms}"),
        kind: EventKind::ModuleRolledBack,
        at_ms,
        title,
        text,
        fields,
        severity: if worked {
            Severity::Warning
        } else {
            Severity::Error
        },
    }
}

/// A run that upkeep did not see to its end (killed, or the host went down), found and
/// marked interrupted by the next run: its "run finished" event, with the modules that
/// were still running. It has the id a normal finish would have had.
pub fn run_interrupted(run: RunRef, interrupted: &[String]) -> Event {
    let mut text = format!(
        "Run {} was interrupted; the next run undid its unfinished updates.",
        run.id
    );
    let mut fields = vec![
        field("run", run.id.to_string()),
        field("result", crate::state::RunStatus::Interrupted.as_str()),
    ];
    if !interrupted.is_empty() {
        let _ = write!(text, "\nStill running then: {}", interrupted.join(", "));
        fields.push(field("interrupted", interrupted.join(", ")));
    }
    Event {
        id: run_event_id(run, "finished"),
        kind: EventKind::RunFinished,
        at_ms: now_ms(),
        title: "Update Interrupted".to_owned(),
        text,
        fields,
        severity: Severity::Error,
    }
}

/// An update found by a check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Available<'a> {
    /// The module.
    pub module: &'a str,
    /// The version applied now, if any.
    pub current: Option<&'a str>,
    /// The version found.
    pub available: &'a str,
    /// Whether it fixes a security issue.
    pub security: bool,
    /// Whether it is known to break compatibility.
    pub breaking: bool,
}

/// A check found an update. Its id names the module and the version found, so the outbox
/// holds it once however often checks find it.
pub fn update_available(update: &Available<'_>) -> Event {
    let yes_no = |b: bool| if b { "⚠️ Yes" } else { "✅ No" };
    let current = update.current.unwrap_or("none");
    Event {
        id: format!("evt_update.{}.{}", update.module, update.available),
        kind: EventKind::UpdateAvailable,
        at_ms: now_ms(),
        title: format!("Update available: {} {}", update.module, update.available),
        text: format!("Version: {} (current: {current})", update.available),
        fields: vec![
            field("module", update.module),
            field("current", current),
            field("available", update.available),
            field("security", yes_no(update.security)),
            field("breaking", yes_no(update.breaking)),
        ],
        severity: if update.security || update.breaking {
            Severity::Warning
        } else {
            Severity::Info
        },
    }
}

/// Schedule `name`, due at `due_ms`, did not run, because `reason`.
pub fn schedule_skipped(name: &str, due_ms: i64, reason: &str) -> Event {
    let due = jiff::Timestamp::from_millisecond(due_ms)
        .map_or_else(|_| due_ms.to_string(), |t| t.to_string());
    Event {
        id: format!("evt_schedule.{name}.{due_ms}"),
        kind: EventKind::ScheduleSkipped,
        at_ms: now_ms(),
        title: format!("Scheduled update skipped: {name}"),
        text: format!("Schedule {name} came due and did not run: {reason}."),
        fields: vec![
            field("schedule", name),
            field("due", due),
            field("reason", reason),
        ],
        severity: Severity::Warning,
    }
}

/// Run `run_id` (started by `trigger`, e.g. `schedule:nightly`) could not start because
/// `reason`.
pub fn run_not_started(run_id: i64, trigger: &str, reason: &str) -> Event {
    Event {
        id: format!("evt_run.{run_id}.not_started"),
        kind: EventKind::RunNotStarted,
        at_ms: now_ms(),
        title: format!("Update run {run_id} failed to start"),
        text: format!("Run {run_id} ({trigger}) failed to start: {reason}."),
        fields: vec![
            field("run", run_id.to_string()),
            field("trigger", trigger),
            field("reason", reason),
        ],
        severity: Severity::Error,
    }
}

/// The event `upkeep notify test` sends to `channel`.
pub fn test(channel: &str) -> Event {
    let now = now_ms();
    Event {
        id: format!("evt_test.{now}.{}", std::process::id()),
        kind: EventKind::Test,
        at_ms: now,
        title: "Test notification".to_owned(),
        text: format!("upkeep can reach channel `{channel}`."),
        fields: vec![field("channel", channel)],
        severity: Severity::Info,
    }
}

fn capitalized(text: &str) -> String {
    let mut chars = text.chars();
    chars.next().map_or_else(String::new, |first| {
        first.to_uppercase().chain(chars).collect()
    })
}
