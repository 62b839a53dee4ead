//! Running one module: verify its files, start its process, turn the exit into an outcome.

use std::fmt::Write;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use tokio::sync::watch;

use super::outcome::{Failure, Outcome, Ran};
use super::safety::{self, Safety};
use crate::deploy::ledgered::FilesOptions;
use crate::exec::{self, Exit, Finished, Interpreter, Invocation, PythonModule, Warm};
use crate::integrity;
use crate::message;
use crate::state::now_ms;
use crate::state::writer::LedgerHandle;

/// Everything one module's execution needs, owned so it can run as its own task.
#[derive(Debug)]
pub(super) struct Job {
    pub(super) index: usize,
    pub(super) name: String,
    pub(super) dir: Option<PathBuf>,
    pub(super) declared_checksum: Option<String>,
    /// The run's ledger writer: every write of the job goes through it.
    pub(super) ledger: LedgerHandle,
    pub(super) invocation: Invocation,
    /// Backup, health check and rollback around the update, when the module has any.
    pub(super) safety: Option<Safety>,
    /// For a `files` module: what it deploys (in-process, no child), and whether it only
    /// checks for pending files.
    pub(super) files: Option<(FilesOptions, bool)>,
    /// For a Python module: what runs it, and the interpreter started for it ahead of time,
    /// if the run had one ready.
    pub(super) python: Option<PythonJob>,
    /// The modules its code runs (its children, when it runs them itself, and theirs):
    /// their folders are verified before it starts, since their code runs in its process.
    pub(super) carried: Vec<Carried>,
}

/// A module whose code runs inside another module's run (see [`Job::carried`]).
#[derive(Debug)]
pub(super) struct Carried {
    pub(super) name: String,
    pub(super) dir: Option<PathBuf>,
    pub(super) declared_checksum: Option<String>,
}

/// How a Python module is started (see [`crate::exec::Warm`]).
#[derive(Debug)]
pub(super) struct PythonJob {
    pub(super) interpreter: Interpreter,
    pub(super) module: PythonModule,
    pub(super) warm: Option<Warm>,
}

/// What a step reports back to the scheduler when it ends: a job that ran, or a step
/// resolved without running (then `ran` and `checksum` are `None`).
#[derive(Debug)]
pub(super) struct JobResult {
    pub(super) index: usize,
    pub(super) outcome: Outcome,
    /// When its code ran, if it did: the timing its [`super::ModuleResult`] holds.
    pub(super) ran: Option<Ran>,
    /// The checksum the module ran with, when it was verified.
    pub(super) checksum: Option<String>,
}

impl JobResult {
    /// A step that ended without its code running.
    pub(super) fn not_run(index: usize, outcome: Outcome) -> Self {
        Self {
            index,
            outcome,
            ran: None,
            checksum: None,
        }
    }
}

pub(super) async fn run_job(mut job: Job, cancel: watch::Receiver<bool>) -> JobResult {
    // A Python module's interpreter starts first and starts up while the module's folder is
    // verified and backed up; it imports nothing before it is told to go.
    let python = match job.python.take() {
        Some(python) => {
            let warm = match python.warm {
                Some(warm) => Ok(warm),
                None => python.interpreter.start(&python.module.root).await,
            };
            Some((python.module, warm))
        }
        None => None,
    };
    let verified = match verify(&job).await {
        Ok(checksum) => checksum,
        Err(outcome) => return withdraw(python, JobResult::not_run(job.index, outcome)).await,
    };
    let backup_id = match &job.safety {
        Some(s) => match safety::pre_update(s).await {
            Ok(id) => id,
            Err(outcome) => return withdraw(python, JobResult::not_run(job.index, outcome)).await,
        },
        None => None,
    };
    let started = Instant::now();
    let started_ms = now_ms();
    let outcome = match (&job.files, python) {
        (Some((options, check_only)), _) => deploy(&job, options.clone(), *check_only).await,
        (None, Some((module, Ok(warm)))) => {
            let finished = warm.run(&module, &job.invocation, cancel.clone()).await;
            outcome_of(finished, job.invocation.timeout)
        }
        (None, Some((_, Err(err)))) => outcome_of(
            exec::start_failed(&job.invocation, &err),
            job.invocation.timeout,
        ),
        (None, None) => execute(&job, cancel.clone()).await,
    };
    crate::failpoint::crash_point!("run::module-exited");
    let outcome = match &job.safety {
        Some(s) => safety::after_update(s, outcome, backup_id, &job.invocation, cancel).await,
        None => outcome,
    };
    JobResult {
        index: job.index,
        outcome,
        ran: Some(Ran {
            started_ms,
            duration_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
        }),
        checksum: verified,
    }
}

/// Stop an interpreter started for a module that is not going to run.
async fn withdraw(
    python: Option<(PythonModule, std::io::Result<Warm>)>,
    result: JobResult,
) -> JobResult {
    if let Some((_, Ok(warm))) = python {
        warm.stop().await;
    }
    result
}

/// Run the module's process and turn its exit into an outcome.
async fn execute(job: &Job, cancel: watch::Receiver<bool>) -> Outcome {
    let finished = exec::run(&job.invocation, cancel).await;
    outcome_of(finished, job.invocation.timeout)
}

