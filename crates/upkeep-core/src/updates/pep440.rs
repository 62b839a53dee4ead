//! Python package versions (`pip` sources), read and ordered as PEP 440 says, and what
//! counts as a major update of one.
//!
//! A version is `[N!]N(.N)*[{a|b|rc}N][.postN][.devN][+local]`, with the spellings PEP 440
//! normalises (`1.0-1` is `1.0.post1`, `1.0alpha1` is `1.0a1`, `1.0.RC1` is `1.0rc1`, a
//! leading `v`). Ordering: epoch, then the release numbers (trailing zeros do not count:
//! `1.0 == 1.0.0`), then `.devN` of a final release before its pre-releases, pre-releases
//! (`a < b < rc`) before the final release, post-releases after it, a `.devN` before the
//! release it qualifies, and a local version (`+abc.5`) after the same version without
//! one. Written here rather than taken from a crate: the ordering is sixty lines, and
//! `pep440_rs` also brings specifiers, serde and unicode tables upkeep has no use for
//! (ARCHITECTURE.md, "Choices", says which crates were weighed).

use std::cmp::Ordering;

/// A parsed PEP 440 version; [`Ord`] (and so `==`: `1.0 == 1.0.0`) is PEP 440's ordering.
#[derive(Debug, Clone)]
pub(crate) struct Pep440 {
    epoch: u64,
    release: Vec<u64>,
    pre: Option<(Pre, u64)>,
    post: Option<u64>,
    dev: Option<u64>,
    local: Option<Vec<Local>>,
}

/// The kinds of pre-release, in their order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Pre {
    Alpha,
    Beta,
    Candidate,
}

/// A segment of a local version: letters sort before numbers.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Local {
    Text(String),
    Number(u64),
}

/// Where a version stands around its release: a development release of a final release,
/// a pre-release, the release itself (or a post-release of it).
#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Phase {
    DevOfFinal,
    Pre(Pre, u64),
    Final,
}

impl Pep440 {
    /// Read `text`; `None` when it is not a PEP 440 version.
    pub(crate) fn parse(text: &str) -> Option<Self> {
        let lower = text.trim().to_ascii_lowercase();
        let text = lower.strip_prefix('v').unwrap_or(&lower);
        let (text, local) = match text.split_once('+') {
            Some((head, local)) => (head, Some(local_segments(local)?)),
            None => (text, None),
        };
        let mut scan = Scanner { rest: text };
        let epoch = match scan.rest.split_once('!') {
            Some((epoch, rest)) => {
                scan.rest = rest;
                epoch.parse().ok()?
            }
            None => 0,
        };
        let mut release = vec![scan.number()?];
        while let Some(mut next) = scan.after(&["."]) {
            let Some(n) = next.number() else { break };
            scan = next;
            release.push(n);
        }
        let pre = scan.pre();
        let post = scan.post();
        let dev = scan.tagged(&["dev"]);
        scan.rest.is_empty().then_some(Self {
            epoch,
            release,
            pre,
            post,
            dev,
            local,
        })
    }

    /// Whether it is a pre-release or a development release.
    pub(crate) fn is_prerelease(&self) -> bool {
        self.pre.is_some() || self.dev.is_some()
    }

    /// Whether going from `self` to `to` is a major update: newer, and a new epoch, a new
    /// first release number, or, below 1, a new second one (`0.13` to `0.14`), as upkeep
    /// reads release sources. PEP 440 promises no compatibility; this is the common
    /// reading of Python projects' numbers.
    pub(crate) fn is_major_to(&self, to: &Self) -> bool {
        if self >= to {
            return false;
        }
        let part = |v: &Self, i: usize| v.release.get(i).copied().unwrap_or(0);
        self.epoch != to.epoch
            || part(self, 0) != part(to, 0)
            || (part(self, 0) == 0 && part(self, 1) != part(to, 1))
    }

