//! Backup archives: tar streams (zstd, gzip or plain) with a SHA-256 of the archive and of
//! every file, written durably and read back as hostile input.
//!
//! # Format
//!
//! An archive is one tar stream (GNU headers, GNU long names for paths and link targets
//! over 100 bytes, UTF-8 names), compressed with zstd (the default, multithreaded, with
//! the frame checksum on), gzip, or not at all. Readers pick the decompressor from the
//! first bytes of the file, never from its name.
//!
//! 1. The first member is a regular file named [`INDEX_NAME`] (`.upkeep-roots`): the line
//!    `upkeep-archive 1`, then one line per root, `present LABEL` or `missing LABEL`, in the
//!    order the roots were given. A root is a host path (file, directory or symlink) given
//!    to [`create`] under a label; a root whose path did not exist is recorded as missing,
//!    so that a restore makes it absent again.
//! 2. Then, for each present root in order, the root itself as the member `LABEL`, then
//!    everything under it as `LABEL/rel/path`, depth first, names sorted by their bytes.
//!    Directories (empty ones too), regular files and symlinks are stored with their mode,
//!    mtime (whole seconds), uid and gid. Symlinks are never followed. A file with several
//!    links within one root is stored once, its further links as hard-link members (the
//!    restore links them again); links to a file outside the root are stored as copies.
//!    FIFOs and character and block devices are stored as tar FIFO and device members
//!    (with their mode, owner and device numbers) and recreated by a restore: FIFOs
//!    always, devices only when running as root (otherwise [`extract`] refuses the archive
//!    with [`ArchiveError::DeviceNeedsRoot`] before anything is written). A Unix socket
//!    cannot be archived: it is recorded as an [`EntryKind::Socket`] entry with no member
//!    ("not kept", also in [`Written::skipped`]), and a restore leaves the live sockets of
//!    a target in place ([`Swapped::sockets`]). A restore gives directories their
//!    recorded owner (as root), as it does files.
//!
//! [`create`] returns every member as an [`Entry`] (with the SHA-256 of each file's
//! content) and the SHA-256 of the archive file; the caller records both in the ledger.
//!
//! # Hostile input
//!
//! A restore trusts nothing but what the ledger recorded ([`Expected`]). [`verify`] and
//! [`extract`] read the archive as if an attacker had written it:
//!
//! - The SHA-256 of the archive file must equal the recorded one. It is computed while
//!   the archive is pre-scanned; when the scan fails, the rest of the file is still hashed
//!   and a checksum mismatch is reported in preference to what the scan found, since a
//!   changed archive explains everything else.
//! - Every member is pre-scanned before anything is written, and the **whole archive** is
//!   refused ([`ArchiveError::Refused`], naming the member and a [`Refusal`]) on: a `..`
//!   component, an absolute path, NUL in a name, an empty name, a name that is not UTF-8;
//!   a symlink whose target is absolute, leaves its label's root lexically, or has a `..`
//!   after a normal component (such a `..` could climb out through another in-root symlink);
//!   a hardlink to anything but an earlier regular file of the same label; character or
//!   block devices and FIFOs that the ledger did not record at that path with that kind
//!   and device numbers (an archive without recorded entries may hold none), and other
//!   member types; duplicate paths (after dropping `.` and
//!   empty components), also a file where a directory was implied; a member below a
//!   symlink or below a file; a member under a label that is not among the targets; file
//!   contents adding up to more than [`Expected::max_bytes`] (refused at the header,
//!   before the data is decompressed: decompression bombs stop early; the decompressed
//!   stream as a whole is capped at `max_bytes` plus 16 KiB per member and 1 MiB); a
//!   missing or malformed root index; truncated or corrupt streams, a missing
//!   end-of-archive marker or data after it. When the ledger recorded the entries:
//!   a member not recorded, a recorded entry absent, or a kind, size, mode or link target
//!   that differs.
//! - A symlink that is the root itself (`LABEL`) may point anywhere: it is the host path
//!   itself (`/etc/localtime` is one) and nothing can be written through it, since members
//!   below a symlink are refused. [`create`] applies the same rules to what it writes, so
//!   a tree that could not be restored (an absolute symlink inside a root, say) fails at
//!   backup time rather than at restore time.
//! - [`extract`] then reads the archive a second time (the same checks run again, and the
//!   archive checksum is compared again at the end) and writes into one fresh private
//!   staging directory per target (mode 0700, created beside the target so the final
//!   rename is atomic), creating files with `O_CREAT|O_EXCL|O_NOFOLLOW`, counting bytes,
//!   hashing every file and comparing it with the record. Modes and mtimes are restored;
//!   setuid and setgid bits are dropped unless running as root, and only root restores
//!   owners. One `syncfs` makes the staged trees durable. Nothing outside the staging
//!   directories is touched until [`Staged::swap`], which exchanges a staged root with
//!   its target atomically and keeps the previous content until [`Swapped::discard`].

