//! The run event feed: one row per ledger change of a run (its start, each module's start
//! and outcome, health checks, git tags, rollbacks, its end), written in the transaction of
//! the change itself. Its `seq` only grows (`AUTOINCREMENT`), so a reader that remembers
//! the last `seq` it saw (a Server-Sent Events client's `Last-Event-ID`) resumes exactly
//! after it, with nothing lost and nothing repeated.

use rusqlite::params;

use super::{Ledger, StateError, sqlite};

/// One change of a run, as the feed holds it.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct RunEventRow {
    /// Its place in the feed of every run; only grows.
    pub seq: i64,
    /// The run.
    pub run_id: i64,
    /// When it was recorded (ms since the epoch).
    pub at_ms: i64,
    /// What changed: `run-started`, `module-started`, `module-finished`, `health`,
    /// `git-tag`, `rollback`, `run-finished`.
    pub kind: String,
    /// The module it is about, if any.
    pub module: Option<String>,
    /// The change's facts (outcome, versions, phase, ...), as the kind has them.
    pub data: serde_json::Value,
}

/// Append an event of `run_id` to the feed, inside the caller's transaction.
pub(super) fn insert(
    conn: &rusqlite::Connection,
    run_id: i64,
    kind: &str,
    module: Option<&str>,
    data: &serde_json::Value,
) -> rusqlite::Result<()> {
    conn.prepare_cached(
        "INSERT INTO run_events (run_id, at_ms, kind, module, data) VALUES (?1, ?2, ?3, ?4, ?5)",
    )?
    .execute(params![
        run_id,
        super::now_ms(),
        kind,
        module,
        data.to_string()
    ])?;
    Ok(())
}

/// Append a module's start to the feed.
pub(super) fn module_started(
    conn: &rusqlite::Connection,
    run_id: i64,
    module: &str,
    version_before: Option<&str>,
) -> rusqlite::Result<()> {
    insert(
        conn,
        run_id,
        "module-started",
        Some(module),
        &serde_json::json!({ "version_before": version_before }),
    )
}

/// Append a module's outcome to the feed.
pub(super) fn module_finished(
    conn: &rusqlite::Connection,
    r: &super::writer::ModuleRecord,
) -> rusqlite::Result<()> {
    insert(
        conn,
        r.run_id,
        "module-finished",
        Some(&r.module),
        &serde_json::json!({
            "outcome": r.outcome,
            "reason": r.reason,
            "duration_ms": r.duration_ms,
            "exit_code": r.exit_code,
            "version_before": r.version_before,
            "version_after": r.version_after,
            "error": r.error,
        }),
    )
}

impl Ledger {
    /// The events of `run_id` after `after` (a `seq`; 0 for all), in order.
    ///
    /// # Errors
    /// [`StateError::Sqlite`] on a read failure.
    pub fn run_events(&self, run_id: i64, after: i64) -> Result<Vec<RunEventRow>, StateError> {
        let err = || sqlite("read the run's events", &self.path);
        let mut stmt = self
            .conn()
            .prepare_cached(
                "SELECT seq, run_id, at_ms, kind, module, data FROM run_events
                 WHERE run_id = ?1 AND seq > ?2 ORDER BY seq",
            )
            .map_err(err())?;
        let rows = stmt
            .query_map(params![run_id, after], |row| {
                let data: String = row.get(5)?;
                Ok(RunEventRow {
                    seq: row.get(0)?,
                    run_id: row.get(1)?,
                    at_ms: row.get(2)?,
                    kind: row.get(3)?,
                    module: row.get(4)?,
                    data: serde_json::from_str(&data).unwrap_or(serde_json::Value::Null),
                })
            })
            .map_err(err())?;
        rows.collect::<Result<_, _>>().map_err(err())
    }

    /// The run `run_id`'s start time, whether it has finished, or `None` when there is
    /// no such run.
    ///
    /// # Errors
    /// [`StateError::Sqlite`] on a read failure.
    pub fn run_started(&self, run_id: i64) -> Result<Option<(i64, bool)>, StateError> {
        use rusqlite::OptionalExtension as _;
        self.conn()
            .prepare_cached("SELECT started_ms, finished_ms IS NOT NULL FROM runs WHERE id = ?1")
            .and_then(|mut stmt| {
                stmt.query_row([run_id], |row| Ok((row.get(0)?, row.get(1)?)))
                    .optional()
            })
            .map_err(sqlite("read a run", &self.path))
    }
}

impl Ledger {
    /// How many runs ended with each result (and how many are running), by result.
    ///
    /// # Errors
    /// [`StateError::Sqlite`] on a read failure.
    pub fn run_counts(&self) -> Result<Vec<(String, i64)>, StateError> {
        let err = || sqlite("count the runs", &self.path);
        let mut stmt = self
            .conn()
            .prepare_cached("SELECT result, count(*) FROM runs GROUP BY result ORDER BY result")
            .map_err(err())?;
        let rows = stmt
            .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))
            .map_err(err())?;
        rows.collect::<Result<_, _>>().map_err(err())
    }
}
