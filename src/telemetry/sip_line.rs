//! SIP requests by method and responses by status, from the first line of each datagram the
//! SIP socket (src/sip/wire.rs) receives or sends. Only the first line is looked at: a full
//! parse is rsipstack's job, and the counts need no more.

use metrics::counter;

use super::{SIP_REQUESTS, SIP_RESPONSES};

/// Which way a datagram went.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    Received,
    Sent,
}

/// Counts a received request or a sent response (requests we send and responses we receive,
/// e.g. our BYE and its 200, are not what the metrics describe).
pub fn sip_datagram(direction: Direction, datagram: &[u8]) {
    match (direction, first_line(datagram)) {
        (Direction::Received, FirstLine::Request(method)) => {
            counter!(SIP_REQUESTS, "method" => method).increment(1)
        }
        (Direction::Sent, FirstLine::Response(status)) => {
            counter!(SIP_RESPONSES, "status" => status).increment(1)
        }
        _ => {}
    }
}

#[derive(Debug, PartialEq, Eq)]
enum FirstLine {
    /// A request's method, one of [`METHODS`] or `other`.
    Request(&'static str),
    /// A response's status, one of [`STATUSES`] or `other`.
    Response(&'static str),
    /// Not SIP (a keep-alive, garbage).
    Neither,
}

/// Label values come from these fixed lists, so a stranger cannot grow the metrics by sending
/// made-up methods or codes.
const METHODS: [&str; 14] = [
    "INVITE",
    "ACK",
    "BYE",
    "CANCEL",
    "OPTIONS",
    "INFO",
    "REGISTER",
    "PRACK",
    "UPDATE",
    "REFER",
    "NOTIFY",
    "SUBSCRIBE",
    "MESSAGE",
    "PUBLISH",
];

const STATUSES: [&str; 26] = [
    "100", "180", "181", "182", "183", "200", "202", "400", "401", "403", "404", "405", "407",
    "408", "415", "420", "480", "481", "486", "487", "488", "491", "500", "501", "503", "505",
];

fn first_line(datagram: &[u8]) -> FirstLine {
    let line = datagram
        .split(|&b| b == b'\r' || b == b'\n')
        .next()
        .unwrap_or_default();
    let mut words = line.split(|&b| b == b' ');
    let (Some(first), Some(second)) = (words.next(), words.next()) else {
        return FirstLine::Neither;
    };
    if first.starts_with(b"SIP/") {
        let status = STATUSES.iter().find(|s| s.as_bytes() == second);
        return FirstLine::Response(status.copied().unwrap_or("other"));
    }
    if line.ends_with(b"SIP/2.0") {
        let method = METHODS.iter().find(|m| m.as_bytes() == first);
        return FirstLine::Request(method.copied().unwrap_or("other"));
    }
    FirstLine::Neither
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_and_responses_are_told_apart_by_their_first_line() {
        let invite = b"INVITE sip:19009068@10.0.0.1 SIP/2.0\r\nVia: x\r\n\r\n";
        assert_eq!(first_line(invite), FirstLine::Request("INVITE"));
        assert_eq!(
            first_line(b"SIP/2.0 486 Busy Here\r\n"),
            FirstLine::Response("486")
        );
        assert_eq!(first_line(b"SIP/2.0 200 OK"), FirstLine::Response("200"));
    }

    #[test]
    fn unknown_methods_and_statuses_share_one_label() {
        assert_eq!(
            first_line(b"+84912345678 sip:x SIP/2.0\r\n"),
            FirstLine::Request("other")
        );
        assert_eq!(
            first_line(b"SIP/2.0 299 Odd\r\n"),
            FirstLine::Response("other")
        );
    }

    #[test]
    fn keep_alives_and_garbage_are_neither() {
        assert_eq!(first_line(b"\r\n\r\n"), FirstLine::Neither);
        assert_eq!(first_line(b""), FirstLine::Neither);
        assert_eq!(first_line(&[0xff, 0x00, 0x20, 0x41]), FirstLine::Neither);
    }
}
