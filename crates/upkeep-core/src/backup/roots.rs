//! Which paths a backup takes: the modules' declared `paths`, expanded, of the categories
//! a backup kind includes, and never one that no module may own, nor one that another
//! module owns too unless both declare it `shared`.

use std::path::{Path, PathBuf};

use super::{BackupError, BackupKind};
use crate::manifest::{Manifest, PathCategory};
use crate::placeholders;
use crate::state::backups::BackupRoot;

/// Whether a backup of `kind` takes paths of `category`.
fn includes(kind: BackupKind, category: PathCategory, include_logs: bool) -> bool {
    match (kind, category) {
        (_, PathCategory::Logs) => include_logs,
        (BackupKind::Config, PathCategory::Data | PathCategory::Shared)
        | (BackupKind::Data, PathCategory::Config) => false,
        _ => true,
    }
}

/// The roots a request covers: each owned path, expanded, with its label.
///
/// # Errors
/// A path template that does not expand, or a module that is unknown.
pub fn roots_for(
    manifest: &Manifest,
    state_dir: &Path,
    kind: BackupKind,
    modules: &[String],
    include_logs: bool,
) -> Result<Vec<BackupRoot>, BackupError> {
    let claims = OwnedPaths::of(manifest, state_dir);
    roots_within(manifest, state_dir, kind, modules, include_logs, &claims)
}

/// [`roots_for`] with every module's paths already expanded ([`OwnedPaths::of`] of the
/// same manifest and state directory), for a caller that asks for many modules' roots: a
/// run asks once per module, and expanding and resolving every path each time would cost
/// the square of the manifest's size.
///
/// # Errors
/// As [`roots_for`].
pub fn roots_within(
    manifest: &Manifest,
    state_dir: &Path,
    kind: BackupKind,
    modules: &[String],
    include_logs: bool,
    claims: &OwnedPaths,
) -> Result<Vec<BackupRoot>, BackupError> {
    for name in modules {
        if manifest.module(name).is_none() {
            return Err(BackupError::Nothing {
                action: "choose what to back up",
                reason: format!("no module `{name}` in the manifest"),
            });
        }
    }
    let off_limits = off_limits(state_dir, &manifest.root);
    let mut roots = Vec::new();
    for spec in &manifest.modules {
        if !modules.is_empty() && !modules.contains(&spec.name) {
            continue;
        }
        let context = placeholders::Context {
            state_dir,
            module: &spec.name,
            manifest_dir: &manifest.root,
        };
        let mut counts = std::collections::HashMap::new();
        for owned in &spec.paths {
            let n = counts.entry(owned.category).or_insert(0usize);
            let label = format!("{}.{}.{n}", spec.name, owned.category.name());
            *n += 1;
            if !includes(kind, owned.category, include_logs) {
                continue;
            }
            let path = placeholders::expand(&owned.template, &context)?;
            allowed(&spec.name, owned.category, &path, &off_limits, claims)?;
            roots.push(BackupRoot {
                label,
                module: spec.name.clone(),
                category: owned.category.name().to_owned(),
                path: path.to_string_lossy().into_owned(),
                missing: false,
            });
        }
    }
    Ok(roots)
}

/// What no module may own: the state directory and the updates directory.
fn off_limits(state_dir: &Path, updates_dir: &Path) -> [(&'static str, (PathBuf, PathBuf)); 2] {
    [
        (
            "upkeep's state directory (its ledger and backups)",
            resolved(state_dir),
        ),
        (
            "the updates directory (the manifest and the modules' code)",
            resolved(updates_dir),
        ),
    ]
}

/// Refuse a recorded `path` of `module` that no module may own (`/`, or one holding the
/// state or the updates directory): what a restore outside the declared paths still
/// checks, since a ledger row could name any path.
///
/// # Errors
/// [`BackupError::Forbidden`].
pub(crate) fn refuse_off_limits(
    module: &str,
    path: &Path,
    state_dir: &Path,
    updates_dir: &Path,
) -> Result<(), BackupError> {
    match forbidden(path, &off_limits(state_dir, updates_dir)) {
        Some(what) => Err(BackupError::Forbidden {
            module: module.to_owned(),
            path: path.to_path_buf(),
            what,
        }),
        None => Ok(()),
    }
}

/// Refuse `path` of `module` when no module may own it or another module owns it too.
fn allowed(
    module: &str,
    category: PathCategory,
    path: &Path,
    off_limits: &[(&'static str, (PathBuf, PathBuf))],
    claims: &OwnedPaths,
) -> Result<(), BackupError> {
    if let Some(what) = forbidden(path, off_limits) {
        return Err(BackupError::Forbidden {
            module: module.to_owned(),
            path: path.to_path_buf(),
            what,
        });
    }
    if let Some(other) = claims.overlap(module, category, path) {
        return Err(BackupError::Overlap {
            module: module.to_owned(),
            path: path.to_path_buf(),
            other: other.module.clone(),
            other_path: other.written.clone(),
        });
    }
    Ok(())
}

/// Every module's paths, of every category, expanded, as written and with links resolved
/// (one that does not expand claims nothing; it fails its own module's backup): what the
/// overlap check compares a module's path with.
#[derive(Debug, Clone, Default)]
pub struct OwnedPaths(Vec<Claim>);

#[derive(Debug, Clone)]
struct Claim {
    module: String,
    category: PathCategory,
    written: PathBuf,
    real: PathBuf,
}

impl OwnedPaths {
    /// The paths of `manifest`'s modules with `state_dir` as `{state}`.
    pub fn of(manifest: &Manifest, state_dir: &Path) -> Self {
        let mut claims = Vec::new();
        for spec in &manifest.modules {
            let context = placeholders::Context {
                state_dir,
                module: &spec.name,
                manifest_dir: &manifest.root,
            };
            for owned in &spec.paths {
                if let Ok(path) = placeholders::expand(&owned.template, &context) {
                    let (written, real) = resolved(&path);
                    claims.push(Claim {
                        module: spec.name.clone(),
                        category: owned.category,
                        written,
                        real,
                    });
                }
            }
        }
        Self(claims)
    }

    /// Another module's path that is, holds or lies within `path` of `module`, unless both
    /// are declared `shared`: the other module and its path.
    fn overlap(&self, module: &str, category: PathCategory, path: &Path) -> Option<&Claim> {
        let (written, real) = resolved(path);
        let meet = |a: &Path, b: &Path| a.starts_with(b) || b.starts_with(a);
        self.0.iter().find(|other| {
            let both_shared =
                category == PathCategory::Shared && other.category == PathCategory::Shared;
            other.module != module
                && !both_shared
                && (meet(&written, &other.written) || meet(&real, &other.real))
        })
    }
}

/// What `path` takes in that no module may own, if anything: it is `/`, or it is or holds
/// the state directory or the updates directory (compared as written and, where they
/// exist, with links resolved).
fn forbidden(
    path: &Path,
    off_limits: &[(&'static str, (PathBuf, PathBuf))],
) -> Option<&'static str> {
    if path.parent().is_none() {
        return Some("the whole file system");
    }
    let path_resolved = fs_err::canonicalize(path).ok();
    off_limits.iter().find_map(|(what, (written, real))| {
        let holds = written.starts_with(path)
            || path_resolved.as_ref().is_some_and(|p| real.starts_with(p));
        holds.then_some(*what)
    })
}

/// `path` as written and with its links resolved (as written when it does not exist).
fn resolved(path: &Path) -> (PathBuf, PathBuf) {
    let real = fs_err::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    (path.to_path_buf(), real)
}
