//! What `upkeep check`, `status` and a run's summary say about upstream versions, from the
//! user's side: one spelling of a version whatever the source (a GitHub feed's `tag_name`
//! and a git tag), pre-releases flagged, package versions compared by their ecosystem's
//! rules, and the commands a check starts visible with `UPKEEP_LOG=debug`.

use serde_json::{Value, json};

use crate::checks::{check, serve_json, tagged_repo};
use crate::fixture::Host;

/// The module of `report` named `name`.
fn module<'r>(report: &'r Value, name: &str) -> &'r Value {
    report["modules"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["module"] == name)
        .unwrap_or_else(|| panic!("no {name} in {report:#}"))
}

/// Modules `from-feed` (a GitHub feed), `from-git` (tags) and `early` (the feed on the
/// pre-release channel), all on 2.30.0.
fn same_release_three_ways(repo: &std::path::Path, feed: &str) -> String {
    format!(
        r#"
[[module]]
name = "from-feed"
command = ["true"]
version = "2.30.0"
source = {{ type = "http", url = "{feed}" }}

[[module]]
name = "from-git"
command = ["true"]
version = "2.30.0"
source = {{ type = "git", url = "{repo}" }}

[[module]]
name = "early"
command = ["true"]
version = "2.30.0"
source = {{ type = "http", url = "{feed}" }}
policy = {{ channel = "prerelease", ask_before_major = false }}
"#,
        repo = repo.display()
    )
}

#[test]
fn a_feeds_tag_name_and_a_git_tag_give_the_same_version_and_prereleases_are_flagged() {
    let mut host = Host::new();
    let repo = tagged_repo(&host, "app", &["v2.30.0", "v2.31.0", "v3.0.0-beta.1"]);
    // GitHub's releases API: `tag_name` is all there is, and the beta is not marked.
    let (feed, _) = serve_json(&json!([
        {"tag_name": "v3.0.0-beta.1", "prerelease": false, "draft": false},
        {"tag_name": "v2.31.0", "prerelease": false, "draft": false},
        {"tag_name": "v2.30.0", "prerelease": false, "draft": false}
    ]));
    host.manifest_toml(&same_release_three_ways(&repo, &feed));

    let (code, stdout, stderr) = check(&host, &["--json"]);
    assert_eq!(code, 0, "{stderr}");
    let report: Value = serde_json::from_str(&stdout).unwrap();
    for name in ["from-feed", "from-git"] {
        let m = module(&report, name);
        assert_eq!(
            (&m["latest"], &m["target"], &m["prerelease"]),
            (&json!("2.31.0"), &json!("2.31.0"), &json!(false)),
            "{m:#}"
        );
        assert_eq!(m["releases"][0]["version"], "2.31.0", "{m:#}");
        assert_eq!(m["releases"][0]["tag"], "v2.31.0", "{m:#}");
    }
    let early = module(&report, "early");
    assert_eq!(early["latest"], "3.0.0-beta.1", "{early:#}");
    assert_eq!(early["prerelease"], true, "{early:#}");
    assert_eq!(early["releases"][0]["prerelease"], true, "{early:#}");
    assert_eq!(early["releases"][1]["prerelease"], false, "{early:#}");

    let (_, text, _) = check(&host, &["--cached"]);
    assert!(text.contains("  2.30.0 → 2.31.0\n"), "{text}");
    assert!(
        text.contains("  2.30.0 → 3.0.0-beta.1 [major] [pre-release]"),
        "{text}"
    );

    // A run hands both modules the same target.
    let plan = host.upkeep().args(["plan", "--json"]).assert().success();
    let plan: Value = serde_json::from_slice(&plan.get_output().stdout).unwrap();
    let targets: Vec<&Value> = plan["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| &s["update"]["target"])
        .collect();
    assert_eq!(
        targets,
        [&json!("2.31.0"), &json!("2.31.0"), &json!("3.0.0-beta.1")]
    );
}

#[test]
fn a_debug_log_shows_the_commands_a_check_starts_with_secrets_hidden() {
    let mut host = Host::new();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    host.manifest_toml(&format!(
        r#"
[[module]]
name = "remote"
command = ["true"]
source = {{ type = "git", url = "http://bot:s3cret@127.0.0.1:{port}/app.git?token=abc", timeout = "10s" }}

[[module]]
name = "feed"
command = ["true"]
source = {{ type = "http", url = "http://127.0.0.1:{port}/releases.json?token=abc", timeout = "10s" }}
"#
    ));
    let (_, _, quiet) = check(&host, &[]);
    assert!(!quiet.contains("update check: starting"), "{quiet}");

    let assert = host
        .upkeep()
        .env("UPKEEP_LOG", "debug")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .arg("check")
        .assert();
    let stderr = String::from_utf8_lossy(&assert.get_output().stderr).into_owned();
    let started = format!(
        "update check: starting command=git ls-remote --tags --refs \
         'http://bot:***@127.0.0.1:{port}/app.git?token=***'"
    );
    assert!(stderr.contains(&started), "{stderr}");
    let fetched = format!(
        "update check: fetching a release feed url=http://127.0.0.1:{port}/releases.json?token=***"
    );
    assert!(stderr.contains(&fetched), "{stderr}");
    assert!(
        !stderr.contains("s3cret") && !stderr.contains("abc"),
        "{stderr}"
    );
}

/// A directory holding an executable `name` that prints `output`, to put first on `PATH`
/// or to be a virtualenv's `bin/`.
fn program(host: &Host, dir: &str, name: &str, output: &str) -> std::path::PathBuf {
    let path = host.script(
        &format!("{dir}/{name}"),
        &format!("cat <<'OUT'\n{output}\nOUT"),
    );
    path.parent().unwrap().to_path_buf()
}

/// `apt list --upgradable` as Debian 12 printed it on this project's build machine, with
/// a major security update and a major ordinary one added.
const BOOKWORM: &str = "Listing...
ca-certificates/oldstable-security 20250419~deb12u2 all [upgradable from: 20230311+deb12u1]
libc6/oldstable 2.36-9+deb12u13 amd64 [upgradable from: 2.36-9+deb12u10]
nodejs/oldstable 20.19.2+dfsg-1 amd64 [upgradable from: 18.19.0+dfsg-6~deb12u2]
openssl/oldstable-security 3.0.15-1~deb12u1 amd64 [upgradable from: 1.1.1w-0+deb11u1]
tzdata/oldstable 2025b-0+deb12u1 all [upgradable from: 2024a-0+deb12u1]";

/// (name, major, held reason) of each package of `module` in a `check --json` report.
fn packages(report: &Value, module_name: &str) -> Vec<(String, bool, Value)> {
    module(report, module_name)["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["name"].as_str().unwrap().to_owned(),
                p["major"].as_bool().unwrap(),
                p["held"]["reason"].clone(),
            )
        })
        .collect()
}

