//! RFC 4733 telephone-event receiver: RTP packets in, key presses out. Sans-I/O: the caller
//! passes every packet of the negotiated telephone-event payload type and the current time.
//! No crate has one of these (DEPENDENCIES.md), so it is written here.
//!
//! # When a digit is emitted
//! On the **first** packet of a new event, not on its end. That is the fastest signal for
//! barge-in (the prompt stops while the key is still down) and it survives the loss of every
//! end packet. The price is that a press is never "un-emitted", which is fine: RFC 4733 has no
//! way to cancel an event.
//!
//! # What makes a press new
//! A press is identified by (SSRC, event timestamp, event code): every packet of one press carries
//! the timestamp of its start (§2.5.1.2), whatever its marker bit, sequence number or duration.
//! Only equality of timestamps is ever tested, never their order, so sequence and timestamp
//! wrap-around, timestamps that jump backwards (SIPp's pcaps) and SSRC changes between presses
//! need no special case. Beyond that:
//! - a long press is split into segments (§2.5.2.3): a new timestamp that continues an unfinished
//!   segment which had nearly reached the 0xFFFF duration limit is the same press;
//! - a packet for a press that has **ended** (an end packet was seen) arriving after
//!   [`REPLAY_GAP`] of quiet is a new press: SIPp's pcaps replay identical packets for a repeated
//!   digit. Earlier than that it is a late duplicate of the old press;
//! - a press quiet for [`MEMORY`] is forgotten.
//!
//! The marker bit and sequence numbers are not used: senders disagree about the first and
//! reordering does not matter when only equality is tested.
//!
//! # Lost end packets
//! A press whose end packets were all lost is still delivered, exactly once: it was emitted on
//! its first packet already. What the lost end costs is only the replay rule above: the same
//! key replayed with the same timestamp right after is taken for a late copy until
//! [`REPLAY_GAP`] has passed — real senders give each press a new timestamp anyway.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use crate::domain::Digit;

/// Quietest event we accept: −55 dBm0 (RFC 4733 §2.3.4 leaves lower ones to the receiver; Q.24
/// puts DTMF reception down to −55 dBm0 at most).
pub const MIN_VOLUME_DBM0: u8 = 55;

/// After an end packet, this much quiet makes a packet with the same timestamp a new press.
/// Longer than the usual end-packet retransmission spread (3 × 20 ms) plus jitter.
pub const REPLAY_GAP: Duration = Duration::from_millis(100);

/// How long a quiet press is remembered (to drop its late duplicates).
pub const MEMORY: Duration = Duration::from_secs(5);

/// How many presses are remembered at most, whatever the sender does.
const MAX_REMEMBERED: usize = 32;

/// A segment this close to the 0xFFFF duration limit may be continued by a new segment.
const SEGMENT_SLACK: u16 = 1600;

/// One telephone-event block (RFC 4733 §2.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TelephoneEvent {
    /// Event code; 0–15 are the DTMF keys.
    pub event: u8,
    /// The E bit: this is (a retransmission of) the final packet of the event.
    pub end: bool,
    /// Power level as −dBm0 (0–63); larger is quieter.
    pub volume: u8,
    /// Duration so far, in timestamp units (1/8000 s).
    pub duration: u16,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EventError {
    #[error("telephone-event payload of {0} bytes (expected a multiple of 4)")]
    BadLength(usize),
}

impl TelephoneEvent {
    pub const LEN: usize = 4;

    /// Parses the first event block of a payload. A payload may hold several blocks (§2.5.1.5,
    /// rare); the first one is the event the RTP timestamp identifies.
    pub fn parse(payload: &[u8]) -> Result<TelephoneEvent, EventError> {
        match payload {
            [event, flags, d1, d2, ..] if payload.len().is_multiple_of(Self::LEN) => {
                Ok(TelephoneEvent {
                    event: *event,
                    end: flags & 0x80 != 0,
                    volume: flags & 0x3F,
                    duration: u16::from_be_bytes([*d1, *d2]),
                })
            }
            _ => Err(EventError::BadLength(payload.len())),
        }
    }

