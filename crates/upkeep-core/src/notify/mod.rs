//! Notifications: what happened, told to people over webhooks, chat services or a command.
//!
//! An [`Event`] (run started, module failed, run finished, ...) is turned into the body a
//! [`Channel`] expects by [`payload`] and sent by [`deliver`], which makes a bounded number
//! of attempts, each with its own timeout, and backs off between them. Delivery never
//! returns an error and never panics on a bad endpoint: it returns a [`Delivery`] saying
//! whether the event got through, so a dead endpoint cannot fail an update.
//!
//! Runs never call [`deliver`] themselves. The [`events`] of a state change (a run's start,
//! a module's failure, a rollback, a run's end, a skipped schedule) are written to the
//! ledger's outbox in the same transaction as the change (`crate::state::outbox`), one row
//! per channel its [`Routing`] (from the settings) sends that kind to. A [`Courier`] thread
//! delivers them afterwards with [`flush`]: one attempt per due row, backing off between
//! attempts and giving up after a bounded number; the next run, `upkeep daemon` and
//! `upkeep notify flush` retry what is left.
//!
//! The channels:
//! - [`Channel::Webhook`]: the event as JSON, with the [Standard Webhooks] headers
//!   `webhook-id`, `webhook-timestamp` and, when a secret is set, `webhook-signature`
//!   (see [`sign`]).
//! - [`Channel::Discord`]: one embed with title, description, color by severity and fields.
//! - [`Channel::Slack`]: `text` (the fallback) and `blocks`.
//! - [`Channel::Command`]: runs a program through [`crate::exec::capture`], which gives the
//!   child no standard input, so the event JSON is passed in the environment variable
//!   `UPKEEP_EVENT_JSON` (with `UPKEEP_EVENT_ID` and `UPKEEP_EVENT_KIND`). It is set by
//!   running the program under `env`, so the JSON is visible in the process list while the
//!   command runs; events carry no secrets. Exit code 0 counts as delivered.
//!
//! HTTP goes through `ureq` with rustls: `https://` endpoints are verified against the
//! bundled Mozilla root set (webpki-roots), not the system's certificate store, so a
//! private CA is not trusted; use `http://` or a command channel for those.
//!
//! URLs hold secrets (Discord and Slack webhook tokens, passwords, `?token=`); anything that
//! logs or displays a channel uses [`redact`], and error messages from [`deliver`] carry only
//! redacted URLs.
//!
//! [Standard Webhooks]: https://www.standardwebhooks.com

mod courier;
mod deliver;
pub mod events;
mod flush;
mod payload;
mod sign;

pub use courier::{Courier, CourierHandle};
pub(crate) use deliver::status_error;
pub use deliver::{Delivery, DeliveryOptions, deliver};
pub use flush::{Attempted, FlushReport, RetryPolicy, Sent, flush};
pub use payload::payload;

use crate::text::redact;
pub use sign::sign;

use serde::{Deserialize, Serialize};

use crate::state::outbox::NewOutboxRow;
use crate::state::{Ledger, StateError};

/// Where notifications go.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Channel {
    /// A generic JSON webhook, signed per Standard Webhooks when `secret` is set.
    Webhook {
        /// Endpoint.
        url: String,
        /// Signing secret; `whsec_<base64>` means the decoded bytes.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        secret: Option<String>,
    },
    /// A Discord webhook (`https://discord.com/api/webhooks/<id>/<token>`).
    Discord {
        /// Webhook URL.
        url: String,
    },
    /// A Slack incoming webhook (`https://hooks.slack.com/services/...`).
    Slack {
        /// Webhook URL.
        url: String,
    },
    /// A program, given the event in `UPKEEP_EVENT_JSON`.
    Command {
        /// Program and arguments.
        argv: Vec<String>,
    },
}

impl Channel {
    /// A one-line description safe for logs: the kind and the redacted URL, or the command
    /// line with any URL in it redacted.
    pub fn describe(&self) -> String {
        match self {
            Self::Webhook { url, .. } => format!("webhook {}", redact(url)),
            Self::Discord { url } => format!("discord {}", redact(url)),
            Self::Slack { url } => format!("slack {}", redact(url)),
            Self::Command { argv } => {
                // A URL among the arguments may carry a token too.
                let shown: Vec<String> = argv.iter().map(|a| redact(a)).collect();
                format!("command {}", shown.join(" "))
            }
        }
    }
}

impl std::fmt::Debug for Channel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let secret = matches!(
            self,
            Self::Webhook {
                secret: Some(_),
                ..
            }
        );
        write!(f, "Channel({}", self.describe())?;
        if secret {
            f.write_str(", signed")?;
        }
        f.write_str(")")
    }
}

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// A run began.
    RunStarted,
    /// A module's update failed.
    ModuleFailed,
    /// A module was rolled back to its previous state.
    ModuleRolledBack,
    /// A run ended; the event carries the summary.
    RunFinished,
    /// A check found an update.
    UpdateAvailable,
    /// A schedule came due but did not run.
    ScheduleSkipped,
    /// A scheduled run could not start (the manifest no longer loads, its targets are
    /// gone, another run held the lock too long); recorded as a run in the history.
    RunNotStarted,
    /// `upkeep notify test`: checks that a channel is reachable.
    Test,
}

