//! The route groups behind API Gateway: HTTP API events (payload 2.0, from
//! `lambdas/events/`) turned into requests by `lambda_http`, as on Lambda, and served by
//! the same routers the Lambda binaries run.

use std::sync::Arc;

use axum::Router;
use axum::http::StatusCode;
use http_body_util::BodyExt;
use job_core::queue::MemoryQueue;
use job_core::schedules::MemoryScheduleStore;
use job_core::store::MemoryStore;
use serde_json::Value;
use tower::ServiceExt;

use crate::state::AppState;

fn state(queue: Arc<MemoryQueue>) -> AppState {
    AppState {
        schedules: Some(Arc::new(MemoryScheduleStore::new())),
        ..AppState::new(Arc::new(MemoryStore::new()), queue)
    }
}

/// Feeds an API Gateway event through `app` the way `lambda_http::run` does.
async fn invoke(app: Router, event: &str) -> (StatusCode, Value) {
    let request = lambda_http::request::from_str(event).expect("a valid API Gateway event");
    let response = app.oneshot(request).await.unwrap();
    let status = response.status();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
}

#[tokio::test]
async fn jobs_function_queues_from_plain_base64_and_empty_bodies() {
    let queue = Arc::new(MemoryQueue::new());
    let app = super::jobs_api(state(queue.clone()));
    for (event, task) in [
        (include_str!("../../events/post-jobs.json"), "sleep"),
        (include_str!("../../events/post-jobs-base64.json"), "flaky"),
        (include_str!("../../events/post-jobs-empty.json"), "process-data"),
    ] {
        let (status, body) = invoke(app.clone(), event).await;
        assert_eq!(status, StatusCode::ACCEPTED, "{body}");
        let sent: Value = serde_json::from_str(queue.bodies().last().unwrap()).unwrap();
        assert_eq!((sent["task"].as_str(), &sent["jobId"]), (Some(task), &body["jobId"]));
    }
    assert_eq!(queue.bodies().len(), 3);
}

#[tokio::test]
async fn stats_function_answers_its_route_only() {
    let app = super::stats_api(state(Arc::new(MemoryQueue::new())));
    let (status, body) = invoke(app.clone(), include_str!("../../events/get-stats.json")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["submitted"], 0);
    let (status, body) = invoke(app, include_str!("../../events/post-jobs.json")).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "not this function's route: {body}");
}

#[tokio::test]
async fn schedules_function_creates_a_schedule() {
    let app = super::schedules_api(state(Arc::new(MemoryQueue::new())));
    let (status, body) = invoke(app, include_str!("../../events/post-schedule.json")).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["expression"], "cron(0 7 ? * MON *)");
    assert_eq!(body["timezone"], "Europe/Berlin");
}
