//! systemd timers fire when upkeep's own next-run computation says: the `.timer` that
//! `schedule install` writes is read by `systemd-analyze calendar` and its elapses compared,
//! over two years, with [`Spec::next_after`] for specs that meet DST gaps and folds, month
//! ends and leap days, in zones with one-hour, half-hour and midnight transitions.
//!
//! Where `systemd-analyze` is missing the comparison cannot be made and the test says so;
//! CI installs it.

use std::path::Path;
use std::time::Duration;

use jiff::Timestamp;
use jiff::tz::TimeZone;
use upkeep_core::schedule::Spec;
use upkeep_core::schedule::store::systemd_units;
use upkeep_core::state::schedules::ScheduleRow;

const SPECS: &[(&str, &str)] = &[
    ("daily", "02:30"),
    ("daily", "02:00"),
    ("daily", "03:00"),
    ("daily", "00:30"),
    ("weekly", "sun 02:15"),
    ("monthly", "last 02:30"),
    ("monthly", "31 02:30"),
    ("monthly", "29 12:00"),
    ("cron", "*/20 2 * * *"),
];

const ZONES: &[&str] = &[
    "Europe/Berlin",
    "America/New_York",
    "Australia/Lord_Howe",
    "America/Santiago",
];

fn spec(kind: &str, text: &str) -> Spec {
    let (days, at) = text.split_once(' ').unwrap_or((text, ""));
    match kind {
        "daily" => Spec::parse_daily(text),
        "weekly" => Spec::parse_weekly(days, at),
        "monthly" => Spec::parse_monthly(days, at),
        "cron" => Spec::parse_cron(text),
        _ => unreachable!(),
    }
    .unwrap()
}

/// Every elapse `systemd-analyze calendar` prints for `expression` from `base` on.
fn systemd_elapses(expression: &str, base: Timestamp, iterations: usize) -> Vec<Timestamp> {
    let base_time = format!("--base-time=@{}", base.as_second());
    let iterations = format!("--iterations={iterations}");
    let out = upkeep_core::exec::capture_with(
        &[
            "systemd-analyze",
            "calendar",
            &iterations,
            &base_time,
            expression,
        ],
        Path::new("/"),
        &[("TZ".to_owned(), "UTC".into())],
        Duration::from_secs(30),
    )
    .unwrap();
    assert!(out.success(), "{expression}: {}", out.stderr);
    out.stdout
        .lines()
        .filter_map(|line| {
            let (label, when) = line.trim().split_once(": ")?;
            if !(label == "Next elapse" || label.starts_with("Iter. #")) {
                return None;
            }
            // `Sun 2026-03-29 01:00:00 UTC`
            let mut words = when.split_whitespace().skip(1);
            let (date, time) = (words.next()?, words.next()?);
            format!("{date}T{time}Z").parse().ok()
        })
        .collect()
}

/// A stored schedule of `spec` in `zone`.
fn row(spec: &Spec, zone: &str) -> ScheduleRow {
    ScheduleRow {
        name: "t".to_owned(),
        spec: serde_json::to_string(spec).unwrap(),
        time_zone: zone.to_owned(),
        targets: Vec::new(),
        types: Vec::new(),
        force: false,
        enabled: true,
        created_ms: 0,
        last_run_ms: None,
        last_run_id: None,
        last_result: None,
        next_run_ms: None,
    }
}

#[test]
fn installed_timers_fire_when_upkeep_says_across_dst_and_month_ends() {
    if upkeep_core::exec::capture(
        &["systemd-analyze", "--version"],
        Path::new("/"),
        Duration::from_secs(10),
    )
    .is_err()
    {
        eprintln!("systemd-analyze is not installed here; nothing to compare against");
        return;
    }
    let base: Timestamp = "2026-01-01T00:00:00Z".parse().unwrap();
    let until: Timestamp = "2028-01-01T00:00:00Z".parse().unwrap();
    let mut failures = Vec::new();
    for zone in ZONES {
        let Ok(tz) = TimeZone::get(zone) else {
            eprintln!("no time zone database entry for {zone}");
            continue;
        };
        for (kind, text) in SPECS {
            let spec = spec(kind, text);
            let row = row(&spec, zone);
            let (_, timer) = systemd_units(&row, Path::new("/usr/bin/upkeep"), &[], base).unwrap();
            let mut want = Vec::new();
            let mut at = base;
            while let Some(next) = spec.next_after(at, &tz).filter(|n| *n < until) {
                want.push(next);
                at = next;
            }
            let mut got: Vec<Timestamp> = timer
                .lines()
                .filter_map(|l| l.strip_prefix("OnCalendar="))
                .flat_map(|expr| systemd_elapses(expr, base, want.len() + 1))
                .filter(|t| *t < until)
                .collect();
            got.sort();
            got.dedup();
            if got != want {
                let missing: Vec<String> = want
                    .iter()
                    .filter(|t| !got.contains(t))
                    .map(ToString::to_string)
                    .take(5)
                    .collect();
                let extra: Vec<String> = got
                    .iter()
                    .filter(|t| !want.contains(t))
                    .map(ToString::to_string)
                    .take(5)
                    .collect();
                failures.push(format!(
                    "{kind} {text} in {zone}: systemd misses {missing:?}, fires too at {extra:?}"
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
