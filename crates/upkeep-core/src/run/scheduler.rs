//! The scheduler: starts ready modules up to the job limit, resolves modules that need no
//! process at once (up to date, disabled, groups, blocked), and propagates failures to
//! children and dependents while everything independent goes on.

use std::collections::{BTreeSet, HashMap};
use std::ffi::OsString;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::watch;
use tokio::task::JoinSet;

use super::RunOptions;
use super::ahead::{Ahead, LogSlots, Planned};
use super::events::{Failure, ModuleResult, Outcome, Ran, Reporter, RunEvent};
use super::module::{Job, JobResult, PythonJob, run_job};
use super::safety::Safety;
use crate::deploy::ledgered::FilesOptions;
use crate::exec::{self, Interpreter, Invocation, LineSink, PythonModule, Warm};
use crate::manifest::{Manifest, ModuleKind, ModuleSpec};
use crate::module_env;
use crate::plan::{Action, Plan, Step};
use crate::state::ModuleState;
use crate::state::RunRef;
use crate::state::now_ms;
use crate::state::writer::{Applied, LedgerHandle, LedgerOp, LedgerWriter, ModuleRecord};

pub(super) struct Context {
    /// Shared with the thread that makes files ahead ([`Ahead`]).
    pub(super) manifest: Arc<Manifest>,
    pub(super) options: RunOptions,
    pub(super) run_id: Option<i64>,
    /// The run as its notifications name it (`None` in a dry run).
    pub(super) run: Option<RunRef>,
    pub(super) reporter: Arc<dyn Reporter>,
    pub(super) states: HashMap<String, ModuleState>,
    /// Whether the manifest directory is the top of a git work tree, found out once.
    pub(super) git_repo: std::sync::OnceLock<bool>,
    /// The run's Python interpreter, and those started ahead for its Python modules.
    pub(super) interpreters: Interpreters,
    /// The run's ledger writer, for the writes its modules' tasks make as they go.
    pub(super) ledger: LedgerHandle,
}

/// The run's Python interpreter (`None` when no Python module runs; an error when it is
/// not found), and interpreters already started with it for the modules about to run (see
/// [`crate::exec::Warm`]). A version-manager shim is resolved by the first interpreter
/// started through it ([`Interpreter`]).
#[derive(Debug, Default)]
pub(super) struct Interpreters {
    python: Option<Result<Interpreter, String>>,
    warm: Mutex<Vec<Warm>>,
}

impl Interpreters {
    /// Start one interpreter before the run even takes its lock, when the manifest has an
    /// enabled Python module. It is a guess made before the plan: [`Self::fit`] stops it
    /// when no Python module runs. Must be called within the run's runtime.
    pub(super) fn start_early(manifest: &Manifest) -> Self {
        let any_python = manifest
            .modules
            .iter()
            .any(|m| m.enabled && matches!(m.kind, ModuleKind::Python { .. }));
        if !any_python {
            return Self::default();
        }
        let Ok(interpreter) = find_python(manifest) else {
            return Self::default();
        };
        let warm = interpreter.try_start(&manifest.root).and_then(Result::ok);
        Self {
            python: Some(Ok(interpreter)),
            warm: Mutex::new(warm.into_iter().collect()),
        }
    }

    /// Fit what was started to `plan`: none when it runs no Python module; otherwise one
    /// started for each Python module that can start at once (none of its requirements
    /// runs), up to `jobs`. Behind a shim that is still being asked, the others start when
    /// their modules do.
    pub(super) async fn fit(self, manifest: &Manifest, plan: &Plan, jobs: usize) -> Self {
        if !plan.steps.iter().any(runs_python) {
            self.stop_unused().await;
            return Self::default();
        }
        let python = self.python.unwrap_or_else(|| find_python(manifest));
        let mut warm = self
            .warm
            .into_inner()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let running: std::collections::HashSet<&str> = plan
            .steps
            .iter()
            .filter(|s| s.action.runs())
            .map(|s| s.name.as_str())
            .collect();
        let at_once = plan
            .steps
            .iter()
            .filter(|s| runs_python(s) && s.requires.iter().all(|r| !running.contains(r.as_str())))
            .count()
            .min(jobs.max(1));
        if let Ok(interpreter) = &python {
            let more = at_once.saturating_sub(warm.len());
            warm.extend(
                (0..more).map_while(|_| interpreter.try_start(&manifest.root).and_then(Result::ok)),
            );
        }
        Self {
            python: Some(python),
            warm: Mutex::new(warm),
        }
    }

