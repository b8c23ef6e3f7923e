//! Operating jobs against the emulator: `GET /jobs` through the real listing indexes,
//! cancel in each state (queued, retrying, running a long `sleep`, finished), the
//! cancel-vs-finish race many times, and re-run idempotency.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{Request, StatusCode};
use data_processor::Outcome;
use data_processor::tasks::registry;
use serde_json::{Value, json};
use uuid::Uuid;

use super::{Env, env, settings};

impl Env {
    async fn get_json(&self, path: &str) -> (StatusCode, Value) {
        self.call(Request::get(path).body(Body::empty()).unwrap()).await
    }

    async fn post_empty(&self, path: &str) -> (StatusCode, Value) {
        self.call(Request::post(path).body(Body::empty()).unwrap()).await
    }

    /// Every page of `GET /jobs?<query>` with `limit`, calling `between` after each page.
    async fn all_pages(&self, query: &str, limit: u32, mut between: impl AsyncFnMut()) -> Vec<Value> {
        let mut rows = Vec::new();
        let mut cursor: Option<String> = None;
        for _ in 0..100 {
            let mut path = format!("/jobs?limit={limit}&{query}");
            if let Some(c) = &cursor {
                path.push_str(&format!("&cursor={c}"));
            }
            let (status, page) = self.get_json(&path).await;
            assert_eq!(status, StatusCode::OK, "{path}: {page}");
            let jobs = page["jobs"].as_array().unwrap();
            assert!(jobs.len() <= limit as usize, "{page}");
            rows.extend(jobs.iter().cloned());
            match page["nextCursor"].as_str() {
                Some(next) => cursor = Some(next.to_owned()),
                None => return rows,
            }
            between().await;
        }
        panic!("more than 100 pages");
    }
}

