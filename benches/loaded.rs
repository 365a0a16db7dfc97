//! `loaded`: the cost of one claim + start + complete (a job with a 30 s
//! lease) on a queue that also holds 100k delayed jobs (due in an hour) and
//! 1M claimed jobs whose leases run (an hour), against the same on an empty
//! queue with the same settings. Issue 9's target: within 1.5x.
//!
//! Each timed batch submits (untimed) `iters` fresh jobs, then claims,
//! starts and completes them; finished jobs are pruned every half million
//! or so (untimed).
//! One thread. Building the loaded queue takes a few seconds.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use dagqueue::{Claim, JobId, JobQueue, JobSpec, Outcome, RunnerType};
use std::time::{Duration, Instant};

const HOUR: Duration = Duration::from_secs(3600);
const DELAYED: u64 = 100_000;
const HELD: u64 = 1_000_000;
const R: RunnerType = RunnerType::DEFAULT;
/// The runner of the held claims: claims of `R` never see them.
const HOLDER: RunnerType = RunnerType(1);

fn queue() -> JobQueue {
    JobQueue::builder()
        .lease(Duration::from_secs(30))
        .build()
        .expect("a valid lease")
}

/// A queue with `DELAYED` delayed jobs and `HELD` claims held under an
/// hour-long lease; returns the claims so they stay held.
fn loaded() -> (JobQueue, Vec<Claim>) {
    let q = queue();
    let mut id = 1u64 << 40;
    for _ in 0..DELAYED {
        q.submit(JobSpec::new(JobId(id)).delay(HOUR))
            .expect("submit");
        id += 1;
    }
    let mut held = Vec::with_capacity(HELD as usize);
    for _ in 0..HELD {
        q.submit(JobSpec::new(JobId(id)).runner(HOLDER).lease(HOUR))
            .expect("submit");
        id += 1;
        held.push(q.claim(HOLDER).expect("a held claim"));
    }
    (q, held)
}

/// Finished jobs pruned about this often.
const PRUNE_EVERY: u64 = 1 << 19;

/// Submits `iters` jobs (untimed), then claims, starts and completes them.
fn timed_lifecycles(q: &JobQueue, next_id: &mut u64, iters: u64) -> Duration {
    for _ in 0..iters {
        q.submit(JobSpec::new(JobId(*next_id))).expect("submit");
        *next_id += 1;
    }
    let started = Instant::now();
    for _ in 0..iters {
        let claim = q.claim(R).expect("a ready job");
        q.start(&claim).expect("start");
        q.complete(claim, Outcome::Success).expect("complete");
    }
    let elapsed = started.elapsed();
    // Prune now and then only: a prune walks the whole table (1.1M jobs
    // when loaded), which would evict the caches before every batch.
    if *next_id % PRUNE_EVERY < iters {
        q.prune_finished();
    }
    elapsed
}

fn loaded_group(c: &mut Criterion) {
    let mut group = c.benchmark_group("loaded");
    group.throughput(Throughput::Elements(1));
    let empty = queue();
    let mut next_id = 0;
    group.bench_function("empty", |b| {
        b.iter_custom(|iters| timed_lifecycles(&empty, &mut next_id, iters))
    });
    let (loaded, held) = loaded();
    group.bench_function("100k_delayed_1M_leased", |b| {
        b.iter_custom(|iters| timed_lifecycles(&loaded, &mut next_id, iters))
    });
    group.finish();
    drop(held);
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3));
    targets = loaded_group
}
criterion_main!(benches);
