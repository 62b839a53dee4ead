//! Deciding what a module may move to: the newest release the policy allows, and what it
//! held back and why.

use super::{Channel, PackageUpdate, Policy, Release, is_major, parse_semver};

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

/// Decide which outdated packages a module may update: `hold` holds them all, and
/// `ask_before_major` holds those whose update is major (versions that are not semver are
/// compared by their first number).
pub fn decide_packages(
    packages: &[PackageUpdate],
    policy: &Policy,
    allow_breaking: bool,
) -> PackageDecision {
    let mut decision = PackageDecision::default();
    for package in packages {
        if policy.hold {
            decision.held.push((package.clone(), HoldReason::Hold));
        } else if policy.ask_before_major
            && !allow_breaking
            && package_is_major(&package.current, &package.available)
        {
            decision.held.push((package.clone(), HoldReason::Major));
        } else {
            decision.allowed.push(package.clone());
        }
    }
    decision
}

/// Whether a package update is major: by semver, else by the first number (after an epoch).
pub(crate) fn package_is_major(current: &str, available: &str) -> bool {
    if let (Some(from), Some(to)) = (parse_semver(current), parse_semver(available)) {
        return is_major(&from, &to);
    }
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

    #[test]
    fn packages_with_major_updates_are_held() {
        let package = |name: &str, current: &str, available: &str| PackageUpdate {
            name: name.to_owned(),
            current: current.to_owned(),
            available: available.to_owned(),
            security: false,
        };
        let outdated = [
            package("requests", "2.31.0", "2.32.3"),
            package("urllib3", "1.26.18", "2.2.1"),
            package("libc6", "2.36-9+deb12u7", "2.36-9+deb12u8"),
            package("tzdata", "1:2024a", "1:2025b"),
        ];
        let decision = decide_packages(&outdated, &Policy::default(), false);
        let allowed: Vec<&str> = decision.allowed.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(allowed, ["requests", "libc6"]);
        let held: Vec<&str> = decision.held.iter().map(|(p, _)| p.name.as_str()).collect();
        assert_eq!(held, ["urllib3", "tzdata"]);
        assert_eq!(
            decide_packages(&outdated, &Policy::default(), true)
                .allowed
                .len(),
            4
        );
    }
}
