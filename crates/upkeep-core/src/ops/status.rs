//! `upkeep status` (and the HTTP API's `GET /api/v1/status`, which serializes the same
//! value): whether the host's automation works, and for every module why it is where it
//! is.
//!
//! The report has a top-level [`AutomationState`] (`working`, `degraded`, `stopped`) with
//! the [`Reason`]s that make it so, each a stable kebab-case [`ReasonCode`] with a sentence;
//! and per module a [`ModuleReason`] (why it was not updated) with a sentence, next to its
//! versions, last outcome, health and last backup. How each is computed is written at
//! [`ReasonCode`] and [`ModuleReason`]; the codes are part of the API and never change
//! spelling.
//!
//! Cost: one manifest load, one plan, and a fixed handful of ledger queries (module states
//! with their checks, safety states, schedules, each schedule's newest run, each
//! channel's newest delivery, the newest answered check), whatever the manifest's size.

use std::collections::{HashMap, HashSet};

use super::{Context, Error};
use crate::manifest::Manifest;
use crate::plan::{self, Action, PlanOptions, Step};
use crate::state::automation::{ChannelAttempt, ScheduledRun};
use crate::state::safety_summary::SafetyState;
use crate::state::schedules::ScheduleRow;
use crate::state::{ModuleOutcome, ModuleState, RunStatus};
use crate::updates::{HoldReason, Upstream};

use super::query::timestamp;

/// Whether a host's automation works.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum AutomationState {
    /// Schedules fire, runs start and end well, checks are fresh, nothing is held and
    /// every channel delivers.
    Working,
    /// Updates happen on their own, but something needs a look (see the reasons).
    Degraded,
    /// Nothing updates on its own: no schedule fires.
    Stopped,
}

impl AutomationState {
    /// Its spelling, as in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Working => "working",
            Self::Degraded => "degraded",
            Self::Stopped => "stopped",
        }
    }
}

/// Why the automation is not `working`. The spelling of each is stable (API, metrics).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ReasonCode {
    /// Stopped: the ledger has no enabled schedule (none was added, or every one is
    /// disabled), so no run starts on its own.
    NoScheduleEnabled,
    /// Stopped: schedules exist but the setting `schedule.enabled` is `false`, so due
    /// schedules are skipped.
    SchedulesTurnedOff,
    /// Degraded: an enabled schedule's newest finished run (the `runs` row with trigger
    /// `schedule:NAME` and the highest id) is `not-started`: its manifest did not load,
    /// its targets were gone, or the lock stayed held. One reason per schedule.
    ScheduledRunNotStarted,
    /// Degraded: an enabled schedule's newest finished run ended `failed`,
    /// `integrity-refused` or `interrupted` (a `cancelled` one was stopped on purpose and
    /// does not count). One reason per schedule.
    ScheduledRunFailed,
    /// Degraded: modules have update sources, and the newest answered check
    /// (`update_checks.ok = 1`) is older than the staleness threshold: twice the check
    /// period, where the period is the longer of `update.update_check_interval` (how
    /// often a daemon or server asks) and the longest gap between firings of the most
    /// frequent enabled schedule (a scheduled run asks its sources first; without a
    /// daemon that is the only asking). With no answered check yet, the time since the
    /// earliest enabled schedule was added counts instead; with neither, nothing is
    /// judged.
    ChecksStale,
    /// Degraded: modules of the manifest are held for manual intervention (a rollback
    /// failed); automatic runs skip them until `upkeep clear`.
    ModulesNeedIntervention,
    /// Degraded: a channel defined in the settings whose newest delivery with an outcome
    /// failed (given up, or failed and waiting for its retry) in the outbox. A later
    /// delivered notification clears it. One reason per channel.
    NotificationChannelFailing,
}

