//! Strict and symmetric RTP: which packets a call's media takes, and where its own RTP goes.
//!
//! A call's RTP port is open to the whole network and easy to guess (one configured range), so
//! without a check anyone who reaches it can inject key presses into a stranger's call — the
//! insurance code — or, once our stream follows them, hear the new password: the "RTP bleed"
//! behind Asterisk's CVE-2017-14099. The filter therefore accepts:
//!
//! - packets from the address and port of the caller's SDP, always;
//! - with symmetric RTP (`media.symmetric_rtp`, for callers behind NAT, whose packets come from
//!   the NAT's public address and port rather than what their SDP says), packets from the one
//!   source the call latched to. A source may latch when its IP is the SDP address or the
//!   INVITE's source IP and it has sent [`PACKETS_TO_LATCH`] consecutive valid packets: one
//!   SSRC, sequence numbers one apart, a negotiated payload type. The call latches once: from
//!   then on, no other source is accepted, not even the SDP address.
//!
//! Everything else is dropped (the caller never hears of it, the DTMF detectors never see it)
//! and counted. Our RTP goes to the SDP address until a latch, then to the latched source.
//!
//! A caller who sends from exactly its SDP address settles the call on that address with its
//! first valid packet: nothing is left to learn, and nothing else may latch afterwards.
//!
//! Sans-I/O: the filter is fed a packet's source and header and answers a [`Verdict`]; it has
//! no socket and no clock, so the tests below drive it packet by packet.

use std::net::{IpAddr, SocketAddr};

use super::rtp::IncomingRtp;

/// Consecutive valid packets a source must send before the call latches to it. Four packets
/// are 80 ms of a caller's audio: a stray or spoofed packet cannot latch, and a real stream
/// loses only its first 60 ms, before the caller could have pressed a key.
pub const PACKETS_TO_LATCH: u8 = 4;

/// Whose RTP a call may latch to, besides the exact address of its SDP.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourcePolicy {
    /// Strict RTP: only the SDP address and port (`media.symmetric_rtp = false`).
    SdpOnly,
    /// Symmetric RTP: also a source on the SDP's IP or on `signalling_ip` (where the INVITE came
    /// from), once it proved itself (`media.symmetric_rtp = true`).
    Symmetric { signalling_ip: IpAddr },
}

/// What to do with one packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// From the call's source: hand it to the DTMF detectors.
    Accept,
    /// As `Accept`, and this packet settled the call on its source: our RTP goes there now.
    Latched,
    /// Not from the call's source, or from a source still proving itself: ignore it.
    Drop,
}

impl Verdict {
    pub fn is_accepted(self) -> bool {
        self != Verdict::Drop
    }
}

/// One call's source filter. See the module documentation.
#[derive(Debug, Clone)]
pub struct SourceFilter {
    sdp: SocketAddr,
    policy: SourcePolicy,
    /// The payload types the SDP negotiated (the codec's, telephone-event's); only these count
    /// towards a latch.
    payload_types: [Option<u8>; 2],
    state: State,
    dropped: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum State {
    /// Symmetric RTP before a latch: the SDP address is accepted, eligible sources prove
    /// themselves one run at a time.
    Learning { run: Option<Run> },
    /// Only this source, for the rest of the call.
    Settled(SocketAddr),
}

/// Consecutive valid packets from one source, so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Run {
    source: SocketAddr,
    ssrc: u32,
    last_seq: u16,
    packets: u8,
}

impl SourceFilter {
    /// The filter of a call whose SDP gave `sdp` and negotiated `payload_types` (the codec's
    /// payload type, and telephone-event's when offered).
    pub fn new(sdp: SocketAddr, policy: SourcePolicy, payload_types: [Option<u8>; 2]) -> Self {
        let state = match policy {
            SourcePolicy::SdpOnly => State::Settled(sdp),
            SourcePolicy::Symmetric { .. } => State::Learning { run: None },
        };
        SourceFilter {
            sdp,
            policy,
            payload_types,
            state,
            dropped: 0,
        }
    }

