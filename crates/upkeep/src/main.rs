//! `upkeep`: keep the software on a host up to date, safely.
//!
//! This binary only parses the command line, calls one function of the engine
//! (`upkeep-core`) per subcommand, and renders what comes back. Exit codes are documented
//! in `upkeep_core::exit_codes`.

mod cli;
mod commands;
mod error;
mod render;

use clap::Parser as _;

/// Diagnostics for upkeep's own behaviour (spawns, ledger commits) go to stderr when
/// `UPKEEP_LOG` is set, e.g. `UPKEEP_LOG=debug`; they are off otherwise.
fn init_tracing() {
    if let Ok(filter) = tracing_subscriber::EnvFilter::try_from_env("UPKEEP_LOG") {
        use std::io::IsTerminal;
        let ansi = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
        tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_ansi(ansi)
            .with_writer(std::io::stderr)
            .init();
    }
}

fn main() {
    upkeep_core::failpoint::setup();
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let cli = match cli::Cli::try_parse_from(&args) {
        Ok(cli) => cli,
        Err(err) => std::process::exit(error::report_usage(&err, &args)),
    };
    init_tracing();
    let json = cli.global.json;
    let code = match commands::dispatch(cli) {
        Ok(code) => code,
        Err(err) => error::report(&err, json),
    };
    std::process::exit(code);
}
