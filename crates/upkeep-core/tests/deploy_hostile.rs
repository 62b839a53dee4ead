//! Hostile destinations: traversal, paths outside the allowed roots, NUL and newlines,
//! links planted in a destination's parents, and a race that swaps a directory for a link
//! while a deployment runs. The oracle is a sentinel directory that must stay empty.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use upkeep_core::deploy::{self, Action, ApplyOptions, PlanOptions, defuse::defuse};

struct Fixture {
    _tmp: tempfile::TempDir,
    root: PathBuf,
    usr: PathBuf,
    sentinel: PathBuf,
}

fn fixture() -> Fixture {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("root");
    let usr = tmp.path().join("usr");
    let sentinel = tmp.path().join("sentinel");
    for dir in [&root, &usr, &sentinel] {
        fs_err::create_dir_all(dir).unwrap();
    }
    Fixture {
        root,
        usr,
        sentinel,
        _tmp: tmp,
    }
}

impl Fixture {
    fn options(&self) -> PlanOptions {
        let mut options = PlanOptions {
            platform: "linux".into(),
            allowed_roots: Some(vec![self.usr.clone()]),
            ..PlanOptions::default()
        };
        options.placeholders.insert("usr".into(), self.usr.clone());
        options
    }

    fn put(&self, folder: &str, relative: &str) {
        let path = self.root.join(folder).join(relative);
        fs_err::create_dir_all(path.parent().unwrap()).unwrap();
        fs_err::write(&path, "payload").unwrap();
    }

    fn sentinel_untouched(&self) {
        let entries: Vec<_> = fs_err::read_dir(&self.sentinel).unwrap().collect();
        assert!(
            entries.is_empty(),
            "the sentinel directory was written: {entries:?}"
        );
    }
}

fn to(template: &str) -> String {
    format!("ae_updater_over_copies___ToPath__{}", defuse(template))
}

/// Each hostile `ToPath__` value with the refusal expected for it.
#[test]
fn hostile_destinations_are_refused_with_file_and_reason() {
    let fx = fixture();
    let sentinel = fx.sentinel.display().to_string();
    let corpus = [
        ("../../etc", "contains `..`"),
        ("{usr}/../sentinel", "contains `..`"),
        ("{usr}/a/../../sentinel", "contains `..`"),
        (sentinel.as_str(), "is not beneath an allowed root"),
        ("/etc", "is not beneath an allowed root"),
        ("{usr}/x\u{0}y", "NUL or newline"),
        ("{usr}/x\ny", "NUL or newline"),
        ("{usr}/x\ry", "NUL or newline"),
        ("{nope}", "unknown placeholder `{nope}`"),
        ("{usr", "never closed"),
        ("{evil}", "expands to"),
    ];
    let mut options = fx.options();
    options
        .placeholders
        .insert("evil".into(), fx.usr.join("..").join("sentinel"));
    for (template, _) in &corpus {
        fx.put(&to(template), "f.txt");
    }
    let plan = deploy::plan(&fx.root, &options).unwrap();
    let applied = deploy::apply(
        &plan,
        &mut ApplyOptions {
            force: true,
            on_processed: None,
        },
    );
    assert!(applied.processed.is_empty(), "{applied:?}");
    for (template, reason) in corpus {
        let folder = fx.root.join(to(template));
        let file = plan
            .files
            .iter()
            .find(|f| f.source.starts_with(&folder))
            .unwrap();
        let Action::Refused(got) = &file.action else {
            panic!("{template:?} was not refused: {file:?}");
        };
        assert!(got.contains(reason), "{template:?}: {got}");
        assert_eq!(
            file.source,
            folder.join("f.txt"),
            "the refusal names the file"
        );
    }
    fx.sentinel_untouched();
}

#[test]
fn a_link_planted_in_a_destinations_parents_is_not_followed() {
    let fx = fixture();
    fx.put("ae_updater_copies", "conf/app.ini");
    fx.put("ae_updater_copies", "deep/er/x");
    fx.put("ae_updater_copies", "ok.txt");
    std::os::unix::fs::symlink(&fx.sentinel, fx.usr.join("conf")).unwrap();
    fs_err::create_dir_all(fx.usr.join("deep")).unwrap();
    std::os::unix::fs::symlink(&fx.sentinel, fx.usr.join("deep/er")).unwrap();
    let plan = deploy::plan(&fx.root, &fx.options()).unwrap();
    let reasons: Vec<_> = plan.files.iter().map(|f| f.action.to_string()).collect();
    assert!(
        reasons[0].contains("conf` is a symbolic link"),
        "{reasons:?}"
    );
    assert!(reasons[1].contains("er` is a symbolic link"), "{reasons:?}");
    assert_eq!(reasons[2], "create");
    let applied = deploy::apply(&plan, &mut ApplyOptions::default());
    assert_eq!(applied.processed.len(), 1);
    fx.sentinel_untouched();
}

/// A link planted after the plan, before apply, makes the file fail at apply.
#[test]
fn a_link_planted_after_the_plan_fails_the_file_at_apply() {
    let fx = fixture();
    fx.put("ae_updater_copies", "conf/app.ini");
    fx.put("ae_updater_moves", "conf/moved.ini");
    let plan = deploy::plan(&fx.root, &fx.options()).unwrap();
    assert!(plan.files.iter().all(|f| f.action == Action::Create));
    std::os::unix::fs::symlink(&fx.sentinel, fx.usr.join("conf")).unwrap();
    let applied = deploy::apply(&plan, &mut ApplyOptions::default());
    assert!(applied.processed.is_empty());
    assert_eq!(applied.failed.len(), 2);
    assert!(
        applied.failed[0].reason.contains("is a symbolic link"),
        "{applied:?}"
    );
    assert!(
        fx.root.join("ae_updater_moves/conf/moved.ini").exists(),
        "the move's source stays"
    );
    fx.sentinel_untouched();
}

