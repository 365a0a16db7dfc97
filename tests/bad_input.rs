//! One test per bad input, on every implementation: each asserts the exact
//! typed error and that the queue is unchanged (status without the wait
//! average, every job's view and dependency check, the previews).

mod common;

use common::*;
use dagqueue::{
    CancelOutcome, ClusterId, Completion, Error, InvalidPriority, JobId, JobSpec, JobState,
    Outcome, Priority, Resources, RunnerType, MAX_CAPACITY, MAX_DEPENDENCIES, MAX_RETRIES,
};
use harness::Claim;
use harness::Scheduler;
use std::fmt::Debug;

const R0: RunnerType = RunnerType(0);
const R1: RunnerType = RunnerType(1);
/// Capacity 2, both slots taken (J1 running, J2 scheduled).
const C1: ClusterId = ClusterId(1);
/// Capacity 3, paused.
const C2: ClusterId = ClusterId(2);
/// Never registered.
const C7: ClusterId = ClusterId(7);

const J1: JobId = JobId(1); // running (C1, High)
const J2: JobId = JobId(2); // scheduled (C1)
const J3: JobId = JobId(3); // completed
const J4: JobId = JobId(4); // failed
const J5: JobId = JobId(5); // cancelled
const J6: JobId = JobId(6); // pending (Low)
const J7: JobId = JobId(7); // waiting on J2
const J8: JobId = JobId(8); // pending after one failed attempt (2 retries)
const J9: JobId = JobId(9); // waiting on J6
const J10: JobId = JobId(10); // waiting on J9
const J11: JobId = JobId(11); // pending on paused C2
const J12: JobId = JobId(12); // pending, runner 1
const NEW: JobId = JobId(20); // never submitted
const UNKNOWN: JobId = JobId(99); // never submitted

/// A queue holding a job in every state, and the claims behind them.
struct Fixture {
    running: Claim,
    scheduled: Claim,
    completed: Claim,
    failed: Claim,
    /// J8's first attempt, which failed and was retried.
    retried: Claim,
}

/// Every id the snapshots look at, known or not.
fn all_ids() -> Vec<JobId> {
    let mut all = ids(1..=12);
    all.extend([NEW, UNKNOWN]);
    all
}

fn fixture(q: &dyn Scheduler) -> Fixture {
    q.set_cluster_capacity(C1, 2).unwrap();
    q.set_cluster_resources(
        C1,
        Resources {
            cores: 16,
            memory_gb: 64,
        },
    )
    .unwrap();
    q.set_cluster_capacity(C2, 3).unwrap();
    q.pause_cluster(C2).unwrap();

    let claim_only = |spec: JobSpec| {
        let id = spec.id();
        q.submit(spec).unwrap();
        let claim = q.claim(R0).unwrap();
        assert_eq!((claim.job(), claim.attempt()), (id, 1));
        claim
    };
    let running = claim_only(JobSpec::new(J1).cluster(C1).priority(Priority::High));
    q.start(&running).unwrap();
    let scheduled = claim_only(JobSpec::new(J2).cluster(C1));
    let completed = claim_only(JobSpec::new(J3));
    assert_eq!(
        q.complete(completed.clone(), Outcome::Success),
        Ok(Completion::Completed)
    );
    let failed = claim_only(JobSpec::new(J4));
    assert_eq!(
        q.complete(failed.clone(), Outcome::Failure),
        Ok(Completion::Failed)
    );
    let retried = claim_only(JobSpec::new(J8).max_retries(2));
    assert_eq!(
        q.complete(retried.clone(), Outcome::Failure),
        Ok(Completion::Retrying)
    );
    q.submit(JobSpec::new(J5)).unwrap();
    assert_eq!(q.cancel(J5), Ok(CancelOutcome::Cancelled));
    q.submit(JobSpec::new(J6).priority(Priority::Low)).unwrap();
    q.submit(JobSpec::new(J7).depends_on([J2])).unwrap();
    q.submit(JobSpec::new(J9).depends_on([J6])).unwrap();
    q.submit(JobSpec::new(J10).depends_on([J9])).unwrap();
    q.submit(JobSpec::new(J11).cluster(C2)).unwrap();
    q.submit(JobSpec::new(J12).runner(R1)).unwrap();

    let expected = [
        (J1, JobState::Running),
        (J2, JobState::Scheduled),
        (J3, JobState::Completed),
        (J4, JobState::Failed),
        (J5, JobState::Cancelled),
        (J6, JobState::Pending),
        (J7, JobState::Waiting),
        (J8, JobState::Pending),
        (J9, JobState::Waiting),
        (J10, JobState::Waiting),
        (J11, JobState::Pending),
        (J12, JobState::Pending),
    ];
    for (job, state) in expected {
        assert_eq!(q.state(job), Ok(state), "fixture: {job}");
    }
    assert_eq!(q.job(J8).unwrap().attempt, 1);
    let cluster = q.status().clusters[&C1];
    assert_eq!((cluster.running, cluster.capacity), (2, 2));
    assert!(q.status().clusters[&C2].paused);
    assert!(!q.status().clusters.contains_key(&C7));
    Fixture {
        running,
        scheduled,
        completed,
        failed,
        retried,
    }
}

