//! Schedules from the user's side: add, list, enable/disable, `run --scheduled`, and the
//! systemd units for them.

use crate::fixture::{Host, output};

fn json(host: &Host, args: &[&str]) -> serde_json::Value {
    let (code, stdout, stderr) = output(&host.upkeep().arg("--json").args(args).assert());
    assert_eq!(code, 0, "{stderr}");
    serde_json::from_str(&stdout).unwrap()
}

#[test]
#[expect(clippy::too_many_lines, reason = "one user session, step by step")]
fn schedules_are_kept_run_and_installed_as_timers() {
    let mut host = Host::new();
    let marker = host.root.join("ran");
    host.manifest_toml(&format!(
        "[[module]]\nname = \"a\"\ncommand = [\"touch\", {:?}]\n\n[[module]]\nname = \"b\"\ncommand = [\"false\"]\n",
        marker.display().to_string()
    ));
    let added = json(
        &host,
        &[
            "schedule",
            "add",
            "nightly",
            "--daily",
            "03:00",
            "--tz",
            "UTC",
            "--targets",
            "a",
        ],
    );
    assert_eq!(added[0]["describe"], "daily at 03:00");
    assert!(added[0]["next_run_ms"].as_i64().unwrap() > 0);
    json(
        &host,
        &[
            "schedule",
            "add",
            "weekdays",
            "--weekly",
            "mon-fri",
            "06:30",
            "--tz",
            "Europe/Berlin",
        ],
    );
    json(
        &host,
        &[
            "schedule",
            "add",
            "odd",
            "--cron",
            "*/20 1-5 * * *",
            "--tz",
            "UTC",
            "--disabled",
        ],
    );
    let listed = json(&host, &["schedule", "list"]);
    let names: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["nightly", "odd", "weekdays"]);
    assert!(listed[1]["next_run_ms"].is_null(), "disabled: no next run");

    // What a timer runs: the schedule's targets, recorded as its last run.
    host.upkeep()
        .args(["run", "--scheduled", "nightly"])
        .assert()
        .success();
    assert!(marker.exists());
    let shown = json(&host, &["schedule", "show", "nightly"]);
    assert_eq!(shown[0]["last_run_id"], 1);
    assert_eq!(shown[0]["last_result"], "succeeded");
    let trigger: String = host
        .ledger()
        .query_row("SELECT trigger FROM runs WHERE id = 1", [], |r| r.get(0))
        .unwrap();
    assert_eq!(trigger, "schedule:nightly");
    // A disabled schedule is skipped, and runs nothing.
    let (code, _, stderr) = output(&host.upkeep().args(["run", "--scheduled", "odd"]).assert());
    assert_eq!(code, 0);
    assert!(stderr.contains("disabled"), "{stderr}");

    let units = host.root.join("units");
    host.upkeep()
        .args([
            "schedule",
            "install",
            "--systemd",
            "--dir",
            units.to_str().unwrap(),
        ])
        .assert()
        .success();
    let timer = fs_err::read_to_string(units.join("upkeep-nightly.timer")).unwrap();
    assert!(
        timer.contains("OnCalendar=*-*-* 03:00:00 UTC") && timer.contains("Persistent=true"),
        "{timer}"
    );
    let service = fs_err::read_to_string(units.join("upkeep-weekdays.service")).unwrap();
    assert!(service.contains("run --scheduled weekdays"), "{service}");
    assert!(
        !units.join("upkeep-odd.timer").exists(),
        "disabled schedules get no timer"
    );

    host.upkeep()
        .args(["schedule", "enable", "odd"])
        .assert()
        .success();
    host.upkeep()
        .args(["schedule", "remove", "weekdays"])
        .assert()
        .success();
    let names: Vec<String> = json(&host, &["schedule", "list"])
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(names, ["nightly", "odd"]);
}

#[test]
fn bad_schedules_are_refused() {
    let host = Host::new();
    for args in [
        &["schedule", "add", "x", "--daily", "25:00"][..],
        &["schedule", "add", "x", "--weekly", "funday", "03:00"],
        &["schedule", "add", "x", "--cron", "* * *"],
        &[
            "schedule",
            "add",
            "x",
            "--daily",
            "03:00",
            "--tz",
            "Mars/Olympus",
        ],
        &["schedule", "add", "bad name", "--daily", "03:00"],
        &["run", "--scheduled", "nope"],
    ] {
        let (code, _, stderr) = output(&host.upkeep().args(args).assert());
        assert_eq!(code, 4, "{args:?}: {stderr}");
    }
    host.upkeep()
        .args(["schedule", "add", "x", "--daily", "03:00"])
        .assert()
        .success();
    host.upkeep()
        .args(["schedule", "add", "x", "--daily", "04:00"])
        .assert()
        .code(4);
}

