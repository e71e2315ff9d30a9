//! Writing batches to SQLite, when `accounts` holds rows already (an empty table takes
//! [`super::first_load`]): the rows go into `import_batch` as one JSON array bound to one
//! parameter (`json_each` unpacks it), one statement per batch whatever its size, instead of
//! thousands of single-row inserts or multi-row `VALUES` limited by SQLite's 32,766 parameters.
//!
//! Each batch is its own `BEGIN IMMEDIATE` transaction on one pooled connection (the temporary
//! tables belong to it). Committing per batch keeps the WAL small and lets a running service
//! write between batches; an import cut short leaves whole batches behind, and importing the
//! file again completes it without changing what is already there.

use std::fmt::Write as _;

use sqlx::Connection as _;
use sqlx::pool::PoolConnection;

use super::first_load::{Dialect, LoadConnection};
use super::parse::Row;
use super::staging::{self, BatchOutcome, StagingSql};

const LOAD_BATCH: &str = "INSERT INTO import_batch (line, code, phone, personal_id, registered) \
     SELECT value ->> 0, value ->> 1, value ->> 2, value ->> 3, value ->> 4 FROM json_each($1)";

/// Settings of the import's connection while it imports.
///
/// - Page caches (negative: KiB), the database's and the temporary table's. The default 2 MiB
///   makes every index insert of 20 million scattered codes a read from the OS; these keep the
///   upper levels of the indexes in memory and stay within the import's 256 MiB.
/// - Checkpoints every 64 Ki WAL pages (256 MiB) instead of every 1,000: a batch of scattered
///   codes dirties some 20,000 index pages, so the default checkpointed (and fsynced) after every
///   batch, copying each page as often as a batch touched it; further apart, a page touched by
///   several batches is copied once. Durability is unchanged (`synchronous` stays NORMAL).
const DURING_IMPORT: &str = "PRAGMA main.cache_size = -65536; PRAGMA temp.cache_size = -32768; \
     PRAGMA wal_autocheckpoint = 65536;";
/// SQLite's defaults, restored before the connection goes back to the pool, and the WAL folded
/// into the database.
const AFTER_IMPORT: &str = "PRAGMA main.cache_size = -2000; PRAGMA temp.cache_size = -2000; \
     PRAGMA wal_autocheckpoint = 1000; PRAGMA wal_checkpoint(PASSIVE);";

/// One import's connection.
pub(super) struct SqliteImport {
    conn: PoolConnection<sqlx::Any>,
}

impl SqliteImport {
    pub async fn start(mut conn: PoolConnection<sqlx::Any>) -> Result<SqliteImport, sqlx::Error> {
        for statement in staging::CREATE_TABLES {
            conn.run(statement).await?;
        }
        sqlx::raw_sql(DURING_IMPORT).execute(&mut *conn).await?;
        Ok(SqliteImport { conn })
    }

    pub async fn write_batch(&mut self, rows: &[Row]) -> Result<BatchOutcome, sqlx::Error> {
        let mut tx = self.conn.begin_with("BEGIN IMMEDIATE").await?;
        tx.run("DELETE FROM import_batch").await?;
        sqlx::query(LOAD_BATCH)
            .bind(rows_as_json(rows))
            .execute(&mut *tx)
            .await?;
        let outcome = staging::reject_and_upsert(&mut *tx).await?;
        tx.commit().await?;
        Ok(outcome)
    }

    pub async fn finish(mut self) -> Result<(), sqlx::Error> {
        for statement in staging::DROP_TABLES {
            self.conn.run(statement).await?;
        }
        sqlx::raw_sql(AFTER_IMPORT).execute(&mut *self.conn).await?;
        Ok(())
    }
}

/// A first load on SQLite ([`super::first_load`]).
impl LoadConnection for PoolConnection<sqlx::Any> {
    const DIALECT: Dialect = Dialect {
        // Caches as on the batch path (the last step's sorts use the main cache's size as their
        // memory before spilling to temporary files), and a helper thread per core for them.
        during: &[
            "PRAGMA main.cache_size = -32768",
            "PRAGMA temp.cache_size = -32768",
            "PRAGMA threads = 2",
        ],
        after: &[
            "PRAGMA main.cache_size = -2000",
            "PRAGMA temp.cache_size = -2000",
            "PRAGMA threads = 0",
            // The load went through the WAL, which is as large as the table by now: fold it into
            // the database and cut it back to nothing rather than leave gigabytes behind.
            "PRAGMA wal_checkpoint(TRUNCATE)",
        ],
        begin: &["BEGIN IMMEDIATE"],
        // migrations/sqlite/0003_account_indexes.sql
        drop_uniqueness: &[
            "DROP INDEX accounts_code",
            "DROP INDEX accounts_personal_id",
        ],
        restore_uniqueness: &[
            "CREATE UNIQUE INDEX accounts_code ON accounts (code)",
            "CREATE UNIQUE INDEX accounts_personal_id ON accounts (personal_id)",
        ],
    };

    async fn integer(&mut self, sql: &'static str) -> Result<i64, sqlx::Error> {
        sqlx::query_scalar(sql).fetch_one(&mut **self).await
    }

    async fn lines(&mut self, sql: &'static str, after: i64) -> Result<Vec<i64>, sqlx::Error> {
        sqlx::query_scalar(sql)
            .bind(after)
            .fetch_all(&mut **self)
            .await
    }

    async fn stage(&mut self, rows: &[Row]) -> Result<(), sqlx::Error> {
        sqlx::query(STAGE_ALL)
            .bind(rows_as_json(rows))
            .execute(&mut **self)
            .await?;
        Ok(())
    }
}

const STAGE_ALL: &str = "INSERT INTO import_all (line, code, phone, personal_id, registered) \
     SELECT value ->> 0, value ->> 1, value ->> 2, value ->> 3, value ->> 4 FROM json_each($1)";

/// `[[line,"code","phone","personal_id"|null,0|1],…]`. Every value was validated by its domain
/// type (digits and `+` only), so nothing needs escaping.
fn rows_as_json(rows: &[Row]) -> String {
    let mut json = String::with_capacity(rows.len() * 56 + 2);
    json.push('[');
    for (i, row) in rows.iter().enumerate() {
        if i > 0 {
            json.push(',');
        }
        let _ = write!(
            json,
            "[{},\"{}\",\"{}\",",
            row.line,
            row.code.as_str(),
            row.phone.as_str()
        );
        match &row.personal_id {
            Some(id) => {
                let _ = write!(json, "\"{}\"", id.as_str());
            }
            None => json.push_str("null"),
        }
        json.push_str(if row.registered { ",1]" } else { ",0]" });
    }
    json.push(']');
    json
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::testing::{code, phone};

    #[test]
    fn rows_become_a_json_array_of_arrays() {
        let rows = [
            Row {
                line: 2,
                code: code("0123456789"),
                phone: phone("0912345678"),
                personal_id: None,
                registered: true,
            },
            Row {
                line: 4,
                code: code("1111111111"),
                phone: phone("0987654321"),
                personal_id: Some(crate::domain::PersonalId::parse("001085012345").unwrap()),
                registered: false,
            },
        ];
        assert_eq!(
            rows_as_json(&rows),
            r#"[[2,"0123456789","+84912345678",null,1],[4,"1111111111","+84987654321","001085012345",0]]"#
        );
    }
}
