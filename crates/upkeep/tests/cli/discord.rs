//! Discord's slash commands from Discord's side: the real `upkeep serve` on 127.0.0.1,
//! interactions signed with a test key as Discord signs them, a fake Discord API on
//! 127.0.0.1 that records the edits of deferred answers and the registered commands, and
//! the audit trail read back with `upkeep audit --json`.

use std::io::{Read as _, Write as _};
use std::net::{TcpListener, TcpStream};
use std::process::Child;
use std::sync::mpsc::{Receiver, channel};
use std::time::Duration;

use ed25519_dalek::{Signer as _, SigningKey};
use serde_json::{Value, json};

use crate::fixture::{Host, output};

/// The application's key pair (Discord holds the private half).
fn key() -> SigningKey {
    SigningKey::from_bytes(&[42; 32])
}

/// A request the fake Discord API received.
#[derive(Debug)]
struct Seen {
    method: String,
    path: String,
    headers: Vec<(String, String)>,
    body: Value,
}

impl Seen {
    fn header(&self, name: &str) -> &str {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map_or("", |(_, v)| v.as_str())
    }
}

/// Discord's HTTP API on 127.0.0.1: answers every request 200 with the body it was sent.
struct FakeDiscord {
    base: String,
    seen: Receiver<Seen>,
}

impl FakeDiscord {
    fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("http://{}/api/v10", listener.local_addr().unwrap());
        let (sender, seen) = channel();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { return };
                let Some((seen, raw)) = read(&mut stream) else {
                    continue;
                };
                let head = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                    raw.len()
                );
                let _ = stream.write_all(head.as_bytes());
                let _ = stream.write_all(&raw);
                if sender.send(seen).is_err() {
                    return;
                }
            }
        });
        Self { base, seen }
    }

    /// The next request, waited for (bounded, so a bug fails instead of hanging).
    fn next(&self) -> Seen {
        self.seen
            .recv_timeout(Duration::from_secs(120))
            .expect("a request reached the fake Discord API")
    }
}

fn read(stream: &mut TcpStream) -> Option<(Seen, Vec<u8>)> {
    let mut data = Vec::new();
    let mut buf = [0u8; 8192];
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
    let mut first = head.lines().next()?.split(' ');
    let (method, path) = (first.next()?.to_owned(), first.next()?.to_owned());
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
    let json = serde_json::from_slice(&body).unwrap_or(Value::Null);
    Some((
        Seen {
            method,
            path,
            headers,
            body: json,
        },
        body,
    ))
}

/// A running `upkeep serve`.
struct Server {
    child: Child,
    base: String,
}

impl Server {
    fn start(host: &Host) -> Self {
        let (child, base) = crate::fixture::serve(host, &[]);
        Self { child, base }
    }

