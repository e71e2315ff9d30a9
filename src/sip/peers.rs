//! Who may send us SIP at all (`sip.allowed_peers`), and a log of strangers that cannot be
//! flooded.
//!
//! A request from outside the allowed peers gets no answer whatsoever: a scanner such as
//! sipvicious' svmap learns nothing, not even that a SIP stack listens here, and a spoofed caller
//! ID from the open internet never reaches the call flow. It is dropped in the datagram screen,
//! before rsipstack parses it.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use ipnet::IpNet;
use tracing::warn;

/// The addresses and blocks SIP is accepted from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AllowedPeers(Vec<IpNet>);

impl AllowedPeers {
    pub fn new(blocks: Vec<IpNet>) -> AllowedPeers {
        AllowedPeers(blocks)
    }

    /// Loopback only, IPv4 and IPv6: the default, so the README's first call works and nothing else.
    pub fn loopback() -> AllowedPeers {
        AllowedPeers(vec![
            "127.0.0.0/8".parse().expect("a valid literal"),
            "::1/128".parse().expect("a valid literal"),
        ])
    }

    pub fn contains(&self, peer: IpAddr) -> bool {
        // An IPv4 peer on a dual-stack socket arrives as ::ffff:a.b.c.d.
        let peer = peer.to_canonical();
        self.0.iter().any(|block| block.contains(&peer))
    }

    /// Whether any block lets in the whole internet of a family (`0.0.0.0/0`, `::/0`).
    pub fn is_open_to_anyone(&self) -> bool {
        self.0.iter().any(|block| block.prefix_len() == 0)
    }

    pub fn blocks(&self) -> &[IpNet] {
        &self.0
    }
}

/// The door every transport asks: UDP per datagram, TCP and TLS per accepted connection. One
/// per server, so a stranger trying every transport is still logged once per ten minutes.
#[derive(Debug)]
pub struct PeerGate {
    allowed: AllowedPeers,
    strangers: Mutex<StrangerLog>,
}

impl PeerGate {
    pub fn new(allowed: AllowedPeers) -> PeerGate {
        PeerGate {
            allowed,
            strangers: Mutex::new(StrangerLog::default()),
        }
    }

    /// Whether `source` may be heard over `transport`; logs a stranger once per ten minutes.
    pub fn admits(&self, source: SocketAddr, transport: &'static str) -> bool {
        if self.allowed.contains(source.ip()) {
            return true;
        }
        let log = self
            .strangers
            .lock()
            .map(|mut strangers| strangers.should_log(source.ip(), Instant::now()))
            .unwrap_or(false);
        if log {
            warn!(
                peer = %source.ip(),
                transport,
                "dropped SIP from a source outside sip.allowed_peers, unanswered (logged once per 10 minutes per source)"
            );
        }
        false
    }
}

/// How often one stranger is logged.
pub const STRANGER_LOG_EVERY: Duration = Duration::from_secs(600);

/// Strangers remembered at most, so a spray of spoofed sources cannot grow memory without bound;
/// beyond it new strangers are still dropped, only not logged until old entries expire.
const MAX_REMEMBERED: usize = 4096;

/// Decides which dropped sources to log: each once per [`STRANGER_LOG_EVERY`].
#[derive(Debug, Default)]
pub struct StrangerLog {
    last_logged: HashMap<IpAddr, Instant>,
}

impl StrangerLog {
    /// Records a datagram from `peer` at `now`; true when it should be logged.
    pub fn should_log(&mut self, peer: IpAddr, now: Instant) -> bool {
        if let Some(last) = self.last_logged.get(&peer)
            && now.duration_since(*last) < STRANGER_LOG_EVERY
        {
            return false;
        }
        if self.last_logged.len() >= MAX_REMEMBERED && !self.last_logged.contains_key(&peer) {
            self.last_logged
                .retain(|_, last| now.duration_since(*last) < STRANGER_LOG_EVERY);
            if self.last_logged.len() >= MAX_REMEMBERED {
                return false;
            }
        }
        self.last_logged.insert(peer, now);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn the_default_lets_in_loopback_only() {
        let peers = AllowedPeers::loopback();
        for inside in ["127.0.0.1", "127.0.0.5", "::1", "::ffff:127.0.0.1"] {
            assert!(peers.contains(ip(inside)), "{inside}");
        }
        for outside in ["10.0.0.1", "192.0.2.66", "::2", "2001:db8::1"] {
            assert!(!peers.contains(ip(outside)), "{outside}");
        }
        assert!(!peers.is_open_to_anyone());
    }

    #[test]
    fn blocks_and_single_addresses_of_both_families() {
        let peers = AllowedPeers::new(vec![
            "10.1.0.0/16".parse().unwrap(),
            "192.0.2.10/32".parse().unwrap(),
            "2001:db8::/32".parse().unwrap(),
        ]);
        assert!(peers.contains(ip("10.1.255.254")));
        assert!(!peers.contains(ip("10.2.0.1")));
        assert!(peers.contains(ip("192.0.2.10")));
        assert!(!peers.contains(ip("192.0.2.11")));
        assert!(peers.contains(ip("2001:db8:5::7")));
        assert!(!peers.contains(ip("127.0.0.1")), "loopback is not implied");
        assert!(AllowedPeers::new(vec!["0.0.0.0/0".parse().unwrap()]).is_open_to_anyone());
    }

    #[test]
    fn a_stranger_is_logged_once_per_ten_minutes() {
        let mut log = StrangerLog::default();
        let t0 = Instant::now();
        assert!(log.should_log(ip("192.0.2.66"), t0));
        assert!(!log.should_log(ip("192.0.2.66"), t0 + Duration::from_secs(599)));
        assert!(log.should_log(ip("192.0.2.67"), t0 + Duration::from_secs(1)));
        assert!(log.should_log(ip("192.0.2.66"), t0 + Duration::from_secs(600)));
    }

    #[test]
    fn a_spray_of_sources_cannot_grow_the_log_without_bound() {
        let mut log = StrangerLog::default();
        let t0 = Instant::now();
        for i in 0..10_000u32 {
            log.should_log(IpAddr::from(i.to_be_bytes()), t0);
        }
        assert_eq!(log.last_logged.len(), MAX_REMEMBERED);
        // Once the old entries have expired, new strangers are logged again.
        let later = t0 + STRANGER_LOG_EVERY;
        assert!(log.should_log(ip("198.51.100.1"), later));
        assert_eq!(log.last_logged.len(), 1);
    }
}
