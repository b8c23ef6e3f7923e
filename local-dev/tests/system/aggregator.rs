//! Counting from the table's stream (`JOBS_COUNTERS=stream`) against the emulator: jobs run
//! through the real worker write only their job items; the local counter aggregator (the
//! stream poller and the DynamoDB ledger of `make run`'s `counter-aggregator`) books the
//! counters; the stats then equal the jobs' states exactly, a redelivered stream books
//! nothing twice, and a booking whose answer is cut by the fault proxy is counted once.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{Request, StatusCode};
use data_processor::tasks::registry;
use job_core::application::aggregate::{Aggregated, aggregate};
use job_core::counting::dynamodb::DynamoDbLedger;
use job_core::counting::streams::StreamPoller;
use job_core::counting::{CounterLedger, StreamSource};
use job_core::stats::Counting;
use job_core::store::{DynamoDbStore, JobStore};
use local_dev::fault_proxy::{Fault, FaultProxy, Rule};
use serde_json::{Value, json};
use uuid::Uuid;

use super::{Env, env_counting, settings};

/// The local aggregator's parts over `ddb` (the emulator, or the fault proxy before it).
async fn aggregator(env: &Env, ddb: aws_sdk_dynamodb::Client) -> (StreamPoller, DynamoDbLedger) {
    let ledger = DynamoDbLedger::new(DynamoDbStore::new(ddb.clone(), &env.made.table_name, 3));
    let arn = StreamPoller::stream_arn_of(&ddb, &env.made.table_name).await.unwrap();
    let poller = StreamPoller::new(
        aws_sdk_dynamodbstreams::Client::new(&env.sdk),
        arn,
        4,
        Arc::new(ledger.clone()) as Arc<dyn CounterLedger>,
    );
    (poller, ledger)
}

/// Reads and books batches until the stream has nothing new; returns the bookings made.
async fn drain(poller: &mut StreamPoller, ledger: &DynamoDbLedger) -> usize {
    let mut booked = 0;
    let mut empty = 0;
    let deadline = Instant::now() + Duration::from_secs(60);
    while empty < 2 {
        assert!(Instant::now() < deadline, "the stream did not drain in 60 s");
        let batch = poller.next_batch().await.expect("reading the stream");
        if batch.records.is_empty() {
            empty += 1;
            continue;
        }
        empty = 0;
        let outcome = aggregate(ledger, &batch, 3, chrono::Utc::now()).await.expect("booking");
        if matches!(outcome, Aggregated::Booked { .. }) {
            booked += 1;
        }
    }
    booked
}

fn counts(stats: &Value) -> [i64; 6] {
    ["submitted", "succeeded", "failed", "cancelled", "retries", "inFlight"].map(|f| stats[f].as_i64().unwrap())
}

/// The stats that the jobs' states give: per status, and Σ (attempts − 1).
async fn expected(env: &Env) -> [i64; 6] {
    let ids = env.jobs.lock().unwrap().clone();
    let mut c = [ids.len() as i64, 0, 0, 0, 0, 0];
    for id in ids {
        let job = env.store.get(id).await.unwrap().unwrap();
        match job.status {
            job_core::JobStatus::Succeeded => c[1] += 1,
            job_core::JobStatus::Failed => c[2] += 1,
            job_core::JobStatus::Cancelled => c[3] += 1,
            _ => c[5] += 1,
        }
        c[4] += i64::from(job.retries());
    }
    c
}

