//! `upkeep doctor`: everything that stands between an updates directory and a first good
//! run, each with the command that fixes it. It reads the manifest, asks the interpreter a
//! run would use who it is, and applies the run's own integrity gate
//! ([`crate::checksum::gate`], through [`crate::plan::Plan::gate`]) to every module a
//! forced first run would start; it writes nothing.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::{Context, Error};
use crate::checksum::Refusal;
use crate::manifest::{Diagnostic, Manifest, ManifestFormat, ModuleKind};
use crate::plan::{self, PlanOptions};

/// How long the interpreter may take to say who it is.
const PYTHON_PROBE_BOUND: Duration = Duration::from_secs(10);

/// What `upkeep doctor` found.
#[derive(Debug, Clone, serde::Serialize)]
pub struct DoctorReport {
    /// The manifest, its form and its warnings.
    pub manifest: ManifestCheck,
    /// The interpreter Python modules will run with; `None` when no module is Python.
    pub python: Option<PythonCheck>,
    /// Every module with a folder that a first run would start, in run order, with the
    /// integrity gate's verdict.
    pub modules: Vec<ModuleCheck>,
    /// Modules that invoke their own children (as the seeds tell them to), so a run does
    /// not start those children a second time: the rule `plan` shows, with what decided it.
    /// Not a problem; when the rule was read from the code rather than written in the
    /// manifest, `fix` says how to write it down.
    pub children: Vec<SelfRunChildren>,
    /// How many problems stand in the way; 0 means a run can start everything.
    pub problems: usize,
    /// How the fix commands start: `upkeep`, with `--manifest PATH` when the manifest is
    /// not the one upkeep finds by itself in the current directory, so each fix works
    /// where it is pasted.
    pub command: String,
}

/// The manifest as loaded.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ManifestCheck {
    /// Its path.
    pub path: PathBuf,
    /// Its form: the seeds' `manifest.json` or `upkeep.toml`.
    pub format: ManifestFormat,
    /// How many modules it declares.
    pub modules: usize,
    /// What loading it found worth saying (keys of the user's own); warnings do not stop a
    /// run and count no problem.
    pub warnings: Vec<Diagnostic>,
}

/// The Python interpreter a run will use.
#[derive(Debug, Clone, serde::Serialize)]
pub struct PythonCheck {
    /// What the manifest asks for, before `PATH` is searched.
    pub configured: PathBuf,
    /// Why that one: the manifest's `python`, `venv/` beside the manifest, or `python3` on
    /// `PATH`.
    pub chosen_by: &'static str,
    /// The program found, if any.
    pub found: Option<PathBuf>,
    /// `sys.executable` as the interpreter reports it, when it ran.
    pub executable: Option<String>,
    /// Its version, when it ran.
    pub version: Option<String>,
    /// The virtualenv it runs in (`sys.prefix` when it differs from `sys.base_prefix`).
    pub venv: Option<String>,
    /// What is wrong, if it does not run.
    pub problem: Option<String>,
    /// What to do about it.
    pub fix: Option<String>,
    /// A note that is no problem (no virtualenv where the seeds keep one).
    pub note: Option<String>,
}

/// One module's folder and the integrity gate's verdict on it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ModuleCheck {
    /// The module.
    pub module: String,
    /// Its folder.
    pub dir: PathBuf,
    /// The checksum it would run with, when the gate lets it run.
    pub approved: Option<String>,
    /// The gate's refusal (what is wrong, what was found, the fix), when it would refuse it.
    pub refused: Option<Refusal>,
}

/// A module that runs its own children (see [`DoctorReport::children`]).
#[derive(Debug, Clone, serde::Serialize)]
pub struct SelfRunChildren {
    /// The module.
    pub module: String,
    /// The children it runs itself.
    pub children: Vec<String>,
    /// What decided it, e.g. "updates/web/index.py:4 mentions `children`".
    pub reason: String,
    /// How to state the rule in the manifest, when it was read from the code.
    pub fix: Option<String>,
}

impl DoctorReport {
    /// Whether nothing stands in the way of a first good run.
    pub fn ready(&self) -> bool {
        self.problems == 0
    }

