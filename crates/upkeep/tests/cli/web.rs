//! The web page in a real headless Chromium, driven over `WebDriver` (`chromedriver`) with
//! fantoccini, against the real `upkeep serve` on 127.0.0.1; and its session's CSRF rule
//! from a plain HTTP client. Screenshots of each page go to `target/web-screenshots/`.
//!
//! Without Debian's `chromium` and `chromium-driver` the browser tests say so and pass,
//! unless `CI` is set: CI installs them (`.ci/run`), so there a missing browser fails.

use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::Duration;

use fantoccini::{Client, Locator};

use crate::fixture::{Host, token};
use crate::safety::{git, git_release};

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// How long a page may take to show what a step waits for. Generous: the machine is
/// shared; the wait ends as soon as the element is there.
const PATIENCE: Duration = Duration::from_secs(60);

/// A running `upkeep serve` and where it listens.
struct Server {
    child: Child,
    base: String,
}

impl Server {
    fn start(host: &Host) -> Self {
        let (child, base) = crate::fixture::serve(host, &[]);
        Self { child, base }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A chromedriver on a free loopback port, ended with the test.
struct Driver {
    child: Child,
    url: String,
    profile: tempfile::TempDir,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Whether the browser tests can run here; `None` means skip (said on stderr).
fn browser_available() -> bool {
    let present = Path::new(CHROMIUM).exists() && Path::new(CHROMEDRIVER).exists();
    assert!(
        present || std::env::var_os("CI").is_none(),
        "CI must run the browser tests: install Debian's chromium and chromium-driver (.ci/run does)"
    );
    if !present {
        eprintln!(
            "SKIPPED: the web page's browser tests need {CHROMIUM} and {CHROMEDRIVER} (apt-get install chromium chromium-driver)"
        );
    }
    present
}

fn start_driver() -> Driver {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    #[expect(
        clippy::disallowed_methods,
        reason = "the test starts the browser's driver as a user would"
    )]
    let mut child = std::process::Command::new(CHROMEDRIVER)
        .arg(format!("--port={port}"))
        .arg("--allowed-ips=127.0.0.1")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // chromedriver says when it listens; read until then, then keep draining.
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    loop {
        let line = lines
            .next()
            .expect("chromedriver exited before it listened")
            .unwrap();
        if line.contains("started successfully") {
            break;
        }
    }
    std::thread::spawn(move || for _ in lines {});
    Driver {
        child,
        url: format!("http://127.0.0.1:{port}"),
        profile: tempfile::tempdir().unwrap(),
    }
}

async fn browser(driver: &Driver) -> Client {
    let profile = driver.profile.path().display().to_string();
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".to_owned(),
        serde_json::json!({
            "binary": CHROMIUM,
            "args": [
                "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--disable-dev-shm-usage", format!("--user-data-dir={profile}"),
                "--window-size=1280,900"
            ]
        }),
    );
    fantoccini::ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(caps)
        .connect(&driver.url)
        .await
        .expect("a WebDriver session")
}

fn shots_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/web-screenshots");
    fs_err::create_dir_all(&dir).unwrap();
    dir
}

async fn screenshot(client: &Client, name: &str) {
    let png = client.screenshot().await.unwrap();
    fs_err::write(shots_dir().join(format!("{name}.png")), png).unwrap();
}

/// A host whose module `app` was run at 1.0.0 and whose manifest now offers 2.0.0.
fn host_with_an_update() -> Host {
    let mut host = Host::new();
    git(&host.updates, &["init", "-q"]);
    git_release(&mut host, "1.0.0");
    host.upkeep().arg("run").assert().success();
    git_release(&mut host, "2.0.0");
    host
}

