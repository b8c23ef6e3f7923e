//! The OpenAPI document, generated from the handlers' annotations and, for the `task`
//! fields, from the task registry this server runs.

use axum::Json;
use axum::extract::State;
use job_core::tasks::TaskCatalog;
use serde_json::{Value, json};
use utoipa::OpenApi;

use crate::state::AppState;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Job API",
        description = "Queue jobs that run as containers, schedule them with cron, read their state and aggregate stats.\n\n\
            Every error has the body `ErrorBody` (`{\"error\": {\"code\", \"message\"}}`), also for a path that does \
            not exist (404) and a method a path does not support (405, with an `Allow` header)."
    ),
    paths(
        crate::routes::jobs::submit,
        crate::routes::jobs::get,
        crate::routes::listing::list,
        crate::routes::actions::cancel,
        crate::routes::actions::rerun,
        crate::openapi::document,
        crate::routes::console::page,
        crate::routes::console::style,
        crate::routes::console::script,
        crate::routes::stats::get,
        crate::routes::schedules::create,
        crate::routes::schedules::list,
        crate::routes::schedules::get,
        crate::routes::schedules::update,
        crate::routes::schedules::delete,
    ),
    tags((name = "jobs"), (name = "stats"), (name = "schedules"), (name = "console", description = "the status page"))
)]
pub struct ApiDoc;

/// Request bodies whose `task` field names a task of the registry.
const TASK_FIELDS: [&str; 3] = ["SubmitJob", "CreateSchedule", "UpdateSchedule"];

/// The format the document gives a schedule's `cron`: a Unix 5-field cron, or EventBridge's
/// `cron(6 fields)` or `rate(value unit)` (`job_core::cron` says which it takes).
pub const SCHEDULE_EXPRESSION_FORMAT: &str = "schedule-expression";

/// A body with `task` and `input` as one schema per task (`oneOf`, told apart by `task`):
/// each task's `input` is that task's input schema. Creating (`SubmitJob`,
/// `CreateSchedule`), the default task's variant also takes no `task` or `null`, and an
/// input whose fields are all optional may be absent or `null`. Changing
/// (`UpdateSchedule`), `task` and `input` come together or not at all (the input must fit
/// the task), so one more variant has neither.
fn by_task(doc: &mut Value, name: &str, tasks: &TaskCatalog) {
    let pointer = format!("/components/schemas/{name}");
    let Some(base) = doc.pointer(&pointer).cloned() else {
        return;
    };
    let change = name == "UpdateSchedule";
    let described: std::collections::BTreeMap<_, _> = tasks.describe().into_iter().collect();
    let required: Vec<Value> = base["required"].as_array().cloned().unwrap_or_default();
    let mut variants = Vec::new();
    for (task, input) in tasks.input_schemas() {
        let needs_input = input["required"].as_array().is_some_and(|r| !r.is_empty());
        let input = if needs_input {
            input
        } else {
            json!({ "oneOf": [{ "type": "null" }, input] })
        };
        let default = !change && task == job_core::tasks::DEFAULT_TASK;
        let mut variant = base.clone();
        let Some(object) = variant.as_object_mut() else { return };
        object.remove("description");
        object.insert("title".to_owned(), json!(task));
        let task_schema = if default {
            json!({ "enum": [task, null], "description": format!("`{task}` (the default): {}", described[task]) })
        } else {
            json!({ "const": task, "description": format!("`{task}`: {}", described[task]) })
        };
        variant["properties"]["task"] = task_schema;
        let mut input = input;
        input["description"] = json!(format!("the input of `{task}`"));
        variant["properties"]["input"] = input;
        let mut needed = required.clone();
        if !default {
            needed.push(json!("task"));
        }
        if change || needs_input {
            needed.push(json!("input"));
        }
        variant["required"] = Value::Array(needed);
        variants.push(variant);
    }
    if change {
        let mut unchanged = base.clone();
        if let Some(object) = unchanged.as_object_mut() {
            object.remove("description");
            object.insert("title".to_owned(), json!("task and input unchanged"));
        }
        unchanged["properties"]["task"] = json!({ "type": "null", "description": "the task stays" });
        if let Some(Value::Object(properties)) = unchanged.get_mut("properties") {
            properties.remove("input");
        }
        variants.push(unchanged);
    }
    let description = base.get("description").cloned().unwrap_or(Value::Null);
    let mut split = json!({ "oneOf": variants });
    if !description.is_null() {
        split["description"] = description;
    }
    if let Some(schema) = doc.pointer_mut(&pointer) {
        *schema = split;
    }
}

