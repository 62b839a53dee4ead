//! API tokens and the access audit trail from the user's side: `upkeep token` and
//! `upkeep audit` on a real ledger, read back with plain SQL; and the engine's
//! `ops::access::authenticate` against what the command line created, with a pinned clock
//! for expiry and the last-use interval.

use upkeep_core::ops::access::{
    self, Action, Authentication, Principal, PrincipalKind, Role, TokenRequest, TokenState,
};
use upkeep_core::ops::audit::{self, AuditEntry, Caller, Outcome};
use upkeep_core::ops::{Clock, Context, Error, Given};

use crate::fixture::{Host, output};

const MINUTE_MS: i64 = 60_000;
const DAY_MS: i64 = 86_400_000;

fn json(host: &Host, args: &[&str]) -> serde_json::Value {
    let (code, stdout, stderr) = output(&host.upkeep().arg("--json").args(args).assert());
    assert_eq!(code, 0, "{stderr}");
    serde_json::from_str(&stdout).unwrap()
}

/// The engine's context for the host, as a server would resolve it, at a pinned time.
fn context(host: &Host, now_ms: i64) -> Context {
    Context::resolve(Given {
        manifest: None,
        state_dir: Some(host.state.clone()),
        config: Some(host.root.join("settings.toml")),
    })
    .unwrap()
    .with_clock(Clock::Fixed(now_ms))
}

fn sha256_hex(text: &str) -> String {
    use sha2::Digest as _;
    use std::fmt::Write as _;
    sha2::Sha256::digest(text.as_bytes())
        .iter()
        .fold(String::new(), |mut hex, b| {
            let _ = write!(hex, "{b:02x}");
            hex
        })
}

#[test]
#[expect(clippy::too_many_lines, reason = "one token's life, step by step")]
fn a_token_is_shown_once_stored_hashed_listed_and_revoked() {
    let host = Host::new();
    let (code, stdout, stderr) = output(
        &host
            .upkeep()
            .args([
                "token",
                "create",
                "grafana",
                "--role",
                "viewer",
                "--expires",
                "90d",
            ])
            .assert(),
    );
    assert_eq!(code, 0, "{stderr}");
    let secret = stdout.trim().to_owned();
    assert!(secret.starts_with("upk_") && secret.len() == 68, "{secret}");
    assert_eq!(stdout, format!("{secret}\n"), "stdout is the secret alone");
    assert!(stderr.contains("not shown again"), "{stderr}");

    // The ledger holds the secret's SHA-256 and nothing from which the secret can be read.
    let hash: String = host.scalar("SELECT hash FROM tokens WHERE name = 'grafana'");
    assert_eq!(hash, sha256_hex(&secret));
    let db = fs_err::read(host.state.join("upkeep.db")).unwrap();
    let wal = fs_err::read(host.state.join("upkeep.db-wal")).unwrap_or_default();
    for bytes in [&db, &wal] {
        let needle = &secret.as_bytes()[4..];
        assert!(
            !bytes.windows(needle.len()).any(|w| w == needle),
            "secret stored"
        );
    }
    let (created, expires): (i64, i64) = host
        .ledger()
        .query_row(
            "SELECT created_ms, expires_ms FROM tokens WHERE name = 'grafana'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!(expires - created, 90 * DAY_MS);

    let listed = json(&host, &["token", "list"]);
    assert_eq!(listed[0]["name"], "grafana");
    assert_eq!(listed[0]["role"], "viewer");
    assert_eq!(listed[0]["state"], "active");
    assert!(listed[0].get("hash").is_none() && listed[0].get("secret").is_none());
    assert!(!listed.to_string().contains(&secret[4..]));

    // A second token of the same name is refused while the first is live.
    let (code, _, stderr) = output(
        &host
            .upkeep()
            .args(["token", "create", "grafana", "--role", "owner"])
            .assert(),
    );
    assert_eq!(code, upkeep_core::exit_codes::INVALID_INPUT);
    assert!(stderr.contains("a token of that name exists"), "{stderr}");
    assert!(stderr.contains("upkeep token revoke grafana"), "{stderr}");

    // A misspelt name to revoke is refused with the closest one.
    let (code, _, stderr) = output(&host.upkeep().args(["token", "revoke", "grafna"]).assert());
    assert_eq!(code, upkeep_core::exit_codes::INVALID_INPUT);
    assert!(stderr.contains("did you mean `grafana`?"), "{stderr}");

    let revoked = json(&host, &["token", "revoke", "grafana"]);
    assert_eq!(revoked["state"], "revoked");
    assert_eq!(json(&host, &["token", "list"]), serde_json::json!([]));
    assert_eq!(
        json(&host, &["token", "list", "--all"])[0]["state"],
        "revoked"
    );
    // The name is free again once revoked; the old row stays for the audit trail.
    json(&host, &["token", "create", "grafana", "--role", "operator"]);
    let rows: i64 = host.scalar("SELECT count(*) FROM tokens WHERE name = 'grafana'");
    assert_eq!(rows, 2);

    // Every create and revoke, refused ones too, is in the audit trail as the local user.
    let trail = json(&host, &["audit", "--since", "1d"]);
    let seen: Vec<(String, String, String)> = trail
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            assert_eq!(r["principal_kind"], "local");
            assert_eq!(r["role"], "owner");
            assert_eq!(r["action"], "tokens-manage");
            let s = |k: &str| r[k].as_str().unwrap_or_default().to_owned();
            (s("target"), s("outcome"), s("detail"))
        })
        .collect();
    let outcomes: Vec<(&str, &str)> = seen
        .iter()
        .map(|(t, o, _)| (t.as_str(), o.as_str()))
        .collect();
    assert_eq!(
        outcomes,
        [
            ("grafana", "succeeded"),
            ("grafana", "succeeded"),
            ("grafna", "failed"),
            ("grafana", "failed"),
            ("grafana", "succeeded"),
        ]
    );
    assert_eq!(seen[0].2, "create (role operator)");
    assert_eq!(seen[1].2, "revoke");
    let user = Principal::local().name;
    assert_eq!(trail[0]["principal"], user.as_str());
    let (code, stdout, _) = output(&host.upkeep().arg("audit").assert());
    assert_eq!(code, 0);
    assert!(stdout.contains(&format!("local:{user}")), "{stdout}");
}

