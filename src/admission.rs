//! Whether this node takes new calls, and if not, why: the one value the SIP side reads before
//! answering a new INVITE or an out-of-dialog OPTIONS, and the serving side writes when it starts
//! draining or loses (or regains) its database.
//!
//! ```text
//!  admin::serve (SIGTERM) ──start_draining──▶ ┌───────────────┐ ──refusal()──▶ sip::server: 503 + Retry-After
//!  server::db_monitor ──database_reachable──▶ │ AdmissionGate │                 to INVITE and OPTIONS
//!  call's store errors ─database_unreachable─▶ │  + the call   │ ──admit_call()─▶ a new INVITE: its CallSlot,
//!                                             │    limits     │                 or 503 + Retry-After (src/overload)
//!                                             └───────────────┘ ──subscribe()─▶ later: /readyz
//! ```
//!
//! Kamailio's dispatcher probes each node with OPTIONS and marks it inactive on any non-2xx
//! answer, and fails an INVITE over to another node on 503: answering both with 503 is how a node
//! steps out of rotation without failing a single new call.

use std::fmt;
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;

use crate::overload::{CallLimiter, CallLimits, CallSlot};

/// What the node does with a new call, and why.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Admission {
    /// New calls are taken.
    Accepting,
    /// Shutting down: calls in progress run to their end (until `deadline` at most); no new ones.
    Draining { deadline: Instant },
    /// The database does not answer: a new call could not be verified or billed.
    DatabaseUnreachable,
}

impl Admission {
    /// Why new calls are refused, and when to try again; `None` while accepting.
    pub fn refusal(self, now: Instant) -> Option<Refusal> {
        match self {
            Admission::Accepting => None,
            Admission::Draining { deadline } => Some(Refusal {
                reason: RefusalReason::Draining,
                retry_after: drain_retry_after(deadline.saturating_duration_since(now)),
            }),
            Admission::DatabaseUnreachable => Some(Refusal {
                reason: RefusalReason::DatabaseUnreachable,
                retry_after: DATABASE_RETRY_AFTER,
            }),
        }
    }
}

/// The `Retry-After` of a node whose database is away: the monitor pings every second, so the
/// node is back within a few seconds of the database; a dispatcher that honours Retry-After
/// should not stay away much longer than that.
pub const DATABASE_RETRY_AFTER: Duration = Duration::from_secs(5);

/// The longest `Retry-After` of a draining node. A draining node is about to restart, usually
/// long before its drain deadline (when its calls end); sending peers away for the whole
/// `server.drain_seconds` would keep the restarted node idle for minutes.
pub const DRAIN_RETRY_AFTER_CAP: Duration = Duration::from_secs(60);

/// The remaining drain time, capped at [`DRAIN_RETRY_AFTER_CAP`], at least one second.
fn drain_retry_after(remaining: Duration) -> Duration {
    remaining
        .min(DRAIN_RETRY_AFTER_CAP)
        .max(Duration::from_secs(1))
}

/// Why a new call is refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RefusalReason {
    Draining,
    DatabaseUnreachable,
    /// `sip.max_calls` calls are in progress.
    TooManyCalls,
    /// More than `sip.max_new_calls_per_second` new calls arrived.
    TooManyNewCalls,
    /// Every port of `media.rtp_port_min..=rtp_port_max` is taken.
    NoRtpPort,
}

impl RefusalReason {
    /// Words for a Warning header and the logs.
    pub fn as_str(self) -> &'static str {
        match self {
            RefusalReason::Draining => "draining: this node is shutting down",
            RefusalReason::DatabaseUnreachable => "the database is unreachable",
            RefusalReason::TooManyCalls => "overloaded: sip.max_calls calls in progress",
            RefusalReason::TooManyNewCalls => {
                "overloaded: more than sip.max_new_calls_per_second new calls"
            }
            RefusalReason::NoRtpPort => "overloaded: no RTP port free",
        }
    }
}

impl fmt::Display for RefusalReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A refusal: 503 Service Unavailable with `Retry-After: retry_after` (whole seconds).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Refusal {
    pub reason: RefusalReason,
    pub retry_after: Duration,
}

impl Refusal {
    /// The `Retry-After` value in whole seconds, rounded up (RFC 3261 §20.33).
    pub fn retry_after_secs(&self) -> u64 {
        self.retry_after.as_millis().div_ceil(1000) as u64
    }
}

/// A view of the gate that can wait for its next change.
#[derive(Clone, Debug)]
pub struct AdmissionChanges {
    facts: watch::Receiver<Facts>,
}

impl AdmissionChanges {
    /// The admission now.
    pub fn current(&self) -> Admission {
        self.facts.borrow().admission()
    }

    /// Waits for the gate to change and returns the admission then; `None` once every gate
    /// handle is gone. (A database change while draining wakes it with the same admission.)
    pub async fn changed(&mut self) -> Option<Admission> {
        self.facts.changed().await.ok()?;
        Some(self.facts.borrow_and_update().admission())
    }
}

/// The facts the admission is made of. Draining wins over the database's health: once draining,
/// a node never goes back to accepting, whatever the database does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Facts {
    draining_until: Option<Instant>,
    database_reachable: bool,
}

impl Facts {
    fn admission(self) -> Admission {
        match (self.draining_until, self.database_reachable) {
            (Some(deadline), _) => Admission::Draining { deadline },
            (None, false) => Admission::DatabaseUnreachable,
            (None, true) => Admission::Accepting,
        }
    }
}

/// The node's admission state, shared by every part that reads or changes it, and the limits of
/// its calls (src/overload). Cheap to clone: clones are the same gate.
#[derive(Clone, Debug)]
pub struct AdmissionGate {
    facts: watch::Sender<Facts>,
    calls: CallLimiter,
}

