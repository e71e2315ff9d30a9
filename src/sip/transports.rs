//! What differs per transport once a message is in: which connection a request came on (and
//! the token that says it closed), the Contact
//! our dialogs give it, whether its Request-URI scheme can be honoured on it, and (through
//! rsipstack's message inspector) the Via of our in-dialog requests and the wire log of stream
//! messages, which the UDP screen (src/sip/wire.rs) cannot see.

use std::net::SocketAddr;

use rsipstack::sip::prelude::{HeadersExt, ToTypedHeader};
use rsipstack::sip::{Request, Scheme, SipMessage, Transport, Uri};
use rsipstack::transaction::endpoint::MessageInspector;
use rsipstack::transaction::transaction::Transaction;
use rsipstack::transport::SipAddr;
use tokio_util::sync::CancellationToken;

use super::wire;
use crate::telemetry::{self, Direction};

/// The token rsipstack cancels when the TCP or TLS connection a request came on is gone; `None`
/// over UDP.
pub fn connection_closed(tx: &Transaction) -> Option<CancellationToken> {
    tx.connection
        .as_ref()
        .filter(|c| c.is_reliable())
        .and_then(|c| c.cancel_token())
}

/// Where the request came from (the source address and port).
pub fn source_of(tx: &Transaction) -> SocketAddr {
    tx.connection
        .as_ref()
        .and_then(|c| c.get_remote_addr())
        .and_then(|a| a.get_socketaddr().ok())
        .unwrap_or_else(|| SocketAddr::from(([0, 0, 0, 0], 0)))
}

/// The transport a transaction's request arrived on (UDP when rsipstack does not say).
pub fn transport_of(tx: &Transaction) -> Transport {
    tx.connection
        .as_ref()
        .map(|c| c.transport())
        .unwrap_or(Transport::Udp)
}

/// Our public address and port on each stream transport we listen on.
#[derive(Clone, Copy, Debug, Default)]
pub struct StreamPorts {
    pub tcp: Option<SocketAddr>,
    pub tls: Option<SocketAddr>,
}

impl StreamPorts {
    fn sent_by(&self, transport: Transport) -> Option<SocketAddr> {
        match transport {
            Transport::Tcp => self.tcp,
            Transport::Tls => self.tls,
            _ => None,
        }
    }
}

/// Our address on each transport we listen on, as peers reach it.
#[derive(Clone, Debug)]
pub struct Advertised {
    /// The Contact of UDP dialogs, as rsipstack builds it for its UDP listener.
    pub udp_contact: Uri,
    pub streams: StreamPorts,
}

impl Advertised {
    /// The Contact of a dialog whose INVITE came on `transport`: where the caller sends the
    /// dialog's next requests. A `transport` parameter over TCP and TLS, since `sip:` alone
    /// means UDP to most peers; a `sips:` URI when the INVITE asked for one (RFC 3261 §12.1.1),
    /// which only a TLS INVITE can (others get 416, [`scheme_refusal`]).
    pub fn contact(&self, transport: Transport, secure: bool) -> Uri {
        let text = match (transport, self.streams.tcp, self.streams.tls) {
            (Transport::Tcp, Some(tcp), _) => format!("sip:{tcp};transport=tcp"),
            (Transport::Tls, _, Some(tls)) if secure => format!("sips:{tls}"),
            (Transport::Tls, _, Some(tls)) => format!("sip:{tls};transport=tls"),
            _ => return self.udp_contact.clone(),
        };
        Uri::try_from(text.as_str()).unwrap_or_else(|_| self.udp_contact.clone())
    }
}

