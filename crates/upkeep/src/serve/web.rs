//! The web page: a small hand-written HTML, CSS and JavaScript app embedded in the binary
//! (`serve/web/`), served at `/` and `/assets/...`, and the session it signs in with.
//!
//! The page signs in by pasting a token: `POST /api/v1/session` checks it
//! (`ops::access::identify`) and answers with a random session id in an `HttpOnly;
//! SameSite=Strict` cookie and a CSRF token. The session table lives in this process's
//! memory (a restart signs everybody out, which is acceptable for a single-host tool) and
//! maps the session id to the token's secret, so the guard authenticates a cookie exactly as
//! it authenticates a bearer token: a revoked or expired token ends its sessions at once.
//! Every state-changing request a cookie authenticates must carry `X-CSRF-Token` (see
//! `serve::auth`). Every response of the page carries a Content-Security-Policy that allows
//! scripts, styles and connections from this origin only and no inline script.

use std::collections::HashMap;
use std::hash::{Hash as _, Hasher as _};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use upkeep_core::ops::access::{self, Authentication};

use super::App;
use super::api::{Answer, ApiError, blocking, body};
use crate::error::CliError;

/// The session cookie's name.
pub(crate) const COOKIE: &str = "upkeep_session";

/// How long a session lasts after it was made, whatever its use: a browser left signed in
/// on a shared machine signs out by itself within a working day.
const SESSION_LIFETIME: Duration = Duration::from_secs(12 * 60 * 60);

/// The policy of every response of the page: nothing but this origin's own files, no
/// inline script or style, no framing.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
                   connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// The embedded files: path, content type, bytes.
const ASSETS: &[(&str, &str, &[u8])] = &[
    (
        "app.js",
        "text/javascript; charset=utf-8",
        include_bytes!("web/app.js"),
    ),
    (
        "app.css",
        "text/css; charset=utf-8",
        include_bytes!("web/app.css"),
    ),
    (
        "favicon.svg",
        "image/svg+xml",
        include_bytes!("web/favicon.svg"),
    ),
];

const INDEX: &[u8] = include_bytes!("web/index.html");

/// One signed-in browser.
#[derive(Debug, Clone)]
pub(crate) struct Session {
    /// The token it signed in with, authenticated again on every request.
    pub(crate) secret: String,
    /// What a state-changing request must send in `X-CSRF-Token`.
    pub(crate) csrf: String,
    made: Instant,
}

/// The sessions of this process, by session id.
#[derive(Debug, Default)]
pub(crate) struct Sessions {
    by_id: Mutex<HashMap<String, Session>>,
}

impl Sessions {
    /// The live session of a request's cookie, if it has one.
    pub(crate) fn of(&self, headers: &HeaderMap) -> Option<Session> {
        let id = cookie(headers)?;
        let mut sessions = self
            .by_id
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        // Expired sessions are dropped as they are met; the table stays as small as the
        // number of browsers signed in today.
        sessions.retain(|_, s| s.made.elapsed() < SESSION_LIFETIME);
        sessions.get(&id).cloned()
    }

    fn insert(&self, id: String, session: Session) {
        self.by_id
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(id, session);
    }

    fn remove(&self, headers: &HeaderMap) {
        if let Some(id) = cookie(headers) {
            self.by_id
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .remove(&id);
        }
    }
}

/// The session id a request's `Cookie` header carries.
fn cookie(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value.to_owned())
}

/// 256 random bits from the OS, as hex.
fn random_hex() -> Result<String, CliError> {
    let mut bytes = [0_u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| CliError::Io {
        action: "make a session id".to_owned(),
        source: std::io::Error::other(e.to_string()),
    })?;
    Ok(bytes.iter().fold(String::with_capacity(64), |mut hex, b| {
        use std::fmt::Write as _;
        let _ = write!(hex, "{b:02x}");
        hex
    }))
}

/// The page's routes; its session endpoints are in the API's route table.
pub(crate) fn router(app: Arc<App>) -> Router {
    Router::new()
        .route("/", get(index))
        .route("/assets/{file}", get(asset))
        .with_state(app)
}

/// Headers every answer of the page carries.
fn hardened(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    response
}

async fn index() -> Response {
    hardened(
        (
            [
                (header::CONTENT_TYPE, "text/html; charset=utf-8"),
                // The shell is tiny and names the assets; always asked again so a new
                // binary's page is seen at once.
                (header::CACHE_CONTROL, "no-cache"),
            ],
            INDEX,
        )
            .into_response(),
    )
}

