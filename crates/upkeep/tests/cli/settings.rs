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
