//! Every rule of the documented semantics, one test each, on every
//! implementation (the lock-free `JobQueue` and both mutex baselines): claim
//! order, groups and fair share, clusters (capacity, pause, resources and
//! set-aside), aging, start and completion rules, cascades, cancellation,
//! reprioritizing, pruning, validation order, `claim_wait` wake-ups.

mod common;

use common::forged;
use dagqueue::{
    CancelOutcome, ClusterId, Completion, DependencyKind, Error, JobEnd, JobId, JobQueue, JobSpec,
    JobState, Metrics, Outcome, Priority, QueueConfig, Resources, RetryBackoff, RunnerType, UserId,
    WaitError, MAX_CAPACITY, MAX_DEPENDENCIES, MAX_REASON_BYTES, MAX_RETRIES,
};
use harness::Claim;
use harness::Scheduler;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

const R: RunnerType = RunnerType::DEFAULT;
const C1: ClusterId = ClusterId(1);
const C2: ClusterId = ClusterId(2);
const C3: ClusterId = ClusterId(3);

fn queues(config: QueueConfig) -> Vec<Arc<dyn Scheduler>> {
    common::impls(config).into_iter().map(|(_, q)| q).collect()
}

/// Runs `test` on every implementation with the default configuration.
fn each(test: impl Fn(&dyn Scheduler)) {
    each_with(QueueConfig::default(), test);
}

/// Runs `test` on every implementation built from `config`.
fn each_with(config: QueueConfig, test: impl Fn(&dyn Scheduler)) {
    common::each_impl(config, test);
}

fn job(id: u64) -> JobSpec {
    JobSpec::new(JobId(id))
}

fn ids(list: &[u64]) -> Vec<JobId> {
    list.iter().map(|&id| JobId(id)).collect()
}

/// Claims until nothing is left; returns the ids in claim order.
/// `schedulable()` holds exactly `expected`. Its order is compared by the
/// claims that follow: within a level it is by time entered, which
/// `JobQueue` reads from a coarse clock (ties broken by id), so only the
/// claim order is exact on every implementation.
fn assert_preview(queue: &dyn Scheduler, expected: Vec<JobId>) {
    let mut preview = queue.schedulable(R);
    let mut expected = expected;
    preview.sort();
    expected.sort();
    assert_eq!(preview, expected, "schedulable()");
}

fn drain(queue: &dyn Scheduler, runner: RunnerType) -> Vec<u64> {
    let mut out = Vec::new();
    while let Some(claim) = queue.claim(runner) {
        out.push(claim.job().0);
    }
    out
}

fn claim_done(queue: &dyn Scheduler, expect: u64) -> Claim {
    let claim = queue.claim(R).expect("a claim");
    assert_eq!(claim.job(), JobId(expect));
    claim
}

fn state(queue: &dyn Scheduler, id: u64) -> JobState {
    queue.state(JobId(id)).unwrap()
}

// ------------------------------------------------------------ claim order

#[test]
fn fifo_within_level_and_levels_best_first() {
    each(|q| {
        q.submit(job(1).priority(Priority::Low)).unwrap();
        q.submit(job(2)).unwrap();
        q.submit(job(3).priority(Priority::Critical)).unwrap();
        q.submit(job(4)).unwrap();
        q.submit(job(5).priority(Priority::Background)).unwrap();
        q.submit(job(6).priority(Priority::High)).unwrap();
        assert_preview(q, ids(&[3, 6, 2, 4, 1, 5]));
        assert_eq!(drain(q, R), vec![3, 6, 2, 4, 1, 5]);
        assert_eq!(q.claim(R), None);
        assert_eq!(state(q, 1), JobState::Scheduled);
    });
}

#[test]
fn runners_are_separate() {
    each(|q| {
        q.submit(job(1).runner(RunnerType(1))).unwrap();
        q.submit(job(2)).unwrap();
        assert_eq!(q.claim(RunnerType(7)), None);
        assert_eq!(q.schedulable(RunnerType(1)), ids(&[1]));
        assert_eq!(drain(q, RunnerType(1)), vec![1]);
        assert_eq!(drain(q, R), vec![2]);
    });
}

#[test]
fn groups_round_robin_within_level() {
    each(|q| {
        // Groups in order of first use: None, C1, C2.
        q.submit(job(1)).unwrap();
        q.submit(job(2)).unwrap();
        q.submit(job(11).cluster(C1)).unwrap();
        q.submit(job(12).cluster(C1)).unwrap();
        q.submit(job(21).cluster(C2)).unwrap();
        assert_eq!(drain(q, R), vec![1, 11, 21, 2, 12]);
    });
}

#[test]
fn better_level_wins_over_round_robin() {
    each(|q| {
        q.submit(job(1)).unwrap();
        q.submit(job(11).cluster(C1).priority(Priority::High))
            .unwrap();
        q.submit(job(2).priority(Priority::High)).unwrap();
        // Level 1: groups None (2) and C1 (11); cursor 0 starts at None.
        assert_eq!(drain(q, R), vec![2, 11, 1]);
    });
}

/// A claim while there is only one lane group still moves the round-robin
/// cursor past it: a group added next is served first. (Found by the
/// differential test when `JobQueue`'s one-group fast path forgot the
/// cursor.)
#[test]
fn a_claim_from_the_only_group_moves_the_cursor_past_it() {
    each(|q| {
        q.submit(job(1)).unwrap(); // group 0, alone
        let first = q.claim(R).unwrap();
        assert_eq!(first.job(), JobId(1)); // cursor 1
        q.complete(first, Outcome::Success).unwrap();
        q.submit(job(2)).unwrap(); // group 0
        q.submit(job(11).cluster(C1)).unwrap(); // group 1 (new)
        assert_eq!(drain(q, R), vec![11, 2]);
    });
}

#[test]
fn cursor_is_kept_unreduced_as_groups_grow() {
    each(|q| {
        q.submit(job(1)).unwrap(); // group 0
        q.submit(job(11).cluster(C1)).unwrap(); // group 1
        assert_eq!(q.claim(R).unwrap().job(), JobId(1)); // cursor 1
        assert_eq!(q.claim(R).unwrap().job(), JobId(11)); // cursor 2
        q.submit(job(2)).unwrap(); // group 0
        q.submit(job(12).cluster(C1)).unwrap(); // group 1
        q.submit(job(21).cluster(C2)).unwrap(); // group 2 (new)
                                                // n = 3, start = 2 % 3 = 2: C2 first (a reduced cursor would start at 0).
        assert_eq!(drain(q, R), vec![21, 2, 12]);
    });
}

#[test]
fn fair_share_round_robins_users() {
    let config = JobQueue::builder().fair_share(true).config().unwrap();
    each_with(config, |q| {
        q.submit(job(1).user(UserId(1))).unwrap();
        q.submit(job(2).user(UserId(1))).unwrap();
        q.submit(job(3).user(UserId(1))).unwrap();
        q.submit(job(4).user(UserId(2))).unwrap();
        q.submit(job(5).user(UserId(2))).unwrap();
        assert_eq!(drain(q, R), vec![1, 4, 2, 5, 3]);
    });
    // Without fair share users share one group: plain FIFO.
    each(|q| {
        q.submit(job(1).user(UserId(1))).unwrap();
        q.submit(job(2).user(UserId(1))).unwrap();
        q.submit(job(4).user(UserId(2))).unwrap();
        assert_eq!(drain(q, R), vec![1, 2, 4]);
    });
}

// --------------------------------------------------------------- clusters

#[test]
fn cluster_capacity_limits_claims_and_frees_on_complete() {
    each(|q| {
        q.set_cluster_capacity(C1, 2).unwrap();
        for id in 1..=3 {
            q.submit(job(id).cluster(C1)).unwrap();
        }
        let a = q.claim(R).unwrap();
        let b = q.claim(R).unwrap();
        assert_eq!((a.job(), b.job()), (JobId(1), JobId(2)));
        assert_eq!(q.claim(R), None);
        assert_preview(q, vec![]);
        let status = q.status().clusters[&C1];
        assert_eq!((status.running, status.capacity, status.queued), (2, 2, 1));
        assert!(!status.can_accept);
        q.complete(a, Outcome::Success).unwrap();
        assert_eq!(q.status().clusters[&C1].running, 1);
        assert_preview(q, ids(&[3]));
        assert_eq!(q.claim(R).unwrap().job(), JobId(3));
    });
}

#[test]
fn full_cluster_is_skipped_not_blocking() {
    each(|q| {
        q.set_cluster_capacity(C1, 1).unwrap();
        q.submit(job(11).cluster(C1).priority(Priority::Critical))
            .unwrap();
        q.submit(job(12).cluster(C1).priority(Priority::Critical))
            .unwrap();
        q.submit(job(1)).unwrap();
        assert_eq!(drain(q, R), vec![11, 1]);
        assert_eq!(state(q, 12), JobState::Pending);
    });
}

#[test]
fn lowering_capacity_below_running_stops_claims() {
    each(|q| {
        for id in 1..=4 {
            q.submit(job(id).cluster(C1)).unwrap();
        }
        assert_eq!(q.status().clusters[&C1].capacity, 8);
        let first = q.claim(R).unwrap();
        let _second = q.claim(R).unwrap();
        q.set_cluster_capacity(C1, 1).unwrap();
        assert_eq!(q.claim(R), None);
        q.complete(first, Outcome::Success).unwrap();
        assert_eq!(q.claim(R), None); // still 1 running, capacity 1
        q.set_cluster_capacity(C1, 3).unwrap();
        assert_eq!(drain(q, R), vec![3, 4]);
    });
}

#[test]
fn pause_and_resume() {
    each(|q| {
        q.submit(job(11).cluster(C1)).unwrap();
        q.submit(job(12).cluster(C1)).unwrap();
        q.submit(job(1)).unwrap();
        let running = q.claim(R).unwrap();
        assert_eq!(running.job(), JobId(11));
        q.pause_cluster(C1).unwrap();
        q.pause_cluster(C1).unwrap();
        let status = q.status().clusters[&C1];
        assert!(status.paused && !status.can_accept);
        assert_preview(q, ids(&[1]));
        assert_eq!(drain(q, R), vec![1]);
        // Running jobs go on.
        q.start(&running).unwrap();
        q.complete(running, Outcome::Success).unwrap();
        q.resume_cluster(C1).unwrap();
        q.resume_cluster(C1).unwrap();
        assert!(q.status().clusters[&C1].can_accept);
        assert_eq!(drain(q, R), vec![12]);
    });
}

#[test]
fn capacity_errors_change_nothing() {
    each(|q| {
        assert_eq!(q.set_cluster_capacity(C1, 0), Err(Error::ZeroCapacity(C1)));
        assert_eq!(
            q.set_cluster_capacity(C1, MAX_CAPACITY + 1),
            Err(Error::CapacityTooLarge {
                cluster: C1,
                capacity: MAX_CAPACITY + 1
            })
        );
        assert!(q.status().clusters.is_empty());
        q.set_cluster_capacity(C1, MAX_CAPACITY).unwrap();
        assert_eq!(q.status().clusters[&C1].capacity, MAX_CAPACITY);
    });
}

#[test]
fn clusters_registered_by_jobs_use_default_capacity() {
    let config = JobQueue::builder().default_capacity(3).config().unwrap();
    each_with(config, |q| {
        q.submit(job(1).cluster(C1)).unwrap();
        q.set_cluster_resources(
            C2,
            Resources {
                cores: 4,
                memory_gb: 8,
            },
        )
        .unwrap();
        let status = q.status();
        assert_eq!(status.clusters.len(), 2);
        assert_eq!(status.clusters[&C1].capacity, 3);
        assert_eq!(status.clusters[&C2].capacity, 3);
        assert_eq!(status.clusters[&C1].resources, None);
        assert_eq!(
            status.clusters[&C2].resources,
            Some(Resources {
                cores: 4,
                memory_gb: 8
            })
        );
        q.pause_cluster(C2).unwrap();
    });
}

