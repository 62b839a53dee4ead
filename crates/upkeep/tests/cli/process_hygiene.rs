//! Process hygiene: whatever a module starts ends with it. A module that ignores SIGTERM,
//! forks children and grandchildren, or escapes its process group with `setsid` leaves no
//! process behind after a timeout or a cancelled run.

use std::path::Path;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use crate::fixture::{Host, output};

/// Poll `done` every 10 ms until it holds; panic naming `what` after 10 s.
pub(crate) fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !done() {
        assert!(Instant::now() < deadline, "gave up waiting for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Whether `pid` is a live process: it exists and is neither a zombie nor dead.
pub(crate) fn alive(pid: i32) -> bool {
    let Ok(stat) = fs_err::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    // The state follows the command name, which is in parentheses and may contain spaces.
    let state = stat
        .rsplit_once(')')
        .and_then(|(_, rest)| rest.trim_start().chars().next());
    !matches!(state, None | Some('Z' | 'X' | 'x'))
}

/// The pids listed one per line in `path`.
pub(crate) fn pids_in(path: &Path) -> Vec<i32> {
    let text = fs_err::read_to_string(path).unwrap();
    text.lines()
        .map(|l| {
            l.trim()
                .parse()
                .unwrap_or_else(|_| panic!("not a pid in {}: {l:?}", path.display()))
        })
        .collect()
}

/// Wait (briefly) until none of `pids` is alive; panic listing the survivors.
pub(crate) fn assert_all_gone(pids: &[i32]) {
    let deadline = Instant::now() + Duration::from_secs(3);
    loop {
        let survivors: Vec<i32> = pids.iter().copied().filter(|&p| alive(p)).collect();
        if survivors.is_empty() {
            return;
        }
        if Instant::now() > deadline {
            let described: Vec<String> = survivors
                .iter()
                .map(|p| {
                    format!(
                        "{p}: {}",
                        fs_err::read_to_string(format!("/proc/{p}/stat"))
                            .unwrap_or_default()
                            .trim()
                    )
                })
                .collect();
            for &p in &survivors {
                let _ = kill(p, "KILL");
            }
            panic!("processes survived their module:\n{}", described.join("\n"));
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Send `signal` (a name such as `TERM`) to `pid` with kill(1).
pub(crate) fn kill(pid: i32, signal: &str) -> bool {
    #[expect(
        clippy::disallowed_methods,
        reason = "the test plays the operator sending a signal"
    )]
    let status = std::process::Command::new("kill")
        .arg(format!("-{signal}"))
        .arg(pid.to_string())
        .status()
        .unwrap();
    status.success()
}

/// Start `upkeep` with `args` against `host` without waiting for it; stdout and stderr
/// are piped.
pub(crate) fn spawn_upkeep(host: &Host, args: &[&str]) -> Child {
    #[expect(
        clippy::disallowed_methods,
        reason = "the test needs upkeep as a child it can signal"
    )]
    let mut cmd = std::process::Command::new(assert_cmd::cargo::cargo_bin("upkeep"));
    cmd.env_remove("UPKEEP_MANIFEST")
        .env_remove("UPKEEP_STATE_DIR")
        .env("NO_COLOR", "1")
        .arg("--manifest")
        .arg(host.manifest())
        .arg("--state-dir")
        .arg(&host.state)
        .args(args)
        .current_dir(&host.root)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd.spawn().unwrap()
}

/// The id of the newest run in the ledger.
pub(crate) fn latest_run(host: &Host) -> i64 {
    host.ledger()
        .query_row("SELECT max(id) FROM runs", [], |r| r.get(0))
        .unwrap()
}

/// The process group and session in a saved copy of `/proc/PID/stat`.
fn group_and_session(stat: &Path) -> (i32, i32) {
    let text = fs_err::read_to_string(stat).unwrap();
    let fields: Vec<i32> = text
        .rsplit_once(')')
        .unwrap()
        .1
        .split_whitespace()
        .skip(1)
        .take(4)
        .map(|f| f.parse().unwrap())
        .collect();
    // After the state: ppid, pgrp, session, tty.
    (fields[1], fields[2])
}

fn work_dir(host: &Host, module: &str) -> std::path::PathBuf {
    host.state.join("work").join(module)
}

/// Ignores SIGTERM (and so do its children, which inherit the ignored disposition), starts
/// three children and a grandchild through an intermediate shell, records every pid, then
/// waits forever.
const STUBBORN: &str = r#"
trap '' TERM
mkdir -p "$UPKEEP_WORK_DIR"
pids="$UPKEEP_WORK_DIR/pids"
: > "$pids"
sleep 1000 & echo $! >> "$pids"
sleep 1000 & echo $! >> "$pids"
sleep 1000 & echo $! >> "$pids"
sh -c 'sleep 1000 & echo $! >> "$1"; wait' intermediate "$pids" & echo $! >> "$pids"
echo $$ >> "$pids"
while [ "$(wc -l < "$pids")" -lt 6 ]; do sleep 0.01; done
touch "$UPKEEP_WORK_DIR/ready"
wait
"#;

#[test]
fn timed_out_module_leaves_no_process_behind() {
    let mut host = Host::new();
    let stubborn = host.script("stubborn.sh", STUBBORN);
    host.manifest_toml(&format!(
        r#"
[[module]]
name = "stubborn"
command = ["{}"]

[[module]]
name = "after"
command = ["/bin/true"]
depends_on = ["stubborn"]

[[module]]
name = "independent"
command = ["/bin/true"]
"#,
        stubborn.display()
    ));
    let assert = host
        .upkeep()
        .args(["run", "--timeout", "1s", "--grace", "300ms", "-j", "2"])
        .assert();
    let (code, stdout, stderr) = output(&assert);
    assert_eq!(code, 3, "stdout:\n{stdout}\nstderr:\n{stderr}");
    let run = latest_run(&host);
    assert_eq!(
        host.outcomes(run),
        [
            ("after".into(), "blocked".into()),
            ("independent".into(), "succeeded".into()),
            ("stubborn".into(), "timed-out".into())
        ]
    );
    let work = work_dir(&host, "stubborn");
    assert!(
        work.join("ready").exists(),
        "the module got going before its timeout"
    );
    let pids = pids_in(&work.join("pids"));
    assert_eq!(
        pids.len(),
        6,
        "three children, the intermediate shell, the grandchild and the module: {pids:?}"
    );
    assert_all_gone(&pids);
    let log =
        fs_err::read_to_string(host.state.join(format!("logs/run-{run}/stubborn.log"))).unwrap();
    assert!(
        log.contains("timed out"),
        "the log says why the module ended:\n{log}"
    );
}

/// Records its pid and a child's, marks that it started, then waits for the child.
const WAITER: &str = r#"
mkdir -p "$UPKEEP_WORK_DIR"
sleep 1000 & echo $! >> "$UPKEEP_WORK_DIR/pids"
echo $$ >> "$UPKEEP_WORK_DIR/pids"
touch "$UPKEEP_WORK_DIR/started"
wait
"#;

fn cancel_with(signal: &str) {
    let mut host = Host::new();
    let waiter = host.script("waiter.sh", WAITER);
    host.manifest_toml(&format!(
        r#"
[[module]]
name = "first"
command = ["{}"]

[[module]]
name = "second"
command = ["/bin/true"]
depends_on = ["first"]
"#,
        waiter.display()
    ));
    let mut upkeep = spawn_upkeep(&host, &["run", "-j", "1", "--grace", "300ms"]);
    let started = work_dir(&host, "first").join("started");
    wait_for("the module to start", || started.exists());
    let pid = i32::try_from(upkeep.id()).unwrap();
    assert!(kill(pid, signal), "send SIG{signal} to upkeep");
    // Bounded: the module is stopped with SIGTERM, then SIGKILL after 300 ms.
    wait_for("upkeep to exit", || upkeep.try_wait().unwrap().is_some());
    let out = upkeep.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(130),
        "SIG{signal} cancels the run; stderr:\n{stderr}"
    );
    let run = latest_run(&host);
    assert_eq!(
        host.outcomes(run),
        [
            ("first".into(), "cancelled".into()),
            ("second".into(), "cancelled".into())
        ]
    );
    let result: String = host
        .ledger()
        .query_row("SELECT result FROM runs WHERE id = ?1", [run], |r| r.get(0))
        .unwrap();
    assert_eq!(result, "cancelled");
    let pids = pids_in(&work_dir(&host, "first").join("pids"));
    assert_eq!(pids.len(), 2, "{pids:?}");
    assert_all_gone(&pids);
}

