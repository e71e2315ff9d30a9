//! The call flow of branch 8: greet, (ask for 8,) collect the insurance code, have it verified,
//! read the new password twice, hang up. When an agent is configured, key 0 transfers the call.
//!
//! It is written sans-I/O: a [`Flow`] is a plain value that takes [`Event`]s and returns
//! [`Action`]s. It never reads a clock, never sleeps, never touches the network or the
//! database. The driver (one task per call) executes the actions — plays clips, arms timers, asks
//! the store — and feeds back what happened:
//!
//! ```
//! use hotline::ivr::{Action, Event, Flow, FlowConfig};
//! use hotline::domain::PhoneNumber;
//!
//! let caller = PhoneNumber::parse("0912345678").ok();
//! let mut flow = Flow::new(FlowConfig::default(), caller);
//! let actions = flow.handle(Event::Answered);
//! assert!(matches!(actions.as_slice(), [Action::Play { .. }]));
//! // The driver loop: for each action, do it; for each thing that happens
//! // (DTMF, playback end, timer, store answer, BYE), call `flow.handle(event)`
//! // until `flow.is_finished()`.
//! ```
//!
//! Because time is an input, the tests in `tests/` run every branch and every timeout on a
//! virtual clock in microseconds.

mod code_entry;
mod config;
mod event;
mod flow;

#[cfg(test)]
mod tests;

pub use config::{Entry, EntryError, FlowConfig, FlowConfigError};
pub use event::{Action, Event, TimerId, TransferReport, Verification};
pub use flow::Flow;
