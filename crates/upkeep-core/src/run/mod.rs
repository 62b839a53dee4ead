//! Runs: take the lock, recover from an interrupted run, plan, execute the plan with
//! bounded parallelism, record every outcome, write back to a seed manifest, summarize.

mod ahead;
mod cancel;
mod interpreters;
mod job_for;
mod logs;
mod module;
mod notices;
mod outcome;
pub(crate) mod safety;
mod scheduler;
mod tagging;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

pub use cancel::Cancel;
pub use outcome::{
    Failure, ModuleResult, NullReporter, Outcome, Ran, Reporter, RunEvent, RunResult, RunSummary,
    UpstreamChange,
};

use crate::lock::{LockError, RunLock};
use crate::manifest::{Manifest, ManifestFormat, writeback};
use crate::notify::events as notify_events;
use crate::plan::{self, PlanError, PlanOptions};
use crate::state::writer::{LedgerOp, LedgerWriter};
use crate::state::{Ledger, StateError, now_ms};

/// How to run.
#[derive(Debug, Clone)]
#[expect(
    clippy::struct_excessive_bools,
    reason = "independent switches, one per command-line flag"
)]
pub struct RunOptions {
    /// What to select and whether to force.
    pub plan: PlanOptions,
    /// State directory (ledger, lock, logs).
    pub state_dir: PathBuf,
    /// Modules running at once.
    pub jobs: usize,
    /// Plan and report without executing anything or writing any state.
    pub dry_run: bool,
    /// Hand module output lines to the reporter as well as the log.
    pub stream_output: bool,
    /// Timeout for modules that set none (overrides the manifest default when set).
    pub timeout: Option<Duration>,
    /// Time between SIGTERM and SIGKILL when stopping a module.
    pub grace: Duration,
    /// What started the run (`manual`, `schedule:NAME`, ...).
    pub trigger: String,
    /// Wait for the lock instead of failing at once.
    pub wait_for_lock: bool,
    /// With `wait_for_lock`, give up (with [`LockError::Held`]) after this long; `None`
    /// waits as long as it takes.
    pub lock_bound: Option<Duration>,
    /// Stop the run: no new module starts and running ones are stopped (SIGTERM to their
    /// group, then SIGKILL after the grace period). With `handle_signals`, SIGINT and
    /// SIGTERM cancel it too.
    pub cancel: Cancel,
    /// Cancel the run on SIGINT and SIGTERM.
    pub handle_signals: bool,
    /// How pre-update backups are taken.
    pub backup: crate::backup::BackupConfig,
    /// Which notifications the run enqueues, and the courier to wake for them.
    pub notify: crate::notify::Notifier,
    /// Log directories of each kind (`run-N`, `rollback-MS`, `prerun-MS`) kept, the newest
    /// ones, this run's included; older ones are deleted while the run's modules run.
    /// `None` keeps them all.
    pub keep_logs: Option<usize>,
    /// The most bytes one module's log keeps in a run (its start and its end); `None`
    /// keeps everything.
    pub log_cap: Option<u64>,
}

impl RunOptions {
    /// Defaults for a manual run against `state_dir`.
    pub fn new(state_dir: PathBuf) -> Self {
        Self {
            plan: PlanOptions::default(),
            state_dir,
            jobs: std::thread::available_parallelism().map_or(2, std::num::NonZero::get),
            dry_run: false,
            stream_output: false,
            timeout: None,
            grace: Duration::from_secs(5),
            trigger: "manual".to_owned(),
            wait_for_lock: false,
            lock_bound: None,
            cancel: Cancel::default(),
            handle_signals: false,
            backup: crate::backup::BackupConfig::default(),
            notify: crate::notify::Notifier::default(),
            keep_logs: None,
            log_cap: Some(crate::exec::DEFAULT_LOG_CAP),
        }
    }
}

