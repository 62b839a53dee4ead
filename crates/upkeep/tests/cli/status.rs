//! `upkeep status` as the question "does my automation work?": each reason code of the
//! top-level state, and each module's reason, produced by what a person really does
//! (adds a schedule or not, a module that fails and one that needs it, a rollback that
//! fails, a check that grows old, a channel that cannot deliver).

use serde_json::Value;

use crate::fixture::{Host, output};

/// `upkeep status --json`, which must succeed.
fn status(host: &Host) -> Value {
    let (code, stdout, stderr) = output(&host.upkeep().args(["status", "--json"]).assert());
    assert_eq!(code, 0, "{stderr}");
    serde_json::from_str(&stdout).unwrap()
}

/// The report's reason codes, in its order.
fn codes(report: &Value) -> Vec<&str> {
    report["reasons"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["code"].as_str().unwrap())
        .collect()
}

/// A module's row.
fn module<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["modules"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["module"] == name)
        .unwrap_or_else(|| panic!("no module {name} in {report:#}"))
}

fn add_schedule(host: &Host, name: &str) {
    let (code, _, stderr) = output(
        &host
            .upkeep()
            .args(["schedule", "add", name, "--daily", "03:00", "--tz", "UTC"])
            .assert(),
    );
    assert_eq!(code, 0, "{stderr}");
}

fn settings(host: &Host, text: &str) {
    fs_err::write(host.root.join("settings.toml"), text).unwrap();
}

#[test]
fn without_an_enabled_schedule_automation_is_stopped() {
    let mut host = Host::new();
    host.manifest_toml("[[module]]\nname = \"a\"\ncommand = [\"true\"]\n");
    let report = status(&host);
    assert_eq!(report["state"], "stopped", "{report:#}");
    assert_eq!(codes(&report), ["no-schedule-enabled"]);
    assert_eq!(module(&report, "a")["reason"], "never-run");
    assert!(!host.state.exists(), "status must not create the state");

    host.upkeep().arg("run").assert().success();
    add_schedule(&host, "nightly");
    let report = status(&host);
    assert_eq!(report["state"], "working", "{report:#}");
    assert_eq!(codes(&report), Vec::<&str>::new());
    assert_eq!(report["schedules_enabled"], 1);
    let a = module(&report, "a");
    assert_eq!(a["reason"], "up-to-date");
    assert_eq!(a["reason_message"], "Up to date: nothing to apply.");

    // The table says the same.
    let (_, text, _) = output(&host.upkeep().arg("status").assert());
    assert!(text.starts_with("automation: working\n"), "{text}");
    assert!(text.contains("up-to-date"), "{text}");

    host.upkeep()
        .args(["schedule", "disable", "nightly"])
        .assert()
        .success();
    let report = status(&host);
    assert_eq!(report["state"], "stopped");
    assert_eq!(codes(&report), ["no-schedule-enabled"]);
    assert_eq!(
        report["reasons"][0]["hint"], "upkeep schedule enable nightly",
        "{report:#}"
    );

    host.upkeep()
        .args(["schedule", "enable", "nightly"])
        .assert()
        .success();
    settings(&host, "[schedule]\nenabled = false\n");
    let report = status(&host);
    assert_eq!(report["state"], "stopped");
    assert_eq!(codes(&report), ["schedules-turned-off"]);
    assert_eq!(
        report["reasons"][0]["subjects"],
        serde_json::json!(["nightly"])
    );
    let (_, text, _) = output(&host.upkeep().arg("status").assert());
    assert!(
        text.starts_with("automation: stopped\n  schedules-turned-off: "),
        "{text}"
    );
}

