//! Deployments with a memory: the rest of [`crate::deploy`] plus the ledger. Every file deployed is
//! recorded with its source, destination, checksum and run (before a moved file's source
//! is removed), so a later deployment tells a file someone else changed (a conflict,
//! refused without `force`) from one upkeep wrote; and every script is recorded before it
//! starts and when it ends, so a one-time script kept after it succeeded (`--keep-scripts`)
//! never runs again with the same checksum and one whose upkeep died runs again. (A
//! one-time script deleted after success that is there again was delivered again: it runs,
//! as in ae.updater.)

use std::path::{Path, PathBuf};

use crate::deploy::{self, Applied, ApplyOptions, Plan, PlanOptions, ScriptOptions, ScriptRun};
use crate::state::deploy::DeployedFile;
use crate::state::writer::LedgerAccess;
use crate::state::{Ledger, StateError, now_ms};

/// What a deployment works on.
#[derive(Debug, Clone, Default)]
pub struct FilesOptions {
    /// The directory holding the source folders and scripts.
    pub root: PathBuf,
    /// Destinations, placeholders, allowed roots, platform (owned checksums are filled in
    /// from the ledger).
    pub plan: PlanOptions,
    /// Interpreter, logs, timeout, keeping one-time scripts.
    pub scripts: ScriptOptions,
    /// Overwrite files changed since upkeep wrote them.
    pub force: bool,
    /// The `files` module deploying, if any.
    pub module: Option<String>,
    /// The run deploying, if any.
    pub run_id: Option<i64>,
    /// A pre-run command (run through `sh -c` in the root) taking the place of
    /// `ae_pre_app_run.py`, before it if both exist.
    pub pre_run_command: Option<String>,
}

/// How a configured pre-run command ended.
#[derive(Debug, Clone, serde::Serialize)]
pub struct CommandRun {
    /// The command.
    pub command: String,
    /// Whether it exited with 0.
    pub succeeded: bool,
    /// Why not.
    pub detail: Option<String>,
    /// Its log.
    pub log: PathBuf,
}

/// Why a deployment could not go on (single files and scripts fail as results).
#[derive(Debug, thiserror::Error)]
pub enum FilesError {
    /// The root could not be read.
    #[error(transparent)]
    Deploy(#[from] deploy::DeployError),
    /// The ledger failed.
    #[error(transparent)]
    State(#[from] StateError),
    /// An update run kept the run lock for longer than the deployment would wait.
    #[error("wait {} for the run lock", crate::duration::format_duration(*waited))]
    Locked {
        /// How long it waited.
        waited: std::time::Duration,
        /// The lock still held, naming its holder.
        #[source]
        source: crate::lock::LockError,
    },
    /// The run lock could not be taken (not because another run holds it).
    #[error(transparent)]
    Lock(crate::lock::LockError),
    /// Deployed files could not be recorded (they are deployed; the record is missing).
    #[error("record {} in the ledger", crate::message::count(*count, "deployed file", "deployed files"))]
    Record {
        /// How many.
        count: usize,
        /// The first failure.
        #[source]
        source: StateError,
    },
}

/// What [`prerun`] did: scripts, then files.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Prerun {
    /// The configured pre-run command, when there is one.
    pub command: Option<CommandRun>,
    /// Scripts run, in order.
    pub scripts: Vec<ScriptRun>,
    /// The plan the files followed.
    pub plan: Plan,
    /// What happened to the files.
    pub applied: Applied,
}

/// A deployed file as recorded, and what is there now.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Owned {
    /// The record.
    #[serde(flatten)]
    pub record: DeployedFile,
    /// `unchanged`, `changed` or `missing`.
    pub state: &'static str,
}

/// The plan for `options`, knowing what upkeep deployed before.
///
/// # Errors
/// The root cannot be listed, or the ledger cannot be read.
pub fn plan(ledger: Option<&Ledger>, options: &FilesOptions) -> Result<Plan, FilesError> {
    let owned = ledger.map(Ledger::deployed_checksums).transpose()?;
    plan_owned(owned, options)
}

/// The plan for `options`, given the checksums of what upkeep deployed before.
fn plan_owned(
    owned: Option<std::collections::HashMap<String, String>>,
    options: &FilesOptions,
) -> Result<Plan, FilesError> {
    let mut plan_options = options.plan.clone();
    if let Some(owned) = owned {
        plan_options.owned = owned
            .into_iter()
            .map(|(dest, sha)| (PathBuf::from(dest), sha))
            .collect();
    }
    Ok(deploy::plan(&options.root, &plan_options)?)
}