#[test]
fn sigterm_cancels_the_run_and_stops_its_modules() {
    cancel_with("TERM");
}

#[test]
fn sigint_cancels_the_run_and_stops_its_modules() {
    cancel_with("INT");
}

/// Ignores SIGTERM, double-forks a process that starts its own session (so it is in
/// neither the module's process group nor its session) and has a child of its own, records
/// the escapees' pids, then hangs.
const ESCAPER: &str = r#"
trap '' TERM
w="$UPKEEP_WORK_DIR"
mkdir -p "$w"
(setsid sh -c 'cat /proc/$$/stat > "$1/escapee.stat"; sleep 1000 & echo $! > "$1/escapee.tmp"; echo $$ >> "$1/escapee.tmp"; mv "$1/escapee.tmp" "$1/escapee"; wait' escapee "$w" &)
while [ ! -e "$w/escapee" ]; do sleep 0.01; done
cat /proc/$$/stat > "$w/module.stat"
echo $$ > "$w/module"
sleep 1000
"#;

#[test]
fn setsid_escapee_is_killed_with_its_module() {
    let mut host = Host::new();
    let script = host.script("escaper.sh", ESCAPER);
    host.manifest_toml(&format!(
        r#"
[[module]]
name = "escaper"
command = ["{}"]
"#,
        script.display()
    ));
    let assert = host
        .upkeep()
        .args(["run", "--timeout", "1s", "--grace", "300ms"])
        .assert();
    let (code, stdout, stderr) = output(&assert);
    assert_eq!(code, 3, "stdout:\n{stdout}\nstderr:\n{stderr}");
    assert_eq!(
        host.outcomes(latest_run(&host)),
        [("escaper".into(), "timed-out".into())]
    );
    let work = work_dir(&host, "escaper");
    let escapee = pids_in(&work.join("escapee"));
    let module = pids_in(&work.join("module"));
    let (escapee_group, module_group) = (
        group_and_session(&work.join("escapee.stat")),
        group_and_session(&work.join("module.stat")),
    );
    assert_ne!(
        escapee_group.0, module_group.0,
        "the escapee left the module's process group"
    );
    assert_ne!(
        escapee_group.1, module_group.1,
        "the escapee left the module's session"
    );
    assert_eq!(escapee.len(), 2, "the escapee and its child: {escapee:?}");
    assert_all_gone(&module);
    assert_all_gone(&escapee);
}

