//! Python interpreters started ahead of their modules (`exec::Warm`): the interpreter starts
//! while upkeep plans, records the run and verifies the module, but nothing from the updates
//! directory runs before the module's checksum matches; the interpreter's own start-up
//! output is kept in the module's log; and a module never runs in an interpreter that
//! started before its requirements ended.

use std::path::{Path, PathBuf};

use crate::fixture::{Host, output};
use crate::process_hygiene::wait_for;

/// `python3 -m venv --without-pip updates/venv`: upkeep then uses `venv/bin/python`, a
/// binary, which it starts before it even takes the lock. Returns its site-packages.
fn venv(host: &Host) -> PathBuf {
    let venv = host.updates.join("venv");
    #[expect(clippy::disallowed_methods, reason = "tests drive processes directly")]
    let status = std::process::Command::new("python3")
        .args(["-m", "venv", "--without-pip"])
        .arg(&venv)
        .status()
        .expect("run python3 -m venv");
    assert!(status.success(), "python3 -m venv failed");
    let lib = venv.join("lib");
    let version = fs_err::read_dir(&lib)
        .unwrap()
        .filter_map(Result::ok)
        .find(|e| e.file_name().to_string_lossy().starts_with("python"))
        .expect("venv/lib/pythonX.Y");
    version.path().join("site-packages")
}

/// Live processes whose working directory is `dir` and whose command line holds the
/// bootstrap's `--wait`: interpreters started ahead and still waiting (or running).
fn warm_interpreters_in(dir: &Path) -> Vec<i32> {
    let Ok(entries) = fs_err::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| crate::process_hygiene::alive(*pid))
        .filter(|pid| fs_err::read_link(format!("/proc/{pid}/cwd")).is_ok_and(|cwd| cwd == dir))
        .filter(|pid| {
            fs_err::read(format!("/proc/{pid}/cmdline"))
                .is_ok_and(|cmdline| cmdline.split(|&b| b == 0).any(|arg| arg == b"--wait"))
        })
        .collect()
}

#[test]
fn a_refused_python_module_never_runs_and_its_interpreter_is_stopped() {
    let mut host = Host::new();
    venv(&host);
    let marker = host.root.join("imported.txt");
    host.python_module("app", "def main(args):\n    pass\n");
    host.manifest_toml("[[module]]\nname = \"app\"\npython = \"app.index\"\n");
    host.approve();
    // Tampered after approval: importing it would leave the marker.
    host.write(
        "app/index.py",
        &format!(
            "open({:?}, 'w').write('imported')\n\ndef main(args):\n    pass\n",
            marker.to_str().unwrap()
        ),
    );
    let run = host.upkeep().arg("run").assert();
    let (code, stdout, _) = output(&run);
    assert_eq!(code, upkeep_core::exit_codes::INTEGRITY_REFUSED, "{stdout}");
    assert!(stdout.contains("changed: index.py"), "{stdout}");
    assert!(
        !marker.exists(),
        "the tampered module was imported by an interpreter started ahead"
    );
    wait_for("no interpreter left waiting", || {
        warm_interpreters_in(&host.updates).is_empty()
    });
}

#[test]
fn a_run_with_no_python_module_to_run_leaves_no_interpreter_behind() {
    let mut host = Host::new();
    venv(&host);
    host.python_module("app", "def main(args):\n    pass\n");
    host.manifest_toml("[[module]]\nname = \"app\"\npython = \"app.index\"\n");
    host.approve();
    host.upkeep().arg("run").assert().success();
    // Up to date: the interpreter started before the plan is not needed.
    let again = host.upkeep().arg("run").assert().success();
    assert!(
        output(&again).1.contains("up to date"),
        "{}",
        output(&again).1
    );
    wait_for("no interpreter left waiting", || {
        warm_interpreters_in(&host.updates).is_empty()
    });
}

