//! A minimal libpcap file writer: Ethernet / IPv4 / UDP around each payload.
//!
//! Written by hand because the format is 40 lines and the pcap crates either link libpcap or
//! pull in a packet-parsing framework; we only ever write UDP datagrams on one flow. Replay
//! tools (SIPp's `play_pcap_audio`) read the UDP payload and the capture timestamps and rewrite
//! addresses and ports themselves, but the checksums are still correct so Wireshark shows the
//! file as clean.

use std::net::SocketAddrV4;
use std::time::Duration;

/// `a1b2c3d4`: microsecond timestamps, written in our byte order (little-endian here; readers
/// detect the order from the magic).
const MAGIC_MICROS: u32 = 0xa1b2_c3d4;
const VERSION_MAJOR: u16 = 2;
const VERSION_MINOR: u16 = 4;
const SNAPLEN: u32 = 65_535;
/// LINKTYPE_ETHERNET.
const LINKTYPE_ETHERNET: u32 = 1;

const ETHERNET_HEADER: usize = 14;
const IPV4_HEADER: usize = 20;
const UDP_HEADER: usize = 8;
const ETHERTYPE_IPV4: u16 = 0x0800;
const IPPROTO_UDP: u8 = 17;
const TTL: u8 = 64;
/// Locally administered MAC addresses: the capture never claims a real vendor's card.
const SOURCE_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x01];
const DESTINATION_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x02];

/// Largest UDP payload that fits one IPv4 datagram with our headers.
pub const MAX_UDP_PAYLOAD: usize = u16::MAX as usize - IPV4_HEADER - UDP_HEADER;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PcapError {
    #[error(
        "a UDP payload of {0} bytes does not fit in one IPv4 datagram (at most {MAX_UDP_PAYLOAD})"
    )]
    PayloadTooLarge(usize),
    #[error("a capture time of {0:?} is past what a pcap timestamp holds (32-bit seconds)")]
    TimeOutOfRange(Duration),
}

/// Accumulates a capture of UDP datagrams from `source` to `destination` in memory.
#[derive(Debug, Clone)]
pub struct PcapWriter {
    bytes: Vec<u8>,
    source: SocketAddrV4,
    destination: SocketAddrV4,
    /// Increments per datagram, as a real stack's IPv4 identification does.
    ip_id: u16,
}

impl PcapWriter {
    pub fn new(source: SocketAddrV4, destination: SocketAddrV4) -> PcapWriter {
        let mut bytes = Vec::with_capacity(24);
        bytes.extend_from_slice(&MAGIC_MICROS.to_le_bytes());
        bytes.extend_from_slice(&VERSION_MAJOR.to_le_bytes());
        bytes.extend_from_slice(&VERSION_MINOR.to_le_bytes());
        bytes.extend_from_slice(&0i32.to_le_bytes()); // thiszone: UTC
        bytes.extend_from_slice(&0u32.to_le_bytes()); // sigfigs
        bytes.extend_from_slice(&SNAPLEN.to_le_bytes());
        bytes.extend_from_slice(&LINKTYPE_ETHERNET.to_le_bytes());
        PcapWriter {
            bytes,
            source,
            destination,
            ip_id: 1,
        }
    }

    /// Appends one datagram captured at `time` since the Unix epoch.
    pub fn push_udp(&mut self, time: Duration, payload: &[u8]) -> Result<(), PcapError> {
        if payload.len() > MAX_UDP_PAYLOAD {
            return Err(PcapError::PayloadTooLarge(payload.len()));
        }
        let seconds = u32::try_from(time.as_secs()).map_err(|_| PcapError::TimeOutOfRange(time))?;
        let frame = self.frame(payload);
        // Both fit in u32: the payload is bounded by MAX_UDP_PAYLOAD above.
        let length = frame.len() as u32;
        self.bytes.extend_from_slice(&seconds.to_le_bytes());
        self.bytes
            .extend_from_slice(&time.subsec_micros().to_le_bytes());
        self.bytes.extend_from_slice(&length.to_le_bytes()); // captured length
        self.bytes.extend_from_slice(&length.to_le_bytes()); // length on the wire
        self.bytes.extend_from_slice(&frame);
        self.ip_id = self.ip_id.wrapping_add(1);
        Ok(())
    }

    pub fn into_bytes(self) -> Vec<u8> {
        self.bytes
    }

