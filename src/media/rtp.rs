//! RTP packets (RFC 3550): the header state of our outgoing stream, and parsing of incoming
//! packets. Both go through rtp-rs, which is strict and does not panic on garbage.

use rand::RngExt;
use rtp_rs::{RtpPacketBuilder, RtpReader, Seq};

use super::codec::FRAME_SAMPLES;

/// Largest packet we send: 12-byte header and one 160-byte frame, with room to spare.
pub const MAX_PACKET: usize = 12 + 4 * FRAME_SAMPLES;

/// Samples per frame as the RTP timestamp counts them (8 kHz clock).
const TIMESTAMP_STEP: u32 = FRAME_SAMPLES as u32;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RtpError {
    #[error("RTP packet does not fit in a {0}-byte buffer")]
    BufferTooSmall(usize),
    #[error("invalid RTP packet: {0}")]
    Build(String),
    #[error("not an RTP packet: {0}")]
    Parse(String),
}

/// The header fields of our one outgoing stream. Random SSRC, sequence number and timestamp
/// (RFC 3550 §5.1: a known start makes plaintext attacks on SRTP easier and collisions likelier).
#[derive(Debug, Clone)]
pub struct RtpSender {
    payload_type: u8,
    ssrc: u32,
    seq: u16,
    timestamp: u32,
    first: bool,
}

impl RtpSender {
    pub fn new(payload_type: u8) -> RtpSender {
        let mut rng = rand::rng();
        RtpSender::with_start(payload_type, rng.random(), rng.random(), rng.random())
    }

    /// A sender with a chosen start, for tests.
    pub fn with_start(payload_type: u8, ssrc: u32, seq: u16, timestamp: u32) -> RtpSender {
        RtpSender {
            payload_type,
            ssrc,
            seq,
            timestamp,
            first: true,
        }
    }

    pub fn ssrc(&self) -> u32 {
        self.ssrc
    }

    /// Writes the next packet (one 20 ms frame) into `buf` and returns it. The sequence number
    /// goes up by one and the timestamp by 160 per packet; the marker is set on the first packet
    /// of the stream only (RFC 3551 §4.1: the start of a talkspurt).
    pub fn next_packet<'b>(
        &mut self,
        payload: &[u8],
        buf: &'b mut [u8],
    ) -> Result<&'b [u8], RtpError> {
        let len = RtpPacketBuilder::new()
            .payload_type(self.payload_type)
            .ssrc(self.ssrc)
            .sequence(Seq::from(self.seq))
            .timestamp(self.timestamp)
            .marked(self.first)
            .payload(payload)
            .build_into(buf)
            .map_err(|e| match e {
                rtp_rs::RtpPacketBuildError::BufferTooSmall => RtpError::BufferTooSmall(buf.len()),
                other => RtpError::Build(format!("{other:?}")),
            })?;
        self.first = false;
        self.seq = self.seq.wrapping_add(1);
        self.timestamp = self.timestamp.wrapping_add(TIMESTAMP_STEP);
        buf.get(..len).ok_or(RtpError::BufferTooSmall(buf.len()))
    }

    /// Accounts for `frames` frames that were not sent because the task woke up late: the
    /// timestamp moves on (it tracks the sampling clock), the sequence number does not (no packet
    /// was lost), so the receiver plays a gap rather than reporting loss.
    pub fn skip_frames(&mut self, frames: u32) {
        self.timestamp = self
            .timestamp
            .wrapping_add(frames.wrapping_mul(TIMESTAMP_STEP));
    }
}

/// The fields of an incoming packet that the media session uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IncomingRtp<'a> {
    pub payload_type: u8,
    pub marker: bool,
    pub seq: u16,
    pub timestamp: u32,
    pub ssrc: u32,
    pub payload: &'a [u8],
}

impl<'a> IncomingRtp<'a> {
    /// Parses a datagram; anything that is not a well-formed RTP version 2 packet is an error,
    /// never a panic.
    pub fn parse(datagram: &'a [u8]) -> Result<IncomingRtp<'a>, RtpError> {
        let reader = RtpReader::new(datagram).map_err(|e| RtpError::Parse(format!("{e:?}")))?;
        Ok(IncomingRtp {
            payload_type: reader.payload_type(),
            marker: reader.mark(),
            seq: reader.sequence_number().into(),
            timestamp: reader.timestamp(),
            ssrc: reader.ssrc(),
            payload: reader.payload(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packets_count_up_and_only_the_first_is_marked() {
        let mut sender = RtpSender::with_start(8, 0xDEADBEEF, 65534, u32::MAX - 100);
        let mut buf = [0u8; MAX_PACKET];
        let mut seen = Vec::new();
        for n in 0..3u8 {
            let packet = sender.next_packet(&[n; 160], &mut buf).unwrap().to_vec();
            assert_eq!(packet.len(), 12 + 160);
            let p = IncomingRtp::parse(&packet).unwrap();
            assert_eq!((p.payload_type, p.ssrc), (8, 0xDEADBEEF));
            assert_eq!(p.payload, &[n; 160]);
            seen.push((p.seq, p.timestamp, p.marker));
        }
        assert_eq!(
            seen,
            [
                (65534, u32::MAX - 100, true),
                (65535, 59, false), // the timestamp wrapped
                (0, 219, false),    // and now the sequence number
            ]
        );
    }

    #[test]
    fn skipped_frames_move_the_timestamp_but_not_the_sequence() {
        let mut sender = RtpSender::with_start(0, 1, 10, 1000);
        let mut buf = [0u8; MAX_PACKET];
        sender.next_packet(&[0; 160], &mut buf).unwrap();
        sender.skip_frames(3);
        let p = sender.next_packet(&[0; 160], &mut buf).unwrap().to_vec();
        let p = IncomingRtp::parse(&p).unwrap();
        assert_eq!((p.seq, p.timestamp, p.marker), (11, 1000 + 4 * 160, false));
    }

    #[test]
    fn random_starts_differ() {
        let a = RtpSender::new(0);
        let b = RtpSender::new(0);
        assert_ne!((a.ssrc, a.seq, a.timestamp), (b.ssrc, b.seq, b.timestamp));
    }

    #[test]
    fn a_small_buffer_is_an_error() {
        let mut sender = RtpSender::with_start(0, 1, 1, 1);
        let mut buf = [0u8; 100];
        assert_eq!(
            sender.next_packet(&[0; 160], &mut buf),
            Err(RtpError::BufferTooSmall(100))
        );
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        assert!(IncomingRtp::parse(&[]).is_err());
        assert!(IncomingRtp::parse(&[0x80; 11]).is_err());
        assert!(IncomingRtp::parse(&[0x40; 20]).is_err()); // version 1
        // Every truncation and a spread of byte values through a valid packet.
        let mut sender = RtpSender::with_start(101, 7, 7, 7);
        let mut buf = [0u8; MAX_PACKET];
        let packet = sender
            .next_packet(&[1, 2, 3, 4], &mut buf)
            .unwrap()
            .to_vec();
        for len in 0..packet.len() {
            let _ = IncomingRtp::parse(&packet[..len]);
        }
        for at in 0..packet.len() {
            for value in [0x00, 0x0F, 0x10, 0x20, 0x3F, 0xBF, 0xFF] {
                let mut mutated = packet.clone();
                mutated[at] = value;
                let _ = IncomingRtp::parse(&mutated);
            }
        }
    }
}
