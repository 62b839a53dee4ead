//! One path per use case: what every entry point (a person's command, a timer's unit, the
//! daemon) must agree on, because they all call the same engine function.

use std::collections::BTreeMap;
use std::path::Path;

use crate::fixture::{Host, output};
use crate::safety::git;

/// The `UPKEEP_*` variables in an `env` dump, by name.
fn upkeep_vars(dump: &str) -> BTreeMap<String, String> {
    dump.lines()
        .filter_map(|line| line.split_once('='))
        .filter(|(name, _)| name.starts_with("UPKEEP_"))
        .map(|(name, value)| (name.to_owned(), value.to_owned()))
        .collect()
}

/// A versioned module in git whose health check dumps its environment to
/// `health-$UPKEEP_ACTION.env` and needs its work directory's config (as the bundled
/// example's gogs module does).
fn release(host: &mut Host, version: &str) {
    host.python_module(
        "app",
        "import os\ndef main(args):\n    d = os.environ['UPKEEP_WORK_DIR']\n    os.makedirs(d, exist_ok=True)\n    open(d + '/app.ini', 'w').write('PORT = 3001')\n",
    );
    let dumps = host.root.display().to_string();
    host.manifest_json(&serde_json::json!({
        "updates": [{
            "name": "app",
            "version": version,
            "health": {"command": format!(
                "env > {dumps}/health-$UPKEEP_ACTION.env; grep -q 'PORT = 3001' \"$UPKEEP_WORK_DIR/app.ini\""
            )}
        }]
    }));
    host.approve();
    git(&host.updates, &["add", "-A"]);
    git(&host.updates, &["commit", "-q", "-m", version]);
}

#[test]
fn the_health_check_sees_the_same_variables_in_a_run_and_in_a_manual_rollback() {
    let mut host = Host::new();
    git(&host.updates, &["init", "-q"]);
    release(&mut host, "1.0.0");
    host.upkeep().arg("run").assert().success();
    release(&mut host, "2.0.0");
    host.upkeep().arg("run").assert().success();
    let (code, stdout, stderr) = output(
        &host
            .upkeep()
            .args(["--json", "rollback", "app", "--last-safe", "--yes"])
            .assert(),
    );
    // The last safe version is 2.0.0 itself; roll back to 1.0.0 to see a real change.
    assert_eq!(code, 0, "{stdout}{stderr}");
    let (code, stdout, stderr) = output(
        &host
            .upkeep()
            .args(["--json", "rollback", "app", "--to", "1.0.0", "--yes"])
            .assert(),
    );
    assert_eq!(code, 0, "{stdout}{stderr}");
    let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(report["result"], "rolled-back", "{report}");
    assert_eq!(report["healthy"], true, "{report}");

    let in_run =
        upkeep_vars(&fs_err::read_to_string(host.root.join("health-upgrade.env")).unwrap());
    let in_rollback =
        upkeep_vars(&fs_err::read_to_string(host.root.join("health-rollback.env")).unwrap());
    let names = |vars: &BTreeMap<String, String>| vars.keys().cloned().collect::<Vec<_>>();
    assert_eq!(names(&in_run), names(&in_rollback));
    assert!(in_run.len() >= 14, "{in_run:#?}");
    for same in [
        "UPKEEP_MODULE",
        "UPKEEP_STATE_DIR",
        "UPKEEP_MANIFEST_DIR",
        "UPKEEP_MODULE_DIR",
        "UPKEEP_WORK_DIR",
        "UPKEEP_ARGS",
    ] {
        assert_eq!(in_run[same], in_rollback[same], "{same}");
    }
    assert_eq!(in_rollback["UPKEEP_VERSION"], "1.0.0");
    assert_eq!(in_rollback["UPKEEP_OLD_VERSION"], "2.0.0");
}

