//! Keeps a received message invisible and the job's lease alive while the worker holds
//! it, and says when the worker can no longer prove it holds the job.
//!
//! Timing. Both clocks start when the worker asked for the message (before SQS started
//! the message's visibility timeout), so the lease never outlives the message's
//! invisibility: when the message can reappear, the lease has already run out, and the
//! worker that took it has already stopped. Renewals come every third of the window,
//! counted from that moment, and after a failed renewal every ninth; the lease first, then
//! the message, so the lease again ends first.
//!
//! Loss. The lease is lost when a renewal finds another owner, or when no renewal
//! succeeded until [`margin`] before the last confirmed expiry (throttling, a stalled
//! network). Then [`Heartbeat::lost`] is cancelled, and the worker stops the attempt before
//! any other worker may take the job over. This assumes the clocks of the workers agree
//! within that margin (EC2 instances keep time within milliseconds through the Amazon
//! Time Sync Service).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use job_core::queue::JobQueue;
use job_core::store::{JobStore, StoreError};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::warn;
use uuid::Uuid;

/// How long before the lease's confirmed expiry a worker gives it up: a tenth of the
/// window, at least one second.
pub fn margin(window: Duration) -> Duration {
    (window / 10).max(Duration::from_secs(1)).min(window / 2)
}

/// What the worker and its heartbeat share about the lease.
#[derive(Debug, Default)]
struct LeaseState {
    /// Until when the lease is known to be ours; `None` until the worker claimed the job.
    held_until: Option<DateTime<Utc>>,
}

/// Renews until dropped.
pub struct Heartbeat {
    task: JoinHandle<()>,
    state: Arc<Mutex<LeaseState>>,
    lost: CancellationToken,
    window: Duration,
    started: DateTime<Utc>,
}

impl Heartbeat {
    /// Starts renewing for a message asked for at `asked_at` (its visibility timeout began
    /// no earlier than that) with visibility `window`.
    pub fn start(
        queue: Arc<dyn JobQueue>,
        store: Arc<dyn JobStore>,
        receipt_handle: String,
        job_id: Uuid,
        owner: String,
        window: Duration,
        asked_at: DateTime<Utc>,
    ) -> Self {
        let state = Arc::new(Mutex::new(LeaseState::default()));
        let lost = CancellationToken::new();
        let period = (window / 3).max(Duration::from_millis(300));
        let margin = margin(window);
        let since_asked = (Utc::now() - asked_at).to_std().unwrap_or_default();
        let first = period.saturating_sub(since_asked);
        let task = {
            let (state, lost) = (Arc::clone(&state), lost.clone());
            tokio::spawn(async move {
                let mut next = tokio::time::Instant::now() + first;
                loop {
                    let held_until = state.lock().unwrap().held_until;
                    let give_up = held_until.map(|until| {
                        let left = (until - Utc::now()).to_std().unwrap_or_default();
                        tokio::time::Instant::now() + left.saturating_sub(margin)
                    });
                    let renew_now = match give_up {
                        Some(give_up) if give_up < next => {
                            tokio::time::sleep_until(give_up).await;
                            false
                        }
                        _ => {
                            tokio::time::sleep_until(next).await;
                            true
                        }
                    };
                    if !renew_now {
                        let held_until = state.lock().unwrap().held_until;
                        if held_until.is_some_and(|until| Utc::now() + margin >= until) {
                            warn!(%job_id, "lease could not be renewed in time; stopping the attempt");
                            lost.cancel();
                            return;
                        }
                        continue;
                    }
                    // The lease first, so it runs out before the message shows again.
                    let until = Utc::now() + window;
                    let renewed = match store.extend_lease(job_id, &owner, until).await {
                        Ok(()) => {
                            let mut state = state.lock().unwrap();
                            if state.held_until.is_some() {
                                state.held_until = Some(until);
                            }
                            true
                        }
                        Err(StoreError::Conflict) => {
                            if state.lock().unwrap().held_until.is_some() {
                                warn!(%job_id, "lease taken by another worker; stopping the attempt");
                                lost.cancel();
                                return;
                            }
                            true // not claimed yet: nothing to extend
                        }
                        Err(err) => {
                            warn!(%job_id, error = %err, "heartbeat could not extend the job lease");
                            false
                        }
                    };
                    if let Err(err) = queue.set_visibility(&receipt_handle, window).await {
                        warn!(%job_id, error = %err, "heartbeat could not extend message visibility");
                    }
                    next = tokio::time::Instant::now() + if renewed { period } else { period / 3 };
                }
            })
        };
        Self {
            task,
            state,
            lost,
            window,
            started: asked_at,
        }
    }

    /// Cancelled when the lease is lost.
    pub fn lost(&self) -> CancellationToken {
        self.lost.clone()
    }

    /// How long a claim made now may lease the job: until the message's visibility
    /// (started no earlier than `asked_at`) or its last renewal ends, whichever is known.
    pub fn lease_for(&self) -> Duration {
        let until = self
            .state
            .lock()
            .unwrap()
            .held_until
            .unwrap_or(self.started + self.window);
        (until - Utc::now()).to_std().unwrap_or_default()
    }

    /// The worker claimed the job with a lease until `until`.
    pub fn held(&self, until: DateTime<Utc>) {
        self.state.lock().unwrap().held_until = Some(until);
    }
}

impl Drop for Heartbeat {
    fn drop(&mut self) {
        self.task.abort();
    }
}
