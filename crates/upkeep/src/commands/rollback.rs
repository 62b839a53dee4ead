//! `upkeep rollback` and `upkeep versions`.

use std::fmt::Write;

use upkeep_core::backup::BackupConfig;
use upkeep_core::exit_codes;
use upkeep_core::lock::RunLock;
use upkeep_core::rollback::{self, Target};
use upkeep_core::state::Ledger;

use super::backup::confirm;
use super::{Context, print_json, print_text};
use crate::cli::RollbackArgs;
use crate::error::CliError;

pub(crate) fn rollback(ctx: &Context, args: &RollbackArgs) -> Result<i32, CliError> {
    let manifest = ctx.load_manifest()?;
    let settings = ctx.settings()?;
    let target = match (&args.to, &args.backup) {
        (Some(version), _) => Target::Version(version.clone()),
        (None, Some(id)) => Target::Backup(id.clone()),
        (None, None) => Target::LastSafe,
    };
    let what = match &target {
        Target::LastSafe => "its last safe version".to_owned(),
        Target::Version(v) => format!("version {v}"),
        Target::Backup(id) => format!("the version and data of backup {id}"),
    };
    let _lock =
        RunLock::acquire(&ctx.state_dir, false).map_err(upkeep_core::run::RunError::from)?;
    let mut ledger = Ledger::open(&ctx.state_dir)?;
    confirm(&format!("roll `{}` back to {what}", args.module), args.yes)?;
    let report = rollback::rollback(
        &manifest,
        &mut ledger,
        &ctx.state_dir,
        &args.module,
        &target,
        &BackupConfig::default(),
        &settings.notify_routing(),
    )?;
    super::notify::deliver_due(ctx, &settings);
    if ctx.json {
        print_json(&report)?;
    } else {
        let mut text = format!(
            "{} {} -> {}: {}\n",
            report.module,
            report.from_version.as_deref().unwrap_or("-"),
            report.to_version,
            report.result
        );
        if let Some(tag) = &report.tag {
            let _ = writeln!(text, "  code from tag {} ({})", tag.tag, tag.commit);
        }
        if let Some(id) = report.backup_id {
            let _ = writeln!(text, "  data from backup {id}");
        }
        if let Some(id) = report.pre_rollback_backup {
            let _ = writeln!(text, "  the previous content is in backup {id}");
        }
        if let Some(detail) = &report.detail {
            let _ = writeln!(text, "  {detail}");
        }
        print_text(&text)?;
    }
    Ok(if report.result == "rolled-back" {
        exit_codes::OK
    } else {
        exit_codes::MODULES_FAILED
    })
}

pub(crate) fn versions(ctx: &Context, module: &str) -> Result<i32, CliError> {
    let manifest = ctx.load_manifest()?;
    let versions = match Ledger::open_existing(&ctx.state_dir)? {
        Some(ledger) => rollback::versions(&manifest, &ledger, module)?,
        None => Vec::new(),
    };
    if ctx.json {
        print_json(&versions)?;
        return Ok(exit_codes::OK);
    }
    if versions.is_empty() {
        print_text(&format!("no tags or backups of `{module}` yet\n"))?;
        return Ok(exit_codes::OK);
    }
    let mut text = String::new();
    for v in &versions {
        let mut marks = Vec::new();
        if v.applied {
            marks.push("applied");
        }
        if v.last_safe {
            marks.push("last safe");
        }
        let _ = writeln!(text, "{}  {}", v.version, marks.join(", "));
        for tag in &v.tags {
            let moved = if tag.moved() {
                "  MOVED since recorded: refused"
            } else {
                ""
            };
            let _ = writeln!(
                text,
                "  tag    {} -> {}{moved}",
                tag.tag,
                &tag.commit[..tag.commit.len().min(12)]
            );
        }
        for id in &v.backups {
            let _ = writeln!(text, "  backup {id}");
        }
    }
    print_text(&text).map(|()| exit_codes::OK)
}
