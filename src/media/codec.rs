//! G.711, the two codecs every telephone trunk speaks.
//!
//! The sample conversions come from `audio-codec-algorithms` (exact, A-law bit-exact with the Sun
//! reference); this module only adds what RTP needs around them: payload types, frame size and
//! the silence byte.

use audio_codec_algorithms::{decode_alaw, decode_ulaw, encode_alaw, encode_ulaw};

/// Samples in one 20 ms frame at 8 kHz; G.711 has one byte per sample, so also the payload size.
pub const FRAME_SAMPLES: usize = 160;

/// One 20 ms G.711 payload.
pub type Frame = [u8; FRAME_SAMPLES];

const PCMU_SILENCE: Frame = [0xFF; FRAME_SAMPLES];
const PCMA_SILENCE: Frame = [0xD5; FRAME_SAMPLES];

/// The audio codec negotiated for a call. Both are 8 kHz, one byte per sample, 160 bytes per 20 ms.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Codec {
    /// G.711 µ-law, static RTP payload type 0.
    Pcmu,
    /// G.711 A-law, static RTP payload type 8.
    Pcma,
}

impl Codec {
    pub const ALL: [Codec; 2] = [Codec::Pcmu, Codec::Pcma];

    pub fn payload_type(self) -> u8 {
        match self {
            Codec::Pcmu => 0,
            Codec::Pcma => 8,
        }
    }

    /// The codec with this static RTP payload type (RFC 3551), if it is one of ours.
    pub fn from_payload_type(payload_type: u8) -> Option<Codec> {
        Codec::ALL
            .into_iter()
            .find(|c| c.payload_type() == payload_type)
    }

    /// The SDP `a=rtpmap` encoding name.
    pub fn encoding_name(self) -> &'static str {
        match self {
            Codec::Pcmu => "PCMU",
            Codec::Pcma => "PCMA",
        }
    }

    /// The byte a linear 0 encodes to. Padding with it (rather than with 0x00, which is a loud
    /// negative peak in µ-law) keeps the tail of a prompt and the idle stream quiet.
    pub fn silence_byte(self) -> u8 {
        match self {
            Codec::Pcmu => 0xFF,
            Codec::Pcma => 0xD5,
        }
    }

    /// A whole 20 ms frame of silence, sent when nothing plays so the stream never stops.
    pub fn silence_frame(self) -> &'static Frame {
        match self {
            Codec::Pcmu => &PCMU_SILENCE,
            Codec::Pcma => &PCMA_SILENCE,
        }
    }

    pub fn encode_sample(self, linear: i16) -> u8 {
        match self {
            Codec::Pcmu => encode_ulaw(linear),
            Codec::Pcma => encode_alaw(linear),
        }
    }

    pub fn decode_sample(self, encoded: u8) -> i16 {
        match self {
            Codec::Pcmu => decode_ulaw(encoded),
            Codec::Pcma => decode_alaw(encoded),
        }
    }

    /// Encodes `pcm` into `out`, one byte per sample. Converts `min(pcm.len(), out.len())`
    /// samples, so a short input leaves the rest of `out` untouched.
    pub fn encode(self, pcm: &[i16], out: &mut [u8]) {
        for (byte, &sample) in out.iter_mut().zip(pcm) {
            *byte = self.encode_sample(sample);
        }
    }

    /// Decodes `encoded` into `out`; converts `min(encoded.len(), out.len())` samples.
    pub fn decode(self, encoded: &[u8], out: &mut [i16]) {
        for (sample, &byte) in out.iter_mut().zip(encoded) {
            *sample = self.decode_sample(byte);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payload_types_round_trip() {
        for codec in Codec::ALL {
            assert_eq!(Codec::from_payload_type(codec.payload_type()), Some(codec));
        }
        assert_eq!(Codec::from_payload_type(18), None);
        assert_eq!(Codec::from_payload_type(101), None);
    }

    #[test]
    fn silence_is_what_zero_encodes_to() {
        for codec in Codec::ALL {
            assert_eq!(codec.encode_sample(0), codec.silence_byte());
            // A-law has no zero level: its quietest codes decode to ±8 (of 32768).
            assert!(codec.decode_sample(codec.silence_byte()).abs() <= 8);
            assert!(
                codec
                    .silence_frame()
                    .iter()
                    .all(|&b| b == codec.silence_byte())
            );
        }
        assert_eq!(Codec::Pcmu.silence_byte(), 0xFF);
        assert_eq!(Codec::Pcma.silence_byte(), 0xD5);
    }

    #[test]
    fn encode_then_decode_is_close_and_keeps_sign() {
        let pcm: Vec<i16> = (-32768..=32767).step_by(97).map(|s| s as i16).collect();
        for codec in Codec::ALL {
            let mut encoded = vec![0u8; pcm.len()];
            codec.encode(&pcm, &mut encoded);
            let mut decoded = vec![0i16; pcm.len()];
            codec.decode(&encoded, &mut decoded);
            for (&a, &b) in pcm.iter().zip(&decoded) {
                // G.711 keeps about 13 bits: the error grows with the magnitude, at most ~3 %.
                let err = (i32::from(a) - i32::from(b)).abs();
                assert!(err <= i32::from(a).abs() / 16 + 16, "{codec:?}: {a} -> {b}");
            }
        }
    }

    #[test]
    fn encode_converts_only_what_fits() {
        let mut out = [0x11u8; 4];
        Codec::Pcmu.encode(&[0, 0], &mut out);
        assert_eq!(out, [0xFF, 0xFF, 0x11, 0x11]);
    }
}
