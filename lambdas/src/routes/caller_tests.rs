//! HTTP tests of who did what: every mutating route refuses a second caller (403, nothing
//! changed) and lets the owner and an admin; keys and listings are per caller; and every
//! route has its permission in `settings/permissions.json`.

use std::collections::BTreeSet;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use job_core::queue::MemoryQueue;
use job_core::schedules::{MemoryScheduleStore, ScheduleStore};
use job_core::store::MemoryStore;
use serde_json::{Value, json};

use super::tests::{assert_error, call};
use crate::caller::{CallerSettings, DEV_PRINCIPAL_HEADER, LocalCallers, PERMISSIONS};
use crate::state::AppState;

struct Harness {
    store: Arc<MemoryStore>,
    queue: Arc<MemoryQueue>,
    schedules: Arc<MemoryScheduleStore>,
    app: Router,
}

/// The local router as `make run` serves it: callers named by the dev header, `ops` an admin.
fn harness() -> Harness {
    let store = Arc::new(MemoryStore::new());
    let queue = Arc::new(MemoryQueue::new());
    let schedules = Arc::new(MemoryScheduleStore::new());
    let callers = CallerSettings {
        local: Some(LocalCallers {
            principal: "local".into(),
            header: Some(DEV_PRINCIPAL_HEADER.parse().unwrap()),
        }),
        admins: vec!["ops".into()],
        ..CallerSettings::local()
    };
    let state = AppState {
        schedules: Some(schedules.clone() as Arc<dyn ScheduleStore>),
        callers: Arc::new(callers),
        ..AppState::new(store.clone(), queue.clone())
    };
    Harness {
        store,
        queue,
        schedules,
        app: super::all(state),
    }
}

fn request(method: &str, path: &str, by: &str, body: Option<Value>) -> Request<Body> {
    let builder = Request::builder()
        .method(method)
        .uri(path)
        .header(DEV_PRINCIPAL_HEADER, by);
    match body {
        Some(body) => builder
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(body.to_string())),
        None => builder.body(Body::empty()),
    }
    .unwrap()
}

async fn as_caller(h: &Harness, method: &str, path: &str, by: &str, body: Option<Value>) -> (StatusCode, Value) {
    let (status, _, body) = call(&h.app, request(method, path, by, body)).await;
    (status, body)
}

async fn submit(h: &Harness, by: &str, task: &str, key: Option<&str>) -> Value {
    let mut body = json!({"task": task, "input": if task == "sleep" { json!({"ms": 1}) } else { Value::Null }});
    if let Some(key) = key {
        body["idempotencyKey"] = json!(key);
    }
    let (status, reply) = as_caller(h, "POST", "/jobs", by, Some(body)).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{reply}");
    reply
}

/// What a refused change must leave as it was: the job, the counters, the queue.
async fn snapshot(h: &Harness, job: &str) -> (Value, Value, usize) {
    let (_, job) = as_caller(h, "GET", &format!("/jobs/{job}"), "ops", None).await;
    let (_, stats) = as_caller(h, "GET", "/jobs/stats", "ops", None).await;
    let counters = [
        "submitted",
        "succeeded",
        "failed",
        "retries",
        "cancelled",
        "skipped",
        "inFlight",
    ];
    let counters = counters.iter().map(|c| (*c, stats[c].clone())).collect::<Vec<_>>();
    (job, json!(counters), h.queue.bodies().len())
}

#[tokio::test]
async fn cancel_and_rerun_by_another_caller_are_403_and_change_nothing() {
    let h = harness();
    let queued = submit(&h, "alice", "sleep", None).await["jobId"]
        .as_str()
        .unwrap()
        .to_owned();
    let (_, job) = as_caller(&h, "GET", &format!("/jobs/{queued}"), "bob", None).await;
    assert_eq!(job["submittedBy"], "alice", "{job}");

    let before = snapshot(&h, &queued).await;
    let (status, body) = as_caller(&h, "POST", &format!("/jobs/{queued}/cancel"), "bob", None).await;
    assert_error(status, &body, StatusCode::FORBIDDEN, "forbidden");
    assert!(
        !body.to_string().contains("alice"),
        "the refusal names no owner: {body}"
    );
    assert_eq!(snapshot(&h, &queued).await, before);

    // The owner may; the cancel records who asked.
    let (status, job) = as_caller(&h, "POST", &format!("/jobs/{queued}/cancel"), "alice", None).await;
    assert_eq!(
        (status, job["cancelledBy"].as_str()),
        (StatusCode::OK, Some("alice")),
        "{job}"
    );

    let before = snapshot(&h, &queued).await;
    let (status, body) = as_caller(&h, "POST", &format!("/jobs/{queued}/rerun"), "bob", None).await;
    assert_error(status, &body, StatusCode::FORBIDDEN, "forbidden");
    assert_eq!(snapshot(&h, &queued).await, before, "no re-run was made or queued");

    // An admin may act on anyone's job; the re-run is the admin's.
    let (status, rerun) = as_caller(&h, "POST", &format!("/jobs/{queued}/rerun"), "ops", None).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{rerun}");
    let (_, rerun) = as_caller(
        &h,
        "GET",
        &format!("/jobs/{}", rerun["jobId"].as_str().unwrap()),
        "ops",
        None,
    )
    .await;
    assert_eq!(rerun["submittedBy"], "ops", "{rerun}");
    let other = submit(&h, "alice", "sleep", None).await["jobId"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, job) = as_caller(&h, "POST", &format!("/jobs/{other}/cancel"), "ops", None).await;
    assert_eq!(
        (status, job["cancelledBy"].as_str()),
        (StatusCode::OK, Some("ops")),
        "{job}"
    );
    assert_eq!(h.store.jobs().len(), 3);
}