/// Modules get their stdio and nothing else of upkeep's: not the run lock, the ledger or
/// another module's log. (Descriptors upkeep itself inherited from whoever started it are
/// passed on as they are.)
#[test]
fn modules_inherit_none_of_upkeeps_descriptors() {
    let mut host = Host::new();
    host.manifest_toml(
        "[[module]]\nname = \"fds\"\ncommand = [\"ls\", \"-l\", \"/proc/self/fd\"]\n\n\
         [[module]]\nname = \"other\"\ncommand = [\"sleep\", \"0.2\"]\n",
    );
    host.upkeep().args(["run", "-j2"]).assert().success();
    let listing = fs_err::read_to_string(host.state.join("logs/run-1/fds.log")).unwrap();
    let state = host.state.display().to_string();
    for line in listing.lines().filter(|line| line.contains(" -> ")) {
        let (fd, target) = line.split_once(" -> ").unwrap();
        let fd = fd.rsplit(' ').next().unwrap();
        if target.starts_with(&state) {
            assert!(
                matches!(fd, "1" | "2") && target.ends_with("/fds.log"),
                "leaked: {line}"
            );
        }
    }
    assert!(listing.contains("0 -> /dev/null"), "{listing}");
}

/// What a command module's process starts with, whichever way upkeep starts it: SIGPIPE at
/// its default (upkeep ignores it, as every Rust program does), nothing blocked, a process
/// group of its own, and the manifest's directory as its working directory even when
/// upkeep runs elsewhere. Streaming its output (`-v`) starts it another way, so both are
/// checked.
#[test]
fn a_module_starts_with_default_signals_its_own_group_and_the_manifest_directory() {
    for verbose in [false, true] {
        let mut host = Host::new();
        host.manifest_toml(
            "[[module]]\nname = \"status\"\ncommand = [\"sh\", \"-c\", \
             \"cat /proc/self/status; echo pgrp=$(cut -d' ' -f5 /proc/$$/stat) pid=$$; echo cwd=$(pwd -P)\"]\n",
        );
        let mut cmd = host.upkeep();
        cmd.current_dir("/").arg("run");
        if verbose {
            cmd.arg("-v");
        }
        cmd.assert().success();
        let log = fs_err::read_to_string(host.state.join("logs/run-1/status.log")).unwrap();
        let field = |name: &str| {
            log.lines()
                .find_map(|line| line.strip_prefix(name))
                .unwrap_or_else(|| panic!("no {name} in {log}"))
                .trim()
                .to_owned()
        };
        let ignored = u64::from_str_radix(&field("SigIgn:"), 16).unwrap();
        assert_eq!(ignored & (1 << (13 - 1)), 0, "SIGPIPE is ignored: {log}");
        assert_eq!(
            u64::from_str_radix(&field("SigBlk:"), 16).unwrap(),
            0,
            "{log}"
        );
        let ids = field("pgrp=");
        let (pgrp, pid) = ids.split_once(" pid=").unwrap();
        assert_eq!(
            pgrp, pid,
            "the module leads a process group of its own: {log}"
        );
        assert_eq!(field("cwd="), host.updates.display().to_string(), "{log}");
    }
}

