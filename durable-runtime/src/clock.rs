//! The single place that reads the wall clock (enforced by `clippy.toml`).

use chrono::{DateTime, Utc};

/// The current UTC time, with microsecond precision so that timestamps survive a round
/// trip through any store unchanged.
#[allow(clippy::disallowed_methods)]
pub(crate) fn now() -> DateTime<Utc> {
    let now = Utc::now();
    DateTime::from_timestamp_micros(now.timestamp_micros()).unwrap_or(now)
}

/// Milliseconds since the Unix epoch, for leases and message visibility.
pub(crate) fn now_millis() -> i64 {
    now().timestamp_millis()
}
