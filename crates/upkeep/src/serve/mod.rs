//! `upkeep serve`: one process that keeps the daemon's duties (schedules, update checks,
//! notification delivery; see `commands::daemon::keep`) and serves the HTTP API under
//! `/api/v1/` with `/metrics` and `/healthz`.
//!
//! The API is a front end like the command line: every handler resolves its request into
//! one `upkeep_core::ops` call on a blocking thread and renders the typed value as JSON;
//! errors go through the command line's own classification (`crate::error::json_error`),
//! so a script reads the same `error` and `exit_code` from both. Routes live in one table
//! ([`api::routes`]) that builds the router, gives each route the `Action` its caller's
//! role must allow, and writes the `OpenAPI` document, so the three cannot drift apart.
//! Other front ends served by the same process are sibling modules: the web page
//! (`serve/web.rs`, whose files have a router of their own merged in [`router`]) and
//! Discord's interactions endpoint (`serve/discord/`); their API routes (the page's
//! session, the interactions endpoint) are rows of the same table, so the `OpenAPI`
//! document lists every route but the page's files.

mod api;
mod auth;
pub(crate) mod discord;
mod feeds;
mod fresh;
mod manage;
mod metrics;
mod openapi;
mod runs;
mod tokens;
mod web;

use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Condvar, Mutex};

use std::time::Duration;

use upkeep_core::exit_codes;
use upkeep_core::ops::run::RunRequest;
use upkeep_core::run::Cancel;
use upkeep_core::schedule::daemon::Wake;

use crate::cli::ServeArgs;
use crate::commands::Context;
use crate::commands::daemon::{Duties, Pause};
use crate::error::{CliError, io};

/// How long open connections (an SSE watcher, a slow client) get to finish once the
/// server is told to stop; runs are waited for separately, through their cancel grace.
const CONNECTION_GRACE: Duration = Duration::from_secs(5);

/// How long deferred Discord answers get, once the connections are closed, to be worked
/// out and sent: a run they wait for stops within its cancel grace (5 s unless set), and
/// the webhook call has its own 10 s timeout.
const ANSWER_GRACE: Duration = Duration::from_secs(20);

/// What every handler shares.
pub(crate) struct App {
    /// The engine's context as the server was started; handlers reload it, so a changed
    /// settings file is seen without a restart.
    ops: upkeep_core::ops::Context,
    /// Thrown when the server stops: runs it started and the duties' runs stop with their
    /// grace.
    cancel: Cancel,
    /// Reverse proxies whose `X-Forwarded-For` is believed.
    trusted: Vec<IpAddr>,
    /// The run this server started last, so one confirmed digest starts one run.
    runs: runs::Runs,
    /// Set when the server stops, so live event streams end.
    stopping: tokio::sync::watch::Sender<bool>,
    /// The number of the next request, for its id.
    requests: std::sync::atomic::AtomicU64,
    /// When this server started (ms), the prefix of its request ids.
    started_ms: i64,
    /// What stops the duties between their looks at the schedules.
    duties_stop: Stop,
    /// The web page's signed-in browsers.
    sessions: web::Sessions,
    /// Whether the session cookie is marked `Secure`: served over TLS here or by the
    /// trusted reverse proxy in front.
    secure_cookies: bool,
    /// What the cached answers below depend on.
    freshness: fresh::Freshness,
    /// The status report, kept while the ledger, manifest and settings are unchanged.
    status: fresh::StatusCache,
    /// Tokens identified lately.
    tokens: fresh::TokenCache,
    /// The live event feeds of the runs being watched.
    feeds: feeds::Feeds,
    /// Discord commands answered "thinking…" whose answer is still to be sent.
    discord_answers: discord::Pending,
}

impl App {
    /// The context for one request: the settings file read again.
    fn ops(&self) -> Result<upkeep_core::ops::Context, CliError> {
        Ok(self.ops.reload()?)
    }
}

/// `upkeep serve`.
pub(crate) fn serve(ctx: &Context, args: ServeArgs) -> Result<i32, CliError> {
    let ServeArgs {
        listen,
        tls_cert,
        tls_key,
        trust_proxy,
    } = args;
    let tls = tls_cert.zip(tls_key);
    check_listen(listen, tls.is_some(), &trust_proxy)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(io("start the HTTP server's runtime"))?;
    let secure_cookies = tls.is_some() || !trust_proxy.is_empty();
    let app = Arc::new(App {
        sessions: web::Sessions::default(),
        secure_cookies,
        ops: ctx.ops.clone(),
        cancel: Cancel::default(),
        trusted: trust_proxy,
        runs: runs::Runs::default(),
        stopping: tokio::sync::watch::channel(false).0,
        requests: std::sync::atomic::AtomicU64::new(1),
        started_ms: ctx.ops.clock().now_ms(),
        duties_stop: Stop::default(),
        freshness: fresh::Freshness::new(&ctx.ops),
        status: fresh::StatusCache::default(),
        tokens: fresh::TokenCache::default(),
        feeds: feeds::Feeds::default(),
        discord_answers: discord::Pending::default(),
    });
    let duties = start_duties(ctx, &app)?;
    let served = runtime.block_on(async {
        let served = run_server(Arc::clone(&app), listen, tls).await;
        // Runs were cancelled when the signal came; the answers Discord users wait for
        // are sent before the runtime (and every task on it) is dropped.
        app.cancel.cancel();
        app.discord_answers.finish(ANSWER_GRACE).await;
        served
    });
    // The server has stopped accepting: stop the runs (each gets its cancel grace), then
    // the duties, and wait for both.
    app.cancel.cancel();
    app.duties_stop.stop();
    app.runs.join();
    let duties = duties.join().unwrap_or(Ok(exit_codes::INTERNAL));
    drop(runtime);
    served?;
    duties?;
    crate::printer::get().status("upkeep serve: stopped");
    Ok(exit_codes::OK)
}

