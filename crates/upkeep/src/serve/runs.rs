//! Runs through the API: the plan and its digest, starting a run of a confirmed plan (one
//! run per digest while it starts or runs), a run's record, and its live events.

use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use upkeep_core::ops::query::{PlanReport, PlanRequest, plan_digest};
use upkeep_core::ops::run::RunRequest;
use upkeep_core::run::{NullReporter, Reporter, RunEvent};
use upkeep_core::updates::UpdateType;

use super::App;
use super::api::{Answer, ApiError, blocking, body, flag, list, noted, pairs};
use super::auth::Note;
use crate::error::CliError;

/// The runs this server started: the latest one's digest and id (so that the same digest
/// submitted again while it starts or runs answers its id instead of starting another),
/// and the threads to wait for when the server stops.
#[derive(Debug, Default)]
pub(crate) struct Runs {
    /// Held while a run is being started, so two submissions are decided one at a time.
    latest: tokio::sync::Mutex<Option<Started>>,
    threads: Mutex<Vec<std::thread::JoinHandle<()>>>,
}

#[derive(Debug, Clone)]
struct Started {
    digest: String,
    run_id: i64,
    finished: Arc<std::sync::atomic::AtomicBool>,
}

impl Runs {
    /// Wait for every run this server started (each stops within its cancel grace once
    /// the server's cancel is thrown).
    pub(crate) fn join(&self) {
        let threads = std::mem::take(
            &mut *self
                .threads
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        );
        for thread in threads {
            let _ = thread.join();
        }
    }
}

/// What a plan is made of, as `upkeep plan` and `upkeep run` take it: `GET plan` reads it
/// from the query and `POST runs` from the body, so the digest a client was shown is the
/// digest of the run it starts.
#[derive(Debug, Clone, Default)]
struct Choice {
    /// Modules to run (with their children and what they need); none: the entrypoint,
    /// else all.
    targets: Vec<String>,
    /// Rerun modules that are up to date (`--force`).
    force: bool,
    /// Take major and breaking updates that policies hold back (`--allow-breaking`).
    allow_breaking: bool,
    /// Only modules whose updates are of these types (`--type`): app, packages, config,
    /// dependencies.
    types: Vec<UpdateType>,
}

impl Choice {
    /// The choice a query spells: `targets` and `types` comma-separated or repeated,
    /// `force` and `allow_breaking` true or false.
    fn from_query(pairs: &[(String, String)]) -> Result<Self, ApiError> {
        let types = list(pairs, "types")
            .iter()
            .map(|name| {
                UpdateType::from_name(name).ok_or_else(|| {
                    ApiError::from(CliError::BadRequest {
                        problem: format!(
                            "`types`: `{name}` is not an update type; use app, packages, config or dependencies"
                        ),
                    })
                })
            })
            .collect::<Result<_, _>>()?;
        Ok(Self {
            targets: list(pairs, "targets"),
            force: flag(pairs, "force")?,
            allow_breaking: flag(pairs, "allow_breaking")?,
            types,
        })
    }
}

/// The plan `choice` gives, with its digest.
fn plan_of(
    ops: &upkeep_core::ops::Context,
    choice: Choice,
) -> Result<(PlanReport, String), CliError> {
    let Choice {
        targets,
        force,
        allow_breaking,
        types,
    } = choice;
    let reporter: Arc<dyn Reporter> = Arc::new(NullReporter);
    let report = upkeep_core::ops::query::plan(
        ops,
        PlanRequest {
            targets,
            force,
            allow_breaking,
            types,
            // A plan shown for confirmation asks no source: its digest must be the one
            // the run then recomputes from the ledger.
            check_first: false,
        },
        &reporter,
    )?;
    let digest = plan_digest(&report);
    Ok((report, digest))
}

