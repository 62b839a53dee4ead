//! Manual rollback of one module to its last safe version, a named version, or a backup:
//! its code from the git tag of that version (the seeds' `<module>-v<version>-<timestamp>`),
//! its data from the backup taken when that version was in place, then its health check.
//!
//! A tag's commit is recorded in the ledger when upkeep creates the tag after a healthy
//! update; only such a tag is used (one the ledger does not know is ignored, whatever its
//! name), and one that points elsewhere later has moved, and the rollback is refused. Restoring the
//! code rewrites the module's folder to the tagged tree (files added since are removed),
//! approves the restored folder's checksum (audit entry), and sets the manifest's declared
//! `version` to the target so the next run does not upgrade straight back.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::backup::{self, BackupConfig, BackupError, BackupKind, Request, RestoreSelection};
use crate::exec::{self, Invocation};
use crate::integrity;
use crate::manifest::{Manifest, ModuleSpec, writeback};
use crate::state::backups::{BackupReason, BackupRow, BackupStatus};
use crate::state::health::{HealthPhase, HealthRecord};
use crate::state::rollbacks::{
    ModuleAfterRollback, RollbackRecord, RollbackResult, RollbackTrigger,
};

use crate::state::{Ledger, StateError, now_ms};

/// Where to roll back to.
#[derive(Debug, Clone)]
pub enum Target {
    /// The module's last safe version (ledger).
    LastSafe,
    /// A named version.
    Version(String),
    /// The version a backup was taken at, with that backup's data.
    Backup(String),
}

/// Why a rollback could not be done (nothing changed unless said otherwise).
#[derive(Debug, thiserror::Error)]
pub enum RollbackError {
    /// No such module.
    #[error("find module `{name}`: it is not in the manifest")]
    UnknownModule {
        /// The name given.
        name: String,
        /// The closest module name, for a likely typo.
        suggestion: Option<String>,
    },
    /// Nothing known to roll back to.
    #[error("roll back `{module}`: {reason}")]
    NoTarget {
        /// The module.
        module: String,
        /// Why.
        reason: String,
    },
    /// The tag points at another commit than the one recorded.
    #[error(
        "roll back `{module}`: tag {tag} now points at {found}, but the ledger recorded {recorded}; refusing to run moved code"
    )]
    TagMoved {
        /// The module.
        module: String,
        /// The tag.
        tag: String,
        /// Recorded commit.
        recorded: String,
        /// Commit it points at now.
        found: String,
    },
    /// A git command failed.
    #[error("restore `{module}` code from git: {message}")]
    Git {
        /// The module.
        module: String,
        /// What failed.
        message: String,
    },
    /// The data restore failed.
    #[error(transparent)]
    Backup(#[from] BackupError),
    /// The ledger failed.
    #[error(transparent)]
    State(#[from] StateError),
    /// Hashing or writing the restored code failed.
    #[error("approve the restored code of `{module}`: {message}")]
    Approve {
        /// The module.
        module: String,
        /// What failed.
        message: String,
    },
}

/// A git tag of a module version.
#[derive(Debug, Clone, serde::Serialize)]
pub struct TagInfo {
    /// Tag name.
    pub tag: String,
    /// Commit it points at now.
    pub commit: String,
    /// Commit the ledger recorded for it, if any.
    pub recorded: Option<String>,
}

impl TagInfo {
    /// Whether the tag points elsewhere than recorded.
    pub fn moved(&self) -> bool {
        self.recorded.as_ref().is_some_and(|r| *r != self.commit)
    }
}

/// One version a module can go back to.
#[derive(Debug, Clone, serde::Serialize)]
pub struct VersionInfo {
    /// The version.
    pub version: String,
    /// Tags of it, newest first.
    pub tags: Vec<TagInfo>,
    /// Backups holding the module's data at that version, newest first (ids).
    pub backups: Vec<i64>,
    /// Whether it is the module's last safe version.
    pub last_safe: bool,
    /// Whether it is applied now.
    pub applied: bool,
}

/// What a rollback did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Report {
    /// The module.
    pub module: String,
    /// Version before.
    pub from_version: Option<String>,
    /// Version after.
    pub to_version: String,
    /// The tag the code came from.
    pub tag: Option<TagInfo>,
    /// The backup the data came from.
    pub backup_id: Option<i64>,
    /// The backup taken before rolling back.
    pub pre_rollback_backup: Option<i64>,
    /// Health check result after (`None` without a check).
    pub healthy: Option<bool>,
    /// How it ended (`rolled-back` or `needs-intervention`).
    pub result: RollbackResult,
    /// What went wrong after the point of no return.
    pub detail: Option<String>,
    /// Paths restored where the backup recorded them although the module no longer
    /// declares them there (`--allow-changed-paths`).
    pub changed_paths: Vec<backup::ChangedPath>,
}

