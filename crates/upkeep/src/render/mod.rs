//! Human renderings of engine results: tables, diagnostics, summaries. Everything here is
//! a pure function from values to text, so it can be snapshot-tested without spawning.

mod backups;
mod deploy;
mod doctor;
pub(crate) mod fit;
mod notify;
pub(crate) mod progress;
mod status;
#[cfg(test)]
mod tests;
mod updates;

pub(crate) use backups::{
    backup_created, backup_list, changed_path, metrics, prune, restored, settings_table,
};
pub(crate) use deploy::{deploy_applied, deploy_plan, owned_files, scripts_run};
pub(crate) use doctor::doctor;
pub(crate) use fit::Layout;
pub(crate) use notify::{channels, flushed, pending, tested};
pub(crate) use status::{automation, status_module, status_table, status_wide};
pub(crate) use updates::check_report;

use std::fmt::Write;
use std::path::Path;

use fit::{Column, ELLIPSIS, Give};
use std::time::Duration;

use upkeep_core::checksum::{ModuleChecksum, Problem, Refusal};
use upkeep_core::duration::format_duration;
use upkeep_core::manifest::{Diagnostic, Severity};
use upkeep_core::plan::Plan;
use upkeep_core::run::{Outcome, RunSummary, UpstreamChange};
use upkeep_core::state::{AuditEntry, History, HistoryModule};

