//! Who may do what: the three roles of the seed's permission table, every use case a front
//! end can invoke as an [`Action`], the one table that says which role may do which
//! ([`Action::least_role`]), and API tokens (create, list, revoke, authenticate).
//!
//! The roles are the seed's: its "Bot Owner or Administrator" commands are what an
//! [`Role::Operator`] may do beyond reading, its "Bot Owner only" ones need
//! [`Role::Owner`]. A front end authenticates a request into a [`Principal`], then calls
//! [`authorize`] with the action the request maps to before it calls the use case; the
//! token use cases here check it themselves as well, since they hand out access.
//!
//! A token's secret is `upk_` followed by 64 hex digits (256 random bits from the
//! operating system), shown once when it is created. The ledger keeps only its SHA-256,
//! and [`authenticate`] finds a token by that hash: with a secret this long, a hash that
//! matches is the only way to find a row, and the lookup leaks nothing an attacker can use
//! to guess a secret byte by byte (which a comparison of secrets in variable time would).

use std::time::Duration;

use super::audit::{self, AuditEntry, Caller, Outcome};
use super::{Context, Error};
use crate::state::access::{NewToken, TokenRow};

/// What every token's secret starts with, so that one pasted into a chat or a log is
/// recognised (by a person and by secret scanners).
pub const SECRET_PREFIX: &str = "upk_";

/// How long a token's last use may be out of date: [`authenticate`] writes it at most
/// once a minute per token, so a busy API does not write the ledger on every request.
pub const TOUCH_INTERVAL: Duration = Duration::from_secs(60);

/// What a principal may do; each role may do everything the ones before it may.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Role {
    /// Reads: status, plan, history, modules, backups, check results, metrics, schedules.
    Viewer,
    /// The seed's "Administrator": also check now, create and verify backups, test
    /// notifications.
    Operator,
    /// The seed's "Bot Owner": everything, including runs, rollbacks, restores, schedules,
    /// settings, tokens and the audit trail.
    Owner,
}

impl Role {
    /// Every role, least first.
    pub const ALL: &'static [Self] = &[Self::Viewer, Self::Operator, Self::Owner];

