//! The broken-manifest corpus: every case under `tests/corpus/manifests/<case>/` is a
//! manifest that must be refused. For each one, `upkeep plan` and `upkeep run` must exit
//! with code 4, print a diagnostic naming the file, line, column and field with a way to
//! fix it, run nothing (the case's `sentinel` module would leave `SENTINEL_RAN` in its work
//! directory) and write nothing (no state directory; the updates directory is unchanged
//! byte for byte).
//!
//! A case directory holds the manifest (`manifest.json` or `upkeep.toml`), any module
//! folders it needs so that only the intended error fires, `sentinel/index.py`, and
//! `expect.txt`, one check per line:
//!
//! ```text
//! # a comment
//! at: 12:9                  `<manifest>:12:9` appears in stderr
//! at: none                  the diagnostic has no position (`--> <manifest>` alone)
//! lacks: some text          the text must not appear in stderr
//! max-line: 200             no stderr line is longer than 200 characters
//! generate: oversized       the manifest is written by this test (see `generate`)
//! unknown child `gogz`      anything else: the text must appear in stderr
//! bug(tag) <check>          a regression check for a fixed engine bug; only the
//!                           `engine_bug_<tag>` test runs it
//! ```

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::hash::{DefaultHasher, Hasher};
use std::path::{Path, PathBuf};

use serde_json::json;

use crate::fixture::{Host, output};

/// Bug tags used in the corpus; each has an `engine_bug_*` regression test below.
const KNOWN_BUGS: &[&str] = &[
    "cascade",
    "cycle-field",
    "duration-unit",
    "long-snippet",
    "negative-version",
    "self-cycle",
    "toml-field",
];

fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus/manifests")
}

#[derive(Debug, Clone)]
enum Check {
    Has(String),
    Lacks(String),
    At(Option<(usize, usize)>),
    MaxLine(usize),
}

#[derive(Debug)]
struct Case {
    name: String,
    dir: PathBuf,
    generate: Option<String>,
    checks: Vec<Check>,
    bugs: Vec<(String, Check)>,
}

fn parse_check(text: &str) -> Check {
    if let Some(at) = text.strip_prefix("at:") {
        let at = at.trim();
        if at == "none" {
            return Check::At(None);
        }
        let (line, column) = at
            .split_once(':')
            .unwrap_or_else(|| panic!("bad `at:` line {text:?}"));
        return Check::At(Some((line.parse().unwrap(), column.parse().unwrap())));
    }
    if let Some(fragment) = text.strip_prefix("lacks:") {
        return Check::Lacks(fragment.trim().to_owned());
    }
    if let Some(width) = text.strip_prefix("max-line:") {
        return Check::MaxLine(width.trim().parse().unwrap());
    }
    Check::Has(text.to_owned())
}

fn load_corpus() -> Vec<Case> {
    let mut cases = Vec::new();
    for entry in fs_err::read_dir(corpus_dir()).unwrap() {
        let dir = entry.unwrap().path();
        let name = dir.file_name().unwrap().to_string_lossy().into_owned();
        let expect = fs_err::read_to_string(dir.join("expect.txt")).unwrap();
        let mut case = Case {
            name,
            dir,
            generate: None,
            checks: Vec::new(),
            bugs: Vec::new(),
        };
        for line in expect
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
        {
            if let Some(kind) = line.strip_prefix("generate:") {
                case.generate = Some(kind.trim().to_owned());
            } else if let Some(rest) = line.strip_prefix("bug(") {
                let (tag, check) = rest
                    .split_once(')')
                    .unwrap_or_else(|| panic!("bad bug line {line:?}"));
                case.bugs.push((tag.to_owned(), parse_check(check.trim())));
            } else {
                case.checks.push(parse_check(line));
            }
        }
        assert!(
            case.checks.iter().any(|c| matches!(c, Check::At(_))),
            "{}: expect.txt needs an `at:` line",
            case.name
        );
        cases.push(case);
    }
    cases.sort_by(|a, b| a.name.cmp(&b.name));
    cases
}

/// The manifests too big or too binary to check in. Both are otherwise valid and would
/// run the sentinel, so only the size limit and the UTF-8 check stand in the way.
fn generate(kind: &str) -> Vec<u8> {
    let valid = "{\n  \"updates\": [\n    {\n      \"name\": \"sentinel\",\n      \"module\": \"sentinel.index\",\n      \"description\": \"Latin-1 caf\u{e9}\"\n    }\n  ]\n}\n";
    match kind {
        "oversized" => {
            let limit = usize::try_from(upkeep_core::manifest::MAX_MANIFEST_BYTES).unwrap();
            let mut bytes = valid.replace('\u{e9}', "e").into_bytes();
            bytes.resize(limit + 1, b' ');
            bytes
        }
        "invalid-utf8" => {
            // `é` in Latin-1, as an editor with the wrong encoding would save it.
            let mut bytes = Vec::new();
            for part in valid.split_inclusive('\u{e9}') {
                match part.strip_suffix('\u{e9}') {
                    Some(head) => {
                        bytes.extend_from_slice(head.as_bytes());
                        bytes.push(0xe9);
                    }
                    None => bytes.extend_from_slice(part.as_bytes()),
                }
            }
            bytes
        }
        other => panic!("unknown generator {other:?}"),
    }
}

