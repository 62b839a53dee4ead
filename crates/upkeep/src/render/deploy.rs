//! Tables for file deployments and scripts.

use std::fmt::Write;
use std::path::Path;

use upkeep_core::deploy::ledgered::Owned;
use upkeep_core::deploy::{Action, Applied, Plan, ScriptOutcome, ScriptRun};

use super::{table, timestamp};

fn shown(path: &Path, root: &Path) -> String {
    path.strip_prefix(root)
        .unwrap_or(path)
        .display()
        .to_string()
}

pub(crate) fn deploy_plan(plan: &Plan) -> String {
    if plan.files.is_empty() {
        return format!(
            "nothing to deploy: no ae_updater_* folder with files under {}\n",
            plan.root.display()
        );
    }
    let rows: Vec<Vec<String>> = plan
        .files
        .iter()
        .map(|f| {
            vec![
                f.action.to_string(),
                shown(&f.source, &plan.root),
                f.destination
                    .as_ref()
                    .map_or_else(|| "-".to_owned(), |d| d.display().to_string()),
            ]
        })
        .collect();
    let mut text = table(&["ACTION", "SOURCE", "DESTINATION"], &rows);
    let writes = plan.files.iter().filter(|f| f.action.writes()).count();
    let conflicts = plan
        .files
        .iter()
        .filter(|f| f.action == Action::Conflict)
        .count();
    let refused = plan
        .files
        .iter()
        .filter(|f| matches!(f.action, Action::Refused(_)))
        .count();
    let _ = writeln!(
        text,
        "{writes} to write, {conflicts} in conflict, {refused} refused, {} left alone",
        plan.files.len() - writes - conflicts - refused
    );
    text
}

pub(crate) fn deploy_applied(plan: &Plan, applied: &Applied) -> String {
    let mut text = String::new();
    for p in &applied.processed {
        let verb = if p.kind.moves() { "moved" } else { "copied" };
        let _ = writeln!(
            text,
            "{verb:<7} {} -> {} ({})",
            shown(&p.source, &plan.root),
            p.destination.display(),
            p.action
        );
    }
    for f in &applied.failed {
        let _ = writeln!(
            text,
            "FAILED  {}: {}",
            shown(&f.source, &plan.root),
            f.reason
        );
    }
    let mut conflicts = 0;
    let mut refused = 0;
    for s in &applied.skipped {
        match &s.action {
            Action::Conflict => {
                conflicts += 1;
                let _ = writeln!(
                    text,
                    "CONFLICT {}: {} (pass --force to overwrite it)",
                    s.destination.as_deref().unwrap_or(&s.source).display(),
                    s.action
                );
            }
            Action::Refused(reason) => {
                refused += 1;
                let _ = writeln!(text, "REFUSED {}: {reason}", shown(&s.source, &plan.root));
            }
            _ => {}
        }
    }
    let _ = writeln!(
        text,
        "{} processed, {} failed, {refused} refused, {conflicts} in conflict, {} left alone",
        applied.processed.len(),
        applied.failed.len(),
        applied.skipped.len() - refused - conflicts
    );
    text
}

pub(crate) fn scripts_run(runs: &[ScriptRun]) -> String {
    let mut text = String::new();
    for run in runs {
        match &run.outcome {
            ScriptOutcome::Succeeded => {
                let deleted = if run.deleted { ", deleted" } else { "" };
                let _ = writeln!(text, "ran     {} (ok{deleted})", run.script.name);
            }
            ScriptOutcome::Failed { reason, .. } => {
                let _ = writeln!(
                    text,
                    "FAILED  {}: {reason} (kept; log {})",
                    run.script.name,
                    run.log.display()
                );
            }
        }
    }
    text
}

pub(crate) fn owned_files(owned: &[Owned]) -> String {
    if owned.is_empty() {
        return "upkeep has deployed no files\n".to_owned();
    }
    let rows: Vec<Vec<String>> = owned
        .iter()
        .map(|o| {
            vec![
                o.record.destination.clone(),
                o.state.to_owned(),
                o.record.sha256[..12].to_owned(),
                o.record.source.clone(),
                timestamp(o.record.deployed_ms),
            ]
        })
        .collect();
    table(
        &["DESTINATION", "NOW", "SHA256", "SOURCE", "DEPLOYED"],
        &rows,
    )
}
