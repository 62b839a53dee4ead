//! Deterministic checksums of module directories.
//!
//! A module directory (e.g. `updates/gogs/`) is summarised by one SHA-256: every regular
//! file and symlink under it becomes a line `"{kind} {sha256} {path}\n"`, the lines are
//! sorted by path, and the checksum is the SHA-256 of their concatenation. Build
//! by-products (`__pycache__/`, `*.pyc`, virtualenvs, `.git/`) and the module's own
//! top-level `checksum` file are left out. `docs/checksum.md` is the normative description,
//! with a Python reference implementation.
//!
//! [`digest_dirs`] hashes many modules at once on a pool of worker threads sharing one
//! queue of files, largest first, so that both one large module and many small ones keep
//! every core busy.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::fs::FileType;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use fs_err::os::unix::fs::OpenOptionsExt;

use crate::digest;

/// Name of the file, directly inside a module directory, that records its checksum.
pub const CHECKSUM_FILE: &str = "checksum";

/// Size of each worker's read buffer.
const READ_BUF_SIZE: usize = 256 * 1024;

/// Alignment of the read buffer. Page cache pages are copied out from page offset 0; a
/// buffer a few bytes past a page boundary makes the kernel's copy hit 4K-aliasing stalls
/// (measured: the copy took twice as long), so the buffer starts on a page boundary.
const READ_BUF_ALIGN: usize = 4096;

/// What a recorded entry is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum EntryKind {
    /// A regular file whose owner execute bit is clear (code `f`).
    File,
    /// A regular file whose owner execute bit is set (code `x`).
    Executable,
    /// A symbolic link, hashed by its target path, never followed (code `l`).
    Symlink,
}

impl EntryKind {
    /// The one-letter code used in the hashed lines: `f`, `x` or `l`.
    pub fn code(self) -> char {
        char::from(self.byte())
    }

    /// The kind for a code of [`EntryKind::code`], `None` for any other character.
    pub fn from_code(code: char) -> Option<Self> {
        match code {
            'f' => Some(Self::File),
            'x' => Some(Self::Executable),
            'l' => Some(Self::Symlink),
            _ => None,
        }
    }

    fn byte(self) -> u8 {
        match self {
            Self::File => b'f',
            Self::Executable => b'x',
            Self::Symlink => b'l',
        }
    }
}

/// One recorded entry of a module directory.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct FileRecord {
    /// Path relative to the module directory, `/`-separated, UTF-8, no newline.
    pub path: String,
    /// What the entry is.
    pub kind: EntryKind,
    /// Lowercase hex SHA-256 of the file's content, or of a symlink's target path.
    pub sha256: String,
}

/// The checksum of a module directory and the records it was computed from.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct DirDigest {
    /// Lowercase hex SHA-256 over the records, see [`combine`].
    pub checksum: String,
    /// The records, sorted by the bytes of their path (the order they were hashed in).
    pub files: Vec<FileRecord>,
}

/// The differences between recorded and live file lists, each list sorted by path.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct FileDiff {
    /// Paths present now but not recorded.
    pub added: Vec<String>,
    /// Paths recorded but no longer present.
    pub removed: Vec<String>,
    /// Paths present in both whose content or kind differs.
    pub changed: Vec<String>,
}

impl FileDiff {
    /// Whether nothing was added, removed or changed.
    pub fn is_empty(&self) -> bool {
        self.added.is_empty() && self.removed.is_empty() && self.changed.is_empty()
    }
}

