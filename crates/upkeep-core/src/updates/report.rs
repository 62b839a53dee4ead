//! `upkeep check`: ask the sources of the selected modules (or read their cached answers),
//! cache every answer in the ledger, and say for each module what is on offer and what
//! its policy lets a run take ([`check_updates`]); and the new versions found, for callers
//! that announce them ([`new_versions`]).
//!
//! A live check and `--cached` build their report from the same ledger rows, so both say
//! the same thing about the same answers.

use std::path::Path;

use super::check::check_modules;
use super::policy::counts_on;
use super::{
    Ecosystem, Finding, HoldReason, PackageUpdate, Release, UpdateType, decide, decide_packages,
    is_major, parse_semver,
};
use crate::manifest::{Manifest, ModuleSpec};
use crate::state::updates::CheckRow;
use crate::state::{Ledger, StateError};

/// What to check and how to report it.
#[derive(Debug, Clone, Default)]
pub struct CheckOptions {
    /// Only these modules (each must exist and have a source); empty: every module with a
    /// source.
    pub modules: Vec<String>,
    /// Only sources of this update type; `None`: all.
    pub update_type: Option<UpdateType>,
    /// Report only security updates (and failed sources, which may hide one).
    pub security_only: bool,
    /// Report the ledger's cached answers without asking any source.
    pub cached: bool,
    /// Where "update available" events go; they are enqueued in the transaction that
    /// records the checks (never for `cached`).
    pub routing: crate::notify::Routing,
}

/// Why a check could not be made at all (a source failing is not one: it is reported).
#[derive(Debug, thiserror::Error)]
pub enum UpdatesError {
    /// A named module is not in the manifest.
    #[error("check module `{name}`: the manifest has no module of that name")]
    UnknownModule {
        /// The name given.
        name: String,
        /// The closest module name, if one is a likely typo.
        suggestion: Option<String>,
    },
    /// A named module has no `source`.
    #[error("check module `{name}`: it has no update source")]
    NoSource {
        /// The module.
        name: String,
    },
    /// The ledger could not be read or written.
    #[error(transparent)]
    State(#[from] StateError),
}

/// The version a module is on, as policies and reports see it, and where it came from:
/// the upstream version a run last moved it to (`upstream`, from the ledger), else the
/// installed version its source reported, else its declared version.
pub fn current_version(
    upstream: Option<String>,
    finding: &Finding,
    spec: &ModuleSpec,
) -> Option<(String, CurrentFrom)> {
    match (upstream, &finding.current, &spec.version) {
        (Some(version), _, _) => Some((version, CurrentFrom::Ledger)),
        (None, Some(version), _) => Some((version.clone(), CurrentFrom::Source)),
        (None, None, Some(version)) => Some((version.to_string(), CurrentFrom::Manifest)),
        (None, None, None) => None,
    }
}

/// Where a module stands upstream, from its source's latest successful check: the version
/// it is on and what is available, as `status` and a run's summary show it
/// (`2.3.0 → 2.3.1`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Upstream {
    /// When the check was made (ms since the epoch).
    pub checked_ms: i64,
    /// Release sources: the version the module is on ([`current_version`]).
    pub current: Option<String>,
    /// Where `current` came from.
    pub current_from: Option<CurrentFrom>,
    /// Release sources: the newest release newer than `current` on the policy's channel.
    pub latest: Option<String>,
    /// `latest` is a pre-release.
    pub prerelease: bool,
    /// A release up to `latest`, or an outdated package, fixes a security problem.
    pub security: bool,
    /// What a run would move the module to (breaking updates not allowed).
    pub target: Option<String>,
    /// The newest version the policy holds back, and why.
    pub held: Option<HeldBack>,
    /// Package sources: the outdated packages a run has not applied yet.
    pub packages: Vec<PackageReport>,
}

impl Upstream {
    /// `2.3.0 → 2.3.1`, `2.3.0` when nothing newer is on offer, `3 packages outdated`
    /// for a package source.
    pub fn describe(&self) -> String {
        if self.current.is_none() && self.latest.is_none() {
            return match self.packages.len() {
                0 => "up to date".to_owned(),
                n => crate::message::count(n, "package outdated", "packages outdated"),
            };
        }
        let current = self.current.as_deref().unwrap_or("-");
        match &self.latest {
            Some(latest) => format!("{current} → {latest}"),
            None => current.to_owned(),
        }
    }
}