fn copy_case(from: &Path, to: &Path) {
    fs_err::create_dir_all(to).unwrap();
    for entry in fs_err::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_case(&entry.path(), &target);
        } else if entry.file_name() != "expect.txt" {
            fs_err::copy(entry.path(), &target).unwrap();
        }
    }
}

/// Every path under `dir` (directories included), with each file's length and hash.
fn fingerprint(dir: &Path) -> BTreeMap<PathBuf, Option<(usize, u64)>> {
    let mut out = BTreeMap::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in fs_err::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                out.insert(path.clone(), None);
                pending.push(path);
            } else {
                let bytes = fs_err::read(&path).unwrap();
                let mut hasher = DefaultHasher::new();
                hasher.write(&bytes);
                out.insert(path, Some((bytes.len(), hasher.finish())));
            }
        }
    }
    out
}

fn sentinel_marks(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in fs_err::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                pending.push(path);
            } else if path.file_name().is_some_and(|n| n == "SENTINEL_RAN") {
                found.push(path);
            }
        }
    }
    found
}

/// Evaluate one check against stderr; `Err` says what is wrong.
fn check(host: &Host, stderr: &str, check: &Check) -> Result<(), String> {
    let manifest = host.manifest().display().to_string();
    match check {
        Check::Has(fragment) if !stderr.contains(fragment.as_str()) => {
            Err(format!("missing {fragment:?}"))
        }
        Check::Lacks(fragment) if stderr.contains(fragment.as_str()) => {
            Err(format!("unwanted {fragment:?}"))
        }
        Check::At(Some((line, column)))
            if !stderr.contains(&format!("{manifest}:{line}:{column}")) =>
        {
            Err(format!("no diagnostic at {line}:{column}"))
        }
        Check::At(None) if !stderr.contains(&format!("--> {manifest}\n")) => {
            Err("expected a diagnostic without a position".to_owned())
        }
        Check::MaxLine(width) => match stderr.lines().map(|l| l.chars().count()).max() {
            Some(longest) if longest > *width => Err(format!(
                "a line is {longest} characters long, more than {width}"
            )),
            _ => Ok(()),
        },
        _ => Ok(()),
    }
}

/// What running a case produced: its redacted stderr and every failed check.
struct Outcome {
    stderr: String,
    failures: Vec<String>,
}

/// Run `plan` and `run` against one case and check everything that must hold for every
/// broken manifest, the case's own checks, and the bug checks tagged `bug_tag`, if any.
#[expect(
    clippy::too_many_lines,
    reason = "one check per corpus verdict kind, read top to bottom"
)]
fn run_case(case: &Case, bug_tag: Option<&str>) -> Outcome {
    let mut host = Host::new();
    copy_case(&case.dir, &host.updates);
    if let Some(kind) = &case.generate {
        fs_err::write(host.updates.join("manifest.json"), generate(kind)).unwrap();
    } else if case.dir.join("upkeep.toml").is_file() {
        host.manifest_toml(&fs_err::read_to_string(case.dir.join("upkeep.toml")).unwrap());
    }
    assert!(
        host.manifest().is_file(),
        "{}: no manifest.json or upkeep.toml",
        case.name
    );
    assert!(
        host.updates.join("sentinel/index.py").is_file(),
        "{}: no sentinel module",
        case.name
    );
    let before = fingerprint(&host.updates);

    let mut failures = Vec::new();
    let mut stderrs = Vec::new();
    let checks = case.checks.iter().chain(
        case.bugs
            .iter()
            .filter(|(t, _)| Some(t.as_str()) == bug_tag)
            .map(|(_, c)| c),
    );
    let checks: Vec<&Check> = checks.collect();
    for command in ["plan", "run"] {
        let (code, stdout, stderr) = output(&host.upkeep().arg(command).assert());
        if code != 4 {
            failures.push(format!("`{command}` exited with {code}, not 4"));
        }
        if !stdout.is_empty() {
            failures.push(format!("`{command}` printed to stdout: {stdout:?}"));
        }
        if !stderr.ends_with("nothing was run\n") {
            failures.push(format!(
                "`{command}` stderr does not end with the summary line"
            ));
        }
        let manifest = host.manifest().display().to_string();
        if let Some(line) = stderr
            .lines()
            .find(|l| l.starts_with("  --> ") && !l.contains(&manifest))
        {
            failures.push(format!(
                "`{command}`: diagnostic names another file: {line:?}"
            ));
        }
        for c in &checks {
            if let Err(why) = check(&host, &stderr, c) {
                failures.push(format!("`{command}`: {why}"));
            }
        }
        stderrs.push(stderr);
    }
    if stderrs[0] != stderrs[1] {
        failures.push("`plan` and `run` printed different diagnostics".to_owned());
    }
    if host.state.exists() {
        failures.push("the state directory was created".to_owned());
    }
    let marks = sentinel_marks(&host.root);
    if !marks.is_empty() {
        failures.push(format!("the sentinel ran: {marks:?}"));
    }
    let after = fingerprint(&host.updates);
    if before != after {
        let changed: BTreeSet<&PathBuf> = before
            .keys()
            .chain(after.keys())
            .filter(|p| before.get(*p) != after.get(*p))
            .collect();
        failures.push(format!("the updates directory changed: {changed:?}"));
    }
    let failures = failures
        .into_iter()
        .map(|f| format!("{}: {f}", case.name))
        .collect();
    Outcome {
        stderr: host.redact(&stderrs[0]),
        failures,
    }
}

