//! The system tests' harness: an emulator's SDK configuration, a freshly provisioned
//! queue, dead-letter queue and table per test ([`Env`]) with the API router over them, the
//! worker's test settings, the stats invariants every test checks at its end, and the
//! `data-processor` binary for the crash and shutdown tests.

use std::path::PathBuf;
use std::process::{Child, Command};
use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_config::SdkConfig;
use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use data_processor::tasks::Registry;
use data_processor::{Worker, WorkerSettings};
use http_body_util::BodyExt;
use job_core::queue::{JobQueue, SqsQueue};
use job_core::retry::RetryPolicy;
use job_core::stats::Counting;
use job_core::store::{DynamoDbStore, JobStore};
use lambdas::AppState;
use local_dev::provision::{Plan, Provisioned, provision};
use serde_json::Value;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;
use uuid::Uuid;

pub(crate) const RETRY_BASE: Duration = Duration::from_millis(300);

pub(crate) struct Env {
    pub(crate) sdk: SdkConfig,
    pub(crate) made: Provisioned,
    pub(crate) store: Arc<DynamoDbStore>,
    pub(crate) queue: Arc<SqsQueue>,
    pub(crate) app: Router,
    /// Every job this test created, for the invariant check.
    pub(crate) jobs: std::sync::Mutex<Vec<Uuid>>,
}

/// The emulator's SDK configuration and a fresh resource-name prefix.
pub(crate) async fn emulator() -> (SdkConfig, String) {
    let endpoint = std::env::var("AWS_ENDPOINT_URL").unwrap_or_default();
    assert!(
        endpoint.starts_with("http://127.0.0.1") || endpoint.starts_with("http://localhost"),
        "system tests need a local AWS emulator: run them with `make system-test` or `make test`, which start one and set AWS_ENDPOINT_URL (got {endpoint:?})"
    );
    let prefix = format!("t{}", &Uuid::new_v4().simple().to_string()[..10]);
    (job_core::aws::sdk_config().await, prefix)
}

pub(crate) async fn env(max_receive_count: u32, visibility: Duration) -> Env {
    env_counting(max_receive_count, visibility, Counting::Inline).await
}

/// An environment whose store counts in `counting` mode (with a stream on the table for
/// [`Counting::Stream`]).
pub(crate) async fn env_counting(max_receive_count: u32, visibility: Duration, counting: Counting) -> Env {
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

pub(crate) fn settings(visibility: Duration) -> WorkerSettings {
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
    pub(crate) fn worker(&self, tasks: Registry, settings: WorkerSettings) -> Worker {
        Worker::new(
            self.store.clone(),
            self.queue.clone(),
            tasks,
            settings,
            CancellationToken::new(),
        )
    }

    pub(crate) async fn call(&self, request: Request<Body>) -> (StatusCode, Value) {
        let response = self.app.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
    }

    /// `POST /jobs` with `body`; returns the job id.
    pub(crate) async fn submit(&self, body: Value) -> Uuid {
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

    pub(crate) async fn job(&self, id: Uuid) -> Value {
        let (status, job) = self
            .call(Request::get(format!("/jobs/{id}")).body(Body::empty()).unwrap())
            .await;
        assert_eq!(status, StatusCode::OK, "{job}");
        job
    }

    pub(crate) async fn stats(&self) -> Value {
        let (status, stats) = self
            .call(Request::get("/jobs/stats").body(Body::empty()).unwrap())
            .await;
        assert_eq!(status, StatusCode::OK, "{stats}");
        stats
    }

    /// Runs `worker.run_once` until job `id` is terminal (or the time is up).
    pub(crate) async fn drain_until_done(&self, worker: &Worker, id: Uuid, within: Duration) -> Value {
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
    pub(crate) async fn wait_for_status(&self, id: Uuid, status: &str, within: Duration) -> Value {
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
    pub(crate) async fn assert_invariants(&self) {
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

    pub(crate) async fn queue_is_empty(&self) -> bool {
        self.queue
            .receive(10, Duration::from_millis(500), Duration::from_secs(1))
            .await
            .unwrap()
            .is_empty()
    }
}

pub(crate) fn worker_binary() -> PathBuf {
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

pub(crate) fn spawn_worker(env: &Env, visibility_secs: u64, args: &[&str]) -> Child {
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