/// Where `spec` stands upstream by its source's latest successful check (`check`: when,
/// and the finding as the ledger stores it), given the upstream version a run last moved
/// it to and the check that update came from. Packages a run applied from that check (or
/// a later one) are not outstanding. `None` without a source.
pub fn upstream(
    spec: &ModuleSpec,
    check: (i64, &str),
    upstream_version: Option<String>,
    applied_check_ms: Option<i64>,
) -> Option<Upstream> {
    let source = spec.source.as_ref()?;
    let (checked_ms, finding_json) = check;
    let row = CheckRow {
        module: spec.name.clone(),
        checked_ms,
        source: source.kind.name().to_owned(),
        update_type: source.update_type.name().to_owned(),
        ok: true,
        error: None,
        finding_json: finding_json.to_owned(),
    };
    let mut report = module_report(spec, &row, upstream_version);
    if applied_check_ms.is_some_and(|applied| applied >= checked_ms) {
        report.packages.clear();
    }
    Some(Upstream {
        checked_ms,
        current: report.current,
        current_from: report.current_from,
        latest: report.latest,
        prerelease: report.prerelease,
        security: report.security || report.packages.iter().any(|p| p.security),
        target: report.target,
        held: report.held,
        packages: report.packages,
    })
}

/// Where a module's current version came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CurrentFrom {
    /// The upstream version a run last moved the module to.
    Ledger,
    /// The installed version the source reported.
    Source,
    /// The module's declared version.
    Manifest,
}

/// An update a policy held back.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct HeldBack {
    /// The version not taken.
    pub version: String,
    /// Why (`reason`: `hold`, `pinned` with `pin`, `outside-range` with `range`, `major`).
    #[serde(flatten)]
    pub reason: HoldReason,
    /// The reason in words.
    pub description: String,
}

impl HeldBack {
    fn new(version: &str, reason: HoldReason) -> Self {
        Self {
            version: version.to_owned(),
            description: reason.describe(),
            reason,
        }
    }
}

/// One outdated package of a package source.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PackageReport {
    /// Package name.
    pub name: String,
    /// Installed version.
    pub current: String,
    /// Newest available version.
    pub available: String,
    /// From a security origin.
    pub security: bool,
    /// A major update, by the ecosystem's rules (see [`Ecosystem::is_major`]).
    pub major: bool,
    /// The available version is a pre-release (pip: `2.0b1`, `2.0.dev3`; pip lists one only
    /// when its `args` include `--pre`).
    pub prerelease: bool,
    /// Held back by the module's policy, with why.
    pub held: Option<HeldBack>,
}

/// What one module's source offers and what its policy takes.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[expect(
    clippy::struct_excessive_bools,
    reason = "independent facts of a report, each a JSON boolean"
)]
pub struct ModuleReport {
    /// The module.
    pub module: String,
    /// The source's kind (`git`, `http`, `command`, `pip`, `apt`).
    pub source: String,
    /// The update type (`app`, `packages`, `config`, `dependencies`).
    pub update_type: String,
    /// When its source answered or failed (ms since the epoch).
    pub checked_ms: i64,
    /// Whether the source answered.
    pub ok: bool,
    /// Why it did not.
    pub error: Option<String>,
    /// Release sources: the version the module is on.
    pub current: Option<String>,
    /// Where `current` came from.
    pub current_from: Option<CurrentFrom>,
    /// Release sources: the newest release newer than `current` on the policy's channel.
    pub latest: Option<String>,
    /// A release up to `latest` (or a package) fixes a security problem.
    pub security: bool,
    /// A release up to `latest` says it breaks compatibility.
    pub breaking: bool,
    /// `current` to `latest` is a major update.
    pub major: bool,
    /// `latest` is a pre-release: its version has a pre-release part (`2.0.0-rc.1`) or its
    /// source marks it as one. Only a policy on the `prerelease` channel offers one.
    pub prerelease: bool,
    /// What a run would move the module to (breaking updates not allowed).
    pub target: Option<String>,
    /// The newest version the policy held back, and why.
    pub held: Option<HeldBack>,
    /// Release sources: every release newer than `current`, newest first.
    pub releases: Vec<Release>,
    /// Package sources: the outdated packages.
    pub packages: Vec<PackageReport>,
}

