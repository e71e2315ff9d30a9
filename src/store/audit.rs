//! The audit of every verification (table `verifications`): when, on which node and call, which
//! caller keyed which code or personal ID, and the result. Written by the call through its
//! ordered, retried writer (src/server/billing_writer.rs), so a verification answered "system
//! busy" while the database was away is recorded once it is back. Read by `hotline audit export`
//! and `hotline audit top`; purged after `audit.retention_days` by the service.

use std::fmt;
use std::io;
use std::str::FromStr;

use time::OffsetDateTime;

use super::export::ExportError;
use super::report::Period;
use super::{Store, StoreError, clock};
use crate::domain::{AccountKey, CallId, NodeId, PhoneNumber};

/// What one verification came to, as the `result` column holds it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VerificationResult {
    /// The caller owned the account: a new password was stored and read out.
    Reset,
    /// Unknown key, another number's account, or an unregistered one.
    Mismatch,
    /// A limit applied; nothing was looked up.
    LockedOut,
    /// The database or the hasher failed; the caller heard "system busy".
    SystemBusy,
}

impl VerificationResult {
    pub const ALL: [VerificationResult; 4] = [
        VerificationResult::Reset,
        VerificationResult::Mismatch,
        VerificationResult::LockedOut,
        VerificationResult::SystemBusy,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            VerificationResult::Reset => "reset",
            VerificationResult::Mismatch => "mismatch",
            VerificationResult::LockedOut => "locked_out",
            VerificationResult::SystemBusy => "system_busy",
        }
    }
}

impl fmt::Display for VerificationResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for VerificationResult {
    type Err = String;

    fn from_str(s: &str) -> Result<VerificationResult, String> {
        VerificationResult::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| format!("unknown verification result {s:?}"))
    }
}

/// One verification.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerificationRecord {
    pub call_id: CallId,
    /// The call's first, second… verification (a caller has several code tries).
    pub attempt: u32,
    pub at: OffsetDateTime,
    pub node: NodeId,
    pub caller: PhoneNumber,
    pub keyed: AccountKey,
    pub result: VerificationResult,
}

/// Which verifications `hotline audit export` writes.
#[derive(Clone, Debug, Default)]
pub struct AuditFilter {
    pub period: Period,
    pub caller: Option<PhoneNumber>,
    pub keyed: Option<AccountKey>,
}

/// `hotline audit top`'s grouping.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum AuditTopBy {
    Caller,
    /// The code or personal ID keyed.
    Code,
}

/// One caller's (or one code's) verifications in the period.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditTopLine {
    pub who: String,
    pub verifications: i64,
    pub resets: i64,
    pub mismatches: i64,
    pub locked_out: i64,
    pub system_busy: i64,
    pub first_at: OffsetDateTime,
    pub last_at: OffsetDateTime,
}

/// The export's header, which scripts rely on: new columns go at the end. `attempt` tells a
/// call's verifications apart (1 for its first code, 2 for its second…).
pub const AUDIT_CSV_HEADER: [&str; 7] = [
    "at", "node", "call_id", "caller", "keyed", "result", "attempt",
];

const INSERT: &str = "INSERT INTO verifications (call_id, attempt, at, node, caller, keyed, result) \
     VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (call_id, attempt) DO NOTHING";

/// Rows per export query (keyset pagination) and per purge statement (a short write lock).
const PAGE: i64 = 1000;
const PURGE_BATCH: i64 = 10_000;

/// `who, verifications, resets, mismatches, locked_out, system_busy, first at, last at`.
type TopRow = (String, i64, i64, i64, i64, i64, i64, i64);

/// `at, node, call_id, attempt, caller, keyed, result`.
type Row = (i64, String, String, i64, String, String, String);

