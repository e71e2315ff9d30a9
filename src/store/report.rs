//! `hotline cdr report`: calls, billed minutes and amount per day, node or outcome, summed by
//! the database over the CDRs answered in a period. The figures are those of `hotline cdr
//! export` added up: an open CDR counts as a call with nothing billed yet.

use time::OffsetDateTime;

use super::{Store, StoreError, clock};
use crate::domain::LocalOffset;

/// What the report's lines are.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum ReportGroup {
    /// The operator's local day the call was answered on (`billing.utc_offset`).
    Day,
    /// The node that answered.
    Node,
    /// How the call ended (`in_progress` while it lasts).
    Outcome,
}

impl ReportGroup {
    /// The name of the report's first column.
    pub fn column(self) -> &'static str {
        match self {
            ReportGroup::Day => "day",
            ReportGroup::Node => "node",
            ReportGroup::Outcome => "outcome",
        }
    }
}

/// Answer times from `since` (included) to `until` (excluded); `None` leaves that side open.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Period {
    pub since: Option<OffsetDateTime>,
    pub until: Option<OffsetDateTime>,
}

/// One line of the report: one group in one currency.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReportLine {
    /// `2026-12-02`, a node's name, or an outcome.
    pub group: String,
    pub calls: i64,
    pub billed_minutes: i64,
    pub amount: i64,
    /// Empty while no CDR of the group is closed.
    pub currency: String,
}

/// A node from before nodes were recorded.
const UNKNOWN_NODE: &str = "unknown";
/// An open CDR's outcome.
const IN_PROGRESS: &str = "in_progress";
const MILLIS_PER_DAY: i64 = 86_400_000;