/// The report's counts.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Summary {
    /// Modules whose source was asked (or whose cached answer was read).
    pub modules_checked: usize,
    /// Modules of the manifest without a source (not checked).
    pub without_source: usize,
    /// With `--cached`: selected modules the ledger has no answer for.
    pub never_checked: usize,
    /// Updates on offer: one per release module with a newer release, one per outdated
    /// package.
    pub updates: usize,
    /// Of those, security updates.
    pub security: usize,
    /// Of those, breaking or major ones.
    pub breaking_or_major: usize,
    /// Updates the policies hold back.
    pub held: usize,
    /// Sources that failed.
    pub failed: usize,
}

/// The whole report.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct UpdateReport {
    /// Whether it was read from the cache.
    pub cached: bool,
    /// The counts.
    pub summary: Summary,
    /// Every checked module, in manifest order.
    pub modules: Vec<ModuleReport>,
}

/// Check the selected modules' sources in parallel (or, with `cached`, read the last
/// answers), record every answer with its time in the ledger (nothing is written with
/// `cached`), and report.
///
/// A module's current version is the upstream version a run last moved it to (the
/// ledger), else the installed version its source reported, else its declared version.
///
/// # Errors
/// [`UpdatesError::UnknownModule`] or [`UpdatesError::NoSource`] for a named module,
/// before any source is asked; [`UpdatesError::State`] when the ledger fails.
pub fn check_updates(
    manifest: &Manifest,
    state_dir: &Path,
    options: &CheckOptions,
) -> Result<UpdateReport, UpdatesError> {
    let (selected, without_source) = select(manifest, options)?;
    let mut ledger = if options.cached {
        Ledger::open_existing(state_dir)?
    } else {
        Some(Ledger::open(state_dir)?)
    };
    let rows = match (&ledger, options.cached) {
        (Some(ledger), true) => ledger.checks()?,
        (None, _) => Vec::new(),
        (Some(_), false) => ask(manifest, state_dir, &selected),
    };
    let states = match &ledger {
        Some(ledger) => ledger.module_states()?,
        None => std::collections::HashMap::new(),
    };
    let mut summary = Summary {
        without_source,
        ..Summary::default()
    };
    let mut modules = Vec::new();
    for spec in selected {
        let Some(row) = rows.iter().find(|r| r.module == spec.name) else {
            summary.never_checked += 1;
            continue;
        };
        summary.modules_checked += 1;
        let upstream = states
            .get(&spec.name)
            .and_then(|s| s.upstream_version.clone());
        modules.push(module_report(spec, row, upstream));
    }
    let mut report = UpdateReport {
        cached: options.cached,
        summary,
        modules,
    };
    if let (Some(ledger), false) = (&mut ledger, options.cached) {
        let events = announcements(&report);
        ledger.record_checks(&rows, &options.routing.rows(&events))?;
    }
    report.modules = std::mem::take(&mut report.modules)
        .into_iter()
        .filter_map(|m| filter_security(m, options.security_only))
        .collect();
    count(&mut report.summary, &report.modules);
    Ok(report)
}

/// Ask the sources of `selected`, as ledger rows.
fn ask(manifest: &Manifest, state_dir: &Path, selected: &[&ModuleSpec]) -> Vec<CheckRow> {
    check_modules(&manifest.root, state_dir, selected)
        .into_iter()
        .map(|check| CheckRow {
            module: check.module,
            checked_ms: check.checked_ms,
            source: check.source.to_owned(),
            update_type: check.update_type.name().to_owned(),
            ok: check.result.is_ok(),
            error: check.result.as_ref().err().map(ToString::to_string),
            finding_json: check.result.unwrap_or_default().to_json(),
        })
        .collect()
}

