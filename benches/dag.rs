//! `dag`: time to drain a dependency graph — a chain of 10k, fan-out 1→10k,
//! fan-in 10k→1, and a layered random DAG (20 layers × 1,000 jobs, 3
//! dependencies each from the layer above) — with 2 threads (and 1 and
//! `available_parallelism` for the layered DAG; every shape at each count of
//! `DAGQUEUE_BENCH_THREADS` when set). Throughput in jobs/s.

mod common;

use common::{Engine, Floor, Lf, Pl, Std, Workload};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};

type Group<'a> = criterion::BenchmarkGroup<'a, criterion::measurement::WallTime>;

fn run<E: Engine>(group: &mut Group<'_>, shape: &str, workload: &Workload, threads: usize) {
    let id = BenchmarkId::new(E::NAME, format!("{shape}/{threads}"));
    group.bench_with_input(id, &threads, |b, &threads| {
        b.iter_custom(|iters| common::timed_drains::<E>(workload, threads, iters));
    });
}

fn shape(group: &mut Group<'_>, shape: &str, workload: &Workload, threads: &[usize]) {
    group.throughput(Throughput::Elements(workload.len() as u64));
    for &threads in threads {
        run::<Lf>(group, shape, workload, threads);
        run::<Std>(group, shape, workload, threads);
        run::<Pl>(group, shape, workload, threads);
        run::<Floor>(group, shape, workload, threads);
    }
}

fn dag(c: &mut Criterion) {
    let n = common::size(10_000, 100_000);
    let width = common::size(1_000, 10_000);
    // The fixed shapes run at 2 threads, or at every count of
    // `DAGQUEUE_BENCH_THREADS` when it is set.
    let two = common::thread_override().unwrap_or(vec![2]);
    let mut group = c.benchmark_group("dag");
    common::drain_group(&mut group);
    shape(&mut group, "chain", &Workload::chain(n), &two);
    shape(&mut group, "fan_out", &Workload::fan_out(n), &two);
    shape(&mut group, "fan_in", &Workload::fan_in(n), &two);
    let layered = Workload::layered(20, width, 3, 0x5eed);
    shape(&mut group, "layered", &layered, &common::thread_counts());
    group.finish();
}

criterion_group! {
    name = benches;
    config = common::criterion();
    targets = dag
}
criterion_main!(benches);
