//! The scheduler: starts ready modules up to the job limit, resolves modules that need no
//! process at once (up to date, disabled, groups, blocked), and propagates failures to
//! children and dependents while everything independent goes on. Each module's job is
//! built in [`super::job_for`], with an interpreter from [`super::interpreters`] when it
//! is a Python module and a log made in [`super::ahead`].

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::watch;
use tokio::task::JoinSet;

use super::RunOptions;
use super::ahead::{LogSlots, log_path, prepare_files, unstarted_logs};
use super::interpreters::{Interpreters, runs_python};
use super::job_for::job_for;
use super::module::{Job, JobResult, run_job};
use super::outcome::{Failure, ModuleResult, Outcome, Ran, Reporter, RunEvent, UpstreamChange};
use crate::exec;
use crate::manifest::Manifest;
use crate::plan::{Action, Plan, Step};
use crate::state::ModuleState;
use crate::state::RunRef;
use crate::state::now_ms;
use crate::state::writer::{Applied, LedgerHandle, LedgerOp, LedgerWriter, ModuleRecord};

pub(super) struct Context {
    /// Shared with the thread that makes files ahead ([`Ahead`](super::ahead::Ahead)).
    pub(super) manifest: Arc<Manifest>,
    pub(super) options: RunOptions,
    pub(super) run_id: Option<i64>,
    /// The run as its notifications name it (`None` in a dry run).
    pub(super) run: Option<RunRef>,
    pub(super) reporter: Arc<dyn Reporter>,
    pub(super) states: HashMap<String, ModuleState>,
    /// What the run finds out about the host once, when first needed.
    pub(super) found: Found,
    /// The run's Python interpreter, and those started ahead for its Python modules.
    pub(super) interpreters: Interpreters,
    /// The run's ledger writer, for the writes its modules' tasks make as they go.
    pub(super) ledger: LedgerHandle,
}

/// What a run finds out once, when first needed.
#[derive(Default)]
pub(super) struct Found {
    /// Whether the manifest directory is the top of a git work tree.
    git_repo: std::sync::OnceLock<bool>,
    /// Every module's paths, expanded, for the overlap checks of each module's backup
    /// roots.
    pub(super) owned_paths: std::sync::OnceLock<crate::backup::OwnedPaths>,
}

impl Context {
    /// Whether healthy updates can be tagged: the manifest directory is itself a git
    /// repository's work tree (as the seeds' updates directory is), not merely inside one.
    pub(super) fn updates_dir_is_repo(&self) -> bool {
        *self.found.git_repo.get_or_init(|| {
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

pub(super) struct State<'p> {
    pub(super) steps: &'p [Step],
    remaining: Vec<usize>,
    dependents: Vec<Vec<usize>>,
    resolved: Vec<Option<Resolution>>,
    ready: BTreeSet<usize>,
    /// When each step that ran a process ended.
    ended_at: Vec<Option<Instant>>,
    critical_left: usize,
    /// Results with their plan index, in the order modules ended.
    pub(super) results: Vec<(usize, ModuleResult)>,
    /// The log files made ahead, by plan index.
    pub(super) logs: LogSlots,
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
    pub(super) fn ready_since(
        &self,
        index: usize,
        names: &HashMap<&str, usize>,
    ) -> Option<Instant> {
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
            biased;
            Ok(()) = cancel_seen.changed(), if !cancelled => {
                cancelled = *cancel_seen.borrow();
            }
            Some(joined) = tasks.join_next() => {
                // A module stopped by a cancel can end before this loop has seen the
                // cancel; its dependents are then cancelled, not blocked by its outcome.
                cancelled |= cancel.is_cancelled();
                finish(ctx, &mut state, joined.expect("module tasks do not panic"), writer);
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
    let lists_packages = ctx.manifest.modules[step.module_index]
        .source
        .as_ref()
        .is_some_and(|s| s.kind.lists_packages());
    let result = ModuleResult {
        module: step.name.clone(),
        ran,
        version_before: step.applied_version.clone(),
        version_after,
        log_path: log_path.clone(),
        upstream: UpstreamChange::of(step, lists_packages, succeeded),
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
            let update = step.taken_update();
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

/// SIGINT and SIGTERM cancel the run: no new module starts and running ones are stopped
/// (SIGTERM to their group, then SIGKILL after the grace period). Another one while they
/// stop cuts the grace short: SIGKILL at once. The handlers are installed before this
/// returns (call it inside the runtime), so a signal that comes at once is not lost to its
/// default action; the listener acts on it when the runtime next runs.
pub(super) fn listen_for_signals(cancel: Arc<watch::Sender<bool>>) {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut interrupt), Ok(mut terminate)) = (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
    ) else {
        return;
    };
    tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = interrupt.recv() => {}
                _ = terminate.recv() => {}
            }
            cancel.send_replace(true);
        }
    });
}
