//! Paths no module may own: upkeep's state directory (its ledger and backups), the updates
//! directory, the whole file system. A module that declares one does not run, and no
//! backup of it is taken.

use std::path::{Path, PathBuf};

use crate::fixture::{Host, output};

fn owning(host: &mut Host, path: &str) -> std::path::PathBuf {
    let ran = host.root.join("ran");
    host.manifest_toml(&format!(
        "[[module]]\nname = \"app\"\ncommand = [\"touch\", {:?}]\npaths = [{path:?}]\n",
        ran.display().to_string()
    ));
    ran
}

#[test]
fn a_module_owning_the_state_directory_the_updates_directory_or_root_does_not_run() {
    let mut host = Host::new();
    let state = host.state.display().to_string();
    let updates = host.updates.display().to_string();
    let home_of_state = host.root.display().to_string();
    for (path, what) in [
        (state.as_str(), "state directory"),
        ("{state}", "state directory"),
        (home_of_state.as_str(), "state directory"),
        (updates.as_str(), "updates directory"),
        ("/", "whole file system"),
    ] {
        let ran = owning(&mut host, path);
        let (code, stdout, stderr) = output(&host.upkeep().arg("run").assert());
        assert_eq!(code, 3, "{path}: {stdout}{stderr}");
        assert!(stdout.contains(what), "{path}: {stdout}");
        assert!(!ran.exists(), "{path}: the module ran");
        let (code, _, stderr) = output(
            &host
                .upkeep()
                .args(["backup", "create", "--module", "app"])
                .assert(),
        );
        assert_eq!(code, 4, "{path}: {stderr}");
        assert!(stderr.contains(what), "{path}: {stderr}");
    }
    let backups: i64 = host.scalar("SELECT count(*) FROM backups");
    assert_eq!(backups, 0);
}

#[test]
fn a_run_sweeps_the_staging_a_killed_restore_left_beside_a_modules_paths() {
    let mut host = Host::new();
    let data = host.root.join("srv/data");
    fs_err::create_dir_all(&data).unwrap();
    host.manifest_toml(&format!(
        "[[module]]\nname = \"app\"\ncommand = [\"true\"]\npaths = [{:?}]\n",
        data.display().to_string()
    ));
    let parent = data.parent().unwrap();
    // Left by a restore whose process is gone (no pid is this large), and one of a live
    // process (pid 1), which is someone's restore in progress and stays.
    let stale = parent.join(".data.upkeep-restore-4194999-0");
    let live = parent.join(".data.upkeep-restore-1-0");
    for dir in [&stale, &live] {
        fs_err::create_dir_all(dir.join("staged")).unwrap();
        fs_err::write(dir.join("staged/db"), "half").unwrap();
    }
    host.upkeep().arg("run").assert().success();
    assert!(!stale.exists(), "the stale staging is swept");
    assert!(live.exists(), "a live process's staging is left alone");
    assert!(data.exists());
}

#[test]
fn module_code_outside_the_updates_directory_is_refused() {
    let mut host = Host::new();
    let outside = host.root.join("outside");
    fs_err::create_dir_all(&outside).unwrap();
    fs_err::write(outside.join("run.sh"), "touch ran\n").unwrap();
    fs_err::write(outside.join("index.py"), "def main(args):\n    pass\n").unwrap();
    std::os::unix::fs::symlink(&outside, host.updates.join("linked")).unwrap();
    for (manifest, what) in [
        (
            "[[module]]\nname = \"app\"\nscript = \"../outside/run.sh\"\n",
            "lies outside the updates directory",
        ),
        (
            "[[module]]\nname = \"app\"\ncommand = [\"true\"]\ndir = \"../outside\"\n",
            "lies outside the updates directory",
        ),
        (
            "[[module]]\nname = \"linked\"\npython = \"linked.index\"\n",
            "is a symbolic link",
        ),
    ] {
        host.manifest_toml(manifest);
        for args in [&["run"][..], &["checksum", "--write"]] {
            let (code, _, stderr) = output(&host.upkeep().args(args).assert());
            assert_eq!(code, 4, "{manifest}{args:?}: {stderr}");
            assert!(stderr.contains(what), "{manifest}: {stderr}");
        }
    }
    assert!(
        !outside.join("checksum").exists(),
        "nothing was written outside"
    );
    assert!(!host.root.join("ran").exists());
}

