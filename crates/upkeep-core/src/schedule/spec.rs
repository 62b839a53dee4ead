//! The schedule specification: parsing, the next firing, description and the systemd
//! `OnCalendar=` rendering. The wall-clock rules are in the [module docs](super).

use std::fmt;
use std::str::FromStr;

use jiff::civil::{Date, DateTime};
use jiff::tz::{AmbiguousOffset, TimeZone};
use jiff::{SignedDuration, Timestamp};

/// How many days ahead [`Spec::next_after`] looks before giving up: a little over nine
/// years, so that 29 February is found even across 2100, which is not a leap year.
const SEARCH_DAYS: u32 = 366 * 9;

/// Days of the month 1 to 31 (bit 0 unused).
const ALL_DOM: u64 = 0xFFFF_FFFE;
/// Months 1 to 12 (bit 0 unused).
const ALL_MONTHS: u64 = 0x1FFE;
/// Days of the week, Sunday = bit 0.
const ALL_DOW: u64 = 0x7F;

/// When a schedule fires.
///
/// Serialized with a `kind` tag: `{"kind":"weekly","days":["mon","thu"],"at":"03:00"}`.
/// Deserializing checks what the parsers check (days in range, a cron expression that
/// parses), so a stored schedule is as valid as one built by the `parse_*` functions.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "RawSpec", into = "RawSpec")]
pub enum Spec {
    /// Every day at a time (`--daily 03:00`).
    Daily {
        /// The wall-clock time.
        at: Time,
    },
    /// On some days of the week at a time (`--weekly mon,thu 03:00`).
    Weekly {
        /// The days, Monday first, without repeats.
        days: Vec<Weekday>,
        /// The wall-clock time.
        at: Time,
    },
    /// On some days of the month at a time (`--monthly 1,15 03:00`).
    Monthly {
        /// Days 1 to 31 in order, then `0` for the last day of the month. A day a month
        /// lacks (the 31st in April) is skipped in that month.
        days: Vec<u8>,
        /// The wall-clock time.
        at: Time,
    },
    /// A five-field cron expression (`--cron "30 3 * * 1-5"`), kept as written with
    /// single spaces between the fields.
    Cron {
        /// The expression.
        expr: String,
    },
}

/// The serialized shape of [`Spec`], checked on the way in.
#[derive(serde::Serialize, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
enum RawSpec {
    Daily { at: Time },
    Weekly { days: Vec<Weekday>, at: Time },
    Monthly { days: Vec<u8>, at: Time },
    Cron { expr: String },
}

impl From<Spec> for RawSpec {
    fn from(spec: Spec) -> Self {
        match spec {
            Spec::Daily { at } => RawSpec::Daily { at },
            Spec::Weekly { days, at } => RawSpec::Weekly { days, at },
            Spec::Monthly { days, at } => RawSpec::Monthly { days, at },
            Spec::Cron { expr } => RawSpec::Cron { expr },
        }
    }
}

impl TryFrom<RawSpec> for Spec {
    type Error = SpecError;

    fn try_from(raw: RawSpec) -> Result<Self, SpecError> {
        match raw {
            RawSpec::Daily { at } => Ok(Spec::Daily { at }),
            RawSpec::Weekly { mut days, at } => {
                if days.is_empty() {
                    return Err(SpecError::Empty {
                        what: "weekdays",
                        example: "`mon,thu`",
                    });
                }
                days.sort_unstable();
                days.dedup();
                Ok(Spec::Weekly { days, at })
            }
            RawSpec::Monthly { days, at } => {
                if let Some(bad) = days.iter().find(|&&d| d > 31) {
                    return Err(SpecError::MonthDay {
                        text: bad.to_string(),
                        reason: "out of range".to_owned(),
                    });
                }
                let mask = days.iter().fold(0, |mask, &d| mask | (1 << d));
                Ok(Spec::Monthly {
                    days: month_days(mask)?,
                    at,
                })
            }
            RawSpec::Cron { expr } => Spec::parse_cron(&expr),
        }
    }
}

