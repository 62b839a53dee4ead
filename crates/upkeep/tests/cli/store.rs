//! The chunk store from the command line: a chunk shared by backups is stored once, prune
//! removes the chunks no backup references (and survives a `kill -9` at each of its crash
//! points with every recorded backup intact), and `backup export` / `backup import` carry
//! a backup out as a plain tar archive and back in.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::fixture::{Host, output};

fn host_with_data() -> (Host, PathBuf) {
    let mut host = Host::new();
    let data = host.root.join("srv/data");
    fs_err::create_dir_all(data.join("sub")).unwrap();
    fs_err::write(data.join("a.txt"), "first").unwrap();
    // Incompressible, so what a backup adds is measured against something.
    let mut x = 0x2545_f491_u32;
    let big: Vec<u8> = (0..2_000_000)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x.to_le_bytes()[0]
        })
        .collect();
    fs_err::write(data.join("sub/big.bin"), big).unwrap();
    host.manifest_toml(&format!(
        "[[module]]\nname = \"app\"\ncommand = [\"true\"]\npaths = [{:?}]\n",
        data.display().to_string()
    ));
    (host, data)
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
    fs_err::write(data.join("a.txt"), "second").unwrap();
    create(&host, "two");
    let second: i64 = host.scalar("SELECT bytes_out FROM backups WHERE name = 'two'");
    assert!(second < first / 10, "{second} of {first}");
    let chunks_before: i64 = host.scalar("SELECT count(*) FROM store_chunks");
    host.upkeep()
        .args(["backup", "prune", "--keep-last", "1"])
        .assert()
        .success();
    let kept: i64 = host.scalar("SELECT count(*) FROM backups");
    assert_eq!(kept, 1);
    let chunks_after: i64 = host.scalar("SELECT count(*) FROM store_chunks");
    assert!(
        chunks_after < chunks_before,
        "{chunks_after} < {chunks_before}"
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
