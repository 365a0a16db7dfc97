//! `scale`: the cost of one claim + start + complete with 1k, 10k, 100k and
//! 1M jobs queued (random priority levels), for JobQueue, the two mutex
//! baselines and the scan-and-sort baseline that reproduces the Python
//! manager's dequeue (scan every job, score, sort, take the best).
//!
//! The queue is built once per size; each timed batch claims at most a
//! tenth of it, then (untimed) the same number of fresh jobs is submitted
//! and finished jobs are pruned, so the queue stays between 90% and 100% of
//! its size. Scan-and-sort is O(n log n) per claim and stops at 100k
//! (1M with `DAGQUEUE_BENCH_FULL=1`).

mod common;

use common::{Engine, Lf, Pl, Rng, ScanSort, Spec, Std};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use std::time::{Duration, Instant};

type Group<'a> = criterion::BenchmarkGroup<'a, criterion::measurement::WallTime>;

/// Claims (and completes) `iters` jobs from a queue kept at `size`.
struct Steady<E> {
    engine: E,
    size: usize,
    next_id: u64,
    finished: usize,
    rng: Rng,
}

impl<E: Engine> Steady<E> {
    fn new(size: usize) -> Steady<E> {
        let mut rng = Rng::new(size as u64);
        let engine = E::empty(size);
        for id in 0..size as u64 {
            let spec = Spec {
                level: common::random_level(&mut rng),
                deps: Vec::new(),
            };
            engine.submit(id, &spec);
        }
        Steady {
            engine,
            size,
            next_id: size as u64,
            finished: 0,
            rng,
        }
    }

    fn run(&mut self, iters: u64) -> Duration {
        let mut left = iters;
        let mut timed = Duration::ZERO;
        let most = (self.size as u64 / 10).max(1);
        while left > 0 {
            let batch = left.min(most);
            let start = Instant::now();
            for _ in 0..batch {
                let stepped = self.engine.step();
                debug_assert!(stepped);
            }
            timed += start.elapsed();
            for _ in 0..batch {
                let spec = Spec {
                    level: common::random_level(&mut self.rng),
                    deps: Vec::new(),
                };
                self.engine.submit(self.next_id, &spec);
                self.next_id += 1;
            }
            self.finished += batch as usize;
            if self.finished >= self.size {
                self.engine.prune();
                self.finished = 0;
            }
            left -= batch;
        }
        timed
    }
}

fn run<E: Engine>(group: &mut Group<'_>, size: usize) {
    // Built on first use, so that a filtered-out benchmark costs nothing.
    let mut steady: Option<Steady<E>> = None;
    group.bench_with_input(BenchmarkId::new(E::NAME, size), &size, |b, &size| {
        b.iter_custom(|iters| steady.get_or_insert_with(|| Steady::new(size)).run(iters));
    });
}

fn scale(c: &mut Criterion) {
    let scan_sort_max = common::size(100_000, 1_000_000);
    let mut group = c.benchmark_group("scale");
    group.throughput(Throughput::Elements(1));
    for size in [1_000, 10_000, 100_000, 1_000_000] {
        run::<Lf>(&mut group, size);
        run::<Std>(&mut group, size);
        run::<Pl>(&mut group, size);
        if size <= scan_sort_max {
            run::<ScanSort>(&mut group, size);
        }
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = common::criterion();
    targets = scale
}
criterion_main!(benches);
