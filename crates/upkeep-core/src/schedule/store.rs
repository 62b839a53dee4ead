//! Schedules kept in the ledger: adding one (validated, with its first next run),
//! enabling and disabling, recording a scheduled run, and the systemd units for people who
//! prefer timers to `upkeep daemon`.

use std::path::Path;

use super::Spec;
use crate::state::schedules::ScheduleRow;
use crate::state::{Ledger, StateError, now_ms};

/// Why a schedule operation failed. Messages read after "failed to "; what to do next
/// is the binary's hint.
#[derive(Debug, thiserror::Error)]
pub enum ScheduleError {
    /// A name that is not a simple identifier.
    #[error("use `{0}` as a schedule name: names are letters, digits, `-` and `_`")]
    BadName(String),
    /// The name is taken.
    #[error("add schedule `{0}`: one with that name exists")]
    Exists(String),
    /// No such schedule.
    #[error("find schedule `{0}`: no schedule has that name")]
    NotFound(String),
    /// The time zone is not known.
    #[error("find time zone `{0}`: it is not in the time zone database")]
    TimeZone(String),
    /// The stored spec cannot be read (written by a newer upkeep?).
    #[error("read the spec of schedule `{name}`: {message}")]
    Spec {
        /// The schedule.
        name: String,
        /// What failed.
        message: String,
    },
    /// systemd cannot express it.
    #[error("write a systemd timer for `{0}`: its cron expression has no OnCalendar= equivalent")]
    NoCalendar(String),
    /// The ledger failed.
    #[error(transparent)]
    State(#[from] StateError),
}

/// The time zone called `name` (`UTC`, `Europe/Berlin`, or `local` for the system's).
///
/// # Errors
/// [`ScheduleError::TimeZone`].
pub fn time_zone(name: &str) -> Result<jiff::tz::TimeZone, ScheduleError> {
    if name == "local" {
        return Ok(jiff::tz::TimeZone::system());
    }
    jiff::tz::TimeZone::get(name).map_err(|_| ScheduleError::TimeZone(name.to_owned()))
}

/// The system's time zone name, for new schedules that name none.
pub fn local_zone_name() -> String {
    jiff::tz::TimeZone::system()
        .iana_name()
        .unwrap_or("UTC")
        .to_owned()
}

/// When `spec` fires next after `after_ms`, in `zone`.
///
/// # Errors
/// [`ScheduleError::TimeZone`].
pub fn next_run(spec: &Spec, zone: &str, after_ms: i64) -> Result<Option<i64>, ScheduleError> {
    let tz = time_zone(zone)?;
    let after =
        jiff::Timestamp::from_millisecond(after_ms).unwrap_or_else(|_| jiff::Timestamp::now());
    Ok(spec
        .next_after(after, &tz)
        .map(jiff::Timestamp::as_millisecond))
}

/// The spec stored with a schedule.
///
/// # Errors
/// [`ScheduleError::Spec`].
pub fn spec_of(row: &ScheduleRow) -> Result<Spec, ScheduleError> {
    serde_json::from_str(&row.spec).map_err(|e| ScheduleError::Spec {
        name: row.name.clone(),
        message: e.to_string(),
    })
}

/// What a new schedule is.
#[derive(Debug, Clone)]
pub struct NewSchedule {
    /// Its name.
    pub name: String,
    /// When it fires.
    pub spec: Spec,
    /// IANA time zone (or `local`).
    pub zone: String,
    /// Modules it runs (empty: the manifest's entrypoint, or all).
    pub targets: Vec<String>,
    /// Update types it covers (empty: all).
    pub types: Vec<String>,
    /// Whether it starts enabled.
    pub enabled: bool,
    /// Whether its runs are forced (every selected module runs even when up to date).
    pub force: bool,
}

/// Add a schedule with its first next run.
///
/// # Errors
/// A bad name, an unknown time zone, a taken name, or a ledger error.
pub fn add(ledger: &mut Ledger, new: &NewSchedule) -> Result<ScheduleRow, ScheduleError> {
    let ok = !new.name.is_empty()
        && new.name.len() <= 64
        && new
            .name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if !ok {
        return Err(ScheduleError::BadName(new.name.clone()));
    }
    let zone = if new.zone == "local" {
        local_zone_name()
    } else {
        new.zone.clone()
    };
    let next = next_run(&new.spec, &zone, now_ms())?;
    let row = ScheduleRow {
        name: new.name.clone(),
        spec: serde_json::to_string(&new.spec).unwrap_or_default(),
        time_zone: zone,
        targets: new.targets.clone(),
        types: new.types.clone(),
        enabled: new.enabled,
        created_ms: now_ms(),
        last_run_ms: None,
        last_run_id: None,
        last_result: None,
        next_run_ms: next.filter(|_| new.enabled),
        force: new.force,
    };
    if !ledger.add_schedule(&row)? {
        return Err(ScheduleError::Exists(new.name.clone()));
    }
    Ok(row)
}

/// The schedule called `name`.
///
/// # Errors
/// [`ScheduleError::NotFound`] or a ledger error.
pub fn find(ledger: &Ledger, name: &str) -> Result<ScheduleRow, ScheduleError> {
    ledger
        .schedule(name)?
        .ok_or_else(|| ScheduleError::NotFound(name.to_owned()))
}

/// Enable (computing the next run) or disable a schedule.
///
/// # Errors
/// [`ScheduleError::NotFound`] or a ledger error.
pub fn set_enabled(
    ledger: &mut Ledger,
    name: &str,
    enabled: bool,
) -> Result<ScheduleRow, ScheduleError> {
    let row = find(ledger, name)?;
    let next = if enabled {
        next_run(&spec_of(&row)?, &row.time_zone, now_ms())?
    } else {
        None
    };
    ledger.set_schedule_enabled(name, enabled, next)?;
    find(ledger, name)
}

/// Record that the schedule ran (run id and result) and compute its next run.
///
/// # Errors
/// [`ScheduleError::NotFound`] or a ledger error.
pub fn ran(
    ledger: &mut Ledger,
    name: &str,
    run_id: Option<i64>,
    result: crate::state::RunStatus,
) -> Result<(), ScheduleError> {
    let row = find(ledger, name)?;
    let next = if row.enabled {
        next_run(&spec_of(&row)?, &row.time_zone, now_ms())?
    } else {
        None
    };
    ledger.schedule_ran(name, run_id, result, next)?;
    Ok(())
}

/// Record that `row` came due and did not run because `reason`, with its "schedule
/// skipped" notification for `routing`. An enabled schedule moves on to its next run, so
/// a skipped time is skipped once, not at every look.
///
/// # Errors
/// A bad stored spec, or a ledger error.
pub fn skipped(
    ledger: &mut Ledger,
    row: &ScheduleRow,
    reason: &str,
    routing: &crate::notify::Routing,
) -> Result<(), ScheduleError> {
    let now = now_ms();
    let next = if row.enabled {
        Some(next_run(&spec_of(row)?, &row.time_zone, now)?)
    } else {
        None
    };
    let due = row.next_run_ms.filter(|due| *due <= now).unwrap_or(now);
    let event = crate::notify::events::schedule_skipped(&row.name, due, reason);
    ledger.record_schedule_skipped(&row.name, reason, next, &routing.rows(&[event]))?;
    Ok(())
}

/// Record that `row` came due and its run could not start because `reason`: a run in the
/// history with that reason, and its "run failed to start" notification for `routing`.
/// The schedule moves on to its next time. Returns the run's id.
///
/// # Errors
/// A bad stored spec, or a ledger error.
pub fn not_started(
    ledger: &mut Ledger,
    row: &ScheduleRow,
    manifest: &Path,
    reason: &str,
    routing: &crate::notify::Routing,
) -> Result<i64, ScheduleError> {
    let next = if row.enabled {
        next_run(&spec_of(row)?, &row.time_zone, now_ms())?
    } else {
        None
    };
    let trigger = format!("schedule:{}", row.name);
    let run_id = ledger.record_run_not_started(&row.name, manifest, reason, next, |id| {
        routing.rows(&[crate::notify::events::run_not_started(id, &trigger, reason)])
    })?;
    Ok(run_id)
}

/// The `.service` and `.timer` units that run the schedule with systemd
/// (`Persistent=true`: a run missed while the machine was off happens at the next boot).
/// The service starts `exe` with `passed_on` (the
/// manifest, state directory and settings file the installing command used), so the
/// timer's runs see the same settings.
///
/// # Errors
/// [`ScheduleError::NoCalendar`] for cron expressions systemd cannot express.
pub fn systemd_units(
    row: &ScheduleRow,
    exe: &Path,
    passed_on: &[std::ffi::OsString],
    now: jiff::Timestamp,
) -> Result<(String, String), ScheduleError> {
    let spec = spec_of(row)?;
    let calendar = spec
        .on_calendar()
        .ok_or_else(|| ScheduleError::NoCalendar(row.name.clone()))?;
    let gaps = gap_entries(&spec, &row.time_zone, now)?;
    let quote = |p: &std::ffi::OsStr| shell_escape::escape(p.to_string_lossy()).into_owned();
    let places: Vec<String> = passed_on.iter().map(|a| quote(a)).collect();
    let service = format!(
        "[Unit]\nDescription=upkeep scheduled run `{name}` ({what})\nAfter=network-online.target\nWants=network-online.target\n\n\
         [Service]\nType=oneshot\nExecStart={exe} {places} run --scheduled {name} --wait{force}\n",
        name = row.name,
        what = spec.describe(),
        exe = quote(exe.as_os_str()),
        places = places.join(" "),
        // The run reads `force` from the schedule itself; the flag says so to whoever reads
        // the unit.
        force = if row.force { " --force" } else { "" },
    );
    let timer = format!(
        "[Unit]\nDescription=upkeep schedule `{name}`: {what}\n\n\
         [Timer]\nOnCalendar={calendar} {zone}\n{gaps}Persistent=true\nUnit=upkeep-{name}.service\n\n\
         [Install]\nWantedBy=timers.target\n",
        name = row.name,
        what = spec.describe(),
        zone = row.time_zone,
    );
    Ok((service, timer))
}

/// How far ahead `schedule install` lists the firings systemd would miss.
pub const GAP_YEARS: i16 = 10;

/// `OnCalendar=` lines for the firings within [`GAP_YEARS`] of `now` that fall on a
/// wall time the clocks skip (see [`crate::schedule::Spec::gap_firings`]), in UTC, with a
/// comment saying why; empty when there are none.
fn gap_entries(spec: &Spec, zone: &str, now: jiff::Timestamp) -> Result<String, ScheduleError> {
    let tz = time_zone(zone)?;
    let until = now
        .to_zoned(jiff::tz::TimeZone::UTC)
        .checked_add(jiff::Span::new().years(GAP_YEARS))
        .map_or(now, |z| z.timestamp());
    let firings = spec.gap_firings(now, until, &tz);
    let Some(last) = firings.last() else {
        return Ok(String::new());
    };
    let mut text = format!(
        "# On these days the clocks in {zone} skip the scheduled time; upkeep fires at the \
         change, systemd's calendar above would not. Listed up to {}: run \
         `upkeep schedule install` again before then.\n",
        last.strftime("%Y-%m-%d")
    );
    let lines: Vec<String> = firings
        .iter()
        .map(|at| format!("OnCalendar={} UTC\n", at.strftime("%Y-%m-%d %H:%M:%S")))
        .collect();
    text.push_str(&lines.concat());
    Ok(text)
}
