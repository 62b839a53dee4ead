//! Safe updates from the user's side: a service-like module (a config file and a data
//! directory read by a small HTTP server on 127.0.0.1) whose update breaks it; upkeep
//! restores the old bytes and the service is healthy again. Plus manual backups, restore
//! confirmation, holds after a failed rollback, and retention.

use std::io::{BufRead, Read, Write};
use std::path::{Path, PathBuf};

use crate::fixture::{Host, output};

/// A small HTTP server whose `/health` answers 200 while `app.conf` says `status=healthy`.
pub(crate) struct Service {
    pub(crate) child: std::process::Child,
    pub(crate) port: u16,
}

const SERVER: &str = r#"
import http.server, sys
conf = sys.argv[1]
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        try:
            healthy = "status=healthy" in open(conf).read()
        except OSError:
            healthy = False
        self.send_response(200 if healthy else 503)
        self.end_headers()
        self.wfile.write(b"ok" if healthy else b"unhealthy")
    def log_message(self, *a):
        pass
s = http.server.HTTPServer(("127.0.0.1", 0), H)
print(s.server_address[1], flush=True)
s.serve_forever()
"#;

impl Service {
    fn start(conf: &Path) -> Self {
        Self::start_with(SERVER, conf)
    }

    /// A server running the Python `script`, which gets `conf` as its argument and prints
    /// its port.
    pub(crate) fn start_with(script: &str, conf: &Path) -> Self {
        #[expect(
            clippy::disallowed_methods,
            reason = "the test runs the service itself"
        )]
        let mut child = std::process::Command::new("python3")
            .args(["-c", script])
            .arg(conf)
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let port = line.trim().parse().unwrap();
        Self { child, port }
    }

    fn status(&self) -> u16 {
        let mut stream = std::net::TcpStream::connect(("127.0.0.1", self.port)).unwrap();
        stream
            .write_all(b"GET /health HTTP/1.0\r\nHost: x\r\n\r\n")
            .unwrap();
        let mut reply = String::new();
        stream.read_to_string(&mut reply).unwrap();
        reply.split_whitespace().nth(1).unwrap().parse().unwrap()
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn srv(host: &Host) -> PathBuf {
    host.root.join("srv/web")
}

/// Release `version` of the `web` module: writes the config, appends to the database,
/// and when `broken`, writes a config the service reports unhealthy and a new data file.
fn release(host: &mut Host, version: &str, broken: bool, port: u16) {
    let srv = srv(host);
    let status = if broken { "broken" } else { "healthy" };
    host.python_module(
        "web",
        &format!(
            r#"import os
SRV = {srv:?}
def main(args):
    os.makedirs(SRV + "/data", exist_ok=True)
    with open(SRV + "/app.conf", "w") as f:
        f.write("status={status}\nversion={version}\n")
    with open(SRV + "/data/db.txt", "a") as f:
        f.write("migrated to {version}\n")
    if {broken}:
        with open(SRV + "/data/new.bin", "wb") as f:
            f.write(b"\0" * 4096)
"#,
            srv = srv.display().to_string(),
            broken = if broken { "True" } else { "False" },
        ),
    );
    let health = format!(
        "import urllib.request; urllib.request.urlopen('http://127.0.0.1:{port}/health', timeout=2)"
    );
    // A person editing the manifest changes `version` and keeps what upkeep wrote back.
    let last_safe = fs_err::read_to_string(host.updates.join("manifest.json"))
        .ok()
        .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
        .map_or(serde_json::Value::Null, |j| {
            j["updates"][0]["lastSafeVersion"].clone()
        });
    host.manifest_json(&serde_json::json!({
        "updates": [{
            "name": "web",
            "version": version,
            "lastSafeVersion": last_safe,
            "paths": {
                "config": [format!("{}/app.conf", srv.display())],
                "data": [format!("{}/data", srv.display())]
            },
            "health": {"command": ["python3", "-c", health], "retries": 2, "interval": "50ms"}
        }]
    }));
    host.approve();
}

fn manifest_field(host: &Host, field: &str) -> serde_json::Value {
    let text = fs_err::read_to_string(host.manifest()).unwrap();
    let json: serde_json::Value = serde_json::from_str(&text).unwrap();
    json["updates"][0][field].clone()
}

fn tree(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    for entry in walk(dir) {
        let rel = entry.strip_prefix(dir).unwrap().display().to_string();
        out.push((rel, fs_err::read(&entry).unwrap()));
    }
    out.sort();
    out
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
#[expect(
    clippy::too_many_lines,
    reason = "one story: release, break, roll back, release"
)]
fn a_broken_update_is_rolled_back_and_the_service_is_healthy_with_the_old_bytes() {
    let mut host = Host::new();
    fs_err::create_dir_all(srv(&host)).unwrap();
    let service = Service::start(&srv(&host).join("app.conf"));
    release(&mut host, "1.0.0", false, service.port);
    host.upkeep().arg("run").assert().success();
    assert_eq!(service.status(), 200);
    assert_eq!(manifest_field(&host, "lastSafeVersion"), "1.0.0");
    let healthy = tree(&srv(&host));

    release(&mut host, "2.0.0", true, service.port);
    let (code, stdout, stderr) = output(&host.upkeep().arg("run").assert());
    assert_eq!(code, 3, "{stdout}\n{stderr}");
    assert!(stdout.contains("rolled back"), "{stdout}");
    assert_eq!(service.status(), 200, "the service is healthy again");
    assert_eq!(tree(&srv(&host)), healthy, "the old bytes are back");
    assert_eq!(manifest_field(&host, "lastSafeVersion"), "1.0.0");

    let ledger = host.ledger();
    let (outcome, applied, safe): (String, String, String) = ledger
        .query_row(
            "SELECT r.outcome, m.applied_version, m.last_safe_version FROM module_runs r
             JOIN modules m ON m.name = r.module WHERE r.run_id = 2",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .unwrap();
    assert_eq!(
        (outcome.as_str(), applied.as_str(), safe.as_str()),
        ("rolled-back", "1.0.0", "1.0.0")
    );
    let checks: Vec<(i64, String, bool)> = ledger
        .prepare("SELECT run_id, phase, passed FROM health_checks ORDER BY id")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(
        checks,
        vec![
            (1, "after-update".into(), true),
            (2, "after-update".into(), false),
            (2, "after-rollback".into(), true)
        ]
    );
    let rollback: (String, i64) = ledger
        .query_row(
            "SELECT result, backup_id FROM rollbacks WHERE run_id = 2",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!(rollback.0, "rolled-back");
    drop(ledger);

    // History tells the story of run 2; status shows the module's safety state.
    let (_, history, _) = output(&host.upkeep().args(["history", "--module", "web"]).assert());
    let run2 = history
        .split("run 2")
        .nth(1)
        .unwrap()
        .split("run 1")
        .next()
        .unwrap();
    for expected in [
        "rolled-back",
        "backup ",
        "after-update: failed",
        "after-rollback: passed",
    ] {
        assert!(
            run2.contains(expected),
            "{expected} missing from:\n{history}"
        );
    }
    let (_, status, _) = output(&host.upkeep().args(["--json", "status"]).assert());
    let report: serde_json::Value = serde_json::from_str(&status).unwrap();
    let status = &report["modules"];
    assert_eq!(status[0]["last_health"], "passed");
    assert_eq!(status[0]["last_safe_version"], "1.0.0");
    assert_eq!(status[0]["last_backup"], rollback.1);

    // A good release moves the last safe version.
    release(&mut host, "3.0.0", false, service.port);
    host.upkeep().arg("run").assert().success();
    assert_eq!(manifest_field(&host, "lastSafeVersion"), "3.0.0");
    assert_eq!(service.status(), 200);
}

#[test]
fn a_failed_rollback_holds_the_module_until_cleared() {
    let mut host = Host::new();
    fs_err::create_dir_all(srv(&host)).unwrap();
    let service = Service::start(&srv(&host).join("app.conf"));
    release(&mut host, "1.0.0", false, service.port);
    host.upkeep().arg("run").assert().success();
    let port = service.port;
    drop(service); // Nothing answers the health check any more.

    release(&mut host, "2.0.0", true, port);
    let (code, stdout, _) = output(&host.upkeep().arg("run").assert());
    assert_eq!(code, 3);
    assert!(stdout.contains("upkeep clear"), "{stdout}");
    assert_eq!(
        host.outcomes(2),
        vec![("web".into(), "needs-intervention".into())]
    );

    let (code, stdout, _) = output(&host.upkeep().arg("run").assert());
    assert_eq!(code, 3);
    assert_eq!(
        host.outcomes(3),
        vec![("web".into(), "held".into())],
        "{stdout}"
    );

    host.upkeep().args(["clear", "web"]).assert().success();
    let service = Service::start(&srv(&host).join("app.conf"));
    release(&mut host, "2.0.1", false, service.port);
    host.upkeep().arg("run").assert().success();
    assert_eq!(manifest_field(&host, "lastSafeVersion"), "2.0.1");
}

#[test]
#[expect(clippy::too_many_lines, reason = "one user session, step by step")]
fn manual_backup_verify_restore_and_prune() {
    let mut host = Host::new();
    // Archives, whose files the prune's dry run is seen to leave (the store has its own
    // prune tests in store_crash.rs).
    fs_err::write(
        host.root.join("settings.toml"),
        "[backup]\nformat = \"archive\"\n",
    )
    .unwrap();
    let data = host.root.join("srv/data");
    fs_err::create_dir_all(data.join("sub")).unwrap();
    fs_err::write(data.join("a.txt"), "first").unwrap();
    fs_err::write(data.join("sub/b.bin"), [1u8, 2, 3]).unwrap();
    host.manifest_toml(&format!(
        "[[module]]\nname = \"app\"\ncommand = [\"true\"]\npaths = [{:?}]\n",
        data.display().to_string()
    ));
    let before = tree(&data);
    let (code, stdout, stderr) = output(
        &host
            .upkeep()
            .args([
                "--json",
                "backup",
                "create",
                "--name",
                "nightly",
                "--min-free",
                "0",
            ])
            .assert(),
    );
    assert_eq!(code, 0, "{stderr}");
    let created: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(created["name"], "nightly");
    assert_eq!(created["entry_count"], 4, "{created}");

    host.upkeep()
        .args(["backup", "verify", "nightly"])
        .assert()
        .success();
    fs_err::write(data.join("a.txt"), "changed").unwrap();
    fs_err::write(data.join("extra"), "new").unwrap();

    // Without a terminal and without --yes nothing changes.
    let (code, _, stderr) = output(
        &host
            .upkeep()
            .args(["backup", "restore", "nightly"])
            .assert(),
    );
    assert_eq!(code, 8, "{stderr}");
    assert_eq!(
        fs_err::read_to_string(data.join("a.txt")).unwrap(),
        "changed"
    );

    host.upkeep()
        .args(["backup", "restore", "nightly", "--yes"])
        .assert()
        .success();
    assert_eq!(tree(&data), before);

    // The restore took a pre-restore backup; both are listed.
    let (_, stdout, _) = output(&host.upkeep().args(["--json", "backup", "list"]).assert());
    let list: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let reasons: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["reason"].as_str().unwrap())
        .collect();
    assert_eq!(reasons, vec!["pre-restore", "manual"]);

    // Keep one: the newest goes unless protected; the dry run deletes nothing.
    let (code, stdout, _) = output(
        &host
            .upkeep()
            .args(["--json", "backup", "prune", "--keep-last", "1", "--dry-run"])
            .assert(),
    );
    assert_eq!(code, 0);
    let plan: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let doomed: Vec<i64> = plan["backups"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["keep"] == false)
        .map(|d| d["backup"]["id"].as_i64().unwrap())
        .collect();
    let manual = list[1]["id"].as_i64().unwrap();
    assert_eq!(doomed, vec![manual], "{plan}");
    assert_eq!(
        fs_err::read_dir(host.state.join("backups"))
            .unwrap()
            .count(),
        2
    );
}

#[test]
fn retention_never_deletes_the_backup_of_the_last_safe_version() {
    let mut host = Host::new();
    let data = host.root.join("srv/app");
    fs_err::create_dir_all(&data).unwrap();
    fs_err::write(data.join("state"), "v0").unwrap();
    for version in 1..=4 {
        host.manifest_toml(&format!(
            "[[module]]\nname = \"app\"\nversion = {version}\ncommand = [\"sh\", \"-c\", \"echo v{version} > {}/state\"]\npaths = [{:?}]\n",
            data.display(),
            data.display().to_string()
        ));
        host.upkeep().arg("run").assert().success();
    }
    // Version 5 fails and is rolled back: its pre-update backup holds version 4, the last
    // safe one.
    host.manifest_toml(&format!(
        "[[module]]\nname = \"app\"\nversion = 5\ncommand = [\"sh\", \"-c\", \"echo v5 > {}/state; exit 1\"]\npaths = [{:?}]\n",
        data.display(),
        data.display().to_string()
    ));
    host.upkeep().arg("run").assert().code(3);
    assert_eq!(fs_err::read_to_string(data.join("state")).unwrap(), "v4\n");
    let ledger = host.ledger();
    let safe: String = ledger
        .query_row(
            "SELECT last_safe_version FROM modules WHERE name = 'app'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(safe, "4");
    drop(ledger);
    host.upkeep()
        .args(["backup", "prune", "--keep-last", "0"])
        .assert()
        .success();
    let (_, stdout, _) = output(&host.upkeep().args(["--json", "backup", "list"]).assert());
    let list: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let kept: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["module_version"].as_str().unwrap_or("-"))
        .collect();
    // Kept: the last safe version's backup (and newest of `app`), and the backup taken by
    // the newest successful run (run 4, holding version 3).
    assert_eq!(kept, vec!["4", "3"], "{list}");
}

pub(crate) fn git(dir: &Path, args: &[&str]) -> String {
    #[expect(
        clippy::disallowed_methods,
        reason = "the test drives git as a user would"
    )]
    let out = std::process::Command::new("git")
        .args([
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@example.invalid",
            "-c",
            "commit.gpgsign=false",
        ])
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A versioned Python module in a git repository writing `version` into its data file.
pub(crate) fn git_release(host: &mut Host, version: &str) {
    let data = host.root.join("srv/app");
    host.python_module(
        "app",
        &format!(
            "import os\ndef main(args):\n    os.makedirs({d:?}, exist_ok=True)\n    open({d:?} + '/state', 'w').write('{version}')\n",
            d = data.display().to_string()
        ),
    );
    host.manifest_json(&serde_json::json!({
        "updates": [{
            "name": "app",
            "version": version,
            "paths": [data.display().to_string()],
            "health": {"command": format!("test -s {}/state", data.display())}
        }]
    }));
    host.approve();
    git(&host.updates, &["add", "-A"]);
    git(&host.updates, &["commit", "-q", "-m", version]);
}

