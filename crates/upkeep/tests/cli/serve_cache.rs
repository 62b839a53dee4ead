//! The answers `upkeep serve` keeps between requests (the status report, identified
//! tokens, a run's live feed) never outlive what they derive from: a change made by
//! another process (a shell's `upkeep token revoke`, `schedule add`, an edited manifest)
//! is seen by the very next request, and many watchers of one run all see the same feed.

use std::io::{BufRead as _, BufReader, Read as _};

use crate::fixture::{Host, token};
use crate::process_hygiene::kill;

struct Server {
    child: std::process::Child,
    base: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        kill(i32::try_from(self.child.id()).unwrap(), "KILL");
        let _ = self.child.wait();
    }
}

fn start(host: &Host) -> Server {
    let (child, base) = crate::fixture::serve(host, &[]);
    Server { child, base }
}

fn get(server: &Server, token: &str, path: &str, gzip: bool) -> (u16, Option<String>, Vec<u8>) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let mut request = agent
        .get(format!("{}{path}", server.base))
        .header("Authorization", format!("Bearer {token}"));
    if gzip {
        request = request.header("Accept-Encoding", "gzip");
    }
    let response = request.call().unwrap();
    let status = response.status().as_u16();
    let encoding = response
        .headers()
        .get("content-encoding")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let mut body = Vec::new();
    response
        .into_body()
        .into_reader()
        .read_to_end(&mut body)
        .unwrap();
    (status, encoding, body)
}

fn status(server: &Server, token: &str) -> serde_json::Value {
    let (code, _, body) = get(server, token, "/api/v1/status", false);
    assert_eq!(code, 200, "{}", String::from_utf8_lossy(&body));
    serde_json::from_slice(&body).unwrap()
}

fn one_module(host: &mut Host, names: &[&str]) {
    let text = names
        .iter()
        .map(|n| format!("[[module]]\nname = \"{n}\"\ncommand = [\"true\"]\n"))
        .collect::<Vec<_>>()
        .join("\n");
    host.manifest_toml(&text);
}

#[test]
fn a_token_revoked_from_a_shell_is_refused_on_the_next_request() {
    let mut host = Host::new();
    one_module(&mut host, &["a"]);
    let viewer = token(&host, "viewer", "viewer");
    let server = start(&host);
    // Twice, so that the second answer comes from what the server remembered.
    assert_eq!(get(&server, &viewer, "/api/v1/status", false).0, 200);
    assert_eq!(get(&server, &viewer, "/api/v1/status", false).0, 200);
    host.upkeep()
        .args(["token", "revoke", "viewer"])
        .assert()
        .success();
    assert_eq!(get(&server, &viewer, "/api/v1/status", false).0, 401);
}

