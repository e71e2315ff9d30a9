//! What the caller hears after the caller check and the verification, and what stays secret.

use super::harness::*;
use crate::domain::{Clip, Outcome, Prompt};
use crate::ivr::{Entry, FlowConfig};

fn verified_with(answer: Answer) -> Call {
    let mut call = Call::code();
    call.answer = answer;
    call.answer();
    call.finish_prompt();
    call.press(&format!("{CODE}#"));
    call
}

#[test]
fn the_password_read_twice_is_the_password_given() {
    let call = verified_with(Answer::Reset);
    let clips = call.last_play();
    let spoken = |from: Prompt, to: Prompt| -> String {
        let start = clips
            .iter()
            .position(|c| *c == Clip::Prompt(from))
            .unwrap_or(0)
            + 1;
        let end = clips
            .iter()
            .position(|c| *c == Clip::Prompt(to))
            .unwrap_or(0);
        clips[start..end]
            .iter()
            .map(|c| match c {
                Clip::Digit(d) => char::from(b'0' + d),
                Clip::Prompt(p) => panic!("{p:?} inside the password"),
            })
            .collect()
    };
    assert_eq!(
        spoken(Prompt::NewPassword, Prompt::RepeatPassword),
        PASSWORD
    );
    assert_eq!(spoken(Prompt::RepeatPassword, Prompt::Goodbye), PASSWORD);
    assert_eq!(clips.last(), Some(&Clip::Prompt(Prompt::Goodbye)));
}

#[test]
fn keys_during_the_password_are_ignored() {
    let mut call = verified_with(Answer::Reset);
    let reading_started = call.now;
    call.advance(secs(3));
    call.press("0123456789*#8");
    assert_eq!(call.stops, 0, "the password is never cut short");
    assert_eq!(call.plays.len(), 2);
    call.run();
    call.assert_ended(Outcome::Reset);
    assert_eq!(call.hangups, vec![reading_started + CLIP * 15]);
}

#[test]
fn nothing_printable_holds_the_password_or_the_code() {
    let call = verified_with(Answer::Reset);
    let log = call.debug_log.join("\n");
    assert!(!log.contains(PASSWORD) && !log.contains("2, 7, 9"), "{log}");
    assert!(!log.contains(CODE), "{log}");
    assert!(!format!("{:?}", call.flow).contains(CODE));
}

#[test]
fn a_mismatch_hears_the_one_sentence_and_goodbye() {
    let mut call = verified_with(Answer::Mismatch);
    assert_eq!(call.last_play(), clips![Mismatch, Goodbye]);
    let started = call.now;
    call.run();
    call.assert_ended(Outcome::Mismatch);
    assert_eq!(call.hangups, vec![started + CLIP * 2]);
}

#[test]
fn a_limit_hit_at_verification_is_too_many_attempts() {
    let mut call = verified_with(Answer::TooManyAttempts);
    assert_eq!(call.last_play(), clips![TooManyAttempts, Goodbye]);
    call.run();
    call.assert_ended(Outcome::TooManyAttempts);
}

#[test]
fn a_store_failure_says_busy_and_speaks_no_password() {
    let mut call = verified_with(Answer::Unavailable);
    assert_eq!(call.last_play(), clips![SystemBusy, Goodbye]);
    call.run();
    call.assert_ended(Outcome::Error);
    assert!(
        call.plays
            .iter()
            .flat_map(|(_, c)| c)
            .all(|c| matches!(c, Clip::Prompt(_)))
    );
}

#[test]
fn an_anonymous_caller_in_menu_mode_is_told_after_pressing_8() {
    let mut call = Call::new(FlowConfig::default(), None);
    call.answer();
    call.press("8");
    assert_eq!(call.caller_checks, 0);
    assert_eq!(call.last_play(), clips![Anonymous, Goodbye]);
    call.run();
    call.assert_ended(Outcome::Anonymous);
}

#[test]
fn an_anonymous_caller_in_code_mode_hears_the_greeting_first() {
    let mut call = Call::new(
        FlowConfig {
            entry: Entry::Code,
            ..FlowConfig::default()
        },
        None,
    );
    call.answer();
    assert_eq!(
        call.played(),
        vec![clips![Welcome, RateNotice, Anonymous, Goodbye]]
    );
    call.run();
    call.assert_ended(Outcome::Anonymous);
    assert_eq!(call.hangups, vec![CLIP * 4]);
}

#[test]
fn a_locked_out_caller_is_refused_before_any_code() {
    let mut call = Call::menu();
    call.locked_out = true;
    call.answer();
    call.press("8");
    assert_eq!(call.last_play(), clips![TooManyAttempts, Goodbye]);
    call.press(&format!("{CODE}#"));
    call.run();
    call.assert_ended(Outcome::TooManyAttempts);
    assert!(call.verified.is_empty());

    let mut call = Call::code();
    call.locked_out = true;
    call.answer();
    assert_eq!(
        call.played(),
        vec![clips![Welcome, RateNotice, TooManyAttempts, Goodbye]]
    );
}
