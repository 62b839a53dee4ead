//! A [`Spec`] for people (`every Mon, Thu at 03:00`) and for systemd (`OnCalendar=`).

use super::next::bits;
use super::{ALL_DOM, ALL_DOW, Matcher, Spec, Weekday};

impl Spec {
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

impl Matcher {
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
}
