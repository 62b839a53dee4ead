//! `upkeep files plan|apply|owned` and `upkeep prerun`: ae.updater's deployments, with a
//! plan, a ledger of what upkeep owns and a record of the scripts it ran.

use std::fmt::Write as _;
use std::io::IsTerminal;

use upkeep_core::deploy::{Action, Applied, ScriptRun};
use upkeep_core::exit_codes;
use upkeep_core::lock::LockHolder;
use upkeep_core::ops::files::{self as ops, DeployRequest};

use super::{Ask, Context, print_json, print_text};
use crate::cli::{DeployArgs, FilesCommand};
use crate::error::CliError;
use crate::render;

pub(crate) fn files(ctx: &Context, command: FilesCommand) -> Result<i32, CliError> {
    match command {
        FilesCommand::Plan(args) => plan(ctx, args),
        FilesCommand::Apply(args) => apply(ctx, args),
        FilesCommand::Owned => owned(ctx),
    }
}

fn request(args: DeployArgs) -> DeployRequest {
    let DeployArgs {
        root,
        to,
        placeholders,
        allow_roots,
        force,
        keep_scripts,
        command,
        wait_timeout,
    } = args;
    DeployRequest {
        root,
        to,
        placeholders: placeholders.into_iter().collect(),
        allow_roots,
        force,
        keep_scripts,
        command,
        wait: wait_timeout,
    }
}

/// Say who holds the run lock before waiting for it, so a start-up that pauses says why.
fn waiting(wait: std::time::Duration) -> impl Fn(&LockHolder) {
    move |holder| {
        let pid = holder
            .pid
            .map_or_else(|| "another upkeep".to_owned(), |p| format!("pid {p}"));
        crate::printer::get().status(&format!(
            "waiting up to {} for {pid}, which holds the run lock",
            upkeep_core::duration::format_duration(wait)
        ));
    }
}

fn plan(ctx: &Context, args: DeployArgs) -> Result<i32, CliError> {
    let plan = ops::plan(&ctx.ops, request(args))?;
    if ctx.json {
        print_json(&plan)?;
    } else {
        print_text(&render::deploy_plan(&plan))?;
    }
    Ok(exit_codes::OK)
}

fn apply(ctx: &Context, args: DeployArgs) -> Result<i32, CliError> {
    let mut request = request(args);
    if !request.force && !ctx.json && std::io::stdin().is_terminal() {
        request.force = ask_about_conflicts(ctx, &request)?;
    }
    let wait = request.wait;
    let (plan, applied) = ops::apply(&ctx.ops, request, &waiting(wait))?;
    if ctx.json {
        print_json(&serde_json::json!({ "plan": plan, "applied": applied }))?;
    } else {
        print_text(&render::deploy_applied(&plan, &applied))?;
    }
    Ok(deploy_code(&applied, &[]))
}

/// On a terminal, list the files someone changed since upkeep wrote them and ask whether
/// to overwrite them; without one, conflicts are refused unless `--force`.
fn ask_about_conflicts(ctx: &Context, request: &DeployRequest) -> Result<bool, CliError> {
    let conflicts = ops::conflicts(&ctx.ops, request.clone())?;
    if conflicts.is_empty() {
        return Ok(false);
    }
    for path in &conflicts {
        crate::printer::get().message(&format!(
            "  changed since upkeep wrote it: {}",
            path.display()
        ));
    }
    let files = upkeep_core::message::count(conflicts.len(), "changed file", "changed files");
    let question = format!("overwrite {files}");
    Ok(upkeep_core::ops::Confirm::confirm(&Ask { yes: false }, &question).is_ok())
}

pub(crate) fn prerun(ctx: &Context, args: DeployArgs) -> Result<i32, CliError> {
    let request = request(args);
    let wait = request.wait;
    let done = ops::prerun(&ctx.ops, request, &waiting(wait))?;
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

/// 0 when every file and script went through; 3 when a file failed, was refused or was
/// left in conflict, or a script failed.
fn deploy_code(applied: &Applied, scripts: &[ScriptRun]) -> i32 {
    let held = applied
        .skipped
        .iter()
        .any(|s| matches!(s.action, Action::Conflict | Action::Refused(_)));
    if applied.failed.is_empty() && !held && scripts.iter().all(ScriptRun::succeeded) {
        exit_codes::OK
    } else {
        exit_codes::MODULES_FAILED
    }
}

fn owned(ctx: &Context) -> Result<i32, CliError> {
    let owned = ops::owned(&ctx.ops)?;
    if ctx.json {
        print_json(&owned)?;
    } else {
        print_text(&render::owned_files(&owned))?;
    }
    Ok(exit_codes::OK)
}