/// An embedded file, revalidated by an `ETag` of its content: a browser keeps it, asks with
/// `If-None-Match` and gets a 304 until the binary changes.
async fn asset(
    axum::extract::Path(file): axum::extract::Path<String>,
    headers: HeaderMap,
) -> Response {
    let Some((_, kind, bytes)) = ASSETS.iter().find(|(name, _, _)| *name == file) else {
        return hardened(StatusCode::NOT_FOUND.into_response());
    };
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    bytes.hash(&mut hasher);
    let etag = format!("\"{:016x}\"", hasher.finish());
    let fresh = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag));
    let cache = [
        (
            header::CACHE_CONTROL,
            "public, max-age=300, must-revalidate".to_owned(),
        ),
        (header::ETAG, etag),
    ];
    let response = if fresh {
        (StatusCode::NOT_MODIFIED, cache).into_response()
    } else {
        (cache, [(header::CONTENT_TYPE, *kind)], *bytes).into_response()
    };
    hardened(response)
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct SignIn {
    token: String,
}

/// What the page learns of itself: who it is signed in as, and the CSRF token.
fn session_json(principal: &access::Principal, csrf: &str) -> serde_json::Value {
    serde_json::json!({
        "name": principal.name,
        "kind": principal.kind,
        "role": principal.role,
        "csrf_token": csrf,
    })
}

fn set_cookie(app: &App, value: &str, max_age: Option<u64>) -> HeaderValue {
    let secure = if app.secure_cookies { "; Secure" } else { "" };
    let age = max_age.map_or_else(String::new, |s| format!("; Max-Age={s}"));
    HeaderValue::from_str(&format!(
        "{COOKIE}={value}; HttpOnly; SameSite=Strict; Path=/{secure}{age}"
    ))
    .unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// `POST /api/v1/session {"token": ...}`: a new session for a valid token.
pub(crate) async fn sign_in(State(app): State<Arc<App>>, bytes: Bytes) -> Answer {
    let SignIn { token } = body(&bytes)?;
    let secret = token.trim().to_owned();
    let checked = {
        let secret = secret.clone();
        blocking(&app, move |ops| Ok(access::identify(ops, &secret)?)).await?
    };
    let Authentication::Valid(principal) = checked else {
        return Err(ApiError::from(CliError::Unauthenticated {
            reason: "the token is unknown, expired or revoked",
        }));
    };
    let id = random_hex()?;
    let csrf = random_hex()?;
    app.sessions.insert(
        id.clone(),
        Session {
            secret,
            csrf: csrf.clone(),
            made: Instant::now(),
        },
    );
    let mut response = axum::Json(session_json(&principal, &csrf)).into_response();
    response.headers_mut().insert(
        header::SET_COOKIE,
        set_cookie(&app, &id, Some(SESSION_LIFETIME.as_secs())),
    );
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

/// `GET /api/v1/session`: who the cookie (or bearer token) is, with the CSRF token, so a
/// reloaded page knows its role without asking for the token again.
pub(crate) async fn whoami(State(app): State<Arc<App>>, headers: HeaderMap) -> Answer {
    let session = app.sessions.of(&headers);
    let secret = session
        .as_ref()
        .map(|s| s.secret.clone())
        .or_else(|| super::auth::bearer_of(&headers));
    let Some(secret) = secret else {
        return Err(ApiError::from(CliError::Unauthenticated {
            reason: "not signed in",
        }));
    };
    let principal = blocking(&app, move |ops| Ok(access::authenticate(ops, &secret)?)).await?;
    let Some(principal) = principal else {
        app.sessions.remove(&headers);
        return Err(ApiError::from(CliError::Unauthenticated {
            reason: "the token is unknown, expired or revoked",
        }));
    };
    let csrf = session.map(|s| s.csrf).unwrap_or_default();
    let mut response = axum::Json(session_json(&principal, &csrf)).into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

/// `DELETE /api/v1/session`: sign out. Needs the CSRF token, so another site cannot sign
/// a user out either.
pub(crate) async fn sign_out(State(app): State<Arc<App>>, headers: HeaderMap) -> Answer {
    if let Some(session) = app.sessions.of(&headers)
        && !super::auth::csrf_matches(&headers, &session)
    {
        return Err(ApiError::from(CliError::CsrfMismatch));
    }
    app.sessions.remove(&headers);
    let mut response = StatusCode::NO_CONTENT.into_response();
    response
        .headers_mut()
        .insert(header::SET_COOKIE, set_cookie(&app, "", Some(0)));
    Ok(response)
}
