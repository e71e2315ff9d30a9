//! Everything persistent: accounts, password resets and their limits, CDRs and billing ticks.
//!
//! One SQLite file by default (WAL, `synchronous=NORMAL`), created and migrated on connect; or a
//! PostgreSQL database shared by several nodes. The same SQL runs on both ([`backend`] says what
//! differs: write locks and the database's clock). Queries use `$1` placeholders, integer
//! milliseconds for time, and no type either database lacks.

mod accounts;
mod audit;
#[cfg(test)]
mod audit_tests;
mod backend;
mod billing;
mod cdr;
mod clock;
mod error;
mod export;
mod hasher;
mod health;
mod import;
mod limits;
mod migrations;
mod orphans;
mod pepper;
mod reachability;
mod report;
mod reset;
mod status;
#[cfg(test)]
mod status_tests;
#[cfg(test)]
mod testing;
#[cfg(test)]
mod two_nodes_tests;

use std::path::PathBuf;

use sqlx::AnyPool;

pub use accounts::{Account, NewAccount};
pub use audit::{
    AUDIT_CSV_HEADER, AuditFilter, AuditTopBy, AuditTopLine, VerificationRecord, VerificationResult,
};
pub use backend::{Backend, DatabaseUrl, redact_credentials};
pub use billing::{amount, billed_minutes};
pub use cdr::{CdrRow, NewCdr};
pub use error::StoreError;
pub use export::{CDR_CSV_HEADER, ExportError};
pub use hasher::{HashError, Hasher};
pub use import::{
    IMPORT_CSV_HEADER, ImportError, ImportObserver, ImportProgress, ImportReport, ImportTotals,
    ProgressReporter, RowError, progress_line, thousands,
};
pub use limits::Limits;
pub use pepper::{MIN_PEPPER_LEN, Pepper, PepperSource, pepper_path};
pub use report::{Period, ReportGroup, ReportLine, fold_open_calls};
pub use reset::ResetResult;
pub use status::{Amount, DayBilling, HourFigures, STATUS_HOURS, StatusFigures};

/// A handle on the database, cheap to clone (it is a connection pool).
#[derive(Clone, Debug)]
pub struct Store {
    pool: AnyPool,
    url: DatabaseUrl,
}

impl Store {
    /// Opens the database at `url`, creating the SQLite file if it is missing, and brings its
    /// schema up to date.
    ///
    /// `sqlite://hotline.db`, `sqlite:path/to.db`, `sqlite::memory:` and
    /// `postgres://USER:PASS@HOST:PORT/DB` are understood.
    pub async fn connect(url: &str) -> Result<Store, StoreError> {
        let store = Store::open(url).await?;
        store.migrate().await?;
        Ok(store)
    }

    /// Opens the database without migrating it.
    pub async fn open(url: &str) -> Result<Store, StoreError> {
        let target = DatabaseUrl::parse(url)?;
        let pool = target
            .connect_pool()
            .await
            .map_err(|source| StoreError::Open {
                database: target.redacted(),
                reason: redact_credentials(&source.to_string()),
            })?;
        Ok(Store { pool, url: target })
    }

    /// Applies every migration not yet applied (what `hotline db migrate` runs). Several nodes
    /// starting at once are safe: the migrator holds a lock while it works.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        migrations::for_backend(self.backend())
            .run(&self.pool)
            .await?;
        Ok(())
    }

    /// Closes every connection (checkpointing SQLite's WAL).
    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// Which database this is.
    pub fn backend(&self) -> Backend {
        self.url.backend()
    }

    /// The database this store opened (its `Debug` hides the password).
    pub fn url(&self) -> &DatabaseUrl {
        &self.url
    }

    /// The pool, for this module's operations.
    pub(crate) fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// Begins a read-then-write transaction that no other writer on `locks` interleaves with.
    pub(crate) async fn begin_write(
        &self,
        locks: &[backend::LockKey<'_>],
    ) -> Result<sqlx::Transaction<'static, sqlx::Any>, StoreError> {
        backend::begin_write(&self.pool, self.backend(), locks).await
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

#[cfg(test)]
mod tests {
    /// Every table the migrations make, by name.
    const TABLES: [&str; 5] = [
        "accounts",
        "attempts",
        "billing_ticks",
        "cdrs",
        "verifications",
    ];

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
        assert_eq!(names, TABLES);
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
    async fn a_database_that_cannot_be_reached_is_named_without_its_password() {
        // Port 9 (discard) on loopback: nothing listens, the connection is refused at once.
        let err = Store::connect("postgres://hotline:s3cret@127.0.0.1:9/hotline")
            .await
            .unwrap_err();
        let message = err.to_string();
        assert!(matches!(err, StoreError::Open { .. }), "{message}");
        assert!(
            message.contains("postgres://hotline:…@127.0.0.1:9/hotline"),
            "{message}"
        );
        assert!(!message.contains("s3cret"), "{message}");
    }

    /// Both schemas have the same tables after migrating, and migrating again changes nothing.
    async fn migrations_make_the_same_tables_on_both_databases(store: Store) {
        let sql = match store.backend() {
            Backend::Sqlite => {
                "SELECT name FROM sqlite_master WHERE type = 'table' \
                 AND name NOT LIKE '\\_%' ESCAPE '\\' ORDER BY name"
            }
            Backend::Postgres => {
                "SELECT CAST(table_name AS TEXT) FROM information_schema.tables \
                 WHERE table_schema = 'public' AND table_name NOT LIKE '\\_%' ORDER BY 1"
            }
        };
        let tables: Vec<(String,)> = sqlx::query_as(sql).fetch_all(store.pool()).await.unwrap();
        let names: Vec<&str> = tables.iter().map(|(n,)| n.as_str()).collect();
        assert_eq!(names, TABLES);
        store.migrate().await.unwrap();
        let (applied,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM _sqlx_migrations")
            .fetch_one(store.pool())
            .await
            .unwrap();
        assert_eq!(applied, 5);
    }

    testing::on_both_databases!(migrations_make_the_same_tables_on_both_databases);

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
