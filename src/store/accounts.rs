//! Accounts: who may reset a password, from which number.

use sqlx::AnyConnection;
use time::OffsetDateTime;

use super::backend::LockKey;
use super::{Store, StoreError, clock};
use crate::domain::{AccountKey, InsuranceCode, PersonalId, PhoneNumber};

/// An account as the admin commands and the CSV import give it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewAccount {
    pub code: InsuranceCode,
    pub phone: PhoneNumber,
    pub personal_id: Option<PersonalId>,
    /// Registered for electronic transactions: only then may the hotline reset its password.
    pub registered: bool,
}

/// An account as stored.
#[derive(Clone, PartialEq, Eq)]
pub struct Account {
    pub code: InsuranceCode,
    pub personal_id: Option<PersonalId>,
    pub phone: PhoneNumber,
    pub registered: bool,
    /// The argon2id PHC string of the current password, if one was ever set here.
    pub password_hash: Option<String>,
    pub password_reset_at: Option<OffsetDateTime>,
}

/// Debug leaves out the identifiers and the hash: an `Account` may end up in a log line.
impl std::fmt::Debug for Account {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Account")
            .field("registered", &self.registered)
            .field("has_password", &self.password_hash.is_some())
            .field("password_reset_at", &self.password_reset_at)
            .finish_non_exhaustive()
    }
}

/// What an upsert did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Upsert {
    Added,
    Updated,
    Unchanged,
}

/// The columns of `accounts` in the order [`Account::from_row`] reads them. `registered` is read
/// as 0/1: sqlx's `any` driver cannot decode a column SQLite declares BOOLEAN.
const SELECT_BY_CODE: &str = "SELECT code, personal_id, phone, CASE WHEN registered THEN 1 ELSE 0 END, \
                              password_hash, password_reset_at FROM accounts WHERE code = $1";
const SELECT_BY_PERSONAL_ID: &str = "SELECT code, personal_id, phone, CASE WHEN registered THEN 1 ELSE 0 END, \
                                     password_hash, password_reset_at FROM accounts WHERE personal_id = $1";
type AccountRow = (
    String,
    Option<String>,
    String,
    i64,
    Option<String>,
    Option<i64>,
);

impl Account {
    fn from_row(
        (code, personal_id, phone, registered, password_hash, reset_at): AccountRow,
    ) -> Result<Account, StoreError> {
        Ok(Account {
            code: InsuranceCode::parse(&code).map_err(|e| corrupt("accounts.code", e))?,
            personal_id: personal_id
                .map(|p| PersonalId::parse(&p).map_err(|e| corrupt("accounts.personal_id", e)))
                .transpose()?,
            phone: PhoneNumber::parse(&phone).map_err(|e| corrupt("accounts.phone", e))?,
            registered: registered != 0,
            password_hash,
            password_reset_at: reset_at
                .map(|ms| clock::from_millis(ms, "accounts.password_reset_at"))
                .transpose()?,
        })
    }
}

fn corrupt(column: &'static str, reason: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt {
        column,
        reason: reason.to_string(),
    }
}

impl Store {
    /// Adds an account, or updates the one with the same code. A stored password hash is never
    /// touched, and a personal ID already on record is kept when `account` names none.
    pub async fn add_account(&self, account: &NewAccount) -> Result<(), StoreError> {
        let mut tx = self
            .begin_write(&[LockKey::Account(account.code.as_str())])
            .await?;
        upsert_account(&mut tx, account).await?;
        tx.commit().await?;
        Ok(())
    }

    /// The account an insurance code or a personal ID names, if any.
    pub async fn find_account(&self, key: &AccountKey) -> Result<Option<Account>, StoreError> {
        let mut conn = self.pool().acquire().await?;
        find_account(&mut conn, key).await
    }
}

pub(crate) async fn find_account(
    conn: &mut AnyConnection,
    key: &AccountKey,
) -> Result<Option<Account>, StoreError> {
    let sql = match key {
        AccountKey::Code(_) => SELECT_BY_CODE,
        AccountKey::PersonalId(_) => SELECT_BY_PERSONAL_ID,
    };
    let row: Option<AccountRow> = sqlx::query_as(sql)
        .bind(key.as_str())
        .fetch_optional(&mut *conn)
        .await?;
    row.map(Account::from_row).transpose()
}

