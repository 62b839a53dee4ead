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
    /// What `--write` approved: every file the checksum covers, with its kind and
    /// SHA-256, so a person sees exactly what they vouched for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub approved_files: Option<Vec<integrity::FileRecord>>,
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
                approved_files: None,
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
        entry.approved_files = Some(digest.files);
        report.push(entry);
    }
    Ok(report)
}

/// Why the integrity gate refuses a module, by what fixes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Problem {
    /// No checksum is declared: no manifest field and no `checksum` file.
    Missing,
    /// The `checksum` file holds something upkeep cannot read (not 64 lowercase hex
    /// digits); [`Refusal::found`] says what.
    Unreadable,
    /// The declared checksum is one upkeep never approved (the seeds' checksummer computes
    /// another digest over other files) and the files do not match it.
    Foreign,
    /// The files changed since upkeep approved them.
    Changed,
    /// The folder could not be hashed.
    Unhashable,
}

/// The integrity gate's refusal of one module: what is wrong and the command that fixes it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Refusal {
    /// What is wrong.
    pub problem: Problem,
    /// The declared checksum, if one could be read.
    pub expected: Option<String>,
    /// The checksum of the files on disk, if they could be hashed.
    pub actual: Option<String>,
    /// What changed since the approval, when the ledger has the approved file list.
    pub changes: Option<FileDiff>,
    /// For [`Problem::Unreadable`]: what the `checksum` file holds, in words.
    pub found: Option<String>,
    /// Why, in one sentence (the outcome's reason in a run).
    pub reason: String,
    /// The command that fixes it, once the folder has been reviewed.
    pub fix: String,
}

/// The integrity gate: whether `name`'s folder `dir` may run, given the checksum it
/// declares (`None`: neither the manifest nor a readable `checksum` file declares one).
/// `digest` hashes the folder; it is called only when there is a checksum to compare.
/// `approved` returns the file list the ledger recorded when upkeep approved a checksum,
/// `None` when upkeep never approved it.
///
/// This is the one rule: a run applies it before a module's code starts, and `plan` and
/// `doctor` show its verdict without running anything.
///
/// # Errors
/// The [`Refusal`] when the module must not run; `Ok` carries the verified checksum.
pub fn gate(
    name: &str,
    dir: &std::path::Path,
    declared: Option<&str>,
    digest: impl FnOnce() -> Result<DirDigest, IntegrityError>,
    approved: impl FnOnce(&str) -> Option<Vec<integrity::FileRecord>>,
) -> Result<String, Box<Refusal>> {
    let fix = format!("upkeep checksum --write {name}");
    let Some(expected) = declared else {
        return Err(undeclared(name, dir, fix));
    };
    let digest = match digest() {
        Ok(digest) => digest,
        Err(err) => {
            return Err(Box::new(Refusal {
                problem: Problem::Unhashable,
                expected: Some(expected.to_owned()),
                actual: None,
                changes: None,
                found: None,
                reason: crate::message::failed_to(&err),
                fix,
            }));
        }
    };
    if digest.checksum == expected {
        return Ok(digest.checksum);
    }
    // The approved list only names the changed files; without it the module is still
    // refused, and is told apart as a checksum upkeep never approved.
    let (problem, changes, reason) = match approved(expected) {
        Some(files) => {
            let changes = integrity::diff(&files, &digest.files);
            let reason = mismatch_reason(name, Some(&changes));
            (Problem::Changed, Some(changes), reason)
        }
        None => (
            Problem::Foreign,
            None,
            format!(
                "files of `{name}` do not match their checksum, which upkeep never approved (the seeds' checksummer computes another digest); review `{}`, then approve it with `{fix}`",
                dir.display()
            ),
        ),
    };
    Err(Box::new(Refusal {
        problem,
        expected: Some(expected.to_owned()),
        actual: Some(digest.checksum),
        changes,
        found: None,
        reason,
        fix,
    }))
}

/// The gate's refusal of a module that declares no checksum it can read.
fn undeclared(name: &str, dir: &std::path::Path, fix: String) -> Box<Refusal> {
    let found = describe_unreadable(dir);
    let (problem, reason) = match &found {
        None => (
            Problem::Missing,
            format!(
                "no checksum is recorded for `{}`: run `{fix}` after reviewing its files",
                dir.display()
            ),
        ),
        Some(found) => (
            Problem::Unreadable,
            format!(
                "the checksum file of `{name}` holds {found}, not a checksum upkeep can read: run `{fix}` after reviewing `{}`",
                dir.display()
            ),
        ),
    };
    Box::new(Refusal {
        problem,
        expected: None,
        actual: None,
        changes: None,
        found,
        reason,
        fix,
    })
}

