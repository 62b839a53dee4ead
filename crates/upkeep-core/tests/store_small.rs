//! What keeps a small store backup cheap does not change what it records. Its parent
//! (whose chunks an unchanged file reuses) is found by one indexed lookup per root: the
//! same backup and labels as a scan of every backup newest first, whatever the mix of
//! formats, statuses, labels and host paths in the ledger. The chunk index it dedups
//! against is read once per connection: always the recorded one, also after a prune on
//! this connection or on another.

use std::collections::BTreeSet;
use std::path::Path;

use proptest::prelude::*;
use upkeep_core::backup::{self, BackupConfig, Request};
use upkeep_core::state::Ledger;
use upkeep_core::state::backups::{
    BackupFormat, BackupKind, BackupReason, BackupRoot, BackupRow, BackupStatus, NewBackup,
};

/// The roots a backup may hold: two labels, each at two host paths.
const POOL: [(&str, &str); 4] = [
    ("a.data.0", "/srv/a"),
    ("a.data.0", "/srv/a-moved"),
    ("b.config.0", "/etc/b"),
    ("b.config.0", "/etc/b-moved"),
];

/// One backup to record: its format, whether it verified, and which roots of [`POOL`].
type Taken = (bool, bool, BTreeSet<usize>);

fn new_backup(n: usize, store: bool, roots: &BTreeSet<usize>) -> NewBackup {
    // A label appears once per backup: the first pick of each label wins.
    let mut labels = BTreeSet::new();
    let roots = roots
        .iter()
        .map(|i| POOL[*i])
        .filter(|(label, _)| labels.insert(*label))
        .map(|(label, path)| BackupRoot {
            label: label.into(),
            module: label.split('.').next().unwrap().into(),
            category: "data".into(),
            path: path.into(),
            missing: false,
        })
        .collect();
    NewBackup {
        name: format!("b{n}"),
        kind: BackupKind::Module,
        reason: BackupReason::Manual,
        format: if store {
            BackupFormat::Store
        } else {
            BackupFormat::Archive
        },
        module: None,
        module_version: None,
        run_id: None,
        description: None,
        file: format!("file-{n}"),
        compression: "zstd".into(),
        sha256: format!("{n:064x}"),
        bytes_in: 0,
        bytes_out: 0,
        roots,
        entries: Vec::new(),
    }
}

/// What `stored::create` did before the indexed lookup: every backup newest first, the
/// first `ok` store backup holding any of the pairs, and the labels it holds of them.
fn by_scan(ledger: &Ledger, pairs: &[(String, String)]) -> Option<(i64, BTreeSet<String>)> {
    for row in ledger.backups().unwrap() {
        if row.format != BackupFormat::Store || row.status != BackupStatus::Ok {
            continue;
        }
        let same: BTreeSet<String> = ledger
            .backup_roots(row.id)
            .unwrap()
            .into_iter()
            .filter(|r| pairs.contains(&(r.label.clone(), r.path.clone())))
            .map(|r| r.label)
            .collect();
        if !same.is_empty() {
            return Some((row.id, same));
        }
    }
    None
}

fn same_parent(taken: &[Taken], queries: &[BTreeSet<usize>]) {
    let tmp = tempfile::tempdir().unwrap();
    let mut ledger = Ledger::open(tmp.path()).unwrap();
    for (n, (store, ok, roots)) in taken.iter().enumerate() {
        let id = ledger.insert_backup(&new_backup(n, *store, roots)).unwrap();
        if !ok {
            ledger.set_backup_status(id, BackupStatus::Corrupt).unwrap();
        }
    }
    for query in queries {
        let pairs: Vec<(String, String)> = query
            .iter()
            .map(|i| (POOL[*i].0.to_owned(), POOL[*i].1.to_owned()))
            .collect();
        let found = ledger
            .newest_holding(BackupFormat::Store, &pairs)
            .unwrap()
            .map(|(row, labels)| {
                assert_eq!(row.format, BackupFormat::Store);
                assert_eq!(row.sha256, format!("{:064x}", row.id - 1));
                (row.id, labels.into_iter().collect::<BTreeSet<_>>())
            });
        assert_eq!(found, by_scan(&ledger, &pairs), "parent of {pairs:?}");
    }
}

fn pick() -> impl Strategy<Value = BTreeSet<usize>> {
    proptest::collection::btree_set(0..POOL.len(), 0..=POOL.len())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn the_indexed_parent_is_the_scanned_one(
        taken in proptest::collection::vec((any::<bool>(), any::<bool>(), pick()), 0..12),
        queries in proptest::collection::vec(pick(), 1..6),
    ) {
        same_parent(&taken, &queries);
    }
}

