//! Backups of the paths modules own: create (verified before it is recorded), list,
//! verify, restore (hostile-input rules of [`crate::archive`], then an atomic swap per
//! path journaled in the ledger), delete and prune under a retention policy.
//!
//! Archives live in `<state>/backups/`. A backup's row is inserted only after its archive
//! was written, fsynced, re-read, verified and renamed into place, so every recorded backup
//! has a verified archive; a crash in between leaves at most an unrecorded file, which
//! [`orphans`] lists. Each owned path is stored under the label `<module>.<category>.<n>`.
//!
//! A module backup of one path that is the root of its own btrfs subvolume is a read-only
//! snapshot instead (`snapshot.rs`, [`method`]); verify, restore and delete look at the
//! row's `format` and do the same for it.

mod declared;
mod deep;
mod portable;
mod recovery;
mod retention;
mod roots;
mod snapshot;
mod space;
mod stored;

use std::path::{Path, PathBuf};

pub use declared::{AllowChanged, ChangedPath, check_declared};
pub use deep::verify_deep;
pub use portable::{export, import};
pub use recovery::{Recovered, recover};
pub use retention::{Decision, Retention, prune_plan};
pub use roots::{OwnedPaths, roots_for, roots_within};
pub use snapshot::{
    Method, SNAPSHOT_DIR, method, remove_unrecorded as remove_unrecorded_snapshots, snapshots_dir,
    sweep_stale as sweep_stale_snapshots, unrecorded as unrecorded_snapshots,
};
pub use stored::Opened;

use crate::archive::{self, Compression, CreateOptions, Root};
use crate::manifest::PathCategory;
use crate::placeholders::PlaceholderError;
use crate::state::backups::{
    BackupFormat, BackupReason, BackupRoot, BackupRow, BackupStatus, NewBackup,
};
use crate::state::writer::LedgerAccess;
use crate::state::{Ledger, StateError};

/// The directory holding archives.
pub fn backups_dir(state_dir: &Path) -> PathBuf {
    state_dir.join("backups")
}

pub use crate::state::backups::BackupKind;

/// Settings for taking backups.
#[derive(Debug, Clone)]
pub struct BackupConfig {
    /// Archive compression.
    pub compression: Compression,
    /// Compression level (zstd 1-19, gzip 1-9); default zstd 2.
    pub level: i32,
    /// Refuse to start a backup when less than this would be free afterwards.
    pub min_free_bytes: u64,
    /// Take a module's backup as a btrfs snapshot when its one path is the root of its own
    /// subvolume (`backup.snapshots`).
    pub snapshots: bool,
    /// How new backups are stored: the chunk store (the default) or one archive each.
    pub format: BackupFormat,
}

impl Default for BackupConfig {
    fn default() -> Self {
        Self {
            compression: Compression::Zstd,
            // zstd level 2, not the CLI's 3: it saves about as much CPU as hashing every
            // entry and the archive costs, for archives ~2 % larger (bench/backup.sh).
            level: 2,
            // The seed's `min_disk_space_mb` default.
            min_free_bytes: 1024 * 1024 * 1024,
            snapshots: true,
            format: BackupFormat::Store,
        }
    }
}

/// One backup to take.
#[derive(Debug, Clone)]
pub struct Request {
    /// What it holds.
    pub kind: BackupKind,
    /// Restrict to these modules (empty: every module with paths).
    pub modules: Vec<String>,
    /// Human name (default `backup_<UTC time>`).
    pub name: Option<String>,
    /// Free text.
    pub description: Option<String>,
    /// Also store `logs` paths.
    pub include_logs: bool,
    /// What takes it.
    pub reason: BackupReason,
    /// The run taking it.
    pub run_id: Option<i64>,
    /// The module's applied version, for module backups.
    pub module_version: Option<String>,
}

impl From<&BackupConfig> for crate::store::Limits {
    fn from(config: &BackupConfig) -> Self {
        Self {
            level: config.level,
            min_free: config.min_free_bytes,
        }
    }
}

