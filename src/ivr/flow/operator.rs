//! "Press 0 for an agent" (`ivr.operator_uri`): where the offer is made and how a transfer ends.
//!
//! The offer is part of the menu (and of its replays), and is made once more, on its own, when
//! the call would otherwise end unhelped: after a mismatch and once the code tries are used up.
//! At the code prompt 0 is not an offer: insurance codes and personal IDs begin with 0, so there
//! it is a digit of the code.
//!
//! A transfer succeeds only on a final 2xx NOTIFY: then our leg is hung up, outcome
//! `transferred`. A refused REFER, a failed NOTIFY, or no final NOTIFY within the transfer
//! timeout all end the same way: "agents are busy", goodbye, outcome `transfer_failed` (whatever
//! led to the transfer is in the audit of the verification, if there was one).

use super::{Flow, Step};
use crate::domain::{Digit, Outcome, Prompt};
use crate::ivr::{Action, TimerId, TransferReport};

impl Flow {
    /// Plays the menu, after `before` if given, with the offer of an agent when one is configured.
    pub(super) fn play_menu(&mut self, before: Option<Prompt>) {
        let mut prompts: Vec<Prompt> = before.into_iter().collect();
        prompts.push(Prompt::Menu);
        if self.config.offer_operator {
            prompts.push(Prompt::OperatorOffer);
        }
        self.play(&prompts);
    }

    /// The call would end here as `outcome` after `prompts`: with an agent configured, the caller
    /// is first offered one (and says goodbye only if they do not take it).
    pub(super) fn end_or_offer_operator(&mut self, outcome: Outcome, prompts: &[Prompt]) {
        let mut prompts = prompts.to_vec();
        if self.config.offer_operator {
            prompts.push(Prompt::OperatorOffer);
            self.disarm();
            self.step = Step::Offering { otherwise: outcome };
            self.play(&prompts);
        } else {
            prompts.push(Prompt::Goodbye);
            self.conclude(outcome, &prompts);
        }
    }

    /// During the last offer only 0 counts; other keys are ignored (the offer's timer, or the
    /// prompt whose end arms it, keeps the call from waiting for ever).
    pub(super) fn on_offer_digit(&mut self, digit: Digit) {
        if digit == Digit::D0 {
            self.transfer();
        }
    }

    /// Asks the driver to transfer the call, and waits for the PBX's word at most the transfer
    /// timeout. Billing goes on meanwhile: the call is still up.
    pub(super) fn transfer(&mut self) {
        self.barge_in();
        self.disarm();
        self.step = Step::Transferring;
        self.out.push(Action::Transfer);
        self.arm(TimerId::Transfer, self.config.transfer_timeout);
    }

    pub(super) fn on_transfer(&mut self, report: TransferReport) {
        match report {
            // Progress, not success: the timer armed with the REFER still runs.
            TransferReport::Trying => {}
            TransferReport::Succeeded => {
                self.disarm();
                self.settle(Outcome::Transferred);
                self.out.push(Action::Hangup);
                self.step = Step::Finished;
            }
            TransferReport::Failed => self.transfer_failed(),
        }
    }

    pub(super) fn transfer_failed(&mut self) {
        self.conclude(
            Outcome::TransferFailed,
            &[Prompt::AgentsBusy, Prompt::Goodbye],
        );
    }
}
