//! Retry policy: how many attempts a job gets and how long to wait before each retry.
//! [`RetryPolicy::after_failure`] is the one place that decides whether a failed attempt
//! is retried, and after how long; the job's state machine records the decision.
//!
//! Delays grow exponentially from `base_delay` (doubling, capped at `max_delay`) with a
//! random jitter of up to the same amount again, computed by `backon`: with the defaults
//! the first retry waits 1–2 s and the second 2–4 s.

use std::time::Duration;

use backon::{BackoffBuilder, ExponentialBuilder};

/// Attempts and delays for failed jobs.
#[derive(Debug, Clone, PartialEq)]
pub struct RetryPolicy {
    /// Attempts in all, the first included (1 + retries).
    pub max_attempts: u32,
    pub base_delay: Duration,
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 3,
            base_delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(30),
        }
    }
}

/// What follows a failed attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AfterFailure {
    /// Another attempt, after this delay.
    RetryIn(Duration),
    /// No retry: the job fails.
    Fail,
}

impl RetryPolicy {
    /// This policy with the attempt limit a job was registered with: a job keeps its limit
    /// when the configuration changes while it runs.
    pub fn limited_to(&self, max_attempts: u32) -> Self {
        Self {
            max_attempts,
            ..self.clone()
        }
    }

    /// The retry decision for failed attempt number `attempt` (1-based): a retry after
    /// [`Self::delay_after`] unless the error is permanent or no attempt is left.
    pub fn after_failure(&self, attempt: u32, permanent: bool) -> AfterFailure {
        if !permanent && self.allows_retry_after(attempt) {
            AfterFailure::RetryIn(self.delay_after(attempt))
        } else {
            AfterFailure::Fail
        }
    }

    /// Whether another attempt may follow attempt number `attempt` (1-based).
    pub fn allows_retry_after(&self, attempt: u32) -> bool {
        attempt < self.max_attempts
    }

    /// The delay to wait after failed attempt number `attempt` (1-based) before the next.
    pub fn delay_after(&self, attempt: u32) -> Duration {
        let nth = attempt.saturating_sub(1) as usize;
        ExponentialBuilder::default()
            .with_min_delay(self.base_delay)
            .with_max_delay(self.max_delay)
            .with_factor(2.0)
            .with_jitter()
            .without_max_times()
            .build()
            .nth(nth)
            .unwrap_or(self.max_delay)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_stop_at_max_attempts() {
        let p = RetryPolicy::default();
        assert!(p.allows_retry_after(1));
        assert!(p.allows_retry_after(2));
        assert!(!p.allows_retry_after(3));
    }

    #[test]
    fn permanent_errors_and_the_last_attempt_fail() {
        let p = RetryPolicy::default();
        assert!(matches!(p.after_failure(1, false), AfterFailure::RetryIn(d) if d >= Duration::from_secs(1)));
        assert_eq!(p.after_failure(1, true), AfterFailure::Fail);
        assert_eq!(p.after_failure(3, false), AfterFailure::Fail);
        assert!(matches!(
            p.limited_to(5).after_failure(3, false),
            AfterFailure::RetryIn(_)
        ));
    }

    #[test]
    fn delays_grow_with_jitter_within_bounds() {
        let p = RetryPolicy::default();
        for _ in 0..200 {
            let first = p.delay_after(1);
            let second = p.delay_after(2);
            assert!(
                first >= Duration::from_secs(1) && first <= Duration::from_secs(2),
                "{first:?}"
            );
            assert!(
                second >= Duration::from_secs(2) && second <= Duration::from_secs(4),
                "{second:?}"
            );
        }
        // Jitter: not every delay is the same.
        let samples: std::collections::HashSet<_> = (0..20).map(|_| p.delay_after(1)).collect();
        assert!(samples.len() > 1);
    }

    #[test]
    fn delay_is_capped() {
        let p = RetryPolicy {
            max_delay: Duration::from_secs(3),
            ..RetryPolicy::default()
        };
        for attempt in 1..10 {
            assert!(p.delay_after(attempt) <= Duration::from_secs(6));
        }
    }
}
