//! Everything persistent: accounts, password resets and their limits, CDRs and billing ticks.
//!
//! One SQLite file by default (WAL, `synchronous=NORMAL`), created and migrated on connect.
//! Every transaction that reads and then writes starts with `BEGIN IMMEDIATE`: under WAL a plain
//! `BEGIN` takes its write lock only at the first write, and that lock upgrade fails at once with
//! "database is locked" instead of waiting out `busy_timeout` (see DEPENDENCIES.md). Queries use
//! `$1` placeholders, which PostgreSQL also understands, so the PostgreSQL port is a matter of a
//! second pool type and `migrations/postgres/`.

mod accounts;
mod billing;
mod cdr;
mod clock;
mod error;
mod export;
mod hasher;
mod health;
mod import;
mod limits;
mod pepper;
mod reachability;
mod reset;
#[cfg(test)]
mod testing;

use std::borrow::Cow;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use sqlx::migrate::{Migration, MigrationType, Migrator};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{SqlSafeStr, SqlitePool};

pub use accounts::{Account, NewAccount};
pub use billing::{amount, billed_minutes};
pub use cdr::{CdrRow, NewCdr};
pub use error::StoreError;
pub use export::{CDR_CSV_HEADER, ExportError};
pub use hasher::{HashError, Hasher};
pub use import::{IMPORT_CSV_HEADER, ImportError, ImportReport, RowError};
pub use limits::Limits;
pub use pepper::{MIN_PEPPER_LEN, Pepper, PepperError, PepperSource, pepper_path};
pub use reset::ResetResult;

/// How long a connection waits for another writer before giving up with "database is locked".
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Connections in the pool. SQLite has one writer at a time whatever this says; the rest read
/// concurrently under WAL.
const MAX_CONNECTIONS: u32 = 8;

/// The SQLite migrations, compiled into the binary so `hotline` runs from anywhere. Listed by hand
/// rather than with `sqlx::migrate!` to spare the build sqlx's proc-macro stack; append a line
/// here for every new file in `migrations/sqlite/`. Checksums match what `migrate!` would compute.
const SQLITE_MIGRATIONS: [(i64, &str, &str); 1] = [(
    1,
    "initial",
    include_str!("../../migrations/sqlite/0001_initial.sql"),
)];

/// A handle on the database, cheap to clone (it is a connection pool).
#[derive(Clone, Debug)]
pub struct Store {
    pool: SqlitePool,
}

impl Store {
    /// Opens the database at `url`, creating the SQLite file if it is missing, and brings its
    /// schema up to date.
    ///
    /// `sqlite://hotline.db`, `sqlite:path/to.db` and `sqlite::memory:` are understood;
    /// `postgres://` is refused with [`StoreError::UnsupportedDatabase`] for now.
    pub async fn connect(url: &str) -> Result<Store, StoreError> {
        let store = Store::open(url).await?;
        store.migrate().await?;
        Ok(store)
    }

    /// Opens the database without migrating it.
    pub async fn open(url: &str) -> Result<Store, StoreError> {
        let target = DatabaseUrl::parse(url)?;
        let options = target
            .options
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(BUSY_TIMEOUT)
            .foreign_keys(true);
        // An in-memory database lives as long as its connections: keep exactly one, forever.
        let pool_options = if target.path.is_none() {
            SqlitePoolOptions::new()
                .max_connections(1)
                .min_connections(1)
                .idle_timeout(None)
                .max_lifetime(None)
        } else {
            SqlitePoolOptions::new().max_connections(MAX_CONNECTIONS)
        };
        let pool = pool_options
            .connect_with(options)
            .await
            .map_err(|source| StoreError::Open {
                path: target.path.unwrap_or_else(|| PathBuf::from(":memory:")),
                source,
            })?;
        Ok(Store { pool })
    }

    /// Applies every migration not yet applied (what `hotline db migrate` runs).
    pub async fn migrate(&self) -> Result<(), StoreError> {
        let migrations = SQLITE_MIGRATIONS
            .iter()
            .map(|&(version, description, sql)| {
                Migration::new(
                    version,
                    Cow::Borrowed(description),
                    MigrationType::Simple,
                    sql.into_sql_str(),
                    false,
                )
            })
            .collect();
        Migrator::with_migrations(migrations)
            .run(&self.pool)
            .await?;
        Ok(())
    }

