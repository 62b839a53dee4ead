//! ae.paths' `PATH_PLACEHOLDERS` as an application that calls ae.updater sees them on
//! Linux (ae.paths 0.3.43, ae.base 0.3.74), for the root the deployment works in.
//!
//! | id | ae.paths | here |
//! |---|---|---|
//! | `{usr}` | `user_data_path()`: `$XDG_CONFIG_HOME` (relative: below `~`), else `~/.config` | the same ([`crate::placeholders`]) |
//! | `{cwd}` | `os.getcwd()` of the application, where it looks for the source folders | the root (`--root`, else the current directory) |
//! | `{app_name}` | `app_name_guess()`: `package.name` of `[app]` in `buildozer.spec` in the current directory, else the stem of `sys.argv[0]`, else (for `main`, `__main__`, `app`, `src`, ...) the current directory's name; defused | `package.name` of the root's `buildozer.spec`, else the root's name (an application started as `main.py`, as Kivy's are); `--placeholder app_name=NAME` for any other |
//! | `{app}` | `{usr}/{app_name}` | the same, with the `app_name` in effect |
//! | `{doc}` | `~/Documents` | the same |
//! | `{ado}` | `{doc}/{app_name}` | the same, with the `app_name` in effect |
//!
//! ae.core adds storage paths at start-up (`add_common_storage_paths`: plyer's `{home}`,
//! `{downloads}`, `{documents}`, ... and every directory in `/mnt` and `/media`); upkeep
//! knows the plyer ones as platform ids but not the mount points.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::defuse::defuse;

/// Names ae.base's `app_name_guess` does not take as an application's name.
const UNSPECIFIED_APP_NAMES: &[&str] = &[
    "ae_base",
    "app",
    "_jb_pytest_runner",
    "main",
    "__main__",
    "pydevconsole",
    "src",
];

/// The ids of the table above for `root`, with the caller's own (`user`) taking
/// precedence; `{app}` and `{ado}` follow a caller's `app_name` unless given themselves.
pub fn placeholders(root: &Path, user: &BTreeMap<String, PathBuf>) -> BTreeMap<String, PathBuf> {
    let app_name = user
        .get("app_name")
        .cloned()
        .unwrap_or_else(|| PathBuf::from(app_name_guess(root)));
    let mut ids = BTreeMap::new();
    ids.insert("cwd".to_owned(), root.to_path_buf());
    if let Some(home) = dirs::home_dir() {
        let doc = home.join("Documents");
        ids.insert("ado".to_owned(), doc.join(&app_name));
        ids.insert("doc".to_owned(), doc);
    }
    let user_data = user.get("usr").cloned().map_or_else(
        || crate::placeholders::expand_deploy("{usr}", &BTreeMap::new(), root).ok(),
        Some,
    );
    if let Some(user_data) = user_data {
        ids.insert("app".to_owned(), user_data.join(&app_name));
    }
    ids.insert("app_name".to_owned(), app_name);
    ids.extend(user.iter().map(|(k, v)| (k.clone(), v.clone())));
    ids
}

/// ae.base's `app_name_guess` for an application whose script is `main.py`.
fn app_name_guess(root: &Path) -> String {
    if let Some(name) = buildozer_package_name(root) {
        return defuse(&name);
    }
    let name = root
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    if name.is_empty() || UNSPECIFIED_APP_NAMES.contains(&name.to_lowercase().as_str()) {
        return "unguessable".to_owned();
    }
    defuse(&name)
}

/// `package.name` in the `[app]` section of `root/buildozer.spec` (ae.base's
/// `build_config_variable_values`), read as configparser reads a plain value.
fn buildozer_package_name(root: &Path) -> Option<String> {
    let text = fs_err::read_to_string(root.join("buildozer.spec")).ok()?;
    let mut in_app = false;
    for line in text.lines() {
        let trimmed = line.trim();
        if let Some(section) = trimmed.strip_prefix('[').and_then(|s| s.strip_suffix(']')) {
            in_app = section == "app";
            continue;
        }
        if !in_app || line.starts_with([' ', '\t']) {
            continue;
        }
        let Some(split) = trimmed.find(['=', ':']) else {
            continue;
        };
        if trimmed[..split].trim() == "package.name" {
            let value = trimmed[split + 1..].trim();
            return (!value.is_empty()).then(|| value.to_owned());
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn app_name_from_buildozer_spec_else_the_root() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("my app");
        fs_err::create_dir_all(&root).unwrap();
        assert_eq!(app_name_guess(&root), "my\u{2423}app");
        fs_err::write(
            root.join("buildozer.spec"),
            "[buildozer]\npackage.name = no\n[app]\ntitle = T\npackage.name = kivy_demo\n",
        )
        .unwrap();
        assert_eq!(app_name_guess(&root), "kivy_demo");
        let main = dir.path().join("main");
        fs_err::create_dir_all(&main).unwrap();
        assert_eq!(app_name_guess(&main), "unguessable");
    }

    #[test]
    fn user_app_name_moves_app_and_ado() {
        let user = [("app_name".to_owned(), PathBuf::from("demo"))]
            .into_iter()
            .collect();
        let ids = placeholders(Path::new("/srv/x"), &user);
        assert_eq!(ids["cwd"], Path::new("/srv/x"));
        assert!(ids["app"].ends_with("demo"));
        assert!(ids["ado"].ends_with("Documents/demo"));
    }
}
