//! Reading archives: the decompressor chain, one pass over the members with every rule of
//! [`super::rules`] applied, and [`verify`].

use std::cell::Cell;
use std::collections::HashMap;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::path::Path;
use std::rc::Rc;

use crate::digest::{Hasher, HashingReader};

use super::rules::{Accepted, Index, MAX_INDEX_BYTES, Member, OVERHEAD_BASE, RawKind, Rules};
use super::{ArchiveError, Entry, EntryKind, Expected, INDEX_NAME, Refusal, Verified};

/// Size of the buffers between the file, the decompressor and the members.
pub(crate) const BUF_SIZE: usize = 1 << 20;

/// Verify an archive without writing anything: its checksum, every member against the
/// rules (and the recorded entries, if any), and every file's content hash.
pub fn verify(archive: &Path, expected: &Expected<'_>) -> Result<Verified, ArchiveError> {
    verify_from(Source::File(archive), expected)
}

/// [`verify`] over any [`Source`].
pub fn verify_from(source: Source<'_>, expected: &Expected<'_>) -> Result<Verified, ArchiveError> {
    let mut hashes: HashMap<String, String> = HashMap::new();
    // A hard link is recorded with its target's size, as the rules check it.
    let mut sizes: HashMap<String, u64> = HashMap::new();
    let mut entries = Vec::new();
    let mut buf = vec![0; BUF_SIZE];
    let mut visit = |member: &Visit<'_>, data: &mut dyn Read| {
        let sha256 = match (&member.accepted.hardlink_to, member.accepted.kind) {
            (Some(target), _) => hashes.get(target).cloned(),
            (None, EntryKind::File) => {
                let digest = copy_member(data, member.size, &mut io::sink(), &mut buf)
                    .map_err(|e| e.into_error(member, Path::new("")))?;
                Some(hex::encode(digest))
            }
            (None, _) => None,
        };
        if let (Some(actual), Some(recorded)) = (&sha256, member.recorded_sha256)
            && actual != recorded
        {
            return Err(ArchiveError::refused(
                member.accepted.path.clone(),
                Refusal::HashMismatch,
            ));
        }
        if let Some(sha) = &sha256 {
            hashes.insert(member.accepted.path.clone(), sha.clone());
        }
        let size = match &member.accepted.hardlink_to {
            Some(target) => sizes.get(target).copied().unwrap_or(member.size),
            None => member.size,
        };
        if member.accepted.kind == EntryKind::File {
            sizes.insert(member.accepted.path.clone(), size);
        }
        entries.push(Entry {
            path: member.accepted.path.clone(),
            kind: member.accepted.kind,
            mode: if member.accepted.kind == EntryKind::Symlink {
                0o777
            } else {
                member.mode
            },
            size,
            sha256,
            link: member.accepted.link.clone(),
            device: member.device,
        });
        Ok(())
    };
    let scanned = scan(source, true, expected, None, &mut visit)?;
    let (present, missing) = scanned.index.split();
    Ok(Verified {
        entries,
        present,
        missing,
        bytes: scanned.content_bytes,
    })
}

/// One accepted member, as handed to a visitor.
#[derive(Debug)]
pub(crate) struct Visit<'a> {
    pub(crate) accepted: &'a Accepted,
    pub(crate) mode: u32,
    pub(crate) size: u64,
    pub(crate) mtime: i64,
    pub(crate) uid: u32,
    pub(crate) gid: u32,
    pub(crate) recorded_sha256: Option<&'a str>,
    /// A device's major and minor numbers.
    pub(crate) device: Option<(u32, u32)>,
}

/// What one pass found.
#[derive(Debug)]
pub(crate) struct Scanned {
    pub(crate) index: Index,
    pub(crate) content_bytes: u64,
}

impl Index {
    /// Present and missing labels, each in index order.
    pub(crate) fn split(&self) -> (Vec<String>, Vec<String>) {
        let pick = |want: bool| {
            self.roots
                .iter()
                .filter(|(_, present)| *present == want)
                .map(|(label, _)| label.clone())
                .collect()
        };
        (pick(true), pick(false))
    }
}

/// The visitor of a pass: gets each accepted member and a reader of its data (which it
/// may leave unread).
pub(crate) type Visitor<'v> = dyn FnMut(&Visit<'_>, &mut dyn Read) -> Result<(), ArchiveError> + 'v;

