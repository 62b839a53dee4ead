//! What people read: status, figures, history, a plan, the versions a module can go back
//! to. None of these writes anything or creates the state directory.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

use super::{Context, Error};
use crate::plan::{self, Plan, PlanOptions};
use crate::rollback::VersionInfo;
use crate::state::{History, HistoryFilter, RunMetrics};
use crate::updates::UpdateType;

/// A Unix-epoch millisecond time as RFC 3339 UTC, to the second.
pub fn timestamp(ms: i64) -> String {
    jiff::Timestamp::from_millisecond(ms).map_or_else(
        |_| ms.to_string(),
        |t| t.round(jiff::Unit::Second).unwrap_or(t).to_string(),
    )
}

pub use super::status::StatusRow;

/// Every module of the manifest (in manifest order), then the modules the ledger knows
/// that the manifest no longer has (by name): the rows of [`super::status::status`].
///
/// # Errors
/// The manifest or the ledger.
pub fn status(ctx: &Context) -> Result<Vec<StatusRow>, Error> {
    Ok(super::status::status(ctx)?.modules)
}

/// The state's figures for `upkeep status`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Metrics {
    /// The state directory.
    pub state_dir: PathBuf,
    /// Runs: last run, success rates.
    #[serde(flatten)]
    pub runs: RunMetrics,
    /// When the newest update check ended (ms since the epoch).
    pub last_check_ms: Option<i64>,
    /// Bytes per entry of the state directory.
    pub disk_usage: Vec<(String, u64)>,
    /// Bytes in all.
    pub disk_usage_total: u64,
}

/// The state's figures.
///
/// # Errors
/// The ledger.
pub fn metrics(ctx: &Context) -> Result<Metrics, Error> {
    let (runs, last_check_ms) = match ctx.existing_ledger()? {
        Some(ledger) => (
            ledger.run_metrics(ctx.clock().now_ms())?,
            ledger.last_check_ms()?,
        ),
        None => (RunMetrics::default(), None),
    };
    let disk_usage = crate::paths::disk_usage(ctx.state_dir());
    Ok(Metrics {
        state_dir: ctx.state_dir().to_path_buf(),
        runs,
        last_check_ms,
        disk_usage_total: disk_usage.iter().map(|(_, n)| n).sum(),
        disk_usage,
    })
}

/// Which runs `history` shows.
#[derive(Debug, Clone, Default)]
pub struct HistoryRequest {
    /// Only runs started within this long before now.
    pub since: Option<Duration>,
    /// Only outcomes of these modules.
    pub modules: Vec<String>,
    /// Only outcomes of these kinds (empty: all).
    pub outcomes: Vec<crate::state::ModuleOutcome>,
    /// At most this many runs (0: all).
    pub limit: usize,
}

/// Past runs, per-module outcomes, success rates and mean durations.
///
/// # Errors
/// The ledger, or a module filter that names a module neither the manifest nor the
/// history knows ([`Error::UnknownFilter`], with the closest name).
pub fn history(ctx: &Context, request: HistoryRequest) -> Result<History, Error> {
    let HistoryRequest {
        since,
        modules,
        outcomes,
        limit,
    } = request;
    let ledger = ctx.existing_ledger()?;
    check_history_modules(ctx, ledger.as_ref(), &modules)?;
    let since_ms = since.map(|d| {
        let ms = i64::try_from(d.as_millis()).unwrap_or(i64::MAX);
        ctx.clock().now_ms().saturating_sub(ms)
    });
    let filter = HistoryFilter {
        since_ms,
        modules,
        outcomes,
        limit,
    };
    Ok(match ledger {
        Some(ledger) => ledger.history(&filter)?,
        None => History::default(),
    })
}

/// Refuse a module filter that names no module the manifest declares or the history
/// holds, so a misspelt name is named instead of matching nothing. The manifest is only
/// one of the two sources: a module removed from it keeps its history, and a manifest
/// that cannot be read does not stop a look at the past (the history's names still count).
fn check_history_modules(
    ctx: &Context,
    ledger: Option<&crate::state::Ledger>,
    modules: &[String],
) -> Result<(), Error> {
    if modules.is_empty() {
        return Ok(());
    }
    let mut known: Vec<String> = match ledger {
        Some(ledger) => ledger.history_modules()?,
        None => Vec::new(),
    };
    if let Ok(manifest) = ctx.manifest() {
        known.extend(manifest.modules.iter().map(|m| m.name.clone()));
    }
    let Some(unknown) = modules.iter().find(|m| !known.contains(m)) else {
        return Ok(());
    };
    Err(Error::UnknownFilter {
        flag: "--module",
        value: unknown.clone(),
        suggestion: crate::text::suggest(unknown, known.iter().map(String::as_str)),
    })
}

/// What a person asks of `upkeep plan`.
#[derive(Debug, Clone, Default)]
pub struct PlanRequest {
    /// Modules to plan for.
    pub targets: Vec<String>,
    /// Plan to rerun modules that are up to date.
    pub force: bool,
    /// Take major and breaking updates that policies hold back.
    pub allow_breaking: bool,
    /// Only modules whose updates are of these types.
    pub types: Vec<UpdateType>,
    /// Ask the update sources first (this writes their answers to the ledger).
    pub check_first: bool,
}

