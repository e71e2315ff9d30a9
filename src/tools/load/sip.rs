//! Just enough SIP for a UAC that places many calls over one UDP socket: a parser that borrows
//! from the datagram (start line, headers by full or compact name, body) and builders that write
//! requests and responses as text, the way tests/support/sip_uac.rs does. Written by hand: the
//! generator needs none of a stack's transactions and all of its own control over the bytes,
//! and the service's own SIP library stays confined to src/sip/.

use std::fmt::Write as _;
use std::net::SocketAddr;

/// The start line of a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Start<'a> {
    Request { method: &'a str },
    Response { status: u16 },
}

/// A parsed datagram, borrowing from it.
#[derive(Debug, Clone)]
pub struct Message<'a> {
    pub start: Start<'a>,
    /// (canonical name, value) in order; compact names are expanded.
    headers: Vec<(&'a str, &'a str)>,
    pub body: &'a str,
}

/// Why a datagram is not a SIP message we can use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error("not UTF-8")]
    NotText,
    #[error("bad start line")]
    StartLine,
    #[error("no Call-ID")]
    NoCallId,
    #[error("bad CSeq")]
    CSeq,
}

/// RFC 3261 §7.3.3 compact forms of the headers we read.
fn canonical(name: &str) -> &str {
    match name {
        "i" | "I" => "Call-ID",
        "f" | "F" => "From",
        "t" | "T" => "To",
        "v" | "V" => "Via",
        "m" | "M" => "Contact",
        "l" | "L" => "Content-Length",
        "c" | "C" => "Content-Type",
        other => other,
    }
}

impl<'a> Message<'a> {
    pub fn parse(datagram: &'a [u8]) -> Result<Message<'a>, ParseError> {
        let text = std::str::from_utf8(datagram).map_err(|_| ParseError::NotText)?;
        let (head, body) = match text.split_once("\r\n\r\n") {
            Some(parts) => parts,
            None => text.split_once("\n\n").unwrap_or((text, "")),
        };
        let mut lines = head.lines();
        let first = lines.next().unwrap_or("");
        let start = if let Some(rest) = first.strip_prefix("SIP/2.0 ") {
            let status = rest
                .split_whitespace()
                .next()
                .and_then(|s| s.parse().ok())
                .filter(|s| (100..700).contains(s))
                .ok_or(ParseError::StartLine)?;
            Start::Response { status }
        } else {
            let mut parts = first.split_whitespace();
            match (parts.next(), parts.next(), parts.next()) {
                (Some(method), Some(_uri), Some("SIP/2.0")) => Start::Request { method },
                _ => return Err(ParseError::StartLine),
            }
        };
        let headers: Vec<(&str, &str)> = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(n, v)| (canonical(n.trim()), v.trim()))
            .collect();
        let mut message = Message {
            start,
            headers,
            body,
        };
        if let Some(len) = message
            .header("Content-Length")
            .and_then(|l| l.parse::<usize>().ok())
        {
            message.body = body.get(..len).unwrap_or(body);
        }
        if message.call_id().is_empty() {
            return Err(ParseError::NoCallId);
        }
        message.cseq().ok_or(ParseError::CSeq)?;
        Ok(message)
    }

    /// The first value of a header (case-insensitive full name).
    pub fn header(&self, name: &str) -> Option<&'a str> {
        self.headers(name).next()
    }

    pub fn headers<'s>(&'s self, name: &'s str) -> impl Iterator<Item = &'a str> + 's {
        self.headers
            .iter()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| *v)
    }

    pub fn call_id(&self) -> &'a str {
        self.header("Call-ID").unwrap_or("")
    }

    /// The CSeq number and method.
    pub fn cseq(&self) -> Option<(u32, &'a str)> {
        let mut parts = self.header("CSeq")?.split_whitespace();
        Some((parts.next()?.parse().ok()?, parts.next()?))
    }

    #[cfg(test)]
    pub fn status(&self) -> Option<u16> {
        match self.start {
            Start::Response { status } => Some(status),
            Start::Request { .. } => None,
        }
    }

    /// The `tag` parameter of To.
    pub fn to_tag(&self) -> Option<&'a str> {
        self.header("To")?
            .split(';')
            .skip(1)
            .find_map(|p| p.trim().strip_prefix("tag="))
    }

    /// Every Record-Route entry (`<sip:proxy;lr>`), in the order received: several headers,
    /// or several entries in one separated by commas outside `<…>`.
    pub fn record_route(&self) -> Vec<&'a str> {
        let mut entries = Vec::new();
        for value in self.headers("Record-Route") {
            let (mut start, mut inside) = (0, false);
            for (i, c) in value.char_indices() {
                match c {
                    '<' => inside = true,
                    '>' => inside = false,
                    ',' if !inside => {
                        entries.push(value[start..i].trim());
                        start = i + 1;
                    }
                    _ => {}
                }
            }
            entries.push(value[start..].trim());
        }
        entries.retain(|e| !e.is_empty());
        entries
    }

    /// The URI of the first Contact (`<…>` or bare).
    pub fn contact_uri(&self) -> Option<&'a str> {
        let value = self.header("Contact")?;
        match value.split_once('<') {
            Some((_, rest)) => rest.split_once('>').map(|(uri, _)| uri),
            None => value.split(';').next().map(str::trim),
        }
        .filter(|uri| !uri.is_empty())
    }
}

