//! Sending an event, with timeouts, retries and backoff.

use std::io::Read as _;
use std::path::Path;
use std::time::Duration;

use super::{Channel, Event, payload, sign};
use crate::text::redact;

/// How hard [`deliver`] tries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryOptions {
    /// Limit on one attempt: connecting, sending and reading the response (or the command's
    /// run time). Default 5 s.
    pub timeout: Duration,
    /// Attempts in all, at least 1. Default 4.
    pub attempts: u32,
    /// Delay before the second attempt; it doubles for each one after. Default 1 s.
    pub backoff: Duration,
}

impl Default for DeliveryOptions {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(5),
            attempts: 4,
            backoff: Duration::from_secs(1),
        }
    }
}

impl DeliveryOptions {
    /// The longest [`deliver`] can take: every attempt timing out, plus every delay at its
    /// largest (`attempts × timeout + backoff × (2^(attempts−1) − 1)`); 27 s by default.
    pub fn worst_case(&self) -> Duration {
        let attempts = self.attempts.max(1);
        let delays = (1..attempts).fold(Duration::ZERO, |sum, n| sum + self.delay(n));
        self.timeout.saturating_mul(attempts).saturating_add(delays)
    }

    /// The delay after failed attempt `n` (1-based): `backoff × 2^(n−1)`.
    fn delay(&self, n: u32) -> Duration {
        self.backoff
            .saturating_mul(2u32.saturating_pow(n.saturating_sub(1)))
    }

    /// The largest delay of the schedule; a `Retry-After` is honoured up to this.
    fn cap(&self) -> Duration {
        self.delay(self.attempts.max(1).saturating_sub(1).max(1))
    }
}

/// What became of a delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivery {
    /// The endpoint accepted it: an HTTP 2xx status, or 0 for a command that exited 0.
    Delivered {
        /// Attempts made, the successful one included.
        attempts: u32,
        /// HTTP status (0 for a command).
        status: u16,
    },
    /// Every attempt failed, or one failed in a way retrying cannot fix.
    Failed {
        /// Attempts made.
        attempts: u32,
        /// Why the last one failed; URLs in it are redacted.
        last_error: String,
        /// Whether trying again later may help (a timeout, a 5xx), or not (a 4xx, a bad
        /// URL, a TLS failure, a command that cannot be started).
        retryable: bool,
    },
}

/// The result of one attempt.
enum Attempt {
    Delivered(u16),
    /// Worth another try; `after` is the server's `Retry-After`.
    Retry {
        error: String,
        after: Option<Duration>,
    },
    /// Retrying will not help (4xx other than 429, bad URL, https without TLS, ...).
    Give(String),
}

/// Send `event` to `channel`, retrying what may be temporary.
///
/// Retried: connection errors, timeouts, HTTP 5xx and 429 (waiting the `Retry-After`
/// seconds when given, up to the largest backoff delay), and a command that exits non-zero
/// or is killed at the timeout. Not retried: other 4xx, 3xx, a malformed URL, a TLS
/// failure (bad certificate, not TLS at all), a command that cannot be started. Each attempt is bounded
/// by `options.timeout`, so the whole call is bounded by [`DeliveryOptions::worst_case`];
/// it blocks the calling thread for that long at most, so callers deliver after committing
/// the state change, or on a thread of their own.
pub fn deliver(channel: &Channel, event: &Event, options: &DeliveryOptions) -> Delivery {
    let attempts = options.attempts.max(1);
    let mut last_error = String::new();
    for attempt in 1..=attempts {
        match attempt_once(channel, event, options.timeout) {
            Attempt::Delivered(status) => {
                return Delivery::Delivered {
                    attempts: attempt,
                    status,
                };
            }
            Attempt::Give(error) => {
                return Delivery::Failed {
                    attempts: attempt,
                    last_error: error,
                    retryable: false,
                };
            }
            Attempt::Retry { error, after } => {
                last_error = error;
                if attempt < attempts {
                    let wait =
                        after.map_or(options.delay(attempt), |after| after.min(options.cap()));
                    std::thread::sleep(wait);
                }
            }
        }
    }
    Delivery::Failed {
        attempts,
        last_error,
        retryable: true,
    }
}

fn attempt_once(channel: &Channel, event: &Event, timeout: Duration) -> Attempt {
    let (content_type, body) = payload(channel, event);
    match channel {
        Channel::Webhook { url, secret } => {
            let timestamp = jiff::Timestamp::now().as_second();
            let mut headers = vec![
                ("webhook-id", event.id.clone()),
                ("webhook-timestamp", timestamp.to_string()),
            ];
            if let Some(secret) = secret {
                headers.push((
                    "webhook-signature",
                    sign(secret, &event.id, timestamp, &body),
                ));
            }
            post(url, &content_type, &body, &headers, timeout)
        }
        Channel::Discord { url } | Channel::Slack { url } => {
            post(url, &content_type, &body, &[], timeout)
        }
        Channel::Command { argv } => run_command(argv, event, &body, timeout),
    }
}