    fn phase(&self) -> Phase {
        match (self.pre, self.post, self.dev) {
            (Some((kind, n)), _, _) => Phase::Pre(kind, n),
            (None, None, Some(_)) => Phase::DevOfFinal,
            _ => Phase::Final,
        }
    }

    fn trimmed_release(&self) -> &[u64] {
        let end = self
            .release
            .iter()
            .rposition(|&n| n != 0)
            .map_or(0, |i| i + 1);
        &self.release[..end]
    }
}

impl Ord for Pep440 {
    fn cmp(&self, other: &Self) -> Ordering {
        // No post-release sorts before any; no dev release after any.
        let dev = |v: &Self| v.dev.map_or((1, 0), |n| (0, n));
        self.epoch
            .cmp(&other.epoch)
            .then_with(|| self.trimmed_release().cmp(other.trimmed_release()))
            .then_with(|| self.phase().cmp(&other.phase()))
            .then_with(|| self.post.cmp(&other.post))
            .then_with(|| dev(self).cmp(&dev(other)))
            .then_with(|| self.local.cmp(&other.local))
    }
}

impl PartialEq for Pep440 {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Pep440 {}

impl PartialOrd for Pep440 {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

fn local_segments(text: &str) -> Option<Vec<Local>> {
    text.split(['.', '-', '_'])
        .map(|s| {
            if s.is_empty() || !s.bytes().all(|b| b.is_ascii_alphanumeric()) {
                None
            } else if s.bytes().all(|b| b.is_ascii_digit()) {
                s.parse().ok().map(Local::Number)
            } else {
                Some(Local::Text(s.to_owned()))
            }
        })
        .collect()
}

/// What is left of the text being read.
#[derive(Clone, Copy)]
struct Scanner<'t> {
    rest: &'t str,
}

impl Scanner<'_> {
    fn number(&mut self) -> Option<u64> {
        let end = self
            .rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(self.rest.len());
        let n = self.rest[..end].parse().ok()?;
        self.rest = &self.rest[end..];
        Some(n)
    }

    /// The scanner after one of `words`, if the text goes on with it.
    fn after(self, words: &[&str]) -> Option<Self> {
        words
            .iter()
            .find_map(|w| self.rest.strip_prefix(w))
            .map(|rest| Scanner { rest })
    }

    /// `[-_.]word[-_.]N`, every separator and the number optional (a missing number is 0).
    fn tagged(&mut self, words: &[&str]) -> Option<u64> {
        let start = self.after(&["-", "_", "."]).unwrap_or(*self);
        let mut at = start.after(words)?;
        let mut numbered = at.after(&["-", "_", "."]).unwrap_or(at);
        let n = match numbered.number() {
            Some(n) => {
                at = numbered;
                n
            }
            None => 0,
        };
        *self = at;
        Some(n)
    }

    fn pre(&mut self) -> Option<(Pre, u64)> {
        // Longer spellings first, so `alpha` is not read as `a` followed by `lpha`.
        let kinds: [(&[&str], Pre); 3] = [
            (&["alpha", "a"], Pre::Alpha),
            (&["beta", "b"], Pre::Beta),
            (&["preview", "pre", "rc", "c"], Pre::Candidate),
        ];
        kinds
            .iter()
            .find_map(|(words, kind)| self.tagged(words).map(|n| (*kind, n)))
    }

    fn post(&mut self) -> Option<u64> {
        if let Some(n) = self.tagged(&["post", "rev", "r"]) {
            return Some(n);
        }
        // `1.0-1`: a bare number after a dash is a post-release.
        let mut dashed = self.after(&["-"])?;
        let n = dashed.number()?;
        *self = dashed;
        Some(n)
    }
}

