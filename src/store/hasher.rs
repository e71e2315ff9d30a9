//! argon2id password hashing with the pepper, on a small pool of its own threads.
//!
//! One hash costs ~25–30 ms of CPU and 19 MiB of memory with the default parameters. Run on a
//! tokio worker it would stall every RTP stream served by that worker; run without a bound, a burst
//! of calls would allocate 19 MiB each. So hashes and verifications run on a fixed pool of
//! `max_concurrency` threads (jobs beyond that queue), and those threads run at a lower scheduling
//! priority (nice 10) than the async workers: when resets arrive faster than the cores can hash,
//! the hashes wait, not the 20 ms RTP frames of every other call. The threads are named
//! `hotline-hash`, so an operator (and `benches/capacity`) can tell hashing CPU from call CPU.
//!
//! Each thread keeps its argon2 memory between jobs. Allocating 19 MiB per hash (what
//! `PasswordHasher::hash_password` does) makes glibc raise its mmap threshold and keep such
//! blocks in per-thread arenas: a loaded server grew to ~400 MiB that way. Reused, the memory is
//! `max_concurrency` × 19 MiB, allocated when the pool starts.

use crate::telemetry;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};

use argon2::password_hash::phc::{Output, ParamsString, PasswordHash, Salt};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use rand::TryRng;
use tokio::sync::oneshot;

use super::Pepper;
use crate::domain::Password;

/// The name of the hashing threads, as `top -H` and /proc/PID/task/*/comm show it.
pub const HASH_THREAD_NAME: &str = "hotline-hash";

/// The hashing threads' nice value: below the async workers (0), still above idle.
const HASH_THREAD_NICE: i32 = 10;

/// Hashes and verifies six-digit passwords. Cheap to clone: clones share the pool, whose threads
/// end when the last clone is dropped.
#[derive(Clone, Debug)]
pub struct Hasher {
    pepper: Pepper,
    params: Params,
    pool: Arc<HashPool>,
}

#[derive(Debug, thiserror::Error)]
pub enum HashError {
    #[error("argon2: {0}")]
    Argon2(String),
    #[error("the hashing job panicked")]
    Task,
    #[error("the hashing pool has stopped")]
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
        let threads = match max_concurrency {
            0 => std::thread::available_parallelism().map_or(1, usize::from),
            n => n,
        };
        let pool = Arc::new(HashPool::start(threads, &params));
        Hasher {
            pepper,
            params,
            pool,
        }
    }

    /// An argon2id PHC string (`$argon2id$v=19$…`) of `password`, with a fresh random salt.
    pub async fn hash(&self, password: &Password) -> Result<String, HashError> {
        let ascii = password.expose_ascii();
        let mut salt = [0u8; Salt::RECOMMENDED_LENGTH];
        rand::rngs::SysRng
            .try_fill_bytes(&mut salt)
            .map_err(|e| HashError::Argon2(format!("no randomness for the salt: {e}")))?;
        let pepper = self.pepper.clone();
        let params = self.params.clone();
        self.run(move |memory| {
            let argon = argon2(
                pepper.as_bytes(),
                Algorithm::Argon2id,
                Version::V0x13,
                params,
            )?;
            phc_string(&argon, ascii.as_slice(), &salt, memory)
        })
        .await?
    }

    /// Whether `password` matches the PHC string `phc`. A malformed `phc` does not match.
    /// The parameters recorded in `phc` are used, whatever this hasher's are.
    pub async fn verify(&self, password: &Password, phc: &str) -> bool {
        let ascii = password.expose_ascii();
        let phc = phc.to_owned();
        let pepper = self.pepper.clone();
        self.run(move |memory| {
            matches(pepper.as_bytes(), ascii.as_slice(), &phc, memory).unwrap_or(false)
        })
        .await
        .unwrap_or(false)
    }

    /// Runs `job` on the hashing pool, with that thread's reusable argon2 memory, and waits for
    /// its result without blocking the caller's async worker.
    async fn run<T: Send + 'static>(
        &self,
        job: impl FnOnce(&mut Memory) -> T + Send + 'static,
    ) -> Result<T, HashError> {
        let (done, result) = oneshot::channel();
        // Queue depth: up from submission until a thread has finished the job (or the queue
        // refused it), so it counts jobs waiting and jobs running.
        telemetry::hash_queue(1.0);
        let submitted = self.pool.submit(Box::new(move |memory: &mut Memory| {
            let started = std::time::Instant::now();
            let outcome = catch_unwind(AssertUnwindSafe(|| job(memory)));
            telemetry::hashed(started.elapsed());
            telemetry::hash_queue(-1.0);
            // A panic is reported as `Task`; the thread lives on for the next job.
            let _ = done.send(outcome.map_err(|_| HashError::Task));
        }));
        if let Err(refused) = submitted {
            telemetry::hash_queue(-1.0);
            return Err(refused);
        }
        result.await.map_err(|_| HashError::Closed)?
    }
}

