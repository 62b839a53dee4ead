//! Small rules for text shown to people: counts with the right plural, an error with its
//! causes as one sentence, "did you mean" suggestions for mistyped names, and URLs with
//! their secrets hidden.

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

/// The name among `candidates` closest to `name`, if one is a likely typo, owned (for an
/// error that carries it).
pub fn suggest<'c>(name: &str, candidates: impl IntoIterator<Item = &'c str>) -> Option<String> {
    did_you_mean(name, candidates).map(str::to_owned)
}

const HIDDEN: &str = "***";

/// `url` with its secrets replaced by `***`, for logs and error messages.
///
/// Hidden: the password of the userinfo (`https://user:***@host`), every path segment after
/// `/webhooks/<id>/` (Discord's token) and after `/services/` (Slack's), and the values of
/// query parameters named `token`, `key`, `secret`, `password`, ending in `_token`, `_key`
/// or `_secret`, or starting with `sig` (`sig`, `signature`, ...). Text that is not a URL
/// comes back unchanged.
pub fn redact(url: &str) -> String {
    let (before_fragment, fragment) = match url.split_once('#') {
        Some((head, fragment)) => (head, Some(fragment)),
        None => (url, None),
    };
    let (before_query, query) = match before_fragment.split_once('?') {
        Some((head, query)) => (head, Some(query)),
        None => (before_fragment, None),
    };
    let (scheme, rest) = match before_query.split_once("://") {
        Some((scheme, rest)) => (Some(scheme), rest),
        None => (None, before_query),
    };
    let (authority, path) = match (scheme, rest.find('/')) {
        (Some(_), Some(slash)) => rest.split_at(slash),
        (Some(_), None) => (rest, ""),
        (None, _) => ("", rest),
    };
    let mut out = String::with_capacity(url.len());
    if let Some(scheme) = scheme {
        out.push_str(scheme);
        out.push_str("://");
        out.push_str(&redact_authority(authority));
    }
    out.push_str(&redact_path(path));
    if let Some(query) = query {
        out.push('?');
        out.push_str(&redact_query(query));
    }
    if let Some(fragment) = fragment {
        out.push('#');
        out.push_str(fragment);
    }
    out
}

fn redact_authority(authority: &str) -> String {
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _password)) => format!("{user}:{HIDDEN}@{host}"),
            None => authority.to_owned(),
        },
        None => authority.to_owned(),
    }
}

fn redact_path(path: &str) -> String {
    let mut hide_after: Option<usize> = None;
    let segments: Vec<&str> = path.split('/').collect();
    for (index, segment) in segments.iter().enumerate() {
        if hide_after.is_some() {
            break;
        }
        match *segment {
            // Discord: /api/webhooks/<id>/<token>; the id is not secret.
            "webhooks" => hide_after = Some(index + 1),
            // Slack: /services/T.../B.../<token>; hide it all.
            "services" => hide_after = Some(index),
            _ => {}
        }
    }
    let Some(last_kept) = hide_after else {
        return path.to_owned();
    };
    segments
        .iter()
        .enumerate()
        .map(|(index, segment)| {
            if index > last_kept && !segment.is_empty() {
                HIDDEN
            } else {
                segment
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

fn redact_query(query: &str) -> String {
    query
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((name, value)) if secret_name(name) && !value.is_empty() => {
                format!("{name}={HIDDEN}")
            }
            _ => pair.to_owned(),
        })
        .collect::<Vec<_>>()
        .join("&")
}

fn secret_name(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    matches!(
        name.as_str(),
        "token" | "key" | "secret" | "password" | "apikey"
    ) || name.starts_with("sig")
        || ["_token", "_key", "_secret", "-token", "-key"]
            .iter()
            .any(|suffix| name.ends_with(suffix))
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