impl Store {
    /// The report's lines, in the order of their group, then currency.
    pub async fn cdr_report(
        &self,
        by: ReportGroup,
        period: Period,
        offset: LocalOffset,
    ) -> Result<Vec<ReportLine>, StoreError> {
        // The day is computed in SQL as a number (days since 1970-01-01 in local time), so
        // the database groups 20 million CDRs without sending them; text keeps one column type.
        let group = match by {
            ReportGroup::Day => "CAST((answered_at + $3) / 86400000 AS TEXT)",
            ReportGroup::Node => "COALESCE(node, '')",
            ReportGroup::Outcome => "COALESCE(outcome, '')",
        };
        let sql = sqlx::AssertSqlSafe(format!(
            "SELECT {group}, COALESCE(currency, ''), COUNT(*), \
             CAST(COALESCE(SUM(billed_minutes), 0) AS BIGINT), \
             CAST(COALESCE(SUM(amount), 0) AS BIGINT) \
             FROM cdrs WHERE answered_at >= $1 AND answered_at < $2 GROUP BY 1, 2"
        ));
        let since = period.since.map(clock::to_millis).transpose()?;
        let until = period.until.map(clock::to_millis).transpose()?;
        let mut query = sqlx::query_as::<_, (String, String, i64, i64, i64)>(sql)
            .bind(since.unwrap_or(i64::MIN))
            .bind(until.unwrap_or(i64::MAX));
        if by == ReportGroup::Day {
            query = query.bind(i64::from(offset.whole_seconds()) * 1000);
        }
        let rows = query.fetch_all(self.pool()).await?;
        let mut lines = rows
            .into_iter()
            .map(|(group, currency, calls, billed_minutes, amount)| {
                Ok(ReportLine {
                    group: group_name(by, group)?,
                    calls,
                    billed_minutes,
                    amount,
                    currency,
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        lines.sort_by(|a, b| (&a.group, &a.currency).cmp(&(&b.group, &b.currency)));
        Ok(fold_open_calls(lines))
    }
}

/// An open CDR has no currency yet (nothing is billed until it closes), so the database puts
/// it on a line of its own. When its group has one currency, its calls join that line: a day
/// reads as one line, not two. `lines` come grouped, a group's open line first.
pub fn fold_open_calls(lines: Vec<ReportLine>) -> Vec<ReportLine> {
    let mut folded: Vec<ReportLine> = Vec::with_capacity(lines.len());
    let mut start = 0;
    while start < lines.len() {
        let end = start
            + lines[start..]
                .iter()
                .take_while(|l| l.group == lines[start].group)
                .count();
        let group = &lines[start..end];
        match group {
            [open, billed] if open.currency.is_empty() => folded.push(ReportLine {
                calls: open.calls + billed.calls,
                ..billed.clone()
            }),
            _ => folded.extend_from_slice(group),
        }
        start = end;
    }
    folded
}

fn group_name(by: ReportGroup, raw: String) -> Result<String, StoreError> {
    Ok(match by {
        ReportGroup::Day => {
            let day: i64 = raw.parse().map_err(|_| StoreError::Corrupt {
                column: "cdrs.answered_at",
                reason: format!("day number {raw:?}"),
            })?;
            let start = clock::from_millis(day * MILLIS_PER_DAY, "cdrs.answered_at")?;
            start.date().to_string()
        }
        ReportGroup::Node if raw.is_empty() => UNKNOWN_NODE.to_owned(),
        ReportGroup::Outcome if raw.is_empty() => IN_PROGRESS.to_owned(),
        ReportGroup::Node | ReportGroup::Outcome => raw,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{CallId, Outcome};
    use crate::store::testing::{answered_call, on_both_databases};
    use time::macros::datetime;

    /// Four CDRs around local midnight of 2026-12-02 (+07:00 = 17:00 UTC), on two nodes and
    /// none, one still open.
    async fn calls(store: &Store) {
        let open = answered_call;
        let close = |id: &'static str, ended_at, outcome| async move {
            let call_id = CallId::new(id);
            store
                .close_cdr(&call_id, ended_at, outcome, 1000, "VND")
                .await
        };
        store
            .open_cdr(&open("late", "node-a", datetime!(2026-12-01 16:59:59 UTC)))
            .await
            .unwrap();
        close(
            "late",
            datetime!(2026-12-01 17:01:00 UTC),
            Outcome::Mismatch,
        )
        .await
        .unwrap();
        store
            .open_cdr(&open("early", "node-b", datetime!(2026-12-01 17:00:00 UTC)))
            .await
            .unwrap();
        close("early", datetime!(2026-12-01 17:00:30 UTC), Outcome::Reset)
            .await
            .unwrap();
        store
            .open_cdr(&open("open", "node-a", datetime!(2026-12-02 03:00:00 UTC)))
            .await
            .unwrap();
        // A call from before nodes were recorded.
        sqlx::query(
            "INSERT INTO cdrs (call_id, caller_raw, called, source, answered_at, ended_at, \
             duration_ms, billed_minutes, amount, currency, outcome) VALUES ('old', 'raw', \
             '19009068', 'src', $1, $2, 150000, 3, 3000, 'VND', 'reset')",
        )
        .bind(clock::to_millis(datetime!(2026-11-30 00:00:00 UTC)).unwrap())
        .bind(clock::to_millis(datetime!(2026-11-30 00:02:30 UTC)).unwrap())
        .execute(store.pool())
        .await
        .unwrap();
    }

    fn line(
        group: &str,
        calls: i64,
        billed_minutes: i64,
        amount: i64,
        currency: &str,
    ) -> ReportLine {
        ReportLine {
            group: group.into(),
            calls,
            billed_minutes,
            amount,
            currency: currency.into(),
        }
    }

    async fn days_start_at_local_midnight_and_open_calls_count_unbilled(store: Store) {
        calls(&store).await;
        let report = store
            .cdr_report(ReportGroup::Day, Period::default(), LocalOffset::VIETNAM)
            .await
            .unwrap();
        assert_eq!(
            report,
            [
                line("2026-11-30", 1, 3, 3000, "VND"),
                line("2026-12-01", 1, 2, 2000, "VND"),
                line("2026-12-02", 2, 1, 1000, "VND"),
            ]
        );
        let utc = LocalOffset::parse("+00:00").unwrap();
        let report = store
            .cdr_report(ReportGroup::Day, Period::default(), utc)
            .await
            .unwrap();
        assert_eq!(
            report,
            [
                line("2026-11-30", 1, 3, 3000, "VND"),
                line("2026-12-01", 2, 3, 3000, "VND"),
                line("2026-12-02", 1, 0, 0, ""),
            ],
            "in UTC both calls of the evening fall on 1 December"
        );
    }

    async fn nodes_and_outcomes_are_groups_too_and_the_period_bounds_answer_times(store: Store) {
        calls(&store).await;
        let all = Period::default();
        let by_node = store
            .cdr_report(ReportGroup::Node, all, LocalOffset::VIETNAM)
            .await
            .unwrap();
        assert_eq!(
            by_node,
            [
                line("node-a", 2, 2, 2000, "VND"),
                line("node-b", 1, 1, 1000, "VND"),
                line("unknown", 1, 3, 3000, "VND"),
            ]
        );
        let by_outcome = store
            .cdr_report(ReportGroup::Outcome, all, LocalOffset::VIETNAM)
            .await
            .unwrap();
        assert_eq!(
            by_outcome,
            [
                line("in_progress", 1, 0, 0, ""),
                line("mismatch", 1, 2, 2000, "VND"),
                line("reset", 2, 4, 4000, "VND"),
            ]
        );
        let evening = Period {
            since: Some(datetime!(2026-12-01 16:59:59 UTC)),
            until: Some(datetime!(2026-12-01 17:00:00 UTC)),
        };
        let report = store
            .cdr_report(ReportGroup::Node, evening, LocalOffset::VIETNAM)
            .await
            .unwrap();
        assert_eq!(
            report,
            [line("node-a", 1, 2, 2000, "VND")],
            "since included, until not"
        );
    }

    async fn an_empty_period_has_no_lines(store: Store) {
        calls(&store).await;
        let future = Period {
            since: Some(datetime!(2027-01-01 00:00:00 UTC)),
            until: None,
        };
        let report = store
            .cdr_report(ReportGroup::Day, future, LocalOffset::VIETNAM)
            .await
            .unwrap();
        assert!(report.is_empty());
    }

    #[test]
    fn open_calls_join_their_groups_single_currency_only() {
        let folded = fold_open_calls(vec![
            line("a", 2, 0, 0, ""),
            line("a", 3, 5, 5000, "VND"),
            line("b", 1, 0, 0, ""),
            line("c", 1, 0, 0, ""),
            line("c", 1, 1, 1000, "USD"),
            line("c", 1, 1, 1000, "VND"),
        ]);
        assert_eq!(
            folded,
            [
                line("a", 5, 5, 5000, "VND"),
                line("b", 1, 0, 0, ""),
                line("c", 1, 0, 0, ""),
                line("c", 1, 1, 1000, "USD"),
                line("c", 1, 1, 1000, "VND"),
            ]
        );
    }

    on_both_databases!(
        days_start_at_local_midnight_and_open_calls_count_unbilled,
        nodes_and_outcomes_are_groups_too_and_the_period_bounds_answer_times,
        an_empty_period_has_no_lines,
    );
}
