//! SIP INFO DTMF bodies: the digit a PSTN gateway or an older PBX sends in an in-dialog INFO
//! instead of in the audio. Sans-I/O: content type and body in, a key (or why not) out; the SIP
//! layer answers with [`InfoError::status`].
//!
//! Two bodies are in use, neither standardised:
//! - `application/dtmf-relay` (Cisco's, the common one): `Signal=5\r\nDuration=160\r\n`. Keys are
//!   matched case-insensitively, spaces around `=` and values are allowed, lines may end in
//!   `\n` or `\r\n`, other lines (`Volume=…`, vendor extras) are ignored. `Duration` is optional
//!   and, since the press is reported at once, only checked for being a number.
//! - `application/dtmf`: the key alone, e.g. `5` or `#`.
//!
//! The signal is a key (`0`–`9`, `*`, `#`, `A`–`D`, either case) or its RFC 4733 event code
//! `0`–`15`, as Asterisk also accepts (some phones send `Signal=10` for `*`). A hook flash
//! (`Signal=!`) is not a key and is refused like any other value.

use crate::domain::Digit;

/// Bodies longer than this are refused unread: a DTMF body is a few dozen bytes.
pub const MAX_BODY: usize = 512;

/// The content types whose bodies carry DTMF, for an `Accept` header on a 415.
pub const ACCEPTED_TYPES: &str = "application/dtmf-relay, application/dtmf";

/// Why an INFO carried no key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InfoError {
    #[error("content type {0:?} does not carry DTMF")]
    UnsupportedType(String),
    #[error("DTMF body of {0} bytes is too long (at most {MAX_BODY})")]
    TooLong(usize),
    #[error("DTMF body is not UTF-8 text")]
    NotText,
    #[error("dtmf-relay body has no Signal line")]
    NoSignal,
    #[error("dtmf-relay body has more than one Signal line")]
    TwoSignals,
    #[error("signal {0:?} is not a DTMF key (0-9, *, #, A-D or event 0-15)")]
    NotAKey(String),
    #[error("duration {0:?} is not a number")]
    BadDuration(String),
}

impl InfoError {
    /// The SIP status to answer the INFO with: 415 Unsupported Media Type for a body that is
    /// not DTMF at all (the sender learns not to send it again), 400 Bad Request for a DTMF
    /// body we cannot read.
    pub fn status(&self) -> u16 {
        match self {
            InfoError::UnsupportedType(_) => 415,
            _ => 400,
        }
    }
}

/// The key an INFO carries. `content_type` is the header's value, parameters and case allowed
/// (`Application/DTMF-Relay; charset=utf-8`).
pub fn parse_info(content_type: &str, body: &[u8]) -> Result<Digit, InfoError> {
    let media_type = content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    let relay = match media_type.as_str() {
        "application/dtmf-relay" => true,
        "application/dtmf" => false,
        _ => return Err(InfoError::UnsupportedType(media_type)),
    };
    if body.len() > MAX_BODY {
        return Err(InfoError::TooLong(body.len()));
    }
    let text = std::str::from_utf8(body).map_err(|_| InfoError::NotText)?;
    if relay {
        parse_relay(text)
    } else {
        parse_key(text)
    }
}

/// `Signal=…` and optional `Duration=…` lines, anything else ignored.
fn parse_relay(text: &str) -> Result<Digit, InfoError> {
    let mut signal = None;
    for line in text.lines() {
        let Some((name, value)) = line.split_once('=') else {
            continue;
        };
        let name = name.trim();
        if name.eq_ignore_ascii_case("signal") {
            if signal.is_some() {
                return Err(InfoError::TwoSignals);
            }
            signal = Some(parse_key(value)?);
        } else if name.eq_ignore_ascii_case("duration") {
            let value = value.trim();
            if value.parse::<u32>().is_err() {
                return Err(InfoError::BadDuration(value.to_owned()));
            }
        }
    }
    signal.ok_or(InfoError::NoSignal)
}

