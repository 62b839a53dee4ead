//! What `upkeep daemon` needs from the engine: which schedules are due, and waiting for the
//! next one in a way SIGTERM and SIGINT end at once.

use std::time::Duration;

use crate::state::Ledger;
use crate::state::schedules::ScheduleRow;

use super::store::ScheduleError;

/// Why a wait ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wake {
    /// The time came.
    Time,
    /// SIGTERM or SIGINT: stop.
    Stop,
}

/// Enabled schedules whose next run is at or before `now_ms`, earliest first. A schedule
/// whose time passed while nothing ran (the host was down) is due once, not once per
/// missed time: running it computes its next run from now.
///
/// # Errors
/// A ledger error.
pub fn due(ledger: &Ledger, now_ms: i64) -> Result<Vec<ScheduleRow>, ScheduleError> {
    let mut rows: Vec<ScheduleRow> = ledger
        .schedules()?
        .into_iter()
        .filter(|r| r.enabled && r.next_run_ms.is_some_and(|next| next <= now_ms))
        .collect();
    rows.sort_by_key(|r| r.next_run_ms);
    Ok(rows)
}

/// When the earliest enabled schedule fires next, if any.
///
/// # Errors
/// A ledger error.
pub fn next_due(ledger: &Ledger) -> Result<Option<i64>, ScheduleError> {
    Ok(ledger
        .schedules()?
        .into_iter()
        .filter(|r| r.enabled)
        .filter_map(|r| r.next_run_ms)
        .min())
}

/// Waits between schedules. Created once, so a SIGTERM or SIGINT that arrives while a
/// schedule is being looked up (not waited for) is still seen by the next wait.
#[derive(Debug)]
pub struct Waiter {
    runtime: tokio::runtime::Runtime,
    term: Option<tokio::signal::unix::Signal>,
    int: Option<tokio::signal::unix::Signal>,
}

impl Waiter {
    /// Install the signal handlers.
    ///
    /// # Errors
    /// The runtime cannot start.
    pub fn new() -> std::io::Result<Self> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let (term, int) = runtime.block_on(async {
            use tokio::signal::unix::{SignalKind, signal};
            (
                signal(SignalKind::terminate()).ok(),
                signal(SignalKind::interrupt()).ok(),
            )
        });
        Ok(Self { runtime, term, int })
    }

    /// Sleep for `duration` unless SIGTERM or SIGINT comes first (or came since the last
    /// wait).
    pub fn wait(&mut self, duration: Duration) -> Wake {
        let Self { runtime, term, int } = self;
        runtime.block_on(async {
            let term = async {
                match term {
                    Some(s) => s.recv().await,
                    None => std::future::pending().await,
                }
            };
            let int = async {
                match int {
                    Some(s) => s.recv().await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                biased;
                _ = term => Wake::Stop,
                _ = int => Wake::Stop,
                () = tokio::time::sleep(duration) => Wake::Time,
            }
        })
    }
}
