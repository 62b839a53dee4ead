//! The cap on one process's log: a module that prints without end must not fill the disk.
//!
//! The log is a file opened for appending that the process writes to itself (upkeep hands
//! it the descriptor; it does not copy the output through pipes, so a service a module
//! starts in the background can go on writing to it). Every process sharing the open file
//! appends at its end, whatever upkeep does to the file's length. So while the process runs,
//! [`Capper::check`] looks at the length now and then; past the cap it keeps the last
//! `tail` bytes in memory and truncates the file back to its first `head` bytes, and the
//! process's next writes land right after them. When the process has ended,
//! [`Capper::finish`] writes the file as head, a marker naming what was dropped, and the last
//! `tail` bytes of everything after the head.
//!
//! Bytes written between a check's read of the tail and its truncation are lost without
//! being counted, so the marker says "at least". How far a log can grow past the cap
//! between checks depends on how fast the process writes and how often upkeep checks.

use std::io::{Read, Seek, SeekFrom, Write};

/// How often a running process's log is looked at.
pub(super) const CHECK_EVERY: std::time::Duration = std::time::Duration::from_millis(200);

/// A log's cap, and what was dropped so far.
#[derive(Debug)]
pub(super) struct Capper {
    /// Bytes kept from the start of the log (its header line included).
    head: u64,
    /// Bytes kept from its end.
    tail: u64,
    /// The last `tail` bytes before the latest truncation.
    saved: Vec<u8>,
    /// Bytes dropped by truncations so far (not counting `saved`).
    dropped: u64,
    /// Whether the log was truncated at all.
    cut: bool,
}

impl Capper {
    /// A cap of `bytes` in all: half kept from the start, half from the end.
    pub(super) fn new(bytes: u64) -> Self {
        let head = bytes / 2;
        Self {
            head,
            tail: bytes - head,
            saved: Vec::new(),
            dropped: 0,
            cut: false,
        }
    }

    /// Truncate `log` back to its head when it has grown well past the cap. The slack (a
    /// quarter of the cap) keeps a process writing steadily from being truncated at every
    /// check.
    pub(super) fn check(&mut self, log: &fs_err::File) -> std::io::Result<()> {
        let len = log.metadata()?.len();
        if len <= self.head + self.tail + self.tail / 4 {
            return Ok(());
        }
        let tail = read_range(log, len.saturating_sub(self.tail), len)?;
        log.set_len(self.head)?;
        self.dropped += len - self.head - tail.len() as u64 + self.saved.len() as u64;
        self.saved = tail;
        self.cut = true;
        Ok(())
    }

    /// Write the capped log: head, marker, tail. Call once the process has ended.
    pub(super) fn finish(mut self, log: &mut fs_err::File) -> std::io::Result<()> {
        let len = log.metadata()?.len();
        if !self.cut && len <= self.head + self.tail {
            return Ok(());
        }
        let after = read_range(log, self.head.min(len), len)?;
        let mut rest = std::mem::take(&mut self.saved);
        rest.extend_from_slice(&after);
        let keep_from = rest
            .len()
            .saturating_sub(usize::try_from(self.tail).unwrap_or(usize::MAX));
        // Start the kept tail at a line's start when one begins within it.
        let keep_from = rest[keep_from..]
            .iter()
            .position(|&b| b == b'\n')
            .filter(|&at| keep_from > 0 && at + 1 < rest.len() - keep_from)
            .map_or(keep_from, |at| keep_from + at + 1);
        self.dropped += keep_from as u64;
        log.set_len(self.head.min(len))?;
        let head_ends_line = self.head == 0
            || read_range(log, self.head.min(len) - 1, self.head.min(len))?.first() == Some(&b'\n');
        let marker = format!(
            "{}[upkeep: at least {} bytes of output dropped here; a log keeps its first {} and last {} bytes (setting logging.max_module_log_mb)]\n",
            if head_ends_line { "" } else { "\n" },
            self.dropped,
            self.head,
            self.tail,
        );
        log.write_all(marker.as_bytes())?;
        log.write_all(&rest[keep_from..])?;
        Ok(())
    }
}

/// Bytes `from..to` of `log`, read through a second descriptor so the shared offset of the
/// process's own descriptor is left alone.
fn read_range(log: &fs_err::File, from: u64, to: u64) -> std::io::Result<Vec<u8>> {
    let mut reader = fs_err::File::open(log.path())?;
    reader.seek(SeekFrom::Start(from))?;
    let mut bytes = Vec::new();
    reader
        .take(to.saturating_sub(from))
        .read_to_end(&mut bytes)?;
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn appending(path: &std::path::Path) -> fs_err::File {
        fs_err::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .unwrap()
    }

    #[test]
    fn keeps_head_and_tail_with_a_marker_across_checks() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("m.log");
        let mut log = appending(&path);
        let mut capper = Capper::new(200);
        let mut written = Vec::new();
        for i in 0..1000 {
            let line = format!("line {i:04}\n");
            log.write_all(line.as_bytes()).unwrap();
            written.extend_from_slice(line.as_bytes());
            if i % 50 == 0 {
                capper.check(&log).unwrap();
            }
        }
        capper.finish(&mut log).unwrap();
        let text = fs_err::read_to_string(&path).unwrap();
        assert!(text.starts_with("line 0000\n"), "{text}");
        assert!(text.ends_with("line 0999\n"), "{text}");
        assert!(text.contains("[upkeep: at least "), "{text}");
        assert!(text.len() < 400, "{}", text.len());
        // The tail is whole lines, the newest ones, in order.
        let tail: Vec<&str> = text.rsplit_once("]\n").unwrap().1.lines().collect();
        let last: Vec<String> = (1000 - tail.len()..1000)
            .map(|i| format!("line {i:04}"))
            .collect();
        assert_eq!(tail, last);
    }

    #[test]
    fn a_log_within_the_cap_is_left_as_it_is() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("m.log");
        let mut log = appending(&path);
        log.write_all(b"short\n").unwrap();
        let mut capper = Capper::new(1024);
        capper.check(&log).unwrap();
        capper.finish(&mut log).unwrap();
        assert_eq!(fs_err::read_to_string(&path).unwrap(), "short\n");
    }
}
