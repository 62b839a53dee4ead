//! The body each channel expects.

use serde_json::{Value, json};

use super::{Channel, Event, Severity};

/// Content type and body for sending `event` to `channel`.
///
/// The generic webhook and the command get the event's own JSON (its serde form); Discord
/// gets one embed and Slack `text` plus `blocks`, both cut to those services' length limits.
pub fn payload(channel: &Channel, event: &Event) -> (String, Vec<u8>) {
    let body = match channel {
        Channel::Webhook { .. } | Channel::Command { .. } => {
            serde_json::to_value(event).unwrap_or(Value::Null)
        }
        Channel::Discord { .. } => discord(event),
        Channel::Slack { .. } => slack(event),
    };
    (
        "application/json".to_owned(),
        serde_json::to_vec(&body).unwrap_or_default(),
    )
}

fn discord(event: &Event) -> Value {
    let color = match event.severity {
        Severity::Info => 0x0034_98DB,
        Severity::Warning => 0x00F1_C40F,
        Severity::Error => 0x00E7_4C3C,
    };
    let fields: Vec<Value> = event
        .fields
        .iter()
        .take(25)
        .map(|(name, value)| {
            json!({
                "name": cut(name, 256),
                "value": cut(if value.is_empty() { "-" } else { value }, 1024),
                "inline": value.chars().count() <= 40,
            })
        })
        .collect();
    let mut embed = json!({
        "title": cut(&format!("{} {}", icon(event.severity), event.title), 256),
        "color": color,
        "fields": fields,
        "footer": { "text": format!("upkeep · {}", event.kind.as_str()) },
    });
    if !event.text.is_empty() {
        embed["description"] = json!(cut(&event.text, 4096));
    }
    if let Some(at) = event.timestamp() {
        embed["timestamp"] = json!(at);
    }
    json!({
        "username": "upkeep",
        "embeds": [embed],
        // Module output can contain "@everyone"; never let it ping anyone.
        "allowed_mentions": { "parse": [] },
    })
}

fn slack(event: &Event) -> Value {
    let title = format!("{} {}", icon(event.severity), event.title);
    let mut blocks = vec![json!({
        "type": "header",
        "text": { "type": "plain_text", "text": cut(&title, 150), "emoji": true },
    })];
    if !event.text.is_empty() {
        blocks.push(json!({
            "type": "section",
            "text": { "type": "mrkdwn", "text": cut(&event.text, 3000) },
        }));
    }
    for chunk in event.fields.chunks(10) {
        let fields: Vec<Value> = chunk
            .iter()
            .map(|(name, value)| {
                json!({ "type": "mrkdwn", "text": cut(&format!("*{name}*\n{value}"), 2000) })
            })
            .collect();
        blocks.push(json!({ "type": "section", "fields": fields }));
    }
    let mut context = format!("upkeep · {}", event.kind.as_str());
    if let Some(at) = event.timestamp() {
        context = format!("{context} · {at}");
    }
    blocks.push(json!({
        "type": "context",
        "elements": [{ "type": "mrkdwn", "text": context }],
    }));
    let text = if event.text.is_empty() {
        title
    } else {
        format!("{title}\n{}", event.text)
    };
    json!({ "text": cut(&text, 3000), "blocks": blocks })
}

fn icon(severity: Severity) -> &'static str {
    match severity {
        Severity::Info => "✅",
        Severity::Warning => "⚠️",
        Severity::Error => "❌",
    }
}

/// `text` cut to at most `max` characters, ending in an ellipsis when cut.
fn cut(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let mut out: String = text.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}
