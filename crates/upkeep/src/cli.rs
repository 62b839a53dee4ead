//! The command line, as clap sees it.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// The exit-code table for `--help`, from the same list the engine documents.
fn exit_codes_help() -> String {
    let rows = upkeep_core::exit_codes::TABLE.iter();
    let rows: Vec<String> = rows
        .map(|(code, meaning)| format!("  {code:<4} {meaning}"))
        .collect();
    format!("Exit codes:\n{}", rows.join("\n"))
}

/// Keep the software on this host up to date, safely: run the update modules of a manifest
/// in dependency order, isolate failures, verify checksums before code runs, and record
/// every run in a ledger.
#[derive(Debug, Parser)]
#[command(name = "upkeep", version, after_long_help = exit_codes_help(), max_term_width = 100)]
pub(crate) struct Cli {
    #[command(flatten)]
    pub(crate) global: Global,
    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Debug, Args)]
pub(crate) struct Global {
    /// The manifest: `upkeep.toml` or the seeds' `manifest.json` [default: ./upkeep.toml, else ./manifest.json]
    #[arg(
        long,
        short = 'm',
        global = true,
        env = "UPKEEP_MANIFEST",
        value_name = "FILE"
    )]
    pub(crate) manifest: Option<PathBuf>,
    /// Where the ledger, lock and logs live [default: /var/lib/upkeep as root, else ~/.local/state/upkeep]
    #[arg(long, global = true, env = "UPKEEP_STATE_DIR", value_name = "DIR")]
    pub(crate) state_dir: Option<PathBuf>,
    /// Print machine-readable JSON on stdout instead of tables
    #[arg(long, global = true)]
    pub(crate) json: bool,
    /// Show module output on the terminal as it runs
    #[arg(long, short = 'v', global = true)]
    pub(crate) verbose: bool,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Show what a run would do, in what order, and why
    Plan(PlanArgs),
    /// Run the modules that need it; live progress, summary, exit code
    Run(RunArgs),
    /// Every module: declared and applied version, state, last outcome
    Status,
    /// Past runs and per-module outcomes, success rates and mean durations
    History(HistoryArgs),
    /// Verify (`--check`) or approve (`--write`) module folder checksums
    Checksum(ChecksumArgs),
    /// Print a shell completion script
    Completions {
        /// The shell
        shell: clap_complete::Shell,
    },
}

#[derive(Debug, Args)]
pub(crate) struct PlanArgs {
    /// Modules to plan for (with their children and what they need) [default: the entrypoint, else all]
    pub(crate) targets: Vec<String>,
    /// Plan to rerun modules that are up to date
    #[arg(long)]
    pub(crate) force: bool,
}

#[derive(Debug, Args)]
pub(crate) struct RunArgs {
    /// Modules to run (with their children and what they need) [default: the entrypoint, else all]
    pub(crate) targets: Vec<String>,
    /// Rerun modules that are up to date
    #[arg(long)]
    pub(crate) force: bool,
    /// Modules to run at once [default: number of cores]
    #[arg(long, short = 'j', value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    pub(crate) jobs: Option<u16>,
    /// Plan and print without executing anything or writing any state
    #[arg(long, short = 'n')]
    pub(crate) dry_run: bool,
    /// Timeout for modules that set none, e.g. `30m` [default: the manifest's, else none]
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub(crate) timeout: Option<std::time::Duration>,
    /// Time between SIGTERM and SIGKILL when stopping a module
    #[arg(long, value_name = "DURATION", default_value = "5s", value_parser = parse_duration)]
    pub(crate) grace: std::time::Duration,
    /// Wait for another run to finish instead of exiting with code 5
    #[arg(long)]
    pub(crate) wait: bool,
}

#[derive(Debug, Args)]
pub(crate) struct HistoryArgs {
    /// Only runs started within this long, e.g. `7d`, `12h`
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub(crate) since: Option<std::time::Duration>,
    /// Only outcomes of these modules
    #[arg(long = "module", value_name = "MODULE")]
    pub(crate) modules: Vec<String>,
    /// Only outcomes with this name: succeeded, failed, timed-out, cancelled, blocked, integrity-refused, interrupted
    #[arg(long, value_name = "OUTCOME")]
    pub(crate) outcome: Option<String>,
    /// At most this many runs
    #[arg(long, default_value_t = 20)]
    pub(crate) limit: usize,
}

#[derive(Debug, Args)]
#[command(group = clap::ArgGroup::new("mode").required(true).args(["write", "check"]))]
pub(crate) struct ChecksumArgs {
    /// Record the current files as approved: `checksum` file, manifest field, ledger
    #[arg(long)]
    pub(crate) write: bool,
    /// Verify module folders against their declared checksums
    #[arg(long)]
    pub(crate) check: bool,
    /// Modules to act on [default: every module with a folder]
    pub(crate) modules: Vec<String>,
    /// Hashing threads [default: number of cores]
    #[arg(long, short = 'j', value_name = "N")]
    pub(crate) jobs: Option<usize>,
}

fn parse_duration(text: &str) -> Result<std::time::Duration, String> {
    upkeep_core::duration::parse_duration(text)
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    #[test]
    fn command_line_is_consistent() {
        super::Cli::command().debug_assert();
    }

    #[test]
    fn readme_documents_every_exit_code() {
        let readme = include_str!("../../../README.md");
        for (code, _) in upkeep_core::exit_codes::TABLE {
            assert!(
                readme.contains(&format!("| {code} |")),
                "README lacks exit code {code}"
            );
        }
    }
}
