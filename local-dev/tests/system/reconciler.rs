//! The reconciler against the emulator: the open-jobs index queried for real, an orphan
//! (registered, never sent) sent and run, a dead-lettered message of a job with attempts
//! left sent back, and a finished job's leftover deleted from the dead-letter queue.

use std::time::Duration;

use chrono::Utc;
use data_processor::tasks::registry;
use job_core::application::reconcile::{ReconcileSettings, reconcile};
use job_core::job::{Job, JobSource};
use job_core::message::JobMessage;
use job_core::queue::{JobQueue, SqsQueue};
use job_core::store::JobStore;
use serde_json::json;
use uuid::Uuid;

use super::{env, settings};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the local AWS emulator: `make test` or `make system-test` starts one"]
async fn the_reconciler_sends_orphans_and_resolves_the_dead_letter_queue() {
    let env = env(10, Duration::from_secs(30)).await;
    let dlq = SqsQueue::new(aws_sdk_sqs::Client::new(&env.sdk), &env.made.dlq_url);
    let long_ago = Utc::now() - chrono::Duration::minutes(10);
    // An API process that died between registration and send left this one behind.
    let orphan = Job::new(
        Uuid::now_v7(),
        "sleep",
        json!({"ms": 1}),
        3,
        JobSource::Api,
        None,
        long_ago,
    );
    env.store.apply(&orphan.register()).await.unwrap();
    // A job with attempts left whose message was dead-lettered (deferrals used up its receives).
    let dead = Job::new(
        Uuid::now_v7(),
        "sleep",
        json!({"ms": 1}),
        3,
        JobSource::Api,
        None,
        Utc::now(),
    );
    env.store.apply(&dead.register()).await.unwrap();
    dlq.send(&JobMessage::for_job(dead.job_id, &dead.task, &dead.input).to_json())
        .await
        .unwrap();
    // A fresh job with its message in the queue: not the reconciler's business.
    let fresh = env.submit(json!({"task": "sleep", "input": {"ms": 1}})).await;
    env.jobs.lock().unwrap().extend([orphan.job_id, dead.job_id]);

    let reconcile_settings = ReconcileSettings::for_visibility(Duration::from_secs(30));
    let report = reconcile(&*env.store, &*env.queue, Some(&dlq), &reconcile_settings, Utc::now())
        .await
        .unwrap();
    assert_eq!((report.requeued, report.redriven), (1, 1), "{report:?}");

    let worker = env.worker(registry(), settings(Duration::from_secs(30)));
    for id in [orphan.job_id, dead.job_id, fresh] {
        let job = env.drain_until_done(&worker, id, Duration::from_secs(20)).await;
        assert_eq!(job["status"], "SUCCEEDED", "{job}");
        assert_eq!(job["attempts"], 1, "{job}");
    }
    // A leftover of the finished job in the dead-letter queue is deleted, and nothing else happens.
    dlq.send(&JobMessage::for_job(dead.job_id, &dead.task, &dead.input).to_json())
        .await
        .unwrap();
    let report = reconcile(&*env.store, &*env.queue, Some(&dlq), &reconcile_settings, Utc::now())
        .await
        .unwrap();
    assert_eq!(
        (report.requeued, report.redriven, report.leftovers_deleted),
        (0, 0, 1),
        "{report:?}"
    );
    assert!(env.queue_is_empty().await);
    assert!(
        dlq.receive(10, Duration::from_millis(500), Duration::from_secs(1))
            .await
            .unwrap()
            .is_empty()
    );
    env.assert_invariants().await;
}
