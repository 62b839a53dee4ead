//! Rooms that say what they hold: the source files of both crates stay small enough to
//! read (about 800 lines before their tests), and SHA-256 is computed in one module only
//! (`upkeep_core::digest`), so a change of buffer size, of hash or of hex form is made
//! once.

use std::path::{Path, PathBuf};

/// Lines a source file may have before its `#[cfg(test)]` module.
const MAX_LINES: usize = 800;

/// Files allowed over [`MAX_LINES`] for a while, each with the reason, while a change that
/// splits them is under way. Paths are relative to the workspace root. An entry that is no
/// longer over the limit fails the test, so the list only ever shrinks; today it is empty.
const TOO_LONG_FOR_NOW: &[&str] = &[];

/// The module that computes SHA-256.
const DIGEST_MODULE: &str = "crates/upkeep-core/src/digest.rs";

/// A webhook signature is an HMAC-SHA256, keyed, not a content hash; it names `sha2` for
/// the HMAC's inner hash only.
const HMAC_MODULE: &str = "crates/upkeep-core/src/notify/sign.rs";

/// What computing a SHA-256 outside [`DIGEST_MODULE`] looks like.
const HASHING: &[&str] = &["Sha256::new", "Sha256::digest", "Sha256 as Digest"];

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Every `.rs` file under the two crates' `src/`, relative to the workspace, sorted.
fn sources() -> Vec<(String, String)> {
    let root = workspace();
    let mut pending = vec![
        root.join("crates/upkeep-core/src"),
        root.join("crates/upkeep/src"),
    ];
    let mut files = Vec::new();
    while let Some(dir) = pending.pop() {
        for entry in fs_err::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                pending.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let relative = path.strip_prefix(&root).unwrap().to_string_lossy();
                files.push((
                    relative.into_owned(),
                    fs_err::read_to_string(&path).unwrap(),
                ));
            }
        }
    }
    files.sort();
    assert!(
        files.iter().any(|(path, _)| path == DIGEST_MODULE),
        "no {DIGEST_MODULE} among {} files: the walk is looking in the wrong place",
        files.len()
    );
    files
}

/// Lines before the file's inline test module (all its lines when it has none). A
/// `#[cfg(test)] mod tests;` that declares a test file elsewhere ends nothing: the code
/// after it still counts.
fn lines_before_tests(text: &str) -> usize {
    let lines: Vec<&str> = text.lines().collect();
    lines
        .windows(2)
        .position(|pair| {
            pair[0] == "#[cfg(test)]" && pair[1].starts_with("mod ") && pair[1].ends_with(" {")
        })
        .unwrap_or(lines.len())
}

#[test]
fn no_source_file_is_over_800_lines_before_its_tests() {
    let sizes: Vec<(String, usize)> = sources()
        .into_iter()
        .map(|(path, text)| {
            let lines = lines_before_tests(&text);
            (path, lines)
        })
        .collect();
    let offenders: Vec<String> = sizes
        .iter()
        .filter(|(path, lines)| *lines > MAX_LINES && !TOO_LONG_FOR_NOW.contains(&path.as_str()))
        .map(|(path, lines)| format!("  {path}: {lines} lines"))
        .collect();
    assert!(
        offenders.is_empty(),
        "over {MAX_LINES} lines before #[cfg(test)]; split along what the file does:\n{}",
        offenders.join("\n")
    );
    let stale: Vec<&str> = TOO_LONG_FOR_NOW
        .iter()
        .copied()
        .filter(|excused| {
            !sizes
                .iter()
                .any(|(path, lines)| path == excused && *lines > MAX_LINES)
        })
        .collect();
    assert!(
        stale.is_empty(),
        "no longer over {MAX_LINES} lines (or gone); remove from TOO_LONG_FOR_NOW: {stale:?}"
    );
}

#[test]
fn only_the_digest_module_computes_sha256() {
    let mut offenders = Vec::new();
    for (path, text) in sources() {
        if path == DIGEST_MODULE {
            continue;
        }
        for (number, line) in text.lines().enumerate() {
            let hashes = HASHING.iter().any(|pattern| line.contains(pattern));
            let imports = line.contains("sha2::") && path != HMAC_MODULE;
            if hashes || imports {
                offenders.push(format!("  {path}:{}: {}", number + 1, line.trim()));
            }
        }
    }
    assert!(
        offenders.is_empty(),
        "SHA-256 outside {DIGEST_MODULE}; use upkeep_core::digest instead:\n{}",
        offenders.join("\n")
    );
}

#[test]
fn the_line_count_stops_at_the_test_module() {
    let text = "//! Doc.\nfn a() {}\n\n#[cfg(test)]\nmod tests {\n}\n";
    assert_eq!(lines_before_tests(text), 3);
    assert_eq!(lines_before_tests("fn a() {}\nfn b() {}\n"), 2);
    let declared = "#[cfg(test)]\nmod tests;\nfn a() {}\n";
    assert_eq!(lines_before_tests(declared), 3);
}

/// Where each side effect lives: SQL only in `state/`; the binary reaches the engine
/// through `ops` and never opens the ledger or spawns a process itself. (clippy's
/// `disallowed-methods` keeps `Command::new` in `exec/` and stdout/stderr in the printer.)
#[test]
fn side_effects_stay_in_their_homes() {
    let mut misplaced = Vec::new();
    for (path, text) in sources() {
        let code = &text[..text.find("#[cfg(test)]\nmod tests {").unwrap_or(text.len())];
        if !path.starts_with("crates/upkeep-core/src/state/") && code.contains("rusqlite") {
            misplaced.push(format!("{path}: names rusqlite (SQL lives in state/)"));
        }
        if path.starts_with("crates/upkeep/src/")
            && (code.contains("Ledger::open") || code.contains("state::Ledger"))
        {
            misplaced.push(format!(
                "{path}: opens the ledger (front ends call upkeep_core::ops)"
            ));
        }
    }
    assert!(misplaced.is_empty(), "{}", misplaced.join("\n"));
}
