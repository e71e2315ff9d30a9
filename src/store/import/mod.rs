//! `hotline accounts import FILE.csv`: bulk upsert of accounts from a CSV file, at national scale
//! (20 million rows) in bounded memory.
//!
//! The header must be exactly `code,phone,personal_id,registered`. The file is read a line at a
//! time ([`parse`]), twice: first for its codes alone, to find those that repeat ([`repeats`]),
//! then for the import. Rows go to the database in batches ([`sqlite`], [`postgres`]), where they
//! are checked and upserted set-based ([`staging`]). Bad rows are reported with their file line
//! (the header is line 1), the field and the reason, in line order, and the import goes on with
//! the good ones. Importing the same file again changes nothing and says so (`unchanged`). Within
//! a file, a code seen twice is an error on its second line, and a personal ID already held by
//! another account is an error on its row.
//!
//! `registered` accepts `true/false`, `1/0`, `yes/no` (any case); an empty cell means registered,
//! as `hotline accounts add` does without `--unregistered`. An empty `personal_id` keeps the one on
//! record, if any.
//!
//! Each batch is committed on its own: a file that fails to read halfway (or an interrupted
//! import) leaves the batches before it written, and importing the file again finishes the job.
//! A bad header or an empty file stops the import before anything is written.
//!
//! The first import into an empty database is different ([`first_load`]): all or nothing,
//! several times faster, and the personal IDs given twice are reported after the other bad rows.

mod first_load;
mod parse;
mod postgres;
mod progress;
mod repeats;
mod sqlite;
mod staging;
#[cfg(test)]
mod tests;

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

use sqlx::pool::PoolConnection;
use sqlx::{Connection as _, PgConnection};
use tokio::io::{AsyncBufRead, BufReader};

use self::first_load::FirstLoad;
use self::parse::{Row, RowReader, code_number};
use self::postgres::PostgresImport;
use self::repeats::Repeats;
use self::sqlite::SqliteImport;
use self::staging::BatchOutcome;
use super::{Backend, Store, StoreError};

pub use self::progress::{ImportProgress, ProgressReporter, progress_line, thousands};

/// The header an import file must start with.
pub const IMPORT_CSV_HEADER: &str = "code,phone,personal_id,registered";

/// Rows sent to the database at once. Large enough that per-statement costs vanish (a batch is
/// a handful of statements), small enough that a batch and its JSON or COPY text take a few MiB.
const BATCH_ROWS: usize = 20_000;

/// Read buffer for the file.
const READ_BUFFER_BYTES: usize = 256 * 1024;

/// What an import did, bad rows included (for callers that want them all at the end).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ImportReport {
    /// Rows that added an account or changed one.
    pub imported: usize,
    /// Rows identical to what was already stored.
    pub unchanged: usize,
    /// Rows not imported, in file order.
    pub errors: Vec<RowError>,
}

/// What an import did, counted (the bad rows went to an [`ImportObserver`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ImportTotals {
    pub imported: u64,
    pub unchanged: u64,
    pub rejected: u64,
}

/// One bad row.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RowError {
    /// Line in the file, the header being line 1.
    pub line: u64,
    /// The column at fault, or `row` for the row as a whole.
    pub field: &'static str,
    pub reason: String,
}

impl fmt::Display for RowError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}: {}", self.line, self.field, self.reason)
    }
}

