//! Two nodes on one database, as in a cluster: each its own pool, attempts at the same moment.
//! On PostgreSQL these are two sets of connections racing for real; on SQLite two pools on one file.

use std::sync::Arc;

use time::OffsetDateTime;

use super::hasher::tests::cheap_hasher;
use super::testing::{account, at, node, on_both_databases};
use super::{Limits, NewCdr, ResetResult, Store};
use crate::domain::{AccountKey, CallId, Outcome, PhoneNumber};

const PEPPER: &str = "test-pepper-0123456789";

/// A second node's store on the same database.
async fn other_node(store: &Store) -> Store {
    Store::connect(store.url().expose()).await.unwrap()
}

/// `attempts` verifications at once, alternating between the two nodes; returns their results.
async fn race(
    nodes: [&Store; 2],
    limits: Limits,
    attempts: impl Fn(usize) -> (PhoneNumber, AccountKey),
    count: usize,
) -> Vec<ResetResult> {
    let hasher = cheap_hasher(PEPPER);
    let limits = Arc::new(limits);
    let start = Arc::new(tokio::sync::Barrier::new(count));
    let tasks: Vec<_> = (0..count)
        .map(|i| {
            let store = nodes[i % 2].clone();
            let (hasher, limits, start) = (hasher.clone(), limits.clone(), start.clone());
            let (caller, key) = attempts(i);
            tokio::spawn(async move {
                start.wait().await;
                store
                    .verify_and_reset(&hasher, &limits, &caller, &key, at(0.0))
                    .await
                    .unwrap()
            })
        })
        .collect();
    let mut results = Vec::new();
    for task in tasks {
        results.push(task.await.unwrap());
    }
    results
}

fn count(results: &[ResetResult], wanted: fn(&ResetResult) -> bool) -> usize {
    results.iter().filter(|r| wanted(r)).count()
}

async fn failures_from_one_number_on_two_nodes_add_up_to_one_lockout(a: Store) {
    let b = other_node(&a).await;
    let caller = PhoneNumber::parse("0912345678").unwrap();
    let results = race(
        [&a, &b],
        Limits::default(),
        |i| {
            let wrong = AccountKey::parse(&format!("1000000{i:03}")).unwrap();
            (caller.clone(), wrong)
        },
        32,
    )
    .await;
    assert_eq!(
        count(&results, |r| matches!(r, ResetResult::Mismatch)),
        5,
        "exactly max_failures_per_caller attempts are looked up: {results:?}"
    );
    assert_eq!(
        count(&results, |r| matches!(r, ResetResult::TooManyAttempts)),
        27
    );
}

async fn failures_on_one_code_from_many_numbers_on_two_nodes_add_up_to_one_lockout(a: Store) {
    let b = other_node(&a).await;
    a.add_account(&account("0123456789", "0912345678"))
        .await
        .unwrap();
    let results = race(
        [&a, &b],
        Limits::default(),
        |i| {
            let stranger = PhoneNumber::parse(&format!("0900000{i:03}")).unwrap();
            (stranger, AccountKey::parse("0123456789").unwrap())
        },
        32,
    )
    .await;
    assert_eq!(
        count(&results, |r| matches!(r, ResetResult::Mismatch)),
        3,
        "exactly max_failures_per_code attempts are looked up: {results:?}"
    );
}

async fn resets_of_one_account_on_two_nodes_never_pass_its_limit(a: Store) {
    let b = other_node(&a).await;
    a.add_account(&account("0123456789", "0912345678"))
        .await
        .unwrap();
    let limits = Limits {
        account_resets: 3,
        ..Limits::default()
    };
    let results = race(
        [&a, &b],
        limits,
        |_| {
            (
                PhoneNumber::parse("0912345678").unwrap(),
                AccountKey::parse("0123456789").unwrap(),
            )
        },
        10,
    )
    .await;
    assert_eq!(
        count(&results, |r| matches!(r, ResetResult::Reset(_))),
        3,
        "{results:?}"
    );
}

fn new_cdr(id: &str, node_name: &str, answered_at: OffsetDateTime) -> NewCdr {
    NewCdr {
        call_id: CallId::new(id),
        caller_raw: "sip:0912345678@pbx".into(),
        caller: Some(PhoneNumber::parse("0912345678").unwrap()),
        called: "19009068".into(),
        source: "192.0.2.10:5060".into(),
        answered_at,
        node: node(node_name),
    }
}

