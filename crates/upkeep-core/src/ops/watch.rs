//! Whether the ledger changed, cheaply, for a long-running front end that keeps answers
//! derived from it (the HTTP server's status report and identified tokens).

use std::sync::{Mutex, PoisonError};

use super::Context;
use crate::state::Ledger;

/// One ledger connection kept open to read SQLite's `PRAGMA data_version`: a number that
/// changes whenever any other connection (of this process or another, such as a shell's
/// `upkeep token revoke`) commits, and only then. It never creates the ledger; it opens
/// it once it exists.
#[derive(Debug)]
pub struct LedgerWatch {
    state_dir: std::path::PathBuf,
    ledger: Mutex<Option<Ledger>>,
}

impl LedgerWatch {
    /// A watch on `ctx`'s ledger.
    #[must_use]
    pub fn new(ctx: &Context) -> Self {
        Self {
            state_dir: ctx.state_dir().to_owned(),
            ledger: Mutex::new(None),
        }
    }

    /// The ledger's version now: `None` while there is no ledger, `Err` when it cannot
    /// be read (the connection is dropped and opened again next time).
    ///
    /// # Errors
    /// The ledger cannot be opened or read.
    pub fn version(&self) -> Result<Option<i64>, super::Error> {
        let mut ledger = self.ledger.lock().unwrap_or_else(PoisonError::into_inner);
        if ledger.is_none() {
            *ledger = Ledger::open_existing(&self.state_dir)?;
        }
        let Some(open) = ledger.as_ref() else {
            return Ok(None);
        };
        match open.data_version() {
            Ok(version) => Ok(Some(version)),
            Err(err) => {
                *ledger = None;
                Err(err.into())
            }
        }
    }
}
