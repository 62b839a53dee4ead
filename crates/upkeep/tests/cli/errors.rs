//! Every error the binary reports, from the user's side: exit code, stdout and stderr of
//! one command that triggers it, snapshotted with this host's paths, pids, commits and
//! times redacted. A representative set is also run with `--json`, whose error object goes
//! to stdout. The snapshots pin the message rule of `src/error.rs`: "error: failed to
//! <action>", then "caused by:" lines, then "hint:".

use std::io::{BufRead, Write};

use crate::fixture::{Host, output};

/// `exit`, stdout and stderr of a finished command, redacted for a snapshot.
fn transcript(host: &Host, assert: &assert_cmd::assert::Assert) -> String {
    let (code, stdout, stderr) = output(assert);
    let text = format!("exit: {code}\n--- stdout\n{stdout}--- stderr\n{stderr}");
    let text = host.redact(&text);
    let pids = regex_lite::Regex::new(r"pid \d+").unwrap();
    let commits = regex_lite::Regex::new(r"\b[0-9a-f]{40}\b").unwrap();
    let stamps = regex_lite::Regex::new(r"\b\d{14}\b").unwrap();
    // The schema version this build knows grows with every migration.
    let schema = regex_lite::Regex::new(r"this upkeep knows \(\d+\)").unwrap();
    let text = schema.replace_all(&text, "this upkeep knows ([N])");
    // Archive names hold the time they were made and a random part.
    let archives = regex_lite::Regex::new(r"\d{8}_\d{6}-[^/\s]*?-[0-9a-f]{8}\.tar\.zst").unwrap();
    let text = archives.replace_all(&text, "[ARCHIVE]");
    // Free space is the test machine's.
    let free = regex_lite::Regex::new(r"\d+(\.\d+)? [KMGT]?i?B available").unwrap();
    let text = free.replace_all(&text, "[SIZE] available");
    let text = pids.replace_all(&text, "pid [PID]");
    let text = commits.replace_all(&text, "[COMMIT]");
    stamps.replace_all(&text, "[STAMP]").into_owned()
}

/// A host with two modules, `gogs` and `adblock`, that do nothing; no `source`, no paths.
fn two_modules() -> Host {
    let mut host = Host::new();
    host.manifest_toml(
        "[[module]]\nname = \"gogs\"\ncommand = [\"true\"]\n\n\
         [[module]]\nname = \"adblock\"\ncommand = [\"true\"]\n",
    );
    host
}

/// A host whose module `app` owns a data directory, so it can be backed up.
fn with_data() -> Host {
    let mut host = Host::new();
    let data = host.root.join("srv/data");
    fs_err::create_dir_all(&data).unwrap();
    fs_err::write(data.join("db"), "precious").unwrap();
    host.manifest_toml(&format!(
        "[[module]]\nname = \"app\"\nversion = 1\ncommand = [\"true\"]\npaths = [{:?}]\n",
        data.display().to_string()
    ));
    host
}

/// Snapshot `args` run on `host`, under `name`.
fn snap(host: &Host, name: &str, args: &[&str]) {
    let text = transcript(host, &host.upkeep().args(args).assert());
    insta::assert_snapshot!(name, text);
}

#[test]
fn manifest_errors() {
    let host = Host::new();
    // The manifest named with --manifest does not exist: the message says so, not which
    // system call noticed it first ("query resolved metadata").
    snap(&host, "missing_manifest", &["plan"]);
    snap(&host, "missing_manifest_json", &["--json", "plan"]);

    let mut host = Host::new();
    host.manifest_toml(
        "[[module]]\nname = \"gogs\"\ncommand = [\"true\"]\ndepends_on = [\"gog\"]\n",
    );
    snap(&host, "invalid_manifest", &["plan"]);
    snap(&host, "invalid_manifest_json", &["plan", "--json"]);

    // Neither --manifest nor a manifest in the current directory.
    let empty = Host::new();
    let text = transcript(
        &empty,
        &assert_cmd::Command::cargo_bin("upkeep")
            .unwrap()
            .env_remove("UPKEEP_MANIFEST")
            .env_remove("UPKEEP_STATE_DIR")
            .env("UPKEEP_CONFIG", empty.root.join("settings.toml"))
            .env("NO_COLOR", "1")
            .args(["--state-dir"])
            .arg(&empty.state)
            .arg("plan")
            .current_dir(&empty.root)
            .assert(),
    );
    insta::assert_snapshot!("no_manifest_found", text);
}

