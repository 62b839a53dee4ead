//! Taking a store backup: the archive walker (same rules, same entries) with a sink that
//! cuts files into chunks instead of writing a tar stream. Hashing and compressing run on
//! [`WORKERS`] threads; one thread appends new chunks to packs. A file whose stat fields
//! equal its parent backup's reuses that backup's chunks unread.

use std::collections::{HashMap, HashSet};
use std::fs::Metadata;
use std::io::Read;
use std::path::Path;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::sync::{Arc, Mutex};

use super::pack::{self, Frame, Group, Writer};
use super::{Loaded, MANIFEST_FORMAT, Manifest, Node, Stat, StoreError};
use crate::archive::{ArchiveError, Entry, EntryKind, Root, Sink, Written, walk};
use crate::digest::{self, Hasher};
use crate::state::store::{ChunkId, NewPack, StoreIndex};

/// Threads that hash and compress chunks.
pub(crate) const WORKERS: usize = 2;
/// Content-defined chunking of file content: minimum, average and maximum chunk size.
pub(crate) const CHUNK_SIZES: (u32, u32, u32) = (256 << 10, 1 << 20, 4 << 20);
/// Chunking of the item stream: small, so a changed entry costs a small chunk.
pub(crate) const ITEM_CHUNK_SIZES: (u32, u32, u32) = (2 << 10, 8 << 10, 64 << 10);

/// Maps keyed by chunk ids and paths, hashed with `foldhash` (`SipHash` was a tenth of an
/// unchanged backup's time).
type FastMap<K, V> = HashMap<K, V, foldhash::fast::RandomState>;
type FastSet<K> = HashSet<K, foldhash::fast::RandomState>;

/// The backup whose stat fields and chunks a new one reuses.
#[derive(Debug, Default)]
pub struct Parent {
    /// Its entries in order.
    nodes: Vec<Node>,
    /// The labels whose host path is unchanged: only their files are reused.
    labels: HashSet<String>,
    /// Its roots and item stream's chunks: when the new backup's roots and entries equal
    /// these (nothing changed), its item stream is these chunks, not serialized and cut
    /// again.
    roots: Vec<(String, bool)>,
    items: Vec<ChunkId>,
}

impl Parent {
    /// The files of `loaded` under the labels whose host path is unchanged (`labels`).
    pub fn new(loaded: Loaded, labels: &HashSet<String>) -> Self {
        // Items describe the whole stream: of no use when only some nodes were kept.
        let whole = loaded.nodes.len() as u64 == loaded.manifest.entries;
        Self {
            nodes: loaded.nodes,
            labels: labels.clone(),
            roots: loaded.manifest.roots,
            items: if whole {
                loaded.manifest.items
            } else {
                Vec::new()
            },
        }
    }

    /// Its files that may be reused, by path.
    fn files(&self) -> FastMap<&str, &Node> {
        self.nodes
            .iter()
            .filter(|n| n.stat.is_some() && n.hardlink.is_none())
            .filter(|n| {
                self.labels
                    .contains(n.path.split('/').next().unwrap_or_default())
            })
            .map(|n| (n.path.as_str(), n))
            .collect()
    }
}

/// How [`create`] writes.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// The zstd level of every chunk.
    pub level: i32,
    /// No pack is started that could leave less than this many bytes free.
    pub min_free: u64,
}

/// What [`create`] wrote: the walk's record, the manifest id and the packs to record.
#[derive(Debug)]
pub struct Created {
    /// Entries, missing roots, skipped sockets (`path` and `sha256` unset).
    pub written: Written,
    /// Hex SHA-256 of the manifest chunk.
    pub manifest_id: String,
    /// New packs, sealed and read back; the caller records them with the backup.
    pub packs: Vec<NewPack>,
    /// Compressed bytes the backup added.
    pub bytes_added: u64,
}

impl Created {
    /// Remove the packs (when recording failed).
    pub fn discard(&self, state_dir: &Path) {
        pack::remove_packs(state_dir, &self.packs);
    }
}

/// A chunk on its way to a worker.
struct Job {
    seq: u64,
    data: Vec<u8>,
}