    /// POST `body` to the interactions endpoint with these signature headers.
    fn post(&self, body: &str, signature: Option<(&str, &str)>) -> (u16, Value) {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .into();
        let mut request = agent
            .post(&format!("{}/discord/interactions", self.base))
            .header("Content-Type", "application/json");
        if let Some((signature, timestamp)) = signature {
            request = request
                .header("X-Signature-Ed25519", signature)
                .header("X-Signature-Timestamp", timestamp);
        }
        let response = request.send(body).unwrap();
        let status = response.status().as_u16();
        let text = response.into_body().read_to_string().unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    /// POST `interaction` signed as Discord signs it.
    fn interact(&self, interaction: &Value) -> (u16, Value) {
        let body = interaction.to_string();
        let timestamp = now().to_string();
        let signature = sign(&key(), &timestamp, &body);
        self.post(&body, Some((&signature, &timestamp)))
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn sign(key: &SigningKey, timestamp: &str, body: &str) -> String {
    let signature = key.sign(format!("{timestamp}{body}").as_bytes());
    hex(&signature.to_bytes())
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes.iter().fold(String::new(), |mut text, b| {
        let _ = write!(text, "{b:02x}");
        text
    })
}

/// A host with one module and the `[discord]` settings pointing at `api`.
fn host(api: &str) -> Host {
    let mut host = Host::new();
    let script = host.script("m.sh", "exit 0");
    host.manifest_toml(&format!(
        "[[module]]\nname = \"m\"\ncommand = [\"{}\"]\n",
        script.display()
    ));
    let public = hex(&key().verifying_key().to_bytes());
    fs_err::write(
        host.root.join("settings.toml"),
        format!(
            "[discord]\npublic_key = \"{public}\"\napplication_id = \"4242\"\nbot_token = \"bot-SECRET-token\"\napi_base_url = \"{api}\"\nowner_ids = [\"100\"]\nadmin_role_ids = [\"200\"]\nviewer_role_ids = [\"300\"]\n"
        ),
    )
    .unwrap();
    host
}

/// A slash command's interaction from `user` holding `roles`.
fn interaction(id: &str, user: &str, roles: &[&str], name: &str, options: &Value) -> Value {
    let options: Vec<Value> = options
        .as_object()
        .unwrap()
        .iter()
        .map(|(name, value)| json!({ "name": name, "value": value }))
        .collect();
    json!({
        "id": id,
        "type": 2,
        "application_id": "4242",
        "token": format!("token-{id}"),
        "data": { "name": name, "options": options },
        "member": { "user": { "id": user }, "roles": roles },
    })
}

#[test]
fn a_missing_bad_or_stale_signature_is_refused_and_a_ping_is_answered() {
    let api = FakeDiscord::start();
    let host = host(&api.base);
    let server = Server::start(&host);
    let ping = json!({ "id": "1", "type": 1, "application_id": "4242" }).to_string();
    assert_eq!(server.post(&ping, None).0, 401, "unsigned");
    let timestamp = now().to_string();
    let other = SigningKey::from_bytes(&[7; 32]);
    let forged = sign(&other, &timestamp, &ping);
    assert_eq!(
        server.post(&ping, Some((&forged, &timestamp))).0,
        401,
        "another key"
    );
    let good = sign(&key(), &timestamp, &ping);
    let tampered = ping.replace("\"1\"", "\"2\"");
    assert_eq!(
        server.post(&tampered, Some((&good, &timestamp))).0,
        401,
        "another body"
    );
    let old = (now() - 3600).to_string();
    let stale = sign(&key(), &old, &ping);
    assert_eq!(
        server.post(&ping, Some((&stale, &old))).0,
        401,
        "an hour old"
    );
    let (status, answer) = server.post(&ping, Some((&good, &timestamp)));
    assert_eq!((status, answer), (200, json!({ "type": 1 })));
}

/// Every command with options that reach its use case, and the least role that may use it.
fn commands() -> Vec<(&'static str, Value, &'static str)> {
    vec![
        ("update_status", json!({ "show_history": true }), "viewer"),
        ("backup_list", json!({ "time_range": "all" }), "viewer"),
        ("update_check", json!({ "check_type": "all" }), "operator"),
        (
            "backup_create",
            json!({ "backup_type": "full" }),
            "operator",
        ),
        ("update_install", json!({ "update_type": "all" }), "owner"),
        (
            "update_rollback",
            json!({ "module": "m", "target_version": "last_backup", "confirm": "not-m" }),
            "owner",
        ),
        (
            "update_schedule",
            json!({ "schedule_type": "weekly", "update_types": "packages,bot", "update_time": "03:00", "update_days": "sunday", "enabled": false }),
            "owner",
        ),
        (
            "backup_restore",
            json!({ "backup_id": "1", "confirm": "not-m" }),
            "owner",
        ),
        (
            "update_settings",
            json!({ "setting_category": "backup", "setting_name": "max_backups", "setting_value": "15" }),
            "owner",
        ),
    ]
}

const DEFERRED: &[&str] = &[
    "update_check",
    "update_install",
    "update_rollback",
    "backup_create",
    "backup_restore",
];

/// Who asks: a user id, the roles it holds, and the role the settings give it.
const PEOPLE: &[(&str, &[&str], Option<&str>)] = &[
    ("100", &[], Some("owner")),
    ("2", &["200", "5"], Some("operator")),
    ("3", &["300"], Some("viewer")),
    ("4", &["999"], None),
];

fn rank(role: &str) -> usize {
    ["viewer", "operator", "owner"]
        .iter()
        .position(|r| *r == role)
        .unwrap()
}

#[test]
#[expect(
    clippy::too_many_lines,
    reason = "every command for every person, then the audit trail they left"
)]
fn each_command_answers_each_role_as_the_permission_table_says() {
    let api = FakeDiscord::start();
    let host = host(&api.base);
    let server = Server::start(&host);
    let mut expected = Vec::new();
    for (n, (name, options, least)) in commands().into_iter().enumerate() {
        for (p, (user, roles, role)) in PEOPLE.iter().enumerate() {
            let id = format!("9{n}{p}");
            let (status, answer) = server.interact(&interaction(&id, user, roles, name, &options));
            assert_eq!(status, 200, "/{name} as {user}: {answer}");
            let allowed = role.is_some_and(|r| rank(r) >= rank(least));
            expected.push((id.clone(), *user, *role, allowed));
            if !allowed {
                assert_eq!(answer["type"], 4, "/{name} as {user}: {answer}");
                assert_eq!(
                    answer["data"]["content"],
                    "You don't have permission to perform updates."
                );
                assert_eq!(answer["data"]["flags"], 64, "only the caller sees it");
                continue;
            }
            let embed = if DEFERRED.contains(&name) {
                assert_eq!(answer, json!({ "type": 5 }), "/{name} as {user}");
                let patch = api.next();
                assert_eq!(patch.method, "PATCH");
                assert_eq!(
                    patch.path,
                    format!("/api/v10/webhooks/4242/token-{id}/messages/@original")
                );
                patch.body["embeds"][0].clone()
            } else {
                assert_eq!(answer["type"], 4, "/{name} as {user}: {answer}");
                answer["data"]["embeds"][0].clone()
            };
            let title = embed["title"].as_str().unwrap_or_default().to_owned();
            let wanted = match name {
                "update_status" => "📊 Update Status",
                "backup_list" => "📂 Available Backups (All time)",
                "update_check" => "🔍 Update Check Results",
                "update_settings" => "⚙️ Settings Updated",
                // The wrong confirmation is refused with the seed's error wording.
                "update_rollback" | "backup_restore" => "❌ Update Error",
                _ => "",
            };
            if !wanted.is_empty() {
                assert_eq!(title, wanted, "/{name} as {user}: {embed}");
            }
            if name == "update_schedule" && *user == "100" {
                assert_eq!(title, "📅 Update Schedule Set", "{embed}");
            }
            if name == "update_install" {
                assert_eq!(title, "🎉 Update Finished Successfully", "{embed}");
            }
        }
    }
    // Every interaction is one audit row: the Discord user, its role, the interaction's
    // id, denied or not.
    let (code, stdout, stderr) = output(&host.upkeep().args(["--json", "audit"]).assert());
    assert_eq!(code, 0, "{stderr}");
    let rows: Vec<Value> = serde_json::from_str(&stdout).unwrap();
    assert_eq!(rows.len(), expected.len(), "{stdout}");
    for (id, user, role, allowed) in expected {
        let row = rows
            .iter()
            .find(|r| r["request_id"] == id.as_str())
            .unwrap_or_else(|| panic!("no audit row for {id}: {stdout}"));
        assert_eq!(row["principal_kind"], "discord");
        assert_eq!(row["principal"], user);
        assert_eq!(row["role"].as_str(), role, "{row}");
        assert_eq!(row["outcome"] == "denied", !allowed, "{row}");
    }
    let settings = fs_err::read_to_string(host.root.join("settings.toml")).unwrap();
    assert!(settings.contains("max_backups = 15"), "{settings}");
}

#[test]
fn the_commands_json_is_the_seeds_commands() {
    let host = Host::new();
    let (code, stdout, stderr) = output(&host.upkeep().args(["discord", "commands"]).assert());
    assert_eq!(code, 0, "{stderr}");
    let commands: Value = serde_json::from_str(&stdout).unwrap();
    insta::assert_json_snapshot!(commands);
}

#[test]
fn register_puts_the_commands_with_the_bot_token_and_never_shows_it() {
    let api = FakeDiscord::start();
    let host = host(&api.base);
    let (code, stdout, stderr) = output(
        &host
            .upkeep()
            .args(["discord", "commands", "--register"])
            .assert(),
    );
    assert_eq!(code, 0, "{stderr}");
    let put = api.next();
    assert_eq!(put.method, "PUT");
    assert_eq!(put.path, "/api/v10/applications/4242/commands");
    assert_eq!(put.header("authorization"), "Bot bot-SECRET-token");
    assert_eq!(put.body.as_array().map(Vec::len), Some(9));
    assert!(stderr.contains("registered 9 slash commands"), "{stderr}");
    let (_, listed, _) = output(&host.upkeep().args(["settings", "list"]).assert());
    for text in [&stdout, &stderr, &listed] {
        assert!(!text.contains("SECRET"), "{text}");
    }
    assert!(listed.contains("discord.bot_token"), "{listed}");
}

#[test]
fn register_without_its_settings_names_the_one_missing() {
    let host = Host::new();
    let (code, _, stderr) = output(
        &host
            .upkeep()
            .args(["discord", "commands", "--register"])
            .assert(),
    );
    assert_eq!(code, 4, "INVALID_INPUT: {stderr}");
    assert!(
        stderr.contains(
            "failed to register the slash commands: the setting `discord.application_id` is not set"
        ),
        "{stderr}"
    );
    assert!(
        stderr.contains("upkeep settings set discord.application_id"),
        "{stderr}"
    );
    assert!(!stderr.contains("request"), "{stderr}");
    host.upkeep()
        .args(["settings", "set", "discord.application_id", "4242"])
        .assert()
        .success();
    let (code, stdout, _) = output(
        &host
            .upkeep()
            .args(["--json", "discord", "commands", "--register"])
            .assert(),
    );
    assert_eq!(code, 4);
    let error: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(error["error"], "invalid-input");
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("`discord.bot_token`"),
        "{error}"
    );
}

