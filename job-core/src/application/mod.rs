//! The use cases: what the API and the worker do with the ports, in one place.
//!
//! Each function takes the ports it needs ([`crate::store::JobStore`],
//! [`crate::queue::JobQueue`], [`crate::schedules::ScheduleStore`]) and the task contract,
//! and returns a domain error; HTTP handlers parse a request, call one of these and map
//! the result, and the worker and the tests call the same functions.
//!
//! - [`aggregate`]: the counter aggregator: book a batch of stream records exactly once.
//! - [`jobs`]: submit a job (validate, register, send, undo on failure, replay on a
//!   repeated idempotency key), look a job up.
//! - [`scheduled_run`]: register a scheduled run under its schedule's overlap policy.
//! - [`reconcile`]: the reconciler's pass: stale jobs sent again, the dead-letter queue
//!   resolved.
//! - [`schedules`]: create (with its validation rules), read, list and delete schedules.
//! - [`stats`]: read the counters.
//! - [`list`], [`cancel`], [`rerun`]: list jobs newest first, cancel one, re-run a failed
//!   or cancelled one.

pub mod aggregate;
pub mod cancel;
pub mod jobs;
pub mod list;
pub mod reconcile;
pub mod rerun;
pub mod scheduled_run;
pub mod schedules;
pub mod stats;
