//! Restoring archives: a pre-scan pass, then a second pass that writes into fresh private
//! staging directories beside the targets, then an atomic swap per target.

use std::collections::HashSet;
use std::io::Read;
use std::os::fd::AsFd;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use fs_err::os::unix::fs::OpenOptionsExt;
use nix::errno::Errno;
use nix::fcntl::{OFlag, RenameFlags, renameat2};
use nix::sys::stat::{Mode, UtimensatFlags, fchmod, futimens, utimensat};
use nix::sys::time::TimeSpec;

use super::read::{BUF_SIZE, Visit, copy_member, scan};
use super::{ArchiveError, EntryKind, Expected, Refusal, Root};

static STAGE_COUNTER: AtomicU64 = AtomicU64::new(0);

/// Name of the staged root (and, after a swap, of the previous content) in a staging dir.
const STAGED: &str = "root";
const OLD: &str = "old";

/// Extract an archive into one fresh private staging directory per target.
///
/// `targets` must name every root of the archive (a root without a target refuses the
/// archive with [`Refusal::UnknownLabel`]); `only`, if given, picks the labels to stage.
/// The archive is checked completely before the staging directories are created, and
/// checked again while extracting. Nothing outside the staging directories is touched.
pub fn extract(
    archive: &Path,
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
    let scanned = scan(archive, expected, Some(&labels), &mut |_, _| Ok(()))?;
    let (present, _) = scanned.index.split();
    let mut staged = Staged { dirs: Vec::new() };
    for target in targets {
        if only.is_none_or(|only| only.contains(&target.label)) {
            let dir = make_stage(target, present.contains(&target.label))?;
            staged.dirs.push(dir);
        }
    }
    let mut writer = StageWriter {
        staged: &staged,
        buf: vec![0; BUF_SIZE],
        dirs: Vec::new(),
        made: HashSet::new(),
        root: nix::unistd::geteuid().is_root(),
    };
    scan(archive, expected, Some(&labels), &mut |m, data| {
        writer.member(m, data)
    })?;
    writer.finish()?;
    Ok(staged)
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

fn make_stage(target: &Root, present: bool) -> Result<Stage, ArchiveError> {
    let (parent, name) = split_target(&target.path)?;
    let name: String = name.to_string_lossy().chars().take(100).collect();
    let n = STAGE_COUNTER.fetch_add(1, Ordering::Relaxed);
    let dir = parent.join(format!(".{name}.upkeep-restore-{}-{n}", std::process::id()));
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
    })
}

/// Writes accepted members into their staging directories.
struct StageWriter<'s> {
    staged: &'s Staged,
    buf: Vec<u8>,
    /// Directories whose mode and mtime are set at the end (children first).
    dirs: Vec<(PathBuf, u32, i64)>,
    /// Directories created so far (the rules make every ancestor a directory).
    made: HashSet<PathBuf>,
    root: bool,
}

