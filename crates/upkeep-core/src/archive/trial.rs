//! A trial restore (`backup verify --deep`): extract a whole archive into a scratch
//! directory through the same path a restore takes (checks, staging, swap), then compare
//! what landed on disk, entry by entry and byte by byte, with the recorded entries.

use std::collections::HashMap;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::Path;

use super::{ArchiveError, Entry, EntryKind, Expected, Root};

/// Extract the archive's `labels` into `scratch/LABEL` and compare every file, directory,
/// link, FIFO and device there with `expected.entries` (sockets are recorded as not kept
/// and have nothing to compare). `scratch` must be an empty private directory; what the
/// trial wrote stays in it for the caller to remove.
pub fn trial(
    archive: &Path,
    expected: &Expected<'_>,
    labels: &[String],
    scratch: &Path,
) -> Result<(), ArchiveError> {
    trial_from(super::Source::File(archive), expected, labels, scratch)
}

/// [`trial`] from any [`super::Source`].
pub fn trial_from(
    archive: super::Source<'_>,
    expected: &Expected<'_>,
    labels: &[String],
    scratch: &Path,
) -> Result<(), ArchiveError> {
    let targets: Vec<Root> = labels
        .iter()
        .map(|label| Root {
            label: label.clone(),
            path: scratch.join(label),
        })
        .collect();
    let mut staged = super::extract_from(archive, expected, &targets, None)?;
    for label in labels {
        staged.swap(label)?.discard()?;
    }
    let mut recorded: HashMap<&str, &Entry> = expected
        .entries
        .unwrap_or_default()
        .iter()
        .filter(|e| e.kind != EntryKind::Socket)
        .map(|e| (e.path.as_str(), e))
        .collect();
    let mut buf = vec![0; super::read::BUF_SIZE];
    for label in labels {
        let root = scratch.join(label);
        if fs_err::symlink_metadata(&root).is_ok() {
            compare(&root, label, &mut recorded, &mut buf)?;
        }
    }
    let mut missing: Vec<&str> = recorded.into_keys().collect();
    missing.sort_unstable();
    match missing.first() {
        Some(path) => Err(mismatch(path, "recorded but not extracted")),
        None => Ok(()),
    }
}

fn mismatch(entry: &str, what: &'static str) -> ArchiveError {
    ArchiveError::TrialMismatch {
        entry: entry.to_owned(),
        what,
    }
}

/// Compare `path` (the entry `name`) and everything below it with the records, removing
/// each one found from `recorded`.
fn compare(
    path: &Path,
    name: &str,
    recorded: &mut HashMap<&str, &Entry>,
    buf: &mut [u8],
) -> Result<(), ArchiveError> {
    let meta = fs_err::symlink_metadata(path).map_err(ArchiveError::io("inspect", path))?;
    let entry = recorded
        .remove(name)
        .ok_or_else(|| mismatch(name, "extracted but not recorded"))?;
    let kind = kind_of(&meta);
    if kind != entry.kind {
        return Err(mismatch(name, "kind differs from the record"));
    }
    // Only root restores setuid and setgid bits; anyone else drops them (see `stage.rs`).
    let kept = if nix::unistd::geteuid().is_root() {
        0o7777
    } else {
        0o1777
    };
    if kind != EntryKind::Symlink && meta.permissions().mode() & kept != entry.mode & kept {
        return Err(mismatch(name, "mode differs from the record"));
    }
    match kind {
        EntryKind::File => compare_file(path, name, entry, buf)?,
        EntryKind::Symlink => {
            let target = fs_err::read_link(path).map_err(ArchiveError::io("read link", path))?;
            if target.to_str() != entry.link.as_deref() {
                return Err(mismatch(name, "symlink target differs from the record"));
            }
        }
        EntryKind::CharDevice | EntryKind::BlockDevice => {
            let rdev = meta.rdev();
            let numbers = (nix::sys::stat::major(rdev), nix::sys::stat::minor(rdev));
            let recorded = entry.device.map(|(a, b)| (u64::from(a), u64::from(b)));
            if Some(numbers) != recorded {
                return Err(mismatch(name, "device numbers differ from the record"));
            }
        }
        EntryKind::Dir => {
            let children =
                fs_err::read_dir(path).map_err(ArchiveError::io("read directory", path))?;
            for child in children {
                let child = child.map_err(ArchiveError::io("read directory", path))?;
                let child_name = child.file_name();
                let child_name = child_name
                    .to_str()
                    .ok_or_else(|| ArchiveError::NameNotUtf8 { path: child.path() })?;
                compare(
                    &child.path(),
                    &format!("{name}/{child_name}"),
                    recorded,
                    buf,
                )?;
            }
        }
        EntryKind::Fifo | EntryKind::Socket => {}
    }
    Ok(())
}

/// What a file on disk is, as an entry's kind.
fn kind_of(meta: &std::fs::Metadata) -> EntryKind {
    let ft = meta.file_type();
    if ft.is_dir() {
        EntryKind::Dir
    } else if ft.is_symlink() {
        EntryKind::Symlink
    } else if ft.is_fifo() {
        EntryKind::Fifo
    } else if ft.is_char_device() {
        EntryKind::CharDevice
    } else if ft.is_block_device() {
        EntryKind::BlockDevice
    } else if ft.is_socket() {
        EntryKind::Socket
    } else {
        EntryKind::File
    }
}

/// A file's size and content hash, read back from the disk.
fn compare_file(
    path: &Path,
    name: &str,
    entry: &Entry,
    buf: &mut [u8],
) -> Result<(), ArchiveError> {
    let mut file = fs_err::File::open(path).map_err(ArchiveError::io("open", path))?;
    let sha256 =
        crate::digest::read_to_end(&mut file, buf).map_err(ArchiveError::io("read", path))?;
    let size = file
        .metadata()
        .map_err(ArchiveError::io("inspect", path))?
        .len();
    if size != entry.size {
        return Err(mismatch(name, "size differs from the record"));
    }
    if entry.sha256.as_deref() != Some(crate::digest::to_hex(&sha256).as_str()) {
        return Err(mismatch(name, "content hash differs from the record"));
    }
    Ok(())
}
