//! Shared benchmark support: the engines compared (the lock-free `JobQueue`,
//! the two mutex baselines, the atomic floor, the scan-and-sort baseline),
//! the workload shapes, and the multi-threaded drain harness.
//!
//! Every bench binary includes this module with `mod common;` and uses only
//! part of it.
#![allow(dead_code)]

pub mod floor;
pub mod scan_sort;

use criterion::{Criterion, SamplingMode};
use crossbeam_utils::CachePadded;
use dagqueue::{JobId, JobQueue, JobSpec, Outcome, Priority, QueueConfig, RunnerType};
use harness::baseline::{ParkingLotQueue, StdMutexQueue};
use harness::Scheduler;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Barrier;
use std::time::{Duration, Instant};

#[allow(unused_imports)]
pub use floor::Floor;
#[allow(unused_imports)]
pub use scan_sort::ScanSort;

/// Whether the larger sizes were asked for (`DAGQUEUE_BENCH_FULL=1`).
pub fn full() -> bool {
    std::env::var("DAGQUEUE_BENCH_FULL").is_ok_and(|v| v == "1")
}

/// `small` normally, `large` with `DAGQUEUE_BENCH_FULL=1`.
pub fn size(small: usize, large: usize) -> usize {
    if full() {
        large
    } else {
        small
    }
}

/// The machine's parallelism.
pub fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// The comma-separated thread counts in `DAGQUEUE_BENCH_THREADS`, if set.
pub fn thread_override() -> Option<Vec<usize>> {
    let list = std::env::var("DAGQUEUE_BENCH_THREADS").ok()?;
    let parsed: Vec<usize> = list
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .filter(|&n| n > 0)
        .collect();
    (!parsed.is_empty()).then_some(parsed)
}

/// Thread counts for the scaling groups: 1, 2 and the machine's parallelism
/// when larger, or the comma-separated list in `DAGQUEUE_BENCH_THREADS`.
pub fn thread_counts() -> Vec<usize> {
    if let Some(list) = thread_override() {
        return list;
    }
    let mut counts = vec![1, 2];
    if cores() > 2 {
        counts.push(cores());
    }
    counts
}

/// The Criterion configuration every group starts from: few, long samples
/// (each sample drains a whole workload), flat sampling, short budgets, so
/// that `cargo bench -- --quick` runs every group in a few minutes.
pub fn criterion() -> Criterion {
    Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .nresamples(10_000)
        .without_plots()
}

/// Applies the per-group settings shared by the drain groups.
pub fn drain_group<M: criterion::measurement::Measurement>(
    group: &mut criterion::BenchmarkGroup<'_, M>,
) {
    group.sampling_mode(SamplingMode::Flat);
}

/// The workspace's one seeded PRNG (splitmix64): one stream per seed everywhere.
pub use harness::rng::Rng;

/// One job of a workload: its index is its id.
#[derive(Clone, Debug)]
pub struct Spec {
    /// Priority level, 0 (Critical) to 4 (Background).
    pub level: u8,
    /// Indices of the jobs it depends on (all lower than its own).
    pub deps: Vec<u32>,
}

/// A set of jobs, in submission order (dependencies before dependents).
#[derive(Clone, Debug)]
pub struct Workload {
    /// The jobs; job `i` has id `i`.
    pub jobs: Vec<Spec>,
}

impl Workload {
    /// `n` independent Normal jobs.
    pub fn independent(n: usize) -> Workload {
        Workload {
            jobs: (0..n)
                .map(|_| Spec {
                    level: 2,
                    deps: Vec::new(),
                })
                .collect(),
        }
    }

    /// `n` independent jobs with random levels.
    pub fn mixed(n: usize, seed: u64) -> Workload {
        let mut rng = Rng::new(seed);
        Workload {
            jobs: (0..n)
                .map(|_| Spec {
                    level: random_level(&mut rng),
                    deps: Vec::new(),
                })
                .collect(),
        }
    }

    /// A chain: job i depends on job i − 1.
    pub fn chain(n: usize) -> Workload {
        Workload::chains(1, n)
    }

    /// `k` independent chains of `len` jobs, interleaved: at most `k` jobs
    /// are ever ready at once.
    pub fn chains(k: usize, len: usize) -> Workload {
        Workload {
            jobs: (0..k * len)
                .map(|i| Spec {
                    level: 2,
                    deps: if i >= k {
                        vec![(i - k) as u32]
                    } else {
                        Vec::new()
                    },
                })
                .collect(),
        }
    }

