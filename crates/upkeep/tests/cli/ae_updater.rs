//! ae.updater to the letter, from the user's side: where `{usr}` and the other ae.paths
//! placeholders put files, the order of folders within one call, dot-files, refused files,
//! names that are not UTF-8, modification times, and `prerun` meeting an update run.

use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use crate::fixture::{Gate, Host, output};

fn write(path: &Path, text: &str) {
    fs_err::create_dir_all(path.parent().unwrap()).unwrap();
    fs_err::write(path, text).unwrap();
}

/// A host whose home and config directory are its own, and an application root in it.
struct App {
    host: Host,
    home: PathBuf,
    config: PathBuf,
    root: PathBuf,
}

impl App {
    fn new(name: &str) -> Self {
        let host = Host::new();
        let home = host.root.join("home");
        let config = host.root.join("xdg-config");
        let root = host.root.join(name);
        fs_err::create_dir_all(&home).unwrap();
        fs_err::create_dir_all(&root).unwrap();
        Self {
            host,
            home,
            config,
            root,
        }
    }

    /// `upkeep ARGS --root ROOT` with this app's `HOME` and `XDG_CONFIG_HOME`.
    fn upkeep(&self, args: &[&str]) -> assert_cmd::Command {
        let mut cmd = self.host.upkeep();
        cmd.env("HOME", &self.home)
            .env("XDG_CONFIG_HOME", &self.config)
            .args(args)
            .arg("--root")
            .arg(&self.root);
        cmd
    }
}

/// Regression: `{usr}` was the data directory (`~/.local/share`), so every folder without
/// `ToPath__` deployed somewhere else than ae.updater puts it.
#[test]
fn usr_is_xdg_config_home_or_dot_config_as_in_ae_paths() {
    let app = App::new("app");
    write(&app.root.join("ae_updater_copies/settings.json"), "{}");
    let (code, stdout, stderr) = output(&app.upkeep(&["files", "apply"]).assert());
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(app.config.join("settings.json").is_file(), "{stdout}");

    // Without XDG_CONFIG_HOME: ~/.config; a relative one is taken below the home.
    let app = App::new("app");
    write(&app.root.join("ae_updater_copies/a.json"), "{}");
    app.upkeep(&["files", "apply"])
        .env_remove("XDG_CONFIG_HOME")
        .assert()
        .success();
    assert!(app.home.join(".config/a.json").is_file());
    write(&app.root.join("ae_updater_copies/b.json"), "{}");
    app.upkeep(&["files", "apply"])
        .env("XDG_CONFIG_HOME", "rel-config")
        .assert()
        .success();
    assert!(app.home.join("rel-config/b.json").is_file());
}

/// Regression: `{app}`, `{ado}`, `{doc}` and `{app_name}` were refused as unknown.
#[test]
fn ae_paths_placeholders_resolve_as_on_linux() {
    let app = App::new("notes");
    for (to_path, file) in [
        ("\u{FE5B}app\u{FE5C}", "app.txt"),
        ("\u{FE5B}ado\u{FE5C}", "ado.txt"),
        ("\u{FE5B}doc\u{FE5C}\u{2044}x", "doc.txt"),
        (
            "\u{FE5B}usr\u{FE5C}\u{2044}\u{FE5B}app_name\u{FE5C}.d",
            "name.txt",
        ),
    ] {
        write(
            &app.root
                .join(format!("ae_updater_copies___ToPath__{to_path}"))
                .join(file),
            file,
        );
    }
    // A file's own name takes placeholders too (ae.paths formats it with them).
    write(
        &app.root.join("ae_updater_copies/{app_name}.ini"),
        "[notes]\n",
    );
    let (code, stdout, stderr) = output(&app.upkeep(&["files", "apply"]).assert());
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(app.config.join("notes/app.txt").is_file(), "{stdout}");
    assert!(app.home.join("Documents/notes/ado.txt").is_file());
    assert!(app.home.join("Documents/x/doc.txt").is_file());
    assert!(app.config.join("notes.d/name.txt").is_file());
    assert!(app.config.join("notes.ini").is_file(), "{stdout}");

    // `--placeholder app_name=...` names the application, and `{app}` follows it.
    write(
        &app.root
            .join("ae_updater_copies___ToPath__\u{FE5B}app\u{FE5C}/more.txt"),
        "",
    );
    app.upkeep(&["files", "apply", "--placeholder", "app_name=other"])
        .assert()
        .success();
    assert!(app.config.join("other/more.txt").is_file());
}