/// A wall-clock time of day, to the minute; written and serialized as `HH:MM`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Time {
    /// 0 to 23.
    pub hour: u8,
    /// 0 to 59.
    pub minute: u8,
}

impl Time {
    /// A time, if the hour and minute are in range.
    pub fn new(hour: u8, minute: u8) -> Option<Time> {
        (hour < 24 && minute < 60).then_some(Time { hour, minute })
    }

    /// Parse `HH:MM` (or `H:MM`) in 24-hour time.
    pub fn parse(text: &str) -> Result<Time, SpecError> {
        let fail = |reason: String| SpecError::Time {
            text: text.to_owned(),
            reason,
        };
        let trimmed = text.trim();
        let Some((hour, minute)) = trimmed.split_once(':') else {
            return Err(fail("there is no `:` between hour and minute".to_owned()));
        };
        let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
        if !digits(hour) || hour.len() > 2 {
            return Err(fail(format!("the hour `{hour}` is not one or two digits")));
        }
        if !digits(minute) || minute.len() != 2 {
            return Err(fail(format!("the minute `{minute}` is not two digits")));
        }
        let (hour, minute): (u8, u8) = (
            hour.parse().unwrap_or(u8::MAX),
            minute.parse().unwrap_or(u8::MAX),
        );
        if hour > 23 {
            return Err(fail(format!("hour {hour} is out of range 0-23")));
        }
        if minute > 59 {
            return Err(fail(format!("minute {minute} is out of range 0-59")));
        }
        Ok(Time { hour, minute })
    }
}

impl fmt::Display for Time {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:02}:{:02}", self.hour, self.minute)
    }
}

impl FromStr for Time {
    type Err = SpecError;

    fn from_str(text: &str) -> Result<Time, SpecError> {
        Time::parse(text)
    }
}

impl serde::Serialize for Time {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Time {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Time, D::Error> {
        let text = String::deserialize(deserializer)?;
        Time::parse(&text).map_err(serde::de::Error::custom)
    }
}

/// A day of the week; serialized as `mon` to `sun`.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Weekday {
    /// Monday.
    Mon,
    /// Tuesday.
    Tue,
    /// Wednesday.
    Wed,
    /// Thursday.
    Thu,
    /// Friday.
    Fri,
    /// Saturday.
    Sat,
    /// Sunday.
    Sun,
}

const FULL_DAY_NAMES: [&str; 7] = [
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
    "sunday",
];

impl Weekday {
    /// Monday to Sunday.
    pub const ALL: [Weekday; 7] = [
        Weekday::Mon,
        Weekday::Tue,
        Weekday::Wed,
        Weekday::Thu,
        Weekday::Fri,
        Weekday::Sat,
        Weekday::Sun,
    ];

    /// Parse `mon` or `monday`, in any case.
    pub fn parse(text: &str) -> Result<Weekday, SpecError> {
        let lower = text.trim().to_ascii_lowercase();
        let found = Weekday::ALL
            .into_iter()
            .zip(FULL_DAY_NAMES)
            .find(|(day, full)| lower == day.key() || lower == *full);
        if let Some((day, _)) = found {
            return Ok(day);
        }
        let candidates = Weekday::ALL.iter().map(|d| d.key()).chain(FULL_DAY_NAMES);
        let suggestion = did_you_mean(&lower, candidates).map(|name| &name[..3]);
        Err(SpecError::Weekday {
            text: text.trim().to_owned(),
            suggestion,
        })
    }

    /// `Mon` to `Sun`.
    pub fn abbrev(self) -> &'static str {
        ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"][self.monday_index()]
    }

    /// `mon` to `sun`.
    fn key(self) -> &'static str {
        ["mon", "tue", "wed", "thu", "fri", "sat", "sun"][self.monday_index()]
    }

    fn monday_index(self) -> usize {
        self as usize
    }

    /// Cron's numbering: Sunday 0, Monday 1, ... Saturday 6.
    fn sunday_index(self) -> u32 {
        (self as u32 + 1) % 7
    }
}

