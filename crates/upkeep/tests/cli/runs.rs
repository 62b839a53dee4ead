//! Runs from the user's side: failure isolation, Plinth upgrades, ordering, parallelism,
//! target selection and module kinds.

use std::fmt::Write as _;

use serde_json::json;

use crate::fixture::{Host, output};

/// A Python module that appends its name to `order.txt` in the state directory, then
/// fails when told to.
fn recording_module(host: &Host, name: &str, fail: bool) {
    let body = format!(
        "import os\n\ndef main(args):\n    with open(os.path.join(os.environ['UPKEEP_STATE_DIR'], 'order.txt'), 'a') as f:\n        f.write('{name}\\n')\n    if {fail}:\n        raise RuntimeError('{name} broke on purpose')\n",
        fail = if fail { "True" } else { "False" }
    );
    host.python_module(name, &body);
}

fn order(host: &Host) -> Vec<String> {
    fs_err::read_to_string(host.state.join("order.txt"))
        .unwrap_or_default()
        .lines()
        .map(str::to_owned)
        .collect()
}

/// The names in `dir`, sorted.
fn names_in(dir: &std::path::Path) -> Vec<String> {
    let mut names: Vec<String> = fs_err::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// The log files of run `run`, sorted.
fn log_files(host: &Host, run: i64) -> Vec<String> {
    names_in(&host.state.join(format!("logs/run-{run}")))
}

#[test]
fn a_failure_in_the_middle_blocks_only_its_children_and_dependents() {
    let mut host = Host::new();
    for (name, fail) in [
        ("base", false),
        ("broken", true),
        ("child", false),
        ("dependent", false),
        ("sibling", false),
        ("independent", false),
    ] {
        recording_module(&host, name, fail);
    }
    // Plinth's rule: the fixed rerun below runs only what is left (`run_rules.rs` tests
    // the seed form's default, every module on every run).
    host.manifest_json(&json!({
        "run": "on-change", "updates": [
            {"name": "root", "module": "", "children": ["base", "broken", "sibling"]},
            {"name": "base", "module": "base.index"},
            {"name": "broken", "module": "broken.index", "children": ["child"]},
            {"name": "child", "module": "child.index"},
            {"name": "sibling", "module": "sibling.index"},
            {"name": "dependent", "module": "dependent.index", "dependsOn": ["broken"]},
            {"name": "independent", "module": "independent.index"}
        ]
    }));
    host.approve();
    let run = host.upkeep().args(["run", "-j1"]).assert().code(3);
    let (_, stdout, _) = output(&run);
    insta::assert_snapshot!(host.redact_table(&stdout));
    let outcomes = host.outcomes(1);
    let expect = [
        ("base", "succeeded"),
        ("broken", "failed"),
        ("child", "blocked"),
        ("dependent", "blocked"),
        ("independent", "succeeded"),
        ("sibling", "succeeded"),
    ];
    let expect: Vec<(String, String)> = expect
        .iter()
        .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
        .collect();
    assert_eq!(outcomes, expect);
    let ran = order(&host);
    assert!(
        !ran.contains(&"child".to_owned()) && !ran.contains(&"dependent".to_owned()),
        "{ran:?}"
    );
    let log = fs_err::read_to_string(host.state.join("logs/run-1/broken.log")).unwrap();
    assert!(
        log.contains("Traceback") && log.contains("RuntimeError: broken broke on purpose"),
        "{log}"
    );
    // Log files are made ahead of the modules; those of the modules that never started go.
    assert_eq!(
        log_files(&host, 1),
        ["base.log", "broken.log", "independent.log", "sibling.log"]
    );

    // The failed module keeps no applied version; a fixed rerun only runs what is left.
    recording_module(&host, "broken", false);
    host.approve();
    host.upkeep().args(["run", "-j1"]).assert().success();
    let reran: Vec<(String, String)> = host.outcomes(2);
    let names: Vec<&str> = reran.iter().map(|(m, _)| m.as_str()).collect();
    assert_eq!(names, ["broken", "child", "dependent"]);
}

#[test]
fn plinth_upgrade_calls_setup_with_the_old_version() {
    let mut host = Host::new();
    host.python_module(
        "app",
        "import os\n\ndef setup(old_version):\n    with open(os.path.join(os.environ['UPKEEP_STATE_DIR'], 'calls.txt'), 'a') as f:\n        f.write(repr(old_version) + '\\n')\n",
    );
    let manifest = |version: u64| json!({"updates": [{"name": "app", "module": "app.index", "version": version}]});
    host.manifest_json(&manifest(1));
    host.approve();
    host.upkeep().arg("run").assert().success();
    host.manifest_json(&manifest(2));
    let plan = host.upkeep().arg("plan").assert().success();
    assert!(output(&plan).1.contains("upgrade 1 -> 2"));
    host.upkeep().arg("run").assert().success();
    host.upkeep().arg("run").assert().success();
    let calls = fs_err::read_to_string(host.state.join("calls.txt")).unwrap();
    assert_eq!(
        calls, "None\n1\n",
        "first setup gets None, the upgrade gets 1, an up-to-date run nothing"
    );
}

#[test]
fn critical_modules_and_what_they_need_run_first() {
    let mut host = Host::new();
    for name in ["plain1", "plain2", "needed", "core"] {
        recording_module(&host, name, false);
    }
    host.manifest_json(&json!({
        "updates": [
            {"name": "plain1", "module": "plain1.index"},
            {"name": "plain2", "module": "plain2.index"},
            {"name": "needed", "module": "needed.index"},
            {"name": "core", "module": "core.index", "critical": true, "dependsOn": ["needed"]}
        ]
    }));
    host.approve();
    host.upkeep().args(["run", "-j2"]).assert().success();
    assert_eq!(order(&host)[..2], ["needed", "core"]);
}

#[test]
fn independent_modules_run_in_parallel() {
    // Each module waits until the other has started: this only finishes if both run at
    // the same time. The timeout turns a regression into a failure instead of a hang.
    let mut host = Host::new();
    let wait_for = |me: &str, other: &str| {
        format!(
            "touch \"$UPKEEP_STATE_DIR/{me}.started\"\nwhile [ ! -e \"$UPKEEP_STATE_DIR/{other}.started\" ]; do sleep 0.01; done"
        )
    };
    let left = host.script("left.sh", &wait_for("left", "right"));
    let right = host.script("right.sh", &wait_for("right", "left"));
    host.manifest_toml(&format!(
        "[upkeep]\ntimeout = \"20s\"\n\n[[module]]\nname = \"left\"\ncommand = [\"{}\"]\n\n[[module]]\nname = \"right\"\ncommand = [\"{}\"]\n",
        left.display(),
        right.display()
    ));
    host.upkeep().args(["run", "-j2"]).assert().success();
}

#[test]
fn naming_a_target_pulls_in_what_it_needs_and_nothing_else() {
    let mut host = Host::new();
    for name in ["db", "web", "other"] {
        recording_module(&host, name, false);
    }
    host.manifest_json(&json!({
        "updates": [
            {"name": "db", "module": "db.index"},
            {"name": "web", "module": "web.index", "dependsOn": ["db"]},
            {"name": "other", "module": "other.index"}
        ]
    }));
    host.approve();
    host.upkeep().args(["run", "web"]).assert().success();
    assert_eq!(order(&host), ["db", "web"]);
    let unknown = host.upkeep().args(["run", "wbe"]).assert().code(4);
    assert!(output(&unknown).2.contains("did you mean `web`?"));
}

#[test]
fn command_modules_get_their_context_in_the_environment() {
    let mut host = Host::new();
    let script = host.script(
        "env.sh",
        "mkdir -p \"$UPKEEP_WORK_DIR\" && env | grep '^UPKEEP_' | sort > \"$UPKEEP_WORK_DIR/env.txt\"",
    );
    host.manifest_toml(&format!(
        "[[module]]\nname = \"envdump\"\nversion = \"1.2.0\"\ncommand = [\"{}\"]\n",
        script.display()
    ));
    host.upkeep().arg("run").assert().success();
    let env = fs_err::read_to_string(host.state.join("work/envdump/env.txt")).unwrap();
    for needle in [
        "UPKEEP_MODULE=envdump",
        "UPKEEP_VERSION=1.2.0",
        "UPKEEP_OLD_VERSION=\n",
        "UPKEEP_RUN_ID=1",
        "UPKEEP_ACTION=setup",
    ] {
        assert!(env.contains(needle), "{needle} missing from\n{env}");
    }
    assert!(
        env.contains(&format!("UPKEEP_STATE_DIR={}", host.state.display())),
        "{env}"
    );
}

/// `UPKEEP_WORK_DIR` exists at start only for a module whose `paths` name `{work}` (its
/// backups cover it); any other module finds `<state>/work` there and makes its own
/// directory when it first needs one, so a run makes no empty directory per module.
#[test]
fn only_a_module_whose_paths_name_its_work_dir_finds_it_made() {
    let mut host = Host::new();
    let probe = host.script(
        "probe.sh",
        r#"seen="$UPKEEP_STATE_DIR/$UPKEEP_MODULE.seen"
if [ -d "$UPKEEP_WORK_DIR" ]; then echo made > "$seen"; else echo absent > "$seen"; fi
mkdir "$UPKEEP_WORK_DIR" 2>/dev/null; echo kept > "$UPKEEP_WORK_DIR/file"
"#,
    );
    host.manifest_toml(&format!(
        "[[module]]\nname = \"declares\"\ncommand = [\"{p}\"]\npaths = [\"{{work}}\"]\n\n\
         [[module]]\nname = \"plain\"\ncommand = [\"{p}\"]\n",
        p = probe.display()
    ));
    host.upkeep().arg("run").assert().success();
    let seen = |m: &str| fs_err::read_to_string(host.state.join(format!("{m}.seen"))).unwrap();
    assert_eq!(seen("declares"), "made\n");
    assert_eq!(seen("plain"), "absent\n");
    // A plain `mkdir` (no `-p`) was enough: `<state>/work` was there.
    for module in ["declares", "plain"] {
        let kept = host.state.join("work").join(module).join("file");
        assert_eq!(fs_err::read_to_string(kept).unwrap(), "kept\n");
    }
}

#[test]
fn verbose_streams_module_output_to_the_terminal() {
    let mut host = Host::new();
    let script = host.script("talk.sh", "echo hello from the module\necho oops >&2");
    host.manifest_toml(&format!(
        "[[module]]\nname = \"talk\"\ncommand = [\"{}\"]\n",
        script.display()
    ));
    let run = host.upkeep().args(["run", "-v"]).assert().success();
    let (_, _, stderr) = output(&run);
    assert!(
        stderr.contains("talk | hello from the module") && stderr.contains("talk ! oops"),
        "{stderr}"
    );
    let log = fs_err::read_to_string(host.state.join("logs/run-1/talk.log")).unwrap();
    assert!(
        log.contains("hello from the module") && log.contains("oops"),
        "{log}"
    );
}

/// Regression: `upkeep plan --json | head` panicked on the broken pipe.
#[test]
fn a_closed_stdout_ends_quietly() {
    use std::io::Read;
    let mut host = Host::new();
    let mut manifest = String::new();
    for i in 0..600 {
        writeln!(
            manifest,
            "[[module]]\nname = \"m{i}\"\ncommand = [\"/bin/true\"]\n"
        )
        .unwrap();
    }
    host.manifest_toml(&manifest);
    #[expect(clippy::disallowed_methods, reason = "the test needs the pipe itself")]
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("upkeep"))
        .arg("--manifest")
        .arg(host.manifest())
        .arg("--state-dir")
        .arg(&host.state)
        .args(["plan", "--json"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut head = [0u8; 16];
    child.stdout.take().unwrap().read_exact(&mut head).unwrap();
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

/// Regression: a relative `--state-dir` reached modules as a relative `UPKEEP_WORK_DIR`,
/// and modules run in their own folder, so they wrote state into their code folders.
#[test]
fn a_relative_state_dir_is_made_absolute_for_modules() {
    let host = Host::seed_example();
    let mut cmd = assert_cmd::Command::cargo_bin("upkeep").unwrap();
    cmd.current_dir(&host.root)
        .env_remove("UPKEEP_STATE_DIR")
        .args([
            "--manifest",
            "updates/manifest.json",
            "--state-dir",
            "state",
            "run",
        ])
        .assert()
        .success();
    assert!(host.state.join("work/adblock/hosts.blocklist").exists());
    for module in ["adblock", "atuin", "filebrowser", "gogs"] {
        assert!(
            !host.updates.join(module).join("state").exists(),
            "{module} got state in its code folder"
        );
    }
    host.upkeep()
        .args(["checksum", "--check"])
        .assert()
        .success();
}

/// A module with nothing to do keeps its own reason when a prerequisite fails, and what
/// depends on it is still held back.
#[test]
fn modules_with_nothing_to_do_are_skipped_not_blocked_but_still_hold_back_dependents() {
    let mut host = Host::new();
    host.manifest_toml(
        "[[module]]\nname = \"a\"\ncommand = [\"false\"]\n\n\
         [[module]]\nname = \"b\"\ncommand = [\"true\"]\ndepends_on = [\"a\"]\nenabled = false\n\n\
         [[module]]\nname = \"c\"\ncommand = [\"true\"]\ndepends_on = [\"b\"]\n",
    );
    host.upkeep().arg("run").assert().code(3);
    let outcomes = host.outcomes(1);
    assert_eq!(
        outcomes,
        [
            ("a".into(), "failed".into()),
            ("c".into(), "blocked".into())
        ]
    );
    let status = host.upkeep().args(["status", "--json"]).assert().success();
    let report: serde_json::Value = serde_json::from_str(&output(&status).1).unwrap();
    let rows = &report["modules"];
    assert_eq!(rows[1]["state"], "skip (disabled)");
    assert_eq!(rows[1]["last_outcome"], serde_json::Value::Null);
}

/// The ledger keeps how a failed module ended: its exit code, or the signal that killed it.
#[test]
fn the_ledger_records_exit_codes_and_signals() {
    let mut host = Host::new();
    host.manifest_toml(
        "[[module]]\nname = \"exits\"\ncommand = [\"sh\", \"-c\", \"exit 7\"]\n\n\
         [[module]]\nname = \"killed\"\ncommand = [\"sh\", \"-c\", \"kill -9 $$\"]\n",
    );
    host.upkeep().arg("run").assert().code(3);
    let conn = host.ledger();
    let row = |module: &str| -> (Option<i32>, Option<i32>, String) {
        conn.query_row(
            "SELECT exit_code, signal, error FROM module_runs WHERE module = ?1",
            [module],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .unwrap()
    };
    assert_eq!(row("exits"), (Some(7), None, "exit code 7".to_owned()));
    assert_eq!(
        row("killed"),
        (None, Some(9), "killed by SIGKILL".to_owned())
    );
}

/// A module's outcome is one value from its process's exit to the summary and the ledger:
/// `run --json` and the module's row tell the same exit code, signal, words and duration,
/// and the row's start and end are that duration apart.
#[test]
fn the_summary_and_the_ledger_row_tell_one_outcome() {
    let mut host = Host::new();
    host.manifest_toml(
        "[[module]]\nname = \"exits\"\ncommand = [\"sh\", \"-c\", \"exit 7\"]\n\n\
         [[module]]\nname = \"killed\"\ncommand = [\"sh\", \"-c\", \"kill -9 $$\"]\n\n\
         [[module]]\nname = \"fine\"\ncommand = [\"true\"]\n",
    );
    let run = host.upkeep().args(["run", "--json"]).assert().code(3);
    let summary: serde_json::Value = serde_json::from_str(&output(&run).1).unwrap();
    let conn = host.ledger();
    for module in summary["modules"].as_array().unwrap() {
        let name = module["module"].as_str().unwrap();
        let (outcome, exit_code, signal, error, started, finished, duration): (
            String,
            Option<i64>,
            Option<i64>,
            Option<String>,
            i64,
            i64,
            i64,
        ) = conn
            .query_row(
                "SELECT outcome, exit_code, signal, error, started_ms, finished_ms, duration_ms
                 FROM module_runs WHERE module = ?1",
                [name],
                |r| {
                    Ok((
                        r.get(0)?,
                        r.get(1)?,
                        r.get(2)?,
                        r.get(3)?,
                        r.get(4)?,
                        r.get(5)?,
                        r.get(6)?,
                    ))
                },
            )
            .unwrap();
        assert_eq!(module["outcome"], outcome.as_str(), "{name}");
        assert_eq!(module["duration_ms"], duration, "{name}");
        assert_eq!(finished - started, duration, "{name}");
        if outcome == "failed" {
            assert_eq!(module["exit_code"], json!(exit_code), "{name}");
            assert_eq!(module["signal"], json!(signal), "{name}");
            assert_eq!(module["status"], json!(error), "{name}");
        } else {
            assert_eq!((outcome.as_str(), exit_code), ("succeeded", Some(0)));
        }
    }
    let statuses: Vec<&str> = summary["modules"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m["status"].as_str())
        .collect();
    assert_eq!(statuses, ["exit code 7", "killed by SIGKILL"]);
}

#[test]
fn completions_help_and_version_work_without_a_manifest() {
    let host = Host::new();
    let bash = host
        .upkeep()
        .args(["completions", "bash"])
        .assert()
        .success();
    assert!(output(&bash).1.contains("_upkeep()"));
    let help = host.upkeep().arg("--help").assert().success();
    assert!(output(&help).1.contains("130  the run was cancelled"));
    host.upkeep().arg("--version").assert().success();
    assert!(!host.state.exists());
}

#[test]
fn old_run_logs_are_pruned_to_the_setting_and_the_ledger_keeps_every_run() {
    let mut host = Host::new();
    fs_err::write(
        host.root.join("settings.toml"),
        "[logging]\nmax_log_files = 2\n",
    )
    .unwrap();
    let script = host.script("say.sh", "echo \"run $UPKEEP_RUN_ID\"");
    host.manifest_toml(&format!(
        "[[module]]\nname = \"say\"\ncommand = [\"{}\"]\n",
        script.display()
    ));
    // A pre-run's and a rollback's log directories are pruned by kind, not with runs'.
    for other in ["prerun-100", "prerun-200", "prerun-300", "rollback-7"] {
        fs_err::create_dir_all(host.state.join("logs").join(other)).unwrap();
    }
    for _ in 0..4 {
        host.upkeep().args(["run", "--force"]).assert().success();
    }
    assert_eq!(
        names_in(&host.state.join("logs")),
        ["prerun-200", "prerun-300", "rollback-7", "run-3", "run-4"]
    );
    let log = fs_err::read_to_string(host.state.join("logs/run-4/say.log")).unwrap();
    assert!(log.contains("run 4"), "{log}");
    let runs: i64 = host
        .ledger()
        .query_row("SELECT count(*) FROM runs", [], |row| row.get(0))
        .unwrap();
    assert_eq!(runs, 4);
}
