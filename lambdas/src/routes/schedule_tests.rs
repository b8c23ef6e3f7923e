//! HTTP tests of the schedule routes and every error case, over the in-memory adapters.
//! (A schedule firing through the local runner into a job is a system test, in `local-dev`.)

use std::sync::Arc;

use async_trait::async_trait;
use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use chrono::{DateTime, Datelike, Timelike, Utc, Weekday};
use job_core::queue::MemoryQueue;
use job_core::schedules::{ChangeLease, MemoryScheduleStore, Schedule, ScheduleError, ScheduleStore};
use job_core::store::{JobStore, MemoryStore};
use serde_json::{Value, json};

use super::tests::{assert_error, call, get, post};
use crate::state::AppState;

struct Harness {
    store: Arc<MemoryStore>,
    queue: Arc<MemoryQueue>,
    schedules: Arc<MemoryScheduleStore>,
    app: Router,
}

fn harness() -> Harness {
    let store = Arc::new(MemoryStore::new());
    let queue = Arc::new(MemoryQueue::new());
    let schedules = Arc::new(MemoryScheduleStore::new());
    let app = super::all(state(store.clone(), queue.clone(), Some(schedules.clone())));
    Harness {
        store,
        queue,
        schedules,
        app,
    }
}

fn state(store: Arc<MemoryStore>, queue: Arc<MemoryQueue>, schedules: Option<Arc<dyn ScheduleStore>>) -> AppState {
    AppState {
        schedules,
        ..AppState::new(store, queue)
    }
}

async fn create(app: &Router, body: Value) -> (StatusCode, axum::http::HeaderMap, Value) {
    call(app, post("/jobs/schedule", Some("application/json"), body.to_string())).await
}

fn delete(path: &str) -> Request<Body> {
    Request::delete(path).body(Body::empty()).unwrap()
}

fn time(value: &Value) -> DateTime<chrono::FixedOffset> {
    DateTime::parse_from_rfc3339(value.as_str().unwrap_or_else(|| panic!("not a time: {value}"))).unwrap()
}

#[tokio::test]
async fn weekly_cron_in_a_time_zone_is_converted_and_previewed() {
    let h = harness();
    let (status, headers, body) = create(&h.app, json!({"cron": "0 7 * * MON", "timezone": "Europe/Berlin"})).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let name = body["name"].as_str().unwrap();
    assert!(
        name.starts_with("job-") && job_core::schedules::is_valid_name(name),
        "{name}"
    );
    assert_eq!(headers[header::LOCATION], format!("/jobs/schedules/{name}").as_str());
    assert_eq!(body["cron"], "0 7 * * MON");
    assert_eq!(body["expression"], "cron(0 7 ? * MON *)");
    assert_eq!(body["timezone"], "Europe/Berlin");
    assert_eq!(body["task"], "process-data");
    assert_eq!(body["enabled"], true);
    let runs = body["nextRuns"].as_array().unwrap();
    assert_eq!(runs.len(), 5);
    let mut previous = Utc::now();
    for run in runs {
        let (local, utc) = (time(&run["local"]), time(&run["utc"]));
        assert_eq!(local, utc, "the same instant");
        assert!(run["utc"].as_str().unwrap().ends_with('Z'), "{run}");
        let offset = local.offset().local_minus_utc();
        assert!(offset == 3600 || offset == 7200, "CET or CEST: {run}");
        assert_eq!(
            (local.weekday(), local.hour(), local.minute()),
            (Weekday::Mon, 7, 0),
            "{run}"
        );
        assert!(utc.to_utc() > previous, "increasing and in the future");
        previous = utc.to_utc();
    }
    let stored = h.schedules.get(name).await.unwrap().unwrap();
    assert_eq!(
        (stored.expression.as_str(), stored.timezone.as_str()),
        ("cron(0 7 ? * MON *)", "Europe/Berlin")
    );
    assert!(h.queue.bodies().is_empty(), "creating a schedule queues nothing");
}