/// What a manual rollback is asked to do.
#[derive(Debug, Clone)]
pub struct RollbackRequest<'a> {
    /// The module.
    pub module: &'a str,
    /// Where to roll it back to.
    pub target: &'a Target,
    /// Restore the backup's recorded paths even where the module no longer declares them
    /// (never a path no module may own).
    pub allow_changed_paths: bool,
}

fn spec<'m>(manifest: &'m Manifest, module: &str) -> Result<&'m ModuleSpec, RollbackError> {
    manifest
        .module(module)
        .ok_or_else(|| RollbackError::UnknownModule {
            name: module.to_owned(),
            suggestion: crate::text::suggest(
                module,
                manifest.modules.iter().map(|m| m.name.as_str()),
            ),
        })
}

/// Run git in the manifest's directory.
fn git(root: &Path, args: &[&str]) -> Result<exec::Captured, String> {
    let mut command = vec!["git"];
    command.extend_from_slice(args);
    exec::capture(&command, root, Duration::from_secs(60)).map_err(|e| format!("run git: {e}"))
}

/// The version in `tag` when it matches `format` for `module`.
pub fn version_in_tag(format: &str, module: &str, tag: &str) -> Option<String> {
    let format = format.replace("{module}", module);
    let (before, after) = format.split_once("{version}")?;
    let rest = match_part(before, tag)?;
    // The version is the shortest-from-the-right split that lets `after` match the end.
    (1..=rest.len()).rev().find_map(|end| {
        let (version, tail) = rest.split_at(end);
        (rest.is_char_boundary(end) && match_part(after, tail) == Some(""))
            .then(|| version.to_owned())
    })
}

/// Match `pattern` (literal text and `{timestamp}` = digits) at the start of `text`;
/// returns what is left.
fn match_part<'t>(pattern: &str, text: &'t str) -> Option<&'t str> {
    let mut text = text;
    let mut pieces = pattern.split("{timestamp}");
    let first = pieces.next()?;
    text = text.strip_prefix(first)?;
    for literal in pieces {
        let digits = text.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return None;
        }
        text = text[digits..].strip_prefix(literal)?;
    }
    Some(text)
}

/// Every tag of the module in the manifest's repository, as (version, tag), newest first.
fn tags(manifest: &Manifest, ledger: &Ledger, module: &str) -> Vec<(String, TagInfo)> {
    let Ok(list) = git(&manifest.root, &["tag", "--list"]) else {
        return Vec::new();
    };
    if !list.success() {
        return Vec::new();
    }
    let recorded = ledger.git_tags(module).unwrap_or_default();
    let mut out: Vec<(String, TagInfo)> = list
        .stdout
        .lines()
        .filter_map(|tag| {
            let version = version_in_tag(&manifest.git_tags.format, module, tag)?;
            let commit = git(
                &manifest.root,
                &["rev-parse", "--verify", &format!("{tag}^{{commit}}")],
            )
            .ok()
            .filter(exec::Captured::success)?
            .stdout
            .trim()
            .to_owned();
            let recorded = recorded
                .iter()
                .find(|r| r.tag == tag)
                .map(|r| r.commit_id.clone());
            Some((
                version,
                TagInfo {
                    tag: tag.to_owned(),
                    commit,
                    recorded,
                },
            ))
        })
        .collect();
    // Timestamps sort as text; the newest tag of a version comes first.
    out.sort_by(|a, b| b.1.tag.cmp(&a.1.tag));
    out
}

