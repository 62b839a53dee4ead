//! Schedules: parsing, the next firing (plain days, month ends, leap years, DST gaps and
//! folds, cron), descriptions and systemd `OnCalendar=` values.

use jiff::Timestamp;
use jiff::tz::TimeZone;
use upkeep_core::schedule::{Spec, SpecError, Time, Weekday};

/// A spec from the command line's words: `daily 03:00`, `weekly mon,thu 03:00`,
/// `monthly 1,15 03:00`, `cron 30 3 * * 1-5`.
fn parse(text: &str) -> Result<Spec, SpecError> {
    let (kind, rest) = text.split_once(' ').unwrap();
    let (days, at) = rest.split_once(' ').unwrap_or((rest, ""));
    match kind {
        "daily" => Spec::parse_daily(rest),
        "weekly" => Spec::parse_weekly(days, at),
        "monthly" => Spec::parse_monthly(days, at),
        "cron" => Spec::parse_cron(rest),
        _ => panic!("unknown kind in test table: {kind}"),
    }
}

fn spec(text: &str) -> Spec {
    parse(text).unwrap_or_else(|e| panic!("`{text}`: {e}"))
}

fn ts(text: &str) -> Timestamp {
    text.parse().unwrap_or_else(|e| panic!("`{text}`: {e}"))
}

/// A time zone from the system database, or `None` (and a note) where it is missing:
/// jiff reads `/usr/share/zoneinfo` unless built with a bundled database.
fn zone(name: &str) -> Option<TimeZone> {
    if name == "UTC" {
        return Some(TimeZone::UTC);
    }
    match TimeZone::get(name) {
        Ok(tz) => Some(tz),
        Err(e) => {
            eprintln!("skipping cases in {name}: no time zone database entry ({e})");
            None
        }
    }
}

/// `(spec, zone, after, expected first firing strictly after, or "none")`.
type Case = (&'static str, &'static str, &'static str, &'static str);

