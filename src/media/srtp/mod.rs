//! SRTP (RFC 3711) for calls whose offer carried SDES keys (RFC 4568): the keys ([`keys`]) and
//! the per-call protection of what we send and what we receive ([`stream`], on the pure-Rust
//! `webrtc-srtp`). The SDP side — which `a=crypto` line to take, what to answer — is
//! `crate::sip::sdes`.

pub mod keys;
pub mod stream;

use serde::{Deserialize, Serialize};

pub use keys::{MasterKey, SrtpKeys, SrtpSuite};
pub use stream::{SrtpError, SrtpStream};

/// `media.srtp`: whether calls are encrypted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SrtpMode {
    /// Plain RTP only: an offer that insists on SRTP (RTP/SAVP) is refused with 488.
    Off,
    /// SRTP when the offer brings SDES keys, plain RTP when it does not.
    #[default]
    Optional,
    /// SRTP only: an offer without usable SDES keys is refused with 488.
    Required,
}

/// A call's two SRTP contexts: one protects what we send, one checks and decrypts what the
/// caller sends (authentication and the replay window included).
pub struct SrtpSession {
    pub outbound: SrtpStream,
    pub inbound: SrtpStream,
}

/// Shows the suite-less shape only: there is nothing in a context a log should have.
impl std::fmt::Debug for SrtpSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SrtpSession(*)")
    }
}

impl SrtpSession {
    pub fn new(keys: &SrtpKeys) -> Result<SrtpSession, SrtpError> {
        Ok(SrtpSession {
            outbound: SrtpStream::outbound(keys.suite, &keys.ours)?,
            inbound: SrtpStream::inbound(keys.suite, &keys.theirs)?,
        })
    }
}
