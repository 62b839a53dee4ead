//! Use cases: one function per thing a person (or a schedule) can ask upkeep to do.
//!
//! Every front end calls these and nothing below them: the command line parses its flags,
//! calls one function here and renders what comes back; `upkeep daemon` calls the same
//! [`run::scheduled`] a person's `upkeep run --scheduled NAME` calls; the HTTP API and chat
//! commands are meant to do the same. So that a long-running server can call them as well
//! as a one-shot command:
//!
//! - each takes a [`Context`] resolved once (where the manifest, the state directory and
//!   the settings file are, the settings themselves and a clock) and returns typed values;
//!   nothing here prints, exits or keeps process-global state;
//! - long work reports through a [`crate::run::Reporter`] and can be stopped through a
//!   [`crate::run::Cancel`] the caller keeps;
//! - a question that needs a person's yes is asked through [`Confirm`], which a server
//!   answers from its request and the command line from `--yes` or a terminal prompt.
//!
//! The layers below (`run`, `backup`, `state`, ...) know nothing of front ends; this is
//! the only module that may import from all of them, and none of them imports it.

pub mod access;
pub mod audit;
pub mod backup;
pub mod check;
pub mod checksum;
pub mod discord;
pub mod doctor;
pub mod files;
pub mod notify;
pub mod query;
pub mod rollback;
pub mod run;
pub mod schedule;
pub mod settings;
pub mod status;
pub mod watch;

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use crate::backup::BackupError;
use crate::checksum::ChecksumError;
use crate::deploy::ledgered::FilesError;
use crate::manifest::{self, Manifest, ManifestError};
use crate::notify::{CourierHandle, Notifier};
use crate::plan::PlanError;
use crate::rollback::RollbackError;
use crate::run::RunError;
use crate::schedule::store::ScheduleError;
use crate::settings::{Settings, SettingsError};
use crate::state::StateError;
use crate::updates::UpdatesError;

pub use settings::Resolved;

/// Where things are, as the person gave them (flags or `UPKEEP_*` variables); `None`
/// means "the default".
#[derive(Debug, Clone, Default)]
pub struct Given {
    /// `--manifest`.
    pub manifest: Option<PathBuf>,
    /// `--state-dir`.
    pub state_dir: Option<PathBuf>,
    /// `--config`.
    pub config: Option<PathBuf>,
}

/// What time it is, for everything a use case dates (history windows, backup ages,
/// schedules' next times). A server and a test can pin it.
#[derive(Debug, Clone, Copy, Default)]
pub enum Clock {
    /// The system's clock.
    #[default]
    System,
    /// Always this instant (ms since the epoch).
    Fixed(i64),
}

impl Clock {
    /// Now, in ms since the epoch.
    pub fn now_ms(self) -> i64 {
        match self {
            Self::System => crate::state::now_ms(),
            Self::Fixed(ms) => ms,
        }
    }
}

/// Where the manifest a context uses came from. They are tried in this order: what the
/// person gave wins over what the current directory holds, which wins over what the
/// ledger remembers, so a remembered manifest never hides one the person can see.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ManifestOrigin {
    /// `--manifest` or `UPKEEP_MANIFEST`.
    Given,
    /// `./upkeep.toml`, else `./manifest.json`.
    CurrentDirectory,
    /// The manifest of the newest run in this state directory's ledger.
    LastRun,
}

impl ManifestOrigin {
    /// How the origin reads after the path, e.g. "from the last run".
    pub fn describe(self) -> &'static str {
        match self {
            Self::Given => "given",
            Self::CurrentDirectory => "found in the current directory",
            Self::LastRun => "from the last run",
        }
    }
}

/// The manifest a context uses: where it is (absolute) and why that one.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ManifestChoice {
    /// The manifest file, absolute.
    pub path: PathBuf,
    /// Why this file.
    pub from: ManifestOrigin,
}

/// Everything a use case needs to know about where it runs, resolved once.
#[derive(Debug, Clone)]
pub struct Context {
    /// The manifest as located (the path as given, so that diagnostics name it as the
    /// person wrote it) and as chosen (absolute, with its origin); `None` when there is none.
    manifest: Option<(PathBuf, ManifestChoice)>,
    state_dir: PathBuf,
    config: PathBuf,
    settings: Settings,
    resolved: Resolved,
    clock: Clock,
    courier: Option<CourierHandle>,
}

