//! Folder kinds, folder-name arguments, OS filtering, plan/apply and ownership conflicts.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use upkeep_core::deploy::{self, Action, ApplyOptions, FolderKind, PlanOptions, defuse::defuse};

struct Fixture {
    _tmp: tempfile::TempDir,
    root: PathBuf,
    usr: PathBuf,
}

fn fixture() -> Fixture {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("root");
    let usr = tmp.path().join("usr");
    fs_err::create_dir_all(&root).unwrap();
    Fixture {
        root,
        usr,
        _tmp: tmp,
    }
}

impl Fixture {
    fn options(&self) -> PlanOptions {
        let mut options = PlanOptions {
            platform: "linux".into(),
            ..PlanOptions::default()
        };
        options.placeholders.insert("usr".into(), self.usr.clone());
        options
    }

    fn put(&self, folder: &str, relative: &str, content: &str) -> PathBuf {
        let path = self.root.join(folder).join(relative);
        fs_err::create_dir_all(path.parent().unwrap()).unwrap();
        fs_err::write(&path, content).unwrap();
        path
    }

    fn run(&self, options: &PlanOptions) -> (deploy::Plan, deploy::Applied) {
        let plan = deploy::plan(&self.root, options).unwrap();
        let applied = deploy::apply(&plan, &mut ApplyOptions::default());
        (plan, applied)
    }
}

fn read(path: &Path) -> String {
    fs_err::read_to_string(path).unwrap()
}

fn actions(plan: &deploy::Plan) -> Vec<(String, String)> {
    plan.files
        .iter()
        .map(|f| (f.relative.display().to_string(), f.action.to_string()))
        .collect()
}

#[test]
fn every_kind_creates_missing_files_with_their_relative_path() {
    for kind in FolderKind::ALL {
        let fx = fixture();
        let src = fx.put(kind.folder_name(), "sub/dir/app.ini", "new");
        let (plan, applied) = fx.run(&fx.options());
        assert_eq!(
            actions(&plan),
            [("sub/dir/app.ini".into(), "create".into())],
            "{kind:?}"
        );
        assert_eq!(read(&fx.usr.join("sub/dir/app.ini")), "new");
        assert_eq!(src.exists(), !kind.moves(), "{kind:?}");
        assert!(
            fx.root.join(kind.folder_name()).is_dir(),
            "the source folder stays"
        );
        let done = &applied.processed[0];
        assert_eq!(done.size, 3);
        assert_eq!(done.action, Action::Create);
        assert_eq!(
            done.sha256,
            "11507a0e2f5e69d5dfa40a62a1bd7b6ee57e6bcd85c67c9b8431b36fff21c437"
        );
    }
}

#[test]
fn only_over_kinds_overwrite_existing_files() {
    for kind in FolderKind::ALL {
        let fx = fixture();
        let src = fx.put(kind.folder_name(), "app.ini", "new");
        fs_err::create_dir_all(&fx.usr).unwrap();
        fs_err::write(fx.usr.join("app.ini"), "old").unwrap();
        let (plan, applied) = fx.run(&fx.options());
        let expected = if kind.overwrites() {
            "overwrite"
        } else {
            "skip: exists"
        };
        assert_eq!(plan.files[0].action.to_string(), expected, "{kind:?}");
        let now = read(&fx.usr.join("app.ini"));
        assert_eq!(
            now,
            if kind.overwrites() { "new" } else { "old" },
            "{kind:?}"
        );
        // A skipped move leaves its file in the source folder.
        assert_eq!(
            src.exists(),
            !(kind.moves() && kind.overwrites()),
            "{kind:?}"
        );
        assert_eq!(applied.processed.len(), usize::from(kind.overwrites()));
    }
}

