//! The ledger's safety records: backups (with every root and entry), health checks,
//! rollbacks, restores, git tags and modules held for manual intervention.

use rusqlite::{OptionalExtension, params};

pub use super::kinds::{BackupKind, BackupReason, BackupStatus, HealthPhase};
use super::{Ledger, StateError, now_ms, sqlite};
use crate::archive::{Entry, EntryKind};

/// A backup about to be recorded (its archive is already verified and in place).
#[derive(Debug, Clone)]
pub struct NewBackup {
    /// Human name.
    pub name: String,
    /// What it holds.
    pub kind: BackupKind,
    /// What took it.
    pub reason: BackupReason,
    /// The module, for module backups.
    pub module: Option<String>,
    /// That module's applied version when the backup was taken.
    pub module_version: Option<String>,
    /// The run that took it, if any.
    pub run_id: Option<i64>,
    /// Free text.
    pub description: Option<String>,
    /// File name inside the backups directory.
    pub file: String,
    /// `zstd`, `gzip` or `none`.
    pub compression: String,
    /// SHA-256 of the archive file.
    pub sha256: String,
    /// Bytes of file content archived.
    pub bytes_in: u64,
    /// Size of the archive file.
    pub bytes_out: u64,
    /// What each label of the archive is.
    pub roots: Vec<BackupRoot>,
    /// Every entry with its hash.
    pub entries: Vec<Entry>,
}

/// One root of a backup: a path a module owns, stored under `label/`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct BackupRoot {
    /// Archive label, `<module>.<category>.<n>`.
    pub label: String,
    /// The module owning the path.
    pub module: String,
    /// `config`, `data` or `logs`.
    pub category: String,
    /// The expanded host path.
    pub path: String,
    /// The path did not exist when the backup was taken (a restore removes it).
    pub missing: bool,
}

/// A recorded backup.
#[derive(Debug, Clone, serde::Serialize)]
pub struct BackupRow {
    /// Id.
    pub id: i64,
    /// Human name.
    pub name: String,
    /// What it holds (`full`, `config`, `data` or `module`).
    #[serde(rename = "type")]
    pub kind: BackupKind,
    /// What took it.
    pub reason: BackupReason,
    /// The module, for module backups.
    pub module: Option<String>,
    /// That module's applied version when taken.
    pub module_version: Option<String>,
    /// The run that took it.
    pub run_id: Option<i64>,
    /// Free text.
    pub description: Option<String>,
    /// File name inside the backups directory.
    pub file: String,
    /// Compression.
    pub compression: String,
    /// SHA-256 of the archive.
    pub sha256: String,
    /// Bytes archived.
    pub bytes_in: u64,
    /// Archive size.
    pub bytes_out: u64,
    /// Entries.
    pub entry_count: u64,
    /// Creation time (ms since the epoch).
    pub created_ms: i64,
    /// Last verification (ms since the epoch).
    pub verified_ms: i64,
    /// Whether its archive verified when last checked.
    pub status: BackupStatus,
}

/// A health check result to record.
#[derive(Debug, Clone)]
pub struct HealthRecord {
    /// The run, if any.
    pub run_id: Option<i64>,
    /// The module.
    pub module: String,
    /// When it ran.
    pub phase: HealthPhase,
    /// Whether it passed.
    pub passed: bool,
    /// Attempts made.
    pub attempts: u32,
    /// Last output or error.
    pub detail: Option<String>,
}

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

/// A recorded git tag.
#[derive(Debug, Clone, serde::Serialize)]
pub struct GitTagRow {
    /// Tag name.
    pub tag: String,
    /// Module.
    pub module: String,
    /// Version tagged.
    pub version: String,
    /// Commit it pointed at when created or first used.
    pub commit_id: String,
    /// When (ms since the epoch).
    pub created_ms: i64,
}

/// What the ledger knows about a module's safety, for `status`.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct SafetyState {
    /// Newest backup holding the module's paths.
    pub last_backup: Option<i64>,
    /// Its creation time.
    pub last_backup_ms: Option<i64>,
    /// Newest health check: passed?
    pub last_health_passed: Option<bool>,
    /// Its time.
    pub last_health_ms: Option<i64>,
    /// Why the module is held for manual intervention, if it is.
    pub needs_intervention: Option<String>,
}

