//! `http` sources: a JSON release feed fetched with a timeout and a size cap (see
//! [`super::feed`] for what it may hold).

use std::time::Duration;

use super::Finding;
use super::check::{CheckError, redact_urls};
use super::feed;
use crate::notify::redact;

/// A feed larger than this is refused rather than read into memory.
pub(super) const MAX_FEED_BYTES: u64 = 8 * 1024 * 1024;

/// Fetch and read the feed at `url`; the whole request is bounded by `timeout`.
pub(super) fn check(url: &str, timeout: Duration) -> Result<Finding, CheckError> {
    let shown = redact(url);
    let failed = |message: String| CheckError::Http {
        url: shown.clone(),
        message: redact_urls(&message.replace(url, &shown)),
    };
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(timeout))
        .http_status_as_error(false)
        .user_agent(concat!("upkeep/", env!("CARGO_PKG_VERSION")))
        .build()
        .into();
    let mut response = agent
        .get(url)
        .header("accept", "application/json")
        .call()
        .map_err(|err| failed(err.to_string()))?;
    let status = response.status().as_u16();
    if !(200..300).contains(&status) {
        let mut excerpt = String::new();
        let _ = std::io::Read::read_to_string(
            &mut std::io::Read::take(response.body_mut().as_reader(), 300),
            &mut excerpt,
        );
        let excerpt = excerpt.split_whitespace().collect::<Vec<_>>().join(" ");
        return Err(failed(if excerpt.is_empty() {
            format!("HTTP {status}")
        } else {
            format!("HTTP {status}: {excerpt}")
        }));
    }
    let body = response
        .body_mut()
        .with_config()
        .limit(MAX_FEED_BYTES)
        .read_to_vec()
        .map_err(|err| match err {
            ureq::Error::BodyExceedsLimit(_) => failed(format!(
                "the feed is larger than {} MiB",
                MAX_FEED_BYTES / (1024 * 1024)
            )),
            other => failed(other.to_string()),
        })?;
    let unreadable = |message: String| CheckError::Unreadable {
        what: shown.clone(),
        message,
    };
    let value: serde_json::Value =
        serde_json::from_slice(&body).map_err(|err| unreadable(format!("not JSON: {err}")))?;
    let feed = feed::parse(value).map_err(unreadable)?;
    Ok(Finding {
        current: feed.current,
        releases: feed.releases,
        packages: Vec::new(),
    })
}
