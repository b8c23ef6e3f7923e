//! Grants proven at the wire: every AWS action each deployed binary's code makes is in
//! `settings/grants.json`, the table the CDK app grants from.
//!
//! Each binary's clients sign with an access key of their own (its role's name) and go
//! through the fault proxy, which records the IAM actions each request needs
//! ([`local_dev::wire_actions`]). The scenario drives every route group, the worker (a
//! success, a retried and a failed job, a cancel), the counter aggregator, the reconciler
//! and the reconciler (the local schedule runner, which stands in for Scheduler itself,
//! is not deployed and is not checked); then every
//! recorded action must match a row of its role: the action, the resource, and for table
//! items a partition key under one of the row's key prefixes.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use aws_config::{BehaviorVersion, SdkConfig};
use aws_sdk_dynamodb::config::Credentials;
use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use data_processor::Worker;
use data_processor::tasks::registry;
use job_core::adapters::AwsAdapters;
use job_core::application::aggregate::aggregate;
use job_core::config::Config;
use job_core::counting::dynamodb::DynamoDbLedger;
use job_core::counting::streams::StreamPoller;
use job_core::counting::{CounterLedger, StreamSource};
use job_core::stats::Counting;
use lambdas::AppState;
use lambdas::reconciler::Reconciler;
use local_dev::clock::ManualClock;
use local_dev::fault_proxy::FaultProxy;
use local_dev::local_runner::LocalRunner;
use local_dev::provision::{Plan, Provisioned, emulator_scheduler_role_arn, provision};
use local_dev::wire_actions::{Resource, WireAction};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

use super::{emulator, settings};

/// `settings/grants.json`.
fn grants() -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../settings/grants.json");
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The SDK configuration of one role: its own access key, through the proxy.
async fn signed_as(role: &str, endpoint: &str) -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(Credentials::new(role, "test", None, None, "grants-test"))
        .timeout_config(job_core::aws::AwsTimeouts::default().config())
        .load()
        .await
}

/// The adapters of one role, configured as the CDK app configures every binary.
async fn adapters(role: &str, proxy: &FaultProxy, made: &Provisioned, scheduler_role: &str) -> AwsAdapters {
    let vars = [
        ("JOBS_QUEUE_URL", made.queue_url.clone()),
        ("JOBS_QUEUE_ARN", made.queue_arn.clone()),
        ("JOBS_TABLE_NAME", made.table_name.clone()),
        ("JOBS_DLQ_URL", made.dlq_url.clone()),
        ("JOBS_SCHEDULE_GROUP", made.schedule_group.clone().unwrap()),
        ("JOBS_SCHEDULER_ROLE_ARN", scheduler_role.to_owned()),
        ("JOBS_STATS_SHARDS", "3".to_owned()),
        ("JOBS_VISIBILITY_TIMEOUT_SECS", "5".to_owned()),
    ];
    let config = Config::from_lookup(|name| vars.iter().find(|(k, _)| *k == name).map(|(_, v)| v.clone())).unwrap();
    AwsAdapters::load_with(signed_as(role, &proxy.url()).await, config)
        .await
        .unwrap_or_else(|e| panic!("{role}: {e}"))
}

