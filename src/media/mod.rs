//! Media: RTP sessions, G.711, DTMF and the prompt player.
//!
//! Everything that decides is sans-I/O and unit-tested on its own — [`player::Player`] (what to
//! send), [`pacer::Pacer`] (when), [`rtp::RtpSender`] (the headers), [`dtmf::Rfc4733Receiver`]
//! (key presses), [`source_filter::SourceFilter`] (whose packets a call takes: strict and
//! symmetric RTP) — and [`session`] holds one call's share of them with its socket, ticked every
//! 20 ms together with the other calls of its shard by the [`pump`].

mod codec;
pub mod dtmf;
pub mod pacer;
pub mod player;
pub mod ports;
pub mod prompts;
pub mod pump;
pub mod rtp;
pub mod session;
pub mod source_filter;
pub mod srtp;

pub use codec::{Codec, FRAME_SAMPLES, Frame};
pub use dtmf::{Rfc4733Receiver, TelephoneEvent};
pub use ports::{PortLease, PortPool};
pub use prompts::{
    CheckReport, ClipReport, PromptError, PromptErrors, PromptLibrary, PromptProblem,
};
pub use pump::{MediaCounters, MediaPump, ThreadPriority};
pub use session::{MediaEvent, MediaHandle, MediaParams, MediaReport};
pub use source_filter::{SourceFilter, SourcePolicy};