/// Hears about an import as it runs: bad rows in line order (but see [`first_load`]), and
/// progress after each batch.
pub trait ImportObserver {
    fn row_error(&mut self, error: RowError);
    fn progress(&mut self, _progress: ImportProgress) {}
    /// Every row is read; a last step that takes a while begins (a first load's index build).
    fn last_step(&mut self, _what: &'static str) {}
}

/// Keeps every bad row, for [`ImportReport`].
#[derive(Default)]
struct CollectErrors(Vec<RowError>);

impl ImportObserver for CollectErrors {
    fn row_error(&mut self, error: RowError) {
        self.0.push(error);
    }
}

/// Errors that stop the import.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("the first line must be exactly `{IMPORT_CSV_HEADER}`, found `{found}`")]
    Header { found: String },
    #[error("the file is empty: the first line must be `{IMPORT_CSV_HEADER}`")]
    Empty,
    #[error("cannot read {path}: {source}")]
    Io { path: PathBuf, source: io::Error },
    #[error("cannot read the file: {0}")]
    Read(io::Error),
    #[error(
        "accounts were added to the database while this first import ran (another import?); \
         nothing was imported: run it again"
    )]
    NoLongerEmpty,
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<sqlx::Error> for ImportError {
    fn from(e: sqlx::Error) -> ImportError {
        ImportError::Store(StoreError::from(e))
    }
}

impl Store {
    /// Imports the CSV file at `path`, keeping every bad row in the report.
    pub async fn import_csv(&self, path: &Path) -> Result<ImportReport, ImportError> {
        let mut errors = CollectErrors::default();
        let totals = self.import_csv_observed(path, &mut errors).await?;
        Ok(report(totals, errors))
    }

    /// Imports the CSV file at `path`, telling `observer` about bad rows and progress as they
    /// come: memory stays bounded however large the file and however many rows are bad.
    pub async fn import_csv_observed(
        &self,
        path: &Path,
        observer: &mut dyn ImportObserver,
    ) -> Result<ImportTotals, ImportError> {
        let io_error = |source| ImportError::Io {
            path: path.to_owned(),
            source,
        };
        let open = || async {
            let file = tokio::fs::File::open(path).await.map_err(io_error)?;
            let size = file.metadata().await.map_err(io_error)?.len();
            Ok::<_, ImportError>((BufReader::with_capacity(READ_BUFFER_BYTES, file), size))
        };
        let with_path = |e| match e {
            ImportError::Read(source) => io_error(source),
            other => other,
        };
        let (first_pass, size) = open().await?;
        let repeats = Repeats::scan(first_pass, size).await.map_err(with_path)?;
        let (second_pass, _) = open().await?;
        self.import_reader(second_pass, Some(size), repeats, BATCH_ROWS, observer)
            .await
            .map_err(with_path)
    }

    /// Imports accounts from CSV text (see the module documentation for the format).
    pub async fn import_csv_bytes(&self, csv: &[u8]) -> Result<ImportReport, ImportError> {
        self.import_csv_bytes_in_batches(csv, BATCH_ROWS).await
    }

    /// As [`Store::import_csv_bytes`], with batches of `batch_rows` (tests cross batch edges).
    pub(crate) async fn import_csv_bytes_in_batches(
        &self,
        csv: &[u8],
        batch_rows: usize,
    ) -> Result<ImportReport, ImportError> {
        let mut errors = CollectErrors::default();
        let repeats = Repeats::scan(csv, csv.len() as u64).await?;
        let totals = self
            .import_reader(
                csv,
                Some(csv.len() as u64),
                repeats,
                batch_rows,
                &mut errors,
            )
            .await?;
        Ok(report(totals, errors))
    }

