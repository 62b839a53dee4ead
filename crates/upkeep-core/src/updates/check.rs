//! Asking a module's source what it offers ([`check`]), and asking many at once
//! ([`check_modules`]): a bounded pool of threads, one source failing never stopping the
//! others.
//!
//! Every process goes through [`crate::exec::capture`] (no shell unless the manifest
//! writes a command string, no standard input, killed at the source's timeout). Every
//! error message has the secrets of any URL in it replaced by `***`
//! ([`crate::text::redact`]), since messages end up in the ledger and in reports.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use super::{Finding, Source, SourceKind, UpdateType, apt, command, git, http, pip};
use crate::duration::format_duration;
use crate::manifest::ModuleSpec;
use crate::text::redact;

/// Sources asked at once at most: checks mostly wait on the network or on a child.
pub const MAX_PARALLEL_CHECKS: usize = 8;

/// Why a source could not be asked. Messages read after "failed to check ...:".
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CheckError {
    /// The program could not be started.
    #[error("start `{command}`: {message}")]
    Start {
        /// The command line.
        command: String,
        /// Why.
        message: String,
    },
    /// It ran longer than the source's timeout and was killed.
    #[error("`{command}` took longer than {} and was stopped", format_duration(*timeout))]
    TimedOut {
        /// The command line.
        command: String,
        /// The source's timeout.
        timeout: Duration,
    },
    /// It ended unsuccessfully.
    #[error("`{command}` {status}{}", stderr_suffix(stderr))]
    Failed {
        /// The command line.
        command: String,
        /// "exited with code 2", "was killed by a signal".
        status: String,
        /// The last lines of its standard error.
        stderr: String,
    },
    /// The HTTP request failed or was answered with an error.
    #[error("fetch {url}: {message}")]
    Http {
        /// The URL, secrets hidden.
        url: String,
        /// What went wrong.
        message: String,
    },
    /// The answer could not be understood.
    #[error("read what {what} said: {message}")]
    Unreadable {
        /// The command line or URL.
        what: String,
        /// What is wrong with it.
        message: String,
    },
    /// A command source would run from a module folder whose files are not approved.
    #[error(
        "files of `{module}` {problem}; the check command was not run (approve them with `upkeep checksum --write {module}` after reviewing them)"
    )]
    Integrity {
        /// The module.
        module: String,
        /// "have no recorded checksum", "do not match their checksum", ...
        problem: String,
    },
    /// A pip source's virtualenv has no Python.
    #[error("find the virtualenv's Python: {} does not exist", python.display())]
    NoVenv {
        /// The interpreter looked for.
        python: PathBuf,
    },
}

fn stderr_suffix(stderr: &str) -> String {
    if stderr.is_empty() {
        String::new()
    } else {
        format!(": {stderr}")
    }
}

/// One module's source asked.
#[derive(Debug, Clone)]
pub struct ModuleCheck {
    /// The module.
    pub module: String,
    /// Its source's kind (`git`, `http`, ...).
    pub source: &'static str,
    /// Its update type.
    pub update_type: UpdateType,
    /// When the check ended (ms since the epoch).
    pub checked_ms: i64,
    /// What the source offered, or why asking failed.
    pub result: Result<Finding, CheckError>,
}

/// Ask `source`, the source of `module` in the manifest at `root`, what it offers, within
/// the source's timeout.
///
/// Processes start in the module's folder (when it has one, else `root`); git URLs and
/// virtualenvs that are paths are relative to `root`.
///
/// # Errors
/// [`CheckError`] when the source cannot be asked or its answer cannot be read.
pub fn check(
    source: &Source,
    module: &ModuleSpec,
    root: &Path,
    state_dir: &Path,
) -> Result<Finding, CheckError> {
    ask(source, module, root, state_dir).map(Finding::normalized)
}

