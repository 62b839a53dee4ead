//! Answers the server keeps between requests, and how it knows they still hold.
//!
//! A status report over a thousand modules takes tens of milliseconds to derive and is
//! half a megabyte of JSON; identifying a token opens the ledger. Neither may cost that on
//! every request of a dashboard many people keep open (issue 18: 64 clients, p99 ≤ 20 ms).
//! Both derive from three inputs: the ledger, the manifest and the settings file. A
//! [`Stamp`] captures all three cheaply: the ledger's `PRAGMA data_version` on one
//! connection kept open (it changes on every commit by any other connection, of this
//! process or another, such as `upkeep token revoke` in a shell), and the size, times and
//! inode of the two files. An answer is reused only while the stamp is the same, so a
//! change made anywhere is seen by the next request.
//!
//! What derives from the clock (ages, "checks stale") is refreshed in the background once
//! an answer is older than [`REFRESH`]: requests meanwhile get the previous answer, whose
//! `at_ms` says when it was taken. Files a manifest names besides itself (module code,
//! checksums) are not stamped; they reach the report within [`REFRESH`] too.

use std::collections::HashMap;
use std::io::Write as _;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use upkeep_core::ops::access::Authentication;
use upkeep_core::ops::status::StatusReport;
use upkeep_core::ops::watch::LedgerWatch;

/// How old a cached status may get before it is derived again in the background, and
/// how long an identified token is believed without looking again.
pub(crate) const REFRESH: Duration = Duration::from_secs(1);

/// A file as `stat` sees it: a rewrite changes at least one of these.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct FileStamp {
    len: u64,
    modified_ns: i128,
    changed_ns: i128,
    inode: u64,
}

fn file_stamp(path: Option<&PathBuf>) -> Option<FileStamp> {
    use std::os::unix::fs::MetadataExt as _;
    let meta = fs_err::metadata(path?).ok()?;
    Some(FileStamp {
        len: meta.len(),
        modified_ns: i128::from(meta.mtime()) * 1_000_000_000 + i128::from(meta.mtime_nsec()),
        changed_ns: i128::from(meta.ctime()) * 1_000_000_000 + i128::from(meta.ctime_nsec()),
        inode: meta.ino(),
    })
}

/// What the server's derived answers depend on, at one moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Stamp {
    ledger: Option<i64>,
    manifest: Option<FileStamp>,
    settings: Option<FileStamp>,
}

/// Takes [`Stamp`]s: the engine's watch on the ledger and the two files' paths.
#[derive(Debug)]
pub(crate) struct Freshness {
    ledger: LedgerWatch,
    manifest: Option<PathBuf>,
    settings: PathBuf,
}

impl Freshness {
    pub(crate) fn new(ops: &upkeep_core::ops::Context) -> Self {
        Self {
            ledger: LedgerWatch::new(ops),
            manifest: ops.manifest_path().ok(),
            settings: ops.config().to_owned(),
        }
    }

    /// The stamp now. A ledger that cannot be read stamps as a fresh, unique value, so
    /// nothing cached is believed while it fails.
    pub(crate) fn stamp(&self) -> Stamp {
        Stamp {
            ledger: self.ledger.version().unwrap_or_else(|_| Some(-unique())),
            manifest: file_stamp(self.manifest.as_ref()),
            settings: file_stamp(Some(&self.settings)),
        }
    }
}

/// A number no stamp has had: a failed read is never equal to anything cached.
fn unique() -> i64 {
    static NEXT: std::sync::atomic::AtomicI64 = std::sync::atomic::AtomicI64::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// One derived status report, as the answer's bytes.
#[derive(Debug)]
pub(crate) struct Cached {
    stamp: Stamp,
    taken: Instant,
    pub(crate) report: Arc<StatusReport>,
    /// The JSON answer.
    pub(crate) json: Bytes,
    /// The same, gzip-compressed, for clients that accept it.
    pub(crate) gzip: Bytes,
}

impl Cached {
    pub(crate) fn new(stamp: Stamp, report: StatusReport) -> Self {
        // Through `Value`, as every other answer: the same key order as before caching.
        let json = serde_json::to_value(&report)
            .map(without_null_module_fields)
            .and_then(|value| serde_json::to_vec(&value))
            .unwrap_or_default();
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::new(6));
        let gzip = encoder
            .write_all(&json)
            .and_then(|()| encoder.finish())
            .unwrap_or_default();
        Self {
            stamp,
            taken: Instant::now(),
            report: Arc::new(report),
            json: Bytes::from(json),
            gzip: Bytes::from(gzip),
        }
    }
}