    /// Its spelling on the command line, in the API and in the ledger.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Viewer => "viewer",
            Self::Operator => "operator",
            Self::Owner => "owner",
        }
    }

    /// Whether this role may do `action`: the role is at least the action's
    /// [`Action::least_role`].
    pub fn allows(self, action: Action) -> bool {
        self >= action.least_role()
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl serde::Serialize for Role {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

/// A role name that is none of `viewer`, `operator`, `owner`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{given}` is not a role{} (one of: viewer, operator, owner)", suggestion.map(|s| format!("; did you mean `{s}`?")).unwrap_or_default())]
pub struct UnknownRole {
    /// What was given.
    pub given: String,
    /// The closest role, for a likely typo.
    pub suggestion: Option<&'static str>,
}

impl std::str::FromStr for Role {
    type Err = UnknownRole;

    fn from_str(text: &str) -> Result<Self, UnknownRole> {
        if let Some(role) = Self::ALL.iter().find(|r| r.as_str() == text) {
            return Ok(*role);
        }
        let names = Self::ALL.iter().map(|r| r.as_str());
        let lower = text.to_ascii_lowercase();
        Err(UnknownRole {
            given: text.to_owned(),
            suggestion: crate::text::did_you_mean(&lower, names),
        })
    }
}

/// Every use case a front end (the HTTP API, Discord, the web page) can invoke, by what
/// it needs to be allowed. A front end maps each route or command to one of these.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    /// The dashboard: every module's state (`status`).
    Status,
    /// The plan and its digest.
    Plan,
    /// Past runs and outcomes, one run and its events.
    History,
    /// One module's details and versions.
    ModulesRead,
    /// The list of backups.
    BackupsList,
    /// The cached results of update checks.
    CheckResults,
    /// Prometheus metrics.
    Metrics,
    /// The schedules (reading them; changing them is [`Action::SchedulesWrite`]).
    SchedulesRead,
    /// Ask the update sources now (the seed's `/update_check`).
    CheckNow,
    /// Create a backup (`/backup_create`).
    BackupCreate,
    /// Re-read a backup and check it against the ledger.
    BackupVerify,
    /// Send a test notification.
    NotifyTest,
    /// Start a run: install updates (`/update_install`).
    Run,
    /// Roll a module back (`/update_rollback`).
    Rollback,
    /// Restore a backup (`/backup_restore`).
    Restore,
    /// Add, change, enable, disable or remove schedules (`/update_schedule`).
    SchedulesWrite,
    /// Read the settings: they name notification channels and the Discord application.
    SettingsRead,
    /// Change settings (`/update_settings`).
    SettingsWrite,
    /// Create, list and revoke tokens.
    TokensManage,
    /// Read the access audit trail.
    AuditRead,
}

impl Action {
    /// Every action, in the order of the table in [`Action::least_role`].
    pub const ALL: &'static [Self] = &[
        Self::Status,
        Self::Plan,
        Self::History,
        Self::ModulesRead,
        Self::BackupsList,
        Self::CheckResults,
        Self::Metrics,
        Self::SchedulesRead,
        Self::CheckNow,
        Self::BackupCreate,
        Self::BackupVerify,
        Self::NotifyTest,
        Self::Run,
        Self::Rollback,
        Self::Restore,
        Self::SchedulesWrite,
        Self::SettingsRead,
        Self::SettingsWrite,
        Self::TokensManage,
        Self::AuditRead,
    ];

    /// The permission table: the least role that may do this action. Reads are the
    /// viewer's (issue 18, item 2); the seed's "Bot Owner or Administrator" commands that
    /// change something are the operator's; its "Bot Owner only" ones, and whatever hands
    /// out access or shows who did what, are the owner's.
    pub fn least_role(self) -> Role {
        match self {
            Self::Status
            | Self::Plan
            | Self::History
            | Self::ModulesRead
            | Self::BackupsList
            | Self::CheckResults
            | Self::Metrics
            | Self::SchedulesRead => Role::Viewer,
            Self::CheckNow | Self::BackupCreate | Self::BackupVerify | Self::NotifyTest => {
                Role::Operator
            }
            // The settings file holds channel URLs and the Discord keys, and the audit
            // trail names every token and client address: reading them is the owner's,
            // as managing tokens is.
            Self::Run
            | Self::Rollback
            | Self::Restore
            | Self::SchedulesWrite
            | Self::SettingsRead
            | Self::SettingsWrite
            | Self::TokensManage
            | Self::AuditRead => Role::Owner,
        }
    }

    /// Its spelling in the audit trail and in errors, e.g. `backup-create`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Status => "status",
            Self::Plan => "plan",
            Self::History => "history",
            Self::ModulesRead => "modules-read",
            Self::BackupsList => "backups-list",
            Self::CheckResults => "check-results",
            Self::Metrics => "metrics",
            Self::SchedulesRead => "schedules-read",
            Self::CheckNow => "check-now",
            Self::BackupCreate => "backup-create",
            Self::BackupVerify => "backup-verify",
            Self::NotifyTest => "notify-test",
            Self::Run => "run",
            Self::Rollback => "rollback",
            Self::Restore => "restore",
            Self::SchedulesWrite => "schedules-write",
            Self::SettingsRead => "settings-read",
            Self::SettingsWrite => "settings-write",
            Self::TokensManage => "tokens-manage",
            Self::AuditRead => "audit-read",
        }
    }
}

impl std::fmt::Display for Action {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl serde::Serialize for Action {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

/// How a principal was authenticated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PrincipalKind {
    /// An API token (`Authorization: Bearer`, or the web page's session made from one).
    Token,
    /// A Discord user, by the ids and roles the settings map.
    Discord,
    /// A person at this host's command line.
    Local,
}

impl PrincipalKind {
    /// Its spelling in the audit trail.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Token => "token",
            Self::Discord => "discord",
            Self::Local => "local",
        }
    }
}