/// Lay out rows under headers, columns padded to their widest cell (each cell one line,
/// and at most [`fit::DETAIL_BOUND`] wide).
pub(crate) fn table(headers: &[&'static str], rows: &[Vec<String>]) -> String {
    let columns: Vec<fit::Column> = headers.iter().map(|h| fit::Column::keep(h)).collect();
    let unbounded = Layout {
        width: usize::MAX,
        terminal: false,
    };
    fit::fit(&columns, rows, unbounded).text
}

fn or_dash(value: Option<&str>) -> String {
    value.map_or_else(|| "-".to_owned(), str::to_owned)
}

pub(crate) use upkeep_core::ops::query::timestamp;

/// Manifest diagnostics, compiler style, on stderr.
pub(crate) fn diagnostics(diagnostics: &[Diagnostic]) {
    let text = diagnostics_text(diagnostics);
    crate::printer::get().message(text.strip_suffix('\n').unwrap_or(&text));
}

pub(crate) fn diagnostics_text(diagnostics: &[Diagnostic]) -> String {
    let mut out = String::new();
    diagnostic_blocks(&mut out, diagnostics);
    let count = diagnostics
        .iter()
        .filter(|d| d.severity == Severity::Error)
        .count();
    let noun = if count == 1 { "problem" } else { "problems" };
    let _ = writeln!(
        out,
        "error: the manifest has {count} {noun}; nothing was run"
    );
    out
}

/// A loaded manifest's warnings, compiler style, on stderr (shown even with `--quiet`, as
/// cargo shows its warnings).
pub(crate) fn warnings(warnings: &[Diagnostic]) {
    if warnings.is_empty() {
        return;
    }
    let text = warnings_text(warnings);
    crate::printer::get().message(text.strip_suffix('\n').unwrap_or(&text));
}

pub(crate) fn warnings_text(warnings: &[Diagnostic]) -> String {
    let mut out = String::new();
    diagnostic_blocks(&mut out, warnings);
    let _ = writeln!(
        out,
        "warning: the manifest has {}; it loads and runs",
        upkeep_core::message::count(warnings.len(), "warning", "warnings")
    );
    out
}

fn diagnostic_blocks(out: &mut String, diagnostics: &[Diagnostic]) {
    for d in diagnostics {
        let label = match d.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        let _ = writeln!(out, "{label}: {}", d.message);
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
            let action = match (&s.refused, &s.blocked_by) {
                (Some(refusal), _) => format!("refused ({})", refusal_short(refusal.problem)),
                (None, Some(root)) => format!("blocked (needs refused `{root}`)"),
                (None, None) => s.action.describe(),
            };
            vec![
                (i + 1).to_string(),
                name,
                s.kind.to_owned(),
                action,
                rule_cell(s),
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
            "#", "MODULE", "KIND", "ACTION", "RULE", "DECLARED", "APPLIED", "WAVE", "AFTER",
        ],
        &rows,
    );
    let waves = plan
        .steps
        .iter()
        .filter(|s| s.will_run())
        .map(|s| s.wave)
        .collect::<std::collections::BTreeSet<_>>()
        .len();
    let _ = writeln!(
        out,
        "\n{} of {} modules would run, in {}; modules in the same wave can run in parallel.",
        plan.to_run(),
        plan.steps.len(),
        upkeep_core::message::count(waves, "wave", "waves")
    );
    refusals(&mut out, plan);
    backups(&mut out, plan);
    out
}

/// Under a plan: how each module's pre-update backup is taken, shown once a filesystem
/// snapshot is in question (a path on btrfs); an archive everywhere goes without saying.
fn backups(out: &mut String, plan: &Plan) {
    use upkeep_core::backup::Method;
    let unremarkable = |m: &Method| {
        matches!(
            m,
            Method::Archive {
                why_not_snapshot: None
            } | Method::Store {
                why_not_snapshot: None
            }
        )
    };
    let chosen: Vec<_> = plan
        .steps
        .iter()
        .filter_map(|s| s.backup.as_ref().map(|m| (&s.name, m)))
        .collect();
    if chosen.iter().all(|(_, m)| unremarkable(m)) {
        return;
    }
    let _ = writeln!(out, "Pre-update backups:");
    for (name, method) in chosen {
        let _ = writeln!(out, "  {name}: {}", method.describe());
    }
}

/// The RULE cell of a plan step: its run rule and what decided it, and whether its own
/// code runs its children (each child's row says why). A group has no code, so no rule; a
/// module run by its parent says so in its action.
fn rule_cell(step: &upkeep_core::plan::Step) -> String {
    use upkeep_core::manifest::ChildrenRunner;
    use upkeep_core::plan::Action;
    if step.is_group() || matches!(step.action, Action::RunByParent { .. }) {
        return "-".to_owned();
    }
    let mut cell = format!(
        "{} ({})",
        step.rule.value.name(),
        step.rule.origin.describe()
    );
    if let Some(children) = &step.children_run_by
        && children.value == ChildrenRunner::Parent
    {
        cell.push_str(", runs its children");
    }
    cell
}

/// Under a plan: the modules the checksum check would refuse, each with its fix.
fn refusals(out: &mut String, plan: &Plan) {
    let (refused, blocked) = (plan.refused(), plan.blocked());
    if refused > 0 {
        let blocked = if blocked > 0 {
            format!(
                " and would block {}",
                upkeep_core::message::count(blocked, "module", "modules")
            )
        } else {
            String::new()
        };
        let _ = writeln!(
            out,
            "{} would be refused by the checksum check{blocked} (`upkeep run` would exit 6); review each folder, then approve it:",
            upkeep_core::message::count(refused, "module", "modules"),
        );
        for step in &plan.steps {
            if let Some(refusal) = &step.refused {
                let _ = writeln!(out, "  {}: {}", step.name, refusal_detail(refusal));
                let _ = writeln!(out, "    fix: {}", refusal.fix);
            }
        }
    }
}

/// A refusal in a few words, for a table cell.
fn refusal_short(problem: Problem) -> &'static str {
    match problem {
        Problem::Missing => "no checksum",
        Problem::Unreadable => "unreadable checksum file",
        Problem::Foreign => "checksum not approved by upkeep",
        Problem::Changed => "files changed since approval",
        Problem::Unhashable => "folder cannot be hashed",
    }
}

