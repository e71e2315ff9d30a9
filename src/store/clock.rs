//! Timestamps as the database keeps them: integer Unix milliseconds, exact on SQLite and PostgreSQL
//! alike and free of time-zone ambiguity. Converted here once, in both directions.

use time::OffsetDateTime;

use super::StoreError;

/// Unix milliseconds of `at`.
pub(crate) fn to_millis(at: OffsetDateTime) -> Result<i64, StoreError> {
    i64::try_from(at.unix_timestamp_nanos() / 1_000_000).map_err(|_| StoreError::TimeOutOfRange)
}

/// The instant `millis` after the Unix epoch, as read from `column`.
pub(crate) fn from_millis(millis: i64, column: &'static str) -> Result<OffsetDateTime, StoreError> {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(millis) * 1_000_000).map_err(|e| {
        StoreError::Corrupt {
            column,
            reason: e.to_string(),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn milliseconds_round_trip_exactly() {
        let at = time::macros::datetime!(2026-11-23 11:52:07.123 UTC);
        let ms = to_millis(at).unwrap();
        assert_eq!(ms, 1_795_434_727_123);
        assert_eq!(from_millis(ms, "at").unwrap(), at);
    }
}