#[test]
fn the_parent_is_the_newest_ok_store_backup_of_the_same_paths() {
    let both = BTreeSet::from([0, 2]);
    let a_only = BTreeSet::from([0]);
    let a_moved = BTreeSet::from([1]);
    // 1: store of both; 2: store of a only; 3: corrupt store of both; 4: archive of both;
    // 5: store of a at another path.
    let taken: Vec<Taken> = vec![
        (true, true, both.clone()),
        (true, true, a_only.clone()),
        (true, false, both.clone()),
        (false, true, both.clone()),
        (true, true, a_moved),
    ];
    same_parent(&taken, &[both.clone(), BTreeSet::from([2])]);
    let tmp = tempfile::tempdir().unwrap();
    let mut ledger = Ledger::open(tmp.path()).unwrap();
    for (n, (store, ok, roots)) in taken.iter().enumerate() {
        let id = ledger.insert_backup(&new_backup(n, *store, roots)).unwrap();
        if !ok {
            ledger.set_backup_status(id, BackupStatus::Corrupt).unwrap();
        }
    }
    let pairs = |set: &BTreeSet<usize>| -> Vec<(String, String)> {
        set.iter()
            .map(|i| (POOL[*i].0.to_owned(), POOL[*i].1.to_owned()))
            .collect()
    };
    // Both roots: backup 2 is the newest ok store backup holding one of them (a).
    let (row, labels) = ledger
        .newest_holding(BackupFormat::Store, &pairs(&both))
        .unwrap()
        .unwrap();
    assert_eq!((row.id, labels), (2, vec!["a.data.0".to_owned()]));
    // b alone: backup 1 (3 is corrupt, 4 an archive).
    let (row, labels) = ledger
        .newest_holding(BackupFormat::Store, &pairs(&BTreeSet::from([2])))
        .unwrap()
        .unwrap();
    assert_eq!((row.id, labels), (1, vec!["b.config.0".to_owned()]));
    // Nothing holds b at its moved path.
    assert!(
        ledger
            .newest_holding(BackupFormat::Store, &pairs(&BTreeSet::from([3])))
            .unwrap()
            .is_none()
    );
}

fn take(ledger: &mut Ledger, state: &Path, tree: &Path) -> BackupRow {
    let request = Request {
        kind: BackupKind::Module,
        modules: vec!["m".into()],
        name: None,
        description: None,
        include_logs: false,
        reason: BackupReason::Manual,
        run_id: None,
        module_version: None,
    };
    let roots = [BackupRoot {
        label: "m.data.0".into(),
        module: "m".into(),
        category: "data".into(),
        path: tree.to_string_lossy().into_owned(),
        missing: false,
    }];
    let config = BackupConfig {
        min_free_bytes: 0,
        ..BackupConfig::default()
    };
    let row = backup::create(ledger, state, &request, &roots, &config).unwrap();
    assert_eq!(row.format, BackupFormat::Store);
    row
}

/// The cached index says exactly what a fresh read of the ledger says.
fn assert_cache_is_recorded(ledger: &Ledger) {
    let cached = ledger.store_index_cached().unwrap();
    let read = ledger.store_index().unwrap();
    assert_eq!(cached.packs, read.packs);
    assert_eq!(cached.chunks, read.chunks);
}

fn tree_of(dir: &Path, files: &[(&str, &str)]) {
    fs_err::create_dir_all(dir).unwrap();
    for (name, content) in files {
        fs_err::write(dir.join(name), content).unwrap();
    }
}

#[test]
fn the_cached_index_follows_every_backup_of_its_connection() {
    let tmp = tempfile::tempdir().unwrap();
    let (state, tree) = (tmp.path().join("state"), tmp.path().join("tree"));
    tree_of(&tree, &[("a", "one"), ("b", "two")]);
    let mut ledger = Ledger::open(&state).unwrap();
    for round in 0..4 {
        fs_err::write(tree.join(format!("new-{round}")), format!("round {round}")).unwrap();
        let row = take(&mut ledger, &state, &tree);
        assert!(row.bytes_out > 0, "round {round} adds its new file");
        assert_cache_is_recorded(&ledger);
    }
    // A second connection records a backup: this one reads the index again.
    let mut other = Ledger::open(&state).unwrap();
    fs_err::write(tree.join("by-other"), "other").unwrap();
    take(&mut other, &state, &tree);
    assert_cache_is_recorded(&ledger);
}

