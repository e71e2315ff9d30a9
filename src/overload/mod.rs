//! Overload answered, not suffered: at most `sip.max_calls` calls in progress and
//! `sip.max_new_calls_per_second` new ones a second. Beyond either, a new INVITE gets
//! `503 Service Unavailable` with `Retry-After` at once, before any dialog, SDP answer or RTP
//! port is spent on it, so a flood costs the node one small response per INVITE and the calls
//! in progress keep their CPU.
//!
//! ```text
//!  new INVITE ──▶ AdmissionGate::admit_call ──▶ CallLimiter::admit ──Ok(CallSlot)──▶ the call
//!                  (draining? database?)         (calls up? rate?)  ──Err(Refusal)──▶ 503 + Retry-After
//!  the call ends, whichever way ──▶ its CallSlot is dropped ──▶ one call fewer in progress
//! ```

mod new_call_rate;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

pub use self::new_call_rate::NewCallRate;
use crate::admission::{Refusal, RefusalReason};

/// `Retry-After` when every call slot is taken. At capacity calls end every few tens of
/// milliseconds, but the load that filled the node is still arriving: a dispatcher that honours
/// Retry-After should try other nodes for a few seconds, not come straight back.
pub const CALLS_FULL_RETRY_AFTER: Duration = Duration::from_secs(5);

/// `Retry-After` when no RTP port is free: ports are held by calls, so they come back as calls
/// end, like call slots.
pub const NO_RTP_PORT_RETRY_AFTER: Duration = CALLS_FULL_RETRY_AFTER;

/// The two limits, as configured.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CallLimits {
    /// Calls in progress (ringing or answered) at most.
    pub max_calls: u32,
    /// New calls taken per second at most, in bursts of up to one second's worth.
    pub max_new_calls_per_second: u32,
}

impl CallLimits {
    /// No limit worth the name: for a gate made without a configuration (tests, tools).
    pub const UNLIMITED: CallLimits = CallLimits {
        max_calls: u32::MAX,
        max_new_calls_per_second: u32::MAX,
    };
}

/// The node's calls in progress and its rate of new ones, shared by every INVITE. Cheap to
/// clone: clones are the same limiter.
#[derive(Clone, Debug)]
pub struct CallLimiter {
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    max_calls: usize,
    in_progress: AtomicUsize,
    rate: Mutex<NewCallRate>,
}

impl CallLimiter {
    pub fn new(limits: CallLimits) -> CallLimiter {
        CallLimiter {
            shared: Arc::new(Shared {
                max_calls: limits.max_calls as usize,
                in_progress: AtomicUsize::new(0),
                rate: Mutex::new(NewCallRate::new(
                    limits.max_new_calls_per_second,
                    Instant::now(),
                )),
            }),
        }
    }

    /// Takes a new call at `now`: a slot among the calls in progress, held until the returned
    /// [`CallSlot`] is dropped, or why not and when to try again.
    pub fn admit(&self, now: Instant) -> Result<CallSlot, Refusal> {
        let slot = self.take_slot().ok_or(Refusal {
            reason: RefusalReason::TooManyCalls,
            retry_after: CALLS_FULL_RETRY_AFTER,
        })?;
        // The rate is checked second, so a call refused for want of a slot does not spend it.
        let mut rate = self.shared.rate.lock().unwrap_or_else(|e| e.into_inner());
        match rate.try_take(now) {
            Ok(()) => Ok(slot),
            // Dropping `slot` gives it back.
            Err(wait) => Err(Refusal {
                reason: RefusalReason::TooManyNewCalls,
                retry_after: wait,
            }),
        }
    }

    fn take_slot(&self) -> Option<CallSlot> {
        let shared = &self.shared;
        shared
            .in_progress
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < shared.max_calls).then_some(n + 1)
            })
            .ok()?;
        Some(CallSlot {
            shared: Arc::clone(shared),
        })
    }

    /// Calls holding a slot now.
    pub fn in_progress(&self) -> usize {
        self.shared.in_progress.load(Ordering::Acquire)
    }
}

/// One call's place among the calls in progress; given back when dropped, so every way a call
/// can end (refused, cancelled, hung up by either side, timed out, its task gone) gives it back.
#[derive(Debug)]
pub struct CallSlot {
    shared: Arc<Shared>,
}

impl Drop for CallSlot {
    fn drop(&mut self) {
        self.shared.in_progress.fetch_sub(1, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limiter(max_calls: u32, per_second: u32) -> CallLimiter {
        CallLimiter::new(CallLimits {
            max_calls,
            max_new_calls_per_second: per_second,
        })
    }

    #[test]
    fn beyond_max_calls_a_call_is_refused_until_one_ends() {
        let limiter = limiter(2, 1000);
        let now = Instant::now();
        let first = limiter.admit(now).expect("first");
        let _second = limiter.admit(now).expect("second");
        let refusal = limiter.admit(now).unwrap_err();
        assert_eq!(refusal.reason, RefusalReason::TooManyCalls);
        assert_eq!(refusal.retry_after, CALLS_FULL_RETRY_AFTER);
        assert_eq!(limiter.in_progress(), 2);
        drop(first);
        assert_eq!(limiter.in_progress(), 1);
        assert!(limiter.admit(now).is_ok());
    }

    #[test]
    fn beyond_the_rate_a_call_is_refused_with_the_wait_and_keeps_no_slot() {
        let limiter = limiter(100, 2);
        let now = Instant::now();
        let held: Vec<_> = (0..2)
            .map(|_| limiter.admit(now).expect("within the rate"))
            .collect();
        let refusal = limiter.admit(now).unwrap_err();
        assert_eq!(refusal.reason, RefusalReason::TooManyNewCalls);
        assert_eq!(refusal.retry_after, Duration::from_millis(500));
        assert_eq!(refusal.retry_after_secs(), 1);
        assert_eq!(limiter.in_progress(), 2, "the refused call holds no slot");
        assert!(limiter.admit(now + Duration::from_millis(500)).is_ok());
        drop(held);
    }

    #[test]
    fn a_call_refused_for_want_of_a_slot_does_not_spend_the_rate() {
        let limiter = limiter(1, 1);
        let now = Instant::now();
        let only = limiter.admit(now).expect("first");
        assert_eq!(
            limiter
                .admit(now + Duration::from_secs(1))
                .unwrap_err()
                .reason,
            RefusalReason::TooManyCalls
        );
        drop(only);
        assert!(limiter.admit(now + Duration::from_secs(1)).is_ok());
    }
}
