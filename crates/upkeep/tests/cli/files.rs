//! File deployment from the user's side: `files plan|apply|owned`, `prerun`, and a
//! manifest module of kind `files` taking part in runs.

use std::path::Path;

use crate::fixture::{Host, output};

fn write(path: &Path, text: &str) {
    fs_err::create_dir_all(path.parent().unwrap()).unwrap();
    fs_err::write(path, text).unwrap();
}

#[test]
#[expect(clippy::too_many_lines, reason = "one user session, step by step")]
fn plan_apply_owned_and_conflicts() {
    let host = Host::new();
    let app = host.root.join("app");
    let dest = host.root.join("dest");
    write(&app.join("ae_updater_copies/conf/app.ini"), "[app]\n");
    write(&app.join("ae_updater_moves/data.db"), "rows");
    let to = dest.display().to_string();
    let files = |args: &[&str]| {
        let mut cmd = host.upkeep();
        cmd.arg("files")
            .args(args)
            .args(["--root", app.to_str().unwrap(), "--to", &to]);
        cmd
    };
    let (code, stdout, _) = output(&files(&["plan"]).arg("--json").assert());
    assert_eq!(code, 0);
    let plan: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let actions: Vec<&str> = plan["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["create", "create"]);
    assert!(!dest.exists(), "plan writes nothing");

    let (code, stdout, _) = output(&files(&["apply"]).assert());
    assert_eq!(code, 0, "{stdout}");
    assert_eq!(
        fs_err::read_to_string(dest.join("conf/app.ini")).unwrap(),
        "[app]\n"
    );
    assert_eq!(
        fs_err::read_to_string(dest.join("data.db")).unwrap(),
        "rows"
    );
    assert!(!app.join("ae_updater_moves/data.db").exists(), "moved");
    assert!(
        app.join("ae_updater_moves").is_dir(),
        "the source folder stays"
    );

    let (_, stdout, _) = output(&host.upkeep().args(["--json", "files", "owned"]).assert());
    let owned: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(owned.as_array().unwrap().len(), 2);
    assert!(
        owned
            .as_array()
            .unwrap()
            .iter()
            .all(|f| f["state"] == "unchanged")
    );

    // Someone edits a deployed file; a later overwrite asks for --force.
    write(&dest.join("conf/app.ini"), "[app]\nlocal = edit\n");
    write(
        &app.join("ae_updater_over_copies/conf/app.ini"),
        "[app]\nv = 2\n",
    );
    let (code, stdout, _) = output(&files(&["apply"]).assert());
    assert_eq!(code, 3, "{stdout}");
    assert!(stdout.contains("CONFLICT"), "{stdout}");
    assert_eq!(
        fs_err::read_to_string(dest.join("conf/app.ini")).unwrap(),
        "[app]\nlocal = edit\n"
    );
    files(&["apply", "--force"]).assert().success();
    assert_eq!(
        fs_err::read_to_string(dest.join("conf/app.ini")).unwrap(),
        "[app]\nv = 2\n"
    );

    let (code, _, stderr) = output(
        &host
            .upkeep()
            .args(["files", "plan", "--root", "/nonexistent/x"])
            .assert(),
    );
    assert_eq!(code, 4, "{stderr}");
}

#[test]
fn prerun_runs_a_one_time_script_exactly_once() {
    let host = Host::new();
    let app = host.root.join("app");
    let counter = host.root.join("count");
    write(
        &app.join("ae_updater.py"),
        &format!(
            "def run_updater():\n    open({:?}, 'a').write('once ')\n    return True\n",
            counter.display().to_string()
        ),
    );
    write(
        &app.join("ae_pre_app_run.py"),
        &format!(
            "def run_updater():\n    open({:?}, 'a').write('pre ')\n",
            counter.display().to_string()
        ),
    );
    let prerun = || {
        let mut cmd = host.upkeep();
        cmd.args(["prerun", "--keep-scripts", "--root", app.to_str().unwrap()]);
        cmd
    };
    for _ in 0..3 {
        prerun().assert().success();
    }
    assert_eq!(
        fs_err::read_to_string(&counter).unwrap(),
        "pre once pre pre "
    );
    assert!(
        app.join("ae_updater.py").exists(),
        "kept with --keep-scripts"
    );
    let runs: i64 = host
        .ledger()
        .query_row("SELECT count(*) FROM scripts_run WHERE name = 'ae_updater.py' AND result = 'succeeded'", [], |r| r.get(0))
        .unwrap();
    assert_eq!(runs, 1);
    // Without --keep-scripts a one-time script with a new checksum runs and is deleted.
    write(
        &app.join("ae_updater.py"),
        "def run_updater():\n    return True\n",
    );
    host.upkeep()
        .args(["prerun", "--root", app.to_str().unwrap()])
        .assert()
        .success();
    assert!(!app.join("ae_updater.py").exists());
}

#[test]
fn a_files_module_deploys_in_a_run() {
    let mut host = Host::new();
    let dest = host.root.join("dest");
    write(
        &host.updates.join("deploy/ae_updater_copies/motd"),
        "hello\n",
    );
    host.manifest_json(&serde_json::json!({
        "updates": [{
            "name": "dotfiles",
            "files": "deploy",
            "destination": "{target}",
            "placeholders": {"target": dest.display().to_string()}
        }]
    }));
    let (code, stdout, _) = output(&host.upkeep().arg("run").assert());
    assert_eq!(code, 0, "{stdout}");
    assert_eq!(
        fs_err::read_to_string(dest.join("motd")).unwrap(),
        "hello\n"
    );
    let module: String = host
        .ledger()
        .query_row("SELECT module FROM deployed_files", [], |r| r.get(0))
        .unwrap();
    assert_eq!(module, "dotfiles");

    // Up to date, it still looks for pending files: none now, so it is skipped.
    let (_, stdout, _) = output(&host.upkeep().arg("plan").assert());
    assert!(stdout.contains("check files"), "{stdout}");
    let (code, stdout, _) = output(&host.upkeep().arg("run").assert());
    assert_eq!(code, 0);
    assert!(stdout.contains("nothing to deploy"), "{stdout}");
    // A new file is deployed by the next run.
    write(
        &host.updates.join("deploy/ae_updater_copies/issue"),
        "welcome\n",
    );
    host.upkeep().arg("run").assert().success();
    assert_eq!(
        fs_err::read_to_string(dest.join("issue")).unwrap(),
        "welcome\n"
    );
}

#[test]
fn prerun_runs_a_configured_command_every_time_and_records_it() {
    let host = Host::new();
    let app = host.root.join("app");
    fs_err::create_dir_all(&app).unwrap();
    let root = app.to_str().unwrap();
    for _ in 0..2 {
        host.upkeep()
            .args(["prerun", "--root", root, "--command", "echo run >> log.txt"])
            .assert()
            .success();
    }
    assert_eq!(
        fs_err::read_to_string(app.join("log.txt")).unwrap(),
        "run\nrun\n"
    );
    let (code, stdout, _) = output(
        &host
            .upkeep()
            .args(["prerun", "--root", root, "--command", "exit 7"])
            .assert(),
    );
    assert_eq!(code, 3, "{stdout}");
    let rows: Vec<(String, String, String)> = host
        .ledger()
        .prepare("SELECT name, kind, result FROM scripts_run ORDER BY id")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(rows.len(), 3);
    assert!(rows.iter().all(|(_, kind, _)| kind == "pre-run"));
    assert_eq!(rows[2].2, "failed");
}
