//! Backups as read-only btrfs snapshots, for a module whose one owned path is the root of
//! its own btrfs subvolume: taking one costs a metadata copy instead of reading every
//! file, and rolling back is a swap of subvolumes instead of an extraction.
//!
//! A snapshot lives in `.upkeep-snapshots/` beside the subvolume (in its parent
//! directory), so it is on the same filesystem (btrfs snapshots cannot leave it) and in the
//! same parent subvolume as the path, which the swap's rename needs. The ledger records
//! it like any backup, with `format = 'snapshot'`: `file` is the snapshot's absolute path,
//! `sha256` its btrfs UUID (what verification compares: the subvolume at that path must be
//! the very snapshot taken, and read-only), and its one root is the module's path.
//!
//! A restore makes a writable snapshot of the read-only one beside it, then exchanges it
//! with the path in one `renameat2(RENAME_EXCHANGE)`, journaled in the ledger's `restores`
//! table exactly as an archive's swap is; the old content, now at the staged name, is
//! deleted afterwards. Restoring again from the same backup gives the same content, so
//! recovery redoes a journaled restore that a crash cut short, and [`sweep_stale`] deletes
//! what a killed restore left staged.

use std::path::{Path, PathBuf};
use std::time::Duration;

use nix::fcntl::{AT_FDCWD, RenameFlags, renameat2};

use super::{BackupConfig, BackupError, ChangedPath, Request, Restored, io};
use crate::state::backups::{BackupFormat, BackupKind, BackupRoot, BackupRow, NewBackup};
use crate::state::writer::LedgerAccess;

/// The directory beside a subvolume that holds its snapshots.
pub const SNAPSHOT_DIR: &str = ".upkeep-snapshots";

/// The inode number of every btrfs subvolume's root directory.
const SUBVOLUME_ROOT_INODE: u64 = 256;

/// How long one `btrfs` command may take (a delete of a large subvolume returns once it
/// is unlinked; the cleaner frees its extents later).
const BTRFS_BOUND: Duration = Duration::from_secs(600);

/// How a module's pre-update backup is taken, as `plan` shows it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "method", rename_all = "kebab-case")]
pub enum Method {
    /// A tar archive in the state directory (`backup.format = "archive"`).
    Archive {
        /// Why not a snapshot, when a path is on btrfs (none otherwise).
        #[serde(skip_serializing_if = "Option::is_none")]
        why_not_snapshot: Option<String>,
    },
    /// A tree over the deduplicating chunk store (the default format).
    Store {
        /// Why not a snapshot, when a path is on btrfs (none otherwise).
        #[serde(skip_serializing_if = "Option::is_none")]
        why_not_snapshot: Option<String>,
    },
    /// A read-only btrfs snapshot of `subvolume`, kept in `snapshots`.
    Snapshot {
        /// The module's path, the root of its own subvolume.
        subvolume: PathBuf,
        /// Where the snapshots are kept.
        snapshots: PathBuf,
    },
}

impl Method {
    /// The choice in a few words.
    pub fn describe(&self) -> String {
        match self {
            Self::Archive {
                why_not_snapshot: None,
            } => "archive".to_owned(),
            Self::Archive {
                why_not_snapshot: Some(why),
            } => format!("archive ({why})"),
            Self::Store {
                why_not_snapshot: None,
            } => "store".to_owned(),
            Self::Store {
                why_not_snapshot: Some(why),
            } => format!("store ({why})"),
            Self::Snapshot {
                subvolume,
                snapshots,
            } => format!(
                "btrfs snapshot of {}, kept in {}",
                subvolume.display(),
                snapshots.display()
            ),
        }
    }
}

/// How a module backup of `roots` is taken under `config`.
pub fn method(roots: &[BackupRoot], config: &BackupConfig) -> Method {
    // Not a snapshot: the format new backups take.
    let archive = |why: Option<String>| match config.format {
        crate::state::backups::BackupFormat::Store => Method::Store {
            why_not_snapshot: why,
        },
        _ => Method::Archive {
            why_not_snapshot: why,
        },
    };
    if !roots.iter().any(|r| on_btrfs(Path::new(&r.path))) {
        return archive(None);
    }
    if !config.snapshots {
        return archive(Some("snapshots are off: `backup.snapshots`".to_owned()));
    }
    let [root] = roots else {
        return archive(Some(format!(
            "it owns {} paths; a snapshot takes a module whose one path is a subvolume",
            roots.len()
        )));
    };
    let path = Path::new(&root.path);
    if let Some(why) = unsuitable(path) {
        return archive(Some(why));
    }
    if program().is_none() {
        return archive(Some(
            "the `btrfs` command (btrfs-progs) is not installed".to_owned(),
        ));
    }
    Method::Snapshot {
        subvolume: path.to_path_buf(),
        snapshots: snapshots_dir(path),
    }
}

