//! The two databases the store runs on, and the few things that differ between them.
//!
//! Every query is the same SQL text on both (sqlx's `any` driver, `$1` placeholders, integer
//! milliseconds for time). What differs is how a read-then-write transaction keeps concurrent
//! writers out, and how to read the database's own clock:
//!
//! - **SQLite** has one writer at a time. `BEGIN IMMEDIATE` takes the write lock at once: under
//!   WAL a plain `BEGIN` takes it at the first write, and that lock upgrade fails with "database
//!   is locked" instead of waiting out `busy_timeout` (see DEPENDENCIES.md).
//! - **PostgreSQL** serves several nodes at once. A transaction that counts attempts and then
//!   records one must not interleave with another doing the same for the same caller or code on
//!   another node, or both could slip under a limit. It takes a transaction-scoped advisory lock
//!   on each thing it counts (the caller, the keyed code, the account), always in the same order,
//!   so two such transactions wait for each other and never deadlock; unrelated callers never wait.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{AnyPool, Executor};

use super::StoreError;

/// Which database a URL names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Backend::Sqlite => "SQLite",
            Backend::Postgres => "PostgreSQL",
        })
    }
}

/// How long a SQLite connection waits for another writer before giving up with "database is locked".
const SQLITE_BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Connections in a pool. SQLite has one writer at a time whatever this says; the rest read
/// concurrently under WAL. A PostgreSQL server is shared by every node: a few each is plenty for
/// the short transactions of a call.
const MAX_CONNECTIONS: u32 = 8;

/// How long a request waits for a connection before failing (the caller then hears "system busy",
/// and a database that does not answer shows up quickly rather than after sqlx's 30 s default).
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);

/// A database URL read once at the edge.
#[derive(Clone)]
pub struct DatabaseUrl {
    backend: Backend,
    url: String,
}

impl DatabaseUrl {
    /// `sqlite://file.db`, `sqlite:path/to.db`, `sqlite::memory:`, or
    /// `postgres://USER:PASS@HOST:PORT/DB` (`postgresql://` too). A SQLite file is created when missing.
    pub fn parse(url: &str) -> Result<DatabaseUrl, StoreError> {
        let backend = if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Backend::Postgres
        } else {
            return Err(StoreError::UnsupportedDatabase {
                url: redact_credentials(url),
            });
        };
        let url = match backend {
            Backend::Sqlite if !url.contains("mode=") && super::sqlite_path(url).is_some() => {
                // Create the file when it is missing, as the README's first run expects.
                let separator = if url.contains('?') { '&' } else { '?' };
                format!("{url}{separator}mode=rwc")
            }
            _ => url.to_owned(),
        };
        AnyConnectOptions::from_str(&url).map_err(|source| StoreError::BadUrl {
            url: redact_credentials(&url),
            reason: redact_credentials(&source.to_string()),
        })?;
        Ok(DatabaseUrl { backend, url })
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The whole URL, password included: only for opening another connection to the database
    /// (the PostgreSQL import's native connection for COPY, the tests' admin connections).
    pub(crate) fn expose(&self) -> &str {
        &self.url
    }

    /// The URL without its password, for messages.
    pub fn redacted(&self) -> String {
        redact_credentials(&self.url)
    }

    /// Opens a pool on this database, set up for the store.
    pub(crate) async fn connect_pool(&self) -> Result<AnyPool, sqlx::Error> {
        sqlx::any::install_default_drivers();
        let in_memory = self.backend == Backend::Sqlite && super::sqlite_path(&self.url).is_none();
        let options = if in_memory {
            // An in-memory database lives as long as its connections: keep exactly one, forever.
            AnyPoolOptions::new()
                .max_connections(1)
                .min_connections(1)
                .idle_timeout(None)
                .max_lifetime(None)
        } else {
            AnyPoolOptions::new().max_connections(MAX_CONNECTIONS)
        };
        let backend = self.backend;
        options
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .after_connect(move |conn, _meta| {
                Box::pin(async move {
                    if backend == Backend::Sqlite {
                        conn.execute(sqlx::AssertSqlSafe(sqlite_pragmas())).await?;
                    }
                    Ok(())
                })
            })
            .connect(&self.url)
            .await
    }
}

/// Debug shows the URL without its password: a config dump or an error may print it.
impl fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("DatabaseUrl")
            .field(&self.redacted())
            .finish()
    }
}

/// Per-connection SQLite settings: write-ahead log (readers never wait for the writer),
/// `synchronous=NORMAL` (durable at every checkpoint, a power cut loses at most the last
/// transactions, never corrupts), a wait for the write lock, and foreign keys enforced.
fn sqlite_pragmas() -> String {
    format!(
        "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA busy_timeout = {}; \
         PRAGMA foreign_keys = ON;",
        SQLITE_BUSY_TIMEOUT.as_millis()
    )
}