/// A backup, health check or rollback that happened during a run, for `history`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct SafetyEvent {
    /// `backup`, `health-check` or `rollback`.
    pub kind: String,
    /// The module.
    pub module: Option<String>,
    /// When (ms since the epoch).
    pub at_ms: i64,
    /// What happened, in words.
    pub detail: String,
}

const BACKUP_COLUMNS: &str = "id, name, kind, reason, module, module_version, run_id, description, file, compression, sha256, bytes_in, bytes_out, entry_count, created_ms, verified_ms, status";

fn backup_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<BackupRow> {
    Ok(BackupRow {
        id: row.get(0)?,
        name: row.get(1)?,
        kind: row.get(2)?,
        reason: row.get(3)?,
        module: row.get(4)?,
        module_version: row.get(5)?,
        run_id: row.get(6)?,
        description: row.get(7)?,
        file: row.get(8)?,
        compression: row.get(9)?,
        sha256: row.get(10)?,
        bytes_in: row.get::<_, i64>(11)?.try_into().unwrap_or(0),
        bytes_out: row.get::<_, i64>(12)?.try_into().unwrap_or(0),
        entry_count: row.get::<_, i64>(13)?.try_into().unwrap_or(0),
        created_ms: row.get(14)?,
        verified_ms: row.get(15)?,
        status: row.get(16)?,
    })
}

fn kind_name(kind: EntryKind) -> &'static str {
    match kind {
        EntryKind::File => "file",
        EntryKind::Dir => "dir",
        EntryKind::Symlink => "symlink",
    }
}

fn to_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

impl Ledger {
    /// Record a verified backup with its roots and entries in one transaction.
    ///
    /// # Errors
    /// [`StateError::Sqlite`] when the write fails (nothing is recorded then).
    pub fn insert_backup(&mut self, backup: &NewBackup) -> Result<i64, StateError> {
        let (conn, path) = self.conn_mut();
        let err = || sqlite("record a backup", path);
        let tx = conn.transaction().map_err(err())?;
        let now = now_ms();
        tx.execute(
            "INSERT INTO backups (name, kind, reason, module, module_version, run_id, description, file, compression, sha256, bytes_in, bytes_out, entry_count, created_ms, verified_ms, status)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?14, ?15)",
            params![
                backup.name, backup.kind, backup.reason, backup.module, backup.module_version,
                backup.run_id, backup.description, backup.file, backup.compression, backup.sha256,
                to_i64(backup.bytes_in), to_i64(backup.bytes_out),
                to_i64(backup.entries.len() as u64), now, BackupStatus::Ok
            ],
        )
        .map_err(err())?;
        let id = tx.last_insert_rowid();
        {
            let mut roots = tx
                .prepare("INSERT INTO backup_roots VALUES (?1, ?2, ?3, ?4, ?5, ?6)")
                .map_err(err())?;
            for r in &backup.roots {
                roots
                    .execute(params![
                        id, r.label, r.module, r.category, r.path, r.missing
                    ])
                    .map_err(err())?;
            }
            let mut entries = tx
                .prepare("INSERT INTO backup_entries VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)")
                .map_err(err())?;
            for e in &backup.entries {
                entries
                    .execute(params![
                        id,
                        e.path,
                        kind_name(e.kind),
                        e.mode,
                        to_i64(e.size),
                        e.sha256,
                        e.link
                    ])
                    .map_err(err())?;
            }
        }
        tx.commit().map_err(err())?;
        Ok(id)
    }

    /// Every backup, newest first.
    ///
    /// # Errors
    /// [`StateError::Sqlite`] on a read failure.
    pub fn backups(&self) -> Result<Vec<BackupRow>, StateError> {
        let err = || sqlite("list backups", self.path());
        let sql = format!("SELECT {BACKUP_COLUMNS} FROM backups ORDER BY created_ms DESC, id DESC");
        let mut stmt = self.conn().prepare(&sql).map_err(err())?;
        let rows = stmt.query_map([], backup_row).map_err(err())?;
        rows.collect::<Result<_, _>>().map_err(err())
    }

    /// The backup with this id, or else the newest one with this name.
    ///
    /// # Errors
    /// [`StateError::Sqlite`] on a read failure.
    pub fn backup(&self, id_or_name: &str) -> Result<Option<BackupRow>, StateError> {
        let err = || sqlite("find a backup", self.path());
        let sql = format!(
            "SELECT {BACKUP_COLUMNS} FROM backups WHERE CAST(id AS TEXT) = ?1 OR name = ?1
             ORDER BY CAST(id AS TEXT) = ?1 DESC, created_ms DESC LIMIT 1"
        );
        self.conn()
            .query_row(&sql, [id_or_name], backup_row)
            .optional()
            .map_err(err())
    }