impl StageWriter<'_> {
    fn member(&mut self, m: &Visit<'_>, data: &mut dyn Read) -> Result<(), ArchiveError> {
        let path = &m.accepted.path;
        let (label, rel) = path.split_once('/').unwrap_or((path, ""));
        let Some(stage) = self.staged.dirs.iter().find(|d| d.label == label) else {
            return Ok(());
        };
        let base = stage.dir.join(STAGED);
        let mut dest = base.clone();
        if !rel.is_empty() {
            dest.push(rel);
            self.implied_parents(&base, rel)?;
        }
        match (&m.accepted.hardlink_to, m.accepted.kind) {
            (Some(target), _) => {
                let (_, target_rel) = target.split_once('/').unwrap_or((target, ""));
                let mut source = stage.dir.join(STAGED);
                if !target_rel.is_empty() {
                    source.push(target_rel);
                }
                fs_err::hard_link(&source, &dest).map_err(ArchiveError::io("link", &dest))
            }
            (None, EntryKind::File) => self.file(m, data, &dest),
            (None, EntryKind::Dir) => {
                if self.made.insert(dest.clone()) {
                    create_dir(&dest)?;
                }
                self.dirs.push((dest, m.mode, m.mtime));
                Ok(())
            }
            (None, EntryKind::Symlink) => self.symlink(m, &dest),
        }
    }

    /// Create the missing ancestors of `rel` under `base` (private mode until the end).
    fn implied_parents(&mut self, base: &Path, rel: &str) -> Result<(), ArchiveError> {
        let mut dir = base.to_path_buf();
        let parents = rel.rsplit_once('/').map(|(parents, _)| parents);
        let mut components = parents.into_iter().flat_map(|p| p.split('/'));
        loop {
            if !self.made.contains(&dir) {
                create_dir(&dir)?;
                self.made.insert(dir.clone());
                self.dirs.push((dir.clone(), 0o755, -1));
            }
            match components.next() {
                Some(component) => dir.push(component),
                None => return Ok(()),
            }
        }
    }

    fn file(
        &mut self,
        m: &Visit<'_>,
        data: &mut dyn Read,
        dest: &Path,
    ) -> Result<(), ArchiveError> {
        let mut file = fs_err::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .custom_flags(nix::libc::O_NOFOLLOW)
            .open(dest)
            .map_err(ArchiveError::io("create", dest))?;
        let digest = copy_member(data, m.size, &mut file, &mut self.buf)
            .map_err(|e| e.into_error(m, dest))?;
        if let Some(recorded) = m.recorded_sha256
            && hex::encode(digest) != recorded
        {
            return Err(ArchiveError::refused(
                m.accepted.path.clone(),
                Refusal::HashMismatch,
            ));
        }
        if self.root {
            let owner = (Some(m.uid.into()), Some(m.gid.into()));
            nix::unistd::fchown(&file, owner.0, owner.1)
                .map_err(|e| ArchiveError::io("chown", dest)(e.into()))?;
        }
        fchmod(&file, Mode::from_bits_truncate(self.mode(m.mode)))
            .map_err(|e| ArchiveError::io("chmod", dest)(e.into()))?;
        let time = TimeSpec::new(m.mtime, 0);
        futimens(&file, &time, &time).map_err(|e| ArchiveError::io("set mtime", dest)(e.into()))
    }

    fn symlink(&self, m: &Visit<'_>, dest: &Path) -> Result<(), ArchiveError> {
        let target = m.accepted.link.as_deref().unwrap_or_default();
        fs_err::os::unix::fs::symlink(target, dest).map_err(ArchiveError::io("symlink", dest))?;
        if self.root {
            nix::unistd::fchownat(
                nix::fcntl::AT_FDCWD,
                dest,
                Some(m.uid.into()),
                Some(m.gid.into()),
                nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW,
            )
            .map_err(|e| ArchiveError::io("chown", dest)(e.into()))?;
        }
        let time = TimeSpec::new(m.mtime, 0);
        utimensat(
            nix::fcntl::AT_FDCWD,
            dest,
            &time,
            &time,
            UtimensatFlags::NoFollowSymlink,
        )
        .map_err(|e| ArchiveError::io("set mtime", dest)(e.into()))
    }

    fn mode(&self, mode: u32) -> u32 {
        if self.root {
            mode & 0o7777
        } else {
            mode & 0o1777
        }
    }

    /// Directory modes and mtimes (children before parents), then one `syncfs`.
    fn finish(mut self) -> Result<(), ArchiveError> {
        self.dirs.sort_by(|a, b| b.0.cmp(&a.0));
        for (dir, mode, mtime) in &self.dirs {
            let fd = fs_err::OpenOptions::new()
                .read(true)
                .custom_flags(OFlag::O_DIRECTORY.bits() | OFlag::O_NOFOLLOW.bits())
                .open(dir)
                .map_err(ArchiveError::io("open", dir))?;
            fchmod(&fd, Mode::from_bits_truncate(self.mode(*mode)))
                .map_err(|e| ArchiveError::io("chmod", dir)(e.into()))?;
            if *mtime >= 0 {
                let time = TimeSpec::new(*mtime, 0);
                futimens(&fd, &time, &time)
                    .map_err(|e| ArchiveError::io("set mtime", dir)(e.into()))?;
            }
        }
        for stage in &self.staged.dirs {
            let fd =
                fs_err::File::open(&stage.dir).map_err(ArchiveError::io("open", &stage.dir))?;
            nix::unistd::syncfs(&fd).map_err(|e| ArchiveError::io("sync", &stage.dir)(e.into()))?;
        }
        Ok(())
    }
}

fn create_dir(dir: &Path) -> Result<(), ArchiveError> {
    std::fs::DirBuilder::new()
        .mode(0o700)
        .create(dir)
        .map_err(ArchiveError::io("create directory", dir))
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