/// Why a directory could not be digested or a checksum file read or written.
///
/// Messages are fragments meant to follow "failed to ".
#[derive(Debug, thiserror::Error)]
pub enum IntegrityError {
    /// A directory could not be listed.
    #[error("read directory {path}")]
    ReadDir {
        /// The directory.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// The type or metadata of an entry could not be read.
    #[error("inspect {path}")]
    Inspect {
        /// The entry.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// A regular file could not be opened or read.
    #[error("read file {path}")]
    ReadFile {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// A symlink's target could not be read.
    #[error("read symlink {path}")]
    ReadLink {
        /// The symlink.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// An entry is neither a regular file, a symlink nor a directory.
    #[error(
        "hash {path}: it is a {kind}; only regular files, symlinks and directories are allowed"
    )]
    UnsupportedType {
        /// The entry.
        path: PathBuf,
        /// What it is: `FIFO`, `socket`, `block device`, ...
        kind: &'static str,
    },
    /// An entry's name cannot be recorded.
    #[error("hash {path}: its name {reason}")]
    InvalidName {
        /// The entry.
        path: PathBuf,
        /// Why: `is not valid UTF-8` or `contains a newline`.
        reason: &'static str,
    },
    /// The checksum file exists but could not be read.
    #[error("read checksum file {path}")]
    ReadChecksum {
        /// The checksum file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// The checksum file does not hold 64 lowercase hex digits.
    #[error("parse checksum file {path}: expected 64 lowercase hexadecimal digits")]
    MalformedChecksum {
        /// The checksum file.
        path: PathBuf,
    },
    /// The checksum given to [`write_checksum_file`] is not 64 lowercase hex digits.
    #[error("write checksum file {path}: {value:?} is not 64 lowercase hexadecimal digits")]
    InvalidChecksum {
        /// The checksum file.
        path: PathBuf,
        /// The rejected value.
        value: String,
    },
    /// The checksum file could not be written, synced or renamed into place.
    #[error("write checksum file {path}")]
    WriteChecksum {
        /// The checksum file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
}

impl IntegrityError {
    /// The path the error is about.
    pub fn path(&self) -> &Path {
        match self {
            Self::ReadDir { path, .. }
            | Self::Inspect { path, .. }
            | Self::ReadFile { path, .. }
            | Self::ReadLink { path, .. }
            | Self::UnsupportedType { path, .. }
            | Self::InvalidName { path, .. }
            | Self::ReadChecksum { path, .. }
            | Self::MalformedChecksum { path }
            | Self::InvalidChecksum { path, .. }
            | Self::WriteChecksum { path, .. } => path,
        }
    }
}

/// Digest one module directory on the current thread.
///
/// Symlinks inside `dir` are recorded, never followed; `dir` itself may be a symlink.
pub fn digest_dir(dir: &Path) -> Result<DirDigest, IntegrityError> {
    digest_dirs(std::slice::from_ref(&dir.to_path_buf()), 1)
        .pop()
        .expect("one result per directory")
}

/// Digest many directories, hashing files in parallel on `threads` worker threads.
///
/// Uses [`std::thread::scope`]: first the directories are listed in parallel, then every
/// regular file of every directory goes into one shared queue, largest first, so one big
/// module and many small ones both use every core. `threads` of 0 counts as 1; with 1,
/// no thread is spawned. Results are in input order; a directory whose listing or any
/// file fails gets an error (for a file, the one with the smallest path).
pub fn digest_dirs(dirs: &[PathBuf], threads: usize) -> Vec<Result<DirDigest, IntegrityError>> {
    let walked: Vec<Result<Vec<Entry>, IntegrityError>> =
        run_parallel(dirs.len(), threads, |i, _| walk(&dirs[i]));
    let jobs = file_jobs(&walked);
    let hashed = run_parallel(jobs.len(), threads, |j, scratch| {
        let (dir, entry) = jobs[j];
        let Ok(entries) = &walked[dir] else {
            unreachable!("jobs come from listed directories")
        };
        let path = scratch.path.as_mut_os_string();
        path.clear();
        path.push(dirs[dir].as_os_str());
        scratch.path.push(&entries[entry].path);
        hash_file(&scratch.path, scratch.buf.get())
    });
    assemble(walked, &jobs, hashed)
}

/// The directory checksum of a set of records: the lowercase hex SHA-256 of the lines
/// `"{kind} {sha256} {path}\n"` in ascending byte order of `path`.
///
/// Records are normally already sorted (as in [`DirDigest::files`]); if not, a sorted copy
/// is hashed, so the result never depends on the order given.
pub fn combine(files: &[FileRecord]) -> String {
    let files: Cow<'_, [FileRecord]> = if files.is_sorted_by(|a, b| a.path <= b.path) {
        Cow::Borrowed(files)
    } else {
        let mut sorted = files.to_vec();
        sorted.sort_unstable_by(|a, b| a.path.cmp(&b.path));
        Cow::Owned(sorted)
    };
    let mut hasher = digest::Hasher::new();
    for file in files.iter() {
        hasher.update(&[file.kind.byte(), b' ']);
        hasher.update(file.sha256.as_bytes());
        hasher.update(b" ");
        hasher.update(file.path.as_bytes());
        hasher.update(b"\n");
    }
    hasher.finish_hex()
}

/// Compare recorded records with live ones by path.
///
/// `changed` lists paths in both whose content hash or kind differs. Every list is sorted.
pub fn diff(recorded: &[FileRecord], live: &[FileRecord]) -> FileDiff {
    let recorded: BTreeMap<&str, &FileRecord> =
        recorded.iter().map(|r| (r.path.as_str(), r)).collect();
    let live: BTreeMap<&str, &FileRecord> = live.iter().map(|r| (r.path.as_str(), r)).collect();
    let mut out = FileDiff::default();
    for (path, now) in &live {
        match recorded.get(path) {
            None => out.added.push((*path).to_owned()),
            Some(then) if then.kind != now.kind || then.sha256 != now.sha256 => {
                out.changed.push((*path).to_owned());
            }
            Some(_) => {}
        }
    }
    out.removed = recorded
        .keys()
        .filter(|path| !live.contains_key(*path))
        .map(|path| (*path).to_owned())
        .collect();
    out
}

/// Read a module's `checksum` file: trimmed, must be 64 lowercase hex chars; None if missing.
pub fn read_checksum_file(dir: &Path) -> Result<Option<String>, IntegrityError> {
    let path = dir.join(CHECKSUM_FILE);
    let bytes = match fs_err::read(&path) {
        Ok(bytes) => bytes,
        Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(source) => return Err(IntegrityError::ReadChecksum { path, source }),
    };
    match std::str::from_utf8(&bytes).map(str::trim) {
        Ok(text) if is_checksum(text) => Ok(Some(text.to_owned())),
        _ => Err(IntegrityError::MalformedChecksum { path }),
    }
}

/// Write a module's `checksum` file atomically: a temporary file in the same directory gets
/// `"<hex>\n"` and is fsynced, renamed over `checksum`, then the directory is fsynced.
///
/// `checksum` must be 64 lowercase hex digits.
pub fn write_checksum_file(dir: &Path, checksum: &str) -> Result<(), IntegrityError> {
    let path = dir.join(CHECKSUM_FILE);
    if !is_checksum(checksum) {
        return Err(IntegrityError::InvalidChecksum {
            path,
            value: checksum.to_owned(),
        });
    }
    crate::atomic::write_atomic(&path, format!("{checksum}\n").as_bytes())
        .map_err(|source| IntegrityError::WriteChecksum { path, source })
}

fn is_checksum(text: &str) -> bool {
    text.len() == 64 && text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// An entry found while listing a directory. Regular files get `sha256` (and their final
/// kind) when hashed; symlinks are hashed while listing.
#[derive(Debug)]
struct Entry {
    path: String,
    kind: EntryKind,
    size: u64,
    sha256: Option<[u8; 32]>,
}

/// List the recorded entries under `root`, without following symlinks.
fn walk(root: &Path) -> Result<Vec<Entry>, IntegrityError> {
    let mut entries = Vec::new();
    // Relative paths of directories still to list, as "" or "a/b/".
    let mut pending = vec![String::new()];
    while let Some(prefix) = pending.pop() {
        let dir = if prefix.is_empty() {
            root.to_path_buf()
        } else {
            root.join(&prefix)
        };
        let read_dir_err = |source| IntegrityError::ReadDir {
            path: dir.clone(),
            source,
        };
        for dirent in fs_err::read_dir(&dir).map_err(read_dir_err)? {
            let dirent = dirent.map_err(read_dir_err)?;
            let path = dirent.path();
            let file_type = dirent
                .file_type()
                .map_err(|source| IntegrityError::Inspect {
                    path: path.clone(),
                    source,
                })?;
            let name = dirent.file_name();
            if is_excluded(prefix.is_empty(), &name, file_type, &path)? {
                continue;
            }
            let rel = format!("{prefix}{}", checked_name(&name, &path)?);
            if file_type.is_dir() {
                pending.push(rel + "/");
            } else {
                entries.push(leaf_entry(&dirent, path, rel, file_type)?);
            }
        }
    }
    Ok(entries)
}

/// The entry for a recorded non-directory: a symlink, hashed now, or a regular file, to be
/// hashed later; any other type is an error.
fn leaf_entry(
    dirent: &fs_err::DirEntry,
    path: PathBuf,
    rel: String,
    file_type: FileType,
) -> Result<Entry, IntegrityError> {
    if file_type.is_symlink() {
        let target =
            fs_err::read_link(&path).map_err(|source| IntegrityError::ReadLink { path, source })?;
        let sha256 = digest::bytes(target.as_os_str().as_bytes());
        Ok(Entry {
            path: rel,
            kind: EntryKind::Symlink,
            size: 0,
            sha256: Some(sha256),
        })
    } else if file_type.is_file() {
        let meta = dirent
            .metadata()
            .map_err(|source| IntegrityError::Inspect { path, source })?;
        Ok(Entry {
            path: rel,
            kind: EntryKind::File,
            size: meta.len(),
            sha256: None,
        })
    } else {
        Err(IntegrityError::UnsupportedType {
            path,
            kind: describe(file_type),
        })
    }
}

/// Whether an entry is left out: the top-level `checksum` (any type); directories named
/// `__pycache__` or `.git` or holding a `pyvenv.cfg`; other entries whose name ends in `.pyc`.
fn is_excluded(
    top: bool,
    name: &OsStr,
    file_type: FileType,
    path: &Path,
) -> Result<bool, IntegrityError> {
    let name = name.as_bytes();
    if top && name == CHECKSUM_FILE.as_bytes() {
        return Ok(true);
    }
    if !file_type.is_dir() {
        return Ok(name.ends_with(b".pyc"));
    }
    if name == b"__pycache__" || name == b".git" {
        return Ok(true);
    }
    match fs_err::symlink_metadata(path.join("pyvenv.cfg")) {
        Ok(_) => Ok(true),
        Err(err) if err.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(source) => Err(IntegrityError::Inspect {
            path: path.join("pyvenv.cfg"),
            source,
        }),
    }
}

/// The entry's name as UTF-8 without newlines, or an error naming `path`.
fn checked_name<'a>(name: &'a OsStr, path: &Path) -> Result<&'a str, IntegrityError> {
    let invalid = |reason| IntegrityError::InvalidName {
        path: path.to_path_buf(),
        reason,
    };
    let name = name.to_str().ok_or_else(|| invalid("is not valid UTF-8"))?;
    if name.contains('\n') {
        return Err(invalid("contains a newline"));
    }
    Ok(name)
}

fn describe(file_type: FileType) -> &'static str {
    if file_type.is_fifo() {
        "FIFO"
    } else if file_type.is_socket() {
        "socket"
    } else if file_type.is_block_device() {
        "block device"
    } else if file_type.is_char_device() {
        "character device"
    } else {
        "special file"
    }
}

/// The regular files still to hash, as (directory index, entry index), largest first.
fn file_jobs(walked: &[Result<Vec<Entry>, IntegrityError>]) -> Vec<(usize, usize)> {
    let mut jobs: Vec<(u64, usize, usize)> = walked
        .iter()
        .enumerate()
        .filter_map(|(d, w)| Some((d, w.as_ref().ok()?)))
        .flat_map(|(d, entries)| {
            entries
                .iter()
                .enumerate()
                .filter(|(_, e)| e.sha256.is_none())
                .map(move |(i, e)| (e.size, d, i))
        })
        .collect();
    jobs.sort_unstable_by(|a, b| b.cmp(a));
    jobs.into_iter().map(|(_, d, i)| (d, i)).collect()
}

/// Hash a regular file's content. Its kind comes from the opened file, which must still be
/// a regular file (no symlink is followed, no FIFO blocks).
fn hash_file(path: &Path, buf: &mut [u8]) -> Result<(EntryKind, [u8; 32]), IntegrityError> {
    let read_err = |source| IntegrityError::ReadFile {
        path: path.to_path_buf(),
        source,
    };
    let mut file = fs_err::OpenOptions::new()
        .read(true)
        .custom_flags(nix::libc::O_NOFOLLOW | nix::libc::O_NONBLOCK)
        .open(path)
        .map_err(read_err)?;
    let meta = file.metadata().map_err(read_err)?;
    if !meta.file_type().is_file() {
        let kind = describe(meta.file_type());
        return Err(IntegrityError::UnsupportedType {
            path: path.to_path_buf(),
            kind,
        });
    }
    let kind = if meta.permissions().mode() & 0o100 == 0 {
        EntryKind::File
    } else {
        EntryKind::Executable
    };
    let sha256 = digest::read_to_end(&mut file, buf).map_err(read_err)?;
    Ok((kind, sha256))
}

/// Fill in the file hashes and turn each listing into a sorted, combined digest.
fn assemble(
    walked: Vec<Result<Vec<Entry>, IntegrityError>>,
    jobs: &[(usize, usize)],
    hashed: Vec<Result<(EntryKind, [u8; 32]), IntegrityError>>,
) -> Vec<Result<DirDigest, IntegrityError>> {
    let mut walked = walked;
    let mut failures: Vec<Option<(usize, IntegrityError)>> = walked.iter().map(|_| None).collect();
    for (&(d, i), result) in jobs.iter().zip(hashed) {
        let Ok(entries) = &mut walked[d] else {
            continue;
        };
        match result {
            Ok((kind, sha256)) => {
                entries[i].kind = kind;
                entries[i].sha256 = Some(sha256);
            }
            Err(err) => match &failures[d] {
                Some((first, _)) if entries[*first].path < entries[i].path => {}
                _ => failures[d] = Some((i, err)),
            },
        }
    }
    walked
        .into_iter()
        .zip(failures)
        .map(|(listing, failure)| match failure {
            Some((_, err)) => Err(err),
            None => listing.map(finish),
        })
        .collect()
}

fn finish(mut entries: Vec<Entry>) -> DirDigest {
    entries.sort_unstable_by(|a, b| a.path.cmp(&b.path));
    let files: Vec<FileRecord> = entries
        .into_iter()
        .map(|e| FileRecord {
            path: e.path,
            kind: e.kind,
            sha256: digest::to_hex(&e.sha256.expect("every listed file was hashed")),
        })
        .collect();
    DirDigest {
        checksum: combine(&files),
        files,
    }
}

/// Per-worker state reused across work items, so the hot loop does not allocate.
#[derive(Debug, Default)]
struct Scratch {
    buf: ReadBuf,
    path: PathBuf,
}

/// A page-aligned read buffer, allocated on first use.
#[derive(Debug, Default)]
struct ReadBuf(Vec<u8>);

impl ReadBuf {
    fn get(&mut self) -> &mut [u8] {
        if self.0.is_empty() {
            self.0 = vec![0; READ_BUF_SIZE + READ_BUF_ALIGN];
        }
        let start = self.0.as_ptr().align_offset(READ_BUF_ALIGN);
        &mut self.0[start..start + READ_BUF_SIZE]
    }
}

/// Run `work(i)` for every `i` in `0..count` on up to `threads` scoped threads that take
/// indices from a shared counter; results come back in index order.
fn run_parallel<T, F>(count: usize, threads: usize, work: F) -> Vec<T>
where
    T: Send,
    F: Fn(usize, &mut Scratch) -> T + Sync,
{
    let threads = threads.clamp(1, count.max(1));
    if threads == 1 {
        let mut scratch = Scratch::default();
        return (0..count).map(|i| work(i, &mut scratch)).collect();
    }
    let next = AtomicUsize::new(0);
    let (work, next) = (&work, &next);
    let mut slots: Vec<Option<T>> = (0..count).map(|_| None).collect();
    std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(move || {
                    let mut scratch = Scratch::default();
                    let mut done = Vec::new();
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        if i >= count {
                            return done;
                        }
                        done.push((i, work(i, &mut scratch)));
                    }
                })
            })
            .collect();
        for worker in workers {
            let done = worker
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
            for (i, result) in done {
                slots[i] = Some(result);
            }
        }
    });
    slots
        .into_iter()
        .map(|slot| slot.expect("every index was processed"))
        .collect()
}