/// A schedule's `cron` as a [`SCHEDULE_EXPRESSION_FORMAT`] of at most
/// `job_core::application::schedules::MAX_CRON_LEN` characters, and its `timezone` as one
/// of the IANA names the server knows, in every variant of the body.
fn schedule_fields(doc: &mut Value, name: &str) {
    let zones: Vec<Value> = chrono_tz::TZ_VARIANTS.iter().map(|tz| json!(tz.name())).collect();
    let Some(Value::Array(variants)) = doc.pointer_mut(&format!("/components/schemas/{name}/oneOf")) else {
        return;
    };
    for variant in variants {
        if let Some(Value::Object(cron)) = variant.pointer_mut("/properties/cron") {
            cron.insert("format".to_owned(), json!(SCHEDULE_EXPRESSION_FORMAT));
            cron.insert("minLength".to_owned(), json!(1));
            cron.insert(
                "maxLength".to_owned(),
                json!(job_core::application::schedules::MAX_CRON_LEN),
            );
        }
        if let Some(Value::Object(timezone)) = variant.pointer_mut("/properties/timezone") {
            let nullable = timezone.get("type").is_some_and(|t| t.is_array());
            let mut names = zones.clone();
            if nullable {
                names.push(Value::Null);
            }
            timezone.remove("type");
            timezone.insert("enum".to_owned(), Value::Array(names));
        }
    }
}

/// This document.
#[utoipa::path(
    get, path = "/openapi.json", tag = "console", operation_id = "openApiDocument",
    responses((status = 200, description = "the OpenAPI 3.1 document of this server", body = Object))
)]
pub async fn document(State(state): State<AppState>) -> Json<Value> {
    Json(document_for(&state.tasks))
}

/// Every operation may answer 429: the stage's per-route rate (`settings/throttles.json`),
/// with API Gateway's body.
fn throttled_everywhere(doc: &mut Value) {
    if let Some(Value::Object(schemas)) = doc.pointer_mut("/components/schemas") {
        schemas.insert(
            "Throttled".to_owned(),
            serde_json::json!({
                "type": "object",
                "description": "API Gateway's answer to a request past its route's rate",
                "required": ["message"],
                "properties": { "message": { "type": "string", "example": crate::throttle::THROTTLED_MESSAGE } }
            }),
        );
    }
    let Some(Value::Object(paths)) = doc.get_mut("paths") else {
        return;
    };
    for operation in paths
        .values_mut()
        .filter_map(Value::as_object_mut)
        .flat_map(|ops| ops.values_mut())
    {
        if let Some(Value::Object(responses)) = operation.get_mut("responses") {
            responses.insert(
                "429".to_owned(),
                serde_json::json!({
                    "description": "past the route's request rate (settings/throttles.json); retry later",
                    "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Throttled" } } }
                }),
            );
        }
    }
}

/// Every operation but the public ones may answer 401 (no authenticated caller), and every
/// one that needs a permission 403 under JWT without its scope (`settings/permissions.json`,
/// [`crate::caller`]). Deployed, API Gateway refuses such requests first, with its own
/// `{"message": ...}` body; the API's own check answers with the error body.
fn callers_everywhere(doc: &mut Value) {
    use crate::caller::{Need, PERMISSIONS};
    let Some(Value::Object(paths)) = doc.get_mut("paths") else {
        return;
    };
    for (path, operations) in paths.iter_mut() {
        let Some(operations) = operations.as_object_mut() else {
            continue;
        };
        for (method, operation) in operations.iter_mut() {
            let key = format!("{} {path}", method.to_uppercase());
            let need = PERMISSIONS.routes.get(&key).cloned().unwrap_or(Need::Authenticated);
            let Some(Value::Object(responses)) = operation.get_mut("responses") else {
                continue;
            };
            if need == Need::Public {
                continue;
            }
            let body =
                serde_json::json!({ "application/json": { "schema": { "$ref": "#/components/schemas/ErrorBody" } } });
            responses.insert(
                "401".to_owned(),
                serde_json::json!({
                    "description": "no authenticated caller (`unauthenticated`): the request did not pass the authorizer, or the token names no principal (deployed, API Gateway answers first, with `{\"message\":\"Unauthorized\"}`)",
                    "content": body,
                }),
            );
            if let Need::Permission(permission) = need {
                let scope = format!(
                    "under JWT, a token without the scope of `{permission}` (`insufficient_scope`; deployed, API Gateway answers first, with `{{\"message\":\"Forbidden\"}}`)"
                );
                let description = match responses.get("403").and_then(|r| r["description"].as_str()) {
                    Some(owner) => format!("{owner}; or {scope}"),
                    None => scope,
                };
                responses.insert(
                    "403".to_owned(),
                    serde_json::json!({ "description": description, "content": body }),
                );
            }
        }
    }
}

