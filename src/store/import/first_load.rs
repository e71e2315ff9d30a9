//! The first import into an empty `accounts` table: the national load of 20 million rows.
//!
//! Inserting scattered codes and personal IDs into their unique indexes one row at a time costs
//! a random page write per row and index once the indexes outgrow the cache (SQLite: 18.6
//! minutes for 20 million rows, docs/performance.md). An empty table needs none of that: the
//! rows are appended to an unindexed temporary table as the file is read, personal IDs given
//! twice are found with one sort at the end, and one transaction drops the table's two
//! uniqueness rules, appends the rows and builds both indexes again from sorted keys.
//!
//! The same steps on both databases; what differs is in each [`Dialect`] (SQLite: named indexes,
//! since migration 0003; PostgreSQL: the table's constraints) and in how a batch is staged
//! ([`LoadConnection`]: one `json_each` statement, or `COPY`).
//!
//! What differs from the batch path:
//! - A personal ID given to two accounts is refused on its later lines, as there, but those lines
//!   are reported after all the others, once the whole file is read.
//! - It is all or nothing: an import cut short leaves `accounts` empty, and running it again
//!   starts over. The table is locked only for the last step (a minute or two at 20 million).
//! - If accounts appear while it runs (another import), it stops without writing and says so.

use super::parse::Row;
use super::staging::StagingSql;
use super::{ImportError, ImportObserver, RowError};

/// The staging tables. `line` is BIGINT so both databases hand it back as a 64-bit integer.
const CREATE_TABLES: [&str; 4] = [
    "DROP TABLE IF EXISTS import_all",
    "DROP TABLE IF EXISTS import_repeated_ids",
    "CREATE TEMPORARY TABLE import_all (line BIGINT NOT NULL, code TEXT NOT NULL, \
     phone TEXT NOT NULL, personal_id TEXT, registered BOOLEAN NOT NULL)",
    // Filled at the end; the lines refused because an earlier line holds their personal ID.
    "CREATE TEMPORARY TABLE import_repeated_ids (line BIGINT PRIMARY KEY)",
];
const DROP_TABLES: [&str; 2] = [
    "DROP TABLE IF EXISTS import_all",
    "DROP TABLE IF EXISTS import_repeated_ids",
];

/// The first line holding a personal ID keeps it, as in file order on the batch path.
const FIND_REPEATED_IDS: &str = "INSERT INTO import_repeated_ids (line) \
     SELECT line FROM (SELECT line, row_number() OVER (PARTITION BY personal_id ORDER BY line) \
     AS nth FROM import_all WHERE personal_id IS NOT NULL) AS numbered WHERE nth > 1";
/// A page of them, after a line: memory stays bounded even if every personal ID repeats.
const REPEATED_ID_LINES: &str =
    "SELECT line FROM import_repeated_ids WHERE line > $1 ORDER BY line LIMIT 10000";

const ANY_ACCOUNT: &str =
    "SELECT CAST(CASE WHEN EXISTS (SELECT 1 FROM accounts) THEN 1 ELSE 0 END AS BIGINT)";

const APPEND: &str = "INSERT INTO accounts (code, personal_id, phone, registered) \
     SELECT code, personal_id, phone, registered FROM import_all WHERE NOT EXISTS \
     (SELECT 1 FROM import_repeated_ids r WHERE r.line = import_all.line)";

/// What differs between the databases, as statements.
pub(super) struct Dialect {
    /// Session settings for the load, and what puts them back.
    pub during: &'static [&'static str],
    pub after: &'static [&'static str],
    /// Opens the last step's transaction with `accounts` locked against other writers.
    pub begin: &'static [&'static str],
    /// Drops the two uniqueness rules, and builds them again exactly as the migrations made
    /// them (a test compares the schemas).
    pub drop_uniqueness: &'static [&'static str],
    pub restore_uniqueness: &'static [&'static str],
}