#[test]
fn unknown_names_offer_the_closest() {
    let host = two_modules();
    snap(&host, "unknown_target", &["run", "gog"]);
    snap(&host, "unknown_target_json", &["--json", "plan", "gog"]);
    snap(
        &host,
        "checksum_unknown_module",
        &["checksum", "--check", "gog"],
    );
    snap(&host, "check_unknown_module", &["check", "gog"]);
    snap(&host, "check_module_without_source", &["check", "gogs"]);
    snap(
        &host,
        "rollback_unknown_module",
        &["rollback", "gog", "--last-safe", "--yes"],
    );
    snap(
        &host,
        "rollback_without_target",
        &["rollback", "gogs", "--last-safe", "--yes"],
    );
}

#[test]
fn a_held_lock_names_its_holder() {
    let host = two_modules();
    fs_err::create_dir_all(&host.state).unwrap();
    let lock = host.state.join("upkeep.lock");
    #[expect(
        clippy::disallowed_methods,
        reason = "another process holds the lock, as a running upkeep would"
    )]
    let mut holder = std::process::Command::new("python3")
        .args([
            "-c",
            "import fcntl, os, sys\n\
             f = open(sys.argv[1], 'a+')\n\
             fcntl.flock(f, fcntl.LOCK_EX)\n\
             f.seek(0); f.truncate()\n\
             f.write('pid=%d\\nstarted=2026-01-02T03:04:05Z\\n' % os.getpid()); f.flush()\n\
             print('locked', flush=True)\n\
             sys.stdin.read()\n",
        ])
        .arg(&lock)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufReader::new(holder.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert_eq!(line, "locked\n");
    snap(&host, "lock_held", &["run"]);
    snap(&host, "lock_held_json", &["run", "--json"]);
    snap(&host, "checksum_lock_held", &["checksum", "--write"]);
    // Closing its stdin lets the holder go.
    holder.stdin.take().unwrap().write_all(b"").unwrap();
    holder.wait().unwrap();
}

#[test]
fn backup_errors() {
    let host = two_modules();
    snap(&host, "nothing_to_back_up", &["backup", "create"]);
    snap(
        &host,
        "back_up_an_unknown_module",
        &["backup", "create", "--module", "gog"],
    );
    snap(
        &host,
        "backup_not_found",
        &["backup", "restore", "42", "--yes"],
    );

    let host = with_data();
    snap(
        &host,
        "low_space",
        &["backup", "create", "--min-free", "4096TiB"],
    );
    snap(
        &host,
        "low_space_json",
        &["--json", "backup", "create", "--min-free", "4096TiB"],
    );
    host.upkeep()
        .args(["backup", "create", "--name", "manual"])
        .assert()
        .success();
    snap(
        &host,
        "backup_id_not_found",
        &["backup", "restore", "nope", "--yes"],
    );
    snap(
        &host,
        "restore_not_confirmed",
        &["backup", "restore", "manual"],
    );
    snap(
        &host,
        "restore_not_confirmed_json",
        &["--json", "backup", "restore", "manual"],
    );
}

#[test]
fn a_changed_archive_is_refused() {
    let host = with_data();
    host.upkeep()
        .args(["backup", "create", "--name", "manual", "--archive"])
        .assert()
        .success();

    // An archive whose bytes changed after it was recorded is refused before anything is
    // restored.
    let backups = host.state.join("backups");
    let archive = fs_err::read_dir(&backups)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.is_file())
        .unwrap();
    let mut bytes = fs_err::read(&archive).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    fs_err::write(&archive, bytes).unwrap();
    snap(
        &host,
        "archive_refused",
        &["backup", "restore", "manual", "--yes"],
    );
    snap(
        &host,
        "archive_refused_json",
        &["--json", "backup", "restore", "manual", "--yes"],
    );
    snap(
        &host,
        "verify_changed_archive",
        &["backup", "verify", "manual"],
    );
    // A missing archive: the line names what failed and the operating system's reason once.
    fs_err::remove_file(&archive).unwrap();
    snap(
        &host,
        "verify_missing_archive",
        &["backup", "verify", "manual"],
    );
    snap(
        &host,
        "verify_missing_archive_json",
        &["--json", "backup", "verify", "manual"],
    );
}

#[test]
fn a_protected_backup_is_not_deleted_without_force() {
    let host = with_data();
    host.upkeep().arg("run").assert().success();
    snap(&host, "delete_protected_backup", &["backup", "delete", "1"]);
}

