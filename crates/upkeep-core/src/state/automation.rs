//! Read-side facts across runs, the outbox and update checks that say whether a host's
//! automation works (for `status`): each schedule's newest finished run, each channel's
//! newest delivery attempt, and the newest successful update check. Each is one query
//! whatever the size of the manifest; what the facts mean is decided by `ops::status`.

use super::{Ledger, RunStatus, StateError, sqlite};

/// The newest finished run of one schedule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScheduledRun {
    /// The schedule's name (the run's trigger is `schedule:NAME`).
    pub schedule: String,
    /// The run's id.
    pub run_id: i64,
    /// When it started (ms since the epoch).
    pub started_ms: i64,
    /// How it ended.
    pub result: RunStatus,
    /// Why it did not start, for a run that did not.
    pub reason: Option<String>,
}

/// The newest delivery attempt of one channel that has an outcome: delivered, given up,
/// or failed and waiting for its retry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChannelAttempt {
    /// The channel's name in the settings.
    pub channel: String,
    /// The kind of the event it carried.
    pub kind: String,
    /// When that event was enqueued (ms since the epoch).
    pub created_ms: i64,
    /// Attempts made at it.
    pub attempts: u32,
    /// Whether it was delivered.
    pub delivered: bool,
    /// When delivery was given up, if it was.
    pub failed_ms: Option<i64>,
    /// Why its last attempt failed (redacted when it was recorded).
    pub last_error: Option<String>,
    /// Rows of this channel not delivered whose last attempt failed, newer than its
    /// newest delivered row.
    pub failures_since_delivery: u32,
}

impl Ledger {
    /// Each enabled schedule's newest run that has ended (a run still going is not
    /// counted), by schedule name; runs of other schedules may come too (removed
    /// schedules keep their runs), so the caller picks the ones it asks about.
    ///
    /// # Errors
    /// [`StateError::Sqlite`] on a read failure.
    pub fn newest_scheduled_runs(&self) -> Result<Vec<ScheduledRun>, StateError> {
        let err = || sqlite("read the newest scheduled runs", self.path());
        let mut stmt = self
            .conn()
            .prepare(
                // Only runs from the oldest run an enabled schedule last recorded on: a
                // schedule's newest run is never older than its `last_run_id` (an
                // interrupted run is newer, it just was not recorded there), and `id` is
                // the rowid, so this reads a range instead of the whole history.
                "SELECT substr(trigger, 10), id, started_ms, result, reason FROM runs
                 WHERE id IN (SELECT max(id) FROM runs
                              WHERE id >= (SELECT coalesce(min(coalesce(last_run_id, 0)), 0)
                                           FROM schedules WHERE enabled = 1)
                                AND trigger LIKE 'schedule:%' AND result != ?1
                              GROUP BY trigger)
                 ORDER BY trigger",
            )
            .map_err(err())?;
        let rows = stmt
            .query_map([RunStatus::Running], |r| {
                Ok(ScheduledRun {
                    schedule: r.get(0)?,
                    run_id: r.get(1)?,
                    started_ms: r.get(2)?,
                    result: r.get(3)?,
                    reason: r.get(4)?,
                })
            })
            .map_err(err())?;
        rows.collect::<Result<_, _>>().map_err(err())
    }

    /// Each channel's newest outbox row whose delivery has an outcome (delivered, given
    /// up, or an attempt that failed and awaits its retry); a row claimed for an attempt
    /// that has not reported back is not one. By channel name.
    ///
    /// # Errors
    /// [`StateError::Sqlite`] on a read failure.
    pub fn newest_channel_attempts(&self) -> Result<Vec<ChannelAttempt>, StateError> {
        let err = || sqlite("read the notification outbox", self.path());
        let mut stmt = self
            .conn()
            .prepare(
                "WITH last AS (
                     SELECT channel, max(id) AS id FROM outbox
                     WHERE delivered_ms IS NOT NULL OR failed_ms IS NOT NULL
                        OR last_error IS NOT NULL
                     GROUP BY channel),
                 delivered AS (
                     SELECT channel, max(id) AS id FROM outbox
                     WHERE delivered_ms IS NOT NULL GROUP BY channel)
                 SELECT o.channel, o.kind, o.created_ms, o.attempts, o.delivered_ms IS NOT NULL,
                        o.failed_ms, o.last_error,
                        (SELECT count(*) FROM outbox f
                          WHERE f.channel = o.channel AND f.delivered_ms IS NULL
                            AND (f.failed_ms IS NOT NULL OR f.last_error IS NOT NULL)
                            AND f.id > coalesce((SELECT id FROM delivered d
                                                  WHERE d.channel = o.channel), 0))
                 FROM last JOIN outbox o ON o.id = last.id
                 ORDER BY o.channel",
            )
            .map_err(err())?;
        let rows = stmt
            .query_map([], |r| {
                Ok(ChannelAttempt {
                    channel: r.get(0)?,
                    kind: r.get(1)?,
                    created_ms: r.get(2)?,
                    attempts: r.get(3)?,
                    delivered: r.get(4)?,
                    failed_ms: r.get(5)?,
                    last_error: r.get(6)?,
                    failures_since_delivery: r.get(7)?,
                })
            })
            .map_err(err())?;
        rows.collect::<Result<_, _>>().map_err(err())
    }

    /// When the newest update check that got an answer ended, if any did. A module's
    /// failed check replaces its row, so this is the newest answer among the modules
    /// whose latest check was answered.
    ///
    /// # Errors
    /// [`StateError::Sqlite`] on a read failure.
    pub fn last_answered_check_ms(&self) -> Result<Option<i64>, StateError> {
        self.conn()
            .query_row(
                "SELECT max(checked_ms) FROM update_checks WHERE ok = 1",
                [],
                |r| r.get(0),
            )
            .map_err(sqlite("read update checks", self.path()))
    }
}