#[cfg(test)]
mod tests {
    use std::os::unix::ffi::OsStringExt;

    use fs_err::os::unix::fs::symlink;

    use super::*;

    /// `docs/checksum.md`'s Python reference prints this for the tree of [`golden_tree`].
    const GOLDEN: &str = "dd68992cdedf25e138e0172ce0f24339085e5f57afb5ef6d425320d52b3416a5";

    fn write(path: &Path, content: &str, mode: u32) {
        if let Some(parent) = path.parent() {
            fs_err::create_dir_all(parent).unwrap();
        }
        fs_err::write(path, content).unwrap();
        fs_err::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
    }

    /// The sample tree of `docs/checksum.md`.
    fn golden_tree() -> tempfile::TempDir {
        let tmp = tempfile::tempdir().unwrap();
        let d = tmp.path();
        write(&d.join("index.py"), "print('hello')\n", 0o644);
        write(&d.join("run.sh"), "#!/bin/sh\necho hi\n", 0o755);
        write(&d.join("empty.txt"), "", 0o644);
        write(&d.join("checksum"), &format!("{}\n", "0".repeat(64)), 0o644);
        write(&d.join("stale.pyc"), "junk", 0o644);
        write(&d.join("lib/helper.py"), "X = 1\n", 0o644);
        write(&d.join("lib/data/values.json"), "{\"a\": 1}\n", 0o644);
        write(
            &d.join("lib/checksum"),
            "nested checksum files are recorded\n",
            0o644,
        );
        symlink("../index.py", d.join("lib/link")).unwrap();
        write(
            &d.join("lib/__pycache__/helper.cpython-311.pyc"),
            "bytecode",
            0o644,
        );
        write(&d.join(".venv/pyvenv.cfg"), "home = /usr/bin\n", 0o644);
        fs_err::create_dir_all(d.join(".venv/bin")).unwrap();
        symlink("/usr/bin/python3", d.join(".venv/bin/python")).unwrap();
        write(&d.join(".git/HEAD"), "ref: refs/heads/main\n", 0o644);
        tmp
    }

