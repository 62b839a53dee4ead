//! The kinds the ledger stores as text (a module run's outcome, a run's result, a
//! backup's kind and status), written from their enums and read back through the same
//! spelling, against a real SQLite file: what a run leaves (running, then interrupted when
//! it dies), what it records, and a name the ledger does not know.

use std::path::Path;

use upkeep_core::state::backups::{
    BackupFormat, BackupKind, BackupReason, BackupStatus, NewBackup,
};
use upkeep_core::state::writer::{LedgerOp, LedgerWriter, ModuleRecord};
use upkeep_core::state::{HistoryFilter, Ledger, ModuleOutcome, RunStatus, now_ms};

fn record(run_id: i64, module: &str, outcome: ModuleOutcome) -> ModuleRecord {
    let finished_ms = now_ms();
    ModuleRecord {
        run_id,
        module: module.to_owned(),
        outcome,
        reason: None,
        started_ms: Some(finished_ms - 5),
        finished_ms,
        duration_ms: Some(5),
        exit_code: Some(3),
        signal: None,
        version_before: None,
        version_after: None,
        log_path: None,
        error: Some("exit code 3".to_owned()),
        applied: None,
        notices: Vec::new(),
    }
}

fn outcomes(ledger: &Ledger) -> Vec<(String, ModuleOutcome)> {
    let history = ledger.history(&HistoryFilter::default()).unwrap();
    let mut out: Vec<_> = history
        .runs
        .iter()
        .flat_map(|run| run.modules.iter().map(|m| (m.module.clone(), m.outcome)))
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// `(module, outcome)` of a run in `history --json`, by module.
fn spelled_outcomes(run: &serde_json::Value) -> Vec<(&str, &str)> {
    let modules = run["modules"].as_array().unwrap().iter();
    let mut out: Vec<(&str, &str)> = modules
        .map(|m| {
            (
                m["module"].as_str().unwrap(),
                m["outcome"].as_str().unwrap(),
            )
        })
        .collect();
    out.sort_unstable();
    out
}

#[test]
fn a_run_and_its_modules_are_stored_and_read_back_as_their_kinds() {
    let dir = tempfile::tempdir().unwrap();
    let mut ledger = Ledger::open(dir.path()).unwrap();
    let run_id = ledger.begin_run("manual", Path::new("m.toml"), 2).unwrap();
    let metrics = ledger.run_metrics(now_ms()).unwrap();
    assert_eq!(metrics.last_run.unwrap().result, RunStatus::Running);

    let writer = LedgerWriter::spawn(ledger);
    for module in ["db", "web"] {
        writer.send(LedgerOp::ModuleStarted {
            run_id,
            module: module.to_owned(),
            started_ms: now_ms(),
            version_before: None,
            log_path: format!("{module}.log"),
        });
    }
    let mut ledger = writer.finish().unwrap();
    let running = [
        ("db", ModuleOutcome::Running),
        ("web", ModuleOutcome::Running),
    ];
    assert_eq!(outcomes(&ledger), running.map(|(m, o)| (m.to_owned(), o)));

    let writer = LedgerWriter::spawn(ledger);
    writer.send(LedgerOp::ModuleFinished(Box::new(record(
        run_id,
        "db",
        ModuleOutcome::Failed,
    ))));
    ledger = writer.finish().unwrap();
    // Upkeep dies here: the next run finds `web` still running.
    assert_eq!(ledger.recover_interrupted().unwrap(), [run_id]);
    let ended = [
        ("db", ModuleOutcome::Failed),
        ("web", ModuleOutcome::Interrupted),
    ];
    assert_eq!(outcomes(&ledger), ended.map(|(m, o)| (m.to_owned(), o)));
    let history = ledger.history(&HistoryFilter::default()).unwrap();
    assert_eq!(history.runs[0].result, RunStatus::Interrupted);
    // The JSON of `history --json` spells them as before.
    let json = serde_json::to_value(&history.runs[0]).unwrap();
    assert_eq!(json["result"], "interrupted");
    assert_eq!(
        spelled_outcomes(&json),
        [("db", "failed"), ("web", "interrupted")]
    );
    // A filter on a kind finds the modules stored with it.
    let filter = HistoryFilter {
        outcomes: vec![ModuleOutcome::Failed],
        ..HistoryFilter::default()
    };
    let failed = ledger.history(&filter).unwrap();
    assert_eq!(failed.runs[0].modules.len(), 1);
    assert_eq!(failed.runs[0].modules[0].module, "db");
    // A finished run is counted in the metrics; a running one is not.
    let windows = ledger.run_metrics(now_ms()).unwrap().windows;
    assert_eq!((windows[0].runs, windows[0].succeeded), (1, 0));
}

#[test]
fn an_outcome_the_ledger_does_not_know_is_an_error_not_a_guess() {
    let dir = tempfile::tempdir().unwrap();
    let mut ledger = Ledger::open(dir.path()).unwrap();
    let run_id = ledger.begin_run("manual", Path::new("m.toml"), 1).unwrap();
    drop(ledger);
    let conn = rusqlite::Connection::open(dir.path().join("upkeep.db")).unwrap();
    conn.execute(
        "INSERT INTO module_runs (run_id, module, outcome) VALUES (?1, 'web', 'exploded')",
        [run_id],
    )
    .unwrap();
    let ledger = Ledger::open(dir.path()).unwrap();
    let err = ledger.history(&HistoryFilter::default()).unwrap_err();
    assert!(
        format!("{err:?}").contains("unknown ModuleOutcome `exploded`"),
        "{err:?}"
    );
}

#[test]
fn a_backup_is_stored_with_its_kind_and_a_failed_verification_marks_it_corrupt() {
    let dir = tempfile::tempdir().unwrap();
    let mut ledger = Ledger::open(dir.path()).unwrap();
    let id = ledger
        .insert_backup(&NewBackup {
            name: "b1".to_owned(),
            kind: BackupKind::Module,
            reason: BackupReason::Manual,
            format: BackupFormat::Archive,
            module: Some("web".to_owned()),
            module_version: None,
            run_id: None,
            description: None,
            file: "b1.tar.zst".to_owned(),
            compression: "zstd".to_owned(),
            sha256: "0".repeat(64),
            bytes_in: 0,
            bytes_out: 0,
            roots: Vec::new(),
            entries: Vec::new(),
        })
        .unwrap();
    let row = ledger.backup("b1").unwrap().unwrap();
    assert_eq!(
        (row.kind, row.status),
        (BackupKind::Module, BackupStatus::Ok)
    );
    let verified = row.verified_ms;
    ledger.set_backup_status(id, BackupStatus::Corrupt).unwrap();
    let row = ledger.backup("b1").unwrap().unwrap();
    assert_eq!(row.status, BackupStatus::Corrupt);
    assert_eq!(
        row.verified_ms, verified,
        "a failed check is no verification"
    );
    let json = serde_json::to_value(&row).unwrap();
    assert_eq!(
        (json["type"].as_str(), json["status"].as_str()),
        (Some("module"), Some("corrupt"))
    );
}
