//! Shared core of the job API and its worker.
//!
//! - The domain lives in plain modules ([`job`], [`message`], [`retry`], [`stats`],
//!   [`listing`], [`cron`], [`config`]).
//! - [`tasks`] is the task contract: names, input types and the default task, which the
//!   API checks requests against and the worker implements.
//! - [`application`] holds the use cases (submit, register a scheduled run, schedules,
//!   stats) that the API's handlers, the worker and the tests call.
//! - The outside world is reached through three ports, [`store::JobStore`],
//!   [`queue::JobQueue`] and [`schedules::ScheduleStore`], each with an AWS adapter
//!   (DynamoDB, SQS, EventBridge Scheduler) and an in-memory one for tests;
//!   [`adapters::AwsAdapters`] builds the AWS ones from [`Config`], and [`shutdown`] is the
//!   signal every long-running binary stops on.
//! - [`log_lines`]: the log lines metric filters and alarms match, one constant each.
//! - [`counting`] is the stream side of the counters: the records the counter aggregator
//!   reads and the ledger it books them in.

pub mod adapters;
pub mod application;
pub mod aws;
pub mod caller;
pub mod config;
pub mod counting;
pub mod cron;
pub mod job;
pub mod listing;
pub mod log_lines;
pub mod message;
pub mod queue;
pub mod retry;
pub mod schedules;
pub mod shutdown;
pub mod stats;
pub mod store;
pub mod tasks;
pub mod telemetry;

pub use caller::Caller;
pub use config::Config;
pub use job::{Job, JobSource, JobStatus};
