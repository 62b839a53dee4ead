//! What upkeep starts dies with upkeep: after a `kill -9` of upkeep itself, its modules,
//! the children they forked in their process group and daemons that carry the module's
//! token are stopped at once by upkeep's sentinel, not only by the next run's recovery.
//! No next run is started here.

use std::path::Path;

use crate::fixture::Host;
use crate::process_hygiene::{alive, kill, pids_in, spawn_upkeep, wait_for};

/// Forks a child that stays in the module's process group; both append to a file in a
/// loop; the pids go to `pids` once both write.
const WRITER: &str = r#"
import os, time

def main(args):
    work = os.environ["UPKEEP_WORK_DIR"]
    os.makedirs(work, exist_ok=True)
    child = os.fork()
    name = "child.out" if child == 0 else "module.out"
    if child != 0:
        with open(os.path.join(work, "pids.tmp"), "w") as f:
            f.write("%d\n%d\n" % (os.getpid(), child))
        os.rename(os.path.join(work, "pids.tmp"), os.path.join(work, "pids"))
    with open(os.path.join(work, name), "a") as out:
        while True:
            out.write("x\n")
            out.flush()
            time.sleep(0.01)
"#;

/// The sentinels watching upkeep `pid`: processes whose command line is
/// `upkeep-sentinel PID`.
fn sentinels_of(pid: u32) -> Vec<i32> {
    let wanted = format!("upkeep-sentinel\0{pid}\0").into_bytes();
    fs_err::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter(|&p| alive(p))
        .filter(|p| fs_err::read(format!("/proc/{p}/cmdline")).is_ok_and(|c| c == wanted))
        .collect()
}

/// Kill upkeep (pid of `upkeep`) with SIGKILL and reap it, as a crash would end it.
fn crash(mut upkeep: std::process::Child) {
    let pid = i32::try_from(upkeep.id()).unwrap();
    assert!(kill(pid, "KILL"), "send SIGKILL to upkeep");
    let status = upkeep.wait().unwrap();
    assert!(!status.success(), "{status:?}");
}

/// Wait until every process in `pids` is gone; on giving up, kill them so that nothing
/// outlives the test.
fn wait_all_gone(what: &str, pids: &[i32]) {
    let cleanup = Cleanup(pids.to_vec());
    wait_for(what, || pids.iter().all(|&p| !alive(p)));
    drop(cleanup);
}

/// SIGKILLs what is still alive when dropped (a failed assertion included).
struct Cleanup(Vec<i32>);

impl Drop for Cleanup {
    fn drop(&mut self) {
        for &p in &self.0 {
            if alive(p) {
                let _ = kill(p, "KILL");
            }
        }
    }
}

fn grows(path: &Path) -> impl FnMut() -> bool + '_ {
    let mut first = None;
    move || {
        let len = fs_err::metadata(path).map_or(0, |m| m.len());
        match first {
            None => {
                first = Some(len);
                false
            }
            Some(first) => len > first,
        }
    }
}

#[test]
fn a_python_module_and_its_forked_child_die_with_a_killed_upkeep() {
    let mut host = Host::new();
    host.python_module("writer", WRITER);
    host.manifest_toml("[[module]]\nname = \"writer\"\npython = \"writer.index\"\n");
    host.approve();
    let upkeep = spawn_upkeep(&host, &["run"]);
    let work = host.state.join("work/writer");
    wait_for("the module and its child to start", || {
        work.join("pids").exists()
    });
    let pids = pids_in(&work.join("pids"));
    let _cleanup = Cleanup(pids.clone());
    assert_eq!(pids.len(), 2, "the module and its child: {pids:?}");
    wait_for("the module to write", grows(&work.join("module.out")));
    wait_for("its child to write", grows(&work.join("child.out")));
    crash(upkeep);
    wait_all_gone("the module and its child to die with upkeep", &pids);
}

/// A shell module (started with `posix_spawn`): a child in its group, and a daemon that
/// left its group and session with `setsid` but carries the module's token.
const SHELL: &str = r#"
w="$UPKEEP_WORK_DIR"
mkdir -p "$w"
sleep 1000 & echo $! > "$w/child"
setsid sh -c 'echo $$ > "$1/daemon.tmp"; mv "$1/daemon.tmp" "$1/daemon"; exec sleep 1000' daemon "$w" > /dev/null 2>&1 < /dev/null &
while [ ! -e "$w/daemon" ]; do sleep 0.01; done
echo $$ > "$w/module"
wait
"#;

#[test]
fn a_shell_module_its_child_and_its_setsid_daemon_die_with_a_killed_upkeep() {
    let mut host = Host::new();
    let script = host.script("shell.sh", SHELL);
    host.manifest_toml(&format!(
        "[[module]]\nname = \"shell\"\ncommand = [{:?}]\n",
        script.display().to_string()
    ));
    let upkeep = spawn_upkeep(&host, &["run"]);
    let work = host.state.join("work/shell");
    wait_for("the module to start", || work.join("module").exists());
    let pids: Vec<i32> = ["module", "child", "daemon"]
        .iter()
        .flat_map(|name| pids_in(&work.join(name)))
        .collect();
    let _cleanup = Cleanup(pids.clone());
    assert!(pids.iter().all(|&p| alive(p)), "{pids:?}");
    let upkeep_pid = upkeep.id();
    // Started on a thread of its own, maybe a moment after the module.
    wait_for("one sentinel to watch upkeep", || {
        sentinels_of(upkeep_pid).len() == 1
    });
    crash(upkeep);
    wait_all_gone(
        "the module, its child and its daemon to die with upkeep",
        &pids,
    );
    wait_for("the sentinel to end after its sweep", || {
        sentinels_of(upkeep_pid).is_empty()
    });
}

#[test]
fn the_sentinel_ends_with_an_upkeep_that_ends_normally() {
    let mut host = Host::new();
    host.manifest_toml("[[module]]\nname = \"quick\"\ncommand = [\"true\"]\n");
    let upkeep = spawn_upkeep(&host, &["run"]);
    let pid = upkeep.id();
    let out = upkeep.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    wait_for("the sentinel to end with upkeep", || {
        sentinels_of(pid).is_empty()
    });
}
