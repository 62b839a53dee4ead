//! The crash sweep, second crash (RELIABILITY.md; issue "the promise under faults"): a
//! run is killed mid-update, then the run that recovers from it is itself killed (SIGKILL)
//! or stopped (SIGTERM) while it recovers, at every recovery crash point and at random
//! moments, once or several times in a row. After any such sequence the next complete run
//! must leave every owned path at its last healthy content (the update was broken) or its
//! new healthy content (it was healthy), never half-written data taken for the module's
//! own, and nothing may be left running or unfinished in the ledger.

use std::os::unix::process::ExitStatusExt;
use std::process::{Child, Output, Stdio};
use std::time::Duration;

use crate::crash_sweep::{
    Tree, converges, integrity_ok, release, snapshot, version_two, wait_for_leftovers,
};
use crate::fixture::Host;

/// How the recovering run is stopped at a crash point.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Blow {
    /// SIGKILL: it dies there.
    Kill,
    /// SIGTERM: it finishes recovering, starts nothing and exits 130.
    Term,
}

/// A host at version 1 whose update to version 2 (healthy or broken) was killed at
/// `first`. Returns the host and the content before the update.
fn interrupted(first: &str, healthy: bool) -> (Host, Vec<Tree>) {
    let mut host = Host::new();
    release(&mut host, 1, true, true);
    host.upkeep().arg("run").assert().success();
    let before = snapshot(&host);
    release(&mut host, 2, healthy, true);
    // A channel, so the events a recovery writes can be counted in the outbox.
    fs_err::write(
        host.root.join("settings.toml"),
        "[channels.sink]\nkind = \"command\"\nargv = [\"true\"]\n",
    )
    .unwrap();
    let out = run_with(&host, &format!("{first}=return"));
    assert_eq!(out.status.signal(), Some(9), "not killed at {first}");
    (host, before)
}

