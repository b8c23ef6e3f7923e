//! What each caller asked of AWS, as IAM authorizes it: the actions seen at the wire.
//!
//! The fault proxy ([`crate::fault_proxy`]) hands every request it forwards to
//! [`actions_of`], which names the caller (the access key id of the request's SigV4
//! `Authorization` header: tests give each binary's clients a key of its own), and the IAM
//! actions the request needs, each with its resource and, for a table item, the item's
//! partition key. A request can need several: `TransactWriteItems` is authorized as each
//! item's `PutItem`, `UpdateItem`, `DeleteItem` or `ConditionCheckItem`; `BatchGetItem`
//! once per key; `CreateSchedule` and `UpdateSchedule` also as `iam:PassRole` on the role
//! the schedule's target names. Batch SQS calls are authorized as their single forms.
//!
//! The system test `grants` compares what it records with `settings/grants.json`, the
//! table the CDK app grants from.

use serde::Serialize;
use serde_json::Value;

/// A resource as the request names it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "camelCase", tag = "kind", content = "name")]
pub enum Resource {
    Table(String),
    Index {
        table: String,
        index: String,
    },
    /// A table's stream, by ARN (`GetRecords` names only a shard iterator: `None`).
    Stream(Option<String>),
    /// A queue, by URL.
    Queue(String),
    /// The schedules of a schedule group.
    Schedules(String),
    /// A role passed to a service, by ARN.
    Role(String),
    /// An action that takes no resource (`ListSchedules`).
    Any,
}

/// One IAM action one caller needed, once.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WireAction {
    /// The access key id that signed the request.
    pub caller: String,
    /// The IAM action (`dynamodb:PutItem`).
    pub action: String,
    pub resource: Resource,
    /// The partition key of the item acted on, for item actions on a table.
    pub key: Option<String>,
}

/// The access key id in a SigV4 `Authorization` header (`... Credential=AKID/date/...`).
pub fn caller_of(authorization: Option<&str>) -> Option<String> {
    let credential = authorization?.split("Credential=").nth(1)?;
    Some(credential.split('/').next()?.to_owned())
}

/// The service in a SigV4 `Authorization` header's credential scope (`dynamodb`, `sqs`, `scheduler`).
fn service_of(authorization: Option<&str>) -> Option<String> {
    let credential = authorization?.split("Credential=").nth(1)?;
    Some(credential.split([',', ' ']).next()?.split('/').nth(3)?.to_owned())
}

/// The actions one request needs. `operation` is what the proxy counts it as (the
/// `X-Amz-Target` operation), `method` and `path` serve the REST APIs (Scheduler).
pub fn actions_of(
    authorization: Option<&str>,
    operation: &str,
    method: &str,
    path: &str,
    query: Option<&str>,
    body: &[u8],
) -> Vec<WireAction> {
    let Some(caller) = caller_of(authorization) else {
        return Vec::new();
    };
    let body: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let service = service_of(authorization).unwrap_or_default();
    let found = match service.as_str() {
        "dynamodb" => dynamodb(operation, &body),
        "sqs" => sqs(operation, &body),
        "scheduler" => scheduler(method, path, query, &body),
        _ => vec![(format!("{service}:{operation}"), Resource::Any, None)],
    };
    found
        .into_iter()
        .map(|(action, resource, key)| WireAction {
            caller: caller.clone(),
            action,
            resource,
            key,
        })
        .collect()
}

type Found = Vec<(String, Resource, Option<String>)>;

fn text(value: &Value, field: &str) -> String {
    value.get(field).and_then(Value::as_str).unwrap_or_default().to_owned()
}

/// The partition key (`pk`, a string) of an item or key.
fn pk(item: Option<&Value>) -> Option<String> {
    item?.get("pk")?.get("S")?.as_str().map(str::to_owned)
}

