//! Small rules for text shown to people: counts with the right plural, and an error with
//! its causes as one sentence.

/// `n` with the noun in the right number: `1 path`, `2 paths`, `0 paths`.
pub fn count(n: usize, one: &str, many: &str) -> String {
    if n == 1 {
        format!("{n} {one}")
    } else {
        format!("{n} {many}")
    }
}

/// `error` and its causes as one line, `action: cause: cause`, skipping a cause whose
/// text the line already ends with (a wrapper that repeats its source).
pub fn sentence(error: &dyn std::error::Error) -> String {
    let mut line = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !line.ends_with(&text) {
            line.push_str(": ");
            line.push_str(&text);
        }
        source = cause.source();
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_agree_with_their_noun() {
        assert_eq!(count(0, "path", "paths"), "0 paths");
        assert_eq!(count(1, "attempt", "attempts"), "1 attempt");
        assert_eq!(count(3, "attempt", "attempts"), "3 attempts");
    }

    #[test]
    fn a_sentence_joins_causes_once() {
        #[derive(Debug, thiserror::Error)]
        #[error("write the archive")]
        struct Outer(#[source] std::io::Error);
        let outer = Outer(std::io::Error::other("disk full"));
        assert_eq!(sentence(&outer), "write the archive: disk full");
        let repeated = std::io::Error::other(std::io::Error::other("disk full"));
        assert_eq!(sentence(&repeated), "disk full");
    }
}
