//! Configuration from environment variables: one set shared by every binary.
//!
//! | variable | default | meaning |
//! |---|---|---|
//! | `JOBS_QUEUE_URL` | required | URL of the SQS job queue |
//! | `JOBS_QUEUE_ARN` | looked up from the URL | ARN of the job queue: the target of schedules |
//! | `JOBS_TABLE_NAME` | required | DynamoDB table for jobs and counters |
//! | `JOBS_SCHEDULE_GROUP` | `jobs` | EventBridge Scheduler group of the project's schedules |
//! | `JOBS_SCHEDULER_ROLE_ARN` | none | role Scheduler assumes to send to the queue; required by the schedule routes |
//! | `JOBS_SCHEDULE_DLQ_ARN` | none | dead-letter queue for schedule deliveries that fail |
//! | `JOBS_MAX_ATTEMPTS` | `3` | attempts per job (1 + retries) |
//! | `JOBS_RETRY_BASE_DELAY_MS` | `1000` | delay before the first retry; doubles each retry, plus jitter |
//! | `JOBS_RETRY_MAX_DELAY_MS` | `30000` | upper bound of the growing delay |
//! | `JOBS_ATTEMPT_TIMEOUT_SECS` | `300` | a longer attempt is stopped and counts as failed |
//! | `JOBS_VISIBILITY_TIMEOUT_SECS` | `30` | message invisibility and job lease, renewed by the heartbeat |
//! | `JOBS_SHUTDOWN_GRACE_SECS` | `25` | on SIGTERM, how long a running attempt may still take |
//! | `JOBS_RECEIVE_WAIT_SECS` | `20` | SQS long-poll wait |
//! | `JOBS_RECEIVE_GATHER_MS` | `100` | loop mode: after a poll that brought fewer messages than free slots while other jobs run, how long the next poll waits so that messages arriving meanwhile share it (0: never) |
//! | `JOBS_STATS_SHARDS` | `4` | counter shards (raise only; a read is 8 items per shard) |
//! | `JOBS_COUNTERS` | the table's | how counters are booked is the table's property (its tag `jobs:counting`, recorded by `provision` and the CDK app): `inline`, in each job change's transaction; `stream`, by the counter aggregator from the table's stream. Set, it must name the table's mode, or the process refuses to start |
//! | `JOBS_AWS_ATTEMPT_TIMEOUT_SECS` | `5` | one attempt of an AWS call (the long poll adds its wait) |
//! | `JOBS_AWS_OPERATION_TIMEOUT_SECS` | `15` | an AWS call with the SDK's retries |
//! | `JOBS_DLQ_URL` | none | the job queue's dead-letter queue; required by the reconciler |
//! | `JOBS_RECONCILE_INTERVAL_SECS` | `30` | how often the local reconciler runs (on AWS, its schedule's rate) |
//! | `JOBS_MISSED_RUN_GRACE_SECS` | `900` | a scheduled run with no job this long after its time is `missed` (history, missed-runs count); 60 to 86400 |
//! | `JOBS_MAX_SCHEDULES` | `1000` | schedules this deployment holds at most; creating one more answers 409 `schedule_limit_reached` (1 to 1000000, Scheduler's own quota per account and region) |
//! | `AWS_ENDPOINT_URL` | none | send every AWS call to an emulator instead |

use std::time::Duration;

use chrono::TimeDelta;

use crate::aws::AwsTimeouts;
use crate::retry::RetryPolicy;
use crate::schedules::MISSED_AFTER;
use crate::stats::Counting;

