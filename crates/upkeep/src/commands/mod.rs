//! One function per subcommand: resolve settings, call the engine, render the result.

mod backup;
mod check;
mod checksum;
mod daemon;
mod files;
mod history;
mod notify;
mod plan;
mod rollback;
mod run;
mod schedule;
mod settings;
mod status;

pub(crate) use notify::{ChannelRow, Tested};
pub(crate) use status::{Metrics, StatusRow};

use std::path::PathBuf;

use clap::CommandFactory;
use upkeep_core::manifest::{self, Manifest};

use crate::cli::{Cli, Command, Global};
use crate::error::CliError;

/// Settings every command shares, resolved once.
pub(crate) struct Context {
    pub(crate) manifest_arg: Option<PathBuf>,
    pub(crate) config: PathBuf,
    pub(crate) state_dir: PathBuf,
    pub(crate) json: bool,
    pub(crate) verbose: bool,
}

impl Context {
    fn new(global: Global) -> Self {
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
        Self {
            manifest_arg: manifest,
            config: config.unwrap_or_else(upkeep_core::settings::default_path),
            state_dir: upkeep_core::paths::state_dir(state_dir),
            json,
            verbose,
        }
    }

    pub(crate) fn settings(&self) -> Result<upkeep_core::settings::Settings, CliError> {
        Ok(upkeep_core::settings::Settings::load(&self.config)?)
    }

    pub(crate) fn load_manifest(&self) -> Result<Manifest, CliError> {
        let path = manifest::locate(self.manifest_arg.as_deref())?;
        Ok(manifest::load(&path)?)
    }
}

/// Run the chosen subcommand and return the exit code.
pub(crate) fn dispatch(cli: Cli) -> Result<i32, CliError> {
    let Cli { global, command } = cli;
    let ctx = Context::new(global);
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
        Command::Backup(command) => backup::backup(&ctx, command),
        Command::Clear { module } => backup::clear(&ctx, &module),
        Command::Rollback(args) => rollback::rollback(&ctx, &args),
        Command::Versions { module } => rollback::versions(&ctx, &module),
        Command::Files(command) => files::files(&ctx, command),
        Command::Prerun(args) => files::prerun(&ctx, args),
        Command::Settings(command) => settings::settings(&ctx, command),
        Command::Notify(command) => notify::notify(&ctx, command),
        Command::Schedule(command) => schedule::schedule(&ctx, command),
        Command::Daemon { once, jitter } => daemon::daemon(&ctx, once, jitter),
        Command::Completions { shell } => {
            // Into memory first: clap_complete panics on a failed write, and a closed
            // pipe must stay a quiet exit.
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut Cli::command(), "upkeep", &mut script);
            print_text(&String::from_utf8_lossy(&script))?;
            Ok(upkeep_core::exit_codes::OK)
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