/// Regression: `{cwd}` was upkeep's own directory while a relative `ToPath` was taken
/// below `--root`; ae.updater's `{cwd}` is where it finds the folders.
#[test]
fn cwd_and_a_relative_to_path_agree_under_root() {
    let app = App::new("app");
    write(
        &app.root
            .join("ae_updater_copies___ToPath__\u{FE5B}cwd\u{FE5C}\u{2044}out")
            .join("a"),
        "a",
    );
    write(
        &app.root.join("ae_updater_copies___ToPath__out").join("b"),
        "b",
    );
    let (code, stdout, stderr) = output(&app.upkeep(&["files", "apply"]).assert());
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(app.root.join("out/a").is_file(), "{stdout}");
    assert!(app.root.join("out/b").is_file(), "{stdout}");
}

/// Regression: `ToPath__~⁄x` made a directory literally named `~` below the root.
#[test]
fn a_leading_tilde_is_the_home_directory() {
    let app = App::new("app");
    write(
        &app.root
            .join("ae_updater_copies___ToPath__~\u{2044}dots/rc"),
        "rc",
    );
    let (code, stdout, stderr) = output(&app.upkeep(&["files", "apply"]).assert());
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(app.home.join("dots/rc").is_file(), "{stdout}");
    assert!(!app.root.join("~").exists());
}

/// Regression: the default and its override were planned from one snapshot; the default
/// was written and the override skipped, then refused on the next call.
#[test]
fn a_default_and_its_override_end_as_ae_updater_leaves_them_in_one_call() {
    let app = App::new("app");
    write(&app.root.join("ae_updater_copies/settings.json"), "default");
    write(
        &app.root
            .join("ae_updater_over_copies___OnOS__linux/settings.json"),
        "linux",
    );
    write(&app.root.join("ae_updater_moves/settings.json"), "moved");
    write(
        &app.root.join("ae_updater_over_moves/settings.json"),
        "last",
    );
    let (code, stdout, stderr) = output(&app.upkeep(&["files", "apply"]).assert());
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert_eq!(
        fs_err::read_to_string(app.config.join("settings.json")).unwrap(),
        "last"
    );
    assert!(
        app.root.join("ae_updater_moves/settings.json").exists(),
        "a move that does not overwrite leaves its file in the source"
    );
    assert!(stdout.contains("3 processed, 0 failed"), "{stdout}");
    // The next call copies the override again (as ae.updater does), then the plan says
    // what each step sees.
    let (code, stdout, _) = output(&app.upkeep(&["files", "plan"]).assert());
    assert_eq!(code, 0, "{stdout}");
    let (code, stdout, stderr) = output(&app.upkeep(&["files", "apply"]).assert());
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert_eq!(
        fs_err::read_to_string(app.config.join("settings.json")).unwrap(),
        "linux"
    );
}

/// Regression: a `.gitkeep` keeping an empty source folder in git was deployed.
#[test]
fn dot_files_stay_in_their_source_folder() {
    let app = App::new("app");
    write(&app.root.join("ae_updater_moves/.gitkeep"), "");
    write(&app.root.join("ae_updater_copies/.hidden/x"), "");
    write(&app.root.join("ae_updater_copies/conf/.keep"), "");
    write(&app.root.join("ae_updater_copies/conf/app.ini"), "");
    let (code, stdout, stderr) = output(&app.upkeep(&["files", "apply"]).assert());
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(app.root.join("ae_updater_moves/.gitkeep").exists());
    assert!(!app.config.join(".gitkeep").exists());
    assert!(!app.config.join(".hidden").exists());
    assert!(!app.config.join("conf/.keep").exists());
    assert!(app.config.join("conf/app.ini").exists());
}

