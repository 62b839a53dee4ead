//! Who is asking: the bearer token (`ops::access::authenticate`), the role check for the
//! route's `Action` (`ops::access::authorize`), the client's address (a trusted reverse
//! proxy's `X-Forwarded-For`, else the peer), a request id returned in `X-Request-Id`, and
//! an audit row (`ops::audit::record`) for every request that changes state.
//!
//! The web page's session cookie (`serve::web`) stands for the token it signed in with;
//! a state-changing request that a cookie authenticates must also carry the session's
//! `X-CSRF-Token` (403 otherwise, and an audit row under the session's token), because a
//! browser sends the cookie with any request, including one another site's page makes it
//! send. A bearer token is never sent by a browser on its own, so bearer clients need no
//! CSRF token.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::extract::{ConnectInfo, MatchedPath, Request, State};
use axum::http::{HeaderValue, Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse as _, Response};
use upkeep_core::ops::access::{self, Action, Authentication, PrincipalKind, Role};
use upkeep_core::ops::audit::{self, AuditEntry, Caller, Outcome};

use super::App;
use super::api::ApiError;
use crate::error::CliError;

/// What a handler that changes state tells the audit row beside its outcome.
#[derive(Debug, Clone, Default)]
pub(crate) struct Note {
    /// What it acted on: a module, a backup id, a schedule, a setting.
    pub(crate) target: Option<String>,
    /// The plan digest a run was confirmed with.
    pub(crate) plan_digest: Option<String>,
    /// The use case wrote the audit row itself (the token use cases do), so the guard
    /// writes none.
    pub(crate) audited: bool,
}

/// The client's address: the peer's, unless the peer is a trusted proxy, whose
/// `X-Forwarded-For` then names it (the rightmost address no trusted proxy has).
fn remote(peer: SocketAddr, trusted: &[IpAddr], request: &Request) -> String {
    if !trusted.contains(&peer.ip()) {
        return peer.ip().to_string();
    }
    let forwarded = request
        .headers()
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter_map(|v| v.parse::<IpAddr>().ok())
        .collect::<Vec<_>>();
    forwarded
        .iter()
        .rev()
        .find(|ip| !trusted.contains(ip))
        .map_or_else(|| peer.ip().to_string(), ToString::to_string)
}

/// The action of the route a request matched, from the route table.
fn action_of(method: &Method, path: &str) -> Option<Action> {
    super::api::routes()
        .iter()
        .find(|r| r.path == path && r.method == *method)
        .and_then(|r| r.action)
}

/// The middleware every route goes through.
pub(crate) async fn guard(
    State(app): State<Arc<App>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    mut request: Request,
    next: Next,
) -> Response {
    let number = app
        .requests
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let request_id = format!("{:x}-{number}", app.started_ms);
    let remote = remote(peer, &app.trusted, &request);
    let method = request.method().clone();
    let path = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned());
    let action = path.as_deref().and_then(|p| action_of(&method, p));
    let response = match action {
        // `/healthz`, and paths no route matches (a 404 of the router's own).
        None => next.run(request).await,
        Some(action) => {
            let secret = match bearer_of(request.headers()) {
                Some(secret) => Some(secret),
                None => match app.sessions.of(request.headers()) {
                    Some(session)
                        if !matches!(method, Method::GET | Method::HEAD)
                            && !csrf_matches(request.headers(), &session) =>
                    {
                        let refused = csrf_refused(&app, session, &remote, &request_id, action);
                        return with_id(refused.await, &request_id);
                    }
                    Some(session) => Some(session.secret),
                    None => None,
                },
            };
            let known = match secret {
                Some(secret) => identify(&app, secret).await.map(|(known, stamp)| {
                    // The handler's cached answers go by the same look at their inputs.
                    request.extensions_mut().insert(stamp);
                    known
                }),
                None => Ok(Authentication::Unknown),
            };
            let caller = |principal| Caller {
                principal,
                remote: Some(remote.clone()),
                request_id: Some(request_id.clone()),
            };
            match known {
                Err(err) => ApiError::from(CliError::from(err)).into_response(),
                Ok(Authentication::Valid(principal)) => {
                    authorized(&app, caller(principal), action, request, next).await
                }
                Ok(Authentication::Expired { name } | Authentication::Revoked { name }) => {
                    refused(&app, &remote, &request_id, name, action).await
                }
                // Not audited: a client without a token could fill the ledger.
                Ok(Authentication::Unknown) => unauthenticated("no valid bearer token"),
            }
        }
    };
    with_id(response, &request_id)
}

/// What `secret` is: as [`access::identify`], believed from the server's cache while the
/// ledger and settings are unchanged (see `fresh`), so a busy API does not open the
/// ledger on every request. With it, the stamp of the inputs as they are after it (taken
/// again only when the ledger was read, since identifying may record the token's use).
async fn identify(
    app: &Arc<App>,
    secret: String,
) -> Result<(Authentication, super::fresh::Stamp), upkeep_core::ops::Error> {
    let hash = access::secret_hash(&secret);
    let arrived = std::time::Instant::now();
    let stamp = app.freshness.stamp();
    if let Some(known) = app.tokens.get(&hash, stamp) {
        return Ok((known, stamp));
    }
    // One look at the ledger at a time: a request that waited for another's takes its
    // answer when that look began after this request arrived.
    let _turn = app.tokens.identifying.lock().await;
    if let Some(known) = app.tokens.since(&hash, arrived) {
        return Ok((known, app.freshness.stamp()));
    }
    let began = std::time::Instant::now();
    let stamp = app.freshness.stamp();
    let ops = app.ops.clone();
    let known = tokio::task::spawn_blocking(move || access::identify(&ops, &secret))
        .await
        .unwrap_or(Ok(Authentication::Unknown))?;
    app.tokens.put(hash, stamp, began, known.clone());
    Ok((known, app.freshness.stamp()))
}