async fn run_jobs(env: &Env) {
    let mut ids = Vec::new();
    for _ in 0..3 {
        ids.push(env.submit(json!({"task": "sleep", "input": {"ms": 1}})).await);
    }
    ids.push(env.submit(json!({"task": "flaky", "input": {"failAttempts": 1}})).await);
    ids.push(env.submit(json!({"task": "fail"})).await);
    let cancelled = env.submit(json!({"task": "sleep", "input": {"ms": 1}})).await;
    let (status, reply) = env
        .call(
            Request::post(format!("/jobs/{cancelled}/cancel"))
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{reply}");
    let worker = env.worker(registry(), settings(Duration::from_secs(30)));
    for id in ids {
        env.drain_until_done(&worker, id, Duration::from_secs(30)).await;
    }
    while !env.queue_is_empty().await {
        worker.run_once().await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the local AWS emulator: `make test` or `make system-test` starts one"]
async fn stream_counting_converges_to_the_exact_counts_and_a_redelivery_counts_nothing_twice() {
    let env = env_counting(5, Duration::from_secs(30), Counting::Stream).await;
    run_jobs(&env).await;
    // The job writes booked nothing themselves.
    assert_eq!(
        counts(&env.stats().await),
        [0; 6],
        "counting from the stream, the job writes add nothing"
    );

    let (mut poller, ledger) = aggregator(&env, aws_sdk_dynamodb::Client::new(&env.sdk)).await;
    let booked = drain(&mut poller, &ledger).await;
    assert!(booked >= 1, "the aggregator booked the jobs' records");
    let want = expected(&env).await;
    assert_eq!(
        want,
        [6, 4, 1, 1, 3, 0],
        "3 sleeps and a flaky job succeed, one fails, one is cancelled"
    );
    assert_eq!(counts(&env.stats().await), want);
    env.assert_invariants().await;

    // The consumer's iterator goes back to the shard's start: everything is delivered
    // again, and the checkpoint books none of it.
    let shards: Vec<String> = {
        let streams = aws_sdk_dynamodbstreams::Client::new(&env.sdk);
        let arn = StreamPoller::stream_arn_of(&aws_sdk_dynamodb::Client::new(&env.sdk), &env.made.table_name)
            .await
            .unwrap();
        let out = streams.describe_stream().stream_arn(arn).send().await.unwrap();
        out.stream_description()
            .unwrap()
            .shards()
            .iter()
            .filter_map(|s| s.shard_id().map(str::to_owned))
            .collect()
    };
    assert!(!shards.is_empty());
    for shard in &shards {
        poller.rewind(shard, None);
    }
    assert_eq!(
        drain(&mut poller, &ledger).await,
        0,
        "a redelivered stream books nothing"
    );
    assert_eq!(counts(&env.stats().await), want);

    // A new consumer (a restarted process) starts after the checkpoint.
    let (mut restarted, ledger) = aggregator(&env, aws_sdk_dynamodb::Client::new(&env.sdk)).await;
    assert_eq!(drain(&mut restarted, &ledger).await, 0);
    assert_eq!(counts(&env.stats().await), want);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the local AWS emulator: `make test` or `make system-test` starts one"]
async fn a_booking_whose_answer_is_cut_is_counted_once() {
    let env = env_counting(5, Duration::from_secs(30), Counting::Stream).await;
    let upstream = std::env::var("AWS_ENDPOINT_URL").unwrap();
    let proxy = FaultProxy::start("127.0.0.1:0".parse().unwrap(), &upstream)
        .await
        .unwrap();
    let ddb = aws_sdk_dynamodb::config::Builder::from(&env.sdk)
        .endpoint_url(proxy.url())
        .build();
    let (mut poller, ledger) = aggregator(&env, aws_sdk_dynamodb::Client::from_conf(ddb)).await;

    let id: Uuid = env.submit(json!({"task": "sleep", "input": {"ms": 1}})).await;
    let worker = env.worker(registry(), settings(Duration::from_secs(30)));
    env.drain_until_done(&worker, id, Duration::from_secs(30)).await;

    // The booking commits, and the connection is cut before its answer: the SDK sends it
    // again, its condition fails on the moved checkpoint, and the batch is found booked.
    proxy.set(vec![Rule::on("TransactWriteItems", Fault::Cut, 1)]);
    let mut outcomes = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while outcomes
        .iter()
        .all(|o| !matches!(o, Aggregated::AlreadyBooked | Aggregated::Booked { .. }))
    {
        assert!(Instant::now() < deadline, "no booking in 30 s: {outcomes:?}");
        let batch = poller.next_batch().await.unwrap();
        if batch.records.is_empty() {
            continue;
        }
        match aggregate(&ledger, &batch, 3, chrono::Utc::now()).await {
            Ok(outcome) => outcomes.push(outcome),
            // Not retried by the SDK: the batch comes again, as Lambda would retry it.
            Err(err) => {
                eprintln!("booking failed ({err}); reading the shard again from its checkpoint");
                let checkpoint = ledger.checkpoint(&batch.shard_id).await.unwrap();
                poller.rewind(&batch.shard_id, checkpoint);
            }
        }
    }
    assert_eq!(proxy.counts().faulted, 1, "the cut happened");
    drain(&mut poller, &ledger).await;
    assert_eq!(counts(&env.stats().await), [1, 1, 0, 0, 0, 0]);
    env.assert_invariants().await;
}

/// Counting is the table's property: a process told to count otherwise refuses to start,
/// naming both modes; one told nothing follows the table; `provision` will not change it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the local AWS emulator: `make test` or `make system-test` starts one"]
async fn a_process_counting_otherwise_than_its_table_refuses_to_start() {
    let env = env_counting(5, Duration::from_secs(5), Counting::Stream).await;
    let settings = |counters: Option<&str>| {
        let (queue, table) = (env.made.queue_url.clone(), env.made.table_name.clone());
        let counters = counters.map(str::to_owned);
        job_core::config::Config::from_lookup(move |name| match name {
            "JOBS_QUEUE_URL" => Some(queue.clone()),
            "JOBS_TABLE_NAME" => Some(table.clone()),
            "JOBS_COUNTERS" => counters.clone(),
            _ => None,
        })
        .unwrap()
    };
    let followed = job_core::adapters::AwsAdapters::load(settings(None)).await.unwrap();
    assert_eq!(followed.counting, Counting::Stream);
    let refused = job_core::adapters::AwsAdapters::load(settings(Some("inline")))
        .await
        .err()
        .expect("a process counting inline beside a stream-counted table must not start")
        .to_string();
    assert!(
        refused.contains("JOBS_COUNTERS=inline") && refused.contains("counts stream"),
        "{refused}"
    );

    // The real worker binary, started as `provision`'s old environment would have started it.
    let out = std::process::Command::new(super::worker_binary())
        .args(["--once"])
        .env("JOBS_QUEUE_URL", &env.made.queue_url)
        .env("JOBS_TABLE_NAME", &env.made.table_name)
        .env("JOBS_COUNTERS", "inline")
        .env("RUST_LOG", "warn")
        .output()
        .expect("run data-processor");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("JOBS_COUNTERS=inline") && stderr.contains("counts stream"),
        "{stderr}"
    );

    let again = local_dev::provision::Plan {
        counting: Counting::Inline,
        ..local_dev::provision::Plan::named(env.made.table_name.trim_end_matches("-jobs"))
    };
    let changed = local_dev::provision::provision(&env.sdk, &again)
        .await
        .unwrap_err()
        .to_string();
    assert!(changed.contains("already counts stream"), "{changed}");
    assert!(env.queue_is_empty().await, "the refused worker took no message");
}
