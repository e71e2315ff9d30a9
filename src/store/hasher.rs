//! argon2id password hashing with the pepper, off the async threads and with bounded concurrency.
//!
//! One hash costs ~25–30 ms of CPU and 19 MiB of memory with the default parameters. Run on a
//! tokio worker it would stall every RTP stream served by that worker; run without a bound, a burst
//! of calls would allocate 19 MiB each. So every hash and verification runs in `spawn_blocking`,
//! and a semaphore admits at most `max_concurrency` of them at a time (the others queue).

use std::sync::Arc;

use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use argon2::{Algorithm, Argon2, Params, Version};
use tokio::sync::Semaphore;

use super::Pepper;
use crate::domain::Password;

/// Hashes and verifies six-digit passwords. Cheap to clone: clones share the semaphore.
#[derive(Clone, Debug)]
pub struct Hasher {
    pepper: Pepper,
    params: Params,
    permits: Arc<Semaphore>,
}

#[derive(Debug, thiserror::Error)]
pub enum HashError {
    #[error("argon2: {0}")]
    Argon2(String),
    #[error("the hashing task was cancelled or panicked")]
    Task,
    #[error("the hashing semaphore was closed")]
    Closed,
}

impl Hasher {
    /// argon2id with the default parameters (m=19 MiB, t=2, p=1), at most `max_concurrency` hashes
    /// at a time; 0 means as many as the machine has cores.
    pub fn new(pepper: Pepper, max_concurrency: usize) -> Hasher {
        Hasher::with_params(pepper, Params::default(), max_concurrency)
    }

    /// Other argon2 parameters (tests use small ones). Verification always uses the parameters
    /// recorded in the PHC string, so changing them later keeps old hashes valid.
    pub fn with_params(pepper: Pepper, params: Params, max_concurrency: usize) -> Hasher {
        let permits = match max_concurrency {
            0 => std::thread::available_parallelism().map_or(1, usize::from),
            n => n,
        };
        Hasher {
            pepper,
            params,
            permits: Arc::new(Semaphore::new(permits)),
        }
    }

    /// An argon2id PHC string (`$argon2id$v=19$…`) of `password`, with a fresh random salt.
    pub async fn hash(&self, password: &Password) -> Result<String, HashError> {
        let ascii = password.expose_ascii();
        self.run(move |argon| {
            argon
                .hash_password(ascii.as_slice())
                .map(|hash| hash.to_string())
                .map_err(|e| HashError::Argon2(e.to_string()))
        })
        .await?
    }

    /// Whether `password` matches the PHC string `phc`. A malformed `phc` does not match.
    pub async fn verify(&self, password: &Password, phc: &str) -> bool {
        let ascii = password.expose_ascii();
        let phc = phc.to_owned();
        self.run(move |argon| {
            argon
                .verify_password(ascii.as_slice(), phc.as_str())
                .is_ok()
        })
        .await
        .unwrap_or(false)
    }

    /// Runs `job` on the blocking pool once a permit is free.
    async fn run<T: Send + 'static>(
        &self,
        job: impl FnOnce(&Argon2<'_>) -> T + Send + 'static,
    ) -> Result<T, HashError> {
        let permit = Arc::clone(&self.permits)
            .acquire_owned()
            .await
            .map_err(|_| HashError::Closed)?;
        let pepper = self.pepper.clone();
        let params = self.params.clone();
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            argon2(pepper.as_bytes(), params).map(|argon| job(&argon))
        })
        .await
        .map_err(|_| HashError::Task)?
    }
}

fn argon2(pepper: &[u8], params: Params) -> Result<Argon2<'_>, HashError> {
    Argon2::new_with_secret(pepper, Algorithm::Argon2id, Version::V0x13, params)
        .map_err(|e| HashError::Argon2(e.to_string()))
}

#[cfg(test)]
pub(crate) mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    /// Small parameters so tests hash in well under a millisecond.
    pub(crate) fn cheap_hasher(pepper: &str) -> Hasher {
        let params = Params::new(64, 1, 1, None).unwrap();
        Hasher::with_params(Pepper::from_configured(pepper).unwrap(), params, 4)
    }

    #[tokio::test]
    async fn a_hash_verifies_with_its_pepper_only() {
        let hasher = cheap_hasher("pepper-one-0123456789");
        let other = cheap_hasher("pepper-two-0123456789");
        let password = Password::from_digits("482910").unwrap();
        let phc = hasher.hash(&password).await.unwrap();
        assert!(phc.starts_with("$argon2id$v=19$"), "{phc}");
        assert!(!phc.contains("482910"));
        assert!(hasher.verify(&password, &phc).await);
        assert!(
            !hasher
                .verify(&Password::from_digits("482911").unwrap(), &phc)
                .await
        );
        assert!(!other.verify(&password, &phc).await);
        assert!(!hasher.verify(&password, "not a phc string").await);
    }

    #[tokio::test]
    async fn default_parameters_are_argon2id_m19456_t2_p1() {
        let hasher = Hasher::new(Pepper::from_configured("pepper-0123456789abc").unwrap(), 1);
        let phc = hasher
            .hash(&Password::from_digits("000000").unwrap())
            .await
            .unwrap();
        assert!(phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{phc}");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn no_more_than_max_concurrency_hashes_run_at_once() {
        let hasher = cheap_hasher("pepper-0123456789abc");
        let hasher = Hasher {
            permits: Arc::new(Semaphore::new(2)),
            ..hasher
        };
        let running = Arc::new(AtomicUsize::new(0));
        let peak = Arc::new(AtomicUsize::new(0));
        let jobs = (0..12).map(|_| {
            let (hasher, running, peak) = (hasher.clone(), Arc::clone(&running), Arc::clone(&peak));
            tokio::spawn(async move {
                hasher
                    .run(move |_| {
                        let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                        peak.fetch_max(now, Ordering::SeqCst);
                        std::thread::sleep(std::time::Duration::from_millis(20));
                        running.fetch_sub(1, Ordering::SeqCst);
                    })
                    .await
            })
        });
        for job in jobs.collect::<Vec<_>>() {
            job.await.unwrap().unwrap();
        }
        let peak = peak.load(Ordering::SeqCst);
        assert!(
            (1..=2).contains(&peak),
            "{peak} hashes ran at once with 2 permits"
        );
    }
}