/// A command that does not exist fails its module, with the reason in its log.
#[test]
fn a_command_that_does_not_exist_fails_its_module_and_says_why() {
    let mut host = Host::new();
    host.manifest_toml(
        "[[module]]\nname = \"missing\"\ncommand = [\"no-such-program-upkeep\"]\n\n\
         [[module]]\nname = \"relative\"\ncommand = [\"./not/here\"]\n",
    );
    let run = host.upkeep().arg("run").assert();
    let (code, stdout, _) = output(&run);
    assert_eq!(code, upkeep_core::exit_codes::MODULES_FAILED, "{stdout}");
    for (module, program) in [
        ("missing", "no-such-program-upkeep"),
        ("relative", "./not/here"),
    ] {
        let log =
            fs_err::read_to_string(host.state.join(format!("logs/run-1/{module}.log"))).unwrap();
        let expected = format!("upkeep: start `{program}`: No such file or directory");
        assert!(log.contains(&expected), "{log}");
    }
}

/// upkeep started with its standard descriptors closed (as some daemons start their
/// children; its own files may then take 0, 1 and 2) still gives every module `/dev/null`
/// as its input and its log as its output.
#[test]
fn a_module_gets_its_stdio_when_upkeep_was_started_without_any() {
    let mut host = Host::new();
    host.manifest_toml(
        "[[module]]\nname = \"io\"\ncommand = [\"sh\", \"-c\", \"echo hello; readlink /proc/self/fd/0 /proc/self/fd/2\"]\n",
    );
    let upkeep = host.upkeep_process();
    let args: Vec<String> = std::iter::once(upkeep.get_program())
        .chain(upkeep.get_args())
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    #[expect(clippy::disallowed_methods, reason = "tests drive processes directly")]
    let status = std::process::Command::new("sh")
        .arg("-c")
        .arg("exec 0<&- 1>&- 2>&- \"$@\" run")
        .arg("sh")
        .args(&args)
        .envs(upkeep.get_envs().filter_map(|(k, v)| Some((k, v?))))
        .current_dir(&host.root)
        .status()
        .unwrap();
    assert!(status.success());
    let log = fs_err::read_to_string(host.state.join("logs/run-1/io.log")).unwrap();
    let log_path = host.state.join("logs/run-1/io.log");
    let expected = format!("hello\n/dev/null\n{}\n", log_path.display());
    assert!(log.ends_with(&expected), "{log}");
}
