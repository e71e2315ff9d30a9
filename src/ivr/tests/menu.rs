//! Menu mode: the greeting, key 8, wrong keys and silence at the menu.

use super::harness::*;
use crate::domain::Outcome;
use crate::ivr::{Action, Event, FlowConfig, TimerId};

#[test]
fn happy_path_greets_asks_for_8_then_the_code_and_reads_the_password() {
    let mut call = Call::menu();
    call.answer();
    assert_eq!(call.played(), vec![clips![Welcome, RateNotice, Menu]]);
    call.finish_prompt();
    assert_eq!(call.armed(), vec![TimerId::FirstDigit]);

    call.press("8");
    assert_eq!(call.caller_checks, 1);
    assert_eq!(call.last_play(), clips![EnterCode]);
    call.finish_prompt();
    call.press(&format!("{CODE}#"));
    assert_eq!(call.verified_keys(), vec![CODE]);
    assert_eq!(call.last_play(), password_announcement());
    assert_eq!(
        call.outcomes,
        vec![Outcome::Reset],
        "outcome is known before the reading ends"
    );
    assert!(call.hangups.is_empty());

    let reading_started = call.now;
    call.run();
    call.assert_ended(Outcome::Reset);
    assert_eq!(
        call.hangups,
        vec![reading_started + CLIP * 15],
        "hang up right after goodbye"
    );
}

#[test]
fn no_rate_notice_when_disabled() {
    let mut call = Call::new(
        FlowConfig {
            announce_rate: false,
            ..FlowConfig::default()
        },
        Some("0912345678"),
    );
    call.answer();
    assert_eq!(call.last_play(), clips![Welcome, Menu]);
}

#[test]
fn a_wrong_key_replays_the_menu_and_8_then_goes_on() {
    let mut call = Call::menu();
    call.answer();
    call.finish_prompt();
    call.press("5");
    assert_eq!(call.last_play(), clips![InvalidOption, Menu]);
    assert!(
        call.armed().is_empty(),
        "first-digit timer waits for the new prompt to end"
    );
    call.finish_prompt();
    call.press("8");
    assert_eq!(call.last_play(), clips![EnterCode]);
    assert!(call.outcomes.is_empty());
}

#[test]
fn three_wrong_keys_end_with_invalid_option() {
    let mut call = Call::menu();
    call.answer();
    for _ in 0..3 {
        call.finish_prompt();
        call.press("9");
    }
    assert_eq!(
        call.played(),
        vec![
            clips![Welcome, RateNotice, Menu],
            clips![InvalidOption, Menu],
            clips![InvalidOption, Menu],
            clips![Goodbye]
        ]
    );
    call.run();
    call.assert_ended(Outcome::InvalidOption);
    assert_eq!(call.caller_checks, 0);
}

#[test]
fn silence_at_the_menu_three_times_ends_with_no_input() {
    let mut call = Call::menu();
    call.answer();
    call.run();
    assert_eq!(
        call.played(),
        vec![
            clips![Welcome, RateNotice, Menu],
            clips![NoInput, Menu],
            clips![NoInput, Menu],
            clips![Goodbye]
        ]
    );
    call.assert_ended(Outcome::NoInput);
    // The 10 s wait starts when the menu prompt has finished, not when it started.
    let starts: Vec<_> = call.plays.iter().map(|(at, _)| *at).collect();
    assert_eq!(starts[1], CLIP * 3 + secs(10));
    assert_eq!(starts[2], starts[1] + CLIP * 2 + secs(10));
}

#[test]
fn the_last_failure_names_the_outcome() {
    let mut call = Call::menu();
    call.answer();
    call.finish_prompt();
    call.press("1");
    call.run(); // silence, then silence again: wrong, silence, silence
    call.assert_ended(Outcome::NoInput);

    let mut call = Call::menu();
    call.answer();
    call.finish_prompt();
    call.advance(secs(10)); // silence
    call.finish_prompt();
    call.advance(secs(10)); // silence
    call.press("#");
    call.run();
    call.assert_ended(Outcome::InvalidOption);
    assert_eq!(call.played()[1], clips![NoInput, Menu]);
}

#[test]
fn one_menu_try_when_configured() {
    let mut call = Call::new(
        FlowConfig {
            menu_tries: 1,
            ..FlowConfig::default()
        },
        Some("0912345678"),
    );
    call.answer();
    call.press("0");
    assert_eq!(call.last_play(), clips![Goodbye]);
    call.run();
    call.assert_ended(Outcome::InvalidOption);
}

#[test]
fn pressing_8_during_the_greeting_barges_in() {
    let mut call = Call::menu();
    call.answer();
    call.advance(secs(1));
    let actions = call.flow.handle(Event::Digit(crate::domain::Digit::D8));
    assert_eq!(actions, vec![Action::StopPlayback, Action::CheckCaller]);
}

#[test]
fn a_wrong_key_during_the_menu_prompt_stops_it_and_counts() {
    let mut call = Call::menu();
    call.answer();
    call.advance(secs(5));
    call.press("3");
    assert_eq!(call.stops, 1);
    assert_eq!(call.last_play(), clips![InvalidOption, Menu]);
    assert_eq!(call.last_play_started(), secs(5));
}

#[test]
fn barge_in_on_the_retry_prompt_too() {
    let mut call = Call::menu();
    call.answer();
    call.finish_prompt();
    call.press("3");
    call.advance(secs(1));
    call.press("8");
    assert_eq!(call.stops, 1);
    assert_eq!(call.caller_checks, 1);
}
