//! What goes into the flow ([`Event`]) and what comes out ([`Action`]). These are the whole
//! interface between the call flow and the driver that does the I/O.

use std::fmt;
use std::time::Duration;

use crate::domain::{AccountKey, Clip, Digit, Outcome, Password, PlaybackId};

/// Something that happened to the call, reported by the driver.
#[derive(Debug)]
pub enum Event {
    /// The call is up and media is running: start talking.
    Answered,
    /// One key press (one per press, already de-duplicated by the DTMF layer).
    Digit(Digit),
    /// A [`Action::Play`] came to its natural end. Not sent after [`Action::StopPlayback`] or
    /// when a newer `Play` replaced it (the flow ignores one that slips through anyway).
    PlaybackFinished(PlaybackId),
    /// A timer armed by [`Action::StartTimer`] ran out.
    TimerFired(TimerId),
    /// The answer to [`Action::CheckCaller`].
    CallerChecked { locked_out: bool },
    /// The answer to [`Action::Verify`].
    Verified(Verification),
    /// News of the transfer asked for by [`Action::Transfer`].
    Transfer(TransferReport),
    /// The caller hung up or the call was torn down.
    HungUp,
}

/// How a transfer to an agent is going, from the REFER's answer and the NOTIFYs that follow it
/// (RFC 3515). Only a final NOTIFY decides: a 202 to the REFER says only that the PBX will try.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TransferReport {
    /// Still trying: the REFER was accepted, or a NOTIFY carried a provisional status.
    Trying,
    /// A NOTIFY carried a 2xx: the caller is with an agent; our leg is no longer needed.
    Succeeded,
    /// The REFER was refused (or never answered), or a NOTIFY carried a final failure.
    Failed,
}

/// The result of checking a keyed account against the caller, done by the driver with the store.
#[derive(Debug)]
pub enum Verification {
    /// Matched: this password was generated and its hash stored; the flow reads it out and drops it.
    Reset(Password),
    /// Unknown key, another number's account, or not registered: one answer for all of them.
    Mismatch,
    /// A limit (caller, code or account) applies; nothing was looked up.
    TooManyAttempts,
    /// The store failed; nothing was reset, nothing may be spoken.
    Unavailable,
}

/// The flow's timers. One is armed at a time; the ids keep a late firing of a replaced timer
/// from being mistaken for the current one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TimerId {
    /// Waiting for the first key after a prompt that asks for input.
    FirstDigit,
    /// Waiting for the next key of a code being entered.
    InterDigit,
    /// Waiting for the final word on a transfer to an agent.
    Transfer,
}

/// Something the driver must do, in the order given.
#[derive(Clone, PartialEq, Eq)]
pub enum Action {
    /// Play these clips back to back, replacing whatever is playing.
    Play { id: PlaybackId, clips: Vec<Clip> },
    /// Stop the current playback (barge-in); no `PlaybackFinished` follows.
    StopPlayback,
    /// Arm (or re-arm) the timer with this id to fire `after` from now. The flow ignores a
    /// firing of a timer it cancelled, but it cannot tell two armings of one id apart: the
    /// driver must deliver `TimerFired` only for the latest one (check the deadline on firing).
    StartTimer { id: TimerId, after: Duration },
    /// Disarm the timer with this id, if armed.
    CancelTimer(TimerId),
    /// Check whether the calling number is locked out; answer with [`Event::CallerChecked`].
    CheckCaller,
    /// Check limits, look the account up, match the caller, and on a match reset and store a new
    /// password; answer with [`Event::Verified`].
    Verify(AccountKey),
    /// Transfer the call to the configured agent address (REFER); answer with
    /// [`Event::Transfer`]. The flow never says where to: that is fixed in configuration.
    Transfer,
    /// How the call ended, for the CDR. Emitted exactly once, as soon as it is known.
    Outcome(Outcome),
    /// End the call (send BYE).
    Hangup,
}

/// Written by hand so that the keyed code never reaches a log line; password digits are already
/// hidden by [`Clip`]'s own `Debug`.
impl fmt::Debug for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Action::Play { id, clips } => f
                .debug_struct("Play")
                .field("id", id)
                .field("clips", clips)
                .finish(),
            Action::StopPlayback => f.write_str("StopPlayback"),
            Action::StartTimer { id, after } => f
                .debug_struct("StartTimer")
                .field("id", id)
                .field("after", after)
                .finish(),
            Action::CancelTimer(id) => f.debug_tuple("CancelTimer").field(id).finish(),
            Action::CheckCaller => f.write_str("CheckCaller"),
            Action::Verify(AccountKey::Code(_)) => f.write_str("Verify(Code(**********))"),
            Action::Verify(AccountKey::PersonalId(_)) => {
                f.write_str("Verify(PersonalId(************))")
            }
            Action::Transfer => f.write_str("Transfer"),
            Action::Outcome(outcome) => f.debug_tuple("Outcome").field(outcome).finish(),
            Action::Hangup => f.write_str("Hangup"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Prompt;

    #[test]
    fn debug_hides_the_keyed_code_and_the_password() {
        let verify = Action::Verify(AccountKey::parse("0123456789").unwrap());
        assert_eq!(format!("{verify:?}"), "Verify(Code(**********))");
        let pid = Action::Verify(AccountKey::parse("001085012345").unwrap());
        assert!(!format!("{pid:?}").contains("001085012345"));

        let event = Event::Verified(Verification::Reset(
            Password::from_digits("279419").unwrap(),
        ));
        assert!(!format!("{event:?}").contains("279419"));
        let play = Action::Play {
            id: PlaybackId(1),
            clips: vec![
                Clip::Prompt(Prompt::NewPassword),
                Clip::Digit(2),
                Clip::Digit(7),
            ],
        };
        assert_eq!(
            format!("{play:?}"),
            "Play { id: PlaybackId(1), clips: [NewPassword, Digit(*), Digit(*)] }"
        );
    }
}
