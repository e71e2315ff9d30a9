//! The first import into an empty SQLite `accounts` table: the national load of 20 million rows.
//!
//! Inserting scattered codes and personal IDs into their unique indexes one row at a time costs
//! a random page write per row and index once the indexes outgrow the page cache (18.6 minutes
//! for 20 million rows, docs/performance.md). An empty table needs none of that: the rows are
//! appended to a temporary table as the file is read, personal IDs given twice are found with one
//! sort at the end, and one transaction drops the two indexes, appends the rows to `accounts` and
//! builds the indexes again from sorted keys (SQLite's external merge sort, on both cores).
//!
//! What differs from the batch path ([`super::sqlite`]):
//! - A personal ID given to two accounts is refused on its later lines, as there, but those lines
//!   are reported after all the others, once the whole file is read.
//! - It is all or nothing: an import cut short leaves `accounts` empty, and running it again
//!   starts over. The write lock is held only for the last step (about a minute at 20 million).
//! - If accounts appear while it runs (another import), it stops without writing and says so.

use sqlx::Connection as _;
use sqlx::pool::PoolConnection;

use super::parse::Row;
use super::sqlite::rows_as_json;
use super::{ImportError, ImportObserver, RowError};

const CREATE_TABLES: [&str; 4] = [
    "DROP TABLE IF EXISTS import_all",
    "DROP TABLE IF EXISTS import_repeated_ids",
    "CREATE TEMPORARY TABLE import_all (line INTEGER NOT NULL, code TEXT NOT NULL, \
     phone TEXT NOT NULL, personal_id TEXT, registered BOOLEAN NOT NULL)",
    // Filled at the end; the lines refused because an earlier line holds their personal ID.
    "CREATE TEMPORARY TABLE import_repeated_ids (line INTEGER PRIMARY KEY)",
];
const DROP_TABLES: [&str; 2] = [
    "DROP TABLE IF EXISTS import_all",
    "DROP TABLE IF EXISTS import_repeated_ids",
];

const STAGE_BATCH: &str = "INSERT INTO import_all (line, code, phone, personal_id, registered) \
     SELECT value ->> 0, value ->> 1, value ->> 2, value ->> 3, value ->> 4 FROM json_each($1)";

/// The first line holding a personal ID keeps it, as in file order on the batch path.
const FIND_REPEATED_IDS: &str = "INSERT INTO import_repeated_ids (line) \
     SELECT line FROM (SELECT line, row_number() OVER (PARTITION BY personal_id ORDER BY line) \
     AS nth FROM import_all WHERE personal_id IS NOT NULL) WHERE nth > 1";
/// A page of them, after a line: memory stays bounded even if every personal ID repeats.
const REPEATED_ID_LINES: &str =
    "SELECT line FROM import_repeated_ids WHERE line > $1 ORDER BY line LIMIT 10000";

const ANY_ACCOUNT: &str = "SELECT EXISTS (SELECT 1 FROM accounts)";

/// The last step, in one transaction: drop the indexes, append, build them again. The two
/// CREATE INDEX statements are those of migrations/sqlite/0003_account_indexes.sql (a test
/// compares the schemas).
const DROP_INDEXES: &str = "DROP INDEX accounts_code; DROP INDEX accounts_personal_id;";
const APPEND: &str = "INSERT INTO accounts (code, personal_id, phone, registered) \
     SELECT code, personal_id, phone, registered FROM import_all \
     WHERE line NOT IN (SELECT line FROM import_repeated_ids)";
const CREATE_INDEXES: &str = "CREATE UNIQUE INDEX accounts_code ON accounts (code); \
     CREATE UNIQUE INDEX accounts_personal_id ON accounts (personal_id);";

/// While loading: caches as on the batch path (the sorts of the last step use the main cache's
/// size as their memory before spilling to temporary files), and one helper thread per core
/// for those sorts.
const DURING_LOAD: &str = "PRAGMA main.cache_size = -32768; PRAGMA temp.cache_size = -32768; \
     PRAGMA threads = 2;";
/// SQLite's defaults, restored before the connection goes back to the pool, and the WAL folded
/// into the database.
const AFTER_LOAD: &str = "PRAGMA main.cache_size = -2000; PRAGMA temp.cache_size = -2000; \
     PRAGMA threads = 0; PRAGMA wal_checkpoint(PASSIVE);";

/// Whether an import into this database can take the first-load path.
pub(super) async fn accounts_empty(
    conn: &mut PoolConnection<sqlx::Any>,
) -> Result<bool, sqlx::Error> {
    let any: i64 = sqlx::query_scalar(ANY_ACCOUNT)
        .fetch_one(&mut **conn)
        .await?;
    Ok(any == 0)
}

/// One first load's connection (the temporary tables belong to it).
pub(super) struct FirstLoad {
    conn: PoolConnection<sqlx::Any>,
}

/// What the last step did.
#[derive(Default)]
pub(super) struct Loaded {
    pub written: u64,
    pub rejected: u64,
}

impl FirstLoad {
    pub async fn start(mut conn: PoolConnection<sqlx::Any>) -> Result<FirstLoad, sqlx::Error> {
        for statement in CREATE_TABLES {
            sqlx::query(statement).execute(&mut *conn).await?;
        }
        sqlx::raw_sql(DURING_LOAD).execute(&mut *conn).await?;
        Ok(FirstLoad { conn })
    }

    /// Appends a batch to the temporary table: no index, no write lock on the database.
    pub async fn stage(&mut self, rows: &[Row]) -> Result<(), sqlx::Error> {
        sqlx::query(STAGE_BATCH)
            .bind(rows_as_json(rows))
            .execute(&mut *self.conn)
            .await?;
        Ok(())
    }

