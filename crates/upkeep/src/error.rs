//! Errors that stop a command, and how each maps to an exit code and a message.

use std::fmt::Write;

use upkeep_core::backup::BackupError;
use upkeep_core::checksum::ChecksumError;
use upkeep_core::exit_codes;
use upkeep_core::files::FilesError;
use upkeep_core::lock::LockError;
use upkeep_core::manifest::ManifestError;
use upkeep_core::plan::PlanError;
use upkeep_core::rollback::RollbackError;
use upkeep_core::run::RunError;
use upkeep_core::schedule::store::ScheduleError;
use upkeep_core::settings::SettingsError;
use upkeep_core::state::StateError;
use upkeep_core::updates::UpdatesError;

use crate::render;

/// Everything a command can fail with.
#[derive(Debug, thiserror::Error)]
pub(crate) enum CliError {
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    #[error(transparent)]
    Run(#[from] RunError),
    #[error(transparent)]
    State(#[from] StateError),
    #[error(transparent)]
    Plan(#[from] PlanError),
    #[error(transparent)]
    Checksum(#[from] ChecksumError),
    #[error(transparent)]
    Backup(#[from] BackupError),
    #[error(transparent)]
    Rollback(#[from] RollbackError),
    #[error(transparent)]
    Files(#[from] FilesError),
    #[error(transparent)]
    Settings(#[from] SettingsError),
    #[error(transparent)]
    Schedule(#[from] ScheduleError),
    #[error(transparent)]
    Updates(#[from] UpdatesError),
    #[error("{0}")]
    NotConfirmed(String),
    /// A command-line value that parses but names nothing usable (a missing directory).
    #[error("{0}")]
    BadArgument(String),
    /// A file-system or system call outside printing (writing units, finding paths).
    #[error("{action}")]
    Io {
        action: String,
        #[source]
        source: std::io::Error,
    },
    #[error("write to stdout")]
    Output(#[from] std::io::Error),
}

impl From<upkeep_core::ops::Error> for CliError {
    fn from(err: upkeep_core::ops::Error) -> Self {
        use upkeep_core::ops::Error;
        match err {
            Error::Manifest(e) => Self::Manifest(e),
            Error::Run(e) => Self::Run(e),
            Error::State(e) => Self::State(e),
            Error::Plan(e) => Self::Plan(e),
            Error::Checksum(e) => Self::Checksum(e),
            Error::Backup(e) => Self::Backup(e),
            Error::Rollback(e) => Self::Rollback(e),
            Error::Files(e) => Self::Files(e),
            Error::Settings(e) => Self::Settings(e),
            Error::Schedule(e) => Self::Schedule(e),
            Error::Updates(e) => Self::Updates(e),
            Error::NotConfirmed { question, reason } => {
                Self::NotConfirmed(format!("{question}: {reason}"))
            }
            Error::BadArgument(message) => Self::BadArgument(message),
            Error::Io { action, source } => Self::Io { action, source },
        }
    }
}

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
    if json {
        print_json_error(err);
    }
    if let CliError::Manifest(ManifestError::Invalid { diagnostics, .. }) = err {
        render::diagnostics(diagnostics);
        return exit_codes::INVALID_INPUT;
    }
    let mut message = format!("error: failed to {err}");
    let mut source = std::error::Error::source(err);
    while let Some(cause) = source {
        let text = cause.to_string();
        if !message.ends_with(&text) {
            let _ = write!(message, "\n  caused by: {text}");
        }
        source = cause.source();
    }
    crate::printer::get().message(&message);
    if let Some(hint) = hint(err) {
        crate::printer::get().message(&format!("hint: {hint}"));
    }
    code(err)
}

fn print_json_error(err: &CliError) {
    let value = match err {
        CliError::Manifest(ManifestError::Invalid { path, diagnostics }) => serde_json::json!({
            "error": "invalid-manifest",
            "exit_code": exit_codes::INVALID_INPUT,
            "manifest": path,
            "diagnostics": diagnostics,
        }),
        other => serde_json::json!({
            "error": kind(other),
            "exit_code": code(other),
            "message": format!("failed to {other}"),
            "hint": hint(other),
        }),
    };
    let _ = crate::commands::print_text(&format!("{value:#}\n"));
}

fn kind(err: &CliError) -> &'static str {
    match err {
        CliError::Manifest(_) => "manifest",
        CliError::Run(RunError::Lock(_)) | CliError::Checksum(ChecksumError::Lock(_)) => "lock",
        CliError::Run(RunError::Plan(_)) | CliError::Plan(_) => "unknown-target",
        CliError::Checksum(
            ChecksumError::UnknownModule { .. } | ChecksumError::NoFolder { .. },
        )
        | CliError::Updates(UpdatesError::UnknownModule { .. } | UpdatesError::NoSource { .. }) => {
            "unknown-module"
        }
        CliError::Backup(BackupError::Archive(_))
        | CliError::Rollback(RollbackError::Backup(BackupError::Archive(_))) => "backup-refused",
        CliError::Backup(BackupError::LowSpace { .. }) => "low-space",
        CliError::Backup(
            BackupError::NotFound(_) | BackupError::Nothing(_) | BackupError::Placeholder(_),
        )
        | CliError::Rollback(RollbackError::UnknownModule(_) | RollbackError::NoTarget { .. })
        | CliError::Files(FilesError::Deploy(_))
        | CliError::Settings(
            SettingsError::Syntax { .. }
            | SettingsError::Unknown { .. }
            | SettingsError::Invalid { .. }
            | SettingsError::Channel { .. },
        )
        | CliError::Schedule(
            ScheduleError::BadName(_)
            | ScheduleError::Exists(_)
            | ScheduleError::NotFound(_)
            | ScheduleError::TimeZone(_)
            | ScheduleError::NoCalendar(_),
        )
        | CliError::BadArgument(_) => "invalid-input",
        CliError::NotConfirmed(_) => "not-confirmed",
        CliError::Rollback(RollbackError::TagMoved { .. }) => "tag-moved",
        CliError::Run(_)
        | CliError::State(_)
        | CliError::Checksum(_)
        | CliError::Backup(_)
        | CliError::Rollback(_)
        | CliError::Files(_)
        | CliError::Settings(_)
        | CliError::Schedule(_)
        | CliError::Updates(UpdatesError::State(_))
        | CliError::Io { .. }
        | CliError::Output(_) => "internal",
    }
}

fn hint(err: &CliError) -> Option<String> {
    match err {
        CliError::Plan(PlanError::UnknownTarget {
            suggestion: Some(s),
            ..
        })
        | CliError::Run(RunError::Plan(PlanError::UnknownTarget {
            suggestion: Some(s),
            ..
        }))
        | CliError::Checksum(ChecksumError::UnknownModule {
            suggestion: Some(s),
            ..
        })
        | CliError::Updates(UpdatesError::UnknownModule {
            suggestion: Some(s),
            ..
        }) => Some(format!("did you mean `{s}`?")),
        CliError::Updates(UpdatesError::NoSource { .. }) => {
            Some("give it a `source` in the manifest (README: \"Checking for updates\")".to_owned())
        }
        CliError::Run(RunError::Lock(LockError::Held { .. }))
        | CliError::Checksum(ChecksumError::Lock(LockError::Held { .. })) => {
            Some("wait for it to finish, or pass `--wait`".to_owned())
        }
        CliError::Backup(BackupError::LowSpace { .. }) => Some(
            "free some space, prune old backups with `upkeep backup prune`, or lower --min-free"
                .to_owned(),
        ),
        CliError::Backup(BackupError::Archive(_)) => Some(
            "nothing was restored; `upkeep backup verify --all` checks every backup".to_owned(),
        ),
        CliError::Settings(SettingsError::Unknown { key, .. }) if key.starts_with("channels.") => {
            Some("notification channels are `[channels.NAME]` tables edited in the settings file; see `upkeep notify --help`".to_owned())
        }
        CliError::Manifest(ManifestError::NotFound) => {
            Some("pass `--manifest PATH` or run from the manifest's directory".to_owned())
        }
        _ => None,
    }
}

/// The exit code follows from the error's kind, so the two cannot disagree.
fn code(err: &CliError) -> i32 {
    match kind(err) {
        "manifest" | "unknown-target" | "unknown-module" | "invalid-input" => {
            exit_codes::INVALID_INPUT
        }
        "lock"
            if matches!(
                err,
                CliError::Run(RunError::Lock(LockError::Held { .. }))
                    | CliError::Checksum(ChecksumError::Lock(LockError::Held { .. }))
            ) =>
        {
            exit_codes::LOCK_HELD
        }
        "backup-refused" | "tag-moved" => exit_codes::BACKUP_REFUSED,
        "low-space" => exit_codes::LOW_SPACE,
        "not-confirmed" => exit_codes::NOT_CONFIRMED,
        _ => exit_codes::INTERNAL,
    }
}
