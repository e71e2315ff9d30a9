use std::fmt;

/// Mã số BHXH: the 10-digit social-insurance code. It has no public check digit, so only the
/// length and the digits are validated; the database decides whether it exists.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct InsuranceCode(String);

/// Mã định danh cá nhân: the 12-digit personal identification number, used in place of the
/// insurance code on records created since 1 August 2025.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct PersonalId(String);

/// What a caller keys to name their account: either of the two identifiers, told apart by length.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum AccountKey {
    Code(InsuranceCode),
    PersonalId(PersonalId),
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AccountKeyError {
    #[error("must contain digits only")]
    NotDigits,
    #[error("must be {expected} digits, got {got}")]
    WrongLength { expected: &'static str, got: usize },
}

fn digits_of_length(
    text: &str,
    len: usize,
    expected: &'static str,
) -> Result<String, AccountKeyError> {
    if !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(AccountKeyError::NotDigits);
    }
    if text.len() != len {
        return Err(AccountKeyError::WrongLength {
            expected,
            got: text.len(),
        });
    }
    Ok(text.to_owned())
}

impl InsuranceCode {
    pub const LEN: usize = 10;

    pub fn parse(text: &str) -> Result<InsuranceCode, AccountKeyError> {
        digits_of_length(text.trim(), Self::LEN, "10").map(InsuranceCode)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl PersonalId {
    pub const LEN: usize = 12;

    pub fn parse(text: &str) -> Result<PersonalId, AccountKeyError> {
        digits_of_length(text.trim(), Self::LEN, "12").map(PersonalId)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl AccountKey {
    /// Reads a keyed entry: 10 digits are an insurance code, 12 a personal ID, anything else is refused.
    pub fn parse(text: &str) -> Result<AccountKey, AccountKeyError> {
        let text = text.trim();
        if !text.bytes().all(|b| b.is_ascii_digit()) {
            return Err(AccountKeyError::NotDigits);
        }
        match text.len() {
            InsuranceCode::LEN => Ok(AccountKey::Code(InsuranceCode(text.to_owned()))),
            PersonalId::LEN => Ok(AccountKey::PersonalId(PersonalId(text.to_owned()))),
            got => Err(AccountKeyError::WrongLength {
                expected: "10 or 12",
                got,
            }),
        }
    }

    pub fn as_str(&self) -> &str {
        match self {
            AccountKey::Code(c) => c.as_str(),
            AccountKey::PersonalId(p) => p.as_str(),
        }
    }
}

impl fmt::Display for InsuranceCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Display for PersonalId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Display for AccountKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ten_digits_are_an_insurance_code_twelve_a_personal_id() {
        assert!(matches!(
            AccountKey::parse("0123456789"),
            Ok(AccountKey::Code(_))
        ));
        assert!(matches!(
            AccountKey::parse("001085012345"),
            Ok(AccountKey::PersonalId(_))
        ));
    }

    #[test]
    fn other_lengths_and_non_digits_are_refused() {
        assert_eq!(
            AccountKey::parse("012345678"),
            Err(AccountKeyError::WrongLength {
                expected: "10 or 12",
                got: 9
            })
        );
        assert_eq!(
            AccountKey::parse("01234567890"),
            Err(AccountKeyError::WrongLength {
                expected: "10 or 12",
                got: 11
            })
        );
        assert_eq!(
            AccountKey::parse("01234x6789"),
            Err(AccountKeyError::NotDigits)
        );
        assert!(InsuranceCode::parse("001085012345").is_err());
        assert!(PersonalId::parse("0123456789").is_err());
    }
}
