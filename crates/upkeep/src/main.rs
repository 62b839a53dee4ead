//! `upkeep`: keep the software on a host up to date, safely.
//!
//! This binary only parses the command line, calls one function of the engine
//! (`upkeep-core`) per subcommand, and renders what comes back. Exit codes are documented
//! in `upkeep_core::exit_codes`.

#![warn(clippy::print_stdout, clippy::print_stderr, clippy::exit)]

mod cli;
mod commands;
mod error;
mod printer;
mod render;
mod serve;

use clap::Parser as _;

/// Diagnostics for upkeep's own behaviour (spawns, ledger commits, notifications that
/// failed) go to stderr at the setting `logging.level` (`level`, off by default), or as
/// `UPKEEP_LOG` says when it is set, e.g. `UPKEEP_LOG=debug`. They go through the printer,
/// coloured as its stderr is. Called once the settings are read.
pub(crate) fn init_tracing(level: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("UPKEEP_LOG")
        .ok()
        .or_else(|| (level != "off").then(|| tracing_subscriber::EnvFilter::new(level)));
    if let Some(filter) = filter {
        tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_ansi(printer::get().stderr_colour())
            .with_writer(|| printer::StderrWriter)
            .init();
    }
}

fn main() -> std::process::ExitCode {
    // Started as upkeep's sentinel, this process only watches for upkeep's death; any other
    // start turns the sentinel on for what this upkeep starts.
    if let Some(code) = upkeep_core::exec::contain() {
        return exit_code(code);
    }
    upkeep_core::failpoint::setup();
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let cli = match cli::Cli::try_parse_from(&args) {
        Ok(cli) => cli,
        Err(err) => return exit_code(error::report_usage(&err, &args)),
    };
    let cli::Global {
        json, quiet, color, ..
    } = cli.global;
    printer::install(printer::Printer::new(printer::Options {
        json,
        quiet,
        color,
    }));
    let code = match commands::dispatch(cli) {
        Ok(code) => code,
        Err(err) => error::report(&err, json),
    };
    exit_code(code)
}

/// Every documented code fits in a byte; anything else is upkeep's own failure.
fn exit_code(code: i32) -> std::process::ExitCode {
    std::process::ExitCode::from(u8::try_from(code).unwrap_or(1))
}
