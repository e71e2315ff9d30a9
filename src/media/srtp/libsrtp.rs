//! A safe wrapper around one libsrtp2 context: protect or unprotect RTP packets in place, in
//! buffers the caller owns, so the per-packet path allocates nothing. All of hotline's unsafe
//! code for SRTP is in this file.

use std::ffi::c_int;
use std::ptr::NonNull;
use std::sync::OnceLock;

use srtp2_sys as sys;
use zeroize::Zeroize;

use super::keys::{MASTER_KEY_LEN, MasterKey, SrtpSuite};

/// Bytes libsrtp may write after a packet it protects (tag and MKI, at most).
pub const MAX_TRAILER: usize = sys::SRTP_MAX_TRAILER_LEN as usize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SrtpError {
    #[error("libsrtp could not be initialised (status {0})")]
    Init(u32),
    #[error("an SRTP context could not be created (status {0})")]
    Create(u32),
    #[error("the packet's authentication tag is wrong")]
    Authentication,
    #[error("the packet was already received, or is too old for the replay window")]
    Replay,
    #[error("the packet could not be protected or unprotected (libsrtp status {0})")]
    Failed(u32),
    #[error("the buffer has no room for the SRTP trailer")]
    NoRoom,
}

/// Which way a context works.
#[derive(Clone, Copy)]
enum Direction {
    Outbound,
    Inbound,
}

/// One libsrtp2 session context for one direction of one call. Any SSRC is accepted: the
/// outbound one is ours, the inbound one is whatever the caller picks (a stream for it is made
/// after its first packet authenticates, so a stranger's packets never make one).
pub struct SrtpStream {
    context: NonNull<sys::srtp_ctx_t>,
}

// SAFETY: a libsrtp context is plain memory with no thread affinity; `&mut self` on every use
// means one thread at a time touches it (it is not `Sync`).
unsafe impl Send for SrtpStream {}

impl SrtpStream {
    /// Protects what we send with our key.
    pub fn outbound(suite: SrtpSuite, key: &MasterKey) -> Result<SrtpStream, SrtpError> {
        SrtpStream::create(suite, key, Direction::Outbound)
    }

    /// Checks and decrypts what the caller sends with its key.
    pub fn inbound(suite: SrtpSuite, key: &MasterKey) -> Result<SrtpStream, SrtpError> {
        SrtpStream::create(suite, key, Direction::Inbound)
    }

    fn create(
        suite: SrtpSuite,
        key: &MasterKey,
        direction: Direction,
    ) -> Result<SrtpStream, SrtpError> {
        init()?;
        // libsrtp reads the key during srtp_create and keeps only what it derives from it.
        let mut key_bytes: [u8; MASTER_KEY_LEN] = *key.bytes();
        // SAFETY: an all-zero srtp_policy_t is valid (null pointers, zero counts); every field
        // libsrtp reads is set below, and `key_bytes` outlives the call that reads it.
        let mut policy: sys::srtp_policy_t = unsafe { std::mem::zeroed() };
        unsafe {
            match suite {
                SrtpSuite::AesCm128HmacSha1_80 => {
                    sys::srtp_crypto_policy_set_rtp_default(&mut policy.rtp)
                }
                SrtpSuite::AesCm128HmacSha1_32 => {
                    sys::srtp_crypto_policy_set_aes_cm_128_hmac_sha1_32(&mut policy.rtp)
                }
            }
            // SRTCP keeps the 80-bit tag whichever the suite (RFC 4568 §6.2.2); we send no RTCP.
            sys::srtp_crypto_policy_set_rtcp_default(&mut policy.rtcp);
        }
        policy.ssrc.type_ = match direction {
            Direction::Outbound => sys::srtp_ssrc_type_t_ssrc_any_outbound,
            Direction::Inbound => sys::srtp_ssrc_type_t_ssrc_any_inbound,
        };
        policy.key = key_bytes.as_mut_ptr();
        // 0: libsrtp's default replay window of 128 packets.
        policy.window_size = 0;
        policy.allow_repeat_tx = 0;
        let mut context: sys::srtp_t = std::ptr::null_mut();
        // SAFETY: `policy` is fully initialised and `context` is a valid out-pointer.
        let status = unsafe { sys::srtp_create(&mut context, &policy) };
        key_bytes.zeroize();
        match NonNull::new(context) {
            Some(context) if status == sys::srtp_err_status_t_srtp_err_status_ok => {
                Ok(SrtpStream { context })
            }
            _ => Err(SrtpError::Create(status)),
        }
    }

