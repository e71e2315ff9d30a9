//! Per-minute billing arithmetic, kept pure so the rounding rules are tested on their own.

const MINUTE_MS: u64 = 60_000;

/// Minutes billed for a call answered for `duration_ms`: every started minute counts, and the first
/// minute is billed from the moment of answer (its tick is written then), so even 0 ms bills 1.
pub fn billed_minutes(duration_ms: u64) -> u64 {
    duration_ms.div_ceil(MINUTE_MS).max(1)
}

/// `minutes × rate_per_minute`, saturating rather than wrapping on absurd inputs. Amounts are in
/// the currency's smallest unit (VND has no subunit).
pub fn amount(minutes: u64, rate_per_minute: u32) -> u64 {
    minutes.saturating_mul(u64::from(rate_per_minute))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_started_minute_is_billed() {
        assert_eq!(billed_minutes(59_999), 1);
        assert_eq!(billed_minutes(60_000), 1);
        assert_eq!(billed_minutes(60_001), 2);
        assert_eq!(billed_minutes(119_999), 2);
        assert_eq!(billed_minutes(120_000), 2);
    }

    #[test]
    fn the_first_minute_is_billed_from_answer() {
        assert_eq!(billed_minutes(0), 1);
        assert_eq!(billed_minutes(1), 1);
    }

    #[test]
    fn long_calls_bill_by_the_minute() {
        assert_eq!(billed_minutes(3 * 3_600_000), 180);
        assert_eq!(billed_minutes(3 * 3_600_000 + 1), 181);
    }

    #[test]
    fn amount_is_minutes_times_rate() {
        assert_eq!(amount(2, 1000), 2000);
        assert_eq!(amount(1, 0), 0);
        assert_eq!(amount(u64::MAX, 1000), u64::MAX);
    }
}
