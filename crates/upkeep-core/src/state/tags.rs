//! The ledger's git tags: the tag upkeep created (or first used) for each version of a
//! module, with the commit it pointed at, so a rollback can restore that code.

use rusqlite::params;

use super::{Ledger, StateError, sqlite};

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

impl Ledger {
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
    if let Some(run_id) = run_id {
        super::run_events::insert(
            conn,
            run_id,
            "git-tag",
            Some(&tag.module),
            &serde_json::json!({ "tag": tag.tag, "version": tag.version }),
        )?;
    }
    Ok(())
}
