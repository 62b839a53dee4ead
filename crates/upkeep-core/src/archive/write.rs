//! Writing archives: walk the roots, stream a tar (GNU long names) through the compressor
//! into a temp file while hashing, fsync, re-read from storage, rename into place.

use std::ffi::OsString;
use std::fs::Metadata;
use std::io::{self, BufWriter, Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use fs_err::os::unix::fs::OpenOptionsExt;

use crate::digest::{self, Hasher, HashingWriter};

use super::read::BUF_SIZE;
use super::rules::{Index, Member, RawKind, Rules, check_label};
use super::{
    ArchiveError, Compression, CreateOptions, Entry, EntryKind, INDEX_NAME, Root, Written,
};

static TMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// Write an archive of `roots` to `dest`, durably and verified.
///
/// The archive goes to a temp file in `dest`'s directory (mode 0600), is fsynced and,
/// meanwhile, re-read through a new descriptor to check its SHA-256, then renamed over
/// `dest` and the directory fsynced. The temp file is removed on any error. Symlinks are stored as they
/// are, wherever they point; a restore accepts one that leaves its root only when the
/// recorded entries list it with that very target.
pub fn create(
    dest: &Path,
    roots: &[Root],
    options: &CreateOptions,
) -> Result<Written, ArchiveError> {
    let dir = dest
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = dest
        .file_name()
        .ok_or_else(|| ArchiveError::BadTarget {
            path: dest.to_path_buf(),
        })?
        .to_string_lossy();
    let n = TMP_COUNTER.fetch_add(1, Ordering::Relaxed);
    let tmp = dir.join(format!(".{name}.upkeep-{}-{n}.tmp", std::process::id()));
    let file = fs_err::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)
        .map_err(ArchiveError::io("create", &tmp))?;
    let result = write_verified(file, &tmp, roots, options).and_then(|mut written| {
        fs_err::rename(&tmp, dest).map_err(ArchiveError::io("rename", &tmp))?;
        crate::atomic::sync_dir(dir).map_err(ArchiveError::io("sync", dir))?;
        written.path = dest.to_path_buf();
        Ok(written)
    });
    if result.is_err() {
        let _ = fs_err::remove_file(&tmp);
    }
    result
}

fn check_labels(roots: &[Root]) -> Result<(), ArchiveError> {
    for (i, root) in roots.iter().enumerate() {
        let invalid = |reason| ArchiveError::InvalidLabel {
            label: root.label.clone(),
            reason,
        };
        check_label(&root.label).map_err(invalid)?;
        if roots[..i].iter().any(|r| r.label == root.label) {
            return Err(invalid("is used twice"));
        }
    }
    Ok(())
}

/// Write, fsync and re-read the archive; the result's `path` is the temp file.
fn write_verified(
    file: fs_err::File,
    tmp: &Path,
    roots: &[Root],
    options: &CreateOptions,
) -> Result<Written, ArchiveError> {
    let out = HashingWriter::new(KickingFile {
        inner: file,
        bytes: 0,
        kicked: 0,
    });
    let encoder = Encoder::new(out, options).map_err(ArchiveError::io("compress", tmp))?;
    let sink = TarSink {
        out: BufWriter::with_capacity(256 * 1024, encoder),
        tmp,
    };
    let (sink, mut written) = walk(sink, roots, tmp)?;
    let encoder = sink
        .out
        .into_inner()
        .map_err(|e| ArchiveError::io("write", tmp)(e.into_error()))?;
    let out = encoder.finish().map_err(ArchiveError::io("write", tmp))?;
    let (out, expected) = out.finish_hex();
    // The fsync (the disk) and the re-read (hashing what the file now holds, from the
    // page cache) overlap; both finish before the archive is renamed into place. The
    // bytes on storage are checked again by every `backup verify` and before a restore.
    let inner = out.inner;
    let (synced, actual) = std::thread::scope(|scope| {
        let sync = scope.spawn(|| inner.sync_all());
        let actual = reread(tmp);
        let synced = sync
            .join()
            .unwrap_or_else(|_| Err(io::Error::other("the fsync thread panicked")));
        (synced, actual)
    });
    synced.map_err(ArchiveError::io("sync", tmp))?;
    let actual = actual?;
    if actual != expected {
        return Err(ArchiveError::WriteVerifyFailed {
            path: tmp.to_path_buf(),
            expected,
            actual,
        });
    }
    written.sha256 = expected;
    written.bytes_out = out.bytes;
    Ok(written)
}

