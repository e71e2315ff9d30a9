//! One direction of one call's SRTP, on the pure-Rust `webrtc-srtp` context: protect or
//! unprotect RTP packets in place, in buffers the caller owns. The crate returns each packet
//! as a new buffer; we copy it back, so the callers keep the in-place interface (and the one
//! small heap buffer per packet stays inside this file).

use std::collections::HashSet;

use webrtc_srtp::context::Context;
use webrtc_srtp::option::srtp_replay_protection;
use webrtc_srtp::protection_profile::ProtectionProfile;
use zeroize::Zeroize;

use super::keys::{MASTER_KEY_LEN, MasterKey, SrtpSuite};

/// Bytes a protected packet may grow by: the 80-bit tag, the longer of our suites' (no MKI).
pub const MAX_TRAILER: usize = 10;

/// Bytes of the AES-128 master key; the rest of a [`MasterKey`] is the salt.
const AES_KEY_LEN: usize = 16;

/// The replay window, in packets: libsrtp's default, which callers such as baresip expect.
const REPLAY_WINDOW: usize = 128;

/// Distinct SSRCs an inbound stream keeps state for. The caller normally uses one, two after a
/// re-INVITE; anything past this is a peer misbehaving and is refused.
const MAX_INBOUND_SSRCS: usize = 16;

/// Failed tries with an SSRC not yet authenticated after which the probe context, which keeps
/// state for every SSRC it is shown, is made afresh (bounds its memory under a spray).
const PROBE_RENEWAL: u32 = 64;

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SrtpError {
    #[error("an SRTP context could not be created")]
    Create,
    #[error("the packet's authentication tag is wrong")]
    Authentication,
    #[error("the packet was already received, or is too old for the replay window")]
    Replay,
    #[error("the packet is not RTP, or is too short for SRTP")]
    Malformed,
    #[error("the stream already follows as many SSRCs as it may")]
    TooManySsrcs,
    #[error("the packet could not be protected (the key's packet limit is reached)")]
    Failed,
    #[error("the buffer has no room for the SRTP trailer")]
    NoRoom,
}

/// One SRTP context for one direction of one call. Any SSRC is accepted: the outbound one is
/// ours, the inbound one is whatever the caller picks.
pub struct SrtpStream {
    context: Context,
    /// Inbound only: how packets with an SSRC not yet authenticated are checked. Boxed: a
    /// second context and the key, which every session would otherwise carry inline.
    newcomers: Option<Box<Newcomers>>,
}

/// The crate's context keeps state for an SSRC as soon as it is shown a packet with it, before
/// the packet authenticates; so a stranger spraying SSRCs would grow it without end. A packet
/// with an SSRC the stream has not authenticated yet is therefore tried on a separate probe
/// context first, and only once it authenticates there is it shown to the real one (libsrtp
/// likewise makes a stream only after its first packet authenticates).
struct Newcomers {
    suite: SrtpSuite,
    key: MasterKey,
    probe: Context,
    failures: u32,
    authenticated: HashSet<u32>,
}

impl SrtpStream {
    /// Protects what we send with our key.
    pub fn outbound(suite: SrtpSuite, key: &MasterKey) -> Result<SrtpStream, SrtpError> {
        Ok(SrtpStream {
            context: context(suite, key)?,
            newcomers: None,
        })
    }

    /// Checks and decrypts what the caller sends with its key.
    pub fn inbound(suite: SrtpSuite, key: &MasterKey) -> Result<SrtpStream, SrtpError> {
        Ok(SrtpStream {
            context: context(suite, key)?,
            newcomers: Some(Box::new(Newcomers {
                suite,
                key: key.clone(),
                probe: context(suite, key)?,
                failures: 0,
                authenticated: HashSet::new(),
            })),
        })
    }

