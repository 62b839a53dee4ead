//! The ledger's schedules: when each fires (its spec as JSON, see `schedule`), in
//! which time zone, what it runs, whether it is enabled, and its last and next run.

use rusqlite::{OptionalExtension, params};

use super::{Ledger, RunStatus, StateError, now_ms, sqlite};

/// A stored schedule.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ScheduleRow {
    /// Its name.
    pub name: String,
    /// When it fires, as the JSON of `schedule::Spec`.
    pub spec: String,
    /// IANA time zone its times are in.
    pub time_zone: String,
    /// Modules it runs (empty: the manifest's entrypoint, or all).
    pub targets: Vec<String>,
    /// Update types it covers (empty: all).
    pub types: Vec<String>,
    /// Whether it fires.
    pub enabled: bool,
    /// When it was added (ms since the epoch).
    pub created_ms: i64,
    /// When it last ran.
    pub last_run_ms: Option<i64>,
    /// The run it last started.
    pub last_run_id: Option<i64>,
    /// How that run ended.
    pub last_result: Option<RunStatus>,
    /// When it fires next (none while disabled).
    pub next_run_ms: Option<i64>,
    /// Whether its runs are forced: every module they select runs even when up to date.
    pub force: bool,
}

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<ScheduleRow> {
    let list = |text: String| serde_json::from_str::<Vec<String>>(&text).unwrap_or_default();
    Ok(ScheduleRow {
        name: r.get(0)?,
        spec: r.get(1)?,
        time_zone: r.get(2)?,
        targets: list(r.get(3)?),
        types: list(r.get(4)?),
        enabled: r.get(5)?,
        created_ms: r.get(6)?,
        last_run_ms: r.get(7)?,
        last_run_id: r.get(8)?,
        last_result: r.get(9)?,
        next_run_ms: r.get(10)?,
        force: r.get(11)?,
    })
}

const COLUMNS: &str = "name, spec, time_zone, targets, types, enabled, created_ms, last_run_ms, last_run_id, last_result, next_run_ms, force";

impl Ledger {
    /// Add a schedule; `false` when one with that name exists (nothing changes then).
    ///
    /// # Errors
    /// [`StateError::Sqlite`] on a write failure.
    pub fn add_schedule(&mut self, schedule: &ScheduleRow) -> Result<bool, StateError> {
        let err = || sqlite("add a schedule", self.path());
        let json = |list: &[String]| serde_json::to_string(list).unwrap_or_else(|_| "[]".into());
        let added = self
            .conn()
            .execute(
                "INSERT INTO schedules (name, spec, time_zone, targets, types, enabled, created_ms, next_run_ms, force)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) ON CONFLICT(name) DO NOTHING",
                params![
                    schedule.name,
                    schedule.spec,
                    schedule.time_zone,
                    json(&schedule.targets),
                    json(&schedule.types),
                    schedule.enabled,
                    now_ms(),
                    schedule.next_run_ms,
                    schedule.force
                ],
            )
            .map_err(err())?;
        Ok(added == 1)
    }

    /// Every schedule, by name.
    ///
    /// # Errors
    /// [`StateError::Sqlite`] on a read failure.
    pub fn schedules(&self) -> Result<Vec<ScheduleRow>, StateError> {
        let err = || sqlite("read schedules", self.path());
        let sql = format!("SELECT {COLUMNS} FROM schedules ORDER BY name");
        let mut stmt = self.conn().prepare(&sql).map_err(err())?;
        let rows = stmt.query_map([], row).map_err(err())?;
        rows.collect::<Result<_, _>>().map_err(err())
    }

    /// The schedule called `name`.
    ///
    /// # Errors
    /// [`StateError::Sqlite`] on a read failure.
    pub fn schedule(&self, name: &str) -> Result<Option<ScheduleRow>, StateError> {
        let err = || sqlite("read a schedule", self.path());
        let sql = format!("SELECT {COLUMNS} FROM schedules WHERE name = ?1");
        self.conn()
            .query_row(&sql, [name], row)
            .optional()
            .map_err(err())
    }

    /// Enable or disable a schedule, with its next run (none while disabled); `false`
    /// when there is no such schedule.
    ///
    /// # Errors
    /// [`StateError::Sqlite`] on a write failure.
    pub fn set_schedule_enabled(
        &mut self,
        name: &str,
        enabled: bool,
        next_run_ms: Option<i64>,
    ) -> Result<bool, StateError> {
        let err = || sqlite("update a schedule", self.path());
        let changed = self
            .conn()
            .execute(
                "UPDATE schedules SET enabled = ?2, next_run_ms = ?3 WHERE name = ?1",
                params![name, enabled, next_run_ms],
            )
            .map_err(err())?;
        Ok(changed == 1)
    }

