//! `upkeep check` against real sources: bare git repositories with real tags, a JSON
//! release feed served on 127.0.0.1, a virtualenv with outdated packages installed from
//! local wheels (no network), and a feed on a closed port.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use serde_json::{Value, json};

use crate::fixture::{Host, output};

/// Run a helper program (git, python) for the test's own setup; it must succeed.
pub(crate) fn run(program: &str, args: &[&str], cwd: &Path) {
    #[expect(clippy::disallowed_methods, reason = "tests set up real repositories")]
    let out = std::process::Command::new(program)
        .args(args)
        .current_dir(cwd)
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .output()
        .unwrap_or_else(|e| panic!("start {program}: {e}"));
    assert!(
        out.status.success(),
        "{program} {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A bare repository under `host.root/repos/` holding one commit with these tags.
pub(crate) fn tagged_repo(host: &Host, name: &str, tags: &[&str]) -> PathBuf {
    let repos = host.root.join("repos");
    let work = repos.join(format!("{name}-work"));
    let bare = repos.join(format!("{name}.git"));
    fs_err::create_dir_all(&work).unwrap();
    run(
        "git",
        &["init", "-q", "--bare", bare.to_str().unwrap()],
        &repos,
    );
    run("git", &["init", "-q", "."], &work);
    let id = [
        "-c",
        "user.name=upkeep tests",
        "-c",
        "user.email=tests@upkeep.invalid",
    ];
    run(
        "git",
        &[&id[..], &["commit", "-q", "--allow-empty", "-m", "release"]].concat(),
        &work,
    );
    for tag in tags {
        run("git", &["tag", tag], &work);
    }
    run(
        "git",
        &["push", "-q", bare.to_str().unwrap(), "--tags"],
        &work,
    );
    bare
}

/// Serve `body` as JSON to every request on 127.0.0.1; returns the URL and a request count.
pub(crate) fn serve_json(body: &Value) -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/releases.json", listener.local_addr().unwrap());
    let hits = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&hits);
    let body = body.to_string();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            let mut request = Vec::new();
            let mut buf = [0u8; 1024];
            while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                match stream.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => request.extend_from_slice(&buf[..n]),
                }
            }
            counter.fetch_add(1, Ordering::SeqCst);
            let response = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = stream.write_all(response.as_bytes());
        }
    });
    (url, hits)
}

/// A URL on a port nothing listens on.
fn closed_port_url() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/releases.json", listener.local_addr().unwrap());
    drop(listener);
    url
}

/// GitHub's release objects, with the `security` flag of upkeep's own feed format.
fn filebrowser_feed() -> Value {
    json!([
        {"tag_name": "v3.0.0-beta.1", "body": "Rewrite", "prerelease": true, "draft": false},
        {"tag_name": "v2.31.0", "published_at": "2025-03-01T12:00:00Z", "security": true,
         "body": "Fixes CVE-2025-0001 in the share handler\n\nFaster listings\nNew icons\nSmaller binary",
         "prerelease": false, "draft": false, "html_url": "https://example.invalid/r/2.31.0"},
        {"tag_name": "v2.30.0", "body": "Older", "prerelease": false, "draft": false}
    ])
}

