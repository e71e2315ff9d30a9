//! Closes the CDRs of calls that a dead node left open (see `store::orphans`), so their minutes
//! are billed without anyone restarting that node.

use std::sync::Arc;
use std::time::Duration;

use tokio::time::{Instant, MissedTickBehavior, interval};
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use super::Services;

/// How often the database is asked for orphans. A dead node's calls are closed at most this long
/// after `billing.orphan_after_seconds`.
const SWEEP_EVERY: Duration = Duration::from_secs(10);

/// How long the database must have answered before this node judges other nodes' calls. While it
/// was unreachable, live nodes held their billing ticks back; they write them within seconds of
/// its return, and until then their calls would look dead.
const SETTLE: Duration = Duration::from_secs(30);

/// Sweeps until `stop` is cancelled.
pub(super) async fn run(services: Arc<Services>, stop: CancellationToken) {
    let mut every = interval(SWEEP_EVERY);
    every.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut up_since: Option<Instant> = None;
    loop {
        tokio::select! {
            _ = every.tick() => {}
            _ = stop.cancelled() => return,
        }
        if services.store.ping().await.is_err() {
            up_since = None;
            continue;
        }
        let since = *up_since.get_or_insert_with(Instant::now);
        if since.elapsed() < SETTLE {
            continue;
        }
        if let Err(e) = sweep(&services).await {
            warn!(error = %e, "could not look for calls left open by a stopped node");
            up_since = None;
        }
    }
}

async fn sweep(services: &Services) -> Result<(), crate::store::StoreError> {
    let config = &services.config;
    let closed = services
        .store
        .close_orphans(
            &config.node.id,
            config.orphan_after(),
            config.billing.rate_per_minute,
            &config.billing.currency,
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
