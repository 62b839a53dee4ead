//! The digest against the Python reference, exclusions, kinds, ordering, diffs, errors
//! and checksum files, on real directories.

use std::os::unix::ffi::OsStringExt;
use std::os::unix::fs::PermissionsExt;

use fs_err::os::unix::fs::symlink;

use super::*;

/// `docs/checksum.md`'s Python reference prints this for the tree of [`golden_tree`].
const GOLDEN: &str = "dd68992cdedf25e138e0172ce0f24339085e5f57afb5ef6d425320d52b3416a5";

fn write(path: &Path, content: &str, mode: u32) {
    if let Some(parent) = path.parent() {
        fs_err::create_dir_all(parent).unwrap();
    }
    fs_err::write(path, content).unwrap();
    fs_err::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// The sample tree of `docs/checksum.md`.
fn golden_tree() -> tempfile::TempDir {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    write(&d.join("index.py"), "print('hello')\n", 0o644);
    write(&d.join("run.sh"), "#!/bin/sh\necho hi\n", 0o755);
    write(&d.join("empty.txt"), "", 0o644);
    write(&d.join("checksum"), &format!("{}\n", "0".repeat(64)), 0o644);
    write(&d.join("stale.pyc"), "junk", 0o644);
    write(&d.join("lib/helper.py"), "X = 1\n", 0o644);
    write(&d.join("lib/data/values.json"), "{\"a\": 1}\n", 0o644);
    write(
        &d.join("lib/checksum"),
        "nested checksum files are recorded\n",
        0o644,
    );
    symlink("../index.py", d.join("lib/link")).unwrap();
    write(
        &d.join("lib/__pycache__/helper.cpython-311.pyc"),
        "bytecode",
        0o644,
    );
    write(&d.join(".venv/pyvenv.cfg"), "home = /usr/bin\n", 0o644);
    fs_err::create_dir_all(d.join(".venv/bin")).unwrap();
    symlink("/usr/bin/python3", d.join(".venv/bin/python")).unwrap();
    write(&d.join(".git/HEAD"), "ref: refs/heads/main\n", 0o644);
    tmp
}

fn summary(digest: &DirDigest) -> Vec<(char, &str)> {
    digest
        .files
        .iter()
        .map(|f| (f.kind.code(), f.path.as_str()))
        .collect()
}

fn sha(data: &[u8]) -> String {
    crate::digest::bytes_hex(data)
}

#[test]
fn golden_digest_matches_python_reference() {
    let tree = golden_tree();
    let digest = digest_dir(tree.path()).unwrap();
    assert_eq!(
        summary(&digest),
        [
            ('f', "empty.txt"),
            ('f', "index.py"),
            ('f', "lib/checksum"),
            ('f', "lib/data/values.json"),
            ('f', "lib/helper.py"),
            ('l', "lib/link"),
            ('x', "run.sh"),
        ]
    );
    assert_eq!(digest.files[0].sha256, sha(b""));
    assert_eq!(digest.files[5].sha256, sha(b"../index.py"));
    assert_eq!(digest.checksum, GOLDEN);
    assert_eq!(combine(&digest.files), GOLDEN);
}

#[test]
fn exclusions_apply_by_name_type_and_level() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    write(
        &d.join("checksum/inner.txt"),
        "top-level checksum is excluded whatever it is",
        0o644,
    );
    write(
        &d.join("a/__pycache__"),
        "a file named __pycache__ is kept",
        0o644,
    );
    write(&d.join("a/.git"), "gitdir: a .git file is kept", 0o644);
    write(&d.join("a/deep/__pycache__/x.py"), "", 0o644);
    write(&d.join("a/deep/.git/config"), "", 0o644);
    write(&d.join("a/deep/mod.pyc"), "", 0o644);
    write(
        &d.join("a/dir.pyc/kept.txt"),
        "a directory named *.pyc is walked",
        0o644,
    );
    write(&d.join("a/env/lib/site.py"), "", 0o644);
    symlink("/nowhere", d.join("a/env/pyvenv.cfg")).unwrap();
    symlink("target", d.join("a/link.pyc")).unwrap();
    let digest = digest_dir(d).unwrap();
    assert_eq!(
        summary(&digest),
        [
            ('f', "a/.git"),
            ('f', "a/__pycache__"),
            ('f', "a/dir.pyc/kept.txt")
        ]
    );
}

