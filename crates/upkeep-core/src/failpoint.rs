//! Crash points for the crash-sweep tests (RELIABILITY.md). With the `failpoints` feature,
//! `FAILPOINTS="<name>=return"` in the environment makes the process kill itself with
//! SIGKILL when it reaches `<name>`, exactly as `kill -9` would: no destructor, no flush,
//! no rollback. `<name>=return(term)` sends it SIGTERM instead and goes on, as if a person
//! or systemd had stopped it at that moment. `fail`'s counts apply (`1*off->return` crashes
//! at the second visit). Without the feature every point compiles to nothing.
//!
//! Points are named `<area>::<moment>`; `crates/upkeep/tests/cli/crash_sweep.rs` lists
//! them all and crashes at each.

/// Read `FAILPOINTS` once at start-up; a no-op without the feature.
pub fn setup() {
    #[cfg(feature = "failpoints")]
    std::mem::forget(fail::FailScenario::setup());
}

/// Die as if killed by `kill -9`.
#[cfg(feature = "failpoints")]
pub(crate) fn die() -> ! {
    let _ = nix::sys::signal::raise(nix::sys::signal::Signal::SIGKILL);
    std::process::abort()
}

/// What a reached crash point does: SIGTERM to this process for `return(term)`, which
/// goes on; otherwise [`die`].
#[cfg(feature = "failpoints")]
pub(crate) fn hit(arg: Option<&str>) {
    if arg == Some("term") {
        let _ = nix::sys::signal::raise(nix::sys::signal::Signal::SIGTERM);
    } else {
        die();
    }
}

/// A place where a crash is simulated in tests: `crash_point!("backup::recorded")`.
macro_rules! crash_point {
    ($name:literal) => {
        #[cfg(feature = "failpoints")]
        if let Some(arg) = fail::eval($name, |arg| arg) {
            $crate::failpoint::hit(arg.as_deref());
        }
    };
}

pub(crate) use crash_point;