/// Where a pass reads its tar stream from.
#[derive(Clone, Copy)]
pub enum Source<'a> {
    /// An archive file: its SHA-256 is compared with [`Expected::sha256`] and its
    /// decompressor is picked from its first bytes.
    File(&'a Path),
    /// A plain tar stream made on demand (the chunk store's, see `crate::store`), opened
    /// once per pass. Its integrity is the producer's to check (the store checks its tree
    /// hash and every file's hash); [`Expected::sha256`] is not used. The flag says whether
    /// the pass reads file content: when it is `false` the producer may stand zeros in for
    /// it, since only headers are checked.
    Stream(&'a dyn Fn(bool) -> io::Result<Box<dyn Read + 'a>>),
}

impl std::fmt::Debug for Source<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::File(path) => f.debug_tuple("File").field(path).finish(),
            Self::Stream(_) => f.write_str("Stream"),
        }
    }
}

/// One pass over an archive: hash the file, decompress, check the index and every member,
/// hand each accepted member to `visit`, and check the end of the stream. `data` says
/// whether the visitor reads file content (see [`Source::Stream`]).
///
/// `targets` are the labels a restore has targets for (`None`: any label of the index).
/// A checksum mismatch takes precedence over any other failure.
pub(crate) fn scan(
    source: Source<'_>,
    data: bool,
    expected: &Expected<'_>,
    targets: Option<&[String]>,
    visit: &mut Visitor<'_>,
) -> Result<Scanned, ArchiveError> {
    let path = match source {
        Source::File(path) => path,
        Source::Stream(open) => {
            let reader = open(data).map_err(|e| corrupt("(stream)", &e))?;
            return walk_stream(reader, expected, targets, visit).0;
        }
    };
    let file = fs_err::File::open(path).map_err(ArchiveError::io("open", path))?;
    let _ = nix::fcntl::posix_fadvise(
        &file,
        0,
        0,
        nix::fcntl::PosixFadviseAdvice::POSIX_FADV_SEQUENTIAL,
    );
    let mut raw = BufReader::with_capacity(BUF_SIZE, HashingReader::new(file));
    let kind = DecoderKind::detect(&mut raw).map_err(ArchiveError::io("read", path))?;
    let decoder = kind.open(raw).map_err(|e| corrupt("(stream)", &e))?;
    let (result, rest) = walk_stream(decoder, expected, targets, visit);
    let mut hashing = rest.into_hashing();
    io::copy(&mut hashing, &mut io::sink()).map_err(ArchiveError::io("read", path))?;
    let actual = hashing.finish_hex();
    if actual != expected.sha256 {
        return Err(ArchiveError::ChecksumMismatch {
            expected: expected.sha256.to_owned(),
            actual,
        });
    }
    result
}

/// Walk the members of a decompressed tar stream and check its end; gives the stream back.
fn walk_stream<R: Read>(
    reader: R,
    expected: &Expected<'_>,
    targets: Option<&[String]>,
    visit: &mut Visitor<'_>,
) -> (Result<Scanned, ArchiveError>, R) {
    let limit = Rc::new(Limit::default());
    limit.allowed.set(OVERHEAD_BASE);
    let mut archive = tar::Archive::new(Limited {
        inner: reader,
        limit: Rc::clone(&limit),
    });
    let mut last = String::from("(start)");
    let mut result = walk_members(&mut archive, &limit, expected, targets, visit, &mut last);
    let mut rest = archive.into_inner();
    if result.is_ok() {
        result = check_end(&mut rest, &last).map(|()| result.expect("checked"));
    }
    if result.is_err() && limit.tripped.get() {
        result = Err(ArchiveError::refused(last, Refusal::TooManyBytes));
    }
    (result, rest.inner)
}

fn walk_members<R: Read>(
    archive: &mut tar::Archive<Limited<R>>,
    limit: &Limit,
    expected: &Expected<'_>,
    targets: Option<&[String]>,
    visit: &mut Visitor<'_>,
    last: &mut String,
) -> Result<Scanned, ArchiveError> {
    let mut members = archive.entries().map_err(|e| corrupt(last, &e))?;
    let index = read_index(members.next(), last)?;
    let (present, _) = index.split();
    check_targets(&index, targets)?;
    let mut rules = Rules::new(
        present.iter().cloned(),
        expected.max_bytes,
        expected.entries,
    );
    limit.allowed.set(rules.stream_allowance());
    for member in members {
        let mut member = member.map_err(|e| corrupt(last, &e))?;
        let header = member.header().clone();
        let path = member.path_bytes().into_owned();
        let link = member.link_name_bytes().map(std::borrow::Cow::into_owned);
        last.clear();
        last.push_str(&String::from_utf8_lossy(&path));
        let raw = Member {
            path: &path,
            kind: raw_kind(header.entry_type()),
            link: link.as_deref(),
            size: member.size(),
            mode: header.mode().map_err(|e| corrupt(last, &e))? & 0o7777,
            device: device_of(&header).map_err(|e| corrupt(last, &e))?,
        };
        let accepted = rules.check(&raw)?;
        limit.allowed.set(rules.stream_allowance());
        let size = if raw.kind == RawKind::File {
            raw.size
        } else {
            0
        };
        let visit_member = Visit {
            recorded_sha256: rules.recorded_sha256(&accepted.path),
            accepted: &accepted,
            mode: raw.mode,
            size,
            mtime: header.mtime().map_or(0, |t| i64::try_from(t).unwrap_or(0)),
            uid: header.uid().map_or(0, |u| u32::try_from(u).unwrap_or(0)),
            gid: header.gid().map_or(0, |g| u32::try_from(g).unwrap_or(0)),
            device: raw.device,
        };
        visit(&visit_member, &mut member)?;
    }
    rules.finish()?;
    check_roots_present(&present, &rules)?;
    Ok(Scanned {
        index,
        content_bytes: rules.content_bytes(),
    })
}

