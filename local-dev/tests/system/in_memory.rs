//! The whole system over the in-memory adapters: schedules fired by the local runner,
//! run by the worker and shown by the API, each run registered and counted once however
//! often its message is delivered.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode};
use chrono::{DateTime, Utc};
use data_processor::tasks::{TaskContext, TaskError, registry};
use data_processor::{Outcome, Worker, WorkerSettings};
use http_body_util::BodyExt;
use job_core::application::jobs::{SubmitRequest, submit};
use job_core::job::{JobSource, JobStatus, id_for_scheduled_run};
use job_core::message::JobMessage;
use job_core::queue::{JobQueue, MemoryQueue};
use job_core::retry::RetryPolicy;
use job_core::schedules::{MemoryScheduleStore, Schedule, ScheduleStore};
use job_core::store::faulty::{Fault, FaultyStore};
use job_core::store::{JobStore, MemoryStore};
use job_core::tasks::catalog;
use lambdas::AppState;
use local_dev::clock::ManualClock;
use local_dev::local_runner::{Fired, LocalRunner};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;
use uuid::Uuid;

fn settings() -> WorkerSettings {
    WorkerSettings {
        retry: RetryPolicy {
            max_attempts: 3,
            base_delay: Duration::from_millis(10),
            max_delay: Duration::from_millis(20),
        },
        attempt_timeout: Duration::from_secs(10),
        visibility_timeout: Duration::from_secs(30),
        shutdown_grace: Duration::from_secs(1),
        receive_wait: Duration::ZERO,
        receive_gather: Duration::ZERO,
    }
}

fn at(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text).unwrap().to_utc()
}

/// A nightly schedule fired once by the local runner, its message delivered twice.
async fn fired_twice(queue: &Arc<MemoryQueue>) -> Fired {
    let schedules = Arc::new(MemoryScheduleStore::new());
    let schedule = Schedule {
        created_by: None,
        name: "nightly".into(),
        cron: "0 2 * * *".into(),
        expression: "cron(0 2 * * ? *)".into(),
        timezone: "Europe/Berlin".into(),
        task: "sleep".into(),
        input: json!({"ms": 1}),
        created: at("2026-01-05T10:00:30Z"),
        generation: "g-1".into(),
        enabled: true,
        overlap: Default::default(),
    };
    schedules.create(&schedule).await.unwrap();
    let clock = Arc::new(ManualClock::new(schedule.created));
    let mut runner = LocalRunner::new(schedules, queue.clone(), clock.clone());
    clock.set(at("2026-01-06T01:00:10Z")); // 02:00 in Berlin is 01:00 UTC in winter
    let mut fired = runner.tick().await.unwrap();
    assert_eq!(fired.len(), 1);
    let body = queue.bodies().pop().unwrap();
    queue.send(&body).await.unwrap();
    fired.pop().unwrap()
}

async fn assert_one_job_counted_once(store: &MemoryStore, fired: &Fired) -> Uuid {
    let jobs = store.jobs();
    assert_eq!(jobs.len(), 1, "one job registered");
    let job = &jobs[0];
    assert_eq!(
        job.job_id,
        id_for_scheduled_run("nightly", Some("g-1"), "2026-01-06T01:00:00Z")
    );
    assert_eq!((job.status, job.attempts), (JobStatus::Succeeded, 1));
    assert_eq!(
        job.source,
        JobSource::Schedule {
            name: "nightly".into(),
            execution_id: fired.execution_id.clone(),
            scheduled_time: "2026-01-06T01:00:00Z".into(),
        }
    );
    let stats = store.stats(Utc::now()).await.unwrap();
    assert_eq!(
        (
            stats.total.submitted,
            stats.total.succeeded,
            stats.total.failed,
            stats.total.retries
        ),
        (1, 1, 0, 0)
    );
    job.job_id
}

#[tokio::test]
async fn a_scheduled_message_delivered_twice_registers_and_runs_one_job() {
    let (store, queue) = (Arc::new(MemoryStore::new()), Arc::new(MemoryQueue::new()));
    let fired = fired_twice(&queue).await;
    let worker = Worker::new(
        store.clone(),
        queue.clone(),
        registry(),
        settings(),
        CancellationToken::new(),
    );
    let first = worker.run_once().await.unwrap();
    let second = worker.run_once().await.unwrap();
    let job_id = assert_one_job_counted_once(&store, &fired).await;
    assert_eq!(first, Some(Outcome::Succeeded(job_id)));
    assert_eq!(second, Some(Outcome::Duplicate(job_id)));
    assert!(queue.bodies().is_empty(), "both copies deleted");
}

