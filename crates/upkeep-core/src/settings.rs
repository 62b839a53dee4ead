//! Settings: the seed Update Manager's categories (`update`, `backup`, `notification`,
//! `schedule`, `safety`, `logging`) with its defaults, typed and validated, stored in a TOML
//! file that [`Settings::set`] and [`Settings::reset`] edit in place, keeping comments and
//! layout (`toml_edit`).
//!
//! The file holds only what differs from the defaults, one table per category:
//!
//! ```toml
//! [backup]
//! max_backups = 15        # keep at most 15
//! ```
//!
//! Notification channels are tables of their own, `[channels.NAME]`, edited in the file
//! (see `settings/channels.rs`); `notification.channels` picks which of them receive events.
//!
//! A file that cannot be parsed, an unknown category or name (with "did you mean") or a
//! value of the wrong type or out of its range fails the load with the file, line and key:
//! settings never fall back to defaults silently. A missing file means every default. A
//! setting of the seed's that upkeep does not have (`definitions::REMOVED`) is the one
//! exception: it is ignored with a warning ([`Settings::warnings`]), so that a file
//! written for the seed or an older upkeep still loads.
//!
//! `set` checks a value as the file's reader does, against the setting's type and range
//! (a choice lists its names, a number its range, both with "did you mean" where one is
//! close), before anything is written. `reset` removes only the key's own line, keeping
//! the comments above it and every other byte of the file.

mod channels;
mod definitions;
mod discord;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub use definitions::{DEFINITIONS, Definition, Kind, LOG_LEVELS, REMOVED, Removed};
pub use discord::Discord;

use crate::notify::{Channel, EventKind, Routing};

/// A setting's value.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(untagged)]
pub enum Value {
    /// A boolean.
    Bool(bool),
    /// An integer.
    Int(i64),
    /// Text.
    Text(String),
    /// A list of strings.
    List(Vec<String>),
}

impl std::fmt::Display for Value {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Value::Bool(b) => write!(f, "{b}"),
            Value::Int(n) => write!(f, "{n}"),
            Value::Text(s) => write!(f, "{s}"),
            Value::List(items) => write!(f, "[{}]", items.join(", ")),
        }
    }
}

/// Why settings could not be read, changed or written.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    /// The file could not be read or written.
    #[error("{action} {path}")]
    Io {
        /// What was being done.
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// The file is not valid TOML.
    #[error("parse {path}: {message}")]
    Syntax {
        /// The file.
        path: PathBuf,
        /// What the parser said (with line and column).
        message: String,
    },
    /// No such setting.
    #[error("find setting `{key}`: {}", suggestion.as_ref().map_or_else(|| "no setting has that name".to_owned(), |s| format!("did you mean `{s}`?")))]
    Unknown {
        /// What was asked for.
        key: String,
        /// The closest known key (the message offers it: the engine shows it outside the
        /// binary too).
        suggestion: Option<String>,
    },
    /// A value of the wrong type or out of range.
    #[error("set `{key}`{}: {reason}", line.map_or(String::new(), |l| format!(" (line {l})")))]
    Invalid {
        /// The setting.
        key: String,
        /// Line in the file, when the value came from it.
        line: Option<usize>,
        /// What is wrong.
        reason: String,
    },
    /// A setting upkeep no longer has (the seed's, never acted on).
    #[error("set `{key}`: upkeep has no such setting; {why}")]
    Removed {
        /// The setting.
        key: String,
        /// Why, and what does its job.
        why: &'static str,
    },
    /// A notification channel's table is wrong.
    #[error("read {}:{line}: `{key}` {reason}", path.display())]
    Channel {
        /// The file.
        path: PathBuf,
        /// The line (0 when unknown).
        line: usize,
        /// What is wrong, e.g. `channels.ops.url`.
        key: String,
        /// Why (never quoting a URL or secret).
        reason: String,
    },
}

/// Settings as read from a file (or the defaults).
#[derive(Debug, Clone)]
pub struct Settings {
    path: PathBuf,
    doc: toml_edit::DocumentMut,
    values: BTreeMap<String, Value>,
    channels: BTreeMap<String, Channel>,
    warnings: Vec<String>,
}

/// Where settings live when not told: `/etc/upkeep/settings.toml` for root, else the
/// user's config directory (`~/.config/upkeep/settings.toml`).
pub fn default_path() -> PathBuf {
    if nix::unistd::geteuid().is_root() {
        return PathBuf::from("/etc/upkeep/settings.toml");
    }
    dirs::config_dir()
        .unwrap_or_else(std::env::temp_dir)
        .join("upkeep")
        .join("settings.toml")
}

