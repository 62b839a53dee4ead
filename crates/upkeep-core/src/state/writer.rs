//! The ledger writer: a thread that owns the run's connection and commits what modules
//! report in groups.
//!
//! A durable commit (`synchronous=FULL`) costs a WAL fsync, about as long as running a
//! small module. Committing once per event would make the ledger the bottleneck of a run
//! of many small modules, so the writer takes every event that has queued up since its last
//! commit and writes them in one transaction. A module's outcome and its new applied
//! version are always in the same transaction. A dependent may start before its
//! prerequisite's success is durable; if upkeep dies in that window, the ledger does not
//! claim the prerequisite was applied and the next run applies it again, which is why
//! module setup must be idempotent (as Plinth requires). The notifications of a change
//! (a module's failure, the run's end) travel with it and are enqueued in its transaction
//! (see [`super::outbox`]).
//!
//! Every write of a run goes through this thread, on its one connection: module records,
//! health checks and git tags queue like the rest ([`LedgerOp`]), and work whose caller
//! must see it committed before going on (a backup's row before the module starts, a
//! restore's journal before each swap, a deployed file before its moved source goes)
//! travels as a [`LedgerOp::Call`] through [`LedgerHandle::call`], which waits for it.

use std::collections::HashSet;
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rusqlite::params;

use super::health::HealthRecord;
use super::outbox::NewOutboxRow;
use super::tags::GitTagRow;
use super::{Ledger, ModuleOutcome, RunStatus, StateError, now_ms, outbox, sqlite};

/// A state change to record.
#[derive(Debug)]
pub enum LedgerOp {
    /// A module started running.
    ModuleStarted {
        /// The run.
        run_id: i64,
        /// The module.
        module: String,
        /// When it started (ms since the epoch).
        started_ms: i64,
        /// The version applied before this run.
        version_before: Option<String>,
        /// Its log file.
        log_path: String,
    },
    /// A module reached its outcome.
    ModuleFinished(Box<ModuleRecord>),
    /// The run ended.
    RunFinished {
        /// The run.
        run_id: i64,
        /// When (ms since the epoch).
        finished_ms: i64,
        /// How it ended.
        result: RunStatus,
        /// Notifications of the run's end (its summary), enqueued with it.
        notices: Vec<NewOutboxRow>,
    },
    /// A health check's result.
    Health(HealthRecord),
    /// A git tag upkeep made for a healthy update.
    GitTag {
        /// The tag.
        row: GitTagRow,
        /// The run that made it.
        run_id: Option<i64>,
    },
    /// Work on the ledger whose caller waits for it (see [`LedgerHandle::call`]): what
    /// queued before it is committed first, then it runs on the writer's connection.
    Call(Call),
}

/// A closure run on the writer's ledger; it sends its own result back.
pub struct Call(Box<dyn FnOnce(&mut Ledger) + Send>);

impl std::fmt::Debug for Call {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Call")
    }
}

/// A cloneable way to the writer thread, for the tasks of a run that record as they go.
#[derive(Debug, Clone)]
pub struct LedgerHandle {
    sender: mpsc::Sender<Option<LedgerOp>>,
    thread: std::thread::Thread,
}

impl LedgerHandle {
    /// Queue a state change. Never blocks; a failure to record it surfaces from
    /// [`LedgerWriter::finish`].
    pub fn send(&self, op: LedgerOp) {
        // A send only fails if the thread died; its error surfaces from `finish`.
        let _ = self.sender.send(Some(op));
    }

    /// Run `f` on the writer's ledger once everything queued before it is committed, and
    /// wait for its result. Each `Ledger` method `f` calls commits its own transaction, so
    /// when this returns, what `f` wrote is durable.
    ///
    /// # Errors
    /// [`StateError::WriterStopped`] when the writer stopped before running `f`.
    pub fn call<R: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Ledger) -> R + Send + 'static,
    ) -> Result<R, StateError> {
        let (reply, answer) = mpsc::sync_channel(1);
        let call = Call(Box::new(move |ledger| {
            let _ = reply.send(f(ledger));
        }));
        self.sender
            .send(Some(LedgerOp::Call(call)))
            .map_err(|_| StateError::WriterStopped)?;
        // It may be parked in its commit window; a caller is waiting, so the window ends.
        self.thread.unpark();
        answer.recv().map_err(|_| StateError::WriterStopped)
    }
}

