//! The one place upkeep starts processes.
//!
//! Every module runs in its own process group, so that a timeout or a cancel can reach
//! everything it started: SIGTERM to the group, a grace period, then SIGKILL. Modules are
//! in their own group rather than upkeep's so that a Ctrl-C at the terminal reaches upkeep
//! only; upkeep then stops modules in order instead of every process being hit at once
//! mid-write. Output goes straight to the module's log file (no copying) unless it is also
//! streamed to the terminal, in which case both streams are read concurrently so a child
//! filling one pipe can never deadlock against the other.
//!
//! A process whose output goes only to its log is started with `posix_spawn` directly
//! (`spawn.rs`, the crate's one module with `unsafe` code): its environment is upkeep's,
//! turned into C strings once per process, plus its own variables, where `Command` would
//! copy the whole environment for every start. Streamed output, a `PATH` of the module's
//! own, a log on descriptor 0-2 or a kernel that cannot wait on pidfds go through tokio's
//! `Command` instead; either way the process gets the same group, descriptors, directory
//! and signal state.
//!
//! A Python module's interpreter is usually started before its module is verified, and
//! told to go afterwards ([`Warm`]); only then does it import anything.
//!
//! A process group does not hold everything a module starts: a daemonizing child can
//! `setsid` into a session and group of its own, out of reach of `killpg`. So every module
//! also gets a token in its environment (`UPKEEP_INVOCATION`), which its descendants
//! inherit, and upkeep makes itself a child subreaper, so that orphans of its modules are
//! re-parented to upkeep instead of init. When a module is stopped, every process carrying
//! its token is signalled along with the group, and those that end up as upkeep's
//! zombies are reaped by pid (never `waitpid(-1)`: tokio reaps its own children). A
//! process that scrubs its environment still escapes; nothing short of a cgroup catches it.

mod capture;
pub mod python;
mod scripts;
mod spawn;
mod warm;

pub use capture::{Captured, capture};
pub use scripts::{RUN_UPDATER_BOOTSTRAP, run_blocking, run_updater_argv};
pub use warm::{Interpreter, PythonModule, Warm, start_failed};

use std::collections::HashMap;
use std::ffi::{OsStr, OsString};
use std::io::Write;
use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use nix::sys::signal::{Signal, kill, killpg};
use nix::sys::wait::{WaitPidFlag, waitpid};
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
    /// `log_path` exists with its first line ([`log_header`]) written (the caller made it
    /// ahead): [`run`] only opens it for appending. Otherwise it creates the file and
    /// writes that line.
    pub log_made: bool,
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

/// Run `invocation` to its end, honouring its timeout and the `cancel` signal.
pub async fn run(invocation: &Invocation, cancel: watch::Receiver<bool>) -> Finished {
    let mut log = match open_log(invocation) {
        Ok(log) => log,
        Err(err) => return log_failed(invocation, &err),
    };
    adopt_orphans();
    let token = Token::next();
    let started = match direct_program(invocation, &token, &log) {
        Some((program, stdin)) => start_direct(&program, stdin, invocation, &log),
        None => start_command(invocation, &token, &log),
    };
    let (process, output) = match started {
        Ok(started) => started,
        Err(Failed::Build(message)) => return spawn_failed(message),
        Err(Failed::Start(err)) => {
            // A missing working directory fails the start with the same error as a missing
            // program.
            let message = if invocation.cwd.is_dir() {
                format!("start `{}`: {err}", command_line(&invocation.argv))
            } else {
                format!(
                    "start `{}`: its working directory {} does not exist",
                    command_line(&invocation.argv),
                    invocation.cwd.display()
                )
            };
            return could_not_start(&mut log, invocation, message);
        }
    };
    let started = Started {
        process,
        token,
        log,
        output,
    };
    supervise(started, invocation, cancel).await
}

/// Why a process was not started.
enum Failed {
    /// The command could not be put together.
    Build(String),
    /// Starting it failed.
    Start(std::io::Error),
}

