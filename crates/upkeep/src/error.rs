//! Errors that stop a command, and how each maps to an exit code, a JSON `kind`, a message
//! and a hint.
//!
//! # The message rule
//!
//! Every error's message (its `Display`, in this crate and in every error enum of
//! `upkeep-core`) names the action that failed, as a lowercase fragment that reads after
//! "failed to ": "read manifest /srv/upkeep.toml", "back up to /var/lib/upkeep/backups",
//! "find schedule `nightly`". What went wrong comes after the action, in one of two ways:
//!
//! - a cause that is itself an error is the variant's `#[source]`, and is never written
//!   into the message; [`report`] prints it on its own `  caused by: ...` line (and
//!   `upkeep_core::message::failed_to` appends it after `: ` where an error becomes one
//!   line of text);
//! - a fact that is not an error (a count, who holds a lock, a limit, a value's problem)
//!   follows the action after `: ` in the message itself: `take the run lock /x: held by pid
//!   42 since ...`.
//!
//! A message never starts with "failed to" or with its cause, counts nouns with
//! `upkeep_core::message::count` ("1 attempt", never "1 attempt(s)"), and says nothing about
//! what to do next (a command to run, a flag to pass): that is the hint, chosen by
//! [`classify`]. The closest name to a likely typo is a fact about what is wrong: the variant
//! carries it and the hint offers it ("did you mean `gogs`?"), except in the messages of
//! settings and schedule specs, which the engine also shows outside this binary and which
//! end with it. `#[error(transparent)]` only forwards to an error that follows the rule
//! itself. Errors that are only ever a cause (`PlaceholderError`, an archive `Refusal`, an
//! update source's `CheckError`) say what is wrong rather than what failed. So every error
//! reports as
//!
//! ```text
//! error: failed to <action>[: <fact>]
//!   caused by: <cause>
//! hint: <what to do>
//! ```
//!
//! # Exit codes
//!
//! [`classify`] is one exhaustive `match` over every variant, through the nested engine
//! enums, with no `_` arm: a new variant does not compile until it is given a [`Kind`], and
//! the kind gives both the JSON `error` string and the exit code, so the two cannot disagree.

use upkeep_core::archive::ArchiveError;
use upkeep_core::backup::BackupError;
use upkeep_core::checksum::ChecksumError;
use upkeep_core::deploy::DeployError;
use upkeep_core::deploy::ledgered::FilesError;
use upkeep_core::exit_codes;
use upkeep_core::lock::LockError;
use upkeep_core::manifest::ManifestError;
use upkeep_core::manifest::writeback::WriteBackError;
use upkeep_core::ops::{Error, Unconfirmed};
use upkeep_core::plan::PlanError;
use upkeep_core::rollback::RollbackError;
use upkeep_core::run::RunError;
use upkeep_core::schedule::spec::SpecError;
use upkeep_core::schedule::store::ScheduleError;
use upkeep_core::settings::SettingsError;
use upkeep_core::state::StateError;
use upkeep_core::store::StoreError;
use upkeep_core::updates::UpdatesError;

use crate::render;

