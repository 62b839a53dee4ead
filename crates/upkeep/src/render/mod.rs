//! Human renderings of engine results: tables, diagnostics, summaries. Everything here is
//! a pure function from values to text, so it can be snapshot-tested without spawning.

mod backups;
mod deploy;
mod notify;
pub(crate) mod progress;
mod updates;

pub(crate) use backups::{backup_created, backup_list, metrics, prune, restored, settings_table};
pub(crate) use deploy::{deploy_applied, deploy_plan, owned_files, scripts_run};
pub(crate) use notify::{channels, flushed, pending, tested};
pub(crate) use updates::check_report;

use std::fmt::Write;
use std::path::Path;
use std::time::Duration;

use upkeep_core::checksum::ModuleChecksum;
use upkeep_core::duration::format_duration;
use upkeep_core::manifest::Diagnostic;
use upkeep_core::plan::Plan;
use upkeep_core::run::{Outcome, RunSummary};
use upkeep_core::state::{AuditEntry, History};

use upkeep_core::ops::query::StatusRow;

/// Lay out rows under headers, columns padded to their widest cell.
pub(crate) fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let line = |out: &mut String, cells: &mut dyn Iterator<Item = &str>| {
        let mut text = String::new();
        for (i, cell) in cells.enumerate() {
            let _ = write!(text, "{cell:<width$}  ", width = widths[i]);
        }
        out.push_str(text.trim_end());
        out.push('\n');
    };
    line(&mut out, &mut headers.iter().copied());
    for row in rows {
        line(&mut out, &mut row.iter().map(String::as_str));
    }
    out
}

fn or_dash(value: Option<&str>) -> String {
    value.map_or_else(|| "-".to_owned(), str::to_owned)
}

/// A Unix-epoch millisecond time as RFC 3339 UTC, to the second.
pub(crate) fn timestamp(ms: i64) -> String {
    jiff::Timestamp::from_millisecond(ms).map_or_else(
        |_| ms.to_string(),
        |t| t.round(jiff::Unit::Second).unwrap_or(t).to_string(),
    )
}

/// Manifest diagnostics, compiler style, on stderr.
pub(crate) fn diagnostics(diagnostics: &[Diagnostic]) {
    eprint!("{}", diagnostics_text(diagnostics));
}

pub(crate) fn diagnostics_text(diagnostics: &[Diagnostic]) -> String {
    let mut out = String::new();
    for d in diagnostics {
        let _ = writeln!(out, "error: {}", d.message);
        if d.line > 0 {
            let _ = writeln!(out, "  --> {}:{}:{}", d.file.display(), d.line, d.column);
        } else {
            let _ = writeln!(out, "  --> {}", d.file.display());
        }
        if let Some(snippet) = &d.snippet {
            let number = d.line.to_string();
            let pad = " ".repeat(number.len());
            let _ = writeln!(out, "{pad} |");
            let _ = writeln!(out, "{number} | {}", snippet.text);
            let marks = "^".repeat(snippet.mark_width.min(80));
            let field = d
                .field
                .as_ref()
                .map(|f| format!(" field `{f}`"))
                .unwrap_or_default();
            let _ = writeln!(
                out,
                "{pad} | {}{marks}{field}",
                " ".repeat(snippet.mark_start)
            );
        } else if let Some(field) = &d.field {
            let _ = writeln!(out, "  field `{field}`");
        }
        if let Some(hint) = &d.hint {
            let _ = writeln!(out, "hint: {hint}");
        }
        out.push('\n');
    }
    let count = diagnostics.len();
    let noun = if count == 1 { "problem" } else { "problems" };
    let _ = writeln!(
        out,
        "error: the manifest has {count} {noun}; nothing was run"
    );
    out
}

