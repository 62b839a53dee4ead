//! The deduplicating chunk store behind `store` backups (`docs/backup-store.md` is the
//! format a reader needs): files cut into content-defined chunks, each compressed with
//! zstd on its own and named by the SHA-256 of its uncompressed bytes, appended to pack
//! files under `<state>/store/packs/`; the index (chunk id to pack, offset, lengths) is in
//! the ledger (`state::store`). A backup is a manifest chunk listing the chunks of its
//! item stream, one JSON line per entry with its metadata and chunk list; the ledger row
//! records the manifest's SHA-256.
//!
//! A store backup restores, verifies and exports through the archive code: [`TarStream`]
//! makes, from the hash-checked items, the very tar stream an archive of the same tree
//! holds, and `archive::extract_from` applies every hostile-input rule to it. So a restore
//! from the store writes exactly what a restore from an archive writes.
//!
//! Order on write: packs written, fsynced and read back with their SHA-256 compared, the
//! directory fsynced, then one ledger transaction records the packs' chunks and the backup
//! row. A crash before leaves only pack files no row names ([`sweep`] removes them).

mod gc;
mod pack;
mod stream;
mod write;

use std::collections::HashSet;
use std::path::{Path, PathBuf};

pub use gc::{Collected, collect_garbage, sweep};
pub use stream::TarStream;
pub use write::{Created, Limits, Parent, create};

use crate::archive::{ArchiveError, Entry, EntryKind};
use crate::state::StateError;
use crate::state::store::{ChunkId, StoreIndex};

/// The first line of every manifest.
pub const MANIFEST_FORMAT: &str = "upkeep-store 1";

/// The store's directory.
pub fn store_dir(state_dir: &Path) -> PathBuf {
    state_dir.join("store")
}

/// Where pack files lie.
pub fn packs_dir(state_dir: &Path) -> PathBuf {
    store_dir(state_dir).join("packs")
}

