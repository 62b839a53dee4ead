//! The ledger's backups: each verified archive with every root (a path a module owns) and
//! every entry with its hash, and the backups a prune must keep.

use rusqlite::{OptionalExtension, params};

pub use super::kinds::{BackupFormat, BackupKind, BackupReason, BackupStatus};
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
    /// How it is stored.
    pub format: BackupFormat,
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
    /// How it is stored.
    pub format: BackupFormat,
    /// Paths the backup recorded but could not keep (Unix sockets), filled by
    /// [`Ledger::not_kept`] for the callers that show them.
    pub not_kept: Vec<String>,
}

const BACKUP_COLUMNS: &str = "id, name, kind, reason, module, module_version, run_id, description, file, compression, sha256, bytes_in, bytes_out, entry_count, created_ms, verified_ms, status, format";

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
        format: row.get(17)?,
        not_kept: Vec::new(),
    })
}

fn kind_name(kind: EntryKind) -> &'static str {
    match kind {
        EntryKind::File => "file",
        EntryKind::Dir => "dir",
        EntryKind::Symlink => "symlink",
        EntryKind::Fifo => "fifo",
        EntryKind::CharDevice => "char-device",
        EntryKind::BlockDevice => "block-device",
        EntryKind::Socket => "socket",
    }
}

/// The `link` column holds a symlink's target, and for a device its numbers as
/// `MAJOR:MINOR` (a device has no target, so the column is free for it).
fn link_column(entry: &Entry) -> Option<String> {
    match entry.device {
        Some((major, minor)) => Some(format!("{major}:{minor}")),
        None => entry.link.clone(),
    }
}

/// An entry's kind, target and device numbers from its `kind` and `link` columns.
fn kind_and_link(
    kind: &str,
    link: Option<String>,
) -> (EntryKind, Option<String>, Option<(u32, u32)>) {
    let kind = match kind {
        "dir" => EntryKind::Dir,
        "symlink" => EntryKind::Symlink,
        "fifo" => EntryKind::Fifo,
        "char-device" => EntryKind::CharDevice,
        "block-device" => EntryKind::BlockDevice,
        "socket" => EntryKind::Socket,
        _ => EntryKind::File,
    };
    if !kind.is_device() {
        return (kind, link, None);
    }
    let device = link.as_deref().and_then(|l| {
        let (major, minor) = l.split_once(':')?;
        Some((major.parse().ok()?, minor.parse().ok()?))
    });
    (kind, None, device)
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
        let id = insert_backup_in(&tx, backup).map_err(err())?;
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

    /// The backup with this id (an id only: [`Ledger::backup`] also matches names, which
    /// takes a scan of every backup).
    ///
    /// # Errors
    /// [`StateError::Sqlite`] on a read failure.
    pub fn backup_by_id(&self, id: i64) -> Result<Option<BackupRow>, StateError> {
        let err = || sqlite("find a backup", self.path());
        let sql = format!("SELECT {BACKUP_COLUMNS} FROM backups WHERE id = ?1");
        self.conn()
            .prepare_cached(&sql)
            .and_then(|mut stmt| stmt.query_row([id], backup_row).optional())
            .map_err(err())
    }

    /// The newest backup stored as `format` whose status is `ok` and that holds any of
    /// `roots` (label and host path both equal), with the labels of `roots` it holds, in
    /// label order. Newest is [`Ledger::backups`]' order: creation time, then id.
    ///
    /// One indexed lookup per root (migration 13), whatever the number of backups.
    ///
    /// # Errors
    /// [`StateError::Sqlite`] on a read failure.
    pub fn newest_holding(
        &self,
        format: BackupFormat,
        roots: &[(String, String)],
    ) -> Result<Option<(BackupRow, Vec<String>)>, StateError> {
        let err = || sqlite("find the newest backup of the same paths", self.path());
        let mut stmt = self
            .conn()
            .prepare_cached(
                "SELECT b.created_ms, b.id FROM backup_roots r JOIN backups b ON b.id = r.backup_id
                 WHERE r.label = ?1 AND r.path = ?2 AND b.format = ?3 AND b.status = ?4
                 ORDER BY b.created_ms DESC, b.id DESC LIMIT 1",
            )
            .map_err(err())?;
        let mut newest: Option<(i64, i64)> = None;
        for (label, path) in roots {
            let found = stmt
                .query_row(params![label, path, format, BackupStatus::Ok], |row| {
                    Ok((row.get(0)?, row.get(1)?))
                })
                .optional()
                .map_err(err())?;
            newest = newest.max(found);
        }
        let Some((_, id)) = newest else {
            return Ok(None);
        };
        let Some(row) = self.backup_by_id(id)? else {
            return Ok(None);
        };
        let labels = self
            .backup_roots(id)?
            .into_iter()
            .filter(|r| roots.iter().any(|(l, p)| *l == r.label && *p == r.path))
            .map(|r| r.label)
            .collect();
        Ok(Some((row, labels)))
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
                let (kind, link, device) = kind_and_link(&kind, row.get(5)?);
                Ok(Entry {
                    path: row.get(0)?,
                    kind,
                    mode: row.get(2)?,
                    size: row.get::<_, i64>(3)?.try_into().unwrap_or(0),
                    sha256: row.get(4)?,
                    link,
                    device,
                })
            })
            .map_err(err())?;
        rows.collect::<Result<_, _>>().map_err(err())
    }

    /// The host paths a backup recorded as not kept (Unix sockets), sorted.
    ///
    /// # Errors
    /// [`StateError::Sqlite`] on a read failure.
    pub fn not_kept(&self, id: i64) -> Result<Vec<String>, StateError> {
        let err = || sqlite("read backup entries", self.path());
        let mut stmt = self
            .conn()
            .prepare(
                "SELECT r.path || substr(e.path, length(r.label) + 1) AS host
                 FROM backup_entries e JOIN backup_roots r ON r.backup_id = e.backup_id
                  AND substr(e.path, 1, length(r.label) + 1) = r.label || '/'
                 WHERE e.backup_id = ?1 AND e.kind = ?2 ORDER BY host",
            )
            .map_err(err())?;
        let rows = stmt
            .query_map(params![id, kind_name(EntryKind::Socket)], |row| row.get(0))
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
}

