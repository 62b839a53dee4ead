//! The schedule specification: parsing, the next firing, description and the systemd
//! `OnCalendar=` rendering. The wall-clock rules are in the [module docs](super).
//!
//! [`Spec`] and its stored form are here, with the bit-set `Matcher` every kind of spec
//! becomes; `parse` reads specs, times and weekdays, `cron` reads cron fields, `next`
//! finds the next firing in a time zone and `calendar` describes a spec and renders its
//! `OnCalendar=` value.

mod calendar;
mod cron;
mod next;
mod parse;

use std::fmt;

use parse::month_days;

pub use parse::{SpecError, Time, Weekday};

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

impl fmt::Display for Spec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.describe())
    }
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
