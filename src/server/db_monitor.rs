//! Watches the database and opens or closes the admission gate: a node that cannot reach its
//! database answers 503 until it can again, so the dispatcher sends callers to a node that can
//! verify and bill them, and takes calls again within seconds of the database's return by
//! itself (no operator, no restart).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use tokio::time::{MissedTickBehavior, interval, timeout};
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::admission::AdmissionGate;
use crate::store::{Store, StoreError};

/// How often the database is asked. With [`PING_TIMEOUT`] this bounds how long the node takes
/// calls it cannot serve, and how long after the database's return it still refuses them.
pub const PING_EVERY: Duration = Duration::from_secs(1);

/// A ping slower than this counts as a failure: a database that takes seconds to answer
/// `SELECT 1` cannot verify a caller while they wait on the line either.
pub const PING_TIMEOUT: Duration = Duration::from_secs(2);

pub type PingFuture<'a> = Pin<Box<dyn Future<Output = Result<(), StoreError>> + Send + 'a>>;

/// Something that says whether the database answers. The store in production; tests put a
/// switch in front of it to make a database outage that SQLite, a local file, cannot have.
pub trait DatabaseProbe: Send + Sync + 'static {
    fn ping(&self) -> PingFuture<'_>;
}

impl DatabaseProbe for Store {
    fn ping(&self) -> PingFuture<'_> {
        Box::pin(Store::ping(self))
    }
}

/// Pings every [`PING_EVERY`] until `stop`; each failure closes the gate, each success opens it.
pub async fn watch_database(
    probe: Arc<dyn DatabaseProbe>,
    gate: AdmissionGate,
    stop: CancellationToken,
) {
    let mut every = interval(PING_EVERY);
    every.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = every.tick() => {}
        }
        let failure = match timeout(PING_TIMEOUT, probe.ping()).await {
            Ok(Ok(())) => None,
            Ok(Err(error)) => Some(error.to_string()),
            Err(_) => Some(format!("no answer within {PING_TIMEOUT:?}")),
        };
        match failure {
            None => {
                if gate.database_reachable() {
                    info!("database reachable again: taking new calls");
                }
            }
            Some(error) => {
                if gate.database_unreachable() {
                    warn!(%error, "database unreachable: refusing new calls and OPTIONS with 503 until it answers");
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;
    use crate::admission::Admission;

    /// Answers as told: fine, an error, or never.
    struct Scripted(Mutex<&'static str>);

    impl DatabaseProbe for Scripted {
        fn ping(&self) -> PingFuture<'_> {
            let state = *self.0.lock().unwrap();
            Box::pin(async move {
                match state {
                    "up" => Ok(()),
                    "down" => Err(StoreError::Database(sqlx::Error::PoolTimedOut)),
                    _ => std::future::pending().await,
                }
            })
        }
    }

    #[tokio::test(start_paused = true)]
    async fn the_gate_follows_the_database_down_silent_and_back() {
        let probe = Arc::new(Scripted(Mutex::new("up")));
        let gate = AdmissionGate::new();
        let stop = CancellationToken::new();
        let monitor = tokio::spawn(watch_database(probe.clone(), gate.clone(), stop.clone()));
        let set = |state| *probe.0.lock().unwrap() = state;
        tokio::time::sleep(Duration::from_millis(1500)).await;
        assert_eq!(gate.admission(), Admission::Accepting);

        set("down");
        tokio::time::sleep(PING_EVERY).await;
        assert_eq!(gate.admission(), Admission::DatabaseUnreachable);

        set("up");
        tokio::time::sleep(PING_EVERY).await;
        assert_eq!(gate.admission(), Admission::Accepting);

        // A database that does not answer at all is unreachable once the ping times out.
        set("silent");
        tokio::time::sleep(PING_EVERY + PING_TIMEOUT).await;
        assert_eq!(gate.admission(), Admission::DatabaseUnreachable);

        set("up");
        tokio::time::sleep(PING_EVERY * 2).await;
        assert_eq!(gate.admission(), Admission::Accepting);

        stop.cancel();
        monitor.await.unwrap();
    }
}