#[test]
fn every_broken_manifest_fails_closed_with_a_located_diagnostic() {
    let cases = load_corpus();
    assert!(
        cases.len() >= 24,
        "the corpus has only {} cases",
        cases.len()
    );
    let mut failures = Vec::new();
    let mut transcript = String::new();
    for case in &cases {
        let outcome = run_case(case, None);
        failures.extend(outcome.failures);
        let _ = writeln!(transcript, "===== {} =====\n{}", case.name, outcome.stderr);
    }
    assert!(
        failures.is_empty(),
        "{} failure(s):\n{}",
        failures.len(),
        failures.join("\n")
    );
    insta::assert_snapshot!("diagnostics", transcript);
}

/// The sentinel is a real detector: from a valid manifest it runs and leaves its mark.
#[test]
fn the_sentinel_leaves_a_mark_when_it_runs() {
    let mut host = Host::new();
    copy_case(
        &corpus_dir().join("unknown-child/sentinel"),
        &host.updates.join("sentinel"),
    );
    host.manifest_json(&json!({"updates": [{"name": "sentinel", "module": "sentinel.index"}]}));
    host.approve();
    host.upkeep().arg("run").assert().success();
    assert_eq!(
        sentinel_marks(&host.root),
        vec![host.state.join("work/sentinel/SENTINEL_RAN")]
    );
}

#[test]
fn every_bug_tag_has_an_engine_bug_test() {
    let used: BTreeSet<String> = load_corpus()
        .into_iter()
        .flat_map(|c| c.bugs.into_iter().map(|(t, _)| t))
        .collect();
    let known: BTreeSet<String> = KNOWN_BUGS.iter().map(|&t| t.to_owned()).collect();
    assert_eq!(used, known);
}

fn engine_bug(tag: &str) {
    let cases: Vec<Case> = load_corpus()
        .into_iter()
        .filter(|c| c.bugs.iter().any(|(t, _)| t == tag))
        .collect();
    assert!(!cases.is_empty(), "no case is tagged `bug({tag})`");
    let failures: Vec<String> = cases
        .iter()
        .flat_map(|case| run_case(case, Some(tag)).failures)
        .collect();
    assert!(
        failures.is_empty(),
        "{} failure(s):\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
// Regression: a missing or non-array `updates` also reports `unknown entrypoint` (validate.rs checks references against an empty module list).
fn engine_bug_cascade() {
    engine_bug("cascade");
}

#[test]
// Regression: cycle diagnostics name the bare link kind (`children`, `dependsOn`) instead of the field path (validate.rs report_cycle).
fn engine_bug_cycle_field() {
    engine_bug("cycle-field");
}

#[test]
// Regression: a duration with a fraction or a trailing number reports an unknown unit `` (duration.rs parse_duration).
fn engine_bug_duration_unit() {
    engine_bug("duration-unit");
}

#[test]
// Regression: the snippet prints the whole source line, 10,000 characters for the nesting bomb (diag.rs locate).
fn engine_bug_long_snippet() {
    engine_bug("long-snippet");
}

#[test]
// Regression: `version = -1` in upkeep.toml is reported as `found integer` (native.rs version).
fn engine_bug_negative_version() {
    engine_bug("negative-version");
}

#[test]
// Regression: a self-dependency is reported twice, once as a one-module cycle (validate.rs check_cycles).
fn engine_bug_self_cycle() {
    engine_bug("self-cycle");
}

#[test]
// Regression: upkeep.toml type, missing-field and unknown-field errors name no field path, and `[upkeep] timeout` is named `timeout` (native.rs parse, validate.rs validate).
fn engine_bug_toml_field() {
    engine_bug("toml-field");
}