impl ReasonCode {
    /// Its spelling, as in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::NoScheduleEnabled => "no-schedule-enabled",
            Self::SchedulesTurnedOff => "schedules-turned-off",
            Self::ScheduledRunNotStarted => "scheduled-run-not-started",
            Self::ScheduledRunFailed => "scheduled-run-failed",
            Self::ChecksStale => "checks-stale",
            Self::ModulesNeedIntervention => "modules-need-intervention",
            Self::NotificationChannelFailing => "notification-channel-failing",
        }
    }

    /// The state this reason puts the automation in, at least.
    pub fn severity(self) -> AutomationState {
        match self {
            Self::NoScheduleEnabled | Self::SchedulesTurnedOff => AutomationState::Stopped,
            Self::ScheduledRunNotStarted
            | Self::ScheduledRunFailed
            | Self::ChecksStale
            | Self::ModulesNeedIntervention
            | Self::NotificationChannelFailing => AutomationState::Degraded,
        }
    }
}

/// One reason the automation is not `working`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Reason {
    /// What it is.
    pub code: ReasonCode,
    /// The state it puts the automation in.
    pub severity: AutomationState,
    /// What is wrong, as a sentence.
    pub message: String,
    /// What it is about: the schedule, the channel, the modules held.
    pub subjects: Vec<String>,
    /// The command that helps, when there is one.
    pub hint: Option<String>,
}

impl Reason {
    fn new(code: ReasonCode, message: String, subjects: Vec<String>, hint: Option<String>) -> Self {
        Self {
            code,
            severity: code.severity(),
            message,
            subjects,
            hint,
        }
    }
}

/// How fresh the update checks are, and the threshold [`ReasonCode::ChecksStale`] uses.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Checks {
    /// Whether any module of the manifest has an update source (without one, checks are
    /// never stale).
    pub expected: bool,
    /// When the newest answered check ended (ms since the epoch).
    pub last_answered_ms: Option<i64>,
    /// How often checks are expected, in seconds (see [`ReasonCode::ChecksStale`]).
    pub period_secs: i64,
    /// Older than this (seconds) is stale: twice the period.
    pub stale_after_secs: i64,
}

/// Why a module is where it is: the reason it was not updated (or that it will be).
/// Checked in this order, the first that holds wins.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ModuleReason {
    /// The manifest disables it or a parent of it.
    Disabled,
    /// A rollback failed and it is held until `upkeep clear` (`modules.needs_intervention`).
    NeedsIntervention,
    /// Its last outcome is `blocked`, and a module it needs (directly or through others)
    /// still stands failed or held, so the next run blocks it again (`blocked_by` names
    /// the first such module in plan order).
    BlockedByDependency,
    /// Its own last outcome was a failure (`failed`, `timed-out`, `integrity-refused`,
    /// `backup-failed`, `health-failed`, `rolled-back`, `interrupted`); the next run tries
    /// again.
    Failed,
    /// It has no recorded outcome and was never applied; the next run sets it up.
    NeverRun,
    /// The next run applies something: a first setup, a new declared version, a changed
    /// checksum, or an update its source offers that its policy allows.
    UpdateAvailable,
    /// Its source offers a major (or breaking) update its policy holds until someone
    /// approves it (`run --allow-breaking`).
    MajorAwaitingApproval,
    /// Its source offers an update its policy holds: pinned to a version, outside the
    /// allowed range, or holding every update.
    PinnedOrHeld,
    /// Nothing to apply (a group, having no code of its own, is up to date too).
    UpToDate,
}

impl ModuleReason {
    /// Its spelling, as in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Disabled => "disabled",
            Self::NeedsIntervention => "needs-intervention",
            Self::BlockedByDependency => "blocked-by-dependency",
            Self::Failed => "failed",
            Self::NeverRun => "never-run",
            Self::UpdateAvailable => "update-available",
            Self::MajorAwaitingApproval => "major-awaiting-approval",
            Self::PinnedOrHeld => "pinned-or-held",
            Self::UpToDate => "up-to-date",
        }
    }
}