/// Everything a command can fail with: what the engine's use case reported, or what went
/// wrong in the front end itself (parsing a schedule given on the command line, writing to
/// stdout).
#[derive(Debug, thiserror::Error)]
pub(crate) enum CliError {
    /// The use case failed.
    #[error(transparent)]
    Ops(#[from] upkeep_core::ops::Error),
    /// A schedule given on the command line (`--daily`, `--cron`, ...) does not parse.
    #[error(transparent)]
    Spec(#[from] SpecError),
    /// A file-system or system call of the front end.
    #[error("{action}")]
    Io {
        action: String,
        #[source]
        source: std::io::Error,
    },
    #[error("write to stdout")]
    Output(#[from] std::io::Error),
    /// `upkeep serve` was asked to listen where a client's token would cross the network
    /// in clear text.
    #[error(
        "listen on {listen}: it is not a loopback address, and neither TLS (`--tls-cert`, `--tls-key`) nor `--trust-proxy` was given"
    )]
    Insecure { listen: std::net::SocketAddr },
    /// An HTTP request without a valid `Authorization: Bearer` token.
    #[error("authenticate the request: {reason}")]
    Unauthenticated { reason: &'static str },
    /// A state-changing request signed in by the web page's cookie came without the
    /// session's `X-CSRF-Token` (HTTP 403).
    #[error("accept the request: it lacks the session's X-CSRF-Token")]
    CsrfMismatch,
    /// An HTTP request names something there is not (a run, a route).
    #[error("find {what}: there is none")]
    NotFound { what: String },
    /// Something was asked for that needs a setting nobody has set (the Discord bot
    /// token to register slash commands).
    #[error("{action}: the setting `{key}` is not set")]
    SettingMissing {
        action: &'static str,
        key: &'static str,
    },
    /// An HTTP request's body or query does not parse.
    #[error("read the request: {problem}")]
    BadRequest { problem: String },
    /// A run was asked for with the digest of a plan that has changed since.
    #[error("start the run of plan {given}: the plan has changed (its digest is now {current})")]
    StalePlan { given: String, current: String },
}

/// The engine's domain errors reach a command through its use case; these let a command
/// that checks something itself (`status MODULE`) report it the same way.
macro_rules! through_ops {
    ($($error:ty),* $(,)?) => {$(
        impl From<$error> for CliError {
            fn from(err: $error) -> Self {
                Self::Ops(err.into())
            }
        }
    )*};
}
through_ops!(ManifestError, PlanError);

/// Wrap an I/O error with what was being done, for `map_err`.
pub(crate) fn io(action: impl Into<String>) -> impl FnOnce(std::io::Error) -> CliError {
    let action = action.into();
    move |source| CliError::Io { action, source }
}

/// Print `err` to stderr (and, with `--json`, as a JSON object on stdout) and return its
/// exit code.
pub(crate) fn report(err: &CliError, json: bool) -> i32 {
    if let CliError::Output(io) = err
        && io.kind() == std::io::ErrorKind::BrokenPipe
    {
        // The reader went away (`upkeep plan | head`): nothing left to say to anyone.
        return exit_codes::OK;
    }
    let class = classify(err);
    if json {
        print_json_error(err, &class);
    }
    if let CliError::Ops(Error::Manifest(ManifestError::Invalid { diagnostics, .. })) = err {
        render::diagnostics(diagnostics);
        return class.kind.code();
    }
    let mut message = format!("error: failed to {err}");
    for cause in upkeep_core::message::causes(err) {
        message.push_str("\n  caused by: ");
        message.push_str(&cause);
    }
    crate::printer::get().message(&message);
    if let Some(hint) = &class.hint {
        crate::printer::get().message(&format!("hint: {hint}"));
    }
    class.kind.code()
}

/// Report a command-line error from clap: its own text on stderr and, when `--json` is
/// anywhere among `args`, a JSON object on stdout as for every other error. `--help` and
/// `--version` are not errors and print as clap prints them. Returns the exit code.
pub(crate) fn report_usage(err: &clap::Error, args: &[std::ffi::OsString]) -> i32 {
    use clap::error::ErrorKind;
    if matches!(
        err.kind(),
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion
    ) {
        err.exit();
    }
    // Everything after `--` is a value, not a flag.
    let json = args
        .iter()
        .skip(1)
        .take_while(|a| *a != "--")
        .any(|a| a == "--json");
    if json {
        let text = err.render().to_string();
        // clap's first paragraph is the message; the rest is usage and `--help` advice.
        let message = text
            .split("\n\n")
            .next()
            .unwrap_or_default()
            .trim()
            .trim_start_matches("error: ");
        let value = serde_json::json!({
            "error": Kind::Usage.name(),
            "exit_code": Kind::Usage.code(),
            "message": message,
            "hint": "`upkeep --help` lists the commands and their options",
        });
        let _ = crate::commands::print_text(&format!("{value:#}\n"));
    }
    let _ = err.print();
    Kind::Usage.code()
}

/// An error as the JSON object `--json` prints, with its kind: what the HTTP API answers
/// with, so that a script reads the same `error` and `exit_code` from both.
pub(crate) fn json_error(err: &CliError) -> (Kind, serde_json::Value) {
    let class = classify(err);
    (class.kind, json_value(err, &class))
}

fn print_json_error(err: &CliError, class: &Class) {
    let value = json_value(err, class);
    let _ = crate::commands::print_text(&format!("{value:#}\n"));
}

fn json_value(err: &CliError, class: &Class) -> serde_json::Value {
    match err {
        CliError::Ops(Error::Manifest(ManifestError::Invalid { path, diagnostics })) => {
            serde_json::json!({
                "error": class.kind.name(),
                "exit_code": class.kind.code(),
                "manifest": path,
                "diagnostics": diagnostics,
            })
        }
        other => serde_json::json!({
            "error": class.kind.name(),
            "exit_code": class.kind.code(),
            "message": upkeep_core::message::failed_to(other),
            "hint": class.hint,
        }),
    }
}

/// What an error is, for its exit code and its JSON `error` string.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// The command line did not parse (clap's errors).
    Usage,
    /// The manifest has problems, reported as diagnostics.
    InvalidManifest,
    /// The manifest could not be found or read.
    Manifest,
    /// A run's target names no module.
    UnknownTarget,
    /// A command's module argument names no module (or one without what is asked of it).
    UnknownModule,
    /// Another input is invalid: a setting, a schedule, a backup id, a path.
    InvalidInput,
    /// Another upkeep holds the lock.
    LockHeld,
    /// The lock file itself could not be used.
    LockFailed,
    /// An archive failed verification or was refused.
    BackupRefused,
    /// A rollback's git tag points elsewhere than recorded.
    TagMoved,
    /// Not enough free space for a backup.
    LowSpace,
    /// An operation needing confirmation did not get it.
    NotConfirmed,
    /// The principal's role may not do the action (a front end's 403; the command line
    /// acts as owner and never sees it).
    Forbidden,
    /// A front end's request carried no valid token (HTTP 401).
    Unauthenticated,
    /// A front end's request names a thing there is not (HTTP 404).
    NotFound,
    /// A run was asked for with the digest of a plan that has changed (HTTP 409): nothing
    /// was run, as when a confirmation is missing.
    StalePlan,
    /// upkeep itself failed: I/O, the ledger, the runtime.
    Internal,
}

impl Kind {
    /// The JSON `error` string; these are stable for scripts.
    fn name(self) -> &'static str {
        match self {
            Kind::Usage => "usage",
            Kind::InvalidManifest => "invalid-manifest",
            Kind::Manifest => "manifest",
            Kind::UnknownTarget => "unknown-target",
            Kind::UnknownModule => "unknown-module",
            Kind::InvalidInput => "invalid-input",
            Kind::LockHeld | Kind::LockFailed => "lock",
            Kind::BackupRefused => "backup-refused",
            Kind::TagMoved => "tag-moved",
            Kind::LowSpace => "low-space",
            Kind::NotConfirmed => "not-confirmed",
            Kind::Forbidden => "forbidden",
            Kind::Unauthenticated => "unauthenticated",
            Kind::NotFound => "not-found",
            Kind::StalePlan => "stale-plan",
            Kind::Internal => "internal",
        }
    }