#[test]
fn jobs_that_do_not_fit_are_set_aside_then_put_back_in_order() {
    each(|q| {
        let small = Resources {
            cores: 2,
            memory_gb: 4,
        };
        let big = Resources {
            cores: 16,
            memory_gb: 64,
        };
        q.set_cluster_resources(C1, small).unwrap();
        q.submit(job(1).cluster(C1).resources(big)).unwrap();
        q.submit(job(2).cluster(C1).resources(small)).unwrap();
        q.submit(job(3).cluster(C1).resources(big)).unwrap();
        q.submit(job(4).cluster(C1).resources(small)).unwrap();
        // Jobs that do not fit are not schedulable.
        assert_preview(q, ids(&[2, 4]));
        // 1 is set aside, 2 claimed.
        assert_eq!(q.claim(R).unwrap().job(), JobId(2));
        // 3 set aside, 4 claimed.
        assert_eq!(q.claim(R).unwrap().job(), JobId(4));
        assert_eq!(q.claim(R), None);
        assert_eq!(state(q, 1), JobState::Pending);
        assert_eq!(state(q, 3), JobState::Pending);
        assert_preview(q, vec![]);
        // A new job goes behind nothing: set-aside jobs are out of the lane.
        q.submit(job(5).cluster(C1)).unwrap();
        q.set_cluster_resources(C1, big).unwrap();
        assert_preview(q, ids(&[5, 1, 3]));
        assert_eq!(drain(q, R), vec![5, 1, 3]);
    });
}

#[test]
fn set_aside_job_can_be_cancelled_or_reprioritized() {
    each(|q| {
        let small = Resources {
            cores: 1,
            memory_gb: 1,
        };
        let big = Resources {
            cores: 8,
            memory_gb: 8,
        };
        q.set_cluster_resources(C1, small).unwrap();
        q.submit(job(1).cluster(C1).resources(big)).unwrap();
        q.submit(job(2).cluster(C1).resources(big)).unwrap();
        q.submit(job(3).cluster(C1).resources(big)).unwrap();
        assert_eq!(q.claim(R), None); // all three set aside
        assert_eq!(q.cancel(JobId(1)), Ok(CancelOutcome::Cancelled));
        // Reprioritize to another level puts it back into a lane...
        q.reprioritize(JobId(2), Priority::High).unwrap();
        // ...where the next claim sets it aside again, behind 3.
        assert_eq!(q.claim(R), None);
        q.set_cluster_resources(C1, big).unwrap();
        // Both back at level Normal/High: 2 (High) first.
        assert_eq!(drain(q, R), vec![2, 3]);
        assert_eq!(state(q, 1), JobState::Cancelled);
    });
}

#[test]
fn jobs_without_cluster_ignore_resources() {
    each(|q| {
        q.submit(job(1).resources(Resources {
            cores: 1000,
            memory_gb: 1000,
        }))
        .unwrap();
        assert_eq!(drain(q, R), vec![1]);
    });
}

// ------------------------------------------------------------------ aging

#[test]
fn aging_promotes_one_level_once() {
    let config = JobQueue::builder()
        .aging(Duration::from_millis(30))
        .config()
        .unwrap();
    each_with(config, |q| {
        q.submit(job(1).priority(Priority::Low)).unwrap();
        q.submit(job(2).priority(Priority::Critical)).unwrap();
        thread::sleep(Duration::from_millis(60));
        q.submit(job(3)).unwrap();
        q.submit(job(4).priority(Priority::Critical)).unwrap();
        // The claim first promotes 1 (Low → Normal), 2 is at level 0 already.
        assert_eq!(q.claim(R).unwrap().job(), JobId(2));
        // Declared priority unchanged.
        assert_eq!(q.job(JobId(1)).unwrap().priority, Priority::Low);
        // 1 is now served at Normal, behind 3, which entered that lane first.
        assert_preview(q, ids(&[4, 3, 1]));
        thread::sleep(Duration::from_millis(60));
        // 3 (Normal, not promoted) → High; 1 already promoted: stays Normal.
        assert_eq!(drain(q, R), vec![4, 3, 1]);
    });
}

/// A sweep promotes only the entries that are due: a job submitted an hour
/// before its aging is due stays at its level, behind a job of the next
/// level submitted after the sweep. (Mutation testing: a sweep that
/// promoted every entry not due at this very microsecond went unseen.)
#[test]
fn aging_promotes_nothing_before_it_is_due() {
    let config = JobQueue::builder()
        .aging(Duration::from_secs(3600))
        .config()
        .unwrap();
    each_with(config, |q| {
        q.submit(job(1).priority(Priority::Low)).unwrap();
        q.submit(job(2).priority(Priority::Critical)).unwrap();
        // This claim runs the first sweep: job 1 is not due for an hour.
        assert_eq!(q.claim(R).unwrap().job(), JobId(2));
        q.submit(job(3)).unwrap();
        assert_eq!(drain(q, R), vec![3, 1]);
    });
}

#[test]
fn aging_resets_when_pending_again() {
    let config = JobQueue::builder()
        .aging(Duration::from_millis(20))
        .config()
        .unwrap();
    each_with(config, |q| {
        q.submit(job(1).priority(Priority::Low).max_retries(1))
            .unwrap();
        thread::sleep(Duration::from_millis(40));
        q.submit(job(2)).unwrap();
        // The claim promotes 1 to Normal, behind 2 (which entered that lane
        // before the claim ran).
        let claim = q.claim(R).unwrap();
        assert_eq!(claim.job(), JobId(2));
        let claim1 = q.claim(R).unwrap();
        assert_eq!(claim1.job(), JobId(1));
        // Retry: back at its declared level, promotable again.
        assert_eq!(
            q.complete(claim1, Outcome::Failure),
            Ok(Completion::Retrying)
        );
        q.submit(job(3).priority(Priority::Normal)).unwrap();
        assert_preview(q, ids(&[3, 1]));
        thread::sleep(Duration::from_millis(40));
        q.submit(job(4).priority(Priority::Normal)).unwrap();
        // This claim promotes 1 (Low → Normal) and 3 (Normal → High).
        assert_eq!(q.claim(R).unwrap().job(), JobId(3));
        assert_preview(q, ids(&[4, 1]));
    });
}

#[test]
fn reprioritize_resets_aging_promotion() {
    let config = JobQueue::builder()
        .aging(Duration::from_millis(20))
        .config()
        .unwrap();
    each_with(config, |q| {
        q.submit(job(1).priority(Priority::Background)).unwrap();
        q.submit(job(9).runner(RunnerType(9))).unwrap();
        thread::sleep(Duration::from_millis(40));
        // A claim on another runner ages every lane: 1 → Low.
        assert_eq!(q.claim(RunnerType(9)).unwrap().job(), JobId(9));
        q.submit(job(2).priority(Priority::Low)).unwrap();
        assert_preview(q, ids(&[1, 2]));
        // Same level as served (Low): nothing changes, 1 stays promoted.
        q.reprioritize(JobId(1), Priority::Low).unwrap();
        assert_preview(q, ids(&[1, 2]));
        thread::sleep(Duration::from_millis(40));
        // 2 → Normal; 1 was promoted already and stays Low.
        assert_eq!(q.claim(R).unwrap().job(), JobId(2));
        // A real move resets the promotion: it can age again.
        q.reprioritize(JobId(1), Priority::Normal).unwrap();
        thread::sleep(Duration::from_millis(40));
        q.submit(job(3).priority(Priority::High)).unwrap();
        // The claim promotes 1 to High, behind 3, which entered first.
        assert_eq!(drain(q, R), vec![3, 1]);
        assert_eq!(q.job(JobId(1)).unwrap().priority, Priority::Normal);
    });
}

/// An aging entry left behind by a reprioritize (its version is stale)
/// promotes nothing, not even a job now at the top level (which has no
/// level above it to go to).
#[test]
fn a_stale_aging_entry_promotes_nothing() {
    let config = JobQueue::builder().aging(Duration::ZERO).config().unwrap();
    each_with(config, |q| {
        q.submit(job(1).priority(Priority::High)).unwrap();
        q.submit(job(2).priority(Priority::Low)).unwrap();
        q.reprioritize(JobId(1), Priority::Critical).unwrap();
        // The claim sweeps every aging entry: 1's (stale, High) and 2's.
        assert_eq!(drain(q, R), vec![1, 2]);
        assert_eq!(q.job(JobId(1)).unwrap().priority, Priority::Critical);
    });
}

#[test]
fn no_aging_without_config() {
    each(|q| {
        q.submit(job(1).priority(Priority::Low)).unwrap();
        thread::sleep(Duration::from_millis(20));
        q.submit(job(2)).unwrap();
        assert_eq!(drain(q, R), vec![2, 1]);
    });
}

// --------------------------------------------------- attempts and claims

#[test]
fn start_rules() {
    each(|q| {
        q.submit(job(1).max_retries(1)).unwrap();
        let unknown = forged(JobId(9), 1);
        // A claim of a job the queue does not hold is stale (pruned, or
        // another queue's), never UnknownJob.
        assert_eq!(
            q.start(&unknown),
            Err(Error::StaleClaim {
                job: JobId(9),
                attempt: 1
            })
        );
        let early = forged(JobId(1), 1);
        assert_eq!(
            q.start(&early),
            Err(Error::StaleClaim {
                job: JobId(1),
                attempt: 1
            })
        );
        let claim = q.claim(R).unwrap();
        assert_eq!(claim.attempt(), 1);
        let wrong = forged(JobId(1), 2);
        assert_eq!(
            q.start(&wrong),
            Err(Error::StaleClaim {
                job: JobId(1),
                attempt: 2
            })
        );
        assert_eq!(state(q, 1), JobState::Scheduled);
        q.start(&claim).unwrap();
        assert_eq!(state(q, 1), JobState::Running);
        assert_eq!(q.start(&claim), Err(Error::AlreadyStarted(JobId(1))));
        q.complete(claim.clone(), Outcome::Failure).unwrap();
        assert_eq!(
            q.start(&claim),
            Err(Error::StaleClaim {
                job: JobId(1),
                attempt: 1
            })
        );
        let second = q.claim(R).unwrap();
        assert_eq!(second.attempt(), 2);
        assert_eq!(
            q.start(&claim),
            Err(Error::StaleClaim {
                job: JobId(1),
                attempt: 1
            })
        );
        assert_eq!(q.cancel(JobId(1)), Ok(CancelOutcome::Requested));
        assert_eq!(q.start(&second), Err(Error::CancelRequested(JobId(1))));
        assert_eq!(state(q, 1), JobState::Scheduled);
    });
}

#[test]
fn cancel_requested_wins_over_already_started() {
    each(|q| {
        q.submit(job(1)).unwrap();
        let claim = q.claim(R).unwrap();
        q.start(&claim).unwrap();
        q.cancel(JobId(1)).unwrap();
        assert_eq!(q.start(&claim), Err(Error::CancelRequested(JobId(1))));
        assert_eq!(state(q, 1), JobState::Running);
    });
}

#[test]
fn complete_success_and_stale_reports() {
    each(|q| {
        q.submit(job(1)).unwrap();
        let claim = q.claim(R).unwrap();
        // Completing a scheduled (not started) attempt is allowed.
        assert_eq!(
            q.complete(claim.clone(), Outcome::Success),
            Ok(Completion::Completed)
        );
        assert_eq!(state(q, 1), JobState::Completed);
        for outcome in [Outcome::Success, Outcome::Failure] {
            assert_eq!(
                q.complete(claim.clone(), outcome),
                Err(Error::StaleClaim {
                    job: JobId(1),
                    attempt: 1
                })
            );
        }
        assert_eq!(
            q.complete(forged(JobId(5), 1), Outcome::Success),
            Err(Error::StaleClaim {
                job: JobId(5),
                attempt: 1
            })
        );
        let metrics = q.metrics();
        assert_eq!((metrics.scheduled, metrics.completed), (1, 1));
        assert_eq!(metrics.completed_in_window, 1);
    });
}

