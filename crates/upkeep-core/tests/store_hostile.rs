//! A hostile chunk store: a tampered chunk, a truncated chunk or pack, a missing chunk or
//! pack, an index entry forged to point at other bytes (a hash collision attempt) or at
//! another chunk of its frame or past it, and a
//! forged manifest whose tree points outside its root. Each restore is refused, the tree
//! it would have replaced (the sentinel) is unchanged, and nothing is left beside it.

use std::path::{Path, PathBuf};

use rusqlite::Connection;
use upkeep_core::backup::{self, BackupConfig, BackupError, Request, RestoreSelection};
use upkeep_core::state::Ledger;
use upkeep_core::state::backups::{BackupKind, BackupReason, BackupRoot, BackupRow, BackupStatus};

struct Setup {
    _tmp: tempfile::TempDir,
    state: PathBuf,
    tree: PathBuf,
    ledger: Ledger,
    row: BackupRow,
}

fn setup() -> Setup {
    let tmp = tempfile::tempdir().unwrap();
    let (state, tree) = (tmp.path().join("state"), tmp.path().join("tree"));
    fs_err::create_dir_all(tree.join("sub")).unwrap();
    fs_err::write(tree.join("small"), "small file").unwrap();
    // Small files are compressed together, several chunks to a frame.
    for i in 0..24 {
        fs_err::write(
            tree.join(format!("sub/note-{i}")),
            format!("note {i}\n").repeat(i + 1),
        )
        .unwrap();
    }
    let big: Vec<u8> = (0..3_000_000u32).map(|i| (i * 7 % 251) as u8).collect();
    fs_err::write(tree.join("sub/big"), big).unwrap();
    let mut ledger = Ledger::open(&state).unwrap();
    let roots = [BackupRoot {
        label: "m.data.0".into(),
        module: "m".into(),
        category: "data".into(),
        path: tree.to_string_lossy().into_owned(),
        missing: false,
    }];
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
    let config = BackupConfig {
        min_free_bytes: 0,
        ..BackupConfig::default()
    };
    let row = backup::create(&mut ledger, &state, &request, &roots, &config).unwrap();
    // The sentinel: what the tree holds when the hostile restore is tried.
    fs_err::write(tree.join("small"), "sentinel").unwrap();
    Setup {
        _tmp: tmp,
        state,
        tree,
        ledger,
        row,
    }
}

fn sql(setup: &Setup) -> Connection {
    Connection::open(setup.state.join("upkeep.db")).unwrap()
}

