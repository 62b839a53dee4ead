//! File operations relative to directory descriptors, so that no symbolic link below an
//! allowed root is ever followed, even when one is planted while a deployment runs.

use std::ffi::OsStr;
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Component, Path};
use std::sync::atomic::{AtomicU64, Ordering};

use nix::errno::Errno;
use nix::fcntl::{AT_FDCWD, OFlag, openat};
use nix::sys::stat::{FileStat, Mode, SFlag, fstat, mkdirat};

static TMP_COUNTER: AtomicU64 = AtomicU64::new(0);

const DIR_FLAGS: OFlag = OFlag::O_RDONLY
    .union(OFlag::O_DIRECTORY)
    .union(OFlag::O_NOFOLLOW)
    .union(OFlag::O_CLOEXEC);
const READ_FLAGS: OFlag = OFlag::O_RDONLY
    .union(OFlag::O_NOFOLLOW)
    .union(OFlag::O_CLOEXEC)
    .union(OFlag::O_NOCTTY);

/// Open the directory `relative` below `root` for creating files in it: `root` itself is
/// trusted as given (it is created when missing), every component below it is opened
/// with `O_NOFOLLOW | O_DIRECTORY` relative to its parent's descriptor and created with
/// `mkdirat` when missing.
pub(crate) fn open_beneath(root: &Path, relative: &Path) -> Result<OwnedFd, String> {
    if !root.is_dir() {
        fs_err::create_dir_all(root).map_err(|e| format!("create the root: {e}"))?;
    }
    let mut dir = nix::fcntl::open(
        root,
        OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| format!("open `{}`: {e}", root.display()))?;
    let mut shown = root.to_path_buf();
    for component in relative.components() {
        let Component::Normal(name) = component else {
            return Err(format!(
                "`{}` is not a plain relative path",
                relative.display()
            ));
        };
        shown.push(name);
        dir = open_child_dir(&dir, name, &shown)?;
    }
    Ok(dir)
}

fn open_child_dir(parent: &OwnedFd, name: &OsStr, shown: &Path) -> Result<OwnedFd, String> {
    match openat(parent, name, DIR_FLAGS, Mode::empty()) {
        Ok(fd) => return Ok(fd),
        Err(Errno::ENOENT) => {}
        Err(err) => return Err(describe_open_error(parent, name, shown, err)),
    }
    // 0o777 less the umask, as Python's `os.makedirs` (ae.paths) and `mkdir -p` create them.
    match mkdirat(parent, name, Mode::from_bits_truncate(0o777)) {
        Ok(()) | Err(Errno::EEXIST) => {}
        Err(err) => return Err(format!("create directory `{}`: {err}", shown.display())),
    }
    nix::unistd::fsync(parent)
        .map_err(|e| format!("fsync the parent of `{}`: {e}", shown.display()))?;
    openat(parent, name, DIR_FLAGS, Mode::empty())
        .map_err(|err| describe_open_error(parent, name, shown, err))
}

fn describe_open_error(parent: &OwnedFd, name: &OsStr, shown: &Path, err: Errno) -> String {
    let link = || {
        format!(
            "`{}` is a symbolic link; links in a destination's parents are not followed",
            shown.display()
        )
    };
    if err == Errno::ELOOP {
        return link();
    }
    let stat = nix::sys::stat::fstatat(parent, name, nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW);
    match stat.map(|st| file_type(&st)) {
        Ok(SFlag::S_IFLNK) => link(),
        // It was something else when opened and is a directory again now: a swap.
        Ok(SFlag::S_IFDIR) => format!(
            "`{}` was replaced while it was opened (not followed)",
            shown.display()
        ),
        Ok(_) if err == Errno::ENOTDIR => format!("`{}` is not a directory", shown.display()),
        _ => format!("open directory `{}`: {err}", shown.display()),
    }
}

pub(crate) fn file_type(stat: &FileStat) -> SFlag {
    SFlag::from_bits_truncate(stat.st_mode & SFlag::S_IFMT.bits())
}

/// The SHA-256 and size of the regular file `name` in `dir`, never following a link;
/// `None` when it does not exist.
pub(crate) fn hash_at(dir: &OwnedFd, name: &OsStr) -> Result<Option<(String, u64)>, String> {
    let fd = match openat(dir, name, READ_FLAGS, Mode::empty()) {
        Ok(fd) => fd,
        Err(Errno::ENOENT) => return Ok(None),
        Err(Errno::ELOOP) => return Err("destination is a symbolic link".into()),
        Err(err) => return Err(format!("open destination: {err}")),
    };
    hash_fd(&fd).map(Some)
}

/// Open a source file for reading without following a link.
pub(crate) fn open_source(path: &Path) -> Result<(OwnedFd, FileStat), String> {
    let fd = openat(AT_FDCWD, path, READ_FLAGS, Mode::empty()).map_err(|err| match err {
        Errno::ELOOP => "source is a symbolic link".to_owned(),
        err => format!("open source: {err}"),
    })?;
    let stat = fstat(&fd).map_err(|e| format!("stat source: {e}"))?;
    if file_type(&stat) != SFlag::S_IFREG {
        return Err("source is not a regular file".into());
    }
    Ok((fd, stat))
}

