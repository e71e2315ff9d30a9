//! Call detail records and billing ticks.
//!
//! A CDR opens when the 200 OK is sent, together with the tick of minute 1. The driver writes a
//! tick at the start of every later minute; at hang-up the CDR is closed with its duration, billed
//! minutes and amount. If the process dies mid-call, its CDRs are closed from their ticks, billed
//! minutes = ticks written, none twice: by the node itself when it starts again
//! ([`Store::close_interrupted`]), or, in a cluster, by a surviving node once the dead node's ticks
//! have stopped (`orphans`).

use time::OffsetDateTime;

use super::{Backend, Store, StoreError, billing, clock};
use crate::domain::{CallId, NodeId, Outcome, PhoneNumber};

/// What is known of a call when it is answered.
#[derive(Clone, Debug)]
pub struct NewCdr {
    pub call_id: CallId,
    /// The caller as the request named it (From or P-Asserted-Identity user part).
    pub caller_raw: String,
    /// The caller normalised, when it parsed.
    pub caller: Option<PhoneNumber>,
    pub called: String,
    /// Where the INVITE came from (`ip:port`).
    pub source: String,
    pub answered_at: OffsetDateTime,
    /// The node that answered.
    pub node: NodeId,
}

/// A CDR as stored; the `ended` fields are `None` while the call lasts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CdrRow {
    pub call_id: CallId,
    pub caller_raw: String,
    pub caller: Option<String>,
    pub called: String,
    pub source: String,
    pub answered_at: OffsetDateTime,
    pub ended_at: Option<OffsetDateTime>,
    pub duration_ms: Option<i64>,
    pub billed_minutes: Option<i64>,
    pub amount: Option<i64>,
    pub currency: Option<String>,
    pub outcome: Option<Outcome>,
    /// The node that answered (`None` on calls from before nodes were recorded).
    pub node: Option<String>,
}

pub(crate) type CdrTuple = (
    String,
    String,
    Option<String>,
    String,
    String,
    i64,
    Option<i64>,
    Option<i64>,
    Option<i64>,
    Option<i64>,
    Option<String>,
    Option<String>,
    Option<String>,
);

pub(crate) const CDR_COLUMNS: &str = "call_id, caller_raw, caller, called, source, answered_at, ended_at, \
                                      duration_ms, billed_minutes, amount, currency, outcome, node";

impl CdrRow {
    pub(crate) fn from_tuple(row: CdrTuple) -> Result<CdrRow, StoreError> {
        let (
            call_id,
            caller_raw,
            caller,
            called,
            source,
            answered_at,
            ended_at,
            duration_ms,
            billed,
            amount,
            currency,
            outcome,
            node,
        ) = row;
        Ok(CdrRow {
            call_id: CallId::new(call_id),
            caller_raw,
            caller,
            called,
            source,
            answered_at: clock::from_millis(answered_at, "cdrs.answered_at")?,
            ended_at: ended_at
                .map(|ms| clock::from_millis(ms, "cdrs.ended_at"))
                .transpose()?,
            duration_ms,
            billed_minutes: billed,
            amount,
            currency,
            outcome: outcome
                .map(|o| {
                    o.parse().map_err(|reason| StoreError::Corrupt {
                        column: "cdrs.outcome",
                        reason,
                    })
                })
                .transpose()?,
            node,
        })
    }
}