impl Store {
    /// Records a verification; recording it again changes nothing (the writer may retry).
    pub async fn record_verification(&self, v: &VerificationRecord) -> Result<(), StoreError> {
        sqlx::query(INSERT)
            .bind(v.call_id.as_str())
            .bind(i64::from(v.attempt))
            .bind(clock::to_millis(v.at)?)
            .bind(v.node.as_str())
            .bind(v.caller.as_str())
            .bind(v.keyed.as_str())
            .bind(v.result.as_str())
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// Writes the verifications `filter` selects as CSV with [`AUDIT_CSV_HEADER`], oldest
    /// first, a page at a time; the rows written.
    pub async fn export_verifications(
        &self,
        filter: &AuditFilter,
        writer: impl io::Write,
    ) -> Result<u64, ExportError> {
        let mut csv = csv::Writer::from_writer(writer);
        csv.write_record(AUDIT_CSV_HEADER)?;
        let (since, until) = bounds(filter.period)?;
        let caller = filter.caller.as_ref().map_or("", |c| c.as_str());
        let keyed = filter.keyed.as_ref().map_or("", |k| k.as_str());
        let mut after = (since - 1, String::new(), 0_i64);
        let mut written = 0;
        loop {
            let page: Vec<Row> = sqlx::query_as(
                "SELECT at, node, call_id, attempt, caller, keyed, result FROM verifications \
                 WHERE (at > $1 OR (at = $1 AND (call_id > $2 OR (call_id = $2 AND attempt > $3)))) \
                 AND at < $4 AND ($5 = '' OR caller = $5) AND ($6 = '' OR keyed = $6) \
                 ORDER BY at, call_id, attempt LIMIT $7",
            )
            .bind(after.0)
            .bind(&after.1)
            .bind(after.2)
            .bind(until)
            .bind(caller)
            .bind(keyed)
            .bind(PAGE)
            .fetch_all(self.pool())
            .await
            .map_err(StoreError::from)?;
            for row in &page {
                csv.write_record(csv_fields(row)?)?;
                written += 1;
            }
            match page.last() {
                Some(last) if page.len() as i64 == PAGE => after = (last.0, last.2.clone(), last.3),
                _ => break,
            }
        }
        csv.flush().map_err(csv::Error::from)?;
        Ok(written)
    }

    /// Who verified most in the period: the `limit` callers (or codes) with the most
    /// verifications, most first.
    pub async fn audit_top(
        &self,
        by: AuditTopBy,
        period: Period,
        limit: u32,
    ) -> Result<Vec<AuditTopLine>, StoreError> {
        let column = match by {
            AuditTopBy::Caller => "caller",
            AuditTopBy::Code => "keyed",
        };
        let sql = sqlx::AssertSqlSafe(format!(
            "SELECT {column}, COUNT(*), \
             SUM(CASE WHEN result = 'reset' THEN 1 ELSE 0 END), \
             SUM(CASE WHEN result = 'mismatch' THEN 1 ELSE 0 END), \
             SUM(CASE WHEN result = 'locked_out' THEN 1 ELSE 0 END), \
             SUM(CASE WHEN result = 'system_busy' THEN 1 ELSE 0 END), MIN(at), MAX(at) \
             FROM verifications WHERE at >= $1 AND at < $2 GROUP BY {column} \
             ORDER BY COUNT(*) DESC, {column} LIMIT $3"
        ));
        let (since, until) = bounds(period)?;
        let rows: Vec<TopRow> = sqlx::query_as(sql)
            .bind(since)
            .bind(until)
            .bind(i64::from(limit))
            .fetch_all(self.pool())
            .await?;
        rows.into_iter()
            .map(
                |(who, verifications, resets, mismatches, locked_out, system_busy, first, last)| {
                    Ok(AuditTopLine {
                        who,
                        verifications,
                        resets,
                        mismatches,
                        locked_out,
                        system_busy,
                        first_at: clock::from_millis(first, "verifications.at")?,
                        last_at: clock::from_millis(last, "verifications.at")?,
                    })
                },
            )
            .collect()
    }

    /// Deletes the verifications older than `before`, a batch at a time so no write lock is
    /// held long; how many.
    pub async fn purge_verifications(&self, before: OffsetDateTime) -> Result<u64, StoreError> {
        let before = clock::to_millis(before)?;
        let mut purged = 0;
        loop {
            let deleted = sqlx::query(
                "DELETE FROM verifications WHERE (call_id, attempt) IN \
                 (SELECT call_id, attempt FROM verifications WHERE at < $1 LIMIT $2)",
            )
            .bind(before)
            .bind(PURGE_BATCH)
            .execute(self.pool())
            .await?
            .rows_affected();
            purged += deleted;
            if deleted < PURGE_BATCH as u64 {
                return Ok(purged);
            }
        }
    }
}

fn bounds(period: Period) -> Result<(i64, i64), StoreError> {
    let since = period.since.map(clock::to_millis).transpose()?;
    let until = period.until.map(clock::to_millis).transpose()?;
    Ok((since.unwrap_or(i64::MIN + 1), until.unwrap_or(i64::MAX)))
}

fn csv_fields(row: &Row) -> Result<[String; 7], ExportError> {
    let (at, node, call_id, attempt, caller, keyed, result) = row;
    let at = super::export::rfc3339(clock::from_millis(*at, "verifications.at")?)?;
    Ok([
        at,
        node.clone(),
        call_id.clone(),
        caller.clone(),
        keyed.clone(),
        result.clone(),
        attempt.to_string(),
    ])
}
