//! `produce_consume`: producers submit independent jobs (random priority
//! levels) while consumers claim → start → complete them; timed from the
//! start barrier until every job is completed. Throughput in jobs/s.

mod common;

use common::{Engine, Floor, Lf, Pl, Std, Workload};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use crossbeam_utils::CachePadded;
use std::sync::atomic::AtomicUsize;
use std::sync::Barrier;
use std::time::{Duration, Instant};

type Group<'a> = criterion::BenchmarkGroup<'a, criterion::measurement::WallTime>;

/// One run: `producers` threads submit the workload (interleaved ids),
/// `consumers` threads drain it.
fn produce_consume<E: Engine>(workload: &Workload, producers: usize, consumers: usize) -> Duration {
    let engine = E::empty(workload.len());
    let total = workload.len();
    let done: Vec<CachePadded<AtomicUsize>> = (0..consumers)
        .map(|_| CachePadded::new(AtomicUsize::new(0)))
        .collect();
    let barrier = Barrier::new(producers + consumers);
    let spans: Vec<(Instant, Instant)> = std::thread::scope(|s| {
        let mut handles = Vec::new();
        for p in 0..producers {
            let (engine, barrier) = (&engine, &barrier);
            handles.push(s.spawn(move || {
                barrier.wait();
                let start = Instant::now();
                for id in (p..total).step_by(producers) {
                    engine.submit(id as u64, &workload.jobs[id]);
                }
                (start, Instant::now())
            }));
        }
        for c in 0..consumers {
            let (engine, barrier, done) = (&engine, &barrier, &done);
            handles.push(s.spawn(move || {
                barrier.wait();
                let start = Instant::now();
                common::worker_loop(engine, &done[c], done, total);
                (start, Instant::now())
            }));
        }
        handles
            .into_iter()
            .map(|h| h.join().expect("thread"))
            .collect()
    });
    let elapsed = common::span(&spans);
    drop(engine);
    elapsed
}

fn run<E: Engine>(group: &mut Group<'_>, workload: &Workload, producers: usize, consumers: usize) {
    let id = BenchmarkId::new(E::NAME, format!("{producers}p{consumers}c"));
    group.bench_function(id, |b| {
        b.iter_custom(|iters| {
            (0..iters)
                .map(|_| produce_consume::<E>(workload, producers, consumers))
                .sum()
        });
    });
}

fn bench(c: &mut Criterion) {
    let jobs = common::size(20_000, 200_000);
    let workload = Workload::mixed(jobs, 0xfeed);
    let mut group = c.benchmark_group("produce_consume");
    common::drain_group(&mut group);
    group.throughput(Throughput::Elements(jobs as u64));
    for (producers, consumers) in [(1, 1), (2, 2)] {
        run::<Lf>(&mut group, &workload, producers, consumers);
        run::<Std>(&mut group, &workload, producers, consumers);
        run::<Pl>(&mut group, &workload, producers, consumers);
        run::<Floor>(&mut group, &workload, producers, consumers);
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = common::criterion();
    targets = bench
}
criterion_main!(benches);
