//! The digits of an insurance code (or personal ID) as the caller keys them.

use std::fmt;

use crate::domain::{AccountKey, PersonalId};

/// The keyed digits so far. Holds at most the longest valid entry; anything keyed beyond that
/// only marks the entry as too long, so a flood of DTMF cannot grow memory.
#[derive(Default)]
pub(super) struct CodeEntry {
    digits: String,
    too_long: bool,
}

impl CodeEntry {
    const MAX: usize = PersonalId::LEN;

    /// Appends a decimal digit (0–9).
    pub(super) fn push(&mut self, decimal: u8) {
        match char::from_digit(u32::from(decimal), 10) {
            Some(c) if self.digits.len() < Self::MAX => self.digits.push(c),
            Some(_) => self.too_long = true,
            None => {}
        }
    }

    pub(super) fn clear(&mut self) {
        self.digits.clear();
        self.too_long = false;
    }

    /// True when nothing was keyed since the last clear.
    pub(super) fn is_empty(&self) -> bool {
        self.digits.is_empty() && !self.too_long
    }

    /// Ends the entry: the account key if it has a valid length, `None` if not. Either way the
    /// entry is empty afterwards, ready for the next try.
    pub(super) fn finish(&mut self) -> Option<AccountKey> {
        let key = if self.too_long {
            None
        } else {
            AccountKey::parse(&self.digits).ok()
        };
        self.clear();
        key
    }

    /// Digits held (never more than 12).
    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.digits.len()
    }
}

/// Shows only how much was keyed: the digits are an identifier and must not reach a log.
impl fmt::Debug for CodeEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CodeEntry")
            .field("len", &self.digits.len())
            .field("too_long", &self.too_long)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keyed(text: &str) -> CodeEntry {
        let mut entry = CodeEntry::default();
        for b in text.bytes() {
            entry.push(b - b'0');
        }
        entry
    }

    #[test]
    fn ten_and_twelve_digits_finish_as_keys() {
        assert!(
            matches!(keyed("0123456789").finish(), Some(AccountKey::Code(c)) if c.as_str() == "0123456789")
        );
        assert!(matches!(
            keyed("001085012345").finish(),
            Some(AccountKey::PersonalId(_))
        ));
    }

    #[test]
    fn other_lengths_finish_as_none_and_leave_it_empty() {
        for text in ["", "012345678", "01234567890", "0010850123456"] {
            let mut entry = keyed(text);
            assert!(entry.finish().is_none(), "{text:?} was accepted");
            assert!(entry.is_empty());
        }
    }

    #[test]
    fn a_flood_is_capped_and_never_truncated_into_a_valid_key() {
        let mut entry = CodeEntry::default();
        for i in 0..10_000u32 {
            entry.push((i % 10) as u8);
        }
        assert_eq!(entry.len(), 12);
        assert!(!entry.is_empty());
        assert!(entry.finish().is_none());
    }

    #[test]
    fn non_decimals_are_ignored_and_debug_shows_no_digits() {
        let mut entry = keyed("0123");
        entry.push(11);
        assert_eq!(entry.len(), 4);
        assert_eq!(
            format!("{entry:?}"),
            "CodeEntry { len: 4, too_long: false }"
        );
    }
}
