//! The one place upkeep starts processes.
//!
//! Every module runs in its own process group, so that a timeout or a cancel can reach
//! everything it started: SIGTERM to the group, a grace period, then SIGKILL. Modules are
//! in their own group rather than upkeep's so that a Ctrl-C at the terminal reaches upkeep
//! only; upkeep then stops modules in order instead of every process being hit at once
//! mid-write. Output goes straight to the module's log file (no copying) unless it is also
//! streamed to the terminal, in which case both streams are read concurrently so a child
//! filling one pipe can never deadlock against the other.
//!
//! A process whose output goes only to its log is started with `posix_spawn` directly
//! (`spawn.rs`, the crate's one module with `unsafe` code): its environment is upkeep's,
//! turned into C strings once per process, plus its own variables, where `Command` would
//! copy the whole environment for every start. Streamed output, a `PATH` of the module's
//! own, a log on descriptor 0-2 or a kernel that cannot wait on pidfds go through tokio's
//! `Command` instead; either way the process gets the same group, descriptors, directory
//! and signal state.
//!
//! A Python module's interpreter is usually started before its module is verified, and
//! told to go afterwards ([`Warm`]); only then does it import anything.
//!
//! A process group does not hold everything a module starts: a daemonizing child can
//! `setsid` into a session and group of its own, out of reach of `killpg`. So every module
//! also gets a token in its environment (`UPKEEP_INVOCATION`), which its descendants
//! inherit, and upkeep makes itself a child subreaper, so that orphans of its modules are
//! re-parented to upkeep instead of init. When a module is stopped, every process carrying
//! its token is signalled along with the group, and those that end up as upkeep's
//! zombies are reaped by pid (never `waitpid(-1)`: tokio reaps its own children). A
//! process that scrubs its environment still escapes; nothing short of a cgroup catches it.
//!
//! What upkeep starts also dies with upkeep: the binary runs a sentinel (`sentinel.rs`), a
//! second upkeep process that learns which tokens are live and, the moment upkeep is gone
//! (`kill -9` included), SIGKILLs their process groups and every process carrying them.
//! Every start makes a token and every token is reported to it, so this holds for modules,
//! warm interpreters, health checks, scripts and helper commands alike.
//!
//! The files: [`Invocation`] and its log in `invocation.rs`; starting and waiting
//! (timeout, cancel) in `supervise.rs`, with `spawn.rs` for `posix_spawn`; reading
//! streamed output in `output.rs`; stopping a group, its strays and leftovers in
//! `stop.rs`; a pre-started Python interpreter in `warm.rs` and `python.rs`; running to
//! the end from synchronous code in `blocking.rs`; short helper commands whose output is
//! read in `capture.rs`; the cap on a log's size in `log_cap.rs`; the process that stops
//! what upkeep started when upkeep dies in `sentinel.rs`.

mod blocking;
mod capture;
mod invocation;
mod log_cap;
mod output;
pub mod python;
mod sentinel;
mod spawn;
mod stop;
mod supervise;
mod warm;

pub use blocking::{RUN_UPDATER_BOOTSTRAP, run_blocking, run_blocking_users, run_updater_argv};
pub use capture::{Captured, capture, capture_users, capture_with};
pub(crate) use invocation::create_log;
pub use invocation::{
    DEFAULT_LOG_CAP, Exit, Finished, Invocation, LineSink, Stream, command_line, log_header,
};
pub use sentinel::contain;
pub use stop::{kill_leftovers, process_started_ms};
pub use supervise::run;
pub use warm::{Interpreter, PythonModule, Warm, start_failed};