/// PEP 440's ordering of two version texts; `None` when either is not a PEP 440 version.
pub(crate) fn compare_text(a: &str, b: &str) -> Option<Ordering> {
    Some(Pep440::parse(a)?.cmp(&Pep440::parse(b)?))
}

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::time::Duration;

    use super::*;

    /// PEP 440's own example of every kind of suffix, in ascending order.
    const ASCENDING: &[&str] = &[
        "1.dev0",
        "1.0.dev456",
        "1.0a1",
        "1.0a2.dev456",
        "1.0a12.dev456",
        "1.0a12",
        "1.0b1.dev456",
        "1.0b2",
        "1.0b2.post345.dev456",
        "1.0b2.post345",
        "1.0rc1.dev456",
        "1.0rc1",
        "1.0",
        "1.0+abc.5",
        "1.0+abc.7",
        "1.0+5",
        "1.0.post456.dev34",
        "1.0.post456",
        "1.0.15",
        "1.1.dev1",
    ];

    #[test]
    fn peps_ordering_example() {
        for pair in ASCENDING.windows(2) {
            assert_eq!(
                compare_text(pair[0], pair[1]),
                Some(Ordering::Less),
                "{pair:?}"
            );
        }
    }

    #[test]
    fn peps_normalised_spellings_are_equal() {
        for (a, b) in [
            ("1.0", "1.0.0"),
            ("v1.0", "1.0"),
            ("1.0-1", "1.0.post1"),
            ("1.0-r4", "1.0.post4"),
            ("1.0.rev4", "1.0.post4"),
            ("1.0.post", "1.0.post0"),
            ("1.0alpha1", "1.0a1"),
            ("1.0-beta.2", "1.0b2"),
            ("1.0.RC1", "1.0rc1"),
            ("1.0c1", "1.0rc1"),
            ("1.0pre1", "1.0rc1"),
            ("1.0preview1", "1.0rc1"),
            ("1.0a", "1.0a0"),
            ("1.0-dev", "1.0.dev0"),
            ("1.0+ubuntu-1", "1.0+ubuntu.1"),
            ("0!1.0", "1.0"),
        ] {
            assert_eq!(compare_text(a, b), Some(Ordering::Equal), "{a} vs {b}");
        }
        assert_eq!(compare_text("1!1.0", "2.0"), Some(Ordering::Greater));
        assert_eq!(compare_text("2.32.3", "2.31.0"), Some(Ordering::Greater));
        assert_eq!(compare_text("1.10", "1.9"), Some(Ordering::Greater));
        for bad in ["", "banana", "1.0+", "1.0+a..b", "1..0", "1.0-", "1.0_x"] {
            assert_eq!(Pep440::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn prereleases_and_majors() {
        let v = |text: &str| Pep440::parse(text).unwrap();
        assert!(v("2.0.0b1").is_prerelease() && v("2.0.dev3").is_prerelease());
        assert!(!v("2.0.post1").is_prerelease());
        assert!(v("1.26.18").is_major_to(&v("2.2.1")));
        assert!(v("4.2.13").is_major_to(&v("5.0.6")));
        assert!(!v("2.31.0").is_major_to(&v("2.32.3")));
        assert!(v("0.13.1").is_major_to(&v("0.14.0")));
        assert!(!v("0.13.1").is_major_to(&v("0.13.2")));
        assert!(v("1.0").is_major_to(&v("1!0.5")), "a new epoch");
        assert!(!v("2.0").is_major_to(&v("1.0")), "not an update");
    }

    /// The ascending list asked of pip's own `packaging`, when python3 has pip.
    #[test]
    fn pips_packaging_agrees() {
        let script = "import sys\n\
            from pip._vendor.packaging.version import Version\n\
            v = [Version(a) for a in sys.argv[1:]]\n\
            sys.exit(0 if all(a < b for a, b in zip(v, v[1:])) else 1)";
        let mut argv = vec!["python3", "-c", script];
        argv.extend(ASCENDING);
        let Ok(out) = crate::exec::capture(&argv, Path::new("/"), Duration::from_secs(60)) else {
            return;
        };
        if out.stderr.contains("ModuleNotFoundError") {
            return;
        }
        assert!(out.success(), "packaging disagrees: {}", out.stderr);
    }
}
