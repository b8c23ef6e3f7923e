//! The emulator's own ceiling for the request mix of a job: the requests the API and the
//! worker make for a successful job, replayed straight at the emulator as fast as it
//! takes them, with the concurrency of the measured run and none of our processes'
//! work (no HTTP API, no task, no heartbeat, no logging).
//!
//! Per job, as the system makes them: the submit (`TransactWriteItems` register,
//! `SendMessage`, through the same use case as the API), one `ReceiveMessage` per
//! `batch` messages, the first claim (`UpdateItem`), the outcome (`TransactWriteItems`),
//! and one `DeleteMessageBatch` per batch received. `make bench` runs it through a
//! counting proxy, as the system's own run, and prints the mix it counted next to the
//! system's, and the system's throughput as a share of this ceiling. A message delivered
//! twice is deleted and not counted again.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use chrono::Utc;
use job_core::application::jobs::{SubmitRequest, submit};
use job_core::job::{FirstClaim, FirstClaimed};
use job_core::message::JobMessage;
use job_core::queue::{JobQueue, MAX_BATCH};
use job_core::store::JobStore;
use job_core::tasks::catalog;
use serde_json::json;
use uuid::Uuid;

/// How the replay runs.
#[derive(Debug, Clone, Copy)]
pub struct Replay {
    pub jobs: usize,
    /// Clients submitting at once (the bench's burst uses 16).
    pub submitters: usize,
    /// Messages handled at once (the worker's concurrency).
    pub concurrency: usize,
    /// Messages per receive and per batch delete.
    pub batch: usize,
    pub visibility: Duration,
}

/// Why the replay stopped.
#[derive(Debug, thiserror::Error)]
#[error("replay failed: {0}")]
pub struct ReplayError(String);

/// Replays `replay.jobs` jobs; answers how long they took from the first submit to the
/// last delete.
pub async fn replay(
    store: Arc<dyn JobStore>,
    queue: Arc<dyn JobQueue>,
    replay: Replay,
) -> Result<Duration, ReplayError> {
    let started = Instant::now();
    let to_submit = Arc::new(AtomicUsize::new(replay.jobs));
    let done = Arc::new(AtomicUsize::new(0));
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..replay.submitters.max(1) {
        let (store, queue, to_submit) = (Arc::clone(&store), Arc::clone(&queue), Arc::clone(&to_submit));
        tasks.spawn(async move {
            let tasks = catalog();
            while to_submit
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                .is_ok()
            {
                let request = SubmitRequest {
                    task: Some("sleep".to_owned()),
                    input: json!({"ms": 0}),
                    idempotency_key: None,
                };
                submit(&*store, &*queue, &tasks, 3, &job_core::Caller::new("ceiling"), request)
                    .await
                    .map_err(|e| ReplayError(e.to_string()))?;
            }
            Ok(())
        });
    }
    // The worker side: `concurrency` messages in flight, received and deleted `batch` at a time.
    let consumers = replay.concurrency.div_ceil(replay.batch.clamp(1, MAX_BATCH)).max(1);
    let batch = replay.batch.clamp(1, MAX_BATCH).min(replay.concurrency.max(1));
    for _ in 0..consumers {
        let (store, queue, done) = (Arc::clone(&store), Arc::clone(&queue), Arc::clone(&done));
        let jobs = replay.jobs;
        let visibility = replay.visibility;
        tasks.spawn(async move {
            while done.load(Ordering::SeqCst) < jobs {
                let messages = queue
                    .receive(batch as u32, Duration::from_secs(1), visibility)
                    .await
                    .map_err(|e| ReplayError(e.to_string()))?;
                let handled = messages.iter().map(|message| {
                    let store = Arc::clone(&store);
                    async move {
                        let job_id = JobMessage::parse(&message.body)
                            .ok()
                            .and_then(|m| m.job_id)
                            .ok_or_else(|| ReplayError(format!("not a job message: {}", message.body)))?;
                        let owner = Uuid::new_v4().to_string();
                        let claim = FirstClaim::new(job_id, &owner, Utc::now(), visibility);
                        let job = match store
                            .claim_first(&claim)
                            .await
                            .map_err(|e| ReplayError(e.to_string()))?
                        {
                            FirstClaimed::Claimed(job) => job,
                            // Applied on a try whose answer was lost (the SDK tried again).
                            FirstClaimed::Found(Some(job)) if claim.is_written_in(&job) => job,
                            // A duplicate delivery: the job is someone else's, or done.
                            FirstClaimed::Found(_) => return Ok((message.receipt_handle.clone(), false)),
                        };
                        let change = job.succeed(&owner, json!({"sleptMs": 0}), Utc::now());
                        store.apply(&change).await.map_err(|e| ReplayError(e.to_string()))?;
                        Ok::<_, ReplayError>((message.receipt_handle.clone(), true))
                    }
                });
                let handled = futures::future::try_join_all(handled).await?;
                let finished = handled.iter().filter(|(_, finished)| *finished).count();
                let receipts: Vec<String> = handled.into_iter().map(|(receipt, _)| receipt).collect();
                if !receipts.is_empty() {
                    let failed = queue
                        .delete_batch(&receipts)
                        .await
                        .map_err(|e| ReplayError(e.to_string()))?;
                    if let Some(failure) = failed.first() {
                        return Err(ReplayError(format!("a delete failed: {}", failure.reason)));
                    }
                    done.fetch_add(finished, Ordering::SeqCst);
                }
            }
            Ok(())
        });
    }
    while let Some(ended) = tasks.join_next().await {
        ended.map_err(|e| ReplayError(e.to_string()))??;
    }
    Ok(started.elapsed())
}
