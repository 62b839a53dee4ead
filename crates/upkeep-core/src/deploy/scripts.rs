//! The pre-run script, the one-time update script and the `once/` scripts: finding them,
//! deciding which are due, running them through [`crate::exec`].

use std::collections::HashSet;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Serialize;

/// ae.updater's pre-app-run script (`PRE_APP_MODULE_NAME` + `.py`): run every time.
pub const PRE_RUN_SCRIPT: &str = "ae_pre_app_run.py";
/// ae.updater's one-time update script (`UPDATER_MODULE_NAME` + `.py`).
pub const UPDATER_SCRIPT: &str = "ae_updater.py";
/// upkeep's directory of one-time scripts in any language.
pub const ONCE_DIR: &str = "once";

/// What a script is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ScriptKind {
    /// `ae_pre_app_run.py`: `run_updater()` on every run.
    PreRun,
    /// `ae_updater.py`: `run_updater()` once per checksum.
    Updater,
    /// An executable in `once/`: run once per checksum.
    Once,
}

/// A script found under the root.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Script {
    /// Its key in the record of scripts run: the file name, `once/<name>` for `once/`.
    pub name: String,
    /// Its path.
    pub path: PathBuf,
    /// SHA-256 of its content.
    pub sha256: String,
    /// What it is.
    pub kind: ScriptKind,
}

/// The scripts under a root.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Scripts {
    /// `ae_pre_app_run.py`.
    pub pre_run: Option<Script>,
    /// `ae_updater.py`.
    pub updater: Option<Script>,
    /// The executables in `once/`, in name order.
    pub once: Vec<Script>,
    /// Files in `once/` that are not run, with the reason.
    pub ignored: Vec<(PathBuf, String)>,
}

impl Scripts {
    /// The scripts to run now, in order: the pre-run script (always), then the one-time
    /// script and the `once/` scripts whose `(name, sha256)` is not in `already_run`.
    pub fn due(&self, already_run: &HashSet<(String, String)>) -> Vec<&Script> {
        let fresh = |s: &&Script| !already_run.contains(&(s.name.clone(), s.sha256.clone()));
        self.pre_run
            .iter()
            .chain(self.updater.iter().filter(fresh))
            .chain(self.once.iter().filter(fresh))
            .collect()
    }
}

/// Find the scripts under `root`: two `stat`s and one directory listing when none exist.
///
/// # Errors
/// A script that exists cannot be read, or `once/` cannot be listed.
pub fn discover(root: &Path) -> std::io::Result<Scripts> {
    let mut scripts = Scripts {
        pre_run: python_script(root, PRE_RUN_SCRIPT, ScriptKind::PreRun)?,
        updater: python_script(root, UPDATER_SCRIPT, ScriptKind::Updater)?,
        ..Scripts::default()
    };
    let entries = match fs_err::read_dir(root.join(ONCE_DIR)) {
        Ok(entries) => entries,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(scripts),
        Err(err) => return Err(err),
    };
    let mut entries = entries.collect::<Result<Vec<_>, _>>()?;
    entries.sort_by_key(fs_err::DirEntry::file_name);
    for entry in entries {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') {
            continue;
        }
        let meta = fs_err::symlink_metadata(entry.path())?;
        let problem = if !meta.is_file() {
            Some("not a regular file")
        } else if meta.permissions().mode() & 0o111 == 0 {
            Some("not executable")
        } else {
            None
        };
        if let Some(problem) = problem {
            scripts.ignored.push((entry.path(), problem.to_owned()));
            continue;
        }
        scripts.once.push(Script {
            name: format!("{ONCE_DIR}/{name}"),
            sha256: sha256_file(&entry.path())?,
            path: entry.path(),
            kind: ScriptKind::Once,
        });
    }
    Ok(scripts)
}

fn python_script(root: &Path, name: &str, kind: ScriptKind) -> std::io::Result<Option<Script>> {
    let path = root.join(name);
    match fs_err::symlink_metadata(&path) {
        Ok(meta) if meta.is_file() => Ok(Some(Script {
            name: name.to_owned(),
            sha256: sha256_file(&path)?,
            path,
            kind,
        })),
        Ok(_) => Ok(None),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(err) => Err(err),
    }
}

pub(crate) fn sha256_file(path: &Path) -> std::io::Result<String> {
    let (fd, _) = super::safe_fs::open_source(path).map_err(std::io::Error::other)?;
    super::safe_fs::stream(&fd, None)
        .map(|(sha, _)| sha)
        .map_err(std::io::Error::other)
}

