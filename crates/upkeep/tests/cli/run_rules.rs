//! Run rules from the user's side: a seed `updates/` directory runs as its orchestrator
//! did (every enabled module on every run, failures isolated), a Plinth module
//! (`setup(old_version)`) only on a version change, a module that runs its own children
//! does so without upkeep running them a second time, `plan` says which rule decided
//! each step, and a schedule can force its runs.

use serde_json::json;

use crate::fixture::{Host, output};

/// The lines of a file the test's modules append to (none when it does not exist).
fn lines(path: &std::path::Path) -> Vec<String> {
    fs_err::read_to_string(path)
        .map(|t| t.lines().map(str::to_owned).collect())
        .unwrap_or_default()
}

/// A seed module that appends `name` (and what it was given) to `log` when it runs.
fn appending(host: &Host, name: &str, log: &std::path::Path) {
    host.python_module(
        name,
        &format!(
            "def main(args=None):\n    with open({log:?}, \"a\") as f:\n        f.write(\"{name}\\n\")\n",
            log = log.display().to_string()
        ),
    );
}

fn plan_json(host: &Host, args: &[&str]) -> serde_json::Value {
    let (code, stdout, stderr) =
        output(&host.upkeep().args(["--json", "plan"]).args(args).assert());
    assert_eq!(code, 0, "{stderr}");
    serde_json::from_str(&stdout).unwrap()
}

fn step<'p>(plan: &'p serde_json::Value, name: &str) -> &'p serde_json::Value {
    plan["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == name)
        .unwrap_or_else(|| panic!("no step {name}: {plan}"))
}

#[test]
#[expect(clippy::too_many_lines, reason = "one user's runs, step by step")]
fn a_seed_directory_runs_every_enabled_module_on_every_run_and_plinth_modules_on_a_change() {
    let mut host = Host::new();
    let log = host.root.join("ran.log");
    for name in ["adblock", "atuin", "filebrowser", "off"] {
        appending(&host, name, &log);
    }
    host.python_module(
        "broken",
        "def main(args=None):\n    raise RuntimeError(\"broke\")\n",
    );
    host.python_module(
        "gogs",
        &format!(
            "def setup(old_version):\n    with open({log:?}, \"a\") as f:\n        f.write(\"gogs from %s\\n\" % old_version)\n",
            log = log.display().to_string()
        ),
    );
    // The second README's form: versions, `enabled`, `checksum`, `lastApplied`.
    let manifest = |gogs_version: u32| {
        let entry = |name: &str, enabled: bool| {
            json!({"name": name, "module": format!("{name}.index"), "version": "1.0.0",
                   "lastSafeVersion": null, "lastApplied": null, "enabled": enabled,
                   "description": null, "checksum": null, "children": []})
        };
        let mut gogs = entry("gogs", true);
        gogs["version"] = json!(gogs_version);
        json!({
            "updates": [
                entry("adblock", true), entry("broken", true), entry("atuin", true),
                entry("off", false), gogs, entry("filebrowser", true),
                {"name": "all_services", "module": "", "checksum": null, "enabled": true,
                 "children": ["adblock", "broken", "atuin", "off", "gogs", "filebrowser"]}
            ],
            "entrypoint": "all_services"
        })
    };
    host.manifest_json(&manifest(1));
    host.approve();

    let plan = plan_json(&host, &[]);
    for name in ["adblock", "atuin", "filebrowser"] {
        assert_eq!(step(&plan, name)["rule"]["value"], "every-run", "{plan}");
        assert_eq!(
            step(&plan, name)["rule"]["origin"]["kind"],
            "format-default"
        );
    }
    let gogs = &step(&plan, "gogs")["rule"];
    assert_eq!(gogs["value"], "on-change");
    assert_eq!(gogs["origin"]["kind"], "defines-setup");
    assert_eq!(gogs["reason"], "gogs/index.py:1 defines setup(old_version)");

    // Twice, as the orchestrator would run it from cron: the failing module does not stop
    // the others, the disabled one never runs, the Plinth one only the first time.
    for run in 1..=2 {
        let (code, stdout, _) = output(&host.upkeep().args(["run", "-j1"]).assert());
        assert_eq!(code, 3, "{stdout}");
        let outcomes = host.outcomes(run);
        let outcome = |name: &str| {
            outcomes
                .iter()
                .find(|(m, _)| m == name)
                .map(|(_, o)| o.as_str())
        };
        assert_eq!(outcome("broken"), Some("failed"), "{outcomes:?}");
        for name in ["adblock", "atuin", "filebrowser"] {
            assert_eq!(outcome(name), Some("succeeded"), "run {run}: {outcomes:?}");
        }
        assert_eq!(outcome("off"), None, "{outcomes:?}");
        assert_eq!(
            outcome("gogs"),
            (run == 1).then_some("succeeded"),
            "{outcomes:?}"
        );
    }
    // In manifest order (one at a time), twice; gogs's setup once, told it was new.
    assert_eq!(
        lines(&log),
        [
            "adblock",
            "atuin",
            "gogs from None",
            "filebrowser",
            "adblock",
            "atuin",
            "filebrowser"
        ]
    );
    // The second run told each module why it runs.
    let plan = host.upkeep().arg("plan").assert().success();
    let text = output(&plan).1;
    assert!(
        text.lines()
            .any(|l| l.contains("adblock") && l.contains("run (every run)")),
        "{text}"
    );
    assert!(
        text.lines()
            .any(|l| l.contains("gogs") && l.contains("up to date")),
        "{text}"
    );

    // A new version of the Plinth module: its setup runs once more, told the old one.
    host.manifest_json(&manifest(2));
    host.approve();
    host.upkeep().args(["run", "-j1"]).assert().code(3);
    assert_eq!(
        lines(&log).iter().filter(|l| l.starts_with("gogs")).count(),
        2
    );
    assert!(
        lines(&log).contains(&"gogs from 1".to_owned()),
        "{:?}",
        lines(&log)
    );

    // An explicit rule wins: the manifest's default makes everything Plinth-like.
    let mut on_change = manifest(2);
    on_change["run"] = json!("on-change");
    host.manifest_json(&on_change);
    host.approve();
    let plan = plan_json(&host, &[]);
    let adblock = step(&plan, "adblock");
    assert_eq!(adblock["action"], "up-to-date", "{adblock}");
    assert_eq!(adblock["rule"]["origin"]["kind"], "manifest-default");
}

