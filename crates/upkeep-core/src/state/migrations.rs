//! Numbered schema migrations. Each runs once, in order, in its own transaction, and
//! `PRAGMA user_version` records how far the database has come. Never edit a migration
//! that has shipped; add the next number.

/// Migrations in order; index + 1 is the version each one brings the schema to.
pub(crate) const MIGRATIONS: &[&str] = &[
    // 1: modules, runs, per-module outcomes, recorded file hashes and the audit trail.
    r"
    CREATE TABLE modules (
        name              TEXT PRIMARY KEY,
        applied_version   TEXT,
        applied_at_ms     INTEGER,
        applied_checksum  TEXT,
        last_safe_version TEXT,
        last_run_id       INTEGER
    ) STRICT;

    CREATE TABLE runs (
        id           INTEGER PRIMARY KEY,
        trigger      TEXT NOT NULL,
        manifest     TEXT NOT NULL,
        started_ms   INTEGER NOT NULL,
        finished_ms  INTEGER,
        result       TEXT NOT NULL DEFAULT 'running',
        pid          INTEGER NOT NULL,
        jobs         INTEGER NOT NULL
    ) STRICT;

    CREATE TABLE module_runs (
        run_id          INTEGER NOT NULL REFERENCES runs(id),
        module          TEXT NOT NULL,
        outcome         TEXT NOT NULL,
        reason          TEXT,
        started_ms      INTEGER,
        finished_ms     INTEGER,
        duration_ms     INTEGER,
        exit_code       INTEGER,
        signal          INTEGER,
        version_before  TEXT,
        version_after   TEXT,
        log_path        TEXT,
        error           TEXT,
        PRIMARY KEY (run_id, module)
    ) STRICT;
    CREATE INDEX module_runs_by_module ON module_runs(module, run_id);

    CREATE TABLE file_hashes (
        module    TEXT NOT NULL,
        checksum  TEXT NOT NULL,
        path      TEXT NOT NULL,
        kind      TEXT NOT NULL,
        sha256    TEXT NOT NULL,
        PRIMARY KEY (module, checksum, path)
    ) STRICT;

    CREATE TABLE audit (
        id      INTEGER PRIMARY KEY,
        at_ms   INTEGER NOT NULL,
        action  TEXT NOT NULL,
        module  TEXT,
        detail  TEXT NOT NULL
    ) STRICT;
    ",
];