    fn frame(&self, payload: &[u8]) -> Vec<u8> {
        let udp_length = (UDP_HEADER + payload.len()) as u16;
        let ip_length = IPV4_HEADER as u16 + udp_length;
        let mut frame = Vec::with_capacity(ETHERNET_HEADER + usize::from(ip_length));
        frame.extend_from_slice(&DESTINATION_MAC);
        frame.extend_from_slice(&SOURCE_MAC);
        frame.extend_from_slice(&ETHERTYPE_IPV4.to_be_bytes());

        let mut ip = [0u8; IPV4_HEADER];
        ip[0] = 0x45; // version 4, 5 words of header
        ip[2..4].copy_from_slice(&ip_length.to_be_bytes());
        ip[4..6].copy_from_slice(&self.ip_id.to_be_bytes());
        ip[6] = 0x40; // don't fragment
        ip[8] = TTL;
        ip[9] = IPPROTO_UDP;
        ip[12..16].copy_from_slice(&self.source.ip().octets());
        ip[16..20].copy_from_slice(&self.destination.ip().octets());
        let checksum = internet_checksum(&[&ip]);
        ip[10..12].copy_from_slice(&checksum.to_be_bytes());
        frame.extend_from_slice(&ip);

        let mut udp = [0u8; UDP_HEADER];
        udp[0..2].copy_from_slice(&self.source.port().to_be_bytes());
        udp[2..4].copy_from_slice(&self.destination.port().to_be_bytes());
        udp[4..6].copy_from_slice(&udp_length.to_be_bytes());
        let mut pseudo = [0u8; 12];
        pseudo[0..4].copy_from_slice(&self.source.ip().octets());
        pseudo[4..8].copy_from_slice(&self.destination.ip().octets());
        pseudo[9] = IPPROTO_UDP;
        pseudo[10..12].copy_from_slice(&udp_length.to_be_bytes());
        let checksum = match internet_checksum(&[&pseudo, &udp, payload]) {
            0 => 0xffff, // RFC 768: a computed zero is sent as all ones (zero means "none")
            sum => sum,
        };
        udp[6..8].copy_from_slice(&checksum.to_be_bytes());
        frame.extend_from_slice(&udp);
        frame.extend_from_slice(payload);
        frame
    }
}

/// RFC 1071 one's-complement sum over the concatenated parts (each part but the last has an
/// even length here, so pairing bytes across parts never comes up).
fn internet_checksum(parts: &[&[u8]]) -> u16 {
    let mut sum: u32 = 0;
    for part in parts {
        let mut words = part.chunks_exact(2);
        for word in &mut words {
            sum += u32::from(u16::from_be_bytes([word[0], word[1]]));
        }
        if let [last] = words.remainder() {
            sum += u32::from(*last) << 8;
        }
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    fn writer() -> PcapWriter {
        PcapWriter::new(
            SocketAddrV4::new(Ipv4Addr::new(192, 0, 2, 1), 4000),
            SocketAddrV4::new(Ipv4Addr::new(192, 0, 2, 2), 6000),
        )
    }

    #[test]
    fn the_global_header_says_microseconds_and_ethernet() {
        let bytes = writer().into_bytes();
        assert_eq!(bytes.len(), 24);
        assert_eq!(&bytes[0..4], &[0xd4, 0xc3, 0xb2, 0xa1]);
        assert_eq!(
            u32::from_le_bytes([bytes[20], bytes[21], bytes[22], bytes[23]]),
            1
        );
    }

    #[test]
    fn a_record_carries_time_lengths_headers_and_payload() {
        let mut w = writer();
        w.push_udp(Duration::new(1_700_000_000, 20_000_000), b"abc")
            .unwrap();
        let bytes = w.into_bytes();
        let record = &bytes[24..];
        let le =
            |i: usize| u32::from_le_bytes([record[i], record[i + 1], record[i + 2], record[i + 3]]);
        assert_eq!(le(0), 1_700_000_000);
        assert_eq!(le(4), 20_000);
        assert_eq!(le(8), 14 + 20 + 8 + 3);
        assert_eq!(le(12), le(8));
        let frame = &record[16..];
        assert_eq!(frame.len(), 45);
        assert_eq!(&frame[12..14], &[0x08, 0x00]);
        let ip = &frame[14..34];
        assert_eq!(internet_checksum(&[ip]), 0, "IPv4 header checksum verifies");
        assert_eq!(&ip[12..16], &[192, 0, 2, 1]);
        let udp = &frame[34..];
        assert_eq!(u16::from_be_bytes([udp[0], udp[1]]), 4000);
        assert_eq!(u16::from_be_bytes([udp[2], udp[3]]), 6000);
        assert_eq!(u16::from_be_bytes([udp[4], udp[5]]), 11);
        let mut pseudo = [0u8; 12];
        pseudo[0..4].copy_from_slice(&ip[12..16]);
        pseudo[4..8].copy_from_slice(&ip[16..20]);
        pseudo[9] = 17;
        pseudo[11] = 11;
        // Odd-length payload: summed as its own part so the pad byte lands correctly.
        assert_eq!(
            internet_checksum(&[&pseudo, &udp[..8], &udp[8..]]),
            0,
            "UDP checksum verifies"
        );
        assert_eq!(&udp[8..], b"abc");
    }

    #[test]
    fn oversized_payloads_and_far_future_times_are_refused() {
        let mut w = writer();
        let big = vec![0u8; MAX_UDP_PAYLOAD + 1];
        assert_eq!(
            w.push_udp(Duration::ZERO, &big),
            Err(PcapError::PayloadTooLarge(big.len()))
        );
        let far = Duration::from_secs(u64::from(u32::MAX) + 1);
        assert_eq!(w.push_udp(far, b"x"), Err(PcapError::TimeOutOfRange(far)));
        assert_eq!(w.into_bytes().len(), 24, "nothing was written");
    }

    #[test]
    fn the_checksum_matches_rfc_1071_example() {
        // RFC 1071 §3: 00 01 f2 03 f4 f5 f6 f7 sums to 0xddf2, so the checksum is !0xddf2.
        let data = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
        assert_eq!(internet_checksum(&[&data]), !0xddf2);
    }
}