/// Runs `op`, asserts it failed with exactly `expected`, and that nothing
/// observable changed.
fn assert_rejected<T: Debug>(
    q: &dyn Scheduler,
    op: impl FnOnce() -> Result<T, Error>,
    expected: Error,
) {
    let before = snapshot(q, &all_ids());
    match op() {
        Ok(value) => panic!("expected {expected:?}, got Ok({value:?})"),
        Err(error) => assert_eq!(error, expected),
    }
    assert_eq!(snapshot(q, &all_ids()), before, "after {expected:?}");
}

/// Runs `test` on a fresh fixture of every implementation.
fn with_fixture(test: impl Fn(&dyn Scheduler, &Fixture)) {
    with_fixture_in(config(), test);
}

fn with_fixture_in(config: dagqueue::QueueConfig, test: impl Fn(&dyn Scheduler, &Fixture)) {
    each_impl(config, |q| {
        let fixture = fixture(q);
        test(q, &fixture);
    });
}

fn claim(job: JobId, attempt: u32) -> Claim {
    forged(job, attempt)
}

#[test]
fn unknown_job_start_is_a_stale_claim() {
    // Only a queue makes claims: one naming a job the queue does not hold
    // is a pruned job's or another queue's.
    with_fixture(|q, _| {
        assert_rejected(
            q,
            || q.start(&claim(UNKNOWN, 1)),
            Error::StaleClaim {
                job: UNKNOWN,
                attempt: 1,
            },
        );
    });
}

#[test]
fn unknown_job_complete_is_a_stale_claim() {
    with_fixture(|q, _| {
        for outcome in [Outcome::Success, Outcome::Failure] {
            assert_rejected(
                q,
                || q.complete(claim(UNKNOWN, 1), outcome),
                Error::StaleClaim {
                    job: UNKNOWN,
                    attempt: 1,
                },
            );
        }
    });
}

#[test]
fn unknown_job_cancel() {
    with_fixture(|q, _| {
        assert_rejected(q, || q.cancel(UNKNOWN), Error::UnknownJob(UNKNOWN));
    });
}

#[test]
fn unknown_job_reprioritize() {
    with_fixture(|q, _| {
        assert_rejected(
            q,
            || q.reprioritize(UNKNOWN, Priority::Critical),
            Error::UnknownJob(UNKNOWN),
        );
    });
}

#[test]
fn unknown_job_state_view_and_dependency_check() {
    with_fixture(|q, _| {
        assert_rejected(q, || q.state(UNKNOWN), Error::UnknownJob(UNKNOWN));
        assert_rejected(q, || q.job(UNKNOWN), Error::UnknownJob(UNKNOWN));
        assert_rejected(
            q,
            || q.dependencies_satisfied(UNKNOWN),
            Error::UnknownJob(UNKNOWN),
        );
    });
}

#[test]
fn unknown_job_add_dependencies() {
    with_fixture(|q, _| {
        assert_rejected(
            q,
            || q.add_dependencies(UNKNOWN, &[J6]),
            Error::UnknownJob(UNKNOWN),
        );
    });
}

#[test]
fn duplicate_id() {
    with_fixture(|q, _| {
        // A pending, a running, a finished and a cancelled job: the
        // duplicate's different priority and new cluster change nothing.
        for job in [J6, J1, J3, J5, J7] {
            assert_rejected(
                q,
                || {
                    q.submit(
                        JobSpec::new(job)
                            .priority(Priority::Critical)
                            .cluster(C7)
                            .runner(R1),
                    )
                },
                Error::DuplicateJob(job),
            );
        }
    });
}