/// A chunk hashed and, if new, compressed.
struct Done {
    /// The sequence number and id of the job hashed (none when only a group is flushed).
    hashed: Option<(u64, ChunkId)>,
    /// A frame to append, or the id of a chunk whose frame could not be compressed.
    frame: Option<Result<Frame, ChunkId>>,
}

/// Which chunks the store holds or this backup has stored already: the index (not copied:
/// it may hold millions) and the ids new in this backup.
#[derive(Clone, Copy)]
struct Known<'a> {
    index: &'a StoreIndex,
    new: &'a Mutex<FastSet<ChunkId>>,
}

impl Known<'_> {
    /// Whether `id` is stored by nobody yet; the first caller for an id stores it.
    fn first(self, id: ChunkId) -> bool {
        !self.index.chunks.contains_key(&id) && self.new.lock().is_ok_and(|mut k| k.insert(id))
    }
}

/// A content chunk of a node: reused (known id) or on its way (sequence number).
#[derive(Debug, Clone)]
enum ChunkRef {
    Id(ChunkId),
    Seq(u64),
}

/// What the sink keeps per entry beside the walker's [`crate::archive::Entry`].
#[derive(Debug, Clone)]
struct Extra {
    mtime: i64,
    uid: u32,
    gid: u32,
    hardlink: Option<String>,
    stat: Option<Stat>,
    chunks: Vec<ChunkRef>,
}

/// The hash a file of one chunk reports until its chunk's id is known.
const PENDING: &str = "pending:";

/// Back up `roots` into the store: walk with the archive rules, chunk, hash, compress,
/// write packs, seal them and read them back. Nothing is recorded here.
///
/// # Errors
/// [`StoreError`]; the packs written are removed then.
pub fn create(
    state_dir: &Path,
    index: &StoreIndex,
    roots: &[Root],
    parent: &Parent,
    limits: Limits,
) -> Result<Created, StoreError> {
    let Limits { level, min_free } = limits;
    let writer = Writer::new(state_dir)?.with_floor(min_free);
    // Ids new in this backup; with the index, every id the store will hold.
    let known = Arc::new(Mutex::new(FastSet::<ChunkId>::default()));
    let files = parent.files();
    let (job_tx, job_rx) = sync_channel::<Job>(WORKERS * 4);
    let (done_tx, done_rx) = sync_channel::<Done>(WORKERS * 4);
    let job_rx = Arc::new(Mutex::new(job_rx));
    let (walked, collected) = std::thread::scope(|scope| {
        for _ in 0..WORKERS {
            let (rx, tx, known) = (Arc::clone(&job_rx), done_tx.clone(), Arc::clone(&known));
            scope.spawn(move || work(&rx, &tx, Known { index, new: &known }, level));
        }
        drop(done_tx);
        let collector = scope.spawn(move || collect(done_rx, writer));
        let mut sink = StoreSink {
            jobs: job_tx,
            next_seq: 0,
            files,
            index,
            extras: Vec::new(),
            last_path: String::new(),
            reused: None,
        };
        let walked = walk(&mut sink, roots, Path::new("(store)")).map(|(_, written)| written);
        let StoreSink { jobs, extras, .. } = sink;
        drop(jobs);
        let collected = collector.join().expect("the pack writer does not panic");
        (walked.map(|written| (written, extras)), collected)
    });
    let (mut writer, ids) = collected?;
    let result = walked.map_err(StoreError::from).and_then(|walked| {
        // The workers are done: their set of new ids is this thread's now.
        let new = known.lock().map(|mut k| std::mem::take(&mut *k));
        let known = Known {
            index,
            new: &Mutex::new(new.unwrap_or_default()),
        };
        seal(&mut writer, roots, walked, &ids, (parent, known), level)
    });
    match result {
        Ok((written, manifest_id)) => {
            let bytes_added = writer.bytes;
            let packs = writer.finish()?;
            Ok(Created {
                written,
                manifest_id,
                packs,
                bytes_added,
            })
        }
        Err(err) => {
            writer.discard();
            Err(err)
        }
    }
}