    /// Closes every connection, checkpointing the WAL.
    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// The pool, for this module's operations.
    pub(crate) fn pool(&self) -> &SqlitePool {
        &self.pool
    }
}

/// A database URL read once at the edge.
struct DatabaseUrl {
    options: SqliteConnectOptions,
    /// The database file, or `None` for an in-memory database.
    path: Option<PathBuf>,
}

impl DatabaseUrl {
    fn parse(url: &str) -> Result<DatabaseUrl, StoreError> {
        if !url.starts_with("sqlite:") {
            return Err(StoreError::UnsupportedDatabase {
                url: redact_credentials(url),
            });
        }
        let options = SqliteConnectOptions::from_str(url).map_err(|source| StoreError::BadUrl {
            url: url.to_owned(),
            source,
        })?;
        let path = sqlite_path(url);
        Ok(DatabaseUrl { options, path })
    }
}

/// The file a `sqlite:` URL names, or `None` when it is in memory (or not a SQLite URL).
/// The pepper file lives beside it.
pub fn sqlite_path(url: &str) -> Option<PathBuf> {
    let rest = url.strip_prefix("sqlite:")?;
    let rest = rest.strip_prefix("//").unwrap_or(rest);
    let (path, params) = rest.split_once('?').unwrap_or((rest, ""));
    let in_memory = path == ":memory:" || params.split('&').any(|p| p == "mode=memory");
    (!in_memory && !path.is_empty()).then(|| PathBuf::from(path))
}

/// `scheme://user:secret@host/db` → `scheme://…@host/db`, so an error never shows a password.
fn redact_credentials(url: &str) -> String {
    match (url.split_once("://"), url.rsplit_once('@')) {
        (Some((scheme, _)), Some((_, host))) => format!("{scheme}://…@{host}"),
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::testing;

    #[tokio::test]
    async fn connect_creates_and_migrates_the_database_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("new.db");
        let store = Store::connect(&format!("sqlite://{}", path.display()))
            .await
            .unwrap();
        assert!(path.exists());
        let tables: Vec<(String,)> =
            sqlx::query_as("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE '\\_%' ESCAPE '\\' ORDER BY name")
                .fetch_all(store.pool())
                .await
                .unwrap();
        let names: Vec<&str> = tables.iter().map(|(n,)| n.as_str()).collect();
        assert_eq!(names, ["accounts", "attempts", "billing_ticks", "cdrs"]);
        let (mode,): (String,) = sqlx::query_as("PRAGMA journal_mode")
            .fetch_one(store.pool())
            .await
            .unwrap();
        assert_eq!(mode, "wal");
        store.migrate().await.unwrap();
        store.close().await;
        // Reopening an up-to-date database applies nothing and fails nothing.
        Store::connect(&format!("sqlite:{}", path.display()))
            .await
            .unwrap();
    }

    #[tokio::test]
    async fn an_in_memory_database_works() {
        let store = Store::connect("sqlite::memory:").await.unwrap();
        let account = testing::account("0123456789", "0912345678");
        store.add_account(&account).await.unwrap();
        assert!(
            store
                .find_account(&testing::key("0123456789"))
                .await
                .unwrap()
                .is_some()
        );
    }

    #[tokio::test]
    async fn postgres_is_refused_clearly_without_showing_credentials() {
        let err = Store::connect("postgres://hotline:s3cret@db.example/hotline")
            .await
            .unwrap_err();
        let message = err.to_string();
        assert!(matches!(err, StoreError::UnsupportedDatabase { .. }));
        assert!(message.contains("not supported yet"), "{message}");
        assert!(!message.contains("s3cret"), "{message}");
    }

    #[test]
    fn the_database_file_is_found_in_every_sqlite_url_form() {
        assert_eq!(
            sqlite_path("sqlite://hotline.db"),
            Some(PathBuf::from("hotline.db"))
        );
        assert_eq!(
            sqlite_path("sqlite:///var/lib/h.db?mode=rwc"),
            Some(PathBuf::from("/var/lib/h.db"))
        );
        assert_eq!(
            sqlite_path("sqlite:data/h.db"),
            Some(PathBuf::from("data/h.db"))
        );
        assert_eq!(sqlite_path("sqlite::memory:"), None);
        assert_eq!(sqlite_path("sqlite://h.db?mode=memory"), None);
        assert_eq!(sqlite_path("postgres://host/db"), None);
    }
}
