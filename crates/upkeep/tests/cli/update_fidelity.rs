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
