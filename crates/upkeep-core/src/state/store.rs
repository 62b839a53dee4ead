//! The chunk store's index (migration 12): pack files and where each chunk lies in one.
//! Rows only: what a chunk holds, when a pack is written and what prune keeps are decided
//! in `crate::store`, which hands finished rows in.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

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

/// The chunk index as last read on one connection, with the `PRAGMA data_version` it was
/// read at: that number changes when another connection commits, and this connection's
/// own writes to the index go through [`Ledger::record_store_backup`] (which updates the
/// cached index as it commits) and [`Ledger::repack_store`] (which drops it). So the
/// cached index is always the recorded one, and a run of many small backups reads the
/// whole index once instead of once per backup.
#[derive(Debug, Default)]
pub(crate) struct IndexCache(Mutex<Option<(i64, Arc<StoreIndex>)>>);

impl IndexCache {
    fn take(&self) -> Option<(i64, Arc<StoreIndex>)> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).take()
    }

    fn put(&self, cached: Option<(i64, Arc<StoreIndex>)>) {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner) = cached;
    }
}

fn to_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

fn to_u64(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

/// Insert `packs` and their chunks; returns each pack's row id, in order.
fn insert_packs(tx: &rusqlite::Transaction<'_>, packs: &[NewPack]) -> rusqlite::Result<Vec<i64>> {
    let mut pack_stmt =
        tx.prepare("INSERT INTO store_packs (name, bytes, sha256) VALUES (?1, ?2, ?3)")?;
    let mut chunk_stmt = tx.prepare(
        "INSERT OR REPLACE INTO store_chunks (id, pack, offset, length, raw_length, inner, frame_raw)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?;
    let mut ids = Vec::with_capacity(packs.len());
    for pack in packs {
        pack_stmt.execute(params![pack.name, to_i64(pack.bytes), pack.sha256])?;
        let pack_id = tx.last_insert_rowid();
        ids.push(pack_id);
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
    Ok(ids)
}

/// Add recorded packs to an index as [`insert_packs`] added them to the ledger (a chunk
/// recorded again points at its new pack, as `INSERT OR REPLACE` makes it).
fn add_packs(index: &mut StoreIndex, packs: &[NewPack], ids: &[i64]) {
    for (pack, id) in packs.iter().zip(ids) {
        index.packs.insert(
            *id,
            PackRow {
                id: *id,
                name: pack.name.clone(),
                bytes: pack.bytes,
                sha256: pack.sha256.clone(),
            },
        );
        for c in &pack.chunks {
            let loc = ChunkLoc {
                pack: *id,
                offset: c.offset,
                length: c.length,
                raw_length: c.raw_length,
                inner: c.inner,
                frame_raw: c.frame_raw,
            };
            index.chunks.insert(c.id, loc);
        }
    }
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

    /// The whole chunk index, as [`Ledger::store_index`] reads it, but read from the
    /// ledger only when another connection changed it since this one last did (see
    /// [`IndexCache`]): a run's backups share one read.
    ///
    /// # Errors
    /// [`StateError::Sqlite`] on a read failure.
    pub fn store_index_cached(&self) -> Result<Arc<StoreIndex>, StateError> {
        let version: i64 = self
            .conn()
            .query_row("PRAGMA data_version", [], |row| row.get(0))
            .map_err(sqlite("read the chunk store index", self.path()))?;
        let mut cache = self
            .store_cache
            .0
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some((at, index)) = &*cache
            && *at == version
        {
            return Ok(Arc::clone(index));
        }
        // The version is read before the index: a commit in between makes the cached
        // index newer than its version says, which only costs one more read.
        let index = Arc::new(self.store_index()?);
        *cache = Some((version, Arc::clone(&index)));
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
        // Until the commit is known, nothing is cached: a failed one leaves no index that
        // says more than the ledger.
        let cached = self.store_cache.take();
        let (conn, path) = self.conn_mut();
        let err = || sqlite("record a backup in the chunk store", path);
        let tx = conn.transaction().map_err(err())?;
        let ids = insert_packs(&tx, packs).map_err(err())?;
        let id = insert_backup_in(&tx, backup).map_err(err())?;
        tx.commit().map_err(err())?;
        if let Some((at, mut index)) = cached {
            add_packs(Arc::make_mut(&mut index), packs, &ids);
            self.store_cache.put(Some((at, index)));
        }
        Ok(id)
    }

    /// Replace packs by rewritten ones in one transaction: every chunk of the `old` packs
    /// and their rows go, and the `new` packs (holding the chunks still referenced) are
    /// recorded. Their files are the caller's to delete afterwards.
    ///
    /// # Errors
    /// [`StateError::Sqlite`] when the write fails (nothing changes then).
    pub fn repack_store(&mut self, old: &[i64], new: &[NewPack]) -> Result<(), StateError> {
        // Chunks go: the next reader reads the index again.
        self.store_cache.put(None);
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
