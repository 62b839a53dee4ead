//! Read-side views across the backup, health-check and rollback records: each module's
//! newest backup, newest health check and hold (for `status`), and each run's backups,
//! health checks and rollbacks as events (for `history`).

use super::kinds::BackupStatus;
use super::{Ledger, StateError, sqlite};

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

impl Ledger {
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
                // Each module's newest backup comes from one pass over every backup root,
                // grouped by module: `backup_roots` has no index on `module`, so a
                // subquery per module read the whole table once per module (3.3 s for
                // 1,000 modules with three full backups; this takes a few ms). The bare
                // `id` is SQLite's value from the row holding the `max()`; two backups of
                // one module in the same millisecond are told apart arbitrarily.
                "WITH newest AS (
                     SELECT r.module, b.id, max(b.created_ms) AS created_ms
                     FROM backup_roots r JOIN backups b ON b.id = r.backup_id
                     WHERE b.status = ?1 GROUP BY r.module)
                 SELECT m.name, m.needs_intervention, nb.id, nb.created_ms,
                    (SELECT h.passed FROM health_checks h WHERE h.module = m.name ORDER BY h.at_ms DESC, h.id DESC LIMIT 1),
                    (SELECT h.at_ms FROM health_checks h WHERE h.module = m.name ORDER BY h.at_ms DESC, h.id DESC LIMIT 1)
                 FROM modules m LEFT JOIN newest nb ON nb.module = m.name",
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

    /// Backups, health checks and rollbacks of runs started at or after `since_ms`, as
    /// (run id, event) in time order.
    ///
    /// # Errors
    /// [`StateError::Sqlite`] on a read failure.
    pub fn safety_events(&self, since_ms: i64) -> Result<Vec<(i64, SafetyEvent)>, StateError> {
        self.safety_events_of("SELECT id FROM runs WHERE started_ms >= ?1", since_ms)
    }

    /// Backups, health checks and rollbacks of run `run_id` alone, in time order.
    ///
    /// # Errors
    /// [`StateError::Sqlite`] on a read failure.
    pub fn run_safety_events(&self, run_id: i64) -> Result<Vec<SafetyEvent>, StateError> {
        Ok(self
            .safety_events_of("?1", run_id)?
            .into_iter()
            .map(|(_, event)| event)
            .collect())
    }

    /// The safety events of the runs `runs` (SQL giving run ids, with `?1` bound to `arg`).
    fn safety_events_of(
        &self,
        runs: &str,
        arg: i64,
    ) -> Result<Vec<(i64, SafetyEvent)>, StateError> {
        let err = || sqlite("read safety events", self.path());
        let sql = "SELECT run_id, 'backup', module, created_ms,
                        'backup ' || id || ' (' || reason || ', ' || entry_count
                        || CASE entry_count WHEN 1 THEN ' entry, ' ELSE ' entries, ' END || bytes_out || ' bytes, ' || status || ')'
                   FROM backups WHERE run_id IN (RUNS)
                 UNION ALL
                 SELECT run_id, 'health-check', module, at_ms,
                        phase || ': ' || CASE passed WHEN 1 THEN 'passed' ELSE 'failed' END
                        || ' after ' || attempts || CASE attempts WHEN 1 THEN ' attempt' ELSE ' attempts' END || coalesce(' - ' || detail, '')
                   FROM health_checks WHERE run_id IN (RUNS)
                 UNION ALL
                 SELECT run_id, 'rollback', module, at_ms,
                        result || coalesce(' from backup ' || backup_id, '') || coalesce(' to ' || to_version, '')
                        || coalesce(': ' || cause, '')
                   FROM rollbacks WHERE run_id IN (RUNS)
                 ORDER BY 4"
            .replace("RUNS", runs);
        let mut stmt = self.conn().prepare(&sql).map_err(err())?;
        let rows = stmt
            .query_map([arg], |row| {
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
}