#[test]
fn self_dependency() {
    with_fixture(|q, _| {
        assert_rejected(
            q,
            || q.submit(JobSpec::new(NEW).depends_on([NEW]).cluster(C7)),
            Error::SelfDependency(NEW),
        );
        assert_rejected(
            q,
            || q.submit(JobSpec::new(NEW).depends_on([J6, NEW])),
            Error::SelfDependency(NEW),
        );
        assert_rejected(
            q,
            || q.add_dependencies(J6, &[J6]),
            Error::SelfDependency(J6),
        );
        assert_rejected(
            q,
            || q.add_dependencies(J9, &[J9]),
            Error::SelfDependency(J9),
        );
    });
}

#[test]
fn unknown_dependency() {
    with_fixture(|q, _| {
        assert_rejected(
            q,
            || q.submit(JobSpec::new(NEW).depends_on([J6, UNKNOWN]).cluster(C7)),
            Error::UnknownDependency {
                job: NEW,
                dependency: UNKNOWN,
            },
        );
        assert_rejected(
            q,
            || q.add_dependencies(J6, &[UNKNOWN]),
            Error::UnknownDependency {
                job: J6,
                dependency: UNKNOWN,
            },
        );
        // With a valid (unfinished) dependency alongside: J6 must not become
        // waiting on J12.
        assert_rejected(
            q,
            || q.add_dependencies(J6, &[J12, UNKNOWN]),
            Error::UnknownDependency {
                job: J6,
                dependency: UNKNOWN,
            },
        );
    });
}

#[test]
fn dependency_cycle() {
    with_fixture(|q, _| {
        // J9 depends on J6, J10 on J9.
        assert_rejected(
            q,
            || q.add_dependencies(J6, &[J9]),
            Error::DependencyCycle {
                job: J6,
                dependency: J9,
            },
        );
        assert_rejected(
            q,
            || q.add_dependencies(J6, &[J10]),
            Error::DependencyCycle {
                job: J6,
                dependency: J10,
            },
        );
        assert_rejected(
            q,
            || q.add_dependencies(J9, &[J10]),
            Error::DependencyCycle {
                job: J9,
                dependency: J10,
            },
        );
        // A valid dependency alongside is not added either.
        assert_rejected(
            q,
            || q.add_dependencies(J6, &[J12, J10]),
            Error::DependencyCycle {
                job: J6,
                dependency: J10,
            },
        );
    });
}

#[test]
fn stale_completion_wrong_attempt() {
    with_fixture(|q, f| {
        for attempt in [2, 3, u32::MAX] {
            for c in [f.running.clone(), f.scheduled.clone()] {
                // The right record, a wrong attempt (u32::MAX saturates to
                // the largest attempt a claim can name).
                let stale = Claim::from_parts(c.job(), c.incarnation(), attempt);
                let expected = Error::StaleClaim {
                    job: c.job(),
                    attempt: stale.attempt(),
                };
                assert_rejected(
                    q,
                    || q.complete(stale.clone(), Outcome::Success),
                    expected.clone(),
                );
                assert_rejected(q, || q.start(&stale), expected);
            }
        }
        // Jobs never claimed: pending, waiting.
        for job in [J6, J7] {
            assert_rejected(
                q,
                || q.complete(claim(job, 1), Outcome::Failure),
                Error::StaleClaim { job, attempt: 1 },
            );
            assert_rejected(
                q,
                || q.start(&claim(job, 1)),
                Error::StaleClaim { job, attempt: 1 },
            );
        }
    });
}

#[test]
fn repeated_completion() {
    with_fixture(|q, f| {
        for c in [f.completed.clone(), f.failed.clone()] {
            for outcome in [Outcome::Success, Outcome::Failure] {
                assert_rejected(
                    q,
                    || q.complete(c.clone(), outcome),
                    Error::StaleClaim {
                        job: c.job(),
                        attempt: 1,
                    },
                );
            }
            assert_rejected(
                q,
                || q.start(&c),
                Error::StaleClaim {
                    job: c.job(),
                    attempt: 1,
                },
            );
        }
        // And right after a successful completion of a fresh job.
        q.submit(JobSpec::new(NEW).priority(Priority::Critical))
            .unwrap();
        let c = q.claim(R0).unwrap();
        assert_eq!((c.job(), c.attempt()), (NEW, 1));
        assert_eq!(
            q.complete(c.clone(), Outcome::Success),
            Ok(Completion::Completed)
        );
        assert_rejected(
            q,
            || q.complete(c, Outcome::Success),
            Error::StaleClaim {
                job: NEW,
                attempt: 1,
            },
        );
        assert_eq!(q.metrics().completed, 2);
    });
}