    /// A started interpreter that may serve a module whose requirements that ran all ended
    /// by `ready_since`: one started after that, so it saw what they left.
    fn take(&self, ready_since: Option<Instant>) -> Option<Warm> {
        let mut warm = self.pool();
        let usable = warm
            .iter()
            .position(|w| ready_since.is_none_or(|t| w.started_at() > t))?;
        Some(warm.swap_remove(usable))
    }

    /// With none left, start one more when `waiting` says a Python module is ready but
    /// waits for a free job slot.
    fn top_up(&self, root: &std::path::Path, waiting: impl FnOnce() -> bool) {
        let Some(Ok(interpreter)) = &self.python else {
            return;
        };
        let mut warm = self.pool();
        if warm.is_empty() && waiting() {
            warm.extend(interpreter.try_start(root).and_then(Result::ok));
        }
    }

    fn pool(&self) -> std::sync::MutexGuard<'_, Vec<Warm>> {
        self.warm
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Stop every one started so far and forget the interpreter: [`Self::fit`] starts
    /// afresh.
    pub(super) async fn discard(self) -> Self {
        self.stop_unused().await;
        Self::default()
    }

    /// Stop the ones no module took.
    async fn stop_unused(&self) {
        let unused: Vec<Warm> = std::mem::take(&mut *self.pool());
        for warm in unused {
            warm.stop().await;
        }
    }
}

impl Context {
    /// Whether healthy updates can be tagged: the manifest directory is itself a git
    /// repository's work tree (as the seeds' updates directory is), not merely inside one.
    fn updates_dir_is_repo(&self) -> bool {
        *self.git_repo.get_or_init(|| {
            let root = &self.manifest.root;
            // The top of a work tree holds `.git` (a directory, or a file in linked work
            // trees); without one there is no need to ask git.
            if fs_err::symlink_metadata(root.join(".git")).is_err() {
                return false;
            }
            let argv = ["git", "rev-parse", "--show-toplevel"];
            exec::capture(&argv, root, Duration::from_secs(10)).is_ok_and(|out| {
                out.success()
                    && fs_err::canonicalize(out.stdout.trim()).ok()
                        == fs_err::canonicalize(root).ok()
            })
        })
    }
}

/// How a finished step counts for what comes after it.
#[derive(Debug, Clone)]
enum Resolution {
    Satisfied,
    /// Dependents are blocked; `root` is the module whose failure is the cause.
    Unsatisfied {
        root: String,
    },
}

struct State<'p> {
    steps: &'p [Step],
    remaining: Vec<usize>,
    dependents: Vec<Vec<usize>>,
    resolved: Vec<Option<Resolution>>,
    ready: BTreeSet<usize>,
    /// When each step that ran a process ended.
    ended_at: Vec<Option<Instant>>,
    critical_left: usize,
    /// Results with their plan index, in the order modules ended.
    results: Vec<(usize, ModuleResult)>,
    /// The log files made ahead, by plan index.
    logs: LogSlots,
}

