//! `backup create|list|verify|restore|prune|delete` and `clear`: backups of the paths
//! modules own, and releasing a module held for intervention.
//!
//! Every use case that writes takes the run lock, so none of them races a run.

use std::path::PathBuf;
use std::time::Duration;

use super::{Confirm, Context, Error, ask};
use crate::archive::Compression;
use crate::backup::{
    self, BackupConfig, BackupError, BackupKind, Decision, Request, RestoreSelection, Restored,
    Retention,
};
use crate::lock::RunLock;
use crate::manifest::PathCategory;
use crate::run::RunError;
use crate::state::backups::{BackupRoot, BackupRow};

fn lock(ctx: &Context) -> Result<RunLock, Error> {
    RunLock::acquire(ctx.state_dir(), false).map_err(|e| Error::Run(RunError::from(e)))
}

/// How a person wants a backup taken; `None` fields take the settings' values.
#[derive(Debug, Clone, Default)]
pub struct CreateRequest {
    /// What it holds (a list of modules makes it a module backup).
    pub kind: BackupKind,
    /// Only these modules.
    pub modules: Vec<String>,
    /// Its name.
    pub name: Option<String>,
    /// Free text.
    pub description: Option<String>,
    /// Also store `logs` paths.
    pub include_logs: bool,
    /// Compression, overriding `backup.compression_enabled`.
    pub compression: Option<Compression>,
    /// Level, overriding `backup.compression_level`.
    pub level: Option<i32>,
    /// Free-space floor, overriding `safety.min_disk_space_mb`.
    pub min_free: Option<u64>,
}

/// The paths a backup of `request` would hold, for a caller that shows them first.
///
/// # Errors
/// The manifest, an unknown module, or a path that does not expand.
pub fn roots(ctx: &Context, request: &CreateRequest) -> Result<Vec<BackupRoot>, Error> {
    let manifest = ctx.manifest()?;
    Ok(backup::roots_for(
        &manifest,
        ctx.state_dir(),
        kind_of(request),
        &request.modules,
        request.include_logs,
    )?)
}

fn kind_of(request: &CreateRequest) -> BackupKind {
    if !request.modules.is_empty() && request.kind == BackupKind::Full {
        BackupKind::Module
    } else {
        request.kind
    }
}

/// Take a verified backup and record it.
///
/// # Errors
/// Nothing to back up, too little space, the lock is held, or writing fails.
pub fn create(ctx: &Context, request: CreateRequest) -> Result<BackupRow, Error> {
    let roots = roots(ctx, &request)?;
    let kind = kind_of(&request);
    let CreateRequest {
        kind: _,
        modules,
        name,
        description,
        include_logs,
        compression,
        level,
        min_free,
    } = request;
    let settings = &ctx.resolved().backup;
    let compression_given = compression.is_some();
    let compression = compression.unwrap_or(settings.compression);
    let config = BackupConfig {
        compression,
        level: level.unwrap_or(if compression == Compression::Gzip {
            6
        } else {
            settings.level
        }),
        min_free_bytes: min_free.unwrap_or(settings.min_free_bytes),
        snapshots: settings.snapshots,
        // An explicit compression asks for an archive: the store always uses zstd.
        format: if compression_given {
            crate::state::backups::BackupFormat::Archive
        } else {
            settings.format
        },
    };
    let _lock = lock(ctx)?;
    let mut ledger = ctx.ledger()?;
    let request = Request {
        kind,
        modules,
        name,
        description,
        include_logs,
        reason: crate::state::backups::BackupReason::Manual,
        run_id: None,
        module_version: None,
    };
    backup::sweep_temporaries(ctx.state_dir());
    Ok(backup::create(
        &mut ledger,
        ctx.state_dir(),
        &request,
        &roots,
        &config,
    )?)
}

/// How `backup list` sorts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Sort {
    /// Newest first.
    #[default]
    Date,
    /// Largest first.
    Size,
    /// By name.
    Name,
    /// By kind.
    Kind,
}

/// Which backups `backup list` shows.
#[derive(Debug, Clone, Default)]
pub struct ListRequest {
    /// Only of this kind.
    pub kind: Option<BackupKind>,
    /// Only taken within this long before now.
    pub since: Option<Duration>,
    /// The order.
    pub sort: Sort,
    /// At most this many.
    pub limit: usize,
}

