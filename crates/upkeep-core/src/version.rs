//! Module versions: a Plinth-style integer or a semver string.

use std::fmt;

/// A module's declared or applied version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Version {
    /// A plain integer, incremented whenever the module wants to upgrade an existing setup.
    Integer(u64),
    /// A semantic version such as `1.4.0`.
    Semver(semver::Version),
}

impl Version {
    /// Parse the text form stored in manifests and in the ledger: digits only means an
    /// integer version, anything else must be a semantic version.
    ///
    /// # Errors
    /// Returns a message fragment naming what is wrong with the text.
    pub fn parse(text: &str) -> Result<Self, String> {
        let trimmed = text.trim();
        if trimmed.is_empty() {
            return Err("version is empty".to_owned());
        }
        if trimmed.bytes().all(|b| b.is_ascii_digit()) {
            return trimmed
                .parse()
                .map(Version::Integer)
                .map_err(|_| format!("version `{trimmed}` is too large"));
        }
        semver::Version::parse(&normalize(trimmed))
            .map(Version::Semver)
            .map_err(|err| {
                format!("`{trimmed}` is not an integer or a semantic version like `1.2.3` ({err})")
            })
    }

    /// The value a Python `setup(old_version)` receives, as JSON: a number for integer
    /// versions, a string for semantic versions.
    pub fn to_json(&self) -> serde_json::Value {
        match self {
            Version::Integer(n) => serde_json::Value::from(*n),
            Version::Semver(v) => serde_json::Value::from(v.to_string()),
        }
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Version::Integer(n) => write!(f, "{n}"),
            Version::Semver(v) => write!(f, "{v}"),
        }
    }
}

/// The one spelling of an upstream version: surrounding space trimmed and a leading `v`
/// or `V` dropped when a digit follows (`v2.31.0` is `2.31.0`). Every update source's
/// versions pass through here, so a GitHub feed's `tag_name` `v2.31.0` and a git tag
/// `v2.31.0` are the same version; the tag itself is kept beside it.
pub fn normalize(text: &str) -> String {
    let text = text.trim();
    match text.strip_prefix(['v', 'V']) {
        Some(rest) if rest.starts_with(|c: char| c.is_ascii_digit()) => rest.to_owned(),
        _ => text.to_owned(),
    }
}

/// Parse a version as semver, allowing a leading `v` ([`normalize`]) and Plinth's plain
/// integers (`3` is `3.0.0`); `None` when it is neither.
pub fn parse_semver(text: &str) -> Option<semver::Version> {
    let text = normalize(text);
    if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
        return text
            .parse()
            .ok()
            .map(|major| semver::Version::new(major, 0, 0));
    }
    semver::Version::parse(&text).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_and_semver() {
        assert_eq!(Version::parse("3").unwrap(), Version::Integer(3));
        assert_eq!(Version::parse("1.2.3").unwrap().to_string(), "1.2.3");
        assert_eq!(
            Version::parse("v2.0.0-rc.1").unwrap().to_string(),
            "2.0.0-rc.1"
        );
        assert!(Version::parse("1.2").is_err());
        assert!(Version::parse("banana").is_err());
        assert!(Version::parse("").is_err());
    }

    #[test]
    fn a_leading_v_is_dropped_once_for_every_source() {
        assert_eq!(normalize(" v2.31.0 "), "2.31.0");
        assert_eq!(normalize("V1.0.0-rc.1"), "1.0.0-rc.1");
        assert_eq!(normalize("2.31.0"), "2.31.0");
        assert_eq!(normalize("vnext"), "vnext", "only before a digit");
        assert_eq!(parse_semver("v3"), Some(semver::Version::new(3, 0, 0)));
    }
}
