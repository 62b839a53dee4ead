//! The ledger: upkeep's SQLite database in the state directory. Only this module speaks SQL.
//!
//! Every connection runs in WAL mode with `synchronous=FULL` (the pragma is per connection,
//! so [`configure`] runs on each). Schema changes are numbered [`migrations`]. Writes that
//! belong together (a module's outcome and its new applied version) share one transaction,
//! so a module's applied version only changes when its success is recorded.

/// The one mapping each way between a row-level enum and its ledger spelling: `as_str` and
/// `FromStr`, which its SQL binding (`ToSql`/`FromSql`) and its JSON (`Serialize`, the same
/// spelling) go through, so no spelling is written twice.
macro_rules! spelled {
    ($ty:ty { $($variant:ident => $text:literal),+ $(,)? }) => {
        impl $ty {
            /// Every kind, in the order they are spelled.
            pub const ALL: &'static [Self] = &[$(Self::$variant),+];

            /// The ledger's spelling.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $text),+
                }
            }
        }

        impl std::str::FromStr for $ty {
            type Err = String;

            fn from_str(text: &str) -> Result<Self, String> {
                match text {
                    $($text => Ok(Self::$variant),)+
                    other => Err(format!("unknown {} `{other}`", stringify!($ty))),
                }
            }
        }

        impl std::fmt::Display for $ty {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl rusqlite::types::ToSql for $ty {
            fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
                Ok(rusqlite::types::ToSqlOutput::from(self.as_str()))
            }
        }

        impl rusqlite::types::FromSql for $ty {
            fn column_result(
                value: rusqlite::types::ValueRef<'_>,
            ) -> rusqlite::types::FromSqlResult<Self> {
                value
                    .as_str()?
                    .parse()
                    .map_err(|e: String| rusqlite::types::FromSqlError::Other(e.into()))
            }
        }

        impl serde::Serialize for $ty {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }
    };
}

pub mod access;
pub mod automation;
pub mod backups;
pub mod deploy;
pub mod health;
mod kinds;
mod migrations;
pub mod outbox;
mod queries;
pub mod rollbacks;
pub mod run_events;
pub mod safety_summary;
pub mod schedules;
pub mod store;
pub mod tags;
pub mod updates;
pub mod writer;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use rusqlite::{Connection, OpenFlags, params};

pub use kinds::{ModuleOutcome, RunStatus};
pub use queries::{
    History, HistoryFilter, HistoryModule, HistoryRun, LastRun, ModuleStats, RunMetrics, RunWindow,
};

use crate::integrity::{EntryKind, FileRecord};

/// The database file name inside the state directory.
pub const DB_FILE: &str = "upkeep.db";

/// Errors from the ledger.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// SQLite refused an operation.
    #[error("{action} in the ledger {path}")]
    Sqlite {
        /// What was being done, e.g. "open the database".
        action: &'static str,
        /// The database file.
        path: PathBuf,
        /// SQLite's error.
        #[source]
        source: rusqlite::Error,
    },
    /// The state directory could not be created, or a file of the ledger read or written.
    #[error("{action} {path}")]
    Io {
        /// What was being done, e.g. "create the state directory".
        action: &'static str,
        /// The directory or file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// WAL mode could not be enabled (e.g. the file system does not support it).
    #[error("enable WAL mode on {path}: SQLite answered `{mode}`")]
    NotWal {
        /// The database file.
        path: PathBuf,
        /// The journal mode SQLite reported instead.
        mode: String,
    },
    /// The database was written by a newer upkeep.
    #[error(
        "open the ledger {path}: its schema version {found} is newer than this upkeep knows ({known})"
    )]
    TooNew {
        /// The database file.
        path: PathBuf,
        /// The schema version found.
        found: usize,
        /// The newest version this build knows.
        known: usize,
    },
    /// The run's ledger writer stopped (on an earlier error, which the run reports) before
    /// it did what was asked of it.
    #[error("reach the run's ledger writer: it stopped on an earlier error")]
    WriterStopped,
}