#[test]
fn the_interpreters_start_up_output_and_the_modules_output_share_its_log() {
    let mut host = Host::new();
    let site = venv(&host);
    fs_err::write(
        site.join("sitecustomize.py"),
        "import sys\nsys.stderr.write('sitecustomize says hello\\n')\n",
    )
    .unwrap();
    host.python_module(
        "app",
        "import os, sys\n\ndef main(args):\n    print('module says hi', os.environ['UPKEEP_MODULE'], os.getcwd())\n    sys.stdout.flush()\n    assert sys.stdin.read() == ''\n",
    );
    host.manifest_toml("[[module]]\nname = \"app\"\npython = \"app.index\"\n");
    host.approve();
    host.upkeep().arg("run").assert().success();
    let log = fs_err::read_to_string(host.state.join("logs/run-1/app.log")).unwrap();
    assert!(log.starts_with("$ python: import app.index"), "{log}");
    assert!(log.contains("sitecustomize says hello"), "{log}");
    let cwd = host.updates.join("app");
    assert!(
        log.contains(&format!("module says hi app {}", cwd.display())),
        "{log}"
    );
    // With -v the output is streamed from the interpreter's pipes instead.
    let verbose = host
        .upkeep()
        .args(["run", "-v", "--force"])
        .assert()
        .success();
    let stderr = output(&verbose).2;
    assert!(stderr.contains("app | module says hi app"), "{stderr}");
    assert!(
        stderr.contains("app ! sitecustomize says hello"),
        "{stderr}"
    );
}

/// A directory outside the virtualenv holding `extramod` (`VALUE = 42`), which a module
/// can import only once a `.pth` file points at it.
fn extra_module(host: &Host) -> std::path::PathBuf {
    let extra = host.root.join("extra");
    fs_err::create_dir_all(&extra).unwrap();
    fs_err::write(extra.join("extramod.py"), "VALUE = 42\n").unwrap();
    extra
}

#[test]
fn a_module_runs_in_an_interpreter_started_after_its_requirements_ended() {
    let mut host = Host::new();
    let site = venv(&host);
    // `installer` adds a .pth file to the virtualenv; `user` needs what it points at,
    // which only an interpreter that starts afterwards sees. `other` is independent and
    // keeps an interpreter starting while `installer` runs.
    let extra = extra_module(&host);
    host.python_module(
        "installer",
        &format!(
            "import time\n\ndef main(args):\n    time.sleep(0.3)\n    open({:?}, 'w').write({:?})\n",
            site.join("extra.pth").to_str().unwrap(),
            format!("{}\n", extra.display())
        ),
    );
    host.python_module(
        "user",
        "def main(args):\n    import extramod\n    assert extramod.VALUE == 42\n",
    );
    host.python_module("other", "def main(args):\n    pass\n");
    host.manifest_toml(
        "[[module]]\nname = \"installer\"\npython = \"installer.index\"\n\n\
         [[module]]\nname = \"user\"\npython = \"user.index\"\ndepends_on = [\"installer\"]\n\n\
         [[module]]\nname = \"other\"\npython = \"other.index\"\n",
    );
    host.approve();
    for jobs in ["1", "2"] {
        let _ = fs_err::remove_file(site.join("extra.pth"));
        let run = host.upkeep().args(["run", "--force", "-j", jobs]).assert();
        let (code, stdout, _) = output(&run);
        assert_eq!(code, 0, "-j{jobs}: {stdout}");
    }
}