/// The invocation as a [`spawn::Program`], when it can be started directly: its output
/// goes to its log only, the kernel gives out pidfds, and neither the log nor `/dev/null`
/// took one of upkeep's standard descriptors (which it started without).
fn direct_program(
    invocation: &Invocation,
    token: &Token,
    log: &fs_err::File,
) -> Option<(spawn::Program, &'static fs_err::File)> {
    use std::os::fd::AsRawFd;
    if invocation.stream.is_some() || !spawn::available() {
        return None;
    }
    let stdin = dev_null_file()?;
    if stdin.file().as_raw_fd() <= 2 || log.file().as_raw_fd() <= 2 {
        return None;
    }
    let token = token.env_value();
    let env = invocation
        .env
        .iter()
        .map(|(k, v)| (OsStr::new(k), v.as_os_str()))
        .chain(std::iter::once((OsStr::new(TOKEN_VAR), token.as_os_str())));
    let program = spawn::Program::new(&invocation.argv, env, &invocation.cwd)?;
    Some((program, stdin))
}

fn start_direct(
    program: &spawn::Program,
    stdin: &fs_err::File,
    invocation: &Invocation,
    log: &fs_err::File,
) -> Result<(Process, Option<tokio::task::JoinHandle<()>>), Failed> {
    use std::os::fd::AsFd;
    tracing::debug!(command = %command_line(&invocation.argv), cwd = %invocation.cwd.display(), "starting");
    let child =
        spawn::spawn(program, stdin.file().as_fd(), log.file().as_fd()).map_err(Failed::Start)?;
    Ok((Process::Direct(child), None))
}

fn start_command(
    invocation: &Invocation,
    token: &Token,
    log: &fs_err::File,
) -> Result<(Process, Option<tokio::task::JoinHandle<()>>), Failed> {
    let mut command = build_command(invocation, token, log).map_err(Failed::Build)?;
    let mut child = command.spawn().map_err(Failed::Start)?;
    let output = invocation
        .stream
        .clone()
        .map(|sink| spawn_readers(&mut child, &sink, log));
    Ok((Process::Command(child), output))
}

/// A module's process, started directly or through `Command`.
enum Process {
    Direct(spawn::Child),
    Command(tokio::process::Child),
}

impl Process {
    fn id(&self) -> Option<u32> {
        match self {
            Process::Direct(child) => Some(child.id()),
            Process::Command(child) => child.id(),
        }
    }

    async fn wait(&mut self) -> std::io::Result<std::process::ExitStatus> {
        match self {
            Process::Direct(child) => child.wait().await,
            Process::Command(child) => child.wait().await,
        }
    }

    fn try_wait(&mut self) -> std::io::Result<Option<std::process::ExitStatus>> {
        match self {
            Process::Direct(child) => child.try_wait(),
            Process::Command(child) => child.try_wait(),
        }
    }

    fn start_kill(&mut self) {
        match self {
            Process::Direct(child) => child.start_kill(),
            Process::Command(child) => {
                let _ = child.start_kill();
            }
        }
    }
}

fn spawn_failed(message: String) -> Finished {
    Finished {
        exit: Exit::SpawnFailed(message),
        tail: String::new(),
    }
}

/// A process that could not be started: why goes into its log, after the header, so the
/// outcome's last lines show it.
fn could_not_start(log: &mut fs_err::File, invocation: &Invocation, message: String) -> Finished {
    let _ = writeln!(log, "upkeep: {message}");
    Finished {
        exit: Exit::SpawnFailed(message),
        tail: read_tail(&invocation.log_path),
    }
}

fn log_failed(invocation: &Invocation, err: &std::io::Error) -> Finished {
    spawn_failed(format!("open log {}: {err}", invocation.log_path.display()))
}

/// A module's process once it runs its module: what [`supervise`] watches.
struct Started {
    process: Process,
    token: Token,
    log: fs_err::File,
    /// Copies the process's pipes to the log (and the sink), when it has pipes.
    output: Option<tokio::task::JoinHandle<()>>,
}