/// What the ledger knows about one module.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct ModuleState {
    /// The version last applied successfully (`None` for modules without a version).
    pub applied_version: Option<String>,
    /// When it was applied, in milliseconds since the Unix epoch; `None` if never applied.
    pub applied_at_ms: Option<i64>,
    /// The module folder's checksum when it was applied.
    pub applied_checksum: Option<String>,
    /// The last version known to be good.
    pub last_safe_version: Option<String>,
    /// The newest recorded outcome, and the run it was in.
    pub last_outcome: Option<ModuleOutcome>,
    /// The run of the newest recorded outcome.
    pub last_run_id: Option<i64>,
    /// Why the module is held out of automatic runs (a rollback failed), if it is.
    pub needs_intervention: Option<String>,
    /// The upstream version its last update from its source moved it to.
    pub upstream_version: Option<String>,
    /// When the check that update came from was made (ms since the epoch).
    #[serde(skip)]
    pub upstream_check_ms: Option<i64>,
    /// The latest successful check of its update source: when, and what it found (the
    /// JSON of `updates::Finding`).
    #[serde(skip)]
    pub check: Option<(i64, String)>,
}

impl ModuleState {
    /// Whether the module was ever applied successfully.
    pub fn applied(&self) -> bool {
        self.applied_at_ms.is_some()
    }
}

/// A run, as the ledger and its notifications name it: its id and its start time (a
/// ledger deleted and started over reuses ids, never both).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RunRef {
    /// Its id in the ledger.
    pub id: i64,
    /// When it started (ms since the epoch).
    pub started_ms: i64,
}

/// Builds the notification rows of an interrupted run, from the run and the modules it
/// was still running (see [`Ledger::recover_interrupted_notifying`]).
pub type InterruptedNotices<'a> = dyn Fn(RunRef, &[String]) -> Vec<outbox::NewOutboxRow> + 'a;

/// An open ledger.
#[derive(Debug)]
pub struct Ledger {
    conn: Connection,
    path: PathBuf,
    /// The chunk index as last read on this connection (see [`Ledger::store_index_cached`]).
    store_cache: store::IndexCache,
}

/// Milliseconds since the Unix epoch, now.
pub fn now_ms() -> i64 {
    jiff::Timestamp::now().as_millisecond()
}

fn sqlite(action: &'static str, path: &Path) -> impl FnOnce(rusqlite::Error) -> StateError + use<> {
    let path = path.to_path_buf();
    move |source| StateError::Sqlite {
        action,
        path,
        source,
    }
}

/// Per-connection settings every ledger connection must have.
///
/// `new` says the database file is empty (just created): switching it to WAL mode then
/// writes its first page through a rollback journal, which at `synchronous=FULL` costs
/// four fsyncs (journal, directory, journal, database), and the schema's commit three
/// more. The connection is left at `synchronous=OFF` for both; [`Ledger::open`] then makes
/// the file durable and sets `synchronous=FULL` (see there).
fn configure(conn: &Connection, path: &Path, new: bool) -> Result<(), StateError> {
    conn.busy_timeout(std::time::Duration::from_secs(10))
        .map_err(sqlite("set the busy timeout", path))?;
    if new {
        conn.execute_batch("PRAGMA synchronous=OFF;")
            .map_err(sqlite("create the database", path))?;
    }
    let mode: String = conn
        .query_row("PRAGMA journal_mode=WAL", [], |row| row.get(0))
        .map_err(sqlite("enable WAL mode", path))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(StateError::NotWal {
            path: path.to_path_buf(),
            mode,
        });
    }
    if !new {
        conn.execute_batch("PRAGMA synchronous=FULL;")
            .map_err(sqlite("set synchronous=FULL", path))?;
    }
    conn.execute_batch("PRAGMA foreign_keys=ON; PRAGMA journal_size_limit=1048576;")
        .map_err(sqlite("configure the database", path))?;
    // Keep the WAL file between runs and do not checkpoint when a connection closes.
    // Deleting the WAL at every close and creating it at the next run costs a file
    // creation and a directory fsync, and a close-time checkpoint an fsync of the database,
    // all on a run's critical path (and a read-only command would write). Checkpoints
    // happen instead during commits once the WAL holds 64 pages, so the next opener's WAL
    // recovery stays a few hundred kilobytes at most. Durability does not depend on any
    // of this: every commit is fsynced (`synchronous=FULL`).
    conn.execute_batch("PRAGMA wal_autocheckpoint=64;")
        .map_err(sqlite("set the checkpoint interval", path))?;
    conn.set_db_config(
        rusqlite::config::DbConfig::SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE,
        true,
    )
    .map_err(sqlite("configure checkpoints", path))?;
    let mut persist = 1;
    conn.file_control(
        Some(rusqlite::MAIN_DB),
        rusqlite::FileControl::PersistWal(&mut persist),
    )
    .map_err(sqlite("keep the WAL file", path))
}