    /// The documented exit code (`upkeep_core::exit_codes`, README's table).
    fn code(self) -> i32 {
        match self {
            Kind::Usage => exit_codes::USAGE,
            Kind::InvalidManifest
            | Kind::Manifest
            | Kind::UnknownTarget
            | Kind::UnknownModule
            | Kind::InvalidInput
            | Kind::Forbidden
            | Kind::Unauthenticated
            | Kind::NotFound => exit_codes::INVALID_INPUT,
            Kind::LockHeld => exit_codes::LOCK_HELD,
            Kind::BackupRefused | Kind::TagMoved => exit_codes::BACKUP_REFUSED,
            Kind::LowSpace => exit_codes::LOW_SPACE,
            Kind::NotConfirmed | Kind::StalePlan => exit_codes::NOT_CONFIRMED,
            Kind::LockFailed | Kind::Internal => exit_codes::INTERNAL,
        }
    }
}

/// An error's kind and the hint printed after it.
#[derive(Debug)]
struct Class {
    kind: Kind,
    hint: Option<String>,
}

impl Class {
    fn new(kind: Kind) -> Self {
        Self { kind, hint: None }
    }

    fn hint(kind: Kind, hint: impl Into<String>) -> Self {
        Self {
            kind,
            hint: Some(hint.into()),
        }
    }