impl<'p> State<'p> {
    fn new(plan: &'p Plan) -> Self {
        let index: HashMap<&str, usize> = plan
            .steps
            .iter()
            .enumerate()
            .map(|(i, s)| (s.name.as_str(), i))
            .collect();
        let n = plan.steps.len();
        let mut dependents = vec![Vec::new(); n];
        let mut remaining = vec![0; n];
        for (i, step) in plan.steps.iter().enumerate() {
            for req in step.requires.iter().filter_map(|r| index.get(r.as_str())) {
                dependents[*req].push(i);
                remaining[i] += 1;
            }
        }
        let ready = (0..n).filter(|&i| remaining[i] == 0).collect();
        let critical_left = plan.steps.iter().filter(|s| s.critical).count();
        Self {
            steps: &plan.steps,
            remaining,
            dependents,
            resolved: vec![None; n],
            ready,
            ended_at: vec![None; n],
            critical_left,
            results: Vec::new(),
            logs: LogSlots::new(n),
        }
    }

    /// The first ready step that may start: critical steps first, and nothing else until
    /// every critical step has ended.
    fn next_ready(&mut self) -> Option<usize> {
        let pick = self
            .ready
            .iter()
            .copied()
            .find(|&i| self.critical_left == 0 || self.steps[i].critical)?;
        self.ready.remove(&pick);
        Some(pick)
    }

    fn resolve(&mut self, index: usize, resolution: Resolution) {
        if self.steps[index].critical {
            self.critical_left -= 1;
        }
        self.resolved[index] = Some(resolution);
        for &d in &self.dependents[index] {
            self.remaining[d] -= 1;
            if self.remaining[d] == 0 {
                self.ready.insert(d);
            }
        }
    }

    /// When the last of the requirements of `index` that ran a process ended, if any did.
    fn ready_since(&self, index: usize, names: &HashMap<&str, usize>) -> Option<Instant> {
        self.steps[index]
            .requires
            .iter()
            .filter_map(|r| names.get(r.as_str()))
            .filter_map(|&r| self.ended_at[r])
            .max()
    }

    /// The first requirement of `index` that did not end well, and the module at the
    /// root of that failure.
    fn blocker(&self, index: usize, names: &HashMap<&str, usize>) -> Option<(usize, String)> {
        let requires = self.steps[index]
            .requires
            .iter()
            .filter_map(|r| names.get(r.as_str()));
        requires.copied().find_map(|r| match &self.resolved[r] {
            Some(Resolution::Unsatisfied { root, .. }) => Some((r, root.clone())),
            _ => None,
        })
    }
}

/// Execute `plan`. Returns every module's result and whether the run was cancelled.
pub(super) async fn execute(
    ctx: &Context,
    plan: &Plan,
    writer: Option<&LedgerWriter>,
) -> (Vec<ModuleResult>, bool) {
    let cancel = &ctx.options.cancel;
    let cancel_rx = cancel.subscribe();
    if ctx.options.handle_signals {
        spawn_signal_listener(cancel.sender());
    }
    let mut state = State::new(plan);
    let ahead = prepare_files(ctx, plan, state.logs.clone());
    let names: HashMap<&str, usize> = plan
        .steps
        .iter()
        .enumerate()
        .map(|(i, s)| (s.name.as_str(), i))
        .collect();
    let mut tasks: JoinSet<JobResult> = JoinSet::new();
    let mut cancel_seen = cancel_rx.clone();
    // Thrown before the run started: nothing starts.
    let mut cancelled = cancel.is_cancelled();
    loop {
        while !cancelled && tasks.len() < ctx.options.jobs.max(1) {
            let Some(index) = state.next_ready() else {
                break;
            };
            if needs_process(ctx, &mut state, index, &names, writer) {
                match job_for(ctx, &state, index, &names) {
                    Ok(job) => {
                        record_start(ctx, &state.steps[index], &job, writer);
                        tasks.spawn(run_job(job, cancel_rx.clone()));
                    }
                    Err(o) => finish(ctx, &mut state, JobResult::not_run(index, *o), writer),
                }
            }
        }
        if tasks.is_empty() {
            break;
        }
        if !cancelled {
            top_up_for_waiting(ctx, &state);
        }
        tokio::select! {
            Some(joined) = tasks.join_next() => {
                finish(ctx, &mut state, joined.expect("module tasks do not panic"), writer);
            }
            Ok(()) = cancel_seen.changed(), if !cancelled => {
                cancelled = *cancel_seen.borrow();
            }
        }
    }
    ctx.interpreters.stop_unused().await;
    if cancelled {
        cancel.cancel();
        cancel_pending(ctx, &mut state, writer);
    }
    ahead.finish(unstarted_logs(ctx, &state)).await;
    // The summary lists modules in plan order, however they interleaved.
    let mut results = state.results;
    results.sort_by_key(|(index, _)| *index);
    let results = results.into_iter().map(|(_, result)| result).collect();
    (results, cancelled)
}

