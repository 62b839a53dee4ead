//! Pack files: [`MAGIC`], then compressed chunks (one zstd frame each) back to back.
//! [`Writer`] appends and seals them (fsync, then a re-read compared by SHA-256);
//! [`Reader`] reads one chunk by the ledger's index and checks it.

use std::collections::HashMap;
use std::io::{self, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use fs_err::os::unix::fs::OpenOptionsExt;

use super::{StoreError, packs_dir};
use crate::digest;
use crate::state::store::{ChunkId, ChunkLoc, NewChunk, NewPack, StoreIndex};

/// The first bytes of every pack.
pub(crate) const MAGIC: &[u8; 8] = b"UPKPACK1";

/// A pack is sealed once it holds this much.
pub(crate) const PACK_TARGET: u64 = 32 << 20;

/// Decompressed frames of several chunks a [`Reader`] keeps, so that reading the members
/// of a few frames in turn (as two writer threads interleave them) decompresses each once.
const FRAMES_KEPT: usize = 4;

/// Reads chunks, keeping each pack it opened open.
pub(crate) struct Reader<'i> {
    dir: PathBuf,
    index: &'i StoreIndex,
    open: HashMap<i64, fs_err::File>,
    frame: Vec<u8>,
    decompressor: Option<zstd::bulk::Decompressor<'static>>,
    /// Recently decompressed frames of several chunks, by pack and offset, newest last.
    frames: Vec<((i64, u64), Vec<u8>)>,
}

impl<'i> Reader<'i> {
    pub(crate) fn new(state_dir: &Path, index: &'i StoreIndex) -> Self {
        Self {
            dir: packs_dir(state_dir),
            index,
            open: HashMap::new(),
            frame: Vec::new(),
            decompressor: zstd::bulk::Decompressor::new().ok(),
            frames: Vec::new(),
        }
    }

    /// The uncompressed length the index records for chunk `id`.
    pub(crate) fn raw_length(&self, id: &ChunkId) -> Result<u64, StoreError> {
        self.index
            .chunks
            .get(id)
            .map(|loc| loc.raw_length)
            .ok_or_else(|| StoreError::MissingChunk {
                id: hex::encode(id),
            })
    }

    /// The compressed frame holding chunk `id` and that frame's decompressed length, the
    /// chunk checked (decompressed and hashed) first.
    pub(crate) fn frame(&mut self, id: &ChunkId) -> Result<(Vec<u8>, u64), StoreError> {
        self.chunk(id, true)?;
        let loc = self.index.chunks[id];
        self.read_frame(id, &loc)?;
        Ok((self.frame.clone(), loc.frame_raw))
    }

    /// The uncompressed bytes of chunk `id`: its frame read where the index says, its
    /// length checked, and with `check` its SHA-256 compared with `id`.
    pub(crate) fn chunk(&mut self, id: &ChunkId, check: bool) -> Result<Vec<u8>, StoreError> {
        let hex_id = || hex::encode(id);
        let loc = *self
            .index
            .chunks
            .get(id)
            .ok_or_else(|| StoreError::MissingChunk { id: hex_id() })?;
        let bad = |what: String| StoreError::BadChunk { id: hex_id(), what };
        let too_long = |n: u64| usize::try_from(n).map_err(|_| bad("too long".into()));
        let (length, raw_length, frame_raw) = (
            too_long(loc.length)?,
            too_long(loc.raw_length)?,
            too_long(loc.frame_raw)?,
        );
        let end = loc.inner.checked_add(loc.raw_length);
        if frame_raw > 64 << 20
            || length > frame_raw + 1024
            || end.is_none_or(|e| e > loc.frame_raw)
        {
            return Err(bad("the index gives impossible lengths".into()));
        }
        let inner = too_long(loc.inner)?;
        let raw = if loc.inner == 0 && loc.raw_length == loc.frame_raw {
            self.read_frame(id, &loc)?;
            self.decompress(frame_raw).map_err(bad)?
        } else {
            let key = (loc.pack, loc.offset);
            let at = if let Some(at) = self.frames.iter().position(|(k, _)| *k == key) {
                at
            } else {
                self.read_frame(id, &loc)?;
                let whole = self.decompress(frame_raw).map_err(bad)?;
                if self.frames.len() == FRAMES_KEPT {
                    self.frames.remove(0);
                }
                self.frames.push((key, whole));
                self.frames.len() - 1
            };
            // Against the frame as decompressed: a member forged to reach past it (its
            // frame kept from another member's read) is refused, not a panic.
            self.frames[at]
                .1
                .get(inner..inner + raw_length)
                .ok_or_else(|| bad("the index gives impossible lengths".into()))?
                .to_vec()
        };
        if check && digest::bytes(&raw) != *id {
            return Err(bad("its content does not match its SHA-256".into()));
        }
        Ok(raw)
    }