    /// Turns the RTP packet in `buf[..len]` into SRTP in place: the payload is encrypted and
    /// the tag appended. `buf` must have [`MAX_TRAILER`] bytes to spare after the packet.
    /// Returns the SRTP packet's length.
    pub fn protect(&mut self, buf: &mut [u8], len: usize) -> Result<usize, SrtpError> {
        if buf.len() < len.saturating_add(MAX_TRAILER) {
            return Err(SrtpError::NoRoom);
        }
        let mut length = c_int::try_from(len).map_err(|_| SrtpError::NoRoom)?;
        // SAFETY: `buf` holds the packet and MAX_TRAILER writable bytes after it, which is all
        // srtp_protect may write; `length` is the packet's length.
        let status = unsafe {
            sys::srtp_protect(self.context.as_ptr(), buf.as_mut_ptr().cast(), &mut length)
        };
        outcome(status)?;
        usize::try_from(length).map_err(|_| SrtpError::Failed(status))
    }

    /// Authenticates and decrypts the SRTP packet that fills `packet`, in place. Returns the
    /// RTP packet, a prefix of `packet`; on error nothing in `packet` may be trusted.
    pub fn unprotect<'p>(&mut self, packet: &'p mut [u8]) -> Result<&'p [u8], SrtpError> {
        let mut length = c_int::try_from(packet.len()).map_err(|_| SrtpError::Failed(0))?;
        // SAFETY: srtp_unprotect only shortens the packet, within `packet`.
        let status = unsafe {
            sys::srtp_unprotect(
                self.context.as_ptr(),
                packet.as_mut_ptr().cast(),
                &mut length,
            )
        };
        outcome(status)?;
        let length = usize::try_from(length).map_err(|_| SrtpError::Failed(status))?;
        packet.get(..length).ok_or(SrtpError::Failed(status))
    }
}

impl Drop for SrtpStream {
    fn drop(&mut self) {
        // SAFETY: the context came from srtp_create and is freed once, here; srtp_dealloc also
        // zeroes the session keys it derived.
        unsafe {
            sys::srtp_dealloc(self.context.as_ptr());
        }
    }
}

/// srtp_init, once per process.
fn init() -> Result<(), SrtpError> {
    static STATUS: OnceLock<sys::srtp_err_status_t> = OnceLock::new();
    // SAFETY: called once, before any other libsrtp function (OnceLock).
    let status = *STATUS.get_or_init(|| unsafe { sys::srtp_init() });
    if status == sys::srtp_err_status_t_srtp_err_status_ok {
        Ok(())
    } else {
        Err(SrtpError::Init(status))
    }
}

fn outcome(status: sys::srtp_err_status_t) -> Result<(), SrtpError> {
    match status {
        sys::srtp_err_status_t_srtp_err_status_ok => Ok(()),
        sys::srtp_err_status_t_srtp_err_status_auth_fail => Err(SrtpError::Authentication),
        sys::srtp_err_status_t_srtp_err_status_replay_fail
        | sys::srtp_err_status_t_srtp_err_status_replay_old => Err(SrtpError::Replay),
        other => Err(SrtpError::Failed(other)),
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
        for len in 0..16 {
            assert!(inb.unprotect(&mut vec![0x80; len]).is_err());
        }
    }

    #[test]
    fn protect_needs_room_for_the_trailer() {
        let (mut out, _) = pair(SrtpSuite::AesCm128HmacSha1_32);
        let mut buf = [0u8; 172 + MAX_TRAILER - 1];
        assert_eq!(out.protect(&mut buf, 172), Err(SrtpError::NoRoom));
    }
}
