//! The settings as the use cases take them, resolved in one place, and `settings
//! list|get|set|reset`.

use std::collections::BTreeMap;
use std::time::Duration;

use super::{Context, Error};
use crate::backup::{BackupConfig, Retention};
use crate::notify::{Channel, Routing};
use crate::settings::{Definition, Settings, Value};

/// Every value a use case reads from the settings, typed. Built by
/// [`Resolved::from_settings`] alone, so that no use case interprets a setting by itself;
/// flags override these in the use case that takes them, and only there.
#[derive(Debug, Clone)]
pub struct Resolved {
    /// Which channels get which notifications.
    pub routing: Routing,
    /// The channels defined in the settings file, by name.
    pub channels: BTreeMap<String, Channel>,
    /// How backups are taken (compression, level, free-space floor).
    pub backup: BackupConfig,
    /// What `backup prune` keeps when given no rules.
    pub retention: Retention,
    /// Log directories of each kind a run keeps.
    pub keep_logs: usize,
    /// The most bytes a module's log keeps in one run (`logging.max_module_log_mb`).
    pub module_log_cap: u64,
    /// How often the daemon asks the update sources.
    pub update_check_interval: Duration,
    /// Whether due schedules run (`schedule.enabled`).
    pub schedules_enabled: bool,
}

impl Resolved {
    /// The typed values of `settings`.
    pub fn from_settings(settings: &Settings) -> Self {
        Self {
            routing: settings.notify_routing(),
            channels: settings.channels().clone(),
            backup: settings.backup_config(),
            retention: settings.retention(),
            keep_logs: settings.keep_logs(),
            module_log_cap: settings.module_log_cap(),
            update_check_interval: settings.update_check_interval(),
            schedules_enabled: settings.schedules_enabled(),
        }
    }
}

/// One setting as `settings list` shows it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct SettingRow {
    /// `category.name`.
    pub key: String,
    /// Its value.
    pub value: Value,
    /// Whether that is the default.
    pub default: bool,
    /// Whether upkeep acts on it yet.
    pub in_effect: bool,
    /// What it does.
    pub doc: &'static str,
    /// Its default, as written in the file (not in JSON: `default` says whether it is).
    #[serde(skip)]
    pub default_value: &'static str,
}

impl SettingRow {
    fn new(def: &Definition, value: &Value, default: bool) -> Self {
        Self {
            key: def.key(),
            value: value.clone(),
            default,
            in_effect: def.in_effect(),
            doc: def.doc,
            default_value: def.default,
        }
    }
}

/// Every setting with its value.
pub fn list(ctx: &Context) -> Vec<SettingRow> {
    ctx.settings()
        .list()
        .into_iter()
        .map(|(def, value, default)| SettingRow::new(def, value, default))
        .collect()
}

/// One setting's value.
///
/// # Errors
/// An unknown key (with "did you mean").
pub fn get(ctx: &Context, key: &str) -> Result<Value, Error> {
    Ok(ctx.settings().get(key)?.clone())
}

/// Set `key` to `text` (TOML syntax for its type) in the settings file, keeping the
/// file's comments and layout; returns the value now in effect.
///
/// # Errors
/// An unknown key, a value of the wrong type, or the file cannot be written.
pub fn set(ctx: &Context, key: &str, text: &str) -> Result<Value, Error> {
    let mut settings = ctx.settings().clone();
    settings.set(key, text)?;
    settings.save()?;
    Ok(settings.get(key)?.clone())
}

/// Put `key` back to its default (its line leaves the file); returns that value.
///
/// # Errors
/// An unknown key, or the file cannot be written.
pub fn reset(ctx: &Context, key: &str) -> Result<Value, Error> {
    let mut settings = ctx.settings().clone();
    settings.reset(key)?;
    settings.save()?;
    Ok(settings.get(key)?.clone())
}