/// Plan and apply, recording each processed file as it becomes durable.
///
/// # Errors
/// The root cannot be listed, or the ledger fails (files already deployed stay so).
pub fn apply(
    ledger: &mut impl LedgerAccess,
    options: &FilesOptions,
) -> Result<(Plan, Applied), FilesError> {
    let owned = ledger.with(|ledger| Ledger::deployed_checksums(ledger))?;
    let plan = plan_owned(Some(owned), options)?;
    let mut failures: Vec<StateError> = Vec::new();
    let mut record = |p: &deploy::Processed| {
        let row = DeployedFile {
            destination: p.destination.to_string_lossy().into_owned(),
            source: p.source.to_string_lossy().into_owned(),
            sha256: p.sha256.clone(),
            size: p.size,
            action: p.action.to_string(),
            module: options.module.clone(),
            run_id: options.run_id,
            deployed_ms: now_ms(),
        };
        // Committed before it returns: the moved source goes only afterwards.
        if let Err(err) = ledger.with(move |ledger| ledger.record_deployed(&[row])) {
            failures.push(err);
        }
    };
    let applied = deploy::apply(
        &plan,
        &mut ApplyOptions {
            force: options.force,
            on_processed: Some(&mut record),
        },
    );
    match failures.into_iter().next() {
        Some(source) => Err(FilesError::Record {
            count: applied.processed.len(),
            source,
        }),
        None => Ok((plan, applied)),
    }
}

/// ae.updater's `check_all` with the ledger: the pre-run script, the due one-time scripts
/// (each recorded before it starts and when it ends), then the files.
///
/// # Errors
/// The root cannot be read, or the ledger fails.
pub fn prerun(
    ledger: &mut impl LedgerAccess,
    options: &FilesOptions,
) -> Result<Prerun, FilesError> {
    ledger.with(Ledger::recover_scripts)?;
    let found = deploy::scripts::discover(&options.root).map_err(|source| {
        deploy::DeployError::Scripts {
            root: options.root.clone(),
            source,
        }
    })?;
    let command = match &options.pre_run_command {
        Some(command) => Some(run_command(ledger, options, command)?),
        None => None,
    };
    // A one-time script is deleted after it succeeds, so one that is there again was
    // delivered again and runs, as ae.updater runs whatever `ae_updater.py` it finds (the
    // record is kept across roots, too). Only a script kept after success (`--keep-scripts`)
    // is held back by the record of what already ran.
    let done = if options.scripts.keep_after_success {
        ledger.with(|ledger| Ledger::scripts_done(ledger))?
    } else {
        std::collections::HashSet::new()
    };
    let mut scripts = Vec::new();
    for script in found.due(&done) {
        let kind = match script.kind {
            deploy::ScriptKind::PreRun => "pre-run",
            deploy::ScriptKind::Updater | deploy::ScriptKind::Once => "once",
        };
        let (name, sha) = (script.name.clone(), script.sha256.clone());
        let id = ledger.with(move |ledger| ledger.script_started(&name, &sha, kind))?;
        let run = deploy::scripts::run(&options.root, script, &options.scripts);
        let detail = match &run.outcome {
            deploy::ScriptOutcome::Succeeded => None,
            deploy::ScriptOutcome::Failed { reason, .. } => Some(reason.as_str()),
        };
        let (succeeded, detail) = (run.succeeded(), detail.map(str::to_owned));
        ledger
            .with(move |ledger| ledger.script_finished(id, succeeded, None, detail.as_deref()))?;
        scripts.push(run);
    }
    let (plan, applied) = apply(ledger, options)?;
    Ok(Prerun {
        command,
        scripts,
        plan,
        applied,
    })
}

/// Run the configured pre-run command, recorded like a pre-run script (its name is the
/// command, its checksum that of the command text).
fn run_command(
    ledger: &mut impl LedgerAccess,
    options: &FilesOptions,
    command: &str,
) -> Result<CommandRun, FilesError> {
    let sha = crate::digest::bytes_hex(command.as_bytes());
    let name = command.to_owned();
    let id = ledger.with(move |ledger| ledger.script_started(&name, &sha, "pre-run"))?;
    let log = options.scripts.log_dir.join("pre-run-command.log");
    let invocation = crate::exec::Invocation {
        argv: vec!["sh".into(), "-c".into(), command.into()],
        env: options.scripts.env.clone(),
        cwd: options.root.clone(),
        log_path: log.clone(),
        stream: None,
        timeout: options.scripts.timeout,
        grace: std::time::Duration::from_secs(5),
        display: None,
        log_made: false,
        log_cap: Some(crate::exec::DEFAULT_LOG_CAP),
    };
    // A daemon the command leaves behind is not wanted once it ended.
    let finished = crate::exec::run_blocking_users(&invocation);
    let detail = match &finished.exit {
        crate::exec::Exit::Code(0) => None,
        other => Some(format!("{other:?}")),
    };
    let exit_code = match finished.exit {
        crate::exec::Exit::Code(code) => Some(code),
        _ => None,
    };
    let recorded = detail.clone();
    ledger.with(move |ledger| {
        ledger.script_finished(id, recorded.is_none(), exit_code, recorded.as_deref())
    })?;
    Ok(CommandRun {
        command: command.to_owned(),
        succeeded: detail.is_none(),
        detail,
        log,
    })
}

/// Every file upkeep deployed, with whether it is still as upkeep wrote it.
///
/// # Errors
/// The ledger cannot be read.
pub fn owned(ledger: &Ledger) -> Result<Vec<Owned>, FilesError> {
    Ok(ledger
        .deployed_files()?
        .into_iter()
        .map(|record| {
            let state = match deploy::scripts::sha256_file(Path::new(&record.destination)).ok() {
                None => "missing",
                Some(sha) if sha == record.sha256 => "unchanged",
                Some(_) => "changed",
            };
            Owned { record, state }
        })
        .collect())
}
