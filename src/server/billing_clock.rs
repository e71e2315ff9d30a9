//! When each billed minute starts. Minute 1 starts at the 200 OK; minute n starts once the call
//! has lasted more than (n − 1) minutes, so a call of exactly 60.000 s is one minute and one of
//! 60.001 s is two (billed minutes = ceil(duration / 60 s), at millisecond precision).

use tokio::time::{Duration, Instant};

const MINUTE: Duration = Duration::from_secs(60);
/// The resolution of durations in the CDR: minute n starts one tick after (n − 1) whole minutes.
const RESOLUTION: Duration = Duration::from_millis(1);

pub struct BillingClock {
    answered: Instant,
    /// The minute whose tick is written next.
    next_minute: u32,
}

impl BillingClock {
    /// Minute 1 is written at answer by the caller of `new`; the clock then counts from minute 2.
    pub fn new(answered: Instant) -> BillingClock {
        BillingClock {
            answered,
            next_minute: 2,
        }
    }

    /// The minute that starts next, and when.
    pub fn next(&self) -> (u32, Instant) {
        let whole_minutes = self.next_minute - 1;
        (
            self.next_minute,
            self.answered + MINUTE * whole_minutes + RESOLUTION,
        )
    }

    pub fn advance(&mut self) {
        self.next_minute += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minute_two_starts_just_after_sixty_seconds() {
        let t0 = Instant::now();
        let mut clock = BillingClock::new(t0);
        assert_eq!(clock.next(), (2, t0 + Duration::from_millis(60_001)));
        clock.advance();
        assert_eq!(clock.next(), (3, t0 + Duration::from_millis(120_001)));
    }
}
