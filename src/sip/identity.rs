//! Who is calling: P-Asserted-Identity from trusted peers (RFC 3325), otherwise the From user.
//!
//! Works on the raw header values: rsipstack parses `tel:` URIs as an unknown scheme with the
//! number in the host and keeps `%2B` escaped, and has no typed P-Asserted-Identity. The number
//! itself is normalised by [`PhoneNumber::parse`].

use std::net::IpAddr;

use crate::domain::PhoneNumber;

/// The caller as the CDR records it and as the account check compares it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CallerIdentity {
    /// The URI the number was taken from, as received, without display name or header
    /// parameters such as the dialog tag (for the CDR).
    pub raw: String,
    /// The normalised number; `None` when withheld, anonymous or unparseable.
    pub number: Option<PhoneNumber>,
}

impl CallerIdentity {
    /// Picks the caller's identity from an INVITE's headers.
    ///
    /// `pai` is the P-Asserted-Identity value (several header lines joined with `,`), used only
    /// when `source` is one of `trusted`: anyone else can write any PAI. Of its values a `tel:`
    /// URI is preferred, else the first that holds a number. `Privacy: id` (or `user`/`header`)
    /// means the caller withheld the number, so it is not used even if the network asserted it.
    /// So does an asserted identity that is anonymous (RFC 3323: host `anonymous.invalid`, or user
    /// `anonymous`), and, when no trusted PAI names the caller, an anonymous From: a PBX that
    /// withholds a number often writes its own trunk pilot number as the From user, which must
    /// not be taken for the caller.
    pub fn from_headers(
        pai: Option<&str>,
        from: &str,
        privacy: Option<&str>,
        source: IpAddr,
        trusted: &[IpAddr],
    ) -> CallerIdentity {
        let from = from.trim();
        let trusted_pai = pai.filter(|_| trusted.contains(&source));
        let asserted_anonymous = trusted_pai.is_some_and(|pai| {
            split_name_addrs(pai)
                .into_iter()
                .any(|entry| is_anonymous(uri_of(entry)))
        });
        if asserted_anonymous || privacy.is_some_and(withholds_identity) {
            return CallerIdentity {
                raw: uri_of(from).to_string(),
                number: None,
            };
        }
        let asserted = trusted_pai.and_then(best_asserted);
        if let Some((raw, number)) = asserted {
            return CallerIdentity {
                raw: uri_of(raw).to_string(),
                number: Some(number),
            };
        }
        // The From's user part means nothing in an anonymous From (a PBX may put its pilot there).
        let number = (!is_anonymous(uri_of(from)))
            .then(|| PhoneNumber::parse(uri_of(from)).ok())
            .flatten();
        CallerIdentity {
            raw: uri_of(from).to_string(),
            number,
        }
    }
}

/// The user part of a name-addr's URI (`<sip:19009068@host>` → `19009068`), `%XX` left as is.
pub(super) fn user_of(name_addr: &str) -> String {
    let uri = uri_of(name_addr);
    let rest = uri.split_once(':').map_or(uri, |(_, rest)| rest);
    let user = rest.split('@').next().unwrap_or("");
    user.split(';').next().unwrap_or("").to_string()
}

/// An anonymous URI in the RFC 3323 sense: `sip:anonymous@anonymous.invalid`, or either half of it
/// with anything in the other (`sip:02838000000@anonymous.invalid`, `sip:anonymous@pbx`).
fn is_anonymous(uri: &str) -> bool {
    let rest = uri.split_once(':').map_or(uri, |(_, rest)| rest);
    let (user, host) = rest.rsplit_once('@').unwrap_or(("", rest));
    let user = user.split(';').next().unwrap_or("");
    let host = host.split([';', '?']).next().unwrap_or("");
    let host = host.rsplit_once(':').map_or(host, |(name, port)| {
        if port.bytes().all(|b| b.is_ascii_digit()) {
            name
        } else {
            host
        }
    });
    user.eq_ignore_ascii_case("anonymous") || host.eq_ignore_ascii_case("anonymous.invalid")
}

/// RFC 3323/3325 privacy values that hide the caller's identity from us.
fn withholds_identity(privacy: &str) -> bool {
    privacy.split([';', ',']).map(str::trim).any(|v| {
        ["id", "user", "header"]
            .iter()
            .any(|w| v.eq_ignore_ascii_case(w))
    })
}

