//! `files plan|apply|owned` and `prerun`: ae.updater's deployments, with a plan, a ledger
//! of what upkeep owns and a record of the scripts it ran.

use std::collections::BTreeMap;
use std::path::PathBuf;

use super::{Context, Error, io};
use crate::deploy::ledgered::FilesError;
use crate::deploy::ledgered::{self, FilesOptions, Owned, Prerun};
use crate::deploy::{Action, Applied, Plan, PlanOptions, ScriptOptions};
use crate::lock::{LockError, LockHolder, RunLock};

/// What a person asks of a deployment (the flags of `files plan|apply` and `prerun`).
#[derive(Debug, Clone, Default)]
pub struct DeployRequest {
    /// The directory holding the source folders and scripts; `None`: the current one.
    pub root: Option<PathBuf>,
    /// Destination of folders without `ToPath__`, overriding ae.updater's `{usr}`.
    pub to: Option<String>,
    /// User-defined placeholders.
    pub placeholders: BTreeMap<String, PathBuf>,
    /// Every destination must lie beneath one of these.
    pub allow_roots: Vec<PathBuf>,
    /// Overwrite files changed since upkeep wrote them.
    pub force: bool,
    /// Keep one-time scripts after they succeed.
    pub keep_scripts: bool,
    /// A pre-run command run before the scripts.
    pub command: Option<String>,
    /// How long `apply` and `prerun` wait for the run lock while an update run holds it
    /// (the CLI's default is 10 minutes: an application's start-up waits for an update
    /// that deploys or runs scripts, but a hung run does not hang every start-up).
    pub wait: std::time::Duration,
}

/// The deployment options for `request`, resolved once.
fn options(ctx: &Context, request: DeployRequest) -> Result<FilesOptions, Error> {
    let DeployRequest {
        root,
        to,
        placeholders,
        allow_roots,
        force,
        keep_scripts,
        command,
        wait: _,
    } = request;
    let root = match root {
        Some(root) if !root.is_dir() => {
            return Err(Error::NotADirectory {
                flag: "--root",
                path: root,
            });
        }
        Some(root) => std::path::absolute(&root).map_err(io("resolve --root"))?,
        None => std::env::current_dir().map_err(io("find the current directory"))?,
    };
    let mut plan = PlanOptions {
        placeholders,
        allowed_roots: (!allow_roots.is_empty())
            .then(|| allow_roots.iter().map(std::path::absolute).collect())
            .transpose()
            .map_err(io("resolve --allow-root"))?,
        ..PlanOptions::default()
    };
    if let Some(to) = to {
        plan.default_destination = to;
    }
    let scripts = ScriptOptions {
        log_dir: ctx
            .state_dir()
            .join("logs")
            .join(format!("prerun-{}", ctx.clock().now_ms())),
        keep_after_success: keep_scripts,
        ..ScriptOptions::default()
    };
    Ok(FilesOptions {
        root,
        plan,
        scripts,
        force,
        module: None,
        run_id: None,
        pre_run_command: command,
    })
}

/// Take the run lock, waiting up to `wait` while an update run holds it (`waiting` is
/// told who holds it, once, before the wait).
///
/// A deployment takes the run lock because a run's `files` modules deploy and run
/// one-time scripts too: without it the two could run one script twice or interleave a
/// default and its override. An application's start-up hook must not be skipped because
/// an update happens to run, so `prerun` waits for the run (bounded, so a hung run cannot
/// hang every start-up) instead of giving up at once.
fn lock(
    ctx: &Context,
    wait: std::time::Duration,
    waiting: &dyn Fn(&LockHolder),
) -> Result<RunLock, Error> {
    let failed = |source: LockError| match source {
        LockError::Held { .. } => FilesError::Locked {
            waited: wait,
            source,
        },
        other => FilesError::Lock(other),
    };
    match RunLock::acquire(ctx.state_dir(), false) {
        Err(LockError::Held { holder, .. }) if !wait.is_zero() => {
            waiting(&holder);
            RunLock::acquire_within(ctx.state_dir(), wait).map_err(|e| Error::Files(failed(e)))
        }
        taken => taken.map_err(|e| Error::Files(failed(e))),
    }
}

/// What a deployment would do, file by file, and why.
///
/// # Errors
/// A bad root, a source folder that does not parse, or the ledger.
pub fn plan(ctx: &Context, request: DeployRequest) -> Result<Plan, Error> {
    let options = options(ctx, request)?;
    let ledger = ctx.existing_ledger()?;
    Ok(ledgered::plan(ledger.as_ref(), &options)?)
}

/// Files someone changed since upkeep wrote them, which `apply` leaves alone unless
/// forced; for a caller that asks about them first.
///
/// # Errors
/// As [`plan`].
pub fn conflicts(ctx: &Context, request: DeployRequest) -> Result<Vec<PathBuf>, Error> {
    let plan = plan(ctx, request)?;
    Ok(plan
        .files
        .iter()
        .filter(|f| f.action == Action::Conflict)
        .filter_map(|f| f.destination.clone())
        .collect())
}

/// Carry the deployment out, recording every file upkeep now owns.
///
/// # Errors
/// A bad root, the lock is held for longer than `request.wait`, or the ledger fails.
pub fn apply(
    ctx: &Context,
    request: DeployRequest,
    waiting: &dyn Fn(&LockHolder),
) -> Result<(Plan, Applied), Error> {
    let wait = request.wait;
    let options = options(ctx, request)?;
    let _lock = lock(ctx, wait, waiting)?;
    let mut ledger = ctx.ledger()?;
    Ok(ledgered::apply(&mut ledger, &options)?)
}

/// The pre-run command, the pre-run script, the due one-time scripts, then the file
/// operations (ae.updater's `check_all`).
///
/// # Errors
/// A bad root, the lock is held for longer than `request.wait`, or the ledger fails.
pub fn prerun(
    ctx: &Context,
    request: DeployRequest,
    waiting: &dyn Fn(&LockHolder),
) -> Result<Prerun, Error> {
    let wait = request.wait;
    let options = options(ctx, request)?;
    let _lock = lock(ctx, wait, waiting)?;
    let mut ledger = ctx.ledger()?;
    Ok(ledgered::prerun(&mut ledger, &options)?)
}

/// The files upkeep owns.
///
/// # Errors
/// The ledger.
pub fn owned(ctx: &Context) -> Result<Vec<Owned>, Error> {
    Ok(match ctx.existing_ledger()? {
        Some(ledger) => ledgered::owned(&ledger)?,
        None => Vec::new(),
    })
}