fn argon2(
    pepper: &[u8],
    algorithm: Algorithm,
    version: Version,
    params: Params,
) -> Result<Argon2<'_>, HashError> {
    Argon2::new_with_secret(pepper, algorithm, version, params)
        .map_err(|e| HashError::Argon2(e.to_string()))
}

/// What `PasswordHasher::hash_password_with_salt` makes, computed in `memory`.
fn phc_string(
    argon: &Argon2<'_>,
    password: &[u8],
    salt: &[u8],
    memory: &mut Memory,
) -> Result<String, HashError> {
    let error = |e: &dyn std::fmt::Display| HashError::Argon2(e.to_string());
    let params = argon.params();
    let mut output = [0u8; Output::MAX_LENGTH];
    let output = output
        .get_mut(..params.output_len().unwrap_or(Params::DEFAULT_OUTPUT_LEN))
        .ok_or_else(|| error(&"output length"))?;
    argon
        .hash_password_into_with_memory(password, salt, output, memory.blocks(params))
        .map_err(|e| error(&e))?;
    let hash = PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(params).map_err(|e| error(&e))?,
        salt: Some(Salt::new(salt).map_err(|e| error(&e))?),
        hash: Some(Output::new(output).map_err(|e| error(&e))?),
    };
    Ok(hash.to_string())
}

/// Recomputes the hash recorded in `phc` with its own algorithm, version, parameters and salt,
/// and compares in constant time (`Output`'s `PartialEq`). `None` when `phc` does not parse.
fn matches(pepper: &[u8], password: &[u8], phc: &str, memory: &mut Memory) -> Option<bool> {
    let parsed = PasswordHash::new(phc).ok()?;
    let (salt, expected) = (parsed.salt.as_ref()?, parsed.hash.as_ref()?);
    let algorithm = Algorithm::try_from(parsed.algorithm.as_str()).ok()?;
    let version = parsed
        .version
        .map_or(Ok(Version::default()), Version::try_from)
        .ok()?;
    let params = Params::try_from(&parsed).ok()?;
    let argon = argon2(pepper, algorithm, version, params.clone()).ok()?;
    let mut output = vec![0u8; expected.len()];
    argon
        .hash_password_into_with_memory(password, salt, &mut output, memory.blocks(&params))
        .ok()?;
    Some(Output::new(&output).ok()? == *expected)
}

/// One hashing thread's argon2 working memory, grown to the largest parameters seen and kept.
#[derive(Default)]
struct Memory(Vec<Block>);

impl Memory {
    fn blocks(&mut self, params: &Params) -> &mut [Block] {
        let count = params.block_count();
        if self.0.len() < count {
            self.0.resize(count, Block::default());
        }
        &mut self.0[..count]
    }
}

type Job = Box<dyn FnOnce(&mut Memory) + Send>;

/// A fixed number of threads taking jobs from one queue: the number of threads is the bound on
/// concurrent hashes (and on the 19 MiB each one allocates).
#[derive(Debug)]
struct HashPool {
    jobs: mpsc::Sender<Job>,
}

impl HashPool {
    /// Each thread allocates its memory for `params` at once, so the server's footprint is
    /// known from the start (and the first resets are not slower than the others).
    fn start(threads: usize, params: &Params) -> HashPool {
        let (jobs, queue) = mpsc::channel::<Job>();
        let queue = Arc::new(Mutex::new(queue));
        for _ in 0..threads.max(1) {
            let queue = Arc::clone(&queue);
            let params = params.clone();
            // A pool that cannot start a single thread fails every job with `Closed`.
            let _ = std::thread::Builder::new()
                .name(HASH_THREAD_NAME.into())
                .spawn(move || {
                    // Failing (a sandbox that forbids it) leaves normal priority: still correct.
                    let _ = crate::os::set_this_threads_nice(HASH_THREAD_NICE);
                    let mut memory = Memory::default();
                    memory.blocks(&params);
                    while let Some(job) = next_job(&queue) {
                        job(&mut memory);
                    }
                });
        }
        HashPool { jobs }
    }

