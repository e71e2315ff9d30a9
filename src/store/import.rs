//! `hotline accounts import FILE.csv`: bulk upsert of accounts from a CSV file.
//!
//! The header must be exactly `code,phone,personal_id,registered`. Every row is parsed first; bad
//! rows are reported with their file line (the header is line 1), the field and the reason, and
//! the good rows are then written in one transaction. Importing the same file again changes
//! nothing and says so (`unchanged`). Within a file, a code seen twice is an error on its second
//! line, and a personal ID already held by another account is an error on its row.
//!
//! `registered` accepts `true/false`, `1/0`, `yes/no` (any case); an empty cell means registered,
//! as `hotline accounts add` does without `--unregistered`. An empty `personal_id` keeps the one on
//! record, if any.

use std::collections::HashMap;
use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

use super::accounts::{self, NewAccount, Upsert};
use super::{Store, StoreError};
use crate::domain::{InsuranceCode, PersonalId, PhoneNumber};

/// The header an import file must start with.
pub const IMPORT_CSV_HEADER: &str = "code,phone,personal_id,registered";

/// What an import did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ImportReport {
    /// Rows that added an account or changed one.
    pub imported: usize,
    /// Rows identical to what was already stored.
    pub unchanged: usize,
    /// Rows not imported, in file order.
    pub errors: Vec<RowError>,
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

/// Errors that stop the whole import (no row is written).
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("the first line must be exactly `{IMPORT_CSV_HEADER}`, found `{found}`")]
    Header { found: String },
    #[error("the file is empty: the first line must be `{IMPORT_CSV_HEADER}`")]
    Empty,
    #[error("cannot read {path}: {source}")]
    Io { path: PathBuf, source: io::Error },
    #[error("cannot read the CSV: {0}")]
    Csv(#[from] csv::Error),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl Store {
    /// Imports the CSV file at `path`.
    pub async fn import_csv(&self, path: &Path) -> Result<ImportReport, ImportError> {
        let bytes = tokio::fs::read(path)
            .await
            .map_err(|source| ImportError::Io {
                path: path.to_owned(),
                source,
            })?;
        self.import_csv_from(bytes.as_slice()).await
    }

    /// Imports accounts from CSV text (see the module documentation for the format).
    pub async fn import_csv_from(
        &self,
        reader: impl io::Read,
    ) -> Result<ImportReport, ImportError> {
        let (rows, mut errors) = parse_rows(reader)?;
        let mut report = ImportReport::default();
        let mut tx = self
            .pool()
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(StoreError::from)?;
        for (line, account) in rows {
            match accounts::upsert_account(&mut tx, &account).await {
                Ok(Upsert::Added | Upsert::Updated) => report.imported += 1,
                Ok(Upsert::Unchanged) => report.unchanged += 1,
                Err(StoreError::PersonalIdTaken) => errors.push(RowError {
                    line,
                    field: "personal_id",
                    reason: "already belongs to another account".into(),
                }),
                Err(other) => return Err(other.into()),
            }
        }
        tx.commit().await.map_err(StoreError::from)?;
        errors.sort_by_key(|e| e.line);
        report.errors = errors;
        Ok(report)
    }
}

/// Reads the header and every row; returns the good rows with their lines, and the bad ones.
fn parse_rows(
    reader: impl io::Read,
) -> Result<(Vec<(u64, NewAccount)>, Vec<RowError>), ImportError> {
    let mut csv = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(reader);
    let mut records = csv.records();
    let header = records.next().ok_or(ImportError::Empty)??;
    check_header(&header)?;
    let mut rows = Vec::new();
    let mut errors = Vec::new();
    let mut first_line_of_code: HashMap<InsuranceCode, u64> = HashMap::new();
    for record in records {
        let record = match record {
            Ok(record) => record,
            Err(e) => match e.kind() {
                csv::ErrorKind::Utf8 { pos: Some(pos), .. } => {
                    errors.push(RowError {
                        line: pos.line(),
                        field: "row",
                        reason: "is not valid UTF-8".into(),
                    });
                    continue;
                }
                _ => return Err(e.into()),
            },
        };
        let line = record.position().map_or(0, csv::Position::line);
        match parse_row(&record) {
            Ok(account) => match first_line_of_code.get(&account.code) {
                Some(first) => errors.push(RowError {
                    line,
                    field: "code",
                    reason: format!("appears again (first on line {first})"),
                }),
                None => {
                    first_line_of_code.insert(account.code.clone(), line);
                    rows.push((line, account));
                }
            },
            Err((field, reason)) => errors.push(RowError {
                line,
                field,
                reason,
            }),
        }
    }
    Ok((rows, errors))
}

fn check_header(header: &csv::StringRecord) -> Result<(), ImportError> {
    let fields: Vec<&str> = header
        .iter()
        .map(|f| f.trim_start_matches('\u{feff}'))
        .collect();
    if fields.join(",") == IMPORT_CSV_HEADER {
        Ok(())
    } else {
        Err(ImportError::Header {
            found: fields.join(","),
        })
    }
}

fn parse_row(record: &csv::StringRecord) -> Result<NewAccount, (&'static str, String)> {
    if record.len() != 4 {
        return Err((
            "row",
            format!(
                "has {} fields, expected 4 ({IMPORT_CSV_HEADER})",
                record.len()
            ),
        ));
    }
    let field = |i: usize| record.get(i).unwrap_or_default();
    let code = InsuranceCode::parse(field(0)).map_err(|e| ("code", e.to_string()))?;
    let phone = PhoneNumber::parse(field(1)).map_err(|e| ("phone", e.to_string()))?;
    let personal_id = match field(2) {
        "" => None,
        text => Some(PersonalId::parse(text).map_err(|e| ("personal_id", e.to_string()))?),
    };
    let registered = parse_registered(field(3)).ok_or_else(|| {
        (
            "registered",
            "must be true/false, 1/0 or yes/no (empty means true)".to_owned(),
        )
    })?;
    Ok(NewAccount {
        code,
        phone,
        personal_id,
        registered,
    })
}

fn parse_registered(text: &str) -> Option<bool> {
    match text.to_ascii_lowercase().as_str() {
        "" | "true" | "1" | "yes" => Some(true),
        "false" | "0" | "no" => Some(false),
        _ => None,
    }
}