    /// Turns the RTP packet in `buf[..len]` into SRTP in place: the payload is encrypted and
    /// the tag appended. `buf` must have [`MAX_TRAILER`] bytes to spare after the packet.
    /// Returns the SRTP packet's length.
    pub fn protect(&mut self, buf: &mut [u8], len: usize) -> Result<usize, SrtpError> {
        if buf.len() < len.saturating_add(MAX_TRAILER) {
            return Err(SrtpError::NoRoom);
        }
        let protected = self.context.encrypt_rtp(&buf[..len]).map_err(error)?;
        let target = buf.get_mut(..protected.len()).ok_or(SrtpError::NoRoom)?;
        target.copy_from_slice(&protected);
        Ok(protected.len())
    }

    /// Authenticates and decrypts the SRTP packet that fills `packet`, in place. Returns the
    /// RTP packet, a prefix of `packet`; on error nothing in `packet` may be trusted.
    pub fn unprotect<'p>(&mut self, packet: &'p mut [u8]) -> Result<&'p [u8], SrtpError> {
        if let Some(newcomers) = self.newcomers.as_mut() {
            newcomers.admit(packet)?;
        }
        let rtp = self.context.decrypt_rtp(packet).map_err(error)?;
        let target = packet.get_mut(..rtp.len()).ok_or(SrtpError::Malformed)?;
        target.copy_from_slice(&rtp);
        Ok(target)
    }
}

impl Newcomers {
    /// Ok when the packet's SSRC is known, or when the packet authenticates on the probe.
    fn admit(&mut self, packet: &[u8]) -> Result<(), SrtpError> {
        let ssrc = packet
            .get(8..12)
            .and_then(|b| <[u8; 4]>::try_from(b).ok())
            .map(u32::from_be_bytes)
            .ok_or(SrtpError::Malformed)?;
        if self.authenticated.contains(&ssrc) {
            return Ok(());
        }
        if self.authenticated.len() >= MAX_INBOUND_SSRCS {
            return Err(SrtpError::TooManySsrcs);
        }
        match self.probe.decrypt_rtp(packet) {
            Ok(_) => {
                self.authenticated.insert(ssrc);
                Ok(())
            }
            Err(e) => {
                self.failures += 1;
                if self.failures >= PROBE_RENEWAL {
                    self.probe = context(self.suite, &self.key)?;
                    self.failures = 0;
                }
                Err(error(e))
            }
        }
    }
}

fn context(suite: SrtpSuite, key: &MasterKey) -> Result<Context, SrtpError> {
    let profile = match suite {
        SrtpSuite::AesCm128HmacSha1_80 => ProtectionProfile::Aes128CmHmacSha1_80,
        SrtpSuite::AesCm128HmacSha1_32 => ProtectionProfile::Aes128CmHmacSha1_32,
    };
    let mut key_bytes: [u8; MASTER_KEY_LEN] = *key.bytes();
    let (master_key, master_salt) = key_bytes.split_at(AES_KEY_LEN);
    // SRTCP: we send none and drop what arrives, so its context is never used.
    let made = Context::new(
        master_key,
        master_salt,
        profile,
        Some(srtp_replay_protection(REPLAY_WINDOW)),
        None,
    );
    key_bytes.zeroize();
    made.map_err(|_| SrtpError::Create)
}

