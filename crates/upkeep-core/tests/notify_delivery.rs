//! Notification delivery against a real HTTP server on 127.0.0.1 and a real command.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::io::{Read, Write as _};
use std::net::{TcpListener, TcpStream};
use std::sync::mpsc::{Receiver, channel};
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, KeyInit, Mac};
use serde_json::Value;
use sha2::Sha256;
use upkeep_core::notify::{
    Channel, Delivery, DeliveryOptions, Event, EventKind, Severity, deliver, payload, sign,
};
use upkeep_core::text::redact;

/// What the server does with one connection.
enum Reply {
    Status(u16, Vec<(&'static str, &'static str)>),
    /// Read the request, then never answer.
    Hang,
}

struct Received {
    path: String,
    headers: HashMap<String, String>,
    body: Vec<u8>,
}

/// A server answering one connection per reply, in order; it stops listening after the
/// last one.
fn serve(replies: Vec<Reply>) -> (String, Receiver<Received>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let (sender, received) = channel();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for reply in replies {
            let Ok((mut stream, _)) = listener.accept() else {
                return;
            };
            let Some(request) = read_request(&mut stream) else {
                continue;
            };
            let _ = sender.send(request);
            match reply {
                Reply::Status(status, headers) => {
                    let mut response = format!("HTTP/1.1 {status} X\r\n");
                    for (name, value) in headers {
                        let _ = write!(response, "{name}: {value}\r\n");
                    }
                    response.push_str("content-length: 2\r\nconnection: close\r\n\r\nok");
                    let _ = stream.write_all(response.as_bytes());
                }
                Reply::Hang => held.push(stream),
            }
        }
        if !held.is_empty() {
            std::thread::sleep(Duration::from_secs(30));
        }
    });
    (url, received)
}

fn read_request(stream: &mut TcpStream) -> Option<Received> {
    let mut data = Vec::new();
    let mut buf = [0u8; 4096];
    let head_end = loop {
        let n = stream.read(&mut buf).ok()?;
        if n == 0 {
            return None;
        }
        data.extend_from_slice(&buf[..n]);
        if let Some(at) = data.windows(4).position(|w| w == b"\r\n\r\n") {
            break at;
        }
    };
    let head = String::from_utf8_lossy(&data[..head_end]).into_owned();
    let mut lines = head.lines();
    let path = lines.next()?.split(' ').nth(1)?.to_owned();
    let headers: HashMap<String, String> = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| (name.trim().to_ascii_lowercase(), value.trim().to_owned()))
        .collect();
    let length: usize = headers
        .get("content-length")
        .map_or(0, |v| v.parse().unwrap());
    let mut body = data[head_end + 4..].to_vec();
    while body.len() < length {
        let n = stream.read(&mut buf).ok()?;
        if n == 0 {
            break;
        }
        body.extend_from_slice(&buf[..n]);
    }
    Some(Received {
        path,
        headers,
        body,
    })
}

fn event() -> Event {
    Event {
        id: "evt_42_1".to_owned(),
        kind: EventKind::RunFinished,
        at_ms: 1_734_663_600_000,
        title: "Run 42 finished".to_owned(),
        text: "2 updated, 1 failed".to_owned(),
        fields: vec![
            ("updated".to_owned(), "app, packages".to_owned()),
            ("failed".to_owned(), "config".to_owned()),
        ],
        severity: Severity::Warning,
    }
}

fn quick(attempts: u32) -> DeliveryOptions {
    DeliveryOptions {
        timeout: Duration::from_secs(5),
        attempts,
        backoff: Duration::from_millis(10),
    }
}

fn hmac_b64(key: &[u8], message: &[u8]) -> String {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(key).unwrap();
    mac.update(message);
    STANDARD.encode(mac.finalize().into_bytes())
}