    /// Decides on one packet that arrived from `source`.
    pub fn admit(&mut self, source: SocketAddr, rtp: &IncomingRtp<'_>) -> Verdict {
        let verdict = self.decide(source, rtp);
        if verdict == Verdict::Drop {
            self.dropped += 1;
        }
        verdict
    }

    fn decide(&mut self, source: SocketAddr, rtp: &IncomingRtp<'_>) -> Verdict {
        let negotiated = self.is_negotiated(rtp.payload_type);
        let eligible = self.may_latch(source);
        let sdp = self.sdp;
        let run = match &mut self.state {
            State::Settled(settled) if same_address(source, *settled) => return Verdict::Accept,
            State::Settled(_) => return Verdict::Drop,
            State::Learning { run } => run,
        };
        if same_address(source, sdp) {
            // Where the caller said it would be: accepted at once; its first valid packet
            // settles the call there, so no other source can take it over later.
            if negotiated {
                self.state = State::Settled(sdp);
                return Verdict::Latched;
            }
            return Verdict::Accept;
        }
        if !eligible {
            // A stranger: it neither counts towards nor interrupts a run, or a sprayer could
            // keep a caller behind NAT from ever being latched to.
            return Verdict::Drop;
        }
        if !negotiated {
            *run = None;
            return Verdict::Drop;
        }
        let continued = run
            .filter(|r| {
                same_address(r.source, source)
                    && r.ssrc == rtp.ssrc
                    && rtp.seq == r.last_seq.wrapping_add(1)
            })
            .map_or(1, |r| r.packets + 1);
        if continued >= PACKETS_TO_LATCH {
            self.state = State::Settled(source);
            return Verdict::Latched;
        }
        *run = Some(Run {
            source,
            ssrc: rtp.ssrc,
            last_seq: rtp.seq,
            packets: continued,
        });
        Verdict::Drop
    }

    /// Where our RTP goes: the SDP address, or the source the call latched to.
    pub fn destination(&self) -> SocketAddr {
        match self.state {
            State::Settled(source) => source,
            State::Learning { .. } => self.sdp,
        }
    }

    /// The source the call latched to when it is not the SDP address (a caller behind NAT).
    pub fn latched_elsewhere(&self) -> Option<SocketAddr> {
        match self.state {
            State::Settled(source) if !same_address(source, self.sdp) => Some(source),
            _ => None,
        }
    }

    /// Packets dropped so far in this call.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    fn is_negotiated(&self, payload_type: u8) -> bool {
        self.payload_types.contains(&Some(payload_type))
    }

    /// Whether `source` may latch. Not port 0: it cannot be sent to, so a call latched there
    /// would fall silent (SIPp's `play_pcap_audio` sends from port 0 unless its SDP names
    /// `[media_port]`).
    fn may_latch(&self, source: SocketAddr) -> bool {
        match self.policy {
            SourcePolicy::SdpOnly => false,
            SourcePolicy::Symmetric { .. } if source.port() == 0 => false,
            SourcePolicy::Symmetric { signalling_ip } => {
                same_ip(source.ip(), self.sdp.ip()) || same_ip(source.ip(), signalling_ip)
            }
        }
    }
}

/// An IPv4 peer seen on a dual-stack socket (`::ffff:a.b.c.d`) is the same peer.
fn same_ip(a: IpAddr, b: IpAddr) -> bool {
    a.to_canonical() == b.to_canonical()
}

fn same_address(a: SocketAddr, b: SocketAddr) -> bool {
    a.port() == b.port() && same_ip(a.ip(), b.ip())
}

#[cfg(test)]
mod tests {
    use super::*;

    const PCMU: u8 = 0;
    const EVENTS: u8 = 101;
    const SSRC: u32 = 0x1234_5678;

