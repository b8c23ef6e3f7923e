//! The `data-processor` worker: takes job messages from the queue, runs the named task
//! with retries, and records every state change in the job store.
//!
//! - [`tasks`]: the Rust functions a job can run (add yours there).
//! - [`worker`]: one message from receipt to deletion: claim, attempts, retries, outcome.
//! - `heartbeat`: keeps a message invisible and the job's lease alive while it runs.
//! - `deleter`: deletes finished messages in batches (loop mode).

mod deleter;
mod heartbeat;
pub mod tasks;
pub mod worker;

pub use worker::{Outcome, Worker, WorkerError, WorkerSettings};