#[test]
fn a_prune_on_another_connection_is_not_hidden_by_the_cached_index() {
    let tmp = tempfile::tempdir().unwrap();
    let (state, tree) = (tmp.path().join("state"), tmp.path().join("tree"));
    tree_of(&tree, &[("conf", "kept across the prune")]);
    let mut ledger = Ledger::open(&state).unwrap();
    let first = take(&mut ledger, &state, &tree);
    assert_cache_is_recorded(&ledger);
    // Another process deletes that backup and collects its chunks.
    let mut other = Ledger::open(&state).unwrap();
    backup::delete(&mut other, &state, &first).unwrap();
    let collected = backup::collect_garbage(&mut other, &state).unwrap();
    assert!(collected.chunks_removed > 0);
    drop(other);
    // The same tree again: its chunks are gone, so this backup writes them anew instead
    // of referencing what the cached index remembered.
    let again = take(&mut ledger, &state, &tree);
    assert!(again.bytes_out > 0);
    backup::verify(&mut ledger, &state, &again).unwrap();
    backup::verify_deep(&mut ledger, &state, &again).unwrap();
}

#[test]
fn a_prune_on_the_same_connection_drops_the_cached_index() {
    let tmp = tempfile::tempdir().unwrap();
    let (state, tree) = (tmp.path().join("state"), tmp.path().join("tree"));
    tree_of(&tree, &[("conf", "kept across the prune")]);
    let mut ledger = Ledger::open(&state).unwrap();
    let first = take(&mut ledger, &state, &tree);
    backup::delete(&mut ledger, &state, &first).unwrap();
    let collected = backup::collect_garbage(&mut ledger, &state).unwrap();
    assert!(collected.chunks_removed > 0);
    assert_cache_is_recorded(&ledger);
    let again = take(&mut ledger, &state, &tree);
    assert!(again.bytes_out > 0);
    backup::verify(&mut ledger, &state, &again).unwrap();
}

/// A backup of `roots` (label, module, host path) of `kind`.
fn take_of(
    ledger: &mut Ledger,
    state: &Path,
    kind: BackupKind,
    roots: &[(&str, &str, &Path)],
) -> BackupRow {
    let request = Request {
        kind,
        modules: if kind == BackupKind::Module {
            vec![roots[0].1.to_owned()]
        } else {
            Vec::new()
        },
        name: None,
        description: None,
        include_logs: false,
        reason: BackupReason::Manual,
        run_id: None,
        module_version: None,
    };
    let roots: Vec<BackupRoot> = roots
        .iter()
        .map(|(label, module, path)| BackupRoot {
            label: (*label).into(),
            module: (*module).into(),
            category: "data".into(),
            path: path.to_string_lossy().into_owned(),
            missing: false,
        })
        .collect();
    let config = BackupConfig {
        min_free_bytes: 0,
        ..BackupConfig::default()
    };
    backup::create(ledger, state, &request, &roots, &config).unwrap()
}

#[test]
fn module_backups_after_a_full_one_take_only_their_own_files_from_it() {
    let tmp = tempfile::tempdir().unwrap();
    let state = tmp.path().join("state");
    let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
    tree_of(&a, &[("conf", "a's"), ("same", "in both")]);
    tree_of(&b, &[("conf", "b's"), ("same", "in both")]);
    let mut ledger = Ledger::open(&state).unwrap();
    take_of(
        &mut ledger,
        &state,
        BackupKind::Full,
        &[("a.data.0", "a", &a), ("b.data.0", "b", &b)],
    );
    // Both take the full backup as their parent (read once, then shared).
    let of_a = take_of(
        &mut ledger,
        &state,
        BackupKind::Module,
        &[("a.data.0", "a", &a)],
    );
    fs_err::write(b.join("conf"), "b's, changed").unwrap();
    let of_b = take_of(
        &mut ledger,
        &state,
        BackupKind::Module,
        &[("b.data.0", "b", &b)],
    );
    for (row, dir, conf) in [(&of_a, &a, "a's"), (&of_b, &b, "b's, changed")] {
        backup::verify(&mut ledger, &state, row).unwrap();
        backup::verify_deep(&mut ledger, &state, row).unwrap();
        let opened = backup::Opened::new(&mut ledger, &state, row).unwrap();
        let paths: Vec<&str> = opened.entries.iter().map(|e| e.path.as_str()).collect();
        let label = if dir == &a { "a.data.0" } else { "b.data.0" };
        assert_eq!(
            paths,
            [
                label.to_owned(),
                format!("{label}/conf"),
                format!("{label}/same")
            ],
            "a module backup holds its own root only"
        );
        fs_err::write(dir.join("conf"), "overwritten").unwrap();
        backup::restore(
            &mut ledger,
            &state,
            row,
            &backup::RestoreSelection::default(),
            None,
        )
        .unwrap();
        assert_eq!(fs_err::read_to_string(dir.join("conf")).unwrap(), conf);
    }
}
