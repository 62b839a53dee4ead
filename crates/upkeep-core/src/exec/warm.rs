//! Python interpreters started ahead of their modules.
//!
//! A Python interpreter takes 15-45 ms to start, longer than everything upkeep does around a
//! module. So a Python module's interpreter is started first, before its folder is verified
//! and its backup taken, and a run starts one for its first Python modules before it records
//! its own start. Such a *warm* interpreter runs the bootstrap with `--wait`: it starts up,
//! then blocks on its standard input. Nothing from the updates directory is read before
//! upkeep sends the go message, which comes only once the module's checksum matched:
//!
//! ```text
//! go \0 CWD \0 LOG \0 ROOT \0 MODULE \0 KEY=VALUE \0 KEY=VALUE ...   then end of file
//! ```
//!
//! The bootstrap then sets the module's environment, points standard input at
//! `/dev/null`, opens the log (unless LOG is empty, when its output stays on the pipes upkeep
//! streams from), changes into CWD and imports the module, exactly as a cold start would.
//! Until then its output goes to pipes that upkeep copies into the module's log after the
//! header, so the interpreter's own start-up warnings are kept. An interpreter that is not
//! needed (the module was refused, or the run ended first) gets end of file without `go`
//! and is killed; it never imported anything.
//!
//! The environment a warm interpreter started with is upkeep's own: a module whose
//! requirements ran after the interpreter started would see a Python that started before
//! they changed the virtualenv, so the scheduler only hands a warm interpreter to a module
//! whose requirements had all ended before it started ([`Warm::started_at`]).
//!
//! Standard input is one end of a socket pair rather than a pipe, so that the bootstrap can
//! answer on it: before it waits, it writes its `sys.executable` and a NUL. That is how a
//! version-manager shim (pyenv's `python3`, a bash script costing about three interpreter
//! starts) is resolved: [`Interpreter`] starts the first interpreter of a run through the
//! shim, and every later start uses the path that one reported. The shim runs once per run,
//! and no process is started only to ask it.

use std::ffi::OsString;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Instant;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixStream;
use tokio::sync::watch;

use super::invocation::{Finished, Invocation, open_log};
use super::output::spawn_readers;
use super::stop::{TOKEN_VAR, Token, adopt_orphans};
use super::supervise::{
    Leftovers, Process, Started, could_not_start, log_failed, spawn_failed, supervise,
};

/// The bootstrap argument that makes it wait for the go message.
pub(crate) const WAIT_FLAG: &str = "--wait";

/// A Python interpreter that has been started and waits to be told which module to run.
#[derive(Debug)]
pub struct Warm {
    child: tokio::process::Child,
    /// Its standard input: the go message goes out on it (then end of file).
    stdin: Option<UnixStream>,
    token: Token,
    started_at: Instant,
}

/// Which module a warm interpreter is to run.
#[derive(Debug, Clone)]
pub struct PythonModule {
    /// The manifest's directory, imported as a package.
    pub root: std::path::PathBuf,
    /// The module's dotted path below it (`adblock.index`).
    pub dotted: String,
}

impl Warm {
    /// Start `interpreter` with the bootstrap waiting on its standard input. Must be called
    /// within a tokio runtime.
    ///
    /// # Errors
    /// When the interpreter cannot be started.
    pub fn start(interpreter: &Path, root: &Path) -> std::io::Result<Self> {
        Self::spawn(interpreter, root, std::os::unix::net::UnixStream::pair()?)
    }

