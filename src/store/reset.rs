//! The one operation of branch 8: check that the caller owns the account, then reset its password.
//!
//! In two short write transactions, so the SQLite write lock is never held across the ~30 ms hash:
//!
//! 1. `BEGIN IMMEDIATE`: the limits, the lookup, and on a mismatch the failure record — atomic, so
//!    concurrent calls from one number cannot slip past the caller limit together.
//! 2. Hash the new password off-thread (no transaction open).
//! 3. `BEGIN IMMEDIATE`: re-check the account's reset limit and that it still matches, store the
//!    hash and the reset time, record the reset; commit. Only then is the password returned to be
//!    spoken, so a caller never hears a password that was not stored.
//!
//! A lockout records nothing: the window then slides on real attempts only, and a caller who keeps
//! calling while locked out is free again 24 h after their last real failure (their CDRs, outcome
//! `too_many_attempts`, still show the calls).

use sqlx::SqliteConnection;
use time::OffsetDateTime;

use super::limits::{self, AttemptKind, Limits};
use super::{Hasher, Store, StoreError, accounts, clock};
use crate::domain::{AccountKey, InsuranceCode, Password, PhoneNumber};

/// What the caller hears.
#[derive(Debug)]
pub enum ResetResult {
    /// The new password, stored (hashed) before this was returned: speak it.
    Reset(Password),
    /// Unknown key, another number's account, or an account not registered: one answer for all.
    Mismatch,
    /// A limit is reached; nothing was looked up.
    TooManyAttempts,
}

/// The outcome of step 1.
enum Check {
    Locked,
    Mismatch,
    Match(InsuranceCode),
}

impl Store {
    /// Resets the password of the account `key` names if `caller` is its registered number.
    /// Any database or hashing error is returned as `Err`: the caller then hears "system busy"
    /// and no password is spoken.
    pub async fn verify_and_reset(
        &self,
        hasher: &Hasher,
        limits: &Limits,
        caller: &PhoneNumber,
        key: &AccountKey,
        now: OffsetDateTime,
    ) -> Result<ResetResult, StoreError> {
        let code = match self.check(limits, caller, key, now).await? {
            Check::Locked => return Ok(ResetResult::TooManyAttempts),
            Check::Mismatch => return Ok(ResetResult::Mismatch),
            Check::Match(code) => code,
        };
        let password = Password::generate();
        let phc = hasher.hash(&password).await?;
        let mut tx = self.pool().begin_with("BEGIN IMMEDIATE").await?;
        let since = limits::window_start(limits, now)?;
        if limits::account_resets(&mut tx, key, since).await? >= i64::from(limits.account_resets) {
            // A concurrent call reset this account first and used up its last reset.
            return Ok(ResetResult::TooManyAttempts);
        }
        if !store_hash(&mut tx, &code, caller, &phc, now).await? {
            // The account changed while hashing; treat as any mismatch, without blaming the caller.
            return Ok(ResetResult::Mismatch);
        }
        limits::record_attempt(
            &mut tx,
            AttemptKind::Reset,
            caller,
            key,
            Some(code.as_str()),
            now,
        )
        .await?;
        tx.commit().await?;
        Ok(ResetResult::Reset(password))
    }

    /// Whether `password` is the current password of the account `code` (`hotline accounts
    /// check-password`). An unknown code or an account without a password gives `false`.
    pub async fn check_password(
        &self,
        hasher: &Hasher,
        code: &InsuranceCode,
        password: &Password,
    ) -> Result<bool, StoreError> {
        let account = self.find_account(&AccountKey::Code(code.clone())).await?;
        match account.and_then(|a| a.password_hash) {
            Some(phc) => Ok(hasher.verify(password, &phc).await),
            None => Ok(false),
        }
    }

    /// Step 1: limits, lookup, and the failure record on a mismatch, in one write transaction.
    async fn check(
        &self,
        limits: &Limits,
        caller: &PhoneNumber,
        key: &AccountKey,
        now: OffsetDateTime,
    ) -> Result<Check, StoreError> {
        let mut tx = self.pool().begin_with("BEGIN IMMEDIATE").await?;
        if limits::locked_out(&mut tx, limits, caller, key, now).await? {
            return Ok(Check::Locked);
        }
        let account = accounts::find_account(&mut tx, key).await?;
        if let Some(account) = account.filter(|a| a.registered && a.phone == *caller) {
            return Ok(Check::Match(account.code));
        }
        limits::record_attempt(&mut tx, AttemptKind::Failure, caller, key, None, now).await?;
        tx.commit().await?;
        Ok(Check::Mismatch)
    }
}

/// Stores the new hash if the account still belongs to `caller` and is registered; returns whether it did.
async fn store_hash(
    conn: &mut SqliteConnection,
    code: &InsuranceCode,
    caller: &PhoneNumber,
    phc: &str,
    now: OffsetDateTime,
) -> Result<bool, StoreError> {
    let updated = sqlx::query(
        "UPDATE accounts SET password_hash = $2, password_reset_at = $3 \
         WHERE code = $1 AND phone = $4 AND registered",
    )
    .bind(code.as_str())
    .bind(phc)
    .bind(clock::to_millis(now)?)
    .bind(caller.as_str())
    .execute(&mut *conn)
    .await?;
    Ok(updated.rows_affected() == 1)
}