#[test]
fn on_os_limits_a_folder_to_its_platform() {
    let fx = fixture();
    fx.put("ae_updater_copies___OnOS__linux", "l.txt", "l");
    fx.put("ae_updater_copies___OnOS__android", "a.txt", "a");
    fx.put("ae_updater_moves___OnOS__win32", "w.txt", "w");
    let (plan, _) = fx.run(&fx.options());
    let mut got = actions(&plan);
    got.sort();
    assert_eq!(
        got,
        [
            ("a.txt".into(), "skip: other OS".into()),
            ("l.txt".into(), "create".into()),
            ("w.txt".into(), "skip: other OS".into()),
        ]
    );
    assert!(fx.usr.join("l.txt").exists());
    assert!(!fx.usr.join("a.txt").exists());
    assert!(
        fx.root
            .join("ae_updater_moves___OnOS__win32/w.txt")
            .exists()
    );
    // The same tree on Android deploys the other folder.
    let mut android = fx.options();
    android.platform = "android".into();
    let plan = deploy::plan(&fx.root, &android).unwrap();
    assert!(
        plan.files
            .iter()
            .any(|f| f.relative == Path::new("a.txt") && f.action == Action::Create)
    );
}

#[test]
fn to_path_takes_a_defused_template_or_relative_path() {
    let fx = fixture();
    let conf = fx.usr.parent().unwrap().join("conf");
    let mut options = fx.options();
    options.placeholders.insert("conf".into(), conf.clone());
    let to = |t: &str| format!("ae_updater_over_copies___ToPath__{}", defuse(t));
    fx.put(&to("{conf}/my app"), "x.cfg", "1");
    fx.put(&format!("{}___OnOS__linux", to("local/dir")), "y.cfg", "2");
    fx.put(
        &format!(
            "ae_updater_moves___OnOS__linux___ToPath__{}",
            defuse("{conf}")
        ),
        "z",
        "3",
    );
    let (plan, applied) = fx.run(&options);
    assert!(applied.failed.is_empty(), "{applied:?}");
    assert!(
        plan.files.iter().all(|f| f.action == Action::Create),
        "{plan:?}"
    );
    assert_eq!(read(&conf.join("my app/x.cfg")), "1");
    assert_eq!(read(&fx.root.join("local/dir/y.cfg")), "2");
    assert_eq!(read(&conf.join("z")), "3");
}

#[test]
fn moves_keep_mode_bits_and_empty_the_source_folder() {
    let fx = fixture();
    let src = fx.put("ae_updater_moves", "bin/tool", "#!/bin/sh\n");
    fs_err::set_permissions(&src, std::fs::Permissions::from_mode(0o750)).unwrap();
    let copied = fx.put("ae_updater_copies", "run.sh", "x");
    fs_err::set_permissions(&copied, std::fs::Permissions::from_mode(0o700)).unwrap();
    let (_, applied) = fx.run(&fx.options());
    assert_eq!(applied.processed.len(), 2);
    let mode = |p: &Path| fs_err::metadata(p).unwrap().permissions().mode() & 0o7777;
    assert_eq!(mode(&fx.usr.join("bin/tool")), 0o750);
    assert_eq!(mode(&fx.usr.join("run.sh")), 0o700);
    assert!(applied.processed.iter().any(|p| p.mode == 0o750));
    let left: Vec<_> = walk(&fx.root.join("ae_updater_moves"));
    assert!(left.is_empty(), "only empty directories stay: {left:?}");
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in fs_err::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(walk(&path));
        } else {
            files.push(path);
        }
    }
    files
}

#[test]
fn a_second_run_has_nothing_to_do() {
    let fx = fixture();
    fx.put("ae_updater_copies", "a", "1");
    fx.put("ae_updater_moves", "b", "2");
    fx.run(&fx.options());
    let (plan, applied) = fx.run(&fx.options());
    assert!(!plan.has_work());
    assert!(applied.processed.is_empty());
    assert_eq!(actions(&plan), [("a".into(), "skip: exists".into())]);
}