#[tokio::test]
async fn every_minute_with_a_name_task_and_input() {
    let h = harness();
    let request = json!({"cron": "* * * * *", "name": "every-minute", "task": "sleep", "input": {"ms": 5}});
    let (status, _, body) = create(&h.app, request).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["name"], "every-minute");
    assert_eq!(body["expression"], "cron(* * * * ? *)");
    assert_eq!(body["timezone"], "UTC");
    assert_eq!((&body["task"], &body["input"]), (&json!("sleep"), &json!({"ms": 5})));
    let runs: Vec<_> = body["nextRuns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| time(&r["utc"]))
        .collect();
    for pair in runs.windows(2) {
        assert_eq!((pair[1] - pair[0]).num_seconds(), 60);
    }
    assert_eq!(runs[0].second(), 0);
}

#[tokio::test]
async fn invalid_requests_are_400_and_create_nothing() {
    let h = harness();
    let cases = [
        (json!({"cron": "61 * * * *"}), "invalid_cron", "minute"),
        (json!({"cron": "0 0 1 * 1"}), "invalid_cron", "restrict only one"),
        (json!({"cron": "cron(0 7 * * MON *)"}), "invalid_cron", "`?`"),
        (json!({"cron": "rate(1 minutes)"}), "invalid_cron", "rate(1 minute)"),
        (json!({"cron": ""}), "invalid_cron", "empty"),
        (json!({"cron": "* ".repeat(200)}), "invalid_cron", "at most 256"),
        (
            json!({"cron": "* * * * *", "timezone": "Mars/Base"}),
            "invalid_timezone",
            "Mars/Base",
        ),
        (
            json!({"cron": "* * * * *", "name": "no spaces"}),
            "invalid_name",
            "1 to 64",
        ),
        (
            json!({"cron": "* * * * *", "name": "x".repeat(65)}),
            "invalid_name",
            "1 to 64",
        ),
        (json!({"cron": "* * * * *", "name": ""}), "invalid_name", "1 to 64"),
        (
            json!({"cron": "* * * * *", "task": "mine-bitcoin"}),
            "unknown_task",
            "process-data",
        ),
        (json!({"cron": "cron(0 0 1 1 ? 2020)"}), "no_future_runs", "never fire"),
        (json!({"cron": "cron(0 0 30 2 ? *)"}), "no_future_runs", "never fire"),
        (json!({}), "invalid_request", "cron"),
        (json!({"cron": "* * * * *", "tz": "UTC"}), "invalid_request", "tz"),
        (json!({"cron": 5}), "invalid_request", "string"),
        (json!({"cron": "* * * * *", "input": [1]}), "invalid_request", "map"),
    ];
    for (request, code, needle) in cases {
        let (status, _, body) = create(&h.app, request.clone()).await;
        assert_error(status, &body, StatusCode::BAD_REQUEST, code);
        let message = body["error"]["message"].as_str().unwrap();
        assert!(message.contains(needle), "{request}: {message:?} lacks {needle:?}");
    }
    let (status, _, body) = call(&h.app, post("/jobs/schedule", None, Body::empty())).await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, "invalid_request");
    let (status, _, body) = call(&h.app, post("/jobs/schedule", Some("application/json"), "{\"cron\":")).await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, "malformed_json");
    let (status, _, body) = call(&h.app, post("/jobs/schedule", Some("text/plain"), "{}")).await;
    assert_error(
        status,
        &body,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
    );
    let (status, _, body) = create(
        &h.app,
        json!({"cron": "* * * * *", "task": "sleep", "input": {"ms": "soon"}}),
    )
    .await;
    assert_error(status, &body, StatusCode::UNPROCESSABLE_ENTITY, "invalid_input");
    assert!(h.schedules.list().await.unwrap().is_empty());
}