/// One "update available" event per new version found (a package's as `module:package`).
/// Their ids name the module and the version, so a version is announced once however
/// often checks find it.
fn announcements(report: &UpdateReport) -> Vec<crate::notify::Event> {
    let mut events = Vec::new();
    for found in new_versions(report) {
        for version in &found.versions {
            let module = match &version.package {
                Some(package) => format!("{}:{package}", found.module),
                None => found.module.clone(),
            };
            events.push(crate::notify::events::update_available(
                &crate::notify::events::Available {
                    module: &module,
                    current: version.from.as_deref(),
                    available: &version.version,
                    security: version.security,
                    breaking: version.breaking,
                },
            ));
        }
    }
    events
}

/// The modules to check, in manifest order, and how many modules have no source.
fn select<'m>(
    manifest: &'m Manifest,
    options: &CheckOptions,
) -> Result<(Vec<&'m ModuleSpec>, usize), UpdatesError> {
    for name in &options.modules {
        let Some(spec) = manifest.module(name) else {
            return Err(UpdatesError::UnknownModule {
                name: name.clone(),
                suggestion: crate::text::suggest(name, manifest.names()),
            });
        };
        if spec.source.is_none() {
            return Err(UpdatesError::NoSource { name: name.clone() });
        }
    }
    let named = |m: &&ModuleSpec| options.modules.is_empty() || options.modules.contains(&m.name);
    let without_source = manifest
        .modules
        .iter()
        .filter(named)
        .filter(|m| m.source.is_none())
        .count();
    let selected = manifest
        .modules
        .iter()
        .filter(named)
        .filter(|m| {
            m.source.as_ref().is_some_and(|s| {
                options
                    .update_type
                    .is_none_or(|wanted| s.update_type == wanted)
            })
        })
        .collect();
    Ok((selected, without_source))
}

fn module_report(spec: &ModuleSpec, row: &CheckRow, upstream: Option<String>) -> ModuleReport {
    let mut report = ModuleReport {
        module: spec.name.clone(),
        source: row.source.clone(),
        update_type: row.update_type.clone(),
        checked_ms: row.checked_ms,
        ok: row.ok,
        error: row.error.clone(),
        current: None,
        current_from: None,
        latest: None,
        security: false,
        breaking: false,
        major: false,
        prerelease: false,
        target: None,
        held: None,
        releases: Vec::new(),
        packages: Vec::new(),
    };
    if !row.ok {
        return report;
    }
    let finding = Finding::from_json(&row.finding_json);
    if let Some(ecosystem) = Ecosystem::named(&row.source) {
        report.packages = packages(&finding.packages, ecosystem, spec);
        report.security = report.packages.iter().any(|p| p.security);
        return report;
    }
    releases(&mut report, &finding, spec, upstream);
    report
}

fn packages(
    outdated: &[PackageUpdate],
    ecosystem: Ecosystem,
    spec: &ModuleSpec,
) -> Vec<PackageReport> {
    let decision = decide_packages(outdated, ecosystem, &spec.policy, false);
    outdated
        .iter()
        .map(|p| PackageReport {
            name: p.name.clone(),
            current: p.current.clone(),
            available: p.available.clone(),
            security: p.security,
            major: ecosystem.is_major(&p.current, &p.available),
            prerelease: ecosystem.is_prerelease(&p.available),
            held: decision
                .held
                .iter()
                .find(|(held, _)| held == p)
                .map(|(held, reason)| HeldBack::new(&held.available, reason.clone())),
        })
        .collect()
}

/// Fill in a release source's current version, what is newer, and the policy's decision.
fn releases(
    report: &mut ModuleReport,
    finding: &Finding,
    spec: &ModuleSpec,
    upstream: Option<String>,
) {
    let (current, from) = current_version(upstream, finding, spec).unzip();
    let on = current.as_deref().and_then(parse_semver);
    let mut newer: Vec<(semver::Version, &Release)> = finding
        .releases
        .iter()
        .filter_map(|r| parse_semver(&r.version).map(|v| (v, r)))
        .filter(|(v, r)| counts_on(spec.policy.channel, v, r))
        .filter(|(v, _)| on.as_ref().is_none_or(|c| v > c))
        .collect();
    newer.sort_by(|a, b| b.0.cmp(&a.0));
    newer.dedup_by(|a, b| a.0 == b.0);
    if let Some((version, release)) = newer.first() {
        report.latest = Some(release.version.clone());
        report.major = on.as_ref().is_some_and(|c| is_major(c, version));
        report.prerelease = release.prerelease || !version.pre.is_empty();
    }
    report.security = newer.iter().any(|(_, r)| r.security);
    report.breaking = newer.iter().any(|(_, r)| r.breaking);
    report.releases = newer.into_iter().map(|(_, r)| r.clone()).collect();
    let decision = decide(current.as_deref(), &finding.releases, &spec.policy, false);
    report.target = decision.target.map(|r| r.version);
    report.held = decision.held.map(|h| HeldBack::new(&h.version, h.reason));
    report.current = current;
    report.current_from = from;
}

