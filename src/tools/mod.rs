//! Tools for testing the service from outside, with third-party SIP stacks.
//!
//! The SIPp suite in `sip-test/` replays DTMF from pcap files (`play_pcap_audio`), so the
//! project makes its own: [`dtmf_pcap`] turns a key string into RFC 4733 telephone-events
//! timed like a real phone, framed by [`pcap`] into a capture file SIPp (and Wireshark) reads.
//! [`load`] is a load generator of our own, cheap enough to share the service's machine.

pub mod dtmf_pcap;
pub mod gen_accounts;
pub mod load;
pub mod lookup_bench;
pub mod pcap;

pub use dtmf_pcap::{DtmfPcapError, DtmfPcapOptions, dtmf_pcap};
