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

/// Whether `name` is, beyond being close enough to suggest `candidate`, almost certainly
/// a slip for it: one edit apart ignoring case (a transposition, a missing, extra or
/// wrong letter: `childern`, `dependson`, `entrypiont`), or two for a name of ten letters
/// or more. "Did you mean" may suggest more than that; this is for refusing input that
/// could as well be a name of the user's own (`comment` is close to `command`, `note` to
/// `name`, and people keep such keys).
pub fn is_slip(name: &str, candidate: &str) -> bool {
    let edits = strsim::damerau_levenshtein(&name.to_lowercase(), &candidate.to_lowercase());
    edits <= 1 || (edits == 2 && candidate.chars().count() >= 10)
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

    #[test]
    fn slips_are_one_edit_or_two_in_a_long_name() {
        for (slip, meant) in [
            ("childern", "children"),
            ("dependson", "dependsOn"),
            ("entrypiont", "entrypoint"),
            ("versions", "version"),
            ("lastSafeVerison", "lastSafeVersion"),
            ("lastsafeversoin", "lastSafeVersion"),
        ] {
            assert!(is_slip(slip, meant), "{slip}");
        }
        for (own, known) in [
            ("comment", "command"),
            ("note", "name"),
            ("tags", "args"),
            ("desc", "description"),
        ] {
            assert!(!is_slip(own, known), "{own}");
        }
    }
}
