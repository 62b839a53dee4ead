//! `upkeep backup create|list|verify|restore|prune|delete|export|import` and `upkeep clear`.

use std::fmt::Write as _;

use upkeep_core::archive::Compression;
use upkeep_core::backup::{BackupKind, Retention};
use upkeep_core::exit_codes;
use upkeep_core::manifest::PathCategory;
use upkeep_core::ops::backup::{self as ops, CreateRequest, ListRequest, RestoreRequest, Sort};
use upkeep_core::ops::{Confirm, Confirmed};

use super::{Ask, Context, print_json, print_text};
use crate::cli::{
    BackupCommand, BackupCreateArgs, BackupListArgs, BackupPruneArgs, BackupRestoreArgs,
    BackupSort, BackupTypeArg,
};
use crate::error::CliError;
use crate::render;

pub(crate) fn backup(ctx: &Context, command: BackupCommand) -> Result<i32, CliError> {
    match command {
        BackupCommand::Create(args) => create(ctx, args),
        BackupCommand::List(args) => list(ctx, &args),
        BackupCommand::Verify { id, all, deep } => {
            verify(ctx, if all { None } else { id.as_deref() }, deep)
        }
        BackupCommand::Restore(args) => restore(ctx, args),
        BackupCommand::Prune(args) => prune(ctx, &args),
        BackupCommand::Delete { id, force } => delete(ctx, &id, force),
        BackupCommand::Export { id, gzip, output } => {
            let compression = gzip.then_some(Compression::Gzip);
            let exported = ops::export(&ctx.ops, &id, compression, output)?;
            if ctx.json {
                print_json(&exported)?;
            } else {
                print_text(&format!(
                    "exported backup {} to {} ({})\n",
                    exported.backup_id,
                    exported.path.display(),
                    upkeep_core::backup::human(exported.bytes)
                ))?;
            }
            Ok(exit_codes::OK)
        }
        BackupCommand::Import { file, name } => {
            let row = ops::import(&ctx.ops, &file, name)?;
            if ctx.json {
                print_json(&row)?;
            } else {
                print_text(&render::backup_created(&row))?;
            }
            Ok(exit_codes::OK)
        }
    }
}

fn kind_of(arg: BackupTypeArg) -> BackupKind {
    match arg {
        BackupTypeArg::Full => BackupKind::Full,
        BackupTypeArg::Config => BackupKind::Config,
        BackupTypeArg::Data => BackupKind::Data,
        BackupTypeArg::Module => BackupKind::Module,
    }
}

fn create(ctx: &Context, args: BackupCreateArgs) -> Result<i32, CliError> {
    let BackupCreateArgs {
        kind,
        modules,
        name,
        description,
        archive,
        no_compress,
        gzip,
        level,
        include_logs,
        min_free,
    } = args;
    let request = CreateRequest {
        kind: kind_of(kind),
        modules,
        name,
        description,
        include_logs,
        compression: if no_compress {
            Some(Compression::None)
        } else if gzip {
            Some(Compression::Gzip)
        } else if archive {
            Some(Compression::Zstd)
        } else {
            None
        },
        level,
        min_free,
    };
    if !ctx.json {
        let roots = ops::roots(&ctx.ops, &request)?;
        let paths = upkeep_core::message::count(roots.len(), "path", "paths");
        crate::printer::get().status(&format!("backing up {paths}..."));
    }
    let row = ops::create(&ctx.ops, request)?;
    if ctx.json {
        print_json(&row)?;
    } else {
        print_text(&render::backup_created(&row))?;
    }
    Ok(exit_codes::OK)
}

fn list(ctx: &Context, args: &BackupListArgs) -> Result<i32, CliError> {
    let BackupListArgs {
        kind,
        since,
        limit,
        sort,
    } = *args;
    let request = ListRequest {
        kind: kind.map(kind_of),
        since,
        sort: match sort {
            BackupSort::Date => Sort::Date,
            BackupSort::Size => Sort::Size,
            BackupSort::Name => Sort::Name,
            BackupSort::Type => Sort::Kind,
        },
        limit,
    };
    let rows = ops::list(&ctx.ops, &request)?;
    if ctx.json {
        print_json(&rows)?;
    } else {
        print_text(&render::backup_list(&rows))?;
    }
    Ok(exit_codes::OK)
}

