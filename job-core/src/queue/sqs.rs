//! SQS job queue.

use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_sqs::Client;
use aws_sdk_sqs::config::retry::RetryConfig;
use aws_sdk_sqs::error::SdkError;
use aws_sdk_sqs::types::{DeleteMessageBatchRequestEntry, MessageSystemAttributeName};

use super::{DeleteFailure, JobQueue, MAX_BATCH, QueueError, Received};
use crate::aws::{AwsTimeouts, describe, is_transient};

/// The SQS adapter of [`JobQueue`].
#[derive(Clone)]
pub struct SqsQueue {
    client: Client,
    queue_url: String,
    timeouts: AwsTimeouts,
}

impl SqsQueue {
    pub fn new(client: Client, queue_url: impl Into<String>) -> Self {
        Self {
            client,
            queue_url: queue_url.into(),
            timeouts: AwsTimeouts::default(),
        }
    }

    /// The timeouts the client was built with: the long poll widens them by its wait.
    pub fn with_timeouts(mut self, timeouts: AwsTimeouts) -> Self {
        self.timeouts = timeouts;
        self
    }

    /// The queue's URL.
    pub fn url(&self) -> &str {
        &self.queue_url
    }
}

fn map_err<E>(err: SdkError<E, aws_sdk_sqs::config::http::HttpResponse>) -> QueueError
where
    E: aws_sdk_sqs::error::ProvideErrorMetadata + std::error::Error + 'static,
{
    if is_transient(&err) {
        QueueError::Unavailable(describe(&err))
    } else {
        QueueError::Other(describe(&err))
    }
}

/// Attempts of one `SendMessage` (the SDK's standard retry mode makes 3 too).
const SEND_ATTEMPTS: u32 = 3;