/// One module as `upkeep status` shows it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct StatusRow {
    /// The module.
    pub module: String,
    /// Its kind (`python`, `command`, `group`, ...; `-` when removed from the manifest).
    pub kind: &'static str,
    /// What a run would do with it, or why it is held.
    pub state: String,
    /// Why it is where it is (`None` for a module the manifest no longer has).
    pub reason: Option<ModuleReason>,
    /// The same, as a sentence.
    pub reason_message: Option<String>,
    /// With [`ModuleReason::BlockedByDependency`]: the module it needs that stands failed
    /// or held.
    pub blocked_by: Option<String>,
    /// Whether it is enabled.
    pub enabled: bool,
    /// Whether it is critical.
    pub critical: bool,
    /// The manifest's version.
    pub declared_version: Option<String>,
    /// The version last applied.
    pub applied_version: Option<String>,
    /// The newest version that passed its health check.
    pub last_safe_version: Option<String>,
    /// When it was last applied (RFC 3339).
    pub last_applied: Option<String>,
    /// Its last outcome.
    pub last_outcome: Option<ModuleOutcome>,
    /// Newest backup holding the module's paths.
    pub last_backup: Option<i64>,
    /// When that backup was taken (RFC 3339).
    pub last_backup_at: Option<String>,
    /// How old that backup is, in seconds.
    pub last_backup_age_secs: Option<i64>,
    /// `passed` or `failed`, from the newest health check.
    pub last_health: Option<String>,
    /// When that check ran (RFC 3339).
    pub last_health_at: Option<String>,
    /// Why the module is held for manual intervention, if it is.
    pub held: Option<String>,
    /// The manifest's description.
    pub description: Option<String>,
    /// Where it stands upstream (the version it is on, what is available, pre-releases
    /// flagged), by its source's latest check; `None` without a source or a check.
    pub upstream: Option<Upstream>,
}

impl StatusRow {
    /// What the ledger says, for a module the manifest does not (or no longer) describe.
    fn recorded(name: &str, state: &ModuleState) -> Self {
        Self {
            module: name.to_owned(),
            kind: "-",
            state: "removed from manifest".to_owned(),
            reason: None,
            reason_message: None,
            blocked_by: None,
            enabled: false,
            critical: false,
            declared_version: None,
            applied_version: state.applied_version.clone(),
            last_safe_version: state.last_safe_version.clone(),
            last_applied: state.applied_at_ms.map(timestamp),
            last_outcome: state.last_outcome,
            last_backup: None,
            last_backup_at: None,
            last_backup_age_secs: None,
            last_health: None,
            last_health_at: None,
            held: None,
            description: None,
            upstream: None,
        }
    }

    fn with_safety(mut self, safety: Option<&SafetyState>, now_ms: i64) -> Self {
        if let Some(s) = safety {
            self.last_backup = s.last_backup;
            self.last_backup_at = s.last_backup_ms.map(timestamp);
            self.last_backup_age_secs = s.last_backup_ms.map(|at| (now_ms - at).max(0) / 1000);
            self.last_health = s
                .last_health_passed
                .map(|p| if p { "passed" } else { "failed" }.to_owned());
            self.last_health_at = s.last_health_ms.map(timestamp);
            self.held.clone_from(&s.needs_intervention);
            if let Some(reason) = &s.needs_intervention {
                self.state = format!("held: {reason}");
            }
        }
        self
    }
}

/// `upkeep status` and `GET /api/v1/status`: whether automation works and why, and every
/// module (the manifest's in manifest order, then those only the ledger knows, by name).
#[derive(Debug, Clone, serde::Serialize)]
pub struct StatusReport {
    /// When the report was made (ms since the epoch): ages and staleness are as of then.
    pub at_ms: i64,
    /// `working`, `degraded` or `stopped`: the most severe of the reasons'.
    pub state: AutomationState,
    /// Why it is not `working`, most severe first.
    pub reasons: Vec<Reason>,
    /// Enabled schedules.
    pub schedules_enabled: usize,
    /// How fresh the update checks are.
    pub checks: Checks,
    /// Every module.
    pub modules: Vec<StatusRow>,
}

