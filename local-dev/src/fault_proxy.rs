//! A fault-injecting HTTP proxy for the local AWS emulator: what real AWS and real
//! networks do that an emulator never does.
//!
//! Point `AWS_ENDPOINT_URL` at the proxy; it forwards every request to the emulator
//! unless a [`Rule`] matches it. A rule applies a [`Fault`] to requests whose
//! `X-Amz-Target` header contains its `target` (e.g. `TransactWriteItems`, `SendMessage`;
//! none: every request), `times` times (none: until cleared):
//!
//! | fault | what the client sees |
//! |---|---|
//! | `refuse` | connection refused: the proxy stops listening, and drops pooled connections' requests |
//! | `blackhole` | the connection is accepted and the request read, and nothing ever comes back |
//! | `slow` | the answer, `delayMs` later |
//! | `cut` | the request is forwarded (and takes effect), then the connection is closed without an answer |
//! | `transactionConflict` | DynamoDB `TransactionCanceledException` with a `TransactionConflict` reason |
//! | `throttling` | DynamoDB `ThrottlingException` |
//! | `sqsOverLimit` | SQS `OverLimit` (403) |
//! | `sqsInternalError` | SQS `InternalError` (500) |
//!
//! It also counts every request it receives by API operation ([`Operations`]: the
//! operation from `X-Amz-Target`, or from the `Action` parameter of a query-protocol
//! request), and of the SQS `ReceiveMessage` calls, those that came back empty and how
//! many messages the others delivered: what a job costs in requests, measured at the wire.
//! When asked to ([`FaultProxy::measure_write_units`], `PUT /write-units` with `true`), it
//! also books the DynamoDB write units of every write it forwards (table and indexes,
//! from the sizes of the items before and after: [`crate::write_units`]), reading those
//! items from the emulator itself (reads it does not count).
//!
//! Tests drive it in process ([`FaultProxy::set`]); scripts through its control
//! endpoint ([`control_router`]: `PUT /faults` with a JSON array of rules, `DELETE
//! /faults`, `GET /faults` for the rules and the counts of requests forwarded and
//! faults applied; `GET /counts` for the requests by operation, `DELETE /counts` to start
//! counting afresh, `PUT /write-units` to book write units or not, `GET /actions` for the
//! IAM actions recorded by caller, [`FaultProxy::record_actions`]). The `fault-proxy`
//! binary runs both.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderValue, Request, Response, StatusCode, Uri};
use axum::routing::get;
use http_body_util::{BodyExt, Full};
use hyper::service::service_fn;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};
use serde::{Deserialize, Serialize};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tracing::{debug, warn};

use crate::wire_actions::{self, WireAction};
use crate::write_units::{self, ItemWrite, TableInfo, Target};

/// What the proxy does to a matching request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", tag = "fault")]
pub enum Fault {
    Refuse,
    Blackhole,
    Slow {
        #[serde(rename = "delayMs")]
        delay_ms: u64,
    },
    Cut,
    TransactionConflict,
    Throttling,
    SqsOverLimit,
    SqsInternalError,
}

/// A fault, the requests it applies to, and how often.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rule {
    #[serde(flatten)]
    pub fault: Fault,
    /// A substring of the request's `X-Amz-Target` (the API operation); none: every request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// How many requests it applies to; none: until cleared.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub times: Option<u32>,
}

impl Rule {
    /// `fault` on every request until cleared.
    pub fn always(fault: Fault) -> Self {
        Self {
            fault,
            target: None,
            times: None,
        }
    }

    /// `fault` on the next `times` requests for operation `target`.
    pub fn on(target: &str, fault: Fault, times: u32) -> Self {
        Self {
            fault,
            target: Some(target.to_owned()),
            times: Some(times),
        }
    }

    fn matches(&self, target: &str) -> bool {
        self.target.as_deref().is_none_or(|t| target.contains(t))
    }
}

/// Counts of what the proxy did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Counts {
    pub forwarded: u64,
    pub faulted: u64,
}

/// Requests received, by API operation, since the proxy started or the counts were reset.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Operations {
    /// Requests by operation name (`GetItem`, `ReceiveMessage`, ...; `unknown` when a
    /// request names none), faulted ones included: each was sent, and AWS would bill it.
    pub requests: BTreeMap<String, u64>,
    /// `ReceiveMessage` answers that carried no message (an idle long poll).
    pub empty_receives: u64,
    /// Messages the other `ReceiveMessage` answers carried.
    pub messages_received: u64,
    /// DynamoDB write units on tables of the writes that succeeded, while measured.
    #[serde(default)]
    pub write_units: u64,
    /// DynamoDB write units on global secondary indexes of those writes.
    #[serde(default)]
    pub index_write_units: u64,
}

