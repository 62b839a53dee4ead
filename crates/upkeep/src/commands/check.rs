//! `upkeep check`: what the modules' update sources offer, and what their policies take.

use upkeep_core::exit_codes;
use upkeep_core::manifest::{Manifest, ModuleSpec};
use upkeep_core::settings::Settings;
use upkeep_core::updates::{CheckOptions, UpdateType, check_updates};

use super::{Context, print_json, print_text};
use crate::cli::{CheckArgs, UpdateTypeArg};
use crate::error::CliError;
use crate::render;

/// Exit 0 when every source answered, [`exit_codes::MODULES_FAILED`] when any failed (the
/// others are still reported and cached).
pub(crate) fn check(ctx: &Context, args: CheckArgs) -> Result<i32, CliError> {
    let CheckArgs {
        modules,
        kind,
        security_only,
        details,
        cached,
    } = args;
    let manifest = ctx.load_manifest()?;
    let update_type = match kind {
        UpdateTypeArg::App => Some(UpdateType::App),
        UpdateTypeArg::Packages => Some(UpdateType::Packages),
        UpdateTypeArg::Config => Some(UpdateType::Config),
        UpdateTypeArg::Dependencies => Some(UpdateType::Dependencies),
        UpdateTypeArg::All => None,
    };
    let settings = ctx.settings()?;
    let options = CheckOptions {
        modules,
        update_type,
        security_only,
        cached,
        routing: settings.notify_routing(),
    };
    let report = check_updates(&manifest, &ctx.state_dir, &options)?;
    if !cached {
        // "Update available" events are committed with the checks.
        super::notify::deliver_due(ctx, &settings);
    }
    if ctx.json {
        print_json(&report)?;
    } else {
        print_text(&render::check_report(&report, details))?;
    }
    Ok(if report.summary.failed > 0 {
        exit_codes::MODULES_FAILED
    } else {
        exit_codes::OK
    })
}

/// Ask the update sources of `manifest`'s modules (of `types`, or all) before a scheduled
/// run, `run --check` or a daemon's periodic check, so the plan sees what is out there.
/// Sources that fail are reported on stderr and the caller goes on: a run uses what the
/// ledger last cached for them. Does nothing when no module has a source.
pub(crate) fn refresh(
    ctx: &Context,
    manifest: &Manifest,
    settings: &Settings,
    types: &[UpdateType],
) -> Result<(), CliError> {
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
        routing: settings.notify_routing(),
        ..CheckOptions::default()
    };
    let report = check_updates(manifest, &ctx.state_dir, &options)?;
    let summary = &report.summary;
    crate::printer::get().status(&format!(
        "checked {} update source{}: {} update{} available, {} failed",
        summary.modules_checked,
        if summary.modules_checked == 1 {
            ""
        } else {
            "s"
        },
        summary.updates,
        if summary.updates == 1 { "" } else { "s" },
        summary.failed
    ));
    for module in report.modules.iter().filter(|m| m.error.is_some()) {
        crate::printer::get().message(&format!(
            "  {}: {}",
            module.module,
            module.error.as_deref().unwrap_or_default()
        ));
    }
    Ok(())
}