    /// [`Self::start`] with the socket pair whose second end becomes its standard input.
    fn spawn(
        interpreter: &Path,
        root: &Path,
        (ours, theirs): (
            std::os::unix::net::UnixStream,
            std::os::unix::net::UnixStream,
        ),
    ) -> std::io::Result<Self> {
        adopt_orphans();
        let token = Token::next();
        ours.set_nonblocking(true)?;
        #[expect(
            clippy::disallowed_methods,
            reason = "exec is the one module that spawns processes"
        )]
        let mut command = tokio::process::Command::new(interpreter);
        command
            .args(["-c", super::python::BOOTSTRAP, WAIT_FLAG])
            .env(TOKEN_VAR, token.env_value())
            .current_dir(root)
            .stdin(Stdio::from(std::os::fd::OwnedFd::from(theirs)))
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .kill_on_drop(true);
        let child = command.spawn()?;
        tracing::debug!(interpreter = %interpreter.display(), "started a warm interpreter");
        Ok(Self {
            child,
            stdin: Some(UnixStream::from_std(ours)?),
            token,
            started_at: Instant::now(),
        })
    }

    /// When it was started.
    pub fn started_at(&self) -> Instant {
        self.started_at
    }

    /// Run `module` in it as `invocation` describes (working directory, log, environment,
    /// timeout, streaming) and wait for it to end, like [`super::run`].
    pub async fn run(
        mut self,
        module: &PythonModule,
        invocation: &Invocation,
        cancel: watch::Receiver<bool>,
    ) -> Finished {
        let log = match open_log(invocation) {
            Ok(log) => log,
            Err(err) => {
                self.stop().await;
                return log_failed(invocation, &err);
            }
        };
        let streaming = invocation.stream.is_some();
        let message = go_message(module, invocation, streaming);
        // Kept open until the interpreter has exited: closing a socket whose own unread
        // input (the interpreter's report, which nobody needs here) is not empty resets the
        // connection, and the interpreter could read that instead of the go message.
        let mut control = self.stdin.take();
        if let Some(stdin) = &mut control {
            // It fails only when the interpreter died starting; its exit and its output
            // (copied below) tell why.
            let _ = stdin.write_all(&message).await;
            let _ = stdin.shutdown().await;
        }
        let output = match &invocation.stream {
            Some(sink) => Some(spawn_readers(&mut self.child, sink, &log)),
            None => Some(spawn_drain(&mut self.child, &log)),
        };
        let started = Started {
            process: Process::Command(self.child),
            token: self.token,
            log,
            output,
        };
        let finished = supervise(started, invocation, cancel, Leftovers::Keep).await;
        drop(control);
        finished
    }

    /// Withdraw it: end of file without `go`, then kill it and wait for it.
    pub async fn stop(mut self) {
        if let Some(mut stdin) = self.stdin.take() {
            // Shut down rather than only close: a reader of its report may hold the
            // socket open too.
            let _ = stdin.shutdown().await;
        }
        let _ = self.child.start_kill();
        let _ = self.child.wait().await;
    }
}

/// What a module whose interpreter could not be started ends with; its log says so too,
/// as [`super::run`]'s does for a command that cannot start.
pub fn start_failed(invocation: &Invocation, err: &std::io::Error) -> Finished {
    // The interpreter alone: the rest of the argv is the bootstrap's source.
    let program = invocation
        .argv
        .first()
        .map(|p| p.to_string_lossy().into_owned());
    let message = format!("start `{}`: {err}", program.unwrap_or_default());
    match open_log(invocation) {
        Ok(mut log) => could_not_start(&mut log, invocation, message),
        Err(_) => spawn_failed(message),
    }
}

/// The go message: working directory, log (empty when streaming), root, module, then the
/// environment.
fn go_message(module: &PythonModule, invocation: &Invocation, streaming: bool) -> Vec<u8> {
    let log: &std::ffi::OsStr = if streaming {
        "".as_ref()
    } else {
        invocation.log_path.as_os_str()
    };
    let mut fields: Vec<OsString> = vec![
        "go".into(),
        invocation.cwd.clone().into_os_string(),
        log.to_owned(),
        module.root.clone().into_os_string(),
        module.dotted.clone().into(),
    ];
    for (key, value) in &invocation.env {
        let mut pair = OsString::from(key);
        pair.push("=");
        pair.push(value);
        fields.push(pair);
    }
    let mut message = Vec::new();
    for field in &fields {
        message.extend_from_slice(field.as_bytes());
        message.push(0);
    }
    message
}

/// Copy what the interpreter wrote before it opened the log (its start-up output) into the
/// log, until it closes the pipes.
fn spawn_drain(
    child: &mut tokio::process::Child,
    log: &fs_err::File,
) -> tokio::task::JoinHandle<()> {
    let out = child.stdout.take();
    let err = child.stderr.take();
    let (log_out, log_err) = (log.try_clone().ok(), log.try_clone().ok());
    tokio::spawn(async move {
        tokio::join!(drain(out, log_out), drain(err, log_err));
    })
}

async fn drain<R: AsyncRead + Unpin>(stream: Option<R>, log: Option<fs_err::File>) {
    use std::io::Write;
    let (Some(mut stream), Some(mut log)) = (stream, log) else {
        return;
    };
    let mut buffer = vec![0; 8192];
    while let Ok(n) = stream.read(&mut buffer).await {
        if n == 0 {
            break;
        }
        let _ = log.write_all(&buffer[..n]);
    }
}