    pub fn to_bytes(self) -> [u8; 4] {
        let [d1, d2] = self.duration.to_be_bytes();
        let end = if self.end { 0x80 } else { 0 };
        [self.event, end | (self.volume & 0x3F), d1, d2]
    }
}

/// What is remembered about one press.
#[derive(Debug, Clone)]
struct Press {
    ssrc: u32,
    timestamp: u32,
    event: u8,
    ended: bool,
    longest: u16,
    last_seen: Instant,
}

/// Turns telephone-event packets into key presses, each exactly once. See the module docs.
#[derive(Debug)]
pub struct Rfc4733Receiver {
    payload_type: u8,
    presses: VecDeque<Press>,
}

impl Rfc4733Receiver {
    /// `payload_type` is the one negotiated in SDP (any dynamic PT: 96, 101, 120…).
    pub fn new(payload_type: u8) -> Rfc4733Receiver {
        Rfc4733Receiver {
            payload_type,
            presses: VecDeque::new(),
        }
    }

    /// The telephone-event payload type this receiver was made for; the caller routes packets
    /// of this type here.
    pub fn payload_type(&self) -> u8 {
        self.payload_type
    }

    /// Feeds one packet; returns the key when it starts a new press. Bad lengths, events that
    /// are not DTMF keys (> 15) and volumes below −55 dBm0 are ignored.
    pub fn on_packet(
        &mut self,
        ssrc: u32,
        _seq: u16,
        timestamp: u32,
        _marker: bool,
        payload: &[u8],
        now: Instant,
    ) -> Option<Digit> {
        self.forget_old(now);
        let event = TelephoneEvent::parse(payload).ok()?;
        let digit = Digit::from_event(event.event).ok()?;
        if event.volume > MIN_VOLUME_DBM0 {
            return None;
        }

        let known = self
            .presses
            .iter_mut()
            .find(|p| p.ssrc == ssrc && p.timestamp == timestamp && p.event == event.event);
        if let Some(press) = known {
            let replayed = press.ended
                && !event.end
                && now.saturating_duration_since(press.last_seen) >= REPLAY_GAP;
            press.last_seen = now;
            if !replayed {
                press.ended |= event.end;
                press.longest = press.longest.max(event.duration);
                return None;
            }
            press.ended = false;
            press.longest = event.duration;
            return Some(digit);
        }

        let continues_segment = self.presses.iter().any(|p| {
            p.ssrc == ssrc
                && p.event == event.event
                && !p.ended
                && p.longest >= u16::MAX - SEGMENT_SLACK
                && (1..=u32::from(u16::MAX)).contains(&timestamp.wrapping_sub(p.timestamp))
        });
        if self.presses.len() >= MAX_REMEMBERED {
            self.presses.pop_front();
        }
        self.presses.push_back(Press {
            ssrc,
            timestamp,
            event: event.event,
            ended: event.end,
            longest: event.duration,
            last_seen: now,
        });
        (!continues_segment).then_some(digit)
    }

    /// Housekeeping at [`Rfc4733Receiver::next_timeout`]. Always `None` under the emit-on-start
    /// policy; the signature leaves room for a policy that emits on end or on quiet.
    pub fn poll_timeout(&mut self, now: Instant) -> Option<Digit> {
        self.forget_old(now);
        None
    }

    /// When [`Rfc4733Receiver::poll_timeout`] next has work, if ever.
    pub fn next_timeout(&self) -> Option<Instant> {
        self.presses.iter().map(|p| p.last_seen + MEMORY).min()
    }

    fn forget_old(&mut self, now: Instant) {
        self.presses
            .retain(|p| now.saturating_duration_since(p.last_seen) < MEMORY);
    }
}

