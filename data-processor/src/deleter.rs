//! Deletes finished messages in batches (`DeleteMessageBatch`), for the loop mode.
//!
//! A finished message is queued here and deleted with others: when [`MAX_BATCH`] are
//! waiting, or a linger ([`linger_for`]: a second, at most a tenth of the visibility
//! timeout) after the first of a batch came, and on [`BatchDeleter::close`] (shutdown),
//! which deletes whatever is still waiting. Waiting costs nothing a client sees: the job's
//! outcome is recorded before its message is queued here. The message stays hidden
//! meanwhile: its heartbeat last renewed it at most a third of the visibility timeout ago,
//! so at least half the timeout is left, far longer than the linger. A process killed
//! before the delete leaves the message to reappear; the next worker finds its job finished
//! and deletes it.
//!
//! Nothing is lost silently. An entry the queue failed on its side, or a whole call that
//! failed for want of the queue, is tried again (at most [`TRIES`] times in all); an entry
//! refused for the request's sake (a stale receipt handle) or out of tries is logged as a
//! warning and left: its message reappears when its visibility timeout runs out, its job
//! is found finished, and the message is deleted then (`Outcome::Duplicate`).

use std::sync::Arc;
use std::time::Duration;

use job_core::queue::{DeleteFailure, JobQueue, MAX_BATCH, QueueError};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tracing::warn;

/// How long a finished message may wait for others to share its delete, with messages
/// hidden for `visibility`: a second, at most a tenth of it. A process killed outright
/// leaves the messages that were waiting to reappear: each costs its next receiver a
/// receive, a claim that finds the job finished, and a delete.
pub fn linger_for(visibility: Duration) -> Duration {
    Duration::from_secs(1).min(visibility / 10)
}

/// Tries of deleting one message, the first included.
pub const TRIES: u32 = 3;

/// A message waiting to be deleted.
struct Pending {
    receipt_handle: String,
    tries: u32,
}

/// Queues finished messages and deletes them in batches, until closed.
pub struct BatchDeleter {
    sender: mpsc::UnboundedSender<String>,
    task: JoinHandle<()>,
}

impl BatchDeleter {
    /// Starts deleting through `queue`, a batch at most `linger` after its first message.
    pub fn start(queue: Arc<dyn JobQueue>, linger: Duration) -> Self {
        let (sender, receiver) = mpsc::unbounded_channel();
        let task = tokio::spawn(deleting(queue, receiver, linger));
        Self { sender, task }
    }

    /// Queues a finished message for deletion.
    pub fn delete(&self, receipt_handle: &str) {
        if self.sender.send(receipt_handle.to_owned()).is_err() {
            warn!(
                receipt_handle,
                "the batch deleter has stopped; the message reappears and is deleted then"
            );
        }
    }

    /// Deletes what is still waiting, then stops.
    pub async fn close(self) {
        drop(self.sender);
        if let Err(err) = self.task.await {
            warn!(error = %err, "the batch deleter stopped abnormally");
        }
    }
}

async fn deleting(queue: Arc<dyn JobQueue>, mut receiver: mpsc::UnboundedReceiver<String>, linger: Duration) {
    let mut pending: Vec<Pending> = Vec::new();
    let mut open = true;
    while open || !pending.is_empty() {
        if pending.is_empty() {
            match receiver.recv().await {
                Some(receipt_handle) => pending.push(Pending {
                    receipt_handle,
                    tries: 0,
                }),
                None => break,
            }
        }
        let flush_at = Instant::now() + linger;
        while open && pending.len() < MAX_BATCH {
            tokio::select! {
                next = receiver.recv() => match next {
                    Some(receipt_handle) => pending.push(Pending { receipt_handle, tries: 0 }),
                    None => open = false,
                },
                _ = tokio::time::sleep_until(flush_at) => break,
            }
        }
        let batch: Vec<Pending> = pending.drain(..pending.len().min(MAX_BATCH)).collect();
        let again = delete_batch(&*queue, batch).await;
        if !again.is_empty() {
            let pause = Duration::from_millis(100 << again[0].tries.min(4));
            pending.splice(0..0, again);
            tokio::time::sleep(pause).await;
        }
    }
}

/// Deletes one batch; answers the entries worth another try.
async fn delete_batch(queue: &dyn JobQueue, batch: Vec<Pending>) -> Vec<Pending> {
    let receipts: Vec<String> = batch.iter().map(|p| p.receipt_handle.clone()).collect();
    let failures = match queue.delete_batch(&receipts).await {
        Ok(failures) => failures,
        Err(err) => {
            let retryable = matches!(err, QueueError::Unavailable(_) | QueueError::NotSent(_));
            batch
                .iter()
                .map(|p| DeleteFailure {
                    receipt_handle: p.receipt_handle.clone(),
                    retryable,
                    reason: err.to_string(),
                })
                .collect()
        }
    };
    let mut again = Vec::new();
    for failure in failures {
        let Some(entry) = batch.iter().find(|p| p.receipt_handle == failure.receipt_handle) else {
            warn!(reason = %failure.reason, "a batch delete failed on an entry it was not asked to delete");
            continue;
        };
        let tries = entry.tries + 1;
        if failure.retryable && tries < TRIES {
            again.push(Pending {
                receipt_handle: failure.receipt_handle,
                tries,
            });
        } else {
            warn!(receipt_handle = %failure.receipt_handle, tries, reason = %failure.reason,
                  "finished message not deleted; it reappears after its visibility timeout and is deleted then");
        }
    }
    again
}

