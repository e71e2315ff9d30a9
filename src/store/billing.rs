//! Per-minute billing arithmetic, kept pure so the rounding rules are tested on their own.

/// The price of a minute: what every CDR is charged at when it closes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tariff {
    /// Amount per started minute, in the currency's smallest unit (VND has no subunit).
    pub per_minute: u32,
    /// ISO 4217 code, e.g. "VND".
    pub currency: String,
}

const MINUTE_MS: u64 = 60_000;

/// Minutes billed for a call answered for `duration_ms`: every started minute counts, and the first
/// minute is billed from the moment of answer (its tick is written then), so even 0 ms bills 1.
pub fn billed_minutes(duration_ms: u64) -> u64 {
    duration_ms.div_ceil(MINUTE_MS).max(1)
}

/// `minutes × per_minute`, saturating rather than wrapping on absurd inputs.
pub(crate) fn amount(minutes: u64, tariff: &Tariff) -> u64 {
    minutes.saturating_mul(u64::from(tariff.per_minute))
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
        let tariff = Tariff {
            per_minute: 1000,
            currency: "VND".into(),
        };
        assert_eq!(amount(2, &tariff), 2000);
        assert_eq!(amount(u64::MAX, &tariff), u64::MAX);
    }
}