#[test]
fn a_file_changed_since_upkeep_wrote_it_is_a_conflict_unless_forced() {
    let fx = fixture();
    fx.put("ae_updater_over_copies", "app.ini", "v2");
    fs_err::create_dir_all(&fx.usr).unwrap();
    let dst = fx.usr.join("app.ini");
    fs_err::write(&dst, "edited by the user").unwrap();
    let mut options = fx.options();
    // What upkeep wrote last time was "v1".
    options.owned.insert(
        dst.clone(),
        "4a9f3a1dcf4a6e3c2a0a3e1d3a5be8d62a09d36a1e2f9d0fd1ea5c36b0b8c4f2".into(),
    );
    let plan = deploy::plan(&fx.root, &options).unwrap();
    assert_eq!(
        plan.files[0].action.to_string(),
        "conflict: changed since upkeep wrote it"
    );
    let applied = deploy::apply(&plan, &mut ApplyOptions::default());
    assert!(applied.processed.is_empty());
    assert_eq!(read(&dst), "edited by the user");
    let applied = deploy::apply(
        &plan,
        &mut ApplyOptions {
            force: true,
            on_processed: None,
        },
    );
    assert_eq!(applied.processed.len(), 1);
    assert_eq!(read(&dst), "v2");
    // Unchanged since upkeep wrote it: a plain overwrite.
    let written = applied.processed[0].sha256.clone();
    fs_err::write(fx.root.join("ae_updater_over_copies/app.ini"), "v3").unwrap();
    options.owned.insert(dst.clone(), written);
    let plan = deploy::plan(&fx.root, &options).unwrap();
    assert_eq!(plan.files[0].action, Action::Overwrite);
}

#[test]
fn apply_does_the_plan_and_reports_what_changed_since() {
    let fx = fixture();
    fx.put("ae_updater_copies", "a", "1");
    fx.put("ae_updater_copies", "b", "2");
    fx.put("ae_updater_over_copies", "c", "3");
    fs_err::create_dir_all(&fx.usr).unwrap();
    fs_err::write(fx.usr.join("c"), "old").unwrap();
    let plan = deploy::plan(&fx.root, &fx.options()).unwrap();
    // After the plan: `a` appears at the destination, `b`'s source changes, `c` is edited.
    fs_err::write(fx.usr.join("a"), "someone else's").unwrap();
    fs_err::write(fx.root.join("ae_updater_copies/b"), "changed").unwrap();
    fs_err::write(fx.usr.join("c"), "edited").unwrap();
    let mut seen = Vec::new();
    let mut record = |p: &deploy::Processed| seen.push(p.destination.clone());
    let applied = deploy::apply(
        &plan,
        &mut ApplyOptions {
            force: false,
            on_processed: Some(&mut record),
        },
    );
    assert!(applied.processed.is_empty());
    assert!(seen.is_empty());
    assert_eq!(read(&fx.usr.join("a")), "someone else's");
    assert!(!fx.usr.join("b").exists());
    assert_eq!(read(&fx.usr.join("c")), "edited");
    let reasons: Vec<_> = applied.failed.iter().map(|f| f.reason.as_str()).collect();
    assert_eq!(
        reasons,
        [
            "source changed since the plan",
            "destination changed since the plan"
        ]
    );
    assert_eq!(applied.skipped[0].action, Action::SkipExists);
    assert_eq!(leftovers(&fx.usr), Vec::<String>::new());
}

/// Temporary files left in a directory.
fn leftovers(dir: &Path) -> Vec<String> {
    fs_err::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".upkeep-"))
        .collect()
}

#[test]
fn one_failing_file_does_not_stop_the_others() {
    let fx = fixture();
    fx.put("ae_updater_copies", "a/x", "1");
    fx.put("ae_updater_copies", "b", "2");
    fs_err::create_dir_all(&fx.usr).unwrap();
    // `a` is a file where a directory is needed.
    fs_err::write(fx.usr.join("a"), "in the way").unwrap();
    let (plan, applied) = fx.run(&fx.options());
    assert!(
        plan.files[0]
            .action
            .to_string()
            .contains("is not a directory"),
        "{plan:?}"
    );
    assert_eq!(applied.processed.len(), 1);
    assert_eq!(read(&fx.usr.join("b")), "2");
}

#[test]
fn the_plan_serializes_for_json_output() {
    let fx = fixture();
    fx.put("ae_updater_copies", "a", "1");
    fx.put("ae_updater_copies___OnOS__ios", "b", "1");
    fx.put("ae_updater_copies___Bogus__1", "c", "1");
    let plan = deploy::plan(&fx.root, &fx.options()).unwrap();
    let json = serde_json::to_value(&plan).unwrap();
    let files = json["files"].as_array().unwrap();
    assert_eq!(files[0]["action"], "create");
    assert_eq!(files[0]["kind"], "copies");
    assert_eq!(files[0]["size"], 1);
    let by_action: Vec<_> = files
        .iter()
        .map(|f| f["action"].as_str().unwrap())
        .collect();
    assert!(by_action.contains(&"skip-other-os"), "{json}");
    let refused = files.iter().find(|f| f["action"] == "refused").unwrap();
    assert!(
        refused["reason"]
            .as_str()
            .unwrap()
            .contains("unknown folder argument")
    );
}