/// The report with the fields of module rows that are null left out: a fifth of the
/// answer over a thousand modules (a row that never had a health check, a hold or an
/// upstream says so by their absence), which is what a dashboard polling it pays for.
fn without_null_module_fields(mut report: serde_json::Value) -> serde_json::Value {
    if let Some(rows) = report
        .get_mut("modules")
        .and_then(serde_json::Value::as_array_mut)
    {
        for row in rows.iter_mut().filter_map(serde_json::Value::as_object_mut) {
            row.retain(|_, value| !value.is_null());
        }
    }
    report
}

/// What [`StatusCache::lookup`] found.
pub(crate) enum Lookup {
    /// Still holds: answer it.
    Fresh(Arc<Cached>),
    /// Its inputs are unchanged but it is older than [`REFRESH`]: answer it, and derive
    /// it again in the background unless another request already does.
    Aging(Arc<Cached>, bool),
    /// Nothing holds: derive it now.
    Missing,
}

/// The status report, kept while its stamp holds.
#[derive(Debug, Default)]
pub(crate) struct StatusCache {
    current: Mutex<Option<Arc<Cached>>>,
    /// Held while a report is derived, so concurrent misses derive it once.
    pub(crate) deriving: tokio::sync::Mutex<()>,
    refreshing: AtomicBool,
}

impl StatusCache {
    pub(crate) fn lookup(&self, stamp: Stamp) -> Lookup {
        let current = self.current.lock().unwrap_or_else(PoisonError::into_inner);
        match current.as_ref() {
            Some(cached) if cached.stamp == stamp && cached.taken.elapsed() < REFRESH => {
                Lookup::Fresh(Arc::clone(cached))
            }
            Some(cached) if cached.stamp == stamp => {
                let start = !self.refreshing.swap(true, Ordering::AcqRel);
                Lookup::Aging(Arc::clone(cached), start)
            }
            _ => Lookup::Missing,
        }
    }

    pub(crate) fn store(&self, cached: Arc<Cached>) {
        *self.current.lock().unwrap_or_else(PoisonError::into_inner) = Some(cached);
    }

    /// A background refresh has ended (stored or failed).
    pub(crate) fn refreshed(&self) {
        self.refreshing.store(false, Ordering::Release);
    }
}

/// Tokens identified lately, by the SHA-256 of their secret (never the secret): what they
/// were, under which stamp, and when. An entry holds while the stamp is the same (a
/// revocation, from the API or `upkeep token revoke`, is a commit) and for at most
/// [`REFRESH`] (a token expiring meanwhile is refused within that).
#[derive(Debug, Default)]
pub(crate) struct TokenCache {
    /// By hash: the stamp and the moment the look at the ledger began, and what it found.
    known: Mutex<HashMap<String, (Stamp, Instant, Authentication)>>,
    /// Held while a token is identified from the ledger, so that requests whose secret
    /// is not cached read the ledger once between them, not once each: a hundred
    /// watchers opening their streams during a run, whose commits change the stamp all
    /// the time, would otherwise each open the ledger on a blocking thread of its own.
    pub(crate) identifying: tokio::sync::Mutex<()>,
}

/// Entries beyond which the cache is emptied rather than grown: a client trying many
/// secrets must not make the server keep them all.
const MAX_TOKENS: usize = 1024;

impl TokenCache {
    pub(crate) fn get(&self, hash: &str, stamp: Stamp) -> Option<Authentication> {
        let known = self.known.lock().unwrap_or_else(PoisonError::into_inner);
        let (at_stamp, at, authentication) = known.get(hash)?;
        (*at_stamp == stamp && at.elapsed() < REFRESH).then(|| authentication.clone())
    }

    /// What a look at the ledger that began at or after `since` found for `hash`: it saw
    /// every change a look taken by a request that arrived at `since` would have seen.
    pub(crate) fn since(&self, hash: &str, since: Instant) -> Option<Authentication> {
        let known = self.known.lock().unwrap_or_else(PoisonError::into_inner);
        let (_, began, authentication) = known.get(hash)?;
        (*began >= since && began.elapsed() < REFRESH).then(|| authentication.clone())
    }

    /// Keep what a look at the ledger that `began` under `stamp` found.
    pub(crate) fn put(
        &self,
        hash: String,
        stamp: Stamp,
        began: Instant,
        authentication: Authentication,
    ) {
        let mut known = self.known.lock().unwrap_or_else(PoisonError::into_inner);
        if known.len() >= MAX_TOKENS {
            known.clear();
        }
        known.insert(hash, (stamp, began, authentication));
    }
}
