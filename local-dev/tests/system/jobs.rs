//! A job's path against the emulator: success, retries with growing delays, permanent
//! errors, panics and timeouts, duplicate and unparseable messages, and the real worker
//! binary SIGKILLed, given SIGTERM, and in `--once` mode.

use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use data_processor::Outcome;
use data_processor::tasks::{TaskContext, TaskError, registry};
use job_core::application::jobs::queue_job;
use job_core::job::{Job, JobSource, JobStatus};
use job_core::message::JobMessage;
use job_core::queue::{JobQueue, SqsQueue};
use serde_json::{Value, json};
use uuid::Uuid;

use super::support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the local AWS emulator: `make test` or `make system-test` starts one"]
async fn a_job_succeeds_and_is_counted() {
    let env = env(5, Duration::from_secs(30)).await;
    let id = env.submit(json!({})).await;
    let worker = env.worker(registry(), settings(Duration::from_secs(30)));
    let job = env.drain_until_done(&worker, id, Duration::from_secs(20)).await;
    assert_eq!(job["status"], "SUCCEEDED", "{job}");
    assert_eq!(job["attempts"], 1);
    assert_eq!(job["task"], "process-data");
    assert_eq!(job["result"]["bytes"], 1024 * 1024);
    let stats = env.stats().await;
    assert_eq!(
        (
            stats["submitted"].as_i64(),
            stats["succeeded"].as_i64(),
            stats["retries"].as_i64()
        ),
        (Some(1), Some(1), Some(0))
    );
    assert!(
        env.queue_is_empty().await,
        "message deleted after the outcome was recorded"
    );
    env.assert_invariants().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the local AWS emulator: `make test` or `make system-test` starts one"]
async fn flaky_job_succeeds_on_the_second_attempt() {
    let env = env(5, Duration::from_secs(30)).await;
    let id = env.submit(json!({"task": "flaky", "input": {"failAttempts": 1}})).await;
    let worker = env.worker(registry(), settings(Duration::from_secs(30)));
    let job = env.drain_until_done(&worker, id, Duration::from_secs(20)).await;
    assert_eq!(job["status"], "SUCCEEDED", "{job}");
    assert_eq!(job["attempts"], 2);
    assert_eq!(env.stats().await["retries"], 1);
    env.assert_invariants().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the local AWS emulator: `make test` or `make system-test` starts one"]
async fn failing_job_fails_after_three_attempts_with_growing_delays() {
    let env = env(5, Duration::from_secs(30)).await;
    let id = env.submit(json!({"task": "fail"})).await;
    let worker = Arc::new(env.worker(registry(), settings(Duration::from_secs(30))));
    let running = tokio::spawn({
        let worker = worker.clone();
        async move { worker.run_once().await }
    });
    // While it waits between attempts the job shows RETRYING with the next attempt's time.
    let retrying = env.wait_for_status(id, "RETRYING", Duration::from_secs(10)).await;
    assert!(retrying["nextAttemptAt"].is_string(), "{retrying}");
    assert_eq!(running.await.unwrap().unwrap(), Some(Outcome::Failed(id)));
    let job = env.job(id).await;
    assert_eq!(job["status"], "FAILED", "{job}");
    assert_eq!(job["attempts"], 3);
    assert!(job["lastError"].as_str().unwrap().contains("attempt 3"), "{job}");
    let started = chrono::DateTime::parse_from_rfc3339(job["startedAt"].as_str().unwrap()).unwrap();
    let finished = chrono::DateTime::parse_from_rfc3339(job["finishedAt"].as_str().unwrap()).unwrap();
    let elapsed = (finished - started).to_std().unwrap();
    // Delays of at least base and 2 × base separate the three attempts.
    assert!(
        elapsed >= RETRY_BASE * 3,
        "attempts were {elapsed:?} apart in all, expected ≥ {:?}",
        RETRY_BASE * 3
    );
    let stats = env.stats().await;
    assert_eq!(
        (stats["failed"].as_i64(), stats["retries"].as_i64()),
        (Some(1), Some(2)),
        "{stats}"
    );
    assert!(env.queue_is_empty().await);
    env.assert_invariants().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the local AWS emulator: `make test` or `make system-test` starts one"]
async fn permanent_error_fails_with_one_attempt() {
    let env = env(5, Duration::from_secs(30)).await;
    // Input the API would refuse (422), queued without the API's checks.
    let job = Job::new(
        Uuid::now_v7(),
        "sleep",
        json!({"ms": "soon"}),
        3,
        JobSource::Api,
        None,
        chrono::Utc::now(),
    );
    queue_job(&*env.store, &*env.queue, &job).await.unwrap();
    env.jobs.lock().unwrap().push(job.job_id);
    let worker = env.worker(registry(), settings(Duration::from_secs(30)));
    let done = env.drain_until_done(&worker, job.job_id, Duration::from_secs(20)).await;
    assert_eq!(done["status"], "FAILED");
    assert_eq!(done["attempts"], 1);
    assert!(done["lastError"].as_str().unwrap().contains("invalid input"), "{done}");
    env.assert_invariants().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the local AWS emulator: `make test` or `make system-test` starts one"]
async fn panics_and_timeouts_are_failed_attempts() {
    let env = env(5, Duration::from_secs(30)).await;
    async fn explode(_: Value, _: TaskContext) -> Result<(), TaskError> {
        panic!("kaboom")
    }
    async fn hang(_: Value, _: TaskContext) -> Result<(), TaskError> {
        tokio::time::sleep(Duration::from_secs(60)).await;
        Ok(())
    }
    let tasks = registry()
        .register("explode", "panics", explode)
        .register("hang", "hangs", hang);
    let mut fast = settings(Duration::from_secs(30));
    fast.attempt_timeout = Duration::from_millis(500);
    fast.retry.max_attempts = 2;
    let worker = env.worker(tasks.clone(), fast);
    for (task, expected) in [("explode", "panicked: kaboom"), ("hang", "timed out")] {
        let job = Job::new(
            Uuid::now_v7(),
            task,
            Value::Null,
            2,
            JobSource::Api,
            None,
            chrono::Utc::now(),
        );
        queue_job(&*env.store, &*env.queue, &job).await.unwrap();
        env.jobs.lock().unwrap().push(job.job_id);
        let done = env.drain_until_done(&worker, job.job_id, Duration::from_secs(20)).await;
        assert_eq!(done["status"], "FAILED", "{done}");
        assert_eq!(done["attempts"], 2, "{done}");
        assert!(done["lastError"].as_str().unwrap().contains(expected), "{done}");
    }
    env.assert_invariants().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the local AWS emulator: `make test` or `make system-test` starts one"]
async fn the_same_message_delivered_twice_is_counted_once() {
    let visibility = Duration::from_secs(3);
    let env = env(5, visibility).await;
    let id = env.submit(json!({"task": "sleep", "input": {"ms": 500}})).await;
    // A second copy of the same message, as an at-least-once queue may deliver.
    env.queue
        .send(&JobMessage::for_job(id, "sleep", &json!({"ms": 500})).to_json())
        .await
        .unwrap();
    let worker = Arc::new(env.worker(registry(), settings(visibility)));
    // Two workers take both copies at the same time.
    let (a, b) = tokio::join!(worker.run_once(), worker.run_once());
    let mut outcomes: Vec<Outcome> = [a.unwrap(), b.unwrap()].into_iter().flatten().collect();
    // The copy that found the job held is hidden past the holder's lease; it comes back
    // once, finds the job finished, and is deleted.
    let deadline = Instant::now() + Duration::from_secs(15);
    while !outcomes.contains(&Outcome::Duplicate(id)) {
        assert!(
            Instant::now() < deadline,
            "the second copy never came back: {outcomes:?}"
        );
        outcomes.extend(worker.run_once().await.unwrap());
    }
    let runs = outcomes.iter().filter(|o| **o == Outcome::Succeeded(id)).count();
    assert_eq!(runs, 1, "{outcomes:?}");
    let stats = env.stats().await;
    assert_eq!(
        (stats["submitted"].as_i64(), stats["succeeded"].as_i64()),
        (Some(1), Some(1)),
        "{stats}"
    );
    assert!(env.queue_is_empty().await, "both copies deleted");
    env.assert_invariants().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the local AWS emulator: `make test` or `make system-test` starts one"]
async fn unparseable_message_ends_in_the_dead_letter_queue() {
    let env = env(2, Duration::from_secs(30)).await;
    env.queue.send("this is not a job").await.unwrap();
    let worker = env.worker(registry(), settings(Duration::from_secs(30)));
    let mut rejected = 0;
    for _ in 0..5 {
        match worker.run_once().await.unwrap() {
            Some(Outcome::Rejected) => rejected += 1,
            None => break,
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(rejected, 2, "received maxReceiveCount times, then redriven");
    let dlq = SqsQueue::new(aws_sdk_sqs::Client::new(&env.sdk), &env.made.dlq_url);
    let dead = dlq
        .receive(10, Duration::from_secs(2), Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(dead.len(), 1, "the message is in the dead-letter queue");
    assert_eq!(dead[0].body, "this is not a job");
    assert!(env.queue_is_empty().await);
    env.assert_invariants().await;
}

/// The `data-processor` binary built next to this test.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the local AWS emulator: `make test` or `make system-test` starts one"]
async fn a_killed_worker_loses_no_job_and_the_next_continues_with_the_next_attempt() {
    let env = env(5, Duration::from_secs(3)).await;
    let id = env.submit(json!({"task": "sleep", "input": {"ms": 2500}})).await;
    let mut first = spawn_worker(&env, 3, &["--concurrency", "1"]);
    let running = env.wait_for_status(id, "RUNNING", Duration::from_secs(15)).await;
    assert_eq!(running["attempts"], 1);
    first.kill().expect("SIGKILL"); // SIGKILL on Unix
    first.wait().unwrap();

    let mut second = spawn_worker(&env, 3, &["--concurrency", "1"]);
    let done = env.wait_for_status(id, "SUCCEEDED", Duration::from_secs(30)).await;
    second.kill().unwrap();
    second.wait().unwrap();
    assert_eq!(
        done["attempts"], 2,
        "the lost attempt counts; the next worker ran attempt 2: {done}"
    );
    assert!(
        done["lastError"].as_str().unwrap().contains("attempt 1 was lost"),
        "{done}"
    );
    let stats = env.stats().await;
    assert_eq!(
        (stats["succeeded"].as_i64(), stats["retries"].as_i64()),
        (Some(1), Some(1)),
        "{stats}"
    );
    assert!(env.queue_is_empty().await);
    env.assert_invariants().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the local AWS emulator: `make test` or `make system-test` starts one"]
async fn sigterm_gives_a_long_job_back_and_the_next_worker_finishes_it() {
    let env = env(5, Duration::from_secs(30)).await;
    let id = env.submit(json!({"task": "sleep", "input": {"ms": 4000}})).await;
    let mut first = spawn_worker(&env, 30, &["--once"]);
    env.wait_for_status(id, "RUNNING", Duration::from_secs(15)).await;
    let asked = Instant::now();
    Command::new("kill")
        .args(["-TERM", &first.id().to_string()])
        .status()
        .unwrap();
    let status = first.wait().unwrap();
    assert!(status.success(), "exit 0 after giving the job back: {status:?}");
    assert!(
        asked.elapsed() < Duration::from_secs(3),
        "stopped within the 1 s grace period: {:?}",
        asked.elapsed()
    );
    // Released at once (not after the 30 s visibility timeout): the next worker takes it.
    let worker = env.worker(registry(), settings(Duration::from_secs(30)));
    let done = env.drain_until_done(&worker, id, Duration::from_secs(15)).await;
    assert_eq!(done["status"], "SUCCEEDED", "{done}");
    assert_eq!(done["attempts"], 1, "a hand-back is not an attempt: {done}");
    let stats = env.stats().await;
    assert_eq!(stats["retries"], 0, "a hand-back counts no retry: {stats}");
    env.assert_invariants().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the local AWS emulator: `make test` or `make system-test` starts one"]
async fn sigterm_in_loop_mode_gives_every_running_job_back_at_once() {
    let env = env(5, Duration::from_secs(30)).await;
    let ids = [
        env.submit(json!({"task": "sleep", "input": {"ms": 4000}})).await,
        env.submit(json!({"task": "sleep", "input": {"ms": 4000}})).await,
    ];
    let mut first = spawn_worker(&env, 30, &["--concurrency", "4"]);
    for id in ids {
        env.wait_for_status(id, "RUNNING", Duration::from_secs(15)).await;
    }
    let asked = Instant::now();
    Command::new("kill")
        .args(["-TERM", &first.id().to_string()])
        .status()
        .unwrap();
    assert!(first.wait().unwrap().success(), "exit 0 after giving the jobs back");
    assert!(
        asked.elapsed() < Duration::from_secs(3),
        "stopped within the 1 s grace period: {:?}",
        asked.elapsed()
    );
    // Both messages released at once, not after the 30 s visibility timeout.
    let worker = env.worker(registry(), settings(Duration::from_secs(30)));
    for id in ids {
        let done = env.drain_until_done(&worker, id, Duration::from_secs(20)).await;
        assert_eq!(done["status"], "SUCCEEDED", "{done}");
        assert_eq!(done["attempts"], 1, "a hand-back is not an attempt: {done}");
    }
    assert!(env.queue_is_empty().await);
    env.assert_invariants().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the local AWS emulator: `make test` or `make system-test` starts one"]
async fn once_mode_handles_one_message_and_exits_zero() {
    let env = env(5, Duration::from_secs(30)).await;
    let first = env.submit(json!({"task": "sleep", "input": {"ms": 10}})).await;
    let second = env.submit(json!({"task": "sleep", "input": {"ms": 10}})).await;
    let status = spawn_worker(&env, 30, &["--once"]).wait().unwrap();
    assert!(status.success());
    let states = [
        env.job(first).await["status"].clone(),
        env.job(second).await["status"].clone(),
    ];
    assert_eq!(
        states.iter().filter(|s| *s == "SUCCEEDED").count(),
        1,
        "exactly one job ran: {states:?}"
    );
    assert!(states.contains(&json!("QUEUED")), "{states:?}");
    env.assert_invariants().await;
    let _ = JobStatus::Queued;
}
