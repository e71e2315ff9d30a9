//! The datagram screen in front of rsipstack.
//!
//! rsipstack silently drops what its parser rejects (garbage, unknown methods, a header line that
//! is not UTF-8, …) and accepts some things it should not (a Content-Length longer than the body,
//! `SIP/7.0`). RFC 3261 wants a 400/501/505 whenever a request can be answered, so every datagram
//! passes through [`screen`] first: it answers what it must refuse, normalises what it can (header
//! folding, stray non-UTF-8 bytes in header values, bytes past Content-Length) and hands the rest
//! on. [`ScreenedSocket`] plugs it into rsipstack's UDP socket seam; it first drops, unanswered,
//! every datagram from outside `sip.allowed_peers`, and it is where the optional raw message log
//! lives (rsipstack's own is at INFO and should be filtered out).

use crate::telemetry::{self, Direction};
use std::borrow::Cow;
use std::net::SocketAddr;
use std::str::FromStr;
use std::sync::Arc;

use rsipstack::sip::{Method, SipMessage};
use tracing::debug;

use super::peers::PeerGate;
use super::responses::ALLOW;

/// The log target of the raw SIP message log.
pub const WIRE_TARGET: &str = "hotline::sip::wire";

/// The largest datagram we read; rsipstack's own buffer (8 KiB) limits what is passed on.
const MAX_DATAGRAM: usize = 65_535;

/// What to do with one received datagram.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict<'a> {
    /// Hand this (possibly normalised) message to rsipstack.
    Pass(Cow<'a, [u8]>),
    /// Send this response back to the source and drop the request.
    Reply(Vec<u8>),
    /// Nothing sensible can be answered (no Via, a broken response, an ACK): drop it.
    Drop(&'static str),
}

/// Screens one datagram. `limit` is the size rsipstack can receive.
pub fn screen(packet: &[u8], limit: usize, server: &str) -> Verdict<'static> {
    if packet.iter().all(u8::is_ascii_whitespace) {
        // Keep-alives (RFC 5626 CRLF) are rsipstack's business.
        return Verdict::Pass(Cow::Owned(packet.to_vec()));
    }
    let Some(message) = Message::split(packet) else {
        return Verdict::Drop("no start line");
    };
    match message.check() {
        Ok(()) => {}
        Err(Refusal::Silently(reason)) => return Verdict::Drop(reason),
        Err(Refusal::Answer(status, reason)) => return message.answer(status, reason, server),
    }
    let normalised = message.normalised();
    if normalised.len() > limit {
        return message.answer(
            513,
            "message larger than this server accepts over UDP",
            server,
        );
    }
    match SipMessage::try_from(normalised.as_slice()) {
        Ok(_) => Verdict::Pass(Cow::Owned(normalised)),
        Err(_) if message.is_ack() => Verdict::Drop("unparseable ACK"),
        Err(_) if message.is_request() => {
            message.answer(400, "the message could not be parsed", server)
        }
        Err(_) => Verdict::Drop("unparseable response"),
    }
}

