//! `upkeep settings list|get|set|reset`. Notification channels are listed (URLs redacted,
//! secrets never shown) but edited in the file.

use upkeep_core::exit_codes;
use upkeep_core::ops::settings as ops;

use super::{Context, print_json, print_text};
use crate::cli::SettingsCommand;
use crate::error::CliError;
use crate::render;

pub(crate) fn settings(ctx: &Context, command: SettingsCommand) -> Result<i32, CliError> {
    let file = ctx.ops.config();
    match command {
        SettingsCommand::List => {
            let rows = ops::list(&ctx.ops);
            let channels = upkeep_core::ops::notify::channels(&ctx.ops);
            if ctx.json {
                print_json(&serde_json::json!({
                    "file": file,
                    "settings": rows,
                    "channels": channels,
                }))?;
            } else {
                let mut text = render::settings_table(file, &rows);
                text.push('\n');
                text.push_str(&render::channels(file, &channels));
                print_text(&text)?;
            }
        }
        SettingsCommand::Get { key } => {
            let value = ops::get(&ctx.ops, &key)?;
            if ctx.json {
                print_json(&serde_json::json!({ "key": key, "value": value }))?;
            } else {
                print_text(&format!("{value}\n"))?;
            }
        }
        SettingsCommand::Set { key, value } => {
            let now = ops::set(&ctx.ops, &key, &value)?;
            report(ctx, &key, &now)?;
        }
        SettingsCommand::Reset { key } => match ops::reset(&ctx.ops, &key)? {
            Some(now) => report(ctx, &key, &now)?,
            // A setting upkeep no longer has: it left the file and has no value.
            None if ctx.json => {
                print_json(&serde_json::json!({ "key": key, "value": null, "file": file }))?;
            }
            None => print_text(&format!("{key} removed  ({})\n", file.display()))?,
        },
    }
    Ok(exit_codes::OK)
}

fn report(ctx: &Context, key: &str, value: &upkeep_core::settings::Value) -> Result<(), CliError> {
    let path = ctx.ops.config();
    if ctx.json {
        print_json(&serde_json::json!({ "key": key, "value": value, "file": path }))
    } else {
        print_text(&format!("{key} = {value}  ({})\n", path.display()))
    }
}
