//! Notifications from the user's side: channels in the settings file, real runs telling a
//! real HTTP server on 127.0.0.1 (signatures checked independently), retries after 500s,
//! a hanging endpoint that does not hold up a run, a command channel, `notify test`, and
//! secrets that never show.

use std::collections::{BTreeSet, VecDeque};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::mpsc::{Receiver, channel};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, KeyInit, Mac};
use serde_json::Value;
use sha2::Sha256;

use crate::fixture::{Host, output};

/// How the server answers a request.
#[derive(Debug, Clone, Copy)]
enum Reply {
    Status(u16),
    /// Read the request, then never answer.
    Hang,
}

/// A request the server read.
#[derive(Debug)]
struct Request {
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Request {
    fn header(&self, name: &str) -> &str {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map_or("", |(_, v)| v.as_str())
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap()
    }
}

/// A webhook endpoint on 127.0.0.1: answers with the queued replies in order, then with
/// the standing reply, which the test can change.
struct Hook {
    url: String,
    received: Receiver<Request>,
    queued: Arc<Mutex<VecDeque<Reply>>>,
    standing: Arc<Mutex<Reply>>,
}

impl Hook {
    fn start(queued: &[Reply], standing: Reply) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        let queued = Arc::new(Mutex::new(queued.iter().copied().collect::<VecDeque<_>>()));
        let standing = Arc::new(Mutex::new(standing));
        let (sender, received) = channel();
        let (next, always) = (queued.clone(), standing.clone());
        std::thread::spawn(move || {
            let mut hung = Vec::new();
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { return };
                let Some(request) = read_request(&mut stream) else {
                    continue;
                };
                let reply = next
                    .lock()
                    .unwrap()
                    .pop_front()
                    .unwrap_or(*always.lock().unwrap());
                if sender.send(request).is_err() {
                    return;
                }
                match reply {
                    Reply::Status(status) => {
                        let head = format!(
                            "HTTP/1.1 {status} X\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
                        );
                        let _ = stream.write_all(head.as_bytes());
                    }
                    Reply::Hang => hung.push(stream),
                }
            }
        });
        Self {
            url,
            received,
            queued,
            standing,
        }
    }

    fn answer(&self, reply: Reply) {
        self.queued.lock().unwrap().clear();
        *self.standing.lock().unwrap() = reply;
    }

    /// Every request received so far.
    fn requests(&self) -> Vec<Request> {
        self.received.try_iter().collect()
    }

    /// The next request, waiting for it (bounded, so a bug fails instead of hanging).
    fn next(&self) -> Request {
        self.received
            .recv_timeout(Duration::from_secs(60))
            .expect("a request reached the endpoint")
    }
}

fn read_request(stream: &mut TcpStream) -> Option<Request> {
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
    let headers: Vec<(String, String)> = head
        .lines()
        .skip(1)
        .filter_map(|line| line.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let length: usize = headers
        .iter()
        .find(|(n, _)| n == "content-length")
        .map_or(0, |(_, v)| v.parse().unwrap());
    let mut body = data[head_end + 4..].to_vec();
    while body.len() < length {
        let n = stream.read(&mut buf).ok()?;
        if n == 0 {
            break;
        }
        body.extend_from_slice(&buf[..n]);
    }
    Some(Request { headers, body })
}

/// The signing key, and its settings form (`whsec_` + base64).
const KEY: &[u8] = b"an ops team's shared signing key";

fn whsec() -> String {
    format!("whsec_{}", STANDARD.encode(KEY))
}

/// Check a request's Standard Webhooks signature with our own HMAC.
fn assert_signed(request: &Request) {
    let id = request.header("webhook-id");
    let timestamp = request.header("webhook-timestamp");
    assert!(
        !id.is_empty() && timestamp.parse::<i64>().is_ok(),
        "{request:?}"
    );
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(KEY).unwrap();
    mac.update(format!("{id}.{timestamp}.").as_bytes());
    mac.update(&request.body);
    let expected = format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()));
    assert_eq!(request.header("webhook-signature"), expected);
    assert_eq!(request.json()["id"], id, "the body carries the header's id");
}

