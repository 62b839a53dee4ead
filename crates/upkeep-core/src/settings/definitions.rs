//! The table of every setting: its category, name, type, default (the seed Update
//! Manager's, unless the doc says why not) and what it does; and the seed's settings upkeep
//! does not have, with why, so that a file that still sets one gets a warning rather than
//! a refusal.

/// The type of a setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `true` or `false`.
    Bool,
    /// A switch of the seed's that upkeep keeps always on, for safety: only `true` is a
    /// value (`false` in the file is ignored with a warning, as a removed setting is).
    On,
    /// An integer in a range.
    Int {
        /// Smallest allowed.
        min: i64,
        /// Largest allowed.
        max: i64,
    },
    /// A duration with its unit (`90s`, `1h`), in a range of seconds; the file may also
    /// hold a bare integer, read as seconds, which is how the seed wrote it.
    Duration {
        /// Shortest allowed, in seconds.
        min: u64,
        /// Longest allowed, in seconds.
        max: u64,
    },
    /// One of a few names, matched without regard to case (the seed wrote `INFO`); stored
    /// as the name is listed.
    Choice(&'static [&'static str]),
    /// A list of strings.
    List,
    /// Hex digits encoding this many bytes (a public key), or empty for none.
    Hex {
        /// How many bytes the digits encode.
        bytes: usize,
    },
    /// A Discord id (a snowflake: decimal digits), or empty for none.
    Id,
    /// A list of Discord ids.
    Ids,
    /// An `http://` or `https://` URL.
    Url,
    /// Text that is a credential: read and written like text, never shown (`settings
    /// list` and `get` say only whether it is set).
    Secret,
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

impl Definition {
    /// `category.name`.
    pub fn key(&self) -> String {
        format!("{}.{}", self.category, self.name)
    }
}

const fn int(min: i64, max: i64) -> Kind {
    Kind::Int { min, max }
}

/// The values of `backup.format`.
pub(super) const BACKUP_FORMATS: &[&str] = &["store", "archive"];

/// The levels of `logging.level`, quietest first.
pub const LOG_LEVELS: &[&str] = &["off", "error", "warn", "info", "debug", "trace"];

/// A setting of the seed Update Manager that upkeep does not have, and why.
#[derive(Debug, Clone, Copy)]
pub struct Removed {
    /// `category.name`.
    pub key: &'static str,
    /// Why upkeep has no such setting, and what does its job.
    pub why: &'static str,
}

/// The seed's settings that upkeep had listed but never acted on, removed rather than
/// kept as switches that do nothing. A file that still sets one is read with a warning
/// (it may have been copied from the seed, or written by an older upkeep), never refused.
pub const REMOVED: &[Removed] = &[
    Removed {
        key: "update.auto_updates_enabled",
        why: "schedules decide when updates run (`schedule.enabled` turns them all off)",
    },
    Removed {
        key: "update.max_concurrent_updates",
        why: "`upkeep run --jobs N` sets how many modules run at once, and one run holds the lock at a time",
    },
    Removed {
        key: "update.require_confirmation",
        why: "`upkeep run` is the confirmation; `--dry-run` and `plan` show what it would do",
    },
    Removed {
        key: "backup.enabled",
        why: "a module that owns paths never runs without a verified backup",
    },
    Removed {
        key: "backup.auto_cleanup",
        why: "`upkeep backup prune` applies `backup.max_backups` and `backup.backup_retention_days`",
    },
    Removed {
        key: "notification.backup_notifications",
        why: "upkeep sends no notification about backups; a failed pre-update backup is a module failure (`notification.error_notifications`)",
    },
    Removed {
        key: "schedule.default_time",
        why: "every schedule names its time, e.g. `schedule add NAME --daily 03:00`",
    },
    Removed {
        key: "schedule.max_schedules",
        why: "upkeep does not limit the number of schedules",
    },
    Removed {
        key: "schedule.require_backup_before_schedule",
        why: "every run, scheduled or not, backs up a module's paths before it runs",
    },
    Removed {
        key: "safety.rollback_on_failure",
        why: "each module's `rollback` in the manifest, or the manifest's `[defaults]`, decides",
    },
];

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
        "update_check_interval",
        Kind::Duration {
            min: 60,
            max: 604_800
        },
        "\"1h\"",
        "how often `upkeep daemon` asks the update sources, e.g. `30m`, `1h`, `1d`"
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
        "max_backups",
        int(0, 100_000),
        "50",
        "prune keeps at most this many (besides protected ones); 0: no limit"
    ),
    def!(
        "backup",
        "format",
        Kind::Choice(BACKUP_FORMATS),
        "\"store\"",
        "how new backups are kept: `store` (deduplicated chunks, a backup costs what changed) or `archive` (one tar + zstd file each)"
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
        "snapshots",
        Kind::Bool,
        "true",
        "back a module up as a read-only btrfs snapshot (rolled back by a swap) when its one path is the root of its own subvolume; off: always an archive"
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
        Kind::On,
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
        "safety",
        "require_backup_before_update",
        Kind::On,
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
        "logging",
        "level",
        Kind::Choice(LOG_LEVELS),
        "\"off\"",
        "upkeep's own diagnostics on stderr: off, error, warn, info, debug or trace (`UPKEEP_LOG` overrides it; off by default, not the seed's INFO, since upkeep's messages say what a person needs)"
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
    def!(
        "discord",
        "public_key",
        Kind::Hex { bytes: 32 },
        "\"\"",
        "the Discord application's public key (64 hex digits, from its General Information page); `upkeep serve` answers POST /discord/interactions only when it is set, and only requests it signed"
    ),
    def!(
        "discord",
        "application_id",
        Kind::Id,
        "\"\"",
        "the Discord application's id: where `upkeep discord commands --register` puts the slash commands, and whose interaction webhooks get the answers to deferred commands"
    ),
    def!(
        "discord",
        "bot_token",
        Kind::Secret,
        "\"\"",
        "the application's bot token, for `upkeep discord commands --register` only (never shown)"
    ),
    def!(
        "discord",
        "api_base_url",
        Kind::Url,
        "\"https://discord.com/api/v10\"",
        "where Discord's HTTP API is (commands are registered and deferred answers sent there)"
    ),
    def!(
        "discord",
        "owner_ids",
        Kind::Ids,
        "[]",
        "Discord user ids that act as owner (the seed's Bot Owner: everything)"
    ),
    def!(
        "discord",
        "admin_role_ids",
        Kind::Ids,
        "[]",
        "Discord role ids whose members act as operator (the seed's Administrator: also check now and create backups)"
    ),
    def!(
        "discord",
        "viewer_role_ids",
        Kind::Ids,
        "[]",
        "Discord role ids whose members act as viewer (status, backup list); anyone else is refused"
    ),
];
