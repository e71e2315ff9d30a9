//! Caller numbers, normalised so that every form a trunk or a record may hold compares equal.
//!
//! Vietnamese numbers arrive as `0912345678`, `84912345678`, `+84912345678`, `0084912345678`,
//! `tel:+84-91-234-5678`, `sip:%2B84912345678@gw;user=phone`, with spaces, dots, dashes or
//! parentheses. Old records may still hold the 11-digit mobile forms retired in 2018–2019
//! (e.g. 0168… → 038…). All of these become one canonical E.164 string, `+84…` with the new
//! mobile prefix, so equality of two `PhoneNumber`s is equality of the line.

use std::fmt;

/// A telephone number in canonical E.164 form (`+` and digits).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct PhoneNumber(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PhoneError {
    #[error("is empty")]
    Empty,
    #[error("is withheld or anonymous")]
    Anonymous,
    #[error("contains {0:?}, which is not part of a phone number")]
    BadCharacter(char),
    #[error("has {0} digits, too few or too many for a phone number")]
    BadLength(usize),
}

/// Mobile prefixes renumbered from 11 to 10 digits in 2018–2019 (the last 7 digits stayed):
/// national significant prefix without the leading 0, old → new.
const RENUMBERED_MOBILE_PREFIXES: [(&str, &str); 17] = [
    ("120", "70"),
    ("121", "79"),
    ("122", "77"),
    ("126", "76"),
    ("128", "78"),
    ("123", "83"),
    ("124", "84"),
    ("125", "85"),
    ("127", "81"),
    ("129", "82"),
    ("162", "32"),
    ("163", "33"),
    ("164", "34"),
    ("165", "35"),
    ("166", "36"),
    ("167", "37"),
    ("168", "38"),
];

/// Those two plus Viettel's 0169, Vietnamobile's 0186/0188 and Gmobile's 0199.
const MORE_RENUMBERED: [(&str, &str); 4] =
    [("169", "39"), ("186", "56"), ("188", "58"), ("199", "59")];

/// Names that SIP and PBXs use for a withheld caller.
const ANONYMOUS_USERS: [&str; 6] = [
    "anonymous",
    "restricted",
    "unknown",
    "unavailable",
    "private",
    "withheld",
];

impl PhoneNumber {
    /// Parses any of the forms above. A bare user part or a whole `sip:`/`tel:` URI is accepted.
    pub fn parse(raw: &str) -> Result<PhoneNumber, PhoneError> {
        let user = user_part(raw);
        if user.is_empty() {
            return Err(PhoneError::Empty);
        }
        if ANONYMOUS_USERS.iter().any(|a| user.eq_ignore_ascii_case(a)) {
            return Err(PhoneError::Anonymous);
        }
        let (plus, digits) = strip_visual_separators(&user)?;
        canonical(plus, &digits).map(PhoneNumber)
    }

