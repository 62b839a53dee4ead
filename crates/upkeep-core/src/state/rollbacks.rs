//! The ledger's rollback records (and the hold a failed one leaves on its module), the
//! restore journal, and what recovery reads about an interrupted run: its updates with no
//! recorded end, its unfinished restores and its process id.

use rusqlite::{OptionalExtension, params};

use super::kinds::{BackupReason, BackupStatus};
use super::{Ledger, StateError, now_ms, sqlite};

/// Who started a rollback, as the ledger spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RollbackTrigger {
    /// A run, after its module's update or health check failed.
    #[default]
    Automatic,
    /// `upkeep rollback`.
    Manual,
    /// A run undoing an update that an interrupted run left half-done.
    Recovery,
}

/// How a rollback ended, as the ledger spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RollbackResult {
    /// The module is back where it was and healthy.
    #[default]
    RolledBack,
    /// The restore or the health check after it failed.
    NeedsIntervention,
}

/// What a rollback leaves recorded about its module.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum ModuleAfterRollback {
    /// Nothing changes.
    #[default]
    Unchanged,
    /// The module is held out of automatic runs, for this reason.
    Held(String),
    /// The rollback's `to_version` (and `applied_checksum`, when given) is what is applied
    /// now, and any hold is cleared.
    Applied,
}

spelled!(RollbackTrigger {
    Automatic => "automatic",
    Manual => "manual",
    Recovery => "recovery",
});

spelled!(RollbackResult {
    RolledBack => "rolled-back",
    NeedsIntervention => "needs-intervention",
});

/// A rollback to record.
#[derive(Debug, Clone, Default)]
pub struct RollbackRecord {
    /// The run, for automatic rollbacks.
    pub run_id: Option<i64>,
    /// The module.
    pub module: String,
    /// Who started it.
    pub trigger: RollbackTrigger,
    /// What made it necessary.
    pub cause: Option<String>,
    /// Version before.
    pub from_version: Option<String>,
    /// Version after.
    pub to_version: Option<String>,
    /// The backup restored.
    pub backup_id: Option<i64>,
    /// The git tag the code came from.
    pub git_tag: Option<String>,
    /// The commit that tag pointed at.
    pub git_commit: Option<String>,
    /// How it ended.
    pub result: RollbackResult,
    /// What it leaves recorded about the module: the caller decides (a rollback that did
    /// not work holds its module; a manual one that did puts its version back as applied).
    pub module_after: ModuleAfterRollback,
    /// The checksum of the module folder now in place, when its code was restored.
    pub applied_checksum: Option<String>,
    /// Details.
    pub detail: Option<String>,
}

impl Ledger {
    /// Record a rollback and, in the same transaction, the module's state after it: its
    /// applied version when it rolled back, or the hold when it needs intervention.
    ///
    /// # Errors
    /// [`StateError::Sqlite`] on a write failure.
    pub fn record_rollback(&mut self, rollback: &RollbackRecord) -> Result<(), StateError> {
        self.record_rollback_notifying(rollback, &[])
    }

    /// [`Ledger::record_rollback`], enqueuing `notices` (its "module rolled back"
    /// notification) in the same transaction.
    ///
    /// # Errors
    /// [`StateError::Sqlite`] on a write failure.
    pub fn record_rollback_notifying(
        &mut self,
        rollback: &RollbackRecord,
        notices: &[super::outbox::NewOutboxRow],
    ) -> Result<(), StateError> {
        let (conn, path) = self.conn_mut();
        let err = || sqlite("record a rollback", path);
        let tx = conn.transaction().map_err(err())?;
        super::outbox::enqueue(&tx, notices).map_err(err())?;
        tx.execute(
            "INSERT INTO rollbacks (run_id, module, at_ms, trigger, cause, from_version, to_version, backup_id, git_tag, git_commit, result, detail)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
            params![
                rollback.run_id, rollback.module, now_ms(), rollback.trigger.as_str(), rollback.cause,
                rollback.from_version, rollback.to_version, rollback.backup_id, rollback.git_tag,
                rollback.git_commit, rollback.result.as_str(), rollback.detail
            ],
        )
        .map_err(err())?;
        if let Some(run_id) = rollback.run_id {
            super::run_events::insert(
                &tx,
                run_id,
                "rollback",
                Some(&rollback.module),
                &serde_json::json!({
                    "trigger": rollback.trigger.as_str(),
                    "cause": rollback.cause,
                    "from_version": rollback.from_version,
                    "to_version": rollback.to_version,
                    "result": rollback.result.as_str(),
                    "detail": rollback.detail,
                }),
            )
            .map_err(err())?;
        }
        tx.execute(
            "INSERT INTO modules (name) VALUES (?1) ON CONFLICT(name) DO NOTHING",
            [&rollback.module],
        )
        .map_err(err())?;
        match &rollback.module_after {
            ModuleAfterRollback::Held(reason) => {
                tx.execute(
                    "UPDATE modules SET needs_intervention = ?2 WHERE name = ?1",
                    params![rollback.module, reason],
                )
                .map_err(err())?;
            }
            ModuleAfterRollback::Applied => {
                tx.execute(
                    "UPDATE modules SET applied_version = ?2, applied_at_ms = ?3, needs_intervention = NULL,
                        applied_checksum = coalesce(?4, applied_checksum) WHERE name = ?1",
                    params![rollback.module, rollback.to_version, now_ms(), rollback.applied_checksum],
                )
                .map_err(err())?;
            }
            ModuleAfterRollback::Unchanged => {}
        }
        tx.commit().map_err(err())
    }

