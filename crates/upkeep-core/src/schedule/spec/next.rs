//! The next firing of a [`Spec`] after an instant, in a time zone: which days match,
//! and how a wall-clock time in a DST gap or fold becomes an instant.

use jiff::civil::{Date, DateTime};
use jiff::tz::{AmbiguousOffset, TimeZone};
use jiff::{SignedDuration, Timestamp};

use super::cron::parse_cron_fields;
use super::{ALL_DOM, ALL_DOW, ALL_MONTHS, Matcher, Spec, Time};

/// How many days ahead [`Spec::next_after`] looks before giving up: a little over nine
/// years, so that 29 February is found even across 2100, which is not a leap year.
const SEARCH_DAYS: u32 = 366 * 9;

impl Spec {
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

    /// The firings within `from..until` that systemd's `OnCalendar=` value for this spec
    /// (see [`Spec::on_calendar`]) would miss: on a day whose clocks go forward over a
    /// scheduled wall time, upkeep fires at the transition and systemd skips the day. A
    /// transition whose end is itself a scheduled time is not one of them (both fire then).
    /// `schedule install` writes these as one-off entries next to the calendar value.
    pub fn gap_firings(&self, from: Timestamp, until: Timestamp, tz: &TimeZone) -> Vec<Timestamp> {
        let Some(matcher) = self.matcher() else {
            return Vec::new();
        };
        let mut found = Vec::new();
        for transition in tz.following(from) {
            let at = transition.timestamp();
            if at >= until {
                break;
            }
            let Ok(just_before) = at.checked_sub(SignedDuration::from_nanos(1)) else {
                continue;
            };
            let before = tz.to_offset(just_before);
            if transition.offset() <= before {
                continue;
            }
            // The wall times that do not exist: from the transition read with the offset
            // before it, up to the same instant read with the offset after it.
            let start = at.to_zoned(TimeZone::fixed(before)).datetime();
            let end = at.to_zoned(tz.clone()).datetime();
            if matcher.fires_at(end) {
                continue;
            }
            let mut wall = start;
            while wall < end {
                if matcher.fires_at(wall) {
                    found.push(at);
                    break;
                }
                let Ok(next) = wall.checked_add(SignedDuration::from_mins(1)) else {
                    break;
                };
                wall = next;
            }
        }
        found
    }

    pub(super) fn matcher(&self) -> Option<Matcher> {
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

    /// Whether the wall-clock time `wall` is one of the scheduled times.
    fn fires_at(&self, wall: DateTime) -> bool {
        wall.second() == 0
            && wall.subsec_nanosecond() == 0
            && self.day_matches(wall.date())
            && self.hours & (1 << wall.hour().unsigned_abs()) != 0
            && self.minutes & (1 << wall.minute().unsigned_abs()) != 0
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
pub(super) fn bits(mask: u64) -> impl Iterator<Item = u32> {
    (0..64).filter(move |&bit| mask & (1 << bit) != 0)
}

#[cfg(test)]
mod tests {
    use super::*;

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