fn definition(key: &str) -> Result<&'static Definition, SettingsError> {
    if let Some(removed) = REMOVED.iter().find(|r| r.key == key) {
        return Err(SettingsError::Removed {
            key: key.to_owned(),
            why: removed.why,
        });
    }
    DEFINITIONS.iter().find(|d| d.key() == key).ok_or_else(|| {
        let keys: Vec<String> = DEFINITIONS.iter().map(Definition::key).collect();
        SettingsError::Unknown {
            key: key.to_owned(),
            suggestion: crate::text::suggest(key, keys.iter().map(String::as_str)),
        }
    })
}

fn default_value(def: &Definition) -> Value {
    let item: toml_edit::Value = def.default.parse().expect("defaults are valid TOML");
    convert(def, &item).expect("defaults have their setting's type")
}

/// A TOML value as the setting's type.
fn convert(def: &Definition, value: &toml_edit::Value) -> Result<Value, String> {
    match (def.kind, value) {
        (Kind::Bool, toml_edit::Value::Boolean(b)) => Ok(Value::Bool(*b.value())),
        (Kind::On, toml_edit::Value::Boolean(b)) if *b.value() => Ok(Value::Bool(true)),
        (Kind::On, toml_edit::Value::Boolean(_)) => Err(ALWAYS_ON.to_owned()),
        (Kind::Int { min, max }, toml_edit::Value::Integer(n)) => {
            let n = *n.value();
            if (min..=max).contains(&n) {
                Ok(Value::Int(n))
            } else {
                Err(format!("`{n}` is out of range: from {min} to {max}"))
            }
        }
        (Kind::Duration { min, max }, toml_edit::Value::Integer(n)) => {
            // The seed wrote durations as integer seconds (`update_check_interval = 3600`).
            let secs = u64::try_from(*n.value()).map_err(|_| format!("`{n}` is negative"))?;
            duration_in(std::time::Duration::from_secs(secs), min, max)
        }
        (Kind::Duration { min, max }, toml_edit::Value::String(s)) => {
            duration_in(crate::duration::parse_duration(s.value())?, min, max)
        }
        (Kind::Choice(names), toml_edit::Value::String(s)) => choice(names, s.value()),
        (Kind::List, toml_edit::Value::Array(items)) => strings(items).map(Value::List),
        (Kind::Ids, toml_edit::Value::Array(items)) => {
            let ids = strings(items)?;
            match ids.iter().find(|id| !is_id(id)) {
                Some(bad) => Err(format!("`{bad}` is not a Discord id (digits only)")),
                None => Ok(Value::List(ids)),
            }
        }
        (Kind::Hex { .. } | Kind::Id | Kind::Url | Kind::Secret, toml_edit::Value::String(s)) => {
            checked_text(def.kind, s.value())
        }
        (kind, other) => Err(format!(
            "expected {}, found {}",
            kind_name(kind),
            other.type_name()
        )),
    }
}

/// `value` as a setting of `def` may be shown: a [`Kind::Secret`] says only whether it is
/// set.
pub fn shown(def: &Definition, value: &Value) -> Value {
    match (def.kind, value) {
        (Kind::Secret, Value::Text(text)) if !text.is_empty() => Value::Text("(set)".to_owned()),
        _ => value.clone(),
    }
}

/// A text setting's value, checked by its kind: hex digits of a key, a Discord id, a
/// URL, or a secret (any text).
fn checked_text(kind: Kind, text: &str) -> Result<Value, String> {
    match kind {
        Kind::Hex { bytes } => {
            let hex = text.len() == bytes * 2 && text.bytes().all(|b| b.is_ascii_hexdigit());
            if text.is_empty() || hex {
                Ok(Value::Text(text.to_ascii_lowercase()))
            } else {
                Err(format!(
                    "expected {} hex digits (or \"\" for none)",
                    bytes * 2
                ))
            }
        }
        Kind::Id if !text.is_empty() && !is_id(text) => {
            Err("expected a Discord id (digits only, or \"\" for none)".to_owned())
        }
        Kind::Url => {
            let text = text.trim_end_matches('/');
            if text.starts_with("https://") || text.starts_with("http://") {
                Ok(Value::Text(text.to_owned()))
            } else {
                Err("expected an http:// or https:// URL".to_owned())
            }
        }
        _ => Ok(Value::Text(text.to_owned())),
    }
}

