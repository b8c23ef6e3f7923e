//! In-memory job queue with visibility timeouts, for tests and for trying the API without AWS.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use uuid::Uuid;

use super::{DeleteFailure, JobQueue, MAX_BATCH, QueueError, Received};

struct Message {
    id: String,
    body: String,
    receipt: Option<String>,
    visible_at: Instant,
    receive_count: u32,
}

/// A queue in process memory.
#[derive(Default)]
pub struct MemoryQueue {
    messages: Mutex<Vec<Message>>,
}

impl MemoryQueue {
    pub fn new() -> Self {
        Self::default()
    }

    /// Bodies of every message not yet deleted.
    pub fn bodies(&self) -> Vec<String> {
        self.messages.lock().unwrap().iter().map(|m| m.body.clone()).collect()
    }
}

#[async_trait]
impl JobQueue for MemoryQueue {
    async fn send(&self, body: &str) -> Result<(), QueueError> {
        self.messages.lock().unwrap().push(Message {
            id: Uuid::new_v4().to_string(),
            body: body.to_owned(),
            receipt: None,
            visible_at: Instant::now(),
            receive_count: 0,
        });
        Ok(())
    }

    async fn receive(&self, max: u32, wait: Duration, visibility: Duration) -> Result<Vec<Received>, QueueError> {
        let deadline = Instant::now() + wait;
        loop {
            let now = Instant::now();
            let taken: Vec<Received> = {
                let mut messages = self.messages.lock().unwrap();
                messages
                    .iter_mut()
                    .filter(|m| m.visible_at <= now)
                    .take(max as usize)
                    .map(|m| {
                        let receipt = Uuid::new_v4().to_string();
                        m.receipt = Some(receipt.clone());
                        m.visible_at = now + visibility;
                        m.receive_count += 1;
                        Received {
                            message_id: m.id.clone(),
                            receipt_handle: receipt,
                            body: m.body.clone(),
                            receive_count: m.receive_count,
                        }
                    })
                    .collect()
            };
            if !taken.is_empty() || now >= deadline {
                return Ok(taken);
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    async fn set_visibility(&self, receipt_handle: &str, visibility: Duration) -> Result<(), QueueError> {
        let mut messages = self.messages.lock().unwrap();
        match messages
            .iter_mut()
            .find(|m| m.receipt.as_deref() == Some(receipt_handle))
        {
            Some(m) => {
                m.visible_at = Instant::now() + visibility;
                Ok(())
            }
            None => Err(QueueError::Other("receipt handle is not valid".to_owned())),
        }
    }

    async fn delete(&self, receipt_handle: &str) -> Result<(), QueueError> {
        self.messages
            .lock()
            .unwrap()
            .retain(|m| m.receipt.as_deref() != Some(receipt_handle));
        Ok(())
    }

    /// Like SQS: a receipt handle that names no message is answered as a failed entry.
    async fn delete_batch(&self, receipt_handles: &[String]) -> Result<Vec<DeleteFailure>, QueueError> {
        if receipt_handles.len() > MAX_BATCH {
            return Err(QueueError::Other(format!(
                "a batch delete takes at most {MAX_BATCH} messages, not {}",
                receipt_handles.len()
            )));
        }
        let mut messages = self.messages.lock().unwrap();
        let mut failures = Vec::new();
        for receipt in receipt_handles {
            match messages
                .iter()
                .position(|m| m.receipt.as_deref() == Some(receipt.as_str()))
            {
                Some(index) => {
                    messages.remove(index);
                }
                None => failures.push(DeleteFailure {
                    receipt_handle: receipt.clone(),
                    retryable: false,
                    reason: "ReceiptHandleIsInvalid: no message has this receipt handle".to_owned(),
                }),
            }
        }
        Ok(failures)
    }
}
