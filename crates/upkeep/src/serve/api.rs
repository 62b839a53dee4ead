//! The JSON API under `/api/v1/`, `/metrics` and `/healthz`: the route table, the router
//! built from it, and one handler per route, each one `ops` call on a blocking thread.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, delete, get, post, put};
use axum::{Json, Router};
use serde::Deserialize;
use upkeep_core::ops::access::Action;

use super::auth::Note;
use super::{App, fresh};
use crate::error::{CliError, Kind, json_error};

/// One route: what it is for the router (method, path), for the role check (the action
/// its caller's role must allow; `None` for a route that authenticates in its own way or
/// not at all: `/healthz`, the web page's session, Discord's signed interactions) and for
/// the `OpenAPI` document.
#[derive(Debug, Clone)]
pub(crate) struct Route {
    pub(crate) method: Method,
    pub(crate) path: &'static str,
    pub(crate) action: Option<Action>,
    pub(crate) summary: &'static str,
    /// What the request body holds, if it takes one (for the `OpenAPI` document).
    pub(crate) body: Option<&'static str>,
}

const fn route(
    method: Method,
    path: &'static str,
    action: Option<Action>,
    summary: &'static str,
    body: Option<&'static str>,
) -> Route {
    Route {
        method,
        path,
        action,
        summary,
        body,
    }
}