impl Context {
    /// Resolve what was given: the state directory and settings file (absolute), the
    /// settings read from that file, and which manifest to use (see [`ManifestOrigin`] for
    /// the order). The manifest itself is read by each use case, since a long-running
    /// caller must see it change.
    ///
    /// # Errors
    /// The settings file cannot be read or holds an invalid setting; the ledger, asked
    /// for the last run's manifest, cannot be read.
    pub fn resolve(given: Given) -> Result<Self, Error> {
        let Given {
            manifest,
            state_dir,
            config,
        } = given;
        let config = config.unwrap_or_else(crate::settings::default_path);
        let config = std::path::absolute(&config).unwrap_or(config);
        let settings = Settings::load(&config)?;
        let state_dir = crate::paths::state_dir(state_dir);
        Ok(Self {
            manifest: choose_manifest(manifest.as_deref(), &state_dir)?,
            state_dir,
            config,
            resolved: Resolved::from_settings(&settings),
            settings,
            clock: Clock::System,
            courier: None,
        })
    }

    /// The same places with the settings file read again (a daemon does this before each
    /// scheduled run, so a changed setting takes effect without a restart).
    ///
    /// # Errors
    /// As [`Context::resolve`].
    pub fn reload(&self) -> Result<Self, Error> {
        let settings = Settings::load(&self.config)?;
        Ok(Self {
            resolved: Resolved::from_settings(&settings),
            settings,
            ..self.clone()
        })
    }

    /// This context with a pinned clock.
    #[must_use]
    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    /// This context with a courier the caller keeps running (a daemon or a server): use
    /// cases wake it instead of starting their own delivery.
    #[must_use]
    pub fn with_courier(mut self, courier: Option<CourierHandle>) -> Self {
        self.courier = courier;
        self
    }

    /// The state directory (absolute).
    pub fn state_dir(&self) -> &Path {
        &self.state_dir
    }

    /// The settings file (absolute; it need not exist).
    pub fn config(&self) -> &Path {
        &self.config
    }

    /// The settings as read from the file.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// The settings as the use cases take them.
    pub fn resolved(&self) -> &Resolved {
        &self.resolved
    }

    /// The clock.
    pub fn clock(&self) -> Clock {
        self.clock
    }

    /// The manifest's path: the one given, else `./upkeep.toml`, else `./manifest.json`,
    /// else the last run's (as [`ManifestOrigin`] orders them).
    ///
    /// # Errors
    /// [`ManifestError::NotFound`] when none was given, neither file exists and the ledger
    /// remembers no run.
    pub fn manifest_path(&self) -> Result<PathBuf, Error> {
        Ok(self.manifest_choice()?.0.clone())
    }

    /// Which manifest this context uses and why: what `status`, `history` and `plan` tell
    /// the person when they did not name it.
    ///
    /// # Errors
    /// As [`Context::manifest_path`].
    pub fn manifest_chosen(&self) -> Result<&ManifestChoice, Error> {
        Ok(&self.manifest_choice()?.1)
    }

    fn manifest_choice(&self) -> Result<&(PathBuf, ManifestChoice), Error> {
        Ok(self.manifest.as_ref().ok_or(ManifestError::NotFound)?)
    }

    /// Read and validate the manifest.
    ///
    /// # Errors
    /// [`ManifestError`]: missing, unreadable or invalid (with every diagnostic).
    pub fn manifest(&self) -> Result<Manifest, Error> {
        let (path, chosen) = self.manifest_choice()?;
        match manifest::load(path) {
            Err(ManifestError::Missing { path }) if chosen.from == ManifestOrigin::LastRun => {
                Err(Error::LastRunManifestGone { path })
            }
            loaded => Ok(loaded?),
        }
    }

    /// The arguments that make another upkeep (a systemd unit, a re-executed daemon) use
    /// the same manifest, state directory and settings file as this one: every place
    /// absolute, whether it was given or defaulted, so that the other process, which may
    /// run as another user or from another directory, resolves nothing by itself.
    ///
    /// # Errors
    /// The manifest cannot be found.
    pub fn passed_on(&self) -> Result<Vec<OsString>, Error> {
        let manifest = self.manifest_chosen()?.path.clone();
        Ok(vec![
            "--manifest".into(),
            manifest.into_os_string(),
            "--state-dir".into(),
            self.state_dir.clone().into_os_string(),
            "--config".into(),
            self.config.clone().into_os_string(),
        ])
    }

