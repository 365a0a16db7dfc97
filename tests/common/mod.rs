//! Helpers shared by the integration tests: every implementation of
//! `Scheduler` built from one configuration, thread races, snapshots that a
//! rejected operation must leave unchanged, a small deterministic RNG.
#![allow(dead_code)]

use dagqueue::{
    Error, JobId, JobQueue, JobQueueBuilder, JobView, Outcome, QueueConfig, QueueStatus, RunnerType,
};
use harness::baseline::{ParkingLotQueue, StdMutexQueue};
#[allow(unused_imports)]
pub use harness::rng::Rng;
use harness::Claim;
use harness::Scheduler;
use std::sync::{mpsc, Arc, Barrier};
use std::time::Duration;

/// The lock-free queue built from `config`.
pub fn job_queue(config: QueueConfig) -> JobQueue {
    JobQueue::with_config(config)
}

/// Every implementation, built from `config`, with its name.
pub fn impls(config: QueueConfig) -> Vec<(&'static str, Arc<dyn Scheduler>)> {
    vec![
        (
            "JobQueue",
            Arc::new(job_queue(config)) as Arc<dyn Scheduler>,
        ),
        ("StdMutexQueue", Arc::new(StdMutexQueue::new(config))),
        ("ParkingLotQueue", Arc::new(ParkingLotQueue::new(config))),
    ]
}

/// The default configuration.
pub fn config() -> QueueConfig {
    QueueConfig::default()
}

/// A configuration from the builder (the one validated path).
pub fn config_with(build: impl FnOnce(JobQueueBuilder) -> JobQueueBuilder) -> QueueConfig {
    build(JobQueue::builder())
        .config()
        .expect("a valid test configuration")
}

/// Names what was running when a test panics (printed on unwinding, so the
/// failure's output says which implementation and round failed).
pub struct Context(pub String);

impl Drop for Context {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("*** failed in: {}", self.0);
        }
    }
}

/// Runs `test` on a fresh queue of every implementation.
pub fn each_impl(config: QueueConfig, test: impl Fn(&dyn Scheduler)) {
    for (name, queue) in impls(config) {
        let _context = Context(name.to_string());
        test(&*queue);
    }
}

/// Runs `test(queue, round)` `rounds` times on a fresh queue of every
/// implementation.
pub fn each_round(rounds: usize, config: QueueConfig, test: impl Fn(&dyn Scheduler, usize)) {
    for round in 0..rounds {
        for (name, queue) in impls(config) {
            let _context = Context(format!("{name}, round {round}"));
            test(&*queue, round);
        }
    }
}

/// How many rounds a racing scenario repeats: `default`, or
/// `DAGQUEUE_ROUNDS`, or 2 under Miri.
pub fn rounds(default: usize) -> usize {
    if cfg!(miri) {
        return 2;
    }
    std::env::var("DAGQUEUE_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// `normal`, or `miri` under Miri (a workload size).
pub fn scale<T>(normal: T, miri: T) -> T {
    if cfg!(miri) {
        miri
    } else {
        normal
    }
}

/// Runs `work(i)` on `threads` OS threads released together by a barrier;
/// returns the results in thread order.
pub fn race<R: Send>(threads: usize, work: impl Fn(usize) -> R + Sync) -> Vec<R> {
    let barrier = Barrier::new(threads);
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|i| {
                let (barrier, work) = (&barrier, &work);
                s.spawn(move || {
                    barrier.wait();
                    work(i)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("racing thread panicked"))
            .collect()
    })
}

/// Runs `f` on its own thread and panics if it does not finish within
/// `limit` (a deadlock shows as a failure, not a hung test run).
pub fn with_watchdog<R: Send + 'static>(
    limit: Duration,
    what: &str,
    f: impl FnOnce() -> R + Send + 'static,
) -> R {
    let (tx, rx) = mpsc::channel();
    let handle = std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    match rx.recv_timeout(limit) {
        Ok(value) => {
            handle.join().expect("watched thread panicked");
            value
        }
        Err(mpsc::RecvTimeoutError::Disconnected) => {
            // The closure panicked: re-raise its panic here.
            match handle.join() {
                Err(panic) => std::panic::resume_unwind(panic),
                Ok(()) => unreachable!("sender dropped without sending"),
            }
        }
        Err(mpsc::RecvTimeoutError::Timeout) => {
            panic!("{what}: did not finish within {limit:?} (deadlock or lost wake-up?)")
        }
    }
}

/// `status()` without the time-dependent moving average.
pub fn status(queue: &dyn Scheduler) -> QueueStatus {
    let mut status = queue.status();
    status.metrics.average_wait = Duration::ZERO;
    status
}

/// Everything observable about a queue, for "a rejected operation changed
/// nothing" checks: status (minus the wait average), the views and
/// dependency checks of `jobs`, and the schedulable lists of runners 0 and 1.
#[derive(Debug, PartialEq)]
pub struct Snapshot {
    pub status: QueueStatus,
    pub views: Vec<Result<JobView, Error>>,
    pub satisfied: Vec<Result<bool, Error>>,
    pub schedulable: Vec<Vec<JobId>>,
}

pub fn snapshot(queue: &dyn Scheduler, jobs: &[JobId]) -> Snapshot {
    Snapshot {
        status: status(queue),
        views: jobs.iter().map(|&j| queue.job(j)).collect(),
        satisfied: jobs
            .iter()
            .map(|&j| queue.dependencies_satisfied(j))
            .collect(),
        schedulable: vec![
            queue.schedulable(RunnerType(0)),
            queue.schedulable(RunnerType(1)),
        ],
    }
}

/// Claims until nothing is left; returns the claims in order.
pub fn drain(queue: &dyn Scheduler, runner: RunnerType) -> Vec<Claim> {
    std::iter::from_fn(|| queue.claim(runner)).collect()
}

/// Claims, starts and completes successfully everything claimable, until
/// nothing is; returns the jobs in claim order.
pub fn run_all(queue: &dyn Scheduler, runner: RunnerType) -> Vec<JobId> {
    let mut order = Vec::new();
    while let Some(claim) = queue.claim(runner) {
        queue.start(&claim).unwrap();
        queue.complete(claim.clone(), Outcome::Success).unwrap();
        order.push(claim.job());
    }
    order
}

/// The ids of a list of claims.
pub fn jobs_of(claims: &[Claim]) -> Vec<JobId> {
    claims.iter().map(|c| c.job()).collect()
}

/// `JobId`s from numbers.
pub fn ids(numbers: impl IntoIterator<Item = u64>) -> Vec<JobId> {
    numbers.into_iter().map(JobId).collect()
}

/// A claim no queue handed out (incarnation 0 is never issued): every
/// implementation must find it stale.
pub fn forged(job: JobId, attempt: u32) -> Claim {
    Claim::from_parts(job, 0, attempt)
}