impl Operations {
    /// Requests of every operation.
    pub fn total(&self) -> u64 {
        self.requests.values().sum()
    }

    /// Requests of operation `name`.
    pub fn of(&self, name: &str) -> u64 {
        self.requests.get(name).copied().unwrap_or(0)
    }
}

/// The operation a request calls: the part of `X-Amz-Target` after its last dot
/// (`DynamoDB_20120810.GetItem`, `AmazonSQS.ReceiveMessage`), else the one a REST request's
/// method and path name (Scheduler's), else the `Action` parameter of its query string or
/// form body (the query protocol), else `unknown`.
fn operation_of(target: &str, method: &str, path: &str, query: Option<&str>, body: &[u8]) -> String {
    if target.is_empty()
        && let Some(op) = crate::wire_actions::scheduler_operation(method, path)
    {
        return op.to_owned();
    }
    if !target.is_empty() {
        return target.rsplit('.').next().unwrap_or(target).to_owned();
    }
    let action = |text: &str| {
        text.split('&')
            .find_map(|pair| pair.strip_prefix("Action="))
            .map(str::to_owned)
    };
    query
        .and_then(action)
        .or_else(|| std::str::from_utf8(body).ok().and_then(action))
        .unwrap_or_else(|| "unknown".to_owned())
}

/// How many messages a `ReceiveMessage` answer carries (JSON protocol: `Messages`).
fn messages_in(answer: &[u8]) -> u64 {
    serde_json::from_slice::<serde_json::Value>(answer)
        .ok()
        .and_then(|v| v.get("Messages").and_then(|m| m.as_array()).map(|m| m.len() as u64))
        .unwrap_or(0)
}

struct Shared {
    rules: Mutex<Vec<Rule>>,
    operations: Mutex<Operations>,
    forwarded: AtomicU64,
    faulted: AtomicU64,
    /// Whether write units are booked.
    write_units: AtomicBool,
    /// Key schema and indexes of the tables written, read once.
    tables: Mutex<HashMap<String, TableInfo>>,
    /// Whether the listener should be open (false while a `refuse` rule for all requests is set).
    listening: watch::Sender<bool>,
    /// Whether the IAM actions of requests are recorded, and those recorded.
    record_actions: AtomicBool,
    actions: Mutex<BTreeSet<WireAction>>,
}

impl Shared {
    /// The fault for a request to `target`, using up one of its times.
    fn take(&self, target: &str) -> Option<Fault> {
        let mut rules = self.rules.lock().unwrap();
        let index = rules.iter().position(|r| r.matches(target))?;
        let fault = rules[index].fault;
        if let Some(times) = rules[index].times.as_mut() {
            *times -= 1;
            if *times == 0 {
                rules.remove(index);
            }
        }
        drop(rules);
        self.refresh_listening();
        Some(fault)
    }

    fn refresh_listening(&self) {
        let refuse_all = self
            .rules
            .lock()
            .unwrap()
            .iter()
            .any(|r| r.fault == Fault::Refuse && r.target.is_none() && r.times.is_none());
        self.listening.send_if_modified(|open| {
            let changed = *open == refuse_all;
            *open = !refuse_all;
            changed
        });
    }
}