#[test]
fn discord_settings_are_checked_like_every_setting() {
    let host = Host::new();
    for (key, value, says) in [
        ("discord.public_key", "abc", "64 hex digits"),
        ("discord.owner_ids", "12,x1", "not a Discord id"),
        (
            "discord.api_base_url",
            "ftp://discord",
            "http:// or https://",
        ),
        ("discord.application_id", "app", "a Discord id"),
    ] {
        let (code, _, stderr) =
            output(&host.upkeep().args(["settings", "set", key, value]).assert());
        assert_eq!(code, 4, "{key}: {stderr}");
        assert!(stderr.contains(says), "{key}: {stderr}");
    }
    fs_err::write(
        host.root.join("settings.toml"),
        "[discord]\nowner_ids = [\"me\"]\n",
    )
    .unwrap();
    let (code, _, stderr) = output(&host.upkeep().args(["settings", "list"]).assert());
    assert_ne!(code, 0);
    assert!(
        stderr.contains("line 2") && stderr.contains("discord.owner_ids"),
        "{stderr}"
    );
}

#[test]
fn a_backup_made_from_discord_is_restored_with_its_name_typed_as_confirmation() {
    let api = FakeDiscord::start();
    let mut host = host(&api.base);
    let data = host.root.join("data");
    fs_err::create_dir_all(&data).unwrap();
    fs_err::write(data.join("x"), "one").unwrap();
    host.manifest_toml(&format!(
        "[[module]]\nname = \"app\"\ncommand = [\"true\"]\npaths = [{data:?}]\n"
    ));
    let server = Server::start(&host);
    let deferred = |id: &str, name: &str, options: &Value| {
        let (status, answer) = server.interact(&interaction(id, "100", &[], name, options));
        assert_eq!((status, answer), (200, json!({ "type": 5 })));
        let patch = api.next();
        assert!(
            patch.path.contains(&format!("/token-{id}/")),
            "{}",
            patch.path
        );
        patch.body["embeds"][0].clone()
    };
    let created = deferred(
        "1",
        "backup_create",
        &json!({ "backup_type": "full", "backup_name": "pre", "description": "Pre-update backup" }),
    );
    assert_eq!(created["title"], "📦 Backup Complete", "{created}");
    let field = |embed: &Value, name: &str| {
        let found = embed["fields"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["name"] == name);
        found.map_or_else(
            || panic!("no field {name}: {embed}"),
            |f| f["value"].as_str().unwrap().to_owned(),
        )
    };
    assert_eq!(field(&created, "Name"), "pre");
    assert_eq!(field(&created, "Description"), "Pre-update backup");
    let id = field(&created, "Backup ID");
    fs_err::write(data.join("x"), "two").unwrap();
    let refused = deferred(
        "2",
        "backup_restore",
        &json!({ "backup_id": id, "confirm": "yes" }),
    );
    assert_eq!(refused["title"], "❌ Update Error", "{refused}");
    assert_eq!(fs_err::read_to_string(data.join("x")).unwrap(), "two");
    let restored = deferred(
        "3",
        "backup_restore",
        &json!({ "backup_id": id, "confirm": "pre" }),
    );
    assert_eq!(
        restored["title"], "🎉 Restore Completed Successfully",
        "{restored}"
    );
    assert_eq!(field(&restored, "Restored from"), "pre");
    assert_eq!(fs_err::read_to_string(data.join("x")).unwrap(), "one");
}