/// The connection a first load runs on, on either database.
pub(super) trait LoadConnection: StagingSql {
    const DIALECT: Dialect;
    /// A query returning one integer.
    async fn integer(&mut self, sql: &'static str) -> Result<i64, sqlx::Error>;
    /// A query of line numbers, bound to one integer.
    async fn lines(&mut self, sql: &'static str, after: i64) -> Result<Vec<i64>, sqlx::Error>;
    /// Appends rows to `import_all (line, code, phone, personal_id, registered)`.
    async fn stage(&mut self, rows: &[Row]) -> Result<(), sqlx::Error>;
}

/// Whether an import into this database can take the first-load path.
pub(super) async fn accounts_empty(conn: &mut impl LoadConnection) -> Result<bool, sqlx::Error> {
    Ok(conn.integer(ANY_ACCOUNT).await? == 0)
}

/// One first load's connection (the temporary tables belong to it).
pub(super) struct FirstLoad<C> {
    conn: C,
}

/// What the last step did.
#[derive(Default)]
pub(super) struct Loaded {
    pub written: u64,
    pub rejected: u64,
}

impl<C: LoadConnection> FirstLoad<C> {
    pub async fn start(mut conn: C) -> Result<FirstLoad<C>, sqlx::Error> {
        for statement in C::DIALECT.during.iter().chain(&CREATE_TABLES) {
            conn.run(statement).await?;
        }
        Ok(FirstLoad { conn })
    }

    /// Appends a batch to the temporary table: no index, no lock on `accounts`.
    pub async fn stage(&mut self, rows: &[Row]) -> Result<(), sqlx::Error> {
        self.conn.stage(rows).await
    }

    /// Refuses the repeated personal IDs (telling `observer`, in line order) and loads the rest.
    pub async fn finish(
        mut self,
        observer: &mut dyn ImportObserver,
    ) -> Result<Loaded, ImportError> {
        observer
            .last_step("checking personal IDs, writing the accounts and building their indexes");
        self.conn.run(FIND_REPEATED_IDS).await?;
        let mut rejected = 0;
        let mut after = 0_i64;
        loop {
            let lines = self.conn.lines(REPEATED_ID_LINES, after).await?;
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
        let loaded = self.load().await;
        if loaded.is_err() {
            // Nothing of the last step may stay: the table keeps its indexes and stays empty.
            let _ = self.conn.run("ROLLBACK").await;
        }
        let written = loaded?;
        for statement in DROP_TABLES.iter().chain(C::DIALECT.after) {
            self.conn.run(statement).await?;
        }
        Ok(Loaded { written, rejected })
    }

    async fn load(&mut self) -> Result<u64, ImportError> {
        let dialect = C::DIALECT;
        for statement in dialect.begin {
            self.conn.run(statement).await?;
        }
        if self.conn.integer(ANY_ACCOUNT).await? != 0 {
            return Err(ImportError::NoLongerEmpty);
        }
        for statement in dialect.drop_uniqueness {
            self.conn.run(statement).await?;
        }
        let written = self.conn.run(APPEND).await?;
        for statement in dialect.restore_uniqueness {
            self.conn.run(statement).await?;
        }
        self.conn.run("COMMIT").await?;
        Ok(written)
    }
}

#[cfg(test)]
mod tests {
    use sqlx::pool::PoolConnection;
    use sqlx::{Connection as _, PgConnection};

    use super::*;
    use crate::store::testing::{account, code, key, on_both_databases, phone};
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

    /// Runs `$body(&store, load)` with a first load on the store's own kind of connection.
    macro_rules! with_first_load {
        ($store:expr, $body:ident) => {
            match $store.backend() {
                Backend::Sqlite => {
                    let mut conn: PoolConnection<sqlx::Any> =
                        $store.pool().acquire().await.unwrap();
                    assert!(accounts_empty(&mut conn).await.unwrap());
                    $body(&$store, FirstLoad::start(conn).await.unwrap()).await
                }
                Backend::Postgres => {
                    let mut conn = PgConnection::connect($store.url().expose()).await.unwrap();
                    assert!(accounts_empty(&mut conn).await.unwrap());
                    $body(&$store, FirstLoad::start(conn).await.unwrap()).await
                }
            }
        };
    }

    /// The indexes and uniqueness rules of `accounts`, as the database describes them.
    async fn schema(store: &Store) -> Vec<(String, String)> {
        let sql = match store.backend() {
            Backend::Sqlite => {
                "SELECT name, sql FROM sqlite_master WHERE tbl_name = 'accounts' ORDER BY name"
            }
            Backend::Postgres => {
                "SELECT CAST(indexname AS TEXT), indexdef FROM pg_indexes \
                 WHERE tablename = 'accounts' ORDER BY 1"
            }
        };
        sqlx::query_as(sql).fetch_all(store.pool()).await.unwrap()
    }

    #[derive(Default)]
    struct Heard(Vec<String>);

    impl ImportObserver for Heard {
        fn row_error(&mut self, error: RowError) {
            self.0.push(error.to_string());
        }
    }

    async fn refuse_repeated_ids<C: LoadConnection>(store: &Store, mut load: FirstLoad<C>) {
        let migrated = schema(store).await;
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
            schema(store).await,
            migrated,
            "the same indexes as the migrations'"
        );
        let duplicate = store
            .add_account(&account("0000000001", "0987654321"))
            .await;
        assert!(
            duplicate.is_ok(),
            "an upsert on the code's uniqueness: {duplicate:?}"
        );
    }

    async fn later_lines_with_a_taken_personal_id_are_refused_and_the_indexes_come_back(
        store: Store,
    ) {
        with_first_load!(store, refuse_repeated_ids);
    }

    async fn stop_when_not_empty<C: LoadConnection>(store: &Store, mut load: FirstLoad<C>) {
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

    async fn accounts_added_meanwhile_stop_it_without_writing(store: Store) {
        with_first_load!(store, stop_when_not_empty);
    }

    async fn cut_short<C: LoadConnection>(store: &Store, mut load: FirstLoad<C>) {
        load.stage(&[row(2, "0000000001", None)]).await.unwrap();
        drop(load);
        assert!(
            store
                .find_account(&key("0000000001"))
                .await
                .unwrap()
                .is_none()
        );
    }

    async fn a_load_cut_short_leaves_the_table_empty(store: Store) {
        with_first_load!(store, cut_short);
    }

    on_both_databases!(
        later_lines_with_a_taken_personal_id_are_refused_and_the_indexes_come_back,
        accounts_added_meanwhile_stop_it_without_writing,
        a_load_cut_short_leaves_the_table_empty,
    );
}
