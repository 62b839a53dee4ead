//! The ledger's deployment records: every file upkeep deployed (so a later deployment can
//! tell a file someone else changed from one upkeep wrote), and the scripts it ran.

use std::collections::{HashMap, HashSet};

use rusqlite::params;

pub use super::kinds::ScriptResult;
use super::{Ledger, StateError, now_ms, sqlite};

/// A file upkeep deployed.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct DeployedFile {
    /// Where it is.
    pub destination: String,
    /// Where it came from.
    pub source: String,
    /// SHA-256 of what upkeep wrote.
    pub sha256: String,
    /// Its size.
    pub size: u64,
    /// `create`, `overwrite`, ...
    pub action: String,
    /// The `files` module that deployed it, if any.
    pub module: Option<String>,
    /// The run, if any.
    pub run_id: Option<i64>,
    /// When (ms since the epoch).
    pub deployed_ms: i64,
}

fn to_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

impl Ledger {
    /// Record deployed files, each replacing the record of its destination.
    ///
    /// # Errors
    /// [`StateError::Sqlite`] on a write failure.
    pub fn record_deployed(&mut self, files: &[DeployedFile]) -> Result<(), StateError> {
        let (conn, path) = self.conn_mut();
        let err = || sqlite("record deployed files", path);
        let tx = conn.transaction().map_err(err())?;
        {
            let mut stmt = tx
                .prepare(
                    "INSERT INTO deployed_files VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
                     ON CONFLICT(destination) DO UPDATE SET source = ?2, sha256 = ?3, size = ?4,
                       action = ?5, module = ?6, run_id = ?7, deployed_ms = ?8",
                )
                .map_err(err())?;
            for f in files {
                stmt.execute(params![
                    f.destination,
                    f.source,
                    f.sha256,
                    to_i64(f.size),
                    f.action,
                    f.module,
                    f.run_id,
                    f.deployed_ms
                ])
                .map_err(err())?;
            }
        }
        tx.commit().map_err(err())
    }

    /// Every deployed file, by destination.
    ///
    /// # Errors
    /// [`StateError::Sqlite`] on a read failure.
    pub fn deployed_files(&self) -> Result<Vec<DeployedFile>, StateError> {
        let err = || sqlite("read deployed files", self.path());
        let mut stmt = self
            .conn()
            .prepare("SELECT destination, source, sha256, size, action, module, run_id, deployed_ms FROM deployed_files ORDER BY destination")
            .map_err(err())?;
        let rows = stmt
            .query_map([], |r| {
                Ok(DeployedFile {
                    destination: r.get(0)?,
                    source: r.get(1)?,
                    sha256: r.get(2)?,
                    size: r.get::<_, i64>(3)?.try_into().unwrap_or(0),
                    action: r.get(4)?,
                    module: r.get(5)?,
                    run_id: r.get(6)?,
                    deployed_ms: r.get(7)?,
                })
            })
            .map_err(err())?;
        rows.collect::<Result<_, _>>().map_err(err())
    }

    /// What upkeep last wrote at each destination: destination → SHA-256.
    ///
    /// # Errors
    /// [`StateError::Sqlite`] on a read failure.
    pub fn deployed_checksums(&self) -> Result<HashMap<String, String>, StateError> {
        Ok(self
            .deployed_files()?
            .into_iter()
            .map(|f| (f.destination, f.sha256))
            .collect())
    }

    /// Record that a script starts; returns the record's id. Committed before it runs, so a
    /// script whose upkeep died is found (`running`) and never silently counted as done.
    ///
    /// # Errors
    /// [`StateError::Sqlite`] on a write failure.
    pub fn script_started(
        &mut self,
        name: &str,
        sha256: &str,
        kind: &str,
    ) -> Result<i64, StateError> {
        let err = || sqlite("record a script start", self.path());
        self.conn()
            .execute(
                "INSERT INTO scripts_run (name, sha256, kind, started_ms, result) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![name, sha256, kind, now_ms(), ScriptResult::Running],
            )
            .map_err(err())?;
        Ok(self.conn().last_insert_rowid())
    }

    /// Record how a script ended.
    ///
    /// # Errors
    /// [`StateError::Sqlite`] on a write failure.
    pub fn script_finished(
        &mut self,
        id: i64,
        succeeded: bool,
        exit_code: Option<i32>,
        detail: Option<&str>,
    ) -> Result<(), StateError> {
        let err = || sqlite("record a script end", self.path());
        let result = if succeeded {
            ScriptResult::Succeeded
        } else {
            ScriptResult::Failed
        };
        self.conn()
            .execute(
                "UPDATE scripts_run SET result = ?2, exit_code = ?3, detail = ?4, finished_ms = ?5 WHERE id = ?1",
                params![id, result, exit_code, detail, now_ms()],
            )
            .map_err(err())?;
        Ok(())
    }

    /// One-time scripts that ran to success, as (name, SHA-256): never run again.
    ///
    /// # Errors
    /// [`StateError::Sqlite`] on a read failure.
    pub fn scripts_done(&self) -> Result<HashSet<(String, String)>, StateError> {
        let err = || sqlite("read script runs", self.path());
        let mut stmt = self
            .conn()
            .prepare(
                "SELECT DISTINCT name, sha256 FROM scripts_run WHERE kind = 'once' AND result = ?1",
            )
            .map_err(err())?;
        let rows = stmt
            .query_map([ScriptResult::Succeeded], |r| Ok((r.get(0)?, r.get(1)?)))
            .map_err(err())?;
        rows.collect::<Result<_, _>>().map_err(err())
    }

    /// Mark scripts whose upkeep died while they ran as interrupted (a one-time script so
    /// marked is due again).
    ///
    /// # Errors
    /// [`StateError::Sqlite`] on a write failure.
    pub fn recover_scripts(&mut self) -> Result<usize, StateError> {
        let err = || sqlite("recover script runs", self.path());
        self.conn()
            .execute(
                "UPDATE scripts_run SET result = ?2, finished_ms = ?1 WHERE result = ?3",
                params![now_ms(), ScriptResult::Interrupted, ScriptResult::Running],
            )
            .map_err(err())
    }
}