    /// Read chunk `id`'s compressed frame into `self.frame`.
    fn read_frame(&mut self, id: &ChunkId, loc: &ChunkLoc) -> Result<(), StoreError> {
        let bad = |what: String| StoreError::BadChunk {
            id: hex::encode(id),
            what,
        };
        let pack = self
            .index
            .packs
            .get(&loc.pack)
            .ok_or_else(|| bad("its pack is not in the index".into()))?;
        let file = match self.open.entry(loc.pack) {
            std::collections::hash_map::Entry::Occupied(o) => o.into_mut(),
            std::collections::hash_map::Entry::Vacant(v) => {
                let path = self.dir.join(&pack.name);
                v.insert(fs_err::File::open(&path).map_err(StoreError::io("open", &path))?)
            }
        };
        self.frame
            .resize(usize::try_from(loc.length).unwrap_or(usize::MAX), 0);
        file.file()
            .read_exact_at(&mut self.frame, loc.offset)
            .map_err(|e| bad(format!("truncated pack {}: {e}", pack.name)))
    }

    /// Decompress `self.frame`, which must give exactly `raw` bytes.
    fn decompress(&mut self, raw: usize) -> Result<Vec<u8>, String> {
        let out = match &mut self.decompressor {
            Some(d) => d.decompress(&self.frame, raw),
            None => zstd::bulk::decompress(&self.frame, raw),
        }
        .map_err(|e| format!("does not decompress: {e}"))?;
        if out.len() != raw {
            return Err("decompresses to another length".into());
        }
        Ok(out)
    }
}

/// Small chunks gathered to be compressed as one frame (each compressed alone, small files
/// lose the context a tar stream compresses them in: a tenth of their size here).
#[derive(Debug, Default)]
pub(crate) struct Group {
    raw: Vec<u8>,
    /// Each member's id, offset in `raw` and length.
    members: Vec<(ChunkId, u64, u64)>,
}

/// A chunk in a frame: its id, its offset in the decompressed frame and its length.
pub(crate) type Member = (ChunkId, u64, u64);

/// A compressed frame and the chunks it holds.
#[derive(Debug)]
pub(crate) struct Frame {
    /// The zstd frame.
    pub(crate) bytes: Vec<u8>,
    /// Its decompressed length.
    pub(crate) raw: u64,
    /// Each chunk's id, offset in the decompressed frame and length.
    pub(crate) members: Vec<(ChunkId, u64, u64)>,
}

impl Group {
    /// A chunk of at most this size joins a group; larger ones are a frame each.
    pub(crate) const SMALL: usize = 128 << 10;
    /// A group is compressed once it holds this much.
    pub(crate) const TARGET: usize = 2 << 20;

    /// The chunks it holds: id, offset and length.
    pub(crate) fn members(&self) -> &[Member] {
        &self.members
    }

    /// Add a chunk; returns whether the group is full.
    pub(crate) fn push(&mut self, id: ChunkId, data: &[u8]) -> bool {
        self.members
            .push((id, self.raw.len() as u64, data.len() as u64));
        self.raw.extend_from_slice(data);
        self.raw.len() >= Self::TARGET
    }

    /// Compress what the group holds (nothing when empty), leaving it empty.
    pub(crate) fn take(
        &mut self,
        compressor: &mut zstd::bulk::Compressor<'_>,
    ) -> std::io::Result<Option<Frame>> {
        if self.members.is_empty() {
            return Ok(None);
        }
        let bytes = compressor.compress(&self.raw)?;
        let frame = Frame {
            bytes,
            raw: self.raw.len() as u64,
            members: std::mem::take(&mut self.members),
        };
        self.raw.clear();
        Ok(Some(frame))
    }
}

/// Appends compressed chunks to pack files, sealing each at [`PACK_TARGET`].
pub(crate) struct Writer {
    dir: PathBuf,
    current: Option<Open>,
    /// Packs sealed so far (flushed, writeback started; fsynced by [`Writer::finish`]).
    pub(crate) sealed: Vec<NewPack>,
    /// Their open files, for the fsync.
    files: Vec<fs_err::File>,
    /// The CRC-32 of each, as written.
    crcs: Vec<u32>,
    /// Compressed bytes written.
    pub(crate) bytes: u64,
    /// Free space to leave: checked before each pack is started.
    floor: Option<u64>,
}

