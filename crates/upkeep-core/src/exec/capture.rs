//! Short helper commands whose output upkeep reads (git), run to completion without a
//! shell, with no standard input and a bounded time.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

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

/// Run `argv` in `cwd` and collect its output; killed after `timeout`.
///
/// # Errors
/// The program could not be started or waited for.
pub fn capture(argv: &[&str], cwd: &Path, timeout: Duration) -> std::io::Result<Captured> {
    let Some((program, rest)) = argv.split_first() else {
        return Err(std::io::Error::other("empty command"));
    };
    #[expect(
        clippy::disallowed_methods,
        reason = "exec is the one module that spawns processes"
    )]
    let mut command = std::process::Command::new(program);
    let child = command
        .args(rest)
        .current_dir(cwd)
        .env("GIT_TERMINAL_PROMPT", "0")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    let pid = child.id().cast_signed();
    let (done, finished) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = done.send(child.wait_with_output());
    });
    let output = if let Ok(output) = finished.recv_timeout(timeout) {
        output?
    } else {
        {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGKILL,
            );
            finished
                .recv()
                .map_err(|_| std::io::Error::other("helper command vanished"))??
        }
    };
    Ok(Captured {
        code: output.status.code(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    })
}