/// Wait for a started module to end, stopping it at its timeout or when the run is
/// cancelled; the timeout counts from here.
async fn supervise(
    started: Started,
    invocation: &Invocation,
    mut cancel: watch::Receiver<bool>,
) -> Finished {
    let Started {
        process: mut child,
        token,
        mut log,
        output,
    } = started;
    let pgid = child
        .id()
        .and_then(|id| i32::try_from(id).ok())
        .map(Pid::from_raw);
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
        () = timeout => { terminate(&mut child, pgid, invocation.grace, &token).await; Exit::TimedOut }
        () = cancelled(&mut cancel) => { terminate(&mut child, pgid, invocation.grace, &token).await; Exit::Cancelled }
    };
    if let Some(task) = output {
        // A background grandchild may keep the pipes open forever; stop reading shortly
        // after the module itself is gone.
        let _ = tokio::time::timeout(Duration::from_millis(500), task).await;
    }
    let tail = if exit.success() {
        String::new()
    } else {
        read_tail(&invocation.log_path)
    };
    if let Some(note) = stop_note(&exit, invocation.timeout) {
        let _ = writeln!(log, "{note}");
    }
    Finished { exit, tail }
}

/// The command for `invocation`: own process group, no stdin, the token in its
/// environment, output to the log file or to pipes when streaming.
fn build_command(
    invocation: &Invocation,
    token: &Token,
    log: &fs_err::File,
) -> Result<tokio::process::Command, String> {
    let Some(program) = invocation.argv.first() else {
        return Err("empty command".to_owned());
    };
    #[expect(
        clippy::disallowed_methods,
        reason = "exec is the one module that spawns processes"
    )]
    let mut command = tokio::process::Command::new(program);
    command
        .args(&invocation.argv[1..])
        .envs(invocation.env.iter().map(|(k, v)| (k, v)))
        .env(TOKEN_VAR, token.env_value())
        .current_dir(&invocation.cwd)
        .stdin(dev_null())
        .process_group(0)
        .kill_on_drop(true);
    if invocation.stream.is_some() {
        command.stdout(Stdio::piped()).stderr(Stdio::piped());
    } else {
        let dup = || {
            log.try_clone()
                .map_err(|e| format!("duplicate log descriptor: {e}"))
        };
        let (out, err) = (dup()?, dup()?);
        command
            .stdout(Stdio::from(out.into_parts().0))
            .stderr(Stdio::from(err.into_parts().0));
    }
    tracing::debug!(command = %command_line(&invocation.argv), cwd = %invocation.cwd.display(), "starting");
    Ok(command)
}

/// Read both pipes concurrently into the log and the sink.
fn spawn_readers(
    child: &mut tokio::process::Child,
    sink: &LineSink,
    log: &fs_err::File,
) -> tokio::task::JoinHandle<()> {
    let out = child
        .stdout
        .take()
        .map(|s| copy_lines(s, Stream::Stdout, sink.clone(), log.try_clone().ok()));
    let err = child
        .stderr
        .take()
        .map(|s| copy_lines(s, Stream::Stderr, sink.clone(), log.try_clone().ok()));
    tokio::spawn(async move {
        tokio::join!(
            async {
                if let Some(o) = out {
                    o.await;
                }
            },
            async {
                if let Some(e) = err {
                    e.await;
                }
            }
        );
    })
}

/// Standard input for modules: one `/dev/null` opened per process and duplicated per
/// module, instead of a path lookup at every spawn.
fn dev_null() -> Stdio {
    match dev_null_file().and_then(|file| file.try_clone().ok()) {
        Some(file) => Stdio::from(file.into_parts().0),
        None => Stdio::null(),
    }
}