#[tokio::test]
async fn overlap_defaults_to_allow_is_kept_and_an_unknown_one_is_422_naming_the_field() {
    let h = harness();
    let (status, _, body) = create(&h.app, json!({"cron": "* * * * *", "name": "plain"})).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["overlap"], "allow");
    for policy in ["forbid", "replace"] {
        let (status, _, body) = create(&h.app, json!({"cron": "* * * * *", "name": policy, "overlap": policy})).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        assert_eq!(body["overlap"], policy);
        let held = h.schedules.get(policy).await.unwrap().unwrap();
        assert_eq!(held.overlap.as_str(), policy);
        // The worker learns the policy from the message each run sends.
        let input: Value = serde_json::from_str(&held.target_input()).unwrap();
        assert_eq!(input["schedule"]["overlap"], policy, "{input}");
        let (_, _, read) = call(&h.app, get(&format!("/jobs/schedules/{policy}"))).await;
        assert_eq!(read["overlap"], policy);
    }
    for bad in [json!("never"), json!("Forbid"), json!("")] {
        let (status, _, body) = create(&h.app, json!({"cron": "* * * * *", "name": "bad", "overlap": bad})).await;
        assert_error(status, &body, StatusCode::UNPROCESSABLE_ENTITY, "invalid_overlap");
        let message = body["error"]["message"].as_str().unwrap();
        assert!(message.contains("overlap") && message.contains("forbid"), "{message}");
    }
    assert!(h.schedules.get("bad").await.unwrap().is_none());
}

#[tokio::test]
async fn both_day_fields_message_says_how_to_rewrite_it() {
    let h = harness();
    let (status, _, body) = create(&h.app, json!({"cron": "0 9 1 * MON"})).await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, "invalid_cron");
    let message = body["error"]["message"].as_str().unwrap();
    for needle in [
        "day-of-month (`1`)",
        "day-of-week (`MON`)",
        "set the other to `*`",
        "two schedules",
    ] {
        assert!(message.contains(needle), "{message:?} lacks {needle:?}");
    }
}

#[tokio::test]
async fn eventbridge_forms_are_accepted_as_given() {
    let h = harness();
    for (cron, expression) in [
        ("cron(0/15 9-17 ? * MON-FRI *)", "cron(0/15 9-17 ? * MON-FRI *)"),
        ("rate(5 minutes)", "rate(5 minutes)"),
        ("*/15 9-17 * * 1-5", "cron(0/15 9-17 ? * 2-6 *)"),
    ] {
        let (status, _, body) = create(&h.app, json!({"cron": cron})).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        assert_eq!((&body["cron"], &body["expression"]), (&json!(cron), &json!(expression)));
    }
}

#[tokio::test]
async fn a_taken_name_is_409() {
    let h = harness();
    let request = json!({"cron": "0 7 * * *", "name": "daily"});
    let (status, _, _) = create(&h.app, request.clone()).await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, _, body) = create(&h.app, json!({"cron": "0 8 * * *", "name": "daily"})).await;
    assert_error(status, &body, StatusCode::CONFLICT, "schedule_exists");
    assert!(body["error"]["message"].as_str().unwrap().contains("daily"));
    let kept = h.schedules.get("daily").await.unwrap().unwrap();
    assert_eq!(kept.cron, "0 7 * * *", "the first one is kept");
}

