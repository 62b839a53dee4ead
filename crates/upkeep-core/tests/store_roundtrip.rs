//! Store backups round-trip: generated trees (unicode and long names, exec bits, empty
//! directories, symlinks, hard links, owners) backed up again and again with random
//! changes in between; every backup verifies and restores to exactly the tree it saw,
//! and a backup of an unchanged tree adds nothing.

use std::collections::BTreeMap;
use std::os::unix::fs::{MetadataExt, PermissionsExt, symlink};
use std::path::{Path, PathBuf};

use proptest::prelude::*;
use upkeep_core::backup::{self, BackupConfig, Request, RestoreSelection};
use upkeep_core::state::Ledger;
use upkeep_core::state::backups::{BackupFormat, BackupKind, BackupReason, BackupRoot, BackupRow};

/// What a tree looks like: path → (kind, mode, content or target, uid, gid, mtime), and
/// which paths share an inode.
type Snapshot = (
    BTreeMap<String, (char, u32, Vec<u8>, u32, u32, i64)>,
    Vec<Vec<String>>,
);

fn snapshot(root: &Path) -> Snapshot {
    let mut out = BTreeMap::new();
    let mut inodes: BTreeMap<u64, Vec<String>> = BTreeMap::new();
    let mut stack = vec![(root.to_path_buf(), String::from("."))];
    while let Some((path, rel)) = stack.pop() {
        let meta = fs_err::symlink_metadata(&path).unwrap();
        let mode = meta.permissions().mode() & 0o7777;
        let (kind, data) = if meta.file_type().is_symlink() {
            let target = fs_err::read_link(&path).unwrap();
            ('l', target.into_os_string().into_encoded_bytes())
        } else if meta.is_file() {
            inodes.entry(meta.ino()).or_default().push(rel.clone());
            ('f', fs_err::read(&path).unwrap())
        } else {
            for child in fs_err::read_dir(&path).unwrap() {
                let child = child.unwrap();
                let name = child.file_name().into_string().unwrap();
                stack.push((child.path(), format!("{rel}/{name}")));
            }
            // A directory's mtime changes as its entries do; the restore sets it from the
            // backup, but not after creating what is inside, so only files are compared.
            ('d', Vec::new())
        };
        let mode = if kind == 'l' { 0 } else { mode };
        let mtime = if kind == 'f' { meta.mtime() } else { 0 };
        out.insert(rel, (kind, mode, data, meta.uid(), meta.gid(), mtime));
    }
    let mut groups: Vec<Vec<String>> = inodes
        .into_values()
        .filter(|g| g.len() > 1)
        .map(|mut g| {
            g.sort();
            g
        })
        .collect();
    groups.sort();
    (out, groups)
}

/// One step that builds or changes a tree.
#[derive(Debug, Clone)]
enum Step {
    File {
        dir: usize,
        name: String,
        size: usize,
        mode: u32,
        seed: u8,
    },
    Dir {
        dir: usize,
        name: String,
    },
    Symlink {
        dir: usize,
        name: String,
        target: usize,
    },
    HardLink {
        dir: usize,
        name: String,
        target: usize,
    },
    Owner {
        target: usize,
        uid: u32,
    },
    Rewrite {
        target: usize,
        seed: u8,
    },
    Append {
        target: usize,
    },
    Remove {
        target: usize,
    },
}

fn name() -> impl Strategy<Value = String> {
    prop_oneof!["[a-z]{1,8}", "[éü日本 ]{1,6}", "[a-z]{101,130}",]
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        4 => (0..8usize, name(), prop_oneof![Just(0usize), 1..5000usize, 300_000..700_000usize],
              prop_oneof![Just(0o644u32), Just(0o755), Just(0o600)], any::<u8>())
            .prop_map(|(dir, name, size, mode, seed)| Step::File { dir, name, size, mode, seed }),
        2 => (0..8usize, name()).prop_map(|(dir, name)| Step::Dir { dir, name }),
        1 => (0..8usize, name(), 0..20usize)
            .prop_map(|(dir, name, target)| Step::Symlink { dir, name, target }),
        1 => (0..8usize, name(), 0..20usize)
            .prop_map(|(dir, name, target)| Step::HardLink { dir, name, target }),
        1 => (0..20usize, 1000..1003u32).prop_map(|(target, uid)| Step::Owner { target, uid }),
        2 => (0..20usize, any::<u8>()).prop_map(|(target, seed)| Step::Rewrite { target, seed }),
        1 => (0..20usize).prop_map(|target| Step::Append { target }),
        1 => (0..20usize).prop_map(|target| Step::Remove { target }),
    ]
}

fn content(size: usize, seed: u8) -> Vec<u8> {
    let mut x = u32::from(seed) | 1;
    (0..size)
        .map(|i| {
            // Runs of a pattern with some noise: compressible, and chunkable.
            x = x.wrapping_mul(1_103_515_245).wrapping_add(12_345);
            if i % 64 < 48 {
                b'a' + u8::try_from(i % 26).unwrap()
            } else {
                x.to_le_bytes()[2]
            }
        })
        .collect()
}

