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
//!
//! The files: the records, checksum files and errors here; listing a directory (what is
//! recorded, what is left out) in `walk.rs`; hashing on the thread pool in `parallel.rs`.

mod parallel;
#[cfg(test)]
mod tests;
mod walk;

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};

use parallel::{assemble, file_jobs, hash_file, run_parallel};
use walk::{Entry, walk};

use crate::digest;

/// Name of the file, directly inside a module directory, that records its checksum.
pub const CHECKSUM_FILE: &str = "checksum";

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
