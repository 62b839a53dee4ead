//! Updates from upstream: where a module's new versions come from (its [`Source`]), what
//! a check found ([`Finding`]), and which of it a run may apply ([`Policy`], [`decide`]).
//!
//! A module names one source in its manifest entry:
//!
//! | kind | what it asks | finds |
//! |---|---|---|
//! | `command` | a program that prints the available version, plain or as JSON | releases |
//! | `git` | the tags of a remote or local repository matching a pattern, semver-sorted | releases |
//! | `http` | a JSON release feed | releases |
//! | `pip` | `pip list --outdated` in the module's or the updates directory's virtualenv | packages |
//! | `apt` | the host's upgradable packages, security origins flagged | packages |
//!
//! Release sources say which single version the module could move to; package sources list
//! every outdated package. Results are cached in the ledger with the time of the check, so
//! `upkeep run` and `upkeep status` never touch the network.
//!
//! [`check_updates`] (what `upkeep check` calls) asks the sources of the selected modules
//! in parallel, at most [`MAX_PARALLEL_CHECKS`] at once, each bounded by its source's
//! timeout; a source that fails is reported for its module and never stops the others.
//! Every answer, success or failure, is recorded in the ledger with its time, and the report
//! is built from those rows, so `--cached` reports exactly what the last check found.
//! [`new_versions`] lists what a report found per module, for announcing it. One file per
//! source kind (`command.rs`, `git.rs`, `http.rs`, `pip.rs`, `apt.rs`; JSON feeds in
//! `feed.rs`) turns the source's answer into a [`Finding`]; processes start only through
//! [`crate::exec::capture`], and error messages never carry a URL's secrets.
//!
//! What a module's "current" version is: the upstream version it last installed (recorded
//! in the ledger when a run that moved it to a target succeeded), else the version the check
//! itself reported as installed (a check command's `current`), else the module's declared
//! version.
//!
//! A [`Policy`] holds updates back: `hold` holds everything, `pin` names the one version
//! to be on, `range` a semver requirement (`^1.4`, `>=2, <3`), `channel` whether
//! pre-releases count, and `ask_before_major` (on by default) holds major and breaking
//! updates until a run is given `--allow-breaking`. A module that moves receives its target
//! in `UPKEEP_TARGET_VERSION` (release sources) or `UPKEEP_TARGET_PACKAGES` (package
//! sources, JSON).

mod apt;
mod check;
mod command;
mod feed;
mod git;
mod http;
mod pip;
mod policy;
mod report;

use std::time::Duration;

pub use check::{CheckError, MAX_PARALLEL_CHECKS, ModuleCheck, check, check_modules};
pub use policy::{Decision, Held, HoldReason, PackageDecision, decide, decide_packages};
pub use report::{
    CheckOptions, CurrentFrom, HeldBack, ModuleReport, NewVersion, NewVersions, PackageReport,
    Summary, UpdateReport, UpdatesError, check_updates, current_version, new_versions,
};

/// The kind of update, as `upkeep check --type` and schedules select them (the seed's
/// `bot`, `packages`, `config` and `dependencies`; `app` is its `bot`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum UpdateType {
    /// The software a module installs (command, git and http sources by default).
    App,
    /// Python packages (pip sources).
    Packages,
    /// Configuration templates.
    Config,
    /// System packages and other dependencies (apt sources).
    Dependencies,
}

impl UpdateType {
    /// Every type, in the order reports list them.
    pub const ALL: [UpdateType; 4] = [
        UpdateType::App,
        UpdateType::Packages,
        UpdateType::Config,
        UpdateType::Dependencies,
    ];

    /// The name manifests and the command line use.
    pub fn name(self) -> &'static str {
        match self {
            UpdateType::App => "app",
            UpdateType::Packages => "packages",
            UpdateType::Config => "config",
            UpdateType::Dependencies => "dependencies",
        }
    }

    /// The type called `name`.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.name() == name)
    }
}

/// Where a module's updates come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceKind {
    /// A program printing the available version: one line of plain text, or a JSON
    /// object with the fields of [`Release`] (and optionally `current`), or a JSON list of
    /// such objects.
    Command {
        /// Program and arguments.
        argv: Vec<String>,
    },
    /// Tags of a git repository (URL or local path), read with `git ls-remote --tags`.
    Git {
        /// Repository URL, or a path relative to the manifest directory.
        url: String,
        /// The tag name with `{version}` where the version is, e.g. `v{version}` (default)
        /// or `gogs-{version}`; tags that do not match, or whose version is not semver, are
        /// ignored. The default pattern also takes bare versions (`1.2.3` as well as
        /// `v1.2.3`): many projects tag without the `v`, and nobody chose the default.
        tag_pattern: String,
    },
    /// A JSON release feed over HTTP(S): a list of releases, an object with a `releases`
    /// list, or one release object. Field names follow [`Release`]; `tag_name`, `body`,
    /// `published_at`, `prerelease` (GitHub's) are accepted as well.
    Http {
        /// Feed URL.
        url: String,
    },
    /// Outdated packages in a virtualenv.
    Pip {
        /// The virtualenv (relative to the manifest directory); default: the module's
        /// folder's `venv/`, else the updates directory's `venv/`.
        venv: Option<String>,
        /// Extra arguments for `pip list --outdated` (e.g. `--index-url`, `--find-links`).
        args: Vec<String>,
    },
    /// Upgradable Debian packages (`apt list --upgradable`), restricted to `packages` when
    /// given.
    Apt {
        /// Only these packages; empty: every upgradable package.
        packages: Vec<String>,
    },
}