/// Whether a dialog-creating request asks for a `sips:` Contact back (RFC 3261 §12.1.1): a
/// SIPS Request-URI, top Record-Route or, without Record-Route, Contact.
pub fn asks_for_sips(request: &Request) -> bool {
    use rsipstack::sip::HasHeaders;
    let first = |name: &str| {
        request
            .headers()
            .iter()
            .find(|h| h.name().eq_ignore_ascii_case(name))
            .map(|h| h.value().to_string())
    };
    let is_sips = |value: String| {
        let value = value.trim_start().to_ascii_lowercase();
        let uri = value.split_once('<').map_or(value.as_str(), |(_, u)| u);
        uri.starts_with("sips:")
    };
    matches!(request.uri.scheme, Some(Scheme::Sips))
        || match first("Record-Route") {
            Some(route) => is_sips(route),
            None => first("Contact").is_some_and(is_sips),
        }
}

/// Why a request's Request-URI cannot be served on `transport`: a `sips:` URI asks for TLS
/// on every hop (RFC 3261 §26.2.1), which plain UDP or TCP cannot give; answered 416
/// Unsupported URI Scheme as §8.2.2.1 says for a scheme the UAS cannot honour.
pub fn scheme_refusal(request: &Request, transport: Transport) -> Option<(u16, String)> {
    let secure = matches!(request.uri.scheme, Some(Scheme::Sips));
    (secure && transport != Transport::Tls).then(|| {
        (
            416,
            format!(
                "a sips: Request-URI needs TLS; this request came over {}",
                transport.to_string().to_uppercase()
            ),
        )
    })
}

/// rsipstack's hook on every message it sends or receives. Over UDP the datagram screen
/// logs and counts; over TCP and TLS this does, and it gives our in-dialog requests (a BYE)
/// a Via naming the port of their transport: rsipstack, whose stream listeners we do not use,
/// would name the UDP port.
pub struct StreamInspector {
    pub ports: StreamPorts,
    pub log_messages: bool,
}

/// The transport named by a message's top Via: the hop it travels on, both ways.
fn hop_of(message: &SipMessage) -> Option<Transport> {
    let via = match message {
        SipMessage::Request(r) => r.via_header().ok()?,
        SipMessage::Response(r) => r.via_header().ok()?,
    };
    Some(via.typed().ok()?.transport)
}

impl StreamInspector {
    fn on_stream(&self, message: &SipMessage, direction: Direction, peer: Option<&SipAddr>) {
        let bytes = message.to_bytes();
        telemetry::sip_datagram(direction, &bytes);
        if self.log_messages {
            let way = match direction {
                Direction::Received => "in",
                Direction::Sent => "out",
            };
            let peer = peer.map(ToString::to_string).unwrap_or_default();
            wire::log_message(way, &peer, &bytes);
        }
    }

    /// Our request's top Via, rewritten to our public address and this transport's port.
    fn fix_via(&self, request: &mut Request, transport: Transport) {
        let Some(sent_by) = self.ports.sent_by(transport) else {
            return;
        };
        if let Ok(via) = request.via_header_mut() {
            let _ = via.update_first_value(|value| {
                let mut typed = value.typed()?;
                typed.uri.host_with_port = sent_by.into();
                Ok(typed.into())
            });
        }
    }
}

impl MessageInspector for StreamInspector {
    fn before_send(&self, message: SipMessage, destination: Option<&SipAddr>) -> SipMessage {
        let Some(transport @ (Transport::Tcp | Transport::Tls)) = hop_of(&message) else {
            return message;
        };
        let message = match message {
            SipMessage::Request(mut request) => {
                self.fix_via(&mut request, transport);
                SipMessage::Request(request)
            }
            response => response,
        };
        self.on_stream(&message, Direction::Sent, destination);
        message
    }