#[test]
#[expect(clippy::too_many_lines, reason = "one user's runs, step by step")]
fn a_module_that_runs_its_own_child_sees_it_run_once() {
    let mut host = Host::new();
    let log = host.root.join("ran.log");
    appending(&host, "lists", &log);
    appending(&host, "other_child", &log);
    // The seeds' instruction: a module invokes its own children. This one imports its
    // child and calls its `main`.
    host.python_module(
        "adblock",
        &format!(
            "from ..lists import index as lists\n\n\ndef main(args=None):\n    with open({log:?}, \"a\") as f:\n        f.write(\"adblock\\n\")\n    lists.main(args)\n",
            log = log.display().to_string()
        ),
    );
    // This parent leaves its child to the orchestrator.
    appending(&host, "other", &log);
    // The first README's form: name, module, args, children, entrypoint.
    host.manifest_json(&json!({
        "updates": [
            {"name": "adblock", "module": "adblock.index", "args": [], "children": ["lists"]},
            {"name": "lists", "module": "lists.index", "args": [], "children": []},
            {"name": "other", "module": "other.index", "args": [], "children": ["other_child"]},
            {"name": "other_child", "module": "other_child.index", "args": [], "children": []},
            {"name": "all_services", "module": "", "args": [], "children": ["adblock", "other"]}
        ],
        "entrypoint": "all_services"
    }));
    host.approve();

    let plan = plan_json(&host, &[]);
    let lists = step(&plan, "lists");
    assert_eq!(lists["action"], "run-by-parent", "{lists}");
    assert_eq!(lists["parent"], "adblock");
    assert_eq!(lists["origin"]["kind"], "mentions");
    assert_eq!(lists["reason"], "adblock/index.py:1 mentions `lists`");
    assert_eq!(step(&plan, "adblock")["children_run_by"]["value"], "parent");
    let other = &step(&plan, "other")["children_run_by"];
    assert_eq!(other["value"], "upkeep", "{other}");
    assert_eq!(other["origin"]["kind"], "no-mention");
    assert_eq!(step(&plan, "other_child")["action"], "setup");
    let text = output(&host.upkeep().arg("plan").assert().success()).1;
    assert!(
        text.contains("run by parent `adblock` (adblock/index.py:1 mentions `lists`)"),
        "{text}"
    );
    // `doctor` names the module that runs its own children, why, and how to state it.
    let (code, doctor, _) = output(&host.upkeep().arg("doctor").assert());
    assert_eq!(code, 0, "{doctor}");
    assert!(
        doctor.contains(
            "`adblock` runs its own children (adblock/index.py:1 mentions `lists`), so upkeep does not start them: lists"
        ),
        "{doctor}"
    );
    assert!(doctor.contains("\"runsChildren\": true"), "{doctor}");
    let (_, json, _) = output(&host.upkeep().args(["--json", "doctor"]).assert());
    let json: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(json["children"].as_array().unwrap().len(), 1, "{json}");
    assert_eq!(json["children"][0]["module"], "adblock");

    for run in 1..=2 {
        host.upkeep().args(["run", "-j1"]).assert().success();
        let ran = lines(&log);
        let count = |name: &str| ran.iter().filter(|l| *l == name).count();
        assert_eq!(count("lists"), run, "{ran:?}");
        assert_eq!(count("adblock"), run, "{ran:?}");
        assert_eq!(count("other_child"), run, "{ran:?}");
    }
    // upkeep ran the child as no step of its own.
    let rows: i64 = host.scalar("SELECT count(*) FROM module_runs WHERE module = 'lists'");
    assert_eq!(rows, 0);

    // Named alone, the child runs directly, without its parent.
    host.upkeep().args(["run", "lists"]).assert().success();
    let ran = lines(&log);
    assert_eq!(ran.iter().filter(|l| *l == "lists").count(), 3, "{ran:?}");
    assert_eq!(ran.iter().filter(|l| *l == "adblock").count(), 2, "{ran:?}");

    // The child's code runs in the parent's process, so the parent is refused when the
    // child's files do not match their checksum.
    host.write(
        "lists/index.py",
        "def main(args=None):\n    raise SystemExit('tampered code ran')\n",
    );
    let (code, stdout, _) = output(&host.upkeep().args(["run", "-j1"]).assert());
    assert_eq!(code, 6, "{stdout}");
    assert!(
        stdout.contains("`adblock` runs the code of `lists`, which is refused"),
        "{stdout}"
    );
    let ran = lines(&log);
    assert_eq!(ran.iter().filter(|l| *l == "adblock").count(), 2, "{ran:?}");
}