/// Regression: refused files were counted as "left alone" and the exit code was 0.
#[test]
fn refused_files_are_named_and_exit_3() {
    let app = App::new("app");
    write(&app.root.join("ae_updater_copies___OnOS__windows/a"), "");
    write(&app.root.join("ae_updater_copies/fine"), "");
    for command in [&["files", "apply"][..], &["prerun"]] {
        let (code, stdout, stderr) = output(&app.upkeep(command).assert());
        assert_eq!(code, 3, "{stdout}{stderr}");
        assert!(
            stdout.contains("REFUSED ae_updater_copies___OnOS__windows/a: folder name"),
            "{stdout}"
        );
        assert!(stdout.contains("1 refused"), "{stdout}");
    }
    assert!(app.config.join("fine").exists(), "the others go on");
}

/// Regression: names that are not UTF-8 were refused; ae.updater deploys them.
#[test]
fn names_that_are_not_utf8_are_deployed() {
    let app = App::new("app");
    let name = std::ffi::OsStr::from_bytes(b"caf\xe9.txt");
    let source = app.root.join("ae_updater_moves/sub").join(name);
    write(&source, "latin-1");
    let (code, stdout, stderr) = output(&app.upkeep(&["files", "apply"]).assert());
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert_eq!(
        fs_err::read_to_string(app.config.join("sub").join(name)).unwrap(),
        "latin-1"
    );
    assert!(!source.exists());
    let (code, stdout, _) = output(&app.upkeep(&["--json", "files", "plan"]).assert());
    assert_eq!(code, 0, "{stdout}");
}

/// Regression: copies got the time of the copy; `shutil.copy2` keeps the source's.
#[test]
fn copies_keep_the_sources_modification_time_and_mode() {
    let app = App::new("app");
    let source = app.root.join("ae_updater_copies/bin/tool");
    write(&source, "#!/bin/sh\n");
    let file = fs_err::File::options().write(true).open(&source).unwrap();
    let then = std::time::SystemTime::UNIX_EPOCH + std::time::Duration::new(1_500_000_000, 123);
    file.set_modified(then).unwrap();
    drop(file);
    fs_err::set_permissions(&source, std::os::unix::fs::PermissionsExt::from_mode(0o750)).unwrap();
    app.upkeep(&["files", "apply"]).assert().success();
    let copied = fs_err::metadata(app.config.join("bin/tool")).unwrap();
    assert_eq!(copied.modified().unwrap(), then);
    assert_eq!(copied.mode() & 0o7777, 0o750);
}

/// Regression: `prerun` exited 5 while a run held the lock, skipping the application's
/// start-up hook, and its hint named `--wait`, which it does not accept.
#[test]
fn prerun_waits_for_an_update_run_instead_of_skipping() {
    use std::io::BufRead;
    let mut app = App::new("app");
    let gate = Gate::manifest(&mut app.host);
    write(
        &app.root.join("ae_pre_app_run.py"),
        "def run_updater():\n    open('started', 'a').write('x')\n",
    );
    let holder = gate.hold(&app.host);

    let (code, stdout, stderr) = output(&app.upkeep(&["prerun", "--wait-timeout", "0s"]).assert());
    assert_eq!(code, 5, "{stdout}{stderr}");
    assert!(stderr.contains("--wait-timeout"), "{stderr}");
    assert!(!stderr.contains("`--wait`"), "{stderr}");

    let mut waiting = app
        .host
        .upkeep_process()
        .env("HOME", &app.home)
        .env("XDG_CONFIG_HOME", &app.config)
        .args(["prerun", "--root"])
        .arg(&app.root)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufReader::new(waiting.stderr.take().unwrap()).lines();
    let first = lines.next().unwrap().unwrap();
    assert!(first.contains("waiting up to 10m"), "{first}");
    assert!(!app.root.join("started").exists(), "it waits for the run");
    gate.open(holder);
    assert!(waiting.wait().unwrap().success());
    assert_eq!(
        fs_err::read_to_string(app.root.join("started")).unwrap(),
        "x"
    );
}
