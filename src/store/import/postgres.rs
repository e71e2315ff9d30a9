//! Writing batches to PostgreSQL: each batch is streamed with `COPY … FROM STDIN` into the
//! temporary table `import_batch` (one round trip for thousands of rows, no parameters, no WAL
//! for a temporary table), then checked and upserted set-based (see [`super::staging`]).
//!
//! COPY needs a native `PgConnection` (the `any` driver has no COPY), opened for the import
//! alone: its temporary tables die with it. Each batch is its own transaction, as on SQLite.

use std::fmt::Write as _;

use sqlx::{Connection as _, PgConnection};

use super::first_load::{Dialect, LoadConnection};
use super::parse::Row;
use super::staging::{self, BatchOutcome, StagingSql};

const COPY_BATCH: &str =
    "COPY import_batch (line, code, phone, personal_id, registered) FROM STDIN";

/// Settings for the import's session only.
///
/// - `temp_buffers`: memory for temporary tables (default 8 MB). `import_seen` grows to one entry
///   per row of the file; with more of its index in memory the server rereads less of it. Server
///   memory, not this process's; it must be set before the first temporary table is used.
/// - No hash or merge joins: autovacuum never analyzes temporary tables, so the planner guesses
///   the batch's size and joined 20,000 rows by hashing the whole of `import_seen` or `accounts`,
///   a sequential scan that grows with every batch (measured: 0.35 s per batch at 1 M accounts,
///   and rising). Nested loops over their indexes cost the same at 1 M or 20 M.
/// - `synchronous_commit = off`: a batch's commit does not wait for its WAL flush. A crash can
///   lose the last batches; importing the file again writes them, as after any interruption.
const SESSION_SETTINGS: [&str; 4] = [
    "SET temp_buffers = '128MB'",
    "SET enable_hashjoin = off",
    "SET enable_mergejoin = off",
    "SET synchronous_commit = off",
];

/// One import's connection.
pub(super) struct PostgresImport {
    conn: PgConnection,
}

impl PostgresImport {
    pub async fn start(mut conn: PgConnection) -> Result<PostgresImport, sqlx::Error> {
        for setting in SESSION_SETTINGS {
            conn.run(setting).await?;
        }
        for statement in staging::CREATE_TABLES {
            conn.run(statement).await?;
        }
        Ok(PostgresImport { conn })
    }

    pub async fn write_batch(&mut self, rows: &[Row]) -> Result<BatchOutcome, sqlx::Error> {
        let mut tx = self.conn.begin().await?;
        // TRUNCATE, not DELETE: autovacuum never visits temporary tables, so deleted rows would
        // pile up batch after batch and every scan of the table would read them.
        tx.run("TRUNCATE import_batch").await?;
        let mut copy = tx.copy_in_raw(COPY_BATCH).await?;
        copy.send(rows_as_copy_text(rows).into_bytes()).await?;
        copy.finish().await?;
        let outcome = staging::reject_and_upsert(&mut *tx).await?;
        tx.commit().await?;
        Ok(outcome)
    }

    pub async fn finish(self) -> Result<(), sqlx::Error> {
        self.conn.close().await
    }
}

/// A first load on PostgreSQL ([`super::first_load`]), on a connection of its own.
impl LoadConnection for PgConnection {
    const DIALECT: Dialect = Dialect {
        // Server memory for this session: its temporary tables, the sort that finds repeated
        // personal IDs, and the two index builds (sorted in memory rather than in many runs).
        // The batch path's ban on hash and merge joins is not wanted here: these are whole-table
        // operations. A crash mid-load loses nothing that was committed: nothing is, until the end.
        during: &[
            "SET temp_buffers = '128MB'",
            "SET work_mem = '64MB'",
            "SET maintenance_work_mem = '256MB'",
            "SET synchronous_commit = off",
        ],
        // Fresh statistics for 20 million rows, and every page marked all-visible with its hint
        // bits set now, in one pass, rather than by the first lookups that touch each page
        // (which made lookups right after a load slow at p99) or by autovacuum later.
        after: &["VACUUM (ANALYZE) accounts"],
        // Lookups wait for the last step rather than see a table without its indexes.
        begin: &["BEGIN", "LOCK TABLE accounts IN ACCESS EXCLUSIVE MODE"],
        // The names PostgreSQL gave the constraints of migrations/postgres/0001_initial.sql.
        drop_uniqueness: &[
            "ALTER TABLE accounts DROP CONSTRAINT accounts_pkey",
            "ALTER TABLE accounts DROP CONSTRAINT accounts_personal_id_key",
        ],
        restore_uniqueness: &[
            "ALTER TABLE accounts ADD CONSTRAINT accounts_pkey PRIMARY KEY (code)",
            "ALTER TABLE accounts ADD CONSTRAINT accounts_personal_id_key UNIQUE (personal_id)",
        ],
    };

    async fn integer(&mut self, sql: &'static str) -> Result<i64, sqlx::Error> {
        sqlx::query_scalar(sql).fetch_one(self).await
    }

    async fn lines(&mut self, sql: &'static str, after: i64) -> Result<Vec<i64>, sqlx::Error> {
        sqlx::query_scalar(sql).bind(after).fetch_all(self).await
    }

    async fn stage(&mut self, rows: &[Row]) -> Result<(), sqlx::Error> {
        let mut copy = self.copy_in_raw(COPY_ALL).await?;
        copy.send(rows_as_copy_text(rows).into_bytes()).await?;
        copy.finish().await?;
        Ok(())
    }
}

const COPY_ALL: &str = "COPY import_all (line, code, phone, personal_id, registered) FROM STDIN";

/// COPY's text format: tab-separated, `\N` for NULL, `t`/`f`. Every value was validated by its
/// domain type (digits and `+` only), so nothing needs escaping.
fn rows_as_copy_text(rows: &[Row]) -> String {
    let mut text = String::with_capacity(rows.len() * 48);
    for row in rows {
        let _ = write!(
            text,
            "{}\t{}\t{}\t",
            row.line,
            row.code.as_str(),
            row.phone.as_str()
        );
        text.push_str(row.personal_id.as_ref().map_or("\\N", |id| id.as_str()));
        text.push_str(if row.registered { "\tt\n" } else { "\tf\n" });
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::testing::{code, phone};

    #[test]
    fn rows_become_copy_text() {
        let rows = [Row {
            line: 7,
            code: code("0123456789"),
            phone: phone("0912345678"),
            personal_id: None,
            registered: false,
        }];
        assert_eq!(
            rows_as_copy_text(&rows),
            "7\t0123456789\t+84912345678\t\\N\tf\n"
        );
    }
}