    fn summary(digest: &DirDigest) -> Vec<(char, &str)> {
        digest
            .files
            .iter()
            .map(|f| (f.kind.code(), f.path.as_str()))
            .collect()
    }

    fn sha(data: &[u8]) -> String {
        crate::digest::bytes_hex(data)
    }

    #[test]
    fn golden_digest_matches_python_reference() {
        let tree = golden_tree();
        let digest = digest_dir(tree.path()).unwrap();
        assert_eq!(
            summary(&digest),
            [
                ('f', "empty.txt"),
                ('f', "index.py"),
                ('f', "lib/checksum"),
                ('f', "lib/data/values.json"),
                ('f', "lib/helper.py"),
                ('l', "lib/link"),
                ('x', "run.sh"),
            ]
        );
        assert_eq!(digest.files[0].sha256, sha(b""));
        assert_eq!(digest.files[5].sha256, sha(b"../index.py"));
        assert_eq!(digest.checksum, GOLDEN);
        assert_eq!(combine(&digest.files), GOLDEN);
    }

    #[test]
    fn exclusions_apply_by_name_type_and_level() {
        let tmp = tempfile::tempdir().unwrap();
        let d = tmp.path();
        write(
            &d.join("checksum/inner.txt"),
            "top-level checksum is excluded whatever it is",
            0o644,
        );
        write(
            &d.join("a/__pycache__"),
            "a file named __pycache__ is kept",
            0o644,
        );
        write(&d.join("a/.git"), "gitdir: a .git file is kept", 0o644);
        write(&d.join("a/deep/__pycache__/x.py"), "", 0o644);
        write(&d.join("a/deep/.git/config"), "", 0o644);
        write(&d.join("a/deep/mod.pyc"), "", 0o644);
        write(
            &d.join("a/dir.pyc/kept.txt"),
            "a directory named *.pyc is walked",
            0o644,
        );
        write(&d.join("a/env/lib/site.py"), "", 0o644);
        symlink("/nowhere", d.join("a/env/pyvenv.cfg")).unwrap();
        symlink("target", d.join("a/link.pyc")).unwrap();
        let digest = digest_dir(d).unwrap();
        assert_eq!(
            summary(&digest),
            [
                ('f', "a/.git"),
                ('f', "a/__pycache__"),
                ('f', "a/dir.pyc/kept.txt")
            ]
        );
    }

