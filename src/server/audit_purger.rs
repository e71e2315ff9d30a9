//! Purges the audit of verifications older than `audit.retention_days`, once an hour (and once
//! soon after start). Every node runs it; a purge that finds nothing left costs one indexed query.

use std::time::Duration;

use time::OffsetDateTime;
use tokio::time::{MissedTickBehavior, interval};
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::store::Store;

pub(super) const PURGE_EVERY: Duration = Duration::from_secs(3600);

pub(super) struct AuditPurger {
    pub store: Store,
    pub retention: time::Duration,
    pub every: Duration,
}

impl AuditPurger {
    /// Purges until `stop` is cancelled; the first purge runs at once.
    pub(super) async fn run(self, stop: CancellationToken) {
        let mut every = interval(self.every);
        every.set_missed_tick_behavior(MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = every.tick() => {}
                _ = stop.cancelled() => return,
            }
            let before = OffsetDateTime::now_utc() - self.retention;
            match self.store.purge_verifications(before).await {
                Ok(0) => {}
                Ok(purged) => info!(
                    purged,
                    "purged verifications older than audit.retention_days"
                ),
                Err(error) => {
                    warn!(%error, "could not purge old verifications; trying again later")
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{AccountKey, CallId, NodeId, PhoneNumber};
    use crate::store::{AuditFilter, VerificationRecord, VerificationResult};

    #[tokio::test]
    async fn rows_past_the_retention_go_and_the_rest_stay() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("h.db").display());
        let store = Store::connect(&url).await.unwrap();
        let now = OffsetDateTime::now_utc();
        for (call, days_ago) in [("old", 400), ("recent", 10)] {
            let record = VerificationRecord {
                call_id: CallId::new(call),
                attempt: 1,
                at: now - time::Duration::days(days_ago),
                node: NodeId::parse("node-a").unwrap(),
                caller: PhoneNumber::parse("0912345678").unwrap(),
                keyed: AccountKey::parse("0123456789").unwrap(),
                result: VerificationResult::Mismatch,
            };
            store.record_verification(&record).await.unwrap();
        }
        let stop = CancellationToken::new();
        let purger = AuditPurger {
            store: store.clone(),
            retention: time::Duration::days(365),
            every: Duration::from_millis(20),
        };
        let task = tokio::spawn(purger.run(stop.clone()));
        let mut remaining = String::new();
        for _ in 0..250 {
            let mut out = Vec::new();
            store
                .export_verifications(&AuditFilter::default(), &mut out)
                .await
                .unwrap();
            remaining = String::from_utf8(out).unwrap();
            if !remaining.contains(",old,") {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        stop.cancel();
        task.await.unwrap();
        assert!(!remaining.contains(",old,"), "{remaining}");
        assert!(remaining.contains(",recent,"), "{remaining}");
    }
}