/// The `tel:` entry of a PAI if it parses, else the first entry that parses.
fn best_asserted(pai: &str) -> Option<(&str, PhoneNumber)> {
    let parsed: Vec<(&str, PhoneNumber)> = split_name_addrs(pai)
        .into_iter()
        .filter_map(|entry| PhoneNumber::parse(uri_of(entry)).ok().map(|n| (entry, n)))
        .collect();
    let tel = parsed
        .iter()
        .position(|(entry, _)| starts_with_ignore_case(uri_of(entry), "tel:"));
    parsed.into_iter().nth(tel.unwrap_or(0))
}

/// Splits a header value holding several name-addrs at the commas between them (not those inside
/// quotes or angle brackets).
fn split_name_addrs(value: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let (mut quoted, mut in_brackets, mut start) = (false, false, 0);
    let mut escaped = false;
    for (i, c) in value.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            '<' if !quoted => in_brackets = true,
            '>' if !quoted => in_brackets = false,
            ',' if !quoted && !in_brackets => {
                parts.push(value[start..i].trim());
                start = i + c.len_utf8();
            }
            _ => {}
        }
    }
    parts.push(value[start..].trim());
    parts.retain(|p| !p.is_empty());
    parts
}

/// The URI of a name-addr (`"Name" <sip:…>;tag=x` → `sip:…`) or an addr-spec as is.
fn uri_of(name_addr: &str) -> &str {
    // A display name may itself contain `<`, so look for the bracket after any quoted part.
    let after_quote = match name_addr.trim_start().strip_prefix('"') {
        Some(rest) => closing_quote(rest).map_or("", |end| &rest[end..]),
        None => name_addr,
    };
    match after_quote.find('<') {
        Some(open) => {
            let rest = &after_quote[open + 1..];
            rest.find('>').map_or(rest, |close| &rest[..close]).trim()
        }
        // An addr-spec without brackets: everything after `;` is a header parameter (RFC 3261 §20.10).
        None => after_quote.split(';').next().unwrap_or("").trim(),
    }
}

/// Byte index just past the closing quote of a quoted string whose opening quote was stripped.
fn closing_quote(rest: &str) -> Option<usize> {
    let mut escaped = false;
    for (i, c) in rest.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' => escaped = true,
            '"' => return Some(i + 1),
            _ => {}
        }
    }
    None
}

fn starts_with_ignore_case(s: &str, prefix: &str) -> bool {
    s.len() >= prefix.len()
        && s.is_char_boundary(prefix.len())
        && s[..prefix.len()].eq_ignore_ascii_case(prefix)
}

#[cfg(test)]
mod tests {
    use super::*;