/// Resolve every pending id, then write the item stream and the manifest.
fn seal(
    writer: &mut Writer,
    roots: &[Root],
    (mut written, extras): (Written, Vec<Extra>),
    ids: &HashMap<u64, ChunkId>,
    (parent, known): (&Parent, Known<'_>),
    level: i32,
) -> Result<(Written, String), StoreError> {
    let nodes = resolve(&mut written, &extras, ids);
    let roots: Vec<(String, bool)> = roots
        .iter()
        .map(|r| (r.label.clone(), !written.missing.contains(&r.label)))
        .collect();
    let unchanged = !parent.items.is_empty() && roots == parent.roots && nodes == parent.nodes;
    let items = if unchanged {
        parent.items.clone()
    } else {
        let mut stream = Vec::new();
        for node in &nodes {
            serde_json::to_writer(&mut stream, node).expect("a node serializes");
            stream.push(b'\n');
        }
        put_items(writer, known, &stream, level)?
    };
    let manifest = Manifest {
        format: MANIFEST_FORMAT.to_owned(),
        roots,
        items,
        entries: nodes.len() as u64,
        bytes: written.bytes_in,
    };
    let bytes = serde_json::to_vec(&manifest).expect("a manifest serializes");
    let id = put(writer, known, &bytes, level)?;
    Ok((written, hex::encode(id)))
}

/// The nodes of the walk's entries, every pending content id resolved.
fn resolve(written: &mut Written, extras: &[Extra], ids: &HashMap<u64, ChunkId>) -> Vec<Node> {
    let id_of = |seq: &u64| ids.get(seq).copied().unwrap_or_default();
    let mut nodes = Vec::with_capacity(extras.len());
    for (entry, extra) in written.entries.iter_mut().zip(extras) {
        if let Some(seq) = entry
            .sha256
            .as_deref()
            .and_then(|s| s.strip_prefix(PENDING))
        {
            entry.sha256 = Some(hex::encode(id_of(&seq.parse().unwrap_or(u64::MAX))));
        }
        let chunks = extra
            .chunks
            .iter()
            .map(|c| match c {
                ChunkRef::Id(id) => *id,
                ChunkRef::Seq(seq) => id_of(seq),
            })
            .collect();
        nodes.push(Node {
            path: entry.path.clone(),
            kind: entry.kind,
            mode: entry.mode,
            size: entry.size,
            sha256: entry.sha256.clone(),
            link: entry.link.clone(),
            hardlink: extra.hardlink.clone(),
            device: entry.device,
            mtime: extra.mtime,
            uid: extra.uid,
            gid: extra.gid,
            chunks,
            stat: extra.stat,
        });
    }
    nodes
}

/// Cut the item stream into chunks and store the new ones from this thread, compressed
/// in groups.
fn put_items(
    writer: &mut Writer,
    known: Known<'_>,
    stream: &[u8],
    level: i32,
) -> Result<Vec<ChunkId>, StoreError> {
    let failed = |e: std::io::Error| StoreError::BadChunk {
        id: "(item stream)".into(),
        what: format!("could not be compressed: {e}"),
    };
    let mut compressor = zstd::bulk::Compressor::new(level).map_err(failed)?;
    let mut group = Group::default();
    let mut flush = |group: &mut Group, writer: &mut Writer| -> Result<(), StoreError> {
        if let Some(frame) = group.take(&mut compressor).map_err(failed)? {
            writer.append_frame(&frame.bytes, frame.raw, &frame.members)?;
        }
        Ok(())
    };
    let (min, avg, max) = ITEM_CHUNK_SIZES;
    let mut items = Vec::new();
    for cut in fastcdc::v2020::FastCDC::new(stream, min, avg, max) {
        let data = &stream[cut.offset..cut.offset + cut.length];
        let id = digest::bytes(data);
        if known.first(id) && group.push(id, data) {
            flush(&mut group, writer)?;
        }
        items.push(id);
    }
    flush(&mut group, writer)?;
    Ok(items)
}

/// Store one chunk from this thread (the manifest).
fn put(
    writer: &mut Writer,
    known: Known<'_>,
    data: &[u8],
    level: i32,
) -> Result<ChunkId, StoreError> {
    let id = digest::bytes(data);
    if known.first(id) {
        let frame = zstd::bulk::compress(data, level).map_err(|e| StoreError::BadChunk {
            id: hex::encode(id),
            what: format!("could not be compressed: {e}"),
        })?;
        writer.append(id, &frame, data.len() as u64)?;
    }
    Ok(id)
}

/// A worker: hash each chunk, and compress it when no other has the same id: a large one
/// alone, small ones gathered into a [`Group`] compressed together when full and when no
/// job is left.
fn work(rx: &Mutex<Receiver<Job>>, tx: &SyncSender<Done>, known: Known<'_>, level: i32) {
    // One context per worker: making one per chunk costs more than compressing a small file.
    let Ok(mut compressor) = zstd::bulk::Compressor::new(level) else {
        return;
    };
    let mut group = Group::default();
    loop {
        let Ok(Ok(job)) = rx.lock().map(|rx| rx.recv()) else {
            break;
        };
        let id = digest::bytes(&job.data);
        let frame = if !known.first(id) {
            None
        } else if job.data.len() <= Group::SMALL {
            group
                .push(id, &job.data)
                .then(|| flush(&mut group, &mut compressor, id))
        } else {
            let raw = job.data.len() as u64;
            Some(
                compressor
                    .compress(&job.data)
                    .map(|bytes| Frame {
                        bytes,
                        raw,
                        members: vec![(id, 0, raw)],
                    })
                    .map_err(|_| id),
            )
        };
        let done = Done {
            hashed: Some((job.seq, id)),
            frame,
        };
        if tx.send(done).is_err() {
            return;
        }
    }
    // What is left in the group: its ids were sent already.
    if let Some((id, ..)) = group.members().first().copied() {
        let frame = Some(flush(&mut group, &mut compressor, id));
        let _ = tx.send(Done {
            hashed: None,
            frame,
        });
    }
}

/// Compress a non-empty group; `Err(id)` (a chunk of it) when that fails.
fn flush(
    group: &mut Group,
    compressor: &mut zstd::bulk::Compressor<'_>,
    id: ChunkId,
) -> Result<Frame, ChunkId> {
    match group.take(compressor) {
        Ok(Some(frame)) => Ok(frame),
        _ => Err(id),
    }
}

/// The pack writer: append every new frame, remember every id by sequence number.
fn collect(
    rx: Receiver<Done>,
    mut writer: Writer,
) -> Result<(Writer, HashMap<u64, ChunkId>), StoreError> {
    let mut ids = HashMap::new();
    let mut failed = None;
    for done in rx {
        if let Some((seq, id)) = done.hashed {
            ids.insert(seq, id);
        }
        let appended = match (done.frame, &failed) {
            (Some(Ok(frame)), None) => writer.append_frame(&frame.bytes, frame.raw, &frame.members),
            (Some(Err(id)), None) => Err(StoreError::BadChunk {
                id: hex::encode(id),
                what: "could not be compressed".into(),
            }),
            _ => Ok(()),
        };
        if let Err(err) = appended {
            failed = Some(err);
        }
    }
    match failed {
        Some(err) => {
            writer.discard();
            Err(err)
        }
        None => Ok((writer, ids)),
    }
}

/// The sink the archive walker hands members and file contents to.
struct StoreSink<'p> {
    jobs: SyncSender<Job>,
    next_seq: u64,
    /// The parent's reusable files by path.
    files: FastMap<&'p str, &'p Node>,
    /// The chunks the store holds.
    index: &'p StoreIndex,
    /// Per entry, in the walker's order.
    extras: Vec<Extra>,
    /// The path of the entry just recorded (the file whose content follows).
    last_path: String,
    /// The chunks of a file [`Sink::unchanged`] found unchanged, for its member.
    reused: Option<Vec<ChunkRef>>,
}