    /// The ledger, created with the state directory if there is none yet: for use cases
    /// that write. Every use case opens it here, so the ledger's place is decided once.
    ///
    /// # Errors
    /// The state directory or the database cannot be opened or migrated.
    pub fn ledger(&self) -> Result<crate::state::Ledger, Error> {
        Ok(crate::state::Ledger::open(&self.state_dir)?)
    }

    /// The ledger if it exists, for use cases that only read (they never create the state
    /// directory).
    ///
    /// # Errors
    /// The database cannot be opened.
    pub fn existing_ledger(&self) -> Result<Option<crate::state::Ledger>, Error> {
        Ok(crate::state::Ledger::open_existing(&self.state_dir)?)
    }

    /// Which notifications a use case enqueues, and the courier to wake for them.
    fn notifier(&self, courier: Option<CourierHandle>) -> Notifier {
        Notifier {
            routing: self.resolved.routing.clone(),
            courier: courier.or_else(|| self.courier.clone()),
        }
    }
}

/// Which manifest to use: the one given, else one in the current directory, else the one
/// the ledger of `state_dir` last ran (which it recorded absolute), else none. Reading the
/// ledger never creates it.
fn choose_manifest(
    given: Option<&Path>,
    state_dir: &Path,
) -> Result<Option<(PathBuf, ManifestChoice)>, Error> {
    let from = if given.is_some() {
        ManifestOrigin::Given
    } else {
        ManifestOrigin::CurrentDirectory
    };
    let located = match manifest::locate(given) {
        Ok(path) => Some((path, from)),
        Err(ManifestError::NotFound) => crate::state::Ledger::open_existing(state_dir)?
            .map(|ledger| ledger.last_run_manifest())
            .transpose()?
            .flatten()
            .map(|path| (path, ManifestOrigin::LastRun)),
        Err(other) => return Err(other.into()),
    };
    located
        .map(|(path, from)| {
            let absolute = std::path::absolute(&path)
                .map_err(io(format!("resolve the manifest path {}", path.display())))?;
            Ok((
                path,
                ManifestChoice {
                    path: absolute,
                    from,
                },
            ))
        })
        .transpose()
}

/// A question that needs a person's yes before a use case goes on (restore over live
/// data, roll a module back, delete a protected backup).
pub trait Confirm {
    /// Ask `question` (an action, "restore 2 paths from backup 7"); `Err` says why the
    /// answer is no and stops the use case with [`Error::NotConfirmed`].
    fn confirm(&self, question: &str) -> Result<(), Unconfirmed>;
}

/// Why an action was not confirmed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Unconfirmed {
    /// No one to ask (no `--yes` and no terminal), and the request did not say yes.
    #[error("it needs confirmation and there is no terminal to ask on")]
    NoTerminal,
    /// The person did not answer yes.
    #[error("not confirmed")]
    Declined,
    /// A backup is protected (the last safe version's, a module's newest).
    #[error("it is protected ({0}) and deleting it removes a way back")]
    Protected(String),
}

/// Answers every question with yes: for a caller that already has the person's yes
/// (`--yes`, a confirmed request).
#[derive(Debug, Clone, Copy)]
pub struct Confirmed;

impl Confirm for Confirmed {
    fn confirm(&self, _question: &str) -> Result<(), Unconfirmed> {
        Ok(())
    }
}

/// Stop with [`Error::NotConfirmed`] unless `confirm` says yes to `question`.
fn ask(confirm: &dyn Confirm, action: String) -> Result<(), Error> {
    confirm
        .confirm(&action)
        .map_err(|reason| Error::NotConfirmed { action, reason })
}