    /// The exit code the first run would end with because of what was found, so that no
    /// new code is needed and a script reads `doctor` as it reads `run`: 0 when nothing
    /// stands in the way; [`crate::exit_codes::INTEGRITY_REFUSED`] when the checksum check
    /// would refuse a module (it wins, as it does for a run); else
    /// [`crate::exit_codes::MODULES_FAILED`] when the Python modules could not start.
    pub fn exit_code(&self) -> i32 {
        if self.modules.iter().any(|m| m.refused.is_some()) {
            crate::exit_codes::INTEGRITY_REFUSED
        } else if self.problems > 0 {
            crate::exit_codes::MODULES_FAILED
        } else {
            crate::exit_codes::OK
        }
    }
}

/// Look at the manifest's updates directory as a first run would.
///
/// # Errors
/// The manifest (missing, unreadable or invalid, with every diagnostic), or the ledger.
pub fn doctor(ctx: &Context) -> Result<DoctorReport, Error> {
    let manifest = ctx.manifest()?;
    let ledger = ctx.existing_ledger()?;
    // A forced plan from no state: every module a first run would start, in its order.
    let options = PlanOptions {
        force: true,
        ..PlanOptions::default()
    };
    let mut plan = plan::plan(&manifest, &HashMap::new(), &options)?;
    let approved = |module: &str, checksum: &str| {
        ledger
            .as_ref()
            .and_then(|l| l.recorded_files(module, checksum).ok().flatten())
    };
    plan.gate(&manifest, super::query::hashing_threads(), &approved);
    let command = upkeep_command(&manifest.path);
    let modules: Vec<ModuleCheck> = plan
        .steps
        .iter()
        .filter(|s| s.action.runs())
        .filter_map(|s| {
            let dir = manifest.modules[s.module_index].dir.clone()?;
            Some(ModuleCheck {
                module: s.name.clone(),
                dir,
                approved: s.refused.is_none().then(|| s.checksum.clone()).flatten(),
                refused: s.refused.clone().map(|mut refusal| {
                    if let Some(rest) = refusal.fix.strip_prefix("upkeep") {
                        refusal.fix = format!("{command}{rest}");
                    }
                    refusal
                }),
            })
        })
        .collect();
    let runs_python = plan.steps.iter().any(|s| {
        s.action.runs() && manifest.modules[s.module_index].kind.label() == ModuleKind::PYTHON
    });
    let python = runs_python.then(|| python(&manifest));
    let problems = modules.iter().filter(|m| m.refused.is_some()).count()
        + usize::from(python.as_ref().is_some_and(|p| p.problem.is_some()));
    Ok(DoctorReport {
        manifest: ManifestCheck {
            path: manifest.path.clone(),
            format: manifest.format,
            modules: manifest.modules.len(),
            warnings: manifest.warnings.clone(),
        },
        python,
        modules,
        children: self_run_children(&manifest),
        problems,
        command,
    })
}

/// The modules whose own code runs their children, from the rule `plan` uses.
fn self_run_children(manifest: &crate::manifest::Manifest) -> Vec<SelfRunChildren> {
    use crate::manifest::{ChildrenRunner, ManifestFormat, RuleOrigin};
    manifest
        .modules
        .iter()
        .filter_map(|spec| {
            let rule = spec.children_runner()?;
            if rule.value != ChildrenRunner::Parent {
                return None;
            }
            let written = matches!(rule.origin, RuleOrigin::Module | RuleOrigin::ManifestDefault);
            let fix = (!written).then(|| match manifest.format {
                ManifestFormat::SeedJson => format!(
                    "to state it, add \"runsChildren\": true to `{}` in {} (false lets upkeep run them)",
                    spec.name,
                    manifest.path.display()
                ),
                ManifestFormat::NativeToml => format!(
                    "to state it, add runs_children = true to `{}` in {} (false lets upkeep run them)",
                    spec.name,
                    manifest.path.display()
                ),
            });
            Some(SelfRunChildren {
                module: spec.name.clone(),
                children: spec.children.clone(),
                reason: rule.origin.describe(),
                fix,
            })
        })
        .collect()
}

/// `upkeep`, with `--manifest PATH` unless `manifest` is the one upkeep finds by itself in
/// the current directory.
fn upkeep_command(manifest: &Path) -> String {
    let found = crate::manifest::locate(None)
        .ok()
        .and_then(|p| std::path::absolute(p).ok());
    if found.as_deref() == Some(manifest) {
        return "upkeep".to_owned();
    }
    format!(
        "upkeep --manifest {}",
        shell_quote(&manifest.to_string_lossy())
    )
}