#[test]
fn retries_then_fails() {
    each(|q| {
        q.submit(job(1).max_retries(2)).unwrap();
        q.submit(job(2)).unwrap();
        let c1 = claim_done(q, 1);
        assert_eq!(
            q.complete(c1.clone(), Outcome::Failure),
            Ok(Completion::Retrying)
        );
        assert_eq!(state(q, 1), JobState::Pending);
        // Back of its lane: behind 2.
        assert_preview(q, ids(&[2, 1]));
        let _c2 = claim_done(q, 2);
        let c1b = claim_done(q, 1);
        assert_eq!(c1b.attempt(), 2);
        // A late report of attempt 1 is stale.
        assert_eq!(
            q.complete(c1, Outcome::Success),
            Err(Error::StaleClaim {
                job: JobId(1),
                attempt: 1
            })
        );
        assert_eq!(q.complete(c1b, Outcome::Failure), Ok(Completion::Retrying));
        let c1c = claim_done(q, 1);
        assert_eq!(c1c.attempt(), 3);
        assert_eq!(q.complete(c1c, Outcome::Failure), Ok(Completion::Failed));
        assert_eq!(state(q, 1), JobState::Failed);
        let view = q.job(JobId(1)).unwrap();
        assert_eq!(view.attempt, 3);
        let metrics = q.metrics();
        assert_eq!(
            (metrics.scheduled, metrics.retried, metrics.failed),
            (4, 2, 1)
        );
        assert_eq!(metrics.failure_rate(), 1.0);
    });
}

#[test]
fn cancel_requested_ends_cancelled_whatever_the_outcome() {
    each(|q| {
        for id in 1..=3 {
            q.submit(job(id).max_retries(5)).unwrap();
        }
        q.submit(job(10).depends_on([JobId(1)])).unwrap();
        q.submit(job(11).depends_on([JobId(10)])).unwrap();
        let claims: Vec<Claim> = (0..3).map(|_| q.claim(R).unwrap()).collect();
        for claim in &claims {
            assert_eq!(q.cancel(claim.job()), Ok(CancelOutcome::Requested));
            assert_eq!(q.cancel(claim.job()), Ok(CancelOutcome::Requested));
            assert!(q.job(claim.job()).unwrap().cancel_requested);
        }
        assert_eq!(q.start(&claims[2]), Err(Error::CancelRequested(JobId(3))));
        assert_eq!(
            q.complete(claims[0].clone(), Outcome::Success),
            Ok(Completion::Cancelled)
        );
        assert_eq!(
            q.complete(claims[1].clone(), Outcome::Failure),
            Ok(Completion::Cancelled)
        );
        assert_eq!(
            q.complete(claims[2].clone(), Outcome::Failure),
            Ok(Completion::Cancelled)
        );
        for id in [1, 2, 3, 10, 11] {
            assert_eq!(state(q, id), JobState::Cancelled);
        }
        let metrics = q.metrics();
        assert_eq!(
            (metrics.cancelled, metrics.retried, metrics.completed),
            (5, 0, 0)
        );
        assert_eq!(q.status().clusters.len(), 0);
    });
}

#[test]
fn complete_frees_slot_on_every_outcome() {
    each(|q| {
        q.set_cluster_capacity(C1, 1).unwrap();
        q.submit(job(1).cluster(C1).max_retries(1)).unwrap();
        q.submit(job(2).cluster(C1)).unwrap();
        let c = q.claim(R).unwrap();
        assert_eq!(q.complete(c, Outcome::Failure), Ok(Completion::Retrying));
        assert_eq!(q.status().clusters[&C1].running, 0);
        let c = q.claim(R).unwrap();
        assert_eq!(c.job(), JobId(2));
        q.cancel(JobId(2)).unwrap();
        assert_eq!(q.complete(c, Outcome::Success), Ok(Completion::Cancelled));
        assert_eq!(q.status().clusters[&C1].running, 0);
        let c = q.claim(R).unwrap();
        assert_eq!(q.complete(c, Outcome::Failure), Ok(Completion::Failed));
        assert_eq!(q.status().clusters[&C1].running, 0);
    });
}

// ----------------------------------------------------------- dependencies

#[test]
fn dependents_released_in_registration_order() {
    each(|q| {
        q.submit(job(1)).unwrap();
        q.submit(job(2)).unwrap();
        q.submit(job(12).depends_on(ids(&[1, 2]))).unwrap();
        q.submit(job(11).depends_on(ids(&[1]))).unwrap();
        q.submit(job(13).depends_on(ids(&[2, 1]))).unwrap();
        assert_eq!(state(q, 12), JobState::Waiting);
        assert!(!q.dependencies_satisfied(JobId(12)).unwrap());
        let c1 = claim_done(q, 1);
        let c2 = claim_done(q, 2);
        q.complete(c2, Outcome::Success).unwrap();
        assert_eq!(state(q, 12), JobState::Waiting);
        q.complete(c1, Outcome::Success).unwrap();
        assert!(q.dependencies_satisfied(JobId(12)).unwrap());
        // Released in the order they registered on job 1: 12, 11, 13.
        assert_preview(q, ids(&[12, 11, 13]));
        assert_eq!(drain(q, R), vec![12, 11, 13]);
    });
}

#[test]
fn failure_cascades_breadth_first() {
    each(|q| {
        q.submit(job(1)).unwrap();
        q.submit(job(2)).unwrap();
        q.submit(job(3).depends_on(ids(&[1]))).unwrap();
        q.submit(job(4).depends_on(ids(&[3]))).unwrap();
        q.submit(job(5).depends_on(ids(&[1, 2]))).unwrap();
        q.submit(job(6).depends_on(ids(&[2]))).unwrap();
        q.cancel(JobId(4)).unwrap(); // already terminal: skipped by the cascade
        let c1 = claim_done(q, 1);
        assert_eq!(q.complete(c1, Outcome::Failure), Ok(Completion::Failed));
        for (id, expected) in [
            (1, JobState::Failed),
            (2, JobState::Pending),
            (3, JobState::Failed),
            (4, JobState::Cancelled),
            (5, JobState::Failed),
            (6, JobState::Waiting),
        ] {
            assert_eq!(state(q, id), expected, "job {id}");
        }
        let metrics = q.metrics();
        assert_eq!((metrics.failed, metrics.cancelled), (3, 1));
        // 5 failed: completing 2 releases only 6.
        let c2 = claim_done(q, 2);
        q.complete(c2, Outcome::Success).unwrap();
        assert_eq!(drain(q, R), vec![6]);
    });
}

#[test]
fn cancel_cascades() {
    each(|q| {
        q.submit(job(1)).unwrap();
        q.submit(job(2).depends_on(ids(&[1]))).unwrap();
        q.submit(job(3).depends_on(ids(&[2]))).unwrap();
        q.submit(job(4)).unwrap();
        assert_eq!(q.cancel(JobId(1)), Ok(CancelOutcome::Cancelled));
        assert_eq!(q.cancel(JobId(4)), Ok(CancelOutcome::Cancelled));
        for id in 1..=4 {
            assert_eq!(state(q, id), JobState::Cancelled);
        }
        assert_eq!(
            q.cancel(JobId(2)),
            Err(Error::AlreadyFinished {
                job: JobId(2),
                state: JobState::Cancelled
            })
        );
        assert_eq!(q.cancel(JobId(9)), Err(Error::UnknownJob(JobId(9))));
        assert_eq!(q.metrics().cancelled, 4);
        assert_eq!(q.claim(R), None);
        assert!(!q.job(JobId(1)).unwrap().cancel_requested);
    });
}

#[test]
fn cancel_finished_job_is_an_error() {
    each(|q| {
        q.submit(job(1)).unwrap();
        let c = q.claim(R).unwrap();
        q.complete(c, Outcome::Success).unwrap();
        assert_eq!(
            q.cancel(JobId(1)),
            Err(Error::AlreadyFinished {
                job: JobId(1),
                state: JobState::Completed
            })
        );
    });
}

// ----------------------------------------------------------------- submit

#[test]
fn submit_validation_order() {
    each(|q| {
        q.submit(job(1)).unwrap();
        // The spec's own checks first (`JobSpec::validate`: retries, self
        // dependency, count), then the queue's (duplicate, cluster,
        // dependencies). TooManyRetries first, even for a duplicate with a
        // self dependency.
        assert_eq!(
            q.submit(
                job(1)
                    .depends_on(ids(&[1, 99]))
                    .max_retries(MAX_RETRIES + 1)
            ),
            Err(Error::TooManyRetries(MAX_RETRIES + 1))
        );
        assert_eq!(
            q.submit(job(1).depends_on(ids(&[1, 99]))),
            Err(Error::SelfDependency(JobId(1)))
        );
        assert_eq!(
            q.submit(job(1).depends_on(ids(&[99]))),
            Err(Error::DuplicateJob(JobId(1)))
        );
        assert_eq!(
            q.submit(job(2).depends_on(ids(&[99, 2]))),
            Err(Error::SelfDependency(JobId(2)))
        );
        assert_eq!(
            q.submit(job(2).depends_on(ids(&[1, 98, 99]))),
            Err(Error::UnknownDependency {
                job: JobId(2),
                dependency: JobId(98)
            })
        );
        // Nothing was left behind.
        assert_eq!(q.job(JobId(2)), Err(Error::UnknownJob(JobId(2))));
        assert_eq!(q.status().by_state.total(), 1);
        q.submit(job(2).max_retries(MAX_RETRIES)).unwrap();
        // Repeated ids count once.
        q.submit(job(3).depends_on(ids(&[1, 1, 2]))).unwrap();
        let c = claim_done(q, 1);
        q.complete(c, Outcome::Success).unwrap();
        assert_eq!(state(q, 3), JobState::Waiting);
        let c = claim_done(q, 2);
        q.complete(c, Outcome::Success).unwrap();
        assert_eq!(state(q, 3), JobState::Pending);
    });
}

#[test]
#[cfg_attr(
    miri,
    ignore = "a million dependencies / lane entries: too slow under Miri"
)]
fn too_many_dependencies() {
    // Cheap to check: the count is checked before the ids are looked up.
    each(|q| {
        let spec = job(1).depends_on((2..MAX_DEPENDENCIES as u64 + 3).map(JobId));
        assert_eq!(q.submit(spec), Err(Error::TooManyDependencies(JobId(1))));
    });
}

#[test]
fn submit_on_finished_dependencies() {
    each(|q| {
        q.submit(job(1)).unwrap();
        q.submit(job(2)).unwrap();
        q.submit(job(3)).unwrap();
        q.submit(job(4)).unwrap();
        let c = claim_done(q, 1);
        q.complete(c, Outcome::Success).unwrap();
        let c = claim_done(q, 2);
        q.complete(c, Outcome::Failure).unwrap();
        q.cancel(JobId(3)).unwrap();
        // Completed only: pending at once.
        q.submit(job(10).depends_on(ids(&[1]))).unwrap();
        assert_eq!(state(q, 10), JobState::Pending);
        // The first failed/cancelled dependency in list order decides.
        assert_eq!(q.submit(job(11).depends_on(ids(&[1, 2, 3]))), Ok(JobId(11)));
        assert_eq!(state(q, 11), JobState::Failed);
        q.submit(job(12).depends_on(ids(&[4, 3, 2]))).unwrap();
        assert_eq!(state(q, 12), JobState::Cancelled);
        assert!(!q.dependencies_satisfied(JobId(12)).unwrap());
        let metrics = q.metrics();
        assert_eq!((metrics.failed, metrics.cancelled), (2, 2));
        // Job 4 completing does not revive 12.
        let c = q.claim(R).unwrap();
        assert_eq!(c.job(), JobId(4));
        q.complete(c, Outcome::Success).unwrap();
        assert_eq!(state(q, 12), JobState::Cancelled);
        assert_eq!(drain(q, R), vec![10]);
    });
}

