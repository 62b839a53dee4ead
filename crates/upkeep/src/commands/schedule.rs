//! `upkeep schedule add|list|show|enable|disable|remove|install`.

use std::fmt::Write as _;

use upkeep_core::exit_codes;
use upkeep_core::schedule::Spec;
use upkeep_core::schedule::store::{self, NewSchedule};
use upkeep_core::state::Ledger;
use upkeep_core::state::schedules::ScheduleRow;

use super::{Context, print_json, print_text};
use crate::cli::{ScheduleAddArgs, ScheduleCommand, ScheduleInstallArgs};
use crate::error::{CliError, io};
use crate::render;

pub(crate) fn schedule(ctx: &Context, command: ScheduleCommand) -> Result<i32, CliError> {
    match command {
        ScheduleCommand::Add(args) => add(ctx, args),
        ScheduleCommand::List => list(ctx),
        ScheduleCommand::Show { name } => {
            let ledger = Ledger::open_existing(&ctx.state_dir)?
                .ok_or_else(|| store::ScheduleError::NotFound(name.clone()))?;
            show(ctx, &[store::find(&ledger, &name)?])
        }
        ScheduleCommand::Enable { name } => toggle(ctx, &name, true),
        ScheduleCommand::Disable { name } => toggle(ctx, &name, false),
        ScheduleCommand::Remove { name } => {
            let mut ledger = Ledger::open(&ctx.state_dir)?;
            if !ledger.remove_schedule(&name)? {
                return Err(store::ScheduleError::NotFound(name).into());
            }
            print_text(&format!("removed schedule {name}\n"))?;
            Ok(exit_codes::OK)
        }
        ScheduleCommand::Install(args) => install(ctx, &args),
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
    let mut ledger = Ledger::open(&ctx.state_dir)?;
    let row = store::add(
        &mut ledger,
        &NewSchedule {
            name: args.name,
            spec,
            zone: args.tz,
            targets: args.targets,
            types: args.types.iter().map(|t| t.name().to_owned()).collect(),
            enabled: !args.disabled,
        },
    )?;
    show(ctx, &[row])
}

fn list(ctx: &Context) -> Result<i32, CliError> {
    let rows = match Ledger::open_existing(&ctx.state_dir)? {
        Some(ledger) => ledger.schedules()?,
        None => Vec::new(),
    };
    show(ctx, &rows)
}

fn toggle(ctx: &Context, name: &str, enabled: bool) -> Result<i32, CliError> {
    let mut ledger = Ledger::open(&ctx.state_dir)?;
    let row = store::set_enabled(&mut ledger, name, enabled)?;
    show(ctx, &[row])
}

fn show(ctx: &Context, rows: &[ScheduleRow]) -> Result<i32, CliError> {
    if ctx.json {
        let items: Vec<serde_json::Value> = rows
            .iter()
            .map(|r| {
                let spec: serde_json::Value = serde_json::from_str(&r.spec).unwrap_or_default();
                let describe = store::spec_of(r).map(|s| s.describe()).unwrap_or_default();
                serde_json::json!({
                    "name": r.name, "spec": spec, "describe": describe, "time_zone": r.time_zone,
                    "targets": r.targets, "types": r.types, "enabled": r.enabled,
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
            let when = store::spec_of(r).map_or_else(|e| e.to_string(), |s| s.describe());
            let ts = |ms: Option<i64>| ms.map_or_else(|| "-".to_owned(), render::timestamp);
            vec![
                r.name.clone(),
                if r.enabled { "on" } else { "off" }.to_owned(),
                format!("{when} ({})", r.time_zone),
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

fn install(ctx: &Context, args: &ScheduleInstallArgs) -> Result<i32, CliError> {
    let dir = match (&args.dir, args.user) {
        (Some(dir), _) => dir.clone(),
        (None, true) => dirs_config()?.join("systemd").join("user"),
        (None, false) => std::path::PathBuf::from("/etc/systemd/system"),
    };
    let manifest = upkeep_core::manifest::locate(ctx.manifest_arg.as_deref())?;
    let manifest = std::path::absolute(&manifest).map_err(io("find the manifest"))?;
    let exe = std::env::current_exe().map_err(io("find the upkeep binary"))?;
    let rows = match Ledger::open_existing(&ctx.state_dir)? {
        Some(ledger) => ledger.schedules()?,
        None => Vec::new(),
    };
    let mut text = String::new();
    let mut timers = Vec::new();
    for row in rows.iter().filter(|r| r.enabled) {
        let (service, timer) = store::systemd_units(row, &exe, &manifest, &ctx.state_dir)?;
        for (name, body) in [
            (format!("upkeep-{}.service", row.name), service),
            (format!("upkeep-{}.timer", row.name), timer.clone()),
        ] {
            let path = dir.join(&name);
            upkeep_core::atomic::write_new_or_replace(&path, body.as_bytes())
                .map_err(io(format!("write {}", path.display())))?;
            let _ = writeln!(text, "wrote {}", path.display());
        }
        timers.push(format!("upkeep-{}.timer", row.name));
    }
    if timers.is_empty() {
        text.push_str("no enabled schedules: nothing written\n");
    } else {
        let scope = if args.user { " --user" } else { "" };
        let _ = writeln!(
            text,
            "then: systemctl{scope} daemon-reload && systemctl{scope} enable --now {}",
            timers.join(" ")
        );
    }
    print_text(&text)?;
    Ok(exit_codes::OK)
}

fn dirs_config() -> Result<std::path::PathBuf, CliError> {
    std::env::var_os("XDG_CONFIG_HOME")
        .map(std::path::PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| std::path::PathBuf::from(h).join(".config")))
        .ok_or(CliError::NoHome)
}
