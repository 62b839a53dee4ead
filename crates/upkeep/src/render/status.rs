//! `upkeep status` as text: whether automation works and why, a table that fits the width
//! (80 columns when stdout is not a terminal), every column with `--wide`, or everything
//! about one module.

use std::fmt::Write;

use super::fit::{self, Column, ELLIPSIS, Give, Layout};
use super::{or_dash, table};
use upkeep_core::ops::status::{StatusReport, StatusRow};
use upkeep_core::state::ModuleOutcome;
use upkeep_core::updates::Upstream;

/// Whether automation works, and each reason it does not with its code (what the API and
/// metrics name it) and the command that helps: the first lines of `upkeep status`.
pub(crate) fn automation(report: &StatusReport) -> String {
    let mut text = format!("automation: {}\n", report.state.as_str());
    for reason in &report.reasons {
        let _ = writeln!(text, "  {}: {}", reason.code.as_str(), reason.message);
        if let Some(hint) = &reason.hint {
            let _ = writeln!(text, "    hint: {hint}");
        }
    }
    text
}

/// A module's reason code, `-` for a module the manifest no longer has.
fn reason_cell(row: &StatusRow) -> String {
    or_dash(
        row.reason
            .map(upkeep_core::ops::status::ModuleReason::as_str),
    )
}

/// The default table: the columns that answer "is everything all right?" (what the next
/// run does, the applied version, how the last run ended) and what each module is.
/// Names, states, versions and descriptions give way, in that order from the last, to fit
/// the layout's width; their floors add up to less than 80 columns, so the table always
/// fits 80. WHY, after STATE, is the module's reason code (`update-available`,
/// `blocked-by-dependency`, ...).
///
/// When a module has an update source that was checked, an UPSTREAM column follows
/// APPLIED: the upstream version the module is on and what is available (`2.3.0 →
/// 2.3.1`), or how many of its packages are outdated. Names, applied versions, states and
/// reasons then give way further, so the floors still add up to less than 80 columns.
pub(crate) fn status_table(rows: &[StatusRow], layout: Layout) -> String {
    let upstream = rows.iter().any(|r| r.upstream.is_some());
    let (name, applied, state, why) = if upstream {
        (10, 7, 8, 8)
    } else {
        (14, 9, 10, 10)
    };
    let mut columns = vec![
        Column::new("MODULE", Give::Middle(name)),
        Column::new("APPLIED", Give::End(applied)),
        Column::new("STATE", Give::End(state)),
        Column::new("WHY", Give::End(why)),
        Column::new("LAST OUTCOME", Give::End(12)),
        Column::new("DESCRIPTION", Give::End(0)),
    ];
    if upstream {
        columns.insert(2, Column::new("UPSTREAM", Give::End(8)));
    }
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            let mut cells = vec![
                r.module.clone(),
                or_dash(r.applied_version.as_deref()),
                r.state.clone(),
                reason_cell(r),
                or_dash(r.last_outcome.map(ModuleOutcome::as_str)),
                or_dash(r.description.as_deref()),
            ];
            if upstream {
                cells.insert(2, upstream_cell(r.upstream.as_ref()));
            }
            cells
        })
        .collect();
    let mut table = fit::fit(&columns, &cells, layout);
    if table.cut {
        let _ = writeln!(
            table.text,
            "\ntext marked {ELLIPSIS} was cut to fit; `upkeep status MODULE` shows one module whole"
        );
    }
    table.text
}

/// A status table's UPSTREAM cell: `2.3.0 → 2.3.1`, with `[security]` and `[pre-release]`
/// marks; `-` without a checked source.
fn upstream_cell(upstream: Option<&Upstream>) -> String {
    let Some(upstream) = upstream else {
        return "-".to_owned();
    };
    let mut cell = upstream.describe();
    if upstream.security {
        cell.push_str(" [security]");
    }
    if upstream.prerelease {
        cell.push_str(" [pre-release]");
    }
    cell
}