#[test]
fn completion_after_retry_from_old_attempt() {
    with_fixture(|q, f| {
        let old = f.retried.clone();
        let stale = Error::StaleClaim {
            job: J8,
            attempt: 1,
        };
        // While the retry is pending...
        assert_rejected(
            q,
            || q.complete(old.clone(), Outcome::Success),
            stale.clone(),
        );
        assert_rejected(q, || q.start(&old), stale.clone());
        // ... and once the second attempt is claimed and running.
        let second = q.claim(R0).unwrap();
        assert_eq!((second.job(), second.attempt()), (J8, 2));
        assert_rejected(
            q,
            || q.complete(old.clone(), Outcome::Success),
            stale.clone(),
        );
        assert_rejected(
            q,
            || q.complete(old.clone(), Outcome::Failure),
            stale.clone(),
        );
        q.start(&second).unwrap();
        assert_rejected(
            q,
            || q.complete(old.clone(), Outcome::Success),
            stale.clone(),
        );
        assert_eq!(
            q.complete(second, Outcome::Success),
            Ok(Completion::Completed)
        );
        assert_rejected(q, || q.complete(old, Outcome::Success), stale);
    });
}

#[test]
fn start_twice() {
    with_fixture(|q, f| {
        assert_rejected(q, || q.start(&f.running), Error::AlreadyStarted(J1));
        q.start(&f.scheduled).unwrap();
        assert_rejected(q, || q.start(&f.scheduled), Error::AlreadyStarted(J2));
    });
}

#[test]
fn start_after_cancel_requested() {
    with_fixture(|q, f| {
        assert_eq!(q.cancel(J2), Ok(CancelOutcome::Requested));
        assert!(q.job(J2).unwrap().cancel_requested);
        assert_rejected(q, || q.start(&f.scheduled), Error::CancelRequested(J2));
        // A second cancel of a claimed job is not an error and changes nothing.
        let before = snapshot(q, &all_ids());
        assert_eq!(q.cancel(J2), Ok(CancelOutcome::Requested));
        assert_eq!(snapshot(q, &all_ids()), before);
    });
}

#[test]
fn invalid_priority() {
    with_fixture(|q, _| {
        let before = snapshot(q, &all_ids());
        assert_eq!(Priority::try_from(5u8), Err(InvalidPriority(5)));
        assert_eq!(Priority::try_from(255u8), Err(InvalidPriority(255)));
        assert_eq!(Priority::try_from(-1i64), Err(InvalidPriority(-1)));
        assert_eq!(Priority::try_from(5i64), Err(InvalidPriority(5)));
        assert_eq!(Priority::try_from(256i64), Err(InvalidPriority(256)));
        assert_eq!(Priority::try_from(i64::MIN), Err(InvalidPriority(i64::MIN)));
        assert_eq!(Priority::from_level(9), Err(InvalidPriority(9)));
        assert_eq!(Priority::try_from(4u8), Ok(Priority::Background));
        assert_eq!(Priority::try_from(0i64), Ok(Priority::Critical));
        assert_eq!(snapshot(q, &all_ids()), before);
    });
}

#[test]
fn zero_capacity() {
    with_fixture(|q, _| {
        assert_rejected(q, || q.set_cluster_capacity(C1, 0), Error::ZeroCapacity(C1));
        assert_rejected(q, || q.set_cluster_capacity(C7, 0), Error::ZeroCapacity(C7));
    });
}

#[test]
fn capacity_too_large() {
    with_fixture(|q, _| {
        for capacity in [MAX_CAPACITY + 1, u32::MAX] {
            for cluster in [C1, C7] {
                assert_rejected(
                    q,
                    || q.set_cluster_capacity(cluster, capacity),
                    Error::CapacityTooLarge { cluster, capacity },
                );
            }
        }
        // The limit itself is accepted.
        q.set_cluster_capacity(C7, MAX_CAPACITY).unwrap();
        assert_eq!(q.status().clusters[&C7].capacity, MAX_CAPACITY);
    });
}

