//! `upkeep discord commands [--register]`: the slash commands of the interactions
//! endpoint as Discord's API takes them, printed, or put as the application's commands
//! with the bot token from the settings.

use upkeep_core::exit_codes;

use super::{Context, print_json};
use crate::cli::DiscordCommand;
use crate::error::CliError;
use crate::serve::discord;

pub(crate) fn discord(ctx: &Context, command: &DiscordCommand) -> Result<i32, CliError> {
    let DiscordCommand::Commands { register } = *command;
    let commands = discord::application_commands();
    if !register {
        print_json(&commands)?;
        return Ok(exit_codes::OK);
    }
    let settings = &ctx.ops.resolved().discord;
    let missing = |key: &'static str| CliError::SettingMissing {
        action: "register the slash commands",
        key,
    };
    let application = settings
        .application_id
        .as_deref()
        .ok_or_else(|| missing("discord.application_id"))?;
    let token = settings
        .bot_token
        .as_deref()
        .ok_or_else(|| missing("discord.bot_token"))?;
    let registered = discord::register(&settings.api_base_url, application, token, &commands)?;
    let count = registered.as_array().map_or(0, Vec::len);
    crate::printer::get().status(&format!(
        "registered {} with application {application}",
        upkeep_core::message::count(count, "slash command", "slash commands")
    ));
    if ctx.json {
        print_json(&registered)?;
    }
    Ok(exit_codes::OK)
}