/// What the ledger holds that the report reads: one query each.
#[derive(Default)]
struct Facts {
    states: HashMap<String, ModuleState>,
    safety: HashMap<String, SafetyState>,
    schedules: Vec<ScheduleRow>,
    scheduled_runs: Vec<ScheduledRun>,
    channels: Vec<ChannelAttempt>,
    last_answered_ms: Option<i64>,
}

impl Facts {
    fn read(ctx: &Context) -> Result<Self, Error> {
        let Some(ledger) = ctx.existing_ledger()? else {
            return Ok(Self::default());
        };
        Ok(Self {
            states: ledger.module_states()?,
            safety: ledger.safety_states()?,
            schedules: ledger.schedules()?,
            scheduled_runs: ledger.newest_scheduled_runs()?,
            channels: ledger.newest_channel_attempts()?,
            last_answered_ms: ledger.last_answered_check_ms()?,
        })
    }
}

/// The status report. Reads only: never creates the state directory.
///
/// # Errors
/// The manifest or the ledger.
pub fn status(ctx: &Context) -> Result<StatusReport, Error> {
    let manifest = ctx.manifest()?;
    let facts = Facts::read(ctx)?;
    let now_ms = ctx.clock().now_ms();
    let modules = rows(&manifest, &facts, now_ms)?;
    let checks = checks(ctx, &manifest, &facts, now_ms);
    let mut reasons = schedule_reasons(ctx, &facts);
    reasons.extend(stale_reason(&checks, &facts, now_ms));
    reasons.extend(held_reason(&modules));
    reasons.extend(channel_reasons(ctx, &facts));
    reasons.sort_by_key(|r| std::cmp::Reverse(r.severity));
    Ok(StatusReport {
        at_ms: now_ms,
        state: reasons
            .iter()
            .map(|r| r.severity)
            .max()
            .unwrap_or(AutomationState::Working),
        reasons,
        schedules_enabled: facts.schedules.iter().filter(|s| s.enabled).count(),
        checks,
        modules,
    })
}

fn rows(manifest: &Manifest, facts: &Facts, now_ms: i64) -> Result<Vec<StatusRow>, Error> {
    let all = PlanOptions {
        targets: manifest.names().map(str::to_owned).collect(),
        ..PlanOptions::default()
    };
    let plan = plan::plan(manifest, &facts.states, &all)?;
    let steps: HashMap<&str, &Step> = plan.steps.iter().map(|s| (s.name.as_str(), s)).collect();
    let empty = ModuleState::default();
    let mut rows: Vec<StatusRow> = manifest
        .modules
        .iter()
        .map(|spec| {
            let step = steps[spec.name.as_str()];
            let state = facts.states.get(&spec.name).unwrap_or(&empty);
            let upstream = state.check.as_ref().and_then(|(checked_ms, finding)| {
                crate::updates::upstream(
                    spec,
                    (*checked_ms, finding),
                    state.upstream_version.clone(),
                    state.upstream_check_ms,
                )
            });
            let mut row = StatusRow {
                kind: spec.kind.label(),
                state: step.action.state(),
                enabled: spec.enabled,
                critical: spec.critical,
                declared_version: spec.version.as_ref().map(ToString::to_string),
                description: spec.description.clone(),
                upstream,
                ..StatusRow::recorded(&spec.name, state)
            }
            .with_safety(facts.safety.get(&spec.name), now_ms);
            let (reason, message, blocked_by) = why(step, state, &row, &steps, &facts.states);
            row.reason = Some(reason);
            row.reason_message = Some(message);
            row.blocked_by = blocked_by;
            row
        })
        .collect();
    let declared: HashSet<&str> = manifest.names().collect();
    let mut removed: Vec<(&String, &ModuleState)> = facts
        .states
        .iter()
        .filter(|(name, _)| !declared.contains(name.as_str()))
        .collect();
    removed.sort_by_key(|(name, _)| *name);
    rows.extend(removed.into_iter().map(|(name, state)| {
        StatusRow::recorded(name, state).with_safety(facts.safety.get(name.as_str()), now_ms)
    }));
    Ok(rows)
}

