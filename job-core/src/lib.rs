//! Shared core of the job API and its worker.
//!
//! The domain lives in plain modules ([`job`], [`message`], [`retry`], [`stats`]); the
//! outside world is reached through two ports, [`store::JobStore`] and [`queue::JobQueue`],
//! each with an AWS adapter (DynamoDB, SQS) and an in-memory one for tests.

pub mod aws;
pub mod config;
pub mod job;
pub mod message;
pub mod provision;
pub mod queue;
pub mod retry;
pub mod stats;
pub mod store;
pub mod telemetry;

pub use config::Config;
pub use job::{Job, JobSource, JobStatus};
