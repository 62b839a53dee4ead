//! `notify test|list|pending|flush`.

use super::{Context, Error};
use crate::notify::{self, Channel, Delivery, DeliveryOptions, FlushReport, RetryPolicy, events};
use crate::state::outbox::OutboxRow;
use crate::text::redact;

/// A channel as `notify list` and `settings list` show it: never a secret, URLs redacted.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ChannelRow {
    /// Its name.
    pub name: String,
    /// `webhook`, `discord`, `slack` or `command`.
    pub kind: &'static str,
    /// The redacted URL, or the command line.
    pub target: String,
    /// Whether requests are signed (a webhook with a secret).
    pub signed: bool,
    /// Whether it receives events (`notification.channels`).
    pub receives: bool,
}

/// Every channel of the settings.
pub fn channels(ctx: &Context) -> Vec<ChannelRow> {
    let receiving = ctx.settings().receiving_channels();
    ctx.resolved()
        .channels
        .iter()
        .map(|(name, channel)| {
            let (kind, target) = match channel {
                Channel::Webhook { url, .. } => ("webhook", redact(url)),
                Channel::Discord { url } => ("discord", redact(url)),
                Channel::Slack { url } => ("slack", redact(url)),
                Channel::Command { argv } => {
                    let shown: Vec<String> = argv.iter().map(|a| redact(a)).collect();
                    ("command", shown.join(" "))
                }
            };
            ChannelRow {
                name: name.clone(),
                kind,
                target,
                signed: matches!(
                    channel,
                    Channel::Webhook {
                        secret: Some(_),
                        ..
                    }
                ),
                receives: receiving.contains(name),
            }
        })
        .collect()
}

/// What `notify test` found for one channel.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Tested {
    /// The channel.
    pub channel: String,
    /// Whether the test event got through.
    pub delivered: bool,
    /// HTTP status (0 for a command) when delivered.
    pub status: Option<u16>,
    /// Why not (URLs redacted).
    pub error: Option<String>,
}

/// Send a test event to `only` (or every channel), once each.
///
/// # Errors
/// No channel is defined, or `only` names none.
pub fn test(ctx: &Context, only: Option<&str>) -> Result<Vec<Tested>, Error> {
    let channels = &ctx.resolved().channels;
    if channels.is_empty() {
        return Err(Error::NoChannel {
            settings: ctx.config().to_path_buf(),
        });
    }
    if let Some(name) = only.filter(|n| !channels.contains_key(*n)) {
        return Err(Error::UnknownChannel {
            name: name.to_owned(),
            settings: ctx.config().to_path_buf(),
            suggestion: crate::text::suggest(name, channels.keys().map(String::as_str)),
        });
    }
    let options = DeliveryOptions {
        attempts: 1,
        ..DeliveryOptions::default()
    };
    Ok(channels
        .iter()
        .filter(|(name, _)| only.is_none_or(|only| only == name.as_str()))
        .map(|(name, channel)| {
            let event = events::test(name);
            match notify::deliver(channel, &event, &options) {
                Delivery::Delivered { status, .. } => Tested {
                    channel: name.clone(),
                    delivered: true,
                    status: Some(status),
                    error: None,
                },
                Delivery::Failed { last_error, .. } => Tested {
                    channel: name.clone(),
                    delivered: false,
                    status: None,
                    error: Some(last_error),
                },
            }
        })
        .collect())
}

/// Notifications not yet delivered.
///
/// # Errors
/// The ledger.
pub fn pending(ctx: &Context) -> Result<Vec<OutboxRow>, Error> {
    Ok(match ctx.existing_ledger()? {
        Some(ledger) => ledger.outbox_undelivered()?,
        None => Vec::new(),
    })
}

/// Try every undelivered notification now, once each.
///
/// # Errors
/// The ledger.
pub fn flush(ctx: &Context) -> Result<FlushReport, Error> {
    Ok(match ctx.existing_ledger()? {
        Some(mut ledger) => notify::flush(
            &mut ledger,
            &ctx.resolved().channels,
            &RetryPolicy::default(),
            true,
            &|| true,
        )?,
        None => FlushReport::default(),
    })
}