#[cfg(test)]
mod tests {
    use super::*;
    use async_trait::async_trait;
    use job_core::queue::{MemoryQueue, Received};
    use std::sync::Mutex;

    /// A memory queue that records each batch delete's size and fails the first `fail` calls.
    #[derive(Default)]
    struct Recording {
        inner: MemoryQueue,
        batches: Mutex<Vec<usize>>,
        fail: Mutex<u32>,
    }

    #[async_trait]
    impl JobQueue for Recording {
        async fn send(&self, body: &str) -> Result<(), QueueError> {
            self.inner.send(body).await
        }
        async fn receive(&self, max: u32, wait: Duration, visibility: Duration) -> Result<Vec<Received>, QueueError> {
            self.inner.receive(max, wait, visibility).await
        }
        async fn set_visibility(&self, receipt: &str, visibility: Duration) -> Result<(), QueueError> {
            self.inner.set_visibility(receipt, visibility).await
        }
        async fn delete(&self, _: &str) -> Result<(), QueueError> {
            panic!("the batch deleter deletes in batches only")
        }
        async fn delete_batch(&self, receipts: &[String]) -> Result<Vec<DeleteFailure>, QueueError> {
            self.batches.lock().unwrap().push(receipts.len());
            {
                let mut fail = self.fail.lock().unwrap();
                if *fail > 0 {
                    *fail -= 1;
                    return Err(QueueError::Unavailable("throttled".into()));
                }
            }
            self.inner.delete_batch(receipts).await
        }
    }

    async fn received(queue: &Recording, n: usize) -> Vec<Received> {
        for i in 0..n {
            queue.send(&format!("m{i}")).await.unwrap();
        }
        let mut all = Vec::new();
        while all.len() < n {
            all.extend(
                queue
                    .receive(10, Duration::ZERO, Duration::from_secs(60))
                    .await
                    .unwrap(),
            );
        }
        all
    }

    #[test]
    fn the_linger_stays_within_a_tenth_of_the_visibility_timeout() {
        assert_eq!(linger_for(Duration::from_secs(30)), Duration::from_secs(1));
        assert_eq!(linger_for(Duration::from_secs(3)), Duration::from_millis(300));
    }

    #[tokio::test]
    async fn deletes_in_batches_of_ten_and_the_rest_on_close() {
        let queue = Arc::new(Recording::default());
        let messages = received(&queue, 23).await;
        let deleter = BatchDeleter::start(queue.clone(), Duration::from_secs(60));
        for m in &messages {
            deleter.delete(&m.receipt_handle);
        }
        deleter.close().await;
        assert_eq!(*queue.batches.lock().unwrap(), vec![10, 10, 3]);
        assert!(queue.inner.bodies().is_empty(), "every message deleted");
    }

    #[tokio::test]
    async fn a_lone_message_is_deleted_after_the_linger() {
        let queue = Arc::new(Recording::default());
        let messages = received(&queue, 1).await;
        let deleter = BatchDeleter::start(queue.clone(), Duration::from_millis(50));
        deleter.delete(&messages[0].receipt_handle);
        tokio::time::sleep(Duration::from_millis(400)).await;
        assert_eq!(*queue.batches.lock().unwrap(), vec![1], "deleted before close");
        assert!(queue.inner.bodies().is_empty());
        deleter.close().await;
    }

    #[tokio::test]
    async fn a_failed_call_is_tried_again_and_a_refused_entry_is_left() {
        let queue = Arc::new(Recording::default());
        let messages = received(&queue, 2).await;
        *queue.fail.lock().unwrap() = 1;
        let deleter = BatchDeleter::start(queue.clone(), Duration::from_millis(10));
        deleter.delete(&messages[0].receipt_handle);
        deleter.delete("not-a-receipt-handle");
        deleter.delete(&messages[1].receipt_handle);
        deleter.close().await;
        assert_eq!(
            *queue.batches.lock().unwrap(),
            vec![3, 3],
            "the failed call, then once more"
        );
        assert!(queue.inner.bodies().is_empty(), "both real messages deleted");
    }

    #[tokio::test]
    async fn an_entry_out_of_tries_is_left_to_reappear() {
        let queue = Arc::new(Recording::default());
        let messages = received(&queue, 1).await;
        *queue.fail.lock().unwrap() = TRIES;
        let deleter = BatchDeleter::start(queue.clone(), Duration::from_millis(10));
        deleter.delete(&messages[0].receipt_handle);
        deleter.close().await;
        assert_eq!(queue.batches.lock().unwrap().len(), TRIES as usize);
        assert_eq!(queue.inner.bodies(), vec!["m0".to_owned()], "left, not deleted");
    }
}
