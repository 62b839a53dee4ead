//! Stopping a module and everything it started: SIGTERM to its process group and to every
//! process carrying its token, a grace period, SIGKILL; upkeep as the child subreaper that
//! reaps the orphans; and [`kill_leftovers`] for the processes of a run that was killed.

use std::collections::HashMap;
use std::ffi::OsString;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use nix::sys::signal::{Signal, kill, killpg};
use nix::sys::wait::{WaitPidFlag, waitpid};
use nix::unistd::Pid;

use super::supervise::Process;

/// SIGTERM the group and every other process carrying the module's token, wait for them
/// to end for up to `grace`, then SIGKILL what is left and reap the orphans upkeep adopted.
/// The wait ends as soon as nothing of the module is alive (zombies do not count: an
/// orphan that upkeep adopted and that has exited stays in the group until reaped), or
/// when `hurry` sees the run told to stop again (a second Ctrl-C): then SIGKILL at once.
pub(super) async fn terminate(
    child: &mut Process,
    pgid: Option<Pid>,
    grace: Duration,
    token: &Token,
    hurry: &mut tokio::sync::watch::Receiver<bool>,
) {
    hurry.mark_unchanged();
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
        let group_gone = pgid.is_none_or(|pgid| !group_alive(pgid));
        if leader_gone && group_gone && !strays.any_alive() {
            break;
        }
        if hurry.has_changed().unwrap_or(false) {
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
pub(super) const TOKEN_VAR: &str = "UPKEEP_INVOCATION";

/// Identifies the processes of one module invocation: `<upkeep pid>-<counter>`. While it
/// lives, the sentinel ([`super::sentinel`]) stops its carriers if upkeep dies; dropping
/// it tells the sentinel upkeep is done with them.
#[derive(Debug)]
pub(super) struct Token {
    value: String,
    counter: u64,
}

impl Token {
    pub(super) fn next() -> Self {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        // upkeep never forks without exec, so its pid is fixed; asking is a syscall.
        static PID: std::sync::OnceLock<u32> = std::sync::OnceLock::new();
        let counter = NEXT.fetch_add(1, Ordering::Relaxed);
        // Before its process starts, so that no moment of its life goes unwatched.
        super::sentinel::live(counter);
        Self {
            value: format!("{}-{counter}", PID.get_or_init(std::process::id)),
            counter,
        }
    }

    /// The token's process started as the leader of process group `pgid`.
    pub(super) fn started(&self, pgid: u32) {
        super::sentinel::group(self.counter, pgid);
    }

    /// The variable's value: the tokens of any upkeep this one runs under, then this one's,
    /// so that a nested upkeep's modules still carry the outer module's token.
    pub(super) fn env_value(&self) -> OsString {
        static OUTER: std::sync::OnceLock<Option<OsString>> = std::sync::OnceLock::new();
        match OUTER.get_or_init(|| std::env::var_os(TOKEN_VAR).filter(|outer| !outer.is_empty())) {
            Some(outer) => {
                let mut value = outer.clone();
                value.push(":");
                value.push(&self.value);
                value
            }
            None => OsString::from(&self.value),
        }
    }

    /// Whether a `/proc/PID/environ` image carries this token.
    fn in_environ(&self, environ: &[u8]) -> bool {
        let prefix = format!("{TOKEN_VAR}=");
        environ
            .split(|&b| b == 0)
            .filter_map(|var| var.strip_prefix(prefix.as_bytes()))
            .any(|value| {
                value
                    .split(|&b| b == b':')
                    .any(|t| t == self.value.as_bytes())
            })
    }
}

impl Drop for Token {
    fn drop(&mut self) {
        super::sentinel::ended(self.counter);
    }
}

/// When process `pid` started (ms since the epoch, to about a second), if it exists: its
/// start in clock ticks since boot (`/proc/PID/stat`, field 22) plus the boot time. Tells
/// a live process from another that was given the same id later.
pub fn process_started_ms(pid: u32) -> Option<i64> {
    let stat = fs_err::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) is in parentheses and may hold spaces: count after it.
    let after = &stat[stat.rfind(')')? + 1..];
    let ticks: i64 = after.split_whitespace().nth(19)?.parse().ok()?;
    let boot_s: i64 = fs_err::read_to_string("/proc/stat")
        .ok()?
        .lines()
        .find_map(|l| l.strip_prefix("btime ")?.trim().parse().ok())?;
    let per_s = nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK)
        .ok()
        .flatten()
        .filter(|t| *t > 0)?;
    Some(boot_s * 1000 + ticks * 1000 / per_s)
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
pub(super) fn adopt_orphans() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        if let Err(err) = nix::sys::prctl::set_child_subreaper(true) {
            tracing::debug!(
                "cannot become a child subreaper ({err}); orphans of stopped modules go to init"
            );
        }
    });
}

/// Whether a process of group `pgid` is alive: signal 0 finds whether any is in the group
/// at all, then `/proc` whether one of them is more than a zombie waiting to be reaped.
fn group_alive(pgid: Pid) -> bool {
    if killpg(pgid, None).is_err() {
        return false;
    }
    let Ok(entries) = fs_err::read_dir("/proc") else {
        return true;
    };
    entries
        .flatten()
        .filter_map(|e| e.file_name().to_str().and_then(|n| n.parse::<i32>().ok()))
        .filter_map(proc_stat)
        .any(|stat| stat.pgrp == pgid.as_raw() && !matches!(stat.state, b'Z' | b'X' | b'x'))
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
            if !self.kill_pass() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Reap, by pid, the dead that were re-parented to upkeep. A zombie whose parent is
    /// another of the module's dying processes comes to upkeep when that parent is gone;
    /// one whose parent is someone else's (init, another subreaper) is theirs to reap.
    async fn reap(&mut self) {
        for _ in 0..100 {
            if !self.reap_pass() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// [`Strays::kill_all`] then [`Strays::reap`], for synchronous callers.
    fn kill_all_and_reap_blocking(&mut self) {
        for pass in [Self::kill_pass, Self::reap_pass] {
            for _ in 0..100 {
                if !pass(self) {
                    break;
                }
                std::thread::sleep(Duration::from_millis(10));
            }
        }
    }

    /// One round of [`Strays::kill_all`]: whether any was still running.
    fn kill_pass(&mut self) -> bool {
        self.scan();
        let running: Vec<i32> = self
            .known
            .iter()
            .filter(|&(&pid, seen)| {
                proc_stat(pid).is_some_and(|now| now.start == seen.start && now.state != b'Z')
            })
            .map(|(&pid, _)| pid)
            .collect();
        for &pid in &running {
            let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
        }
        !running.is_empty()
    }

    /// One round of [`Strays::reap`]: whether any is left to wait for.
    fn reap_pass(&mut self) -> bool {
        let me = i32::try_from(std::process::id()).unwrap_or(0);
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
        !self.known.is_empty()
    }
}

/// After a helper command ([`super::capture`]) ended: SIGKILL whatever still carries its
/// token (a daemon it started in a session of its own, out of reach of its group) and
/// reap what upkeep adopted. A helper's leftovers are never wanted.
pub(super) fn end_token_holders(token: &Token, leader: Option<i32>) {
    let mut strays = Strays::new(token, leader);
    strays.kill_all_and_reap_blocking();
}

/// [`end_token_holders`] for an invocation that ran on a runtime (the pre-run command).
pub(super) async fn end_token_holders_async(token: &Token, leader: Option<i32>) {
    let mut strays = Strays::new(token, leader);
    strays.kill_all().await;
    strays.reap().await;
}
