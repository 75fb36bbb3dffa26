//! Password hashing with argon2id (the crate's defaults: m=19 MiB, t=2, p=1) on a
//! bounded pool of its own ([`HashPool`]): a hash takes tens of milliseconds of CPU
//! and 19 MiB of memory, so a flood of logins must neither grow memory without bound
//! nor make store reads and the projector (tokio's blocking pool) queue behind it.

use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};
use std::sync::{Arc, Mutex, OnceLock};

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use rand::RngCore;
use tokio::sync::oneshot;

use crate::error::Error;

/// Shortest and longest password accepted, in characters.
pub const MIN_PASSWORD_CHARS: usize = 8;
pub const MAX_PASSWORD_CHARS: usize = 128;

/// Hashes that may wait for a worker beyond those being computed: short, so a flood
/// is answered 503 at once instead of piling up (each waiting job holds only the
/// password and a reply channel; memory is bounded by workers × 19 MiB).
pub const DEFAULT_HASH_QUEUE_LEN: usize = 16;

/// What a caller refused by a full pool is told to wait before retrying.
pub const HASH_POOL_RETRY_AFTER_SECS: u64 = 1;

type Job = Box<dyn FnOnce() + Send>;

/// A fixed set of named OS threads (`paylog-hash-N`) and a bounded queue in front of
/// them. Cheap to clone; the threads end when the last clone is dropped.
#[derive(Clone)]
pub struct HashPool {
    queue: SyncSender<Job>,
    workers: usize,
    queue_len: usize,
}

impl std::fmt::Debug for HashPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HashPool")
            .field("workers", &self.workers)
            .field("queue_len", &self.queue_len)
            .finish()
    }
}

impl HashPool {
    /// `workers` threads (at least 1) and room for `queue_len` waiting jobs.
    pub fn new(workers: usize, queue_len: usize) -> Result<Self, Error> {
        let workers = workers.max(1);
        let (queue, jobs) = sync_channel::<Job>(queue_len);
        let jobs = Arc::new(Mutex::new(jobs));
        for n in 0..workers {
            let jobs = Arc::clone(&jobs);
            std::thread::Builder::new()
                .name(format!("paylog-hash-{n}"))
                .spawn(move || work(&jobs))
                .map_err(|e| Error::Startup(format!("starting the password hashing pool: {e}")))?;
        }
        Ok(Self {
            queue,
            workers,
            queue_len,
        })
    }

    /// One worker per core, and [`DEFAULT_HASH_QUEUE_LEN`].
    pub fn per_core() -> Result<Self, Error> {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        Self::new(cores, DEFAULT_HASH_QUEUE_LEN)
    }

    /// Runs `job` on the pool; [`Error::Busy`] at once when the queue is full.
    pub async fn run<T, F>(&self, job: F) -> Result<T, Error>
    where
        T: Send + 'static,
        F: FnOnce() -> T + Send + 'static,
    {
        self.submit(job)?
            .await
            .map_err(|_| Error::Internal("a password hashing job failed".into()))
    }

    /// Queues `job` without waiting: its answer, or [`Error::Busy`] when the queue is
    /// full.
    fn submit<T, F>(&self, job: F) -> Result<oneshot::Receiver<T>, Error>
    where
        T: Send + 'static,
        F: FnOnce() -> T + Send + 'static,
    {
        let (tx, rx) = oneshot::channel();
        let job: Job = Box::new(move || {
            let _ = tx.send(job());
        });
        match self.queue.try_send(job) {
            Ok(()) => Ok(rx),
            Err(TrySendError::Full(_)) => Err(Error::Busy {
                what: "password hashing",
                retry_after_secs: HASH_POOL_RETRY_AFTER_SECS,
            }),
            Err(TrySendError::Disconnected(_)) => {
                Err(Error::Internal("the password hashing pool stopped".into()))
            }
        }
    }

    /// Hashes a password into a PHC string (`$argon2id$…`).
    pub async fn hash(&self, password: String) -> Result<String, Error> {
        self.run(move || hash_blocking(&password)).await?
    }