fn post(
    url: &str,
    content_type: &str,
    body: &[u8],
    headers: &[(&str, String)],
    timeout: Duration,
) -> Attempt {
    let shown = redact(url);
    if !(url.starts_with("http://") || url.starts_with("https://")) {
        return Attempt::Give(format!("{shown}: not an http:// or https:// URL"));
    }
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(timeout))
        .http_status_as_error(false)
        .max_redirects(0)
        .max_redirects_will_error(false)
        .user_agent(concat!("upkeep/", env!("CARGO_PKG_VERSION")))
        .build()
        .into();
    let mut request = agent.post(url).header("content-type", content_type);
    for (name, value) in headers {
        request = request.header(*name, value);
    }
    match request.send(body) {
        Ok(response) => judge(&shown, response),
        Err(error) => transport_error(url, &shown, &error),
    }
}

/// `HTTP <status>`, followed by the start of the response's body (300 bytes, whitespace
/// collapsed) when it has one: what a failed request reports.
pub(crate) fn status_error(response: &mut ureq::http::Response<ureq::Body>) -> String {
    let status = response.status().as_u16();
    let mut excerpt = String::new();
    let _ = response
        .body_mut()
        .as_reader()
        .take(300)
        .read_to_string(&mut excerpt);
    let excerpt = excerpt.split_whitespace().collect::<Vec<_>>().join(" ");
    if excerpt.is_empty() {
        format!("HTTP {status}")
    } else {
        format!("HTTP {status}: {excerpt}")
    }
}

fn judge(shown: &str, mut response: ureq::http::Response<ureq::Body>) -> Attempt {
    let status = response.status().as_u16();
    if (200..300).contains(&status) {
        return Attempt::Delivered(status);
    }
    let after = response
        .headers()
        .get("retry-after")
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.trim().parse::<u64>().ok())
        .map(Duration::from_secs);
    let error = format!("{shown}: {}", status_error(&mut response));
    if status == 429 || status >= 500 {
        Attempt::Retry { error, after }
    } else {
        Attempt::Give(error)
    }
}

fn transport_error(url: &str, shown: &str, error: &ureq::Error) -> Attempt {
    // ureq's messages may quote the URL; never let its secrets through.
    let message = error.to_string().replace(url, shown);
    let error_text = format!("{shown}: {message}");
    match error {
        ureq::Error::BadUri(_)
        | ureq::Error::Http(_)
        | ureq::Error::TlsRequired
        | ureq::Error::RequireHttpsOnly(_)
        | ureq::Error::InvalidProxyUrl
        // Certificate and handshake failures: another try meets the same certificate.
        | ureq::Error::Tls(_)
        | ureq::Error::Rustls(_)
        | ureq::Error::Pem(_) => Attempt::Give(error_text),
        // rustls reports a failed handshake (bad certificate, a peer not speaking TLS) as
        // invalid data on the stream.
        ureq::Error::Io(io) if io.kind() == std::io::ErrorKind::InvalidData => {
            Attempt::Give(error_text)
        }
        _ => Attempt::Retry {
            error: error_text,
            after: None,
        },
    }
}

fn run_command(argv: &[String], event: &Event, body: &[u8], timeout: Duration) -> Attempt {
    let Some(program) = argv.first() else {
        return Attempt::Give("command channel: empty command".to_owned());
    };
    if program.contains('=') {
        // `env` would take it for a variable assignment.
        return Attempt::Give(format!(
            "command channel: program name {program:?} contains '='"
        ));
    }
    let json = format!("UPKEEP_EVENT_JSON={}", String::from_utf8_lossy(body));
    let id = format!("UPKEEP_EVENT_ID={}", event.id);
    let kind = format!("UPKEEP_EVENT_KIND={}", event.kind.as_str());
    let mut full: Vec<&str> = vec!["env", "--", &json, &id, &kind];
    full.extend(argv.iter().map(String::as_str));
    match crate::exec::capture_users(&full, Path::new("/"), &[], timeout) {
        Ok(done) if done.success() => Attempt::Delivered(0),
        // `env`'s "not found" and "not executable": retrying will not help.
        Ok(done) if matches!(done.code, Some(126 | 127)) => Attempt::Give(format!(
            "command {program} could not be run: {}",
            done.stderr.trim()
        )),
        Ok(done) => {
            let why = done.code.map_or_else(
                || "was killed (timeout)".to_owned(),
                |code| format!("exited {code}"),
            );
            let stderr = done.stderr.trim();
            let tail: String = stderr
                .chars()
                .rev()
                .take(300)
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
                .collect();
            Attempt::Retry {
                error: format!("command {program} {why}: {tail}")
                    .trim_end_matches(": ")
                    .to_owned(),
                after: None,
            }
        }
        Err(error) => Attempt::Give(format!("command {program}: {error}")),
    }
}