fn dynamodb(operation: &str, body: &Value) -> Found {
    let table = |b: &Value| Resource::Table(text(b, "TableName"));
    let item_action =
        |action: &str, b: &Value, key_field: &str| (format!("dynamodb:{action}"), table(b), pk(b.get(key_field)));
    match operation {
        "GetItem" | "UpdateItem" | "DeleteItem" => vec![item_action(operation, body, "Key")],
        "PutItem" => vec![item_action(operation, body, "Item")],
        "Query" | "Scan" => {
            let resource = match body.get("IndexName").and_then(Value::as_str) {
                Some(index) => Resource::Index {
                    table: text(body, "TableName"),
                    index: index.to_owned(),
                },
                None => table(body),
            };
            vec![(format!("dynamodb:{operation}"), resource, None)]
        }
        "TransactWriteItems" | "TransactGetItems" => body
            .get("TransactItems")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|entry| {
                let (kind, inner) = entry.as_object()?.iter().next()?;
                let (action, key_field) = match kind.as_str() {
                    "Put" => ("PutItem", "Item"),
                    "Update" => ("UpdateItem", "Key"),
                    "Delete" => ("DeleteItem", "Key"),
                    "ConditionCheck" => ("ConditionCheckItem", "Key"),
                    "Get" => ("GetItem", "Key"),
                    _ => return None,
                };
                Some(item_action(action, inner, key_field))
            })
            .collect(),
        "BatchGetItem" | "BatchWriteItem" => body
            .get("RequestItems")
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
            .flat_map(|(table, request)| {
                let keys: Vec<Option<String>> = if operation == "BatchGetItem" {
                    request
                        .get("Keys")
                        .and_then(Value::as_array)
                        .into_iter()
                        .flatten()
                        .map(|k| pk(Some(k)))
                        .collect()
                } else {
                    request
                        .as_array()
                        .into_iter()
                        .flatten()
                        .map(|w| pk(w.pointer("/PutRequest/Item")).or_else(|| pk(w.pointer("/DeleteRequest/Key"))))
                        .collect()
                };
                keys.into_iter()
                    .map(|key| (format!("dynamodb:{operation}"), Resource::Table(table.clone()), key))
                    .collect::<Vec<_>>()
            })
            .collect(),
        "DescribeStream" | "GetShardIterator" => vec![(
            format!("dynamodb:{operation}"),
            Resource::Stream(Some(text(body, "StreamArn"))),
            None,
        )],
        "GetRecords" => vec![(format!("dynamodb:{operation}"), Resource::Stream(None), None)],
        "ListStreams" => vec![(format!("dynamodb:{operation}"), Resource::Any, None)],
        "ListTagsOfResource" | "TagResource" | "UntagResource" => {
            let arn = text(body, "ResourceArn");
            let name = arn.rsplit_once(":table/").map(|(_, n)| n.to_owned()).unwrap_or(arn);
            vec![(format!("dynamodb:{operation}"), Resource::Table(name), None)]
        }
        _ => vec![(format!("dynamodb:{operation}"), table(body), None)],
    }
}

fn sqs(operation: &str, body: &Value) -> Found {
    let action = operation.strip_suffix("Batch").unwrap_or(operation);
    let queue = match operation {
        "GetQueueUrl" | "CreateQueue" => text(body, "QueueName"),
        _ => text(body, "QueueUrl"),
    };
    vec![(format!("sqs:{action}"), Resource::Queue(queue), None)]
}

fn query_param(query: Option<&str>, name: &str) -> Option<String> {
    query?.split('&').find_map(|pair| {
        let (key, value) = pair.split_once('=')?;
        (key == name).then(|| value.to_owned())
    })
}

/// The Scheduler operation a REST request calls (`POST /schedules/{name}`: `CreateSchedule`).
pub fn scheduler_operation(method: &str, path: &str) -> Option<&'static str> {
    let one = path.strip_prefix("/schedules/").is_some_and(|rest| !rest.is_empty());
    match (method, one) {
        ("POST", true) => Some("CreateSchedule"),
        ("PUT", true) => Some("UpdateSchedule"),
        ("GET", true) => Some("GetSchedule"),
        ("DELETE", true) => Some("DeleteSchedule"),
        ("GET", false) if path == "/schedules" => Some("ListSchedules"),
        _ => None,
    }
}

