//! `workflow`: a real-shaped, edge-heavy workflow
//! ([`harness::workflow::Workflow::montage_like`]: 10 stages, ~9.8 edges a
//! task, two fan-in-heavy joins a stage that gather their stage and fan
//! out to the next), 10k and 100k tasks. Submit and drain are measured
//! separately: `workflow_submit` times building every spec and submitting
//! the whole graph from one thread (JobQueue one `submit` a job, and
//! `JobQueueBatch`, one `submit_many`; the floor builds its arrays);
//! `workflow_drain` times draining it (claim, start, complete) with 1 and
//! 2 threads (or `DAGQUEUE_BENCH_THREADS`), JobQueue as submitted either
//! way (a batch registers a job's in-batch dependents as one node, which
//! drains faster). Throughput in tasks/s.

mod common;

use common::{Engine, Floor, Lf, LfBatch, Pl, Std, Workload};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};

type Group<'a> = criterion::BenchmarkGroup<'a, criterion::measurement::WallTime>;

fn submit<E: Engine>(group: &mut Group<'_>, workload: &Workload) {
    let id = BenchmarkId::new(E::NAME, workload.len());
    group.bench_with_input(id, workload, |b, workload| {
        b.iter_custom(|iters| common::timed_submits::<E>(workload, iters));
    });
}

fn drain<E: Engine>(group: &mut Group<'_>, workload: &Workload, threads: usize) {
    let id = BenchmarkId::new(E::NAME, format!("{}/{threads}", workload.len()));
    group.bench_with_input(id, &threads, |b, &threads| {
        b.iter_custom(|iters| common::timed_drains::<E>(workload, threads, iters));
    });
}

fn workflow(c: &mut Criterion) {
    let workloads = [
        Workload::montage_like(10_000, 0x5eed),
        Workload::montage_like(100_000, 0x5eed),
    ];
    let mut group = c.benchmark_group("workflow_submit");
    common::drain_group(&mut group);
    for workload in &workloads {
        group.throughput(Throughput::Elements(workload.len() as u64));
        submit::<Lf>(&mut group, workload);
        submit::<LfBatch>(&mut group, workload);
        submit::<Std>(&mut group, workload);
        submit::<Pl>(&mut group, workload);
        submit::<Floor>(&mut group, workload);
    }
    group.finish();
    let threads = common::thread_override().unwrap_or(vec![1, 2]);
    let mut group = c.benchmark_group("workflow_drain");
    common::drain_group(&mut group);
    for workload in &workloads {
        group.throughput(Throughput::Elements(workload.len() as u64));
        for &threads in &threads {
            drain::<Lf>(&mut group, workload, threads);
            drain::<LfBatch>(&mut group, workload, threads);
            drain::<Std>(&mut group, workload, threads);
            drain::<Pl>(&mut group, workload, threads);
            drain::<Floor>(&mut group, workload, threads);
        }
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = common::criterion();
    targets = workflow
}
criterion_main!(benches);