#[test]
fn a_failed_scheduled_run_degrades_and_names_the_module_that_blocked_another() {
    let mut host = Host::new();
    host.manifest_toml(
        "[[module]]\nname = \"a\"\ncommand = [\"false\"]\n\n\
         [[module]]\nname = \"b\"\ncommand = [\"true\"]\ndepends_on = [\"a\"]\n\n\
         [[module]]\nname = \"c\"\ncommand = [\"true\"]\nenabled = false\n\n\
         [[module]]\nname = \"d\"\ncommand = [\"true\"]\n",
    );
    add_schedule(&host, "nightly");
    host.upkeep()
        .args(["run", "--scheduled", "nightly"])
        .assert()
        .code(3);
    let report = status(&host);
    assert_eq!(report["state"], "degraded", "{report:#}");
    assert_eq!(codes(&report), ["scheduled-run-failed"]);
    let reason = &report["reasons"][0];
    assert_eq!(reason["severity"], "degraded");
    assert_eq!(reason["subjects"], serde_json::json!(["nightly"]));
    assert!(
        reason["message"]
            .as_str()
            .unwrap()
            .contains("schedule `nightly` (run 1, "),
        "{reason}"
    );
    assert_eq!(module(&report, "a")["reason"], "failed");
    assert_eq!(module(&report, "a")["last_outcome"], "failed");
    let b = module(&report, "b");
    assert_eq!(b["reason"], "blocked-by-dependency", "{b}");
    assert_eq!(b["blocked_by"], "a");
    assert_eq!(module(&report, "c")["reason"], "disabled");
    assert_eq!(module(&report, "d")["reason"], "up-to-date");

    // The module once fixed, the next scheduled run ends well and nothing is left.
    host.manifest_toml(
        "[[module]]\nname = \"a\"\ncommand = [\"true\"]\n\n\
         [[module]]\nname = \"b\"\ncommand = [\"true\"]\ndepends_on = [\"a\"]\n\n\
         [[module]]\nname = \"c\"\ncommand = [\"true\"]\nenabled = false\n\n\
         [[module]]\nname = \"d\"\ncommand = [\"true\"]\n",
    );
    host.upkeep()
        .args(["run", "--scheduled", "nightly"])
        .assert()
        .success();
    let report = status(&host);
    assert_eq!(report["state"], "working", "{report:#}");
    assert_eq!(module(&report, "b")["reason"], "up-to-date");
}

#[test]
fn a_scheduled_run_that_could_not_start_degrades() {
    let mut host = Host::new();
    host.manifest_toml(
        "[[module]]\nname = \"a\"\ncommand = [\"true\"]\n\n[[module]]\nname = \"b\"\ncommand = [\"true\"]\n",
    );
    let (code, _, stderr) = output(
        &host
            .upkeep()
            .args([
                "schedule",
                "add",
                "only-b",
                "--daily",
                "03:00",
                "--tz",
                "UTC",
                "--targets",
                "b",
            ])
            .assert(),
    );
    assert_eq!(code, 0, "{stderr}");
    // Its target leaves the manifest: the schedule's run cannot start.
    host.manifest_toml("[[module]]\nname = \"a\"\ncommand = [\"true\"]\n");
    let (code, _, _) = output(
        &host
            .upkeep()
            .args(["run", "--scheduled", "only-b"])
            .assert(),
    );
    assert_ne!(code, 0);
    let report = status(&host);
    assert_eq!(report["state"], "degraded", "{report:#}");
    assert_eq!(codes(&report), ["scheduled-run-not-started"]);
    let message = report["reasons"][0]["message"].as_str().unwrap();
    assert!(
        message.starts_with("The last run of schedule `only-b` (run 1, ")
            && message.contains("could not start: "),
        "{message}"
    );
}

#[test]
fn a_module_held_for_intervention_degrades() {
    let mut host = Host::new();
    let data = host.root.join("srv/data");
    fs_err::create_dir_all(&data).unwrap();
    let healthy = host.root.join("healthy");
    fs_err::write(&healthy, "").unwrap();
    let manifest = |version: u32| {
        format!(
            "[[module]]\nname = \"app\"\nversion = {version}\ncommand = [\"true\"]\npaths = [{:?}]\n\
             health = {{ command = [\"test\", \"-f\", {:?}], retries = 0 }}\n\n\
             [[module]]\nname = \"web\"\nversion = {version}\ncommand = [\"true\"]\ndepends_on = [\"app\"]\n",
            data.display().to_string(),
            healthy.display().to_string()
        )
    };
    host.manifest_toml(&manifest(1));
    host.upkeep().arg("run").assert().success();
    add_schedule(&host, "nightly");
    let report = status(&host);
    assert_eq!(report["state"], "working", "{report:#}");
    let app = module(&report, "app");
    assert_eq!(app["last_health"], "passed");
    assert!(app["last_backup"].is_i64(), "{app}");
    assert!(app["last_backup_age_secs"].as_i64().unwrap() >= 0, "{app}");

    // The health check fails after the update and again after the rollback.
    fs_err::remove_file(&healthy).unwrap();
    host.manifest_toml(&manifest(2));
    host.upkeep().arg("run").assert().code(3);
    assert_eq!(
        host.outcomes(2)[0],
        ("app".into(), "needs-intervention".into())
    );
    let report = status(&host);
    assert_eq!(report["state"], "degraded", "{report:#}");
    assert_eq!(codes(&report), ["modules-need-intervention"]);
    assert_eq!(report["reasons"][0]["subjects"], serde_json::json!(["app"]));
    let app = module(&report, "app");
    assert_eq!(app["reason"], "needs-intervention", "{app}");
    assert!(
        app["reason_message"]
            .as_str()
            .unwrap()
            .ends_with("`upkeep clear app` releases it."),
        "{app}"
    );
    let web = module(&report, "web");
    assert_eq!(web["reason"], "blocked-by-dependency", "{web}");
    assert_eq!(web["blocked_by"], "app");

    host.upkeep().args(["clear", "app"]).assert().success();
    let report = status(&host);
    assert_eq!(report["state"], "working", "{report:#}");
}