#[test]
fn a_venv_at_the_top_level_does_not_exclude_the_module() {
    let tmp = tempfile::tempdir().unwrap();
    write(&tmp.path().join("pyvenv.cfg"), "", 0o644);
    assert_eq!(
        summary(&digest_dir(tmp.path()).unwrap()),
        [('f', "pyvenv.cfg")]
    );
}

#[test]
fn kinds_follow_the_owner_exec_bit_and_symlinks_are_not_followed() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    write(&d.join("group-exec"), "a", 0o655);
    write(&d.join("owner-exec"), "a", 0o744);
    write(&d.join("target/file"), "content", 0o644);
    symlink("target", d.join("dir-link")).unwrap();
    symlink("missing", d.join("dangling")).unwrap();
    let digest = digest_dir(d).unwrap();
    assert_eq!(
        summary(&digest),
        [
            ('l', "dangling"),
            ('l', "dir-link"),
            ('f', "group-exec"),
            ('x', "owner-exec"),
            ('f', "target/file"),
        ]
    );
    assert_eq!(digest.files[1].sha256, sha(b"target"));
    assert_eq!(digest.files[2].sha256, digest.files[3].sha256);
}

#[test]
fn entries_sort_by_path_bytes() {
    let tmp = tempfile::tempdir().unwrap();
    for name in ["a0", "a/b", "a.b", "a-b", "B", "é", "z"] {
        write(&tmp.path().join(name), name, 0o644);
    }
    let digest = digest_dir(tmp.path()).unwrap();
    let paths: Vec<&str> = digest.files.iter().map(|f| f.path.as_str()).collect();
    assert_eq!(paths, ["B", "a-b", "a.b", "a/b", "a0", "z", "é"]);
}

#[test]
fn combine_hashes_sorted_lines_whatever_the_input_order() {
    assert_eq!(combine(&[]), sha(b""));
    let rec = |path: &str, kind| FileRecord {
        path: path.into(),
        kind,
        sha256: sha(path.as_bytes()),
    };
    let files = [
        rec("b", EntryKind::Executable),
        rec("a", EntryKind::Symlink),
    ];
    let expected = format!("l {} a\nx {} b\n", sha(b"a"), sha(b"b"));
    assert_eq!(combine(&files), sha(expected.as_bytes()));
    assert_eq!(
        combine(&[files[1].clone(), files[0].clone()]),
        sha(expected.as_bytes())
    );
}

#[test]
fn diff_reports_added_removed_and_changed() {
    let rec = |path: &str, kind, content: &str| FileRecord {
        path: path.into(),
        kind,
        sha256: sha(content.as_bytes()),
    };
    let recorded = [
        rec("same", EntryKind::File, "1"),
        rec("gone", EntryKind::File, "1"),
        rec("edited", EntryKind::File, "1"),
        rec("chmod", EntryKind::File, "1"),
    ];
    let live = [
        rec("new", EntryKind::Symlink, "1"),
        rec("chmod", EntryKind::Executable, "1"),
        rec("edited", EntryKind::File, "2"),
        rec("same", EntryKind::File, "1"),
    ];
    let diff = diff(&recorded, &live);
    assert_eq!(diff.added, ["new"]);
    assert_eq!(diff.removed, ["gone"]);
    assert_eq!(diff.changed, ["chmod", "edited"]);
    assert!(!diff.is_empty());
    assert!(super::diff(&live, &live).is_empty());
}

#[test]
fn special_files_are_errors_naming_the_path() {
    let tmp = tempfile::tempdir().unwrap();
    let fifo = tmp.path().join("sub/pipe");
    fs_err::create_dir(tmp.path().join("sub")).unwrap();
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::S_IRWXU).unwrap();
    let err = digest_dir(tmp.path()).unwrap_err();
    assert!(
        matches!(err, IntegrityError::UnsupportedType { kind: "FIFO", .. }),
        "{err:?}"
    );
    assert_eq!(err.path(), fifo);
    assert_eq!(
        err.to_string(),
        format!(
            "hash {}: it is a FIFO; only regular files, symlinks and directories are allowed",
            fifo.display()
        )
    );
    // An excluded FIFO is never looked at.
    fs_err::rename(&fifo, tmp.path().join("sub/pipe.pyc")).unwrap();
    assert!(digest_dir(tmp.path()).unwrap().files.is_empty());
}

