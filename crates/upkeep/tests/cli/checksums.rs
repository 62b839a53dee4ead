//! `upkeep checksum` and the integrity gate before modules run.

use crate::fixture::{Host, output};

#[test]
fn tampered_module_is_refused_naming_the_changed_files_and_dependents_are_skipped() {
    let host = Host::seed_example();
    host.approve();
    host.write("gogs/index.py", "def setup(old_version):\n    open('/tmp/owned', 'w')\n");
    host.write("gogs/extra.py", "x = 1\n");

    let check = host.upkeep().args(["checksum", "--check"]).assert().code(6);
    let (_, stdout, _) = output(&check);
    assert!(stdout.contains("gogs") && stdout.contains("mismatch"), "{stdout}");
    assert!(stdout.contains("changed: index.py") && stdout.contains("added: extra.py"), "{stdout}");

    let run = host.upkeep().arg("run").assert().code(6);
    let (_, stdout, _) = output(&run);
    assert!(stdout.contains("files of `gogs` do not match their checksum (changed: index.py; added: extra.py)"), "{stdout}");
    let outcomes = host.outcomes(1);
    assert!(outcomes.contains(&("gogs".to_owned(), "integrity-refused".to_owned())), "{outcomes:?}");
    assert!(outcomes.contains(&("adblock".to_owned(), "succeeded".to_owned())), "{outcomes:?}");
    assert!(!host.state.join("work/gogs").join("app.ini").exists(), "gogs did not run");

    // Re-approving one module is one command and leaves an audit entry.
    host.upkeep().args(["checksum", "--write", "gogs"]).assert().success();
    let audits: i64 = host
        .ledger()
        .query_row("SELECT count(*) FROM audit WHERE module = 'gogs' AND action = 'checksum-approved'", [], |r| r.get(0))
        .unwrap();
    assert_eq!(audits, 2, "the first approval and the re-approval");
    host.upkeep().args(["checksum", "--check", "gogs"]).assert().success();
}

#[test]
fn checksum_write_rejects_unknown_modules_with_a_suggestion() {
    let host = Host::seed_example();
    let assert = host.upkeep().args(["checksum", "--write", "gogz"]).assert().code(4);
    let (_, _, stderr) = output(&assert);
    assert!(stderr.contains("no module has that name") && stderr.contains("did you mean `gogs`?"), "{stderr}");
    assert!(!host.state.exists());
}

#[test]
fn checksum_file_matches_the_documented_algorithm() {
    let host = Host::seed_example();
    host.approve();
    let written = fs_err::read_to_string(host.updates.join("adblock/checksum")).unwrap();
    // docs/checksum.md gives this reference implementation; run it with python3.
    let reference = r#"
import hashlib, os, stat, sys
def digest(root):
    lines = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d not in ("__pycache__", ".git")
                             and not os.path.exists(os.path.join(dirpath, d, "pyvenv.cfg")))
        for name in filenames + [d for d in os.listdir(dirpath) if os.path.islink(os.path.join(dirpath, d)) and d not in filenames]:
            path = os.path.join(dirpath, name)
            rel = os.path.relpath(path, root).replace(os.sep, "/")
            if rel == "checksum" or name.endswith(".pyc"):
                continue
            st = os.lstat(path)
            if stat.S_ISLNK(st.st_mode):
                kind, data = "l", os.readlink(path).encode()
            else:
                kind = "x" if st.st_mode & stat.S_IXUSR else "f"
                data = open(path, "rb").read()
            lines.append((rel.encode(), f"{kind} {hashlib.sha256(data).hexdigest()} {rel}\n"))
    lines.sort()
    return hashlib.sha256("".join(l for _, l in lines).encode()).hexdigest()
print(digest(sys.argv[1]))
"#;
    let out = std::process::Command::new("python3").args(["-c", reference]).arg(host.updates.join("adblock")).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), written.trim());
}
