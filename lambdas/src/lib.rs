//! The job API: one axum router per route group, served by the Lambda binaries
//! (`lambda_http`) and by the local HTTP server alike.
//!
//! - [`routes`]: the handlers, grouped the way they are deployed; each parses a request,
//!   calls a use case of `job_core::application` and maps the result.
//! - [`state`]: what handlers share (store, queue, schedules, task contract), built from the environment.
//! - [`caller`]: who is calling (from the request's authentication) and whether the
//!   route lets them (`settings/permissions.json`).
//! - [`extract`] and [`error`]: JSON bodies in; domain errors out as `{"error": {"code", "message"}}`.
//! - [`serve`]: runs a router on Lambda or on a local socket.
//! - [`reconciler`]: runs the reconciler on Lambda (one pass per scheduled invocation) or
//!   as a local process.
//! - [`counter_aggregator`]: books the counters from the table's stream, on Lambda (a
//!   DynamoDB event source mapping) or as a local process polling the stream.

pub mod caller;
pub mod counter_aggregator;
pub mod error;
pub mod extract;
pub mod openapi;
pub mod reconciler;
pub mod routes;
pub mod serve;
pub mod state;
pub mod throttle;

pub use serve::{BoxError, serve, serve_with_schedules};
pub use state::AppState;
