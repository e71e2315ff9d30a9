//! SDES (RFC 4568): which `a=crypto` line of an offer we take, the line we answer with, and
//! keeping keys out of logs.
//!
//! The answerer picks one of the offered lines (§6.1), and the offerer lists them in the order
//! it prefers: we take the first we can do in full. What we cannot do is refused — the line is
//! skipped — rather than half-done: other suites, several master keys or an MKI (we keep one
//! key per direction), a key lifetime shorter than any call, and every session parameter but
//! the window-size hint (`UNENCRYPTED_SRTP` and friends, a key derivation rate, FEC).

use std::borrow::Cow;

use crate::media::srtp::{MasterKey, SrtpSuite};

/// The shortest key lifetime we accept, in packets: 2^20 packets are 5.8 hours at 50 packets a
/// second, longer than any call, so a key never runs out mid-call (we cannot re-key).
const MIN_LIFETIME_LOG2: u32 = 20;

/// An `a=crypto` line of the offer that we can do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OfferedCrypto {
    /// The line's tag, which our answer repeats (§6.1).
    pub tag: u32,
    pub suite: SrtpSuite,
    /// The key the offerer sends with.
    pub key: MasterKey,
}

/// The first usable line among the values of a media section's `a=crypto:` attributes (the
/// text after `crypto:`), in offer order.
pub fn choose<'a>(lines: impl IntoIterator<Item = &'a str>) -> Option<OfferedCrypto> {
    lines.into_iter().find_map(parse_crypto)
}

/// `1 AES_CM_128_HMAC_SHA1_80 inline:<key||salt>[|lifetime][|MKI:len] [session-params]`.
fn parse_crypto(value: &str) -> Option<OfferedCrypto> {
    let mut fields = value.split_whitespace();
    let tag = fields.next()?;
    if tag.is_empty() || tag.len() > 9 || !tag.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let suite = SrtpSuite::from_sdes_name(fields.next()?)?;
    // Several key-params (`;`-separated) are several master keys told apart by MKI.
    let key_info = fields.next()?.strip_prefix("inline:")?;
    if key_info.contains(';') {
        return None;
    }
    if !fields.all(is_harmless_session_parameter) {
        return None;
    }
    let mut parts = key_info.split('|');
    let key = MasterKey::from_base64(parts.next()?)?;
    for part in parts {
        // `2^31` or `1048576` is a lifetime; `1:4` (MKI value:length) is an MKI.
        if part.contains(':') || !long_enough(part) {
            return None;
        }
    }
    Some(OfferedCrypto {
        tag: tag.parse().ok()?,
        suite,
        key,
    })
}

/// `WSH=<n>`, the replay window a sender suggests, is only a hint (§6.3.7); we keep
/// 128, as libsrtp does.
fn is_harmless_session_parameter(parameter: &str) -> bool {
    parameter.starts_with("WSH=")
}

fn long_enough(lifetime: &str) -> bool {
    match lifetime.strip_prefix("2^") {
        Some(power) => power.parse::<u32>().is_ok_and(|p| p >= MIN_LIFETIME_LOG2),
        None => lifetime
            .parse::<u64>()
            .is_ok_and(|n| n >= 1 << MIN_LIFETIME_LOG2),
    }
}

/// Our answer's line: the offer's tag and suite, our own key, nothing else.
pub fn answer_line(tag: u32, suite: SrtpSuite, ours: &MasterKey) -> String {
    format!(
        "a=crypto:{tag} {} inline:{}\r\n",
        suite.sdes_name(),
        ours.to_base64()
    )
}