#[test]
#[expect(clippy::too_many_lines, reason = "one user session, step by step")]
fn rollback_restores_code_from_the_tag_and_data_from_the_backup() {
    let mut host = Host::new();
    git(&host.updates, &["init", "-q"]);
    git_release(&mut host, "1.0.0");
    let v1_code = fs_err::read_to_string(host.updates.join("app/index.py")).unwrap();
    host.upkeep().arg("run").assert().success();
    git_release(&mut host, "2.0.0");
    host.upkeep().arg("run").assert().success();
    let state = host.root.join("srv/app/state");
    assert_eq!(fs_err::read_to_string(&state).unwrap(), "2.0.0");
    let tags = git(&host.updates, &["tag", "--list"]);
    assert_eq!(tags.lines().count(), 2, "{tags}");
    assert!(
        tags.lines()
            .all(|t| regex_lite::Regex::new(r"^app-v[12]\.0\.0-\d{14}$")
                .unwrap()
                .is_match(t)),
        "{tags}"
    );

    let (_, stdout, _) = output(&host.upkeep().args(["--json", "versions", "app"]).assert());
    let versions: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let v1 = versions
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["version"] == "1.0.0")
        .unwrap();
    assert_eq!(v1["tags"].as_array().unwrap().len(), 1, "{versions}");
    assert_eq!(v1["backups"].as_array().unwrap().len(), 1, "{versions}");

    // No terminal, no --yes: nothing happens.
    host.upkeep()
        .args(["rollback", "app", "--to", "1.0.0"])
        .assert()
        .code(8);
    assert_eq!(fs_err::read_to_string(&state).unwrap(), "2.0.0");

    let told = host.root.join("told.txt");
    fs_err::write(
        host.root.join("settings.toml"),
        format!(
            "[channels.log]\nkind = \"command\"\nargv = [\"sh\", \"-c\", \"echo \\\"$UPKEEP_EVENT_KIND\\\" >> {}\"]\n",
            told.display()
        ),
    )
    .unwrap();
    let (code, stdout, stderr) = output(
        &host
            .upkeep()
            .args(["--json", "rollback", "app", "--to", "1.0.0", "--yes"])
            .assert(),
    );
    assert_eq!(code, 0, "{stdout}{stderr}");
    host.upkeep().args(["notify", "flush"]).assert().success();
    assert_eq!(
        fs_err::read_to_string(&told).unwrap(),
        "module_rolled_back\n",
        "a manual rollback is told"
    );
    let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(report["result"], "rolled-back");
    assert_eq!(report["healthy"], true);
    assert_eq!(
        fs_err::read_to_string(&state).unwrap(),
        "1.0.0",
        "data from the backup"
    );
    assert_eq!(
        fs_err::read_to_string(host.updates.join("app/index.py")).unwrap(),
        v1_code,
        "code from the tag"
    );
    assert_eq!(manifest_field(&host, "version"), "1.0.0");
    // The restored code is approved: the next run finds nothing changed (and, this being
    // a seed manifest, runs the module as every run does, without tagging it again).
    let (code, stdout, _) = output(&host.upkeep().args(["plan"]).assert());
    assert_eq!(code, 0);
    assert!(stdout.contains("run (every run)"), "{stdout}");
    host.upkeep().arg("run").assert().success();
    let applied: String = host
        .ledger()
        .query_row(
            "SELECT applied_version FROM modules WHERE name = 'app'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(applied, "1.0.0");

    // A tag moved to another commit is refused.
    let v2_tag = tags
        .lines()
        .find(|t| t.starts_with("app-v2"))
        .unwrap()
        .to_owned();
    git(&host.updates, &["tag", "-f", &v2_tag, "HEAD~1"]);
    let (code, _, stderr) = output(
        &host
            .upkeep()
            .args(["rollback", "app", "--to", "2.0.0", "--yes"])
            .assert(),
    );
    assert_eq!(code, 7, "{stderr}");
    assert!(stderr.contains("moved"), "{stderr}");
    assert_eq!(fs_err::read_to_string(&state).unwrap(), "1.0.0");
}