#[tokio::test]
async fn schedule_changes_by_another_caller_are_403_and_change_nothing() {
    let h = harness();
    let create = json!({"name": "nightly", "cron": "0 2 * * *", "task": "sleep", "input": {"ms": 1}});
    let (status, created) = as_caller(&h, "POST", "/jobs/schedule", "alice", Some(create)).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created["createdBy"], "alice");
    let read = || async { as_caller(&h, "GET", "/jobs/schedules/nightly", "bob", None).await.1 };
    let before = read().await;

    let (status, body) = as_caller(
        &h,
        "PATCH",
        "/jobs/schedules/nightly",
        "bob",
        Some(json!({"enabled": false})),
    )
    .await;
    assert_error(status, &body, StatusCode::FORBIDDEN, "forbidden");
    let (status, body) = as_caller(&h, "DELETE", "/jobs/schedules/nightly", "bob", None).await;
    assert_error(status, &body, StatusCode::FORBIDDEN, "forbidden");
    assert_eq!(read().await, before, "neither change happened");
    assert_eq!(h.schedules.list().await.unwrap().len(), 1);

    let (status, body) = as_caller(
        &h,
        "PATCH",
        "/jobs/schedules/nightly",
        "alice",
        Some(json!({"enabled": false})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = as_caller(
        &h,
        "PATCH",
        "/jobs/schedules/nightly",
        "ops",
        Some(json!({"enabled": true})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "an admin may change it: {body}");
    let (_, history) = as_caller(&h, "GET", "/jobs/schedules/nightly", "bob", None).await;
    let by: Vec<&str> = history["changes"]
        .as_array()
        .map(|c| c.iter().filter_map(|c| c["by"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(by.len(), 2, "each change names who made it: {history}");
    assert!(by.contains(&"alice") && by.contains(&"ops"), "{history}");
    let (status, _) = as_caller(&h, "DELETE", "/jobs/schedules/nightly", "ops", None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert!(h.schedules.list().await.unwrap().is_empty());
}

#[tokio::test]
async fn one_key_from_two_callers_makes_two_jobs() {
    let h = harness();
    let alice = submit(&h, "alice", "sleep", Some("order-123")).await;
    let bob = submit(&h, "bob", "sleep", Some("order-123")).await;
    assert_ne!(alice["jobId"], bob["jobId"]);
    assert_eq!(
        submit(&h, "alice", "sleep", Some("order-123")).await["jobId"],
        alice["jobId"]
    );
    // Bob reusing the key for another request hears of his own job only.
    let changed = json!({"task": "sleep", "input": {"ms": 2}, "idempotencyKey": "order-123"});
    let (status, body) = as_caller(&h, "POST", "/jobs", "bob", Some(changed)).await;
    assert_error(status, &body, StatusCode::CONFLICT, "idempotency_key_reused");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.contains(bob["jobId"].as_str().unwrap()), "{message}");
    assert!(!message.contains(alice["jobId"].as_str().unwrap()), "{message}");
    assert_eq!(h.store.jobs().len(), 2);
}

#[tokio::test]
async fn jobs_list_by_submitter_and_me() {
    let h = harness();
    for by in ["alice", "bob", "alice"] {
        submit(&h, by, "sleep", None).await;
    }
    let ids = |page: &Value| -> Vec<String> {
        page["jobs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|j| j["submittedBy"].as_str().unwrap().to_owned())
            .collect()
    };
    let (status, page) = as_caller(&h, "GET", "/jobs?submittedBy=me", "alice", None).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert_eq!(ids(&page), ["alice", "alice"]);
    let (_, page) = as_caller(&h, "GET", "/jobs?submittedBy=bob", "alice", None).await;
    assert_eq!(ids(&page), ["bob"]);
    let (_, page) = as_caller(&h, "GET", "/jobs?submittedBy=me&status=QUEUED", "carol", None).await;
    assert_eq!(ids(&page), Vec::<String>::new());
    let (status, body) = as_caller(&h, "GET", "/jobs?submittedBy=", "alice", None).await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, "invalid_submitter");
}

#[tokio::test]
async fn a_bad_principal_header_is_400_and_without_one_the_caller_is_the_default() {
    let h = harness();
    let (status, body) = as_caller(&h, "POST", "/jobs", "", None).await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, "invalid_principal");
    let (status, _, reply) = call(&h.app, Request::post("/jobs").body(Body::empty()).unwrap()).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{reply}");
    let (_, job) = as_caller(
        &h,
        "GET",
        &format!("/jobs/{}", reply["jobId"].as_str().unwrap()),
        "x",
        None,
    )
    .await;
    assert_eq!(job["submittedBy"], "local");
}

/// Every route the API documents or serves has its permission, and permissions.json
/// names no route that does not exist, so the CDK app's scopes and the app's check
/// cannot miss a route.
#[test]
fn every_route_has_a_permission_and_every_permission_a_route() {
    let doc = serde_json::to_value(<crate::openapi::ApiDoc as utoipa::OpenApi>::openapi()).unwrap();
    let mut routes = BTreeSet::new();
    for (path, operations) in doc["paths"].as_object().unwrap() {
        for method in operations.as_object().unwrap().keys() {
            routes.insert(format!("{} {path}", method.to_uppercase()));
        }
    }
    for page in ["GET /", "GET /console.css", "GET /console.js", "GET /openapi.json"] {
        routes.insert(page.to_owned());
    }
    let named: BTreeSet<String> = PERMISSIONS.routes.keys().cloned().collect();
    assert_eq!(named, routes);
}
