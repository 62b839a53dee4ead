//! Recovery after a crash, with the run lock held: finish the restores a killed upkeep
//! left open and undo the updates interrupted runs left without an end. Every step is
//! redone until its end is in the ledger, so a recovery killed half-way is finished by
//! the next one (the recovery crash sweep, `tests/cli/recovery_sweep.rs`).

use std::path::Path;

use super::{BackupError, RestoreSelection, find, restore};
use crate::state::Ledger;
use crate::state::rollbacks::{ModuleAfterRollback, RollbackResult, RollbackTrigger};

/// What recovery after a crash put back.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Recovered {
    /// The module whose update was undone, when it was one.
    pub module: Option<String>,
    /// The backup restored.
    pub backup_id: i64,
    /// What happened, in words.
    pub detail: String,
}

/// After a crash, with the lock held: finish restores that were interrupted (restoring
/// is idempotent), and undo the updates that interrupted runs left without an end by
/// restoring their pre-update backups, so the host is as before each of them and the run
/// that follows applies them again.
///
/// Recovery survives its own crash: every step is redone until its end is recorded. An
/// interrupted restore's journal entry is closed only after it was restored again, and an
/// owed undo ([`Ledger::unfinished_updates`]) is owed until its rollback row is written,
/// whichever run marked its run interrupted.
///
/// # Errors
/// A ledger error; a failed restore holds its module for intervention instead.
pub fn recover(
    ledger: &mut Ledger,
    state_dir: &Path,
    routing: &crate::notify::Routing,
) -> Result<Vec<Recovered>, BackupError> {
    let mut out = Vec::new();
    for (journal, backup_id, labels) in ledger.unfinished_restores()? {
        let selection = RestoreSelection {
            labels,
            ..RestoreSelection::default()
        };
        let result = find(ledger, &backup_id.to_string())
            .and_then(|row| restore(ledger, state_dir, &row, &selection, None));
        crate::failpoint::crash_point!("recovery::restore-redone");
        let (detail, closing) = match result {
            Ok(_) => (
                format!("finished the interrupted restore of backup {backup_id}"),
                "interrupted; restored again".to_owned(),
            ),
            Err(err) => {
                let why = crate::message::failed_to(&err);
                (
                    format!(
                        "could not finish the interrupted restore of backup {backup_id}: {why}"
                    ),
                    format!("interrupted; restoring again failed: {why}"),
                )
            }
        };
        ledger.finish_restore(journal, &closing)?;
        out.push(Recovered {
            module: None,
            backup_id,
            detail,
        });
    }
    for (run, module, backup_id) in ledger.unfinished_updates()? {
        crate::failpoint::crash_point!("recovery::before-undo");
        out.push(undo_update(
            ledger, state_dir, run, &module, backup_id, routing,
        )?);
    }
    Ok(out)
}

fn undo_update(
    ledger: &mut Ledger,
    state_dir: &Path,
    run: i64,
    module: &str,
    backup_id: i64,
    routing: &crate::notify::Routing,
) -> Result<Recovered, BackupError> {
    let selection = RestoreSelection {
        modules: vec![module.to_owned()],
        ..RestoreSelection::default()
    };
    let row = find(ledger, &backup_id.to_string())?;
    let result = restore(ledger, state_dir, &row, &selection, None);
    crate::failpoint::crash_point!("recovery::undo-restored");
    let cause = format!("run {run} was interrupted while `{module}` was updating");
    // A restore that failed leaves the module held; one that worked changes nothing else
    // (the interrupted run never recorded its update as applied).
    let (outcome, detail, module_after) = match &result {
        Ok(_) => (
            RollbackResult::RolledBack,
            format!("{cause}; restored its paths from backup {backup_id}"),
            ModuleAfterRollback::Unchanged,
        ),
        Err(err) => {
            let detail = format!("{cause}; restoring backup {backup_id} failed: {err}");
            let held = ModuleAfterRollback::Held(detail.clone());
            (RollbackResult::NeedsIntervention, detail, held)
        }
    };
    let record = crate::state::rollbacks::RollbackRecord {
        run_id: Some(run),
        module: module.to_owned(),
        trigger: RollbackTrigger::Recovery,
        cause: Some(cause),
        to_version: row.module_version.clone(),
        backup_id: Some(backup_id),
        result: outcome,
        module_after,
        detail: Some(detail.clone()),
        ..crate::state::rollbacks::RollbackRecord::default()
    };
    let event = crate::notify::events::module_rolled_back_outside_run("recovery", &record);
    ledger.record_rollback_notifying(&record, &routing.rows(&[event]))?;
    crate::failpoint::crash_point!("recovery::undone");
    Ok(Recovered {
        module: Some(module.to_owned()),
        backup_id,
        detail,
    })
}