/// Why a backup operation failed. Messages read after "failed to " (see the binary's
/// `error.rs` for the rule).
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    /// A path template did not expand.
    #[error("expand the paths to back up")]
    Placeholder(#[from] PlaceholderError),
    /// The selection holds nothing to back up or restore.
    #[error("{action}: {reason}")]
    Nothing {
        /// What was being done: `back up`, `restore`, ...
        action: &'static str,
        /// Why there is nothing, e.g. "no module in the selection declares `paths`".
        reason: String,
    },
    /// Not enough free space.
    #[error(
        "back up to {dir}: not enough free space, {available} available and {needed} needed ({estimate} to archive plus the {floor} floor)",
        available = human(*available), needed = human(*needed), estimate = human(*estimate), floor = human(*floor)
    )]
    LowSpace {
        /// The backups directory.
        dir: PathBuf,
        /// Bytes available.
        available: u64,
        /// Bytes needed.
        needed: u64,
        /// Bytes to archive (before compression).
        estimate: u64,
        /// The configured floor.
        floor: u64,
    },
    /// No backup has this id or name.
    #[error("find backup `{0}`: no backup has this id or name")]
    NotFound(String),
    /// A backup's recorded root is not among the paths its module declares now (the
    /// declaration changed, or the ledger row says something else): nothing is restored.
    #[error(
        "restore backup {backup_id} to {}: module `{module}` no longer declares that path (the backup recorded it; the module declares {} now)",
        path.display(),
        declared::declared_list(declared)
    )]
    Undeclared {
        /// The backup.
        backup_id: i64,
        /// The module the root belongs to.
        module: String,
        /// The recorded path.
        path: PathBuf,
        /// The paths the module declares now.
        declared: Vec<PathBuf>,
    },
    /// A module's `paths` take in what no module may own: upkeep's state directory (its
    /// ledger and backups), the updates directory, or the whole file system. A rollback
    /// of such a path would restore over the very records that vouch for it.
    #[error("let module `{module}` own {}: it contains {what}", path.display())]
    Forbidden {
        /// The module.
        module: String,
        /// Its expanded path.
        path: PathBuf,
        /// What the path takes in.
        what: &'static str,
    },
    /// Two modules own the same path, or one owns a path within the other's, and they have
    /// not both declared it `shared`: a rollback of one would restore over the other's
    /// update.
    #[error(
        "let module `{module}` own {}: module `{other}` owns {} too",
        path.display(),
        other_path.display()
    )]
    Overlap {
        /// The module.
        module: String,
        /// Its expanded path.
        path: PathBuf,
        /// The other module.
        other: String,
        /// The other module's path.
        other_path: PathBuf,
    },
    /// The archive failed.
    #[error(transparent)]
    Archive(#[from] archive::ArchiveError),
    /// The chunk store failed.
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    /// The ledger failed.
    #[error(transparent)]
    State(#[from] StateError),
    /// A file operation on the backups directory failed.
    #[error("{action} {path}")]
    Io {
        /// What was being done, e.g. "create the backups directory".
        action: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
}

/// Bytes as a person reads them.
pub fn human(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    #[expect(clippy::cast_precision_loss, reason = "display only")]
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// Take a backup of `roots`: check free space, write and verify the archive, record it.
///
/// # Errors
/// [`BackupError`]; nothing is recorded then and no archive is left behind.
pub fn create(
    ledger: &mut impl LedgerAccess,
    state_dir: &Path,
    request: &Request,
    roots: &[BackupRoot],
    config: &BackupConfig,
) -> Result<BackupRow, BackupError> {
    if roots.is_empty() {
        return Err(BackupError::Nothing {
            action: "back up",
            reason: "no module in the selection declares `paths`".into(),
        });
    }
    let now = jiff::Timestamp::now();
    let stamp = now.strftime("%Y%m%d_%H%M%S").to_string();
    let name = request
        .name
        .clone()
        .unwrap_or_else(|| format!("backup_{stamp}"));
    if request.kind == BackupKind::Module
        && let Method::Snapshot { .. } = method(roots, config)
    {
        return snapshot::create(ledger, request, &roots[0], name, &stamp);
    }
    let dir = backups_dir(state_dir);
    ensure_private_dir(&dir)?;
    let store = config.format == BackupFormat::Store;
    space::check_space(&dir, roots, config.min_free_bytes, store)?;
    if store {
        return stored::create(ledger, state_dir, request, roots, config, None)
            .map_err(|err| space::store_refusal(err, &dir, config.min_free_bytes));
    }
    let file = format!(
        "{stamp}-{}-{:08x}.{}",
        file_safe(&name),
        rand_u32(),
        config.compression.extension()
    );
    let archive_roots: Vec<Root> = roots
        .iter()
        .map(|r| Root {
            label: r.label.clone(),
            path: PathBuf::from(&r.path),
        })
        .collect();
    let options = CreateOptions {
        compression: config.compression,
        level: config.level,
        threads: 0,
    };
    let written = archive::create(&dir.join(&file), &archive_roots, &options)?;
    crate::failpoint::crash_point!("backup::archive-written");
    let new = record_of(request, roots, written, name, file.clone(), config);
    // The row is committed when this returns (inside a run, through its writer), so a
    // module starts only once its backup is durable.
    let inserted = ledger.with(move |ledger| {
        let id = ledger.insert_backup(&new)?;
        let not_kept = ledger.not_kept(id)?;
        Ok(ledger
            .backup(&id.to_string())
            .map(|row| row.map(|row| BackupRow { not_kept, ..row })))
    });
    match inserted {
        Ok(read) => Ok(read?.expect("a backup just recorded is found")),
        Err(err) => {
            let _ = fs_err::remove_file(dir.join(&file));
            Err(err.into())
        }
    }
}

fn record_of(
    request: &Request,
    roots: &[BackupRoot],
    written: archive::Written,
    name: String,
    file: String,
    config: &BackupConfig,
) -> NewBackup {
    let recorded_roots: Vec<BackupRoot> = roots
        .iter()
        .map(|r| BackupRoot {
            missing: written.missing.contains(&r.label),
            ..r.clone()
        })
        .collect();
    NewBackup {
        name,
        kind: request.kind,
        reason: request.reason,
        format: BackupFormat::Archive,
        module: (request.kind == BackupKind::Module && request.modules.len() == 1)
            .then(|| request.modules[0].clone()),
        module_version: request.module_version.clone(),
        run_id: request.run_id,
        description: request.description.clone(),
        file,
        compression: compression_name(config.compression).to_owned(),
        sha256: written.sha256,
        bytes_in: written.bytes_in,
        bytes_out: written.bytes_out,
        roots: recorded_roots,
        entries: written.entries,
    }
}

/// The name the ledger uses for a compression.
pub fn compression_name(compression: Compression) -> &'static str {
    match compression {
        Compression::Zstd => "zstd",
        Compression::Gzip => "gzip",
        Compression::None => "none",
    }
}

/// Find a backup by id or name.
///
/// # Errors
/// [`BackupError::NotFound`] or a ledger error.
pub fn find(ledger: &Ledger, id_or_name: &str) -> Result<BackupRow, BackupError> {
    ledger
        .backup(id_or_name)?
        .ok_or_else(|| BackupError::NotFound(id_or_name.to_owned()))
}

/// Re-read a backup's archive and check it against its record; records the result.
///
/// # Errors
/// The verification failure (the backup is then marked `corrupt`).
pub fn verify(ledger: &mut Ledger, state_dir: &Path, row: &BackupRow) -> Result<(), BackupError> {
    let checked = if row.format == BackupFormat::Snapshot {
        snapshot::verify(row)
    } else {
        Opened::new(ledger, state_dir, row).and_then(|opened| {
            opened
                .with_source(row, true, |source, expected| {
                    archive::verify_from(source, expected)
                })
                .map(drop)
                .map_err(BackupError::from)
        })
    };
    match checked {
        Ok(()) => {
            ledger.set_backup_status(row.id, BackupStatus::Ok)?;
            Ok(())
        }
        Err(BackupError::State(err)) => Err(err.into()),
        Err(err) => {
            ledger.set_backup_status(row.id, BackupStatus::Corrupt)?;
            Err(err)
        }
    }
}

/// What a restore did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Restored {
    /// The backup restored.
    pub backup_id: i64,
    /// The roots put back in place.
    pub roots: Vec<BackupRoot>,
    /// The backup taken of the paths just before, if one was.
    pub pre_restore_backup: Option<i64>,
    /// Roots restored where the backup recorded them although their module no longer
    /// declares them there (only with [`RestoreSelection::allow_changed_paths`]).
    pub changed_paths: Vec<ChangedPath>,
    /// The live Unix sockets in the restored paths, kept in place or (where the backup
    /// has no directory for them) dropped.
    pub sockets: archive::LiveSockets,
}

/// Which roots of a backup a restore covers.
#[derive(Debug, Clone, Default)]
pub struct RestoreSelection {
    /// Only these categories (empty: all).
    pub categories: Vec<PathCategory>,
    /// Only these modules (empty: all).
    pub modules: Vec<String>,
    /// Only these archive labels (empty: all).
    pub labels: Vec<String>,
    /// When given, the paths a restore may write: every selected root must be one of these
    /// or lie inside one of the same module, or nothing is restored. Callers pass the
    /// modules' currently declared paths, so a ledger row (or a changed declaration) never
    /// sends a restore elsewhere.
    pub within: Option<Vec<BackupRoot>>,
    /// Restore roots outside `within` anyway (the declaration changed since the backup),
    /// reporting each in [`Restored::changed_paths`].
    pub allow_changed_paths: Option<AllowChanged>,
}

/// The roots of a backup that a selection covers.
///
/// # Errors
/// A ledger error.
pub fn selected_roots(
    ledger: &Ledger,
    row: &BackupRow,
    selection: &RestoreSelection,
) -> Result<Vec<BackupRoot>, BackupError> {
    Ok(select(ledger.backup_roots(row.id)?, selection))
}

/// The `roots` of a backup that `selection` covers.
fn select(roots: Vec<BackupRoot>, selection: &RestoreSelection) -> Vec<BackupRoot> {
    roots
        .into_iter()
        .filter(|r| {
            let category = PathCategory::from_name(&r.category);
            (selection.categories.is_empty()
                || category.is_some_and(|c| selection.categories.contains(&c)))
                && (selection.modules.is_empty() || selection.modules.contains(&r.module))
                && (selection.labels.is_empty() || selection.labels.contains(&r.label))
        })
        .collect()
}

/// Restore a backup: verify it as hostile input, stage it beside each path, take a
/// pre-restore backup of the current content (unless `pre_backup` is `None`), then swap
/// each path into place, journaling every swap in the ledger before the old content goes.
///
/// # Errors
/// [`BackupError`]; when extraction or verification fails nothing on the host changed.
pub fn restore(
    ledger: &mut impl LedgerAccess,
    state_dir: &Path,
    row: &BackupRow,
    selection: &RestoreSelection,
    pre_backup: Option<(&Request, &BackupConfig)>,
) -> Result<Restored, BackupError> {
    let id = row.id;
    let roots = ledger.with(move |ledger| ledger.backup_roots(id))?;
    let roots = select(roots, selection);
    if roots.is_empty() {
        return Err(BackupError::Nothing {
            action: "restore",
            reason: format!("backup {} holds nothing in the selection", row.id),
        });
    }
    let changed_paths = declared::changed_paths(row.id, &roots, selection, state_dir)?;
    if row.format == BackupFormat::Snapshot {
        let swap = snapshot::Swap {
            state_dir,
            row,
            roots,
            pre_backup,
            changed_paths,
        };
        return snapshot::restore(ledger, swap);
    }
    let targets: Vec<Root> = roots
        .iter()
        .map(|r| Root {
            label: r.label.clone(),
            path: PathBuf::from(&r.path),
        })
        .collect();
    let labels: Vec<String> = roots.iter().map(|r| r.label.clone()).collect();
    let opened = Opened::new(ledger, state_dir, row)?;
    let mut staged = opened.with_source(row, false, |source, expected| {
        archive::extract_from(source, expected, &targets, Some(&labels))
    })?;
    drop(opened);
    crate::failpoint::crash_point!("restore::staged");
    let pre_restore_backup = match pre_backup {
        Some((request, config)) => {
            let current: Vec<BackupRoot> = roots
                .iter()
                .map(|r| BackupRoot {
                    missing: false,
                    ..r.clone()
                })
                .collect();
            Some(create(ledger, state_dir, request, &current, config)?.id)
        }
        None => None,
    };
    let sockets = swap_all(ledger, row.id, &mut staged, &labels)?;
    Ok(Restored {
        backup_id: row.id,
        roots,
        pre_restore_backup,
        changed_paths,
        sockets,
    })
}

/// Swap every staged label into place, journaling each swap before the old content goes.
/// Each journal write is committed before the next swap (inside a run, the writer answers
/// only after its commit).
fn swap_all(
    ledger: &mut impl LedgerAccess,
    backup_id: i64,
    staged: &mut archive::Staged,
    labels: &[String],
) -> Result<archive::LiveSockets, BackupError> {
    let all = labels.to_vec();
    let journal = ledger.with(move |ledger| ledger.begin_restore(backup_id, &all))?;
    let mut swapped = Vec::new();
    for label in labels {
        match staged.swap(label) {
            Ok(done) => {
                crate::failpoint::crash_point!("restore::swapped-unrecorded");
                let label = label.clone();
                ledger.with(move |ledger| ledger.restore_swapped(journal, &label))?;
                swapped.push(done);
            }
            Err(err) => {
                let result = format!("failed at {label}: {err}");
                ledger.with(move |ledger| ledger.finish_restore(journal, &result))?;
                return Err(err.into());
            }
        }
    }
    ledger.with(move |ledger| ledger.finish_restore(journal, "ok"))?;
    crate::failpoint::crash_point!("restore::recorded");
    let mut sockets = archive::LiveSockets::default();
    for done in swapped {
        sockets.kept.extend_from_slice(&done.sockets().kept);
        sockets.dropped.extend_from_slice(&done.sockets().dropped);
        done.discard()?;
    }
    Ok(sockets)
}

/// Remove archives a killed upkeep left half-written (`.NAME.upkeep-PID-N.tmp`). Only
/// call with the lock held and no backup in progress.
pub fn sweep_temporaries(state_dir: &Path) {
    deep::sweep_scratch(state_dir);
    let Ok(read) = fs_err::read_dir(backups_dir(state_dir)) else {
        return;
    };
    for entry in read.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let temporary = Path::new(&name).extension().is_some_and(|e| e == "tmp");
        if name.starts_with('.') && name.contains(".upkeep-") && temporary {
            let _ = fs_err::remove_file(entry.path());
        }
    }
}