fn scheduler(method: &str, path: &str, query: Option<&str>, body: &Value) -> Found {
    let group = |from_body: bool| {
        let named = if from_body {
            body.get("GroupName").and_then(Value::as_str).map(str::to_owned)
        } else {
            query_param(query, "groupName")
        };
        Resource::Schedules(named.unwrap_or_else(|| "default".to_owned()))
    };
    let mut found = match scheduler_operation(method, path) {
        Some(op @ ("CreateSchedule" | "UpdateSchedule")) => vec![(format!("scheduler:{op}"), group(true), None)],
        Some("ListSchedules") => vec![("scheduler:ListSchedules".to_owned(), Resource::Any, None)],
        Some(op) => vec![(format!("scheduler:{op}"), group(false), None)],
        None => vec![(format!("scheduler:{method} {path}"), Resource::Any, None)],
    };
    if let Some(role) = body.pointer("/Target/RoleArn").and_then(Value::as_str) {
        found.push(("iam:PassRole".to_owned(), Resource::Role(role.to_owned()), None));
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const AUTH: &str = "AWS4-HMAC-SHA256 Credential=jobs-api/20260101/us-east-1/dynamodb/aws4_request, \
                        SignedHeaders=host, Signature=00";

    fn of(operation: &str, body: Value) -> Vec<(String, Resource, Option<String>)> {
        actions_of(Some(AUTH), operation, "POST", "/", None, body.to_string().as_bytes())
            .into_iter()
            .map(|a| {
                assert_eq!(a.caller, "jobs-api");
                (a.action, a.resource, a.key)
            })
            .collect()
    }

    #[test]
    fn a_transaction_is_each_items_action_on_its_key() {
        let body = json!({"TransactItems": [
            {"Put": {"TableName": "t", "Item": {"pk": {"S": "JOB#1"}}}},
            {"Update": {"TableName": "t", "Key": {"pk": {"S": "STATS#TOTAL#0"}}}},
            {"ConditionCheck": {"TableName": "t", "Key": {"pk": {"S": "SCHEDULE#a#g"}}}},
        ]});
        let t = || Resource::Table("t".into());
        assert_eq!(
            of("TransactWriteItems", body),
            vec![
                ("dynamodb:PutItem".into(), t(), Some("JOB#1".into())),
                ("dynamodb:UpdateItem".into(), t(), Some("STATS#TOTAL#0".into())),
                ("dynamodb:ConditionCheckItem".into(), t(), Some("SCHEDULE#a#g".into())),
            ]
        );
    }

    #[test]
    fn index_queries_batches_and_tags_name_their_resources() {
        assert_eq!(
            of("Query", json!({"TableName": "t", "IndexName": "jobs-by-time"})),
            vec![(
                "dynamodb:Query".into(),
                Resource::Index {
                    table: "t".into(),
                    index: "jobs-by-time".into()
                },
                None
            )]
        );
        let keys = of(
            "BatchGetItem",
            json!({"RequestItems": {"t": {"Keys": [{"pk": {"S": "STATS#TOTAL#0"}}, {"pk": {"S": "STATS#TOTAL#1"}}]}}}),
        );
        assert_eq!(keys.len(), 2);
        assert_eq!(keys[1].2.as_deref(), Some("STATS#TOTAL#1"));
        assert_eq!(
            of(
                "ListTagsOfResource",
                json!({"ResourceArn": "arn:aws:dynamodb:us-east-1:1:table/t"})
            ),
            vec![("dynamodb:ListTagsOfResource".into(), Resource::Table("t".into()), None)]
        );
    }

    #[test]
    fn sqs_batches_are_their_single_actions_and_schedules_pass_their_role() {
        let sqs = AUTH.replace("/dynamodb/", "/sqs/");
        let found = actions_of(
            Some(&sqs),
            "DeleteMessageBatch",
            "POST",
            "/",
            None,
            br#"{"QueueUrl":"http://q/1/jobs"}"#,
        );
        assert_eq!(found[0].action, "sqs:DeleteMessage");
        assert_eq!(found[0].resource, Resource::Queue("http://q/1/jobs".into()));

        let scheduler = AUTH.replace("/dynamodb/", "/scheduler/");
        let body = br#"{"GroupName":"g","Target":{"Arn":"arn:q","RoleArn":"arn:role"}}"#;
        let found = actions_of(Some(&scheduler), "unknown", "POST", "/schedules/nightly", None, body);
        let actions: Vec<_> = found.iter().map(|a| (a.action.as_str(), a.resource.clone())).collect();
        assert_eq!(
            actions,
            vec![
                ("scheduler:CreateSchedule", Resource::Schedules("g".into())),
                ("iam:PassRole", Resource::Role("arn:role".into()))
            ]
        );
        let found = actions_of(
            Some(&scheduler),
            "unknown",
            "GET",
            "/schedules/nightly",
            Some("groupName=g"),
            b"",
        );
        assert_eq!(found[0].resource, Resource::Schedules("g".into()));
        let found = actions_of(
            Some(&scheduler),
            "unknown",
            "GET",
            "/schedules",
            Some("GroupName=g"),
            b"",
        );
        assert_eq!(found[0].action, "scheduler:ListSchedules");
        assert!(actions_of(None, "GetItem", "POST", "/", None, b"{}").is_empty());
    }
}
