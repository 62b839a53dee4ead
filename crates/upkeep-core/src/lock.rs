//! One run at a time per state directory.
//!
//! The lock is a dedicated file, `upkeep.lock`, `flock`ed exclusively for as long as the
//! [`RunLock`] lives. It is never deleted: deleting a lock file lets a third process lock
//! a fresh inode while the first still holds the old one. The holder writes its pid and
//! start time into the file so a loser can say who holds it; the record is for people
//! and is not fsynced (the lock itself lives in the kernel, not on disk). The descriptor is opened
//! close-on-exec (Rust's default), so modules never inherit it.

#![expect(
    clippy::disallowed_types,
    reason = "flock takes ownership of the std file inside fs_err's wrapper"
)]

use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};

use nix::fcntl::{Flock, FlockArg};

/// The file name of the lock inside the state directory.
pub const LOCK_FILE: &str = "upkeep.lock";

/// Who holds the lock, as written by the holder.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct LockHolder {
    /// The holder's process id, if it could be read.
    pub pid: Option<u32>,
    /// When the holder started, RFC 3339, if it could be read.
    pub started_at: Option<String>,
}

/// Errors taking the lock.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    /// Another process holds the lock.
    #[error("take the run lock {path}: held by pid {} since {}", .holder.pid.map_or_else(|| "unknown".to_owned(), |p| p.to_string()), .holder.started_at.as_deref().unwrap_or("an unknown time"))]
    Held {
        /// The lock file.
        path: PathBuf,
        /// What the holder wrote.
        holder: LockHolder,
    },
    /// The state directory, which holds the lock file, could not be created.
    #[error("create the state directory {path}")]
    StateDir {
        /// The state directory.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The lock file could not be opened or locked.
    #[error("take the run lock {path}")]
    Io {
        /// The lock file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
}

/// A held run lock; released when dropped.
#[derive(Debug)]
pub struct RunLock {
    _lock: Flock<std::fs::File>,
    path: PathBuf,
}

impl RunLock {
    /// Take the lock in `state_dir`, failing at once if another process holds it, or
    /// waiting for it when `wait` is set.
    ///
    /// # Errors
    /// [`LockError::Held`] naming the holder, or [`LockError::Io`].
    pub fn acquire(state_dir: &Path, wait: bool) -> Result<Self, LockError> {
        let path = state_dir.join(LOCK_FILE);
        let io = |source| LockError::Io {
            path: path.clone(),
            source,
        };
        crate::paths::ensure_state_dir(state_dir).map_err(|source| LockError::StateDir {
            path: state_dir.to_path_buf(),
            source,
        })?;
        let file = fs_err::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(io)?;
        let (file, _) = file.into_parts();
        let arg = if wait {
            FlockArg::LockExclusive
        } else {
            FlockArg::LockExclusiveNonblock
        };
        let mut lock = match Flock::lock(file, arg) {
            Ok(lock) => lock,
            Err((mut file, nix::errno::Errno::EWOULDBLOCK)) => {
                return Err(LockError::Held {
                    holder: settled_holder(&mut file),
                    path,
                });
            }
            Err((_, errno)) => return Err(io(std::io::Error::from(errno))),
        };
        let started = jiff::Timestamp::now()
            .round(jiff::Unit::Second)
            .unwrap_or_default();
        // A fixed-size record overwritten in place: no truncate, which costs a metadata
        // update on every run.
        let record = format!("pid={}\nstarted={started}\n", std::process::id());
        let record = format!("{record:<63}\n");
        (|| -> std::io::Result<()> {
            lock.rewind()?;
            lock.write_all(record.as_bytes())
        })()
        .map_err(io)?;
        Ok(Self { _lock: lock, path })
    }

    /// Take the lock in `state_dir`, waiting for it at most `bound`: a scheduled run must
    /// not queue forever behind a run that hangs. Looks again with a growing pause (up to
    /// a second), since `flock` has no timed wait.
    ///
    /// # Errors
    /// [`LockError::Held`] naming the holder when `bound` passes, or [`LockError::Io`].
    pub fn acquire_within(state_dir: &Path, bound: std::time::Duration) -> Result<Self, LockError> {
        let deadline = std::time::Instant::now() + bound;
        let mut pause = std::time::Duration::from_millis(10);
        loop {
            match Self::acquire(state_dir, false) {
                Err(LockError::Held { .. }) if std::time::Instant::now() < deadline => {
                    let left = deadline.saturating_duration_since(std::time::Instant::now());
                    std::thread::sleep(pause.min(left));
                    pause = (pause * 2).min(std::time::Duration::from_secs(1));
                }
                taken => return taken,
            }
        }
    }

    /// The lock file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// The holder writes its record just after taking the lock, so a loser can read an empty
/// file or the previous holder's record. Re-read briefly until the record names a live
/// process with a start time.
fn settled_holder(file: &mut std::fs::File) -> LockHolder {
    let mut holder = read_holder(file);
    for _ in 0..100 {
        let alive = holder
            .pid
            .and_then(|p| i32::try_from(p).ok())
            .is_some_and(|pid| {
                nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None)
                    != Err(nix::errno::Errno::ESRCH)
            });
        if alive && holder.started_at.is_some() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(2));
        holder = read_holder(file);
    }
    holder
}

fn read_holder(file: &mut std::fs::File) -> LockHolder {
    let mut text = String::new();
    let _ = file.rewind().and_then(|()| file.read_to_string(&mut text));
    let field = |name: &str| {
        text.lines()
            .find_map(|line| line.strip_prefix(name)?.strip_prefix('='))
            .map(str::to_owned)
    };
    LockHolder {
        pid: field("pid").and_then(|p| p.parse().ok()),
        started_at: field("started"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_taker_is_told_the_holder() {
        let dir = tempfile::tempdir().unwrap();
        let first = RunLock::acquire(dir.path(), false).unwrap();
        let err = RunLock::acquire(dir.path(), false).unwrap_err();
        match err {
            LockError::Held { holder, .. } => {
                assert_eq!(holder.pid, Some(std::process::id()));
                assert!(holder.started_at.is_some());
            }
            LockError::StateDir { .. } | LockError::Io { .. } => {
                panic!("expected Held, got {err:?}")
            }
        }
        drop(first);
        RunLock::acquire(dir.path(), false).unwrap();
        assert!(
            dir.path().join(LOCK_FILE).exists(),
            "the lock file is never deleted"
        );
    }
}
