//! System tests: the API router, the worker and the local tools together.
//!
//! Here, against the local AWS emulator over HTTP (moto or LocalStack): the API router and
//! the worker with the real DynamoDB and SQS adapters, and the real `data-processor`
//! binary for crash and shutdown tests. These are marked `#[ignore = "needs the local AWS
//! emulator ..."]`, so plain `cargo test` lists them as ignored and passes; `make
//! system-test` and `make test` start the emulator, set `AWS_ENDPOINT_URL` and run them
//! (`-- --include-ignored`). Each provisions its own queue, dead-letter queue and table,
//! and checks the stats invariants at its end.
//!
//! - [`schedules`]: the EventBridge Scheduler adapter and the local runner on the emulator.
//! - [`faults`]: ambiguous writes and a black-holed network, through the fault proxy.
//! - [`reconciler`]: the reconciler's pass against the emulator (the open-jobs index, the
//!   dead-letter queue).
//! - [`overlap`]: schedules' overlap policies on DynamoDB, through the real worker.
//! - [`operate`]: listing through the real indexes, cancel in each state, the
//!   cancel-vs-finish race, re-run.
//! - [`aggregator`]: counting from the table's stream: jobs through the worker, the
//!   local counter aggregator, a redelivered stream and a lost booking answer.
//! - [`in_memory`]: scheduled runs through the local runner, the worker and the API over
//!   the in-memory adapters (no emulator needed).

use std::path::PathBuf;
use std::process::{Child, Command};
use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_config::SdkConfig;
use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use data_processor::tasks::{Registry, TaskContext, TaskError, registry};
use data_processor::{Outcome, Worker, WorkerSettings};
use http_body_util::BodyExt;
use job_core::application::jobs::queue_job;
use job_core::job::{Job, JobSource, JobStatus};
use job_core::message::JobMessage;
use job_core::queue::{JobQueue, SqsQueue};
use job_core::retry::RetryPolicy;
use job_core::stats::Counting;
use job_core::store::{DynamoDbStore, JobStore};
use lambdas::AppState;
use local_dev::provision::{Plan, Provisioned, provision};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;
use uuid::Uuid;

mod aggregator;
mod claims;
mod faults;
mod grants;
mod in_memory;
mod operate;
mod overlap;
mod reconciler;
mod requests;
mod schedules;

const RETRY_BASE: Duration = Duration::from_millis(300);

struct Env {
    sdk: SdkConfig,
    made: Provisioned,
    store: Arc<DynamoDbStore>,
    queue: Arc<SqsQueue>,
    app: Router,
    /// Every job this test created, for the invariant check.
    jobs: std::sync::Mutex<Vec<Uuid>>,
}

/// The emulator's SDK configuration and a fresh resource-name prefix.
async fn emulator() -> (SdkConfig, String) {
    let endpoint = std::env::var("AWS_ENDPOINT_URL").unwrap_or_default();
    assert!(
        endpoint.starts_with("http://127.0.0.1") || endpoint.starts_with("http://localhost"),
        "system tests need a local AWS emulator: run them with `make system-test` or `make test`, which start one and set AWS_ENDPOINT_URL (got {endpoint:?})"
    );
    let prefix = format!("t{}", &Uuid::new_v4().simple().to_string()[..10]);
    (job_core::aws::sdk_config().await, prefix)
}

async fn env(max_receive_count: u32, visibility: Duration) -> Env {
    env_counting(max_receive_count, visibility, Counting::Inline).await
}

/// An environment whose store counts in `counting` mode (with a stream on the table for
/// [`Counting::Stream`]).
async fn env_counting(max_receive_count: u32, visibility: Duration, counting: Counting) -> Env {
    let (sdk, prefix) = emulator().await;
    let plan = Plan {
        max_receive_count,
        visibility_timeout: visibility,
        schedule_group: None,
        counting,
        ..Plan::named(&prefix)
    };
    let made = provision(&sdk, &plan).await.expect("provisioning against the emulator");
    let store =
        Arc::new(DynamoDbStore::new(aws_sdk_dynamodb::Client::new(&sdk), &made.table_name, 3).with_counting(counting));
    let queue = Arc::new(SqsQueue::new(aws_sdk_sqs::Client::new(&sdk), &made.queue_url));
    let app = lambdas::routes::all(AppState::new(store.clone(), queue.clone()));
    Env {
        sdk,
        made,
        store,
        queue,
        app,
        jobs: Default::default(),
    }
}

fn settings(visibility: Duration) -> WorkerSettings {
    WorkerSettings {
        retry: RetryPolicy {
            max_attempts: 3,
            base_delay: RETRY_BASE,
            max_delay: Duration::from_secs(5),
        },
        attempt_timeout: Duration::from_secs(30),
        visibility_timeout: visibility,
        shutdown_grace: Duration::from_secs(2),
        receive_wait: Duration::from_secs(1),
        receive_gather: Duration::from_millis(100),
    }
}

impl Env {
    fn worker(&self, tasks: Registry, settings: WorkerSettings) -> Worker {
        Worker::new(
            self.store.clone(),
            self.queue.clone(),
            tasks,
            settings,
            CancellationToken::new(),
        )
    }

    async fn call(&self, request: Request<Body>) -> (StatusCode, Value) {
        let response = self.app.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
    }