fn with_id(mut response: Response, request_id: &str) -> Response {
    if let Ok(value) = HeaderValue::from_str(request_id) {
        response.headers_mut().insert("x-request-id", value);
    }
    response
}

/// Answer an authenticated request: its role must allow the route's action; a request
/// that changes state is audited whatever its outcome.
async fn authorized(
    app: &App,
    caller: Caller,
    action: Action,
    mut request: Request,
    next: Next,
) -> Response {
    let changes = request.method() != Method::GET;
    let response = if let Err(err) = access::authorize(&caller.principal, action) {
        // A refusal is audited whatever the method: someone tried more than their role.
        let response = ApiError::from(CliError::from(err)).into_response();
        record(app, &caller, action, response.status(), None).await;
        return response;
    } else {
        request.extensions_mut().insert(caller.clone());
        next.run(request).await
    };
    let note = response.extensions().get::<Note>().cloned();
    if changes && !note.as_ref().is_some_and(|n| n.audited) {
        record(app, &caller, action, response.status(), note).await;
    }
    response
}

fn unauthenticated(reason: &'static str) -> Response {
    ApiError::from(CliError::Unauthenticated { reason }).into_response()
}

/// The audit row of a request refused to a token, by its name and (if still valid) its
/// role.
fn denied(
    (name, role): (String, Option<Role>),
    remote: &str,
    request_id: &str,
    action: Action,
    detail: &str,
) -> AuditEntry {
    AuditEntry {
        kind: PrincipalKind::Token,
        name,
        role,
        remote: Some(remote.to_owned()),
        request_id: Some(request_id.to_owned()),
        plan_digest: None,
        action,
        target: None,
        outcome: Outcome::Denied,
        detail: Some(detail.to_owned()),
    }
}

/// Answer 401 to a token that was valid once (expired or revoked), and audit it under the
/// token's name: someone still holds it.
async fn refused(
    app: &App,
    remote: &str,
    request_id: &str,
    name: String,
    action: Action,
) -> Response {
    let detail = "HTTP 401: the token has expired or was revoked";
    write(
        app,
        denied((name, None), remote, request_id, action, detail),
    )
    .await;
    unauthenticated("the token has expired or was revoked")
}

/// Answer 403 to a state-changing request whose cookie is a session's but whose
/// `X-CSRF-Token` is missing or another, and audit it under the session's token: it is
/// what another site's page making the browser send a request looks like.
async fn csrf_refused(
    app: &App,
    session: super::web::Session,
    remote: &str,
    request_id: &str,
    action: Action,
) -> Response {
    let ops = app.ops.clone();
    let known = tokio::task::spawn_blocking(move || access::identify(&ops, &session.secret))
        .await
        .ok()
        .and_then(Result::ok);
    let (name, role) = match known {
        Some(Authentication::Valid(principal)) => (principal.name, Some(principal.role)),
        Some(Authentication::Expired { name } | Authentication::Revoked { name }) => (name, None),
        Some(Authentication::Unknown) | None => ("-".to_owned(), None),
    };
    let detail = "HTTP 403: csrf: the session's X-CSRF-Token is missing or wrong";
    write(
        app,
        denied((name, role), remote, request_id, action, detail),
    )
    .await;
    ApiError::from(CliError::CsrfMismatch).into_response()
}

/// The token of an `Authorization: Bearer` header.
pub(crate) fn bearer_of(headers: &axum::http::HeaderMap) -> Option<String> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim().to_owned())
}

/// Whether the request's `X-CSRF-Token` is the session's, compared in constant time.
pub(crate) fn csrf_matches(headers: &axum::http::HeaderMap, session: &super::web::Session) -> bool {
    let Some(given) = headers.get("x-csrf-token").map(HeaderValue::as_bytes) else {
        return false;
    };
    let expected = session.csrf.as_bytes();
    given.len() == expected.len()
        && given
            .iter()
            .zip(expected)
            .fold(0_u8, |acc, (a, b)| acc | (a ^ b))
            == 0
}

/// Write the audit row of a request that changes state (or was refused). A failure to record is logged
/// rather than answered: the action has happened.
async fn record(
    app: &App,
    caller: &Caller,
    action: Action,
    status: axum::http::StatusCode,
    note: Option<Note>,
) {
    let outcome = if status == axum::http::StatusCode::ACCEPTED {
        Outcome::Accepted
    } else if status.is_success() {
        Outcome::Succeeded
    } else if status == axum::http::StatusCode::FORBIDDEN {
        Outcome::Denied
    } else {
        Outcome::Failed
    };
    let note = note.unwrap_or_default();
    let mut entry = AuditEntry::new(caller, action, outcome);
    entry.target = note.target;
    entry.plan_digest = note.plan_digest;
    if !status.is_success() {
        entry.detail = Some(format!("HTTP {}", status.as_u16()));
    }
    write(app, entry).await;
}

async fn write(app: &App, entry: AuditEntry) {
    let ops = app.ops.clone();
    let recorded = tokio::task::spawn_blocking(move || audit::record(&ops, entry)).await;
    if let Ok(Err(err)) = recorded {
        crate::printer::get().message(&format!(
            "warning: failed to {}",
            upkeep_core::message::failed_to(&err)
        ));
    }
}