impl Backend {
    /// The SQL expression for the database's clock in Unix milliseconds: time that decides
    /// something across nodes is read from the one clock they share.
    pub(crate) fn now_millis_sql(self) -> &'static str {
        match self {
            Backend::Sqlite => "CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)",
            Backend::Postgres => "CAST(EXTRACT(EPOCH FROM clock_timestamp()) * 1000 AS BIGINT)",
        }
    }
}

/// What a read-then-write transaction counts, and so must not count concurrently elsewhere.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum LockKey<'a> {
    Caller(&'a str),
    Keyed(&'a str),
    Account(&'a str),
}

impl LockKey<'_> {
    fn text(&self) -> String {
        match self {
            LockKey::Caller(number) => format!("caller:{number}"),
            LockKey::Keyed(key) => format!("keyed:{key}"),
            LockKey::Account(code) => format!("account:{code}"),
        }
    }
}

/// Begins a transaction that may read, decide and write without another writer interleaving on
/// the same `locks` (see the module documentation).
pub(crate) async fn begin_write(
    pool: &AnyPool,
    backend: Backend,
    locks: &[LockKey<'_>],
) -> Result<sqlx::Transaction<'static, sqlx::Any>, StoreError> {
    match backend {
        Backend::Sqlite => Ok(pool.begin_with("BEGIN IMMEDIATE").await?),
        Backend::Postgres => {
            let mut tx = pool.begin().await?;
            let mut keys: Vec<String> = locks.iter().map(LockKey::text).collect();
            keys.sort();
            keys.dedup();
            for key in keys {
                sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))")
                    .bind(key)
                    .execute(&mut *tx)
                    .await?;
            }
            Ok(tx)
        }
    }
}

/// `scheme://user:secret@host/db` → `scheme://user:…@host/db`, so a message never shows a
/// password. Works on any text that contains such a URL (a driver's error message, say).
pub fn redact_credentials(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(scheme_end) = rest.find("://") {
        let (head, tail) = rest.split_at(scheme_end + 3);
        out.push_str(head);
        let authority_end = tail.find(['/', ' ', '"', '\'', '?']).unwrap_or(tail.len());
        let authority = &tail[..authority_end];
        match authority.rsplit_once('@') {
            Some((userinfo, host)) => {
                let user = userinfo.split_once(':').map_or(userinfo, |(user, _)| user);
                out.push_str(user);
                if userinfo.contains(':') {
                    out.push_str(":…");
                }
                out.push('@');
                out.push_str(host);
            }
            None => out.push_str(authority),
        }
        rest = &tail[authority_end..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_cut_from_urls_and_from_text_that_holds_them() {
        assert_eq!(
            redact_credentials("postgres://hotline:s3cret@db.example:5432/hotline"),
            "postgres://hotline:…@db.example:5432/hotline"
        );
        assert_eq!(
            redact_credentials("bad URL \"postgresql://u:p@ss@h/db?sslmode=x\": oops"),
            "bad URL \"postgresql://u:…@h/db?sslmode=x\": oops"
        );
        assert_eq!(redact_credentials("postgres://h/db"), "postgres://h/db");
        assert_eq!(
            redact_credentials("postgres://only-user@h/db"),
            "postgres://only-user@h/db"
        );
        assert_eq!(
            redact_credentials("sqlite://hotline.db"),
            "sqlite://hotline.db"
        );
    }

    #[test]
    fn urls_name_their_backend_and_unknown_schemes_are_refused_without_secrets() {
        let pg = DatabaseUrl::parse("postgres://u:pw@127.0.0.1:5432/db").unwrap();
        assert_eq!(pg.backend(), Backend::Postgres);
        assert!(!format!("{pg:?}").contains("pw"));
        assert_eq!(
            DatabaseUrl::parse("sqlite::memory:").unwrap().backend(),
            Backend::Sqlite
        );
        let err = DatabaseUrl::parse("mysql://root:hunter2@db/x").unwrap_err();
        assert!(matches!(err, StoreError::UnsupportedDatabase { .. }));
        assert!(!err.to_string().contains("hunter2"), "{err}");
    }

    #[test]
    fn a_sqlite_file_is_created_when_missing_unless_the_url_says_otherwise() {
        assert_eq!(
            DatabaseUrl::parse("sqlite://h.db").unwrap().url,
            "sqlite://h.db?mode=rwc"
        );
        assert_eq!(
            DatabaseUrl::parse("sqlite://h.db?mode=ro").unwrap().url,
            "sqlite://h.db?mode=ro"
        );
        assert_eq!(
            DatabaseUrl::parse("sqlite::memory:").unwrap().url,
            "sqlite::memory:"
        );
    }

    #[test]
    fn lock_keys_of_different_kinds_never_collide_as_text() {
        assert_ne!(
            LockKey::Keyed("0123456789").text(),
            LockKey::Account("0123456789").text()
        );
    }
}
