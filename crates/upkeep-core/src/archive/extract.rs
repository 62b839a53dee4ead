//! Restoring archives: a pre-scan pass, then a second pass that writes into fresh private
//! staging directories beside the targets, then an atomic swap per target.

use std::os::fd::AsFd;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use nix::errno::Errno;
use nix::fcntl::{RenameFlags, renameat2};

use super::read::{Source, scan};
use super::stage::{Feeder, QUEUE, StageWriter};
use super::{ArchiveError, Expected, Root};

static STAGE_COUNTER: AtomicU64 = AtomicU64::new(0);

/// Name of the staged root (and, after a swap, of the previous content) in a staging dir.
const STAGED: &str = "root";
const OLD: &str = "old";

/// Extract an archive into one fresh private staging directory per target.
///
/// `targets` must name every root of the archive (a root without a target refuses the
/// archive with [`super::Refusal::UnknownLabel`]); `only`, if given, picks the labels to stage.
/// The archive is checked completely before the staging directories are created, and
/// checked again while extracting. Nothing outside the staging directories is touched.
pub fn extract(
    archive: &Path,
    expected: &Expected<'_>,
    targets: &[Root],
    only: Option<&[String]>,
) -> Result<Staged, ArchiveError> {
    extract_from(Source::File(archive), expected, targets, only)
}

/// [`extract`] from any [`Source`]: the chunk store restores through here, so its backups
/// pass exactly the rules an archive does.
pub fn extract_from(
    archive: Source<'_>,
    expected: &Expected<'_>,
    targets: &[Root],
    only: Option<&[String]>,
) -> Result<Staged, ArchiveError> {
    let labels: Vec<String> = targets.iter().map(|t| t.label.clone()).collect();
    if let Some(label) = only
        .into_iter()
        .flatten()
        .find(|label| !labels.contains(label))
    {
        return Err(ArchiveError::NotStaged {
            label: label.clone(),
        });
    }
    let root = nix::unistd::geteuid().is_root();
    let scanned = scan(archive, false, expected, Some(&labels), &mut |m, _| {
        if m.accepted.kind.is_device() && !root {
            return Err(ArchiveError::DeviceNeedsRoot {
                entry: m.accepted.path.clone(),
            });
        }
        Ok(())
    })?;
    let (present, _) = scanned.index.split();
    let mut staged = Staged { dirs: Vec::new() };
    for target in targets {
        if only.is_none_or(|only| only.contains(&target.label)) {
            let dir = make_stage(target, present.contains(&target.label))?;
            staged.dirs.push(dir);
        }
    }
    write_stages(archive, expected, &labels, &staged)?;
    Ok(staged)
}

/// The second pass: read and check on this thread, write on another.
fn write_stages(
    archive: Source<'_>,
    expected: &Expected<'_>,
    labels: &[String],
    staged: &Staged,
) -> Result<(), ArchiveError> {
    let (ops_tx, ops_rx) = std::sync::mpsc::sync_channel(QUEUE);
    let (buf_tx, buf_rx) = std::sync::mpsc::channel();
    let stage_dirs: Vec<PathBuf> = staged.dirs.iter().map(|d| d.dir.clone()).collect();
    let roots: Vec<(String, PathBuf)> = staged
        .dirs
        .iter()
        .map(|d| (d.label.clone(), d.dir.join(STAGED)))
        .collect();
    std::thread::scope(|scope| {
        let writer = scope.spawn(|| StageWriter::new().run(ops_rx, &buf_tx, &stage_dirs));
        let mut feeder = Feeder {
            ops: ops_tx,
            buffers: buf_rx,
            writer_gone: false,
        };
        let read = scan(archive, true, expected, Some(labels), &mut |m, data| {
            let label = m.accepted.path.split('/').next().unwrap_or_default();
            match roots.iter().find(|(l, _)| l == label) {
                Some((_, base)) => feeder.member(m, base.clone(), data),
                None => Ok(()),
            }
        });
        let read = read.and_then(|_| feeder.finish());
        let writer_gone = feeder.writer_gone;
        drop(feeder);
        let written = writer.join().expect("the writer thread does not panic");
        match (read, written) {
            (Err(_), Err(err)) if writer_gone => Err(err),
            (Err(err), _) | (Ok(()), Err(err)) => Err(err),
            (Ok(()), Ok(())) => Ok(()),
        }
    })
}

