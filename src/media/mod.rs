//! Media: RTP sessions, G.711, DTMF and the prompt player.

mod codec;

pub use codec::Codec;