/// Checks the Standard Webhooks headers of `request`, recomputing the signature with `key`.
fn assert_signed(request: &Received, key: &[u8]) {
    let id = &request.headers["webhook-id"];
    assert_eq!(id, "evt_42_1");
    let timestamp: i64 = request.headers["webhook-timestamp"].parse().unwrap();
    let now = jiff::Timestamp::now().as_second();
    assert!(
        (now - timestamp).abs() < 60,
        "timestamp {timestamp} is in seconds"
    );
    let mut message = format!("{id}.{timestamp}.").into_bytes();
    message.extend_from_slice(&request.body);
    let expected = format!("v1,{}", hmac_b64(key, &message));
    assert_eq!(request.headers["webhook-signature"], expected);
}

#[test]
fn webhook_body_is_the_event_json_with_verifiable_signature() {
    let (url, received) = serve(vec![Reply::Status(200, vec![])]);
    let channel = Channel::Webhook {
        url,
        secret: Some("plain-secret".to_owned()),
    };
    let delivery = deliver(&channel, &event(), &quick(1));
    assert_eq!(
        delivery,
        Delivery::Delivered {
            attempts: 1,
            status: 200
        }
    );
    let request = received.recv().unwrap();
    assert_eq!(request.path, "/hook");
    assert_eq!(request.headers["content-type"], "application/json");
    let body: Value = serde_json::from_slice(&request.body).unwrap();
    assert_eq!(body, serde_json::to_value(event()).unwrap());
    assert_eq!(body["kind"], "run_finished");
    assert_eq!(body["severity"], "warning");
    assert_eq!(body["fields"][0]["name"], "updated");
    let back: Event = serde_json::from_value(body).unwrap();
    assert_eq!(back, event());
    assert_signed(&request, b"plain-secret");
}

#[test]
fn whsec_secret_signs_with_the_decoded_key() {
    let key = b"\x00\x01binary key bytes\xff";
    let secret = format!("whsec_{}", STANDARD.encode(key));
    let (url, received) = serve(vec![Reply::Status(204, vec![])]);
    let channel = Channel::Webhook {
        url,
        secret: Some(secret.clone()),
    };
    assert!(matches!(
        deliver(&channel, &event(), &quick(1)),
        Delivery::Delivered { status: 204, .. }
    ));
    assert_signed(&received.recv().unwrap(), key);
    let direct = sign(&secret, "msg_1", 1_700_000_000, b"{}");
    assert_eq!(
        direct,
        format!("v1,{}", hmac_b64(key, b"msg_1.1700000000.{}"))
    );
}

#[test]
fn unsigned_webhook_still_sends_id_and_timestamp() {
    let (url, received) = serve(vec![Reply::Status(200, vec![])]);
    let channel = Channel::Webhook { url, secret: None };
    deliver(&channel, &event(), &quick(1));
    let request = received.recv().unwrap();
    assert_eq!(request.headers["webhook-id"], "evt_42_1");
    assert!(request.headers.contains_key("webhook-timestamp"));
    assert!(!request.headers.contains_key("webhook-signature"));
}

#[test]
fn retries_after_two_500s() {
    let (url, received) = serve(vec![
        Reply::Status(500, vec![]),
        Reply::Status(503, vec![]),
        Reply::Status(200, vec![]),
    ]);
    let channel = Channel::Webhook { url, secret: None };
    let delivery = deliver(&channel, &event(), &quick(4));
    assert_eq!(
        delivery,
        Delivery::Delivered {
            attempts: 3,
            status: 200
        }
    );
    assert_eq!(received.try_iter().count(), 3);
}

#[test]
fn a_400_is_not_retried() {
    let (url, _received) = serve(vec![Reply::Status(400, vec![]), Reply::Status(200, vec![])]);
    let channel = Channel::Webhook { url, secret: None };
    match deliver(&channel, &event(), &quick(4)) {
        Delivery::Failed {
            attempts,
            last_error,
            retryable,
        } => {
            assert_eq!(attempts, 1);
            assert!(!retryable);
            assert!(last_error.contains("HTTP 400"), "{last_error}");
        }
        other @ Delivery::Delivered { .. } => panic!("expected a failure, got {other:?}"),
    }
}

