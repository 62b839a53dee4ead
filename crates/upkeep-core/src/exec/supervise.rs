//! Starting an [`Invocation`] (directly with `posix_spawn`, or through tokio's `Command`
//! when its output is streamed) and supervising it to its end: waiting, the timeout and
//! cancellation, and the note upkeep leaves in the log when it stopped the process.

use std::ffi::OsStr;
use std::io::Write;
use std::os::unix::process::ExitStatusExt;
use std::process::Stdio;
use std::time::Duration;

use nix::unistd::Pid;
use tokio::sync::watch;

use super::invocation::{Exit, Finished, Invocation, command_line, open_log, read_tail};
use super::log_cap::{CHECK_EVERY, Capper};
use super::output::spawn_readers;
use super::spawn;
use super::stop::{TOKEN_VAR, Token, adopt_orphans, end_token_holders_async, terminate};

/// Run `invocation` to its end, honouring its timeout and the `cancel` signal.
pub async fn run(invocation: &Invocation, cancel: watch::Receiver<bool>) -> Finished {
    run_with(invocation, cancel, Leftovers::Keep).await
}

/// What becomes of the processes an invocation leaves behind when it ends on its own (at a
/// timeout or a cancel they are stopped either way).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Leftovers {
    /// They are left alone: a module may start a service on purpose.
    Keep,
    /// Every process still carrying its token is killed: a command the user wrote that
    /// upkeep runs for its own purposes (the pre-run command), whose leftovers nobody
    /// wants, as for update-source commands ([`super::capture_users`]).
    Kill,
}

/// [`run`], with what becomes of its leftovers.
pub(super) async fn run_with(
    invocation: &Invocation,
    cancel: watch::Receiver<bool>,
    leftovers: Leftovers,
) -> Finished {
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
    supervise(started, invocation, cancel, leftovers).await
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
pub(super) enum Process {
    Direct(spawn::Child),
    Command(tokio::process::Child),
}

impl Process {
    pub(super) fn id(&self) -> Option<u32> {
        match self {
            Process::Direct(child) => Some(child.id()),
            Process::Command(child) => child.id(),
        }
    }

    pub(super) async fn wait(&mut self) -> std::io::Result<std::process::ExitStatus> {
        match self {
            Process::Direct(child) => child.wait().await,
            Process::Command(child) => child.wait().await,
        }
    }

    pub(super) fn try_wait(&mut self) -> std::io::Result<Option<std::process::ExitStatus>> {
        match self {
            Process::Direct(child) => child.try_wait(),
            Process::Command(child) => child.try_wait(),
        }
    }

    pub(super) fn start_kill(&mut self) {
        match self {
            Process::Direct(child) => child.start_kill(),
            Process::Command(child) => {
                let _ = child.start_kill();
            }
        }
    }
}

pub(super) fn spawn_failed(message: String) -> Finished {
    Finished {
        exit: Exit::SpawnFailed(message),
        tail: String::new(),
    }
}

/// A process that could not be started: why goes into its log, after the header, so the
/// outcome's last lines show it.
pub(super) fn could_not_start(
    log: &mut fs_err::File,
    invocation: &Invocation,
    message: String,
) -> Finished {
    let _ = writeln!(log, "upkeep: {message}");
    Finished {
        exit: Exit::SpawnFailed(message),
        tail: read_tail(&invocation.log_path),
    }
}

pub(super) fn log_failed(invocation: &Invocation, err: &std::io::Error) -> Finished {
    spawn_failed(format!("open log {}: {err}", invocation.log_path.display()))
}

/// A module's process once it runs its module: what [`supervise`] watches.
pub(super) struct Started {
    pub(super) process: Process,
    pub(super) token: Token,
    pub(super) log: fs_err::File,
    /// Copies the process's pipes to the log (and the sink), when it has pipes.
    pub(super) output: Option<tokio::task::JoinHandle<()>>,
}

/// Wait for a started module to end, stopping it at its timeout or when the run is
/// cancelled; the timeout counts from here.
pub(super) async fn supervise(
    started: Started,
    invocation: &Invocation,
    mut cancel: watch::Receiver<bool>,
    leftovers: Leftovers,
) -> Finished {
    let Started {
        process: mut child,
        token,
        mut log,
        output,
    } = started;
    if let Some(id) = child.id() {
        token.started(id);
    }
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
    tokio::pin!(timeout);
    let mut capper = invocation.log_cap.map(Capper::new);
    // The first look comes after one period: a quick module's log is never looked at
    // while it runs (its end caps it), so it pays no timer and no `fstat`.
    let mut checks =
        tokio::time::interval_at(tokio::time::Instant::now() + CHECK_EVERY, CHECK_EVERY);
    checks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let exit = loop {
        tokio::select! {
            status = child.wait() => break match status {
                Ok(status) => status.code().map_or_else(|| Exit::Signal(status.signal().unwrap_or(0)), Exit::Code),
                Err(err) => Exit::SpawnFailed(format!("wait for the process: {err}")),
            },
            () = &mut timeout => { terminate(&mut child, pgid, invocation.grace, &token, &mut cancel).await; break Exit::TimedOut }
            () = cancelled(&mut cancel) => { terminate(&mut child, pgid, invocation.grace, &token, &mut cancel).await; break Exit::Cancelled }
            _ = checks.tick(), if capper.is_some() => {
                if let Some(Err(err)) = capper.as_mut().map(|c| c.check(&log)) {
                    tracing::warn!(log = %invocation.log_path.display(), "could not cap the log: {err}");
                    capper = None;
                }
            }
        }
    };
    if let Some(task) = output {
        // A background grandchild may keep the pipes open forever; stop reading shortly
        // after the module itself is gone.
        let _ = tokio::time::timeout(Duration::from_millis(500), task).await;
    }
    if let Some(Err(err)) = capper.map(|c| c.finish(&mut log)) {
        tracing::warn!(log = %invocation.log_path.display(), "could not cap the log: {err}");
    }
    let tail = if exit.success() {
        String::new()
    } else {
        read_tail(&invocation.log_path)
    };
    if let Some(note) = stop_note(&exit, invocation.timeout) {
        let _ = writeln!(log, "{note}");
    }
    if leftovers == Leftovers::Kill {
        end_token_holders_async(&token, pgid.map(Pid::as_raw)).await;
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exec::run_blocking;

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
            log_cap: None,
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
