//! Documented exit codes of the `upkeep` binary. `upkeep --help` prints [`TABLE`]; the
//! README repeats it, and a test in the binary crate checks the two agree.

/// Everything succeeded (or had nothing to do).
pub const OK: i32 = 0;
/// upkeep itself failed (I/O, database, unexpected error).
pub const INTERNAL: i32 = 1;
/// The command line was wrong (clap's own code).
pub const USAGE: i32 = 2;
/// One or more modules failed, timed out, were blocked, rolled back or held; for `check`,
/// one or more update sources could not be asked (the others are still reported); for
/// `notify test` and `notify flush`, a notification channel failed; for `files apply` and
/// `prerun`, a file failed, was refused or is in conflict, or a script failed; for
/// `doctor`, the Python modules cannot start.
pub const MODULES_FAILED: i32 = 3;
/// The manifest or another input is invalid; nothing ran.
pub const INVALID_INPUT: i32 = 4;
/// Another upkeep holds the state directory's lock.
pub const LOCK_HELD: i32 = 5;
/// A module's files did not match their checksum and it was refused.
pub const INTEGRITY_REFUSED: i32 = 6;
/// A backup failed verification, an archive was refused, or a rollback's git tag moved;
/// nothing was restored.
pub const BACKUP_REFUSED: i32 = 7;
/// An operation that needs confirmation was not confirmed; nothing changed.
pub const NOT_CONFIRMED: i32 = 8;
/// Not enough free space for a backup; nothing was written.
pub const LOW_SPACE: i32 = 9;
/// The run was cancelled by SIGINT or SIGTERM.
pub const CANCELLED: i32 = 130;

/// Every code with its meaning, for `--help` and the README.
pub const TABLE: &[(i32, &str)] = &[
    (OK, "success: every module succeeded or had nothing to do"),
    (INTERNAL, "upkeep itself failed (I/O, database)"),
    (USAGE, "bad command line"),
    (
        MODULES_FAILED,
        "one or more modules failed, timed out or were blocked (check: a source failed; notify test/flush: a channel failed; files apply/prerun: a file failed, was refused or is in conflict; doctor: Python modules cannot start)",
    ),
    (
        INVALID_INPUT,
        "invalid manifest or input; nothing ran and nothing was written",
    ),
    (
        LOCK_HELD,
        "another upkeep run holds the lock (prerun, files apply: past --wait-timeout)",
    ),
    (
        INTEGRITY_REFUSED,
        "a module's files did not match their checksum; it was refused (run --dry-run, doctor: one would be)",
    ),
    (
        BACKUP_REFUSED,
        "a backup failed verification, an archive was refused or a git tag moved; nothing was restored",
    ),
    (
        NOT_CONFIRMED,
        "a restore or rollback was not confirmed (no terminal and no --yes); nothing changed",
    ),
    (
        LOW_SPACE,
        "not enough free space for a backup; nothing was written",
    ),
    (CANCELLED, "the run was cancelled (SIGINT/SIGTERM)"),
];