/// A refusal in one line: what is wrong, without the fix (shown beside it).
pub(crate) fn refusal_detail(refusal: &Refusal) -> String {
    let mut detail = match refusal.problem {
        Problem::Missing => "no checksum file and no `checksum` field".to_owned(),
        Problem::Unreadable => format!(
            "the checksum file holds {}",
            refusal.found.as_deref().unwrap_or("something else")
        ),
        Problem::Foreign => {
            "its checksum was not written by upkeep (the seeds' checksummer computes another digest)"
                .to_owned()
        }
        Problem::Changed => "files changed since they were approved".to_owned(),
        Problem::Unhashable => refusal.reason.clone(),
    };
    if let Some(changes) = &refusal.changes {
        for (label, list) in [
            ("changed", &changes.changed),
            ("added", &changes.added),
            ("removed", &changes.removed),
        ] {
            if !list.is_empty() {
                let _ = write!(detail, "; {label}: {}", list.join(", "));
            }
        }
    }
    detail
}

/// The end-of-run summary: every module's outcome and duration, then the counts. Details
/// are cut to fit `layout` (see [`Layout::detail`]); the ledger and `--json` keep them
/// whole, and the table says where.
///
/// When a module's source was checked, an UPSTREAM column follows VERSION: the upstream
/// version it was on and the one it is on now (`2.3.0 → 2.3.1`), and what its source
/// offers that the run did not take.
pub(crate) fn summary(summary: &RunSummary, state_dir: &Path, layout: Layout) -> String {
    let mut rows = summary_rows(summary);
    let mut columns = vec![
        Column::keep("MODULE"),
        Column::keep("OUTCOME"),
        Column::keep("DURATION"),
        Column::keep("VERSION"),
        Column::new("DETAIL", Give::Detail),
    ];
    if summary.modules.iter().any(|m| m.upstream.is_some()) {
        columns.insert(4, Column::keep("UPSTREAM"));
        for (row, m) in rows.iter_mut().zip(&summary.modules) {
            row.insert(
                4,
                m.upstream
                    .as_deref()
                    .map_or_else(|| "-".to_owned(), upstream_cell),
            );
        }
    }
    let table = fit::fit(&columns, &rows, layout);
    let mut out = table.text;
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
    if table.cut {
        let whole = match summary.run_id {
            Some(_) => "`upkeep history --json` has them whole",
            None => "`--json` prints them whole",
        };
        let _ = writeln!(out, "details marked {ELLIPSIS} were cut to fit; {whole}");
    }
    for failed in &summary.modules {
        if let (Some(log), Outcome::Failed { tail, .. }) = (&failed.log_path, &failed.outcome) {
            let _ = writeln!(out, "\n{} failed; last lines of {log}:", failed.module);
            for line in tail.lines() {
                let _ = writeln!(out, "  {}", layout.detail(line, 2).0);
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

/// One row per module: name, outcome, duration, versions, detail.
fn summary_rows(summary: &RunSummary) -> Vec<Vec<String>> {
    summary
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
                    format_duration(Duration::from_millis(m.duration_ms()))
                } else {
                    "-".to_owned()
                },
                versions,
                m.outcome.detail().unwrap_or_default(),
            ]
        })
        .collect()
}

/// A summary's UPSTREAM cell: `2.3.0 → 2.3.1` when the run moved the module, `2.3.0` when
/// it did not, `(3.0.0 available)` after either when the source offers more; for a package
/// source, how many packages the run updated.
fn upstream_cell(upstream: &UpstreamChange) -> String {
    let UpstreamChange {
        before,
        after,
        available,
        packages_updated,
    } = upstream;
    if before.is_none() && after.is_none() && available.is_none() {
        return match packages_updated {
            0 => "-".to_owned(),
            &n => upkeep_core::message::count(n, "package updated", "packages updated"),
        };
    }
    let mut cell = if before == after {
        or_dash(after.as_deref())
    } else {
        format!(
            "{} → {}",
            or_dash(before.as_deref()),
            or_dash(after.as_deref())
        )
    };
    if let Some(available) = available {
        let _ = write!(cell, " ({available} available)");
    }
    cell
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
pub(crate) fn history(history: &History, layout: Layout) -> String {
    let mut out = String::new();
    let mut cut = false;
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
        if let Some(reason) = &run.reason {
            let (detail, shortened) = layout.detail(reason, 12);
            cut |= shortened;
            let _ = writeln!(out, "    reason: {detail}");
        }
        for m in &run.modules {
            cut |= history_module(&mut out, m, layout);
        }
        for e in &run.events {
            let mut line = "    ".to_owned();
            fit::pad(&mut line, &e.kind, 12);
            line.push(' ');
            fit::pad(&mut line, e.module.as_deref().unwrap_or("-"), 20);
            line.push(' ');
            let (detail, shortened) = layout.detail(&e.detail, fit::width(&line));
            cut |= shortened;
            line.push_str(&detail);
            line.push('\n');
            out.push_str(&line);
        }
    }
    let rows = stats_rows(history);
    out.push('\n');
    out.push_str(&table(
        &["MODULE", "RUNS", "SUCCESS", "MEAN DURATION"],
        &rows,
    ));
    audit(&history.audit, &mut out);
    if cut {
        let _ = writeln!(
            out,
            "\ndetails marked {ELLIPSIS} were cut to fit; `upkeep history --json` has them whole"
        );
    }
    out
}