#[test]
fn without_room_for_its_backup_a_module_does_not_run() {
    let mut host = Host::new();
    let data = host.root.join("srv/data");
    fs_err::create_dir_all(&data).unwrap();
    fs_err::write(data.join("db"), "precious").unwrap();
    let ran = host.root.join("ran");
    host.manifest_toml(&format!(
        "[[module]]\nname = \"app\"\ncommand = [\"touch\", {ran:?}]\npaths = [{data:?}]\n\n\
         [[module]]\nname = \"after\"\ncommand = [\"touch\", {ran:?}]\ndepends_on = [\"app\"]\n",
        ran = ran.display().to_string(),
        data = data.display().to_string()
    ));
    let (code, _, stderr) = output(
        &host
            .upkeep()
            .args(["backup", "create", "--min-free", "4096TiB"])
            .assert(),
    );
    assert_eq!(code, 9);
    assert!(
        stderr.contains("needed") && stderr.contains("available"),
        "{stderr}"
    );
    assert!(
        !host.state.join("backups").exists()
            || fs_err::read_dir(host.state.join("backups"))
                .unwrap()
                .count()
                == 0
    );

    let (code, stdout, _) = output(
        &host
            .upkeep()
            .args(["run", "--min-free", "4096TiB"])
            .assert(),
    );
    assert_eq!(code, 3);
    assert!(stdout.contains("not enough free space"), "{stdout}");
    assert!(!ran.exists(), "neither the module nor its dependent ran");
    let mut outcomes = host.outcomes(1);
    outcomes.sort();
    assert_eq!(
        outcomes,
        vec![
            ("after".into(), "blocked".into()),
            ("app".into(), "backup-failed".into())
        ]
    );
}

