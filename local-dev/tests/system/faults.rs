//! What real AWS and real networks do, through the fault-injecting proxy in front of the
//! emulator: a registration that commits but whose answer is lost, a send whose answer
//! is lost, DynamoDB throttling, and a black-holed network that a worker must
//! survive, stop in bounded time in, and recover from by itself.

use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{Request, StatusCode};
use data_processor::tasks::registry;
use job_core::aws::AwsTimeouts;
use job_core::queue::SqsQueue;
use job_core::store::{DynamoDbStore, WriteRetry};
use lambdas::AppState;
use local_dev::fault_proxy::{Fault, FaultProxy, Rule};
use serde_json::{Value, json};
use uuid::Uuid;

use super::{Env, env, settings, worker_binary};

const TIMEOUTS: AwsTimeouts = AwsTimeouts {
    connect: Duration::from_secs(1),
    attempt: Duration::from_secs(1),
    operation: Duration::from_secs(3),
};

/// The proxy in front of the emulator, and the API's router going through it.
async fn proxied(env: &Env) -> (FaultProxy, axum::Router) {
    let upstream = std::env::var("AWS_ENDPOINT_URL").unwrap();
    let proxy = FaultProxy::start("127.0.0.1:0".parse().unwrap(), &upstream)
        .await
        .unwrap();
    // The service clients prefer AWS_ENDPOINT_URL (the emulator) to the shared config's
    // endpoint: set the proxy on each client's own configuration.
    let sdk = job_core::aws::sdk_config_with(TIMEOUTS).await;
    let ddb = aws_sdk_dynamodb::config::Builder::from(&sdk)
        .endpoint_url(proxy.url())
        .build();
    let sqs = aws_sdk_sqs::config::Builder::from(&sdk)
        .endpoint_url(proxy.url())
        .build();
    // Short write retries (the store retries throttled writes on top of the SDK's own),
    // so a refusal on every attempt reaches its 503 quickly.
    let retry = WriteRetry {
        retries: 2,
        min_delay: Duration::from_millis(5),
        max_delay: Duration::from_millis(10),
    };
    let store = Arc::new(
        DynamoDbStore::new(aws_sdk_dynamodb::Client::from_conf(ddb), &env.made.table_name, 3).with_write_retry(retry),
    );
    let queue =
        Arc::new(SqsQueue::new(aws_sdk_sqs::Client::from_conf(sqs), &env.made.queue_url).with_timeouts(TIMEOUTS));
    let app = lambdas::routes::all(AppState::new(store, queue));
    (proxy, app)
}

