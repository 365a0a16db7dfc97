//! Teardown: dropping a queue frees every job exactly once, one at a time,
//! however the jobs are linked. A job's dependents list holds its
//! dependents, so a naive drop recursed down a chain of waiting jobs, a
//! stack frame a job (a 300,000-job chain overflowed the stack). Each
//! job carries a payload that counts its own drop.

mod common;

use common::scale;
use dagqueue::{JobId, JobQueue, JobSpec, Outcome, RunnerType};
use harness::workflow::Workflow;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// Counts its drops in a shared counter.
struct Counted(Arc<AtomicUsize>);

impl Drop for Counted {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

fn chain_spec(id: u64, drops: &Arc<AtomicUsize>) -> JobSpec<Counted> {
    let spec = JobSpec::new(JobId(id)).payload(Counted(Arc::clone(drops)));
    if id > 0 {
        spec.depends_on([JobId(id - 1)])
    } else {
        spec
    }
}

/// Long enough to overflow a test thread's 2 MiB stack with a frame or
/// more a job.
fn chain_length() -> u64 {
    scale(100_000, 2_000)
}

#[test]
fn dropping_a_queue_holding_a_long_waiting_chain_frees_every_job_without_recursing() {
    let drops = Arc::new(AtomicUsize::new(0));
    let n = chain_length();
    let queue = JobQueue::<Counted>::default();
    for id in 0..n {
        queue.submit(chain_spec(id, &drops)).unwrap();
    }
    assert_eq!(drops.load(Ordering::SeqCst), 0);
    drop(queue);
    assert_eq!(
        drops.load(Ordering::SeqCst),
        n as usize,
        "every job freed once"
    );
}

#[test]
fn dropping_a_batch_submitted_chain_frees_every_job_without_recursing() {
    let drops = Arc::new(AtomicUsize::new(0));
    let n = chain_length();
    let queue = JobQueue::<Counted>::default();
    // Dependents first: the batch is published in reverse.
    queue
        .submit_many((0..n).rev().map(|id| chain_spec(id, &drops)))
        .unwrap();
    drop(queue);
    assert_eq!(
        drops.load(Ordering::SeqCst),
        n as usize,
        "every job freed once"
    );
}

#[test]
fn a_drained_and_pruned_workflow_frees_every_job_while_its_queue_lives() {
    let drops = Arc::new(AtomicUsize::new(0));
    let graph = Workflow::montage_like(scale(10_000, 500), 11);
    let queue = JobQueue::<Counted>::default();
    // Batch order reversed: no longer a topological order.
    queue
        .submit_many(
            graph
                .dependencies
                .iter()
                .enumerate()
                .rev()
                .map(|(id, deps)| {
                    JobSpec::new(JobId(id as u64))
                        .depends_on(deps.iter().map(|&d| JobId(d)))
                        .payload(Counted(Arc::clone(&drops)))
                }),
        )
        .unwrap();
    let mut completed = 0;
    while let Some(claim) = queue.claim(RunnerType::DEFAULT) {
        queue.start(&claim).unwrap();
        queue.complete(claim, Outcome::Success).unwrap();
        completed += 1;
    }
    assert_eq!(completed, graph.len());
    assert_eq!(
        drops.load(Ordering::SeqCst),
        0,
        "a record in the table was freed"
    );
    assert_eq!(queue.prune_finished().len(), graph.len());
    assert_eq!(
        drops.load(Ordering::SeqCst),
        graph.len(),
        "every pruned record freed once, the queue still alive"
    );
    assert_eq!(queue.status().by_state.total(), 0);
}

#[test]
fn a_workflow_half_drained_then_dropped_frees_every_job_once() {
    let drops = Arc::new(AtomicUsize::new(0));
    let graph = Workflow::montage_like(scale(10_000, 500), 9);
    let queue = JobQueue::<Counted>::default();
    queue
        .submit_many(graph.dependencies.iter().enumerate().map(|(id, deps)| {
            JobSpec::new(JobId(id as u64))
                .depends_on(deps.iter().map(|&d| JobId(d)))
                .payload(Counted(Arc::clone(&drops)))
        }))
        .unwrap();
    let mut completed = 0;
    while completed < graph.len() / 2 {
        let claim = queue.claim(RunnerType::DEFAULT).unwrap();
        queue.start(&claim).unwrap();
        queue.complete(claim, Outcome::Success).unwrap();
        completed += 1;
    }
    // One claim outlives the queue: its job, and the jobs waiting on it
    // (its dependents list holds them), are freed with the claim.
    let held = queue.claim(RunnerType::DEFAULT).unwrap();
    assert_eq!(queue.prune_finished().len(), completed);
    // A batch's records are freed together, once every job of it with
    // dependents in it has ended (the batch's table of dependents holds
    // them): pruned jobs are forgotten, their records still held.
    assert_eq!(
        drops.load(Ordering::SeqCst),
        0,
        "a record the table holds was freed"
    );
    drop(queue);
    // The held job lives on, and with it the jobs waiting on it.
    let left = graph.len() - drops.load(Ordering::SeqCst);
    assert!(left >= 1, "the claimed job was freed under its claim");
    drop(held);
    assert_eq!(
        drops.load(Ordering::SeqCst),
        graph.len(),
        "every job freed once"
    );
}
