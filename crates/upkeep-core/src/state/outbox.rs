//! The notification outbox: one row per (event, channel) that is to receive it.
//!
//! Rows are written by [`enqueue`] inside the transaction that records the state change an
//! event describes (a run's start, a module's outcome, a rollback, a run's end, a skipped
//! schedule), so the ledger never holds a change without its notification, nor a
//! notification without its change. Delivery happens afterwards, outside any run
//! transaction (`notify::flush`): a delivery first *claims* a due row (one
//! attempt more, the next attempt pushed past the attempt's own time limit), so a
//! delivery cut short by the process exiting leaves the row pending with its backoff, and
//! two deliverers never send the same row at once. Rows keep only channel names, never
//! URLs or secrets: those stay in the settings file.

use rusqlite::{OptionalExtension, params};

use super::{Ledger, StateError, now_ms, sqlite};

/// A notification to enqueue: one event for one channel. The domain module whose change
/// it tells of builds it (`notify::Routing::rows` decides which channels get which
/// event); the ledger only stores it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewOutboxRow {
    /// The channel's name in the settings.
    pub channel: String,
    /// The event's id (what receivers deduplicate on).
    pub event_id: String,
    /// The event's kind, e.g. `module_failed`.
    pub kind: String,
    /// The event's JSON, as it is sent.
    pub payload_json: String,
}

/// A row of the outbox.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct OutboxRow {
    /// Row id.
    pub id: i64,
    /// The event's id (what receivers deduplicate on).
    pub event_id: String,
    /// The channel's name in the settings.
    pub channel: String,
    /// The event's kind, e.g. `module_failed`.
    pub kind: String,
    /// The event's JSON.
    #[serde(skip)]
    pub event: String,
    /// When it was enqueued (ms since the epoch).
    pub created_ms: i64,
    /// Attempts made so far.
    pub attempts: u32,
    /// When it may be tried (again).
    pub next_attempt_ms: i64,
    /// When it was delivered.
    pub delivered_ms: Option<i64>,
    /// When delivery was given up.
    pub failed_ms: Option<i64>,
    /// Why the last attempt failed (URLs redacted).
    pub last_error: Option<String>,
}

impl OutboxRow {
    /// `pending`, `delivered` or `failed`.
    pub fn state(&self) -> &'static str {
        match (self.delivered_ms, self.failed_ms) {
            (Some(_), _) => "delivered",
            (None, Some(_)) => "failed",
            (None, None) => "pending",
        }
    }

    /// The event, parsed (as `notify::Event`); `None` when its JSON cannot be read
    /// (written by a newer upkeep).
    pub fn parsed<T: serde::de::DeserializeOwned>(&self) -> Option<T> {
        serde_json::from_str(&self.event).ok()
    }
}

const COLUMNS: &str = "id, event_id, channel, kind, event, created_ms, attempts, next_attempt_ms, delivered_ms, failed_ms, last_error";

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<OutboxRow> {
    Ok(OutboxRow {
        id: r.get(0)?,
        event_id: r.get(1)?,
        channel: r.get(2)?,
        kind: r.get(3)?,
        event: r.get(4)?,
        created_ms: r.get(5)?,
        attempts: r.get(6)?,
        next_attempt_ms: r.get(7)?,
        delivered_ms: r.get(8)?,
        failed_ms: r.get(9)?,
        last_error: r.get(10)?,
    })
}

/// Enqueue `rows` in `tx`: the transaction that records the state change they describe.
/// A row already enqueued (same event id and channel) is not enqueued twice. Returns the
/// rows added.
pub(crate) fn enqueue(
    tx: &rusqlite::Transaction<'_>,
    rows: &[NewOutboxRow],
) -> rusqlite::Result<usize> {
    if rows.is_empty() {
        return Ok(0);
    }
    let now = now_ms();
    let mut insert = tx.prepare_cached(
        "INSERT INTO outbox (event_id, channel, kind, event, created_ms, next_attempt_ms)
         VALUES (?1, ?2, ?3, ?4, ?5, ?5) ON CONFLICT(event_id, channel) DO NOTHING",
    )?;
    let mut added = 0;
    for row in rows {
        added += insert.execute(params![
            row.event_id,
            row.channel,
            row.kind,
            row.payload_json,
            now
        ])?;
    }
    Ok(added)
}

impl Ledger {
    /// Enqueue `rows` in a transaction of their own, for callers whose state change is
    /// recorded elsewhere or not at all (an update found by a check). Returns the rows
    /// added.
    ///
    /// # Errors
    /// [`StateError::Sqlite`] on a write failure.
    pub fn enqueue_rows(&mut self, rows: &[NewOutboxRow]) -> Result<usize, StateError> {
        if rows.is_empty() {
            return Ok(0);
        }
        let (conn, path) = self.conn_mut();
        let err = || sqlite("enqueue notifications", path);
        let tx = conn.transaction().map_err(err())?;
        let added = enqueue(&tx, rows).map_err(err())?;
        tx.commit().map_err(err())?;
        Ok(added)
    }

