//! Debian package versions (`apt` sources), ordered as `dpkg --compare-versions` orders
//! them, and what counts as a major update of one.
//!
//! A version is `[epoch:]upstream[-revision]`. Epochs compare as numbers; the upstream
//! version and the revision compare by dpkg's algorithm: alternately the longest run of
//! non-digits, character by character (letters before other characters, `~` before
//! everything, even the end of the text), and the longest run of digits, as numbers. So
//! `20230311+deb12u1 < 20250419~deb12u2` and `1.0~rc1 < 1.0 < 1.0+b1`. Written here
//! rather than taken from a crate: it is forty lines, and the crates that do it bring a
//! regex engine, chrono and big integers (ARCHITECTURE.md, "Choices", says which crates were weighed).

use std::cmp::Ordering;

/// A Debian version split into its three parts; any text is accepted, as dpkg's ordering
/// is defined for every string apt can print.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DebianVersion<'v> {
    epoch: u64,
    upstream: &'v str,
    revision: &'v str,
}

impl<'v> DebianVersion<'v> {
    /// Split `text`: the epoch before the first `:` (when it is a number), the revision
    /// after the last `-`.
    pub(crate) fn parse(text: &'v str) -> Self {
        let text = text.trim();
        let (epoch, rest) = match text.split_once(':') {
            Some((epoch, rest)) if epoch.bytes().all(|b| b.is_ascii_digit()) => {
                (epoch.parse().unwrap_or(0), rest)
            }
            _ => (0, text),
        };
        let (upstream, revision) = rest.rsplit_once('-').unwrap_or((rest, ""));
        Self {
            epoch,
            upstream,
            revision,
        }
    }

    /// Whether going from `self` to `to` is a major update. Debian versions carry no
    /// compatibility promise, so upkeep calls an update major only when it is newer and
    /// either its epoch changes (the packager saying the numbering started over) or both
    /// upstream versions read like semver (`2.36`, `1.20.1`: a number, a dot, a number)
    /// and their first numbers differ. Date-like versions (`20250419`), a new Debian
    /// revision (`-9+deb12u13`) or a rebuild (`+b1`) are never major.
    pub(crate) fn is_major_to(&self, to: &Self) -> bool {
        if compare(self, to) != Ordering::Less {
            return false;
        }
        if self.epoch != to.epoch {
            return true;
        }
        match (semver_like(self.upstream), semver_like(to.upstream)) {
            (Some(from), Some(to)) => from != to,
            _ => false,
        }
    }
}

/// dpkg's ordering of two versions.
pub(crate) fn compare(a: &DebianVersion<'_>, b: &DebianVersion<'_>) -> Ordering {
    a.epoch
        .cmp(&b.epoch)
        .then_with(|| compare_part(a.upstream, b.upstream))
        .then_with(|| compare_part(a.revision, b.revision))
}

/// dpkg's ordering of two version texts (`[epoch:]upstream[-revision]`).
pub(crate) fn compare_text(a: &str, b: &str) -> Ordering {
    compare(&DebianVersion::parse(a), &DebianVersion::parse(b))
}

/// The first number of an upstream version that starts `N.N`, else `None`.
fn semver_like(upstream: &str) -> Option<u64> {
    let (first, rest) = upstream.split_once('.')?;
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let second: String = rest.chars().take_while(char::is_ascii_digit).collect();
    (digits(first) && !second.is_empty())
        .then(|| first.parse().ok())
        .flatten()
}

/// A character's weight in a non-digit run: the end of the text and digits 0, `~` below
/// them, letters by their code, anything else after every letter.
fn weight(c: Option<u8>) -> i32 {
    match c {
        None => 0,
        Some(c) if c.is_ascii_digit() => 0,
        Some(c) if c.is_ascii_alphabetic() => i32::from(c),
        Some(b'~') => -1,
        Some(c) => i32::from(c) + 256,
    }
}

/// dpkg's `verrevcmp`: non-digit runs by [`weight`], digit runs as numbers.
fn compare_part(a: &str, b: &str) -> Ordering {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let (mut i, mut j) = (0, 0);
    let non_digit = |s: &[u8], k: usize| s.get(k).is_some_and(|c| !c.is_ascii_digit());
    while i < a.len() || j < b.len() {
        while non_digit(a, i) || non_digit(b, j) {
            let (wa, wb) = (weight(a.get(i).copied()), weight(b.get(j).copied()));
            if wa != wb {
                return wa.cmp(&wb);
            }
            i += 1;
            j += 1;
        }
        let (da, db) = (digit_run(a, &mut i), digit_run(b, &mut j));
        // Without leading zeros, a longer run of digits is the larger number.
        let order = da.len().cmp(&db.len()).then_with(|| da.cmp(db));
        if order != Ordering::Equal {
            return order;
        }
    }
    Ordering::Equal
}