/// Read the written file back through a new descriptor and hash it.
fn reread(tmp: &Path) -> Result<String, ArchiveError> {
    use nix::fcntl::{PosixFadviseAdvice, posix_fadvise};
    let mut file = fs_err::File::open(tmp).map_err(ArchiveError::io("open", tmp))?;
    let _ = posix_fadvise(&file, 0, 0, PosixFadviseAdvice::POSIX_FADV_SEQUENTIAL);
    let mut buf = vec![0; BUF_SIZE];
    let sha256 =
        digest::read_to_end(&mut file, &mut buf).map_err(ArchiveError::io("read back", tmp))?;
    Ok(digest::to_hex(&sha256))
}

/// Where [`walk`] puts what it finds: the tar stream of an archive, or the chunk store.
pub(crate) trait Sink {
    /// Whether the sink keeps tar framing at all; when not, member headers are not even
    /// built (a store backup records its entries instead, and an unchanged tree then
    /// costs little more than its `lstat` calls).
    fn framed(&self) -> bool {
        true
    }
    /// Tar framing: headers (with long names), padding, the index member, the end blocks.
    fn framing(&mut self, bytes: &[u8]) -> io::Result<()>;
    /// Called once each entry is recorded (sockets too), with the host metadata and, for
    /// a further link to a stored file, the member it links to. A file's content follows.
    fn member(&mut self, _entry: &Entry, _meta: &Metadata, _hardlink_to: Option<&str>) {}
    /// The SHA-256 of a regular file (with one link) the sink already holds unchanged, as
    /// its `lstat` metadata shows; the file is then not opened and [`Sink::content`] not
    /// called. Archives hold every file anew: `None`.
    fn unchanged(&mut self, _path: &str, _meta: &Metadata) -> Option<String> {
        None
    }
    /// Store a regular file's content (`meta.len()` bytes from `file`, opened without
    /// following links and checked to be a regular file); returns its SHA-256 in hex.
    fn content(
        &mut self,
        path: &Path,
        meta: &Metadata,
        file: &mut fs_err::File,
        buf: &mut [u8],
    ) -> Result<String, ArchiveError>;
}

impl<S: Sink + ?Sized> Sink for &mut S {
    fn framed(&self) -> bool {
        (**self).framed()
    }

    fn framing(&mut self, bytes: &[u8]) -> io::Result<()> {
        (**self).framing(bytes)
    }

    fn member(&mut self, entry: &Entry, meta: &Metadata, hardlink_to: Option<&str>) {
        (**self).member(entry, meta, hardlink_to);
    }

    fn unchanged(&mut self, path: &str, meta: &Metadata) -> Option<String> {
        (**self).unchanged(path, meta)
    }

    fn content(
        &mut self,
        path: &Path,
        meta: &Metadata,
        file: &mut fs_err::File,
        buf: &mut [u8],
    ) -> Result<String, ArchiveError> {
        (**self).content(path, meta, file, buf)
    }
}

/// Walk `roots` applying the writing rules, handing the sink every member; returns the
/// sink and what was recorded (`path` is `tmp`, `sha256` and `bytes_out` are unset).
pub(crate) fn walk<S: Sink>(
    sink: S,
    roots: &[Root],
    tmp: &Path,
) -> Result<(S, Written), ArchiveError> {
    check_labels(roots)?;
    let mut tar = TarWriter {
        out: sink,
        tmp,
        buf: vec![0; BUF_SIZE],
        rules: Rules::for_writing(roots.iter().map(|r| r.label.clone())),
        written: Written {
            path: tmp.to_path_buf(),
            sha256: String::new(),
            bytes_in: 0,
            bytes_out: 0,
            entries: Vec::new(),
            missing: Vec::new(),
            skipped: Vec::new(),
        },
        links: std::collections::HashMap::new(),
    };
    tar.write_all_roots(roots)?;
    Ok((tar.out, tar.written))
}

/// The archive's sink: everything goes into the (compressing) tar stream.
struct TarSink<'a, W: Write> {
    out: W,
    tmp: &'a Path,
}