/// What a run would do, in what order, and why.
///
/// # Errors
/// The manifest, unknown targets, or the ledger.
pub fn plan(
    ctx: &Context,
    request: PlanRequest,
    reporter: &std::sync::Arc<dyn crate::run::Reporter>,
) -> Result<PlanReport, Error> {
    let PlanRequest {
        targets,
        force,
        allow_breaking,
        types,
        check_first,
    } = request;
    let manifest = ctx.manifest()?;
    if check_first {
        let delivery = super::run::Delivery::start(ctx);
        let refreshed =
            super::check::refresh(ctx, &manifest, &types, &delivery.notifier(ctx), reporter);
        delivery.finish();
        refreshed?;
    }
    let ledger = ctx.existing_ledger()?;
    let states = match &ledger {
        Some(ledger) => ledger.module_states()?,
        None => HashMap::new(),
    };
    let options = PlanOptions {
        targets,
        force,
        allow_breaking,
        types,
    };
    let mut plan = plan::plan(&manifest, &states, &options)?;
    let approved = |module: &str, checksum: &str| {
        ledger
            .as_ref()
            .and_then(|l| l.recorded_files(module, checksum).ok().flatten())
    };
    plan.gate(&manifest, hashing_threads(), &approved);
    choose_backups(ctx, &manifest, &mut plan);
    Ok(PlanReport {
        to_run: plan.to_run(),
        refused: plan.refused(),
        blocked: plan.blocked(),
        plan,
        warnings: manifest.warnings.clone(),
    })
}

/// Say how each module that owns paths would have its pre-update backup taken (the roots
/// a run takes for it, logs included, under the resolved settings).
fn choose_backups(ctx: &Context, manifest: &crate::manifest::Manifest, plan: &mut plan::Plan) {
    let claims = crate::backup::OwnedPaths::of(manifest, ctx.state_dir());
    let config = &ctx.resolved().backup;
    for step in &mut plan.steps {
        if manifest.modules[step.module_index].paths.is_empty() {
            continue;
        }
        let kind = crate::backup::BackupKind::Module;
        let modules = [step.name.clone()];
        let roots =
            crate::backup::roots_within(manifest, ctx.state_dir(), kind, &modules, true, &claims);
        step.backup = roots
            .ok()
            .map(|roots| crate::backup::method(&roots, config));
    }
}

/// Threads for hashing module folders: one per core.
pub(crate) fn hashing_threads() -> usize {
    std::thread::available_parallelism().map_or(2, std::num::NonZero::get)
}

/// `upkeep plan`: the plan with the integrity gate's verdicts, and the manifest's warnings.
#[derive(Debug, Clone, serde::Serialize)]
pub struct PlanReport {
    /// The steps in execution order.
    #[serde(flatten)]
    pub plan: Plan,
    /// How many modules a run would start.
    pub to_run: usize,
    /// How many the integrity gate would refuse (each step says why and the fix).
    pub refused: usize,
    /// How many would be blocked by a refused module they need.
    pub blocked: usize,
    /// What loading the manifest found worth saying (keys of the user's own).
    pub warnings: Vec<crate::manifest::Diagnostic>,
}

/// The versions `module` can roll back to, from git tags and backups.
///
/// # Errors
/// The manifest, an unknown module, or the ledger.
pub fn versions(ctx: &Context, module: &str) -> Result<Vec<VersionInfo>, Error> {
    let manifest = ctx.manifest()?;
    Ok(match ctx.existing_ledger()? {
        Some(ledger) => crate::rollback::versions(&manifest, &ledger, module)?,
        None => Vec::new(),
    })
}

/// The digest of a plan: SHA-256 (hex) of its JSON with every object's keys sorted, so the
/// same plan always gives the same digest. A front end shows it with the plan and starts a
/// run only when the plan it would run still has the digest the person confirmed.
pub fn plan_digest(report: &PlanReport) -> String {
    // Through `Value`, whose objects are ordered maps: no field order or map's iteration
    // order can change the text.
    let value = serde_json::to_value(report).unwrap_or(serde_json::Value::Null);
    crate::digest::bytes_hex(value.to_string().as_bytes())
}

/// Run `run_id` as the history shows it (its modules' outcomes and safety events), or
/// `None` when the ledger has no such run.
///
/// # Errors
/// The ledger.
pub fn run(ctx: &Context, run_id: i64) -> Result<Option<crate::state::HistoryRun>, Error> {
    let Some(ledger) = ctx.existing_ledger()? else {
        return Ok(None);
    };
    Ok(ledger.history_run(run_id)?)
}

/// The changes the ledger recorded for `run_id` after `after` (an event's `seq`; 0 for all),
/// in order, and whether the run has finished (then no more will come). `None` when there
/// is no such run.
///
/// # Errors
/// The ledger.
pub fn run_events(
    ctx: &Context,
    run_id: i64,
    after: i64,
) -> Result<Option<(Vec<crate::state::run_events::RunEventRow>, bool)>, Error> {
    let Some(ledger) = ctx.existing_ledger()? else {
        return Ok(None);
    };
    // Whether it has finished is read first: events read after it then include the last.
    let Some((_, finished)) = ledger.run_started(run_id)? else {
        return Ok(None);
    };
    Ok(Some((ledger.run_events(run_id, after)?, finished)))
}

/// How many runs the ledger holds with each result, by result (`succeeded`, `failed`,
/// ...): the run outcome counters of `/metrics`.
///
/// # Errors
/// The ledger.
pub fn run_counts(ctx: &Context) -> Result<Vec<(String, i64)>, Error> {
    Ok(match ctx.existing_ledger()? {
        Some(ledger) => ledger.run_counts()?,
        None => Vec::new(),
    })
}