/// Why a datagram is not passed on.
enum Refusal {
    Answer(u16, &'static str),
    Silently(&'static str),
}

/// A datagram split into start line, unfolded header lines and body.
struct Message<'a> {
    start: Cow<'a, str>,
    headers: Vec<(String, String)>,
    body: &'a [u8],
    /// Whether a blank line ended the headers.
    complete: bool,
}

impl<'a> Message<'a> {
    fn split(packet: &'a [u8]) -> Option<Message<'a>> {
        let (head, body, complete) = match find(packet, b"\r\n\r\n") {
            Some(i) => (&packet[..i], &packet[i + 4..], true),
            None => match find(packet, b"\n\n") {
                Some(i) => (&packet[..i], &packet[i + 2..], true),
                None => (packet, &packet[packet.len()..], false),
            },
        };
        let mut lines = head
            .split(|b| *b == b'\n')
            .map(|l| l.strip_suffix(b"\r").unwrap_or(l));
        let start = String::from_utf8_lossy(lines.next()?.trim_ascii());
        if start.is_empty() {
            return None;
        }
        let mut headers: Vec<(String, String)> = Vec::new();
        for line in lines {
            let text = String::from_utf8_lossy(line).replace('\u{FFFD}', "?");
            if line.first().is_some_and(|b| *b == b' ' || *b == b'\t') {
                // Folded continuation of the previous header (RFC 3261 §7.3.1).
                if let Some((_, value)) = headers.last_mut() {
                    if !value.is_empty() {
                        value.push(' ');
                    }
                    value.push_str(text.trim());
                }
                continue;
            }
            match text.split_once(':') {
                Some((name, value)) => {
                    headers.push((name.trim().to_string(), value.trim().to_string()))
                }
                None => headers.push((text.trim().to_string(), String::new())),
            }
        }
        Some(Message {
            start,
            headers,
            body,
            complete,
        })
    }

    fn is_request(&self) -> bool {
        !self.start.starts_with("SIP/")
    }

    /// An ACK, however broken: it is never answered (RFC 3261 §17.2.3).
    fn is_ack(&self) -> bool {
        self.start
            .split_whitespace()
            .next()
            .is_some_and(|m| m.eq_ignore_ascii_case("ACK"))
    }

    /// The first value of a header, by full or compact name.
    fn header(&self, name: &str, compact: Option<&str>) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| {
                n.eq_ignore_ascii_case(name) || compact.is_some_and(|c| n.eq_ignore_ascii_case(c))
            })
            .map(|(_, v)| v.as_str())
    }

    fn check(&self) -> Result<(), Refusal> {
        if !self.is_request() {
            return Ok(());
        }
        let mut parts = self.start.split_whitespace();
        let (Some(method), Some(_uri), Some(version), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            if self.is_ack() {
                return Err(Refusal::Silently("malformed ACK"));
            }
            return Err(Refusal::Answer(400, "malformed request line"));
        };
        if method.eq_ignore_ascii_case("ACK") {
            // An ACK is never answered; a broken one is just lost (RFC 3261 §17.2.3).
            return self
                .check_headers(method)
                .map_err(|_| Refusal::Silently("malformed ACK"));
        }
        if self.header("Via", Some("v")).is_none() {
            return Err(Refusal::Silently("request without Via cannot be answered"));
        }
        if !version.eq_ignore_ascii_case("SIP/2.0") {
            return Err(Refusal::Answer(505, "only SIP/2.0 is supported"));
        }
        if Method::from_str(method).is_err() {
            return Err(Refusal::Answer(501, "method not implemented"));
        }
        if !self.complete {
            return Err(Refusal::Answer(400, "no blank line after the headers"));
        }
        self.check_headers(method)
    }

    fn check_headers(&self, method: &str) -> Result<(), Refusal> {
        for (name, compact) in [("From", "f"), ("To", "t"), ("Call-ID", "i"), ("CSeq", "")] {
            if self.header(name, Some(compact)).is_none_or(str::is_empty) {
                return Err(Refusal::Answer(400, missing(name)));
            }
        }
        let cseq = self.header("CSeq", None).unwrap_or("");
        let mut cseq = cseq.split_whitespace();
        let (Some(number), Some(cseq_method), None) = (cseq.next(), cseq.next(), cseq.next())
        else {
            return Err(Refusal::Answer(400, "malformed CSeq"));
        };
        if number.parse::<u32>().is_err() || !cseq_method.eq_ignore_ascii_case(method) {
            return Err(Refusal::Answer(400, "CSeq does not match the request"));
        }
        if let Some(length) = self.header("Content-Length", Some("l")) {
            match length.parse::<usize>() {
                Ok(n) if n > self.body.len() => {
                    return Err(Refusal::Answer(400, "Content-Length larger than the body"));
                }
                Ok(_) => {}
                Err(_) => return Err(Refusal::Answer(400, "malformed Content-Length")),
            }
        }
        Ok(())
    }

    /// The message rebuilt with unfolded, UTF-8 header lines and the body cut at Content-Length
    /// (RFC 3261 §18.3: extra bytes in a datagram are discarded).
    fn normalised(&self) -> Vec<u8> {
        let declared = self
            .header("Content-Length", Some("l"))
            .and_then(|l| l.parse::<usize>().ok());
        let body = &self.body[..declared.unwrap_or(self.body.len()).min(self.body.len())];
        let mut out = Vec::with_capacity(self.start.len() + 64 * self.headers.len() + body.len());
        out.extend_from_slice(self.start.as_bytes());
        out.extend_from_slice(b"\r\n");
        for (name, value) in &self.headers {
            out.extend_from_slice(format!("{name}: {value}\r\n").as_bytes());
        }
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(body);
        out
    }

