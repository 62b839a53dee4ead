//! Discord's slash commands without a bot process: `POST /discord/interactions`, the
//! interactions endpoint of the application named in the `[discord]` settings.
//!
//! Every request must carry Discord's Ed25519 signature (`X-Signature-Ed25519` over
//! `X-Signature-Timestamp` followed by the body, checked with `verify_strict` against
//! `discord.public_key`); anything else is answered 401, as Discord requires, and so is a
//! timestamp more than [`FRESH`] away from this host's clock, so that a recorded request
//! cannot be replayed later. A PING is answered with a PONG. A command is mapped to its
//! user's role (`ops::discord::principal`), checked with `ops::access::authorize` against
//! the command's action, carried out through one `ops` call (`work.rs`) and answered with
//! an embed in the seed's wording; a user the settings give no role, or a role too small,
//! gets the seed's ephemeral refusal. Commands whose work may outlast Discord's three
//! seconds answer "deferred" at once and edit that answer through the interaction's
//! webhook when the work is done (`webhook.rs`). Every command, allowed or refused, is one
//! row of the access audit trail, with the interaction's id as the request id.

mod commands;
mod embed;
mod webhook;
mod work;

use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use upkeep_core::ops::access::{self, Principal, PrincipalKind};
use upkeep_core::ops::audit::{self, AuditEntry, Caller, Outcome};

pub(crate) use commands::application_commands;
pub(crate) use webhook::register;

use super::App;
use crate::error::{CliError, Kind, json_error};
use embed::{Embed, RED};
use work::{Options, Reply};

/// How far a request's timestamp may be from this host's clock.
const FRESH: Duration = Duration::from_secs(300);

/// Discord's message flag for an answer only the caller sees.
const EPHEMERAL: u32 = 64;

/// The seed's refusal (its `permission_denied` message).
const REFUSED: &str = "You don't have permission to perform updates.";

#[derive(Debug, Deserialize)]
struct Interaction {
    id: String,
    #[serde(rename = "type")]
    kind: u8,
    #[serde(default)]
    token: String,
    #[serde(default)]
    application_id: String,
    data: Option<Data>,
    member: Option<Member>,
    user: Option<User>,
}

#[derive(Debug, Deserialize)]
struct Data {
    name: String,
    #[serde(default)]
    options: Vec<Given>,
}

#[derive(Debug, Deserialize)]
struct Given {
    name: String,
    #[serde(default)]
    value: serde_json::Value,
}

#[derive(Debug, Deserialize)]
struct Member {
    user: User,
    #[serde(default)]
    roles: Vec<String>,
}

#[derive(Debug, Deserialize)]
struct User {
    id: String,
}

fn unauthorized(why: &str) -> Response {
    (
        StatusCode::UNAUTHORIZED,
        axum::Json(serde_json::json!({ "error": "unauthenticated", "message": why })),
    )
        .into_response()
}

/// Whether `signature` (hex) is `key`'s over `timestamp` and `body`.
fn signed(key: &[u8; 32], signature: &str, timestamp: &str, body: &[u8]) -> bool {
    let Ok(key) = ed25519_dalek::VerifyingKey::from_bytes(key) else {
        return false;
    };
    let Some(signature) = hex::decode(signature)
        .ok()
        .and_then(|bytes| ed25519_dalek::Signature::from_slice(&bytes).ok())
    else {
        return false;
    };
    let mut message = timestamp.as_bytes().to_vec();
    message.extend_from_slice(body);
    key.verify_strict(&message, &signature).is_ok()
}

/// Whether `timestamp` (seconds since the epoch) is within [`FRESH`] of `now_ms`.
fn fresh(timestamp: &str, now_ms: i64) -> bool {
    let window = i64::try_from(FRESH.as_secs()).unwrap_or(i64::MAX);
    timestamp
        .parse::<i64>()
        .is_ok_and(|at| (now_ms / 1000 - at).abs() <= window)
}

/// `POST /discord/interactions` (a row of the API's route table, so it is in the `OpenAPI`
/// document and under the same body limit).
pub(crate) async fn interactions(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let ops = match app.ops() {
        Ok(ops) => ops,
        Err(err) => return super::api::ApiError::from(err).into_response(),
    };
    let Some(key) = ops.resolved().discord.public_key else {
        return unauthorized("discord.public_key is not set");
    };
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let (Some(signature), Some(timestamp)) = (
        header("x-signature-ed25519"),
        header("x-signature-timestamp"),
    ) else {
        return unauthorized("no Discord signature");
    };
    if !signed(&key, signature, timestamp, &body) {
        return unauthorized("the Discord signature does not match");
    }
    if !fresh(timestamp, ops.clock().now_ms()) {
        return unauthorized("the Discord signature is too old");
    }
    let Ok(interaction) = serde_json::from_slice::<Interaction>(&body) else {
        let problem =
            serde_json::json!({ "error": "invalid-input", "message": "not an interaction" });
        return (StatusCode::BAD_REQUEST, axum::Json(problem)).into_response();
    };
    match interaction.kind {
        1 => axum::Json(serde_json::json!({ "type": 1 })).into_response(),
        2 => command(app, ops, interaction).await,
        _ => message(&Embed::new("Unsupported interaction", RED), true),
    }
}