    fn did_you_mean(kind: Kind, suggestion: Option<&String>) -> Self {
        Self {
            kind,
            hint: suggestion.map(|s| format!("did you mean `{s}`?")),
        }
    }
}

/// Every error variant's kind and hint: exhaustive, no `_` arm (see the module docs).
fn classify(err: &CliError) -> Class {
    match err {
        CliError::Ops(e) => ops(e),
        CliError::Spec(e) => spec(e),
        CliError::Io { .. } | CliError::Output(_) => Class::new(Kind::Internal),
        CliError::Insecure { .. } => Class::hint(
            Kind::InvalidInput,
            "listen on 127.0.0.1, give a certificate and key (`--tls-cert FILE --tls-key FILE`), or name the reverse proxy in front with `--trust-proxy ADDR`",
        ),
        CliError::Unauthenticated { .. } => Class::hint(
            Kind::Unauthenticated,
            "send `Authorization: Bearer TOKEN` with a token from `upkeep token create NAME --role ROLE`",
        ),
        CliError::CsrfMismatch => Class::hint(
            Kind::Forbidden,
            "send the `csrf_token` that `POST /api/v1/session` answered in `X-CSRF-Token`, or use `Authorization: Bearer TOKEN`",
        ),
        CliError::NotFound { .. } => Class::new(Kind::NotFound),
        CliError::BadRequest { .. } => Class::new(Kind::InvalidInput),
        CliError::SettingMissing { key, .. } => Class::hint(
            Kind::InvalidInput,
            format!("set it with `upkeep settings set {key} VALUE`"),
        ),
        CliError::StalePlan { .. } => Class::hint(
            Kind::StalePlan,
            "review the plan in this answer and confirm its digest",
        ),
    }
}

fn ops(err: &Error) -> Class {
    match err {
        Error::Manifest(e) => manifest(e),
        Error::Run(e) => run(e),
        Error::State(e) => state(e),
        Error::Plan(e) => plan(e),
        Error::Checksum(e) => checksum(e),
        Error::Backup(e) => backup(e),
        Error::Rollback(e) => rollback(e),
        Error::Files(e) => files(e),
        Error::Settings(e) => settings(e),
        Error::Schedule(e) => schedule(e),
        Error::Updates(e) => updates(e),
        Error::NotConfirmed { reason, .. } => match reason {
            Unconfirmed::NoTerminal => Class::hint(Kind::NotConfirmed, "pass --yes"),
            Unconfirmed::Declined => Class::new(Kind::NotConfirmed),
            Unconfirmed::Protected(_) => {
                Class::hint(Kind::NotConfirmed, "pass --force to delete it anyway")
            }
        },
        Error::NoChannel { .. } => Class::hint(
            Kind::InvalidInput,
            "add a `[channels.NAME]` table to the settings file; see `upkeep notify --help`",
        ),
        Error::UnknownChannel { suggestion, .. } => {
            Class::did_you_mean(Kind::InvalidInput, suggestion.as_ref())
        }
        Error::UnknownFilter { suggestion, .. } => Class {
            kind: Kind::Usage,
            hint: Some(suggestion.as_ref().map_or_else(
                || "`upkeep status` lists the manifest's modules".to_owned(),
                |s| format!("did you mean `{s}`?"),
            )),
        },
        Error::NotADirectory { .. } => Class::new(Kind::InvalidInput),
        Error::LastRunManifestGone { .. } => Class::hint(
            Kind::Manifest,
            "pass `--manifest PATH`, or run from the manifest's directory",
        ),
        Error::NoHome => Class::hint(
            Kind::InvalidInput,
            "set HOME, or pass `--dir` for where the units go",
        ),
        Error::SelectsNothing { .. } => Class::hint(
            Kind::InvalidInput,
            "`upkeep check` shows each module's update type; drop `--types` to cover them all",
        ),
        Error::Forbidden { .. } => Class::new(Kind::Forbidden),
        Error::TokenNameTaken { name } => token_name_taken(name),
        Error::InvalidTokenName { .. } => {
            Class::hint(Kind::InvalidInput, "e.g. `ci-deploy` or `grafana.prod`")
        }
        Error::UnknownToken { suggestion, .. } => unknown_token(suggestion.as_ref()),
        Error::StoredRole { .. } => Class::hint(
            Kind::Internal,
            "a newer upkeep wrote this ledger; use that one",
        ),
        Error::Io { .. } => Class::new(Kind::Internal),
    }
}

