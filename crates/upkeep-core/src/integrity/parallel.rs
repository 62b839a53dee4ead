//! Hashing the listed files on a pool of scoped threads that share one queue, largest
//! first, each reading through its own page-aligned buffer; then the listings become
//! sorted, combined digests.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use fs_err::os::unix::fs::OpenOptionsExt;

use super::walk::{Entry, describe};
use super::{DirDigest, EntryKind, FileRecord, IntegrityError, combine};
use crate::digest;

/// Size of each worker's read buffer.
pub(super) const READ_BUF_SIZE: usize = 256 * 1024;

/// Alignment of the read buffer. Page cache pages are copied out from page offset 0; a
/// buffer a few bytes past a page boundary makes the kernel's copy hit 4K-aliasing stalls
/// (measured: the copy took twice as long), so the buffer starts on a page boundary.
pub(super) const READ_BUF_ALIGN: usize = 4096;

/// The regular files still to hash, as (directory index, entry index), largest first.
pub(super) fn file_jobs(walked: &[Result<Vec<Entry>, IntegrityError>]) -> Vec<(usize, usize)> {
    let mut jobs: Vec<(u64, usize, usize)> = walked
        .iter()
        .enumerate()
        .filter_map(|(d, w)| Some((d, w.as_ref().ok()?)))
        .flat_map(|(d, entries)| {
            entries
                .iter()
                .enumerate()
                .filter(|(_, e)| e.sha256.is_none())
                .map(move |(i, e)| (e.size, d, i))
        })
        .collect();
    jobs.sort_unstable_by(|a, b| b.cmp(a));
    jobs.into_iter().map(|(_, d, i)| (d, i)).collect()
}

/// Hash a regular file's content. Its kind comes from the opened file, which must still be
/// a regular file (no symlink is followed, no FIFO blocks).
pub(super) fn hash_file(
    path: &Path,
    buf: &mut [u8],
) -> Result<(EntryKind, [u8; 32]), IntegrityError> {
    let read_err = |source| IntegrityError::ReadFile {
        path: path.to_path_buf(),
        source,
    };
    let mut file = fs_err::OpenOptions::new()
        .read(true)
        .custom_flags(nix::libc::O_NOFOLLOW | nix::libc::O_NONBLOCK)
        .open(path)
        .map_err(read_err)?;
    let meta = file.metadata().map_err(read_err)?;
    if !meta.file_type().is_file() {
        let kind = describe(meta.file_type());
        return Err(IntegrityError::UnsupportedType {
            path: path.to_path_buf(),
            kind,
        });
    }
    let kind = if meta.permissions().mode() & 0o100 == 0 {
        EntryKind::File
    } else {
        EntryKind::Executable
    };
    let sha256 = digest::read_to_end(&mut file, buf).map_err(read_err)?;
    Ok((kind, sha256))
}

/// Fill in the file hashes and turn each listing into a sorted, combined digest.
pub(super) fn assemble(
    walked: Vec<Result<Vec<Entry>, IntegrityError>>,
    jobs: &[(usize, usize)],
    hashed: Vec<Result<(EntryKind, [u8; 32]), IntegrityError>>,
) -> Vec<Result<DirDigest, IntegrityError>> {
    let mut walked = walked;
    let mut failures: Vec<Option<(usize, IntegrityError)>> = walked.iter().map(|_| None).collect();
    for (&(d, i), result) in jobs.iter().zip(hashed) {
        let Ok(entries) = &mut walked[d] else {
            continue;
        };
        match result {
            Ok((kind, sha256)) => {
                entries[i].kind = kind;
                entries[i].sha256 = Some(sha256);
            }
            Err(err) => match &failures[d] {
                Some((first, _)) if entries[*first].path < entries[i].path => {}
                _ => failures[d] = Some((i, err)),
            },
        }
    }
    walked
        .into_iter()
        .zip(failures)
        .map(|(listing, failure)| match failure {
            Some((_, err)) => Err(err),
            None => listing.map(finish),
        })
        .collect()
}

fn finish(mut entries: Vec<Entry>) -> DirDigest {
    entries.sort_unstable_by(|a, b| a.path.cmp(&b.path));
    let files: Vec<FileRecord> = entries
        .into_iter()
        .map(|e| FileRecord {
            path: e.path,
            kind: e.kind,
            sha256: digest::to_hex(&e.sha256.expect("every listed file was hashed")),
        })
        .collect();
    DirDigest {
        checksum: combine(&files),
        files,
    }
}

/// Per-worker state reused across work items, so the hot loop does not allocate.
#[derive(Debug, Default)]
pub(super) struct Scratch {
    pub(super) buf: ReadBuf,
    pub(super) path: PathBuf,
}

/// A page-aligned read buffer, allocated on first use.
#[derive(Debug, Default)]
pub(super) struct ReadBuf(Vec<u8>);

impl ReadBuf {
    pub(super) fn get(&mut self) -> &mut [u8] {
        if self.0.is_empty() {
            self.0 = vec![0; READ_BUF_SIZE + READ_BUF_ALIGN];
        }
        let start = self.0.as_ptr().align_offset(READ_BUF_ALIGN);
        &mut self.0[start..start + READ_BUF_SIZE]
    }
}

/// Run `work(i)` for every `i` in `0..count` on up to `threads` scoped threads that take
/// indices from a shared counter; results come back in index order.
pub(super) fn run_parallel<T, F>(count: usize, threads: usize, work: F) -> Vec<T>
where
    T: Send,
    F: Fn(usize, &mut Scratch) -> T + Sync,
{
    let threads = threads.clamp(1, count.max(1));
    if threads == 1 {
        let mut scratch = Scratch::default();
        return (0..count).map(|i| work(i, &mut scratch)).collect();
    }
    let next = AtomicUsize::new(0);
    let (work, next) = (&work, &next);
    let mut slots: Vec<Option<T>> = (0..count).map(|_| None).collect();
    std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(move || {
                    let mut scratch = Scratch::default();
                    let mut done = Vec::new();
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        if i >= count {
                            return done;
                        }
                        done.push((i, work(i, &mut scratch)));
                    }
                })
            })
            .collect();
        for worker in workers {
            let done = worker
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
            for (i, result) in done {
                slots[i] = Some(result);
            }
        }
    });
    slots
        .into_iter()
        .map(|slot| slot.expect("every index was processed"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn read_buffer_is_page_aligned() {
        let mut buf = ReadBuf::default();
        let slice = buf.get();
        assert_eq!(slice.len(), READ_BUF_SIZE);
        assert_eq!(slice.as_ptr().align_offset(READ_BUF_ALIGN), 0);
    }
}