// ------------------------------------------------------ add_dependencies

#[test]
fn add_dependencies_errors() {
    each(|q| {
        q.submit(job(1)).unwrap();
        q.submit(job(2).depends_on(ids(&[1]))).unwrap();
        q.submit(job(3).depends_on(ids(&[2]))).unwrap();
        q.submit(job(4)).unwrap();
        assert_eq!(
            q.add_dependencies(JobId(9), &ids(&[1])),
            Err(Error::UnknownJob(JobId(9)))
        );
        assert_eq!(
            q.add_dependencies(JobId(1), &ids(&[1])),
            Err(Error::SelfDependency(JobId(1)))
        );
        assert_eq!(
            q.add_dependencies(JobId(1), &ids(&[4, 99, 1])),
            Err(Error::UnknownDependency {
                job: JobId(1),
                dependency: JobId(99)
            })
        );
        // Cycle through a chain: 3 → 2 → 1.
        assert_eq!(
            q.add_dependencies(JobId(1), &ids(&[4, 3])),
            Err(Error::DependencyCycle {
                job: JobId(1),
                dependency: JobId(3)
            })
        );
        // Checked dependency by dependency: 3's cycle is found before the
        // self dependency that follows it.
        assert_eq!(
            q.add_dependencies(JobId(1), &ids(&[3, 1])),
            Err(Error::DependencyCycle {
                job: JobId(1),
                dependency: JobId(3)
            })
        );
        // Nothing changed.
        assert_eq!(state(q, 1), JobState::Pending);
        assert!(q.dependencies_satisfied(JobId(1)).unwrap());
        let c = claim_done(q, 1);
        assert_eq!(
            q.add_dependencies(JobId(1), &ids(&[4])),
            Err(Error::NotQueued {
                job: JobId(1),
                state: JobState::Scheduled
            })
        );
        q.complete(c, Outcome::Success).unwrap();
        assert_eq!(
            q.add_dependencies(JobId(1), &ids(&[4])),
            Err(Error::NotQueued {
                job: JobId(1),
                state: JobState::Completed
            })
        );
    });
}

#[test]
fn add_dependencies_moves_pending_back_to_waiting() {
    each(|q| {
        q.submit(job(1)).unwrap();
        q.submit(job(2)).unwrap();
        q.submit(job(3)).unwrap();
        // Already present (none) and completed ones are recorded only.
        let c = claim_done(q, 1);
        q.complete(c, Outcome::Success).unwrap();
        q.add_dependencies(JobId(3), &ids(&[1])).unwrap();
        assert_eq!(state(q, 3), JobState::Pending);
        assert_preview(q, ids(&[2, 3]));
        // An unfinished one: back to Waiting, out of the lane.
        q.add_dependencies(JobId(3), &ids(&[2, 2, 1])).unwrap();
        assert_eq!(state(q, 3), JobState::Waiting);
        assert!(!q.dependencies_satisfied(JobId(3)).unwrap());
        assert_preview(q, ids(&[2]));
        assert_eq!(q.status().queued_by_priority[2], 2);
        // Adding the same dependency again changes nothing.
        q.add_dependencies(JobId(3), &ids(&[2])).unwrap();
        let c = claim_done(q, 2);
        assert_eq!(q.claim(R), None);
        q.complete(c, Outcome::Success).unwrap();
        assert_eq!(state(q, 3), JobState::Pending);
        assert_eq!(drain(q, R), vec![3]);
    });
}

/// A job already waiting on one dependency takes another: it waits for
/// both (its wait count adds the new ones to those it had; a product, or
/// the new count alone, would release it after the first).
#[test]
fn add_dependencies_to_a_waiting_job_adds_to_its_wait() {
    each(|q| {
        q.submit(job(1)).unwrap();
        q.submit(job(2)).unwrap();
        q.submit(job(3)).unwrap();
        q.submit(job(4).depends_on(ids(&[1]))).unwrap();
        q.add_dependencies(JobId(4), &ids(&[2, 3])).unwrap();
        assert_eq!(state(q, 4), JobState::Waiting);
        for id in [1, 2] {
            let c = claim_done(q, id);
            q.complete(c, Outcome::Success).unwrap();
            assert_eq!(state(q, 4), JobState::Waiting, "released after {id}");
        }
        let c = claim_done(q, 3);
        q.complete(c, Outcome::Success).unwrap();
        assert_eq!(state(q, 4), JobState::Pending);
        assert_eq!(drain(q, R), vec![4]);
    });
}

#[test]
fn add_dependencies_counts_several_new_unfinished() {
    each(|q| {
        q.submit(job(1)).unwrap();
        q.submit(job(2)).unwrap();
        q.submit(job(3).depends_on(ids(&[1]))).unwrap();
        q.add_dependencies(JobId(3), &ids(&[2])).unwrap();
        let c1 = claim_done(q, 1);
        let c2 = claim_done(q, 2);
        q.complete(c1, Outcome::Success).unwrap();
        assert_eq!(state(q, 3), JobState::Waiting);
        q.complete(c2, Outcome::Success).unwrap();
        assert_eq!(state(q, 3), JobState::Pending);
    });
}

#[test]
fn add_dependencies_on_failed_or_cancelled() {
    each(|q| {
        q.submit(job(1)).unwrap();
        q.submit(job(2)).unwrap();
        let c = claim_done(q, 1);
        q.complete(c, Outcome::Failure).unwrap();
        q.cancel(JobId(2)).unwrap();
        q.submit(job(3)).unwrap();
        q.submit(job(4)).unwrap();
        q.submit(job(5).depends_on(ids(&[3]))).unwrap();
        q.submit(job(6).depends_on(ids(&[5]))).unwrap();
        // Cancelled first in list order: 3 and its waiting dependents cancelled.
        q.add_dependencies(JobId(3), &ids(&[4, 2, 1])).unwrap();
        for (id, expected) in [
            (3, JobState::Cancelled),
            (5, JobState::Cancelled),
            (6, JobState::Cancelled),
            (4, JobState::Pending),
        ] {
            assert_eq!(state(q, id), expected, "job {id}");
        }
        assert_preview(q, ids(&[4]));
        q.submit(job(7).depends_on(ids(&[4]))).unwrap();
        q.add_dependencies(JobId(7), &ids(&[1, 2])).unwrap();
        assert_eq!(state(q, 7), JobState::Failed);
        let metrics = q.metrics();
        assert_eq!((metrics.failed, metrics.cancelled), (2, 4));
        // 4 completing does not revive 7.
        let c = claim_done(q, 4);
        q.complete(c, Outcome::Success).unwrap();
        assert_eq!(state(q, 7), JobState::Failed);
        assert_eq!(q.claim(R), None);
    });
}

#[test]
fn cycle_through_cancelled_job_is_still_a_cycle() {
    each(|q| {
        q.submit(job(1)).unwrap();
        q.submit(job(2).depends_on(ids(&[1]))).unwrap();
        q.cancel(JobId(2)).unwrap();
        assert_eq!(
            q.add_dependencies(JobId(1), &ids(&[2])),
            Err(Error::DependencyCycle {
                job: JobId(1),
                dependency: JobId(2)
            })
        );
        assert_eq!(state(q, 1), JobState::Pending);
    });
}

#[test]
fn diamond_is_not_a_cycle() {
    each(|q| {
        q.submit(job(1)).unwrap();
        q.submit(job(2).depends_on(ids(&[1]))).unwrap();
        q.submit(job(3).depends_on(ids(&[1]))).unwrap();
        q.submit(job(4).depends_on(ids(&[2]))).unwrap();
        q.add_dependencies(JobId(4), &ids(&[3, 2])).unwrap();
        assert_eq!(
            q.add_dependencies(JobId(1), &ids(&[4])),
            Err(Error::DependencyCycle {
                job: JobId(1),
                dependency: JobId(4)
            })
        );
    });
}

// ------------------------------------------------------------ reprioritize

#[test]
fn reprioritize_rules() {
    each(|q| {
        q.submit(job(1)).unwrap();
        q.submit(job(2)).unwrap();
        q.submit(job(3)).unwrap();
        q.submit(job(4).depends_on(ids(&[1]))).unwrap();
        // Same level: nothing moves.
        q.reprioritize(JobId(1), Priority::Normal).unwrap();
        assert_preview(q, ids(&[1, 2, 3]));
        // Other level: back of that lane.
        q.reprioritize(JobId(1), Priority::Low).unwrap();
        q.reprioritize(JobId(2), Priority::Low).unwrap();
        q.reprioritize(JobId(1), Priority::Normal).unwrap();
        assert_preview(q, ids(&[3, 1, 2]));
        assert_eq!(q.job(JobId(2)).unwrap().priority, Priority::Low);
        // Waiting: priority recorded, used on release.
        q.reprioritize(JobId(4), Priority::Critical).unwrap();
        assert_eq!(q.status().queued_by_priority, [1, 0, 2, 1, 0]);
        let c3 = claim_done(q, 3);
        assert_eq!(
            q.reprioritize(JobId(3), Priority::High),
            Err(Error::NotQueued {
                job: JobId(3),
                state: JobState::Scheduled
            })
        );
        assert_eq!(
            q.reprioritize(JobId(9), Priority::High),
            Err(Error::UnknownJob(JobId(9)))
        );
        let c1 = claim_done(q, 1);
        q.complete(c1, Outcome::Success).unwrap();
        assert_eq!(drain(q, R), vec![4, 2]);
        q.complete(c3, Outcome::Success).unwrap();
    });
}

/// A reprioritize that keeps a pending job's level keeps its place in its
/// lane: claims still take it first (a re-queue would put it last).
#[test]
fn reprioritize_to_the_same_level_keeps_the_lane_place() {
    each(|q| {
        for id in 1..=3 {
            q.submit(job(id)).unwrap();
        }
        q.reprioritize(JobId(1), Priority::Normal).unwrap();
        assert_eq!(drain(q, R), vec![1, 2, 3]);
    });
}

// -------------------------------------------------------------- claim_wait

#[test]
fn claim_wait_times_out() {
    each(|q| {
        let start = Instant::now();
        assert_eq!(
            q.claim_wait(R, Duration::from_millis(30)),
            Err(WaitError::TimedOut)
        );
        assert!(start.elapsed() >= Duration::from_millis(30));
        q.submit(job(1)).unwrap();
        assert_eq!(
            q.claim_wait(R, Duration::ZERO).map(|c| c.job()),
            Ok(JobId(1))
        );
    });
}