#[test]
fn command_line_mistakes_are_usage_errors_that_say_what_to_write() {
    let host = Host::new();
    let (code, _, stderr) = output(
        &host
            .upkeep()
            .args(["token", "create", "ci", "--role", "opertor"])
            .assert(),
    );
    assert_eq!(code, upkeep_core::exit_codes::USAGE);
    assert!(stderr.contains("did you mean `operator`?"), "{stderr}");
    let (code, _, stderr) = output(
        &host
            .upkeep()
            .args([
                "token",
                "create",
                "ci",
                "--role",
                "viewer",
                "--expires",
                "90",
            ])
            .assert(),
    );
    assert_eq!(code, upkeep_core::exit_codes::USAGE);
    assert!(stderr.contains("did you mean `90d`?"), "{stderr}");
    let (code, _, stderr) = output(&host.upkeep().args(["audit", "--since", "7"]).assert());
    assert_eq!(code, upkeep_core::exit_codes::USAGE);
    assert!(stderr.contains("did you mean `7d`?"), "{stderr}");
    let (code, stdout, _) = output(
        &host
            .upkeep()
            .args(["--json", "token", "create", "a b", "--role", "viewer"])
            .assert(),
    );
    assert_eq!(code, upkeep_core::exit_codes::INVALID_INPUT);
    let error: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(error["error"], "invalid-input");
    // Nothing was ever stored for the refused inputs.
    assert_eq!(host.scalar::<i64>("SELECT count(*) FROM tokens"), 0);
}

