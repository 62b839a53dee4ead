//! `command` sources: a program printing the available version, as one line of plain
//! text, or as JSON (see [`super::feed`]: a release object, optionally with `current`, a
//! list of them, or `{"current": ..., "releases": [...]}`).

use std::path::Path;
use std::time::Duration;

use super::check::{CheckError, run_with, shown};
use super::{Finding, Release, feed};

/// Run `argv` in `cwd`, with the module's `UPKEEP_*` variables in `env`, and read what it
/// printed.
pub(super) fn check(
    argv: &[String],
    cwd: &Path,
    env: &[(String, std::ffi::OsString)],
    timeout: Duration,
) -> Result<Finding, CheckError> {
    let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
    let stdout = run_with(&argv, cwd, env, timeout)?;
    parse(&stdout).map_err(|message| CheckError::Unreadable {
        what: format!("`{}`", shown(&argv)),
        message,
    })
}

/// Read a command's output; `Err` says what is wrong with it.
pub(super) fn parse(stdout: &str) -> Result<Finding, String> {
    let text = stdout.trim();
    if text.starts_with(['{', '[']) {
        let value = serde_json::from_str(text).map_err(|err| format!("not JSON: {err}"))?;
        let feed = feed::parse(value)?;
        return Ok(Finding {
            current: feed.current,
            releases: feed.releases,
            packages: Vec::new(),
        });
    }
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    match lines.as_slice() {
        [] => Err("it printed nothing; expected the available version".to_owned()),
        [line] if !line.contains(char::is_whitespace) => Ok(Finding {
            releases: vec![Release {
                version: (*line).to_owned(),
                ..Release::default()
            }],
            ..Finding::default()
        }),
        [line] => Err(format!("`{line}` is not a version")),
        more => Err(format!(
            "it printed {} lines; expected one line with the version, or JSON",
            more.len()
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_and_json_output() {
        let plain = parse("v2.4.1\n").unwrap();
        assert_eq!(plain.releases[0].version, "v2.4.1");
        assert_eq!(plain.current, None);
        let json = parse(r#"{"version": "2.4.1", "current": "2.3.0", "breaking": true}"#).unwrap();
        assert_eq!(json.current.as_deref(), Some("2.3.0"));
        assert!(json.releases[0].breaking);
        for bad in ["", "Error: rate limited", "1.0\n2.0", "{\"version\": "] {
            assert!(parse(bad).is_err(), "{bad:?}");
        }
    }
}
