//! Keeping secrets in URLs out of logs.

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
