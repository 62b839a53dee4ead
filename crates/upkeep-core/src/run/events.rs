//! What a run reports while it works, and what it returns when it ends.

use std::time::Duration;

use crate::exec::Stream;
use crate::integrity::FileDiff;
use crate::plan::Action;

/// Receives events while a run works. The CLI renders them as progress bars, plain lines
/// or JSON; the engine never prints.
pub trait Reporter: Send + Sync {
    /// Called for every event, in order, from the run's thread.
    fn event(&self, event: &RunEvent);
}

/// A reporter that ignores everything.
#[derive(Debug, Clone, Copy, Default)]
pub struct NullReporter;

impl Reporter for NullReporter {
    fn event(&self, _event: &RunEvent) {}
}

/// Something that happened during a run.
#[derive(Debug, Clone, serde::Serialize)]
#[serde(tag = "event", rename_all = "kebab-case")]
pub enum RunEvent {
    /// Runs that never finished were found and marked interrupted.
    Recovered {
        /// Their ids.
        runs: Vec<i64>,
        /// What was put back: interrupted restores finished, interrupted updates undone.
        restored: Vec<crate::backup::Recovered>,
    },
    /// The run started.
    Started {
        /// Its id in the ledger (`None` for a dry run).
        run_id: Option<i64>,
        /// Modules in the plan.
        total: usize,
        /// Modules whose code will run.
        to_run: usize,
        /// Parallel jobs.
        jobs: usize,
    },
    /// A module's code started.
    ModuleStarted {
        /// The module.
        module: String,
        /// Why it runs.
        action: Action,
    },
    /// A line of a module's output (only when output is streamed).
    ModuleOutput {
        /// The module.
        module: String,
        /// Which stream.
        stream: Stream,
        /// The line, without its newline.
        line: String,
    },
    /// A module reached its outcome.
    ModuleFinished(ModuleResult),
    /// The update sources were asked before the run planned (`run --check`, a scheduled
    /// run): how many, what they offer, and the ones that failed (the run goes on with
    /// what the ledger last cached for those).
    Checked {
        /// Sources asked.
        checked: usize,
        /// Updates on offer.
        updates: usize,
        /// `(module, error)` of each source that failed.
        failed: Vec<(String, String)>,
    },
    /// Something went wrong beside the modules that does not change the run's result (an
    /// old log directory that could not be deleted).
    Warning(String),
    /// The run ended.
    Finished(RunSummary),
}

/// How a module ended in a run.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(tag = "outcome", rename_all = "kebab-case")]
pub enum Outcome {
    /// It ran and succeeded.
    Succeeded,
    /// It ran and failed.
    Failed {
        /// Exit code or signal, e.g. `exit code 1`.
        status: String,
        /// The exit code, when it exited.
        exit_code: Option<i32>,
        /// The signal that ended it, when one did.
        signal: Option<i32>,
        /// The last lines of its output.
        tail: String,
    },
    /// It ran past its timeout and was killed.
    TimedOut {
        /// The timeout.
        after_ms: u64,
    },
    /// The run was cancelled while it ran or before it started.
    Cancelled {
        /// Whether it had started.
        started: bool,
    },
    /// Something it needs did not end well, so it did not run.
    Blocked {
        /// The module whose failure blocked it.
        by: String,
        /// Why, in words.
        reason: String,
    },
    /// Its files do not match the declared checksum, so it did not run.
    IntegrityRefused {
        /// Declared checksum, if any.
        expected: Option<String>,
        /// Checksum of the files on disk, if they could be hashed.
        actual: Option<String>,
        /// What changed, when the ledger has the approved file list.
        changes: Option<FileDiff>,
        /// Why, in words.
        reason: String,
    },
    /// It did not need to run, or is disabled.
    Skipped {
        /// Why.
        reason: String,
    },
    /// Dry run: it would have run.
    WouldRun,
    /// Its pre-update backup could not be taken and verified, so it did not run.
    BackupFailed {
        /// Why.
        reason: String,
    },
    /// Its health check failed after the update and there was nothing to roll back (no
    /// `paths`, or `rollback = false`).
    HealthFailed {
        /// What the check reported.
        detail: String,
    },
    /// Its update or health check failed; its paths were restored from the pre-update
    /// backup and it is healthy again at the version it had before.
    RolledBack {
        /// What failed.
        cause: String,
        /// The backup restored.
        backup_id: i64,
    },
    /// Its update failed and the rollback (restore or health re-check) failed too: it is
    /// held out of automatic runs until someone clears it with `upkeep clear`.
    NeedsIntervention {
        /// What failed first.
        cause: String,
        /// Why the rollback did not bring it back.
        reason: String,
    },
    /// It is held for manual intervention since an earlier run, so it did not run.
    Held {
        /// Why it is held.
        reason: String,
    },
}

