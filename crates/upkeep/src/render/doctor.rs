//! `upkeep doctor` as one screen: the manifest, the interpreter, each module's checksum,
//! then what to do.

use std::fmt::Write;

use upkeep_core::manifest::ManifestFormat;
use upkeep_core::ops::doctor::{DoctorReport, PythonCheck};

pub(crate) fn doctor(report: &DoctorReport) -> String {
    let mut out = String::new();
    let manifest = &report.manifest;
    let form = match manifest.format {
        ManifestFormat::SeedJson => "the seeds' manifest.json",
        ManifestFormat::NativeToml => "upkeep.toml",
    };
    let warnings = if manifest.warnings.is_empty() {
        String::new()
    } else {
        format!(
            "; {} above, which do not stop a run",
            upkeep_core::message::count(manifest.warnings.len(), "warning", "warnings")
        )
    };
    let _ = writeln!(
        out,
        "manifest  {} ({form}, {}{warnings})",
        manifest.path.display(),
        upkeep_core::message::count(manifest.modules, "module", "modules"),
    );
    if let Some(python) = &report.python {
        python_lines(&mut out, python);
    }
    modules(&mut out, report);
    for c in &report.children {
        let _ = writeln!(
            out,
            "children  `{}` runs its own children ({}), so upkeep does not start them: {}",
            c.module,
            c.reason,
            c.children.join(", ")
        );
        if let Some(fix) = &c.fix {
            let _ = writeln!(out, "          fix: {fix}");
        }
    }
    out.push('\n');
    if report.ready() {
        let _ = writeln!(
            out,
            "nothing stands in the way: `upkeep run` starts every module."
        );
    } else {
        let _ = writeln!(
            out,
            "{} in the way of a first good run; each is listed with its fix.",
            upkeep_core::message::count(report.problems, "problem stands", "problems stand"),
        );
    }
    out
}

fn python_lines(out: &mut String, python: &PythonCheck) {
    let shown = python
        .executable
        .clone()
        .or_else(|| python.found.as_ref().map(|p| p.display().to_string()))
        .unwrap_or_else(|| python.configured.display().to_string());
    let mut about = shown;
    if let Some(version) = &python.version {
        let _ = write!(about, ", Python {version}");
    }
    if let Some(venv) = &python.venv {
        let _ = write!(about, ", virtualenv {venv}");
    }
    let _ = write!(about, "; chosen by {}", python.chosen_by);
    let _ = writeln!(out, "python    {about}");
    if let Some(problem) = &python.problem {
        let _ = writeln!(out, "          problem: {problem}");
    }
    if let Some(fix) = &python.fix {
        let _ = writeln!(out, "          fix: {fix}");
    }
    if let Some(note) = &python.note {
        let _ = writeln!(out, "          note: {note}");
    }
}

fn modules(out: &mut String, report: &DoctorReport) {
    let refused: Vec<&str> = report
        .modules
        .iter()
        .filter(|m| m.refused.is_some())
        .map(|m| m.module.as_str())
        .collect();
    let _ = writeln!(
        out,
        "modules   {} with a folder a run starts: {} approved, {} refused by the checksum check",
        report.modules.len(),
        report.modules.len() - refused.len(),
        refused.len()
    );
    let width = report
        .modules
        .iter()
        .map(|m| m.module.chars().count())
        .max()
        .unwrap_or(0);
    for m in &report.modules {
        match (&m.refused, &m.approved) {
            (Some(refusal), _) => {
                let _ = writeln!(
                    out,
                    "  refused   {:width$}  {}",
                    m.module,
                    super::refusal_detail(refusal)
                );
                let _ = writeln!(
                    out,
                    "  {:width$}            fix: review {}/, then `{}`",
                    "",
                    m.dir.display(),
                    refusal.fix
                );
            }
            (None, approved) => {
                let short: String = approved
                    .as_deref()
                    .unwrap_or("-")
                    .chars()
                    .take(12)
                    .collect();
                let _ = writeln!(out, "  ok        {:width$}  approved {short}", m.module);
            }
        }
    }
    if refused.len() > 1 {
        let _ = writeln!(
            out,
            "  all at once, after reviewing every folder: `{} checksum --write {}`",
            report.command,
            refused.join(" ")
        );
    }
}
