//! The ledger's health-check records: each check's module, phase, result and attempts.

use rusqlite::params;

pub use super::kinds::HealthPhase;
use super::{Ledger, StateError, now_ms, sqlite};

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

impl Ledger {
    /// Record a health check result.
    ///
    /// # Errors
    /// [`StateError::Sqlite`] on a write failure.
    pub fn record_health(&mut self, health: &HealthRecord) -> Result<(), StateError> {
        let err = || sqlite("record a health check", self.path());
        insert_health(self.conn(), health, now_ms()).map_err(err())
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
    if let Some(run_id) = health.run_id {
        super::run_events::insert(
            conn,
            run_id,
            "health",
            Some(&health.module),
            &serde_json::json!({
                "phase": health.phase,
                "passed": health.passed,
                "attempts": health.attempts,
                "detail": health.detail,
            }),
        )?;
    }
    Ok(())
}
