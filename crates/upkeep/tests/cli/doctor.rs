//! A seed user's first hour: keys of their own in `manifest.json`, `upkeep doctor` on a
//! directory whose `checksum` files the seed's checksummer wrote, `plan` showing what the
//! integrity gate would refuse, and what `checksum --write` approves.

use serde_json::json;

use crate::fixture::{Host, output};

/// A seed module that leaves a marker file in the host's root when it runs.
fn marking_module(host: &Host, name: &str) {
    let marker = host.root.join(format!("{name}.ran"));
    host.python_module(
        name,
        &format!(
            "def main(args=None):\n    open({:?}, 'w').write('ran')\n",
            marker.display().to_string()
        ),
    );
}

/// A seed updates directory as the seeds' orchestrator leaves it: three modules under a
/// group, one with a user's key, and `checksum` files the seed's checksummer wrote (its own
/// digest, and one as `sha256sum` prints it), one module without any.
fn seed_directory() -> Host {
    let host = Host::new();
    for name in ["adblock", "atuin", "gogs"] {
        marking_module(&host, name);
    }
    // Written as text, as a person writes it, so the diagnostics' lines are known.
    host.write(
        "manifest.json",
        r#"{
  "updates": [
    {"name": "adblock", "module": "adblock.index", "args": [], "children": [],
     "enabled": true, "owner": "network team"},
    {"name": "atuin", "module": "atuin.index", "args": [], "children": []},
    {"name": "gogs", "module": "gogs.index", "args": [], "children": []},
    {"name": "all_services", "module": "", "args": [],
     "children": ["adblock", "atuin", "gogs"]}
  ],
  "entrypoint": "all_services",
  "maintainer": "ops@example.org"
}
"#,
    );
    // The seed's checksummer: a SHA-256 of its own over the folder, which is not upkeep's.
    host.write(
        "adblock/checksum",
        "0f343b0931126a20f133d67c2b018a3b5d6b8b3c1f9e5e4ac4d0b3e5f0a1b2c3\n",
    );
    host.write(
        "atuin/checksum",
        "0F343B0931126A20F133D67C2B018A3B5D6B8B3C1F9E5E4AC4D0B3E5F0A1B2C3  index.py\n",
    );
    host
}

/// Doctor's text without the interpreter's lines, which name this machine's Python.
fn without_python(text: &str) -> String {
    let mut out = Vec::new();
    let mut in_python = false;
    for line in text.lines() {
        if line.starts_with("python ") {
            in_python = true;
            out.push("python    [PYTHON]");
            continue;
        }
        if in_python && line.starts_with("          ") {
            continue;
        }
        in_python = false;
        out.push(line);
    }
    out.join("\n")
}