/// Write the settings file: `extra` lines, then the channels.
fn settings(host: &Host, text: &str) {
    fs_err::write(host.root.join("settings.toml"), text).unwrap();
}

fn webhook_settings(host: &Host, url: &str, extra: &str) {
    settings(
        host,
        &format!(
            "{extra}\n[channels.ops]\nkind = \"webhook\"\nurl = \"{url}\"\nsecret = \"{}\"\n",
            whsec()
        ),
    );
}

/// Two modules, one failing.
fn good_and_bad(host: &mut Host) {
    host.manifest_toml(
        "[[module]]\nname = \"good\"\ncommand = [\"true\"]\n\n\
         [[module]]\nname = \"bad\"\ncommand = [\"sh\", \"-c\", \"echo boom >&2; exit 1\"]\n",
    );
}

/// Deliver whatever the run's own bounded delivery left, and check nothing is left.
fn flush_all(host: &Host) {
    let (code, stdout, stderr) = output(&host.upkeep().args(["notify", "flush"]).assert());
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert_eq!(pending(host), Vec::<Value>::new());
}

fn pending(host: &Host) -> Vec<Value> {
    let (code, stdout, stderr) =
        output(&host.upkeep().args(["--json", "notify", "pending"]).assert());
    assert_eq!(code, 0, "{stderr}");
    serde_json::from_str::<Value>(&stdout)
        .unwrap()
        .as_array()
        .unwrap()
        .clone()
}

/// The events received, once per id (a delivery cut off by the run's exit may be sent
/// again by a flush: receivers deduplicate on the id), by kind.
fn by_kind(requests: &[Request]) -> Vec<(String, Value)> {
    let mut seen = BTreeSet::new();
    let mut events: Vec<(String, Value)> = requests
        .iter()
        .filter(|r| seen.insert(r.header("webhook-id").to_owned()))
        .map(|r| (r.json()["kind"].as_str().unwrap().to_owned(), r.json()))
        .collect();
    events.sort_by(|a, b| a.0.cmp(&b.0));
    events
}

fn field<'v>(event: &'v Value, name: &str) -> &'v str {
    event["fields"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["name"] == name)
        .map_or("", |f| f["value"].as_str().unwrap())
}

