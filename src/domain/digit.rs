use std::fmt;

/// One key on a telephone keypad, as DTMF carries it (RFC 4733 events 0–15).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Digit {
    D0,
    D1,
    D2,
    D3,
    D4,
    D5,
    D6,
    D7,
    D8,
    D9,
    Star,
    Pound,
    A,
    B,
    C,
    D,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DigitError {
    #[error("{0:?} is not a DTMF key (expected 0-9, *, #, A-D)")]
    NotAKey(char),
    #[error("telephone-event {0} is not a DTMF key (expected 0-15)")]
    NotAnEvent(u8),
}

impl Digit {
    /// Every key in RFC 4733 event-code order.
    pub const ALL: [Digit; 16] = [
        Digit::D0,
        Digit::D1,
        Digit::D2,
        Digit::D3,
        Digit::D4,
        Digit::D5,
        Digit::D6,
        Digit::D7,
        Digit::D8,
        Digit::D9,
        Digit::Star,
        Digit::Pound,
        Digit::A,
        Digit::B,
        Digit::C,
        Digit::D,
    ];

    /// The RFC 4733 telephone-event code: 0–9, 10 = `*`, 11 = `#`, 12–15 = A–D.
    pub fn from_event(code: u8) -> Result<Digit, DigitError> {
        Digit::ALL
            .get(code as usize)
            .copied()
            .ok_or(DigitError::NotAnEvent(code))
    }

    pub fn event_code(self) -> u8 {
        Digit::ALL.iter().position(|d| *d == self).unwrap_or(0) as u8
    }

    pub fn from_char(c: char) -> Result<Digit, DigitError> {
        match c {
            '0'..='9' => Ok(Digit::ALL[(c as u8 - b'0') as usize]),
            '*' => Ok(Digit::Star),
            '#' => Ok(Digit::Pound),
            'A' | 'a' => Ok(Digit::A),
            'B' | 'b' => Ok(Digit::B),
            'C' | 'c' => Ok(Digit::C),
            'D' | 'd' => Ok(Digit::D),
            other => Err(DigitError::NotAKey(other)),
        }
    }

    pub fn as_char(self) -> char {
        "0123456789*#ABCD".as_bytes()[self.event_code() as usize] as char
    }

    /// The numeric value of 0–9; `None` for `*`, `#` and A–D.
    pub fn decimal(self) -> Option<u8> {
        let code = self.event_code();
        (code <= 9).then_some(code)
    }
}

impl fmt::Display for Digit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.as_char())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_codes_round_trip() {
        for code in 0..16 {
            assert_eq!(Digit::from_event(code).unwrap().event_code(), code);
        }
        assert_eq!(Digit::from_event(16), Err(DigitError::NotAnEvent(16)));
    }

    #[test]
    fn chars_round_trip() {
        for c in "0123456789*#ABCD".chars() {
            assert_eq!(Digit::from_char(c).unwrap().as_char(), c);
        }
        assert_eq!(Digit::from_event(10).unwrap(), Digit::Star);
        assert_eq!(Digit::from_event(11).unwrap(), Digit::Pound);
        assert!(Digit::from_char('x').is_err());
    }

    #[test]
    fn only_0_to_9_are_decimal() {
        assert_eq!(Digit::D7.decimal(), Some(7));
        assert_eq!(Digit::Pound.decimal(), None);
    }
}