impl fmt::Display for Weekday {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.abbrev())
    }
}

/// Why a schedule could not be read. Each message names the bad part and what was
/// expected, and reads after "failed to".
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SpecError {
    /// Not a time of day.
    #[error("parse time `{text}`: {reason}; expected HH:MM in 24-hour time, e.g. `03:00`")]
    Time {
        /// What was given.
        text: String,
        /// What is wrong with it.
        reason: String,
    },
    /// Not a day of the week.
    #[error("parse weekday `{text}`: expected mon, tue, wed, thu, fri, sat or sun{}", hint(*suggestion))]
    Weekday {
        /// What was given.
        text: String,
        /// The closest day, for a likely typo.
        suggestion: Option<&'static str>,
    },
    /// Not a day of the month.
    #[error("parse day of month `{text}`: {reason}; expected 1-31 or `last`")]
    MonthDay {
        /// What was given.
        text: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A list with nothing in it.
    #[error("parse {what}: the list is empty; expected e.g. {example}")]
    Empty {
        /// What the list is of.
        what: &'static str,
        /// A valid list.
        example: &'static str,
    },
    /// A cron expression without exactly five fields.
    #[error(
        "parse cron expression `{expr}`: it has {}; expected 5: minute hour day-of-month month day-of-week, e.g. `30 3 * * 1-5`",
        crate::message::count(*count, "field", "fields")
    )]
    CronFieldCount {
        /// The expression.
        expr: String,
        /// How many fields it has.
        count: usize,
    },
    /// A cron field that does not parse.
    #[error("parse cron {field} field `{text}`: {reason}{}", hint(suggestion.as_deref()))]
    CronField {
        /// Which field: `minute`, `hour`, `day-of-month`, `month` or `day-of-week`.
        field: &'static str,
        /// The field as written.
        text: String,
        /// What is wrong with it.
        reason: String,
        /// The closest name, for a likely typo.
        suggestion: Option<String>,
    },
}

fn hint(suggestion: Option<&str>) -> String {
    suggestion.map_or_else(String::new, |s| format!("; did you mean `{s}`?"))
}

/// The closest of `candidates` to `name` if it is a likely typo: within a third of its
/// length in edits (a transposition counts as one).
fn did_you_mean<'c>(name: &str, candidates: impl IntoIterator<Item = &'c str>) -> Option<&'c str> {
    let limit = name.chars().count().div_ceil(3).max(1);
    candidates
        .into_iter()
        .map(|c| (strsim::damerau_levenshtein(name, c), c))
        .filter(|&(edits, _)| edits <= limit)
        .min_by_key(|&(edits, _)| edits)
        .map(|(_, c)| c)
}

impl Spec {
    /// `--daily 03:00`.
    pub fn parse_daily(at: &str) -> Result<Spec, SpecError> {
        Ok(Spec::Daily {
            at: Time::parse(at)?,
        })
    }

    /// `--weekly mon,thu 03:00`: a list of days or ranges (`mon-fri`; `fri-mon` wraps
    /// through the weekend).
    pub fn parse_weekly(days: &str, at: &str) -> Result<Spec, SpecError> {
        let mut mask = 0u8;
        for part in days.split(',').map(str::trim) {
            if part.is_empty() {
                continue;
            }
            if let Some((start, end)) = part.split_once('-') {
                let (start, end) = (Weekday::parse(start)?, Weekday::parse(end)?);
                let (start, end) = (start.monday_index(), end.monday_index());
                let len = (end + 7 - start) % 7 + 1;
                for offset in 0..len {
                    mask |= 1 << ((start + offset) % 7);
                }
            } else {
                mask |= 1 << Weekday::parse(part)?.monday_index();
            }
        }
        if mask == 0 {
            return Err(SpecError::Empty {
                what: "weekdays",
                example: "`mon,thu` or `mon-fri`",
            });
        }
        let days = Weekday::ALL
            .into_iter()
            .filter(|d| mask & (1 << d.monday_index()) != 0)
            .collect();
        Ok(Spec::Weekly {
            days,
            at: Time::parse(at)?,
        })
    }