/// One module's line under its run; whether its detail was cut.
fn history_module(out: &mut String, m: &HistoryModule, layout: Layout) -> bool {
    let took = m
        .duration_ms
        .map(|d| format_duration(Duration::from_millis(u64::try_from(d).unwrap_or(0))));
    out.push_str("  ");
    fit::pad(out, &m.module, 24);
    out.push(' ');
    fit::pad(out, m.outcome.as_str(), 18);
    out.push(' ');
    fit::pad_left(out, &or_dash(took.as_deref()), 8);
    out.push_str("  ");
    let (detail, cut) = layout.detail(m.detail.as_deref().unwrap_or(""), 56);
    out.push_str(&detail);
    out.push('\n');
    cut
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

/// `upkeep checksum --write`: per module what was approved (how many files, the whole
/// checksum, what it replaced) and, with `verbose`, every file it covers.
pub(crate) fn checksum_approved(report: &[ModuleChecksum], verbose: bool) -> String {
    let mut out = String::new();
    for m in report {
        let Some(files) = &m.approved_files else {
            let error = m.error.as_deref().unwrap_or("not approved");
            let _ = writeln!(out, "not approved {}: {error}", m.module);
            continue;
        };
        let what = if matches!(m.verdict, upkeep_core::checksum::Verdict::Written) {
            "approved"
        } else {
            "already approved"
        };
        let _ = writeln!(
            out,
            "{what} {}: {} ({} bytes), checksum {}",
            m.module,
            upkeep_core::message::count(m.files, "file", "files"),
            m.bytes,
            m.actual.as_deref().unwrap_or("-")
        );
        if let (Some(previous), true) = (
            &m.declared,
            matches!(m.verdict, upkeep_core::checksum::Verdict::Written),
        ) {
            let _ = writeln!(out, "  replaces {previous}");
        }
        if verbose {
            for f in files {
                let _ = writeln!(out, "  {} {}", f.kind.code(), f.path);
            }
        }
    }
    if !verbose && report.iter().any(|m| m.approved_files.is_some()) {
        let _ = writeln!(
            out,
            "\n`upkeep checksum --write -v` lists the files each checksum covers; `--json` adds their SHA-256"
        );
    }
    out
}

/// `upkeep checksum` results; the lists of changed files are cut to fit `layout`.
pub(crate) fn checksum_table(report: &[ModuleChecksum], layout: Layout) -> String {
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
    let columns = [
        Column::keep("MODULE"),
        Column::keep("VERDICT"),
        Column::keep("DECLARED"),
        Column::keep("ACTUAL"),
        Column::keep("FILES"),
        Column::new("DETAIL", Give::Detail),
    ];
    let mut table = fit::fit(&columns, &rows, layout);
    if table.cut {
        let _ = writeln!(
            table.text,
            "\nlists marked {ELLIPSIS} were cut to fit; `upkeep checksum --json` has them whole"
        );
    }
    table.text
}