/// Every route the server answers, but the web page's own files (`/`, `/assets/...`).
#[expect(clippy::too_many_lines, reason = "the route table, one row per route")]
pub(crate) fn routes() -> &'static [Route] {
    use Action as A;
    static ROUTES: &[Route] = &[
        route(
            Method::GET,
            "/healthz",
            None,
            "Liveness: answers without a token.",
            None,
        ),
        route(
            Method::POST,
            "/api/v1/session",
            None,
            "The web page's sign-in: a valid token in the body starts a session, answered with an HttpOnly, SameSite=Strict cookie and the `csrf_token` every state-changing request of that session must send in `X-CSRF-Token`; 401 for a token unknown, expired or revoked.",
            Some(r#"{"token": "upk_..."}"#),
        ),
        route(
            Method::GET,
            "/api/v1/session",
            None,
            "Who the session cookie (or bearer token) is: name, kind, role and the session's `csrf_token`; 401 when signed out.",
            None,
        ),
        route(
            Method::DELETE,
            "/api/v1/session",
            None,
            "Sign out: the session ends (204); with a cookie, `X-CSRF-Token` is required.",
            None,
        ),
        route(
            Method::POST,
            "/discord/interactions",
            None,
            "Discord's interactions endpoint: authenticated by Discord's Ed25519 signature (`X-Signature-Ed25519`, `X-Signature-Timestamp`) with the application's public key from setting `discord.public_key`, not by a token; 401 on a bad signature. Who may run which command is the settings' mapping of Discord users and roles to upkeep roles.",
            Some(r#"{"type": 1}"#),
        ),
        route(
            Method::GET,
            "/metrics",
            Some(A::Metrics),
            "Prometheus text: per module update available, versions, last success, health, last backup age; seconds since the last check; run outcome counters.",
            None,
        ),
        route(
            Method::GET,
            "/api/v1/openapi.json",
            Some(A::Status),
            "This document.",
            None,
        ),
        route(
            Method::GET,
            "/api/v1/status",
            Some(A::Status),
            "Whether automation works (state and reason codes) and every module.",
            None,
        ),
        route(
            Method::GET,
            "/api/v1/modules/{name}",
            Some(A::ModulesRead),
            "One module's status row and the versions it can roll back to.",
            None,
        ),
        route(
            Method::GET,
            "/api/v1/history",
            Some(A::History),
            "Past runs, per-module outcomes and rates; query `since` (e.g. 7d), `module` and `outcome` (comma-separated), `limit`.",
            None,
        ),
        route(
            Method::GET,
            "/api/v1/plan",
            Some(A::Plan),
            "The plan, with its digest, for the query's `targets` and `types` (comma-separated: app, packages, config, dependencies), `force` and `allow_breaking` (true/false), as `upkeep plan` takes them; `POST runs` takes the same in its body.",
            None,
        ),
        route(
            Method::POST,
            "/api/v1/runs",
            Some(A::Run),
            "Start a run of the plan with this digest, made with the same `targets`, `types`, `force` and `allow_breaking` as `GET plan` was: 202 with its id; 409 with the new plan when the digest is stale, or naming the holder when another run holds the lock. The same digest while its run starts or runs answers the same id.",
            Some(
                r#"{"plan_digest": "hex", "targets": ["module"], "force": false, "allow_breaking": false, "types": ["app"]}"#,
            ),
        ),
        route(
            Method::GET,
            "/api/v1/runs/{id}",
            Some(A::History),
            "One run: its result and modules' outcomes.",
            None,
        ),
        route(
            Method::GET,
            "/api/v1/runs/{id}/events",
            Some(A::History),
            "Server-Sent Events: one per ledger change of the run, id = the ledger's event sequence (`Last-Event-ID` resumes after it), then a `summary` event once the run has finished.",
            None,
        ),
        route(
            Method::GET,
            "/api/v1/check",
            Some(A::CheckResults),
            "The cached results of the last update checks.",
            None,
        ),
        route(
            Method::POST,
            "/api/v1/check",
            Some(A::CheckNow),
            "Ask the update sources now.",
            Some(r#"{"modules": ["module"], "security_only": false}"#),
        ),
        route(
            Method::GET,
            "/api/v1/backups",
            Some(A::BackupsList),
            "The recorded backups, newest first.",
            None,
        ),
        route(
            Method::POST,
            "/api/v1/backups",
            Some(A::BackupCreate),
            "Take a backup (of these modules, else of everything).",
            Some(r#"{"modules": ["module"], "name": "text", "description": "text"}"#),
        ),
        route(
            Method::POST,
            "/api/v1/backups/{id}/verify",
            Some(A::BackupVerify),
            "Re-read a backup and check it against the ledger; `deep` also restores it on trial into a scratch directory (the body may be empty).",
            Some(r#"{"deep": false}"#),
        ),
        route(
            Method::POST,
            "/api/v1/backups/{id}/restore",
            Some(A::Restore),
            "Restore a backup; `confirm` must be its module's name (its name for a backup of no single module); `allow_changed_paths` restores to recorded paths the module no longer declares.",
            Some(r#"{"confirm": "module", "allow_changed_paths": false}"#),
        ),
        route(
            Method::POST,
            "/api/v1/modules/{name}/rollback",
            Some(A::Rollback),
            "Roll a module back to its last safe version, a `version` or a `backup`; `confirm` must be the module's name; `allow_changed_paths` as for a restore.",
            Some(
                r#"{"confirm": "module", "version": null, "backup": null, "allow_changed_paths": false}"#,
            ),
        ),
        route(
            Method::GET,
            "/api/v1/schedules",
            Some(A::SchedulesRead),
            "The schedules.",
            None,
        ),
        route(
            Method::POST,
            "/api/v1/schedules",
            Some(A::SchedulesWrite),
            "Add a schedule (`daily` \"HH:MM\" or `cron`).",
            Some(
                r#"{"name": "nightly", "daily": "03:00", "cron": null, "zone": "local", "targets": [], "types": [], "enabled": true, "force": false}"#,
            ),
        ),
        route(
            Method::DELETE,
            "/api/v1/schedules/{name}",
            Some(A::SchedulesWrite),
            "Remove a schedule.",
            None,
        ),
        route(
            Method::POST,
            "/api/v1/schedules/{name}/enable",
            Some(A::SchedulesWrite),
            "Enable a schedule.",
            None,
        ),
        route(
            Method::POST,
            "/api/v1/schedules/{name}/disable",
            Some(A::SchedulesWrite),
            "Disable a schedule.",
            None,
        ),
        route(
            Method::GET,
            "/api/v1/settings",
            Some(A::SettingsRead),
            "Every setting with its value and default.",
            None,
        ),
        route(
            Method::PUT,
            "/api/v1/settings/{key}",
            Some(A::SettingsWrite),
            "Set a setting from its text form.",
            Some(r#"{"value": "text"}"#),
        ),
        route(
            Method::POST,
            "/api/v1/notify/test",
            Some(A::NotifyTest),
            "Send a test notification to every channel.",
            None,
        ),
        route(
            Method::GET,
            "/api/v1/tokens",
            Some(A::TokensManage),
            "The tokens not revoked (query `all=true`: every token), by name: role, state, created, created by, expires, last used, revoked; never a secret or its hash.",
            None,
        ),
        route(
            Method::POST,
            "/api/v1/tokens",
            Some(A::TokensManage),
            "Create a token (as `upkeep token create`): 201 with the token and its `secret`, shown this once. `expires` as `90d` or `12h`; null or absent: never.",
            Some(r#"{"name": "ci", "role": "viewer", "expires": "90d"}"#),
        ),
        route(
            Method::DELETE,
            "/api/v1/tokens/{name}",
            Some(A::TokensManage),
            "Revoke a token: it stops working at once, and so do the web sessions signed in with it.",
            None,
        ),
    ];
    ROUTES
}

/// The handler of a route of the table.
fn handler(route: &Route) -> Option<MethodRouter<Arc<App>>> {
    let m = &route.method;
    Some(match (route.path, m) {
        ("/healthz", &Method::GET) => get(healthz),
        ("/api/v1/session", &Method::POST) => post(super::web::sign_in),
        ("/api/v1/session", &Method::GET) => get(super::web::whoami),
        ("/api/v1/session", &Method::DELETE) => delete(super::web::sign_out),
        ("/discord/interactions", &Method::POST) => post(super::discord::interactions),
        ("/metrics", &Method::GET) => get(super::metrics::metrics),
        ("/api/v1/openapi.json", &Method::GET) => get(openapi),
        ("/api/v1/status", &Method::GET) => get(status),
        ("/api/v1/modules/{name}", &Method::GET) => get(module),
        ("/api/v1/history", &Method::GET) => get(history),
        ("/api/v1/plan", &Method::GET) => get(super::runs::plan),
        ("/api/v1/runs", &Method::POST) => post(super::runs::start),
        ("/api/v1/runs/{id}", &Method::GET) => get(super::runs::show),
        ("/api/v1/runs/{id}/events", &Method::GET) => get(super::runs::events),
        ("/api/v1/check", &Method::GET) => get(check_results),
        ("/api/v1/check", &Method::POST) => post(check_now),
        ("/api/v1/backups", &Method::GET) => get(super::manage::backups),
        ("/api/v1/backups", &Method::POST) => post(super::manage::backup_create),
        ("/api/v1/backups/{id}/verify", &Method::POST) => post(super::manage::backup_verify),
        ("/api/v1/backups/{id}/restore", &Method::POST) => post(super::manage::backup_restore),
        ("/api/v1/modules/{name}/rollback", &Method::POST) => post(super::manage::rollback),
        ("/api/v1/schedules", &Method::GET) => get(super::manage::schedules),
        ("/api/v1/schedules", &Method::POST) => post(super::manage::schedule_add),
        ("/api/v1/schedules/{name}", &Method::DELETE) => delete(super::manage::schedule_remove),
        ("/api/v1/schedules/{name}/enable", &Method::POST) => post(super::manage::schedule_enable),
        ("/api/v1/schedules/{name}/disable", &Method::POST) => {
            post(super::manage::schedule_disable)
        }
        ("/api/v1/settings", &Method::GET) => get(super::manage::settings),
        ("/api/v1/settings/{key}", &Method::PUT) => put(super::manage::setting_set),
        ("/api/v1/notify/test", &Method::POST) => post(notify_test),
        ("/api/v1/tokens", &Method::GET) => get(super::tokens::list),
        ("/api/v1/tokens", &Method::POST) => post(super::tokens::create),
        ("/api/v1/tokens/{name}", &Method::DELETE) => delete(super::tokens::revoke),
        _ => return None,
    })
}

/// Whether the table's `route` has a handler (for the test that every route is served).
#[cfg(test)]
pub(crate) fn handled(route: &Route) -> bool {
    handler(route).is_some()
}

/// The router of every route in the table, behind the access guard.
pub(crate) fn router(app: Arc<App>) -> Router {
    let mut router = Router::new();
    for route in routes() {
        if let Some(handler) = handler(route) {
            router = router.route(route.path, handler);
        }
    }
    router
        .fallback(|| async {
            ApiError::from(CliError::NotFound {
                what: "the route".to_owned(),
            })
        })
        .layer(axum::middleware::from_fn_with_state(
            Arc::clone(&app),
            super::auth::guard,
        ))
        .layer(tower_http::limit::RequestBodyLimitLayer::new(1 << 20))
        .with_state(app)
}

/// An error answered as the command line's `--json` error object, with the HTTP status
/// of its kind; a stale plan also carries the plan now in force.
#[derive(Debug)]
pub(crate) struct ApiError {
    error: Box<CliError>,
    extra: Option<serde_json::Value>,
}

impl From<CliError> for ApiError {
    fn from(error: CliError) -> Self {
        Self {
            error: Box::new(error),
            extra: None,
        }
    }
}

impl From<upkeep_core::ops::Error> for ApiError {
    fn from(error: upkeep_core::ops::Error) -> Self {
        CliError::from(error).into()
    }
}

impl ApiError {
    /// With these fields added to the error object.
    pub(crate) fn with(error: CliError, extra: serde_json::Value) -> Self {
        Self {
            error: Box::new(error),
            extra: Some(extra),
        }
    }
}

/// The status table (NOTES-h18-serve.md): a client's mistake is 400, a name of nothing
/// 404, a conflict with the state of the host 409, a request the host cannot carry out
/// as it stands 422, upkeep's own failure 500.
pub(crate) fn status_of(kind: Kind) -> StatusCode {
    match kind {
        Kind::Usage | Kind::InvalidInput | Kind::NotConfirmed => StatusCode::BAD_REQUEST,
        Kind::Unauthenticated => StatusCode::UNAUTHORIZED,
        Kind::Forbidden => StatusCode::FORBIDDEN,
        Kind::NotFound | Kind::UnknownModule | Kind::UnknownTarget => StatusCode::NOT_FOUND,
        Kind::LockHeld | Kind::StalePlan | Kind::TagMoved => StatusCode::CONFLICT,
        Kind::InvalidManifest | Kind::Manifest | Kind::BackupRefused | Kind::LowSpace => {
            StatusCode::UNPROCESSABLE_ENTITY
        }
        Kind::LockFailed | Kind::Internal => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (kind, mut value) = json_error(&self.error);
        if let (Some(serde_json::Value::Object(extra)), Some(object)) =
            (self.extra, value.as_object_mut())
        {
            object.extend(extra);
        }
        (status_of(kind), Json(value)).into_response()
    }
}

pub(crate) type Answer = Result<Response, ApiError>;

/// Run `work` with the request's context on a blocking thread.
pub(crate) async fn blocking<T, F>(app: &Arc<App>, work: F) -> Result<T, ApiError>
where
    T: Send + 'static,
    F: FnOnce(&upkeep_core::ops::Context) -> Result<T, CliError> + Send + 'static,
{
    let app = Arc::clone(app);
    tokio::task::spawn_blocking(move || work(&app.ops()?))
        .await
        .map_err(|e| CliError::Io {
            action: "answer the request".to_owned(),
            source: std::io::Error::other(e),
        })?
        .map_err(ApiError::from)
}

/// A JSON body as `T`; an empty body is `{}`.
pub(crate) fn body<T: serde::de::DeserializeOwned>(bytes: &Bytes) -> Result<T, ApiError> {
    let text: &[u8] = if bytes.iter().all(u8::is_ascii_whitespace) {
        b"{}"
    } else {
        bytes
    };
    serde_json::from_slice(text).map_err(|e| {
        CliError::BadRequest {
            problem: format!("the JSON body: {e}"),
        }
        .into()
    })
}

/// The query's pairs, or the client's mistake.
pub(crate) fn pairs(
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Result<Vec<(String, String)>, ApiError> {
    query.map(|Query(q)| q).map_err(|e| {
        CliError::BadRequest {
            problem: format!("the query: {e}"),
        }
        .into()
    })
}

/// Every value of `key`, comma-separated or repeated.
pub(crate) fn list(pairs: &[(String, String)], key: &str) -> Vec<String> {
    pairs
        .iter()
        .filter(|(k, _)| k == key)
        .flat_map(|(_, v)| v.split(','))
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_owned)
        .collect()
}

/// The value of `key`, if given.
pub(crate) fn one<'a>(pairs: &'a [(String, String)], key: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

/// A boolean query value (`true`/`false`/`1`/`0`).
pub(crate) fn flag(pairs: &[(String, String)], key: &str) -> Result<bool, ApiError> {
    match one(pairs, key) {
        None | Some("false" | "0") => Ok(false),
        Some("true" | "1" | "") => Ok(true),
        Some(other) => Err(CliError::BadRequest {
            problem: format!("`{key}={other}`: use true or false"),
        }
        .into()),
    }
}

/// A JSON answer with a note for the audit row.
pub(crate) fn noted(value: impl serde::Serialize, note: Note) -> Response {
    let mut response = Json(serde_json::to_value(value).unwrap_or_default()).into_response();
    response.extensions_mut().insert(note);
    response
}

pub(crate) fn target(name: impl Into<String>) -> Note {
    Note {
        target: Some(name.into()),
        ..Note::default()
    }
}

pub(crate) fn json(value: impl serde::Serialize) -> Response {
    Json(serde_json::to_value(value).unwrap_or_default()).into_response()
}

async fn healthz() -> Response {
    json(serde_json::json!({ "status": "ok" }))
}

async fn openapi() -> Response {
    json(super::openapi::document())
}

async fn status(
    State(app): State<Arc<App>>,
    stamp: Option<axum::Extension<fresh::Stamp>>,
    headers: axum::http::HeaderMap,
) -> Answer {
    let cached = status_report(&app, stamp).await?;
    let gzip = headers
        .get_all(axum::http::header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .any(|coding| coding.split(';').next().is_some_and(|c| c.trim() == "gzip"));
    let json = (axum::http::header::CONTENT_TYPE, "application/json");
    let vary = (axum::http::header::VARY, "accept-encoding");
    Ok(if gzip {
        let encoding = (axum::http::header::CONTENT_ENCODING, "gzip");
        ([json, vary, encoding], cached.gzip.clone()).into_response()
    } else {
        ([json, vary], cached.json.clone()).into_response()
    })
}

/// The status report, from the server's cache while it holds (see `fresh`): derived now
/// when the ledger, manifest or settings changed since (once, however many requests
/// wait for it), else the cached one, derived again in the background when it has aged.
pub(crate) async fn status_report(
    app: &Arc<App>,
    stamp: Option<axum::Extension<fresh::Stamp>>,
) -> Result<Arc<fresh::Cached>, ApiError> {
    // The guard's stamp of this request, else one now.
    let stamp = stamp.map_or_else(|| app.freshness.stamp(), |axum::Extension(s)| s);
    if let Some(cached) = cached_status(app, stamp) {
        return Ok(cached);
    }
    let _deriving = app.status.deriving.lock().await;
    // Another request may have derived it while this one waited.
    if let Some(cached) = cached_status(app, stamp) {
        return Ok(cached);
    }
    derive_status(app, stamp).await
}

/// The cached report if it holds at `stamp`, starting its refresh when it has aged.
fn cached_status(app: &Arc<App>, stamp: fresh::Stamp) -> Option<Arc<fresh::Cached>> {
    match app.status.lookup(stamp) {
        fresh::Lookup::Fresh(cached) => Some(cached),
        fresh::Lookup::Aging(cached, refresh) => {
            if refresh {
                let app = Arc::clone(app);
                tokio::spawn(async move {
                    let _ = derive_status(&app, stamp).await;
                    app.status.refreshed();
                });
            }
            Some(cached)
        }
        fresh::Lookup::Missing => None,
    }
}

async fn derive_status(
    app: &Arc<App>,
    stamp: fresh::Stamp,
) -> Result<Arc<fresh::Cached>, ApiError> {
    let cached = blocking(app, move |ops| {
        let report = upkeep_core::ops::status::status(ops)?;
        Ok(Arc::new(fresh::Cached::new(stamp, report)))
    })
    .await?;
    app.status.store(Arc::clone(&cached));
    Ok(cached)
}

async fn module(
    State(app): State<Arc<App>>,
    stamp: Option<axum::Extension<fresh::Stamp>>,
    Path(name): Path<String>,
) -> Answer {
    let cached = status_report(&app, stamp).await?;
    let value = blocking(&app, move |ops| {
        let report = &cached.report;
        let Some(row) = report.modules.iter().find(|r| r.module == name) else {
            let names = report.modules.iter().map(|r| r.module.as_str());
            return Err(upkeep_core::plan::PlanError::UnknownTarget {
                suggestion: upkeep_core::text::suggest(&name, names),
                name,
            }
            .into());
        };
        let versions = upkeep_core::ops::query::versions(ops, &name).unwrap_or_default();
        Ok(serde_json::json!({ "module": row, "versions": versions }))
    })
    .await?;
    Ok(json(value))
}

async fn history(
    State(app): State<Arc<App>>,
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Answer {
    let pairs = pairs(query)?;
    let since = one(&pairs, "since")
        .map(|text| upkeep_core::duration::parse_duration_or_suggest(text, "d"))
        .transpose()
        .map_err(|problem| CliError::BadRequest {
            problem: format!("`since`: {problem}"),
        })?;
    let outcomes = list(&pairs, "outcome")
        .iter()
        .map(|o| {
            o.parse::<upkeep_core::state::ModuleOutcome>()
                .map_err(|_| CliError::BadRequest {
                    problem: format!("`outcome`: `{o}` is not an outcome"),
                })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let limit = match one(&pairs, "limit") {
        None => 0,
        Some(text) => text.parse().map_err(|_| CliError::BadRequest {
            problem: format!("`limit`: `{text}` is not a count"),
        })?,
    };
    let request = upkeep_core::ops::query::HistoryRequest {
        since,
        modules: list(&pairs, "module"),
        outcomes,
        limit,
    };
    let history = blocking(&app, move |ops| {
        Ok(upkeep_core::ops::query::history(ops, request)?)
    })
    .await?;
    Ok(json(history))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CheckBody {
    #[serde(default)]
    modules: Vec<String>,
    #[serde(default)]
    security_only: bool,
}

async fn check_results(State(app): State<Arc<App>>) -> Answer {
    let report = blocking(&app, |ops| {
        Ok(upkeep_core::ops::check::check(
            ops,
            upkeep_core::ops::check::CheckRequest {
                cached: true,
                ..Default::default()
            },
        )?)
    })
    .await?;
    Ok(json(report))
}

async fn check_now(State(app): State<Arc<App>>, bytes: Bytes) -> Answer {
    let CheckBody {
        modules,
        security_only,
    } = body(&bytes)?;
    let report = blocking(&app, move |ops| {
        Ok(upkeep_core::ops::check::check(
            ops,
            upkeep_core::ops::check::CheckRequest {
                modules,
                update_type: None,
                security_only,
                cached: false,
            },
        )?)
    })
    .await?;
    Ok(json(report))
}

async fn notify_test(State(app): State<Arc<App>>) -> Answer {
    let tested = blocking(&app, |ops| Ok(upkeep_core::ops::notify::test(ops, None)?)).await?;
    Ok(json(tested))
}
