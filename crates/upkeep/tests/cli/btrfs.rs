//! Pre-update backups as btrfs snapshots, on a real btrfs filesystem in a loop device: a
//! module whose one path is the root of its own subvolume is backed up by a read-only
//! snapshot and rolled back by swapping a writable copy of it in (automatically after a
//! failed health check, by `upkeep rollback`, and by recovery after `kill -9` mid-swap);
//! prune deletes snapshots; `plan` says which way each module is backed up.
//!
//! These need root, `mkfs.btrfs`, `btrfs` and a free loop device. Without them each test
//! prints why and passes, except under `CI=true`, where a missing piece fails the test
//! (CI installs btrfs-progs and runs as root so that they run there).

use std::os::unix::fs::MetadataExt;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};

use crate::fixture::{Host, output};

/// Run a tool the test sets the filesystem up with; its stdout, or `Err` with its stderr.
fn tool(program: &str, args: &[&str]) -> Result<String, String> {
    #[expect(
        clippy::disallowed_methods,
        reason = "the test sets up a filesystem with the system's own tools"
    )]
    let out = std::process::Command::new(program)
        .args(args)
        .output()
        .map_err(|e| format!("{program}: {e}"))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
    } else {
        Err(format!(
            "{program} {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// A btrfs filesystem in a file, attached to a loop device and mounted at `mnt`. Dropping
/// it unmounts (lazily, so a test that failed with something still open cannot leave it
/// mounted) and detaches the loop device, whatever the test did.
struct Volume {
    mnt: PathBuf,
    device: String,
}

impl Volume {
    /// A fresh 300 MB btrfs under `dir`, or `None` (with the reason printed) where this
    /// machine cannot make one; under `CI=true` that is a failure instead.
    fn new(dir: &Path) -> Option<Self> {
        match Self::make(dir) {
            Ok(volume) => Some(volume),
            Err(why) if std::env::var("CI").as_deref() == Ok("true") => {
                panic!("btrfs tests must run in CI: {why}")
            }
            Err(why) => {
                eprintln!("skipped: {why}");
                None
            }
        }
    }

    fn make(dir: &Path) -> Result<Self, String> {
        let status = fs_err::read_to_string("/proc/self/status").map_err(|e| e.to_string())?;
        let root = status
            .lines()
            .find_map(|l| l.strip_prefix("Uid:"))
            .is_some_and(|uids| uids.split_whitespace().nth(1) == Some("0"));
        if !root {
            return Err("not root (mounting a loop device needs it)".to_owned());
        }
        tool("btrfs", &["--version"])?;
        let image = dir.join("btrfs.img");
        fs_err::File::create(&image)
            .and_then(|f| f.set_len(300 << 20))
            .map_err(|e| e.to_string())?;
        let image = image.to_str().unwrap();
        tool("mkfs.btrfs", &["-q", image])?;
        let device = tool("losetup", &["--find", "--show", image])?;
        let mnt = dir.join("vol");
        fs_err::create_dir(&mnt).map_err(|e| e.to_string())?;
        // From here on, Drop cleans up.
        let volume = Self { mnt, device };
        tool("mount", &[&volume.device, volume.mnt.to_str().unwrap()])?;
        Ok(volume)
    }

    /// Make the subvolume `name` at the top of the filesystem.
    fn subvolume(&self, name: &str) -> PathBuf {
        let path = self.mnt.join(name);
        tool("btrfs", &["subvolume", "create", path.to_str().unwrap()]).unwrap();
        path
    }
}

impl Drop for Volume {
    fn drop(&mut self) {
        let _ = tool("umount", &["-l", self.mnt.to_str().unwrap()]);
        let _ = tool("losetup", &["-d", &self.device]);
    }
}

/// A host with a btrfs volume under it, or `None` when the test is skipped.
fn host_with_volume() -> Option<(Host, Volume)> {
    let host = Host::new();
    let volume = Volume::new(&host.root)?;
    Some((host, volume))
}

/// Whether `path` is the root of a btrfs subvolume.
fn subvolume_root(path: &Path) -> bool {
    fs_err::symlink_metadata(path).is_ok_and(|m| m.is_dir() && m.ino() == 256)
}

/// Every entry under `path`: its relative path, mode, and bytes (a file) or target (a link).
type Tree = Vec<(String, u32, Vec<u8>)>;

fn tree(path: &Path) -> Tree {
    let mut out = Vec::new();
    let mut stack = vec![path.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in fs_err::read_dir(&dir).unwrap() {
            let p = entry.unwrap().path();
            let meta = fs_err::symlink_metadata(&p).unwrap();
            let rel = p.strip_prefix(path).unwrap().display().to_string();
            let bytes = if meta.is_symlink() {
                fs_err::read_link(&p)
                    .unwrap()
                    .display()
                    .to_string()
                    .into_bytes()
            } else if meta.is_dir() {
                stack.push(p.clone());
                Vec::new()
            } else {
                fs_err::read(&p).unwrap()
            };
            out.push((rel, meta.mode(), bytes));
        }
    }
    out.sort();
    out
}

/// Release `version` of `svc`, which owns `data` (a subvolume): it rewrites the status
/// file, adds a file of its version, removes `old.txt` and changes a mode; its health
/// check reads the status; its reload appends to `reload.log` beside the host.
fn release(host: &mut Host, data: &Path, version: u32, healthy: bool) {
    let status = if healthy { "healthy" } else { "broken" };
    let reload_log = host.root.join("reload.log");
    let script = format!(
        "set -e; cd {data}; echo {status} > status; head -c 70000 /dev/urandom > blob-{version}.bin; rm -f old.txt; chmod 0600 status; ln -sfn blob-{version}.bin current",
        data = data.display()
    );
    host.manifest_toml(&format!(
        r#"[[module]]
name = "svc"
version = {version}
command = ["sh", "-c", {script:?}]
paths = [{data:?}]
rollback = true
health = {{ command = ["grep", "-q", "healthy", {status_file:?}], retries = 1, interval = "50ms", reload = ["sh", "-c", {reload:?}] }}
"#,
        data = data.display().to_string(),
        status_file = data.join("status").display().to_string(),
        reload = format!("echo reloaded >> {}", reload_log.display()),
    ));
}

/// A host whose `svc` ran version 1 healthily on its own subvolume: returns its content.
fn at_version_one(host: &mut Host, data: &Path) -> Tree {
    fs_err::write(data.join("old.txt"), "from before upkeep\n").unwrap();
    fs_err::create_dir(data.join("empty")).unwrap();
    release(host, data, 1, true);
    let (code, stdout, stderr) = output(&host.upkeep().arg("run").assert());
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    tree(data)
}

/// The ledger's backups: id, format, file.
fn backups(host: &Host) -> Vec<(i64, String, String)> {
    let ledger = host.ledger();
    let mut stmt = ledger
        .prepare("SELECT id, format, file FROM backups ORDER BY id")
        .unwrap();
    stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

/// Nothing a swap stages is left beside the snapshots, and the path is still a subvolume.
fn clean(data: &Path) {
    assert!(
        subvolume_root(data),
        "{} is no longer a subvolume",
        data.display()
    );
    let dir = data.parent().unwrap().join(".upkeep-snapshots");
    let leftovers: Vec<String> = fs_err::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with('.'))
        .collect();
    assert!(
        leftovers.is_empty(),
        "staged subvolumes left: {leftovers:?}"
    );
}

#[test]
fn a_failed_health_check_rolls_back_by_swapping_the_snapshot_in() {
    let Some((mut host, volume)) = host_with_volume() else {
        return;
    };
    let data = volume.subvolume("data");
    let before = at_version_one(&mut host, &data);
    release(&mut host, &data, 2, false);
    let (code, stdout, stderr) = output(&host.upkeep().arg("run").assert());
    assert_eq!(code, 3, "{stdout}\n{stderr}");
    assert_eq!(tree(&data), before, "not rolled back byte for byte");
    clean(&data);
    let reloads = fs_err::read_to_string(host.root.join("reload.log")).unwrap();
    assert_eq!(reloads, "reloaded\n", "the reload runs after the swap");
    let outcome: String =
        host.scalar("SELECT outcome FROM module_runs WHERE run_id = 2 AND module = 'svc'");
    assert_eq!(outcome, "rolled-back");
    let rows = backups(&host);
    assert!(
        rows.iter().all(|(_, format, _)| format == "snapshot"),
        "{rows:?}"
    );
    for (_, _, file) in &rows {
        assert!(subvolume_root(Path::new(file)), "{file} is not a subvolume");
        let ro = tool("btrfs", &["property", "get", "-ts", file, "ro"]).unwrap();
        assert_eq!(ro, "ro=true");
        assert!(file.starts_with(&volume.mnt.join(".upkeep-snapshots").display().to_string()));
    }
    let (code, stdout, stderr) =
        output(&host.upkeep().args(["backup", "verify", "--all"]).assert());
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    let running: i64 = host.scalar("SELECT count(*) FROM restores WHERE result != 'ok'");
    assert_eq!(running, 0);
}

#[test]
fn a_snapshot_made_writable_or_replaced_fails_verification() {
    let Some((mut host, volume)) = host_with_volume() else {
        return;
    };
    let data = volume.subvolume("data");
    at_version_one(&mut host, &data);
    let (id, _, file) = backups(&host).remove(0);
    tool("btrfs", &["property", "set", "-ts", &file, "ro", "false"]).unwrap();
    let verify = host
        .upkeep()
        .args(["backup", "verify", &id.to_string()])
        .assert();
    let (code, stdout, stderr) = output(&verify);
    assert_ne!(code, 0, "{stdout}");
    assert!(stdout.contains("not read-only"), "{stdout}\n{stderr}");
    // Another subvolume at the recorded path is not the snapshot taken.
    tool("btrfs", &["subvolume", "delete", &file]).unwrap();
    tool(
        "btrfs",
        &["subvolume", "snapshot", "-r", data.to_str().unwrap(), &file],
    )
    .unwrap();
    let verify = host
        .upkeep()
        .args(["backup", "verify", &id.to_string()])
        .assert();
    let (code, stdout, stderr) = output(&verify);
    assert_ne!(code, 0);
    assert!(stdout.contains("the ledger recorded"), "{stdout}\n{stderr}");
    let status: String = host.scalar(&format!("SELECT status FROM backups WHERE id = {id}"));
    assert_eq!(status, "corrupt");
    // A restore of it is refused before anything changes.
    let current = tree(&data);
    let restore = host
        .upkeep()
        .args(["backup", "restore", &id.to_string(), "--yes"])
        .assert();
    assert_ne!(output(&restore).0, 0);
    assert_eq!(tree(&data), current);
}

#[test]
fn upkeep_rollback_swaps_a_snapshot_back() {
    let Some((mut host, volume)) = host_with_volume() else {
        return;
    };
    let data = volume.subvolume("data");
    let before = at_version_one(&mut host, &data);
    release(&mut host, &data, 2, true);
    host.upkeep().arg("run").assert().success();
    assert_ne!(tree(&data), before);
    let backup: i64 = host.scalar("SELECT id FROM backups WHERE run_id = 2 AND module = 'svc'");
    let rollback = host
        .upkeep()
        .args(["rollback", "svc", "--backup", &backup.to_string(), "--yes"])
        .assert();
    let (code, stdout, stderr) = output(&rollback);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert_eq!(tree(&data), before);
    clean(&data);
    let reloads = fs_err::read_to_string(host.root.join("reload.log")).unwrap();
    assert_eq!(reloads, "reloaded\n");

    // A snapshot is not exported as an archive: refused, saying how to copy it, and no
    // file is written.
    let out = host.root.join("svc.tar.zst");
    let export = host
        .upkeep()
        .args(["backup", "export", &backup.to_string(), "-o"])
        .arg(&out)
        .assert();
    let (code, _, stderr) = output(&export);
    assert_ne!(code, 0);
    assert!(stderr.contains("btrfs send"), "{stderr}");
    assert!(!out.exists());
}

#[test]
fn backup_restore_snapshots_the_current_content_first_and_can_go_back_to_it() {
    let Some((mut host, volume)) = host_with_volume() else {
        return;
    };
    let data = volume.subvolume("data");
    let before = at_version_one(&mut host, &data);
    release(&mut host, &data, 2, true);
    host.upkeep().arg("run").assert().success();
    let after = tree(&data);
    let backup: i64 = host.scalar("SELECT id FROM backups WHERE run_id = 2 AND module = 'svc'");
    let restore = host
        .upkeep()
        .args(["backup", "restore", &backup.to_string(), "--yes"])
        .assert();
    let (code, stdout, stderr) = output(&restore);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert_eq!(tree(&data), before);
    let (pre, format): (i64, String) = host
        .ledger()
        .query_row(
            "SELECT id, format FROM backups ORDER BY id DESC LIMIT 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert!(pre > backup);
    assert_eq!(format, "snapshot");
    let back = host
        .upkeep()
        .args([
            "backup",
            "restore",
            &pre.to_string(),
            "--yes",
            "--no-pre-backup",
        ])
        .assert();
    assert_eq!(output(&back).0, 0);
    assert_eq!(tree(&data), after);
    clean(&data);
}

#[test]
fn prune_deletes_the_snapshots_of_the_backups_it_removes() {
    let Some((mut host, volume)) = host_with_volume() else {
        return;
    };
    let data = volume.subvolume("data");
    at_version_one(&mut host, &data);
    for version in [2, 3] {
        release(&mut host, &data, version, true);
        host.upkeep().arg("run").assert().success();
    }
    let all = backups(&host);
    assert_eq!(all.len(), 3, "{all:?}");
    let prune = host
        .upkeep()
        .args(["backup", "prune", "--keep-last", "0"])
        .assert();
    let (code, stdout, stderr) = output(&prune);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    let kept = backups(&host);
    assert!(kept.len() < all.len(), "nothing pruned: {kept:?}");
    for (id, _, file) in &all {
        let recorded = kept.iter().any(|(k, _, _)| k == id);
        assert_eq!(
            Path::new(file).exists(),
            recorded,
            "backup {id}: its snapshot {file} must exist exactly while it is recorded"
        );
    }
    let listed = tool(
        "btrfs",
        &["subvolume", "list", volume.mnt.to_str().unwrap()],
    )
    .unwrap();
    assert_eq!(listed.lines().count(), 1 + kept.len(), "{listed}");
}

#[test]
fn plan_shows_how_each_module_is_backed_up() {
    let Some((mut host, volume)) = host_with_volume() else {
        return;
    };
    let data = volume.subvolume("data");
    let directory = volume.mnt.join("plain");
    fs_err::create_dir(&directory).unwrap();
    host.manifest_toml(&format!(
        "[[module]]\nname = \"svc\"\ncommand = [\"true\"]\npaths = [{:?}]\n\n[[module]]\nname = \"web\"\ncommand = [\"true\"]\npaths = [{:?}]\n\n[[module]]\nname = \"bare\"\ncommand = [\"true\"]\n",
        data.display().to_string(),
        directory.display().to_string()
    ));
    let (code, stdout, stderr) = output(&host.upkeep().arg("plan").assert());
    assert_eq!(code, 0, "{stderr}");
    let snapshots = volume.mnt.join(".upkeep-snapshots");
    assert!(
        stdout.contains(&format!(
            "svc: btrfs snapshot of {}, kept in {}",
            data.display(),
            snapshots.display()
        )),
        "{stdout}"
    );
    assert!(
        stdout.contains("web: store (") && stdout.contains("is not the root of its own"),
        "{stdout}"
    );
    let (_, json, _) = output(&host.upkeep().args(["--json", "plan"]).assert());
    let plan: serde_json::Value = serde_json::from_str(&json).unwrap();
    let method = |name: &str| {
        let step = plan["steps"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["name"] == name)
            .unwrap();
        step["backup"].clone()
    };
    assert_eq!(method("svc")["method"], "snapshot");
    assert_eq!(method("svc")["subvolume"], data.display().to_string());
    // Not a snapshot: the store, the format new backups take.
    assert_eq!(method("web")["method"], "store");
    assert!(method("bare").is_null());
    // Turned off, it says so, and a run takes the store.
    fs_err::write(
        host.root.join("settings.toml"),
        "[backup]\nsnapshots = false\n",
    )
    .unwrap();
    let (_, stdout, _) = output(&host.upkeep().arg("plan").assert());
    assert!(stdout.contains("svc: store (snapshots are off"), "{stdout}");
    host.upkeep().arg("run").assert().success();
    let rows = backups(&host);
    assert!(
        rows.iter().all(|(_, format, _)| format == "store"),
        "{rows:?}"
    );
}

/// `upkeep run`, killed with SIGKILL at crash point `point`; waits for what it left running.
fn killed_at(host: &Host, point: &str) {
    let child = host
        .upkeep_process()
        .arg("run")
        .env("FAILPOINTS", format!("{point}=return"))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let out = child.wait_with_output().unwrap();
    assert_eq!(
        out.status.signal(),
        Some(9),
        "not killed at {point}:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    crate::crash_sweep::wait_for_leftovers(pid);
}

/// The subvolumes in the snapshot directory beside `data`, staged ones aside.
fn snapshots_beside(data: &Path) -> Vec<PathBuf> {
    let dir = data.parent().unwrap().join(".upkeep-snapshots");
    let mut out: Vec<PathBuf> = fs_err::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| !p.file_name().unwrap().to_string_lossy().starts_with('.'))
        .collect();
    out.sort();
    out
}

#[test]
fn a_snapshot_killed_before_it_was_recorded_is_deleted_by_prune() {
    let Some((mut host, volume)) = host_with_volume() else {
        return;
    };
    let data = volume.subvolume("data");
    let before = at_version_one(&mut host, &data);
    release(&mut host, &data, 2, true);
    killed_at(&host, "backup::archive-written");
    assert_eq!(
        tree(&data),
        before,
        "the update started without a recorded backup"
    );
    assert_eq!(snapshots_beside(&data).len(), backups(&host).len() + 1);
    host.upkeep().arg("run").assert().success();
    let mut recorded: Vec<PathBuf> = backups(&host)
        .into_iter()
        .map(|(_, _, file)| PathBuf::from(file))
        .collect();
    recorded.sort();
    let unrecorded: Vec<PathBuf> = snapshots_beside(&data)
        .into_iter()
        .filter(|p| !recorded.contains(p))
        .collect();
    assert_eq!(unrecorded.len(), 1, "{recorded:?}");
    let dry = host
        .upkeep()
        .args([
            "--json",
            "backup",
            "prune",
            "--keep-last",
            "100",
            "--dry-run",
        ])
        .assert();
    let (code, json, stderr) = output(&dry);
    assert_eq!(code, 0, "{stderr}");
    let pruned: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(
        pruned["unrecorded_snapshots"],
        serde_json::json!([unrecorded[0].display().to_string()])
    );
    let prune = host
        .upkeep()
        .args(["backup", "prune", "--keep-last", "100"])
        .assert();
    let (code, stdout, stderr) = output(&prune);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("deleted unrecorded snapshot"), "{stdout}");
    assert_eq!(snapshots_beside(&data), recorded);
}

/// Kill upkeep at `first` while it swaps a failed update's snapshot back, then (when
/// given) the recovering run at `second`; the next complete run must leave the path at its
/// last healthy content, nothing staged, no restore or run left `running`.
fn killed_mid_swap(first: &str, second: Option<&str>) {
    let Some((mut host, volume)) = host_with_volume() else {
        return;
    };
    let data = volume.subvolume("data");
    let before = at_version_one(&mut host, &data);
    release(&mut host, &data, 2, false);
    for point in std::iter::once(first).chain(second) {
        killed_at(&host, point);
    }
    let (code, stdout, stderr) = output(&host.upkeep().arg("run").assert());
    assert_eq!(
        code, 3,
        "the broken update is applied again and rolled back:\n{stdout}\n{stderr}"
    );
    assert_eq!(tree(&data), before, "after {first}, {second:?}");
    clean(&data);
    let unfinished: i64 = host.scalar(
        "SELECT (SELECT count(*) FROM restores WHERE result = 'running') + (SELECT count(*) FROM runs WHERE result = 'running')",
    );
    assert_eq!(unfinished, 0);
}

#[test]
fn killed_after_staging_the_snapshot() {
    killed_mid_swap("restore::staged", None);
}

#[test]
fn killed_after_the_swap_before_its_journal() {
    killed_mid_swap("restore::swapped-unrecorded", None);
}

#[test]
fn killed_after_the_journal_before_the_old_content_went() {
    killed_mid_swap("restore::recorded", None);
}

#[test]
fn killed_mid_swap_then_again_while_recovering() {
    killed_mid_swap(
        "restore::swapped-unrecorded",
        Some("restore::swapped-unrecorded"),
    );
}

#[test]
fn killed_mid_update_then_in_the_recovering_swap() {
    killed_mid_swap("run::module-exited", Some("restore::staged"));
}
