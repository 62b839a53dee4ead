//! Read-side queries: run history and per-module statistics.

use std::fmt::Write;

use rusqlite::{OptionalExtension, params_from_iter};

use rusqlite::types::Value;

use super::{Ledger, ModuleOutcome, RunStatus, StateError, sqlite};

/// Which runs and outcomes `history` returns.
#[derive(Debug, Clone, Default)]
pub struct HistoryFilter {
    /// Only runs started at or after this time (ms since the epoch).
    pub since_ms: Option<i64>,
    /// Only outcomes of these modules (empty: all).
    pub modules: Vec<String>,
    /// Only outcomes of these kinds (e.g. `failed`; empty: all).
    pub outcomes: Vec<ModuleOutcome>,
    /// At most this many runs, newest first.
    pub limit: usize,
}

/// Runs and statistics.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct History {
    /// Matching runs, newest first.
    pub runs: Vec<HistoryRun>,
    /// Per-module statistics over the matching window.
    pub stats: Vec<ModuleStats>,
    /// Audit entries (checksum approvals) in the window for the matching modules, newest
    /// first.
    pub audit: Vec<super::AuditEntry>,
}

/// One run.
#[derive(Debug, Clone, serde::Serialize)]
pub struct HistoryRun {
    /// Run id.
    pub id: i64,
    /// What started it (`manual`, `schedule:NAME`, ...).
    pub trigger: String,
    /// Start time (ms since the epoch).
    pub started_ms: i64,
    /// End time, if it ended.
    pub finished_ms: Option<i64>,
    /// Overall result.
    pub result: RunStatus,
    /// Why the run ended without running anything (`not-started`), if it did.
    pub reason: Option<String>,
    /// Module outcomes in this run that match the filter.
    pub modules: Vec<HistoryModule>,
    /// Backups, health checks and rollbacks during the run, in time order.
    pub events: Vec<super::safety_summary::SafetyEvent>,
}

/// One module outcome within a run.
#[derive(Debug, Clone, serde::Serialize)]
pub struct HistoryModule {
    /// Module name.
    pub module: String,
    /// The outcome's kind.
    pub outcome: ModuleOutcome,
    /// Reason or error.
    pub detail: Option<String>,
    /// Duration, if it ran.
    pub duration_ms: Option<i64>,
    /// Version before.
    pub version_before: Option<String>,
    /// Version after.
    pub version_after: Option<String>,
    /// Log file.
    pub log_path: Option<String>,
}

/// Success rate and mean duration of one module.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ModuleStats {
    /// Module name.
    pub module: String,
    /// Outcomes where the module ran (succeeded, failed, timed out, cancelled, ...).
    pub attempts: i64,
    /// Of those, how many succeeded.
    pub succeeded: i64,
    /// `succeeded / attempts`, 0 when it never ran.
    pub success_rate: f64,
    /// Mean duration of its runs in milliseconds.
    pub mean_duration_ms: Option<f64>,
}

impl Ledger {
    /// Runs and outcomes matching `filter`, with per-module statistics.
    ///
    /// # Errors
    /// [`StateError::Sqlite`] on a read failure.
    pub fn history(&self, filter: &HistoryFilter) -> Result<History, StateError> {
        let err = || sqlite("read the run history", &self.path);
        let since = filter.since_ms.unwrap_or(i64::MIN);
        let mut runs: Vec<HistoryRun> = self
            .conn()
            .prepare(&format!(
                "SELECT {RUN_COLUMNS} FROM runs WHERE started_ms >= ?1 ORDER BY id DESC"
            ))
            .and_then(|mut stmt| stmt.query_map([since], history_run)?.collect())
            .map_err(err())?;
        let (clause, args) = module_clause(filter, since);
        let sql = format!(
            "SELECT r.run_id, {MODULE_COLUMNS}
             FROM module_runs r JOIN runs ON runs.id = r.run_id WHERE {clause} ORDER BY r.run_id DESC, r.started_ms, r.module"
        );
        let mut stmt = self.conn().prepare(&sql).map_err(err())?;
        let rows = stmt
            .query_map(params_from_iter(args.iter()), |row| {
                Ok((row.get::<_, i64>(0)?, history_module(row, 1)?))
            })
            .map_err(err())?;
        for row in rows {
            let (run_id, module) = row.map_err(err())?;
            if let Some(run) = runs.iter_mut().find(|r| r.id == run_id) {
                run.modules.push(module);
            }
        }
        self.attach_events(&mut runs, filter, since)?;
        if !filter.modules.is_empty() || !filter.outcomes.is_empty() {
            runs.retain(|r| !r.modules.is_empty());
        }
        if filter.limit > 0 {
            runs.truncate(filter.limit);
        }
        let stats = self.stats(filter, since)?;
        let audit = self.audit_in(filter, since)?;
        Ok(History { runs, stats, audit })
    }

