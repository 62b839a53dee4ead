//! Stopping a run from outside it: a signal, a server's "cancel" request, a daemon going
//! down.

use std::sync::Arc;

use tokio::sync::watch;

/// A switch that stops a run once thrown. Clones share it: the caller keeps one and hands
/// one to the run ([`super::RunOptions::cancel`]). Throwing it before the run starts makes
/// the run cancel at once; throwing it again while modules are being stopped cuts their
/// grace period short (SIGKILL at once), as a second Ctrl-C does.
#[derive(Debug, Clone)]
pub struct Cancel {
    sender: Arc<watch::Sender<bool>>,
}

impl Default for Cancel {
    fn default() -> Self {
        Self {
            sender: Arc::new(watch::channel(false).0),
        }
    }
}

impl Cancel {
    /// Stop the run; again, stop its modules without waiting out their grace.
    pub fn cancel(&self) {
        self.sender.send_replace(true);
    }

    /// Whether the run was told to stop.
    pub fn is_cancelled(&self) -> bool {
        *self.sender.borrow()
    }

    /// A receiver that sees the switch thrown.
    pub(crate) fn subscribe(&self) -> watch::Receiver<bool> {
        self.sender.subscribe()
    }

    /// The sender, for the run's signal listener.
    pub(crate) fn sender(&self) -> Arc<watch::Sender<bool>> {
        Arc::clone(&self.sender)
    }
}
