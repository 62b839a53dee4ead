//! Restores against the paths modules declare now: a recorded root outside them is
//! refused, naming what changed, unless the caller allows changed paths
//! (`--allow-changed-paths`), and even then never a path no module may own.

use std::path::{Path, PathBuf};

use super::{BackupError, BackupRoot, BackupRow, RestoreSelection, roots, selected_roots};
use crate::state::Ledger;

/// A recorded root that lies outside every path its module declares now.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ChangedPath {
    /// The module.
    pub module: String,
    /// The path the backup recorded.
    pub recorded: PathBuf,
    /// The paths the module declares now.
    pub declared: Vec<PathBuf>,
}

/// Permission to restore roots outside the paths their modules declare now
/// (`--allow-changed-paths`): the recorded paths are restored anyway, except a path that
/// no module may own (`/`, one holding the state directory or the updates directory).
#[derive(Debug, Clone)]
pub struct AllowChanged {
    /// The updates directory (the manifest's), which no restore may write over.
    pub updates_dir: PathBuf,
}

/// Check, without writing anything, that the roots of `row` that `selection` covers lie
/// within the paths their modules declare now (see [`restore`], which checks the same):
/// the roots outside them that the selection allows.
///
/// # Errors
/// [`BackupError::Undeclared`], [`BackupError::Forbidden`] or a ledger error.
pub fn check_declared(
    ledger: &Ledger,
    row: &BackupRow,
    selection: &RestoreSelection,
    state_dir: &Path,
) -> Result<Vec<ChangedPath>, BackupError> {
    let roots = selected_roots(ledger, row, selection)?;
    changed_paths(row.id, &roots, selection, state_dir)
}

/// The selected roots that lie outside the paths their modules declare now: refused
/// ([`BackupError::Undeclared`], naming what the module declares instead) unless the
/// selection allows changed paths, and even then refused when no module may own the path.
pub(super) fn changed_paths(
    backup_id: i64,
    roots: &[BackupRoot],
    selection: &RestoreSelection,
    state_dir: &Path,
) -> Result<Vec<ChangedPath>, BackupError> {
    let Some(within) = &selection.within else {
        return Ok(Vec::new());
    };
    let mut changed = Vec::new();
    for root in roots {
        let path = Path::new(&root.path);
        let declared: Vec<PathBuf> = within
            .iter()
            .filter(|w| w.module == root.module)
            .map(|w| PathBuf::from(&w.path))
            .collect();
        if declared.iter().any(|d| path.starts_with(d)) {
            continue;
        }
        let Some(allow) = &selection.allow_changed_paths else {
            return Err(BackupError::Undeclared {
                backup_id,
                module: root.module.clone(),
                path: path.to_path_buf(),
                declared,
            });
        };
        roots::refuse_off_limits(&root.module, path, state_dir, &allow.updates_dir)?;
        changed.push(ChangedPath {
            module: root.module.clone(),
            recorded: path.to_path_buf(),
            declared,
        });
    }
    Ok(changed)
}

/// The paths a module declares now, for a message: `a, b` or `no paths`.
pub(super) fn declared_list(declared: &[PathBuf]) -> String {
    if declared.is_empty() {
        return "no paths".to_owned();
    }
    let paths: Vec<String> = declared.iter().map(|p| p.display().to_string()).collect();
    paths.join(", ")
}
