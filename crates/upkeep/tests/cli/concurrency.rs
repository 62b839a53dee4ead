//! Concurrent invocations against one state directory: one run at a time, losers told who
//! holds the lock, `--wait` queues behind the holder, and a run killed with SIGKILL
//! mid-flight is recovered by the next one.

use std::fmt::Write as _;
use std::io::Read;
use std::os::unix::process::ExitStatusExt;
use std::process::{Child, ExitStatus};

use crate::fixture::{Host, output};
use crate::process_hygiene::{latest_run, spawn_upkeep, wait_for};

/// A host whose single module `once` appends its run id to `ran` and then waits until the
/// file `release` exists. Returns the host and the two paths.
fn blocking_host() -> (Host, std::path::PathBuf, std::path::PathBuf) {
    let mut host = Host::new();
    let ran = host.root.join("ran");
    let release = host.root.join("release");
    let script = host.script(
        "once.sh",
        &format!(
            "echo \"$UPKEEP_RUN_ID\" >> '{}'\nwhile [ ! -e '{}' ]; do sleep 0.01; done",
            ran.display(),
            release.display()
        ),
    );
    host.manifest_toml(&format!(
        r#"
[[module]]
name = "once"
version = 1
command = ["{}"]
"#,
        script.display()
    ));
    (host, ran, release)
}

fn lines(path: &std::path::Path) -> Vec<String> {
    fs_err::read_to_string(path)
        .map(|t| t.lines().map(str::to_owned).collect())
        .unwrap_or_default()
}

/// Wait for `child` and return its status, stdout and stderr.
fn finish(mut child: Child) -> (ExitStatus, String, String) {
    let status = child.wait().unwrap();
    let mut stdout = String::new();
    let mut stderr = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut stdout)
        .unwrap();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    (status, stdout, stderr)
}

/// What one `upkeep run` of a race ended with: pid, status, stdout, stderr.
type Racer = (u32, ExitStatus, String, String);

/// Start eight runs at once on a fresh [`blocking_host`]; release the module once seven have
/// exited. Returns the host, the pid of the run that held the lock, and every racer.
fn race() -> (Host, u32, Vec<Racer>) {
    let (host, ran, release) = blocking_host();
    let mut children: Vec<Child> = (0..8).map(|_| spawn_upkeep(&host, &["run"])).collect();
    wait_for("seven of the eight runs to give up", || {
        children
            .iter_mut()
            .filter_map(|c| c.try_wait().unwrap())
            .count()
            >= 7
    });
    fs_err::write(&release, "").unwrap();
    let racers: Vec<Racer> = children
        .into_iter()
        .map(|child| {
            let pid = child.id();
            let (status, stdout, stderr) = finish(child);
            (pid, status, stdout, stderr)
        })
        .collect();
    let winners: Vec<&Racer> = racers.iter().filter(|r| r.1.code() == Some(0)).collect();
    assert_eq!(
        winners.len(),
        1,
        "exactly one run holds the lock: {racers:#?}"
    );
    let holder = winners[0].0;
    for (pid, status, _, stderr) in racers.iter().filter(|r| r.0 != holder) {
        assert_eq!(
            status.code(),
            Some(5),
            "pid {pid} lost the lock; stderr:\n{stderr}"
        );
        assert!(
            stderr.contains("held by pid "),
            "pid {pid} says the lock is held:\n{stderr}"
        );
    }
    assert_eq!(lines(&ran).len(), 1, "the module ran exactly once");
    (host, holder, racers)
}

#[test]
fn concurrent_runs_take_turns() {
    let (host, _, _) = race();
    let runs: i64 = host
        .ledger()
        .query_row("SELECT count(*) FROM runs", [], |r| r.get(0))
        .unwrap();
    assert_eq!(runs, 1, "losers write nothing to the ledger");
    assert_eq!(host.outcomes(1), [("once".into(), "succeeded".into())]);
}

/// Regression: a loser could read `upkeep.lock` before the new holder had written its pid,
/// and said `held by pid unknown since an unknown time`.
#[test]
fn concurrent_losers_name_the_holder() {
    // The window is small; a few races make it likely to show.
    for _ in 0..5 {
        let (_host, holder, racers) = race();
        for (pid, _, _, stderr) in racers.iter().filter(|r| r.0 != holder) {
            assert!(
                stderr.contains(&format!("held by pid {holder} since ")),
                "pid {pid} names the holder {holder}:\n{stderr}"
            );
        }
    }
}

/// Whether `/proc/locks` shows `pid` blocked waiting for a lock.
fn blocked_on_a_lock(pid: u32) -> bool {
    let locks = fs_err::read_to_string("/proc/locks").unwrap();
    // Waiters are listed under the held lock as `N: -> FLOCK  ADVISORY  WRITE PID ...`.
    locks.lines().any(|line| {
        let mut words = line.split_whitespace().skip(1);
        words.next() == Some("->") && words.nth(3) == Some(pid.to_string().as_str())
    })
}