/// Someone (or some client) a front end has authenticated, with the role it acts with.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Principal {
    /// How it was authenticated.
    pub kind: PrincipalKind,
    /// The token's name, the Discord user's id, or the Unix user's name.
    pub name: String,
    /// What it may do.
    pub role: Role,
}

impl Principal {
    /// The person running this command line: the Unix user (by name, else by uid), as
    /// owner. Whoever can run upkeep on its state directory can already do everything
    /// there, so the command line asks for no token.
    pub fn local() -> Self {
        let uid = nix::unistd::getuid();
        let name = nix::unistd::User::from_uid(uid)
            .ok()
            .flatten()
            .map_or_else(|| uid.to_string(), |user| user.name);
        Self {
            kind: PrincipalKind::Local,
            name,
            role: Role::Owner,
        }
    }
}

impl std::fmt::Display for Principal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.kind.as_str(), self.name)
    }
}

/// `Ok` when `principal`'s role may do `action`, else [`Error::Forbidden`]. A front end
/// calls this once per request, before the use case.
///
/// # Errors
/// [`Error::Forbidden`].
pub fn authorize(principal: &Principal, action: Action) -> Result<(), Error> {
    if principal.role.allows(action) {
        Ok(())
    } else {
        Err(Error::Forbidden {
            principal: principal.to_string(),
            role: principal.role,
            action,
        })
    }
}

/// Whether a token works at a given time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TokenState {
    /// It authenticates.
    Active,
    /// Its expiry has passed.
    Expired,
    /// It was revoked.
    Revoked,
}

impl TokenState {
    /// Its spelling, as in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Expired => "expired",
            Self::Revoked => "revoked",
        }
    }
}

/// A token as `token list` and the API show it: never its secret or hash.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Token {
    /// Its name.
    pub name: String,
    /// Its role.
    pub role: Role,
    /// Active, expired or revoked, at the context's clock.
    pub state: TokenState,
    /// When it was created (ms since the epoch).
    pub created_ms: i64,
    /// Who created it (`local:alice`, `token:admin`).
    pub created_by: String,
    /// When it stops working, if ever.
    pub expires_ms: Option<i64>,
    /// When it was last used, to within [`TOUCH_INTERVAL`].
    pub last_used_ms: Option<i64>,
    /// When it was revoked.
    pub revoked_ms: Option<i64>,
}

/// Whether a token with these times works at `now_ms`: revoked wins over expired, and a
/// token expires at its expiry instant, not after it.
pub fn token_state(expires_ms: Option<i64>, revoked_ms: Option<i64>, now_ms: i64) -> TokenState {
    if revoked_ms.is_some() {
        TokenState::Revoked
    } else if expires_ms.is_some_and(|at| at <= now_ms) {
        TokenState::Expired
    } else {
        TokenState::Active
    }
}

impl Token {
    fn from_row(row: TokenRow, now_ms: i64) -> Result<Self, Error> {
        let role = row.role.parse().map_err(|_| Error::StoredRole {
            token: row.name.clone(),
            role: row.role.clone(),
        })?;
        Ok(Self {
            state: token_state(row.expires_ms, row.revoked_ms, now_ms),
            name: row.name,
            role,
            created_ms: row.created_ms,
            created_by: row.created_by,
            expires_ms: row.expires_ms,
            last_used_ms: row.last_used_ms,
            revoked_ms: row.revoked_ms,
        })
    }
}

/// A token to create.
#[derive(Debug, Clone)]
pub struct TokenRequest {
    /// Its name: letters, digits, `.`, `-` and `_`, at most 64, not starting with `-`.
    pub name: String,
    /// Its role.
    pub role: Role,
    /// How long it works; `None` for as long as it is not revoked.
    pub expires: Option<Duration>,
}