/// `/dev/null`, opened once per process.
fn dev_null_file() -> Option<&'static fs_err::File> {
    static DEV_NULL: std::sync::OnceLock<Option<fs_err::File>> = std::sync::OnceLock::new();
    DEV_NULL
        .get_or_init(|| fs_err::File::open("/dev/null").ok())
        .as_ref()
}

/// The line upkeep appends to a module's log when it stopped the module.
fn stop_note(exit: &Exit, timeout: Option<Duration>) -> Option<String> {
    match exit {
        Exit::TimedOut => Some(format!(
            "upkeep: timed out after {:?}; process group killed",
            timeout.unwrap_or_default()
        )),
        Exit::Cancelled => Some("upkeep: run cancelled; process group killed".to_owned()),
        _ => None,
    }
}

async fn cancelled(cancel: &mut watch::Receiver<bool>) {
    if cancel.wait_for(|c| *c).await.is_err() {
        // The sender is gone: nobody can cancel any more.
        std::future::pending::<()>().await;
    }
}

fn open_log(invocation: &Invocation) -> std::io::Result<fs_err::File> {
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

/// SIGTERM the group and every other process carrying the module's token, wait for them
/// to end for up to `grace`, then SIGKILL what is left and reap the orphans upkeep adopted.
async fn terminate(child: &mut Process, pgid: Option<Pid>, grace: Duration, token: &Token) {
    let leader = child.id().and_then(|id| i32::try_from(id).ok());
    let mut strays = Strays::new(token, leader);
    // Seen now, while they are alive: a zombie's environment can no longer be read.
    strays.scan();
    match pgid {
        Some(pgid) => {
            let _ = killpg(pgid, Signal::SIGTERM);
        }
        None => child.start_kill(),
    }
    strays.signal_outside(pgid, Signal::SIGTERM);
    let deadline = tokio::time::Instant::now() + grace;
    let mut leader_gone = false;
    while tokio::time::Instant::now() < deadline {
        if !leader_gone {
            leader_gone = matches!(child.try_wait(), Ok(Some(_)));
        }
        // Signal 0 checks whether any process is still in the group.
        let group_gone = pgid.is_none_or(|pgid| killpg(pgid, None).is_err());
        if leader_gone && group_gone && !strays.any_alive() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    if let Some(pgid) = pgid {
        let _ = killpg(pgid, Signal::SIGKILL);
    }
    child.start_kill();
    let _ = child.wait().await;
    strays.kill_all().await;
    strays.reap().await;
}

/// The environment variable that carries a module's [`Token`].
const TOKEN_VAR: &str = "UPKEEP_INVOCATION";

/// Identifies the processes of one module invocation: `<upkeep pid>-<counter>`.
#[derive(Debug)]
struct Token(String);

impl Token {
    fn next() -> Self {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        // upkeep never forks without exec, so its pid is fixed; asking is a syscall.
        static PID: std::sync::OnceLock<u32> = std::sync::OnceLock::new();
        Self(format!(
            "{}-{}",
            PID.get_or_init(std::process::id),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ))
    }

    /// The variable's value: the tokens of any upkeep this one runs under, then this one's,
    /// so that a nested upkeep's modules still carry the outer module's token.
    fn env_value(&self) -> OsString {
        static OUTER: std::sync::OnceLock<Option<OsString>> = std::sync::OnceLock::new();
        match OUTER.get_or_init(|| std::env::var_os(TOKEN_VAR).filter(|outer| !outer.is_empty())) {
            Some(outer) => {
                let mut value = outer.clone();
                value.push(":");
                value.push(&self.0);
                value
            }
            None => OsString::from(&self.0),
        }
    }

    /// Whether a `/proc/PID/environ` image carries this token.
    fn in_environ(&self, environ: &[u8]) -> bool {
        let prefix = format!("{TOKEN_VAR}=");
        environ
            .split(|&b| b == 0)
            .filter_map(|var| var.strip_prefix(prefix.as_bytes()))
            .any(|value| value.split(|&b| b == b':').any(|t| t == self.0.as_bytes()))
    }
}

/// SIGKILL every process still carrying a token of the upkeep process `pid` (a run that
/// was killed: its modules and their descendants outlive it and would go on changing files
/// under the next run). Returns how many were killed. Bounded to about a second.
pub fn kill_leftovers(pid: u32) -> usize {
    let prefix = format!("{pid}-");
    let me = std::process::id();
    let holds = |environ: &[u8]| {
        let var = format!("{TOKEN_VAR}=");
        environ
            .split(|&b| b == 0)
            .filter_map(|v| v.strip_prefix(var.as_bytes()))
            .any(|value| {
                value
                    .split(|&b| b == b':')
                    .any(|t| t.starts_with(prefix.as_bytes()))
            })
    };
    let mut killed = std::collections::HashSet::new();
    for _ in 0..100 {
        let Ok(entries) = fs_err::read_dir("/proc") else {
            break;
        };
        let found: Vec<i32> = entries
            .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
            .filter(|&p| u32::try_from(p).is_ok_and(|p| p != me))
            .filter(|&p| fs_err::read(format!("/proc/{p}/environ")).is_ok_and(|env| holds(&env)))
            .filter(|&p| proc_stat(p).is_some_and(|s| s.state != b'Z'))
            .collect();
        if found.is_empty() {
            break;
        }
        for p in found {
            let _ = kill(Pid::from_raw(p), Signal::SIGKILL);
            killed.insert(p);
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    killed.len()
}

/// Make upkeep the reaper of its modules' orphans (once per process; the setting is not
/// inherited by children).
fn adopt_orphans() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        if let Err(err) = nix::sys::prctl::set_child_subreaper(true) {
            tracing::debug!(
                "cannot become a child subreaper ({err}); orphans of stopped modules go to init"
            );
        }
    });
}

/// What `/proc/PID/stat` says about a process.
#[derive(Debug, Clone, Copy)]
struct ProcStat {
    state: u8,
    ppid: i32,
    pgrp: i32,
    /// Clock ticks after boot; tells a process from a later one that reuses its pid.
    start: u64,
}

fn proc_stat(pid: i32) -> Option<ProcStat> {
    let stat = fs_err::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name is in parentheses and may contain anything, spaces included.
    let (_, rest) = stat.rsplit_once(')')?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    Some(ProcStat {
        state: *fields.first()?.as_bytes().first()?,
        ppid: fields.get(1)?.parse().ok()?,
        pgrp: fields.get(2)?.parse().ok()?,
        start: fields.get(19)?.parse().ok()?,
    })
}

/// The processes of one stopped module, found by its token, with what `/proc` said of each
/// when it was first seen.
#[derive(Debug)]
struct Strays<'t> {
    token: &'t Token,
    /// The module's own process, which tokio waits for and upkeep must leave alone.
    leader: Option<i32>,
    known: HashMap<i32, ProcStat>,
}

