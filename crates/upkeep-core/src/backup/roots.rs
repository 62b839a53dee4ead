//! Which paths a backup takes: the modules' declared `paths`, expanded, of the categories
//! a backup kind includes, and never one that no module may own.

use std::path::Path;

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
            if let Some(what) = forbidden(&path, state_dir, &manifest.root) {
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
fn forbidden(path: &Path, state_dir: &Path, updates_dir: &Path) -> Option<&'static str> {
    let resolved = |p: &Path| fs_err::canonicalize(p).unwrap_or_else(|_| p.to_path_buf());
    let holds =
        |inner: &Path| inner.starts_with(path) || resolved(inner).starts_with(resolved(path));
    if path.parent().is_none() {
        Some("the whole file system")
    } else if holds(state_dir) {
        Some("upkeep's state directory (its ledger and backups)")
    } else if holds(updates_dir) {
        Some("the updates directory (the manifest and the modules' code)")
    } else {
        None
    }
}
