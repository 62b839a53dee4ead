//! What a run reports while it works, and what it returns when it ends.

use std::time::Duration;

use crate::exec::{Exit, Stream};
use crate::integrity::FileDiff;
use crate::plan::Action;
use crate::state::{ModuleOutcome, RunStatus};

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
    /// It ran and failed. In JSON its failure is `status` (in words), `exit_code` and
    /// `signal`, all three from [`Failure`].
    Failed {
        /// How it failed: an exit code, a signal, or why it could not run.
        #[serde(flatten)]
        failure: Failure,
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

/// How a module's code failed, each fact held once; [`Failure::status`] words it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// Its process exited with this (nonzero) code.
    Exit(i32),
    /// A signal it did not ask for ended its process.
    Signal(i32),
    /// It could not be started, or the work upkeep does for it in-process (a `files`
    /// module's deployment) failed: why, in words.
    Error(String),
}

impl Failure {
    /// What ended a process that did not succeed, when it failed (not when it timed out or
    /// was cancelled, which are outcomes of their own): its code or signal, or why it could
    /// not start. `None` for `Exit::Code(0)`.
    pub fn of_exit(exit: Exit) -> Option<Self> {
        match exit {
            Exit::Code(0) | Exit::TimedOut | Exit::Cancelled => None,
            Exit::Code(code) => Some(Failure::Exit(code)),
            Exit::Signal(signal) => Some(Failure::Signal(signal)),
            Exit::SpawnFailed(message) => Some(Failure::Error(message)),
        }
    }

    /// In words: `exit code 1`, `killed by SIGKILL`, or why it could not run.
    pub fn status(&self) -> String {
        match self {
            Failure::Exit(code) => format!("exit code {code}"),
            Failure::Signal(signal) => {
                let name = nix::sys::signal::Signal::try_from(*signal)
                    .map_or_else(|_| signal.to_string(), |s| s.as_str().to_owned());
                format!("killed by {name}")
            }
            Failure::Error(message) => message.clone(),
        }
    }

    /// The exit code, when its process exited.
    pub fn exit_code(&self) -> Option<i32> {
        match self {
            Failure::Exit(code) => Some(*code),
            Failure::Signal(_) | Failure::Error(_) => None,
        }
    }

    /// The signal that ended its process, when one did.
    pub fn signal(&self) -> Option<i32> {
        match self {
            Failure::Signal(signal) => Some(*signal),
            Failure::Exit(_) | Failure::Error(_) => None,
        }
    }
}

/// `status`, `exit_code` and `signal`, the fields `--json` has always shown for a failure,
/// all derived from the one fact held.
impl serde::Serialize for Failure {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut s = serializer.serialize_struct("Failure", 3)?;
        s.serialize_field("status", &self.status())?;
        s.serialize_field("exit_code", &self.exit_code())?;
        s.serialize_field("signal", &self.signal())?;
        s.end()
    }
}

impl Outcome {
    /// The outcome's kind, as the ledger stores it: the one mapping from an outcome to
    /// its stored name (its `FromStr` is [`ModuleOutcome`]'s).
    pub fn kind(&self) -> ModuleOutcome {
        match self {
            Outcome::Succeeded => ModuleOutcome::Succeeded,
            Outcome::Failed { .. } => ModuleOutcome::Failed,
            Outcome::TimedOut { .. } => ModuleOutcome::TimedOut,
            Outcome::Cancelled { .. } => ModuleOutcome::Cancelled,
            Outcome::Blocked { .. } => ModuleOutcome::Blocked,
            Outcome::IntegrityRefused { .. } => ModuleOutcome::IntegrityRefused,
            Outcome::Skipped { .. } => ModuleOutcome::Skipped,
            Outcome::WouldRun => ModuleOutcome::WouldRun,
            Outcome::BackupFailed { .. } => ModuleOutcome::BackupFailed,
            Outcome::HealthFailed { .. } => ModuleOutcome::HealthFailed,
            Outcome::RolledBack { .. } => ModuleOutcome::RolledBack,
            Outcome::NeedsIntervention { .. } => ModuleOutcome::NeedsIntervention,
            Outcome::Held { .. } => ModuleOutcome::Held,
        }
    }

