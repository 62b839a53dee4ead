//! The pre-run script, the one-time update script and `once/` scripts, with real Python
//! and real processes; and `check_all`.

use std::collections::HashSet;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use upkeep_core::deploy::{self, CheckAllOptions, ScriptKind, ScriptOptions, scripts};

struct Fixture {
    _tmp: tempfile::TempDir,
    root: PathBuf,
    logs: PathBuf,
}

fn fixture() -> Fixture {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("root");
    let logs = tmp.path().join("logs");
    fs_err::create_dir_all(&root).unwrap();
    Fixture {
        root,
        logs,
        _tmp: tmp,
    }
}

impl Fixture {
    fn script_options(&self) -> ScriptOptions {
        ScriptOptions {
            log_dir: self.logs.clone(),
            ..ScriptOptions::default()
        }
    }

    fn options(&self, already_run: &HashSet<(String, String)>) -> CheckAllOptions {
        let mut options = CheckAllOptions {
            scripts: self.script_options(),
            already_run: already_run.clone(),
            ..CheckAllOptions::default()
        };
        options.plan.platform = "linux".into();
        options
            .plan
            .placeholders
            .insert("usr".into(), self.root.join("usr"));
        options
    }

    /// Lines the scripts appended to `trace.txt`.
    fn trace(&self) -> Vec<String> {
        fs_err::read_to_string(self.root.join("trace.txt"))
            .unwrap_or_default()
            .lines()
            .map(str::to_owned)
            .collect()
    }

    fn python(&self, name: &str, body: &str) {
        let text = format!(
            "def run_updater():\n    with open('trace.txt', 'a') as f:\n        f.write('{name}\\n')\n{body}"
        );
        fs_err::write(self.root.join(name), text).unwrap();
    }

    fn once(&self, name: &str, body: &str) -> PathBuf {
        let path = self.root.join("once").join(name);
        fs_err::create_dir_all(path.parent().unwrap()).unwrap();
        fs_err::write(
            &path,
            format!("#!/bin/sh\necho once/{name} >> trace.txt\n{body}"),
        )
        .unwrap();
        fs_err::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        path
    }
}

/// Run `check_all` the way a caller with a ledger does: record what succeeded.
fn check_all(fx: &Fixture, ran: &mut HashSet<(String, String)>) -> deploy::CheckAll {
    let result = deploy::check_all(&fx.root, &fx.options(ran)).unwrap();
    for run in result.scripts.iter().filter(|r| r.succeeded()) {
        if run.script.kind != ScriptKind::PreRun {
            ran.insert((run.script.name.clone(), run.script.sha256.clone()));
        }
    }
    result
}

#[test]
fn the_one_time_script_runs_once_and_is_deleted_the_pre_run_script_every_time() {
    let fx = fixture();
    fx.python("ae_pre_app_run.py", "");
    fx.python("ae_updater.py", "    return True\n");
    let mut ran = HashSet::new();
    for _ in 0..3 {
        let result = check_all(&fx, &mut ran);
        assert!(
            result.scripts.iter().all(deploy::ScriptRun::succeeded),
            "{result:?}"
        );
    }
    assert_eq!(
        fx.trace(),
        [
            "ae_pre_app_run.py",
            "ae_updater.py",
            "ae_pre_app_run.py",
            "ae_pre_app_run.py"
        ]
    );
    assert!(!fx.root.join("ae_updater.py").exists());
    assert!(fx.root.join("ae_pre_app_run.py").exists());
    assert!(
        !fx.root.join("__pycache__").exists(),
        "scripts run without writing bytecode"
    );
}

#[test]
fn a_kept_one_time_script_never_reruns_with_the_same_checksum() {
    let fx = fixture();
    fx.python("ae_updater.py", "    return True\n");
    fx.once("10-migrate.sh", "");
    let mut ran = HashSet::new();
    let options_keep = |ran: &HashSet<_>| {
        let mut options = fx.options(ran);
        options.scripts.keep_after_success = true;
        deploy::check_all(&fx.root, &options).unwrap()
    };
    for _ in 0..3 {
        for run in options_keep(&ran).scripts {
            assert!(run.succeeded() && !run.deleted, "{run:?}");
            ran.insert((run.script.name, run.script.sha256));
        }
    }
    assert_eq!(fx.trace(), ["ae_updater.py", "once/10-migrate.sh"]);
    assert!(fx.root.join("ae_updater.py").exists());
    // A new version of the same script is a new (name, checksum): it runs.
    fx.python("ae_updater.py", "    return 'v2'\n");
    options_keep(&ran);
    assert_eq!(fx.trace().len(), 3);
}

