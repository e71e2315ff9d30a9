//! The call flow's timers, kept by the driver: the flow asks for "timer X in 5 s" and is told
//! when it fires; the flow itself never reads a clock.

use std::collections::HashMap;
use std::hash::Hash;

use tokio::time::{Duration, Instant};

/// A handful of named deadlines; re-arming a name replaces its deadline.
pub struct Timers<Id> {
    deadlines: HashMap<Id, Instant>,
}

impl<Id: Copy + Eq + Hash> Timers<Id> {
    pub fn new() -> Timers<Id> {
        Timers {
            deadlines: HashMap::new(),
        }
    }

    pub fn arm(&mut self, id: Id, after: Duration, now: Instant) {
        self.deadlines.insert(id, now + after);
    }

    pub fn cancel(&mut self, id: Id) {
        self.deadlines.remove(&id);
    }

    /// The earliest deadline, if any timer is armed.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.deadlines.values().min().copied()
    }

    /// Removes and returns every timer due at `now`, earliest first.
    pub fn take_due(&mut self, now: Instant) -> Vec<Id> {
        let mut due: Vec<(Instant, Id)> = self
            .deadlines
            .iter()
            .filter(|(_, at)| **at <= now)
            .map(|(id, at)| (*at, *id))
            .collect();
        due.sort_by_key(|(at, _)| *at);
        for (_, id) in &due {
            self.deadlines.remove(id);
        }
        due.into_iter().map(|(_, id)| id).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timers_fire_in_deadline_order_and_rearming_replaces() {
        let t0 = Instant::now();
        let mut timers = Timers::new();
        timers.arm('a', Duration::from_secs(5), t0);
        timers.arm('b', Duration::from_secs(2), t0);
        timers.arm('a', Duration::from_secs(3), t0);
        assert_eq!(timers.next_deadline(), Some(t0 + Duration::from_secs(2)));
        assert!(timers.take_due(t0 + Duration::from_secs(1)).is_empty());
        assert_eq!(
            timers.take_due(t0 + Duration::from_secs(10)),
            vec!['b', 'a']
        );
        assert_eq!(timers.next_deadline(), None);
    }

    #[test]
    fn a_cancelled_timer_never_fires() {
        let t0 = Instant::now();
        let mut timers = Timers::new();
        timers.arm(1, Duration::from_secs(1), t0);
        timers.cancel(1);
        assert!(timers.take_due(t0 + Duration::from_secs(2)).is_empty());
    }
}
