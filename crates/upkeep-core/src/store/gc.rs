//! Prune's second half: remove the chunks no recorded backup references, and the pack
//! files no ledger row names (a crash left them).
//!
//! Crash safety: packs holding only dead chunks are forgotten in one transaction, then
//! deleted; packs holding some are rewritten (live chunks copied into new packs, each
//! checked on the way, sealed and read back), then one transaction forgets the old packs
//! and records the new ones, then the old files go. A kill at any point leaves either the
//! old index (and at most new, unrecorded packs) or the new one (and at most old,
//! unrecorded packs); unrecorded packs are swept by the next run. A recorded backup never
//! references a chunk that is not in a recorded pack.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;

use super::pack::{Member, Reader, Writer};
use super::{StoreError, load, packs_dir, referenced};
use crate::state::Ledger;
use crate::state::backups::BackupFormat;
use crate::state::store::{ChunkId, StoreIndex};

/// What [`collect_garbage`] removed.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Collected {
    /// Chunks no backup referenced any more.
    pub chunks_removed: u64,
    /// Packs deleted (their chunks were all dead, or they were rewritten).
    pub packs_removed: u64,
    /// Packs written to hold the live chunks of rewritten ones.
    pub packs_written: u64,
    /// Pack files no ledger row named, removed.
    pub unrecorded_packs: u64,
    /// Bytes freed on disk.
    pub bytes_freed: u64,
}

/// Remove every chunk no recorded backup references (see the module docs for the order).
/// Call with the lock held.
///
/// # Errors
/// A store backup whose manifest cannot be read (nothing is removed then: its chunks are
/// unknown), a chunk that fails its check while being copied, or a file or ledger error.
pub fn collect_garbage(ledger: &mut Ledger, state_dir: &Path) -> Result<Collected, StoreError> {
    let mut collected = Collected {
        unrecorded_packs: sweep(ledger, state_dir)?,
        ..Collected::default()
    };
    let index = ledger.store_index()?;
    if index.packs.is_empty() {
        return Ok(collected);
    }
    let mut live = HashSet::new();
    for row in ledger.backups()? {
        if row.format == BackupFormat::Store {
            let loaded = load(state_dir, &index, &row.sha256)?;
            referenced(&row.sha256, &loaded, &mut live);
        }
    }
    let mut by_pack: HashMap<i64, (Vec<ChunkId>, u64)> = HashMap::new();
    for (id, loc) in &index.chunks {
        let (ids, dead) = by_pack.entry(loc.pack).or_default();
        ids.push(*id);
        if !live.contains(id) {
            *dead += 1;
        }
    }
    let mut old: Vec<i64> = index
        .packs
        .keys()
        .filter(|p| by_pack.get(p).is_none_or(|(_, dead)| *dead > 0))
        .copied()
        .collect();
    if old.is_empty() {
        return Ok(collected);
    }
    old.sort_unstable();
    let keep: Vec<ChunkId> = old
        .iter()
        .filter_map(|p| by_pack.get(p))
        .flat_map(|(ids, _)| ids.iter().filter(|id| live.contains(*id)).copied())
        .collect();
    let new = rewrite(state_dir, &index, &keep)?;
    crate::failpoint::crash_point!("prune::repacked");
    ledger.repack_store(&old, &new)?;
    crate::failpoint::crash_point!("prune::repointed");
    let dir = packs_dir(state_dir);
    for pack in &old {
        let row = &index.packs[pack];
        fs_err::remove_file(dir.join(&row.name)).map_err(StoreError::io("remove", &dir))?;
        collected.bytes_freed += row.bytes;
    }
    crate::atomic::sync_dir(&dir).map_err(StoreError::io("sync", &dir))?;
    let written: u64 = new.iter().map(|p| p.bytes).sum();
    collected.bytes_freed = collected.bytes_freed.saturating_sub(written);
    collected.packs_removed = old.len() as u64;
    collected.packs_written = new.len() as u64;
    collected.chunks_removed = old
        .iter()
        .filter_map(|p| by_pack.get(p))
        .map(|(_, dead)| *dead)
        .sum();
    Ok(collected)
}

/// Copy the chunks `keep` into new packs, each checked on the way; sealed and read back.
/// A frame of several chunks is copied once, whole, with the rows of its members kept (the
/// bytes of members no backup references stay inside it until none is kept).
fn rewrite(
    state_dir: &Path,
    index: &StoreIndex,
    keep: &[ChunkId],
) -> Result<Vec<crate::state::store::NewPack>, StoreError> {
    if keep.is_empty() {
        return Ok(Vec::new());
    }
    let mut frames: BTreeMap<(i64, u64), Vec<Member>> = BTreeMap::new();
    for id in keep {
        let loc = index.chunks[id];
        frames
            .entry((loc.pack, loc.offset))
            .or_default()
            .push((*id, loc.inner, loc.raw_length));
    }
    let mut reader = Reader::new(state_dir, index);
    let mut writer = Writer::new(state_dir)?;
    for members in frames.values() {
        let copied = members
            .iter()
            .skip(1)
            .try_for_each(|(id, ..)| reader.chunk(id, true).map(drop))
            .and_then(|()| reader.frame(&members[0].0))
            .and_then(|(frame, raw)| writer.append_frame(&frame, raw, members));
        if let Err(err) = copied {
            writer.discard();
            return Err(err);
        }
    }
    writer.finish()
}

/// Remove pack files no ledger row names (a backup or a prune killed before recording).
/// Call with the lock held. Returns how many were removed.
///
/// # Errors
/// A file or ledger error.
pub fn sweep(ledger: &Ledger, state_dir: &Path) -> Result<u64, StoreError> {
    let dir = packs_dir(state_dir);
    let Ok(read) = fs_err::read_dir(&dir) else {
        return Ok(0);
    };
    let known: HashSet<String> = ledger
        .store_index()?
        .packs
        .into_values()
        .map(|p| p.name)
        .collect();
    let mut removed = 0;
    for entry in read {
        let entry = entry.map_err(StoreError::io("list", &dir))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let pack = Path::new(&name).extension().is_some_and(|e| e == "pack");
        if pack && !known.contains(&name) {
            fs_err::remove_file(entry.path()).map_err(StoreError::io("remove", &dir))?;
            removed += 1;
        }
    }
    if removed > 0 {
        crate::atomic::sync_dir(&dir).map_err(StoreError::io("sync", &dir))?;
    }
    Ok(removed)
}
