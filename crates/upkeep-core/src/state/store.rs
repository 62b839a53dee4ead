//! The chunk store's index (migration 12): pack files and where each chunk lies in one.
//! Rows only: what a chunk holds, when a pack is written and what prune keeps are decided
//! in `crate::store`, which hands finished rows in.

use std::collections::HashMap;

use rusqlite::params;

use super::backups::{NewBackup, insert_backup_in};
use super::{Ledger, StateError, sqlite};

/// A chunk id: the SHA-256 of its uncompressed bytes.
pub type ChunkId = [u8; 32];

/// A pack file as the index records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackRow {
    /// The pack's row id.
    pub id: i64,
    /// File name inside `<state>/store/packs/`.
    pub name: String,
    /// Its size.
    pub bytes: u64,
    /// Lowercase hex SHA-256 of the whole file.
    pub sha256: String,
}

/// A pack file about to be recorded (written, fsynced and read back already).
#[derive(Debug, Clone)]
pub struct NewPack {
    /// File name inside `<state>/store/packs/`.
    pub name: String,
    /// Its size.
    pub bytes: u64,
    /// Lowercase hex SHA-256 of the whole file.
    pub sha256: String,
    /// The chunks it holds.
    pub chunks: Vec<NewChunk>,
}

/// Where one chunk lies in its pack.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NewChunk {
    /// The SHA-256 of its uncompressed bytes.
    pub id: ChunkId,
    /// Byte offset of its compressed frame in the pack.
    pub offset: u64,
    /// Length of the compressed frame.
    pub length: u64,
    /// Length once decompressed.
    pub raw_length: u64,
    /// Its offset in the decompressed frame (0 for a frame of its own).
    pub inner: u64,
    /// The frame's decompressed length (`raw_length` for a frame of its own).
    pub frame_raw: u64,
}

/// Where a recorded chunk lies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChunkLoc {
    /// The pack's row id.
    pub pack: i64,
    /// Byte offset of its compressed frame.
    pub offset: u64,
    /// Length of the compressed frame.
    pub length: u64,
    /// Length once decompressed.
    pub raw_length: u64,
    /// Its offset in the decompressed frame (0 for a frame of its own).
    pub inner: u64,
    /// The frame's decompressed length (`raw_length` for a frame of its own).
    pub frame_raw: u64,
}

/// The whole index: every pack by id, every chunk by id.
#[derive(Debug, Clone, Default)]
pub struct StoreIndex {
    /// Packs by row id.
    pub packs: HashMap<i64, PackRow>,
    /// Chunks by id.
    pub chunks: HashMap<ChunkId, ChunkLoc>,
}

fn to_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

fn to_u64(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

fn insert_packs(tx: &rusqlite::Transaction<'_>, packs: &[NewPack]) -> rusqlite::Result<()> {
    let mut pack_stmt =
        tx.prepare("INSERT INTO store_packs (name, bytes, sha256) VALUES (?1, ?2, ?3)")?;
    let mut chunk_stmt = tx.prepare(
        "INSERT OR REPLACE INTO store_chunks (id, pack, offset, length, raw_length, inner, frame_raw)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?;
    for pack in packs {
        pack_stmt.execute(params![pack.name, to_i64(pack.bytes), pack.sha256])?;
        let pack_id = tx.last_insert_rowid();
        for c in &pack.chunks {
            chunk_stmt.execute(params![
                c.id.as_slice(),
                pack_id,
                to_i64(c.offset),
                to_i64(c.length),
                to_i64(c.raw_length),
                to_i64(c.inner),
                (c.frame_raw != c.raw_length).then(|| to_i64(c.frame_raw)),
            ])?;
        }
    }
    Ok(())
}

impl Ledger {
    /// The whole chunk index.
    ///
    /// # Errors
    /// [`StateError::Sqlite`] on a read failure.
    pub fn store_index(&self) -> Result<StoreIndex, StateError> {
        let err = || sqlite("read the chunk store index", self.path());
        let mut index = StoreIndex::default();
        let mut stmt = self
            .conn()
            .prepare("SELECT id, name, bytes, sha256 FROM store_packs")
            .map_err(err())?;
        let packs = stmt
            .query_map([], |row| {
                Ok(PackRow {
                    id: row.get(0)?,
                    name: row.get(1)?,
                    bytes: to_u64(row.get(2)?),
                    sha256: row.get(3)?,
                })
            })
            .map_err(err())?;
        for pack in packs {
            let pack = pack.map_err(err())?;
            index.packs.insert(pack.id, pack);
        }
        let mut stmt = self
            .conn()
            .prepare(
                "SELECT id, pack, offset, length, raw_length, inner, frame_raw FROM store_chunks",
            )
            .map_err(err())?;
        let chunks = stmt
            .query_map([], |row| {
                let id: Vec<u8> = row.get(0)?;
                let raw_length = to_u64(row.get(4)?);
                let frame_raw: Option<i64> = row.get(6)?;
                Ok((
                    id,
                    ChunkLoc {
                        pack: row.get(1)?,
                        offset: to_u64(row.get(2)?),
                        length: to_u64(row.get(3)?),
                        raw_length,
                        inner: to_u64(row.get(5)?),
                        frame_raw: frame_raw.map_or(raw_length, to_u64),
                    },
                ))
            })
            .map_err(err())?;
        for chunk in chunks {
            let (id, loc) = chunk.map_err(err())?;
            // An id of another length cannot be a SHA-256: such a row names no chunk.
            if let Ok(id) = ChunkId::try_from(id.as_slice()) {
                index.chunks.insert(id, loc);
            }
        }
        Ok(index)
    }

    /// Record new packs with their chunks and the backup whose manifest they complete, in
    /// one transaction: a backup is never recorded without the chunks it references.
    ///
    /// # Errors
    /// [`StateError::Sqlite`] when the write fails (nothing is recorded then).
    pub fn record_store_backup(
        &mut self,
        packs: &[NewPack],
        backup: &NewBackup,
    ) -> Result<i64, StateError> {
        let (conn, path) = self.conn_mut();
        let err = || sqlite("record a backup in the chunk store", path);
        let tx = conn.transaction().map_err(err())?;
        insert_packs(&tx, packs).map_err(err())?;
        let id = insert_backup_in(&tx, backup).map_err(err())?;
        tx.commit().map_err(err())?;
        Ok(id)
    }

    /// Replace packs by rewritten ones in one transaction: every chunk of the `old` packs
    /// and their rows go, and the `new` packs (holding the chunks still referenced) are
    /// recorded. Their files are the caller's to delete afterwards.
    ///
    /// # Errors
    /// [`StateError::Sqlite`] when the write fails (nothing changes then).
    pub fn repack_store(&mut self, old: &[i64], new: &[NewPack]) -> Result<(), StateError> {
        let (conn, path) = self.conn_mut();
        let err = || sqlite("repack the chunk store", path);
        let tx = conn.transaction().map_err(err())?;
        {
            let mut drop_chunks = tx
                .prepare("DELETE FROM store_chunks WHERE pack = ?1")
                .map_err(err())?;
            let mut drop_pack = tx
                .prepare("DELETE FROM store_packs WHERE id = ?1")
                .map_err(err())?;
            for pack in old {
                drop_chunks.execute([pack]).map_err(err())?;
                drop_pack.execute([pack]).map_err(err())?;
            }
        }
        insert_packs(&tx, new).map_err(err())?;
        tx.commit().map_err(err())?;
        Ok(())
    }
}
