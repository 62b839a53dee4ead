//! A crash (`kill -9`) in the middle of a batch of moves leaves every file in its source
//! or its destination, never neither, and a rerun converges.
//!
//! The parent test spawns this test binary again in a child mode (selected by
//! environment variables) that applies a plan of moves; the parent kills it with SIGKILL,
//! either at a chosen file (the child pauses there) or after a short random delay.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use upkeep_core::deploy::{self, ApplyOptions, PlanOptions};

const ROOT: &str = "UPKEEP_DEPLOY_CRASH_ROOT";
const DEST: &str = "UPKEEP_DEPLOY_CRASH_DEST";
const PAUSE_AFTER: &str = "UPKEEP_DEPLOY_CRASH_PAUSE_AFTER";

fn options(dest: &Path) -> PlanOptions {
    let mut options = PlanOptions {
        platform: "linux".into(),
        ..PlanOptions::default()
    };
    options
        .placeholders
        .insert("usr".into(), dest.to_path_buf());
    options
}

/// The child mode: apply the moves under `$ROOT`, pausing after `$PAUSE_AFTER` files.
/// Without the variables (a normal test run) it does nothing.
#[test]
fn crash_child() {
    let (Some(root), Some(dest)) = (std::env::var_os(ROOT), std::env::var_os(DEST)) else {
        return;
    };
    let (root, dest) = (PathBuf::from(root), PathBuf::from(dest));
    let pause: Option<usize> = std::env::var(PAUSE_AFTER).ok().and_then(|v| v.parse().ok());
    let plan = deploy::plan(&root, &options(&dest)).unwrap();
    let mut done = 0;
    let mut on_processed = |_: &deploy::Processed| {
        done += 1;
        if Some(done) == pause {
            fs_err::write(root.join("paused"), done.to_string()).unwrap();
            std::thread::sleep(Duration::from_secs(120));
        }
    };
    deploy::apply(
        &plan,
        &mut ApplyOptions {
            force: false,
            on_processed: Some(&mut on_processed),
        },
    );
}

fn content(n: usize) -> String {
    format!("file {n}\n").repeat(500)
}

fn make_sources(root: &Path, count: usize) {
    for n in 0..count {
        let path = root
            .join("ae_updater_moves")
            .join(format!("d{}/f{n:04}", n % 7));
        fs_err::create_dir_all(path.parent().unwrap()).unwrap();
        fs_err::write(&path, content(n)).unwrap();
    }
}

#[expect(
    clippy::disallowed_methods,
    reason = "the test runs itself as the process to kill"
)]
fn spawn_child(root: &Path, dest: &Path, pause_after: Option<usize>) -> std::process::Child {
    let mut command = std::process::Command::new(std::env::current_exe().unwrap());
    command
        .args(["crash_child", "--exact", "--nocapture"])
        .env(ROOT, root)
        .env(DEST, dest)
        .stdout(std::process::Stdio::null());
    if let Some(n) = pause_after {
        command.env(PAUSE_AFTER, n.to_string());
    }
    command.spawn().unwrap()
}

/// Every file is complete in its source or its destination; returns how many are at the
/// destination. `both_allowed`: across file systems a crash between the durable copy and
/// the source's removal leaves the file in both places.
fn check_never_lost(root: &Path, dest: &Path, count: usize, both_allowed: bool) -> usize {
    let mut moved = 0;
    for n in 0..count {
        let relative = format!("d{}/f{n:04}", n % 7);
        let src = fs_err::read_to_string(root.join("ae_updater_moves").join(&relative)).ok();
        let at_dest = fs_err::read_to_string(dest.join(&relative)).ok();
        for found in [&src, &at_dest].into_iter().flatten() {
            assert_eq!(*found, content(n), "{relative} is torn");
        }
        match (src.is_some(), at_dest.is_some()) {
            (false, false) => panic!("{relative} is in neither its source nor its destination"),
            (true, true) if !both_allowed => panic!("{relative} is in both places"),
            (_, true) => moved += 1,
            _ => {}
        }
    }
    moved
}

fn converge(root: &Path, dest: &Path, count: usize) {
    let plan = deploy::plan(root, &options(dest)).unwrap();
    let applied = deploy::apply(&plan, &mut ApplyOptions::default());
    assert!(applied.failed.is_empty(), "{:?}", applied.failed);
    assert_eq!(check_never_lost(root, dest, count, true), count);
}

#[test]
fn a_kill_at_a_chosen_file_leaves_the_rest_in_their_sources() {
    let tmp = tempfile::tempdir().unwrap();
    let (root, dest) = (tmp.path().join("root"), tmp.path().join("dest"));
    make_sources(&root, 60);
    let mut child = spawn_child(&root, &dest, Some(25));
    let started = Instant::now();
    while !root.join("paused").exists() {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the child never paused"
        );
        assert!(
            child.try_wait().unwrap().is_none(),
            "the child ended before pausing"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(check_never_lost(&root, &dest, 60, false), 25);
    converge(&root, &dest, 60);
}

#[test]
fn kills_at_random_moments_never_lose_a_file() {
    let tmp = tempfile::tempdir().unwrap();
    crash_loop(&tmp.path().join("root"), &tmp.path().join("dest"), false);
}

/// The same across file systems (copy, fsync, report, remove), when `/dev/shm` is another
/// file system than the temporary directory.
#[test]
fn kills_during_cross_device_moves_never_lose_a_file() {
    let tmp = tempfile::tempdir().unwrap();
    let Ok(shm) = tempfile::tempdir_in("/dev/shm") else {
        return;
    };
    let dev = |p: &Path| fs_err::metadata(p).unwrap().dev();
    if dev(tmp.path()) == dev(shm.path()) {
        return;
    }
    crash_loop(&shm.path().join("root"), &tmp.path().join("dest"), true);
}

/// Kill the child as soon as at least `threshold` files reached the destination (temporary
/// files do not count), so every
/// kill lands in the middle of the batch, at whatever operation the child is in.
fn crash_loop(root: &Path, dest: &Path, both_allowed: bool) {
    const COUNT: usize = 400;
    make_sources(root, COUNT);
    let (mut previous, mut mid_batch) = (0, 0);
    for threshold in [1, 60, 150, 240, 330] {
        let mut child = spawn_child(root, dest, None);
        let started = Instant::now();
        while count_files(dest) < threshold && child.try_wait().unwrap().is_none() {
            assert!(started.elapsed() < Duration::from_secs(60), "no progress");
            std::thread::sleep(Duration::from_micros(200));
        }
        let _ = child.kill();
        child.wait().unwrap();
        let moved = check_never_lost(root, dest, COUNT, both_allowed);
        assert!(moved >= previous.max(threshold), "{moved} < {threshold}");
        previous = moved;
        mid_batch += usize::from(moved < COUNT);
    }
    assert!(mid_batch > 0, "every kill came after the batch ended");
    converge(root, dest, COUNT);
}

fn count_files(dest: &Path) -> usize {
    (0..7)
        .filter_map(|d| fs_err::read_dir(dest.join(format!("d{d}"))).ok())
        .flat_map(|entries| entries.filter_map(Result::ok))
        .filter(|e| !e.file_name().to_string_lossy().starts_with('.'))
        .count()
}