/// The recorded backups.
///
/// # Errors
/// The ledger.
pub fn list(ctx: &Context, request: &ListRequest) -> Result<Vec<BackupRow>, Error> {
    let ListRequest {
        kind,
        since,
        sort,
        limit,
    } = request;
    let ledger = ctx.existing_ledger()?;
    let mut rows = match &ledger {
        Some(ledger) => ledger.backups()?,
        None => Vec::new(),
    };
    let since_ms = since.map(|d| {
        ctx.clock()
            .now_ms()
            .saturating_sub(i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
    });
    rows.retain(|r| {
        kind.is_none_or(|k| k == r.kind) && since_ms.is_none_or(|since| r.created_ms >= since)
    });
    match sort {
        Sort::Date => {}
        Sort::Size => rows.sort_by_key(|r| std::cmp::Reverse(r.bytes_out)),
        Sort::Name => rows.sort_by(|a, b| a.name.cmp(&b.name)),
        Sort::Kind => rows.sort_by(|a, b| a.kind.as_str().cmp(b.kind.as_str())),
    }
    rows.truncate(*limit);
    if let Some(ledger) = &ledger {
        for row in &mut rows {
            row.not_kept = ledger.not_kept(row.id)?;
        }
    }
    Ok(rows)
}

/// One backup's verification.
#[derive(Debug, serde::Serialize)]
pub struct Verified {
    /// The backup.
    pub id: i64,
    /// Its name.
    pub name: String,
    /// Whether its archive is intact.
    pub ok: bool,
    /// What is wrong with it.
    pub error: Option<String>,
    /// Whether a trial restore was part of the check (`--deep`); left out when not.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub deep: bool,
}

/// Check backup `id` (or every one): its archive's checksum, every member, every hash;
/// with `deep`, also a trial restore of the whole backup into a scratch directory under
/// the state directory, compared entry by entry with the record.
///
/// # Errors
/// No such backup, or the ledger.
pub fn verify(ctx: &Context, id: Option<&str>, deep: bool) -> Result<Vec<Verified>, Error> {
    let Some(mut ledger) = ctx.existing_ledger()? else {
        return Err(BackupError::NotFound(id.unwrap_or("any").to_owned()).into());
    };
    let rows = match id {
        None => ledger.backups()?,
        Some(id) => vec![backup::find(&ledger, id)?],
    };
    Ok(rows
        .iter()
        .map(|row| {
            let result = if deep {
                backup::verify_deep(&mut ledger, ctx.state_dir(), row)
            } else {
                backup::verify(&mut ledger, ctx.state_dir(), row)
            };
            Verified {
                id: row.id,
                name: row.name.clone(),
                ok: result.is_ok(),
                error: result.err().map(|e| crate::message::failed_to(&e)),
                deep,
            }
        })
        .collect())
}

/// What `backup restore` restores.
#[derive(Debug, Clone, Default)]
pub struct RestoreRequest {
    /// The backup (id or name).
    pub id: String,
    /// Only paths of these categories (`data`, `config`, `logs`).
    pub only: Vec<PathCategory>,
    /// Only paths of these modules.
    pub modules: Vec<String>,
    /// Skip the backup of the current content taken first.
    pub no_pre_backup: bool,
    /// Restore paths where the backup recorded them even when their module no longer
    /// declares them there (never a path no module may own).
    pub allow_changed_paths: bool,
}

/// The backup and the paths a restore of `request` would write, for a caller that shows
/// them before asking.
///
/// # Errors
/// No such backup, or nothing selected.
pub fn restore_preview(
    ctx: &Context,
    request: &RestoreRequest,
) -> Result<(BackupRow, Vec<BackupRoot>), Error> {
    let Some(ledger) = ctx.existing_ledger()? else {
        return Err(BackupError::NotFound(request.id.clone()).into());
    };
    let row = backup::find(&ledger, &request.id)?;
    let roots = backup::selected_roots(&ledger, &row, &selection(request))?;
    Ok((row, roots))
}

fn selection(request: &RestoreRequest) -> RestoreSelection {
    RestoreSelection {
        categories: request.only.clone(),
        modules: request.modules.clone(),
        labels: Vec::new(),
        within: None,
        allow_changed_paths: None,
    }
}

/// Every path the manifest's modules declare now, which is where a restore may write.
/// Without a manifest at all (restoring after losing it) there is nothing to check
/// against, and the ledger's paths are taken as recorded.
/// With `allow_changed`, the selection also lets a restore write where the backup recorded
/// a path the module no longer declares (never where no module may own a path).
fn declared_paths(ctx: &Context, allow_changed: bool) -> Result<RestoreSelection, Error> {
    let manifest = match ctx.manifest() {
        Ok(manifest) => manifest,
        Err(Error::Manifest(
            crate::manifest::ManifestError::NotFound
            | crate::manifest::ManifestError::Missing { .. },
        )) => return Ok(RestoreSelection::default()),
        Err(other) => return Err(other),
    };
    let roots = backup::roots_for(&manifest, ctx.state_dir(), BackupKind::Module, &[], true)?;
    Ok(RestoreSelection {
        within: Some(roots),
        allow_changed_paths: allow_changed.then(|| backup::AllowChanged {
            updates_dir: manifest.root.clone(),
        }),
        ..RestoreSelection::default()
    })
}

/// Restore a backup over the live paths (after `confirm` says yes), taking a backup of
/// the current content first unless asked not to.
///
/// # Errors
/// Not confirmed, the lock is held, the archive is refused (nothing is written), or the
/// restore fails.
pub fn restore(
    ctx: &Context,
    request: &RestoreRequest,
    confirm: &dyn Confirm,
) -> Result<Restored, Error> {
    let _lock = lock(ctx)?;
    let (row, roots) = restore_preview(ctx, request)?;
    let paths = crate::message::count(roots.len(), "path", "paths");
    ask(
        confirm,
        format!("restore {paths} from backup {} ({})", row.id, row.name),
    )?;
    let pre_request = Request {
        kind: BackupKind::Module,
        modules: Vec::new(),
        name: Some(format!("pre-restore_{}", row.id)),
        description: Some(format!("before restoring backup {}", row.id)),
        include_logs: true,
        reason: crate::state::backups::BackupReason::PreRestore,
        run_id: None,
        module_version: None,
    };
    let config = ctx.resolved().backup.clone();
    let pre = (!request.no_pre_backup).then_some((&pre_request, &config));
    let declared = declared_paths(ctx, request.allow_changed_paths)?;
    let selection = RestoreSelection {
        within: declared.within,
        allow_changed_paths: declared.allow_changed_paths,
        ..selection(request)
    };
    let mut ledger = ctx.ledger()?;
    Ok(backup::restore(
        &mut ledger,
        ctx.state_dir(),
        &row,
        &selection,
        pre,
    )?)
}

/// What `backup prune` did or would do.
#[derive(Debug, serde::Serialize)]
pub struct Pruned {
    /// Whether nothing was deleted.
    pub dry_run: bool,
    /// The rules applied.
    pub retention: Retention,
    /// Each backup, kept or deleted, and why.
    pub backups: Vec<Decision>,
    /// Archives no backup records (left by a backup killed between writing and
    /// recording), deleted.
    pub unrecorded_archives: Vec<PathBuf>,
    /// Snapshots in `.upkeep-snapshots` that no backup records (left by a snapshot backup
    /// killed between taking and recording it), deleted.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub unrecorded_snapshots: Vec<PathBuf>,
    /// What the chunk store's garbage collection removed (not on a dry run).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub store: Option<crate::store::Collected>,
}

/// Delete the backups `retention` (or, when it sets nothing, the settings' rules) does
/// not keep; protected backups are always kept.
///
/// # Errors
/// The lock is held, or the ledger or a deletion fails.
pub fn prune(ctx: &Context, retention: Retention, dry_run: bool) -> Result<Pruned, Error> {
    let retention = if retention == Retention::default() {
        ctx.resolved().retention.clone()
    } else {
        retention
    };
    let _lock = if dry_run { None } else { Some(lock(ctx)?) };
    let Some(mut ledger) = ctx.existing_ledger()? else {
        return Ok(Pruned {
            dry_run,
            retention,
            backups: Vec::new(),
            unrecorded_archives: Vec::new(),
            unrecorded_snapshots: Vec::new(),
            store: None,
        });
    };
    let decisions = backup::plan_prune(&ledger, &retention)?;
    let orphans = backup::orphans(&ledger, ctx.state_dir())?;
    let snapshots = unrecorded_snapshots(ctx, &ledger)?;
    let mut store = None;
    if !dry_run {
        backup::sweep_temporaries(ctx.state_dir());
        for decision in decisions.iter().filter(|d| !d.keep) {
            backup::delete(&mut ledger, ctx.state_dir(), &decision.backup)?;
        }
        backup::remove_unrecorded(ctx.state_dir(), &orphans)?;
        backup::remove_unrecorded_snapshots(&snapshots)?;
        store = Some(backup::collect_garbage(&mut ledger, ctx.state_dir())?);
    }
    Ok(Pruned {
        dry_run,
        retention,
        backups: decisions,
        unrecorded_archives: orphans,
        unrecorded_snapshots: snapshots,
        store,
    })
}

/// The snapshots no backup records, beside the paths the manifest's modules own (when a
/// manifest loads) and where recorded snapshots live.
fn unrecorded_snapshots(
    ctx: &Context,
    ledger: &crate::state::Ledger,
) -> Result<Vec<PathBuf>, Error> {
    let roots = match ctx.manifest() {
        Ok(manifest) => {
            backup::roots_for(&manifest, ctx.state_dir(), BackupKind::Module, &[], true)
                .unwrap_or_default()
        }
        Err(_) => Vec::new(),
    };
    let paths = roots.iter().map(|r| std::path::Path::new(&r.path));
    Ok(backup::unrecorded_snapshots(&ledger.backups()?, paths))
}

/// Delete one backup. A protected one (the last safe version's, the newest of a module)
/// is deleted only after `confirm` says yes; otherwise the error says why it is protected.
///
/// # Errors
/// No such backup, not confirmed, the lock is held, or the deletion fails.
pub fn delete(ctx: &Context, id: &str, confirm: &dyn Confirm) -> Result<BackupRow, Error> {
    let _lock = lock(ctx)?;
    let Some(mut ledger) = ctx.existing_ledger()? else {
        return Err(BackupError::NotFound(id.to_owned()).into());
    };
    let row = backup::find(&ledger, id)?;
    let protected = ledger.protected_backups()?;
    if let Some((_, why)) = protected.iter().find(|(p, _)| *p == row.id) {
        let action = format!("delete backup {}", row.id);
        if confirm.confirm(&action).is_err() {
            return Err(Error::NotConfirmed {
                action,
                reason: super::Unconfirmed::Protected(why.clone()),
            });
        }
    }
    backup::delete(&mut ledger, ctx.state_dir(), &row)?;
    backup::collect_garbage(&mut ledger, ctx.state_dir())?;
    Ok(row)
}

/// Release `module` from manual intervention; whether it was held.
///
/// # Errors
/// The lock is held, or the ledger fails.
pub fn clear(ctx: &Context, module: &str) -> Result<bool, Error> {
    let _lock = lock(ctx)?;
    Ok(match ctx.existing_ledger()? {
        Some(mut ledger) => ledger.set_needs_intervention(module, None)?,
        None => false,
    })
}

/// What `backup export` wrote.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Exported {
    /// The backup exported.
    pub backup_id: i64,
    /// The archive written.
    pub path: PathBuf,
    /// Its size.
    pub bytes: u64,
}

