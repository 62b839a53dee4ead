//! What each slash command does: its options turned into one `upkeep_core::ops` request,
//! and the value that comes back turned into an embed in the seed's wording. Runs on a
//! blocking thread (the use cases block); never touches Discord itself.

use std::sync::Arc;
use std::time::Duration;

use upkeep_core::ops::Context;
use upkeep_core::ops::{Confirm, Unconfirmed};
use upkeep_core::run::{Cancel, NullReporter, Reporter};
use upkeep_core::state::backups::BackupKind;
use upkeep_core::updates::UpdateType;

use super::embed::{BLUE, Embed, GREEN, ORANGE, RED};
use crate::error::CliError;

/// A command's options as Discord sent them, by name.
#[derive(Debug, Clone, Default)]
pub(crate) struct Options(pub(crate) Vec<(String, serde_json::Value)>);

impl Options {
    fn get(&self, name: &str) -> Option<&serde_json::Value> {
        self.0.iter().find(|(n, _)| n == name).map(|(_, v)| v)
    }

    fn text(&self, name: &str) -> Option<String> {
        self.get(name)
            .and_then(serde_json::Value::as_str)
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .map(str::to_owned)
    }

    fn flag(&self, name: &str, default: bool) -> bool {
        self.get(name)
            .and_then(serde_json::Value::as_bool)
            .unwrap_or(default)
    }

    fn number(&self, name: &str) -> Option<i64> {
        self.get(name).and_then(serde_json::Value::as_i64)
    }

    fn required(&self, name: &str) -> Result<String, CliError> {
        self.text(name)
            .ok_or_else(|| bad(format!("`{name}` is required")))
    }
}

/// A command's result: the embed to show and what it acted on (for the audit row).
#[derive(Debug)]
pub(crate) struct Reply {
    pub(crate) embed: Embed,
    pub(crate) target: Option<String>,
}

fn bad(problem: String) -> CliError {
    CliError::BadRequest { problem }
}

/// Carry out `command` with `options`; a run started here stops with `cancel`.
pub(crate) fn carry_out(
    ops: &Context,
    cancel: &Cancel,
    command: &str,
    options: &Options,
) -> Result<Reply, CliError> {
    match command {
        "update_check" => update_check(ops, options),
        "update_install" => update_install(ops, cancel, options),
        "update_status" => update_status(ops, options),
        "update_rollback" => update_rollback(ops, options),
        "update_schedule" => update_schedule(ops, options),
        "backup_create" => backup_create(ops, options),
        "backup_list" => backup_list(ops, options),
        "backup_restore" => backup_restore(ops, options),
        "update_settings" => update_settings(ops, options),
        other => Err(bad(format!("`/{other}` is not a command of upkeep"))),
    }
}

/// The seed's update types as upkeep's: `bot` is the application's own code (`app`),
/// `all` is no filter.
fn update_type(name: &str) -> Result<Option<UpdateType>, CliError> {
    match name {
        "all" => Ok(None),
        "bot" => Ok(Some(UpdateType::App)),
        other => UpdateType::from_name(other).map(Some).ok_or_else(|| {
            bad(format!(
                "`{other}` is not an update type; use all, packages, bot, config or dependencies"
            ))
        }),
    }
}