    /// A response to this request, built from its own Via/From/To/Call-ID/CSeq lines.
    fn answer(&self, status: u16, reason: &'static str, server: &str) -> Verdict<'static> {
        if !self.is_request() {
            return Verdict::Drop(reason);
        }
        if self.header("Via", Some("v")).is_none() {
            return Verdict::Drop("request without Via cannot be answered");
        }
        let mut text = format!("SIP/2.0 {status} {}\r\n", reason_phrase(status));
        for (name, value) in &self.headers {
            let copy = ["Via", "v", "From", "f", "Call-ID", "i", "CSeq"]
                .iter()
                .any(|h| name.eq_ignore_ascii_case(h));
            if copy {
                text.push_str(&format!("{name}: {value}\r\n"));
            } else if name.eq_ignore_ascii_case("To") || name.eq_ignore_ascii_case("t") {
                let tag = if value.to_ascii_lowercase().contains(";tag=") {
                    ""
                } else {
                    ";tag=hotline-refused"
                };
                text.push_str(&format!("{name}: {value}{tag}\r\n"));
            }
        }
        if matches!(status, 405 | 501) {
            text.push_str(&format!("Allow: {ALLOW}\r\n"));
        }
        text.push_str(&format!(
            "Warning: 399 hotline \"{reason}\"\r\nServer: {server}\r\nContent-Length: 0\r\n\r\n"
        ));
        Verdict::Reply(text.into_bytes())
    }
}

fn missing(header: &str) -> &'static str {
    match header {
        "From" => "missing From header",
        "To" => "missing To header",
        "Call-ID" => "missing Call-ID header",
        _ => "missing CSeq header",
    }
}

