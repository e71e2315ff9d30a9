//! The set-based half of an import, the same SQL on SQLite and PostgreSQL: a batch of parsed
//! rows (repeated codes already taken out, see [`super::repeats`]) sits in the temporary table
//! `import_batch`; these statements reject the rows whose personal ID is taken (with their lines)
//! and upsert the rest into `accounts` in one statement, in code order so that consecutive
//! inserts land on neighbouring pages of the code index.
//!
//! **Personal IDs.** A row is refused when its personal ID belongs to another account as the
//! batch starts, or to an earlier row of the same batch; earlier batches are already in
//! `accounts`. Checking against the state before the batch is slightly stricter than the old
//! row-by-row import when one batch both frees an ID and gives it to another account (the second
//! row is refused; importing the file again then applies it), and it guarantees the upsert can
//! never break the UNIQUE constraint halfway.

use sqlx::pool::PoolConnection;
use sqlx::{AnyConnection, PgConnection};

use super::RowError;

/// Creates (afresh) the temporary table of one import on this connection. Its codes are unique
/// (repeats never reach it), hence the primary key, which also gives the upsert its order.
pub(super) const CREATE_TABLES: [&str; 3] = [
    "DROP TABLE IF EXISTS import_batch",
    "CREATE TEMPORARY TABLE import_batch (code TEXT PRIMARY KEY, line BIGINT NOT NULL, \
     phone TEXT NOT NULL, personal_id TEXT, registered BOOLEAN NOT NULL)",
    "CREATE INDEX import_batch_personal_id ON import_batch (personal_id)",
];

/// Drops it, so a pooled connection goes back as it came.
pub(super) const DROP_TABLES: [&str; 1] = ["DROP TABLE IF EXISTS import_batch"];

const ID_OF_ANOTHER_ACCOUNT: &str = "SELECT b.line, b.line FROM import_batch b \
     JOIN accounts a ON a.personal_id = b.personal_id WHERE a.code <> b.code";
const DROP_ID_OF_ANOTHER_ACCOUNT: &str = "DELETE FROM import_batch WHERE EXISTS (SELECT 1 FROM \
     accounts a WHERE a.personal_id = import_batch.personal_id AND a.code <> import_batch.code)";
/// Codes are unique in the batch, so an earlier row with the ID is another account.
const ID_OF_AN_EARLIER_ROW: &str = "SELECT b.line, b.line FROM import_batch b WHERE EXISTS \
     (SELECT 1 FROM import_batch f WHERE f.personal_id = b.personal_id AND f.line < b.line)";
const DROP_ID_OF_AN_EARLIER_ROW: &str = "DELETE FROM import_batch WHERE EXISTS (SELECT 1 FROM \
     import_batch f WHERE f.personal_id = import_batch.personal_id AND f.line < import_batch.line)";

/// Adds new accounts and changes those that differ; an identical row is not written (and not
/// counted), an empty personal ID keeps the one on record, a password hash is never touched.
/// `WHERE true` before `ON CONFLICT`: SQLite's parser needs it to tell the upsert clause from a
/// join's `ON`.
const UPSERT: &str = "INSERT INTO accounts (code, personal_id, phone, registered) \
     SELECT code, personal_id, phone, registered FROM import_batch WHERE true ORDER BY code \
     ON CONFLICT (code) DO UPDATE SET \
         personal_id = COALESCE(excluded.personal_id, accounts.personal_id), \
         phone = excluded.phone, registered = excluded.registered \
     WHERE accounts.phone <> excluded.phone OR accounts.registered <> excluded.registered \
         OR (excluded.personal_id IS NOT NULL AND (accounts.personal_id IS NULL \
             OR accounts.personal_id <> excluded.personal_id))";

/// What one batch did.
#[derive(Debug, Default)]
pub(super) struct BatchOutcome {
    /// Rows that added or changed an account.
    pub written: u64,
    /// Rows kept to be written at the end ([`super::first_load`]).
    pub staged: u64,
    /// Rows refused by the database checks, in no particular order.
    pub errors: Vec<RowError>,
}

/// The two statements the set-based steps need, on either kind of connection.
pub(super) trait StagingSql {
    /// Runs a statement; the rows it changed.
    async fn run(&mut self, sql: &'static str) -> Result<u64, sqlx::Error>;
    /// Runs a query returning two integers per row.
    async fn line_pairs(&mut self, sql: &'static str) -> Result<Vec<(i64, i64)>, sqlx::Error>;
}

impl StagingSql for AnyConnection {
    async fn run(&mut self, sql: &'static str) -> Result<u64, sqlx::Error> {
        Ok(sqlx::query(sql).execute(self).await?.rows_affected())
    }

    async fn line_pairs(&mut self, sql: &'static str) -> Result<Vec<(i64, i64)>, sqlx::Error> {
        sqlx::query_as(sql).fetch_all(self).await
    }
}

impl StagingSql for PoolConnection<sqlx::Any> {
    async fn run(&mut self, sql: &'static str) -> Result<u64, sqlx::Error> {
        (**self).run(sql).await
    }

    async fn line_pairs(&mut self, sql: &'static str) -> Result<Vec<(i64, i64)>, sqlx::Error> {
        (**self).line_pairs(sql).await
    }
}

impl StagingSql for PgConnection {
    async fn run(&mut self, sql: &'static str) -> Result<u64, sqlx::Error> {
        Ok(sqlx::query(sql).execute(self).await?.rows_affected())
    }

    async fn line_pairs(&mut self, sql: &'static str) -> Result<Vec<(i64, i64)>, sqlx::Error> {
        sqlx::query_as(sql).fetch_all(self).await
    }
}

/// Rejects the rows whose personal ID is taken and upserts the rest of `import_batch`, inside
/// the caller's transaction.
pub(super) async fn reject_and_upsert(
    conn: &mut impl StagingSql,
) -> Result<BatchOutcome, sqlx::Error> {
    let mut outcome = BatchOutcome::default();
    for (find, drop) in [
        (ID_OF_ANOTHER_ACCOUNT, DROP_ID_OF_ANOTHER_ACCOUNT),
        (ID_OF_AN_EARLIER_ROW, DROP_ID_OF_AN_EARLIER_ROW),
    ] {
        let taken = conn.line_pairs(find).await?;
        if !taken.is_empty() {
            conn.run(drop).await?;
            outcome
                .errors
                .extend(taken.into_iter().map(|(line, _)| RowError {
                    line: line_number(line),
                    field: "personal_id",
                    reason: "already belongs to another account".into(),
                }));
        }
    }
    outcome.written = conn.run(UPSERT).await?;
    Ok(outcome)
}

fn line_number(line: i64) -> u64 {
    u64::try_from(line).unwrap_or_default()
}