#[test]
fn a_protected_backup_needs_force_and_prune_removes_unrecorded_archives() {
    let mut host = Host::new();
    let data = host.root.join("srv/data");
    fs_err::create_dir_all(&data).unwrap();
    fs_err::write(data.join("db"), "v0").unwrap();
    host.manifest_toml(&format!(
        "[[module]]\nname = \"app\"\nversion = 1\ncommand = [\"true\"]\npaths = [{:?}]\n",
        data.display().to_string()
    ));
    host.upkeep().arg("run").assert().success();
    // The run's pre-update backup is the newest of `app`: protected.
    let (code, _, stderr) = output(&host.upkeep().args(["backup", "delete", "1"]).assert());
    assert_eq!(code, 8, "{stderr}");
    assert!(stderr.contains("protected"), "{stderr}");
    host.upkeep()
        .args(["backup", "delete", "1", "--force"])
        .assert()
        .success();

    // An archive no row records (a backup killed before it was recorded) goes with prune.
    let stray = host
        .state
        .join("backups/20261123_000000-stray-00000000.tar.zst");
    fs_err::write(&stray, b"not recorded").unwrap();
    let (_, stdout, _) = output(
        &host
            .upkeep()
            .args(["backup", "prune", "--dry-run"])
            .assert(),
    );
    assert!(
        stdout.contains("would delete unrecorded archive"),
        "{stdout}"
    );
    assert!(stray.exists());
    host.upkeep().args(["backup", "prune"]).assert().success();
    assert!(!stray.exists());
}

