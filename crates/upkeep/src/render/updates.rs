//! `upkeep check` as text: the counts, then each module's `current → available` with its
//! flags, what its policy holds back, its packages, or why its source failed.

use std::fmt::Write;

use upkeep_core::updates::{ModuleReport, PackageReport, Release, UpdateReport};

use super::timestamp;

/// Releases shown per module with `--details`.
const DETAIL_RELEASES: usize = 5;
/// Changelog lines shown per release, and characters per line.
const CHANGELOG_LINES: usize = 3;
const CHANGELOG_WIDTH: usize = 100;

/// The whole report; `details` adds every new release with the start of its changelog.
pub(crate) fn check_report(report: &UpdateReport, details: bool) -> String {
    let mut out = header(report);
    for m in &report.modules {
        out.push('\n');
        let cached = if report.cached {
            format!(", checked {}", timestamp(m.checked_ms))
        } else {
            String::new()
        };
        let _ = writeln!(
            out,
            "{} ({}, {}{cached})",
            m.module, m.source, m.update_type
        );
        if let Some(error) = &m.error {
            let error = super::fit::cut_middle(error, super::fit::DETAIL_BOUND);
            let _ = writeln!(out, "  error: {error}");
        } else if m.source == "pip" || m.source == "apt" {
            packages(&mut out, &m.packages);
        } else {
            releases(&mut out, m, details);
        }
    }
    out
}

fn plural(count: usize, one: &str, many: &str) -> String {
    format!("{count} {}", if count == 1 { one } else { many })
}

fn header(report: &UpdateReport) -> String {
    let s = &report.summary;
    let mut out = String::new();
    if s.modules_checked == 0 {
        if s.never_checked == 0 {
            out.push_str("no module to check\n");
        }
    } else {
        let mut parts = vec![plural(s.updates, "update available", "updates available")];
        parts.push(format!("{} security", s.security));
        parts.push(format!("{} breaking or major", s.breaking_or_major));
        parts.push(format!("{} held back", s.held));
        parts.push(plural(s.failed, "source failed", "sources failed"));
        let cached = if report.cached { " (cached)" } else { "" };
        let checked = plural(s.modules_checked, "module", "modules");
        let _ = writeln!(out, "{checked} checked{cached}: {}", parts.join(", "));
    }
    if s.never_checked > 0 {
        let never = plural(s.never_checked, "module was", "modules were");
        let _ = writeln!(out, "{never} never checked; run `upkeep check`");
    }
    if s.without_source > 0 {
        let none = plural(s.without_source, "module has", "modules have");
        let _ = writeln!(out, "{none} no update source");
    }
    out
}

/// ` [security] [major]`: the name of each mark that is on, in the order given.
fn flags(marks: &[(bool, &str)]) -> String {
    let mut text = String::new();
    for (on, name) in marks {
        if *on {
            let _ = write!(text, " [{name}]");
        }
    }
    text
}

fn releases(out: &mut String, m: &ModuleReport, details: bool) {
    let current = m.current.as_deref().unwrap_or("?");
    match &m.latest {
        Some(latest) => {
            let marks = flags(&[
                (m.security, "security"),
                (m.breaking, "breaking"),
                (m.major, "major"),
                (m.prerelease, "pre-release"),
            ]);
            let _ = writeln!(out, "  {current} → {latest}{marks}");
        }
        None if m.current.is_some() => {
            let _ = writeln!(out, "  up to date ({current})");
        }
        None => out.push_str("  no releases found\n"),
    }
    if let Some(target) = &m.target
        && m.latest.as_ref() != Some(target)
    {
        let _ = writeln!(out, "  next run takes {target}");
    }
    if let Some(held) = &m.held {
        let _ = writeln!(out, "  held back: {} ({})", held.version, held.description);
    }
    if details {
        for release in m.releases.iter().take(DETAIL_RELEASES) {
            release_details(out, release);
        }
        if m.releases.len() > DETAIL_RELEASES {
            let more = m.releases.len() - DETAIL_RELEASES;
            let _ = writeln!(
                out,
                "    … and {}",
                plural(more, "older release", "older releases")
            );
        }
    }
}

