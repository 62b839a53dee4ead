//! Deciding what a module may move to: the newest release the policy allows, and what it
//! held back and why.

use super::{
    Channel, PackageUpdate, Policy, Release, SourceKind, debian, is_major, parse_semver, pep440,
};

/// Why an update was held back.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "reason", rename_all = "kebab-case")]
pub enum HoldReason {
    /// The policy holds every update.
    Hold,
    /// The module is pinned to another version.
    Pinned {
        /// The pinned version.
        pin: String,
    },
    /// Outside the policy's semver range.
    OutsideRange {
        /// The range.
        range: String,
    },
    /// A major update (or one marked breaking) waiting for `--allow-breaking`.
    Major,
}

impl HoldReason {
    /// A sentence fragment for reports: "held: ...".
    pub fn describe(&self) -> String {
        match self {
            HoldReason::Hold => "the module's policy holds updates".to_owned(),
            HoldReason::Pinned { pin } => format!("the module is pinned to {pin}"),
            HoldReason::OutsideRange { range } => format!("outside the allowed range {range}"),
            HoldReason::Major => {
                "a major or breaking update; run with --allow-breaking to apply it".to_owned()
            }
        }
    }
}

/// An update held back.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Held {
    /// The newest version on offer that was not taken.
    pub version: String,
    /// Why.
    #[serde(flatten)]
    pub reason: HoldReason,
}

/// What a release source's module may move to.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize)]
pub struct Decision {
    /// The release to move to; `None` when up to date or everything newer is held.
    pub target: Option<Release>,
    /// The newest release newer than the target (or the current version) that was held.
    pub held: Option<Held>,
}

/// Decide which of `releases` a module on `current` moves to under `policy`.
///
/// Releases whose versions are not semver (after a leading `v`; plain integers count as
/// majors) are ignored, as are pre-releases (by version or by the source's flag) on the
/// stable channel, except the one a pin names: a pin is the user naming the exact version
/// to be on, so it is reached even when it is a pre-release. A pin is reached in
/// whichever direction it lies. Without a pin, only versions newer than `current` are
/// considered; with no current version, every release is newer. The target is the newest
/// allowed one; the newest candidate above it that was refused is reported as held.
pub fn decide(
    current: Option<&str>,
    releases: &[Release],
    policy: &Policy,
    allow_breaking: bool,
) -> Decision {
    let current = current.and_then(parse_semver);
    let mut candidates: Vec<(semver::Version, &Release)> = releases
        .iter()
        .filter_map(|r| parse_semver(&r.version).map(|v| (v, r)))
        .filter(|(v, r)| counts_on(policy.channel, v, r) || policy.pin.as_ref() == Some(v))
        .collect();
    candidates.sort_by(|a, b| b.0.cmp(&a.0));
    candidates.dedup_by(|a, b| a.0 == b.0);
    if let Some(pin) = &policy.pin {
        return decide_pinned(current.as_ref(), &candidates, pin, policy.hold);
    }
    let newer: Vec<&(semver::Version, &Release)> = candidates
        .iter()
        .filter(|(v, _)| current.as_ref().is_none_or(|c| v > c))
        .collect();
    let Some(newest) = newer.first() else {
        return Decision::default();
    };
    if policy.hold {
        return Decision {
            target: None,
            held: Some(held(newest.1, HoldReason::Hold)),
        };
    }
    let mut first_refused: Option<Held> = None;
    for (version, release) in newer {
        let refused = if policy.range.as_ref().is_some_and(|r| !matches(r, version)) {
            Some(HoldReason::OutsideRange {
                range: policy
                    .range
                    .as_ref()
                    .map(ToString::to_string)
                    .unwrap_or_default(),
            })
        } else if policy.ask_before_major
            && !allow_breaking
            && (release.breaking || current.as_ref().is_some_and(|c| is_major(c, version)))
        {
            Some(HoldReason::Major)
        } else {
            None
        };
        match refused {
            Some(reason) => {
                first_refused.get_or_insert_with(|| held(release, reason));
            }
            None => {
                return Decision {
                    target: Some((*release).clone()),
                    held: first_refused,
                };
            }
        }
    }
    Decision {
        target: None,
        held: first_refused,
    }
}

/// Whether a release counts on `channel`: on the stable channel, neither its version nor
/// its source may call it a pre-release.
pub(crate) fn counts_on(channel: Channel, version: &semver::Version, release: &Release) -> bool {
    channel == Channel::Prerelease || (version.pre.is_empty() && !release.prerelease)
}