#[test]
fn apt_versions_compare_as_dpkg_does_and_security_updates_are_not_held_as_major() {
    let mut host = Host::new();
    let bin = program(&host, "fake-bin", "apt", BOOKWORM);
    host.manifest_toml(
        r#"
[[module]]
name = "system"
command = ["true"]
source = { type = "apt" }

[[module]]
name = "strict"
command = ["true"]
source = { type = "apt", packages = ["openssl"] }
policy = { ask_before_major_security = true }
"#,
    );
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap());
    let assert = host
        .upkeep()
        .env("PATH", &path)
        .args(["check", "--json"])
        .assert()
        .success();
    let report: Value = serde_json::from_slice(&assert.get_output().stdout).unwrap();
    let free = |name: &str, major: bool| (name.to_owned(), major, Value::Null);
    assert_eq!(
        packages(&report, "system"),
        [
            free("ca-certificates", false),
            free("libc6", false),
            ("nodejs".to_owned(), true, json!("major")),
            free("openssl", true),
            free("tzdata", false),
        ]
    );
    assert_eq!(
        packages(&report, "strict"),
        [("openssl".to_owned(), true, json!("major"))],
        "the policy asked for major security updates to wait"
    );

    let text = host
        .upkeep()
        .env("PATH", &path)
        .args(["check", "--cached"])
        .assert();
    let text = String::from_utf8_lossy(&text.get_output().stdout).into_owned();
    assert!(
        text.contains("ca-certificates  20230311+deb12u1 → 20250419~deb12u2 [security]\n"),
        "{text}"
    );

    // A run hands the module every package but nodejs.
    let plan = host.upkeep().args(["plan", "--json"]).assert().success();
    let plan: Value = serde_json::from_slice(&plan.get_output().stdout).unwrap();
    let taken: Vec<&str> = plan["steps"][0]["update"]["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(taken, ["ca-certificates", "libc6", "openssl", "tzdata"]);
}