/// Record every module that never started as cancelled.
fn cancel_pending(ctx: &Context, state: &mut State<'_>, writer: Option<&LedgerWriter>) {
    for index in 0..state.steps.len() {
        if state.resolved[index].is_none() && !state.steps[index].is_group() {
            let outcome = Outcome::Cancelled { started: false };
            finish(ctx, state, JobResult::not_run(index, outcome), writer);
        }
    }
}

/// Resolve a step that needs no process (blocked, up to date, disabled, group); returns
/// whether it must run.
fn needs_process(
    ctx: &Context,
    state: &mut State<'_>,
    index: usize,
    names: &HashMap<&str, usize>,
    writer: Option<&LedgerWriter>,
) -> bool {
    let step = &state.steps[index];
    let blocker = state.blocker(index, names);
    if let (Some((via, root)), true) = (&blocker, step.action.runs()) {
        let via = &state.steps[*via].name;
        let reason = if via == root {
            format!("required module `{root}` did not succeed")
        } else {
            format!("required module `{root}` did not succeed (needed through `{via}`)")
        };
        let outcome = Outcome::Blocked {
            by: root.clone(),
            reason,
        };
        finish(ctx, state, JobResult::not_run(index, outcome), writer);
        return false;
    }
    let held = ctx
        .states
        .get(&step.name)
        .and_then(|s| s.needs_intervention.clone());
    if let (Some(reason), true) = (held, step.action.runs()) {
        let reason = format!(
            "held for manual intervention: {reason}; after fixing it, run `upkeep clear {}`",
            step.name
        );
        finish(
            ctx,
            state,
            JobResult::not_run(index, Outcome::Held { reason }),
            writer,
        );
        return false;
    }
    if step.action.runs() {
        return true;
    }
    let outcome = Outcome::Skipped {
        reason: step.action.describe(),
    };
    finish(ctx, state, JobResult::not_run(index, outcome), writer);
    if let Some((_, root)) = blocker {
        // It had nothing to do, so its outcome is its own reason; but what comes after it
        // still must not run on top of a failed prerequisite. Its dependents are not
        // started before this returns, so they see the block.
        state.resolved[index] = Some(Resolution::Unsatisfied { root });
    }
    false
}

/// Record an outcome, tell the reporter, and release dependents.
fn finish(ctx: &Context, state: &mut State<'_>, ended: JobResult, writer: Option<&LedgerWriter>) {
    let JobResult {
        index,
        outcome,
        ran,
        checksum,
    } = ended;
    let step = &state.steps[index];
    let resolution = resolution_of(ctx, step, &outcome);
    if ran.is_some() {
        state.ended_at[index] = Some(Instant::now());
    }
    state.resolve(index, resolution);
    if step.is_group() && !matches!(outcome, Outcome::Blocked { .. }) {
        return;
    }
    let succeeded = outcome == Outcome::Succeeded;
    let version_after = if succeeded {
        step.version.clone()
    } else {
        step.applied_version.clone()
    };
    let log_path = ran.map(|_| log_path(ctx, &step.name).to_string_lossy().into_owned());
    let result = ModuleResult {
        module: step.name.clone(),
        ran,
        version_before: step.applied_version.clone(),
        version_after,
        log_path: log_path.clone(),
        outcome,
    };
    let recorded = !matches!(result.outcome, Outcome::Skipped { .. }) && !step.is_group();
    if let (Some(writer), Some(run_id), true) = (writer, ctx.run_id, recorded) {
        let mut record = ledger_record(run_id, step, &result, checksum);
        if let Some(failed) = ctx
            .run
            .and_then(|run| super::notices::module_failed(run, &result, step.version.as_deref()))
        {
            record.notices = ctx.options.notify.routing.rows(&[failed]);
        }
        writer.send(LedgerOp::ModuleFinished(Box::new(record)));
    }
    ctx.reporter
        .event(&RunEvent::ModuleFinished(result.clone()));
    state.results.push((index, result));
}