/// Write the portable tar archive of a backup to `dest` (default: `<name>.tar.zst` in the
/// current directory), compressed as asked, else as `dest`'s extension says, else zstd.
///
/// # Errors
/// No such backup, a backup that does not verify, or a write failure.
pub fn export(
    ctx: &Context,
    id: &str,
    compression: Option<Compression>,
    dest: Option<PathBuf>,
) -> Result<Exported, Error> {
    let compression = compression
        .or_else(|| dest.as_deref().and_then(Compression::from_path))
        .unwrap_or(Compression::Zstd);
    let Some(mut ledger) = ctx.existing_ledger()? else {
        return Err(BackupError::NotFound(id.to_owned()).into());
    };
    let row = backup::find(&ledger, id)?;
    let path = dest.unwrap_or_else(|| {
        let safe: String = row
            .name
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        PathBuf::from(format!("{safe}.{}", compression.extension()))
    });
    let bytes = backup::export(&mut ledger, ctx.state_dir(), &row, &path, compression)?;
    Ok(Exported {
        backup_id: row.id,
        path,
        bytes,
    })
}

/// Import a portable archive (as `backup export` writes, or an archive backup's file) as
/// a store backup of the paths the manifest declares now under the same labels.
///
/// # Errors
/// The lock is held, the archive fails a rule, a label no module declares, or a write
/// failure.
pub fn import(
    ctx: &Context,
    file: &std::path::Path,
    name: Option<String>,
) -> Result<BackupRow, Error> {
    let manifest = ctx.manifest()?;
    let declared = backup::roots_for(&manifest, ctx.state_dir(), BackupKind::Full, &[], true)?;
    let _lock = lock(ctx)?;
    let mut ledger = ctx.ledger()?;
    backup::sweep_temporaries(ctx.state_dir());
    let request = Request {
        kind: BackupKind::Full,
        modules: Vec::new(),
        name,
        description: Some(format!("imported from {}", file.display())),
        include_logs: true,
        reason: crate::state::backups::BackupReason::Manual,
        run_id: None,
        module_version: None,
    };
    Ok(backup::import(
        &mut ledger,
        ctx.state_dir(),
        file,
        &declared,
        &request,
    )?)
}