    /// The canonical `+84…` form.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for PhoneNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The user part of a URI (`sip:USER@host;params`, `tel:NUMBER;params`), or the input itself,
/// with `%XX` escapes decoded (`%2B84…` is `+84…`).
fn user_part(raw: &str) -> String {
    let mut s = raw.trim().trim_start_matches('<').trim_end_matches('>');
    for scheme in ["sips:", "sip:", "tel:"] {
        if s.len() >= scheme.len() && s[..scheme.len()].eq_ignore_ascii_case(scheme) {
            s = &s[scheme.len()..];
            break;
        }
    }
    let s = s.split('@').next().unwrap_or("");
    let s = s.split(';').next().unwrap_or("");
    percent_decode(s)
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let Ok(v) = u8::from_str_radix(&s[i + 1..i + 3], 16)
        {
            out.push(v);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Drops the visual separators of RFC 3966 (`-`, `.`, `(`, `)`, spaces); returns whether the
/// number started with `+`, and its digits.
fn strip_visual_separators(user: &str) -> Result<(bool, String), PhoneError> {
    let mut plus = false;
    let mut digits = String::with_capacity(user.len());
    for (i, c) in user.chars().enumerate() {
        match c {
            '0'..='9' => digits.push(c),
            '+' if i == 0 => plus = true,
            '-' | '.' | '(' | ')' | ' ' => {}
            other => return Err(PhoneError::BadCharacter(other)),
        }
    }
    if digits.is_empty() {
        return Err(PhoneError::Empty);
    }
    Ok((plus, digits))
}

/// Turns digits into `+` E.164, reading Vietnamese national (`0…`), international (`00…`,
/// `84…`) and renumbered old mobile forms.
fn canonical(plus: bool, digits: &str) -> Result<String, PhoneError> {
    let international = if plus {
        digits
    } else if let Some(rest) = digits.strip_prefix("00") {
        rest
    } else if let Some(national) = digits.strip_prefix('0') {
        return vietnamese(national);
    } else if digits.starts_with("84") && (11..=12).contains(&digits.len()) {
        digits
    } else {
        return Err(PhoneError::BadLength(digits.len()));
    };
    match international.strip_prefix("84") {
        Some(national) => vietnamese(national),
        None if (8..=15).contains(&international.len()) => Ok(format!("+{international}")),
        None => Err(PhoneError::BadLength(international.len())),
    }
}

/// A Vietnamese national significant number (without the trunk `0`): 9 digits for mobiles,
/// 10 for fixed lines; 10-digit old mobile forms are mapped to their new 9-digit form.
fn vietnamese(national: &str) -> Result<String, PhoneError> {
    let len = national.len();
    if !(9..=10).contains(&len) {
        return Err(PhoneError::BadLength(len + 1));
    }
    if len == 10 {
        for (old, new) in RENUMBERED_MOBILE_PREFIXES
            .iter()
            .chain(MORE_RENUMBERED.iter())
        {
            if let Some(subscriber) = national.strip_prefix(old) {
                return Ok(format!("+84{new}{subscriber}"));
            }
        }
    }
    Ok(format!("+84{national}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn norm(raw: &str) -> String {
        PhoneNumber::parse(raw)
            .unwrap_or_else(|e| panic!("{raw:?}: {e}"))
            .0
    }

    #[test]
    fn every_vietnamese_form_of_one_mobile_is_equal() {
        for raw in [
            "0912345678",
            "84912345678",
            "+84912345678",
            "0084912345678",
            "tel:+84912345678",
            "tel:+84-91-234-5678;phone-context=+84",
            "sip:+84912345678@10.0.0.1;user=phone",
            "<sip:0912345678@pbx.example>",
            "sip:%2B84912345678@gw",
            "091 234 5678",
            "(091) 234.5678",
        ] {
            assert_eq!(norm(raw), "+84912345678", "{raw}");
        }
    }

    #[test]
    fn old_eleven_digit_mobiles_map_to_their_new_prefix() {
        assert_eq!(norm("01681234567"), "+84381234567");
        assert_eq!(norm("+841681234567"), "+84381234567");
        assert_eq!(norm("01201234567"), "+84701234567");
        assert_eq!(norm("01271234567"), "+84811234567");
        assert_eq!(norm("01991234567"), "+84591234567");
        assert_eq!(norm("01861234567"), "+84561234567");
    }

    #[test]
    fn fixed_lines_keep_their_area_code() {
        assert_eq!(norm("02438123456"), "+842438123456");
        assert_eq!(norm("+84 28 3812 3456"), "+842838123456");
    }

    #[test]
    fn foreign_numbers_stay_as_they_are() {
        assert_eq!(norm("+14155550123"), "+14155550123");
        assert_eq!(norm("0014155550123"), "+14155550123");
    }

    #[test]
    fn withheld_and_garbage_are_refused() {
        assert_eq!(
            PhoneNumber::parse("sip:anonymous@anonymous.invalid"),
            Err(PhoneError::Anonymous)
        );
        assert_eq!(PhoneNumber::parse("Restricted"), Err(PhoneError::Anonymous));
        assert_eq!(PhoneNumber::parse(""), Err(PhoneError::Empty));
        assert_eq!(PhoneNumber::parse("sip:@host"), Err(PhoneError::Empty));
        assert_eq!(
            PhoneNumber::parse("alice"),
            Err(PhoneError::BadCharacter('a'))
        );
        assert_eq!(PhoneNumber::parse("12345"), Err(PhoneError::BadLength(5)));
        assert_eq!(PhoneNumber::parse("0912"), Err(PhoneError::BadLength(4)));
        assert!(PhoneNumber::parse("09123456789012").is_err());
        assert!(PhoneNumber::parse("+1%").is_err());
    }
}