impl Ledger {
    /// Open (creating if needed) the ledger in `state_dir` and bring its schema up to date.
    ///
    /// # Errors
    /// [`StateError`] when the directory or database cannot be created or migrated.
    pub fn open(state_dir: &Path) -> Result<Self, StateError> {
        create_state_dir(state_dir)?;
        let path = state_dir.join(DB_FILE);
        // Empty or missing: nothing in it can be lost (see `configure`).
        let new = fs_err::metadata(&path).map_or(true, |m| m.len() == 0);
        let conn = Connection::open(&path).map_err(sqlite("open the database", &path))?;
        configure(&conn, &path, new)?;
        let mut ledger = Self {
            conn,
            path,
            store_cache: store::IndexCache::default(),
        };
        ledger.migrate()?;
        if new {
            // The database file's first page (which says "WAL mode") must be durable
            // before anything that matters is in the WAL: SQLite discards the WAL of a
            // database file that reads as empty after a crash. One fsync of that page does
            // it; the schema in the WAL becomes durable with the first commit made from
            // here on, at `synchronous=FULL`, which also syncs the directory (the WAL is a
            // new file). Until then a crash loses only the schema, which the next open
            // creates again.
            let path = &ledger.path;
            fs_err::File::open(path)
                .and_then(|file| file.sync_all())
                .map_err(|source| StateError::Io {
                    action: "sync the new database",
                    path: path.clone(),
                    source,
                })?;
            ledger
                .conn
                .execute_batch("PRAGMA synchronous=FULL;")
                .map_err(sqlite("set synchronous=FULL", path))?;
        }
        Ok(ledger)
    }

