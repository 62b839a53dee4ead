//! Human durations such as `30s`, `10m`, `2h`, `7d` and `1w`: the one parser for the
//! manifest's `timeout`, `interval` and source timeouts, every duration flag of the
//! command line (`--since`, `--timeout`, `--grace`, `--wait-timeout`, `--jitter`) and the
//! duration settings.
//!
//! Every duration carries its unit. A bare number is refused rather than taken as
//! seconds: `--since 7` almost certainly means a week, not seven seconds, and a filter or
//! timeout that silently means something else is worse than a refusal that says
//! "did you mean `7d`?". Each caller names the unit a bare number most likely meant.

use std::fmt::Write as _;
use std::time::Duration;

/// Parse a duration written as whole numbers each followed by `ms`, `s`, `m`, `h`, `d` or
/// `w`: `1500ms`, `90s`, `1h30m`. A bare number is refused with a suggestion in seconds
/// (use [`parse_duration_or_suggest`] where another unit is the likely meaning).
///
/// # Errors
/// Returns a message fragment suitable for a diagnostic when the text is not a duration.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    parse_duration_or_suggest(text, "s")
}

/// [`parse_duration`], suggesting `unit` when a bare number is given (`7` → "did you mean
/// `7d`?" for a history window).
///
/// # Errors
/// As [`parse_duration`].
pub fn parse_duration_or_suggest(text: &str, unit: &str) -> Result<Duration, String> {
    let text = text.trim();
    if text.is_empty() {
        return Err("empty duration".to_owned());
    }
    if text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!(
            "`{text}` has no unit; did you mean `{text}{unit}`? (a duration is whole numbers each followed by ms, s, m, h, d or w)"
        ));
    }
    let mut total = Duration::ZERO;
    let mut rest = text;
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return Err(format!(
                "`{text}` is not a duration (expected e.g. `30s`, `10m`, `7d`)"
            ));
        }
        let number: u64 = rest[..digits]
            .parse()
            .map_err(|_| format!("`{text}` has a number that is too large"))?;
        rest = &rest[digits..];
        let unit_len = rest.bytes().take_while(u8::is_ascii_alphabetic).count();
        if unit_len == 0 {
            return Err(format!(
                "`{text}` is not a duration: use whole numbers each followed by a unit, e.g. `1500ms`, `90s`, `1h30m`"
            ));
        }
        let unit = &rest[..unit_len];
        rest = &rest[unit_len..];
        let part = match unit {
            "ms" => Duration::from_millis(number),
            "s" => Duration::from_secs(number),
            "m" => Duration::from_secs(number.saturating_mul(60)),
            "h" => Duration::from_secs(number.saturating_mul(3600)),
            "d" => Duration::from_secs(number.saturating_mul(86_400)),
            "w" => Duration::from_secs(number.saturating_mul(604_800)),
            _ => {
                return Err(format!(
                    "`{text}` has an unknown unit `{unit}` (use ms, s, m, h, d or w)"
                ));
            }
        };
        total = total.saturating_add(part);
    }
    Ok(total)
}

/// Write a duration exactly, in the form [`parse_duration`] reads: `0s`, `1500ms`, `90s`
/// is `1m30s`, `3600s` is `1h`. Weeks are left as days (`14d`), which reads better.
pub fn format_duration_exact(duration: Duration) -> String {
    let ms = duration.as_millis();
    if ms == 0 {
        return "0s".to_owned();
    }
    if !ms.is_multiple_of(1000) {
        return format!("{ms}ms");
    }
    let mut secs = duration.as_secs();
    let mut out = String::new();
    for (unit, size) in [("d", 86_400), ("h", 3600), ("m", 60), ("s", 1)] {
        if secs >= size {
            let _ = write!(out, "{}{unit}", secs / size);
            secs %= size;
        }
    }
    out
}

/// Render a duration compactly for tables: `850ms`, `12.3s`, `4m05s`, `2h10m`.
pub fn format_duration(duration: Duration) -> String {
    let ms = duration.as_millis();
    if ms < 1000 {
        return format!("{ms}ms");
    }
    let secs = duration.as_secs();
    if secs < 60 {
        return format!("{:.1}s", duration.as_secs_f64());
    }
    if secs < 3600 {
        return format!("{}m{:02}s", secs / 60, secs % 60);
    }
    format!("{}h{:02}m", secs / 3600, (secs % 3600) / 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_units_and_combinations() {
        assert_eq!(parse_duration("90s").unwrap(), Duration::from_secs(90));
        assert!(
            parse_duration_or_suggest("7", "d")
                .unwrap_err()
                .contains("did you mean `7d`?")
        );
        assert!(parse_duration("90").unwrap_err().contains("`90s`"));
        assert_eq!(parse_duration("250ms").unwrap(), Duration::from_millis(250));
        assert_eq!(
            parse_duration("7d").unwrap(),
            Duration::from_secs(7 * 86_400)
        );
        assert_eq!(parse_duration("1h30m").unwrap(), Duration::from_secs(5400));
        assert!(parse_duration("").is_err());
        assert!(parse_duration("10x").unwrap_err().contains("unknown unit"));
        assert!(parse_duration("m").is_err());
    }

    #[test]
    fn exact_form_reads_back() {
        for (secs, text) in [(0, "0s"), (90, "1m30s"), (3600, "1h"), (90_061, "1d1h1m1s")] {
            let d = Duration::from_secs(secs);
            assert_eq!(format_duration_exact(d), text);
            assert_eq!(parse_duration(text).unwrap(), d);
        }
        assert_eq!(format_duration_exact(Duration::from_millis(1500)), "1500ms");
    }

    #[test]
    fn formats_compactly() {
        assert_eq!(format_duration(Duration::from_millis(850)), "850ms");
        assert_eq!(format_duration(Duration::from_millis(12_340)), "12.3s");
        assert_eq!(format_duration(Duration::from_secs(245)), "4m05s");
        assert_eq!(format_duration(Duration::from_secs(7800)), "2h10m");
    }
}