    const TRUNK: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 1));
    const STRANGER: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 66));

    fn number(
        pai: Option<&str>,
        from: &str,
        privacy: Option<&str>,
        source: IpAddr,
    ) -> Option<String> {
        CallerIdentity::from_headers(pai, from, privacy, source, &[TRUNK])
            .number
            .map(|n| n.to_string())
    }

    #[test]
    fn from_user_in_every_common_shape() {
        for from in [
            "<sip:0912345678@pbx.example>;tag=1",
            "\"Nguyễn Văn A\" <sip:+84912345678@pbx.example;user=phone>;tag=1",
            "sip:84912345678@pbx.example;tag=abc",
            "<sip:%2B84912345678@gw.example>;tag=2",
            "<tel:+84-91-234-5678>;tag=3",
            "Bob <sips:0084912345678@10.0.0.1:5061>",
            "\"a <weird> name, really\" <sip:0912345678@x>",
        ] {
            assert_eq!(
                number(None, from, None, STRANGER).as_deref(),
                Some("+84912345678"),
                "{from}"
            );
        }
    }

    #[test]
    fn pai_is_used_only_from_a_trusted_source() {
        let pai = Some("<sip:0987654321@trunk.example>");
        let from = "<sip:0912345678@pbx>;tag=1";
        assert_eq!(
            number(pai, from, None, TRUNK).as_deref(),
            Some("+84987654321")
        );
        assert_eq!(
            number(pai, from, None, STRANGER).as_deref(),
            Some("+84912345678")
        );
        let id = CallerIdentity::from_headers(pai, from, None, TRUNK, &[TRUNK]);
        assert_eq!(id.raw, "sip:0987654321@trunk.example");
    }

    #[test]
    fn a_pai_with_sip_and_tel_values_prefers_tel() {
        let pai = Some("\"Trunk\" <sip:0911111111@trunk.example;user=phone>, <tel:+84922222222>");
        assert_eq!(
            number(pai, "<sip:x@y>", None, TRUNK).as_deref(),
            Some("+84922222222")
        );
        let unparseable_first = Some("<sip:operator@trunk.example>, <sip:0933333333@trunk>");
        assert_eq!(
            number(unparseable_first, "<sip:x@y>", None, TRUNK).as_deref(),
            Some("+84933333333")
        );
    }

    #[test]
    fn an_unusable_pai_falls_back_to_from() {
        let pai = Some("<sip:operator@trunk.example>");
        assert_eq!(
            number(pai, "<sip:0912345678@pbx>", None, TRUNK).as_deref(),
            Some("+84912345678")
        );
    }

    #[test]
    fn withheld_and_anonymous_callers_have_no_number() {
        let pai = Some("<tel:+84912345678>");
        assert_eq!(number(pai, "<sip:0912345678@pbx>", Some("id"), TRUNK), None);
        assert_eq!(
            number(
                None,
                "<sip:0912345678@pbx>",
                Some("header;id;critical"),
                STRANGER
            ),
            None
        );
        assert_eq!(
            number(
                None,
                "\"Anonymous\" <sip:anonymous@anonymous.invalid>;tag=9",
                None,
                STRANGER
            ),
            None
        );
        assert_eq!(
            number(None, "<sip:restricted@pbx>", Some("none"), STRANGER),
            None
        );
        assert_eq!(number(None, "<sip:alice@pbx>", None, STRANGER), None);
        assert_eq!(number(None, "", None, STRANGER), None);
        assert_eq!(
            number(None, "\"unterminated <sip:0912345678@pbx>", None, STRANGER),
            None
        );
    }

    #[test]
    fn an_anonymous_from_or_asserted_identity_is_withheld_whatever_its_user_says() {
        // Asterisk 22 with trust_id_outbound = no, withholding: its pilot number in an anonymous From.
        let asterisk = "\"Anonymous\" <sip:02838000000@anonymous.invalid>;tag=as1";
        assert_eq!(number(None, asterisk, None, TRUNK), None);
        assert_eq!(number(None, asterisk, None, STRANGER), None);
        assert_eq!(
            number(
                None,
                "<sip:ANONYMOUS@pbx.example:5060>;tag=2",
                None,
                STRANGER
            ),
            None
        );
        assert_eq!(
            number(
                None,
                "<sip:0912345678@Anonymous.Invalid:5060;transport=udp>",
                None,
                STRANGER
            ),
            None
        );
        // A trusted network that asserts an anonymous identity withholds the From number too.
        let pai = Some("<sip:anonymous@anonymous.invalid>");
        assert_eq!(number(pai, "<sip:0912345678@pbx>", None, TRUNK), None);
        // An untrusted source's PAI is ignored altogether, anonymous or not.
        assert_eq!(
            number(pai, "<sip:0912345678@pbx>", None, STRANGER).as_deref(),
            Some("+84912345678")
        );
        // A host that merely contains the word is not anonymous.
        assert_eq!(
            number(
                None,
                "<sip:0912345678@anonymous.invalid.example>",
                None,
                STRANGER
            )
            .as_deref(),
            Some("+84912345678")
        );
    }

    #[test]
    fn user_of_reads_sip_and_tel() {
        assert_eq!(
            user_of("<sip:19009068@hotline.example;user=phone>;tag=1"),
            "19009068"
        );
        assert_eq!(user_of("tel:19009068;phone-context=+84"), "19009068");
        assert_eq!(user_of(""), "");
    }

    #[test]
    fn raw_keeps_the_uri_as_received_without_display_name_or_tag() {
        let from = "\"Anonymous\" <sip:anonymous@anonymous.invalid>;tag=9";
        let id = CallerIdentity::from_headers(None, from, None, STRANGER, &[]);
        assert_eq!(id.raw, "sip:anonymous@anonymous.invalid");
        let id = CallerIdentity::from_headers(None, "tel:+84912345678;tag=1", None, STRANGER, &[]);
        assert_eq!(id.raw, "tel:+84912345678");
        assert_eq!(id.number.unwrap().as_str(), "+84912345678");
    }
}