/// A running proxy; it stops when dropped.
pub struct FaultProxy {
    shared: Arc<Shared>,
    addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl FaultProxy {
    /// Listens on `listen` (port 0: any free port) and forwards to `upstream` (`http://host:port`).
    pub async fn start(listen: SocketAddr, upstream: &str) -> std::io::Result<Self> {
        let upstream: Uri = upstream.parse().map_err(|e| {
            std::io::Error::new(std::io::ErrorKind::InvalidInput, format!("upstream {upstream:?}: {e}"))
        })?;
        let listener = TcpListener::bind(listen).await?;
        let addr = listener.local_addr()?;
        let (listening, _) = watch::channel(true);
        let shared = Arc::new(Shared {
            rules: Mutex::new(Vec::new()),
            operations: Mutex::new(Operations::default()),
            forwarded: AtomicU64::new(0),
            faulted: AtomicU64::new(0),
            write_units: AtomicBool::new(false),
            tables: Mutex::new(HashMap::new()),
            listening,
            record_actions: AtomicBool::new(false),
            actions: Mutex::new(BTreeSet::new()),
        });
        let client: Client<HttpConnector, Full<Bytes>> = Client::builder(TokioExecutor::new()).build_http();
        let task = tokio::spawn(accept_loop(listener, addr, Arc::clone(&shared), client, upstream));
        Ok(Self { shared, addr, task })
    }

    /// Where clients connect: `http://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Replaces the rules.
    pub fn set(&self, rules: Vec<Rule>) {
        *self.shared.rules.lock().unwrap() = rules;
        self.shared.refresh_listening();
    }

    /// Removes every rule: everything is forwarded again.
    pub fn clear(&self) {
        self.set(Vec::new());
    }

    /// The rules still in force.
    pub fn rules(&self) -> Vec<Rule> {
        self.shared.rules.lock().unwrap().clone()
    }

    /// Requests received by operation since the start or the last [`Self::reset_operations`].
    pub fn operations(&self) -> Operations {
        self.shared.operations.lock().unwrap().clone()
    }

    /// Starts counting requests by operation afresh.
    pub fn reset_operations(&self) {
        *self.shared.operations.lock().unwrap() = Operations::default();
    }

    /// Books the write units of DynamoDB writes from now on (`true`) or stops (`false`).
    /// It costs two uncounted reads of each item written, so it slows the writes down.
    pub fn measure_write_units(&self, on: bool) {
        self.shared.write_units.store(on, Ordering::Relaxed);
    }

    /// Records, from now on (`true`) or no longer, which IAM actions each caller's requests
    /// need ([`crate::wire_actions`]).
    pub fn record_actions(&self, on: bool) {
        self.shared.record_actions.store(on, Ordering::Relaxed);
    }

    /// The actions recorded, each once.
    pub fn actions(&self) -> Vec<WireAction> {
        self.shared.actions.lock().unwrap().iter().cloned().collect()
    }

    pub fn counts(&self) -> Counts {
        Counts {
            forwarded: self.shared.forwarded.load(Ordering::Relaxed),
            faulted: self.shared.faulted.load(Ordering::Relaxed),
        }
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn accept_loop(
    mut listener: TcpListener,
    addr: SocketAddr,
    shared: Arc<Shared>,
    client: Client<HttpConnector, Full<Bytes>>,
    upstream: Uri,
) {
    let mut open = shared.listening.subscribe();
    let mut connections = tokio::task::JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else { continue };
                let (shared, client, upstream) = (Arc::clone(&shared), client.clone(), upstream.clone());
                connections.spawn(async move {
                    let service = service_fn(move |request| {
                        handle(Arc::clone(&shared), client.clone(), upstream.clone(), request)
                    });
                    let served = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                    if let Err(err) = served {
                        debug!(error = %err, "proxied connection ended");
                    }
                });
            }
            _ = open.changed() => {
                if !*open.borrow_and_update() {
                    // Refuse: stop listening until the rule is cleared, then listen again.
                    drop(listener);
                    while !*open.borrow_and_update() {
                        if open.changed().await.is_err() {
                            return;
                        }
                    }
                    listener = loop {
                        match TcpListener::bind(addr).await {
                            Ok(l) => break l,
                            Err(err) => {
                                warn!(%addr, error = %err, "fault proxy cannot listen again yet");
                                tokio::time::sleep(Duration::from_millis(100)).await;
                            }
                        }
                    };
                }
            }
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}

/// Why the proxy closed a connection without an answer.
#[derive(Debug, thiserror::Error)]
enum Dropped {
    #[error("refused")]
    Refused,
    #[error("cut after forwarding")]
    Cut,
    #[error("upstream failed: {0}")]
    Upstream(String),
}

async fn handle(
    shared: Arc<Shared>,
    client: Client<HttpConnector, Full<Bytes>>,
    upstream: Uri,
    request: Request<hyper::body::Incoming>,
) -> Result<Response<Full<Bytes>>, Dropped> {
    let target = request
        .headers()
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let (parts, body) = request.into_parts();
    let body = body
        .collect()
        .await
        .map_err(|e| Dropped::Upstream(e.to_string()))?
        .to_bytes();
    let operation = operation_of(
        &target,
        parts.method.as_str(),
        parts.uri.path(),
        parts.uri.query(),
        &body,
    );
    if shared.record_actions.load(Ordering::Relaxed) {
        let authorization = parts.headers.get("authorization").and_then(|v| v.to_str().ok());
        let needed = wire_actions::actions_of(
            authorization,
            &operation,
            parts.method.as_str(),
            parts.uri.path(),
            parts.uri.query(),
            &body,
        );
        shared.actions.lock().unwrap().extend(needed);
    }
    *shared
        .operations
        .lock()
        .unwrap()
        .requests
        .entry(operation.clone())
        .or_default() += 1;
    let fault = shared.take(&target);
    if fault.is_some() {
        shared.faulted.fetch_add(1, Ordering::Relaxed);
    }
    match fault {
        Some(Fault::Refuse) => return Err(Dropped::Refused),
        Some(Fault::Blackhole) => std::future::pending::<()>().await,
        Some(Fault::Slow { delay_ms }) => tokio::time::sleep(Duration::from_millis(delay_ms)).await,
        Some(Fault::TransactionConflict) => return Ok(dynamodb_error(transaction_conflict())),
        Some(Fault::Throttling) => {
            return Ok(dynamodb_error(serde_json::json!({
                "__type": "com.amazonaws.dynamodb.v20120810#ThrottlingException",
                "message": "Rate of requests exceeds the allowed throughput."
            })));
        }
        Some(Fault::SqsOverLimit) => {
            return Ok(sqs_error(
                StatusCode::FORBIDDEN,
                "OverLimit",
                "Sender",
                "Too many messages in flight.",
            ));
        }
        Some(Fault::SqsInternalError) => {
            return Ok(sqs_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "InternalError",
                "Receiver",
                "Internal error.",
            ));
        }
        Some(Fault::Cut) | None => {}
    }
    let measured = fault.is_none() && shared.write_units.load(Ordering::Relaxed);
    let writes = if measured {
        serde_json::from_slice::<serde_json::Value>(&body)
            .map(|b| write_units::writes_of(&operation, &b))
            .unwrap_or_default()
    } else {
        Vec::new()
    };
    let reader = Reader {
        client: &client,
        upstream: &upstream,
        authorization: parts.headers.get("authorization").cloned(),
    };
    let before = reader.items(&shared, &writes).await;
    let (response, answer) = forward(&client, &upstream, parts, body).await?;
    shared.forwarded.fetch_add(1, Ordering::Relaxed);
    if !writes.is_empty() && response.status().is_success() {
        let after = reader.items(&shared, &writes).await;
        let mut units = write_units::Units::default();
        for ((write, old), new) in writes.iter().zip(before.iter()).zip(after.iter()) {
            let Some(table) = shared.tables.lock().unwrap().get(&write.table).cloned() else {
                continue;
            };
            let booked = write_units::units_of(
                &table,
                old.as_ref().map(|(_, i)| i),
                new.as_ref().map(|(_, i)| i),
                write.transactional,
            );
            units.table += booked.table;
            units.indexes += booked.indexes;
        }
        let mut operations = shared.operations.lock().unwrap();
        operations.write_units += units.table;
        operations.index_write_units += units.indexes;
    }
    if operation == "ReceiveMessage" && response.status().is_success() {
        let messages = messages_in(&answer);
        let mut operations = shared.operations.lock().unwrap();
        match messages {
            0 => operations.empty_receives += 1,
            n => operations.messages_received += n,
        }
    }
    if fault == Some(Fault::Cut) {
        return Err(Dropped::Cut);
    }
    Ok(response)
}

/// Reads items and table descriptions from the emulator for the write-unit booking,
/// with the request's own credentials (the emulator takes its region from them).
struct Reader<'a> {
    client: &'a Client<HttpConnector, Full<Bytes>>,
    upstream: &'a Uri,
    authorization: Option<HeaderValue>,
}

