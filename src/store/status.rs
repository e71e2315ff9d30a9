//! The status page's figures (`/`, src/http/status.rs): the calls of the last 24 clock hours
//! hour by hour, and what the local day has billed so far.
//!
//! Every figure comes from the CDRs, by answer time, so the page agrees with `hotline cdr
//! report` (`--by outcome` over the same hours, `--by day` for today):
//!
//! - calls: CDRs answered in the hour, calls still in progress included;
//! - resets, mismatches, lock-outs: those calls that ended `reset`, `mismatch` or
//!   `too_many_attempts`; a call in progress counts as a call only, until it ends. Not the
//!   audit's verifications: a caller whose number is locked out already is refused before
//!   keying anything, which the audit (a record of verifications) never sees and the CDR does,
//!   and those refusals are the ones that show someone hammering the line. Today a call
//!   verifies at most once, so resets and mismatches also equal `hotline audit export`'s rows
//!   of those results, give or take a call answered just before an hour and verified after it.
//! - today's calls, billed minutes and amount: [`Store::cdr_report`] by day, unchanged.
//!
//! Hours are clock hours in the operator's local time (`billing.utc_offset`), the last one the
//! hour in progress: an offset like +05:45 starts them at a quarter past the UTC hour.

use time::{Date, Duration, OffsetDateTime, Time};

use super::report::{Period, ReportGroup};
use super::{Store, StoreError, clock};
use crate::domain::{LocalOffset, Outcome};

/// How many hours the page shows, the hour in progress last.
pub const STATUS_HOURS: usize = 24;

const MILLIS_PER_HOUR: i64 = 3_600_000;

/// One clock hour's calls and what they ended in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HourFigures {
    /// The hour's start, in the local offset.
    pub start: OffsetDateTime,
    pub calls: i64,
    pub resets: i64,
    pub mismatches: i64,
    pub lockouts: i64,
}

/// One currency's amount.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Amount {
    pub amount: i64,
    pub currency: String,
}

/// What the local day has billed so far.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DayBilling {
    pub day: Date,
    /// Calls answered today, in progress included.
    pub calls: i64,
    /// Minutes of the calls that ended (an open call is billed when it ends).
    pub billed_minutes: i64,
    /// One per currency billed today; none while no call of the day has ended.
    pub amounts: Vec<Amount>,
}

/// Everything the status page reads from the database.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StatusFigures {
    /// [`STATUS_HOURS`] hours, oldest first.
    pub hours: Vec<HourFigures>,
    pub today: DayBilling,
}

/// Per local hour number (hours since 1970-01-01 00:00 local time): calls and their outcomes.
/// Grouped by the database so it sends 24 rows, not the CDRs; the range on `answered_at` reads
/// the `cdrs_answered_at` index (migration 0005).
pub(super) const HOURLY: &str = "SELECT (answered_at + $3) / 3600000, COUNT(*), \
     SUM(CASE WHEN outcome = $4 THEN 1 ELSE 0 END), \
     SUM(CASE WHEN outcome = $5 THEN 1 ELSE 0 END), \
     SUM(CASE WHEN outcome = $6 THEN 1 ELSE 0 END) \
     FROM cdrs WHERE answered_at >= $1 AND answered_at < $2 GROUP BY 1";

/// The 24 clock hours ending with the one `now` is in.
#[derive(Clone, Copy, Debug)]
struct HourWindow {
    /// The first hour's local hour number.
    first: i64,
    offset_ms: i64,
}

impl HourWindow {
    fn at(now: OffsetDateTime, offset: LocalOffset) -> Result<HourWindow, StoreError> {
        let offset_ms = i64::from(offset.whole_seconds()) * 1000;
        let current = (clock::to_millis(now)? + offset_ms).div_euclid(MILLIS_PER_HOUR);
        Ok(HourWindow {
            first: current - (STATUS_HOURS as i64 - 1),
            offset_ms,
        })
    }

    /// Unix milliseconds where local hour number `hour` starts.
    fn start_ms(self, hour: i64) -> i64 {
        hour * MILLIS_PER_HOUR - self.offset_ms
    }

    fn since_ms(self) -> i64 {
        self.start_ms(self.first)
    }

    fn until_ms(self) -> i64 {
        self.start_ms(self.first + STATUS_HOURS as i64)
    }
}

impl Store {
    /// The status page's figures at `now`, days and hours in `offset`.
    pub async fn status_figures(
        &self,
        now: OffsetDateTime,
        offset: LocalOffset,
    ) -> Result<StatusFigures, StoreError> {
        let hours = self.hourly_figures(now, offset).await?;
        let today = self.day_billing(now, offset).await?;
        Ok(StatusFigures { hours, today })
    }

    async fn hourly_figures(
        &self,
        now: OffsetDateTime,
        offset: LocalOffset,
    ) -> Result<Vec<HourFigures>, StoreError> {
        let window = HourWindow::at(now, offset)?;
        let rows: Vec<(i64, i64, i64, i64, i64)> = sqlx::query_as(HOURLY)
            .bind(window.since_ms())
            .bind(window.until_ms())
            .bind(window.offset_ms)
            .bind(Outcome::Reset.as_str())
            .bind(Outcome::Mismatch.as_str())
            .bind(Outcome::TooManyAttempts.as_str())
            .fetch_all(self.pool())
            .await?;
        (window.first..window.first + STATUS_HOURS as i64)
            .map(|hour| {
                let start = clock::from_millis(window.start_ms(hour), "cdrs.answered_at")?
                    .to_offset(offset.get());
                let found = rows.iter().find(|row| row.0 == hour);
                let (_, calls, resets, mismatches, lockouts) =
                    found.copied().unwrap_or((hour, 0, 0, 0, 0));
                Ok(HourFigures {
                    start,
                    calls,
                    resets,
                    mismatches,
                    lockouts,
                })
            })
            .collect()
    }

    /// Today's lines of `hotline cdr report --by day`, added up over currencies.
    async fn day_billing(
        &self,
        now: OffsetDateTime,
        offset: LocalOffset,
    ) -> Result<DayBilling, StoreError> {
        let day = now.to_offset(offset.get()).date();
        let midnight = day.with_time(Time::MIDNIGHT).assume_offset(offset.get());
        let today = Period {
            since: Some(midnight),
            until: Some(midnight + Duration::days(1)),
        };
        let lines = self.cdr_report(ReportGroup::Day, today, offset).await?;
        Ok(DayBilling {
            day,
            calls: lines.iter().map(|l| l.calls).sum(),
            billed_minutes: lines.iter().map(|l| l.billed_minutes).sum(),
            amounts: lines
                .into_iter()
                .filter(|l| !l.currency.is_empty())
                .map(|l| Amount {
                    amount: l.amount,
                    currency: l.currency,
                })
                .collect(),
        })
    }
}
