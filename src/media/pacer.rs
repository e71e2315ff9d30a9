//! The 20 ms clock of one outgoing stream. Deadlines are computed from the start
//! (`start + n × 20 ms`), never from the previous wake-up, so timer lateness does not add up:
//! after ten minutes the stream has sent exactly 30 000 frames. A wake-up so late that further
//! deadlines have already passed skips those frames instead of sending them in a burst, which a
//! receiver's jitter buffer would drop or stretch anyway.

use std::time::Duration;

use tokio::time::Instant;

/// The packetisation interval (`a=ptime:20`).
pub const FRAME_INTERVAL: Duration = Duration::from_millis(20);

#[derive(Debug, Clone)]
pub struct Pacer {
    start: Instant,
    interval: Duration,
    /// Index of the next frame to send.
    next: u64,
}

impl Pacer {
    /// A frame every 20 ms; the first is due at `start`.
    pub fn new(start: Instant) -> Pacer {
        Pacer::every(start, FRAME_INTERVAL)
    }

    /// A deadline every `interval` (the media pump's slots); the first at `start`.
    pub fn every(start: Instant, interval: Duration) -> Pacer {
        Pacer {
            start,
            interval: interval.max(Duration::from_micros(1)),
            next: 0,
        }
    }

    /// When the next frame is due.
    pub fn deadline(&self) -> Instant {
        let nanos = u128::from(self.next).saturating_mul(self.interval.as_nanos());
        self.start + Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
    }

    /// Records that the frame due at [`Pacer::deadline`] was sent at `now`; returns how many
    /// following deadlines are already overdue by a whole interval and are skipped.
    pub fn sent(&mut self, now: Instant) -> u32 {
        let late = now.saturating_duration_since(self.deadline());
        let missed = late.as_nanos() / self.interval.as_nanos();
        let missed = u32::try_from(missed).unwrap_or(u32::MAX);
        self.next = self
            .next
            .saturating_add(1)
            .saturating_add(u64::from(missed));
        missed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn deadlines_are_multiples_of_20_ms_from_the_start() {
        let start = Instant::now();
        let mut pacer = Pacer::new(start);
        assert_eq!(pacer.deadline(), start);
        // Waking a little late each time does not shift later deadlines.
        for n in 1..=1000u64 {
            assert_eq!(pacer.sent(pacer.deadline() + ms(7)), 0);
            assert_eq!(pacer.deadline(), start + ms(20 * n));
        }
    }

    #[test]
    fn another_interval_paces_the_same_way() {
        let start = Instant::now();
        let mut pacer = Pacer::every(start, ms(2));
        for n in 1..=10_000u64 {
            assert_eq!(pacer.sent(pacer.deadline() + Duration::from_micros(300)), 0);
            assert_eq!(pacer.deadline(), start + ms(2 * n));
        }
        assert_eq!(pacer.sent(pacer.deadline() + ms(5)), 2);
    }

    #[test]
    fn a_late_wake_up_skips_whole_missed_frames() {
        let start = Instant::now();
        let mut pacer = Pacer::new(start);
        pacer.sent(start); // frame 0 on time
        // Frame 1 (due at 20 ms) is sent at 75 ms: frames 2 (40) and 3 (60) are overdue.
        assert_eq!(pacer.sent(start + ms(75)), 2);
        assert_eq!(pacer.deadline(), start + ms(80));
        // Just under one interval late skips nothing.
        assert_eq!(pacer.sent(start + ms(99)), 0);
        assert_eq!(pacer.deadline(), start + ms(100));
    }
}
