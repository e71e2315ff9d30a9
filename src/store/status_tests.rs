//! The status page's figures on both databases: hour boundaries, the local offset, calls still
//! open, agreement with `hotline cdr report`, and the index the hourly query reads.

use sqlx::Row;
use time::macros::{date, datetime};
use time::{Duration, OffsetDateTime};

use super::status::HOURLY;
use super::testing::{answered_call, on_both_databases};
use super::*;
use crate::domain::{CallId, LocalOffset, Outcome};

/// 10:30 in Vietnam on 2 December: the window is 1 Dec 11:00 to 2 Dec 11:00 local time,
/// 04:00 to 04:00 UTC.
const NOW: OffsetDateTime = datetime!(2026-12-02 03:30:00 UTC);

/// A call answered at `answered_at`, ended 30 s later with `outcome`, or still open.
async fn call(store: &Store, id: &str, answered_at: OffsetDateTime, outcome: Option<Outcome>) {
    store
        .open_cdr(&answered_call(id, "node-a", answered_at))
        .await
        .unwrap();
    if let Some(outcome) = outcome {
        let ended_at = answered_at + Duration::seconds(30);
        let closed = store
            .close_cdr(&CallId::new(id), ended_at, outcome, 1000, "VND")
            .await
            .unwrap();
        assert!(closed);
    }
}

/// `(calls, resets, mismatches, lockouts)` of an hour.
fn counts(hour: &HourFigures) -> (i64, i64, i64, i64) {
    (hour.calls, hour.resets, hour.mismatches, hour.lockouts)
}

async fn hours_are_the_24_clock_hours_ending_with_the_current_one(store: Store) {
    use Outcome::*;
    call(
        &store,
        "before",
        datetime!(2026-12-01 03:59:59.999 UTC),
        Some(Reset),
    )
    .await;
    call(
        &store,
        "first",
        datetime!(2026-12-01 04:00:00 UTC),
        Some(Reset),
    )
    .await;
    call(
        &store,
        "first-end",
        datetime!(2026-12-01 04:59:59.999 UTC),
        Some(Mismatch),
    )
    .await;
    call(
        &store,
        "second",
        datetime!(2026-12-01 05:00:00 UTC),
        Some(TooManyAttempts),
    )
    .await;
    call(
        &store,
        "abandoned",
        datetime!(2026-12-02 03:00:00 UTC),
        Some(Abandoned),
    )
    .await;
    call(&store, "open", datetime!(2026-12-02 03:29:00 UTC), None).await;
    call(
        &store,
        "next-hour",
        datetime!(2026-12-02 04:00:00 UTC),
        Some(Reset),
    )
    .await;

    let figures = store
        .status_figures(NOW, LocalOffset::VIETNAM)
        .await
        .unwrap();
    let hours = &figures.hours;
    assert_eq!(hours.len(), STATUS_HOURS);
    assert_eq!(hours[0].start, datetime!(2026-12-01 11:00 +07:00));
    assert_eq!(hours[23].start, datetime!(2026-12-02 10:00 +07:00));
    assert_eq!(hours[0].start.offset(), LocalOffset::VIETNAM.get());
    for pair in hours.windows(2) {
        assert_eq!(pair[1].start - pair[0].start, Duration::HOUR);
    }
    assert_eq!(counts(&hours[0]), (2, 1, 1, 0), "the first hour, both ends");
    assert_eq!(counts(&hours[1]), (1, 0, 0, 1));
    assert_eq!(
        counts(&hours[23]),
        (2, 0, 0, 0),
        "an abandoned call and an open one are calls, neither a reset nor a mismatch"
    );
    let quiet: i64 = hours[2..23].iter().map(|h| h.calls).sum();
    assert_eq!(
        quiet, 0,
        "nothing else; before and after the window left out"
    );
}