#[test]
fn wait_queues_behind_the_holder_then_finds_everything_up_to_date() {
    let (host, ran, release) = blocking_host();
    let mut first = spawn_upkeep(&host, &["run"]);
    wait_for("the first run's module to start", || lines(&ran).len() == 1);
    let mut second = spawn_upkeep(&host, &["run", "--wait"]);
    let second_pid = second.id();
    wait_for("the second run to block on the lock", || {
        blocked_on_a_lock(second_pid)
    });
    assert!(
        first.try_wait().unwrap().is_none(),
        "the first run is still going"
    );
    assert!(
        second.try_wait().unwrap().is_none(),
        "the second run waits instead of exiting with 5"
    );
    fs_err::write(&release, "").unwrap();
    let (status, stdout, stderr) = finish(first);
    assert_eq!(
        status.code(),
        Some(0),
        "first run\nstdout:\n{stdout}\nstderr:\n{stderr}"
    );
    let (status, stdout, stderr) = finish(second);
    assert_eq!(
        status.code(),
        Some(0),
        "second run\nstdout:\n{stdout}\nstderr:\n{stderr}"
    );
    assert!(
        stderr.contains("run 2: 0 of 1 modules to run"),
        "the second run found the module up to date:\n{stderr}"
    );
    assert_eq!(lines(&ran), ["1"], "the module ran once, in the first run");
    let results: Vec<String> = {
        let ledger = host.ledger();
        let mut stmt = ledger
            .prepare("SELECT result FROM runs ORDER BY id")
            .unwrap();
        stmt.query_map([], |r| r.get(0))
            .unwrap()
            .map(Result::unwrap)
            .collect()
    };
    assert_eq!(results, ["succeeded", "succeeded"]);
}

#[test]
#[expect(
    clippy::too_many_lines,
    reason = "one end-to-end scenario reads best top to bottom"
)]
fn run_killed_with_sigkill_is_recovered_by_the_next_run() {
    let mut host = Host::new();
    // Kills upkeep (its parent) the first time only.
    let killer = host.script(
        "killer.sh",
        r#"
mkdir -p "$UPKEEP_WORK_DIR"
if [ ! -e "$UPKEEP_WORK_DIR/killed-once" ]; then
    touch "$UPKEEP_WORK_DIR/killed-once"
    kill -9 $PPID
fi
"#,
    );
    let mut manifest = String::new();
    for (name, command, depends_on) in [
        ("base", "/bin/true", "[]"),
        ("killer", killer.to_str().unwrap(), r#"["base"]"#),
        ("sibling", "/bin/true", r#"["base"]"#),
        ("after-killer", "/bin/true", r#"["killer"]"#),
        ("after-both", "/bin/true", r#"["killer", "sibling"]"#),
        ("last", "/bin/true", r#"["after-both"]"#),
    ] {
        writeln!(manifest, "[[module]]\nname = \"{name}\"\nversion = 1\ncommand = [\"{command}\"]\ndepends_on = {depends_on}\n").unwrap();
    }
    host.manifest_toml(&manifest);

    let crashed = host.upkeep().args(["run", "-j", "2"]).assert();
    let status = crashed.get_output().status;
    assert_eq!(
        status.signal(),
        Some(9),
        "the module killed upkeep: {status:?}"
    );
    assert!(host.state.join("work/killer/killed-once").exists());

    let assert = host.upkeep().args(["run", "-j", "2"]).assert();
    let (code, stdout, stderr) = output(&assert);
    assert_eq!(
        code, 0,
        "the next run converges\nstdout:\n{stdout}\nstderr:\n{stderr}"
    );
    assert!(
        stderr.contains("run 1 never finished"),
        "the next run reports the interrupted run:\n{stderr}"
    );

    let assert = host.upkeep().args(["status", "--json"]).assert();
    let (code, stdout, stderr) = output(&assert);
    assert_eq!(code, 0, "{stderr}");
    let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let rows = report["modules"].as_array().unwrap();
    assert_eq!(rows.len(), 6, "{stdout}");
    for row in rows {
        assert_eq!(
            row["applied_version"], row["declared_version"],
            "every module is applied: {row}"
        );
        assert!(
            row["applied_version"].is_string(),
            "every module is applied: {row}"
        );
        assert_eq!(row["last_outcome"], "succeeded", "{row}");
    }

    let ledger = host.ledger();
    let check: String = ledger
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(check, "ok");
    let first: String = ledger
        .query_row("SELECT result FROM runs WHERE id = 1", [], |r| r.get(0))
        .unwrap();
    assert_eq!(first, "interrupted");
    let running: i64 = ledger
        .query_row(
            "SELECT count(*) FROM module_runs WHERE outcome = 'running'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(running, 0, "no module is left recorded as running");
    let killer_in_first: Option<String> = ledger
        .query_row(
            "SELECT outcome FROM module_runs WHERE run_id = 1 AND module = 'killer'",
            [],
            |r| r.get(0),
        )
        .ok();
    // The start of `killer` is recorded unless upkeep died before its ledger writer got to it.
    assert!(
        matches!(killer_in_first.as_deref(), None | Some("interrupted")),
        "{killer_in_first:?}"
    );
    assert_eq!(latest_run(&host), 2);
    let second = host.outcomes(2);
    assert!(
        second.contains(&("killer".into(), "succeeded".into())),
        "{second:?}"
    );
    assert!(
        second.iter().all(|(_, outcome)| outcome == "succeeded"),
        "{second:?}"
    );
}
