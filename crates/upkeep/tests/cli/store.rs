//! The chunk store from the command line: a chunk shared by backups is stored once, prune
//! removes the chunks no backup references (and survives a `kill -9` at each of its crash
//! points with every recorded backup intact), and `backup export` / `backup import` carry
//! a backup out as a plain tar archive and back in.

use std::collections::BTreeMap;
use std::fs::Permissions;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use crate::fixture::{Host, output};

fn host_with_data() -> (Host, PathBuf) {
    let mut host = Host::new();
    let data = host.root.join("srv/data");
    fs_err::create_dir_all(data.join("sub")).unwrap();
    fs_err::write(data.join("a.txt"), "first").unwrap();
    // Incompressible, so what a backup adds is measured against something.
    fs_err::write(data.join("sub/big.bin"), noise(2_000_000, 0x2545_f491)).unwrap();
    host.manifest_toml(&format!(
        "[[module]]\nname = \"app\"\ncommand = [\"true\"]\npaths = [{:?}]\n",
        data.display().to_string()
    ));
    (host, data)
}

/// `len` bytes that do not compress (xorshift from `seed`).
fn noise(len: usize, mut seed: u32) -> Vec<u8> {
    (0..len)
        .map(|_| {
            seed ^= seed << 13;
            seed ^= seed >> 17;
            seed ^= seed << 5;
            seed.to_le_bytes()[0]
        })
        .collect()
}

fn tree(root: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in fs_err::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let rel = path.strip_prefix(root).unwrap().display().to_string();
            if path.is_dir() {
                stack.push(path);
                out.insert(rel, Vec::new());
            } else {
                out.insert(rel, fs_err::read(&path).unwrap());
            }
        }
    }
    out
}

fn create(host: &Host, name: &str) {
    host.upkeep()
        .args(["backup", "create", "--name", name, "--min-free", "0"])
        .assert()
        .success();
}