/// What pip 23 prints with `--pre`: a beta of a new major, a post-release, a development
/// release and a new epoch.
const PIP_PRE: &str = r#"[{"name": "Django", "version": "4.2.13", "latest_version": "5.0b1", "latest_filetype": "wheel"}, {"name": "pytz", "version": "2024.1", "latest_version": "2024.1.post1", "latest_filetype": "wheel"}, {"name": "tool", "version": "1.4.0", "latest_version": "1.5.0.dev3", "latest_filetype": "wheel"}, {"name": "renumbered", "version": "2024.6", "latest_version": "1!1.0", "latest_filetype": "wheel"}]"#;

#[test]
fn pip_versions_compare_by_pep_440_and_prereleases_are_flagged() {
    let mut host = Host::new();
    program(&host, "venv/bin", "python", PIP_PRE);
    host.manifest_toml(
        r#"
[[module]]
name = "tools"
command = ["true"]
source = { type = "pip", args = ["--pre"] }
"#,
    );
    let (code, stdout, stderr) = check(&host, &["--json"]);
    assert_eq!(code, 0, "{stderr}");
    let report: Value = serde_json::from_str(&stdout).unwrap();
    let seen: Vec<(&str, bool, bool)> = module(&report, "tools")["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["name"].as_str().unwrap(),
                p["major"].as_bool().unwrap(),
                p["prerelease"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        seen,
        [
            ("Django", true, true),
            ("pytz", false, false),
            ("renumbered", true, false),
            ("tool", false, true),
        ]
    );
}

#[test]
fn status_and_the_run_summary_show_the_upstream_version_and_what_is_available() {
    let mut host = Host::new();
    host.script("app/update.sh", "true");
    host.script(
        "app/offer.sh",
        r#"echo '[{"version": "v2.3.0"}, {"version": "v2.3.1"}, {"version": "v3.0.0"}]'"#,
    );
    host.manifest_toml(
        r#"
[[module]]
name = "app"
version = "2.3.0"
script = "app/update.sh"
source = { type = "command", command = ["sh", "offer.sh"] }

[[module]]
name = "plain"
command = ["true"]
"#,
    );
    host.approve();
    host.upkeep().arg("run").assert().success();
    assert_eq!(check(&host, &[]).0, 0);

    let status = host.upkeep().arg("status").assert().success();
    let table = String::from_utf8_lossy(&status.get_output().stdout).into_owned();
    assert!(table.contains("UPSTREAM"), "{table}");
    assert!(table.contains("2.3.0 → 3.0.0"), "{table}");
    let one = host.upkeep().args(["status", "app"]).assert().success();
    let one = String::from_utf8_lossy(&one.get_output().stdout).into_owned();
    assert!(
        one.contains("upstream      2.3.0 → 3.0.0; next run takes 2.3.1; held back: 3.0.0 ("),
        "{one}"
    );
    let json = host.upkeep().args(["status", "--json"]).assert().success();
    let json: Value = serde_json::from_slice(&json.get_output().stdout).unwrap();
    let rows = json["modules"].as_array().unwrap();
    assert_eq!(rows[0]["upstream"]["current"], "2.3.0", "{json:#}");
    assert_eq!(rows[0]["upstream"]["latest"], "3.0.0", "{json:#}");
    assert_eq!(rows[0]["upstream"]["prerelease"], false, "{json:#}");
    assert_eq!(rows[1]["upstream"], Value::Null, "{json:#}");

    let run = host.upkeep().arg("run").assert().success();
    let summary = String::from_utf8_lossy(&run.get_output().stdout).into_owned();
    assert!(summary.contains("UPSTREAM"), "{summary}");
    assert!(
        summary.contains("2.3.0 → 2.3.1 (3.0.0 available)"),
        "{summary}"
    );
    let one = host.upkeep().args(["status", "app"]).assert().success();
    let one = String::from_utf8_lossy(&one.get_output().stdout).into_owned();
    assert!(
        one.contains("upstream      2.3.1 → 3.0.0; held back: 3.0.0"),
        "{one}"
    );
}