async fn hours_start_at_local_clock_hours_whatever_the_offset(store: Store) {
    // +05:45: local hours start at a quarter past the UTC hour.
    let nepal = LocalOffset::parse("+05:45").unwrap();
    let now = datetime!(2026-12-02 04:20:00 UTC); // 10:05 local
    call(
        &store,
        "too-early",
        datetime!(2026-12-01 05:14:59 UTC),
        None,
    )
    .await;
    call(&store, "first", datetime!(2026-12-01 05:15:00 UTC), None).await;
    call(
        &store,
        "nine-something",
        datetime!(2026-12-02 04:14:59 UTC),
        None,
    )
    .await;
    call(&store, "ten", datetime!(2026-12-02 04:15:00 UTC), None).await;

    let hours = store.status_figures(now, nepal).await.unwrap().hours;
    assert_eq!(hours[0].start, datetime!(2026-12-01 11:00 +05:45));
    assert_eq!(hours[0].calls, 1);
    assert_eq!(hours[22].start, datetime!(2026-12-02 09:00 +05:45));
    assert_eq!(hours[22].calls, 1);
    assert_eq!(hours[23].calls, 1);
    assert_eq!(hours.iter().map(|h| h.calls).sum::<i64>(), 3);

    // The same calls in UTC: whole UTC hours, the window 05:00 to 05:00.
    let utc = LocalOffset::parse("+00:00").unwrap();
    let hours = store.status_figures(now, utc).await.unwrap().hours;
    assert_eq!(hours[23].start, datetime!(2026-12-02 04:00 UTC));
    assert_eq!(hours[23].calls, 2, "04:14:59 and 04:15 share the UTC hour");
    assert_eq!(hours[0].calls, 2, "05:14:59 is in UTC's first hour");
}

async fn today_is_billed_as_cdr_report_bills_it_open_calls_included(store: Store) {
    use Outcome::*;
    // 23:59:59 local on 1 December: yesterday's, in the chart but not in today's billing.
    call(
        &store,
        "yesterday",
        datetime!(2026-12-01 16:59:59 UTC),
        Some(Reset),
    )
    .await;
    call(
        &store,
        "midnight",
        datetime!(2026-12-01 17:00:00 UTC),
        Some(Mismatch),
    )
    .await;
    call(
        &store,
        "morning",
        datetime!(2026-12-02 02:00:00 UTC),
        Some(Reset),
    )
    .await;
    call(&store, "open", datetime!(2026-12-02 03:00:00 UTC), None).await;

    let today = store
        .status_figures(NOW, LocalOffset::VIETNAM)
        .await
        .unwrap()
        .today;
    assert_eq!(
        today,
        DayBilling {
            day: date!(2026 - 12 - 02),
            calls: 3,
            billed_minutes: 2,
            amounts: vec![Amount {
                amount: 2000,
                currency: "VND".into()
            }],
        }
    );
    let report = store
        .cdr_report(
            ReportGroup::Day,
            Period {
                since: Some(datetime!(2026-12-02 00:00 +07:00)),
                until: Some(datetime!(2026-12-03 00:00 +07:00)),
            },
            LocalOffset::VIETNAM,
        )
        .await
        .unwrap();
    assert_eq!(
        report,
        [ReportLine {
            group: "2026-12-02".into(),
            calls: today.calls,
            billed_minutes: today.billed_minutes,
            amount: today.amounts[0].amount,
            currency: today.amounts[0].currency.clone(),
        }]
    );

    let tomorrow = NOW + Duration::days(1);
    let quiet = store
        .status_figures(tomorrow, LocalOffset::VIETNAM)
        .await
        .unwrap();
    assert_eq!(
        quiet.today,
        DayBilling {
            day: date!(2026 - 12 - 03),
            calls: 0,
            billed_minutes: 0,
            amounts: vec![],
        }
    );
    assert!(quiet.hours.iter().all(|h| counts(h) == (0, 0, 0, 0)));
}

/// The plan of the hourly query reads CDRs by the `cdrs_answered_at` index. PostgreSQL would scan
/// a table this small whatever indexes it has, so sequential scans are priced out for the check:
/// an index it cannot use stays unused even then.
async fn the_hourly_query_reads_cdrs_by_answer_time_index(store: Store) {
    let mut tx = store.pool().begin().await.unwrap();
    let explain = match store.backend() {
        Backend::Sqlite => "EXPLAIN QUERY PLAN",
        Backend::Postgres => {
            sqlx::query("SET LOCAL enable_seqscan = off")
                .execute(&mut *tx)
                .await
                .unwrap();
            "EXPLAIN"
        }
    };
    let sql = sqlx::AssertSqlSafe(format!("{explain} {HOURLY}"));
    let plan: Vec<String> = sqlx::query(sql)
        .bind(0_i64)
        .bind(1_i64)
        .bind(0_i64)
        .bind("reset")
        .bind("mismatch")
        .bind("too_many_attempts")
        .fetch_all(&mut *tx)
        .await
        .unwrap()
        .iter()
        .map(|row| row.try_get::<String, _>(row.len() - 1).unwrap())
        .collect();
    let plan = plan.join("\n");
    assert!(plan.contains("cdrs_answered_at"), "{plan}");
}

on_both_databases!(
    hours_are_the_24_clock_hours_ending_with_the_current_one,
    hours_start_at_local_clock_hours_whatever_the_offset,
    today_is_billed_as_cdr_report_bills_it_open_calls_included,
    the_hourly_query_reads_cdrs_by_answer_time_index,
);