impl Default for AdmissionGate {
    fn default() -> Self {
        AdmissionGate::new()
    }
}

impl AdmissionGate {
    /// A gate that accepts calls, without limits on how many.
    pub fn new() -> AdmissionGate {
        AdmissionGate::with_limits(CallLimits::UNLIMITED)
    }

    /// A gate that accepts calls within `limits`.
    pub fn with_limits(limits: CallLimits) -> AdmissionGate {
        let (facts, _) = watch::channel(Facts {
            draining_until: None,
            database_reachable: true,
        });
        AdmissionGate {
            facts,
            calls: CallLimiter::new(limits),
        }
    }

    /// Takes a new call (an INVITE outside any dialog): its slot among the calls in progress,
    /// to hold until the call is over, or why it is refused — the node's state first, then its
    /// limits.
    pub fn admit_call(&self) -> Result<CallSlot, Refusal> {
        let now = Instant::now();
        if let Some(refusal) = self.admission().refusal(now) {
            return Err(refusal);
        }
        self.calls.admit(now)
    }

    /// Calls that hold a slot: taken by [`AdmissionGate::admit_call`] and not yet ended.
    pub fn calls_in_progress(&self) -> usize {
        self.calls.in_progress()
    }

    /// What the node does with a new call now.
    pub fn admission(&self) -> Admission {
        self.facts.borrow().admission()
    }

    /// Why a new call would be refused now, if it would.
    pub fn refusal(&self) -> Option<Refusal> {
        self.admission().refusal(Instant::now())
    }

    /// Follows the admission as it changes, for whoever reports readiness (e.g. a future
    /// `/readyz`).
    pub fn subscribe(&self) -> AdmissionChanges {
        AdmissionChanges {
            facts: self.facts.subscribe(),
        }
    }

    /// Stops taking new calls for good; calls in progress may last until `deadline`.
    pub fn start_draining(&self, deadline: Instant) {
        self.facts.send_if_modified(|facts| {
            let changed = facts.draining_until.is_none();
            facts.draining_until.get_or_insert(deadline);
            changed
        });
    }

    /// The database stopped answering. Returns true when this changed the node's state.
    pub fn database_unreachable(&self) -> bool {
        self.set_database_reachable(false)
    }

    /// The database answers again. Returns true when this changed the node's state.
    pub fn database_reachable(&self) -> bool {
        self.set_database_reachable(true)
    }

    fn set_database_reachable(&self, reachable: bool) -> bool {
        self.facts.send_if_modified(|facts| {
            let changed = facts.database_reachable != reachable;
            facts.database_reachable = reachable;
            changed
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_gate_accepts() {
        let gate = AdmissionGate::new();
        assert_eq!(gate.admission(), Admission::Accepting);
        assert_eq!(gate.refusal(), None);
    }

    #[test]
    fn the_database_going_and_coming_back_closes_and_reopens_the_gate() {
        let gate = AdmissionGate::new();
        assert!(gate.database_unreachable());
        assert!(!gate.database_unreachable(), "no change the second time");
        let refusal = gate.refusal().expect("refused");
        assert_eq!(refusal.reason, RefusalReason::DatabaseUnreachable);
        assert_eq!(refusal.retry_after_secs(), 5);
        assert!(gate.database_reachable());
        assert_eq!(gate.admission(), Admission::Accepting);
    }

    #[test]
    fn draining_is_for_good_whatever_the_database_does() {
        let gate = AdmissionGate::new();
        let deadline = Instant::now() + Duration::from_secs(300);
        gate.start_draining(deadline);
        gate.database_unreachable();
        gate.database_reachable();
        assert_eq!(gate.admission(), Admission::Draining { deadline });
        // A later call does not move the deadline.
        gate.start_draining(deadline + Duration::from_secs(10));
        assert_eq!(gate.admission(), Admission::Draining { deadline });
    }

    #[test]
    fn retry_after_while_draining_is_the_time_left_capped_and_at_least_a_second() {
        let now = Instant::now();
        let draining = |left: u64| {
            Admission::Draining {
                deadline: now + Duration::from_millis(left),
            }
            .refusal(now)
            .expect("refused")
            .retry_after_secs()
        };
        assert_eq!(draining(300_000), 60);
        assert_eq!(draining(12_300), 13);
        assert_eq!(draining(0), 1);
    }

    #[test]
    fn a_node_that_does_not_take_calls_says_why_before_counting_them() {
        let gate = AdmissionGate::with_limits(CallLimits {
            max_calls: 1,
            max_new_calls_per_second: 100,
        });
        let slot = gate.admit_call().expect("the first call");
        assert_eq!(gate.calls_in_progress(), 1);
        let full = gate.admit_call().unwrap_err();
        assert_eq!(full.reason, RefusalReason::TooManyCalls);
        assert_eq!(full.retry_after_secs(), 5);
        gate.database_unreachable();
        let away = gate.admit_call().unwrap_err();
        assert_eq!(away.reason, RefusalReason::DatabaseUnreachable);
        drop(slot);
        assert_eq!(gate.calls_in_progress(), 0);
        gate.database_reachable();
        assert!(gate.admit_call().is_ok());
    }

    #[tokio::test]
    async fn subscribers_see_each_change() {
        let gate = AdmissionGate::new();
        let mut changes = gate.subscribe();
        gate.database_unreachable();
        assert_eq!(
            changes.changed().await,
            Some(Admission::DatabaseUnreachable)
        );
        gate.database_reachable();
        assert_eq!(changes.changed().await, Some(Admission::Accepting));
        assert_eq!(changes.current(), Admission::Accepting);
    }
}