/// A configuration problem found at start-up; the message names the variable.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ConfigError {
    #[error("missing required environment variable {0}")]
    Missing(&'static str),
    #[error("environment variable {var}={value:?} is invalid: {reason}")]
    Invalid {
        var: &'static str,
        value: String,
        reason: String,
    },
    /// The table's counting mode is unknown, or not the one `JOBS_COUNTERS` names.
    #[error(transparent)]
    Counting(#[from] crate::counting::mode::CountingModeError),
}

/// Settings shared by the API and the worker.
#[derive(Debug, Clone)]
pub struct Config {
    pub queue_url: String,
    pub queue_arn: Option<String>,
    pub table_name: String,
    pub schedule_group: String,
    pub scheduler_role_arn: Option<String>,
    pub schedule_dlq_arn: Option<String>,
    pub retry: RetryPolicy,
    pub attempt_timeout: Duration,
    pub visibility_timeout: Duration,
    pub shutdown_grace: Duration,
    pub receive_wait: Duration,
    pub receive_gather: Duration,
    pub stats_shards: u32,
    /// The counting mode this process was told to expect (`JOBS_COUNTERS`); the table's
    /// own mode decides ([`crate::counting::mode`]).
    pub counting: Option<Counting>,
    pub aws_timeouts: AwsTimeouts,
    pub dlq_url: Option<String>,
    pub reconcile_interval: Duration,
    /// How long after its scheduled time a run may still get its job before it is `missed`.
    pub missed_run_grace: TimeDelta,
    /// Most schedules the schedule routes let exist.
    pub max_schedules: usize,
}

impl Config {
    /// Reads the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads configuration through `lookup` (the environment, or a map in tests).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |var: &'static str| lookup(var).filter(|v| !v.trim().is_empty());
        let required = |var: &'static str| get(var).ok_or(ConfigError::Missing(var));
        let number = |var: &'static str, default: u64, min: u64, max: u64| -> Result<u64, ConfigError> {
            match get(var) {
                None => Ok(default),
                Some(value) => match value.trim().parse::<u64>() {
                    Ok(n) if (min..=max).contains(&n) => Ok(n),
                    _ => Err(ConfigError::Invalid {
                        var,
                        value,
                        reason: format!("expected a whole number from {min} to {max}"),
                    }),
                },
            }
        };

        let visibility = number("JOBS_VISIBILITY_TIMEOUT_SECS", 30, 3, 43_200)?;
        let base = number("JOBS_RETRY_BASE_DELAY_MS", 1_000, 0, 3_600_000)?;
        let max_delay = number("JOBS_RETRY_MAX_DELAY_MS", 30_000, 0, 3_600_000)?;
        if max_delay < base {
            return Err(ConfigError::Invalid {
                var: "JOBS_RETRY_MAX_DELAY_MS",
                value: max_delay.to_string(),
                reason: format!("must not be below JOBS_RETRY_BASE_DELAY_MS ({base})"),
            });
        }
        let attempt = number("JOBS_AWS_ATTEMPT_TIMEOUT_SECS", 5, 1, 300)?;
        let operation = number("JOBS_AWS_OPERATION_TIMEOUT_SECS", 15, 1, 900)?;
        if operation < attempt {
            return Err(ConfigError::Invalid {
                var: "JOBS_AWS_OPERATION_TIMEOUT_SECS",
                value: operation.to_string(),
                reason: format!("must not be below JOBS_AWS_ATTEMPT_TIMEOUT_SECS ({attempt})"),
            });
        }
        let config = Self {
            queue_url: required("JOBS_QUEUE_URL")?,
            queue_arn: get("JOBS_QUEUE_ARN"),
            table_name: required("JOBS_TABLE_NAME")?,
            schedule_group: get("JOBS_SCHEDULE_GROUP").unwrap_or_else(|| "jobs".to_owned()),
            scheduler_role_arn: get("JOBS_SCHEDULER_ROLE_ARN"),
            schedule_dlq_arn: get("JOBS_SCHEDULE_DLQ_ARN"),
            retry: RetryPolicy {
                max_attempts: number("JOBS_MAX_ATTEMPTS", 3, 1, 100)? as u32,
                base_delay: Duration::from_millis(base),
                max_delay: Duration::from_millis(max_delay),
            },
            attempt_timeout: Duration::from_secs(number("JOBS_ATTEMPT_TIMEOUT_SECS", 300, 1, 43_200)?),
            visibility_timeout: Duration::from_secs(visibility),
            shutdown_grace: Duration::from_secs(number("JOBS_SHUTDOWN_GRACE_SECS", 25, 0, 3_600)?),
            receive_wait: Duration::from_secs(number("JOBS_RECEIVE_WAIT_SECS", 20, 0, 20)?),
            receive_gather: Duration::from_millis(number("JOBS_RECEIVE_GATHER_MS", 100, 0, 1_000)?),
            stats_shards: number("JOBS_STATS_SHARDS", 4, 1, 12)? as u32,
            counting: match get("JOBS_COUNTERS") {
                None => None,
                Some(value) => Some(Counting::parse(&value).ok_or(ConfigError::Invalid {
                    var: "JOBS_COUNTERS",
                    value,
                    reason: "expected inline or stream".to_owned(),
                })?),
            },
            aws_timeouts: AwsTimeouts {
                attempt: Duration::from_secs(attempt),
                operation: Duration::from_secs(operation),
                ..AwsTimeouts::default()
            },
            dlq_url: get("JOBS_DLQ_URL"),
            reconcile_interval: Duration::from_secs(number("JOBS_RECONCILE_INTERVAL_SECS", 30, 1, 3_600)?),
            // At least a minute: a run waits for its worker to scale up from zero.
            missed_run_grace: TimeDelta::seconds(number(
                "JOBS_MISSED_RUN_GRACE_SECS",
                MISSED_AFTER.num_seconds() as u64,
                60,
                86_400,
            )? as i64),
            max_schedules: number(
                "JOBS_MAX_SCHEDULES",
                crate::application::schedules::DEFAULT_MAX_SCHEDULES as u64,
                1,
                1_000_000,
            )? as usize,
        };
        config.check_message_hold()?;
        Ok(config)
    }

    /// The longest a worker may hold one received message: every attempt running to its
    /// timeout, every retry delay at its jittered maximum, and a shutdown's grace period.
    pub fn longest_message_hold(&self) -> Duration {
        let attempts = self.retry.max_attempts;
        let delays: Duration = (1..attempts)
            .map(|n| {
                let grown = self.retry.base_delay.saturating_mul(1 << (n - 1).min(20));
                grown.min(self.retry.max_delay).saturating_mul(2)
            })
            .sum();
        self.attempt_timeout.saturating_mul(attempts) + delays + self.shutdown_grace
    }

    /// SQS keeps a received message invisible for at most 12 hours from its receipt,
    /// however often the heartbeat extends it: a job that could take longer would reappear
    /// while it still runs. Refuse such settings at start-up.
    fn check_message_hold(&self) -> Result<(), ConfigError> {
        let hold = self.longest_message_hold();
        if hold <= MAX_MESSAGE_HOLD {
            return Ok(());
        }
        Err(ConfigError::Invalid {
            var: "JOBS_ATTEMPT_TIMEOUT_SECS",
            value: self.attempt_timeout.as_secs().to_string(),
            reason: format!(
                "a job could hold its message for {} s (JOBS_MAX_ATTEMPTS={} attempts of JOBS_ATTEMPT_TIMEOUT_SECS, \
                 retry delays up to JOBS_RETRY_MAX_DELAY_MS, and JOBS_SHUTDOWN_GRACE_SECS), over SQS's limit of \
                 {} s (12 hours) on how long a received message stays invisible; lower one of them",
                hold.as_secs(),
                self.retry.max_attempts,
                MAX_MESSAGE_HOLD.as_secs()
            ),
        })
    }
}