pub(crate) async fn plan(
    State(app): State<Arc<App>>,
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Answer {
    let choice = Choice::from_query(&pairs(query)?)?;
    let (report, digest) = blocking(&app, move |ops| plan_of(ops, choice)).await?;
    Ok(axum::Json(serde_json::json!({ "plan": report, "plan_digest": digest })).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RunBody {
    plan_digest: String,
    #[serde(default)]
    targets: Vec<String>,
    #[serde(default)]
    force: bool,
    #[serde(default)]
    allow_breaking: bool,
    #[serde(default)]
    types: Vec<UpdateType>,
}

/// Tells the handler the run's id as soon as the run has one (or that it failed before).
struct Starter {
    tell: Mutex<Option<tokio::sync::oneshot::Sender<Result<i64, CliError>>>>,
}

impl Starter {
    fn send(&self, result: Result<i64, CliError>) {
        let sender = self
            .tell
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take();
        if let Some(sender) = sender {
            let _ = sender.send(result);
        }
    }
}

impl Reporter for Starter {
    fn event(&self, event: &RunEvent) {
        if let RunEvent::Started {
            run_id: Some(id), ..
        } = event
        {
            self.send(Ok(*id));
        }
    }
}

impl RunBody {
    /// The digest the client confirmed, and the choice it was made of.
    fn split(self) -> (String, Choice) {
        let Self {
            plan_digest,
            targets,
            force,
            allow_breaking,
            types,
        } = self;
        let choice = Choice {
            targets,
            force,
            allow_breaking,
            types,
        };
        (plan_digest, choice)
    }
}

impl Choice {
    /// The run this choice asks for, stopped by the server's `cancel`.
    fn request(self, cancel: upkeep_core::run::Cancel) -> RunRequest {
        let Self {
            targets,
            force,
            allow_breaking,
            types,
        } = self;
        RunRequest {
            targets,
            force,
            allow_breaking,
            types,
            handle_signals: false,
            cancel,
            ..RunRequest::default()
        }
    }
}

pub(crate) async fn start(State(app): State<Arc<App>>, bytes: Bytes) -> Answer {
    let (plan_digest, choice) = body::<RunBody>(&bytes)?.split();
    let mut latest = app.runs.latest.lock().await;
    if let Some(started) = latest.as_ref()
        && started.digest == plan_digest
        && !started.finished.load(std::sync::atomic::Ordering::SeqCst)
        && !ended(&app, started.run_id).await?
    {
        return Ok(accepted(started.run_id, &plan_digest));
    }
    let (report, digest) = {
        let choice = choice.clone();
        blocking(&app, move |ops| plan_of(ops, choice)).await?
    };
    if digest != plan_digest {
        return Ok(stale(&report, plan_digest, digest));
    }
    let (told, finished) = spawn_run(&app, choice.request(app.cancel.clone()))?;
    let outcome = told.await.unwrap_or_else(|_| {
        Err(CliError::NotFound {
            what: "the run's id".to_owned(),
        })
    });
    match outcome {
        Ok(run_id) => {
            *latest = Some(Started {
                digest: plan_digest.clone(),
                run_id,
                finished,
            });
            Ok(accepted(run_id, &plan_digest))
        }
        Err(err) => {
            let mut response = ApiError::from(err).into_response();
            response.extensions_mut().insert(Note {
                target: None,
                plan_digest: Some(plan_digest),
                ..Note::default()
            });
            Ok(response)
        }
    }
}

/// Whether the ledger records run `run_id` as ended: its thread may still be finishing
/// (delivering its notifications) after the run itself has ended.
async fn ended(app: &Arc<App>, run_id: i64) -> Result<bool, ApiError> {
    blocking(app, move |ops| {
        Ok(upkeep_core::ops::query::run_events(ops, run_id, i64::MAX)?
            .is_none_or(|(_, finished)| finished))
    })
    .await
}

/// The answer to a digest that is no longer the plan's: the plan now in force and its
/// digest.
fn stale(report: &PlanReport, given: String, current: String) -> Response {
    let extra = serde_json::json!({ "plan": report, "plan_digest": current });
    let mut response = ApiError::with(
        CliError::StalePlan {
            given: given.clone(),
            current,
        },
        extra,
    )
    .into_response();
    response.extensions_mut().insert(Note {
        target: None,
        plan_digest: Some(given),
        ..Note::default()
    });
    response
}

/// What tells a run's id (or why it did not start).
type Told = tokio::sync::oneshot::Receiver<Result<i64, CliError>>;

/// Start a run on a thread of its own: what tells its id (or why it did not start), and
/// the switch thrown when it has ended.
fn spawn_run(
    app: &App,
    request: RunRequest,
) -> Result<(Told, Arc<std::sync::atomic::AtomicBool>), CliError> {
    let (tell, told) = tokio::sync::oneshot::channel();
    let starter = Arc::new(Starter {
        tell: Mutex::new(Some(tell)),
    });
    let finished = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let ops = app.ops()?;
    let thread = {
        let finished = Arc::clone(&finished);
        std::thread::Builder::new()
            .name("upkeep-run".to_owned())
            .spawn(move || {
                let reporter: Arc<dyn Reporter> = starter.clone();
                let result = upkeep_core::ops::run::run(&ops, &request, &reporter);
                finished.store(true, std::sync::atomic::Ordering::SeqCst);
                match result {
                    Err(err) => starter.send(Err(err.into())),
                    Ok(summary) => starter.send(summary.run_id.ok_or_else(|| CliError::NotFound {
                        what: "the run's id".to_owned(),
                    })),
                }
            })
            .map_err(crate::error::io("start a run"))?
    };
    let mut threads = app
        .runs
        .threads
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    // Runs that have ended need no waiting for: a long-lived server keeps only the live.
    threads.retain(|t| !t.is_finished());
    threads.push(thread);
    drop(threads);
    Ok((told, finished))
}

fn accepted(run_id: i64, digest: &str) -> Response {
    let mut response = noted(
        serde_json::json!({ "run_id": run_id }),
        Note {
            target: Some(run_id.to_string()),
            plan_digest: Some(digest.to_owned()),
            ..Note::default()
        },
    );
    *response.status_mut() = StatusCode::ACCEPTED;
    response
}

fn no_run(id: i64) -> CliError {
    CliError::NotFound {
        what: format!("run {id}"),
    }
}

pub(crate) async fn show(State(app): State<Arc<App>>, Path(id): Path<i64>) -> Answer {
    let run = blocking(&app, move |ops| {
        upkeep_core::ops::query::run(ops, id)?.ok_or_else(|| no_run(id))
    })
    .await?;
    Ok(axum::Json(run).into_response())
}

/// The live events of a run: first those after `Last-Event-ID` (all without it), then each
/// new one as the ledger records it, then the `summary` once the run has finished.
pub(crate) async fn events(
    State(app): State<Arc<App>>,
    Path(id): Path<i64>,
    headers: HeaderMap,
) -> Answer {
    let after = match headers.get("last-event-id") {
        None => 0,
        Some(value) => value
            .to_str()
            .ok()
            .and_then(|v| v.trim().parse::<i64>().ok())
            .ok_or_else(|| CliError::BadRequest {
                problem: "`Last-Event-ID` is not an event id".to_owned(),
            })?,
    };
    // The run must exist before a stream is opened for it: its feed's reader says.
    let subscription = match super::feeds::subscribe(&app, id).await {
        Ok(Some(subscription)) => subscription,
        Ok(None) => return Err(no_run(id).into()),
        // The reader could not tell (the ledger failed): ask again, for its error.
        Err(()) => {
            blocking(&app, move |ops| {
                upkeep_core::ops::query::run_events(ops, id, i64::MAX)?
                    .map(|_| ())
                    .ok_or_else(|| no_run(id))
            })
            .await?;
            return Err(CliError::Io {
                action: format!("read the events of run {id}"),
                source: std::io::Error::other("the ledger could not be read; try again"),
            }
            .into());
        }
    };
    // The feed's own bytes, not axum's `Sse`: that would encode each event again for each
    // client (feeds.rs).
    let body = axum::body::Body::from_stream(super::feeds::stream(&app, subscription, after));
    Ok((
        [
            (header::CONTENT_TYPE, "text/event-stream"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
        .into_response())
}