/// A deferred `/update_install` still running when `serve` gets SIGTERM: the run stops
/// with its grace, and the Discord user still gets the answer before the server exits.
#[test]
fn a_deferred_answer_pending_at_sigterm_is_still_sent() {
    let api = FakeDiscord::start();
    let mut host = host(&api.base);
    let script = host.script(
        "gated.sh",
        "mkdir -p \"$UPKEEP_WORK_DIR\"\ntouch \"$UPKEEP_WORK_DIR/started\"\nwhile [ ! -e \"$UPKEEP_WORK_DIR/go\" ]; do sleep 0.02; done",
    );
    host.manifest_toml(&format!(
        "[[module]]\nname = \"m\"\ncommand = [\"{}\"]\n",
        script.display()
    ));
    let mut server = Server::start(&host);
    let asked = interaction(
        "9",
        "100",
        &[],
        "update_install",
        &json!({ "update_type": "all" }),
    );
    assert_eq!(server.interact(&asked), (200, json!({ "type": 5 })));
    let started = host.state.join("work").join("m").join("started");
    crate::process_hygiene::wait_for("the run to start", || started.exists());
    assert!(crate::process_hygiene::kill(
        i32::try_from(server.child.id()).unwrap(),
        "TERM"
    ));
    let patch = api.next();
    assert_eq!(patch.method, "PATCH");
    assert!(
        patch
            .path
            .ends_with("/webhooks/4242/token-9/messages/@original"),
        "{}",
        patch.path
    );
    assert!(
        patch.body["embeds"][0]["title"].is_string(),
        "{:?}",
        patch.body
    );
    assert_eq!(server.child.wait().unwrap().code(), Some(0));
}