#[test]
fn a_run_that_waited_for_the_lock_starts_its_interpreters_after_the_other_run() {
    let mut host = Host::new();
    let site = venv(&host);
    let extra = extra_module(&host);
    let started = host.root.join("installer-started");
    // `installer` (run by the first upkeep) adds a .pth file while the second upkeep waits
    // for the lock; `user` (run by the second) needs it.
    host.python_module(
        "installer",
        &format!(
            "import time\n\ndef main(args):\n    open({:?}, 'w').close()\n    time.sleep(0.5)\n    open({:?}, 'w').write({:?})\n",
            started.to_str().unwrap(),
            site.join("extra.pth").to_str().unwrap(),
            format!("{}\n", extra.display())
        ),
    );
    host.python_module(
        "user",
        "def main(args):\n    import extramod\n    assert extramod.VALUE == 42\n",
    );
    host.manifest_toml(
        "[[module]]\nname = \"installer\"\npython = \"installer.index\"\n\n\
         [[module]]\nname = \"user\"\npython = \"user.index\"\n",
    );
    host.approve();
    let mut first = host
        .upkeep_process()
        .args(["run", "installer"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    wait_for("the first run's module to start", || started.exists());
    let second = host.upkeep().args(["run", "--wait", "user"]).assert();
    let (code, stdout, _) = output(&second);
    assert!(first.wait().unwrap().success());
    assert_eq!(code, 0, "{stdout}");
}

#[test]
fn an_interpreter_that_cannot_start_fails_its_module_and_says_why_in_the_log() {
    let mut host = Host::new();
    host.python_module("app", "def main(args):\n    pass\n");
    host.manifest_toml(
        "[upkeep]\npython = \"missing/python\"\n\n[[module]]\nname = \"app\"\npython = \"app.index\"\n",
    );
    host.approve();
    let run = host.upkeep().arg("run").assert();
    let (code, stdout, _) = output(&run);
    assert_eq!(code, upkeep_core::exit_codes::MODULES_FAILED, "{stdout}");
    let expected = format!(
        "upkeep: start `{}`: No such file or directory",
        host.updates.join("missing/python").display()
    );
    assert!(stdout.contains(&expected), "{stdout}");
    let log = fs_err::read_to_string(host.state.join("logs/run-1/app.log")).unwrap();
    assert!(log.contains(&expected), "{log}");
}

/// The real interpreter's path, asked of `python3` on `PATH` (which may itself be a shim).
fn real_python() -> String {
    #[expect(clippy::disallowed_methods, reason = "tests drive processes directly")]
    let out = std::process::Command::new("python3")
        .args(["-c", "import sys; sys.stdout.write(sys.executable)"])
        .output()
        .expect("run python3");
    String::from_utf8(out.stdout).unwrap()
}

/// Python modules `names`, each with `body`, run by the interpreter `shim/python3`;
/// approved.
fn behind_the_shim(host: &mut Host, names: &[&str], body: &str) {
    use std::fmt::Write as _;
    let mut manifest = String::from("[upkeep]\npython = \"shim/python3\"\n");
    for name in names {
        host.python_module(name, body);
        let _ = write!(
            manifest,
            "\n[[module]]\nname = \"{name}\"\npython = \"{name}.index\"\n"
        );
    }
    host.manifest_toml(&manifest);
    host.approve();
}

#[test]
fn a_version_manager_shim_starts_the_first_interpreter_and_later_ones_start_without_it() {
    let mut host = Host::new();
    let real = real_python();
    let starts = host.root.join("shim-starts.txt");
    // A shim as pyenv's: a script that finds the interpreter and execs it. It notes its
    // last argument: `--wait` when it starts a module's interpreter.
    host.script(
        "shim/python3",
        &format!(
            "for arg; do last=$arg; done\necho \"$last\" >> '{}'\nexec '{real}' \"$@\"",
            starts.display()
        ),
    );
    let seen = host.root.join("executables.txt");
    behind_the_shim(
        &mut host,
        &["one", "two", "three"],
        &format!(
            "import sys\n\ndef main(args):\n    open({:?}, 'a').write(sys.executable + '\\n')\n",
            seen.to_str().unwrap()
        ),
    );
    let run = host.upkeep().args(["run", "-j2"]).assert();
    let (code, stdout, stderr) = output(&run);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    let executables = fs_err::read_to_string(&seen).unwrap();
    assert_eq!(
        executables.lines().collect::<Vec<_>>(),
        vec![real.as_str(); 3],
        "every module runs in the interpreter behind the shim"
    );
    assert_eq!(
        fs_err::read_to_string(&starts)
            .unwrap()
            .lines()
            .collect::<Vec<_>>(),
        vec!["--wait"],
        "the shim runs once, and that start runs a module (no process only to ask it)"
    );
}

#[test]
fn a_shim_that_fails_fails_every_python_module_with_its_message_in_the_log() {
    let mut host = Host::new();
    host.script(
        "shim/python3",
        "echo \"pyenv: version '3.99' is not installed\" >&2\nexit 127",
    );
    behind_the_shim(&mut host, &["one", "two"], "def main(args):\n    pass\n");
    let run = host.upkeep().args(["run", "-j2"]).assert();
    let (code, stdout, _) = output(&run);
    assert_eq!(code, upkeep_core::exit_codes::MODULES_FAILED, "{stdout}");
    for name in ["one", "two"] {
        let log =
            fs_err::read_to_string(host.state.join(format!("logs/run-1/{name}.log"))).unwrap();
        assert!(
            log.contains("version '3.99' is not installed"),
            "{name}: {log}"
        );
    }
}
