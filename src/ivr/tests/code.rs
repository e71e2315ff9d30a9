//! Code entry: code mode, `#`, `*`, the two timeouts, wrong lengths, barge-in, floods.

use super::harness::*;
use crate::domain::Outcome;
use crate::ivr::{Action, Event, FlowConfig, TimerId};

/// A call in menu mode that has pressed 8 and heard the whole enter-code prompt.
fn at_code_prompt() -> Call {
    let mut call = Call::menu();
    call.answer();
    call.finish_prompt();
    call.press("8");
    call.finish_prompt();
    call
}

#[test]
fn code_mode_checks_the_caller_then_greets_and_asks_in_one_playback() {
    let mut call = Call::code();
    call.hold_answers = true;
    call.answer();
    assert_eq!(call.caller_checks, 1);
    assert!(
        call.plays.is_empty(),
        "nothing to say until the lockout is known"
    );
    call.release();
    assert_eq!(call.played(), vec![clips![Welcome, RateNotice, EnterCode]]);
    call.finish_prompt();
    call.press(&format!("{CODE}#"));
    call.run();
    assert_eq!(call.verified_keys(), vec![CODE]);
    assert_eq!(call.last_play(), password_announcement());
    call.assert_ended(Outcome::Reset);
}

#[test]
fn a_12_digit_personal_id_is_verified_like_a_code() {
    let mut call = at_code_prompt();
    call.press(&format!("{PERSONAL_ID}#"));
    assert_eq!(call.verified_keys(), vec![PERSONAL_ID]);
    call.run();
    call.assert_ended(Outcome::Reset);
}

#[test]
fn ten_digits_without_pound_are_taken_when_the_inter_digit_timeout_passes() {
    let mut call = at_code_prompt();
    call.press(CODE);
    let last_key = call.now;
    assert_eq!(call.armed(), vec![TimerId::InterDigit]);
    call.advance(secs(5) - std::time::Duration::from_millis(1));
    assert!(call.verified.is_empty(), "taken too early");
    call.advance(std::time::Duration::from_millis(1));
    assert_eq!(call.verified_keys(), vec![CODE]);
    assert_eq!(call.now, last_key + secs(5));
}

#[test]
fn twelve_digits_without_pound_are_taken_on_timeout_too() {
    let mut call = at_code_prompt();
    call.press(PERSONAL_ID);
    call.advance(secs(5));
    assert_eq!(call.verified_keys(), vec![PERSONAL_ID]);
}

#[test]
fn slow_keying_within_the_inter_digit_timeout_is_one_entry() {
    let mut call = at_code_prompt();
    call.press_slowly(CODE, secs(4));
    assert!(call.verified.is_empty());
    call.press("#");
    assert_eq!(call.verified_keys(), vec![CODE]);
}

#[test]
fn eleven_digits_and_a_pause_are_a_wrong_length() {
    let mut call = at_code_prompt();
    call.press("01234567890");
    call.advance(secs(5));
    assert!(call.verified.is_empty());
    assert_eq!(call.last_play(), clips![InvalidCode]);
    call.finish_prompt();
    call.press(&format!("{CODE}#"));
    assert_eq!(
        call.verified_keys(),
        vec![CODE],
        "the next try starts from an empty entry"
    );
}

#[test]
fn short_long_and_empty_entries_ended_by_pound_are_wrong_lengths() {
    for keys in ["012345678#", "0123456789012#", "#", "01234567890#"] {
        let mut call = at_code_prompt();
        call.press(keys);
        assert!(call.verified.is_empty(), "{keys} was verified");
        assert_eq!(call.last_play(), clips![InvalidCode], "after {keys}");
    }
}

#[test]
fn star_starts_the_entry_over() {
    let mut call = at_code_prompt();
    call.press("987*");
    assert_eq!(call.last_play(), clips![EnterCode]);
    assert!(call.armed().is_empty(), "no timer while the prompt replays");
    call.finish_prompt();
    call.press(&format!("{CODE}#"));
    assert_eq!(
        call.verified_keys(),
        vec![CODE],
        "the digits before * were dropped"
    );
}

#[test]
fn star_does_not_count_as_a_failed_try() {
    let mut call = at_code_prompt();
    for _ in 0..5 {
        call.press("1*");
        call.finish_prompt();
    }
    assert!(call.outcomes.is_empty());
    call.press(&format!("{CODE}#"));
    assert_eq!(call.verified_keys(), vec![CODE]);
}

#[test]
fn keys_a_to_d_are_ignored() {
    let mut call = at_code_prompt();
    call.press("01234A56789D#");
    assert_eq!(call.verified_keys(), vec![CODE]);

    let mut call = Call::menu();
    call.answer();
    call.finish_prompt();
    call.press("8");
    call.press("B");
    assert!(call.is_playing(), "A-D do not interrupt the prompt");
    assert_eq!(call.stops, 0);
}

#[test]
fn three_wrong_lengths_end_with_invalid_code() {
    let mut call = at_code_prompt();
    for _ in 0..3 {
        call.press("123#");
        call.finish_prompt();
    }
    assert_eq!(
        call.played()[2..],
        [clips![InvalidCode], clips![InvalidCode], clips![Goodbye]]
    );
    call.run();
    call.assert_ended(Outcome::InvalidCode);
    assert!(call.verified.is_empty());
}

#[test]
fn silence_at_the_code_three_times_ends_with_no_input() {
    let mut call = at_code_prompt();
    let prompt_end = call.now;
    call.run();
    assert_eq!(
        call.played()[2..],
        [
            clips![NoInput, EnterCode],
            clips![NoInput, EnterCode],
            clips![Goodbye]
        ]
    );
    assert_eq!(
        call.plays[2].0,
        prompt_end + secs(10),
        "first-digit timeout counts from the prompt's end"
    );
    call.assert_ended(Outcome::NoInput);
}