/// Remove a backup's archive, then its record.
///
/// # Errors
/// A file or ledger error.
pub fn delete(ledger: &mut Ledger, state_dir: &Path, row: &BackupRow) -> Result<(), BackupError> {
    if row.format == BackupFormat::Snapshot {
        snapshot::delete(row)?;
        ledger.delete_backup(row.id)?;
        return Ok(());
    }
    if row.format == BackupFormat::Store {
        // Its chunks go with the next garbage collection ([`collect_garbage`]).
        ledger.delete_backup(row.id)?;
        return Ok(());
    }
    let path = backups_dir(state_dir).join(&row.file);
    match fs_err::remove_file(&path) {
        Ok(()) => {
            let dir = backups_dir(state_dir);
            crate::atomic::sync_dir(&dir).map_err(io("sync the backups directory", &dir))?;
        }
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
        Err(err) => return Err(io("remove the archive", &path)(err)),
    }
    ledger.delete_backup(row.id)?;
    Ok(())
}

/// Remove the chunks no recorded backup references and the pack files no row names
/// (after deletions, and to clean up after a crash). Call with the lock held.
///
/// # Errors
/// A store backup whose manifest does not read back, or a file or ledger error.
pub fn collect_garbage(
    ledger: &mut Ledger,
    state_dir: &Path,
) -> Result<crate::store::Collected, BackupError> {
    Ok(crate::store::collect_garbage(ledger, state_dir)?)
}