/// [`check`] before the answer is normalised.
fn ask(
    source: &Source,
    module: &ModuleSpec,
    root: &Path,
    state_dir: &Path,
) -> Result<Finding, CheckError> {
    let timeout = source.timeout;
    match &source.kind {
        SourceKind::Command { argv } => {
            if let Some(dir) = module.dir.as_deref() {
                verify_code(module, dir)?;
            }
            // The module's own code: it sees the module as its process and health checks do.
            let env = crate::module_env::variables(&crate::module_env::ModuleContext {
                spec: module,
                manifest_root: root,
                state_dir,
                run_id: None,
                action: "check",
                version: module.version.as_ref().map(ToString::to_string),
                old_version: None,
                update: None,
            });
            let cwd = module.dir.as_deref().unwrap_or(root);
            command::check(argv, cwd, &env, timeout)
        }
        SourceKind::Git { url, tag_pattern } => git::check(url, tag_pattern, root, timeout),
        SourceKind::Http { url } => http::check(url, timeout),
        SourceKind::Pip { venv, args } => {
            let python = pip::python(venv.as_deref(), module.dir.as_deref(), root);
            pip::check(&python, args, root, timeout)
        }
        SourceKind::Apt { packages } => apt::check(packages, root, timeout),
    }
}

/// A command source runs in its module's folder, often a script there: the folder must
/// match its approved checksum, as before the module itself runs.
fn verify_code(module: &ModuleSpec, dir: &Path) -> Result<(), CheckError> {
    let refuse = |problem: String| CheckError::Integrity {
        module: module.name.clone(),
        problem,
    };
    let expected = module
        .declared_checksum()
        .ok_or_else(|| refuse("have no recorded checksum".to_owned()))?;
    match crate::integrity::digest_dir(dir) {
        Ok(digest) if digest.checksum == expected => Ok(()),
        Ok(_) => Err(refuse("do not match their checksum".to_owned())),
        Err(err) => Err(refuse(format!("could not be hashed ({err})"))),
    }
}

/// Ask the source of every module in `modules` that has one, at most
/// [`MAX_PARALLEL_CHECKS`] at a time; results in the order of `modules`.
pub fn check_modules(root: &Path, state_dir: &Path, modules: &[&ModuleSpec]) -> Vec<ModuleCheck> {
    let jobs: Vec<(&ModuleSpec, &Source)> = modules
        .iter()
        .filter_map(|m| m.source.as_ref().map(|s| (*m, s)))
        .collect();
    let results: Vec<Mutex<Option<ModuleCheck>>> = jobs.iter().map(|_| Mutex::new(None)).collect();
    let next = AtomicUsize::new(0);
    let workers = jobs.len().clamp(1, MAX_PARALLEL_CHECKS);
    std::thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| {
                loop {
                    let index = next.fetch_add(1, Ordering::Relaxed);
                    let Some((module, source)) = jobs.get(index) else {
                        break;
                    };
                    let result = check(source, module, root, state_dir);
                    let done = ModuleCheck {
                        module: module.name.clone(),
                        source: source.kind.name(),
                        update_type: source.update_type,
                        checked_ms: crate::state::now_ms(),
                        result,
                    };
                    if let Ok(mut slot) = results[index].lock() {
                        *slot = Some(done);
                    }
                }
            });
        }
    });
    results
        .into_iter()
        .filter_map(|slot| slot.into_inner().ok().flatten())
        .collect()
}

/// Run a helper to completion and return its standard output; a failure, a timeout or an
/// unsuccessful exit is an error naming the command (URLs redacted) and its stderr's end.
pub(super) fn run(argv: &[&str], cwd: &Path, timeout: Duration) -> Result<String, CheckError> {
    run_with(argv, cwd, &[], timeout)
}