/// The first member must be the index.
fn read_index<R: Read>(
    first: Option<io::Result<tar::Entry<'_, R>>>,
    last: &str,
) -> Result<Index, ArchiveError> {
    let missing = || ArchiveError::refused(INDEX_NAME, Refusal::Corrupt("no root index".into()));
    let mut first = first.ok_or_else(missing)?.map_err(|e| corrupt(last, &e))?;
    let is_index = first.path_bytes().as_ref() == INDEX_NAME.as_bytes()
        && raw_kind(first.header().entry_type()) == RawKind::File
        && first.size() <= MAX_INDEX_BYTES;
    if !is_index {
        return Err(missing());
    }
    let mut bytes = Vec::new();
    first
        .read_to_end(&mut bytes)
        .map_err(|e| corrupt(INDEX_NAME, &e))?;
    Index::parse(&bytes)
}

/// Every label of the index needs a target; every target needs a label in the index.
fn check_targets(index: &Index, targets: Option<&[String]>) -> Result<(), ArchiveError> {
    let Some(targets) = targets else {
        return Ok(());
    };
    if let Some((label, _)) = index.roots.iter().find(|(l, _)| !targets.contains(l)) {
        return Err(ArchiveError::refused(label.clone(), Refusal::UnknownLabel));
    }
    match targets
        .iter()
        .find(|t| !index.roots.iter().any(|(l, _)| l == *t))
    {
        Some(label) => Err(ArchiveError::LabelNotInArchive {
            label: label.clone(),
        }),
        None => Ok(()),
    }
}

/// Every root the index calls present must have been stored as a member of its own.
fn check_roots_present(present: &[String], rules: &Rules<'_>) -> Result<(), ArchiveError> {
    match present.iter().find(|label| !rules.has_member(label)) {
        Some(label) => Err(ArchiveError::refused(label.clone(), Refusal::MissingEntry)),
        None => Ok(()),
    }
}

/// After the member that ended the listing (one zero block) there must be a second zero
/// block, and nothing but zeros up to the end of the stream.
fn check_end(reader: &mut impl Read, last: &str) -> Result<(), ArchiveError> {
    let no_end =
        || ArchiveError::refused(last, Refusal::Corrupt("no end-of-archive marker".into()));
    let mut block = [0u8; 512];
    reader.read_exact(&mut block).map_err(|_| no_end())?;
    if block.iter().any(|b| *b != 0) {
        return Err(no_end());
    }
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = reader.read(&mut buf).map_err(|e| corrupt(last, &e))?;
        if n == 0 {
            return Ok(());
        }
        if buf[..n].iter().any(|b| *b != 0) {
            return Err(ArchiveError::refused(
                last,
                Refusal::Corrupt("data after the end-of-archive marker".into()),
            ));
        }
    }
}

pub(crate) fn corrupt(member: &str, err: &io::Error) -> ArchiveError {
    ArchiveError::refused(member, Refusal::Corrupt(err.to_string()))
}

/// A device member's major and minor numbers (`None` for any other member).
fn device_of(header: &tar::Header) -> io::Result<Option<(u32, u32)>> {
    if !matches!(header.entry_type().as_byte(), b'3' | b'4') {
        return Ok(None);
    }
    Ok(Some((
        header.device_major()?.unwrap_or(0),
        header.device_minor()?.unwrap_or(0),
    )))
}