    /// Open the ledger for reading if it exists; `None` when nothing was ever recorded.
    /// Reading never creates the state directory.
    ///
    /// # Errors
    /// [`StateError`] when the database exists but cannot be read.
    pub fn open_existing(state_dir: &Path) -> Result<Option<Self>, StateError> {
        let path = state_dir.join(DB_FILE);
        if !path.exists() {
            return Ok(None);
        }
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = Connection::open_with_flags(&path, flags)
            .map_err(sqlite("open the database", &path))?;
        configure(&conn, &path, false)?;
        let mut ledger = Self {
            conn,
            path,
            store_cache: store::IndexCache::default(),
        };
        ledger.migrate()?;
        Ok(Some(ledger))
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn migrate(&mut self) -> Result<(), StateError> {
        let path = self.path.clone();
        let current: i64 = self
            .conn
            .query_row("PRAGMA user_version", [], |row| row.get(0))
            .map_err(sqlite("read the schema version", &path))?;
        let current = usize::try_from(current).unwrap_or(usize::MAX);
        let known = migrations::MIGRATIONS.len();
        if current > known {
            return Err(StateError::TooNew {
                path,
                found: current,
                known,
            });
        }
        if current == known {
            return Ok(());
        }
        // All pending migrations in one transaction: one durable commit (a new ledger
        // needs every one of them), and a schema that is either where it was or current.
        let tx = self
            .conn
            .transaction()
            .map_err(sqlite("begin a migration", &path))?;
        for sql in &migrations::MIGRATIONS[current..] {
            tx.execute_batch(sql)
                .map_err(sqlite("apply a migration", &path))?;
        }
        tx.pragma_update(
            None,
            "user_version",
            i64::try_from(known).unwrap_or(i64::MAX),
        )
        .map_err(sqlite("record the schema version", &path))?;
        tx.commit().map_err(sqlite("commit a migration", &path))
    }

    /// Every module the ledger knows, by name.
    ///
    /// # Errors
    /// [`StateError::Sqlite`] on a read failure.
    pub fn module_states(&self) -> Result<HashMap<String, ModuleState>, StateError> {
        let err = sqlite("read module states", &self.path);
        let mut stmt = self
            .conn
            .prepare(
                "SELECT m.name, m.applied_version, m.applied_at_ms, m.applied_checksum, m.last_safe_version,
                        r.outcome, r.run_id, m.needs_intervention, m.upstream_version,
                        m.upstream_check_ms
                 FROM modules m
                 LEFT JOIN module_runs r ON r.module = m.name AND r.run_id = m.last_run_id",
            )
            .map_err(err)?;
        let rows = stmt.query_map([], |row| {
            Ok((
                row.get::<_, String>(0)?,
                ModuleState {
                    applied_version: row.get(1)?,
                    applied_at_ms: row.get(2)?,
                    applied_checksum: row.get(3)?,
                    last_safe_version: row.get(4)?,
                    last_outcome: row.get(5)?,
                    last_run_id: row.get(6)?,
                    needs_intervention: row.get(7)?,
                    upstream_version: row.get(8)?,
                    upstream_check_ms: row.get(9)?,
                    check: None,
                },
            ))
        });
        let mut states: HashMap<String, ModuleState> = rows
            .and_then(Iterator::collect)
            .map_err(sqlite("read module states", &self.path))?;
        for check in self.checks()?.into_iter().filter(|c| c.ok) {
            states.entry(check.module).or_default().check =
                Some((check.checked_ms, check.finding_json));
        }
        Ok(states)
    }

    /// Mark runs that never finished (upkeep was killed) and their in-flight modules as
    /// interrupted. Call only while holding the run lock. Returns the ids of such runs.
    ///
    /// # Errors
    /// [`StateError::Sqlite`] on a write failure.
    pub fn recover_interrupted(&mut self) -> Result<Vec<i64>, StateError> {
        self.recover_interrupted_notifying(None)
    }

    /// [`Ledger::recover_interrupted`], enqueuing in the same transaction the rows `tell`
    /// builds for each interrupted run (its "run finished" notification) from the run and
    /// the modules it was still running. `None` when nobody is to be told, which spares
    /// reading those modules.
    ///
    /// # Errors
    /// [`StateError::Sqlite`] on a write failure.
    pub fn recover_interrupted_notifying(
        &mut self,
        tell: Option<&InterruptedNotices<'_>>,
    ) -> Result<Vec<i64>, StateError> {
        let path = self.path.clone();
        // Most runs find nothing to recover; a read avoids a write transaction's fsync.
        let unfinished: i64 = self
            .conn
            .query_row(
                "SELECT count(*) FROM runs WHERE finished_ms IS NULL",
                [],
                |row| row.get(0),
            )
            .map_err(sqlite("find interrupted runs", &path))?;
        if unfinished == 0 {
            return Ok(Vec::new());
        }
        let tx = self
            .conn
            .transaction()
            .map_err(sqlite("begin recovery", &path))?;
        let ids: Vec<i64> = {
            let mut stmt = tx
                .prepare("SELECT id FROM runs WHERE finished_ms IS NULL")
                .map_err(sqlite("find interrupted runs", &path))?;
            stmt.query_map([], |row| row.get(0))
                .and_then(Iterator::collect)
                .map_err(sqlite("find interrupted runs", &path))?
        };
        if let Some(tell) = tell {
            let notices = interrupted_notices(&tx, &ids, tell)
                .map_err(sqlite("tell of interrupted runs", &path))?;
            outbox::enqueue(&tx, &notices).map_err(sqlite("tell of interrupted runs", &path))?;
        }
        tx.execute(
            "UPDATE module_runs SET outcome = ?1, error = 'upkeep stopped before this module finished'
             WHERE outcome = ?2",
            params![ModuleOutcome::Interrupted, ModuleOutcome::Running],
        )
        .map_err(sqlite("mark interrupted modules", &path))?;
        tx.execute(
            "UPDATE runs SET result = ?1, finished_ms = started_ms WHERE finished_ms IS NULL",
            [RunStatus::Interrupted],
        )
        .map_err(sqlite("mark interrupted runs", &path))?;
        tx.commit().map_err(sqlite("commit recovery", &path))?;
        Ok(ids)
    }

    /// Record the start of a run and return its id. This one commit is synchronous, so a
    /// run that dies at any point afterwards is found and marked interrupted by the next.
    ///
    /// # Errors
    /// [`StateError::Sqlite`] on a write failure.
    pub fn begin_run(
        &mut self,
        trigger: &str,
        manifest: &Path,
        jobs: usize,
    ) -> Result<i64, StateError> {
        self.begin_run_notifying(trigger, manifest, jobs, |_| Vec::new())
            .map(|run| run.id)
    }

    /// [`Ledger::begin_run`], enqueuing the rows `started` builds for the new run (its
    /// "run started" notification) in the same transaction.
    ///
    /// # Errors
    /// [`StateError::Sqlite`] on a write failure.
    pub fn begin_run_notifying(
        &mut self,
        trigger: &str,
        manifest: &Path,
        jobs: usize,
        started: impl FnOnce(RunRef) -> Vec<outbox::NewOutboxRow>,
    ) -> Result<RunRef, StateError> {
        let jobs = i64::try_from(jobs).unwrap_or(i64::MAX);
        let started_ms = now_ms();
        let (conn, path) = self.conn_mut();
        let err = || sqlite("record the run's start", path);
        let tx = conn.transaction().map_err(err())?;
        tx.execute(
            "INSERT INTO runs (trigger, manifest, started_ms, pid, jobs, result) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![
                trigger,
                manifest.to_string_lossy(),
                started_ms,
                std::process::id(),
                jobs,
                RunStatus::Running
            ],
        )
        .map_err(err())?;
        let run = RunRef {
            id: tx.last_insert_rowid(),
            started_ms,
        };
        run_events::insert(
            &tx,
            run.id,
            "run-started",
            None,
            &serde_json::json!({ "trigger": trigger, "jobs": jobs }),
        )
        .map_err(err())?;
        outbox::enqueue(&tx, &started(run)).map_err(err())?;
        tx.commit().map_err(err())?;
        Ok(run)
    }

