//! Text helpers for messages: counted nouns ("1 attempt", "2 attempts", never
//! "1 attempt(s)") and an error with its causes flattened onto one line, for the places
//! that keep an error as text (outcome details, ledger rows, JSON fields).

use std::error::Error;

/// `n` followed by `one` when `n` is 1 and by `many` otherwise: `count(1, "path", "paths")`
/// is "1 path", `count(0, "path", "paths")` is "0 paths".
#[must_use]
pub fn count(n: impl std::fmt::Display, one: &str, many: &str) -> String {
    // Any integer type is counted; comparing the digits spares a cast per caller.
    let n = n.to_string();
    let noun = if n == "1" { one } else { many };
    format!("{n} {noun}")
}

/// "failed to ACTION: CAUSE: CAUSE" on one line. Every error message in upkeep names the
/// action that failed and keeps its cause as its `source` (the rule is written at the top of
/// the binary's `error.rs`); where the error becomes a line of text rather than a report,
/// this keeps the causes the report would print as `caused by:` lines.
#[must_use]
pub fn failed_to(err: &(dyn Error + 'static)) -> String {
    let mut text = format!("failed to {err}");
    for cause in causes(err) {
        text.push_str(": ");
        text.push_str(&cause);
    }
    text
}

/// The texts of `err`'s causes, outermost first, each without what the text above it
/// already says: a cause shown whole in the message above is left out, and an `fs_err`
/// error that names the same path as the message above is cut to the operating system's
/// words ("Is a directory (os error 21)" rather than "failed to read from file `/x`: Is a
/// directory (os error 21)" under "read the settings file /x").
#[must_use]
pub fn causes(err: &(dyn Error + 'static)) -> Vec<String> {
    let mut above = err.to_string();
    let mut out = Vec::new();
    let mut source = err.source();
    while let Some(cause) = source {
        let whole = cause.to_string();
        let text = without_restated_path(&above, &whole);
        if !above.ends_with(text) {
            out.push(text.to_owned());
        }
        above = whole;
        source = cause.source();
    }
    out
}

/// `fs_err` wraps each I/O error as "failed to <its action> `<path>`: <the OS error>" (its
/// source is hidden); when `above` names the path already, only the OS error is news.
fn without_restated_path<'a>(above: &str, cause: &'a str) -> &'a str {
    let Some(rest) = cause.strip_prefix("failed to ") else {
        return cause;
    };
    let Some((_, quoted)) = rest.split_once('`') else {
        return cause;
    };
    match quoted.split_once("`: ") {
        Some((path, os_error)) if !path.is_empty() && above.contains(path) => os_error,
        _ => cause,
    }
}

#[cfg(test)]
mod tests {
    use super::{count, failed_to};

    #[test]
    fn one_is_singular_and_every_other_number_plural() {
        assert_eq!(count(0_u32, "attempt", "attempts"), "0 attempts");
        assert_eq!(count(1_u32, "attempt", "attempts"), "1 attempt");
        assert_eq!(count(2_usize, "attempt", "attempts"), "2 attempts");
    }

    #[derive(Debug, thiserror::Error)]
    #[error("read {path}")]
    struct Read {
        path: &'static str,
        #[source]
        source: std::io::Error,
    }

    #[test]
    fn the_action_comes_first_and_each_cause_follows_it() {
        let err = Read {
            path: "/x",
            source: std::io::Error::other("disk on fire"),
        };
        assert_eq!(failed_to(&err), "failed to read /x: disk on fire");
    }

    #[test]
    fn an_fs_err_cause_naming_the_same_path_is_cut_to_the_os_error() {
        let dir = tempfile::tempdir().unwrap();
        let source = fs_err::read(dir.path()).unwrap_err();
        assert!(source.to_string().starts_with("failed to "), "{source}");
        let path = dir.path().display().to_string();
        let err = Read {
            path: Box::leak(path.clone().into_boxed_str()),
            source,
        };
        let text = failed_to(&err);
        assert_eq!(text.matches(&path).count(), 1, "{text}");
        assert!(text.ends_with("(os error 21)"), "{text}");
        // Under a message that does not name the path, the cause keeps it.
        let other = Read {
            path: "elsewhere",
            source: fs_err::read(dir.path()).unwrap_err(),
        };
        assert!(failed_to(&other).contains(&path));
    }
}