    /// One root and `n` jobs that depend on it.
    pub fn fan_out(n: usize) -> Workload {
        let mut jobs = vec![Spec {
            level: 2,
            deps: Vec::new(),
        }];
        jobs.extend((0..n).map(|_| Spec {
            level: 2,
            deps: vec![0],
        }));
        Workload { jobs }
    }

    /// `n` roots and one job that depends on all of them.
    pub fn fan_in(n: usize) -> Workload {
        let mut jobs: Vec<Spec> = (0..n)
            .map(|_| Spec {
                level: 2,
                deps: Vec::new(),
            })
            .collect();
        jobs.push(Spec {
            level: 2,
            deps: (0..n as u32).collect(),
        });
        Workload { jobs }
    }

    /// `layers` layers of `width` jobs; each job below the first depends on
    /// `deps` distinct random jobs of the layer above.
    pub fn layered(layers: usize, width: usize, deps: usize, seed: u64) -> Workload {
        let mut rng = Rng::new(seed);
        let mut jobs = Vec::with_capacity(layers * width);
        for layer in 0..layers {
            for _ in 0..width {
                let mut picked = Vec::with_capacity(deps);
                if layer > 0 {
                    while picked.len() < deps.min(width) {
                        let d = ((layer - 1) * width) as u32 + rng.below(width as u64) as u32;
                        if !picked.contains(&d) {
                            picked.push(d);
                        }
                    }
                }
                jobs.push(Spec {
                    level: 2,
                    deps: picked,
                });
            }
        }
        Workload { jobs }
    }

    /// A real-shaped, edge-heavy workflow ([`harness::workflow::Workflow::montage_like`]:
    /// 10 stages, ~9.8 edges a task, two fan-in-heavy joins a stage).
    pub fn montage_like(tasks: usize, seed: u64) -> Workload {
        let graph = harness::workflow::Workflow::montage_like(tasks, seed);
        Workload {
            jobs: graph
                .dependencies
                .into_iter()
                .map(|deps| Spec {
                    level: 2,
                    deps: deps.into_iter().map(|d| d as u32).collect(),
                })
                .collect(),
        }
    }

    /// The number of jobs.
    pub fn len(&self) -> usize {
        self.jobs.len()
    }
}

/// A random level: 5% Critical, 15% High, 60% Normal, 15% Low, 5% Background.
pub fn random_level(rng: &mut Rng) -> u8 {
    match rng.below(100) {
        0..=4 => 0,
        5..=19 => 1,
        20..=79 => 2,
        80..=94 => 3,
        _ => 4,
    }
}

/// What the benchmarks need from a queue.
pub trait Engine: Sync + Sized {
    /// Its name in the reports.
    const NAME: &'static str;
    /// An empty queue with room for `capacity` jobs (ids `0..capacity`).
    fn empty(capacity: usize) -> Self;
    /// Submits job `id` (its dependencies already submitted).
    fn submit(&self, id: u64, spec: &Spec);
    /// Claims, starts and completes one job; false if none could be claimed.
    fn step(&self) -> bool;
    /// Forgets finished jobs (no-op where nothing is kept).
    fn prune(&self) {}
    /// Whether only [`build`](Engine::build) can hold a workload with
    /// dependencies (the floor, whose dependents lists are fixed).
    const BUILDS_WHOLE: bool = false;

    /// Submits the whole workload (its dependencies in id order).
    fn submit_all(&self, workload: &Workload) {
        for (id, spec) in workload.jobs.iter().enumerate() {
            self.submit(id as u64, spec);
        }
    }

    /// A queue holding the whole workload.
    fn build(workload: &Workload) -> Self {
        let engine = Self::empty(workload.len());
        engine.submit_all(workload);
        engine
    }
}

/// A [`Scheduler`] implementation as an [`Engine`].
pub struct Sched<S>(pub S);

fn job_spec(id: u64, spec: &Spec) -> JobSpec {
    JobSpec::new(JobId(id))
        .priority(Priority::from_level(spec.level).expect("level below 5"))
        .depends_on(spec.deps.iter().map(|&d| JobId(u64::from(d))))
}

impl<S: Scheduler> Sched<S> {
    #[inline]
    fn sched_submit(&self, id: u64, spec: &Spec) {
        self.0.submit(job_spec(id, spec)).expect("submit");
    }

    #[inline]
    fn sched_step(&self) -> bool {
        match self.0.claim(RunnerType::DEFAULT) {
            Some(claim) => {
                self.0.start(&claim).expect("start");
                self.0.complete(claim, Outcome::Success).expect("complete");
                true
            }
            None => false,
        }
    }
}