/// Read all of `fd` into `sink` (when given), returning its SHA-256 and size.
pub(crate) fn stream(fd: &OwnedFd, mut sink: Option<&OwnedFd>) -> Result<(String, u64), String> {
    let mut hasher = crate::digest::Hasher::new();
    let mut buf = vec![0u8; 256 * 1024];
    let mut size = 0u64;
    loop {
        let n = match nix::unistd::read(fd, &mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(Errno::EINTR) => continue,
            Err(err) => return Err(format!("read: {err}")),
        };
        hasher.update(&buf[..n]);
        size += n as u64;
        if let Some(out) = sink.as_mut() {
            write_all(out, &buf[..n])?;
        }
    }
    Ok((hasher.finish_hex(), size))
}

fn hash_fd(fd: &OwnedFd) -> Result<(String, u64), String> {
    stream(fd, None)
}

fn write_all(fd: &OwnedFd, mut data: &[u8]) -> Result<(), String> {
    while !data.is_empty() {
        match nix::unistd::write(fd, data) {
            Ok(n) => data = &data[n..],
            Err(Errno::EINTR) => {}
            Err(err) => return Err(format!("write: {err}")),
        }
    }
    Ok(())
}

/// A temporary file created in a destination directory.
pub(crate) struct Temp {
    pub(crate) name: String,
    pub(crate) fd: OwnedFd,
}

/// Create a new temporary file for `name` in `dir` (`O_EXCL`, never through a link).
pub(crate) fn create_temp(dir: &OwnedFd, name: &OsStr) -> Result<Temp, String> {
    let n = TMP_COUNTER.fetch_add(1, Ordering::Relaxed);
    let tmp = format!(
        ".{}.upkeep-{}-{n}.tmp",
        name.to_string_lossy(),
        std::process::id()
    );
    let flags =
        OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
    let fd = openat(dir, tmp.as_str(), flags, Mode::from_bits_truncate(0o600))
        .map_err(|e| format!("create temporary file `{tmp}`: {e}"))?;
    Ok(Temp { name: tmp, fd })
}

/// Remove a file in `dir`, ignoring its absence.
pub(crate) fn remove_at(dir: &impl AsFd, name: &OsStr) -> Result<(), String> {
    match nix::unistd::unlinkat(dir, name, nix::unistd::UnlinkatFlags::NoRemoveDir) {
        Ok(()) | Err(Errno::ENOENT) => Ok(()),
        Err(err) => Err(format!("remove `{}`: {err}", name.to_string_lossy())),
    }
}

/// What happened to a rename that must not replace an existing file.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Placed {
    /// The file is in place.
    Done,
    /// The destination exists (and was left alone).
    Exists,
    /// Source and destination are on different file systems.
    CrossDevice,
}

/// Rename `from` (in `from_dir`) to `to` (in `to_dir`); with `replace` false an existing
/// destination is never replaced (`RENAME_NOREPLACE`).
pub(crate) fn rename_at(
    from_dir: &impl AsFd,
    from: &OsStr,
    to_dir: &OwnedFd,
    to: &OsStr,
    replace: bool,
) -> Result<Placed, String> {
    let result = if replace {
        nix::fcntl::renameat(from_dir, from, to_dir, to)
    } else {
        no_replace(from_dir, from, to_dir, to)
    };
    match result {
        Ok(()) => Ok(Placed::Done),
        Err(Errno::EEXIST) => Ok(Placed::Exists),
        Err(Errno::EXDEV) => Ok(Placed::CrossDevice),
        Err(err) => Err(format!("rename into place: {err}")),
    }
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn no_replace(from_dir: &impl AsFd, from: &OsStr, to_dir: &OwnedFd, to: &OsStr) -> nix::Result<()> {
    nix::fcntl::renameat2(
        from_dir,
        from,
        to_dir,
        to,
        nix::fcntl::RenameFlags::RENAME_NOREPLACE,
    )
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn no_replace(from_dir: &impl AsFd, from: &OsStr, to_dir: &OwnedFd, to: &OsStr) -> nix::Result<()> {
    // Without renameat2 a hard link refuses an existing name just as atomically.
    nix::unistd::linkat(from_dir, from, to_dir, to, nix::fcntl::AtFlags::empty())?;
    nix::unistd::unlinkat(from_dir, from, nix::unistd::UnlinkatFlags::NoRemoveDir)
}

/// Set the permission bits of an open file.
pub(crate) fn set_mode(fd: &OwnedFd, mode: u32) -> Result<(), String> {
    nix::sys::stat::fchmod(fd, Mode::from_bits_truncate(mode & 0o7777))
        .map_err(|e| format!("set mode: {e}"))
}

/// Give an open file the access and modification times of `source`, as `shutil.copy2`
/// (ae.paths' `copy_file`) does, to the nanosecond.
pub(crate) fn copy_times(fd: &OwnedFd, source: &FileStat) -> Result<(), String> {
    let atime = nix::sys::time::TimeSpec::new(source.st_atime, source.st_atime_nsec);
    let mtime = nix::sys::time::TimeSpec::new(source.st_mtime, source.st_mtime_nsec);
    nix::sys::stat::futimens(fd, &atime, &mtime).map_err(|e| format!("set times: {e}"))
}

/// fsync a descriptor.
pub(crate) fn sync(fd: &impl AsFd, what: &str) -> Result<(), String> {
    nix::unistd::fsync(fd).map_err(|e| format!("fsync {what}: {e}"))
}

/// Open a source file's directory (for renaming out of it and fsyncing it).
pub(crate) fn open_dir(path: &Path) -> Result<OwnedFd, String> {
    nix::fcntl::open(
        path,
        OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| format!("open directory `{}`: {e}", path.display()))
}