#[test]
fn claim_wait_wakes_on_each_kind_of_event() {
    /// The claim a setup holds for its event to report (the setups and
    /// events are plain functions).
    static HELD: std::sync::Mutex<Option<Claim>> = std::sync::Mutex::new(None);
    type Event = fn(&dyn Scheduler);
    let setups: [(Event, Event); 5] = [
        // A job enters Pending.
        (
            |_| {},
            |q| {
                q.submit(job(1)).unwrap();
            },
        ),
        // A slot is freed.
        (
            |q| {
                q.set_cluster_capacity(C1, 1).unwrap();
                q.submit(job(1).cluster(C1)).unwrap();
                q.submit(job(2).cluster(C1)).unwrap();
                *HELD.lock().unwrap() = q.claim(R);
            },
            |q| {
                let claim = HELD.lock().unwrap().take().expect("the held claim");
                q.complete(claim, Outcome::Success).unwrap();
            },
        ),
        // Resume.
        (
            |q| {
                q.submit(job(1).cluster(C1)).unwrap();
                q.pause_cluster(C1).unwrap();
            },
            |q| q.resume_cluster(C1).unwrap(),
        ),
        // Capacity raised.
        (
            |q| {
                q.set_cluster_capacity(C1, 1).unwrap();
                q.submit(job(1).cluster(C1)).unwrap();
                q.submit(job(2).cluster(C1)).unwrap();
                assert!(q.claim(R).is_some());
            },
            |q| q.set_cluster_capacity(C1, 2).unwrap(),
        ),
        // Resources set.
        (
            |q| {
                let none = Resources::default();
                q.set_cluster_resources(C1, none).unwrap();
                q.submit(job(1).cluster(C1).resources(Resources {
                    cores: 1,
                    memory_gb: 1,
                }))
                .unwrap();
                assert!(q.claim(R).is_none());
            },
            |q| {
                let one = Resources {
                    cores: 1,
                    memory_gb: 1,
                };
                q.set_cluster_resources(C1, one).unwrap();
            },
        ),
    ];
    for (setup, event) in setups {
        for q in queues(QueueConfig::default()) {
            setup(&*q);
            let waiter = {
                let q = Arc::clone(&q);
                thread::spawn(move || {
                    let start = Instant::now();
                    let claim = q.claim_wait(R, Duration::from_secs(20));
                    (claim, start.elapsed())
                })
            };
            thread::sleep(Duration::from_millis(50));
            event(&*q);
            let (claim, waited) = waiter.join().unwrap();
            assert!(claim.is_ok());
            assert!(waited < Duration::from_secs(10));
        }
    }
}

#[test]
fn claim_wait_with_huge_timeout_does_not_panic() {
    each(|q| {
        q.submit(job(1)).unwrap();
        assert!(q.claim_wait(R, Duration::MAX).is_ok());
    });
}

// ------------------------------------------------------ status and metrics

#[test]
fn status_counts() {
    each(|q| {
        q.submit(job(1).cluster(C1).priority(Priority::High))
            .unwrap();
        q.submit(job(2).cluster(C1).depends_on(ids(&[1]))).unwrap();
        q.submit(job(3).runner(RunnerType(2)).cluster(C2)).unwrap();
        q.submit(job(4).runner(RunnerType(3))).unwrap();
        q.set_cluster_capacity(C3, 5).unwrap();
        let c4 = q.claim(RunnerType(3)).unwrap();
        q.complete(c4, Outcome::Success).unwrap();
        let c3 = q.claim(RunnerType(2)).unwrap();
        q.start(&c3).unwrap();
        let status = q.status();
        assert_eq!(status.by_state.get(JobState::Pending), 1);
        assert_eq!(status.by_state.get(JobState::Waiting), 1);
        assert_eq!(status.by_state.get(JobState::Running), 1);
        assert_eq!(status.by_state.get(JobState::Completed), 1);
        assert_eq!(status.by_state.total(), 4);
        assert_eq!(status.queued_by_priority, [0, 1, 1, 0, 0]);
        assert_eq!(
            status.unfinished_by_runner.into_iter().collect::<Vec<_>>(),
            vec![(R, 2), (RunnerType(2), 1)]
        );
        let c1 = status.clusters[&C1];
        assert_eq!((c1.running, c1.capacity, c1.queued), (0, 8, 2));
        assert!(c1.can_accept && !c1.paused);
        let c2 = status.clusters[&C2];
        assert_eq!((c2.running, c2.queued), (1, 0));
        let c3 = status.clusters[&C3];
        assert_eq!((c3.capacity, c3.queued), (5, 0));
        assert_eq!(status.clusters.len(), 3);
        assert_eq!(status.metrics, q.metrics());
        assert_eq!(status.metrics.scheduled, 2);
    });
}

#[test]
fn average_wait_is_an_ema() {
    each(|q| {
        assert_eq!(q.metrics().average_wait, Duration::ZERO);
        q.submit(job(1)).unwrap();
        thread::sleep(Duration::from_millis(100));
        let _held = q.claim(R).unwrap();
        let first = q.metrics().average_wait;
        // JobQueue times waits with a coarse clock (a kernel tick, 1-4 ms).
        assert!(first >= Duration::from_millis(90), "{first:?}");
        // JobQueue samples one claim in Metrics::WAIT_SAMPLE_EVERY (per
        // thread; the first is sampled), the baselines every claim: after
        // that many quick claims both have folded at least one tiny wait in.
        let mut held = Vec::new();
        for id in 2..=u64::from(Metrics::WAIT_SAMPLE_EVERY) + 1 {
            q.submit(job(id)).unwrap();
            held.push(q.claim(R).unwrap());
        }
        let second = q.metrics().average_wait;
        // At most 0.9 * first + 0.1 * (tiny), at least 0.9^16 * first.
        assert!(second < first);
        assert!(second <= first.mul_f64(0.9) + Duration::from_millis(20));
        assert!(second >= first.mul_f64(0.9f64.powi(16)) - Duration::from_micros(1));
    });
}

/// `JobQueue` times the wait of a thread's first claim and then of one
/// claim in `Metrics::WAIT_SAMPLE_EVERY`: the claims between leave the
/// average as it was, and the next sample folds in with alpha 0.1.
#[test]
fn job_queue_samples_one_wait_in_sixteen() {
    let q = JobQueue::new();
    q.submit(job(1)).unwrap();
    thread::sleep(Duration::from_millis(60));
    let mut held = vec![q.claim(R).unwrap()];
    let first = q.metrics().average_wait;
    assert!(first >= Duration::from_millis(50), "{first:?}");
    let every = u64::from(Metrics::WAIT_SAMPLE_EVERY);
    for id in 2..=every {
        q.submit(job(id)).unwrap();
        held.push(q.claim(R).unwrap());
        assert_eq!(q.metrics().average_wait, first, "claim {id} was sampled");
    }
    q.submit(job(every + 1)).unwrap();
    held.push(q.claim(R).unwrap());
    let second = q.metrics().average_wait;
    // 0.9 * first + 0.1 * (tiny)
    assert!(second < first);
    assert!(second >= first.mul_f64(0.9) - Duration::from_micros(1));
    assert!(second <= first.mul_f64(0.9) + Duration::from_millis(20));
    assert_eq!(q.metrics().scheduled, every + 1, "every claim counted");
}

#[test]
fn prune_finished_forgets_terminal_jobs() {
    each(|q| {
        q.submit(job(1)).unwrap();
        q.submit(job(2)).unwrap();
        q.submit(job(3).depends_on(ids(&[1, 2]))).unwrap();
        q.submit(job(4)).unwrap();
        q.cancel(JobId(4)).unwrap();
        let c1 = claim_done(q, 1);
        q.complete(c1, Outcome::Success).unwrap();
        assert_eq!(q.prune_finished().len(), 2);
        assert_eq!(q.prune_finished().len(), 0);
        assert_eq!(q.job(JobId(1)), Err(Error::UnknownJob(JobId(1))));
        assert_eq!(
            q.submit(job(5).depends_on(ids(&[1]))),
            Err(Error::UnknownDependency {
                job: JobId(5),
                dependency: JobId(1)
            })
        );
        // A pruned completed dependency counts as satisfied.
        assert!(!q.dependencies_satisfied(JobId(3)).unwrap());
        // Reusing a pruned id makes a new, unrelated job.
        q.submit(job(1).depends_on(ids(&[2]))).unwrap();
        assert_eq!(state(q, 1), JobState::Waiting);
        assert!(!q.dependencies_satisfied(JobId(3)).unwrap());
        let c2 = claim_done(q, 2);
        q.complete(c2, Outcome::Success).unwrap();
        assert!(q.dependencies_satisfied(JobId(3)).unwrap());
        assert_preview(q, ids(&[3, 1]));
        q.add_dependencies(JobId(3), &ids(&[1])).unwrap();
        assert_eq!(state(q, 3), JobState::Waiting);
        let status = q.status();
        assert_eq!(status.by_state.total(), 3);
        // Metrics are not pruned.
        assert_eq!((status.metrics.completed, status.metrics.cancelled), (2, 1));
    });
}

#[test]
#[cfg_attr(
    miri,
    ignore = "a million dependencies / lane entries: too slow under Miri"
)]
fn dead_lane_entries_are_compacted() {
    each(|q| {
        for id in 0..1000 {
            q.submit(job(id)).unwrap();
        }
        for round in 0..10 {
            let level = if round % 2 == 0 {
                Priority::Low
            } else {
                Priority::Normal
            };
            for id in 1..1000 {
                q.reprioritize(JobId(id), level).unwrap();
            }
        }
        let expected: Vec<u64> = (0..1000).collect();
        assert_eq!(drain(q, R), expected);
    });
}

// -------------------------------------------------------------- threads

#[test]
fn concurrent_claims_hand_out_each_job_once() {
    let jobs: u64 = if cfg!(miri) { 40 } else { 2000 };
    let threads = if cfg!(miri) { 2 } else { 8 };
    for q in queues(QueueConfig::default()) {
        for id in 0..jobs {
            q.submit(job(id).cluster(ClusterId((id % 4) as u32)).max_retries(1))
                .unwrap();
        }
        let done = Arc::new(AtomicUsize::new(0));
        let workers: Vec<_> = (0..threads)
            .map(|worker| {
                let q = Arc::clone(&q);
                let done = Arc::clone(&done);
                thread::spawn(move || {
                    let mut seen = Vec::new();
                    while done.load(Ordering::SeqCst) < jobs as usize {
                        let Ok(claim) = q.claim_wait(R, Duration::from_millis(10)) else {
                            continue;
                        };
                        q.start(&claim).unwrap();
                        // Fail each job's first attempt on odd workers.
                        let outcome = if worker % 2 == 1 && claim.attempt() == 1 {
                            Outcome::Failure
                        } else {
                            Outcome::Success
                        };
                        if q.complete(claim.clone(), outcome).unwrap() == Completion::Completed {
                            seen.push(claim.job());
                            done.fetch_add(1, Ordering::SeqCst);
                        }
                    }
                    seen
                })
            })
            .collect();
        let mut all: Vec<JobId> = workers
            .into_iter()
            .flat_map(|w| w.join().unwrap())
            .collect();
        all.sort();
        assert_eq!(all, (0..jobs).map(JobId).collect::<Vec<_>>());
        let metrics = q.metrics();
        assert_eq!(metrics.completed, jobs);
        assert_eq!(metrics.scheduled, jobs + metrics.retried);
        assert!(q.status().clusters.values().all(|c| c.running == 0));
    }
}

#[test]
fn naming_a_cluster_registers_it_unless_clusters_must_be_declared() {
    // Default: a job, a pause or a resume naming a new cluster registers it
    // with the default capacity (a pause registers it paused).
    each_with(common::config_with(|b| b.default_capacity(3)), |q| {
        q.pause_cluster(C1).unwrap();
        q.resume_cluster(C2).unwrap();
        q.submit(job(1).cluster(C3)).unwrap();
        let clusters = q.status().clusters;
        assert_eq!(clusters.len(), 3);
        assert!(clusters[&C1].paused && !clusters[&C2].paused);
        assert!(clusters.values().all(|c| c.capacity == 3));
        q.submit(job(2).cluster(C1)).unwrap();
        assert_eq!(drain(q, R), vec![1], "C1 is paused");
    });
    // Declared clusters only: nothing but a declaration registers one.
    each_with(
        common::config_with(|b| b.declared_clusters_only(true)),
        |q| {
            assert_eq!(q.pause_cluster(C1), Err(Error::UnknownCluster(C1)));
            assert_eq!(q.resume_cluster(C1), Err(Error::UnknownCluster(C1)));
            assert_eq!(q.submit(job(1).cluster(C1)), Err(Error::UnknownCluster(C1)));
            assert!(q.status().clusters.is_empty());
            q.set_cluster_resources(C1, Resources::default()).unwrap();
            q.set_cluster_capacity(C2, 1).unwrap();
            q.submit(job(1).cluster(C1)).unwrap();
            q.submit(job(2).cluster(C2)).unwrap();
            q.pause_cluster(C2).unwrap();
            assert_eq!(drain(q, R), vec![1]);
        },
    );
}