#[test]
fn the_native_form_keeps_on_change_and_takes_every_run_when_asked() {
    let mut host = Host::new();
    let log = host.root.join("ran.log");
    host.manifest_toml(&format!(
        "[defaults]\nrun = \"on-change\"\n\n[[module]]\nname = \"quiet\"\ncommand = [\"sh\", \"-c\", \"echo quiet >> {log}\"]\n\n[[module]]\nname = \"busy\"\nrun = \"every-run\"\ncommand = [\"sh\", \"-c\", \"echo busy >> {log}\"]\n",
        log = log.display()
    ));
    let plan = plan_json(&host, &[]);
    assert_eq!(
        step(&plan, "quiet")["rule"]["origin"]["kind"],
        "manifest-default"
    );
    assert_eq!(step(&plan, "busy")["rule"]["origin"]["kind"], "module");
    for _ in 0..2 {
        host.upkeep().arg("run").assert().success();
    }
    let ran = lines(&log);
    assert_eq!(ran.iter().filter(|l| *l == "quiet").count(), 1, "{ran:?}");
    assert_eq!(ran.iter().filter(|l| *l == "busy").count(), 2, "{ran:?}");
    // Every run tells the module why it runs.
    let env = host.root.join("env.txt");
    host.manifest_toml(&format!(
        "[[module]]\nname = \"fresh\"\nrun = \"every-run\"\ncommand = [\"sh\", \"-c\", \"echo $UPKEEP_ACTION >> {}\"]\n",
        env.display()
    ));
    host.upkeep().arg("run").assert().success();
    host.upkeep().arg("run").assert().success();
    assert_eq!(lines(&env), ["setup", "every-run"]);

    // Without a value anywhere, the native form's default is `on-change`.
    host.manifest_toml("[[module]]\nname = \"a\"\ncommand = [\"true\"]\n");
    let plan = plan_json(&host, &[]);
    let rule = &step(&plan, "a")["rule"];
    assert_eq!(rule["value"], "on-change");
    assert_eq!(rule["origin"]["format"], "native-toml");
}

#[test]
fn a_misspelt_run_rule_is_refused_with_the_closest() {
    let mut host = Host::new();
    host.python_module("a", "def main(args=None):\n    pass\n");
    host.manifest_json(&json!({"updates": [{"name": "a", "run": "evry-run"}]}));
    let (code, _, stderr) = output(&host.upkeep().arg("plan").assert());
    assert_eq!(code, 4, "{stderr}");
    assert!(stderr.contains("unknown run rule `evry-run`"), "{stderr}");
    assert!(stderr.contains("did you mean `every-run`?"), "{stderr}");
    // The native form's default lives in `[defaults]`, not among `[upkeep]`'s settings.
    host.manifest_toml("[upkeep]\nrun = \"every-run\"\n");
    let (code, _, stderr) = output(&host.upkeep().arg("plan").assert());
    assert_eq!(code, 4, "{stderr}");
    assert!(
        stderr.contains("`run` is a field of `[[module]]` or `[defaults]`"),
        "{stderr}"
    );
}