fn update_check(ops: &Context, options: &Options) -> Result<Reply, CliError> {
    let update_type = update_type(&options.text("check_type").unwrap_or_else(|| "all".into()))?;
    let details = options.flag("show_details", false);
    let security = options.flag("include_security", true);
    let report = upkeep_core::ops::check::check(
        ops,
        upkeep_core::ops::check::CheckRequest {
            modules: Vec::new(),
            update_type,
            security_only: false,
            cached: false,
        },
    )?;
    let summary = &report.summary;
    let mut embed = Embed::new("🔍 Update Check Results", BLUE)
        .describe(&format!("### Available Updates: {}", summary.updates));
    if security {
        embed = embed.field("Security Updates", summary.security.to_string());
    }
    embed = embed
        .field("Breaking Changes", summary.breaking_or_major.to_string())
        .field("Last Check", "just now".to_owned());
    let updates: Vec<String> = report
        .modules
        .iter()
        .filter(|m| m.target.is_some() || (details && m.latest.is_some()))
        .enumerate()
        .map(|(i, m)| {
            let from = m.current.as_deref().unwrap_or("?");
            let to = m.target.as_deref().or(m.latest.as_deref()).unwrap_or("?");
            let flag = if security && m.security {
                " (Security Update)"
            } else {
                ""
            };
            format!("{}. **{}** {from} → {to}{flag}", i + 1, m.module)
        })
        .collect();
    if !updates.is_empty() {
        embed = embed.block(&format!("Module Updates ({})", updates.len()), &updates);
    }
    if details {
        embed = embed
            .field("Modules Checked", summary.modules_checked.to_string())
            .field("Held Back", summary.held.to_string())
            .field("Checks Failed", summary.failed.to_string());
    }
    Ok(Reply {
        embed,
        target: None,
    })
}

fn update_install(ops: &Context, cancel: &Cancel, options: &Options) -> Result<Reply, CliError> {
    let types = update_type(&options.required("update_type")?)?
        .into_iter()
        .collect::<Vec<_>>();
    let request = upkeep_core::ops::run::RunRequest {
        types,
        force: options.flag("force_update", false),
        handle_signals: false,
        cancel: cancel.clone(),
        ..upkeep_core::ops::run::RunRequest::default()
    };
    let reporter: Arc<dyn Reporter> = Arc::new(NullReporter);
    let summary = upkeep_core::ops::run::run(ops, &request, &reporter)?;
    let value = serde_json::to_value(&summary).unwrap_or_default();
    let result = value["result"].as_str().unwrap_or("unknown").to_owned();
    let ran = summary.modules.len();
    let seconds = Duration::from_millis(summary.duration_ms).as_secs();
    let (title, colour) = if matches!(summary.result, upkeep_core::run::RunResult::Succeeded) {
        ("🎉 Update Finished Successfully", GREEN)
    } else {
        ("⚠️ Update Finished With Problems", ORANGE)
    };
    let mut lines = vec![
        format!("Updated modules: {ran}"),
        format!("Total time: {seconds} seconds"),
        format!("Result: {result}"),
    ];
    lines.extend(unused(
        options,
        &[("backup_before", true), ("restart_required", true)],
    ));
    if options.text("backup_name").is_some() {
        lines
            .push("`backup_name` has no effect: pre-update backups are named by upkeep".to_owned());
    }
    lines.push("Use /update_status to view detailed information.".to_owned());
    let run = summary.run_id.map(|id| id.to_string());
    let embed = Embed::new(title, colour)
        .describe(&lines.join("\n"))
        .field("Run", run.clone().unwrap_or_else(|| "-".to_owned()));
    Ok(Reply { embed, target: run })
}

fn update_status(ops: &Context, options: &Options) -> Result<Reply, CliError> {
    let report = upkeep_core::ops::status::status(ops)?;
    let value = serde_json::to_value(&report).unwrap_or_default();
    let state = value["state"].as_str().unwrap_or("unknown").to_owned();
    let colour = match state.as_str() {
        "working" => GREEN,
        "degraded" => ORANGE,
        _ => RED,
    };
    let mut embed =
        Embed::new("📊 Update Status", colour).describe(&format!("Automation: **{state}**"));
    let reasons: Vec<String> = value["reasons"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|r| {
            r["message"]
                .as_str()
                .or(r["code"].as_str())
                .unwrap_or("?")
                .to_owned()
        })
        .map(|r| format!("• {r}"))
        .collect();
    if !reasons.is_empty() {
        embed = embed.block("Reasons", &reasons);
    }
    if options.flag("show_metrics", true) {
        let count = |pred: &dyn Fn(&upkeep_core::ops::status::StatusRow) -> bool| {
            report
                .modules
                .iter()
                .filter(|m| pred(m))
                .count()
                .to_string()
        };
        embed = embed
            .field("Modules", report.modules.len().to_string())
            .field("Held", count(&|m| m.held.is_some()))
            .field("Schedules Enabled", report.schedules_enabled.to_string());
    }
    let rows: Vec<String> = report
        .modules
        .iter()
        .take(20)
        .map(|m| {
            let version = m.applied_version.as_deref().unwrap_or("-");
            format!("• **{}** {version}: {}", m.module, m.state)
        })
        .collect();
    if !rows.is_empty() {
        embed = embed.block("Modules", &rows);
    }
    if options.flag("show_history", false) {
        embed = with_history(ops, embed, options)?;
    }
    Ok(Reply {
        embed,
        target: None,
    })
}