/// Where a backup, a restore or a deployment records what it does: a ledger of its own
/// outside a run, the run's writer ([`LedgerHandle`]) inside one. `f` runs on that ledger
/// and its result comes back once what it wrote is committed.
pub trait LedgerAccess {
    /// Run `f` on the ledger.
    ///
    /// # Errors
    /// What `f` returns, or [`StateError::WriterStopped`].
    fn with<R: Send + 'static>(
        &mut self,
        f: impl FnOnce(&mut Ledger) -> Result<R, StateError> + Send + 'static,
    ) -> Result<R, StateError>;
}

impl LedgerAccess for Ledger {
    fn with<R: Send + 'static>(
        &mut self,
        f: impl FnOnce(&mut Ledger) -> Result<R, StateError> + Send + 'static,
    ) -> Result<R, StateError> {
        f(self)
    }
}

impl LedgerAccess for LedgerHandle {
    fn with<R: Send + 'static>(
        &mut self,
        f: impl FnOnce(&mut Ledger) -> Result<R, StateError> + Send + 'static,
    ) -> Result<R, StateError> {
        self.call(f)?
    }
}

/// A module's outcome as the ledger stores it: the `module_runs` row. The run builds it
/// from its outcome in one function (`run::scheduler`'s `ledger_record`); the writer
/// stores it as it is.
#[derive(Debug, Clone)]
pub struct ModuleRecord {
    /// The run.
    pub run_id: i64,
    /// The module.
    pub module: String,
    /// The outcome's kind.
    pub outcome: ModuleOutcome,
    /// Why it was skipped or blocked, or why it ran.
    pub reason: Option<String>,
    /// When it started (ms since the epoch), if it ran.
    pub started_ms: Option<i64>,
    /// When it ended.
    pub finished_ms: i64,
    /// How long it ran.
    pub duration_ms: Option<i64>,
    /// Its exit code, if it exited.
    pub exit_code: Option<i32>,
    /// The signal that ended it, if one did.
    pub signal: Option<i32>,
    /// Applied version before.
    pub version_before: Option<String>,
    /// Applied version after.
    pub version_after: Option<String>,
    /// Its log file.
    pub log_path: Option<String>,
    /// What went wrong.
    pub error: Option<String>,
    /// Set when the module succeeded: what is now applied.
    pub applied: Option<Applied>,
    /// Notifications of this outcome (a failure), enqueued in the same transaction.
    pub notices: Vec<NewOutboxRow>,
}

/// What a successful module leaves applied.
#[derive(Debug, Clone, Default)]
pub struct Applied {
    /// The version now applied.
    pub version: Option<String>,
    /// The module folder's checksum it ran with.
    pub checksum: Option<String>,
    /// The version now known to be good (until health checks exist, the same).
    pub last_safe_version: Option<String>,
    /// The upstream release the module moved to, when it applied one from its source.
    pub upstream_version: Option<String>,
    /// When the check its update came from was made, when it applied one.
    pub upstream_check_ms: Option<i64>,
}

/// Handle to the writer thread.
#[derive(Debug)]
pub struct LedgerWriter {
    sender: mpsc::Sender<Option<LedgerOp>>,
    thread: JoinHandle<Result<Ledger, StateError>>,
}

impl LedgerWriter {
    /// Move `ledger` to a writer thread.
    pub fn spawn(ledger: Ledger) -> Self {
        Self::spawn_waking(ledger, Box::new(|| {}))
    }

    /// Move `ledger` to a writer thread that enqueues the notification rows of the changes
    /// it records in the same transaction, and calls `wake` after each commit that enqueued
    /// any (a run passes its courier's wake-up; the ledger knows nothing of delivery).
    pub fn spawn_waking(ledger: Ledger, wake: Box<dyn Fn() + Send>) -> Self {
        let (sender, receiver) = mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("upkeep-ledger".into())
            .spawn(move || write_loop(ledger, &receiver, &*wake))
            .expect("spawning the ledger thread");
        Self { sender, thread }
    }

    /// Queue a state change. Never blocks.
    pub fn send(&self, op: LedgerOp) {
        // A send only fails if the thread died; its error surfaces from `finish`.
        let _ = self.sender.send(Some(op));
    }

    /// A handle for the run's tasks to record through this writer.
    pub fn handle(&self) -> LedgerHandle {
        LedgerHandle {
            sender: self.sender.clone(),
            thread: self.thread.thread().clone(),
        }
    }

