//! `git` sources: the tags of a repository (`git ls-remote --tags --refs`), the ones
//! matching the module's tag pattern with a semver version, newest first.

use std::path::Path;
use std::time::Duration;

use super::check::{CheckError, run};
use super::{Finding, Release, SourceKind};

/// Ask the repository at `url` (a path is relative to `cwd`, the manifest's directory).
pub(super) fn check(
    url: &str,
    pattern: &str,
    cwd: &Path,
    timeout: Duration,
) -> Result<Finding, CheckError> {
    let listing = run(&["git", "ls-remote", "--tags", "--refs", url], cwd, timeout)?;
    Ok(Finding {
        releases: releases(&listing, pattern),
        ..Finding::default()
    })
}

/// The releases in `ls-remote` output (`<sha>\trefs/tags/<tag>` lines) whose tag matches
/// `pattern`, newest first; of a version tagged twice (`v1.2.0` and `1.2.0` under the
/// default pattern) the tag that matches the pattern as written wins.
pub(super) fn releases(listing: &str, pattern: &str) -> Vec<Release> {
    let mut found: Vec<(semver::Version, bool, Release)> = listing
        .lines()
        .filter_map(|line| line.split_once('\t'))
        .filter_map(|(_, name)| name.strip_prefix("refs/tags/"))
        .filter_map(|tag| {
            let (version, text, exact) = version_in(tag, pattern)?;
            let release = Release {
                version: text.to_owned(),
                tag: Some(tag.to_owned()),
                ..Release::default()
            };
            Some((version, exact, release))
        })
        .collect();
    found.sort_by(|a, b| b.0.cmp(&a.0).then(b.1.cmp(&a.1)));
    found.dedup_by(|later, first| later.0 == first.0);
    found.into_iter().map(|(_, _, release)| release).collect()
}

/// The version in `tag` under `pattern`, its text, and whether the tag matched the
/// pattern as written (rather than as a bare version under the default pattern).
fn version_in<'t>(tag: &'t str, pattern: &str) -> Option<(semver::Version, &'t str, bool)> {
    let (prefix, suffix) = pattern.split_once("{version}")?;
    let exact = tag
        .strip_prefix(prefix)
        .and_then(|rest| rest.strip_suffix(suffix))
        .map(|text| (text, true));
    let bare = (pattern == SourceKind::DEFAULT_TAG_PATTERN).then_some((tag, false));
    let (text, exact) = exact.or(bare)?;
    let version = semver::Version::parse(text).ok()?;
    Some((version, text, exact))
}

#[cfg(test)]
mod tests {
    use super::*;

    const LISTING: &str = "\
1111111111111111111111111111111111111111\trefs/tags/v1.2.0
2222222222222222222222222222222222222222\trefs/tags/1.2.0
3333333333333333333333333333333333333333\trefs/tags/v1.10.0
4444444444444444444444444444444444444444\trefs/tags/1.9.1
5555555555555555555555555555555555555555\trefs/tags/v2
6666666666666666666666666666666666666666\trefs/tags/nightly
7777777777777777777777777777777777777777\trefs/tags/gogs-0.13.4
8888888888888888888888888888888888888888\trefs/tags/v2.0.0-rc.1
";

    fn tags(pattern: &str) -> Vec<String> {
        releases(LISTING, pattern)
            .into_iter()
            .map(|r| format!("{}={}", r.tag.unwrap(), r.version))
            .collect()
    }

    #[test]
    fn the_default_pattern_takes_bare_versions_and_prefers_the_v() {
        assert_eq!(
            tags("v{version}"),
            [
                "v2.0.0-rc.1=2.0.0-rc.1",
                "v1.10.0=1.10.0",
                "1.9.1=1.9.1",
                "v1.2.0=1.2.0"
            ]
        );
    }

    #[test]
    fn a_written_pattern_matches_exactly() {
        assert_eq!(tags("gogs-{version}"), ["gogs-0.13.4=0.13.4"]);
        assert_eq!(tags("{version}"), ["1.9.1=1.9.1", "1.2.0=1.2.0"]);
    }
}