impl<W: Write> Sink for TarSink<'_, W> {
    fn framing(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.out.write_all(bytes)
    }

    fn content(
        &mut self,
        path: &Path,
        meta: &Metadata,
        file: &mut fs_err::File,
        buf: &mut [u8],
    ) -> Result<String, ArchiveError> {
        let mut hasher = Hasher::new();
        let mut left = meta.len();
        while left > 0 {
            let want = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
            let n = match file.read(&mut buf[..want]) {
                Ok(0) => {
                    return Err(ArchiveError::Changed {
                        path: path.to_path_buf(),
                    });
                }
                Ok(n) => n,
                Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
                Err(err) => return Err(ArchiveError::io("read", path)(err)),
            };
            hasher.update(&buf[..n]);
            self.out
                .write_all(&buf[..n])
                .map_err(ArchiveError::io("write", self.tmp))?;
            left -= n as u64;
        }
        Ok(hasher.finish_hex())
    }
}

struct TarWriter<'a, S: Sink> {
    out: S,
    tmp: &'a Path,
    buf: Vec<u8>,
    rules: Rules<'static>,
    written: Written,
    /// Files with more than one link, by device and inode: the member stored first, so
    /// that the next link to it within the same root is stored as a hard link to it.
    links: std::collections::HashMap<(u64, u64), (String, String)>,
}

/// A host entry to store: its archive path, host path and metadata (from `lstat`).
struct Item<'p> {
    name: String,
    path: &'p Path,
    meta: Metadata,
}