/// The strings of a TOML array, or why it is not one of strings.
fn strings(items: &toml_edit::Array) -> Result<Vec<String>, String> {
    items
        .iter()
        .map(|i| {
            i.as_str()
                .map(str::to_owned)
                .ok_or("list items are strings".to_owned())
        })
        .collect()
}

/// Whether `text` reads as a Discord id: a snowflake, up to 20 decimal digits.
fn is_id(text: &str) -> bool {
    (1..=20).contains(&text.len()) && text.bytes().all(|b| b.is_ascii_digit())
}

/// Why `false` is refused for a [`Kind::On`] setting.
const ALWAYS_ON: &str = "it is always on: upkeep never updates a module that owns paths without a backup it has re-read and verified";

fn kind_name(kind: Kind) -> String {
    match kind {
        Kind::Bool => "true or false".to_owned(),
        Kind::On => "true".to_owned(),
        Kind::Int { min, max } => format!("an integer from {min} to {max}"),
        Kind::Duration { .. } => "a duration with its unit, e.g. \"30m\"".to_owned(),
        Kind::Choice(names) => format!("one of {}", names.join(", ")),
        Kind::List => "a list of strings".to_owned(),
        Kind::Hex { bytes } => format!("{} hex digits", bytes * 2),
        Kind::Id => "a Discord id".to_owned(),
        Kind::Ids => "a list of Discord ids".to_owned(),
        Kind::Url => "an http:// or https:// URL".to_owned(),
        Kind::Secret => "text".to_owned(),
    }
}

/// A duration setting's value, if it lies within `min..=max` seconds.
fn duration_in(duration: std::time::Duration, min: u64, max: u64) -> Result<Value, String> {
    let exact = crate::duration::format_duration_exact;
    let secs = |n| std::time::Duration::from_secs(n);
    if (secs(min)..=secs(max)).contains(&duration) {
        Ok(Value::Text(exact(duration)))
    } else {
        Err(format!(
            "`{}` is out of range: from {} to {}",
            exact(duration),
            exact(secs(min)),
            exact(secs(max))
        ))
    }
}

/// One of `names`, whatever its case, as the name is listed.
fn choice(names: &'static [&'static str], text: &str) -> Result<Value, String> {
    if let Some(name) = names.iter().find(|n| n.eq_ignore_ascii_case(text)) {
        return Ok(Value::Text((*name).to_owned()));
    }
    let closest = crate::text::did_you_mean(&text.to_ascii_lowercase(), names.iter().copied())
        .map(|name| format!("; did you mean `{name}`?"))
        .unwrap_or_default();
    Err(format!(
        "`{text}` is not one of {}{closest}",
        names.join(", ")
    ))
}

/// The TOML value of `text` as a person types it for `def`, before its range is checked.
fn from_text(def: &Definition, text: &str) -> Result<toml_edit::Value, String> {
    let trimmed = text.trim();
    let wrong = || format!("expected {}, found `{text}`", kind_name(def.kind));
    Ok(match def.kind {
        Kind::Bool | Kind::On => match trimmed {
            "true" => true.into(),
            "false" => false.into(),
            _ => return Err(wrong()),
        },
        Kind::Int { .. } => trimmed.parse::<i64>().map_err(|_| wrong())?.into(),
        Kind::Duration { .. } => {
            let duration = crate::duration::parse_duration(trimmed)?;
            crate::duration::format_duration_exact(duration).into()
        }
        Kind::Choice(_) | Kind::Hex { .. } | Kind::Id | Kind::Url | Kind::Secret => trimmed.into(),
        Kind::List | Kind::Ids => {
            let items: toml_edit::Array = text
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .collect();
            items.into()
        }
    })
}

/// The line of `key` (`name = ...` under `[category]`) in `source`, for messages.
fn line_of(source: &str, def: &Definition) -> Option<usize> {
    let mut in_table = false;
    for (i, line) in source.lines().enumerate() {
        let line = line.trim();
        if line.starts_with('[') {
            in_table = line.trim_matches(|c| c == '[' || c == ']').trim() == def.category;
        } else if in_table && line.split('=').next().map(str::trim) == Some(def.name) {
            return Some(i + 1);
        }
    }
    None
}