/// An item as read: its key, and the item (`None`: absent).
type Read = Option<(
    serde_json::Map<String, serde_json::Value>,
    serde_json::Map<String, serde_json::Value>,
)>;

impl Reader<'_> {
    async fn call(&self, operation: &str, body: serde_json::Value) -> Option<serde_json::Value> {
        let mut request = Request::post(self.upstream.clone())
            .header("content-type", "application/x-amz-json-1.0")
            .header("x-amz-target", format!("DynamoDB_20120810.{operation}"));
        if let Some(auth) = &self.authorization {
            request = request.header("authorization", auth.clone());
        }
        let request = request.body(Full::new(Bytes::from(body.to_string()))).ok()?;
        let response = self.client.request(request).await.ok()?;
        if !response.status().is_success() {
            return None;
        }
        let bytes = response.into_body().collect().await.ok()?.to_bytes();
        serde_json::from_slice(&bytes).ok()
    }

    async fn table(&self, shared: &Shared, name: &str) -> Option<TableInfo> {
        if let Some(info) = shared.tables.lock().unwrap().get(name) {
            return Some(info.clone());
        }
        let answer = self
            .call("DescribeTable", serde_json::json!({"TableName": name}))
            .await?;
        let info = TableInfo::from_describe(&answer)?;
        shared.tables.lock().unwrap().insert(name.to_owned(), info.clone());
        Some(info)
    }

    /// Each written item as it is now, in the order of `writes`.
    async fn items(&self, shared: &Shared, writes: &[ItemWrite]) -> Vec<Read> {
        let mut items = Vec::with_capacity(writes.len());
        for write in writes {
            let Some(table) = self.table(shared, &write.table).await else {
                items.push(None);
                continue;
            };
            let key = match &write.target {
                Target::Key(key) => key.clone(),
                Target::Item(item) => table.key_of(item),
            };
            let answer = self
                .call(
                    "GetItem",
                    serde_json::json!({"TableName": write.table, "Key": key, "ConsistentRead": true}),
                )
                .await;
            let item = answer.and_then(|a| a.get("Item").and_then(|i| i.as_object()).cloned());
            items.push(item.map(|item| (key, item)));
        }
        items
    }
}

