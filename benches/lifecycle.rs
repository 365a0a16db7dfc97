//! `lifecycle`: a queue prefilled with independent jobs; 1, 2 (and
//! `available_parallelism`) threads each claim → start → complete until it
//! is empty. Throughput in jobs/s; JobQueue (without and with a lease on
//! every claim, with a 64-byte payload read by every worker, and with one
//! subscriber receiving every event) vs the two mutex baselines and the
//! atomic floor.

mod common;

use common::{Engine, Floor, Leased, Lf, Payload64, Pl, Std, Subscribed, SubscribedIdle, Workload};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};

fn run<E: Engine>(
    group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    workload: &Workload,
    threads: usize,
) {
    group.bench_with_input(
        BenchmarkId::new(E::NAME, threads),
        &threads,
        |b, &threads| {
            b.iter_custom(|iters| common::timed_drains::<E>(workload, threads, iters));
        },
    );
}

fn lifecycle(c: &mut Criterion) {
    let jobs = common::size(20_000, 200_000);
    let workload = Workload::independent(jobs);
    let mut group = c.benchmark_group("lifecycle");
    common::drain_group(&mut group);
    group.throughput(Throughput::Elements(jobs as u64));
    for threads in common::thread_counts() {
        run::<Lf>(&mut group, &workload, threads);
        run::<Leased>(&mut group, &workload, threads);
        run::<Payload64>(&mut group, &workload, threads);
        run::<Subscribed>(&mut group, &workload, threads);
        run::<SubscribedIdle>(&mut group, &workload, threads);
        run::<Std>(&mut group, &workload, threads);
        run::<Pl>(&mut group, &workload, threads);
        run::<Floor>(&mut group, &workload, threads);
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = common::criterion();
    targets = lifecycle
}
criterion_main!(benches);
