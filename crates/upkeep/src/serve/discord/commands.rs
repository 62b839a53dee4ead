//! The slash commands: the seed's nine, with its parameters (names, types, choices, which
//! are required), the upkeep [`Action`] each needs (its role comes from
//! `Action::least_role`, the one permission table), whether its work may outlast
//! Discord's three seconds (then it is answered deferred), and the application-command
//! JSON that `upkeep discord commands` prints and `--register` puts.

use upkeep_core::ops::access::Action;

/// A slash command.
#[derive(Debug)]
pub(crate) struct Command {
    pub(crate) name: &'static str,
    pub(crate) description: &'static str,
    /// What the caller's role must allow.
    pub(crate) action: Action,
    /// Whether the answer is deferred and sent later through the interaction's webhook.
    pub(crate) deferred: bool,
    pub(crate) options: &'static [Opt],
}

/// One of a command's parameters.
#[derive(Debug)]
pub(crate) struct Opt {
    pub(crate) name: &'static str,
    pub(crate) description: &'static str,
    pub(crate) kind: OptKind,
    pub(crate) required: bool,
    pub(crate) choices: &'static [&'static str],
}

/// Discord's application-command option types that the commands use.
#[derive(Debug, Clone, Copy)]
pub(crate) enum OptKind {
    /// Type 3.
    Text,
    /// Type 4, within a range.
    Integer { min: i64, max: i64 },
    /// Type 5.
    Boolean,
}

const fn opt(
    name: &'static str,
    description: &'static str,
    kind: OptKind,
    required: bool,
    choices: &'static [&'static str],
) -> Opt {
    Opt {
        name,
        description,
        kind,
        required,
        choices,
    }
}

const TEXT: OptKind = OptKind::Text;
const BOOL: OptKind = OptKind::Boolean;
const UPDATE_TYPES: &[&str] = &["all", "packages", "bot", "config", "dependencies"];

/// Every command, in the seed's order.
pub(crate) static COMMANDS: &[Command] = &[
    Command {
        name: "update_check",
        description: "Checks for available updates and system information.",
        action: Action::CheckNow,
        deferred: true,
        options: &[
            opt("check_type", "Type of check", TEXT, false, UPDATE_TYPES),
            opt(
                "show_details",
                "Show detailed update information",
                BOOL,
                false,
                &[],
            ),
            opt(
                "include_security",
                "Include security update information",
                BOOL,
                false,
                &[],
            ),
        ],
    },
    Command {
        name: "update_install",
        description: "Installs available updates with safety checks.",
        action: Action::Run,
        deferred: true,
        options: &[
            opt("update_type", "Type of update", TEXT, true, UPDATE_TYPES),
            opt(
                "backup_before",
                "Create backup before update (upkeep always does)",
                BOOL,
                false,
                &[],
            ),
            opt(
                "restart_required",
                "Allow restart if needed",
                BOOL,
                false,
                &[],
            ),
            opt(
                "force_update",
                "Force update even with warnings",
                BOOL,
                false,
                &[],
            ),
            opt(
                "backup_name",
                "Custom name for pre-update backup",
                TEXT,
                false,
                &[],
            ),
        ],
    },
    Command {
        name: "update_status",
        description: "Shows current update status and system health information.",
        action: Action::Status,
        deferred: false,
        options: &[
            opt(
                "show_history",
                "Include recent update history",
                BOOL,
                false,
                &[],
            ),
            opt("show_metrics", "Include system metrics", BOOL, false, &[]),
            opt(
                "time_range",
                "Time range for history",
                TEXT,
                false,
                &["1d", "7d", "30d"],
            ),
        ],
    },
    Command {
        name: "update_rollback",
        description: "Rolls back to a previous version with confirmation.",
        action: Action::Rollback,
        deferred: true,
        options: &[
            opt("module", "Module to roll back", TEXT, true, &[]),
            opt(
                "target_version",
                "Version to rollback to (specific version or last_backup)",
                TEXT,
                true,
                &[],
            ),
            opt(
                "confirm",
                "Confirmation: type the module's name",
                TEXT,
                true,
                &[],
            ),
            opt(
                "create_backup",
                "Create backup before rollback (upkeep always does)",
                BOOL,
                false,
                &[],
            ),
            opt(
                "restore_config",
                "Restore configuration files",
                BOOL,
                false,
                &[],
            ),
        ],
    },
    Command {
        name: "update_schedule",
        description: "Schedules automatic updates with customizable timing.",
        action: Action::SchedulesWrite,
        deferred: false,
        options: &[
            opt(
                "schedule_type",
                "Type of schedule",
                TEXT,
                true,
                &["daily", "weekly", "monthly", "custom"],
            ),
            opt(
                "update_types",
                "Types of updates to include (comma-separated)",
                TEXT,
                true,
                &[],
            ),
            opt(
                "update_time",
                "Time for updates in HH:MM format",
                TEXT,
                false,
                &[],
            ),
            opt(
                "update_days",
                "Days for updates (comma-separated for weekly/monthly)",
                TEXT,
                false,
                &[],
            ),
            opt("enabled", "Whether schedule is enabled", BOOL, false, &[]),
        ],
    },
    Command {
        name: "backup_create",
        description: "Creates manual system backup with optional compression.",
        action: Action::BackupCreate,
        deferred: true,
        options: &[
            opt(
                "backup_type",
                "Type of backup",
                TEXT,
                false,
                &["full", "database", "config", "data_only"],
            ),
            opt("compress", "Compress backup files", BOOL, false, &[]),
            opt("backup_name", "Custom name for backup", TEXT, false, &[]),
            opt("include_logs", "Include log files", BOOL, false, &[]),
            opt("description", "Backup description", TEXT, false, &[]),
        ],
    },
    Command {
        name: "backup_list",
        description: "Lists available backups with filtering options.",
        action: Action::BackupsList,
        deferred: false,
        options: &[
            opt(
                "backup_type",
                "Filter by backup type",
                TEXT,
                false,
                &["full", "database", "config", "data_only", "module"],
            ),
            opt(
                "time_range",
                "Time range filter",
                TEXT,
                false,
                &["7d", "30d", "90d", "all"],
            ),
            opt(
                "limit",
                "Number of backups to display (1-50)",
                OptKind::Integer { min: 1, max: 50 },
                false,
                &[],
            ),
            opt(
                "sort_by",
                "Sort method",
                TEXT,
                false,
                &["date", "size", "name", "type"],
            ),
        ],
    },
    Command {
        name: "backup_restore",
        description: "Restores from a specific backup with verification.",
        action: Action::Restore,
        deferred: true,
        options: &[
            opt(
                "backup_id",
                "ID or name of backup to restore",
                TEXT,
                true,
                &[],
            ),
            opt(
                "confirm",
                "Confirmation: type the backup's module (or its name)",
                TEXT,
                true,
                &[],
            ),
            opt(
                "restore_type",
                "What to restore",
                TEXT,
                false,
                &["all", "database", "config", "data"],
            ),
            opt(
                "verify_backup",
                "Verify backup integrity before restore (always done)",
                BOOL,
                false,
                &[],
            ),
        ],
    },
    Command {
        name: "update_settings",
        description: "Manages update and backup settings and preferences.",
        action: Action::SettingsWrite,
        deferred: false,
        options: &[
            opt(
                "setting_category",
                "Category to configure",
                TEXT,
                true,
                SETTING_CATEGORIES,
            ),
            opt("setting_name", "Setting name", TEXT, true, &[]),
            opt("setting_value", "New setting value", TEXT, true, &[]),
            opt(
                "reset_to_default",
                "Reset to default value",
                BOOL,
                false,
                &[],
            ),
        ],
    },
];