    fn addr(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    /// The caller's SDP said 192.0.2.10:4000; its INVITE came from 198.51.100.1.
    fn sdp() -> SocketAddr {
        addr("192.0.2.10:4000")
    }

    fn symmetric() -> SourceFilter {
        SourceFilter::new(
            sdp(),
            SourcePolicy::Symmetric {
                signalling_ip: "198.51.100.1".parse().unwrap(),
            },
            [Some(PCMU), Some(EVENTS)],
        )
    }

    fn strict() -> SourceFilter {
        SourceFilter::new(sdp(), SourcePolicy::SdpOnly, [Some(PCMU), Some(EVENTS)])
    }

    fn packet(payload_type: u8, ssrc: u32, seq: u16) -> IncomingRtp<'static> {
        IncomingRtp {
            payload_type,
            marker: false,
            seq,
            timestamp: 0,
            ssrc,
            payload: &[0xFF; 160],
        }
    }

    /// Feeds `count` PCMU packets of one stream (SSRC, sequence from `seq`) from `source`.
    fn stream(filter: &mut SourceFilter, source: &str, seq: u16, count: u16) -> Vec<Verdict> {
        (0..count)
            .map(|n| filter.admit(addr(source), &packet(PCMU, SSRC, seq.wrapping_add(n))))
            .collect()
    }

    use Verdict::{Accept, Drop, Latched};

    #[test]
    fn strict_accepts_the_sdp_address_only() {
        let mut filter = strict();
        assert_eq!(stream(&mut filter, "192.0.2.10:4000", 1, 3), [Accept; 3]);
        // Same IP, another port; the signalling IP: never, however well-formed the stream.
        assert_eq!(stream(&mut filter, "192.0.2.10:4002", 10, 20), [Drop; 20]);
        assert_eq!(stream(&mut filter, "198.51.100.1:4000", 10, 20), [Drop; 20]);
        assert_eq!(filter.destination(), sdp());
        assert_eq!(filter.latched_elsewhere(), None);
        assert_eq!(filter.dropped(), 40);
    }

    #[test]
    fn strict_accepts_any_payload_type_from_the_sdp_address() {
        // What to do with the payload is the detectors' business, not the filter's.
        let mut filter = strict();
        assert_eq!(filter.admit(sdp(), &packet(13, SSRC, 1)), Accept);
        assert_eq!(filter.admit(sdp(), &packet(PCMU, 99, 500)), Accept);
    }

    #[test]
    fn symmetric_latches_to_the_signalling_ip_after_four_packets() {
        let mut filter = symmetric();
        let verdicts = stream(&mut filter, "198.51.100.1:31000", 65534, 6);
        assert_eq!(verdicts, [Drop, Drop, Drop, Latched, Accept, Accept]);
        assert_eq!(filter.destination(), addr("198.51.100.1:31000"));
        assert_eq!(filter.latched_elsewhere(), Some(addr("198.51.100.1:31000")));
        assert_eq!(filter.dropped(), 3);
    }

    #[test]
    fn symmetric_latches_to_another_port_of_the_sdp_ip() {
        let mut filter = symmetric();
        let verdicts = stream(&mut filter, "192.0.2.10:5000", 7, 4);
        assert_eq!(verdicts, [Drop, Drop, Drop, Latched]);
        assert_eq!(filter.destination(), addr("192.0.2.10:5000"));
    }

    #[test]
    fn telephone_events_count_towards_a_latch_like_audio() {
        let mut filter = symmetric();
        let source = addr("198.51.100.1:31000");
        let kinds = [PCMU, EVENTS, EVENTS, PCMU];
        let verdicts: Vec<_> = (0..4)
            .map(|n| filter.admit(source, &packet(kinds[n], SSRC, 100 + n as u16)))
            .collect();
        assert_eq!(verdicts, [Drop, Drop, Drop, Latched]);
    }