fn release_details(out: &mut String, release: &Release) {
    let date = release
        .release_date
        .as_deref()
        .map(|d| format!(" ({d})"))
        .unwrap_or_default();
    let marks = flags(&[
        (release.security, "security"),
        (release.breaking, "breaking"),
        (release.prerelease, "pre-release"),
    ]);
    let _ = writeln!(out, "    {}{date}{marks}", release.version);
    let Some(changelog) = &release.changelog else {
        return;
    };
    let lines: Vec<&str> = changelog
        .lines()
        .map(str::trim_end)
        .filter(|l| !l.trim().is_empty())
        .collect();
    for line in lines.iter().take(CHANGELOG_LINES) {
        let shown: String = line.chars().take(CHANGELOG_WIDTH).collect();
        let cut = if line.chars().count() > CHANGELOG_WIDTH {
            "…"
        } else {
            ""
        };
        let _ = writeln!(out, "      {shown}{cut}");
    }
    if lines.len() > CHANGELOG_LINES {
        out.push_str("      …\n");
    }
}

fn packages(out: &mut String, packages: &[PackageReport]) {
    if packages.is_empty() {
        out.push_str("  every package is up to date\n");
        return;
    }
    let width = packages
        .iter()
        .map(|p| super::fit::width(&p.name))
        .max()
        .unwrap_or(0);
    for p in packages {
        let mut line = "  ".to_owned();
        super::fit::pad(&mut line, &p.name, width);
        let _ = write!(
            line,
            "  {} → {}{}",
            p.current,
            p.available,
            flags(&[
                (p.security, "security"),
                (p.major, "major"),
                (p.prerelease, "pre-release"),
            ])
        );
        if let Some(held) = &p.held {
            let _ = write!(line, "  held back: {}", held.description);
        }
        out.push_str(&line);
        out.push('\n');
    }
}

#[cfg(test)]
mod tests {
    use upkeep_core::updates::{CurrentFrom, Summary};

    use super::*;

    fn module(releases: Vec<Release>) -> ModuleReport {
        ModuleReport {
            module: "gogs".into(),
            source: "http".into(),
            update_type: "app".into(),
            checked_ms: 0,
            ok: true,
            error: None,
            current: Some("1.0.0".into()),
            current_from: Some(CurrentFrom::Ledger),
            latest: releases.first().map(|r| r.version.clone()),
            security: false,
            breaking: true,
            major: false,
            prerelease: false,
            target: None,
            held: None,
            releases,
            packages: Vec::new(),
        }
    }

    #[test]
    fn details_show_five_releases_and_cut_long_changelogs() {
        let long = format!("{}\nsecond", "x".repeat(130));
        let releases: Vec<Release> = (1..=7)
            .rev()
            .map(|minor| Release {
                version: format!("1.{minor}.0"),
                changelog: Some(long.clone()),
                breaking: minor == 7,
                ..Release::default()
            })
            .collect();
        let report = UpdateReport {
            cached: true,
            summary: Summary {
                modules_checked: 1,
                updates: 1,
                breaking_or_major: 1,
                ..Summary::default()
            },
            modules: vec![module(releases)],
        };
        let text = check_report(&report, true);
        let expected_head = "1 module checked (cached): 1 update available, 0 security, \
                             1 breaking or major, 0 held back, 0 sources failed\n\n\
                             gogs (http, app, checked 1970-01-01T00:00:00Z)\n  \
                             1.0.0 → 1.7.0 [breaking]\n    1.7.0 [breaking]\n      ";
        assert!(text.starts_with(expected_head), "{text}");
        assert!(text.contains(&format!("      {}…\n      second\n", "x".repeat(100))));
        let tail = format!(
            "    1.3.0\n      {}…\n      second\n    … and 2 older releases\n",
            "x".repeat(100)
        );
        assert!(text.ends_with(&tail), "{text}");
        assert!(!check_report(&report, false).contains("second"));
    }
}
