//! Starting a module's process with `posix_spawn` directly, for the common case: output to
//! its log file, no `PATH` of its own.
//!
//! `std::process::Command` copies upkeep's whole environment into a fresh map, and from
//! that into new C strings, for every process that sets a variable, and every module does
//! (its `UPKEEP_*` context). For a run of many quick modules that was the largest single
//! cost of starting one. Here upkeep's own environment is turned into C strings once per
//! process ([`base_env`]; upkeep never changes its environment, which `clippy.toml`
//! enforces), and a module's start builds only its own variables and an array of pointers.
//! The log file is handed to the child as its stdout and stderr by the spawn's file
//! actions, so no descriptor is duplicated in upkeep either.
//!
//! What the child gets is what `Command` would give it: its own process group, the
//! working directory, an empty signal mask, SIGPIPE back at its default (Rust ignores it in
//! upkeep), every other descriptor closed (upkeep opens everything close-on-exec), and a
//! program without a `/` looked up in upkeep's `PATH`.
//!
//! The child is waited for through a pidfd registered with tokio, as tokio does for its
//! own children; dropping a [`Child`] that has not been waited for kills it, like
//! `kill_on_drop`, and it is reaped by a later start.
//!
//! This is the one module with `unsafe` code: the libc calls that set up and make the
//! spawn, and opening the pidfd. Each block says why it is sound.
#![allow(
    unsafe_code,
    reason = "libc's posix_spawn has no safe wrapper with a chdir action"
)]

use std::ffi::{CStr, CString, OsStr, OsString};
use std::io;
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::process::ExitStatusExt;
use std::process::ExitStatus;
use std::sync::{Mutex, OnceLock};

use nix::sys::signal::{Signal, kill};
use nix::sys::wait::{Id, WaitPidFlag, WaitStatus, waitid};
use nix::unistd::Pid;
use tokio::io::unix::AsyncFd;

/// A module's program, arguments, environment and working directory as C strings.
#[derive(Debug)]
pub(super) struct Program {
    argv: Vec<CString>,
    /// The module's own variables, `KEY=VALUE`; they override upkeep's of the same name.
    env: Vec<CString>,
    cwd: CString,
}

impl Program {
    /// The program for `argv`, `env` and `cwd`, or `None` when it must go through
    /// `Command` instead: an empty argv, a NUL byte anywhere, or a `PATH` of its own
    /// (which `posix_spawnp` would not search).
    pub(super) fn new(
        argv: &[OsString],
        env: impl IntoIterator<Item = (impl AsRef<OsStr>, impl AsRef<OsStr>)>,
        cwd: &std::path::Path,
    ) -> Option<Self> {
        if argv.is_empty() {
            return None;
        }
        let argv = argv
            .iter()
            .map(|arg| CString::new(arg.as_bytes()).ok())
            .collect::<Option<Vec<_>>>()?;
        let mut vars = Vec::new();
        for (key, value) in env {
            let (key, value) = (key.as_ref().as_bytes(), value.as_ref().as_bytes());
            if key == b"PATH" || key.is_empty() || key.contains(&b'=') {
                return None;
            }
            let mut var = Vec::with_capacity(key.len() + value.len() + 2);
            var.extend_from_slice(key);
            var.push(b'=');
            var.extend_from_slice(value);
            vars.push(CString::new(var).ok()?);
        }
        let cwd = CString::new(cwd.as_os_str().as_bytes()).ok()?;
        Some(Self {
            argv,
            env: vars,
            cwd,
        })
    }

    /// `envp`: upkeep's variables that the module does not set, then the module's.
    fn envp(&self) -> Vec<*const libc::c_char> {
        let own: Vec<&[u8]> = self.env.iter().map(|var| key_of(var.to_bytes())).collect();
        let base = base_env();
        let mut envp = Vec::with_capacity(base.len() + self.env.len() + 1);
        envp.extend(
            base.iter()
                .filter(|(key, _)| !own.contains(&&**key))
                .map(|(_, var)| var.as_ptr()),
        );
        envp.extend(self.env.iter().map(|var| var.as_ptr()));
        envp.push(std::ptr::null());
        envp
    }
}