#[tokio::test]
async fn two_workers_given_the_same_scheduled_run_at_once_run_it_once() {
    let (store, queue) = (Arc::new(MemoryStore::new()), Arc::new(MemoryQueue::new()));
    let fired = fired_twice(&queue).await;
    let worker = || {
        Worker::new(
            store.clone(),
            queue.clone(),
            registry(),
            settings(),
            CancellationToken::new(),
        )
    };
    let (a, b) = (worker(), worker());
    let (x, y) = tokio::join!(a.run_once(), b.run_once());
    let job_id = assert_one_job_counted_once(&store, &fired).await;
    let mut outcomes = vec![x.unwrap().unwrap(), y.unwrap().unwrap()];
    outcomes.sort_by_key(|o| !matches!(o, Outcome::Succeeded(_)));
    assert_eq!(outcomes[0], Outcome::Succeeded(job_id));
    // The other copy found the job finished (deleted) or held by the first (hidden).
    assert!(
        matches!(outcomes[1], Outcome::Duplicate(id) | Outcome::Deferred(id) if id == job_id),
        "{outcomes:?}"
    );
}

struct Harness {
    store: Arc<MemoryStore>,
    queue: Arc<MemoryQueue>,
    schedules: Arc<MemoryScheduleStore>,
    app: Router,
}

/// Every route over in-memory adapters, as the local server serves them.
fn harness() -> Harness {
    let store = Arc::new(MemoryStore::new());
    let queue = Arc::new(MemoryQueue::new());
    let schedules = Arc::new(MemoryScheduleStore::new());
    let app = lambdas::routes::all(AppState {
        schedules: Some(schedules.clone()),
        ..AppState::new(store.clone(), queue.clone())
    });
    Harness {
        store,
        queue,
        schedules,
        app,
    }
}

