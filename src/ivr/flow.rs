//! The call flow of branch 8 as a state machine: [`Flow::handle`] takes one [`Event`] and returns
//! the [`Action`]s it causes. It never reads a clock or touches a socket, so tests drive it on a
//! virtual clock and the driver owns all the waiting.
//!
//! One invariant keeps a call from going quiet for ever: while the flow listens for keys, either
//! a prompt is playing (whose end arms the first-digit timer) or a timer is armed. Every key
//! keeps it: a digit re-arms the inter-digit timer, `#` and `*` lead to a new prompt or to
//! verification, and A–D change nothing at all. So a key that barges in and leaves no digit
//! never needs a timer of its own.
//!
//! When an agent is configured (`FlowConfig::offer_operator`), key 0 transfers the call; see
//! the `operator` module for where it is offered and how a transfer ends.

use std::mem;

use super::code_entry::CodeEntry;
use super::{Action, Entry, Event, FlowConfig, TimerId, Verification};
use crate::domain::{Clip, Digit, Outcome, Password, PhoneNumber, PlaybackId, Prompt};

mod operator;

/// Where the call is. Whether a prompt is playing is tracked apart (`Flow::playing`), because
/// the same step both plays and listens.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Step {
    /// Not answered yet.
    Ringing,
    /// Listening for 8 at the menu.
    Menu,
    /// Waiting for the driver to say whether the caller's number is locked out.
    CheckingCaller,
    /// Collecting the code.
    Code,
    /// Offering an agent once more before goodbye (after a mismatch, or once the code tries are
    /// used up): only 0 is listened for. Without it the call ends as `otherwise`.
    Offering { otherwise: Outcome },
    /// Waiting for the PBX to say whether the transfer to an agent went through.
    Transferring,
    /// Waiting for the driver to verify the code (and reset the password).
    Verifying,
    /// The last announcement is playing; hang up when it ends.
    Closing,
    /// Hung up, by either side. Nothing happens any more.
    Finished,
}

/// Which kind of failed try, at the menu or at the code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Failure {
    /// Nothing keyed before the timeout.
    Silence,
    /// A wrong key at the menu, a wrong length at the code.
    Wrong,
}

/// One call's flow. Create it when the call arrives, feed it every event, execute what it returns.
#[derive(Debug)]
pub struct Flow {
    config: FlowConfig,
    /// `None` when the number was withheld: such a caller cannot be matched to an account.
    caller: Option<PhoneNumber>,
    step: Step,
    /// The playback whose natural end we wait for; `None` when it was stopped or ended.
    playing: Option<PlaybackId>,
    next_playback: u32,
    armed: Option<TimerId>,
    entry: CodeEntry,
    menu_failures: u32,
    code_failures: u32,
    outcome: Option<Outcome>,
    /// In code mode, the welcome clips wait here to be prepended to branch 8's first prompt, so
    /// the caller hears no gap between them.
    greeting: Vec<Clip>,
    /// Actions produced by the event being handled.
    out: Vec<Action>,
}

impl Flow {
    /// A flow for one call. `caller` is the normalised calling number, `None` when withheld.
    pub fn new(config: FlowConfig, caller: Option<PhoneNumber>) -> Flow {
        Flow {
            config,
            caller,
            step: Step::Ringing,
            playing: None,
            next_playback: 0,
            armed: None,
            entry: CodeEntry::default(),
            menu_failures: 0,
            code_failures: 0,
            outcome: None,
            greeting: Vec::new(),
            out: Vec::new(),
        }
    }

    /// Feeds one event; returns what to do, in order. Events that make no sense in the current
    /// step (a stale playback id, a timer that was cancelled, an answer nobody asked for) are
    /// ignored, and once the flow is finished every event is.
    pub fn handle(&mut self, event: Event) -> Vec<Action> {
        match event {
            _ if self.step == Step::Finished => {}
            Event::HungUp => self.on_hung_up(),
            Event::Answered if self.step == Step::Ringing => self.on_answered(),
            Event::Answered => {}
            Event::Digit(digit) => self.on_digit(digit),
            Event::PlaybackFinished(id) if self.playing == Some(id) => {
                self.playing = None;
                self.on_playback_finished();
            }
            Event::PlaybackFinished(_) => {}
            Event::TimerFired(id) if self.armed == Some(id) => {
                self.armed = None;
                self.on_timeout();
            }
            Event::TimerFired(_) => {}
            Event::CallerChecked { locked_out } if self.step == Step::CheckingCaller => {
                self.on_caller_checked(locked_out)
            }
            Event::CallerChecked { .. } => {}
            Event::Verified(verification) if self.step == Step::Verifying => {
                self.on_verified(verification)
            }
            Event::Verified(_) => {}
            Event::Transfer(report) if self.step == Step::Transferring => self.on_transfer(report),
            Event::Transfer(_) => {}
        }
        mem::take(&mut self.out)
    }

