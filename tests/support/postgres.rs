//! A PostgreSQL database of its own for a test, on the server `POSTGRES_TEST_URL` names (an admin
//! URL; `scripts/postgres-cluster start DIR` prints one). Tests that use it are marked
//! `#[cfg_attr(not(postgres_tests), ignore = …)]`: see build.rs.
#![allow(dead_code)]

use sqlx::Connection;

/// Creates an empty database and returns its URL.
pub async fn fresh_database() -> String {
    let admin_url = std::env::var("POSTGRES_TEST_URL")
        .expect("POSTGRES_TEST_URL must name a PostgreSQL server for this test");
    let name = format!("hotline_test_{}", uuid::Uuid::new_v4().simple());
    let mut admin = sqlx::PgConnection::connect(&admin_url).await.unwrap();
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut admin)
        .await
        .unwrap();
    admin.close().await.unwrap();
    let server = admin_url
        .split('?')
        .next()
        .and_then(|base| base.rsplit_once('/'))
        .map(|(server, _)| server)
        .expect("an admin URL ends with /DATABASE");
    format!("{server}/{name}")
}