/// Whether `outcome` is the module's own failure (not one it was blocked by, not a
/// cancel, not a hold).
fn failed(outcome: ModuleOutcome) -> bool {
    matches!(
        outcome,
        ModuleOutcome::Failed
            | ModuleOutcome::TimedOut
            | ModuleOutcome::IntegrityRefused
            | ModuleOutcome::BackupFailed
            | ModuleOutcome::HealthFailed
            | ModuleOutcome::RolledBack
            | ModuleOutcome::Interrupted
    )
}

/// The first module `step` needs (directly or through others, in breadth-first order)
/// that stands failed or is held for intervention: what blocks it.
fn blocker(
    step: &Step,
    steps: &HashMap<&str, &Step>,
    states: &HashMap<String, ModuleState>,
) -> Option<String> {
    let mut seen: HashSet<&str> = HashSet::new();
    let mut queue: std::collections::VecDeque<&str> =
        step.requires.iter().map(String::as_str).collect();
    while let Some(name) = queue.pop_front() {
        if !seen.insert(name) {
            continue;
        }
        if let Some(state) = states.get(name)
            && (state.needs_intervention.is_some() || state.last_outcome.is_some_and(failed))
        {
            return Some(name.to_owned());
        }
        if let Some(required) = steps.get(name) {
            queue.extend(required.requires.iter().map(String::as_str));
        }
    }
    None
}

/// Why the module of `step` is where it is, as [`ModuleReason`] orders the reasons.
fn why(
    step: &Step,
    state: &ModuleState,
    row: &StatusRow,
    steps: &HashMap<&str, &Step>,
    states: &HashMap<String, ModuleState>,
) -> (ModuleReason, String, Option<String>) {
    let name = &step.name;
    match &step.action {
        Action::Disabled => {
            return (
                ModuleReason::Disabled,
                "Disabled in the manifest.".to_owned(),
                None,
            );
        }
        Action::ParentDisabled { parent } => {
            return (
                ModuleReason::Disabled,
                format!("Its parent `{parent}` is disabled in the manifest."),
                None,
            );
        }
        _ => {}
    }
    if let Some(held) = row.held.as_ref().or(state.needs_intervention.as_ref()) {
        return (
            ModuleReason::NeedsIntervention,
            format!("Held for manual intervention ({held}); `upkeep clear {name}` releases it."),
            None,
        );
    }
    if state.last_outcome == Some(ModuleOutcome::Blocked)
        && let Some(by) = blocker(step, steps, states)
    {
        return (
            ModuleReason::BlockedByDependency,
            format!(
                "Blocked: `{by}`, which it needs, failed or is held; it runs once `{by}` ends well."
            ),
            Some(by),
        );
    }
    if let Some(outcome) = state.last_outcome.filter(|o| failed(*o)) {
        return (
            ModuleReason::Failed,
            format!("Its last run ended {outcome}; the next run tries again."),
            None,
        );
    }
    let (reason, message) = by_action(&step.action, state, row.upstream.as_ref());
    (reason, message, None)
}

