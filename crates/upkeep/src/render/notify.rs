//! Notification channels, the outbox, and what test and flush did.

use std::fmt::Write as _;
use std::path::Path;

use upkeep_core::notify::{FlushReport, Sent};
use upkeep_core::state::outbox::OutboxRow;

use super::{or_dash, table, timestamp};
use upkeep_core::ops::notify::{ChannelRow, Tested};

pub(crate) fn channels(path: &Path, rows: &[ChannelRow]) -> String {
    if rows.is_empty() {
        return format!(
            "no notification channels in {} (see `upkeep notify --help`)\n",
            path.display()
        );
    }
    let body: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            vec![
                r.name.clone(),
                r.kind.to_owned(),
                r.target.clone(),
                if r.signed { "signed" } else { "-" }.to_owned(),
                if r.receives { "yes" } else { "no" }.to_owned(),
            ]
        })
        .collect();
    table(
        &["CHANNEL", "KIND", "TARGET", "SIGNED", "RECEIVES EVENTS"],
        &body,
    )
}

pub(crate) fn pending(rows: &[OutboxRow]) -> String {
    if rows.is_empty() {
        return "every notification was delivered\n".to_owned();
    }
    let body: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            let next = match r.state() {
                "pending" => timestamp(r.next_attempt_ms),
                other => other.to_owned(),
            };
            vec![
                r.id.to_string(),
                r.kind.clone(),
                r.channel.clone(),
                r.attempts.to_string(),
                next,
                or_dash(r.last_error.as_deref()),
            ]
        })
        .collect();
    table(
        &[
            "ID",
            "EVENT",
            "CHANNEL",
            "ATTEMPTS",
            "NEXT ATTEMPT",
            "LAST ERROR",
        ],
        &body,
    )
}

pub(crate) fn tested(results: &[Tested]) -> String {
    let mut out = String::new();
    for r in results {
        let _ = match (&r.error, r.status) {
            (None, Some(0)) => writeln!(out, "{}: delivered (command exited 0)", r.channel),
            (None, Some(status)) => writeln!(out, "{}: delivered (HTTP {status})", r.channel),
            (None, None) => writeln!(out, "{}: delivered", r.channel),
            (Some(error), _) => writeln!(out, "{}: failed: {error}", r.channel),
        };
    }
    out
}

pub(crate) fn flushed(report: &FlushReport) -> String {
    if report.attempts.is_empty() {
        return "nothing to deliver\n".to_owned();
    }
    let mut out = String::new();
    for a in &report.attempts {
        let what = match &a.sent {
            Sent::Delivered => "delivered".to_owned(),
            Sent::Retry { error, retry_at_ms } => {
                format!("failed, retrying at {}: {error}", timestamp(*retry_at_ms))
            }
            Sent::GaveUp { error } => format!("failed, given up: {error}"),
        };
        let _ = writeln!(out, "{} {} to {}: {what}", a.kind, a.event_id, a.channel);
    }
    let _ = writeln!(
        out,
        "{} delivered, {} to retry, {} given up",
        report.delivered(),
        report.retrying(),
        report.gave_up()
    );
    out
}