/// The ledger's row for a module's result: the one place a [`ModuleResult`] becomes a
/// `module_runs` row (its kind, its exit code or signal, its timing and its detail, each
/// taken from where the result holds it). A success carries what is now applied, in the
/// same transaction.
fn ledger_record(
    run_id: i64,
    step: &Step,
    result: &ModuleResult,
    checksum: Option<String>,
) -> ModuleRecord {
    let finished_ms = result.ran.map_or_else(now_ms, Ran::finished_ms);
    let failure = result.outcome.failure();
    let succeeded = result.outcome == Outcome::Succeeded;
    ModuleRecord {
        run_id,
        module: step.name.clone(),
        outcome: result.outcome.kind(),
        reason: Some(step.action.describe()),
        started_ms: result.ran.map(|ran| ran.started_ms),
        finished_ms,
        duration_ms: result
            .ran
            .map(|ran| i64::try_from(ran.duration_ms).unwrap_or(i64::MAX)),
        exit_code: if succeeded {
            Some(0)
        } else {
            failure.and_then(Failure::exit_code)
        },
        signal: failure.and_then(Failure::signal),
        version_before: result.version_before.clone(),
        version_after: result.version_after.clone(),
        log_path: result.log_path.clone(),
        error: result.outcome.detail(),
        applied: succeeded.then(|| {
            let update = step.update.as_ref().filter(|u| u.has_work());
            Applied {
                version: step.version.clone(),
                checksum: checksum.or_else(|| step.checksum.clone()),
                last_safe_version: step.version.clone(),
                upstream_version: update.and_then(|u| u.target.clone()),
                upstream_check_ms: update.map(|u| u.checked_ms),
            }
        }),
        notices: Vec::new(),
    }
}

fn resolution_of(ctx: &Context, step: &Step, outcome: &Outcome) -> Resolution {
    match outcome {
        Outcome::Blocked { by, .. } => Resolution::Unsatisfied { root: by.clone() },
        Outcome::Skipped { .. }
            if matches!(
                step.action,
                Action::Disabled | Action::ParentDisabled { .. }
            ) =>
        {
            let applied = ctx.states.get(&step.name).is_some_and(ModuleState::applied);
            if applied || step.is_group() {
                Resolution::Satisfied
            } else {
                Resolution::Unsatisfied {
                    root: step.name.clone(),
                }
            }
        }
        other if other.satisfies_dependents() => Resolution::Satisfied,
        _ => Resolution::Unsatisfied {
            root: step.name.clone(),
        },
    }
}

fn log_path(ctx: &Context, module: &str) -> PathBuf {
    log_in(&log_dir(ctx), module)
}

/// A module's log in the run's log directory `dir`.
fn log_in(dir: &std::path::Path, module: &str) -> PathBuf {
    dir.join(format!("{module}.log"))
}

/// The run's log directory, where [`log_path`] puts each module's log.
fn log_dir(ctx: &Context) -> PathBuf {
    let run = ctx.run_id.unwrap_or(0);
    ctx.options
        .state_dir
        .join("logs")
        .join(format!("run-{run}"))
}

