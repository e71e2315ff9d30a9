//! The store's one error type. Messages name what failed, never the values involved: no password,
//! hash, insurance code or personal ID can reach a log line through a `StoreError`, and a
//! database URL appears only with its password cut out.

/// What went wrong talking to the database, or reading what it holds.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(
        "database URL {url:?} is not supported: use sqlite://FILE or postgres://USER:PASS@HOST:PORT/DB"
    )]
    UnsupportedDatabase { url: String },
    #[error("database URL {url:?} is invalid: {reason}")]
    BadUrl { url: String, reason: String },
    #[error("cannot open the database {database}: {reason}")]
    Open { database: String, reason: String },
    #[error("cannot migrate the database: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// The personal ID given for an account is already recorded on a different account.
    #[error("this personal ID already belongs to another account")]
    PersonalIdTaken,
    /// A stored value no longer parses (edited by hand, or written by a newer version).
    #[error("stored {column} does not parse: {reason}")]
    Corrupt {
        column: &'static str,
        reason: String,
    },
    #[error("password hashing failed: {0}")]
    Hash(#[from] super::hasher::HashError),
    #[error("a timestamp is out of range for the database")]
    TimeOutOfRange,
}
