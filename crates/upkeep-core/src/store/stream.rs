//! The tar stream of a store backup, made on demand from its hash-checked items: the same
//! members, headers and order an archive of the same tree holds (`archive/mod.rs`), so
//! the archive reader's rules apply to it unchanged and `backup export` writes it as is.

use std::fmt::Write as _;
use std::io::{self, Read};
use std::path::Path;
use std::sync::Arc;

use super::pack::Reader;
use super::{Loaded, Node, StoreError};
use crate::archive::{EntryKind, INDEX_NAME, header_bytes, padding};
use crate::state::store::StoreIndex;

/// A [`Read`] of a backup's tar stream. With `data` off, file content is zeros (a pass
/// that checks headers only reads no chunk); with `check` on, every chunk's SHA-256 is
/// compared with its id as it is read (`backup verify`).
pub struct TarStream<'s> {
    loaded: Arc<Loaded>,
    reader: Reader<'s>,
    mode: Mode,
    /// The next node to emit.
    next: usize,
    /// The node whose chunks are being emitted, the next chunk and the bytes so far.
    current: Option<(usize, usize, u64)>,
    /// 0: the index comes next, 1: the members, 2: the end blocks were given.
    stage: u8,
    buf: Vec<u8>,
    pos: usize,
}

/// What a [`TarStream`] reads of each chunk.
#[derive(Debug, Clone, Copy)]
struct Mode {
    /// Read content at all (zeros otherwise).
    data: bool,
    /// Compare each chunk with its id.
    check: bool,
}

impl std::fmt::Debug for TarStream<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TarStream")
            .field("next", &self.next)
            .finish_non_exhaustive()
    }
}

impl<'s> TarStream<'s> {
    /// The stream of `loaded`, reading chunks through `index`.
    pub fn new(
        state_dir: &Path,
        index: &'s StoreIndex,
        loaded: Arc<Loaded>,
        data: bool,
        check: bool,
    ) -> Self {
        Self {
            loaded,
            reader: Reader::new(state_dir, index),
            mode: Mode { data, check },
            next: 0,
            current: None,
            stage: 0,
            buf: Vec::new(),
            pos: 0,
        }
    }

    /// Put the next piece of the stream into `buf`; `false` at its end.
    fn fill(&mut self) -> io::Result<bool> {
        self.buf.clear();
        self.pos = 0;
        if self.stage == 0 {
            self.stage = 1;
            self.index_member()?;
            return Ok(true);
        }
        if let Some((node, chunk, done)) = self.current {
            self.content(node, chunk, done)?;
            return Ok(true);
        }
        while self.next < self.loaded.nodes.len() {
            let i = self.next;
            self.next += 1;
            if self.header(i)? {
                return Ok(true);
            }
        }
        if self.stage == 1 {
            self.stage = 2;
            self.buf.resize(1024, 0);
            return Ok(true);
        }
        Ok(false)
    }

    fn index_member(&mut self) -> io::Result<()> {
        let mut text = String::from("upkeep-archive 1\n");
        for (label, present) in &self.loaded.manifest.roots {
            let state = if *present { "present" } else { "missing" };
            let _ = writeln!(text, "{state} {label}");
        }
        let len = text.len() as u64;
        self.buf = header_bytes(INDEX_NAME, b'0', None, len, 0o644, None, None)?;
        self.buf.extend_from_slice(text.as_bytes());
        self.buf.extend_from_slice(padding(len));
        Ok(())
    }

    /// The header of node `i` (nothing for a socket, which is recorded but not kept).
    fn header(&mut self, i: usize) -> io::Result<bool> {
        let node: &Node = &self.loaded.nodes[i];
        let (type_byte, link, size) = match (node.kind, &node.hardlink) {
            (EntryKind::Socket, _) => return Ok(false),
            (EntryKind::File, Some(first)) => (b'1', Some(first.as_bytes()), 0),
            (EntryKind::File, None) => (b'0', None, node.size),
            (EntryKind::Dir, _) => (b'5', None, 0),
            (EntryKind::Symlink, _) => (b'2', node.link.as_deref().map(str::as_bytes), 0),
            (EntryKind::CharDevice, _) => (b'3', None, 0),
            (EntryKind::BlockDevice, _) => (b'4', None, 0),
            (EntryKind::Fifo, _) => (b'6', None, 0),
        };
        let owner = Some((node.mtime, node.uid, node.gid));
        self.buf = header_bytes(
            &node.path,
            type_byte,
            link,
            size,
            node.mode,
            owner,
            node.device,
        )?;
        if type_byte == b'0' && size > 0 {
            self.current = Some((i, 0, 0));
        }
        Ok(true)
    }

    /// The next chunk of node `i`'s content, or its padding after the last one.
    fn content(&mut self, i: usize, chunk: usize, done: u64) -> io::Result<()> {
        let loaded = Arc::clone(&self.loaded);
        let node = &loaded.nodes[i];
        let Some(id) = node.chunks.get(chunk) else {
            self.current = None;
            if done != node.size {
                return Err(corrupt(&node.path, "its chunks add up to another size"));
            }
            self.buf.extend_from_slice(padding(node.size));
            return Ok(());
        };
        if self.mode.data {
            self.buf = self.reader.chunk(id, self.mode.check).map_err(into_io)?;
        } else {
            let len = self.reader.raw_length(id).map_err(into_io)?;
            self.buf.resize(usize::try_from(len).unwrap_or(0), 0);
        }
        let done = done + self.buf.len() as u64;
        if done > node.size {
            return Err(corrupt(
                &node.path,
                "its chunks add up to more than its size",
            ));
        }
        self.current = Some((i, chunk + 1, done));
        Ok(())
    }
}

fn corrupt(path: &str, what: &str) -> io::Error {
    io::Error::other(format!("{path}: {what}"))
}

#[expect(clippy::needless_pass_by_value, reason = "used as a map_err function")]
fn into_io(err: StoreError) -> io::Error {
    io::Error::other(err.to_string())
}

impl Read for TarStream<'_> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        while self.pos >= self.buf.len() {
            if !self.fill()? {
                return Ok(0);
            }
        }
        let n = out.len().min(self.buf.len() - self.pos);
        out[..n].copy_from_slice(&self.buf[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}
