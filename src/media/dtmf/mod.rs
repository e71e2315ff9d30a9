//! DTMF: key presses from the caller, whatever way they arrive. Each source is a sans-I/O
//! decoder producing [`crate::domain::Digit`]s:
//! - [`rfc4733`]: telephone-events in RTP, fed by the media session;
//! - [`info`]: SIP INFO bodies, parsed by the SIP layer, which answers 200/400/415 on the result;
//! - [`inband`]: a Goertzel tone detector over the caller's decoded audio, fed by the media
//!   session.
//!
//! [`source`] decides which of them a call listens to, so one press is never heard twice.

pub mod inband;
pub mod info;
pub mod rfc4733;
pub mod source;
pub mod tone;

pub use inband::InbandDetector;
pub use info::{InfoError, parse_info};
pub use rfc4733::{Rfc4733Receiver, TelephoneEvent};
pub use source::{DtmfMode, DtmfSources};