    /// The recorded per-file hashes of `module` at `checksum`, if `upkeep checksum --write`
    /// recorded them.
    ///
    /// # Errors
    /// [`StateError::Sqlite`] on a read failure.
    pub fn recorded_files(
        &self,
        module: &str,
        checksum: &str,
    ) -> Result<Option<Vec<FileRecord>>, StateError> {
        let err = || sqlite("read recorded file hashes", &self.path);
        let mut stmt = self
            .conn
            .prepare("SELECT path, kind, sha256 FROM file_hashes WHERE module = ?1 AND checksum = ?2 ORDER BY path")
            .map_err(err())?;
        let rows: Vec<(String, String, String)> = stmt
            .query_map(params![module, checksum], |row| {
                Ok((row.get(0)?, row.get(1)?, row.get(2)?))
            })
            .and_then(Iterator::collect)
            .map_err(err())?;
        if rows.is_empty() {
            return Ok(None);
        }
        let files = rows
            .into_iter()
            .map(|(path, kind, sha256)| {
                let kind = kind
                    .chars()
                    .next()
                    .and_then(EntryKind::from_code)
                    .unwrap_or(EntryKind::File);
                FileRecord { path, kind, sha256 }
            })
            .collect();
        Ok(Some(files))
    }

    /// Record an approved checksum of `module` with its per-file hashes, and an audit entry.
    ///
    /// # Errors
    /// [`StateError::Sqlite`] on a write failure.
    pub fn record_approval(
        &mut self,
        module: &str,
        checksum: &str,
        files: &[FileRecord],
        detail: &str,
    ) -> Result<(), StateError> {
        let path = self.path.clone();
        let tx = self
            .conn
            .transaction()
            .map_err(sqlite("begin recording an approval", &path))?;
        tx.execute(
            "DELETE FROM file_hashes WHERE module = ?1 AND checksum = ?2",
            params![module, checksum],
        )
        .map_err(sqlite("record file hashes", &path))?;
        {
            let mut insert = tx
                .prepare("INSERT INTO file_hashes (module, checksum, path, kind, sha256) VALUES (?1, ?2, ?3, ?4, ?5)")
                .map_err(sqlite("record file hashes", &path))?;
            for file in files {
                insert
                    .execute(params![
                        module,
                        checksum,
                        file.path,
                        file.kind.code().to_string(),
                        file.sha256
                    ])
                    .map_err(sqlite("record file hashes", &path))?;
            }
        }
        tx.execute(
            "INSERT INTO audit (at_ms, action, module, detail) VALUES (?1, 'checksum-approved', ?2, ?3)",
            params![now_ms(), module, format!("{checksum} {detail}")],
        )
        .map_err(sqlite("record the audit entry", &path))?;
        tx.commit().map_err(sqlite("commit an approval", &path))
    }

    /// Audit entries recorded at or after `since_ms`, newest first.
    ///
    /// # Errors
    /// [`StateError::Sqlite`] on a read failure.
    pub fn audit(&self, since_ms: i64) -> Result<Vec<AuditEntry>, StateError> {
        let err = || sqlite("read the audit trail", &self.path);
        let mut stmt = self
            .conn
            .prepare(
                "SELECT at_ms, action, module, detail FROM audit WHERE at_ms >= ?1 ORDER BY id DESC",
            )
            .map_err(err())?;
        stmt.query_map([since_ms], |row| {
            Ok(AuditEntry {
                at_ms: row.get(0)?,
                action: row.get(1)?,
                module: row.get(2)?,
                detail: row.get(3)?,
            })
        })
        .and_then(Iterator::collect)
        .map_err(err())
    }

