//! Attempt limits, counted from the `attempts` table so they survive restarts.
//!
//! Three counters over a sliding window: failed matches from one calling number, failed matches on
//! one keyed code (or personal ID), and successful resets of one account. Reaching any of them
//! answers "too many attempts" before any lookup.

use std::time::Duration;

use sqlx::AnyConnection;
use time::OffsetDateTime;

use super::{Store, StoreError, clock};
use crate::domain::{AccountKey, PhoneNumber};
use crate::telemetry::{self, Limit};

/// Thresholds: how many events within `window` lock the next attempt out.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Failed matches from one calling number.
    pub caller_failures: u32,
    /// Failed matches on one insurance code or personal ID.
    pub code_failures: u32,
    /// Successful resets of one account.
    pub account_resets: u32,
    pub window: Duration,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            caller_failures: 5,
            code_failures: 3,
            account_resets: 5,
            window: Duration::from_secs(24 * 3600),
        }
    }
}

/// The kinds of row in `attempts`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum AttemptKind {
    Failure,
    Reset,
}

impl AttemptKind {
    fn as_str(self) -> &'static str {
        match self {
            AttemptKind::Failure => "failure",
            AttemptKind::Reset => "reset",
        }
    }
}

impl Store {
    /// Whether `caller` has used up its failed attempts, so the call can stop before asking for a code.
    pub async fn caller_locked_out(
        &self,
        caller: &PhoneNumber,
        limits: &Limits,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let mut conn = self.pool().acquire().await?;
        let since = window_start(limits, now)?;
        Ok(caller_failures(&mut conn, caller, since).await? >= i64::from(limits.caller_failures))
    }
}

/// Whether any of the three limits is reached for this caller and key at `now`.
pub(crate) async fn locked_out(
    conn: &mut AnyConnection,
    limits: &Limits,
    caller: &PhoneNumber,
    key: &AccountKey,
    now: OffsetDateTime,
) -> Result<bool, StoreError> {
    let since = window_start(limits, now)?;
    if caller_failures(conn, caller, since).await? >= i64::from(limits.caller_failures) {
        telemetry::locked_out(Limit::Caller);
        return Ok(true);
    }
    let key_failures: (i64,) = sqlx::query_as(
        "SELECT COUNT(*) FROM attempts WHERE account_key = $1 AND kind = 'failure' AND at > $2",
    )
    .bind(key.as_str())
    .bind(since)
    .fetch_one(&mut *conn)
    .await?;
    if key_failures.0 >= i64::from(limits.code_failures) {
        telemetry::locked_out(Limit::Code);
        return Ok(true);
    }
    let resets_used_up =
        account_resets(conn, key, since).await? >= i64::from(limits.account_resets);
    if resets_used_up {
        telemetry::locked_out(Limit::Account);
    }
    Ok(resets_used_up)
}

/// Resets of the account `key` names, whichever of its two identifiers each reset was keyed with.
pub(crate) async fn account_resets(
    conn: &mut AnyConnection,
    key: &AccountKey,
    since: i64,
) -> Result<i64, StoreError> {
    let (count,): (i64,) = sqlx::query_as(
        "SELECT COUNT(*) FROM attempts WHERE kind = 'reset' AND at > $2 AND account_code IN \
         (SELECT code FROM accounts WHERE code = $1 OR personal_id = $1)",
    )
    .bind(key.as_str())
    .bind(since)
    .fetch_one(&mut *conn)
    .await?;
    Ok(count)
}

async fn caller_failures(
    conn: &mut AnyConnection,
    caller: &PhoneNumber,
    since: i64,
) -> Result<i64, StoreError> {
    let (count,): (i64,) = sqlx::query_as(
        "SELECT COUNT(*) FROM attempts WHERE caller = $1 AND kind = 'failure' AND at > $2",
    )
    .bind(caller.as_str())
    .bind(since)
    .fetch_one(&mut *conn)
    .await?;
    Ok(count)
}

/// Records one attempt; `account_code` names the account for a reset.
pub(crate) async fn record_attempt(
    conn: &mut AnyConnection,
    kind: AttemptKind,
    caller: &PhoneNumber,
    key: &AccountKey,
    account_code: Option<&str>,
    at: OffsetDateTime,
) -> Result<(), StoreError> {
    sqlx::query("INSERT INTO attempts (at, caller, account_key, account_code, kind) VALUES ($1, $2, $3, $4, $5)")
        .bind(clock::to_millis(at)?)
        .bind(caller.as_str())
        .bind(key.as_str())
        .bind(account_code)
        .bind(kind.as_str())
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Unix milliseconds of the window's start: attempts strictly after it count.
pub(crate) fn window_start(limits: &Limits, now: OffsetDateTime) -> Result<i64, StoreError> {
    let window =
        i64::try_from(limits.window.as_millis()).map_err(|_| StoreError::TimeOutOfRange)?;
    Ok(clock::to_millis(now)?.saturating_sub(window))
}