    /// Hold a module for manual intervention (`Some(reason)`) or clear the hold (`None`).
    ///
    /// # Errors
    /// [`StateError::Sqlite`] on a write failure.
    pub fn set_needs_intervention(
        &mut self,
        module: &str,
        reason: Option<&str>,
    ) -> Result<bool, StateError> {
        let err = || sqlite("update a module", self.path());
        let changed = self
            .conn()
            .execute(
                "UPDATE modules SET needs_intervention = ?2 WHERE name = ?1 AND needs_intervention IS NOT ?2",
                params![module, reason],
            )
            .map_err(err())?;
        Ok(changed > 0)
    }

    /// Start a restore journal entry; returns its id.
    ///
    /// # Errors
    /// [`StateError::Sqlite`] on a write failure.
    pub fn begin_restore(&mut self, backup_id: i64, labels: &[String]) -> Result<i64, StateError> {
        let err = || sqlite("record a restore", self.path());
        let labels = serde_json::to_string(labels).unwrap_or_default();
        self.conn()
            .execute(
                "INSERT INTO restores (backup_id, started_ms, labels) VALUES (?1, ?2, ?3)",
                params![backup_id, now_ms(), labels],
            )
            .map_err(err())?;
        Ok(self.conn().last_insert_rowid())
    }

    /// Record that a label of a restore was swapped into place.
    ///
    /// # Errors
    /// [`StateError::Sqlite`] on a write failure.
    pub fn restore_swapped(&mut self, restore_id: i64, label: &str) -> Result<(), StateError> {
        let err = || sqlite("record a restored path", self.path());
        self.conn()
            .execute(
                "UPDATE restores SET swapped = json_insert(swapped, '$[#]', ?2) WHERE id = ?1",
                params![restore_id, label],
            )
            .map_err(err())?;
        Ok(())
    }

    /// Finish a restore journal entry with its result.
    ///
    /// # Errors
    /// [`StateError::Sqlite`] on a write failure.
    pub fn finish_restore(&mut self, restore_id: i64, result: &str) -> Result<(), StateError> {
        let err = || sqlite("finish a restore", self.path());
        self.conn()
            .execute(
                "UPDATE restores SET result = ?2, finished_ms = ?3 WHERE id = ?1",
                params![restore_id, result, now_ms()],
            )
            .map_err(err())?;
        Ok(())
    }