macro_rules! sched_engine {
    ($ty:ty, $name:literal, $make:expr) => {
        impl Engine for Sched<$ty> {
            const NAME: &'static str = $name;
            fn empty(_capacity: usize) -> Self {
                Sched($make)
            }
            #[inline]
            fn submit(&self, id: u64, spec: &Spec) {
                self.sched_submit(id, spec)
            }
            #[inline]
            fn step(&self) -> bool {
                self.sched_step()
            }
            fn prune(&self) {
                self.0.prune_finished();
            }
        }
    };
}

// Through the trait too, for benches generic over `Scheduler` (`status`).
sched_engine!(JobQueue, "JobQueue", JobQueue::new());
sched_engine!(
    StdMutexQueue,
    "StdMutex",
    StdMutexQueue::new(QueueConfig::default())
);
sched_engine!(
    ParkingLotQueue,
    "ParkingLot",
    ParkingLotQueue::new(QueueConfig::default())
);

/// One claim → start → complete on `queue` called directly, reading the
/// claim's payload; false if nothing could be claimed.
#[inline]
fn direct_step<T>(queue: &JobQueue<T>) -> bool {
    match queue.claim(RunnerType::DEFAULT) {
        Some(claim) => {
            queue.start(&claim).expect("start");
            std::hint::black_box(claim.payload());
            queue.complete(claim, Outcome::Success).expect("complete");
            true
        }
        None => false,
    }
}