async fn forward(
    client: &Client<HttpConnector, Full<Bytes>>,
    upstream: &Uri,
    mut parts: axum::http::request::Parts,
    body: Bytes,
) -> Result<(Response<Full<Bytes>>, Bytes), Dropped> {
    let path = parts.uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
    parts.uri = format!("{upstream}{}", path.trim_start_matches('/'))
        .parse()
        .map_err(|e| Dropped::Upstream(format!("{e}")))?;
    let response = client
        .request(Request::from_parts(parts, Full::new(body)))
        .await
        .map_err(|e| Dropped::Upstream(e.to_string()))?;
    let (parts, body) = response.into_parts();
    let body = body
        .collect()
        .await
        .map_err(|e| Dropped::Upstream(e.to_string()))?
        .to_bytes();
    Ok((Response::from_parts(parts, Full::new(body.clone())), body))
}

fn transaction_conflict() -> serde_json::Value {
    serde_json::json!({
        "__type": "com.amazonaws.dynamodb.v20120810#TransactionCanceledException",
        "Message": "Transaction cancelled, please refer cancellation reasons for specific reasons [TransactionConflict, None, None]",
        "CancellationReasons": [
            {"Code": "TransactionConflict", "Message": "Transaction is ongoing for the item"},
            {"Code": "None"},
            {"Code": "None"}
        ]
    })
}

fn dynamodb_error(body: serde_json::Value) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body.to_string())));
    *response.status_mut() = StatusCode::BAD_REQUEST;
    response
        .headers_mut()
        .insert("content-type", HeaderValue::from_static("application/x-amz-json-1.0"));
    response
}

fn sqs_error(status: StatusCode, code: &str, fault: &str, message: &str) -> Response<Full<Bytes>> {
    let body = serde_json::json!({"__type": format!("com.amazonaws.sqs#{code}"), "message": message});
    let mut response = Response::new(Full::new(Bytes::from(body.to_string())));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert("content-type", HeaderValue::from_static("application/x-amz-json-1.0"));
    if let Ok(value) = HeaderValue::from_str(&format!("{code};{fault}")) {
        headers.insert("x-amzn-query-error", value);
    }
    response
}

/// The control endpoint of a proxy.
pub fn control_router(proxy: Arc<FaultProxy>) -> Router {
    Router::new()
        .route("/faults", get(list).put(replace).delete(clear))
        .route("/counts", get(operations).delete(reset_operations))
        .route("/write-units", axum::routing::put(write_units_switch))
        .route("/actions", get(recorded_actions))
        .with_state(proxy)
}

#[derive(Serialize)]
struct Status {
    rules: Vec<Rule>,
    counts: Counts,
}

async fn list(State(proxy): State<Arc<FaultProxy>>) -> axum::Json<Status> {
    axum::Json(Status {
        rules: proxy.rules(),
        counts: proxy.counts(),
    })
}

async fn operations(State(proxy): State<Arc<FaultProxy>>) -> axum::Json<Operations> {
    axum::Json(proxy.operations())
}

async fn recorded_actions(State(proxy): State<Arc<FaultProxy>>) -> axum::Json<Vec<WireAction>> {
    axum::Json(proxy.actions())
}

