//! The courier: a thread that delivers the outbox while upkeep does its work.
//!
//! A run starts one before its first commit and wakes it after every commit that enqueued
//! events, so a module's failure is told while the run goes on, and nothing the run does
//! ever waits for an endpoint. It first looks at the ledger when woken (so it never opens
//! a ledger being created); after that it also wakes by itself when the earliest pending
//! row is due (looking at least once a minute), which is how `upkeep daemon` retries with
//! backoff between runs. When the
//! command is done, [`Courier::finish`] asks for one last pass over what is due and waits
//! for it only up to a fixed bound; whatever is still in flight then is cut off with the
//! process, and its row, already claimed, is retried later.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::mpsc;
use std::time::Duration;

use super::{Channel, RetryPolicy, flush};
use crate::state::{Ledger, now_ms};

/// How long the courier sleeps when nothing is pending, before it looks again.
const IDLE: Duration = Duration::from_secs(60);

#[derive(Debug)]
enum Message {
    Wake,
    Finish,
}

/// A handle that wakes the courier; cheap to clone, and harmless once the courier is gone.
#[derive(Debug, Clone)]
pub struct CourierHandle {
    sender: mpsc::Sender<Message>,
}

impl CourierHandle {
    /// New events may be waiting: look now.
    pub fn wake(&self) {
        let _ = self.sender.send(Message::Wake);
    }
}

/// The delivery thread.
#[derive(Debug)]
pub struct Courier {
    handle: CourierHandle,
    done: mpsc::Receiver<()>,
}

impl Courier {
    /// Start delivering the outbox of the ledger in `state_dir` to `channels`.
    pub fn start(
        state_dir: PathBuf,
        channels: BTreeMap<String, Channel>,
        policy: RetryPolicy,
    ) -> Self {
        let (sender, receiver) = mpsc::channel();
        let (done_tx, done) = mpsc::channel();
        let spawned = std::thread::Builder::new()
            .name("upkeep-courier".into())
            .spawn(move || {
                work(&state_dir, &channels, &policy, &receiver);
                let _ = done_tx.send(());
            });
        if let Err(err) = spawned {
            tracing::warn!("cannot start delivering notifications: {err}");
        }
        Self {
            handle: CourierHandle { sender },
            done,
        }
    }

    /// A handle that wakes it.
    pub fn handle(&self) -> CourierHandle {
        self.handle.clone()
    }

    /// Deliver what is due now, then stop; wait for that at most `bound`. Returns whether
    /// the courier finished within it (if not, its attempt in flight ends with the
    /// process and is retried later).
    pub fn finish(self, bound: Duration) -> bool {
        let _ = self.handle.sender.send(Message::Finish);
        self.done.recv_timeout(bound).is_ok()
    }
}

fn work(
    state_dir: &std::path::Path,
    channels: &BTreeMap<String, Channel>,
    policy: &RetryPolicy,
    receiver: &mpsc::Receiver<Message>,
) {
    let mut ledger: Option<Ledger> = None;
    let mut finishing = false;
    // The first pass waits for a wake: the ledger may not exist yet, or be in the middle
    // of its migrations, until the run that started this courier has opened it.
    let mut wait = IDLE;
    loop {
        match receiver.recv_timeout(wait) {
            Ok(Message::Wake) | Err(mpsc::RecvTimeoutError::Timeout) => {}
            Ok(Message::Finish) | Err(mpsc::RecvTimeoutError::Disconnected) => finishing = true,
        }
        // Many wakes may have queued during one pass; one more pass serves them all.
        while let Ok(message) = receiver.try_recv() {
            finishing |= matches!(message, Message::Finish);
        }
        if ledger.is_none() {
            ledger = Ledger::open_existing(state_dir).unwrap_or_else(|err| {
                tracing::warn!("cannot open the ledger to deliver notifications: {err}");
                None
            });
        }
        wait = IDLE;
        if let Some(ledger) = ledger.as_mut() {
            if let Err(err) = flush(ledger, channels, policy, false, &|| true) {
                tracing::warn!("delivering notifications: {err}");
            }
            if let Ok(Some(at)) = ledger.outbox_next_due() {
                let until = u64::try_from(at - now_ms()).unwrap_or(0);
                // Never spin: a row due now that this pass did not take is someone else's.
                wait = Duration::from_millis(until).clamp(Duration::from_millis(50), IDLE);
            }
        }
        if finishing {
            return;
        }
    }
}
