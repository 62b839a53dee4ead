//! `upkeep checksum`: the seeds' checksummer. `check` compares every module folder with its
//! declared checksum; `write` records the current contents as approved: the `checksum`
//! file, the manifest field, the per-file hashes in the ledger (so a later mismatch can say
//! which files changed) and an audit entry.

use std::path::PathBuf;

use crate::integrity::{self, DirDigest, FileDiff, IntegrityError};
use crate::lock::{LockError, RunLock};
use crate::manifest::{Manifest, ModuleSpec, writeback};
use crate::state::{Ledger, StateError};

/// The verdict for one module.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    /// Files match the declared checksum.
    Ok,
    /// Files differ from the declared checksum.
    Mismatch,
    /// No checksum is declared.
    Missing,
    /// Newly written by `--write`.
    Written,
    /// The folder could not be hashed.
    Error,
}

/// One module's checksum status.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ModuleChecksum {
    /// The module.
    pub module: String,
    /// Its folder.
    pub dir: PathBuf,
    /// The verdict.
    pub verdict: Verdict,
    /// The declared checksum.
    pub declared: Option<String>,
    /// The checksum of the files on disk.
    pub actual: Option<String>,
    /// Number of files hashed.
    pub files: usize,
    /// Bytes hashed.
    pub bytes: u64,
    /// Changed files, when the ledger has the approved list.
    pub changes: Option<FileDiff>,
    /// What went wrong, for `error`.
    pub error: Option<String>,
}

/// Errors of the checksum command.
#[derive(Debug, thiserror::Error)]
pub enum ChecksumError {
    /// A named module does not exist.
    #[error("select module `{name}`: no module has that name")]
    UnknownModule {
        /// The name given.
        name: String,
        /// The closest name.
        suggestion: Option<String>,
    },
    /// A named module has no folder.
    #[error(
        "checksum module `{name}`: it has no folder (only Python modules, scripts in a folder, and modules with `dir` have one)"
    )]
    NoFolder {
        /// The module.
        name: String,
    },
    /// The lock is held.
    #[error(transparent)]
    Lock(#[from] LockError),
    /// The ledger failed.
    #[error(transparent)]
    State(#[from] StateError),
    /// A checksum file or the manifest could not be written.
    #[error("write the checksum of `{module}`")]
    Write {
        /// The module.
        module: String,
        /// What failed.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

fn select<'m>(
    manifest: &'m Manifest,
    names: &[String],
) -> Result<Vec<&'m ModuleSpec>, ChecksumError> {
    if names.is_empty() {
        return Ok(manifest
            .modules
            .iter()
            .filter(|m| m.dir.is_some())
            .collect());
    }
    names
        .iter()
        .map(|name| {
            let spec = manifest
                .module(name)
                .ok_or_else(|| ChecksumError::UnknownModule {
                    name: name.clone(),
                    suggestion: crate::text::suggest(name, manifest.names()),
                })?;
            if spec.dir.is_none() {
                return Err(ChecksumError::NoFolder { name: name.clone() });
            }
            Ok(spec)
        })
        .collect()
}

/// The selected modules with their folders, declared checksums and digests, hashed in
/// parallel.
type Digested<'m> = Vec<(
    &'m ModuleSpec,
    ModuleChecksum,
    Result<DirDigest, IntegrityError>,
)>;

fn digest_selected(specs: Vec<&ModuleSpec>, threads: usize) -> Digested<'_> {
    let dirs: Vec<PathBuf> = specs.iter().filter_map(|s| s.dir.clone()).collect();
    let digests = integrity::digest_dirs(&dirs, threads);
    specs
        .into_iter()
        .zip(dirs)
        .zip(digests)
        .map(|((spec, dir), digest)| {
            let mut entry = ModuleChecksum {
                module: spec.name.clone(),
                verdict: Verdict::Ok,
                declared: spec.declared_checksum(),
                actual: None,
                files: 0,
                bytes: 0,
                changes: None,
                error: None,
                dir,
            };
            match &digest {
                Ok(digest) => {
                    entry.files = digest.files.len();
                    entry.bytes = size_of(&entry.dir, &digest.files);
                    entry.actual = Some(digest.checksum.clone());
                }
                Err(err) => {
                    entry.verdict = Verdict::Error;
                    entry.error = Some(crate::message::failed_to(err));
                }
            }
            (spec, entry, digest)
        })
        .collect()
}

/// Verify module folders against their declared checksums.
///
/// # Errors
/// [`ChecksumError`] for unknown modules or an unreadable ledger.
pub fn check(
    manifest: &Manifest,
    state_dir: &std::path::Path,
    names: &[String],
    threads: usize,
) -> Result<Vec<ModuleChecksum>, ChecksumError> {
    let digested = digest_selected(select(manifest, names)?, threads);
    let ledger = Ledger::open_existing(state_dir)?;
    let mut report = Vec::with_capacity(digested.len());
    for (spec, mut entry, digest) in digested {
        if let Ok(digest) = digest {
            entry.verdict = match &entry.declared {
                None => Verdict::Missing,
                Some(d) if *d == digest.checksum => Verdict::Ok,
                Some(d) => {
                    let recorded = ledger
                        .as_ref()
                        .and_then(|l| l.recorded_files(&spec.name, d).ok().flatten());
                    entry.changes = recorded.map(|files| integrity::diff(&files, &digest.files));
                    Verdict::Mismatch
                }
            };
        }
        report.push(entry);
    }
    Ok(report)
}

fn size_of(dir: &std::path::Path, files: &[integrity::FileRecord]) -> u64 {
    files
        .iter()
        .filter_map(|f| fs_err::symlink_metadata(dir.join(&f.path)).ok())
        .map(|m| m.len())
        .sum()
}

/// Approve the current contents of module folders: write each `checksum` file and
/// manifest field, record per-file hashes and an audit entry in the ledger.
///
/// # Errors
/// [`ChecksumError`] for unknown modules, a held lock, or a failed write.
pub fn write(
    manifest: &Manifest,
    state_dir: &std::path::Path,
    names: &[String],
    threads: usize,
) -> Result<Vec<ModuleChecksum>, ChecksumError> {
    // Unknown names fail before the lock is taken or the state directory created.
    let specs = select(manifest, names)?;
    let _lock = RunLock::acquire(state_dir, false)?;
    let mut ledger = Ledger::open(state_dir)?;
    let digested = digest_selected(specs, threads);
    let mut report = Vec::with_capacity(digested.len());
    for (spec, mut entry, digest) in digested {
        let Ok(digest) = digest else {
            report.push(entry);
            continue;
        };
        let wrap = |source: Box<dyn std::error::Error + Send + Sync>| ChecksumError::Write {
            module: spec.name.clone(),
            source,
        };
        let previous = format!("previous {}", entry.declared.as_deref().unwrap_or("none"));
        ledger.record_approval(&spec.name, &digest.checksum, &digest.files, &previous)?;
        integrity::write_checksum_file(&entry.dir, &digest.checksum)
            .map_err(|e| wrap(Box::new(e)))?;
        writeback::set_checksum(&manifest.path, &spec.name, &digest.checksum)
            .map_err(|e| wrap(Box::new(e)))?;
        if entry.declared.as_deref() != Some(digest.checksum.as_str()) {
            entry.verdict = Verdict::Written;
        }
        report.push(entry);
    }
    Ok(report)
}