/// A versioned module owning a data directory, with a health check that passes.
fn checked_release(host: &mut Host, version: &str) {
    let data = host.root.join("srv/app");
    fs_err::create_dir_all(&data).unwrap();
    host.python_module("app", "def main(args):\n    pass\n");
    host.manifest_json(&serde_json::json!({
        "updates": [{
            "name": "app",
            "version": version,
            "paths": [data.display().to_string()],
            "health": {"command": ["true"]}
        }]
    }));
    host.approve();
}

/// Make the ledger refuse every health-check row from now on (a real SQLite trigger).
fn refuse_health_rows(host: &Host) {
    let conn = rusqlite::Connection::open(host.state.join("upkeep.db")).unwrap();
    conn.execute_batch(
        "CREATE TRIGGER refuse_health BEFORE INSERT ON health_checks
         BEGIN SELECT RAISE(ABORT, 'health rows refused'); END;",
    )
    .unwrap();
}

/// A health check's result that the ledger cannot keep is not dropped: the run fails and
/// says so (it used to succeed with the check missing from the ledger, its failed write
/// ignored on a connection of its own).
#[test]
fn a_health_check_the_ledger_cannot_record_fails_the_run() {
    let mut host = Host::new();
    checked_release(&mut host, "1");
    host.upkeep().arg("run").assert().success();
    refuse_health_rows(&host);
    checked_release(&mut host, "2");
    let (code, _, stderr) = output(&host.upkeep().arg("run").assert());
    assert_ne!(code, 0, "{stderr}");
    assert!(
        stderr.contains("failed to record a health check"),
        "{stderr}"
    );
    assert!(stderr.contains("health rows refused"), "{stderr}");
}

