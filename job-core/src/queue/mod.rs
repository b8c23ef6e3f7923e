//! The job queue port: send, receive (up to 10 at once) with long polling, keep invisible,
//! delete one message or a batch of them.

mod memory;
mod sqs;

pub use memory::MemoryQueue;
pub use sqs::SqsQueue;

use std::time::Duration;

use async_trait::async_trait;

/// Why a queue call failed.
#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    /// The queue could not be reached, timed out or is throttling; the call may be
    /// retried. For a send, the message may have been sent all the same (a response lost
    /// on the way back).
    #[error("job queue unavailable: {0}")]
    Unavailable(String),
    /// A send that certainly sent nothing: the connection was refused, or the queue
    /// answered every attempt with an error. The call may be retried.
    #[error("job queue unavailable, message not sent: {0}")]
    NotSent(String),
    #[error("job queue error: {0}")]
    Other(String),
}

/// A message taken from the queue, invisible to others until its timeout runs out.
#[derive(Debug, Clone)]
pub struct Received {
    pub message_id: String,
    pub receipt_handle: String,
    pub body: String,
    /// How often the message has been received, this time included.
    pub receive_count: u32,
}

/// The most messages one receive or one batch delete may carry (SQS's limit).
pub const MAX_BATCH: usize = 10;

/// A message a batch delete did not delete.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeleteFailure {
    pub receipt_handle: String,
    /// Whether trying again may succeed (the queue's fault, not the request's: a stale or
    /// invalid receipt handle is not worth another try; its message reappears).
    pub retryable: bool,
    pub reason: String,
}

/// Where job messages wait for a worker.
#[async_trait]
pub trait JobQueue: Send + Sync {
    /// Sends one message body. [`QueueError::NotSent`] says that nothing was sent; any other
    /// error leaves it open.
    async fn send(&self, body: &str) -> Result<(), QueueError>;

    /// Receives up to `max` messages, waiting up to `wait` for the first, each hidden for `visibility`.
    async fn receive(&self, max: u32, wait: Duration, visibility: Duration) -> Result<Vec<Received>, QueueError>;

    /// Keeps a received message hidden for `visibility` from now (zero makes it visible at once).
    async fn set_visibility(&self, receipt_handle: &str, visibility: Duration) -> Result<(), QueueError>;

    /// Deletes a received message: its job is done with.
    async fn delete(&self, receipt_handle: &str) -> Result<(), QueueError>;

    /// Deletes up to [`MAX_BATCH`] received messages in one call, answering the ones it
    /// did not delete. An error: the call as a whole failed, and any of them may remain.
    /// The default deletes them one by one.
    async fn delete_batch(&self, receipt_handles: &[String]) -> Result<Vec<DeleteFailure>, QueueError> {
        let mut failures = Vec::new();
        for receipt in receipt_handles {
            if let Err(err) = self.delete(receipt).await {
                failures.push(DeleteFailure {
                    receipt_handle: receipt.clone(),
                    retryable: matches!(err, QueueError::Unavailable(_) | QueueError::NotSent(_)),
                    reason: err.to_string(),
                });
            }
        }
        Ok(failures)
    }
}