    fn submit(&self, job: Job) -> Result<(), HashError> {
        self.jobs.send(job).map_err(|_| HashError::Closed)
    }
}

/// The next job, or `None` once every [`Hasher`] clone (and so the sender) is gone.
fn next_job(queue: &Mutex<mpsc::Receiver<Job>>) -> Option<Job> {
    // One idle thread waits in `recv` holding the lock, the others wait for the lock: either way
    // each job goes to exactly one thread.
    let queue = queue
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    queue.recv().ok()
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

    /// Hashes stored before the pool reused its memory were made by argon2's own
    /// `PasswordHasher`; both kinds must verify both ways.
    #[tokio::test]
    async fn phc_strings_agree_with_argon2s_own_hasher_and_verifier() {
        use argon2::password_hash::{PasswordHasher, PasswordVerifier};
        let pepper = "pepper-compat-0123456789";
        let params = Params::new(256, 2, 1, None).unwrap();
        let hasher =
            Hasher::with_params(Pepper::from_configured(pepper).unwrap(), params.clone(), 1);
        let stock = Argon2::new_with_secret(
            pepper.as_bytes(),
            Algorithm::Argon2id,
            Version::V0x13,
            params,
        )
        .unwrap();
        let password = Password::from_digits("279419").unwrap();

        let theirs = stock.hash_password(b"279419").unwrap().to_string();
        assert!(hasher.verify(&password, &theirs).await);
        let ours = hasher.hash(&password).await.unwrap();
        assert!(stock.verify_password(b"279419", ours.as_str()).is_ok());
        assert!(stock.verify_password(b"279418", ours.as_str()).is_err());
        assert_eq!(
            ours.rsplit('$').nth(1).map(str::len),
            theirs.rsplit('$').nth(1).map(str::len),
            "same salt length"
        );
    }

    #[tokio::test]
    async fn verification_uses_the_parameters_in_the_phc_string() {
        let cheap = cheap_hasher("pepper-0123456789abc");
        let password = Password::from_digits("123456").unwrap();
        let phc = cheap.hash(&password).await.unwrap();
        let bigger = Hasher::with_params(
            Pepper::from_configured("pepper-0123456789abc").unwrap(),
            Params::new(512, 1, 1, None).unwrap(),
            1,
        );
        // The bigger hasher's thread first grows its memory, then verifies the smaller hash in it.
        let own = bigger.hash(&password).await.unwrap();
        assert!(own.contains("m=512,"), "{own}");
        assert!(bigger.verify(&password, &phc).await);
        assert!(bigger.verify(&password, &own).await);
        assert!(
            !bigger
                .verify(&password, &phc.replace("m=64,", "m=65,"))
                .await
        );
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
        let params = Params::new(64, 1, 1, None).unwrap();
        let pepper = Pepper::from_configured("pepper-0123456789abc").unwrap();
        let hasher = Hasher::with_params(pepper, params, 2);
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
        assert_eq!(peak, 2, "{peak} hashes ran at once on a pool of 2");
    }

    #[tokio::test]
    async fn hashes_run_on_named_threads_below_normal_priority() {
        let hasher = cheap_hasher("pepper-0123456789abc");
        let (name, nice) = hasher
            .run(|_| {
                let name = std::thread::current().name().map(str::to_owned);
                (name, crate::os::this_threads_nice())
            })
            .await
            .unwrap();
        assert_eq!(name.as_deref(), Some(HASH_THREAD_NAME));
        assert_eq!(nice, HASH_THREAD_NICE);
    }

    #[tokio::test]
    async fn a_panicking_job_is_an_error_and_the_pool_goes_on() {
        let hasher = Hasher::with_params(
            Pepper::from_configured("pepper-0123456789abc").unwrap(),
            Params::new(64, 1, 1, None).unwrap(),
            1,
        );
        let panicked = hasher.run(|_| -> u8 { panic!("boom") }).await;
        assert!(matches!(panicked, Err(HashError::Task)), "{panicked:?}");
        let password = Password::from_digits("123456").unwrap();
        let phc = hasher.hash(&password).await.unwrap();
        assert!(hasher.verify(&password, &phc).await);
    }
}
