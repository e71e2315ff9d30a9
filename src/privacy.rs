//! Personal data in logs. By default no log line carries a caller's number, an insurance code or
//! a personal ID in full: every run of seven or more digits is masked to its first four and last
//! two (`+84912345678` → `+8491*****78`, `0123456789` → `0123****89`), enough to tell two callers
//! apart in a log without being able to call either. `log.personal_data = true` shows them, for
//! debugging on a test system.
//!
//! One switch for the process, set once by `init_logging` before anything logs; a relaxed atomic
//! load per masked value is all it costs.

use std::borrow::Cow;
use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};

static SHOW_PERSONAL_DATA: AtomicBool = AtomicBool::new(false);

/// Shorter runs are not personal: ports, CSeq numbers, payload types, a single key.
const MIN_RUN: usize = 7;
const KEEP_FIRST: usize = 4;
const KEEP_LAST: usize = 2;

/// `log.personal_data`.
pub fn show_personal_data(show: bool) {
    SHOW_PERSONAL_DATA.store(show, Ordering::Relaxed);
}

fn shown() -> bool {
    SHOW_PERSONAL_DATA.load(Ordering::Relaxed)
}

/// Text for a log line: as it is with `log.personal_data`, masked otherwise.
pub fn for_log(text: &str) -> Cow<'_, str> {
    if shown() {
        Cow::Borrowed(text)
    } else {
        mask(text)
    }
}

/// A value displayed through [`for_log`]: `info!(caller = %Personal(&raw), …)`.
pub struct Personal<'a>(pub &'a str);

impl fmt::Display for Personal<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&for_log(self.0))
    }
}

/// Masks every run of [`MIN_RUN`] or more ASCII digits, whatever the switch says.
pub fn mask(text: &str) -> Cow<'_, str> {
    let bytes = text.as_bytes();
    let mut out: Option<String> = None;
    let mut copied = 0;
    let mut i = 0;
    while i < bytes.len() {
        if !bytes[i].is_ascii_digit() {
            i += 1;
            continue;
        }
        let start = i;
        while i < bytes.len() && bytes[i].is_ascii_digit() {
            i += 1;
        }
        if i - start >= MIN_RUN {
            let out = out.get_or_insert_with(|| String::with_capacity(text.len()));
            out.push_str(&text[copied..start + KEEP_FIRST]);
            out.extend(std::iter::repeat_n('*', i - start - KEEP_FIRST - KEEP_LAST));
            out.push_str(&text[i - KEEP_LAST..i]);
            copied = i;
        }
    }
    match out {
        None => Cow::Borrowed(text),
        Some(mut out) => {
            out.push_str(&text[copied..]);
            Cow::Owned(out)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_codes_and_ids_keep_four_digits_and_two() {
        assert_eq!(mask("+84912345678"), "+8491*****78");
        assert_eq!(mask("0912345678"), "0912****78");
        assert_eq!(mask("0123456789"), "0123****89");
        assert_eq!(mask("001085012345"), "0010******45");
        assert_eq!(mask("1234567"), "1234*67");
    }

    #[test]
    fn numbers_inside_sip_are_masked_and_the_rest_is_left_alone() {
        let from = "From: <sip:0912345678@10.0.0.1:5060>;tag=1928301774\r\nCSeq: 102 INVITE\r\n";
        assert_eq!(
            mask(from),
            "From: <sip:0912****78@10.0.0.1:5060>;tag=1928****74\r\nCSeq: 102 INVITE\r\n"
        );
        let short = "m=audio 40000 RTP/AVP 0 101\r\nSignal=5\r\n";
        assert!(matches!(mask(short), Cow::Borrowed(_)), "nothing to mask");
        assert_eq!(mask("ünïcode 0123456789 ✓"), "ünïcode 0123****89 ✓");
    }
}
