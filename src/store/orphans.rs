//! A dead node's calls: closed by a survivor, billed from their ticks, exactly once.
//!
//! A node killed with `kill -9` leaves its calls' CDRs open. A live call writes a tick at the
//! start of every minute, so a CDR whose last tick reached the database more than
//! `billing.orphan_after_seconds` ago (more than a minute, by the database's clock, which every
//! node shares) belongs to a node that has stopped. Any other node may close it as `interrupted`
//! with billed minutes = ticks written; the close is one conditional `UPDATE`, so two survivors
//! sweeping at once close each CDR once, and the dead node coming back finds it closed
//! (`close_cdr` changes only open CDRs).

use std::time::Duration;

use super::cdr::CLOSE_FROM_TICKS;
use super::{Store, StoreError};
use crate::domain::{NodeId, Outcome};

impl Store {
    /// Closes the CDRs of other nodes' calls whose newest tick is older than `orphan_after` by the
    /// database's clock. `me`'s own calls are left to it: they are live, or closed at its start-up.
    /// Returns how many were closed.
    pub async fn close_orphans(
        &self,
        me: &NodeId,
        orphan_after: Duration,
        rate_per_minute: u32,
        currency: &str,
    ) -> Result<u64, StoreError> {
        let orphan_after_ms =
            i64::try_from(orphan_after.as_millis()).map_err(|_| StoreError::TimeOutOfRange)?;
        // A tick written before the database recorded arrival times stands in with its own time.
        let sql = sqlx::AssertSqlSafe(format!(
            "{CLOSE_FROM_TICKS} AND (node IS NULL OR node <> $4) \
             AND COALESCE((SELECT MAX(COALESCE(t.recorded_at, t.at)) FROM billing_ticks t \
                           WHERE t.call_id = cdrs.call_id), 0) < {now} - $5",
            now = self.backend().now_millis_sql()
        ));
        let result = sqlx::query(sql)
            .bind(i64::from(rate_per_minute))
            .bind(currency)
            .bind(Outcome::Interrupted.as_str())
            .bind(me.as_str())
            .bind(orphan_after_ms)
            .execute(self.pool())
            .await?;
        Ok(result.rows_affected())
    }
}