/// `embed` with the runs of the status's `time_range` (7 days by default).
fn with_history(ops: &Context, embed: Embed, options: &Options) -> Result<Embed, CliError> {
    let range = options
        .text("time_range")
        .unwrap_or_else(|| "7d".to_owned());
    let since = upkeep_core::duration::parse_duration(&range).map_err(bad)?;
    let history = upkeep_core::ops::query::history(
        ops,
        upkeep_core::ops::query::HistoryRequest {
            since: Some(since),
            modules: Vec::new(),
            outcomes: Vec::new(),
            limit: 10,
        },
    )?;
    let runs: Vec<String> = history
        .runs
        .iter()
        .map(|r| format!("• Run {} ({}): {}", r.id, r.trigger, r.result))
        .collect();
    let runs = if runs.is_empty() {
        vec!["No runs".to_owned()]
    } else {
        runs
    };
    Ok(embed.block(&format!("Recent Updates ({range})"), &runs))
}

/// Say so for each of the seed's switches upkeep does not offer that was given against
/// its default: upkeep always backs up before it changes a module, always verifies a
/// backup before restoring it, and restarts nothing itself.
fn unused(options: &Options, switches: &[(&str, bool)]) -> Vec<String> {
    switches
        .iter()
        .filter(|(name, default)| options.flag(name, *default) != *default)
        .map(|(name, _)| {
            format!("`{name}` has no effect: upkeep always backs up before it changes a module and verifies a backup before it restores it, and restarts nothing itself")
        })
        .collect()
}

/// A confirmation typed into a command: yes only when it is exactly the expected name.
struct Typed {
    expected: String,
    given: String,
}

impl Confirm for Typed {
    fn confirm(&self, _question: &str) -> Result<(), Unconfirmed> {
        if self.given == self.expected {
            Ok(())
        } else {
            Err(Unconfirmed::Declined)
        }
    }
}

fn update_rollback(ops: &Context, options: &Options) -> Result<Reply, CliError> {
    use upkeep_core::rollback::Target;
    let module = options.required("module")?;
    let version = options.required("target_version")?;
    let typed = Typed {
        expected: module.clone(),
        given: options.required("confirm")?,
    };
    let target = match version.as_str() {
        "last_backup" | "last_safe" => Target::LastSafe,
        other => Target::Version(other.trim_start_matches('v').to_owned()),
    };
    let report = upkeep_core::ops::rollback::rollback(ops, &module, &target, false, &typed)?;
    let value = serde_json::to_value(&report).unwrap_or_default();
    let result = value["result"].as_str().unwrap_or("unknown").to_owned();
    let rolled_back = matches!(
        report.result,
        upkeep_core::state::rollbacks::RollbackResult::RolledBack
    );
    let (title, colour) = if rolled_back {
        ("🎉 Rollback Completed Successfully", GREEN)
    } else {
        ("⚠️ Rollback Needs Attention", ORANGE)
    };
    let from = report.from_version.as_deref().unwrap_or("?");
    let mut embed = Embed::new(title, colour)
        .describe(&format!(
            "⚠️ **{module} was rolled back from {from} to {}**",
            report.to_version
        ))
        .field("Module", module.clone())
        .field("Result", result);
    if let Some(id) = report.pre_rollback_backup {
        embed = embed.field("Backup Before Rollback", id.to_string());
    }
    for note in unused(
        options,
        &[("create_backup", true), ("restore_config", true)],
    ) {
        embed = embed.field("Note", note);
    }
    if let Some(detail) = &report.detail {
        embed = embed.field("Detail", detail.clone());
    }
    Ok(Reply {
        embed,
        target: Some(module),
    })
}

