//! DTMF: key presses from the caller, whatever way they arrive. Each source is a sans-I/O
//! decoder producing [`crate::domain::Digit`]s; the media session feeds them.
//!
//! Today: RFC 4733 telephone-events. Room is left beside it for SIP INFO (`application/dtmf-relay`,
//! fed by the SIP layer) and an in-band Goertzel detector (fed decoded audio by the session).

pub mod inband;
pub mod rfc4733;
pub mod tone;

pub use inband::InbandDetector;
pub use rfc4733::{Rfc4733Receiver, TelephoneEvent};
