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
/// in dependency order, isolate failures, verify checksums before code runs, back up what
/// modules own and roll back what breaks, deploy files, run on schedules, and record
/// everything in a ledger.
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
    /// The manifest: `upkeep.toml` or the seeds' `manifest.json` [default: ./upkeep.toml, else ./manifest.json, else the manifest of the last run in the state directory]
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
    /// The settings file [default: /etc/upkeep/settings.toml as root, else ~/.config/upkeep/settings.toml]
    #[arg(long, global = true, env = "UPKEEP_CONFIG", value_name = "FILE")]
    pub(crate) config: Option<PathBuf>,
    /// Print machine-readable JSON on stdout instead of tables
    #[arg(long, global = true)]
    pub(crate) json: bool,
    /// Show module output on the terminal as it runs
    #[arg(long, short = 'v', global = true)]
    pub(crate) verbose: bool,
    /// Say nothing about the work on stderr (status and progress); data, warnings and errors still print
    #[arg(long, short = 'q', global = true)]
    pub(crate) quiet: bool,
    /// When to colour the labels of messages on stderr (`error:`, `warning:`, `hint:`, `note:`)
    #[arg(long, global = true, value_name = "WHEN", default_value = "auto")]
    pub(crate) color: crate::printer::ColorChoice,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Show what a run would do, in what order, and why
    Plan(PlanArgs),
    /// Run the modules that need it; live progress, summary, exit code
    Run(RunArgs),
    /// Ask the modules' update sources what is new and what policies hold back; answers are
    /// cached in the ledger
    Check(CheckArgs),
    /// Every module: declared and applied version, state, last outcome, backup, health;
    /// and the state's figures: last run, success rates, disk usage
    Status {
        /// Show everything about this one module (with `--json`: its row as an object)
        #[arg(value_name = "MODULE", conflicts_with_all = ["metrics", "wide"])]
        module: Option<String>,
        /// Only the figures (with `--json`: an object instead of the module rows)
        #[arg(long)]
        metrics: bool,
        /// Every column (versions, backup, health, times), however wide; the default table
        /// fits the terminal (80 columns when stdout is not one)
        #[arg(long, conflicts_with = "metrics")]
        wide: bool,
    },
    /// Past runs and per-module outcomes, success rates and mean durations
    History(HistoryArgs),
    /// Verify (`--check`) or approve (`--write`) module folder checksums
    Checksum(ChecksumArgs),
    /// Everything between the updates directory and a first good run, each with the command
    /// that fixes it: the manifest and its warnings, the Python interpreter and virtualenv,
    /// every module's checksum (missing, in a foreign format, or not approved). Exits as the
    /// first run would: 0 when nothing stands in the way, 6 when a module would be refused
    /// for its checksum, 3 when the Python modules could not start
    Doctor,
    /// Create, list, verify, restore, prune and delete backups of the paths modules own
    #[command(subcommand)]
    Backup(BackupCommand),
    /// Roll a module back: code from its git tag, data from its backup, then its health check
    Rollback(RollbackArgs),
    /// Versions a module can roll back to, from git tags and backups
    Versions {
        /// The module
        module: String,
    },
    /// Release a module held for manual intervention after a failed rollback
    Clear {
        /// The module, once it has been fixed by hand
        module: String,
    },
    /// Deploy files from ae.updater's source folders: plan, apply, list what upkeep owns
    #[command(subcommand)]
    Files(FilesCommand),
    /// Run the pre-run script, the due one-time scripts, then the file operations
    /// (ae.updater's `check_all`)
    Prerun(DeployArgs),
    /// Add, list, enable, disable and remove schedules; write systemd timers for them
    #[command(subcommand)]
    Schedule(ScheduleCommand),
    /// Run due schedules as their times come, one at a time (with the run lock); a schedule
    /// missed while the host was down runs once at start; SIGTERM stops it cleanly
    Daemon {
        /// Run what is due now and exit (for cron or a test)
        #[arg(long)]
        once: bool,
        /// Wait a random time up to this long before each scheduled run, e.g. `5m`
        #[arg(long, value_name = "DURATION", default_value = "0s", value_parser = duration_in("m"))]
        jitter: std::time::Duration,
    },
    /// Serve the HTTP API (and keep the daemon's duties beside it); loopback only unless
    /// TLS or a trusted reverse proxy is given; SIGTERM stops it cleanly
    Serve(ServeArgs),
    /// Show and change settings (the seed's categories, with its defaults); notification
    /// channels are `[channels.NAME]` tables edited in the file (see `upkeep notify --help`)
    #[command(subcommand)]
    Settings(SettingsCommand),
    /// Notifications: test channels, list them, show and deliver events not yet delivered
    #[command(subcommand, after_long_help = NOTIFY_HELP)]
    Notify(NotifyCommand),
    /// API tokens for `upkeep serve`: create (the secret is shown once), list, revoke
    #[command(subcommand)]
    Token(TokenCommand),
    /// Discord's slash commands: print their application-command JSON, or register them
    #[command(subcommand)]
    Discord(DiscordCommand),
    /// Who asked what of the API, Discord and `upkeep token`: principal, role, address,
    /// request id, plan digest, action, outcome; newest first
    Audit {
        /// Only entries of the last DURATION, e.g. `7d`, `12h` (a unit is required) [default: all]
        #[arg(long, value_name = "DURATION", value_parser = duration_in("d"))]
        since: Option<std::time::Duration>,
    },
    /// Print a shell completion script (bash, zsh and fish complete module names from the
    /// manifest too)
    Completions {
        /// The shell
        shell: clap_complete::Shell,
    },
    /// Print the manual page (roff), or write one page per command into a directory
    Man {
        /// Write `upkeep.1` and `upkeep-COMMAND.1` for every subcommand here instead
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
    },
    /// The manifest's module names, one a line, for the completion scripts
    #[command(name = "__complete-modules", hide = true)]
    CompleteModules,
}