/// Versions the module can roll back to, from tags and backups.
///
/// # Errors
/// An unknown module or a ledger error.
pub fn versions(
    manifest: &Manifest,
    ledger: &Ledger,
    module: &str,
) -> Result<Vec<VersionInfo>, RollbackError> {
    spec(manifest, module)?;
    let state = ledger.module_states()?.remove(module).unwrap_or_default();
    let mut found: Vec<(String, Option<TagInfo>, Option<i64>)> = Vec::new();
    for (version, tag) in tags(manifest, ledger, module) {
        found.push((version, Some(tag), None));
    }
    for b in module_backups(ledger, module)? {
        if let Some(version) = b.module_version {
            found.push((version, None, Some(b.id)));
        }
    }
    let mut out: Vec<VersionInfo> = Vec::new();
    for (version, tag, backup) in found {
        let i = out
            .iter()
            .position(|v| v.version == version)
            .unwrap_or_else(|| {
                out.push(VersionInfo {
                    last_safe: state.last_safe_version.as_deref() == Some(version.as_str()),
                    applied: state.applied_version.as_deref() == Some(version.as_str()),
                    version: version.clone(),
                    tags: Vec::new(),
                    backups: Vec::new(),
                });
                out.len() - 1
            });
        out[i].tags.extend(tag);
        out[i].backups.extend(backup);
    }
    Ok(out)
}

fn module_backups(ledger: &Ledger, module: &str) -> Result<Vec<BackupRow>, RollbackError> {
    Ok(ledger
        .backups()?
        .into_iter()
        .filter(|b| b.module.as_deref() == Some(module) && b.status == BackupStatus::Ok)
        .collect())
}

/// Roll `module` back to `target`: code from its tag, data from its backup, then its
/// health check; recorded in the ledger.
///
/// # Errors
/// [`RollbackError`] before anything changed (unknown target, moved tag, bad archive),
/// or when a step after the first change failed (the report is then lost; the ledger's
/// rollbacks table has what happened).
pub fn rollback(
    manifest: &Manifest,
    ledger: &mut Ledger,
    state_dir: &Path,
    request: &RollbackRequest<'_>,
    config: &BackupConfig,
    routing: &crate::notify::Routing,
) -> Result<Report, RollbackError> {
    let (module, target) = (request.module, request.target);
    let spec = spec(manifest, module)?;
    let state = ledger.module_states()?.remove(module).unwrap_or_default();
    let (version, backup) =
        resolve_target(ledger, module, state.last_safe_version.as_ref(), target)?;
    let tag = code_tag(manifest, ledger, spec, &version)?;
    if tag.is_none() && backup.is_none() {
        return Err(nothing_of(module, &version));
    }
    let applied = state.applied_version.as_ref();
    let pre = pre_rollback_backup(manifest, ledger, state_dir, spec, applied, config)?;
    let occasion = Occasion {
        spec,
        allow_changed_paths: request.allow_changed_paths,
        from_version: applied.cloned(),
        to_version: version.clone(),
    };
    let (applied_checksum, healthy, changed_paths) = apply(
        manifest,
        ledger,
        state_dir,
        &occasion,
        tag.as_ref(),
        backup.as_ref(),
    )?;
    let (result, detail, module_after) = ended(healthy.as_ref());
    let record = RollbackRecord {
        run_id: None,
        module: module.to_owned(),
        trigger: RollbackTrigger::Manual,
        cause: Some("requested".into()),
        from_version: state.applied_version.clone(),
        to_version: Some(version.clone()),
        backup_id: backup.as_ref().map(|b| b.id),
        git_tag: tag.as_ref().map(|t| t.tag.clone()),
        git_commit: tag.as_ref().map(|t| t.commit.clone()),
        result,
        module_after,
        detail: detail.clone(),
        applied_checksum,
    };
    let event = crate::notify::events::module_rolled_back_outside_run("manual", &record);
    ledger.record_rollback_notifying(&record, &routing.rows(&[event]))?;
    if result == RollbackResult::RolledBack {
        declare_version(manifest, module, &version)?;
    }
    Ok(Report {
        module: module.to_owned(),
        from_version: state.applied_version,
        to_version: version,
        tag,
        backup_id: backup.map(|b| b.id),
        pre_rollback_backup: pre,
        healthy: healthy.map(|h| h.is_ok()),
        result,
        detail,
        changed_paths,
    })
}