#[test]
fn a_late_report_never_reaches_a_new_job_that_reuses_a_pruned_id() {
    // Submit 5, claim it (A), complete it, prune, submit a new 5, claim it
    // (B), start B; then A's duplicate report arrives.
    each(|q| {
        q.submit(job(5)).unwrap();
        q.submit(job(6).depends_on(ids(&[5]))).unwrap();
        let a = claim_done(q, 5);
        q.complete(a.clone(), Outcome::Success).unwrap();
        let c6 = claim_done(q, 6);
        q.complete(c6, Outcome::Success).unwrap();
        assert_eq!(q.prune_finished().len(), 2);
        q.submit(job(5)).unwrap();
        q.submit(job(7).depends_on(ids(&[5]))).unwrap();
        let b = claim_done(q, 5);
        q.start(&b).unwrap();
        let stale = Err(Error::StaleClaim {
            job: JobId(5),
            attempt: 1,
        });
        assert_eq!(q.complete(a.clone(), Outcome::Success).map(|_| ()), stale);
        assert_eq!(q.complete(a.clone(), Outcome::Failure).map(|_| ()), stale);
        assert_eq!(q.start(&a), stale);
        // Nothing changed: the new 5 still runs, its dependent still waits.
        assert_eq!(state(q, 5), JobState::Running);
        assert_eq!(state(q, 7), JobState::Waiting);
        assert_eq!(q.metrics().completed, 2);
        // B's own report is the one that counts.
        assert_eq!(q.complete(b, Outcome::Success), Ok(Completion::Completed));
        assert_eq!(state(q, 7), JobState::Pending);
        assert_eq!(q.metrics().completed, 3);
    });
}

/// The claiming thread reports, so on `JobQueue` this also covers the
/// per-thread claim hint (it must not reach the other queue's record).
#[test]
fn a_claim_of_one_queue_is_stale_on_another() {
    let config = QueueConfig::default();
    let count = common::impls(config).len();
    for a in 0..count {
        for b in 0..count {
            let (first_name, first) = common::impls(config).swap_remove(a);
            let (second_name, second) = common::impls(config).swap_remove(b);
            let _context = common::Context(format!("{first_name} -> {second_name}"));
            first.submit(job(1)).unwrap();
            second.submit(job(1)).unwrap();
            let ours = first.claim(R).unwrap();
            let theirs = second.claim(R).unwrap();
            assert_eq!(
                (ours.job(), ours.attempt()),
                (theirs.job(), theirs.attempt())
            );
            let stale = Err(Error::StaleClaim {
                job: JobId(1),
                attempt: 1,
            });
            assert_eq!(second.start(&ours), stale);
            assert_eq!(
                second.complete(ours.clone(), Outcome::Success).map(|_| ()),
                stale
            );
            assert_eq!(second.state(JobId(1)), Ok(JobState::Scheduled));
            assert_eq!(
                first.complete(ours, Outcome::Success),
                Ok(Completion::Completed)
            );
            assert_eq!(
                second.complete(theirs, Outcome::Success),
                Ok(Completion::Completed)
            );
        }
    }
}

// ----------------------------------------------------------- shutdown

#[test]
fn close_wakes_every_sleeping_worker_at_once() {
    const WORKERS: usize = 8;
    for (name, q) in common::impls(QueueConfig::default()) {
        let _context = common::Context(name.to_string());
        let asleep = std::sync::Barrier::new(WORKERS + 1);
        let (results, woken_after) = thread::scope(|s| {
            let workers: Vec<_> = (0..WORKERS)
                .map(|_| {
                    s.spawn(|| {
                        asleep.wait();
                        let result = q.claim_wait(R, Duration::from_secs(3600));
                        (result, Instant::now())
                    })
                })
                .collect();
            asleep.wait();
            thread::sleep(Duration::from_millis(50)); // let them fall asleep
            let closed_at = Instant::now();
            q.close();
            let results: Vec<_> = workers.into_iter().map(|w| w.join().unwrap()).collect();
            let last = results.iter().map(|(_, at)| *at).max().unwrap();
            (results, last.saturating_duration_since(closed_at))
        });
        assert!(results.iter().all(|(r, _)| *r == Err(WaitError::Closed)));
        assert!(
            woken_after < Duration::from_millis(100),
            "{WORKERS} sleepers took {woken_after:?} to wake"
        );
    }
}

#[test]
fn a_closed_queue_takes_no_job_and_hands_out_none_but_in_flight_claims_report() {
    each(|q| {
        q.submit(job(1).max_retries(1)).unwrap();
        q.submit(job(2)).unwrap();
        q.submit(job(3).depends_on(ids(&[1]))).unwrap();
        let first = claim_done(q, 1);
        assert!(!q.is_closed());
        q.close();
        q.close(); // twice is not an error
        assert!(q.is_closed());
        assert_eq!(q.submit(job(4)), Err(Error::Closed));
        assert_eq!(q.claim(R), None);
        assert_eq!(q.claim_wait(R, Duration::ZERO), Err(WaitError::Closed));
        // The claim in flight: started and reported; its retry stays pending.
        q.start(&first).unwrap();
        assert_eq!(
            q.complete(first, Outcome::Failure),
            Ok(Completion::Retrying)
        );
        assert_eq!(state(q, 1), JobState::Pending);
        assert_eq!(q.claim(R), None);
        // Everything else still works.
        assert_eq!(q.cancel(JobId(2)), Ok(CancelOutcome::Cancelled));
        q.reprioritize(JobId(1), Priority::High).unwrap();
        assert_eq!(q.status().by_state.get(JobState::Pending), 1);
        assert_eq!(q.metrics().submitted, 3);
    });
}

#[test]
fn wait_idle_returns_when_the_last_job_ends() {
    each(|q| {
        assert!(q.wait_idle(Duration::ZERO), "an empty queue is idle");
        for id in 0..20 {
            q.submit(job(id).max_retries(1)).unwrap();
        }
        q.submit(job(20).max_retries(1).depends_on(ids(&[0, 1])))
            .unwrap();
        assert!(!q.wait_idle(Duration::from_millis(20)), "21 jobs queued");
        let idle = thread::scope(|s| {
            let waiter = s.spawn(|| q.wait_idle(Duration::from_secs(30)));
            for _ in 0..2 {
                s.spawn(|| {
                    while let Ok(claim) = q.claim_wait(R, Duration::from_millis(50)) {
                        // Every job fails once, then succeeds: retries keep
                        // the queue busy.
                        let outcome = if claim.attempt() == 1 {
                            Outcome::Failure
                        } else {
                            Outcome::Success
                        };
                        q.complete(claim, outcome).unwrap();
                    }
                });
            }
            waiter.join().unwrap()
        });
        assert!(idle);
        let status = q.status();
        assert_eq!(status.by_state.get(JobState::Completed), 21);
        assert_eq!(status.metrics.submitted, 21);
        assert!(q.wait_idle(Duration::ZERO));
        // Busy again at once with a new job; pruning keeps it idle-able.
        q.submit(job(99)).unwrap();
        assert!(!q.wait_idle(Duration::ZERO));
        q.cancel(JobId(99)).unwrap();
        assert!(q.wait_idle(Duration::ZERO));
        assert_eq!(q.prune_finished().len(), 22);
        assert!(q.wait_idle(Duration::ZERO));
    });
}

/// The idle wake-up's handshake, raced many times: a caller enters
/// `wait_idle` just as another thread completes the last job. A lost
/// wake-up leaves the caller asleep until its timeout, which fails the
/// round (JobQueue's ending side takes only a compiler fence where
/// membarrier works: this runs that path, which loom's model of it does
/// not).
#[test]
fn wait_idle_races_the_last_completion_many_times() {
    each(|q| {
        let rounds = if cfg!(miri) { 5 } else { 300 };
        for round in 0..rounds {
            q.submit(job(round)).unwrap();
            let claim = q.claim(R).unwrap();
            let (idle, waited) = thread::scope(|s| {
                let waiter = s.spawn(|| {
                    let start = Instant::now();
                    (q.wait_idle(Duration::from_secs(5)), start.elapsed())
                });
                // From before the waiter has started to after it sleeps
                // (a thread start and `wait_idle`'s first steps take tens
                // of µs).
                thread::sleep(Duration::from_micros((round % 10) * 40));
                q.complete(claim, Outcome::Success).unwrap();
                waiter.join().unwrap()
            });
            assert!(idle, "round {round}: not idle after 5 s");
            assert!(
                waited < Duration::from_secs(4),
                "round {round}: woken only by the timeout ({waited:?})"
            );
        }
        assert_eq!(
            q.status().by_state.get(JobState::Completed),
            rounds as usize
        );
    });
}

// ------------------------------------------------------------ how jobs end

#[test]
fn every_terminal_job_says_how_it_ended() {
    each(|q| {
        // 1 succeeds; 2 fails twice (reasons), 3 depends on 2; 4 cancelled
        // while queued, 5 depends on 4; 6 cancelled at its worker's report;
        // 7 depends on 3 (a cascade of two steps).
        q.submit(job(1)).unwrap();
        q.submit(job(2).max_retries(1)).unwrap();
        q.submit(job(3).depends_on(ids(&[2]))).unwrap();
        q.submit(job(4).priority(Priority::Low)).unwrap();
        q.submit(job(5).depends_on(ids(&[4]))).unwrap();
        q.submit(job(6).priority(Priority::Low)).unwrap();
        q.submit(job(7).depends_on(ids(&[3]))).unwrap();
        assert_eq!(q.job(JobId(1)).unwrap().end, None);
        let c1 = claim_done(q, 1);
        q.complete(c1, Outcome::Success).unwrap();
        let c2 = claim_done(q, 2);
        assert_eq!(q.fail(c2, "first"), Ok(Completion::Retrying));
        assert_eq!(q.job(JobId(2)).unwrap().end, None, "retrying is not an end");
        let c2 = claim_done(q, 2);
        assert_eq!(q.fail(c2, "second"), Ok(Completion::Failed));
        q.cancel(JobId(4)).unwrap();
        let c6 = claim_done(q, 6);
        q.cancel(JobId(6)).unwrap();
        q.fail(c6, "ignored: cancelled").unwrap();
        let end = |id| q.job(JobId(id)).unwrap().end.unwrap();
        assert_eq!(end(1), JobEnd::Succeeded);
        assert_eq!(
            end(2),
            JobEnd::Failed {
                attempts: 2,
                reason: Some("second".into())
            }
        );
        assert_eq!(
            end(3),
            JobEnd::DependencyFailed {
                dependency: JobId(2)
            }
        );
        assert_eq!(
            end(7),
            JobEnd::DependencyFailed {
                dependency: JobId(3)
            }
        );
        assert_eq!(end(4), JobEnd::Cancelled);
        assert_eq!(
            end(5),
            JobEnd::DependencyCancelled {
                dependency: JobId(4)
            }
        );
        assert_eq!(end(6), JobEnd::Cancelled);
        // A job submitted after its dependency ended, and one given an ended
        // dependency, name it too; the first ended one in list order.
        q.submit(job(8).depends_on(ids(&[1, 4, 2]))).unwrap();
        assert_eq!(
            end(8),
            JobEnd::DependencyCancelled {
                dependency: JobId(4)
            }
        );
        q.submit(job(9)).unwrap();
        q.add_dependencies(JobId(9), &ids(&[2])).unwrap();
        assert_eq!(
            end(9),
            JobEnd::DependencyFailed {
                dependency: JobId(2)
            }
        );
        // A plain failure report keeps no reason.
        q.submit(job(10).priority(Priority::Critical)).unwrap();
        let c10 = claim_done(q, 10);
        q.complete(c10, Outcome::Failure).unwrap();
        assert_eq!(
            end(10),
            JobEnd::Failed {
                attempts: 1,
                reason: None
            }
        );
        // Pruning hands the ends back.
        let pruned = q.prune_finished();
        assert_eq!(pruned.len(), 10);
        assert_eq!(pruned[1].end, Some(end_of_2()));
        fn end_of_2() -> JobEnd {
            JobEnd::Failed {
                attempts: 2,
                reason: Some("second".into()),
            }
        }
    });
}

