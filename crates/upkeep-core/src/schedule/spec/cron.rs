//! Cron's five fields, each read into a bit set of the values it fires on.

use super::parse::SpecError;
use super::{ALL_DOW, Matcher};
use crate::text::did_you_mean;

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

pub(super) fn parse_cron_fields(expr: &str, fields: &[&str]) -> Result<Matcher, SpecError> {
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
    use super::super::ALL_DOM;
    use super::*;

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
    fn typos_suggest_the_nearest_name() {
        assert_eq!(
            did_you_mean("jna", MONTH_NAMES.iter().copied()),
            Some("jan")
        );
        assert_eq!(did_you_mean("xyz", MONTH_NAMES.iter().copied()), None);
    }
}
