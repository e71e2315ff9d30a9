//! "Press 0 for an agent": where the offer is heard, what 0 does, and every way a transfer ends.

use super::harness::*;
use crate::domain::Outcome;
use crate::ivr::{Entry, Event, TimerId, TransferReport};

fn report(call: &mut Call, report: TransferReport) {
    call.send(Event::Transfer(report));
}

/// A call that pressed 0 once the menu (with its offer) was heard in full.
fn transferring_from_the_menu() -> Call {
    let mut call = Call::with_operator(Entry::Menu);
    call.answer();
    call.finish_prompt();
    call.press("0");
    call
}

/// `call` (in code mode) after keying a code that the store finds a mismatch.
fn mismatched(mut call: Call) -> Call {
    call.answer = Answer::Mismatch;
    call.answer();
    call.finish_prompt();
    call.press(&format!("{CODE}#"));
    call
}

/// "Agents are busy", goodbye, hang-up: outcome `transfer_failed`.
fn assert_agents_busy_and_goodbye(call: &mut Call) {
    assert_eq!(call.last_play(), clips![AgentsBusy, Goodbye]);
    assert_eq!(call.outcomes, vec![Outcome::TransferFailed]);
    call.run();
    call.assert_ended(Outcome::TransferFailed);
}

#[test]
fn without_an_agent_the_menu_has_no_offer_and_0_is_a_wrong_key() {
    let mut call = Call::menu();
    call.answer();
    assert_eq!(call.last_play(), clips![Welcome, RateNotice, Menu]);
    call.finish_prompt();
    call.press("0");
    assert_eq!(call.transfers, 0);
    assert_eq!(call.last_play(), clips![InvalidOption, Menu]);
}

#[test]
fn the_menu_and_its_replays_offer_an_agent() {
    let mut call = Call::with_operator(Entry::Menu);
    call.answer();
    assert_eq!(
        call.last_play(),
        clips![Welcome, RateNotice, Menu, OperatorOffer]
    );
    call.finish_prompt();
    call.press("5");
    assert_eq!(call.last_play(), clips![InvalidOption, Menu, OperatorOffer]);
}

#[test]
fn zero_at_the_menu_transfers_and_a_final_2xx_hangs_up_as_transferred() {
    let mut call = Call::with_operator(Entry::Menu);
    call.answer();
    call.advance(secs(1));
    call.press("0");
    assert_eq!(call.stops, 1, "0 cuts the menu short");
    assert_eq!(call.transfers, 1);
    assert_eq!(call.armed(), vec![TimerId::Transfer]);
    report(&mut call, TransferReport::Trying);
    call.advance(secs(3));
    assert!(call.hangups.is_empty() && call.outcomes.is_empty());

    report(&mut call, TransferReport::Succeeded);
    call.assert_ended(Outcome::Transferred);
    assert_eq!(call.plays.len(), 1, "no goodbye over a transferred call");
}

#[test]
fn a_refused_transfer_says_agents_are_busy_and_goodbye() {
    let mut call = transferring_from_the_menu();
    report(&mut call, TransferReport::Failed);
    assert_agents_busy_and_goodbye(&mut call);
}

#[test]
fn provisional_news_does_not_extend_the_wait_for_a_final_notify() {
    let mut call = transferring_from_the_menu();
    let asked = call.now;
    call.advance(secs(6));
    report(&mut call, TransferReport::Trying);
    call.advance(secs(3));
    assert_eq!(call.plays.len(), 1, "still waiting 9 s after the REFER");
    call.advance(secs(2));
    assert_eq!(call.last_play_started(), asked + secs(10));
    assert_agents_busy_and_goodbye(&mut call);
}

#[test]
fn keys_and_late_news_after_the_transfer_ended_change_nothing() {
    let mut call = transferring_from_the_menu();
    call.press("08#");
    assert_eq!(call.transfers, 1, "keys are not input while transferring");
    report(&mut call, TransferReport::Failed);
    report(&mut call, TransferReport::Succeeded);
    assert_agents_busy_and_goodbye(&mut call);
}

#[test]
fn news_of_a_transfer_nobody_asked_for_is_ignored() {
    let mut call = Call::with_operator(Entry::Menu);
    call.answer();
    report(&mut call, TransferReport::Succeeded);
    assert!(call.outcomes.is_empty() && call.hangups.is_empty());
    assert!(call.is_playing());
}

#[test]
fn the_caller_hanging_up_during_a_transfer_is_abandoned() {
    let mut call = transferring_from_the_menu();
    call.send(Event::HungUp);
    assert_eq!(call.outcomes, vec![Outcome::Abandoned]);
    assert!(call.flow.is_finished());
    report(&mut call, TransferReport::Succeeded);
    assert_eq!(call.outcomes, vec![Outcome::Abandoned]);
}

#[test]
fn at_the_code_prompt_0_is_a_digit_of_the_code() {
    let mut call = Call::with_operator(Entry::Code);
    call.answer();
    assert_eq!(call.last_play(), clips![Welcome, RateNotice, EnterCode]);
    call.finish_prompt();
    call.press(&format!("{CODE}#"));
    assert_eq!(call.transfers, 0);
    assert_eq!(call.verified_keys(), vec![CODE]);
}

#[test]
fn a_mismatch_offers_an_agent_once_and_0_transfers() {
    let mut call = mismatched(Call::with_operator(Entry::Code));
    assert_eq!(call.last_play(), clips![Mismatch, OperatorOffer]);
    assert!(call.outcomes.is_empty(), "the outcome waits for the answer");
    call.press("0");
    assert_eq!(call.transfers, 1);
    report(&mut call, TransferReport::Succeeded);
    call.assert_ended(Outcome::Transferred);
}

#[test]
fn a_mismatch_offer_not_taken_ends_as_a_mismatch() {
    let mut call = mismatched(Call::with_operator(Entry::Code));
    call.finish_prompt();
    call.press("5#*");
    assert_eq!(call.transfers, 0, "only 0 is listened for");
    call.run();
    assert_eq!(call.last_play(), clips![Goodbye]);
    call.assert_ended(Outcome::Mismatch);
}

#[test]
fn without_an_agent_a_mismatch_says_goodbye_at_once() {
    let call = mismatched(Call::code());
    assert_eq!(call.last_play(), clips![Mismatch, Goodbye]);
}

#[test]
fn used_up_code_tries_get_one_more_offer_before_goodbye() {
    let mut call = Call::with_operator(Entry::Code);
    call.answer();
    call.finish_prompt();
    for _ in 0..3 {
        call.press("12#");
        call.finish_prompt();
    }
    assert_eq!(call.last_play(), clips![OperatorOffer]);
    assert!(call.outcomes.is_empty());
    call.run();
    assert_eq!(call.last_play(), clips![Goodbye]);
    call.assert_ended(Outcome::InvalidCode);
}

#[test]
fn zero_during_the_last_offer_transfers_even_over_the_prompt() {
    let mut call = Call::with_operator(Entry::Code);
    call.answer();
    call.finish_prompt();
    // Three silences of 10 s, with "no input, enter the code" (2 clips of 2 s) between them.
    call.advance(secs(10 + 4 + 10 + 4 + 10));
    assert_eq!(call.last_play(), clips![OperatorOffer]);
    assert!(call.is_playing());
    call.press("0");
    assert_eq!(call.transfers, 1);
    assert!(!call.is_playing());
    call.advance(secs(10));
    assert_agents_busy_and_goodbye(&mut call);
}