#[test]
fn settings_errors() {
    let host = two_modules();
    snap(
        &host,
        "settings_unknown_key",
        &["settings", "set", "backup.max_backup", "3"],
    );
    snap(
        &host,
        "settings_unknown_category",
        &["settings", "get", "nonsense.key"],
    );
    snap(
        &host,
        "settings_bad_value",
        &["settings", "set", "schedule.enabled", "yes"],
    );
    // `backup.enabled` was one of the seed's settings that upkeep never acted on.
    snap(
        &host,
        "settings_removed_key",
        &["settings", "set", "backup.enabled", "false"],
    );
    snap(
        &host,
        "settings_bad_choice",
        &["settings", "set", "logging.level", "LOUD"],
    );
    snap(
        &host,
        "settings_channel_key",
        &[
            "settings",
            "set",
            "channels.ops.url",
            "http://example.invalid",
        ],
    );
    fs_err::write(
        host.root.join("settings.toml"),
        "[backup\nmax_backups = 3\n",
    )
    .unwrap();
    snap(&host, "settings_syntax", &["settings", "list"]);
    fs_err::write(
        host.root.join("settings.toml"),
        "[backup]\n\nmax_backups = \"many\"\n",
    )
    .unwrap();
    snap(&host, "settings_bad_value_in_file", &["settings", "list"]);
    snap(
        &host,
        "settings_bad_value_in_file_json",
        &["--json", "settings", "list"],
    );
}

#[test]
fn notify_errors() {
    let host = two_modules();
    snap(&host, "notify_without_channels", &["notify", "test"]);
    fs_err::write(
        host.root.join("settings.toml"),
        "[channels.live]\nkind = \"command\"\nargv = [\"true\"]\n",
    )
    .unwrap();
    snap(&host, "notify_unknown_channel", &["notify", "test", "liv"]);
}

#[test]
fn schedule_errors() {
    let host = two_modules();
    snap(
        &host,
        "schedule_bad_name",
        &["schedule", "add", "a b", "--daily", "03:00"],
    );
    snap(
        &host,
        "schedule_bad_time",
        &["schedule", "add", "n", "--daily", "25:00"],
    );
    snap(
        &host,
        "schedule_bad_weekday",
        &["schedule", "add", "n", "--weekly", "mno", "03:00"],
    );
    snap(
        &host,
        "schedule_cron_one_field",
        &["schedule", "add", "n", "--cron", "5"],
    );
    snap(
        &host,
        "schedule_unknown_time_zone",
        &[
            "schedule",
            "add",
            "n",
            "--daily",
            "03:00",
            "--tz",
            "Mars/Olympus",
        ],
    );
    snap(
        &host,
        "schedule_not_found",
        &["schedule", "show", "nightly"],
    );
    let mut no_home = host.upkeep();
    no_home
        .env_remove("HOME")
        .env_remove("XDG_CONFIG_HOME")
        .args(["schedule", "install", "--systemd", "--user"]);
    let text = transcript(&host, &no_home.assert());
    insta::assert_snapshot!("schedule_install_without_home", text);
    host.upkeep()
        .args(["schedule", "add", "n", "--daily", "03:00", "--tz", "UTC"])
        .assert()
        .success();
    snap(
        &host,
        "schedule_exists",
        &["schedule", "add", "n", "--daily", "04:00"],
    );
    snap(
        &host,
        "schedule_exists_json",
        &["--json", "schedule", "add", "n", "--daily", "04:00"],
    );
}

#[test]
fn a_file_deployment_root_must_be_a_directory() {
    let host = two_modules();
    let file = host.write("not-a-dir", "");
    snap(
        &host,
        "files_root_not_a_directory",
        &["files", "plan", "--root", &file.display().to_string()],
    );
}

#[test]
fn usage_errors_are_json_with_json_anywhere() {
    let host = two_modules();
    snap(&host, "usage_unknown_flag", &["plan", "--bogus"]);
    snap(
        &host,
        "usage_unknown_flag_json",
        &["plan", "--bogus", "--json"],
    );
    snap(
        &host,
        "usage_missing_argument_json",
        &["--json", "rollback"],
    );
    snap(
        &host,
        "usage_bad_value_json",
        &["check", "--type", "nonsense", "--json"],
    );
    // A misspelt outcome was a filter that matched nothing; now it is named.
    snap(
        &host,
        "usage_unknown_outcome",
        &["history", "--outcome", "faild"],
    );
    // So is a misspelt module, checked against the manifest and the history.
    snap(
        &host,
        "usage_unknown_history_module",
        &["history", "--module", "gogz"],
    );
    snap(
        &host,
        "usage_unknown_history_module_json",
        &["--json", "history", "--module", "adblock,gogz"],
    );
    snap(
        &host,
        "usage_duration_without_unit",
        &["history", "--since", "7"],
    );
    // After `--`, `--json` is a value, not the flag.
    snap(
        &host,
        "usage_json_after_double_dash",
        &["plan", "--bogus", "--", "--json"],
    );
    // Help and version are not errors, with or without --json.
    let help = host
        .upkeep()
        .args(["--json", "plan", "--help"])
        .assert()
        .success();
    assert!(
        output(&help).1.starts_with("Show what a run would do"),
        "{}",
        output(&help).1
    );
    let version = host
        .upkeep()
        .args(["--json", "--version"])
        .assert()
        .success();
    assert!(output(&version).1.starts_with("upkeep "));
}