    /// `--monthly 1,15 03:00`: days 1 to 31, ranges such as `1-7`, and `last`.
    pub fn parse_monthly(days: &str, at: &str) -> Result<Spec, SpecError> {
        let mut mask = 0u64;
        for part in days.split(',').map(str::trim) {
            if part.is_empty() {
                continue;
            }
            if part.eq_ignore_ascii_case("last") {
                mask |= 1;
            } else if let Some((start, end)) = part.split_once('-') {
                let (start, end) = (month_day(start)?, month_day(end)?);
                if end < start {
                    return Err(SpecError::MonthDay {
                        text: part.to_owned(),
                        reason: "the range ends before it starts".to_owned(),
                    });
                }
                mask |= (start..=end).fold(0, |m, d| m | (1 << d));
            } else {
                mask |= 1 << month_day(part)?;
            }
        }
        Ok(Spec::Monthly {
            days: month_days(mask)?,
            at: Time::parse(at)?,
        })
    }

    /// `--cron "30 3 * * 1-5"`: five fields (see the [module docs](super)).
    pub fn parse_cron(expr: &str) -> Result<Spec, SpecError> {
        let fields: Vec<&str> = expr.split_whitespace().collect();
        parse_cron_fields(expr, &fields)?;
        Ok(Spec::Cron {
            expr: fields.join(" "),
        })
    }

    /// The first firing strictly after `after`, in time zone `tz`; `None` if there is
    /// none within about nine years (a cron date that never comes, such as 30 February).
    pub fn next_after(&self, after: Timestamp, tz: &TimeZone) -> Option<Timestamp> {
        let matcher = self.matcher()?;
        let mut date = after.to_zoned(tz.clone()).date().yesterday().ok()?;
        for _ in 0..SEARCH_DAYS {
            if matcher.day_matches(date)
                && let Some(found) = matcher.first_on(date, after, tz)
            {
                return Some(found);
            }
            date = date.tomorrow().ok()?;
        }
        None
    }

    /// Human text: `daily at 03:00`, `every Mon, Thu at 03:00`, `monthly on the 1st, 15th
    /// at 03:00`, `monthly on the last day at 03:00`, ``cron `30 3 * * 1-5` ``.
    pub fn describe(&self) -> String {
        match self {
            Spec::Daily { at } => format!("daily at {at}"),
            Spec::Weekly { days, at } => {
                let days: Vec<&str> = days.iter().map(|d| d.abbrev()).collect();
                format!("every {} at {at}", days.join(", "))
            }
            Spec::Monthly { days, at } => {
                let days: Vec<String> = days.iter().map(|&d| ordinal(d)).collect();
                format!("monthly on the {} at {at}", days.join(", "))
            }
            Spec::Cron { expr } => format!("cron `{expr}`"),
        }
    }

    /// The systemd `OnCalendar=` value: `*-*-* 03:00:00`, `Mon,Thu *-*-* 03:00:00`,
    /// `*-*-01,15 03:00:00`, `*-*~01 03:00:00` for the last day. `None` when one value
    /// cannot say it: `last` together with other days, or a cron expression whose two
    /// day fields are both restricted (cron fires when either matches, systemd when both).
    pub fn on_calendar(&self) -> Option<String> {
        self.matcher()?.on_calendar()
    }

    fn matcher(&self) -> Option<Matcher> {
        let at = |at: &Time| Matcher {
            minutes: 1 << at.minute,
            hours: 1 << at.hour,
            dom: ALL_DOM,
            last_day: false,
            months: ALL_MONTHS,
            dow: ALL_DOW,
            either: false,
        };
        match self {
            Spec::Daily { at: time } => Some(at(time)),
            Spec::Weekly { days, at: time } => {
                let dow = days.iter().fold(0, |m, d| m | (1 << d.sunday_index()));
                Some(Matcher { dow, ..at(time) })
            }
            Spec::Monthly { days, at: time } => {
                let dom = days
                    .iter()
                    .filter(|&&d| (1..=31).contains(&d))
                    .fold(0, |m, &d| m | (1 << d));
                Some(Matcher {
                    dom,
                    last_day: days.contains(&0),
                    ..at(time)
                })
            }
            Spec::Cron { expr } => {
                let fields: Vec<&str> = expr.split_whitespace().collect();
                parse_cron_fields(expr, &fields).ok()
            }
        }
    }
}