impl<S: Sink> TarWriter<'_, S> {
    fn write_all_roots(&mut self, roots: &[Root]) -> Result<(), ArchiveError> {
        let mut index = Index { roots: Vec::new() };
        let mut metas = Vec::with_capacity(roots.len());
        for root in roots {
            let meta = match fs_err::symlink_metadata(&root.path) {
                Ok(meta) => Some(meta),
                Err(err) if err.kind() == io::ErrorKind::NotFound => None,
                Err(err) => return Err(ArchiveError::io("inspect", &root.path)(err)),
            };
            index.roots.push((root.label.clone(), meta.is_some()));
            metas.push(meta);
        }
        let text = index.render();
        let header = header_bytes(INDEX_NAME, b'0', None, text.len() as u64, 0o644, None, None)
            .map_err(ArchiveError::io("write", self.tmp))?;
        self.write(&header)?;
        self.write(text.as_bytes())?;
        self.pad(text.len() as u64)?;
        for (root, meta) in roots.iter().zip(metas) {
            let Some(meta) = meta else {
                self.written.missing.push(root.label.clone());
                continue;
            };
            if let Some(kind) = special_kind(&meta) {
                return Err(ArchiveError::UnsupportedRoot {
                    path: root.path.clone(),
                    kind,
                });
            }
            let item = Item {
                name: root.label.clone(),
                path: &root.path,
                meta,
            };
            self.item(&item)?;
        }
        self.write(&[0; 1024])
    }

    /// Store one entry and, for a directory, everything under it in sorted order.
    fn item(&mut self, item: &Item<'_>) -> Result<(), ArchiveError> {
        let ft = item.meta.file_type();
        if ft.is_symlink() {
            let target =
                fs_err::read_link(item.path).map_err(ArchiveError::io("read link", item.path))?;
            let target = target.into_os_string();
            self.member(item, RawKind::Symlink, Some(target.as_bytes()))
        } else if ft.is_file() {
            self.file(item)
        } else if ft.is_dir() {
            self.member(item, RawKind::Dir, None)?;
            self.dir_children(item)
        } else if ft.is_fifo() {
            self.member(item, RawKind::Fifo, None)
        } else if ft.is_char_device() {
            self.member(item, RawKind::CharDevice, None)
        } else if ft.is_block_device() {
            self.member(item, RawKind::BlockDevice, None)
        } else {
            self.not_kept(item)
        }
    }

    /// A socket (or anything else tar cannot hold): no member, but an entry of kind
    /// [`EntryKind::Socket`] in the record, so the backup says what it did not keep.
    fn not_kept(&mut self, item: &Item<'_>) -> Result<(), ArchiveError> {
        let kind = special_kind(&item.meta).unwrap_or("special file");
        let path = super::rules::normalize(item.name.as_bytes())
            .map_err(|reason| ArchiveError::refused(item.name.clone(), reason))?;
        self.written
            .skipped
            .push(format!("{path}: {kind}, not kept"));
        self.written.entries.push(Entry {
            path,
            kind: EntryKind::Socket,
            mode: item.meta.permissions().mode() & 0o7777,
            size: 0,
            sha256: None,
            link: None,
            device: None,
        });
        let entry = self.written.entries.last().expect("just added");
        self.out.member(entry, &item.meta, None);
        Ok(())
    }

    fn dir_children(&mut self, item: &Item<'_>) -> Result<(), ArchiveError> {
        let list_err = ArchiveError::io("read directory", item.path);
        let mut children: Vec<(OsString, Metadata)> = Vec::new();
        for child in fs_err::read_dir(item.path).map_err(list_err)? {
            let child = child.map_err(ArchiveError::io("read directory", item.path))?;
            let meta = child
                .metadata()
                .map_err(ArchiveError::io("inspect", &child.path()))?;
            children.push((child.file_name(), meta));
        }
        children.sort_unstable_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
        let mut path = PathBuf::new();
        for (name, meta) in children {
            path.clone_from(&item.path.to_path_buf());
            path.push(&name);
            let name = name
                .to_str()
                .ok_or_else(|| ArchiveError::NameNotUtf8 { path: path.clone() })?;
            let child = Item {
                name: format!("{}/{name}", item.name),
                path: &path,
                meta,
            };
            self.item(&child)?;
        }
        Ok(())
    }

    /// A regular file: opened without following symlinks or blocking, checked to still be a
    /// regular file, then its header (from `fstat`) and exactly that many bytes, hashed.
    fn file(&mut self, item: &Item<'_>) -> Result<(), ArchiveError> {
        if item.meta.nlink() < 2
            && let Some(sha256) = self.out.unchanged(&item.name, &item.meta)
        {
            let size = item.meta.len();
            self.member(item, RawKind::File, None)?;
            self.pad(size)?;
            let last = self.written.entries.last_mut().expect("just added");
            last.sha256 = Some(sha256);
            self.written.bytes_in += size;
            return Ok(());
        }
        let read_err = ArchiveError::io("read", item.path);
        let mut file = fs_err::OpenOptions::new()
            .read(true)
            .custom_flags(nix::libc::O_NOFOLLOW | nix::libc::O_NONBLOCK)
            .open(item.path)
            .map_err(read_err)?;
        let meta = file
            .metadata()
            .map_err(ArchiveError::io("inspect", item.path))?;
        if !meta.file_type().is_file() {
            return Err(ArchiveError::Changed {
                path: item.path.to_path_buf(),
            });
        }
        let item = Item {
            name: item.name.clone(),
            path: item.path,
            meta,
        };
        if let Some(first) = self.stored_link(&item) {
            return self.hard_link(&item, &first);
        }
        let size = item.meta.len();
        self.member(&item, RawKind::File, None)?;
        let sha256 = self
            .out
            .content(item.path, &item.meta, &mut file, &mut self.buf)?;
        self.pad(size)?;
        let last = self.written.entries.last_mut().expect("just added");
        last.sha256 = Some(sha256);
        self.written.bytes_in += size;
        Ok(())
    }

    /// The member already stored for the file `item` is another link to, under the same
    /// root; else `None`, remembering `item` when the file has more links.
    fn stored_link(&mut self, item: &Item<'_>) -> Option<String> {
        if item.meta.nlink() < 2 {
            return None;
        }
        let label = item.name.split('/').next().unwrap_or_default().to_owned();
        let key = (item.meta.dev(), item.meta.ino());
        if let Some((first_label, first)) = self.links.get(&key) {
            return (*first_label == label).then(|| first.clone());
        }
        self.links.insert(key, (label, item.name.clone()));
        None
    }

    /// A further link to a file already stored under the same root: a hard-link member
    /// naming it, recorded with the first one's content hash (a restore links the two
    /// again instead of making copies).
    fn hard_link(&mut self, item: &Item<'_>, first: &str) -> Result<(), ArchiveError> {
        let (sha256, size) = self
            .written
            .entries
            .iter()
            .rev()
            .find(|e| e.path == first)
            .map(|e| (e.sha256.clone(), e.size))
            .unwrap_or_default();
        self.member(item, RawKind::Hardlink, Some(first.as_bytes()))?;
        let last = self.written.entries.last_mut().expect("just added");
        last.sha256 = sha256;
        last.size = size;
        last.link = None;
        Ok(())
    }

    /// Check a member against the restore rules, record it and write its header.
    fn member(
        &mut self,
        item: &Item<'_>,
        kind: RawKind,
        link: Option<&[u8]>,
    ) -> Result<(), ArchiveError> {
        let size = if kind == RawKind::File {
            item.meta.len()
        } else {
            0
        };
        let mode = item.meta.permissions().mode() & 0o7777;
        let device = matches!(kind, RawKind::CharDevice | RawKind::BlockDevice).then(|| {
            let rdev = item.meta.rdev();
            let number = |n: u64| u32::try_from(n).unwrap_or(u32::MAX);
            (
                number(nix::sys::stat::major(rdev)),
                number(nix::sys::stat::minor(rdev)),
            )
        });
        let accepted = self.rules.check(&Member {
            path: item.name.as_bytes(),
            kind,
            link,
            size,
            mode,
            device,
        })?;
        let type_byte = match kind {
            RawKind::Dir => b'5',
            RawKind::Symlink => b'2',
            RawKind::Hardlink => b'1',
            RawKind::CharDevice => b'3',
            RawKind::BlockDevice => b'4',
            RawKind::Fifo => b'6',
            _ => b'0',
        };
        // A device number tar cannot hold is refused whether or not the sink frames.
        if self.out.framed() || device.is_some() {
            let owner = Some((item.meta.mtime(), item.meta.uid(), item.meta.gid()));
            let header = header_bytes(&item.name, type_byte, link, size, mode, owner, device)
                .map_err(ArchiveError::io("write", self.tmp))?;
            self.write(&header)?;
        }
        self.written.entries.push(Entry {
            path: accepted.path,
            kind: accepted.kind,
            mode: if accepted.kind == EntryKind::Symlink {
                0o777
            } else {
                mode
            },
            size,
            sha256: None,
            link: accepted.link,
            device,
        });
        let entry = self.written.entries.last().expect("just added");
        self.out
            .member(entry, &item.meta, accepted.hardlink_to.as_deref());
        Ok(())
    }

    fn pad(&mut self, len: u64) -> Result<(), ArchiveError> {
        self.write(padding(len))
    }

    fn write(&mut self, bytes: &[u8]) -> Result<(), ArchiveError> {
        self.out
            .framing(bytes)
            .map_err(ArchiveError::io("write", self.tmp))
    }
}

