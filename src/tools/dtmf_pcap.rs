//! `hotline tools dtmf-pcap`: a key string as RFC 4733 telephone-events in a pcap file, timed
//! like a person pressing keys on a phone, for SIPp's `play_pcap_audio` to replay.
//!
//! SIPp replays the RTP headers verbatim, so everything a receiver keys on must already be
//! right in the file: all packets of one press share its start timestamp, the duration grows by
//! one packet time per packet, the first packet has the marker, the end packet (E bit) is sent
//! three times, and one SSRC with a sequence that never skips or restarts runs through the
//! whole key string — a receiver that sees a sequence reset or a new SSRC may take two presses
//! of the same key for one. Packet times in the capture are 20 ms apart, which SIPp keeps.
//!
//! Between presses the file carries silence in the audio payload type (PCMU by default), as a
//! phone does: SIPp times its replay from the first packet in the file, so without audio
//! before the first key the lead-in and any leading pause would vanish.
//!
//! With [`DtmfPcapOptions::inband`] the keys are dual tones in that audio instead (ITU-T Q.23
//! frequencies, −10 dBm0 per tone, from [`crate::media::dtmf::tone`]), for a receiver that has
//! no telephone-event: what an old phone or gateway sends.

use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::Duration;

use rtp_rs::{RtpPacketBuilder, Seq};

use super::pcap::{PcapError, PcapWriter};
use crate::domain::{Digit, DigitError};
use crate::media::Codec;
use crate::media::dtmf::tone;

/// RFC 4733 events are clocked at 8 kHz for narrowband audio.
const CLOCK_HZ: u32 = 8_000;
/// One packet per 20 ms, the usual audio packetisation.
const PACKET_MS: u32 = 20;
const PACKET_TICKS: u32 = CLOCK_HZ / 1_000 * PACKET_MS;
/// The final packet of an event is sent this many times (RFC 4733 §2.5.1.4).
const END_COPIES: u32 = 3;
/// ITU-T Q.24: receivers may ignore tones and pauses shorter than 40 ms.
const MIN_TONE_MS: u32 = 40;
/// The 16-bit duration field holds at most 65535 ticks (8.19 s); longer presses would need
/// segmenting, which no test needs.
const MAX_TONE_MS: u32 = 8_000;
/// The three end copies occupy the 40 ms after the tone; the next press starts after them.
const MIN_GAP_MS: u32 = PACKET_MS * END_COPIES;
const PCMU: u8 = 0;
const PCMA: u8 = 8;

/// How the presses are timed and addressed. [`Default`] is a brisk, realistic caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DtmfPcapOptions {
    /// The telephone-event payload type; must match the `a=rtpmap` of the SDP the replaying
    /// side offers. Dynamic range 96–127.
    pub payload_type: u8,
    /// How long each key is held, a multiple of 20 ms.
    pub tone_ms: u32,
    /// Silence between the end of one key and the start of the next.
    pub gap_ms: u32,
    /// Extra silence for each `,` in the key string.
    pub pause_ms: u32,
    /// Silence before the first key, so the replay does not start at the very instant SIPp
    /// begins it.
    pub lead_in_ms: u32,
    /// The audio payload type of the silence sent while no key is pressed (0 = PCMU,
    /// 8 = PCMA), or `None` for telephone-events only (and then SIPp starts at the first key).
    pub silence_payload_type: Option<u8>,
    /// Tone power in −dBm0 (0–63); 10 is a typical phone.
    pub volume: u8,
    pub ssrc: u32,
    pub first_sequence: u16,
    pub first_timestamp: u32,
    /// Capture time of the start of the file, since the Unix epoch.
    pub start_time: Duration,
    /// Addresses written into the capture; replay tools substitute their own.
    pub source: SocketAddrV4,
    pub destination: SocketAddrV4,
    /// Keys as tones in the audio, not as telephone-events (needs `silence_payload_type`).
    pub inband: bool,
}

