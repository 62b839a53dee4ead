//! `upkeep settings list|get|set|reset`. Notification channels are listed (URLs redacted,
//! secrets never shown) but edited in the file.

use upkeep_core::exit_codes;

use super::{Context, print_json, print_text};
use crate::cli::SettingsCommand;
use crate::error::CliError;
use crate::render;

pub(crate) fn settings(ctx: &Context, command: SettingsCommand) -> Result<i32, CliError> {
    let mut settings = ctx.settings()?;
    match command {
        SettingsCommand::List => {
            let rows = settings.list();
            if ctx.json {
                let items: Vec<serde_json::Value> = rows
                    .iter()
                    .map(|(def, value, is_default)| {
                        serde_json::json!({
                            "key": def.key(),
                            "value": value,
                            "default": is_default,
                            "in_effect": def.in_effect(),
                            "doc": def.doc,
                        })
                    })
                    .collect();
                let channels = super::notify::channel_rows(&settings);
                print_json(&serde_json::json!({
                    "file": settings.path(),
                    "settings": items,
                    "channels": channels,
                }))?;
            } else {
                let mut text = render::settings_table(settings.path(), &rows);
                let channels = super::notify::channel_rows(&settings);
                text.push('\n');
                text.push_str(&render::channels(settings.path(), &channels));
                print_text(&text)?;
            }
        }
        SettingsCommand::Get { key } => {
            let value = settings.get(&key)?;
            if ctx.json {
                print_json(&serde_json::json!({ "key": key, "value": value }))?;
            } else {
                print_text(&format!("{value}\n"))?;
            }
        }
        SettingsCommand::Set { key, value } => {
            settings.set(&key, &value)?;
            settings.save()?;
            let now = settings.get(&key)?;
            report(ctx, &key, now, settings.path())?;
        }
        SettingsCommand::Reset { key } => {
            settings.reset(&key)?;
            settings.save()?;
            let now = settings.get(&key)?;
            report(ctx, &key, now, settings.path())?;
        }
    }
    Ok(exit_codes::OK)
}

fn report(
    ctx: &Context,
    key: &str,
    value: &upkeep_core::settings::Value,
    path: &std::path::Path,
) -> Result<(), CliError> {
    if ctx.json {
        print_json(&serde_json::json!({ "key": key, "value": value, "file": path }))
    } else {
        print_text(&format!("{key} = {value}  ({})\n", path.display()))
    }
}
