//! Files a run makes ahead of its modules, on a blocking thread in plan order: each
//! module's log file with its first line written, and the work directory of a module whose
//! `paths` name it. Creating a file costs tens of microseconds on ext4 (and its first
//! write as much again), which a stream of quick modules would otherwise pay one by one on
//! the thread that starts them.
//!
//! Each module has a slot ([`LogSlots`]) saying whether its log was made. A job looks
//! there when it is built: a log made ahead is only opened for appending when the process
//! starts; when the thread has not got there yet, the job claims the slot and makes the
//! file itself, and the thread then leaves that one alone, so no log is ever made twice
//! or gets two first lines. The files are closed once made: a run holding hundreds of
//! descriptors would make every process it starts copy and close them all. At the end of the
//! run, [`Ahead::finish`] removes the logs of modules that never started (blocked, refused,
//! cancelled) that hold nothing but their first line.
//!
//! Where each module's log goes ([`log_path`]) lives here too, with what the scheduler
//! hands the thread ([`prepare_files`]) and which logs it tidies at the end
//! ([`unstarted_logs`]).

use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};

use super::scheduler::{Context, State};
use crate::exec;
use crate::manifest::{ModuleKind, ModuleSpec};
use crate::plan::{Plan, Step};

/// What a module's slot holds.
#[derive(Debug)]
enum Slot {
    /// Not made yet.
    Pending,
    /// Made, with a first line of this many bytes, and not taken yet.
    Ready(u64),
    /// Taken by the module's job: made ahead (with a first line of this many bytes), or
    /// `None` when the job claimed it first and makes its own.
    Taken(Option<u64>),
}

/// One slot per plan step, by plan index.
#[derive(Debug, Clone)]
pub(super) struct LogSlots(Arc<[Mutex<Slot>]>);

impl LogSlots {
    pub(super) fn new(steps: usize) -> Self {
        Self((0..steps).map(|_| Mutex::new(Slot::Pending)).collect())
    }

    fn slot(&self, index: usize) -> MutexGuard<'_, Slot> {
        // A panic while a slot is held leaves nothing half-done in it.
        self.0[index]
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Whether step `index`'s log was made ahead (with its first line); either way the
    /// slot is the job's from now on.
    pub(super) fn take(&self, index: usize) -> bool {
        let mut slot = self.slot(index);
        match *slot {
            Slot::Ready(header) => {
                *slot = Slot::Taken(Some(header));
                true
            }
            Slot::Pending => {
                *slot = Slot::Taken(None);
                false
            }
            Slot::Taken(_) => false,
        }
    }

    /// Make step `index`'s log with `make` (which returns it and its first line's length)
    /// unless its job has claimed the slot. The slot is held meanwhile, so a job that comes
    /// for it waits for the file rather than making a second one.
    fn fill(&self, index: usize, make: impl FnOnce() -> Option<u64>) {
        let mut slot = self.slot(index);
        if matches!(*slot, Slot::Pending)
            && let Some(header) = make()
        {
            *slot = Slot::Ready(header);
        }
    }

    /// The length of the first line of step `index`'s log when it was made ahead.
    fn made_ahead(&self, index: usize) -> Option<u64> {
        match *self.slot(index) {
            Slot::Ready(header) | Slot::Taken(Some(header)) => Some(header),
            Slot::Pending | Slot::Taken(None) => None,
        }
    }
}

/// One module's files to make ahead.
#[derive(Debug)]
pub(super) struct Planned {
    /// Its plan index.
    pub(super) index: usize,
    /// Its log file.
    pub(super) log: PathBuf,
    /// The log's first line ([`crate::exec::log_header`]).
    pub(super) header: String,
    /// Its work directory, when upkeep makes it.
    pub(super) work_dir: Option<PathBuf>,
}

/// The files being made ahead for a run.
#[derive(Debug)]
pub(super) struct Ahead {
    logs: LogSlots,
    /// The thread, until it has been waited for.
    making: Option<tokio::task::JoinHandle<()>>,
}

impl Ahead {
    /// Start making `planned`'s files, in order, on a blocking thread (the first log makes
    /// the run's log directory).
    pub(super) fn start(
        logs: LogSlots,
        planned: impl Iterator<Item = Planned> + Send + 'static,
    ) -> Self {
        let slots = logs.clone();
        let making = tokio::task::spawn_blocking(move || {
            for module in planned {
                // Even checking whether it exists is file-system work, so it is done here.
                if let Some(work) = module.work_dir.filter(|w| !w.is_dir()) {
                    let _ = fs_err::create_dir_all(work);
                }
                slots.fill(module.index, || make_log(&module.log, &module.header));
            }
        });
        Self {
            logs,
            making: Some(making),
        }
    }

