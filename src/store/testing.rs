//! Helpers shared by the store's tests: a migrated database in a temporary directory, and
//! accounts and instants built from short literals.

use tempfile::TempDir;
use time::OffsetDateTime;

use super::{NewAccount, Store};
use crate::domain::{AccountKey, InsuranceCode, PersonalId, PhoneNumber};

/// A fresh, migrated SQLite database; keep the `TempDir` alive as long as the store.
pub(crate) async fn temp_store() -> (TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("hotline.db").display());
    let store = Store::connect(&url).await.unwrap();
    (dir, store)
}

pub(crate) fn phone(raw: &str) -> PhoneNumber {
    PhoneNumber::parse(raw).unwrap()
}

pub(crate) fn code(digits: &str) -> InsuranceCode {
    InsuranceCode::parse(digits).unwrap()
}

pub(crate) fn key(digits: &str) -> AccountKey {
    AccountKey::parse(digits).unwrap()
}

pub(crate) fn account(code_digits: &str, phone_raw: &str) -> NewAccount {
    NewAccount {
        code: code(code_digits),
        phone: phone(phone_raw),
        personal_id: None,
        registered: true,
    }
}

pub(crate) fn with_personal_id(mut account: NewAccount, digits: &str) -> NewAccount {
    account.personal_id = Some(PersonalId::parse(digits).unwrap());
    account
}

/// `seconds` after a fixed instant (2026-11-23 08:00:00 UTC), so tests never read the clock.
pub(crate) fn at(seconds: f64) -> OffsetDateTime {
    time::macros::datetime!(2026-11-23 08:00 UTC) + time::Duration::seconds_f64(seconds)
}
