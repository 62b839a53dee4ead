//! The ledger's update checks: the latest result per module (what its source offered, or
//! why asking failed), and the upstream version each module last moved to.

use rusqlite::params;

use super::outbox::NewOutboxRow;
use super::{Ledger, StateError, sqlite};

/// The latest check of one module's source.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct CheckRow {
    /// The module.
    pub module: String,
    /// When the check ended (ms since the epoch).
    pub checked_ms: i64,
    /// The source's kind (`git`, `http`, ...).
    pub source: String,
    /// The update type (`app`, `packages`, ...).
    pub update_type: String,
    /// Whether the source answered.
    pub ok: bool,
    /// Why it did not.
    pub error: Option<String>,
    /// What it offered (empty when it failed), as the JSON of `updates::Finding`: the
    /// ledger keeps it as text, and `updates` reads and writes its shape.
    pub finding_json: String,
}

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<CheckRow> {
    Ok(CheckRow {
        module: r.get(0)?,
        checked_ms: r.get(1)?,
        source: r.get(2)?,
        update_type: r.get(3)?,
        ok: r.get(4)?,
        error: r.get(5)?,
        finding_json: r.get(6)?,
    })
}

const COLUMNS: &str = "module, checked_ms, source, update_type, ok, error, finding";

impl Ledger {
    /// Record checks, replacing each module's previous one, and enqueue the notifications they give rise to ("update available") in the
    /// same transaction.
    ///
    /// # Errors
    /// [`StateError::Sqlite`] on a write failure.
    pub fn record_checks(
        &mut self,
        checks: &[CheckRow],
        notices: &[NewOutboxRow],
    ) -> Result<(), StateError> {
        let (conn, path) = self.conn_mut();
        let err = || sqlite("record update checks", path);
        let tx = conn.transaction().map_err(err())?;
        for check in checks {
            tx.execute(
                "INSERT INTO update_checks (module, checked_ms, source, update_type, ok, error, finding)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
                 ON CONFLICT(module) DO UPDATE SET checked_ms = ?2, source = ?3,
                     update_type = ?4, ok = ?5, error = ?6, finding = ?7",
                params![
                    check.module,
                    check.checked_ms,
                    check.source,
                    check.update_type,
                    check.ok,
                    check.error,
                    check.finding_json
                ],
            )
            .map_err(err())?;
        }
        super::outbox::enqueue(&tx, notices).map_err(err())?;
        tx.commit().map_err(err())
    }

    /// Every module's latest check, by module.
    ///
    /// # Errors
    /// [`StateError::Sqlite`] on a read failure.
    pub fn checks(&self) -> Result<Vec<CheckRow>, StateError> {
        let err = || sqlite("read update checks", self.path());
        let sql = format!("SELECT {COLUMNS} FROM update_checks ORDER BY module");
        let mut stmt = self.conn().prepare(&sql).map_err(err())?;
        let rows = stmt.query_map([], row).map_err(err())?;
        rows.collect::<Result<_, _>>().map_err(err())
    }

    /// When the newest check ended, if any was made.
    ///
    /// # Errors
    /// [`StateError::Sqlite`] on a read failure.
    pub fn last_check_ms(&self) -> Result<Option<i64>, StateError> {
        let err = || sqlite("read update checks", self.path());
        self.conn()
            .query_row("SELECT MAX(checked_ms) FROM update_checks", [], |r| {
                r.get(0)
            })
            .map_err(err())
    }
}