/// Neither code nor data of `version` to go back to.
fn nothing_of(module: &str, version: &str) -> RollbackError {
    RollbackError::NoTarget {
        module: module.to_owned(),
        reason: format!(
            "no git tag and no backup of version {version}; `upkeep versions {module}` lists what there is"
        ),
    }
}

/// How a manual rollback ended, given its health check's result: one that worked puts
/// its version back as applied; one whose check failed holds the module.
fn ended(
    healthy: Option<&Result<(), String>>,
) -> (RollbackResult, Option<String>, ModuleAfterRollback) {
    match healthy {
        Some(Err(detail)) => {
            let detail = format!("health check after the rollback failed: {detail}");
            let held = ModuleAfterRollback::Held(detail.clone());
            (RollbackResult::NeedsIntervention, Some(detail), held)
        }
        _ => (
            RollbackResult::RolledBack,
            None,
            ModuleAfterRollback::Applied,
        ),
    }
}

/// Set the manifest's declared version to where the module now is.
fn declare_version(manifest: &Manifest, module: &str, version: &str) -> Result<(), RollbackError> {
    writeback::set_version(&manifest.path, module, version).map_err(|e| RollbackError::Approve {
        module: module.to_owned(),
        message: e.to_string(),
    })
}

/// A manual rollback of one module: from the applied version to another.
struct Occasion<'a> {
    spec: &'a ModuleSpec,
    allow_changed_paths: bool,
    from_version: Option<String>,
    to_version: String,
}

/// What putting a version back left: the checksum of the restored code (when code was
/// restored) and the health check's result (when the module has one).
/// And the roots restored outside the module's declared paths.
type Applied = (
    Option<String>,
    Option<Result<(), String>>,
    Vec<backup::ChangedPath>,
);

/// Put the code and data back, then check health (`None` without a check).
fn apply(
    manifest: &Manifest,
    ledger: &mut Ledger,
    state_dir: &Path,
    occasion: &Occasion<'_>,
    tag: Option<&TagInfo>,
    backup: Option<&BackupRow>,
) -> Result<Applied, RollbackError> {
    let spec = occasion.spec;
    // Only where the module's paths are declared now, whatever the backup recorded (or,
    // with `--allow-changed-paths`, where it recorded them); checked before the code
    // changes, so a refused restore leaves the module as it was.
    let data = match backup {
        Some(b) => {
            let declared = backup::roots_for(
                manifest,
                state_dir,
                crate::backup::BackupKind::Module,
                std::slice::from_ref(&spec.name),
                true,
            )?;
            let selection = RestoreSelection {
                modules: vec![spec.name.clone()],
                within: Some(declared),
                allow_changed_paths: occasion.allow_changed_paths.then(|| {
                    crate::backup::AllowChanged {
                        updates_dir: manifest.root.clone(),
                    }
                }),
                ..RestoreSelection::default()
            };
            backup::check_declared(ledger, b, &selection, state_dir)?;
            Some((b, selection))
        }
        None => None,
    };
    let checksum = match tag {
        Some(tag) => Some(restore_code(manifest, ledger, spec, tag)?),
        None => None,
    };
    let changed = match data {
        Some((b, selection)) => {
            backup::restore(ledger, state_dir, b, &selection, None)?.changed_paths
        }
        None => Vec::new(),
    };
    let healthy = spec
        .health
        .as_ref()
        .map(|check| health(manifest, ledger, state_dir, occasion, check))
        .transpose()?;
    Ok((checksum, healthy, changed))
}