/// The categories `/update_settings` may change: the seed's, with upkeep's `safety` and
/// `logging`. `discord` is left out on purpose: its bot token typed into a chat would
/// stay in the channel's history.
pub(crate) const SETTING_CATEGORIES: &[&str] = &[
    "update",
    "backup",
    "notification",
    "schedule",
    "safety",
    "logging",
];

/// The command called `name`.
pub(crate) fn find(name: &str) -> Option<&'static Command> {
    COMMANDS.iter().find(|c| c.name == name)
}

/// The application commands as Discord's API takes them (`PUT
/// /applications/{id}/commands`): every command a chat-input command (type 1).
pub(crate) fn application_commands() -> serde_json::Value {
    let commands = COMMANDS
        .iter()
        .map(|command| {
            let options: Vec<serde_json::Value> = command.options.iter().map(option).collect();
            serde_json::json!({
                "name": command.name,
                "type": 1,
                "description": command.description,
                "options": options,
            })
        })
        .collect();
    serde_json::Value::Array(commands)
}

fn option(opt: &Opt) -> serde_json::Value {
    let kind = match opt.kind {
        OptKind::Text => 3,
        OptKind::Integer { .. } => 4,
        OptKind::Boolean => 5,
    };
    let mut value = serde_json::json!({
        "name": opt.name,
        "description": opt.description,
        "type": kind,
        "required": opt.required,
    });
    if !opt.choices.is_empty() {
        value["choices"] = opt
            .choices
            .iter()
            .map(|c| serde_json::json!({ "name": c, "value": c }))
            .collect();
    }
    if let OptKind::Integer { min, max } = opt.kind {
        value["min_value"] = min.into();
        value["max_value"] = max.into();
    }
    value
}

#[cfg(test)]
mod tests {
    use super::COMMANDS;

    #[test]
    fn required_options_come_first_and_names_fit_discord() {
        for command in COMMANDS {
            assert!(command.name.len() <= 32 && command.description.len() <= 100);
            let first_optional = command.options.iter().position(|o| !o.required);
            if let Some(at) = first_optional {
                assert!(
                    command.options[at..].iter().all(|o| !o.required),
                    "{}: Discord refuses a required option after an optional one",
                    command.name
                );
            }
            for opt in command.options {
                assert!(
                    opt.name.len() <= 32 && opt.description.len() <= 100,
                    "{}",
                    opt.name
                );
            }
        }
    }
}
