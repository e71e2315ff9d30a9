use std::fmt;

use time::UtcOffset;
use time::macros::format_description;

/// The offset from UTC of the operator's local time (`billing.utc_offset`, `+07:00` in Vietnam,
/// which keeps no daylight saving time): where a billing day starts in `hotline cdr report` and
/// on the status page. CDRs themselves are kept and exported in UTC.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct LocalOffset(UtcOffset);

/// Why an offset was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not an offset from UTC (-12:00 to +14:00) like \"+07:00\" or \"-05:30\"")]
pub struct LocalOffsetError(String);

impl LocalOffset {
    /// Vietnam's.
    pub const VIETNAM: LocalOffset = LocalOffset(match UtcOffset::from_hms(7, 0, 0) {
        Ok(offset) => offset,
        Err(_) => UtcOffset::UTC,
    });

    pub fn parse(raw: &str) -> Result<LocalOffset, LocalOffsetError> {
        let format = format_description!("[offset_hour sign:mandatory]:[offset_minute]");
        // Civil time zones span -12:00 to +14:00; `time` alone would take up to ±25:59.
        let civil = -12 * 3600..=14 * 3600;
        UtcOffset::parse(raw.trim(), format)
            .ok()
            .filter(|offset| civil.contains(&offset.whole_seconds()))
            .map(LocalOffset)
            .ok_or_else(|| LocalOffsetError(raw.to_owned()))
    }

    pub fn get(self) -> UtcOffset {
        self.0
    }

    /// Seconds east of UTC.
    pub fn whole_seconds(self) -> i32 {
        self.0.whole_seconds()
    }
}

impl Default for LocalOffset {
    fn default() -> LocalOffset {
        LocalOffset::VIETNAM
    }
}

impl TryFrom<String> for LocalOffset {
    type Error = LocalOffsetError;

    fn try_from(raw: String) -> Result<LocalOffset, LocalOffsetError> {
        LocalOffset::parse(&raw)
    }
}

impl From<LocalOffset> for String {
    fn from(offset: LocalOffset) -> String {
        offset.to_string()
    }
}

impl fmt::Display for LocalOffset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (hours, minutes, _) = self.0.as_hms();
        let sign = if self.0.is_negative() { '-' } else { '+' };
        write!(f, "{sign}{:02}:{:02}", hours.abs(), minutes.abs())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_parse_and_print_alike_and_odd_text_is_refused() {
        for text in ["+07:00", "-05:30", "+00:00", "+05:45"] {
            assert_eq!(LocalOffset::parse(text).unwrap().to_string(), text);
        }
        assert_eq!(
            LocalOffset::parse("+07:00").unwrap().whole_seconds(),
            7 * 3600
        );
        assert_eq!(
            LocalOffset::default(),
            LocalOffset::parse("+07:00").unwrap()
        );
        for bad in ["7", "07:00", "+7:00", "+25:00", "UTC", ""] {
            let err = LocalOffset::parse(bad).unwrap_err();
            assert!(err.to_string().contains("like \"+07:00\""), "{bad}: {err}");
        }
    }
}