fn token_name_taken(name: &str) -> Class {
    Class::hint(
        Kind::InvalidInput,
        format!("pick another name, or revoke the old one first: `upkeep token revoke {name}`"),
    )
}

/// A token name that names no live token: `not-found` (404 through the API), as a run id
/// that names no run; the command line exits with the same code as for invalid input.
fn unknown_token(suggestion: Option<&String>) -> Class {
    Class {
        kind: Kind::NotFound,
        hint: Some(suggestion.map_or_else(
            || "`upkeep token list` lists the tokens".to_owned(),
            |s| format!("did you mean `{s}`?"),
        )),
    }
}

fn manifest(err: &ManifestError) -> Class {
    match err {
        ManifestError::Invalid { .. } => Class::new(Kind::InvalidManifest),
        ManifestError::Read { .. } => Class::new(Kind::Manifest),
        ManifestError::Missing { .. } => Class::hint(
            Kind::Manifest,
            "check the path given with `--manifest` (or in UPKEEP_MANIFEST)",
        ),
        ManifestError::NotFound => Class::hint(
            Kind::Manifest,
            "pass `--manifest PATH` or run from the manifest's directory",
        ),
    }
}

fn run(err: &RunError) -> Class {
    match err {
        RunError::Lock(e) => lock(e),
        RunError::State(e) => state(e),
        RunError::Plan(e) => plan(e),
        RunError::WriteBack(e) => write_back(e),
        RunError::HolderAlive { .. } => Class::hint(
            Kind::LockHeld,
            "wait for that run to finish; upkeep.lock is upkeep's and must not be deleted",
        ),
        RunError::Recovery(_) | RunError::Runtime(_) => Class::new(Kind::Internal),
    }
}

fn lock(err: &LockError) -> Class {
    match err {
        LockError::Held { .. } => {
            Class::hint(Kind::LockHeld, "wait for it to finish, or pass `--wait`")
        }
        LockError::StateDir { .. } | LockError::Io { .. } => Class::new(Kind::LockFailed),
    }
}

fn state(err: &StateError) -> Class {
    match err {
        StateError::Sqlite { .. }
        | StateError::Io { .. }
        | StateError::NotWal { .. }
        | StateError::WriterStopped => Class::new(Kind::Internal),
        StateError::TooNew { .. } => Class::hint(
            Kind::Internal,
            "a newer upkeep wrote this ledger; use that version (or a later one) with it",
        ),
    }
}

fn plan(err: &PlanError) -> Class {
    match err {
        PlanError::UnknownTarget { suggestion, .. } => {
            Class::did_you_mean(Kind::UnknownTarget, suggestion.as_ref())
        }
    }
}

fn write_back(err: &WriteBackError) -> Class {
    match err {
        WriteBackError::Io { .. } | WriteBackError::Unparsable { .. } => Class::new(Kind::Internal),
    }
}

fn checksum(err: &ChecksumError) -> Class {
    match err {
        ChecksumError::UnknownModule { suggestion, .. } => {
            Class::did_you_mean(Kind::UnknownModule, suggestion.as_ref())
        }
        ChecksumError::NoFolder { .. } => Class::new(Kind::UnknownModule),
        ChecksumError::Lock(e) => lock(e),
        ChecksumError::State(e) => state(e),
        ChecksumError::Write { .. } => Class::new(Kind::Internal),
    }
}

fn backup(err: &BackupError) -> Class {
    match err {
        BackupError::Placeholder(_) | BackupError::Nothing { .. } => Class::new(Kind::InvalidInput),
        BackupError::NotFound(_) => {
            Class::hint(Kind::InvalidInput, "`upkeep backup list` shows the backups")
        }
        BackupError::Undeclared { module, .. } => Class::hint(
            Kind::BackupRefused,
            format!(
                "nothing was restored; the module's declaration changed since the backup: declare the path again, or pass `--allow-changed-paths` to restore `{module}`'s data to the recorded path anyway"
            ),
        ),
        BackupError::Forbidden { .. } => Class::hint(
            Kind::InvalidInput,
            "narrow the module's `paths` to what it owns (or use `--state-dir` to keep upkeep's state elsewhere)",
        ),
        BackupError::Overlap { .. } => Class::hint(
            Kind::InvalidInput,
            "give each module paths of its own, or list the path under `shared` in both modules' `paths` if they really share it",
        ),
        BackupError::LowSpace { .. } => Class::hint(
            Kind::LowSpace,
            "free some space, prune old backups with `upkeep backup prune`, or lower --min-free",
        ),
        BackupError::Archive(e) => archive(e),
        BackupError::Store(e) => store(e),
        BackupError::State(e) => state(e),
        BackupError::Io { .. } => Class::new(Kind::Internal),
    }
}

