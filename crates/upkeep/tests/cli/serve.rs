//! `upkeep serve` from a client's side: the real binary on 127.0.0.1 with a free port,
//! spoken to over HTTP with a real client; tokens made with `upkeep token create`.

use std::io::{BufRead as _, BufReader};
use std::process::{Child, Stdio};

use crate::fixture::{Host, output, token};
use crate::process_hygiene::{kill, wait_for};

/// A running `upkeep serve` and where it listens.
struct Server {
    child: Child,
    base: String,
}

impl Server {
    fn start(host: &Host, extra: &[&str]) -> Self {
        let (child, base) = crate::fixture::serve(host, extra);
        Self { child, base }
    }

    fn stop(mut self) -> i32 {
        assert!(kill(i32::try_from(self.child.id()).unwrap(), "TERM"));
        self.child.wait().unwrap().code().unwrap_or(-1)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into()
}

/// An answer: status, body as JSON (or `Null`), and its request id.
struct Answer {
    status: u16,
    json: serde_json::Value,
    text: String,
    request_id: Option<String>,
}

fn call(
    server: &Server,
    token: Option<&str>,
    method: &str,
    path: &str,
    body: Option<&serde_json::Value>,
) -> Answer {
    let url = format!("{}{path}", server.base);
    let agent = agent();
    let auth = token.map(|t| format!("Bearer {t}"));
    let response = match method {
        "GET" | "DELETE" => {
            let mut request = if method == "GET" {
                agent.get(&url)
            } else {
                agent.delete(&url)
            };
            if let Some(auth) = &auth {
                request = request.header("Authorization", auth);
            }
            request.call()
        }
        _ => {
            let mut request = if method == "POST" {
                agent.post(&url)
            } else {
                agent.put(&url)
            };
            if let Some(auth) = &auth {
                request = request.header("Authorization", auth);
            }
            request
                .header("Content-Type", "application/json")
                .send(body.map(ToString::to_string).unwrap_or_default())
        }
    }
    .unwrap();
    let status = response.status().as_u16();
    let request_id = response
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let text = response.into_body().read_to_string().unwrap();
    let json = serde_json::from_str(&text).unwrap_or(serde_json::Value::Null);
    Answer {
        status,
        json,
        text,
        request_id,
    }
}

/// A module that waits for `go` in its work directory before it ends, so a test can
/// act while it runs.
fn gated_host() -> Host {
    let mut host = Host::new();
    let script = host.script(
        "gated.sh",
        "mkdir -p \"$UPKEEP_WORK_DIR\"\ntouch \"$UPKEEP_WORK_DIR/started\"\nwhile [ ! -e \"$UPKEEP_WORK_DIR/go\" ]; do sleep 0.02; done",
    );
    host.manifest_toml(&format!(
        "[[module]]\nname = \"m\"\ncommand = [\"{}\"]\n",
        script.display()
    ));
    host
}

#[test]
fn a_network_address_without_tls_or_proxy_is_refused() {
    let host = gated_host();
    let (code, stdout, _) = output(
        &host
            .upkeep()
            .args(["--json", "serve", "--listen", "0.0.0.0:0"])
            .assert(),
    );
    assert_eq!(code, 4, "INVALID_INPUT");
    let error: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(error["error"], "invalid-input");
}

#[test]
fn healthz_is_anonymous_and_nothing_else_is() {
    let host = gated_host();
    let server = Server::start(&host, &[]);
    let health = call(&server, None, "GET", "/healthz", None);
    assert_eq!(health.status, 200);
    let status = call(&server, None, "GET", "/api/v1/status", None);
    assert_eq!(status.status, 401, "{}", status.text);
    assert_eq!(status.json["error"], "unauthenticated");
    assert_eq!(status.json["exit_code"], 4);
    let bad = call(&server, Some("upk_nonsense"), "GET", "/api/v1/status", None);
    assert_eq!(bad.status, 401);
    assert_eq!(server.stop(), 0);
}

/// Every route, with concrete parameters, and the least role that may use it.
const ROUTES: &[(&str, &str, &str, Option<&str>)] = &[
    ("GET", "/metrics", "viewer", None),
    ("GET", "/api/v1/openapi.json", "viewer", None),
    ("GET", "/api/v1/status", "viewer", None),
    ("GET", "/api/v1/modules/m", "viewer", None),
    ("GET", "/api/v1/history?since=7d&module=m", "viewer", None),
    ("GET", "/api/v1/plan", "viewer", None),
    (
        "POST",
        "/api/v1/runs",
        "owner",
        Some(r#"{"plan_digest": "stale"}"#),
    ),
    ("GET", "/api/v1/runs/1", "viewer", None),
    ("GET", "/api/v1/runs/1/events", "viewer", None),
    ("GET", "/api/v1/check", "viewer", None),
    ("POST", "/api/v1/check", "operator", None),
    ("GET", "/api/v1/backups", "viewer", None),
    (
        "POST",
        "/api/v1/backups",
        "operator",
        Some(r#"{"modules": ["m"]}"#),
    ),
    ("POST", "/api/v1/backups/1/verify", "operator", None),
    (
        "POST",
        "/api/v1/backups/1/restore",
        "owner",
        Some(r#"{"confirm": "wrong"}"#),
    ),
    (
        "POST",
        "/api/v1/modules/m/rollback",
        "owner",
        Some(r#"{"confirm": "wrong"}"#),
    ),
    ("GET", "/api/v1/schedules", "viewer", None),
    (
        "POST",
        "/api/v1/schedules",
        "owner",
        Some(r#"{"name": "nightly", "daily": "03:00", "enabled": false}"#),
    ),
    ("POST", "/api/v1/schedules/nightly/enable", "owner", None),
    ("POST", "/api/v1/schedules/nightly/disable", "owner", None),
    ("DELETE", "/api/v1/schedules/nightly", "owner", None),
    ("GET", "/api/v1/settings", "owner", None),
    (
        "PUT",
        "/api/v1/settings/logging.level",
        "owner",
        Some(r#"{"value": "off"}"#),
    ),
    ("POST", "/api/v1/notify/test", "operator", None),
    ("GET", "/api/v1/tokens", "owner", None),
    (
        "POST",
        "/api/v1/tokens",
        "owner",
        Some(r#"{"name": "made", "role": "viewer", "expires": "90d"}"#),
    ),
    ("DELETE", "/api/v1/tokens/made", "owner", None),
];

const ROLES: [&str; 3] = ["viewer", "operator", "owner"];

fn rank(role: &str) -> usize {
    ROLES.iter().position(|r| *r == role).unwrap()
}

#[test]
#[expect(
    clippy::too_many_lines,
    reason = "the document's routes, then every route for every role"
)]
fn every_route_answers_every_role_as_the_permission_table_says() {
    let host = gated_host();
    let tokens: Vec<String> = ROLES.iter().map(|r| token(&host, r, r)).collect();
    let server = Server::start(&host, &[]);

    // The test's table covers the OpenAPI document, and agrees with its least roles.
    let document = call(
        &server,
        Some(&tokens[0]),
        "GET",
        "/api/v1/openapi.json",
        None,
    )
    .json;
    let paths = document["paths"].as_object().unwrap();
    let (mut described, mut anonymous) = (0, 0);
    for (path, item) in paths {
        for (method, operation) in item.as_object().unwrap() {
            described += 1;
            // `/healthz`, the session and Discord's signed interactions take no token:
            // `every_documented_route_is_served` covers them.
            if operation["security"] == serde_json::json!([]) {
                anonymous += 1;
                continue;
            }
            let pattern = regex_lite::Regex::new(&format!(
                "^{}$",
                regex_lite::escape(path)
                    .replace(r"\{name\}", "[^/]+")
                    .replace(r"\{id\}", "[^/]+")
                    .replace(r"\{key\}", "[^/]+")
            ))
            .unwrap();
            let ours = ROUTES
                .iter()
                .find(|(m, p, _, _)| {
                    m.eq_ignore_ascii_case(method) && pattern.is_match(p.split('?').next().unwrap())
                })
                .unwrap_or_else(|| panic!("{method} {path} is not tested"));
            assert_eq!(operation["x-upkeep-least-role"], ours.2, "{method} {path}");
        }
    }
    assert_eq!(
        described,
        ROUTES.len() + anonymous,
        "one test row per route"
    );

    for (role, token) in ROLES.iter().zip(&tokens) {
        for (method, path, least, body) in ROUTES {
            let body = body.map(|b| serde_json::from_str(b).unwrap());
            let answer = call(&server, Some(token), method, path, body.as_ref());
            if rank(role) < rank(least) {
                assert_eq!(
                    answer.status, 403,
                    "{role} {method} {path}: {}",
                    answer.text
                );
                assert_eq!(answer.json["error"], "forbidden");
            } else {
                assert!(
                    answer.status != 401 && answer.status != 403 && answer.status != 500,
                    "{role} {method} {path}: {} {}",
                    answer.status,
                    answer.text
                );
            }
            let id = answer.request_id.expect("every answer has a request id");
            if *method != "GET" {
                let rows: i64 = host.scalar(&format!(
                    "SELECT count(*) FROM access_audit WHERE request_id = '{id}' AND role = '{role}' AND remote = '127.0.0.1'"
                ));
                assert_eq!(rows, 1, "{role} {method} {path} is audited once");
            }
        }
    }
    // The typed confirmation is required: a wrong name is the command line's
    // not-confirmed.
    let owner = &tokens[2];
    let rollback = call(
        &server,
        Some(owner),
        "POST",
        "/api/v1/modules/m/rollback",
        Some(&serde_json::json!({"confirm": "n"})),
    );
    assert_eq!(rollback.json["error"], "not-confirmed", "{}", rollback.text);
    assert_eq!(server.stop(), 0);
}

/// Every route the `OpenAPI` document lists is one the server answers (neither the
/// fallback's "no such route" nor 405), and the routes that take no token are exactly those
/// that say so.
#[test]
fn every_documented_route_is_served() {
    let host = gated_host();
    let owner = token(&host, "owner", "owner");
    let server = Server::start(&host, &[]);
    let document = call(&server, Some(&owner), "GET", "/api/v1/openapi.json", None).json;
    let mut anonymous = Vec::new();
    for (path, item) in document["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            let method = method.to_ascii_uppercase();
            let concrete = path
                .replace("{name}", "nothing")
                .replace("{id}", "999")
                .replace("{key}", "nothing.here");
            let answer = call(&server, Some(&owner), &method, &concrete, None);
            let fallback = answer.json["message"]
                .as_str()
                .is_some_and(|m| m.contains("find the route"));
            assert!(
                answer.status != 405 && !fallback,
                "{method} {path} is documented but not served: {} {}",
                answer.status,
                answer.json
            );
            if operation["security"] == serde_json::json!([]) {
                anonymous.push(format!("{method} {path}"));
            }
        }
    }
    anonymous.sort();
    assert_eq!(
        anonymous,
        [
            "DELETE /api/v1/session",
            "GET /api/v1/session",
            "GET /healthz",
            "POST /api/v1/session",
            "POST /discord/interactions",
        ]
    );
    // And what is not documented is not served, but the page's files.
    for (method, path) in [("GET", "/api/v1/nothing"), ("POST", "/api/v1/status")] {
        let answer = call(&server, Some(&owner), method, path, None);
        assert!(
            matches!(answer.status, 404 | 405),
            "{method} {path}: {}",
            answer.status
        );
    }
    let unknown = call(&server, Some(&owner), "GET", "/api/v1/nothing", None);
    assert!(
        unknown.json["message"]
            .as_str()
            .is_some_and(|m| m.contains("find the route")),
        "the fallback is what the walk above looks for: {}",
        unknown.text
    );
    assert_eq!(call(&server, None, "GET", "/", None).status, 200);
    assert_eq!(server.stop(), 0);
}

fn plan_digest(server: &Server, token: &str) -> String {
    let plan = call(server, Some(token), "GET", "/api/v1/plan", None);
    assert_eq!(plan.status, 200, "{}", plan.text);
    plan.json["plan_digest"].as_str().unwrap().to_owned()
}

#[test]
fn one_digest_starts_one_run_and_a_stale_one_is_refused_with_the_new_plan() {
    let host = gated_host();
    let owner = token(&host, "owner", "owner");
    let server = Server::start(&host, &[]);
    let digest = plan_digest(&server, &owner);
    assert_eq!(digest, plan_digest(&server, &owner), "the digest is stable");
    let body = serde_json::json!({ "plan_digest": digest });
    let first = call(&server, Some(&owner), "POST", "/api/v1/runs", Some(&body));
    assert_eq!(first.status, 202, "{}", first.text);
    let second = call(&server, Some(&owner), "POST", "/api/v1/runs", Some(&body));
    assert_eq!(second.status, 202, "{}", second.text);
    assert_eq!(first.json["run_id"], second.json["run_id"]);
    let work = host.state.join("work").join("m");
    wait_for("the module to start", || work.join("started").exists());
    fs_err::write(work.join("go"), "").unwrap();
    let run_id = first.json["run_id"].as_i64().unwrap();
    wait_for("the run to finish", || {
        call(
            &server,
            Some(&owner),
            "GET",
            &format!("/api/v1/runs/{run_id}"),
            None,
        )
        .json["finished_ms"]
            .is_i64()
    });
    let runs: i64 = host.scalar("SELECT count(*) FROM runs");
    assert_eq!(runs, 1, "one run for one digest");

    // The module is up to date now: the old digest is no longer the plan's.
    let stale = call(&server, Some(&owner), "POST", "/api/v1/runs", Some(&body));
    assert_eq!(stale.status, 409, "{}", stale.text);
    assert_eq!(stale.json["error"], "stale-plan");
    assert_ne!(stale.json["plan_digest"], digest);
    assert!(stale.json["plan"].is_object());
    let audited: i64 = host.scalar(&format!(
        "SELECT count(*) FROM access_audit WHERE plan_digest = '{digest}' AND action = 'run'"
    ));
    assert_eq!(audited, 3);
    assert_eq!(server.stop(), 0);
}

/// Read SSE events (id, event) from `reader` until `stop` says so or the stream ends.
fn read_events(
    reader: &mut impl std::io::BufRead,
    mut stop: impl FnMut(&[(Option<i64>, String)]) -> bool,
) -> Vec<(Option<i64>, String)> {
    let mut events = Vec::new();
    let (mut id, mut kind) = (None, String::new());
    let mut line = String::new();
    loop {
        line.clear();
        if reader.read_line(&mut line).unwrap() == 0 {
            return events;
        }
        let line = line.trim_end();
        if line.is_empty() {
            if !kind.is_empty() {
                events.push((id.take(), std::mem::take(&mut kind)));
                if stop(&events) {
                    return events;
                }
            }
            continue;
        }
        if let Some(v) = line.strip_prefix("id:") {
            id = Some(v.trim().parse().unwrap());
        } else if let Some(v) = line.strip_prefix("event:") {
            v.trim().clone_into(&mut kind);
        }
    }
}

fn stream(
    server: &Server,
    token: &str,
    run_id: i64,
    last: Option<i64>,
) -> impl std::io::BufRead + use<> {
    let mut request = agent()
        .get(format!("{}/api/v1/runs/{run_id}/events", server.base))
        .header("Authorization", format!("Bearer {token}"));
    if let Some(last) = last {
        request = request.header("Last-Event-ID", last.to_string());
    }
    let response = request.call().unwrap();
    assert_eq!(response.status().as_u16(), 200);
    BufReader::new(response.into_body().into_reader())
}

#[test]
fn live_events_resume_after_the_last_event_id_losing_and_repeating_nothing() {
    let host = gated_host();
    let owner = token(&host, "owner", "owner");
    let viewer = token(&host, "viewer", "viewer");
    let server = Server::start(&host, &[]);
    let digest = plan_digest(&server, &owner);
    let started = call(
        &server,
        Some(&owner),
        "POST",
        "/api/v1/runs",
        Some(&serde_json::json!({ "plan_digest": digest })),
    );
    let run_id = started.json["run_id"].as_i64().unwrap();

    // Watch until the module has started, then drop the connection.
    let mut first = stream(&server, &viewer, run_id, None);
    let before = read_events(&mut first, |events| {
        events.iter().any(|(_, k)| k == "module-started")
    });
    drop(first);
    let last = before.last().unwrap().0.unwrap();

    // The run goes on without a watcher; a reconnect resumes after the last id seen.
    let work = host.state.join("work").join("m");
    wait_for("the module to start", || work.join("started").exists());
    fs_err::write(work.join("go"), "").unwrap();
    let mut second = stream(&server, &viewer, run_id, Some(last));
    let after = read_events(&mut second, |_| false);
    assert_eq!(after.last().unwrap().1, "summary", "{after:?}");

    let mut whole = stream(&server, &viewer, run_id, None);
    let all = read_events(&mut whole, |_| false);
    let resumed: Vec<_> = before
        .iter()
        .chain(&after)
        .filter(|(id, _)| id.is_some())
        .cloned()
        .collect();
    let complete: Vec<_> = all.iter().filter(|(id, _)| id.is_some()).cloned().collect();
    assert_eq!(resumed, complete, "nothing lost, nothing repeated");
    let kinds: Vec<&str> = complete.iter().map(|(_, k)| k.as_str()).collect();
    assert_eq!(
        kinds,
        [
            "run-started",
            "module-started",
            "module-finished",
            "run-finished"
        ]
    );
    assert!(complete.windows(2).all(|w| w[0].0 < w[1].0), "ids increase");
    assert_eq!(server.stop(), 0);
}

#[test]
fn metrics_parse_as_prometheus_text() {
    let host = gated_host();
    // One run that succeeds, so every family has a sample.
    let work = host.state.join("work").join("m");
    fs_err::create_dir_all(&work).unwrap();
    fs_err::write(work.join("go"), "").unwrap();
    host.upkeep().arg("run").assert().success();
    let viewer = token(&host, "viewer", "viewer");
    let server = Server::start(&host, &[]);
    let answer = call(&server, Some(&viewer), "GET", "/metrics", None);
    assert_eq!(answer.status, 200);
    let lines = answer.text.lines().map(|l| Ok(l.to_owned()));
    let scrape = prometheus_parse::Scrape::parse(lines).unwrap();
    let names: Vec<&str> = scrape.samples.iter().map(|s| s.metric.as_str()).collect();
    for name in [
        "upkeep_module_update_available",
        "upkeep_module_version_info",
        "upkeep_runs_total",
        "upkeep_module_last_success_timestamp_seconds",
    ] {
        assert!(names.contains(&name), "{name} in {}", answer.text);
    }
    let info = scrape
        .samples
        .iter()
        .find(|s| s.metric == "upkeep_module_version_info")
        .unwrap();
    assert_eq!(info.labels.get("module"), Some("m"));
    let succeeded = scrape
        .samples
        .iter()
        .find(|s| s.metric == "upkeep_runs_total" && s.labels.get("result") == Some("succeeded"))
        .unwrap();
    assert!(
        matches!(succeeded.value, prometheus_parse::Value::Counter(n) if (n - 1.0).abs() < f64::EPSILON)
    );
    assert_eq!(server.stop(), 0);
}

#[test]
fn sigterm_lets_a_running_run_finish_its_grace_and_exits_zero() {
    let host = gated_host();
    let owner = token(&host, "owner", "owner");
    let server = Server::start(&host, &[]);
    let digest = plan_digest(&server, &owner);
    let started = call(
        &server,
        Some(&owner),
        "POST",
        "/api/v1/runs",
        Some(&serde_json::json!({ "plan_digest": digest })),
    );
    assert_eq!(started.status, 202, "{}", started.text);
    let work = host.state.join("work").join("m");
    wait_for("the module to start", || work.join("started").exists());
    assert_eq!(server.stop(), 0);
    let result: String = host.scalar("SELECT result FROM runs");
    assert_eq!(result, "cancelled", "the run was stopped, not cut off");
}

#[test]
fn a_run_while_another_holds_the_lock_is_refused_naming_the_holder() {
    let host = gated_host();
    let owner = token(&host, "owner", "owner");
    let server = Server::start(&host, &[]);
    let mut holder = host
        .upkeep_process()
        .arg("run")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let work = host.state.join("work").join("m");
    wait_for("the other run's module to start", || {
        work.join("started").exists()
    });
    let digest = plan_digest(&server, &owner);
    let refused = call(
        &server,
        Some(&owner),
        "POST",
        "/api/v1/runs",
        Some(&serde_json::json!({ "plan_digest": digest })),
    );
    assert_eq!(refused.status, 409, "{}", refused.text);
    assert_eq!(refused.json["error"], "lock");
    let pid = holder.id().to_string();
    assert!(
        refused.json["message"].as_str().unwrap().contains(&pid),
        "names the holder's pid {pid}: {}",
        refused.text
    );
    fs_err::write(work.join("go"), "").unwrap();
    assert!(holder.wait().unwrap().success());
    assert_eq!(server.stop(), 0);
}

#[test]
fn refusals_are_audited_and_a_revoked_token_is_turned_away() {
    let host = gated_host();
    let viewer = token(&host, "viewer", "viewer");
    let server = Server::start(&host, &[]);
    let denied = call(&server, Some(&viewer), "GET", "/api/v1/settings", None);
    assert_eq!(denied.status, 403);
    let id = denied.request_id.unwrap();
    let outcome: String = host.scalar(&format!(
        "SELECT outcome FROM access_audit WHERE request_id = '{id}' AND principal = 'viewer'"
    ));
    assert_eq!(outcome, "denied");

    host.upkeep()
        .args(["token", "revoke", "viewer"])
        .assert()
        .success();
    let revoked = call(&server, Some(&viewer), "GET", "/api/v1/status", None);
    assert_eq!(revoked.status, 401, "{}", revoked.text);
    let id = revoked.request_id.unwrap();
    let (outcome, role): (String, Option<String>) = host
        .ledger()
        .query_row(
            &format!("SELECT outcome, role FROM access_audit WHERE request_id = '{id}' AND principal = 'viewer'"),
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!((outcome.as_str(), role), ("denied", None));
    assert_eq!(server.stop(), 0);
}

/// A module at 1.0.0 whose source offers 2.0.0, a major update its policy holds back
/// until a run allows breaking updates; and a second module beside it.
fn host_with_a_major_update() -> Host {
    let mut host = Host::new();
    host.script(
        "app/update.sh",
        r#"echo "${UPKEEP_ACTION}:${UPKEEP_TARGET_VERSION:-none}" >> "$UPKEEP_STATE_DIR/targets.txt""#,
    );
    host.write(
        "offer.json",
        r#"[{"version": "1.0.0"}, {"version": "2.0.0"}]"#,
    );
    host.script("app/offer.sh", r#"cat "$(dirname "$0")/../offer.json""#);
    host.manifest_toml(
        r#"
[[module]]
name = "app"
version = "1.0.0"
script = "app/update.sh"
source = { type = "command", command = ["sh", "offer.sh"] }

[[module]]
name = "other"
command = ["true"]
"#,
    );
    host.approve();
    host.upkeep().arg("run").assert().success();
    host.upkeep().arg("check").assert().success();
    host
}

#[test]
fn a_run_takes_the_plans_options_and_the_digest_follows_them() {
    let host = host_with_a_major_update();
    let owner = token(&host, "owner", "owner");
    let server = Server::start(&host, &[]);
    let step = |plan: &Answer| plan.json["plan"]["steps"][0]["action"].clone();
    let held = call(
        &server,
        Some(&owner),
        "GET",
        "/api/v1/plan?targets=app",
        None,
    );
    assert_eq!(step(&held), "held-back", "{}", held.text);
    let allowed = call(
        &server,
        Some(&owner),
        "GET",
        "/api/v1/plan?targets=app&allow_breaking=true&types=app",
        None,
    );
    assert_eq!(step(&allowed), "update", "{}", allowed.text);
    let digest = allowed.json["plan_digest"].clone();
    assert_ne!(digest, held.json["plan_digest"]);
    let steps = allowed.json["plan"]["steps"].as_array().unwrap();
    assert!(
        steps.iter().all(|s| s["name"] != "other"),
        "{}",
        allowed.text
    );
    let typo = call(&server, Some(&owner), "GET", "/api/v1/plan?types=ap", None);
    assert_eq!(typo.status, 400, "{}", typo.text);

    // The digest of the plan that allows breaking updates is not the plain run's.
    let plain = serde_json::json!({ "plan_digest": digest, "targets": ["app"] });
    let refused = call(&server, Some(&owner), "POST", "/api/v1/runs", Some(&plain));
    assert_eq!(refused.status, 409, "{}", refused.text);
    let body = serde_json::json!({
        "plan_digest": digest, "targets": ["app"], "allow_breaking": true, "types": ["app"]
    });
    let started = call(&server, Some(&owner), "POST", "/api/v1/runs", Some(&body));
    assert_eq!(started.status, 202, "{}", started.text);
    let run_id = started.json["run_id"].as_i64().unwrap();
    let path = format!("/api/v1/runs/{run_id}");
    wait_for("the run to finish", || {
        call(&server, Some(&owner), "GET", &path, None).json["finished_ms"].is_i64()
    });
    let run = call(&server, Some(&owner), "GET", &path, None);
    assert_eq!(run.json["result"], "succeeded", "{}", run.text);
    let targets = fs_err::read_to_string(host.state.join("targets.txt")).unwrap();
    assert_eq!(targets.lines().last(), Some("update:2.0.0"), "{targets}");
    assert_eq!(server.stop(), 0);
}

#[test]
#[expect(
    clippy::too_many_lines,
    reason = "one owner's token session, request by request"
)]
fn tokens_are_listed_created_with_their_secret_once_and_revoked_over_the_api() {
    let host = gated_host();
    let owner = token(&host, "owner", "owner");
    let server = Server::start(&host, &[]);
    let body = serde_json::json!({"name": "ci", "role": "operator", "expires": "90d"});
    let created = call(&server, Some(&owner), "POST", "/api/v1/tokens", Some(&body));
    assert_eq!(created.status, 201, "{}", created.text);
    assert_eq!(created.json["name"], "ci");
    assert_eq!(created.json["role"], "operator");
    assert_eq!(created.json["created_by"], "token:owner");
    assert!(created.json["expires_ms"].is_i64(), "{}", created.text);
    let secret = created.json["secret"].as_str().unwrap().to_owned();

    // The secret works, with its role, and is never shown again.
    let used = call(&server, Some(&secret), "POST", "/api/v1/check", None);
    assert_eq!(used.status, 200, "{}", used.text);
    let listed = call(&server, Some(&owner), "GET", "/api/v1/tokens", None);
    assert_eq!(listed.status, 200, "{}", listed.text);
    assert!(!listed.text.contains(&secret[4..]), "{}", listed.text);
    assert!(!listed.text.contains("hash"), "{}", listed.text);
    let ci = listed
        .json
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "ci")
        .unwrap();
    assert_eq!(ci["state"], "active");
    assert!(ci["last_used_ms"].is_i64(), "{ci}");

    // The command line's rules hold: a taken name, a misspelt role, a bare number.
    let taken = call(&server, Some(&owner), "POST", "/api/v1/tokens", Some(&body));
    assert_eq!(
        (taken.status, taken.json["error"].as_str()),
        (400, Some("invalid-input"))
    );
    let role = serde_json::json!({"name": "x", "role": "opertor"});
    let role = call(&server, Some(&owner), "POST", "/api/v1/tokens", Some(&role));
    assert_eq!(role.status, 400);
    assert!(
        role.text.contains("did you mean `operator`"),
        "{}",
        role.text
    );
    let bare = serde_json::json!({"name": "x", "role": "viewer", "expires": "90"});
    let bare = call(&server, Some(&owner), "POST", "/api/v1/tokens", Some(&bare));
    assert!(bare.text.contains("`90d`"), "{}", bare.text);

    let revoked = call(&server, Some(&owner), "DELETE", "/api/v1/tokens/ci", None);
    assert_eq!(revoked.status, 200, "{}", revoked.text);
    assert_eq!(revoked.json["state"], "revoked");
    let refused = call(&server, Some(&secret), "GET", "/api/v1/status", None);
    assert_eq!(refused.status, 401);
    let again = call(&server, Some(&owner), "DELETE", "/api/v1/tokens/ci", None);
    assert_eq!(again.json["error"], "not-found", "{}", again.text);
    let all = call(
        &server,
        Some(&owner),
        "GET",
        "/api/v1/tokens?all=true",
        None,
    );
    assert!(
        all.json
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["name"] == "ci")
    );

    // One audit row per request, the use case's own, with the request's address and id.
    for answer in [&created, &taken, &revoked, &again] {
        let id = answer.request_id.as_deref().unwrap();
        let (rows, detail): (i64, String) = host
            .ledger()
            .query_row(
                &format!("SELECT count(*), max(detail) FROM access_audit WHERE request_id = '{id}' AND remote = '127.0.0.1' AND action = 'tokens-manage'"),
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .unwrap();
        assert_eq!(rows, 1, "{}", answer.text);
        assert!(
            detail.starts_with("create") || detail.starts_with("revoke"),
            "{detail}"
        );
    }
    assert_eq!(server.stop(), 0);
}

#[test]
fn revoking_a_token_that_does_not_exist_is_not_found_in_both_front_ends() {
    let host = gated_host();
    let owner = token(&host, "owner", "owner");
    token(&host, "grafana", "viewer");
    let server = Server::start(&host, &[]);
    let missing = call(
        &server,
        Some(&owner),
        "DELETE",
        "/api/v1/tokens/grafna",
        None,
    );
    assert_eq!(
        (missing.status, missing.json["error"].as_str()),
        (404, Some("not-found")),
        "{}",
        missing.text
    );
    assert_eq!(
        missing.json["exit_code"],
        upkeep_core::exit_codes::INVALID_INPUT
    );
    assert!(
        missing.json["hint"]
            .as_str()
            .is_some_and(|h| h.contains("did you mean `grafana`?")),
        "{}",
        missing.text
    );
    // The command line names the same kind, with the same exit code as before.
    let (code, stdout, _) = output(
        &host
            .upkeep()
            .args(["--json", "token", "revoke", "grafna"])
            .assert(),
    );
    assert_eq!(code, upkeep_core::exit_codes::INVALID_INPUT);
    let error: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(error["error"], "not-found", "{stdout}");
    assert_eq!(server.stop(), 0);
}

#[test]
fn a_run_is_read_by_its_id_whatever_the_runs_after_it_hold() {
    let mut host = Host::new();
    host.manifest_toml("[[module]]\nname = \"a\"\ncommand = [\"true\"]\n");
    for _ in 0..2 {
        host.upkeep().args(["run", "--force"]).assert().success();
    }
    let (_, history, _) = output(&host.upkeep().args(["--json", "history"]).assert());
    let history: serde_json::Value = serde_json::from_str(&history).unwrap();
    let first = history["runs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == 1)
        .unwrap()
        .clone();
    // A later run's row this upkeep cannot read (a result a newer version wrote) is no
    // part of run 1's record, and must not spoil it.
    rusqlite::Connection::open(host.state.join("upkeep.db"))
        .unwrap()
        .execute(
            "UPDATE runs SET result = 'from-a-newer-upkeep' WHERE id = 2",
            [],
        )
        .unwrap();
    let viewer = token(&host, "viewer", "viewer");
    let server = Server::start(&host, &[]);
    let run = call(&server, Some(&viewer), "GET", "/api/v1/runs/1", None);
    assert_eq!(run.status, 200, "{}", run.text);
    assert_eq!(run.json, first, "the record `history` shows");
    assert_eq!(run.json["modules"][0]["module"], "a", "{}", run.text);
    let none = call(&server, Some(&viewer), "GET", "/api/v1/runs/3", None);
    assert_eq!(none.status, 404, "{}", none.text);
    assert_eq!(server.stop(), 0);
}

/// POST a backup with `X-Forwarded-For` and read back the remote address its audit row
/// names.
fn audited_remote(host: &Host, server: &Server, token: &str) -> String {
    let answer = agent()
        .post(format!("{}/api/v1/backups/1/verify", server.base))
        .header("Authorization", format!("Bearer {token}"))
        .header("X-Forwarded-For", "198.51.100.7, 203.0.113.9")
        .send("")
        .unwrap();
    let id = answer.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    host.scalar(&format!(
        "SELECT remote FROM access_audit WHERE request_id = '{id}'"
    ))
}

#[test]
fn forwarded_for_is_believed_only_from_a_trusted_proxy() {
    let host = gated_host();
    let operator = token(&host, "operator", "operator");
    let direct = Server::start(&host, &[]);
    assert_eq!(audited_remote(&host, &direct, &operator), "127.0.0.1");
    assert_eq!(direct.stop(), 0);
    let proxied = Server::start(&host, &["--trust-proxy", "127.0.0.1"]);
    assert_eq!(audited_remote(&host, &proxied, &operator), "203.0.113.9");
    assert_eq!(proxied.stop(), 0);
}

#[test]
fn a_network_address_is_served_with_tls() {
    let host = gated_host();
    let cert = host.root.join("cert.pem");
    let key = host.root.join("key.pem");
    #[expect(
        clippy::disallowed_methods,
        reason = "the test plays the administrator making a certificate"
    )]
    let made = std::process::Command::new("openssl")
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
        ])
        .args(["-subj", "/CN=localhost", "-keyout"])
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(made.success());
    let mut child = host
        .upkeep_process()
        .args(["serve", "--listen", "0.0.0.0:0", "--tls-cert"])
        .arg(&cert)
        .arg("--tls-key")
        .arg(&key)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let listening = lines
        .find_map(|l| l.ok().filter(|l| l.contains("listening on")))
        .expect("serve listens");
    assert!(listening.contains("https://0.0.0.0:"), "{listening}");
    std::thread::spawn(move || for _ in lines {});
    let port = listening.rsplit(':').next().unwrap().trim().to_owned();
    // Plain HTTP to a TLS port gets no HTTP answer.
    let plain = agent()
        .get(format!("http://127.0.0.1:{port}/healthz"))
        .call();
    assert!(plain.is_err(), "{plain:?}");
    assert!(kill(i32::try_from(child.id()).unwrap(), "TERM"));
    assert_eq!(child.wait().unwrap().code(), Some(0));
}
