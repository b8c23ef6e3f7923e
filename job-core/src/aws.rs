//! AWS client set-up and error classification shared by the adapters.
//!
//! Every client honours `AWS_ENDPOINT_URL` (an emulator such as moto or LocalStack), the
//! usual credential chain and `AWS_REGION`.
//!
//! Every call has a deadline ([`AwsTimeouts`]): a connect timeout, a per-attempt timeout
//! and an operation timeout that bounds the SDK's retries, so a network that accepts
//! connections and never answers cannot hang a caller. The SQS long poll is the one call
//! that legitimately waits: its adapter widens the per-attempt timeout by the poll's wait
//! ([`AwsTimeouts::for_long_poll`]).

use std::fmt::Debug;
use std::time::Duration;

use aws_config::{BehaviorVersion, SdkConfig, timeout::TimeoutConfig};
use aws_sdk_dynamodb::config::http::HttpResponse;
use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};

/// The deadlines of every AWS call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AwsTimeouts {
    /// Establishing a connection.
    pub connect: Duration,
    /// One attempt: request sent, response read (`JOBS_AWS_ATTEMPT_TIMEOUT_SECS`).
    pub attempt: Duration,
    /// The whole call, the SDK's retries included (`JOBS_AWS_OPERATION_TIMEOUT_SECS`).
    pub operation: Duration,
}

impl Default for AwsTimeouts {
    fn default() -> Self {
        Self {
            connect: Duration::from_secs(3),
            attempt: Duration::from_secs(5),
            operation: Duration::from_secs(15),
        }
    }
}

impl AwsTimeouts {
    /// The SDK's form of these timeouts.
    pub fn config(&self) -> TimeoutConfig {
        TimeoutConfig::builder()
            .connect_timeout(self.connect)
            .read_timeout(self.attempt)
            .operation_attempt_timeout(self.attempt)
            .operation_timeout(self.operation)
            .build()
    }

    /// The timeouts of a long poll that may wait `wait` before it answers: each attempt
    /// gets the wait on top of the usual attempt timeout, and the call as a whole one
    /// such attempt on top of the usual operation timeout.
    pub fn for_long_poll(&self, wait: Duration) -> TimeoutConfig {
        let attempt = self.attempt + wait;
        TimeoutConfig::builder()
            .read_timeout(attempt)
            .operation_attempt_timeout(attempt)
            .operation_timeout(self.operation + attempt)
            .build()
    }
}

/// Loads the shared SDK configuration from the environment, with the default timeouts.
pub async fn sdk_config() -> SdkConfig {
    sdk_config_with(AwsTimeouts::default()).await
}

/// Loads the shared SDK configuration from the environment, with `timeouts`.
pub async fn sdk_config_with(timeouts: AwsTimeouts) -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .timeout_config(timeouts.config())
        .load()
        .await
}

/// Error codes that mean "try again later" rather than "this request is wrong".
const TRANSIENT_CODES: &[&str] = &[
    "ThrottlingException",
    "Throttling",
    "ProvisionedThroughputExceededException",
    "RequestLimitExceeded",
    "RequestThrottled",
    "ServiceUnavailable",
    "InternalServerError",
    "InternalServerException",
    "InternalFailure",
];

/// Whether an SDK error means the service was unreachable, timed out, throttled or
/// failed on its side (any 5xx).
pub fn is_transient<E>(err: &SdkError<E, HttpResponse>) -> bool
where
    E: ProvideErrorMetadata,
{
    match err {
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => true,
        SdkError::ServiceError(service) => {
            service.raw().status().is_server_error()
                || service.err().code().is_some_and(|code| TRANSIENT_CODES.contains(&code))
        }
        _ => false,
    }
}

/// The full text of an SDK error, with its causes and service message.
pub fn describe<E, R>(err: &SdkError<E, R>) -> String
where
    E: std::error::Error + 'static,
    R: Debug,
{
    DisplayErrorContext(err).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_call_has_a_deadline_and_the_long_poll_gets_its_wait_on_top() {
        let t = AwsTimeouts::default();
        let config = t.config();
        assert_eq!(config.connect_timeout(), Some(t.connect));
        assert_eq!(config.operation_attempt_timeout(), Some(t.attempt));
        assert_eq!(config.operation_timeout(), Some(t.operation));
        let poll = t.for_long_poll(Duration::from_secs(20));
        assert_eq!(poll.operation_attempt_timeout(), Some(Duration::from_secs(25)));
        assert_eq!(poll.read_timeout(), Some(Duration::from_secs(25)));
        assert!(poll.operation_timeout().unwrap() > Duration::from_secs(25));
    }
}