fn ids(rows: &[Value]) -> Vec<Uuid> {
    rows.iter()
        .map(|r| r["jobId"].as_str().unwrap().parse().unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the local AWS emulator: `make test` or `make system-test` starts one"]
async fn listing_pages_newest_first_through_the_indexes_with_filters_and_no_gaps() {
    let env = env(5, Duration::from_secs(30)).await;
    let mut submitted = Vec::new();
    for i in 0..23 {
        let task = if i % 3 == 0 { "fail" } else { "sleep" };
        let input = if task == "sleep" { json!({"ms": 1}) } else { json!(null) };
        submitted.push(env.submit(json!({"task": task, "input": input})).await);
    }
    // Paging while jobs are added: the new ones land above the cursor, so the pages hold
    // every job that existed when paging began, once each, newest first.
    let rows = env
        .all_pages("", 5, async || {
            env.submit(json!({"task": "sleep", "input": {"ms": 1}})).await;
        })
        .await;
    let listed = ids(&rows);
    let unique: HashSet<Uuid> = listed.iter().copied().collect();
    assert_eq!(unique.len(), listed.len(), "no duplicates");
    let mut newest_first = submitted.clone();
    newest_first.reverse();
    assert_eq!(listed, newest_first, "every job, no gaps, newest first");
    assert!(
        env.jobs.lock().unwrap().len() > submitted.len(),
        "jobs were added while paging"
    );
    let times: Vec<&str> = rows.iter().map(|r| r["createdAt"].as_str().unwrap()).collect();
    assert!(
        times
            .windows(2)
            .all(|w| chrono::DateTime::parse_from_rfc3339(w[0]).unwrap()
                >= chrono::DateTime::parse_from_rfc3339(w[1]).unwrap()),
        "{times:?}"
    );

    // Filters: task, status (after cancelling some), source.
    let fails: Vec<Uuid> = submitted.iter().copied().step_by(3).collect();
    let listed_fails = ids(&env.all_pages("task=fail", 3, async || {}).await);
    assert_eq!(listed_fails, fails.iter().rev().copied().collect::<Vec<_>>());
    for id in &fails[..4] {
        let (status, job) = env.post_empty(&format!("/jobs/{id}/cancel")).await;
        assert_eq!(status, StatusCode::OK, "{job}");
        assert_eq!(job["status"], "CANCELLED");
    }
    let cancelled = env.all_pages("status=CANCELLED", 2, async || {}).await;
    assert_eq!(ids(&cancelled), fails[..4].iter().rev().copied().collect::<Vec<_>>());
    assert!(cancelled.iter().all(|r| r["status"] == "CANCELLED"));
    let queued_fails = env.all_pages("status=QUEUED&task=fail", 50, async || {}).await;
    assert_eq!(ids(&queued_fails), fails[4..].iter().rev().copied().collect::<Vec<_>>());
    assert!(env.all_pages("source=schedule", 50, async || {}).await.is_empty());
    let all = env.jobs.lock().unwrap().len();
    assert_eq!(env.all_pages("source=api", 200, async || {}).await.len(), all);

    // Bad parameters: 400 naming the problem.
    for (query, code) in [
        ("limit=0", "invalid_limit"),
        ("limit=201", "invalid_limit"),
        ("cursor=bm9wZQ", "invalid_cursor"),
        ("status=DONE", "invalid_status"),
        ("colour=red", "invalid_request"),
    ] {
        let (status, body) = env.get_json(&format!("/jobs?{query}")).await;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (StatusCode::BAD_REQUEST, Some(code)),
            "{query}: {body}"
        );
    }
    env.assert_invariants().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the local AWS emulator: `make test` or `make system-test` starts one"]
async fn cancel_in_each_state() {
    let visibility = Duration::from_secs(3);
    let env = env(5, visibility).await;
    let worker = Arc::new(env.worker(registry(), settings(visibility)));

    // QUEUED: at once; the leftover message is deleted without running anything.
    let queued = env.submit(json!({"task": "sleep", "input": {"ms": 1}})).await;
    let (status, job) = env.post_empty(&format!("/jobs/{queued}/cancel")).await;
    assert_eq!(
        (status, job["status"].as_str()),
        (StatusCode::OK, Some("CANCELLED")),
        "{job}"
    );
    assert_eq!(worker.run_once().await.unwrap(), Some(Outcome::Duplicate(queued)));
    assert_eq!(env.job(queued).await["attempts"], 0);

    // Finished: 409 naming its status.
    let (status, body) = env.post_empty(&format!("/jobs/{queued}/cancel")).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["error"]["code"], "job_finished");
    assert!(
        body["error"]["message"].as_str().unwrap().contains("CANCELLED"),
        "{body}"
    );
    let (status, _) = env.post_empty(&format!("/jobs/{}/cancel", Uuid::new_v4())).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // RUNNING a long sleep: the worker notices within one heartbeat (a third of the
    // visibility timeout), stops the task, records CANCELLED and deletes the message.
    let running = env.submit(json!({"task": "sleep", "input": {"ms": 60_000}})).await;
    let handle = tokio::spawn({
        let worker = worker.clone();
        async move { worker.run_once().await }
    });
    env.wait_for_status(running, "RUNNING", Duration::from_secs(10)).await;
    let asked = Instant::now();
    let (status, job) = env.post_empty(&format!("/jobs/{running}/cancel")).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{job}");
    assert_eq!(job["status"], "RUNNING");
    assert!(job["cancelRequestedAt"].is_string(), "{job}");
    let (status, _) = env.post_empty(&format!("/jobs/{running}/cancel")).await;
    assert_eq!(status, StatusCode::ACCEPTED, "asking again is harmless");
    assert_eq!(handle.await.unwrap().unwrap(), Some(Outcome::Cancelled(running)));
    let took = asked.elapsed();
    assert!(took < visibility / 3 + Duration::from_secs(2), "stopped in {took:?}");
    let job = env.job(running).await;
    assert_eq!(
        (job["status"].as_str(), job["attempts"].as_i64()),
        (Some("CANCELLED"), Some(1)),
        "{job}"
    );

    // RETRYING: at once, while its worker waits out the retry delay holding the message.
    let mut slow_retry = settings(visibility);
    slow_retry.retry.base_delay = Duration::from_secs(20);
    slow_retry.retry.max_delay = Duration::from_secs(20);
    let patient = Arc::new(env.worker(registry(), slow_retry));
    let retrying = env.submit(json!({"task": "fail"})).await;
    let handle = tokio::spawn({
        let worker = patient.clone();
        async move { worker.run_once().await }
    });
    env.wait_for_status(retrying, "RETRYING", Duration::from_secs(10)).await;
    let (status, job) = env.post_empty(&format!("/jobs/{retrying}/cancel")).await;
    assert_eq!(
        (status, job["status"].as_str()),
        (StatusCode::OK, Some("CANCELLED")),
        "{job}"
    );
    let outcome = tokio::time::timeout(Duration::from_secs(5), handle)
        .await
        .expect("the waiting worker noticed within a heartbeat")
        .unwrap()
        .unwrap();
    assert_eq!(outcome, Some(Outcome::Duplicate(retrying)));
    assert_eq!(env.job(retrying).await["attempts"], 1, "no second attempt");

    assert!(env.queue_is_empty().await, "every message deleted");
    let stats = env.stats().await;
    assert_eq!(
        (stats["cancelled"].as_i64(), stats["daily"][0]["cancelled"].as_i64()),
        (Some(3), Some(3)),
        "{stats}"
    );
    assert_eq!(stats["inFlight"], 0, "{stats}");
    env.assert_invariants().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the local AWS emulator: `make test` or `make system-test` starts one"]
async fn a_cancel_racing_the_end_of_an_attempt_ends_in_one_state_counted_once() {
    let visibility = Duration::from_secs(3);
    let env = env(5, visibility).await;
    let worker = Arc::new(env.worker(registry(), settings(visibility)));
    let rounds = 24;
    let (mut cancelled, mut succeeded) = (0, 0);
    for round in 0..rounds {
        let id = env.submit(json!({"task": "sleep", "input": {"ms": 200}})).await;
        let handle = tokio::spawn({
            let worker = worker.clone();
            async move { worker.run_once().await }
        });
        let deadline = Instant::now() + Duration::from_secs(10);
        while env.job(id).await["status"] == "QUEUED" {
            assert!(Instant::now() < deadline, "round {round}: never started");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        // Land the cancel before, at and after the end of the 200 ms task.
        tokio::time::sleep(Duration::from_millis((round * 15) % 300)).await;
        let (status, reply) = env.post_empty(&format!("/jobs/{id}/cancel")).await;
        let outcome = handle.await.unwrap().unwrap();
        let job = env.job(id).await;
        match status {
            StatusCode::OK | StatusCode::ACCEPTED => {
                // The cancel's write landed first: the outcome's write failed on the version.
                assert_eq!(job["status"], "CANCELLED", "round {round}: {job}");
                assert_eq!(outcome, Some(Outcome::Cancelled(id)), "round {round}");
                cancelled += 1;
            }
            StatusCode::CONFLICT if job["status"] == "SUCCEEDED" => {
                assert_eq!(job["status"], "SUCCEEDED", "round {round}: {job}");
                assert!(
                    reply["error"]["message"].as_str().unwrap().contains("SUCCEEDED"),
                    "{reply}"
                );
                succeeded += 1;
            }
            other => panic!("round {round}: {other} {reply}"),
        }
    }
    let stats = env.stats().await;
    assert_eq!(
        (stats["succeeded"].as_i64(), stats["cancelled"].as_i64()),
        (Some(succeeded), Some(cancelled)),
        "each job counted once, in its one terminal state: {stats}"
    );
    assert!(env.queue_is_empty().await);
    env.assert_invariants().await;
    eprintln!("cancel race: {cancelled} cancelled, {succeeded} succeeded of {rounds}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the local AWS emulator: `make test` or `make system-test` starts one"]
async fn a_failed_or_cancelled_job_reruns_once_linked_both_ways() {
    let env = env(5, Duration::from_secs(30)).await;
    let source = env.submit(json!({"task": "sleep", "input": {"ms": 7}})).await;
    let (status, body) = env.post_empty(&format!("/jobs/{source}/rerun")).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (StatusCode::CONFLICT, Some("not_rerunnable")),
        "{body}"
    );
    env.post_empty(&format!("/jobs/{source}/cancel")).await;

    let (status, first) = env.post_empty(&format!("/jobs/{source}/rerun")).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{first}");
    let (status, again) = env.post_empty(&format!("/jobs/{source}/rerun")).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{again}");
    assert_eq!(first["jobId"], again["jobId"], "one re-run per source job");
    let rerun: Uuid = first["jobId"].as_str().unwrap().parse().unwrap();
    env.jobs.lock().unwrap().push(rerun);

    let new = env.job(rerun).await;
    assert_eq!(
        (new["task"].as_str(), &new["input"]),
        (Some("sleep"), &json!({"ms": 7}))
    );
    assert_eq!(new["rerunOf"], source.to_string());
    assert_eq!(env.job(source).await["rerunBy"], rerun.to_string());

    let worker = env.worker(registry(), settings(Duration::from_secs(30)));
    let done = env.drain_until_done(&worker, rerun, Duration::from_secs(20)).await;
    assert_eq!(done["status"], "SUCCEEDED", "{done}");
    // The repeated request may have sent the message again; it runs nothing twice.
    while worker.run_once().await.unwrap().is_some() {}
    assert_eq!(env.job(rerun).await["attempts"], 1);
    let stats = env.stats().await;
    assert_eq!(
        (stats["submitted"].as_i64(), stats["succeeded"].as_i64()),
        (Some(2), Some(1)),
        "{stats}"
    );
    env.assert_invariants().await;
}

/// Counts the HTTP requests a DynamoDB client sends.
#[derive(Debug, Clone, Default)]
struct RequestCounter(Arc<std::sync::atomic::AtomicUsize>);

impl aws_sdk_dynamodb::config::Intercept for RequestCounter {
    fn name(&self) -> &'static str {
        "RequestCounter"
    }

    fn read_before_transmit(
        &self,
        _: &aws_sdk_dynamodb::config::interceptors::BeforeTransmitInterceptorContextRef<'_>,
        _: &aws_sdk_dynamodb::config::RuntimeComponents,
        _: &mut aws_sdk_dynamodb::config::ConfigBag,
    ) -> Result<(), aws_sdk_dynamodb::error::BoxError> {
        self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the local AWS emulator: `make test` or `make system-test` starts one"]
async fn a_listed_page_costs_one_query_per_shard() {
    use job_core::listing::{ListQuery, SHARDS};
    use job_core::store::{DynamoDbStore, JobStore};
    let env = env(5, Duration::from_secs(30)).await;
    for _ in 0..30 {
        env.submit(json!({"task": "sleep", "input": {"ms": 1}})).await;
    }
    let counter = RequestCounter::default();
    let config = aws_sdk_dynamodb::config::Builder::from(&env.sdk)
        .interceptor(counter.clone())
        .build();
    let store = DynamoDbStore::new(aws_sdk_dynamodb::Client::from_conf(config), &env.made.table_name, 3);
    let query = |status, task: Option<&str>, submitter: Option<&str>| ListQuery {
        status,
        task: task.map(str::to_owned),
        source: None,
        submitted_by: submitter.map(str::to_owned),
        limit: 10,
        before: None,
    };
    for (name, q) in [
        ("unfiltered", query(None, None, None)),
        ("status", query(Some(job_core::JobStatus::Queued), None, None)),
        ("task", query(None, Some("sleep"), None)),
        // Through the jobs-by-submitter index: the local API's callers are `local`.
        ("submitter", query(None, None, Some("local"))),
        (
            "submitter and status",
            query(Some(job_core::JobStatus::Queued), None, Some("local")),
        ),
    ] {
        let before = counter.0.load(std::sync::atomic::Ordering::SeqCst);
        let page = store.list(&q).await.unwrap();
        let requests = counter.0.load(std::sync::atomic::Ordering::SeqCst) - before;
        assert_eq!(page.jobs.len(), 10, "{name}");
        if q.submitted_by.is_some() {
            assert!(
                page.jobs.iter().all(|j| j.submitted_by.as_deref() == Some("local")),
                "{name}"
            );
        }
        assert_eq!(requests, SHARDS as usize, "{name}: one Query per shard");
        eprintln!("listing cost: a page of 10 ({name}) took {requests} DynamoDB requests");
    }
    // Another caller's partition holds none of these jobs.
    let page = store.list(&query(None, None, Some("bob"))).await.unwrap();
    assert!(page.jobs.is_empty() && page.next.is_none(), "{:?}", page.jobs);
    env.assert_invariants().await;
}
