//! The API's handlers that manage the host: backups (list, create, verify, restore),
//! rollback, schedules and settings. Restore and rollback take the module's name typed
//! into the request as their confirmation.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;
use upkeep_core::ops::{Confirm, Unconfirmed};
use upkeep_core::schedule::Spec;

use super::App;
use super::api::{Answer, blocking, body, json, noted, target};
use crate::error::CliError;

pub(crate) async fn backups(State(app): State<Arc<App>>) -> Answer {
    let rows = blocking(&app, |ops| {
        Ok(upkeep_core::ops::backup::list(
            ops,
            // Every backup: the request's default `limit` of 0 would list none.
            &upkeep_core::ops::backup::ListRequest {
                limit: usize::MAX,
                ..upkeep_core::ops::backup::ListRequest::default()
            },
        )?)
    })
    .await?;
    Ok(json(rows))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BackupBody {
    #[serde(default)]
    modules: Vec<String>,
    name: Option<String>,
    description: Option<String>,
}

pub(crate) async fn backup_create(State(app): State<Arc<App>>, bytes: Bytes) -> Answer {
    let BackupBody {
        modules,
        name,
        description,
    } = body(&bytes)?;
    let row = blocking(&app, move |ops| {
        let kind = if modules.is_empty() {
            upkeep_core::state::backups::BackupKind::default()
        } else {
            upkeep_core::state::backups::BackupKind::Module
        };
        Ok(upkeep_core::ops::backup::create(
            ops,
            upkeep_core::ops::backup::CreateRequest {
                kind,
                modules,
                name,
                description,
                ..Default::default()
            },
        )?)
    })
    .await?;
    let note = target(row.id.to_string());
    Ok(with_status(StatusCode::CREATED, noted(row, note)))
}

fn with_status(status: StatusCode, mut response: Response) -> Response {
    *response.status_mut() = status;
    response
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct VerifyBody {
    /// As `backup verify --deep`: also a trial restore into a scratch directory.
    #[serde(default)]
    deep: bool,
}

pub(crate) async fn backup_verify(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
    bytes: Bytes,
) -> Answer {
    let VerifyBody { deep } = if bytes.is_empty() {
        VerifyBody::default()
    } else {
        body(&bytes)?
    };
    let note = target(id.clone());
    let verified = blocking(&app, move |ops| {
        Ok(upkeep_core::ops::backup::verify(ops, Some(&id), deep)?)
    })
    .await?;
    Ok(noted(verified, note))
}

/// A confirmation typed into the request: yes only when it is exactly the expected name.
struct Typed {
    expected: String,
    given: Option<String>,
}

impl Confirm for Typed {
    fn confirm(&self, _question: &str) -> Result<(), Unconfirmed> {
        match &self.given {
            Some(given) if *given == self.expected => Ok(()),
            _ => Err(Unconfirmed::Declined),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RestoreBody {
    confirm: Option<String>,
    /// As `backup restore --allow-changed-paths`.
    #[serde(default)]
    allow_changed_paths: bool,
}

pub(crate) async fn backup_restore(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
    bytes: Bytes,
) -> Answer {
    let RestoreBody {
        confirm,
        allow_changed_paths,
    } = body(&bytes)?;
    let note = target(id.clone());
    let restored = blocking(&app, move |ops| {
        let request = upkeep_core::ops::backup::RestoreRequest {
            id,
            allow_changed_paths,
            ..Default::default()
        };
        let (row, _) = upkeep_core::ops::backup::restore_preview(ops, &request)?;
        let typed = Typed {
            expected: row.module.clone().unwrap_or(row.name),
            given: confirm,
        };
        Ok(upkeep_core::ops::backup::restore(ops, &request, &typed)?)
    })
    .await?;
    Ok(noted(restored, note))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RollbackBody {
    confirm: Option<String>,
    version: Option<String>,
    backup: Option<String>,
    /// As `rollback --allow-changed-paths`.
    #[serde(default)]
    allow_changed_paths: bool,
}

pub(crate) async fn rollback(
    State(app): State<Arc<App>>,
    Path(name): Path<String>,
    bytes: Bytes,
) -> Answer {
    let RollbackBody {
        confirm,
        version,
        backup,
        allow_changed_paths,
    } = body(&bytes)?;
    let note = target(name.clone());
    let report = blocking(&app, move |ops| {
        use upkeep_core::rollback::Target;
        let target = match (version, backup) {
            (Some(v), None) => Target::Version(v),
            (None, Some(b)) => Target::Backup(b),
            (None, None) => Target::LastSafe,
            (Some(_), Some(_)) => {
                return Err(CliError::BadRequest {
                    problem: "give `version` or `backup`, not both".to_owned(),
                });
            }
        };
        let typed = Typed {
            expected: name.clone(),
            given: confirm,
        };
        Ok(upkeep_core::ops::rollback::rollback(
            ops,
            &name,
            &target,
            allow_changed_paths,
            &typed,
        )?)
    })
    .await?;
    Ok(noted(report, note))
}

pub(crate) async fn schedules(State(app): State<Arc<App>>) -> Answer {
    let rows = blocking(&app, |ops| Ok(upkeep_core::ops::schedule::list(ops)?)).await?;
    Ok(json(rows))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ScheduleBody {
    name: String,
    daily: Option<String>,
    cron: Option<String>,
    #[serde(default = "local")]
    zone: String,
    #[serde(default)]
    targets: Vec<String>,
    #[serde(default)]
    types: Vec<String>,
    #[serde(default = "yes")]
    enabled: bool,
    #[serde(default)]
    force: bool,
}

fn local() -> String {
    "local".to_owned()
}

fn yes() -> bool {
    true
}

pub(crate) async fn schedule_add(State(app): State<Arc<App>>, bytes: Bytes) -> Answer {
    let ScheduleBody {
        name,
        daily,
        cron,
        zone,
        targets,
        types,
        enabled,
        force,
    } = body(&bytes)?;
    let spec = match (daily, cron) {
        (Some(at), None) => Spec::parse_daily(&at).map_err(CliError::from)?,
        (None, Some(expr)) => Spec::parse_cron(&expr).map_err(CliError::from)?,
        _ => {
            return Err(CliError::BadRequest {
                problem: "give one of `daily` (\"HH:MM\") and `cron`".to_owned(),
            }
            .into());
        }
    };
    let types = types
        .iter()
        .map(|t| {
            upkeep_core::updates::UpdateType::from_name(t).ok_or_else(|| CliError::BadRequest {
                problem: format!(
                    "`{t}` is not an update type; use app, packages, config or dependencies"
                ),
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let note = target(name.clone());
    let row = blocking(&app, move |ops| {
        Ok(upkeep_core::ops::schedule::add(
            ops,
            upkeep_core::ops::schedule::AddRequest {
                name,
                spec,
                zone,
                targets,
                types,
                enabled,
                force,
            },
        )?)
    })
    .await?;
    Ok(with_status(StatusCode::CREATED, noted(row, note)))
}

pub(crate) async fn schedule_remove(
    State(app): State<Arc<App>>,
    Path(name): Path<String>,
) -> Answer {
    let note = target(name.clone());
    let removed = name.clone();
    blocking(&app, move |ops| {
        Ok(upkeep_core::ops::schedule::remove(ops, &name)?)
    })
    .await?;
    Ok(noted(serde_json::json!({ "removed": removed }), note))
}

pub(crate) async fn schedule_enable(
    State(app): State<Arc<App>>,
    Path(name): Path<String>,
) -> Answer {
    set_enabled(app, name, true).await
}

pub(crate) async fn schedule_disable(
    State(app): State<Arc<App>>,
    Path(name): Path<String>,
) -> Answer {
    set_enabled(app, name, false).await
}

pub(crate) async fn set_enabled(app: Arc<App>, name: String, enabled: bool) -> Answer {
    let note = target(name.clone());
    let row = blocking(&app, move |ops| {
        Ok(upkeep_core::ops::schedule::set_enabled(
            ops, &name, enabled,
        )?)
    })
    .await?;
    Ok(noted(row, note))
}

pub(crate) async fn settings(State(app): State<Arc<App>>) -> Answer {
    let rows = blocking(&app, |ops| Ok(upkeep_core::ops::settings::list(ops))).await?;
    Ok(json(rows))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SettingBody {
    value: String,
}

pub(crate) async fn setting_set(
    State(app): State<Arc<App>>,
    Path(key): Path<String>,
    bytes: Bytes,
) -> Answer {
    let SettingBody { value } = body(&bytes)?;
    let note = target(key.clone());
    let shown = key.clone();
    let value = blocking(&app, move |ops| {
        Ok(upkeep_core::ops::settings::set(ops, &key, &value)?)
    })
    .await?;
    Ok(noted(
        serde_json::json!({ "key": shown, "value": value }),
        note,
    ))
}