#[tokio::test]
async fn list_get_and_delete() {
    let h = harness();
    let (status, _, body) = call(&h.app, get("/jobs/schedules")).await;
    assert_eq!(
        (status, body),
        (StatusCode::OK, json!({"schedules": [], "nextCursor": null}))
    );
    create(
        &h.app,
        json!({"cron": "30 6 * * *", "name": "b-morning", "timezone": "America/New_York"}),
    )
    .await;
    create(
        &h.app,
        json!({"cron": "rate(1 hour)", "name": "a-hourly", "task": "sleep", "input": {"ms": 1}}),
    )
    .await;

    let (status, _, body) = call(&h.app, get("/jobs/schedules")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let listed = body["schedules"].as_array().unwrap();
    let names: Vec<&str> = listed.iter().map(|s| s["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["a-hourly", "b-morning"]);
    let morning = &listed[1];
    assert_eq!(morning["cron"], "30 6 * * *");
    assert_eq!(morning["expression"], "cron(30 6 * * ? *)");
    assert_eq!(morning["timezone"], "America/New_York");
    assert_eq!(morning["task"], "process-data");
    let next = time(&morning["nextRun"]["local"]);
    assert_eq!((next.hour(), next.minute()), (6, 30));
    assert_eq!(time(&morning["nextRun"]["utc"]), next);
    assert_eq!(listed[0]["task"], "sleep");
    assert!(time(&listed[0]["nextRun"]["utc"]).to_utc() > Utc::now());

    let (status, _, body) = call(&h.app, get("/jobs/schedules/b-morning")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["nextRuns"].as_array().unwrap().len(), 5);
    assert_eq!(body["expression"], "cron(30 6 * * ? *)");

    let (status, _, body) = call(&h.app, delete("/jobs/schedules/b-morning")).await;
    assert_eq!((status, body), (StatusCode::NO_CONTENT, Value::Null));
    let (status, _, body) = call(&h.app, get("/jobs/schedules/b-morning")).await;
    assert_error(status, &body, StatusCode::NOT_FOUND, "not_found");
    let (status, _, body) = call(&h.app, delete("/jobs/schedules/b-morning")).await;
    assert_error(status, &body, StatusCode::NOT_FOUND, "not_found");
    let (status, _, body) = call(&h.app, delete("/jobs/schedules/not%20valid")).await;
    assert_error(status, &body, StatusCode::NOT_FOUND, "not_found");
    let (_, _, body) = call(&h.app, get("/jobs/schedules")).await;
    assert_eq!(body["schedules"].as_array().unwrap().len(), 1);
    let (status, _, body) = call(&h.app, post("/jobs/schedules", None, Body::empty())).await;
    assert_error(status, &body, StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed");
}

#[tokio::test]
async fn without_scheduler_settings_the_routes_are_503_naming_the_variable() {
    let app = super::all(state(Arc::new(MemoryStore::new()), Arc::new(MemoryQueue::new()), None));
    for request in [
        post("/jobs/schedule", Some("application/json"), r#"{"cron":"* * * * *"}"#),
        get("/jobs/schedules"),
        get("/jobs/schedules/x"),
        delete("/jobs/schedules/x"),
    ] {
        let (status, _, body) = call(&app, request).await;
        assert_error(
            status,
            &body,
            StatusCode::SERVICE_UNAVAILABLE,
            "schedules_not_configured",
        );
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("JOBS_SCHEDULER_ROLE_ARN")
        );
    }
    // The job routes do not need them.
    let (status, _, _) = call(&app, post("/jobs", None, Body::empty())).await;
    assert_eq!(status, StatusCode::ACCEPTED);
}

/// A schedule store that fails every call with one error.
struct Failing(fn() -> ScheduleError);

#[async_trait]
impl ScheduleStore for Failing {
    async fn create(&self, _: &Schedule) -> Result<(), ScheduleError> {
        Err((self.0)())
    }
    async fn get(&self, _: &str) -> Result<Option<Schedule>, ScheduleError> {
        Err((self.0)())
    }
    async fn list(&self) -> Result<Vec<Schedule>, ScheduleError> {
        Err((self.0)())
    }
    async fn page(&self, _: u32, _: Option<&str>) -> Result<job_core::schedules::EntryPage, ScheduleError> {
        Err((self.0)())
    }
    async fn update(&self, _: &Schedule) -> Result<(), ScheduleError> {
        Err((self.0)())
    }
    async fn delete(&self, _: &str) -> Result<(), ScheduleError> {
        Err((self.0)())
    }
}

#[tokio::test]
async fn scheduler_errors_map_to_503_and_400() {
    let down = || ScheduleError::Unavailable("connection refused".into());
    let app = super::all(state(
        Arc::new(MemoryStore::new()),
        Arc::new(MemoryQueue::new()),
        Some(Arc::new(Failing(down))),
    ));
    for request in [
        post("/jobs/schedule", Some("application/json"), r#"{"cron":"* * * * *"}"#),
        get("/jobs/schedules"),
        get("/jobs/schedules/x"),
        delete("/jobs/schedules/x"),
    ] {
        let (status, headers, body) = call(&app, request).await;
        assert_error(status, &body, StatusCode::SERVICE_UNAVAILABLE, "backend_unavailable");
        assert_eq!(headers[header::RETRY_AFTER], "1");
    }
    let rejected = || ScheduleError::Rejected("Invalid Schedule Expression".into());
    let app = super::schedules_api(state(
        Arc::new(MemoryStore::new()),
        Arc::new(MemoryQueue::new()),
        Some(Arc::new(Failing(rejected))),
    ));
    let (status, _, body) = create(&app, json!({"cron": "* * * * *"})).await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, "schedule_rejected");
}

#[tokio::test]
async fn the_schedules_group_serves_only_schedule_routes() {
    let h = harness();
    let app = super::schedules_api(state(h.store.clone(), h.queue.clone(), Some(h.schedules.clone())));
    let (status, _, _) = create(&app, json!({"cron": "* * * * *"})).await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, _, body) = call(&app, post("/jobs", None, Body::empty())).await;
    assert_error(status, &body, StatusCode::NOT_FOUND, "not_found");
}

#[tokio::test]
async fn openapi_document_lists_the_schedule_routes() {
    let h = harness();
    let (_, _, doc) = call(&h.app, get("/openapi.json")).await;
    assert!(doc["paths"]["/jobs/schedule"]["post"]["responses"]["201"].is_object());
    assert!(doc["paths"]["/jobs/schedules"]["get"].is_object());
    assert!(doc["paths"]["/jobs/schedules/{name}"]["delete"]["responses"]["204"].is_object());
}

async fn patch(app: &Router, name: &str, body: Value) -> (StatusCode, Value) {
    let request = Request::patch(format!("/jobs/schedules/{name}"))
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body.to_string()))
        .unwrap();
    let (status, _, body) = call(app, request).await;
    (status, body)
}

#[tokio::test]
async fn patch_changes_only_the_fields_given_and_logs_each_change_with_its_time() {
    let h = harness();
    let request = json!({"cron": "0 7 * * MON", "name": "weekly", "task": "sleep", "input": {"ms": 5}});
    let (status, _, _) = create(&h.app, request).await;
    assert_eq!(status, StatusCode::CREATED);
    let before = h.schedules.get("weekly").await.unwrap().unwrap();

    let (status, body) = patch(
        &h.app,
        "weekly",
        json!({"cron": "30 6 * * *", "timezone": "America/New_York"}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        (&body["cron"], &body["expression"], &body["timezone"]),
        (
            &json!("30 6 * * *"),
            &json!("cron(30 6 * * ? *)"),
            &json!("America/New_York")
        )
    );
    assert_eq!(
        (&body["task"], &body["input"]),
        (&json!("sleep"), &json!({"ms": 5})),
        "kept"
    );
    let held = h.schedules.get("weekly").await.unwrap().unwrap();
    assert_eq!((held.created, &held.generation), (before.created, &before.generation));

    let (status, body) = patch(&h.app, "weekly", json!({"enabled": false})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["enabled"], false);
    assert_eq!(body["nextRuns"], json!([]), "a paused schedule has no next runs");
    let (status, body) = patch(&h.app, "weekly", json!({"enabled": true, "overlap": "forbid"})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!((&body["enabled"], &body["overlap"]), (&json!(true), &json!("forbid")));
    assert_eq!(body["nextRuns"].as_array().unwrap().len(), 5);
    // Nothing to change: nothing logged.
    let (status, _) = patch(&h.app, "weekly", json!({"enabled": true})).await;
    assert_eq!(status, StatusCode::OK);

    let changes = h.store.schedule_changes("weekly", &before.generation).await.unwrap();
    let fields: Vec<Vec<String>> = changes.iter().map(|c| c.fields.clone()).collect();
    assert_eq!(
        fields,
        [vec!["cron", "timezone"], vec!["enabled"], vec!["overlap", "enabled"]]
    );
    assert!(changes[1].paused() && changes[2].resumed());
    assert_eq!(changes[0].before.expression, "cron(0 7 ? * MON *)");
    assert_eq!(changes[0].after.timezone, "America/New_York");
    assert!(changes.windows(2).all(|w| w[0].at <= w[1].at));
}

#[tokio::test]
async fn patch_validates_as_create_does_and_404s_an_unknown_schedule() {
    let h = harness();
    let (status, _, _) = create(
        &h.app,
        json!({"cron": "* * * * *", "name": "m", "task": "sleep", "input": {"ms": 1}}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    let cases = [
        (json!({"cron": "61 * * * *"}), StatusCode::BAD_REQUEST, "invalid_cron"),
        (
            json!({"cron": "* ".repeat(200)}),
            StatusCode::BAD_REQUEST,
            "invalid_cron",
        ),
        (
            json!({"timezone": "Mars/Base"}),
            StatusCode::BAD_REQUEST,
            "invalid_timezone",
        ),
        (
            json!({"task": "mine-bitcoin", "input": null}),
            StatusCode::BAD_REQUEST,
            "unknown_task",
        ),
        // An input is the input of a task: both change together.
        (json!({"task": "sleep"}), StatusCode::BAD_REQUEST, "invalid_request"),
        (json!({"input": {"ms": 2}}), StatusCode::BAD_REQUEST, "invalid_request"),
        (
            json!({"cron": "cron(0 0 1 1 ? 2020)"}),
            StatusCode::BAD_REQUEST,
            "no_future_runs",
        ),
        (json!({"name": "other"}), StatusCode::BAD_REQUEST, "invalid_request"),
        (json!({"enabled": "no"}), StatusCode::BAD_REQUEST, "invalid_request"),
        (
            json!({"task": "sleep", "input": [1]}),
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        (
            json!({"overlap": "sometimes"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_overlap",
        ),
        (
            json!({"task": "sleep", "input": {"ms": "soon"}}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_input",
        ),
    ];
    for (request, want, code) in cases {
        let (status, body) = patch(&h.app, "m", request.clone()).await;
        assert_error(status, &body, want, code);
    }
    let held = h.schedules.get("m").await.unwrap().unwrap();
    assert_eq!(
        (held.cron.as_str(), held.enabled),
        ("* * * * *", true),
        "nothing changed"
    );
    assert!(
        h.store
            .schedule_changes("m", &held.generation)
            .await
            .unwrap()
            .is_empty()
    );

    let (status, body) = patch(&h.app, "absent", json!({"enabled": false})).await;
    assert_error(status, &body, StatusCode::NOT_FOUND, "not_found");
    let (status, body) = patch(&h.app, "bad%20name", json!({"enabled": false})).await;
    assert_error(status, &body, StatusCode::NOT_FOUND, "not_found");
    let request = Request::patch("/jobs/schedules/m").body(Body::empty()).unwrap();
    let (status, _, body) = call(&h.app, request).await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, "invalid_request");

    // While another change holds the schedule's lease: 409, nothing changed.
    let other = ChangeLease::new("m", Utc::now());
    h.store.take_change_lease(&other, Utc::now()).await.unwrap();
    let (status, body) = patch(&h.app, "m", json!({"enabled": false})).await;
    assert_error(status, &body, StatusCode::CONFLICT, "schedule_busy");
    assert!(
        body["error"]["message"].as_str().unwrap().contains("being changed"),
        "{body}"
    );
    assert!(h.schedules.get("m").await.unwrap().unwrap().enabled, "nothing changed");
    h.store.give_back_change_lease(&other).await.unwrap();
    let (status, body) = patch(&h.app, "m", json!({"enabled": false})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

#[tokio::test]
async fn every_schema_the_document_refers_to_is_defined() {
    let h = harness();
    let (_, _, doc) = call(&h.app, get("/openapi.json")).await;
    let text = doc.to_string();
    let defined = doc["components"]["schemas"].as_object().unwrap();
    for part in text.split("\"#/components/schemas/").skip(1) {
        let name = &part[..part.find('"').unwrap()];
        assert!(defined.contains_key(name), "{name} is referred to but not defined");
    }
    for name in [
        "Overlap",
        "RunState",
        "ScheduleChange",
        "Timing",
        "ScheduleWithHistory",
        "UpdateSchedule",
    ] {
        assert!(defined.contains_key(name), "{name}");
    }
    assert!(doc["paths"]["/jobs/schedules/{name}"]["patch"]["responses"]["200"].is_object());
}

#[tokio::test]
async fn get_shows_the_runs_next_to_their_jobs_with_delays_and_missed_runs() {
    use chrono::{DurationRound, TimeDelta};
    use job_core::job::{Job, JobSource};
    use job_core::schedules::run_job_id;

    let h = harness();
    let now = Utc::now();
    let hour = now.duration_trunc(TimeDelta::hours(1)).unwrap();
    let schedule = Schedule {
        created_by: None,
        name: "hourly".into(),
        cron: "0 * * * *".into(),
        expression: "cron(0 * * * ? *)".into(),
        timezone: "Europe/Berlin".into(),
        task: "sleep".into(),
        input: json!({"ms": 1}),
        created: hour - TimeDelta::hours(4) - TimeDelta::minutes(30),
        generation: "g-1".into(),
        enabled: true,
        overlap: Default::default(),
    };
    h.schedules.create(&schedule).await.unwrap();
    // Jobs for the runs one, two and four hours back; the one three hours back is missing.
    for (back, late) in [(1, 3), (2, 1), (4, 7)] {
        let time = hour - TimeDelta::hours(back);
        let job = Job::new(
            run_job_id(&schedule, time),
            "sleep",
            json!({"ms": 1}),
            3,
            JobSource::Api,
            None,
            time + TimeDelta::seconds(late),
        );
        h.store.apply(&job.register()).await.unwrap();
    }
    let (status, _, body) = call(&h.app, get("/jobs/schedules/hourly?runs=5")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let runs = body["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 5, "{body}");
    let at = |i: usize| time(&runs[i]["scheduledFor"]["utc"]).to_utc();
    for (i, run) in runs.iter().enumerate() {
        assert_eq!(at(i), hour - TimeDelta::hours(i as i64), "newest first: {run}");
        assert_eq!(run["jobId"], run_job_id(&schedule, at(i)).to_string());
    }
    assert!(
        runs[0]["scheduledFor"]["local"].as_str().unwrap().ends_with("+01:00")
            || runs[0]["scheduledFor"]["local"].as_str().unwrap().ends_with("+02:00")
    );
    let states: Vec<&str> = runs.iter().map(|r| r["state"].as_str().unwrap()).collect();
    // The current hour's run is within the grace period only if the hour began under 15 minutes ago.
    let current = if now - hour > TimeDelta::minutes(15) {
        "missed"
    } else {
        "due"
    };
    assert_eq!(states, [current, "registered", "registered", "missed", "registered"]);
    assert_eq!(
        (runs[1]["delayMs"].as_i64(), runs[1]["status"].as_str()),
        (Some(3000), Some("QUEUED"))
    );
    assert_eq!(runs[4]["delayMs"], 7000);
    assert!(runs[3]["status"].is_null() && runs[3]["missed"] == true);
    assert_eq!(body["missed"], if current == "missed" { 2 } else { 1 });
    assert_eq!(body["changes"], json!([]));

    let (status, _, body) = call(&h.app, get("/jobs/schedules/hourly")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        body["runs"].as_array().unwrap().len(),
        5,
        "only five since its creation"
    );
    for bad in ["runs=0", "runs=101", "runs=ten", "limit=3"] {
        let (status, _, body) = call(&h.app, get(&format!("/jobs/schedules/hourly?{bad}"))).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {body}");
    }

    // With a grace period of a day (JOBS_MISSED_RUN_GRACE_SECS=86400) no run of the last
    // five hours is missed yet: the one without a job is still due.
    let patient = super::all(AppState {
        missed_run_grace: TimeDelta::days(1),
        ..state(h.store.clone(), h.queue.clone(), Some(h.schedules.clone()))
    });
    let (status, _, body) = call(&patient, get("/jobs/schedules/hourly?runs=5")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let states: Vec<&str> = body["runs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["state"].as_str().unwrap())
        .collect();
    assert_eq!(
        states,
        ["due", "registered", "registered", "due", "registered"],
        "{body}"
    );
    assert_eq!(body["missed"], 0);
}

#[tokio::test]
async fn schedules_are_listed_in_pages_and_bad_paging_is_400() {
    let h = harness();
    for name in ["a", "b", "c"] {
        let (status, _, body) = create(&h.app, json!({"cron": "0 7 * * *", "name": name})).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }
    let (status, _, first) = call(&h.app, get("/jobs/schedules?limit=2")).await;
    assert_eq!(status, StatusCode::OK, "{first}");
    assert_eq!(first["schedules"].as_array().unwrap().len(), 2);
    let cursor = first["nextCursor"].as_str().expect("a next page");
    assert!(
        cursor.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_".contains(&b)),
        "{cursor}"
    );
    let (status, _, second) = call(&h.app, get(&format!("/jobs/schedules?limit=2&cursor={cursor}"))).await;
    assert_eq!(status, StatusCode::OK, "{second}");
    assert_eq!(second["schedules"][0]["name"], "c");
    assert_eq!(second["nextCursor"], Value::Null);
    for (query, code) in [
        ("limit=0", "invalid_limit"),
        ("limit=101", "invalid_limit"),
        ("limit=x", "invalid_limit"),
        ("cursor=%2B%2B", "invalid_cursor"),
        ("cursor=", "invalid_cursor"),
        ("page=2", "invalid_request"),
    ] {
        let (status, _, body) = call(&h.app, get(&format!("/jobs/schedules?{query}"))).await;
        assert_error(status, &body, StatusCode::BAD_REQUEST, code);
    }
}

#[tokio::test]
async fn past_the_schedule_limit_a_create_is_409_naming_the_setting() {
    let store = Arc::new(MemoryStore::new());
    let schedules = Arc::new(MemoryScheduleStore::new());
    let app = super::all(AppState {
        max_schedules: 2,
        ..state(store, Arc::new(MemoryQueue::new()), Some(schedules.clone()))
    });
    for name in ["one", "two"] {
        let (status, _, body) = create(&app, json!({"cron": "0 7 * * *", "name": name})).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }
    let (status, _, body) = create(&app, json!({"cron": "0 7 * * *", "name": "three"})).await;
    assert_error(status, &body, StatusCode::CONFLICT, "schedule_limit_reached");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("JOBS_MAX_SCHEDULES"),
        "{body}"
    );
    assert_eq!(schedules.get("three").await.unwrap(), None);
}
