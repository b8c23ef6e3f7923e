//! The worker over the in-memory store and queue: one message each, from receipt to its
//! fate (`--once` mode, [`Worker::run_once`]). The same paths against the emulator, with
//! the real binary killed and stopped, are the system tests (`local-dev/tests/system/jobs.rs`).

use std::sync::Arc;
use std::time::Duration;

use job_core::Caller;
use job_core::application::jobs::{SubmitRequest, submit};
use job_core::job::JobStatus;
use job_core::queue::{JobQueue, MemoryQueue};
use job_core::retry::RetryPolicy;
use job_core::store::{JobStore, MemoryStore};
use job_core::tasks::catalog;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use super::{Outcome, Worker, WorkerSettings};
use crate::tasks::registry;

struct Harness {
    store: Arc<MemoryStore>,
    queue: Arc<MemoryQueue>,
    worker: Worker,
}

fn harness() -> Harness {
    let store = Arc::new(MemoryStore::new());
    let queue = Arc::new(MemoryQueue::new());
    let settings = WorkerSettings {
        retry: RetryPolicy {
            max_attempts: 3,
            base_delay: Duration::from_millis(10),
            max_delay: Duration::from_millis(20),
        },
        attempt_timeout: Duration::from_secs(10),
        visibility_timeout: Duration::from_secs(30),
        shutdown_grace: Duration::from_secs(1),
        receive_wait: Duration::from_millis(10),
        receive_gather: Duration::ZERO,
    };
    let worker = Worker::new(
        store.clone(),
        queue.clone(),
        registry(),
        settings,
        CancellationToken::new(),
    );
    Harness { store, queue, worker }
}

impl Harness {
    async fn submit(&self, task: &str, input: Value) -> Uuid {
        let request = SubmitRequest {
            task: Some(task.to_owned()),
            input,
            idempotency_key: None,
        };
        let caller = Caller::new("test");
        submit(&*self.store, &*self.queue, &catalog(), 3, &caller, request)
            .await
            .unwrap()
            .job_id
    }

    async fn status(&self, id: Uuid) -> (JobStatus, u32) {
        let job = self.store.get(id).await.unwrap().unwrap();
        (job.status, job.attempts)
    }
}

#[tokio::test]
async fn a_job_that_succeeds_is_recorded_and_its_message_deleted() {
    let h = harness();
    let id = h.submit("sleep", json!({"ms": 1})).await;
    assert_eq!(h.worker.run_once().await.unwrap(), Some(Outcome::Succeeded(id)));
    assert_eq!(h.status(id).await, (JobStatus::Succeeded, 1));
    assert!(h.queue.bodies().is_empty(), "deleted once the outcome was recorded");
}

#[tokio::test]
async fn a_failed_attempt_is_retried_within_the_same_handling() {
    let h = harness();
    let id = h.submit("flaky", json!({"failAttempts": 1})).await;
    assert_eq!(h.worker.run_once().await.unwrap(), Some(Outcome::Succeeded(id)));
    assert_eq!(h.status(id).await, (JobStatus::Succeeded, 2));
    let failing = h.submit("fail", Value::Null).await;
    assert_eq!(h.worker.run_once().await.unwrap(), Some(Outcome::Failed(failing)));
    assert_eq!(h.status(failing).await, (JobStatus::Failed, 3));
    assert!(h.queue.bodies().is_empty());
}

#[tokio::test]
async fn an_unparseable_message_is_rejected_and_left_for_the_dead_letter_queue() {
    let h = harness();
    h.queue.send("not a job message").await.unwrap();
    assert_eq!(h.worker.run_once().await.unwrap(), Some(Outcome::Rejected));
    assert_eq!(h.queue.bodies(), ["not a job message"], "kept for the redrive policy");
    assert!(h.store.jobs().is_empty());
}

#[tokio::test]
async fn a_message_for_a_finished_job_is_a_duplicate_and_deleted() {
    let h = harness();
    let id = h.submit("sleep", json!({"ms": 1})).await;
    let body = h.queue.bodies().remove(0);
    assert_eq!(h.worker.run_once().await.unwrap(), Some(Outcome::Succeeded(id)));
    h.queue.send(&body).await.unwrap(); // a late redelivery
    assert_eq!(h.worker.run_once().await.unwrap(), Some(Outcome::Duplicate(id)));
    assert_eq!(h.status(id).await, (JobStatus::Succeeded, 1), "ran once");
    assert!(h.queue.bodies().is_empty());
}

#[tokio::test]
async fn no_message_is_none() {
    let h = harness();
    assert_eq!(h.worker.run_once().await.unwrap(), None);
}