#[test]
fn unrecordable_names_are_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let bad = tmp
        .path()
        .join(std::ffi::OsString::from_vec(b"bad\xff".to_vec()));
    write(&bad, "", 0o644);
    let err = digest_dir(tmp.path()).unwrap_err();
    assert!(matches!(
        err,
        IntegrityError::InvalidName {
            reason: "is not valid UTF-8",
            ..
        }
    ));
    assert_eq!(err.path(), bad);
    fs_err::remove_file(&bad).unwrap();

    let newline = tmp.path().join("two\nlines");
    fs_err::create_dir(&newline).unwrap();
    let err = digest_dir(tmp.path()).unwrap_err();
    assert!(matches!(
        err,
        IntegrityError::InvalidName {
            reason: "contains a newline",
            ..
        }
    ));
    assert_eq!(err.path(), newline);
}

#[test]
fn a_missing_directory_is_an_error() {
    let tmp = tempfile::tempdir().unwrap();
    let missing = tmp.path().join("missing");
    let err = digest_dir(&missing).unwrap_err();
    assert!(matches!(err, IntegrityError::ReadDir { .. }), "{err:?}");
    assert_eq!(
        err.to_string(),
        format!("read directory {}", missing.display())
    );
    let source = std::error::Error::source(&err).unwrap().to_string();
    assert!(source.contains("No such file or directory"), "{source}");
}

#[test]
fn digest_dirs_returns_results_in_input_order() {
    let tmp = tempfile::tempdir().unwrap();
    let mut dirs = Vec::new();
    for i in 0..7 {
        let dir = tmp.path().join(format!("m{i}"));
        for j in 0..=i {
            let big = "x".repeat(j * 100_000 + i);
            write(&dir.join(format!("f{j}")), &big, 0o644);
        }
        dirs.push(dir);
    }
    dirs.insert(3, tmp.path().join("missing"));
    let serial: Vec<_> = dirs.iter().map(|d| digest_dir(d).ok()).collect();
    for threads in [0, 1, 2, 5] {
        let parallel: Vec<_> = digest_dirs(&dirs, threads)
            .into_iter()
            .map(Result::ok)
            .collect();
        assert_eq!(parallel, serial, "threads = {threads}");
    }
    assert!(serial[3].is_none());
    assert_eq!(serial[6].as_ref().unwrap().files.len(), 6);
    assert!(digest_dirs(&[], 4).is_empty());
}

#[test]
fn checksum_file_round_trips() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    assert_eq!(read_checksum_file(d).unwrap(), None);
    write_checksum_file(d, GOLDEN).unwrap();
    assert_eq!(
        fs_err::read_to_string(d.join("checksum")).unwrap(),
        format!("{GOLDEN}\n")
    );
    assert_eq!(read_checksum_file(d).unwrap().as_deref(), Some(GOLDEN));
    write_checksum_file(d, &"0".repeat(64)).unwrap();
    assert_eq!(read_checksum_file(d).unwrap(), Some("0".repeat(64)));
    let names: Vec<_> = fs_err::read_dir(d)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, ["checksum"], "no temporary file is left behind");

    write(&d.join("checksum"), &format!("  {GOLDEN}\r\n\n"), 0o644);
    assert_eq!(read_checksum_file(d).unwrap().as_deref(), Some(GOLDEN));
}

#[test]
fn malformed_checksums_are_rejected() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    for bad in [
        GOLDEN.to_uppercase(),
        GOLDEN[1..].to_owned(),
        format!("{GOLDEN} x"),
        String::new(),
    ] {
        write(&d.join("checksum"), &bad, 0o644);
        let err = read_checksum_file(d).unwrap_err();
        assert!(
            matches!(err, IntegrityError::MalformedChecksum { .. }),
            "{bad:?}: {err:?}"
        );
        let err = write_checksum_file(d, &bad).unwrap_err();
        assert!(
            matches!(err, IntegrityError::InvalidChecksum { .. }),
            "{bad:?}: {err:?}"
        );
    }
    fs_err::write(d.join("checksum"), b"\xff").unwrap();
    assert!(matches!(
        read_checksum_file(d),
        Err(IntegrityError::MalformedChecksum { .. })
    ));
    fs_err::remove_file(d.join("checksum")).unwrap();
    fs_err::create_dir(d.join("checksum")).unwrap();
    assert!(matches!(
        read_checksum_file(d),
        Err(IntegrityError::ReadChecksum { .. })
    ));
}

#[test]
fn entry_kind_codes_round_trip() {
    for kind in [EntryKind::File, EntryKind::Executable, EntryKind::Symlink] {
        assert_eq!(EntryKind::from_code(kind.code()), Some(kind));
    }
    assert_eq!(EntryKind::from_code('d'), None);
    assert_eq!(
        serde_json::to_string(&EntryKind::Executable).unwrap(),
        "\"executable\""
    );
}
