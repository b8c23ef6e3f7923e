//! HTTP tests of `GET /jobs`, cancel and re-run over the in-memory adapters.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::StatusCode;
use chrono::Utc;
use job_core::job::Claim;
use job_core::queue::MemoryQueue;
use job_core::store::{JobStore, MemoryStore};
use serde_json::{Value, json};
use uuid::Uuid;

use super::tests::{assert_error, call, get, post};
use crate::state::AppState;

fn app() -> (Arc<MemoryStore>, Router) {
    let store = Arc::new(MemoryStore::new());
    let state = AppState::new(store.clone(), Arc::new(MemoryQueue::new()));
    (store, super::all(state))
}

async fn submit(app: &Router, task: &str) -> Uuid {
    let body = json!({"task": task, "input": if task == "sleep" { json!({"ms": 1}) } else { Value::Null }});
    let (status, _, reply) = call(app, post("/jobs", Some("application/json"), body.to_string())).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{reply}");
    reply["jobId"].as_str().unwrap().parse().unwrap()
}

/// Makes job `id` RUNNING, held by worker `w` for a minute.
async fn start(store: &MemoryStore, id: Uuid) {
    let job = store.get(id).await.unwrap().unwrap();
    let Claim::Start(change) = job.claim("w", Utc::now(), Duration::from_secs(60)) else {
        panic!("not startable")
    };
    store.apply(&change).await.unwrap();
}