fn record_start(ctx: &Context, step: &Step, job: &Job, writer: Option<&LedgerWriter>) {
    if let (Some(writer), Some(run_id)) = (writer, ctx.run_id) {
        writer.send(LedgerOp::ModuleStarted {
            run_id,
            module: step.name.clone(),
            started_ms: now_ms(),
            version_before: step.applied_version.clone(),
            log_path: job.invocation.log_path.to_string_lossy().into_owned(),
        });
    }
    ctx.reporter.event(&RunEvent::ModuleStarted {
        module: step.name.clone(),
        action: step.action.clone(),
    });
}

/// While every job slot is taken and a Python module is ready, have an interpreter
/// starting for it.
fn top_up_for_waiting(ctx: &Context, state: &State<'_>) {
    ctx.interpreters.top_up(&ctx.manifest.root, || {
        state.ready.iter().any(|&i| runs_python(&state.steps[i]))
    });
}

/// Whether `step` runs a Python module.
fn runs_python(step: &Step) -> bool {
    step.action.runs() && step.kind == ModuleKind::PYTHON
}

/// The interpreter the manifest asks for, found on `PATH` when it is a bare name.
fn find_python(manifest: &Manifest) -> Result<Interpreter, String> {
    let configured =
        exec::python::configured_interpreter(&manifest.root, manifest.python.as_deref());
    exec::python::which(&configured)
        .map(Interpreter::new)
        .ok_or_else(|| {
            format!(
                "Python interpreter `{}` not found on PATH",
                configured.display()
            )
        })
}

/// How the Python module `dotted` starts: with an interpreter already started, when one
/// started after its requirements ended (`ready_since`), else with a new one.
fn python_job(
    ctx: &Context,
    dotted: &str,
    ready_since: Option<Instant>,
) -> Result<PythonJob, Box<Outcome>> {
    match &ctx.interpreters.python {
        Some(Ok(interpreter)) => Ok(PythonJob {
            interpreter: interpreter.clone(),
            module: PythonModule {
                root: ctx.manifest.root.clone(),
                dotted: dotted.to_owned(),
            },
            warm: ctx.interpreters.take(ready_since),
        }),
        Some(Err(message)) => Err(Box::new(Outcome::Failed {
            failure: Failure::Error(message.clone()),
            tail: String::new(),
        })),
        None => unreachable!("the interpreter is resolved when a Python module runs"),
    }
}

/// Build the job for a step that runs code, or the outcome when it cannot start.
fn job_for(
    ctx: &Context,
    state: &State<'_>,
    index: usize,
    names: &HashMap<&str, usize>,
) -> Result<Job, Box<Outcome>> {
    let step = &state.steps[index];
    let spec = &ctx.manifest.modules[step.module_index];
    let root = &ctx.manifest.root;
    let mut python = None;
    let argv: Vec<std::ffi::OsString> = match &spec.kind {
        ModuleKind::Python { module, .. } => {
            let job = python_job(ctx, module, state.ready_since(index, names))?;
            let argv = exec::python::argv(&job.interpreter.path(), root, module);
            python = Some(job);
            argv
        }
        ModuleKind::Command { argv } => argv.iter().map(Into::into).collect(),
        ModuleKind::Files { .. } => Vec::new(),
        ModuleKind::Group => unreachable!("groups never run code"),
    };
    let env = module_environment(ctx, step, spec);
    let stream = ctx
        .options
        .stream_output
        .then(|| output_sink(ctx, &step.name));
    let invocation = Invocation {
        argv,
        env,
        cwd: spec.dir.clone().unwrap_or_else(|| root.clone()),
        log_path: log_path(ctx, &step.name),
        stream,
        timeout: spec
            .timeout
            .or(ctx.options.timeout)
            .or(ctx.manifest.default_timeout),
        grace: ctx.options.grace,
        display: log_display(spec),
        log_made: state.logs.take(index),
    };
    Ok(Job {
        index,
        name: step.name.clone(),
        dir: spec.dir.clone(),
        declared_checksum: step.checksum.clone(),
        ledger: ctx.ledger.clone(),
        invocation,
        safety: safety_for(ctx, step, spec)?,
        files: files_for(ctx, step, spec),
        python,
    })
}

