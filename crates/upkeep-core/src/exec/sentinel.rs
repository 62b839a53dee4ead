//! The sentinel: a small process that outlives upkeep only to stop what upkeep started, so
//! that a `kill -9` of upkeep does not leave its modules running (and writing) until the
//! next run's recovery finds them.
//!
//! The binary starts it once, on the first process upkeep starts ([`contain`] turns it on
//! from `main`): `upkeep` itself again (`/proc/self/exe`), named `upkeep-sentinel` in its
//! `argv[0]`, in a process group of its own (so a Ctrl-C at the terminal does not reach
//! it) and with the read end of a pipe as its standard input. Only upkeep holds the write
//! end, close-on-exec, so no child inherits it: the sentinel reads end of file exactly when
//! the upkeep process is gone, whichever way it went and whichever thread started what.
//! That is why this is not `PR_SET_PDEATHSIG`: that fires when the *thread* that started
//! the child exits (tokio's blocking threads end when idle), cannot be set through
//! `posix_spawn` (a fork per module would cost the fan-out its target), and reaches the
//! direct child only, not the rest of its group or a daemon it started with `setsid`.
//!
//! Over the pipe upkeep tells it, in fixed 16-byte records (atomic in a pipe), which
//! invocation tokens are live and their process groups: one record when a token is made
//! (before its process starts), one with the group once it started, one when it ended.
//! At end of file the sentinel SIGKILLs, for every token still live, its process group
//! (when a member still carries the token, so a group id reused since cannot be hit) and
//! every process carrying the token, as the next run's `kill_leftovers` would, until none
//! is left. A process that ended normally is over: what it left behind stays, as it does
//! after a run that ended normally. A normal exit of upkeep therefore costs the sentinel a
//! read of end of file and nothing else.
//!
//! The write end is non-blocking: were the sentinel gone or stuck, upkeep loses records
//! rather than waiting (containment then falls back to the next run's sweep).

use std::collections::HashMap;
use std::io::Read as _;
use std::os::fd::{AsFd as _, OwnedFd};
use std::os::unix::process::CommandExt as _;
use std::process::Stdio;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use nix::fcntl::{FcntlArg, OFlag, fcntl};
use nix::sys::signal::{SigSet, SigmaskHow, Signal, kill, killpg, sigprocmask};
use nix::unistd::Pid;

use super::stop::TOKEN_VAR;

/// The `argv[0]` that makes the binary the sentinel.
const NAME: &str = "upkeep-sentinel";

/// Set by [`contain`]: the binary can act as the sentinel, so one is started.
static ENABLED: AtomicBool = AtomicBool::new(false);

/// Called first in the binary's `main`. When this process was started as the sentinel, it
/// does the sentinel's work and returns the exit code; otherwise it arranges that the
/// processes this upkeep starts are stopped when it dies, and returns `None`.
#[must_use]
pub fn contain() -> Option<i32> {
    let mut args = std::env::args_os();
    let is_sentinel = args
        .next()
        .is_some_and(|arg0| arg0.as_encoded_bytes() == NAME.as_bytes());
    if !is_sentinel {
        ENABLED.store(true, Ordering::Relaxed);
        return None;
    }
    let upkeep = args
        .next()
        .and_then(|pid| pid.to_str()?.parse::<u32>().ok());
    Some(upkeep.map_or(2, |upkeep| {
        watch(upkeep);
        0
    }))
}

/// The record kinds upkeep writes.
const LIVE: u8 = b'+';
const GROUP: u8 = b'g';
const ENDED: u8 = b'-';
const RECORD: usize = 16;

/// A token `<pid>-<n>` is made: from now on its carriers are stopped if upkeep dies.
pub(super) fn live(n: u64) {
    send(LIVE, n, 0);
}

/// Token `n`'s process started as the leader of process group `pgid`.
pub(super) fn group(n: u64, pgid: u32) {
    send(GROUP, n, pgid);
}

/// Token `n`'s process ended and upkeep is done with it.
pub(super) fn ended(n: u64) {
    send(ENDED, n, 0);
}

fn send(kind: u8, n: u64, pgid: u32) {
    let Some(pipe) = pipe() else {
        return;
    };
    let mut record = [0u8; RECORD];
    record[0] = kind;
    record[4..8].copy_from_slice(&pgid.to_le_bytes());
    record[8..].copy_from_slice(&n.to_le_bytes());
    // Non-blocking and at most PIPE_BUF bytes: written whole or not at all.
    let _ = nix::unistd::write(pipe, &record);
}

/// The write end of the sentinel's pipe, once the sentinel started; `None` when the binary
/// did not turn it on or it could not be started.
fn pipe() -> Option<&'static OwnedFd> {
    static PIPE: OnceLock<Option<OwnedFd>> = OnceLock::new();
    if !ENABLED.load(Ordering::Relaxed) {
        return None;
    }
    PIPE.get_or_init(|| match start() {
        Ok(pipe) => Some(pipe),
        Err(err) => {
            tracing::debug!(
                "cannot start the sentinel ({err}); if upkeep is killed, what it started runs until the next run"
            );
            None
        }
    })
    .as_ref()
}