/// One call's identity, from which its requests are built.
#[derive(Debug, Clone)]
pub struct Leg {
    pub call_id: String,
    /// From header value including our tag.
    pub from: String,
    /// To header value without a tag.
    pub to: String,
    /// The INVITE's Request-URI (also the ACK of a failure, §17.1.1.3).
    pub request_uri: String,
    /// Our SIP socket, for Via and Contact.
    pub local: SocketAddr,
}

impl Leg {
    pub fn new(
        call_id: String,
        from_tag: &str,
        phone: &str,
        local: SocketAddr,
        target: SocketAddr,
    ) -> Leg {
        Leg {
            call_id,
            from: format!("<sip:{phone}@{}>;tag={from_tag}", local.ip()),
            to: format!("<sip:19009068@{target}>"),
            request_uri: format!("sip:19009068@{target}"),
            local,
        }
    }

    /// A request of this call. `route` is the dialog's route set (RFC 3261 §12.1.2: the 2xx's
    /// Record-Route, reversed), empty outside a dialog or without a record-routing proxy;
    /// `to_tag` is the service's, once known; `body` is SDP.
    #[allow(clippy::too_many_arguments)]
    pub fn request(
        &self,
        method: &str,
        uri: &str,
        cseq: u32,
        branch: &str,
        route: &[String],
        to_tag: Option<&str>,
        body: Option<&str>,
    ) -> String {
        let mut msg = String::with_capacity(512 + body.map_or(0, str::len));
        let _ = write!(
            msg,
            "{method} {uri} SIP/2.0\r\n\
             Via: SIP/2.0/UDP {local};branch={branch};rport\r\n\
             Max-Forwards: 70\r\n",
            local = self.local,
        );
        for hop in route {
            let _ = write!(msg, "Route: {hop}\r\n");
        }
        let _ = write!(
            msg,
            "From: {from}\r\n\
             To: {to}",
            from = self.from,
            to = self.to,
        );
        if let Some(tag) = to_tag {
            let _ = write!(msg, ";tag={tag}");
        }
        let _ = write!(
            msg,
            "\r\nCall-ID: {call_id}\r\nCSeq: {cseq} {method}\r\n\
             Contact: <sip:load@{local}>\r\nUser-Agent: hotline-load\r\n",
            call_id = self.call_id,
            local = self.local,
        );
        match body {
            Some(body) => {
                let _ = write!(
                    msg,
                    "Content-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{body}",
                    body.len()
                );
            }
            None => msg.push_str("Content-Length: 0\r\n\r\n"),
        }
        msg
    }
}

/// A response to `request` that copies its Via, From, To, Call-ID and CSeq (§8.2.6.2).
pub fn response(request: &Message<'_>, status: u16, reason: &str) -> String {
    let mut msg = format!("SIP/2.0 {status} {reason}\r\n");
    for name in ["Via", "From", "To", "Call-ID", "CSeq"] {
        for value in request.headers(name) {
            let _ = write!(msg, "{name}: {value}\r\n");
        }
    }
    msg.push_str("Content-Length: 0\r\n\r\n");
    msg
}

#[cfg(test)]
mod tests {
    use super::*;

    const OK: &str = "SIP/2.0 200 OK\r\n\
        Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK-1;rport=5070\r\n\
        f: <sip:0913000001@127.0.0.1>;tag=abc\r\n\
        To: <sip:19009068@127.0.0.1:5090>;tag=srv-7\r\n\
        i: load-1-2\r\n\
        CSeq: 1 INVITE\r\n\
        Contact: <sip:hotline@127.0.0.1:5090;transport=udp>\r\n\
        Content-Type: application/sdp\r\n\
        l: 10\r\n\r\n\
        v=0\r\nc=IN trailing garbage";

    #[test]
    fn parses_a_response_with_compact_headers() {
        let m = Message::parse(OK.as_bytes()).unwrap();
        assert_eq!(m.status(), Some(200));
        assert_eq!(m.call_id(), "load-1-2");
        assert_eq!(m.cseq(), Some((1, "INVITE")));
        assert_eq!(m.to_tag(), Some("srv-7"));
        assert_eq!(
            m.contact_uri(),
            Some("sip:hotline@127.0.0.1:5090;transport=udp")
        );
        // Content-Length cuts what follows the body.
        assert_eq!(m.body, "v=0\r\nc=IN ");
    }

