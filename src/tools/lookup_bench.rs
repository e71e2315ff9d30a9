//! `hotline tools lookup-bench` (hidden): how long the verification lookup takes on the
//! configured database, for the import benchmark at 20 million accounts.
//!
//! Accounts come from [`super::gen_accounts`]: row `i < rows` exists, row `i ≥ rows` does not, so
//! the lookups name random existing and missing accounts without reading the file. Lookups run
//! one after another through the store's pool, as a call's verification does.

use std::time::{Duration, Instant};

use rand::RngExt as _;
use serde_json::json;

use super::gen_accounts::{code_of, personal_id_of};
use crate::domain::AccountKey;
use crate::store::{Store, StoreError};

/// Lookups before measuring: a serving node's cache is warm.
const WARM_UP: u64 = 2_000;

/// p50/p99/max of each kind of lookup, as JSON.
pub async fn run(store: &Store, rows: u64, samples: u64) -> Result<serde_json::Value, StoreError> {
    let mut rng = rand::rng();
    let mut existing = Vec::new();
    let mut missing = Vec::new();
    let mut by_personal_id = Vec::new();
    for n in 0..WARM_UP + samples {
        let i = rng.random_range(0..rows.max(1));
        let (key, found_expected, into) = match n % 3 {
            0 => (code_of(i), true, &mut existing),
            1 => (code_of(rows + i), false, &mut missing),
            _ => match personal_id_of(i) {
                Some(id) => (id, true, &mut by_personal_id),
                None => (code_of(i), true, &mut existing),
            },
        };
        let Ok(key) = AccountKey::parse(&key) else {
            continue;
        };
        let started = Instant::now();
        let found = store.find_account(&key).await?.is_some();
        let took = started.elapsed();
        if found != found_expected {
            return Err(StoreError::Corrupt {
                column: "accounts",
                reason: format!(
                    "generated row {i} was {} (is the database the generated file's?)",
                    if found { "found" } else { "missing" }
                ),
            });
        }
        if n >= WARM_UP {
            into.push(took);
        }
    }
    Ok(json!({
        "existing_code": summary(&mut existing),
        "missing_code": summary(&mut missing),
        "existing_personal_id": summary(&mut by_personal_id),
    }))
}

fn summary(times: &mut [Duration]) -> serde_json::Value {
    times.sort();
    let at = |q: f64| {
        times
            .get(((times.len() as f64 * q) as usize).min(times.len().saturating_sub(1)))
            .map_or(0.0, |d| d.as_secs_f64() * 1000.0)
    };
    json!({"n": times.len(), "p50_ms": at(0.50), "p99_ms": at(0.99), "max_ms": at(1.0)})
}