/// Inserts or updates one account inside the caller's transaction.
pub(crate) async fn upsert_account(
    conn: &mut AnyConnection,
    account: &NewAccount,
) -> Result<Upsert, StoreError> {
    if let Some(personal_id) = &account.personal_id {
        let owner: Option<(String,)> =
            sqlx::query_as("SELECT code FROM accounts WHERE personal_id = $1")
                .bind(personal_id.as_str())
                .fetch_optional(&mut *conn)
                .await?;
        if owner.is_some_and(|(code,)| code != account.code.as_str()) {
            return Err(StoreError::PersonalIdTaken);
        }
    }
    let existing = find_account(conn, &AccountKey::Code(account.code.clone())).await?;
    let Some(existing) = existing else {
        sqlx::query(
            "INSERT INTO accounts (code, personal_id, phone, registered) VALUES ($1, $2, $3, $4)",
        )
        .bind(account.code.as_str())
        .bind(account.personal_id.as_ref().map(PersonalId::as_str))
        .bind(account.phone.as_str())
        .bind(account.registered)
        .execute(&mut *conn)
        .await?;
        return Ok(Upsert::Added);
    };
    let personal_id = account.personal_id.clone().or(existing.personal_id.clone());
    if existing.phone == account.phone
        && existing.registered == account.registered
        && existing.personal_id == personal_id
    {
        return Ok(Upsert::Unchanged);
    }
    sqlx::query(
        "UPDATE accounts SET personal_id = $2, phone = $3, registered = $4 WHERE code = $1",
    )
    .bind(account.code.as_str())
    .bind(personal_id.as_ref().map(PersonalId::as_str))
    .bind(account.phone.as_str())
    .bind(account.registered)
    .execute(&mut *conn)
    .await?;
    Ok(Upsert::Updated)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::testing::{account, key, on_both_databases, with_personal_id};

    async fn an_account_is_found_by_code_and_by_personal_id(store: Store) {
        store
            .add_account(&with_personal_id(
                account("0123456789", "0912345678"),
                "001085012345",
            ))
            .await
            .unwrap();
        let by_code = store
            .find_account(&key("0123456789"))
            .await
            .unwrap()
            .unwrap();
        let by_id = store
            .find_account(&key("001085012345"))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(by_code, by_id);
        assert_eq!(by_code.phone.as_str(), "+84912345678");
        assert!(by_code.registered);
        assert_eq!(by_code.password_hash, None);
        assert!(
            store
                .find_account(&key("9999999999"))
                .await
                .unwrap()
                .is_none()
        );
        assert!(
            store
                .find_account(&key("999999999999"))
                .await
                .unwrap()
                .is_none()
        );
    }

    async fn adding_again_updates_but_keeps_the_hash_and_the_personal_id(store: Store) {
        store
            .add_account(&with_personal_id(
                account("0123456789", "0912345678"),
                "001085012345",
            ))
            .await
            .unwrap();
        sqlx::query("UPDATE accounts SET password_hash = 'phc' WHERE code = '0123456789'")
            .execute(store.pool())
            .await
            .unwrap();
        let mut changed = account("0123456789", "0987654321");
        changed.registered = false;
        store.add_account(&changed).await.unwrap();
        let stored = store
            .find_account(&key("0123456789"))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(stored.phone.as_str(), "+84987654321");
        assert!(!stored.registered);
        assert_eq!(stored.password_hash.as_deref(), Some("phc"));
        assert_eq!(
            stored.personal_id.as_ref().map(PersonalId::as_str),
            Some("001085012345")
        );
    }

    async fn a_personal_id_belongs_to_one_account_only(store: Store) {
        store
            .add_account(&with_personal_id(
                account("0123456789", "0912345678"),
                "001085012345",
            ))
            .await
            .unwrap();
        let err = store
            .add_account(&with_personal_id(
                account("1111111111", "0912345678"),
                "001085012345",
            ))
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::PersonalIdTaken), "{err}");
        assert!(
            store
                .find_account(&key("1111111111"))
                .await
                .unwrap()
                .is_none()
        );
    }

    async fn debug_shows_neither_identifiers_nor_hash(store: Store) {
        store
            .add_account(&with_personal_id(
                account("0123456789", "0912345678"),
                "001085012345",
            ))
            .await
            .unwrap();
        let found = store
            .find_account(&key("0123456789"))
            .await
            .unwrap()
            .unwrap();
        let debug = format!("{found:?}");
        assert!(
            !debug.contains("0123456789") && !debug.contains("001085012345"),
            "{debug}"
        );
    }

    on_both_databases!(
        an_account_is_found_by_code_and_by_personal_id,
        adding_again_updates_but_keeps_the_hash_and_the_personal_id,
        a_personal_id_belongs_to_one_account_only,
        debug_shows_neither_identifiers_nor_hash,
    );
}
