//! The one operation of branch 8: check that the caller owns the account, then reset its password.
//!
//! In two short write transactions, so no lock is ever held across the ~30 ms hash:
//!
//! 1. A write transaction locked on the caller and the keyed code (SQLite: `BEGIN IMMEDIATE`;
//!    PostgreSQL: advisory locks, see `backend`): the limits, the lookup, and on a mismatch the
//!    failure record — atomic, so concurrent calls from one number or on one code, on this node or
//!    another, cannot slip past a limit together.
//! 2. Hash the new password off-thread (no transaction open).
//! 3. A write transaction locked on the account: re-check its reset limit and that it still
//!    matches, store the hash and the reset time, record the reset; commit. Only then is the
//!    password returned to be spoken, so a caller never hears a password that was not stored.
//!
//! A lockout records nothing: the window then slides on real attempts only, and a caller who keeps
//! calling while locked out is free again 24 h after their last real failure (their CDRs, outcome
//! `too_many_attempts`, still show the calls).

use sqlx::AnyConnection;
use time::OffsetDateTime;

use super::backend::LockKey;
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
        let mut tx = self.begin_write(&[LockKey::Account(code.as_str())]).await?;
        let since = limits::window_start(limits, now)?;
        if limits::account_resets(&mut tx, key, since).await? >= i64::from(limits.account_resets) {
            // A concurrent call reset this account first and used up its last reset.
            crate::telemetry::locked_out(crate::telemetry::Limit::Account);
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
        let mut tx = self
            .begin_write(&[
                LockKey::Caller(caller.as_str()),
                LockKey::Keyed(key.as_str()),
            ])
            .await?;
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
    conn: &mut AnyConnection,
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

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::store::hasher::tests::cheap_hasher;
    use crate::store::testing::{
        account, at, code, key, on_both_databases, phone, with_personal_id,
    };

    const PEPPER: &str = "test-pepper-0123456789";

    async fn stored_hash(store: &Store, code_digits: &str) -> Option<String> {
        store
            .find_account(&key(code_digits))
            .await
            .unwrap()
            .unwrap()
            .password_hash
    }

    async fn attempt(store: &Store, caller: &str, keyed: &str, seconds: f64) -> ResetResult {
        let limits = Limits::default();
        store
            .verify_and_reset(
                &cheap_hasher(PEPPER),
                &limits,
                &phone(caller),
                &key(keyed),
                at(seconds),
            )
            .await
            .unwrap()
    }

    async fn a_match_stores_a_hash_of_the_returned_password_then_returns_it(store: Store) {
        store
            .add_account(&account("0123456789", "0912345678"))
            .await
            .unwrap();
        let ResetResult::Reset(password) = attempt(&store, "+84912345678", "0123456789", 0.0).await
        else {
            panic!("expected a reset");
        };
        let stored = store
            .find_account(&key("0123456789"))
            .await
            .unwrap()
            .unwrap();
        let phc = stored.password_hash.unwrap();
        assert!(cheap_hasher(PEPPER).verify(&password, &phc).await);
        assert!(
            !cheap_hasher("another-pepper-0123456789")
                .verify(&password, &phc)
                .await
        );
        assert_eq!(stored.password_reset_at, Some(at(0.0)));
        assert!(
            store
                .check_password(&cheap_hasher(PEPPER), &code("0123456789"), &password)
                .await
                .unwrap()
        );
        let wrong = Password::from_digits(if password.expose_ascii()[0] == b'0' {
            "111111"
        } else {
            "000000"
        })
        .unwrap();
        assert!(
            !store
                .check_password(&cheap_hasher(PEPPER), &code("0123456789"), &wrong)
                .await
                .unwrap()
        );
        assert!(
            !store
                .check_password(&cheap_hasher(PEPPER), &code("9999999999"), &password)
                .await
                .unwrap()
        );
    }

    async fn a_personal_id_and_an_old_eleven_digit_number_match_too(store: Store) {
        store
            .add_account(&with_personal_id(
                account("0123456789", "01681234567"),
                "001085012345",
            ))
            .await
            .unwrap();
        assert!(matches!(
            attempt(&store, "0381234567", "001085012345", 0.0).await,
            ResetResult::Reset(_)
        ));
        assert!(matches!(
            attempt(&store, "tel:+84-38-123-4567", "0123456789", 1.0).await,
            ResetResult::Reset(_)
        ));
    }

    async fn when_the_hash_cannot_be_stored_no_password_is_returned(store: Store) {
        store
            .add_account(&account("0123456789", "0912345678"))
            .await
            .unwrap();
        // The write of step 3 fails the way a full disk or a broken replica would.
        let trigger = match store.backend() {
            crate::store::Backend::Sqlite => {
                "CREATE TRIGGER refuse_reset BEFORE UPDATE OF password_hash ON accounts \
                 BEGIN SELECT RAISE(ABORT, 'disk I/O error'); END"
            }
            crate::store::Backend::Postgres => {
                "CREATE FUNCTION refuse_reset() RETURNS trigger LANGUAGE plpgsql AS \
                 $$ BEGIN RAISE EXCEPTION 'disk I/O error'; END $$; \
                 CREATE TRIGGER refuse_reset BEFORE UPDATE OF password_hash ON accounts \
                 FOR EACH ROW EXECUTE FUNCTION refuse_reset();"
            }
        };
        sqlx::raw_sql(trigger).execute(store.pool()).await.unwrap();
        let result = store
            .verify_and_reset(
                &cheap_hasher(PEPPER),
                &Limits::default(),
                &phone("0912345678"),
                &key("0123456789"),
                at(0.0),
            )
            .await;
        assert!(
            result.is_err(),
            "a failed store must not yield a password: {result:?}"
        );
        assert_eq!(stored_hash(&store, "0123456789").await, None);
        let (resets,): (i64,) =
            sqlx::query_as("SELECT COUNT(*) FROM attempts WHERE kind = 'reset'")
                .fetch_one(store.pool())
                .await
                .unwrap();
        assert_eq!(resets, 0, "the reset record rolls back with the hash");
    }

    async fn unknown_code_other_phone_and_unregistered_are_all_a_mismatch_and_change_nothing(
        store: Store,
    ) {
        store
            .add_account(&account("0123456789", "0912345678"))
            .await
            .unwrap();
        let mut unregistered = account("1111111111", "0912345678");
        unregistered.registered = false;
        store.add_account(&unregistered).await.unwrap();
        sqlx::query("UPDATE accounts SET password_hash = 'old'")
            .execute(store.pool())
            .await
            .unwrap();

        assert!(matches!(
            attempt(&store, "0912345678", "9999999999", 0.0).await,
            ResetResult::Mismatch
        ));
        assert!(matches!(
            attempt(&store, "0987654321", "0123456789", 1.0).await,
            ResetResult::Mismatch
        ));
        assert!(matches!(
            attempt(&store, "0912345678", "1111111111", 2.0).await,
            ResetResult::Mismatch
        ));
        assert_eq!(
            stored_hash(&store, "0123456789").await.as_deref(),
            Some("old")
        );
        assert_eq!(
            stored_hash(&store, "1111111111").await.as_deref(),
            Some("old")
        );
        let (failures,): (i64,) =
            sqlx::query_as("SELECT COUNT(*) FROM attempts WHERE kind = 'failure'")
                .fetch_one(store.pool())
                .await
                .unwrap();
        assert_eq!(failures, 3);
    }

    async fn the_sixth_failure_from_one_number_is_locked_out_until_the_window_passes(store: Store) {
        store
            .add_account(&account("0123456789", "0912345678"))
            .await
            .unwrap();
        let codes = [
            "1000000001",
            "1000000002",
            "1000000003",
            "1000000004",
            "1000000005",
        ];
        for (i, keyed) in codes.iter().enumerate() {
            assert!(matches!(
                attempt(&store, "0912345678", keyed, i as f64).await,
                ResetResult::Mismatch
            ));
        }
        // Even the right code is refused now, before any lookup, and nothing more is recorded.
        assert!(matches!(
            attempt(&store, "0912345678", "0123456789", 10.0).await,
            ResetResult::TooManyAttempts
        ));
        let limits = Limits::default();
        assert!(
            store
                .caller_locked_out(&phone("0912345678"), &limits, at(10.0))
                .await
                .unwrap()
        );
        assert!(
            !store
                .caller_locked_out(&phone("0987654321"), &limits, at(10.0))
                .await
                .unwrap()
        );
        assert_eq!(stored_hash(&store, "0123456789").await, None);
        // 24 h after the first failure, only four remain in the window.
        let day = 24.0 * 3600.0;
        assert!(
            !store
                .caller_locked_out(&phone("0912345678"), &limits, at(day))
                .await
                .unwrap()
        );
        assert!(matches!(
            attempt(&store, "0912345678", "0123456789", day).await,
            ResetResult::Reset(_)
        ));
    }

    async fn the_fourth_failure_on_one_code_is_locked_out_whoever_calls(store: Store) {
        store
            .add_account(&account("0123456789", "0912345678"))
            .await
            .unwrap();
        for (i, caller) in ["0900000001", "0900000002", "0900000003"]
            .iter()
            .enumerate()
        {
            assert!(matches!(
                attempt(&store, caller, "0123456789", i as f64).await,
                ResetResult::Mismatch
            ));
        }
        assert!(matches!(
            attempt(&store, "0912345678", "0123456789", 10.0).await,
            ResetResult::TooManyAttempts
        ));
        // Another code from the same numbers is unaffected.
        assert!(matches!(
            attempt(&store, "0900000001", "2222222222", 11.0).await,
            ResetResult::Mismatch
        ));
    }

    async fn the_sixth_reset_of_one_account_is_refused_by_either_identifier(store: Store) {
        store
            .add_account(&with_personal_id(
                account("0123456789", "0912345678"),
                "001085012345",
            ))
            .await
            .unwrap();
        for i in 0..5 {
            let keyed = if i % 2 == 0 {
                "0123456789"
            } else {
                "001085012345"
            };
            assert!(matches!(
                attempt(&store, "0912345678", keyed, f64::from(i)).await,
                ResetResult::Reset(_)
            ));
        }
        let before = stored_hash(&store, "0123456789").await;
        assert!(matches!(
            attempt(&store, "0912345678", "0123456789", 10.0).await,
            ResetResult::TooManyAttempts
        ));
        assert!(matches!(
            attempt(&store, "0912345678", "001085012345", 11.0).await,
            ResetResult::TooManyAttempts
        ));
        assert_eq!(stored_hash(&store, "0123456789").await, before);
        assert!(matches!(
            attempt(&store, "0912345678", "0123456789", 24.0 * 3600.0).await,
            ResetResult::Reset(_)
        ));
    }

    async fn twenty_concurrent_resets_all_succeed_without_database_is_locked(store: Store) {
        for i in 0..20 {
            store
                .add_account(&account(
                    &format!("01234567{i:02}"),
                    &format!("09123456{i:02}"),
                ))
                .await
                .unwrap();
        }
        let hasher = cheap_hasher(PEPPER);
        let limits = Arc::new(Limits::default());
        let calls: Vec<_> = (0..20)
            .map(|i| {
                let (store, hasher, limits) = (store.clone(), hasher.clone(), Arc::clone(&limits));
                tokio::spawn(async move {
                    let caller = phone(&format!("09123456{i:02}"));
                    let keyed = key(&format!("01234567{i:02}"));
                    store
                        .verify_and_reset(&hasher, &limits, &caller, &keyed, at(0.0))
                        .await
                })
            })
            .collect();
        for call in calls {
            let result = call.await.unwrap();
            assert!(matches!(result, Ok(ResetResult::Reset(_))), "{result:?}");
        }
    }

    async fn concurrent_resets_of_one_account_never_pass_its_limit(store: Store) {
        store
            .add_account(&account("0123456789", "0912345678"))
            .await
            .unwrap();
        let hasher = cheap_hasher(PEPPER);
        let limits = Arc::new(Limits {
            account_resets: 3,
            ..Limits::default()
        });
        let calls: Vec<_> = (0..12)
            .map(|_| {
                let (store, hasher, limits) = (store.clone(), hasher.clone(), Arc::clone(&limits));
                tokio::spawn(async move {
                    store
                        .verify_and_reset(
                            &hasher,
                            &limits,
                            &phone("0912345678"),
                            &key("0123456789"),
                            at(0.0),
                        )
                        .await
                })
            })
            .collect();
        let mut resets = 0;
        for call in calls {
            match call.await.unwrap() {
                Ok(ResetResult::Reset(_)) => resets += 1,
                Ok(ResetResult::TooManyAttempts) => {}
                other => panic!("unexpected {other:?}"),
            }
        }
        assert_eq!(resets, 3);
    }

    on_both_databases!(
        a_match_stores_a_hash_of_the_returned_password_then_returns_it,
        a_personal_id_and_an_old_eleven_digit_number_match_too,
        when_the_hash_cannot_be_stored_no_password_is_returned,
        unknown_code_other_phone_and_unregistered_are_all_a_mismatch_and_change_nothing,
        the_sixth_failure_from_one_number_is_locked_out_until_the_window_passes,
        the_fourth_failure_on_one_code_is_locked_out_whoever_calls,
        the_sixth_reset_of_one_account_is_refused_by_either_identifier,
        twenty_concurrent_resets_all_succeed_without_database_is_locked,
        concurrent_resets_of_one_account_never_pass_its_limit,
    );
}