struct Open {
    path: PathBuf,
    out: CrcWriter<io::BufWriter<fs_err::File>>,
    pack: NewPack,
}

/// A writer that keeps the CRC-32 of what went through it: what a pack's read-back is
/// compared with. (The SHA-256 the ledger records is taken from the read-back itself, so
/// each pack is hashed once, not twice: hashing was a quarter of a first backup's CPU.)
struct CrcWriter<W> {
    inner: W,
    crc: crc32fast::Hasher,
}

impl<W: Write> Write for CrcWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.crc.update(&buf[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

impl Writer {
    pub(crate) fn new(state_dir: &Path) -> Result<Self, StoreError> {
        let dir = packs_dir(state_dir);
        ensure_private_dir(&dir)?;
        Ok(Self {
            dir,
            current: None,
            sealed: Vec::new(),
            files: Vec::new(),
            crcs: Vec::new(),
            bytes: 0,
            floor: None,
        })
    }

    /// Refuse to start a pack that could leave less than `floor` bytes free.
    pub(crate) fn with_floor(self, floor: u64) -> Self {
        Self {
            floor: Some(floor),
            ..self
        }
    }

    /// Whether one more pack (at most [`PACK_TARGET`] and a largest chunk) fits above the
    /// floor.
    fn check_floor(&self) -> Result<(), StoreError> {
        let Some(floor) = self.floor else {
            return Ok(());
        };
        let available = crate::paths::available_bytes(&self.dir)
            .map_err(StoreError::io("ask for the free space of", &self.dir))?;
        let needed = PACK_TARGET + u64::from(super::write::CHUNK_SIZES.2);
        if available < floor.saturating_add(needed) {
            return Err(StoreError::LowSpace {
                available,
                written: self.bytes,
                needed,
            });
        }
        Ok(())
    }

    /// Append one compressed chunk (a frame of its own).
    pub(crate) fn append(
        &mut self,
        id: ChunkId,
        frame: &[u8],
        raw_length: u64,
    ) -> Result<(), StoreError> {
        self.append_frame(frame, raw_length, &[(id, 0, raw_length)])
    }

    /// Append one compressed frame holding `members` (id, offset in the decompressed frame,
    /// length), `raw` bytes once decompressed.
    pub(crate) fn append_frame(
        &mut self,
        frame: &[u8],
        raw: u64,
        members: &[(ChunkId, u64, u64)],
    ) -> Result<(), StoreError> {
        if self.current.is_none() {
            self.current = Some(self.open()?);
        }
        let open = self.current.as_mut().expect("just opened");
        open.out
            .write_all(frame)
            .map_err(StoreError::io("write", &open.path))?;
        for &(id, inner, raw_length) in members {
            open.pack.chunks.push(NewChunk {
                id,
                offset: open.pack.bytes,
                length: frame.len() as u64,
                raw_length,
                inner,
                frame_raw: raw,
            });
        }
        open.pack.bytes += frame.len() as u64;
        self.bytes += frame.len() as u64;
        if open.pack.bytes >= PACK_TARGET {
            self.seal()?;
        }
        Ok(())
    }

    fn open(&self) -> Result<Open, StoreError> {
        self.check_floor()?;
        let mut random = [0u8; 16];
        getrandom::fill(&mut random).map_err(|e| StoreError::Io {
            action: "name a pack",
            path: self.dir.clone(),
            source: io::Error::other(e.to_string()),
        })?;
        let name = format!("{}.pack", hex::encode(random));
        let path = self.dir.join(&name);
        let file = fs_err::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
            .map_err(StoreError::io("create", &path))?;
        let mut out = CrcWriter {
            inner: io::BufWriter::with_capacity(1 << 20, file),
            crc: crc32fast::Hasher::new(),
        };
        out.write_all(MAGIC)
            .map_err(StoreError::io("write", &path))?;
        Ok(Open {
            path,
            out,
            pack: NewPack {
                name,
                bytes: MAGIC.len() as u64,
                sha256: String::new(),
                chunks: Vec::new(),
            },
        })
    }

    /// Flush the open pack, if any, and start its writeback (so the final fsync has
    /// little left to wait for, and writing the next pack is not held up by it).
    pub(crate) fn seal(&mut self) -> Result<(), StoreError> {
        use nix::fcntl::{PosixFadviseAdvice, posix_fadvise};
        let Some(open) = self.current.take() else {
            return Ok(());
        };
        let crc = open.out.crc.finalize();
        let file = open
            .out
            .inner
            .into_inner()
            .map_err(|e| StoreError::io("write", &open.path)(e.into_error()))?;
        // On dirty pages DONTNEED starts asynchronous writeback and returns.
        let _ = posix_fadvise(&file, 0, 0, PosixFadviseAdvice::POSIX_FADV_DONTNEED);
        self.files.push(file);
        self.crcs.push(crc);
        self.sealed.push(open.pack);
        Ok(())
    }

    /// Seal the open pack, fsync every pack and the directory, and read every pack back,
    /// comparing its CRC-32 with what was written and taking its SHA-256. Returns the packs
    /// to record.
    pub(crate) fn finish(mut self) -> Result<Vec<NewPack>, StoreError> {
        self.seal()?;
        if self.sealed.is_empty() {
            return Ok(self.sealed);
        }
        // A test damages a sealed pack here to see the read-back refuse it.
        #[cfg(feature = "failpoints")]
        if fail::eval("store::pack-damaged", |_| ()).is_some() {
            let path = self.dir.join(&self.sealed[0].name);
            let file = fs_err::OpenOptions::new().write(true).open(&path);
            let _ = file.map(|f| f.file().write_at(b"\xff", MAGIC.len() as u64 + 1));
        }
        // The fsyncs (the disk) and the re-reads (hashing what each file now holds, on two
        // threads) overlap; all finish before anything is recorded.
        let files = std::mem::take(&mut self.files);
        let dir = &self.dir;
        let (synced, checked) = std::thread::scope(|scope| {
            let sync = scope.spawn(|| {
                for file in &files {
                    file.sync_all()
                        .map_err(StoreError::io("sync", file.path()))?;
                }
                crate::atomic::sync_dir(dir).map_err(StoreError::io("sync", dir))
            });
            let (even, odd): (Vec<_>, Vec<_>) = self
                .sealed
                .iter_mut()
                .zip(&self.crcs)
                .enumerate()
                .partition(|(i, _)| i % 2 == 0);
            let other = scope.spawn(|| reread(dir, odd.into_iter().map(|(_, p)| p)));
            let mine = reread(dir, even.into_iter().map(|(_, p)| p));
            let other = other.join().expect("a re-read does not panic");
            let synced = sync.join().expect("an fsync does not panic");
            (synced, mine.and(other))
        });
        // A pack that did not sync or read back is removed with the others: nothing of a
        // refused backup stays behind.
        if let Err(err) = synced.and(checked) {
            self.discard();
            return Err(err);
        }
        Ok(self.sealed)
    }

    /// Remove every pack this writer created (nothing recorded them).
    pub(crate) fn discard(self) {
        let names = self
            .sealed
            .iter()
            .map(|p| p.name.clone())
            .chain(self.current.iter().map(|o| o.pack.name.clone()));
        for name in names {
            let _ = fs_err::remove_file(self.dir.join(name));
        }
    }
}

/// Read packs back, compare each one's CRC-32 with what was written and record its
/// SHA-256.
fn reread<'p>(
    dir: &Path,
    packs: impl Iterator<Item = (&'p mut NewPack, &'p u32)>,
) -> Result<(), StoreError> {
    let mut buf = vec![0; 1 << 20];
    for (pack, written) in packs {
        let path = dir.join(&pack.name);
        let mut file = fs_err::File::open(&path).map_err(StoreError::io("open", &path))?;
        let mut sha = digest::Hasher::new();
        let mut crc = crc32fast::Hasher::new();
        loop {
            match io::Read::read(&mut file, &mut buf) {
                Ok(0) => break,
                Ok(n) => {
                    sha.update(&buf[..n]);
                    crc.update(&buf[..n]);
                }
                Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                Err(err) => return Err(StoreError::io("read back", &path)(err)),
            }
        }
        let actual = crc.finalize();
        if actual != *written {
            return Err(StoreError::PackVerifyFailed {
                path,
                expected: format!("CRC-32 {written:08x}"),
                actual: format!("CRC-32 {actual:08x}"),
            });
        }
        pack.sha256 = sha.finish_hex();
    }
    Ok(())
}

/// Remove the packs of `packs` (written but not recorded).
pub(crate) fn remove_packs(state_dir: &Path, packs: &[NewPack]) {
    let dir = packs_dir(state_dir);
    for pack in packs {
        let _ = fs_err::remove_file(dir.join(&pack.name));
    }
}

pub(crate) fn ensure_private_dir(dir: &Path) -> Result<(), StoreError> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(StoreError::io("create the store directory", dir))
}
