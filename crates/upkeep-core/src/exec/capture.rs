//! Short helper commands whose output upkeep reads (git, notification commands), run to
//! completion without a shell, with no standard input and a bounded time.
//!
//! Each runs in its own process group, like a module: at its timeout the whole group gets
//! SIGTERM, a short grace, then SIGKILL, so a helper that started children of its own
//! (`sh -c 'sleep 300 & wait'`) leaves nothing behind, and nothing holding its pipes open
//! can keep the caller waiting. A group still holding the pipes shortly after its leader
//! exited (a background child) is killed the same way.
//!
//! A helper also carries an invocation token (`UPKEEP_INVOCATION`), as a module does; for
//! a command the user wrote ([`capture_users`]), once it ended every process still carrying
//! that token is killed: a daemon it started with `setsid` (out of its group's reach) does
//! not outlive it.

use std::io::Read;
use std::os::unix::process::CommandExt as _;
use std::path::Path;
use std::process::{ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, killpg};

use super::stop::{TOKEN_VAR, Token, end_token_holders};
use nix::unistd::Pid;

/// Time between SIGTERM and SIGKILL when a helper is stopped.
const GRACE: Duration = Duration::from_secs(1);
/// How long output is still read after the helper itself exited.
const LINGER: Duration = Duration::from_millis(500);

/// What a helper command printed and how it ended.
#[derive(Debug, Clone)]
pub struct Captured {
    /// Exit code (`None` when a signal ended it or it was killed for taking too long).
    pub code: Option<i32>,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

impl Captured {
    /// Whether it exited with code 0.
    pub fn success(&self) -> bool {
        self.code == Some(0)
    }
}

enum Message {
    Out(Vec<u8>),
    Err(Vec<u8>),
    Exited(std::io::Result<ExitStatus>),
}

/// Run `argv` in `cwd` and collect its output; its process group is stopped after
/// `timeout`.
///
/// # Errors
/// The program could not be started or waited for.
pub fn capture(argv: &[&str], cwd: &Path, timeout: Duration) -> std::io::Result<Captured> {
    capture_with(argv, cwd, &[], timeout)
}

/// [`capture`] with `env` added to the child's environment.
///
/// # Errors
/// As [`capture`].
pub fn capture_with(
    argv: &[&str],
    cwd: &Path,
    env: &[(String, std::ffi::OsString)],
    timeout: Duration,
) -> std::io::Result<Captured> {
    captured(argv, cwd, env, timeout, false)
}

/// [`capture_with`] for a command the user wrote (an update-source command, a command
/// notification channel): once it ended, whatever still carries its token (a daemon it
/// started with `setsid`) is killed. upkeep's own helpers (git) skip that sweep of
/// `/proc`, which costs a read of every process's environment.
///
/// # Errors
/// As [`capture`].
pub fn capture_users(
    argv: &[&str],
    cwd: &Path,
    env: &[(String, std::ffi::OsString)],
    timeout: Duration,
) -> std::io::Result<Captured> {
    captured(argv, cwd, env, timeout, true)
}

fn captured(
    argv: &[&str],
    cwd: &Path,
    env: &[(String, std::ffi::OsString)],
    timeout: Duration,
    sweep: bool,
) -> std::io::Result<Captured> {
    let Some((program, rest)) = argv.split_first() else {
        return Err(std::io::Error::other("empty command"));
    };
    #[expect(
        clippy::disallowed_methods,
        reason = "exec is the one module that spawns processes"
    )]
    let mut command = std::process::Command::new(program);
    super::stop::adopt_orphans();
    let token = Token::next();
    let mut child = command
        .args(rest)
        .current_dir(cwd)
        .env("GIT_TERMINAL_PROMPT", "0")
        .envs(env.iter().map(|(key, value)| (key, value)))
        .env(TOKEN_VAR, token.env_value())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()?;
    token.started(child.id());
    let group = Pid::from_raw(child.id().cast_signed());
    let (sender, messages) = mpsc::channel();
    if let Some(out) = child.stdout.take() {
        forward(out, sender.clone(), Message::Out);
    }
    if let Some(err) = child.stderr.take() {
        forward(err, sender.clone(), Message::Err);
    }
    std::thread::spawn(move || {
        let _ = sender.send(Message::Exited(child.wait()));
    });
    let captured = collect(&messages, group, Instant::now() + timeout);
    if sweep {
        end_token_holders(&token, Some(group.as_raw()));
    }
    captured
}

/// Send what `pipe` yields, chunk by chunk, until it closes.
fn forward(
    mut pipe: impl Read + Send + 'static,
    sender: mpsc::Sender<Message>,
    wrap: fn(Vec<u8>) -> Message,
) {
    std::thread::spawn(move || {
        let mut buf = [0u8; 8192];
        while let Ok(n @ 1..) = pipe.read(&mut buf) {
            if sender.send(wrap(buf[..n].to_vec())).is_err() {
                return;
            }
        }
    });
}

/// What has come back from a helper so far.
#[derive(Default)]
struct Gathered {
    stdout: Vec<u8>,
    stderr: Vec<u8>,
    status: Option<std::io::Result<ExitStatus>>,
}

impl Gathered {
    fn take(&mut self, message: Message) {
        match message {
            Message::Out(bytes) => self.stdout.extend_from_slice(&bytes),
            Message::Err(bytes) => self.stderr.extend_from_slice(&bytes),
            Message::Exited(status) => self.status = Some(status),
        }
    }

    /// Take messages until `until`, or until `done` says so or every sender is gone.
    fn take_until(
        &mut self,
        messages: &mpsc::Receiver<Message>,
        until: Instant,
        done: fn(&Self) -> bool,
    ) {
        while !done(self) {
            let left = until.saturating_duration_since(Instant::now());
            match messages.recv_timeout(left) {
                Ok(message) => self.take(message),
                Err(_) => return,
            }
        }
    }
}

/// Gather output and the exit until both pipes close and the leader exited, stopping the
/// group at the deadline (or shortly after the leader exited, if the pipes stay open).
fn collect(
    messages: &mpsc::Receiver<Message>,
    group: Pid,
    deadline: Instant,
) -> std::io::Result<Captured> {
    let mut got = Gathered::default();
    // Until the leader exits (or the deadline), then a little longer for the pipes.
    got.take_until(messages, deadline, |g| g.status.is_some());
    let timed_out = got.status.is_none();
    if timed_out {
        let _ = killpg(group, Signal::SIGTERM);
        got.take_until(messages, Instant::now() + GRACE, |g| g.status.is_some());
    } else {
        got.take_until(messages, (Instant::now() + LINGER).min(deadline), |_| false);
    }
    // Whatever of the group is left (a child ignoring SIGTERM, a background process still
    // holding the pipes) is killed; what it wrote before is read, briefly.
    let _ = killpg(group, Signal::SIGKILL);
    got.take_until(messages, Instant::now() + GRACE, |_| false);
    let status = got.status.transpose()?;
    Ok(Captured {
        code: if timed_out {
            None
        } else {
            status.and_then(|s| s.code())
        },
        stdout: String::from_utf8_lossy(&got.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&got.stderr).into_owned(),
    })
}
