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

const SQLITE: [Source; 2] = [
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
];

const POSTGRES: [Source; 2] = [
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
];

/// The migrator for `backend`.
pub(crate) fn for_backend(backend: Backend) -> Migrator {
    let sources: &[Source] = match backend {
        Backend::Sqlite => &SQLITE,
        Backend::Postgres => &POSTGRES,
    };
    let migrations = sources
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
}
