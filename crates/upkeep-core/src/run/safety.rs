//! The safety around one module's update: a verified pre-update backup of the paths it
//! owns before it runs; its health check after; and when either the update or the check
//! fails, its paths restored from that backup and the check run again. A healthy update
//! of a versioned module in a git work tree is tagged `<module>-v<version>-<timestamp>`.

use std::path::PathBuf;

use tokio::sync::watch;

use super::outcome::Outcome;
use crate::backup::{self, BackupConfig, BackupKind, Request, RestoreSelection};
use crate::exec::{self, Exit, Invocation};
use crate::manifest::HealthCheck;
use crate::notify::Notifier;
use crate::notify::events::{self as notices, RunRef};
use crate::state::backups::{BackupReason, BackupRoot};
use crate::state::health::{HealthPhase, HealthRecord};
use crate::state::outbox::NewOutboxRow;
use crate::state::rollbacks::{
    ModuleAfterRollback, RollbackRecord, RollbackResult, RollbackTrigger,
};
use crate::state::writer::{LedgerHandle, LedgerOp};

/// What one module's safety steps need.
#[derive(Debug, Clone)]
pub(super) struct Safety {
    pub(super) module: String,
    pub(super) state_dir: PathBuf,
    /// The run's ledger writer: every write of these steps goes through it.
    pub(super) ledger: LedgerHandle,
    pub(super) run_id: Option<i64>,
    /// Its owned paths, expanded (empty: nothing to back up or restore).
    pub(super) roots: Vec<BackupRoot>,
    pub(super) health: Option<HealthCheck>,
    pub(super) rollback: bool,
    pub(super) config: BackupConfig,
    pub(super) version_before: Option<String>,
    pub(super) version_after: Option<String>,
    /// Tag healthy updates in the updates directory's git repository.
    pub(super) git: Option<super::tagging::Tagging>,
    /// The run and where its notifications go (`None` outside a recorded run).
    pub(super) notify: Option<(RunRef, Notifier)>,
}

/// Take and record the pre-update backup; `Ok(None)` when the module owns no paths.
pub(super) async fn pre_update(safety: &Safety) -> Result<Option<i64>, Outcome> {
    if safety.roots.is_empty() {
        return Ok(None);
    }
    let s = safety.clone();
    blocking(move || {
        let mut ledger = s.ledger.clone();
        let request = Request {
            kind: BackupKind::Module,
            modules: vec![s.module.clone()],
            name: Some(format!(
                "pre-update_{}_run-{}",
                s.module,
                s.run_id.unwrap_or(0)
            )),
            description: Some(format!(
                "before updating {} from {} to {}",
                s.module,
                s.version_before.as_deref().unwrap_or("nothing"),
                s.version_after.as_deref().unwrap_or("unversioned")
            )),
            include_logs: true,
            reason: BackupReason::PreUpdate,
            run_id: s.run_id,
            module_version: s.version_before.clone(),
        };
        let created = backup::create(&mut ledger, &s.state_dir, &request, &s.roots, &s.config);
        crate::failpoint::crash_point!("backup::recorded");
        created
            .map(|row| Some(row.id))
            .map_err(|e| crate::message::failed_to(&e))
    })
    .await
    .map_err(|reason| Outcome::BackupFailed { reason })
}

/// Turn the module's own outcome into the final one: check health after a success, roll
/// back after a failure.
pub(super) async fn after_update(
    safety: &Safety,
    outcome: Outcome,
    backup_id: Option<i64>,
    invocation: &Invocation,
    cancel: watch::Receiver<bool>,
) -> Outcome {
    let cause = match &outcome {
        Outcome::Succeeded => match &safety.health {
            None => {
                super::tagging::tag_release(safety).await;
                return Outcome::Succeeded;
            }
            Some(check) => {
                match health(
                    safety,
                    check,
                    HealthPhase::AfterUpdate,
                    invocation,
                    cancel.clone(),
                )
                .await
                {
                    Ok(()) => {
                        crate::failpoint::crash_point!("run::health-passed");
                        super::tagging::tag_release(safety).await;
                        return Outcome::Succeeded;
                    }
                    Err(detail) => format!("health check failed: {detail}"),
                }
            }
        },
        Outcome::Failed { failure, .. } => format!("update failed: {}", failure.status()),
        Outcome::TimedOut { .. } | Outcome::Cancelled { started: true } => {
            format!("update {}", outcome.detail().unwrap_or_default())
        }
        _ => return outcome,
    };
    let Some(backup_id) = backup_id.filter(|_| safety.rollback) else {
        return match outcome {
            Outcome::Succeeded => Outcome::HealthFailed {
                detail: cause.trim_start_matches("health check failed: ").to_owned(),
            },
            other => other,
        };
    };
    roll_back(safety, cause, backup_id, invocation, cancel).await
}

