//! Small text helpers shared by every layer: "did you mean" suggestions for misspelt names,
//! and [`redact`], which keeps secrets in URLs out of logs, messages and the ledger. They
//! sit below everything else so that the manifest, placeholders, settings and notifications
//! can all use them without importing one another.

mod redact;

pub use redact::redact;

/// The closest of `candidates` to `name`, if one is close enough to be a likely typo:
/// within a few edits (transpositions count as one), or very similar by Jaro-Winkler.
pub fn did_you_mean<'c>(
    name: &str,
    candidates: impl IntoIterator<Item = &'c str>,
) -> Option<&'c str> {
    let limit = name.chars().count().div_ceil(3).max(1);
    let mut best: Option<(usize, f64, &str)> = None;
    for candidate in candidates {
        let edits = strsim::damerau_levenshtein(name, candidate);
        let similarity = strsim::jaro_winkler(name, candidate);
        if edits > limit && similarity <= 0.85 {
            continue;
        }
        let better = best.is_none_or(|(e, s, _)| edits < e || (edits == e && similarity > s));
        if better {
            best = Some((edits, similarity, candidate));
        }
    }
    best.map(|(_, _, candidate)| candidate)
}

/// The name among `candidates` closest to `name`, if one is a likely typo, as an owned
/// string for error values.
pub fn suggest<'c>(name: &str, candidates: impl IntoIterator<Item = &'c str>) -> Option<String> {
    did_you_mean(name, candidates).map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_close_names_only() {
        assert_eq!(did_you_mean("gogz", ["gogs", "atuin"]), Some("gogs"));
        assert_eq!(did_you_mean("zzz", ["gogs", "atuin"]), None);
        assert_eq!(did_you_mean("wbe", ["web", "db"]), Some("web"));
        assert_eq!(
            did_you_mean("dependson", ["dependsOn", "description"]),
            Some("dependsOn")
        );
    }
}