#[test]
fn a_restore_writes_only_where_the_module_declares_its_paths_now() {
    let mut host = Host::new();
    let (old, new) = (host.root.join("srv/old"), host.root.join("srv/new"));
    for dir in [&old, &new] {
        fs_err::create_dir_all(dir).unwrap();
    }
    fs_err::write(old.join("db"), "backed up").unwrap();
    let declare = |host: &mut Host, path: &std::path::Path| {
        host.manifest_toml(&format!(
            "[[module]]\nname = \"app\"\ncommand = [\"true\"]\npaths = [{:?}]\n",
            path.display().to_string()
        ));
    };
    declare(&mut host, &old);
    host.upkeep()
        .args(["backup", "create", "--module", "app", "--name", "before"])
        .assert()
        .success();
    fs_err::write(old.join("db"), "changed since").unwrap();
    // The module now declares another path: the backup's recorded one is not its to write.
    declare(&mut host, &new);
    let (code, _, stderr) = output(
        &host
            .upkeep()
            .args(["backup", "restore", "before", "--yes"])
            .assert(),
    );
    assert_eq!(code, 7, "{stderr}");
    assert!(stderr.contains("no longer declares that path"), "{stderr}");
    assert_eq!(
        fs_err::read_to_string(old.join("db")).unwrap(),
        "changed since"
    );
    // Declared again, it restores.
    declare(&mut host, &old);
    host.upkeep()
        .args(["backup", "restore", "before", "--yes"])
        .assert()
        .success();
    assert_eq!(fs_err::read_to_string(old.join("db")).unwrap(), "backed up");
}

/// Two modules may not own the same path, or one a path inside the other's: a rollback of
/// one would restore over the other's update. Neither runs, and a backup is refused; both
/// declaring it `shared` is the way to say they mean it.
#[test]
fn modules_owning_overlapping_paths_do_not_run_unless_both_declare_them_shared() {
    let mut host = Host::new();
    let srv = host.root.join("srv");
    let inner = srv.join("b");
    fs_err::create_dir_all(&inner).unwrap();
    for (a_paths, b_paths) in [
        (
            format!("[{:?}]", srv.display().to_string()),
            format!("[{:?}]", srv.display().to_string()),
        ),
        (
            format!("[{:?}]", srv.display().to_string()),
            format!("[{:?}]", inner.display().to_string()),
        ),
        (
            format!("{{ shared = [{:?}] }}", srv.display().to_string()),
            format!("[{:?}]", inner.display().to_string()),
        ),
    ] {
        let ran = host.root.join("ran");
        let _ = fs_err::remove_dir_all(&ran);
        fs_err::create_dir_all(&ran).unwrap();
        host.manifest_toml(&format!(
            "[[module]]\nname = \"a\"\ncommand = [\"touch\", {a:?}]\npaths = {a_paths}\n\n\
             [[module]]\nname = \"b\"\ncommand = [\"touch\", {b:?}]\npaths = {b_paths}\n",
            a = ran.join("a").display().to_string(),
            b = ran.join("b").display().to_string(),
        ));
        let (code, stdout, stderr) = output(&host.upkeep().args(["run", "--force"]).assert());
        assert_eq!(code, 3, "{a_paths} / {b_paths}: {stdout}{stderr}");
        assert!(stdout.contains("owns"), "{stdout}");
        assert!(
            !ran.join("a").exists() && !ran.join("b").exists(),
            "{a_paths} / {b_paths}"
        );
        let (code, _, stderr) = output(
            &host
                .upkeep()
                .args(["backup", "create", "--module", "a"])
                .assert(),
        );
        assert_eq!(code, 4, "{stderr}");
        assert!(stderr.contains("module `b` owns"), "{stderr}");
    }
    let shared = format!("{{ shared = [{:?}] }}", srv.display().to_string());
    let ran = host.root.join("ran");
    host.manifest_toml(&format!(
        "[[module]]\nname = \"a\"\ncommand = [\"touch\", {a:?}]\npaths = {shared}\n\n\
         [[module]]\nname = \"b\"\ncommand = [\"touch\", {b:?}]\npaths = {shared}\n",
        a = ran.join("a").display().to_string(),
        b = ran.join("b").display().to_string(),
    ));
    let (code, stdout, stderr) = output(&host.upkeep().args(["run", "--force"]).assert());
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(ran.join("a").exists() && ran.join("b").exists());
}