/// An answer shown at once: type 4 with an embed (or the refusal's text).
fn message(embed: &Embed, ephemeral: bool) -> Response {
    let mut data = serde_json::json!({ "embeds": [embed] });
    if ephemeral {
        data["flags"] = EPHEMERAL.into();
    }
    axum::Json(serde_json::json!({ "type": 4, "data": data })).into_response()
}

fn refusal() -> Response {
    let data = serde_json::json!({ "content": REFUSED, "flags": EPHEMERAL });
    axum::Json(serde_json::json!({ "type": 4, "data": data })).into_response()
}

async fn command(
    app: Arc<App>,
    ops: upkeep_core::ops::Context,
    interaction: Interaction,
) -> Response {
    let Interaction {
        id,
        token,
        application_id,
        data,
        member,
        user,
        ..
    } = interaction;
    let Some(data) = data else {
        return message(&Embed::new("No command", RED), true);
    };
    let Some(command) = commands::find(&data.name) else {
        return message(
            &Embed::new(&format!("Unknown command /{}", data.name), RED),
            true,
        );
    };
    let (user_id, roles) = match (member, user) {
        (Some(member), _) => (member.user.id, member.roles),
        (None, Some(user)) => (user.id, Vec::new()),
        (None, None) => (String::from("-"), Vec::new()),
    };
    let principal = upkeep_core::ops::discord::principal(&ops, &user_id, &roles);
    let Some(principal) = principal.filter(|p| access::authorize(p, command.action).is_ok()) else {
        return refuse(ops, user_id, &roles, &id, command).await;
    };
    let caller = caller(principal, &id);
    let options = Options(
        data.options
            .into_iter()
            .map(|g| (g.name, g.value))
            .collect(),
    );
    let work = Work {
        app: Arc::clone(&app),
        ops,
        caller,
        command,
        options,
    };
    if command.deferred {
        let application = ops_application(&work.ops, application_id);
        let pending = Arc::clone(&app);
        pending.discord_answers.spawn(async move {
            let embed = work.finish().await;
            let base = work.ops.resolved().discord.api_base_url.clone();
            let _ = tokio::task::spawn_blocking(move || {
                webhook::edit_original(&base, &application, &token, &embed);
            })
            .await;
        });
        axum::Json(serde_json::json!({ "type": 5 })).into_response()
    } else {
        message(&work.finish().await, false)
    }
}

/// The deferred answers still being worked out or sent: the server waits for them when it
/// stops, so a user who asked just before a restart still reads the answer (a run asked
/// for stops with its cancel grace and answers that it was cancelled).
#[derive(Debug, Default)]
pub(crate) struct Pending {
    tasks: std::sync::Mutex<tokio::task::JoinSet<()>>,
}

impl Pending {
    fn spawn(&self, answer: impl Future<Output = ()> + Send + 'static) {
        let mut tasks = self
            .tasks
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        // Answers already sent are dropped here, so the set holds only the pending.
        while tasks.try_join_next().is_some() {}
        tasks.spawn(answer);
    }

    /// Wait up to `bound` for every pending answer to be sent; those still pending then
    /// are abandoned.
    pub(crate) async fn finish(&self, bound: std::time::Duration) {
        let mut tasks = std::mem::take(
            &mut *self
                .tasks
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        );
        let all = async { while tasks.join_next().await.is_some() {} };
        if tokio::time::timeout(bound, all).await.is_err() {
            crate::printer::get()
                .message("warning: stopped before every deferred Discord answer was sent");
        }
    }
}

/// The seed's refusal, audited as denied with the role the user has (none when the
/// settings give it none).
async fn refuse(
    ops: upkeep_core::ops::Context,
    user_id: String,
    roles: &[String],
    id: &str,
    command: &commands::Command,
) -> Response {
    let role = upkeep_core::ops::discord::principal(&ops, &user_id, roles).map(|p| p.role);
    let who = Principal {
        kind: PrincipalKind::Discord,
        name: user_id,
        role: role.unwrap_or(access::Role::Viewer),
    };
    let mut entry = AuditEntry::new(&caller(who, id), command.action, Outcome::Denied);
    entry.role = role;
    entry.detail = Some(format!("/{}", command.name));
    record(ops, entry).await;
    refusal()
}