#[derive(Debug, Args)]
pub(crate) struct PlanArgs {
    /// Modules to plan for (with their children and what they need) [default: the entrypoint, else all]
    pub(crate) targets: Vec<String>,
    /// Plan to rerun modules that are up to date
    #[arg(long)]
    pub(crate) force: bool,
    #[command(flatten)]
    pub(crate) updates: UpdateArgs,
}

/// How a plan treats what update checks found.
#[derive(Debug, Args)]
pub(crate) struct UpdateArgs {
    /// Apply major and breaking updates that module policies hold back (`ask_before_major`)
    #[arg(long)]
    pub(crate) allow_breaking: bool,
    /// Only modules whose updates are of these types (a module without a source is `app`),
    /// with what they need: app, packages, config, dependencies
    #[arg(long = "type", value_name = "TYPE", value_delimiter = ',', value_parser = parse_update_type)]
    pub(crate) types: Vec<upkeep_core::updates::UpdateType>,
    /// Ask the modules' update sources first, as `upkeep check` does (scheduled runs
    /// always do)
    #[arg(long)]
    pub(crate) check: bool,
}

#[derive(Debug, Args)]
pub(crate) struct RunArgs {
    /// Modules to run (with their children and what they need) [default: the entrypoint, else all]
    pub(crate) targets: Vec<String>,
    /// Rerun modules that are up to date
    #[arg(long)]
    pub(crate) force: bool,
    #[command(flatten)]
    pub(crate) updates: UpdateArgs,
    /// Modules to run at once [default: number of cores]
    #[arg(long, short = 'j', value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    pub(crate) jobs: Option<u16>,
    /// Plan and print without executing anything or writing any state
    #[arg(long, short = 'n')]
    pub(crate) dry_run: bool,
    /// Timeout for modules that set none, e.g. `30m` [default: the manifest's, else none]
    #[arg(long, value_name = "DURATION", value_parser = duration_in("m"))]
    pub(crate) timeout: Option<std::time::Duration>,
    /// Time between SIGTERM and SIGKILL when stopping a module
    #[arg(long, value_name = "DURATION", default_value = "5s", value_parser = duration_in("s"))]
    pub(crate) grace: std::time::Duration,
    /// Wait for another run to finish instead of exiting with code 5
    #[arg(long)]
    pub(crate) wait: bool,
    /// With `--wait`, give up after this long, e.g. `10m` (exit 5) [default: no limit; a
    /// scheduled run: 1h, then it is recorded as not started]
    #[arg(long, value_name = "DURATION", value_parser = duration_in("m"), requires = "wait")]
    pub(crate) wait_timeout: Option<std::time::Duration>,
    /// Run as the schedule NAME: its targets, recorded as its last run (what timers run)
    #[arg(long, value_name = "NAME")]
    pub(crate) scheduled: Option<String>,
    /// Refuse a module's pre-update backup (so the module does not run) when less than
    /// this would remain free, e.g. `1GiB` [default: setting `safety.min_disk_space_mb`]
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    pub(crate) min_free: Option<u64>,
}