/// `upkeep status MODULE`'s upstream line: the table's cell, what the next run takes
/// when it is not the newest, what is held and why, and when the source was checked.
fn upstream_line(upstream: &Upstream) -> String {
    let mut line = upstream_cell(Some(upstream));
    if let Some(target) = &upstream.target
        && upstream.latest.as_ref() != Some(target)
    {
        let _ = write!(line, "; next run takes {target}");
    }
    if let Some(held) = &upstream.held {
        let _ = write!(line, "; held back: {} ({})", held.version, held.description);
    }
    let held = upstream
        .packages
        .iter()
        .filter(|p| p.held.is_some())
        .count();
    if held > 0 {
        let _ = write!(line, "; {held} held back");
    }
    let _ = write!(line, " (checked {})", super::timestamp(upstream.checked_ms));
    line
}

/// `upkeep status --wide`: every column, as wide as the cells (UPSTREAM when a module has
/// a checked source).
pub(crate) fn status_wide(rows: &[StatusRow]) -> String {
    let upstream = rows.iter().any(|r| r.upstream.is_some());
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            let mut cells = vec![
                r.module.clone(),
                r.kind.to_owned(),
                r.state.clone(),
                reason_cell(r),
                or_dash(r.declared_version.as_deref()),
                or_dash(r.applied_version.as_deref()),
                or_dash(r.last_safe_version.as_deref()),
                or_dash(r.last_applied.as_deref()),
                or_dash(r.last_outcome.map(ModuleOutcome::as_str)),
                r.last_backup
                    .map_or_else(|| "-".to_owned(), |id| format!("#{id}")),
                or_dash(r.last_health.as_deref()),
                or_dash(r.description.as_deref()),
            ];
            if upstream {
                cells.insert(6, upstream_cell(r.upstream.as_ref()));
            }
            cells
        })
        .collect();
    let mut headers = vec![
        "MODULE",
        "KIND",
        "STATE",
        "WHY",
        "DECLARED",
        "APPLIED",
        "LAST SAFE",
        "LAST APPLIED",
        "LAST OUTCOME",
        "BACKUP",
        "HEALTH",
        "DESCRIPTION",
    ];
    if upstream {
        headers.insert(6, "UPSTREAM");
    }
    table(&headers, &cells)
}

/// `upkeep status MODULE`: one module, a field per line, nothing cut.
pub(crate) fn status_module(row: &StatusRow) -> String {
    let with_time = |value: Option<String>, at: Option<&str>| match (value, at) {
        (Some(value), Some(at)) => format!("{value} ({at})"),
        (value, _) => or_dash(value.as_deref()),
    };
    let mut kind = row.kind.to_owned();
    if row.critical {
        kind.push_str(", critical");
    }
    if !row.enabled && row.kind != "-" {
        kind.push_str(", disabled");
    }
    let fields = [
        ("module", row.module.clone()),
        ("description", or_dash(row.description.as_deref())),
        ("kind", kind),
        ("state", row.state.clone()),
        (
            "why",
            match (row.reason, &row.reason_message) {
                (Some(code), Some(message)) => format!("{}: {message}", code.as_str()),
                _ => "-".to_owned(),
            },
        ),
        ("declared", or_dash(row.declared_version.as_deref())),
        (
            "applied",
            with_time(row.applied_version.clone(), row.last_applied.as_deref()),
        ),
        ("last safe", or_dash(row.last_safe_version.as_deref())),
        (
            "last outcome",
            or_dash(row.last_outcome.map(ModuleOutcome::as_str)),
        ),
        (
            "backup",
            with_time(
                row.last_backup.map(|id| format!("#{id}")),
                row.last_backup_at.as_deref(),
            ),
        ),
        (
            "health",
            with_time(row.last_health.clone(), row.last_health_at.as_deref()),
        ),
        ("held", or_dash(row.held.as_deref())),
    ];
    let upstream = row
        .upstream
        .as_ref()
        .map(|u| ("upstream", upstream_line(u)));
    let mut out = String::new();
    for (label, value) in fields.into_iter().chain(upstream) {
        fit::pad(&mut out, label, 14);
        out.push_str(&value);
        out.push('\n');
    }
    out
}