fn on_btrfs(path: &Path) -> bool {
    nix::sys::statfs::statfs(path)
        .is_ok_and(|s| s.filesystem_type() == nix::sys::statfs::BTRFS_SUPER_MAGIC)
}

/// Why `path` cannot be swapped as a subvolume, or `None` when it can.
fn unsuitable(path: &Path) -> Option<String> {
    use std::os::unix::fs::MetadataExt;
    let shown = path.display();
    let Ok(meta) = fs_err::symlink_metadata(path) else {
        return Some(format!("{shown} does not exist yet"));
    };
    if path.to_str().is_none() {
        return Some(format!("{shown} is not valid UTF-8"));
    }
    if !meta.is_dir() || meta.ino() != SUBVOLUME_ROOT_INODE || !on_btrfs(path) {
        return Some(format!(
            "{shown} is not the root of its own btrfs subvolume"
        ));
    }
    if mount_point(path) {
        return Some(format!(
            "{shown} is a mount point, which a rollback cannot swap"
        ));
    }
    None
}

/// Whether `path` is a mount point (`/proc/self/mountinfo`'s fifth field, with its octal
/// escapes).
fn mount_point(path: &Path) -> bool {
    let Ok(real) = fs_err::canonicalize(path) else {
        return false;
    };
    let Ok(table) = fs_err::read_to_string("/proc/self/mountinfo") else {
        return false;
    };
    table
        .lines()
        .filter_map(|line| line.split(' ').nth(4))
        .any(|field| Path::new(&unescape(field)) == real)
}

