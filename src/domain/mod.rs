//! Typed values of the hotline's domain. Raw strings from the wire, the keypad or a CSV file are
//! parsed into these once, at the edge, so the rest of the code never re-validates them.

mod account_key;
mod call_id;
mod clip;
mod digit;
mod node_id;
mod outcome;
mod password;
mod phone;
mod utc_offset;

pub use account_key::{AccountKey, AccountKeyError, InsuranceCode, PersonalId};
pub use call_id::CallId;
pub use clip::{Clip, PlaybackId, Prompt};
pub use digit::{Digit, DigitError};
pub use node_id::{NodeId, NodeIdError};
pub use outcome::Outcome;
pub use password::Password;
pub use phone::{PhoneError, PhoneNumber};
pub use utc_offset::{LocalOffset, LocalOffsetError};