/// Why the store could not write, read or check something. Messages read after
/// "failed to ".
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A file operation failed.
    #[error("{action} {path}")]
    Io {
        /// What was being done.
        action: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The index names no such chunk.
    #[error("read chunk {id}: the store's index has no such chunk")]
    MissingChunk {
        /// Hex id.
        id: String,
    },
    /// A chunk's bytes are not what its id says (tampered, truncated or misplaced).
    #[error("read chunk {id}: {what}")]
    BadChunk {
        /// Hex id.
        id: String,
        /// What is wrong.
        what: String,
    },
    /// A manifest or item stream that does not parse or breaks a rule.
    #[error("read the manifest {id}: {what}")]
    BadManifest {
        /// Hex id of the manifest.
        id: String,
        /// What is wrong.
        what: String,
    },
    /// A pack read back with other bytes than were written.
    #[error("verify pack {path} after writing: read back {actual}, wrote {expected}")]
    PackVerifyFailed {
        /// The pack.
        path: PathBuf,
        /// The checksum of what was written.
        expected: String,
        /// The checksum read back.
        actual: String,
    },
    /// Starting another pack would leave less free space than the configured floor.
    #[error("write a pack: {available} bytes free, {needed} needed over the floor")]
    LowSpace {
        /// Bytes available.
        available: u64,
        /// Compressed bytes written so far.
        written: u64,
        /// What one more pack may take (above the floor).
        needed: u64,
    },
    /// Walking the tree failed.
    #[error(transparent)]
    Archive(#[from] ArchiveError),
    /// The ledger failed.
    #[error(transparent)]
    State(#[from] StateError),
}

impl StoreError {
    pub(crate) fn io(action: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> Self {
        let path = path.to_path_buf();
        move |source| Self::Io {
            action,
            path,
            source,
        }
    }
}

/// The stat fields that tell an unchanged file without reading it (restic, rustic and
/// borg use the same ones): not mtime alone, which a tool can set back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Stat {
    /// Modification time, nanoseconds since the epoch.
    pub mtime_ns: i64,
    /// Status change time, nanoseconds since the epoch.
    pub ctime_ns: i64,
    /// Inode number.
    pub ino: u64,
    /// Device number.
    pub dev: u64,
}

impl Stat {
    /// The fields of `meta`.
    pub fn of(meta: &std::fs::Metadata) -> Self {
        use std::os::unix::fs::MetadataExt;
        Self {
            mtime_ns: meta.mtime() * 1_000_000_000 + meta.mtime_nsec(),
            ctime_ns: meta.ctime() * 1_000_000_000 + meta.ctime_nsec(),
            ino: meta.ino(),
            dev: meta.dev(),
        }
    }
}

/// One entry of a backup's item stream (one JSON line).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Node {
    /// `label` or `label/rel/path`, as in an archive.
    pub path: String,
    /// What it is (a further hard link to a file is a `file` with `hardlink`).
    pub kind: EntryKind,
    /// Permission bits; `0o777` for symlinks.
    pub mode: u32,
    /// Content length of a file (of the linked file, for a hard link).
    #[serde(default)]
    pub size: u64,
    /// Lowercase hex SHA-256 of a file's content.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    /// A symlink's target.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub link: Option<String>,
    /// For a further link to a file stored earlier under the same root: that file's path.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hardlink: Option<String>,
    /// A device's major and minor numbers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device: Option<(u32, u32)>,
    /// Modification time, whole seconds (what a tar header holds).
    pub mtime: i64,
    /// Owner.
    pub uid: u32,
    /// Group.
    pub gid: u32,
    /// The content's chunks in order (hex ids in JSON); empty for an empty file and a
    /// hard link.
    #[serde(default, skip_serializing_if = "Vec::is_empty", with = "hex_ids")]
    pub chunks: Vec<ChunkId>,
    /// For files: the stat fields the next backup compares to reuse `chunks` unread.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stat: Option<Stat>,
}

impl Node {
    /// The entry the ledger and the archive rules know.
    pub fn entry(&self) -> Entry {
        Entry {
            path: self.path.clone(),
            kind: self.kind,
            mode: self.mode,
            size: self.size,
            sha256: self.sha256.clone(),
            link: self.link.clone(),
            device: self.device,
        }
    }
}

/// A backup's root object, stored as a chunk; its SHA-256 is in the ledger row.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// [`MANIFEST_FORMAT`].
    pub format: String,
    /// Every root's label and whether it existed, in order.
    pub roots: Vec<(String, bool)>,
    /// The chunks of the item stream, in order (hex ids in JSON).
    #[serde(with = "hex_ids")]
    pub items: Vec<ChunkId>,
    /// How many entries the item stream holds.
    pub entries: u64,
    /// The sum of the files' sizes.
    pub bytes: u64,
}

/// A backup read back from the store: its manifest and items, each hash-checked.
#[derive(Debug, Clone)]
pub struct Loaded {
    /// The manifest.
    pub manifest: Manifest,
    /// Its entries in order.
    pub nodes: Vec<Node>,
}

impl Loaded {
    /// The entries the archive rules check the stream against.
    pub fn entries(&self) -> Vec<Entry> {
        self.nodes.iter().map(Node::entry).collect()
    }
}

/// Parse a hex chunk id.
pub(crate) fn parse_id(hex_id: &str) -> Option<ChunkId> {
    let mut id = [0u8; 32];
    hex::decode_to_slice(hex_id, &mut id).ok()?;
    Some(id)
}

/// Load a backup's manifest (whose hex SHA-256 `manifest_id` the ledger recorded) and its
/// item stream, checking every chunk's hash and every rule of the format.
///
/// # Errors
/// A missing or bad chunk, or a manifest or item that breaks the format.
pub fn load(state_dir: &Path, index: &StoreIndex, manifest_id: &str) -> Result<Loaded, StoreError> {
    let bad = |what: &str| StoreError::BadManifest {
        id: manifest_id.to_owned(),
        what: what.to_owned(),
    };
    let id = parse_id(manifest_id).ok_or_else(|| bad("the recorded id is not a SHA-256"))?;
    let mut reader = pack::Reader::new(state_dir, index);
    let bytes = reader.chunk(&id, true)?;
    let manifest: Manifest =
        serde_json::from_slice(&bytes).map_err(|e| bad(&format!("manifest: {e}")))?;
    if manifest.format != MANIFEST_FORMAT {
        return Err(bad("unknown manifest format"));
    }
    let mut stream = Vec::new();
    for id in &manifest.items {
        stream.extend_from_slice(&reader.chunk(id, true)?);
    }
    let nodes = parse_items(&stream).map_err(|e| bad(&format!("item: {e}")))?;
    if nodes.len() as u64 != manifest.entries {
        return Err(bad("the item stream holds another number of entries"));
    }
    Ok(Loaded { manifest, nodes })
}

