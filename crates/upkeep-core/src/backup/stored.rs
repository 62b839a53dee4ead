//! Backups in the chunk store ([`crate::store`]): create (walk, chunk, packs sealed and read
//! back, then one ledger transaction), and [`Opened`], which hands restore, verify, the
//! trial restore and export one [`archive::Source`] and the entries to check it against,
//! whatever the backup's format.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use super::{BackupConfig, BackupError, Request, backups_dir, file_safe, rand_u32};
use crate::archive::{self, Entry, Expected, Root};
use crate::state::backups::{BackupFormat, BackupRoot, BackupRow, NewBackup};
use crate::state::store::StoreIndex;
use crate::state::writer::LedgerAccess;
use crate::store::{self, Loaded, Parent, TarStream};

/// Take a store backup of `roots` and record it: the packs are sealed and read back
/// before one transaction records them with the backup row.
pub(super) fn create(
    ledger: &mut impl LedgerAccess,
    state_dir: &Path,
    request: &Request,
    roots: &[BackupRoot],
    config: &BackupConfig,
    read_from: Option<&Path>,
) -> Result<BackupRow, BackupError> {
    let pairs: Vec<(String, String)> = roots
        .iter()
        .map(|r| (r.label.clone(), r.path.clone()))
        .collect();
    // The parent is the newest `ok` store backup holding any of the same roots (label and
    // host path): one indexed lookup per root, not a scan of every backup's roots.
    let (index, parent) = ledger.with(move |ledger| {
        // Read from the ledger once per run, not once per backup (see `IndexCache`).
        let index = ledger.store_index_cached()?;
        let parent = ledger
            .newest_holding(BackupFormat::Store, &pairs)?
            .map(|(row, labels)| (row.sha256, labels.into_iter().collect::<HashSet<_>>()));
        Ok((index, parent))
    })?;
    // A parent that does not read back is no reason to refuse a backup: it only costs
    // reading every file again.
    let parent = parent
        .and_then(|(id, labels)| parent_of(state_dir, &index, &id, &labels))
        .unwrap_or_default();
    let archive_roots: Vec<Root> = roots
        .iter()
        .map(|r| Root {
            label: r.label.clone(),
            path: read_from.map_or_else(|| PathBuf::from(&r.path), |dir| dir.join(&r.label)),
        })
        .collect();
    let created = store::create(state_dir, &index, &archive_roots, &parent, config.into())?;
    crate::failpoint::crash_point!("backup::store-written");
    let new = record_of(request, roots, &created);
    let packs = created.packs.clone();
    let inserted = ledger.with(move |ledger| {
        let id = ledger.record_store_backup(&packs, &new)?;
        let not_kept = ledger.not_kept(id)?;
        Ok(ledger
            .backup_by_id(id)
            .map(|row| row.map(|row| BackupRow { not_kept, ..row })))
    });
    match inserted {
        Ok(read) => Ok(read?.expect("a backup just recorded is found")),
        Err(err) => {
            created.discard(state_dir);
            Err(err.into())
        }
    }
}

/// The last parent read that holds other roots than the backup taking it: a full backup,
/// which every module backup after it takes as its parent. Keyed by state directory and
/// manifest id; a manifest id names its content, so the items read and hash-checked once
/// hold for every backup after (whether a chunk is still stored is checked against the
/// index each time, as for any parent). Without it, each of a run's module backups after
/// a full backup would read and parse the full backup's every item.
static SHARED_PARENT: Mutex<Option<(PathBuf, String, Arc<Loaded>)>> = Mutex::new(None);

/// The parent whose manifest is `id`, restricted to `labels`; `None` when it does not read
/// back.
fn parent_of(
    state_dir: &Path,
    index: &StoreIndex,
    id: &str,
    labels: &HashSet<String>,
) -> Option<Parent> {
    let cached = match &*SHARED_PARENT.lock().unwrap_or_else(PoisonError::into_inner) {
        Some((dir, cached, loaded)) if dir == state_dir && cached == id => Some(Arc::clone(loaded)),
        _ => None,
    };
    let loaded = if let Some(loaded) = cached {
        loaded
    } else {
        let loaded = store::load(state_dir, index, id).ok()?;
        // A backup of the same roots only (a module's own last one) is nobody else's parent.
        if loaded
            .manifest
            .roots
            .iter()
            .all(|(label, _)| labels.contains(label))
        {
            return Some(Parent::new(loaded, labels));
        }
        let loaded = Arc::new(loaded);
        *SHARED_PARENT.lock().unwrap_or_else(PoisonError::into_inner) =
            Some((state_dir.to_path_buf(), id.to_owned(), Arc::clone(&loaded)));
        loaded
    };
    // Only the nodes under `labels` (all `Parent` keeps), without copying the others.
    let nodes = loaded
        .nodes
        .iter()
        .filter(|n| labels.contains(n.path.split('/').next().unwrap_or_default()))
        .cloned()
        .collect();
    let mine = Loaded {
        manifest: loaded.manifest.clone(),
        nodes,
    };
    Some(Parent::new(mine, labels))
}

