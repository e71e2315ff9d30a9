//! G.711, the two codecs every telephone trunk speaks.

/// The audio codec negotiated for a call. Both are 8 kHz, one byte per sample, 160 bytes per 20 ms.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Codec {
    /// G.711 µ-law, static RTP payload type 0.
    Pcmu,
    /// G.711 A-law, static RTP payload type 8.
    Pcma,
}

impl Codec {
    pub fn payload_type(self) -> u8 {
        match self {
            Codec::Pcmu => 0,
            Codec::Pcma => 8,
        }
    }

    /// The SDP `a=rtpmap` encoding name.
    pub fn encoding_name(self) -> &'static str {
        match self {
            Codec::Pcmu => "PCMU",
            Codec::Pcma => "PCMA",
        }
    }
}
