//! SHA-256, the one place upkeep hashes content: module folders ([`crate::integrity`]),
//! archives and their members ([`crate::archive`]), deployed files and scripts
//! ([`crate::deploy`]) and the pre-run command ([`crate::deploy::ledgered`]) all go through it.
//!
//! Callers keep their own buffers (and so their buffer sizes, which the benchmarks were
//! tuned with); this module only owns the hash state and its lowercase hex form, which is
//! how every checksum is stored and shown. The webhook signature in `notify/sign.rs` is an
//! HMAC, not a content hash, and stays there.

use std::io::{self, Read, Write};

use sha2::{Digest as _, Sha256};

/// A finished SHA-256.
pub type Sha256Bytes = [u8; 32];

/// A SHA-256 being computed from pieces.
#[derive(Debug, Clone, Default)]
pub struct Hasher(Sha256);

impl Hasher {
    /// An empty hash state.
    #[must_use]
    pub fn new() -> Self {
        Self(Sha256::new())
    }

    /// Add `data` to what has been hashed.
    #[inline]
    pub fn update(&mut self, data: &[u8]) {
        self.0.update(data);
    }

    /// The hash of everything added.
    #[must_use]
    pub fn finish(self) -> Sha256Bytes {
        self.0.finalize().into()
    }

    /// The hash of everything added, as lowercase hex.
    #[must_use]
    pub fn finish_hex(self) -> String {
        hex::encode(self.0.finalize())
    }
}

/// The SHA-256 of `data`.
#[must_use]
pub fn bytes(data: &[u8]) -> Sha256Bytes {
    Sha256::digest(data).into()
}

/// The SHA-256 of `data` as lowercase hex.
#[must_use]
pub fn bytes_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

/// Lowercase hex of a finished hash.
#[must_use]
pub fn to_hex(digest: &Sha256Bytes) -> String {
    hex::encode(digest)
}

/// Hash everything `reader` yields until its end, reading through `buf` (whose size the
/// caller chooses). An interrupted read is retried; any other error is returned.
///
/// # Errors
///
/// The first read error other than [`io::ErrorKind::Interrupted`].
pub fn read_to_end(reader: &mut dyn Read, buf: &mut [u8]) -> io::Result<Sha256Bytes> {
    let mut hasher = Hasher::new();
    loop {
        match reader.read(buf) {
            Ok(0) => break,
            Ok(n) => hasher.update(&buf[..n]),
            Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
            Err(err) => return Err(err),
        }
    }
    Ok(hasher.finish())
}

/// A reader that hashes everything read through it.
#[derive(Debug)]
pub struct HashingReader<R> {
    inner: R,
    hasher: Hasher,
}

impl<R> HashingReader<R> {
    /// Wrap `inner`; nothing has been hashed yet.
    pub fn new(inner: R) -> Self {
        Self {
            inner,
            hasher: Hasher::new(),
        }
    }

    /// The hash of everything read so far, as lowercase hex.
    #[must_use]
    pub fn finish_hex(self) -> String {
        self.hasher.finish_hex()
    }
}

impl<R: Read> Read for HashingReader<R> {
    #[inline]
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
}

/// A writer that hashes everything the inner writer accepted.
#[derive(Debug)]
pub struct HashingWriter<W> {
    inner: W,
    hasher: Hasher,
}

impl<W> HashingWriter<W> {
    /// Wrap `inner`; nothing has been hashed yet.
    pub fn new(inner: W) -> Self {
        Self {
            inner,
            hasher: Hasher::new(),
        }
    }

    /// The inner writer and the hash of everything written, as lowercase hex.
    pub fn finish_hex(self) -> (W, String) {
        (self.inner, self.hasher.finish_hex())
    }
}

impl<W: Write> Write for HashingWriter<W> {
    #[inline]
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// SHA-256 of `abc`, from FIPS 180-2.
    const ABC: &str = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";

    #[test]
    fn every_way_in_gives_the_same_hash() {
        assert_eq!(bytes_hex(b"abc"), ABC);
        assert_eq!(to_hex(&bytes(b"abc")), ABC);
        let mut pieces = Hasher::new();
        pieces.update(b"a");
        pieces.update(b"bc");
        assert_eq!(pieces.finish_hex(), ABC);
        let mut buf = [0u8; 2];
        let read = read_to_end(&mut &b"abc"[..], &mut buf).unwrap();
        assert_eq!(to_hex(&read), ABC);
        let mut reader = HashingReader::new(&b"abc"[..]);
        io::copy(&mut reader, &mut io::sink()).unwrap();
        assert_eq!(reader.finish_hex(), ABC);
        let mut writer = HashingWriter::new(Vec::new());
        writer.write_all(b"abc").unwrap();
        let (written, hash) = writer.finish_hex();
        assert_eq!((written.as_slice(), hash.as_str()), (&b"abc"[..], ABC));
    }

    #[test]
    fn an_empty_input_has_the_empty_hash() {
        let empty = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
        assert_eq!(Hasher::new().finish_hex(), empty);
        assert_eq!(bytes_hex(b""), empty);
    }
}