/// Issue 4 point 1, bullet by bullet, and the tests that hold it:
/// - once per press, keyed on (SSRC, timestamp): `one_press_with_three_end_packets_is_one_digit`,
///   `reordered_and_duplicated_packets_do_not_double`, `a_late_copy_within_the_gap_is_not_a_new_press`;
/// - with or without marker, 0, 1 or 3 end packets: `with_or_without_marker_and_with_zero_or_one_end_packet`,
///   `a_press_seen_only_through_its_end_packets_still_counts_once`;
/// - segmented long presses: `a_long_press_segmented_at_the_duration_limit_is_one_digit`;
/// - sequence and timestamp wrap-around: `survives_sequence_and_timestamp_wrap_around`;
/// - payload type from the SDP: `any_payload_type_works`, `play_dtmf_on_pt_96_with_a_new_ssrc_per_press`;
/// - SSRC changes: `a_new_ssrc_is_a_new_sender`, `play_dtmf_on_pt_96_with_a_new_ssrc_per_press`;
/// - SIPp's pcaps back to back: `sipps_pcaps_played_back_to_back_give_every_key_once`,
///   `timestamps_jumping_backwards_between_presses_are_fine`,
///   `identical_packets_replayed_after_an_end_and_a_gap_are_a_new_press`;
/// - end packets all lost: `a_digit_whose_end_packets_were_all_lost_is_delivered_at_once`.
#[cfg(test)]
mod tests {
    use super::*;

    const PT: u8 = 101;
    const SSRC: u32 = 0x1234_5678;

    /// Builds and feeds packets the way a sender would, with its own seq and clock.
    struct Sender {
        rx: Rfc4733Receiver,
        ssrc: u32,
        seq: u16,
        start: Instant,
        now: Instant,
        got: Vec<Digit>,
    }

    impl Sender {
        fn new() -> Sender {
            let start = Instant::now();
            Sender {
                rx: Rfc4733Receiver::new(PT),
                ssrc: SSRC,
                seq: 100,
                start,
                now: start,
                got: Vec::new(),
            }
        }

        fn at_ms(&mut self, ms: u64) -> &mut Self {
            self.now = self.start + Duration::from_millis(ms);
            self
        }

        fn raw(&mut self, ts: u32, marker: bool, payload: &[u8]) {
            self.seq = self.seq.wrapping_add(1);
            if let Some(d) = self
                .rx
                .on_packet(self.ssrc, self.seq, ts, marker, payload, self.now)
            {
                self.got.push(d);
            }
        }

        fn event(&mut self, ts: u32, event: u8, end: bool, duration: u16, marker: bool) {
            let e = TelephoneEvent {
                event,
                end,
                volume: 10,
                duration,
            };
            self.raw(ts, marker, &e.to_bytes());
        }

        /// A full press: updates every 20 ms from `at` for `updates` packets, then `ends`
        /// end packets 20 ms apart.
        fn press(&mut self, at: u64, ts: u32, key: u8, updates: u16, ends: u16, marker: bool) {
            for i in 0..updates {
                self.at_ms(at + 20 * u64::from(i));
                self.event(ts, key, false, 160 * (i + 1), marker && i == 0);
            }
            for i in 0..ends {
                self.at_ms(at + 20 * u64::from(updates + i));
                self.event(ts, key, true, 160 * updates.max(1), false);
            }
        }

        fn keys(&self) -> String {
            self.got.iter().map(|d| d.as_char()).collect()
        }
    }

