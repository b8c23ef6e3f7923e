//! Keeps a received message invisible and the job's lease alive while the worker holds it,
//! and tells the worker to stop when the lease cannot be extended (lost, or a cancel was
//! asked for).

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use job_core::queue::JobQueue;
use job_core::store::{JobStore, StoreError};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::warn;
use uuid::Uuid;

/// Renews every `window / 3` until dropped; cancels `stop` when the store refuses.
pub struct Heartbeat {
    task: JoinHandle<()>,
}

impl Heartbeat {
    pub fn start(
        queue: Arc<dyn JobQueue>,
        store: Arc<dyn JobStore>,
        receipt_handle: String,
        job_id: Uuid,
        owner: String,
        window: Duration,
        stop: CancellationToken,
    ) -> Self {
        let period = (window / 3).max(Duration::from_millis(500));
        let task = tokio::spawn(async move {
            let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
            loop {
                ticks.tick().await;
                // The lease first, so it runs out before the message shows again.
                let until = Utc::now() + window;
                match store.extend_lease(job_id, &owner, until).await {
                    Ok(()) => {}
                    // Not (or no longer) ours, or to be cancelled: the attempt stops.
                    Err(StoreError::Conflict) => stop.cancel(),
                    Err(err) => warn!(%job_id, error = %err, "heartbeat could not extend the job lease"),
                }
                if let Err(err) = queue.set_visibility(&receipt_handle, window).await {
                    warn!(%job_id, error = %err, "heartbeat could not extend message visibility");
                }
            }
        });
        Self { task }
    }
}

impl Drop for Heartbeat {
    fn drop(&mut self) {
        self.task.abort();
    }
}
