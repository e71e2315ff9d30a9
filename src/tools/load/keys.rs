//! When a call presses its keys, as a sans-I/O state machine on the 20 ms media clock: the
//! sender asks [`Keyer::tick`] once per frame whether this frame is a telephone-event instead of
//! audio. Time is an input, so the tests run a call's whole key sequence on a virtual clock.
//!
//! A press follows RFC 4733 §2.5 the way a phone does: 100 ms of updates (5 packets, the first
//! marked, the duration growing by one frame each), then the end packet three times (§2.5.1.4,
//! at the update interval), then 100 ms of audio before the next key.

use std::time::{Duration, Instant};

use crate::domain::Digit;
use crate::media::TelephoneEvent;

/// Packets of one press before the end packets: 5 × 20 ms.
const UPDATES: u16 = 5;
/// RTP timestamp units per 20 ms frame.
const FRAME_UNITS: u16 = 160;
/// How often the end packet is sent.
const END_PACKETS: u8 = 3;
/// Audio frames between two presses (100 ms).
const GAP_FRAMES: u8 = 5;
/// −10 dBm0, a typical phone.
const VOLUME: u8 = 10;

/// When a group of keys may start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Release {
    /// At a fixed time (e.g. 500 ms after the 200 OK).
    At(Instant),
    /// `delay` after [`Keyer::signal`] (the prompt that asks for them was heard starting), but
    /// not before `gap` after the previous group ended; at `fallback` even without a signal, so
    /// a prompt we failed to recognise still gets its keys (and the outcome tells).
    OnSignal {
        delay: Duration,
        gap: Duration,
        fallback: Instant,
    },
}

/// Keys pressed one after the other once released.
#[derive(Debug, Clone)]
pub struct Group {
    pub keys: Vec<Digit>,
    pub release: Release,
}

/// What to send in place of this frame's audio.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyPacket {
    pub event: TelephoneEvent,
    /// First packet of a press: marker bit, and the press's RTP timestamp starts here.
    pub first: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Idle,
    Pressing {
        digit: Digit,
        updates: u16,
        ends: u8,
    },
    Gap {
        left: u8,
    },
}

/// The key presses of one call.
#[derive(Debug, Clone)]
pub struct Keyer {
    groups: Vec<Group>,
    group: usize,
    key: usize,
    state: State,
    signalled: Option<Instant>,
    /// When the previous group's last press ended.
    group_ended: Option<Instant>,
}

impl Keyer {
    pub fn new(groups: Vec<Group>) -> Keyer {
        Keyer {
            groups,
            group: 0,
            key: 0,
            state: State::Idle,
            signalled: None,
            group_ended: None,
        }
    }

    /// No keys at all (the answer flow).
    pub fn none() -> Keyer {
        Keyer::new(Vec::new())
    }

    /// The prompt that asks for the next group was heard starting at `now`.
    pub fn signal(&mut self, now: Instant) {
        self.signalled.get_or_insert(now);
    }

    /// Every key was pressed.
    #[cfg(test)]
    pub fn is_done(&self) -> bool {
        self.group >= self.groups.len() && self.state == State::Idle
    }

    /// Called once per 20 ms frame: the telephone-event to send instead of audio, if any.
    pub fn tick(&mut self, now: Instant) -> Option<KeyPacket> {
        match self.state {
            State::Pressing {
                digit,
                updates,
                ends,
            } if updates < UPDATES => {
                self.state = State::Pressing {
                    digit,
                    updates: updates + 1,
                    ends,
                };
                Some(packet(digit, updates + 1, false))
            }
            State::Pressing {
                digit,
                updates,
                ends,
            } => {
                let ends = ends + 1;
                self.state = if ends < END_PACKETS {
                    State::Pressing {
                        digit,
                        updates,
                        ends,
                    }
                } else {
                    self.finish_key(now);
                    State::Gap { left: GAP_FRAMES }
                };
                Some(packet(digit, updates, true))
            }
            State::Gap { left } => {
                self.state = if left > 1 {
                    State::Gap { left: left - 1 }
                } else {
                    State::Idle
                };
                None
            }
            State::Idle => {
                let digit = self.due_key(now)?;
                self.state = State::Pressing {
                    digit,
                    updates: 1,
                    ends: 0,
                };
                Some(packet(digit, 1, false))
            }
        }
    }

    /// The next key if its group is released (a group already under way is always released).
    fn due_key(&self, now: Instant) -> Option<Digit> {
        let group = self.groups.get(self.group)?;
        let released = self.key > 0
            || match group.release {
                Release::At(at) => now >= at,
                Release::OnSignal {
                    delay,
                    gap,
                    fallback,
                } => {
                    let after_gap = self.group_ended.is_none_or(|ended| now >= ended + gap);
                    let signalled = self.signalled.is_some_and(|s| now >= s + delay);
                    (signalled && after_gap) || now >= fallback
                }
            };
        released.then(|| group.keys.get(self.key).copied())?
    }

    fn finish_key(&mut self, now: Instant) {
        self.key += 1;
        let group_len = self.groups.get(self.group).map_or(0, |g| g.keys.len());
        if self.key >= group_len {
            self.group += 1;
            self.key = 0;
            self.group_ended = Some(now);
        }
    }
}

