//! Cancelling a run stops its modules without waiting longer than it must: the grace
//! period ends as soon as nothing of the module is alive (an adopted orphan that has exited
//! is a zombie, not alive), and a second signal cuts it short.
//!
//! The grace here is a minute; `wait_for` gives up after ten seconds, so a run that waits
//! out the grace fails the test.

use crate::fixture::Host;
use crate::process_hygiene::{kill, spawn_upkeep, wait_for};

/// The module waits for a background child that exits on SIGTERM; the module itself dies
/// of it. The child, orphaned, is re-parented to upkeep and stays in the group as a zombie.
const ORPHANING: &str = r#"
mkdir -p "$UPKEEP_WORK_DIR"
(trap 'exit 0' TERM; while :; do sleep 0.05; done) &
touch "$UPKEEP_WORK_DIR/started"
wait
"#;

/// Catches SIGTERM and goes on, saying it got it.
const STUBBORN: &str = r#"
mkdir -p "$UPKEEP_WORK_DIR"
trap 'touch "$UPKEEP_WORK_DIR/term"' TERM
touch "$UPKEEP_WORK_DIR/started"
while :; do sleep 0.05; done
"#;

fn cancelled_run(host: &mut Host, body: &str) -> (std::process::Child, std::path::PathBuf) {
    let script = host.script("module.sh", body);
    host.manifest_toml(&format!(
        "[[module]]\nname = \"m\"\ncommand = [\"{}\"]\n",
        script.display()
    ));
    let upkeep = spawn_upkeep(host, &["run", "--grace", "60s"]);
    let work = host.state.join("work").join("m");
    wait_for("the module to start", || work.join("started").exists());
    (upkeep, work)
}

#[test]
fn a_cancelled_module_that_is_gone_is_not_waited_for_the_whole_grace() {
    let mut host = Host::new();
    let (mut upkeep, _) = cancelled_run(&mut host, ORPHANING);
    assert!(kill(i32::try_from(upkeep.id()).unwrap(), "TERM"));
    wait_for("upkeep to exit before the grace is out", || {
        upkeep.try_wait().unwrap().is_some()
    });
    assert_eq!(upkeep.wait().unwrap().code(), Some(130));
    assert_eq!(host.outcomes(1), [("m".into(), "cancelled".into())]);
}

#[test]
fn a_second_signal_stops_the_modules_at_once() {
    let mut host = Host::new();
    let (mut upkeep, work) = cancelled_run(&mut host, STUBBORN);
    let pid = i32::try_from(upkeep.id()).unwrap();
    assert!(kill(pid, "INT"));
    wait_for("the module to be told to stop", || {
        work.join("term").exists()
    });
    assert!(kill(pid, "INT"));
    wait_for("upkeep to exit before the grace is out", || {
        upkeep.try_wait().unwrap().is_some()
    });
    assert_eq!(upkeep.wait().unwrap().code(), Some(130));
    assert_eq!(host.outcomes(1), [("m".into(), "cancelled".into())]);
}