    /// Wait until the thread has made everything.
    async fn wait(&mut self) {
        if let Some(making) = self.making.take() {
            let _ = making.await;
        }
    }

    /// Wait for the thread, then remove the logs made ahead for the steps in `unstarted`
    /// (plan index and log path) that hold only their first line.
    pub(super) async fn finish(mut self, unstarted: Vec<(usize, PathBuf)>) {
        self.wait().await;
        let unused: Vec<(PathBuf, u64)> = unstarted
            .into_iter()
            .filter_map(|(index, log)| self.logs.made_ahead(index).map(|header| (log, header)))
            .collect();
        if unused.is_empty() {
            return;
        }
        let _ = tokio::task::spawn_blocking(move || {
            for (log, header) in unused {
                if fs_err::metadata(&log).is_ok_and(|m| m.len() <= header) {
                    let _ = fs_err::remove_file(&log);
                }
            }
        })
        .await;
    }
}

/// Make the log at `path` with its first line `header` ([`crate::exec::create_log`]); the
/// header's length. `None` when that fails: the module's job then tries itself and reports
/// why.
fn make_log(path: &std::path::Path, header: &str) -> Option<u64> {
    crate::exec::create_log(path, header).ok()?;
    Some(u64::try_from(header.len()).unwrap_or(u64::MAX))
}

pub(super) fn log_path(ctx: &Context, module: &str) -> PathBuf {
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

/// Start making the log files of the modules that may run, and the work directories
/// upkeep makes for them, ahead of them ([`Ahead`]).
///
/// `<state>/work`, where every module's work directory goes, is made here at once, before
/// any module starts, so that a module can create its own with a plain `mkdir`.
///
/// Only the plan indexes are gathered here; each module's paths and first line are worked
/// out on the thread, just before its files are made, so the first module need not wait
/// for a thousand of them.
pub(super) fn prepare_files(ctx: &Context, plan: &Plan, logs: LogSlots) -> Ahead {
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
pub(super) fn unstarted_logs(ctx: &Context, state: &State<'_>) -> Vec<(usize, PathBuf)> {
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
pub(super) fn log_display(spec: &ModuleSpec) -> Option<String> {
    match &spec.kind {
        ModuleKind::Python { module, .. } => Some(format!(
            "python: import {module}; call setup(old_version) or main(args)"
        )),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn made(dir: &std::path::Path, name: &str) -> Option<u64> {
        make_log(&dir.join(name), "$ true\n")
    }

    #[test]
    fn a_job_takes_a_log_made_ahead_once() {
        let tmp = tempfile::tempdir().unwrap();
        let slots = LogSlots::new(1);
        slots.fill(0, || made(tmp.path(), "a.log"));
        assert!(slots.take(0));
        assert!(!slots.take(0));
        assert_eq!(slots.made_ahead(0), Some(7));
    }

    #[test]
    fn a_slot_its_job_claimed_first_is_never_made() {
        let tmp = tempfile::tempdir().unwrap();
        let slots = LogSlots::new(1);
        assert!(!slots.take(0));
        slots.fill(0, || made(tmp.path(), "a.log"));
        assert!(!tmp.path().join("a.log").exists());
        assert_eq!(slots.made_ahead(0), None);
    }

    #[tokio::test]
    async fn logs_of_modules_that_never_started_go_unless_written_to() {
        let tmp = tempfile::tempdir().unwrap();
        let planned = ["a", "b", "c"]
            .iter()
            .enumerate()
            .map(|(index, name)| Planned {
                index,
                log: tmp.path().join("run-1").join(format!("{name}.log")),
                header: "$ true\n".to_owned(),
                work_dir: (*name == "a").then(|| tmp.path().join("work").join(name)),
            })
            .collect::<Vec<_>>();
        let logs: Vec<PathBuf> = planned.iter().map(|p| p.log.clone()).collect();
        let mut ahead = Ahead::start(LogSlots::new(3), planned.into_iter());
        ahead.wait().await;
        // `a` started (its job took its log); `b` and `c` never did, but something wrote
        // to `c`.
        assert!(ahead.logs.take(0));
        fs_err::OpenOptions::new()
            .append(true)
            .open(&logs[2])
            .unwrap()
            .write_all(b"late output\n")
            .unwrap();
        ahead
            .finish(vec![(1, logs[1].clone()), (2, logs[2].clone())])
            .await;
        assert!(logs[0].exists() && !logs[1].exists() && logs[2].exists());
        assert_eq!(fs_err::read_to_string(&logs[0]).unwrap(), "$ true\n");
        assert!(tmp.path().join("work/a").is_dir() && !tmp.path().join("work/b").exists());
    }
}
