//! HTTP tests of every route and error case, over the in-memory adapters.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use http_body_util::BodyExt;
use job_core::queue::{JobQueue, MemoryQueue, QueueError, Received};
use job_core::store::{DynamoDbStore, MemoryStore};
use serde_json::{Value, json};
use tower::ServiceExt;

use crate::state::AppState;

struct Harness {
    store: Arc<MemoryStore>,
    queue: Arc<MemoryQueue>,
    app: Router,
}

fn harness() -> Harness {
    let store = Arc::new(MemoryStore::new());
    let queue = Arc::new(MemoryQueue::new());
    let state = AppState::new(store.clone(), queue.clone());
    Harness {
        store,
        queue,
        app: super::all(state),
    }
}

pub(super) async fn call(app: &Router, request: Request<Body>) -> (StatusCode, axum::http::HeaderMap, Value) {
    let response = app.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    let body = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes).unwrap_or(Value::Null)
    };
    (status, headers, body)
}

pub(super) fn post(path: &str, content_type: Option<&str>, body: impl Into<Body>) -> Request<Body> {
    let mut builder = Request::post(path);
    if let Some(ct) = content_type {
        builder = builder.header(header::CONTENT_TYPE, ct);
    }
    builder.body(body.into()).unwrap()
}

pub(super) fn get(path: &str) -> Request<Body> {
    Request::get(path).body(Body::empty()).unwrap()
}