/// How scripts run.
#[derive(Debug, Clone)]
pub struct ScriptOptions {
    /// Python interpreter for the `.py` scripts (default: `venv/bin/python` beside the
    /// scripts, else `python3`).
    pub python: Option<PathBuf>,
    /// Where each script's output is written (`<name>.log`).
    pub log_dir: PathBuf,
    /// Kill a script after this long.
    pub timeout: Option<Duration>,
    /// Keep one-time scripts after success (they are then never run again with the same
    /// checksum, given the record of scripts run). Default: delete, as ae.updater does.
    pub keep_after_success: bool,
    /// Variables every script gets: a `files` module's `UPKEEP_*` variables in a run
    /// (`crate::module_env`), none for `upkeep prerun`.
    pub env: Vec<(String, std::ffi::OsString)>,
}

impl Default for ScriptOptions {
    fn default() -> Self {
        Self {
            python: None,
            log_dir: dirs::cache_dir()
                .unwrap_or_else(std::env::temp_dir)
                .join("upkeep")
                .join("script-logs"),
            timeout: None,
            keep_after_success: false,
            env: Vec::new(),
        }
    }
}

/// How a script ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "kebab-case")]
pub enum ScriptOutcome {
    /// It exited with 0 (and a one-time `run_updater()` returned a true value).
    Succeeded,
    /// It failed; a one-time script is kept and runs again next time.
    Failed {
        /// Why.
        reason: String,
        /// The end of its output.
        tail: String,
    },
}

/// A script that ran.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ScriptRun {
    /// The script.
    pub script: Script,
    /// How it ended.
    pub outcome: ScriptOutcome,
    /// Whether it was deleted afterwards.
    pub deleted: bool,
    /// Its log file.
    pub log: PathBuf,
}

impl ScriptRun {
    /// Whether it succeeded (what a caller records as run, with name and checksum).
    pub fn succeeded(&self) -> bool {
        self.outcome == ScriptOutcome::Succeeded
    }
}

/// Run one script in `root` (its working directory) and, after a one-time script's
/// success, delete it unless `keep_after_success`. The script is hashed again right before
/// it starts and refused if it changed since it was discovered.
pub fn run(root: &Path, script: &Script, options: &ScriptOptions) -> ScriptRun {
    let log = options
        .log_dir
        .join(format!("{}.log", script.name.replace('/', "_")));
    let failed = |reason: String, tail: String| ScriptOutcome::Failed { reason, tail };
    let outcome = match sha256_file(&script.path) {
        Err(err) => failed(format!("read the script: {err}"), String::new()),
        Ok(sha) if sha != script.sha256 => failed(
            "the script changed since it was discovered".into(),
            String::new(),
        ),
        Ok(_) => {
            let finished = crate::exec::run_blocking(&invocation(root, script, options, &log));
            if finished.exit.success() {
                ScriptOutcome::Succeeded
            } else {
                failed(describe(&finished.exit), finished.tail)
            }
        }
    };
    let one_time = script.kind != ScriptKind::PreRun;
    let deleted = one_time
        && outcome == ScriptOutcome::Succeeded
        && !options.keep_after_success
        && fs_err::remove_file(&script.path).is_ok();
    ScriptRun {
        script: script.clone(),
        outcome,
        deleted,
        log,
    }
}

fn invocation(
    root: &Path,
    script: &Script,
    options: &ScriptOptions,
    log: &Path,
) -> crate::exec::Invocation {
    let argv = if script.kind == ScriptKind::Once {
        vec![script.path.as_os_str().to_owned()]
    } else {
        let python = options
            .python
            .clone()
            .unwrap_or_else(|| crate::exec::python::configured_interpreter(root, None));
        crate::exec::run_updater_argv(&python, &script.path, script.kind == ScriptKind::Updater)
    };
    crate::exec::Invocation {
        argv,
        env: options.env.clone(),
        cwd: root.to_path_buf(),
        log_path: log.to_path_buf(),
        stream: None,
        timeout: options.timeout,
        grace: Duration::from_secs(5),
        display: Some(format!(
            "{} ({})",
            script.name,
            script.sha256.get(..12).unwrap_or("")
        )),
        log_made: false,
        log_cap: Some(crate::exec::DEFAULT_LOG_CAP),
    }
}

fn describe(exit: &crate::exec::Exit) -> String {
    use crate::exec::Exit;
    match exit {
        Exit::Code(code) => format!("exited with code {code}"),
        Exit::Signal(signal) => format!("killed by signal {signal}"),
        Exit::TimedOut => "timed out".into(),
        Exit::Cancelled => "cancelled".into(),
        Exit::SpawnFailed(message) => format!("could not start: {message}"),
    }
}
