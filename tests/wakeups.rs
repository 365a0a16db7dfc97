//! Who is woken, on every implementation: a job that becomes claimable wakes
//! a waiter of its own runner type (JobQueue wakes one waiter per job, of
//! that runner type only; the baselines wake everyone), so no job is left
//! behind while a worker that could claim it sleeps.

mod common;

use common::{config, config_with, each_impl};
use dagqueue::{ClusterId, JobId, JobSpec, Outcome, RunnerType, WaitError};
use harness::Scheduler;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

const A: RunnerType = RunnerType(1);
const B: RunnerType = RunnerType(2);
/// Long enough that a test which passes never waits it out.
const PATIENCE: Duration = Duration::from_secs(20);

/// Runs `waiters` (each a runner type) asleep in `claim_wait`, then `act`,
/// and returns what each waiter got, in order.
fn with_sleepers(
    q: &dyn Scheduler,
    waiters: &[RunnerType],
    act: impl FnOnce(),
) -> Vec<Result<JobId, WaitError>> {
    let asleep = AtomicUsize::new(0);
    std::thread::scope(|s| {
        let handles: Vec<_> = waiters
            .iter()
            .map(|&runner| {
                let asleep = &asleep;
                s.spawn(move || {
                    asleep.fetch_add(1, Ordering::SeqCst);
                    let claim = q.claim_wait(runner, PATIENCE)?;
                    let job = claim.job();
                    q.complete(claim, Outcome::Success).unwrap();
                    Ok(job)
                })
            })
            .collect();
        while asleep.load(Ordering::SeqCst) < waiters.len() {
            std::thread::yield_now();
        }
        // Give them time to go to sleep (not needed for correctness: a
        // waiter that has not slept yet finds the job on its own).
        std::thread::sleep(Duration::from_millis(20));
        act();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    })
}

#[test]
fn a_job_wakes_a_waiter_of_its_runner_type_among_others() {
    each_impl(config(), |q| {
        let started = Instant::now();
        let got = with_sleepers(q, &[B, B, A, B], || {
            q.submit(JobSpec::new(JobId(1)).runner(A)).unwrap();
            // The B waiters are told to stop only after A's job was taken.
            while q.metrics().completed < 1 {
                std::thread::yield_now();
            }
            q.close();
        });
        assert_eq!(got[2], Ok(JobId(1)), "A's waiter got A's job");
        for (index, result) in got.iter().enumerate() {
            if index != 2 {
                assert_eq!(*result, Err(WaitError::Closed));
            }
        }
        assert!(
            started.elapsed() < PATIENCE,
            "someone waited out the timeout"
        );
    });
}

#[test]
fn each_of_several_jobs_is_claimed_by_a_sleeping_worker() {
    each_impl(config(), |q| {
        let started = Instant::now();
        let got = with_sleepers(q, &[A, A, A, A], || {
            for id in 0..4 {
                q.submit(JobSpec::new(JobId(id)).runner(A)).unwrap();
            }
        });
        assert!(started.elapsed() < PATIENCE / 2, "a waiter was not woken");
        let mut jobs: Vec<u64> = got.into_iter().map(|r| r.unwrap().0).collect();
        jobs.sort_unstable();
        assert_eq!(jobs, [0, 1, 2, 3]);
        assert_eq!(q.metrics().completed, 4);
    });
}

#[test]
fn a_freed_slot_wakes_a_waiter_of_another_runner_type_on_the_cluster() {
    // Cluster 1 (capacity 1) is used by A's and B's jobs. A's job holds the
    // slot; B's waiter sleeps with B's job pending but blocked; A's report
    // frees the slot, which must wake B's waiter.
    each_impl(config_with(|b| b.default_capacity(1)), |q| {
        q.submit(JobSpec::new(JobId(1)).runner(A).cluster(ClusterId(1)))
            .unwrap();
        let held = q.claim(A).unwrap();
        q.submit(JobSpec::new(JobId(2)).runner(B).cluster(ClusterId(1)))
            .unwrap();
        assert!(q.claim(B).is_none(), "the cluster is full");
        let started = Instant::now();
        let got = with_sleepers(q, &[B], || {
            q.complete(held, Outcome::Success).unwrap();
        });
        assert_eq!(got, [Ok(JobId(2))]);
        assert!(started.elapsed() < PATIENCE / 2, "B's waiter was not woken");
    });
}