    /// Refuses the repeated personal IDs (telling `observer`, in line order) and loads the rest.
    pub async fn finish(
        mut self,
        observer: &mut dyn ImportObserver,
    ) -> Result<Loaded, ImportError> {
        observer
            .last_step("checking personal IDs, writing the accounts and building their indexes");
        sqlx::query(FIND_REPEATED_IDS)
            .execute(&mut *self.conn)
            .await?;
        let mut rejected = 0;
        let mut after = 0_i64;
        loop {
            let lines: Vec<i64> = sqlx::query_scalar(REPEATED_ID_LINES)
                .bind(after)
                .fetch_all(&mut *self.conn)
                .await?;
            let Some(&last) = lines.last() else { break };
            after = last;
            rejected += lines.len() as u64;
            for line in lines {
                observer.row_error(RowError {
                    line: u64::try_from(line).unwrap_or_default(),
                    field: "personal_id",
                    reason: "already belongs to another account".into(),
                });
            }
        }
        let written = self.load().await?;
        for statement in DROP_TABLES {
            sqlx::query(statement).execute(&mut *self.conn).await?;
        }
        sqlx::raw_sql(AFTER_LOAD).execute(&mut *self.conn).await?;
        Ok(Loaded { written, rejected })
    }

    async fn load(&mut self) -> Result<u64, ImportError> {
        let mut tx = self.conn.begin_with("BEGIN IMMEDIATE").await?;
        let any: i64 = sqlx::query_scalar(ANY_ACCOUNT).fetch_one(&mut *tx).await?;
        if any != 0 {
            return Err(ImportError::NoLongerEmpty);
        }
        sqlx::raw_sql(DROP_INDEXES).execute(&mut *tx).await?;
        let written = sqlx::query(APPEND).execute(&mut *tx).await?.rows_affected();
        sqlx::raw_sql(CREATE_INDEXES).execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(written)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::testing::{account, code, fresh_store, key, phone};
    use crate::store::{Backend, Store};

    fn row(line: u64, code_digits: &str, personal_id: Option<&str>) -> Row {
        Row {
            line,
            code: code(code_digits),
            phone: phone("0912345678"),
            personal_id: personal_id.map(|id| crate::domain::PersonalId::parse(id).unwrap()),
            registered: true,
        }
    }

    async fn start(store: &Store) -> FirstLoad {
        let mut conn = store.pool().acquire().await.unwrap();
        assert!(accounts_empty(&mut conn).await.unwrap());
        FirstLoad::start(conn).await.unwrap()
    }

    async fn schema(store: &Store) -> Vec<(String, String)> {
        sqlx::query_as(
            "SELECT name, sql FROM sqlite_master WHERE tbl_name = 'accounts' ORDER BY name",
        )
        .fetch_all(store.pool())
        .await
        .unwrap()
    }

    #[derive(Default)]
    struct Heard(Vec<String>);

    impl ImportObserver for Heard {
        fn row_error(&mut self, error: RowError) {
            self.0.push(error.to_string());
        }
    }

    #[tokio::test]
    async fn later_lines_with_a_taken_personal_id_are_refused_and_the_indexes_come_back() {
        let (_db, store) = fresh_store(Backend::Sqlite).await;
        let migrated = schema(&store).await;
        let mut load = start(&store).await;
        load.stage(&[
            row(2, "0000000001", Some("001085000001")),
            row(3, "0000000002", Some("001085000002")),
            row(4, "0000000003", None),
        ])
        .await
        .unwrap();
        load.stage(&[
            row(5, "0000000004", Some("001085000002")),
            row(6, "0000000005", None),
            row(7, "0000000006", Some("001085000001")),
        ])
        .await
        .unwrap();
        let mut heard = Heard::default();
        let loaded = load.finish(&mut heard).await.unwrap();

        assert_eq!((loaded.written, loaded.rejected), (4, 2));
        assert_eq!(
            heard.0,
            [
                "line 5: personal_id: already belongs to another account",
                "line 7: personal_id: already belongs to another account",
            ]
        );
        let holder = store.find_account(&key("001085000002")).await.unwrap();
        assert_eq!(
            holder.unwrap().code,
            code("0000000002"),
            "the first line keeps it"
        );
        assert!(
            store
                .find_account(&key("0000000004"))
                .await
                .unwrap()
                .is_none()
        );
        assert!(
            store
                .find_account(&key("0000000005"))
                .await
                .unwrap()
                .is_some()
        );
        assert_eq!(
            schema(&store).await,
            migrated,
            "same indexes as the migration's"
        );
    }

    #[tokio::test]
    async fn accounts_added_meanwhile_stop_it_without_writing() {
        let (_db, store) = fresh_store(Backend::Sqlite).await;
        let mut load = start(&store).await;
        load.stage(&[row(2, "0000000001", None)]).await.unwrap();
        store
            .add_account(&account("0123456789", "0987654321"))
            .await
            .unwrap();

        let err = load.finish(&mut Heard::default()).await.err().unwrap();
        assert!(matches!(err, ImportError::NoLongerEmpty), "{err}");
        assert!(err.to_string().contains("nothing was imported"));
        assert!(
            store
                .find_account(&key("0000000001"))
                .await
                .unwrap()
                .is_none()
        );
        assert!(
            store
                .find_account(&key("0123456789"))
                .await
                .unwrap()
                .is_some()
        );
    }

    #[tokio::test]
    async fn a_load_cut_short_leaves_the_table_empty() {
        let (_db, store) = fresh_store(Backend::Sqlite).await;
        let mut load = start(&store).await;
        load.stage(&[row(2, "0000000001", None)]).await.unwrap();
        drop(load);
        let mut conn = store.pool().acquire().await.unwrap();
        assert!(accounts_empty(&mut conn).await.unwrap());
    }
}
