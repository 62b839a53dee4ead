//! `upkeep checksum` and the integrity gate before modules run.

use crate::fixture::{Host, output};

#[test]
#[expect(
    clippy::too_many_lines,
    reason = "one end-to-end scenario reads best top to bottom"
)]
fn tampered_module_is_refused_naming_the_changed_files_and_dependents_are_skipped() {
    let host = Host::seed_example();
    host.approve();
    host.write(
        "gogs/index.py",
        "def setup(old_version):\n    open('/tmp/owned', 'w')\n",
    );
    host.write("gogs/extra.py", "x = 1\n");

    let check = host.upkeep().args(["checksum", "--check"]).assert().code(6);
    let (_, stdout, _) = output(&check);
    assert!(
        stdout.contains("gogs") && stdout.contains("mismatch"),
        "{stdout}"
    );
    assert!(
        stdout.contains("changed: index.py") && stdout.contains("added: extra.py"),
        "{stdout}"
    );

    let run = host.upkeep().arg("run").assert().code(6);
    let (_, stdout, _) = output(&run);
    assert!(
        stdout.contains(
            "files of `gogs` do not match their checksum (changed: index.py; added: extra.py)"
        ),
        "{stdout}"
    );
    let outcomes = host.outcomes(1);
    assert!(
        outcomes.contains(&("gogs".to_owned(), "integrity-refused".to_owned())),
        "{outcomes:?}"
    );
    assert!(
        outcomes.contains(&("adblock".to_owned(), "succeeded".to_owned())),
        "{outcomes:?}"
    );
    assert!(
        !host.state.join("work/gogs").join("app.ini").exists(),
        "gogs did not run"
    );

    // Re-approving one module is one command and leaves an audit entry.
    host.upkeep()
        .args(["checksum", "--write", "gogs"])
        .assert()
        .success();
    let audits: i64 = host
        .ledger()
        .query_row(
            "SELECT count(*) FROM audit WHERE module = 'gogs' AND action = 'checksum-approved'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(audits, 2, "the first approval and the re-approval");
    let history = host
        .upkeep()
        .args(["history", "--module", "gogs"])
        .assert()
        .success();
    let (_, stdout, _) = output(&history);
    assert_eq!(
        stdout.matches("checksum-approved  gogs").count(),
        2,
        "{stdout}"
    );
    host.upkeep()
        .args(["checksum", "--check", "gogs"])
        .assert()
        .success();
}

#[test]
fn checksum_write_rejects_unknown_modules_with_a_suggestion() {
    let host = Host::seed_example();
    let assert = host
        .upkeep()
        .args(["checksum", "--write", "gogz"])
        .assert()
        .code(4);
    let (_, _, stderr) = output(&assert);
    assert!(
        stderr.contains("no module has that name") && stderr.contains("did you mean `gogs`?"),
        "{stderr}"
    );
    assert!(!host.state.exists());
}

#[test]
fn checksum_file_matches_the_reference_implementation_in_the_docs() {
    let host = Host::seed_example();
    host.write("adblock/sub/data.bin", "nested");
    host.approve();
    let written = fs_err::read_to_string(host.updates.join("adblock/checksum")).unwrap();
    // Run the Python reference implementation exactly as docs/checksum.md prints it.
    let doc = fs_err::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../docs/checksum.md"
    ))
    .unwrap();
    let start = doc
        .find("```python\n")
        .expect("docs/checksum.md has a python block")
        + "```python\n".len();
    let reference = &doc[start..start + doc[start..].find("```").unwrap()];
    let script = host.write("reference.py", reference);
    #[expect(
        clippy::disallowed_methods,
        reason = "the reference implementation is an outside program"
    )]
    let out = std::process::Command::new("python3")
        .arg(&script)
        .arg(host.updates.join("adblock"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), written.trim());
}
