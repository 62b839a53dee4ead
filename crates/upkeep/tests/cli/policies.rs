//! Update policies from the user's side: `upkeep check` caches what a module's source
//! offers, `upkeep run` applies what the policy allows, hands the module its target, skips
//! what the policy holds and says so, and `--allow-breaking` lets a major update through.

use crate::fixture::{Host, output};

/// A command module that records the target it was given, and a command source that
/// offers the releases listed in `offer.json` (rewritten by the test between checks).
fn host_with_source(policy: &str) -> Host {
    let mut host = Host::new();
    host.script(
        "app/update.sh",
        r#"echo "${UPKEEP_ACTION}:${UPKEEP_CURRENT_VERSION:-none}->${UPKEEP_TARGET_VERSION:-none}" >> "$UPKEEP_STATE_DIR/targets.txt""#,
    );
    host.script("app/offer.sh", r#"cat "$(dirname "$0")/../offer.json""#);
    offer(&host, &["1.0.0", "1.1.0", "2.0.0"]);
    host.manifest_toml(&format!(
        r#"
[[module]]
name = "app"
version = "1.0.0"
script = "app/update.sh"
source = {{ type = "command", command = ["sh", "offer.sh"] }}
{policy}
"#
    ));
    host
}

fn offer(host: &Host, versions: &[&str]) {
    let releases: Vec<serde_json::Value> = versions
        .iter()
        .map(|v| serde_json::json!({"version": v, "changelog": format!("release {v}")}))
        .collect();
    host.write("offer.json", &serde_json::Value::from(releases).to_string());
}

fn targets(host: &Host) -> Vec<String> {
    fs_err::read_to_string(host.state.join("targets.txt"))
        .unwrap_or_default()
        .lines()
        .map(str::to_owned)
        .collect()
}

fn plan_action(host: &Host) -> serde_json::Value {
    let plan = host.upkeep().args(["plan", "--json"]).assert().success();
    let (_, stdout, _) = output(&plan);
    let plan: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    plan["steps"][0].clone()
}

#[test]
fn a_major_update_waits_for_allow_breaking_and_the_module_gets_its_target() {
    let host = host_with_source("");
    host.approve();
    // Without a check there is nothing upstream to move to: a plain setup.
    host.upkeep().args(["run"]).assert().success();
    assert_eq!(targets(&host), ["setup:none->none"]);

    host.upkeep().args(["check"]).assert().success();
    let step = plan_action(&host);
    assert_eq!(step["action"], "update", "{step}");
    assert_eq!(step["update"]["target"], "1.1.0", "{step}");
    assert_eq!(step["update"]["held"][0][0], "2.0.0", "{step}");

    host.upkeep().args(["run"]).assert().success();
    assert_eq!(targets(&host)[1], "update:1.0.0->1.1.0");

    // Only the major update is left: the run skips it and says why.
    let step = plan_action(&host);
    assert_eq!(step["action"], "held-back", "{step}");
    let run = host.upkeep().args(["run"]).assert().success();
    let (_, stdout, stderr) = output(&run);
    let said = format!("{stdout}{stderr}");
    assert!(said.contains("2.0.0 held back"), "{said}");
    assert!(said.contains("--allow-breaking"), "{said}");
    assert_eq!(targets(&host).len(), 2, "a held module does not run");

    host.upkeep()
        .args(["run", "--allow-breaking"])
        .assert()
        .success();
    assert_eq!(targets(&host)[2], "update:1.1.0->2.0.0");
    assert_eq!(plan_action(&host)["action"], "up-to-date");

    // A newer release needs a new check before a run sees it.
    offer(&host, &["2.0.0", "2.0.1"]);
    assert_eq!(plan_action(&host)["action"], "up-to-date");
    host.upkeep().args(["check"]).assert().success();
    host.upkeep().args(["run"]).assert().success();
    assert_eq!(targets(&host)[3], "update:2.0.0->2.0.1");
}

#[test]
fn hold_pin_and_range_keep_a_module_where_its_policy_says() {
    let host = host_with_source("policy = { hold = true }");
    host.approve();
    host.upkeep().args(["run"]).assert().success();
    host.upkeep().args(["check"]).assert().success();
    let step = plan_action(&host);
    assert_eq!(step["action"], "held-back", "{step}");
    host.upkeep()
        .args(["run", "--allow-breaking"])
        .assert()
        .success();
    assert_eq!(
        targets(&host),
        ["setup:none->none"],
        "hold holds even breaking updates"
    );

    let host = host_with_source(r#"policy = { range = "~1.0", ask_before_major = false }"#);
    host.approve();
    offer(&host, &["1.0.3", "1.1.0", "2.0.0"]);
    host.upkeep().args(["check"]).assert().success();
    // A first setup installs the declared version (issue 17: it used to take the update,
    // as "setup:1.0.0->1.0.3"); the next run takes what the policy allows.
    host.upkeep().args(["run"]).assert().success();
    host.upkeep().args(["run"]).assert().success();
    assert_eq!(targets(&host), ["setup:none->none", "update:1.0.0->1.0.3"]);

    let host = host_with_source(r#"policy = { pin = "1.1.0" }"#);
    host.approve();
    host.upkeep().args(["check"]).assert().success();
    host.upkeep().args(["run"]).assert().success();
    host.upkeep().args(["run"]).assert().success();
    assert_eq!(targets(&host), ["setup:none->none", "update:1.0.0->1.1.0"]);
    let step = plan_action(&host);
    assert_eq!(step["action"], "held-back", "{step}");
    assert_eq!(step["update"]["held"][0][0], "2.0.0", "{step}");
}

#[test]
fn a_run_of_one_update_type_leaves_the_others() {
    let mut host = host_with_source("");
    host.script(
        "pkgs/update.sh",
        r#"echo pkgs >> "$UPKEEP_STATE_DIR/targets.txt""#,
    );
    let manifest = fs_err::read_to_string(host.manifest()).unwrap();
    host.manifest_toml(&format!(
        "{manifest}\n[[module]]\nname = \"pkgs\"\nscript = \"pkgs/update.sh\"\nsource = {{ type = \"command\", command = [\"sh\", \"app/offer.sh\"], update_type = \"packages\" }}\n"
    ));
    host.approve();
    host.upkeep()
        .args(["run", "--type", "packages"])
        .assert()
        .success();
    assert_eq!(targets(&host), ["pkgs"]);
}

#[test]
fn a_check_announces_each_new_version_once() {
    let host = host_with_source("");
    let out = host.root.join("events.txt");
    fs_err::write(
        host.root.join("settings.toml"),
        format!(
            "[channels.log]\nkind = \"command\"\nargv = [\"sh\", \"-c\", \"echo \\\"$UPKEEP_EVENT_KIND $UPKEEP_EVENT_ID\\\" >> {}\"]\n",
            out.display()
        ),
    )
    .unwrap();
    host.approve();
    host.upkeep().args(["check"]).assert().success();
    host.upkeep().args(["check"]).assert().success();
    offer(&host, &["1.0.0", "2.0.0", "2.0.1"]);
    host.upkeep().args(["check"]).assert().success();
    host.upkeep().args(["notify", "flush"]).assert().success();
    let events = fs_err::read_to_string(&out).unwrap();
    assert_eq!(
        events.lines().collect::<Vec<_>>(),
        [
            "update_available evt_update.app.2.0.0",
            "update_available evt_update.app.2.0.1"
        ],
        "{events}"
    );
}

#[test]
fn a_check_command_in_a_tampered_module_folder_is_not_run() {
    let host = host_with_source("");
    host.approve();
    let marker = host.root.join("ran");
    host.script(
        "app/offer.sh",
        &format!("touch {}\necho 9.9.9", marker.display()),
    );
    let check = host.upkeep().args(["check"]).assert().code(3);
    let (_, stdout, _) = output(&check);
    assert!(stdout.contains("do not match their checksum"), "{stdout}");
    assert!(stdout.contains("upkeep checksum --write app"), "{stdout}");
    assert!(!marker.exists(), "the tampered check command ran");
}

fn last_check_ms(host: &Host) -> Option<i64> {
    host.ledger()
        .query_row("SELECT MAX(checked_ms) FROM update_checks", [], |r| {
            r.get(0)
        })
        .unwrap()
}

#[test]
fn the_daemon_checks_on_its_interval_and_scheduled_runs_check_first() {
    let host = host_with_source("");
    host.approve();
    host.upkeep().args(["run"]).assert().success();
    assert_eq!(last_check_ms(&host), None);

    host.upkeep().args(["daemon", "--once"]).assert().success();
    let first = last_check_ms(&host).expect("the daemon checked");
    assert_eq!(plan_action(&host)["update"]["target"], "1.1.0");
    host.upkeep().args(["daemon", "--once"]).assert().success();
    assert_eq!(
        last_check_ms(&host),
        Some(first),
        "no second check within update.update_check_interval"
    );

    offer(&host, &["1.1.0", "1.2.0", "2.0.0"]);
    host.upkeep()
        .args(["schedule", "add", "nightly", "--daily", "03:00"])
        .assert()
        .success();
    host.upkeep()
        .args(["run", "--scheduled", "nightly"])
        .assert()
        .success();
    assert_eq!(targets(&host)[1], "update:1.0.0->1.2.0");
    assert!(last_check_ms(&host) > Some(first));

    offer(&host, &["1.2.0", "1.3.0"]);
    let plan = host
        .upkeep()
        .args(["plan", "--check", "--json"])
        .assert()
        .success();
    let (_, stdout, _) = output(&plan);
    let plan: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(plan["steps"][0]["update"]["target"], "1.3.0", "{plan}");
}