    #[test]
    fn a_venv_at_the_top_level_does_not_exclude_the_module() {
        let tmp = tempfile::tempdir().unwrap();
        write(&tmp.path().join("pyvenv.cfg"), "", 0o644);
        assert_eq!(
            summary(&digest_dir(tmp.path()).unwrap()),
            [('f', "pyvenv.cfg")]
        );
    }

    #[test]
    fn kinds_follow_the_owner_exec_bit_and_symlinks_are_not_followed() {
        let tmp = tempfile::tempdir().unwrap();
        let d = tmp.path();
        write(&d.join("group-exec"), "a", 0o655);
        write(&d.join("owner-exec"), "a", 0o744);
        write(&d.join("target/file"), "content", 0o644);
        symlink("target", d.join("dir-link")).unwrap();
        symlink("missing", d.join("dangling")).unwrap();
        let digest = digest_dir(d).unwrap();
        assert_eq!(
            summary(&digest),
            [
                ('l', "dangling"),
                ('l', "dir-link"),
                ('f', "group-exec"),
                ('x', "owner-exec"),
                ('f', "target/file"),
            ]
        );
        assert_eq!(digest.files[1].sha256, sha(b"target"));
        assert_eq!(digest.files[2].sha256, digest.files[3].sha256);
    }

    #[test]
    fn entries_sort_by_path_bytes() {
        let tmp = tempfile::tempdir().unwrap();
        for name in ["a0", "a/b", "a.b", "a-b", "B", "é", "z"] {
            write(&tmp.path().join(name), name, 0o644);
        }
        let digest = digest_dir(tmp.path()).unwrap();
        let paths: Vec<&str> = digest.files.iter().map(|f| f.path.as_str()).collect();
        assert_eq!(paths, ["B", "a-b", "a.b", "a/b", "a0", "z", "é"]);
    }