/// The run of digits at `*at` without its leading zeros; `*at` moves past it.
fn digit_run<'s>(s: &'s [u8], at: &mut usize) -> &'s [u8] {
    while s.get(*at) == Some(&b'0') {
        *at += 1;
    }
    let start = *at;
    while s.get(*at).is_some_and(u8::is_ascii_digit) {
        *at += 1;
    }
    &s[start..*at]
}

#[cfg(test)]
mod tests {
    use std::cmp::Ordering::{Equal, Greater, Less};
    use std::path::Path;
    use std::time::Duration;

    use super::*;

    /// dpkg's own cases (`lib/dpkg/t/t-version.c`, Debian policy 5.6.12), and versions
    /// `apt list --upgradable` printed on Debian 12.
    const CASES: &[(&str, &str, Ordering)] = &[
        ("0", "0", Equal),
        ("0", "00", Equal),
        ("1", "2", Less),
        ("0:0", "0:00", Equal),
        ("0:0", "0", Equal),
        ("1:0", "0:1", Greater),
        ("1:2.0", "3.0", Greater),
        ("1.0", "1.0-0", Equal),
        ("1.0-1", "1.0-2", Less),
        ("1.2.3", "1.2.10", Less),
        ("1.0~rc1", "1.0", Less),
        ("1.0~~", "1.0~~a", Less),
        ("1.0~~a", "1.0~", Less),
        ("1.0~", "1.0", Less),
        ("1.0", "1.0a", Less),
        ("1.0a", "1.0.", Less),
        ("1.0", "1.0+1", Less),
        ("1.0+b1", "1.0.1", Less),
        ("a", "b", Less),
        ("a", "A", Greater),
        ("1.0-1", "1.0-1ubuntu1", Less),
        ("2.30-1", "2.30+dfsg-1", Less),
        ("0.9", "0.10", Less),
        ("1.0.0", "1.0", Greater),
        ("20230311+deb12u1", "20250419~deb12u2", Less),
        ("2.36-9+deb12u10", "2.36-9+deb12u13", Less),
        ("1:2.66-4+deb12u2+b2", "1:2.66-4+deb12u3+b1", Less),
        ("12.4+deb12u11", "12.4+deb12u15", Less),
        ("1.0.9-2+b6", "1.0.9-2+deb12u1", Less),
        ("5.2.15-2+b8", "5.2.15-2+b13", Less),
        ("1.20.1-2+deb12u3", "1.20.1-2+deb12u5", Less),
        ("3.0.2-0ubuntu1.15", "3.0.2-0ubuntu1.18", Less),
        ("2.61.3+22.04", "2.63+22.04ubuntu0.1", Less),
    ];

    #[test]
    fn dpkgs_reference_cases() {
        for (a, b, expected) in CASES {
            assert_eq!(compare_text(a, b), *expected, "{a} vs {b}");
            assert_eq!(compare_text(b, a), expected.reverse(), "{b} vs {a}");
        }
    }

    /// The same cases asked of the host's own dpkg, when it has one.
    #[test]
    fn dpkg_itself_agrees() {
        let ask = |a: &str, op: &str, b: &str| {
            crate::exec::capture(
                &["dpkg", "--compare-versions", a, op, b],
                Path::new("/"),
                Duration::from_secs(20),
            )
            .ok()
            .map(|out| out.success())
        };
        if ask("1", "lt", "2").is_none() {
            return;
        }
        for (a, b, expected) in CASES {
            let op = match expected {
                Less => "lt",
                Equal => "eq",
                Greater => "gt",
            };
            assert_eq!(ask(a, op, b), Some(true), "dpkg disagrees: {a} {op} {b}");
        }
    }

    #[test]
    fn major_means_a_new_epoch_or_a_new_first_number_of_a_semver_like_upstream() {
        let major =
            |a: &str, b: &str| DebianVersion::parse(a).is_major_to(&DebianVersion::parse(b));
        assert!(!major("20230311+deb12u1", "20250419~deb12u2"), "dates");
        assert!(!major("1:2024a-0+deb12u1", "1:2025b-0+deb12u1"), "tzdata");
        assert!(!major("2.36-9+deb12u10", "2.36-9+deb12u13"));
        assert!(!major("1.20.1-2+deb12u3", "1.21.0-1"));
        assert!(major("1.26.18-1", "2.0.2-1"));
        assert!(major("1:2.66-4", "2:2.66-4"), "a new epoch");
        assert!(!major("2.0.2-1", "1.26.18-1"), "not an update");
        assert!(!major("3.0.2-0ubuntu1.15", "3.0.2-0ubuntu1.18"));
    }
}