/// The name in a `KEY=VALUE` string.
fn key_of(var: &[u8]) -> &[u8] {
    // The first `=` after the first byte, as the standard library splits them, so that a
    // name that itself starts with `=` keeps it.
    let end = var
        .iter()
        .skip(1)
        .position(|&b| b == b'=')
        .map_or(var.len(), |at| at + 1);
    &var[..end]
}

/// A base variable's name, kept beside it so that it is not searched for at every start.
type BaseVar = (Box<[u8]>, CString);

/// upkeep's environment as names and `KEY=VALUE` C strings, read on first use.
fn base_env() -> &'static [BaseVar] {
    static BASE: OnceLock<Vec<BaseVar>> = OnceLock::new();
    BASE.get_or_init(|| {
        std::env::vars_os()
            .filter_map(|(key, value)| {
                let mut var = key.into_vec();
                let name = var.clone().into_boxed_slice();
                var.push(b'=');
                var.extend_from_slice(value.as_bytes());
                Some((name, CString::new(var).ok()?))
            })
            .collect()
    })
}

/// Whether this kernel gives out pidfds and waits on them (Linux 5.4 and later), and no
/// seccomp filter forbids it; otherwise modules are started through `Command`. Asked about
/// upkeep's own pidfd, such a kernel answers that upkeep is no child of upkeep's.
pub(super) fn available() -> bool {
    static AVAILABLE: OnceLock<bool> = OnceLock::new();
    *AVAILABLE.get_or_init(|| {
        pidfd_open(std::process::id().cast_signed()).is_ok_and(|own| {
            let flags = WaitPidFlag::WEXITED | WaitPidFlag::WNOHANG;
            waitid(Id::PIDFd(own.as_fd()), flags) == Err(nix::errno::Errno::ECHILD)
        })
    })
}

/// A process started by [`spawn`].
#[derive(Debug)]
pub(super) struct Child {
    pid: Pid,
    pidfd: AsyncFd<OwnedFd>,
    status: Option<ExitStatus>,
}

/// Start `program` in a process group of its own, with `stdin` as its standard input and
/// `output` as both its standard output and error (neither may be descriptor 0, 1 or 2).
/// Must be called within a tokio runtime with I/O enabled.
pub(super) fn spawn(
    program: &Program,
    stdin: BorrowedFd<'_>,
    output: BorrowedFd<'_>,
) -> io::Result<Child> {
    reap_orphans();
    let (stdin, output) = (stdin.as_raw_fd(), output.as_raw_fd());
    if stdin <= 2 || output <= 2 {
        // dup2 onto itself would leave the descriptor close-on-exec; the caller uses
        // `Command` for that case.
        return Err(io::Error::other("a descriptor to hand over is 0, 1 or 2"));
    }
    let actions = FileActions::new(&program.cwd, stdin, output)?;
    let attributes = Attributes::new()?;
    let argv: Vec<*const libc::c_char> = program
        .argv
        .iter()
        .map(|arg| arg.as_ptr())
        .chain(std::iter::once(std::ptr::null()))
        .collect();
    let envp = program.envp();
    let path = &program.argv[0];
    let search = !path.to_bytes().contains(&b'/');
    let mut pid: libc::pid_t = 0;
    // SAFETY: `pid` is a valid out-pointer; `path` is a C string; `actions` and
    // `attributes` are initialised and outlive the call; `argv` and `envp` are arrays of
    // pointers to C strings that live in `program` and `base_env()` past the call, each
    // ending with a null pointer. posix_spawn(p) only reads them.
    let rc = unsafe {
        let spawn = if search {
            libc::posix_spawnp
        } else {
            libc::posix_spawn
        };
        spawn(
            &raw mut pid,
            path.as_ptr(),
            &raw const actions.0,
            &raw const attributes.0,
            argv.as_ptr().cast(),
            envp.as_ptr().cast(),
        )
    };
    if rc != 0 {
        return Err(io::Error::from_raw_os_error(rc));
    }
    let pid = Pid::from_raw(pid);
    // SAFETY: the pidfd is owned by the `AsyncFd`, which keeps it open until it drops.
    let registered = |fd: OwnedFd| unsafe { AsyncFd::register(fd) }.map_err(io::Error::from);
    let pidfd = match pidfd_open(pid.as_raw()).and_then(registered) {
        Ok(pidfd) => pidfd,
        Err(err) => {
            // Without it the child could not be waited for; do not leave it running.
            let _ = kill(pid, Signal::SIGKILL);
            let _ = nix::sys::wait::waitpid(pid, None);
            return Err(err);
        }
    };
    Ok(Child {
        pid,
        pidfd,
        status: None,
    })
}