    /// Whether `password` matches `phc`. With no hash (unknown user) a dummy hash is
    /// checked anyway, so that the answer takes as long as for a real user. A dummy
    /// that cannot be made is an error, not a skipped check: skipping it would let
    /// response times tell which usernames exist.
    pub async fn verify(&self, password: String, phc: Option<String>) -> Result<bool, Error> {
        self.run(move || verify_blocking(&password, phc)).await?
    }
}

/// A worker: takes jobs until every sender is gone. A panicking job ends only that
/// job (its caller sees a failed job), not the worker.
fn work(jobs: &Mutex<Receiver<Job>>) {
    loop {
        let job = match jobs.lock() {
            Ok(receiver) => receiver.recv(),
            Err(_) => return,
        };
        let Ok(job) = job else { return };
        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(job));
    }
}

fn hash_blocking(password: &str) -> Result<String, Error> {
    let mut salt = [0u8; 16];
    rand::rng().fill_bytes(&mut salt);
    let salt =
        SaltString::encode_b64(&salt).map_err(|e| Error::Internal(format!("argon2 salt: {e}")))?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| Error::Internal(format!("argon2: {e}")))
}

fn verify_blocking(password: &str, phc: Option<String>) -> Result<bool, Error> {
    let known = phc.is_some();
    let phc = match phc {
        Some(phc) => phc,
        None => dummy_hash()?.to_owned(),
    };
    // A stored hash that does not parse cannot match; it is still a refusal.
    let matches = PasswordHash::new(&phc).is_ok_and(|h| {
        Argon2::default()
            .verify_password(password.as_bytes(), &h)
            .is_ok()
    });
    Ok(known && matches)
}

/// A real argon2id hash of a password nobody has, made once.
fn dummy_hash() -> Result<&'static str, Error> {
    static DUMMY: OnceLock<Result<String, String>> = OnceLock::new();
    DUMMY
        .get_or_init(|| hash_blocking("not-a-real-password").map_err(|e| e.to_string()))
        .as_deref()
        .map_err(|e| Error::Internal(format!("dummy password hash: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hashes_are_argon2id_and_verify_only_the_right_password() {
        let pool = HashPool::new(2, 4).expect("pool");
        let phc = pool.hash("correct horse".into()).await.expect("hashes");
        assert!(phc.starts_with("$argon2id$"));
        assert!(
            pool.verify("correct horse".into(), Some(phc.clone()))
                .await
                .expect("checks")
        );
        assert!(
            !pool
                .verify("wrong horse".into(), Some(phc))
                .await
                .expect("checks")
        );
        assert!(
            !pool
                .verify("not-a-real-password".into(), None)
                .await
                .expect("checks")
        );
    }

    #[tokio::test]
    async fn a_full_pool_answers_busy_at_once_and_recovers() {
        let pool = HashPool::new(1, 1).expect("pool");
        let (started_tx, started_rx) = std::sync::mpsc::channel::<()>();
        let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
        let blocked = pool
            .submit(move || {
                let _ = started_tx.send(());
                let _ = release_rx.recv();
                1
            })
            .expect("room for the first job");
        // The worker holds the first job; the queue has room for exactly one more.
        started_rx.recv().expect("the worker took the first job");
        let queued = pool.submit(|| 2).expect("room in the queue");
        let refused = pool.submit(|| 3);
        assert!(
            matches!(
                refused,
                Err(Error::Busy {
                    retry_after_secs: HASH_POOL_RETRY_AFTER_SECS,
                    ..
                })
            ),
            "{refused:?}"
        );
        release_tx.send(()).expect("release");
        assert_eq!(blocked.await.expect("ran"), 1);
        assert_eq!(queued.await.expect("ran"), 2);
        assert_eq!(pool.run(|| 4).await.expect("room again"), 4);
    }

    #[tokio::test]
    async fn a_panicking_job_fails_alone_and_the_worker_lives_on() {
        let pool = HashPool::new(1, 1).expect("pool");
        let failed = pool.run(|| -> u8 { panic!("boom") }).await;
        assert!(matches!(failed, Err(Error::Internal(_))), "{failed:?}");
        assert_eq!(pool.run(|| 5).await.expect("still working"), 5);
    }
}
