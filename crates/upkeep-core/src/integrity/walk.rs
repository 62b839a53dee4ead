//! Listing a module directory: which entries are recorded (by name, type and level) and
//! which are left out, symlinks hashed as they are found, regular files sized for the pool.

use std::ffi::OsStr;
use std::fs::FileType;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::FileTypeExt;
use std::path::{Path, PathBuf};

use super::{CHECKSUM_FILE, EntryKind, IntegrityError};
use crate::digest;

/// An entry found while listing a directory. Regular files get `sha256` (and their final
/// kind) when hashed; symlinks are hashed while listing.
#[derive(Debug)]
pub(super) struct Entry {
    pub(super) path: String,
    pub(super) kind: EntryKind,
    pub(super) size: u64,
    pub(super) sha256: Option<[u8; 32]>,
}

/// List the recorded entries under `root`, without following symlinks.
pub(super) fn walk(root: &Path) -> Result<Vec<Entry>, IntegrityError> {
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

pub(super) fn describe(file_type: FileType) -> &'static str {
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