fn verify(ctx: &Context, id: Option<&str>, deep: bool) -> Result<i32, CliError> {
    let results = ops::verify(&ctx.ops, id, deep)?;
    if ctx.json {
        print_json(&results)?;
    } else {
        let mut text = String::new();
        for r in &results {
            let _ = match &r.error {
                None => writeln!(text, "ok       {:>5}  {}", r.id, r.name),
                Some(error) => writeln!(text, "CORRUPT  {:>5}  {}: {error}", r.id, r.name),
            };
        }
        print_text(&text)?;
    }
    let bad = results.iter().filter(|r| !r.ok).count();
    if bad > 0 {
        crate::printer::get().message(&format!(
            "{bad} of {} failed verification",
            upkeep_core::message::count(results.len(), "backup", "backups")
        ));
        return Ok(exit_codes::BACKUP_REFUSED);
    }
    Ok(exit_codes::OK)
}

fn restore(ctx: &Context, args: BackupRestoreArgs) -> Result<i32, CliError> {
    let BackupRestoreArgs {
        id,
        only,
        modules,
        yes,
        no_pre_backup,
        allow_changed_paths,
    } = args;
    let request = RestoreRequest {
        id,
        only: only
            .iter()
            .filter_map(|c| PathCategory::from_name(c))
            .collect(),
        modules,
        no_pre_backup,
        allow_changed_paths,
    };
    if !ctx.json || yes {
        let (_, roots) = ops::restore_preview(&ctx.ops, &request)?;
        for root in &roots {
            crate::printer::get().message(&format!("  {}  <- {}", root.path, root.label));
        }
    }
    let restored = ops::restore(&ctx.ops, &request, &Ask { yes })?;
    for changed in &restored.changed_paths {
        crate::printer::get().message(&render::changed_path(changed));
    }
    if ctx.json {
        print_json(&restored)?;
    } else {
        print_text(&render::restored(&restored))?;
    }
    Ok(exit_codes::OK)
}

fn prune(ctx: &Context, args: &BackupPruneArgs) -> Result<i32, CliError> {
    let BackupPruneArgs {
        dry_run,
        keep_last,
        keep_days,
        keep_daily,
        keep_weekly,
        keep_monthly,
    } = *args;
    let retention = Retention {
        keep_last,
        keep_days,
        keep_daily,
        keep_weekly,
        keep_monthly,
    };
    let pruned = ops::prune(&ctx.ops, retention, dry_run)?;
    if ctx.json {
        print_json(&pruned)?;
    } else {
        let mut text = render::prune(&pruned.backups, dry_run);
        for orphan in &pruned.unrecorded_archives {
            let verb = if dry_run { "would delete" } else { "deleted" };
            let _ = writeln!(text, "{verb} unrecorded archive {}", orphan.display());
        }
        for orphan in &pruned.unrecorded_snapshots {
            let verb = if dry_run { "would delete" } else { "deleted" };
            let _ = writeln!(text, "{verb} unrecorded snapshot {}", orphan.display());
        }
        if let Some(store) = pruned.store.as_ref().filter(|s| s.chunks_removed > 0) {
            let _ = writeln!(
                text,
                "chunk store: removed {} unreferenced chunk(s), {} freed",
                store.chunks_removed,
                upkeep_core::backup::human(store.bytes_freed)
            );
        }
        print_text(&text)?;
    }
    Ok(exit_codes::OK)
}

/// Without `--force` a protected backup is refused outright: deleting one removes a way
/// back, so it is not a question a terminal prompt should answer in passing.
struct Refuse;

impl Confirm for Refuse {
    fn confirm(&self, _question: &str) -> Result<(), upkeep_core::ops::Unconfirmed> {
        Err(upkeep_core::ops::Unconfirmed::Declined)
    }
}

fn delete(ctx: &Context, id: &str, force: bool) -> Result<i32, CliError> {
    let confirm: &dyn Confirm = if force { &Confirmed } else { &Refuse };
    let row = ops::delete(&ctx.ops, id, confirm)?;
    if ctx.json {
        print_json(&row)?;
    } else {
        print_text(&format!("deleted backup {} ({})\n", row.id, row.name))?;
    }
    Ok(exit_codes::OK)
}

pub(crate) fn clear(ctx: &Context, module: &str) -> Result<i32, CliError> {
    let cleared = ops::clear(&ctx.ops, module)?;
    if ctx.json {
        print_json(&serde_json::json!({ "module": module, "cleared": cleared }))?;
    } else if cleared {
        print_text(&format!(
            "{module} is no longer held; the next run includes it\n"
        ))?;
    } else {
        print_text(&format!("{module} was not held\n"))?;
    }
    Ok(exit_codes::OK)
}