/// [`run`] with `env` added to the command's environment.
pub(super) fn run_with(
    argv: &[&str],
    cwd: &Path,
    env: &[(String, std::ffi::OsString)],
    timeout: Duration,
) -> Result<String, CheckError> {
    let shown = shown(argv);
    // `UPKEEP_LOG=debug upkeep check` shows every command a check starts, secrets hidden
    // as in its error messages: the way to see what a source really runs.
    tracing::debug!(command = %shown, cwd = %cwd.display(), "update check: starting");
    let started = Instant::now();
    let out =
        crate::exec::capture_users(argv, cwd, env, timeout).map_err(|err| CheckError::Start {
            command: shown.clone(),
            message: redact_urls(&err.to_string()),
        })?;
    tracing::debug!(command = %shown, code = ?out.code, elapsed = ?started.elapsed(), "update check: ended");
    if out.success() {
        return Ok(out.stdout);
    }
    if out.code.is_none() && started.elapsed() >= timeout {
        return Err(CheckError::TimedOut {
            command: shown,
            timeout,
        });
    }
    let status = out.code.map_or_else(
        || "was killed by a signal".to_owned(),
        |code| format!("exited with code {code}"),
    );
    Err(CheckError::Failed {
        command: shown,
        status,
        stderr: redact_urls(&tail(&out.stderr)),
    })
}

/// A command line for messages: shell-quoted, URLs redacted.
pub(super) fn shown(argv: &[&str]) -> String {
    let argv: Vec<OsString> = argv.iter().map(OsString::from).collect();
    redact_urls(&crate::exec::command_line(&argv))
}

/// The last few lines of a child's stderr, for an error message.
fn tail(stderr: &str) -> String {
    const LINES: usize = 5;
    const CHARS: usize = 600;
    let lines: Vec<&str> = stderr
        .lines()
        .map(str::trim_end)
        .filter(|l| !l.trim().is_empty())
        .collect();
    let text = lines[lines.len().saturating_sub(LINES)..].join(" / ");
    if text.chars().count() > CHARS {
        let kept: String = text.chars().take(CHARS).collect();
        format!("{kept}…")
    } else {
        text
    }
}

/// `text` with every URL in it (`scheme://...` up to whitespace or a quote) redacted.
pub(crate) fn redact_urls(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("://") {
        let scheme = |c: char| c.is_ascii_alphanumeric() || matches!(c, '+' | '.' | '-');
        let start = rest[..at]
            .char_indices()
            .rev()
            .find(|(_, c)| !scheme(*c))
            .map_or(0, |(i, c)| i + c.len_utf8());
        let end = rest[at..]
            .find(|c: char| c.is_whitespace() || matches!(c, '\'' | '"' | '<' | '>' | '`'))
            .map_or(rest.len(), |i| at + i);
        out.push_str(&rest[..start]);
        out.push_str(&redact(&rest[start..end]));
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_in_messages_lose_their_secrets() {
        let text = "fatal: unable to access 'https://bot:s3cr3t@git.example.org/x.git/': 403 \
                    and https://feed.example.org/r.json?token=abc&page=2 too";
        let shown = redact_urls(text);
        assert!(
            !shown.contains("s3cr3t") && !shown.contains("abc"),
            "{shown}"
        );
        assert!(
            shown.contains("'https://bot:***@git.example.org/x.git/'"),
            "{shown}"
        );
        assert!(shown.contains("token=***&page=2 too"), "{shown}");
        assert_eq!(redact_urls("no url here: é"), "no url here: é");
    }

    #[test]
    fn an_exit_names_the_command_and_the_end_of_stderr() {
        let err = run(
            &[
                "sh",
                "-c",
                "echo one >&2; echo two >&2; exit 3",
                "https://u:pw@h/",
            ],
            Path::new("/"),
            Duration::from_secs(20),
        )
        .unwrap_err();
        let text = err.to_string();
        assert!(text.contains("exited with code 3: one / two"), "{text}");
        assert!(
            text.contains("https://u:***@h/") && !text.contains("pw"),
            "{text}"
        );
        let missing = run(
            &["/nonexistent/upkeep-x"],
            Path::new("/"),
            Duration::from_secs(20),
        );
        assert!(
            matches!(missing, Err(CheckError::Start { .. })),
            "{missing:?}"
        );
    }
}
