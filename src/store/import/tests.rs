//! The import's contract, on both databases.

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
    let csv = "\u{feff}code, phone, personal_id, registered\r\n 0123456789 , 0912345678 ,, YES\r\n";
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

/// Batches of three rows: line 2-4 (with a bad row), 5-7, 8-10 ...
const SMALL_BATCH: usize = 3;

async fn batches_are_invisible_repeats_and_bad_rows_at_their_edges_included(store: Store) {
    repeats_and_bad_rows_at_batch_edges(store).await;
}

/// The same file into a database that has accounts already: on SQLite that is the batch path
/// rather than the first load (src/store/import/first_load.rs), and the outcome is the same.
async fn into_a_database_with_accounts_batches_refuse_the_same_rows(store: Store) {
    store
        .add_account(&crate::store::testing::account("9999999999", "0900000000"))
        .await
        .unwrap();
    repeats_and_bad_rows_at_batch_edges(store).await;
}

async fn repeats_and_bad_rows_at_batch_edges(store: Store) {
    let csv = "code,phone,personal_id,registered\n\
               0000000001,0912345601,000000000001,1\n\
               0000000002,0912345602,,1\n\
               0000000003,0912345603,,bad\n\
               0000000004,0912345604,,1\n\
               0000000001,0912345699,,1\n\
               0000000005,0912345605,,1\n\
               0000000006,0912345606,,1\n\
               0000000006,0912345606,,1\n\
               0000000007,0912345607,000000000001,1\n\
               0000000008,0912345608,000000000008,0\n\
               0000000009,0912345609,000000000008,0\n";
    let report = store
        .import_csv_bytes_in_batches(csv.as_bytes(), SMALL_BATCH)
        .await
        .unwrap();
    let lines: Vec<String> = report.errors.iter().map(ToString::to_string).collect();
    assert_eq!(
        lines,
        [
            "line 4: registered: must be true/false, 1/0 or yes/no (empty means true)",
            "line 6: code: appears again (first on line 2)",
            "line 9: code: appears again (first on line 8)",
            "line 10: personal_id: already belongs to another account",
            "line 12: personal_id: already belongs to another account",
        ],
        "a repeat across batches, within one, and personal IDs across and within batches"
    );
    assert_eq!((report.imported, report.unchanged), (6, 0));
    let first = store
        .find_account(&key("0000000001"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        first.phone.as_str(),
        "+84912345601",
        "the repeat did not overwrite"
    );

    let again = store
        .import_csv_bytes_in_batches(csv.as_bytes(), SMALL_BATCH)
        .await
        .unwrap();
    assert_eq!((again.imported, again.unchanged), (0, 6));
    assert_eq!(
        again.errors, report.errors,
        "the same rows are refused the same way"
    );
}

async fn a_changed_row_is_counted_as_imported_and_the_rest_unchanged_across_batches(store: Store) {
    let mut csv = String::from("code,phone,personal_id,registered\n");
    for i in 0..10 {
        csv.push_str(&format!("00000000{i:02},09123456{i:02},,1\n"));
    }
    let first = store
        .import_csv_bytes_in_batches(csv.as_bytes(), SMALL_BATCH)
        .await
        .unwrap();
    assert_eq!((first.imported, first.unchanged), (10, 0));
    let changed = csv
        .replace("0000000004,0912345604,,1", "0000000004,0912345604,,0")
        .replace(
            "0000000009,0912345609,,1",
            "0000000009,0912345609,000000000009,1",
        );
    let second = store
        .import_csv_bytes_in_batches(changed.as_bytes(), SMALL_BATCH)
        .await
        .unwrap();
    assert_eq!(
        second,
        ImportReport {
            imported: 2,
            unchanged: 8,
            errors: vec![]
        }
    );
    let stored = store
        .find_account(&key("0000000009"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        stored.personal_id.map(|id| id.as_str().to_owned()),
        Some("000000000009".to_owned())
    );
    // An empty personal ID keeps the one on record: the first file again changes nothing more
    // than registration.
    let third = store
        .import_csv_bytes_in_batches(csv.as_bytes(), SMALL_BATCH)
        .await
        .unwrap();
    assert_eq!((third.imported, third.unchanged), (1, 9));
}

async fn a_password_hash_survives_an_import(store: Store) {
    store.import_csv_bytes(GOOD.as_bytes()).await.unwrap();
    sqlx::query("UPDATE accounts SET password_hash = 'phc' WHERE code = '1111111111'")
        .execute(store.pool())
        .await
        .unwrap();
    let changed = GOOD.replace("1111111111,+84 98 765 4321,,0", "1111111111,0987654321,,1");
    let report = store.import_csv_bytes(changed.as_bytes()).await.unwrap();
    assert_eq!((report.imported, report.unchanged), (1, 2));
    let stored = store
        .find_account(&key("1111111111"))
        .await
        .unwrap()
        .unwrap();
    assert!(stored.registered);
    assert_eq!(stored.password_hash.as_deref(), Some("phc"));
}

/// Records what an observer hears.
#[derive(Default)]
struct Recorder {
    errors: Vec<u64>,
    progress: Vec<ImportProgress>,
}

impl ImportObserver for Recorder {
    fn row_error(&mut self, error: RowError) {
        self.errors.push(error.line);
    }
    fn progress(&mut self, progress: ImportProgress) {
        self.progress.push(progress);
    }
}

async fn an_observer_hears_bad_rows_in_order_and_progress_after_each_batch(store: Store) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("accounts.csv");
    let mut csv = String::from("code,phone,personal_id,registered\n");
    for i in 0..(BATCH_ROWS + 10) {
        match i % 1000 {
            7 => csv.push_str("bad,0912345678,,1\n"),
            _ => csv.push_str(&format!("{:010},0912345678,,1\n", 1_000_000 + i)),
        }
    }
    std::fs::write(&path, &csv).unwrap();
    let mut recorder = Recorder::default();
    let totals = store
        .import_csv_observed(&path, &mut recorder)
        .await
        .unwrap();
    let bad = (BATCH_ROWS + 10).div_ceil(1000) as u64;
    assert_eq!(
        totals,
        ImportTotals {
            imported: (BATCH_ROWS + 10) as u64 - bad,
            unchanged: 0,
            rejected: bad
        }
    );
    assert!(recorder.errors.windows(2).all(|w| w[0] < w[1]));
    assert_eq!(recorder.errors.first(), Some(&9));
    assert_eq!(recorder.progress.len(), 2, "two batches");
    let last = recorder.progress.last().unwrap();
    assert_eq!(last.rows, (BATCH_ROWS + 10) as u64);
    assert_eq!(Some(last.bytes_read), last.total_bytes);
}

on_both_databases!(
    good_rows_are_imported_and_a_second_import_changes_nothing,
    bad_rows_are_reported_with_line_field_and_reason_and_good_ones_still_imported,
    a_personal_id_held_by_another_account_is_a_row_error,
    a_wrong_header_stops_the_import_and_names_what_is_expected,
    a_byte_order_mark_and_spaces_are_tolerated,
    a_file_is_read_from_its_path,
    batches_are_invisible_repeats_and_bad_rows_at_their_edges_included,
    into_a_database_with_accounts_batches_refuse_the_same_rows,
    a_changed_row_is_counted_as_imported_and_the_rest_unchanged_across_batches,
    a_password_hash_survives_an_import,
    an_observer_hears_bad_rows_in_order_and_progress_after_each_batch,
);