/// Makes every tick of `call_id` look `seconds` older to the database.
async fn age_ticks(store: &Store, call_id: &str, seconds: i64) {
    sqlx::query("UPDATE billing_ticks SET recorded_at = recorded_at - $2 WHERE call_id = $1")
        .bind(call_id)
        .bind(seconds * 1000)
        .execute(store.pool())
        .await
        .unwrap();
}

async fn a_dead_nodes_calls_are_closed_once_by_a_survivor_from_their_ticks(a: Store) {
    let b = other_node(&a).await;
    let c = other_node(&a).await;
    let minutes = std::time::Duration::from_secs(150);
    // Node A answers two calls and dies: one had ticked three minutes, one is fresh.
    a.open_cdr(&new_cdr("dead-call", "node-a", at(0.0)))
        .await
        .unwrap();
    let dead = CallId::new("dead-call");
    a.record_tick(&dead, 2, at(60.0)).await.unwrap();
    a.record_tick(&dead, 3, at(120.0)).await.unwrap();
    a.open_cdr(&new_cdr("fresh-call", "node-a", at(130.0)))
        .await
        .unwrap();
    // Node B's own live call is never its own orphan.
    b.open_cdr(&new_cdr("b-call", "node-b", at(0.0)))
        .await
        .unwrap();
    age_ticks(&a, "b-call", 1000).await;

    assert_eq!(
        b.close_orphans(&node("node-b"), minutes, 1000, "VND")
            .await
            .unwrap(),
        0,
        "ticks written just now are a live call's, and node B's own call is left to node B"
    );
    // Node B's call goes on ticking.
    b.record_tick(&CallId::new("b-call"), 2, at(60.0))
        .await
        .unwrap();
    age_ticks(&a, "dead-call", 151).await;
    // Two survivors sweep at the same moment: the CDR is closed once.
    let (node_b, node_c) = (node("node-b"), node("node-c"));
    let (by_b, by_c) = tokio::join!(
        b.close_orphans(&node_b, minutes, 1000, "VND"),
        c.close_orphans(&node_c, minutes, 1000, "VND"),
    );
    assert_eq!(by_b.unwrap() + by_c.unwrap(), 1);
    let row = a.cdr(&dead).await.unwrap().unwrap();
    assert_eq!(row.outcome, Some(Outcome::Interrupted));
    assert_eq!((row.billed_minutes, row.amount), (Some(3), Some(3000)));
    assert_eq!(row.ended_at, Some(at(120.0)));
    assert_eq!(row.node.as_deref(), Some("node-a"));
    let fresh = a.cdr(&CallId::new("fresh-call")).await.unwrap().unwrap();
    assert_eq!(fresh.outcome, None, "its last tick is recent");
    let own = a.cdr(&CallId::new("b-call")).await.unwrap().unwrap();
    assert_eq!(own.outcome, None, "node B's call is live");

    // Node A comes back: its late tick and close change nothing that was billed.
    a.record_tick(&dead, 4, at(180.0)).await.unwrap();
    assert!(
        !a.close_cdr(&dead, at(200.0), Outcome::Reset, 1000, "VND")
            .await
            .unwrap()
    );
    assert_eq!(a.cdr(&dead).await.unwrap().unwrap(), row);
    assert_eq!(
        a.close_interrupted(&node("node-a"), 1000, "VND")
            .await
            .unwrap(),
        1,
        "at start-up node A closes its own fresh call, and only that"
    );
    assert_eq!(a.cdr(&dead).await.unwrap().unwrap(), row);
    assert_eq!(
        a.cdr(&CallId::new("b-call"))
            .await
            .unwrap()
            .unwrap()
            .outcome,
        None
    );
}

on_both_databases!(
    failures_from_one_number_on_two_nodes_add_up_to_one_lockout,
    failures_on_one_code_from_many_numbers_on_two_nodes_add_up_to_one_lockout,
    resets_of_one_account_on_two_nodes_never_pass_its_limit,
    a_dead_nodes_calls_are_closed_once_by_a_survivor_from_their_ticks,
);
