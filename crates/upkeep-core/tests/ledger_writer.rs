//! The run's ledger writer against a real SQLite file: the writes of a run's tasks go
//! through it, a call returns only once what it wrote (and what queued before it) is
//! committed, a write the ledger refuses is reported rather than dropped, and finishing
//! does not wait for handles the run's tasks still hold.

use upkeep_core::state::health::{HealthPhase, HealthRecord};
use upkeep_core::state::writer::{LedgerOp, LedgerWriter};
use upkeep_core::state::{Ledger, StateError};

fn health(module: &str) -> HealthRecord {
    HealthRecord {
        run_id: None,
        module: module.to_owned(),
        phase: HealthPhase::AfterUpdate,
        passed: true,
        attempts: 1,
        detail: None,
    }
}

/// The health checks another connection sees, as a reader after a crash would.
fn recorded(dir: &std::path::Path) -> Vec<String> {
    let conn = rusqlite::Connection::open(dir.join("upkeep.db")).unwrap();
    let mut stmt = conn
        .prepare("SELECT module FROM health_checks ORDER BY id")
        .unwrap();
    stmt.query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

#[test]
fn a_call_returns_once_it_and_what_queued_before_it_are_committed() {
    let dir = tempfile::tempdir().unwrap();
    let writer = LedgerWriter::spawn(Ledger::open(dir.path()).unwrap());
    let handle = writer.handle();
    handle.send(LedgerOp::Health(health("queued")));
    handle
        .call(|ledger| ledger.record_health(&health("called")))
        .unwrap()
        .unwrap();
    // Still running: nothing has finished the writer, yet both rows are committed.
    assert_eq!(recorded(dir.path()), ["queued", "called"]);
    writer.finish().unwrap();
}

#[test]
fn a_write_the_ledger_refuses_fails_the_writer_instead_of_vanishing() {
    let dir = tempfile::tempdir().unwrap();
    drop(Ledger::open(dir.path()).unwrap());
    let conn = rusqlite::Connection::open(dir.path().join("upkeep.db")).unwrap();
    conn.execute_batch(
        "CREATE TRIGGER refuse BEFORE INSERT ON health_checks BEGIN SELECT RAISE(ABORT, 'refused'); END;",
    )
    .unwrap();
    let writer = LedgerWriter::spawn(Ledger::open(dir.path()).unwrap());
    let handle = writer.handle();
    handle.send(LedgerOp::Health(health("app")));
    // A call after it learns that the writer stopped, rather than waiting forever.
    let later = handle.call(|ledger| ledger.record_health(&health("later")));
    assert!(matches!(later, Err(StateError::WriterStopped)), "{later:?}");
    let err = writer.finish().unwrap_err();
    assert!(
        format!("{err:?}").contains("refused"),
        "the ledger's refusal is reported: {err:?}"
    );
}

#[test]
fn finishing_does_not_wait_for_handles_still_held() {
    let dir = tempfile::tempdir().unwrap();
    let writer = LedgerWriter::spawn(Ledger::open(dir.path()).unwrap());
    let handle = writer.handle();
    handle.send(LedgerOp::Health(health("app")));
    writer.finish().unwrap();
    assert_eq!(recorded(dir.path()), ["app"]);
    let after = handle.call(|ledger| ledger.record_health(&health("late")));
    assert!(matches!(after, Err(StateError::WriterStopped)), "{after:?}");
}
