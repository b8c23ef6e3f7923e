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

use crate::caller::{CallerSettings, DEV_PRINCIPAL_HEADER};
use crate::state::AppState;

/// The caller settings of a Lambda with `vars` set (and `AWS_LAMBDA_RUNTIME_API`, as on Lambda).
fn on_lambda(vars: &[(&str, &str)]) -> CallerSettings {
    CallerSettings::from_vars(|name| {
        if name == "AWS_LAMBDA_RUNTIME_API" {
            return Some("127.0.0.1:9001".into());
        }
        vars.iter().find(|(n, _)| *n == name).map(|(_, v)| v.to_string())
    })
    .unwrap()
}

fn state(queue: Arc<MemoryQueue>) -> AppState {
    state_with(queue, Arc::new(MemoryStore::new()), on_lambda(&[]))
}

fn state_with(queue: Arc<MemoryQueue>, store: Arc<MemoryStore>, callers: CallerSettings) -> AppState {
    AppState {
        schedules: Some(Arc::new(MemoryScheduleStore::new())),
        callers: Arc::new(callers),
        ..AppState::new(store, queue)
    }
}

/// `event` (JSON) changed by `edit`.
fn edited(event: &str, edit: impl FnOnce(&mut Value)) -> String {
    let mut event: Value = serde_json::from_str(event).unwrap();
    edit(&mut event);
    event.to_string()
}

const IAM_CALLER: &str = "arn:aws:sts::111122223333:assumed-role/JobSubmitter/alice";
const JWT_SUBJECT: &str = "7d0a1c9e-5b3f-4f7a-9d2e-1a2b3c4d5e6f";

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

#[tokio::test]
async fn the_caller_is_the_iam_signer_or_the_token_subject() {
    let queue = Arc::new(MemoryQueue::new());
    let store = Arc::new(MemoryStore::new());
    let app = super::jobs_api(state_with(queue.clone(), store.clone(), on_lambda(&[])));
    let (status, body) = invoke(app.clone(), include_str!("../../events/post-jobs.json")).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let (status, body) = invoke(app, include_str!("../../events/post-jobs-empty.json")).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let mut by: Vec<String> = store.jobs().into_iter().filter_map(|j| j.submitted_by).collect();
    by.sort();
    assert_eq!(by, [JWT_SUBJECT, IAM_CALLER]);

    // With a tenant claim the principal is `<tenant>/<subject>`; a token without one is 401.
    let tenant = on_lambda(&[("JOBS_AUTH", "jwt"), ("JOBS_TENANT_CLAIM", "custom_tenant")]);
    let app = super::jobs_api(state_with(queue.clone(), store.clone(), tenant));
    let (status, body) = invoke(app.clone(), include_str!("../../events/post-jobs-empty.json")).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("unauthenticated")),
        "{body}"
    );
    let with_tenant = edited(include_str!("../../events/post-jobs-empty.json"), |e| {
        e["requestContext"]["authorizer"]["jwt"]["claims"]["custom_tenant"] = "acme".into();
    });
    let (status, body) = invoke(app, &with_tenant).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let id: uuid::Uuid = body["jobId"].as_str().unwrap().parse().unwrap();
    let job = store.jobs().into_iter().find(|j| j.job_id == id).unwrap();
    assert_eq!(job.submitted_by.unwrap(), format!("acme/{JWT_SUBJECT}"));
}

