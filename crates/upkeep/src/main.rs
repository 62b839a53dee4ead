//! `upkeep`: keep the software on a host up to date, safely.
//!
//! This binary only parses the command line, calls one function of the engine
//! (`upkeep-core`) per subcommand, and renders what comes back. Exit codes are documented
//! in `upkeep_core::exit_codes`.

mod cli;
mod commands;
mod error;
mod render;

use clap::Parser;

fn main() {
    let cli = cli::Cli::parse();
    let json = cli.global.json;
    let code = match commands::dispatch(cli) {
        Ok(code) => code,
        Err(err) => error::report(&err, json),
    };
    std::process::exit(code);
}
