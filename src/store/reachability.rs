//! Which store errors mean "the database cannot be reached" (stop taking calls) rather than
//! "this one query failed" (a busy lock, a bad row): the node's admission gate closes on the
//! first kind only.

use super::StoreError;

/// SQLite primary result codes (the low byte of an extended code) that mean the file itself
/// cannot be used: SQLITE_IOERR (10) and SQLITE_CANTOPEN (14). SQLITE_BUSY (5) is not one: a
/// lock held a little too long is contention, and the next query may well succeed.
const SQLITE_UNREACHABLE: [u32; 2] = [10, 14];

/// PostgreSQL SQLSTATEs that mean the server or the connection is gone or refuses us: class 08
/// (connection exception), 57P01–57P03 (admin/crash shutdown, cannot connect now) and 53300 (too
/// many connections).
const POSTGRES_UNREACHABLE: [&str; 4] = ["57P01", "57P02", "57P03", "53300"];

impl StoreError {
    /// Whether this error says the database cannot be reached at all (the connection, the
    /// server or the file is gone), as opposed to one query failing on a database that is there.
    pub fn is_unreachable(&self) -> bool {
        match self {
            StoreError::Open { .. } => true,
            StoreError::Database(error) => sqlx_error_is_unreachable(error),
            _ => false,
        }
    }
}

fn sqlx_error_is_unreachable(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::Protocol(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(db) => db.code().is_some_and(|code| code_is_unreachable(&code)),
        _ => false,
    }
}

/// A driver's error code: PostgreSQL gives a five-character SQLSTATE (which may be all digits,
/// like 08006), SQLite its extended result code as a number of at most four digits.
fn code_is_unreachable(code: &str) -> bool {
    if code.len() == 5 {
        return code.starts_with("08") || POSTGRES_UNREACHABLE.contains(&code);
    }
    code.parse::<u32>()
        .is_ok_and(|sqlite| SQLITE_UNREACHABLE.contains(&(sqlite & 0xff)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Store;

    #[tokio::test]
    async fn a_working_database_answers_a_ping_and_a_closed_pool_does_not() {
        let store = Store::connect("sqlite::memory:").await.unwrap();
        store.ping().await.unwrap();
        store.close().await;
        let error = store.ping().await.unwrap_err();
        assert!(error.is_unreachable(), "{error}");
    }

    #[test]
    fn lost_connections_are_unreachable_and_query_failures_are_not() {
        let io = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused");
        assert!(StoreError::Database(sqlx::Error::Io(io)).is_unreachable());
        assert!(StoreError::Database(sqlx::Error::PoolTimedOut).is_unreachable());
        assert!(!StoreError::Database(sqlx::Error::RowNotFound).is_unreachable());
        assert!(!StoreError::TimeOutOfRange.is_unreachable());
    }

    #[test]
    fn driver_codes_are_read_for_both_databases() {
        let unreachable = code_is_unreachable;
        assert!(unreachable("14"), "SQLITE_CANTOPEN");
        assert!(unreachable("266"), "SQLITE_IOERR_READ (10 | 1 << 8)");
        assert!(!unreachable("5"), "SQLITE_BUSY is contention");
        assert!(!unreachable("2067"), "SQLITE_CONSTRAINT_UNIQUE");
        assert!(unreachable("08006"), "connection failure");
        assert!(unreachable("57P01"), "admin shutdown");
        assert!(!unreachable("23505"), "unique violation");
    }
}
