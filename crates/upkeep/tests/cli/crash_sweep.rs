//! The crash sweep (RELIABILITY.md): upkeep killed with SIGKILL at every side-effect
//! boundary of a backup, an update, a rollback and a restore (crash points compiled into
//! test builds, `FAILPOINTS=<point>=return`). After each crash: the ledger passes
//! `PRAGMA integrity_check`, every path the module owns holds exactly its content from
//! before the update or after it, and the next run converges (and the one after that has
//! nothing to do).

use std::path::{Path, PathBuf};

use crate::fixture::Host;

/// A module owning a config file and a data directory; version N writes both completely,
/// so each version's trees are known exactly.
pub(crate) fn release(host: &mut Host, version: u32, healthy: bool, rollback: bool) {
    let srv = host.root.join("srv");
    let status = if healthy { "healthy" } else { "broken" };
    host.python_module(
        "svc",
        &format!(
            r#"import os, shutil
SRV = {srv:?}
def main(args):
    data = os.path.join(SRV, "data")
    shutil.rmtree(data, ignore_errors=True)
    os.makedirs(data)
    with open(os.path.join(data, "db.txt"), "w") as f:
        f.write("version {version}\n")
    with open(os.path.join(data, "blob-{version}.bin"), "wb") as f:
        f.write(bytes(range(256)) * 256)
    with open(os.path.join(SRV, "app.conf"), "w") as f:
        f.write("status={status}\nversion={version}\n")
"#,
            srv = srv.display().to_string()
        ),
    );
    host.manifest_json(&serde_json::json!({
        "updates": [{
            "name": "svc",
            "version": version,
            "paths": {
                "config": [format!("{}/app.conf", srv.display())],
                "data": [format!("{}/data", srv.display())]
            },
            "health": {"command": format!("grep -q status=healthy {}/app.conf", srv.display())},
            "rollback": rollback
        }]
    }));
    host.approve();
}

/// The content of a path: every file under it with its bytes, sorted.
pub(crate) type Tree = Vec<(String, Vec<u8>)>;

pub(crate) fn content(path: &Path) -> Tree {
    let mut out = Vec::new();
    if !path.exists() {
        out.push(("(missing)".to_owned(), Vec::new()));
        return out;
    }
    if path.is_file() {
        out.push((String::new(), fs_err::read(path).unwrap()));
        return out;
    }
    let mut stack = vec![path.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in fs_err::read_dir(&dir).unwrap() {
            let p = entry.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                let rel = p.strip_prefix(path).unwrap().display().to_string();
                out.push((rel, fs_err::read(&p).unwrap()));
            }
        }
    }
    out.sort();
    out
}

pub(crate) fn roots(host: &Host) -> [PathBuf; 2] {
    let srv = host.root.join("srv");
    [srv.join("app.conf"), srv.join("data")]
}

pub(crate) fn snapshot(host: &Host) -> Vec<Tree> {
    roots(host).iter().map(|p| content(p)).collect()
}