/// ae.updater globs `ae_updater_copies*`, so `ae_updater_copies_old` would be deployed
/// too; upkeep takes only exact names (arguments follow `___`).
#[test]
fn differs_from_ae_updater_only_exact_folder_names_count() {
    let fx = fixture();
    fx.put("ae_updater_copies_old", "a", "1");
    fx.put("ae_updater_copiesX___OnOS__linux", "b", "1");
    let (plan, _) = fx.run(&fx.options());
    assert!(plan.files.is_empty(), "{plan:?}");
    assert!(!fx.usr.exists());
}

/// ae.updater ignores unknown arguments and an `OnOS__` id it does not know simply never
/// matches; upkeep refuses the folder's files and says why.
#[test]
fn differs_from_ae_updater_bad_folder_arguments_are_refused() {
    let fx = fixture();
    fx.put("ae_updater_copies___OnOS__windows", "a", "1");
    fx.put("ae_updater_copies___ToPat__x", "b", "1");
    let (plan, applied) = fx.run(&fx.options());
    let got = actions(&plan);
    assert!(
        got[0].1.contains("unknown platform `windows`") && got[0].1.contains("win32"),
        "{got:?}"
    );
    assert!(
        got[1].1.contains("unknown folder argument `ToPat__x`"),
        "{got:?}"
    );
    assert!(applied.processed.is_empty());
}

/// ae.updater copies through a link in a source folder (deploying whatever it points
/// at); upkeep refuses the link and deploys the rest.
#[test]
fn differs_from_ae_updater_links_in_sources_are_refused_not_followed() {
    let fx = fixture();
    fx.put("ae_updater_copies", "real", "1");
    let secret = fx.usr.parent().unwrap().join("secret");
    fs_err::write(&secret, "s").unwrap();
    std::os::unix::fs::symlink(&secret, fx.root.join("ae_updater_copies/link")).unwrap();
    let (plan, applied) = fx.run(&fx.options());
    assert_eq!(
        actions(&plan),
        [
            (
                "link".into(),
                "refused: source is a symbolic link; links are not deployed".into()
            ),
            ("real".into(), "create".into()),
        ]
    );
    assert_eq!(applied.processed.len(), 1);
    assert!(!fx.usr.join("link").exists());
}

#[test]
fn later_folders_see_what_earlier_ones_write_in_the_same_plan() {
    let fx = fixture();
    fx.put("ae_updater_copies", "settings.json", "default");
    fx.put(
        "ae_updater_over_copies___OnOS__linux",
        "settings.json",
        "linux",
    );
    fx.put("ae_updater_moves", "settings.json", "moved");
    let plan = deploy::plan(&fx.root, &fx.options()).unwrap();
    let actions: Vec<String> = plan.files.iter().map(|f| f.action.to_string()).collect();
    assert_eq!(actions, ["create", "overwrite", "skip: exists"]);
    let applied = deploy::apply(&plan, &mut ApplyOptions::default());
    assert_eq!(applied.processed.len(), 2, "{applied:?}");
    assert_eq!(read(&fx.usr.join("settings.json")), "linux");
    assert!(fx.root.join("ae_updater_moves/settings.json").exists());
}

#[test]
fn an_override_fails_with_the_default_it_was_planned_on() {
    let fx = fixture();
    let default = fx.put("ae_updater_copies", "settings.json", "default");
    fx.put("ae_updater_over_copies", "settings.json", "override");
    let plan = deploy::plan(&fx.root, &fx.options()).unwrap();
    // The default changes between plan and apply, so it fails; its override, planned on
    // top of it, must not be written over whatever is there instead.
    fs_err::write(&default, "changed").unwrap();
    let applied = deploy::apply(&plan, &mut ApplyOptions::default());
    let reasons: Vec<&str> = applied.failed.iter().map(|f| f.reason.as_str()).collect();
    assert_eq!(
        reasons,
        [
            "source changed since the plan",
            "not deployed: an earlier file for this destination failed"
        ]
    );
    assert!(!fx.usr.join("settings.json").exists());
}