/// Why a module that is neither disabled, held, blocked nor failed is where it is: what
/// the plan would do with it.
fn by_action(
    action: &Action,
    state: &ModuleState,
    upstream: Option<&Upstream>,
) -> (ModuleReason, String) {
    match action {
        Action::Setup if state.last_outcome.is_none() => (
            ModuleReason::NeverRun,
            "Never run; the next run sets it up.".to_owned(),
        ),
        action @ (Action::Setup
        | Action::Upgrade { .. }
        | Action::ChecksumChanged
        | Action::Update { .. }) => (
            ModuleReason::UpdateAvailable,
            format!("The next run applies it: {}.", action.describe()),
        ),
        Action::HeldBack { .. } | Action::EveryRun { held_back: Some(_) } => {
            held_back(upstream, action)
        }
        _ => (
            ModuleReason::UpToDate,
            "Up to date: nothing to apply.".to_owned(),
        ),
    }
}

/// A held-back update: waiting for approval when the policy holds it as major, else
/// pinned or held.
fn held_back(upstream: Option<&Upstream>, action: &Action) -> (ModuleReason, String) {
    let major_release = upstream
        .and_then(|u| u.held.as_ref())
        .filter(|h| h.reason == HoldReason::Major);
    let major_package = upstream.and_then(|u| {
        u.packages
            .iter()
            .filter_map(|p| p.held.as_ref())
            .find(|h| h.reason == HoldReason::Major)
    });
    if let Some(held) = major_release.or(major_package) {
        return (
            ModuleReason::MajorAwaitingApproval,
            format!(
                "{} is a major update waiting for approval; `upkeep run --allow-breaking` applies it.",
                held.version
            ),
        );
    }
    let what = match (upstream.and_then(|u| u.held.as_ref()), action) {
        (Some(held), _) => format!("{} ({})", held.version, held.description),
        (None, Action::HeldBack { version, reason }) => format!("{version} ({reason})"),
        (None, other) => other.describe(),
    };
    (
        ModuleReason::PinnedOrHeld,
        format!("Its policy holds back {what}."),
    )
}

/// No schedule, schedules off, and each enabled schedule's newest run that failed or did
/// not start.
fn schedule_reasons(ctx: &Context, facts: &Facts) -> Vec<Reason> {
    let enabled: Vec<&ScheduleRow> = facts.schedules.iter().filter(|s| s.enabled).collect();
    let mut reasons = Vec::new();
    if enabled.is_empty() {
        let message = if facts.schedules.is_empty() {
            "No schedule is defined, so nothing updates on its own.".to_owned()
        } else {
            format!(
                "Every schedule is disabled ({}), so nothing updates on its own.",
                names(facts.schedules.iter().map(|s| s.name.as_str()))
            )
        };
        let hint = facts.schedules.first().map_or_else(
            || "upkeep schedule add NAME --daily 03:00".to_owned(),
            |s| format!("upkeep schedule enable {}", s.name),
        );
        reasons.push(Reason::new(
            ReasonCode::NoScheduleEnabled,
            message,
            Vec::new(),
            Some(hint),
        ));
    } else if !ctx.resolved().schedules_enabled {
        reasons.push(Reason::new(
            ReasonCode::SchedulesTurnedOff,
            "Schedules are turned off (setting schedule.enabled = false), so due schedules are skipped.".to_owned(),
            enabled.iter().map(|s| s.name.clone()).collect(),
            Some("upkeep settings set schedule.enabled true".to_owned()),
        ));
    }
    reasons.extend(enabled.iter().filter_map(|schedule| {
        let run = facts
            .scheduled_runs
            .iter()
            .find(|r| r.schedule == schedule.name)?;
        scheduled_run_reason(schedule, run)
    }));
    reasons
}

