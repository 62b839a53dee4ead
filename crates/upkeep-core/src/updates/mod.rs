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
//! Every answer is normalised once, in [`check`] ([`Finding::normalized`], built on
//! [`crate::version::normalize`]): a leading `v` is dropped from release versions (the tag
//! is kept in `tag`), so a GitHub feed's `tag_name` `v2.31.0` and a git tag `v2.31.0` are
//! both `2.31.0`, and a version with a pre-release part is flagged `prerelease` as a
//! source's own flag would be. Package versions are the package manager's and compare by
//! its rules ([`Ecosystem`]): dpkg's ordering for `apt` (`debian.rs`), PEP 440 for `pip`
//! (`pep440.rs`); what counts as a major package update follows them too.
//!
//! What a module's "current" version is: the upstream version it last installed (recorded
//! in the ledger when a run that moved it to a target succeeded), else the version the check
//! itself reported as installed (a check command's `current`), else the module's declared
//! version.
//!
//! A [`Policy`] holds updates back: `hold` holds everything, `pin` names the one version
//! to be on, `range` a semver requirement (`^1.4`, `>=2, <3`), `channel` whether
//! pre-releases count, and `ask_before_major` (on by default) holds major and breaking
//! updates until a run is given `--allow-breaking`; a package's security update is held as
//! major only when `ask_before_major_security` says so. A module that moves receives its target
//! in `UPKEEP_TARGET_VERSION` (release sources) or `UPKEEP_TARGET_PACKAGES` (package
//! sources, JSON).

mod apt;
mod check;
mod command;
mod debian;
mod feed;
mod git;
mod http;
mod pep440;
mod pip;
mod policy;
mod report;

pub use crate::manifest::{Channel, Policy, Source, SourceKind, UpdateType};
pub use crate::version::parse_semver;
pub use check::{CheckError, MAX_PARALLEL_CHECKS, ModuleCheck, check, check_modules};
pub use policy::{Decision, Ecosystem, Held, HoldReason, PackageDecision, decide, decide_packages};
pub use report::{
    CheckOptions, CurrentFrom, HeldBack, ModuleReport, NewVersion, NewVersions, PackageReport,
    Summary, UpdateReport, UpdatesError, Upstream, check_updates, current_version, new_versions,
    upstream,
};

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

impl Finding {
    /// The finding the ledger stored as `json`; an empty one when the text cannot be read
    /// (written by a newer upkeep), as if the check had found nothing.
    pub fn from_json(json: &str) -> Self {
        serde_json::from_str(json).unwrap_or_default()
    }

    /// The text the ledger stores.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|_| "{}".into())
    }

    /// The finding with every release source's version spelled one way
    /// ([`crate::version::normalize`]: `v2.31.0` is `2.31.0`, the tag is kept in `tag`)
    /// and every release whose version has a pre-release part (`2.0.0-rc.1`) flagged as a
    /// pre-release, as a source's own flag would. [`check`] applies it to every answer, so
    /// reports, policies, the ledger and `UPKEEP_TARGET_VERSION` see one spelling whatever
    /// the source. Package versions are the package manager's and are left as they are.
    #[must_use]
    pub fn normalized(mut self) -> Self {
        self.current = self.current.as_deref().map(crate::version::normalize);
        for release in &mut self.releases {
            release.version = crate::version::normalize(&release.version);
            release.prerelease |= parse_semver(&release.version).is_some_and(|v| !v.pre.is_empty());
        }
        self
    }
}

/// Whether moving from `from` to `to` is a major update: the major number grows, or, below
/// 1.0, the minor number does (`0.13` to `0.14`), as Cargo reads semver.
pub fn is_major(from: &semver::Version, to: &semver::Version) -> bool {
    if to.major != from.major {
        return true;
    }
    to.major == 0 && to.minor != from.minor
}
