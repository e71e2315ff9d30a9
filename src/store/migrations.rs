//! The schema migrations of each database, compiled into the binary so `hotline` runs from
//! anywhere. Listed by hand rather than with `sqlx::migrate!` to spare the build sqlx's proc-macro
//! stack: append a line for every new file in `migrations/sqlite/` and `migrations/postgres/`
//! (the two directories keep the same versions, each in its own dialect). Checksums match what
//! `migrate!` would compute.

use std::borrow::Cow;

use sqlx::SqlSafeStr;
use sqlx::migrate::{Migration, MigrationType, Migrator};

use super::Backend;

type Source = (i64, &'static str, &'static str);

const SQLITE: [Source; 5] = [
    (
        1,
        "initial",
        include_str!("../../migrations/sqlite/0001_initial.sql"),
    ),
    (
        2,
        "cluster",
        include_str!("../../migrations/sqlite/0002_cluster.sql"),
    ),
    (
        3,
        "account indexes",
        include_str!("../../migrations/sqlite/0003_account_indexes.sql"),
    ),
    (
        4,
        "audit",
        include_str!("../../migrations/sqlite/0004_audit.sql"),
    ),
    (
        5,
        "cdrs answered at",
        include_str!("../../migrations/sqlite/0005_cdrs_answered_at.sql"),
    ),
];

const POSTGRES: [Source; 5] = [
    (
        1,
        "initial",
        include_str!("../../migrations/postgres/0001_initial.sql"),
    ),
    (
        2,
        "cluster",
        include_str!("../../migrations/postgres/0002_cluster.sql"),
    ),
    (
        3,
        "account indexes",
        include_str!("../../migrations/postgres/0003_account_indexes.sql"),
    ),
    (
        4,
        "audit",
        include_str!("../../migrations/postgres/0004_audit.sql"),
    ),
    (
        5,
        "cdrs answered at",
        include_str!("../../migrations/postgres/0005_cdrs_answered_at.sql"),
    ),
];

/// The migrator for `backend`.
pub(crate) fn for_backend(backend: Backend) -> Migrator {
    up_to(backend, i64::MAX)
}

/// The migrator for `backend`, up to `last_version` (tests start from an older schema).
fn up_to(backend: Backend, last_version: i64) -> Migrator {
    let sources: &[Source] = match backend {
        Backend::Sqlite => &SQLITE,
        Backend::Postgres => &POSTGRES,
    };
    let migrations = sources
        .iter()
        .filter(|(version, _, _)| *version <= last_version)
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Store;
    use crate::store::testing::{TestDatabase, account, key, with_personal_id};

    /// SQLite's 0003 rebuilds `accounts`: every row and its password survive, and the code and
    /// the personal ID stay unique.
    #[tokio::test]
    async fn sqlite_0003_keeps_every_account_and_both_uniqueness_rules() {
        let (_db, url) = TestDatabase::create(Backend::Sqlite).await;
        let store = Store::open(&url).await.unwrap();
        up_to(Backend::Sqlite, 2).run(store.pool()).await.unwrap();
        let held = with_personal_id(account("0123456789", "0912345678"), "001085012345");
        store.add_account(&held).await.unwrap();
        store
            .add_account(&account("1111111111", "0987654321"))
            .await
            .unwrap();
        sqlx::query("UPDATE accounts SET password_hash = 'phc' WHERE code = '0123456789'")
            .execute(store.pool())
            .await
            .unwrap();

        store.migrate().await.unwrap();

        let found = store
            .find_account(&key("001085012345"))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(found.code.as_str(), "0123456789");
        assert!(
            store
                .find_account(&key("1111111111"))
                .await
                .unwrap()
                .is_some()
        );
        let hash: Option<String> =
            sqlx::query_scalar("SELECT password_hash FROM accounts WHERE code = '0123456789'")
                .fetch_one(store.pool())
                .await
                .unwrap();
        assert_eq!(hash.as_deref(), Some("phc"));
        for duplicate in [
            "INSERT INTO accounts (code, phone, registered) VALUES ('0123456789', '+84900000000', 1)",
            "INSERT INTO accounts (code, personal_id, phone, registered) \
             VALUES ('2222222222', '001085012345', '+84900000000', 1)",
        ] {
            let err = sqlx::query(duplicate)
                .execute(store.pool())
                .await
                .unwrap_err();
            assert!(err.to_string().contains("UNIQUE"), "{duplicate}: {err}");
        }
    }
}