/// SQS's limit on a received message's invisibility, counted from its receipt.
pub const MAX_MESSAGE_HOLD: Duration = Duration::from_secs(12 * 3600);

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn lookup(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        move |k| map.get(k).cloned()
    }

    #[test]
    fn missing_required_variable_is_named() {
        let err = Config::from_lookup(lookup(&[("JOBS_TABLE_NAME", "t")])).unwrap_err();
        assert_eq!(err, ConfigError::Missing("JOBS_QUEUE_URL"));
        assert!(err.to_string().contains("JOBS_QUEUE_URL"));
    }

    #[test]
    fn defaults_and_overrides() {
        let cfg = Config::from_lookup(lookup(&[
            ("JOBS_QUEUE_URL", "http://q"),
            ("JOBS_TABLE_NAME", "t"),
            ("JOBS_MAX_ATTEMPTS", "5"),
        ]))
        .unwrap();
        assert_eq!(cfg.retry.max_attempts, 5);
        assert_eq!(cfg.retry.base_delay, Duration::from_secs(1));
        assert_eq!(cfg.visibility_timeout, Duration::from_secs(30));
        assert_eq!(cfg.schedule_group, "jobs");
        assert_eq!(cfg.stats_shards, 4);
        assert_eq!(cfg.counting, None);
        assert_eq!(cfg.aws_timeouts, AwsTimeouts::default());
        assert_eq!(cfg.missed_run_grace, TimeDelta::minutes(15));
    }

    #[test]
    fn the_missed_run_grace_is_read_and_checked() {
        let base = [("JOBS_QUEUE_URL", "http://q"), ("JOBS_TABLE_NAME", "t")];
        let with = |value: &'static str| {
            Config::from_lookup(lookup(&[base[0], base[1], ("JOBS_MISSED_RUN_GRACE_SECS", value)]))
        };
        assert_eq!(with("120").unwrap().missed_run_grace, TimeDelta::minutes(2));
        for bad in ["59", "86401", "15m", "-1"] {
            let text = with(bad).unwrap_err().to_string();
            assert!(
                text.contains("JOBS_MISSED_RUN_GRACE_SECS") && text.contains(bad) && text.contains("60 to 86400"),
                "{text}"
            );
        }
    }

    #[test]
    fn aws_timeouts_are_read_and_checked() {
        let base = [("JOBS_QUEUE_URL", "http://q"), ("JOBS_TABLE_NAME", "t")];
        let cfg = Config::from_lookup(lookup(&[
            base[0],
            base[1],
            ("JOBS_AWS_ATTEMPT_TIMEOUT_SECS", "2"),
            ("JOBS_AWS_OPERATION_TIMEOUT_SECS", "7"),
        ]))
        .unwrap();
        assert_eq!(cfg.aws_timeouts.attempt, Duration::from_secs(2));
        assert_eq!(cfg.aws_timeouts.operation, Duration::from_secs(7));
        let err = Config::from_lookup(lookup(&[
            base[0],
            base[1],
            ("JOBS_AWS_ATTEMPT_TIMEOUT_SECS", "9"),
            ("JOBS_AWS_OPERATION_TIMEOUT_SECS", "3"),
        ]))
        .unwrap_err();
        assert!(err.to_string().contains("JOBS_AWS_OPERATION_TIMEOUT_SECS"), "{err}");
    }

    #[test]
    fn settings_that_would_hold_a_message_past_twelve_hours_are_refused() {
        let base = [("JOBS_QUEUE_URL", "http://q"), ("JOBS_TABLE_NAME", "t")];
        let with = |extra: &[(&'static str, &'static str)]| {
            let mut pairs = base.to_vec();
            pairs.extend_from_slice(extra);
            Config::from_lookup(lookup(&pairs))
        };
        let err = with(&[("JOBS_ATTEMPT_TIMEOUT_SECS", "21600")]).unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("JOBS_ATTEMPT_TIMEOUT_SECS") && text.contains("12 hours") && text.contains("64831 s"),
            "{text}"
        );
        assert!(
            with(&[("JOBS_ATTEMPT_TIMEOUT_SECS", "14000")]).is_ok(),
            "3 × 14000 s and delays fit"
        );
        assert!(with(&[("JOBS_MAX_ATTEMPTS", "100"), ("JOBS_ATTEMPT_TIMEOUT_SECS", "600")]).is_err());
        let visibility = with(&[("JOBS_VISIBILITY_TIMEOUT_SECS", "43201")]).unwrap_err();
        assert!(
            visibility.to_string().contains("JOBS_VISIBILITY_TIMEOUT_SECS"),
            "{visibility}"
        );
    }

    #[test]
    fn the_counting_mode_is_read_and_checked() {
        let base = [("JOBS_QUEUE_URL", "http://q"), ("JOBS_TABLE_NAME", "t")];
        let cfg = Config::from_lookup(lookup(&[base[0], base[1], ("JOBS_COUNTERS", "stream")])).unwrap();
        assert_eq!(cfg.counting, Some(Counting::Stream));
        let err = Config::from_lookup(lookup(&[base[0], base[1], ("JOBS_COUNTERS", "later")])).unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("JOBS_COUNTERS") && text.contains("later") && text.contains("stream"),
            "{text}"
        );
    }

    #[test]
    fn invalid_number_names_variable_and_value() {
        let err = Config::from_lookup(lookup(&[
            ("JOBS_QUEUE_URL", "http://q"),
            ("JOBS_TABLE_NAME", "t"),
            ("JOBS_MAX_ATTEMPTS", "zero"),
        ]))
        .unwrap_err();
        let text = err.to_string();
        assert!(text.contains("JOBS_MAX_ATTEMPTS") && text.contains("zero"), "{text}");
    }
}