/// Why the automation is degraded by `run`, the newest finished run of `schedule`, if it is.
fn scheduled_run_reason(schedule: &ScheduleRow, run: &ScheduledRun) -> Option<Reason> {
    let at = timestamp(run.started_ms);
    let (code, message) = match run.result {
        RunStatus::NotStarted => (
            ReasonCode::ScheduledRunNotStarted,
            format!(
                "The last run of schedule `{}` (run {}, {at}) could not start: {}.",
                schedule.name,
                run.run_id,
                run.reason.as_deref().unwrap_or("no reason recorded")
            ),
        ),
        RunStatus::Failed | RunStatus::IntegrityRefused | RunStatus::Interrupted => (
            ReasonCode::ScheduledRunFailed,
            format!(
                "The last run of schedule `{}` (run {}, {at}) ended {}.",
                schedule.name, run.run_id, run.result
            ),
        ),
        RunStatus::Running | RunStatus::Succeeded | RunStatus::Cancelled => return None,
    };
    Some(Reason::new(
        code,
        message,
        vec![schedule.name.clone()],
        Some("upkeep history --limit 5".to_owned()),
    ))
}

/// `a, b, c`.
fn names<'a>(names: impl Iterator<Item = &'a str>) -> String {
    names.collect::<Vec<_>>().join(", ")
}

/// The check period and threshold (see [`ReasonCode::ChecksStale`]).
fn checks(ctx: &Context, manifest: &Manifest, facts: &Facts, now_ms: i64) -> Checks {
    let interval =
        i64::try_from(ctx.resolved().update_check_interval.as_secs()).unwrap_or(i64::MAX);
    let schedules_fire = ctx.resolved().schedules_enabled;
    let most_frequent = facts
        .schedules
        .iter()
        .filter(|s| s.enabled && schedules_fire)
        .filter_map(|s| longest_gap_secs(s, now_ms))
        .min();
    let period = most_frequent.map_or(interval, |gap| gap.max(interval));
    Checks {
        expected: manifest.modules.iter().any(|m| m.source.is_some()),
        last_answered_ms: facts.last_answered_ms,
        period_secs: period,
        stale_after_secs: period.saturating_mul(2),
    }
}

/// How many firings ahead [`longest_gap_secs`] looks: enough for a weekly schedule on
/// two days or a monthly one on the 31st to show its longest gap.
const GAPS_LOOKED_AT: usize = 8;

/// The longest gap between the next few firings of `schedule`, in seconds; `None` when its
/// spec or zone cannot be read or it never fires.
fn longest_gap_secs(schedule: &ScheduleRow, now_ms: i64) -> Option<i64> {
    let spec = crate::schedule::store::spec_of(schedule).ok()?;
    let tz = crate::schedule::store::time_zone(&schedule.time_zone).ok()?;
    let mut at = jiff::Timestamp::from_millisecond(now_ms).ok()?;
    let mut firings = Vec::with_capacity(GAPS_LOOKED_AT + 1);
    for _ in 0..=GAPS_LOOKED_AT {
        at = spec.next_after(at, &tz)?;
        firings.push(at.as_second());
    }
    firings.windows(2).map(|w| w[1] - w[0]).max()
}

fn stale_reason(checks: &Checks, facts: &Facts, now_ms: i64) -> Option<Reason> {
    if !checks.expected {
        return None;
    }
    let first_schedule = facts
        .schedules
        .iter()
        .filter(|s| s.enabled)
        .map(|s| s.created_ms)
        .min();
    let since = checks.last_answered_ms.or(first_schedule)?;
    let age_secs = (now_ms - since) / 1000;
    if age_secs <= checks.stale_after_secs {
        return None;
    }
    let age = crate::duration::format_duration(std::time::Duration::from_secs(
        u64::try_from(age_secs).unwrap_or(0),
    ));
    let limit = crate::duration::format_duration(std::time::Duration::from_secs(
        u64::try_from(checks.stale_after_secs).unwrap_or(0),
    ));
    let message = match checks.last_answered_ms {
        Some(at) => format!(
            "The newest answered update check is {age} old ({}), more than {limit}: is the daemon or a schedule running?",
            timestamp(at)
        ),
        None => format!(
            "No update check has been answered in the {age} since the first schedule was added (more than {limit})."
        ),
    };
    Some(Reason::new(
        ReasonCode::ChecksStale,
        message,
        Vec::new(),
        Some("upkeep check".to_owned()),
    ))
}