fn packs(host: &Host) -> Vec<String> {
    let mut names: Vec<String> = fs_err::read_dir(host.state.join("store/packs"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// Every pack file has a row and every row a file; every backup verifies.
fn consistent(host: &Host) {
    let ledger = host.ledger();
    let mut stmt = ledger
        .prepare("SELECT name FROM store_packs ORDER BY name")
        .unwrap();
    let rows: Vec<String> = stmt
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(packs(host), rows);
    host.upkeep()
        .args(["backup", "verify", "--all"])
        .assert()
        .success();
}

#[test]
fn a_second_backup_stores_only_what_changed_and_prune_frees_the_rest() {
    let (host, data) = host_with_data();
    create(&host, "one");
    let first: i64 = host.scalar("SELECT bytes_out FROM backups WHERE name = 'one'");
    create(&host, "same");
    let same: i64 = host.scalar("SELECT bytes_out FROM backups WHERE name = 'same'");
    assert_eq!(same, 0, "nothing changed, nothing stored");
    let manifest = |name: &str| -> String {
        host.scalar(&format!("SELECT sha256 FROM backups WHERE name = '{name}'"))
    };
    assert_eq!(manifest("same"), manifest("one"));
    // A change of metadata alone is a new item stream (the unchanged case reuses the
    // parent's only when every entry is equal).
    fs_err::set_permissions(data.join("a.txt"), Permissions::from_mode(0o600)).unwrap();
    create(&host, "mode");
    assert_ne!(manifest("mode"), manifest("one"));
    let mode: i64 = host.scalar("SELECT bytes_out FROM backups WHERE name = 'mode'");
    assert!(mode > 0 && mode < first / 10, "{mode} of {first}");
    fs_err::write(data.join("a.txt"), "second").unwrap();
    create(&host, "two");
    let second: i64 = host.scalar("SELECT bytes_out FROM backups WHERE name = 'two'");
    assert!(second < first / 10, "{second} of {first}");
    let chunks_before: i64 = host.scalar("SELECT count(*) FROM store_chunks");
    let pruned = host
        .upkeep()
        .args(["--json", "backup", "prune", "--keep-last", "1"])
        .assert()
        .success();
    let (_, stdout, _) = output(&pruned);
    let pruned: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let kept: i64 = host.scalar("SELECT count(*) FROM backups");
    assert_eq!(kept, 1);
    let chunks_after: i64 = host.scalar("SELECT count(*) FROM store_chunks");
    assert!(
        chunks_after < chunks_before,
        "{chunks_after} < {chunks_before}"
    );
    // The report says what the garbage collection removed.
    assert_eq!(
        pruned["store"]["chunks_removed"].as_i64(),
        Some(chunks_before - chunks_after),
        "{pruned}"
    );
    consistent(&host);
    let wanted = tree(&data);
    fs_err::remove_dir_all(&data).unwrap();
    host.upkeep()
        .args(["backup", "restore", "two", "--yes", "--no-pre-backup"])
        .assert()
        .success();
    assert_eq!(tree(&data), wanted);
}

fn prune_killed_at(point: &str) {
    let (host, data) = host_with_data();
    create(&host, "one");
    fs_err::write(data.join("a.txt"), "second").unwrap();
    fs_err::write(data.join("new.txt"), "new").unwrap();
    create(&host, "two");
    let wanted = tree(&data);
    let crashed = host
        .upkeep_process()
        .args(["backup", "prune", "--keep-last", "1"])
        .env("FAILPOINTS", format!("{point}=return"))
        .output()
        .unwrap();
    assert_eq!(
        std::os::unix::process::ExitStatusExt::signal(&crashed.status),
        Some(9),
        "killed at {point}: {}",
        String::from_utf8_lossy(&crashed.stderr)
    );
    // Every recorded backup still reads back; the next prune finishes the job.
    host.upkeep()
        .args(["backup", "verify", "--all"])
        .assert()
        .success();
    host.upkeep()
        .args(["backup", "prune", "--keep-last", "1"])
        .assert()
        .success();
    consistent(&host);
    fs_err::remove_dir_all(&data).unwrap();
    host.upkeep()
        .args(["backup", "restore", "two", "--yes", "--no-pre-backup"])
        .assert()
        .success();
    assert_eq!(tree(&data), wanted);
}

#[test]
fn prune_killed_after_repacking_keeps_every_backup() {
    prune_killed_at("prune::repacked");
}

#[test]
fn prune_killed_after_repointing_keeps_every_backup() {
    prune_killed_at("prune::repointed");
}

#[test]
fn a_backup_killed_after_writing_packs_leaves_only_unrecorded_packs() {
    let (host, _) = host_with_data();
    let crashed = host
        .upkeep_process()
        .args(["backup", "create", "--name", "x", "--min-free", "0"])
        .env("FAILPOINTS", "backup::store-written=return")
        .output()
        .unwrap();
    assert_eq!(
        std::os::unix::process::ExitStatusExt::signal(&crashed.status),
        Some(9)
    );
    let recorded: i64 = host.scalar("SELECT count(*) FROM backups");
    assert_eq!(recorded, 0);
    assert!(!packs(&host).is_empty());
    host.upkeep().args(["backup", "prune"]).assert().success();
    assert!(packs(&host).is_empty(), "the unrecorded packs were swept");
}

#[test]
fn export_writes_a_plain_tar_that_import_brings_back() {
    let (host, data) = host_with_data();
    create(&host, "one");
    let wanted = tree(&data);
    let exported = host.root.join("one.tar.zst");
    let (code, stdout, stderr) = output(
        &host
            .upkeep()
            .args(["--json", "backup", "export", "one", "-o"])
            .arg(&exported)
            .assert(),
    );
    assert_eq!(code, 0, "{stderr}");
    let json: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(json["bytes"], fs_err::metadata(&exported).unwrap().len());
    // Plain tar reads it.
    #[expect(
        clippy::disallowed_methods,
        reason = "the test reads the export with tar"
    )]
    let listed = std::process::Command::new("tar")
        .args(["-I", "zstd", "-tf"])
        .arg(&exported)
        .output()
        .unwrap();
    let listed = String::from_utf8_lossy(&listed.stdout);
    assert!(listed.contains("app.data.0/sub/big.bin"), "{listed}");

    fs_err::write(data.join("a.txt"), "changed").unwrap();
    host.upkeep()
        .args(["backup", "import", "--name", "imported"])
        .arg(&exported)
        .assert()
        .success();
    host.upkeep()
        .args(["backup", "restore", "imported", "--yes", "--no-pre-backup"])
        .assert()
        .success();
    assert_eq!(tree(&data), wanted);
}

#[test]
fn a_hostile_archive_is_not_imported() {
    let (host, data) = host_with_data();
    create(&host, "one");
    let exported = host.root.join("one.tar");
    host.upkeep()
        .args(["backup", "export", "one", "-o"])
        .arg(&exported)
        .assert()
        .success();
    // Break the header of the first member after the index (its name and checksum).
    let mut bytes = fs_err::read(&exported).unwrap();
    bytes[1024 + 3] ^= 0xff;
    fs_err::write(&exported, bytes).unwrap();
    let before: i64 = host.scalar("SELECT count(*) FROM backups");
    host.upkeep()
        .args(["backup", "import"])
        .arg(&exported)
        .assert()
        .failure();
    let after: i64 = host.scalar("SELECT count(*) FROM backups");
    assert_eq!(before, after);
    assert_eq!(fs_err::read_to_string(data.join("a.txt")).unwrap(), "first");
}

/// A tmpfs of `mb` MiB mounted on `dir` (unmounted on drop), or `None` where this machine
/// cannot mount one (not root); under `CI=true` that is a failure instead.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(dir: &Path, mb: u32) -> Option<Self> {
        fs_err::create_dir_all(dir).unwrap();
        #[expect(
            clippy::disallowed_methods,
            reason = "the test sets up a filesystem with the system's own tools"
        )]
        let mounted = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={mb}m"), "tmpfs"])
            .arg(dir)
            .output();
        match mounted {
            Ok(out) if out.status.success() => Some(Self(dir.to_path_buf())),
            _ if std::env::var("CI").as_deref() == Ok("true") => {
                panic!("the free-space test must run in CI (as root, to mount a tmpfs)")
            }
            _ => {
                eprintln!("skipped: cannot mount a tmpfs here (not root?)");
                None
            }
        }
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        #[expect(
            clippy::disallowed_methods,
            reason = "the test sets up a filesystem with the system's own tools"
        )]
        let _ = std::process::Command::new("umount")
            .args(["-l"])
            .arg(&self.0)
            .status();
    }
}