    /// Record that a schedule ran, and when it fires next.
    ///
    /// # Errors
    /// [`StateError::Sqlite`] on a write failure.
    pub fn schedule_ran(
        &mut self,
        name: &str,
        run_id: Option<i64>,
        result: RunStatus,
        next_run_ms: Option<i64>,
    ) -> Result<(), StateError> {
        let err = || sqlite("record a scheduled run", self.path());
        self.conn()
            .execute(
                "UPDATE schedules SET last_run_ms = ?2, last_run_id = ?3, last_result = ?4, next_run_ms = ?5 WHERE name = ?1",
                params![name, now_ms(), run_id, result, next_run_ms],
            )
            .map_err(err())?;
        Ok(())
    }

    /// Record that a schedule came due and did not run: an audit entry (`schedule-skipped`)
    /// and its next run (when `next_run_ms` is given), with `notices` (its "schedule
    /// skipped" notification) in the same transaction.
    ///
    /// # Errors
    /// [`StateError::Sqlite`] on a write failure.
    pub fn record_schedule_skipped(
        &mut self,
        name: &str,
        reason: &str,
        next_run_ms: Option<Option<i64>>,
        notices: &[super::outbox::NewOutboxRow],
    ) -> Result<(), StateError> {
        let (conn, path) = self.conn_mut();
        let err = || sqlite("record a skipped schedule", path);
        let tx = conn.transaction().map_err(err())?;
        tx.execute(
            "INSERT INTO audit (at_ms, action, module, detail) VALUES (?1, 'schedule-skipped', NULL, ?2)",
            params![now_ms(), format!("{name}: {reason}")],
        )
        .map_err(err())?;
        if let Some(next) = next_run_ms {
            tx.execute(
                "UPDATE schedules SET next_run_ms = ?2 WHERE name = ?1",
                params![name, next],
            )
            .map_err(err())?;
        }
        super::outbox::enqueue(&tx, notices).map_err(err())?;
        tx.commit().map_err(err())
    }

    /// Record that schedule `name` came due and its run could not start because `reason`:
    /// a run row with result `not-started` and the reason (so the history shows it), the
    /// schedule's last run and next time, and the outbox rows `notices` makes for the new
    /// run's id (its "run failed to start" notification), in one transaction. Returns the run's
    /// id.
    ///
    /// # Errors
    /// [`StateError::Sqlite`] on a write failure.
    pub fn record_run_not_started(
        &mut self,
        name: &str,
        manifest: &std::path::Path,
        reason: &str,
        next_run_ms: Option<i64>,
        notices: impl FnOnce(i64) -> Vec<super::outbox::NewOutboxRow>,
    ) -> Result<i64, StateError> {
        let now = now_ms();
        let (conn, path) = self.conn_mut();
        let err = || sqlite("record a scheduled run that could not start", path);
        let tx = conn.transaction().map_err(err())?;
        tx.execute(
            "INSERT INTO runs (trigger, manifest, started_ms, finished_ms, result, pid, jobs, reason)
             VALUES (?1, ?2, ?3, ?3, ?6, ?4, 0, ?5)",
            params![
                format!("schedule:{name}"),
                manifest.to_string_lossy(),
                now,
                std::process::id(),
                reason,
                RunStatus::NotStarted
            ],
        )
        .map_err(err())?;
        let run_id = tx.last_insert_rowid();
        tx.execute(
            "UPDATE schedules SET last_run_ms = ?2, last_run_id = ?3, last_result = ?5, next_run_ms = ?4 WHERE name = ?1",
            params![name, now, run_id, next_run_ms, RunStatus::NotStarted],
        )
        .map_err(err())?;
        super::outbox::enqueue(&tx, &notices(run_id)).map_err(err())?;
        tx.commit().map_err(err())?;
        Ok(run_id)
    }

    /// Remove a schedule; `false` when there was none.
    ///
    /// # Errors
    /// [`StateError::Sqlite`] on a write failure.
    pub fn remove_schedule(&mut self, name: &str) -> Result<bool, StateError> {
        let err = || sqlite("remove a schedule", self.path());
        let removed = self
            .conn()
            .execute("DELETE FROM schedules WHERE name = ?1", [name])
            .map_err(err())?;
        Ok(removed == 1)
    }
}