#[derive(Debug, Args)]
pub(crate) struct CheckArgs {
    /// Modules to check [default: every module with a source]
    pub(crate) modules: Vec<String>,
    /// Only sources of this update type
    #[arg(long = "type", value_name = "TYPE", value_enum, default_value = "all")]
    pub(crate) kind: UpdateTypeArg,
    /// Only security updates (and sources that failed, which may hide one)
    #[arg(long)]
    pub(crate) security_only: bool,
    /// Show every new release with the start of its changelog
    #[arg(long)]
    pub(crate) details: bool,
    /// Report the last check's answers from the ledger; ask no source
    #[arg(long)]
    pub(crate) cached: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum UpdateTypeArg {
    App,
    Packages,
    Config,
    Dependencies,
    All,
}

#[derive(Debug, Args)]
pub(crate) struct HistoryArgs {
    /// Only runs started within this long, e.g. `7d`, `12h` (a unit is required)
    #[arg(long, value_name = "DURATION", value_parser = duration_in("d"))]
    pub(crate) since: Option<std::time::Duration>,
    /// Only outcomes of these modules (comma-separated or repeated); a module removed from
    /// the manifest is still found by its history
    #[arg(long = "module", value_name = "MODULE", value_delimiter = ',')]
    pub(crate) modules: Vec<String>,
    /// Only these outcomes (comma-separated or repeated), e.g. `failed,rolled-back`:
    /// succeeded, failed, timed-out, cancelled, blocked, integrity-refused, interrupted,
    /// skipped, backup-failed, health-failed, rolled-back, needs-intervention, held, running
    #[arg(
        long = "outcome",
        value_name = "OUTCOME",
        value_delimiter = ',',
        value_parser = parse_outcome
    )]
    pub(crate) outcomes: Vec<upkeep_core::state::ModuleOutcome>,
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

#[derive(Debug, Args)]
#[command(group = clap::ArgGroup::new("target").required(true).args(["to", "last_safe", "backup"]))]
pub(crate) struct RollbackArgs {
    /// The module
    pub(crate) module: String,
    /// Roll back to this version
    #[arg(long, value_name = "VERSION")]
    pub(crate) to: Option<String>,
    /// Roll back to the module's last safe version
    #[arg(long)]
    pub(crate) last_safe: bool,
    /// Roll back to the version and data of this backup
    #[arg(long, value_name = "ID")]
    pub(crate) backup: Option<String>,
    /// Do not ask (required without a terminal)
    #[arg(long, short = 'y')]
    pub(crate) yes: bool,
    /// Restore the backup's data to the paths it recorded even where the module no longer
    /// declares them (never `/`, the state directory or the updates directory)
    #[arg(long)]
    pub(crate) allow_changed_paths: bool,
}

#[derive(Debug, Subcommand)]
pub(crate) enum BackupCommand {
    /// Back up the paths modules own (verified before it is recorded)
    Create(BackupCreateArgs),
    /// List backups, newest first
    List(BackupListArgs),
    /// Re-read backups and check them against the ledger
    Verify {
        /// Backup id or name
        #[arg(required_unless_present = "all", conflicts_with = "all")]
        id: Option<String>,
        /// Verify every backup
        #[arg(long)]
        all: bool,
        /// Also restore the whole backup on trial into a scratch directory under the state
        /// directory and compare every entry with the record
        #[arg(long)]
        deep: bool,
    },
    /// Put a backup's paths back in place (takes a pre-restore backup first)
    Restore(BackupRestoreArgs),
    /// Delete backups the retention policy does not keep
    Prune(BackupPruneArgs),
    /// Write a backup as a portable tar archive (readable by `backup import` and tar)
    Export {
        /// Backup id or name
        id: String,
        /// tar.gz (the seed's format) [default: from FILE's extension, else tar.zst]
        #[arg(long)]
        gzip: bool,
        /// Where to write it [default: NAME.tar.zst in the current directory]
        #[arg(short, long, value_name = "FILE")]
        output: Option<std::path::PathBuf>,
    },
    /// Record a portable archive as a backup of the paths declared under its labels
    Import {
        /// The archive (tar, tar.zst or tar.gz)
        file: std::path::PathBuf,
        /// Name the backup
        #[arg(long)]
        name: Option<String>,
    },
    /// Delete one backup
    Delete {
        /// Backup id or name
        id: String,
        /// Also delete a protected backup (a module's newest, or of its last safe version)
        #[arg(long)]
        force: bool,
    },
}