fn check(cases: &[Case]) {
    let mut failures = Vec::new();
    for &(text, tz_name, after, want) in cases {
        let Some(tz) = zone(tz_name) else { continue };
        let got = spec(text).next_after(ts(after), &tz);
        let want = (want != "none").then(|| ts(want));
        if got != want {
            failures.push(format!(
                "{text} in {tz_name} after {after}: got {got:?}, want {want:?}"
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

const DAILY_WEEKLY: &[Case] = &[
    // A plain day, just before, exactly at (strictly after) and just after the time.
    (
        "daily 03:00",
        "UTC",
        "2026-05-10T12:00:00Z",
        "2026-05-11T03:00:00Z",
    ),
    (
        "daily 03:00",
        "UTC",
        "2026-05-10T02:59:59Z",
        "2026-05-10T03:00:00Z",
    ),
    (
        "daily 03:00",
        "UTC",
        "2026-05-10T03:00:00Z",
        "2026-05-11T03:00:00Z",
    ),
    (
        "daily 03:00",
        "UTC",
        "2026-05-10T03:01:00Z",
        "2026-05-11T03:00:00Z",
    ),
    (
        "daily 00:00",
        "UTC",
        "2026-12-31T23:59:59Z",
        "2027-01-01T00:00:00Z",
    ),
    (
        "daily 23:59",
        "UTC",
        "2026-05-10T00:00:00Z",
        "2026-05-10T23:59:00Z",
    ),
    // 2026-05-10 is a Sunday.
    (
        "weekly mon,thu 03:00",
        "UTC",
        "2026-05-10T12:00:00Z",
        "2026-05-11T03:00:00Z",
    ),
    (
        "weekly mon,thu 03:00",
        "UTC",
        "2026-05-11T03:00:00Z",
        "2026-05-14T03:00:00Z",
    ),
    (
        "weekly mon,thu 03:00",
        "UTC",
        "2026-05-14T04:00:00Z",
        "2026-05-18T03:00:00Z",
    ),
    (
        "weekly sun 03:00",
        "UTC",
        "2026-05-10T03:00:00Z",
        "2026-05-17T03:00:00Z",
    ),
    (
        "weekly mon-fri 03:00",
        "UTC",
        "2026-05-15T03:00:00Z",
        "2026-05-18T03:00:00Z",
    ),
    (
        "weekly fri-mon 03:00",
        "UTC",
        "2026-05-11T03:00:00Z",
        "2026-05-15T03:00:00Z",
    ),
    (
        "weekly Saturday 06:15",
        "UTC",
        "2026-05-10T00:00:00Z",
        "2026-05-16T06:15:00Z",
    ),
];

#[test]
fn daily_and_weekly_in_utc() {
    check(DAILY_WEEKLY);
}

const OFFSET_ZONES: &[Case] = &[
    (
        "daily 03:00",
        "Asia/Tokyo",
        "2026-05-10T12:00:00Z",
        "2026-05-10T18:00:00Z",
    ),
    (
        "daily 03:00",
        "America/New_York",
        "2026-05-10T06:00:00Z",
        "2026-05-10T07:00:00Z",
    ),
    (
        "daily 03:00",
        "America/New_York",
        "2026-05-10T07:00:00Z",
        "2026-05-11T07:00:00Z",
    ),
];

#[test]
fn daily_in_a_zone_with_an_offset() {
    check(OFFSET_ZONES);
}

const MONTHLY: &[Case] = &[
    (
        "monthly 1,15 03:00",
        "UTC",
        "2026-05-01T03:00:00Z",
        "2026-05-15T03:00:00Z",
    ),
    (
        "monthly 1,15 03:00",
        "UTC",
        "2026-05-15T03:00:00Z",
        "2026-06-01T03:00:00Z",
    ),
    // The 31st skips February and April.
    (
        "monthly 31 03:00",
        "UTC",
        "2026-01-31T04:00:00Z",
        "2026-03-31T03:00:00Z",
    ),
    (
        "monthly 31 03:00",
        "UTC",
        "2026-03-31T04:00:00Z",
        "2026-05-31T03:00:00Z",
    ),
    // The 29th skips February outside leap years (2100 is not one).
    (
        "monthly 29 03:00",
        "UTC",
        "2026-01-30T00:00:00Z",
        "2026-03-29T03:00:00Z",
    ),
    (
        "monthly 29 03:00",
        "UTC",
        "2028-01-30T00:00:00Z",
        "2028-02-29T03:00:00Z",
    ),
    (
        "monthly 29 03:00",
        "UTC",
        "2100-01-30T00:00:00Z",
        "2100-03-29T03:00:00Z",
    ),
    // `last`: 28 or 29 February, 30 April, 31 March.
    (
        "monthly last 03:00",
        "UTC",
        "2026-02-01T00:00:00Z",
        "2026-02-28T03:00:00Z",
    ),
    (
        "monthly last 03:00",
        "UTC",
        "2028-02-01T00:00:00Z",
        "2028-02-29T03:00:00Z",
    ),
    (
        "monthly last 03:00",
        "UTC",
        "2028-02-28T03:00:00Z",
        "2028-02-29T03:00:00Z",
    ),
    (
        "monthly last 03:00",
        "UTC",
        "2026-02-28T03:00:00Z",
        "2026-03-31T03:00:00Z",
    ),
    (
        "monthly last 03:00",
        "UTC",
        "2026-04-01T00:00:00Z",
        "2026-04-30T03:00:00Z",
    ),
    (
        "monthly 1,last 03:00",
        "UTC",
        "2026-04-01T03:00:00Z",
        "2026-04-30T03:00:00Z",
    ),
    (
        "monthly 1-3 03:00",
        "UTC",
        "2026-04-03T03:00:00Z",
        "2026-05-01T03:00:00Z",
    ),
];

#[test]
fn monthly_month_ends_and_leap_years() {
    check(MONTHLY);
}

const DST_GAPS: &[Case] = &[
    // Europe/Berlin springs forward 2026-03-29 02:00 CET -> 03:00 CEST (01:00 UTC).
    (
        "daily 02:30",
        "Europe/Berlin",
        "2026-03-27T12:00:00Z",
        "2026-03-28T01:30:00Z",
    ),
    (
        "daily 02:30",
        "Europe/Berlin",
        "2026-03-28T12:00:00Z",
        "2026-03-29T01:00:00Z",
    ),
    (
        "daily 02:30",
        "Europe/Berlin",
        "2026-03-29T01:00:00Z",
        "2026-03-30T00:30:00Z",
    ),
    (
        "daily 02:00",
        "Europe/Berlin",
        "2026-03-28T12:00:00Z",
        "2026-03-29T01:00:00Z",
    ),
    (
        "daily 03:00",
        "Europe/Berlin",
        "2026-03-28T12:00:00Z",
        "2026-03-29T01:00:00Z",
    ),
    (
        "weekly sun 02:30",
        "Europe/Berlin",
        "2026-03-23T00:00:00Z",
        "2026-03-29T01:00:00Z",
    ),
    // Every quarter hour of the missing hour collapses into one firing.
    (
        "cron */15 2 * * *",
        "Europe/Berlin",
        "2026-03-28T12:00:00Z",
        "2026-03-29T01:00:00Z",
    ),
    (
        "cron */15 2 * * *",
        "Europe/Berlin",
        "2026-03-29T01:00:00Z",
        "2026-03-30T00:00:00Z",
    ),
    // America/New_York springs forward 2026-03-08 02:00 EST -> 03:00 EDT (07:00 UTC).
    (
        "daily 02:30",
        "America/New_York",
        "2026-03-06T12:00:00Z",
        "2026-03-07T07:30:00Z",
    ),
    (
        "daily 02:30",
        "America/New_York",
        "2026-03-07T12:00:00Z",
        "2026-03-08T07:00:00Z",
    ),
    (
        "daily 02:30",
        "America/New_York",
        "2026-03-08T07:00:00Z",
        "2026-03-09T06:30:00Z",
    ),
    (
        "monthly 8 02:59",
        "America/New_York",
        "2026-03-01T00:00:00Z",
        "2026-03-08T07:00:00Z",
    ),
];

#[test]
fn dst_gap_fires_at_the_first_valid_instant() {
    check(DST_GAPS);
}

const DST_FOLDS: &[Case] = &[
    // Europe/Berlin falls back 2026-10-25 03:00 CEST -> 02:00 CET (01:00 UTC).
    (
        "daily 02:30",
        "Europe/Berlin",
        "2026-10-24T12:00:00Z",
        "2026-10-25T00:30:00Z",
    ),
    (
        "daily 02:30",
        "Europe/Berlin",
        "2026-10-25T00:30:00Z",
        "2026-10-26T01:30:00Z",
    ),
    (
        "cron 30 2 * * *",
        "Europe/Berlin",
        "2026-10-25T00:30:00Z",
        "2026-10-26T01:30:00Z",
    ),
    (
        "daily 03:00",
        "Europe/Berlin",
        "2026-10-24T12:00:00Z",
        "2026-10-25T02:00:00Z",
    ),
    // America/New_York falls back 2026-11-01 02:00 EDT -> 01:00 EST (06:00 UTC).
    (
        "daily 01:30",
        "America/New_York",
        "2026-10-31T12:00:00Z",
        "2026-11-01T05:30:00Z",
    ),
    (
        "daily 01:30",
        "America/New_York",
        "2026-11-01T05:30:00Z",
        "2026-11-02T06:30:00Z",
    ),
    (
        "daily 01:30",
        "America/New_York",
        "2026-11-01T06:00:00Z",
        "2026-11-02T06:30:00Z",
    ),
];

#[test]
fn dst_fold_fires_once_at_the_first_occurrence() {
    check(DST_FOLDS);
}

const CRON: &[Case] = &[
    // Steps and ranges.
    (
        "cron */15 * * * *",
        "UTC",
        "2026-05-10T12:07:00Z",
        "2026-05-10T12:15:00Z",
    ),
    (
        "cron */15 * * * *",
        "UTC",
        "2026-05-10T12:45:00Z",
        "2026-05-10T13:00:00Z",
    ),
    (
        "cron 0 1-5/2 * * *",
        "UTC",
        "2026-05-10T01:00:00Z",
        "2026-05-10T03:00:00Z",
    ),
    (
        "cron 0 1-5/2 * * *",
        "UTC",
        "2026-05-10T05:00:00Z",
        "2026-05-11T01:00:00Z",
    ),
    (
        "cron 10/25 * * * *",
        "UTC",
        "2026-05-10T12:36:00Z",
        "2026-05-10T13:10:00Z",
    ),
    (
        "cron 30 3 * * 1-5",
        "UTC",
        "2026-05-15T04:00:00Z",
        "2026-05-18T03:30:00Z",
    ),
    (
        "cron 0 0 1-7 * *",
        "UTC",
        "2026-05-07T00:00:00Z",
        "2026-06-01T00:00:00Z",
    ),
    // Names, in any case; 0 and 7 are both Sunday.
    (
        "cron 0 12 * jan,JUL mon",
        "UTC",
        "2026-05-10T00:00:00Z",
        "2026-07-06T12:00:00Z",
    ),
    (
        "cron 0 0 * * sat-sun",
        "UTC",
        "2026-05-11T00:00:00Z",
        "2026-05-16T00:00:00Z",
    ),
    (
        "cron 0 0 * * fri-sun",
        "UTC",
        "2026-05-16T00:00:00Z",
        "2026-05-17T00:00:00Z",
    ),
    (
        "cron 0 0 * * 0",
        "UTC",
        "2026-05-10T12:00:00Z",
        "2026-05-17T00:00:00Z",
    ),
    (
        "cron 0 0 * * 7",
        "UTC",
        "2026-05-10T12:00:00Z",
        "2026-05-17T00:00:00Z",
    ),
    // Both day fields restricted: either fires (13 May is a Wednesday).
    (
        "cron 0 0 13 * fri",
        "UTC",
        "2026-05-10T00:00:00Z",
        "2026-05-13T00:00:00Z",
    ),
    (
        "cron 0 0 13 * fri",
        "UTC",
        "2026-05-13T00:00:00Z",
        "2026-05-15T00:00:00Z",
    ),
    // A day-of-month starting with `*` is unrestricted: both must match.
    (
        "cron 0 0 */2 * fri",
        "UTC",
        "2026-05-10T00:00:00Z",
        "2026-05-15T00:00:00Z",
    ),
    (
        "cron 0 0 */2 * fri",
        "UTC",
        "2026-05-15T00:00:00Z",
        "2026-05-29T00:00:00Z",
    ),
    // Rare and impossible dates.
    (
        "cron 0 0 29 2 *",
        "UTC",
        "2026-03-01T00:00:00Z",
        "2028-02-29T00:00:00Z",
    ),
    (
        "cron 0 0 29 2 *",
        "UTC",
        "2096-03-01T00:00:00Z",
        "2104-02-29T00:00:00Z",
    ),
    ("cron 0 0 30 2 *", "UTC", "2026-01-01T00:00:00Z", "none"),
    (
        "cron 0 0 31 4,6,9,11 *",
        "UTC",
        "2026-01-01T00:00:00Z",
        "none",
    ),
];

#[test]
fn cron_next_after() {
    check(CRON);
}

/// `(command-line words, a part of the expected message)`.
const PARSE_ERRORS: &[(&str, &str)] = &[
    (
        "daily 25:00",
        "parse time `25:00`: hour 25 is out of range 0-23; expected HH:MM",
    ),
    ("daily 12:60", "minute 60 is out of range 0-59"),
    ("daily 3pm", "parse time `3pm`: there is no `:`"),
    (
        "daily 3:5",
        "parse time `3:5`: the minute `5` is not two digits",
    ),
    ("daily ", "parse time ``"),
    ("daily 1a:00", "the hour `1a` is not one or two digits"),
    (
        "weekly funday 03:00",
        "parse weekday `funday`: expected mon, tue, wed, thu, fri, sat or sun; did you mean `sun`?",
    ),
    ("weekly mon,tuesdya 03:00", "did you mean `tue`?"),
    ("weekly mon 25:00", "parse time `25:00`"),
    ("weekly  03:00", "parse weekdays: the list is empty"),
    (
        "monthly 32 03:00",
        "parse day of month `32`: out of range; expected 1-31 or `last`",
    ),
    ("monthly 0 03:00", "parse day of month `0`: out of range"),
    (
        "monthly lats 03:00",
        "parse day of month `lats`: not a number",
    ),
    ("monthly 15-1 03:00", "the range ends before it starts"),
    (
        "monthly , 03:00",
        "parse days of the month: the list is empty",
    ),
    (
        "cron * * * *",
        "parse cron expression `* * * *`: it has 4 fields; expected 5: minute hour day-of-month month day-of-week",
    ),
    ("cron * * * * * *", "it has 6 fields"),
    ("cron ", "it has 0 fields"),
    (
        "cron 60 * * * *",
        "parse cron minute field `60`: 60 is out of range 0-59",
    ),
    (
        "cron * 24 * * *",
        "parse cron hour field `24`: 24 is out of range 0-23",
    ),
    (
        "cron * * 0 * *",
        "parse cron day-of-month field `0`: 0 is out of range 1-31",
    ),
    ("cron * * 32 * *", "32 is out of range 1-31"),
    (
        "cron * * * 13 *",
        "parse cron month field `13`: 13 is out of range 1-12",
    ),
    (
        "cron * * * * 8",
        "parse cron day-of-week field `8`: 8 is out of range 0-7",
    ),
    (
        "cron * * * jna *",
        "parse cron month field `jna`: `jna` is not understood; expected a number 1-12 or a name jan, feb",
    ),
    ("cron * * * jna *", "did you mean `jan`?"),
    ("cron * * * * mno", "did you mean `mon`?"),
    ("cron */0 * * * *", "a step of 0 never advances"),
    ("cron */x * * * *", "step `x` is not a number"),
    ("cron 5-1 * * * *", "range `5-1` ends before it starts"),
    ("cron 1,,2 * * * *", "an item is empty"),
    (
        "cron x * * * *",
        "`x` is not understood; expected a number 0-59",
    ),
];

#[test]
fn parse_errors_name_the_part_and_what_is_expected() {
    let mut failures = Vec::new();
    for &(text, want) in PARSE_ERRORS {
        match parse(text) {
            Ok(spec) => failures.push(format!("`{text}` parsed as {spec:?}, want `{want}`")),
            Err(e) if e.to_string().contains(want) => {}
            Err(e) => failures.push(format!("`{text}`: `{e}` lacks `{want}`")),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn weekday_typo_suggestion_is_structured() {
    let err = Spec::parse_weekly("funday", "03:00").unwrap_err();
    assert_eq!(
        err,
        SpecError::Weekday {
            text: "funday".to_owned(),
            suggestion: Some("sun")
        }
    );
    let err = Spec::parse_weekly("xyzzy", "03:00").unwrap_err();
    assert!(!err.to_string().contains("did you mean"), "{err}");
}

#[test]
fn parsers_normalise() {
    let weekly = spec("weekly thu,MON,mon 3:00");
    assert_eq!(
        weekly,
        Spec::Weekly {
            days: vec![Weekday::Mon, Weekday::Thu],
            at: Time { hour: 3, minute: 0 }
        }
    );
    let monthly = spec("monthly last,15,1,15 03:00");
    assert_eq!(
        monthly,
        Spec::Monthly {
            days: vec![1, 15, 0],
            at: Time::new(3, 0).unwrap()
        }
    );
    assert_eq!(
        Spec::parse_cron("  30  3 * *\t1-5 ").unwrap(),
        Spec::Cron {
            expr: "30 3 * * 1-5".to_owned()
        }
    );
    assert_eq!(Time::new(24, 0), None);
    assert_eq!("07:05".parse::<Time>().unwrap().to_string(), "07:05");
}

/// `(command-line words, describe(), on_calendar())`.
const RENDERINGS: &[(&str, &str, Option<&str>)] = &[
    ("daily 03:00", "daily at 03:00", Some("*-*-* 03:00:00")),
    ("daily 23:05", "daily at 23:05", Some("*-*-* 23:05:00")),
    (
        "weekly mon,thu 03:00",
        "every Mon, Thu at 03:00",
        Some("Mon,Thu *-*-* 03:00:00"),
    ),
    (
        "weekly mon-fri 03:00",
        "every Mon, Tue, Wed, Thu, Fri at 03:00",
        Some("Mon..Fri *-*-* 03:00:00"),
    ),
    (
        "weekly fri-mon 03:00",
        "every Mon, Fri, Sat, Sun at 03:00",
        Some("Mon,Fri..Sun *-*-* 03:00:00"),
    ),
    (
        "monthly 1,15 03:00",
        "monthly on the 1st, 15th at 03:00",
        Some("*-*-01,15 03:00:00"),
    ),
    (
        "monthly 2,3,22,31 03:00",
        "monthly on the 2nd, 3rd, 22nd, 31st at 03:00",
        Some("*-*-02,03,22,31 03:00:00"),
    ),
    (
        "monthly last 03:00",
        "monthly on the last day at 03:00",
        Some("*-*~01 03:00:00"),
    ),
    (
        "monthly 1,last 03:00",
        "monthly on the 1st, last day at 03:00",
        None,
    ),
    (
        "cron 30 3 * * 1-5",
        "cron `30 3 * * 1-5`",
        Some("Mon..Fri *-*-* 03:30:00"),
    ),
    (
        "cron */15 * * * *",
        "cron `*/15 * * * *`",
        Some("*-*-* *:00/15:00"),
    ),
    (
        "cron 0 9-17 * * *",
        "cron `0 9-17 * * *`",
        Some("*-*-* 09..17:00:00"),
    ),
    (
        "cron 0 0 1 jan,jul *",
        "cron `0 0 1 jan,jul *`",
        Some("*-01,07-01 00:00:00"),
    ),
    (
        "cron 0 0 * * 0,7",
        "cron `0 0 * * 0,7`",
        Some("Sun *-*-* 00:00:00"),
    ),
    (
        "cron 0 0 */2 * fri",
        "cron `0 0 */2 * fri`",
        Some("Fri *-*-01/2 00:00:00"),
    ),
    ("cron 0 0 13 * fri", "cron `0 0 13 * fri`", None),
    (
        "cron 0 0 1-31 * fri",
        "cron `0 0 1-31 * fri`",
        Some("*-*-* 00:00:00"),
    ),
];

#[test]
fn describe_and_on_calendar() {
    let mut failures = Vec::new();
    for &(text, describe, calendar) in RENDERINGS {
        let spec = spec(text);
        if spec.describe() != describe {
            failures.push(format!(
                "{text}: describe {:?}, want {describe:?}",
                spec.describe()
            ));
        }
        if spec.on_calendar().as_deref() != calendar {
            failures.push(format!(
                "{text}: on_calendar {:?}, want {calendar:?}",
                spec.on_calendar()
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn serde_shape_and_checks() {
    let weekly = spec("weekly mon,thu 03:00");
    let json = serde_json::to_string(&weekly).unwrap();
    assert_eq!(
        json,
        r#"{"kind":"weekly","days":["mon","thu"],"at":"03:00"}"#
    );
    assert_eq!(serde_json::from_str::<Spec>(&json).unwrap(), weekly);
    for text in ["daily 03:00", "monthly 1,last 03:00", "cron 30 3 * * 1-5"] {
        let spec = spec(text);
        let back: Spec = serde_json::from_str(&serde_json::to_string(&spec).unwrap()).unwrap();
        assert_eq!(back, spec);
    }
    let monthly = r#"{"kind":"monthly","days":[0,15,15],"at":"03:00"}"#;
    assert_eq!(
        serde_json::from_str::<Spec>(monthly).unwrap(),
        spec("monthly 15,last 03:00")
    );
    for bad in [
        r#"{"kind":"daily","at":"25:00"}"#,
        r#"{"kind":"weekly","days":[],"at":"03:00"}"#,
        r#"{"kind":"weekly","days":["funday"],"at":"03:00"}"#,
        r#"{"kind":"monthly","days":[40],"at":"03:00"}"#,
        r#"{"kind":"cron","expr":"* *"}"#,
        r#"{"kind":"hourly"}"#,
    ] {
        assert!(serde_json::from_str::<Spec>(bad).is_err(), "accepted {bad}");
    }
}