fn listing(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs_err::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// The restore is refused, the sentinel is unchanged and nothing is left beside the tree.
fn refused(mut setup: Setup) -> BackupError {
    let row = backup::find(&setup.ledger, &setup.row.id.to_string()).unwrap();
    let parent = setup.tree.parent().unwrap().to_path_buf();
    let before = listing(&parent);
    let err = backup::restore(
        &mut setup.ledger,
        &setup.state,
        &row,
        &RestoreSelection::default(),
        None,
    )
    .unwrap_err();
    assert_eq!(
        fs_err::read_to_string(setup.tree.join("small")).unwrap(),
        "sentinel"
    );
    assert_eq!(listing(&parent), before, "nothing left beside the tree");
    // Verification fails too, and marks the backup corrupt.
    assert!(backup::verify(&mut setup.ledger, &setup.state, &row).is_err());
    let row = backup::find(&setup.ledger, &row.id.to_string()).unwrap();
    assert_eq!(row.status, BackupStatus::Corrupt);
    err
}

/// The pack file and the chunk (offset, length, raw length) holding the most content.
fn biggest_chunk(setup: &Setup) -> (PathBuf, Vec<u8>, i64, i64, i64) {
    let (name, id, offset, length, raw): (String, Vec<u8>, i64, i64, i64) = sql(setup)
        .query_row(
            "SELECT p.name, c.id, c.offset, c.length, c.raw_length FROM store_chunks c
             JOIN store_packs p ON p.id = c.pack ORDER BY c.raw_length DESC LIMIT 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
        )
        .unwrap();
    let pack = setup.state.join("store/packs").join(name);
    (pack, id, offset, length, raw)
}

#[test]
fn a_tampered_chunk_is_refused() {
    let setup = setup();
    let (pack, _, offset, length, _) = biggest_chunk(&setup);
    let mut bytes = fs_err::read(&pack).unwrap();
    let at = usize::try_from(offset + length / 2).unwrap();
    bytes[at] ^= 0x55;
    fs_err::write(&pack, bytes).unwrap();
    refused(setup);
}

#[test]
fn a_truncated_pack_is_refused() {
    let setup = setup();
    let (pack, _, offset, _, _) = biggest_chunk(&setup);
    let file = fs_err::OpenOptions::new().write(true).open(&pack).unwrap();
    file.set_len(u64::try_from(offset).unwrap() + 10).unwrap();
    refused(setup);
}

#[test]
fn a_truncated_chunk_in_the_index_is_refused() {
    let setup = setup();
    let (_, id, ..) = biggest_chunk(&setup);
    sql(&setup)
        .execute(
            "UPDATE store_chunks SET length = length - 16 WHERE id = ?1",
            [&id],
        )
        .unwrap();
    refused(setup);
}

#[test]
fn a_missing_chunk_is_refused() {
    let setup = setup();
    let (_, id, ..) = biggest_chunk(&setup);
    sql(&setup)
        .execute("DELETE FROM store_chunks WHERE id = ?1", [&id])
        .unwrap();
    let err = refused(setup);
    assert!(err.to_string().contains("no such chunk"), "{err}");
}

#[test]
fn a_missing_pack_is_refused() {
    let setup = setup();
    let (pack, ..) = biggest_chunk(&setup);
    fs_err::remove_file(pack).unwrap();
    refused(setup);
}

#[test]
fn an_index_entry_forged_to_point_at_other_bytes_is_refused() {
    let setup = setup();
    let (_, big, ..) = biggest_chunk(&setup);
    // Point the big file's chunk at the smallest chunk's bytes (another valid frame).
    sql(&setup)
        .execute(
            "UPDATE store_chunks SET (pack, offset, length, raw_length) =
               (SELECT pack, offset, length, raw_length FROM store_chunks
                ORDER BY raw_length ASC LIMIT 1) WHERE id = ?1",
            [&big],
        )
        .unwrap();
    refused(setup);
}

/// Two chunks compressed in one frame.
fn frame_mates(setup: &Setup) -> (Vec<u8>, Vec<u8>) {
    sql(setup)
        .query_row(
            "SELECT a.id, b.id FROM store_chunks a JOIN store_chunks b
               ON a.pack = b.pack AND a.offset = b.offset AND a.id < b.id
             WHERE a.frame_raw IS NOT NULL LIMIT 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .expect("the setup compresses small files together")
}

#[test]
fn a_chunk_forged_to_point_at_its_frame_mate_is_refused() {
    let setup = setup();
    let (one, other) = frame_mates(&setup);
    sql(&setup)
        .execute(
            "UPDATE store_chunks SET (inner, raw_length) =
               (SELECT inner, raw_length FROM store_chunks WHERE id = ?2) WHERE id = ?1",
            [&one, &other],
        )
        .unwrap();
    refused(setup);
}

#[test]
fn a_frame_length_forged_in_the_index_is_refused() {
    let setup = setup();
    let (one, _) = frame_mates(&setup);
    sql(&setup)
        .execute(
            "UPDATE store_chunks SET frame_raw = frame_raw + 1
             WHERE (pack, offset) = (SELECT pack, offset FROM store_chunks WHERE id = ?1)",
            [&one],
        )
        .unwrap();
    refused(setup);
}

#[test]
fn a_chunk_forged_to_reach_past_its_frame_is_refused() {
    let setup = setup();
    let (one, _) = frame_mates(&setup);
    // One member claims the frame is longer and reaches into the claim; its mate, read
    // first or not, decompresses the frame to its true length.
    sql(&setup)
        .execute(
            "UPDATE store_chunks SET frame_raw = frame_raw + 64, inner = frame_raw WHERE id = ?1",
            [&one],
        )
        .unwrap();
    refused(setup);
}

/// Append `chunks` to a new pack and record them, as a forger with the ledger would.
fn forge(setup: &Setup, chunks: &[Vec<u8>]) -> Vec<String> {
    let mut pack = b"UPKPACK1".to_vec();
    let db = sql(setup);
    let n: i64 = db
        .query_row("SELECT count(*) FROM store_packs", [], |r| r.get(0))
        .unwrap();
    let name = format!("forged{n}.pack");
    db.execute(
        "INSERT INTO store_packs (name, bytes, sha256) VALUES (?1, 0, '')",
        [&name],
    )
    .unwrap();
    let pack_id = db.last_insert_rowid();
    let mut ids = Vec::new();
    for data in chunks {
        let frame = zstd::bulk::compress(data, 3).unwrap();
        let id = upkeep_core::digest::bytes(data);
        db.execute(
            "INSERT OR REPLACE INTO store_chunks (id, pack, offset, length, raw_length)
             VALUES (?1, ?2, ?3, ?4, ?5)",
            rusqlite::params![
                id.as_slice(),
                pack_id,
                i64::try_from(pack.len()).unwrap(),
                i64::try_from(frame.len()).unwrap(),
                i64::try_from(data.len()).unwrap()
            ],
        )
        .unwrap();
        pack.extend_from_slice(&frame);
        ids.push(upkeep_core::digest::to_hex(&id));
    }
    fs_err::write(setup.state.join("store/packs").join(name), pack).unwrap();
    ids
}

fn forged_manifest(setup: &Setup, items: &str) -> String {
    let item_id = forge(setup, &[items.as_bytes().to_vec()]).remove(0);
    let manifest = serde_json::json!({
        "format": "upkeep-store 1",
        "roots": [["m.data.0", true]],
        "items": [item_id],
        "entries": items.lines().count(),
        "bytes": 0,
    });
    forge(setup, &[manifest.to_string().into_bytes()]).remove(0)
}

const ESCAPING: &str = concat!(
    r#"{"path":"m.data.0","kind":"dir","mode":493,"mtime":0,"uid":0,"gid":0}"#,
    "\n",
    r#"{"path":"m.data.0/../../escape","kind":"dir","mode":493,"mtime":0,"uid":0,"gid":0}"#,
    "\n"
);

#[test]
fn a_forged_tree_is_refused_by_its_hash() {
    let setup = setup();
    // The forged manifest is in the store, but the ledger still names the real one:
    // replacing the real manifest's bytes in place fails its hash.
    let forged = forged_manifest(&setup, ESCAPING);
    let real = setup.row.sha256.clone();
    let db = sql(&setup);
    db.execute(
        "UPDATE store_chunks SET (pack, offset, length, raw_length) =
           (SELECT pack, offset, length, raw_length FROM store_chunks WHERE lower(hex(id)) = ?1)
         WHERE lower(hex(id)) = ?2",
        [&forged, &real],
    )
    .unwrap();
    let err = refused(setup);
    assert!(err.to_string().contains("SHA-256"), "{err}");
}

#[test]
fn a_forged_tree_pointing_outside_is_refused_by_the_rules() {
    let setup = setup();
    // Even a forger who rewrites the ledger row meets the archive rules.
    let forged = forged_manifest(&setup, ESCAPING);
    sql(&setup)
        .execute(
            "UPDATE backups SET sha256 = ?1 WHERE id = ?2",
            rusqlite::params![forged, setup.row.id],
        )
        .unwrap();
    let escape = setup
        .tree
        .parent()
        .unwrap()
        .parent()
        .unwrap()
        .join("escape");
    let err = refused(setup);
    assert!(err.to_string().contains("traversal"), "{err}");
    assert!(!escape.exists());
}