    #[test]
    fn a_wrong_ip_never_latches() {
        let mut filter = symmetric();
        assert_eq!(stream(&mut filter, "203.0.113.66:4000", 1, 50), [Drop; 50]);
        assert_eq!(filter.destination(), sdp());
        assert_eq!(filter.dropped(), 50);
    }

    #[test]
    fn the_sdp_address_settles_the_call_at_once_and_nothing_latches_after() {
        let mut filter = symmetric();
        assert_eq!(
            stream(&mut filter, "192.0.2.10:4000", 1, 2),
            [Latched, Accept]
        );
        assert_eq!(
            filter.latched_elsewhere(),
            None,
            "no latch away from the SDP"
        );
        // An eligible source with a perfect stream comes too late.
        assert_eq!(stream(&mut filter, "198.51.100.1:31000", 1, 20), [Drop; 20]);
        assert_eq!(stream(&mut filter, "192.0.2.10:4001", 1, 20), [Drop; 20]);
        assert_eq!(filter.destination(), sdp());
        assert_eq!(stream(&mut filter, "192.0.2.10:4000", 3, 1), [Accept]);
    }

    #[test]
    fn the_sdp_address_is_accepted_before_a_latch_but_settles_only_on_a_negotiated_type() {
        let mut filter = symmetric();
        // SIPp sends no-op packets of an unnegotiated type before its first key.
        assert_eq!(filter.admit(sdp(), &packet(97, SSRC, 1)), Accept);
        assert_eq!(filter.destination(), sdp());
        // Not settled: a caller behind NAT may still latch.
        let verdicts = stream(&mut filter, "198.51.100.1:31000", 1, 4);
        assert_eq!(verdicts, [Drop, Drop, Drop, Latched]);
    }

    #[test]
    fn after_a_latch_no_other_source_is_accepted_ever() {
        let mut filter = symmetric();
        stream(&mut filter, "198.51.100.1:31000", 1, 4);
        let before = filter.dropped();
        // Another port of the same IP, the SDP address itself, a stranger: all dropped, and
        // none of them moves the call, however long it streams.
        assert_eq!(stream(&mut filter, "198.51.100.1:31002", 1, 30), [Drop; 30]);
        assert_eq!(stream(&mut filter, "192.0.2.10:4000", 1, 30), [Drop; 30]);
        assert_eq!(stream(&mut filter, "203.0.113.66:4000", 1, 30), [Drop; 30]);
        assert_eq!(filter.destination(), addr("198.51.100.1:31000"));
        assert_eq!(filter.dropped(), before + 90);
        // The latched source is still heard, even with a new SSRC (a PBX may restart its stream).
        let verdict = filter.admit(addr("198.51.100.1:31000"), &packet(PCMU, 42, 9));
        assert_eq!(verdict, Accept);
    }

    #[test]
    fn an_ssrc_change_starts_the_run_again() {
        let mut filter = symmetric();
        let source = addr("198.51.100.1:31000");
        let ssrcs = [1, 1, 1, 2, 2, 2, 2];
        let verdicts: Vec<_> = ssrcs
            .iter()
            .zip(10u16..)
            .map(|(&ssrc, seq)| filter.admit(source, &packet(PCMU, ssrc, seq)))
            .collect();
        assert_eq!(verdicts, [Drop, Drop, Drop, Drop, Drop, Drop, Latched]);
    }

    #[test]
    fn a_sequence_gap_a_repeat_or_a_step_back_starts_the_run_again() {
        for broken in [14u16, 12, 11] {
            let mut filter = symmetric();
            let source = addr("198.51.100.1:31000");
            let seqs = [10, 11, 12, broken];
            let verdicts: Vec<_> = seqs
                .iter()
                .map(|&seq| filter.admit(source, &packet(PCMU, SSRC, seq)))
                .collect();
            assert_eq!(verdicts, [Drop; 4], "run broken by {broken}");
            // The breaking packet began a new run: three more in sequence latch.
            let next: Vec<_> = (1..=3)
                .map(|n| filter.admit(source, &packet(PCMU, SSRC, broken + n)))
                .collect();
            assert_eq!(next, [Drop, Drop, Latched], "after {broken}");
        }
    }