    /// The undos recovery owes: pre-update backups, taken in runs that ended interrupted,
    /// of modules whose update has no recorded end in that run (no final outcome, no
    /// rollback) and that no later run has taken to an end. `(run id, module, backup id)`,
    /// newest backup first, so that when one module owes several the oldest content is put
    /// back last.
    ///
    /// This reads every interrupted run, not only the ones the current recovery marked: a
    /// recovery killed after marking its runs and before undoing their updates leaves the
    /// undo owed, and the next recovery must pay it instead of taking the half-written
    /// data for the module's content.
    ///
    /// # Errors
    /// [`StateError::Sqlite`] on a read failure.
    pub fn unfinished_updates(&self) -> Result<Vec<(i64, String, i64)>, StateError> {
        let err = || sqlite("find unfinished updates", self.path());
        let mut stmt = self
            .conn()
            .prepare(
                "SELECT b.run_id, b.module, b.id FROM backups b JOIN runs u ON u.id = b.run_id
                 WHERE u.result = ?5 AND b.reason = ?4 AND b.status = ?3 AND b.module IS NOT NULL
                   AND NOT EXISTS (SELECT 1 FROM module_runs r WHERE r.run_id = b.run_id AND r.module = b.module
                                     AND r.outcome NOT IN (?1, ?2))
                   AND NOT EXISTS (SELECT 1 FROM rollbacks k WHERE k.run_id = b.run_id AND k.module = b.module)
                   AND NOT EXISTS (SELECT 1 FROM module_runs l WHERE l.module = b.module AND l.run_id > b.run_id
                                     AND l.outcome NOT IN (?1, ?2))
                 ORDER BY b.id DESC",
            )
            .map_err(err())?;
        let rows = stmt
            .query_map(
                params![
                    super::ModuleOutcome::Running,
                    super::ModuleOutcome::Interrupted,
                    BackupStatus::Ok,
                    BackupReason::PreUpdate,
                    super::RunStatus::Interrupted,
                ],
                |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)),
            )
            .map_err(err())?;
        rows.collect::<Result<_, _>>().map_err(err())
    }

    /// Whether a crash left anything for recovery: a run without an end, a restore
    /// without an end, or an undo owed ([`Ledger::unfinished_updates`]). One read, so
    /// that the common case (nothing) costs a run almost nothing.
    ///
    /// # Errors
    /// [`StateError::Sqlite`] on a read failure.
    pub fn needs_recovery(&self) -> Result<bool, StateError> {
        let err = || sqlite("look for unfinished work", self.path());
        let unfinished: bool = self
            .conn()
            .query_row(
                "SELECT EXISTS (SELECT 1 FROM runs WHERE finished_ms IS NULL)
                     OR EXISTS (SELECT 1 FROM restores WHERE result = 'running')",
                [],
                |row| row.get(0),
            )
            .map_err(err())?;
        Ok(unfinished || !self.unfinished_updates()?.is_empty())
    }

    /// Restores that never finished: (journal id, backup id, labels).
    ///
    /// # Errors
    /// [`StateError::Sqlite`] on a read failure.
    pub fn unfinished_restores(&self) -> Result<Vec<(i64, i64, Vec<String>)>, StateError> {
        let err = || sqlite("find unfinished restores", self.path());
        let mut stmt = self
            .conn()
            .prepare(
                "SELECT id, backup_id, labels FROM restores WHERE result = 'running' ORDER BY id",
            )
            .map_err(err())?;
        let rows = stmt
            .query_map([], |row| {
                let labels: String = row.get(2)?;
                Ok((
                    row.get(0)?,
                    row.get(1)?,
                    serde_json::from_str(&labels).unwrap_or_default(),
                ))
            })
            .map_err(err())?;
        rows.collect::<Result<_, _>>().map_err(err())
    }

    /// The runs without an end: `(id, pid, started_ms)` of each.
    ///
    /// # Errors
    /// [`StateError::Sqlite`] on a read failure.
    pub fn unfinished_runs(&self) -> Result<Vec<(i64, u32, i64)>, StateError> {
        let err = || sqlite("find unfinished runs", self.path());
        let mut stmt = self
            .conn()
            .prepare("SELECT id, pid, started_ms FROM runs WHERE finished_ms IS NULL")
            .map_err(err())?;
        stmt.query_map([], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, i64>(1)?,
                r.get::<_, i64>(2)?,
            ))
        })
        .and_then(Iterator::collect::<Result<Vec<_>, _>>)
        .map(|rows| {
            rows.into_iter()
                .filter_map(|(id, pid, started)| Some((id, u32::try_from(pid).ok()?, started)))
                .collect()
        })
        .map_err(err())
    }

    /// The process id recorded for a run.
    ///
    /// # Errors
    /// [`StateError::Sqlite`] on a read failure.
    pub fn run_pid(&self, run_id: i64) -> Result<Option<u32>, StateError> {
        let err = || sqlite("read a run", self.path());
        self.conn()
            .query_row("SELECT pid FROM runs WHERE id = ?1", [run_id], |r| {
                r.get::<_, i64>(0)
            })
            .optional()
            .map(|pid| pid.and_then(|p| u32::try_from(p).ok()))
            .map_err(err())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rollback_kinds_have_one_spelling_each_way() {
        for trigger in [
            RollbackTrigger::Automatic,
            RollbackTrigger::Manual,
            RollbackTrigger::Recovery,
        ] {
            assert_eq!(trigger.as_str().parse(), Ok(trigger));
        }
        for result in [
            RollbackResult::RolledBack,
            RollbackResult::NeedsIntervention,
        ] {
            assert_eq!(result.as_str().parse(), Ok(result));
        }
        assert!("rolled_back".parse::<RollbackResult>().is_err());
    }
}
