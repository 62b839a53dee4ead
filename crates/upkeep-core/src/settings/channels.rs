//! Notification channels in the settings file, one table each:
//!
//! ```toml
//! [channels.ops]
//! kind = "webhook"                      # webhook, discord, slack or command
//! url = "https://hooks.example.com/upkeep"
//! secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"   # webhook only: signs each request
//!
//! [channels.pager]
//! kind = "command"
//! argv = ["/usr/local/bin/page-oncall", "--quiet"]
//! ```
//!
//! Every table is checked when the file is read: a missing or unknown kind, a key the kind
//! does not take (with "did you mean"), a URL that is not http(s), an empty command. Errors
//! name the file, the line and the key, and never quote a URL or a secret.

use std::collections::BTreeMap;
use std::path::Path;

use super::SettingsError;
use crate::notify::Channel;

const KINDS: &[&str] = &["webhook", "discord", "slack", "command"];

/// The keys a channel of `kind` takes.
fn keys_of(kind: &str) -> &'static [&'static str] {
    match kind {
        "webhook" => &["kind", "url", "secret"],
        "command" => &["kind", "argv"],
        _ => &["kind", "url"],
    }
}

/// Where in the file something is, for messages.
struct At<'a> {
    path: &'a Path,
    source: &'a str,
}

impl At<'_> {
    fn error(
        &self,
        span: Option<std::ops::Range<usize>>,
        key: &str,
        reason: String,
    ) -> SettingsError {
        let line = span.map_or(0, |span| {
            self.source[..span.start.min(self.source.len())]
                .matches('\n')
                .count()
                + 1
        });
        SettingsError::Channel {
            path: self.path.to_path_buf(),
            line,
            key: key.to_owned(),
            reason,
        }
    }
}

/// Whether `name` may name a channel: letters, digits, `-` and `_`.
pub(super) fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Read the `channels` item of a document parsed (with spans) from `source`.
///
/// # Errors
/// [`SettingsError::Channel`] for the first thing wrong.
pub(super) fn read(
    path: &Path,
    source: &str,
    item: &toml_edit::Item,
    key_span: Option<std::ops::Range<usize>>,
) -> Result<BTreeMap<String, Channel>, SettingsError> {
    let at = At { path, source };
    let Some(table) = item.as_table_like() else {
        let reason = "must be tables: `[channels.NAME]` with `kind = ...`".to_owned();
        return Err(at.error(key_span, "channels", reason));
    };
    let mut channels = BTreeMap::new();
    for (name, item) in table.iter() {
        let span = table.get_key_value(name).and_then(|(key, _)| key.span());
        let key = format!("channels.{name}");
        if !valid_name(name) {
            let reason = "is not a channel name: use letters, digits, `-` and `_`".to_owned();
            return Err(at.error(span, &key, reason));
        }
        let Some(fields) = item.as_table_like() else {
            let reason = "must be a table with `kind = ...`".to_owned();
            return Err(at.error(span, &key, reason));
        };
        channels.insert(name.to_owned(), channel(&at, &key, span, fields)?);
    }
    Ok(channels)
}

/// One channel's table, for reading its keys with their locations.
struct Table<'a> {
    at: &'a At<'a>,
    key: &'a str,
    span: Option<std::ops::Range<usize>>,
    fields: &'a dyn toml_edit::TableLike,
}

impl Table<'_> {
    /// Where `name` is, or the table itself when it is missing.
    fn span_of(&self, name: &str) -> Option<std::ops::Range<usize>> {
        self.fields
            .get_key_value(name)
            .and_then(|(key, _)| key.span())
            .or_else(|| self.span.clone())
    }

    /// An error about key `name` (the table itself when `None`).
    fn error(&self, name: Option<&str>, reason: String) -> SettingsError {
        match name {
            Some(name) => {
                let key = format!("{}.{name}", self.key);
                self.at.error(self.span_of(name), &key, reason)
            }
            None => self.at.error(self.span.clone(), self.key, reason),
        }
    }

    fn text(&self, name: &str) -> Result<Option<String>, SettingsError> {
        match self.fields.get(name) {
            None => Ok(None),
            Some(item) => item
                .as_str()
                .map(|s| Some(s.to_owned()))
                .ok_or_else(|| self.error(Some(name), "must be a string".to_owned())),
        }
    }

    /// The channel's kind, checked, and every key checked against it.
    fn kind(&self) -> Result<String, SettingsError> {
        let Some(kind) = self.text("kind")? else {
            let reason = format!("needs `kind = ...`: one of {}", KINDS.join(", "));
            return Err(self.error(None, reason));
        };
        if !KINDS.contains(&kind.as_str()) {
            let hint = did_you_mean(&kind, KINDS);
            let reason = format!("is `{kind}`, not one of {}{hint}", KINDS.join(", "));
            return Err(self.error(Some("kind"), reason));
        }
        let allowed = keys_of(&kind);
        if let Some((name, _)) = self.fields.iter().find(|(n, _)| !allowed.contains(n)) {
            let hint = did_you_mean(name, allowed);
            let reason = format!("is not a setting of a {kind} channel{hint}");
            return Err(self.error(Some(name), reason));
        }
        Ok(kind)
    }
}

fn did_you_mean(name: &str, candidates: &[&str]) -> String {
    crate::text::suggest(name, candidates.iter().copied())
        .map_or_else(String::new, |s| format!("; did you mean `{s}`?"))
}

fn channel(
    at: &At<'_>,
    key: &str,
    span: Option<std::ops::Range<usize>>,
    fields: &dyn toml_edit::TableLike,
) -> Result<Channel, SettingsError> {
    let table = Table {
        at,
        key,
        span,
        fields,
    };
    let kind = table.kind()?;
    if kind == "command" {
        return Ok(Channel::Command {
            argv: argv(&table)?,
        });
    }
    let Some(url) = table.text("url")? else {
        return Err(table.error(None, format!("needs `url = ...` (a {kind} channel)")));
    };
    if !(url.starts_with("https://") || url.starts_with("http://")) {
        // The value itself is not shown: it may hold a token.
        let reason = "must start with https:// or http://".to_owned();
        return Err(table.error(Some("url"), reason));
    }
    Ok(match kind.as_str() {
        "webhook" => {
            let secret = table.text("secret")?;
            if secret.as_deref() == Some("") {
                let reason = "is empty; remove it to send unsigned requests".to_owned();
                return Err(table.error(Some("secret"), reason));
            }
            Channel::Webhook { url, secret }
        }
        "discord" => Channel::Discord { url },
        _ => Channel::Slack { url },
    })
}

fn argv(table: &Table<'_>) -> Result<Vec<String>, SettingsError> {
    let reason = || "must be a non-empty list of strings: the program and its arguments".to_owned();
    let items = table
        .fields
        .get("argv")
        .and_then(toml_edit::Item::as_array)
        .ok_or_else(|| table.error(Some("argv"), reason()))?;
    let argv: Option<Vec<String>> = items
        .iter()
        .map(|v| v.as_str().map(str::to_owned))
        .collect();
    match argv {
        Some(argv) if argv.first().is_some_and(|p| !p.is_empty()) => Ok(argv),
        _ => Err(table.error(Some("argv"), reason())),
    }
}
