//! Settings of the SIP endpoint.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use super::peers::AllowedPeers;
use crate::media::srtp::SrtpMode;

/// How the SIP endpoint listens, what it advertises and whom it trusts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SipConfig {
    /// The UDP address SIP is received on.
    pub listen: SocketAddr,
    /// The address peers reach us at: it goes into Contact, Via and the SDP `c=` line, so it
    /// must be routable from the trunk (not `0.0.0.0`).
    pub public_address: IpAddr,
    /// Sources SIP is accepted from at all; anything else is dropped unanswered.
    pub allowed_peers: AllowedPeers,
    /// Sources whose P-Asserted-Identity is believed (RFC 3325 trust domain).
    pub trusted_peers: Vec<IpAddr>,
    /// Log every SIP message at debug under `hotline::sip::wire`. Off by default: messages carry
    /// caller numbers, and SIP INFO bodies carry keyed digits.
    pub log_messages: bool,
    /// RFC 3261 T1 (round-trip estimate, 500 ms); T2, T4 and 64·T1 are derived from it.
    pub t1: Duration,
    /// The User-Agent/Server header value.
    pub user_agent: String,
    /// How many new calls may wait for the application before further INVITEs get 503.
    pub pending_calls: usize,
    /// `media.srtp`: SRTP with SDES keys off, optional or required.
    pub srtp: SrtpMode,
    /// Where SIP over TCP is received (RFC 3261 §18); `None`: not at all.
    pub tcp_listen: Option<SocketAddr>,
    /// Where SIP over TLS is received, and the certificate it is served with; `None`: not at all.
    pub tls: Option<TlsListen>,
    /// What one TCP or TLS connection may cost.
    pub streams: StreamLimits,
}

/// A TLS listener: its address and its PEM files (`sip.tls_certificate`, `sip.tls_private_key`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlsListen {
    pub listen: SocketAddr,
    pub certificate: PathBuf,
    pub private_key: PathBuf,
}

/// Bounds on TCP and TLS connections, so strangers and slow clients cannot pile them up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StreamLimits {
    /// Connections open at once, TCP and TLS together; one more is closed at accept.
    pub max_connections: usize,
    /// How long a TLS client may take to finish its handshake.
    pub handshake_timeout: Duration,
    /// A connection that carries nothing (not even a CRLF keep-alive) this long is closed. It
    /// must outlast the longest call: a call's connection is quiet between ACK and BYE, and its
    /// closing ends the call.
    pub idle_timeout: Duration,
}

impl Default for StreamLimits {
    fn default() -> StreamLimits {
        StreamLimits {
            max_connections: 1024,
            handshake_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(15 * 60),
        }
    }
}

/// A setting that cannot work, named by its key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SipConfigError {
    #[error("sip.public_address: {0} is unspecified; set the address peers reach this host at")]
    UnspecifiedPublicAddress(IpAddr),
    #[error("sip.public_address: {public} and sip.listen {listen} are of different IP families")]
    FamilyMismatch { public: IpAddr, listen: SocketAddr },
    #[error("sip.t1: must be between 1 ms and 10 s, got {0:?}")]
    BadT1(Duration),
    #[error("{key}: {listen} and sip.public_address {public} are of different IP families")]
    StreamFamilyMismatch {
        key: &'static str,
        public: IpAddr,
        listen: SocketAddr,
    },
}

impl SipConfig {
    /// Defaults for a listen address: its IP is the public address, RFC timers, no trusted peers.
    pub fn new(listen: SocketAddr) -> SipConfig {
        SipConfig {
            listen,
            public_address: listen.ip(),
            allowed_peers: AllowedPeers::loopback(),
            trusted_peers: Vec::new(),
            log_messages: false,
            t1: Duration::from_millis(500),
            user_agent: concat!("hotline/", env!("CARGO_PKG_VERSION")).to_string(),
            pending_calls: 64,
            srtp: SrtpMode::Optional,
            tcp_listen: None,
            tls: None,
            streams: StreamLimits::default(),
        }
    }

    pub fn validate(&self) -> Result<(), SipConfigError> {
        if self.public_address.is_unspecified() {
            return Err(SipConfigError::UnspecifiedPublicAddress(
                self.public_address,
            ));
        }
        if self.public_address.is_ipv4() != self.listen.is_ipv4() {
            return Err(SipConfigError::FamilyMismatch {
                public: self.public_address,
                listen: self.listen,
            });
        }
        if self.t1 < Duration::from_millis(1) || self.t1 > Duration::from_secs(10) {
            return Err(SipConfigError::BadT1(self.t1));
        }
        let streams = [
            ("sip.tcp_listen", self.tcp_listen),
            ("sip.tls_listen", self.tls.as_ref().map(|t| t.listen)),
        ];
        for (key, listen) in streams {
            if let Some(listen) = listen
                && listen.is_ipv4() != self.public_address.is_ipv4()
            {
                return Err(SipConfigError::StreamFamilyMismatch {
                    key,
                    public: self.public_address,
                    listen,
                });
            }
        }
        Ok(())
    }
}

impl Default for SipConfig {
    fn default() -> SipConfig {
        SipConfig::new(SocketAddr::from(([127, 0, 0, 1], 5060)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_follow_the_rfc() {
        let c = SipConfig::default();
        assert_eq!(c.validate(), Ok(()));
        assert_eq!(c.public_address, IpAddr::from([127, 0, 0, 1]));
        assert_eq!(c.t1, Duration::from_millis(500));
        assert!(!c.log_messages);
    }

    #[test]
    fn a_wildcard_listen_needs_an_explicit_public_address() {
        let c = SipConfig::new("0.0.0.0:5060".parse().unwrap());
        let err = c.validate().unwrap_err();
        assert!(err.to_string().starts_with("sip.public_address"), "{err}");
        let c = SipConfig {
            public_address: "203.0.113.5".parse().unwrap(),
            ..c
        };
        assert_eq!(c.validate(), Ok(()));
    }

    #[test]
    fn mixed_families_and_absurd_timers_are_refused() {
        let c = SipConfig {
            public_address: "::1".parse().unwrap(),
            ..SipConfig::default()
        };
        assert!(matches!(
            c.validate(),
            Err(SipConfigError::FamilyMismatch { .. })
        ));
        let c = SipConfig {
            t1: Duration::ZERO,
            ..SipConfig::default()
        };
        assert_eq!(c.validate(), Err(SipConfigError::BadT1(Duration::ZERO)));
    }
}