fn decide_pinned(
    current: Option<&semver::Version>,
    candidates: &[(semver::Version, &Release)],
    pin: &semver::Version,
    hold: bool,
) -> Decision {
    let newest_other = candidates
        .iter()
        .find(|(v, _)| v != pin && current.is_none_or(|c| v > c))
        .map(|(_, r)| {
            held(
                r,
                HoldReason::Pinned {
                    pin: pin.to_string(),
                },
            )
        });
    if current == Some(pin) || hold {
        return Decision {
            target: None,
            held: newest_other,
        };
    }
    let target = candidates
        .iter()
        .find(|(v, _)| v == pin)
        .map(|(_, r)| (*r).clone());
    Decision {
        target,
        held: newest_other,
    }
}

/// Semver requirements leave pre-releases out unless the requirement names one; a
/// policy's range is about the release numbers, so a pre-release matches when its release
/// would.
fn matches(range: &semver::VersionReq, version: &semver::Version) -> bool {
    if range.matches(version) {
        return true;
    }
    let mut release = version.clone();
    release.pre = semver::Prerelease::EMPTY;
    !version.pre.is_empty() && range.matches(&release)
}

fn held(release: &Release, reason: HoldReason) -> Held {
    Held {
        version: release.version.clone(),
        reason,
    }
}

/// What a package source's module may update.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize)]
pub struct PackageDecision {
    /// Packages to update.
    pub allowed: Vec<PackageUpdate>,
    /// Packages held back, with why.
    pub held: Vec<(PackageUpdate, HoldReason)>,
}

/// The package manager whose version rules a package source's versions follow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ecosystem {
    /// Debian packages (`apt`): dpkg's ordering.
    Debian,
    /// Python packages (`pip`): PEP 440.
    Python,
}

impl Ecosystem {
    /// The ecosystem of a package source; `None` for a release source.
    pub fn of(kind: &SourceKind) -> Option<Self> {
        match kind {
            SourceKind::Apt { .. } => Some(Ecosystem::Debian),
            SourceKind::Pip { .. } => Some(Ecosystem::Python),
            _ => None,
        }
    }

    /// The ecosystem of a source kind by its name (`apt`, `pip`), as the ledger stores it.
    pub fn named(source: &str) -> Option<Self> {
        match source {
            "apt" => Some(Ecosystem::Debian),
            "pip" => Some(Ecosystem::Python),
            _ => None,
        }
    }

    /// How `a` and `b` order under the ecosystem's rules; `None` when they cannot be read
    /// as its versions.
    pub fn compare(self, a: &str, b: &str) -> Option<std::cmp::Ordering> {
        match self {
            Ecosystem::Debian => Some(debian::compare_text(a, b)),
            Ecosystem::Python => pep440::compare_text(a, b),
        }
    }

    /// Whether moving a package from `current` to `available` is a major update, by the
    /// ecosystem's numbering: for Debian a new epoch, or a new first number when both
    /// upstream versions read like semver (never for date-like versions or a new Debian
    /// revision); for Python a new epoch, a new first release number, or below 1 a new
    /// second one. A Python version that is not PEP 440 falls back to its first number
    /// growing.
    pub fn is_major(self, current: &str, available: &str) -> bool {
        match self {
            Ecosystem::Debian => debian::DebianVersion::parse(current)
                .is_major_to(&debian::DebianVersion::parse(available)),
            Ecosystem::Python => {
                match (
                    pep440::Pep440::parse(current),
                    pep440::Pep440::parse(available),
                ) {
                    (Some(from), Some(to)) => from.is_major_to(&to),
                    _ => first_number_grows(current, available),
                }
            }
        }
    }

    /// Whether `version` is a pre-release by the ecosystem's rules (Python: `2.0b1`,
    /// `2.0.dev3`). Debian has no such notion (`~` orders a version, it does not mark one).
    pub fn is_prerelease(self, version: &str) -> bool {
        match self {
            Ecosystem::Debian => false,
            Ecosystem::Python => pep440::Pep440::parse(version).is_some_and(|v| v.is_prerelease()),
        }
    }
}

/// Decide which outdated packages a module may update: `hold` holds them all, and
/// `ask_before_major` holds those whose update is major by the ecosystem's rules
/// ([`Ecosystem::is_major`]), except security updates, which it holds only when the
/// policy's `ask_before_major_security` asks for that.
pub fn decide_packages(
    packages: &[PackageUpdate],
    ecosystem: Ecosystem,
    policy: &Policy,
    allow_breaking: bool,
) -> PackageDecision {
    let mut decision = PackageDecision::default();
    for package in packages {
        if policy.hold {
            decision.held.push((package.clone(), HoldReason::Hold));
        } else if policy.ask_before_major
            && !allow_breaking
            && (!package.security || policy.ask_before_major_security)
            && ecosystem.is_major(&package.current, &package.available)
        {
            decision.held.push((package.clone(), HoldReason::Major));
        } else {
            decision.allowed.push(package.clone());
        }
    }
    decision
}

