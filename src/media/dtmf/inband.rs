//! In-band DTMF detector (ITU-T Q.24): decoded 8 kHz audio in, key presses out. Sans-I/O.
//!
//! Skeleton: the API is final, the detection is being filled in.

use crate::domain::Digit;

/// Hears DTMF key presses in 8 kHz linear PCM. One per call direction; keeps state across frames.
#[derive(Debug, Default)]
pub struct InbandDetector {}

impl InbandDetector {
    pub fn new() -> InbandDetector {
        InbandDetector::default()
    }

    /// Feeds decoded audio (any length, e.g. one 160-sample frame); returns the key presses that
    /// were *confirmed* in it (normally 0 or 1), each reported once per press.
    pub fn push(&mut self, samples: &[i16]) -> Vec<Digit> {
        let _ = samples;
        Vec::new()
    }
}
