//! Checking a password without letting anyone exhaust the server or outrun
//! the lockout (issue 11, findings 3 and 4):
//! - the lockout counter is read and counted in one transaction before any
//!   hashing (`Store::gate_login`, `auth::gate`): a locked account is
//!   refused at once, and of any number of parallel guesses at most
//!   `auth::MAX_FAILURES` are ever evaluated;
//! - argon2id runs on one dedicated thread per core (each hash takes ~19
//!   MiB for a while); a login that would wait behind more than `queue`
//!   others is refused as busy (503) instead of piling up memory;
//! - an unknown username costs the same hash as a known one.

use std::sync::{Arc, OnceLock};

use tokio::sync::Semaphore;

use crate::auth::{self, Gate};
use crate::store::{Account, Store, StoreError};

/// Bounds password hashing: a few dedicated threads do all of it (so at
/// most that many allocator arenas ever hold argon2's memory, and it is
/// reused rather than spread over the blocking pool's threads), and only so
/// many checks are admitted at once. (The systemd unit also sets glibc's
/// `mmap_threshold`, so that argon2's blocks go back to the system when
/// freed: docs/operations.md.)
pub struct Hashing {
    admitted: Semaphore,
    jobs: crossbeam_channel::Sender<Job>,
    /// Mean time of one hash (µs), for answers that must take as long as one.
    mean_micros: Arc<std::sync::atomic::AtomicU64>,
}

type Job = Box<dyn FnOnce() + Send>;

impl Hashing {
    /// `threads` hash at a time (one per core is right); with them at most
    /// `queue` more checks may wait.
    pub fn new(threads: usize, queue: usize) -> Self {
        let threads = threads.max(1);
        let (jobs, rx) = crossbeam_channel::unbounded::<Job>();
        for i in 0..threads {
            let rx = rx.clone();
            let spawned = std::thread::Builder::new().name(format!("huiyi-hash-{i}")).spawn(move || {
                for job in rx.iter() {
                    job();
                }
            });
            if let Err(e) = spawned {
                tracing::error!(error = %e, "cannot start a password-hashing thread");
            }
        }
        let mean_micros = Arc::new(std::sync::atomic::AtomicU64::new(50_000));
        Self { admitted: Semaphore::new(threads + queue), jobs, mean_micros }
    }

    /// A turn to hash; `None` if the queue is full.
    pub fn turn(&self) -> Option<tokio::sync::SemaphorePermit<'_>> {
        self.admitted.try_acquire().ok()
    }

    /// Runs `f` on a hashing thread (the caller holds a turn).
    async fn run<T: Send + 'static>(&self, f: impl FnOnce() -> T + Send + 'static) -> Option<T> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let mean = self.mean_micros.clone();
        let job: Job = Box::new(move || {
            let started = std::time::Instant::now();
            let out = f();
            let took = started.elapsed().as_micros() as u64;
            let old = mean.load(std::sync::atomic::Ordering::Relaxed);
            mean.store((old * 7 + took) / 8, std::sync::atomic::Ordering::Relaxed);
            let _ = tx.send(out);
        });
        self.jobs.send(job).ok()?;
        rx.await.ok()
    }

    /// Verifies on a hashing thread.
    async fn verify(&self, password: String, hash: String) -> bool {
        self.run(move || auth::verify_password(&password, &hash)).await.unwrap_or(false)
    }

    /// Hashes a new password on a hashing thread; `None` when busy.
    pub async fn hash(&self, password: String) -> Option<String> {
        let _turn = self.turn()?;
        self.run(move || auth::hash_password(&password)).await
    }

    /// Whether `password` matches any of `hashes` (the password history),
    /// checked on a hashing thread; `None` when busy.
    pub async fn matches_any(&self, password: String, hashes: Vec<String>) -> Option<bool> {
        let _turn = self.turn()?;
        self.run(move || hashes.iter().any(|h| auth::verify_password(&password, h))).await
    }

    /// As long as one hash takes, without hashing: the answer for a locked
    /// account takes the time of a checked one.
    async fn pause_like_a_hash(&self) {
        let micros = self.mean_micros.load(std::sync::atomic::Ordering::Relaxed);
        tokio::time::sleep(std::time::Duration::from_micros(micros.min(2_000_000))).await;
    }
}

/// How a password check went.
#[derive(Debug)]
pub enum Checked {
    /// Right; the failure count is reset.
    Ok(Account),
    /// Wrong (or no such account: `None`); `locked` when this failure locked it.
    Wrong {
        /// The account, if the username exists.
        account: Option<Account>,
        /// This failure locked the account.
        locked: bool,
    },
    /// Locked; the password was not checked.
    Locked {
        /// The account.
        account: Account,
        /// Until (Unix seconds).
        until: i64,
    },
    /// Too many checks at once: try again in a moment.
    Busy,
}

/// A hash to verify against when the username does not exist, so that the
/// answer takes as long as for a real account.
fn decoy() -> &'static str {
    static DECOY: OnceLock<String> = OnceLock::new();
    DECOY.get_or_init(|| auth::hash_password("not a password of anyone"))
}

/// Checks `password` for `username` at `now`: waits for a turn to hash
/// (or is refused as busy before anything is counted), then gates and
/// counts the attempt, then hashes.
pub async fn check(
    store: Arc<dyn Store>,
    hashing: &Hashing,
    username: String,
    password: String,
    now: i64,
) -> Result<Checked, StoreError> {
    let Some(_turn) = hashing.turn() else { return Ok(Checked::Busy) };
    let gated = tokio::task::spawn_blocking(move || {
        let mut gate = None;
        let account = store.gate_login(&username, &mut |a| {
            let g = auth::gate(a, now);
            gate = Some(g);
            match g {
                Gate::Locked { .. } => None,
                Gate::Check { failures, locked_until } => Some((failures, locked_until)),
            }
        });
        (account, gate, store)
    })
    .await
    .map_err(|e| StoreError::Db(e.to_string()))?;
    let (account, gate, store) = gated;
    let account = match account {
        Ok(a) => a,
        Err(StoreError::NotFound(_)) => {
            hashing.verify(password, decoy().to_string()).await;
            return Ok(Checked::Wrong { account: None, locked: false });
        }
        Err(e) => return Err(e),
    };
    let locked_until = match gate {
        Some(Gate::Locked { until }) => {
            hashing.pause_like_a_hash().await;
            return Ok(Checked::Locked { account, until });
        }
        Some(Gate::Check { locked_until, .. }) => locked_until,
        None => None,
    };
    if hashing.verify(password, account.password_hash.clone()).await {
        let id = account.id.clone();
        tokio::task::spawn_blocking(move || store.set_login_state(&id, 0, None))
            .await
            .map_err(|e| StoreError::Db(e.to_string()))??;
        return Ok(Checked::Ok(account));
    }
    Ok(Checked::Wrong { account: Some(account), locked: locked_until.is_some() })
}
