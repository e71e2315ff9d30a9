//! `hotline cdr report` as an operator runs it: the real binary on a database of CDRs, its
//! totals checked against `hotline cdr export` summed by hand, for every grouping.

mod support;

use hotline::domain::{CallId, NodeId, Outcome, PhoneNumber};
use hotline::store::{NewCdr, Store};
use support::binary::{export, hotline, stdout_of};
use time::macros::datetime;
use time::{Duration, OffsetDateTime};

/// Twelve calls over three local days, two nodes and four outcomes; one still open.
async fn calls(db_url: &str) {
    let store = Store::connect(db_url).await.unwrap();
    let outcomes = [
        Outcome::Reset,
        Outcome::Mismatch,
        Outcome::NoInput,
        Outcome::Abandoned,
    ];
    let first = datetime!(2026-11-29 15:30:00 UTC);
    for i in 0..12_i64 {
        let answered_at: OffsetDateTime = first + Duration::hours(5 * i);
        let call_id = CallId::new(format!("call-{i}"));
        store
            .open_cdr(&NewCdr {
                call_id: call_id.clone(),
                caller_raw: "0912345678".into(),
                caller: Some(PhoneNumber::parse("0912345678").unwrap()),
                called: "19009068".into(),
                source: "127.0.0.1:5060".into(),
                answered_at,
                node: NodeId::parse(if i % 3 == 0 { "node-b" } else { "node-a" }).unwrap(),
            })
            .await
            .unwrap();
        if i != 11 {
            let ended_at = answered_at + Duration::seconds(20 + 25 * i);
            let outcome = outcomes[i as usize % outcomes.len()];
            store
                .close_cdr(&call_id, ended_at, outcome, 1000, "VND")
                .await
                .unwrap();
        }
    }
    store.close().await;
}

/// Calls, billed minutes and amount summed over CSV rows, at the given columns.
fn sums(rows: &[Vec<String>], calls: Option<usize>, minutes: usize, amount: usize) -> [i64; 3] {
    let number = |cell: &String| cell.parse::<i64>().unwrap_or(0);
    rows.iter().fold([0; 3], |[c, m, a], row| {
        [
            c + calls.map_or(1, |i| number(&row[i])),
            m + number(&row[minutes]),
            a + number(&row[amount]),
        ]
    })
}

fn report(db_url: &str, args: &[&str]) -> String {
    stdout_of(db_url, &[&["cdr", "report"], args].concat())
}

#[tokio::test]
async fn each_grouping_adds_up_to_the_export() {
    let dir = tempfile::tempdir().unwrap();
    let db_url = format!("sqlite://{}", dir.path().join("hotline.db").display());
    calls(&db_url).await;
    let exported = export(&db_url);
    assert_eq!(exported.len(), 12);
    // call_id,caller,called,answered_at,ended_at,duration_ms,billed_minutes,amount,…
    let expected = sums(&exported, None, 6, 7);
    assert!(expected[1] > 12, "calls of several minutes: {expected:?}");

    for by in ["day", "node", "outcome"] {
        let text = report(&db_url, &["--by", by, "--csv"]);
        let mut lines = text.lines();
        assert_eq!(
            lines.next(),
            Some(format!("{by},calls,billed_minutes,amount,currency").as_str())
        );
        let rows: Vec<Vec<String>> = lines
            .map(|l| l.split(',').map(str::to_owned).collect())
            .collect();
        assert_eq!(sums(&rows, Some(1), 2, 3), expected, "--by {by}: {text}");
    }

    let days = report(&db_url, &["--by", "day", "--csv"]);
    let day_names: Vec<&str> = days.lines().skip(1).map(|l| &l[..10]).collect();
    assert_eq!(
        day_names,
        ["2026-11-29", "2026-11-30", "2026-12-01", "2026-12-02"],
        "local days (+07:00): 15:30 UTC on 29 November is 22:30 there"
    );

    let table = report(&db_url, &["--by", "node"]);
    let total = table.lines().last().unwrap();
    let figures: Vec<&str> = total.split_whitespace().collect();
    assert_eq!(figures[0], "total", "{table}");
    assert_eq!(figures[1], "12", "{table}");
    assert_eq!(
        figures[2].replace(',', ""),
        expected[1].to_string(),
        "{table}"
    );
    assert_eq!(
        figures[3].replace(',', ""),
        expected[2].to_string(),
        "{table}"
    );
}

#[tokio::test]
async fn a_period_keeps_the_calls_answered_in_it() {
    let dir = tempfile::tempdir().unwrap();
    let db_url = format!("sqlite://{}", dir.path().join("hotline.db").display());
    calls(&db_url).await;
    // 30 November local time: from 2026-11-29T17:00Z to 2026-11-30T17:00Z, calls 1 to 5.
    let text = report(
        &db_url,
        &[
            "--by",
            "day",
            "--since",
            "2026-11-30",
            "--until",
            "2026-11-30",
            "--csv",
        ],
    );
    let lines: Vec<&str> = text.lines().skip(1).collect();
    assert_eq!(lines.len(), 1, "{text}");
    assert!(lines[0].starts_with("2026-11-30,5,"), "{text}");
}

#[test]
fn a_bad_bound_is_named_and_refused() {
    let dir = tempfile::tempdir().unwrap();
    let db_url = format!("sqlite://{}", dir.path().join("hotline.db").display());
    let out = hotline(&db_url)
        .args(["cdr", "report", "--since", "yesterday"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--since") && err.contains("like 30d"), "{err}");
    let out = hotline(&db_url)
        .args(["cdr", "report", "--by", "caller"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("day, node, outcome"));
}