/// `upkeep plan` as a table in execution order, indented by tree depth.
pub(crate) fn plan_table(plan: &Plan) -> String {
    let rows: Vec<Vec<String>> = plan
        .steps
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let name = format!(
                "{}{}{}",
                "  ".repeat(s.depth),
                s.name,
                if s.critical { " (critical)" } else { "" }
            );
            vec![
                (i + 1).to_string(),
                name,
                s.kind.to_owned(),
                s.action.describe(),
                or_dash(s.version.as_deref()),
                or_dash(s.applied_version.as_deref()),
                s.wave.to_string(),
                if s.requires.is_empty() {
                    "-".to_owned()
                } else {
                    s.requires.join(", ")
                },
            ]
        })
        .collect();
    let mut out = table(
        &[
            "#", "MODULE", "KIND", "ACTION", "DECLARED", "APPLIED", "WAVE", "AFTER",
        ],
        &rows,
    );
    let waves = plan
        .steps
        .iter()
        .filter(|s| s.action.runs())
        .map(|s| s.wave)
        .collect::<std::collections::BTreeSet<_>>()
        .len();
    let _ = writeln!(
        out,
        "\n{} of {} modules would run, in {waves} wave(s); modules in the same wave can run in parallel.",
        plan.to_run(),
        plan.steps.len()
    );
    out
}

/// `upkeep status` as a table.
pub(crate) fn status_table(rows: &[StatusRow]) -> String {
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            vec![
                r.module.clone(),
                r.kind.to_owned(),
                r.state.clone(),
                or_dash(r.declared_version.as_deref()),
                or_dash(r.applied_version.as_deref()),
                or_dash(r.last_safe_version.as_deref()),
                or_dash(r.last_applied.as_deref()),
                or_dash(r.last_outcome.as_deref()),
                r.last_backup
                    .map_or_else(|| "-".to_owned(), |id| format!("#{id}")),
                or_dash(r.last_health.as_deref()),
                or_dash(r.description.as_deref()),
            ]
        })
        .collect();
    table(
        &[
            "MODULE",
            "KIND",
            "STATE",
            "DECLARED",
            "APPLIED",
            "LAST SAFE",
            "LAST APPLIED",
            "LAST OUTCOME",
            "BACKUP",
            "HEALTH",
            "DESCRIPTION",
        ],
        &cells,
    )
}

/// The end-of-run summary: every module's outcome and duration, then the counts.
pub(crate) fn summary(summary: &RunSummary, state_dir: &Path) -> String {
    let rows: Vec<Vec<String>> = summary
        .modules
        .iter()
        .map(|m| {
            let versions = match (&m.version_before, &m.version_after) {
                (before, after) if before == after => or_dash(after.as_deref()),
                (before, after) => format!(
                    "{} -> {}",
                    or_dash(before.as_deref()),
                    or_dash(after.as_deref())
                ),
            };
            vec![
                m.module.clone(),
                m.outcome.name().to_owned(),
                if m.log_path.is_some() {
                    format_duration(Duration::from_millis(m.duration_ms))
                } else {
                    "-".to_owned()
                },
                versions,
                m.outcome.detail().unwrap_or_default(),
            ]
        })
        .collect();
    let mut out = table(
        &["MODULE", "OUTCOME", "DURATION", "VERSION", "DETAIL"],
        &rows,
    );
    let counts = outcome_counts(summary);
    let run = summary
        .run_id
        .map_or_else(|| "dry run".to_owned(), |id| format!("run {id}"));
    let _ = writeln!(
        out,
        "\n{run} {}: {} in {}",
        summary.result.name(),
        counts.join(", "),
        format_duration(Duration::from_millis(summary.duration_ms))
    );
    for failed in &summary.modules {
        if let (Some(log), Outcome::Failed { tail, .. }) = (&failed.log_path, &failed.outcome) {
            let _ = writeln!(out, "\n{} failed; last lines of {log}:", failed.module);
            for line in tail.lines() {
                let _ = writeln!(out, "  {line}");
            }
        }
    }
    if let (Some(id), true) = (
        summary.run_id,
        summary.modules.iter().any(|m| m.log_path.is_some()),
    ) {
        let _ = writeln!(
            out,
            "logs: {}",
            state_dir.join("logs").join(format!("run-{id}")).display()
        );
    }
    out
}