    /// `POST /jobs` with `body`; returns the job id.
    async fn submit(&self, body: Value) -> Uuid {
        let request = Request::post("/jobs")
            .header("content-type", "application/json")
            .body(Body::from(body.to_string()))
            .unwrap();
        let (status, reply) = self.call(request).await;
        assert_eq!(status, StatusCode::ACCEPTED, "{reply}");
        let id: Uuid = reply["jobId"].as_str().unwrap().parse().unwrap();
        self.jobs.lock().unwrap().push(id);
        id
    }

    async fn job(&self, id: Uuid) -> Value {
        let (status, job) = self
            .call(Request::get(format!("/jobs/{id}")).body(Body::empty()).unwrap())
            .await;
        assert_eq!(status, StatusCode::OK, "{job}");
        job
    }

    async fn stats(&self) -> Value {
        let (status, stats) = self
            .call(Request::get("/jobs/stats").body(Body::empty()).unwrap())
            .await;
        assert_eq!(status, StatusCode::OK, "{stats}");
        stats
    }

    /// Runs `worker.run_once` until job `id` is terminal (or the time is up).
    async fn drain_until_done(&self, worker: &Worker, id: Uuid, within: Duration) -> Value {
        let deadline = Instant::now() + within;
        loop {
            let job = self.job(id).await;
            if job["status"] == "SUCCEEDED" || job["status"] == "FAILED" || job["status"] == "CANCELLED" {
                return job;
            }
            assert!(Instant::now() < deadline, "job did not finish in {within:?}: {job}");
            worker.run_once().await.expect("worker infrastructure error");
        }
    }

    /// Polls until job `id` has `status`.
    async fn wait_for_status(&self, id: Uuid, status: &str, within: Duration) -> Value {
        let deadline = Instant::now() + within;
        loop {
            let job = self.job(id).await;
            if job["status"] == status {
                return job;
            }
            assert!(
                Instant::now() < deadline,
                "job did not reach {status} in {within:?}: {job}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// DESIGN.md's invariants over every job of this test.
    async fn assert_invariants(&self) {
        let stats = self.stats().await;
        let mut not_terminal = 0;
        let mut retries = 0;
        let ids = self.jobs.lock().unwrap().clone();
        for id in &ids {
            let job = self.store.get(*id).await.unwrap().expect("job exists");
            if !job.status.is_terminal() {
                not_terminal += 1;
            }
            retries += i64::from(job.retries());
        }
        let n = |field: &str| stats[field].as_i64().unwrap();
        assert_eq!(
            n("submitted"),
            ids.len() as i64,
            "submitted counts every job once: {stats}"
        );
        assert_eq!(
            n("submitted"),
            n("succeeded") + n("failed") + n("cancelled") + n("skipped") + not_terminal,
            "submitted = succeeded + failed + cancelled + skipped + not terminal: {stats}"
        );
        assert_eq!(n("retries"), retries, "retries = Σ(attempts − 1): {stats}");
        assert_eq!(n("inFlight"), not_terminal, "{stats}");
        // Each event is booked on the UTC day it happened, and every event of a test
        // happened within the seven days shown, whatever midnight it straddled.
        for field in ["submitted", "succeeded", "failed", "retries"] {
            let per_day: i64 = stats["daily"]
                .as_array()
                .unwrap()
                .iter()
                .map(|d| d[field].as_i64().unwrap())
                .sum();
            assert_eq!(per_day, n(field), "the days add up to the total {field}: {stats}");
        }
    }

    async fn queue_is_empty(&self) -> bool {
        self.queue
            .receive(10, Duration::from_millis(500), Duration::from_secs(1))
            .await
            .unwrap()
            .is_empty()
    }
}

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
fn worker_binary() -> PathBuf {
    let path = std::env::current_exe()
        .unwrap()
        .parent()
        .unwrap()
        .parent()
        .unwrap()
        .join("data-processor");
    assert!(
        path.exists(),
        "{} is missing: build it first with `cargo build --bins` (make test does)",
        path.display()
    );
    path
}

fn spawn_worker(env: &Env, visibility_secs: u64, args: &[&str]) -> Child {
    Command::new(worker_binary())
        .args(args)
        .env("JOBS_QUEUE_URL", &env.made.queue_url)
        .env("JOBS_TABLE_NAME", &env.made.table_name)
        .env("JOBS_STATS_SHARDS", "3")
        .env("JOBS_VISIBILITY_TIMEOUT_SECS", visibility_secs.to_string())
        .env("JOBS_RECEIVE_WAIT_SECS", "1")
        .env("JOBS_RETRY_BASE_DELAY_MS", "200")
        .env("JOBS_SHUTDOWN_GRACE_SECS", "1")
        .env("RUST_LOG", "warn")
        .spawn()
        .expect("start data-processor")
}

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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the local AWS emulator: `make test` or `make system-test` starts one"]
async fn schedules_are_created_listed_deleted_and_fired_locally() {
    let (sdk, prefix) = emulator().await;
    schedules::create_get_list_delete_against_emulator(&sdk, &prefix).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the local AWS emulator: `make test` or `make system-test` starts one"]
async fn schedules_are_updated_paused_and_resumed_on_the_emulator() {
    let (sdk, prefix) = emulator().await;
    schedules::update_pause_resume_against_emulator(&sdk, &prefix).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the local AWS emulator: `make test` or `make system-test` starts one"]
async fn schedules_are_paged_from_their_copies_on_the_emulator() {
    let (sdk, prefix) = emulator().await;
    schedules::paged_from_copies_against_emulator(&sdk, &prefix).await;
}
