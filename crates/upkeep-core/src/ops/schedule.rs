//! `schedule add|list|show|enable|disable|remove|install`.

use std::path::{Path, PathBuf};

use super::{Context, Error, io};
use crate::manifest::ManifestError;
use crate::plan::PlanOptions;
use crate::schedule::Spec;
use crate::schedule::store::{self, NewSchedule, ScheduleError};
use crate::state::schedules::ScheduleRow;
use crate::updates::UpdateType;

/// A schedule to add.
#[derive(Debug, Clone)]
pub struct AddRequest {
    /// Its name.
    pub name: String,
    /// When it fires.
    pub spec: Spec,
    /// IANA time zone, or `local`.
    pub zone: String,
    /// Modules it runs (empty: the entrypoint, else all).
    pub targets: Vec<String>,
    /// Update types it covers (empty: all).
    pub types: Vec<UpdateType>,
    /// Whether it starts enabled.
    pub enabled: bool,
    /// Whether its runs are forced: every module they select runs even when up to date
    /// (as `run --force`).
    pub force: bool,
}

/// Add a schedule. Its targets must name modules of the manifest (with "did you mean")
/// and, with types, select at least one module whose updates are of those types: a
/// schedule that would run nothing is refused now, not discovered at 03:00.
///
/// # Errors
/// The manifest, an unknown target, a selection that runs nothing, a bad name, a
/// schedule of that name, or the ledger.
pub fn add(ctx: &Context, request: AddRequest) -> Result<ScheduleRow, Error> {
    let AddRequest {
        name,
        spec,
        zone,
        targets,
        types,
        enabled,
        force,
    } = request;
    let manifest = match ctx.manifest() {
        // Nothing to check a schedule of every module against yet; its runs will say so
        // (recorded as not started) if there is still no manifest then.
        Err(Error::Manifest(missing))
            if targets.is_empty() && types.is_empty() && is_missing(&missing) =>
        {
            None
        }
        other => Some(other?),
    };
    let options = PlanOptions {
        targets: targets.clone(),
        types: types.clone(),
        ..PlanOptions::default()
    };
    let empty = match &manifest {
        Some(manifest) => crate::plan::plan(manifest, &std::collections::HashMap::new(), &options)?
            .steps
            .is_empty(),
        None => false,
    };
    if empty {
        return Err(Error::SelectsNothing {
            name,
            targets,
            types: types.iter().map(|t| t.name().to_owned()).collect(),
        });
    }
    let mut ledger = ctx.ledger()?;
    Ok(store::add(
        &mut ledger,
        &NewSchedule {
            name,
            spec,
            zone,
            targets,
            types: types.iter().map(|t| t.name().to_owned()).collect(),
            enabled,
            force,
        },
    )?)
}

/// Whether `error` says there is no manifest file (none found, or the one given does not
/// exist).
fn is_missing(error: &ManifestError) -> bool {
    match error {
        ManifestError::NotFound | ManifestError::Missing { .. } => true,
        ManifestError::Read { .. } | ManifestError::Invalid { .. } => false,
    }
}

/// Every schedule.
///
/// # Errors
/// The ledger.
pub fn list(ctx: &Context) -> Result<Vec<ScheduleRow>, Error> {
    Ok(match ctx.existing_ledger()? {
        Some(ledger) => ledger.schedules()?,
        None => Vec::new(),
    })
}

/// One schedule.
///
/// # Errors
/// No such schedule, or the ledger.
pub fn show(ctx: &Context, name: &str) -> Result<ScheduleRow, Error> {
    let ledger = ctx
        .existing_ledger()?
        .ok_or_else(|| ScheduleError::NotFound(name.to_owned()))?;
    Ok(store::find(&ledger, name)?)
}

/// Turn a schedule on or off.
///
/// # Errors
/// No such schedule, or the ledger.
pub fn set_enabled(ctx: &Context, name: &str, enabled: bool) -> Result<ScheduleRow, Error> {
    let mut ledger = ctx.ledger()?;
    Ok(store::set_enabled(&mut ledger, name, enabled)?)
}

/// Remove a schedule.
///
/// # Errors
/// No such schedule, or the ledger.
pub fn remove(ctx: &Context, name: &str) -> Result<(), Error> {
    let mut ledger = ctx.ledger()?;
    if ledger.remove_schedule(name)? {
        Ok(())
    } else {
        Err(ScheduleError::NotFound(name.to_owned()).into())
    }
}

/// Where `schedule install` writes units.
#[derive(Debug, Clone)]
pub enum UnitDir {
    /// This directory.
    Given(PathBuf),
    /// The user's systemd directory (`$XDG_CONFIG_HOME/systemd/user`).
    User,
    /// `/etc/systemd/system`.
    System,
}

/// Write a `.service` and a `.timer` unit per enabled schedule. Each service starts this
/// upkeep binary with the manifest, state directory and settings file of `ctx`
/// ([`Context::passed_on`]), so a timer's run sees the same settings as the person who
/// installed it. Returns the paths written, services and timers in turn.
///
/// # Errors
/// The manifest cannot be found, a schedule systemd cannot express, or a unit cannot be
/// written.
pub fn install(ctx: &Context, dir: &UnitDir) -> Result<Vec<PathBuf>, Error> {
    let dir = match dir {
        UnitDir::Given(dir) => dir.clone(),
        UnitDir::User => user_config_dir()?.join("systemd").join("user"),
        UnitDir::System => PathBuf::from("/etc/systemd/system"),
    };
    let passed_on = ctx.passed_on()?;
    let exe = std::env::current_exe().map_err(io("find the upkeep binary"))?;
    let mut written = Vec::new();
    for row in list(ctx)?.iter().filter(|r| r.enabled) {
        let now = jiff::Timestamp::from_millisecond(ctx.clock().now_ms())
            .unwrap_or(jiff::Timestamp::UNIX_EPOCH);
        let (service, timer) = store::systemd_units(row, &exe, &passed_on, now)?;
        for (name, body) in [
            (format!("upkeep-{}.service", row.name), service),
            (format!("upkeep-{}.timer", row.name), timer),
        ] {
            let path = dir.join(&name);
            write_unit(&path, &body)?;
            written.push(path);
        }
    }
    Ok(written)
}

fn write_unit(path: &Path, body: &str) -> Result<(), Error> {
    crate::atomic::write_new_or_replace(path, body.as_bytes())
        .map_err(io(format!("write {}", path.display())))
}

fn user_config_dir() -> Result<PathBuf, Error> {
    std::env::var_os("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")))
        .ok_or(Error::NoHome)
}

/// The schedule's spec, described ("every day at 03:00"), or why it cannot be read.
pub fn describe(row: &ScheduleRow) -> Result<String, ScheduleError> {
    store::spec_of(row).map(|s| s.describe())
}