/// Update checks age past twice their period (the daily schedule's day, longer than the
/// hourly check interval): the ledger's check time is moved back rather than waiting.
#[test]
fn checks_older_than_twice_their_period_are_stale() {
    let mut host = Host::new();
    host.manifest_toml(
        r#"
[[module]]
name = "major"
version = "1.0.0"
command = ["true"]
source = { type = "command", command = ["echo", "2.0.0"] }

[[module]]
name = "minor"
version = "1.0.0"
command = ["true"]
source = { type = "command", command = ["echo", "1.0.1"] }

[[module]]
name = "held"
version = "1.0.0"
command = ["true"]
source = { type = "command", command = ["echo", "1.0.1"] }
policy = { hold = true }
"#,
    );
    host.upkeep().arg("run").assert().success();
    add_schedule(&host, "nightly");
    host.upkeep().arg("check").assert().success();
    let report = status(&host);
    assert_eq!(report["state"], "working", "{report:#}");
    assert_eq!(report["checks"]["expected"], true);
    assert_eq!(report["checks"]["period_secs"], 86_400);
    assert_eq!(report["checks"]["stale_after_secs"], 172_800);
    assert_eq!(
        module(&report, "major")["reason"],
        "major-awaiting-approval"
    );
    assert_eq!(module(&report, "minor")["reason"], "update-available");
    assert_eq!(module(&report, "held")["reason"], "pinned-or-held");

    let now: i64 = report["at_ms"].as_i64().unwrap();
    let three_days = 3 * 86_400_000;
    let ledger = rusqlite::Connection::open(host.state.join("upkeep.db")).unwrap();
    ledger
        .execute(
            "UPDATE update_checks SET checked_ms = ?1",
            [now - three_days],
        )
        .unwrap();
    drop(ledger);
    let report = status(&host);
    assert_eq!(report["state"], "degraded", "{report:#}");
    assert_eq!(codes(&report), ["checks-stale"]);
    assert_eq!(report["reasons"][0]["hint"], "upkeep check");
    assert_eq!(report["checks"]["last_answered_ms"], now - three_days);

    // A check interval longer than the schedule's gap is the period: three days is
    // then within twice it.
    settings(&host, "[update]\nupdate_check_interval = \"3d\"\n");
    let report = status(&host);
    assert_eq!(report["checks"]["period_secs"], 3 * 86_400);
    assert_eq!(report["state"], "working", "{report:#}");

    // Back to the default, a fresh check clears it.
    settings(&host, "");
    host.upkeep().arg("check").assert().success();
    assert_eq!(status(&host)["state"], "working");
}

#[test]
fn a_channel_whose_deliveries_fail_degrades_until_one_is_delivered() {
    let mut host = Host::new();
    host.manifest_toml("[[module]]\nname = \"a\"\ncommand = [\"true\"]\n");
    settings(
        &host,
        "[channels.pager]\nkind = \"command\"\nargv = [\"sh\", \"-c\", \"echo pager down >&2; exit 1\"]\n",
    );
    add_schedule(&host, "nightly");
    host.upkeep().arg("run").assert().success();
    host.upkeep().args(["notify", "flush"]).assert().code(3);
    let report = status(&host);
    assert_eq!(report["state"], "degraded", "{report:#}");
    assert_eq!(codes(&report), ["notification-channel-failing"]);
    let reason = &report["reasons"][0];
    assert_eq!(reason["subjects"], serde_json::json!(["pager"]));
    assert!(
        reason["message"]
            .as_str()
            .unwrap()
            .starts_with("Channel `pager` is failing: its newest notification ("),
        "{reason}"
    );
    assert_eq!(reason["hint"], "upkeep notify test pager");

    settings(
        &host,
        "[channels.pager]\nkind = \"command\"\nargv = [\"true\"]\n",
    );
    host.upkeep().args(["notify", "flush"]).assert().success();
    let report = status(&host);
    assert_eq!(report["state"], "working", "{report:#}");
}
