//! The API's token routes (owner only, as `Action::TokensManage`): list, create (the
//! secret is in the answer, once) and revoke, through the same `ops::access` use cases as
//! `upkeep token`. Those use cases write their own audit row with the request's caller, so
//! the handlers mark their answers as audited and the guard writes no second row.

use std::sync::Arc;

use axum::Extension;
use axum::body::Bytes;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use upkeep_core::ops::access::{self, Role, TokenRequest};
use upkeep_core::ops::audit::Caller;

use super::App;
use super::api::{Answer, ApiError, blocking, body, flag, pairs};
use super::auth::Note;
use crate::error::CliError;

/// The note of an answer whose audit row the use case wrote.
fn audited(name: &str) -> Note {
    Note {
        target: Some(name.to_owned()),
        audited: true,
        ..Note::default()
    }
}

/// `GET /api/v1/tokens[?all=true]`: the tokens not revoked (with `all`, every token).
pub(crate) async fn list(
    State(app): State<Arc<App>>,
    Extension(caller): Extension<Caller>,
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Answer {
    let all = flag(&pairs(query)?, "all")?;
    let tokens = blocking(&app, move |ops| Ok(access::list_tokens(ops, &caller, all)?)).await?;
    Ok(super::api::json(tokens))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateBody {
    name: String,
    role: String,
    /// As `token create --expires`: `90d`, `12h`; absent or null for never.
    expires: Option<String>,
}

/// `POST /api/v1/tokens`: 201 with the token and its `secret`, which is not kept and
/// cannot be asked for again.
pub(crate) async fn create(
    State(app): State<Arc<App>>,
    Extension(caller): Extension<Caller>,
    bytes: Bytes,
) -> Answer {
    let CreateBody {
        name,
        role,
        expires,
    } = body(&bytes)?;
    let role: Role = role
        .parse()
        .map_err(|e: access::UnknownRole| CliError::BadRequest {
            problem: format!("`role`: {e}"),
        })?;
    let expires = expires
        .filter(|text| !text.trim().is_empty())
        .map(|text| upkeep_core::duration::parse_duration_or_suggest(&text, "d"))
        .transpose()
        .map_err(|problem| CliError::BadRequest {
            problem: format!("`expires`: {problem}"),
        })?;
    let note = audited(&name);
    let created = blocking(&app, move |ops| {
        Ok(access::create_token(
            ops,
            &caller,
            TokenRequest {
                name,
                role,
                expires,
            },
        )?)
    })
    .await
    .map(|(token, secret)| {
        let mut value = serde_json::to_value(&token).unwrap_or_default();
        value["secret"] = secret.expose().into();
        let mut response = super::api::json(value);
        // 201, and kept by no cache on the way: the secret is shown this once.
        *response.status_mut() = StatusCode::CREATED;
        response
            .headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        response
    });
    Ok(marked(created, note))
}

/// The answer of a use case that audited itself, succeeded or failed, with its note.
fn marked(answer: Result<Response, ApiError>, note: Note) -> Response {
    let mut response = answer.unwrap_or_else(IntoResponse::into_response);
    response.extensions_mut().insert(note);
    response
}

/// `DELETE /api/v1/tokens/{name}`: revoke it; it stops working at once, and so do the
/// web sessions signed in with it.
pub(crate) async fn revoke(
    State(app): State<Arc<App>>,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
) -> Answer {
    let note = audited(&name);
    let revoked = blocking(&app, move |ops| {
        Ok(access::revoke_token(ops, &caller, &name)?)
    })
    .await
    .map(super::api::json);
    Ok(marked(revoked, note))
}
