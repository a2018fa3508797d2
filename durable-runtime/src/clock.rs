//! The single place that reads the wall clock (enforced by `clippy.toml`), and [`Clock`]:
//! the time source one store shares with its worker and its clients.
//!
//! [`Clock::System`] (the default) reads the wall clock and costs one branch more than
//! reading it directly. [`Clock::Virtual`] holds a [`VirtualClock`] that moves only when a
//! test moves it: the test kit (feature `testing`) gives one to each test environment, so
//! parallel tests never share time. Only the memory store honours a virtual clock; the
//! SQLite and PostgreSQL stores always run on the system clock.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use chrono::{DateTime, Utc};

/// The current UTC time, with microsecond precision so that timestamps survive a round
/// trip through any store unchanged.
#[allow(clippy::disallowed_methods)]
pub(crate) fn now() -> DateTime<Utc> {
    // Microseconds since the epoch straight from the system clock: one conversion to a
    // date, not the three of `Utc::now()` and a truncation.
    let micros = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .ok()
        .and_then(|since| i64::try_from(since.as_micros()).ok());
    match micros.and_then(DateTime::from_timestamp_micros) {
        Some(now) => now,
        None => {
            let now = Utc::now();
            DateTime::from_timestamp_micros(now.timestamp_micros()).unwrap_or(now)
        }
    }
}

/// Milliseconds since the Unix epoch, for leases and message visibility.
pub(crate) fn now_millis() -> i64 {
    now().timestamp_millis()
}

/// Where a store, its worker and its clients read the time: the wall clock, or a
/// [`VirtualClock`] that a test moves.
///
/// A store reports its clock through [`Store::clock`](crate::store::Store::clock); the
/// worker (timer wake-ups, leases, turn timestamps and so `current_time()`) and
/// [`DurableClient`](crate::DurableClient) (event and creation timestamps) take it from
/// there, so one store never mixes two clocks.
#[derive(Debug, Clone, Default)]
pub enum Clock {
    /// The wall clock (the default).
    #[default]
    System,
    /// A clock that moves only when told to (tests).
    Virtual(VirtualClock),
}

impl Clock {
    /// The current UTC time, with microsecond precision.
    pub fn now(&self) -> DateTime<Utc> {
        match self {
            Self::System => now(),
            Self::Virtual(clock) => clock.now(),
        }
    }

    /// The current time in milliseconds since the Unix epoch.
    pub fn now_millis(&self) -> i64 {
        self.now().timestamp_millis()
    }

    /// The virtual clock, when this is one.
    pub fn as_virtual(&self) -> Option<&VirtualClock> {
        match self {
            Self::System => None,
            Self::Virtual(clock) => Some(clock),
        }
    }
}

/// A clock that stands still until it is moved: [`advance`](Self::advance) or
/// [`advance_to`](Self::advance_to). Clones share one time.
///
/// Time never goes back: moving it to an earlier instant does nothing. Its resolution is a
/// microsecond, as stored timestamps.
#[derive(Debug, Clone)]
pub struct VirtualClock {
    micros: Arc<AtomicI64>,
}

impl VirtualClock {
    /// Makes a clock that stands at `start` (rounded down to the microsecond).
    pub fn new(start: DateTime<Utc>) -> Self {
        Self {
            micros: Arc::new(AtomicI64::new(start.timestamp_micros())),
        }
    }

    /// Makes a clock that stands at the wall clock's current time.
    pub fn starting_now() -> Self {
        Self::new(now())
    }

    /// The time the clock stands at.
    pub fn now(&self) -> DateTime<Utc> {
        DateTime::from_timestamp_micros(self.micros.load(Ordering::SeqCst)).unwrap_or_default()
    }

    /// Moves the clock forward by `by` (saturating at the largest representable time);
    /// returns the new time.
    pub fn advance(&self, by: Duration) -> DateTime<Utc> {
        let by = i64::try_from(by.as_micros()).unwrap_or(i64::MAX);
        let previous = self
            .micros
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |micros| {
                Some(micros.saturating_add(by).min(max_micros()))
            })
            .unwrap_or_default();
        DateTime::from_timestamp_micros(previous.saturating_add(by).min(max_micros()))
            .unwrap_or_default()
    }

    /// Moves the clock forward to `to`; a time at or before the current one leaves it
    /// where it is. Returns the new time.
    pub fn advance_to(&self, to: DateTime<Utc>) -> DateTime<Utc> {
        let to = to.timestamp_micros();
        let previous = self.micros.fetch_max(to, Ordering::SeqCst);
        DateTime::from_timestamp_micros(previous.max(to)).unwrap_or_default()
    }
}

/// The largest time chrono represents, in microseconds.
fn max_micros() -> i64 {
    DateTime::<Utc>::MAX_UTC.timestamp_micros()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_virtual_clock_moves_only_forward_and_only_when_told() {
        let start = DateTime::from_timestamp_micros(1_000_000).unwrap();
        let clock = VirtualClock::new(start);
        assert_eq!(clock.now(), start);
        let later = clock.advance(Duration::from_secs(72 * 3600));
        assert_eq!(later - start, chrono::TimeDelta::hours(72));
        assert_eq!(clock.advance_to(start), later, "never goes back");
        let shared = Clock::Virtual(clock.clone());
        assert_eq!(shared.now(), later);
        assert_eq!(shared.now_millis(), later.timestamp_millis());
        assert!(Clock::System.as_virtual().is_none());
    }

    #[test]
    #[allow(clippy::disallowed_methods, reason = "compares with the wall clock")]
    fn the_system_clock_reads_whole_microseconds_of_the_wall_clock() {
        let before = Utc::now();
        let now = Clock::System.now();
        let after = Utc::now();
        assert_eq!(now.timestamp_subsec_nanos() % 1_000, 0, "{now:?}");
        // Truncated to the microsecond, so at most a microsecond before `before`.
        assert!(before - chrono::TimeDelta::microseconds(1) <= now && now <= after);
        assert_eq!(
            DateTime::from_timestamp_micros(now.timestamp_micros()),
            Some(now),
            "survives a round trip through stored microseconds"
        );
    }
}