/// What a tar type byte means to the rules.
pub(crate) fn raw_kind(kind: tar::EntryType) -> RawKind {
    match kind.as_byte() {
        b'0' | b'\0' => RawKind::File,
        b'1' => RawKind::Hardlink,
        b'2' => RawKind::Symlink,
        b'3' => RawKind::CharDevice,
        b'4' => RawKind::BlockDevice,
        b'5' => RawKind::Dir,
        b'6' => RawKind::Fifo,
        other => RawKind::Other(other),
    }
}

/// A failure while copying a member: reading it (a corrupt archive) or writing it.
#[derive(Debug)]
pub(crate) enum CopyError {
    Read(io::Error),
    Short,
    Write(io::Error),
}

impl CopyError {
    pub(crate) fn into_error(self, member: &Visit<'_>, dest: &Path) -> ArchiveError {
        let name = member.accepted.path.as_str();
        match self {
            Self::Read(err) => corrupt(name, &err),
            Self::Short => ArchiveError::refused(name, Refusal::Corrupt("truncated member".into())),
            Self::Write(source) => ArchiveError::Io {
                action: "write",
                path: dest.to_path_buf(),
                source,
            },
        }
    }
}

/// Copy exactly `size` bytes of a member to `out`, returning their SHA-256.
pub(crate) fn copy_member(
    data: &mut dyn Read,
    size: u64,
    out: &mut dyn Write,
    buf: &mut [u8],
) -> Result<[u8; 32], CopyError> {
    let mut hasher = Hasher::new();
    let mut left = size;
    while left > 0 {
        let want = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
        let n = match data.read(&mut buf[..want]) {
            Ok(0) => return Err(CopyError::Short),
            Ok(n) => n,
            Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
            Err(err) => return Err(CopyError::Read(err)),
        };
        hasher.update(&buf[..n]);
        out.write_all(&buf[..n]).map_err(CopyError::Write)?;
        left -= n as u64;
    }
    Ok(hasher.finish())
}

type RawReader = BufReader<HashingReader<fs_err::File>>;

/// The decompressor, chosen by the first bytes of the file.
enum Decoder {
    Zstd(Box<zstd::stream::read::Decoder<'static, RawReader>>),
    Gzip(Box<flate2::bufread::GzDecoder<RawReader>>),
    Plain(RawReader),
}

#[derive(Debug, Clone, Copy)]
enum DecoderKind {
    Zstd,
    Gzip,
    Plain,
}

impl DecoderKind {
    fn detect(raw: &mut RawReader) -> io::Result<Self> {
        let head = raw.fill_buf()?;
        Ok(if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
            Self::Zstd
        } else if head.starts_with(&[0x1f, 0x8b]) {
            Self::Gzip
        } else {
            Self::Plain
        })
    }

    fn open(self, raw: RawReader) -> io::Result<Decoder> {
        Ok(match self {
            Self::Zstd => {
                let mut decoder = zstd::stream::read::Decoder::with_buffer(raw)?;
                // Refuse frames that ask for more than a 128 MiB window (zstd's own default).
                decoder.window_log_max(27)?;
                Decoder::Zstd(Box::new(decoder))
            }
            Self::Gzip => Decoder::Gzip(Box::new(flate2::bufread::GzDecoder::new(raw))),
            Self::Plain => Decoder::Plain(raw),
        })
    }
}

impl Decoder {
    fn into_hashing(self) -> HashingReader<fs_err::File> {
        match self {
            Self::Zstd(d) => d.finish().into_inner(),
            Self::Gzip(d) => d.into_inner().into_inner(),
            Self::Plain(r) => r.into_inner(),
        }
    }
}

impl Read for Decoder {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Self::Zstd(d) => d.read(buf),
            Self::Gzip(d) => d.read(buf),
            Self::Plain(r) => r.read(buf),
        }
    }
}

/// The decompressed bytes allowed so far, shared between the rules and the reader.
#[derive(Debug, Default)]
pub(crate) struct Limit {
    pub(crate) allowed: Cell<u64>,
    used: Cell<u64>,
    pub(crate) tripped: Cell<bool>,
}

/// Fails once more decompressed bytes were read than [`Limit::allowed`].
pub(crate) struct Limited<R> {
    inner: R,
    limit: Rc<Limit>,
}

impl<R: Read> Read for Limited<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let used = self.limit.used.get();
        let room = self.limit.allowed.get().saturating_sub(used);
        if room == 0 && !buf.is_empty() {
            self.limit.tripped.set(true);
            return Err(io::Error::other("decompressed stream longer than allowed"));
        }
        let want = buf.len().min(usize::try_from(room).unwrap_or(usize::MAX));
        let n = self.inner.read(&mut buf[..want])?;
        self.limit.used.set(used + n as u64);
        Ok(n)
    }
}