/// The last resort for versions no rule reads: the first number (after an epoch) grows.
fn first_number_grows(current: &str, available: &str) -> bool {
    let first = |text: &str| -> Option<u64> {
        let text = text.split_once(':').map_or(text, |(_, rest)| rest);
        let digits: String = text.chars().take_while(char::is_ascii_digit).collect();
        digits.parse().ok()
    };
    match (first(current), first(available)) {
        (Some(from), Some(to)) => to > from,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn releases(versions: &[&str]) -> Vec<Release> {
        versions
            .iter()
            .map(|v| Release {
                version: (*v).to_owned(),
                ..Release::default()
            })
            .collect()
    }

    fn target(decision: &Decision) -> Option<&str> {
        decision.target.as_ref().map(|r| r.version.as_str())
    }

    #[test]
    fn the_newest_minor_is_taken_and_the_major_held() {
        let offer = releases(&["1.2.0", "1.3.0", "v2.0.0", "2.1.0-rc.1"]);
        let policy = Policy::default();
        let decision = decide(Some("1.2.0"), &offer, &policy, false);
        assert_eq!(target(&decision), Some("1.3.0"));
        let held = decision.held.unwrap();
        assert_eq!(held.version, "v2.0.0");
        assert_eq!(held.reason, HoldReason::Major);

        let decision = decide(Some("1.2.0"), &offer, &policy, true);
        assert_eq!(target(&decision), Some("v2.0.0"));
        assert_eq!(decision.held, None);
    }

    #[test]
    fn prereleases_count_only_on_their_channel() {
        let offer = releases(&["1.0.0", "1.1.0-rc.1"]);
        let mut policy = Policy::default();
        assert_eq!(target(&decide(Some("1.0.0"), &offer, &policy, false)), None);
        policy.channel = Channel::Prerelease;
        assert_eq!(
            target(&decide(Some("1.0.0"), &offer, &policy, false)),
            Some("1.1.0-rc.1")
        );
    }

    #[test]
    fn a_release_the_source_calls_a_prerelease_waits_for_that_channel() {
        let mut offer = releases(&["1.0.0", "1.1.0"]);
        offer[1].prerelease = true;
        let mut policy = Policy::default();
        assert_eq!(target(&decide(Some("1.0.0"), &offer, &policy, false)), None);
        policy.channel = Channel::Prerelease;
        assert_eq!(
            target(&decide(Some("1.0.0"), &offer, &policy, false)),
            Some("1.1.0")
        );
    }

    #[test]
    fn a_pin_reaches_the_prerelease_it_names_on_the_stable_channel() {
        let offer = releases(&["1.0.0", "2.0.0-rc.1", "2.0.0-rc.2"]);
        let pin = Policy {
            pin: Some(semver::Version::parse("2.0.0-rc.1").unwrap()),
            ..Policy::default()
        };
        let decision = decide(Some("1.0.0"), &offer, &pin, false);
        assert_eq!(target(&decision), Some("2.0.0-rc.1"));
        assert_eq!(decision.held, None, "other pre-releases still do not count");
    }

    #[test]
    fn a_range_limits_the_target() {
        let offer = releases(&["1.4.0", "1.5.0", "3.0.0"]);
        let policy = Policy {
            range: Some(semver::VersionReq::parse("~1.4").unwrap()),
            ask_before_major: false,
            ..Policy::default()
        };
        let decision = decide(Some("1.3.0"), &offer, &policy, true);
        assert_eq!(target(&decision), Some("1.4.0"));
        assert_eq!(decision.held.unwrap().version, "3.0.0");
    }

    #[test]
    fn hold_and_pin() {
        let offer = releases(&["1.0.0", "1.1.0", "1.2.0"]);
        let hold = Policy {
            hold: true,
            ..Policy::default()
        };
        let decision = decide(Some("1.0.0"), &offer, &hold, true);
        assert_eq!(target(&decision), None);
        assert_eq!(decision.held.unwrap().reason, HoldReason::Hold);

        let pin = Policy {
            pin: Some(semver::Version::new(1, 1, 0)),
            ..Policy::default()
        };
        let decision = decide(Some("1.2.0"), &offer, &pin, false);
        assert_eq!(
            target(&decision),
            Some("1.1.0"),
            "a pin is reached downwards too"
        );
        let decision = decide(Some("1.1.0"), &offer, &pin, false);
        assert_eq!(target(&decision), None);
        assert_eq!(decision.held.unwrap().version, "1.2.0");
    }

    #[test]
    fn below_one_a_minor_is_major_and_breaking_flags_count() {
        let offer = releases(&["0.13.1", "0.14.0"]);
        let decision = decide(Some("0.13.0"), &offer, &Policy::default(), false);
        assert_eq!(target(&decision), Some("0.13.1"));
        let mut flagged = releases(&["1.1.0"]);
        flagged[0].breaking = true;
        let decision = decide(Some("1.0.0"), &flagged, &Policy::default(), false);
        assert_eq!(target(&decision), None);
        assert_eq!(decision.held.unwrap().reason, HoldReason::Major);
    }

    #[test]
    fn no_current_version_takes_the_newest_allowed() {
        let offer = releases(&["1.0.0", "2.0.0", "not-a-version"]);
        assert_eq!(
            target(&decide(None, &offer, &Policy::default(), false)),
            Some("2.0.0")
        );
        assert_eq!(
            target(&decide(Some("2.0.0"), &offer, &Policy::default(), false)),
            None
        );
    }

    fn package(name: &str, current: &str, available: &str, security: bool) -> PackageUpdate {
        PackageUpdate {
            name: name.to_owned(),
            current: current.to_owned(),
            available: available.to_owned(),
            security,
        }
    }

    fn names(packages: impl IntoIterator<Item = PackageUpdate>) -> Vec<String> {
        packages.into_iter().map(|p| p.name).collect()
    }

    #[test]
    fn python_packages_with_major_updates_are_held() {
        let outdated = [
            package("requests", "2.31.0", "2.32.3", false),
            package("urllib3", "1.26.18", "2.2.1", false),
            package("anyio", "0.13.1", "0.14.0", false),
            package("cryptography", "41.0.7", "42.0.4", true),
        ];
        let python = Ecosystem::Python;
        let decision = decide_packages(&outdated, python, &Policy::default(), false);
        assert_eq!(names(decision.allowed), ["requests", "cryptography"]);
        assert_eq!(
            names(decision.held.into_iter().map(|(p, _)| p)),
            ["urllib3", "anyio"]
        );
        let all = decide_packages(&outdated, python, &Policy::default(), true);
        assert_eq!(all.allowed.len(), 4);
    }

    /// Debian 12's `apt list --upgradable`: none of these is major. `tzdata` (`2024a` to
    /// `2025b`) was held as major when versions were read as semver.
    #[test]
    fn debian_packages_are_major_only_by_epoch_or_a_semver_like_first_number() {
        let outdated = [
            package(
                "ca-certificates",
                "20230311+deb12u1",
                "20250419~deb12u2",
                true,
            ),
            package("libc6", "2.36-9+deb12u10", "2.36-9+deb12u13", false),
            package("tzdata", "1:2024a-0+deb12u1", "1:2025b-0+deb12u1", false),
            package("nodejs", "18.19.0+dfsg-6~deb12u2", "20.19.2+dfsg-1", false),
        ];
        let decision = decide_packages(&outdated, Ecosystem::Debian, &Policy::default(), false);
        assert_eq!(
            names(decision.allowed),
            ["ca-certificates", "libc6", "tzdata"]
        );
        assert_eq!(names(decision.held.into_iter().map(|(p, _)| p)), ["nodejs"]);
    }

    #[test]
    fn a_major_security_update_is_held_only_when_the_policy_asks() {
        let outdated = [package(
            "openssl",
            "1.1.1w-0+deb11u1",
            "3.0.15-1~deb12u1",
            true,
        )];
        let decision = decide_packages(&outdated, Ecosystem::Debian, &Policy::default(), false);
        assert_eq!(names(decision.allowed), ["openssl"]);
        let asks = Policy {
            ask_before_major_security: true,
            ..Policy::default()
        };
        let decision = decide_packages(&outdated, Ecosystem::Debian, &asks, false);
        assert_eq!(decision.held[0].1, HoldReason::Major);
        let hold = Policy {
            hold: true,
            ..Policy::default()
        };
        let decision = decide_packages(&outdated, Ecosystem::Debian, &hold, false);
        assert_eq!(
            decision.held[0].1,
            HoldReason::Hold,
            "`hold` holds security too"
        );
    }
}
