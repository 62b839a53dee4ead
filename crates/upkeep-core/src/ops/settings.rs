//! The settings as the use cases take them, resolved in one place, and `settings
//! list|get|set|reset`.

use std::collections::BTreeMap;
use std::time::Duration;

use super::{Context, Error};
use crate::backup::{BackupConfig, Retention};
use crate::notify::{Channel, Routing};
use crate::settings::{Definition, Discord, Settings, Value, shown};

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
    /// The level of upkeep's own diagnostics (`logging.level`): `off`, `error`, `warn`,
    /// `info`, `debug` or `trace`. A front end that shows diagnostics filters them by it.
    pub log_level: String,
    /// What the settings file holds that upkeep ignores, for the front end to warn about.
    pub warnings: Vec<String>,
    /// The Discord application and who may use it (`[discord]`).
    pub discord: Discord,
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
            log_level: settings.log_level().to_owned(),
            warnings: settings.warnings().to_vec(),
            discord: settings.discord(),
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
            value: shown(def, value),
            default,
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
    Ok(shown_value(key, ctx.settings().get(key)?))
}

/// A setting's value as it may be shown (a secret only says it is set).
fn shown_value(key: &str, value: &Value) -> Value {
    crate::settings::DEFINITIONS
        .iter()
        .find(|d| d.key() == key)
        .map_or_else(|| value.clone(), |def| shown(def, value))
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
    Ok(shown_value(key, settings.get(key)?))
}

/// Put `key` back to its default (its line leaves the file, the comments above it stay);
/// returns that value, or `None` for a setting upkeep no longer has, which this takes out
/// of the file.
///
/// # Errors
/// An unknown key, or the file cannot be written.
pub fn reset(ctx: &Context, key: &str) -> Result<Option<Value>, Error> {
    let mut settings = ctx.settings().clone();
    settings.reset(key)?;
    settings.save()?;
    match settings.get(key) {
        Ok(value) => Ok(Some(value.clone())),
        Err(crate::settings::SettingsError::Removed { .. }) => Ok(None),
        Err(err) => Err(err.into()),
    }
}