/// Wait until no process carries a token of the upkeep process `pid`.
pub(crate) fn wait_for_leftovers(pid: u32) {
    let token = format!("UPKEEP_INVOCATION={pid}-");
    for _ in 0..1000 {
        let alive = fs_err::read_dir("/proc")
            .unwrap()
            .filter_map(Result::ok)
            .any(|e| {
                fs_err::read(e.path().join("environ")).is_ok_and(|env| {
                    env.split(|&b| b == 0)
                        .any(|v| v.starts_with(token.as_bytes()))
                })
            });
        if !alive {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    panic!("processes of the crashed upkeep {pid} still run after 10s");
}

/// A tree's content as short digests, so a failing comparison prints readably.
pub(crate) fn digests(trees: &[Tree]) -> Vec<Vec<(String, String)>> {
    use std::hash::{Hash, Hasher};
    let short = |bytes: &[u8]| {
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        bytes.hash(&mut hasher);
        format!("{} bytes, {:016x}", bytes.len(), hasher.finish())
    };
    trees
        .iter()
        .map(|t| t.iter().map(|(p, b)| (p.clone(), short(b))).collect())
        .collect()
}

pub(crate) fn integrity_ok(host: &Host) {
    let ledger = host.ledger();
    let check: String = ledger
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(check, "ok");
}

/// Crash at `point` while updating from version 1 to a healthy (or broken) version 2.
fn crash_at(point: &str, healthy_update: bool) {
    let mut host = Host::new();
    release(&mut host, 1, true, true);
    host.upkeep().arg("run").assert().success();
    let before = snapshot(&host);

    let after = version_two(healthy_update);

    release(&mut host, 2, healthy_update, true);
    // A channel, so the events a recovery writes can be counted in the outbox.
    // The archive's crash points are reached only when backups are archives.
    let format = if point.starts_with("backup::archive") {
        "archive"
    } else {
        "store"
    };
    fs_err::write(
        host.root.join("settings.toml"),
        format!(
            "[backup]\nformat = \"{format}\"\n[channels.sink]\nkind = \"command\"\nargv = [\"true\"]\n"
        ),
    )
    .unwrap();
    let child = host
        .upkeep_process()
        .arg("run")
        .env("FAILPOINTS", format!("{point}=return"))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let crashed = child.wait_with_output().unwrap();
    // Like `kill -9`, the crash leaves the module (or its health check) running; the
    // paths are judged once whatever it was doing has finished.
    wait_for_leftovers(pid);
    assert_eq!(
        std::os::unix::process::ExitStatusExt::signal(&crashed.status),
        Some(9),
        "upkeep should have been killed at {point}: {}",
        String::from_utf8_lossy(&crashed.stderr)
    );
    integrity_ok(&host);
    for (i, tree) in snapshot(&host).into_iter().enumerate() {
        assert!(
            tree == before[i] || tree == after[i],
            "after a crash at {point}, {} is neither its content before nor after the update",
            roots(&host)[i].display()
        );
    }

    converges(&host, point, healthy_update, &before, &after);
}

/// What version 2 leaves, measured on a twin host that does not crash or roll back.
pub(crate) fn version_two(healthy_update: bool) -> Vec<Tree> {
    let mut twin = Host::new();
    release(&mut twin, 1, true, true);
    twin.upkeep().arg("run").assert().success();
    release(&mut twin, 2, healthy_update, false);
    twin.upkeep()
        .arg("run")
        .assert()
        .code(if healthy_update { 0 } else { 3 });
    snapshot(&twin)
}

/// The run after a crash ends as an uncrashed run would have, with nothing left over.
pub(crate) fn converges(
    host: &Host,
    point: &str,
    healthy_update: bool,
    before: &[Tree],
    after: &[Tree],
) {
    let expected_code = if healthy_update { 0 } else { 3 };
    let rerun = host.upkeep().arg("run").output().unwrap();
    assert_eq!(
        rerun.status.code(),
        Some(expected_code),
        "rerun after a crash at {point}:\n{}\n{}",
        String::from_utf8_lossy(&rerun.stdout),
        String::from_utf8_lossy(&rerun.stderr)
    );
    integrity_ok(host);
    let converged = snapshot(host);
    if healthy_update {
        assert_eq!(
            digests(&converged),
            digests(after),
            "not at version 2 after the rerun ({point})"
        );
        host.upkeep().arg("run").assert().success();
        assert_eq!(digests(&snapshot(host)), digests(after));
    } else {
        assert_eq!(
            digests(&converged),
            digests(before),
            "not back at version 1 after the rerun ({point})"
        );
    }
    let ledger = host.ledger();
    let applied: String = ledger
        .query_row(
            "SELECT applied_version FROM modules WHERE name = 'svc'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(applied, if healthy_update { "2" } else { "1" }, "({point})");
    let running: i64 = ledger
        .query_row(
            "SELECT (SELECT count(*) FROM runs WHERE result = 'running') + (SELECT count(*) FROM restores WHERE result = 'running')",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(running, 0, "({point})");
    recoveries_were_told(&ledger, point);
    let leftovers: Vec<String> = fs_err::read_dir(host.state.join("backups"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| Path::new(n).extension().is_some_and(|e| e == "tmp"))
        .collect();
    assert!(
        leftovers.is_empty(),
        "temporary archives left: {leftovers:?}"
    );
}

/// Every rollback a recovery made was told, in the transaction that recorded it.
fn recoveries_were_told(ledger: &rusqlite::Connection, point: &str) {
    let (recoveries, told): (i64, i64) = ledger
        .query_row(
            "SELECT (SELECT count(*) FROM rollbacks WHERE trigger = 'recovery'),
                    (SELECT count(*) FROM outbox WHERE event_id LIKE 'evt_rollback.svc.%')",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!(recoveries, told, "({point})");
    // Every run since the channel was set up ended with a "run finished" event, the
    // interrupted one included.
    let (runs, finished): (i64, i64) = ledger
        .query_row(
            "SELECT (SELECT count(*) FROM runs WHERE id > 1),
                    (SELECT count(*) FROM outbox WHERE kind = 'run_finished')",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!(runs, finished, "({point})");
}

macro_rules! sweep {
    ($($test:ident: $point:literal, $healthy:expr;)*) => {
        $(
            #[test]
            fn $test() {
                crash_at($point, $healthy);
            }
        )*
    };
}

sweep! {
    after_the_run_is_recorded: "run::after-begin", true;
    after_the_backup_archive_is_written: "backup::archive-written", true;
    after_the_store_packs_are_written: "backup::store-written", true;
    after_the_backup_is_recorded: "backup::recorded", true;
    after_the_module_exits: "run::module-exited", true;
    after_the_health_check_passes: "run::health-passed", true;
    before_the_ledger_commits: "ledger::before-commit", true;
    before_the_manifest_write_back: "run::before-write-back", true;
    after_a_broken_module_exits: "run::module-exited", false;
    after_the_restore_is_staged: "restore::staged", false;
    after_a_path_is_swapped_before_it_is_recorded: "restore::swapped-unrecorded", false;
    after_the_restore_is_recorded: "restore::recorded", false;
    after_the_rollback_restored_before_the_recheck: "rollback::restored", false;
    before_the_rollback_is_recorded: "rollback::before-record", false;
    before_the_ledger_commits_a_rollback: "ledger::before-commit", false;
}