#[test]
fn the_daemon_catches_up_a_missed_schedule_once_and_stops_on_sigterm() {
    let mut host = Host::new();
    let log = host.root.join("runs.log");
    host.manifest_toml(&format!(
        "[[module]]\nname = \"a\"\ncommand = [\"sh\", \"-c\", \"echo run >> {}\"]\n",
        log.display()
    ));
    host.upkeep()
        .args([
            "schedule",
            "add",
            "hourly",
            "--cron",
            "0 * * * *",
            "--tz",
            "UTC",
        ])
        .assert()
        .success();
    // The host was down: the schedule's time passed twice.
    {
        let ledger = rusqlite::Connection::open(host.state.join("upkeep.db")).unwrap();
        ledger
            .execute(
                "UPDATE schedules SET next_run_ms = next_run_ms - 2 * 3600000",
                [],
            )
            .unwrap();
    }
    host.upkeep().args(["daemon", "--once"]).assert().success();
    host.upkeep().args(["daemon", "--once"]).assert().success();
    // `--force` is not implied: the module ran because it had never been applied, once.
    assert_eq!(fs_err::read_to_string(&log).unwrap(), "run\n");
    let shown = json(&host, &["schedule", "show", "hourly"]);
    assert_eq!(shown[0]["last_run_id"], 1);
    assert!(
        shown[0]["next_run_ms"].as_i64().unwrap() > upkeep_now_ms(),
        "next run is ahead again"
    );

    let mut daemon = host
        .upkeep_process()
        .arg("daemon")
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = std::io::BufReader::new(daemon.stderr.take().unwrap());
    let mut line = String::new();
    std::io::BufRead::read_line(&mut stderr, &mut line).unwrap();
    assert!(line.contains("upkeep daemon"), "{line}");
    assert_eq!(terminate(&mut daemon).code(), Some(0), "a clean stop");
}

/// SIGTERM, as a service manager stops the daemon, and its exit status.
fn terminate(daemon: &mut std::process::Child) -> std::process::ExitStatus {
    #[expect(
        clippy::disallowed_methods,
        reason = "the test sends the signal as a user would"
    )]
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &daemon.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    daemon.wait().unwrap()
}

fn upkeep_now_ms() -> i64 {
    i64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis(),
    )
    .unwrap()
}

#[test]
fn an_unwritable_unit_directory_is_named_in_the_error() {
    let mut host = Host::new();
    host.manifest_toml("[[module]]\nname = \"a\"\ncommand = [\"true\"]\n");
    host.upkeep()
        .args(["schedule", "add", "n", "--daily", "03:00"])
        .assert()
        .success();
    // A regular file where the directory should be: nothing can be written below it.
    let blocker = host.root.join("not-a-dir");
    fs_err::write(&blocker, "").unwrap();
    let dir = blocker.join("units");
    let (code, _, stderr) = output(
        &host
            .upkeep()
            .args([
                "schedule",
                "install",
                "--systemd",
                "--dir",
                dir.to_str().unwrap(),
            ])
            .assert(),
    );
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains("failed to write") && stderr.contains("upkeep-n.service"),
        "{stderr}"
    );
}

#[test]
fn a_running_daemon_fires_a_schedule_when_it_comes_due() {
    let mut host = Host::new();
    let log = host.root.join("runs.log");
    host.manifest_toml(&format!(
        "[[module]]\nname = \"a\"\ncommand = [\"sh\", \"-c\", \"echo run >> {}\"]\n",
        log.display()
    ));
    host.upkeep()
        .args(["schedule", "add", "soon", "--daily", "03:00", "--tz", "UTC"])
        .assert()
        .success();
    // Due in half a second: the daemon sleeps until then, not until its next minute.
    {
        let ledger = rusqlite::Connection::open(host.state.join("upkeep.db")).unwrap();
        ledger
            .execute(
                "UPDATE schedules SET next_run_ms = ?1",
                [upkeep_now_ms() + 500],
            )
            .unwrap();
    }
    let mut daemon = host
        .upkeep_process()
        .arg("daemon")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let stdout = std::io::BufReader::new(daemon.stdout.take().unwrap());
    let summary = std::io::BufRead::lines(stdout)
        .map(Result::unwrap)
        .find(|line| line.starts_with("a ") && line.contains("succeeded"));
    assert!(summary.is_some(), "the scheduled run's summary was printed");
    assert_eq!(terminate(&mut daemon).code(), Some(0), "a clean stop");
    assert_eq!(fs_err::read_to_string(&log).unwrap(), "run\n");
    let shown = json(&host, &["schedule", "show", "soon"]);
    assert_eq!(shown[0]["last_result"], "succeeded");
}