#[derive(Debug, Args)]
#[expect(
    clippy::struct_excessive_bools,
    reason = "independent command-line flags, as clap gives them"
)]
pub(crate) struct BackupCreateArgs {
    /// What to back up
    #[arg(long = "type", value_enum, default_value = "full")]
    pub(crate) kind: BackupTypeArg,
    /// Only these modules' paths (implies `--type module` when no type is given)
    #[arg(long = "module", value_name = "MODULE")]
    pub(crate) modules: Vec<String>,
    /// A name to find it by [default: backup_<UTC time>]
    #[arg(long)]
    pub(crate) name: Option<String>,
    /// Free text stored with it
    #[arg(long)]
    pub(crate) description: Option<String>,
    /// One tar + zstd archive instead of the deduplicating chunk store [default: setting `backup.format`]
    #[arg(long)]
    pub(crate) archive: bool,
    /// Plain tar, no compression (an archive)
    #[arg(long, conflicts_with = "gzip")]
    pub(crate) no_compress: bool,
    /// tar.gz, the seed's format (an archive; slower than the default zstd)
    #[arg(long)]
    pub(crate) gzip: bool,
    /// Compression level: zstd 1-19 [default: setting `backup.compression_level`], gzip 1-9 [default: 6]
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(i32).range(1..=19))]
    pub(crate) level: Option<i32>,
    /// Also back up paths declared as `logs`
    #[arg(long)]
    pub(crate) include_logs: bool,
    /// Refuse when less than this would remain free, e.g. `1GiB`, `500MiB` [default: setting
    /// `safety.min_disk_space_mb`]
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    pub(crate) min_free: Option<u64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum BackupTypeArg {
    Full,
    Config,
    Data,
    Module,
}

