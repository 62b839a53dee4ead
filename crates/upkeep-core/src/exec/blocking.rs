//! Running a process to its end from synchronous code ([`run_blocking`]), as deployment
//! scripts (ae.updater's `ae_updater.py` and `ae_pre_app_run.py`, and the executables of a
//! `once/` directory) are run, and the argv that calls an ae.updater script.

use std::ffi::OsString;
use std::path::Path;

use super::supervise::Leftovers;
use super::{Exit, Finished, Invocation};

/// The bootstrap passed to `python -B -c`. argv: script path, `1` when `run_updater()`
/// must return a true value (ae.updater deletes its one-time script only then).
pub const RUN_UPDATER_BOOTSTRAP: &str = r#"
import os, sys
path, need_true = sys.argv[1], sys.argv[2] == "1"
sys.path.insert(0, os.path.dirname(os.path.abspath(path)))
sys.argv = [path]
module = __import__(os.path.splitext(os.path.basename(path))[0])
run_updater = getattr(module, "run_updater", None)
if not callable(run_updater):
    sys.exit("upkeep: %s defines no run_updater()" % path)
result = run_updater()
if need_true and not result:
    sys.exit("upkeep: run_updater() in %s returned %r, so the script is kept and runs again" % (path, result))
"#;

/// The argv that imports the Python file `script` and calls its `run_updater()`.
pub fn run_updater_argv(interpreter: &Path, script: &Path, need_true: bool) -> Vec<OsString> {
    vec![
        interpreter.as_os_str().to_owned(),
        OsString::from("-B"),
        OsString::from("-c"),
        OsString::from(RUN_UPDATER_BOOTSTRAP),
        script.as_os_str().to_owned(),
        OsString::from(if need_true { "1" } else { "0" }),
    ]
}

/// Run `invocation` to its end on a private current-thread runtime. Must not be called
/// from inside an async runtime (use `spawn_blocking` there).
pub fn run_blocking(invocation: &Invocation) -> Finished {
    blocking(invocation, Leftovers::Keep)
}

/// [`run_blocking`] for a command the user wrote that upkeep runs for its own purposes
/// (the pre-run command): once it ended, whatever still carries its token (a daemon it
/// started with `setsid`, out of its group's reach) is killed, as after an update-source
/// command ([`super::capture_users`]).
pub fn run_blocking_users(invocation: &Invocation) -> Finished {
    blocking(invocation, Leftovers::Kill)
}

fn blocking(invocation: &Invocation, leftovers: Leftovers) -> Finished {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            return Finished {
                exit: Exit::SpawnFailed(format!("start a runtime: {err}")),
                tail: String::new(),
            };
        }
    };
    let (_keep, cancel) = tokio::sync::watch::channel(false);
    runtime.block_on(super::supervise::run_with(invocation, cancel, leftovers))
}
