//! `upkeep check`, and the look at the update sources a run takes first.

use std::sync::Arc;

use super::{Context, Error};
use crate::manifest::{Manifest, ModuleSpec};
use crate::notify::Notifier;
use crate::run::{Reporter, RunEvent};
use crate::updates::{CheckOptions, UpdateReport, UpdateType, check_updates};

/// What a person asks of `upkeep check`.
#[derive(Debug, Clone, Default)]
pub struct CheckRequest {
    /// Only these modules; empty: every module with a source.
    pub modules: Vec<String>,
    /// Only sources of this type.
    pub update_type: Option<UpdateType>,
    /// Report only security updates (and failed sources).
    pub security_only: bool,
    /// Read the ledger's cached answers without asking any source.
    pub cached: bool,
}

/// Ask the selected sources (or read their cached answers), record the answers and
/// announce new versions ("update available", delivered before this returns, bounded).
///
/// # Errors
/// A module named that does not exist or has no source, the manifest, or the ledger.
pub fn check(ctx: &Context, request: CheckRequest) -> Result<UpdateReport, Error> {
    let CheckRequest {
        modules,
        update_type,
        security_only,
        cached,
    } = request;
    let manifest = ctx.manifest()?;
    let options = CheckOptions {
        modules,
        update_type,
        security_only,
        cached,
        routing: ctx.resolved().routing.clone(),
    };
    let report = check_updates(&manifest, ctx.state_dir(), &options)?;
    if !cached {
        // Its "update available" events were committed with the checks.
        super::run::Delivery::start(ctx).finish();
    }
    Ok(report)
}

/// Ask the sources of `manifest`'s modules (of `types`, or all) before a run plans, so the
/// plan sees what is out there; tells `reporter` what was found. Sources that fail are
/// reported and the run goes on with what the ledger last cached for them. Does nothing
/// when no module has a source.
///
/// # Errors
/// The ledger fails.
pub(super) fn refresh(
    ctx: &Context,
    manifest: &Manifest,
    types: &[UpdateType],
    notifier: &Notifier,
    reporter: &Arc<dyn Reporter>,
) -> Result<(), Error> {
    let with_source = |m: &&ModuleSpec| {
        m.source
            .as_ref()
            .is_some_and(|s| types.is_empty() || types.contains(&s.update_type))
    };
    let modules: Vec<String> = manifest
        .modules
        .iter()
        .filter(with_source)
        .map(|m| m.name.clone())
        .collect();
    if modules.is_empty() {
        return Ok(());
    }
    let options = CheckOptions {
        modules,
        routing: notifier.routing.clone(),
        ..CheckOptions::default()
    };
    let report = check_updates(manifest, ctx.state_dir(), &options)?;
    notifier.wake();
    reporter.event(&RunEvent::Checked {
        checked: report.summary.modules_checked,
        updates: report.summary.updates,
        failed: report
            .modules
            .iter()
            .filter_map(|m| Some((m.module.clone(), m.error.clone()?)))
            .collect(),
    });
    Ok(())
}

/// Ask every source when the newest check is older than `update.update_check_interval`
/// (the daemon's periodic look; new versions are announced as they are recorded).
/// Returns when the next check is due (ms since the epoch); `None` when no module has a
/// source. A manifest that does not load is told to `reporter` and looked at again after
/// the interval.
///
/// # Errors
/// The ledger fails.
pub fn refresh_if_due(ctx: &Context, reporter: &Arc<dyn Reporter>) -> Result<Option<i64>, Error> {
    let interval = ctx.resolved().update_check_interval;
    let interval = i64::try_from(interval.as_millis()).unwrap_or(i64::MAX);
    let last = match ctx.existing_ledger()? {
        Some(ledger) => ledger.last_check_ms()?,
        None => None,
    };
    let now = ctx.clock().now_ms();
    if let Some(last) = last.filter(|last| now - last < interval) {
        return Ok(Some(last.saturating_add(interval)));
    }
    let manifest = match ctx.manifest() {
        Ok(manifest) => manifest,
        Err(err) => {
            reporter.event(&RunEvent::Warning(format!(
                "cannot check for updates: {err}"
            )));
            return Ok(Some(now.saturating_add(interval)));
        }
    };
    if !manifest.modules.iter().any(|m| m.source.is_some()) {
        return Ok(None);
    }
    let notifier = ctx.notifier(None);
    refresh(ctx, &manifest, &[], &notifier, reporter)?;
    Ok(Some(now.saturating_add(interval)))
}
