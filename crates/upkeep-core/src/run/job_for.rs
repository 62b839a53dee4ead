//! Building one module's job from its plan step and manifest entry: its command line or
//! Python module, environment, log, timeout, safety steps and, for a `files` module, what
//! it deploys; or the outcome when it cannot start.

use std::collections::HashMap;
use std::ffi::OsString;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use super::ahead::{log_display, log_path};
use super::module::{Carried, Job, PythonJob};
use super::outcome::{Failure, Outcome, RunEvent};
use super::safety::Safety;
use super::scheduler::{Context, State};
use crate::deploy::ledgered::FilesOptions;
use crate::exec::{self, Invocation, LineSink, PythonModule};
use crate::manifest::{ModuleKind, ModuleSpec};
use crate::module_env;
use crate::plan::{Action, Step};

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
pub(super) fn job_for(
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
    let carried = carried_by(state.steps, index);
    let carried_specs: Vec<&ModuleSpec> = carried
        .iter()
        .map(|&i| &ctx.manifest.modules[state.steps[i].module_index])
        .collect();
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
        log_cap: ctx.options.log_cap,
    };
    Ok(Job {
        index,
        name: step.name.clone(),
        dir: spec.dir.clone(),
        declared_checksum: step.checksum.clone(),
        ledger: ctx.ledger.clone(),
        invocation,
        safety: safety_for(ctx, step, spec, &carried_specs)?,
        files: files_for(ctx, step, spec),
        python,
        carried: carried
            .iter()
            .map(|&i| carried_job(ctx, &state.steps[i]))
            .collect(),
    })
}

/// What a job verifies of a module its code runs.
fn carried_job(ctx: &Context, child: &Step) -> Carried {
    Carried {
        name: child.name.clone(),
        dir: ctx.manifest.modules[child.module_index].dir.clone(),
        declared_checksum: child.checksum.clone(),
    }
}

/// The steps whose code the step at `index` runs: those run by it as their parent, and
/// theirs in turn, by plan index.
fn carried_by(steps: &[Step], index: usize) -> Vec<usize> {
    let mut carriers = vec![steps[index].name.as_str()];
    let mut carried = Vec::new();
    // Children come after their parents in a plan, so one pass in order finds every level.
    for (i, step) in steps.iter().enumerate() {
        if let Action::RunByParent { parent, .. } = &step.action
            && carriers.contains(&parent.as_str())
        {
            carriers.push(&step.name);
            carried.push(i);
        }
    }
    carried
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
        // A `files` module's scripts are its code: they see it as its process would.
        env: module_environment(ctx, step, spec),
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

/// The safety steps around a module that owns paths or has a health check. Its
/// pre-update backup also holds the paths of the modules its code runs (`carried`), so
/// that a failed update is undone for them too.
fn safety_for(
    ctx: &Context,
    step: &Step,
    spec: &ModuleSpec,
    carried: &[&ModuleSpec],
) -> Result<Option<Safety>, Box<Outcome>> {
    let mut owners = vec![spec.name.clone()];
    owners.extend(
        carried
            .iter()
            .filter(|child| !child.paths.is_empty())
            .map(|child| child.name.clone()),
    );
    // A run under `every-run` with nothing changed deploys nothing new to mark: tagging
    // it would add a tag per run.
    let changed = !matches!(step.action, Action::EveryRun { .. });
    let git = (changed
        && ctx.manifest.git_tags.enabled
        && step.version.is_some()
        && ctx.updates_dir_is_repo())
    .then(|| super::tagging::Tagging {
        root: ctx.manifest.root.clone(),
        format: ctx.manifest.git_tags.format.clone(),
        code_dir: spec.dir.clone(),
        reporter: ctx.reporter.clone(),
    });
    let owns_paths = !spec.paths.is_empty() || owners.len() > 1;
    if !owns_paths && spec.health.is_none() && git.is_none() {
        return Ok(None);
    }
    let state_dir = &ctx.options.state_dir;
    let roots =
        if owns_paths {
            let kind = crate::backup::BackupKind::Module;
            let claims = ctx.found.owned_paths.get_or_init(|| {
                crate::backup::OwnedPaths::of(&ctx.manifest, &ctx.options.state_dir)
            });
            crate::backup::roots_within(&ctx.manifest, state_dir, kind, &owners, true, claims)
                .map_err(|err| {
                    Box::new(Outcome::BackupFailed {
                        reason: crate::message::failed_to(&err),
                    })
                })?
        } else {
            Vec::new()
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
    let update = step.taken_update();
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
        Action::EveryRun { .. } => "every-run",
        Action::CheckFiles => "check-files",
        Action::Update { .. } => "update",
        _ => "none",
    }
}