/// With `security_only`, keep only security updates (and failures, which may hide one).
fn filter_security(mut report: ModuleReport, security_only: bool) -> Option<ModuleReport> {
    if !security_only || !report.ok {
        return Some(report);
    }
    if !report.packages.is_empty() {
        report.packages.retain(|p| p.security);
        return (!report.packages.is_empty()).then_some(report);
    }
    report.security.then_some(report)
}

fn count(summary: &mut Summary, modules: &[ModuleReport]) {
    for m in modules {
        summary.failed += usize::from(!m.ok);
        if m.latest.is_some() {
            summary.updates += 1;
            summary.security += usize::from(m.security);
            summary.breaking_or_major += usize::from(m.breaking || m.major);
        }
        summary.held += usize::from(m.held.is_some());
        for p in &m.packages {
            summary.updates += 1;
            summary.security += usize::from(p.security);
            summary.breaking_or_major += usize::from(p.major);
            summary.held += usize::from(p.held.is_some());
        }
    }
}

/// New versions one module's source offers.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct NewVersions {
    /// The module.
    pub module: String,
    /// What was found.
    pub versions: Vec<NewVersion>,
}

/// One new version: of the module (release sources) or of one of its packages.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct NewVersion {
    /// The package, for package sources.
    pub package: Option<String>,
    /// The version it is on.
    pub from: Option<String>,
    /// The new version.
    pub version: String,
    /// It fixes a security problem.
    pub security: bool,
    /// It is breaking or major.
    pub breaking: bool,
    /// The policy holds it back.
    pub held: bool,
}