/// Archive files in the backups directory that no ledger row records (a crash between
/// writing an archive and recording it leaves one).
///
/// # Errors
/// A file or ledger error.
pub fn orphans(ledger: &Ledger, state_dir: &Path) -> Result<Vec<PathBuf>, BackupError> {
    let dir = backups_dir(state_dir);
    let known: std::collections::HashSet<String> =
        ledger.backups()?.into_iter().map(|b| b.file).collect();
    let mut out = Vec::new();
    let Ok(read) = fs_err::read_dir(&dir) else {
        return Ok(out);
    };
    for entry in read {
        let entry = entry.map_err(io("list the backups directory", &dir))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if !known.contains(&name) && Compression::from_path(Path::new(&name)).is_some() {
            out.push(entry.path());
        }
    }
    out.sort();
    Ok(out)
}

/// Decide what a prune removes, without removing anything.
///
/// # Errors
/// A ledger error.
pub fn plan_prune(
    ledger: &Ledger,
    retention: &Retention,
) -> Result<Vec<retention::Decision>, BackupError> {
    let mut protected: std::collections::HashMap<i64, String> = std::collections::HashMap::new();
    for (id, why) in ledger.protected_backups()? {
        protected.entry(id).or_insert(why);
    }
    let backups = ledger.backups()?;
    Ok(prune_plan(
        &backups,
        retention,
        &protected,
        crate::state::now_ms(),
    ))
}

/// Delete archives [`orphans`] found, then sync the backups directory.
///
/// # Errors
/// The first file that could not be removed.
pub fn remove_unrecorded(state_dir: &Path, orphans: &[PathBuf]) -> Result<(), BackupError> {
    for orphan in orphans {
        fs_err::remove_file(orphan).map_err(io("remove the unrecorded archive", orphan))?;
    }
    if !orphans.is_empty() {
        let dir = backups_dir(state_dir);
        crate::atomic::sync_dir(&dir).map_err(io("sync the backups directory", &dir))?;
    }
    Ok(())
}

/// Wrap an I/O error with what was being done on which path, for `map_err`.
fn io(action: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> BackupError {
    let path = path.to_path_buf();
    move |source| BackupError::Io {
        action,
        path,
        source,
    }
}

fn ensure_private_dir(dir: &Path) -> Result<(), BackupError> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(io("create the backups directory", dir))
}

fn file_safe(name: &str) -> String {
    let safe: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '_'
            }
        })
        .take(64)
        .collect();
    safe.trim_start_matches('.').to_owned()
}

fn rand_u32() -> u32 {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    #[expect(clippy::cast_possible_truncation, reason = "a short random suffix")]
    let n = hasher.finish() as u32;
    n
}
