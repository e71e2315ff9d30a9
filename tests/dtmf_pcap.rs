//! Reads the DTMF pcap back the way a replay tool and a receiver would, and checks what the
//! SIPp suite depends on: one SSRC, a sequence without gaps across every key, one timestamp
//! and one marker per press, growing durations, three end packets, realistic pacing.

use std::collections::BTreeMap;

use hotline::tools::{DtmfPcapOptions, dtmf_pcap};
use rtp_rs::RtpReader;

/// One UDP payload from the capture, with its capture time in microseconds.
struct Captured {
    micros: u64,
    payload: Vec<u8>,
}

/// A little-endian, microsecond, Ethernet/IPv4/UDP pcap reader: just enough to check ours.
fn read_pcap(bytes: &[u8]) -> Vec<Captured> {
    let u32_at = |b: &[u8], i: usize| u32::from_le_bytes(b[i..i + 4].try_into().unwrap());
    assert_eq!(u32_at(bytes, 0), 0xa1b2_c3d4, "magic");
    assert_eq!(u32_at(bytes, 20), 1, "linktype Ethernet");
    let mut out = Vec::new();
    let mut at = 24;
    while at < bytes.len() {
        let seconds = u64::from(u32_at(bytes, at));
        let micros = u64::from(u32_at(bytes, at + 4));
        let captured = u32_at(bytes, at + 8) as usize;
        assert_eq!(
            u32_at(bytes, at + 12) as usize,
            captured,
            "nothing truncated"
        );
        let frame = &bytes[at + 16..at + 16 + captured];
        assert_eq!(&frame[12..14], &[0x08, 0x00], "IPv4");
        let ip = &frame[14..];
        assert_eq!(ip[9], 17, "UDP");
        let udp = &ip[20..];
        let udp_len = u16::from_be_bytes([udp[4], udp[5]]) as usize;
        assert_eq!(udp_len, udp.len());
        out.push(Captured {
            micros: seconds * 1_000_000 + micros,
            payload: udp[8..].to_vec(),
        });
        at += 16 + captured;
    }
    out
}

struct Event {
    micros: u64,
    seq: u16,
    ssrc: u32,
    pt: u8,
    marker: bool,
    timestamp: u32,
    code: u8,
    end: bool,
    duration: u16,
}

fn events(keys: &str, opts: &DtmfPcapOptions) -> Vec<Event> {
    let bytes = dtmf_pcap(keys, opts).unwrap();
    read_pcap(&bytes)
        .into_iter()
        .map(|c| {
            let rtp = RtpReader::new(&c.payload).unwrap();
            let p = rtp.payload();
            assert_eq!(p.len(), 4);
            Event {
                micros: c.micros,
                seq: u16::from(rtp.sequence_number()),
                ssrc: rtp.ssrc(),
                pt: rtp.payload_type(),
                marker: rtp.mark(),
                timestamp: rtp.timestamp(),
                code: p[0],
                end: p[1] & 0x80 != 0,
                duration: u16::from_be_bytes([p[2], p[3]]),
            }
        })
        .collect()
}

/// Decodes presses as a receiver does: one key per distinct event timestamp.
fn presses(events: &[Event]) -> String {
    let mut by_timestamp: BTreeMap<u32, u8> = BTreeMap::new();
    for e in events {
        by_timestamp.entry(e.timestamp).or_insert(e.code);
    }
    by_timestamp
        .values()
        .map(|&code| "0123456789*#ABCD".as_bytes()[code as usize] as char)
        .collect()
}

#[test]
fn a_reset_call_s_keys_round_trip_with_one_ssrc_and_a_continuous_sequence() {
    let opts = DtmfPcapOptions::default();
    let events = events("8,0123456789#", &opts);
    assert_eq!(presses(&events), "80123456789#");
    assert!(events.iter().all(|e| e.ssrc == opts.ssrc && e.pt == 101));
    for pair in events.windows(2) {
        assert_eq!(
            pair[1].seq,
            pair[0].seq.wrapping_add(1),
            "no gap, no restart"
        );
        assert!(
            pair[1].micros >= pair[0].micros + 20_000,
            "at least 20 ms apart"
        );
    }
    assert_eq!(events[0].seq, opts.first_sequence);
    // 12 presses × (5 while held + 3 end packets).
    assert_eq!(events.len(), 12 * 8);
    assert_eq!(
        events.iter().filter(|e| e.marker).count(),
        12,
        "one marker per press"
    );
}

#[test]
fn each_press_keeps_its_timestamp_grows_its_duration_and_ends_three_times() {
    let events = events("55", &DtmfPcapOptions::default());
    let (first, second) = events.split_at(8);
    for press in [first, second] {
        assert!(
            press
                .iter()
                .all(|e| e.timestamp == press[0].timestamp && e.code == 5)
        );
        assert!(press[0].marker && press[1..].iter().all(|e| !e.marker));
        let durations: Vec<u16> = press.iter().map(|e| e.duration).collect();
        assert_eq!(durations, [160, 320, 480, 640, 800, 800, 800, 800]);
        assert_eq!(press.iter().filter(|e| e.end).count(), 3);
        assert!(press[5..].iter().all(|e| e.end));
    }
    // The same key twice is two presses: distinct timestamps, 200 ms (tone + gap) apart.
    assert_eq!(second[0].timestamp - first[0].timestamp, 200 * 8);
    assert_eq!(second[0].micros - first[0].micros, 200_000);
}

#[test]
fn timing_follows_the_options_lead_in_gap_and_pauses() {
    let opts = DtmfPcapOptions {
        payload_type: 96,
        tone_ms: 60,
        gap_ms: 140,
        pause_ms: 2_000,
        lead_in_ms: 500,
        ..DtmfPcapOptions::default()
    };
    let events = events("1,,2", &opts);
    assert!(events.iter().all(|e| e.pt == 96));
    let start = opts.start_time.as_micros() as u64;
    assert_eq!(events[0].micros - start, 500_000, "lead-in");
    let second = events.iter().find(|e| e.code == 2).unwrap();
    // 500 lead-in + 60 tone + 140 gap + 2 × 2000 pause.
    assert_eq!(second.micros - start, 4_700_000);
    assert_eq!(second.timestamp - events[0].timestamp, 4_200 * 8);
    // 60 ms held: 3 growing packets, then 3 end packets.
    assert_eq!(events.iter().filter(|e| e.code == 1).count(), 6);
}

#[test]
fn the_sequence_wraps_without_a_gap() {
    let opts = DtmfPcapOptions {
        first_sequence: u16::MAX - 2,
        ..DtmfPcapOptions::default()
    };
    let seqs: Vec<u16> = events("1", &opts).iter().map(|e| e.seq).collect();
    assert_eq!(seqs, [65533, 65534, 65535, 0, 1, 2, 3, 4]);
}
