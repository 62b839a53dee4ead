//! `upkeep backup create|list|verify|restore|prune|delete` and `upkeep clear`.

use std::fmt::Write as _;
use std::io::IsTerminal;

use upkeep_core::backup::{self, BackupConfig, BackupKind, Request, RestoreSelection, Retention};
use upkeep_core::exit_codes;
use upkeep_core::lock::RunLock;
use upkeep_core::manifest::PathCategory;
use upkeep_core::state::Ledger;
use upkeep_core::state::safety::BackupRow;

use super::{Context, print_json, print_text};
use crate::cli::{
    BackupCommand, BackupCreateArgs, BackupListArgs, BackupPruneArgs, BackupRestoreArgs,
    BackupSort, BackupTypeArg,
};
use crate::error::{CliError, Unconfirmed};
use crate::render;

pub(crate) fn backup(ctx: &Context, command: BackupCommand) -> Result<i32, CliError> {
    match command {
        BackupCommand::Create(args) => create(ctx, args),
        BackupCommand::List(args) => list(ctx, &args),
        BackupCommand::Verify { id, all } => verify(ctx, id.as_deref(), all),
        BackupCommand::Restore(args) => restore(ctx, args),
        BackupCommand::Prune(args) => prune(ctx, &args),
        BackupCommand::Delete { id, force } => delete(ctx, &id, force),
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
    let manifest = ctx.load_manifest()?;
    let mut kind = kind_of(args.kind);
    if !args.modules.is_empty() && kind == BackupKind::Full {
        kind = BackupKind::Module;
    }
    let roots = backup::roots_for(
        &manifest,
        &ctx.state_dir,
        kind,
        &args.modules,
        args.include_logs,
    )?;
    let settings = ctx.settings()?.backup_config();
    let config = BackupConfig {
        compression: if args.no_compress {
            upkeep_core::archive::Compression::None
        } else if args.gzip {
            upkeep_core::archive::Compression::Gzip
        } else {
            settings.compression
        },
        level: args
            .level
            .unwrap_or(if args.gzip { 6 } else { settings.level }),
        min_free_bytes: args.min_free.unwrap_or(settings.min_free_bytes),
    };
    let _lock =
        RunLock::acquire(&ctx.state_dir, false).map_err(upkeep_core::run::RunError::from)?;
    let mut ledger = Ledger::open(&ctx.state_dir)?;
    let request = Request {
        kind,
        modules: args.modules,
        name: args.name,
        description: args.description,
        include_logs: args.include_logs,
        reason: "manual".into(),
        run_id: None,
        module_version: None,
    };
    backup::sweep_temporaries(&ctx.state_dir);
    if !ctx.json {
        eprintln!("backing up {} path(s)...", roots.len());
    }
    let row = backup::create(&mut ledger, &ctx.state_dir, &request, &roots, &config)?;
    if ctx.json {
        print_json(&row)?;
    } else {
        print_text(&render::backup_created(&row))?;
    }
    Ok(exit_codes::OK)
}

fn list(ctx: &Context, args: &BackupListArgs) -> Result<i32, CliError> {
    let mut rows = match Ledger::open_existing(&ctx.state_dir)? {
        Some(ledger) => ledger.backups()?,
        None => Vec::new(),
    };
    let since_ms = args.since.map(|d| {
        upkeep_core::state::now_ms()
            .saturating_sub(i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
    });
    rows.retain(|r| {
        args.kind.is_none_or(|k| kind_of(k).name() == r.kind)
            && since_ms.is_none_or(|since| r.created_ms >= since)
    });
    match args.sort {
        BackupSort::Date => {}
        BackupSort::Size => rows.sort_by_key(|r| std::cmp::Reverse(r.bytes_out)),
        BackupSort::Name => rows.sort_by(|a, b| a.name.cmp(&b.name)),
        BackupSort::Type => rows.sort_by(|a, b| a.kind.cmp(&b.kind)),
    }
    rows.truncate(args.limit);
    if ctx.json {
        print_json(&rows)?;
    } else {
        print_text(&render::backup_list(&rows))?;
    }
    Ok(exit_codes::OK)
}

fn verify(ctx: &Context, id: Option<&str>, all: bool) -> Result<i32, CliError> {
    let Some(mut ledger) = Ledger::open_existing(&ctx.state_dir)? else {
        return Err(backup::BackupError::NotFound(id.unwrap_or("any").to_owned()).into());
    };
    let rows: Vec<BackupRow> = if all {
        ledger.backups()?
    } else {
        vec![backup::find(&ledger, id.unwrap_or_default())?]
    };
    let mut results = Vec::new();
    for row in &rows {
        let result = backup::verify(&mut ledger, &ctx.state_dir, row);
        results.push(serde_json::json!({
            "id": row.id,
            "name": row.name,
            "ok": result.is_ok(),
            "error": result.as_ref().err().map(|e| upkeep_core::message::failed_to(e)),
        }));
        if !ctx.json {
            print_text(&match &result {
                Ok(()) => format!("ok       {:>5}  {}\n", row.id, row.name),
                Err(err) => format!(
                    "CORRUPT  {:>5}  {}: {}\n",
                    row.id,
                    row.name,
                    upkeep_core::message::failed_to(err)
                ),
            })?;
        }
    }
    if ctx.json {
        print_json(&results)?;
    }
    let bad = results.iter().filter(|r| r["ok"] == false).count();
    if bad > 0 {
        eprintln!("{bad} of {} backup(s) failed verification", results.len());
        return Ok(exit_codes::BACKUP_REFUSED);
    }
    Ok(exit_codes::OK)
}

/// Ask on the terminal; without one, refuse unless `--yes` was given.
pub(crate) fn confirm(question: &str, yes: bool) -> Result<(), CliError> {
    if yes {
        return Ok(());
    }
    if !std::io::stdin().is_terminal() {
        return Err(CliError::NotConfirmed {
            action: question.to_owned(),
            reason: Unconfirmed::NoTerminal,
        });
    }
    eprint!("{question} [y/N] ");
    let mut answer = String::new();
    std::io::stdin()
        .read_line(&mut answer)
        .map_err(crate::error::io("read the answer"))?;
    if matches!(answer.trim(), "y" | "Y" | "yes" | "YES" | "Yes") {
        Ok(())
    } else {
        Err(CliError::NotConfirmed {
            action: question.to_owned(),
            reason: Unconfirmed::Declined,
        })
    }
}

fn restore(ctx: &Context, args: BackupRestoreArgs) -> Result<i32, CliError> {
    let _lock =
        RunLock::acquire(&ctx.state_dir, false).map_err(upkeep_core::run::RunError::from)?;
    let Some(mut ledger) = Ledger::open_existing(&ctx.state_dir)? else {
        return Err(backup::BackupError::NotFound(args.id).into());
    };
    let row = backup::find(&ledger, &args.id)?;
    let selection = RestoreSelection {
        categories: args
            .only
            .iter()
            .filter_map(|c| PathCategory::from_name(c))
            .collect(),
        modules: args.modules.clone(),
        labels: Vec::new(),
    };
    let roots = backup::selected_roots(&ledger, &row, &selection)?;
    if !ctx.json || args.yes {
        for root in &roots {
            eprintln!("  {}  <- {}", root.path, root.label);
        }
    }
    confirm(
        &format!(
            "restore {} from backup {} ({})",
            upkeep_core::message::count(roots.len(), "path", "paths"),
            row.id,
            row.name
        ),
        args.yes,
    )?;
    let request = Request {
        kind: BackupKind::Module,
        modules: Vec::new(),
        name: Some(format!("pre-restore_{}", row.id)),
        description: Some(format!("before restoring backup {}", row.id)),
        include_logs: true,
        reason: "pre-restore".into(),
        run_id: None,
        module_version: None,
    };
    let config = ctx.settings()?.backup_config();
    let pre = (!args.no_pre_backup).then_some((&request, &config));
    let restored = backup::restore(&mut ledger, &ctx.state_dir, &row, &selection, pre)?;
    if ctx.json {
        print_json(&restored)?;
    } else {
        print_text(&render::restored(&restored))?;
    }
    Ok(exit_codes::OK)
}

fn prune(ctx: &Context, args: &BackupPruneArgs) -> Result<i32, CliError> {
    let mut retention = Retention {
        keep_last: args.keep_last,
        keep_days: args.keep_days,
        keep_daily: args.keep_daily,
        keep_weekly: args.keep_weekly,
        keep_monthly: args.keep_monthly,
    };
    if retention == Retention::default() {
        retention = ctx.settings()?.retention();
    }
    let _lock = if args.dry_run {
        None
    } else {
        Some(RunLock::acquire(&ctx.state_dir, false).map_err(upkeep_core::run::RunError::from)?)
    };
    let Some(mut ledger) = Ledger::open_existing(&ctx.state_dir)? else {
        print_text("no backups\n")?;
        return Ok(exit_codes::OK);
    };
    let decisions = backup::plan_prune(&ledger, &retention)?;
    // Archives no row records: left by a backup killed between writing and recording.
    let orphans = backup::orphans(&ledger, &ctx.state_dir)?;
    if !args.dry_run {
        backup::sweep_temporaries(&ctx.state_dir);
        for decision in decisions.iter().filter(|d| !d.keep) {
            backup::delete(&mut ledger, &ctx.state_dir, &decision.backup)?;
        }
        backup::remove_unrecorded(&ctx.state_dir, &orphans)?;
    }
    if ctx.json {
        print_json(&serde_json::json!({
            "dry_run": args.dry_run,
            "retention": retention,
            "backups": decisions,
            "unrecorded_archives": orphans,
        }))?;
    } else {
        let mut text = render::prune(&decisions, args.dry_run);
        for orphan in &orphans {
            let verb = if args.dry_run {
                "would delete"
            } else {
                "deleted"
            };
            let _ = writeln!(text, "{verb} unrecorded archive {}", orphan.display());
        }
        print_text(&text)?;
    }
    Ok(exit_codes::OK)
}

fn delete(ctx: &Context, id: &str, force: bool) -> Result<i32, CliError> {
    let _lock =
        RunLock::acquire(&ctx.state_dir, false).map_err(upkeep_core::run::RunError::from)?;
    let Some(mut ledger) = Ledger::open_existing(&ctx.state_dir)? else {
        return Err(backup::BackupError::NotFound(id.to_owned()).into());
    };
    let row = backup::find(&ledger, id)?;
    let protected = ledger.protected_backups()?;
    if let (Some((_, why)), false) = (protected.iter().find(|(p, _)| *p == row.id), force) {
        return Err(CliError::NotConfirmed {
            action: format!("delete backup {}", row.id),
            reason: Unconfirmed::Protected(why.clone()),
        });
    }
    backup::delete(&mut ledger, &ctx.state_dir, &row)?;
    if ctx.json {
        print_json(&row)?;
    } else {
        print_text(&format!("deleted backup {} ({})\n", row.id, row.name))?;
    }
    Ok(exit_codes::OK)
}

pub(crate) fn clear(ctx: &Context, module: &str) -> Result<i32, CliError> {
    let _lock =
        RunLock::acquire(&ctx.state_dir, false).map_err(upkeep_core::run::RunError::from)?;
    let cleared = match Ledger::open_existing(&ctx.state_dir)? {
        Some(mut ledger) => ledger.set_needs_intervention(module, None)?,
        None => false,
    };
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
