//! System tests: the API router, the worker and the local tools together.
//!
//! Here, against the local AWS emulator over HTTP (moto or LocalStack): the API router and
//! the worker with the real DynamoDB and SQS adapters, and the real `data-processor`
//! binary for crash and shutdown tests. These are marked `#[ignore = "needs the local AWS
//! emulator ..."]`, so plain `cargo test` lists them as ignored and passes; `make
//! system-test` and `make test` start the emulator, set `AWS_ENDPOINT_URL` and run them
//! (`-- --include-ignored`). Each provisions its own queue, dead-letter queue and table,
//! and checks the stats invariants at its end.
//!
//! - [`support`]: the harness (the emulator's SDK configuration, a provisioned [`Env`] per
//!   test, worker settings, the stats invariants, the worker binary).
//! - [`jobs`]: a job's path: success, retries, errors, duplicates, the real worker binary
//!   killed, stopped and in `--once` mode.
//! - [`schedules`]: the EventBridge Scheduler adapter and the local runner on the emulator.
//! - [`faults`]: ambiguous writes and a black-holed network, through the fault proxy.
//! - [`reconciler`]: the reconciler's pass against the emulator (the open-jobs index, the
//!   dead-letter queue).
//! - [`overlap`]: schedules' overlap policies on DynamoDB, through the real worker.
//! - [`operate`]: listing through the real indexes, cancel in each state, the
//!   cancel-vs-finish race, re-run.
//! - [`aggregator`]: counting from the table's stream: jobs through the worker, the
//!   local counter aggregator, a redelivered stream and a lost booking answer.
//! - [`in_memory`]: scheduled runs through the local runner, the worker and the API over
//!   the in-memory adapters (no emulator needed).

mod support;

use support::{Env, emulator, env, env_counting, settings, worker_binary};

mod aggregator;
mod claims;
mod faults;
mod grants;
mod in_memory;
mod jobs;
mod operate;
mod overlap;
mod reconciler;
mod requests;
mod schedules;
