//! Numbered schema migrations. Each runs once, in order; the ones a database still needs
//! run together in one transaction, and `PRAGMA user_version` records how far it has come.
//! Never edit a migration that has shipped; add the next number.

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
    // 2: backups (archive, roots, every entry), health checks, rollbacks, restores, git tags,
    // and modules held for manual intervention.
    r"
    ALTER TABLE modules ADD COLUMN needs_intervention TEXT;

    CREATE TABLE backups (
        id              INTEGER PRIMARY KEY,
        name            TEXT NOT NULL,
        kind            TEXT NOT NULL,
        reason          TEXT NOT NULL,
        module          TEXT,
        module_version  TEXT,
        run_id          INTEGER,
        description     TEXT,
        file            TEXT NOT NULL UNIQUE,
        compression     TEXT NOT NULL,
        sha256          TEXT NOT NULL,
        bytes_in        INTEGER NOT NULL,
        bytes_out       INTEGER NOT NULL,
        entry_count     INTEGER NOT NULL,
        created_ms      INTEGER NOT NULL,
        verified_ms     INTEGER NOT NULL,
        status          TEXT NOT NULL DEFAULT 'ok'
    ) STRICT;
    CREATE INDEX backups_by_module ON backups(module, created_ms);

    CREATE TABLE backup_roots (
        backup_id  INTEGER NOT NULL REFERENCES backups(id) ON DELETE CASCADE,
        label      TEXT NOT NULL,
        module     TEXT NOT NULL,
        category   TEXT NOT NULL,
        path       TEXT NOT NULL,
        missing    INTEGER NOT NULL,
        PRIMARY KEY (backup_id, label)
    ) STRICT;

    CREATE TABLE backup_entries (
        backup_id  INTEGER NOT NULL REFERENCES backups(id) ON DELETE CASCADE,
        path       TEXT NOT NULL,
        kind       TEXT NOT NULL,
        mode       INTEGER NOT NULL,
        size       INTEGER NOT NULL,
        sha256     TEXT,
        link       TEXT,
        PRIMARY KEY (backup_id, path)
    ) STRICT, WITHOUT ROWID;

    CREATE TABLE health_checks (
        id        INTEGER PRIMARY KEY,
        run_id    INTEGER,
        module    TEXT NOT NULL,
        at_ms     INTEGER NOT NULL,
        phase     TEXT NOT NULL,
        passed    INTEGER NOT NULL,
        attempts  INTEGER NOT NULL,
        detail    TEXT
    ) STRICT;
    CREATE INDEX health_checks_by_module ON health_checks(module, at_ms);

    CREATE TABLE rollbacks (
        id            INTEGER PRIMARY KEY,
        run_id        INTEGER,
        module        TEXT NOT NULL,
        at_ms         INTEGER NOT NULL,
        trigger       TEXT NOT NULL,
        cause         TEXT,
        from_version  TEXT,
        to_version    TEXT,
        backup_id     INTEGER,
        git_tag       TEXT,
        git_commit    TEXT,
        result        TEXT NOT NULL,
        detail        TEXT
    ) STRICT;
    CREATE INDEX rollbacks_by_module ON rollbacks(module, at_ms);

    CREATE TABLE restores (
        id           INTEGER PRIMARY KEY,
        backup_id    INTEGER NOT NULL,
        started_ms   INTEGER NOT NULL,
        finished_ms  INTEGER,
        result       TEXT NOT NULL DEFAULT 'running',
        labels       TEXT NOT NULL,
        swapped      TEXT NOT NULL DEFAULT '[]'
    ) STRICT;

    CREATE TABLE git_tags (
        tag         TEXT PRIMARY KEY,
        module      TEXT NOT NULL,
        version     TEXT NOT NULL,
        commit_id   TEXT NOT NULL,
        created_ms  INTEGER NOT NULL,
        run_id      INTEGER
    ) STRICT;
    ",
    // 3: file deployment: every file upkeep deployed (its owner record), and the one-time
    // and pre-run scripts it ran.
    r"
    CREATE TABLE deployed_files (
        destination  TEXT PRIMARY KEY,
        source       TEXT NOT NULL,
        sha256       TEXT NOT NULL,
        size         INTEGER NOT NULL,
        action       TEXT NOT NULL,
        module       TEXT,
        run_id       INTEGER,
        deployed_ms  INTEGER NOT NULL
    ) STRICT;

    CREATE TABLE scripts_run (
        id           INTEGER PRIMARY KEY,
        name         TEXT NOT NULL,
        sha256       TEXT NOT NULL,
        kind         TEXT NOT NULL,
        started_ms   INTEGER NOT NULL,
        finished_ms  INTEGER,
        result       TEXT NOT NULL DEFAULT 'running',
        exit_code    INTEGER,
        detail       TEXT
    ) STRICT;
    CREATE INDEX scripts_run_by_name ON scripts_run(name, sha256);
    ",
    // 4: schedules.
    r"
    CREATE TABLE schedules (
        name         TEXT PRIMARY KEY,
        spec         TEXT NOT NULL,
        time_zone    TEXT NOT NULL,
        targets      TEXT NOT NULL DEFAULT '[]',
        types        TEXT NOT NULL DEFAULT '[]',
        enabled      INTEGER NOT NULL DEFAULT 1,
        created_ms   INTEGER NOT NULL,
        last_run_ms  INTEGER,
        last_run_id  INTEGER,
        last_result  TEXT,
        next_run_ms  INTEGER
    ) STRICT;
    ",
    // 5: update checks (the latest result per module, see `updates`), the upstream
    // version each module last moved to and the check that update came from.
    r"
    ALTER TABLE modules ADD COLUMN upstream_version TEXT;
    ALTER TABLE modules ADD COLUMN upstream_check_ms INTEGER;

    CREATE TABLE update_checks (
        module      TEXT PRIMARY KEY,
        checked_ms  INTEGER NOT NULL,
        source      TEXT NOT NULL,
        update_type TEXT NOT NULL,
        ok          INTEGER NOT NULL,
        error       TEXT,
        finding     TEXT NOT NULL DEFAULT '{}'
    ) STRICT;
    ",
    // 6: the notification outbox: one row per (event, channel), written in the transaction
    // of the state change the event describes and delivered afterwards (see
    // `notify`). `next_attempt_ms` is when it may be tried (again); a row is
    // pending until `delivered_ms` or `failed_ms` (given up) is set.
    r"
    CREATE TABLE outbox (
        id               INTEGER PRIMARY KEY,
        event_id         TEXT NOT NULL,
        channel          TEXT NOT NULL,
        kind             TEXT NOT NULL,
        event            TEXT NOT NULL,
        created_ms       INTEGER NOT NULL,
        attempts         INTEGER NOT NULL DEFAULT 0,
        next_attempt_ms  INTEGER NOT NULL,
        delivered_ms     INTEGER,
        failed_ms        INTEGER,
        last_error       TEXT,
        UNIQUE (event_id, channel)
    ) STRICT;
    CREATE INDEX outbox_pending ON outbox(next_attempt_ms)
        WHERE delivered_ms IS NULL AND failed_ms IS NULL;
    ",
    // 7: why a run ended without running anything (`result = 'not-started'`: a scheduled
    // run whose manifest no longer loads, whose targets are gone, or that waited too long
    // for the lock), so that the history says why the host stopped updating.
    r"
    ALTER TABLE runs ADD COLUMN reason TEXT;
    ",
    // 8: a schedule that forces its runs (`schedule add --force`): every module it selects
    // runs even when up to date, as `run --force` would.
    r"
    ALTER TABLE schedules ADD COLUMN force INTEGER NOT NULL DEFAULT 0;
    ",
    // 9: API tokens and the access audit trail (see `ops::access` and `ops::audit`). A
    // token is stored as the SHA-256 of its secret, never the secret; a name is unique among
    // the tokens not revoked (a revoked one keeps its row, so the audit trail still names
    // it). `access_audit` is one row per action a person or client asked of a front end
    // (the HTTP API, Discord, `upkeep token`), apart from the engine's own `audit` rows.
    r"
    CREATE TABLE tokens (
        id            INTEGER PRIMARY KEY,
        name          TEXT NOT NULL,
        role          TEXT NOT NULL,
        hash          TEXT NOT NULL UNIQUE,
        created_ms    INTEGER NOT NULL,
        created_by    TEXT NOT NULL,
        expires_ms    INTEGER,
        last_used_ms  INTEGER,
        revoked_ms    INTEGER
    ) STRICT;
    CREATE UNIQUE INDEX tokens_live_name ON tokens(name) WHERE revoked_ms IS NULL;

    CREATE TABLE access_audit (
        id              INTEGER PRIMARY KEY,
        at_ms           INTEGER NOT NULL,
        principal_kind  TEXT NOT NULL,
        principal       TEXT NOT NULL,
        role            TEXT,
        remote          TEXT,
        request_id      TEXT,
        plan_digest     TEXT,
        action          TEXT NOT NULL,
        target          TEXT,
        outcome         TEXT NOT NULL,
        detail          TEXT
    ) STRICT;
    CREATE INDEX access_audit_by_time ON access_audit(at_ms);
    ",
    // 10: the run event feed (see `run_events`): one row per ledger change of a run, in
    // the transaction of the change, numbered by a `seq` that only grows, so that the HTTP
    // API's live view of a run resumes exactly where a dropped connection left off.
    r"
    CREATE TABLE run_events (
        seq     INTEGER PRIMARY KEY AUTOINCREMENT,
        run_id  INTEGER NOT NULL,
        at_ms   INTEGER NOT NULL,
        kind    TEXT NOT NULL,
        module  TEXT,
        data    TEXT NOT NULL DEFAULT '{}'
    ) STRICT;
    CREATE INDEX run_events_by_run ON run_events(run_id, seq);
    ",
    // 11: how a backup is stored: `archive` (one tar file in the backups directory, every
    // backup before this migration), `store` (a tree of entries over the deduplicating
    // chunk store) or `snapshot` (a read-only filesystem snapshot, e.g. btrfs).
    r"
    ALTER TABLE backups ADD COLUMN format TEXT NOT NULL DEFAULT 'archive';
    ",
    // 12: the chunk store's index (`docs/backup-store.md`): its pack files, with their size
    // and SHA-256, and where each chunk (by the SHA-256 of its uncompressed bytes) lies in
    // one of them. A `store` backup's row records the SHA-256 of its manifest chunk.
    r"
    CREATE TABLE store_packs (
        id      INTEGER PRIMARY KEY,
        name    TEXT NOT NULL UNIQUE,
        bytes   INTEGER NOT NULL,
        sha256  TEXT NOT NULL
    ) STRICT;

    CREATE TABLE store_chunks (
        id          BLOB PRIMARY KEY,
        pack        INTEGER NOT NULL REFERENCES store_packs(id),
        offset      INTEGER NOT NULL,
        length      INTEGER NOT NULL,
        raw_length  INTEGER NOT NULL
    ) STRICT, WITHOUT ROWID;
    CREATE INDEX store_chunks_by_pack ON store_chunks(pack);
    ",
    // 13: the backups holding a root, by label and host path: a store backup finds its
    // parent (the newest backup of the same paths) with one lookup, not a scan of every
    // backup's roots.
    r"
    CREATE INDEX backup_roots_by_label ON backup_roots(label, path);
    ",
    // 14: small chunks compressed together: a zstd frame may hold several chunks back to
    // back. `inner` is a chunk's offset in its frame once decompressed and `frame_raw`
    // the frame's decompressed length (NULL: the frame is this chunk alone, as every
    // chunk written before).
    r"
    ALTER TABLE store_chunks ADD COLUMN inner INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE store_chunks ADD COLUMN frame_raw INTEGER;
    ",
];