/// The application whose webhook answers: the one the interaction names, else the
/// settings'.
fn ops_application(ops: &upkeep_core::ops::Context, given: String) -> String {
    if given.is_empty() {
        ops.resolved()
            .discord
            .application_id
            .clone()
            .unwrap_or_default()
    } else {
        given
    }
}

fn caller(principal: Principal, interaction: &str) -> Caller {
    Caller {
        principal,
        // Interactions come from Discord's servers, not from the person: their address
        // says nothing about who asked.
        remote: None,
        request_id: Some(interaction.to_owned()),
    }
}

/// An allowed command, to carry out.
struct Work {
    app: Arc<App>,
    ops: upkeep_core::ops::Context,
    caller: Caller,
    command: &'static commands::Command,
    options: Options,
}

impl Work {
    /// Carry the command out on a blocking thread, record its audit row, and give the
    /// embed that answers it.
    async fn finish(&self) -> Embed {
        let ops = self.ops.clone();
        let cancel = self.app.cancel.clone();
        let (name, options) = (self.command.name, self.options.clone());
        let done =
            tokio::task::spawn_blocking(move || work::carry_out(&ops, &cancel, name, &options))
                .await
                .unwrap_or_else(|e| {
                    Err(CliError::Io {
                        action: "carry out the command".to_owned(),
                        source: std::io::Error::other(e),
                    })
                });
        let (outcome, target, detail, embed) = match done {
            Ok(Reply { embed, target }) => (Outcome::Succeeded, target, None, embed),
            Err(err) => {
                let (kind, value) = json_error(&err);
                let said = value["message"].as_str().unwrap_or("failed").to_owned();
                let embed = Embed::new("❌ Update Error", RED).describe(&seed_message(kind, &said));
                (Outcome::Failed, None, Some(said), embed)
            }
        };
        let mut entry = AuditEntry::new(&self.caller, self.command.action, outcome);
        entry.target = target;
        entry.detail = detail.or_else(|| Some(format!("/{}", self.command.name)));
        record(self.ops.clone(), entry).await;
        embed
    }
}

/// The seed's wording for an error (its `handle_update_error`), by the error's kind.
fn seed_message(kind: Kind, said: &str) -> String {
    match kind {
        Kind::LockHeld => {
            "An update is already in progress. Please wait for it to complete.".to_owned()
        }
        Kind::BackupRefused => "Backup not found or corrupted.".to_owned(),
        Kind::LowSpace => "Insufficient disk space for update.".to_owned(),
        Kind::NotConfirmed => {
            format!("Confirmation required: type the module's name in `confirm` ({said}).")
        }
        _ => format!("Update operation failed: {said}. Please check system logs for details."),
    }
}

/// Write an audit row; a failure to record is said on stderr, the answer stands.
async fn record(ops: upkeep_core::ops::Context, entry: AuditEntry) {
    let recorded = tokio::task::spawn_blocking(move || audit::record(&ops, entry)).await;
    if let Ok(Err(err)) = recorded {
        crate::printer::get().message(&format!(
            "warning: failed to {}",
            upkeep_core::message::failed_to(&err)
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::{fresh, signed};
    use ed25519_dalek::{Signer, SigningKey};

    #[test]
    fn only_the_applications_signature_over_timestamp_and_body_passes() {
        let key = SigningKey::from_bytes(&[7; 32]);
        let public = key.verifying_key().to_bytes();
        let signature = hex::encode(key.sign(b"1700000000{\"type\":1}").to_bytes());
        assert!(signed(&public, &signature, "1700000000", b"{\"type\":1}"));
        assert!(!signed(&public, &signature, "1700000001", b"{\"type\":1}"));
        assert!(!signed(&public, &signature, "1700000000", b"{\"type\":2}"));
        assert!(!signed(&public, "zz", "1700000000", b"{\"type\":1}"));
        let other = SigningKey::from_bytes(&[8; 32]).verifying_key().to_bytes();
        assert!(!signed(&other, &signature, "1700000000", b"{\"type\":1}"));
    }

    #[test]
    fn a_timestamp_is_fresh_for_five_minutes_either_way() {
        let now = 1_700_000_000_000;
        assert!(fresh("1700000000", now));
        assert!(fresh("1699999700", now));
        assert!(!fresh("1699999699", now));
        assert!(!fresh("1700000301", now));
        assert!(!fresh("soon", now));
    }
}