/// A token's secret, as given to its holder once. It is not `Debug`-printed, so a log of
/// a value holding it does not leak it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// The secret itself, to show its holder once.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(upk_…)")
    }
}

/// The SHA-256 (lowercase hex) the ledger keeps of a secret.
pub fn secret_hash(secret: &str) -> String {
    crate::digest::bytes_hex(secret.as_bytes())
}

/// Create a token for `caller` (who must be an owner), audited; the token and its secret,
/// which exists nowhere else afterwards.
///
/// # Errors
/// [`Error::Forbidden`], [`Error::InvalidTokenName`], [`Error::TokenNameTaken`], or the
/// ledger or the system's random source failed.
pub fn create_token(
    ctx: &Context,
    caller: &Caller,
    request: TokenRequest,
) -> Result<(Token, Secret), Error> {
    let TokenRequest {
        name,
        role,
        expires,
    } = request;
    let result = (|| {
        authorize(&caller.principal, Action::TokensManage)?;
        check_name(&name)?;
        let secret = new_secret()?;
        let now = ctx.clock().now_ms();
        let expires_ms =
            expires.map(|d| now.saturating_add(i64::try_from(d.as_millis()).unwrap_or(i64::MAX)));
        let by = caller.principal.to_string();
        let row = ctx
            .ledger()?
            .insert_token(
                &NewToken {
                    name: &name,
                    role: role.as_str(),
                    hash: &secret_hash(secret.expose()),
                    created_ms: now,
                    created_by: &by,
                    expires_ms,
                },
                now,
            )?
            .ok_or_else(|| Error::TokenNameTaken { name: name.clone() })?;
        Ok((Token::from_row(row, now)?, secret))
    })();
    let done = format!("create (role {role})");
    audited(ctx, caller, &name, &done, result)
}

/// Every token not revoked (with `revoked`, every token), by name.
///
/// # Errors
/// [`Error::Forbidden`] for a caller who is not an owner; the ledger failed.
pub fn list_tokens(ctx: &Context, caller: &Caller, revoked: bool) -> Result<Vec<Token>, Error> {
    authorize(&caller.principal, Action::TokensManage)?;
    let Some(ledger) = ctx.existing_ledger()? else {
        return Ok(Vec::new());
    };
    let now = ctx.clock().now_ms();
    ledger
        .tokens(revoked)?
        .into_iter()
        .map(|row| Token::from_row(row, now))
        .collect()
}

/// Revoke the token named `name`, audited; it stops working at once.
///
/// # Errors
/// [`Error::Forbidden`], [`Error::UnknownToken`] (no token that is not revoked has that
/// name), or the ledger failed.
pub fn revoke_token(ctx: &Context, caller: &Caller, name: &str) -> Result<Token, Error> {
    let result = (|| {
        authorize(&caller.principal, Action::TokensManage)?;
        let now = ctx.clock().now_ms();
        let mut ledger = ctx.ledger()?;
        if let Some(row) = ledger.revoke_token(name, now)? {
            return Token::from_row(row, now);
        }
        let live = ledger.tokens(false)?;
        let names = live.iter().map(|t| t.name.as_str());
        Err(Error::UnknownToken {
            name: name.to_owned(),
            suggestion: crate::text::did_you_mean(name, names).map(str::to_owned),
        })
    })();
    audited(ctx, caller, name, "revoke", result)
}

/// What a presented secret turned out to be, for a front end that audits refusals with
/// the token they named ([`authenticate`] is this without the reasons).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Authentication {
    /// A token that works: who it is.
    Valid(Principal),
    /// The token named `name` has expired.
    Expired {
        /// The token's name.
        name: String,
    },
    /// The token named `name` was revoked.
    Revoked {
        /// The token's name.
        name: String,
    },
    /// No token has this secret (or it is not shaped like one, or the token's role is
    /// one this upkeep does not know, which grants nothing).
    Unknown,
}