async fn call(app: &Router, method: &str, uri: &str, body: Option<Value>) -> (StatusCode, Value) {
    let mut request = Request::builder().method(method).uri(uri);
    if body.is_some() {
        request = request.header("content-type", "application/json");
    }
    let body = body.map(|b| Body::from(b.to_string())).unwrap_or_else(Body::empty);
    let response = app.clone().oneshot(request.body(body).unwrap()).await.unwrap();
    let status = response.status();
    let bytes = http_body_util::BodyExt::collect(response.into_body())
        .await
        .unwrap()
        .to_bytes();
    (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
}

/// The symbolic name `grants.json` gives a recorded resource.
fn symbolic(resource: &Resource, made: &Provisioned, scheduler_role: &str) -> String {
    match resource {
        Resource::Table(name) if *name == made.table_name => "table".to_owned(),
        Resource::Index { table, index } if *table == made.table_name => format!("index/{index}"),
        Resource::Stream(_) => "stream".to_owned(),
        Resource::Queue(url) if *url == made.queue_url => "queue".to_owned(),
        Resource::Queue(url) if *url == made.dlq_url => "dead-letter-queue".to_owned(),
        Resource::Schedules(group) if Some(group) == made.schedule_group.as_ref() => "schedules".to_owned(),
        Resource::Role(arn) if arn == scheduler_role => "scheduler-role".to_owned(),
        Resource::Any => "*".to_owned(),
        other => format!("unknown resource {other:?}"),
    }
}

/// Whether a row of `role` in `grants` allows `action`.
fn granted(grants: &Value, action: &WireAction, resource: &str) -> bool {
    let rows = grants["roles"][&action.caller]["grants"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    rows.iter().any(|row| {
        let actions = row["actions"].as_array().into_iter().flatten();
        let named = actions.filter_map(Value::as_str).any(|a| a == action.action);
        let keys: Vec<&str> = row["keys"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        let key_ok = match &action.key {
            Some(key) => keys.iter().any(|prefix| key.starts_with(prefix)),
            None => true,
        };
        named && row["resource"] == resource && key_ok
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the local AWS emulator: `make test` or `make system-test` starts one"]
async fn every_action_each_binary_makes_is_in_the_grant_table() {
    let grants = grants();
    let (sdk, prefix) = emulator().await;
    let plan = Plan {
        counting: Counting::Stream,
        visibility_timeout: Duration::from_secs(5),
        max_receive_count: 1,
        ..Plan::named(&prefix)
    };
    let made = provision(&sdk, &plan).await.expect("provisioning against the emulator");
    let scheduler_role = emulator_scheduler_role_arn(&made.queue_arn, &prefix).unwrap();
    let proxy = FaultProxy::start(
        "127.0.0.1:0".parse().unwrap(),
        &std::env::var("AWS_ENDPOINT_URL").unwrap(),
    )
    .await
    .unwrap();
    proxy.record_actions(true);
    let aws = |role: &'static str| adapters(role, &proxy, &made, &scheduler_role);

    // The API, one router per Lambda, each with its role's clients.
    let jobs = lambdas::routes::jobs_api(AppState::from_adapters(&aws("jobs-api").await));
    let stats = lambdas::routes::stats_api(AppState::from_adapters(&aws("stats-api").await));
    let schedules_aws = aws("schedules-api").await;
    let schedules = lambdas::routes::schedules_api(AppState::from_adapters(&schedules_aws));
    let worker_aws = aws("data-processor").await;
    let worker = Worker::new(
        Arc::new(worker_aws.store()),
        Arc::new(worker_aws.queue()),
        registry(),
        settings(Duration::from_secs(5)),
        CancellationToken::new(),
    );

    let mut ids = Vec::new();
    for body in [
        json!({}),
        json!({"task": "flaky", "input": {"failAttempts": 1}}),
        json!({"task": "fail", "input": {}}),
        json!({"task": "sleep", "input": {"ms": 1}, "idempotencyKey": "order-1"}),
        json!({"task": "sleep", "input": {"ms": 1}, "idempotencyKey": "order-1"}),
    ] {
        let (status, answer) = call(&jobs, "POST", "/jobs", Some(body.clone())).await;
        assert!(status.is_success(), "{body}: {status} {answer}");
        ids.push(answer["jobId"].as_str().unwrap().to_owned());
    }
    let (status, cancelled) = call(
        &jobs,
        "POST",
        "/jobs",
        Some(json!({"task": "sleep", "input": {"ms": 1}})),
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let cancelled = cancelled["jobId"].as_str().unwrap().to_owned();
    let (status, _) = call(&jobs, "POST", &format!("/jobs/{cancelled}/cancel"), None).await;
    assert!(status.is_success(), "cancel: {status}");

    // The worker runs them all, retries included.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        worker.run_once().await.expect("worker poll");
        let (_, failed) = call(&jobs, "GET", &format!("/jobs/{}", ids[2]), None).await;
        let (_, flaky) = call(&jobs, "GET", &format!("/jobs/{}", ids[1]), None).await;
        if failed["status"] == "FAILED" && flaky["status"] == "SUCCEEDED" {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "jobs did not finish: {failed} {flaky}"
        );
    }
    let (status, rerun) = call(&jobs, "POST", &format!("/jobs/{}/rerun", ids[2]), None).await;
    assert!(status.is_success(), "rerun: {status} {rerun}");
    for uri in ["/jobs", "/jobs?status=FAILED", "/jobs?task=sleep", "/openapi.json"] {
        let (status, answer) = call(&jobs, "GET", uri, None).await;
        assert_eq!(status, StatusCode::OK, "{uri}: {answer}");
    }

    // The counter aggregator books the stream, as its local stand-in does.
    let aggregator_aws = aws("counter-aggregator").await;
    let ddb = aws_sdk_dynamodb::Client::new(&aggregator_aws.sdk);
    let ledger = DynamoDbLedger::new(aggregator_aws.store());
    let arn = StreamPoller::stream_arn_of(&ddb, &made.table_name).await.unwrap();
    let mut poller = StreamPoller::new(
        aws_sdk_dynamodbstreams::Client::new(&aggregator_aws.sdk),
        arn,
        100,
        Arc::new(ledger.clone()) as Arc<dyn CounterLedger>,
    );
    for _ in 0..4 {
        let batch = poller.next_batch().await.expect("reading the stream");
        if !batch.records.is_empty() {
            aggregate(&ledger, &batch, 3, chrono::Utc::now())
                .await
                .expect("booking");
        }
    }
    let (status, answer) = call(&stats, "GET", "/jobs/stats", None).await;
    assert_eq!(status, StatusCode::OK, "{answer}");

    // Schedules: create, read, list, change, history; the runner fires it as Scheduler would.
    let (status, answer) = call(
        &schedules,
        "POST",
        "/jobs/schedule",
        Some(json!({"cron": "rate(1 minute)", "name": "grants", "task": "sleep", "input": {"ms": 1}})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{answer}");
    for (method, uri, body) in [
        ("GET", "/jobs/schedules", None),
        ("GET", "/jobs/schedules/grants", None),
        ("PATCH", "/jobs/schedules/grants", Some(json!({"enabled": false}))),
        (
            "PATCH",
            "/jobs/schedules/grants",
            Some(json!({"enabled": true, "overlap": "forbid"})),
        ),
    ] {
        let (status, answer) = call(&schedules, method, uri, body).await;
        assert!(status.is_success(), "{method} {uri}: {status} {answer}");
    }
    // Two minutes later by the runner's clock, a run is due; the worker registers and
    // runs it under the schedule's overlap policy.
    let runner_aws = aws("schedule-runner").await;
    let clock = Arc::new(ManualClock::new(chrono::Utc::now()));
    let mut runner = LocalRunner::new(
        Arc::new(runner_aws.schedule_reader()),
        Arc::new(runner_aws.queue()),
        clock.clone(),
    );
    clock.advance(chrono::TimeDelta::minutes(2));
    let fired = runner.tick().await.expect("schedule runner");
    assert!(!fired.is_empty(), "no run of the schedule was due");
    for _ in 0..fired.len() + 2 {
        worker.run_once().await.expect("worker poll of the scheduled runs");
    }
    let (status, history) = call(&schedules, "GET", "/jobs/schedules/grants", None).await;
    assert_eq!(status, StatusCode::OK, "{history}");

    // The reconciler's pass: stale jobs, the dead-letter queue, missed runs.
    let reconciler = Reconciler::from_adapters(&aws("reconciler").await).unwrap();
    reconciler.pass().await.expect("reconciler pass");
    let (status, _) = call(&schedules, "DELETE", "/jobs/schedules/grants", None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);

    let recorded = proxy.actions();
    let callers: BTreeSet<&str> = recorded.iter().map(|a| a.caller.as_str()).collect();
    for role in [
        "jobs-api",
        "stats-api",
        "schedules-api",
        "data-processor",
        "counter-aggregator",
        "reconciler",
    ] {
        assert!(
            callers.contains(role),
            "{role} made no AWS call: the scenario misses it"
        );
    }
    let mut missing = BTreeSet::new();
    let mut seen = BTreeSet::new();
    for action in recorded.iter().filter(|a| a.caller != "schedule-runner") {
        let resource = symbolic(&action.resource, &made, &scheduler_role);
        let key = action.key.as_deref().map(key_shape).unwrap_or_default();
        seen.insert(format!("{} {} on {resource} {key}", action.caller, action.action));
        if !granted(&grants, action, &resource) {
            missing.insert(format!("{} {} on {resource} {key}", action.caller, action.action));
        }
    }
    // The whole record, for `--nocapture`: what each binary needs, as measured.
    eprintln!(
        "actions made at the wire ({}):\n  {}",
        seen.len(),
        seen.iter().cloned().collect::<Vec<_>>().join("\n  ")
    );
    assert!(
        missing.is_empty(),
        "actions made at the wire that settings/grants.json does not grant ({}):\n  {}",
        missing.len(),
        missing.into_iter().collect::<Vec<_>>().join("\n  ")
    );
}

/// A partition key with its variable part elided, for the report (`JOB#…`).
fn key_shape(key: &str) -> String {
    match key.find('#') {
        Some(i) => {
            let rest = &key[i + 1..];
            let second = rest.find('#').map(|j| &rest[..=j]).unwrap_or("");
            let word = second.chars().all(|c| c.is_ascii_uppercase() || c == '#');
            if word && !second.is_empty() {
                format!("key {}{}…", &key[..=i], second)
            } else {
                format!("key {}…", &key[..=i])
            }
        }
        None => format!("key {key}"),
    }
}
