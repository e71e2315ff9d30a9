//! The set-based half of an import, the same SQL on SQLite and PostgreSQL: a batch of parsed
//! rows sits in the temporary table `import_batch`; these statements reject the rows that cannot
//! be written (with their lines) and upsert the rest into `accounts` in one statement.
//!
//! **Repeated codes.** Finding a code seen earlier in a 20-million-row file needs a set of every
//! code so far. In this process that set would not fit the 256 MiB budget: 20 M codes as
//! `String`s in a `HashMap` take well over 1 GiB, as `u64`s in a hash set ~300 MiB at a usable
//! load factor, a sorted `Vec<u64>` 160 MiB plus its doubling, and a bitset over the 10¹⁰ codes
//! 1.25 GiB. So the set lives in the database, in the temporary table `import_seen(code PRIMARY
//! KEY, line)`: each batch adds its codes with their first line (`ON CONFLICT DO NOTHING` keeps
//! an earlier one), and a batch row whose code is there with a smaller line is the repeat, its
//! first line at hand for the message. It costs one more index insert per row, on a table that
//! is never logged (SQLite's temp database, PostgreSQL's temporary tables) and dropped at the end.
//!
//! **Personal IDs.** A row is refused when its personal ID belongs to another account as the
//! batch starts, or to an earlier row of the same batch; earlier batches are already in
//! `accounts`. Checking against the state before the batch is slightly stricter than the old
//! row-by-row import when one batch both frees an ID and gives it to another account (the second
//! row is refused; importing the file again then applies it), and it guarantees the upsert can
//! never break the UNIQUE constraint halfway.

use sqlx::{AnyConnection, PgConnection};

use super::RowError;

/// Creates (afresh) the temporary tables of one import on this connection.
pub(super) const CREATE_TABLES: [&str; 6] = [
    "DROP TABLE IF EXISTS import_batch",
    "DROP TABLE IF EXISTS import_seen",
    "CREATE TEMPORARY TABLE import_batch (line BIGINT NOT NULL, code TEXT NOT NULL, \
     phone TEXT NOT NULL, personal_id TEXT, registered BOOLEAN NOT NULL)",
    "CREATE INDEX import_batch_code ON import_batch (code)",
    "CREATE INDEX import_batch_personal_id ON import_batch (personal_id)",
    "CREATE TEMPORARY TABLE import_seen (code TEXT PRIMARY KEY, line BIGINT NOT NULL)",
];

/// Drops them, so a pooled connection goes back as it came.
pub(super) const DROP_TABLES: [&str; 2] = [
    "DROP TABLE IF EXISTS import_batch",
    "DROP TABLE IF EXISTS import_seen",
];

/// `WHERE true` before `ON CONFLICT`: SQLite's parser needs it to tell the upsert clause from a
/// join's `ON`.
const REMEMBER_CODES: &str = "INSERT INTO import_seen (code, line) \
     SELECT code, MIN(line) FROM import_batch WHERE true GROUP BY code \
     ON CONFLICT (code) DO NOTHING";
const REPEATED_CODES: &str = "SELECT b.line, s.line FROM import_batch b \
     JOIN import_seen s ON s.code = b.code WHERE s.line < b.line";
const DROP_REPEATED_CODES: &str = "DELETE FROM import_batch WHERE EXISTS (SELECT 1 FROM \
     import_seen s WHERE s.code = import_batch.code AND s.line < import_batch.line)";

const ID_OF_ANOTHER_ACCOUNT: &str = "SELECT b.line, b.line FROM import_batch b \
     JOIN accounts a ON a.personal_id = b.personal_id WHERE a.code <> b.code";
const DROP_ID_OF_ANOTHER_ACCOUNT: &str = "DELETE FROM import_batch WHERE EXISTS (SELECT 1 FROM \
     accounts a WHERE a.personal_id = import_batch.personal_id AND a.code <> import_batch.code)";
/// Codes are unique in the batch by now, so an earlier row with the ID is another account.
const ID_OF_AN_EARLIER_ROW: &str = "SELECT b.line, b.line FROM import_batch b WHERE EXISTS \
     (SELECT 1 FROM import_batch f WHERE f.personal_id = b.personal_id AND f.line < b.line)";
const DROP_ID_OF_AN_EARLIER_ROW: &str = "DELETE FROM import_batch WHERE EXISTS (SELECT 1 FROM \
     import_batch f WHERE f.personal_id = import_batch.personal_id AND f.line < import_batch.line)";

/// Adds new accounts and changes those that differ; an identical row is not written (and not
/// counted), an empty personal ID keeps the one on record, a password hash is never touched.
const UPSERT: &str = "INSERT INTO accounts (code, personal_id, phone, registered) \
     SELECT code, personal_id, phone, registered FROM import_batch WHERE true \
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

impl StagingSql for PgConnection {
    async fn run(&mut self, sql: &'static str) -> Result<u64, sqlx::Error> {
        Ok(sqlx::query(sql).execute(self).await?.rows_affected())
    }

    async fn line_pairs(&mut self, sql: &'static str) -> Result<Vec<(i64, i64)>, sqlx::Error> {
        sqlx::query_as(sql).fetch_all(self).await
    }
}

/// Rejects what cannot be written and upserts the rest of `import_batch` (`rows` rows), inside
/// the caller's transaction.
pub(super) async fn reject_and_upsert(
    conn: &mut impl StagingSql,
    rows: usize,
) -> Result<BatchOutcome, sqlx::Error> {
    let mut outcome = BatchOutcome::default();
    // When every row's code was new to the import, nothing repeats: skip the search (the
    // usual case, and a fifth of a batch's time).
    let new_codes = conn.run(REMEMBER_CODES).await?;
    let repeated = if new_codes == rows as u64 {
        Vec::new()
    } else {
        conn.line_pairs(REPEATED_CODES).await?
    };
    if !repeated.is_empty() {
        conn.run(DROP_REPEATED_CODES).await?;
        outcome
            .errors
            .extend(repeated.into_iter().map(|(line, first)| RowError {
                line: line_number(line),
                field: "code",
                reason: format!("appears again (first on line {first})"),
            }));
    }
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
