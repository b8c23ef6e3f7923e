//! The log lines that the CDK app's metric filters and alarms match, each a named constant
//! used where the line is written. `infra-cdk/test/log-lines.test.ts` reads this file and
//! checks that every metric filter's `message` is one of them, so rewording a line here
//! fails that test instead of silently zeroing a metric and its alarm.

/// The API queued a job (`JobsSubmittedApi`).
pub const JOB_QUEUED_MESSAGE: &str = "job queued";
/// The worker registered a scheduled run, QUEUED or SKIPPED (field `outcome`:
/// `JobsSubmittedScheduled`, `JobsSkippedScheduled`).
pub const SCHEDULED_REGISTERED_MESSAGE: &str = "scheduled job registered";
/// The worker started an attempt (field `attempt`; above 1 a retry: `JobRetries`).
pub const ATTEMPT_STARTED_MESSAGE: &str = "attempt started";
/// A job reached its final state (field `status`: `JobsSucceeded`, `JobsFailed`).
pub const JOB_FINISHED_MESSAGE: &str = "job finished";
/// A job failed because the worker of its last attempt was lost (`JobsFailed`).
pub const LAST_ATTEMPT_LOST_MESSAGE: &str = "job failed: its last attempt was lost";
/// The reconciler's count of missed scheduled runs (field `missed`: the missed-runs
/// metric and its alarm).
pub const MISSED_RUNS_MESSAGE: &str = "missed scheduled runs";