    #[test]
    fn a_packet_of_an_unnegotiated_type_breaks_the_run_and_never_latches() {
        let mut filter = symmetric();
        let source = addr("198.51.100.1:31000");
        let types = [PCMU, PCMU, PCMU, 8, PCMU, PCMU, PCMU];
        let verdicts: Vec<_> = types
            .iter()
            .zip(1u16..)
            .map(|(&pt, seq)| filter.admit(source, &packet(pt, SSRC, seq)))
            .collect();
        assert_eq!(verdicts, [Drop; 7]);
        assert_eq!(filter.admit(source, &packet(PCMU, SSRC, 8)), Latched);
        let mut only_unnegotiated = symmetric();
        let verdicts: Vec<_> = (1..20)
            .map(|seq| only_unnegotiated.admit(source, &packet(96, SSRC, seq)))
            .collect();
        assert_eq!(verdicts, [Drop; 19]);
    }

    #[test]
    fn two_eligible_sources_interleaving_latch_neither() {
        let mut filter = symmetric();
        for seq in 1..20u16 {
            let a = filter.admit(addr("198.51.100.1:31000"), &packet(PCMU, SSRC, seq));
            let b = filter.admit(addr("192.0.2.10:5000"), &packet(PCMU, SSRC, seq));
            assert_eq!((a, b), (Drop, Drop));
        }
        assert_eq!(filter.destination(), sdp());
    }

    #[test]
    fn a_stranger_spraying_between_the_packets_does_not_hinder_the_latch() {
        let mut filter = symmetric();
        let caller = addr("198.51.100.1:31000");
        let mut verdicts = Vec::new();
        for seq in 1..=4u16 {
            // The sprayer copies the caller's SSRC and sequence: it still counts for nothing.
            let spray = filter.admit(addr("203.0.113.66:9"), &packet(EVENTS, SSRC, seq + 1));
            assert_eq!(spray, Drop);
            verdicts.push(filter.admit(caller, &packet(PCMU, SSRC, seq)));
        }
        assert_eq!(verdicts, [Drop, Drop, Drop, Latched]);
        assert_eq!(filter.dropped(), 4 + 3);
    }

    #[test]
    fn a_source_without_a_port_never_latches() {
        let mut filter = symmetric();
        assert_eq!(stream(&mut filter, "198.51.100.1:0", 1, 10), [Drop; 10]);
        assert_eq!(stream(&mut filter, "192.0.2.10:0", 1, 10), [Drop; 10]);
        assert_eq!(filter.destination(), sdp());
    }

    #[test]
    fn an_ipv4_peer_on_a_dual_stack_socket_is_the_same_peer() {
        let mut filter = symmetric();
        assert_eq!(
            filter.admit(addr("[::ffff:192.0.2.10]:4000"), &packet(PCMU, 1, 1)),
            Latched
        );
        let mut nat = symmetric();
        let verdicts = stream(&mut nat, "[::ffff:198.51.100.1]:31000", 1, 4);
        assert_eq!(verdicts.last(), Some(&Latched));
    }

    #[test]
    fn without_telephone_event_only_the_codec_counts() {
        let mut filter = SourceFilter::new(
            sdp(),
            SourcePolicy::Symmetric {
                signalling_ip: "198.51.100.1".parse().unwrap(),
            },
            [Some(8), None],
        );
        let source = addr("198.51.100.1:31000");
        let events: Vec<_> = (1..10)
            .map(|seq| filter.admit(source, &packet(EVENTS, SSRC, seq)))
            .collect();
        assert_eq!(events, [Drop; 9]);
        let audio: Vec<_> = (10..14)
            .map(|seq| filter.admit(source, &packet(8, SSRC, seq)))
            .collect();
        assert_eq!(audio, [Drop, Drop, Drop, Latched]);
    }
}