/// A host whose module `app` declared `srv/old` when backup (returned) of its version
/// 1.0.0 was taken, and declares `srv/new` now.
fn changed_declaration(host: &mut Host) -> (String, PathBuf, PathBuf) {
    let (old, new) = (host.root.join("srv/old"), host.root.join("srv/new"));
    for dir in [&old, &new] {
        fs_err::create_dir_all(dir).unwrap();
    }
    let declare = |host: &mut Host, path: &Path| {
        host.manifest_toml(&format!(
            "[[module]]\nname = \"app\"\nversion = \"1.0.0\"\ncommand = [\"true\"]\npaths = [{:?}]\n",
            path.display().to_string()
        ));
    };
    declare(host, &old);
    fs_err::write(old.join("db"), "backed up").unwrap();
    host.upkeep().arg("run").assert().success();
    host.upkeep().args(["run", "--force"]).assert().success();
    let backup: i64 = host.scalar("SELECT max(id) FROM backups WHERE module_version = '1.0.0'");
    declare(host, &new);
    (backup.to_string(), old, new)
}

/// A module whose `paths` changed since a backup: the refusal says what the backup
/// recorded and what the module declares now, and names the flag that restores anyway;
/// with `--allow-changed-paths` both `backup restore` and `rollback` restore to the
/// recorded path and say so.
#[test]
fn a_changed_declaration_is_reported_and_restores_only_with_allow_changed_paths() {
    let mut host = Host::new();
    let (backup, old, new) = changed_declaration(&mut host);
    let (old_s, new_s) = (old.display().to_string(), new.display().to_string());
    for args in [
        vec!["backup", "restore", backup.as_str(), "--yes"],
        vec!["rollback", "app", "--backup", backup.as_str(), "--yes"],
    ] {
        fs_err::write(old.join("db"), "changed since").unwrap();
        let (code, _, stderr) = output(&host.upkeep().args(&args).assert());
        assert_eq!(code, 7, "{args:?}: {stderr}");
        assert!(stderr.contains(&format!("to {old_s}")), "{stderr}");
        assert!(
            stderr.contains(&format!("declares {new_s} now")),
            "{stderr}"
        );
        assert!(stderr.contains("--allow-changed-paths"), "{stderr}");
        assert_eq!(
            fs_err::read_to_string(old.join("db")).unwrap(),
            "changed since",
            "{args:?}: nothing is restored"
        );
        let mut allowed = args.clone();
        allowed.push("--allow-changed-paths");
        let (code, stdout, stderr) = output(&host.upkeep().args(&allowed).assert());
        assert_eq!(code, 0, "{allowed:?}: {stdout}{stderr}");
        assert!(
            stderr.contains(&format!("restored {old_s} where the backup recorded it")),
            "{stderr}"
        );
        assert_eq!(fs_err::read_to_string(old.join("db")).unwrap(), "backed up");
    }
    let (code, stdout, _) = output(
        &host
            .upkeep()
            .args(["--json", "backup", "restore", &backup, "--yes"])
            .arg("--allow-changed-paths")
            .assert(),
    );
    assert_eq!(code, 0);
    let json: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(json["changed_paths"][0]["recorded"], old_s.as_str());
    assert_eq!(json["changed_paths"][0]["declared"][0], new_s.as_str());
}

/// `--allow-changed-paths` never lets a (forged) recorded path be `/`, the state directory
/// or the updates directory.
#[test]
fn allow_changed_paths_still_refuses_what_no_module_may_own() {
    let mut host = Host::new();
    let (backup, _, _) = changed_declaration(&mut host);
    let state = host.state.display().to_string();
    let updates = host.updates.display().to_string();
    for (forged, what) in [
        ("/", "whole file system"),
        (state.as_str(), "state directory"),
        (updates.as_str(), "updates directory"),
    ] {
        let writable = rusqlite::Connection::open(host.state.join("upkeep.db")).unwrap();
        writable
            .execute(
                "UPDATE backup_roots SET path = ?1 WHERE backup_id = ?2",
                rusqlite::params![forged, backup.parse::<i64>().unwrap()],
            )
            .unwrap();
        drop(writable);
        let (code, _, stderr) = output(
            &host
                .upkeep()
                .args([
                    "backup",
                    "restore",
                    &backup,
                    "--yes",
                    "--allow-changed-paths",
                ])
                .assert(),
        );
        assert_eq!(code, 4, "{forged}: {stderr}");
        assert!(stderr.contains(what), "{forged}: {stderr}");
    }
    assert!(host.state.join("upkeep.db").exists());
    assert!(host.updates.join("upkeep.toml").exists());
}