/// The zeros that pad `len` bytes of member data to a whole 512-byte block.
pub(crate) fn padding(len: u64) -> &'static [u8] {
    let rem = usize::try_from(len % 512).expect("below 512");
    if rem == 0 { &[] } else { &[0; 512][rem..] }
}

/// A tar header as this module writes it, preceded by GNU long-name blocks for a path or
/// link target over 100 bytes. `owner` is (mtime, uid, gid).
pub(crate) fn header_bytes(
    name: &str,
    type_byte: u8,
    link: Option<&[u8]>,
    size: u64,
    mode: u32,
    owner: Option<(i64, u32, u32)>,
    device: Option<(u32, u32)>,
) -> io::Result<Vec<u8>> {
    let mut out = Vec::with_capacity(512);
    let name = name.as_bytes();
    if name.len() > 100 {
        long_name(&mut out, b'L', name);
    }
    if let Some(link) = link.filter(|l| l.len() > 100) {
        long_name(&mut out, b'K', link);
    }
    let mut header = tar::Header::new_gnu();
    let old = header.as_old_mut();
    old.name[..name.len().min(100)].copy_from_slice(&name[..name.len().min(100)]);
    if let Some(link) = link {
        old.linkname[..link.len().min(100)].copy_from_slice(&link[..link.len().min(100)]);
    }
    header.set_entry_type(tar::EntryType::new(type_byte));
    header.set_size(size);
    header.set_mode(mode);
    let (mtime, uid, gid) = owner.unwrap_or((0, 0, 0));
    header.set_mtime(u64::try_from(mtime).unwrap_or(0));
    header.set_uid(u64::from(uid));
    header.set_gid(u64::from(gid));
    if let Some((major, minor)) = device {
        header.set_device_major(major)?;
        header.set_device_minor(minor)?;
    }
    header.set_cksum();
    out.extend_from_slice(header.as_bytes());
    Ok(out)
}

