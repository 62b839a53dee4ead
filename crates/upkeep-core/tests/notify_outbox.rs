//! The notification outbox against a real ledger and a real HTTP server on 127.0.0.1:
//! enqueuing by routing, one attempt per due row with backoff, giving up, claims, and the
//! courier thread.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::mpsc::{Receiver, channel};
use std::time::Duration;

use upkeep_core::notify::events::{self, Available};
use upkeep_core::notify::{Channel, Courier, Event, EventKind, RetryPolicy, Routing, Sent, flush};
use upkeep_core::state::{Ledger, now_ms};

/// A server answering connection `n` with `statuses[n]` (0: never answer), then 200s.
/// Sends the `webhook-id` of every request it reads.
fn serve(statuses: Vec<u16>) -> (String, Receiver<String>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let (sender, received) = channel();
    std::thread::spawn(move || {
        let mut hung = Vec::new();
        for (n, stream) in listener.incoming().enumerate() {
            let Ok(mut stream) = stream else { return };
            let mut data = Vec::new();
            let mut buf = [0u8; 4096];
            while !data.windows(4).any(|w| w == b"\r\n\r\n") {
                match stream.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(k) => data.extend_from_slice(&buf[..k]),
                }
            }
            let head = String::from_utf8_lossy(&data).to_ascii_lowercase();
            let id = head
                .lines()
                .find_map(|l| l.strip_prefix("webhook-id:"))
                .unwrap_or_default()
                .trim()
                .to_owned();
            let _ = sender.send(id);
            match statuses.get(n).copied().unwrap_or(200) {
                0 => hung.push(stream),
                status => {
                    let reply = format!(
                        "HTTP/1.1 {status} X\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
                    );
                    let _ = stream.write_all(reply.as_bytes());
                }
            }
        }
    });
    (url, received)
}

fn routing(channels: &[&str]) -> Routing {
    Routing {
        channels: channels.iter().map(|c| (*c).to_owned()).collect(),
        kinds: vec![EventKind::UpdateAvailable, EventKind::ScheduleSkipped],
    }
}

fn webhook(url: &str) -> BTreeMap<String, Channel> {
    BTreeMap::from([(
        "ops".to_owned(),
        Channel::Webhook {
            url: url.to_owned(),
            secret: None,
        },
    )])
}

fn update(version: &str) -> upkeep_core::notify::Event {
    events::update_available(&Available {
        module: "web",
        current: Some("1.0"),
        available: version,
        security: true,
        breaking: false,
    })
}

fn quick() -> RetryPolicy {
    RetryPolicy {
        timeout: Duration::from_secs(5),
        max_attempts: 3,
        first_delay: Duration::from_secs(60),
        max_delay: Duration::from_secs(3600),
    }
}

#[test]
fn events_are_enqueued_once_per_channel_for_the_kinds_routed() {
    let dir = tempfile::tempdir().unwrap();
    let mut ledger = Ledger::open(dir.path()).unwrap();
    let routing = routing(&["ops", "team"]);
    let run_started = events::run_started(
        events::RunRef {
            id: 1,
            started_ms: 5,
        },
        "manual",
        1,
        1,
    );
    let found = update("2.0");
    let added = ledger
        .enqueue_rows(&routing.rows(&[found.clone(), run_started]))
        .unwrap();
    assert_eq!(added, 2, "run_started is not routed");
    // A check that finds the same update again tells nobody twice.
    assert_eq!(
        ledger
            .enqueue_rows(&routing.rows(&[update("2.0")]))
            .unwrap(),
        0
    );
    assert_eq!(
        ledger
            .enqueue_rows(&routing.rows(&[update("2.1")]))
            .unwrap(),
        2
    );
    let rows = ledger.outbox_undelivered().unwrap();
    let seen: Vec<(&str, &str, &str)> = rows
        .iter()
        .map(|r| (r.event_id.as_str(), r.channel.as_str(), r.state()))
        .collect();
    assert_eq!(
        seen,
        [
            ("evt_update.web.2.0", "ops", "pending"),
            ("evt_update.web.2.0", "team", "pending"),
            ("evt_update.web.2.1", "ops", "pending"),
            ("evt_update.web.2.1", "team", "pending"),
        ]
    );
    assert_eq!(rows[0].parsed::<Event>().unwrap(), found);
    assert_eq!(
        Ledger::open(dir.path())
            .unwrap()
            .enqueue_rows(&Routing::default().rows(&[update("3.0")]))
            .unwrap(),
        0,
        "no channels, no rows"
    );
}