/// "3 succeeded, 1 failed", in the order outcomes first appear.
fn outcome_counts(summary: &RunSummary) -> Vec<String> {
    let mut counts: Vec<(&str, usize)> = Vec::new();
    for m in &summary.modules {
        let name = m.outcome.name();
        match counts.iter_mut().find(|(n, _)| *n == name) {
            Some((_, count)) => *count += 1,
            None => counts.push((name, 1)),
        }
    }
    counts.iter().map(|(n, c)| format!("{c} {n}")).collect()
}

/// `upkeep history`: runs with their module outcomes, then per-module statistics.
pub(crate) fn history(history: &History) -> String {
    let mut out = String::new();
    if history.runs.is_empty() {
        out.push_str("no runs recorded\n");
        audit(&history.audit, &mut out);
        return out;
    }
    for run in &history.runs {
        let took = run.finished_ms.map(|f| {
            format_duration(Duration::from_millis(
                u64::try_from(f - run.started_ms).unwrap_or(0),
            ))
        });
        let _ = writeln!(
            out,
            "run {}  {}  {}  {}  ({})",
            run.id,
            timestamp(run.started_ms),
            run.trigger,
            run.result,
            or_dash(took.as_deref())
        );
        for m in &run.modules {
            let took = m
                .duration_ms
                .map(|d| format_duration(Duration::from_millis(u64::try_from(d).unwrap_or(0))));
            let _ = writeln!(
                out,
                "  {:<24} {:<18} {:>8}  {}",
                m.module,
                m.outcome,
                or_dash(took.as_deref()),
                m.detail.as_deref().unwrap_or("")
            );
        }
        for e in &run.events {
            let _ = writeln!(
                out,
                "    {:<12} {:<20} {}",
                e.kind,
                e.module.as_deref().unwrap_or("-"),
                e.detail
            );
        }
    }
    let rows = stats_rows(history);
    out.push('\n');
    out.push_str(&table(
        &["MODULE", "RUNS", "SUCCESS", "MEAN DURATION"],
        &rows,
    ));
    audit(&history.audit, &mut out);
    out
}

/// Per-module statistics rows: runs, success rate ("-" when it never ran), mean duration.
fn stats_rows(history: &History) -> Vec<Vec<String>> {
    history
        .stats
        .iter()
        .map(|s| {
            vec![
                s.module.clone(),
                s.attempts.to_string(),
                if s.attempts == 0 {
                    "-".to_owned()
                } else {
                    format!("{:.0}%", s.success_rate * 100.0)
                },
                s.mean_duration_ms.map_or_else(
                    || "-".to_owned(),
                    |d| format_duration(Duration::from_secs_f64(d.max(0.0) / 1000.0)),
                ),
            ]
        })
        .collect()
}

/// The audit trail (checksum approvals) under a run history.
fn audit(entries: &[AuditEntry], out: &mut String) {
    if entries.is_empty() {
        return;
    }
    out.push_str("\naudit:\n");
    for a in entries {
        let module = a.module.as_deref().unwrap_or("-");
        let _ = writeln!(
            out,
            "  {}  {}  {module}  {}",
            timestamp(a.at_ms),
            a.action,
            a.detail
        );
    }
}

/// `upkeep checksum` results.
pub(crate) fn checksum_table(report: &[ModuleChecksum]) -> String {
    let rows: Vec<Vec<String>> = report
        .iter()
        .map(|m| {
            let mut detail = m.error.clone().unwrap_or_default();
            if let Some(changes) = &m.changes {
                for (label, list) in [
                    ("changed", &changes.changed),
                    ("added", &changes.added),
                    ("removed", &changes.removed),
                ] {
                    if !list.is_empty() {
                        let _ = write!(detail, "{label}: {} ", list.join(", "));
                    }
                }
            }
            let short = |c: &Option<String>| {
                c.as_deref()
                    .map_or_else(|| "-".to_owned(), |c| c.chars().take(12).collect())
            };
            vec![
                m.module.clone(),
                format!("{:?}", m.verdict).to_lowercase(),
                short(&m.declared),
                short(&m.actual),
                m.files.to_string(),
                detail.trim_end().to_owned(),
            ]
        })
        .collect();
    table(
        &["MODULE", "VERDICT", "DECLARED", "ACTUAL", "FILES", "DETAIL"],
        &rows,
    )
}