/// The version to go back to and the backup holding its data, if any.
fn resolve_target(
    ledger: &Ledger,
    module: &str,
    last_safe: Option<&String>,
    target: &Target,
) -> Result<(String, Option<BackupRow>), RollbackError> {
    let no_target = |reason: String| RollbackError::NoTarget {
        module: module.to_owned(),
        reason,
    };
    let backups = module_backups(ledger, module)?;
    let (version, backup) = match target {
        Target::LastSafe => {
            let v = last_safe
                .cloned()
                .ok_or_else(|| no_target("it has no last safe version yet".into()))?;
            let b = backups
                .iter()
                .find(|b| b.module_version.as_deref() == Some(&v))
                .cloned();
            (v, b)
        }
        Target::Version(v) => {
            let b = backups
                .iter()
                .find(|b| b.module_version.as_deref() == Some(v))
                .cloned();
            (v.clone(), b)
        }
        Target::Backup(id) => {
            let b = backup::find(ledger, id)?;
            let v = b.module_version.clone().ok_or_else(|| {
                no_target(format!("backup {} records no version of `{module}`", b.id))
            })?;
            (v, Some(b))
        }
    };
    Ok((version, backup))
}

/// The newest tag of `version` that the ledger recorded, checked against its commit.
fn code_tag(
    manifest: &Manifest,
    ledger: &mut Ledger,
    spec: &ModuleSpec,
    version: &str,
) -> Result<Option<TagInfo>, RollbackError> {
    if spec.dir.is_none() {
        return Ok(None);
    }
    // Only a tag the ledger vouches for: one upkeep made (or recorded) with its commit when
    // that version was healthy. A tag anyone pushed since, however new its name, is not
    // trusted with code that will run.
    let Some((_, tag)) = tags(manifest, ledger, &spec.name)
        .into_iter()
        .find(|(v, t)| v == version && t.recorded.is_some())
    else {
        return Ok(None);
    };
    if let Some(recorded) = tag.recorded.clone().filter(|_| tag.moved()) {
        return Err(RollbackError::TagMoved {
            module: spec.name.clone(),
            tag: tag.tag,
            recorded,
            found: tag.commit,
        });
    }
    Ok(Some(tag))
}

fn pre_rollback_backup(
    manifest: &Manifest,
    ledger: &mut Ledger,
    state_dir: &Path,
    spec: &ModuleSpec,
    applied: Option<&String>,
    config: &BackupConfig,
) -> Result<Option<i64>, RollbackError> {
    if spec.paths.is_empty() {
        return Ok(None);
    }
    let modules = vec![spec.name.clone()];
    let roots = backup::roots_for(manifest, state_dir, BackupKind::Module, &modules, true)?;
    let request = Request {
        kind: BackupKind::Module,
        modules,
        name: Some(format!("pre-rollback_{}", spec.name)),
        description: Some(format!("before rolling back {}", spec.name)),
        include_logs: true,
        reason: BackupReason::PreRollback,
        run_id: None,
        module_version: applied.cloned(),
    };
    Ok(Some(
        backup::create(ledger, state_dir, &request, &roots, config)?.id,
    ))
}

/// Rewrite the module's folder to the tagged tree and approve its checksum, which it
/// returns.
fn restore_code(
    manifest: &Manifest,
    ledger: &mut Ledger,
    spec: &ModuleSpec,
    tag: &TagInfo,
) -> Result<String, RollbackError> {
    let dir = spec.dir.clone().unwrap_or_default();
    let git_err = |message: String| RollbackError::Git {
        module: spec.name.clone(),
        message,
    };
    let rel = dir
        .strip_prefix(&manifest.root)
        .map_err(|_| git_err(format!("{} is outside the repository", dir.display())))?
        .to_string_lossy()
        .into_owned();
    let listed = git(
        &manifest.root,
        &["ls-tree", "-r", "--name-only", &tag.commit, "--", &rel],
    )
    .map_err(git_err)?;
    if !listed.success() || listed.stdout.trim().is_empty() {
        return Err(git_err(format!("{} holds no files under {rel}", tag.tag)));
    }
    let wanted: std::collections::HashSet<PathBuf> = listed
        .stdout
        .lines()
        .map(|l| manifest.root.join(l))
        .collect();
    for file in files_under(&dir) {
        if !wanted.contains(&file) {
            fs_err::remove_file(&file).map_err(|e| git_err(e.to_string()))?;
        }
    }
    let checkout = git(&manifest.root, &["checkout", &tag.commit, "--", &rel]).map_err(git_err)?;
    if !checkout.success() {
        return Err(git_err(checkout.stderr.trim().to_owned()));
    }
    let approve_err = |message: String| RollbackError::Approve {
        module: spec.name.clone(),
        message,
    };
    let digest = integrity::digest_dir(&dir).map_err(|e| approve_err(e.to_string()))?;
    ledger.record_approval(
        &spec.name,
        &digest.checksum,
        &digest.files,
        &format!("rollback to {}", tag.tag),
    )?;
    integrity::write_checksum_file(&dir, &digest.checksum)
        .map_err(|e| approve_err(e.to_string()))?;
    writeback::set_checksum(&manifest.path, &spec.name, &digest.checksum)
        .map_err(|e| approve_err(e.to_string()))?;
    Ok(digest.checksum)
}