fn archive(err: &ArchiveError) -> Class {
    const CHECK_ALL: &str =
        "nothing was restored; `upkeep backup verify --all` checks every backup";
    match err {
        ArchiveError::ChecksumMismatch { .. } | ArchiveError::Refused { .. } => {
            Class::hint(Kind::BackupRefused, CHECK_ALL)
        }
        ArchiveError::DeviceNeedsRoot { .. } => Class::hint(
            Kind::BackupRefused,
            "nothing was restored; restore as root, or leave the device's path out with `--module` or `--only`",
        ),
        // Writing, reading or swapping an archive failed: every such failure leaves the
        // host as it was and is documented as exit 7 with the refusals.
        ArchiveError::Io { .. }
        | ArchiveError::WriteVerifyFailed { .. }
        | ArchiveError::InvalidLabel { .. }
        | ArchiveError::UnsupportedRoot { .. }
        | ArchiveError::NameNotUtf8 { .. }
        | ArchiveError::Changed { .. }
        | ArchiveError::LabelNotInArchive { .. }
        | ArchiveError::NotStaged { .. }
        | ArchiveError::BadTarget { .. }
        | ArchiveError::TrialMismatch { .. } => Class::new(Kind::BackupRefused),
    }
}

fn store(err: &StoreError) -> Class {
    match err {
        StoreError::Archive(e) => archive(e),
        StoreError::State(e) => state(e),
        // A missing, tampered or misplaced chunk, a forged manifest: refused like an
        // archive that fails its checks, and nothing was restored.
        StoreError::MissingChunk { .. }
        | StoreError::BadChunk { .. }
        | StoreError::BadManifest { .. } => Class::hint(
            Kind::BackupRefused,
            "nothing was restored; `upkeep backup verify --all` checks every backup",
        ),
        StoreError::Io { .. } | StoreError::PackVerifyFailed { .. } => {
            Class::new(Kind::BackupRefused)
        }
        StoreError::LowSpace { .. } => Class::new(Kind::LowSpace),
    }
}

fn rollback(err: &RollbackError) -> Class {
    match err {
        RollbackError::UnknownModule { suggestion, .. } => {
            Class::did_you_mean(Kind::InvalidInput, suggestion.as_ref())
        }
        RollbackError::NoTarget { .. } => Class::new(Kind::InvalidInput),
        RollbackError::TagMoved { .. } => Class::new(Kind::TagMoved),
        RollbackError::Backup(e) => backup(e),
        RollbackError::State(e) => state(e),
        RollbackError::Git { .. } | RollbackError::Approve { .. } => Class::new(Kind::Internal),
    }
}

fn files(err: &FilesError) -> Class {
    match err {
        FilesError::Deploy(e) => deploy(e),
        FilesError::State(e) => state(e),
        FilesError::Record { .. } => Class::new(Kind::Internal),
        FilesError::Locked { .. } => Class::hint(
            Kind::LockHeld,
            "another upkeep (an update run) still holds it; pass `--wait-timeout DURATION` to wait longer",
        ),
        FilesError::Lock(_) => Class::new(Kind::LockFailed),
    }
}

fn deploy(err: &DeployError) -> Class {
    match err {
        DeployError::ListRoot { .. } | DeployError::Scripts { .. } => {
            Class::new(Kind::InvalidInput)
        }
    }
}

