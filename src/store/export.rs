//! `hotline cdr export`: every CDR as CSV, oldest first.

use std::io;

use time::OffsetDateTime;
use time::format_description::BorrowedFormatItem;
use time::macros::format_description;

use super::cdr::{CDR_COLUMNS, CdrRow, CdrTuple};
use super::{Store, StoreError, clock};

/// The export's header line, which billing tools rely on: new columns go at the end.
pub const CDR_CSV_HEADER: [&str; 11] = [
    "call_id",
    "caller",
    "called",
    "answered_at",
    "ended_at",
    "duration_ms",
    "billed_minutes",
    "amount",
    "currency",
    "outcome",
    "node",
];

/// RFC 3339 in UTC with milliseconds: `2026-11-23T11:52:07.123Z`.
const RFC3339_MILLIS: &[BorrowedFormatItem<'static>] =
    format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z");

/// Rows fetched per query, so a large table is streamed rather than loaded whole.
const PAGE: usize = 1000;

#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("cannot write the CSV: {0}")]
    Csv(#[from] csv::Error),
    #[error("cannot format a timestamp: {0}")]
    Time(#[from] time::error::Format),
}

impl Store {
    /// Writes every CDR to `writer` as CSV with [`CDR_CSV_HEADER`]: the caller is the normalised
    /// number when known, else as received; open CDRs have empty `ended_at` … `outcome` fields.
    /// Returns the number of rows written.
    pub async fn export_cdrs(&self, writer: impl io::Write) -> Result<u64, ExportError> {
        let mut csv = csv::Writer::from_writer(writer);
        csv.write_record(CDR_CSV_HEADER)?;
        let mut written = 0u64;
        let mut after: (i64, String) = (i64::MIN, String::new());
        loop {
            let page = self.cdr_page(&after).await?;
            for row in &page {
                csv.write_record(csv_fields(row)?)?;
                written += 1;
            }
            match page.last() {
                Some(last) if page.len() == PAGE => {
                    after = (
                        clock::to_millis(last.answered_at)?,
                        last.call_id.as_str().to_owned(),
                    );
                }
                _ => break,
            }
        }
        csv.flush().map_err(csv::Error::from)?;
        Ok(written)
    }

    /// The next page of CDRs after `(answered_at, call_id)`, in that order (keyset pagination).
    async fn cdr_page(&self, after: &(i64, String)) -> Result<Vec<CdrRow>, StoreError> {
        let sql = sqlx::AssertSqlSafe(format!(
            "SELECT {CDR_COLUMNS} FROM cdrs WHERE answered_at > $1 OR (answered_at = $1 AND call_id > $2) \
             ORDER BY answered_at, call_id LIMIT $3"
        ));
        let rows: Vec<CdrTuple> = sqlx::query_as(sql)
            .bind(after.0)
            .bind(&after.1)
            .bind(PAGE as i64)
            .fetch_all(self.pool())
            .await?;
        rows.into_iter().map(CdrRow::from_tuple).collect()
    }
}

fn csv_fields(row: &CdrRow) -> Result<[String; 11], time::error::Format> {
    let number = |n: Option<i64>| n.map(|n| n.to_string()).unwrap_or_default();
    Ok([
        row.call_id.as_str().to_owned(),
        row.caller.clone().unwrap_or_else(|| row.caller_raw.clone()),
        row.called.clone(),
        rfc3339(row.answered_at)?,
        row.ended_at.map(rfc3339).transpose()?.unwrap_or_default(),
        number(row.duration_ms),
        number(row.billed_minutes),
        number(row.amount),
        row.currency.clone().unwrap_or_default(),
        row.outcome
            .map(|o| o.as_str().to_owned())
            .unwrap_or_default(),
        row.node.clone().unwrap_or_default(),
    ])
}

pub(crate) fn rfc3339(at: OffsetDateTime) -> Result<String, time::error::Format> {
    at.to_offset(time::UtcOffset::UTC).format(RFC3339_MILLIS)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{CallId, Outcome};
    use crate::store::NewCdr;
    use crate::store::testing::{at, node, on_both_databases, phone};

    async fn cdrs_are_exported_oldest_first_with_the_billing_header(store: Store) {
        let cdr = |id: &str, caller: Option<&str>, seconds| NewCdr {
            call_id: CallId::new(id),
            caller_raw: "sip:0912345678@pbx".into(),
            caller: caller.map(phone),
            called: "19009068".into(),
            source: "192.0.2.10:5060".into(),
            answered_at: at(seconds),
            node: node("node-a"),
        };
        store.open_cdr(&cdr("second", None, 10.0)).await.unwrap();
        store
            .open_cdr(&cdr("first", Some("0912345678"), 0.25))
            .await
            .unwrap();
        store
            .close_cdr(
                &CallId::new("first"),
                at(60.251),
                Outcome::Mismatch,
                1000,
                "VND",
            )
            .await
            .unwrap();

        let mut out = Vec::new();
        assert_eq!(store.export_cdrs(&mut out).await.unwrap(), 2);
        let text = String::from_utf8(out).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines,
            [
                "call_id,caller,called,answered_at,ended_at,duration_ms,billed_minutes,amount,currency,outcome,node",
                "first,+84912345678,19009068,2026-11-23T08:00:00.250Z,2026-11-23T08:01:00.251Z,60001,2,2000,VND,mismatch,node-a",
                "second,sip:0912345678@pbx,19009068,2026-11-23T08:00:10.000Z,,,,,,,node-a",
            ]
        );
    }

    async fn an_empty_database_exports_the_header_alone(store: Store) {
        let mut out = Vec::new();
        assert_eq!(store.export_cdrs(&mut out).await.unwrap(), 0);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            format!("{}\n", CDR_CSV_HEADER.join(","))
        );
    }

    async fn large_tables_are_exported_page_by_page_without_loss_or_repeat(store: Store) {
        // 2,500 CDRs, several sharing each answer time, so pages split inside equal timestamps.
        sqlx::query(
            "WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < 2499) \
             INSERT INTO cdrs (call_id, caller_raw, called, source, answered_at) \
             SELECT 'call-' || i, 'raw', '19009068', 'src', 1000 * (i / 7) FROM n",
        )
        .execute(store.pool())
        .await
        .unwrap();
        let mut out = Vec::new();
        assert_eq!(store.export_cdrs(&mut out).await.unwrap(), 2500);
        let text = String::from_utf8(out).unwrap();
        let ids: std::collections::HashSet<&str> = text
            .lines()
            .skip(1)
            .filter_map(|l| l.split(',').next())
            .collect();
        assert_eq!(ids.len(), 2500);
    }

    on_both_databases!(
        cdrs_are_exported_oldest_first_with_the_billing_header,
        an_empty_database_exports_the_header_alone,
        large_tables_are_exported_page_by_page_without_loss_or_repeat,
    );
}