    /// The roots of a backup.
    ///
    /// # Errors
    /// [`StateError::Sqlite`] on a read failure.
    pub fn backup_roots(&self, id: i64) -> Result<Vec<BackupRoot>, StateError> {
        let err = || sqlite("read backup roots", self.path());
        let mut stmt = self
            .conn()
            .prepare("SELECT label, module, category, path, missing FROM backup_roots WHERE backup_id = ?1 ORDER BY label")
            .map_err(err())?;
        let rows = stmt
            .query_map([id], |row| {
                Ok(BackupRoot {
                    label: row.get(0)?,
                    module: row.get(1)?,
                    category: row.get(2)?,
                    path: row.get(3)?,
                    missing: row.get(4)?,
                })
            })
            .map_err(err())?;
        rows.collect::<Result<_, _>>().map_err(err())
    }

    /// The recorded entries of a backup, in archive order.
    ///
    /// # Errors
    /// [`StateError::Sqlite`] on a read failure.
    pub fn backup_entries(&self, id: i64) -> Result<Vec<Entry>, StateError> {
        let err = || sqlite("read backup entries", self.path());
        let mut stmt = self
            .conn()
            .prepare("SELECT path, kind, mode, size, sha256, link FROM backup_entries WHERE backup_id = ?1 ORDER BY path")
            .map_err(err())?;
        let rows = stmt
            .query_map([id], |row| {
                let kind: String = row.get(1)?;
                Ok(Entry {
                    path: row.get(0)?,
                    kind: match kind.as_str() {
                        "dir" => EntryKind::Dir,
                        "symlink" => EntryKind::Symlink,
                        _ => EntryKind::File,
                    },
                    mode: row.get(2)?,
                    size: row.get::<_, i64>(3)?.try_into().unwrap_or(0),
                    sha256: row.get(4)?,
                    link: row.get(5)?,
                })
            })
            .map_err(err())?;
        rows.collect::<Result<_, _>>().map_err(err())
    }

    /// Set a backup's status and, when it verified, its verification time.
    ///
    /// # Errors
    /// [`StateError::Sqlite`] on a write failure.
    pub fn set_backup_status(&mut self, id: i64, status: BackupStatus) -> Result<(), StateError> {
        let err = || sqlite("update a backup", self.path());
        let verified = (status == BackupStatus::Ok).then(now_ms);
        self.conn()
            .execute(
                "UPDATE backups SET status = ?2, verified_ms = COALESCE(?3, verified_ms) WHERE id = ?1",
                params![id, status, verified],
            )
            .map_err(err())?;
        Ok(())
    }

    /// Forget a backup (its archive file is the caller's to remove first).
    ///
    /// # Errors
    /// [`StateError::Sqlite`] on a write failure.
    pub fn delete_backup(&mut self, id: i64) -> Result<(), StateError> {
        let err = || sqlite("delete a backup", self.path());
        self.conn()
            .execute("DELETE FROM backups WHERE id = ?1", [id])
            .map_err(err())?;
        Ok(())
    }

    /// Record a health check result.
    ///
    /// # Errors
    /// [`StateError::Sqlite`] on a write failure.
    pub fn record_health(&mut self, health: &HealthRecord) -> Result<(), StateError> {
        let err = || sqlite("record a health check", self.path());
        insert_health(self.conn(), health, now_ms()).map_err(err())
    }

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

    /// Record the git tag created (or first used) for a module's version.
    ///
    /// # Errors
    /// [`StateError::Sqlite`] on a write failure.
    pub fn record_git_tag(
        &mut self,
        tag: &GitTagRow,
        run_id: Option<i64>,
    ) -> Result<(), StateError> {
        let err = || sqlite("record a git tag", self.path());
        insert_git_tag(self.conn(), tag, run_id).map_err(err())
    }

