//! Which paths a backup takes: the modules' declared `paths`, expanded, of the categories
//! a backup kind includes, and never one that no module may own.

use std::path::{Path, PathBuf};

use super::{BackupError, BackupKind};
use crate::manifest::{Manifest, PathCategory};
use crate::placeholders;
use crate::state::backups::BackupRoot;

/// Whether a backup of `kind` takes paths of `category`.
fn includes(kind: BackupKind, category: PathCategory, include_logs: bool) -> bool {
    match (kind, category) {
        (_, PathCategory::Logs) => include_logs,
        (BackupKind::Config, PathCategory::Data) | (BackupKind::Data, PathCategory::Config) => {
            false
        }
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
    for name in modules {
        if manifest.module(name).is_none() {
            return Err(BackupError::Nothing {
                action: "choose what to back up",
                reason: format!("no module `{name}` in the manifest"),
            });
        }
    }
    let off_limits = [
        (
            "upkeep's state directory (its ledger and backups)",
            resolved(state_dir),
        ),
        (
            "the updates directory (the manifest and the modules' code)",
            resolved(&manifest.root),
        ),
    ];
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
            if let Some(what) = forbidden(&path, &off_limits) {
                return Err(BackupError::Forbidden {
                    module: spec.name.clone(),
                    path,
                    what,
                });
            }
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