#[test]
fn a_failed_attempt_backs_off_and_the_row_is_given_up_after_the_last() {
    let dir = tempfile::tempdir().unwrap();
    let mut ledger = Ledger::open(dir.path()).unwrap();
    let (url, received) = serve(vec![500, 500, 500, 200]);
    ledger
        .enqueue_rows(&routing(&["ops"]).rows(&[update("2.0")]))
        .unwrap();
    let channels = webhook(&url);
    let policy = quick();
    let first = flush(&mut ledger, &channels, &policy, false, &|| true).unwrap();
    assert_eq!((first.retrying(), first.delivered()), (1, 0));
    let Sent::Retry { retry_at_ms, error } = &first.attempts[0].sent else {
        panic!("{first:?}")
    };
    assert!(error.contains("HTTP 500"), "{error}");
    assert!(*retry_at_ms >= now_ms() + 50_000, "backs off a minute");
    // Not due yet: a pass of due rows leaves it alone; asking for all sends it.
    let idle = flush(&mut ledger, &channels, &policy, false, &|| true).unwrap();
    assert!(idle.attempts.is_empty());
    let second = flush(&mut ledger, &channels, &policy, true, &|| true).unwrap();
    assert_eq!(second.attempts[0].attempt, 2);
    let third = flush(&mut ledger, &channels, &policy, true, &|| true).unwrap();
    assert!(
        matches!(&third.attempts[0].sent, Sent::GaveUp { error } if error.contains("gave up after 3"))
    );
    assert!(
        flush(&mut ledger, &channels, &policy, true, &|| true)
            .unwrap()
            .attempts
            .is_empty(),
        "given up rows are not sent again"
    );
    let row = &ledger.outbox_undelivered().unwrap()[0];
    assert_eq!((row.state(), row.attempts), ("failed", 3));
    let ids: Vec<String> = received.try_iter().collect();
    assert_eq!(ids, ["evt_update.web.2.0"; 3], "the same id every time");
}

#[test]
fn rows_for_a_channel_no_longer_configured_are_given_up_and_claims_are_exclusive() {
    let dir = tempfile::tempdir().unwrap();
    let mut ledger = Ledger::open(dir.path()).unwrap();
    ledger
        .enqueue_rows(&routing(&["gone"]).rows(&[update("2.0")]))
        .unwrap();
    let id = ledger.outbox_due(now_ms(), false).unwrap()[0].id;
    let now = now_ms();
    assert!(ledger.outbox_claim(id, now, now + 60_000, false).unwrap());
    assert!(
        !ledger.outbox_claim(id, now, now + 60_000, false).unwrap(),
        "claimed by someone else until the lease ends"
    );
    let report = flush(&mut ledger, &BTreeMap::new(), &quick(), true, &|| true).unwrap();
    assert!(
        matches!(&report.attempts[0].sent, Sent::GaveUp { error } if error.contains("`gone`")),
        "{report:?}"
    );
}

#[test]
fn the_courier_delivers_when_woken_and_finish_is_bounded_by_a_hanging_endpoint() {
    let dir = tempfile::tempdir().unwrap();
    let mut ledger = Ledger::open(dir.path()).unwrap();
    let (url, received) = serve(vec![200, 0]);
    let courier = Courier::start(dir.path().to_path_buf(), webhook(&url), quick());
    ledger
        .enqueue_rows(&routing(&["ops"]).rows(&[update("2.0")]))
        .unwrap();
    courier.handle().wake();
    assert_eq!(received.recv().unwrap(), "evt_update.web.2.0");
    ledger
        .enqueue_rows(&routing(&["ops"]).rows(&[update("2.1")]))
        .unwrap();
    // The endpoint takes the second event and never answers: finishing gives up waiting
    // at the bound (the attempt's own limit is 5 s), and the row stays pending.
    assert!(!courier.finish(Duration::from_millis(300)));
    assert_eq!(received.recv().unwrap(), "evt_update.web.2.1");
    let pending = ledger.outbox_undelivered().unwrap();
    assert_eq!(pending.len(), 1);
    assert_eq!(
        (pending[0].event_id.as_str(), pending[0].state()),
        ("evt_update.web.2.1", "pending")
    );
}