#[test]
fn a_failure_reason_is_kept_up_to_its_bound() {
    each(|q| {
        q.submit(job(1)).unwrap();
        let c = claim_done(q, 1);
        // Two-byte characters, so the bound falls inside one of them.
        let long = "é".repeat(MAX_REASON_BYTES);
        q.fail(c.clone(), &long).unwrap();
        let Some(JobEnd::Failed {
            reason: Some(reason),
            ..
        }) = q.job(JobId(1)).unwrap().end
        else {
            panic!("a failure with a reason")
        };
        assert!(reason.len() <= MAX_REASON_BYTES);
        assert_eq!(reason.len(), MAX_REASON_BYTES);
        assert!(long.starts_with(&*reason));
        // A stale failure report keeps nothing and changes nothing.
        assert!(q.fail(c, "late").is_err());
        assert_eq!(
            q.job(JobId(1)).unwrap().end,
            Some(JobEnd::Failed {
                attempts: 1,
                reason: Some(reason)
            })
        );
    });
}

// ------------------------------------------------------------------ leases

fn leased(lease_ms: u64) -> QueueConfig {
    common::config_with(|b| b.lease(Duration::from_millis(lease_ms)))
}

#[test]
fn a_crashed_workers_job_is_retried_after_its_lease_and_its_slot_frees() {
    each_with(leased(40), |q| {
        q.set_cluster_capacity(C1, 1).unwrap();
        q.submit(job(1).cluster(C1).max_retries(1)).unwrap();
        q.submit(job(2).cluster(C1)).unwrap();
        // A worker claims job 1, then dies (its thread ends, nothing reported).
        let lost = thread::scope(|s| s.spawn(|| q.claim(R).unwrap()).join().unwrap());
        assert_eq!(q.claim(R), None, "the cluster's only slot is held");
        let claimed_at = Instant::now();
        // Another worker waits: the expired lease frees the slot, and job 1
        // comes back at the back of its lane, behind job 2.
        let next = q.claim_wait(R, Duration::from_secs(10)).unwrap();
        assert!(claimed_at.elapsed() >= Duration::from_millis(30));
        assert_eq!(next.job(), JobId(2));
        q.complete(next, Outcome::Success).unwrap();
        let retry = q.claim_wait(R, Duration::from_secs(10)).unwrap();
        assert_eq!((retry.job(), retry.attempt()), (JobId(1), 2));
        // The dead worker's report, were it to arrive, is stale.
        let stale = Err(Error::StaleClaim {
            job: JobId(1),
            attempt: 1,
        });
        assert_eq!(
            q.complete(lost.clone(), Outcome::Success).map(|_| ()),
            stale
        );
        assert_eq!(q.heartbeat(&lost).map(|_| ()), stale);
        assert_eq!(
            q.complete(retry, Outcome::Success),
            Ok(Completion::Completed)
        );
        let metrics = q.metrics();
        assert_eq!((metrics.completed, metrics.retried), (2, 1));
        assert_eq!(q.status().clusters[&C1].running, 0);
    });
}

#[test]
fn heartbeats_keep_a_lease_and_carry_the_cancel() {
    each_with(leased(40), |q| {
        q.submit(job(1)).unwrap();
        let claim = q.claim(R).unwrap();
        // Four lease periods, heartbeating every 10 ms.
        let started = Instant::now();
        while started.elapsed() < Duration::from_millis(160) {
            assert_eq!(q.heartbeat(&claim), Ok(false));
            assert_eq!(q.expire_leases(), 0);
            thread::sleep(Duration::from_millis(10));
        }
        assert_eq!(state(q, 1), JobState::Scheduled);
        q.cancel(JobId(1)).unwrap();
        assert_eq!(q.heartbeat(&claim), Ok(true), "told of the cancel");
        assert_eq!(
            q.complete(claim.clone(), Outcome::Success),
            Ok(Completion::Cancelled)
        );
        assert_eq!(
            q.heartbeat(&claim),
            Err(Error::StaleClaim {
                job: JobId(1),
                attempt: 1
            })
        );
    });
}

#[test]
fn the_last_attempts_lease_running_out_fails_the_job() {
    each_with(leased(20), |q| {
        q.submit(job(1)).unwrap();
        q.submit(job(2).depends_on(ids(&[1]))).unwrap();
        q.submit(job(3).lease(Duration::from_secs(60))).unwrap(); // its own
        let c1 = claim_done(q, 1);
        let c3 = claim_done(q, 3);
        thread::sleep(Duration::from_millis(60));
        assert_eq!(q.expire_leases(), 1, "job 3's own lease is a minute");
        assert_eq!(state(q, 1), JobState::Failed);
        assert_eq!(
            q.job(JobId(1)).unwrap().end,
            Some(JobEnd::LeaseExpired { attempts: 1 })
        );
        assert_eq!(
            q.job(JobId(2)).unwrap().end,
            Some(JobEnd::DependencyFailed {
                dependency: JobId(1)
            })
        );
        assert!(q.complete(c1, Outcome::Success).is_err());
        assert_eq!(q.heartbeat(&c3), Ok(false));
        assert_eq!(q.complete(c3, Outcome::Success), Ok(Completion::Completed));
        assert_eq!(q.expire_leases(), 0);
        let metrics = q.metrics();
        assert_eq!((metrics.failed, metrics.completed), (2, 1));
    });
}

/// A lease is not due before its duration: a sweep well before it takes
/// nothing back. (Mutation testing: a deadline of `now + millis + 1000`
/// µs, a lease of about a millisecond, went unseen: the crashed-worker
/// test's sleeper was woken by the sweep bound, computed right.)
#[test]
fn a_lease_is_not_due_before_its_duration() {
    each_with(leased(500), |q| {
        q.submit(job(1)).unwrap();
        let claim = claim_done(q, 1);
        thread::sleep(Duration::from_millis(20));
        assert_eq!(q.expire_leases(), 0, "taken back 20 ms into 500");
        assert_eq!(state(q, 1), JobState::Scheduled);
        assert_eq!(
            q.complete(claim, Outcome::Success),
            Ok(Completion::Completed)
        );
    });
}

/// A lease started after a sweep that found none running out is still
/// noticed by a plain `claim`. (Mutation testing: a shortest duration never
/// recorded left the next sweep at "never" after such a sweep, and a lease
/// of a duration already known does not move it.)
#[test]
fn a_claim_notices_a_lease_started_after_an_empty_sweep() {
    each_with(leased(20), |q| {
        q.submit(job(1)).unwrap();
        let first = claim_done(q, 1);
        q.complete(first, Outcome::Success).unwrap();
        // A sweep with no live lease, the duration already known.
        assert_eq!(q.expire_leases(), 0);
        q.submit(job(2)).unwrap();
        let _crashed = claim_done(q, 2);
        thread::sleep(Duration::from_millis(60));
        q.submit(job(3)).unwrap();
        let third = claim_done(q, 3);
        assert_eq!(
            state(q, 2),
            JobState::Failed,
            "the claim swept job 2's lease"
        );
        assert_eq!(
            q.job(JobId(2)).unwrap().end,
            Some(JobEnd::LeaseExpired { attempts: 1 })
        );
        q.complete(third, Outcome::Success).unwrap();
    });
}

/// A heartbeat that finds its lease already due takes the attempt back at
/// once (rather than leave it to the next sweep). (Mutation testing: the
/// inverted check went unseen.)
#[test]
fn a_heartbeat_after_the_lease_ran_out_takes_the_attempt_back() {
    each_with(leased(20), |q| {
        q.submit(job(1).max_retries(1)).unwrap();
        let claim = claim_done(q, 1);
        thread::sleep(Duration::from_millis(60));
        assert_eq!(
            q.heartbeat(&claim),
            Err(Error::StaleClaim {
                job: JobId(1),
                attempt: 1
            })
        );
        // No sweep ran: the heartbeat itself re-queued the job.
        assert_eq!(state(q, 1), JobState::Pending);
        assert_eq!(q.metrics().retried, 1);
        assert_eq!(q.expire_leases(), 0, "already taken back");
    });
}

/// One thread holds three claims at once (the older leases wait in its
/// held list behind the latest); it heartbeats the oldest only. The other
/// two run out, whatever the heartbeats do to the one ahead of them.
/// (Mutation testing: a sweep that stopped at the heartbeated lease, or
/// kept its old deadline, never looked behind it.)
#[test]
fn leases_held_behind_a_heartbeated_one_still_run_out() {
    each_with(leased(30), |q| {
        for id in 1..=3 {
            q.submit(job(id)).unwrap();
        }
        let kept = claim_done(q, 1);
        let _second = claim_done(q, 2);
        let _third = claim_done(q, 3);
        let started = Instant::now();
        let mut expired = 0;
        while started.elapsed() < Duration::from_millis(150) {
            assert_eq!(q.heartbeat(&kept), Ok(false));
            expired += q.expire_leases();
            thread::sleep(Duration::from_millis(5));
        }
        expired += q.expire_leases();
        assert_eq!(expired, 2, "jobs 2 and 3 taken back, job 1 kept");
        assert_eq!(state(q, 1), JobState::Scheduled);
        assert_eq!(
            (state(q, 2), state(q, 3)),
            (JobState::Failed, JobState::Failed)
        );
        assert_eq!(
            q.complete(kept, Outcome::Success),
            Ok(Completion::Completed)
        );
    });
}

/// One thread holds leases of two durations at once (a minute, 20 ms):
/// the short ones run out although a longer one was held before them.
/// (Mutation testing: a held lease filed with the leases of another
/// duration waited behind the longer one and never ran out.)
#[test]
fn held_leases_of_different_durations_each_run_out() {
    each_with(leased(20), |q| {
        q.submit(job(1).lease(Duration::from_secs(60))).unwrap();
        q.submit(job(2)).unwrap();
        q.submit(job(3)).unwrap();
        let long = claim_done(q, 1);
        let _short = claim_done(q, 2);
        let _latest = claim_done(q, 3);
        thread::sleep(Duration::from_millis(80));
        assert_eq!(q.expire_leases(), 2, "jobs 2 and 3 taken back");
        assert_eq!(state(q, 1), JobState::Scheduled);
        assert_eq!(
            q.complete(long, Outcome::Success),
            Ok(Completion::Completed)
        );
    });
}

/// The lease of a retry (attempt 2, 3...) runs out like the first
/// attempt's. (Mutation testing: a lease entry that decoded every attempt
/// as 1 took the second attempt's lease for a stale one and never expired
/// it; every lease test ran out a first attempt.)
#[test]
fn a_retrys_lease_runs_out_too() {
    each_with(leased(20), |q| {
        q.submit(job(1).max_retries(2)).unwrap();
        let first = claim_done(q, 1);
        assert_eq!(
            q.complete(first, Outcome::Failure),
            Ok(Completion::Retrying)
        );
        let second = claim_done(q, 1);
        assert_eq!(second.attempt(), 2);
        thread::sleep(Duration::from_millis(60));
        assert_eq!(q.expire_leases(), 1, "the second attempt's lease ran out");
        assert_eq!(state(q, 1), JobState::Pending);
        let third = claim_done(q, 1);
        assert_eq!(third.attempt(), 3);
        assert_eq!(
            q.complete(third, Outcome::Success),
            Ok(Completion::Completed)
        );
        assert_eq!(q.metrics().retried, 2);
    });
}

