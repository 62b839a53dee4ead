//! The kinds of rows the ledger stores as text, as enums: a module run's outcome, a run's
//! result, a backup's kind, reason and status, a health check's phase and a deployment
//! script's result (`backups`, `health` and `deploy` re-export theirs). Each has one
//! spelling, given once by `spelled!`; writing binds the enum and reading parses the column,
//! so a misspelt or unknown name cannot reach the ledger and a row the ledger holds cannot
//! be read back as something else.
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

/// What a backup holds, as the ledger and the command line spell it. Which paths each
/// kind takes is the backup's rule (`backup::includes`), not storage's.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum BackupKind {
    /// Every module's config and data paths.
    #[default]
    Full,
    /// Config paths only.
    Config,
    /// Data paths only.
    Data,
    /// All paths of the chosen modules.
    Module,
}

spelled!(BackupKind {
    Full => "full",
    Config => "config",
    Data => "data",
    Module => "module",
});

/// What took a backup, as the ledger spells it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum BackupReason {
    /// `upkeep backup create`.
    #[default]
    Manual,
    /// A run, before its module's update.
    PreUpdate,
    /// `upkeep rollback`, before it puts the old data back.
    PreRollback,
    /// `upkeep backup restore`, before it overwrites anything.
    PreRestore,
}

spelled!(BackupReason {
    Manual => "manual",
    PreUpdate => "pre-update",
    PreRollback => "pre-rollback",
    PreRestore => "pre-restore",
});

/// Whether a backup's archive verified when last checked, as the ledger spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BackupStatus {
    /// It verified (set when recorded, and by each verification that passes).
    Ok,
    /// A verification found it damaged or missing.
    Corrupt,
}

spelled!(BackupStatus {
    Ok => "ok",
    Corrupt => "corrupt",
});

/// How a backup is stored, as the `backups.format` column spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum BackupFormat {
    /// One tar archive file in the backups directory.
    #[default]
    Archive,
    /// A tree of entries over the deduplicating chunk store.
    Store,
    /// A read-only filesystem snapshot.
    Snapshot,
}

spelled!(BackupFormat {
    Archive => "archive",
    Store => "store",
    Snapshot => "snapshot",
});

/// When a health check ran, as the ledger spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HealthPhase {
    /// In a run, after its module's update.
    AfterUpdate,
    /// In a run, after its module was rolled back.
    AfterRollback,
    /// After `upkeep rollback`.
    AfterManualRollback,
}

spelled!(HealthPhase {
    AfterUpdate => "after-update",
    AfterRollback => "after-rollback",
    AfterManualRollback => "after-manual-rollback",
});

/// How a deployment script's run ended, as `scripts_run.result` spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScriptResult {
    /// It started and has not ended (yet): the column's default.
    Running,
    /// It succeeded (a one-time script so recorded never runs again).
    Succeeded,
    /// It failed.
    Failed,
    /// Upkeep stopped while it ran (a one-time script so marked is due again).
    Interrupted,
}

spelled!(ScriptResult {
    Running => "running",
    Succeeded => "succeeded",
    Failed => "failed",
    Interrupted => "interrupted",
});

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn backup_health_and_script_kinds_have_one_spelling_each_way() {
        for kind in [
            BackupKind::Full,
            BackupKind::Config,
            BackupKind::Data,
            BackupKind::Module,
        ] {
            assert_eq!(kind.as_str().parse(), Ok(kind));
        }
        for status in [BackupStatus::Ok, BackupStatus::Corrupt] {
            assert_eq!(status.as_str().parse(), Ok(status));
        }
        for phase in [
            HealthPhase::AfterUpdate,
            HealthPhase::AfterRollback,
            HealthPhase::AfterManualRollback,
        ] {
            assert_eq!(phase.as_str().parse(), Ok(phase));
        }
        for result in [
            ScriptResult::Running,
            ScriptResult::Succeeded,
            ScriptResult::Failed,
            ScriptResult::Interrupted,
        ] {
            assert_eq!(result.as_str().parse(), Ok(result));
        }
        for reason in BackupReason::ALL {
            assert_eq!(reason.as_str().parse(), Ok(*reason));
        }
        assert!("verified".parse::<BackupStatus>().is_err());
    }
}