fn update_schedule(ops: &Context, options: &Options) -> Result<Reply, CliError> {
    let kind = options.required("schedule_type")?;
    let time = options
        .text("update_time")
        .unwrap_or_else(|| "03:00".to_owned());
    let days = options.text("update_days");
    let spec = schedule_spec(&kind, &time, days.as_deref())?;
    let mut types = Vec::new();
    for name in options.required("update_types")?.split(',').map(str::trim) {
        types.extend(update_type(name)?);
    }
    let enabled = options.flag("enabled", true);
    let name = format!("discord-{kind}");
    let row = upkeep_core::ops::schedule::add(
        ops,
        upkeep_core::ops::schedule::AddRequest {
            name: name.clone(),
            spec,
            zone: "local".to_owned(),
            targets: Vec::new(),
            types,
            enabled,
            force: false,
        },
    )?;
    let described = upkeep_core::ops::schedule::describe(&row).unwrap_or_default();
    let status = if enabled {
        "✅ Enabled"
    } else {
        "⏸️ Disabled"
    };
    let lines = [
        format!("• Type: {} updates", capitalised(&kind)),
        format!("• Time: {time}"),
        format!("• Days: {}", days.as_deref().unwrap_or("every day")),
        format!("• Updates: {}", options.required("update_types")?),
        format!("• Status: {status}"),
        format!("• When: {described}"),
    ];
    let embed = Embed::new("📅 Update Schedule Set", GREEN)
        .block("Schedule Details", &lines)
        .field("Schedule", name.clone())
        .footer(format!(
            "This schedule will automatically update your modules ({kind})."
        ));
    Ok(Reply {
        embed,
        target: Some(name),
    })
}

/// The seed's schedule (type, `HH:MM`, days) as upkeep's: daily at a time, or a cron
/// expression on weekdays (weekly, custom) or days of the month (monthly).
fn schedule_spec(
    kind: &str,
    time: &str,
    days: Option<&str>,
) -> Result<upkeep_core::schedule::Spec, CliError> {
    use upkeep_core::schedule::Spec;
    let (hour, minute) = time
        .split_once(':')
        .and_then(|(h, m)| Some((h.parse::<u8>().ok()?, m.parse::<u8>().ok()?)))
        .filter(|(h, m)| *h < 24 && *m < 60)
        .ok_or_else(|| bad(format!("`update_time`: `{time}` is not HH:MM")))?;
    let cron = match (kind, days) {
        ("daily", _) => return Spec::parse_daily(time).map_err(CliError::from),
        ("weekly" | "custom", Some(days)) => format!("{minute} {hour} * * {}", weekdays(days)?),
        ("monthly", Some(days)) => format!("{minute} {hour} {} * *", days.replace(' ', "")),
        ("weekly" | "custom" | "monthly", None) => {
            return Err(bad(format!("a {kind} schedule needs `update_days`")));
        }
        (other, _) => return Err(bad(format!("`{other}` is not a schedule type"))),
    };
    Spec::parse_cron(&cron).map_err(CliError::from)
}

/// `sunday,monday` as cron's `sun,mon`.
fn weekdays(days: &str) -> Result<String, CliError> {
    const NAMES: &[&str] = &[
        "sunday",
        "monday",
        "tuesday",
        "wednesday",
        "thursday",
        "friday",
        "saturday",
    ];
    days.split(',')
        .map(|d| d.trim().to_ascii_lowercase())
        .map(|d| {
            NAMES
                .iter()
                .find(|n| **n == d || n[..3] == d)
                .map(|n| n[..3].to_owned())
                .ok_or_else(|| bad(format!("`update_days`: `{d}` is not a weekday")))
        })
        .collect::<Result<Vec<_>, _>>()
        .map(|days| days.join(","))
}