const WHEELS: &str = r#"
import base64, hashlib, pathlib, sys, zipfile
out = pathlib.Path(sys.argv[1])
out.mkdir(parents=True, exist_ok=True)
for name, version in [("upkeepdemo", "1.0.0"), ("upkeepdemo", "1.1.0"), ("upkeepdemo", "2.0.0"),
                      ("upkeephelper", "1.0.0"), ("upkeephelper", "1.1.0")]:
    dist = f"{name}-{version}.dist-info"
    files = {
        f"{name}/__init__.py": f"VERSION = {version!r}\n",
        f"{dist}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n",
        f"{dist}/WHEEL": "Wheel-Version: 1.0\nGenerator: upkeep-tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    record = []
    for path, text in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=")
        record.append(f"{path},sha256={digest.decode()},{len(text.encode())}")
    record.append(f"{dist}/RECORD,,")
    files[f"{dist}/RECORD"] = "\n".join(record) + "\n"
    with zipfile.ZipFile(out / f"{name}-{version}-py3-none-any.whl", "w") as wheel:
        for path, text in files.items():
            wheel.writestr(path, text)
"#;

/// A virtualenv at `venv` with upkeepdemo and upkeephelper 1.0.0 installed from local
/// wheels built by hand (newer ones wait in the same directory), without any network.
/// Returns the wheel directory.
fn outdated_venv(host: &Host, venv: &Path) -> PathBuf {
    let wheels = host.root.join("wheels");
    run(
        "python3",
        &["-c", WHEELS, wheels.to_str().unwrap()],
        &host.root,
    );
    run(
        "python3",
        &["-m", "venv", venv.to_str().unwrap()],
        &host.root,
    );
    let python = venv.join("bin/python");
    let links = wheels.to_str().unwrap();
    run(
        python.to_str().unwrap(),
        &[
            "-m",
            "pip",
            "install",
            "-q",
            "--disable-pip-version-check",
            "--no-index",
            "--find-links",
            links,
            "upkeepdemo==1.0.0",
            "upkeephelper==1.0.0",
        ],
        &host.root,
    );
    wheels
}

/// Modules gogs (git), filebrowser (http), tools (pip), down (http on a closed port) and
/// notes (no source).
fn four_sources(repo: &Path, feed: &str, wheels: &Path, down: &str) -> String {
    format!(
        r#"
[[module]]
name = "gogs"
command = ["true"]
version = "1.0.0"
source = {{ type = "git", url = "{repo}" }}

[[module]]
name = "filebrowser"
command = ["true"]
version = "2.30.0"
source = {{ type = "http", url = "{feed}" }}

[[module]]
name = "tools"
command = ["true"]
source = {{ type = "pip", args = ["--no-index", "--find-links", "{wheels}"] }}

[[module]]
name = "down"
command = ["true"]
version = "1.0.0"
source = {{ type = "http", url = "{down}", timeout = "10s" }}

[[module]]
name = "notes"
command = ["true"]
"#,
        repo = repo.display(),
        wheels = wheels.display(),
    )
}

/// Paths, ports, times and check times made stable for snapshots.
fn redact(host: &Host, text: &str) -> String {
    let ports = regex_lite::Regex::new(r"127\.0\.0\.1:\d+").unwrap();
    let ms = regex_lite::Regex::new(r#""checked_ms": \d+"#).unwrap();
    let text = host.redact(text);
    let text = ports.replace_all(&text, "127.0.0.1:[PORT]");
    ms.replace_all(&text, r#""checked_ms": [MS]"#).into_owned()
}

/// The ledger's cached checks: module, source, ok, error.
fn recorded_checks(host: &Host) -> Vec<(String, String, bool, Option<String>)> {
    host.ledger()
        .prepare("SELECT module, source, ok, error FROM update_checks ORDER BY module")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

pub(crate) fn check(host: &Host, args: &[&str]) -> (i32, String, String) {
    output(
        &host
            .upkeep()
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .arg("check")
            .args(args)
            .assert(),
    )
}

#[test]
fn a_check_asks_git_http_and_pip_and_reports_a_dead_source_as_its_modules_failure() {
    let mut host = Host::new();
    let repo = tagged_repo(
        &host,
        "gogs",
        &["v1.0.0", "1.0.1", "v1.1.0", "v2.0.0", "nightly"],
    );
    let (feed, hits) = serve_json(&filebrowser_feed());
    let wheels = outdated_venv(&host, &host.updates.join("venv"));
    let down = closed_port_url();
    host.manifest_toml(&four_sources(&repo, &feed, &wheels, &down));

    let (code, stdout, stderr) = check(&host, &["--details"]);
    assert_eq!(code, 3, "a failed source exits 3; stderr: {stderr}");
    insta::assert_snapshot!("live_check", redact(&host, &stdout));
    assert_eq!(hits.load(Ordering::SeqCst), 1);

    let rows = recorded_checks(&host);
    let summary: Vec<(&str, &str, bool)> = rows
        .iter()
        .map(|(m, s, ok, _)| (m.as_str(), s.as_str(), *ok))
        .collect();
    assert_eq!(
        summary,
        [
            ("down", "http", false),
            ("filebrowser", "http", true),
            ("gogs", "git", true),
            ("tools", "pip", true)
        ]
    );
    assert!(rows[0].3.as_deref().unwrap().contains("Connection refused"));

    // The cache answers without any source: the repository and the virtualenv are gone
    // and the feed is not asked again.
    fs_err::remove_dir_all(&repo).unwrap();
    fs_err::remove_dir_all(host.updates.join("venv")).unwrap();
    let (code, stdout, _) = check(&host, &["--cached", "--json"]);
    assert_eq!(code, 3);
    assert_eq!(hits.load(Ordering::SeqCst), 1);
    insta::assert_snapshot!("cached_json", redact(&host, &stdout));

    let (_, metrics, _) = output(
        &host
            .upkeep()
            .args(["status", "--metrics", "--json"])
            .assert(),
    );
    let metrics: Value = serde_json::from_str(&metrics).unwrap();
    let last: i64 = host
        .ledger()
        .query_row("SELECT max(checked_ms) FROM update_checks", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(metrics["last_check_ms"], json!(last));
    let (_, status, _) = output(&host.upkeep().args(["status", "--metrics"]).assert());
    assert!(status.contains("\nlast check: 20"), "{status}");
}

#[test]
fn policies_hold_back_what_they_do_not_allow_and_say_why() {
    let mut host = Host::new();
    let repo = tagged_repo(
        &host,
        "app",
        &["v1.0.0", "v1.0.1", "v1.1.0", "v2.0.0", "v2.1.0-rc.1"],
    );
    let module = |name: &str, policy: &str| {
        format!(
            "[[module]]\nname = \"{name}\"\ncommand = [\"true\"]\nversion = \"1.0.0\"\nsource = {{ type = \"git\", url = \"{}\" }}\npolicy = {{ {policy} }}\n\n",
            repo.display()
        )
    };
    let manifest = [
        module("default", ""),
        module("breaking-ok", "ask_before_major = false"),
        module("ranged", "range = \"~1.0\""),
        module("pinned", "pin = \"1.0.0\""),
        module("held", "hold = true"),
        module(
            "prerelease",
            "channel = \"prerelease\", ask_before_major = false",
        ),
    ]
    .concat();
    host.manifest_toml(&manifest);

    let (code, stdout, stderr) = check(&host, &[]);
    assert_eq!(code, 0, "every source answered; stderr: {stderr}");
    insta::assert_snapshot!("policies", redact(&host, &stdout));

    let (_, json, _) = check(&host, &["--cached", "--json"]);
    let report: Value = serde_json::from_str(&json).unwrap();
    let decisions: Vec<(String, Value, Value)> = report["modules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            let reason = m["held"].get("reason").cloned().unwrap_or(Value::Null);
            (
                m["module"].as_str().unwrap().to_owned(),
                m["target"].clone(),
                reason,
            )
        })
        .collect();
    let expected = [
        ("default", json!("1.1.0"), json!("major")),
        ("breaking-ok", json!("2.0.0"), Value::Null),
        ("ranged", json!("1.0.1"), json!("outside-range")),
        ("pinned", Value::Null, json!("pinned")),
        ("held", Value::Null, json!("hold")),
        ("prerelease", json!("2.1.0-rc.1"), Value::Null),
    ];
    let expected: Vec<(String, Value, Value)> = expected
        .into_iter()
        .map(|(m, t, r)| (m.to_owned(), t, r))
        .collect();
    assert_eq!(decisions, expected);
    assert_eq!(report["modules"][3]["held"]["pin"], json!("1.0.0"));
    assert_eq!(report["summary"]["held"], json!(4));
}

#[test]
fn security_only_type_and_module_names_select_what_is_checked() {
    let mut host = Host::new();
    let repo = tagged_repo(&host, "gogs", &["v1.0.0", "v1.2.0"]);
    let (feed, _) = serve_json(&filebrowser_feed());
    host.manifest_toml(&format!(
        r#"
[[module]]
name = "gogs"
command = ["true"]
version = "1.0.0"
source = {{ type = "git", url = "{repo}" }}

[[module]]
name = "filebrowser"
command = ["true"]
version = "2.30.0"
source = {{ type = "http", url = "{feed}" }}

[[module]]
name = "templates"
command = ["true"]
source = {{ type = "command", command = ["echo", "{{\"current\": \"3\", \"version\": \"4\", \"breaking\": true}}"], update_type = "config" }}
"#,
        repo = repo.display()
    ));
    let listed = |stdout: &str| -> Vec<String> {
        stdout
            .lines()
            .filter(|l| !l.starts_with(' ') && l.contains(" ("))
            .map(|l| l.split(' ').next().unwrap().to_owned())
            .collect()
    };

    let (code, stdout, _) = check(&host, &["--security-only"]);
    assert_eq!(code, 0);
    assert_eq!(listed(&stdout), ["filebrowser"]);
    assert!(
        stdout.starts_with("3 modules checked: 1 update available, 1 security,"),
        "{stdout}"
    );

    let (_, stdout, _) = check(&host, &["--type", "config"]);
    assert_eq!(listed(&stdout), ["templates"]);
    assert!(
        stdout.contains("  3 → 4 [breaking] [major]\n  held back: 4 ("),
        "{stdout}"
    );
    let (_, stdout, _) = check(&host, &["--type", "app"]);
    assert_eq!(listed(&stdout), ["gogs", "filebrowser"]);
    let (code, stdout, _) = check(&host, &["--type", "packages"]);
    assert_eq!((code, stdout.as_str()), (0, "no module to check\n"));
    let (_, stdout, _) = check(&host, &["gogs"]);
    assert_eq!(listed(&stdout), ["gogs"]);
    assert!(stdout.contains("  1.0.0 → 1.2.0\n"), "{stdout}");

    let (code, stdout, stderr) = check(&host, &["gosg"]);
    assert_eq!((code, stdout.as_str()), (4, ""));
    assert!(
        stderr.contains("the manifest has no module of that name"),
        "{stderr}"
    );
    assert!(stderr.contains("hint: did you mean `gogs`?"), "{stderr}");
}

#[test]
fn cached_reports_the_last_answers_without_asking_again() {
    let mut host = Host::new();
    let repo = tagged_repo(&host, "gogs", &["v1.0.0", "v1.2.0"]);
    let (feed, hits) = serve_json(&filebrowser_feed());
    host.manifest_toml(&format!(
        r#"
[[module]]
name = "gogs"
command = ["true"]
version = "1.0.0"
source = {{ type = "git", url = "{repo}" }}

[[module]]
name = "filebrowser"
command = ["true"]
version = "2.30.0"
source = {{ type = "http", url = "{feed}" }}
"#,
        repo = repo.display()
    ));
    let (code, stdout, _) = check(&host, &["--cached"]);
    assert_eq!(code, 0);
    assert!(!host.state.exists(), "--cached writes nothing");
    assert_eq!(
        stdout, "2 modules were never checked; run `upkeep check`\n",
        "nothing cached yet"
    );

    let (code, live, _) = check(&host, &[]);
    assert_eq!(code, 0);
    fs_err::remove_dir_all(&repo).unwrap();
    let (code, cached, _) = check(&host, &["--cached"]);
    assert_eq!(code, 0);
    assert_eq!(hits.load(Ordering::SeqCst), 1, "the feed was asked once");
    let times = regex_lite::Regex::new(r", checked [^)]*\)").unwrap();
    let cached = times
        .replace_all(&cached, ")")
        .replace(" checked (cached):", " checked:");
    assert_eq!(cached, live);

    // Asking again now that the repository is gone: that module fails, the other is fine,
    // and the cache keeps the failure.
    let (code, stdout, _) = check(&host, &[]);
    assert_eq!(code, 3, "{stdout}");
    assert!(
        stdout.contains("gogs (git, app)\n  error: `git ls-remote --tags --refs "),
        "{stdout}"
    );
    assert!(stdout.contains("filebrowser (http, app)\n  2.30.0 → 2.31.0 [security]\n"));
    let (code, stdout, _) = check(&host, &["--cached"]);
    assert_eq!(code, 3, "{stdout}");
}

#[test]
fn an_invalid_source_is_refused_before_anything_is_written() {
    let mut host = Host::new();
    host.manifest_json(&json!({"updates": [
        {"name": "gogs", "command": ["true"], "source": {"type": "git", "tagPattern": "v"}}
    ]}));
    let (code, stdout, stderr) = check(&host, &[]);
    assert_eq!((code, stdout.as_str()), (4, ""));
    assert!(stderr.contains("a `git` source needs a `url`"), "{stderr}");
    assert!(
        stderr.contains("tag pattern `v` must hold `{version}`"),
        "{stderr}"
    );
    assert!(!host.state.exists());
}

#[test]
fn sources_that_never_answer_are_stopped_at_their_timeout() {
    let mut host = Host::new();
    // Accepts connections and never replies.
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let silent_url = format!("http://{}/releases.json", silent.local_addr().unwrap());
    std::thread::spawn(move || {
        let held: Vec<_> = silent.incoming().collect();
        drop(held);
    });
    host.manifest_toml(&format!(
        r#"
[[module]]
name = "stuck"
command = ["true"]
source = {{ type = "command", command = ["sleep", "600"], timeout = "1s" }}

[[module]]
name = "silent"
command = ["true"]
source = {{ type = "http", url = "{silent_url}", timeout = "1s" }}

[[module]]
name = "fine"
command = ["true"]
version = "1"
source = {{ type = "command", command = ["echo", "2"] }}
"#
    ));
    let (code, stdout, _) = check(&host, &[]);
    assert_eq!(code, 3, "{stdout}");
    assert!(
        stdout.contains(
            "stuck (command, app)\n  error: `sleep 600` took longer than 1.0s and was stopped\n"
        ),
        "{stdout}"
    );
    let silent = regex_lite::Regex::new(
        r"silent \(http, app\)\n  error: fetch http://127\.0\.0\.1:\d+/releases\.json: no complete answer within 1\.0s\n",
    )
    .unwrap();
    assert!(silent.is_match(&stdout), "{stdout}");
    assert!(
        stdout.contains("fine (command, app)\n  1 → 2 [major]\n"),
        "{stdout}"
    );
    assert_eq!(
        recorded_checks(&host).iter().filter(|r| !r.2).count(),
        2,
        "both failures are cached"
    );
}