/// The bytes of the lines that hold `name = value` (under `[category]`) or
/// `category.name = value`, and nothing else but a comment after the value, through the
/// newline that ends them; `None` when the key is not on lines of its own.
fn own_lines(text: &str, category: &str, name: &str) -> Option<std::ops::Range<usize>> {
    let doc = toml_edit::Document::parse(text).ok()?;
    let (key, item) = doc.get(category)?.as_table()?.get_key_value(name)?;
    let (key, value) = (key.span()?, item.span()?);
    let start = text[..key.start].rfind('\n').map_or(0, |i| i + 1);
    let end = text[value.end..]
        .find('\n')
        .map_or(text.len(), |i| value.end + i + 1);
    let after = text[value.end..end].trim();
    // `max_backups = 3` under `[backup]`, or `backup.max_backups = 3` as a dotted key.
    let before = text[start..key.start].trim();
    let before = before.strip_suffix('.').map_or(before, str::trim_end);
    let alone =
        (before.is_empty() || before == category) && (after.is_empty() || after.starts_with('#'));
    alone.then_some(start..end)
}

/// Read the settings of one category table into `values`; a removed setting adds a
/// warning instead.
fn read_category(
    source: &str,
    category: &str,
    table: &toml_edit::Item,
    values: &mut BTreeMap<String, Value>,
    warnings: &mut Vec<String>,
) -> Result<(), SettingsError> {
    let known = DEFINITIONS.iter().any(|d| d.category == category);
    let (Some(table), true) = (table.as_table(), known) else {
        let mut categories: Vec<&str> = DEFINITIONS.iter().map(|d| d.category).collect();
        categories.push("channels");
        return Err(SettingsError::Unknown {
            key: category.to_owned(),
            suggestion: crate::text::suggest(category, categories),
        });
    };
    for (name, item) in table {
        let key = format!("{category}.{name}");
        if let Some(removed) = REMOVED.iter().find(|r| r.key == key) {
            warnings.push(format!(
                "setting `{key}` is ignored: upkeep has no such setting; {}. `upkeep settings reset {key}` removes it from the file",
                removed.why
            ));
            continue;
        }
        let def = definition(&key)?;
        if def.kind == Kind::On && item.as_bool() == Some(false) {
            // The seed's file may turn these off; upkeep does not, and says so rather than
            // refusing a file that was valid for the seed.
            warnings.push(format!(
                "setting `{key} = false` is ignored: {ALWAYS_ON}. `upkeep settings reset {key}` removes it from the file"
            ));
            continue;
        }
        let value = item.as_value().ok_or_else(|| "expected a value".to_owned());
        let value =
            value
                .and_then(|v| convert(def, v))
                .map_err(|reason| SettingsError::Invalid {
                    key: key.clone(),
                    line: line_of(source, def),
                    reason,
                })?;
        values.insert(key, value);
    }
    Ok(())
}

impl Settings {
    /// Read `path`; a missing file means every default.
    ///
    /// # Errors
    /// The file cannot be read or parsed, or holds an unknown or invalid setting.
    pub fn load(path: &Path) -> Result<Self, SettingsError> {
        let source = match fs_err::read_to_string(path) {
            Ok(source) => source,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(source) => {
                return Err(SettingsError::Io {
                    action: "read the settings file",
                    path: path.to_path_buf(),
                    source,
                });
            }
        };
        let parsed =
            toml_edit::Document::parse(source.as_str()).map_err(|err| SettingsError::Syntax {
                path: path.to_path_buf(),
                message: err.to_string(),
            })?;
        let mut values: BTreeMap<String, Value> = DEFINITIONS
            .iter()
            .map(|d| (d.key(), default_value(d)))
            .collect();
        let mut channels = BTreeMap::new();
        let mut warnings = Vec::new();
        for (category, table) in parsed.iter() {
            if category == "channels" {
                let span = parsed.key("channels").and_then(toml_edit::Key::span);
                channels = channels::read(path, &source, table, span)?;
                continue;
            }
            read_category(&source, category, table, &mut values, &mut warnings)?;
        }
        let settings = Self {
            path: path.to_path_buf(),
            doc: parsed.into_mut(),
            values,
            channels,
            warnings,
        };
        if let Some(Value::List(names)) = settings.values.get("notification.channels") {
            settings.check_selected(names, Some(&source))?;
        }
        Ok(settings)
    }

