//! What to run and how it ended ([`Invocation`], [`Exit`], [`Finished`]), and the module
//! log every process writes to: its first line, how it is opened, and its last lines.

use std::ffi::OsString;
use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// Which stream a line of output came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Stream {
    /// Standard output.
    Stdout,
    /// Standard error.
    Stderr,
}

/// The log cap of a process whose caller has no setting for it: update-source commands,
/// notification commands, one-time and pre-run scripts.
pub const DEFAULT_LOG_CAP: u64 = 64 * 1024 * 1024;

/// Receives output lines when a module's output is streamed.
pub type LineSink = Arc<dyn Fn(Stream, &str) + Send + Sync>;

/// A process to run.
#[derive(Clone)]
pub struct Invocation {
    /// Program and arguments.
    pub argv: Vec<OsString>,
    /// Extra environment variables.
    pub env: Vec<(String, OsString)>,
    /// Working directory.
    pub cwd: PathBuf,
    /// Where stdout and stderr are written.
    pub log_path: PathBuf,
    /// Also hand every output line to this sink.
    pub stream: Option<LineSink>,
    /// Kill the process group after this long.
    pub timeout: Option<Duration>,
    /// Time between SIGTERM and SIGKILL.
    pub grace: Duration,
    /// What the log's first line shows instead of the full argv (e.g. for the Python
    /// bootstrap, which is long and the same for every module).
    pub display: Option<String>,
    /// `log_path` exists with its first line ([`log_header`]) written (the caller made it
    /// ahead): [`run`](super::run) only opens it for appending. Otherwise it creates the file and
    /// writes that line.
    pub log_made: bool,
    /// The most bytes its log keeps (its start and its end, with a marker between for what
    /// was dropped); `None` keeps everything.
    pub log_cap: Option<u64>,
}

impl std::fmt::Debug for Invocation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Invocation")
            .field("argv", &self.argv)
            .field("cwd", &self.cwd)
            .field("log_path", &self.log_path)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

/// How a process ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Exit {
    /// It exited with this code.
    Code(i32),
    /// A signal it did not ask for ended it.
    Signal(i32),
    /// It ran past its timeout and was killed.
    TimedOut,
    /// The run was cancelled and it was killed.
    Cancelled,
    /// It could not be started.
    SpawnFailed(String),
}

impl Exit {
    /// Whether it exited with code 0.
    pub fn success(&self) -> bool {
        *self == Exit::Code(0)
    }
}

/// The result of running a process.
#[derive(Debug, Clone)]
pub struct Finished {
    /// How it ended.
    pub exit: Exit,
    /// The last lines of its output, kept when it did not succeed.
    pub tail: String,
}

/// The shell-escaped command line, for logs and errors.
pub fn command_line<S: AsRef<std::ffi::OsStr>>(argv: &[S]) -> String {
    argv.iter()
        .map(|a| shell_escape::escape(a.as_ref().to_string_lossy()).into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}

/// A module log's first line: `$ ` and `display`, or the shell-escaped `argv` without one.
pub fn log_header<S: AsRef<std::ffi::OsStr>>(display: Option<&str>, argv: &[S]) -> String {
    match display {
        Some(display) => format!("$ {display}\n"),
        None => format!("$ {}\n", command_line(argv)),
    }
}

pub(super) fn open_log(invocation: &Invocation) -> std::io::Result<fs_err::File> {
    if invocation.log_made
        && let Ok(log) = fs_err::OpenOptions::new()
            .append(true)
            .open(&invocation.log_path)
    {
        return Ok(log);
    }
    create_log(
        &invocation.log_path,
        &log_header(invocation.display.as_deref(), &invocation.argv),
    )
}

/// Create (or append to) the log at `path`, its directory too if need be, and write its
/// first line `header` ([`log_header`]) in one write, so that the line is never
/// interleaved with the module's output.
pub(crate) fn create_log(path: &std::path::Path, header: &str) -> std::io::Result<fs_err::File> {
    let open = || {
        fs_err::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
    };
    // A run's log directory exists after its first log; only then is it created.
    let mut log = match open() {
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
            if let Some(dir) = path.parent() {
                fs_err::create_dir_all(dir)?;
            }
            open()?
        }
        other => other?,
    };
    log.write_all(header.as_bytes())?;
    Ok(log)
}

/// The last 20 lines (at most 4 KiB) of a log file.
pub(super) fn read_tail(path: &std::path::Path) -> String {
    use std::io::{Read, Seek, SeekFrom};
    let Ok(mut file) = fs_err::File::open(path) else {
        return String::new();
    };
    let len = file.metadata().map_or(0, |m| m.len());
    let _ = file.seek(SeekFrom::Start(len.saturating_sub(4096)));
    let mut bytes = Vec::new();
    let _ = file.read_to_end(&mut bytes);
    let text = String::from_utf8_lossy(&bytes);
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(20)..].join("\n")
}