/// A worker asleep in `claim_wait` wakes for a lease running out (the
/// queue bounds its sleep by the next deadline) and claims the job back
/// promptly, not at its own timeout. (Mutation testing: a first lease that
/// never lowered the next deadline left the sleeper asleep for its whole
/// 10 s timeout, and the test that looked only waited longer.)
#[test]
fn a_sleeping_worker_wakes_for_a_lease_running_out() {
    each_with(leased(30), |q| {
        q.submit(job(1).max_retries(1)).unwrap();
        let lost = thread::scope(|s| s.spawn(|| q.claim(R).unwrap()).join().unwrap());
        let asleep_at = Instant::now();
        let retry = q.claim_wait(R, Duration::from_secs(10)).unwrap();
        let waited = asleep_at.elapsed();
        assert_eq!((retry.job(), retry.attempt()), (JobId(1), 2));
        assert!(waited < Duration::from_secs(2), "woke after {waited:?}");
        assert!(q.complete(lost, Outcome::Success).is_err());
        assert_eq!(
            q.complete(retry, Outcome::Success),
            Ok(Completion::Completed)
        );
    });
}

#[test]
fn without_a_lease_nothing_expires_and_heartbeat_only_reports_cancel() {
    each(|q| {
        q.submit(job(1)).unwrap();
        let claim = q.claim(R).unwrap();
        thread::sleep(Duration::from_millis(20));
        assert_eq!(q.expire_leases(), 0);
        assert_eq!(q.heartbeat(&claim), Ok(false));
        q.cancel(JobId(1)).unwrap();
        assert_eq!(q.heartbeat(&claim), Ok(true));
    });
}

// ------------------------------------------------------ delays and backoff

#[test]
fn a_delayed_job_takes_no_slot_and_is_claimed_once_due() {
    each(|q| {
        q.set_cluster_capacity(C1, 1).unwrap();
        q.submit(job(1).cluster(C1).delay(Duration::from_millis(60)))
            .unwrap();
        q.submit(job(2).cluster(C1)).unwrap();
        // At once in the past: not delayed.
        q.submit(job(3).not_before(Instant::now() - Duration::from_secs(1)))
            .unwrap();
        let submitted = Instant::now();
        assert_eq!(state(q, 1), JobState::Waiting);
        assert_eq!(state(q, 3), JobState::Pending);
        assert!(q.dependencies_satisfied(JobId(1)).unwrap());
        // Job 2 takes the only slot, job 3 has no cluster; job 1 holds none.
        let c2 = claim_done(q, 2);
        let c3 = claim_done(q, 3);
        q.complete(c2, Outcome::Success).unwrap();
        q.complete(c3, Outcome::Success).unwrap();
        assert_eq!(q.claim(R), None, "not due yet");
        let c1 = q.claim_wait(R, Duration::from_secs(10)).unwrap();
        let waited = submitted.elapsed();
        assert_eq!(c1.job(), JobId(1));
        assert!(waited >= Duration::from_millis(50), "{waited:?}");
        assert!(waited < Duration::from_secs(5), "{waited:?}");
        q.complete(c1, Outcome::Success).unwrap();
        // A delayed job can be cancelled while it waits.
        q.submit(job(4).delay(Duration::from_millis(10))).unwrap();
        q.cancel(JobId(4)).unwrap();
        thread::sleep(Duration::from_millis(30));
        assert_eq!(q.claim(R), None);
        assert_eq!(state(q, 4), JobState::Cancelled);
    });
}

/// A completion counts in the throughput window whenever it happens, not
/// only in the queue's first clock tick. (Mutation testing: the window's
/// second taken as the microseconds modulo a million went unseen, because
/// every test completed its jobs while the coarse clock still read 0.)
#[test]
fn a_completion_after_the_first_tick_counts_in_the_window() {
    each(|q| {
        q.submit(job(1)).unwrap();
        q.submit(job(2)).unwrap();
        let first = claim_done(q, 1);
        q.complete(first, Outcome::Success).unwrap();
        thread::sleep(Duration::from_millis(30));
        let second = claim_done(q, 2);
        q.complete(second, Outcome::Success).unwrap();
        let metrics = q.metrics();
        assert_eq!(metrics.completed, 2);
        assert_eq!(metrics.completed_in_window, 2);
    });
}

/// Delayed jobs are released in order of their due times, whatever the
/// order of their submits: one due in 20 ms submitted before one due in an
/// hour is claimable once its 20 ms pass. (Mutation testing: a timer heap
/// whose comparison said "incomparable" kept the last pushed on top and
/// held the earlier one behind it.)
#[test]
fn delayed_jobs_are_released_by_due_time_not_submit_order() {
    each(|q| {
        q.submit(job(1).delay(Duration::from_millis(20))).unwrap();
        q.submit(job(2).delay(Duration::from_secs(3600))).unwrap();
        q.submit(job(3).delay(Duration::from_millis(10))).unwrap();
        let claim = q.claim_wait(R, Duration::from_secs(10)).unwrap();
        assert_eq!(claim.job(), JobId(3));
        q.complete(claim, Outcome::Success).unwrap();
        let claim = q.claim_wait(R, Duration::from_secs(10)).unwrap();
        assert_eq!(claim.job(), JobId(1));
        q.complete(claim, Outcome::Success).unwrap();
        assert_eq!(q.claim(R), None, "job 2 is due in an hour");
        assert_eq!(state(q, 2), JobState::Waiting);
    });
}

#[test]
fn retries_wait_for_their_backoff() {
    let backoff = RetryBackoff::new(Duration::from_millis(20), Duration::from_secs(1)).unwrap();
    each_with(common::config_with(|b| b.retry_backoff(backoff)), |q| {
        q.submit(job(1).max_retries(3)).unwrap();
        let mut claim = claim_done(q, 1);
        for _ in 0..3 {
            // The draw is a function of the record and the retry, so the
            // test can know it: not claimable earlier than that.
            let wait = backoff.delay(claim.attempt(), claim.incarnation());
            assert!(wait <= backoff.ceiling(claim.attempt()));
            let failed_at = Instant::now();
            assert_eq!(q.fail(claim, "flaky"), Ok(Completion::Retrying));
            claim = q.claim_wait(R, Duration::from_secs(10)).unwrap();
            let waited = failed_at.elapsed();
            // The queue's clock ticks in milliseconds (coarse): 5 ms slack.
            assert!(
                waited + Duration::from_millis(5) >= wait,
                "claimed after {waited:?}, backoff {wait:?}"
            );
            assert!(waited < wait + Duration::from_secs(2), "{waited:?}");
        }
        assert_eq!(claim.attempt(), 4);
        assert_eq!(
            q.complete(claim, Outcome::Success),
            Ok(Completion::Completed)
        );
        assert_eq!(q.metrics().retried, 3);
    });
    // A job's own backoff overrides the queue's; NONE retries at once.
    each_with(common::config_with(|b| b.retry_backoff(backoff)), |q| {
        q.submit(job(1).max_retries(1).retry_backoff(RetryBackoff::NONE))
            .unwrap();
        let c = claim_done(q, 1);
        q.complete(c, Outcome::Failure).unwrap();
        assert_eq!(state(q, 1), JobState::Pending);
    });
}

// -------------------------------------------------------- dependency kinds

#[test]
fn after_any_and_after_failure_edges() {
    use DependencyKind::{AfterAny, AfterFailure};
    each(|q| {
        // 1 succeeds, 2 fails, 3 is cancelled; each has a cleanup (after
        // any) and an error handler (after failure).
        for id in 1..=3 {
            q.submit(job(id)).unwrap();
            q.submit(job(10 + id).depends_on_kind(AfterAny, ids(&[id])))
                .unwrap();
            q.submit(job(20 + id).depends_on_kind(AfterFailure, ids(&[id])))
                .unwrap();
        }
        // 30 needs handler 21 to have run (after success); 31 runs after
        // handler 21 whatever happens to it.
        q.submit(job(30).depends_on(ids(&[21]))).unwrap();
        q.submit(job(31).depends_on_kind(AfterAny, ids(&[21])))
            .unwrap();
        assert!(!q.dependencies_satisfied(JobId(11)).unwrap());
        let c1 = claim_done(q, 1);
        let c2 = claim_done(q, 2);
        q.cancel(JobId(3)).unwrap();
        q.complete(c1, Outcome::Success).unwrap();
        q.complete(c2, Outcome::Failure).unwrap();
        for cleanup in [11, 12, 13] {
            assert_eq!(state(q, cleanup), JobState::Pending, "cleanup {cleanup}");
            assert!(q.dependencies_satisfied(JobId(cleanup)).unwrap());
        }
        // The handler of the job that succeeded is not needed.
        assert_eq!(state(q, 21), JobState::Cancelled);
        assert_eq!(
            q.job(JobId(21)).unwrap().end,
            Some(JobEnd::DependencySucceeded {
                dependency: JobId(1)
            })
        );
        assert_eq!(state(q, 22), JobState::Pending);
        assert_eq!(state(q, 23), JobState::Pending);
        // The cascade goes on by kind: 30 is cancelled with 21, 31 runs.
        assert_eq!(
            q.job(JobId(30)).unwrap().end,
            Some(JobEnd::DependencyCancelled {
                dependency: JobId(21)
            })
        );
        assert_eq!(state(q, 31), JobState::Pending);
        let metrics = q.metrics();
        assert_eq!(
            (metrics.completed, metrics.failed, metrics.cancelled),
            (1, 1, 3)
        );
    });
}

#[test]
fn edges_of_a_kind_to_jobs_that_already_ended() {
    use DependencyKind::{AfterAny, AfterFailure};
    each(|q| {
        q.submit(job(1)).unwrap();
        q.submit(job(2)).unwrap();
        let c1 = claim_done(q, 1);
        q.complete(c1, Outcome::Success).unwrap();
        let c2 = claim_done(q, 2);
        q.complete(c2, Outcome::Failure).unwrap();
        // Submitted after: the same verdicts.
        q.submit(job(10).depends_on_kind(AfterAny, ids(&[1, 2])))
            .unwrap();
        assert_eq!(state(q, 10), JobState::Pending);
        q.submit(job(11).depends_on_kind(AfterFailure, ids(&[2])))
            .unwrap();
        assert_eq!(state(q, 11), JobState::Pending);
        q.submit(job(12).depends_on_kind(AfterFailure, ids(&[2, 1])))
            .unwrap();
        assert_eq!(
            q.job(JobId(12)).unwrap().end,
            Some(JobEnd::DependencySucceeded {
                dependency: JobId(1)
            })
        );
        // Given later: recorded only when the kind accepts the end.
        q.submit(job(20)).unwrap();
        q.add_dependencies_of_kind(JobId(20), AfterAny, &ids(&[1, 2]))
            .unwrap();
        assert_eq!(state(q, 20), JobState::Pending);
        // An edge it already has keeps its kind.
        q.add_dependencies_of_kind(JobId(20), AfterFailure, &ids(&[1]))
            .unwrap();
        assert_eq!(state(q, 20), JobState::Pending);
        q.submit(job(21)).unwrap();
        q.add_dependencies_of_kind(JobId(21), AfterFailure, &ids(&[1]))
            .unwrap();
        assert_eq!(
            q.job(JobId(21)).unwrap().end,
            Some(JobEnd::DependencySucceeded {
                dependency: JobId(1)
            })
        );
        // A cycle is a cycle whatever the kinds.
        q.submit(job(30)).unwrap();
        q.submit(job(31).depends_on_kind(AfterAny, ids(&[30])))
            .unwrap();
        assert!(matches!(
            q.add_dependencies_of_kind(JobId(30), AfterFailure, &ids(&[31])),
            Err(Error::DependencyCycle { .. })
        ));
    });
}
