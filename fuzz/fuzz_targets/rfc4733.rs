//! RTP datagrams → RFC 4733 receiver. The input is a sequence of records
//! `[milliseconds since the previous one: u8][length: u8][datagram: length bytes]`, so the
//! fuzzer controls timing (replay gaps, forgetting) as well as every header and payload byte.
//! Checks: nothing panics, a telephone-event block that parses round-trips, and no packet
//! yields more than one key.
#![no_main]

use std::time::{Duration, Instant};

use hotline::media::rtp::IncomingRtp;
use hotline::media::{Rfc4733Receiver, TelephoneEvent};
use libfuzzer_sys::fuzz_target;

/// The payload type the "SDP" negotiated; packets of other types are routed elsewhere.
const PT: u8 = 101;

fuzz_target!(|data: &[u8]| {
    let mut receiver = Rfc4733Receiver::new(PT);
    let mut now = Instant::now();
    let mut rest = data;
    while let [gap_ms, len, tail @ ..] = rest {
        let len = usize::from(*len).min(tail.len());
        let (datagram, next) = tail.split_at(len);
        rest = next;
        now += Duration::from_millis(u64::from(*gap_ms) * 8);
        let Ok(rtp) = IncomingRtp::parse(datagram) else {
            continue;
        };
        if let Ok(event) = TelephoneEvent::parse(rtp.payload) {
            let again = TelephoneEvent::parse(&event.to_bytes()).expect("a block we wrote parses");
            assert_eq!(again.event, event.event);
            assert_eq!(again.duration, event.duration);
            assert_eq!(again.end, event.end);
        }
        if rtp.payload_type == PT {
            let _ = receiver.on_packet(rtp.ssrc, rtp.seq, rtp.timestamp, rtp.marker, rtp.payload, now);
        }
        let _ = receiver.poll_timeout(now);
        if let Some(at) = receiver.next_timeout() {
            assert!(at > now, "a timeout already due after poll_timeout");
        }
    }
});