    #[test]
    fn combine_hashes_sorted_lines_whatever_the_input_order() {
        assert_eq!(combine(&[]), sha(b""));
        let rec = |path: &str, kind| FileRecord {
            path: path.into(),
            kind,
            sha256: sha(path.as_bytes()),
        };
        let files = [
            rec("b", EntryKind::Executable),
            rec("a", EntryKind::Symlink),
        ];
        let expected = format!("l {} a\nx {} b\n", sha(b"a"), sha(b"b"));
        assert_eq!(combine(&files), sha(expected.as_bytes()));
        assert_eq!(
            combine(&[files[1].clone(), files[0].clone()]),
            sha(expected.as_bytes())
        );
    }

    #[test]
    fn diff_reports_added_removed_and_changed() {
        let rec = |path: &str, kind, content: &str| FileRecord {
            path: path.into(),
            kind,
            sha256: sha(content.as_bytes()),
        };
        let recorded = [
            rec("same", EntryKind::File, "1"),
            rec("gone", EntryKind::File, "1"),
            rec("edited", EntryKind::File, "1"),
            rec("chmod", EntryKind::File, "1"),
        ];
        let live = [
            rec("new", EntryKind::Symlink, "1"),
            rec("chmod", EntryKind::Executable, "1"),
            rec("edited", EntryKind::File, "2"),
            rec("same", EntryKind::File, "1"),
        ];
        let diff = diff(&recorded, &live);
        assert_eq!(diff.added, ["new"]);
        assert_eq!(diff.removed, ["gone"]);
        assert_eq!(diff.changed, ["chmod", "edited"]);
        assert!(!diff.is_empty());
        assert!(super::diff(&live, &live).is_empty());
    }