/// `text` with every `inline:` key replaced by `*`: for the SIP wire log, whatever
/// `log.personal_data` says — a key in a log would decrypt the call in a capture.
pub fn mask_keys(text: &str) -> Cow<'_, str> {
    const MARK: &str = "inline:";
    if !text.contains(MARK) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find(MARK) {
        let key_start = at + MARK.len();
        out.push_str(&rest[..key_start]);
        let after = &rest[key_start..];
        let key_len = after
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '+' || c == '/' || c == '='))
            .unwrap_or(after.len());
        out.push('*');
        rest = &after[key_len..];
    }
    out.push_str(rest);
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz";

    fn key() -> MasterKey {
        MasterKey::from_base64(KEY).unwrap()
    }

    fn line(suite: &str, rest: &str) -> String {
        format!("1 {suite} inline:{KEY}{rest}")
    }

    #[test]
    fn both_suites_are_read_with_their_tag_and_key() {
        let got = choose(
            ["7 AES_CM_128_HMAC_SHA1_32 inline:".to_string() + KEY]
                .iter()
                .map(String::as_str),
        );
        assert_eq!(
            got,
            Some(OfferedCrypto {
                tag: 7,
                suite: SrtpSuite::AesCm128HmacSha1_32,
                key: key()
            })
        );
        let got = choose([line("AES_CM_128_HMAC_SHA1_80", "").as_str()]).unwrap();
        assert_eq!(got.suite, SrtpSuite::AesCm128HmacSha1_80);
    }

    #[test]
    fn the_first_usable_line_in_offer_order_wins() {
        let lines = [
            format!("1 AES_256_CM_HMAC_SHA1_80 inline:{KEY}{KEY}"),
            format!("2 AES_CM_128_HMAC_SHA1_32 inline:{KEY}"),
            format!("3 AES_CM_128_HMAC_SHA1_80 inline:{KEY}"),
        ];
        let got = choose(lines.iter().map(String::as_str)).unwrap();
        assert_eq!((got.tag, got.suite), (2, SrtpSuite::AesCm128HmacSha1_32));
    }

    #[test]
    fn long_lifetimes_and_window_hints_are_fine() {
        for rest in ["|2^31", "|2^20", "|1048576", " WSH=64", "|2^48 WSH=128"] {
            assert!(
                choose([line("AES_CM_128_HMAC_SHA1_80", rest).as_str()]).is_some(),
                "{rest}"
            );
        }
    }

    #[test]
    fn what_we_cannot_do_is_refused_not_half_done() {
        for rest in [
            "|2^10",
            "|1000",
            "|2^31|1:4",
            "|1:4",
            ";inline:WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz|2^20|2:4",
            " UNENCRYPTED_SRTP",
            " UNAUTHENTICATED_SRTP",
            " KDR=24",
            " FEC_ORDER=FEC_SRTP",
            " -FOO",
        ] {
            assert_eq!(
                choose([line("AES_CM_128_HMAC_SHA1_80", rest).as_str()]),
                None,
                "{rest}"
            );
        }
        for bad in [
            "",
            "1",
            "1 AES_CM_128_HMAC_SHA1_80",
            "x AES_CM_128_HMAC_SHA1_80 inline:WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz",
            "1234567890 AES_CM_128_HMAC_SHA1_80 inline:WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz",
            "1 AES_CM_128_HMAC_SHA1_80 uri:https://keys.example/1",
            "1 AES_CM_128_HMAC_SHA1_80 inline:c2hvcnQ=",
            "1 F8_128_HMAC_SHA1_80 inline:WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz",
        ] {
            assert_eq!(choose([bad]), None, "{bad}");
        }
    }

    #[test]
    fn the_answer_repeats_tag_and_suite_with_our_key() {
        assert_eq!(
            answer_line(5, SrtpSuite::AesCm128HmacSha1_32, &key()),
            format!("a=crypto:5 AES_CM_128_HMAC_SHA1_32 inline:{KEY}\r\n")
        );
    }

    #[test]
    fn keys_are_masked_in_logged_messages() {
        let sdp = format!(
            "m=audio 4000 RTP/SAVP 0\r\na=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:{KEY}|2^31\r\n\
             a=crypto:2 AES_CM_128_HMAC_SHA1_32 inline:{KEY}\r\n"
        );
        let masked = mask_keys(&sdp);
        assert!(!masked.contains(KEY), "{masked}");
        assert_eq!(
            masked,
            "m=audio 4000 RTP/SAVP 0\r\na=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:*|2^31\r\n\
             a=crypto:2 AES_CM_128_HMAC_SHA1_32 inline:*\r\n"
        );
        assert!(matches!(
            mask_keys("INVITE sip:1@x SIP/2.0"),
            Cow::Borrowed(_)
        ));
        assert_eq!(mask_keys("inline:"), "inline:*");
    }
}