    #[test]
    fn event_blocks_parse_and_round_trip() {
        let e = TelephoneEvent::parse(&[11, 0x8A, 0x03, 0x20]).unwrap();
        assert_eq!(
            e,
            TelephoneEvent {
                event: 11,
                end: true,
                volume: 10,
                duration: 800
            }
        );
        assert_eq!(e.to_bytes(), [11, 0x8A, 0x03, 0x20]);
        // The reserved bit is ignored.
        assert_eq!(TelephoneEvent::parse(&[1, 0x4A, 0, 0]).unwrap().volume, 10);
        for len in [0, 1, 2, 3, 5, 7] {
            assert_eq!(
                TelephoneEvent::parse(&vec![0; len]),
                Err(EventError::BadLength(len))
            );
        }
        assert!(TelephoneEvent::parse(&[1, 10, 0, 160, 2, 10, 0, 160]).is_ok());
    }

    #[test]
    fn one_press_with_three_end_packets_is_one_digit() {
        let mut s = Sender::new();
        s.press(0, 5000, 5, 5, 3, true);
        assert_eq!(s.keys(), "5");
    }

    #[test]
    fn the_digit_comes_with_the_first_packet() {
        let mut s = Sender::new();
        s.event(5000, 8, false, 160, true);
        assert_eq!(s.keys(), "8");
        s.at_ms(20).event(5000, 8, false, 320, false);
        assert_eq!(s.keys(), "8");
    }

    #[test]
    fn with_or_without_marker_and_with_zero_or_one_end_packet() {
        let mut s = Sender::new();
        s.press(0, 1000, 1, 5, 0, false); // no marker, ends lost
        s.press(200, 1000 + 1600, 2, 5, 1, true);
        s.press(400, 1000 + 3200, 3, 5, 3, false);
        assert_eq!(s.keys(), "123");
    }

    #[test]
    fn a_repeated_key_whose_end_packets_were_lost_is_two_presses() {
        let mut s = Sender::new();
        s.press(0, 1000, 0, 5, 0, true);
        s.press(200, 1000 + 1600, 0, 5, 0, true);
        assert_eq!(s.keys(), "00");
    }

    #[test]
    fn a_press_seen_only_through_its_end_packets_still_counts_once() {
        let mut s = Sender::new();
        s.press(0, 1000, 9, 0, 3, false);
        assert_eq!(s.keys(), "9");
    }

    #[test]
    fn any_payload_type_works() {
        for pt in [96, 101, 120, 127] {
            let mut rx = Rfc4733Receiver::new(pt);
            assert_eq!(rx.payload_type(), pt);
            let d = rx.on_packet(1, 1, 1, true, &[4, 10, 0, 160], Instant::now());
            assert_eq!(d, Some(Digit::D4));
        }
    }

    #[test]
    fn star_pound_and_a_to_d_are_keys_but_events_above_15_are_not() {
        let mut s = Sender::new();
        for (i, code) in [10u8, 11, 12, 15, 16, 32, 255].into_iter().enumerate() {
            s.press(200 * i as u64, 160_000 * i as u32, code, 3, 3, true);
        }
        assert_eq!(s.keys(), "*#AD");
    }

    #[test]
    fn quiet_events_and_bad_lengths_are_ignored() {
        let mut s = Sender::new();
        s.raw(1000, true, &[1, 56, 0, 160]); // −56 dBm0
        s.raw(1000, true, &[1, 63, 0, 160]);
        s.raw(2000, true, &[1, 10, 0]);
        s.raw(3000, true, &[1, 10, 0, 160, 0]);
        s.raw(4000, true, &[]);
        assert_eq!(s.keys(), "");
        s.raw(5000, true, &[1, 55, 0, 160]); // −55 dBm0 is the limit, still accepted
        assert_eq!(s.keys(), "1");
    }

