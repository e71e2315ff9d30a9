//! Random event sequences, including nonsense ones: the flow never panics, reports an outcome
//! at most once, hangs up at most once, keeps at most one timer armed, and is silent once finished.

use std::time::Duration;

use crate::domain::{Digit, Outcome, Password, PhoneNumber, PlaybackId};
use crate::ivr::{Action, Entry, Event, Flow, FlowConfig, TimerId, Verification};

/// xorshift64*: deterministic, so a failure names the seed that reproduces it.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// Any event at all, biased towards ones that make sense (recent playback ids, armed timers).
fn random_event(rng: &mut Rng, last_play: u32) -> Event {
    match rng.below(12) {
        0 => Event::Answered,
        1..=5 => Event::Digit(Digit::ALL[rng.below(16) as usize]),
        6 => Event::PlaybackFinished(PlaybackId(last_play.saturating_sub(rng.below(2) as u32))),
        7 => Event::TimerFired(if rng.below(2) == 0 {
            TimerId::FirstDigit
        } else {
            TimerId::InterDigit
        }),
        8 => Event::CallerChecked {
            locked_out: rng.below(4) == 0,
        },
        9 => Event::Verified(match rng.below(4) {
            0 => Verification::Reset(Password::generate()),
            1 => Verification::Mismatch,
            2 => Verification::TooManyAttempts,
            _ => Verification::Unavailable,
        }),
        10 => Event::PlaybackFinished(PlaybackId(rng.next() as u32)),
        _ if rng.below(8) == 0 => Event::HungUp,
        _ => Event::Digit(Digit::Pound),
    }
}

fn random_config(rng: &mut Rng) -> FlowConfig {
    FlowConfig {
        entry: if rng.below(2) == 0 {
            Entry::Menu
        } else {
            Entry::Code
        },
        announce_rate: rng.below(2) == 0,
        first_digit_timeout: Duration::from_millis(rng.below(20_000)),
        inter_digit_timeout: Duration::from_millis(rng.below(10_000)),
        menu_tries: rng.below(5) as u32,
        code_tries: rng.below(5) as u32,
    }
}

#[test]
fn random_event_sequences_keep_the_invariants() {
    for seed in 1..=3_000u64 {
        let mut rng = Rng(seed);
        let caller = if rng.below(5) == 0 {
            None
        } else {
            PhoneNumber::parse("0912345678").ok()
        };
        let mut flow = Flow::new(random_config(&mut rng), caller);
        let (mut outcomes, mut hangups, mut last_play) = (Vec::<Outcome>::new(), 0, 0u32);
        let mut armed = std::collections::HashSet::new();
        for step in 0..300 {
            let was_finished = flow.is_finished();
            let event = random_event(&mut rng, last_play);
            if let Event::TimerFired(id) = event {
                armed.remove(&id); // a timer that fires is no longer armed, whatever the flow does
            }
            let actions = flow.handle(event);
            assert!(
                !was_finished || actions.is_empty(),
                "seed {seed} step {step}: acted after finishing"
            );
            for action in actions {
                match action {
                    Action::Outcome(o) => outcomes.push(o),
                    Action::Hangup => hangups += 1,
                    Action::Play { id, .. } => {
                        assert!(id.0 > last_play, "seed {seed}: playback id went back");
                        last_play = id.0;
                    }
                    Action::StartTimer { id, .. } => {
                        armed.insert(id);
                    }
                    Action::CancelTimer(id) => {
                        armed.remove(&id);
                    }
                    _ => {}
                }
            }
            assert!(
                armed.len() <= 1,
                "seed {seed} step {step}: two timers armed"
            );
            assert!(outcomes.len() <= 1, "seed {seed}: outcomes {outcomes:?}");
            assert!(hangups <= 1, "seed {seed}: hung up twice");
            assert_eq!(flow.outcome(), outcomes.first().copied(), "seed {seed}");
            if flow.is_finished() {
                assert!(
                    armed.is_empty(),
                    "seed {seed}: finished with {armed:?} armed"
                );
            }
            if hangups == 1 {
                assert!(
                    flow.is_finished() && outcomes.len() == 1,
                    "seed {seed}: BYE without an outcome"
                );
            }
        }
    }
}