mod extract;
mod read;
mod rules;
mod stage;
mod trial;
mod write;

use std::path::{Path, PathBuf};

pub use extract::{LiveSockets, Staged, Swapped, extract, extract_from, sweep_stale_stages};
pub use read::{Source, verify, verify_from};
pub use trial::{trial, trial_from};
pub use write::create;
pub(crate) use write::{Sink, header_bytes, padding, walk};

/// Name of the first member of every archive: the index of roots and whether they existed.
pub const INDEX_NAME: &str = ".upkeep-roots";

/// How an archive's tar stream is compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Compression {
    /// Zstandard, multithreaded, with frame checksums.
    Zstd,
    /// gzip (deflate), single-threaded.
    Gzip,
    /// A plain tar stream.
    None,
}

impl Compression {
    /// The file name extension for archives of this kind, without the leading dot.
    pub fn extension(self) -> &'static str {
        match self {
            Self::Zstd => "tar.zst",
            Self::Gzip => "tar.gz",
            Self::None => "tar",
        }
    }

    /// The compression an archive's file name announces, if any.
    pub fn from_path(path: &Path) -> Option<Self> {
        let name = path.file_name()?.to_str()?;
        [Self::Zstd, Self::Gzip, Self::None]
            .into_iter()
            .find(|c| name.ends_with(&format!(".{}", c.extension())))
    }

    /// The default compression level: 3 for zstd (as its command-line tool), 6 for gzip.
    pub fn default_level(self) -> i32 {
        match self {
            Self::Zstd => 3,
            Self::Gzip => 6,
            Self::None => 0,
        }
    }
}

/// How [`create`] writes an archive.
#[derive(Debug, Clone)]
pub struct CreateOptions {
    /// The compression of the tar stream.
    pub compression: Compression,
    /// The compression level (zstd 1..=22, gzip 0..=9; ignored without compression).
    pub level: i32,
    /// zstd worker threads; 0 uses every core. Ignored for gzip and plain tar.
    pub threads: u32,
}

impl Default for CreateOptions {
    fn default() -> Self {
        Self {
            compression: Compression::Zstd,
            level: Compression::Zstd.default_level(),
            threads: 0,
        }
    }
}

/// One host path (file, directory, symlink, or absent) stored under `label/` in the archive.
#[derive(Debug, Clone)]
pub struct Root {
    /// The name of the root inside the archive: one path component, UTF-8, not `.` or
    /// `..`, without `/`, NUL or newline, and not starting with `.upkeep`.
    pub label: String,
    /// The host path: on [`create`] the path to store, on [`extract`] the path to restore.
    pub path: PathBuf,
}

/// What an archive member is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum EntryKind {
    /// A regular file.
    File,
    /// A directory.
    Dir,
    /// A symbolic link.
    Symlink,
    /// A named pipe.
    Fifo,
    /// A character device.
    CharDevice,
    /// A block device.
    BlockDevice,
    /// A Unix socket: recorded, but not kept (a socket cannot be archived; its server
    /// makes it again). No archive member stands for it.
    Socket,
}

impl EntryKind {
    /// Whether the kind is a character or block device.
    pub fn is_device(self) -> bool {
        matches!(self, Self::CharDevice | Self::BlockDevice)
    }
}

/// One archive member, as recorded by [`create`] and checked by [`verify`] and [`extract`].
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Entry {
    /// `label` for a root itself, `label/rel/path` for what is under it.
    pub path: String,
    /// What the member is.
    pub kind: EntryKind,
    /// Permission bits (`0o7777` mask); `0o777` for symlinks.
    pub mode: u32,
    /// Content length for files, 0 otherwise.
    pub size: u64,
    /// Lowercase hex SHA-256 of a file's content; `None` for directories and symlinks.
    pub sha256: Option<String>,
    /// A symlink's target; `None` otherwise.
    pub link: Option<String>,
    /// A device's major and minor numbers; `None` otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device: Option<(u32, u32)>,
}