async fn sign_in(client: &Client, server: &Server, secret: &str) {
    client.goto(&format!("{}/", server.base)).await.unwrap();
    let field = client
        .wait()
        .at_most(PATIENCE)
        .for_element(Locator::Css("#token"))
        .await
        .unwrap();
    field.send_keys(secret).await.unwrap();
    client
        .find(Locator::Css("#signin button[type=submit]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    client
        .wait()
        .at_most(PATIENCE)
        .for_element(Locator::Css("#modules"))
        .await
        .unwrap();
}

async fn visit(client: &Client, server: &Server, hash: &str, ready: &str) {
    client
        .goto(&format!("{}/{hash}", server.base))
        .await
        .unwrap();
    client
        .wait()
        .at_most(PATIENCE)
        .for_element(Locator::Css(ready))
        .await
        .unwrap();
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

#[test]
#[expect(clippy::too_many_lines, reason = "one user's session, page by page")]
fn an_owner_signs_in_runs_the_plan_live_and_rolls_back_with_the_typed_name() {
    if !browser_available() {
        return;
    }
    let host = host_with_an_update();
    let owner = token(&host, "admin", "owner");
    let server = Server::start(&host);
    let driver = start_driver();
    runtime().block_on(async {
        let client = browser(&driver).await;
        sign_in(&client, &server, &owner).await;
        let table = client.find(Locator::Css("#modules")).await.unwrap();
        let text = table.text().await.unwrap();
        assert!(text.contains("app"), "{text}");
        assert!(text.contains("1.0.0"), "{text}");
        let who = client.find(Locator::Css("#who")).await.unwrap();
        assert_eq!(who.text().await.unwrap(), "admin (owner)");
        screenshot(&client, "dashboard-1280").await;
        client.set_window_size(360, 800).await.unwrap();
        screenshot(&client, "dashboard-360").await;
        client.set_window_size(1280, 900).await.unwrap();

        // The plan page offers 2.0.0; one click on its confirm button starts one run and
        // the page follows it live to its end.
        visit(&client, &server, "#/plan", "#confirm-run").await;
        let plan = client
            .find(Locator::Css("main"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(plan.contains("2.0.0"), "{plan}");
        screenshot(&client, "plan").await;
        let confirm = client.find(Locator::Css("#confirm-run")).await.unwrap();
        confirm.click().await.unwrap();
        let finished = client
            .wait()
            .at_most(PATIENCE)
            .for_element(Locator::Css("#run-finished"))
            .await
            .unwrap();
        assert_eq!(
            finished.attr("data-result").await.unwrap().as_deref(),
            Some("succeeded")
        );
        let log = client
            .find(Locator::Css("#run-log"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(log.contains("module-finished"), "{log}");
        screenshot(&client, "run").await;
        // A reload of the run's URL shows the same run again.
        client.refresh().await.unwrap();
        client
            .wait()
            .at_most(PATIENCE)
            .for_element(Locator::Css("#run-finished"))
            .await
            .unwrap();
        assert_eq!(
            host.scalar::<String>("SELECT applied_version FROM modules WHERE name = 'app'"),
            "2.0.0"
        );

        // Roll back: the button stays disabled until the module's name is typed.
        visit(&client, &server, "#/modules/app", "form.confirm").await;
        let button = client
            .find(Locator::Css("form.confirm button"))
            .await
            .unwrap();
        assert!(!button.is_enabled().await.unwrap());
        let field = client
            .find(Locator::Css("form.confirm input"))
            .await
            .unwrap();
        field.send_keys("ap").await.unwrap();
        assert!(!button.is_enabled().await.unwrap());
        field.send_keys("p").await.unwrap();
        assert!(button.is_enabled().await.unwrap());
        screenshot(&client, "rollback").await;
        button.click().await.unwrap();
        client
            .wait()
            .at_most(PATIENCE)
            .for_element(Locator::Css("#rollback-done"))
            .await
            .unwrap();
        assert_eq!(
            host.scalar::<String>("SELECT applied_version FROM modules WHERE name = 'app'"),
            "1.0.0"
        );

        // The backups the run and the rollback took are listed, each with its typed restore.
        visit(&client, &server, "#/backups", "#backup-create").await;
        let restores = client
            .find_all(Locator::Css("main form.confirm"))
            .await
            .unwrap();
        assert!(restores.len() >= 2, "{} restore forms", restores.len());
        for (name, hash, ready) in [
            ("history", "#/history", "#history-filter"),
            ("backups", "#/backups", "#backup-create"),
            ("schedules", "#/schedules", "#schedule-add"),
            ("settings", "#/settings", "main table"),
            ("tokens", "#/tokens", "main pre"),
        ] {
            visit(&client, &server, hash, ready).await;
            screenshot(&client, name).await;
        }
        client.close().await.unwrap();
    });
}

#[test]
fn a_viewer_sees_no_action_buttons() {
    if !browser_available() {
        return;
    }
    let host = host_with_an_update();
    let viewer = token(&host, "grafana", "viewer");
    let server = Server::start(&host);
    let driver = start_driver();
    runtime().block_on(async {
        let client = browser(&driver).await;
        sign_in(&client, &server, &viewer).await;
        screenshot(&client, "dashboard-viewer").await;
        for (hash, ready) in [
            ("#/", "#modules"),
            ("#/plan", "#digest"),
            ("#/backups", "main h1"),
            ("#/modules/app", "main h1"),
            ("#/schedules", "main h1"),
        ] {
            visit(&client, &server, hash, ready).await;
            let buttons = client.find_all(Locator::Css("main button")).await.unwrap();
            let links = client
                .find_all(Locator::Css("main a.action"))
                .await
                .unwrap();
            assert!(
                buttons.is_empty() && links.is_empty(),
                "{hash} shows actions to a viewer"
            );
        }
        let owner_links = client
            .find_all(Locator::Css("#nav a[data-role=owner]"))
            .await
            .unwrap();
        for link in owner_links {
            assert!(!link.is_displayed().await.unwrap());
        }
        client.close().await.unwrap();
    });
}

/// The status of `GET path` with a bearer token.
fn bearer_get(server: &Server, token: &str, path: &str) -> (u16, serde_json::Value) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let mut answer = agent
        .get(&format!("{}{path}", server.base))
        .header("Authorization", &format!("Bearer {token}"))
        .call()
        .unwrap();
    let text = answer.body_mut().read_to_string().unwrap();
    (
        answer.status().as_u16(),
        serde_json::from_str(&text).unwrap_or_default(),
    )
}

/// Wait until no element matches `css`.
async fn wait_gone(client: &Client, css: &str) {
    let deadline = std::time::Instant::now() + PATIENCE;
    while !client.find_all(Locator::Css(css)).await.unwrap().is_empty() {
        assert!(std::time::Instant::now() < deadline, "{css} stayed");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[test]
#[expect(clippy::too_many_lines, reason = "one owner's session, step by step")]
fn an_owner_manages_tokens_and_chooses_the_plans_modules_on_the_page() {
    if !browser_available() {
        return;
    }
    // Two modules that are up to date: only a choice (one module, forced) plans a run.
    let mut host = Host::new();
    host.manifest_toml(
        "[[module]]\nname = \"app\"\ncommand = [\"true\"]\n\n[[module]]\nname = \"db\"\ncommand = [\"true\"]\n",
    );
    host.upkeep().arg("run").assert().success();
    let owner = token(&host, "admin", "owner");
    let server = Server::start(&host);
    let driver = start_driver();
    runtime().block_on(async {
        let client = browser(&driver).await;
        sign_in(&client, &server, &owner).await;

        // Create: the secret is shown once, and works with the role chosen.
        visit(&client, &server, "#/tokens", "#token-create").await;
        let form = client.find(Locator::Css("#token-create")).await.unwrap();
        form.find(Locator::Css("input[name=name]"))
            .await
            .unwrap()
            .send_keys("grafana")
            .await
            .unwrap();
        form.find(Locator::Css("select[name=role]"))
            .await
            .unwrap()
            .select_by_value("operator")
            .await
            .unwrap();
        form.find(Locator::Css("input[name=expires]"))
            .await
            .unwrap()
            .send_keys("30d")
            .await
            .unwrap();
        form.find(Locator::Css("button[type=submit]"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        let shown = client
            .wait()
            .at_most(PATIENCE)
            .for_element(Locator::Css("#token-secret"))
            .await
            .unwrap();
        let secret = shown.prop("value").await.unwrap().unwrap();
        assert!(secret.starts_with("upk_"), "{secret}");
        let note = client
            .find(Locator::Css("#token-secret-area"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(note.contains("not shown again"), "{note}");
        let list = client.find(Locator::Css("#tokens")).await.unwrap();
        let listed = list.text().await.unwrap();
        assert!(
            listed.contains("grafana") && listed.contains("operator"),
            "{listed}"
        );
        screenshot(&client, "tokens-created").await;
        let (status, whoami) = bearer_get(&server, &secret, "/api/v1/session");
        assert_eq!(status, 200);
        assert_eq!(whoami["role"], "operator");

        // Revoke asks first, then the token stops working.
        client
            .find(Locator::Css("[data-revoke=grafana]"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        let yes = client
            .wait()
            .at_most(PATIENCE)
            .for_element(Locator::Css("[data-confirm-revoke=grafana]"))
            .await
            .unwrap();
        assert_eq!(bearer_get(&server, &secret, "/api/v1/status").0, 200);
        screenshot(&client, "tokens-revoke").await;
        yes.click().await.unwrap();
        // The list is shown again without the token (its confirmation goes with it).
        wait_gone(&client, "[data-confirm-revoke=grafana]").await;
        assert!(
            client
                .find_all(Locator::Css("[data-revoke=grafana]"))
                .await
                .unwrap()
                .is_empty()
        );
        assert_eq!(bearer_get(&server, &secret, "/api/v1/status").0, 401);
        assert!(!client.source().await.unwrap().contains(&secret));

        // The plan page: tick the module and force; the digest shown is the API's for
        // the same choice.
        visit(&client, &server, "#/plan", "#plan-options input[value=app]").await;
        client
            .find(Locator::Css("#plan-options input[value=app]"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        client
            .find(Locator::Css("#plan-options input[name=force]"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        client
            .find(Locator::Css("#plan-options button[type=submit]"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        let (_, chosen) = bearer_get(&server, &owner, "/api/v1/plan?targets=app&force=true");
        let (_, plain) = bearer_get(&server, &owner, "/api/v1/plan");
        assert_ne!(chosen["plan_digest"], plain["plan_digest"]);
        let digest = chosen["plan_digest"].as_str().unwrap();
        client
            .wait()
            .at_most(PATIENCE)
            .for_element(Locator::Css(&format!(
                "#confirm-run[data-digest='{digest}']"
            )))
            .await
            .unwrap();
        let ticked = client
            .find_all(Locator::Css("#plan-options input:checked"))
            .await
            .unwrap();
        assert_eq!(ticked.len(), 2, "the choice is shown as made");
        screenshot(&client, "plan-options").await;
        client.close().await.unwrap();
    });
}

/// The session from the server's side: the cookie's attributes, the page's policy, and a
/// state-changing request that a cookie authenticates needs the session's CSRF token.
#[test]
#[expect(
    clippy::too_many_lines,
    reason = "one session's requests, step by step"
)]
fn a_cookie_request_without_the_csrf_token_is_refused() {
    let host = host_with_an_update();
    let operator = token(&host, "ops", "operator");
    let server = Server::start(&host);
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();

    let page = agent.get(&format!("{}/", server.base)).call().unwrap();
    let csp = page.headers()["content-security-policy"].to_str().unwrap();
    assert!(
        csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"),
        "{csp}"
    );
    // The assets are revalidated by their content's ETag.
    let script = agent
        .get(&format!("{}/assets/app.js", server.base))
        .call()
        .unwrap();
    assert_eq!(script.status().as_u16(), 200);
    let etag = script.headers()["etag"].to_str().unwrap().to_owned();
    let again = agent
        .get(&format!("{}/assets/app.js", server.base))
        .header("If-None-Match", &etag)
        .call()
        .unwrap();
    assert_eq!(again.status().as_u16(), 304);

    let bad = agent
        .post(&format!("{}/api/v1/session", server.base))
        .header("Content-Type", "application/json")
        .send(r#"{"token": "upk_nonsense"}"#)
        .unwrap();
    assert_eq!(bad.status().as_u16(), 401);

    let mut signed = agent
        .post(&format!("{}/api/v1/session", server.base))
        .header("Content-Type", "application/json")
        .send(serde_json::json!({ "token": operator }).to_string())
        .unwrap();
    assert_eq!(signed.status().as_u16(), 200);
    let set_cookie = signed.headers()["set-cookie"].to_str().unwrap().to_owned();
    for attribute in ["HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(set_cookie.contains(attribute), "{set_cookie}");
    }
    assert!(
        !set_cookie.contains("Secure"),
        "plain HTTP on loopback: {set_cookie}"
    );
    assert!(
        !set_cookie.contains(&operator),
        "the cookie is not the token"
    );
    let cookie = set_cookie.split(';').next().unwrap().to_owned();
    let session: serde_json::Value =
        serde_json::from_str(&signed.body_mut().read_to_string().unwrap()).unwrap();
    assert_eq!(session["role"], "operator");
    let csrf = session["csrf_token"].as_str().unwrap().to_owned();

    let url = format!("{}/api/v1/check", server.base);
    // Reads need no CSRF token.
    let read = agent.get(&url).header("Cookie", &cookie).call().unwrap();
    assert_eq!(read.status().as_u16(), 200);
    // A change without it, or with another, is refused, and nothing is done.
    for given in [None, Some("0".repeat(64))] {
        let mut request = agent.post(&url).header("Cookie", &cookie);
        if let Some(given) = &given {
            request = request.header("X-CSRF-Token", given);
        }
        let mut refused = request.send("{}").unwrap();
        assert_eq!(refused.status().as_u16(), 403);
        let body: serde_json::Value =
            serde_json::from_str(&refused.body_mut().read_to_string().unwrap()).unwrap();
        assert_eq!(body["error"], "forbidden", "{body}");
    }
    let allowed = agent
        .post(&url)
        .header("Cookie", &cookie)
        .header("X-CSRF-Token", &csrf)
        .send("{}")
        .unwrap();
    assert_eq!(allowed.status().as_u16(), 200);
    // A bearer client needs none.
    let bearer = agent
        .post(&url)
        .header("Authorization", &format!("Bearer {operator}"))
        .send("{}")
        .unwrap();
    assert_eq!(bearer.status().as_u16(), 200);
    // The role still rules a cookie: an operator may not start a run.
    let run = agent
        .post(&format!("{}/api/v1/runs", server.base))
        .header("Cookie", &cookie)
        .header("X-CSRF-Token", &csrf)
        .send(r#"{"plan_digest": "x"}"#)
        .unwrap();
    assert_eq!(run.status().as_u16(), 403);

    // Signing out ends the session: the cookie no longer authenticates.
    let out = agent
        .delete(&format!("{}/api/v1/session", server.base))
        .header("Cookie", &cookie)
        .header("X-CSRF-Token", &csrf)
        .call()
        .unwrap();
    assert_eq!(out.status().as_u16(), 204);
    let after = agent.get(&url).header("Cookie", &cookie).call().unwrap();
    assert_eq!(after.status().as_u16(), 401);
}

/// A cookie request refused for its CSRF token is in the audit trail, under the session's
/// token, with the reason.
#[test]
fn a_csrf_refusal_is_audited() {
    let host = Host::new();
    let operator = token(&host, "ops", "operator");
    let server = Server::start(&host);
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let signed = agent
        .post(&format!("{}/api/v1/session", server.base))
        .header("Content-Type", "application/json")
        .send(serde_json::json!({ "token": operator }).to_string())
        .unwrap();
    let cookie = signed.headers()["set-cookie"].to_str().unwrap();
    let cookie = cookie.split(';').next().unwrap().to_owned();
    for given in [None, Some("f".repeat(64))] {
        let mut request = agent
            .post(&format!("{}/api/v1/backups", server.base))
            .header("Cookie", &cookie);
        if let Some(given) = &given {
            request = request.header("X-CSRF-Token", given);
        }
        let refused = request.send("{}").unwrap();
        assert_eq!(refused.status().as_u16(), 403);
        let id = refused.headers()["x-request-id"].to_str().unwrap();
        let row: (String, String, String, String, String) = host
            .ledger()
            .query_row(
                &format!("SELECT principal, role, action, outcome, detail FROM access_audit WHERE request_id = '{id}' AND remote = '127.0.0.1'"),
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
            )
            .unwrap();
        assert_eq!(
            (
                row.0.as_str(),
                row.1.as_str(),
                row.2.as_str(),
                row.3.as_str()
            ),
            ("ops", "operator", "backup-create", "denied")
        );
        assert!(row.4.contains("csrf"), "{}", row.4);
    }
    let backups: i64 = host.scalar("SELECT count(*) FROM backups");
    assert_eq!(backups, 0, "nothing was done");
}