/// `JobQueue<T>` called directly (as its users do; the baselines go
/// through the harness's `Scheduler` trait, whose claim type wraps theirs).
/// Each job carries `make(id)`, and a step reads its claim's payload.
macro_rules! direct_engine {
    ($(#[$doc:meta])* $engine:ident, $name:literal, $payload:ty, $make:expr, $build:expr) => {
        $(#[$doc])*
        pub struct $engine(JobQueue<$payload>);

        impl Engine for $engine {
            const NAME: &'static str = $name;
            fn empty(_capacity: usize) -> Self {
                $engine($build)
            }
            #[inline]
            fn submit(&self, id: u64, spec: &Spec) {
                let make: fn(u64) -> $payload = $make;
                self.0
                    .submit(job_spec(id, spec).payload(make(id)))
                    .expect("submit");
            }
            #[inline]
            fn step(&self) -> bool {
                direct_step(&self.0)
            }
            fn prune(&self) {
                self.0.prune_finished();
            }
        }
    };
}

direct_engine!(
    /// The lock-free queue (no payload).
    Lf,
    "JobQueue",
    (),
    |_| (),
    JobQueue::new()
);

direct_engine!(
    /// The lock-free queue with a 30 s lease on every claim (each claim
    /// starts a lease; nothing expires while the bench runs).
    Leased,
    "JobQueueLeased",
    (),
    |_| (),
    JobQueue::builder()
        .lease(Duration::from_secs(30))
        .build()
        .expect("a valid lease")
);

direct_engine!(
    /// The lock-free queue whose jobs carry a 64-byte payload, read by the
    /// worker on every claim.
    Payload64,
    "JobQueuePayload64",
    [u8; 64],
    |id| [id as u8; 64],
    JobQueue::default()
);

/// The lock-free queue, the whole workload submitted with one
/// `submit_many` (drains as [`Lf`]).
pub struct LfBatch(JobQueue);

impl Engine for LfBatch {
    const NAME: &'static str = "JobQueueBatch";
    fn empty(_capacity: usize) -> Self {
        LfBatch(JobQueue::new())
    }
    fn submit(&self, id: u64, spec: &Spec) {
        self.0.submit(job_spec(id, spec)).expect("submit");
    }
    fn submit_all(&self, workload: &Workload) {
        let specs = workload
            .jobs
            .iter()
            .enumerate()
            .map(|(id, spec)| job_spec(id as u64, spec));
        self.0.submit_many(specs).expect("submit_many");
    }
    #[inline]
    fn step(&self) -> bool {
        direct_step(&self.0)
    }
}

/// `iters` times: an empty engine (not timed) given the whole workload
/// (timed: for the queues, building every spec and submitting it; for the
/// floor, building its arrays), then dropped (not timed); the summed
/// submit times.
pub fn timed_submits<E: Engine>(workload: &Workload, iters: u64) -> Duration {
    let mut total = Duration::ZERO;
    for _ in 0..iters {
        let engine = E::empty(workload.len());
        let start = Instant::now();
        let engine = if E::BUILDS_WHOLE {
            drop(engine);
            E::build(workload)
        } else {
            engine.submit_all(workload);
            engine
        };
        total += start.elapsed();
        drop(engine);
    }
    total
}

/// The lock-free queue with one subscriber attached to its event stream,
/// a thread that receives every event (blocking `recv`) while the bench
/// runs: the cost of writing each transition's event, and of sharing the
/// machine with a consumer.
pub struct Subscribed {
    queue: Option<JobQueue>,
    receiver: Option<std::thread::JoinHandle<u64>>,
}

impl Engine for Subscribed {
    const NAME: &'static str = "JobQueueSubscribed";
    fn empty(_capacity: usize) -> Self {
        let queue = JobQueue::new();
        let mut events = queue.subscribe();
        let receiver = std::thread::spawn(move || {
            let mut received = 0u64;
            loop {
                match events.recv() {
                    Ok(event) => {
                        std::hint::black_box(event);
                        received += 1;
                    }
                    Err(dagqueue::RecvError::Lagged(missed)) => received += missed,
                    Err(dagqueue::RecvError::Closed) => return received,
                }
            }
        });
        Subscribed {
            queue: Some(queue),
            receiver: Some(receiver),
        }
    }
    #[inline]
    fn submit(&self, id: u64, spec: &Spec) {
        let queue = self.queue.as_ref().expect("live");
        queue.submit(job_spec(id, spec)).expect("submit");
    }
    #[inline]
    fn step(&self) -> bool {
        direct_step(self.queue.as_ref().expect("live"))
    }
}

/// The lock-free queue with one subscriber that never reads (it only
/// lags): the writers' cost alone, without a consumer on the machine.
pub struct SubscribedIdle(JobQueue, #[allow(dead_code)] dagqueue::Subscriber);

impl Engine for SubscribedIdle {
    const NAME: &'static str = "JobQueueSubscribedIdle";
    fn empty(_capacity: usize) -> Self {
        let queue = JobQueue::new();
        let events = queue.subscribe();
        SubscribedIdle(queue, events)
    }
    #[inline]
    fn submit(&self, id: u64, spec: &Spec) {
        self.0.submit(job_spec(id, spec)).expect("submit");
    }
    #[inline]
    fn step(&self) -> bool {
        direct_step(&self.0)
    }
}

impl Drop for Subscribed {
    fn drop(&mut self) {
        drop(self.queue.take());
        if let Some(receiver) = self.receiver.take() {
            let received = receiver.join().expect("the subscriber thread");
            assert!(received > 0, "the subscriber received nothing");
        }
    }
}

/// The `std::sync::Mutex` baseline.
pub type Std = Sched<StdMutexQueue>;
/// The `parking_lot::Mutex` baseline.
pub type Pl = Sched<ParkingLotQueue>;

/// Runs `threads` workers that each loop on [`Engine::step`] until `total`
/// jobs were completed between them; returns the time from the first worker
/// leaving the start barrier to the last worker's exit (taken by the workers
/// themselves, so an oversubscribed machine that delays the spawning thread
/// does not shorten it). A worker that finds nothing to claim yields.
pub fn drain<E: Engine>(engine: &E, threads: usize, total: usize) -> Duration {
    let done: Vec<CachePadded<AtomicUsize>> = (0..threads)
        .map(|_| CachePadded::new(AtomicUsize::new(0)))
        .collect();
    let barrier = Barrier::new(threads);
    let spans: Vec<(Instant, Instant)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let (done, barrier) = (&done, &barrier);
                s.spawn(move || {
                    barrier.wait();
                    let start = Instant::now();
                    worker_loop(engine, &done[t], done, total);
                    (start, Instant::now())
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("worker"))
            .collect()
    });
    span(&spans)
}

/// From the earliest start to the latest end.
pub fn span(spans: &[(Instant, Instant)]) -> Duration {
    let start = spans.iter().map(|s| s.0).min().expect("a thread");
    let end = spans.iter().map(|s| s.1).max().expect("a thread");
    end.duration_since(start)
}

/// One worker: step until the shared total is reached.
#[inline]
pub fn worker_loop<E: Engine>(
    engine: &E,
    mine: &AtomicUsize,
    all: &[CachePadded<AtomicUsize>],
    total: usize,
) {
    let mut count = 0usize;
    loop {
        if engine.step() {
            count += 1;
            mine.store(count, Ordering::Relaxed);
        } else {
            let sum: usize = all.iter().map(|c| c.load(Ordering::Relaxed)).sum();
            if sum >= total {
                return;
            }
            std::thread::yield_now();
        }
    }
}

/// `iters` times: builds the engine on `workload` (not timed), drains it with
/// `threads` workers (timed); returns the summed drain times.
pub fn timed_drains<E: Engine>(workload: &Workload, threads: usize, iters: u64) -> Duration {
    let mut total = Duration::ZERO;
    for _ in 0..iters {
        let engine = E::build(workload);
        total += drain(&engine, threads, workload.len());
        drop(engine);
    }
    total
}
