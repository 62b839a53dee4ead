//! `upkeep token create|list|revoke`: API tokens, as the person at this host (a local
//! owner); each create and revoke is recorded in the audit trail.

use upkeep_core::exit_codes;
use upkeep_core::ops::access::{self as ops, Token, TokenRequest};
use upkeep_core::ops::audit::Caller;

use super::{Context, print_json, print_text};
use crate::cli::TokenCommand;
use crate::error::CliError;
use crate::render;

pub(crate) fn token(ctx: &Context, command: TokenCommand) -> Result<i32, CliError> {
    let caller = Caller::local();
    match command {
        TokenCommand::Create {
            name,
            role,
            expires,
        } => {
            let (token, secret) = ops::create_token(
                &ctx.ops,
                &caller,
                TokenRequest {
                    name,
                    role,
                    expires,
                },
            )?;
            if ctx.json {
                let mut value = serde_json::to_value(&token).map_err(std::io::Error::other)?;
                value["secret"] = secret.expose().into();
                print_json(&value)?;
            } else {
                crate::printer::get().status(&format!(
                    "created token `{}` ({}{}); its secret follows and is not shown again",
                    token.name,
                    token.role,
                    token
                        .expires_ms
                        .map(|ms| format!(", expires {}", render::timestamp(ms)))
                        .unwrap_or_default()
                ));
                print_text(&format!("{}\n", secret.expose()))?;
            }
            Ok(exit_codes::OK)
        }
        TokenCommand::List { all } => show(ctx, &ops::list_tokens(&ctx.ops, &caller, all)?),
        TokenCommand::Revoke { name } => {
            let token = ops::revoke_token(&ctx.ops, &caller, &name)?;
            if ctx.json {
                print_json(&token)?;
            } else {
                print_text(&format!("revoked token `{}`\n", token.name))?;
            }
            Ok(exit_codes::OK)
        }
    }
}

fn show(ctx: &Context, tokens: &[Token]) -> Result<i32, CliError> {
    if ctx.json {
        print_json(tokens)?;
        return Ok(exit_codes::OK);
    }
    if tokens.is_empty() {
        print_text("no tokens; create one with `upkeep token create NAME --role viewer`\n")?;
        return Ok(exit_codes::OK);
    }
    let ts = |ms: Option<i64>| ms.map_or_else(|| "-".to_owned(), render::timestamp);
    let body: Vec<Vec<String>> = tokens
        .iter()
        .map(|t| {
            vec![
                t.name.clone(),
                t.role.to_string(),
                t.state.as_str().to_owned(),
                ts(Some(t.created_ms)),
                ts(t.expires_ms),
                ts(t.last_used_ms),
                t.created_by.clone(),
            ]
        })
        .collect();
    print_text(&render::table(
        &[
            "NAME",
            "ROLE",
            "STATE",
            "CREATED",
            "EXPIRES",
            "LAST USED",
            "BY",
        ],
        &body,
    ))?;
    Ok(exit_codes::OK)
}