/// A settings file with a command channel appending each event's kind to `told`.
fn telling_settings(path: &Path, told: &Path) {
    fs_err::write(
        path,
        format!(
            "[channels.log]\nkind = \"command\"\nargv = [\"sh\", \"-c\", \"echo \\\"$UPKEEP_EVENT_KIND\\\" >> {}\"]\n",
            told.display()
        ),
    )
    .unwrap();
}

#[test]
fn a_timer_unit_runs_with_the_manifest_state_and_settings_it_was_installed_with() {
    let mut host = Host::new();
    host.manifest_toml("[[module]]\nname = \"a\"\ncommand = [\"true\"]\n");
    let settings = host.root.join("elsewhere.toml");
    let told = host.root.join("told.txt");
    telling_settings(&settings, &told);
    let with_settings = |args: &[&str]| {
        let mut cmd = host.upkeep();
        cmd.arg("--config").arg(&settings).args(args);
        cmd
    };
    with_settings(&["schedule", "add", "nightly", "--daily", "03:00"])
        .assert()
        .success();
    let units = host.root.join("units");
    with_settings(&["schedule", "install", "--systemd", "--dir"])
        .arg(&units)
        .assert()
        .success();
    let service = fs_err::read_to_string(units.join("upkeep-nightly.service")).unwrap();
    let exec = service
        .lines()
        .find_map(|l| l.strip_prefix("ExecStart="))
        .unwrap()
        .to_owned();
    for (flag, path) in [
        ("--config", &settings),
        ("--manifest", &host.manifest().to_path_buf()),
        ("--state-dir", &host.state),
    ] {
        assert!(
            exec.contains(&format!("{flag} {}", path.display())),
            "{flag}: {exec}"
        );
    }
    // Run the unit's command line as systemd would: from `/`, without the test's
    // UPKEEP_* variables. The run lands in the same ledger and tells the same channel.
    #[expect(
        clippy::disallowed_methods,
        reason = "tests run the unit's command line"
    )]
    let ran = std::process::Command::new("sh")
        .args(["-c", &exec])
        .current_dir("/")
        .env_remove("UPKEEP_CONFIG")
        .env_remove("UPKEEP_MANIFEST")
        .env_remove("UPKEEP_STATE_DIR")
        .output()
        .unwrap();
    assert!(
        ran.status.success(),
        "{}",
        String::from_utf8_lossy(&ran.stderr)
    );
    let trigger: String = host.scalar("SELECT trigger FROM runs ORDER BY id DESC LIMIT 1");
    assert_eq!(trigger, "schedule:nightly");
    let told = fs_err::read_to_string(&told).unwrap();
    assert!(told.contains("run_finished"), "{told}");
}

