//! `upkeep settings` from the user's side, and settings taking effect.

use crate::fixture::{Host, output};

#[test]
#[expect(clippy::too_many_lines, reason = "one user session, step by step")]
fn set_get_reset_keep_the_file_and_take_effect() {
    let mut host = Host::new();
    let file = host.root.join("settings.toml");
    fs_err::write(
        &file,
        "# ops team: keep backups small\n[backup]\nmax_backups = 10 # ten is plenty\n",
    )
    .unwrap();
    host.upkeep()
        .args(["settings", "set", "backup.max_backups", "15"])
        .assert()
        .success();
    host.upkeep()
        .args(["settings", "set", "safety.min_disk_space_mb", "100000000"])
        .assert()
        .success();
    let text = fs_err::read_to_string(&file).unwrap();
    assert!(
        text.starts_with("# ops team") && text.contains("max_backups = 15 # ten is plenty"),
        "{text}"
    );
    let (_, stdout, _) = output(
        &host
            .upkeep()
            .args(["settings", "get", "backup.max_backups"])
            .assert(),
    );
    assert_eq!(stdout.trim(), "15");
    let (_, stdout, _) = output(&host.upkeep().args(["--json", "settings", "list"]).assert());
    let list: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let entry = list["settings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["key"] == "backup.max_backups")
        .unwrap();
    assert_eq!(
        (entry["value"].as_i64(), entry["default"].as_bool()),
        (Some(15), Some(false))
    );

    // The floor now asks for ~95 TiB: a backup refuses, naming what it needs.
    let data = host.root.join("data");
    fs_err::create_dir_all(&data).unwrap();
    host.manifest_toml(&format!(
        "[[module]]\nname = \"app\"\ncommand = [\"true\"]\npaths = [{:?}]\n",
        data.display().to_string()
    ));
    host.upkeep().args(["backup", "create"]).assert().code(9);
    host.upkeep()
        .args(["settings", "reset", "safety.min_disk_space_mb"])
        .assert()
        .success();
    assert!(
        !fs_err::read_to_string(&file)
            .unwrap()
            .contains("min_disk_space_mb")
    );
    host.upkeep()
        .args(["settings", "set", "backup.compression_enabled", "false"])
        .assert()
        .success();
    host.upkeep()
        .args(["backup", "create", "--min-free", "0"])
        .assert()
        .success();
    let archives: Vec<String> = fs_err::read_dir(host.state.join("backups"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    let plain = |a: &String| {
        std::path::Path::new(a)
            .extension()
            .is_some_and(|e| e == "tar")
    };
    assert!(archives.iter().all(plain), "{archives:?}");
}

#[test]
fn bad_settings_are_refused_with_a_pointer() {
    let mut host = Host::new();
    host.manifest_toml("[[module]]\nname = \"app\"\ncommand = [\"true\"]\n");
    let (code, _, stderr) = output(
        &host
            .upkeep()
            .args(["settings", "set", "backup.max_backup", "3"])
            .assert(),
    );
    assert_eq!(code, 4);
    assert!(
        stderr.contains("did you mean `backup.max_backups`"),
        "{stderr}"
    );
    let (code, _, stderr) = output(
        &host
            .upkeep()
            .args(["settings", "set", "backup.compression_level", "99"])
            .assert(),
    );
    assert_eq!(code, 4, "{stderr}");
    assert!(
        !host.root.join("settings.toml").exists(),
        "nothing was written"
    );
    fs_err::write(
        host.root.join("settings.toml"),
        "[safety]\n\nmin_disk_space_mb = \"lots\"\n",
    )
    .unwrap();
    let (code, _, stderr) = output(&host.upkeep().arg("run").assert());
    assert_eq!(code, 4, "{stderr}");
    assert!(
        stderr.contains("line 3") && stderr.contains("safety.min_disk_space_mb"),
        "{stderr}"
    );
    assert!(!host.state.exists(), "nothing ran");
}

/// `(exit code, stderr)` of `upkeep settings set KEY VALUE`.
fn set(host: &Host, key: &str, value: &str) -> (i32, String) {
    let (code, _, stderr) = output(&host.upkeep().args(["settings", "set", key, value]).assert());
    (code, stderr)
}

/// Values `settings set` refuses, with what its message says.
const REFUSED: &[(&str, &str, &str)] = &[
    (
        "logging.level",
        "LOUD",
        "`LOUD` is not one of off, error, warn, info, debug, trace",
    ),
    ("logging.level", "debgu", "did you mean `debug`?"),
    ("loging.level", "debug", "did you mean `logging.level`?"),
    (
        "backup.compression_level",
        "42",
        "out of range: from 1 to 19",
    ),
    (
        "backup.compression_level",
        "many",
        "an integer from 1 to 19",
    ),
    (
        "schedule.enabled",
        "yes",
        "expected true or false, found `yes`",
    ),
    (
        "update.update_check_interval",
        "3600",
        "did you mean `3600s`?",
    ),
    (
        "update.update_check_interval",
        "10s",
        "out of range: from 1m to 7d",
    ),
    (
        "schedule.default_time",
        "25:99",
        "upkeep has no such setting",
    ),
    ("backup.verify_backups", "false", "it is always on"),
];

/// The JSON error object of a refused `upkeep --json settings set KEY VALUE` (exit 4).
fn refused_json(host: &Host, key: &str, value: &str) -> serde_json::Value {
    let assert = host
        .upkeep()
        .args(["--json", "settings", "set", key, value])
        .assert()
        .code(4);
    serde_json::from_str(&output(&assert).1).unwrap()
}

#[test]
fn set_checks_every_setting_by_type_and_range_and_writes_nothing_on_a_refusal() {
    let host = Host::new();
    let file = host.root.join("settings.toml");
    let before = "# mine\n[backup]\nmax_backups = 10 # keep ten\n";
    fs_err::write(&file, before).unwrap();
    for &(key, value, says) in REFUSED {
        let (code, stderr) = set(&host, key, value);
        assert_eq!(code, 4, "{key} {value}: {stderr}");
        assert!(stderr.contains(says), "{key} {value}: {stderr}");
        let error = refused_json(&host, key, value);
        assert_eq!(error["error"], "invalid-input", "{error}");
        assert!(error["message"].as_str().unwrap().contains(says), "{error}");
    }
    assert_eq!(
        fs_err::read_to_string(&file).unwrap(),
        before,
        "nothing was written"
    );

    // Accepted values are stored in the form they are read back in.
    assert_eq!(set(&host, "logging.level", "DEBUG").0, 0);
    assert_eq!(set(&host, "update.update_check_interval", "90m").0, 0);
    let get = |key: &str| {
        let assert = host
            .upkeep()
            .args(["settings", "get", key])
            .assert()
            .success();
        output(&assert).1.trim().to_owned()
    };
    assert_eq!(get("logging.level"), "debug");
    assert_eq!(get("update.update_check_interval"), "1h30m");
}

#[test]
fn reset_keeps_the_comments_above_the_key_and_every_other_byte() {
    let host = Host::new();
    let file = host.root.join("settings.toml");
    let text = "# settings of this host\n\n[backup]\n# ops: ten is plenty,\n# see ticket 42\nmax_backups = 10 # keep ten\n  compression_level   =  3\n\n[logging]\nmax_log_files = 5\n";
    fs_err::write(&file, text).unwrap();
    host.upkeep()
        .args(["settings", "reset", "backup.max_backups"])
        .assert()
        .success();
    let expected = text.replace("max_backups = 10 # keep ten\n", "");
    assert_eq!(fs_err::read_to_string(&file).unwrap(), expected);
    host.upkeep()
        .args(["settings", "reset", "logging.max_log_files"])
        .assert()
        .success();
    let expected = expected.replace("max_log_files = 5\n", "");
    assert_eq!(fs_err::read_to_string(&file).unwrap(), expected);
}

#[test]
fn a_removed_setting_in_the_file_is_a_warning_not_a_refusal() {
    let mut host = Host::new();
    host.manifest_toml("[[module]]\nname = \"app\"\ncommand = [\"true\"]\n");
    let file = host.root.join("settings.toml");
    fs_err::write(
        &file,
        "[backup]\nauto_cleanup = true\nmax_backups = 7\n\n[schedule]\ndefault_time = \"03:00\"\n\n[safety]\nrequire_backup_before_update = false\n",
    )
    .unwrap();
    let (code, _, stderr) = output(&host.upkeep().arg("plan").assert());
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stderr.contains("warning:")
            && stderr.contains("setting `backup.auto_cleanup` is ignored")
            && stderr.contains("setting `schedule.default_time` is ignored")
            && stderr.contains("upkeep settings reset backup.auto_cleanup")
            && stderr.contains("`safety.require_backup_before_update = false` is ignored"),
        "{stderr}"
    );
    // The warning's remedy works, and keeps the rest.
    host.upkeep()
        .args(["settings", "reset", "backup.auto_cleanup"])
        .assert()
        .success();
    assert_eq!(
        fs_err::read_to_string(&file).unwrap(),
        "[backup]\nmax_backups = 7\n\n[schedule]\ndefault_time = \"03:00\"\n\n[safety]\nrequire_backup_before_update = false\n"
    );
    let (_, stdout, stderr) = output(&host.upkeep().args(["--json", "settings", "list"]).assert());
    assert!(!stderr.contains("auto_cleanup"), "{stderr}");
    let list: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let keys: Vec<&str> = list["settings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["key"].as_str().unwrap())
        .collect();
    assert!(keys.contains(&"logging.level") && !keys.contains(&"backup.auto_cleanup"));
}

#[test]
fn logging_level_shows_upkeeps_own_diagnostics_unless_upkeep_log_says_otherwise() {
    let mut host = Host::new();
    host.manifest_toml("[[module]]\nname = \"app\"\ncommand = [\"true\"]\n");
    let (_, _, stderr) = output(
        &host
            .upkeep()
            .env_remove("UPKEEP_LOG")
            .args(["run", "--force"])
            .assert(),
    );
    assert!(
        !stderr.contains("ledger commit"),
        "off by default: {stderr}"
    );
    host.upkeep()
        .args(["settings", "set", "logging.level", "debug"])
        .assert()
        .success();
    let (code, _, stderr) = output(
        &host
            .upkeep()
            .env_remove("UPKEEP_LOG")
            .args(["run", "--force"])
            .assert(),
    );
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("ledger commit"), "{stderr}");
    let (_, _, stderr) = output(
        &host
            .upkeep()
            .env("UPKEEP_LOG", "off")
            .args(["run", "--force"])
            .assert(),
    );
    assert!(
        !stderr.contains("ledger commit"),
        "UPKEEP_LOG wins: {stderr}"
    );
}