#[test]
fn unknown_cluster_pause_resume_submit() {
    // Only a queue that takes declared clusters only knows an unknown cluster.
    let strict = config_with(|b| b.declared_clusters_only(true));
    with_fixture_in(strict, |q, _| {
        assert_rejected(q, || q.pause_cluster(C7), Error::UnknownCluster(C7));
        assert_rejected(q, || q.resume_cluster(C7), Error::UnknownCluster(C7));
        assert_rejected(
            q,
            || q.submit(JobSpec::new(NEW).cluster(C7)),
            Error::UnknownCluster(C7),
        );
        // Declared, it is accepted.
        q.set_cluster_capacity(C7, 1).unwrap();
        assert_eq!(q.submit(JobSpec::new(NEW).cluster(C7)), Ok(NEW));
    });
}

#[test]
fn invalid_default_capacity() {
    use dagqueue::{JobQueue, MAX_CAPACITY};
    for capacity in [0, MAX_CAPACITY + 1, u32::MAX] {
        let builder = JobQueue::builder().default_capacity(capacity);
        assert_eq!(
            builder.config(),
            Err(Error::InvalidDefaultCapacity(capacity))
        );
        assert!(matches!(
            builder.build(),
            Err(Error::InvalidDefaultCapacity(c)) if c == capacity
        ));
    }
    for capacity in [1, MAX_CAPACITY] {
        let config = JobQueue::builder().default_capacity(capacity).config();
        assert_eq!(config.map(|c| c.default_capacity()), Ok(capacity));
    }
}

/// More than `MAX_DEPENDENCIES` distinct dependencies, built with
/// `depends_on`: rejected with the typed error, nothing changed, and quickly
/// (duplicate detection is linear, not quadratic, in the list's length).
#[test]
#[cfg_attr(miri, ignore = "a million dependencies: too slow under Miri")]
fn too_many_dependencies() {
    let many: Vec<JobId> = (1_000_000..1_000_000 + MAX_DEPENDENCIES as u64 + 1)
        .map(JobId)
        .collect();
    let spec = JobSpec::new(NEW).depends_on(many.iter().copied().chain(many.iter().copied()));
    assert_eq!(
        spec.dependencies().len(),
        MAX_DEPENDENCIES + 1,
        "repeats removed"
    );
    with_fixture(|q, _| {
        assert_rejected(
            q,
            || q.submit(spec.clone()),
            Error::TooManyDependencies(NEW),
        );
    });
}

/// `add_dependencies` keeps the same limit, counting the dependencies the
/// job has and the new ones together: exactly `MAX_DEPENDENCIES` is
/// accepted, one more is refused with nothing changed. (Mutation testing:
/// the check turned into `>=`, `==` or a product went unseen.)
#[test]
#[ignore = "a million jobs, about 15-25 s in debug: `cargo test --test bad_input -- --ignored`"]
fn add_dependencies_keeps_the_dependency_limit() {
    let q = dagqueue::JobQueue::new();
    let first = 1_000_000u64;
    let all: Vec<JobId> = (first..first + MAX_DEPENDENCIES as u64 + 1)
        .map(JobId)
        .collect();
    q.submit_many(all.iter().map(|&id| JobSpec::new(id)))
        .unwrap();
    q.submit(JobSpec::new(JobId(1))).unwrap();
    q.submit(JobSpec::new(JobId(2)).depends_on([all[0]]))
        .unwrap();
    // One more than the limit, on a job with none: refused.
    assert_eq!(
        q.add_dependencies(JobId(1), &all),
        Err(Error::TooManyDependencies(JobId(1)))
    );
    assert_eq!(q.state(JobId(1)), Ok(JobState::Pending));
    // One already, the limit with the new ones: refused too.
    assert_eq!(
        q.add_dependencies(JobId(2), &all[1..]),
        Err(Error::TooManyDependencies(JobId(2)))
    );
    // Exactly the limit: accepted.
    assert_eq!(
        q.add_dependencies(JobId(1), &all[..MAX_DEPENDENCIES]),
        Ok(())
    );
    assert_eq!(q.state(JobId(1)), Ok(JobState::Waiting));
}

#[test]
fn too_many_retries() {
    with_fixture(|q, _| {
        assert_rejected(
            q,
            || q.submit(JobSpec::new(NEW).max_retries(MAX_RETRIES + 1).cluster(C7)),
            Error::TooManyRetries(MAX_RETRIES + 1),
        );
        assert_rejected(
            q,
            || q.submit(JobSpec::new(NEW).max_retries(u32::MAX)),
            Error::TooManyRetries(u32::MAX),
        );
        // The limit itself is accepted.
        assert_eq!(
            q.submit(JobSpec::new(NEW).max_retries(MAX_RETRIES)),
            Ok(NEW)
        );
    });
}