    /// Commit everything queued and give the ledger back.
    ///
    /// # Errors
    /// The first [`StateError`] the writer hit.
    pub fn finish(self) -> Result<Ledger, StateError> {
        // An explicit end rather than the channel closing: handles given to the run's tasks
        // may outlive it, and must not keep the writer waiting. What they send afterwards
        // finds the writer gone.
        let _ = self.sender.send(None);
        drop(self.sender);
        // It may be parked in its commit window; the window ends now.
        self.thread.thread().unpark();
        self.thread
            .join()
            .expect("the ledger thread does not panic")
    }
}

/// The shortest time between two commits. Nothing waits on a commit during a run, so this
/// only bounds how far the durable ledger may trail the host; in exchange a stream of fast
/// modules shares one fsync per window instead of paying two each.
const COMMIT_WINDOW: Duration = Duration::from_millis(50);

/// Commit what arrives, at most once per [`COMMIT_WINDOW`]: the first change after a quiet
/// spell is committed at once (leading edge), and what arrives within a window of the last
/// commit waits for the window to end and goes in one transaction. Committing at once
/// keeps a lone change (a long module's start) from being held back until it collides
/// with the next one (its end, which the run then waits for).
fn write_loop(
    mut ledger: Ledger,
    receiver: &mpsc::Receiver<Option<LedgerOp>>,
    wake: &dyn Fn(),
) -> Result<Ledger, StateError> {
    let mut last_commit: Option<Instant> = None;
    while let Ok(Some(first)) = receiver.recv() {
        let mut batch = vec![first];
        let deadline = last_commit.map_or_else(Instant::now, |at| at + COMMIT_WINDOW);
        let finishing = collect_until(receiver, &mut batch, deadline);
        // A call is waited for: what queued before it is committed, then it runs.
        let mut enqueued = 0;
        let mut changes = Vec::with_capacity(batch.len());
        for op in batch {
            match op {
                LedgerOp::Call(Call(f)) => {
                    enqueued += commit_changes(&mut ledger, &mut changes)?;
                    f(&mut ledger);
                }
                op => changes.push(op),
            }
        }
        enqueued += commit_changes(&mut ledger, &mut changes)?;
        last_commit = Some(Instant::now());
        if enqueued > 0 {
            wake();
        }
        if finishing {
            break;
        }
    }
    Ok(ledger)
}

/// Commit `changes` (and empty it) in one transaction; how many outbox rows it added.
fn commit_changes(ledger: &mut Ledger, changes: &mut Vec<LedgerOp>) -> Result<usize, StateError> {
    if changes.is_empty() {
        return Ok(0);
    }
    let enqueued = apply(ledger, changes)?;
    tracing::debug!(changes = changes.len(), "ledger commit");
    changes.clear();
    Ok(enqueued)
}

/// Add to `batch` what has queued up and what arrives until `deadline`, until a call
/// (which is waited for) arrives, or until the writer is to finish (then `true`). The thread parks until the deadline rather than waiting in `recv`: a
/// waiting receiver is woken by every send, which for a stream of quick modules is two
/// thread wake-ups per module; a parked one is woken only by [`LedgerWriter::finish`].
fn collect_until(
    receiver: &mpsc::Receiver<Option<LedgerOp>>,
    batch: &mut Vec<LedgerOp>,
    deadline: Instant,
) -> bool {
    if matches!(batch.last(), Some(LedgerOp::Call(_))) {
        return false;
    }
    loop {
        loop {
            match receiver.try_recv() {
                Ok(Some(op @ LedgerOp::Call(_))) => {
                    batch.push(op);
                    return false;
                }
                Ok(Some(op)) => batch.push(op),
                Err(mpsc::TryRecvError::Empty) => break,
                Ok(None) | Err(mpsc::TryRecvError::Disconnected) => return true,
            }
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return false;
        }
        std::thread::park_timeout(left);
    }
}

/// Write a batch of operations in one transaction, with the notifications they carry;
/// returns how many outbox rows were added.
pub(crate) fn apply(ledger: &mut Ledger, batch: &[LedgerOp]) -> Result<usize, StateError> {
    let (conn, path) = ledger.conn_mut();
    let tx = conn
        .transaction()
        .map_err(sqlite("begin a transaction", path))?;
    // A module that started and finished within one batch needs only its final row.
    let finished: HashSet<(i64, &str)> = batch
        .iter()
        .filter_map(|op| match op {
            LedgerOp::ModuleFinished(r) => Some((r.run_id, r.module.as_str())),
            _ => None,
        })
        .collect();
    let mut enqueued = 0;
    for op in batch {
        if let LedgerOp::ModuleStarted { run_id, module, .. } = op
            && finished.contains(&(*run_id, module.as_str()))
        {
            continue;
        }
        apply_one(&tx, op).map_err(sqlite(action(op), path))?;
        let notices = match op {
            LedgerOp::ModuleFinished(r) => r.notices.as_slice(),
            LedgerOp::RunFinished { notices, .. } => notices.as_slice(),
            _ => &[],
        };
        enqueued += outbox::enqueue(&tx, notices).map_err(sqlite("enqueue notifications", path))?;
    }
    crate::failpoint::crash_point!("ledger::before-commit");
    tx.commit()
        .map_err(sqlite("commit module progress", path))?;
    Ok(enqueued)
}