/// Extracted and verified content, one private staging directory per target. Dropping it
/// removes the staging directories that were not swapped.
#[derive(Debug)]
pub struct Staged {
    dirs: Vec<Stage>,
}

#[derive(Debug)]
struct Stage {
    label: String,
    target: PathBuf,
    /// The staging directory, beside the target.
    dir: PathBuf,
    /// Whether the archive holds the root (otherwise it was recorded as missing).
    present: bool,
}

/// The outcome of [`Staged::swap`]: the target holds the restored content, and the
/// previous content (if there was any) waits in the staging directory until
/// [`Swapped::discard`]. Dropping a `Swapped` without discarding keeps it on disk.
#[derive(Debug)]
pub struct Swapped {
    dir: PathBuf,
    parent: PathBuf,
    old: Option<PathBuf>,
    sockets: LiveSockets,
}

/// The Unix sockets that were live in a target when its restored content took its place.
/// A backup cannot keep a socket (it records it as not kept); a restore must not delete
/// the one a running service listens on, so each is linked into the restored tree at its
/// path before the swap (a hard link reaches the same bound socket). One whose directory
/// the backup does not hold, or whose path the backup fills with something else, goes
/// with the previous content and is listed as dropped.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct LiveSockets {
    /// Sockets still in place after the restore.
    pub kept: Vec<PathBuf>,
    /// Sockets the restore removed.
    pub dropped: Vec<PathBuf>,
}

impl Staged {
    /// The labels still staged, in target order.
    pub fn labels(&self) -> Vec<String> {
        self.dirs.iter().map(|d| d.label.clone()).collect()
    }

    /// Put the staged content of `label` in place of its target atomically.
    ///
    /// With a target in place, `renameat2(RENAME_EXCHANGE)` swaps the two (falling back to
    /// moving the target aside and renaming, where exchange is unsupported); without one,
    /// the staged root is renamed into place; a root recorded as missing moves the target
    /// aside so it disappears. The parent directory is fsynced.
    pub fn swap(&mut self, label: &str) -> Result<Swapped, ArchiveError> {
        let Some(i) = self.dirs.iter().position(|d| d.label == label) else {
            return Err(ArchiveError::NotStaged {
                label: label.to_owned(),
            });
        };
        let stage = self.dirs.remove(i);
        match swap_stage(&stage) {
            Ok(swapped) => Ok(swapped),
            Err((err, restored)) => {
                if restored {
                    // Nothing changed: the stage stays staged (and is removed on drop).
                    self.dirs.insert(i, stage);
                }
                Err(err)
            }
        }
    }
}

impl Drop for Staged {
    fn drop(&mut self) {
        for stage in &self.dirs {
            let _ = remove_tree(&stage.dir);
        }
    }
}

impl Swapped {
    /// Where the previous content of the target is kept, if the target existed.
    pub fn old_path(&self) -> Option<&Path> {
        self.old.as_deref()
    }

    /// The live sockets the swap kept in place or dropped.
    pub fn sockets(&self) -> &LiveSockets {
        &self.sockets
    }

    /// Remove the previous content (and the staging directory), then fsync the parent.
    pub fn discard(self) -> Result<(), ArchiveError> {
        remove_tree(&self.dir)?;
        crate::atomic::sync_dir(&self.parent).map_err(ArchiveError::io("sync", &self.parent))
    }
}

/// Split a target into its parent directory and file name.
fn split_target(target: &Path) -> Result<(PathBuf, std::ffi::OsString), ArchiveError> {
    let bad = || ArchiveError::BadTarget {
        path: target.to_path_buf(),
    };
    let name = target.file_name().ok_or_else(bad)?.to_owned();
    let parent = match target.parent() {
        Some(p) if p.as_os_str().is_empty() => PathBuf::from("."),
        Some(p) => p.to_path_buf(),
        None => return Err(bad()),
    };
    Ok((parent, name))
}

/// The name of a staging directory beside a target named `name`, without its
/// `{pid}-{n}` end: what [`make_stage`] makes and [`sweep_stale_stages`] looks for.
/// What follows a target's name in its staging directory's name.
const STAGE_MARK: &str = ".upkeep-restore-";