/// The check before a store backup passes when the space over the floor is short of the
/// tree (the store may need far less than the tree, so it does not walk it first); the
/// store then refuses to start the pack that could cross the floor: the same low-space
/// refusal, no backup recorded, no pack left behind.
#[test]
fn a_store_backup_stops_before_a_pack_would_cross_the_free_space_floor() {
    let (host, data) = host_with_data();
    // 60 MiB that do not compress, on a state directory of 48 MiB.
    fs_err::write(data.join("noise.bin"), noise(60 << 20, 0x9e37_79b9)).unwrap();
    let Some(_tmpfs) = Tmpfs::mount(&host.state, 48) else {
        return;
    };
    let assert = host
        .upkeep()
        .args(["--json", "backup", "create", "--min-free", "4MiB"])
        .assert();
    let (code, stdout, stderr) = output(&assert);
    assert_eq!(code, 9, "{stdout}\n{stderr}");
    let error: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(error["error"], "low-space", "{stdout}");
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("not enough free space"),
        "{stdout}"
    );
    let rows: i64 = host
        .ledger()
        .query_row("SELECT count(*) FROM backups", [], |r| r.get(0))
        .unwrap();
    assert_eq!(rows, 0);
    assert_eq!(packs(&host), Vec::<String>::new());
}

/// A pack that reads back other than it was written (damaged after sealing, before the
/// read-back) refuses the backup: nothing recorded, no pack left.
#[test]
fn a_pack_damaged_before_its_read_back_refuses_the_backup() {
    let (host, _data) = host_with_data();
    let assert = host
        .upkeep()
        .args(["backup", "create", "--min-free", "0"])
        .env("FAILPOINTS", "store::pack-damaged=return")
        .assert();
    let (code, stdout, stderr) = output(&assert);
    assert_eq!(code, 7, "{stdout}\n{stderr}");
    assert!(stderr.contains("after writing"), "{stderr}");
    let rows: i64 = host.scalar("SELECT count(*) FROM backups");
    assert_eq!(rows, 0);
    assert_eq!(packs(&host), Vec::<String>::new());
}