    /// The outcome's name as the ledger and `--json` spell it.
    pub fn name(&self) -> &'static str {
        self.kind().as_str()
    }

    /// How its code failed, when it ran and failed.
    pub fn failure(&self) -> Option<&Failure> {
        match self {
            Outcome::Failed { failure, .. } => Some(failure),
            _ => None,
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
            Outcome::Failed { failure, .. } => Some(failure.status()),
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

/// When a module's code ran and for how long: set once, by the job that ran it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ran {
    /// When it started (ms since the epoch).
    pub started_ms: i64,
    /// How long it ran.
    pub duration_ms: u64,
}

impl Ran {
    /// When it ended (ms since the epoch).
    pub fn finished_ms(self) -> i64 {
        self.started_ms
            .saturating_add(i64::try_from(self.duration_ms).unwrap_or(i64::MAX))
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
    /// When its code ran, if it did. In JSON, `duration_ms` (zero if it did not run).
    #[serde(rename = "duration_ms", serialize_with = "duration_of")]
    pub ran: Option<Ran>,
    /// Applied version before the run.
    pub version_before: Option<String>,
    /// Applied version after the run.
    pub version_after: Option<String>,
    /// Its log file, if it ran.
    pub log_path: Option<String>,
    /// Where it stands upstream, when its source was checked: the version it was on, the
    /// one it is on now, and what its source offers. Boxed: most modules have none, and
    /// every `RunEvent` would otherwise carry its room.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub upstream: Option<Box<UpstreamChange>>,
}

/// A module's upstream version across a run (the seed's `v2.3.0 → v2.3.1`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct UpstreamChange {
    /// Release sources: the version it was on before the run.
    pub before: Option<String>,
    /// Release sources: the version it is on after the run (the target, when the run took
    /// one and the module succeeded).
    pub after: Option<String>,
    /// Release sources: the newest version its source offers that the run did not take
    /// (held back by the policy, or waiting for a later run).
    pub available: Option<String>,
    /// Package sources: the packages the run updated.
    pub packages_updated: usize,
}

impl UpstreamChange {
    /// What `step`'s latest check offers and what the run took of it, given whether its
    /// source lists packages and whether the module succeeded; `None` when the module has
    /// no checked source.
    pub fn of(
        step: &crate::plan::Step,
        lists_packages: bool,
        succeeded: bool,
    ) -> Option<Box<Self>> {
        let update = step.update.as_ref()?;
        let taken = step.taken_update().filter(|_| succeeded);
        if lists_packages {
            return Some(Box::new(Self {
                before: None,
                after: None,
                available: None,
                packages_updated: taken.map_or(0, |u| u.packages.len()),
            }));
        }
        let after = taken
            .and_then(|u| u.target.clone())
            .or_else(|| update.current.clone());
        // What is held is newer than the target: the newest release on offer.
        let available = update
            .held
            .first()
            .map(|(version, _)| version.clone())
            .or_else(|| update.target.clone())
            .filter(|v| Some(v) != after.as_ref());
        Some(Box::new(Self {
            before: update.current.clone(),
            after,
            available,
            packages_updated: 0,
        }))
    }
}

impl ModuleResult {
    /// How long it ran (zero if it did not).
    pub fn duration_ms(&self) -> u64 {
        self.ran.map_or(0, |ran| ran.duration_ms)
    }
}

#[expect(
    clippy::ref_option,
    reason = "serde's `serialize_with` hands over a reference to the field"
)]
fn duration_of<S: serde::Serializer>(ran: &Option<Ran>, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_u64(ran.map_or(0, |ran| ran.duration_ms))
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
    /// The result as the ledger stores it: the one mapping from a run's result to its
    /// stored name (which [`RunStatus`] spells, with the results only storage knows:
    /// `running`, `interrupted`, `not-started`).
    pub fn status(self) -> RunStatus {
        match self {
            RunResult::Succeeded => RunStatus::Succeeded,
            RunResult::Failed => RunStatus::Failed,
            RunResult::IntegrityRefused => RunStatus::IntegrityRefused,
            RunResult::Cancelled => RunStatus::Cancelled,
        }
    }

    /// The name stored in the ledger and shown in `--json`.
    pub fn name(self) -> &'static str {
        self.status().as_str()
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

#[cfg(test)]
mod tests {
    use super::{Failure, ModuleResult, Outcome, Ran};
    use crate::exec::Exit;

    fn failed(failure: Failure, ran: Option<Ran>) -> serde_json::Value {
        let result = ModuleResult {
            module: "web".to_owned(),
            outcome: Outcome::Failed {
                failure,
                tail: "boom".to_owned(),
            },
            ran,
            version_before: None,
            version_after: None,
            log_path: None,
            upstream: None,
        };
        serde_json::to_value(&result).unwrap()
    }

    /// A failure holds its exit code or signal once; `--json` still shows the fields it
    /// always has, derived from it.
    #[test]
    fn a_failure_shows_its_status_code_and_signal_from_one_fact() {
        let ran = Ran {
            started_ms: 1_000,
            duration_ms: 250,
        };
        assert_eq!(
            failed(Failure::Exit(2), Some(ran)),
            serde_json::json!({
                "module": "web", "outcome": "failed", "status": "exit code 2",
                "exit_code": 2, "signal": null, "tail": "boom", "duration_ms": 250,
                "version_before": null, "version_after": null, "log_path": null,
            })
        );
        let killed = failed(Failure::Signal(9), None);
        assert_eq!(killed["status"], "killed by SIGKILL");
        assert_eq!(killed["signal"], 9);
        assert_eq!(killed["exit_code"], serde_json::Value::Null);
        assert_eq!(killed["duration_ms"], 0);
        let unstarted = failed(Failure::Error("no such file".to_owned()), None);
        assert_eq!(unstarted["status"], "no such file");
        assert_eq!(ran.finished_ms(), 1_250);
    }

    /// Only a nonzero code, a signal or a failure to start is a failure: a success, a
    /// timeout and a cancellation are outcomes of their own.
    #[test]
    fn only_a_failed_exit_is_a_failure() {
        assert_eq!(Failure::of_exit(Exit::Code(0)), None);
        assert_eq!(Failure::of_exit(Exit::TimedOut), None);
        assert_eq!(Failure::of_exit(Exit::Cancelled), None);
        assert_eq!(Failure::of_exit(Exit::Code(3)), Some(Failure::Exit(3)));
        assert_eq!(
            Failure::of_exit(Exit::Signal(15)),
            Some(Failure::Signal(15))
        );
        let outcome = Outcome::Failed {
            failure: Failure::Signal(15),
            tail: String::new(),
        };
        assert_eq!(outcome.detail().as_deref(), Some("killed by SIGTERM"));
        assert_eq!(outcome.name(), "failed");
    }
}