/// What writing `op` is, for the error when the ledger refuses it.
fn action(op: &LedgerOp) -> &'static str {
    match op {
        LedgerOp::Health(_) => "record a health check",
        LedgerOp::GitTag { .. } => "record a git tag",
        _ => "record module progress",
    }
}

fn apply_one(tx: &rusqlite::Transaction<'_>, op: &LedgerOp) -> rusqlite::Result<()> {
    match op {
        LedgerOp::ModuleStarted {
            run_id,
            module,
            started_ms,
            version_before,
            log_path,
        } => {
            tx.prepare_cached(
                "INSERT OR REPLACE INTO module_runs (run_id, module, outcome, started_ms, version_before, log_path)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )?
            .execute(params![
                run_id,
                module,
                ModuleOutcome::Running,
                started_ms,
                version_before,
                log_path
            ])?;
            super::run_events::module_started(tx, *run_id, module, version_before.as_deref())?;
        }
        LedgerOp::ModuleFinished(r) => {
            // An upsert rather than INSERT OR REPLACE: the row its start wrote is updated in
            // place, and neither index is touched (a replace deletes and reinserts both).
            tx.prepare_cached(
                "INSERT INTO module_runs (run_id, module, outcome, reason, started_ms, finished_ms,
                    duration_ms, exit_code, signal, version_before, version_after, log_path, error)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)
                 ON CONFLICT(run_id, module) DO UPDATE SET outcome = ?3, reason = ?4, started_ms = ?5,
                    finished_ms = ?6, duration_ms = ?7, exit_code = ?8, signal = ?9, version_before = ?10,
                    version_after = ?11, log_path = ?12, error = ?13",
            )?
            .execute(params![
                r.run_id, r.module, r.outcome, r.reason, r.started_ms, r.finished_ms, r.duration_ms,
                r.exit_code, r.signal, r.version_before, r.version_after, r.log_path, r.error
            ])?;
            super::run_events::module_finished(tx, r)?;
            record_module(tx, r)?;
        }
        LedgerOp::RunFinished {
            run_id,
            finished_ms,
            result,
            ..
        } => {
            tx.prepare_cached("UPDATE runs SET finished_ms = ?2, result = ?3 WHERE id = ?1")?
                .execute(params![run_id, finished_ms, result])?;
            super::run_events::insert(
                tx,
                *run_id,
                "run-finished",
                None,
                &serde_json::json!({ "result": result }),
            )?;
        }
        LedgerOp::Health(health) => super::health::insert_health(tx, health, now_ms())?,
        LedgerOp::GitTag { row, run_id } => super::tags::insert_git_tag(tx, row, *run_id)?,
        LedgerOp::Call(_) => unreachable!("calls run on their own, outside a batch"),
    }
    Ok(())
}

fn record_module(tx: &rusqlite::Transaction<'_>, r: &ModuleRecord) -> rusqlite::Result<()> {
    match &r.applied {
        Some(applied) => {
            tx.prepare_cached(
                "INSERT INTO modules (name, applied_version, applied_at_ms, applied_checksum, last_safe_version, last_run_id,
                    upstream_version, upstream_check_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
                 ON CONFLICT(name) DO UPDATE SET applied_version = ?2, applied_at_ms = ?3,
                    applied_checksum = ?4, last_safe_version = coalesce(?5, last_safe_version), last_run_id = ?6,
                    upstream_version = coalesce(?7, upstream_version),
                    upstream_check_ms = coalesce(?8, upstream_check_ms)",
            )?
            .execute(params![
                r.module, applied.version, r.finished_ms, applied.checksum, applied.last_safe_version, r.run_id,
                applied.upstream_version, applied.upstream_check_ms
            ])?;
        }
        None => {
            tx.prepare_cached(
                "INSERT INTO modules (name, last_run_id) VALUES (?1, ?2)
                 ON CONFLICT(name) DO UPDATE SET last_run_id = ?2",
            )?
            .execute(params![r.module, r.run_id])?;
        }
    }
    Ok(())
}
