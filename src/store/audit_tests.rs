//! The audit's contract, on both databases.

use time::Duration;

use super::testing::{at, key, node, on_both_databases, phone};
use super::*;
use crate::domain::CallId;

fn verification(
    call: &str,
    attempt: u32,
    seconds: f64,
    caller: &str,
    keyed: &str,
    result: VerificationResult,
) -> VerificationRecord {
    VerificationRecord {
        call_id: CallId::new(call),
        attempt,
        at: at(seconds),
        node: node("node-a"),
        caller: phone(caller),
        keyed: key(keyed),
        result,
    }
}

/// One caller asking for three accounts, another a single mismatch, a lock-out and a busy.
fn history() -> Vec<VerificationRecord> {
    use VerificationResult::*;
    vec![
        verification("c1", 1, 10.0, "0912345678", "0123456789", Reset),
        verification("c2", 1, 20.0, "0912345678", "1111111111", Mismatch),
        verification("c2", 2, 25.0, "0912345678", "0123456789", Reset),
        verification("c3", 1, 30.0, "0987654321", "001085012345", Mismatch),
        verification("c4", 1, 40.0, "0912345678", "2222222222", LockedOut),
        verification("c5", 1, 50.0, "0987654321", "0123456789", SystemBusy),
    ]
}

async fn record(store: &Store) {
    for v in history() {
        store.record_verification(&v).await.unwrap();
    }
}

/// The exported lines after the header; the count returned must match them.
async fn exported(store: &Store, filter: AuditFilter) -> Vec<String> {
    let mut out = Vec::new();
    let rows = store.export_verifications(&filter, &mut out).await.unwrap();
    let lines: Vec<String> = String::from_utf8(out)
        .unwrap()
        .lines()
        .skip(1)
        .map(str::to_owned)
        .collect();
    assert_eq!(lines.len() as u64, rows, "{filter:?}");
    lines
}

async fn every_verification_is_exported_once_oldest_first_and_filters_narrow_it(store: Store) {
    record(&store).await;
    record(&store).await; // a retried write changes nothing
    let mut out = Vec::new();
    store
        .export_verifications(&AuditFilter::default(), &mut out)
        .await
        .unwrap();
    let text = String::from_utf8(out).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "at,node,call_id,caller,keyed,result,attempt");
    assert_eq!(
        lines[1],
        "2026-11-23T08:00:10.000Z,node-a,c1,+84912345678,0123456789,reset,1"
    );
    assert_eq!(lines.len(), 7);
    assert!(lines[6].ends_with(",c5,+84987654321,0123456789,system_busy,1"));

    let by_caller = exported(
        &store,
        AuditFilter {
            caller: Some(phone("+84987654321")),
            ..AuditFilter::default()
        },
    )
    .await;
    assert_eq!(by_caller.len(), 2);
    let by_code = exported(
        &store,
        AuditFilter {
            keyed: Some(key("0123456789")),
            ..AuditFilter::default()
        },
    )
    .await;
    assert_eq!(by_code.len(), 3);
    let window = exported(
        &store,
        AuditFilter {
            period: Period {
                since: Some(at(20.0)),
                until: Some(at(30.0)),
            },
            ..AuditFilter::default()
        },
    )
    .await;
    assert_eq!(
        window.len(),
        2,
        "since included, until excluded: {window:?}"
    );
}

async fn a_large_export_is_paged_without_loss_or_repeat(store: Store) {
    // 2,500 verifications, several in each millisecond, so pages split inside equal times.
    for i in 0..2500_u32 {
        let v = verification(
            &format!("call-{}", i / 2),
            1 + i % 2,
            f64::from(i / 6),
            "0912345678",
            "0123456789",
            VerificationResult::Mismatch,
        );
        store.record_verification(&v).await.unwrap();
    }
    let lines = exported(&store, AuditFilter::default()).await;
    let distinct: std::collections::HashSet<&String> = lines.iter().collect();
    assert_eq!(distinct.len(), 2500);
}

async fn top_ranks_callers_and_codes_by_verifications_with_their_results(store: Store) {
    record(&store).await;
    let callers = store
        .audit_top(AuditTopBy::Caller, Period::default(), 20)
        .await
        .unwrap();
    assert_eq!(callers.len(), 2);
    let first = &callers[0];
    assert_eq!(first.who, "+84912345678");
    assert_eq!(
        (
            first.verifications,
            first.resets,
            first.mismatches,
            first.locked_out,
            first.system_busy
        ),
        (4, 2, 1, 1, 0)
    );
    assert_eq!((first.first_at, first.last_at), (at(10.0), at(40.0)));
    assert_eq!((callers[1].verifications, callers[1].system_busy), (2, 1));

    let codes = store
        .audit_top(AuditTopBy::Code, Period::default(), 1)
        .await
        .unwrap();
    assert_eq!(codes.len(), 1, "the limit holds");
    assert_eq!(
        (
            codes[0].who.as_str(),
            codes[0].verifications,
            codes[0].resets
        ),
        ("0123456789", 3, 2)
    );

    let later = Period {
        since: Some(at(30.0)),
        until: None,
    };
    let recent = store
        .audit_top(AuditTopBy::Caller, later, 20)
        .await
        .unwrap();
    assert_eq!(
        recent[0].who, "+84987654321",
        "only calls in the period count"
    );
}

async fn purging_removes_only_older_rows_in_batches(store: Store) {
    sqlx::query(
        "WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < 12499) \
         INSERT INTO verifications (call_id, attempt, at, node, caller, keyed, result) \
         SELECT 'old-' || i, 1, i, 'node-a', '+84912345678', '0123456789', 'mismatch' FROM n",
    )
    .execute(store.pool())
    .await
    .unwrap();
    record(&store).await;
    let purged = store
        .purge_verifications(at(0.0) - Duration::days(1))
        .await
        .unwrap();
    assert_eq!(purged, 12_500);
    assert_eq!(
        exported(&store, AuditFilter::default()).await.len(),
        history().len()
    );
    assert_eq!(store.purge_verifications(at(0.0)).await.unwrap(), 0);
}

on_both_databases!(
    every_verification_is_exported_once_oldest_first_and_filters_narrow_it,
    a_large_export_is_paged_without_loss_or_repeat,
    top_ranks_callers_and_codes_by_verifications_with_their_results,
    purging_removes_only_older_rows_in_batches,
);
