//! Local-only tooling, never deployed: what a laptop run and the tests need in place of
//! what AWS and the CDK app provide.
//!
//! - [`provision`]: creates the queue, dead-letter queue, table and schedule group on an
//!   emulator (the `provision` binary); on AWS the CDK app owns them.
//! - [`local_runner`] and [`clock`]: a stand-in for EventBridge Scheduler's firing, which
//!   emulators lack (the `schedule-runner` binary), with the clock tests move by hand.
//! - [`emulator`]: the guard that keeps these tools off AWS.
//! - [`fault_proxy`]: a proxy in front of the emulator that injects what AWS and networks
//!   do and emulators never do (refused, black-holed, slow and cut connections, AWS
//!   errors), and counts requests by operation and, when asked, DynamoDB write units
//!   ([`write_units`]); the `fault-proxy` binary, `make chaos`, `make bench` and the system
//!   tests use it. It also records, by caller, the IAM actions the requests need
//!   ([`wire_actions`]), which the system tests check against `settings/grants.json`.
//! - The `local-api` binary serves every route of the API on one local socket.
//! - [`ceiling`]: the emulator's own throughput for the request mix of a job, replayed
//!   without our processes (the `emulator-ceiling` binary; `make bench` prints the ratio).
//! - [`console`]: the status page for a deployed API (`make console`): serves the page and
//!   forwards its calls signed with SigV4 (the `console` binary).
//!
//! The system tests (`tests/system/`) run the API, the worker and these tools against the
//! local emulator.

pub mod ceiling;
pub mod clock;
#[cfg(test)]
mod config_doc_tests;
pub mod console;
pub mod emulator;
pub mod fault_proxy;
pub mod local_runner;
pub mod provision;
#[cfg(test)]
mod shared_settings_tests;
pub mod wire_actions;
pub mod write_units;
