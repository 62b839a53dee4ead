//! `upkeep schedule add|list|show|enable|disable|remove|install`.

use std::fmt::Write as _;

use upkeep_core::exit_codes;
use upkeep_core::ops::schedule::{self as ops, AddRequest, UnitDir};
use upkeep_core::schedule::Spec;
use upkeep_core::state::schedules::ScheduleRow;

use super::{Context, print_json, print_text};
use crate::cli::{ScheduleAddArgs, ScheduleCommand, ScheduleInstallArgs};
use crate::error::CliError;
use crate::render;

pub(crate) fn schedule(ctx: &Context, command: ScheduleCommand) -> Result<i32, CliError> {
    match command {
        ScheduleCommand::Add(args) => add(ctx, args),
        ScheduleCommand::List => show(ctx, &ops::list(&ctx.ops)?),
        ScheduleCommand::Show { name } => show(ctx, &[ops::show(&ctx.ops, &name)?]),
        ScheduleCommand::Enable { name } => show(ctx, &[ops::set_enabled(&ctx.ops, &name, true)?]),
        ScheduleCommand::Disable { name } => {
            show(ctx, &[ops::set_enabled(&ctx.ops, &name, false)?])
        }
        ScheduleCommand::Remove { name } => {
            ops::remove(&ctx.ops, &name)?;
            print_text(&format!("removed schedule {name}\n"))?;
            Ok(exit_codes::OK)
        }
        ScheduleCommand::Install(args) => install(ctx, args),
    }
}

fn spec_of(args: &ScheduleAddArgs) -> Result<Spec, CliError> {
    let pair = |v: &Vec<String>| (v[0].clone(), v[1].clone());
    let spec = if let Some(at) = &args.daily {
        Spec::parse_daily(at)
    } else if let Some(v) = &args.weekly {
        let (days, at) = pair(v);
        Spec::parse_weekly(&days, &at)
    } else if let Some(v) = &args.monthly {
        let (days, at) = pair(v);
        Spec::parse_monthly(&days, &at)
    } else {
        Spec::parse_cron(args.cron.as_deref().unwrap_or_default())
    };
    Ok(spec?)
}

fn add(ctx: &Context, args: ScheduleAddArgs) -> Result<i32, CliError> {
    let spec = spec_of(&args)?;
    let ScheduleAddArgs {
        name,
        daily: _,
        weekly: _,
        monthly: _,
        cron: _,
        tz,
        targets,
        types,
        disabled,
        force,
    } = args;
    let row = ops::add(
        &ctx.ops,
        AddRequest {
            name,
            spec,
            zone: tz,
            targets,
            types,
            enabled: !disabled,
            force,
        },
    )?;
    show(ctx, &[row])
}

fn show(ctx: &Context, rows: &[ScheduleRow]) -> Result<i32, CliError> {
    if ctx.json {
        let items: Vec<serde_json::Value> = rows
            .iter()
            .map(|r| {
                let spec: serde_json::Value = serde_json::from_str(&r.spec).unwrap_or_default();
                let describe = ops::describe(r).unwrap_or_default();
                serde_json::json!({
                    "name": r.name, "spec": spec, "describe": describe, "time_zone": r.time_zone,
                    "targets": r.targets, "types": r.types, "enabled": r.enabled, "force": r.force,
                    "last_run_ms": r.last_run_ms, "last_run_id": r.last_run_id,
                    "last_result": r.last_result, "next_run_ms": r.next_run_ms,
                })
            })
            .collect();
        print_json(&items)?;
        return Ok(exit_codes::OK);
    }
    if rows.is_empty() {
        print_text("no schedules; add one with `upkeep schedule add NAME --daily 03:00`\n")?;
        return Ok(exit_codes::OK);
    }
    let body: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            let when = ops::describe(r).unwrap_or_else(|e| e.to_string());
            let ts = |ms: Option<i64>| ms.map_or_else(|| "-".to_owned(), render::timestamp);
            vec![
                r.name.clone(),
                if r.enabled { "on" } else { "off" }.to_owned(),
                format!(
                    "{when} ({}){}",
                    r.time_zone,
                    if r.force { ", forced" } else { "" }
                ),
                if r.targets.is_empty() {
                    "-".to_owned()
                } else {
                    r.targets.join(",")
                },
                ts(r.next_run_ms),
                match (&r.last_run_id, &r.last_result) {
                    (Some(id), Some(result)) => format!("run {id}: {result}"),
                    _ => "-".to_owned(),
                },
            ]
        })
        .collect();
    print_text(&render::table(
        &["NAME", "", "WHEN", "TARGETS", "NEXT RUN", "LAST RUN"],
        &body,
    ))?;
    Ok(exit_codes::OK)
}

fn install(ctx: &Context, args: ScheduleInstallArgs) -> Result<i32, CliError> {
    let ScheduleInstallArgs {
        systemd: _,
        user,
        dir,
    } = args;
    let dir = match (dir, user) {
        (Some(dir), _) => UnitDir::Given(dir),
        (None, true) => UnitDir::User,
        (None, false) => UnitDir::System,
    };
    let written = ops::install(&ctx.ops, &dir)?;
    let mut text = String::new();
    for path in &written {
        let _ = writeln!(text, "wrote {}", path.display());
    }
    let timers: Vec<String> = written
        .iter()
        .filter(|p| p.extension().is_some_and(|e| e == "timer"))
        .filter_map(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .collect();
    if timers.is_empty() {
        text.push_str("no enabled schedules: nothing written\n");
    } else {
        let scope = if user { " --user" } else { "" };
        let _ = writeln!(
            text,
            "then: systemctl{scope} daemon-reload && systemctl{scope} enable --now {}",
            timers.join(" ")
        );
    }
    print_text(&text)?;
    Ok(exit_codes::OK)
}