#[test]
fn a_429_is_retried_with_retry_after_capped_by_the_backoff() {
    let (url, _received) = serve(vec![
        Reply::Status(429, vec![("retry-after", "3600")]),
        Reply::Status(200, vec![]),
    ]);
    let channel = Channel::Slack { url };
    let started = Instant::now();
    assert_eq!(
        deliver(&channel, &event(), &quick(2)),
        Delivery::Delivered {
            attempts: 2,
            status: 200
        }
    );
    assert!(started.elapsed() < Duration::from_secs(10));
}

#[test]
fn worst_case_bounds_the_default_delivery() {
    let options = DeliveryOptions::default();
    assert_eq!(options.timeout, Duration::from_secs(5));
    assert_eq!(options.attempts, 4);
    assert_eq!(options.backoff, Duration::from_secs(1));
    // 4 × 5 s of attempts plus delays of 1 + 2 + 4 s.
    assert_eq!(options.worst_case(), Duration::from_secs(27));
}

#[test]
fn a_hanging_endpoint_fails_within_the_bound() {
    let (url, received) = serve(vec![Reply::Hang, Reply::Hang, Reply::Hang]);
    let channel = Channel::Webhook { url, secret: None };
    let options = DeliveryOptions {
        timeout: Duration::from_millis(200),
        attempts: 3,
        backoff: Duration::from_millis(10),
    };
    let started = Instant::now();
    let delivery = deliver(&channel, &event(), &options);
    let took = started.elapsed();
    assert!(
        matches!(delivery, Delivery::Failed { attempts: 3, .. }),
        "{delivery:?}"
    );
    assert!(took < Duration::from_secs(10), "took {took:?}");
    assert!(options.worst_case() < Duration::from_secs(1));
    assert_eq!(received.try_iter().count(), 3);
}

#[test]
fn a_dead_endpoint_fails_quickly() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/", listener.local_addr().unwrap());
    drop(listener);
    let channel = Channel::Discord { url };
    let delivery = deliver(&channel, &event(), &quick(2));
    assert!(
        matches!(delivery, Delivery::Failed { attempts: 2, .. }),
        "{delivery:?}"
    );
}

#[test]
fn a_tls_failure_is_not_retried_and_the_url_is_redacted() {
    // A server that answers a TLS handshake in plain HTTP.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming().take(4) {
            let Ok(mut stream) = stream else { return };
            let _ = stream.write_all(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n");
        }
    });
    let channel = Channel::Discord {
        url: format!("https://{address}/api/webhooks/123/SECRETTOKEN"),
    };
    match deliver(&channel, &event(), &quick(4)) {
        Delivery::Failed {
            attempts,
            last_error,
            ..
        } => {
            assert_eq!(attempts, 1, "{last_error}");
            assert!(last_error.contains("/api/webhooks/123/***"), "{last_error}");
            assert!(!last_error.contains("SECRETTOKEN"), "{last_error}");
        }
        other @ Delivery::Delivered { .. } => panic!("expected a failure, got {other:?}"),
    }
}

#[test]
fn discord_payload_is_one_embed() {
    let channel = Channel::Discord {
        url: "http://x/".to_owned(),
    };
    let (content_type, body) = payload(&channel, &event());
    assert_eq!(content_type, "application/json");
    let body: Value = serde_json::from_slice(&body).unwrap();
    let embed = &body["embeds"][0];
    assert!(embed["title"].as_str().unwrap().contains("Run 42 finished"));
    assert_eq!(embed["description"], "2 updated, 1 failed");
    assert_eq!(embed["color"], 0x00F1_C40F);
    assert_eq!(embed["fields"][0]["name"], "updated");
    assert_eq!(embed["fields"][0]["value"], "app, packages");
    assert_eq!(embed["fields"][1]["name"], "failed");
    assert_eq!(embed["timestamp"], "2024-12-20T03:00:00Z");
    assert_eq!(body["allowed_mentions"]["parse"], Value::Array(vec![]));
}

