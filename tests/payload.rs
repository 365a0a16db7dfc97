//! Payloads (`JobQueue<T>`): what a worker receives with its claim, how long
//! the queue keeps it, and that a rejected submit keeps nothing.
//!
//! These are `JobQueue`-only: the mutex baselines behind the harness's
//! `Scheduler` trait carry no payload.

use dagqueue::{
    ClusterId, Completion, Error, JobId, JobQueue, JobSpec, JobState, Outcome, RunnerType,
};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

const R: RunnerType = RunnerType::DEFAULT;

/// A payload that counts how many of its kind were dropped.
struct Tracked {
    id: u64,
    drops: Arc<AtomicUsize>,
}

impl Drop for Tracked {
    fn drop(&mut self) {
        self.drops.fetch_add(1, Ordering::SeqCst);
    }
}

fn tracked(id: u64, drops: &Arc<AtomicUsize>) -> Tracked {
    Tracked {
        id,
        drops: Arc::clone(drops),
    }
}

#[test]
fn a_claim_carries_payload_runner_cluster_and_attempt() {
    let queue = JobQueue::<String>::default();
    let spec = JobSpec::new(JobId(1))
        .runner(RunnerType(2))
        .cluster(ClusterId(5))
        .max_retries(1)
        .payload("input.csv".to_string());
    queue.submit(spec).unwrap();
    let first = queue.claim(RunnerType(2)).unwrap();
    assert_eq!(
        (
            first.job(),
            first.attempt(),
            first.runner(),
            first.cluster()
        ),
        (JobId(1), 1, RunnerType(2), Some(ClusterId(5)))
    );
    assert_eq!(first.payload(), "input.csv");
    let first_payload: *const String = first.payload();
    assert_eq!(
        queue.complete(first, Outcome::Failure),
        Ok(Completion::Retrying)
    );
    // The retry reads the very same value: shared, never copied.
    let second = queue.claim(RunnerType(2)).unwrap();
    assert_eq!(second.attempt(), 2);
    assert!(std::ptr::eq(second.payload(), first_payload));
    assert_eq!(
        queue.complete(second, Outcome::Success),
        Ok(Completion::Completed)
    );
}

#[test]
fn a_payload_is_dropped_once_when_its_job_is_pruned_and_its_claims_are_gone() {
    let drops = Arc::new(AtomicUsize::new(0));
    let queue = JobQueue::<Tracked>::default();
    queue
        .submit(JobSpec::new(JobId(1)).payload(tracked(1, &drops)))
        .unwrap();
    let claim = queue.claim(R).unwrap();
    let copy = claim.clone();
    assert_eq!(
        queue.complete(claim, Outcome::Success),
        Ok(Completion::Completed)
    );
    assert_eq!(drops.load(Ordering::SeqCst), 0, "finished jobs stay known");
    assert_eq!(queue.prune_finished().len(), 1);
    // A claim still held keeps the record (and its payload) alive.
    assert_eq!(copy.payload().id, 1);
    assert_eq!(drops.load(Ordering::SeqCst), 0);
    drop(copy);
    assert_eq!(drops.load(Ordering::SeqCst), 1);
}

#[test]
fn dropping_a_queue_drops_every_payload_once() {
    let drops = Arc::new(AtomicUsize::new(0));
    let queue = JobQueue::<Tracked>::default();
    // Pending, waiting (on 1), claimed and finished jobs.
    for id in 1..=3 {
        queue
            .submit(JobSpec::new(JobId(id)).payload(tracked(id, &drops)))
            .unwrap();
    }
    queue
        .submit(
            JobSpec::new(JobId(4))
                .depends_on([JobId(1)])
                .payload(tracked(4, &drops)),
        )
        .unwrap();
    let done = queue.claim(R).unwrap();
    queue.complete(done, Outcome::Success).unwrap();
    let held = queue.claim(R).unwrap();
    assert_eq!(queue.state(JobId(3)), Ok(JobState::Pending));
    drop(queue);
    // The held claim keeps its own record.
    assert_eq!(drops.load(Ordering::SeqCst), 3);
    drop(held);
    assert_eq!(drops.load(Ordering::SeqCst), 4);
}

#[test]
fn a_rejected_submit_keeps_nothing_and_changes_nothing() {
    let drops = Arc::new(AtomicUsize::new(0));
    let queue = JobQueue::<Tracked>::default();
    queue
        .submit(JobSpec::new(JobId(1)).payload(tracked(1, &drops)))
        .unwrap();
    let duplicate = JobSpec::new(JobId(1)).payload(tracked(99, &drops));
    assert_eq!(queue.submit(duplicate), Err(Error::DuplicateJob(JobId(1))));
    let cyclic = JobSpec::new(JobId(2))
        .depends_on([JobId(2)])
        .payload(tracked(98, &drops));
    assert_eq!(queue.submit(cyclic), Err(Error::SelfDependency(JobId(2))));
    // Both rejected payloads were dropped with their specs; the queue still
    // holds job 1 with its own payload, and nothing else.
    assert_eq!(drops.load(Ordering::SeqCst), 2);
    assert_eq!(queue.state(JobId(2)), Err(Error::UnknownJob(JobId(2))));
    assert_eq!(queue.claim(R).unwrap().payload().id, 1);
    assert!(queue.claim(R).is_none());
}

#[test]
fn concurrent_workers_each_get_their_own_jobs_payload() {
    const JOBS: u64 = 2_000;
    const WORKERS: usize = 4;
    let queue = JobQueue::builder()
        .default_capacity(3)
        .build_for::<(u64, [u8; 56])>()
        .unwrap();
    for id in 0..JOBS {
        let spec = JobSpec::new(JobId(id))
            .cluster(ClusterId((id % 2) as u32))
            .payload((id * 3, [id as u8; 56]));
        queue.submit(spec).unwrap();
    }
    let counts: Vec<(u64, u64)> = std::thread::scope(|s| {
        let workers: Vec<_> = (0..WORKERS)
            .map(|_| {
                s.spawn(|| {
                    let (mut done, mut sum) = (0, 0);
                    while let Ok(claim) = queue.claim_wait(R, std::time::Duration::from_millis(50))
                    {
                        let (value, bytes) = claim.payload();
                        assert_eq!(*value, claim.job().0 * 3, "another job's payload");
                        assert_eq!(bytes[55], claim.job().0 as u8);
                        assert_eq!(claim.cluster(), Some(ClusterId((claim.job().0 % 2) as u32)));
                        sum += *value;
                        queue.complete(claim, Outcome::Success).unwrap();
                        done += 1;
                    }
                    (done, sum)
                })
            })
            .collect();
        workers.into_iter().map(|w| w.join().unwrap()).collect()
    });
    let done: u64 = counts.iter().map(|c| c.0).sum();
    let sum: u64 = counts.iter().map(|c| c.1).sum();
    assert_eq!(done, JOBS);
    assert_eq!(sum, 3 * JOBS * (JOBS - 1) / 2);
    assert_eq!(queue.metrics().completed, JOBS);
}

#[test]
fn queues_and_claims_of_shareable_payloads_cross_threads() {
    fn shareable<X: Send + Sync>() {}
    shareable::<JobQueue<String>>();
    shareable::<dagqueue::Claim<Vec<u8>>>();
    shareable::<JobSpec<String>>();
    // And a claim is two words whatever its payload type.
    assert_eq!(std::mem::size_of::<dagqueue::Claim<[u8; 64]>>(), 16);
    assert_eq!(std::mem::size_of::<Option<dagqueue::Claim<[u8; 64]>>>(), 16);
}