/// Insert a backup with its roots and entries inside `tx`.
pub(super) fn insert_backup_in(
    tx: &rusqlite::Transaction<'_>,
    backup: &NewBackup,
) -> rusqlite::Result<i64> {
    let now = now_ms();
    tx.execute(
            "INSERT INTO backups (name, kind, reason, module, module_version, run_id, description, file, compression, sha256, bytes_in, bytes_out, entry_count, created_ms, verified_ms, status, format)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?14, ?15, ?16)",
            params![
                backup.name, backup.kind, backup.reason, backup.module, backup.module_version,
                backup.run_id, backup.description, backup.file, backup.compression, backup.sha256,
                to_i64(backup.bytes_in), to_i64(backup.bytes_out),
                to_i64(backup.entries.len() as u64), now, BackupStatus::Ok, backup.format
            ],
        )
        ?;
    let id = tx.last_insert_rowid();
    {
        let mut roots = tx.prepare("INSERT INTO backup_roots VALUES (?1, ?2, ?3, ?4, ?5, ?6)")?;
        for r in &backup.roots {
            roots.execute(params![
                id, r.label, r.module, r.category, r.path, r.missing
            ])?;
        }
        let mut entries =
            tx.prepare("INSERT INTO backup_entries VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)")?;
        // A store backup's entries live in its manifest (hash-checked like its
        // content); its rows keep only what SQL readers need: the sockets not kept.
        let store = backup.format == BackupFormat::Store;
        for e in &backup.entries {
            if store && e.kind != EntryKind::Socket {
                continue;
            }
            entries.execute(params![
                id,
                e.path,
                kind_name(e.kind),
                e.mode,
                to_i64(e.size),
                e.sha256,
                link_column(e)
            ])?;
        }
    }
    Ok(id)
}
