//! `upkeep rollback` and `upkeep versions`.

use std::fmt::Write;

use upkeep_core::exit_codes;
use upkeep_core::rollback::Target;
use upkeep_core::state::rollbacks::RollbackResult;

use super::{Ask, Context, print_json, print_text};
use crate::cli::RollbackArgs;
use crate::error::CliError;

pub(crate) fn rollback(ctx: &Context, args: RollbackArgs) -> Result<i32, CliError> {
    let RollbackArgs {
        module,
        to,
        last_safe: _,
        backup,
        yes,
        allow_changed_paths,
    } = args;
    let target = match (to, backup) {
        (Some(version), _) => Target::Version(version),
        (None, Some(id)) => Target::Backup(id),
        (None, None) => Target::LastSafe,
    };
    let report = upkeep_core::ops::rollback::rollback(
        &ctx.ops,
        &module,
        &target,
        allow_changed_paths,
        &Ask { yes },
    )?;
    for changed in &report.changed_paths {
        crate::printer::get().message(&crate::render::changed_path(changed));
    }
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
    Ok(if report.result == RollbackResult::RolledBack {
        exit_codes::OK
    } else {
        exit_codes::MODULES_FAILED
    })
}

pub(crate) fn versions(ctx: &Context, module: &str) -> Result<i32, CliError> {
    let versions = upkeep_core::ops::query::versions(&ctx.ops, module)?;
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