impl fmt::Display for Spec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.describe())
    }
}

fn month_day(text: &str) -> Result<u8, SpecError> {
    let fail = |reason: &str| SpecError::MonthDay {
        text: text.trim().to_owned(),
        reason: reason.to_owned(),
    };
    let day: u8 = text.trim().parse().map_err(|_| fail("not a number"))?;
    if (1..=31).contains(&day) {
        Ok(day)
    } else {
        Err(fail("out of range"))
    }
}

/// Days 1 to 31 from a mask's bits 1-31, then `0` (the last day) from bit 0.
fn month_days(mask: u64) -> Result<Vec<u8>, SpecError> {
    if mask == 0 {
        return Err(SpecError::Empty {
            what: "days of the month",
            example: "`1,15` or `last`",
        });
    }
    Ok((1..=31u8)
        .chain([0])
        .filter(|&d| mask & (1 << d) != 0)
        .collect())
}

fn ordinal(day: u8) -> String {
    if day == 0 {
        return "last day".to_owned();
    }
    let suffix = match (day % 10, day % 100) {
        (_, 11..=13) => "th",
        (1, _) => "st",
        (2, _) => "nd",
        (3, _) => "rd",
        _ => "th",
    };
    format!("{day}{suffix}")
}

/// Which minutes, hours and days fire, as bit sets; every kind of [`Spec`] becomes one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Matcher {
    minutes: u64,
    hours: u64,
    /// Days of the month, bits 1-31.
    dom: u64,
    /// Also the last day of each month.
    last_day: bool,
    /// Months, bits 1-12.
    months: u64,
    /// Days of the week, Sunday = bit 0.
    dow: u64,
    /// A day fires when either day set matches (cron with both restricted), not both.
    either: bool,
}

impl Matcher {
    fn day_matches(&self, date: Date) -> bool {
        if self.months & (1 << date.month().unsigned_abs()) == 0 {
            return false;
        }
        let dom = self.dom & (1 << date.day().unsigned_abs()) != 0
            || (self.last_day && date.day() == date.days_in_month());
        let dow = self.dow & (1 << date.weekday().to_sunday_zero_offset().unsigned_abs()) != 0;
        if self.either { dom || dow } else { dom && dow }
    }

    /// The first firing on `date` strictly after `after`. Wall-clock times only grow
    /// through a day, and so do the instants they resolve to, so the first one after
    /// `after` is the answer.
    fn first_on(&self, date: Date, after: Timestamp, tz: &TimeZone) -> Option<Timestamp> {
        for hour in bits(self.hours) {
            for minute in bits(self.minutes) {
                let dt = date.at(i8::try_from(hour).ok()?, i8::try_from(minute).ok()?, 0, 0);
                if let Some(instant) = resolve(tz, dt)
                    && instant > after
                {
                    return Some(instant);
                }
            }
        }
        None
    }

    fn on_calendar(&self) -> Option<String> {
        let date = match (self.last_day, self.dom) {
            (true, 0) => format!("*-{}~01", render_set(self.months, 1, 12)),
            (true, _) => return None,
            (false, dom) => format!(
                "*-{}-{}",
                render_set(self.months, 1, 12),
                render_set(dom, 1, 31)
            ),
        };
        let days_restricted = self.dom != ALL_DOM && self.dow != ALL_DOW;
        let (date, dow) = match (self.either, days_restricted) {
            (true, true) => return None,
            // Either of two sets where one is everything: every day.
            (true, false) => (format!("*-{}-*", render_set(self.months, 1, 12)), ALL_DOW),
            (false, _) => (date, self.dow),
        };
        let time = format!(
            "{}:{}:00",
            render_set(self.hours, 0, 23),
            render_set(self.minutes, 0, 59)
        );
        if dow == ALL_DOW {
            Some(format!("{date} {time}"))
        } else {
            Some(format!("{} {date} {time}", render_weekdays(dow)))
        }
    }
}

