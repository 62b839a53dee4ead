//! Which paths a backup takes: the modules' declared `paths`, expanded, of the categories
//! a backup kind includes, and never one that no module may own, nor one that another
//! module owns too unless both declare it `shared`.

use std::collections::BTreeMap;
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
pub struct OwnedPaths {
    claims: Vec<Claim>,
    /// Claim indices by path as written and as resolved: a path's ancestors are looked up
    /// and its descendants are one range, so a check costs the path's depth, not the
    /// number of paths (a run of a 1,000-module manifest checks every module's paths).
    by_written: BTreeMap<PathBuf, Vec<usize>>,
    by_real: BTreeMap<PathBuf, Vec<usize>>,
}

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
        let mut by_written: BTreeMap<PathBuf, Vec<usize>> = BTreeMap::new();
        let mut by_real: BTreeMap<PathBuf, Vec<usize>> = BTreeMap::new();
        for (i, claim) in claims.iter().enumerate() {
            by_written.entry(claim.written.clone()).or_default().push(i);
            by_real.entry(claim.real.clone()).or_default().push(i);
        }
        Self {
            claims,
            by_written,
            by_real,
        }
    }

    /// Another module's path that is, holds or lies within `path` of `module`, unless both
    /// are declared `shared`: the other module and its path.
    fn overlap(&self, module: &str, category: PathCategory, path: &Path) -> Option<&Claim> {
        let (written, real) = resolved(path);
        let mut meeting: Vec<usize> = Self::meeting(&self.by_written, &written);
        meeting.extend(Self::meeting(&self.by_real, &real));
        // The first in manifest order, as a scan of every claim would find it.
        meeting.sort_unstable();
        meeting.into_iter().map(|i| &self.claims[i]).find(|other| {
            let both_shared =
                category == PathCategory::Shared && other.category == PathCategory::Shared;
            other.module != module && !both_shared
        })
    }

    /// The claims in `map` that are `path`, hold it or lie within it.
    fn meeting(map: &BTreeMap<PathBuf, Vec<usize>>, path: &Path) -> Vec<usize> {
        let above = path.ancestors().filter_map(|a| map.get(a)).flatten();
        let below = map
            .range::<Path, _>((std::ops::Bound::Excluded(path), std::ops::Bound::Unbounded))
            .take_while(|(p, _)| p.starts_with(path))
            .flat_map(|(_, ids)| ids);
        above.chain(below).copied().collect()
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

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::{Claim, OwnedPaths, Path, PathBuf, PathCategory};

    /// What the overlap check was before the index: the first claim in order that meets.
    fn scan<'c>(
        claims: &'c [Claim],
        module: &str,
        category: PathCategory,
        path: &Path,
    ) -> Option<&'c Claim> {
        let meet = |a: &Path, b: &Path| a.starts_with(b) || b.starts_with(a);
        claims.iter().find(|other| {
            let both_shared =
                category == PathCategory::Shared && other.category == PathCategory::Shared;
            other.module != module && !both_shared && meet(path, &other.written)
        })
    }

    fn path_of(parts: &[u8]) -> PathBuf {
        let names = ["a", "b", "a-b", "ab", "b.c"];
        let mut path = PathBuf::from("/nonexistent-upkeep-test");
        for p in parts {
            path.push(names[usize::from(*p) % names.len()]);
        }
        path
    }

    proptest! {
        #[test]
        fn the_index_finds_what_a_scan_finds(
            claims in proptest::collection::vec(
                (0u8..4, any::<bool>(), proptest::collection::vec(0u8..5, 0..4)),
                0..24,
            ),
            queries in proptest::collection::vec(
                (0u8..4, any::<bool>(), proptest::collection::vec(0u8..5, 0..4)),
                1..8,
            ),
        ) {
            let category = |shared: bool| if shared { PathCategory::Shared } else { PathCategory::Data };
            let claims: Vec<Claim> = claims
                .into_iter()
                .map(|(m, shared, parts)| Claim {
                    module: format!("m{m}"),
                    category: category(shared),
                    written: path_of(&parts),
                    real: path_of(&parts),
                })
                .collect();
            let mut owned = OwnedPaths::default();
            for (i, claim) in claims.iter().enumerate() {
                owned.by_written.entry(claim.written.clone()).or_default().push(i);
                owned.by_real.entry(claim.real.clone()).or_default().push(i);
            }
            owned.claims = claims.clone();
            for (m, shared, parts) in queries {
                let module = format!("m{m}");
                let path = path_of(&parts);
                let found = owned.overlap(&module, category(shared), &path).map(|c| (&c.module, &c.written));
                let scanned = scan(&claims, &module, category(shared), &path).map(|c| (&c.module, &c.written));
                prop_assert_eq!(found, scanned);
            }
        }
    }
}
