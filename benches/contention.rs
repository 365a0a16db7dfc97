//! `contention`: many threads claiming from a handful of ready jobs — 4
//! interleaved chains, so at most 4 jobs are ever ready — with 2 and 8
//! threads (the threads that find nothing yield and retry). Throughput in
//! jobs/s.

mod common;

use common::{Engine, Floor, Lf, Pl, Std, Workload};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};

type Group<'a> = criterion::BenchmarkGroup<'a, criterion::measurement::WallTime>;

fn run<E: Engine>(group: &mut Group<'_>, workload: &Workload, threads: usize) {
    group.bench_with_input(
        BenchmarkId::new(E::NAME, threads),
        &threads,
        |b, &threads| {
            b.iter_custom(|iters| common::timed_drains::<E>(workload, threads, iters));
        },
    );
}

fn contention(c: &mut Criterion) {
    let ready = 4;
    let len = common::size(2_500, 25_000);
    let workload = Workload::chains(ready, len);
    let mut group = c.benchmark_group("contention");
    common::drain_group(&mut group);
    group.throughput(Throughput::Elements(workload.len() as u64));
    let mut threads = vec![2, 8];
    if common::cores() * 4 > 8 {
        threads.push(common::cores() * 4);
    }
    for threads in threads {
        run::<Lf>(&mut group, &workload, threads);
        run::<Std>(&mut group, &workload, threads);
        run::<Pl>(&mut group, &workload, threads);
        run::<Floor>(&mut group, &workload, threads);
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = common::criterion();
    targets = contention
}
criterion_main!(benches);