#[test]
#[expect(
    clippy::too_many_lines,
    reason = "one schedule through the daemon and its timer"
)]
fn a_forced_schedule_runs_its_modules_each_time_from_the_daemon_and_its_timer() {
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
            "--force",
        ])
        .assert()
        .success();
    let (_, shown, _) = output(
        &host
            .upkeep()
            .args(["--json", "schedule", "show", "hourly"])
            .assert(),
    );
    let shown: serde_json::Value = serde_json::from_str(&shown).unwrap();
    assert_eq!(shown[0]["force"], true);
    let listed = output(&host.upkeep().args(["schedule", "list"]).assert()).1;
    assert!(listed.contains("(UTC), forced"), "{listed}");
    let due = || {
        let ledger = rusqlite::Connection::open(host.state.join("upkeep.db")).unwrap();
        ledger
            .execute(
                "UPDATE schedules SET next_run_ms = next_run_ms - 2 * 3600000",
                [],
            )
            .unwrap();
    };
    // The module is up to date after the first run; the schedule runs it anyway.
    for _ in 0..2 {
        due();
        host.upkeep().args(["daemon", "--once"]).assert().success();
    }
    assert_eq!(lines(&log), ["run", "run"]);
    let reason: String = host.scalar("SELECT reason FROM module_runs ORDER BY run_id DESC LIMIT 1");
    assert_eq!(reason, "rerun (forced)");

    // The timer's command line forces it too.
    let units = host.root.join("units");
    host.upkeep()
        .args(["schedule", "install", "--systemd", "--dir"])
        .arg(&units)
        .assert()
        .success();
    let service = fs_err::read_to_string(units.join("upkeep-hourly.service")).unwrap();
    let exec = service
        .lines()
        .find_map(|l| l.strip_prefix("ExecStart="))
        .unwrap()
        .to_owned();
    assert!(
        exec.ends_with("run --scheduled hourly --wait --force"),
        "{exec}"
    );
    #[expect(
        clippy::disallowed_methods,
        reason = "tests run the unit's command line"
    )]
    let ran = std::process::Command::new("sh")
        .args(["-c", &exec])
        .current_dir("/")
        .env("UPKEEP_CONFIG", host.root.join("settings.toml"))
        .env_remove("UPKEEP_MANIFEST")
        .env_remove("UPKEEP_STATE_DIR")
        .output()
        .unwrap();
    assert!(
        ran.status.success(),
        "{}",
        String::from_utf8_lossy(&ran.stderr)
    );
    assert_eq!(lines(&log), ["run", "run", "run"]);

    // Without `--force`, a schedule's run of an up-to-date module does nothing.
    host.upkeep()
        .args([
            "schedule", "add", "plain", "--daily", "03:00", "--tz", "UTC",
        ])
        .assert()
        .success();
    host.upkeep()
        .args(["run", "--scheduled", "plain"])
        .assert()
        .success();
    assert_eq!(lines(&log).len(), 3);
}

#[test]
fn a_failed_parent_restores_the_paths_of_the_child_its_code_ran() {
    let mut host = Host::new();
    let data = host.root.join("srv/lists");
    fs_err::create_dir_all(&data).unwrap();
    fs_err::write(data.join("hosts"), "old\n").unwrap();
    host.python_module(
        "lists",
        &format!(
            "def main(args=None):\n    with open({:?}, \"w\") as f:\n        f.write(\"new\\n\")\n",
            data.join("hosts").display().to_string()
        ),
    );
    host.python_module(
        "adblock",
        "from ..lists import index as lists\n\n\ndef main(args=None):\n    lists.main(args)\n    raise RuntimeError(\"the parent broke after its child wrote\")\n",
    );
    host.manifest_json(&json!({
        "updates": [
            {"name": "adblock", "module": "adblock.index", "children": ["lists"]},
            {"name": "lists", "module": "lists.index", "paths": [data.display().to_string()]}
        ],
        "entrypoint": "adblock"
    }));
    host.approve();
    let (code, stdout, _) = output(&host.upkeep().arg("run").assert());
    assert_eq!(code, 3, "{stdout}");
    assert_eq!(
        host.outcomes(1),
        [("adblock".to_owned(), "rolled-back".to_owned())]
    );
    // The parent's pre-update backup held the child's path, and its rollback put it back.
    assert_eq!(fs_err::read_to_string(data.join("hosts")).unwrap(), "old\n");
    let module: String = host.scalar("SELECT module FROM backup_roots LIMIT 1");
    assert_eq!(module, "lists");
}
