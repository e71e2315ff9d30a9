use std::fmt;

use rand::RngExt;
use zeroize::Zeroizing;

use super::Digit;

/// A new six-digit password in clear. It lives only in memory, between generation and the clip that
/// speaks its last digit; the buffer is wiped on drop and `Debug` never shows the digits, so it cannot
/// leak through a log line, an error or a panic message.
pub struct Password(Zeroizing<[u8; Password::LEN]>);

impl Password {
    pub const LEN: usize = 6;

    /// Six digits from the operating system's CSPRNG.
    pub fn generate() -> Password {
        let mut rng = rand::rand_core::UnwrapErr(rand::rngs::SysRng);
        let mut digits = Zeroizing::new([0u8; Password::LEN]);
        for d in digits.iter_mut() {
            *d = rng.random_range(0..10u8);
        }
        Password(digits)
    }

    /// Builds a password from keyed digits (the admin `check-password` command); `None` unless
    /// exactly six decimal digits.
    pub fn from_digits(text: &str) -> Option<Password> {
        let mut digits = Zeroizing::new([0u8; Password::LEN]);
        if text.len() != Password::LEN {
            return None;
        }
        for (slot, c) in digits.iter_mut().zip(text.chars()) {
            *slot = c.to_digit(10)? as u8;
        }
        Some(Password(digits))
    }

    /// The digits to speak, in order.
    pub fn digits(&self) -> [Digit; Password::LEN] {
        self.0.map(|d| Digit::ALL[d as usize])
    }

    /// The ASCII form, for hashing only; wiped when dropped.
    pub fn expose_ascii(&self) -> Zeroizing<[u8; Password::LEN]> {
        Zeroizing::new(self.0.map(|d| b'0' + d))
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(******)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_passwords_are_six_decimal_digits() {
        for _ in 0..100 {
            let p = Password::generate();
            assert!(p.digits().iter().all(|d| d.decimal().is_some()));
            assert!(p.expose_ascii().iter().all(u8::is_ascii_digit));
        }
    }

    #[test]
    fn generated_passwords_differ() {
        let a: Vec<_> = (0..20)
            .map(|_| *Password::generate().expose_ascii())
            .collect();
        let distinct: std::collections::HashSet<_> = a.iter().collect();
        assert!(distinct.len() > 15, "CSPRNG output repeats: {distinct:?}");
    }

    #[test]
    fn debug_hides_the_digits() {
        let p = Password::from_digits("279419").unwrap();
        assert_eq!(format!("{p:?}"), "Password(******)");
        assert_eq!(&*p.expose_ascii(), b"279419");
    }

    #[test]
    fn from_digits_wants_exactly_six_decimals() {
        assert!(Password::from_digits("12345").is_none());
        assert!(Password::from_digits("1234567").is_none());
        assert!(Password::from_digits("12345a").is_none());
    }
}
