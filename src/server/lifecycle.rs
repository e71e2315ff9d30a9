//! The service's life after start-up: taking calls, draining, hanging up, and the orderly end.
//!
//! ```text
//!  taking calls ──drain──▶ draining ──last call ended─────────────────┐
//!       │                     │ ──deadline / second signal: hang up──▶ ├─▶ BYEs sent, SIP stopped,
//!       └──────hang up────────┴──────────────────────────────────────▶ ┘   billing written, exit
//! ```
//!
//! While draining the admission gate answers new INVITEs and OPTIONS with 503 in the SIP layer,
//! so the calls that still reach this loop were handed over before the gate closed; they are
//! served like any other.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::time::{Instant, sleep};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::warn;

use super::{Services, call};
use crate::sip::{IncomingCall, SipServer};

/// How long billing writes still failing at the end (the database is away) keep being retried
/// before their one last try: long enough to ride out a database restart's last seconds, short
/// enough that a stopping node is not held up for long.
const BILLING_GRACE: Duration = Duration::from_secs(3);

/// The longest wait for the BYEs of hung-up calls to be answered before SIP stops: the
/// transaction layer must still be running for a BYE to be sent and retransmitted.
const BYE_GRACE: Duration = Duration::from_secs(2);

/// What tells the running service to change phase.
#[derive(Clone, Default)]
pub(super) struct Phases {
    /// Stop handing new calls over; calls in progress run to their end.
    pub drain: CancellationToken,
    /// End every call now: BYE, billed, CDR closed.
    pub hang_up: CancellationToken,
}

/// Runs the service from the first call to the closed store.
pub(super) async fn run(
    services: Arc<Services>,
    mut incoming: mpsc::Receiver<IncomingCall>,
    sip: SipServer,
    calls: TaskTracker,
    phases: Phases,
) {
    let spawn = |call: IncomingCall| {
        calls.spawn(call::run(services.clone(), call, phases.hang_up.clone()));
    };
    // Taking calls.
    loop {
        tokio::select! {
            _ = phases.drain.cancelled() => break,
            _ = phases.hang_up.cancelled() => break,
            call = incoming.recv() => match call {
                Some(call) => spawn(call),
                None => break,
            },
        }
    }
    // Draining: until the last call ends (or we are told to hang up).
    calls.close();
    let mut incoming_open = true;
    loop {
        tokio::select! {
            _ = phases.hang_up.cancelled() => break,
            _ = calls.wait() => break,
            call = incoming.recv(), if incoming_open => match call {
                Some(call) => spawn(call),
                None => incoming_open = false,
            },
        }
    }
    // Whatever is still up is hung up, billed and its CDR closed (outcome `interrupted`).
    phases.hang_up.cancel();
    calls.wait().await;
    wait_for_byes(&sip, services.config.sip.t1_ms).await;
    sip.shutdown();
    finish_billing(&services).await;
    services.store.close().await;
}

/// Lets the BYEs of calls just hung up be sent and answered while SIP still runs.
async fn wait_for_byes(sip: &SipServer, t1_ms: u64) {
    let until = Instant::now() + BYE_GRACE.min(Duration::from_millis(t1_ms * 64));
    while sip.open_dialogs() > 0 && Instant::now() < until {
        sleep(Duration::from_millis(20)).await;
    }
}

/// Every call has ended: give their billing writers a little time to catch up, then one last
/// try each for what the database still refuses.
async fn finish_billing(services: &Services) {
    let writes = &services.billing_writes;
    writes.close();
    if tokio::time::timeout(BILLING_GRACE, writes.wait())
        .await
        .is_err()
    {
        warn!(
            calls = writes.len(),
            "billing writes still failing at shutdown: trying each one last time"
        );
        services.last_chance.cancel();
        writes.wait().await;
    }
}