/// What a `files` module deploys, and whether it only checks for pending files.
fn files_for(ctx: &Context, step: &Step, spec: &ModuleSpec) -> Option<(FilesOptions, bool)> {
    let ModuleKind::Files {
        root,
        destination,
        placeholders,
    } = &spec.kind
    else {
        return None;
    };
    let mut plan = crate::deploy::PlanOptions {
        placeholders: placeholders.clone(),
        ..crate::deploy::PlanOptions::default()
    };
    if let Some(destination) = destination {
        plan.default_destination.clone_from(destination);
    }
    let scripts = crate::deploy::ScriptOptions {
        python: ctx.manifest.python.as_ref().map(|p| {
            if p.contains('/') {
                ctx.manifest.root.join(p)
            } else {
                PathBuf::from(p)
            }
        }),
        log_dir: log_path(ctx, &step.name).with_extension("scripts"),
        timeout: spec.timeout.or(ctx.options.timeout),
        keep_after_success: false,
    };
    let options = FilesOptions {
        root: root.clone(),
        plan,
        scripts,
        force: false,
        module: Some(spec.name.clone()),
        run_id: ctx.run_id,
        pre_run_command: None,
    };
    Some((options, step.action == Action::CheckFiles))
}

/// The safety steps around a module that owns paths or has a health check.
fn safety_for(
    ctx: &Context,
    step: &Step,
    spec: &ModuleSpec,
) -> Result<Option<Safety>, Box<Outcome>> {
    let git =
        (ctx.manifest.git_tags.enabled && step.version.is_some() && ctx.updates_dir_is_repo())
            .then(|| {
                (
                    ctx.manifest.root.clone(),
                    ctx.manifest.git_tags.format.clone(),
                )
            });
    if spec.paths.is_empty() && spec.health.is_none() && git.is_none() {
        return Ok(None);
    }
    let state_dir = &ctx.options.state_dir;
    let roots = if spec.paths.is_empty() {
        Vec::new()
    } else {
        let kind = crate::backup::BackupKind::Module;
        crate::backup::roots_for(
            &ctx.manifest,
            state_dir,
            kind,
            std::slice::from_ref(&spec.name),
            true,
        )
        .map_err(|err| {
            Box::new(Outcome::BackupFailed {
                reason: crate::message::failed_to(&err),
            })
        })?
    };
    Ok(Some(Safety {
        module: spec.name.clone(),
        state_dir: state_dir.clone(),
        ledger: ctx.ledger.clone(),
        run_id: ctx.run_id,
        roots,
        health: spec.health.clone(),
        rollback: spec.rollback,
        config: ctx.options.backup.clone(),
        version_before: step.applied_version.clone(),
        version_after: step.version.clone(),
        git,
        notify: ctx.run.map(|run| (run, ctx.options.notify.clone())),
    }))
}

/// The environment a module runs with: its context as `UPKEEP_*` variables
/// ([`crate::module_env`], which its health checks share). Creates the module's work
/// directory when upkeep promises it exists ([`ModuleSpec::makes_work_dir`]; usually made
/// ahead by `prepare_files`).
fn module_environment(ctx: &Context, step: &Step, spec: &ModuleSpec) -> Vec<(String, OsString)> {
    let update = step.update.as_ref().filter(|u| u.has_work());
    let env = module_env::ModuleContext {
        spec,
        manifest_root: &ctx.manifest.root,
        state_dir: &ctx.options.state_dir,
        run_id: ctx.run_id,
        action: action_name(&step.action),
        version: step.version.clone(),
        old_version: step.applied_version.clone(),
        update: update.map(|u| module_env::Target {
            version: u.target.clone(),
            current: u.current.clone(),
            packages_json: (!u.packages.is_empty())
                .then(|| serde_json::to_string(&u.packages).ok())
                .flatten(),
        }),
    };
    module_env::ensure_work_dir(&env);
    module_env::variables(&env)
}

