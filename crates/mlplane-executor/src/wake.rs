//! Wake-ups from the server to its executor, so a submitted job is claimed and a cancel is
//! noticed at once instead of at the next poll.
//!
//! The server holds a clone of the executor's [`Wake`] and calls [`Wake::job_submitted`]
//! after a job was stored and [`Wake::cancel_requested`] after a cancel was stored. The
//! executor keeps polling the store (every `ExecutorConfig::poll`) as a fallback for jobs
//! and cancels that arrive through another server process sharing the same database.
//!
//! Invariant: a wake-up only makes the executor look at the store sooner; it never carries
//! data, so a lost or spurious wake-up changes nothing but latency.

use std::sync::Arc;
use tokio::sync::{Notify, watch};

/// A cheap, clonable handle shared by the server's handlers and its executor.
#[derive(Clone)]
pub struct Wake {
    inner: Arc<Inner>,
}

struct Inner {
    /// One stored permit wakes the claim loop (a wake-up with nobody waiting is kept).
    claim: Notify,
    /// Bumped on every cancel; every running job task watches it.
    cancel: watch::Sender<u64>,
}

impl Default for Wake {
    fn default() -> Self {
        Wake {
            inner: Arc::new(Inner {
                claim: Notify::new(),
                cancel: watch::Sender::new(0),
            }),
        }
    }
}

impl Wake {
    /// A job was queued: the claim loop looks for it now.
    pub fn job_submitted(&self) {
        self.inner.claim.notify_one();
    }

    /// A cancel was stored: every running job task checks its status now.
    pub fn cancel_requested(&self) {
        self.inner.cancel.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// Completes at the next (or an already pending) [`Wake::job_submitted`].
    pub(crate) async fn submitted(&self) {
        self.inner.claim.notified().await;
    }

    /// A receiver that changes at each [`Wake::cancel_requested`].
    pub(crate) fn cancels(&self) -> watch::Receiver<u64> {
        self.inner.cancel.subscribe()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn a_submit_before_the_wait_is_not_lost() {
        let w = Wake::default();
        w.job_submitted();
        tokio::time::timeout(Duration::from_secs(1), w.submitted())
            .await
            .expect("the stored permit wakes the waiter");
    }

    #[tokio::test]
    async fn every_watcher_sees_a_cancel() {
        let w = Wake::default();
        let mut a = w.cancels();
        let mut b = w.cancels();
        w.cancel_requested();
        for rx in [&mut a, &mut b] {
            tokio::time::timeout(Duration::from_secs(1), rx.changed())
                .await
                .expect("woken")
                .expect("sender alive");
        }
    }
}