impl Store {
    /// Opens the CDR of an answered call and writes the tick of its first minute, in one
    /// transaction. Opening the same call twice changes nothing.
    pub async fn open_cdr(&self, cdr: &NewCdr) -> Result<(), StoreError> {
        let answered_at = clock::to_millis(cdr.answered_at)?;
        let mut tx = self.begin_write(&[]).await?;
        sqlx::query(
            "INSERT INTO cdrs (call_id, caller_raw, caller, called, source, answered_at, node) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (call_id) DO NOTHING",
        )
        .bind(cdr.call_id.as_str())
        .bind(&cdr.caller_raw)
        .bind(cdr.caller.as_ref().map(PhoneNumber::as_str))
        .bind(&cdr.called)
        .bind(&cdr.source)
        .bind(answered_at)
        .bind(cdr.node.as_str())
        .execute(&mut *tx)
        .await?;
        insert_tick(&mut tx, self.backend(), &cdr.call_id, 1, answered_at).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Records that `minute` (1-based) of the call started at `at`. Writing a tick twice changes nothing.
    pub async fn record_tick(
        &self,
        call_id: &CallId,
        minute: u32,
        at: OffsetDateTime,
    ) -> Result<(), StoreError> {
        let mut conn = self.pool().acquire().await?;
        insert_tick(
            &mut conn,
            self.backend(),
            call_id,
            minute,
            clock::to_millis(at)?,
        )
        .await
    }

    /// Closes the CDR of a call that ended at `ended_at`, billed per started minute at
    /// `rate_per_minute` (in the smallest unit of `currency`).
    /// Closing a closed (or unknown) CDR changes nothing; returns whether this call closed it.
    pub async fn close_cdr(
        &self,
        call_id: &CallId,
        ended_at: OffsetDateTime,
        outcome: Outcome,
        rate_per_minute: u32,
        currency: &str,
    ) -> Result<bool, StoreError> {
        let ended_ms = clock::to_millis(ended_at)?;
        let mut tx = self.begin_write(&[]).await?;
        let open: Option<(i64,)> =
            sqlx::query_as("SELECT answered_at FROM cdrs WHERE call_id = $1 AND ended_at IS NULL")
                .bind(call_id.as_str())
                .fetch_optional(&mut *tx)
                .await?;
        let Some((answered_ms,)) = open else {
            return Ok(false);
        };
        // A clock stepped backwards must not make a negative duration.
        let duration_ms = ended_ms.saturating_sub(answered_ms).max(0);
        let minutes = billing::billed_minutes(duration_ms.unsigned_abs());
        let amount = billing::amount(minutes, rate_per_minute);
        // Still open: a survivor may have closed it as interrupted meanwhile (see `orphans`), and
        // what it billed then stands.
        let updated = sqlx::query(
            "UPDATE cdrs SET ended_at = $2, duration_ms = $3, billed_minutes = $4, amount = $5, currency = $6, \
             outcome = $7 WHERE call_id = $1 AND ended_at IS NULL",
        )
        .bind(call_id.as_str())
        .bind(ended_ms)
        .bind(duration_ms)
        .bind(saturating_i64(minutes))
        .bind(saturating_i64(amount))
        .bind(currency)
        .bind(outcome.as_str())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(updated.rows_affected() == 1)
    }

    /// Closes every CDR that this node's previous run left open, from its ticks (see
    /// [`CLOSE_FROM_TICKS`]). Run once at start-up, before any call is answered. CDRs of other
    /// nodes are theirs (their calls may be live); CDRs without a node predate clusters and can
    /// only be this node's. Returns how many were closed.
    pub async fn close_interrupted(
        &self,
        node: &NodeId,
        rate_per_minute: u32,
        currency: &str,
    ) -> Result<u64, StoreError> {
        let sql = sqlx::AssertSqlSafe(format!(
            "{CLOSE_FROM_TICKS} AND (node = $4 OR node IS NULL)"
        ));
        let result = sqlx::query(sql)
            .bind(i64::from(rate_per_minute))
            .bind(currency)
            .bind(Outcome::Interrupted.as_str())
            .bind(node.as_str())
            .execute(self.pool())
            .await?;
        Ok(result.rows_affected())
    }

    /// One CDR, for tests and support.
    pub async fn cdr(&self, call_id: &CallId) -> Result<Option<CdrRow>, StoreError> {
        let sql = sqlx::AssertSqlSafe(format!("SELECT {CDR_COLUMNS} FROM cdrs WHERE call_id = $1"));
        let row: Option<CdrTuple> = sqlx::query_as(sql)
            .bind(call_id.as_str())
            .fetch_optional(self.pool())
            .await?;
        row.map(CdrRow::from_tuple).transpose()
    }

    /// The minutes ticked for a call, in order.
    pub async fn ticks(&self, call_id: &CallId) -> Result<Vec<u32>, StoreError> {
        let rows: Vec<(i64,)> =
            sqlx::query_as("SELECT minute FROM billing_ticks WHERE call_id = $1 ORDER BY minute")
                .bind(call_id.as_str())
                .fetch_all(self.pool())
                .await?;
        rows.into_iter()
            .map(|(m,)| {
                u32::try_from(m).map_err(|e| StoreError::Corrupt {
                    column: "billing_ticks.minute",
                    reason: e.to_string(),
                })
            })
            .collect()
    }
}

/// Closes open CDRs as `interrupted` from their ticks: billed minutes = ticks written, ended at the
/// last tick. One statement, and only rows still open, so two nodes closing the same CDR at once
/// close it once. Binds $1 = rate per minute, $2 = currency, $3 = outcome; callers add the
/// condition that picks the rows (`AND …`).
pub(crate) const CLOSE_FROM_TICKS: &str = "UPDATE cdrs SET \
         ended_at = COALESCE((SELECT MAX(t.at) FROM billing_ticks t WHERE t.call_id = cdrs.call_id), answered_at), \
         duration_ms = COALESCE((SELECT MAX(t.at) FROM billing_ticks t WHERE t.call_id = cdrs.call_id), answered_at) \
                       - answered_at, \
         billed_minutes = (SELECT COUNT(*) FROM billing_ticks t WHERE t.call_id = cdrs.call_id), \
         amount = (SELECT COUNT(*) FROM billing_ticks t WHERE t.call_id = cdrs.call_id) * $1, \
         currency = $2, \
         outcome = $3 \
     WHERE ended_at IS NULL";

/// Writes a tick; `recorded_at` is the database's clock (see migrations/*/0002_cluster.sql).
async fn insert_tick(
    conn: &mut sqlx::AnyConnection,
    backend: Backend,
    call_id: &CallId,
    minute: u32,
    at_ms: i64,
) -> Result<(), StoreError> {
    let sql = sqlx::AssertSqlSafe(format!(
        "INSERT INTO billing_ticks (call_id, minute, at, recorded_at) VALUES ($1, $2, $3, {}) \
         ON CONFLICT (call_id, minute) DO NOTHING",
        backend.now_millis_sql()
    ));
    sqlx::query(sql)
        .bind(call_id.as_str())
        .bind(i64::from(minute))
        .bind(at_ms)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

fn saturating_i64(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::testing::{at, node, on_both_databases, phone};

    fn new_cdr(id: &str, answered_s: f64) -> NewCdr {
        NewCdr {
            call_id: CallId::new(id),
            caller_raw: "sip:0912345678@pbx".into(),
            caller: Some(phone("0912345678")),
            called: "19009068".into(),
            source: "192.0.2.10:5060".into(),
            answered_at: at(answered_s),
            node: node("node-a"),
        }
    }

    async fn closed_after(store: &Store, id: &str, seconds: f64) -> CdrRow {
        store.open_cdr(&new_cdr(id, 0.0)).await.unwrap();
        assert!(
            store
                .close_cdr(&CallId::new(id), at(seconds), Outcome::Reset, 1000, "VND")
                .await
                .unwrap()
        );
        store.cdr(&CallId::new(id)).await.unwrap().unwrap()
    }

    async fn opening_writes_the_first_minute_and_ticks_are_idempotent(store: Store) {
        let id = CallId::new("a@host");
        store.open_cdr(&new_cdr("a@host", 0.0)).await.unwrap();
        store.open_cdr(&new_cdr("a@host", 5.0)).await.unwrap();
        store.record_tick(&id, 1, at(0.0)).await.unwrap();
        store.record_tick(&id, 2, at(60.0)).await.unwrap();
        store.record_tick(&id, 2, at(60.5)).await.unwrap();
        assert_eq!(store.ticks(&id).await.unwrap(), [1, 2]);
        let row = store.cdr(&id).await.unwrap().unwrap();
        assert_eq!(row.answered_at, at(0.0), "a second open changed nothing");
        assert_eq!((row.ended_at, row.outcome), (None, None));
        assert_eq!(row.caller.as_deref(), Some("+84912345678"));
    }

    async fn closing_bills_every_started_minute(store: Store) {
        for (id, seconds, minutes) in [
            ("a", 59.999, 1),
            ("b", 60.0, 1),
            ("c", 60.001, 2),
            ("d", 0.0, 1),
            ("e", 3600.5, 61),
        ] {
            let row = closed_after(&store, id, seconds).await;
            assert_eq!(row.billed_minutes, Some(minutes), "{seconds} s");
            assert_eq!(row.amount, Some(minutes * 1000), "{seconds} s");
            assert_eq!(row.duration_ms, Some((seconds * 1000.0).round() as i64));
            assert_eq!(row.currency.as_deref(), Some("VND"));
            assert_eq!(row.outcome, Some(Outcome::Reset));
            assert_eq!(row.ended_at, Some(at(seconds)));
        }
    }

    async fn closing_twice_changes_nothing(store: Store) {
        let first = closed_after(&store, "a", 61.0).await;
        let id = CallId::new("a");
        assert!(
            !store
                .close_cdr(&id, at(300.0), Outcome::Error, 2000, "USD")
                .await
                .unwrap()
        );
        assert_eq!(store.cdr(&id).await.unwrap().unwrap(), first);
        assert!(
            !store
                .close_cdr(&CallId::new("unknown"), at(1.0), Outcome::Error, 1, "VND")
                .await
                .unwrap()
        );
    }

    async fn a_crash_leaves_cdrs_closed_from_their_ticks_at_the_next_start(store: Store) {
        let id = CallId::new("crashed");
        store.open_cdr(&new_cdr("crashed", 0.0)).await.unwrap();
        store.record_tick(&id, 2, at(60.0)).await.unwrap();
        store.record_tick(&id, 3, at(120.0)).await.unwrap();
        let done = closed_after(&store, "finished", 30.0).await;

        assert_eq!(
            store
                .close_interrupted(&node("node-a"), 1000, "VND")
                .await
                .unwrap(),
            1
        );
        let row = store.cdr(&id).await.unwrap().unwrap();
        assert_eq!(row.outcome, Some(Outcome::Interrupted));
        assert_eq!(row.billed_minutes, Some(3));
        assert_eq!(row.amount, Some(3000));
        assert_eq!(row.ended_at, Some(at(120.0)));
        assert_eq!(row.duration_ms, Some(120_000));
        assert_eq!(
            store.cdr(&CallId::new("finished")).await.unwrap().unwrap(),
            done
        );
        assert_eq!(
            store
                .close_interrupted(&node("node-a"), 1000, "VND")
                .await
                .unwrap(),
            0,
            "nothing is billed twice"
        );
    }

    on_both_databases!(
        opening_writes_the_first_minute_and_ticks_are_idempotent,
        closing_bills_every_started_minute,
        closing_twice_changes_nothing,
        a_crash_leaves_cdrs_closed_from_their_ticks_at_the_next_start,
    );
}