    /// Pending rows, oldest first: those due at `now_ms`, or every pending one with `all`.
    ///
    /// # Errors
    /// [`StateError::Sqlite`] on a read failure.
    pub fn outbox_due(&self, now_ms: i64, all: bool) -> Result<Vec<OutboxRow>, StateError> {
        let err = || sqlite("read the notification outbox", self.path());
        let sql = format!(
            "SELECT {COLUMNS} FROM outbox WHERE delivered_ms IS NULL AND failed_ms IS NULL
             AND (?2 OR next_attempt_ms <= ?1) ORDER BY id"
        );
        let mut stmt = self.conn().prepare(&sql).map_err(err())?;
        stmt.query_map(params![now_ms, all], row)
            .and_then(Iterator::collect)
            .map_err(err())
    }

    /// Rows not delivered (pending and given up), oldest first.
    ///
    /// # Errors
    /// [`StateError::Sqlite`] on a read failure.
    pub fn outbox_undelivered(&self) -> Result<Vec<OutboxRow>, StateError> {
        let err = || sqlite("read the notification outbox", self.path());
        let sql = format!("SELECT {COLUMNS} FROM outbox WHERE delivered_ms IS NULL ORDER BY id");
        let mut stmt = self.conn().prepare(&sql).map_err(err())?;
        stmt.query_map([], row)
            .and_then(Iterator::collect)
            .map_err(err())
    }

    /// When the earliest pending row is due.
    ///
    /// # Errors
    /// [`StateError::Sqlite`] on a read failure.
    pub fn outbox_next_due(&self) -> Result<Option<i64>, StateError> {
        self.conn()
            .query_row(
                "SELECT min(next_attempt_ms) FROM outbox WHERE delivered_ms IS NULL AND failed_ms IS NULL",
                [],
                |r| r.get(0),
            )
            .optional()
            .map(Option::flatten)
            .map_err(sqlite("read the notification outbox", self.path()))
    }

    /// Claim row `id` for an attempt: count the attempt and push its next one to
    /// `lease_until_ms`, so that if this attempt never reports back the row is tried again
    /// then. `false` when the row is no longer pending, or (without `any_time`) not due at
    /// `now_ms`: someone else claimed it.
    ///
    /// # Errors
    /// [`StateError::Sqlite`] on a write failure.
    pub fn outbox_claim(
        &mut self,
        id: i64,
        now_ms: i64,
        lease_until_ms: i64,
        any_time: bool,
    ) -> Result<bool, StateError> {
        let changed = self
            .conn()
            .execute(
                "UPDATE outbox SET attempts = attempts + 1, next_attempt_ms = ?3
                 WHERE id = ?1 AND delivered_ms IS NULL AND failed_ms IS NULL
                 AND (?4 OR next_attempt_ms <= ?2)",
                params![id, now_ms, lease_until_ms, any_time],
            )
            .map_err(sqlite("claim a notification", self.path()))?;
        Ok(changed == 1)
    }

    /// Record that row `id` was delivered.
    ///
    /// # Errors
    /// [`StateError::Sqlite`] on a write failure.
    pub fn outbox_delivered(&mut self, id: i64) -> Result<(), StateError> {
        self.conn()
            .execute(
                "UPDATE outbox SET delivered_ms = ?2, last_error = NULL WHERE id = ?1",
                params![id, now_ms()],
            )
            .map_err(sqlite("record a delivered notification", self.path()))?;
        Ok(())
    }

    /// Record a failed attempt of row `id`: try again at `retry_at_ms`, or give up (`None`).
    /// `error` must already be redacted.
    ///
    /// # Errors
    /// [`StateError::Sqlite`] on a write failure.
    pub fn outbox_failed(
        &mut self,
        id: i64,
        error: &str,
        retry_at_ms: Option<i64>,
    ) -> Result<(), StateError> {
        let conn = self.conn();
        match retry_at_ms {
            Some(at) => conn.execute(
                "UPDATE outbox SET last_error = ?2, next_attempt_ms = ?3 WHERE id = ?1",
                params![id, error, at],
            ),
            None => conn.execute(
                "UPDATE outbox SET last_error = ?2, failed_ms = ?3 WHERE id = ?1",
                params![id, error, now_ms()],
            ),
        }
        .map_err(sqlite("record a failed notification", self.path()))?;
        Ok(())
    }
}