#[test]
fn discord_cuts_to_its_limits() {
    let mut long = event();
    long.title = "t".repeat(400);
    long.fields = (0..40)
        .map(|n| (format!("f{n}"), "v".repeat(2000)))
        .collect();
    let channel = Channel::Discord {
        url: "http://x/".to_owned(),
    };
    let body: Value = serde_json::from_slice(&payload(&channel, &long).1).unwrap();
    let embed = &body["embeds"][0];
    assert!(embed["title"].as_str().unwrap().chars().count() <= 256);
    let fields = embed["fields"].as_array().unwrap();
    assert_eq!(fields.len(), 25);
    assert!(fields[0]["value"].as_str().unwrap().chars().count() <= 1024);
}

#[test]
fn slack_payload_has_text_and_blocks() {
    let (url, received) = serve(vec![Reply::Status(200, vec![])]);
    let channel = Channel::Slack { url };
    assert!(matches!(
        deliver(&channel, &event(), &quick(1)),
        Delivery::Delivered { .. }
    ));
    let body: Value = serde_json::from_slice(&received.recv().unwrap().body).unwrap();
    let text = body["text"].as_str().unwrap();
    assert!(
        text.contains("Run 42 finished") && text.contains("2 updated"),
        "{text}"
    );
    let blocks = body["blocks"].as_array().unwrap();
    assert_eq!(blocks[0]["type"], "header");
    assert!(
        blocks[0]["text"]["text"]
            .as_str()
            .unwrap()
            .contains("Run 42")
    );
    assert_eq!(blocks[1]["text"]["text"], "2 updated, 1 failed");
    assert_eq!(blocks[2]["fields"][0]["text"], "*updated*\napp, packages");
    assert_eq!(blocks.last().unwrap()["type"], "context");
}

#[test]
fn command_receives_the_event_in_its_environment() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("event.json");
    let channel = Channel::Command {
        argv: vec![
            "sh".to_owned(),
            "-c".to_owned(),
            r#"printf '%s' "$UPKEEP_EVENT_JSON" > "$1"; printf '%s' "$UPKEEP_EVENT_KIND" > "$1.kind""#
                .to_owned(),
            "sh".to_owned(),
            out.display().to_string(),
        ],
    };
    assert_eq!(
        deliver(&channel, &event(), &quick(1)),
        Delivery::Delivered {
            attempts: 1,
            status: 0
        }
    );
    let written: Value = serde_json::from_str(&fs_err::read_to_string(&out).unwrap()).unwrap();
    assert_eq!(written, serde_json::to_value(event()).unwrap());
    let kind = fs_err::read_to_string(dir.path().join("event.json.kind")).unwrap();
    assert_eq!(kind, "run_finished");
}

#[test]
fn failing_commands_are_retried_missing_ones_are_not() {
    let failing = Channel::Command {
        argv: vec![
            "sh".to_owned(),
            "-c".to_owned(),
            "echo nope >&2; exit 3".to_owned(),
        ],
    };
    match deliver(&failing, &event(), &quick(2)) {
        Delivery::Failed {
            attempts,
            last_error,
            ..
        } => {
            assert_eq!(attempts, 2);
            assert!(
                last_error.contains("exited 3") && last_error.contains("nope"),
                "{last_error}"
            );
        }
        other @ Delivery::Delivered { .. } => panic!("expected a failure, got {other:?}"),
    }
    let missing = Channel::Command {
        argv: vec!["/nonexistent/upkeep-notifier".to_owned()],
    };
    assert!(matches!(
        deliver(&missing, &event(), &quick(3)),
        Delivery::Failed {
            attempts: 1,
            retryable: false,
            ..
        }
    ));
}