#[derive(Debug, Args)]
pub(crate) struct BackupListArgs {
    /// Only backups of this type
    #[arg(long = "type", value_enum)]
    pub(crate) kind: Option<BackupTypeArg>,
    /// Only backups created within this long, e.g. `30d` (a unit is required)
    #[arg(long, value_name = "DURATION", value_parser = duration_in("d"))]
    pub(crate) since: Option<std::time::Duration>,
    /// At most this many
    #[arg(long, default_value_t = 20)]
    pub(crate) limit: usize,
    /// Order by
    #[arg(long, value_enum, default_value = "date")]
    pub(crate) sort: BackupSort,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum BackupSort {
    Date,
    Size,
    Name,
    Type,
}

#[derive(Debug, Args)]
pub(crate) struct BackupRestoreArgs {
    /// Backup id or name
    pub(crate) id: String,
    /// Only paths of these categories
    #[arg(long, value_name = "CATEGORY", value_parser = ["config", "data", "logs"])]
    pub(crate) only: Vec<String>,
    /// Only these modules' paths
    #[arg(long = "module", value_name = "MODULE")]
    pub(crate) modules: Vec<String>,
    /// Do not ask (required without a terminal)
    #[arg(long, short = 'y')]
    pub(crate) yes: bool,
    /// Do not back up the current content first
    #[arg(long)]
    pub(crate) no_pre_backup: bool,
    /// Restore to the paths the backup recorded even where the module no longer declares
    /// them (never `/`, the state directory or the updates directory)
    #[arg(long)]
    pub(crate) allow_changed_paths: bool,
}

#[derive(Debug, Args)]
pub(crate) struct BackupPruneArgs {
    /// Show what would be deleted, delete nothing
    #[arg(long, short = 'n')]
    pub(crate) dry_run: bool,
    /// Keep the newest N [default without any keep option: settings `backup.max_backups` and `backup.backup_retention_days`]
    #[arg(long, value_name = "N")]
    pub(crate) keep_last: Option<u32>,
    /// Keep backups younger than D days
    #[arg(long, value_name = "D")]
    pub(crate) keep_days: Option<u32>,
    /// Keep the newest backup of each of the last N days
    #[arg(long, value_name = "N")]
    pub(crate) keep_daily: Option<u32>,
    /// Keep the newest backup of each of the last N weeks
    #[arg(long, value_name = "N")]
    pub(crate) keep_weekly: Option<u32>,
    /// Keep the newest backup of each of the last N months
    #[arg(long, value_name = "N")]
    pub(crate) keep_monthly: Option<u32>,
}

#[derive(Debug, Subcommand)]
pub(crate) enum ScheduleCommand {
    /// Add a schedule (what a timer or `upkeep daemon` runs with `run --scheduled NAME`)
    Add(ScheduleAddArgs),
    /// Every schedule with its next and last run
    List,
    /// One schedule
    Show {
        /// Its name
        name: String,
    },
    /// Let a schedule fire again
    Enable {
        /// Its name
        name: String,
    },
    /// Stop a schedule from firing (it is kept)
    Disable {
        /// Its name
        name: String,
    },
    /// Delete a schedule
    Remove {
        /// Its name
        name: String,
    },
    /// Write systemd `.service` and `.timer` units for every enabled schedule
    Install(ScheduleInstallArgs),
}

#[derive(Debug, Args)]
#[command(group = clap::ArgGroup::new("when").required(true).args(["daily", "weekly", "monthly", "cron"]))]
pub(crate) struct ScheduleAddArgs {
    /// Its name (letters, digits, `-`, `_`)
    pub(crate) name: String,
    /// Every day at HH:MM
    #[arg(long, value_name = "HH:MM")]
    pub(crate) daily: Option<String>,
    /// On these days (`mon,thu`, `mon-fri`) at HH:MM
    #[arg(long, num_args = 2, value_names = ["DAYS", "HH:MM"])]
    pub(crate) weekly: Option<Vec<String>>,
    /// On these days of the month (`1,15`, `last`) at HH:MM
    #[arg(long, num_args = 2, value_names = ["DAYS", "HH:MM"])]
    pub(crate) monthly: Option<Vec<String>>,
    /// A 5-field cron expression, e.g. `30 3 * * 1-5`
    #[arg(long, value_name = "EXPR")]
    pub(crate) cron: Option<String>,
    /// Time zone of the times (IANA name) [default: the system's]
    #[arg(long, value_name = "ZONE", default_value = "local")]
    pub(crate) tz: String,
    /// Modules to run, comma-separated [default: the manifest's entrypoint, else all]
    #[arg(long, value_name = "M,...", value_delimiter = ',')]
    pub(crate) targets: Vec<String>,
    /// Update types it covers, comma-separated (app, packages, config, dependencies)
    #[arg(long, value_name = "T,...", value_delimiter = ',', value_parser = parse_update_type)]
    pub(crate) types: Vec<upkeep_core::updates::UpdateType>,
    /// Add it disabled
    #[arg(long)]
    pub(crate) disabled: bool,
    /// Force its runs: every module they select runs even when up to date (as `run --force`)
    #[arg(long)]
    pub(crate) force: bool,
}

#[derive(Debug, Args)]
pub(crate) struct ScheduleInstallArgs {
    /// Write systemd units (the only kind there is)
    #[arg(long, required = true)]
    pub(crate) systemd: bool,
    /// User units in ~/.config/systemd/user instead of /etc/systemd/system
    #[arg(long)]
    pub(crate) user: bool,
    /// Write into this directory instead
    #[arg(long, value_name = "DIR")]
    pub(crate) dir: Option<PathBuf>,
}

/// How channels are configured, for `upkeep notify --help`.
const NOTIFY_HELP: &str =
    "Channels are tables in the settings file (`upkeep settings list` shows where it is):

  [channels.ops]
  kind = \"webhook\"          # webhook, discord, slack or command
  url = \"https://hooks.example.com/upkeep\"
  secret = \"whsec_...\"      # webhook only: Standard Webhooks signature