    /// A number that changes whenever another connection (of this process or another)
    /// commits to the ledger, and stays the same otherwise: SQLite's `PRAGMA
    /// data_version`. A reader that keeps one connection open compares it to know whether
    /// what it derived from the ledger still holds, without reading the ledger again.
    ///
    /// # Errors
    /// The database cannot be read.
    pub fn data_version(&self) -> Result<i64, StateError> {
        self.conn
            .query_row("PRAGMA data_version", [], |row| row.get(0))
            .map_err(sqlite("read the data version", &self.path))
    }

    pub(crate) fn conn(&self) -> &Connection {
        &self.conn
    }

    pub(crate) fn conn_mut(&mut self) -> (&mut Connection, &Path) {
        (&mut self.conn, &self.path)
    }
}

/// One entry of the audit trail.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct AuditEntry {
    /// When, in milliseconds since the Unix epoch.
    pub at_ms: i64,
    /// What happened, e.g. `checksum-approved`.
    pub action: String,
    /// The module concerned.
    pub module: Option<String>,
    /// Details.
    pub detail: String,
}

fn create_state_dir(dir: &Path) -> Result<(), StateError> {
    crate::paths::ensure_state_dir(dir).map_err(|source| StateError::Io {
        action: "create the state directory",
        path: dir.to_path_buf(),
        source,
    })
}

/// The notification rows `tell` builds for interrupted runs `ids`, read before they are
/// marked.
fn interrupted_notices(
    tx: &rusqlite::Transaction<'_>,
    ids: &[i64],
    tell: &InterruptedNotices<'_>,
) -> rusqlite::Result<Vec<outbox::NewOutboxRow>> {
    let mut notices = Vec::new();
    for &id in ids {
        let started_ms: i64 =
            tx.query_row("SELECT started_ms FROM runs WHERE id = ?1", [id], |r| {
                r.get(0)
            })?;
        let mut stmt = tx.prepare_cached(
            "SELECT module FROM module_runs WHERE run_id = ?1 AND outcome = ?2 ORDER BY module",
        )?;
        let running: Vec<String> = stmt
            .query_map(params![id, ModuleOutcome::Running], |r| r.get(0))?
            .collect::<Result<_, _>>()?;
        notices.extend(tell(RunRef { id, started_ms }, &running));
    }
    Ok(notices)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schema_version(conn: &Connection) -> i64 {
        conn.query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap()
    }

    /// A new ledger is created with its first writes unsynced; what it hands out must be
    /// a connection at `synchronous=FULL` over a database file that says WAL mode (SQLite
    /// discards the WAL of a database file that reads as empty), with the whole schema.
    #[test]
    fn a_new_ledger_is_durable_from_its_first_commit() {
        let tmp = tempfile::tempdir().unwrap();
        for _ in 0..2 {
            // Created, then opened again.
            let ledger = Ledger::open(tmp.path()).unwrap();
            let synchronous: i64 = ledger
                .conn
                .query_row("PRAGMA synchronous", [], |r| r.get(0))
                .unwrap();
            assert_eq!(synchronous, 2, "FULL");
            assert_eq!(
                usize::try_from(schema_version(&ledger.conn)).unwrap(),
                migrations::MIGRATIONS.len()
            );
            let bytes = fs_err::read(tmp.path().join(DB_FILE)).unwrap();
            assert_eq!(&bytes[..16], b"SQLite format 3\0");
            assert_eq!((bytes[18], bytes[19]), (2, 2), "file format bytes say WAL");
        }
    }

    #[test]
    fn an_older_ledger_is_brought_up_to_date_and_keeps_its_rows() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join(DB_FILE);
        {
            let conn = Connection::open(&path).unwrap();
            conn.execute_batch(migrations::MIGRATIONS[0]).unwrap();
            conn.execute_batch(
                "INSERT INTO modules (name, applied_version) VALUES ('gogs', '2');
                 PRAGMA user_version = 1;",
            )
            .unwrap();
        }
        let ledger = Ledger::open(tmp.path()).unwrap();
        assert_eq!(
            usize::try_from(schema_version(&ledger.conn)).unwrap(),
            migrations::MIGRATIONS.len()
        );
        let applied: String = ledger
            .conn
            .query_row(
                "SELECT applied_version FROM modules WHERE name = 'gogs'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(applied, "2");
    }
}