pub(super) fn assert_error(status: StatusCode, body: &Value, want: StatusCode, code: &str) {
    assert_eq!(status, want, "{body}");
    assert_eq!(body["error"]["code"], code, "{body}");
    assert!(
        body["error"]["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{body}"
    );
}

#[tokio::test]
async fn empty_post_queues_the_default_task() {
    let h = harness();
    let (status, headers, body) = call(&h.app, post("/jobs", None, Body::empty())).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    assert_eq!(body["status"], "QUEUED");
    let id = body["jobId"].as_str().unwrap();
    assert_eq!(headers[header::LOCATION], format!("/jobs/{id}").as_str());
    let sent = h.queue.bodies();
    assert_eq!(sent.len(), 1);
    let message: Value = serde_json::from_str(&sent[0]).unwrap();
    assert_eq!(message["jobId"], id);
    assert_eq!(message["task"], "process-data");

    let (status, _, job) = call(&h.app, get(&format!("/jobs/{id}"))).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(job["status"], "QUEUED");
    assert_eq!(job["attempts"], 0);
    assert_eq!(job["maxAttempts"], 3);

    let (status, _, stats) = call(&h.app, get("/jobs/stats")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(stats["submitted"], 1);
    assert_eq!(stats["inFlight"], 1);
    assert_eq!(stats["daily"].as_array().unwrap().len(), 7);
    let per_day: i64 = stats["daily"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["submitted"].as_i64().unwrap())
        .sum();
    assert_eq!(per_day, 1, "booked on the day it happened, whichever: {stats}");
}

#[tokio::test]
async fn null_body_queues_the_default_task_as_an_empty_one_does() {
    let h = harness();
    let (status, _, body) = call(&h.app, post("/jobs", Some("application/json"), "null")).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let id = body["jobId"].as_str().unwrap();
    let (_, _, job) = call(&h.app, get(&format!("/jobs/{id}"))).await;
    assert_eq!(job["task"], "process-data");
    assert_eq!(job["input"], Value::Null, "shown as null, as the document says");
}

#[tokio::test]
async fn input_that_is_not_an_object_or_null_is_400() {
    let h = harness();
    for input in ["5", "\"x\"", "[1024]", "true"] {
        let body = format!(r#"{{"task":"process-data","input":{input}}}"#);
        let (status, _, body) = call(&h.app, post("/jobs", Some("application/json"), body)).await;
        assert_error(status, &body, StatusCode::BAD_REQUEST, "invalid_request");
    }
    let (status, _, body) = call(&h.app, post("/jobs", Some("application/json"), r#"{"input":null}"#)).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    assert!(h.queue.bodies().len() == 1, "only the null input was queued");
}

#[tokio::test]
async fn json_under_a_form_or_no_content_type_is_415_and_nothing_is_queued() {
    let h = harness();
    let body = r#"{"task":"sleep","input":{"ms":1}}"#;
    // What `curl -d` and a page's `no-cors` fetch send (a form's type, text/plain, or none).
    for content_type in [
        Some("application/x-www-form-urlencoded"),
        Some("text/plain;charset=UTF-8"),
        None,
    ] {
        let (status, _, reply) = call(&h.app, post("/jobs", content_type, body)).await;
        assert_error(
            status,
            &reply,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
        );
        let message = reply["error"]["message"].as_str().unwrap();
        assert!(
            message.contains("curl --json"),
            "the message says how to send JSON: {message}"
        );
    }
    assert!(h.queue.bodies().is_empty() && h.store.jobs().is_empty());
    let (status, _, _) = call(&h.app, post("/jobs", Some("application/json; charset=utf-8"), body)).await;
    assert_eq!(status, StatusCode::ACCEPTED);
}

#[tokio::test]
async fn malformed_json_is_400() {
    let h = harness();
    let (status, _, body) = call(&h.app, post("/jobs", Some("application/json"), "{\"task\":")).await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, "malformed_json");
    assert!(h.queue.bodies().is_empty());
}

#[tokio::test]
async fn unknown_field_is_400_and_named() {
    let h = harness();
    let (status, _, body) = call(&h.app, post("/jobs", Some("application/json"), r#"{"taks":"sleep"}"#)).await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, "invalid_request");
    assert!(body["error"]["message"].as_str().unwrap().contains("taks"));
}

#[tokio::test]
async fn wrong_content_type_is_415() {
    let h = harness();
    let (status, _, body) = call(&h.app, post("/jobs", Some("text/plain"), "{}")).await;
    assert_error(
        status,
        &body,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
    );
}

#[tokio::test]
async fn oversized_body_is_413() {
    let h = harness();
    let big = json!({"task": "sleep", "input": {"ms": 1, "pad": "x".repeat(crate::extract::MAX_BODY_BYTES)}});
    let (status, _, body) = call(&h.app, post("/jobs", Some("application/json"), big.to_string())).await;
    assert_error(status, &body, StatusCode::PAYLOAD_TOO_LARGE, "body_too_large");
    // Without a Content-Length header too (chunked upload).
    let stream = futures::stream::iter(vec![Ok::<_, std::io::Error>(vec![
        b' ';
        crate::extract::MAX_BODY_BYTES + 1
    ])]);
    let request = Request::post("/jobs")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from_stream(stream))
        .unwrap();
    let (status, _, body) = call(&h.app, request).await;
    assert_error(status, &body, StatusCode::PAYLOAD_TOO_LARGE, "body_too_large");
}

#[tokio::test]
async fn unknown_task_is_400_naming_known_tasks() {
    let h = harness();
    let (status, _, body) = call(
        &h.app,
        post("/jobs", Some("application/json"), r#"{"task":"mine-bitcoin"}"#),
    )
    .await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, "unknown_task");
    let message = body["error"]["message"].as_str().unwrap();
    for known in ["process-data", "sleep", "flaky", "fail"] {
        assert!(message.contains(known), "{message}");
    }
}

#[tokio::test]
async fn input_that_does_not_fit_the_task_is_422() {
    let h = harness();
    let (status, _, body) = call(
        &h.app,
        post(
            "/jobs",
            Some("application/json"),
            r#"{"task":"sleep","input":{"ms":"later"}}"#,
        ),
    )
    .await;
    assert_error(status, &body, StatusCode::UNPROCESSABLE_ENTITY, "invalid_input");
}

#[tokio::test]
async fn idempotency_key_returns_the_same_job_and_queues_once() {
    let h = harness();
    let request = r#"{"task":"sleep","input":{"ms":5},"idempotencyKey":"order-42"}"#;
    let (s1, _, first) = call(&h.app, post("/jobs", Some("application/json"), request)).await;
    let (s2, _, second) = call(&h.app, post("/jobs", Some("application/json"), request)).await;
    assert_eq!((s1, s2), (StatusCode::ACCEPTED, StatusCode::ACCEPTED));
    assert_eq!(first["jobId"], second["jobId"]);
    let (_, _, stats) = call(&h.app, get("/jobs/stats")).await;
    assert_eq!(stats["submitted"], 1, "counted once");
    assert_eq!(h.store.jobs().len(), 1);

    let other = r#"{"task":"sleep","input":{"ms":6},"idempotencyKey":"order-42"}"#;
    let (status, _, body) = call(&h.app, post("/jobs", Some("application/json"), other)).await;
    assert_error(status, &body, StatusCode::CONFLICT, "idempotency_key_reused");

    // The limit counts characters, as the document's maxLength does.
    let long =
        json!({ "idempotencyKey": "ü".repeat(job_core::application::jobs::MAX_IDEMPOTENCY_KEY_LEN) }).to_string();
    let (status, _, body) = call(&h.app, post("/jobs", Some("application/json"), long)).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let longer =
        json!({ "idempotencyKey": "ü".repeat(job_core::application::jobs::MAX_IDEMPOTENCY_KEY_LEN + 1) }).to_string();
    let (status, _, body) = call(&h.app, post("/jobs", Some("application/json"), longer)).await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, "invalid_idempotency_key");
    let bad = r#"{"idempotencyKey":""}"#;
    let (status, _, body) = call(&h.app, post("/jobs", Some("application/json"), bad)).await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, "invalid_idempotency_key");
}

#[tokio::test]
async fn idempotent_replay_after_a_taken_job_sends_nothing() {
    let h = harness();
    let request = r#"{"idempotencyKey":"k"}"#;
    call(&h.app, post("/jobs", Some("application/json"), request)).await;
    // Simulate a worker taking the job.
    let job = h.store.jobs().pop().unwrap();
    let job_core::job::Claim::Start(change) = job.claim("w", chrono::Utc::now(), Duration::from_secs(30)) else {
        panic!("claim")
    };
    use job_core::store::JobStore;
    h.store.apply(&change).await.unwrap();
    let (status, _, body) = call(&h.app, post("/jobs", Some("application/json"), request)).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    assert_eq!(body["status"], "RUNNING");
    assert_eq!(h.queue.bodies().len(), 1, "no second message for a job already running");
}

#[tokio::test]
async fn unknown_job_is_404() {
    let h = harness();
    let (status, _, body) = call(&h.app, get(&format!("/jobs/{}", uuid::Uuid::now_v7()))).await;
    assert_error(status, &body, StatusCode::NOT_FOUND, "not_found");
    let (status, _, body) = call(&h.app, get("/jobs/not-a-uuid")).await;
    assert_error(status, &body, StatusCode::NOT_FOUND, "not_found");
}

#[tokio::test]
async fn unknown_route_and_method_are_json_errors() {
    let h = harness();
    let (status, _, body) = call(&h.app, get("/nope")).await;
    assert_error(status, &body, StatusCode::NOT_FOUND, "not_found");
    let request = Request::delete("/jobs").body(Body::empty()).unwrap();
    let (status, _, body) = call(&h.app, request).await;
    assert_error(status, &body, StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed");
}

#[tokio::test]
async fn openapi_document_lists_the_routes() {
    let h = harness();
    let (status, _, doc) = call(&h.app, get("/openapi.json")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    for path in ["/jobs", "/jobs/{id}", "/jobs/stats"] {
        assert!(doc["paths"][path].is_object(), "missing {path}");
    }
    assert!(doc["paths"]["/jobs"]["post"]["responses"]["202"].is_object());
}

/// A queue that is down: it refuses connections, so nothing is ever sent.
struct DownQueue;

#[async_trait]
impl JobQueue for DownQueue {
    async fn send(&self, _: &str) -> Result<(), QueueError> {
        Err(QueueError::NotSent("connection refused".into()))
    }
    async fn receive(&self, _: u32, _: Duration, _: Duration) -> Result<Vec<Received>, QueueError> {
        Err(QueueError::Unavailable("connection refused".into()))
    }
    async fn set_visibility(&self, _: &str, _: Duration) -> Result<(), QueueError> {
        Err(QueueError::Unavailable("connection refused".into()))
    }
    async fn delete(&self, _: &str) -> Result<(), QueueError> {
        Err(QueueError::Unavailable("connection refused".into()))
    }
}

#[tokio::test]
async fn queue_down_is_503_and_the_job_is_withdrawn() {
    let store = Arc::new(MemoryStore::new());
    let state = AppState::new(store.clone(), Arc::new(DownQueue));
    let app = super::all(state);
    let (status, headers, body) = call(&app, post("/jobs", None, Body::empty())).await;
    assert_error(status, &body, StatusCode::SERVICE_UNAVAILABLE, "backend_unavailable");
    assert_eq!(headers[header::RETRY_AFTER], "1");
    assert!(store.jobs().is_empty(), "no orphan job record");
    let (_, _, stats) = call(&app, get("/jobs/stats")).await;
    assert_eq!(stats["submitted"], 0, "withdrawn job is not counted");
}

#[tokio::test]
async fn unreachable_dynamodb_is_503() {
    // A real DynamoDB client pointed at a closed local port.
    let config = aws_sdk_dynamodb::Config::builder()
        .behavior_version(aws_sdk_dynamodb::config::BehaviorVersion::latest())
        .region(aws_sdk_dynamodb::config::Region::new("us-east-1"))
        .endpoint_url("http://127.0.0.1:9")
        .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
            "test", "test", None, None, "test",
        ))
        .build();
    let store = Arc::new(DynamoDbStore::new(
        aws_sdk_dynamodb::Client::from_conf(config),
        "jobs",
        1,
    ));
    let state = AppState::new(store, Arc::new(MemoryQueue::new()));
    let app = super::all(state);
    for request in [
        get("/jobs/stats"),
        post("/jobs", None, Body::empty()),
        get(&format!("/jobs/{}", uuid::Uuid::now_v7())),
    ] {
        let (status, _, body) = call(&app, request).await;
        assert_error(status, &body, StatusCode::SERVICE_UNAVAILABLE, "backend_unavailable");
    }
}

#[tokio::test]
async fn transaction_conflicts_past_the_retries_are_503_not_500() {
    // DynamoDB's own answer to a transaction that meets another one on a counter item.
    const CANCELLED: &str = r#"{"__type":"com.amazonaws.dynamodb.v20120810#TransactionCanceledException","CancellationReasons":[{"Code":"None"},{"Code":"TransactionConflict","Message":"Transaction is ongoing for the item"},{"Code":"None"}],"Message":"Transaction cancelled, please refer cancellation reasons for specific reasons [None, TransactionConflict, None]"}"#;
    let calls = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counted = calls.clone();
    // Only the registration's transactions are counted: after the last refusal the API
    // reads the job back (it may have been written), and that read fails here too.
    let http = aws_smithy_http_client::test_util::infallible_client_fn(move |request| {
        let target = request
            .headers()
            .get("x-amz-target")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        if target.ends_with("TransactWriteItems") {
            counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
        http::Response::builder()
            .status(400)
            .header("content-type", "application/x-amz-json-1.0")
            .body(CANCELLED)
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
    let retry = job_core::store::WriteRetry {
        retries: 3,
        min_delay: Duration::from_millis(1),
        max_delay: Duration::from_millis(2),
    };
    let store = DynamoDbStore::new(aws_sdk_dynamodb::Client::from_conf(config), "jobs", 1).with_write_retry(retry);
    let queue = Arc::new(MemoryQueue::new());
    let app = super::all(AppState::new(Arc::new(store), queue.clone()));
    let (status, headers, body) = call(&app, post("/jobs", None, Body::empty())).await;
    assert_error(status, &body, StatusCode::SERVICE_UNAVAILABLE, "backend_unavailable");
    assert_eq!(headers[header::RETRY_AFTER], "1");
    assert_eq!(
        calls.load(std::sync::atomic::Ordering::SeqCst),
        4,
        "the registration tried once and retried 3 times"
    );
    assert!(
        queue.bodies().is_empty(),
        "nothing queued for a job that was not registered"
    );
}

#[tokio::test]
async fn input_the_worker_would_refuse_is_refused_by_the_api_alike() {
    let h = harness();
    let request = post(
        "/jobs",
        Some("application/json"),
        r#"{"task":"process-data","input":{"kib":1048577}}"#,
    );
    let (status, _, body) = call(&h.app, request).await;
    assert_error(status, &body, StatusCode::UNPROCESSABLE_ENTITY, "invalid_input");
    assert!(body["error"]["message"].as_str().unwrap().contains("kib"), "{body}");
    assert!(h.queue.bodies().is_empty(), "nothing queued");
}

#[tokio::test(start_paused = true)]
async fn a_body_that_never_ends_is_408_after_the_read_timeout() {
    let h = harness();
    let endless = futures::stream::pending::<Result<axum::body::Bytes, std::io::Error>>();
    let request = Request::post("/jobs")
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::TRANSFER_ENCODING, "chunked")
        .body(Body::from_stream(endless))
        .unwrap();
    let started = tokio::time::Instant::now();
    let (status, _, body) = call(&h.app, request).await;
    assert_error(status, &body, StatusCode::REQUEST_TIMEOUT, "body_timeout");
    assert_eq!(started.elapsed(), crate::extract::BODY_READ_TIMEOUT);
    assert!(h.queue.bodies().is_empty());
}