    /// How the call ended, once known.
    pub fn outcome(&self) -> Option<Outcome> {
        self.outcome
    }

    /// True after the flow emitted `Hangup` or received `HungUp`.
    pub fn is_finished(&self) -> bool {
        self.step == Step::Finished
    }

    /// The calling number this flow was created with.
    pub fn caller(&self) -> Option<&PhoneNumber> {
        self.caller.as_ref()
    }

    #[cfg(test)]
    pub(super) fn keyed_len(&self) -> usize {
        self.entry.len()
    }

    /// True if the flow waits for something that will never come (see the module docs).
    #[cfg(test)]
    pub(super) fn is_stuck(&self) -> bool {
        match self.step {
            Step::Menu | Step::Code | Step::Offering { .. } => {
                self.playing.is_none() && self.armed.is_none()
            }
            Step::Transferring => self.armed.is_none(),
            Step::Closing => self.playing.is_none(),
            Step::Ringing | Step::CheckingCaller | Step::Verifying | Step::Finished => false,
        }
    }

    fn on_answered(&mut self) {
        self.greeting.push(Clip::Prompt(Prompt::Welcome));
        if self.config.announce_rate {
            self.greeting.push(Clip::Prompt(Prompt::RateNotice));
        }
        match self.config.entry {
            Entry::Menu => {
                self.step = Step::Menu;
                self.play_menu(None);
            }
            Entry::Code => self.enter_branch_8(),
        }
    }

    fn on_hung_up(&mut self) {
        self.disarm();
        self.playing = None;
        self.settle(Outcome::Abandoned);
        self.step = Step::Finished;
    }

    fn on_digit(&mut self, digit: Digit) {
        match self.step {
            Step::Menu => {
                self.barge_in();
                self.disarm();
                if digit == Digit::D8 {
                    self.enter_branch_8();
                } else if digit == Digit::D0 && self.config.offer_operator {
                    self.transfer();
                } else {
                    self.menu_failed(Failure::Wrong);
                }
            }
            Step::Code => self.on_code_digit(digit),
            Step::Offering { .. } => self.on_offer_digit(digit),
            // Keys are not input while we wait for the store or the PBX, or make the last
            // announcement.
            Step::Ringing
            | Step::CheckingCaller
            | Step::Verifying
            | Step::Transferring
            | Step::Closing
            | Step::Finished => {}
        }
    }

    fn on_code_digit(&mut self, digit: Digit) {
        match digit {
            Digit::Pound => {
                self.barge_in();
                self.submit_code();
            }
            Digit::Star => {
                self.barge_in();
                self.ask_for_code(&[Prompt::EnterCode]);
            }
            // A–D are not on an ordinary keypad; treat them as noise rather than as input.
            Digit::A | Digit::B | Digit::C | Digit::D => {}
            decimal => {
                self.barge_in();
                self.entry.push(decimal.decimal().unwrap_or_default());
                self.arm(TimerId::InterDigit, self.config.inter_digit_timeout);
            }
        }
    }

    fn on_playback_finished(&mut self) {
        match self.step {
            // The timer for the first key starts only once the question has been asked in full.
            Step::Menu | Step::Code | Step::Offering { .. } => {
                self.arm(TimerId::FirstDigit, self.config.first_digit_timeout)
            }
            Step::Closing => {
                self.out.push(Action::Hangup);
                self.step = Step::Finished;
            }
            Step::Ringing
            | Step::CheckingCaller
            | Step::Verifying
            | Step::Transferring
            | Step::Finished => {}
        }
    }

    fn on_timeout(&mut self) {
        match self.step {
            Step::Menu => self.menu_failed(Failure::Silence),
            Step::Code if self.entry.is_empty() => self.code_failed(Failure::Silence),
            // A pause after some digits ends the entry as `#` would.
            Step::Code => self.submit_code(),
            Step::Offering { otherwise } => self.conclude(otherwise, &[Prompt::Goodbye]),
            Step::Transferring => self.transfer_failed(),
            _ => {}
        }
    }

    /// Branch 8 proper: only a caller whose number we know, and who is not locked out, is asked
    /// for a code.
    fn enter_branch_8(&mut self) {
        if self.caller.is_none() {
            self.conclude(Outcome::Anonymous, &[Prompt::Anonymous, Prompt::Goodbye]);
        } else {
            self.step = Step::CheckingCaller;
            self.out.push(Action::CheckCaller);
        }
    }

    fn on_caller_checked(&mut self, locked_out: bool) {
        if locked_out {
            self.conclude(
                Outcome::TooManyAttempts,
                &[Prompt::TooManyAttempts, Prompt::Goodbye],
            );
        } else {
            self.ask_for_code(&[Prompt::EnterCode]);
        }
    }