/// Refuse to send tokens in clear text over a network: a non-loopback address needs TLS
/// of its own or a reverse proxy in front that terminates it.
fn check_listen(listen: SocketAddr, tls: bool, trusted: &[IpAddr]) -> Result<(), CliError> {
    if listen.ip().is_loopback() || tls || !trusted.is_empty() {
        Ok(())
    } else {
        Err(CliError::Insecure { listen })
    }
}

/// The whole router: the API, then the front ends that sit beside it.
fn router(app: Arc<App>) -> axum::Router {
    web::router(Arc::clone(&app)).merge(api::router(app))
}

async fn run_server(
    app: Arc<App>,
    listen: SocketAddr,
    tls: Option<(std::path::PathBuf, std::path::PathBuf)>,
) -> Result<(), CliError> {
    let handle = axum_server::Handle::new();
    let service = router(Arc::clone(&app)).into_make_service_with_connect_info::<SocketAddr>();
    let scheme = if tls.is_some() { "https" } else { "http" };
    {
        let handle = handle.clone();
        let app = Arc::clone(&app);
        tokio::spawn(async move {
            wait_for_signal().await;
            crate::printer::get().status("upkeep serve: stopping");
            // Runs start their cancel grace now, while connections finish.
            app.cancel.cancel();
            app.duties_stop.stop();
            app.stopping.send_replace(true);
            handle.graceful_shutdown(Some(CONNECTION_GRACE));
        });
    }
    {
        let handle = handle.clone();
        tokio::spawn(async move {
            if let Some(addr) = handle.listening().await {
                crate::printer::get()
                    .status(&format!("upkeep serve: listening on {scheme}://{addr}"));
            }
        });
    }
    let served = match tls {
        Some((cert, key)) => {
            let config = axum_server::tls_rustls::RustlsConfig::from_pem_file(&cert, &key)
                .await
                .map_err(io(format!(
                    "load the TLS certificate {} and key {}",
                    cert.display(),
                    key.display()
                )))?;
            axum_server::bind_rustls(listen, config)
                .handle(handle)
                .serve(service)
                .await
        }
        None => {
            axum_server::bind(listen)
                .handle(handle)
                .serve(service)
                .await
        }
    };
    served.map_err(io(format!("serve HTTP on {listen}")))
}

/// SIGTERM or SIGINT.
async fn wait_for_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let term = signal(SignalKind::terminate());
    let int = signal(SignalKind::interrupt());
    match (term, int) {
        (Ok(mut term), Ok(mut int)) => {
            tokio::select! {
                _ = term.recv() => {}
                _ = int.recv() => {}
            }
        }
        // Without signal handlers the server runs until it is killed.
        _ => std::future::pending().await,
    }
}

/// The duties' wait between looks at the schedules: a condition the server sets when it
/// stops.
#[derive(Debug, Default)]
struct Stop {
    stopped: Mutex<bool>,
    changed: Condvar,
}

impl Stop {
    fn stop(&self) {
        *self
            .stopped
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = true;
        self.changed.notify_all();
    }
}

impl Pause for &Stop {
    fn pause(&mut self, duration: Duration) -> Wake {
        let stopped = self
            .stopped
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let (stopped, _) = self
            .changed
            .wait_timeout_while(stopped, duration, |stopped| !*stopped)
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if *stopped { Wake::Stop } else { Wake::Time }
    }
}

/// Keep the daemon's duties on a thread of their own; their scheduled runs stop with the
/// server's cancel.
fn start_duties(
    ctx: &Context,
    app: &Arc<App>,
) -> Result<std::thread::JoinHandle<Result<i32, CliError>>, CliError> {
    let ctx = Context {
        ops: ctx.ops.clone(),
        json: ctx.json,
        verbose: ctx.verbose,
    };
    let duties = Duties {
        who: "serve",
        once: false,
        jitter: Duration::ZERO,
        request: RunRequest {
            wait: true,
            handle_signals: false,
            cancel: app.cancel.clone(),
            ..RunRequest::default()
        },
    };
    let app = Arc::clone(app);
    std::thread::Builder::new()
        .name("upkeep-duties".to_owned())
        .spawn(move || crate::commands::daemon::keep(&ctx, &duties, &mut &app.duties_stop))
        .map_err(io("start the daemon's duties"))
}

#[cfg(test)]
mod tests {
    use super::check_listen;

    #[test]
    fn a_network_address_needs_tls_or_a_trusted_proxy() {
        let public = "0.0.0.0:8470".parse().unwrap();
        assert!(check_listen("127.0.0.1:8470".parse().unwrap(), false, &[]).is_ok());
        assert!(check_listen("[::1]:8470".parse().unwrap(), false, &[]).is_ok());
        assert!(check_listen(public, false, &[]).is_err());
        assert!(check_listen(public, true, &[]).is_ok());
        assert!(check_listen(public, false, &["10.0.0.1".parse().unwrap()]).is_ok());
    }
}