fn held_reason(modules: &[StatusRow]) -> Option<Reason> {
    let held: Vec<String> = modules
        .iter()
        .filter(|m| m.reason == Some(ModuleReason::NeedsIntervention))
        .map(|m| m.module.clone())
        .collect();
    let first = held.first()?.clone();
    let message = format!(
        "{} held for manual intervention after a failed rollback: {}.",
        crate::message::count(held.len(), "module is", "modules are"),
        held.join(", ")
    );
    Some(Reason::new(
        ReasonCode::ModulesNeedIntervention,
        message,
        held,
        Some(format!("upkeep status {first}; then upkeep clear {first}")),
    ))
}

/// Each channel of the settings whose newest delivery with an outcome failed.
fn channel_reasons(ctx: &Context, facts: &Facts) -> Vec<Reason> {
    let defined = &ctx.resolved().channels;
    facts
        .channels
        .iter()
        .filter(|a| !a.delivered && defined.contains_key(&a.channel))
        .map(|a| {
            let how = if a.failed_ms.is_some() {
                "was given up"
            } else {
                "failed and waits for its retry"
            };
            let message = format!(
                "Channel `{}` is failing: its newest notification ({}, {}) {how} after {}{}; {} since its last delivery.",
                a.channel,
                a.kind,
                timestamp(a.created_ms),
                crate::message::count(a.attempts as usize, "attempt", "attempts"),
                a.last_error
                    .as_deref()
                    .map(|e| format!(": {e}"))
                    .unwrap_or_default(),
                crate::message::count(
                    a.failures_since_delivery as usize,
                    "failed notification",
                    "failed notifications"
                ),
            );
            Reason::new(
                ReasonCode::NotificationChannelFailing,
                message,
                vec![a.channel.clone()],
                Some(format!("upkeep notify test {}", a.channel)),
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The codes are the API's and the metrics' labels: `as_str` and JSON spell each the
    /// same, and no two alike.
    #[test]
    fn every_code_is_spelled_once_and_the_same_in_json() {
        let json = |v: &dyn erased::Spelled| v.json();
        let codes = [
            ReasonCode::NoScheduleEnabled,
            ReasonCode::SchedulesTurnedOff,
            ReasonCode::ScheduledRunNotStarted,
            ReasonCode::ScheduledRunFailed,
            ReasonCode::ChecksStale,
            ReasonCode::ModulesNeedIntervention,
            ReasonCode::NotificationChannelFailing,
        ];
        let reasons = [
            ModuleReason::Disabled,
            ModuleReason::NeedsIntervention,
            ModuleReason::BlockedByDependency,
            ModuleReason::Failed,
            ModuleReason::NeverRun,
            ModuleReason::UpdateAvailable,
            ModuleReason::MajorAwaitingApproval,
            ModuleReason::PinnedOrHeld,
            ModuleReason::UpToDate,
        ];
        let states = [
            AutomationState::Working,
            AutomationState::Degraded,
            AutomationState::Stopped,
        ];
        let mut seen = HashSet::new();
        for (spelled, text) in codes
            .iter()
            .map(|c| (json(c), c.as_str()))
            .chain(reasons.iter().map(|r| (json(r), r.as_str())))
            .chain(states.iter().map(|s| (json(s), s.as_str())))
        {
            assert_eq!(spelled, text);
            assert!(seen.insert(text), "{text} twice");
        }
        assert!(AutomationState::Stopped > AutomationState::Degraded);
        assert!(AutomationState::Degraded > AutomationState::Working);
    }

    mod erased {
        pub(super) trait Spelled {
            fn json(&self) -> String;
        }
        impl<T: serde::Serialize> Spelled for T {
            fn json(&self) -> String {
                serde_json::to_value(self)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .unwrap_or_default()
            }
        }
    }
}