#[test]
fn mixed_failures_end_with_the_last_one() {
    let mut call = at_code_prompt();
    call.press("1#"); // wrong length
    call.finish_prompt();
    call.advance(secs(10)); // silence
    call.finish_prompt();
    call.press("12"); // wrong length by pause
    call.run();
    call.assert_ended(Outcome::InvalidCode);

    let mut call = at_code_prompt();
    call.press("1#");
    call.finish_prompt();
    call.press("1#");
    call.run(); // then silence
    call.assert_ended(Outcome::NoInput);
}

#[test]
fn menu_and_code_failures_are_counted_apart() {
    let mut call = Call::menu();
    call.answer();
    call.finish_prompt();
    call.press("1");
    call.finish_prompt();
    call.press("2");
    call.finish_prompt();
    call.press("8");
    call.finish_prompt();
    call.press("1#");
    call.finish_prompt();
    call.press("1#");
    assert!(
        call.outcomes.is_empty(),
        "two menu and two code failures are not three of either"
    );
}

#[test]
fn a_digit_during_the_enter_code_prompt_stops_it_and_counts() {
    let mut call = Call::menu();
    call.answer();
    call.finish_prompt();
    call.press("8");
    call.advance(secs(1));
    call.press("0");
    assert_eq!(call.stops, 1);
    assert!(!call.is_playing());
    assert_eq!(call.armed(), vec![TimerId::InterDigit]);
    call.press(&CODE[1..]);
    call.press("#");
    assert_eq!(call.verified_keys(), vec![CODE]);
}

#[test]
fn a_late_playback_finished_after_barge_in_is_ignored() {
    let mut call = Call::menu();
    call.answer();
    call.press("8");
    let Some(Action::Play { id, .. }) = call
        .flow
        .handle(Event::Digit(crate::domain::Digit::Star))
        .pop()
    else {
        panic!("* should replay the prompt");
    };
    let stale = crate::domain::PlaybackId(id.0 - 1);
    assert!(call.flow.handle(Event::PlaybackFinished(stale)).is_empty());
    let actions = call.flow.handle(Event::Digit(crate::domain::Digit::D1));
    assert_eq!(
        actions,
        vec![
            Action::StopPlayback,
            Action::StartTimer {
                id: TimerId::InterDigit,
                after: secs(5)
            }
        ]
    );
    // The playback just stopped may still report its end: it must not arm the first-digit timer.
    assert!(call.flow.handle(Event::PlaybackFinished(id)).is_empty());
}

#[test]
fn barge_in_on_the_invalid_code_prompt_starts_a_new_entry() {
    let mut call = at_code_prompt();
    call.press("12#");
    call.advance(secs(1));
    call.press(&format!("{CODE}#"));
    assert_eq!(call.stops, 1);
    assert_eq!(call.verified_keys(), vec![CODE]);
}

#[test]
fn barge_in_on_the_no_input_prompt_too() {
    let mut call = at_code_prompt();
    call.advance(secs(11));
    assert_eq!(call.last_play(), clips![NoInput, EnterCode]);
    call.press(&format!("{PERSONAL_ID}#"));
    assert_eq!(call.stops, 1);
    assert_eq!(call.verified_keys(), vec![PERSONAL_ID]);
}

#[test]
fn keys_while_the_caller_is_checked_are_ignored() {
    let mut call = Call::menu();
    call.hold_answers = true;
    call.answer();
    call.press("8");
    call.press("0123#");
    assert!(call.verified.is_empty());
    call.release();
    assert_eq!(call.last_play(), clips![EnterCode]);
    call.finish_prompt();
    call.press(&format!("{CODE}#"));
    assert_eq!(
        call.verified_keys(),
        vec![CODE],
        "nothing keyed before the prompt leaked into the entry"
    );
}

#[test]
fn keys_while_verifying_are_ignored() {
    let mut call = at_code_prompt();
    call.hold_answers = true;
    call.press(&format!("{CODE}#"));
    call.press(&format!("{PERSONAL_ID}#*"));
    call.advance(secs(60));
    assert_eq!(call.verified_keys(), vec![CODE]);
    assert!(
        call.outcomes.is_empty(),
        "no timeout runs while the store works"
    );
    call.release();
    call.run();
    call.assert_ended(Outcome::Reset);
}

#[test]
fn a_flood_of_10000_digits_stays_bounded() {
    let mut call = at_code_prompt();
    let actions_before = call.debug_log.len();
    for i in 0..10_000u32 {
        call.press(&(i % 10).to_string());
    }
    assert!(call.flow.keyed_len() <= 12);
    // One re-arm per digit (and one cancel of the first-digit timer): nothing piles up.
    assert_eq!(call.debug_log.len() - actions_before, 10_001);
    assert_eq!(call.armed(), vec![TimerId::InterDigit]);
    call.press("#");
    assert!(
        call.verified.is_empty(),
        "a flood is never cut down to a valid key"
    );
    assert_eq!(call.last_play(), clips![InvalidCode]);
    call.finish_prompt();
    call.press(&format!("{CODE}#"));
    assert_eq!(call.verified_keys(), vec![CODE]);
}

#[test]
fn one_code_try_when_configured() {
    let mut call = Call::new(
        FlowConfig {
            code_tries: 1,
            ..FlowConfig::default()
        },
        Some("0912345678"),
    );
    call.answer();
    call.press("8");
    call.press("1#");
    call.run();
    call.assert_ended(Outcome::InvalidCode);
}
