//! `http` sources: a JSON release feed fetched with a timeout and a size cap (see
//! [`super::feed`] for what it may hold).

use std::time::Duration;

use super::Finding;
use super::check::{CheckError, redact_urls};
use super::feed;
use crate::duration::format_duration;
use crate::text::redact;

/// A feed larger than this is refused rather than read into memory.
pub(super) const MAX_FEED_BYTES: u64 = 8 * 1024 * 1024;

/// Fetch and read the feed at `url`; the whole request is bounded by `timeout`.
pub(super) fn check(url: &str, timeout: Duration) -> Result<Finding, CheckError> {
    let shown = redact(url);
    tracing::debug!(url = %shown, "update check: fetching a release feed");
    let body = fetch(url, timeout).map_err(|message| CheckError::Http {
        url: shown.clone(),
        message: redact_urls(&message.replace(url, &shown)),
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

/// GET `url` and return a successful response's body; `Err` says what went wrong.
fn fetch(url: &str, timeout: Duration) -> Result<Vec<u8>, String> {
    let described = |err: ureq::Error| match err {
        ureq::Error::Timeout(_) => {
            format!("no complete answer within {}", format_duration(timeout))
        }
        ureq::Error::BodyExceedsLimit(_) => format!(
            "the feed is larger than {} MiB",
            MAX_FEED_BYTES / (1024 * 1024)
        ),
        other => other.to_string(),
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
        .map_err(described)?;
    let status = response.status().as_u16();
    if !(200..300).contains(&status) {
        return Err(crate::notify::status_error(&mut response));
    }
    response
        .body_mut()
        .with_config()
        .limit(MAX_FEED_BYTES)
        .read_to_vec()
        .map_err(described)
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};
    use std::net::TcpListener;

    use super::*;

    /// Answer one request with `status` and `body`; returns the URL (with a secret in it).
    fn serve_once(status: &str, body: Vec<u8>) -> String {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!(
            "http://bot:hunter2@{}/feed?token=abc",
            listener.local_addr().unwrap()
        );
        let status = status.to_owned();
        std::thread::spawn(move || {
            let (mut stream, _) = listener.accept().unwrap();
            let mut request = [0u8; 4096];
            let _ = stream.read(&mut request);
            let head = format!(
                "HTTP/1.1 {status}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                body.len()
            );
            let _ = stream.write_all(head.as_bytes());
            let _ = stream.write_all(&body);
        });
        url
    }

    fn message(result: Result<Finding, CheckError>) -> String {
        let text = result.unwrap_err().to_string();
        assert!(!text.contains("hunter2") && !text.contains("abc"), "{text}");
        text
    }

    #[test]
    fn an_error_status_is_reported_with_the_start_of_the_body() {
        let url = serve_once("404 Not Found", b"{\"message\": \"Not Found\"}\n".to_vec());
        let text = message(check(&url, Duration::from_secs(20)));
        assert!(
            text.ends_with("HTTP 404: {\"message\": \"Not Found\"}"),
            "{text}"
        );
    }

    #[test]
    fn a_feed_over_the_size_cap_is_refused() {
        let cap = usize::try_from(MAX_FEED_BYTES).unwrap();
        let url = serve_once("200 OK", vec![b' '; cap + 1]);
        let text = message(check(&url, Duration::from_secs(60)));
        assert!(text.ends_with("the feed is larger than 8 MiB"), "{text}");
    }

    #[test]
    fn a_feed_that_is_not_json_is_unreadable() {
        let url = serve_once("200 OK", b"<html>rate limited</html>".to_vec());
        let text = message(check(&url, Duration::from_secs(20)));
        assert!(text.contains(": not JSON: "), "{text}");
    }
}