/// The same for a manual rollback's re-check: `rollback` fails naming the ledger's refusal
/// rather than reporting a health check the ledger never kept.
#[test]
fn a_rollback_health_check_the_ledger_cannot_record_fails_the_rollback() {
    let mut host = Host::new();
    checked_release(&mut host, "1");
    host.upkeep().arg("run").assert().success();
    checked_release(&mut host, "2");
    host.upkeep().arg("run").assert().success();
    refuse_health_rows(&host);
    let (code, _, stderr) = output(
        &host
            .upkeep()
            .args(["rollback", "app", "--to", "1", "--yes"])
            .assert(),
    );
    assert_ne!(code, 0, "{stderr}");
    assert!(stderr.contains("health rows refused"), "{stderr}");
}

/// The pre-update backup's row is committed (through the run's ledger writer) before the
/// module starts: the module itself, reading the ledger on a connection of its own, finds
/// the backup of its run.
#[test]
fn a_module_starts_only_once_its_backup_is_committed() {
    let mut host = Host::new();
    let data = host.root.join("srv/app");
    fs_err::create_dir_all(&data).unwrap();
    fs_err::write(data.join("state"), "1").unwrap();
    let seen = host.root.join("seen.txt");
    host.python_module(
        "app",
        &format!(
            "import os, sqlite3\ndef main(args):\n    db = sqlite3.connect(os.path.join(os.environ['UPKEEP_STATE_DIR'], 'upkeep.db'))\n    n = db.execute('SELECT count(*) FROM backups WHERE run_id = ? AND reason = ?', (int(os.environ['UPKEEP_RUN_ID']), 'pre-update')).fetchone()[0]\n    open({seen:?}, 'w').write(str(n))\n",
            seen = seen.display().to_string()
        ),
    );
    host.manifest_json(&serde_json::json!({
        "updates": [{"name": "app", "version": "1", "paths": [data.display().to_string()]}]
    }));
    host.approve();
    host.upkeep().arg("run").assert().success();
    assert_eq!(fs_err::read_to_string(&seen).unwrap(), "1");
}