#[test]
fn a_moved_tag_is_refused() {
    let mut host = Host::new();
    crate::safety::git(&host.updates, &["init", "-q"]);
    crate::safety::git_release(&mut host, "1.0.0");
    host.upkeep().arg("run").assert().success();
    crate::safety::git_release(&mut host, "2.0.0");
    host.upkeep().arg("run").assert().success();
    let tags = crate::safety::git(&host.updates, &["tag", "--list"]);
    let v1 = tags.lines().find(|t| t.starts_with("app-v1")).unwrap();
    crate::safety::git(&host.updates, &["tag", "-f", v1, "HEAD"]);
    snap(
        &host,
        "tag_moved",
        &["rollback", "app", "--to", "1.0.0", "--yes"],
    );
    snap(
        &host,
        "rollback_not_confirmed",
        &["rollback", "app", "--to", "1.0.0"],
    );
}

/// Counts read as words in outcome details and in the ledger's safety events: "after 1
/// attempt" and "1 entry", never "1 attempt(s)" or "1 entries".
#[test]
fn counts_in_details_and_ledger_rows_are_singular_for_one() {
    let mut host = Host::new();
    // An empty directory: its backup holds one entry, the directory itself.
    let data = host.root.join("srv/data");
    fs_err::create_dir_all(&data).unwrap();
    host.manifest_toml(&format!(
        "[[module]]\nname = \"app\"\nversion = 1\ncommand = [\"true\"]\npaths = [{:?}]\n\
         health = {{ command = [\"false\"], retries = 0 }}\n",
        data.display().to_string()
    ));
    let (code, stdout, _) = output(&host.upkeep().arg("run").assert());
    assert_eq!(code, 3, "{stdout}");
    assert!(stdout.contains("(after 1 attempt)"), "{stdout}");
    assert!(!stdout.contains("attempts)"), "{stdout}");
    let ledger = upkeep_core::state::Ledger::open(&host.state).unwrap();
    let events = ledger.safety_events(0).unwrap();
    let details: Vec<&str> = events.iter().map(|(_, e)| e.detail.as_str()).collect();
    assert!(
        details.iter().any(|d| d.contains("after 1 attempt")),
        "{details:#?}"
    );
    assert!(
        details.iter().any(|d| d.contains(", 1 entry, ")),
        "{details:#?}"
    );
    assert!(
        !details
            .iter()
            .any(|d| d.contains("(s)") || d.contains("1 entries")),
        "{details:#?}"
    );
}

#[test]
fn internal_errors_name_the_action_and_its_cause() {
    let host = two_modules();
    // The settings file is a directory.
    fs_err::create_dir_all(host.root.join("settings.toml")).unwrap();
    snap(&host, "settings_file_unreadable", &["settings", "list"]);
    snap(
        &host,
        "settings_file_unreadable_json",
        &["--json", "settings", "list"],
    );

    // The state directory is a regular file, so the lock cannot be made in it.
    let host = two_modules();
    fs_err::write(&host.state, "").unwrap();
    snap(&host, "lock_file_unusable", &["run"]);

    // A ledger written by a newer upkeep.
    let host = two_modules();
    host.upkeep().arg("run").assert().success();
    rusqlite::Connection::open(host.state.join("upkeep.db"))
        .unwrap()
        .execute_batch("PRAGMA user_version = 9999")
        .unwrap();
    snap(&host, "ledger_too_new", &["status"]);
}

#[test]
fn schedules_that_would_run_nothing_or_cannot_start() {
    let mut host = two_modules();
    snap(
        &host,
        "schedule_unknown_target",
        &[
            "schedule",
            "add",
            "n",
            "--daily",
            "03:00",
            "--targets",
            "gog",
        ],
    );
    snap(
        &host,
        "schedule_selects_nothing",
        &[
            "schedule", "add", "n", "--daily", "03:00", "--types", "packages",
        ],
    );
    host.upkeep()
        .args([
            "schedule",
            "add",
            "n",
            "--daily",
            "03:00",
            "--targets",
            "gogs",
        ])
        .assert()
        .success();
    host.manifest_toml("[[module]]\nname = \"adblock\"\ncommand = [\"true\"]\n");
    snap(
        &host,
        "scheduled_run_not_started",
        &["run", "--scheduled", "n"],
    );
    snap(
        &host,
        "scheduled_run_not_started_json",
        &["--json", "run", "--scheduled", "n"],
    );
}