    #[test]
    fn a_long_press_segmented_at_the_duration_limit_is_one_digit() {
        let mut s = Sender::new();
        // 0xFFFF units is about 8.2 s; updates every 50 ms (400 units).
        let ts = 10_000u32;
        let mut duration = 0u16;
        let mut ms = 0;
        while let Some(next) = duration.checked_add(400) {
            duration = next;
            s.at_ms(ms).event(ts, 7, false, duration, duration == 400);
            ms += 50;
        }
        s.at_ms(ms).event(ts, 7, false, u16::MAX, false);
        // The new segment starts at ts + 0xFFFF with a fresh duration and no end in between.
        let ts2 = ts.wrapping_add(u32::from(u16::MAX));
        for i in 1..=10u16 {
            s.at_ms(ms + 50 * u64::from(i))
                .event(ts2, 7, false, 400 * i, false);
        }
        for _ in 0..3 {
            s.at_ms(ms + 600).event(ts2, 7, true, 4000, false);
        }
        assert_eq!(s.keys(), "7");
        // The key pressed again afterwards is a new press.
        s.press(ms + 800, ts2 + 8000, 7, 3, 3, true);
        assert_eq!(s.keys(), "77");
    }

    #[test]
    fn survives_sequence_and_timestamp_wrap_around() {
        let mut s = Sender::new();
        s.seq = u16::MAX - 3;
        let ts = u32::MAX - 400; // the press's own timestamp is near the top...
        s.press(0, ts, 4, 5, 3, true);
        s.press(200, ts.wrapping_add(1600), 2, 5, 3, true); // ...and the next one wrapped
        assert_eq!(s.keys(), "42");
        assert!(s.seq < 100, "sequence wrapped during the test");
    }

    #[test]
    fn reordered_and_duplicated_packets_do_not_double() {
        let mut s = Sender::new();
        s.at_ms(0).event(1000, 3, false, 320, false); // the first packet was lost, this one is late
        s.at_ms(1).event(1000, 3, false, 160, true);
        s.at_ms(40).event(1000, 3, true, 480, false);
        s.at_ms(41).event(1000, 3, false, 480, false); // reordered behind its end
        s.at_ms(60).event(1000, 3, true, 480, false);
        assert_eq!(s.keys(), "3");
    }

    #[test]
    fn a_new_ssrc_is_a_new_sender() {
        let mut s = Sender::new();
        s.press(0, 1000, 6, 3, 3, true);
        s.ssrc = 99;
        s.press(200, 1000, 6, 3, 3, true); // same timestamp, other stream
        assert_eq!(s.keys(), "66");
    }

    #[test]
    fn timestamps_jumping_backwards_between_presses_are_fine() {
        let mut s = Sender::new();
        s.press(0, 900_000, 1, 3, 3, true);
        s.press(200, 20_000, 2, 3, 3, true);
        s.press(400, 7, 3, 3, 3, true);
        assert_eq!(s.keys(), "123");
    }

    #[test]
    fn identical_packets_replayed_after_an_end_and_a_gap_are_a_new_press() {
        // SIPp's dtmf_2833_1.pcap played twice: same SSRC, timestamp and even sequence numbers.
        let mut s = Sender::new();
        s.press(0, 4242, 1, 5, 3, true);
        s.seq = 100;
        s.press(300, 4242, 1, 5, 3, true);
        // Different digits from pcaps that happen to share a timestamp are distinct too.
        s.press(600, 4242, 2, 5, 3, true);
        assert_eq!(s.keys(), "112");
    }

    #[test]
    fn a_late_copy_within_the_gap_is_not_a_new_press() {
        let mut s = Sender::new();
        s.press(0, 4242, 1, 5, 3, true); // last end at 140 ms
        s.at_ms(140 + 50).event(4242, 1, false, 160, true);
        assert_eq!(s.keys(), "1");
    }

    #[test]
    fn presses_are_forgotten_after_a_while() {
        let mut s = Sender::new();
        s.press(0, 1000, 1, 3, 3, true);
        let next = s.rx.next_timeout().unwrap();
        assert_eq!(next, s.start + Duration::from_millis(100) + MEMORY);
        assert_eq!(s.rx.poll_timeout(next), None);
        assert_eq!(s.rx.next_timeout(), None);
    }

