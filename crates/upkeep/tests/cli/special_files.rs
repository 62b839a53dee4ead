//! Special files in owned paths: a FIFO and a device node are backed up and restored with
//! their mode and owner, a Unix socket is recorded as not kept and a restore leaves the
//! live one in place.

use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::fixture::{Host, output};

/// Run a coreutils command the way a person would make the file.
fn sh(args: &[&str]) {
    #[expect(
        clippy::disallowed_methods,
        reason = "tests make special files with coreutils"
    )]
    let status = std::process::Command::new(args[0])
        .args(&args[1..])
        .status()
        .unwrap();
    assert!(status.success(), "{args:?}");
}

fn root() -> bool {
    fs_err::metadata("/proc/self").unwrap().uid() == 0
}

/// A host whose module `app` owns `srv/data`, which holds a file.
fn host_with_data() -> (Host, PathBuf) {
    let mut host = Host::new();
    let data = host.root.join("srv/data");
    fs_err::create_dir_all(&data).unwrap();
    fs_err::write(data.join("db"), "backed up").unwrap();
    host.manifest_toml(&format!(
        "[[module]]\nname = \"app\"\ncommand = [\"true\"]\npaths = [{:?}]\n",
        data.display().to_string()
    ));
    (host, data)
}

fn backup(host: &Host) -> serde_json::Value {
    let (code, stdout, stderr) = output(
        &host
            .upkeep()
            .args([
                "--json", "backup", "create", "--module", "app", "--name", "b",
            ])
            .assert(),
    );
    assert_eq!(code, 0, "{stderr}");
    serde_json::from_str(&stdout).unwrap()
}

fn restore(host: &Host) -> serde_json::Value {
    let (code, stdout, stderr) = output(
        &host
            .upkeep()
            .args(["--json", "backup", "restore", "b", "--yes"])
            .assert(),
    );
    assert_eq!(code, 0, "{stdout}{stderr}");
    serde_json::from_str(&stdout).unwrap()
}

fn owner_and_mode(path: &Path) -> (u32, u32, u32) {
    let meta = fs_err::symlink_metadata(path).unwrap();
    (meta.uid(), meta.gid(), meta.permissions().mode() & 0o7777)
}

#[test]
fn a_fifo_is_backed_up_and_restored_with_its_mode_and_owner() {
    let (host, data) = host_with_data();
    let pipe = data.join("pipe");
    sh(&["mkfifo", "-m", "0640", pipe.to_str().unwrap()]);
    if root() {
        sh(&["chown", "1234:5", pipe.to_str().unwrap()]);
    }
    let before = owner_and_mode(&pipe);
    backup(&host);
    fs_err::remove_file(&pipe).unwrap();
    fs_err::write(data.join("db"), "changed").unwrap();
    restore(&host);
    let meta = fs_err::symlink_metadata(&pipe).expect("the FIFO is back");
    assert!(meta.file_type().is_fifo());
    assert_eq!(owner_and_mode(&pipe), before);
    assert_eq!(
        fs_err::read_to_string(data.join("db")).unwrap(),
        "backed up"
    );
    host.upkeep()
        .args(["backup", "verify", "b"])
        .assert()
        .success();
}

#[test]
fn a_device_node_is_restored_as_root() {
    if !root() {
        return;
    }
    let (host, data) = host_with_data();
    let null = data.join("null");
    sh(&["mknod", "-m", "0620", null.to_str().unwrap(), "c", "1", "3"]);
    sh(&["chown", "1234:5", null.to_str().unwrap()]);
    backup(&host);
    fs_err::remove_file(&null).unwrap();
    restore(&host);
    let meta = fs_err::symlink_metadata(&null).expect("the device is back");
    assert!(meta.file_type().is_char_device());
    assert_eq!(meta.rdev(), fs_err::metadata("/dev/null").unwrap().rdev());
    assert_eq!(owner_and_mode(&null), (1234, 5, 0o620));
}