  [channels.pager]
  kind = \"command\"
  argv = [\"/usr/local/bin/page-oncall\"]   # gets the event in $UPKEEP_EVENT_JSON

`notification.channels` picks the channels that receive events (empty: all of them).
Events are recorded in the ledger with the change they describe and delivered after it,
in the background; what could not be delivered is retried with backoff by the next run,
`upkeep daemon` or `upkeep notify flush`.";

#[derive(Debug, Subcommand)]
pub(crate) enum NotifyCommand {
    /// Send a test event now to CHANNEL, or to every channel; exit 3 when one failed
    Test {
        /// A channel's name [default: every channel]
        channel: Option<String>,
    },
    /// The channels in the settings file (URLs redacted, secrets never shown)
    List,
    /// Events not delivered yet: pending (with their next attempt) or given up
    Pending,
    /// Deliver every pending event now, whatever its backoff; exit 3 when one failed
    Flush,
}

#[derive(Debug, Subcommand)]
pub(crate) enum TokenCommand {
    /// Create a token and print its secret on stdout, once: it is stored only hashed
    Create {
        /// Its name (letters, digits, `.`, `-`, `_`), unique among tokens not revoked
        name: String,
        /// What it may do: viewer (read), operator (also check, back up, verify, test
        /// notifications) or owner (everything)
        #[arg(long, value_name = "ROLE", value_parser = parse_role)]
        role: upkeep_core::ops::access::Role,
        /// It stops working after this long, e.g. `90d`, `12h` (a unit is required)
        /// [default: never]
        #[arg(long, value_name = "DURATION", value_parser = duration_in("d"))]
        expires: Option<std::time::Duration>,
    },
    /// Tokens with role, state, creation, expiry and last use (never their secrets)
    List {
        /// Also revoked tokens
        #[arg(long)]
        all: bool,
    },
    /// Revoke a token: it stops working at once
    Revoke {
        /// Its name
        name: String,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum SettingsCommand {
    /// Every setting with its value, default and meaning, and the notification channels
    List,
    /// One setting's value
    Get {
        /// `category.name`, e.g. `backup.max_backups`
        key: String,
    },
    /// Change a setting in the file (comments and layout are kept)
    Set {
        /// `category.name`
        key: String,
        /// The value: `true`/`false`, a number, text, or a comma-separated list
        value: String,
    },
    /// Go back to a setting's default
    Reset {
        /// `category.name`
        key: String,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum FilesCommand {
    /// What would be copied or moved where, and what would be skipped, overwritten or refused
    Plan(DeployArgs),
    /// Do the plan; print the processed files
    Apply(DeployArgs),
    /// Files upkeep deployed, with checksum and source, and whether they changed since
    Owned,
}

#[derive(Debug, Args)]
pub(crate) struct DeployArgs {
    /// Directory holding the `ae_updater_*` folders and scripts [default: the current directory]
    #[arg(long, value_name = "DIR")]
    pub(crate) root: Option<PathBuf>,
    /// Destination of folders without `ToPath__` [default: {usr}]
    #[arg(long, value_name = "TEMPLATE")]
    pub(crate) to: Option<String>,
    /// A placeholder of your own, usable in destinations, e.g. `--placeholder app=/opt/app`
    #[arg(long = "placeholder", value_name = "NAME=PATH", value_parser = parse_placeholder)]
    pub(crate) placeholders: Vec<(String, PathBuf)>,
    /// Destinations must lie beneath one of these [default: each folder's own destination]
    #[arg(long = "allow-root", value_name = "DIR")]
    pub(crate) allow_roots: Vec<PathBuf>,
    /// Overwrite files changed since upkeep wrote them
    #[arg(long)]
    pub(crate) force: bool,
    /// Keep one-time scripts after success (they never run again with the same checksum)
    #[arg(long)]
    pub(crate) keep_scripts: bool,
    /// A pre-run command to run (through `sh -c`, in the root) before the scripts; recorded
    /// like `ae_pre_app_run.py` (prerun only)
    #[arg(long, value_name = "COMMAND")]
    pub(crate) command: Option<String>,
    /// While an update run holds the lock, wait this long for it, e.g. `30s`; `0s` gives
    /// up at once (exit 5) (apply and prerun)
    #[arg(long, value_name = "DURATION", default_value = "10m", value_parser = duration_in("m"))]
    pub(crate) wait_timeout: std::time::Duration,
}

fn parse_placeholder(text: &str) -> Result<(String, PathBuf), String> {
    let (name, path) = text
        .split_once('=')
        .ok_or_else(|| format!("`{text}` is not NAME=PATH"))?;
    let name = name.trim_matches(|c| c == '{' || c == '}');
    if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
        return Err(format!(
            "placeholder name `{name}` must be letters, digits and `_`"
        ));
    }
    Ok((name.to_owned(), PathBuf::from(path)))
}

fn parse_size(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: u64 = number
        .parse()
        .map_err(|_| format!("`{text}` is not a size like `1GiB`"))?;
    let factor: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        "g" | "gb" | "gib" => 1 << 30,
        "t" | "tb" | "tib" => 1 << 40,
        other => {
            return Err(format!(
                "unknown size unit `{other}`; use B, KiB, MiB, GiB or TiB"
            ));
        }
    };
    number
        .checked_mul(factor)
        .ok_or_else(|| format!("`{text}` is too large"))
}

/// A duration flag, parsed as the manifest parses durations; a bare number is refused with
/// `unit`, the unit this flag's numbers most likely mean, as the suggestion.
fn duration_in(
    unit: &'static str,
) -> impl Fn(&str) -> Result<std::time::Duration, String> + Clone + Send + Sync + 'static {
    move |text| upkeep_core::duration::parse_duration_or_suggest(text, unit)
}

fn parse_update_type(text: &str) -> Result<upkeep_core::updates::UpdateType, String> {
    upkeep_core::updates::UpdateType::from_name(text).ok_or_else(|| {
        format!("`{text}` is not an update type; use app, packages, config or dependencies")
    })
}

/// A role by its name; a misspelt one is a usage error that offers the closest.
fn parse_role(text: &str) -> Result<upkeep_core::ops::access::Role, String> {
    text.parse()
        .map_err(|e: upkeep_core::ops::access::UnknownRole| e.to_string())
}

/// An outcome by the name the ledger stores it under; a misspelt one is a usage error
/// rather than a filter that silently matches nothing.
fn parse_outcome(text: &str) -> Result<upkeep_core::state::ModuleOutcome, String> {
    use upkeep_core::state::ModuleOutcome;
    text.parse().map_err(|_| {
        let names = || ModuleOutcome::ALL.iter().map(|o| o.as_str());
        let closest = upkeep_core::text::did_you_mean(text, names())
            .map(|name| format!("; did you mean `{name}`?"))
            .unwrap_or_default();
        let all: Vec<&str> = names().collect();
        format!(
            "`{text}` is not an outcome{closest} (one of: {})",
            all.join(", ")
        )
    })
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

/// `upkeep discord`.
#[derive(Debug, clap::Subcommand)]
pub(crate) enum DiscordCommand {
    /// Print the slash commands as Discord's API takes them (JSON); with --register, put
    /// them as the application's commands (`discord.application_id`, `discord.bot_token`)
    Commands {
        /// Put them at `{discord.api_base_url}/applications/{discord.application_id}/commands`
        /// with the bot token, replacing the application's commands
        #[arg(long)]
        register: bool,
    },
}

/// `upkeep serve`'s options.
#[derive(Debug, clap::Args)]
pub(crate) struct ServeArgs {
    /// Address and port to listen on; port 0 takes a free one (the address is printed)
    #[arg(long, value_name = "ADDR:PORT", default_value = "127.0.0.1:8470")]
    pub(crate) listen: std::net::SocketAddr,
    /// TLS certificate chain (PEM); with --tls-key, serves HTTPS
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    pub(crate) tls_cert: Option<PathBuf>,
    /// TLS private key (PEM)
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    pub(crate) tls_key: Option<PathBuf>,
    /// A reverse proxy's address that terminates TLS in front of upkeep (repeatable): only
    /// from these peers is `X-Forwarded-For` believed, and with one a non-loopback
    /// --listen needs no TLS of its own
    #[arg(long, value_name = "ADDR")]
    pub(crate) trust_proxy: Vec<std::net::IpAddr>,
}