#[test]
fn cancel_finished_job() {
    with_fixture(|q, _| {
        for (job, state) in [
            (J3, JobState::Completed),
            (J4, JobState::Failed),
            (J5, JobState::Cancelled),
        ] {
            assert_rejected(q, || q.cancel(job), Error::AlreadyFinished { job, state });
        }
    });
}

#[test]
fn reprioritize_claimed_or_finished_job() {
    with_fixture(|q, _| {
        for (job, state) in [
            (J2, JobState::Scheduled),
            (J1, JobState::Running),
            (J3, JobState::Completed),
            (J4, JobState::Failed),
            (J5, JobState::Cancelled),
        ] {
            assert_rejected(
                q,
                || q.reprioritize(job, Priority::Critical),
                Error::NotQueued { job, state },
            );
        }
    });
}

#[test]
fn add_dependencies_to_claimed_or_finished_job() {
    with_fixture(|q, _| {
        for (job, state) in [
            (J2, JobState::Scheduled),
            (J1, JobState::Running),
            (J3, JobState::Completed),
        ] {
            assert_rejected(
                q,
                || q.add_dependencies(job, &[J6]),
                Error::NotQueued { job, state },
            );
        }
    });
}

#[test]
fn submit_after_close() {
    with_fixture(|q, _| {
        q.close();
        assert_rejected(q, || q.submit(JobSpec::new(NEW)), Error::Closed);
        // Even a spec that is bad on its own: the queue takes nothing.
        assert_rejected(
            q,
            || q.submit(JobSpec::new(NEW).depends_on([NEW])),
            Error::Closed,
        );
    });
}

#[test]
fn heartbeat_of_a_stale_or_foreign_claim() {
    with_fixture(|q, f| {
        for c in [f.completed.clone(), f.failed.clone(), f.retried.clone()] {
            assert_rejected(
                q,
                || q.heartbeat(&c),
                Error::StaleClaim {
                    job: c.job(),
                    attempt: c.attempt(),
                },
            );
        }
        assert_rejected(
            q,
            || q.heartbeat(&claim(J1, 1)), // forged: another record
            Error::StaleClaim {
                job: J1,
                attempt: 1,
            },
        );
    });
}

#[test]
fn zero_or_absurd_leases() {
    use dagqueue::{JobQueue, MAX_LEASE, MIN_LEASE};
    use std::time::Duration;
    for lease in [
        Duration::ZERO,
        MIN_LEASE / 2,
        MAX_LEASE + Duration::from_millis(1),
        Duration::MAX,
    ] {
        with_fixture(|q, _| {
            assert_rejected(
                q,
                || q.submit(JobSpec::new(NEW).lease(lease)),
                Error::InvalidLease(lease),
            );
        });
        assert!(matches!(
            JobQueue::builder().lease(lease).build(),
            Err(Error::InvalidLease(l)) if l == lease
        ));
    }
    for lease in [MIN_LEASE, MAX_LEASE] {
        assert!(JobQueue::builder().lease(lease).build().is_ok());
    }
}

#[test]
fn absurd_delays_and_backoffs() {
    use dagqueue::{RetryBackoff, MAX_DELAY};
    use std::time::{Duration, Instant};
    let too_long = MAX_DELAY + Duration::from_secs(1);
    with_fixture(|q, _| {
        assert_rejected(
            q,
            || q.submit(JobSpec::new(NEW).delay(too_long)),
            Error::InvalidDelay(too_long),
        );
        assert_rejected(
            q,
            || q.submit(JobSpec::new(NEW).delay(Duration::MAX)),
            Error::InvalidDelay(Duration::MAX),
        );
        let far = Instant::now() + MAX_DELAY * 2;
        assert!(matches!(
            q.submit(JobSpec::new(NEW).not_before(far)),
            Err(Error::InvalidDelay(_))
        ));
    });
    let second = Duration::from_secs(1);
    assert_eq!(
        RetryBackoff::new(second * 2, second),
        Err(Error::InvalidDelay(second * 2)),
        "base above cap"
    );
    assert_eq!(
        RetryBackoff::new(second, too_long),
        Err(Error::InvalidDelay(too_long))
    );
    assert!(RetryBackoff::new(Duration::ZERO, MAX_DELAY).is_ok());
}