/// Not root, a restore of a backup holding a device node is refused before anything is
/// written (run as `nobody` on a host handed over to it).
#[test]
fn a_device_node_is_refused_without_root_before_anything_is_written() {
    use std::os::unix::process::CommandExt;
    if !root() {
        return;
    }
    let (host, data) = host_with_data();
    let null = data.join("null");
    sh(&["mknod", "-m", "0666", null.to_str().unwrap(), "c", "1", "3"]);
    backup(&host);
    fs_err::write(data.join("db"), "changed").unwrap();
    sh(&["chown", "-R", "65534:65534", host.root.to_str().unwrap()]);
    let mut restore = host.upkeep_process();
    restore
        .args(["backup", "restore", "b", "--yes", "--no-pre-backup"])
        .uid(65534)
        .gid(65534);
    let (code, _, stderr) = output(&assert_cmd::Command::from_std(restore).assert());
    assert_eq!(code, 7, "{stderr}");
    assert!(
        stderr.contains("only root can create device nodes"),
        "{stderr}"
    );
    assert_eq!(fs_err::read_to_string(data.join("db")).unwrap(), "changed");
    let left: Vec<_> = fs_err::read_dir(data.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(left, ["data"], "no staging was made");
}

#[test]
fn a_socket_is_recorded_as_not_kept_and_a_restore_leaves_the_live_one_in_place() {
    let (host, data) = host_with_data();
    let path = data.join("app.sock");
    let listener = std::os::unix::net::UnixListener::bind(&path).unwrap();
    let created = backup(&host);
    let socket = path.display().to_string();
    assert_eq!(created["not_kept"], serde_json::json!([socket]));
    let (_, listed, _) = output(&host.upkeep().args(["--json", "backup", "list"]).assert());
    let listed: serde_json::Value = serde_json::from_str(&listed).unwrap();
    assert_eq!(listed[0]["not_kept"], serde_json::json!([socket]));
    // A socket made after the backup in a directory the backup does not have goes with
    // that directory, and the restore says so.
    fs_err::create_dir_all(data.join("run")).unwrap();
    let late = data.join("run/late.sock");
    let _late = std::os::unix::net::UnixListener::bind(&late).unwrap();
    fs_err::write(data.join("db"), "changed").unwrap();
    let restored = restore(&host);
    assert_eq!(restored["sockets"]["kept"], serde_json::json!([socket]));
    assert_eq!(
        restored["sockets"]["dropped"],
        serde_json::json!([late.display().to_string()])
    );
    assert_eq!(
        fs_err::read_to_string(data.join("db")).unwrap(),
        "backed up"
    );
    assert!(
        fs_err::symlink_metadata(&path)
            .unwrap()
            .file_type()
            .is_socket()
    );
    // The service still answers on it.
    let _client = std::os::unix::net::UnixStream::connect(&path).expect("the socket is live");
    listener.accept().unwrap();
    host.upkeep()
        .args(["backup", "verify", "b"])
        .assert()
        .success();
}

/// `backup verify --deep` restores the whole backup on trial into a scratch directory
/// under the state directory, compares it with the record and removes it (sweeping one a
/// killed verification left); a failure exits 7 like any failed verification.
#[test]
fn verify_deep_restores_on_trial_and_cleans_up() {
    let (host, data) = host_with_data();
    sh(&["mkfifo", data.join("pipe").to_str().unwrap()]);
    std::os::unix::fs::symlink("db", data.join("link")).unwrap();
    let _listener = std::os::unix::net::UnixListener::bind(data.join("app.sock")).unwrap();
    backup(&host);
    let scratch = host.state.join("scratch");
    let stale = scratch.join("verify-4194999-0");
    fs_err::create_dir_all(stale.join("app.data.0")).unwrap();
    let (code, stdout, stderr) = output(
        &host
            .upkeep()
            .args(["--json", "backup", "verify", "--deep", "b"])
            .assert(),
    );
    assert_eq!(code, 0, "{stdout}{stderr}");
    let json: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(json[0]["ok"], true, "{json}");
    assert_eq!(json[0]["deep"], true, "{json}");
    assert_eq!(
        fs_err::read_dir(&scratch).unwrap().count(),
        0,
        "the trial and the stale scratch are gone"
    );
    // Where no trial can be made, the verification fails as any other does.
    fs_err::remove_dir(&scratch).unwrap();
    fs_err::write(&scratch, "not a directory").unwrap();
    let (code, _, stderr) = output(
        &host
            .upkeep()
            .args(["backup", "verify", "--deep", "b"])
            .assert(),
    );
    assert_eq!(code, 7, "{stderr}");
    assert!(stderr.contains("failed verification"), "{stderr}");
    fs_err::remove_file(&scratch).unwrap();
    // A changed archive fails the hash checks first.
    // (A store backup keeps its bytes in packs: the largest holds its file content.)
    let file: String = host.scalar("SELECT file FROM backups WHERE name = 'b'");
    let mut archive = host.state.join("backups").join(file);
    if !archive.exists() {
        let packs = host.state.join("store/packs");
        archive = fs_err::read_dir(&packs)
            .unwrap()
            .map(|e| e.unwrap().path())
            .max_by_key(|p| fs_err::metadata(p).unwrap().len())
            .unwrap();
    }
    let mut bytes = fs_err::read(&archive).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0xff;
    fs_err::write(&archive, bytes).unwrap();
    let (code, stdout, _) = output(
        &host
            .upkeep()
            .args(["--json", "backup", "verify", "--deep", "b"])
            .assert(),
    );
    assert_eq!(code, 7);
    let json: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(json[0]["ok"], false, "{json}");
    assert!(!scratch.exists() || fs_err::read_dir(&scratch).unwrap().count() == 0);
}