impl Outcome {
    /// The outcome's name as the ledger and `--json` spell it.
    pub fn name(&self) -> &'static str {
        match self {
            Outcome::Succeeded => "succeeded",
            Outcome::Failed { .. } => "failed",
            Outcome::TimedOut { .. } => "timed-out",
            Outcome::Cancelled { .. } => "cancelled",
            Outcome::Blocked { .. } => "blocked",
            Outcome::IntegrityRefused { .. } => "integrity-refused",
            Outcome::Skipped { .. } => "skipped",
            Outcome::WouldRun => "would-run",
            Outcome::BackupFailed { .. } => "backup-failed",
            Outcome::HealthFailed { .. } => "health-failed",
            Outcome::RolledBack { .. } => "rolled-back",
            Outcome::NeedsIntervention { .. } => "needs-intervention",
            Outcome::Held { .. } => "held",
        }
    }

    /// Whether dependents may go ahead after this outcome.
    pub fn satisfies_dependents(&self) -> bool {
        matches!(
            self,
            Outcome::Succeeded | Outcome::Skipped { .. } | Outcome::WouldRun
        )
    }

    /// A one-line explanation for tables and the ledger.
    pub fn detail(&self) -> Option<String> {
        match self {
            Outcome::Succeeded | Outcome::WouldRun => None,
            Outcome::Failed { status, .. } => Some(status.clone()),
            Outcome::TimedOut { after_ms } => Some(format!(
                "timed out after {}",
                crate::duration::format_duration(Duration::from_millis(*after_ms))
            )),
            Outcome::Cancelled { started: true } => Some("cancelled while running".to_owned()),
            Outcome::Cancelled { started: false } => Some("cancelled before it started".to_owned()),
            Outcome::Blocked { reason, .. }
            | Outcome::IntegrityRefused { reason, .. }
            | Outcome::Skipped { reason }
            | Outcome::BackupFailed { reason }
            | Outcome::Held { reason } => Some(reason.clone()),
            Outcome::HealthFailed { detail } => Some(format!("health check failed: {detail}")),
            Outcome::RolledBack { cause, backup_id } => {
                Some(format!("{cause}; rolled back from backup {backup_id}"))
            }
            Outcome::NeedsIntervention { cause, reason } => Some(format!(
                "{cause}; rollback failed: {reason}; held until `upkeep clear`"
            )),
        }
    }
}

/// One module's result.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ModuleResult {
    /// The module.
    pub module: String,
    /// How it ended.
    #[serde(flatten)]
    pub outcome: Outcome,
    /// How long it ran (zero if it did not).
    pub duration_ms: u64,
    /// Applied version before the run.
    pub version_before: Option<String>,
    /// Applied version after the run.
    pub version_after: Option<String>,
    /// Its log file, if it ran.
    pub log_path: Option<String>,
}

/// The overall result of a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum RunResult {
    /// Every module succeeded or had nothing to do.
    Succeeded,
    /// At least one module failed, timed out or was blocked.
    Failed,
    /// At least one module was refused because its files did not match their checksum.
    IntegrityRefused,
    /// The run was cancelled.
    Cancelled,
}

impl RunResult {
    /// The name stored in the ledger.
    pub fn name(self) -> &'static str {
        match self {
            RunResult::Succeeded => "succeeded",
            RunResult::Failed => "failed",
            RunResult::IntegrityRefused => "integrity-refused",
            RunResult::Cancelled => "cancelled",
        }
    }
}

/// Everything a run did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct RunSummary {
    /// The run's id (`None` for a dry run).
    pub run_id: Option<i64>,
    /// Overall result.
    pub result: RunResult,
    /// Whether this was a dry run.
    pub dry_run: bool,
    /// Wall time of the run.
    pub duration_ms: u64,
    /// Every module in the plan, in plan order.
    pub modules: Vec<ModuleResult>,
}

impl RunSummary {
    /// Work out the overall result from module outcomes.
    pub fn result_of(modules: &[ModuleResult], cancelled: bool) -> RunResult {
        if cancelled {
            return RunResult::Cancelled;
        }
        if modules
            .iter()
            .any(|m| matches!(m.outcome, Outcome::IntegrityRefused { .. }))
        {
            return RunResult::IntegrityRefused;
        }
        if modules.iter().all(|m| m.outcome.satisfies_dependents()) {
            RunResult::Succeeded
        } else {
            RunResult::Failed
        }
    }
}