/// Every chunk a loaded backup references (its manifest's, its items', its content's).
pub fn referenced<S: std::hash::BuildHasher>(
    manifest_id: &str,
    loaded: &Loaded,
    into: &mut HashSet<ChunkId, S>,
) {
    into.extend(parse_id(manifest_id));
    into.extend(loaded.manifest.items.iter().copied());
    for node in &loaded.nodes {
        into.extend(node.chunks.iter().copied());
    }
}

/// The entries of an item stream, one JSON line each. A large stream is parsed on two
/// threads, split at a line boundary (parsing is most of what reading a parent costs).
fn parse_items(stream: &[u8]) -> Result<Vec<Node>, serde_json::Error> {
    let lines = |part: &[u8]| -> Result<Vec<Node>, serde_json::Error> {
        part.split(|b| *b == b'\n')
            .filter(|l| !l.is_empty())
            .map(serde_json::from_slice)
            .collect()
    };
    let middle = stream.len() / 2;
    let split = match stream[middle..].iter().position(|b| *b == b'\n') {
        Some(at) if stream.len() >= 1 << 20 => middle + at + 1,
        _ => return lines(stream),
    };
    let (first, second) = stream.split_at(split);
    let (first, second) = std::thread::scope(|scope| {
        let other = scope.spawn(|| lines(second));
        (lines(first), other.join().expect("parsing does not panic"))
    });
    let mut nodes = first?;
    nodes.extend(second?);
    Ok(nodes)
}

/// Chunk ids as lowercase hex strings in JSON; anything else is refused while parsing.
mod hex_ids {
    use serde::de::{Error, SeqAccess, Visitor};
    use serde::ser::SerializeSeq;

    use crate::state::store::ChunkId;

    pub(super) fn serialize<S: serde::Serializer>(
        ids: &[ChunkId],
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        let mut seq = serializer.serialize_seq(Some(ids.len()))?;
        let mut hex_id = [0u8; 64];
        for id in ids {
            hex::encode_to_slice(id, &mut hex_id).expect("64 bytes hold 32 in hex");
            seq.serialize_element(std::str::from_utf8(&hex_id).expect("hex is ASCII"))?;
        }
        seq.end()
    }

    pub(super) fn deserialize<'de, D: serde::Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Vec<ChunkId>, D::Error> {
        deserializer.deserialize_seq(Ids)
    }

    struct Ids;

    impl<'de> Visitor<'de> for Ids {
        type Value = Vec<ChunkId>;

        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("a list of chunk ids (SHA-256, 64 lowercase hex digits)")
        }

        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
            let mut ids = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(1 << 16));
            while let Some(hex_id) = seq.next_element::<Hex>()? {
                ids.push(hex_id.0);
            }
            Ok(ids)
        }
    }

    /// One id, read from a borrowed or an owned string without keeping it.
    struct Hex(ChunkId);

    impl<'de> serde::Deserialize<'de> for Hex {
        fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
            struct One;
            impl Visitor<'_> for One {
                type Value = Hex;

                fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                    f.write_str("a chunk id (SHA-256, 64 lowercase hex digits)")
                }

                fn visit_str<E: Error>(self, v: &str) -> Result<Hex, E> {
                    let lower = v
                        .bytes()
                        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
                    let mut id = [0u8; 32];
                    match hex::decode_to_slice(v, &mut id) {
                        Ok(()) if lower => Ok(Hex(id)),
                        _ => Err(E::custom(format!("a chunk id is not a SHA-256: {v:?}"))),
                    }
                }
            }
            deserializer.deserialize_str(One)
        }
    }
}
