//! A stand-in for the driver: it owns virtual time, the armed timers and the current playback,
//! answers `CheckCaller` and `Verify` from a script, and records everything the flow asked for.
//! Each clip "lasts" [`CLIP`], so a playback ends after the sum of its clips.

use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;

use crate::domain::{AccountKey, Clip, Digit, Outcome, Password, PhoneNumber, PlaybackId, Prompt};
use crate::ivr::{Action, Entry, Event, Flow, FlowConfig, TimerId, Verification};

/// How long every clip plays in virtual time.
pub const CLIP: Duration = Duration::from_secs(2);

pub const CODE: &str = "0123456789";
pub const PERSONAL_ID: &str = "001085012345";
pub const PASSWORD: &str = "279419";

/// `clips![Welcome, Menu]` is the list of those prompts as clips.
macro_rules! clips {
    ($($prompt:ident),* $(,)?) => {
        vec![$(crate::domain::Clip::Prompt(crate::domain::Prompt::$prompt)),*]
    };
}
pub(crate) use clips;

/// What the scripted store answers to `Verify`.
#[derive(Clone, Copy, Debug)]
pub enum Answer {
    Reset,
    Mismatch,
    TooManyAttempts,
    Unavailable,
}

impl Answer {
    fn verification(self) -> Verification {
        match self {
            Answer::Reset => Password::from_digits(PASSWORD)
                .map_or(Verification::Unavailable, Verification::Reset),
            Answer::Mismatch => Verification::Mismatch,
            Answer::TooManyAttempts => Verification::TooManyAttempts,
            Answer::Unavailable => Verification::Unavailable,
        }
    }
}

/// One simulated call.
pub struct Call {
    pub flow: Flow,
    pub now: Duration,
    timers: BTreeMap<TimerId, Duration>,
    playing: Option<(PlaybackId, Duration)>,
    /// Every `Play`: when it started and what it held.
    pub plays: Vec<(Duration, Vec<Clip>)>,
    pub play_ids: Vec<PlaybackId>,
    pub stops: usize,
    pub outcomes: Vec<Outcome>,
    pub hangups: Vec<Duration>,
    pub caller_checks: usize,
    /// How many times the flow asked for a transfer; the test answers with `Event::Transfer`.
    pub transfers: usize,
    pub verified: Vec<AccountKey>,
    /// `Debug` of every action, to check that nothing secret is printable.
    pub debug_log: Vec<String>,
    pub locked_out: bool,
    pub answer: Answer,
    /// When set, store answers wait in `held` until [`Call::release`].
    pub hold_answers: bool,
    held: VecDeque<Event>,
}

impl Call {
    pub fn new(config: FlowConfig, caller: Option<&str>) -> Call {
        let caller = caller.and_then(|c| PhoneNumber::parse(c).ok());
        Call {
            flow: Flow::new(config, caller),
            now: Duration::ZERO,
            timers: BTreeMap::new(),
            playing: None,
            plays: Vec::new(),
            play_ids: Vec::new(),
            stops: 0,
            outcomes: Vec::new(),
            hangups: Vec::new(),
            caller_checks: 0,
            transfers: 0,
            verified: Vec::new(),
            debug_log: Vec::new(),
            locked_out: false,
            answer: Answer::Reset,
            hold_answers: false,
            held: VecDeque::new(),
        }
    }

    /// Menu mode, default settings, a known caller.
    pub fn menu() -> Call {
        Call::new(FlowConfig::default(), Some("0912345678"))
    }

    /// Code mode, default settings, a known caller.
    pub fn code() -> Call {
        Call::new(
            FlowConfig {
                entry: Entry::Code,
                ..FlowConfig::default()
            },
            Some("0912345678"),
        )
    }

    /// An agent to transfer to, default settings otherwise, a known caller. to transfer to, default settings, a known caller.
    pub fn with_operator(entry: Entry) -> Call {
        Call::new(
            FlowConfig {
                entry,
                offer_operator: true,
                ..FlowConfig::default()
            },
            Some("0912345678"),
        )
    }

    /// Sends one event and then every store answer it provokes, executing all actions.
    pub fn send(&mut self, event: Event) {
        let mut queue = VecDeque::from([event]);
        while let Some(event) = queue.pop_front() {
            let was_finished = self.flow.is_finished();
            let actions = self.flow.handle(event);
            assert!(
                !was_finished || actions.is_empty(),
                "finished flow acted: {actions:?}"
            );
            for action in actions {
                self.execute(action, &mut queue);
            }
        }
    }