#[test]
fn a_seed_manifest_with_keys_of_its_own_runs_and_plan_warns_about_them() {
    let host = seed_directory();
    host.approve();

    let plan = host.upkeep().arg("plan").assert().success();
    let (_, _, stderr) = output(&plan);
    insta::assert_snapshot!("plan_warnings", host.redact(&stderr));

    let plan = host.upkeep().args(["plan", "--json"]).assert().success();
    let (_, stdout, _) = output(&plan);
    let plan: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let fields: Vec<&str> = plan["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["updates[0].owner", "maintainer"], "{plan:#}");
    assert_eq!(plan["warnings"][0]["severity"], "warning");
    assert_eq!(
        (&plan["warnings"][0]["line"], &plan["warnings"][0]["column"]),
        (&json!(4), &json!(23))
    );

    host.upkeep().arg("run").assert().success();
    for name in ["adblock", "atuin", "gogs"] {
        assert!(host.root.join(format!("{name}.ran")).exists(), "{name} ran");
    }
    // The user's keys are still there after the run wrote `lastApplied` back.
    let manifest = fs_err::read_to_string(host.manifest()).unwrap();
    assert!(
        manifest.contains("\"owner\": \"network team\"") && manifest.contains("maintainer"),
        "{manifest}"
    );
}

#[test]
fn a_misspelt_key_is_refused_with_did_you_mean_and_nothing_runs() {
    let host = Host::new();
    marking_module(&host, "adblock");
    marking_module(&host, "gogs");
    host.write(
        "manifest.json",
        r#"{
  "updates": [
    {"name": "adblock", "module": "adblock.index"},
    {"name": "gogs", "module": "gogs.index"},
    {"name": "all", "module": "", "childern": ["adblock", "gogs"]}
  ],
  "entrypoint": "all"
}
"#,
    );
    let run = host.upkeep().arg("run").assert().code(4);
    let (_, _, stderr) = output(&run);
    assert!(
        stderr.contains("error: unknown field `childern`"),
        "{stderr}"
    );
    assert!(
        stderr.contains("hint: did you mean `children`?"),
        "{stderr}"
    );
    let at = format!("--> {}:5:35", host.manifest().display());
    assert!(stderr.contains(&at), "{at} in {stderr}");
    assert!(!host.root.join("adblock.ran").exists());
    assert!(!host.root.join("gogs.ran").exists());
    assert!(
        !host.state.join("upkeep.db").exists(),
        "nothing was recorded"
    );
}

#[test]
fn upkeep_toml_keeps_user_data_in_meta_and_stays_strict_elsewhere() {
    let mut host = Host::new();
    marking_module(&host, "gogs");
    host.manifest_toml(
        "[meta]\nmaintainer = \"ops@example.org\"\n\n[[module]]\nname = \"gogs\"\npython = \"gogs.index\"\nmeta = { owner = \"git team\", tickets = [12, 14] }\n",
    );
    host.approve();
    let plan = host.upkeep().arg("plan").assert().success();
    let (_, _, stderr) = output(&plan);
    assert!(!stderr.contains("warning"), "{stderr}");
    host.upkeep().arg("run").assert().success();
    assert!(host.root.join("gogs.ran").exists());

    host.manifest_toml(
        "[[module]]\nname = \"gogs\"\npython = \"gogs.index\"\nowner = \"git team\"\n",
    );
    let plan = host.upkeep().arg("plan").assert().code(4);
    let (_, _, stderr) = output(&plan);
    assert!(stderr.contains("unknown field `owner`"), "{stderr}");
    assert!(stderr.contains("goes in a `meta` table"), "{stderr}");
}

#[test]
#[expect(
    clippy::too_many_lines,
    reason = "one user's session, from the first doctor to the passing one, reads best top to bottom"
)]
fn doctor_lists_each_seed_checksum_problem_with_its_fix_then_passes_after_the_fixes() {
    let host = seed_directory();

    let doctor = host.upkeep().arg("doctor").assert().code(6);
    let (_, stdout, stderr) = output(&doctor);
    assert!(
        stderr.contains("warning: unknown field `owner`"),
        "{stderr}"
    );
    assert!(stdout.contains("python    "), "{stdout}");
    insta::assert_snapshot!("doctor_seed", host.redact(&without_python(&stdout)));

    let doctor = host.upkeep().args(["doctor", "--json"]).assert().code(6);
    let (_, stdout, _) = output(&doctor);
    let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(report["problems"], 3, "{report:#}");
    assert_eq!(report["manifest"]["format"], "seed-json");
    assert_eq!(report["manifest"]["warnings"].as_array().unwrap().len(), 2);
    assert!(
        report["python"]["version"]
            .as_str()
            .unwrap()
            .starts_with('3')
    );
    assert_eq!(report["children"], json!([]));
    // The fixes name the manifest: the test gives `--manifest` from another directory.
    let upkeep = format!("upkeep --manifest {}", host.manifest().display());
    let fix = |name: &str| format!("{upkeep} checksum --write {name}");
    let problems: Vec<(&str, &str, String)> = report["modules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["module"].as_str().unwrap(),
                m["refused"]["problem"].as_str().unwrap(),
                m["refused"]["fix"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        problems,
        [
            ("adblock", "foreign", fix("adblock")),
            ("atuin", "unreadable", fix("atuin")),
            ("gogs", "missing", fix("gogs")),
        ]
    );
    // Run from the updates directory, where upkeep finds the manifest by itself, the
    // fixes are plain.
    let doctor = host
        .upkeep()
        .current_dir(&host.updates)
        .args(["doctor", "--json"])
        .assert()
        .code(6);
    let (_, stdout, _) = output(&doctor);
    let here: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(
        here["modules"][2]["refused"]["fix"],
        "upkeep checksum --write gogs"
    );
    assert!(
        report["modules"][1]["refused"]["found"]
            .as_str()
            .unwrap()
            .contains("`sha256sum` output"),
        "{report:#}"
    );

    // The fixes, as doctor prints them; nothing ran meanwhile.
    host.upkeep()
        .args(["checksum", "--write", "adblock", "atuin", "gogs"])
        .assert()
        .success();
    assert!(!host.root.join("adblock.ran").exists());
    let doctor = host.upkeep().arg("doctor").assert().success();
    let (_, stdout, _) = output(&doctor);
    assert!(
        stdout.contains("3 with a folder a run starts: 3 approved, 0 refused"),
        "{stdout}"
    );
    assert!(stdout.contains("nothing stands in the way"), "{stdout}");

    // A file changed after the approval is named as such, not as foreign.
    host.write("gogs/index.py", "def main(args=None):\n    pass\n");
    let doctor = host.upkeep().args(["doctor", "--json"]).assert().code(6);
    let (_, stdout, _) = output(&doctor);
    let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(report["modules"][2]["refused"]["problem"], "changed");
    assert_eq!(
        report["modules"][2]["refused"]["changes"]["changed"],
        json!(["index.py"])
    );
}

#[test]
fn doctor_names_a_virtualenv_without_its_interpreter() {
    let host = seed_directory();
    host.approve();
    host.write("venv/pyvenv.cfg", "home = /nonexistent\n");
    let doctor = host.upkeep().args(["doctor", "--json"]).assert().code(3);
    let (_, stdout, _) = output(&doctor);
    let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert!(
        report["python"]["problem"]
            .as_str()
            .unwrap()
            .contains("has no working `bin/python`"),
        "{report:#}"
    );
    assert!(
        report["python"]["fix"]
            .as_str()
            .unwrap()
            .contains("python3 -m venv --clear"),
        "{report:#}"
    );
}

#[test]
fn plan_shows_refused_modules_and_its_counts_match_the_run() {
    let mut host = seed_directory();
    marking_module(&host, "late");
    // `late` needs `atuin`, which the gate refuses: a run blocks it.
    host.manifest_json(&json!({
        "updates": [
            {"name": "adblock", "module": "adblock.index"},
            {"name": "atuin", "module": "atuin.index"},
            {"name": "gogs", "module": "gogs.index"},
            {"name": "late", "module": "late.index", "dependsOn": ["atuin"]}
        ]
    }));
    host.upkeep()
        .args(["checksum", "--write", "gogs", "late"])
        .assert()
        .success();

    let plan = host.upkeep().arg("plan").assert().success();
    let (_, stdout, _) = output(&plan);
    insta::assert_snapshot!("plan_refused", host.redact_table(&stdout));

    let plan = host.upkeep().args(["plan", "--json"]).assert().success();
    let (_, stdout, _) = output(&plan);
    let plan: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(
        (&plan["to_run"], &plan["refused"], &plan["blocked"]),
        (&json!(1), &json!(2), &json!(1)),
        "{plan:#}"
    );
    assert_eq!(plan["steps"][0]["refused"]["problem"], "foreign");

    let dry = host.upkeep().args(["run", "--dry-run"]).assert().code(6);
    let (_, stdout, _) = output(&dry);
    assert!(stdout.contains("1 would-run"), "{stdout}");

    let run = host.upkeep().arg("run").assert().code(6);
    drop(run);
    let outcomes = host.outcomes(1);
    let count = |kind: &str| outcomes.iter().filter(|(_, o)| o == kind).count();
    assert_eq!(count("succeeded"), 1, "{outcomes:?}");
    assert_eq!(count("integrity-refused"), 2, "{outcomes:?}");
    assert_eq!(count("blocked"), 1, "{outcomes:?}");
    assert!(host.root.join("gogs.ran").exists());
    assert!(!host.root.join("late.ran").exists());
}

#[test]
fn checksum_write_says_what_it_approved() {
    let host = seed_directory();
    host.write("gogs/templates/app.ini", "[server]\n");

    let write = host
        .upkeep()
        .args(["checksum", "--write", "adblock", "gogs"])
        .assert()
        .success();
    let (_, stdout, _) = output(&write);
    insta::assert_snapshot!("checksum_write", host.redact(&stdout));

    let write = host
        .upkeep()
        .args(["checksum", "--write", "-v", "gogs"])
        .assert()
        .success();
    let (_, stdout, _) = output(&write);
    insta::assert_snapshot!("checksum_write_verbose", host.redact(&stdout));

    let write = host
        .upkeep()
        .args(["checksum", "--write", "--json", "gogs"])
        .assert()
        .success();
    let (_, stdout, _) = output(&write);
    let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let files: Vec<&str> = report[0]["approved_files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["path"].as_str().unwrap())
        .collect();
    assert_eq!(files, ["__init__.py", "index.py", "templates/app.ini"]);
    assert_eq!(report[0]["files"], 3);
    assert_eq!(
        report[0]["approved_files"][1]["sha256"]
            .as_str()
            .unwrap()
            .len(),
        64
    );
}

#[test]
fn a_key_merely_like_a_known_field_is_the_users_own() {
    let host = Host::new();
    marking_module(&host, "gogs");
    host.write(
        "manifest.json",
        r#"{"updates": [{"name": "gogs", "module": "gogs.index", "comment": "from the wiki"}]}"#,
    );
    host.approve();
    let plan = host.upkeep().arg("plan").assert().success();
    let (_, _, stderr) = output(&plan);
    assert!(
        stderr.contains("warning: unknown field `comment` ignored: a key of your own"),
        "{stderr}"
    );
    assert!(
        stderr.contains("hint: if you meant upkeep's `command`, rename it"),
        "{stderr}"
    );
    host.upkeep().arg("run").assert().success();
    assert!(host.root.join("gogs.ran").exists());
}
