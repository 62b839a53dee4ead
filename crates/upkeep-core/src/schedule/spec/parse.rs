//! Reading a schedule: times of day, weekdays, days of the month and the `--daily`,
//! `--weekly`, `--monthly` and `--cron` forms, with errors that name the bad part.

use std::fmt;
use std::str::FromStr;

use super::Spec;
use super::cron::parse_cron_fields;
use crate::text::did_you_mean;

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
    pub(super) fn sunday_index(self) -> u32 {
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

    /// `--cron "30 3 * * 1-5"`: five fields (see the [module docs](crate::schedule)).
    pub fn parse_cron(expr: &str) -> Result<Spec, SpecError> {
        let fields: Vec<&str> = expr.split_whitespace().collect();
        parse_cron_fields(expr, &fields)?;
        Ok(Spec::Cron {
            expr: fields.join(" "),
        })
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
pub(super) fn month_days(mask: u64) -> Result<Vec<u8>, SpecError> {
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