/// Regular files and symlinks under `dir`, skipping `__pycache__`.
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(read) = fs_err::read_dir(&d) else {
            continue;
        };
        for entry in read.flatten() {
            let path = entry.path();
            match entry.file_type() {
                Ok(t) if t.is_dir() && entry.file_name() != "__pycache__" => stack.push(path),
                Ok(t) if !t.is_dir() => out.push(path),
                _ => {}
            }
        }
    }
    out
}

fn health(
    manifest: &Manifest,
    ledger: &mut Ledger,
    state_dir: &Path,
    occasion: &Occasion<'_>,
    check: &crate::manifest::HealthCheck,
) -> Result<Result<(), String>, StateError> {
    let spec = occasion.spec;
    // The same variables the check sees after an update in a run (`crate::module_env`).
    let env = crate::module_env::ModuleContext {
        spec,
        manifest_root: &manifest.root,
        state_dir,
        run_id: None,
        action: "rollback",
        version: Some(occasion.to_version.clone()),
        old_version: occasion.from_version.clone(),
        update: None,
    };
    crate::module_env::ensure_work_dir(&env);
    let base = Invocation {
        argv: Vec::new(),
        env: crate::module_env::variables(&env),
        cwd: manifest.root.clone(),
        log_path: state_dir
            .join("logs")
            .join(format!("rollback-{}", now_ms()))
            .join(format!("{}.log", spec.name)),
        stream: None,
        timeout: None,
        grace: Duration::from_secs(5),
        display: None,
        log_made: false,
        log_cap: Some(crate::exec::DEFAULT_LOG_CAP),
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => return Ok(Err(format!("start the runtime: {e}"))),
    };
    let (_keep, cancel) = tokio::sync::watch::channel(false);
    let (result, attempts) = runtime.block_on(async {
        let reloaded = crate::run::safety::reload(check, &base, cancel.clone()).await;
        let (result, attempts) = crate::run::safety::attempt_health(
            check,
            HealthPhase::AfterRollback.as_str(),
            &base,
            cancel,
        )
        .await;
        let note = crate::run::safety::reload_note(&reloaded);
        (result.map_err(|detail| format!("{detail}{note}")), attempts)
    });
    // A result the ledger cannot keep fails the rollback as a ledger error rather than
    // vanishing: `status` and `history` would otherwise miss the check.
    ledger.record_health(&HealthRecord {
        run_id: None,
        module: spec.name.clone(),
        phase: HealthPhase::AfterManualRollback,
        passed: result.is_ok(),
        attempts,
        detail: result.as_ref().err().cloned(),
    })?;
    Ok(result)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_version_in_tags() {
        let f = "{module}-v{version}-{timestamp}";
        assert_eq!(
            version_in_tag(f, "adblock", "adblock-v1.0.0-20240610").as_deref(),
            Some("1.0.0")
        );
        assert_eq!(
            version_in_tag(f, "web", "web-v2.0.0-rc.1-20261123045500").as_deref(),
            Some("2.0.0-rc.1")
        );
        assert_eq!(version_in_tag(f, "web", "webx-v1-20261123"), None);
        assert_eq!(version_in_tag(f, "web", "web-v1-"), None);
        assert_eq!(version_in_tag(f, "web", "other-v1-2024"), None);
        assert_eq!(
            version_in_tag("{module}@{version}", "gogs", "gogs@2").as_deref(),
            Some("2")
        );
    }
}
