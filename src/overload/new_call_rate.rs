//! `sip.max_new_calls_per_second` as a token bucket: a plain value fed the time, so tests drive
//! it with an invented clock and no sleeping.
//!
//! A token bucket rather than a count per calendar second: a count resets at the second's edge,
//! so twice the rate can pass in the few milliseconds around it; the bucket refills evenly and
//! lets at most one second's worth through at once.

use std::time::Duration;

use tokio::time::Instant;

/// What one call costs in credit: a call per second of credit at a rate of one per second.
/// Credit is counted in integers (a second's nanoseconds times the rate), so a steady stream at
/// exactly the rate passes exactly, with no floating-point drift.
const CALL: u64 = 1_000_000_000;

/// New calls allowed per second, with bursts of up to one second's worth.
#[derive(Clone, Debug)]
pub struct NewCallRate {
    per_second: u64,
    /// Earned at `per_second` per nanosecond; a call spends [`CALL`]. At most one second's worth
    /// (`per_second` calls) is kept.
    credit: u64,
    /// When `credit` was last brought up to date.
    updated: Instant,
}

impl NewCallRate {
    /// A full bucket for `per_second` new calls a second (0 is taken as 1: a node that may never
    /// take a call is not a rate).
    pub fn new(per_second: u32, now: Instant) -> NewCallRate {
        let per_second = u64::from(per_second.max(1));
        NewCallRate {
            per_second,
            credit: per_second * CALL,
            updated: now,
        }
    }

    /// Takes one new call at `now`; when the rate is used up, how long until the next would pass.
    pub fn try_take(&mut self, now: Instant) -> Result<(), Duration> {
        self.refill(now);
        if self.credit >= CALL {
            self.credit -= CALL;
            Ok(())
        } else {
            let missing = CALL - self.credit;
            Err(Duration::from_nanos(missing.div_ceil(self.per_second)))
        }
    }

    fn capacity(&self) -> u64 {
        self.per_second * CALL
    }

    fn refill(&mut self, now: Instant) {
        // An earlier `now` (a caller's stale reading) earns nothing rather than panicking.
        let elapsed = now.saturating_duration_since(self.updated);
        self.updated = self.updated.max(now);
        // Beyond a second the bucket is full anyway; capping first keeps the product in range.
        let nanos = elapsed.min(Duration::from_secs(1)).as_nanos() as u64;
        self.credit = (self.credit + nanos * self.per_second).min(self.capacity());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    /// How many of `n` attempts at the same instant pass.
    fn passed(rate: &mut NewCallRate, n: usize, at: Instant) -> usize {
        (0..n).filter(|_| rate.try_take(at).is_ok()).count()
    }

    #[test]
    fn a_burst_passes_up_to_one_seconds_worth_then_waits_for_the_refill() {
        let t0 = Instant::now();
        let mut rate = NewCallRate::new(10, t0);
        assert_eq!(passed(&mut rate, 25, t0), 10);
        let wait = rate.try_take(t0).unwrap_err();
        assert_eq!(wait, ms(100), "one token refills in 1/10 s");
        // 250 ms later two and a half tokens have come back: two calls pass.
        assert_eq!(passed(&mut rate, 5, t0 + ms(250)), 2);
        assert_eq!(rate.try_take(t0 + ms(250)).unwrap_err(), ms(50));
    }

    #[test]
    fn a_steady_stream_at_the_rate_always_passes_and_above_it_does_not() {
        let t0 = Instant::now();
        let mut rate = NewCallRate::new(100, t0);
        assert_eq!(passed(&mut rate, 100, t0), 100, "the first second's burst");
        // Then one call every 10 ms, exactly the rate, for 10 s: all pass.
        let steady = (1..=1000)
            .filter(|i| rate.try_take(t0 + ms(10 * i)).is_ok())
            .count();
        assert_eq!(steady, 1000);
        // Two calls every 10 ms for the next 10 s: only the rate's worth passes.
        let t1 = t0 + ms(10_000);
        let doubled = (1..=1000)
            .map(|i| passed(&mut rate, 2, t1 + ms(10 * i)))
            .sum::<usize>();
        assert_eq!(doubled, 1000);
    }

    #[test]
    fn an_idle_bucket_holds_no_more_than_one_seconds_worth() {
        let t0 = Instant::now();
        let mut rate = NewCallRate::new(5, t0);
        assert_eq!(passed(&mut rate, 5, t0), 5);
        assert_eq!(passed(&mut rate, 100, t0 + Duration::from_secs(3600)), 5);
    }

    #[test]
    fn zero_is_taken_as_one_and_an_earlier_time_adds_nothing() {
        let t0 = Instant::now() + Duration::from_secs(10);
        let mut rate = NewCallRate::new(0, t0);
        assert!(rate.try_take(t0).is_ok());
        assert!(rate.try_take(t0 - Duration::from_secs(5)).is_err());
        assert!(rate.try_take(t0 + ms(999)).is_err());
        assert!(rate.try_take(t0 + ms(1000)).is_ok());
    }
}