fn stage_prefix(name: &std::ffi::OsStr) -> String {
    let name: String = name.to_string_lossy().chars().take(100).collect();
    format!(".{name}{STAGE_MARK}")
}

/// Remove the staging directories beside `targets` that a restore killed before it
/// finished left behind: those made by a process that is no longer alive. Call it after
/// recovery has finished every journaled restore (their staging holds nothing the archive
/// does not). Returns the directories removed.
pub fn sweep_stale_stages<'p>(targets: impl IntoIterator<Item = &'p Path>) -> Vec<PathBuf> {
    let me = std::process::id();
    let mut removed = Vec::new();
    // Each parent directory is read once, whatever the number of targets in it (a
    // manifest's modules often keep their paths side by side).
    let mut parents: Vec<PathBuf> = Vec::new();
    let mut prefixes: std::collections::HashMap<PathBuf, std::collections::HashSet<String>> =
        std::collections::HashMap::new();
    for target in targets {
        let Ok((parent, name)) = split_target(target) else {
            continue;
        };
        if !prefixes.contains_key(&parent) {
            parents.push(parent.clone());
        }
        prefixes
            .entry(parent)
            .or_default()
            .insert(stage_prefix(&name));
    }
    for parent in parents {
        let Ok(entries) = fs_err::read_dir(&parent) else {
            continue;
        };
        let wanted = &prefixes[&parent];
        for entry in entries.flatten() {
            let file_name = entry.file_name();
            let Some(name) = file_name.to_str() else {
                continue;
            };
            // A stage is `.NAME.upkeep-restore-PID-N`: what follows the last mark is ours.
            let Some(at) = name.rfind(STAGE_MARK) else {
                continue;
            };
            let (prefix, rest) = name.split_at(at + STAGE_MARK.len());
            if !wanted.contains(prefix) {
                continue;
            }
            let pid = rest.split('-').next().and_then(|p| p.parse::<u32>().ok());
            let stale = pid.is_some_and(|pid| pid != me && !alive(pid));
            if stale && fs_err::remove_dir_all(entry.path()).is_ok() {
                removed.push(entry.path());
            }
        }
    }
    removed
}

/// Whether a process with this id exists (signal 0 reaches it, or it is someone else's).
fn alive(pid: u32) -> bool {
    let Ok(pid) = i32::try_from(pid) else {
        return false;
    };
    match nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None) {
        Ok(()) | Err(nix::errno::Errno::EPERM) => true,
        Err(_) => false,
    }
}

fn make_stage(target: &Root, present: bool) -> Result<Stage, ArchiveError> {
    let (parent, name) = split_target(&target.path)?;
    let n = STAGE_COUNTER.fetch_add(1, Ordering::Relaxed);
    let dir = parent.join(format!("{}{}-{n}", stage_prefix(&name), std::process::id()));
    std::fs::DirBuilder::new()
        .mode(0o700)
        .create(&dir)
        .map_err(ArchiveError::io("create staging directory", &dir))?;
    Ok(Stage {
        label: target.label.clone(),
        target: target.path.clone(),
        dir,
        present,
    })
}