/// The run's Python interpreter: the one the manifest asks for, and, when that is a
/// version-manager shim, the real interpreter behind it once the first interpreter started
/// through the shim has reported its path (see the module docs). Clones share what is known.
#[derive(Debug, Clone)]
pub struct Interpreter {
    /// As found on `PATH` (or the manifest's setting).
    configured: PathBuf,
    /// The interpreter to start: `configured` itself unless that is a script.
    real: watch::Sender<Real>,
}

/// What is known of the interpreter to start.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Real {
    /// No interpreter started through the shim is answering: none was started yet, or the
    /// last one ended without reporting (the shim failed, say, or the interpreter was
    /// withdrawn first). The next start goes through the shim and asks.
    NotAsked,
    /// An interpreter started through the shim has not reported yet.
    Asking,
    /// Its path: a binary as configured (a virtualenv's `bin/python` keeps its own path,
    /// for the venv to apply), or what the interpreter behind a shim reported.
    Known(PathBuf),
}

impl Interpreter {
    /// The interpreter at `found` (a path that exists); a script is resolved by its first
    /// start.
    pub fn new(found: PathBuf) -> Self {
        let real = if super::python::is_script(&found) {
            Real::NotAsked
        } else {
            Real::Known(found.clone())
        };
        Self {
            configured: found,
            real: watch::Sender::new(real),
        }
    }

    /// The path to show for it, and to start it by when nothing better is known yet.
    pub fn path(&self) -> PathBuf {
        match &*self.real.borrow() {
            Real::Known(path) => path.clone(),
            _ => self.configured.clone(),
        }
    }

    /// Start a warm interpreter now, unless its shim is being asked: then `None`, and
    /// [`Self::start`] waits for the answer. A start that asks goes through the shim.
    /// Must be called within a tokio runtime.
    pub fn try_start(&self, root: &Path) -> Option<std::io::Result<Warm>> {
        let mut ask = false;
        self.real.send_if_modified(|real| {
            ask = *real == Real::NotAsked;
            if ask {
                *real = Real::Asking;
            }
            ask
        });
        if ask {
            return Some(self.start_asking(root));
        }
        match &*self.real.borrow() {
            Real::Known(path) => Some(Warm::start(path, root)),
            // Asking, or no longer asking since a moment ago: `start` looks again.
            Real::NotAsked | Real::Asking => None,
        }
    }

    /// Start a warm interpreter, waiting first for the shim's answer when it is being
    /// asked.
    ///
    /// # Errors
    /// When the interpreter cannot be started.
    pub async fn start(&self, root: &Path) -> std::io::Result<Warm> {
        loop {
            if let Some(started) = self.try_start(root) {
                return started;
            }
            let mut answer = self.real.subscribe();
            let _ = answer.wait_for(|real| *real != Real::Asking).await;
        }
    }

    /// Start one through the shim and have a task read its report.
    fn start_asking(&self, root: &Path) -> std::io::Result<Warm> {
        let started = std::os::unix::net::UnixStream::pair().and_then(|pair| {
            // A second handle on its standard input, to read the report from.
            let report = pair.0.try_clone()?;
            let warm = Warm::spawn(&self.configured, root, pair)?;
            Ok((warm, UnixStream::from_std(report)?))
        });
        let (warm, report) = match started {
            Ok(started) => started,
            Err(err) => {
                self.real.send_replace(Real::NotAsked);
                return Err(err);
            }
        };
        let real = self.real.clone();
        tokio::spawn(async move {
            let answer = read_report(report)
                .await
                .map_or(Real::NotAsked, Real::Known);
            tracing::debug!(?answer, "the interpreter behind the shim");
            real.send_replace(answer);
        });
        Ok(warm)
    }
}

/// The interpreter's `sys.executable`, as the bootstrap reports it before it waits: an
/// absolute path that exists, else `None`.
async fn read_report(mut report: UnixStream) -> Option<PathBuf> {
    let mut bytes = Vec::new();
    let mut chunk = [0u8; 1024];
    let end = loop {
        let n = report.read(&mut chunk).await.ok().filter(|&n| n > 0)?;
        bytes.extend_from_slice(&chunk[..n]);
        if let Some(end) = bytes.iter().position(|&b| b == 0) {
            break end;
        }
        if bytes.len() > 64 * 1024 {
            return None;
        }
    };
    bytes.truncate(end);
    let path = PathBuf::from(OsString::from_vec(bytes));
    (path.is_absolute() && path.is_file()).then_some(path)
}
