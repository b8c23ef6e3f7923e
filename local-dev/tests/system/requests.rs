//! What a job costs in AWS requests, counted at the wire by the proxy in front of the
//! emulator: the API and the worker each through a proxy of their own, so each side's
//! requests are counted by operation. One message at a time (`--once`, as KEDA's pods),
//! and the loop mode: one long poll per process, batch receives and batch deletes.

use std::sync::Arc;
use std::time::Duration;

use data_processor::Outcome;
use data_processor::tasks::registry;
use job_core::queue::SqsQueue;
use job_core::stats::Counting;
use job_core::store::{DynamoDbStore, JobStore};
use lambdas::AppState;
use local_dev::fault_proxy::{FaultProxy, Operations};
use serde_json::json;
use tokio_util::sync::CancellationToken;

use super::{Env, env, env_counting, settings};

/// A proxy in front of the emulator, and a store and a queue whose clients go through it.
async fn through_proxy(env: &Env) -> (FaultProxy, Arc<DynamoDbStore>, Arc<SqsQueue>) {
    through_proxy_counting(env, Counting::Inline).await
}

/// [`through_proxy`] with a store that counts in `counting` mode.
async fn through_proxy_counting(env: &Env, counting: Counting) -> (FaultProxy, Arc<DynamoDbStore>, Arc<SqsQueue>) {
    let upstream = std::env::var("AWS_ENDPOINT_URL").unwrap();
    let proxy = FaultProxy::start("127.0.0.1:0".parse().unwrap(), &upstream)
        .await
        .unwrap();
    // Each client's own endpoint: AWS_ENDPOINT_URL would win over the shared config's.
    let ddb = aws_sdk_dynamodb::config::Builder::from(&env.sdk)
        .endpoint_url(proxy.url())
        .build();
    let sqs = aws_sdk_sqs::config::Builder::from(&env.sdk)
        .endpoint_url(proxy.url())
        .build();
    let store = Arc::new(
        DynamoDbStore::new(aws_sdk_dynamodb::Client::from_conf(ddb), &env.made.table_name, 3).with_counting(counting),
    );
    let queue = Arc::new(SqsQueue::new(aws_sdk_sqs::Client::from_conf(sqs), &env.made.queue_url));
    (proxy, store, queue)
}