    /// The file these settings come from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// What the file holds that upkeep ignores (a removed setting), one sentence each, for
    /// the front end to show.
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    /// A setting's value.
    ///
    /// # Errors
    /// [`SettingsError::Unknown`].
    pub fn get(&self, key: &str) -> Result<&Value, SettingsError> {
        let def = definition(key)?;
        Ok(&self.values[&def.key()])
    }

    /// Every setting: its definition, value, and whether it is the default.
    pub fn list(&self) -> Vec<(&'static Definition, &Value, bool)> {
        DEFINITIONS
            .iter()
            .map(|d| {
                let value = &self.values[&d.key()];
                (d, value, *value == default_value(d))
            })
            .collect()
    }

    /// Set `key` from text as a person types it (`true`, `15`, `1h`, `debug`, `a,b`), editing the
    /// document in place; [`Settings::save`] writes it.
    ///
    /// # Errors
    /// Unknown key, or a value of the wrong type or out of range.
    pub fn set(&mut self, key: &str, text: &str) -> Result<(), SettingsError> {
        let def = definition(key)?;
        let invalid = |reason: String| SettingsError::Invalid {
            key: key.to_owned(),
            line: None,
            reason,
        };
        let value = from_text(def, text).map_err(invalid)?;
        let typed = convert(def, &value).map_err(invalid)?;
        if let (Value::List(names), "notification.channels") = (&typed, key) {
            self.check_selected(names, None)?;
        }
        let table = self.doc[def.category]
            .or_insert(toml_edit::table())
            .as_table_mut()
            .ok_or_else(|| invalid(format!("`{}` in the file is not a table", def.category)))?;
        if let Some(existing) = table
            .get_mut(def.name)
            .and_then(toml_edit::Item::as_value_mut)
        {
            // Keep the comment that follows the value, and the key's own decoration.
            let decor = existing.decor().clone();
            *existing = value;
            *existing.decor_mut() = decor;
        } else {
            table[def.name] = toml_edit::value(value);
        }
        self.values.insert(def.key(), typed);
        Ok(())
    }

    /// Go back to the default for `key`: its line leaves the file, and the comment lines
    /// above it and every other byte stay. A removed setting (see [`REMOVED`]) is taken
    /// out of the file the same way, which is how its warning is answered.
    ///
    /// # Errors
    /// [`SettingsError::Unknown`].
    pub fn reset(&mut self, key: &str) -> Result<(), SettingsError> {
        let def = match definition(key) {
            Ok(def) => Some(def),
            Err(SettingsError::Removed { .. }) => None,
            Err(err) => return Err(err),
        };
        let (category, name) = key.split_once('.').unwrap_or((key, ""));
        self.remove_key(category, name);
        if let Some(def) = def {
            self.values.insert(def.key(), default_value(def));
        }
        let (alone, turned_off) = (format!("`{key}`"), format!("`{key} = "));
        self.warnings
            .retain(|w| !w.contains(&alone) && !w.contains(&turned_off));
        Ok(())
    }

    /// Take `category.name` out of the document. When the key sits on lines of its own
    /// (the usual case), exactly those lines are cut from the text, so the comments above
    /// it, which `toml_edit` keeps as the key's own decoration and would drop with it,
    /// stay where they are, as does every other byte. Otherwise (a key inside an inline
    /// table) the key is removed through `toml_edit`.
    fn remove_key(&mut self, category: &str, name: &str) {
        let text = self.doc.to_string();
        if let Some(lines) = own_lines(&text, category, name) {
            let mut cut = text;
            cut.replace_range(lines, "");
            if let Ok(doc) = cut.parse::<toml_edit::DocumentMut>() {
                self.doc = doc;
                return;
            }
        }
        if let Some(table) = self
            .doc
            .get_mut(category)
            .and_then(toml_edit::Item::as_table_mut)
        {
            table.remove(name);
        }
    }

    /// Write the file atomically (creating its directory).
    ///
    /// # Errors
    /// The directory or file cannot be written.
    pub fn save(&self) -> Result<(), SettingsError> {
        let io = |action| {
            let path = self.path.clone();
            move |source| SettingsError::Io {
                action,
                path,
                source,
            }
        };
        if let Some(dir) = self.path.parent().filter(|d| !d.as_os_str().is_empty()) {
            fs_err::create_dir_all(dir).map_err(io("create the directory of the settings file"))?;
        }
        crate::atomic::write_atomic(&self.path, self.doc.to_string().as_bytes())
            .map_err(io("write the settings file"))
    }