/// What [`create`] wrote.
#[derive(Debug, Clone)]
pub struct Written {
    /// The archive file.
    pub path: PathBuf,
    /// Lowercase hex SHA-256 of the archive file, checked by re-reading the written file.
    pub sha256: String,
    /// The sum of the stored files' sizes.
    pub bytes_in: u64,
    /// The size of the archive file.
    pub bytes_out: u64,
    /// Every member but the index, in archive order.
    pub entries: Vec<Entry>,
    /// Labels of roots whose path did not exist (recorded as missing).
    pub missing: Vec<String>,
    /// Sockets found inside a root and not stored (each is also an entry of kind
    /// [`EntryKind::Socket`]): `"path: reason"`.
    pub skipped: Vec<String>,
}

/// What the ledger recorded about an archive; restore trusts nothing else.
#[derive(Debug, Clone)]
pub struct Expected<'a> {
    /// Lowercase hex SHA-256 of the archive file ([`Written::sha256`]).
    pub sha256: &'a str,
    /// The members ([`Written::entries`]); when given, the archive must match them exactly.
    pub entries: Option<&'a [Entry]>,
    /// The most file content the archive may hold ([`Written::bytes_in`] or more).
    pub max_bytes: u64,
}

/// What [`verify`] found: an archive whose checksum, members and file hashes are sound.
#[derive(Debug, Clone)]
pub struct Verified {
    /// Every member but the index, in archive order, with file hashes.
    pub entries: Vec<Entry>,
    /// Labels of the roots present in the archive, in index order.
    pub present: Vec<String>,
    /// Labels of the roots recorded as missing, in index order.
    pub missing: Vec<String>,
    /// The sum of the files' sizes.
    pub bytes: u64,
}

/// Why an archive member (and so the whole archive) was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// A `..` component.
    #[error("path traversal (`..`)")]
    Traversal,
    /// A name starting with `/`.
    #[error("absolute path")]
    AbsolutePath,
    /// A NUL byte in a name or link target.
    #[error("NUL byte in a name")]
    NulInName,
    /// An empty name (or one made only of `.` and `/`).
    #[error("empty name")]
    EmptyName,
    /// A name or link target that is not UTF-8.
    #[error("name is not UTF-8")]
    NotUtf8,
    /// A symlink whose target is absolute, leaves its root, or climbs after descending.
    #[error("symlink points outside its root")]
    SymlinkEscapes,
    /// A hardlink to anything but an earlier regular file of the same label.
    #[error("hardlink to something other than an earlier file of the same root")]
    HardlinkOutside,
    /// A character or block device.
    #[error("device node")]
    DeviceNode,
    /// A FIFO.
    #[error("FIFO")]
    Fifo,
    /// A member type other than file, directory, symlink or hardlink.
    #[error("unsupported member type {0}")]
    UnsupportedType(String),
    /// A path that appeared before (also as an implied directory).
    #[error("duplicate path")]
    DuplicatePath,
    /// A path below a symlink member.
    #[error("path goes through a symlink")]
    ThroughSymlink,
    /// A path below a member that is not a directory.
    #[error("path goes through a file")]
    ParentNotDirectory,
    /// More file content than allowed, or a decompressed stream longer than allowed.
    #[error("more bytes than allowed (possible decompression bomb)")]
    TooManyBytes,
    /// More members than recorded or allowed.
    #[error("too many members")]
    TooManyEntries,
    /// A member the ledger did not record.
    #[error("not recorded in the ledger")]
    NotRecorded,
    /// A recorded entry that is not in the archive.
    #[error("recorded entry missing from the archive")]
    MissingEntry,
    /// A kind different from the record.
    #[error("kind differs from the record")]
    KindMismatch,
    /// A size different from the record.
    #[error("size differs from the record")]
    SizeMismatch,
    /// A mode different from the record.
    #[error("mode differs from the record")]
    ModeMismatch,
    /// A symlink target different from the record.
    #[error("symlink target differs from the record")]
    LinkMismatch,
    /// File content whose SHA-256 differs from the record.
    #[error("content hash differs from the record")]
    HashMismatch,
    /// A member under a label that is not among the targets.
    #[error("label is not among the restore targets")]
    UnknownLabel,
    /// A truncated or corrupt stream, or a malformed index.
    #[error("corrupt archive: {0}")]
    Corrupt(String),
}

