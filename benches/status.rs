//! `status`: the cost of one `status()` and one `metrics()` read while a
//! worker thread keeps claiming, completing and re-submitting jobs on a
//! queue of 10k jobs (100k in full mode, `DAGQUEUE_STATUS_JOBS` to set it;
//! finished jobs pruned as it goes).

mod common;

use common::{Rng, Sched, Spec};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use harness::Scheduler;
use std::hint::black_box;
use std::sync::atomic::{AtomicBool, Ordering};

type Group<'a> = criterion::BenchmarkGroup<'a, criterion::measurement::WallTime>;

fn run<S: Scheduler>(group: &mut Group<'_>, size: usize)
where
    Sched<S>: common::Engine,
{
    use common::Engine;
    let engine = Sched::<S>::empty(size);
    let mut rng = Rng::new(7);
    let mut spec = || Spec {
        level: common::random_level(&mut rng),
        deps: Vec::new(),
    };
    for id in 0..size as u64 {
        engine.submit(id, &spec());
    }
    let stop = AtomicBool::new(false);
    std::thread::scope(|s| {
        s.spawn(|| {
            let mut rng = Rng::new(11);
            let mut next = size as u64;
            let mut finished = 0;
            while !stop.load(Ordering::Relaxed) {
                if engine.step() {
                    let spec = Spec {
                        level: common::random_level(&mut rng),
                        deps: Vec::new(),
                    };
                    engine.submit(next, &spec);
                    next += 1;
                    finished += 1;
                    if finished == size {
                        engine.prune();
                        finished = 0;
                    }
                }
            }
        });
        let name = <Sched<S> as common::Engine>::NAME;
        group.bench_function(BenchmarkId::new(name, "status"), |b| {
            b.iter(|| black_box(engine.0.status()));
        });
        group.bench_function(BenchmarkId::new(name, "metrics"), |b| {
            b.iter(|| black_box(engine.0.metrics()));
        });
        stop.store(true, Ordering::Relaxed);
    });
}

fn status(c: &mut Criterion) {
    // DAGQUEUE_STATUS_JOBS sets the queue's size (e.g. 1000000).
    let size = std::env::var("DAGQUEUE_STATUS_JOBS")
        .ok()
        .and_then(|jobs| jobs.parse().ok())
        .unwrap_or_else(|| common::size(10_000, 100_000));
    let mut group = c.benchmark_group("status");
    run::<dagqueue::JobQueue>(&mut group, size);
    run::<harness::baseline::StdMutexQueue>(&mut group, size);
    run::<harness::baseline::ParkingLotQueue>(&mut group, size);
    group.finish();
}

criterion_group! {
    name = benches;
    config = common::criterion();
    targets = status
}
criterion_main!(benches);
