//! Processes upkeep starts that are not modules are contained too: a command notification
//! channel or an update-source command that starts a daemon in a session of its own
//! (`setsid`, out of its process group's reach) does not leave it running.

use crate::fixture::{Host, output};
use crate::process_hygiene::{alive, wait_for};

/// Starts a `setsid` daemon that records its pid, then exits at once.
fn escaping(pidfile: &std::path::Path) -> String {
    format!(
        "setsid sh -c 'echo $$ > {p}.tmp; mv {p}.tmp {p}; exec sleep 1000' > /dev/null 2>&1 < /dev/null & \
         while [ ! -e {p} ]; do sleep 0.01; done",
        p = pidfile.display()
    )
}

fn daemon_pid(pidfile: &std::path::Path) -> i32 {
    wait_for("the daemon's pid", || pidfile.exists());
    fs_err::read_to_string(pidfile)
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

#[test]
fn a_notification_commands_setsid_daemon_does_not_outlive_it() {
    let mut host = Host::new();
    host.manifest_toml("[[module]]\nname = \"a\"\ncommand = [\"true\"]\n");
    let pidfile = host.root.join("daemon.pid");
    fs_err::write(
        host.root.join("settings.toml"),
        format!(
            "[channels.cmd]\nkind = \"command\"\nargv = [\"sh\", \"-c\", {:?}]\n",
            escaping(&pidfile)
        ),
    )
    .unwrap();
    let (code, stdout, stderr) = output(&host.upkeep().args(["notify", "test", "cmd"]).assert());
    assert_eq!(code, 0, "{stdout}{stderr}");
    let pid = daemon_pid(&pidfile);
    wait_for("the daemon to be gone", || !alive(pid));
}

#[test]
fn an_update_source_commands_setsid_daemon_does_not_outlive_it() {
    let mut host = Host::new();
    let pidfile = host.root.join("daemon.pid");
    let script = host.script(
        "source.sh",
        &format!("{}\necho '{{\"version\": \"1.0.0\"}}'", escaping(&pidfile)),
    );
    host.manifest_toml(&format!(
        "[[module]]\nname = \"a\"\ncommand = [\"true\"]\nversion = \"1.0.0\"\n\
         source = {{ type = \"command\", command = [{:?}] }}\n",
        script.display().to_string()
    ));
    let (code, stdout, stderr) = output(&host.upkeep().args(["check"]).assert());
    assert_eq!(code, 0, "{stdout}{stderr}");
    let pid = daemon_pid(&pidfile);
    wait_for("the daemon to be gone", || !alive(pid));
}

#[test]
fn a_prerun_commands_setsid_daemon_does_not_outlive_it() {
    let host = Host::new();
    let app = host.root.join("app");
    fs_err::create_dir_all(&app).unwrap();
    let pidfile = host.root.join("daemon.pid");
    let (code, stdout, stderr) = output(
        &host
            .upkeep()
            .args(["prerun", "--root", app.to_str().unwrap(), "--command"])
            .arg(escaping(&pidfile))
            .assert(),
    );
    assert_eq!(code, 0, "{stdout}{stderr}");
    let pid = daemon_pid(&pidfile);
    wait_for("the daemon to be gone", || !alive(pid));
}