/// Whether process `pid` is gone (or a zombie nobody reaped yet: it runs nothing).
fn gone(pid: i32) -> bool {
    fs_err::read_to_string(format!("/proc/{pid}/stat")).map_or(true, |stat| {
        stat.rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z'))
    })
}

/// A command channel that starts a child of its own and waits for it, timing out.
fn timed_out_command(script: &str) -> i32 {
    let dir = tempfile::tempdir().unwrap();
    let pid_file = dir.path().join("child.pid");
    let channel = Channel::Command {
        argv: vec![
            "sh".to_owned(),
            "-c".to_owned(),
            script.to_owned(),
            "sh".to_owned(),
            pid_file.display().to_string(),
        ],
    };
    let options = DeliveryOptions {
        timeout: Duration::from_millis(500),
        attempts: 1,
        backoff: Duration::ZERO,
    };
    match deliver(&channel, &event(), &options) {
        Delivery::Failed {
            last_error,
            retryable,
            ..
        } => {
            assert!(last_error.contains("timeout"), "{last_error}");
            assert!(retryable);
        }
        other @ Delivery::Delivered { .. } => panic!("expected a timeout, got {other:?}"),
    }
    fs_err::read_to_string(&pid_file)
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

#[test]
fn a_command_that_times_out_leaves_no_child_behind() {
    // The child is written down before the shell waits, so the timeout finds it running.
    let child = timed_out_command(r#"sleep 300 & echo $! > "$1"; wait"#);
    assert!(gone(child), "sleep {child} outlived the timeout");
}

#[test]
fn a_child_ignoring_sigterm_is_killed_after_the_grace() {
    let child = timed_out_command(r#"trap '' TERM; sleep 300 & echo $! > "$1"; wait"#);
    assert!(gone(child), "sleep {child} outlived the timeout");
}

#[test]
fn redact_hides_secrets_in_urls() {
    let cases = [
        (
            "https://discord.com/api/webhooks/123456/abcDEF-token",
            "https://discord.com/api/webhooks/123456/***",
        ),
        (
            "https://discord.com/api/webhooks/123456/abcDEF-token/slack?wait=true",
            "https://discord.com/api/webhooks/123456/***/***?wait=true",
        ),
        (
            "https://hooks.slack.com/services/T000/B000/XXXXSECRET",
            "https://hooks.slack.com/services/***/***/***",
        ),
        (
            "https://user:hunter2@example.com/hook",
            "https://user:***@example.com/hook",
        ),
        (
            "https://user@example.com/hook",
            "https://user@example.com/hook",
        ),
        (
            "http://example.com/h?token=abc&keep=1&api_key=zz&sig=ff&signature=aa&Secret=s",
            "http://example.com/h?token=***&keep=1&api_key=***&sig=***&signature=***&Secret=***",
        ),
        (
            "http://127.0.0.1:8080/plain/path",
            "http://127.0.0.1:8080/plain/path",
        ),
        ("not a url", "not a url"),
    ];
    for (input, expected) in cases {
        assert_eq!(redact(input), expected, "{input}");
    }
}

#[test]
fn channels_parse_by_kind_and_debug_is_redacted() {
    let channel: Channel = serde_json::from_str(
        r#"{"kind": "discord", "url": "https://discord.com/api/webhooks/1/TOKEN"}"#,
    )
    .unwrap();
    assert!(matches!(channel, Channel::Discord { .. }));
    assert!(!format!("{channel:?}").contains("TOKEN"));
    assert!(!channel.describe().contains("TOKEN"));
    let webhook: Channel =
        serde_json::from_str(r#"{"kind": "webhook", "url": "http://h/", "secret": "s"}"#).unwrap();
    assert!(!format!("{webhook:?}").contains("\"s\""));
    let command: Channel =
        serde_json::from_str(r#"{"kind": "command", "argv": ["notify-send", "upkeep"]}"#).unwrap();
    assert_eq!(
        command,
        Channel::Command {
            argv: vec!["notify-send".to_owned(), "upkeep".to_owned()]
        }
    );
}
