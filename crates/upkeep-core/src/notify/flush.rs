//! Delivering what the outbox holds: one attempt per due row per pass, the next one
//! scheduled with exponential backoff, a bounded number of attempts in all.

use std::collections::BTreeMap;
use std::time::Duration;

use super::{Channel, Delivery, DeliveryOptions, deliver};
use crate::state::outbox::OutboxRow;
use crate::state::{Ledger, StateError, now_ms};

/// How the outbox retries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Limit on one attempt. Default 5 s.
    pub timeout: Duration,
    /// Attempts in all before a row is given up (recorded as failed). Default 10.
    pub max_attempts: u32,
    /// Delay after the first failed attempt; each later one is four times the one before.
    /// Default 2 s.
    pub first_delay: Duration,
    /// The longest delay. Default 6 h.
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(5),
            max_attempts: 10,
            first_delay: Duration::from_secs(2),
            max_delay: Duration::from_secs(6 * 3600),
        }
    }
}

impl RetryPolicy {
    /// The delay after failed attempt `n` (1-based): `first_delay × 4^(n−1)`, at most
    /// `max_delay`. With the defaults: 2 s, 8 s, 32 s, 2 min, 8.5 min, 34 min, 2.3 h, then
    /// 6 h; ten attempts span about 15 hours.
    pub fn delay_after(&self, n: u32) -> Duration {
        let factor = 4u32.saturating_pow(n.saturating_sub(1));
        self.first_delay.saturating_mul(factor).min(self.max_delay)
    }
}

/// How one attempt at one row went.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "result", rename_all = "kebab-case")]
pub enum Sent {
    /// The channel took it.
    Delivered,
    /// It failed; the row is tried again at `retry_at_ms`.
    Retry {
        /// Why (URLs redacted).
        error: String,
        /// When the next attempt is due (ms since the epoch).
        retry_at_ms: i64,
    },
    /// It failed for good: too many attempts, an error retrying cannot fix, or a channel
    /// no longer in the settings.
    GaveUp {
        /// Why (URLs redacted).
        error: String,
    },
}

/// One attempt of a flush.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Attempted {
    /// The event's id.
    pub event_id: String,
    /// Its kind.
    pub kind: String,
    /// The channel's name.
    pub channel: String,
    /// Which attempt this was (1-based).
    pub attempt: u32,
    /// What came of it.
    #[serde(flatten)]
    pub sent: Sent,
}

/// What a flush did, in the order it did it.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct FlushReport {
    /// Every attempt made.
    pub attempts: Vec<Attempted>,
}

impl FlushReport {
    /// Attempts that delivered.
    pub fn delivered(&self) -> usize {
        self.count(|s| matches!(s, Sent::Delivered))
    }

    /// Attempts that failed and will be retried.
    pub fn retrying(&self) -> usize {
        self.count(|s| matches!(s, Sent::Retry { .. }))
    }

    /// Attempts after which the row was given up.
    pub fn gave_up(&self) -> usize {
        self.count(|s| matches!(s, Sent::GaveUp { .. }))
    }

    fn count(&self, f: impl Fn(&Sent) -> bool) -> usize {
        self.attempts.iter().filter(|a| f(&a.sent)).count()
    }
}

/// Deliver the pending rows of the outbox once each: those due now, or every pending row
/// with `all` (someone asked for it: `upkeep notify flush`). `go_on` is asked before each
/// attempt; returning `false` stops the flush there (the rows left stay as they were).
///
/// Each row is claimed before it is sent (see [`crate::state::outbox`]), so a row whose
/// attempt never reports back (the process exited) is retried after its backoff, and two
/// deliverers never send one row at once. Channels are looked up by name in `channels`;
/// a row for a channel that is no longer configured is given up.
///
/// # Errors
/// A ledger error; delivery failures are recorded in the rows, never returned.
pub fn flush(
    ledger: &mut Ledger,
    channels: &BTreeMap<String, Channel>,
    policy: &RetryPolicy,
    all: bool,
    go_on: &dyn Fn() -> bool,
) -> Result<FlushReport, StateError> {
    let mut report = FlushReport::default();
    for row in ledger.outbox_due(now_ms(), all)? {
        if !go_on() {
            break;
        }
        if let Some(attempted) = attempt(ledger, channels, policy, &row, all)? {
            report.attempts.push(attempted);
        }
    }
    Ok(report)
}

fn attempt(
    ledger: &mut Ledger,
    channels: &BTreeMap<String, Channel>,
    policy: &RetryPolicy,
    row: &OutboxRow,
    any_time: bool,
) -> Result<Option<Attempted>, StateError> {
    let now = now_ms();
    let number = row.attempts + 1;
    // Should this attempt never report back, the row is due again after the attempt's
    // time limit and the backoff it would have had.
    let lease = now + millis(policy.timeout + policy.delay_after(number));
    if !ledger.outbox_claim(row.id, now, lease, any_time)? {
        return Ok(None);
    }
    let sent = match (channels.get(&row.channel), row.parsed::<super::Event>()) {
        (None, _) => Sent::GaveUp {
            error: format!(
                "channel `{}` is no longer in the settings file",
                row.channel
            ),
        },
        (Some(_), None) => Sent::GaveUp {
            error: "the event cannot be read (written by a newer upkeep?)".to_owned(),
        },
        (Some(channel), Some(event)) => {
            let options = DeliveryOptions {
                timeout: policy.timeout,
                attempts: 1,
                backoff: Duration::ZERO,
            };
            tracing::debug!(channel = %channel.describe(), event = %event.id, attempt = number, "delivering");
            judge(policy, number, deliver(channel, &event, &options))
        }
    };
    match &sent {
        Sent::Delivered => ledger.outbox_delivered(row.id)?,
        Sent::Retry { error, retry_at_ms } => {
            tracing::warn!(channel = %row.channel, event = %row.event_id, "notification failed, retrying later: {error}");
            ledger.outbox_failed(row.id, error, Some(*retry_at_ms))?;
        }
        Sent::GaveUp { error } => {
            tracing::warn!(channel = %row.channel, event = %row.event_id, "notification given up: {error}");
            ledger.outbox_failed(row.id, error, None)?;
        }
    }
    Ok(Some(Attempted {
        event_id: row.event_id.clone(),
        kind: row.kind.clone(),
        channel: row.channel.clone(),
        attempt: number,
        sent,
    }))
}

fn judge(policy: &RetryPolicy, number: u32, delivery: Delivery) -> Sent {
    match delivery {
        Delivery::Delivered { .. } => Sent::Delivered,
        Delivery::Failed {
            last_error,
            retryable: true,
            ..
        } if number < policy.max_attempts => Sent::Retry {
            error: last_error,
            retry_at_ms: now_ms() + millis(policy.delay_after(number)),
        },
        Delivery::Failed {
            last_error,
            retryable,
            ..
        } => Sent::GaveUp {
            error: if retryable {
                format!(
                    "{last_error} (gave up after {})",
                    crate::message::count(number, "attempt", "attempts")
                )
            } else {
                last_error
            },
        },
    }
}

fn millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}
