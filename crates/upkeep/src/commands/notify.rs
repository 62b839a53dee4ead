//! `upkeep notify test|list|pending|flush`.

use upkeep_core::exit_codes;
use upkeep_core::ops::notify as ops;

use super::{Context, print_json, print_text};
use crate::cli::NotifyCommand;
use crate::error::CliError;
use crate::render;

pub(crate) fn notify(ctx: &Context, command: NotifyCommand) -> Result<i32, CliError> {
    match command {
        NotifyCommand::Test { channel } => {
            let results = ops::test(&ctx.ops, channel.as_deref())?;
            if ctx.json {
                print_json(&results)?;
            } else {
                print_text(&render::tested(&results))?;
            }
            Ok(if results.iter().all(|r| r.delivered) {
                exit_codes::OK
            } else {
                exit_codes::MODULES_FAILED
            })
        }
        NotifyCommand::List => {
            let rows = ops::channels(&ctx.ops);
            if ctx.json {
                print_json(&rows)?;
            } else {
                print_text(&render::channels(ctx.ops.config(), &rows))?;
            }
            Ok(exit_codes::OK)
        }
        NotifyCommand::Pending => {
            let rows = ops::pending(&ctx.ops)?;
            if ctx.json {
                print_json(&rows)?;
            } else {
                print_text(&render::pending(&rows))?;
            }
            Ok(exit_codes::OK)
        }
        NotifyCommand::Flush => {
            let report = ops::flush(&ctx.ops)?;
            if ctx.json {
                print_json(&report)?;
            } else {
                print_text(&render::flushed(&report))?;
            }
            Ok(if report.attempts.len() == report.delivered() {
                exit_codes::OK
            } else {
                exit_codes::MODULES_FAILED
            })
        }
    }
}