impl Child {
    /// The process id (also its process group id).
    pub(super) fn id(&self) -> u32 {
        self.pid.as_raw().cast_unsigned()
    }

    /// How it ended, if it has; reaps it.
    pub(super) fn try_wait(&mut self) -> io::Result<Option<ExitStatus>> {
        if self.status.is_none() {
            self.status = reap(self.pidfd.get_ref().as_fd())?;
        }
        Ok(self.status)
    }

    /// Wait for it to end, and reap it.
    pub(super) async fn wait(&mut self) -> io::Result<ExitStatus> {
        loop {
            if let Some(status) = self.try_wait()? {
                return Ok(status);
            }
            // A pidfd turns readable when its process ends.
            let mut ready = self.pidfd.readable().await?;
            ready.clear_ready();
        }
    }

    /// Send it SIGKILL unless it was reaped already (until then its pid is still its own).
    pub(super) fn start_kill(&mut self) {
        if self.status.is_none() {
            let _ = kill(self.pid, Signal::SIGKILL);
        }
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        if self.status.is_some() {
            return;
        }
        self.start_kill();
        if let Ok(None) = self.try_wait() {
            let pidfd = self.pidfd.get_ref().try_clone();
            if let Ok(pidfd) = pidfd {
                orphans().push(pidfd);
            }
        }
    }
}

/// Killed children not reaped yet, by their pidfds.
fn orphans() -> std::sync::MutexGuard<'static, Vec<OwnedFd>> {
    static ORPHANS: Mutex<Vec<OwnedFd>> = Mutex::new(Vec::new());
    ORPHANS
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn reap_orphans() {
    let mut orphans = orphans();
    if !orphans.is_empty() {
        orphans.retain(|pidfd| matches!(reap(pidfd.as_fd()), Ok(None)));
    }
}

/// `waitid` on a pidfd without blocking: the status when the process has ended.
fn reap(pidfd: BorrowedFd<'_>) -> io::Result<Option<ExitStatus>> {
    match waitid(
        Id::PIDFd(pidfd),
        WaitPidFlag::WEXITED | WaitPidFlag::WNOHANG,
    ) {
        Ok(WaitStatus::Exited(_, code)) => Ok(Some(ExitStatus::from_raw((code & 0xff) << 8))),
        Ok(WaitStatus::Signaled(_, signal, core)) => Ok(Some(ExitStatus::from_raw(
            signal as i32 | if core { 0x80 } else { 0 },
        ))),
        Ok(_) => Ok(None),
        Err(errno) => Err(errno.into()),
    }
}

