//! The one place upkeep starts processes.
//!
//! Every module runs in its own process group, so that a timeout or a cancel can reach
//! everything it started: SIGTERM to the group, a grace period, then SIGKILL. Modules are
//! in their own group rather than upkeep's so that a Ctrl-C at the terminal reaches upkeep
//! only; upkeep then stops modules in order instead of every process being hit at once
//! mid-write. Output goes straight to the module's log file (no copying) unless it is also
//! streamed to the terminal, in which case both streams are read concurrently so a child
//! filling one pipe can never deadlock against the other.

pub mod python;

use std::ffi::OsString;
use std::io::Write;
use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::sync::watch;

/// Which stream a line of output came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Stream {
    /// Standard output.
    Stdout,
    /// Standard error.
    Stderr,
}

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
pub fn command_line(argv: &[OsString]) -> String {
    argv.iter()
        .map(|a| shell_escape::escape(a.to_string_lossy()).into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}

/// Run `invocation` to its end, honouring its timeout and the `cancel` signal.
pub async fn run(invocation: Invocation, mut cancel: watch::Receiver<bool>) -> Finished {
    let spawn_failed = |message: String| Finished { exit: Exit::SpawnFailed(message), tail: String::new() };
    let mut log = match open_log(&invocation) {
        Ok(log) => log,
        Err(err) => return spawn_failed(format!("open log {}: {err}", invocation.log_path.display())),
    };
    let Some(program) = invocation.argv.first() else {
        return spawn_failed("empty command".to_owned());
    };
    #[expect(clippy::disallowed_methods, reason = "exec is the one module that spawns processes")]
    let mut command = tokio::process::Command::new(program);
    command
        .args(&invocation.argv[1..])
        .envs(invocation.env.iter().map(|(k, v)| (k, v)))
        .current_dir(&invocation.cwd)
        .stdin(Stdio::null())
        .process_group(0)
        .kill_on_drop(true);
    let streaming = invocation.stream.is_some();
    if streaming {
        command.stdout(Stdio::piped()).stderr(Stdio::piped());
    } else {
        let (out, err) = match (log.try_clone(), log.try_clone()) {
            (Ok(out), Ok(err)) => (out, err),
            (Err(e), _) | (_, Err(e)) => return spawn_failed(format!("duplicate log descriptor: {e}")),
        };
        command.stdout(Stdio::from(out.into_parts().0)).stderr(Stdio::from(err.into_parts().0));
    }
    let mut child = match command.spawn() {
        Ok(child) => child,
        Err(err) => {
            let message = format!("start `{}`: {err}", command_line(&invocation.argv));
            let _ = writeln!(log, "upkeep: {message}");
            return spawn_failed(message);
        }
    };
    let pgid = child.id().and_then(|id| i32::try_from(id).ok()).map(Pid::from_raw);
    let readers = invocation.stream.clone().map(|sink| {
        let out = child.stdout.take().map(|s| copy_lines(s, Stream::Stdout, sink.clone(), log.try_clone().ok()));
        let err = child.stderr.take().map(|s| copy_lines(s, Stream::Stderr, sink, log.try_clone().ok()));
        (out, err)
    });
    let reader_task = readers.map(|(out, err)| {
        tokio::spawn(async move {
            tokio::join!(async { if let Some(o) = out { o.await } }, async { if let Some(e) = err { e.await } });
        })
    });
    let timeout = async {
        match invocation.timeout {
            Some(t) => tokio::time::sleep(t).await,
            None => std::future::pending().await,
        }
    };
    let exit = tokio::select! {
        status = child.wait() => match status {
            Ok(status) => status.code().map_or_else(|| Exit::Signal(status.signal().unwrap_or(0)), Exit::Code),
            Err(err) => Exit::SpawnFailed(format!("wait for the process: {err}")),
        },
        () = timeout => { terminate(&mut child, pgid, invocation.grace).await; Exit::TimedOut }
        () = cancelled(&mut cancel) => { terminate(&mut child, pgid, invocation.grace).await; Exit::Cancelled }
    };
    if let Some(task) = reader_task {
        // A background grandchild may keep the pipes open forever; stop reading shortly
        // after the module itself is gone.
        let _ = tokio::time::timeout(Duration::from_millis(500), task).await;
    }
    let tail = if exit.success() { String::new() } else { read_tail(&invocation.log_path) };
    let note = match &exit {
        Exit::TimedOut => Some(format!("upkeep: timed out after {:?}; process group killed", invocation.timeout.unwrap_or_default())),
        Exit::Cancelled => Some("upkeep: run cancelled; process group killed".to_owned()),
        _ => None,
    };
    if let Some(note) = note {
        let _ = writeln!(log, "{note}");
    }
    Finished { exit, tail }
}

async fn cancelled(cancel: &mut watch::Receiver<bool>) {
    if cancel.wait_for(|c| *c).await.is_err() {
        // The sender is gone: nobody can cancel any more.
        std::future::pending::<()>().await;
    }
}

fn open_log(invocation: &Invocation) -> std::io::Result<fs_err::File> {
    if let Some(dir) = invocation.log_path.parent() {
        fs_err::create_dir_all(dir)?;
    }
    let mut log = fs_err::OpenOptions::new().create(true).append(true).open(&invocation.log_path)?;
    match &invocation.display {
        Some(display) => writeln!(log, "$ {display}")?,
        None => writeln!(log, "$ {}", command_line(&invocation.argv))?,
    }
    Ok(log)
}

/// SIGTERM the group, wait for it to empty for up to `grace`, then SIGKILL what is left.
async fn terminate(child: &mut tokio::process::Child, pgid: Option<Pid>, grace: Duration) {
    let Some(pgid) = pgid else {
        let _ = child.kill().await;
        return;
    };
    let _ = killpg(pgid, Signal::SIGTERM);
    let deadline = tokio::time::Instant::now() + grace;
    let mut leader_gone = false;
    while tokio::time::Instant::now() < deadline {
        if !leader_gone {
            leader_gone = matches!(child.try_wait(), Ok(Some(_)));
        }
        // Signal 0 checks whether any process is still in the group.
        if leader_gone && killpg(pgid, None).is_err() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let _ = killpg(pgid, Signal::SIGKILL);
    let _ = child.wait().await;
}

async fn copy_lines<R: AsyncRead + Unpin>(stream: R, which: Stream, sink: LineSink, mut log: Option<fs_err::File>) {
    let mut lines = BufReader::new(stream).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        if let Some(log) = log.as_mut() {
            let _ = writeln!(log, "{line}");
        }
        sink(which, &line);
    }
}

/// The last 20 lines (at most 4 KiB) of a log file.
pub fn read_tail(path: &std::path::Path) -> String {
    use std::io::{Read, Seek, SeekFrom};
    let Ok(mut file) = fs_err::File::open(path) else { return String::new() };
    let len = file.metadata().map_or(0, |m| m.len());
    let _ = file.seek(SeekFrom::Start(len.saturating_sub(4096)));
    let mut bytes = Vec::new();
    let _ = file.read_to_end(&mut bytes);
    let text = String::from_utf8_lossy(&bytes);
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(20)..].join("\n")
}