impl StoreSink<'_> {
    fn send(&mut self, data: Vec<u8>) -> Result<u64, ArchiveError> {
        let seq = self.next_seq;
        self.next_seq += 1;
        self.jobs
            .send(Job { seq, data })
            .map_err(|_| ArchiveError::Io {
                action: "hand a chunk to",
                path: "the pack writer".into(),
                source: std::io::Error::other("the pack writer stopped"),
            })?;
        Ok(seq)
    }

    /// The parent's node for this file if its stat fields, size and chunks still hold.
    fn reusable(&self, path: &str, meta: &Metadata) -> Option<&Node> {
        let node = *self.files.get(path)?;
        let same = node.stat == Some(Stat::of(meta)) && node.size == meta.len();
        let present = node
            .chunks
            .iter()
            .all(|id| self.index.chunks.contains_key(id));
        (same && present && node.sha256.is_some()).then_some(node)
    }

    /// Read a file and send its chunks; returns its hash (or a pending one).
    fn read_file(
        &mut self,
        path: &Path,
        size: u64,
        file: &mut fs_err::File,
    ) -> Result<(String, Vec<ChunkRef>), ArchiveError> {
        let changed = || ArchiveError::Changed {
            path: path.to_path_buf(),
        };
        let (min, avg, max) = CHUNK_SIZES;
        if size <= u64::from(min) {
            let mut data = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
            file.by_ref()
                .take(size)
                .read_to_end(&mut data)
                .map_err(ArchiveError::io("read", path))?;
            if data.len() as u64 != size {
                return Err(changed());
            }
            if size == 0 {
                return Ok((digest::bytes_hex(&[]), Vec::new()));
            }
            let seq = self.send(data)?;
            return Ok((format!("{PENDING}{seq}"), vec![ChunkRef::Seq(seq)]));
        }
        let mut hasher = Hasher::new();
        let mut chunks = Vec::new();
        let mut total = 0u64;
        for cut in fastcdc::v2020::StreamCDC::new(file.by_ref().take(size), min, avg, max) {
            let cut = cut.map_err(|e| ArchiveError::io("read", path)(std::io::Error::other(e)))?;
            hasher.update(&cut.data);
            total += cut.data.len() as u64;
            chunks.push(ChunkRef::Seq(self.send(cut.data)?));
        }
        if total != size {
            return Err(changed());
        }
        Ok((hasher.finish_hex(), chunks))
    }
}

