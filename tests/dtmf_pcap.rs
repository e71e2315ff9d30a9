//! Reads the DTMF pcap back the way a replay tool and a receiver would, and checks what the
//! SIPp suite depends on: one SSRC, a sequence without gaps across every key, one timestamp
//! and one marker per press, growing durations, three end packets, realistic pacing, and
//! silence frames from the very start so SIPp (which times from the first packet) keeps the
//! lead-in and the pauses.

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

struct Packet {
    micros: u64,
    len: usize,
    seq: u16,
    ssrc: u32,
    pt: u8,
    marker: bool,
    timestamp: u32,
    code: u8,
    end: bool,
    duration: u16,
}

/// Every RTP packet of the file, telephone-event or silence.
fn packets(keys: &str, opts: &DtmfPcapOptions) -> Vec<Packet> {
    let bytes = dtmf_pcap(keys, opts).unwrap();
    read_pcap(&bytes)
        .into_iter()
        .map(|c| {
            let rtp = RtpReader::new(&c.payload).unwrap();
            let p = rtp.payload();
            let event = |i: usize| p.get(i).copied().unwrap_or_default();
            Packet {
                micros: c.micros,
                len: p.len(),
                seq: u16::from(rtp.sequence_number()),
                ssrc: rtp.ssrc(),
                pt: rtp.payload_type(),
                marker: rtp.mark(),
                timestamp: rtp.timestamp(),
                code: event(0),
                end: event(1) & 0x80 != 0,
                duration: u16::from_be_bytes([event(2), event(3)]),
            }
        })
        .collect()
}

/// The telephone-event packets only.
fn events(keys: &str, opts: &DtmfPcapOptions) -> Vec<Packet> {
    let events: Vec<Packet> = packets(keys, opts)
        .into_iter()
        .filter(|p| p.pt == opts.payload_type)
        .collect();
    assert!(events.iter().all(|e| e.len == 4));
    events
}

/// Decodes presses as a receiver does: one key per distinct event timestamp.
fn presses(events: &[Packet]) -> String {
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
    let all = packets("8,0123456789#", &opts);
    assert!(all.iter().all(|p| p.ssrc == opts.ssrc));
    assert_eq!(all[0].seq, opts.first_sequence);
    for pair in all.windows(2) {
        assert_eq!(
            pair[1].seq,
            pair[0].seq.wrapping_add(1),
            "no gap, no restart"
        );
        assert_eq!(
            pair[1].micros,
            pair[0].micros + 20_000,
            "one packet per 20 ms"
        );
    }
    let events = events("8,0123456789#", &opts);
    assert_eq!(presses(&events), "80123456789#");
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
    let all = packets("1,,2", &opts);
    let start = opts.start_time.as_micros() as u64;
    // The file starts with silence at once, so a replay keeps the lead-in.
    assert_eq!(all[0].micros, start);
    assert_eq!((all[0].pt, all[0].len, all[0].marker), (0, 160, true));
    let silence = all.iter().filter(|p| p.pt == 0).count();
    // Slots up to the last end packet (500 + 4200 + 100 ms) = 241, less 2 × 6 event packets.
    assert_eq!(silence, 241 - 12);
    let events = events("1,,2", &opts);
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
    let seqs: Vec<u16> = packets("1", &opts).iter().take(8).map(|e| e.seq).collect();
    assert_eq!(seqs, [65533, 65534, 65535, 0, 1, 2, 3, 4]);
}

#[test]
fn without_silence_the_file_starts_at_the_first_key() {
    let opts = DtmfPcapOptions {
        silence_payload_type: None,
        ..DtmfPcapOptions::default()
    };
    let all = packets("12", &opts);
    assert!(all.iter().all(|p| p.pt == 101));
    assert_eq!(all.len(), 16);
    assert_eq!(presses(&all), "12");
}

#[test]
fn pcma_silence_is_the_a_law_zero() {
    let opts = DtmfPcapOptions {
        silence_payload_type: Some(8),
        ..DtmfPcapOptions::default()
    };
    let bytes = dtmf_pcap("1", &opts).unwrap();
    let first = read_pcap(&bytes).remove(0);
    let rtp = RtpReader::new(&first.payload).unwrap();
    assert_eq!(rtp.payload_type(), 8);
    assert!(rtp.payload().iter().all(|&b| b == 0xd5));
}