    #[test]
    fn memory_is_bounded() {
        let mut s = Sender::new();
        for i in 0..1000u32 {
            s.at_ms(u64::from(i)).event(i * 1000, 1, false, 160, true);
        }
        assert_eq!(s.got.len(), 1000);
        assert!(s.rx.presses.len() <= MAX_REMEMBERED);
    }

    #[test]
    fn a_digit_whose_end_packets_were_all_lost_is_delivered_at_once() {
        let mut s = Sender::new();
        s.press(0, 1000, 4, 5, 0, true);
        assert_eq!(
            s.keys(),
            "4",
            "delivered on the first packet, no end needed"
        );
        // Nothing more comes out when the event goes quiet: it was already delivered.
        let quiet = s.start + MEMORY + Duration::from_secs(1);
        assert_eq!(s.rx.poll_timeout(quiet), None);
        assert_eq!(s.keys(), "4");
    }

    #[test]
    fn play_dtmf_on_pt_96_with_a_new_ssrc_per_press() {
        // SIPp's <exec play_dtmf="…"/> starts a fresh RTP stream for each key: new SSRC, its
        // own sequence and timestamp origin, and the payload type of the scenario's SDP.
        let mut rx = Rfc4733Receiver::new(96);
        let start = Instant::now();
        let mut got = String::new();
        for (i, key) in [1u8, 1, 0, 11].into_iter().enumerate() {
            let ssrc = 0xA000_0000 + i as u32;
            let at = start + Duration::from_millis(300 * i as u64);
            for n in 0..8u16 {
                let end = n >= 5;
                let e = TelephoneEvent {
                    event: key,
                    end,
                    volume: 10,
                    duration: 160 * n.min(4),
                };
                let now = at + Duration::from_millis(20 * u64::from(n));
                if let Some(d) = rx.on_packet(ssrc, n, 0, n == 0, &e.to_bytes(), now) {
                    got.push(d.as_char());
                }
            }
        }
        assert_eq!(got, "110#");
    }

    /// One RTP packet of a capture: when it was captured and the RTP header fields we use.
    struct Captured {
        at: Duration,
        ssrc: u32,
        seq: u16,
        timestamp: u32,
        marker: bool,
        payload_type: u8,
        payload: Vec<u8>,
    }

    /// Reads the RTP packets of a little-endian, microsecond, Ethernet/IPv4/UDP pcap (what
    /// SIPp ships). Test-only: panics on anything else.
    fn read_pcap(bytes: &[u8]) -> Vec<Captured> {
        let u32_le = |b: &[u8]| u32::from_le_bytes(b.try_into().unwrap());
        assert_eq!(u32_le(&bytes[..4]), 0xa1b2_c3d4, "little-endian µs pcap");
        assert_eq!(u32_le(&bytes[20..24]), 1, "Ethernet link type");
        let mut packets = Vec::new();
        let mut rest = &bytes[24..];
        let mut first = None;
        while rest.len() >= 16 {
            let (seconds, micros, len) = (
                u32_le(&rest[..4]),
                u32_le(&rest[4..8]),
                u32_le(&rest[8..12]) as usize,
            );
            let frame = &rest[16..16 + len];
            rest = &rest[16 + len..];
            let ip = &frame[14..];
            let udp_payload = &ip[usize::from(ip[0] & 0x0f) * 4 + 8..];
            let rtp = crate::media::rtp::IncomingRtp::parse(udp_payload).unwrap();
            let at = Duration::new(u64::from(seconds), micros * 1000);
            let origin = *first.get_or_insert(at);
            packets.push(Captured {
                at: at - origin,
                ssrc: rtp.ssrc,
                seq: rtp.seq,
                timestamp: rtp.timestamp,
                marker: rtp.marker,
                payload_type: rtp.payload_type,
                payload: rtp.payload.to_vec(),
            });
        }
        packets
    }