fn list(root: &Path, dirs: bool) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(path) = stack.pop() {
        for child in fs_err::read_dir(&path).unwrap() {
            let child = child.unwrap().path();
            let meta = fs_err::symlink_metadata(&child).unwrap();
            if meta.is_dir() {
                stack.push(child.clone());
            }
            if meta.is_dir() == dirs && !meta.file_type().is_symlink() {
                out.push(child);
            }
        }
    }
    out.sort();
    out
}

fn apply(root: &Path, step: &Step) {
    let mut dirs = list(root, true);
    dirs.insert(0, root.to_path_buf());
    let files = list(root, false);
    let pick = |i: usize| files.get(i % files.len().max(1)).cloned();
    let dir = |i: usize| dirs[i % dirs.len()].clone();
    let _ = match step {
        Step::File {
            dir: d,
            name,
            size,
            mode,
            seed,
        } => {
            let path = dir(*d).join(name);
            if fs_err::symlink_metadata(&path).is_err() {
                fs_err::write(&path, content(*size, *seed)).unwrap();
                fs_err::set_permissions(&path, std::fs::Permissions::from_mode(*mode)).unwrap();
            }
            Some(())
        }
        Step::Dir { dir: d, name } => fs_err::create_dir(dir(*d).join(name)).ok(),
        Step::Symlink {
            dir: d,
            name,
            target,
        } => {
            let target = pick(*target).map_or("dangling".into(), |t| {
                t.file_name().unwrap().to_string_lossy().into_owned()
            });
            symlink(target, dir(*d).join(name)).ok()
        }
        Step::HardLink {
            dir: d,
            name,
            target,
        } => pick(*target).and_then(|t| fs_err::hard_link(t, dir(*d).join(name)).ok()),
        Step::Owner { target, uid } => pick(*target).and_then(|t| {
            nix::unistd::geteuid().is_root().then(|| {
                std::os::unix::fs::lchown(t, Some(*uid), Some(*uid)).unwrap();
            })
        }),
        Step::Rewrite { target, seed } => pick(*target).map(|t| {
            let len = fs_err::metadata(&t).unwrap().len();
            fs_err::write(&t, content(usize::try_from(len).unwrap() + 7, *seed)).unwrap();
        }),
        Step::Append { target } => pick(*target).map(|t| {
            use std::io::Write;
            let mut f = fs_err::OpenOptions::new().append(true).open(&t).unwrap();
            f.write_all(b"appended").unwrap();
        }),
        Step::Remove { target } => pick(*target).and_then(|t| fs_err::remove_file(t).ok()),
    };
}

fn roots(tree: &Path) -> Vec<BackupRoot> {
    vec![BackupRoot {
        label: "m.data.0".into(),
        module: "m".into(),
        category: "data".into(),
        path: tree.to_string_lossy().into_owned(),
        missing: false,
    }]
}

fn request() -> Request {
    Request {
        kind: BackupKind::Module,
        modules: vec!["m".into()],
        name: None,
        description: None,
        include_logs: false,
        reason: BackupReason::Manual,
        run_id: None,
        module_version: None,
    }
}

fn config() -> BackupConfig {
    BackupConfig {
        min_free_bytes: 0,
        ..BackupConfig::default()
    }
}

fn take(ledger: &mut Ledger, state: &Path, tree: &Path) -> BackupRow {
    let row = backup::create(ledger, state, &request(), &roots(tree), &config()).unwrap();
    assert_eq!(row.format, BackupFormat::Store);
    row
}

fn restore(ledger: &mut Ledger, state: &Path, row: &BackupRow) {
    backup::restore(ledger, state, row, &RestoreSelection::default(), None).unwrap();
}

fn successive(steps: &[Vec<Step>]) {
    let tmp = tempfile::tempdir().unwrap();
    let (state, tree) = (tmp.path().join("state"), tmp.path().join("tree"));
    fs_err::create_dir_all(&tree).unwrap();
    let mut ledger = Ledger::open(&state).unwrap();
    let mut taken = Vec::new();
    for round in steps {
        for step in round {
            apply(&tree, step);
        }
        let row = take(&mut ledger, &state, &tree);
        taken.push((row, snapshot(&tree)));
    }
    // Nothing changed: nothing is added.
    let again = take(&mut ledger, &state, &tree);
    assert_eq!(again.bytes_out, 0);
    assert_eq!(again.sha256, taken.last().unwrap().0.sha256);
    for (row, seen) in taken.iter().rev() {
        backup::verify(&mut ledger, &state, row).unwrap();
        backup::verify_deep(&mut ledger, &state, row).unwrap();
        restore(&mut ledger, &state, row);
        assert_eq!(
            &snapshot(&tree),
            seen,
            "backup {} restores what it saw",
            row.id
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, ..ProptestConfig::default() })]

    #[test]
    fn successive_backups_round_trip(
        steps in proptest::collection::vec(proptest::collection::vec(step(), 1..16), 1..4),
    ) {
        successive(&steps);
    }
}

#[test]
fn a_missing_root_is_restored_as_missing() {
    let tmp = tempfile::tempdir().unwrap();
    let (state, tree) = (tmp.path().join("state"), tmp.path().join("tree"));
    let mut ledger = Ledger::open(&state).unwrap();
    let row = take(&mut ledger, &state, &tree);
    fs_err::create_dir_all(tree.join("new")).unwrap();
    restore(&mut ledger, &state, &row);
    assert!(fs_err::symlink_metadata(&tree).is_err());
}
