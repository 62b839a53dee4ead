//! The ledger's API tokens and access audit trail: rows only. What a role may do, how a
//! secret is made and hashed, and when a token counts as expired are decided in
//! `ops::access` and `ops::audit`, which hand this module finished rows.

use rusqlite::{OptionalExtension as _, Row, params};

use super::{Ledger, StateError, sqlite};

/// A token as the ledger keeps it: never its secret, only the secret's SHA-256.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct TokenRow {
    /// Row id.
    pub id: i64,
    /// Its name, unique among the tokens not revoked.
    pub name: String,
    /// Its role's spelling (`viewer`, `operator`, `owner`).
    pub role: String,
    /// Lowercase hex SHA-256 of the secret.
    #[serde(skip)]
    pub hash: String,
    /// When it was created (ms since the epoch).
    pub created_ms: i64,
    /// Who created it, e.g. `local:alice`.
    pub created_by: String,
    /// When it stops working, if ever.
    pub expires_ms: Option<i64>,
    /// When it last authenticated a request (to within the touch interval).
    pub last_used_ms: Option<i64>,
    /// When it was revoked.
    pub revoked_ms: Option<i64>,
}

/// A token to insert.
#[derive(Debug, Clone)]
pub struct NewToken<'a> {
    /// Its name.
    pub name: &'a str,
    /// Its role's spelling.
    pub role: &'a str,
    /// Lowercase hex SHA-256 of the secret.
    pub hash: &'a str,
    /// Now.
    pub created_ms: i64,
    /// Who creates it.
    pub created_by: &'a str,
    /// When it stops working, if ever.
    pub expires_ms: Option<i64>,
}

/// One row of the access audit trail.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct AccessRow {
    /// Row id (increasing).
    pub id: i64,
    /// When (ms since the epoch).
    pub at_ms: i64,
    /// `token`, `discord` or `local`.
    pub principal_kind: String,
    /// The token's name, the Discord user id or the Unix user.
    pub principal: String,
    /// The role it acted with; `None` when it could not be authenticated.
    pub role: Option<String>,
    /// The client's address, for a request over the network.
    pub remote: Option<String>,
    /// The request's id, to find it in the server's log.
    pub request_id: Option<String>,
    /// The digest of the plan a run or install was confirmed against.
    pub plan_digest: Option<String>,
    /// What was asked, e.g. `token-create`.
    pub action: String,
    /// What it was asked of: a module, a backup, a token's name.
    pub target: Option<String>,
    /// `succeeded`, `accepted`, `denied` or `failed`.
    pub outcome: String,
    /// Why, for an outcome that is not a success.
    pub detail: Option<String>,
}

const TOKEN_COLUMNS: &str =
    "id, name, role, hash, created_ms, created_by, expires_ms, last_used_ms, revoked_ms";

fn token_row(row: &Row<'_>) -> rusqlite::Result<TokenRow> {
    Ok(TokenRow {
        id: row.get(0)?,
        name: row.get(1)?,
        role: row.get(2)?,
        hash: row.get(3)?,
        created_ms: row.get(4)?,
        created_by: row.get(5)?,
        expires_ms: row.get(6)?,
        last_used_ms: row.get(7)?,
        revoked_ms: row.get(8)?,
    })
}