/// One key as a character or an event code, surrounding whitespace allowed.
fn parse_key(value: &str) -> Result<Digit, InfoError> {
    let value = value.trim();
    let not_a_key = || InfoError::NotAKey(value.chars().take(16).collect());
    let mut chars = value.chars();
    match (chars.next(), chars.next()) {
        (Some(c), None) => Digit::from_char(c).map_err(|_| not_a_key()),
        (Some(_), Some(_)) => value
            .parse::<u8>()
            .ok()
            .and_then(|code| Digit::from_event(code).ok())
            .ok_or_else(not_a_key),
        _ => Err(not_a_key()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RELAY: &str = "application/dtmf-relay";

    fn relay(body: &str) -> Result<Digit, InfoError> {
        parse_info(RELAY, body.as_bytes())
    }

    #[test]
    fn the_usual_dtmf_relay_body() {
        assert_eq!(relay("Signal=5\r\nDuration=160\r\n"), Ok(Digit::D5));
        assert_eq!(relay("Signal=5\nDuration=160"), Ok(Digit::D5));
        assert_eq!(relay("Signal=0"), Ok(Digit::D0), "Duration is optional");
    }

    #[test]
    fn spaces_case_and_extra_lines_are_tolerated() {
        assert_eq!(relay("Signal= #\r\nDuration= 250\r\n"), Ok(Digit::Pound));
        assert_eq!(relay("signal=*\r\nduration=100"), Ok(Digit::Star));
        assert_eq!(relay("SIGNAL = d\r\nDURATION = 100"), Ok(Digit::D));
        assert_eq!(
            relay("Volume=10\r\nSignal=9\r\nX-Vendor: yes\r\n\r\nDuration=160\r\n"),
            Ok(Digit::D9)
        );
    }

    #[test]
    fn event_codes_are_keys_too() {
        assert_eq!(relay("Signal=10\r\nDuration=160"), Ok(Digit::Star));
        assert_eq!(relay("Signal=11"), Ok(Digit::Pound));
        assert_eq!(relay("Signal=15"), Ok(Digit::D));
        assert_eq!(relay("Signal=07"), Ok(Digit::D7));
        assert_eq!(relay("Signal=16"), Err(InfoError::NotAKey("16".into())));
    }

    #[test]
    fn bodies_without_a_readable_key_are_bad_requests() {
        for (body, error) in [
            ("", InfoError::NoSignal),
            ("Duration=160", InfoError::NoSignal),
            ("hello", InfoError::NoSignal),
            ("Signal=", InfoError::NotAKey(String::new())),
            ("Signal=x", InfoError::NotAKey("x".into())),
            ("Signal=!", InfoError::NotAKey("!".into())),
            ("Signal=12a", InfoError::NotAKey("12a".into())),
            ("Signal=1\r\nSignal=2", InfoError::TwoSignals),
            (
                "Signal=1\r\nDuration=long",
                InfoError::BadDuration("long".into()),
            ),
        ] {
            let got = relay(body);
            assert_eq!(got, Err(error), "{body:?}");
            assert_eq!(got.unwrap_err().status(), 400);
        }
        assert_eq!(parse_info(RELAY, b"Signal=\xff"), Err(InfoError::NotText));
        let long = format!("Signal=1\r\n{}", "X=1\r\n".repeat(200));
        assert_eq!(relay(&long), Err(InfoError::TooLong(long.len())));
    }

    #[test]
    fn application_dtmf_is_the_key_alone() {
        assert_eq!(parse_info("application/dtmf", b"5"), Ok(Digit::D5));
        assert_eq!(parse_info("application/dtmf", b" #\r\n"), Ok(Digit::Pound));
        assert_eq!(parse_info("application/dtmf", b"a"), Ok(Digit::A));
        assert_eq!(parse_info("application/dtmf", b"11"), Ok(Digit::Pound));
        assert_eq!(
            parse_info("application/dtmf", b"Signal=5"),
            Err(InfoError::NotAKey("Signal=5".into()))
        );
        assert_eq!(
            parse_info("application/dtmf", b""),
            Err(InfoError::NotAKey(String::new()))
        );
    }

    #[test]
    fn content_type_parameters_and_case_do_not_matter() {
        for content_type in [
            "Application/DTMF-Relay",
            "application/dtmf-relay; charset=utf-8",
            " application/dtmf-relay ",
        ] {
            assert_eq!(parse_info(content_type, b"Signal=3"), Ok(Digit::D3));
        }
    }

    #[test]
    fn other_content_types_are_unsupported() {
        for content_type in [
            "application/media_control+xml",
            "text/plain",
            "",
            "application/sdp",
        ] {
            let got = parse_info(content_type, b"Signal=5");
            assert!(
                matches!(got, Err(InfoError::UnsupportedType(_))),
                "{content_type}"
            );
            assert_eq!(got.unwrap_err().status(), 415);
        }
    }
}
