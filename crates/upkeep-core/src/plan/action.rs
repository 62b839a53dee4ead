//! [`Action`]: why a module runs or does not, as a plan step says it.

use crate::manifest::RuleOrigin;

/// Why a module runs or does not.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "action", rename_all = "kebab-case")]
pub enum Action {
    /// Never applied: first setup.
    Setup,
    /// The declared version differs from the applied one.
    Upgrade {
        /// Applied version.
        from: Option<String>,
        /// Declared version.
        to: Option<String>,
    },
    /// The module's declared checksum differs from the one it was applied with.
    ChecksumChanged,
    /// Up to date but `--force` was given.
    Forced,
    /// Nothing changed, but its rule is `every-run`: its code decides whether there is
    /// anything new.
    EveryRun {
        /// What its update source offers and its policy holds back, if anything.
        #[serde(skip_serializing_if = "Option::is_none")]
        held_back: Option<String>,
    },
    /// Its parent's code runs it (the parent is in this run and runs its children), so
    /// upkeep does not run it as a step of its own.
    RunByParent {
        /// The parent whose code runs it.
        parent: String,
        /// What decided that the parent runs its children.
        origin: RuleOrigin,
        /// The same, in words.
        reason: String,
    },
    /// A file deployment that is up to date still looks for files to deploy.
    CheckFiles,
    /// Its update source offers an update its policy allows.
    Update {
        /// The release, or how many packages.
        to: String,
    },
    /// Its update source offers an update, but its policy holds it back.
    HeldBack {
        /// The newest version held.
        version: String,
        /// Why.
        reason: String,
    },
    /// Nothing to do.
    UpToDate,
    /// Disabled in the manifest.
    Disabled,
    /// A parent is disabled, so this module is not run either.
    ParentDisabled {
        /// The disabled ancestor.
        parent: String,
    },
    /// A group: no code of its own.
    Group,
}

impl Action {
    /// Whether the module's code runs.
    pub fn runs(&self) -> bool {
        matches!(
            self,
            Action::Setup
                | Action::Upgrade { .. }
                | Action::ChecksumChanged
                | Action::Forced
                | Action::EveryRun { .. }
                | Action::CheckFiles
                | Action::Update { .. }
        )
    }

    /// How `status` words the module's state: as [`Action::describe`], except that a
    /// module run on every run with nothing changed is up to date (that it runs again is
    /// the plan's business, not its state).
    pub fn state(&self) -> String {
        match self {
            Action::EveryRun { held_back: None } => Action::UpToDate.describe(),
            Action::EveryRun {
                held_back: Some(held),
            } => format!("up to date ({held} held back)"),
            other => other.describe(),
        }
    }

    /// A short phrase for tables.
    pub fn describe(&self) -> String {
        match self {
            Action::Setup => "setup (never applied)".to_owned(),
            Action::Upgrade { from, to } => format!(
                "upgrade {} -> {}",
                from.as_deref().unwrap_or("-"),
                to.as_deref().unwrap_or("-")
            ),
            Action::ChecksumChanged => "rerun (checksum changed)".to_owned(),
            Action::Forced => "rerun (forced)".to_owned(),
            Action::EveryRun { held_back: None } => "run (every run)".to_owned(),
            Action::EveryRun {
                held_back: Some(held),
            } => format!("run (every run; {held} held back)"),
            Action::RunByParent { parent, reason, .. } => {
                format!("run by parent `{parent}` ({reason})")
            }
            Action::CheckFiles => "check files (deploy what is pending)".to_owned(),
            Action::Update { to } => format!("update to {to}"),
            Action::HeldBack { version, reason } => format!("skip ({version} held back: {reason})"),
            Action::UpToDate => "up to date".to_owned(),
            Action::Disabled => "skip (disabled)".to_owned(),
            Action::ParentDisabled { parent } => format!("skip (parent `{parent}` disabled)"),
            Action::Group => "group".to_owned(),
        }
    }
}