    fn int(&self, key: &str) -> i64 {
        match self.values.get(key) {
            Some(Value::Int(n)) => *n,
            _ => 0,
        }
    }

    fn flag(&self, key: &str) -> bool {
        matches!(self.values.get(key), Some(Value::Bool(true)))
    }

    /// The notification channels defined in the file, by name.
    pub fn channels(&self) -> &BTreeMap<String, Channel> {
        &self.channels
    }

    /// The channels that receive events: those `notification.channels` names, or every
    /// channel when it names none.
    pub fn receiving_channels(&self) -> Vec<String> {
        match self.values.get("notification.channels") {
            Some(Value::List(names)) if !names.is_empty() => names.clone(),
            _ => self.channels.keys().cloned().collect(),
        }
    }

    /// Which events go where: the receiving channels, and the kinds the `notification.*`
    /// switches (and `update.notify_on_completion`) leave on. Updates found by a check
    /// are always told.
    pub fn notify_routing(&self) -> Routing {
        let mut kinds = vec![EventKind::UpdateAvailable];
        if self.flag("notification.update_start_notifications") {
            kinds.push(EventKind::RunStarted);
        }
        if self.flag("notification.update_completion_notifications")
            && self.flag("update.notify_on_completion")
        {
            kinds.push(EventKind::RunFinished);
        }
        if self.flag("notification.error_notifications") {
            kinds.extend([
                EventKind::ModuleFailed,
                EventKind::ModuleRolledBack,
                EventKind::ScheduleSkipped,
                EventKind::RunNotStarted,
            ]);
        }
        Routing {
            channels: self.receiving_channels(),
            kinds,
        }
    }

    /// How often `upkeep daemon` asks the update sources (`update.update_check_interval`).
    pub fn update_check_interval(&self) -> std::time::Duration {
        self.text("update.update_check_interval")
            .and_then(|text| crate::duration::parse_duration(text).ok())
            .unwrap_or(std::time::Duration::from_secs(3600))
    }

    /// The level of upkeep's own diagnostics (`logging.level`): one of [`LOG_LEVELS`].
    pub fn log_level(&self) -> &str {
        self.text("logging.level").unwrap_or("off")
    }

    fn text(&self, key: &str) -> Option<&str> {
        match self.values.get(key) {
            Some(Value::Text(text)) => Some(text),
            _ => None,
        }
    }

    /// Whether `schedule.enabled` lets due schedules run.
    pub fn schedules_enabled(&self) -> bool {
        self.flag("schedule.enabled")
    }

    /// Every name in `notification.channels` must be a defined channel.
    fn check_selected(&self, names: &[String], source: Option<&str>) -> Result<(), SettingsError> {
        let Some(missing) = names.iter().find(|n| !self.channels.contains_key(*n)) else {
            return Ok(());
        };
        let def = definition("notification.channels")?;
        let hint = crate::text::suggest(missing, self.channels.keys().map(String::as_str))
            .map_or_else(String::new, |s| format!("; did you mean `{s}`?"));
        Err(SettingsError::Invalid {
            key: def.key(),
            line: source.and_then(|source| line_of(source, def)),
            reason: format!(
                "no channel `{missing}` is defined (add a [channels.{missing}] table){hint}"
            ),
        })
    }

    /// How backups are taken: compression and level, and the free-space floor.
    pub fn backup_config(&self) -> crate::backup::BackupConfig {
        crate::backup::BackupConfig {
            compression: if self.flag("backup.compression_enabled") {
                crate::archive::Compression::Zstd
            } else {
                crate::archive::Compression::None
            },
            level: i32::try_from(self.int("backup.compression_level")).unwrap_or(2),
            min_free_bytes: u64::try_from(self.int("safety.min_disk_space_mb")).unwrap_or(0) << 20,
            snapshots: self.flag("backup.snapshots"),
            // Uncompressed backups are plain tar archives: the store always compresses.
            format: if self.flag("backup.compression_enabled")
                && self.text("backup.format") != Some("archive")
            {
                crate::state::backups::BackupFormat::Store
            } else {
                crate::state::backups::BackupFormat::Archive
            },
        }
    }

    /// The most bytes a module's log keeps in one run (`logging.max_module_log_mb`).
    pub fn module_log_cap(&self) -> u64 {
        u64::try_from(self.int("logging.max_module_log_mb"))
            .unwrap_or(1)
            .max(1)
            * 1024
            * 1024
    }