/// Perform a swap; on error, say whether the target was left as it was before.
fn swap_stage(stage: &Stage) -> Result<Swapped, (ArchiveError, bool)> {
    let (parent, name) = split_target(&stage.target).map_err(|e| (e, true))?;
    let stage_name = stage.dir.file_name().expect("staging dirs have names");
    let staged = Path::new(stage_name).join(STAGED);
    let old = Path::new(stage_name).join(OLD);
    let dirfd =
        fs_err::File::open(&parent).map_err(|e| (ArchiveError::io("open", &parent)(e), true))?;
    let fd = dirfd.as_fd();
    let rename = |from: &Path, to: &Path, flags| {
        renameat2(fd, from, fd, to, flags).map_err(|errno| {
            (
                ArchiveError::io("rename", &parent.join(from))(errno.into()),
                errno,
            )
        })
    };
    let target = Path::new(&name);
    let exists = match fs_err::symlink_metadata(&stage.target) {
        Ok(_) => true,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => false,
        Err(e) => return Err((ArchiveError::io("inspect", &stage.target)(e), true)),
    };
    let sockets = keep_sockets(stage, exists);
    let kept = match (stage.present, exists) {
        (true, true) => match rename(&staged, target, RenameFlags::RENAME_EXCHANGE) {
            Ok(()) => {
                rename(&staged, &old, RenameFlags::empty()).map_err(|(e, _)| (e, false))?;
                true
            }
            Err((_, Errno::EINVAL)) => {
                rename(target, &old, RenameFlags::empty()).map_err(|(e, _)| (e, true))?;
                if let Err((err, _)) = rename(&staged, target, RenameFlags::empty()) {
                    let back = rename(&old, target, RenameFlags::empty()).is_ok();
                    return Err((err, back));
                }
                true
            }
            Err((err, _)) => return Err((err, true)),
        },
        (true, false) => {
            rename(&staged, target, RenameFlags::empty()).map_err(|(e, _)| (e, true))?;
            false
        }
        (false, true) => {
            rename(target, &old, RenameFlags::empty()).map_err(|(e, _)| (e, true))?;
            true
        }
        (false, false) => false,
    };
    let sync = |dir: &Path| crate::atomic::sync_dir(dir).map_err(ArchiveError::io("sync", dir));
    sync(&stage.dir)
        .and_then(|()| sync(&parent))
        .map_err(|e| (e, false))?;
    Ok(Swapped {
        dir: stage.dir.clone(),
        parent,
        old: kept.then(|| stage.dir.join(OLD)),
        sockets,
    })
}

/// Link every Unix socket of the live `target` tree into the `staged` tree at the same
/// path, where the staged tree has a real directory for it (never through a symlink) and
/// nothing at the path itself. Neither tree's links are followed.
fn keep_sockets(stage: &Stage, target_exists: bool) -> LiveSockets {
    if !stage.present || !target_exists {
        return LiveSockets::default();
    }
    let (target, staged) = (&stage.target, &stage.dir.join(STAGED));
    let mut found = Vec::new();
    find_sockets(target, Path::new(""), &mut found);
    let mut sockets = LiveSockets::default();
    for rel in found {
        let live = target.join(&rel);
        let dest = staged.join(&rel);
        let placed = rel.parent().is_some_and(|parent| real_dir(staged, parent))
            && fs_err::symlink_metadata(&dest).is_err()
            && fs_err::hard_link(&live, &dest).is_ok();
        if placed {
            sockets.kept.push(live);
        } else {
            sockets.dropped.push(live);
        }
    }
    sockets
}

/// The sockets below `dir` (paths relative to the walk's start), without following links.
fn find_sockets(dir: &Path, rel: &Path, found: &mut Vec<PathBuf>) {
    use std::os::unix::fs::FileTypeExt;
    let Ok(entries) = fs_err::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let Ok(kind) = entry.file_type() else {
            continue;
        };
        let child = rel.join(entry.file_name());
        if kind.is_socket() {
            found.push(child);
        } else if kind.is_dir() {
            find_sockets(&entry.path(), &child, found);
        }
    }
}

/// Whether `base/rel` and every directory between them are directories, not symlinks.
fn real_dir(base: &Path, rel: &Path) -> bool {
    let mut path = base.to_path_buf();
    std::iter::once(std::path::Component::CurDir)
        .chain(rel.components())
        .all(|component| {
            path.push(component);
            fs_err::symlink_metadata(&path).is_ok_and(|m| m.file_type().is_dir())
        })
}

/// Remove a tree without following symlinks, making directories writable first (a
/// restored or replaced tree may hold read-only directories).
fn remove_tree(path: &Path) -> Result<(), ArchiveError> {
    let meta = match fs_err::symlink_metadata(path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(ArchiveError::io("inspect", path)(e)),
    };
    if !meta.is_dir() {
        return fs_err::remove_file(path).map_err(ArchiveError::io("remove", path));
    }
    if meta.permissions().mode() & 0o700 != 0o700 {
        fs_err::set_permissions(path, std::fs::Permissions::from_mode(0o700))
            .map_err(ArchiveError::io("chmod", path))?;
    }
    for child in fs_err::read_dir(path).map_err(ArchiveError::io("read directory", path))? {
        let child = child.map_err(ArchiveError::io("read directory", path))?;
        remove_tree(&child.path())?;
    }
    fs_err::remove_dir(path).map_err(ArchiveError::io("remove", path))
}