    fn sipp_pcap(key: char) -> Vec<Captured> {
        let bytes: &[u8] = match key {
            '0' => include_bytes!("../../../tests/data/sipp/dtmf_2833_0.pcap"),
            '1' => include_bytes!("../../../tests/data/sipp/dtmf_2833_1.pcap"),
            '2' => include_bytes!("../../../tests/data/sipp/dtmf_2833_2.pcap"),
            '3' => include_bytes!("../../../tests/data/sipp/dtmf_2833_3.pcap"),
            '4' => include_bytes!("../../../tests/data/sipp/dtmf_2833_4.pcap"),
            '5' => include_bytes!("../../../tests/data/sipp/dtmf_2833_5.pcap"),
            '6' => include_bytes!("../../../tests/data/sipp/dtmf_2833_6.pcap"),
            '7' => include_bytes!("../../../tests/data/sipp/dtmf_2833_7.pcap"),
            '8' => include_bytes!("../../../tests/data/sipp/dtmf_2833_8.pcap"),
            '9' => include_bytes!("../../../tests/data/sipp/dtmf_2833_9.pcap"),
            '*' => include_bytes!("../../../tests/data/sipp/dtmf_2833_star.pcap"),
            '#' => include_bytes!("../../../tests/data/sipp/dtmf_2833_pound.pcap"),
            other => panic!("SIPp ships no pcap for {other:?}"),
        };
        read_pcap(bytes)
    }

    /// Replays SIPp's pcaps for `keys` one after the other, each starting `spacing` after the
    /// previous one started (SIPp keeps the capture's packet times within a file), and returns
    /// the keys heard.
    fn replay_sipp(keys: &str, spacing: Duration) -> String {
        let mut rx = Rfc4733Receiver::new(101);
        let start = Instant::now();
        let mut got = String::new();
        for (i, key) in keys.chars().enumerate() {
            let file_start = start + spacing * i as u32;
            for p in sipp_pcap(key) {
                assert_eq!(p.payload_type, 101);
                let now = file_start + p.at;
                if let Some(d) = rx.on_packet(p.ssrc, p.seq, p.timestamp, p.marker, &p.payload, now)
                {
                    got.push(d.as_char());
                }
            }
        }
        got
    }

    #[test]
    fn sipps_pcaps_hold_what_the_issue_says() {
        let one = sipp_pcap('1');
        let nine = sipp_pcap('9');
        assert_eq!(one.len(), 10);
        assert_eq!(one[0].ssrc, nine[0].ssrc, "one SSRC for every file");
        assert!(one.iter().all(|p| p.timestamp == one[0].timestamp));
        assert!(nine[0].timestamp > one[0].timestamp);
        let ends = one.iter().filter(|p| p.payload[1] & 0x80 != 0).count();
        assert_eq!(ends, 3);
        assert!(one[0].marker);
    }

    #[test]
    fn sipps_pcaps_played_back_to_back_give_every_key_once() {
        // Each file lasts 140 ms; 300 ms apart is how the SIPp scenario plays them.
        let spacing = Duration::from_millis(300);
        // Timestamps go down (9 → 1, # → 0) and repeated keys replay identical packets.
        let keys = "0123456789*#";
        assert_eq!(replay_sipp(keys, spacing), keys);
        assert_eq!(replay_sipp("91#0", spacing), "91#0");
        assert_eq!(replay_sipp("1111", spacing), "1111");
        assert_eq!(replay_sipp("0123456789#", spacing), "0123456789#");
        // The tightest back to back that still tells a repeated key from a late copy: the
        // next file starts REPLAY_GAP after the last end packet of the one before.
        let length = sipp_pcap('5').last().map(|p| p.at).unwrap();
        assert_eq!(replay_sipp("5555", length + REPLAY_GAP), "5555");
        // Closer than that, the replay is taken for late copies of the first press: the
        // limit a SIPp scenario must respect (a 300 ms pause between plays is plenty).
        assert_eq!(replay_sipp("5555", length + REPLAY_GAP / 2), "5");
    }
}