    /// How many log directories of each kind a run keeps (`logging.max_log_files`).
    pub fn keep_logs(&self) -> usize {
        usize::try_from(self.int("logging.max_log_files"))
            .unwrap_or(1)
            .max(1)
    }

    /// The retention rules `backup prune` applies when given none.
    pub fn retention(&self) -> crate::backup::Retention {
        let positive = |n: i64| u32::try_from(n).ok().filter(|n| *n > 0);
        crate::backup::Retention {
            keep_last: positive(self.int("backup.max_backups")),
            keep_days: positive(self.int("backup.backup_retention_days")),
            ..crate::backup::Retention::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_typed() {
        let s = Settings::load(Path::new("/nonexistent/settings.toml")).unwrap();
        assert_eq!(s.get("backup.max_backups").unwrap(), &Value::Int(50));
        assert_eq!(
            s.get("update.update_check_interval").unwrap(),
            &Value::Text("1h".into())
        );
        assert_eq!(
            s.update_check_interval(),
            std::time::Duration::from_secs(3600)
        );
        assert_eq!(s.log_level(), "off");
        assert!(s.list().iter().all(|(_, _, default)| *default));
        assert_eq!(s.backup_config().min_free_bytes, 1024 << 20);
    }

    #[test]
    fn set_keeps_comments_and_reset_removes_the_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("settings.toml");
        fs_err::write(&path, "# mine\n[backup]\nmax_backups = 10 # keep ten\n").unwrap();
        let mut s = Settings::load(&path).unwrap();
        s.set("backup.max_backups", "15").unwrap();
        s.set("safety.min_disk_space_mb", "2048").unwrap();
        s.save().unwrap();
        let text = fs_err::read_to_string(&path).unwrap();
        assert!(
            text.contains("# mine") && text.contains("max_backups = 15 # keep ten"),
            "{text}"
        );
        let mut s = Settings::load(&path).unwrap();
        assert_eq!(
            s.get("safety.min_disk_space_mb").unwrap(),
            &Value::Int(2048)
        );
        s.reset("backup.max_backups").unwrap();
        s.save().unwrap();
        assert!(
            !fs_err::read_to_string(&path)
                .unwrap()
                .contains("max_backups")
        );
    }

    const CHANNELS: &str = r#"# where upkeep reports
[notification]
update_start_notifications = false

[channels.ops]
kind = "webhook"
url = "https://hooks.example.com/upkeep?token=SECRET1"
secret = "whsec_c2VjcmV0"   # rotate yearly

[channels.team]
kind = "discord"
url = "https://discord.com/api/webhooks/1/SECRET2"

[channels.pager]
kind = "command"
argv = ["/usr/local/bin/page", "--quiet"]
"#;

    #[test]
    fn channels_are_read_and_routed_by_the_notification_settings() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("settings.toml");
        fs_err::write(&path, CHANNELS).unwrap();
        let mut s = Settings::load(&path).unwrap();
        assert_eq!(
            s.channels().keys().collect::<Vec<_>>(),
            ["ops", "pager", "team"]
        );
        assert_eq!(
            s.channels()["pager"],
            Channel::Command {
                argv: vec!["/usr/local/bin/page".into(), "--quiet".into()]
            }
        );
        let routing = s.notify_routing();
        assert_eq!(routing.channels, ["ops", "pager", "team"]);
        assert!(!routing.wants(EventKind::RunStarted), "turned off");
        assert!(routing.wants(EventKind::ModuleFailed));
        s.set("notification.channels", "ops, team").unwrap();
        s.set("update.notify_on_completion", "false").unwrap();
        let routing = s.notify_routing();
        assert_eq!(
            routing.channels_for(EventKind::ModuleFailed),
            ["ops", "team"]
        );
        assert!(!routing.wants(EventKind::RunFinished));
        let err = s.set("notification.channels", "ops,teem").unwrap_err();
        assert!(err.to_string().contains("did you mean `team`"), "{err}");
        s.save().unwrap();
        let text = fs_err::read_to_string(&path).unwrap();
        assert!(
            text.contains("# rotate yearly") && text.contains("[channels.pager]"),
            "{text}"
        );
        assert_eq!(
            Settings::load(&path).unwrap().receiving_channels(),
            ["ops", "team"]
        );
    }

