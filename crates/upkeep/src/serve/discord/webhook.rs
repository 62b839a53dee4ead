//! Discord's HTTP API, the two calls upkeep makes: editing a deferred answer through the
//! interaction's webhook, and putting the slash commands (`upkeep discord commands
//! --register`). ureq, the blocking client the notifications already use: both calls are
//! made from a thread that may block.

use std::time::Duration;

use super::embed::Embed;
use crate::error::CliError;

/// How long one call to Discord may take.
const TIMEOUT: Duration = Duration::from_secs(10);

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .timeout_global(Some(TIMEOUT))
        .http_status_as_error(false)
        .build()
        .into()
}

/// Replace the deferred answer of the interaction `token` with `embed`. A failure is said
/// on stderr: the result is in the ledger and the audit trail either way.
pub(super) fn edit_original(base: &str, application: &str, token: &str, embed: &Embed) {
    let url = format!("{base}/webhooks/{application}/{token}/messages/@original");
    let body = serde_json::json!({ "embeds": [embed] }).to_string();
    let sent = agent()
        .patch(&url)
        .header("Content-Type", "application/json")
        .send(body);
    let failed = match sent {
        Ok(response) if response.status().is_success() => return,
        Ok(response) => format!("Discord answered HTTP {}", response.status().as_u16()),
        Err(err) => err.to_string(),
    };
    // The URL holds the interaction's token, a credential for 15 minutes: never say it.
    crate::printer::get().message(&format!(
        "warning: failed to send a Discord command's answer: {failed}"
    ));
}

/// Put `commands` as the application's global slash commands; Discord's answer (the
/// commands as registered) on success.
pub(crate) fn register(
    base: &str,
    application: &str,
    bot_token: &str,
    commands: &serde_json::Value,
) -> Result<serde_json::Value, CliError> {
    let url = format!("{base}/applications/{application}/commands");
    let response = agent()
        .put(&url)
        .header("Authorization", &format!("Bot {bot_token}"))
        .header("Content-Type", "application/json")
        .send(commands.to_string())
        .map_err(|e| CliError::Io {
            action: format!("register the slash commands at {base}"),
            source: std::io::Error::other(e.to_string()),
        })?;
    let status = response.status().as_u16();
    let text = response.into_body().read_to_string().unwrap_or_default();
    if !(200..300).contains(&status) {
        return Err(CliError::Io {
            action: format!("register the slash commands at {base}"),
            source: std::io::Error::other(format!("Discord answered HTTP {status}: {text}")),
        });
    }
    Ok(serde_json::from_str(&text).unwrap_or(serde_json::Value::Null))
}