impl Sink for StoreSink<'_> {
    fn framed(&self) -> bool {
        false
    }

    fn framing(&mut self, _bytes: &[u8]) -> std::io::Result<()> {
        Ok(())
    }

    fn member(&mut self, entry: &Entry, meta: &Metadata, hardlink_to: Option<&str>) {
        use std::os::unix::fs::MetadataExt;
        let file = entry.kind == EntryKind::File && hardlink_to.is_none();
        self.extras.push(Extra {
            mtime: meta.mtime(),
            uid: meta.uid(),
            gid: meta.gid(),
            hardlink: hardlink_to.map(str::to_owned),
            stat: file.then(|| Stat::of(meta)),
            chunks: self.reused.take().unwrap_or_default(),
        });
        self.last_path.clone_from(&entry.path);
    }

    fn unchanged(&mut self, path: &str, meta: &Metadata) -> Option<String> {
        let node = self.reusable(path, meta)?;
        let sha256 = node.sha256.clone()?;
        self.reused = Some(node.chunks.iter().copied().map(ChunkRef::Id).collect());
        Some(sha256)
    }

    fn content(
        &mut self,
        path: &Path,
        meta: &Metadata,
        file: &mut fs_err::File,
        _buf: &mut [u8],
    ) -> Result<String, ArchiveError> {
        if let Some(node) = self.reusable(&self.last_path, meta) {
            let chunks = node.chunks.iter().copied().map(ChunkRef::Id).collect();
            let sha256 = node.sha256.clone().unwrap_or_default();
            let extra = self
                .extras
                .last_mut()
                .expect("a member precedes its content");
            extra.chunks = chunks;
            extra.stat = Some(Stat::of(meta));
            return Ok(sha256);
        }
        let (sha256, chunks) = self.read_file(path, meta.len(), file)?;
        let extra = self
            .extras
            .last_mut()
            .expect("a member precedes its content");
        extra.chunks = chunks;
        extra.stat = Some(Stat::of(meta));
        Ok(sha256)
    }
}