fn capitalised(word: &str) -> String {
    let mut chars = word.chars();
    chars
        .next()
        .map(|c| c.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}

/// The seed's backup types as upkeep's: `database` and `data_only` are data paths.
fn backup_kind(name: &str) -> Result<BackupKind, CliError> {
    match name {
        "full" => Ok(BackupKind::Full),
        "config" => Ok(BackupKind::Config),
        "database" | "data_only" | "data" => Ok(BackupKind::Data),
        "module" => Ok(BackupKind::Module),
        other => Err(bad(format!("`{other}` is not a backup type"))),
    }
}

/// A size as the seed shows it (`156 MB`), in binary units.
fn size(bytes: u64) -> String {
    const UNITS: &[&str] = &["B", "KB", "MB", "GB", "TB"];
    let mut unit = 0;
    let mut whole = bytes;
    while whole >= 1024 && unit + 1 < UNITS.len() {
        whole /= 1024;
        unit += 1;
    }
    format!("{whole} {}", UNITS[unit])
}

fn backup_create(ops: &Context, options: &Options) -> Result<Reply, CliError> {
    let kind = backup_kind(
        &options
            .text("backup_type")
            .unwrap_or_else(|| "full".to_owned()),
    )?;
    let compression =
        (!options.flag("compress", true)).then_some(upkeep_core::archive::Compression::None);
    let row = upkeep_core::ops::backup::create(
        ops,
        upkeep_core::ops::backup::CreateRequest {
            kind,
            modules: Vec::new(),
            name: options.text("backup_name"),
            description: options.text("description"),
            include_logs: options.flag("include_logs", false),
            compression,
            ..Default::default()
        },
    )?;
    let checksum: String = row.sha256.chars().take(12).collect();
    let embed = Embed::new("📦 Backup Complete", GREEN)
        .field("Backup ID", row.id.to_string())
        .field("Name", row.name.clone())
        .field("Type", capitalised(row.kind.as_str()))
        .field(
            "Size",
            format!(
                "{} (compressed: {})",
                size(row.bytes_in),
                size(row.bytes_out)
            ),
        )
        .field("Checksum", format!("{checksum}..."))
        .field(
            "Description",
            row.description.clone().unwrap_or_else(|| "-".to_owned()),
        );
    Ok(Reply {
        embed,
        target: Some(row.id.to_string()),
    })
}

fn backup_list(ops: &Context, options: &Options) -> Result<Reply, CliError> {
    use upkeep_core::ops::backup::Sort;
    let range = options
        .text("time_range")
        .unwrap_or_else(|| "30d".to_owned());
    let since = match range.as_str() {
        "all" => None,
        text => Some(upkeep_core::duration::parse_duration(text).map_err(bad)?),
    };
    let sort = match options.text("sort_by").as_deref() {
        None | Some("date") => Sort::Date,
        Some("size") => Sort::Size,
        Some("name") => Sort::Name,
        Some("type") => Sort::Kind,
        Some(other) => return Err(bad(format!("`{other}` is not a sort method"))),
    };
    let limit = usize::try_from(options.number("limit").unwrap_or(20).clamp(1, 50)).unwrap_or(20);
    let rows = upkeep_core::ops::backup::list(
        ops,
        &upkeep_core::ops::backup::ListRequest {
            kind: options
                .text("backup_type")
                .map(|t| backup_kind(&t))
                .transpose()?,
            since,
            sort,
            limit,
        },
    )?;
    let now = ops.clock().now_ms();
    let lines: Vec<String> = rows
        .iter()
        .enumerate()
        .map(|(i, b)| backup_line(i + 1, b, now))
        .collect();
    let stored: u64 = rows.iter().map(|b| b.bytes_out).sum();
    let window = if range == "all" {
        "All time".to_owned()
    } else {
        format!("Last {range}")
    };
    let mut embed = Embed::new(&format!("📂 Available Backups ({window})"), BLUE);
    embed = if lines.is_empty() {
        embed.describe("No backups found.")
    } else {
        embed.describe(&lines.join("\n"))
    };
    let embed = embed.footer(format!(
        "Total backups: {} (Stored: {})",
        rows.len(),
        size(stored)
    ));
    Ok(Reply {
        embed,
        target: None,
    })
}

/// One backup as the seed lists it.
fn backup_line(number: usize, b: &upkeep_core::state::backups::BackupRow, now: i64) -> String {
    let age = Duration::from_millis(u64::try_from(now - b.created_ms).unwrap_or(0));
    format!(
        "{number}. **{}** ({}) - {} ago\n📊 {} backup, {} → {} compressed\n✅ Verified and restorable",
        b.name,
        b.id,
        upkeep_core::duration::format_duration(age),
        capitalised(b.kind.as_str()),
        size(b.bytes_in),
        size(b.bytes_out),
    )
}

fn backup_restore(ops: &Context, options: &Options) -> Result<Reply, CliError> {
    use upkeep_core::manifest::PathCategory;
    let id = options.required("backup_id")?;
    let only = match options.text("restore_type").as_deref() {
        None | Some("all" | "full") => Vec::new(),
        Some("config") => vec![PathCategory::Config],
        Some("database" | "data") => vec![PathCategory::Data],
        Some(other) => return Err(bad(format!("`{other}` is not a restore type"))),
    };
    let request = upkeep_core::ops::backup::RestoreRequest {
        id: id.clone(),
        only,
        ..Default::default()
    };
    let (row, _) = upkeep_core::ops::backup::restore_preview(ops, &request)?;
    let typed = Typed {
        expected: row.module.clone().unwrap_or_else(|| row.name.clone()),
        given: options.required("confirm")?,
    };
    let started = std::time::Instant::now();
    let restored = upkeep_core::ops::backup::restore(ops, &request, &typed)?;
    let mut embed = Embed::new("🎉 Restore Completed Successfully", GREEN)
        .describe(&format!(
            "⚠️ **This restored the state of backup {}**",
            row.id
        ))
        .field("Restored from", row.name.clone())
        .field("Paths", restored.roots.len().to_string())
        .field(
            "Restoration time",
            upkeep_core::duration::format_duration(started.elapsed()),
        );
    for note in unused(options, &[("verify_backup", true)]) {
        embed = embed.field("Note", note);
    }
    if let Some(pre) = restored.pre_restore_backup {
        embed = embed.field("Backup Before Restore", pre.to_string());
    }
    Ok(Reply {
        embed,
        target: Some(row.id.to_string()),
    })
}

fn update_settings(ops: &Context, options: &Options) -> Result<Reply, CliError> {
    let category = options.required("setting_category")?;
    if !super::commands::SETTING_CATEGORIES.contains(&category.as_str()) {
        return Err(bad(format!(
            "`{category}` settings cannot be changed from Discord; use `upkeep settings set`"
        )));
    }
    let key = format!("{category}.{}", options.required("setting_name")?);
    let before = upkeep_core::ops::settings::get(ops, &key)?;
    let after = if options.flag("reset_to_default", false) {
        upkeep_core::ops::settings::reset(ops, &key)?
            .map_or_else(|| "(removed)".to_owned(), |v| v.to_string())
    } else {
        upkeep_core::ops::settings::set(ops, &key, &options.required("setting_value")?)?.to_string()
    };
    let embed = Embed::new("⚙️ Settings Updated", GREEN)
        .block(
            &format!("{} Settings", capitalised(&category)),
            &[format!("• {key}: {after} (previously: {before})")],
        )
        .footer("Settings have been applied successfully.".to_owned());
    Ok(Reply {
        embed,
        target: Some(key),
    })
}