fn spawn(host: &Host, failpoints: &str) -> Child {
    host.upkeep_process()
        .arg("run")
        .env("FAILPOINTS", failpoints)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Run with `failpoints`, then wait until whatever the run left running has ended.
fn run_with(host: &Host, failpoints: &str) -> Output {
    let child = spawn(host, failpoints);
    let pid = child.id();
    let out = child.wait_with_output().unwrap();
    wait_for_leftovers(pid);
    out
}

/// Every owned path holds its content from before the update or after it.
fn whole(host: &Host, before: &[Tree], after: &[Tree], when: &str) {
    for (i, tree) in snapshot(host).into_iter().enumerate() {
        assert!(
            tree == before[i] || tree == after[i],
            "{when}: owned path {i} is neither its content before nor after the update"
        );
    }
}

/// Crash the run that recovers from a crash at `first`, at `second`, by `blow`.
fn recovery_hit(first: &str, healthy: bool, second: &str, blow: Blow) {
    let after = version_two(healthy);
    let (host, before) = interrupted(first, healthy);
    let failpoints = match blow {
        Blow::Kill => format!("{second}=return"),
        Blow::Term => format!("{second}=return(term)"),
    };
    let out = run_with(&host, &failpoints);
    let when = format!("after {first}, then {blow:?} at {second} while recovering");
    match blow {
        Blow::Kill => assert_eq!(
            out.status.signal(),
            Some(9),
            "{when}: not killed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        ),
        Blow::Term => {
            assert_eq!(
                out.status.code(),
                Some(130),
                "{when}: a SIGTERM while recovering ends the run as cancelled:\n{}",
                String::from_utf8_lossy(&out.stderr)
            );
            // Recovery went to its end before the run stopped: the update is undone.
            assert_eq!(snapshot(&host), before, "{when}: the update was not undone");
        }
    }
    integrity_ok(&host);
    whole(&host, &before, &after, &when);
    converges(&host, &when, healthy, &before, &after);
}

/// Every crash point recovery passes, for a crash mid-update (healthy) and mid-rollback
/// (broken, with a restore journal left open).
const RECOVERY_POINTS: &[&str] = &[
    "recovery::leftovers-stopped",
    "recovery::runs-marked",
    "restore::staged",
    "restore::swapped-unrecorded",
    "restore::recorded",
    "recovery::before-undo",
    "recovery::undo-restored",
    "recovery::undone",
];

macro_rules! recovery_sweep {
    ($($test:ident: $first:literal, $healthy:expr, $second:literal, $blow:ident;)*) => {
        $(
            #[test]
            fn $test() {
                recovery_hit($first, $healthy, $second, Blow::$blow);
            }
        )*
    };
}

recovery_sweep! {
    kill_mid_update_then_after_leftovers_stopped: "run::module-exited", true, "recovery::leftovers-stopped", Kill;
    kill_mid_update_then_after_runs_marked: "run::module-exited", true, "recovery::runs-marked", Kill;
    kill_mid_update_then_restore_staged: "run::module-exited", true, "restore::staged", Kill;
    kill_mid_update_then_swapped_unrecorded: "run::module-exited", true, "restore::swapped-unrecorded", Kill;
    kill_mid_update_then_restore_recorded: "run::module-exited", true, "restore::recorded", Kill;
    kill_mid_update_then_before_undo: "run::module-exited", true, "recovery::before-undo", Kill;
    kill_mid_update_then_undo_restored: "run::module-exited", true, "recovery::undo-restored", Kill;
    kill_mid_update_then_undone: "run::module-exited", true, "recovery::undone", Kill;
    kill_mid_rollback_then_after_runs_marked: "restore::swapped-unrecorded", false, "recovery::runs-marked", Kill;
    kill_mid_rollback_then_restore_staged: "restore::swapped-unrecorded", false, "restore::staged", Kill;
    kill_mid_rollback_then_swapped_unrecorded: "restore::swapped-unrecorded", false, "restore::swapped-unrecorded", Kill;
    kill_mid_rollback_then_restore_redone: "restore::swapped-unrecorded", false, "recovery::restore-redone", Kill;
    kill_mid_rollback_then_before_undo: "restore::swapped-unrecorded", false, "recovery::before-undo", Kill;
    kill_mid_rollback_then_undo_restored: "restore::swapped-unrecorded", false, "recovery::undo-restored", Kill;
    kill_mid_rollback_then_undone: "restore::swapped-unrecorded", false, "recovery::undone", Kill;
    term_mid_update_then_after_leftovers_stopped: "run::module-exited", true, "recovery::leftovers-stopped", Term;
    term_mid_update_then_restore_staged: "run::module-exited", true, "restore::staged", Term;
    term_mid_update_then_swapped_unrecorded: "run::module-exited", true, "restore::swapped-unrecorded", Term;
    term_mid_update_then_undo_restored: "run::module-exited", true, "recovery::undo-restored", Term;
    term_mid_rollback_then_restore_redone: "restore::swapped-unrecorded", false, "recovery::restore-redone", Term;
    term_mid_rollback_then_before_undo: "restore::swapped-unrecorded", false, "recovery::before-undo", Term;
}

/// Crashes in a row, each in the recovery of the one before, at the points that leave the
/// most half-done: journals of restores of restores, an undo restored but not recorded.
#[test]
fn recovery_killed_again_and_again_converges() {
    let after = version_two(false);
    let (host, before) = interrupted("restore::swapped-unrecorded", false);
    for point in [
        "restore::staged",
        "restore::swapped-unrecorded",
        "recovery::restore-redone",
        "restore::swapped-unrecorded",
        "recovery::undo-restored",
        "recovery::undone",
    ] {
        let out = run_with(&host, &format!("{point}=return"));
        assert_eq!(out.status.signal(), Some(9), "not killed at {point}");
        integrity_ok(&host);
        whole(&host, &before, &after, &format!("killed again at {point}"));
    }
    converges(&host, "a row of killed recoveries", false, &before, &after);
}

/// Every recovery crash point is one the engine has: a renamed point would make its sweep
/// test pass without crashing anything (the runs above would exit 0 or 3, not 9), and this
/// keeps the list above complete against the kill sweep's own.
#[test]
fn the_sweep_names_every_recovery_point() {
    let source = [
        include_str!("../../../upkeep-core/src/backup/recovery.rs"),
        include_str!("../../../upkeep-core/src/run/mod.rs"),
    ]
    .concat();
    let named: Vec<&str> = source
        .match_indices("crash_point!(\"recovery::")
        .map(|(at, _)| {
            let rest = &source[at + "crash_point!(\"".len()..];
            &rest[..rest.find('"').unwrap()]
        })
        .collect();
    assert!(!named.is_empty());
    for point in named {
        assert!(
            RECOVERY_POINTS.contains(&point) || point == "recovery::restore-redone",
            "recovery crash point {point} is not in the sweep"
        );
    }
}

/// A small deterministic generator, so a failing trial can be replayed from its seed.
fn next(seed: &mut u64) -> u64 {
    *seed = seed
        .wrapping_mul(6_364_136_223_846_793_005)
        .wrapping_add(1_442_695_040_888_963_407);
    *seed >> 33
}

/// Kills and stops at random moments of the runs after a crash, several in a row on one
/// host, then one complete run. `UPKEEP_SWEEP_TRIALS` sets how many (default 10);
/// `UPKEEP_SWEEP_SEED` replays a sequence.
fn random_blows(healthy: bool, first: &str, salt: u64) {
    let trials: u64 = std::env::var("UPKEEP_SWEEP_TRIALS")
        .ok()
        .and_then(|t| t.parse().ok())
        .unwrap_or(10);
    let start: u64 = std::env::var("UPKEEP_SWEEP_SEED")
        .ok()
        .and_then(|t| t.parse().ok())
        .unwrap_or(0x5eed)
        ^ salt;
    let after = version_two(healthy);
    let (host, before) = interrupted(first, healthy);
    let mut seed = start;
    for trial in 0..trials {
        let delay = Duration::from_millis(next(&mut seed) % 250);
        let signal = if next(&mut seed).is_multiple_of(4) {
            "TERM"
        } else {
            "KILL"
        };
        let child = spawn(&host, "");
        let pid = child.id();
        // The random moment is the point of the trial; what it hits is judged below.
        std::thread::sleep(delay);
        crate::process_hygiene::kill(i32::try_from(pid).unwrap(), signal);
        let out = child.wait_with_output().unwrap();
        wait_for_leftovers(pid);
        let ended = out.status.code().map_or_else(
            || format!("signal {:?}", out.status.signal()),
            |c| c.to_string(),
        );
        // A SIGTERM before upkeep took the lock may still take its default action
        // (143): nothing has started then. The fixed points above check that one during
        // recovery never does.
        integrity_ok(&host);
        eprintln!("trial {trial}: SIG{signal} after {delay:?}: {ended}");
    }
    converges(
        &host,
        &format!("{trials} random blows (seed {start})"),
        healthy,
        &before,
        &after,
    );
}

#[test]
fn random_blows_after_a_crash_mid_update() {
    random_blows(true, "run::module-exited", 1);
}

#[test]
fn random_blows_after_a_crash_mid_rollback() {
    random_blows(false, "restore::swapped-unrecorded", 2);
}