/// Per module, the new versions a report found: the newest release of a release source,
/// every outdated package of a package source. Modules with nothing new (or whose source
/// failed) are left out. Meant for announcing "update available".
pub fn new_versions(report: &UpdateReport) -> Vec<NewVersions> {
    report
        .modules
        .iter()
        .filter_map(|m| {
            let mut versions: Vec<NewVersion> = m
                .latest
                .iter()
                .map(|latest| NewVersion {
                    package: None,
                    from: m.current.clone(),
                    version: latest.clone(),
                    security: m.security,
                    breaking: m.breaking || m.major,
                    held: m.target.as_ref() != Some(latest),
                })
                .collect();
            versions.extend(m.packages.iter().map(|p| NewVersion {
                package: Some(p.name.clone()),
                from: Some(p.current.clone()),
                version: p.available.clone(),
                security: p.security,
                breaking: p.major,
                held: p.held.is_some(),
            }));
            (!versions.is_empty()).then(|| NewVersions {
                module: m.module.clone(),
                versions,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const MANIFEST: &str = r#"
[[module]]
name = "major"
command = ["true"]
version = "1.0.0"
source = { type = "command", command = ["echo", "2.0.0"] }

[[module]]
name = "reported"
command = ["true"]
version = "1.0.0"
source = { type = "command", command = 'echo "{\"current\": \"1.1.0\", \"releases\": [{\"version\": \"1.2.0\", \"security\": true}, {\"version\": \"1.0.5\"}]}"' }

[[module]]
name = "broken"
command = ["true"]
source = { type = "command", command = "echo no >&2; exit 7", update_type = "config" }

[[module]]
name = "plain"
command = ["true"]
"#;

    fn manifest() -> Manifest {
        crate::manifest::parse(Path::new("/tmp/upkeep.toml"), MANIFEST).unwrap()
    }

    #[test]
    fn a_check_reports_caches_and_reads_back_the_same() {
        let state = tempfile::tempdir().unwrap();
        let live = check_updates(&manifest(), state.path(), &CheckOptions::default()).unwrap();
        let summary = Summary {
            modules_checked: 3,
            without_source: 1,
            never_checked: 0,
            updates: 2,
            security: 1,
            breaking_or_major: 1,
            held: 1,
            failed: 1,
        };
        assert_eq!(live.summary, summary);
        let [major, reported, broken] = &live.modules[..] else {
            panic!("{live:#?}");
        };
        assert_eq!(
            (
                major.current.as_deref(),
                major.current_from,
                major.target.as_deref()
            ),
            (Some("1.0.0"), Some(CurrentFrom::Manifest), None)
        );
        assert!(major.major);
        assert_eq!(major.held.as_ref().unwrap().reason, HoldReason::Major);
        assert_eq!(reported.current_from, Some(CurrentFrom::Source));
        assert_eq!(reported.target.as_deref(), Some("1.2.0"));
        assert_eq!(reported.releases.len(), 1, "1.0.5 is older than 1.1.0");
        assert!(
            broken
                .error
                .as_deref()
                .unwrap()
                .contains("exited with code 7: no")
        );

        let cached = CheckOptions {
            cached: true,
            ..CheckOptions::default()
        };
        let again = check_updates(&manifest(), state.path(), &cached).unwrap();
        assert_eq!(again.modules, live.modules);
        assert!(again.cached);

        let news = new_versions(&live);
        let found: Vec<(&str, &str, bool)> = news
            .iter()
            .flat_map(|n| {
                n.versions
                    .iter()
                    .map(|v| (n.module.as_str(), v.version.as_str(), v.held))
            })
            .collect();
        assert_eq!(
            found,
            [("major", "2.0.0", true), ("reported", "1.2.0", false)]
        );
    }

    #[test]
    fn filters_select_modules_and_updates() {
        let state = tempfile::tempdir().unwrap();
        let security = CheckOptions {
            security_only: true,
            ..CheckOptions::default()
        };
        let report = check_updates(&manifest(), state.path(), &security).unwrap();
        let names: Vec<&str> = report.modules.iter().map(|m| m.module.as_str()).collect();
        assert_eq!(
            names,
            ["reported", "broken"],
            "failures stay: they may hide one"
        );
        assert_eq!((report.summary.updates, report.summary.security), (1, 1));

        let config = CheckOptions {
            update_type: Some(UpdateType::Config),
            cached: true,
            ..CheckOptions::default()
        };
        let report = check_updates(&manifest(), state.path(), &config).unwrap();
        let names: Vec<&str> = report.modules.iter().map(|m| m.module.as_str()).collect();
        assert_eq!(names, ["broken"]);

        let unknown = CheckOptions {
            modules: vec!["majr".into()],
            ..CheckOptions::default()
        };
        let err = check_updates(&manifest(), state.path(), &unknown).unwrap_err();
        assert!(matches!(
            err,
            UpdatesError::UnknownModule { suggestion: Some(ref s), .. } if s == "major"
        ));
        let plain = CheckOptions {
            modules: vec!["plain".into()],
            ..CheckOptions::default()
        };
        let err = check_updates(&manifest(), state.path(), &plain).unwrap_err();
        assert!(matches!(err, UpdatesError::NoSource { .. }), "{err}");
    }

    #[test]
    fn the_ledgers_upstream_version_comes_first() {
        let manifest = manifest();
        let spec = manifest.module("reported").unwrap();
        let row = CheckRow {
            module: spec.name.clone(),
            checked_ms: 0,
            source: "command".into(),
            update_type: "app".into(),
            ok: true,
            error: None,
            finding_json: Finding {
                current: Some("1.1.0".into()),
                releases: vec![Release {
                    version: "1.2.0".into(),
                    ..Release::default()
                }],
                packages: Vec::new(),
            }
            .to_json(),
        };
        let report = module_report(spec, &row, Some("1.2.0".into()));
        assert_eq!(report.current.as_deref(), Some("1.2.0"));
        assert_eq!(report.current_from, Some(CurrentFrom::Ledger));
        assert_eq!((report.latest, report.target), (None, None));
    }
}