fn record_of(request: &Request, roots: &[BackupRoot], created: &store::Created) -> NewBackup {
    let written = &created.written;
    let stamp = jiff::Timestamp::now().strftime("%Y%m%d_%H%M%S").to_string();
    let name = request
        .name
        .clone()
        .unwrap_or_else(|| format!("backup_{stamp}"));
    NewBackup {
        file: format!("store-{stamp}-{}-{:08x}", file_safe(&name), rand_u32()),
        name,
        kind: request.kind,
        reason: request.reason,
        format: BackupFormat::Store,
        module: (request.kind == super::BackupKind::Module && request.modules.len() == 1)
            .then(|| request.modules[0].clone()),
        module_version: request.module_version.clone(),
        run_id: request.run_id,
        description: request.description.clone(),
        compression: "zstd".to_owned(),
        sha256: created.manifest_id.clone(),
        bytes_in: written.bytes_in,
        bytes_out: created.bytes_added,
        roots: roots
            .iter()
            .map(|r| BackupRoot {
                missing: written.missing.contains(&r.label),
                ..r.clone()
            })
            .collect(),
        entries: written.entries.clone(),
    }
}

/// A backup opened for reading: its recorded entries and, for a store backup, its index
/// and hash-checked items.
#[derive(Debug)]
pub struct Opened {
    /// The entries the stream must match.
    pub entries: Vec<Entry>,
    store: Option<(Arc<StoreIndex>, Arc<Loaded>)>,
    archive: PathBuf,
    state_dir: PathBuf,
}

impl Opened {
    /// Read what a backup's reading needs from the ledger (and, for a store backup, its
    /// manifest and items, each chunk hash-checked).
    ///
    /// # Errors
    /// A ledger error, or a store backup whose manifest does not read back.
    pub fn new(
        ledger: &mut impl LedgerAccess,
        state_dir: &Path,
        row: &BackupRow,
    ) -> Result<Self, BackupError> {
        let id = row.id;
        let (entries, index) = match row.format {
            BackupFormat::Store => {
                let index = ledger.with(|ledger| ledger.store_index_cached())?;
                (Vec::new(), Some(index))
            }
            _ => (ledger.with(move |ledger| ledger.backup_entries(id))?, None),
        };
        let mut opened = Self {
            entries,
            store: None,
            archive: backups_dir(state_dir).join(&row.file),
            state_dir: state_dir.to_path_buf(),
        };
        if let Some(index) = index {
            let loaded = store::load(state_dir, &index, &row.sha256)?;
            opened.entries = loaded.entries();
            opened.store = Some((index, Arc::new(loaded)));
        }
        Ok(opened)
    }

    /// Run `f` with the backup's source and what the ledger says it must be. `check`
    /// compares every chunk with its id as it is read (verification).
    pub fn with_source<R>(
        &self,
        row: &BackupRow,
        check: bool,
        f: impl FnOnce(archive::Source<'_>, &Expected<'_>) -> R,
    ) -> R {
        let expected = Expected {
            sha256: &row.sha256,
            entries: Some(&self.entries),
            max_bytes: row.bytes_in,
        };
        match &self.store {
            None => f(archive::Source::File(&self.archive), &expected),
            Some((index, loaded)) => {
                let open = |data: bool| -> std::io::Result<Box<dyn std::io::Read + '_>> {
                    Ok(Box::new(TarStream::new(
                        &self.state_dir,
                        index,
                        Arc::clone(loaded),
                        data,
                        check,
                    )))
                };
                f(archive::Source::Stream(&open), &expected)
            }
        }
    }
}
