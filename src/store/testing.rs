//! Helpers shared by the store's tests: a migrated database of either kind, and accounts and
//! instants built from short literals.
//!
//! A store test is written once, as `async fn name(store: Store)`, and listed in
//! [`on_both_databases!`], which runs it on a fresh SQLite file (`name::sqlite`) and on a fresh
//! PostgreSQL database (`name::postgres`, see build.rs for when it runs).

use std::future::Future;

use tempfile::TempDir;
use time::OffsetDateTime;

use super::{Backend, NewAccount, NewCdr, Store};
use crate::domain::{AccountKey, CallId, InsuranceCode, NodeId, PersonalId, PhoneNumber};

/// The environment variable naming a PostgreSQL server for tests (an admin URL).
pub(crate) const POSTGRES_URL_VAR: &str = "POSTGRES_TEST_URL";

/// Runs `test` on a fresh, migrated database of `backend`, then drops a PostgreSQL one.
pub(crate) async fn run_on<F, Fut>(backend: Backend, test: F)
where
    F: FnOnce(Store) -> Fut,
    Fut: Future<Output = ()>,
{
    let (database, store) = fresh_store(backend).await;
    test(store.clone()).await;
    store.close().await;
    database.remove().await;
}

/// A database made for one test.
pub(crate) enum TestDatabase {
    /// The directory lives as long as the test; it is removed when dropped.
    Sqlite {
        _dir: TempDir,
    },
    Postgres {
        admin_url: String,
        name: String,
    },
}

impl TestDatabase {
    /// A new empty database; its URL.
    pub(crate) async fn create(backend: Backend) -> (TestDatabase, String) {
        match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().unwrap();
                let url = format!("sqlite://{}", dir.path().join("hotline.db").display());
                (TestDatabase::Sqlite { _dir: dir }, url)
            }
            Backend::Postgres => {
                let admin_url = std::env::var(POSTGRES_URL_VAR).unwrap_or_else(|_| {
                    panic!("{POSTGRES_URL_VAR} must name a PostgreSQL server for this test")
                });
                let name = format!("hotline_test_{}", uuid::Uuid::new_v4().simple());
                admin(&admin_url, &format!("CREATE DATABASE {name}")).await;
                let url = with_database(&admin_url, &name);
                (TestDatabase::Postgres { admin_url, name }, url)
            }
        }
    }

    async fn remove(self) {
        if let TestDatabase::Postgres { admin_url, name } = self {
            admin(&admin_url, &format!("DROP DATABASE {name} WITH (FORCE)")).await;
        }
    }
}

/// A fresh, migrated store of `backend`; keep the `TestDatabase` as long as the store.
pub(crate) async fn fresh_store(backend: Backend) -> (TestDatabase, Store) {
    let (database, url) = TestDatabase::create(backend).await;
    let store = Store::connect(&url).await.unwrap();
    (database, store)
}

async fn admin(admin_url: &str, statement: &str) {
    use sqlx::Connection;
    let mut conn = sqlx::PgConnection::connect(admin_url).await.unwrap();
    sqlx::raw_sql(sqlx::AssertSqlSafe(statement.to_owned()))
        .execute(&mut conn)
        .await
        .unwrap();
    conn.close().await.unwrap();
}

/// `postgres://u:p@h:5432/admin?x=y` with `name` in place of `admin`.
fn with_database(admin_url: &str, name: &str) -> String {
    let (base, query) = admin_url.split_once('?').unwrap_or((admin_url, ""));
    let authority_start = base.find("://").map_or(0, |i| i + 3);
    let server = match base[authority_start..].find('/') {
        Some(slash) => &base[..authority_start + slash],
        None => base,
    };
    match query {
        "" => format!("{server}/{name}"),
        query => format!("{server}/{name}?{query}"),
    }
}

/// Runs each listed `async fn name(store: Store)` on both databases, as `name::sqlite` and
/// `name::postgres`.
macro_rules! on_both_databases {
    ($($test:ident),* $(,)?) => {
        $(
            mod $test {
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    $crate::store::testing::run_on($crate::store::Backend::Sqlite, super::$test).await;
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                #[cfg_attr(
                    not(postgres_tests),
                    ignore = "needs PostgreSQL: set POSTGRES_TEST_URL to an admin URL \
                              (scripts/postgres-cluster start DIR prints one) and rebuild"
                )]
                async fn postgres() {
                    $crate::store::testing::run_on($crate::store::Backend::Postgres, super::$test).await;
                }
            }
        )*
    };
}
pub(crate) use on_both_databases;

pub(crate) fn node(name: &str) -> NodeId {
    NodeId::parse(name).unwrap()
}

pub(crate) fn phone(raw: &str) -> PhoneNumber {
    PhoneNumber::parse(raw).unwrap()
}

pub(crate) fn code(digits: &str) -> InsuranceCode {
    InsuranceCode::parse(digits).unwrap()
}

pub(crate) fn key(digits: &str) -> AccountKey {
    AccountKey::parse(digits).unwrap()
}

pub(crate) fn account(code_digits: &str, phone_raw: &str) -> NewAccount {
    NewAccount {
        code: code(code_digits),
        phone: phone(phone_raw),
        personal_id: None,
        registered: true,
    }
}

pub(crate) fn with_personal_id(mut account: NewAccount, digits: &str) -> NewAccount {
    account.personal_id = Some(PersonalId::parse(digits).unwrap());
    account
}

/// The CDR of call `id` from 0912345678, answered at `answered_at` on node `node_name`.
pub(crate) fn answered_call(id: &str, node_name: &str, answered_at: OffsetDateTime) -> NewCdr {
    NewCdr {
        call_id: CallId::new(id),
        caller_raw: "0912345678".into(),
        caller: Some(phone("0912345678")),
        called: "19009068".into(),
        source: "192.0.2.10:5060".into(),
        answered_at,
        node: node(node_name),
    }
}

/// `seconds` after a fixed instant (2026-11-23 08:00:00 UTC), so tests never read the clock.
pub(crate) fn at(seconds: f64) -> OffsetDateTime {
    time::macros::datetime!(2026-11-23 08:00 UTC) + time::Duration::seconds_f64(seconds)
}

#[cfg(test)]
mod tests {
    use super::with_database;

    #[test]
    fn a_test_database_replaces_the_admin_database_in_the_url() {
        assert_eq!(
            with_database("postgres://u:p@127.0.0.1:55432/postgres", "t1"),
            "postgres://u:p@127.0.0.1:55432/t1"
        );
        assert_eq!(
            with_database("postgres://u:p@h/postgres?sslmode=disable", "t1"),
            "postgres://u:p@h/t1?sslmode=disable"
        );
        assert_eq!(with_database("postgres://h:1", "t1"), "postgres://h:1/t1");
    }
}