#[test]
#[expect(
    clippy::too_many_lines,
    reason = "two ways a schedule cannot start, then what records them"
)]
fn a_scheduled_run_that_cannot_start_is_recorded_and_told() {
    let mut host = Host::new();
    host.manifest_toml(
        "[[module]]\nname = \"web\"\ncommand = [\"true\"]\n\n[[module]]\nname = \"db\"\ncommand = [\"true\"]\n",
    );
    let told = host.root.join("told.txt");
    telling_settings(&host.root.join("settings.toml"), &told);
    host.upkeep()
        .args([
            "schedule",
            "add",
            "nightly",
            "--daily",
            "03:00",
            "--targets",
            "web",
        ])
        .assert()
        .success();

    // Its target is gone from the manifest.
    host.manifest_toml("[[module]]\nname = \"db\"\ncommand = [\"true\"]\n");
    let (code, _, stderr) = output(
        &host
            .upkeep()
            .args(["run", "--scheduled", "nightly"])
            .assert(),
    );
    assert_eq!(code, 4, "{stderr}");
    assert!(stderr.contains("recorded in the history"), "{stderr}");

    // Its manifest no longer parses; the daemon finds it due.
    fs_err::write(host.manifest(), "[[module]\nname = ").unwrap();
    rusqlite::Connection::open(host.state.join("upkeep.db"))
        .unwrap()
        .execute("UPDATE schedules SET next_run_ms = 0", [])
        .unwrap();
    let (code, _, stderr) = output(&host.upkeep().args(["daemon", "--once"]).assert());
    assert_eq!(code, 0, "{stderr}");

    let (_, stdout, _) = output(&host.upkeep().args(["--json", "history"]).assert());
    let history: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let runs = history["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 2, "{history:#}");
    for run in runs {
        assert_eq!(run["result"], "not-started", "{run:#}");
        assert_eq!(run["trigger"], "schedule:nightly", "{run:#}");
    }
    let newest = runs[0]["reason"].as_str().unwrap();
    assert!(newest.contains("manifest"), "{newest}");
    let oldest = runs[1]["reason"].as_str().unwrap();
    assert!(oldest.contains("`web`"), "{oldest}");
    let (_, text, _) = output(&host.upkeep().args(["history"]).assert());
    assert!(
        text.contains("not-started") && text.contains("reason:"),
        "{text}"
    );

    let shown: serde_json::Value = serde_json::from_str(
        &output(
            &host
                .upkeep()
                .args(["--json", "schedule", "show", "nightly"])
                .assert(),
        )
        .1,
    )
    .unwrap();
    assert_eq!(shown[0]["last_result"], "not-started");
    assert!(shown[0]["next_run_ms"].as_i64().unwrap() > 0, "it moves on");
    assert_eq!(
        fs_err::read_to_string(&told).unwrap(),
        "run_not_started\nrun_not_started\n"
    );
}

#[test]
fn schedule_add_checks_its_targets_and_types_against_the_manifest() {
    let mut host = Host::new();
    host.manifest_toml("[[module]]\nname = \"web\"\ncommand = [\"true\"]\n");
    let (code, _, stderr) = output(
        &host
            .upkeep()
            .args([
                "schedule",
                "add",
                "x",
                "--daily",
                "03:00",
                "--targets",
                "wbe",
            ])
            .assert(),
    );
    assert_eq!(code, 4, "{stderr}");
    assert!(stderr.contains("did you mean `web`"), "{stderr}");
    let (code, _, stderr) = output(
        &host
            .upkeep()
            .args([
                "schedule", "add", "x", "--daily", "03:00", "--types", "packages",
            ])
            .assert(),
    );
    assert_eq!(code, 4, "{stderr}");
    assert!(stderr.contains("type packages"), "{stderr}");
    let (_, stdout, _) = output(&host.upkeep().args(["--json", "schedule", "list"]).assert());
    assert_eq!(stdout.trim(), "[]", "nothing was added");
}

#[test]
fn a_manual_rollback_takes_the_users_backup_settings() {
    let mut host = Host::new();
    git(&host.updates, &["init", "-q"]);
    let data = host.root.join("srv/app");
    let write_release = |host: &mut Host, version: &str| {
        host.python_module(
            "app",
            &format!(
                "import os\ndef main(args):\n    os.makedirs({d:?}, exist_ok=True)\n    open({d:?} + '/state', 'w').write('{version}')\n",
                d = data.display().to_string()
            ),
        );
        host.manifest_json(&serde_json::json!({
            "updates": [{"name": "app", "version": version, "paths": [data.display().to_string()]}]
        }));
        host.approve();
        git(&host.updates, &["add", "-A"]);
        git(&host.updates, &["commit", "-q", "-m", version]);
    };
    write_release(&mut host, "1.0.0");
    host.upkeep().arg("run").assert().success();
    write_release(&mut host, "2.0.0");
    host.upkeep().arg("run").assert().success();
    fs_err::write(
        host.root.join("settings.toml"),
        "[backup]\ncompression_enabled = false\n",
    )
    .unwrap();
    host.upkeep()
        .args(["rollback", "app", "--to", "1.0.0", "--yes"])
        .assert()
        .success();
    let compression: String =
        host.scalar("SELECT compression FROM backups WHERE reason = 'pre-rollback'");
    assert_eq!(compression, "none");
}

#[test]
fn a_scheduled_run_kept_waiting_for_the_lock_past_its_bound_is_recorded() {
    let mut host = Host::new();
    let gate = crate::fixture::Gate::manifest(&mut host);
    host.upkeep()
        .args(["schedule", "add", "nightly", "--daily", "03:00"])
        .assert()
        .success();
    let holder = gate.hold(&host);
    let holder_pid = holder.id();
    let (code, _, stderr) = output(
        &host
            .upkeep()
            .args([
                "run",
                "--scheduled",
                "nightly",
                "--wait",
                "--wait-timeout",
                "300ms",
            ])
            .assert(),
    );
    gate.open(holder);
    assert_eq!(code, 5, "{stderr}");
    let (result, reason): (String, String) = host
        .ledger()
        .query_row(
            "SELECT result, reason FROM runs WHERE trigger = 'schedule:nightly'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!(result, "not-started");
    assert!(reason.contains(&format!("pid {holder_pid}")), "{reason}");
}

#[test]
fn an_update_source_command_sees_its_module_as_the_module_does() {
    let mut host = Host::new();
    let dumps = host.root.display().to_string();
    host.manifest_toml(&format!(
        "[[module]]\nname = \"app\"\nversion = \"1.0.0\"\n\
         command = [\"sh\", \"-c\", \"env > {dumps}/module.env\"]\n\
         source = {{ type = \"command\", command = \"env > {dumps}/source.env; echo 1.0.0\" }}\n"
    ));
    host.upkeep().arg("run").assert().success();
    host.upkeep().args(["check", "app"]).assert().success();
    let mut module = upkeep_vars(&fs_err::read_to_string(host.root.join("module.env")).unwrap());
    let mut source = upkeep_vars(&fs_err::read_to_string(host.root.join("source.env")).unwrap());
    // The containment token of every process upkeep starts (each its own), not a variable
    // about the module.
    assert!(module.remove("UPKEEP_INVOCATION").is_some());
    assert!(source.remove("UPKEEP_INVOCATION").is_some());
    let names = |vars: &BTreeMap<String, String>| vars.keys().cloned().collect::<Vec<_>>();
    assert_eq!(names(&source), names(&module));
    for same in [
        "UPKEEP_MODULE",
        "UPKEEP_VERSION",
        "UPKEEP_STATE_DIR",
        "UPKEEP_MANIFEST_DIR",
        "UPKEEP_WORK_DIR",
    ] {
        assert_eq!(source[same], module[same], "{same}");
    }
    assert_eq!(source["UPKEEP_ACTION"], "check");
}

#[test]
fn a_files_modules_one_time_script_sees_its_module() {
    let mut host = Host::new();
    let dumps = host.root.display().to_string();
    let script = host.updates.join("deploy/once/10-dump.sh");
    fs_err::create_dir_all(script.parent().unwrap()).unwrap();
    fs_err::write(&script, format!("#!/bin/sh\nenv > {dumps}/script.env\n")).unwrap();
    fs_err::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    host.manifest_json(&serde_json::json!({
        "updates": [{"name": "dotfiles", "version": "1.0.0", "files": "deploy"}]
    }));
    let (code, stdout, stderr) = output(&host.upkeep().arg("run").assert());
    assert_eq!(code, 0, "{stdout}{stderr}");
    let vars = upkeep_vars(&fs_err::read_to_string(host.root.join("script.env")).unwrap());
    assert_eq!(vars["UPKEEP_MODULE"], "dotfiles");
    assert_eq!(vars["UPKEEP_VERSION"], "1.0.0");
    assert_eq!(vars["UPKEEP_ACTION"], "setup");
    assert!(
        vars["UPKEEP_WORK_DIR"].ends_with("/work/dotfiles"),
        "{vars:#?}"
    );
    assert!(vars.contains_key("UPKEEP_RUN_ID"), "{vars:#?}");
}

#[test]
fn a_first_setup_installs_the_declared_version_and_leaves_a_pending_update_pending() {
    let mut host = Host::new();
    let dumps = host.root.display().to_string();
    host.manifest_toml(&format!(
        "[[module]]\nname = \"app\"\nversion = \"1.0.0\"\n\
         command = [\"sh\", \"-c\", \"env > {dumps}/$UPKEEP_ACTION.env\"]\n\
         source = {{ type = \"command\", command = \"echo 1.5.0\" }}\n"
    ));
    host.upkeep().args(["check", "app"]).assert().success();
    host.upkeep().arg("run").assert().success();
    let setup = upkeep_vars(&fs_err::read_to_string(host.root.join("setup.env")).unwrap());
    assert_eq!(setup["UPKEEP_VERSION"], "1.0.0");
    assert_eq!(
        setup["UPKEEP_TARGET_VERSION"], "",
        "a setup installs what is declared"
    );
    let upstream: Option<String> =
        host.scalar("SELECT upstream_version FROM modules WHERE name = 'app'");
    assert_eq!(upstream, None, "the update was not taken");
    // The update is still on offer, and the next run takes it.
    let (_, stdout, _) = output(&host.upkeep().arg("plan").assert());
    assert!(stdout.contains("update to 1.5.0"), "{stdout}");
    host.upkeep().arg("run").assert().success();
    let update = upkeep_vars(&fs_err::read_to_string(host.root.join("update.env")).unwrap());
    assert_eq!(update["UPKEEP_TARGET_VERSION"], "1.5.0");
}

#[test]
fn rollback_takes_code_only_from_a_tag_the_ledger_vouches_for() {
    let mut host = Host::new();
    git(&host.updates, &["init", "-q"]);
    release(&mut host, "1.0.0");
    host.upkeep().arg("run").assert().success();
    release(&mut host, "2.0.0");
    host.upkeep().arg("run").assert().success();
    // Someone who can push tags puts a newer-looking 1.0.0 tag on a commit of their own.
    let index = host.updates.join("app/index.py");
    let mine = fs_err::read_to_string(&index).unwrap();
    fs_err::write(&index, "def main(args):\n    open('/tmp/pwned', 'w')\n").unwrap();
    git(&host.updates, &["commit", "-qam", "theirs"]);
    git(&host.updates, &["tag", "app-v1.0.0-29991231235959"]);
    git(&host.updates, &["reset", "-q", "--hard", "HEAD~1"]);
    let (code, stdout, stderr) = output(
        &host
            .upkeep()
            .args(["--json", "rollback", "app", "--to", "1.0.0", "--yes"])
            .assert(),
    );
    assert_eq!(code, 0, "{stdout}{stderr}");
    let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_ne!(
        report["tag"]["tag"], "app-v1.0.0-29991231235959",
        "{report:#}"
    );
    assert_eq!(fs_err::read_to_string(&index).unwrap(), mine);
}

#[test]
fn a_run_whose_lock_file_was_deleted_is_not_taken_for_an_interrupted_one() {
    let mut host = Host::new();
    let gate = crate::fixture::Gate::manifest(&mut host);
    let holder = gate.hold(&host);
    fs_err::remove_file(host.state.join("upkeep.lock")).unwrap();
    // (A timeout, so that a run that wrongly took over does not wait on the gate forever.)
    let (code, _, stderr) = output(&host.upkeep().args(["run", "--timeout", "5s"]).assert());
    assert_eq!(code, 5, "{stderr}");
    assert!(stderr.contains("is still running"), "{stderr}");
    // The first run was neither stopped nor marked interrupted: it finishes as it would.
    gate.open(holder);
    let result: String = host.scalar("SELECT result FROM runs WHERE id = 1");
    assert_eq!(result, "succeeded");
}