/// What a finished process means for its module.
fn outcome_of(finished: Finished, timeout: Option<Duration>) -> Outcome {
    match finished.exit {
        Exit::TimedOut => Outcome::TimedOut {
            after_ms: u64::try_from(timeout.unwrap_or_default().as_millis()).unwrap_or(u64::MAX),
        },
        Exit::Cancelled => Outcome::Cancelled { started: true },
        exit => match Failure::of_exit(exit) {
            None => Outcome::Succeeded,
            Some(failure) => Outcome::Failed {
                failure,
                tail: finished.tail,
            },
        },
    }
}

/// Deploy a `files` module's scripts and files with the ledger; its log lists what it did.
async fn deploy(job: &Job, options: FilesOptions, check_only: bool) -> Outcome {
    let mut ledger = job.ledger.clone();
    let log = job.invocation.log_path.clone();
    let done = tokio::task::spawn_blocking(move || {
        crate::deploy::ledgered::prerun(&mut ledger, &options).map_err(|e| message::failed_to(&e))
    })
    .await
    .unwrap_or_else(|join| Err(format!("the deployment panicked: {join}")));
    let done = match done {
        Ok(done) => done,
        Err(why) => {
            return Outcome::Failed {
                failure: Failure::Error(why),
                tail: String::new(),
            };
        }
    };
    let report = deploy_report(&done);
    if let Some(dir) = log.parent() {
        let _ = fs_err::create_dir_all(dir);
    }
    let _ = fs_err::write(&log, &report);
    let conflicts = done
        .applied
        .skipped
        .iter()
        .filter(|s| s.action == crate::deploy::Action::Conflict)
        .count();
    let refused = done
        .applied
        .skipped
        .iter()
        .filter(|s| matches!(s.action, crate::deploy::Action::Refused(_)))
        .count();
    let failed_scripts = done.scripts.iter().filter(|s| !s.succeeded()).count();
    if done.applied.failed.is_empty() && conflicts == 0 && refused == 0 && failed_scripts == 0 {
        if check_only && done.applied.processed.is_empty() && done.scripts.is_empty() {
            return Outcome::Skipped {
                reason: "nothing to deploy".into(),
            };
        }
        return Outcome::Succeeded;
    }
    Outcome::Failed {
        failure: Failure::Error(format!(
            "{} failed, {refused} refused (see its log), {conflicts} in conflict (changed since upkeep wrote them; `upkeep files apply --force`), {} failed",
            message::count(done.applied.failed.len(), "file", "files"),
            message::count(failed_scripts, "script", "scripts"),
        )),
        tail: report,
    }
}

fn deploy_report(done: &crate::deploy::ledgered::Prerun) -> String {
    let mut text = String::new();
    for run in &done.scripts {
        let _ = writeln!(text, "script {}: {:?}", run.script.name, run.outcome);
    }
    for p in &done.applied.processed {
        let _ = writeln!(
            text,
            "{} {} -> {}",
            p.action,
            p.source.display(),
            p.destination.display()
        );
    }
    for f in &done.applied.failed {
        let _ = writeln!(text, "FAILED {}: {}", f.source.display(), f.reason);
    }
    for s in &done.applied.skipped {
        let _ = writeln!(text, "{} {}", s.action, s.source.display());
    }
    text
}

/// Check the module's folder against its declared checksum before anything runs (the
/// integrity gate, [`crate::checksum::gate`], which `plan` and `doctor` show too), and the
/// folders of the modules its code runs (a refusal of one of those refuses it).
async fn verify(job: &Job) -> Result<Option<String>, Outcome> {
    let own = verify_one(
        &job.name,
        job.dir.clone(),
        job.declared_checksum.clone(),
        &job.ledger,
    )
    .await?;
    for carried in &job.carried {
        let checked = verify_one(
            &carried.name,
            carried.dir.clone(),
            carried.declared_checksum.clone(),
            &job.ledger,
        )
        .await;
        if let Err(Outcome::IntegrityRefused {
            expected,
            actual,
            changes,
            reason,
        }) = checked
        {
            return Err(Outcome::IntegrityRefused {
                expected,
                actual,
                changes,
                reason: format!(
                    "`{}` runs the code of `{}`, which is refused: {reason}",
                    job.name, carried.name
                ),
            });
        }
    }
    Ok(own)
}

/// Check one module folder against its declared checksum through the gate.
async fn verify_one(
    name: &str,
    dir: Option<PathBuf>,
    declared: Option<String>,
    ledger: &LedgerHandle,
) -> Result<Option<String>, Outcome> {
    let Some(dir) = dir else {
        return Ok(None);
    };
    let (owner, wanted_checksum, ledger) = (name.to_owned(), declared.clone(), ledger.clone());
    let checked = tokio::task::spawn_blocking(move || {
        crate::checksum::gate(
            &owner,
            &dir,
            wanted_checksum.as_deref(),
            || integrity::digest_dir(&dir),
            |wanted| {
                let (module, wanted) = (owner.clone(), wanted.to_owned());
                ledger
                    .call(move |ledger| ledger.recorded_files(&module, &wanted))
                    .ok()
                    .and_then(|read| read.ok().flatten())
            },
        )
    })
    .await;
    match checked {
        Ok(Ok(checksum)) => Ok(Some(checksum)),
        Ok(Err(refusal)) => Err(Outcome::IntegrityRefused {
            expected: refusal.expected,
            actual: refusal.actual,
            changes: refusal.changes,
            reason: refusal.reason,
        }),
        Err(join) => Err(Outcome::IntegrityRefused {
            expected: declared,
            actual: None,
            changes: None,
            reason: format!("hashing panicked: {join}"),
        }),
    }
}
