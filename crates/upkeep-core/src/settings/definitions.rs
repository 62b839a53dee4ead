//! The table of every setting: its category, name, type, default (the seed Update
//! Manager's, unless the doc says why not) and what it does, and which of them upkeep acts
//! on yet.

/// The type of a setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `true` or `false`.
    Bool,
    /// An integer in a range.
    Int {
        /// Smallest allowed.
        min: i64,
        /// Largest allowed.
        max: i64,
    },
    /// Free text.
    Text,
    /// A list of strings.
    List,
}

/// One setting.
#[derive(Debug, Clone, Copy)]
pub struct Definition {
    /// Category (the TOML table).
    pub category: &'static str,
    /// Name within it.
    pub name: &'static str,
    /// Its type.
    pub kind: Kind,
    /// Its default, as a TOML value.
    pub default: &'static str,
    /// What it does.
    pub doc: &'static str,
}

/// Settings upkeep acts on today; the others are kept (with the seed's defaults) for the
/// update checks and schedules still to come, and have no effect yet.
const IN_EFFECT: &[&str] = &[
    "update.notify_on_completion",
    "update.update_check_interval",
    "notification.update_start_notifications",
    "notification.update_completion_notifications",
    "notification.error_notifications",
    "notification.channels",
    "schedule.enabled",
    "backup.max_backups",
    "backup.compression_enabled",
    "backup.compression_level",
    "backup.backup_retention_days",
    "backup.verify_backups",
    "safety.require_backup_before_update",
    "safety.min_disk_space_mb",
    "logging.max_log_files",
    "logging.max_module_log_mb",
];

impl Definition {
    /// `category.name`.
    pub fn key(&self) -> String {
        format!("{}.{}", self.category, self.name)
    }

    /// Whether upkeep acts on this setting yet.
    pub fn in_effect(&self) -> bool {
        IN_EFFECT.contains(&self.key().as_str())
    }
}

const fn int(min: i64, max: i64) -> Kind {
    Kind::Int { min, max }
}

macro_rules! def {
    ($cat:literal, $name:literal, $kind:expr, $default:literal, $doc:literal) => {
        Definition {
            category: $cat,
            name: $name,
            kind: $kind,
            default: $default,
            doc: $doc,
        }
    };
}

/// Every setting, with the seed's defaults (where upkeep differs, the doc says why).
pub const DEFINITIONS: &[Definition] = &[
    def!(
        "update",
        "auto_updates_enabled",
        Kind::Bool,
        "false",
        "run updates on schedule without being asked"
    ),
    def!(
        "update",
        "update_check_interval",
        int(60, 604_800),
        "3600",
        "seconds between update checks"
    ),
    def!(
        "update",
        "max_concurrent_updates",
        int(1, 256),
        "1",
        "modules updated at once by scheduled runs"
    ),
    def!(
        "update",
        "require_confirmation",
        Kind::Bool,
        "true",
        "ask before applying updates interactively"
    ),
    def!(
        "update",
        "notify_on_completion",
        Kind::Bool,
        "true",
        "send a notification when a run finishes (with notification.update_completion_notifications)"
    ),
    def!(
        "backup",
        "enabled",
        Kind::Bool,
        "true",
        "take pre-update backups of the paths modules own"
    ),
    def!(
        "backup",
        "max_backups",
        int(0, 100_000),
        "50",
        "prune keeps at most this many (besides protected ones); 0: no limit"
    ),
    def!(
        "backup",
        "auto_cleanup",
        Kind::Bool,
        "true",
        "prune by the retention settings after each run"
    ),
    def!(
        "backup",
        "compression_enabled",
        Kind::Bool,
        "true",
        "compress archives (zstd); off writes plain tar"
    ),
    def!(
        "backup",
        "compression_level",
        int(1, 19),
        "2",
        "zstd level; the seed's 6 was a gzip level, and zstd 2 keeps backups as fast as tar with zstd"
    ),
    def!(
        "backup",
        "backup_retention_days",
        int(0, 36_500),
        "90",
        "prune keeps backups younger than this; 0: no limit"
    ),
    def!(
        "backup",
        "verify_backups",
        Kind::Bool,
        "true",
        "re-read and check every archive after writing it (always on: upkeep never records an unverified backup)"
    ),
    def!(
        "notification",
        "update_start_notifications",
        Kind::Bool,
        "true",
        "notify when a run starts"
    ),
    def!(
        "notification",
        "update_completion_notifications",
        Kind::Bool,
        "true",
        "notify when a run finishes"
    ),
    def!(
        "notification",
        "error_notifications",
        Kind::Bool,
        "true",
        "notify when a module fails or is rolled back, or a schedule is skipped"
    ),
    def!(
        "notification",
        "backup_notifications",
        Kind::Bool,
        "true",
        "notify about backups"
    ),
    def!(
        "notification",
        "channels",
        Kind::List,
        "[]",
        "channels that receive events, by name (their [channels.NAME] tables); empty: every channel"
    ),
    def!(
        "schedule",
        "enabled",
        Kind::Bool,
        "true",
        "run due schedules (off: they are skipped, and a schedule_skipped event is sent)"
    ),
    def!(
        "schedule",
        "default_time",
        Kind::Text,
        "\"03:00\"",
        "time of day for schedules that name none (HH:MM)"
    ),
    def!(
        "schedule",
        "max_schedules",
        int(1, 1000),
        "5",
        "most schedules allowed"
    ),
    def!(
        "schedule",
        "require_backup_before_schedule",
        Kind::Bool,
        "true",
        "scheduled runs only update modules whose backup succeeded"
    ),
    def!(
        "safety",
        "require_backup_before_update",
        Kind::Bool,
        "true",
        "a module that owns paths does not run without a verified backup (always on)"
    ),
    def!(
        "safety",
        "min_disk_space_mb",
        int(0, 100_000_000),
        "1024",
        "refuse a backup that would leave less free space (MiB)"
    ),
    def!(
        "safety",
        "rollback_on_failure",
        Kind::Bool,
        "true",
        "default of each module's `rollback`"
    ),
    def!(
        "logging",
        "level",
        Kind::Text,
        "\"INFO\"",
        "upkeep's own log level (ERROR, WARN, INFO, DEBUG, TRACE)"
    ),
    def!(
        "logging",
        "max_log_files",
        int(1, 100_000),
        "10",
        "log directories kept of each kind (runs, rollbacks, pre-runs), the newest; older ones are deleted during the next run"
    ),
    def!(
        "logging",
        "max_module_log_mb",
        int(1, 1_048_576),
        "64",
        "the most one module's log keeps in a run, in MiB: its first and last half, with a marker for what was dropped between"
    ),
];