impl EventKind {
    /// The name used in JSON and in `UPKEEP_EVENT_KIND`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::RunStarted => "run_started",
            Self::ModuleFailed => "module_failed",
            Self::ModuleRolledBack => "module_rolled_back",
            Self::RunFinished => "run_finished",
            Self::UpdateAvailable => "update_available",
            Self::ScheduleSkipped => "schedule_skipped",
            Self::RunNotStarted => "run_not_started",
            Self::Test => "test",
        }
    }
}

/// Which channels receive which kinds of events: the part of the settings the ledger
/// needs when it enqueues events. The default sends nothing anywhere.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Routing {
    /// The channels (by name) that receive events.
    pub channels: Vec<String>,
    /// The kinds they receive.
    pub kinds: Vec<EventKind>,
}

impl Routing {
    /// The channels that receive events of `kind` (none when the kind is turned off).
    pub fn channels_for(&self, kind: EventKind) -> &[String] {
        if self.kinds.contains(&kind) {
            &self.channels
        } else {
            &[]
        }
    }

    /// Whether any channel receives events of `kind`.
    pub fn wants(&self, kind: EventKind) -> bool {
        !self.channels_for(kind).is_empty()
    }

    /// The outbox rows of `events`: one per event and channel that receives its kind.
    pub fn rows(&self, events: &[Event]) -> Vec<NewOutboxRow> {
        let mut rows = Vec::new();
        for event in events {
            let channels = self.channels_for(event.kind);
            if channels.is_empty() {
                continue;
            }
            let payload_json = serde_json::to_string(event).unwrap_or_default();
            rows.extend(channels.iter().map(|channel| NewOutboxRow {
                channel: channel.clone(),
                event_id: event.id.clone(),
                kind: event.kind.as_str().to_owned(),
                payload_json: payload_json.clone(),
            }));
        }
        rows
    }
}

/// Enqueue `events` for the channels `routing` sends each kind to, in a transaction of
/// their own, for callers whose state change is recorded elsewhere or not at all (an
/// update found by a check). Returns the rows added.
///
/// # Errors
/// [`StateError::Sqlite`] on a write failure.
pub fn enqueue(
    ledger: &mut Ledger,
    routing: &Routing,
    events: &[Event],
) -> Result<usize, StateError> {
    ledger.enqueue_rows(&routing.rows(events))
}

/// What a run needs to notify: where events go, and the [`Courier`] to wake once they are
/// committed (none: they wait for the next `notify flush`, run or daemon).
#[derive(Debug, Clone, Default)]
pub struct Notifier {
    /// Which channels receive which events.
    pub routing: Routing,
    /// The delivery thread to wake after a commit that enqueued events.
    pub courier: Option<CourierHandle>,
}

impl Notifier {
    /// Tell the courier that new events may be waiting.
    pub fn wake(&self) {
        if let Some(courier) = &self.courier {
            courier.wake();
        }
    }

    /// [`Notifier::wake`] as a callback, for the ledger writer to call after a commit that
    /// enqueued notifications.
    pub fn waker(&self) -> Box<dyn Fn() + Send> {
        let courier = self.courier.clone();
        Box::new(move || {
            if let Some(courier) = &courier {
                courier.wake();
            }
        })
    }
}

/// How bad it is; chooses colors and icons.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Routine.
    #[default]
    Info,
    /// Needs a look.
    Warning,
    /// Something failed.
    Error,
}

/// One notification. Its JSON form (serde) is the generic webhook's body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    /// Unique id, given by the caller (e.g. `evt_<run>_<n>`); receivers deduplicate on it.
    pub id: String,
    /// What happened.
    pub kind: EventKind,
    /// When, in milliseconds since the Unix epoch.
    pub at_ms: i64,
    /// One-line summary.
    pub title: String,
    /// Longer text; may be empty.
    pub text: String,
    /// Name/value details, in order; JSON `[{"name": ..., "value": ...}]`.
    #[serde(with = "field_list")]
    pub fields: Vec<(String, String)>,
    /// How bad it is.
    pub severity: Severity,
}

impl Event {
    /// `at_ms` as RFC 3339 (UTC), or `None` when out of range.
    pub fn timestamp(&self) -> Option<String> {
        jiff::Timestamp::from_millisecond(self.at_ms)
            .ok()
            .map(|at| at.to_string())
    }
}

mod field_list {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    #[derive(Serialize)]
    struct FieldRef<'a> {
        name: &'a str,
        value: &'a str,
    }

    #[derive(Deserialize)]
    struct Field {
        name: String,
        value: String,
    }

    pub(super) fn serialize<S: Serializer>(
        fields: &[(String, String)],
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(fields.iter().map(|(name, value)| FieldRef { name, value }))
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Vec<(String, String)>, D::Error> {
        let fields = Vec::<Field>::deserialize(deserializer)?;
        Ok(fields.into_iter().map(|f| (f.name, f.value)).collect())
    }
}