/// `make run` names callers by a header; on Lambda that header means nothing: the caller
/// is the authorizer's, and without an authorizer there is none (401, nothing queued).
#[tokio::test]
async fn a_principal_header_in_a_lambda_event_is_not_believed() {
    let queue = Arc::new(MemoryQueue::new());
    let store = Arc::new(MemoryStore::new());
    let callers = on_lambda(&[("JOBS_DEV_PRINCIPAL_HEADER", DEV_PRINCIPAL_HEADER)]);
    assert!(callers.local.is_none());
    let app = super::jobs_api(state_with(queue.clone(), store.clone(), callers));
    let forged = edited(include_str!("../../events/post-jobs.json"), |e| {
        e["headers"][DEV_PRINCIPAL_HEADER] = "mallory".into();
    });
    let (status, body) = invoke(app.clone(), &forged).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    assert_eq!(store.jobs()[0].submitted_by.as_deref(), Some(IAM_CALLER));

    let unsigned = edited(&forged, |e| {
        e["requestContext"].as_object_mut().unwrap().remove("authorizer");
    });
    let (status, body) = invoke(app, &unsigned).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("unauthenticated")),
        "{body}"
    );
    // Even a server configured with local callers believes the event's context, not the header.
    let local = super::jobs_api(state_with(queue.clone(), store.clone(), CallerSettings::local()));
    let (status, _) = invoke(local, &unsigned).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!((store.jobs().len(), queue.bodies().len()), (1, 1));
}

/// Under JWT the app checks the route's scope too (API Gateway checks it first): a token
/// without it is 403 and nothing happens; a token of the other authorizer is 401.
#[tokio::test]
async fn under_jwt_a_token_without_the_route_scope_is_403() {
    let queue = Arc::new(MemoryQueue::new());
    let store = Arc::new(MemoryStore::new());
    let jwt = || {
        on_lambda(&[
            ("JOBS_AUTH", "jwt"),
            ("JOBS_JWT_SCOPES", r#"{"jobs:write": "api/submit"}"#),
        ])
    };
    let app = super::jobs_api(state_with(queue.clone(), store.clone(), jwt()));
    let (status, body) = invoke(app.clone(), include_str!("../../events/post-jobs-empty.json")).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("insufficient_scope")),
        "{body}"
    );
    assert!(
        body["error"]["message"].as_str().unwrap().contains("api/submit"),
        "{body}"
    );
    let renamed = edited(include_str!("../../events/post-jobs-empty.json"), |e| {
        e["requestContext"]["authorizer"]["jwt"]["scopes"] = serde_json::json!(["api/submit"]);
    });
    let (status, body) = invoke(app.clone(), &renamed).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let (status, _) = invoke(app, include_str!("../../events/post-jobs.json")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "an IAM context under JOBS_AUTH=jwt");
    assert_eq!((store.jobs().len(), queue.bodies().len()), (1, 1));
}

/// Admins under JWT by group: the token's `cognito:groups` (flattened by API Gateway to
/// `[a b]`) names a group of `JOBS_ADMIN_GROUPS`, and may cancel another's job.
#[tokio::test]
async fn a_token_in_an_admin_group_may_cancel_another_callers_job() {
    use job_core::job::{Job, JobSource};
    use job_core::store::JobStore;
    let store = Arc::new(MemoryStore::new());
    let job = Job::new(
        uuid::Uuid::now_v7(),
        "sleep".to_owned(),
        serde_json::json!({"ms": 1}),
        3,
        JobSource::Api,
        None,
        chrono::Utc::now(),
    )
    .submitted_by("someone-else");
    store.apply(&job.register()).await.unwrap();
    let cancel = |groups: &str| {
        edited(include_str!("../../events/post-jobs-empty.json"), |e| {
            let path = format!("/jobs/{}/cancel", job.job_id);
            e["rawPath"] = path.clone().into();
            e["requestContext"]["http"]["path"] = path.into();
            e["routeKey"] = "POST /jobs/{id}/cancel".into();
            e["requestContext"]["authorizer"]["jwt"]["claims"]["cognito:groups"] = groups.into();
        })
    };
    let settings = || on_lambda(&[("JOBS_AUTH", "jwt"), ("JOBS_ADMIN_GROUPS", "ops")]);
    let app = super::jobs_api(state_with(Arc::new(MemoryQueue::new()), store.clone(), settings()));
    let (status, body) = invoke(app.clone(), &cancel("[analysts]")).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("forbidden")),
        "{body}"
    );
    assert_eq!(
        store.get(job.job_id).await.unwrap().unwrap().status,
        job_core::job::JobStatus::Queued
    );
    let (status, body) = invoke(app, &cancel("[analysts ops]")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["cancelledBy"], JWT_SUBJECT);
}