/// The principal a secret belongs to: `None` for a secret that is no token's, or whose
/// token is revoked or expired at the context's clock. As [`identify`].
///
/// # Errors
/// The ledger failed.
pub fn authenticate(ctx: &Context, secret: &str) -> Result<Option<Principal>, Error> {
    Ok(match identify(ctx, secret)? {
        Authentication::Valid(principal) => Some(principal),
        Authentication::Expired { .. }
        | Authentication::Revoked { .. }
        | Authentication::Unknown => None,
    })
}

/// What `secret` is at the context's clock. A token that works has its use recorded, at
/// most once per [`TOUCH_INTERVAL`], so a busy API does not write the ledger on every
/// request; a ledger that does not exist yet holds no token, and is not created.
///
/// # Errors
/// The ledger failed.
pub fn identify(ctx: &Context, secret: &str) -> Result<Authentication, Error> {
    if !secret.starts_with(SECRET_PREFIX) {
        return Ok(Authentication::Unknown);
    }
    let Some(mut ledger) = ctx.existing_ledger()? else {
        return Ok(Authentication::Unknown);
    };
    let Some(row) = ledger.token_by_hash(&secret_hash(secret))? else {
        return Ok(Authentication::Unknown);
    };
    let now = ctx.clock().now_ms();
    match token_state(row.expires_ms, row.revoked_ms, now) {
        TokenState::Active => {}
        TokenState::Expired => return Ok(Authentication::Expired { name: row.name }),
        TokenState::Revoked => return Ok(Authentication::Revoked { name: row.name }),
    }
    // A role this upkeep does not know (written by a newer one) grants nothing.
    let Ok(role) = row.role.parse::<Role>() else {
        return Ok(Authentication::Unknown);
    };
    let stale_before = now.saturating_sub(i64::try_from(TOUCH_INTERVAL.as_millis()).unwrap_or(0));
    if row.last_used_ms.is_none_or(|at| at <= stale_before) {
        ledger.touch_token(row.id, now, stale_before)?;
    }
    Ok(Authentication::Valid(Principal {
        kind: PrincipalKind::Token,
        name: row.name,
        role,
    }))
}

/// Record what a token use case did (`done`: "revoke") to the token `name` in the audit
/// trail, then hand back its result. A failure to record is reported only when the use
/// case itself succeeded: its own error says more.
fn audited<T>(
    ctx: &Context,
    caller: &Caller,
    name: &str,
    done: &str,
    result: Result<T, Error>,
) -> Result<T, Error> {
    let (outcome, detail) = match &result {
        Ok(_) => (Outcome::Succeeded, done.to_owned()),
        Err(Error::Forbidden { .. }) => (Outcome::Denied, done.to_owned()),
        Err(err) => (
            Outcome::Failed,
            format!("{done}: {}", crate::message::failed_to(err)),
        ),
    };
    let mut entry = AuditEntry::new(caller, Action::TokensManage, outcome);
    entry.target = Some(name.to_owned());
    entry.detail = Some(detail);
    let recorded = audit::record(ctx, entry);
    let value = result?;
    recorded?;
    Ok(value)
}

fn check_name(name: &str) -> Result<(), Error> {
    let valid = !name.is_empty()
        && name.len() <= 64
        && !name.starts_with('-')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'));
    if valid {
        Ok(())
    } else {
        Err(Error::InvalidTokenName {
            name: name.to_owned(),
        })
    }
}