/// A restore of everything the pre-update backup holds, bounded by the paths the module
/// declares now (the backup was just taken of them, so they agree unless a row lies).
fn declared(safety: &Safety) -> RestoreSelection {
    RestoreSelection {
        within: Some(safety.roots.clone()),
        ..RestoreSelection::default()
    }
}

async fn roll_back(
    safety: &Safety,
    cause: String,
    backup_id: i64,
    invocation: &Invocation,
    cancel: watch::Receiver<bool>,
) -> Outcome {
    let s = safety.clone();
    let restored = blocking(move || {
        let mut ledger = s.ledger.clone();
        let row = ledger
            .call(move |ledger| backup::find(ledger, &backup_id.to_string()))
            .map_err(|e| e.to_string())?
            .map_err(|e| e.to_string())?;
        backup::restore(&mut ledger, &s.state_dir, &row, &declared(&s), None)
            .map(|_| ())
            .map_err(|e| crate::message::failed_to(&e))
    })
    .await;
    crate::failpoint::crash_point!("rollback::restored");
    // The re-check runs even after a cancel: the host must be known healthy or held.
    let (_, never) = watch::channel(false);
    let rechecked = match (&restored, &safety.health) {
        (Ok(()), Some(check)) => recheck(safety, check, invocation, never).await,
        (Ok(()), None) => Ok(()),
        (Err(err), _) => Err(err.clone()),
    };
    drop(cancel);
    let outcome = match rechecked {
        Ok(()) => Outcome::RolledBack {
            cause: cause.clone(),
            backup_id,
        },
        Err(reason) => Outcome::NeedsIntervention {
            cause: cause.clone(),
            reason,
        },
    };
    let (result, module_after) = rollback_effect(&outcome);
    let record = RollbackRecord {
        run_id: safety.run_id,
        module: safety.module.clone(),
        trigger: RollbackTrigger::Automatic,
        cause: Some(cause),
        from_version: safety.version_after.clone(),
        to_version: safety.version_before.clone(),
        backup_id: Some(backup_id),
        result,
        module_after,
        detail: outcome.detail(),
        ..RollbackRecord::default()
    };
    crate::failpoint::crash_point!("rollback::before-record");
    match record_rollback(safety, &outcome, record).await {
        Ok(()) => outcome,
        Err(err) => Outcome::NeedsIntervention {
            cause: outcome.detail().unwrap_or_default(),
            reason: format!("could not record the rollback: {err}"),
        },
    }
}

/// After a rollback's restore: the reload, then the check again.
async fn recheck(
    safety: &Safety,
    check: &HealthCheck,
    invocation: &Invocation,
    never: watch::Receiver<bool>,
) -> Result<(), String> {
    let reloaded = reload(check, invocation, never.clone()).await;
    health(safety, check, HealthPhase::AfterRollback, invocation, never)
        .await
        .map_err(|detail| {
            format!(
                "health check after the restore failed: {detail}{}",
                reload_note(&reloaded)
            )
        })
}

/// What an automatic rollback's outcome means for the ledger: one that did not work holds
/// the module until `upkeep clear`; one that did leaves its applied version as it was (the
/// failed update never recorded one).
fn rollback_effect(outcome: &Outcome) -> (RollbackResult, ModuleAfterRollback) {
    match outcome {
        Outcome::NeedsIntervention { reason, .. } => (
            RollbackResult::NeedsIntervention,
            ModuleAfterRollback::Held(outcome.detail().unwrap_or_else(|| reason.clone())),
        ),
        _ => (RollbackResult::RolledBack, ModuleAfterRollback::Unchanged),
    }
}

/// Record the rollback, with its notification when it worked.
async fn record_rollback(
    safety: &Safety,
    outcome: &Outcome,
    record: RollbackRecord,
) -> Result<(), String> {
    let ledger = safety.ledger.clone();
    let notice = rollback_notice(safety, outcome, &record);
    // Waited for: a rollback that cannot be recorded leaves the module needing intervention.
    let recorded = blocking(move || {
        ledger
            .call(move |ledger| ledger.record_rollback_notifying(&record, &notice))
            .and_then(|recorded| recorded)
            .map_err(|e| e.to_string())
    })
    .await;
    if let (Ok(()), Some((_, notifier))) = (&recorded, &safety.notify) {
        notifier.wake();
    }
    recorded
}