fn packet(digit: Digit, updates: u16, end: bool) -> KeyPacket {
    KeyPacket {
        event: TelephoneEvent {
            event: digit.event_code(),
            end,
            volume: VOLUME,
            duration: updates * FRAME_UNITS,
        },
        first: updates == 1 && !end,
    }
}

/// Keys from a string of 0-9, *, #; other characters are skipped (the accounts file was
/// validated before, so this never drops a real key).
pub fn digits(keys: &str) -> Vec<Digit> {
    keys.chars()
        .filter_map(|c| Digit::from_char(c).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const FRAME: Duration = Duration::from_millis(20);

    /// Runs the keyer for `frames` ticks from `t0`, signalling at `signal_at` (a frame index).
    fn run(
        keyer: &mut Keyer,
        t0: Instant,
        frames: u32,
        signal_at: Option<u32>,
    ) -> Vec<(u32, KeyPacket)> {
        let mut out = Vec::new();
        for n in 0..frames {
            let now = t0 + FRAME * n;
            if signal_at == Some(n) {
                keyer.signal(now);
            }
            if let Some(p) = keyer.tick(now) {
                out.push((n, p));
            }
        }
        out
    }

    #[test]
    fn one_press_is_five_updates_three_ends_and_a_gap() {
        let t0 = Instant::now();
        let mut keyer = Keyer::new(vec![Group {
            keys: digits("8"),
            release: Release::At(t0 + Duration::from_millis(500)),
        }]);
        let sent = run(&mut keyer, t0, 100, None);
        // Due at 500 ms: frame 25.
        let frames: Vec<u32> = sent.iter().map(|(n, _)| *n).collect();
        assert_eq!(frames, (25..33).collect::<Vec<_>>());
        let durations: Vec<u16> = sent.iter().map(|(_, p)| p.event.duration).collect();
        assert_eq!(durations, [160, 320, 480, 640, 800, 800, 800, 800]);
        let ends: Vec<bool> = sent.iter().map(|(_, p)| p.event.end).collect();
        assert_eq!(ends, [false, false, false, false, false, true, true, true]);
        let markers: Vec<bool> = sent.iter().map(|(_, p)| p.first).collect();
        assert_eq!(
            markers,
            [true, false, false, false, false, false, false, false]
        );
        assert!(sent.iter().all(|(_, p)| p.event.event == 8));
        assert!(keyer.is_done());
    }

    #[test]
    fn keys_of_a_group_follow_each_other_after_a_100_ms_gap() {
        let t0 = Instant::now();
        let mut keyer = Keyer::new(vec![Group {
            keys: digits("12#"),
            release: Release::At(t0),
        }]);
        let firsts: Vec<(u32, u8)> = run(&mut keyer, t0, 100, None)
            .into_iter()
            .filter(|(_, p)| p.first)
            .map(|(n, p)| (n, p.event.event))
            .collect();
        // 8 event frames + 5 gap frames = 13 frames (260 ms) per key; # is event 11.
        assert_eq!(firsts, [(0, 1), (13, 2), (26, 11)]);
    }

    #[test]
    fn the_code_waits_for_the_prompt_that_asks_for_it() {
        let t0 = Instant::now();
        let mut keyer = Keyer::new(vec![
            Group {
                keys: digits("8"),
                release: Release::At(t0 + Duration::from_millis(500)),
            },
            Group {
                keys: digits("01#"),
                release: Release::OnSignal {
                    delay: Duration::from_millis(200),
                    gap: Duration::from_secs(1),
                    fallback: t0 + Duration::from_secs(30),
                },
            },
        ]);
        // The 8 ends at frame 32 (640 ms); the prompt is heard at frame 150 (3 s).
        let firsts: Vec<u32> = run(&mut keyer, t0, 400, Some(150))
            .into_iter()
            .filter(|(_, p)| p.first)
            .map(|(n, _)| n)
            .collect();
        assert_eq!(firsts, [25, 160, 173, 186]);
        assert!(keyer.is_done());
    }

    #[test]
    fn an_early_signal_still_leaves_the_gap_and_no_signal_falls_back() {
        let t0 = Instant::now();
        let groups = |fallback| {
            vec![
                Group {
                    keys: digits("8"),
                    release: Release::At(t0),
                },
                Group {
                    keys: digits("5"),
                    release: Release::OnSignal {
                        delay: Duration::ZERO,
                        gap: Duration::from_secs(1),
                        fallback,
                    },
                },
            ]
        };
        // The 8's last end packet is frame 7 (140 ms): the 5 waits until 1,140 ms = frame 57.
        let mut early = Keyer::new(groups(t0 + Duration::from_secs(30)));
        let firsts: Vec<u32> = run(&mut early, t0, 200, Some(1))
            .into_iter()
            .filter(|(_, p)| p.first)
            .map(|(n, _)| n)
            .collect();
        assert_eq!(firsts, [0, 57]);
        let mut never = Keyer::new(groups(t0 + Duration::from_secs(2)));
        let firsts: Vec<u32> = run(&mut never, t0, 200, None)
            .into_iter()
            .filter(|(_, p)| p.first)
            .map(|(n, _)| n)
            .collect();
        assert_eq!(firsts, [0, 100]);
    }

    #[test]
    fn no_keys_never_sends_an_event() {
        let t0 = Instant::now();
        let mut keyer = Keyer::none();
        assert!(keyer.is_done());
        assert!(run(&mut keyer, t0, 50, Some(3)).is_empty());
    }
}