    fn execute(&mut self, action: Action, queue: &mut VecDeque<Event>) {
        self.debug_log.push(format!("{action:?}"));
        let answers = if self.hold_answers {
            &mut self.held
        } else {
            queue
        };
        match action {
            Action::Play { id, clips } => {
                let length = CLIP * clips.len() as u32;
                self.playing = Some((id, self.now + length));
                self.plays.push((self.now, clips));
                self.play_ids.push(id);
            }
            Action::StopPlayback => {
                self.playing = None;
                self.stops += 1;
            }
            Action::StartTimer { id, after } => {
                self.timers.insert(id, self.now + after);
            }
            Action::CancelTimer(id) => {
                self.timers.remove(&id);
            }
            Action::CheckCaller => {
                self.caller_checks += 1;
                answers.push_back(Event::CallerChecked {
                    locked_out: self.locked_out,
                });
            }
            Action::Verify(key) => {
                self.verified.push(key);
                answers.push_back(Event::Verified(self.answer.verification()));
            }
            Action::Transfer => self.transfers += 1,
            Action::Outcome(outcome) => self.outcomes.push(outcome),
            Action::Hangup => {
                self.hangups.push(self.now);
                self.playing = None;
            }
        }
    }

    /// Delivers the store answers held back by `hold_answers`.
    pub fn release(&mut self) {
        self.hold_answers = false;
        while let Some(event) = self.held.pop_front() {
            self.send(event);
        }
    }

    pub fn answer(&mut self) {
        self.send(Event::Answered);
    }

    /// Presses keys at the current instant.
    pub fn press(&mut self, keys: &str) {
        for key in keys.chars() {
            self.send(Event::Digit(Digit::from_char(key).unwrap_or(Digit::A)));
        }
    }

    /// Presses keys one `gap` apart (the first after `gap`).
    pub fn press_slowly(&mut self, keys: &str, gap: Duration) {
        for key in keys.chars() {
            self.advance(gap);
            self.press(&key.to_string());
        }
    }

    /// The next scheduled thing: a playback end (first on a tie) or a timer.
    fn next_due(&self) -> Option<(Duration, Option<TimerId>)> {
        let playback = self.playing.map(|(_, end)| (end, None));
        let timer = self.timers.iter().map(|(id, at)| (*at, Some(*id))).min();
        match (playback, timer) {
            (Some(p), Some(t)) if t.0 < p.0 => Some(t),
            (Some(p), _) => Some(p),
            (None, t) => t,
        }
    }

    /// Lets `span` of virtual time pass, delivering playback ends and timers as they fall due.
    pub fn advance(&mut self, span: Duration) {
        let until = self.now + span;
        while let Some((at, timer)) = self.next_due().filter(|(at, _)| *at <= until) {
            self.now = at;
            match timer {
                Some(id) => {
                    self.timers.remove(&id);
                    self.send(Event::TimerFired(id));
                }
                None => {
                    if let Some((id, _)) = self.playing.take() {
                        self.send(Event::PlaybackFinished(id));
                    }
                }
            }
        }
        self.now = until;
    }

    /// Runs until the current playback has ended (and its consequences were handled).
    pub fn finish_prompt(&mut self) {
        if let Some((_, end)) = self.playing {
            self.advance(end - self.now);
        }
    }

    /// Runs until the flow is finished or nothing is scheduled any more (at most an hour).
    pub fn run(&mut self) {
        let limit = self.now + Duration::from_secs(3600);
        while !self.flow.is_finished() && self.now < limit {
            match self.next_due() {
                Some((at, _)) => self.advance(at - self.now),
                None => break,
            }
        }
    }

    pub fn is_playing(&self) -> bool {
        self.playing.is_some()
    }

    pub fn armed(&self) -> Vec<TimerId> {
        self.timers.keys().copied().collect()
    }

    pub fn last_play(&self) -> &[Clip] {
        self.plays.last().map_or(&[], |(_, clips)| clips.as_slice())
    }

    pub fn last_play_started(&self) -> Duration {
        self.plays.last().map_or(Duration::ZERO, |(at, _)| *at)
    }

    /// The clips of every play, in order.
    pub fn played(&self) -> Vec<Vec<Clip>> {
        self.plays.iter().map(|(_, clips)| clips.clone()).collect()
    }

    /// The keys sent to `Verify`, as text.
    pub fn verified_keys(&self) -> Vec<String> {
        self.verified
            .iter()
            .map(|k| k.as_str().to_owned())
            .collect()
    }

    /// Asserts the call ended with this outcome (reported once) and a hang-up.
    pub fn assert_ended(&self, outcome: Outcome) {
        assert_eq!(self.outcomes, vec![outcome]);
        assert_eq!(self.hangups.len(), 1, "expected one hang-up");
        assert!(self.flow.is_finished());
        assert_eq!(self.flow.outcome(), Some(outcome));
        assert!(
            self.timers.is_empty(),
            "timers left armed: {:?}",
            self.timers
        );
    }
}

/// The clips of a reset announcement for [`PASSWORD`].
pub fn password_announcement() -> Vec<Clip> {
    let digits: Vec<Clip> = PASSWORD.bytes().map(|b| Clip::Digit(b - b'0')).collect();
    let mut clips = vec![Clip::Prompt(Prompt::NewPassword)];
    clips.extend(&digits);
    clips.push(Clip::Prompt(Prompt::RepeatPassword));
    clips.extend(&digits);
    clips.push(Clip::Prompt(Prompt::Goodbye));
    clips
}

pub fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}
