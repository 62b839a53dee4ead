//! Tables for backups and prunes.

use std::fmt::Write;
use upkeep_core::message::count;

use upkeep_core::backup::{Decision, Restored, human};
use upkeep_core::state::backups::{BackupFormat, BackupRow};

use super::{table, timestamp};

fn ratio(row: &BackupRow) -> String {
    if row.bytes_in == 0 {
        "-".to_owned()
    } else {
        #[expect(clippy::cast_precision_loss, reason = "display only")]
        let r = row.bytes_out as f64 / row.bytes_in as f64 * 100.0;
        format!("{r:.0}%")
    }
}

pub(crate) fn backup_created(row: &BackupRow) -> String {
    if row.format == BackupFormat::Snapshot {
        return format!(
            "backup {} ({}) created and verified\n  read-only btrfs snapshot {}\n  subvolume {}\n",
            row.id, row.name, row.file, row.sha256
        );
    }
    let mut text = format!(
        "backup {} ({}) created and verified\n  {} entries, {} archived into {} ({}), {}\n  sha256 {}\n",
        row.id,
        row.name,
        row.entry_count,
        human(row.bytes_in),
        human(row.bytes_out),
        ratio(row),
        row.compression,
        row.sha256
    );
    let _ = writeln!(text, "  file {}", row.file);
    for path in &row.not_kept {
        let _ = writeln!(
            text,
            "  not kept: {path} (a socket; its server makes it again)"
        );
    }
    text
}

pub(crate) fn backup_list(rows: &[BackupRow]) -> String {
    if rows.is_empty() {
        return "no backups\n".to_owned();
    }
    let headers = [
        "ID",
        "NAME",
        "TYPE",
        "CREATED BY",
        "MODULE",
        "CREATED",
        "SIZE",
        "OF",
        "STATUS",
    ];
    let body: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            let by = match r.run_id {
                Some(run) => format!("{} (run {run})", r.reason),
                None => r.reason.as_str().to_owned(),
            };
            let module = match (&r.module, &r.module_version) {
                (Some(m), Some(v)) => format!("{m}@{v}"),
                (Some(m), None) => m.clone(),
                _ => "-".to_owned(),
            };
            vec![
                r.id.to_string(),
                r.name.clone(),
                r.kind.as_str().to_owned(),
                by,
                module,
                timestamp(r.created_ms),
                // A snapshot shares its extents with the live data: no size of its own.
                if r.format == BackupFormat::Snapshot {
                    "snapshot".to_owned()
                } else {
                    human(r.bytes_out)
                },
                if r.format == BackupFormat::Snapshot {
                    "-".to_owned()
                } else {
                    human(r.bytes_in)
                },
                r.status.as_str().to_owned(),
            ]
        })
        .collect();
    table(&headers, &body)
}

pub(crate) fn prune(decisions: &[Decision], dry_run: bool) -> String {
    let verb = if dry_run { "would delete" } else { "deleted" };
    let headers = ["ID", "NAME", "CREATED", "SIZE", "VERDICT"];
    let body: Vec<Vec<String>> = decisions
        .iter()
        .map(|d| {
            let verdict = if d.keep {
                format!("keep: {}", d.reasons.join("; "))
            } else {
                verb.to_owned()
            };
            vec![
                d.backup.id.to_string(),
                d.backup.name.clone(),
                timestamp(d.backup.created_ms),
                human(d.backup.bytes_out),
                verdict,
            ]
        })
        .collect();
    let gone: Vec<&Decision> = decisions.iter().filter(|d| !d.keep).collect();
    let freed: u64 = gone.iter().map(|d| d.backup.bytes_out).sum();
    let mut text = if decisions.is_empty() {
        "no backups\n".to_owned()
    } else {
        table(&headers, &body)
    };
    let backups = upkeep_core::message::count(gone.len(), "backup", "backups");
    let _ = writeln!(text, "{verb} {backups}, {}", human(freed));
    text
}