async fn post_job(app: &axum::Router, body: Value) -> (StatusCode, Value) {
    use http_body_util::BodyExt;
    use tower::ServiceExt;
    let request = Request::post("/jobs")
        .header("content-type", "application/json")
        .body(Body::from(body.to_string()))
        .unwrap();
    let response = app.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the local AWS emulator: `make test` or `make system-test` starts one"]
async fn ambiguous_writes_and_sends_are_finished_not_stranded() {
    let env = env(10, Duration::from_secs(30)).await;
    let (proxy, app) = proxied(&env).await;

    // The registration commits, and the connection is cut before its answer.
    proxy.set(vec![Rule::on("TransactWriteItems", Fault::Cut, 1)]);
    let (status, reply) = post_job(&app, json!({"task": "sleep", "input": {"ms": 1}})).await;
    assert_eq!(
        status,
        StatusCode::ACCEPTED,
        "the submission is finished, not a 503: {reply}"
    );
    assert_eq!(proxy.counts().faulted, 1);
    let cut_register: Uuid = reply["jobId"].as_str().unwrap().parse().unwrap();

    // The message is stored, and the answer to SendMessage is lost.
    proxy.set(vec![Rule::on("SendMessage", Fault::Cut, 1)]);
    let (status, reply) = post_job(&app, json!({"task": "sleep", "input": {"ms": 1}})).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{reply}");
    let cut_send: Uuid = reply["jobId"].as_str().unwrap().parse().unwrap();

    // Registration throttled on every attempt: nothing was written, 503, nothing counted.
    // Every try: 3 SDK attempts × (1 + 2 store retries), and the API tries the registration twice.
    proxy.set(vec![Rule::on("TransactWriteItems", Fault::Throttling, 1_000)]);
    let (status, reply) = post_job(&app, json!({"task": "sleep", "input": {"ms": 1}})).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{reply}");
    assert_eq!(reply["error"]["code"], "backend_unavailable");
    proxy.clear();

    env.jobs.lock().unwrap().extend([cut_register, cut_send]);
    let worker = env.worker(registry(), settings(Duration::from_secs(30)));
    for id in [cut_register, cut_send] {
        let job = env.drain_until_done(&worker, id, Duration::from_secs(20)).await;
        assert_eq!(job["status"], "SUCCEEDED", "{job}");
    }
    // The send retried after its cut answer: a duplicate message, deleted without a run.
    while let Some(outcome) = worker.run_once().await.unwrap() {
        assert!(matches!(outcome, data_processor::Outcome::Duplicate(_)), "{outcome:?}");
    }
    assert!(env.queue_is_empty().await);
    let stats = env.stats().await;
    assert_eq!(stats["submitted"], 2, "the refused one was never counted: {stats}");
    env.assert_invariants().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the local AWS emulator: `make test` or `make system-test` starts one"]
async fn a_black_holed_network_is_survived_stopped_in_and_recovered_from() {
    let env = env(10, Duration::from_secs(5)).await;
    let upstream = std::env::var("AWS_ENDPOINT_URL").unwrap();
    let proxy = FaultProxy::start("127.0.0.1:0".parse().unwrap(), &upstream)
        .await
        .unwrap();
    let spawn = |args: &[&str]| {
        Command::new(worker_binary())
            .args(args)
            .env("AWS_ENDPOINT_URL", proxy.url())
            .env("JOBS_QUEUE_URL", &env.made.queue_url)
            .env("JOBS_TABLE_NAME", &env.made.table_name)
            .env("JOBS_STATS_SHARDS", "3")
            .env("JOBS_VISIBILITY_TIMEOUT_SECS", "5")
            .env("JOBS_RECEIVE_WAIT_SECS", "1")
            .env("JOBS_SHUTDOWN_GRACE_SECS", "1")
            .env("JOBS_AWS_ATTEMPT_TIMEOUT_SECS", "1")
            .env("JOBS_AWS_OPERATION_TIMEOUT_SECS", "2")
            .env("RUST_LOG", "warn")
            .spawn()
            .expect("start data-processor")
    };

    // A worker that hangs in a black hole still stops on SIGTERM within grace + 3 s.
    let mut stuck = spawn(&["--concurrency", "2"]);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    proxy.set(vec![Rule::always(Fault::Blackhole)]);
    tokio::time::sleep(Duration::from_secs(2)).await;
    let asked = Instant::now();
    Command::new("kill")
        .args(["-TERM", &stuck.id().to_string()])
        .status()
        .unwrap();
    let status = stuck.wait().unwrap();
    let took = asked.elapsed();
    assert!(status.success(), "{status:?}");
    assert!(
        took < Duration::from_secs(5),
        "SIGTERM in a black hole took {took:?} (grace 1 s + 3 s)"
    );

    // A worker started during the black hole runs the jobs once the network is back.
    let mut worker = spawn(&["--concurrency", "2"]);
    let ids = [
        env.submit(json!({"task": "sleep", "input": {"ms": 1}})).await,
        env.submit(json!({})).await,
    ];
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert_eq!(
        env.job(ids[0]).await["status"],
        "QUEUED",
        "nothing gets through the black hole"
    );
    proxy.clear();
    for id in ids {
        env.wait_for_status(id, "SUCCEEDED", Duration::from_secs(30)).await;
    }
    Command::new("kill")
        .args(["-TERM", &worker.id().to_string()])
        .status()
        .unwrap();
    assert!(worker.wait().unwrap().success());
    env.assert_invariants().await;
}