fn pidfd_open(pid: libc::pid_t) -> io::Result<OwnedFd> {
    // SAFETY: pidfd_open takes a pid and flags and returns a new descriptor or -1; it
    // touches no memory of ours.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    let fd = RawFd::try_from(fd).map_err(io::Error::other)?;
    // SAFETY: the kernel just returned `fd` as a new descriptor (close-on-exec by
    // default) that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// `posix_spawn_file_actions_t`: the working directory, and stdin, stdout and stderr.
#[repr(transparent)]
struct FileActions(libc::posix_spawn_file_actions_t);

impl FileActions {
    // Boxed: glibc keeps no pointer into the object, but nothing promises that.
    fn new(cwd: &CStr, stdin: RawFd, output: RawFd) -> io::Result<Box<Self>> {
        // SAFETY: init fills in the zeroed object; once it succeeds the box is a valid
        // file-actions object, destroyed once in Drop.
        let mut actions = unsafe {
            let mut actions = Box::new(MaybeUninit::<libc::posix_spawn_file_actions_t>::zeroed());
            check(libc::posix_spawn_file_actions_init(actions.as_mut_ptr()))?;
            Box::from_raw(Box::into_raw(actions).cast::<Self>())
        };
        let fa = &raw mut actions.0;
        // SAFETY: `fa` is initialised; `cwd` is a C string the call copies.
        unsafe {
            check(libc::posix_spawn_file_actions_addchdir_np(fa, cwd.as_ptr()))?;
            check(libc::posix_spawn_file_actions_adddup2(fa, stdin, 0))?;
            check(libc::posix_spawn_file_actions_adddup2(fa, output, 1))?;
            check(libc::posix_spawn_file_actions_adddup2(fa, output, 2))?;
        }
        Ok(actions)
    }
}

impl Drop for FileActions {
    fn drop(&mut self) {
        // SAFETY: initialised in `new`, destroyed only here.
        unsafe { libc::posix_spawn_file_actions_destroy(&raw mut self.0) };
    }
}

/// `posix_spawnattr_t`: a new process group, an empty signal mask, SIGPIPE at default.
#[repr(transparent)]
struct Attributes(libc::posix_spawnattr_t);

impl Attributes {
    fn new() -> io::Result<Box<Self>> {
        // SAFETY: as for `FileActions::new`; the signal sets are initialised by
        // sigemptyset before use and copied by the setters.
        unsafe {
            let mut attributes = Box::new(MaybeUninit::<libc::posix_spawnattr_t>::zeroed());
            check(libc::posix_spawnattr_init(attributes.as_mut_ptr()))?;
            let mut attributes = Box::from_raw(Box::into_raw(attributes).cast::<Self>());
            let attr = &raw mut attributes.0;
            let mut set = MaybeUninit::<libc::sigset_t>::zeroed();
            libc::sigemptyset(set.as_mut_ptr());
            check(libc::posix_spawnattr_setsigmask(attr, set.as_ptr()))?;
            libc::sigaddset(set.as_mut_ptr(), libc::SIGPIPE);
            check(libc::posix_spawnattr_setsigdefault(attr, set.as_ptr()))?;
            check(libc::posix_spawnattr_setpgroup(attr, 0))?;
            let flags = libc::POSIX_SPAWN_SETPGROUP
                | libc::POSIX_SPAWN_SETSIGMASK
                | libc::POSIX_SPAWN_SETSIGDEF;
            check(libc::posix_spawnattr_setflags(
                attr,
                libc::c_short::try_from(flags).map_err(io::Error::other)?,
            ))?;
            Ok(attributes)
        }
    }
}

impl Drop for Attributes {
    fn drop(&mut self) {
        // SAFETY: initialised in `new`, destroyed only here.
        unsafe { libc::posix_spawnattr_destroy(&raw mut self.0) };
    }
}

/// The `posix_spawn` family returns an error number rather than setting `errno`.
fn check(rc: libc::c_int) -> io::Result<()> {
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::from_raw_os_error(rc))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::process::ExitStatusExt;

    #[test]
    fn this_kernel_starts_modules_directly() {
        // Linux 5.4 or later here; on an older kernel modules go through `Command`.
        assert!(available());
    }

    #[test]
    fn a_key_ends_at_the_first_equals_sign() {
        assert_eq!(key_of(b"A=b=c"), b"A");
        assert_eq!(key_of(b"=C:=x"), b"=C:");
    }

    #[test]
    fn a_program_with_a_path_of_its_own_goes_through_command() {
        let argv = [OsString::from("true")];
        let cwd = std::path::Path::new("/");
        assert!(Program::new(&argv, [("PATH", "/bin")], cwd).is_none());
        assert!(Program::new(&argv, [("A", "b\0")], cwd).is_none());
        assert!(Program::new(&[], [("A", "b")], cwd).is_none());
        assert!(Program::new(&argv, [("A", "b")], cwd).is_some());
    }

    #[test]
    fn the_module_overrides_a_variable_upkeep_has() {
        let (key, _) = std::env::vars_os().next().expect("some environment");
        let argv = [OsString::from("true")];
        let cwd = std::path::Path::new("/");
        let program = Program::new(&argv, [(key.clone(), OsString::from("mine"))], cwd).unwrap();
        let envp = program.envp();
        let prefix = [key.as_bytes(), b"="].concat();
        let vars: Vec<Vec<u8>> = envp
            .iter()
            .take_while(|p| !p.is_null())
            // SAFETY: every entry before the null points at a C string of `program` or
            // `base_env()`, both alive here.
            .map(|&p| unsafe { CStr::from_ptr(p) }.to_bytes().to_vec())
            .filter(|var| var.starts_with(&prefix))
            .collect();
        assert_eq!(vars, vec![[prefix.as_slice(), b"mine"].concat()]);
    }

    /// Start `argv` in `cwd` with its output in `out`, on the current runtime.
    fn start(argv: &[&str], cwd: &std::path::Path, out: &fs_err::File) -> io::Result<Child> {
        let argv: Vec<OsString> = argv.iter().map(OsString::from).collect();
        let program = Program::new(&argv, [("UPKEEP_TEST", "1")], cwd).unwrap();
        let null = fs_err::File::open("/dev/null").unwrap();
        spawn(&program, null.file().as_fd(), out.file().as_fd())
    }

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    }

    #[test]
    fn a_child_runs_in_its_directory_with_its_variables_and_its_exit_is_seen() {
        let tmp = tempfile::tempdir().unwrap();
        let log_path = tmp.path().join("out.log");
        let log = fs_err::File::create(&log_path).unwrap();
        let status = runtime().block_on(async {
            let script = "pwd -P; echo \"var=$UPKEEP_TEST\"; echo oops >&2; exit 3";
            let mut child = start(&["sh", "-c", script], tmp.path(), &log).unwrap();
            child.wait().await.unwrap()
        });
        assert_eq!(status.code(), Some(3));
        let out = fs_err::read_to_string(&log_path).unwrap();
        let dir = tmp.path().canonicalize().unwrap();
        assert_eq!(out, format!("{}\nvar=1\noops\n", dir.display()));
    }

    #[test]
    fn a_signal_that_ends_a_child_is_its_status() {
        let log = fs_err::File::create("/dev/null").unwrap();
        let status = runtime().block_on(async {
            let mut child = start(
                &["sh", "-c", "kill -TERM $$"],
                std::path::Path::new("/"),
                &log,
            )
            .unwrap();
            child.wait().await.unwrap()
        });
        assert_eq!(status.signal(), Some(libc::SIGTERM));
    }

    #[test]
    fn a_program_that_does_not_exist_is_an_error_not_a_child() {
        let log = fs_err::File::create("/dev/null").unwrap();
        let err = runtime()
            .block_on(async { start(&["/no/such/program"], std::path::Path::new("/"), &log) })
            .unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::NotFound);
    }

    #[test]
    fn a_child_dropped_while_running_is_killed_and_reaped_later() {
        let log = fs_err::File::create("/dev/null").unwrap();
        let rt = runtime();
        let pid = rt.block_on(async {
            let child = start(&["sleep", "30"], std::path::Path::new("/"), &log).unwrap();
            let pid = child.id();
            drop(child);
            pid
        });
        // Killed at once; until something reaps it, it is a zombie of this process.
        let state = || {
            fs_err::read_to_string(format!("/proc/{pid}/stat"))
                .ok()
                .and_then(|s| {
                    s.rsplit_once(')')
                        .map(|(_, rest)| rest.trim_start().as_bytes()[0])
                })
        };
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while !matches!(state(), Some(b'Z') | None) {
            assert!(
                std::time::Instant::now() < deadline,
                "pid {pid} still running"
            );
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        // The next start reaps it.
        rt.block_on(async {
            let mut other = start(&["true"], std::path::Path::new("/"), &log).unwrap();
            other.wait().await.unwrap();
        });
        assert_eq!(state(), None, "pid {pid} was not reaped");
    }
}
