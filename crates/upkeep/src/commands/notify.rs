//! `upkeep notify test|list|pending|flush`, and the courier `run` and `daemon` start.

use std::time::Duration;

use upkeep_core::exit_codes;
use upkeep_core::notify::{self, Channel, Courier, Delivery, DeliveryOptions, RetryPolicy, events};
use upkeep_core::settings::Settings;
use upkeep_core::state::Ledger;

use super::{Context, print_json, print_text};
use crate::cli::NotifyCommand;
use crate::error::CliError;
use crate::render;

/// How long a command waits at its end for notifications still being delivered. The
/// command's result never depends on them: what is not delivered by then stays in the
/// outbox and is retried later.
pub(crate) const DELIVERY_BOUND: Duration = Duration::from_secs(2);

/// A channel as `notify list` and `settings list` show it: never a secret, URLs redacted.
#[derive(Debug, serde::Serialize)]
pub(crate) struct ChannelRow {
    pub(crate) name: String,
    pub(crate) kind: &'static str,
    /// The redacted URL, or the command line.
    pub(crate) target: String,
    /// Whether requests are signed (a webhook with a secret).
    pub(crate) signed: bool,
    /// Whether it receives events (`notification.channels`).
    pub(crate) receives: bool,
}

pub(crate) fn channel_rows(settings: &Settings) -> Vec<ChannelRow> {
    let receiving = settings.receiving_channels();
    settings
        .channels()
        .iter()
        .map(|(name, channel)| {
            let (kind, target) = match channel {
                Channel::Webhook { url, .. } => ("webhook", notify::redact(url)),
                Channel::Discord { url } => ("discord", notify::redact(url)),
                Channel::Slack { url } => ("slack", notify::redact(url)),
                Channel::Command { argv } => {
                    let shown: Vec<String> = argv.iter().map(|a| notify::redact(a)).collect();
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

/// Start delivering the outbox in the background, when any channel is configured.
pub(crate) fn courier(ctx: &Context, settings: &Settings) -> Option<Courier> {
    if settings.channels().is_empty() {
        return None;
    }
    Some(Courier::start(
        ctx.state_dir.clone(),
        settings.channels().clone(),
        RetryPolicy::default(),
    ))
}

/// Deliver what is due now, for a command that enqueued events outside a run (a check, a
/// manual rollback); waits at most [`DELIVERY_BOUND`], and leaves what does not get
/// through to the next run, the daemon or `notify flush`.
pub(crate) fn deliver_due(ctx: &Context, settings: &Settings) {
    if let Some(courier) = courier(ctx, settings) {
        courier.finish(DELIVERY_BOUND);
    }
}

pub(crate) fn notify(ctx: &Context, command: NotifyCommand) -> Result<i32, CliError> {
    let settings = ctx.settings()?;
    match command {
        NotifyCommand::Test { channel } => test(ctx, &settings, channel.as_deref()),
        NotifyCommand::List => {
            let rows = channel_rows(&settings);
            if ctx.json {
                print_json(&rows)?;
            } else {
                print_text(&render::channels(settings.path(), &rows))?;
            }
            Ok(exit_codes::OK)
        }
        NotifyCommand::Pending => {
            let rows = match Ledger::open_existing(&ctx.state_dir)? {
                Some(ledger) => ledger.outbox_undelivered()?,
                None => Vec::new(),
            };
            if ctx.json {
                print_json(&rows)?;
            } else {
                print_text(&render::pending(&rows))?;
            }
            Ok(exit_codes::OK)
        }
        NotifyCommand::Flush => flush(ctx, &settings),
    }
}

/// What `notify test` found for one channel.
#[derive(Debug, serde::Serialize)]
pub(crate) struct Tested {
    pub(crate) channel: String,
    pub(crate) delivered: bool,
    /// HTTP status (0 for a command) when delivered.
    pub(crate) status: Option<u16>,
    /// Why not (URLs redacted).
    pub(crate) error: Option<String>,
}

fn test(ctx: &Context, settings: &Settings, only: Option<&str>) -> Result<i32, CliError> {
    let channels = settings.channels();
    if channels.is_empty() {
        return Err(CliError::NoChannel {
            settings: settings.path().to_path_buf(),
        });
    }
    if let Some(name) = only.filter(|n| !channels.contains_key(*n)) {
        return Err(CliError::UnknownChannel {
            name: name.to_owned(),
            settings: settings.path().to_path_buf(),
            suggestion: upkeep_core::manifest::suggest(name, channels.keys().map(String::as_str)),
        });
    }
    let options = DeliveryOptions {
        attempts: 1,
        ..DeliveryOptions::default()
    };
    let results: Vec<Tested> = channels
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
        .collect();
    if ctx.json {
        print_json(&results)?;
    } else {
        print_text(&render::tested(&results))?;
    }
    Ok(if results.iter().all(|r| r.delivered) {
        exit_codes::OK
    } else {
        exit_codes::MODULES_FAILED
    })
}

fn flush(ctx: &Context, settings: &Settings) -> Result<i32, CliError> {
    let report = match Ledger::open_existing(&ctx.state_dir)? {
        Some(mut ledger) => notify::flush(
            &mut ledger,
            settings.channels(),
            &RetryPolicy::default(),
            true,
            &|| true,
        )?,
        None => notify::FlushReport::default(),
    };
    if ctx.json {
        print_json(&report)?;
    } else {
        print_text(&render::flushed(&report))?;
    }
    Ok(if report.attempts.len() == report.delivered() {
        exit_codes::OK
    } else {
        exit_codes::MODULES_FAILED
    })
}