    /// Git tags recorded for a module, newest first.
    ///
    /// # Errors
    /// [`StateError::Sqlite`] on a read failure.
    pub fn git_tags(&self, module: &str) -> Result<Vec<GitTagRow>, StateError> {
        let err = || sqlite("read git tags", self.path());
        let mut stmt = self
            .conn()
            .prepare("SELECT tag, module, version, commit_id, created_ms FROM git_tags WHERE module = ?1 ORDER BY created_ms DESC")
            .map_err(err())?;
        let rows = stmt
            .query_map([module], |row| {
                Ok(GitTagRow {
                    tag: row.get(0)?,
                    module: row.get(1)?,
                    version: row.get(2)?,
                    commit_id: row.get(3)?,
                    created_ms: row.get(4)?,
                })
            })
            .map_err(err())?;
        rows.collect::<Result<_, _>>().map_err(err())
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

    /// Safety facts for every module the ledger knows.
    ///
    /// # Errors
    /// [`StateError::Sqlite`] on a read failure.
    pub fn safety_states(
        &self,
    ) -> Result<std::collections::HashMap<String, SafetyState>, StateError> {
        let err = || sqlite("read safety states", self.path());
        let mut stmt = self
            .conn()
            .prepare(
                "SELECT m.name, m.needs_intervention,
                    (SELECT b.id FROM backups b JOIN backup_roots r ON r.backup_id = b.id
                      WHERE r.module = m.name AND b.status = ?1 ORDER BY b.created_ms DESC, b.id DESC LIMIT 1),
                    (SELECT b.created_ms FROM backups b JOIN backup_roots r ON r.backup_id = b.id
                      WHERE r.module = m.name AND b.status = ?1 ORDER BY b.created_ms DESC, b.id DESC LIMIT 1),
                    (SELECT h.passed FROM health_checks h WHERE h.module = m.name ORDER BY h.at_ms DESC, h.id DESC LIMIT 1),
                    (SELECT h.at_ms FROM health_checks h WHERE h.module = m.name ORDER BY h.at_ms DESC, h.id DESC LIMIT 1)
                 FROM modules m",
            )
            .map_err(err())?;
        let rows = stmt
            .query_map([BackupStatus::Ok], |row| {
                Ok((
                    row.get::<_, String>(0)?,
                    SafetyState {
                        needs_intervention: row.get(1)?,
                        last_backup: row.get(2)?,
                        last_backup_ms: row.get(3)?,
                        last_health_passed: row.get(4)?,
                        last_health_ms: row.get(5)?,
                    },
                ))
            })
            .map_err(err())?;
        rows.collect::<Result<_, _>>().map_err(err())
    }

    /// Backups a prune must keep, with the reason: per module the newest backup of its
    /// last safe version and its newest backup overall, and every backup taken by the
    /// newest successful run.
    ///
    /// # Errors
    /// [`StateError::Sqlite`] on a read failure.
    pub fn protected_backups(&self) -> Result<Vec<(i64, String)>, StateError> {
        let err = || sqlite("find protected backups", self.path());
        let mut stmt = self
            .conn()
            .prepare(
                "SELECT (SELECT b.id FROM backups b WHERE b.module = m.name AND b.module_version = m.last_safe_version
                          AND b.status = ?1 ORDER BY b.created_ms DESC, b.id DESC LIMIT 1),
                        'backup of ' || m.name || ' at its last safe version ' || m.last_safe_version
                 FROM modules m WHERE m.last_safe_version IS NOT NULL
                 UNION ALL
                 SELECT (SELECT b.id FROM backups b JOIN backup_roots r ON r.backup_id = b.id WHERE r.module = m.name
                          AND b.status = ?1 ORDER BY b.created_ms DESC, b.id DESC LIMIT 1),
                        'newest backup of ' || m.name
                 FROM modules m
                 UNION ALL
                 SELECT b.id, 'taken by run ' || b.run_id || ', the newest successful run'
                 FROM backups b WHERE b.run_id = (SELECT max(id) FROM runs WHERE result = ?2)",
            )
            .map_err(err())?;
        let rows = stmt
            .query_map(
                params![BackupStatus::Ok, super::RunStatus::Succeeded],
                |row| Ok((row.get::<_, Option<i64>>(0)?, row.get::<_, String>(1)?)),
            )
            .map_err(err())?;
        let mut out = Vec::new();
        for row in rows {
            if let (Some(id), why) = row.map_err(err())? {
                out.push((id, why));
            }
        }
        Ok(out)
    }