    fn after_received(&self, message: SipMessage, from: Option<&SipAddr>) -> SipMessage {
        if from.is_some_and(|f| matches!(f.r#type, Some(Transport::Tcp | Transport::Tls))) {
            self.on_stream(&message, Direction::Received, from);
        }
        message
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ports() -> StreamPorts {
        StreamPorts {
            tcp: Some("192.0.2.10:5060".parse().unwrap()),
            tls: Some("192.0.2.10:5061".parse().unwrap()),
        }
    }

    fn advertised() -> Advertised {
        Advertised {
            udp_contact: Uri::try_from("sip:192.0.2.10:5060").unwrap(),
            streams: ports(),
        }
    }

    #[test]
    fn each_transport_gets_its_own_contact() {
        let a = advertised();
        assert_eq!(
            a.contact(Transport::Udp, false).to_string(),
            "sip:192.0.2.10:5060"
        );
        // Transport tokens are case-insensitive (RFC 3261 §19.1.1); rsipstack writes them upper.
        assert!(
            a.contact(Transport::Tcp, false)
                .to_string()
                .eq_ignore_ascii_case("sip:192.0.2.10:5060;transport=tcp")
        );
        assert_eq!(
            a.contact(Transport::Tls, true).to_string(),
            "sips:192.0.2.10:5061"
        );
        assert!(
            a.contact(Transport::Tls, false)
                .to_string()
                .eq_ignore_ascii_case("sip:192.0.2.10:5061;transport=tls")
        );
    }

    fn request(uri: &str, via: &str) -> Request {
        let text = format!(
            "INVITE {uri} SIP/2.0\r\nVia: SIP/2.0/{via} 127.0.0.1:5070;branch=z9hG4bK-1\r\n\
             From: <sip:qa@127.0.0.1>;tag=a\r\nTo: <sip:h@127.0.0.1>\r\nCall-ID: c\r\n\
             CSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n"
        );
        Request::try_from(text.as_str()).unwrap()
    }

    #[test]
    fn a_sips_request_uri_route_or_contact_asks_for_a_sips_contact() {
        assert!(asks_for_sips(&request("sips:19009068@127.0.0.1", "TLS")));
        assert!(!asks_for_sips(&request("sip:19009068@127.0.0.1", "TLS")));
        let with = |header: &str| {
            let text = request("sip:19009068@127.0.0.1", "TLS")
                .to_string()
                .replace("CSeq:", &format!("{header}\r\nCSeq:"));
            Request::try_from(text.as_str()).unwrap()
        };
        assert!(asks_for_sips(&with("Contact: <sips:qa@127.0.0.1:5071>")));
        assert!(!asks_for_sips(&with(
            "Contact: <sip:qa@127.0.0.1:5071;transport=tls>"
        )));
        assert!(asks_for_sips(&with("Record-Route: <sips:proxy.test;lr>")));
    }

    #[test]
    fn sips_is_refused_unless_over_tls() {
        let sips = request("sips:19009068@127.0.0.1", "TLS");
        assert_eq!(scheme_refusal(&sips, Transport::Tls), None);
        for plain in [Transport::Udp, Transport::Tcp] {
            assert_eq!(scheme_refusal(&sips, plain).map(|r| r.0), Some(416));
        }
        let sip = request("sip:19009068@127.0.0.1", "TCP");
        assert_eq!(scheme_refusal(&sip, Transport::Tcp), None);
    }

    #[test]
    fn our_stream_requests_name_the_port_of_their_transport() {
        let inspector = StreamInspector {
            ports: ports(),
            log_messages: false,
        };
        let sent = inspector.before_send(request("sip:qa@127.0.0.1", "TLS").into(), None);
        let SipMessage::Request(sent) = sent else {
            panic!()
        };
        let via = sent.via_header().unwrap().typed().unwrap();
        assert_eq!(via.uri.host_with_port.to_string(), "192.0.2.10:5061");
        assert_eq!(via.transport, Transport::Tls);
        let udp = inspector.before_send(request("sip:qa@127.0.0.1", "UDP").into(), None);
        let SipMessage::Request(udp) = udp else {
            panic!()
        };
        assert!(udp.to_string().contains("SIP/2.0/UDP 127.0.0.1:5070"));
    }
}