fn requests(pairs: &[(&str, u64)]) -> std::collections::BTreeMap<String, u64> {
    pairs.iter().map(|(name, n)| ((*name).to_owned(), *n)).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the local AWS emulator: `make test` or `make system-test` starts one"]
async fn a_job_costs_six_requests_and_a_retry_two_more() {
    let env = env(10, Duration::from_secs(30)).await;
    let (api_proxy, api_store, api_queue) = through_proxy(&env).await;
    let (worker_proxy, worker_store, worker_queue) = through_proxy(&env).await;
    let app = lambdas::routes::all(AppState::new(api_store, api_queue));
    let api = Env { app, ..env };
    let worker = data_processor::Worker::new(
        worker_store,
        worker_queue,
        registry(),
        settings(Duration::from_secs(30)),
        CancellationToken::new(),
    );

    api_proxy.measure_write_units(true);
    worker_proxy.measure_write_units(true);

    // A job that succeeds at once: 2 requests in the API, 4 in the worker.
    let id = api.submit(json!({"task": "process-data", "input": {"kib": 1}})).await;
    assert_eq!(
        api_proxy.operations().requests,
        requests(&[("SendMessage", 1), ("TransactWriteItems", 1)]),
        "the API registers and sends"
    );
    assert_eq!(worker.run_once().await.unwrap(), Some(Outcome::Succeeded(id)));
    assert_eq!(
        worker_proxy.operations(),
        Operations {
            requests: requests(&[
                ("DeleteMessage", 1),
                ("ReceiveMessage", 1),
                ("TransactWriteItems", 1),
                ("UpdateItem", 1),
            ]),
            empty_receives: 0,
            messages_received: 1,
            ..worker_proxy.operations()
        },
        "receive, claim in one request, record the outcome, delete"
    );
    // Write units, from the sizes of the items written (each under 1 KB here: 1 unit an
    // item, 2 inside a transaction): the API's transaction writes the job and 2 counter
    // items (6); the worker's claim writes the job (1), its outcome's transaction the job
    // and 2 counter items (6). Index writes come on top.
    let (api_units, worker_units) = (api_proxy.operations(), worker_proxy.operations());
    eprintln!(
        "write units of a job: API {} + {} index, worker {} + {} index",
        api_units.write_units, api_units.index_write_units, worker_units.write_units, worker_units.index_write_units
    );
    assert_eq!(
        (api_units.write_units, worker_units.write_units),
        (6, 7),
        "table write units"
    );
    assert!(api_units.index_write_units > 0 && worker_units.index_write_units > 0);

    // One that fails once: its retry adds the failed attempt's outcome (a PutItem: no
    // counter changes) and the next claim (a transaction: it counts the retry).
    api_proxy.reset_operations();
    worker_proxy.reset_operations();
    let id = api.submit(json!({"task": "flaky", "input": {"failAttempts": 1}})).await;
    assert_eq!(worker.run_once().await.unwrap(), Some(Outcome::Succeeded(id)));
    assert_eq!(api.job(id).await["attempts"], 2);
    assert_eq!(
        worker_proxy.operations().requests,
        requests(&[
            ("DeleteMessage", 1),
            ("PutItem", 1),
            ("ReceiveMessage", 1),
            ("TransactWriteItems", 2),
            ("UpdateItem", 1),
        ]),
        "a retry costs 2 requests"
    );

    // Stats: one request whatever the number of jobs.
    api_proxy.reset_operations();
    api.stats().await;
    assert_eq!(api_proxy.operations().requests, requests(&[("BatchGetItem", 1)]));

    // An idle long poll is counted apart.
    worker_proxy.reset_operations();
    assert_eq!(worker.run_once().await.unwrap(), None);
    assert_eq!(worker_proxy.operations().empty_receives, 1);
    assert_eq!(worker_proxy.operations().total(), 1);
    api.assert_invariants().await;
}

/// Counting from the table's stream (the default of `make run` and the CDK app): every
/// job change is one single-item write, so a job costs the same 6 requests with `PutItem`
/// in place of each transaction, and 3 table write units (the job item, under 1 KB, once
/// by the API and twice by the worker) instead of 13. The counter aggregator's bookings
/// come on top, one transaction per stream batch (`local-dev/tests/system/aggregator.rs`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the local AWS emulator: `make test` or `make system-test` starts one"]
async fn counting_from_the_stream_a_job_is_three_single_writes() {
    let env = env_counting(10, Duration::from_secs(30), Counting::Stream).await;
    let (api_proxy, api_store, api_queue) = through_proxy_counting(&env, Counting::Stream).await;
    let (worker_proxy, worker_store, worker_queue) = through_proxy_counting(&env, Counting::Stream).await;
    let app = lambdas::routes::all(AppState::new(api_store, api_queue));
    let api = Env { app, ..env };
    let worker = data_processor::Worker::new(
        worker_store,
        worker_queue,
        registry(),
        settings(Duration::from_secs(30)),
        CancellationToken::new(),
    );
    api_proxy.measure_write_units(true);
    worker_proxy.measure_write_units(true);
    let id = api.submit(json!({"task": "process-data", "input": {"kib": 1}})).await;
    assert_eq!(worker.run_once().await.unwrap(), Some(Outcome::Succeeded(id)));
    let (api_side, worker_side) = (api_proxy.operations(), worker_proxy.operations());
    assert_eq!(
        api_side.requests,
        requests(&[("PutItem", 1), ("SendMessage", 1)]),
        "the API registers in one write and sends"
    );
    assert_eq!(
        worker_side.requests,
        requests(&[
            ("DeleteMessage", 1),
            ("PutItem", 1),
            ("ReceiveMessage", 1),
            ("UpdateItem", 1),
        ]),
        "receive, claim, record the outcome in one write, delete"
    );
    eprintln!(
        "write units of a job counting from the stream: API {} + {} index, worker {} + {} index",
        api_side.write_units, api_side.index_write_units, worker_side.write_units, worker_side.index_write_units
    );
    assert_eq!(
        (api_side.write_units, worker_side.write_units),
        (1, 2),
        "table write units: the job item, 1 unit a write"
    );
    assert!(api_side.index_write_units > 0 && worker_side.index_write_units > 0);
}

/// How many of `ids` have SUCCEEDED, read straight from the store (not counted).
async fn succeeded(env: &Env, ids: &[uuid::Uuid]) -> usize {
    let mut n = 0;
    for id in ids {
        if env
            .store
            .get(*id)
            .await
            .unwrap()
            .is_some_and(|j| j.status == job_core::JobStatus::Succeeded)
        {
            n += 1;
        }
    }
    n
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the local AWS emulator: `make test` or `make system-test` starts one"]
async fn loop_mode_costs_at_most_four_and_a_half_requests_a_job_and_idles_on_one_poll() {
    const JOBS: usize = 60;
    const CONCURRENCY: usize = 10;
    let env = env(10, Duration::from_secs(30)).await;
    let (api_proxy, api_store, api_queue) = through_proxy(&env).await;
    let (worker_proxy, worker_store, worker_queue) = through_proxy(&env).await;
    let app = lambdas::routes::all(AppState::new(api_store, api_queue));
    let api = Env { app, ..env };

    // A burst: the jobs wait in the queue when the worker process starts.
    let mut ids = Vec::new();
    for _ in 0..JOBS {
        ids.push(api.submit(json!({"task": "sleep", "input": {"ms": 0}})).await);
    }
    let shutdown = CancellationToken::new();
    let worker = Arc::new(data_processor::Worker::new(
        worker_store,
        worker_queue,
        registry(),
        settings(Duration::from_secs(30)),
        shutdown.clone(),
    ));
    let running = tokio::spawn(Arc::clone(&worker).run(CONCURRENCY));
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while succeeded(&api, &ids).await < JOBS {
        assert!(
            std::time::Instant::now() < deadline,
            "the burst did not finish within 60 s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // The last batch delete lingers a moment.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let api_side = api_proxy.operations();
    let worker_side = worker_proxy.operations();
    assert_eq!(
        api_side.total(),
        2 * JOBS as u64,
        "the API registers and sends: {api_side:?}"
    );
    assert_eq!(
        worker_side.of("UpdateItem"),
        JOBS as u64,
        "one claim a job: {worker_side:?}"
    );
    assert_eq!(
        worker_side.of("TransactWriteItems"),
        JOBS as u64,
        "one outcome a job: {worker_side:?}"
    );
    assert_eq!(
        worker_side.of("DeleteMessage"),
        0,
        "deletes go in batches: {worker_side:?}"
    );
    assert_eq!(
        worker_side.messages_received, JOBS as u64,
        "each message received once: {worker_side:?}"
    );
    // The polls that came back empty once the burst was done are the idle cost, counted apart.
    let per_job = (api_side.total() + worker_side.total() - worker_side.empty_receives) as f64 / JOBS as f64;
    eprintln!("loop mode, {JOBS} jobs, {CONCURRENCY} slots: {per_job:.2} requests a job; worker side {worker_side:?}");
    assert!(
        per_job <= 4.5,
        "{per_job:.2} requests per job in loop mode (target 4.5): {worker_side:?}"
    );

    // Idle: one long poll per wait period (1 s here) for the whole process, not one per slot.
    worker_proxy.reset_operations();
    tokio::time::sleep(Duration::from_secs(5)).await;
    let idle = worker_proxy.operations();
    assert!(
        (4..=6).contains(&idle.of("ReceiveMessage")),
        "an idle process with {CONCURRENCY} slots polls once a second (1 s wait): {idle:?}"
    );
    assert_eq!(
        idle.total(),
        idle.of("ReceiveMessage"),
        "an idle process only polls: {idle:?}"
    );

    shutdown.cancel();
    tokio::time::timeout(Duration::from_secs(5), running)
        .await
        .expect("the loop stops on shutdown")
        .unwrap();
    assert!(api.queue_is_empty().await, "every message deleted");
    api.assert_invariants().await;
}

/// Jobs submitted while the worker runs others: each poll would take the one or two that
/// arrived since the last. After a poll that brought fewer messages than free slots, with
/// other jobs running, the next one waits (`receive_gather`) so that the messages arriving
/// meanwhile share it. Counted, not timed: the jobs come in waves of [`WAVE`] submitted at
/// once, each after the last wave's messages were received, and run 3 s each, so the
/// process has other jobs in flight whenever a wave arrives; the wait is set to 2 s here,
/// far longer than a wave's submission takes even on a loaded machine (about 0.1 s idle).
/// So a wave takes 2 polls (its first message, then the rest together), the first wave 3
/// (nothing runs yet when its first message comes: no wait after that poll). Without the
/// wait a poll returns as soon as one message is there: several polls a wave.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the local AWS emulator: `make test` or `make system-test` starts one"]
async fn loop_mode_polls_share_the_jobs_submitted_while_others_run() {
    const WAVES: usize = 5;
    const WAVE: usize = 6;
    let env = env(10, Duration::from_secs(30)).await;
    let (api_proxy, api_store, api_queue) = through_proxy(&env).await;
    let (worker_proxy, worker_store, worker_queue) = through_proxy(&env).await;
    let app = lambdas::routes::all(AppState::new(api_store, api_queue));
    let api = Env { app, ..env };
    let shutdown = CancellationToken::new();
    let worker = Arc::new(data_processor::Worker::new(
        worker_store,
        worker_queue,
        registry(),
        data_processor::WorkerSettings {
            receive_gather: Duration::from_secs(2),
            ..settings(Duration::from_secs(30))
        },
        shutdown.clone(),
    ));
    // More slots than jobs: no poll comes back full (each asks for 10), so the backlog's
    // wait for free slots plays no part.
    let running = tokio::spawn(Arc::clone(&worker).run(WAVES * WAVE + 10));
    let mut ids = Vec::new();
    for wave in 1..=WAVES {
        let submits = (0..WAVE).map(|_| api.submit(json!({"task": "sleep", "input": {"ms": 3000}})));
        ids.extend(futures::future::join_all(submits).await);
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while worker_proxy.operations().messages_received < (wave * WAVE) as u64 {
            assert!(
                std::time::Instant::now() < deadline,
                "wave {wave} was not received within 30 s"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while succeeded(&api, &ids).await < ids.len() {
        assert!(
            std::time::Instant::now() < deadline,
            "the jobs did not finish within 60 s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_millis(1500)).await; // the last batch delete
    let api_side = api_proxy.operations();
    let worker_side = worker_proxy.operations();
    let jobs = ids.len() as u64;
    assert_eq!(worker_side.messages_received, jobs, "{worker_side:?}");
    let polls = worker_side.of("ReceiveMessage") - worker_side.empty_receives;
    let per_job = (api_side.total() + worker_side.total() - worker_side.empty_receives) as f64 / jobs as f64;
    eprintln!(
        "submitted while running, {WAVES} waves of {WAVE}: {polls} polls with messages, {per_job:.2} requests a job; worker side {worker_side:?}"
    );
    let most = 3 + 2 * (WAVES as u64 - 1);
    assert!(
        polls <= most,
        "{polls} polls brought the {WAVES} waves of {WAVE} jobs (at most {most}: 2 a wave, 3 the first): {worker_side:?}"
    );
    assert_eq!(worker_side.of("DeleteMessage"), 0, "{worker_side:?}");
    shutdown.cancel();
    tokio::time::timeout(Duration::from_secs(5), running)
        .await
        .expect("the loop stops on shutdown")
        .unwrap();
    assert!(api.queue_is_empty().await, "every message deleted");
    api.assert_invariants().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the local AWS emulator: `make test` or `make system-test` starts one"]
async fn the_ceiling_replay_makes_the_request_mix_of_a_job() {
    const JOBS: usize = 30;
    let env = env(10, Duration::from_secs(30)).await;
    let (proxy, store, queue) = through_proxy(&env).await;
    let replay = local_dev::ceiling::Replay {
        jobs: JOBS,
        submitters: 4,
        concurrency: 10,
        batch: 5,
        visibility: Duration::from_secs(30),
    };
    let took = local_dev::ceiling::replay(store, queue, replay).await.unwrap();
    assert!(took > Duration::ZERO);
    let counted = proxy.operations();
    let jobs = JOBS as u64;
    assert_eq!(counted.of("SendMessage"), jobs, "{counted:?}");
    assert_eq!(counted.of("UpdateItem"), jobs, "one first claim a job: {counted:?}");
    assert_eq!(
        counted.of("TransactWriteItems"),
        2 * jobs,
        "register and outcome: {counted:?}"
    );
    assert_eq!(counted.messages_received, jobs, "{counted:?}");
    assert!(
        counted.of("DeleteMessageBatch") >= jobs / 5 && counted.of("DeleteMessageBatch") <= jobs,
        "deletes in batches of at most 5: {counted:?}"
    );
    assert_eq!(counted.of("DeleteMessage"), 0, "{counted:?}");
    assert!(env.queue_is_empty().await);
}