/// The "module rolled back" notification of a rollback that worked, and where it goes.
fn rollback_notice(
    safety: &Safety,
    outcome: &Outcome,
    record: &RollbackRecord,
) -> Vec<NewOutboxRow> {
    let (Some((run, notifier)), Outcome::RolledBack { cause, backup_id }) =
        (&safety.notify, outcome)
    else {
        return Vec::new();
    };
    let event = notices::module_rolled_back(
        *run,
        &notices::RolledBack {
            module: &record.module,
            cause,
            backup_id: *backup_id,
            from_version: record.from_version.as_deref(),
            to_version: record.to_version.as_deref(),
        },
    );
    notifier.routing.rows(&[event])
}

/// Run a health check with its retries; record the result.
async fn health(
    safety: &Safety,
    check: &HealthCheck,
    phase: HealthPhase,
    module: &Invocation,
    cancel: watch::Receiver<bool>,
) -> Result<(), String> {
    let (result, attempts) = attempt_health(check, phase.as_str(), module, cancel).await;
    let record = HealthRecord {
        run_id: safety.run_id,
        module: safety.module.clone(),
        phase,
        passed: result.is_ok(),
        attempts,
        detail: result.as_ref().err().cloned(),
    };
    // Queued with the run's other records: a failure to write it fails the run's ledger
    // writer, which the run reports, rather than vanishing.
    safety.ledger.send(LedgerOp::Health(record));
    result
}

/// Run the check's `reload` command, if it has one, so that what a restore put back takes
/// effect before the check judges it (a service that re-reads its configuration only when
/// told would otherwise still serve the broken one). It gets the check's timeout and
/// writes to the module's log.
pub(crate) async fn reload(
    check: &HealthCheck,
    base: &Invocation,
    cancel: watch::Receiver<bool>,
) -> Result<(), String> {
    let Some(argv) = &check.reload else {
        return Ok(());
    };
    let invocation = Invocation {
        argv: argv.iter().map(Into::into).collect(),
        timeout: Some(check.timeout),
        stream: None,
        display: Some("reload after the restore".to_owned()),
        log_made: false,
        ..base.clone()
    };
    let finished = exec::run(&invocation, cancel).await;
    match finished.exit {
        Exit::Code(0) => Ok(()),
        Exit::Code(code) => Err(format!("exit code {code}")),
        Exit::Signal(signal) => Err(format!("killed by signal {signal}")),
        Exit::TimedOut => Err(format!("timed out after {:?}", check.timeout)),
        Exit::Cancelled => Err("cancelled".to_owned()),
        Exit::SpawnFailed(message) => Err(message),
    }
}

/// What a failed reload adds to the failed re-check's detail.
pub(crate) fn reload_note(reloaded: &Result<(), String>) -> String {
    match reloaded {
        Ok(()) => String::new(),
        Err(err) => format!(" (the reload before it failed: {err})"),
    }
}

/// Run a health check with its retries; the result and the attempts made.
pub(crate) async fn attempt_health(
    check: &HealthCheck,
    phase: &str,
    base: &Invocation,
    cancel: watch::Receiver<bool>,
) -> (Result<(), String>, u32) {
    let mut attempts = 0;
    let result = loop {
        attempts += 1;
        let invocation = Invocation {
            argv: check.argv.iter().map(Into::into).collect(),
            timeout: Some(check.timeout),
            stream: None,
            display: Some(format!("health check ({phase}), attempt {attempts}")),
            // The module's log again, under a first line of the check's own.
            log_made: false,
            ..base.clone()
        };
        let finished = exec::run(&invocation, cancel.clone()).await;
        let failure = match finished.exit {
            Exit::Code(0) => break Ok(()),
            Exit::Cancelled => break Err("cancelled".to_owned()),
            Exit::Code(code) => format!("exit code {code}"),
            Exit::Signal(signal) => format!("killed by signal {signal}"),
            Exit::TimedOut => format!("timed out after {:?}", check.timeout),
            Exit::SpawnFailed(message) => message,
        };
        let tail = finished.tail.lines().last().unwrap_or("").trim().to_owned();
        let detail = if tail.is_empty() {
            failure
        } else {
            format!("{failure}: {tail}")
        };
        if attempts > check.retries {
            break Err(format!(
                "{detail} (after {})",
                crate::message::count(attempts, "attempt", "attempts")
            ));
        }
        tokio::time::sleep(check.interval).await;
    };
    (result, attempts)
}

pub(super) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, String> + Send + 'static,
) -> Result<T, String> {
    tokio::task::spawn_blocking(f)
        .await
        .unwrap_or_else(|join| Err(format!("the safety step panicked: {join}")))
}