pub fn reason_phrase(status: u16) -> &'static str {
    match status {
        400 => "Bad Request",
        405 => "Method Not Allowed",
        501 => "Not Implemented",
        505 => "Version Not Supported",
        513 => "Message Too Large",
        _ => "Error",
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// rsipstack's UDP socket with the allowed peers and [`screen`] in front of it, and the optional
/// wire log.
pub struct ScreenedSocket {
    socket: tokio::net::UdpSocket,
    log_messages: bool,
    server: String,
    gate: Arc<PeerGate>,
}

impl ScreenedSocket {
    pub fn new(
        socket: tokio::net::UdpSocket,
        log_messages: bool,
        server: String,
        gate: Arc<PeerGate>,
    ) -> ScreenedSocket {
        ScreenedSocket {
            socket,
            log_messages,
            server,
            gate,
        }
    }

    fn log(&self, direction: &'static str, peer: SocketAddr, bytes: &[u8]) {
        if self.log_messages {
            log_message(direction, &peer, bytes);
        }
    }
}

/// One SIP message in the wire log (`sip.log_messages`), personal data masked.
pub fn log_message(direction: &'static str, peer: &dyn std::fmt::Display, bytes: &[u8]) {
    let message = loggable(bytes);
    debug!(target: WIRE_TARGET, direction, %peer, %message);
}

/// A message as the wire log shows it: SRTP keys masked always, whatever `log.personal_data`
/// says (a logged key decrypts a captured call), then personal data as it says.
fn loggable(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    let text = super::sdes::mask_keys(&text);
    crate::privacy::for_log(&text).into_owned()
}

#[async_trait::async_trait]
impl rsipstack::platform::net::UdpSocket for ScreenedSocket {
    async fn recv_from(&self, buf: &mut [u8]) -> rsipstack::Result<(usize, SocketAddr)> {
        let mut datagram = vec![0u8; MAX_DATAGRAM];
        loop {
            let (len, source) = self.socket.recv_from(&mut datagram).await?;
            if !self.gate.admits(source, "udp") {
                continue;
            }
            let packet = datagram.get(..len).unwrap_or_default();
            self.log("in", source, packet);
            telemetry::sip_datagram(Direction::Received, packet);
            match screen(packet, buf.len(), &self.server) {
                Verdict::Pass(message) => {
                    let n = message.len().min(buf.len());
                    buf[..n].copy_from_slice(&message[..n]);
                    return Ok((n, source));
                }
                Verdict::Reply(response) => {
                    debug!(%source, "answered a request rsipstack would drop");
                    self.log("out", source, &response);
                    telemetry::sip_datagram(Direction::Sent, &response);
                    if let Err(e) = self.socket.send_to(&response, source).await {
                        debug!(%source, error = %e, "could not send the refusal");
                    }
                }
                Verdict::Drop(reason) => debug!(%source, reason, "dropped a datagram"),
            }
        }
    }

    async fn send_to(&self, buf: &[u8], addr: SocketAddr) -> rsipstack::Result<usize> {
        self.log("out", addr, buf);
        telemetry::sip_datagram(Direction::Sent, buf);
        Ok(self.socket.send_to(buf, addr).await?)
    }

    fn local_addr(&self) -> rsipstack::Result<SocketAddr> {
        Ok(self.socket.local_addr()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OPTIONS: &str = "OPTIONS sip:hotline@127.0.0.1 SIP/2.0\r\n\
        Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK-1\r\n\
        From: <sip:qa@127.0.0.1>;tag=a\r\n\
        To: <sip:hotline@127.0.0.1>\r\n\
        Call-ID: c1\r\n\
        CSeq: 1 OPTIONS\r\n\
        Content-Length: 0\r\n\r\n";

    fn run(packet: &[u8]) -> Verdict<'static> {
        screen(packet, 8192, "hotline-test")
    }

    fn status_of(v: &Verdict<'_>) -> Option<String> {
        match v {
            Verdict::Reply(r) => String::from_utf8_lossy(r)
                .lines()
                .next()
                .map(str::to_string),
            _ => None,
        }
    }

    #[test]
    fn a_good_request_passes_unchanged_in_meaning() {
        let Verdict::Pass(out) = run(OPTIONS.as_bytes()) else {
            panic!("not passed")
        };
        assert_eq!(out.as_ref(), OPTIONS.as_bytes());
    }

    #[test]
    fn unknown_methods_get_501_with_allow() {
        let v = run(OPTIONS.replace("OPTIONS", "FROBNICATE").as_bytes());
        assert_eq!(
            status_of(&v).as_deref(),
            Some("SIP/2.0 501 Not Implemented")
        );
        let Verdict::Reply(r) = v else { unreachable!() };
        let r = String::from_utf8(r).unwrap();
        assert!(r.contains("Allow: INVITE"), "{r}");
        assert!(r.contains("To: <sip:hotline@127.0.0.1>;tag="), "{r}");
        assert!(
            r.contains("Call-ID: c1\r\n") && r.contains("CSeq: 1 FROBNICATE\r\n"),
            "{r}"
        );
    }

    #[test]
    fn wrong_version_gets_505() {
        let v = run(OPTIONS.replacen("SIP/2.0", "SIP/7.0", 1).as_bytes());
        assert_eq!(
            status_of(&v).as_deref(),
            Some("SIP/2.0 505 Version Not Supported")
        );
    }

    #[test]
    fn missing_call_id_and_bad_cseq_get_400() {
        let v = run(OPTIONS.replace("Call-ID: c1\r\n", "").as_bytes());
        assert_eq!(status_of(&v).as_deref(), Some("SIP/2.0 400 Bad Request"));
        let v = run(OPTIONS
            .replace("CSeq: 1 OPTIONS", "CSeq: one OPTIONS")
            .as_bytes());
        assert_eq!(status_of(&v).as_deref(), Some("SIP/2.0 400 Bad Request"));
        let v = run(OPTIONS
            .replace("CSeq: 1 OPTIONS", "CSeq: 1 INVITE")
            .as_bytes());
        assert_eq!(status_of(&v).as_deref(), Some("SIP/2.0 400 Bad Request"));
    }

    #[test]
    fn content_length_beyond_the_body_gets_400_and_extra_bytes_are_cut() {
        let v = run(OPTIONS
            .replace("Content-Length: 0", "Content-Length: 50")
            .as_bytes());
        assert_eq!(status_of(&v).as_deref(), Some("SIP/2.0 400 Bad Request"));
        let Verdict::Pass(out) = run(format!("{OPTIONS}trailing junk").as_bytes()) else {
            panic!()
        };
        assert!(out.ends_with(b"\r\n\r\n"));
        let v = run(OPTIONS
            .replace("Content-Length: 0", "Content-Length: -1")
            .as_bytes());
        assert_eq!(status_of(&v).as_deref(), Some("SIP/2.0 400 Bad Request"));
    }

    #[test]
    fn truncated_messages_get_400() {
        let cut = &OPTIONS[..OPTIONS.len() - 20];
        assert_eq!(
            status_of(&run(cut.as_bytes())).as_deref(),
            Some("SIP/2.0 400 Bad Request")
        );
    }

    #[test]
    fn non_utf8_header_bytes_are_replaced_not_fatal() {
        let mut packet = OPTIONS
            .replace("From: <", "From: \"Nguy\u{1}n\" <")
            .into_bytes();
        let at = packet.iter().position(|b| *b == 1).unwrap();
        packet[at] = 0xEA; // Latin-1 'ê' from an old gateway
        let Verdict::Pass(out) = run(&packet) else {
            panic!("dropped")
        };
        assert!(
            String::from_utf8(out.into_owned())
                .unwrap()
                .contains("From: \"Nguy?n\" <sip:qa@127.0.0.1>;tag=a")
        );
    }

    #[test]
    fn folded_headers_are_unfolded() {
        let folded = OPTIONS.replace(
            "To: <sip:hotline@127.0.0.1>",
            "To:\r\n <sip:hotline@127.0.0.1>",
        );
        let Verdict::Pass(out) = run(folded.as_bytes()) else {
            panic!()
        };
        assert!(String::from_utf8_lossy(&out).contains("To: <sip:hotline@127.0.0.1>\r\n"));
    }

    #[test]
    fn what_cannot_be_answered_is_dropped() {
        assert!(matches!(run(b"\x00\x01garbage\xff"), Verdict::Drop(_)));
        assert!(matches!(
            run(OPTIONS
                .replace("Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK-1\r\n", "")
                .as_bytes()),
            Verdict::Drop(_)
        ));
        let ack = OPTIONS
            .replace("OPTIONS", "ACK")
            .replace("Call-ID: c1\r\n", "");
        assert!(matches!(run(ack.as_bytes()), Verdict::Drop(_)));
        let ack_without_uri = OPTIONS.replace("OPTIONS sip:hotline@127.0.0.1 SIP/2.0", "ACK");
        assert!(ack_without_uri.starts_with("ACK\r\n"), "{ack_without_uri}");
        assert!(matches!(run(ack_without_uri.as_bytes()), Verdict::Drop(_)));
        assert!(matches!(run(b"\r\n\r\n"), Verdict::Pass(_)));
        assert!(matches!(run(b""), Verdict::Pass(_)));
    }

    #[test]
    fn oversized_requests_get_513() {
        let big = OPTIONS.replace(
            "Content-Length: 0\r\n",
            &format!("Subject: {}\r\nContent-Length: 0\r\n", "x".repeat(9000)),
        );
        assert_eq!(
            status_of(&run(big.as_bytes())).as_deref(),
            Some("SIP/2.0 513 Message Too Large")
        );
    }

    #[test]
    fn compact_forms_count_as_the_mandatory_headers() {
        let compact = "OPTIONS sip:h@127.0.0.1 SIP/2.0\r\nv: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK-2\r\n\
            f: <sip:qa@127.0.0.1>;tag=a\r\nt: <sip:h@127.0.0.1>\r\ni: c2\r\nCSeq: 2 OPTIONS\r\nl: 0\r\n\r\n";
        assert!(matches!(run(compact.as_bytes()), Verdict::Pass(_)));
    }

    #[test]
    fn srtp_keys_never_reach_the_wire_log() {
        let key = "WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz";
        let message = format!(
            "SIP/2.0 200 OK\r\nContent-Type: application/sdp\r\n\r\nv=0\r\n\
             m=audio 30000 RTP/SAVP 0\r\na=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:{key}\r\n"
        );
        let logged = loggable(message.as_bytes());
        assert!(!logged.contains(key), "{logged}");
        assert!(
            logged.contains("a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:*"),
            "{logged}"
        );
    }
}
