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
    let mut source = err.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        // An error that wraps another transparently shows the same text twice.
        if !text.ends_with(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
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
}
