//! Tags name the code that ran: after a rollback the module folder holds an older tag's
//! files while `HEAD` stays where it was, and an approved edit may not be committed; the
//! next healthy run's tag goes on a commit of the tree that ran, not on `HEAD`.

use crate::fixture::{Host, output};
use crate::process_hygiene::wait_for;
use crate::safety::{git, git_release};

/// The commit a tag points at.
fn commit_of(host: &Host, tag: &str) -> String {
    git(&host.updates, &["rev-parse", &format!("{tag}^{{commit}}")])
        .trim()
        .to_owned()
}

/// The module folder's tree in `commit`.
fn app_tree(host: &Host, commit: &str) -> String {
    git(&host.updates, &["rev-parse", &format!("{commit}:app")])
        .trim()
        .to_owned()
}

fn newest_tag(host: &Host, prefix: &str) -> String {
    git(
        &host.updates,
        &[
            "tag",
            "--list",
            &format!("{prefix}*"),
            "--sort=-creatordate",
        ],
    )
    .lines()
    .next()
    .unwrap_or_default()
    .to_owned()
}

#[test]
fn after_a_rollback_the_next_tag_names_the_restored_code_not_head() {
    let mut host = Host::new();
    git(&host.updates, &["init", "-q"]);
    git_release(&mut host, "1.0.0");
    let v1 = git(&host.updates, &["rev-parse", "HEAD"]).trim().to_owned();
    host.upkeep().arg("run").assert().success();
    git_release(&mut host, "2.0.0");
    let v2 = git(&host.updates, &["rev-parse", "HEAD"]).trim().to_owned();
    host.upkeep().arg("run").assert().success();
    host.upkeep()
        .args(["rollback", "app", "--to", "1.0.0", "--yes"])
        .assert()
        .success();
    // Tags name their second; the next tag of 1.0.0 must not fall in the first one's.
    let first = newest_tag(&host, "app-v1.0.0-");
    wait_for("the clock to pass the first tag's second", || {
        *jiff::Timestamp::now().strftime("%Y%m%d%H%M%S").to_string() > first["app-v1.0.0-".len()..]
    });
    let staged_before = git(&host.updates, &["diff", "--cached", "--name-only"]);

    let (code, stdout, stderr) = output(&host.upkeep().args(["run", "--force"]).assert());
    assert_eq!(code, 0, "{stdout}{stderr}");
    let tag = newest_tag(&host, "app-v1.0.0-");
    assert_ne!(tag, first, "no new tag: {stderr}");
    let tagged = commit_of(&host, &tag);
    assert_ne!(tagged, v2, "the tag is not on HEAD (2.0.0)");
    assert_eq!(
        app_tree(&host, &tagged),
        app_tree(&host, &v1),
        "it holds 1.0.0's code"
    );
    assert_eq!(
        git(&host.updates, &["rev-parse", &format!("{tagged}^")]).trim(),
        v2,
        "made on top of HEAD"
    );
    assert!(
        stderr.contains("differs from HEAD in") && stderr.contains("app/index.py"),
        "{stderr}"
    );
    assert_eq!(
        git(&host.updates, &["diff", "--cached", "--name-only"]),
        staged_before,
        "the user's index is left alone"
    );
    let recorded: String = host
        .ledger()
        .query_row(
            "SELECT commit_id FROM git_tags WHERE tag = ?1 ORDER BY rowid DESC LIMIT 1",
            [&tag],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(recorded, tagged);
}

/// A clean tree is tagged on `HEAD` itself, without a warning.
#[test]
fn a_clean_tree_is_tagged_on_head() {
    let mut host = Host::new();
    git(&host.updates, &["init", "-q"]);
    git_release(&mut host, "1.0.0");
    let head = git(&host.updates, &["rev-parse", "HEAD"]).trim().to_owned();
    let (code, _, stderr) = output(&host.upkeep().arg("run").assert());
    assert_eq!(code, 0, "{stderr}");
    assert!(!stderr.contains("differs from HEAD"), "{stderr}");
    assert_eq!(commit_of(&host, &newest_tag(&host, "app-v1.0.0-")), head);
}