    /// Backups, health checks and rollbacks of runs started at or after `since_ms`, as
    /// (run id, event) in time order.
    ///
    /// # Errors
    /// [`StateError::Sqlite`] on a read failure.
    pub fn safety_events(&self, since_ms: i64) -> Result<Vec<(i64, SafetyEvent)>, StateError> {
        let err = || sqlite("read safety events", self.path());
        let mut stmt = self
            .conn()
            .prepare(
                "SELECT run_id, 'backup', module, created_ms,
                        'backup ' || id || ' (' || reason || ', ' || entry_count
                        || CASE entry_count WHEN 1 THEN ' entry, ' ELSE ' entries, ' END || bytes_out || ' bytes, ' || status || ')'
                   FROM backups WHERE run_id IN (SELECT id FROM runs WHERE started_ms >= ?1)
                 UNION ALL
                 SELECT run_id, 'health-check', module, at_ms,
                        phase || ': ' || CASE passed WHEN 1 THEN 'passed' ELSE 'failed' END
                        || ' after ' || attempts || CASE attempts WHEN 1 THEN ' attempt' ELSE ' attempts' END || coalesce(' - ' || detail, '')
                   FROM health_checks WHERE run_id IN (SELECT id FROM runs WHERE started_ms >= ?1)
                 UNION ALL
                 SELECT run_id, 'rollback', module, at_ms,
                        result || coalesce(' from backup ' || backup_id, '') || coalesce(' to ' || to_version, '')
                        || coalesce(': ' || cause, '')
                   FROM rollbacks WHERE run_id IN (SELECT id FROM runs WHERE started_ms >= ?1)
                 ORDER BY 4",
            )
            .map_err(err())?;
        let rows = stmt
            .query_map([since_ms], |row| {
                Ok((
                    row.get::<_, i64>(0)?,
                    SafetyEvent {
                        kind: row.get(1)?,
                        module: row.get(2)?,
                        at_ms: row.get(3)?,
                        detail: row.get(4)?,
                    },
                ))
            })
            .map_err(err())?;
        rows.collect::<Result<_, _>>().map_err(err())
    }

    /// Pre-update backups taken in `run_id` for modules whose update has no recorded end
    /// in that run (no final outcome, no rollback): the run died while they were updating.
    ///
    /// # Errors
    /// [`StateError::Sqlite`] on a read failure.
    pub fn unfinished_updates(&self, run_id: i64) -> Result<Vec<(String, i64)>, StateError> {
        let err = || sqlite("find unfinished updates", self.path());
        let mut stmt = self
            .conn()
            .prepare(
                "SELECT b.module, b.id FROM backups b
                 WHERE b.reason = ?5 AND b.run_id = ?1 AND b.status = ?4 AND b.module IS NOT NULL
                   AND NOT EXISTS (SELECT 1 FROM module_runs r WHERE r.run_id = b.run_id AND r.module = b.module
                                     AND r.outcome NOT IN (?2, ?3))
                   AND NOT EXISTS (SELECT 1 FROM rollbacks k WHERE k.run_id = b.run_id AND k.module = b.module)
                 ORDER BY b.id",
            )
            .map_err(err())?;
        let rows = stmt
            .query_map(
                params![
                    run_id,
                    super::ModuleOutcome::Running,
                    super::ModuleOutcome::Interrupted,
                    BackupStatus::Ok,
                    BackupReason::PreUpdate
                ],
                |row| Ok((row.get(0)?, row.get(1)?)),
            )
            .map_err(err())?;
        rows.collect::<Result<_, _>>().map_err(err())
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
/// Insert a health check's result (in a transaction of the caller's, or on its own).
pub(super) fn insert_health(
    conn: &rusqlite::Connection,
    health: &HealthRecord,
    at_ms: i64,
) -> rusqlite::Result<()> {
    conn.prepare_cached(
        "INSERT INTO health_checks (run_id, module, at_ms, phase, passed, attempts, detail) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?
    .execute(params![health.run_id, health.module, at_ms, health.phase, health.passed, health.attempts, health.detail])?;
    Ok(())
}

/// Insert a git tag upkeep made (once per tag name).
pub(super) fn insert_git_tag(
    conn: &rusqlite::Connection,
    tag: &GitTagRow,
    run_id: Option<i64>,
) -> rusqlite::Result<()> {
    conn.prepare_cached(
        "INSERT INTO git_tags VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT(tag) DO NOTHING",
    )?
    .execute(params![
        tag.tag,
        tag.module,
        tag.version,
        tag.commit_id,
        tag.created_ms,
        run_id
    ])?;
    Ok(())
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