/// Hands a module's output lines to the reporter (`-v`).
fn output_sink(ctx: &Context, module: &str) -> LineSink {
    let reporter = ctx.reporter.clone();
    let module = module.to_owned();
    Arc::new(move |stream, line: &str| {
        reporter.event(&RunEvent::ModuleOutput {
            module: module.clone(),
            stream,
            line: line.to_owned(),
        });
    })
}

fn action_name(action: &Action) -> &'static str {
    match action {
        Action::Setup => "setup",
        Action::Upgrade { .. } => "upgrade",
        Action::ChecksumChanged => "checksum-changed",
        Action::Forced => "forced",
        Action::CheckFiles => "check-files",
        Action::Update { .. } => "update",
        _ => "none",
    }
}

/// Start making the log files of the modules that may run, and the work directories
/// upkeep makes for them, ahead of them ([`Ahead`]).
///
/// `<state>/work`, where every module's work directory goes, is made here at once, before
/// any module starts, so that a module can create its own with a plain `mkdir`.
///
/// Only the plan indexes are gathered here; each module's paths and first line are worked
/// out on the thread, just before its files are made, so the first module need not wait
/// for a thousand of them.
fn prepare_files(ctx: &Context, plan: &Plan, logs: LogSlots) -> Ahead {
    let work_root = ctx.options.state_dir.join("work");
    let steps: Vec<(usize, usize)> = plan
        .steps
        .iter()
        .enumerate()
        .filter(|(_, s)| gets_log_ahead(s))
        .map(|(index, s)| (index, s.module_index))
        .collect();
    if !steps.is_empty() {
        let _ = fs_err::create_dir_all(&work_root);
    }
    let manifest = Arc::clone(&ctx.manifest);
    let dir = log_dir(ctx);
    let planned = steps.into_iter().map(move |(index, module)| {
        let spec = &manifest.modules[module];
        let argv: &[String] = match &spec.kind {
            ModuleKind::Command { argv } => argv,
            _ => &[],
        };
        Planned {
            index,
            log: log_in(&dir, &spec.name),
            header: exec::log_header(log_display(spec).as_deref(), argv),
            work_dir: spec.makes_work_dir().then(|| work_root.join(&spec.name)),
        }
    });
    Ahead::start(logs, planned)
}

/// The plan index and log path of every module that was to get a log ahead but never
/// started.
fn unstarted_logs(ctx: &Context, state: &State<'_>) -> Vec<(usize, PathBuf)> {
    state
        .results
        .iter()
        .filter(|(index, result)| gets_log_ahead(&state.steps[*index]) && result.log_path.is_none())
        .map(|(index, result)| (*index, log_path(ctx, &result.module)))
        .collect()
}

/// Whether [`prepare_files`] makes `step`'s log file ahead: every module that runs a
/// process (a `files` module writes its report itself).
fn gets_log_ahead(step: &Step) -> bool {
    step.action.runs() && step.kind != ModuleKind::FILES
}

/// What a module's log shows as its command instead of the argv, if anything.
fn log_display(spec: &ModuleSpec) -> Option<String> {
    match &spec.kind {
        ModuleKind::Python { module, .. } => Some(format!(
            "python: import {module}; call setup(old_version) or main(args)"
        )),
        _ => None,
    }
}

/// SIGINT and SIGTERM cancel the run: no new module starts and running ones are stopped
/// (SIGTERM to their group, then SIGKILL after the grace period).
fn spawn_signal_listener(cancel: Arc<watch::Sender<bool>>) {
    use tokio::signal::unix::{SignalKind, signal};
    tokio::spawn(async move {
        let (Ok(mut interrupt), Ok(mut terminate)) = (
            signal(SignalKind::interrupt()),
            signal(SignalKind::terminate()),
        ) else {
            return;
        };
        tokio::select! {
            _ = interrupt.recv() => {}
            _ = terminate.recv() => {}
        }
        cancel.send_replace(true);
    });
}
