//! `upkeep files plan|apply|owned` and `upkeep prerun`: ae.updater's deployments, with a
//! plan, a ledger of what upkeep owns and a record of the scripts it ran.

use std::fmt::Write as _;
use std::io::IsTerminal;

use upkeep_core::deploy::{PlanOptions, ScriptOptions};
use upkeep_core::exit_codes;
use upkeep_core::files::{self, FilesOptions};
use upkeep_core::lock::RunLock;
use upkeep_core::state::Ledger;

use super::{Context, print_json, print_text};
use crate::cli::{DeployArgs, FilesCommand};
use crate::error::{CliError, io};
use crate::render;

pub(crate) fn files(ctx: &Context, command: FilesCommand) -> Result<i32, CliError> {
    match command {
        FilesCommand::Plan(args) => plan(ctx, args),
        FilesCommand::Apply(args) => apply(ctx, args),
        FilesCommand::Owned => owned(ctx),
    }
}

/// Settings from the command line, resolved once.
fn options(ctx: &Context, args: DeployArgs) -> Result<FilesOptions, CliError> {
    let DeployArgs {
        root,
        to,
        placeholders,
        allow_roots,
        force,
        keep_scripts,
        command,
    } = args;
    let root = match root {
        Some(root) if !root.is_dir() => {
            return Err(CliError::NotADirectory {
                flag: "--root",
                path: root,
            });
        }
        Some(root) => std::path::absolute(&root).map_err(io("resolve --root"))?,
        None => std::env::current_dir().map_err(io("find the current directory"))?,
    };
    let mut plan = PlanOptions {
        placeholders: placeholders.into_iter().collect(),
        allowed_roots: (!allow_roots.is_empty())
            .then(|| allow_roots.iter().map(std::path::absolute).collect())
            .transpose()
            .map_err(io("resolve --allow-root"))?,
        ..PlanOptions::default()
    };
    if let Some(to) = to {
        plan.default_destination = to;
    }
    let scripts = ScriptOptions {
        log_dir: ctx
            .state_dir
            .join("logs")
            .join(format!("prerun-{}", upkeep_core::state::now_ms())),
        keep_after_success: keep_scripts,
        ..ScriptOptions::default()
    };
    Ok(FilesOptions {
        root,
        plan,
        scripts,
        force,
        module: None,
        run_id: None,
        pre_run_command: command,
    })
}

fn plan(ctx: &Context, args: DeployArgs) -> Result<i32, CliError> {
    let options = options(ctx, args)?;
    let ledger = Ledger::open_existing(&ctx.state_dir)?;
    let plan = files::plan(ledger.as_ref(), &options)?;
    if ctx.json {
        print_json(&plan)?;
    } else {
        print_text(&render::deploy_plan(&plan))?;
    }
    Ok(exit_codes::OK)
}

fn apply(ctx: &Context, args: DeployArgs) -> Result<i32, CliError> {
    let mut options = options(ctx, args)?;
    let _lock =
        RunLock::acquire(&ctx.state_dir, false).map_err(upkeep_core::run::RunError::from)?;
    let mut ledger = Ledger::open(&ctx.state_dir)?;
    if !options.force && !ctx.json && std::io::stdin().is_terminal() {
        options.force = ask_about_conflicts(&ledger, &options)?;
    }
    let (plan, applied) = files::apply(&mut ledger, &options)?;
    if ctx.json {
        print_json(&serde_json::json!({ "plan": plan, "applied": applied }))?;
    } else {
        print_text(&render::deploy_applied(&plan, &applied))?;
    }
    Ok(deploy_code(&applied, &[]))
}

/// On a terminal, list the files someone changed since upkeep wrote them and ask whether
/// to overwrite them; without one, conflicts are refused unless `--force`.
fn ask_about_conflicts(ledger: &Ledger, options: &FilesOptions) -> Result<bool, CliError> {
    let plan = files::plan(Some(ledger), options)?;
    let conflicts: Vec<_> = plan
        .files
        .iter()
        .filter(|f| f.action == upkeep_core::deploy::Action::Conflict)
        .filter_map(|f| f.destination.as_ref())
        .collect();
    if conflicts.is_empty() {
        return Ok(false);
    }
    for path in &conflicts {
        eprintln!("  changed since upkeep wrote it: {}", path.display());
    }
    let question = format!(
        "overwrite {}",
        upkeep_core::message::count(conflicts.len(), "changed file", "changed files")
    );
    Ok(super::backup::confirm(&question, false).is_ok())
}

pub(crate) fn prerun(ctx: &Context, args: DeployArgs) -> Result<i32, CliError> {
    let options = options(ctx, args)?;
    let _lock =
        RunLock::acquire(&ctx.state_dir, false).map_err(upkeep_core::run::RunError::from)?;
    let mut ledger = Ledger::open(&ctx.state_dir)?;
    let done = files::prerun(&mut ledger, &options)?;
    if ctx.json {
        print_json(&done)?;
    } else {
        let mut text = String::new();
        if let Some(c) = &done.command {
            let verdict = c.detail.as_deref().unwrap_or("ok");
            let _ = writeln!(text, "ran     `{}` ({verdict})", c.command);
        }
        text.push_str(&render::scripts_run(&done.scripts));
        text.push_str(&render::deploy_applied(&done.plan, &done.applied));
        print_text(&text)?;
    }
    let command_ok = done.command.as_ref().is_none_or(|c| c.succeeded);
    Ok(if command_ok {
        deploy_code(&done.applied, &done.scripts)
    } else {
        exit_codes::MODULES_FAILED
    })
}

/// 0 when every file and script went through; 3 when one failed or a conflict was left.
fn deploy_code(
    applied: &upkeep_core::deploy::Applied,
    scripts: &[upkeep_core::deploy::ScriptRun],
) -> i32 {
    let conflicts = applied
        .skipped
        .iter()
        .any(|s| s.action == upkeep_core::deploy::Action::Conflict);
    if applied.failed.is_empty()
        && !conflicts
        && scripts
            .iter()
            .all(upkeep_core::deploy::ScriptRun::succeeded)
    {
        exit_codes::OK
    } else {
        exit_codes::MODULES_FAILED
    }
}

fn owned(ctx: &Context) -> Result<i32, CliError> {
    let owned = match Ledger::open_existing(&ctx.state_dir)? {
        Some(ledger) => files::owned(&ledger)?,
        None => Vec::new(),
    };
    if ctx.json {
        print_json(&owned)?;
    } else {
        print_text(&render::owned_files(&owned))?;
    }
    Ok(exit_codes::OK)
}