async fn call(app: &Router, request: Request<Body>) -> (StatusCode, HeaderMap, Value) {
    let response = app.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (status, headers, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
}

fn get(path: &str) -> Request<Body> {
    Request::get(path).body(Body::empty()).unwrap()
}

async fn create(app: &Router, body: Value) -> (StatusCode, HeaderMap, Value) {
    let request = Request::post("/jobs/schedule")
        .header("content-type", "application/json")
        .body(Body::from(body.to_string()))
        .unwrap();
    call(app, request).await
}

fn time(value: &Value) -> DateTime<chrono::FixedOffset> {
    DateTime::parse_from_rfc3339(value.as_str().unwrap_or_else(|| panic!("not a time: {value}"))).unwrap()
}

#[tokio::test]
async fn a_fired_schedule_runs_a_job_that_shows_its_schedule_and_counts_once() {
    let h = harness();
    let request = json!({"cron": "* * * * *", "name": "tick", "task": "sleep", "input": {"ms": 1}});
    let (_, _, created) = create(&h.app, request).await;
    let first_run = time(&created["nextRuns"][0]["utc"]).to_utc();

    // The local runner, on a clock it is told, fires the first run into the queue.
    let tick = h.schedules.get("tick").await.unwrap().unwrap();
    let created_at = tick.created;
    let clock = Arc::new(ManualClock::new(created_at));
    let mut runner = LocalRunner::new(h.schedules.clone(), h.queue.clone(), clock.clone());
    clock.set(first_run);
    let fired = runner.tick().await.unwrap();
    assert_eq!(fired.len(), 1);
    assert_eq!(fired[0].scheduled_time, first_run);
    assert!(runner.tick().await.unwrap().is_empty());
    // The queue delivers the message twice.
    let body = h.queue.bodies().pop().unwrap();
    h.queue.send(&body).await.unwrap();

    let settings = WorkerSettings {
        retry: RetryPolicy {
            max_attempts: 3,
            base_delay: Duration::from_millis(10),
            max_delay: Duration::from_millis(20),
        },
        attempt_timeout: Duration::from_secs(10),
        visibility_timeout: Duration::from_secs(30),
        shutdown_grace: Duration::from_secs(1),
        receive_wait: Duration::ZERO,
        receive_gather: Duration::ZERO,
    };
    let worker = Worker::new(
        h.store.clone(),
        h.queue.clone(),
        registry(),
        settings,
        CancellationToken::new(),
    );
    let scheduled = first_run.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let job_id = id_for_scheduled_run("tick", Some(&tick.generation), &scheduled);
    assert_eq!(worker.run_once().await.unwrap(), Some(Outcome::Succeeded(job_id)));
    assert_eq!(worker.run_once().await.unwrap(), Some(Outcome::Duplicate(job_id)));
    assert!(h.queue.bodies().is_empty());

    let (status, _, job) = call(&h.app, get(&format!("/jobs/{job_id}"))).await;
    assert_eq!(status, StatusCode::OK, "{job}");
    assert_eq!(job["status"], "SUCCEEDED");
    assert_eq!(job["task"], "sleep");
    assert_eq!(
        job["source"],
        json!({"type": "schedule", "name": "tick", "executionId": fired[0].execution_id, "scheduledTime": scheduled})
    );
    let (_, _, stats) = call(&h.app, get("/jobs/stats")).await;
    assert_eq!(
        (&stats["submitted"], &stats["succeeded"]),
        (&json!(1), &json!(1)),
        "{stats}"
    );
    let message = JobMessage::parse(&body).unwrap();
    assert_eq!(message.schedule.unwrap().scheduled_time, scheduled);
}

/// A queue that notes when a receive returned: the message's visibility began before that.
struct TimedQueue {
    inner: Arc<MemoryQueue>,
    received: std::sync::Mutex<Option<DateTime<Utc>>>,
}

#[async_trait::async_trait]
impl JobQueue for TimedQueue {
    async fn send(&self, body: &str) -> Result<(), job_core::queue::QueueError> {
        self.inner.send(body).await
    }
    async fn receive(
        &self,
        max: u32,
        wait: Duration,
        visibility: Duration,
    ) -> Result<Vec<job_core::queue::Received>, job_core::queue::QueueError> {
        let received = self.inner.receive(max, wait, visibility).await;
        *self.received.lock().unwrap() = Some(Utc::now());
        received
    }
    async fn set_visibility(&self, receipt: &str, visibility: Duration) -> Result<(), job_core::queue::QueueError> {
        self.inner.set_visibility(receipt, visibility).await
    }
    async fn delete(&self, receipt: &str) -> Result<(), job_core::queue::QueueError> {
        self.inner.delete(receipt).await
    }
}

/// A job submitted through the use case, over `store` and `queue`.
async fn submitted(store: &dyn JobStore, queue: &MemoryQueue, task: &str, input: Value) -> Uuid {
    let request = SubmitRequest {
        task: Some(task.into()),
        input,
        idempotency_key: None,
    };
    submit(store, queue, &catalog(), 3, &job_core::Caller::new("test"), request)
        .await
        .unwrap()
        .job_id
}

#[tokio::test]
async fn a_successful_outcome_is_kept_when_its_write_is_refused_or_its_answer_lost() {
    for fault in [Fault::Refuse, Fault::LoseResponse] {
        let store = Arc::new(FaultyStore::new(MemoryStore::new()));
        let queue = Arc::new(MemoryQueue::new());
        let job_id = submitted(&*store, &queue, "sleep", json!({"ms": 1})).await;
        store.on_apply(|c| c.job.status == JobStatus::Succeeded, fault, 2);
        let worker = Worker::new(
            store.clone(),
            queue.clone(),
            registry(),
            settings(),
            CancellationToken::new(),
        );
        let outcome = worker.run_once().await.unwrap();
        assert_eq!(outcome, Some(Outcome::Succeeded(job_id)), "{fault:?}");
        assert!(store.injected() >= 1, "{fault:?}");
        let job = store.get(job_id).await.unwrap().unwrap();
        assert_eq!((job.status, job.attempts), (JobStatus::Succeeded, 1), "{fault:?}");
        let stats = store.stats(Utc::now()).await.unwrap();
        assert_eq!(
            (stats.total.submitted, stats.total.succeeded, stats.total.retries),
            (1, 1, 0),
            "{fault:?}"
        );
        assert!(queue.bodies().is_empty(), "{fault:?}: message deleted");
    }
}

fn worker_over(
    store: Arc<dyn JobStore>,
    queue: Arc<MemoryQueue>,
    tasks: data_processor::tasks::Registry,
    settings: WorkerSettings,
) -> Worker {
    Worker::new(store, queue, tasks, settings, CancellationToken::new())
}

#[tokio::test]
async fn a_worker_that_cannot_renew_its_lease_stops_the_attempt_and_the_next_one_continues() {
    let store = Arc::new(FaultyStore::new(MemoryStore::new()));
    let queue = Arc::new(MemoryQueue::new());
    let job_id = submitted(&*store, &queue, "sleep", json!({"ms": 2500})).await;
    let window = Duration::from_millis(1500);
    let settings = WorkerSettings {
        visibility_timeout: window,
        ..settings()
    };
    store.refuse_lease_extensions(true); // a throttled table or a network pause
    let started = std::time::Instant::now();
    let first = worker_over(store.clone(), queue.clone(), registry(), settings.clone());
    assert_eq!(first.run_once().await.unwrap(), Some(Outcome::LostLease(job_id)));
    assert!(
        started.elapsed() < window,
        "stopped before the lease ran out, not after the 2.5 s task: {:?}",
        started.elapsed()
    );
    let job = store.get(job_id).await.unwrap().unwrap();
    assert_eq!((job.status, job.attempts), (JobStatus::Running, 1), "nothing recorded");

    store.refuse_lease_extensions(false);
    tokio::time::sleep(window).await; // the message comes back
    let second = worker_over(store.clone(), queue.clone(), registry(), settings);
    assert_eq!(second.run_once().await.unwrap(), Some(Outcome::Succeeded(job_id)));
    let job = store.get(job_id).await.unwrap().unwrap();
    assert_eq!((job.status, job.attempts), (JobStatus::Succeeded, 2));
    let stats = store.stats(Utc::now()).await.unwrap();
    assert_eq!(
        (stats.total.submitted, stats.total.succeeded, stats.total.retries),
        (1, 1, 1)
    );
}

#[tokio::test]
async fn the_lease_never_outlives_the_message_and_is_renewed_well_before_the_window_ends() {
    let store = Arc::new(MemoryStore::new());
    let queue = Arc::new(MemoryQueue::new());
    let window = Duration::from_millis(1500);
    let seen = store.clone();
    let tasks = registry().register(
        "watch-lease",
        "reads its own lease twice",
        move |_: Value, ctx: TaskContext| {
            let store = seen.clone();
            async move {
                let lease = |job: Option<job_core::Job>| job.and_then(|j| j.lease).map(|l| l.expires_at);
                let at_claim = lease(store.get(ctx.job_id).await.unwrap());
                tokio::time::sleep(window / 2).await;
                let renewed = lease(store.get(ctx.job_id).await.unwrap());
                Ok::<_, TaskError>(json!({"atClaim": at_claim, "renewed": renewed}))
            }
        },
    );
    let job = job_core::Job::new(
        Uuid::now_v7(),
        "watch-lease",
        Value::Null,
        3,
        JobSource::Api,
        None,
        Utc::now(),
    );
    job_core::application::jobs::queue_job(&*store, &*queue, &job)
        .await
        .unwrap();
    let settings = WorkerSettings {
        visibility_timeout: window,
        ..settings()
    };
    let timed = Arc::new(TimedQueue {
        inner: queue.clone(),
        received: std::sync::Mutex::new(None),
    });
    let worker = Worker::new(store.clone(), timed.clone(), tasks, settings, CancellationToken::new());
    assert_eq!(worker.run_once().await.unwrap(), Some(Outcome::Succeeded(job.job_id)));
    let result = store.get(job.job_id).await.unwrap().unwrap().result.unwrap();
    let at_claim: DateTime<Utc> = serde_json::from_value(result["atClaim"].clone()).unwrap();
    let renewed: DateTime<Utc> = serde_json::from_value(result["renewed"].clone()).unwrap();
    let received = timed.received.lock().unwrap().unwrap();
    assert!(
        at_claim <= received + window,
        "the lease ({at_claim}) must end no later than the message's invisibility, which began before {received}"
    );
    assert!(renewed > at_claim, "renewed within half the window");
}

#[tokio::test]
async fn an_attempt_timeout_stops_the_work_itself_through_the_cancellation_token() {
    let store = Arc::new(MemoryStore::new());
    let queue = Arc::new(MemoryQueue::new());
    let stopped = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flag = stopped.clone();
    let tasks = registry().register(
        "busy",
        "CPU work that checks its token",
        move |_: Value, ctx: TaskContext| {
            let flag = flag.clone();
            async move {
                tokio::task::spawn_blocking(move || {
                    let deadline = std::time::Instant::now() + Duration::from_secs(10);
                    while std::time::Instant::now() < deadline {
                        if ctx.cancel.is_cancelled() {
                            flag.store(true, std::sync::atomic::Ordering::SeqCst);
                            return;
                        }
                        std::thread::sleep(Duration::from_millis(5));
                    }
                })
                .await
                .ok();
                Err::<(), _>(TaskError::permanent("busy: stopped"))
            }
        },
    );
    let job = job_core::Job::new(Uuid::now_v7(), "busy", Value::Null, 1, JobSource::Api, None, Utc::now());
    job_core::application::jobs::queue_job(&*store, &*queue, &job)
        .await
        .unwrap();
    let settings = WorkerSettings {
        attempt_timeout: Duration::from_millis(200),
        ..settings()
    };
    let worker = worker_over(store.clone(), queue.clone(), tasks, settings);
    assert_eq!(worker.run_once().await.unwrap(), Some(Outcome::Failed(job.job_id)));
    let stored = store.get(job.job_id).await.unwrap().unwrap();
    assert!(stored.last_error.unwrap().contains("timed out"));
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(
        stopped.load(std::sync::atomic::Ordering::SeqCst),
        "the blocking work saw the cancellation"
    );
}

/// A worker over `store` and `queue` with the test settings.
fn plain_worker(store: Arc<dyn JobStore>, queue: Arc<MemoryQueue>) -> Worker {
    worker_over(store, queue, registry(), settings())
}

#[tokio::test]
async fn a_scheduler_retry_of_a_run_is_the_same_job_and_a_recreated_schedule_is_not() {
    let (store, queue) = (Arc::new(MemoryStore::new()), Arc::new(MemoryQueue::new()));
    let schedule = Schedule {
        created_by: None,
        name: "nightly".into(),
        cron: "0 2 * * *".into(),
        expression: "cron(0 2 * * ? *)".into(),
        timezone: "UTC".into(),
        task: "sleep".into(),
        input: json!({"ms": 1}),
        created: at("2026-01-05T10:00:00Z"),
        generation: "first".into(),
        enabled: true,
        overlap: Default::default(),
    };
    let run = at("2026-01-06T02:00:00Z");
    // Scheduler invokes the target, gets no answer in time, and retries: a new execution id.
    queue.send(&schedule.message_for_run("exec-1", run)).await.unwrap();
    queue.send(&schedule.message_for_run("exec-2", run)).await.unwrap();
    let worker = plain_worker(store.clone(), queue.clone());
    let first = worker.run_once().await.unwrap();
    let second = worker.run_once().await.unwrap();
    let job_id = id_for_scheduled_run("nightly", Some("first"), "2026-01-06T02:00:00Z");
    assert_eq!(first, Some(Outcome::Succeeded(job_id)));
    assert_eq!(second, Some(Outcome::Duplicate(job_id)), "the retry is the same run");
    assert_eq!(store.jobs().len(), 1);

    // Deleted and created again under the same name: the same scheduled time is a new run.
    let again = Schedule {
        generation: "second".into(),
        ..schedule
    };
    queue.send(&again.message_for_run("exec-3", run)).await.unwrap();
    let third = worker.run_once().await.unwrap();
    assert!(
        matches!(third, Some(Outcome::Succeeded(id)) if id != job_id),
        "{third:?}"
    );
    let stats = store.stats(Utc::now()).await.unwrap();
    assert_eq!((stats.total.submitted, stats.total.succeeded), (2, 2));
}