/// Why an archive could not be written, verified, extracted or swapped.
///
/// Messages are fragments meant to follow "failed to ".
#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    /// An I/O operation failed.
    #[error("{action} {path}")]
    Io {
        /// What was being done: `read`, `write`, `rename`, ...
        action: &'static str,
        /// The path it was done on.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The archive file's SHA-256 is not the recorded one.
    #[error("verify archive: SHA-256 is {actual}, the ledger recorded {expected}")]
    ChecksumMismatch {
        /// The recorded checksum.
        expected: String,
        /// The checksum of the file as read.
        actual: String,
    },
    /// The archive just written did not read back with the checksum computed while writing.
    #[error("verify {path} after writing: read back {actual}, wrote {expected}")]
    WriteVerifyFailed {
        /// The temporary archive file.
        path: PathBuf,
        /// The checksum of the bytes written.
        expected: String,
        /// The checksum of the bytes read back.
        actual: String,
    },
    /// A member was refused; the whole archive is refused with it.
    #[error("accept archive member {entry:?}: {reason}")]
    Refused {
        /// The member's name as stored (lossy UTF-8), or a label.
        entry: String,
        /// Why.
        reason: Refusal,
    },
    /// A root's label cannot be used.
    #[error("use root label {label:?}: {reason}")]
    InvalidLabel {
        /// The label.
        label: String,
        /// Why: `is empty`, `contains /`, `is used twice`, ...
        reason: &'static str,
    },
    /// A root is itself a socket, FIFO or device.
    #[error("archive {path}: it is a {kind}; only files, directories and symlinks can be roots")]
    UnsupportedRoot {
        /// The root's path.
        path: PathBuf,
        /// What it is.
        kind: &'static str,
    },
    /// A host file name is not UTF-8, so it cannot be recorded.
    #[error("archive {path}: its name is not UTF-8")]
    NameNotUtf8 {
        /// The file.
        path: PathBuf,
    },
    /// A file shrank while it was being stored.
    #[error("archive {path}: it changed while being read")]
    Changed {
        /// The file.
        path: PathBuf,
    },
    /// A restore target's label is not in the archive.
    #[error("restore {label:?}: the archive has no root with this label")]
    LabelNotInArchive {
        /// The label.
        label: String,
    },
    /// [`Staged::swap`] was asked for a label that is not (or no longer) staged.
    #[error("swap {label:?}: nothing is staged for this label")]
    NotStaged {
        /// The label.
        label: String,
    },
    /// The archive holds a device node and the restore does not run as root, which
    /// `mknod` needs: refused before anything is written.
    #[error(
        "restore device node {entry:?}: only root can create device nodes (run the restore as root, or leave its path out)"
    )]
    DeviceNeedsRoot {
        /// The member.
        entry: String,
    },
    /// A trial restore ([`trial`]) left something on disk that differs from the record.
    #[error("extract {entry:?} in a trial restore: {what}")]
    TrialMismatch {
        /// The entry.
        entry: String,
        /// What differs.
        what: &'static str,
    },
    /// A target path has no parent directory or no file name.
    #[error("restore to {path}: the target needs a parent directory and a file name")]
    BadTarget {
        /// The target.
        path: PathBuf,
    },
}

impl ArchiveError {
    pub(crate) fn io(action: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> Self {
        let path = path.to_path_buf();
        move |source| Self::Io {
            action,
            path,
            source,
        }
    }

    pub(crate) fn refused(entry: impl Into<String>, reason: Refusal) -> Self {
        Self::Refused {
            entry: entry.into(),
            reason,
        }
    }

    /// The refusal, when the archive was refused.
    pub fn refusal(&self) -> Option<&Refusal> {
        match self {
            Self::Refused { reason, .. } => Some(reason),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compression_extensions_round_trip() {
        for c in [Compression::Zstd, Compression::Gzip, Compression::None] {
            let path = PathBuf::from(format!("/b/backup-1.{}", c.extension()));
            assert_eq!(Compression::from_path(&path), Some(c));
        }
        assert_eq!(Compression::from_path(Path::new("x.zip")), None);
        assert_eq!(CreateOptions::default().level, 3);
    }

    #[test]
    fn refusal_messages_name_the_member_and_reason() {
        let err = ArchiveError::refused("etc/../x", Refusal::Traversal);
        assert_eq!(
            err.to_string(),
            "accept archive member \"etc/../x\": path traversal (`..`)"
        );
        assert_eq!(err.refusal(), Some(&Refusal::Traversal));
    }
}