    /// Run `run_id` as [`Ledger::history`] shows it unfiltered (all its modules' outcomes
    /// and safety events), or `None` when there is no such run: read by its id, so one
    /// run's record costs the same however many runs came after it.
    ///
    /// # Errors
    /// [`StateError::Sqlite`] on a read failure.
    pub fn history_run(&self, run_id: i64) -> Result<Option<HistoryRun>, StateError> {
        let err = || sqlite("read a run", &self.path);
        let Some(mut run) = self
            .conn()
            .prepare_cached(&format!("SELECT {RUN_COLUMNS} FROM runs WHERE id = ?1"))
            .and_then(|mut stmt| stmt.query_row([run_id], history_run).optional())
            .map_err(err())?
        else {
            return Ok(None);
        };
        run.modules = self
            .conn()
            .prepare_cached(&format!(
                "SELECT {MODULE_COLUMNS} FROM module_runs r WHERE r.run_id = ?1 ORDER BY r.started_ms, r.module"
            ))
            .and_then(|mut stmt| {
                stmt.query_map([run_id], |row| history_module(row, 0))?
                    .collect()
            })
            .map_err(err())?;
        run.events = self.run_safety_events(run_id)?;
        Ok(Some(run))
    }

    /// Every module name the ledger has a record of: those that ran, and those it keeps a
    /// state for. A module removed from the manifest keeps its history under this name.
    ///
    /// # Errors
    /// [`StateError::Sqlite`] on a read failure.
    pub fn history_modules(&self) -> Result<Vec<String>, StateError> {
        self.conn()
            .prepare("SELECT module FROM module_runs UNION SELECT name FROM modules ORDER BY 1")
            .and_then(|mut stmt| stmt.query_map([], |row| row.get(0))?.collect())
            .map_err(sqlite("read the modules in the history", &self.path))
    }

    /// Add each run's backups, health checks and rollbacks (of the filter's modules).
    fn attach_events(
        &self,
        runs: &mut [HistoryRun],
        filter: &HistoryFilter,
        since: i64,
    ) -> Result<(), StateError> {
        for (run_id, event) in self.safety_events(since)? {
            let wanted = filter.modules.is_empty()
                || event
                    .module
                    .as_ref()
                    .is_some_and(|m| filter.modules.contains(m));
            if let (true, Some(run)) = (wanted, runs.iter_mut().find(|r| r.id == run_id)) {
                run.events.push(event);
            }
        }
        Ok(())
    }

    /// Audit entries since `since` for the filter's modules, newest first.
    fn audit_in(
        &self,
        filter: &HistoryFilter,
        since: i64,
    ) -> Result<Vec<super::AuditEntry>, StateError> {
        let wanted = |module: Option<&String>| {
            filter.modules.is_empty() || module.is_some_and(|m| filter.modules.contains(m))
        };
        Ok(self
            .audit(since)?
            .into_iter()
            .filter(|a| wanted(a.module.as_ref()))
            .collect())
    }

    fn stats(&self, filter: &HistoryFilter, since: i64) -> Result<Vec<ModuleStats>, StateError> {
        let err = || sqlite("compute module statistics", &self.path);
        let (clause, args) = module_clause(
            &HistoryFilter {
                outcomes: Vec::new(),
                ..filter.clone()
            },
            since,
        );
        let sql = format!(
            "SELECT r.module,
                    count(*) FILTER (WHERE r.started_ms IS NOT NULL),
                    count(*) FILTER (WHERE r.outcome = ?{succeeded}),
                    avg(r.duration_ms)
             FROM module_runs r JOIN runs ON runs.id = r.run_id
             WHERE {clause} AND r.outcome <> ?{running}
             GROUP BY r.module ORDER BY r.module",
            succeeded = args.len() + 1,
            running = args.len() + 2,
        );
        let mut args = args;
        args.push(Value::Text(ModuleOutcome::Succeeded.as_str().to_owned()));
        args.push(Value::Text(ModuleOutcome::Running.as_str().to_owned()));
        let mut stmt = self.conn().prepare(&sql).map_err(err())?;
        stmt.query_map(params_from_iter(args.iter()), |row| {
            let attempts: i64 = row.get(1)?;
            let succeeded: i64 = row.get(2)?;
            #[expect(clippy::cast_precision_loss, reason = "run counts are far below 2^52")]
            let success_rate = if attempts == 0 {
                0.0
            } else {
                succeeded as f64 / attempts as f64
            };
            Ok(ModuleStats {
                module: row.get(0)?,
                attempts,
                succeeded,
                success_rate,
                mean_duration_ms: row.get(3)?,
            })
        })
        .and_then(Iterator::collect)
        .map_err(err())
    }
}

/// The columns of `runs` that [`history_run`] reads.
const RUN_COLUMNS: &str = "id, trigger, started_ms, finished_ms, result, reason";

/// A run row as the history shows it, without its modules and events.
fn history_run(row: &rusqlite::Row<'_>) -> rusqlite::Result<HistoryRun> {
    Ok(HistoryRun {
        id: row.get(0)?,
        trigger: row.get(1)?,
        started_ms: row.get(2)?,
        finished_ms: row.get(3)?,
        result: row.get(4)?,
        reason: row.get(5)?,
        modules: Vec::new(),
        events: Vec::new(),
    })
}

/// The columns of `module_runs r` that [`history_module`] reads.
const MODULE_COLUMNS: &str = "r.module, r.outcome, coalesce(r.error, r.reason), r.duration_ms,
    r.version_before, r.version_after, r.log_path";