fn settings(err: &SettingsError) -> Class {
    match err {
        SettingsError::Io { .. } => Class::new(Kind::Internal),
        SettingsError::Syntax { .. }
        | SettingsError::Invalid { .. }
        | SettingsError::Channel { .. } => Class::new(Kind::InvalidInput),
        // The message already offers the closest key, as a spec's does.
        SettingsError::Unknown { key, suggestion } => match suggestion {
            Some(_) => Class::new(Kind::InvalidInput),
            None if key.starts_with("channels.") => Class::hint(
                Kind::InvalidInput,
                "notification channels are `[channels.NAME]` tables edited in the settings file; see `upkeep notify --help`",
            ),
            None => Class::hint(Kind::InvalidInput, "`upkeep settings list` shows them"),
        },
        SettingsError::Removed { .. } => Class::hint(
            Kind::InvalidInput,
            "`upkeep settings list` shows the settings there are",
        ),
    }
}

fn schedule(err: &ScheduleError) -> Class {
    match err {
        ScheduleError::BadName(_) => Class::new(Kind::InvalidInput),
        ScheduleError::Exists(name) => Class::hint(
            Kind::InvalidInput,
            format!("remove it first (`upkeep schedule remove {name}`) or pick another name"),
        ),
        ScheduleError::NotFound(_) => {
            Class::hint(Kind::InvalidInput, "`upkeep schedule list` shows them")
        }
        ScheduleError::TimeZone(_) => Class::hint(
            Kind::InvalidInput,
            "use an IANA name such as `Europe/Berlin` or `UTC`",
        ),
        ScheduleError::NoCalendar(_) => Class::hint(
            Kind::InvalidInput,
            "run the schedule with `upkeep daemon` instead",
        ),
        ScheduleError::Spec { .. } => Class::new(Kind::Internal),
        ScheduleError::State(e) => state(e),
    }
}

fn spec(err: &SpecError) -> Class {
    // A spec's own message already offers the closest name ("did you mean"), because the
    // engine shows it outside this binary too.
    match err {
        SpecError::Time { .. }
        | SpecError::Weekday { .. }
        | SpecError::MonthDay { .. }
        | SpecError::Empty { .. }
        | SpecError::CronFieldCount { .. }
        | SpecError::CronField { .. } => Class::new(Kind::InvalidInput),
    }
}

fn updates(err: &UpdatesError) -> Class {
    match err {
        UpdatesError::UnknownModule { suggestion, .. } => {
            Class::did_you_mean(Kind::UnknownModule, suggestion.as_ref())
        }
        UpdatesError::NoSource { .. } => Class::hint(
            Kind::UnknownModule,
            "give it a `source` in the manifest (README: \"Checking for updates\")",
        ),
        UpdatesError::State(e) => state(e),
    }
}

#[cfg(test)]
mod tests {
    use super::Kind;
    use upkeep_core::exit_codes;

    /// Every kind, for the test below; the match makes a new kind fail to compile here
    /// until it is listed.
    const ALL: [Kind; 17] = [
        Kind::Usage,
        Kind::InvalidManifest,
        Kind::Manifest,
        Kind::UnknownTarget,
        Kind::UnknownModule,
        Kind::InvalidInput,
        Kind::LockHeld,
        Kind::LockFailed,
        Kind::BackupRefused,
        Kind::TagMoved,
        Kind::LowSpace,
        Kind::NotConfirmed,
        Kind::Forbidden,
        Kind::Unauthenticated,
        Kind::NotFound,
        Kind::StalePlan,
        Kind::Internal,
    ];

    #[test]
    fn every_kind_exits_with_a_documented_code() {
        for kind in ALL {
            match kind {
                Kind::Usage
                | Kind::InvalidManifest
                | Kind::Manifest
                | Kind::UnknownTarget
                | Kind::UnknownModule
                | Kind::InvalidInput
                | Kind::LockHeld
                | Kind::LockFailed
                | Kind::BackupRefused
                | Kind::TagMoved
                | Kind::LowSpace
                | Kind::NotConfirmed
                | Kind::Forbidden
                | Kind::Unauthenticated
                | Kind::NotFound
                | Kind::StalePlan
                | Kind::Internal => {}
            }
            assert!(
                exit_codes::TABLE
                    .iter()
                    .any(|(code, _)| *code == kind.code()),
                "{kind:?} exits {}, which README's table does not list",
                kind.code()
            );
            assert_ne!(kind.code(), exit_codes::OK, "{kind:?} is an error");
        }
    }
}