fn error(e: webrtc_srtp::Error) -> SrtpError {
    use webrtc_srtp::Error as E;
    match e {
        E::RtpFailedToVerifyAuthTag | E::ErrFailedToVerifyAuthTag => SrtpError::Authentication,
        E::SrtpSsrcDuplicated(..) | E::ErrDuplicated => SrtpError::Replay,
        E::ErrExceededMaxPackets => SrtpError::Failed,
        _ => SrtpError::Malformed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::rtp::{IncomingRtp, MAX_PACKET, RtpSender};

    fn pair(suite: SrtpSuite) -> (SrtpStream, SrtpStream) {
        let key = MasterKey::generate().unwrap();
        (
            SrtpStream::outbound(suite, &key).unwrap(),
            SrtpStream::inbound(suite, &key).unwrap(),
        )
    }

    /// One protected packet of `payload`, and the plain packet it came from.
    fn protected(
        sender: &mut RtpSender,
        out: &mut SrtpStream,
        payload: &[u8],
    ) -> (Vec<u8>, Vec<u8>) {
        let mut buf = [0u8; MAX_PACKET];
        let plain = sender.next_packet(payload, &mut buf).unwrap().to_vec();
        let len = out.protect(&mut buf, plain.len()).unwrap();
        (buf[..len].to_vec(), plain)
    }

    #[test]
    fn both_suites_round_trip_with_their_tag_lengths() {
        for (suite, tag) in [
            (SrtpSuite::AesCm128HmacSha1_80, 10),
            (SrtpSuite::AesCm128HmacSha1_32, 4),
        ] {
            let (mut out, mut inb) = pair(suite);
            let mut sender = RtpSender::new(0);
            for n in 0..5u8 {
                let (mut srtp, plain) = protected(&mut sender, &mut out, &[n; 160]);
                assert_eq!(srtp.len(), plain.len() + tag);
                assert_eq!(srtp[..12], plain[..12], "the header stays clear");
                assert_ne!(srtp[12..172], plain[12..], "the payload is not");
                let rtp = inb.unprotect(&mut srtp).unwrap();
                assert_eq!(rtp, plain.as_slice());
                assert_eq!(IncomingRtp::parse(rtp).unwrap().payload, &[n; 160]);
            }
        }
    }

    /// libsrtp's own known-answer test (`srtp_validate` in its test driver): the packet libsrtp
    /// 2 makes of this key and plain packet, which is what baresip and other libsrtp peers send
    /// and expect. Both suites: the 32-bit tag is the 80-bit one cut short.
    const LIBSRTP_KEY: &str = "4fl6DT4Bi+DWT6MsBt5BOQ7Gda1Jiv7rtpYLOqvm";
    const LIBSRTP_PLAIN: &[u8] = &[
        0x80, 0x0f, 0x12, 0x34, 0xde, 0xca, 0xfb, 0xad, 0xca, 0xfe, 0xba, 0xbe, 0xab, 0xab, 0xab,
        0xab, 0xab, 0xab, 0xab, 0xab, 0xab, 0xab, 0xab, 0xab, 0xab, 0xab, 0xab, 0xab,
    ];
    const LIBSRTP_PACKET: &[u8] = &[
        0x80, 0x0f, 0x12, 0x34, 0xde, 0xca, 0xfb, 0xad, 0xca, 0xfe, 0xba, 0xbe, 0x4e, 0x55, 0xdc,
        0x4c, 0xe7, 0x99, 0x78, 0xd8, 0x8c, 0xa4, 0xd2, 0x15, 0x94, 0x9d, 0x24, 0x02, 0xb7, 0x8d,
        0x6a, 0xcc, 0x99, 0xea, 0x17, 0x9b, 0x8d, 0xbb,
    ];

    #[test]
    fn libsrtps_known_answer_both_ways_and_both_suites() {
        let key = MasterKey::from_base64(LIBSRTP_KEY).unwrap();
        for (suite, len) in [
            (SrtpSuite::AesCm128HmacSha1_80, 38),
            (SrtpSuite::AesCm128HmacSha1_32, 32),
        ] {
            let expected = &LIBSRTP_PACKET[..len];
            let mut inb = SrtpStream::inbound(suite, &key).unwrap();
            assert_eq!(
                inb.unprotect(&mut expected.to_vec()).unwrap(),
                LIBSRTP_PLAIN
            );
            let mut out = SrtpStream::outbound(suite, &key).unwrap();
            let mut buf = [0u8; 64];
            buf[..LIBSRTP_PLAIN.len()].copy_from_slice(LIBSRTP_PLAIN);
            let len = out.protect(&mut buf, LIBSRTP_PLAIN.len()).unwrap();
            assert_eq!(&buf[..len], expected);
        }
    }

    #[test]
    fn replays_forgeries_plain_rtp_and_other_keys_are_refused() {
        let (mut out, mut inb) = pair(SrtpSuite::AesCm128HmacSha1_80);
        let mut sender = RtpSender::new(0);
        let (srtp, plain) = protected(&mut sender, &mut out, &[7; 160]);
        assert!(inb.unprotect(&mut srtp.clone()).is_ok());
        assert_eq!(inb.unprotect(&mut srtp.clone()), Err(SrtpError::Replay));
        let (mut next, _) = protected(&mut sender, &mut out, &[8; 160]);
        next[20] ^= 1;
        assert_eq!(inb.unprotect(&mut next), Err(SrtpError::Authentication));
        let mut spray = plain.clone();
        spray[3] = spray[3].wrapping_add(5); // a later sequence number, not a replay
        assert_eq!(inb.unprotect(&mut spray), Err(SrtpError::Authentication));
        let (_, mut stranger) = pair(SrtpSuite::AesCm128HmacSha1_80);
        let (mut later, _) = protected(&mut sender, &mut out, &[9; 160]);
        assert_eq!(
            stranger.unprotect(&mut later),
            Err(SrtpError::Authentication)
        );
    }

    #[test]
    fn short_empty_and_random_packets_are_errors_not_panics() {
        let (mut out, mut inb) = pair(SrtpSuite::AesCm128HmacSha1_32);
        let mut sender = RtpSender::new(0);
        let (good, _) = protected(&mut sender, &mut out, &[1; 160]);
        for len in 0..good.len() {
            assert!(inb.unprotect(&mut good[..len].to_vec()).is_err(), "{len}");
            assert!(inb.unprotect(&mut vec![0x80; len]).is_err(), "{len}");
        }
        // Headers that claim CSRCs, an extension or padding past the end of the packet.
        for first in [0x8f, 0x90, 0xa0, 0xbf] {
            let mut packet = good.clone();
            packet[0] = first;
            for len in [12, 16, 20, 40, packet.len()] {
                assert!(inb.unprotect(&mut packet[..len].to_vec()).is_err());
            }
        }
        let mut seed = 0x2545_f491_4f6c_dd1d_u64;
        for _ in 0..20_000 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let len = (seed % 200) as usize;
            let mut packet: Vec<u8> = (0..len).map(|i| (seed >> (i % 56)) as u8).collect();
            if let Some(first) = packet.first_mut() {
                *first = 0x80 | (*first & 0x3f); // mostly RTP version 2
            }
            assert!(inb.unprotect(&mut packet).is_err());
        }
        // After all that, the real stream still flows.
        let (mut next, _) = protected(&mut sender, &mut out, &[2; 160]);
        assert!(inb.unprotect(&mut next).is_ok());
        let mut buf = [0u8; 64];
        for len in 0..12 {
            assert!(out.protect(&mut buf, len).is_err(), "{len}");
        }
    }

    #[test]
    fn strangers_ssrcs_are_bounded_and_a_new_authentic_ssrc_is_taken() {
        let (mut out, mut inb) = pair(SrtpSuite::AesCm128HmacSha1_80);
        let mut sender = RtpSender::new(0);
        let (mut first, plain) = protected(&mut sender, &mut out, &[3; 160]);
        assert!(inb.unprotect(&mut first).is_ok());
        for ssrc in 0..1000u32 {
            let mut forged = plain.clone();
            forged[8..12].copy_from_slice(&ssrc.to_be_bytes());
            forged.extend_from_slice(&[0; 10]);
            assert_eq!(inb.unprotect(&mut forged), Err(SrtpError::Authentication));
        }
        // A re-INVITE's new SSRC, under the same key, authenticates and is followed.
        let mut restarted = RtpSender::with_start(0, 0xdead_beef, 7, 0);
        for n in 0..3u8 {
            let (mut packet, plain) = protected(&mut restarted, &mut out, &[n; 160]);
            assert_eq!(inb.unprotect(&mut packet).unwrap(), plain.as_slice());
        }
        let (mut again, _) = protected(&mut sender, &mut out, &[4; 160]);
        assert!(inb.unprotect(&mut again).is_ok());
        assert!(inb.newcomers.as_ref().unwrap().authenticated.len() == 2);
    }

    #[test]
    fn protect_needs_room_for_the_trailer() {
        let (mut out, _) = pair(SrtpSuite::AesCm128HmacSha1_32);
        let mut buf = [0u8; 172 + MAX_TRAILER - 1];
        assert_eq!(out.protect(&mut buf, 172), Err(SrtpError::NoRoom));
    }
}
