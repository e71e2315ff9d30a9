//! Which of the three DTMF sources a call listens to, decided once when it is answered.
//!
//! Running two sources that can both hear the same press would double it: a phone sending
//! RFC 4733 usually also leaves (attenuated) tones in the audio, and a gateway may send both
//! RFC 4733 and INFO. So at most one RTP source is active per call, and an explicit per-trunk
//! mode turns the others off entirely:
//!
//! | mode      | RFC 4733                         | in-band                           | SIP INFO |
//! |-----------|----------------------------------|-----------------------------------|----------|
//! | `auto`    | when telephone-event negotiated  | when telephone-event not negotiated | yes    |
//! | `rfc4733` | when negotiated                  | no                                | no       |
//! | `inband`  | no                               | yes                               | no       |
//! | `info`    | no                               | no                                | yes      |

use serde::{Deserialize, Serialize};

/// How a trunk sends DTMF (`media.dtmf`, `media.dtmf_by_peer`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DtmfMode {
    /// RFC 4733 when the caller offered telephone-event, else in-band tones; INFO always.
    #[default]
    Auto,
    /// Only RFC 4733 telephone-events.
    Rfc4733,
    /// Only SIP INFO.
    Info,
    /// Only tones in the audio.
    Inband,
}

/// The sources one call listens to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DtmfSources {
    /// The telephone-event payload type to decode, when RFC 4733 is listened to.
    pub rfc4733_pt: Option<u8>,
    /// Decode the caller's audio and run the tone detector.
    pub inband: bool,
    /// Take digits from SIP INFO.
    pub info: bool,
}

impl DtmfSources {
    /// The sources for a call whose SDP negotiated `telephone_event_pt` (if any).
    pub fn choose(mode: DtmfMode, telephone_event_pt: Option<u8>) -> DtmfSources {
        match mode {
            DtmfMode::Auto => DtmfSources {
                rfc4733_pt: telephone_event_pt,
                inband: telephone_event_pt.is_none(),
                info: true,
            },
            DtmfMode::Rfc4733 => DtmfSources {
                rfc4733_pt: telephone_event_pt,
                inband: false,
                info: false,
            },
            DtmfMode::Inband => DtmfSources {
                rfc4733_pt: None,
                inband: true,
                info: false,
            },
            DtmfMode::Info => DtmfSources {
                rfc4733_pt: None,
                inband: false,
                info: true,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auto_prefers_rfc4733_and_falls_back_to_inband() {
        let with = DtmfSources::choose(DtmfMode::Auto, Some(101));
        assert_eq!(
            (with.rfc4733_pt, with.inband, with.info),
            (Some(101), false, true)
        );
        let without = DtmfSources::choose(DtmfMode::Auto, None);
        assert_eq!(
            (without.rfc4733_pt, without.inband, without.info),
            (None, true, true)
        );
    }

    #[test]
    fn an_explicit_mode_listens_to_that_source_only() {
        let rfc = DtmfSources::choose(DtmfMode::Rfc4733, Some(96));
        assert_eq!(
            (rfc.rfc4733_pt, rfc.inband, rfc.info),
            (Some(96), false, false)
        );
        let rfc_unoffered = DtmfSources::choose(DtmfMode::Rfc4733, None);
        assert_eq!(rfc_unoffered.rfc4733_pt, None);
        assert!(!rfc_unoffered.inband);
        let inband = DtmfSources::choose(DtmfMode::Inband, Some(101));
        assert_eq!(
            (inband.rfc4733_pt, inband.inband, inband.info),
            (None, true, false)
        );
        let info = DtmfSources::choose(DtmfMode::Info, Some(101));
        assert_eq!(
            (info.rfc4733_pt, info.inband, info.info),
            (None, false, true)
        );
    }

    #[test]
    fn rfc4733_and_inband_are_never_both_on() {
        for mode in [
            DtmfMode::Auto,
            DtmfMode::Rfc4733,
            DtmfMode::Info,
            DtmfMode::Inband,
        ] {
            for pt in [None, Some(101)] {
                let s = DtmfSources::choose(mode, pt);
                assert!(!(s.rfc4733_pt.is_some() && s.inband), "{mode:?} {pt:?}");
            }
        }
    }
}