pub(crate) fn restored(restored: &Restored) -> String {
    let mut text = format!(
        "restored {} from backup {}\n",
        upkeep_core::message::count(restored.roots.len(), "path", "paths"),
        restored.backup_id
    );
    for root in &restored.roots {
        let _ = writeln!(text, "  {}", root.path);
    }
    if let Some(pre) = restored.pre_restore_backup {
        let _ = writeln!(text, "the previous content is in backup {pre}");
    }
    for socket in &restored.sockets.kept {
        let _ = writeln!(text, "kept the live socket {}", socket.display());
    }
    for socket in &restored.sockets.dropped {
        let _ = writeln!(
            text,
            "removed the socket {} (the backup has no place for it)",
            socket.display()
        );
    }
    text
}

/// What `--allow-changed-paths` let through: a path restored where the backup recorded it
/// although its module declares other paths now.
pub(crate) fn changed_path(changed: &upkeep_core::backup::ChangedPath) -> String {
    let declared: Vec<String> = changed
        .declared
        .iter()
        .map(|p| p.display().to_string())
        .collect();
    let declared = if declared.is_empty() {
        "no paths".to_owned()
    } else {
        declared.join(", ")
    };
    format!(
        "restored {} where the backup recorded it (--allow-changed-paths); module `{}` declares {declared} now",
        changed.recorded.display(),
        changed.module
    )
}

pub(crate) fn settings_table(
    path: &std::path::Path,
    rows: &[upkeep_core::ops::settings::SettingRow],
) -> String {
    let body: Vec<Vec<String>> = rows
        .iter()
        .map(|row| {
            let note = if row.default {
                "default".to_owned()
            } else {
                format!("default {}", row.default_value)
            };
            vec![
                row.key.clone(),
                row.value.to_string(),
                note,
                row.doc.to_owned(),
            ]
        })
        .collect();
    let mut text = format!("settings file: {}\n", path.display());
    text.push_str(&table(&["SETTING", "VALUE", "", "MEANING"], &body));
    text
}

/// Where the state is and since when.
fn first_line(m: &upkeep_core::ops::query::Metrics) -> String {
    match m.runs.first_run_ms {
        Some(first) => {
            let days = (upkeep_core::state::now_ms() - first) / 86_400_000;
            format!(
                "state: {} (first run {}, {} ago)\n",
                m.state_dir.display(),
                timestamp(first),
                count(days, "day", "days")
            )
        }
        None => format!("state: {} (no runs yet)\n", m.state_dir.display()),
    }
}

pub(crate) fn metrics(m: &upkeep_core::ops::query::Metrics) -> String {
    let mut text = first_line(m);
    if let Some(last) = &m.runs.last_run {
        let _ = writeln!(
            text,
            "last run: {} at {}: {}",
            last.id,
            timestamp(last.started_ms),
            last.result
        );
    }
    match m.last_check_ms {
        Some(at) => {
            let _ = writeln!(text, "last check: {}", timestamp(at));
        }
        None => text.push_str("last check: never (`upkeep check` asks the update sources)\n"),
    }
    let rates: Vec<String> = m
        .runs
        .windows
        .iter()
        .map(|w| {
            if w.runs == 0 {
                format!("{}: no runs", w.window)
            } else {
                #[expect(clippy::cast_precision_loss, reason = "display only")]
                let rate = w.succeeded as f64 / w.runs as f64 * 100.0;
                format!("{}: {rate:.0}% of {}", w.window, w.runs)
            }
        })
        .collect();
    if !rates.is_empty() {
        let _ = writeln!(text, "success: {}", rates.join(", "));
    }
    let parts: Vec<String> = m
        .disk_usage
        .iter()
        .take(5)
        .map(|(name, bytes)| format!("{name} {}", human(*bytes)))
        .collect();
    if parts.is_empty() {
        let _ = writeln!(text, "disk: nothing stored yet");
    } else {
        let total = human(m.disk_usage_total);
        let _ = writeln!(text, "disk: {total} ({})", parts.join(", "));
    }
    text
}