fn long_name(out: &mut Vec<u8>, type_byte: u8, name: &[u8]) {
    let mut header = tar::Header::new_gnu();
    let marker = b"././@LongLink";
    header.as_old_mut().name[..marker.len()].copy_from_slice(marker);
    header.set_entry_type(tar::EntryType::new(type_byte));
    header.set_size(name.len() as u64 + 1);
    header.set_mode(0o644);
    header.set_cksum();
    out.extend_from_slice(header.as_bytes());
    out.extend_from_slice(name);
    out.push(0);
    out.extend_from_slice(padding(name.len() as u64 + 1));
}

fn special_kind(meta: &Metadata) -> Option<&'static str> {
    let ft = meta.file_type();
    if ft.is_fifo() {
        Some("FIFO")
    } else if ft.is_socket() {
        Some("socket")
    } else if ft.is_block_device() {
        Some("block device")
    } else if ft.is_char_device() {
        Some("character device")
    } else {
        None
    }
}

/// The archive file, counting what is written to it and starting writeback every
/// [`KICK_EVERY`] bytes so the final fsync has little left to wait for. (The hash of what
/// it holds is taken by the [`HashingWriter`] around it.)
struct KickingFile {
    inner: fs_err::File,
    bytes: u64,
    kicked: u64,
}

/// How much written output starts a round of writeback.
const KICK_EVERY: u64 = 32 << 20;

impl Write for KickingFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.bytes += n as u64;
        if self.bytes - self.kicked >= KICK_EVERY {
            use nix::fcntl::{PosixFadviseAdvice, posix_fadvise};
            // On dirty pages DONTNEED starts asynchronous writeback and returns.
            let (start, len) = (self.kicked, self.bytes - self.kicked);
            let (start, len) = (
                i64::try_from(start).unwrap_or(0),
                i64::try_from(len).unwrap_or(0),
            );
            let _ = posix_fadvise(
                &self.inner,
                start,
                len,
                PosixFadviseAdvice::POSIX_FADV_DONTNEED,
            );
            self.kicked = self.bytes;
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

enum Encoder {
    Zstd(Box<zstd::stream::write::Encoder<'static, HashingWriter<KickingFile>>>),
    Gzip(Box<flate2::write::GzEncoder<HashingWriter<KickingFile>>>),
    Plain(HashingWriter<KickingFile>),
}

impl Encoder {
    fn new(out: HashingWriter<KickingFile>, options: &CreateOptions) -> io::Result<Self> {
        Ok(match options.compression {
            Compression::Zstd => {
                let mut encoder = zstd::stream::write::Encoder::new(out, options.level)?;
                let threads = match options.threads {
                    0 => std::thread::available_parallelism()
                        .map_or(1, |n| u32::try_from(n.get()).unwrap_or(1)),
                    n => n,
                };
                encoder.multithread(threads)?;
                encoder.include_checksum(true)?;
                Self::Zstd(Box::new(encoder))
            }
            Compression::Gzip => {
                let level = u32::try_from(options.level.clamp(0, 9)).unwrap_or(6);
                Self::Gzip(Box::new(flate2::write::GzEncoder::new(
                    out,
                    flate2::Compression::new(level),
                )))
            }
            Compression::None => Self::Plain(out),
        })
    }

    fn finish(self) -> io::Result<HashingWriter<KickingFile>> {
        match self {
            Self::Zstd(e) => e.finish(),
            Self::Gzip(e) => e.finish(),
            Self::Plain(w) => Ok(w),
        }
    }
}

impl Write for Encoder {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Self::Zstd(e) => e.write(buf),
            Self::Gzip(e) => e.write(buf),
            Self::Plain(w) => w.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Self::Zstd(e) => e.flush(),
            Self::Gzip(e) => e.flush(),
            Self::Plain(w) => w.flush(),
        }
    }
}
