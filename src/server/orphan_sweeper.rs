//! Closes the CDRs of calls that a dead node left open (see `store::orphans`), so their minutes
//! are billed without anyone restarting that node.

use std::time::Duration;

use tokio::time::{Instant, MissedTickBehavior, interval};
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use crate::domain::NodeId;
use crate::store::{Store, StoreError};

/// How often the database is asked for orphans. A dead node's calls are closed at most this long
/// after `billing.orphan_after_seconds`.
pub(super) const SWEEP_EVERY: Duration = Duration::from_secs(10);

/// How long the database must have answered before this node judges other nodes' calls. While it
/// was unreachable, live nodes held their billing ticks back; they write them within seconds of
/// its return, and until then their calls would look dead.
pub(super) const SETTLE: Duration = Duration::from_secs(30);

/// What a sweep needs to know.
pub(super) struct Sweeper {
    pub store: Store,
    pub me: NodeId,
    pub orphan_after: Duration,
    pub rate_per_minute: u32,
    pub currency: String,
    pub every: Duration,
    pub settle: Duration,
}

impl Sweeper {
    /// Sweeps until `stop` is cancelled.
    pub(super) async fn run(self, stop: CancellationToken) {
        let mut every = interval(self.every);
        every.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let mut gate = SettleGate::new(self.settle);
        loop {
            tokio::select! {
                _ = every.tick() => {}
                _ = stop.cancelled() => return,
            }
            let reachable = self.store.ping().await.is_ok();
            if !gate.may_sweep(reachable, Instant::now()) {
                continue;
            }
            if let Err(e) = self.sweep().await {
                warn!(error = %e, "could not look for calls left open by a stopped node");
                gate.may_sweep(false, Instant::now());
            }
        }
    }

    async fn sweep(&self) -> Result<(), StoreError> {
        let closed = self
            .store
            .close_orphans(
                &self.me,
                self.orphan_after,
                self.rate_per_minute,
                &self.currency,
            )
            .await?;
        if closed > 0 {
            info!(
                closed,
                "closed the CDRs of calls on a node that stopped ticking, billed from their ticks"
            );
        } else {
            debug!("no calls left open by a stopped node");
        }
        Ok(())
    }
}

/// Lets a sweep happen only once the database has answered for `settle` without a failure.
struct SettleGate {
    settle: Duration,
    up_since: Option<Instant>,
}

impl SettleGate {
    fn new(settle: Duration) -> SettleGate {
        SettleGate {
            settle,
            up_since: None,
        }
    }

    /// Records whether the database answered at `now`; true when a sweep may run.
    fn may_sweep(&mut self, reachable: bool, now: Instant) -> bool {
        if !reachable {
            self.up_since = None;
            return false;
        }
        let since = *self.up_since.get_or_insert(now);
        now.duration_since(since) >= self.settle
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sweeps_wait_until_the_database_has_answered_for_the_settle_time() {
        let t0 = Instant::now();
        let s = |secs| t0 + Duration::from_secs(secs);
        let mut gate = SettleGate::new(Duration::from_secs(30));
        assert!(!gate.may_sweep(true, s(0)), "just started");
        assert!(!gate.may_sweep(true, s(20)));
        assert!(gate.may_sweep(true, s(30)));
        assert!(gate.may_sweep(true, s(40)));
        assert!(!gate.may_sweep(false, s(50)), "unreachable");
        assert!(!gate.may_sweep(true, s(60)), "back, not settled");
        assert!(!gate.may_sweep(true, s(89)));
        assert!(gate.may_sweep(true, s(90)));
    }

    #[tokio::test]
    async fn a_stopped_nodes_call_is_closed_and_this_nodes_own_is_not() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("h.db").display());
        let store = Store::connect(&url).await.unwrap();
        let answered = time::OffsetDateTime::now_utc() - time::Duration::minutes(10);
        for (call, node) in [("theirs", "node-a"), ("mine", "node-b")] {
            let cdr = crate::store::NewCdr {
                call_id: crate::domain::CallId::new(call),
                caller_raw: "sip:0912345678@pbx".into(),
                caller: None,
                called: "19009068".into(),
                source: "192.0.2.10:5060".into(),
                answered_at: answered,
                node: NodeId::parse(node).unwrap(),
            };
            store.open_cdr(&cdr).await.unwrap();
        }
        let stop = CancellationToken::new();
        let sweeper = Sweeper {
            store: store.clone(),
            me: NodeId::parse("node-b").unwrap(),
            // Ticks written a moment ago are already "old": the sweep's decision is the store's,
            // tested there; this checks that the sweeper runs it, as the node it is.
            orphan_after: Duration::ZERO,
            rate_per_minute: 1000,
            currency: "VND".into(),
            every: Duration::from_millis(20),
            settle: Duration::from_millis(40),
        };
        let task = tokio::spawn(sweeper.run(stop.clone()));
        let theirs = crate::domain::CallId::new("theirs");
        let deadline = Instant::now() + Duration::from_secs(10);
        let closed = loop {
            let row = store.cdr(&theirs).await.unwrap().unwrap();
            if row.outcome.is_some() || Instant::now() > deadline {
                break row;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        stop.cancel();
        task.await.unwrap();
        assert_eq!(closed.outcome, Some(crate::domain::Outcome::Interrupted));
        assert_eq!(closed.billed_minutes, Some(1));
        let mine = store
            .cdr(&crate::domain::CallId::new("mine"))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(mine.outcome, None, "node B's own call is live");
    }
}