/// The document for a server running `tasks`: [`ApiDoc`] with each `task` field limited to
/// the registered task names (or `null`, the default task), each name described.
pub fn document_for(tasks: &TaskCatalog) -> Value {
    let mut doc = serde_json::to_value(ApiDoc::openapi()).expect("the generated document is plain data");
    throttled_everywhere(&mut doc);
    callers_everywhere(&mut doc);
    let names: Vec<Value> = tasks
        .names()
        .into_iter()
        .map(Value::from)
        .chain([Value::Null])
        .collect();
    // GET /jobs?task= takes only a registered task's name (anything else is a 400).
    if let Some(Value::Array(parameters)) = doc.pointer_mut("/paths/~1jobs/get/parameters") {
        for parameter in parameters.iter_mut().filter(|p| p["name"] == "task") {
            let known: Vec<Value> = names.iter().filter(|n| !n.is_null()).cloned().collect();
            parameter["schema"] = serde_json::json!({ "type": "string", "enum": known });
        }
    }
    for schema in TASK_FIELDS {
        by_task(&mut doc, schema, tasks);
    }
    for schema in ["CreateSchedule", "UpdateSchedule"] {
        schedule_fields(&mut doc, schema);
    }
    doc
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use job_core::tasks::catalog;
    use serde_json::json;

    use super::*;

    /// Every operation in the document: (path, method, operation).
    fn operations(doc: &Value) -> Vec<(&str, &str, &Value)> {
        let mut found = Vec::new();
        for (path, item) in doc["paths"].as_object().unwrap() {
            for (method, operation) in item.as_object().unwrap() {
                found.push((path.as_str(), method.as_str(), operation));
            }
        }
        found
    }

    /// `(METHOD, path)` of every route the routers serve, read from their source.
    fn served_routes() -> BTreeSet<(String, String)> {
        let source = include_str!("routes/mod.rs");
        let mut routes = BTreeSet::new();
        for chunk in source.split(".route(\"").skip(1) {
            let (path, rest) = chunk.split_once('"').unwrap();
            let call = rest.split("\n").next().unwrap();
            for method in ["get", "post", "delete", "put", "patch"] {
                if call.contains(&format!(" {method}(")) || call.contains(&format!(".{method}(")) {
                    routes.insert((method.to_owned(), path.to_owned()));
                }
            }
        }
        routes
    }

    #[test]
    fn the_document_lists_every_served_route() {
        let doc = document_for(&catalog());
        let documented: BTreeSet<(String, String)> = operations(&doc)
            .into_iter()
            .map(|(path, method, _)| (method.to_owned(), path.to_owned()))
            .collect();
        let served = served_routes();
        assert!(served.len() >= 14, "{served:?}");
        assert_eq!(served, documented);
    }

    #[test]
    fn operation_ids_are_unique() {
        let doc = document_for(&catalog());
        let ops = operations(&doc);
        let ids: BTreeSet<&str> = ops
            .iter()
            .map(|(_, _, op)| op["operationId"].as_str().unwrap())
            .collect();
        assert_eq!(ids.len(), ops.len(), "{ids:?}");
    }

    #[test]
    fn links_name_existing_operations_and_their_parameters() {
        let doc = document_for(&catalog());
        let ops = operations(&doc);
        let mut links = 0;
        for (_, _, op) in &ops {
            for response in op["responses"].as_object().unwrap().values() {
                for (name, link) in response["links"].as_object().into_iter().flatten() {
                    links += 1;
                    let target = link["operationId"].as_str().unwrap();
                    let (_, _, target_op) = ops
                        .iter()
                        .find(|(_, _, o)| o["operationId"] == target)
                        .unwrap_or_else(|| panic!("link {name} names no operation"));
                    let params: Vec<&Value> = target_op["parameters"].as_array().unwrap().iter().collect();
                    for (param, expression) in link["parameters"].as_object().unwrap() {
                        assert!(
                            params.iter().any(|p| p["name"] == param.as_str()),
                            "link {name}: {param}"
                        );
                        assert!(
                            expression.as_str().unwrap().starts_with("$response.body#/"),
                            "link {name}"
                        );
                    }
                }
            }
        }
        // submitJob → getJob, cancelJob; cancelJob → rerunJob; createSchedule → getSchedule,
        // updateSchedule, deleteSchedule.
        assert_eq!(links, 6);
    }

    #[test]
    fn every_error_response_has_the_error_body_and_503_says_when_to_retry() {
        let doc = document_for(&catalog());
        for (path, method, op) in operations(&doc) {
            for (status, response) in op["responses"].as_object().unwrap() {
                // A throttled request never reaches the API: API Gateway's body.
                let body = if status == "429" { "Throttled" } else { "ErrorBody" };
                if status.as_str() >= "400" {
                    assert_eq!(
                        response["content"]["application/json"]["schema"]["$ref"],
                        format!("#/components/schemas/{body}"),
                        "{method} {path} {status}"
                    );
                }
                if status == "503" {
                    assert!(response["headers"]["Retry-After"].is_object(), "{method} {path}");
                }
            }
        }
    }

    #[test]
    fn every_route_but_the_page_may_be_401_and_every_permission_route_403() {
        let doc = document_for(&catalog());
        for (path, method, op) in operations(&doc) {
            let key = format!("{} {path}", method.to_uppercase());
            let need = crate::caller::PERMISSIONS.routes[&key].clone();
            let responses = &op["responses"];
            assert_eq!(
                responses.get("401").is_some(),
                need != crate::caller::Need::Public,
                "{key}"
            );
            if let crate::caller::Need::Permission(permission) = need {
                let forbidden = responses["403"]["description"].as_str().unwrap_or_default();
                assert!(forbidden.contains(&permission), "{key}: {forbidden}");
            }
        }
        let cancel = &doc["paths"]["/jobs/{id}/cancel"]["post"]["responses"]["403"]["description"];
        assert!(
            cancel
                .as_str()
                .unwrap()
                .starts_with("the job belongs to another caller"),
            "{cancel}"
        );
    }

    #[test]
    fn the_task_filter_lists_the_registered_tasks() {
        let doc = document_for(&catalog());
        let parameters = doc["paths"]["/jobs"]["get"]["parameters"].as_array().unwrap();
        let task = parameters.iter().find(|p| p["name"] == "task").unwrap();
        assert_eq!(
            task["schema"]["enum"],
            json!(["fail", "flaky", "process-data", "sleep"])
        );
    }

    #[test]
    fn task_fields_list_the_registered_tasks() {
        let doc = document_for(&catalog());
        for schema in TASK_FIELDS {
            let variants = doc["components"]["schemas"][schema]["oneOf"].as_array().unwrap();
            let tasks: Vec<&str> = variants.iter().filter_map(|v| v["title"].as_str()).collect();
            assert!(
                tasks.starts_with(&["fail", "flaky", "process-data", "sleep"]),
                "{schema}: {tasks:?}"
            );
            let sleep = &variants[3];
            assert_eq!(sleep["properties"]["task"]["const"], "sleep", "{schema}");
            assert!(
                sleep["properties"]["task"]["description"]
                    .as_str()
                    .unwrap()
                    .contains("waits"),
                "{schema}"
            );
            assert_eq!(sleep["properties"]["input"]["required"], json!(["ms"]), "{schema}");
            let required = sleep["required"].as_array().unwrap();
            assert!(
                required.contains(&json!("task")) && required.contains(&json!("input")),
                "{schema}"
            );
        }
    }

    #[test]
    fn only_the_default_task_may_be_left_out_and_only_when_creating() {
        let doc = document_for(&catalog());
        let schemas = &doc["components"]["schemas"];
        for schema in ["SubmitJob", "CreateSchedule"] {
            let data = &schemas[schema]["oneOf"][2];
            assert_eq!(
                data["properties"]["task"]["enum"],
                json!(["process-data", null]),
                "{schema}"
            );
            assert!(
                !data["required"].as_array().unwrap().contains(&json!("task")),
                "{schema}"
            );
            assert_eq!(
                data["properties"]["input"]["oneOf"][0],
                json!({"type": "null"}),
                "{schema}"
            );
        }
        let unchanged = &schemas["UpdateSchedule"]["oneOf"][4];
        assert_eq!(unchanged["properties"]["task"]["type"], "null");
        assert!(unchanged["properties"].get("input").is_none());
        assert_eq!(
            unchanged["additionalProperties"],
            json!(false),
            "no input without its task"
        );
    }

    #[test]
    fn schedules_document_their_cron_format_and_time_zones() {
        let doc = document_for(&catalog());
        for schema in ["CreateSchedule", "UpdateSchedule"] {
            for variant in doc["components"]["schemas"][schema]["oneOf"].as_array().unwrap() {
                let cron = &variant["properties"]["cron"];
                assert_eq!(cron["format"], SCHEDULE_EXPRESSION_FORMAT, "{schema}");
                assert_eq!(cron["maxLength"], 256, "{schema}");
                let zones = variant["properties"]["timezone"]["enum"].as_array().unwrap();
                assert!(
                    zones.contains(&json!("Europe/Berlin")) && zones.contains(&json!("UTC")),
                    "{schema}"
                );
                assert!(zones.len() > 400, "{schema}: {}", zones.len());
            }
        }
    }

    #[test]
    fn inputs_are_nullable_objects_where_the_api_may_show_null() {
        let doc = document_for(&catalog());
        let schemas = &doc["components"]["schemas"];
        for schema in ["ScheduleView", "Job"] {
            assert_eq!(
                schemas[schema]["properties"]["input"]["type"],
                json!(["object", "null"]),
                "{schema}"
            );
        }
    }
}