/// Why a use case could not be carried out. Per-module failures are not errors: they are
/// outcomes in the values the use cases return.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The manifest is missing, unreadable or invalid.
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    /// A run could not start or go on.
    #[error(transparent)]
    Run(#[from] RunError),
    /// The ledger failed.
    #[error(transparent)]
    State(#[from] StateError),
    /// The targets name nothing.
    #[error(transparent)]
    Plan(#[from] PlanError),
    /// A checksum operation failed.
    #[error(transparent)]
    Checksum(#[from] ChecksumError),
    /// A backup operation failed or was refused.
    #[error(transparent)]
    Backup(#[from] BackupError),
    /// A rollback failed or was refused.
    #[error(transparent)]
    Rollback(#[from] RollbackError),
    /// A deployment failed.
    #[error(transparent)]
    Files(#[from] FilesError),
    /// The settings file is invalid, or a setting cannot be changed.
    #[error(transparent)]
    Settings(#[from] SettingsError),
    /// A schedule operation failed.
    #[error(transparent)]
    Schedule(#[from] ScheduleError),
    /// An update check failed as a whole.
    #[error(transparent)]
    Updates(#[from] UpdatesError),
    /// An action that needs confirmation did not get it; nothing changed.
    #[error("{action}: {reason}")]
    NotConfirmed {
        /// What would have been done, e.g. "restore 2 paths from backup 3 (manual)".
        action: String,
        /// Why it was not done.
        reason: Unconfirmed,
    },
    /// `notify test` with no channel in the settings.
    #[error("find a notification channel: {} defines none", settings.display())]
    NoChannel {
        /// The settings file.
        settings: PathBuf,
    },
    /// `notify test NAME` with a name the settings do not define.
    #[error("find channel `{name}` in {}: no channel has that name", settings.display())]
    UnknownChannel {
        /// The name given.
        name: String,
        /// The settings file.
        settings: PathBuf,
        /// The closest channel name, for a likely typo.
        suggestion: Option<String>,
    },
    /// A filter (`history --module NAME`) names nothing there is: a usage error, since a
    /// filter that matches nothing would look like an empty history.
    #[error("filter by `{flag} {value}`: no module of the manifest or the history has that name")]
    UnknownFilter {
        /// The flag, e.g. `--module`.
        flag: &'static str,
        /// What was given.
        value: String,
        /// The closest known name, for a likely typo.
        suggestion: Option<String>,
    },
    /// A directory given (`--root`) is not one.
    #[error("use `{flag} {}`: it is not a directory", path.display())]
    NotADirectory {
        /// The flag, e.g. `--root`.
        flag: &'static str,
        /// What was given.
        path: PathBuf,
    },
    /// No manifest was given or found in the current directory, and the one the last run
    /// used is gone.
    #[error("read {} (the last run's manifest): it no longer exists", path.display())]
    LastRunManifestGone {
        /// The manifest the ledger remembers.
        path: PathBuf,
    },
    /// Neither `XDG_CONFIG_HOME` nor `HOME` is set, so the user's units have no place.
    #[error("find your config directory: neither XDG_CONFIG_HOME nor HOME is set")]
    NoHome,
    /// A schedule whose targets and types select no module: it would run nothing.
    #[error("add schedule `{name}`: no module {} has updates of type {}", if targets.is_empty() { "of the manifest".to_owned() } else { format!("among {}", targets.join(", ")) }, types.join(" or "))]
    SelectsNothing {
        /// The schedule.
        name: String,
        /// Its targets.
        targets: Vec<String>,
        /// Its update types.
        types: Vec<String>,
    },
    /// A principal's role may not do an action (see [`access::Action::least_role`]).
    #[error("{action} as {principal}: the role {role} may not")]
    Forbidden {
        /// Who asked, e.g. `token:grafana`.
        principal: String,
        /// Its role.
        role: access::Role,
        /// What it asked for.
        action: access::Action,
    },
    /// `token create NAME` with a name a token that is not revoked already has.
    #[error("create token `{name}`: a token of that name exists")]
    TokenNameTaken {
        /// The name.
        name: String,
    },
    /// A token name with characters other than letters, digits, `.`, `-` and `_`, or
    /// longer than 64.
    #[error(
        "create token `{name}`: a name is 1 to 64 letters, digits, `.`, `-` or `_`, not starting with `-`"
    )]
    InvalidTokenName {
        /// The name given.
        name: String,
    },
    /// `token revoke NAME` with a name no token that is not revoked has.
    #[error("find token `{name}`: no token that is not revoked has that name")]
    UnknownToken {
        /// The name given.
        name: String,
        /// The closest token name, for a likely typo.
        suggestion: Option<String>,
    },
    /// A token row whose role this upkeep does not know (a newer one wrote it).
    #[error("read token `{token}`: its role `{role}` is not one this upkeep knows")]
    StoredRole {
        /// The token.
        token: String,
        /// The role as stored.
        role: String,
    },
    /// A file-system or system call outside the layers below (writing units, finding
    /// paths).
    #[error("{action}")]
    Io {
        /// What was being done.
        action: String,
        /// Why it failed.
        #[source]
        source: std::io::Error,
    },
}

/// Wrap an I/O error with what was being done, for `map_err`.
fn io(action: impl Into<String>) -> impl FnOnce(std::io::Error) -> Error {
    let action = action.into();
    move |source| Error::Io { action, source }
}