impl<'t> Strays<'t> {
    fn new(token: &'t Token, leader: Option<i32>) -> Self {
        Self {
            token,
            leader,
            known: HashMap::new(),
        }
    }

    /// Live processes carrying the token now (zombies have no readable environment).
    fn holders(&self) -> Vec<(i32, ProcStat)> {
        let me = i32::try_from(std::process::id()).ok();
        let Ok(entries) = fs_err::read_dir("/proc") else {
            return Vec::new();
        };
        entries
            .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<i32>().ok())
            .filter(|&pid| Some(pid) != me && Some(pid) != self.leader)
            .filter(|&pid| {
                fs_err::read(format!("/proc/{pid}/environ"))
                    .is_ok_and(|env| self.token.in_environ(&env))
            })
            .filter_map(|pid| Some((pid, proc_stat(pid)?)))
            .filter(|(_, stat)| stat.state != b'Z')
            .collect()
    }

    /// Remember every live holder of the token.
    fn scan(&mut self) {
        for (pid, stat) in self.holders() {
            self.known.entry(pid).or_insert(stat);
        }
    }

    /// Whether `pid` is still the process first seen under that pid.
    fn same(&self, pid: i32, now: &ProcStat) -> bool {
        self.known
            .get(&pid)
            .is_some_and(|seen| seen.start == now.start)
    }

    /// Signal the known processes that are not in the module's process group (which
    /// `killpg` reaches already).
    fn signal_outside(&self, pgid: Option<Pid>, signal: Signal) {
        for (&pid, seen) in &self.known {
            if Some(Pid::from_raw(seen.pgrp)) != pgid
                && proc_stat(pid).is_some_and(|now| self.same(pid, &now))
            {
                let _ = kill(Pid::from_raw(pid), signal);
            }
        }
    }

    /// Whether any known process outside the leader is still running.
    fn any_alive(&self) -> bool {
        self.known
            .keys()
            .any(|&pid| proc_stat(pid).is_some_and(|now| now.state != b'Z' && self.same(pid, &now)))
    }

    /// SIGKILL every process carrying the token, and every one seen carrying it before
    /// (it may have exec'd with a clean environment since), until none is left running.
    /// Bounded: a process stuck in the kernel is given up on after a second.
    async fn kill_all(&mut self) {
        for _ in 0..100 {
            self.scan();
            let running: Vec<i32> = self
                .known
                .iter()
                .filter(|&(&pid, seen)| {
                    proc_stat(pid).is_some_and(|now| now.start == seen.start && now.state != b'Z')
                })
                .map(|(&pid, _)| pid)
                .collect();
            if running.is_empty() {
                return;
            }
            for pid in running {
                let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Reap, by pid, the dead that were re-parented to upkeep. A zombie whose parent is
    /// another of the module's dying processes comes to upkeep when that parent is gone;
    /// one whose parent is someone else's (init, another subreaper) is theirs to reap.
    async fn reap(&mut self) {
        let me = i32::try_from(std::process::id()).unwrap_or(0);
        for _ in 0..100 {
            let parents: Vec<i32> = self.known.keys().copied().collect();
            let mut keep = HashMap::new();
            for (&pid, seen) in &self.known {
                let Some(now) = proc_stat(pid).filter(|now| now.start == seen.start) else {
                    continue;
                };
                if now.state != b'Z' {
                    keep.insert(pid, *seen);
                } else if now.ppid == me {
                    let _ = waitpid(Pid::from_raw(pid), Some(WaitPidFlag::WNOHANG));
                } else if parents.contains(&now.ppid) {
                    keep.insert(pid, *seen);
                }
            }
            self.known = keep;
            if self.known.is_empty() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

async fn copy_lines<R: AsyncRead + Unpin>(
    stream: R,
    which: Stream,
    sink: LineSink,
    mut log: Option<fs_err::File>,
) {
    let mut lines = BufReader::new(stream).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        if let Some(log) = log.as_mut() {
            let _ = writeln!(log, "{line}");
        }
        sink(which, &line);
    }
}

/// The last 20 lines (at most 4 KiB) of a log file.
fn read_tail(path: &std::path::Path) -> String {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_working_directory_that_does_not_exist_is_named_as_the_reason() {
        let tmp = tempfile::tempdir().unwrap();
        let invocation = Invocation {
            argv: vec!["true".into()],
            env: Vec::new(),
            cwd: tmp.path().join("gone"),
            log_path: tmp.path().join("logs/true.log"),
            stream: None,
            timeout: None,
            grace: Duration::from_secs(1),
            display: None,
            log_made: false,
        };
        let finished = run_blocking(&invocation);
        let expected = format!(
            "start `true`: its working directory {} does not exist",
            tmp.path().join("gone").display()
        );
        assert_eq!(finished.exit, Exit::SpawnFailed(expected.clone()));
        let log = fs_err::read_to_string(&invocation.log_path).unwrap();
        assert_eq!(log, format!("$ true\nupkeep: {expected}\n"));
    }
}