    #[test]
    fn bad_channels_name_the_file_line_and_key_and_never_the_url() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("settings.toml");
        let error = |text: &str| {
            fs_err::write(&path, text).unwrap();
            Settings::load(&path).unwrap_err().to_string()
        };
        let file = path.display().to_string();
        let webhook = "[channels.ops]\nkind = \"webhook\"\n";
        let cases = [
            (
                format!("{webhook}urll = \"https://x/\""),
                ":3: `channels.ops.urll`",
                "did you mean `url`",
            ),
            (
                format!("{webhook}argv = [\"x\"]"),
                ":3: `channels.ops.argv`",
                "not a setting of a webhook",
            ),
            (
                "[channels.ops]\nkind = \"webhok\"".to_owned(),
                ":2: `channels.ops.kind`",
                "did you mean `webhook`",
            ),
            (
                "[channels.p]\nkind = \"command\"\nargv = []".to_owned(),
                ":3: `channels.p.argv`",
                "non-empty list",
            ),
            (
                "[channels.ops]\nurl = \"https://x/\"".to_owned(),
                ":1: `channels.ops`",
                "needs `kind = ...`",
            ),
            (
                "[channels.ops]\nkind = \"slack\"\nurl = \"ftp://h/TOKEN\"".to_owned(),
                ":3: `channels.ops.url`",
                "https://",
            ),
        ];
        for (text, at, says) in cases {
            let err = error(&text);
            assert!(
                err.contains(&format!("{file}{at}")) && err.contains(says),
                "{err}"
            );
            assert!(!err.contains("TOKEN"), "{err}");
        }
        let text = CHANNELS.replace(
            "update_start_notifications = false",
            "channels = [\"opps\"]",
        );
        let err = error(&text);
        assert!(
            err.contains("line 3") && err.contains("did you mean `ops`"),
            "{err}"
        );
    }

    #[test]
    fn durations_in_the_file_take_the_seeds_seconds_or_a_unit() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("settings.toml");
        let interval = |text: &str| {
            fs_err::write(&path, format!("[update]\nupdate_check_interval = {text}\n")).unwrap();
            Settings::load(&path).map(|s| s.update_check_interval())
        };
        assert_eq!(
            interval("7200").unwrap(),
            std::time::Duration::from_secs(7200)
        );
        assert_eq!(
            interval("\"2h\"").unwrap(),
            std::time::Duration::from_secs(7200)
        );
        let err = interval("\"7200\"").unwrap_err().to_string();
        assert!(err.contains("line 2") && err.contains("`7200s`"), "{err}");
        let err = interval("30").unwrap_err().to_string();
        assert!(err.contains("out of range: from 1m to 7d"), "{err}");
    }

    #[test]
    fn reset_of_a_dotted_key_keeps_the_comments_too() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("settings.toml");
        fs_err::write(
            &path,
            "# top\nbackup.max_backups = 3\nbackup.compression_level = 4\n",
        )
        .unwrap();
        let mut s = Settings::load(&path).unwrap();
        s.reset("backup.max_backups").unwrap();
        s.save().unwrap();
        let text = fs_err::read_to_string(&path).unwrap();
        assert!(
            text.starts_with("# top\n")
                && !text.contains("max_backups")
                && text.contains("backup.compression_level = 4"),
            "{text}"
        );
        assert_eq!(
            Settings::load(&path)
                .unwrap()
                .get("backup.max_backups")
                .unwrap(),
            &Value::Int(50)
        );
    }

    #[test]
    fn bad_input_is_refused_with_a_location_or_suggestion() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("settings.toml");
        let mut s = Settings::load(&path).unwrap();
        let err = s.set("backup.max_backup", "3").unwrap_err();
        assert!(
            err.to_string()
                .contains("did you mean `backup.max_backups`"),
            "{err}"
        );
        assert!(s.set("backup.compression_level", "42").is_err());
        assert!(s.set("backup.enabled", "yes").is_err());
        fs_err::write(&path, "[backup]\n\nmax_backups = \"many\"\n").unwrap();
        let err = Settings::load(&path).unwrap_err().to_string();
        assert!(
            err.contains("line 3") && err.contains("expected an integer"),
            "{err}"
        );
        fs_err::write(&path, "[backupp]\nmax_backups = 1\n").unwrap();
        let err = Settings::load(&path).unwrap_err().to_string();
        assert!(err.contains("did you mean"), "{err}");
        fs_err::write(&path, "[backup\n").unwrap();
        assert!(matches!(
            Settings::load(&path),
            Err(SettingsError::Syntax { .. })
        ));
    }
}
