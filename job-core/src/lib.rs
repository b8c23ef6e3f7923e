//! Shared core of the job API and its worker.
//!
//! The domain lives in plain modules ([`job`], [`message`], [`retry`], [`stats`],
//! [`cron`]); the outside world is reached through three ports, [`store::JobStore`],
//! [`queue::JobQueue`] and [`schedules::ScheduleStore`], each with an AWS adapter
//! (DynamoDB, SQS, EventBridge Scheduler) and an in-memory one for tests.

pub mod aws;
pub mod config;
pub mod cron;
pub mod job;
pub mod message;
pub mod provision;
pub mod queue;
pub mod retry;
pub mod schedules;
pub mod stats;
pub mod store;
pub mod telemetry;

pub use config::Config;
pub use job::{Job, JobSource, JobStatus};