#[tokio::test]
async fn list_is_newest_first_and_pages_with_a_cursor() {
    let (_, app) = app();
    let mut ids = Vec::new();
    for task in ["sleep", "fail", "sleep", "fail", "sleep"] {
        ids.push(submit(&app, task).await);
    }
    ids.reverse();
    let (status, _, page) = call(&app, get("/jobs?limit=2")).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    let first: Vec<&str> = page["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| j["jobId"].as_str().unwrap())
        .collect();
    assert_eq!(first, [ids[0].to_string(), ids[1].to_string()]);
    let cursor = page["nextCursor"].as_str().unwrap();
    let (_, _, rest) = call(&app, get(&format!("/jobs?limit=200&cursor={cursor}"))).await;
    assert_eq!(rest["jobs"].as_array().unwrap().len(), 3);
    assert_eq!(rest["nextCursor"], Value::Null);
    let (_, _, fails) = call(&app, get("/jobs?task=fail&status=queued")).await;
    assert_eq!(fails["jobs"].as_array().unwrap().len(), 2, "{fails}");
    let row = &fails["jobs"][0];
    assert_eq!(
        (row["status"].as_str(), row["source"].as_str()),
        (Some("QUEUED"), Some("api"))
    );
}

#[tokio::test]
async fn bad_list_parameters_are_400_naming_the_problem() {
    let (_, app) = app();
    for (query, code, named) in [
        ("limit=0", "invalid_limit", "limit"),
        ("limit=abc", "invalid_limit", "limit"),
        ("limit=1000", "invalid_limit", "200"),
        ("cursor=not-a-cursor", "invalid_cursor", "cursor"),
        ("status=DONE", "invalid_status", "DONE"),
        ("source=cron", "invalid_source", "cron"),
        ("task=", "invalid_request", "task"),
        ("sort=asc", "invalid_request", "sort"),
    ] {
        let (status, _, body) = call(&app, get(&format!("/jobs?{query}"))).await;
        assert_error(status, &body, StatusCode::BAD_REQUEST, code);
        assert!(
            body["error"]["message"].as_str().unwrap().contains(named),
            "{query}: {body}"
        );
    }
}

#[tokio::test]
async fn unknown_filters_are_400_naming_the_allowed_values_before_any_read() {
    // A DynamoDB store whose every request is counted: a refused filter must make none.
    let calls = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counted = calls.clone();
    let http = aws_smithy_http_client::test_util::infallible_client_fn(move |_request| {
        counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        http::Response::builder()
            .status(200)
            .header("content-type", "application/x-amz-json-1.0")
            .body(r#"{"Items":[],"Count":0}"#)
            .unwrap()
    });
    let config = aws_sdk_dynamodb::Config::builder()
        .behavior_version(aws_sdk_dynamodb::config::BehaviorVersion::latest())
        .region(aws_sdk_dynamodb::config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
            "test", "test", None, None, "test",
        ))
        .http_client(http)
        .build();
    let store = job_core::store::DynamoDbStore::new(aws_sdk_dynamodb::Client::from_conf(config), "jobs", 1);
    let app = super::all(AppState::new(Arc::new(store), Arc::new(MemoryQueue::new())));
    for (query, code, named) in [
        ("task=zzz", "invalid_task", ["zzz", "sleep", "fail"]),
        ("status=DONE", "invalid_status", ["DONE", "SUCCEEDED", "CANCELLED"]),
        ("source=cron", "invalid_source", ["cron", "api", "schedule"]),
    ] {
        let (status, _, body) = call(&app, get(&format!("/jobs?{query}"))).await;
        assert_error(status, &body, StatusCode::BAD_REQUEST, code);
        let message = body["error"]["message"].as_str().unwrap();
        for word in named {
            assert!(message.contains(word), "{query}: {word} missing from {message}");
        }
    }
    assert_eq!(
        calls.load(std::sync::atomic::Ordering::SeqCst),
        0,
        "no store request was made"
    );
    // The same store does read for a known task: the counter sees the listing's queries.
    let (status, _, body) = call(&app, get("/jobs?task=sleep")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(
        calls.load(std::sync::atomic::Ordering::SeqCst) > 0,
        "a valid listing reads the store"
    );
}

#[tokio::test]
async fn cancel_and_rerun_answer_by_state() {
    let (store, app) = app();
    let queued = submit(&app, "sleep").await;
    let (status, _, job) = call(&app, post(&format!("/jobs/{queued}/cancel"), None, Body::empty())).await;
    assert_eq!(
        (status, job["status"].as_str()),
        (StatusCode::OK, Some("CANCELLED")),
        "{job}"
    );
    let (status, _, body) = call(&app, post(&format!("/jobs/{queued}/cancel"), None, Body::empty())).await;
    assert_error(status, &body, StatusCode::CONFLICT, "job_finished");

    let running = submit(&app, "sleep").await;
    start(&store, running).await;
    let (status, _, job) = call(&app, post(&format!("/jobs/{running}/cancel"), None, Body::empty())).await;
    assert_eq!(
        (status, job["status"].as_str()),
        (StatusCode::ACCEPTED, Some("RUNNING")),
        "{job}"
    );
    let (status, _, body) = call(&app, post(&format!("/jobs/{running}/rerun"), None, Body::empty())).await;
    assert_error(status, &body, StatusCode::CONFLICT, "not_rerunnable");

    let (status, headers, first) = call(&app, post(&format!("/jobs/{queued}/rerun"), None, Body::empty())).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{first}");
    assert_eq!(
        headers["location"],
        format!("/jobs/{}", first["jobId"].as_str().unwrap())
    );
    let (_, _, again) = call(&app, post(&format!("/jobs/{queued}/rerun"), None, Body::empty())).await;
    assert_eq!(first["jobId"], again["jobId"]);

    for path in ["cancel", "rerun"] {
        let (status, _, body) = call(&app, post(&format!("/jobs/nope/{path}"), None, Body::empty())).await;
        assert_error(status, &body, StatusCode::NOT_FOUND, "not_found");
    }
    let (_, _, stats) = call(&app, get("/jobs/stats")).await;
    assert_eq!(
        (stats["cancelled"].as_i64(), stats["inFlight"].as_i64()),
        (Some(1), Some(2)),
        "{stats}"
    );
}

#[tokio::test]
async fn a_body_that_is_an_array_is_refused_not_read_as_fields() {
    let (_, app) = app();
    for body in ["[null, null, null]", "[]", "7", "\"sleep\""] {
        let (status, _, reply) = call(&app, post("/jobs", Some("application/json"), body)).await;
        assert_error(status, &reply, StatusCode::BAD_REQUEST, "invalid_request");
    }
}