#[test]
fn status_follows_the_ledger_and_the_manifest_changed_by_others() {
    let mut host = Host::new();
    one_module(&mut host, &["a"]);
    let viewer = token(&host, "viewer", "viewer");
    let server = start(&host);
    let before = status(&server, &viewer);
    assert_eq!(before["schedules_enabled"], 0, "{before}");
    assert_eq!(
        status(&server, &viewer),
        before,
        "unchanged inputs, same answer"
    );

    host.upkeep()
        .args(["schedule", "add", "nightly", "--daily", "03:00"])
        .assert()
        .success();
    assert_eq!(status(&server, &viewer)["schedules_enabled"], 1);

    one_module(&mut host, &["a", "b"]);
    let names: Vec<String> = status(&server, &viewer)["modules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["module"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(names, ["a", "b"]);
}

#[test]
fn status_is_gzip_compressed_for_clients_that_accept_it_and_says_the_same() {
    let mut host = Host::new();
    one_module(&mut host, &["a", "b", "c"]);
    let viewer = token(&host, "viewer", "viewer");
    let server = start(&host);
    let (code, encoding, plain) = get(&server, &viewer, "/api/v1/status", false);
    assert_eq!((code, encoding), (200, None));
    let (code, encoding, packed) = get(&server, &viewer, "/api/v1/status", true);
    assert_eq!((code, encoding.as_deref()), (200, Some("gzip")));
    let mut unpacked = Vec::new();
    flate2::read::GzDecoder::new(packed.as_slice())
        .read_to_end(&mut unpacked)
        .unwrap();
    assert_eq!(unpacked, plain);
    // Module rows leave out what is null; what is set is as `status --json` says it.
    let answer: serde_json::Value = serde_json::from_slice(&plain).unwrap();
    let cli = host
        .upkeep()
        .args(["status", "--json"])
        .output()
        .unwrap()
        .stdout;
    let cli: serde_json::Value = serde_json::from_slice(&cli).unwrap();
    for (row, full) in answer["modules"]
        .as_array()
        .unwrap()
        .iter()
        .zip(cli["modules"].as_array().unwrap())
    {
        let row = row.as_object().unwrap();
        assert!(row.values().all(|v| !v.is_null()), "{row:?}");
        for (key, value) in full.as_object().unwrap() {
            assert_eq!(
                row.get(key).unwrap_or(&serde_json::Value::Null),
                value,
                "{key}"
            );
        }
    }
}

/// Event ids and kinds of a run's stream, read to its end.
fn events(base: &str, token: &str, run_id: i64, last: Option<i64>) -> Vec<(Option<i64>, String)> {
    let mut request = ureq::get(format!("{base}/api/v1/runs/{run_id}/events"))
        .header("Authorization", format!("Bearer {token}"));
    if let Some(last) = last {
        request = request.header("Last-Event-ID", last.to_string());
    }
    let reader = BufReader::new(request.call().unwrap().into_body().into_reader());
    let mut seen = Vec::new();
    let (mut id, mut kind) = (None, String::new());
    for line in reader.lines() {
        let line = line.unwrap();
        if line.is_empty() {
            if !kind.is_empty() {
                seen.push((id.take(), std::mem::take(&mut kind)));
            }
        } else if let Some(v) = line.strip_prefix("id:") {
            id = Some(v.trim().parse().unwrap());
        } else if let Some(v) = line.strip_prefix("event:") {
            v.trim().clone_into(&mut kind);
        }
    }
    seen
}

#[test]
fn many_watchers_of_one_run_see_the_same_feed_and_a_late_one_resumes_exactly() {
    let mut host = Host::new();
    let script = host.script("slow.sh", "sleep 0.3");
    host.manifest_toml(&format!(
        "[[module]]\nname = \"a\"\ncommand = [\"{0}\"]\n\n[[module]]\nname = \"b\"\ncommand = [\"{0}\"]\ndepends_on = [\"a\"]\n",
        script.display()
    ));
    let owner = token(&host, "owner", "owner");
    let server = start(&host);
    let (_, _, plan) = get(&server, &owner, "/api/v1/plan", false);
    let digest = serde_json::from_slice::<serde_json::Value>(&plan).unwrap()["plan_digest"]
        .as_str()
        .unwrap()
        .to_owned();
    let started = ureq::post(format!("{}/api/v1/runs", server.base))
        .header("Authorization", format!("Bearer {owner}"))
        .header("Content-Type", "application/json")
        .send(serde_json::json!({ "plan_digest": digest }).to_string())
        .unwrap()
        .into_body()
        .read_to_string()
        .unwrap();
    let started: serde_json::Value = serde_json::from_str(&started).unwrap();
    let run_id = started["run_id"].as_i64().unwrap();
    let watchers: Vec<_> = (0..8)
        .map(|_| {
            let (owner, base) = (owner.clone(), server.base.clone());
            std::thread::spawn(move || events(&base, &owner, run_id, None))
        })
        .collect();
    let feeds: Vec<_> = watchers.into_iter().map(|w| w.join().unwrap()).collect();
    let kinds: Vec<&str> = feeds[0].iter().map(|(_, k)| k.as_str()).collect();
    assert_eq!(kinds.first(), Some(&"run-started"), "{kinds:?}");
    assert_eq!(kinds.last(), Some(&"summary"), "{kinds:?}");
    assert!(feeds.iter().all(|f| f == &feeds[0]), "{feeds:?}");
    // After the run: resuming from the middle gives exactly the rest.
    let middle = feeds[0][2].0.unwrap();
    let rest = events(&server.base, &owner, run_id, Some(middle));
    assert_eq!(rest, feeds[0][3..], "nothing lost, nothing repeated");
}

#[test]
fn the_stream_of_a_run_the_ledger_does_not_hold_is_not_found() {
    let mut host = Host::new();
    one_module(&mut host, &["a"]);
    host.upkeep().arg("run").assert().success();
    let viewer = token(&host, "viewer", "viewer");
    let server = start(&host);
    let (code, _, body) = get(&server, &viewer, "/api/v1/runs/999/events", false);
    assert_eq!(code, 404, "{}", String::from_utf8_lossy(&body));
    // Asked again while nobody watches it, and for a run that exists.
    assert_eq!(
        get(&server, &viewer, "/api/v1/runs/999/events", false).0,
        404
    );
    let (code, _, body) = get(&server, &viewer, "/api/v1/runs/1/events", false);
    assert_eq!(code, 200);
    assert!(String::from_utf8_lossy(&body).contains("event: summary"));
}
