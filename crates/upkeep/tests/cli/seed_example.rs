//! The bundled seed example (`examples/seed-updates`) end to end: plan, approve, run,
//! status, history, and the write-back into `manifest.json`.

use crate::fixture::{Host, output};

#[test]
#[expect(
    clippy::too_many_lines,
    reason = "one end-to-end scenario reads best top to bottom"
)]
fn seed_example_end_to_end() {
    let host = Host::seed_example();

    let original = fs_err::read_to_string(host.manifest()).unwrap();
    let plan = host.upkeep().arg("plan").assert().success();
    insta::assert_snapshot!("plan_before_setup", host.redact(&output(&plan).1));

    // The example ships with its checksums recorded, as the seeds' layout requires.
    host.upkeep()
        .args(["checksum", "--check"])
        .assert()
        .success();
    let run = host.upkeep().arg("run").assert().success();
    insta::assert_snapshot!("first_run", host.redact_table(&output(&run).1));

    // The modules did their real work under the state directory.
    let work = host.state.join("work");
    let hosts = fs_err::read_to_string(work.join("adblock/hosts.blocklist")).unwrap();
    assert_eq!(hosts.lines().count(), 3, "duplicates removed: {hosts}");
    let ini = fs_err::read_to_string(work.join("gogs/app.ini")).unwrap();
    assert!(
        ini.contains("HTTP_PORT = 3001") && ini.contains("[security]"),
        "{ini}"
    );
    let gogs_log = fs_err::read_to_string(host.state.join("logs/run-1/gogs.log")).unwrap();
    assert!(
        gogs_log.contains("migrated app.ini from version None to 2"),
        "{gogs_log}"
    );

    // lastApplied and lastSafeVersion were written back, everything else kept byte for byte.
    let written = fs_err::read_to_string(host.manifest()).unwrap();
    let owned =
        |line: &&str| line.contains("\"lastApplied\"") || line.contains("\"lastSafeVersion\"");
    let kept = |text: &str| {
        text.lines()
            .filter(|l| !owned(l))
            .map(str::to_owned)
            .collect::<Vec<_>>()
    };
    assert_eq!(kept(&written), kept(&original));
    assert_eq!(written.lines().count(), original.lines().count());
    let manifest: serde_json::Value =
        serde_json::from_str(&fs_err::read_to_string(host.manifest()).unwrap()).unwrap();
    let adblock = &manifest["updates"][0];
    assert_eq!(adblock["lastSafeVersion"], "1.0.0");
    assert!(adblock["lastApplied"].as_str().unwrap().ends_with('Z'));
    assert_eq!(adblock["args"], serde_json::json!(["--lists", "default"]));
    assert_eq!(
        manifest["updates"][4]["lastApplied"],
        serde_json::Value::Null,
        "groups are not applied"
    );

    let status = host.upkeep().args(["status", "--json"]).assert().success();
    let report: serde_json::Value = serde_json::from_str(&output(&status).1).unwrap();
    let rows = &report["modules"];
    for row in rows
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["kind"] == "python")
    {
        assert_eq!(row["applied_version"], row["declared_version"], "{row}");
        assert_eq!(row["state"], "up to date");
        assert!(row["description"].is_string());
    }

    // A second run runs every module again, as the seeds' orchestrator does (each one's
    // `main(args)` looks for what is new itself), except `gogs`, whose `setup(old_version)`
    // makes it a Plinth module that runs only on a version change.
    let again = host.upkeep().arg("run").assert().success();
    let again = output(&again).1;
    assert!(again.contains("3 succeeded, 1 skipped"), "{again}");
    assert!(
        again
            .lines()
            .any(|l| l.starts_with("gogs") && l.contains("skipped")),
        "{again}"
    );

    let history = host
        .upkeep()
        .args(["history", "--since", "1d", "--json"])
        .assert()
        .success();
    let history: serde_json::Value = serde_json::from_str(&output(&history).1).unwrap();
    assert_eq!(history["runs"].as_array().unwrap().len(), 2);
    let gogs = history["stats"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["module"] == "gogs")
        .unwrap();
    assert_eq!(gogs["attempts"], 1);
    assert_eq!(gogs["success_rate"], 1.0);
}

#[test]
fn status_lists_modules_never_set_up_with_their_descriptions() {
    let host = Host::seed_example();
    let status = host.upkeep().arg("status").assert().success();
    insta::assert_snapshot!(host.redact(&output(&status).1));
    assert!(
        !host.state.exists(),
        "reading status must not create the state directory"
    );
}

#[test]
fn modules_without_a_recorded_checksum_do_not_run() {
    let host = Host::seed_example();
    fs_err::remove_file(host.updates.join("atuin/checksum")).unwrap();
    let text = fs_err::read_to_string(host.manifest()).unwrap();
    let manifest: serde_json::Value = serde_json::from_str(&text).unwrap();
    let declared = manifest["updates"][1]["checksum"]
        .as_str()
        .unwrap()
        .to_owned();
    fs_err::write(
        host.manifest(),
        text.replace(&format!("\"{declared}\""), "null"),
    )
    .unwrap();
    let refused = host.upkeep().arg("run").assert().code(6);
    let (_, stdout, _) = output(&refused);
    assert!(
        stdout.contains("atuin") && stdout.contains("integrity-refused"),
        "{stdout}"
    );
    assert!(stdout.contains("upkeep checksum --write atuin"), "{stdout}");
    assert!(!host.state.join("work/atuin").join("config.toml").exists());
}

#[test]
fn dry_run_executes_nothing_and_writes_nothing() {
    let host = Host::seed_example();
    host.approve();
    let before = fs_err::read(host.manifest()).unwrap();
    let dry = host.upkeep().args(["run", "--dry-run"]).assert().success();
    assert!(output(&dry).1.contains("would-run"));
    assert!(!host.state.join("work").exists());
    assert_eq!(fs_err::read(host.manifest()).unwrap(), before);
    let runs: i64 = host
        .ledger()
        .query_row("SELECT count(*) FROM runs", [], |r| r.get(0))
        .unwrap();
    assert_eq!(runs, 0);
}

#[test]
fn status_reports_the_states_figures() {
    let host = Host::seed_example();
    host.upkeep().arg("run").assert().success();
    host.upkeep()
        .args(["run", "--force", "gogs"])
        .assert()
        .success();
    let out = host
        .upkeep()
        .args(["--json", "status", "--metrics"])
        .assert()
        .success();
    let figures: serde_json::Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    assert_eq!(figures["last_run"]["id"], 2);
    assert_eq!(figures["last_run"]["result"], "succeeded");
    for window in figures["windows"].as_array().unwrap() {
        assert_eq!(
            (window["runs"].as_i64(), window["succeeded"].as_i64()),
            (Some(2), Some(2))
        );
    }
    assert!(figures["disk_usage_total"].as_u64().unwrap() > 0);
    let names: Vec<&str> = figures["disk_usage"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e[0].as_str().unwrap())
        .collect();
    assert!(
        names.contains(&"backups") && names.contains(&"upkeep.db"),
        "{names:?}"
    );
}
