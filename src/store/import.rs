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
        self.import_csv_bytes(&bytes).await
    }

    /// Imports accounts from CSV text (see the module documentation for the format).
    pub async fn import_csv_bytes(&self, csv: &[u8]) -> Result<ImportReport, ImportError> {
        let Parsed { rows, mut errors } = parse_rows(csv)?;
        let mut report = ImportReport::default();
        let mut tx = self.begin_write(&[]).await?;
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

/// The rows of a file: the good ones with their line numbers, and the bad ones.
struct Parsed {
    rows: Vec<(u64, NewAccount)>,
    errors: Vec<RowError>,
}

/// Reads the header and every row.
fn parse_rows(bytes: &[u8]) -> Result<Parsed, ImportError> {
    let mut csv = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(bytes);
    let mut records = csv.records();
    let header = records.next().ok_or(ImportError::Empty)??;
    check_header(&header)?;
    let mut rows = Vec::new();
    let mut errors = Vec::new();
    let mut first_line_of_code: HashMap<InsuranceCode, u64> = HashMap::new();
    let mut lines = LineCounter::new(bytes);
    for record in records {
        let record = match record {
            Ok(record) => record,
            Err(e) => match e.kind() {
                csv::ErrorKind::Utf8 { pos: Some(pos), .. } => {
                    errors.push(RowError {
                        line: lines.line_of(pos),
                        field: "row",
                        reason: "is not valid UTF-8".into(),
                    });
                    continue;
                }
                _ => return Err(e.into()),
            },
        };
        let line = record.position().map_or(0, |pos| lines.line_of(pos));
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
    Ok(Parsed { rows, errors })
}

/// File line numbers of records. The csv crate reports a record that follows blank lines at the
/// first blank line, so the line is counted here from the record's first byte instead.
struct LineCounter<'a> {
    bytes: &'a [u8],
    offset: usize,
    line: u64,
}

impl<'a> LineCounter<'a> {
    fn new(bytes: &'a [u8]) -> LineCounter<'a> {
        LineCounter {
            bytes,
            offset: 0,
            line: 1,
        }
    }

    /// The line on which the record at `pos` starts; records must be asked for in file order.
    fn line_of(&mut self, pos: &csv::Position) -> u64 {
        let mut start = usize::try_from(pos.byte())
            .unwrap_or(usize::MAX)
            .min(self.bytes.len());
        while matches!(self.bytes.get(start), Some(b'\r' | b'\n')) {
            start += 1;
        }
        if let Some(skipped) = self.bytes.get(self.offset..start) {
            self.line += skipped.iter().filter(|&&b| b == b'\n').count() as u64;
            self.offset = start;
        }
        self.line
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::testing::{key, on_both_databases};

    const GOOD: &str = "code,phone,personal_id,registered\n\
                        0123456789,0912345678,001085012345,true\n\
                        1111111111,+84 98 765 4321,,0\n\
                        2222222222,01681234567,,\n";

    async fn good_rows_are_imported_and_a_second_import_changes_nothing(store: Store) {
        let first = store.import_csv_bytes(GOOD.as_bytes()).await.unwrap();
        assert_eq!(
            first,
            ImportReport {
                imported: 3,
                unchanged: 0,
                errors: vec![]
            }
        );
        let again = store.import_csv_bytes(GOOD.as_bytes()).await.unwrap();
        assert_eq!(
            again,
            ImportReport {
                imported: 0,
                unchanged: 3,
                errors: vec![]
            }
        );

        let a = store
            .find_account(&key("001085012345"))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            (a.code.as_str(), a.phone.as_str(), a.registered),
            ("0123456789", "+84912345678", true)
        );
        let b = store
            .find_account(&key("1111111111"))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            (b.phone.as_str(), b.registered, b.personal_id),
            ("+84987654321", false, None)
        );
        let c = store
            .find_account(&key("2222222222"))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            (c.phone.as_str(), c.registered),
            ("+84381234567", true),
            "old 11-digit form, empty = registered"
        );
    }

    async fn bad_rows_are_reported_with_line_field_and_reason_and_good_ones_still_imported(
        store: Store,
    ) {
        let csv = "code,phone,personal_id,registered\n\
                   0123456789,0912345678,,yes\n\
                   012345678,0912345678,,yes\n\
                   \n\
                   3333333333,0912345678,12345,yes\n\
                   4444444444,0912345678,,maybe\n\
                   5555555555,12345,,no\n\
                   6666666666,0912345678\n\
                   0123456789,0987654321,,yes\n\
                   7777777777,0912345678,,no\n";
        let report = store.import_csv_bytes(csv.as_bytes()).await.unwrap();
        assert_eq!((report.imported, report.unchanged), (2, 0));
        let lines: Vec<String> = report.errors.iter().map(ToString::to_string).collect();
        assert_eq!(
            lines,
            [
                "line 3: code: must be 10 digits, got 9",
                "line 5: personal_id: must be 12 digits, got 5",
                "line 6: registered: must be true/false, 1/0 or yes/no (empty means true)",
                "line 7: phone: has 5 digits, too few or too many for a phone number",
                "line 8: row: has 2 fields, expected 4 (code,phone,personal_id,registered)",
                "line 9: code: appears again (first on line 2)",
            ]
        );
        assert!(
            store
                .find_account(&key("7777777777"))
                .await
                .unwrap()
                .is_some()
        );
        let first = store
            .find_account(&key("0123456789"))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            first.phone.as_str(),
            "+84912345678",
            "the duplicate row did not overwrite"
        );
    }

    async fn a_personal_id_held_by_another_account_is_a_row_error(store: Store) {
        let csv = "code,phone,personal_id,registered\n\
                   0123456789,0912345678,001085012345,1\n\
                   1111111111,0987654321,001085012345,1\n";
        let report = store.import_csv_bytes(csv.as_bytes()).await.unwrap();
        assert_eq!(report.imported, 1);
        assert_eq!(report.errors.len(), 1);
        assert_eq!(
            report.errors[0].to_string(),
            "line 3: personal_id: already belongs to another account"
        );
        assert!(
            store
                .find_account(&key("1111111111"))
                .await
                .unwrap()
                .is_none()
        );
    }

    async fn a_wrong_header_stops_the_import_and_names_what_is_expected(store: Store) {
        let err = store
            .import_csv_bytes("code,phone,registered\n0123456789,0912345678,1\n".as_bytes())
            .await
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "the first line must be exactly `code,phone,personal_id,registered`, found `code,phone,registered`"
        );
        assert!(
            store
                .find_account(&key("0123456789"))
                .await
                .unwrap()
                .is_none()
        );
        assert!(matches!(
            store.import_csv_bytes("".as_bytes()).await,
            Err(ImportError::Empty)
        ));
    }

    async fn a_byte_order_mark_and_spaces_are_tolerated(store: Store) {
        let csv =
            "\u{feff}code, phone, personal_id, registered\r\n 0123456789 , 0912345678 ,, YES\r\n";
        let report = store.import_csv_bytes(csv.as_bytes()).await.unwrap();
        assert_eq!(
            report,
            ImportReport {
                imported: 1,
                unchanged: 0,
                errors: vec![]
            }
        );
    }

    async fn a_file_is_read_from_its_path(store: Store) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("accounts.csv");
        std::fs::write(&path, GOOD).unwrap();
        assert_eq!(store.import_csv(&path).await.unwrap().imported, 3);
        let missing = store
            .import_csv(&dir.path().join("nope.csv"))
            .await
            .unwrap_err();
        assert!(missing.to_string().contains("nope.csv"), "{missing}");
    }

    on_both_databases!(
        good_rows_are_imported_and_a_second_import_changes_nothing,
        bad_rows_are_reported_with_line_field_and_reason_and_good_ones_still_imported,
        a_personal_id_held_by_another_account_is_a_row_error,
        a_wrong_header_stops_the_import_and_names_what_is_expected,
        a_byte_order_mark_and_spaces_are_tolerated,
        a_file_is_read_from_its_path,
    );
}