/// A new secret: [`SECRET_PREFIX`] and 32 bytes from the operating system's random
/// source, in hex.
fn new_secret() -> Result<Secret, Error> {
    let mut bytes = [0_u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| Error::Io {
        action: "draw a token's secret from the system's random source".to_owned(),
        source: std::io::Error::other(e),
    })?;
    Ok(Secret(format!("{SECRET_PREFIX}{}", hex::encode(bytes))))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The whole table, written out as the seed and issue 18 state it: every action by
    /// every role.
    #[test]
    fn every_action_by_every_role() {
        use Action as A;
        let expected: &[(Action, [bool; 3])] = &[
            // action: [viewer, operator, owner]
            (A::Status, [true, true, true]),
            (A::Plan, [true, true, true]),
            (A::History, [true, true, true]),
            (A::ModulesRead, [true, true, true]),
            (A::BackupsList, [true, true, true]),
            (A::CheckResults, [true, true, true]),
            (A::Metrics, [true, true, true]),
            (A::SchedulesRead, [true, true, true]),
            (A::CheckNow, [false, true, true]),
            (A::BackupCreate, [false, true, true]),
            (A::BackupVerify, [false, true, true]),
            (A::NotifyTest, [false, true, true]),
            (A::Run, [false, false, true]),
            (A::Rollback, [false, false, true]),
            (A::Restore, [false, false, true]),
            (A::SchedulesWrite, [false, false, true]),
            (A::SettingsRead, [false, false, true]),
            (A::SettingsWrite, [false, false, true]),
            (A::TokensManage, [false, false, true]),
            (A::AuditRead, [false, false, true]),
        ];
        assert_eq!(
            expected.len(),
            Action::ALL.len(),
            "an action is missing here"
        );
        for (action, allowed) in expected {
            for (role, allowed) in Role::ALL.iter().zip(allowed) {
                assert_eq!(role.allows(*action), *allowed, "{role} {action}");
                let principal = Principal {
                    kind: PrincipalKind::Token,
                    name: "t".to_owned(),
                    role: *role,
                };
                assert_eq!(authorize(&principal, *action).is_ok(), *allowed);
            }
        }
    }

    #[test]
    fn actions_are_listed_once_and_spelled_apart() {
        let mut names: Vec<&str> = Action::ALL.iter().map(|a| a.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), Action::ALL.len());
    }

    #[test]
    fn roles_are_ordered_and_parse_their_spelling() {
        assert!(Role::Viewer < Role::Operator && Role::Operator < Role::Owner);
        for role in Role::ALL {
            assert_eq!(role.as_str().parse::<Role>(), Ok(*role));
        }
        let err = "opertor".parse::<Role>().unwrap_err();
        assert_eq!(err.suggestion, Some("operator"));
        assert_eq!(
            err.to_string(),
            "`opertor` is not a role; did you mean `operator`? (one of: viewer, operator, owner)"
        );
        assert_eq!(
            "Owner".parse::<Role>().unwrap_err().suggestion,
            Some("owner")
        );
        assert_eq!("admin".parse::<Role>().unwrap_err().suggestion, None);
    }

    #[test]
    fn a_token_expires_at_its_instant_and_revoked_wins() {
        assert_eq!(token_state(None, None, i64::MAX), TokenState::Active);
        assert_eq!(token_state(Some(1_000), None, 999), TokenState::Active);
        assert_eq!(token_state(Some(1_000), None, 1_000), TokenState::Expired);
        assert_eq!(token_state(Some(1_000), Some(5), 1), TokenState::Revoked);
    }

    #[test]
    fn secrets_are_recognisable_and_distinct() {
        let a = new_secret().unwrap();
        let b = new_secret().unwrap();
        assert_ne!(a, b);
        assert!(a.expose().starts_with(SECRET_PREFIX));
        assert_eq!(a.expose().len(), SECRET_PREFIX.len() + 64);
        assert!(!format!("{a:?}").contains(&a.expose()[4..]));
        assert_eq!(secret_hash(a.expose()).len(), 64);
    }

    #[test]
    fn token_names() {
        for good in ["ci", "grafana.prod", "a_b-c", &"x".repeat(64)] {
            assert!(check_name(good).is_ok(), "{good}");
        }
        for bad in ["", "-x", "a b", "ü", &"x".repeat(65)] {
            assert!(check_name(bad).is_err(), "{bad}");
        }
    }
}
