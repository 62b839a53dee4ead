//! One function per subcommand: resolve settings, call the engine, render the result.

mod audit;
mod backup;
mod check;
mod checksum;
mod completions;
pub(crate) mod daemon;
mod doctor;
mod files;
mod history;
mod notify;
mod plan;
mod rollback;
mod run;
mod schedule;
mod settings;
mod status;
mod token;

use crate::cli::{Cli, Command, Global};
use crate::error::CliError;

/// What every command shares: the engine's context, resolved once from the global flags,
/// and how to print.
pub(crate) struct Context {
    pub(crate) ops: upkeep_core::ops::Context,
    pub(crate) json: bool,
    pub(crate) verbose: bool,
}

impl Context {
    fn new(global: Global) -> Result<Self, CliError> {
        let Global {
            manifest,
            state_dir,
            config,
            json,
            verbose,
            // The printer took these in `main`.
            quiet: _,
            color: _,
        } = global;
        let ops = upkeep_core::ops::Context::resolve(upkeep_core::ops::Given {
            manifest,
            state_dir,
            config,
        })?;
        crate::init_tracing(&ops.resolved().log_level);
        for warning in &ops.resolved().warnings {
            crate::printer::get()
                .message(&format!("warning: {}: {warning}", ops.config().display()));
        }
        Ok(Self { ops, json, verbose })
    }

    pub(crate) fn state_dir(&self) -> &std::path::Path {
        self.ops.state_dir()
    }
}

/// A command's JSON value with the manifest it read beside its own fields: `status`,
/// `history` and `plan` say which manifest they used, since without `--manifest` it may be
/// the one in the current directory or the last run's.
#[derive(serde::Serialize)]
pub(crate) struct WithManifest<'a, T: serde::Serialize> {
    pub(crate) manifest: Option<&'a upkeep_core::ops::ManifestChoice>,
    #[serde(flatten)]
    pub(crate) value: &'a T,
}

impl Context {
    /// The manifest this command uses, if one was found; in text mode, a status line
    /// names it when the person did not (`manifest: /abs/manifest.json (from the last
    /// run)`), so a remembered manifest is never used silently.
    pub(crate) fn manifest_used(&self) -> Option<&upkeep_core::ops::ManifestChoice> {
        let chosen = self.ops.manifest_chosen().ok()?;
        if !self.json && chosen.from != upkeep_core::ops::ManifestOrigin::Given {
            crate::printer::get().status(&format!(
                "manifest: {} ({})",
                chosen.path.display(),
                chosen.from.describe()
            ));
        }
        Some(chosen)
    }
}

/// Run the chosen subcommand and return the exit code.
pub(crate) fn dispatch(cli: Cli) -> Result<i32, CliError> {
    let Cli { global, command } = cli;
    // These need no manifest, state or settings: a packager runs them at build time.
    match command {
        Command::Completions { shell } => return completions::completions(shell),
        Command::Man { dir } => return completions::man(dir.as_deref()),
        _ => {}
    }
    let ctx = Context::new(global)?;
    match command {
        Command::Plan(args) => plan::plan(&ctx, args),
        Command::Run(args) => run::run(&ctx, args),
        Command::Check(args) => check::check(&ctx, args),
        Command::Status {
            module,
            metrics,
            wide,
        } => status::status(&ctx, module.as_deref(), metrics, wide),
        Command::History(args) => history::history(&ctx, args),
        Command::Checksum(args) => checksum::checksum(&ctx, args),
        Command::Doctor => doctor::doctor(&ctx),
        Command::Backup(command) => backup::backup(&ctx, command),
        Command::Clear { module } => backup::clear(&ctx, &module),
        Command::Rollback(args) => rollback::rollback(&ctx, args),
        Command::Versions { module } => rollback::versions(&ctx, &module),
        Command::Files(command) => files::files(&ctx, command),
        Command::Prerun(args) => files::prerun(&ctx, args),
        Command::Settings(command) => settings::settings(&ctx, command),
        Command::Notify(command) => notify::notify(&ctx, command),
        Command::Schedule(command) => schedule::schedule(&ctx, command),
        Command::Daemon { once, jitter } => daemon::daemon(&ctx, once, jitter),
        Command::Serve(args) => crate::serve::serve(&ctx, args),
        Command::Token(command) => token::token(&ctx, command),
        Command::Audit { since } => audit::audit(&ctx, since),
        Command::CompleteModules => completions::complete_modules(&ctx),
        Command::Completions { .. } | Command::Man { .. } => {
            unreachable!("answered before the context is resolved")
        }
    }
}

/// Answers the engine's questions: yes with `--yes`, else on the terminal, else no.
pub(crate) struct Ask {
    pub(crate) yes: bool,
}

impl upkeep_core::ops::Confirm for Ask {
    fn confirm(&self, question: &str) -> Result<(), upkeep_core::ops::Unconfirmed> {
        use std::io::IsTerminal;
        use upkeep_core::ops::Unconfirmed;
        if self.yes {
            return Ok(());
        }
        if !std::io::stdin().is_terminal() {
            return Err(Unconfirmed::NoTerminal);
        }
        crate::printer::get().prompt(&format!("{question} [y/N] "));
        let mut answer = String::new();
        if std::io::stdin().read_line(&mut answer).is_err() {
            return Err(Unconfirmed::NoTerminal);
        }
        if matches!(answer.trim(), "y" | "Y" | "yes" | "YES" | "Yes") {
            Ok(())
        } else {
            Err(Unconfirmed::Declined)
        }
    }
}

/// Print text on stdout through the printer; a closed pipe (`upkeep plan | head`) is an
/// error the caller turns into a quiet exit, not a panic.
pub(crate) fn print_text(text: &str) -> Result<(), CliError> {
    Ok(crate::printer::get().data(text)?)
}

/// Print a value as pretty JSON on stdout.
pub(crate) fn print_json(value: &(impl serde::Serialize + ?Sized)) -> Result<(), CliError> {
    Ok(crate::printer::get().json_value(value)?)
}