    #[test]
    fn parses_a_request_and_answers_it() {
        let bye = "BYE sip:load@127.0.0.1:5070 SIP/2.0\r\n\
            Via: SIP/2.0/UDP 127.0.0.1:5090;branch=z9hG4bK-s1\r\n\
            Via: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bK-p\r\n\
            From: <sip:19009068@127.0.0.1:5090>;tag=srv-7\r\n\
            To: <sip:0913000001@127.0.0.1>;tag=abc\r\n\
            Call-ID: load-1-2\r\nCSeq: 2 BYE\r\nContent-Length: 0\r\n\r\n";
        let m = Message::parse(bye.as_bytes()).unwrap();
        assert_eq!(m.start, Start::Request { method: "BYE" });
        let answer = response(&m, 200, "OK");
        assert!(answer.starts_with("SIP/2.0 200 OK\r\n"));
        assert_eq!(answer.matches("Via: ").count(), 2, "{answer}");
        assert!(answer.contains("CSeq: 2 BYE\r\n"));
        assert!(answer.ends_with("Content-Length: 0\r\n\r\n"));
        let parsed = Message::parse(answer.as_bytes()).unwrap();
        assert_eq!((parsed.status(), parsed.call_id()), (Some(200), "load-1-2"));
    }

    #[test]
    fn reads_record_route_entries_in_order() {
        let ok = "SIP/2.0 200 OK\r\n\
            Record-Route: <sip:10.0.0.10;lr;ftag=a,b>, <sip:10.0.0.9;lr>\r\n\
            Record-Route: <sip:10.0.0.8;lr>\r\n\
            Call-ID: x\r\nCSeq: 1 INVITE\r\n\r\n";
        let m = Message::parse(ok.as_bytes()).unwrap();
        assert_eq!(
            m.record_route(),
            [
                "<sip:10.0.0.10;lr;ftag=a,b>",
                "<sip:10.0.0.9;lr>",
                "<sip:10.0.0.8;lr>"
            ]
        );
        let bare = Message::parse(b"SIP/2.0 200 OK\r\nCall-ID: x\r\nCSeq: 1 INVITE\r\n\r\n");
        assert!(bare.unwrap().record_route().is_empty());
    }

    #[test]
    fn rejects_what_it_cannot_demultiplex() {
        assert_eq!(
            Message::parse(b"\xff\xfe").unwrap_err(),
            ParseError::NotText
        );
        assert_eq!(
            Message::parse(b"hello\r\n\r\n").unwrap_err(),
            ParseError::StartLine
        );
        assert_eq!(
            Message::parse(b"SIP/2.0 200 OK\r\nCSeq: 1 INVITE\r\n\r\n").unwrap_err(),
            ParseError::NoCallId
        );
        assert_eq!(
            Message::parse(b"SIP/2.0 200 OK\r\nCall-ID: x\r\nCSeq: one\r\n\r\n").unwrap_err(),
            ParseError::CSeq
        );
        assert_eq!(
            Message::parse(b"SIP/2.0 2000 OK\r\nCall-ID: x\r\n\r\n").unwrap_err(),
            ParseError::StartLine
        );
    }

    #[test]
    fn builds_requests_the_parser_reads_back() {
        let leg = Leg::new(
            "load-9".into(),
            "t9",
            "0913000009",
            "127.0.0.1:5070".parse().unwrap(),
            "127.0.0.1:5090".parse().unwrap(),
        );
        let invite = leg.request(
            "INVITE",
            &leg.request_uri,
            1,
            "z9hG4bK-a",
            &[],
            None,
            Some("v=0\r\n"),
        );
        let m = Message::parse(invite.as_bytes()).unwrap();
        assert_eq!(m.start, Start::Request { method: "INVITE" });
        assert_eq!(m.header("From"), Some("<sip:0913000009@127.0.0.1>;tag=t9"));
        assert_eq!(m.to_tag(), None);
        assert_eq!(m.body, "v=0\r\n");
        let ack = leg.request("ACK", "sip:h@x", 1, "z9hG4bK-b", &[], Some("srv"), None);
        let m = Message::parse(ack.as_bytes()).unwrap();
        assert_eq!((m.to_tag(), m.cseq()), (Some("srv"), Some((1, "ACK"))));
        assert!(ack.starts_with("ACK sip:h@x SIP/2.0\r\n"));
        assert!(!ack.contains("Route:"));
        let route = [
            "<sip:10.0.0.10;lr>".to_owned(),
            "<sip:10.0.0.9;lr>".to_owned(),
        ];
        let bye = leg.request("BYE", "sip:h@x", 2, "z9hG4bK-c", &route, Some("srv"), None);
        let m = Message::parse(bye.as_bytes()).unwrap();
        assert_eq!(
            m.headers("Route").collect::<Vec<_>>(),
            ["<sip:10.0.0.10;lr>", "<sip:10.0.0.9;lr>"]
        );
    }
}