async fn reset_operations(State(proxy): State<Arc<FaultProxy>>) -> StatusCode {
    proxy.reset_operations();
    StatusCode::NO_CONTENT
}

async fn write_units_switch(State(proxy): State<Arc<FaultProxy>>, body: Bytes) -> Response<Body> {
    match serde_json::from_slice::<bool>(&body) {
        Ok(on) => {
            proxy.measure_write_units(on);
            Response::new(Body::from(on.to_string()))
        }
        Err(err) => {
            let mut response = Response::new(Body::from(format!(
                "{{\"error\":{{\"code\":\"invalid_switch\",\"message\":{}}}}}",
                serde_json::Value::String(format!("expected true or false: {err}"))
            )));
            *response.status_mut() = StatusCode::BAD_REQUEST;
            response
        }
    }
}

async fn replace(State(proxy): State<Arc<FaultProxy>>, body: Bytes) -> Response<Body> {
    match serde_json::from_slice::<Vec<Rule>>(&body) {
        Ok(rules) => {
            proxy.set(rules);
            Response::new(Body::from(serde_json::to_string(&proxy.rules()).unwrap_or_default()))
        }
        Err(err) => {
            let mut response = Response::new(Body::from(format!(
                "{{\"error\":{{\"code\":\"invalid_rules\",\"message\":{}}}}}",
                serde_json::Value::String(format!("expected a JSON array of rules: {err}"))
            )));
            *response.status_mut() = StatusCode::BAD_REQUEST;
            response
        }
    }
}

async fn clear(State(proxy): State<Arc<FaultProxy>>) -> StatusCode {
    proxy.clear();
    StatusCode::NO_CONTENT
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_read_as_scripts_write_them() {
        let rules: Vec<Rule> = serde_json::from_str(
            r#"[{"fault":"blackhole"},{"fault":"slow","delayMs":200,"target":"SendMessage","times":2},
                {"fault":"transactionConflict","target":"TransactWriteItems","times":1}]"#,
        )
        .unwrap();
        assert_eq!(rules[0], Rule::always(Fault::Blackhole));
        assert_eq!(rules[1].fault, Fault::Slow { delay_ms: 200 });
        assert_eq!(rules[2], Rule::on("TransactWriteItems", Fault::TransactionConflict, 1));
    }

    #[test]
    fn requests_are_counted_by_the_operation_they_call() {
        assert_eq!(
            operation_of("DynamoDB_20120810.UpdateItem", "POST", "/", None, b""),
            "UpdateItem"
        );
        assert_eq!(
            operation_of("AmazonSQS.ReceiveMessage", "POST", "/", None, b"{}"),
            "ReceiveMessage"
        );
        assert_eq!(
            operation_of("", "POST", "/", Some("Action=SendMessage&Version=2012-11-05"), b""),
            "SendMessage"
        );
        assert_eq!(
            operation_of("", "POST", "/", None, b"Version=2012-11-05&Action=DeleteMessageBatch"),
            "DeleteMessageBatch"
        );
        assert_eq!(operation_of("", "POST", "/", None, b"{}"), "unknown");
        assert_eq!(
            operation_of("", "GET", "/schedules", Some("ScheduleGroup=g"), b""),
            "ListSchedules"
        );
        assert_eq!(
            operation_of("", "PUT", "/schedules/nightly", None, b"{}"),
            "UpdateSchedule"
        );
        assert_eq!(messages_in(br#"{"Messages":[{"MessageId":"a"},{"MessageId":"b"}]}"#), 2);
        assert_eq!(messages_in(b"{}"), 0);
        assert_eq!(messages_in(br#"{"Messages":[]}"#), 0);
    }

    #[tokio::test]
    async fn a_rule_applies_to_its_target_as_often_as_asked() {
        let proxy = FaultProxy::start("127.0.0.1:0".parse().unwrap(), "http://127.0.0.1:9")
            .await
            .unwrap();
        proxy.set(vec![Rule::on("SendMessage", Fault::Cut, 2)]);
        assert_eq!(proxy.shared.take("DynamoDB_20120810.GetItem"), None);
        assert_eq!(proxy.shared.take("AmazonSQS.SendMessage"), Some(Fault::Cut));
        assert_eq!(proxy.shared.take("AmazonSQS.SendMessage"), Some(Fault::Cut));
        assert_eq!(proxy.shared.take("AmazonSQS.SendMessage"), None);
        assert!(proxy.rules().is_empty());
    }
}