/// Whether a failed attempt certainly delivered nothing: the queue refused the request
/// (a 4xx answer: throttled, denied, invalid), the request was never built, or the
/// connection was refused. A 5xx answer may come after the message was stored.
fn certainly_not_sent<E>(err: &SdkError<E, aws_sdk_sqs::config::http::HttpResponse>) -> bool
where
    E: std::error::Error + 'static,
{
    match err {
        SdkError::ServiceError(service) => service.raw().status().is_client_error(),
        SdkError::ConstructionFailure(_) => true,
        SdkError::DispatchFailure(_) => {
            let mut source: Option<&(dyn std::error::Error + 'static)> = Some(err);
            while let Some(e) = source {
                if let Some(io) = e.downcast_ref::<std::io::Error>() {
                    return io.kind() == std::io::ErrorKind::ConnectionRefused;
                }
                source = e.source();
            }
            false
        }
        _ => false,
    }
}

fn secs(d: Duration) -> i32 {
    i32::try_from(d.as_secs()).unwrap_or(i32::MAX)
}

#[async_trait]
impl JobQueue for SqsQueue {
    /// Retries here rather than in the SDK, to know whether any attempt may have
    /// delivered the message: only when none may have is the error [`QueueError::NotSent`].
    /// The attempts together stay within the operation timeout.
    async fn send(&self, body: &str) -> Result<(), QueueError> {
        let deadline = tokio::time::Instant::now() + self.timeouts.operation;
        let mut maybe_sent = false;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let call = self
                .client
                .send_message()
                .queue_url(&self.queue_url)
                .message_body(body)
                .customize()
                .config_override(aws_sdk_sqs::config::Builder::default().retry_config(RetryConfig::disabled()))
                .send();
            let err = match tokio::time::timeout_at(deadline, call).await {
                Ok(Ok(_)) => return Ok(()),
                Ok(Err(err)) => err,
                Err(_) => {
                    return Err(QueueError::Unavailable(format!(
                        "SendMessage did not finish within {:?}",
                        self.timeouts.operation
                    )));
                }
            };
            maybe_sent |= !certainly_not_sent(&err);
            let retryable = is_transient(&err);
            let pause = Duration::from_millis(50 << (2 * attempt));
            if !retryable || attempt >= SEND_ATTEMPTS || tokio::time::Instant::now() + pause >= deadline {
                return Err(match map_err(err) {
                    QueueError::Unavailable(text) if !maybe_sent => QueueError::NotSent(text),
                    QueueError::Unavailable(text) => QueueError::Unavailable(text),
                    other if maybe_sent => QueueError::Unavailable(other.to_string()),
                    other => other,
                });
            }
            tokio::time::sleep(pause).await;
        }
    }

    async fn receive(&self, max: u32, wait: Duration, visibility: Duration) -> Result<Vec<Received>, QueueError> {
        let wait = wait.min(Duration::from_secs(20));
        let out = self
            .client
            .receive_message()
            .queue_url(&self.queue_url)
            .max_number_of_messages(max.clamp(1, 10) as i32)
            .wait_time_seconds(secs(wait))
            .visibility_timeout(secs(visibility))
            .message_system_attribute_names(MessageSystemAttributeName::ApproximateReceiveCount)
            .customize()
            .config_override(aws_sdk_sqs::config::Builder::default().timeout_config(self.timeouts.for_long_poll(wait)))
            .send()
            .await
            .map_err(map_err)?;
        Ok(out
            .messages
            .unwrap_or_default()
            .into_iter()
            .filter_map(|m| {
                let receive_count = m
                    .attributes()
                    .and_then(|a| a.get(&MessageSystemAttributeName::ApproximateReceiveCount))
                    .and_then(|c| c.parse().ok())
                    .unwrap_or(1);
                Some(Received {
                    message_id: m.message_id?,
                    receipt_handle: m.receipt_handle?,
                    body: m.body.unwrap_or_default(),
                    receive_count,
                })
            })
            .collect())
    }

    async fn set_visibility(&self, receipt_handle: &str, visibility: Duration) -> Result<(), QueueError> {
        self.client
            .change_message_visibility()
            .queue_url(&self.queue_url)
            .receipt_handle(receipt_handle)
            .visibility_timeout(secs(visibility))
            .send()
            .await
            .map_err(map_err)?;
        Ok(())
    }

    async fn delete(&self, receipt_handle: &str) -> Result<(), QueueError> {
        self.client
            .delete_message()
            .queue_url(&self.queue_url)
            .receipt_handle(receipt_handle)
            .send()
            .await
            .map_err(map_err)?;
        Ok(())
    }

    /// One `DeleteMessageBatch`; each entry's id is its index in `receipt_handles`.
    async fn delete_batch(&self, receipt_handles: &[String]) -> Result<Vec<DeleteFailure>, QueueError> {
        if receipt_handles.is_empty() {
            return Ok(Vec::new());
        }
        if receipt_handles.len() > MAX_BATCH {
            return Err(QueueError::Other(format!(
                "a batch delete takes at most {MAX_BATCH} messages, not {}",
                receipt_handles.len()
            )));
        }
        let entries = receipt_handles
            .iter()
            .enumerate()
            .map(|(i, receipt)| {
                DeleteMessageBatchRequestEntry::builder()
                    .id(i.to_string())
                    .receipt_handle(receipt)
                    .build()
                    .map_err(|e| QueueError::Other(e.to_string()))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let out = self
            .client
            .delete_message_batch()
            .queue_url(&self.queue_url)
            .set_entries(Some(entries))
            .send()
            .await
            .map_err(map_err)?;
        Ok(out
            .failed()
            .iter()
            .map(|failed| {
                let receipt_handle = failed
                    .id()
                    .parse::<usize>()
                    .ok()
                    .and_then(|i| receipt_handles.get(i))
                    .cloned()
                    .unwrap_or_default();
                DeleteFailure {
                    receipt_handle,
                    retryable: !failed.sender_fault(),
                    reason: format!("{}: {}", failed.code(), failed.message().unwrap_or_default()),
                }
            })
            .collect())
    }
}
