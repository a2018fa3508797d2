use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::status::FailureDetails;

/// Decides whether a failure is worth retrying; see [`RetryPolicy::handle`].
pub type RetryPredicate = Arc<dyn Fn(&FailureDetails) -> bool + Send + Sync>;

/// How a failed durable call is retried; see
/// [`OrchestrationContext::call_activity_with_retry`](crate::OrchestrationContext::call_activity_with_retry).
///
/// Follows Durable Functions' `RetryOptions` (DTF `RetryInterceptor`): after failed attempt
/// *n* (from 1) the orchestrator waits `min(first_retry_interval × backoff_coefficient^(n-1),
/// max_retry_interval)` on a durable timer and tries again, until `max_attempts` attempts
/// were made, `retry_timeout` (counted from the first attempt's
/// [`current_time`](crate::OrchestrationContext::current_time)) has passed, the failure is
/// non-retriable, or `handle` says no. Each attempt and each wait is in the history, so
/// retries survive restarts. DTF's extra zero-delay timer after the last failure is not
/// reproduced.
#[derive(Clone)]
pub struct RetryPolicy {
    /// The wait after the first failure (must be more than zero).
    pub first_retry_interval: Duration,
    /// How many attempts in all, the first included (at least 1).
    pub max_attempts: u32,
    /// The factor each wait grows by (default 1.0: constant waits).
    pub backoff_coefficient: f64,
    /// The longest single wait (default 1 hour, as durabletask-dotnet's `RetryPolicy`).
    pub max_retry_interval: Duration,
    /// Stop retrying once this much orchestration time has passed since the first attempt
    /// (default none).
    pub retry_timeout: Option<Duration>,
    /// Decides whether a failure is worth retrying (default: every retriable failure).
    pub handle: Option<RetryPredicate>,
}

impl RetryPolicy {
    /// A policy of `max_attempts` attempts, waiting `first_retry_interval` between them.
    pub fn new(max_attempts: u32, first_retry_interval: Duration) -> Self {
        Self {
            first_retry_interval,
            max_attempts: max_attempts.max(1),
            backoff_coefficient: 1.0,
            max_retry_interval: Duration::from_secs(3600),
            retry_timeout: None,
            handle: None,
        }
    }

    /// Sets the backoff coefficient.
    pub fn with_backoff_coefficient(mut self, coefficient: f64) -> Self {
        self.backoff_coefficient = coefficient;
        self
    }

    /// Sets the longest single wait.
    pub fn with_max_retry_interval(mut self, max: Duration) -> Self {
        self.max_retry_interval = max;
        self
    }

    /// Sets the overall retry timeout.
    pub fn with_retry_timeout(mut self, timeout: Duration) -> Self {
        self.retry_timeout = Some(timeout);
        self
    }

    /// Retries only failures for which `handle` returns true.
    pub fn with_handle(
        mut self,
        handle: impl Fn(&FailureDetails) -> bool + Send + Sync + 'static,
    ) -> Self {
        self.handle = Some(Arc::new(handle));
        self
    }

    /// The wait after failed attempt `attempt` (from 1).
    pub fn delay(&self, attempt: u32) -> Duration {
        let exponent = i32::try_from(attempt.saturating_sub(1)).unwrap_or(i32::MAX);
        let factor = self.backoff_coefficient.max(0.0).powi(exponent);
        let seconds = self.first_retry_interval.as_secs_f64() * factor;
        if !seconds.is_finite() || seconds >= self.max_retry_interval.as_secs_f64() {
            self.max_retry_interval
        } else {
            Duration::from_secs_f64(seconds)
        }
    }

    /// Whether `failure` may be retried at all (not non-retriable, and `handle` agrees).
    pub fn should_retry(&self, failure: &FailureDetails) -> bool {
        !failure.non_retriable && self.handle.as_ref().is_none_or(|handle| handle(failure))
    }
}

impl fmt::Debug for RetryPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RetryPolicy")
            .field("first_retry_interval", &self.first_retry_interval)
            .field("max_attempts", &self.max_attempts)
            .field("backoff_coefficient", &self.backoff_coefficient)
            .field("max_retry_interval", &self.max_retry_interval)
            .field("retry_timeout", &self.retry_timeout)
            .field(
                "handle",
                &self.handle.as_ref().map(|_| "Fn(&FailureDetails) -> bool"),
            )
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_grow_and_are_capped() {
        let policy = RetryPolicy::new(5, Duration::from_secs(1))
            .with_backoff_coefficient(2.0)
            .with_max_retry_interval(Duration::from_secs(5));
        let delays: Vec<u64> = (1..=5).map(|n| policy.delay(n).as_secs()).collect();
        assert_eq!(delays, [1, 2, 4, 5, 5]);
        assert_eq!(RetryPolicy::new(0, Duration::from_secs(1)).max_attempts, 1);
        let mut failure = FailureDetails::new("x", "y");
        assert!(policy.should_retry(&failure));
        failure.non_retriable = true;
        assert!(!policy.should_retry(&failure));
        let picky = RetryPolicy::new(3, Duration::from_secs(1))
            .with_handle(|f| f.error_type == "transient");
        assert!(!picky.should_retry(&FailureDetails::new("fatal", "no")));
        assert!(picky.should_retry(&FailureDetails::new("transient", "again")));
    }
}
