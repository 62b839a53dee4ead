//! The Python interpreters a run starts ahead of its Python modules: started before the
//! lock is taken, fitted to the plan, topped up while a Python module waits for a job slot,
//! handed to the modules as they start, and stopped when no module took them.

use std::sync::Mutex;
use std::time::Instant;

use crate::exec::{self, Interpreter, Warm};
use crate::manifest::{Manifest, ModuleKind};
use crate::plan::{Plan, Step};

/// The run's Python interpreter (`None` when no Python module runs; an error when it is
/// not found), and interpreters already started with it for the modules about to run (see
/// [`crate::exec::Warm`]). A version-manager shim is resolved by the first interpreter
/// started through it ([`Interpreter`]).
#[derive(Debug, Default)]
pub(super) struct Interpreters {
    pub(super) python: Option<Result<Interpreter, String>>,
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
    pub(super) fn take(&self, ready_since: Option<Instant>) -> Option<Warm> {
        let mut warm = self.pool();
        let usable = warm
            .iter()
            .position(|w| ready_since.is_none_or(|t| w.started_at() > t))?;
        Some(warm.swap_remove(usable))
    }

    /// With none left, start one more when `waiting` says a Python module is ready but
    /// waits for a free job slot.
    pub(super) fn top_up(&self, root: &std::path::Path, waiting: impl FnOnce() -> bool) {
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
    pub(super) async fn stop_unused(&self) {
        let unused: Vec<Warm> = std::mem::take(&mut *self.pool());
        for warm in unused {
            warm.stop().await;
        }
    }
}

/// Whether `step` runs a Python module.
pub(super) fn runs_python(step: &Step) -> bool {
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