    fn menu_failed(&mut self, failure: Failure) {
        self.menu_failures = self.menu_failures.saturating_add(1);
        let (outcome, prompt) = match failure {
            Failure::Silence => (Outcome::NoInput, Prompt::NoInput),
            Failure::Wrong => (Outcome::InvalidOption, Prompt::InvalidOption),
        };
        if self.menu_failures >= self.config.menu_tries {
            self.conclude(outcome, &[Prompt::Goodbye]);
        } else {
            self.play_menu(Some(prompt));
        }
    }

    fn submit_code(&mut self) {
        match self.entry.finish() {
            Some(key) => {
                self.disarm();
                self.step = Step::Verifying;
                self.out.push(Action::Verify(key));
            }
            None => self.code_failed(Failure::Wrong),
        }
    }

    fn code_failed(&mut self, failure: Failure) {
        self.code_failures = self.code_failures.saturating_add(1);
        let (outcome, retry): (_, &[Prompt]) = match failure {
            Failure::Silence => (Outcome::NoInput, &[Prompt::NoInput, Prompt::EnterCode]),
            // The clip itself says "invalid code, please enter it again".
            Failure::Wrong => (Outcome::InvalidCode, &[Prompt::InvalidCode]),
        };
        if self.code_failures >= self.config.code_tries {
            self.end_or_offer_operator(outcome, &[]);
        } else {
            self.ask_for_code(retry);
        }
    }

    fn on_verified(&mut self, verification: Verification) {
        match verification {
            Verification::Reset(password) => self.read_password(password),
            Verification::Mismatch => {
                self.end_or_offer_operator(Outcome::Mismatch, &[Prompt::Mismatch])
            }
            Verification::TooManyAttempts => self.conclude(
                Outcome::TooManyAttempts,
                &[Prompt::TooManyAttempts, Prompt::Goodbye],
            ),
            Verification::Unavailable => {
                self.conclude(Outcome::Error, &[Prompt::SystemBusy, Prompt::Goodbye])
            }
        }
    }

    /// Reads the password twice and says goodbye, all in one playback so that nothing can come
    /// between the two readings. The `Password` is dropped (and wiped) on return; from here on
    /// the digits exist only in the clip queue.
    fn read_password(&mut self, password: Password) {
        let digits = password
            .digits()
            .map(|d| Clip::Digit(d.decimal().unwrap_or_default()));
        let mut clips = Vec::with_capacity(3 + 2 * Password::LEN);
        clips.push(Clip::Prompt(Prompt::NewPassword));
        clips.extend(digits);
        clips.push(Clip::Prompt(Prompt::RepeatPassword));
        clips.extend(digits);
        clips.push(Clip::Prompt(Prompt::Goodbye));
        self.disarm();
        self.settle(Outcome::Reset);
        self.play_clips(clips);
        self.step = Step::Closing;
    }

    /// Asks for the code (again): a fresh entry and a prompt that may be interrupted.
    fn ask_for_code(&mut self, prompts: &[Prompt]) {
        self.disarm();
        self.entry.clear();
        self.step = Step::Code;
        self.play(prompts);
    }

    /// Settles the outcome, plays the last announcement and hangs up when it ends.
    fn conclude(&mut self, outcome: Outcome, prompts: &[Prompt]) {
        self.disarm();
        self.settle(outcome);
        self.play(prompts);
        self.step = Step::Closing;
    }

    /// Records the outcome and reports it, the first time only.
    fn settle(&mut self, outcome: Outcome) {
        if self.outcome.is_none() {
            self.outcome = Some(outcome);
            self.out.push(Action::Outcome(outcome));
        }
    }

    /// A key pressed over a prompt cuts it short. Timers are left to the step that follows,
    /// which re-arms or cancels them as it needs.
    fn barge_in(&mut self) {
        if self.playing.take().is_some() {
            self.out.push(Action::StopPlayback);
        }
    }

    fn play(&mut self, prompts: &[Prompt]) {
        self.play_clips(prompts.iter().copied().map(Clip::Prompt).collect());
    }

    /// Plays the clips after any pending greeting, as one playback with a new id.
    fn play_clips(&mut self, clips: Vec<Clip>) {
        let mut all = mem::take(&mut self.greeting);
        all.extend(clips);
        self.next_playback = self.next_playback.wrapping_add(1);
        let id = PlaybackId(self.next_playback);
        self.playing = Some(id);
        self.out.push(Action::Play { id, clips: all });
    }

    /// Arms `id`, cancelling the other timer first so at most one is ever armed.
    fn arm(&mut self, id: TimerId, after: std::time::Duration) {
        if self.armed.is_some_and(|armed| armed != id) {
            self.disarm();
        }
        self.armed = Some(id);
        self.out.push(Action::StartTimer { id, after });
    }

    fn disarm(&mut self) {
        if let Some(id) = self.armed.take() {
            self.out.push(Action::CancelTimer(id));
        }
    }
}