impl Default for DtmfPcapOptions {
    fn default() -> Self {
        DtmfPcapOptions {
            payload_type: 101,
            tone_ms: 100,
            gap_ms: 100,
            pause_ms: 1_000,
            lead_in_ms: 200,
            silence_payload_type: Some(PCMU),
            volume: 10,
            // Fixed so the same keys always make the same file (diffable, cacheable).
            ssrc: 0x484f_544c,
            first_sequence: 1_000,
            first_timestamp: 160_000,
            start_time: Duration::from_secs(1_700_000_000),
            source: SocketAddrV4::new(Ipv4Addr::new(192, 0, 2, 1), 6_000),
            destination: SocketAddrV4::new(Ipv4Addr::new(192, 0, 2, 2), 10_000),
            inband: false,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DtmfPcapError {
    #[error("no keys to press: give at least one of 0-9, *, #, A-D")]
    NoKeys,
    #[error("{0} (a `,` is a pause)")]
    BadKey(DigitError),
    #[error("payload type {0} is outside the dynamic range 96-127")]
    PayloadType(u8),
    #[error(
        "tone length {0} ms must be a multiple of {PACKET_MS} ms between {MIN_TONE_MS} and {MAX_TONE_MS}"
    )]
    ToneLength(u32),
    #[error("{0} of {1} ms is not a multiple of the {PACKET_MS} ms packet time")]
    OffGrid(&'static str, u32),
    #[error("silence payload type {0} is not PCMU (0) or PCMA (8)")]
    SilencePayloadType(u8),
    #[error("gap {0} ms is shorter than {MIN_GAP_MS} ms (the repeated end packets need it)")]
    GapTooShort(u32),
    #[error("in-band keys are audio: they need a silence payload type (PCMU or PCMA)")]
    InbandWithoutAudio,
    #[error("volume {0} is outside 0-63 (-dBm0)")]
    Volume(u8),
    #[error("the key string is too long: its timing overflows")]
    TooLong,
    #[error(transparent)]
    Pcap(#[from] PcapError),
}

/// One item of a parsed key string.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    Press(Digit),
    Pause,
}

/// Makes the pcap file for `keys`: `0`-`9`, `*`, `#`, `A`-`D`, `,` for a pause of
/// [`DtmfPcapOptions::pause_ms`]; spaces are ignored.
pub fn dtmf_pcap(keys: &str, opts: &DtmfPcapOptions) -> Result<Vec<u8>, DtmfPcapError> {
    validate(opts)?;
    let steps = parse_keys(keys)?;
    let mut packets = event_packets(&steps, opts)?;
    if let Some(payload_type) = opts.silence_payload_type {
        packets = with_silence(packets, payload_type, opts)?;
    }
    let mut writer = PcapWriter::new(opts.source, opts.destination);
    let mut sequence = Seq::from(opts.first_sequence);
    for packet in packets {
        let rtp = RtpPacketBuilder::new()
            .payload_type(packet.payload_type)
            .ssrc(opts.ssrc)
            .sequence(sequence)
            .timestamp(packet.timestamp)
            .marked(packet.marker)
            .payload(&packet.payload)
            .build()
            // Only an out-of-range payload type fails, and validate() refused it.
            .map_err(|_| DtmfPcapError::PayloadType(packet.payload_type))?;
        let time = opts.start_time + Duration::from_millis(packet.at_ms);
        writer.push_udp(time, &rtp)?;
        sequence = sequence.next();
    }
    Ok(writer.into_bytes())
}

/// Every telephone-event packet of the key string, in time order.
fn event_packets(steps: &[Step], opts: &DtmfPcapOptions) -> Result<Vec<Packet>, DtmfPcapError> {
    let mut packets = Vec::new();
    let mut at_ms = u64::from(opts.lead_in_ms);
    for step in steps {
        match step {
            Step::Pause => at_ms += u64::from(opts.pause_ms),
            Step::Press(digit) => {
                let packets_of_press = match opts.silence_payload_type {
                    Some(audio) if opts.inband => tone_press(*digit, at_ms, audio, opts)?,
                    _ => press(*digit, at_ms, opts)?,
                };
                packets.extend(packets_of_press);
                at_ms += u64::from(opts.tone_ms) + u64::from(opts.gap_ms);
            }
        }
    }
    Ok(packets)
}

/// Fills every 20 ms slot from the start of the file to the last event with a silence frame,
/// as a phone's audio stream between presses; the first one opens the talkspurt (marker).
fn with_silence(
    events: Vec<Packet>,
    payload_type: u8,
    opts: &DtmfPcapOptions,
) -> Result<Vec<Packet>, DtmfPcapError> {
    let silence = match payload_type {
        PCMU => 0xff,
        PCMA => 0xd5,
        other => return Err(DtmfPcapError::SilencePayloadType(other)),
    };
    let end_ms = events.last().map_or(0, |p| p.at_ms);
    let mut out = Vec::with_capacity(events.len() + (end_ms / u64::from(PACKET_MS)) as usize);
    let mut events = events.into_iter().peekable();
    let mut slot_ms = 0;
    while slot_ms <= end_ms {
        if events.peek().is_some_and(|e| e.at_ms == slot_ms) {
            out.extend(events.next());
        } else {
            out.push(Packet {
                at_ms: slot_ms,
                timestamp: timestamp_at(slot_ms, opts)?,
                marker: slot_ms == 0,
                payload_type,
                payload: vec![silence; PACKET_TICKS as usize],
            });
        }
        slot_ms += u64::from(PACKET_MS);
    }
    out.extend(events);
    Ok(out)
}

/// The RTP timestamp `at_ms` into the file. RTP timestamps wrap by design (RFC 3550 §5.1).
fn timestamp_at(at_ms: u64, opts: &DtmfPcapOptions) -> Result<u32, DtmfPcapError> {
    let ticks = at_ms
        .checked_mul(u64::from(CLOCK_HZ / 1_000))
        .and_then(|t| u32::try_from(t).ok())
        .ok_or(DtmfPcapError::TooLong)?;
    Ok(opts.first_timestamp.wrapping_add(ticks))
}

fn validate(opts: &DtmfPcapOptions) -> Result<(), DtmfPcapError> {
    if !(96..=127).contains(&opts.payload_type) {
        return Err(DtmfPcapError::PayloadType(opts.payload_type));
    }
    let tone = opts.tone_ms;
    if !(MIN_TONE_MS..=MAX_TONE_MS).contains(&tone) || !tone.is_multiple_of(PACKET_MS) {
        return Err(DtmfPcapError::ToneLength(tone));
    }
    if opts.gap_ms < MIN_GAP_MS {
        return Err(DtmfPcapError::GapTooShort(opts.gap_ms));
    }
    // Keys and silence share one 20 ms grid, so a silence frame never lands inside a press.
    for (name, ms) in [
        ("gap", opts.gap_ms),
        ("pause", opts.pause_ms),
        ("lead-in", opts.lead_in_ms),
    ] {
        if !ms.is_multiple_of(PACKET_MS) {
            return Err(DtmfPcapError::OffGrid(name, ms));
        }
    }
    if opts.inband && opts.silence_payload_type.is_none() {
        return Err(DtmfPcapError::InbandWithoutAudio);
    }
    if opts.volume > 63 {
        return Err(DtmfPcapError::Volume(opts.volume));
    }
    Ok(())
}

fn parse_keys(keys: &str) -> Result<Vec<Step>, DtmfPcapError> {
    let steps = keys
        .chars()
        .filter(|c| !c.is_whitespace())
        .map(|c| match c {
            ',' => Ok(Step::Pause),
            key => Digit::from_char(key)
                .map(Step::Press)
                .map_err(DtmfPcapError::BadKey),
        })
        .collect::<Result<Vec<_>, _>>()?;
    if !steps.iter().any(|s| matches!(s, Step::Press(_))) {
        return Err(DtmfPcapError::NoKeys);
    }
    Ok(steps)
}

/// One RTP packet, before sequencing.
struct Packet {
    at_ms: u64,
    timestamp: u32,
    marker: bool,
    payload_type: u8,
    payload: Vec<u8>,
}

/// The packets of one press starting `at_ms` into the file: one per 20 ms while the key is
/// held, then the end packet three times, 20 ms apart.
fn press(digit: Digit, at_ms: u64, opts: &DtmfPcapOptions) -> Result<Vec<Packet>, DtmfPcapError> {
    let timestamp = timestamp_at(at_ms, opts)?;
    let held = opts.tone_ms / PACKET_MS;
    let full_duration = held * PACKET_TICKS;
    let mut packets = Vec::new();
    for n in 0..held {
        packets.push(Packet {
            at_ms: at_ms + u64::from(n * PACKET_MS),
            timestamp,
            marker: n == 0,
            payload_type: opts.payload_type,
            payload: event_payload(digit, false, opts.volume, (n + 1) * PACKET_TICKS),
        });
    }
    for copy in 0..END_COPIES {
        packets.push(Packet {
            at_ms: at_ms + u64::from((held + copy) * PACKET_MS),
            timestamp,
            marker: false,
            payload_type: opts.payload_type,
            payload: event_payload(digit, true, opts.volume, full_duration),
        });
    }
    Ok(packets)
}

/// The audio frames of one press as tones, 20 ms each from `at_ms`: the timestamp advances per
/// frame as audio does, and the silence slots after it are the pause.
fn tone_press(
    digit: Digit,
    at_ms: u64,
    payload_type: u8,
    opts: &DtmfPcapOptions,
) -> Result<Vec<Packet>, DtmfPcapError> {
    let codec = match payload_type {
        PCMU => Codec::Pcmu,
        PCMA => Codec::Pcma,
        other => return Err(DtmfPcapError::SilencePayloadType(other)),
    };
    let samples = tone::tone(digit, opts.tone_ms, &tone::ToneShape::default());
    samples
        .chunks(PACKET_TICKS as usize)
        .zip((at_ms..).step_by(PACKET_MS as usize))
        .map(|(pcm, frame_ms)| {
            let mut payload = vec![0u8; pcm.len()];
            codec.encode(pcm, &mut payload);
            Ok(Packet {
                at_ms: frame_ms,
                timestamp: timestamp_at(frame_ms, opts)?,
                marker: false,
                payload_type,
                payload,
            })
        })
        .collect()
}

/// RFC 4733 §2.3: event, E|R|volume, 16-bit duration in timestamp units.
fn event_payload(digit: Digit, end: bool, volume: u8, duration: u32) -> Vec<u8> {
    // validate() caps the tone at MAX_TONE_MS, so the duration fits 16 bits.
    let duration = u16::try_from(duration).unwrap_or(u16::MAX).to_be_bytes();
    let flags = if end { 0x80 } else { 0x00 } | (volume & 0x3f);
    vec![digit.event_code(), flags, duration[0], duration[1]]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_parse_with_pauses_and_spaces() {
        let steps = parse_keys("8, 1#").unwrap();
        assert_eq!(
            steps,
            vec![
                Step::Press(Digit::D8),
                Step::Pause,
                Step::Press(Digit::D1),
                Step::Press(Digit::Pound)
            ]
        );
    }

    #[test]
    fn bad_keys_and_empty_strings_are_refused() {
        assert_eq!(
            parse_keys("12x"),
            Err(DtmfPcapError::BadKey(DigitError::NotAKey('x')))
        );
        assert_eq!(parse_keys(""), Err(DtmfPcapError::NoKeys));
        assert_eq!(parse_keys(" , ,"), Err(DtmfPcapError::NoKeys));
    }

    #[test]
    fn options_out_of_range_are_refused_with_the_reason() {
        let base = DtmfPcapOptions::default();
        let check = |opts: DtmfPcapOptions| dtmf_pcap("1", &opts).unwrap_err();
        assert_eq!(
            check(DtmfPcapOptions {
                payload_type: 0,
                ..base.clone()
            }),
            DtmfPcapError::PayloadType(0)
        );
        assert_eq!(
            check(DtmfPcapOptions {
                payload_type: 128,
                ..base.clone()
            }),
            DtmfPcapError::PayloadType(128)
        );
        assert_eq!(
            check(DtmfPcapOptions {
                tone_ms: 30,
                ..base.clone()
            }),
            DtmfPcapError::ToneLength(30)
        );
        assert_eq!(
            check(DtmfPcapOptions {
                tone_ms: 110,
                ..base.clone()
            }),
            DtmfPcapError::ToneLength(110)
        );
        assert_eq!(
            check(DtmfPcapOptions {
                tone_ms: 8_020,
                ..base.clone()
            }),
            DtmfPcapError::ToneLength(8_020)
        );
        assert_eq!(
            check(DtmfPcapOptions {
                gap_ms: 40,
                ..base.clone()
            }),
            DtmfPcapError::GapTooShort(40)
        );
        assert_eq!(
            check(DtmfPcapOptions { volume: 64, ..base }),
            DtmfPcapError::Volume(64)
        );
    }

    #[test]
    fn times_off_the_20_ms_grid_and_odd_silence_types_are_refused() {
        let base = DtmfPcapOptions::default();
        let check = |opts: DtmfPcapOptions| dtmf_pcap("1", &opts).unwrap_err();
        assert_eq!(
            check(DtmfPcapOptions {
                gap_ms: 110,
                ..base.clone()
            }),
            DtmfPcapError::OffGrid("gap", 110)
        );
        assert_eq!(
            check(DtmfPcapOptions {
                pause_ms: 1_005,
                ..base.clone()
            }),
            DtmfPcapError::OffGrid("pause", 1_005)
        );
        assert_eq!(
            check(DtmfPcapOptions {
                lead_in_ms: 10,
                ..base.clone()
            }),
            DtmfPcapError::OffGrid("lead-in", 10)
        );
        assert_eq!(
            check(DtmfPcapOptions {
                silence_payload_type: Some(9),
                ..base
            }),
            DtmfPcapError::SilencePayloadType(9)
        );
    }

    #[test]
    fn the_longest_tone_still_fits_the_duration_field() {
        let opts = DtmfPcapOptions {
            tone_ms: MAX_TONE_MS,
            ..DtmfPcapOptions::default()
        };
        let packets = press(Digit::D1, 0, &opts).unwrap();
        let last = packets.last().unwrap();
        assert_eq!(
            u16::from_be_bytes([last.payload[2], last.payload[3]]),
            64_000
        );
    }

    #[test]
    fn a_press_grows_its_duration_then_ends_three_times() {
        let packets = press(Digit::Pound, 1_000, &DtmfPcapOptions::default()).unwrap();
        let durations: Vec<u16> = packets
            .iter()
            .map(|p| u16::from_be_bytes([p.payload[2], p.payload[3]]))
            .collect();
        assert_eq!(durations, vec![160, 320, 480, 640, 800, 800, 800, 800]);
        let ends: Vec<bool> = packets.iter().map(|p| p.payload[1] & 0x80 != 0).collect();
        assert_eq!(
            ends,
            vec![false, false, false, false, false, true, true, true]
        );
        assert!(
            packets
                .iter()
                .all(|p| p.payload[0] == 11 && p.payload[1] & 0x3f == 10)
        );
        assert!(packets.iter().all(|p| p.timestamp == 160_000 + 8_000));
        let markers: Vec<bool> = packets.iter().map(|p| p.marker).collect();
        assert_eq!(markers.iter().filter(|m| **m).count(), 1);
        assert!(markers[0]);
        let times: Vec<u64> = packets.iter().map(|p| p.at_ms).collect();
        assert_eq!(
            times,
            vec![1_000, 1_020, 1_040, 1_060, 1_080, 1_100, 1_120, 1_140]
        );
    }

    #[test]
    fn inband_keys_are_tones_the_detector_hears_between_silences() {
        let opts = DtmfPcapOptions {
            inband: true,
            ..DtmfPcapOptions::default()
        };
        let steps = parse_keys("8,0#").unwrap();
        let packets = with_silence(event_packets(&steps, &opts).unwrap(), PCMU, &opts).unwrap();
        assert!(
            packets
                .iter()
                .all(|p| p.payload_type == PCMU && p.payload.len() == 160)
        );
        for pair in packets.windows(2) {
            assert_eq!(
                pair[1].at_ms,
                pair[0].at_ms + 20,
                "one frame per 20 ms slot"
            );
            assert_eq!(pair[1].timestamp, pair[0].timestamp.wrapping_add(160));
        }
        let mut detector = crate::media::dtmf::InbandDetector::new();
        let mut heard = String::new();
        let mut pcm = [0i16; 160];
        for p in &packets {
            Codec::Pcmu.decode(&p.payload, &mut pcm);
            heard.extend(detector.push(&pcm).iter().map(|d| d.as_char()));
        }
        // The last tone ends the file; the silence after it lets the detector confirm it.
        heard.extend(detector.push(&[0; 800]).iter().map(|d| d.as_char()));
        assert_eq!(heard, "80#");
    }

    #[test]
    fn inband_needs_an_audio_payload_type() {
        let opts = DtmfPcapOptions {
            inband: true,
            silence_payload_type: None,
            ..DtmfPcapOptions::default()
        };
        assert_eq!(
            dtmf_pcap("1", &opts),
            Err(DtmfPcapError::InbandWithoutAudio)
        );
    }
}
