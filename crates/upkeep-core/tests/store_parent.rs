//! A store backup's parent (whose chunks an unchanged file reuses) is found by one indexed
//! lookup per root: the same backup and labels as a scan of every backup newest first,
//! whatever the mix of formats, statuses, labels and host paths in the ledger.

use std::collections::BTreeSet;

use proptest::prelude::*;
use upkeep_core::state::Ledger;
use upkeep_core::state::backups::{
    BackupFormat, BackupKind, BackupReason, BackupRoot, BackupStatus, NewBackup,
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