#[test]
fn a_failing_one_time_script_is_kept_reported_and_retried() {
    let fx = fixture();
    fx.python("ae_updater.py", "    raise RuntimeError('disk full')\n");
    fx.once("20-fails.sh", "exit 7\n");
    fx.once("30-works.sh", "");
    let mut ran = HashSet::new();
    let result = check_all(&fx, &mut ran);
    let outcomes: Vec<_> = result
        .scripts
        .iter()
        .map(|r| (r.script.name.as_str(), r.succeeded()))
        .collect();
    assert_eq!(
        outcomes,
        [
            ("ae_updater.py", false),
            ("once/20-fails.sh", false),
            ("once/30-works.sh", true)
        ]
    );
    let deploy::ScriptOutcome::Failed { reason, tail } = &result.scripts[0].outcome else {
        panic!();
    };
    assert_eq!(reason, "exited with code 1");
    assert!(tail.contains("RuntimeError: disk full"), "{tail}");
    assert!(fx.root.join("ae_updater.py").exists());
    assert!(fx.root.join("once/20-fails.sh").exists());
    assert!(!fx.root.join("once/30-works.sh").exists());
    check_all(&fx, &mut ran);
    assert_eq!(
        fx.trace(),
        [
            "ae_updater.py",
            "once/20-fails.sh",
            "once/30-works.sh",
            "ae_updater.py",
            "once/20-fails.sh"
        ]
    );
}

/// ae.updater deletes its one-time script only when `run_updater()` returns a true value;
/// upkeep does the same and reports the false value as a failure.
#[test]
fn a_false_run_updater_result_keeps_the_script_as_in_ae_updater() {
    let fx = fixture();
    fx.python("ae_updater.py", "    return None\n");
    let result = check_all(&fx, &mut HashSet::new());
    let run = &result.scripts[0];
    assert!(!run.succeeded());
    let deploy::ScriptOutcome::Failed { tail, .. } = &run.outcome else {
        panic!()
    };
    assert!(tail.contains("returned None"), "{tail}");
    assert!(fx.root.join("ae_updater.py").exists());
}

/// ae.updater 0.3.17 runs `ae_updater.py` before `ae_pre_app_run.py` and lets an
/// exception end `check_all`; upkeep runs the pre-run script first and goes on after a
/// failure, deploying the files.
#[test]
fn differs_from_ae_updater_pre_run_first_and_failures_do_not_stop_the_files() {
    let fx = fixture();
    fx.python("ae_pre_app_run.py", "    raise SystemExit(3)\n");
    fx.python("ae_updater.py", "    return True\n");
    let file = fx.root.join("ae_updater_copies/app.ini");
    fs_err::create_dir_all(file.parent().unwrap()).unwrap();
    fs_err::write(&file, "x").unwrap();
    let result = check_all(&fx, &mut HashSet::new());
    assert_eq!(fx.trace(), ["ae_pre_app_run.py", "ae_updater.py"]);
    assert!(!result.scripts[0].succeeded());
    assert_eq!(result.processed().len(), 1);
    assert!(fx.root.join("usr/app.ini").exists());
}

#[test]
fn discovery_describes_scripts_and_ignores_non_executables() {
    let fx = fixture();
    fx.python("ae_updater.py", "");
    fx.once("b.sh", "");
    fx.once("a.py", "");
    fs_err::write(fx.root.join("once/notes.txt"), "not a script").unwrap();
    fs_err::write(fx.root.join("once/.hidden"), "").unwrap();
    let found = scripts::discover(&fx.root).unwrap();
    let names: Vec<_> = found.once.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["once/a.py", "once/b.sh"]);
    assert_eq!(
        found.ignored,
        [(fx.root.join("once/notes.txt"), "not executable".to_owned())]
    );
    let updater = found.updater.as_ref().unwrap();
    assert_eq!(updater.kind, ScriptKind::Updater);
    assert_eq!(updater.sha256.len(), 64);
    let done: HashSet<_> = [(updater.name.clone(), updater.sha256.clone())].into();
    let due: Vec<_> = found.due(&done).iter().map(|s| s.name.clone()).collect();
    assert_eq!(due, ["once/a.py", "once/b.sh"]);
    assert!(found.pre_run.is_none());
}

#[test]
fn a_script_changed_after_discovery_is_refused() {
    let fx = fixture();
    let path = fx.once("x.sh", "");
    let found = scripts::discover(&fx.root).unwrap();
    fs_err::write(&path, "#!/bin/sh\necho tampered >> trace.txt\n").unwrap();
    let run = scripts::run(&fx.root, &found.once[0], &fx.script_options());
    assert!(!run.succeeded());
    assert!(fx.trace().is_empty());
    assert!(path.exists());
}

#[test]
fn check_all_with_nothing_to_do_starts_nothing_and_is_fast() {
    let fx = fixture();
    let started = std::time::Instant::now();
    let result = deploy::check_all(&fx.root, &fx.options(&HashSet::new())).unwrap();
    let elapsed = started.elapsed();
    assert!(result.scripts.is_empty());
    assert!(result.processed().is_empty() && result.plan.files.is_empty());
    assert!(!fx.logs.exists(), "no script ran, so no log was opened");
    assert!(
        elapsed < std::time::Duration::from_millis(50),
        "{elapsed:?}"
    );
}

#[test]
fn a_missing_root_has_nothing_to_do() {
    let result = deploy::check_all(
        Path::new("/nonexistent/upkeep-root"),
        &CheckAllOptions::default(),
    );
    assert!(result.unwrap().plan.files.is_empty());
}
