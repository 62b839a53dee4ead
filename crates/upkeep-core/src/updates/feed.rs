//! Releases written as JSON, by an `http` feed or a `command` source: a list of releases,
//! an object with a `releases` list, or one release object; an object may also say which
//! version is installed (`current`).
//!
//! A release has the fields of [`Release`]. GitHub's release objects are read as they
//! are: `tag_name` is the version (and the tag), `body` the changelog, `published_at` the
//! release date, `prerelease` marks a pre-release, and drafts are skipped. Other fields
//! are ignored: a feed is someone else's format, not configuration.

use serde::Deserialize;
use serde_json::Value;

use super::{Release, parse_semver};

#[derive(Deserialize)]
#[expect(
    clippy::struct_excessive_bools,
    reason = "the flags a feed's JSON object carries, read as they are"
)]
struct FeedRelease {
    #[serde(default)]
    version: Option<Value>,
    #[serde(default)]
    tag_name: Option<String>,
    #[serde(default)]
    tag: Option<String>,
    #[serde(default)]
    changelog: Option<String>,
    #[serde(default)]
    body: Option<String>,
    #[serde(default)]
    security: bool,
    #[serde(default)]
    breaking: bool,
    #[serde(default)]
    size: Option<u64>,
    #[serde(default)]
    release_date: Option<String>,
    #[serde(default)]
    published_at: Option<String>,
    #[serde(default)]
    download_url: Option<String>,
    #[serde(default)]
    checksum: Option<String>,
    #[serde(default)]
    prerelease: bool,
    #[serde(default)]
    draft: bool,
}

/// What a feed said: the installed version, if it says, and the releases, newest first.
#[derive(Debug, Default, PartialEq, Eq)]
pub(super) struct Feed {
    pub(super) current: Option<String>,
    pub(super) releases: Vec<Release>,
}

/// Read a feed; `Err` says what is wrong with it.
pub(super) fn parse(value: Value) -> Result<Feed, String> {
    let (current, items) = match value {
        Value::Array(items) => (None, items),
        Value::Object(mut map) => {
            let current = match map.remove("current") {
                None | Some(Value::Null) => None,
                Some(value) => Some(version_text(&value).ok_or("`current` is not a version")?),
            };
            match map.remove("releases") {
                Some(Value::Array(items)) => (current, items),
                Some(_) => return Err("`releases` is not a list".to_owned()),
                None if map.is_empty() => (current, Vec::new()),
                None => (current, vec![Value::Object(map)]),
            }
        }
        other => {
            return Err(format!(
                "expected a list of releases or an object, found {}",
                kind(&other)
            ));
        }
    };
    let mut releases = Vec::with_capacity(items.len());
    for (index, item) in items.into_iter().enumerate() {
        let raw: FeedRelease =
            serde_json::from_value(item).map_err(|err| format!("release {index}: {err}"))?;
        if raw.draft {
            continue;
        }
        let release = into_release(raw)
            .ok_or_else(|| format!("release {index} has no `version` (or `tag_name`)"))?;
        releases.push(release);
    }
    sort_newest_first(&mut releases);
    Ok(Feed { current, releases })
}

fn into_release(raw: FeedRelease) -> Option<Release> {
    let tag = raw.tag.or(raw.tag_name);
    let version = match &raw.version {
        Some(value) => version_text(value)?,
        None => tag.clone()?,
    };
    Some(Release {
        version,
        changelog: raw.changelog.or(raw.body),
        security: raw.security,
        breaking: raw.breaking,
        size: raw.size,
        release_date: raw.release_date.or(raw.published_at),
        download_url: raw.download_url,
        checksum: raw.checksum,
        tag,
        prerelease: raw.prerelease,
    })
}

/// A version written as a string or, Plinth style, a whole number.
fn version_text(value: &Value) -> Option<String> {
    match value {
        Value::String(text) if !text.trim().is_empty() => Some(text.trim().to_owned()),
        Value::Number(n) if n.is_u64() => Some(n.to_string()),
        _ => None,
    }
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

/// Sort by version, newest first; versions that are not semver go last, in feed order.
pub(super) fn sort_newest_first(releases: &mut [Release]) {
    releases.sort_by(|a, b| {
        let (a, b) = (parse_semver(&a.version), parse_semver(&b.version));
        match (a, b) {
            (Some(a), Some(b)) => b.cmp(&a),
            (Some(_), None) => std::cmp::Ordering::Less,
            (None, Some(_)) => std::cmp::Ordering::Greater,
            (None, None) => std::cmp::Ordering::Equal,
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn versions(feed: &Feed) -> Vec<&str> {
        feed.releases.iter().map(|r| r.version.as_str()).collect()
    }

    #[test]
    fn a_github_releases_list_reads_as_is() {
        let github = serde_json::json!([
            {"tag_name": "v1.21.0", "name": "1.21", "body": "Fixes CVE-2024-1\nMore",
             "published_at": "2024-05-02T10:00:00Z", "prerelease": false, "draft": false,
             "html_url": "https://github.com/o/r/releases/tag/v1.21.0", "assets": []},
            {"tag_name": "v1.22.0-rc.1", "body": null, "prerelease": true, "draft": false},
            {"tag_name": "v1.23.0", "body": "unpublished", "prerelease": false, "draft": true},
            {"tag_name": "v1.20.3", "body": "", "prerelease": false, "draft": false}
        ]);
        let feed = parse(github).unwrap();
        assert_eq!(versions(&feed), ["v1.22.0-rc.1", "v1.21.0", "v1.20.3"]);
        let newest = &feed.releases[1];
        assert_eq!(newest.tag.as_deref(), Some("v1.21.0"));
        assert_eq!(newest.changelog.as_deref(), Some("Fixes CVE-2024-1\nMore"));
        assert_eq!(newest.release_date.as_deref(), Some("2024-05-02T10:00:00Z"));
        assert!(feed.releases[0].prerelease);
    }

    #[test]
    fn the_three_shapes_and_current() {
        let one =
            parse(serde_json::json!({"version": "2.1.0", "security": true, "current": 2})).unwrap();
        assert_eq!(one.current.as_deref(), Some("2"));
        assert!(one.releases[0].security);
        let wrapped =
            parse(serde_json::json!({"releases": [{"version": 3}, {"version": "10"}]})).unwrap();
        assert_eq!(versions(&wrapped), ["10", "3"]);
        let only_current = parse(serde_json::json!({"current": "1.0.0"})).unwrap();
        assert!(only_current.releases.is_empty());
        for bad in [
            serde_json::json!("1.0.0"),
            serde_json::json!({"releases": {}}),
            serde_json::json!([{"changelog": "no version"}]),
            serde_json::json!([{"version": "1", "security": "yes"}]),
        ] {
            assert!(parse(bad.clone()).is_err(), "{bad}");
        }
    }
}