    async fn import_reader(
        &self,
        reader: impl AsyncBufRead + Unpin,
        total_bytes: Option<u64>,
        mut repeats: Repeats,
        batch_rows: usize,
        observer: &mut dyn ImportObserver,
    ) -> Result<ImportTotals, ImportError> {
        let mut rows = RowReader::new(reader).await?;
        let mut target = Target::start(self).await?;
        let mut totals = ImportTotals::default();
        let mut progress = ImportProgress {
            total_bytes,
            ..ImportProgress::default()
        };
        let mut batch = Vec::with_capacity(batch_rows);
        let mut errors = Vec::new();
        let mut at_end = false;
        while !at_end {
            // Bad rows count towards the batch too, so a file of nothing but bad rows cannot
            // pile them up in memory either.
            while batch.len() + errors.len() < batch_rows.max(1) {
                match rows.next_row().await? {
                    Some(Ok(row)) => match code_number(&row.code)
                        .and_then(|code| repeats.earlier_line(code, row.line))
                    {
                        Some(first) => errors.push(RowError {
                            line: row.line,
                            field: "code",
                            reason: format!("appears again (first on line {first})"),
                        }),
                        None => batch.push(row),
                    },
                    Some(Err(error)) => errors.push(error),
                    None => {
                        at_end = true;
                        break;
                    }
                }
            }
            progress.rows += (batch.len() + errors.len()) as u64;
            if !batch.is_empty() {
                let outcome = target.write_batch(&batch).await?;
                let good = batch.len() as u64 - outcome.errors.len() as u64;
                totals.imported += outcome.written;
                totals.unchanged += good.saturating_sub(outcome.written + outcome.staged);
                errors.extend(outcome.errors);
            }
            // Batches follow the file, so sorting each batch's errors keeps them in file order.
            errors.sort_by_key(|e| e.line);
            totals.rejected += errors.len() as u64;
            for error in errors.drain(..) {
                observer.row_error(error);
            }
            batch.clear();
            progress.bytes_read = rows.bytes_read();
            observer.progress(progress);
        }
        let loaded = target.finish(observer).await?;
        totals.imported += loaded.written;
        totals.rejected += loaded.rejected;
        Ok(totals)
    }
}

fn report(totals: ImportTotals, errors: CollectErrors) -> ImportReport {
    let mut errors = errors.0;
    // A first load reports some lines at the end; the report is in file order all the same.
    errors.sort_by_key(|e| e.line);
    ImportReport {
        imported: usize::try_from(totals.imported).unwrap_or(usize::MAX),
        unchanged: usize::try_from(totals.unchanged).unwrap_or(usize::MAX),
        errors,
    }
}

/// Where the batches go.
enum Target {
    Sqlite(SqliteImport),
    SqliteFirstLoad(FirstLoad<PoolConnection<sqlx::Any>>),
    Postgres(PostgresImport),
    PostgresFirstLoad(FirstLoad<PgConnection>),
}

impl Target {
    async fn start(store: &Store) -> Result<Target, sqlx::Error> {
        Ok(match store.backend() {
            Backend::Sqlite => {
                let mut conn = store.pool().acquire().await?;
                if first_load::accounts_empty(&mut conn).await? {
                    Target::SqliteFirstLoad(FirstLoad::start(conn).await?)
                } else {
                    Target::Sqlite(SqliteImport::start(conn).await?)
                }
            }
            Backend::Postgres => {
                // COPY needs a native connection (the `any` driver has none), of its own.
                let mut conn = PgConnection::connect(store.url().expose()).await?;
                if first_load::accounts_empty(&mut conn).await? {
                    Target::PostgresFirstLoad(FirstLoad::start(conn).await?)
                } else {
                    Target::Postgres(PostgresImport::start(conn).await?)
                }
            }
        })
    }

    async fn write_batch(&mut self, rows: &[Row]) -> Result<BatchOutcome, sqlx::Error> {
        let staged = BatchOutcome {
            staged: rows.len() as u64,
            ..BatchOutcome::default()
        };
        match self {
            Target::Sqlite(import) => import.write_batch(rows).await,
            Target::Postgres(import) => import.write_batch(rows).await,
            Target::SqliteFirstLoad(load) => load.stage(rows).await.map(|()| staged),
            Target::PostgresFirstLoad(load) => load.stage(rows).await.map(|()| staged),
        }
    }

    /// Ends the import; a first load writes its rows now, and reports what it refused.
    async fn finish(
        self,
        observer: &mut dyn ImportObserver,
    ) -> Result<first_load::Loaded, ImportError> {
        match self {
            Target::Sqlite(import) => import.finish().await?,
            Target::Postgres(import) => import.finish().await?,
            Target::SqliteFirstLoad(load) => return load.finish(observer).await,
            Target::PostgresFirstLoad(load) => return load.finish(observer).await,
        }
        Ok(first_load::Loaded::default())
    }
}