/// The instant a wall-clock time fires: the transition for a time in a gap, the first
/// occurrence for a time in a fold.
fn resolve(tz: &TimeZone, dt: DateTime) -> Option<Timestamp> {
    match tz.to_ambiguous_timestamp(dt).offset() {
        AmbiguousOffset::Unambiguous { offset } | AmbiguousOffset::Fold { before: offset, .. } => {
            offset.to_timestamp(dt).ok()
        }
        AmbiguousOffset::Gap { before, .. } => {
            // Read with the offset before the gap, the time lands inside [transition,
            // transition + gap); the latest transition at or before it ends the gap.
            let shifted = before.to_timestamp(dt).ok()?;
            let probe = shifted.checked_add(SignedDuration::from_nanos(1)).ok()?;
            let transition = tz.preceding(probe).next().map(|t| t.timestamp());
            Some(transition.unwrap_or(shifted))
        }
    }
}

/// The set bits of `mask`, lowest first.
fn bits(mask: u64) -> impl Iterator<Item = u32> {
    (0..64).filter(move |&bit| mask & (1 << bit) != 0)
}

/// A systemd calendar component for the values `min..=max` set in `mask`: `*` for all,
/// `00/15` for a step reaching the end, else a list with runs as `01..05`.
fn render_set(mask: u64, min: u32, max: u32) -> String {
    let values: Vec<u32> = bits(mask).filter(|v| (min..=max).contains(v)).collect();
    if values.len() == (max - min + 1) as usize {
        return "*".to_owned();
    }
    if let [first, second, third, ..] = values[..] {
        let step = second - first;
        let progression =
            step > 1 && third - second == step && values.windows(2).all(|w| w[1] - w[0] == step);
        if progression && values[values.len() - 1] + step > max {
            return format!("{first:02}/{step}");
        }
    }
    runs(&values)
        .into_iter()
        .map(|(a, b)| match b - a {
            0 => format!("{a:02}"),
            1 => format!("{a:02},{b:02}"),
            _ => format!("{a:02}..{b:02}"),
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// Weekdays (Sunday = bit 0) as systemd writes them, Monday first: `Mon..Fri`, `Mon,Thu`.
fn render_weekdays(dow: u64) -> String {
    let monday_first: Vec<u32> = Weekday::ALL
        .into_iter()
        .filter(|d| dow & (1 << d.sunday_index()) != 0)
        .map(|d| d as u32)
        .collect();
    let name = |i: u32| Weekday::ALL[i as usize].abbrev();
    runs(&monday_first)
        .into_iter()
        .map(|(a, b)| match b - a {
            0 => name(a).to_owned(),
            1 => format!("{},{}", name(a), name(b)),
            _ => format!("{}..{}", name(a), name(b)),
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// Sorted values as runs of consecutive numbers, `(first, last)`.
fn runs(values: &[u32]) -> Vec<(u32, u32)> {
    let mut out: Vec<(u32, u32)> = Vec::new();
    for &v in values {
        match out.last_mut() {
            Some((_, last)) if *last + 1 == v => *last = v,
            _ => out.push((v, v)),
        }
    }
    out
}

/// One cron field: its name, range and (for months and weekdays) names.
struct Field {
    name: &'static str,
    min: u32,
    max: u32,
    names: &'static [&'static str],
}

const MONTH_NAMES: &[&str] = &[
    "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
];
const DOW_NAMES: &[&str] = &["sun", "mon", "tue", "wed", "thu", "fri", "sat"];

const FIELDS: [Field; 5] = [
    Field {
        name: "minute",
        min: 0,
        max: 59,
        names: &[],
    },
    Field {
        name: "hour",
        min: 0,
        max: 23,
        names: &[],
    },
    Field {
        name: "day-of-month",
        min: 1,
        max: 31,
        names: &[],
    },
    Field {
        name: "month",
        min: 1,
        max: 12,
        names: MONTH_NAMES,
    },
    Field {
        name: "day-of-week",
        min: 0,
        max: 7,
        names: DOW_NAMES,
    },
];

fn parse_cron_fields(expr: &str, fields: &[&str]) -> Result<Matcher, SpecError> {
    if fields.len() != 5 {
        return Err(SpecError::CronFieldCount {
            expr: expr.trim().to_owned(),
            count: fields.len(),
        });
    }
    let mut masks = [0u64; 5];
    for ((mask, field), text) in masks.iter_mut().zip(&FIELDS).zip(fields) {
        *mask = field.parse(text)?;
    }
    let [minutes, hours, dom, months, dow] = masks;
    // 7 is Sunday too.
    let dow = (dow | (dow >> 7)) & ALL_DOW;
    let restricted = |text: &str| !text.starts_with('*');
    Ok(Matcher {
        minutes,
        hours,
        dom,
        last_day: false,
        months,
        dow,
        either: restricted(fields[2]) && restricted(fields[4]),
    })
}

impl Field {
    /// The field's values as a bit set.
    fn parse(&self, text: &str) -> Result<u64, SpecError> {
        let mut mask = 0u64;
        for part in text.split(',') {
            let (start, end, step) = self.parse_part(text, part)?;
            mask |= (start..=end)
                .step_by(step as usize)
                .fold(0, |m, v| m | (1 << v));
        }
        Ok(mask)
    }

    /// One list item: `*`, `N`, `A-B`, each with an optional `/step`.
    fn parse_part(&self, text: &str, part: &str) -> Result<(u32, u32, u32), SpecError> {
        let fail = |reason: String| self.error(text, reason, None);
        let (range, step) = match part.split_once('/') {
            Some((range, step)) => {
                let step: u32 = step
                    .parse()
                    .map_err(|_| fail(format!("step `{step}` is not a number")))?;
                if step == 0 {
                    return Err(fail("a step of 0 never advances".to_owned()));
                }
                (range, Some(step))
            }
            None => (part, None),
        };
        let (start, end) = if range == "*" {
            (self.min, self.max)
        } else if let Some((a, b)) = range.split_once('-') {
            let (a, b) = (self.value(text, a)?, self.value(text, b)?);
            // `fri-sun` in day-of-week: Sunday as 7 ends the week.
            let b = if self.names == DOW_NAMES && b == 0 && a > 0 {
                7
            } else {
                b
            };
            if b < a {
                return Err(fail(format!("range `{range}` ends before it starts")));
            }
            (a, b)
        } else {
            let a = self.value(text, range)?;
            // `5/15` means from 5 to the end in steps of 15.
            (a, if step.is_some() { self.max } else { a })
        };
        Ok((start, end, step.unwrap_or(1)))
    }

    /// A number in range or (for months and weekdays) a three-letter name.
    fn value(&self, text: &str, item: &str) -> Result<u32, SpecError> {
        if item.is_empty() {
            return Err(self.error(text, "an item is empty".to_owned(), None));
        }
        if item.bytes().all(|b| b.is_ascii_digit()) {
            let value: u32 = item.parse().unwrap_or(u32::MAX);
            if !(self.min..=self.max).contains(&value) {
                let reason = format!("{item} is out of range {}-{}", self.min, self.max);
                return Err(self.error(text, reason, None));
            }
            return Ok(value);
        }
        let lower = item.to_ascii_lowercase();
        if let Some(index) = self.names.iter().position(|n| *n == lower) {
            return Ok(u32::try_from(index).unwrap_or(0) + self.min);
        }
        let suggestion = did_you_mean(&lower, self.names.iter().copied()).map(str::to_owned);
        let expected = if self.names.is_empty() {
            format!("expected a number {}-{}", self.min, self.max)
        } else {
            format!(
                "expected a number {}-{} or a name {}",
                self.min,
                self.max,
                self.names.join(", ")
            )
        };
        Err(self.error(
            text,
            format!("`{item}` is not understood; {expected}"),
            suggestion,
        ))
    }

    fn error(&self, text: &str, reason: String, suggestion: Option<String>) -> SpecError {
        SpecError::CronField {
            field: self.name,
            text: text.to_owned(),
            reason,
            suggestion,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL_MINUTES: u64 = (1 << 60) - 1;
    const ALL_HOURS: u64 = (1 << 24) - 1;

    #[test]
    fn renders_sets_for_systemd() {
        assert_eq!(render_set(ALL_MINUTES, 0, 59), "*");
        assert_eq!(render_set(1 << 3, 0, 23), "03");
        assert_eq!(render_set((1 << 1) | (1 << 15), 1, 31), "01,15");
        let quarter = (0..60).step_by(15).fold(0, |m, v| m | (1u64 << v));
        assert_eq!(render_set(quarter, 0, 59), "00/15");
        let odd_days = (1..=31).step_by(2).fold(0, |m, v| m | (1u64 << v));
        assert_eq!(render_set(odd_days, 1, 31), "01/2");
        let work_hours = (9..=17).fold(0, |m, v| m | (1u64 << v));
        assert_eq!(render_set(work_hours | 1, 0, 23), "00,09..17");
        assert_eq!(render_set(ALL_HOURS, 0, 23), "*");
        assert_eq!(render_weekdays(0b011_1110), "Mon..Fri");
        assert_eq!(render_weekdays(0b100_0001), "Sat,Sun");
        assert_eq!(render_weekdays((1 << 1) | (1 << 4)), "Mon,Thu");
    }

    #[test]
    fn cron_fields_become_sets() {
        let m = parse_cron_fields("", &["*/20", "1-5/2", "*", "jan,JUL", "5-7"]).unwrap();
        assert_eq!(m.minutes, (1 << 0) | (1 << 20) | (1 << 40));
        assert_eq!(m.hours, (1 << 1) | (1 << 3) | (1 << 5));
        assert_eq!(m.dom, ALL_DOM);
        assert_eq!(m.months, (1 << 1) | (1 << 7));
        assert_eq!(m.dow, (1 << 5) | (1 << 6) | 1);
        assert!(!m.either);
        let m = parse_cron_fields("", &["0", "0", "1", "*", "fri-sun"]).unwrap();
        assert_eq!(m.dow, (1 << 5) | (1 << 6) | 1);
        assert!(m.either);
        let m = parse_cron_fields("", &["10/25", "0", "*/2", "*", "mon"]).unwrap();
        assert_eq!(m.minutes, (1 << 10) | (1 << 35));
        assert!(
            !m.either,
            "a day-of-month starting with `*` is unrestricted"
        );
    }

    #[test]
    fn ordinals() {
        let got: Vec<String> = [1, 2, 3, 4, 11, 12, 13, 21, 22, 23, 31, 0]
            .map(ordinal)
            .into();
        let want = [
            "1st", "2nd", "3rd", "4th", "11th", "12th", "13th", "21st", "22nd", "23rd", "31st",
            "last day",
        ];
        assert_eq!(got, want);
    }

    #[test]
    fn typos_suggest_the_nearest_name() {
        assert_eq!(
            did_you_mean("jna", MONTH_NAMES.iter().copied()),
            Some("jan")
        );
        assert_eq!(did_you_mean("xyz", MONTH_NAMES.iter().copied()), None);
    }

    #[test]
    fn fixed_offsets_have_no_gaps() {
        // A fixed offset has no gaps: the time is read as is.
        let tz = TimeZone::fixed(jiff::tz::offset(2));
        let dt = jiff::civil::date(2026, 3, 29).at(2, 30, 0, 0);
        assert_eq!(
            resolve(&tz, dt).unwrap().to_string(),
            "2026-03-29T00:30:00Z"
        );
    }
}