    #[test]
    fn special_files_are_errors_naming_the_path() {
        let tmp = tempfile::tempdir().unwrap();
        let fifo = tmp.path().join("sub/pipe");
        fs_err::create_dir(tmp.path().join("sub")).unwrap();
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::S_IRWXU).unwrap();
        let err = digest_dir(tmp.path()).unwrap_err();
        assert!(
            matches!(err, IntegrityError::UnsupportedType { kind: "FIFO", .. }),
            "{err:?}"
        );
        assert_eq!(err.path(), fifo);
        assert_eq!(
            err.to_string(),
            format!(
                "hash {}: it is a FIFO; only regular files, symlinks and directories are allowed",
                fifo.display()
            )
        );
        // An excluded FIFO is never looked at.
        fs_err::rename(&fifo, tmp.path().join("sub/pipe.pyc")).unwrap();
        assert!(digest_dir(tmp.path()).unwrap().files.is_empty());
    }

    #[test]
    fn unrecordable_names_are_errors() {
        let tmp = tempfile::tempdir().unwrap();
        let bad = tmp
            .path()
            .join(std::ffi::OsString::from_vec(b"bad\xff".to_vec()));
        write(&bad, "", 0o644);
        let err = digest_dir(tmp.path()).unwrap_err();
        assert!(matches!(
            err,
            IntegrityError::InvalidName {
                reason: "is not valid UTF-8",
                ..
            }
        ));
        assert_eq!(err.path(), bad);
        fs_err::remove_file(&bad).unwrap();

        let newline = tmp.path().join("two\nlines");
        fs_err::create_dir(&newline).unwrap();
        let err = digest_dir(tmp.path()).unwrap_err();
        assert!(matches!(
            err,
            IntegrityError::InvalidName {
                reason: "contains a newline",
                ..
            }
        ));
        assert_eq!(err.path(), newline);
    }

    #[test]
    fn a_missing_directory_is_an_error() {
        let tmp = tempfile::tempdir().unwrap();
        let missing = tmp.path().join("missing");
        let err = digest_dir(&missing).unwrap_err();
        assert!(matches!(err, IntegrityError::ReadDir { .. }), "{err:?}");
        assert_eq!(
            err.to_string(),
            format!("read directory {}", missing.display())
        );
        let source = std::error::Error::source(&err).unwrap().to_string();
        assert!(source.contains("No such file or directory"), "{source}");
    }

    #[test]
    fn digest_dirs_returns_results_in_input_order() {
        let tmp = tempfile::tempdir().unwrap();
        let mut dirs = Vec::new();
        for i in 0..7 {
            let dir = tmp.path().join(format!("m{i}"));
            for j in 0..=i {
                let big = "x".repeat(j * 100_000 + i);
                write(&dir.join(format!("f{j}")), &big, 0o644);
            }
            dirs.push(dir);
        }
        dirs.insert(3, tmp.path().join("missing"));
        let serial: Vec<_> = dirs.iter().map(|d| digest_dir(d).ok()).collect();
        for threads in [0, 1, 2, 5] {
            let parallel: Vec<_> = digest_dirs(&dirs, threads)
                .into_iter()
                .map(Result::ok)
                .collect();
            assert_eq!(parallel, serial, "threads = {threads}");
        }
        assert!(serial[3].is_none());
        assert_eq!(serial[6].as_ref().unwrap().files.len(), 6);
        assert!(digest_dirs(&[], 4).is_empty());
    }

    #[test]
    fn checksum_file_round_trips() {
        let tmp = tempfile::tempdir().unwrap();
        let d = tmp.path();
        assert_eq!(read_checksum_file(d).unwrap(), None);
        write_checksum_file(d, GOLDEN).unwrap();
        assert_eq!(
            fs_err::read_to_string(d.join("checksum")).unwrap(),
            format!("{GOLDEN}\n")
        );
        assert_eq!(read_checksum_file(d).unwrap().as_deref(), Some(GOLDEN));
        write_checksum_file(d, &"0".repeat(64)).unwrap();
        assert_eq!(read_checksum_file(d).unwrap(), Some("0".repeat(64)));
        let names: Vec<_> = fs_err::read_dir(d)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["checksum"], "no temporary file is left behind");

        write(&d.join("checksum"), &format!("  {GOLDEN}\r\n\n"), 0o644);
        assert_eq!(read_checksum_file(d).unwrap().as_deref(), Some(GOLDEN));
    }

    #[test]
    fn malformed_checksums_are_rejected() {
        let tmp = tempfile::tempdir().unwrap();
        let d = tmp.path();
        for bad in [
            GOLDEN.to_uppercase(),
            GOLDEN[1..].to_owned(),
            format!("{GOLDEN} x"),
            String::new(),
        ] {
            write(&d.join("checksum"), &bad, 0o644);
            let err = read_checksum_file(d).unwrap_err();
            assert!(
                matches!(err, IntegrityError::MalformedChecksum { .. }),
                "{bad:?}: {err:?}"
            );
            let err = write_checksum_file(d, &bad).unwrap_err();
            assert!(
                matches!(err, IntegrityError::InvalidChecksum { .. }),
                "{bad:?}: {err:?}"
            );
        }
        fs_err::write(d.join("checksum"), b"\xff").unwrap();
        assert!(matches!(
            read_checksum_file(d),
            Err(IntegrityError::MalformedChecksum { .. })
        ));
        fs_err::remove_file(d.join("checksum")).unwrap();
        fs_err::create_dir(d.join("checksum")).unwrap();
        assert!(matches!(
            read_checksum_file(d),
            Err(IntegrityError::ReadChecksum { .. })
        ));
    }

    #[test]
    fn read_buffer_is_page_aligned() {
        let mut buf = ReadBuf::default();
        let slice = buf.get();
        assert_eq!(slice.len(), READ_BUF_SIZE);
        assert_eq!(slice.as_ptr().align_offset(READ_BUF_ALIGN), 0);
    }

    #[test]
    fn entry_kind_codes_round_trip() {
        for kind in [EntryKind::File, EntryKind::Executable, EntryKind::Symlink] {
            assert_eq!(EntryKind::from_code(kind.code()), Some(kind));
        }
        assert_eq!(EntryKind::from_code('d'), None);
        assert_eq!(
            serde_json::to_string(&EntryKind::Executable).unwrap(),
            "\"executable\""
        );
    }
}