/// Why a run could not go on at all (module failures are outcomes, not errors).
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// Another run holds the lock.
    #[error(transparent)]
    Lock(#[from] LockError),
    /// The ledger failed.
    #[error(transparent)]
    State(#[from] StateError),
    /// The targets are invalid.
    #[error(transparent)]
    Plan(#[from] PlanError),
    /// A run the ledger has without an end is still running (the lock file was deleted
    /// under it): nothing is recovered or run.
    #[error(
        "take over from run {run_id}: its upkeep (pid {pid}) is still running although the run lock was free (was `upkeep.lock` deleted?)"
    )]
    HolderAlive {
        /// The run.
        run_id: i64,
        /// Its upkeep's process.
        pid: u32,
    },
    /// Undoing what an interrupted run left half-done failed.
    #[error("recover from an interrupted run")]
    Recovery(#[source] Box<crate::backup::BackupError>),
    /// The async runtime could not start.
    #[error("start the runtime")]
    Runtime(#[source] std::io::Error),
    /// Writing lastApplied back into the seed manifest failed (the ledger is up to date).
    #[error(transparent)]
    WriteBack(#[from] writeback::WriteBackError),
}

/// Plan and run `manifest`, reporting progress to `reporter`.
///
/// # Errors
/// [`RunError`] when upkeep itself cannot go on; module failures are in the summary.
pub fn run(
    manifest: &Manifest,
    options: &RunOptions,
    reporter: &Arc<dyn Reporter>,
) -> Result<RunSummary, RunError> {
    if options.dry_run {
        return dry_run(manifest, options, reporter.as_ref());
    }
    let (runtime, interpreters) = start_runtime(manifest)?;
    let (_lock, mut ledger, interpreters) =
        take_over(options, &runtime, interpreters, manifest, reporter.as_ref())?;
    let states = ledger.module_states()?;
    let plan = plan::plan(manifest, &states, &options.plan)?;
    let interpreters = runtime.block_on(interpreters.fit(manifest, &plan, options.jobs));
    let run = begin(&mut ledger, manifest, options, &plan)?;
    let run_id = run.id;
    crate::failpoint::crash_point!("run::after-begin");
    let started = Instant::now();
    reporter.event(&RunEvent::Started {
        run_id: Some(run_id),
        total: plan.steps.len(),
        to_run: plan.to_run(),
        jobs: options.jobs,
    });
    let writer = LedgerWriter::spawn_waking(ledger, options.notify.waker());
    let pruning = start_pruning(&runtime, options, run_id);
    let context = scheduler::Context {
        manifest: Arc::new(manifest.clone()),
        options: options.clone(),
        run_id: Some(run_id),
        run: Some(run),
        reporter: reporter.clone(),
        states,
        found: scheduler::Found::default(),
        interpreters,
        ledger: writer.handle(),
    };
    let (modules, cancelled) = runtime.block_on(scheduler::execute(&context, &plan, Some(&writer)));
    wait_for_pruning(&runtime, pruning, reporter.as_ref());
    let result = RunSummary::result_of(&modules, cancelled);
    let finished = notices::run_finished(run, result, &modules, elapsed_ms(started));
    writer.send(LedgerOp::RunFinished {
        run_id,
        finished_ms: now_ms(),
        result: result.status(),
        notices: options.notify.routing.rows(&[finished]),
    });
    let ledger = writer.finish()?;
    drop(ledger);
    if manifest.format == ManifestFormat::SeedJson {
        crate::failpoint::crash_point!("run::before-write-back");
        write_back(manifest, &modules)?;
    }
    let summary = RunSummary {
        run_id: Some(run_id),
        result,
        dry_run: false,
        duration_ms: elapsed_ms(started),
        modules,
    };
    reporter.event(&RunEvent::Finished(summary.clone()));
    Ok(summary)
}

/// Delete old log directories (see [`logs`]) on a blocking thread while the modules run.
fn start_pruning(
    runtime: &tokio::runtime::Runtime,
    options: &RunOptions,
    run_id: i64,
) -> Option<tokio::task::JoinHandle<logs::Pruned>> {
    let keep = options.keep_logs?;
    let logs = options.state_dir.join("logs");
    let current = u64::try_from(run_id).ok();
    Some(runtime.spawn_blocking(move || logs::prune(&logs, keep, current)))
}

/// Wait for [`start_pruning`]'s thread, and warn about what it could not delete: the
/// run's result does not depend on it, but the logs would otherwise grow unnoticed.
fn wait_for_pruning(
    runtime: &tokio::runtime::Runtime,
    pruning: Option<tokio::task::JoinHandle<logs::Pruned>>,
    reporter: &dyn Reporter,
) {
    let Some(Ok(pruned)) = pruning.map(|p| runtime.block_on(p)) else {
        return;
    };
    for failure in pruned.failures {
        reporter.event(&RunEvent::Warning(format!(
            "could not delete an old log directory (logging.max_log_files): {failure}"
        )));
    }
}

/// The run's async runtime, and a Python interpreter already starting in it: an
/// interpreter takes longer to start than everything upkeep does before its first module
/// runs, so one starts first, while upkeep plans and records the run.
fn start_runtime(
    manifest: &Manifest,
) -> Result<(tokio::runtime::Runtime, interpreters::Interpreters), RunError> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(RunError::Runtime)?;
    let interpreters = {
        let _entered = runtime.enter();
        interpreters::Interpreters::start_early(manifest)
    };
    Ok((runtime, interpreters))
}

/// Take the run lock, waiting for it if asked to. Interpreters started before a wait are
/// stopped: the run holding the lock may change what they already saw.
fn lock(
    options: &RunOptions,
    runtime: &tokio::runtime::Runtime,
    interpreters: interpreters::Interpreters,
) -> Result<(RunLock, interpreters::Interpreters), RunError> {
    match RunLock::acquire(&options.state_dir, false) {
        Err(LockError::Held { .. }) if options.wait_for_lock => {
            let interpreters = runtime.block_on(interpreters.discard());
            let lock = match options.lock_bound {
                Some(bound) => RunLock::acquire_within(&options.state_dir, bound)?,
                None => RunLock::acquire(&options.state_dir, true)?,
            };
            Ok((lock, interpreters))
        }
        lock => Ok((lock?, interpreters)),
    }
}

/// Take the lock, listen for signals and recover what interrupted runs left. Returns the
/// lock, the ledger and the interpreters still fit to use.
fn take_over(
    options: &RunOptions,
    runtime: &tokio::runtime::Runtime,
    interpreters: interpreters::Interpreters,
    manifest: &Manifest,
    reporter: &dyn Reporter,
) -> Result<(RunLock, Ledger, interpreters::Interpreters), RunError> {
    let (lock, mut interpreters) = lock(options, runtime, interpreters)?;
    if options.handle_signals {
        // From here on, SIGINT and SIGTERM cancel the run instead of killing upkeep: a
        // signal during recovery lets it finish putting paths back, and the run then
        // starts nothing.
        let _entered = runtime.enter();
        scheduler::listen_for_signals(options.cancel.sender());
    }
    let ledger = Ledger::open(&options.state_dir)?;
    let (ledger, recovered) = recover(runtime, ledger, manifest, options, reporter)?;
    if recovered {
        // Recovery may have restored files the interpreter already looked at.
        interpreters = runtime.block_on(interpreters.discard());
    }
    Ok((lock, ledger, interpreters))
}

/// Record the run's start, with its "run started" notification, and wake the courier.
fn begin(
    ledger: &mut Ledger,
    manifest: &Manifest,
    options: &RunOptions,
    plan: &plan::Plan,
) -> Result<notify_events::RunRef, RunError> {
    // Absolute, so that `status`, `history` and `plan` run from anywhere find it again
    // (`ops::Context` falls back to the last run's manifest).
    let path = std::path::absolute(&manifest.path).unwrap_or_else(|_| manifest.path.clone());
    let run = ledger.begin_run_notifying(&options.trigger, &path, options.jobs, |run| {
        let (to_run, total) = (plan.to_run(), plan.steps.len());
        let started = notify_events::run_started(run, &options.trigger, to_run, total);
        options.notify.routing.rows(&[started])
    })?;
    options.notify.wake();
    Ok(run)
}

/// Undo what interrupted runs left: stop their processes, mark them interrupted, finish
/// their restores and roll back their unfinished updates. Returns the ledger and whether
/// there was anything to undo.
///
/// The work runs on a blocking thread while the runtime waits for it, so the signal
/// listener sees a SIGTERM or SIGINT as it comes (the run then starts nothing) while
/// recovery goes on to its end: stopping half-way would leave a path half-restored.
fn recover(
    runtime: &tokio::runtime::Runtime,
    mut ledger: Ledger,
    manifest: &Manifest,
    options: &RunOptions,
    reporter: &dyn Reporter,
) -> Result<(Ledger, bool), RunError> {
    // Archives a killed `backup create` left half-written, with or without a run.
    crate::backup::sweep_temporaries(&options.state_dir);
    let anything = ledger.needs_recovery()?;
    if anything {
        let options = options.clone();
        let (back, result) = runtime
            .block_on(async move {
                tokio::task::spawn_blocking(move || {
                    let result = recover_now(&mut ledger, &options);
                    (ledger, result)
                })
                .await
            })
            .map_err(|err| RunError::Runtime(std::io::Error::other(err)))?;
        ledger = back;
        let (runs, restored) = result?;
        reporter.event(&RunEvent::Recovered { runs, restored });
    }
    // Restores killed before their journal began leave staging beside the paths too.
    sweep_restore_scratch(manifest, options);
    Ok((ledger, anything))
}

/// [`recover`]'s work, in an order that survives a crash at any point of it: the
/// processes of a run without an end are stopped before the run is marked interrupted
/// (a crash between the two stops them again), and every undo stays owed in the ledger
/// until its rollback is recorded ([`crate::backup::recover`]).
fn recover_now(
    ledger: &mut Ledger,
    options: &RunOptions,
) -> Result<(Vec<i64>, Vec<crate::backup::Recovered>), RunError> {
    for pid in refuse_live_holders(ledger)? {
        // A killed run's modules may still be running; stop them before anything is
        // restored or run again on top of them.
        let killed = crate::exec::kill_leftovers(pid);
        if killed > 0 {
            tracing::warn!(pid, killed, "stopped processes left by an interrupted run");
        }
    }
    crate::failpoint::crash_point!("recovery::leftovers-stopped");
    let routing = &options.notify.routing;
    let tell =
        |run, running: &[String]| routing.rows(&[notify_events::run_interrupted(run, running)]);
    let tell: Option<&crate::state::InterruptedNotices<'_>> = routing
        .wants(crate::notify::EventKind::RunFinished)
        .then_some(&tell);
    let recovered = ledger.recover_interrupted_notifying(tell)?;
    crate::failpoint::crash_point!("recovery::runs-marked");
    let restored = crate::backup::recover(ledger, &options.state_dir, routing)
        .map_err(|err| RunError::Recovery(Box::new(err)))?;
    // Their "run finished" events, and those of the rollbacks that undid them.
    options.notify.wake();
    Ok((recovered, restored))
}

/// A run without an end whose process still lives was not interrupted: it runs, and the
/// lock was taken around it (its file deleted and made anew). Recovering would stop its
/// modules and restore under it, so this run does not go on. A process that started
/// after the run began is another one that was given the same id: the run's holder is gone.
/// Returns the process ids of the runs without an end, whose holders are gone.
fn refuse_live_holders(ledger: &Ledger) -> Result<Vec<u32>, RunError> {
    let mut gone = Vec::new();
    for (run_id, pid, started_ms) in ledger.unfinished_runs()? {
        let same = crate::exec::process_started_ms(pid)
            .is_some_and(|process_started| process_started <= started_ms + 1000);
        if pid == std::process::id() {
            // The id came round to this process: what carries its token is ours.
            continue;
        }
        if same {
            return Err(RunError::HolderAlive { run_id, pid });
        }
        gone.push(pid);
    }
    Ok(gone)
}

/// Remove what restores killed before they finished left beside the modules' paths
/// (their staging directories), now that recovery has finished every journaled one.
fn sweep_restore_scratch(manifest: &Manifest, options: &RunOptions) {
    let kind = crate::backup::BackupKind::Module;
    let Ok(roots) = crate::backup::roots_for(manifest, &options.state_dir, kind, &[], true) else {
        return;
    };
    let paths = || roots.iter().map(|r| std::path::Path::new(&r.path));
    let mut removed = crate::archive::sweep_stale_stages(paths());
    removed.extend(crate::backup::sweep_stale_snapshots(paths()));
    if !removed.is_empty() {
        tracing::info!(?removed, "removed staging left by an interrupted restore");
    }
}

fn dry_run(
    manifest: &Manifest,
    options: &RunOptions,
    reporter: &dyn Reporter,
) -> Result<RunSummary, RunError> {
    let ledger = Ledger::open_existing(&options.state_dir)?;
    let states = match &ledger {
        Some(ledger) => ledger.module_states()?,
        None => HashMap::new(),
    };
    let mut plan = plan::plan(manifest, &states, &options.plan)?;
    // A dry run says what the run would refuse, by the run's own gate.
    let approved = |module: &str, checksum: &str| {
        ledger
            .as_ref()
            .and_then(|l| l.recorded_files(module, checksum).ok().flatten())
    };
    plan.gate(manifest, options.jobs.max(1), &approved);
    reporter.event(&RunEvent::Started {
        run_id: None,
        total: plan.steps.len(),
        to_run: plan.to_run(),
        jobs: options.jobs,
    });
    let modules: Vec<ModuleResult> = plan
        .steps
        .iter()
        .filter(|s| !s.is_group())
        .map(|step| {
            let outcome = dry_outcome(step);
            let result = ModuleResult {
                module: step.name.clone(),
                outcome,
                ran: None,
                version_before: step.applied_version.clone(),
                version_after: step.applied_version.clone(),
                log_path: None,
                upstream: UpstreamChange::of(
                    step,
                    manifest.modules[step.module_index]
                        .source
                        .as_ref()
                        .is_some_and(|s| s.kind.lists_packages()),
                    false,
                ),
            };
            reporter.event(&RunEvent::ModuleFinished(result.clone()));
            result
        })
        .collect();
    let summary = RunSummary {
        run_id: None,
        // What the run would end with, so a dry run's exit code agrees with the run's.
        result: RunSummary::result_of(&modules, false),
        dry_run: true,
        duration_ms: 0,
        modules,
    };
    reporter.event(&RunEvent::Finished(summary.clone()));
    Ok(summary)
}

/// What a dry run says of a step: the gate's refusal, a block by a refused requirement,
/// or whether its action runs.
fn dry_outcome(step: &plan::Step) -> Outcome {
    if let Some(refusal) = &step.refused {
        Outcome::IntegrityRefused {
            expected: refusal.expected.clone(),
            actual: refusal.actual.clone(),
            changes: refusal.changes.clone(),
            reason: refusal.reason.clone(),
        }
    } else if let Some(root) = &step.blocked_by {
        Outcome::Blocked {
            by: root.clone(),
            reason: format!("required module `{root}` would be refused"),
        }
    } else if step.action.runs() {
        Outcome::WouldRun
    } else {
        Outcome::Skipped {
            reason: step.action.describe(),
        }
    }
}

fn write_back(manifest: &Manifest, modules: &[ModuleResult]) -> Result<(), RunError> {
    let applied_at = jiff::Timestamp::now()
        .round(jiff::Unit::Second)
        .unwrap_or_default()
        .to_string();
    let updates: Vec<writeback::Applied> = modules
        .iter()
        .filter(|m| m.outcome == Outcome::Succeeded)
        .map(|m| writeback::Applied {
            module: m.module.clone(),
            last_applied: applied_at.clone(),
            last_safe_version: manifest
                .module(&m.module)
                .and_then(|s| s.version.as_ref())
                .map(ToString::to_string),
        })
        .collect();
    if !updates.is_empty() {
        writeback::write_back(&manifest.path, &updates)?;
    }
    Ok(())
}

fn elapsed_ms(since: Instant) -> u64 {
    u64::try_from(since.elapsed().as_millis()).unwrap_or(u64::MAX)
}