/// `text` as one shell word: as is when it needs no quoting, else in single quotes.
fn shell_quote(text: &str) -> String {
    let plain = text
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"/._-+=:,@".contains(&b));
    if plain && !text.is_empty() {
        text.to_owned()
    } else {
        format!("'{}'", text.replace('\'', "'\\''"))
    }
}

/// The interpreter a run would pick (the run's own rule,
/// [`crate::exec::python::configured_interpreter`]), and whether it starts.
fn python(manifest: &Manifest) -> PythonCheck {
    let root = &manifest.root;
    let configured = crate::exec::python::configured_interpreter(root, manifest.python.as_deref());
    let venv_python = root.join("venv").join("bin").join("python");
    let chosen_by = if manifest.python.is_some() {
        "the manifest's `python`"
    } else if configured == venv_python {
        "`venv/` beside the manifest"
    } else {
        "`python3` on PATH, as no `venv/` is beside the manifest"
    };
    let mut check = PythonCheck {
        found: crate::exec::python::which(&configured),
        configured,
        chosen_by,
        executable: None,
        version: None,
        venv: None,
        problem: None,
        fix: None,
        note: None,
    };
    let Some(found) = check.found.clone() else {
        check.problem = Some(format!(
            "`{}` is not found on PATH",
            check.configured.display()
        ));
        check.fix = Some(
            "install python3, or set `python` in the manifest to the interpreter to use".to_owned(),
        );
        return check;
    };
    probe(&mut check, &found, root);
    if check.problem.is_none()
        && manifest.python.is_none()
        && root.join("venv").is_dir()
        && !venv_python.exists()
    {
        // `venv/` is there but its interpreter is not (a virtualenv made by another Python
        // that was since removed): a run falls back to `python3` without the modules'
        // dependencies, which fails far from the cause.
        check.problem = Some(format!(
            "`{}` exists but has no working `bin/python`; modules would run with `python3` from PATH instead",
            root.join("venv").display()
        ));
        check.fix = Some(format!(
            "recreate it: `python3 -m venv --clear {}` (then install the modules' requirements into it)",
            root.join("venv").display()
        ));
    }
    if check.problem.is_none() && check.venv.is_none() && manifest.python.is_none() {
        check.note = Some(venv_note(root));
    }
    check
}

/// Ask the interpreter who it is, as a run would start it (in the manifest's directory).
fn probe(check: &mut PythonCheck, found: &Path, root: &Path) {
    const ASK: &str = "import sys; print(sys.executable); print(sys.version.split()[0]); print(sys.prefix if sys.prefix != sys.base_prefix else '')";
    let program = found.to_string_lossy();
    match crate::exec::capture(&[&program, "-c", ASK], root, PYTHON_PROBE_BOUND) {
        Ok(out) if out.success() => {
            let mut lines = out.stdout.lines().map(str::to_owned);
            check.executable = lines.next();
            check.version = lines.next();
            check.venv = lines.next().filter(|l| !l.is_empty());
        }
        Ok(out) => {
            let said = out.stderr.lines().last().unwrap_or("no message").to_owned();
            check.problem = Some(format!("`{program}` does not run: {said}"));
            check.fix = Some(format!(
                "repair the interpreter (e.g. recreate the virtualenv: `python3 -m venv --clear {}`)",
                root.join("venv").display()
            ));
        }
        Err(err) => {
            check.problem = Some(format!("`{program}` could not be started: {err}"));
            check.fix = Some(
                "make it an executable Python interpreter, or set `python` in the manifest"
                    .to_owned(),
            );
        }
    }
}

/// What to say when modules will run with a system interpreter where the seeds keep a
/// virtualenv.
fn venv_note(root: &Path) -> String {
    let venv = root.join("venv");
    let requirements = root.join("requirements.txt");
    if requirements.is_file() {
        format!(
            "modules run without a virtualenv; the seeds keep one: `python3 -m venv {} && {}/bin/pip install -r {}`",
            venv.display(),
            venv.display(),
            requirements.display()
        )
    } else {
        format!(
            "modules run without a virtualenv; `python3 -m venv {}` makes one that upkeep uses",
            venv.display()
        )
    }
}