/// Make the pipe and start the sentinel on a thread of its own; returns the pipe's write
/// end. Records written before the sentinel runs wait in the pipe, so the first process
/// upkeep starts does not wait for the sentinel's start (a spawn, about a millisecond).
fn start() -> std::io::Result<OwnedFd> {
    // Close-on-exec, so that no child holds the write end open; non-blocking, so that a
    // stuck sentinel never stalls upkeep. The read end is made blocking again for it.
    let (read, write) = nix::unistd::pipe2(OFlag::O_CLOEXEC | OFlag::O_NONBLOCK)?;
    fcntl(read.as_fd(), FcntlArg::F_SETFL(OFlag::empty()))?;
    std::thread::Builder::new()
        .name("sentinel-start".into())
        .spawn(move || {
            if let Err(err) = spawn(read) {
                tracing::debug!(
                    "cannot start the sentinel ({err}); if upkeep is killed, what it started runs until the next run"
                );
            }
        })?;
    Ok(write)
}

/// Start the sentinel with `read` as its standard input.
fn spawn(read: OwnedFd) -> std::io::Result<()> {
    #[expect(
        clippy::disallowed_methods,
        reason = "exec is the one module that spawns processes"
    )]
    let mut command = std::process::Command::new("/proc/self/exe");
    command
        .arg0(NAME)
        .arg(std::process::id().to_string())
        .env_remove(TOKEN_VAR)
        .current_dir("/")
        .stdin(Stdio::from(read))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0);
    // Nobody waits for it: it outlives upkeep, and init (or a subreaper above upkeep)
    // reaps it.
    drop(command.spawn()?);
    Ok(())
}

/// The sentinel's work: follow the records until end of file, then stop what is live.
fn watch(upkeep: u32) {
    // Terminal signals are not for it (it is in a group of its own, but a terminal's
    // hangup or a Ctrl-C sent to a whole session must not end the watch early).
    let mut terminal = SigSet::empty();
    terminal.add(Signal::SIGINT);
    terminal.add(Signal::SIGHUP);
    terminal.add(Signal::SIGQUIT);
    let _ = sigprocmask(SigmaskHow::SIG_BLOCK, Some(&terminal), None);
    let mut live: HashMap<u64, u32> = HashMap::new();
    let mut stdin = std::io::stdin().lock();
    let mut record = [0u8; RECORD];
    while stdin.read_exact(&mut record).is_ok() {
        let pgid = u32::from_le_bytes(record[4..8].try_into().unwrap_or_default());
        let n = u64::from_le_bytes(record[8..].try_into().unwrap_or_default());
        match record[0] {
            LIVE | GROUP => {
                live.insert(n, pgid);
            }
            ENDED => {
                live.remove(&n);
            }
            _ => {}
        }
    }
    if !live.is_empty() {
        stop_live(upkeep, &live);
    }
}

/// SIGKILL the groups and the carriers of the live tokens, until none is left running.
/// Bounded: a process stuck in the kernel is given up on after about a second.
fn stop_live(upkeep: u32, live: &HashMap<u64, u32>) {
    let tokens: Vec<Vec<u8>> = live
        .keys()
        .map(|n| format!("{upkeep}-{n}").into_bytes())
        .collect();
    let groups: Vec<i32> = live
        .values()
        .filter_map(|&pgid| i32::try_from(pgid).ok())
        .filter(|&pgid| pgid > 1)
        .collect();
    let mut groups_done = false;
    for _ in 0..100 {
        let carriers = carriers(&tokens);
        if carriers.is_empty() {
            return;
        }
        if !groups_done {
            // A group is signalled only while one of its members carries a live token:
            // then its id is still that group's and cannot have been given to another.
            for &pgid in &groups {
                if carriers.iter().any(|&(_, pgrp)| pgrp == pgid) {
                    let _ = killpg(Pid::from_raw(pgid), Signal::SIGKILL);
                }
            }
            groups_done = true;
        }
        for &(pid, _) in &carriers {
            let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// The running processes carrying one of `tokens`, with their process groups.
fn carriers(tokens: &[Vec<u8>]) -> Vec<(i32, i32)> {
    let me = std::process::id();
    let Ok(entries) = fs_err::read_dir("/proc") else {
        return Vec::new();
    };
    let prefix = format!("{TOKEN_VAR}=");
    let carries = |environ: &[u8]| {
        environ
            .split(|&b| b == 0)
            .filter_map(|var| var.strip_prefix(prefix.as_bytes()))
            .any(|value| {
                value
                    .split(|&b| b == b':')
                    .any(|t| tokens.iter().any(|token| token == t))
            })
    };
    entries
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|&pid| pid != me)
        .filter(|&pid| fs_err::read(format!("/proc/{pid}/environ")).is_ok_and(|env| carries(&env)))
        .filter_map(|pid| {
            let (state, pgrp) = state_and_group(pid)?;
            (state != b'Z').then_some((i32::try_from(pid).ok()?, pgrp))
        })
        .collect()
}

/// A process's state and process group from `/proc/PID/stat`.
fn state_and_group(pid: u32) -> Option<(u8, i32)> {
    let stat = fs_err::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name is in parentheses and may contain anything, spaces included.
    let (_, rest) = stat.rsplit_once(')')?;
    let mut fields = rest.split_whitespace();
    let state = *fields.next()?.as_bytes().first()?;
    let pgrp = fields.nth(1)?.parse().ok()?;
    Some((state, pgrp))
}
