//! The OpenAPI document, generated from the handlers' annotations and, for the `task`
//! fields, from the task registry this server runs.

use axum::Json;
use axum::extract::State;
use job_core::tasks::TaskCatalog;
use serde_json::Value;
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

/// The document for a server running `tasks`: [`ApiDoc`] with each `task` field limited to
/// the registered task names (or `null`, the default task), each name described.
pub fn document_for(tasks: &TaskCatalog) -> Value {
    let mut doc = serde_json::to_value(ApiDoc::openapi()).expect("the generated document is plain data");
    throttled_everywhere(&mut doc);
    let names: Vec<Value> = tasks
        .names()
        .into_iter()
        .map(Value::from)
        .chain([Value::Null])
        .collect();
    let listed: Vec<String> = tasks
        .describe()
        .into_iter()
        .map(|(name, description)| format!("`{name}`: {description}"))
        .collect();
    // GET /jobs?task= takes only a registered task's name (anything else is a 400).
    if let Some(Value::Array(parameters)) = doc.pointer_mut("/paths/~1jobs/get/parameters") {
        for parameter in parameters.iter_mut().filter(|p| p["name"] == "task") {
            let known: Vec<Value> = names.iter().filter(|n| !n.is_null()).cloned().collect();
            parameter["schema"] = serde_json::json!({ "type": "string", "enum": known });
        }
    }
    for schema in TASK_FIELDS {
        if let Some(Value::Object(task)) = doc.pointer_mut(&format!("/components/schemas/{schema}/properties/task")) {
            task.insert("enum".to_owned(), Value::Array(names.clone()));
            let description = task.get("description").and_then(Value::as_str).unwrap_or_default();
            let description = format!("{description} One of: {}.", listed.join("; "));
            task.insert("description".to_owned(), Value::String(description));
        }
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
            let task = &doc["components"]["schemas"][schema]["properties"]["task"];
            assert_eq!(
                task["enum"],
                json!(["fail", "flaky", "process-data", "sleep", null]),
                "{schema}"
            );
            assert!(
                task["description"].as_str().unwrap().contains("`sleep`: waits"),
                "{schema}"
            );
        }
    }

    #[test]
    fn inputs_are_nullable_objects_where_the_api_may_show_null() {
        let doc = document_for(&catalog());
        let schemas = &doc["components"]["schemas"];
        for schema in ["SubmitJob", "CreateSchedule", "ScheduleView", "Job"] {
            assert_eq!(
                schemas[schema]["properties"]["input"]["type"],
                json!(["object", "null"]),
                "{schema}"
            );
        }
    }
}
