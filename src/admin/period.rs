//! `--since` and `--until` of the report commands: a local day (`2026-12-01`) or a number of
//! days back from now (`30d`). A day is the operator's (`billing.utc_offset`); `--until DAY`
//! includes that day, so `--since 2026-12-01 --until 2026-12-01` is one whole day.

use time::macros::format_description;
use time::{Date, Duration, OffsetDateTime, Time};

use crate::domain::LocalOffset;
use crate::store::Period;

/// One side of a period as typed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Bound {
    /// A local calendar day.
    Day(Date),
    /// So many days before now.
    DaysAgo(u32),
}

/// Why a bound was refused (the flag is named by the caller).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is neither a day like 2026-12-01 nor a number of days back like 30d")]
pub struct BoundError(String);

impl Bound {
    pub fn parse(raw: &str) -> Result<Bound, BoundError> {
        let raw = raw.trim();
        if let Some(days) = raw.strip_suffix('d') {
            return days
                .parse()
                .ok()
                .filter(|&n| n <= 36_500)
                .map(Bound::DaysAgo)
                .ok_or_else(|| BoundError(raw.to_owned()));
        }
        Date::parse(raw, format_description!("[year]-[month]-[day]"))
            .map(Bound::Day)
            .map_err(|_| BoundError(raw.to_owned()))
    }

    /// The instant a period starting here starts at.
    fn start(self, offset: LocalOffset, now: OffsetDateTime) -> OffsetDateTime {
        match self {
            Bound::Day(day) => day.with_time(Time::MIDNIGHT).assume_offset(offset.get()),
            Bound::DaysAgo(n) => now - Duration::days(i64::from(n)),
        }
    }

    /// The instant a period ending here ends at (excluded): after the whole of a named day.
    fn end(self, offset: LocalOffset, now: OffsetDateTime) -> OffsetDateTime {
        match self {
            Bound::Day(_) => self.start(offset, now) + Duration::days(1),
            Bound::DaysAgo(_) => self.start(offset, now),
        }
    }
}

impl std::str::FromStr for Bound {
    type Err = BoundError;

    fn from_str(raw: &str) -> Result<Bound, BoundError> {
        Bound::parse(raw)
    }
}

/// The period `--since`/`--until` name, at `now`.
pub fn period(
    since: Option<Bound>,
    until: Option<Bound>,
    offset: LocalOffset,
    now: OffsetDateTime,
) -> Period {
    Period {
        since: since.map(|b| b.start(offset, now)),
        until: until.map(|b| b.end(offset, now)),
    }
}

#[cfg(test)]
mod tests {
    use time::macros::{date, datetime};

    use super::*;

    const NOW: OffsetDateTime = datetime!(2026-12-03 04:00:00 UTC);

    #[test]
    fn days_and_days_back_parse_and_the_rest_is_refused() {
        assert_eq!(
            Bound::parse("2026-12-01"),
            Ok(Bound::Day(date!(2026 - 12 - 01)))
        );
        assert_eq!(Bound::parse("30d"), Ok(Bound::DaysAgo(30)));
        assert_eq!(Bound::parse("0d"), Ok(Bound::DaysAgo(0)));
        for bad in [
            "2026-13-01",
            "01/12/2026",
            "30",
            "d",
            "-3d",
            "yesterday",
            "",
        ] {
            let err = Bound::parse(bad).unwrap_err();
            assert!(err.to_string().contains("like 30d"), "{bad}: {err}");
        }
    }

    #[test]
    fn a_named_day_runs_from_local_midnight_to_the_next_and_until_includes_it() {
        let day = Bound::parse("2026-12-01").unwrap();
        let period = period(Some(day), Some(day), LocalOffset::VIETNAM, NOW);
        assert_eq!(period.since, Some(datetime!(2026-11-30 17:00:00 UTC)));
        assert_eq!(period.until, Some(datetime!(2026-12-01 17:00:00 UTC)));
    }

    #[test]
    fn days_back_count_from_now_and_open_sides_stay_open() {
        let period = period(Some(Bound::DaysAgo(30)), None, LocalOffset::VIETNAM, NOW);
        assert_eq!(period.since, Some(datetime!(2026-11-03 04:00:00 UTC)));
        assert_eq!(period.until, None);
    }
}