fn unescape(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let octal = bytes.get(i + 1..i + 4).and_then(|d| {
            std::str::from_utf8(d)
                .ok()
                .and_then(|d| u8::from_str_radix(d, 8).ok())
        });
        match (bytes[i], octal) {
            (b'\\', Some(byte)) => {
                out.push(byte);
                i += 4;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The directory holding the snapshots of the subvolume at `path`.
pub fn snapshots_dir(path: &Path) -> PathBuf {
    path.parent()
        .unwrap_or_else(|| Path::new("/"))
        .join(SNAPSHOT_DIR)
}

/// The `btrfs` program: found on `PATH`, or in the system directories a non-root `PATH`
/// often lacks.
fn program() -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/sbin", "/usr/bin", "/bin"].map(PathBuf::from))
        .map(|dir| dir.join("btrfs"))
        .find(|candidate| candidate.is_file())
}

/// Run `btrfs ARGS`; its standard output, or an error carrying its stderr.
fn btrfs(words: &[&str]) -> std::io::Result<String> {
    let found = program().ok_or_else(|| {
        std::io::Error::new(
            std::io::ErrorKind::NotFound,
            "the `btrfs` command (btrfs-progs) is not installed",
        )
    })?;
    let program = found.to_string_lossy().into_owned();
    let argv: Vec<&str> = std::iter::once(program.as_str())
        .chain(words.iter().copied())
        .collect();
    let out = crate::exec::capture(&argv, Path::new("/"), BTRFS_BOUND)?;
    if out.success() {
        Ok(out.stdout)
    } else {
        let status = out
            .code
            .map_or_else(|| "was killed".to_owned(), |c| format!("exited {c}"));
        Err(std::io::Error::other(format!(
            "`btrfs {}` {status}: {}",
            words.join(" "),
            out.stderr.trim()
        )))
    }
}

fn utf8(path: &Path) -> std::io::Result<&str> {
    path.to_str()
        .ok_or_else(|| std::io::Error::other("the path is not valid UTF-8"))
}

/// What `btrfs subvolume show` says of a subvolume.
#[derive(Debug)]
struct Shown {
    uuid: String,
    readonly: bool,
}

fn show(path: &Path) -> std::io::Result<Shown> {
    let out = btrfs(&["subvolume", "show", utf8(path)?])?;
    let field = |name: &str| {
        out.lines()
            .map(str::trim)
            .find_map(|l| l.strip_prefix(name))
            .map(|v| v.trim().to_owned())
    };
    let uuid = field("UUID:").ok_or_else(|| std::io::Error::other("no UUID in its answer"))?;
    let readonly = field("Flags:").is_some_and(|f| f.split(',').any(|f| f.trim() == "readonly"));
    Ok(Shown { uuid, readonly })
}

/// Take a read-only snapshot of `root` (the root of its own subvolume) and record it.
///
/// # Errors
/// [`BackupError`]; nothing is recorded then and no snapshot is left behind.
pub(super) fn create(
    ledger: &mut impl LedgerAccess,
    request: &Request,
    root: &BackupRoot,
    name: String,
    stamp: &str,
) -> Result<BackupRow, BackupError> {
    let source = Path::new(&root.path);
    let dir = snapshots_dir(source);
    super::ensure_private_dir(&dir)?;
    let snapshot = dir.join(format!(
        "{stamp}-{}-{:08x}",
        super::file_safe(&name),
        super::rand_u32()
    ));
    let take = || -> std::io::Result<Shown> {
        btrfs(&[
            "subvolume",
            "snapshot",
            "-r",
            utf8(source)?,
            utf8(&snapshot)?,
        ])?;
        crate::atomic::sync_dir(&dir)?;
        show(&snapshot)
    };
    let shown = take().map_err(io("snapshot the subvolume", source))?;
    crate::failpoint::crash_point!("backup::archive-written");
    let new = NewBackup {
        name,
        kind: request.kind,
        reason: request.reason,
        format: BackupFormat::Snapshot,
        module: (request.kind == BackupKind::Module && request.modules.len() == 1)
            .then(|| request.modules[0].clone()),
        module_version: request.module_version.clone(),
        run_id: request.run_id,
        description: request.description.clone(),
        file: snapshot.to_string_lossy().into_owned(),
        compression: "none".to_owned(),
        sha256: shown.uuid,
        bytes_in: 0,
        bytes_out: 0,
        roots: vec![BackupRoot {
            missing: false,
            ..root.clone()
        }],
        entries: Vec::new(),
    };
    let inserted = ledger.with(move |ledger| {
        let id = ledger.insert_backup(&new)?;
        Ok(ledger.backup(&id.to_string()))
    });
    match inserted {
        Ok(read) => Ok(read?.expect("a backup just recorded is found")),
        Err(err) => {
            let _ = remove(&snapshot);
            Err(err.into())
        }
    }
}

/// Check a snapshot backup: its path holds a read-only subvolume with the recorded UUID.
///
/// # Errors
/// [`BackupError::Io`] saying what differs.
pub(super) fn verify(row: &BackupRow) -> Result<(), BackupError> {
    let path = Path::new(&row.file);
    let shown = show(path).map_err(io("verify the snapshot", path))?;
    let differs = if shown.uuid != row.sha256 {
        Some(format!(
            "it is subvolume {}, the ledger recorded {}",
            shown.uuid, row.sha256
        ))
    } else if !shown.readonly {
        Some("it is not read-only".to_owned())
    } else {
        None
    };
    match differs {
        Some(why) => Err(io("verify the snapshot", path)(std::io::Error::other(why))),
        None => Ok(()),
    }
}

/// Delete the subvolume (or plain tree) at `path`, if anything is there.
fn remove(path: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::MetadataExt;
    match fs_err::symlink_metadata(path) {
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(err) => Err(err),
        Ok(meta) if meta.is_dir() && meta.ino() == SUBVOLUME_ROOT_INODE => {
            btrfs(&["subvolume", "delete", utf8(path)?]).map(drop)
        }
        Ok(meta) if meta.is_dir() => fs_err::remove_dir_all(path),
        Ok(_) => fs_err::remove_file(path),
    }
}

/// Delete a snapshot backup's subvolume (its record is the caller's).
///
/// # Errors
/// [`BackupError::Io`] when `btrfs subvolume delete` fails.
pub(super) fn delete(row: &BackupRow) -> Result<(), BackupError> {
    let path = Path::new(&row.file);
    remove(path).map_err(io("delete the snapshot", path))
}

/// What [`restore`] needs besides the ledger.
pub(super) struct Swap<'a> {
    pub(super) state_dir: &'a Path,
    pub(super) row: &'a BackupRow,
    pub(super) roots: Vec<BackupRoot>,
    pub(super) pre_backup: Option<(&'a Request, &'a BackupConfig)>,
    pub(super) changed_paths: Vec<ChangedPath>,
}

/// Put a snapshot back: verify it, stage a writable snapshot of it beside it, take the
/// pre-restore backup, then exchange the staged subvolume with the path (journaled), and
/// delete the old content.
///
/// # Errors
/// [`BackupError`]; when verification or staging fails, nothing on the host changed.
pub(super) fn restore(
    ledger: &mut impl LedgerAccess,
    swap: Swap<'_>,
) -> Result<Restored, BackupError> {
    let Swap {
        state_dir,
        row,
        roots,
        pre_backup,
        changed_paths,
    } = swap;
    let [root] = roots.as_slice() else {
        return Err(BackupError::Nothing {
            action: "restore",
            reason: format!(
                "snapshot backup {} holds one path, not {}",
                row.id,
                roots.len()
            ),
        });
    };
    verify(row)?;
    let target = Path::new(&root.path);
    let snapshot = Path::new(&row.file);
    let dir = snapshots_dir(target);
    if snapshot.parent() != Some(dir.as_path()) {
        let why = format!("the snapshot is not in {}", dir.display());
        return Err(io("restore the snapshot", snapshot)(std::io::Error::other(
            why,
        )));
    }
    let staged = stage_path(&dir, snapshot);
    let stage = || -> std::io::Result<()> {
        btrfs(&["subvolume", "snapshot", utf8(snapshot)?, utf8(&staged)?]).map(drop)
    };
    stage().map_err(io("stage the snapshot", snapshot))?;
    crate::failpoint::crash_point!("restore::staged");
    let pre_restore_backup = match pre_backup {
        Some((request, config)) => {
            let current = vec![BackupRoot {
                missing: false,
                ..root.clone()
            }];
            match super::create(ledger, state_dir, request, &current, config) {
                Ok(row) => Some(row.id),
                Err(err) => {
                    let _ = remove(&staged);
                    return Err(err);
                }
            }
        }
        None => None,
    };
    exchange_journaled(ledger, row.id, &root.label, &staged, target)?;
    Ok(Restored {
        backup_id: row.id,
        roots,
        pre_restore_backup,
        changed_paths,
        sockets: crate::archive::LiveSockets::default(),
    })
}

/// A staging name beside the snapshots, `.<snapshot>.upkeep-restore-<pid>-<n>`, which
/// [`sweep_stale`] recognises once its process is gone.
fn stage_path(dir: &Path, snapshot: &Path) -> PathBuf {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let name = snapshot.file_name().unwrap_or_default().to_string_lossy();
    dir.join(format!(
        ".{name}.upkeep-restore-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ))
}

/// Exchange `staged` with `target` (or move it there when nothing is), journaled, then
/// delete what `target` held.
fn exchange_journaled(
    ledger: &mut impl LedgerAccess,
    backup_id: i64,
    label: &str,
    staged: &Path,
    target: &Path,
) -> Result<(), BackupError> {
    let labels = vec![label.to_owned()];
    let journal = ledger.with(move |ledger| ledger.begin_restore(backup_id, &labels))?;
    if let Err(err) = exchange(staged, target) {
        let result = format!("failed at {label}: {err}");
        ledger.with(move |ledger| ledger.finish_restore(journal, &result))?;
        let _ = remove(staged);
        return Err(io("swap in the snapshot", target)(err));
    }
    crate::failpoint::crash_point!("restore::swapped-unrecorded");
    let label = label.to_owned();
    ledger.with(move |ledger| {
        ledger.restore_swapped(journal, &label)?;
        ledger.finish_restore(journal, "ok")
    })?;
    crate::failpoint::crash_point!("restore::recorded");
    // The restore is done and recorded; what is left is the old content's space. A delete
    // refused (an upkeep without the right to delete subvolumes) must not turn a finished
    // rollback into a failed one: the staged name is swept again once this process is gone.
    if let Err(err) = remove(staged) {
        tracing::warn!(path = %staged.display(), error = %err, "could not delete the content a restore swapped out");
    }
    Ok(())
}

fn exchange(staged: &Path, target: &Path) -> std::io::Result<()> {
    let present = match fs_err::symlink_metadata(target) {
        Ok(_) => true,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => false,
        Err(err) => return Err(err),
    };
    let flags = if present {
        RenameFlags::RENAME_EXCHANGE
    } else {
        RenameFlags::RENAME_NOREPLACE
    };
    renameat2(AT_FDCWD, staged, AT_FDCWD, target, flags)?;
    if let Some(parent) = target.parent() {
        crate::atomic::sync_dir(parent)?;
    }
    if let Some(parent) = staged.parent() {
        crate::atomic::sync_dir(parent)?;
    }
    Ok(())
}

/// Delete what restores killed before they finished left staged beside the snapshots of
/// `targets` (subvolumes named by a process no longer alive). Returns what was removed.
pub fn sweep_stale<'p>(targets: impl IntoIterator<Item = &'p Path>) -> Vec<PathBuf> {
    let mut removed = Vec::new();
    for target in targets {
        let dir = snapshots_dir(target);
        let Ok(read) = fs_err::read_dir(&dir) else {
            continue;
        };
        for entry in read.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let Some((_, tail)) = name.rsplit_once(".upkeep-restore-") else {
                continue;
            };
            let pid = tail.split('-').next().and_then(|p| p.parse::<u32>().ok());
            let gone = pid.is_some_and(|pid| !Path::new(&format!("/proc/{pid}")).exists());
            if name.starts_with('.') && gone && remove(&entry.path()).is_ok() {
                removed.push(entry.path());
            }
        }
    }
    removed
}

/// Snapshots that no backup of `recorded` records, in the snapshot directories beside
/// `targets` and those the recorded snapshots live in: a backup killed between taking its
/// snapshot and recording it leaves one. Staged restores (names starting with `.`) are
/// [`sweep_stale`]'s.
pub fn unrecorded<'p>(
    recorded: &[BackupRow],
    targets: impl IntoIterator<Item = &'p Path>,
) -> Vec<PathBuf> {
    use std::os::unix::fs::MetadataExt;
    let known: std::collections::HashSet<PathBuf> = recorded
        .iter()
        .filter(|b| b.format == BackupFormat::Snapshot)
        .map(|b| PathBuf::from(&b.file))
        .collect();
    let mut dirs: std::collections::BTreeSet<PathBuf> =
        targets.into_iter().map(snapshots_dir).collect();
    dirs.extend(
        known
            .iter()
            .filter_map(|f| f.parent().map(Path::to_path_buf)),
    );
    let mut out = Vec::new();
    for dir in dirs {
        let Ok(read) = fs_err::read_dir(&dir) else {
            continue;
        };
        for entry in read.flatten() {
            let path = entry.path();
            let ours = !entry.file_name().to_string_lossy().starts_with('.')
                && fs_err::symlink_metadata(&path)
                    .is_ok_and(|m| m.is_dir() && m.ino() == SUBVOLUME_ROOT_INODE);
            if ours && !known.contains(&path) {
                out.push(path);
            }
        }
    }
    out
}

/// Delete the snapshots [`unrecorded`] found.
///
/// # Errors
/// The first that could not be deleted.
pub fn remove_unrecorded(snapshots: &[PathBuf]) -> Result<(), BackupError> {
    for snapshot in snapshots {
        remove(snapshot).map_err(io("delete the unrecorded snapshot", snapshot))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mountinfo_escapes_are_read() {
        assert_eq!(unescape(r"/srv/my\040data"), "/srv/my data");
        assert_eq!(unescape(r"/a\134b"), r"/a\b");
        assert_eq!(unescape("/plain"), "/plain");
    }

    #[test]
    fn a_path_off_btrfs_is_archived_without_a_reason() {
        let dir = tempfile::tempdir().unwrap();
        let root = BackupRoot {
            label: "m.data.0".into(),
            module: "m".into(),
            category: "data".into(),
            path: dir.path().display().to_string(),
            missing: false,
        };
        // The test's temporary directory is not on btrfs here; where it is, it is no
        // subvolume root, so either way it is archived.
        let chosen = method(&[root], &BackupConfig::default());
        assert!(
            matches!(chosen, Method::Archive { .. } | Method::Store { .. }),
            "{chosen:?}"
        );
    }
}