#[test]
fn a_run_tells_a_signed_webhook_that_it_started_a_module_failed_and_it_finished() {
    let mut host = Host::new();
    let hook = Hook::start(&[], Reply::Status(204));
    webhook_settings(&host, &hook.url, "");
    good_and_bad(&mut host);
    host.upkeep().arg("run").assert().code(3);
    flush_all(&host);
    let requests = hook.requests();
    for request in &requests {
        assert_signed(request);
    }
    let events = by_kind(&requests);
    let kinds: Vec<&str> = events.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(kinds, ["module_failed", "run_finished", "run_started"]);
    let failed = &events[0].1;
    assert_eq!(failed["title"], "Update of bad failed");
    assert_eq!(failed["severity"], "error");
    assert_eq!(
        (field(failed, "module"), field(failed, "outcome")),
        ("bad", "failed")
    );
    assert!(
        failed["text"].as_str().unwrap().contains("exit code 1"),
        "{failed}"
    );
    let finished = &events[1].1;
    assert_eq!(finished["title"], "Update Finished With Failures");
    assert_eq!(
        (
            field(finished, "result"),
            field(finished, "succeeded"),
            field(finished, "failed"),
            field(finished, "not succeeded"),
        ),
        ("failed", "1", "1", "bad")
    );
    let started = &events[2].1;
    assert_eq!(started["title"], "Installing Updates");
    assert!(
        started["id"].as_str().unwrap().starts_with("evt_run1."),
        "{started}"
    );
    // The same three events are in the ledger, delivered.
    let delivered: i64 = host
        .ledger()
        .query_row(
            "SELECT count(*) FROM outbox WHERE delivered_ms IS NOT NULL AND channel = 'ops'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(delivered, 3);
}

#[test]
fn after_two_500s_the_third_attempt_sends_the_same_webhook_id() {
    let mut host = Host::new();
    let hook = Hook::start(
        &[Reply::Status(500), Reply::Status(500)],
        Reply::Status(200),
    );
    // Only the run's end is told, so exactly one event goes out.
    let only_the_end =
        "[notification]\nupdate_start_notifications = false\nerror_notifications = false\n";
    webhook_settings(&host, &hook.url, only_the_end);
    host.manifest_toml("[[module]]\nname = \"good\"\ncommand = [\"true\"]\n");
    host.upkeep().arg("run").assert().success();
    // The run made the first attempt or left it to a flush; each flush retries at once.
    for _ in 0..3 {
        if pending(&host).is_empty() {
            break;
        }
        host.upkeep().args(["notify", "flush"]).output().unwrap();
    }
    assert_eq!(pending(&host), Vec::<Value>::new());
    let requests = hook.requests();
    let ids: Vec<&str> = requests.iter().map(|r| r.header("webhook-id")).collect();
    assert_eq!(ids.len(), 3, "{ids:?}");
    assert!(ids.iter().all(|id| *id == ids[0]), "{ids:?}");
    assert!(
        ids[0].starts_with("evt_run1.") && ids[0].ends_with(".finished"),
        "{ids:?}"
    );
    let (attempts, error): (i64, Option<String>) = host
        .ledger()
        .query_row("SELECT attempts, last_error FROM outbox", [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .unwrap();
    assert_eq!((attempts, error), (3, None));
}

#[test]
fn a_hanging_endpoint_does_not_hold_up_the_run_and_is_flushed_once_it_answers() {
    let mut host = Host::new();
    let hook = Hook::start(&[], Reply::Hang);
    webhook_settings(&host, &hook.url, "");
    good_and_bad(&mut host);
    // The endpoint takes every request and never answers; the run still ends, with its
    // own result, and its events wait in the ledger.
    let (code, stdout, _) = output(&host.upkeep().arg("run").assert());
    assert_eq!(code, 3, "{stdout}");
    assert!(stdout.contains("run 1 failed"), "{stdout}");
    let waiting = pending(&host);
    let kinds: BTreeSet<&str> = waiting
        .iter()
        .map(|r| r["kind"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        BTreeSet::from(["module_failed", "run_finished", "run_started"])
    );
    assert!(waiting.iter().all(|r| r["delivered_ms"].is_null()));

    hook.answer(Reply::Status(200));
    flush_all(&host);
    let kinds: BTreeSet<String> = by_kind(&hook.requests())
        .into_iter()
        .map(|(kind, _)| kind)
        .collect();
    assert!(kinds.contains("run_finished"), "{kinds:?}");
}

#[test]
fn a_command_channel_gets_each_event_in_its_environment() {
    let mut host = Host::new();
    let out = host.root.join("events.jsonl");
    settings(
        &host,
        &format!(
            "[channels.log]\nkind = \"command\"\nargv = [\"sh\", \"-c\", \"printf '%s %s\\\\n' \\\"$UPKEEP_EVENT_KIND\\\" \\\"$UPKEEP_EVENT_JSON\\\" >> {}\"]\n",
            out.display()
        ),
    );
    good_and_bad(&mut host);
    host.upkeep().arg("run").assert().code(3);
    flush_all(&host);
    let text = fs_err::read_to_string(&out).unwrap();
    let mut kinds = BTreeSet::new();
    for line in text.lines() {
        let (kind, json) = line.split_once(' ').unwrap();
        let event: Value = serde_json::from_str(json).unwrap();
        assert_eq!(event["kind"], kind);
        kinds.insert(kind.to_owned());
    }
    assert_eq!(
        kinds,
        BTreeSet::from([
            "module_failed".to_owned(),
            "run_finished".to_owned(),
            "run_started".to_owned()
        ])
    );
}

fn dead_url() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    format!("http://127.0.0.1:{port}/hooks?token=SECRET-IN-QUERY")
}

#[test]
fn notify_test_reports_each_channel_and_fails_on_a_dead_one_with_its_url_redacted() {
    let host = Host::new();
    let hook = Hook::start(&[], Reply::Status(200));
    let dead = dead_url();
    settings(
        &host,
        &format!(
            "[channels.dead]\nkind = \"slack\"\nurl = \"{dead}\"\n\n[channels.live]\nkind = \"webhook\"\nurl = \"{}\"\nsecret = \"{}\"\n",
            hook.url,
            whsec()
        ),
    );
    let (code, stdout, stderr) = output(&host.upkeep().args(["notify", "test"]).assert());
    assert_eq!(code, 3, "{stdout}{stderr}");
    let redacted = dead.replace("SECRET-IN-QUERY", "***");
    assert!(
        stdout.contains(&format!("dead: failed: {redacted}")),
        "{stdout}"
    );
    assert!(stdout.contains("live: delivered (HTTP 200)"), "{stdout}");
    assert!(!format!("{stdout}{stderr}").contains("SECRET-IN-QUERY"));
    let request = hook.next();
    assert_signed(&request);
    assert_eq!(request.json()["kind"], "test");

    host.upkeep()
        .args(["notify", "test", "live"])
        .assert()
        .success();
    let (code, _, stderr) = output(&host.upkeep().args(["notify", "test", "liv"]).assert());
    assert_eq!(code, 4);
    assert!(stderr.contains("did you mean `live`"), "{stderr}");
    assert!(!host.state.exists(), "a test records nothing in the ledger");
}

#[test]
fn secrets_in_urls_never_show_in_output_logs_or_the_ledger() {
    let mut host = Host::new();
    let hook = Hook::start(&[], Reply::Status(500));
    let discord = format!(
        "{}/api/webhooks/42/DISCORD-TOKEN",
        hook.url.trim_end_matches("/hook")
    );
    settings(
        &host,
        &format!(
            "[channels.chat]\nkind = \"discord\"\nurl = \"{discord}\"\n\n[channels.ops]\nkind = \"webhook\"\nurl = \"{}\"\nsecret = \"{}\"\n",
            dead_url(),
            whsec()
        ),
    );
    good_and_bad(&mut host);
    let mut seen = String::new();
    let runs: [&[&str]; 7] = [
        &["-v", "run"],
        &["notify", "flush"],
        &["notify", "pending"],
        &["--json", "notify", "pending"],
        &["notify", "list"],
        &["--json", "settings", "list"],
        &["notify", "test"],
    ];
    for args in runs {
        let assert = host.upkeep().env("UPKEEP_LOG", "debug").args(args).assert();
        let (_, stdout, stderr) = output(&assert);
        seen.push_str(&stdout);
        seen.push_str(&stderr);
    }
    assert!(seen.contains("/api/webhooks/42/***"), "{seen}");
    assert!(seen.contains("token=***"), "{seen}");
    for secret in ["DISCORD-TOKEN", "SECRET-IN-QUERY", &whsec()] {
        assert!(!seen.contains(secret), "{secret} shown:\n{seen}");
    }
    for secret in ["DISCORD-TOKEN", "SECRET-IN-QUERY"] {
        let leaked: i64 = host
            .ledger()
            .query_row(
                "SELECT count(*) FROM outbox WHERE instr(coalesce(last_error, ''), ?1) OR instr(event, ?1)",
                [secret],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(leaked, 0, "{secret} in the ledger");
    }
    let failures: i64 = host
        .ledger()
        .query_row(
            "SELECT count(*) FROM outbox WHERE last_error LIKE '%***%'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert!(failures > 0, "the failures were recorded, redacted");
}

#[test]
fn a_rolled_back_update_is_told_and_its_events_are_kept_when_delivery_fails() {
    let mut host = Host::new();
    let data = host.root.join("srv/app");
    fs_err::create_dir_all(&data).unwrap();
    fs_err::write(data.join("state"), "v0").unwrap();
    webhook_settings(&host, &dead_url(), "");
    let release = |host: &mut Host, version: u32, fail: bool| {
        host.manifest_toml(&format!(
            "[[module]]\nname = \"app\"\nversion = {version}\ncommand = [\"sh\", \"-c\", \"echo v{version} > {}/state{}\"]\npaths = [{:?}]\n",
            data.display(),
            if fail { "; exit 1" } else { "" },
            data.display().to_string()
        ));
    };
    release(&mut host, 1, false);
    host.upkeep().arg("run").assert().success();
    release(&mut host, 2, true);
    host.upkeep().arg("run").assert().code(3);
    assert_eq!(fs_err::read_to_string(data.join("state")).unwrap(), "v1\n");
    // Nothing could be delivered, and every event is in the ledger.
    let rows: Vec<(String, String, Option<i64>)> = host
        .ledger()
        .prepare("SELECT kind, event, delivered_ms FROM outbox ORDER BY id")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let kinds: Vec<&str> = rows.iter().map(|(k, _, _)| k.as_str()).collect();
    assert_eq!(
        kinds,
        [
            "run_started",
            "run_finished",
            "run_started",
            "module_rolled_back",
            "run_finished"
        ]
    );
    assert!(rows.iter().all(|(_, _, delivered)| delivered.is_none()));
    let rolled: Value = serde_json::from_str(&rows[3].1).unwrap();
    assert_eq!(rolled["title"], "Update of app rolled back");
    assert_eq!(
        (
            field(&rolled, "restored version"),
            field(&rolled, "failed version")
        ),
        ("1", "2")
    );
    assert!(
        rolled["text"]
            .as_str()
            .unwrap()
            .contains("successfully rolled back to the previous state"),
        "{rolled}"
    );
}

#[test]
fn a_schedule_that_does_not_run_is_told_as_skipped() {
    let mut host = Host::new();
    let marker = host.root.join("ran");
    host.manifest_toml(&format!(
        "[[module]]\nname = \"a\"\ncommand = [\"touch\", {:?}]\n",
        marker.display().to_string()
    ));
    webhook_settings(&host, &dead_url(), "[schedule]\nenabled = false\n");
    for (name, spec) in [("nightly", "0 3 * * *"), ("hourly", "0 * * * *")] {
        host.upkeep()
            .args(["schedule", "add", name, "--cron", spec, "--tz", "UTC"])
            .assert()
            .success();
    }
    // A dry run says so and records nothing.
    host.upkeep()
        .args(["run", "--dry-run", "--scheduled", "nightly"])
        .assert()
        .success();
    let (code, _, stderr) = output(
        &host
            .upkeep()
            .args(["run", "--scheduled", "nightly"])
            .assert(),
    );
    assert_eq!(code, 0);
    assert!(
        stderr.contains("skipped") && stderr.contains("schedule.enabled"),
        "{stderr}"
    );
    // The daemon finds `hourly` due (its time passed), and skips it too, once.
    rusqlite::Connection::open(host.state.join("upkeep.db"))
        .unwrap()
        .execute(
            "UPDATE schedules SET next_run_ms = next_run_ms - 3600000 WHERE name = 'hourly'",
            [],
        )
        .unwrap();
    host.upkeep().args(["daemon", "--once"]).assert().success();
    host.upkeep().args(["daemon", "--once"]).assert().success();
    assert!(!marker.exists(), "nothing ran");
    let skipped: Vec<String> = host
        .ledger()
        .prepare("SELECT event FROM outbox WHERE kind = 'schedule_skipped' ORDER BY id")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let names: Vec<String> = skipped
        .iter()
        .map(|e| {
            let event: Value = serde_json::from_str(e).unwrap();
            field(&event, "schedule").to_owned()
        })
        .collect();
    assert_eq!(names, ["nightly", "hourly"]);
}

#[test]
fn a_scheduled_run_that_finds_the_lock_held_is_told_as_skipped() {
    let mut host = Host::new();
    let gate = crate::fixture::Gate::manifest(&mut host);
    webhook_settings(&host, &dead_url(), "");
    host.upkeep()
        .args([
            "schedule", "add", "nightly", "--daily", "03:00", "--tz", "UTC",
        ])
        .assert()
        .success();
    let holder = gate.hold(&host);
    let holder_pid = holder.id();
    let (code, _, stderr) = output(
        &host
            .upkeep()
            .args(["run", "--scheduled", "nightly"])
            .assert(),
    );
    gate.open(holder);
    assert_eq!(code, 5, "{stderr}");
    let event: String = host
        .ledger()
        .query_row(
            "SELECT event FROM outbox WHERE kind = 'schedule_skipped'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    let event: Value = serde_json::from_str(&event).unwrap();
    assert_eq!(field(&event, "schedule"), "nightly");
    assert_eq!(
        field(&event, "reason"),
        format!("another run holds the lock (pid {holder_pid})")
    );
}