#[test]
#[expect(
    clippy::too_many_lines,
    reason = "one token's life on a pinned clock, step by step"
)]
fn authenticate_refuses_expired_revoked_and_unknown_secrets_and_touches_last_use_sparingly() {
    let host = Host::new();
    let created = json(
        &host,
        &[
            "token",
            "create",
            "ci",
            "--role",
            "operator",
            "--expires",
            "1h",
        ],
    );
    let secret = created["secret"].as_str().unwrap().to_owned();
    let t0 = created["created_ms"].as_i64().unwrap();
    let last_used = || host.scalar::<Option<i64>>("SELECT last_used_ms FROM tokens");

    assert_eq!(last_used(), None);
    let who = access::authenticate(&context(&host, t0 + 1_000), &secret)
        .unwrap()
        .expect("a fresh token authenticates");
    assert_eq!(
        who,
        Principal {
            kind: PrincipalKind::Token,
            name: "ci".to_owned(),
            role: Role::Operator,
        }
    );
    assert_eq!(last_used(), Some(t0 + 1_000));
    // Within a minute of the last recorded use, nothing is written.
    access::authenticate(&context(&host, t0 + 1_000 + MINUTE_MS - 1), &secret)
        .unwrap()
        .unwrap();
    assert_eq!(last_used(), Some(t0 + 1_000));
    access::authenticate(&context(&host, t0 + 1_000 + MINUTE_MS), &secret)
        .unwrap()
        .unwrap();
    assert_eq!(last_used(), Some(t0 + 1_000 + MINUTE_MS));

    // At its expiry instant it stops working, and `token list` says why.
    let expires = created["expires_ms"].as_i64().unwrap();
    assert_eq!(expires, t0 + 60 * MINUTE_MS);
    let at_expiry = context(&host, expires);
    assert_eq!(access::authenticate(&at_expiry, &secret).unwrap(), None);
    assert_eq!(
        access::identify(&at_expiry, &secret).unwrap(),
        Authentication::Expired {
            name: "ci".to_owned()
        }
    );
    let local = Caller::local();
    let listed = access::list_tokens(&at_expiry, &local, false).unwrap();
    assert_eq!(listed[0].state, TokenState::Expired);

    // Secrets that are no token's, or that are not even shaped like one.
    let ctx = context(&host, t0);
    let mut wrong = secret.clone();
    wrong.replace_range(10..11, if &secret[10..11] == "0" { "1" } else { "0" });
    assert_eq!(access::authenticate(&ctx, &wrong).unwrap(), None);
    assert_eq!(access::authenticate(&ctx, &secret[4..]).unwrap(), None);
    assert_eq!(access::authenticate(&ctx, "").unwrap(), None);

    // An expired name may be used again without a revoke; the expired row is retired.
    let (again, again_secret) = access::create_token(
        &at_expiry,
        &local,
        TokenRequest {
            name: "ci".to_owned(),
            role: Role::Viewer,
            expires: None,
        },
    )
    .unwrap();
    assert_eq!(
        (again.role, again.state),
        (Role::Viewer, TokenState::Active)
    );
    let revoked: i64 = host.scalar("SELECT count(*) FROM tokens WHERE revoked_ms IS NOT NULL");
    assert_eq!(revoked, 1);
    let who = access::authenticate(&at_expiry, again_secret.expose()).unwrap();
    assert_eq!(who.map(|p| p.role), Some(Role::Viewer));

    // Revoked: refused at once.
    access::revoke_token(&at_expiry, &local, "ci").unwrap();
    assert_eq!(
        access::authenticate(&at_expiry, again_secret.expose()).unwrap(),
        None
    );
    assert_eq!(
        access::identify(&at_expiry, again_secret.expose()).unwrap(),
        Authentication::Revoked {
            name: "ci".to_owned()
        }
    );
    assert_eq!(
        access::identify(&at_expiry, &wrong).unwrap(),
        Authentication::Unknown
    );
}

#[test]
#[expect(
    clippy::too_many_lines,
    reason = "a refusal and a front end's entry, read back field by field"
)]
fn a_caller_who_is_not_an_owner_cannot_manage_tokens_and_the_refusal_is_audited() {
    let host = Host::new();
    let ctx = context(&host, 1_700_000_000_000);
    let caller = Caller {
        principal: Principal {
            kind: PrincipalKind::Token,
            name: "grafana".to_owned(),
            role: Role::Operator,
        },
        remote: Some("192.0.2.7:40000".to_owned()),
        request_id: Some("req-1".to_owned()),
    };
    let err = access::create_token(
        &ctx,
        &caller,
        TokenRequest {
            name: "mine".to_owned(),
            role: Role::Owner,
            expires: None,
        },
    )
    .unwrap_err();
    assert!(
        matches!(
            err,
            Error::Forbidden {
                role: Role::Operator,
                action: Action::TokensManage,
                ..
            }
        ),
        "{err}"
    );
    assert_eq!(
        err.to_string(),
        "tokens-manage as token:grafana: the role operator may not"
    );
    assert!(access::list_tokens(&ctx, &caller, true).is_err());
    assert_eq!(host.scalar::<i64>("SELECT count(*) FROM tokens"), 0);

    // A front end's own entry, with everything a request carries.
    let mut entry = AuditEntry::new(&caller, Action::Run, Outcome::Accepted);
    entry.plan_digest = Some("sha256:abc".to_owned());
    entry.target = Some("web,db".to_owned());
    audit::record(&ctx, entry).unwrap();

    let rows = audit::list(&ctx, None).unwrap();
    assert_eq!(rows.len(), 2);
    let (run, denied) = (&rows[0], &rows[1]);
    assert_eq!(
        (denied.principal_kind.as_str(), denied.principal.as_str()),
        ("token", "grafana")
    );
    assert_eq!(denied.role.as_deref(), Some("operator"));
    assert_eq!(denied.outcome, "denied");
    assert_eq!(denied.remote.as_deref(), Some("192.0.2.7:40000"));
    assert_eq!(denied.request_id.as_deref(), Some("req-1"));
    assert_eq!(denied.target.as_deref(), Some("mine"));
    assert_eq!(run.action, "run");
    assert_eq!(run.outcome, "accepted");
    assert_eq!(run.plan_digest.as_deref(), Some("sha256:abc"));
    // `--since` counts back from the context's clock.
    let later = context(&host, 1_700_000_000_000 + 2 * DAY_MS);
    let window = std::time::Duration::from_secs(86_400);
    assert!(audit::list(&later, Some(window)).unwrap().is_empty());
    assert_eq!(audit::list(&later, None).unwrap().len(), 2);
}