#[test]
fn a_destination_that_is_a_link_is_not_written_through() {
    let fx = fixture();
    fx.put("ae_updater_over_copies", "app.ini");
    let target = fx.sentinel.join("target");
    std::os::unix::fs::symlink(&target, fx.usr.join("app.ini")).unwrap();
    let plan = deploy::plan(&fx.root, &fx.options()).unwrap();
    assert!(
        plan.files[0]
            .action
            .to_string()
            .contains("destination is a symbolic link")
    );
    deploy::apply(
        &plan,
        &mut ApplyOptions {
            force: true,
            on_processed: None,
        },
    );
    fx.sentinel_untouched();
}

/// A thread swaps `usr/sub` between a real directory and a link to the sentinel while
/// apply writes hundreds of files into `usr/sub`: files fail or land in the real
/// directory, and the sentinel is never written.
#[test]
fn a_race_swapping_a_directory_for_a_link_never_redirects_a_write() {
    let fx = fixture();
    for n in 0..400 {
        fx.put("ae_updater_over_copies", &format!("sub/f{n:03}"));
        fx.put("ae_updater_moves", &format!("sub/m{n:03}"));
    }
    let sub = fx.usr.join("sub");
    fs_err::create_dir_all(&sub).unwrap();
    let plan = deploy::plan(&fx.root, &fx.options()).unwrap();
    assert!(plan.files.iter().all(WritesFile::writes_file), "{plan:?}");
    let stop = Arc::new(AtomicBool::new(false));
    let swapper = {
        let (stop, sub, sentinel) = (stop.clone(), sub.clone(), fx.sentinel.clone());
        std::thread::spawn(move || swap_until(&stop, &sub, &sentinel))
    };
    let applied = deploy::apply(&plan, &mut ApplyOptions::default());
    stop.store(true, Ordering::SeqCst);
    let swaps = swapper.join().unwrap();
    assert!(swaps > 0);
    fx.sentinel_untouched();
    assert_eq!(applied.processed.len() + applied.failed.len(), 800);
    // Every file reported as written is in the real directory.
    for done in &applied.processed {
        assert_eq!(
            fs_err::read_to_string(&done.destination).unwrap(),
            "payload"
        );
    }
    // Every move that failed left its file in the source folder.
    for failed in &applied.failed {
        if failed.source.starts_with(fx.root.join("ae_updater_moves")) {
            assert!(failed.source.exists(), "{failed:?}");
        }
    }
}

trait WritesFile {
    fn writes_file(&self) -> bool;
}

impl WritesFile for deploy::PlannedFile {
    fn writes_file(&self) -> bool {
        self.action.writes()
    }
}

/// Swap `sub` and a link to the sentinel atomically (`RENAME_EXCHANGE`), back and forth,
/// so `sub` always exists and is a directory or a link at every instant.
fn swap_until(stop: &AtomicBool, sub: &Path, sentinel: &Path) -> usize {
    use nix::fcntl::{AT_FDCWD, RenameFlags, renameat2};
    let link = sub.with_file_name("sub.link");
    std::os::unix::fs::symlink(sentinel, &link).unwrap();
    let mut swaps = 0;
    while !stop.load(Ordering::SeqCst) {
        renameat2(AT_FDCWD, sub, AT_FDCWD, &link, RenameFlags::RENAME_EXCHANGE).unwrap();
        std::thread::yield_now();
        renameat2(AT_FDCWD, sub, AT_FDCWD, &link, RenameFlags::RENAME_EXCHANGE).unwrap();
        std::thread::sleep(std::time::Duration::from_micros(50));
        swaps += 1;
    }
    swaps
}

proptest::proptest! {
    /// A stable-toolchain companion of the `placeholders` fuzz target: templates built
    /// from path-ish pieces (placeholders, `..`, `.`, NUL, newlines, defused characters)
    /// either expand to an absolute path without `..`, NUL or newlines, or are refused.
    #[test]
    fn expanded_destinations_never_escape(
        pieces in proptest::collection::vec(
            proptest::sample::select(vec![
                "{usr}", "{app}", "{home}", "{nope}", "..", ".", "/", "a", "b c", "\0", "\n",
                "{", "}", "\u{2044}", "\u{FE5B}", "\u{FE5C}", "\u{2400}", "\u{240A}", "~",
            ]),
            0..12,
        ),
        defused in proptest::bool::ANY,
    ) {
        let template: String = pieces.concat();
        let template = if defused { upkeep_core::deploy::defuse::dedefuse(&template) } else { template };
        let user = [("app".to_owned(), PathBuf::from("/opt/app"))].into();
        if let Ok(path) = upkeep_core::placeholders::expand_deploy(&template, &user, Path::new("/base")) {
            proptest::prop_assert!(path.is_absolute());
            proptest::prop_assert!(!path.components().any(|c| c == std::path::Component::ParentDir));
            proptest::prop_assert!(!path.to_string_lossy().contains(['\0', '\n', '\r']));
        }
    }
}