impl Ledger {
    /// Insert a token; `None` when a token that is not revoked already has its name. A
    /// token of that name that expired before `retire_expired_before` is revoked first, in
    /// the same transaction, so an expired name can be used again without a revoke.
    ///
    /// # Errors
    /// [`StateError::Sqlite`] on a write failure.
    pub fn insert_token(
        &mut self,
        token: &NewToken<'_>,
        retire_expired_before: i64,
    ) -> Result<Option<TokenRow>, StateError> {
        let (conn, path) = self.conn_mut();
        let err = || sqlite("record a token", path);
        // Immediate, so that two creates of one name cannot both pass the check below: the
        // second waits for the first's commit and then finds the name taken.
        let tx = conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(err())?;
        tx.execute(
            "UPDATE tokens SET revoked_ms = ?2 WHERE name = ?1 AND revoked_ms IS NULL
             AND expires_ms IS NOT NULL AND expires_ms <= ?2",
            params![token.name, retire_expired_before],
        )
        .map_err(err())?;
        let name_in_use: bool = tx
            .query_row(
                "SELECT EXISTS (SELECT 1 FROM tokens WHERE name = ?1 AND revoked_ms IS NULL)",
                [token.name],
                |r| r.get(0),
            )
            .map_err(err())?;
        if name_in_use {
            return Ok(None);
        }
        tx.execute(
            "INSERT INTO tokens (name, role, hash, created_ms, created_by, expires_ms)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![
                token.name,
                token.role,
                token.hash,
                token.created_ms,
                token.created_by,
                token.expires_ms
            ],
        )
        .map_err(err())?;
        let id = tx.last_insert_rowid();
        let row = tx
            .query_row(
                &format!("SELECT {TOKEN_COLUMNS} FROM tokens WHERE id = ?1"),
                [id],
                token_row,
            )
            .map_err(err())?;
        tx.commit().map_err(err())?;
        Ok(Some(row))
    }

    /// Tokens by name (then newest first); revoked ones only with `revoked`.
    ///
    /// # Errors
    /// [`StateError::Sqlite`] on a read failure.
    pub fn tokens(&self, revoked: bool) -> Result<Vec<TokenRow>, StateError> {
        let err = || sqlite("read the tokens", self.path());
        let filter = if revoked {
            ""
        } else {
            "WHERE revoked_ms IS NULL"
        };
        let mut stmt = self
            .conn()
            .prepare(&format!(
                "SELECT {TOKEN_COLUMNS} FROM tokens {filter} ORDER BY name, id DESC"
            ))
            .map_err(err())?;
        stmt.query_map([], token_row)
            .and_then(Iterator::collect)
            .map_err(err())
    }

    /// The token whose secret hashes to `hash`, revoked or not.
    ///
    /// # Errors
    /// [`StateError::Sqlite`] on a read failure.
    pub fn token_by_hash(&self, hash: &str) -> Result<Option<TokenRow>, StateError> {
        let err = || sqlite("look up a token", self.path());
        self.conn()
            .prepare_cached(&format!(
                "SELECT {TOKEN_COLUMNS} FROM tokens WHERE hash = ?1"
            ))
            .and_then(|mut stmt| stmt.query_row([hash], token_row).optional())
            .map_err(err())
    }

    /// Revoke the token named `name` that is not revoked yet; `None` when there is none.
    ///
    /// # Errors
    /// [`StateError::Sqlite`] on a write failure.
    pub fn revoke_token(
        &mut self,
        name: &str,
        now_ms: i64,
    ) -> Result<Option<TokenRow>, StateError> {
        let err = || sqlite("revoke a token", self.path());
        self.conn()
            .query_row(
                &format!(
                    "UPDATE tokens SET revoked_ms = ?2 WHERE name = ?1 AND revoked_ms IS NULL
                     RETURNING {TOKEN_COLUMNS}"
                ),
                params![name, now_ms],
                token_row,
            )
            .optional()
            .map_err(err())
    }

    /// Set a token's last use to `now_ms` unless it was set after `not_after_ms`; whether
    /// it wrote.
    ///
    /// # Errors
    /// [`StateError::Sqlite`] on a write failure.
    pub fn touch_token(
        &mut self,
        id: i64,
        now_ms: i64,
        not_after_ms: i64,
    ) -> Result<bool, StateError> {
        let err = || sqlite("record a token's use", self.path());
        self.conn()
            .execute(
                "UPDATE tokens SET last_used_ms = ?2
                 WHERE id = ?1 AND (last_used_ms IS NULL OR last_used_ms <= ?3)",
                params![id, now_ms, not_after_ms],
            )
            .map(|changed| changed > 0)
            .map_err(err())
    }

    /// Append a row to the access audit trail (its `id` is ignored); the new row's id.
    ///
    /// # Errors
    /// [`StateError::Sqlite`] on a write failure.
    pub fn record_access(&mut self, row: &AccessRow) -> Result<i64, StateError> {
        let err = || sqlite("record an audit entry", self.path());
        self.conn()
            .prepare_cached(
                "INSERT INTO access_audit (at_ms, principal_kind, principal, role, remote,
                 request_id, plan_digest, action, target, outcome, detail)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
            )
            .and_then(|mut stmt| {
                stmt.execute(params![
                    row.at_ms,
                    row.principal_kind,
                    row.principal,
                    row.role,
                    row.remote,
                    row.request_id,
                    row.plan_digest,
                    row.action,
                    row.target,
                    row.outcome,
                    row.detail
                ])
            })
            .map_err(err())?;
        Ok(self.conn().last_insert_rowid())
    }

    /// Access audit rows recorded at or after `since_ms`, newest first.
    ///
    /// # Errors
    /// [`StateError::Sqlite`] on a read failure.
    pub fn access_audit(&self, since_ms: i64) -> Result<Vec<AccessRow>, StateError> {
        let err = || sqlite("read the access audit trail", self.path());
        let mut stmt = self
            .conn()
            .prepare(
                "SELECT id, at_ms, principal_kind, principal, role, remote, request_id,
                 plan_digest, action, target, outcome, detail
                 FROM access_audit WHERE at_ms >= ?1 ORDER BY id DESC",
            )
            .map_err(err())?;
        stmt.query_map([since_ms], |row| {
            Ok(AccessRow {
                id: row.get(0)?,
                at_ms: row.get(1)?,
                principal_kind: row.get(2)?,
                principal: row.get(3)?,
                role: row.get(4)?,
                remote: row.get(5)?,
                request_id: row.get(6)?,
                plan_digest: row.get(7)?,
                action: row.get(8)?,
                target: row.get(9)?,
                outcome: row.get(10)?,
                detail: row.get(11)?,
            })
        })
        .and_then(Iterator::collect)
        .map_err(err())
    }
}
