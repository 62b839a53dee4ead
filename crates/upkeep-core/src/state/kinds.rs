//! The kinds of rows the ledger stores as text, as enums: a module run's outcome and a
//! run's result. Each has one spelling, given once by `spelled!`; writing binds the enum
//! and reading parses the column, so a misspelt or unknown name cannot reach the ledger
//! and a row the ledger holds cannot be read back as something else.
//!
//! These are storage-level names only. What an outcome means and what it carries (an exit
//! code, a tail of output, a rollback's backup) is the run's (`run::Outcome`, which maps
//! itself to a [`ModuleOutcome`] in one place).

/// A module run's outcome, as the `module_runs.outcome` column spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ModuleOutcome {
    /// It started and has not ended (yet): the row its start wrote.
    Running,
    /// Upkeep stopped before it ended; the next run found it so.
    Interrupted,
    /// It ran and succeeded.
    Succeeded,
    /// It ran and failed.
    Failed,
    /// It ran past its timeout and was killed.
    TimedOut,
    /// The run was cancelled.
    Cancelled,
    /// A requirement did not end well.
    Blocked,
    /// Its files did not match their checksum.
    IntegrityRefused,
    /// It had nothing to do.
    Skipped,
    /// Dry run: it would have run (never stored, but spelled here with the rest).
    WouldRun,
    /// Its pre-update backup failed.
    BackupFailed,
    /// Unhealthy after its update with nothing to roll back.
    HealthFailed,
    /// Rolled back from its pre-update backup.
    RolledBack,
    /// Its rollback failed; held until `upkeep clear`.
    NeedsIntervention,
    /// Held since an earlier run.
    Held,
}

spelled!(ModuleOutcome {
    Running => "running",
    Interrupted => "interrupted",
    Succeeded => "succeeded",
    Failed => "failed",
    TimedOut => "timed-out",
    Cancelled => "cancelled",
    Blocked => "blocked",
    IntegrityRefused => "integrity-refused",
    Skipped => "skipped",
    WouldRun => "would-run",
    BackupFailed => "backup-failed",
    HealthFailed => "health-failed",
    RolledBack => "rolled-back",
    NeedsIntervention => "needs-intervention",
    Held => "held",
});

/// A run's result, as the `runs.result` column (and a schedule's `last_result`) spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RunStatus {
    /// It started and has not ended (yet).
    Running,
    /// Every module succeeded or had nothing to do.
    Succeeded,
    /// At least one module failed, timed out or was blocked.
    Failed,
    /// At least one module was refused for its checksum.
    IntegrityRefused,
    /// It was cancelled.
    Cancelled,
    /// Upkeep stopped before it ended; the next run found it so.
    Interrupted,
    /// A scheduled run that could not start (its reason is in the row).
    NotStarted,
}

spelled!(RunStatus {
    Running => "running",
    Succeeded => "succeeded",
    Failed => "failed",
    IntegrityRefused => "integrity-refused",
    Cancelled => "cancelled",
    Interrupted => "interrupted",
    NotStarted => "not-started",
});

#[cfg(test)]
mod tests {
    use super::{ModuleOutcome, RunStatus};

    /// Every spelling reads back as the kind it was written from, and no two kinds share
    /// one.
    #[test]
    fn every_kind_round_trips_through_its_spelling() {
        use ModuleOutcome as M;
        use RunStatus as R;
        let outcomes = [
            M::Running,
            M::Interrupted,
            M::Succeeded,
            M::Failed,
            M::TimedOut,
            M::Cancelled,
            M::Blocked,
            M::IntegrityRefused,
            M::Skipped,
            M::WouldRun,
            M::BackupFailed,
            M::HealthFailed,
            M::RolledBack,
            M::NeedsIntervention,
            M::Held,
        ];
        for outcome in outcomes {
            assert_eq!(outcome.as_str().parse::<M>(), Ok(outcome));
        }
        let names: std::collections::HashSet<_> = outcomes.iter().map(|o| o.as_str()).collect();
        assert_eq!(names.len(), outcomes.len());
        for status in [
            R::Running,
            R::Succeeded,
            R::Failed,
            R::IntegrityRefused,
            R::Cancelled,
            R::Interrupted,
            R::NotStarted,
        ] {
            assert_eq!(status.as_str().parse::<R>(), Ok(status));
        }
        assert!("finished".parse::<R>().is_err());
    }
}