/// A module outcome whose [`MODULE_COLUMNS`] start at column `at`.
fn history_module(row: &rusqlite::Row<'_>, at: usize) -> rusqlite::Result<HistoryModule> {
    Ok(HistoryModule {
        module: row.get(at)?,
        outcome: row.get(at + 1)?,
        detail: row.get(at + 2)?,
        duration_ms: row.get(at + 3)?,
        version_before: row.get(at + 4)?,
        version_after: row.get(at + 5)?,
        log_path: row.get(at + 6)?,
    })
}

fn module_clause(filter: &HistoryFilter, since: i64) -> (String, Vec<rusqlite::types::Value>) {
    let mut clause = String::from("runs.started_ms >= ?1");
    let mut args = vec![Value::Integer(since)];
    if !filter.modules.is_empty() {
        let start = args.len() + 1;
        let marks: Vec<String> = (start..start + filter.modules.len())
            .map(|i| format!("?{i}"))
            .collect();
        let _ = write!(clause, " AND r.module IN ({})", marks.join(", "));
        args.extend(filter.modules.iter().cloned().map(Value::Text));
    }
    if !filter.outcomes.is_empty() {
        let start = args.len() + 1;
        let marks: Vec<String> = (start..start + filter.outcomes.len())
            .map(|i| format!("?{i}"))
            .collect();
        let _ = write!(clause, " AND r.outcome IN ({})", marks.join(", "));
        args.extend(
            filter
                .outcomes
                .iter()
                .map(|o| Value::Text(o.as_str().to_owned())),
        );
    }
    (clause, args)
}

/// Figures about the ledger as a whole, for `upkeep status`.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct RunMetrics {
    /// When the first run started (ms since the epoch): how long this state has been kept.
    pub first_run_ms: Option<i64>,
    /// The newest run.
    pub last_run: Option<LastRun>,
    /// Per window (`1d`, `7d`, `30d`): finished runs and how many succeeded.
    pub windows: Vec<RunWindow>,
}

/// The newest run.
#[derive(Debug, Clone, serde::Serialize)]
pub struct LastRun {
    /// Its id.
    pub id: i64,
    /// When it started (ms since the epoch).
    pub started_ms: i64,
    /// How it ended (`running` while it runs).
    pub result: RunStatus,
}

/// Runs within a window of time.
#[derive(Debug, Clone, serde::Serialize)]
pub struct RunWindow {
    /// `1d`, `7d` or `30d`.
    pub window: &'static str,
    /// Finished runs started within it.
    pub runs: i64,
    /// Of those, the ones that succeeded.
    pub succeeded: i64,
}

impl Ledger {
    /// The manifest of the newest run that recorded an absolute path: what `status`,
    /// `history` and `plan` use when no manifest is given or found in the current
    /// directory. Runs before upkeep recorded absolute paths stored the path as given,
    /// relative to a directory nobody remembers, so they are passed over.
    ///
    /// # Errors
    /// [`StateError::Sqlite`] on a read failure.
    pub fn last_run_manifest(&self) -> Result<Option<std::path::PathBuf>, StateError> {
        let path: Option<String> = self
            .conn()
            .query_row(
                "SELECT manifest FROM runs WHERE manifest LIKE '/%' ORDER BY id DESC LIMIT 1",
                [],
                |r| r.get(0),
            )
            .optional()
            .map_err(sqlite("read the last run's manifest", &self.path))?;
        Ok(path.map(std::path::PathBuf::from))
    }

    /// Run counts and success over the last day, week and month, and the first and last run.
    ///
    /// # Errors
    /// [`StateError::Sqlite`] on a read failure.
    pub fn run_metrics(&self, now_ms: i64) -> Result<RunMetrics, StateError> {
        let err = || sqlite("read run metrics", &self.path);
        let first_run_ms: Option<i64> = self
            .conn()
            .query_row("SELECT min(started_ms) FROM runs", [], |r| r.get(0))
            .map_err(err())?;
        let last_run = self
            .conn()
            .query_row(
                "SELECT id, started_ms, result FROM runs ORDER BY id DESC LIMIT 1",
                [],
                |r| {
                    Ok(LastRun {
                        id: r.get(0)?,
                        started_ms: r.get(1)?,
                        result: r.get(2)?,
                    })
                },
            )
            .optional()
            .map_err(err())?;
        let mut windows = Vec::new();
        for (window, days) in [("1d", 1), ("7d", 7), ("30d", 30)] {
            let since = now_ms - days * 86_400_000;
            let (runs, succeeded): (i64, i64) = self
                .conn()
                .query_row(
                    "SELECT count(*), coalesce(sum(result = ?2), 0) FROM runs
                     WHERE started_ms >= ?1 AND result <> ?3",
                    rusqlite::params![since, RunStatus::Succeeded, RunStatus::Running],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .map_err(err())?;
            windows.push(RunWindow {
                window,
                runs,
                succeeded,
            });
        }
        Ok(RunMetrics {
            first_run_ms,
            last_run,
            windows,
        })
    }
}