fn mismatch_reason(name: &str, changes: Option<&FileDiff>) -> String {
    use std::fmt::Write as _;
    let mut reason = format!("files of `{name}` do not match their checksum");
    if let Some(changes) = changes {
        let mut parts = Vec::new();
        for (label, list) in [
            ("changed", &changes.changed),
            ("added", &changes.added),
            ("removed", &changes.removed),
        ] {
            if !list.is_empty() {
                parts.push(format!("{label}: {}", list.join(", ")));
            }
        }
        if !parts.is_empty() {
            let _ = write!(reason, " ({})", parts.join("; "));
        }
    }
    let _ = write!(
        reason,
        "; if the change is intended, approve it with `upkeep checksum --write {name}`"
    );
    reason
}

/// What a `checksum` file that upkeep cannot read holds, in words; `None` when there is
/// no such file (or it reads fine).
pub fn describe_unreadable(dir: &std::path::Path) -> Option<String> {
    let path = dir.join(integrity::CHECKSUM_FILE);
    match integrity::read_checksum_file(dir) {
        Ok(_) => None,
        Err(IntegrityError::MalformedChecksum { .. }) => {
            let bytes = fs_err::read(&path).unwrap_or_default();
            Some(describe_bytes(&bytes))
        }
        Err(err) => Some(format!(
            "nothing upkeep could read ({})",
            crate::message::failed_to(&err)
        )),
    }
}

fn describe_bytes(bytes: &[u8]) -> String {
    let Ok(text) = std::str::from_utf8(bytes) else {
        return format!(
            "{} that are not text",
            crate::message::count(bytes.len(), "byte", "bytes")
        );
    };
    let text = text.trim();
    let hex = |s: &str| s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit());
    let mut words = text.split_whitespace();
    match (words.next(), words.next(), words.next()) {
        (None, _, _) => "nothing (the file is empty)".to_owned(),
        (Some(digest), None, _) if hex(digest) => {
            "a SHA-256 in upper case (upkeep writes lower case)".to_owned()
        }
        (Some(digest), Some(file), None) if hex(digest) => {
            format!("`sha256sum` output (a digest followed by the name `{file}`)")
        }
        _ => {
            let shown: String = text.chars().take(40).collect();
            let more = if text.chars().count() > 40 { "…" } else { "" };
            format!("{shown:?}{more}")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn folder(files: &[(&str, &str)]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for (name, text) in files {
            fs_err::write(dir.path().join(name), text).unwrap();
        }
        dir
    }

    fn verdict(
        dir: &std::path::Path,
        declared: Option<&str>,
        approved: bool,
    ) -> Result<String, Box<Refusal>> {
        let live = integrity::digest_dir(dir).unwrap();
        gate(
            "gogs",
            dir,
            declared,
            || integrity::digest_dir(dir),
            |_| {
                approved.then(|| {
                    let mut files = live.files.clone();
                    files[0].sha256 = "0".repeat(64);
                    files
                })
            },
        )
    }

    #[test]
    fn the_gate_tells_each_reason_apart_and_names_the_fix() {
        let dir = folder(&[("index.py", "x = 1\n")]);
        let live = integrity::digest_dir(dir.path()).unwrap().checksum;
        assert_eq!(verdict(dir.path(), Some(&live), false).unwrap(), live);

        let missing = verdict(dir.path(), None, false).unwrap_err();
        assert_eq!(missing.problem, Problem::Missing);
        assert_eq!(missing.fix, "upkeep checksum --write gogs");

        let other = "a".repeat(64);
        let foreign = verdict(dir.path(), Some(&other), false).unwrap_err();
        assert_eq!(foreign.problem, Problem::Foreign);
        assert!(
            foreign.reason.contains("do not match their checksum"),
            "{}",
            foreign.reason
        );

        let changed = verdict(dir.path(), Some(&other), true).unwrap_err();
        assert_eq!(changed.problem, Problem::Changed);
        assert_eq!(changed.changes.unwrap().changed, ["index.py"]);

        fs_err::write(
            dir.path().join("checksum"),
            format!("{}  index.py\n", "A".repeat(64)),
        )
        .unwrap();
        let unreadable = verdict(dir.path(), None, false).unwrap_err();
        assert_eq!(unreadable.problem, Problem::Unreadable);
        assert!(unreadable.found.unwrap().contains("`sha256sum` output"));
    }

    #[test]
    fn an_unreadable_checksum_file_is_described_by_what_it_holds() {
        let hex = "ab".repeat(32);
        assert_eq!(describe_bytes(b""), "nothing (the file is empty)");
        assert!(describe_bytes(hex.to_uppercase().as_bytes()).contains("upper case"));
        assert!(describe_bytes(format!("{hex}  ./gogs\n").as_bytes()).contains("`./gogs`"));
        assert_eq!(describe_bytes(&[0xff, 0xfe]), "2 bytes that are not text");
        assert_eq!(describe_bytes(b"sha256:abc"), "\"sha256:abc\"");
    }
}
