//! The access audit trail: one ledger row per action a person or client asked of a front
//! end (the HTTP API, Discord, `upkeep token`), with who asked, with which role, from
//! where, under which request id and plan digest, and how it ended. `upkeep audit` lists
//! it.
//!
//! A front end records one [`AuditEntry`] per request that asks for an action (allowed or
//! denied) with [`record`]; the token use cases in [`super::access`] record their own.
//! This trail is apart from the engine's own `audit` rows (checksum approvals, skipped
//! schedules), which `upkeep history` shows.

use std::time::Duration;

use super::access::{Action, Principal, PrincipalKind, Role};
use super::{Context, Error};
use crate::state::access::AccessRow;

/// Who is asking, and over what: the principal a front end authenticated, and what the
/// request says about where it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// Who.
    pub principal: Principal,
    /// The client's address (`203.0.113.7:50312`), for a request over the network.
    pub remote: Option<String>,
    /// The request's id, as the server logs it.
    pub request_id: Option<String>,
}

impl Caller {
    /// The person at this command line ([`Principal::local`]).
    pub fn local() -> Self {
        Self {
            principal: Principal::local(),
            remote: None,
            request_id: None,
        }
    }
}

/// How an audited action ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// It was done.
    Succeeded,
    /// It was started and goes on (a run: `POST runs` answered 202); its result is in
    /// the history.
    Accepted,
    /// The principal's role may not do it, or it could not be authenticated.
    Denied,
    /// It was allowed and failed.
    Failed,
}

impl Outcome {
    /// Its spelling in the ledger.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Succeeded => "succeeded",
            Self::Accepted => "accepted",
            Self::Denied => "denied",
            Self::Failed => "failed",
        }
    }
}

/// One action to record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEntry {
    /// How the one who asked was (or claimed to be) authenticated.
    pub kind: PrincipalKind,
    /// The token's name, the Discord user's id or the Unix user; for a request that could
    /// not be authenticated, what it claimed (or `-`).
    pub name: String,
    /// The role it acted with; `None` when it could not be authenticated.
    pub role: Option<Role>,
    /// The client's address.
    pub remote: Option<String>,
    /// The request's id.
    pub request_id: Option<String>,
    /// The digest of the plan a run was confirmed against.
    pub plan_digest: Option<String>,
    /// What was asked.
    pub action: Action,
    /// What it was asked of: a module, a backup id, a token's name, a setting.
    pub target: Option<String>,
    /// How it ended.
    pub outcome: Outcome,
    /// Why it failed or was denied, or what exactly was done.
    pub detail: Option<String>,
}

impl AuditEntry {
    /// An entry for `caller` asking for `action`, which ended as `outcome`; set `target`,
    /// `plan_digest` and `detail` on it as the action has them.
    pub fn new(caller: &Caller, action: Action, outcome: Outcome) -> Self {
        Self {
            kind: caller.principal.kind,
            name: caller.principal.name.clone(),
            role: Some(caller.principal.role),
            remote: caller.remote.clone(),
            request_id: caller.request_id.clone(),
            plan_digest: None,
            action,
            target: None,
            outcome,
            detail: None,
        }
    }
}

/// Append `entry` to the audit trail, dated by the context's clock; its row id.
///
/// # Errors
/// The ledger failed.
pub fn record(ctx: &Context, entry: AuditEntry) -> Result<i64, Error> {
    let AuditEntry {
        kind,
        name,
        role,
        remote,
        request_id,
        plan_digest,
        action,
        target,
        outcome,
        detail,
    } = entry;
    let row = AccessRow {
        id: 0,
        at_ms: ctx.clock().now_ms(),
        principal_kind: kind.as_str().to_owned(),
        principal: name,
        role: role.map(|r| r.as_str().to_owned()),
        remote,
        request_id,
        plan_digest,
        action: action.as_str().to_owned(),
        target,
        outcome: outcome.as_str().to_owned(),
        detail,
    };
    Ok(ctx.ledger()?.record_access(&row)?)
}

/// The audit trail's rows, newest first: those of the last `since` (measured by the
/// context's clock), or all. The rows are as recorded (spellings, not enums), so a trail
/// written by a newer upkeep still lists.
///
/// # Errors
/// The ledger failed.
pub fn list(ctx: &Context, since: Option<Duration>) -> Result<Vec<AccessRow>, Error> {
    let Some(ledger) = ctx.existing_ledger()? else {
        return Ok(Vec::new());
    };
    let since_ms = since.map_or(i64::MIN, |window| {
        let window = i64::try_from(window.as_millis()).unwrap_or(i64::MAX);
        ctx.clock().now_ms().saturating_sub(window)
    });
    Ok(ledger.access_audit(since_ms)?)
}
