//! Hang-ups in every state, and events that arrive when they make no sense.

use super::harness::*;
use crate::domain::{Digit, Outcome, PlaybackId};
use crate::ivr::{Event, TimerId, Verification};

/// A named way to bring a call into one step.
type Script = (&'static str, fn(&mut Call));

/// Every step a call can be in before its outcome, each reached by a script.
fn scripts() -> Vec<Script> {
    vec![
        ("before answer", |_| {}),
        ("during the greeting", |c| {
            c.answer();
            c.advance(secs(1));
        }),
        ("waiting at the menu", |c| {
            c.answer();
            c.finish_prompt();
        }),
        ("during invalid option", |c| {
            c.answer();
            c.press("1");
        }),
        ("checking the caller", |c| {
            c.hold_answers = true;
            c.answer();
            c.press("8");
        }),
        ("during enter code", |c| {
            c.answer();
            c.press("8");
        }),
        ("waiting for the first digit", |c| {
            c.answer();
            c.press("8");
            c.finish_prompt();
        }),
        ("mid-entry", |c| {
            c.answer();
            c.press("8");
            c.press("01234");
        }),
        ("during no input", |c| {
            c.answer();
            c.press("8");
            c.finish_prompt();
            c.advance(secs(11));
        }),
        ("verifying", |c| {
            c.hold_answers = true;
            c.answer();
            c.press("8");
            c.release();
            c.hold_answers = true;
            c.press(&format!("{CODE}#"));
        }),
    ]
}

#[test]
fn hanging_up_before_an_outcome_is_abandoned_in_every_state() {
    for (name, reach) in scripts() {
        let mut call = Call::menu();
        reach(&mut call);
        assert!(call.outcomes.is_empty(), "{name}: outcome too early");
        call.send(Event::HungUp);
        assert_eq!(call.outcomes, vec![Outcome::Abandoned], "{name}");
        assert!(call.flow.is_finished(), "{name}");
        assert!(call.armed().is_empty(), "{name}: timers left armed");
        assert!(
            call.hangups.is_empty(),
            "{name}: no BYE of our own after theirs"
        );

        // Whatever comes later is ignored (the harness asserts no actions), including late answers.
        call.release();
        call.send(Event::Verified(Verification::Mismatch));
        call.send(Event::Digit(Digit::D8));
        call.send(Event::TimerFired(TimerId::FirstDigit));
        call.send(Event::Answered);
        call.send(Event::HungUp);
        assert_eq!(call.outcomes, vec![Outcome::Abandoned], "{name}");
    }
}

#[test]
fn hanging_up_during_the_mismatch_announcement_keeps_mismatch() {
    let mut call = Call::menu();
    call.answer = Answer::Mismatch;
    call.answer();
    call.press("8");
    call.press(&format!("{CODE}#"));
    call.advance(secs(1));
    call.send(Event::HungUp);
    assert_eq!(call.outcomes, vec![Outcome::Mismatch]);
    assert_eq!(call.flow.outcome(), Some(Outcome::Mismatch));
    assert!(call.flow.is_finished());
    assert!(call.hangups.is_empty());
}

#[test]
fn hanging_up_during_the_password_keeps_reset() {
    let mut call = Call::code();
    call.answer();
    call.press(&format!("{CODE}#"));
    call.advance(secs(5));
    call.send(Event::HungUp);
    assert_eq!(call.outcomes, vec![Outcome::Reset]);
}

#[test]
fn their_bye_after_our_hangup_changes_nothing() {
    let mut call = Call::menu();
    call.answer = Answer::Mismatch;
    call.answer();
    call.press("8");
    call.press(&format!("{CODE}#"));
    call.run();
    call.assert_ended(Outcome::Mismatch);
    assert!(call.flow.handle(Event::HungUp).is_empty());
    assert_eq!(call.flow.outcome(), Some(Outcome::Mismatch));
}

#[test]
fn stale_and_unexpected_events_are_ignored() {
    let mut call = Call::menu();
    assert!(
        call.flow.handle(Event::Digit(Digit::D8)).is_empty(),
        "keys before answer"
    );
    assert!(
        call.flow
            .handle(Event::PlaybackFinished(PlaybackId(1)))
            .is_empty()
    );
    call.answer();
    for event in [
        Event::Answered,
        Event::PlaybackFinished(PlaybackId(0)),
        Event::PlaybackFinished(PlaybackId(99)),
        Event::TimerFired(TimerId::FirstDigit),
        Event::TimerFired(TimerId::InterDigit),
        Event::CallerChecked { locked_out: true },
        Event::Verified(Verification::Mismatch),
    ] {
        let shown = format!("{event:?}");
        assert!(
            call.flow.handle(event).is_empty(),
            "{shown} acted at the greeting"
        );
    }
    // The flow was undisturbed: the menu still works.
    call.finish_prompt();
    call.press("8");
    assert_eq!(call.caller_checks, 1);
    // A timer not armed now (the first-digit one was cancelled by the key) is stale.
    assert!(
        call.flow
            .handle(Event::TimerFired(TimerId::FirstDigit))
            .is_empty()
    );
    assert!(call.outcomes.is_empty());
}

#[test]
fn playback_ids_increase_with_every_play() {
    let mut call = Call::menu();
    call.answer();
    call.run();
    let ids = &call.play_ids;
    assert_eq!(ids.len(), 4);
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "{ids:?}");
}