impl SourceKind {
    /// Every kind's name, as manifests spell them.
    pub const NAMES: [&'static str; 5] = ["command", "git", "http", "pip", "apt"];

    /// The default git tag pattern.
    pub const DEFAULT_TAG_PATTERN: &'static str = "v{version}";

    /// The kind's name as manifests spell it.
    pub fn name(&self) -> &'static str {
        match self {
            SourceKind::Command { .. } => "command",
            SourceKind::Git { .. } => "git",
            SourceKind::Http { .. } => "http",
            SourceKind::Pip { .. } => "pip",
            SourceKind::Apt { .. } => "apt",
        }
    }

    /// Whether the source lists packages rather than releases of one thing.
    pub fn lists_packages(&self) -> bool {
        matches!(self, SourceKind::Pip { .. } | SourceKind::Apt { .. })
    }

    /// The update type a source of this kind has unless the manifest says otherwise.
    pub fn default_type(&self) -> UpdateType {
        match self {
            SourceKind::Pip { .. } => UpdateType::Packages,
            SourceKind::Apt { .. } => UpdateType::Dependencies,
            _ => UpdateType::App,
        }
    }
}

/// A module's update source as the manifest declares it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    /// Where to look.
    pub kind: SourceKind,
    /// What kind of update it finds.
    pub update_type: UpdateType,
    /// How long one check may take.
    pub timeout: Duration,
}

impl Source {
    /// Check timeout when the manifest sets none.
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
}

/// Which pre-releases count.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Channel {
    /// Releases only; versions with a pre-release part (`2.0.0-rc.1`) are ignored.
    #[default]
    Stable,
    /// Pre-releases too.
    Prerelease,
}

/// What a module's updates may move it to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    /// Hold every update.
    pub hold: bool,
    /// Be on exactly this version.
    pub pin: Option<semver::Version>,
    /// Only versions matching this requirement.
    pub range: Option<semver::VersionReq>,
    /// Whether pre-releases count.
    pub channel: Channel,
    /// Hold major and breaking updates unless the run allows them.
    pub ask_before_major: bool,
}

impl Default for Policy {
    fn default() -> Self {
        Self {
            hold: false,
            pin: None,
            range: None,
            channel: Channel::Stable,
            ask_before_major: true,
        }
    }
}

/// One available version of a release source.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub struct Release {
    /// The version, as the source spells it (a leading `v` is allowed).
    pub version: String,
    /// Release notes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub changelog: Option<String>,
    /// The release fixes a security problem.
    #[serde(default)]
    pub security: bool,
    /// The release says it breaks compatibility.
    #[serde(default)]
    pub breaking: bool,
    /// Download size in bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
    /// When it was released (as the source gives it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub release_date: Option<String>,
    /// Where to download it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub download_url: Option<String>,
    /// The git tag it was found as (git sources; GitHub feeds' `tag_name`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tag: Option<String>,
    /// The source marks it as a pre-release (GitHub's `prerelease`) even when its version
    /// has no pre-release part; it counts only on the pre-release channel.
    #[serde(default)]
    pub prerelease: bool,
    /// Checksum of the download, as the source gives it (e.g. `sha256:...`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checksum: Option<String>,
}

/// One outdated package of a package source.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PackageUpdate {
    /// Package name.
    pub name: String,
    /// Installed version.
    pub current: String,
    /// Newest available version.
    pub available: String,
    /// The update comes from a security origin (apt: a `-security` suite).
    #[serde(default)]
    pub security: bool,
}

/// What one check of one source found.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub struct Finding {
    /// The installed version the source reported, if it reports one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current: Option<String>,
    /// Release sources: the versions on offer, newest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub releases: Vec<Release>,
    /// Package sources: every outdated package.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub packages: Vec<PackageUpdate>,
}

/// Parse a version as semver, allowing a leading `v` and Plinth's plain integers
/// (`3` is `3.0.0`); `None` when it is neither.
pub fn parse_semver(text: &str) -> Option<semver::Version> {
    let text = text.trim();
    let text = text.strip_prefix('v').unwrap_or(text);
    if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
        return text
            .parse()
            .ok()
            .map(|major| semver::Version::new(major, 0, 0));
    }
    semver::Version::parse(text).ok()
}

/// Whether moving from `from` to `to` is a major update: the major number grows, or, below
/// 1.0, the minor number does (`0.13` to `0.14`), as Cargo reads semver.
pub fn is_major(from: &semver::Version, to: &semver::Version) -> bool {
    if to.major != from.major {
        return true;
    }
    to.major == 0 && to.minor != from.minor
}
