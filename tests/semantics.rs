//! Functional tests of the semantics documented on `Scheduler`, on every
//! implementation: claim order (levels, FIFO, round-robin groups, fair
//! share, aging), retries, cascades, cancellation, clusters (capacity, pause,
//! resources), `claim_wait`, pruning and exact metrics.

mod common;

use common::*;
use dagqueue::{
    CancelOutcome, ClusterId, Completion, Error, JobId, JobSpec, JobState, Outcome, Priority,
    Resources, RunnerType, UserId, WaitError,
};
use harness::Claim;
use harness::Scheduler;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

const R0: RunnerType = RunnerType(0);
const R1: RunnerType = RunnerType(1);
const C1: ClusterId = ClusterId(1);
const C2: ClusterId = ClusterId(2);

fn job(id: u64) -> JobSpec {
    JobSpec::new(JobId(id))
}

fn state(q: &dyn Scheduler, id: u64) -> JobState {
    q.state(JobId(id)).unwrap()
}

fn claim_of(q: &dyn Scheduler, runner: RunnerType) -> JobId {
    q.claim(runner).expect("a job to claim").job()
}

#[test]
fn strict_priority_then_fifo_within_a_level() {
    each_impl(config(), |q| {
        let mut rng = Rng::new(7);
        let mut submitted = Vec::new();
        for id in 0..40u64 {
            let p = Priority::ALL[rng.below(5) as usize];
            q.submit(job(id).priority(p)).unwrap();
            submitted.push((p, JobId(id)));
        }
        // A stable sort keeps submission order within a level.
        let mut expected = submitted.clone();
        expected.sort_by_key(|(p, _)| p.level());
        let expected: Vec<JobId> = expected.into_iter().map(|(_, j)| j).collect();
        assert_eq!(q.schedulable(R0), expected);
        assert_eq!(jobs_of(&drain(q, R0)), expected);
    });
}

#[test]
fn fifo_within_a_level_follows_submission_not_id() {
    each_impl(config(), |q| {
        let order = ids([5, 3, 9, 1, 7, 2, 8]);
        for &j in &order {
            q.submit(JobSpec::new(j)).unwrap();
        }
        assert_eq!(jobs_of(&drain(q, R0)), order);
    });
}

#[test]
fn a_better_level_wins_whatever_group_the_cursor_is_at() {
    each_impl(config(), |q| {
        q.submit(job(1).cluster(C1)).unwrap();
        q.submit(job(2).cluster(C1)).unwrap();
        q.submit(job(3).cluster(C2)).unwrap();
        q.submit(job(4).cluster(C2).priority(Priority::Critical))
            .unwrap();
        q.submit(job(5).priority(Priority::High)).unwrap();
        assert_eq!(jobs_of(&drain(q, R0)), ids([4, 5, 1, 3, 2]));
    });
}

#[test]
fn clusters_are_served_round_robin_within_a_level() {
    each_impl(config(), |q| {
        for id in 1..=3 {
            q.submit(job(id).cluster(C1)).unwrap();
        }
        for id in 4..=5 {
            q.submit(job(id).cluster(C2)).unwrap();
        }
        q.submit(job(6)).unwrap(); // the no-cluster group, used third
        assert_eq!(jobs_of(&drain(q, R0)), ids([1, 4, 6, 2, 5, 3]));
    });
}

#[test]
fn fair_share_round_robin_between_users() {
    let fair = dagqueue::JobQueue::builder()
        .fair_share(true)
        .config()
        .unwrap();
    let submit = |q: &dyn Scheduler| {
        for (id, user) in [(1, 1), (2, 1), (3, 1), (4, 2), (5, 2), (6, 3)] {
            q.submit(job(id).user(UserId(user))).unwrap();
        }
    };
    each_impl(fair, |q| {
        submit(q);
        assert_eq!(jobs_of(&drain(q, R0)), ids([1, 4, 6, 2, 5, 3]));
    });
    // Without fair share one group: plain FIFO.
    each_impl(config(), |q| {
        submit(q);
        assert_eq!(jobs_of(&drain(q, R0)), ids(1..=6));
    });
    // Fair share still yields to a better level.
    each_impl(fair, |q| {
        submit(q);
        q.submit(job(7).user(UserId(1)).priority(Priority::High))
            .unwrap();
        // The claim of 7 moves the cursor past user 1's group.
        assert_eq!(jobs_of(&drain(q, R0)), ids([7, 4, 6, 1, 5, 2, 3]));
    });
}

#[test]
fn runner_types_are_separate() {
    each_impl(config(), |q| {
        q.submit(job(1).runner(R1)).unwrap();
        q.submit(job(2)).unwrap();
        assert_eq!(q.schedulable(R1), ids([1]));
        assert_eq!(q.schedulable(R0), ids([2]));
        assert_eq!(claim_of(q, R1), JobId(1));
        assert_eq!(q.claim(R1), None);
        assert_eq!(claim_of(q, R0), JobId(2));
        assert_eq!(q.schedulable(RunnerType(9)), Vec::<JobId>::new());
        assert_eq!(q.claim(RunnerType(9)), None);
    });
}

#[test]
fn retries_count_attempts_and_go_to_the_back_of_the_lane() {
    each_impl(config(), |q| {
        q.submit(job(1).max_retries(2)).unwrap();
        q.submit(job(2)).unwrap();
        let first = q.claim(R0).unwrap();
        assert_eq!((first.job(), first.attempt()), (JobId(1), 1));
        q.start(&first).unwrap();
        assert_eq!(
            q.complete(first, Outcome::Failure),
            Ok(Completion::Retrying)
        );
        let view = q.job(JobId(1)).unwrap();
        assert_eq!((view.state, view.attempt), (JobState::Pending, 1));
        // Job 2 was ahead in the lane.
        assert_eq!(claim_of(q, R0), JobId(2));
        let second = q.claim(R0).unwrap();
        assert_eq!((second.job(), second.attempt()), (JobId(1), 2));
        assert_eq!(
            q.complete(second, Outcome::Failure),
            Ok(Completion::Retrying)
        );
        let third = q.claim(R0).unwrap();
        assert_eq!(third.attempt(), 3);
        assert_eq!(q.job(JobId(1)).unwrap().attempt, 3);
        assert_eq!(q.complete(third, Outcome::Failure), Ok(Completion::Failed));
        assert_eq!(state(q, 1), JobState::Failed);
        let m = q.metrics();
        assert_eq!(
            (m.scheduled, m.retried, m.failed, m.completed),
            (4, 2, 1, 0)
        );

        // A retry that then succeeds.
        q.submit(job(3).max_retries(1)).unwrap();
        let c = q.claim(R0).unwrap();
        assert_eq!(q.complete(c, Outcome::Failure), Ok(Completion::Retrying));
        let c = q.claim(R0).unwrap();
        assert_eq!(c.attempt(), 2);
        assert_eq!(q.complete(c, Outcome::Success), Ok(Completion::Completed));
        assert_eq!(q.metrics().retried, 3);
    });
}

#[test]
fn failure_cascades_transitively_to_dependents_only() {
    each_impl(config(), |q| {
        q.submit(job(1)).unwrap(); // fails
        q.submit(job(5).runner(R1)).unwrap(); // unrelated, pending
        q.submit(job(2).depends_on([JobId(1)])).unwrap();
        q.submit(job(3).depends_on([JobId(2)])).unwrap();
        q.submit(job(4).depends_on([JobId(1), JobId(5)])).unwrap();
        q.submit(job(6).depends_on([JobId(5)])).unwrap();
        let c = q.claim(R0).unwrap();
        assert_eq!(c.job(), JobId(1));
        assert_eq!(q.complete(c, Outcome::Failure), Ok(Completion::Failed));
        for id in 1..=4 {
            assert_eq!(state(q, id), JobState::Failed, "job {id}");
        }
        assert_eq!(state(q, 5), JobState::Pending);
        assert_eq!(state(q, 6), JobState::Waiting);
        let m = q.metrics();
        assert_eq!((m.failed, m.completed, m.cancelled), (4, 0, 0));
        let status = status(q);
        assert_eq!(status.by_state.get(JobState::Failed), 4);
        assert_eq!(status.unfinished_by_runner.get(&R1), Some(&1));
        assert_eq!(status.unfinished_by_runner.get(&R0), Some(&1));
        assert_eq!(q.claim(R0), None);
    });
}

#[test]
fn cancel_cascades_to_waiting_dependents() {
    each_impl(config(), |q| {
        q.submit(job(1)).unwrap();
        q.submit(job(2).depends_on([JobId(1)])).unwrap();
        q.submit(job(3).depends_on([JobId(1)])).unwrap();
        q.submit(job(4).depends_on([JobId(2)])).unwrap();
        q.submit(job(5)).unwrap();
        // Cancelling a waiting job takes its dependents, not its dependency.
        assert_eq!(q.cancel(JobId(2)), Ok(CancelOutcome::Cancelled));
        assert_eq!(state(q, 2), JobState::Cancelled);
        assert_eq!(state(q, 4), JobState::Cancelled);
        assert_eq!(state(q, 1), JobState::Pending);
        assert_eq!(state(q, 3), JobState::Waiting);
        assert_eq!(q.metrics().cancelled, 2);
        // Cancelling a pending job takes the rest.
        assert_eq!(q.cancel(JobId(1)), Ok(CancelOutcome::Cancelled));
        assert_eq!(state(q, 1), JobState::Cancelled);
        assert_eq!(state(q, 3), JobState::Cancelled);
        assert_eq!(state(q, 5), JobState::Pending);
        assert_eq!(q.metrics().cancelled, 4);
        assert!(!q.job(JobId(1)).unwrap().cancel_requested);
        // The cancelled job left its lane.
        assert_eq!(q.schedulable(R0), ids([5]));
        assert_eq!(jobs_of(&drain(q, R0)), ids([5]));
    });
}

#[test]
fn cancel_of_a_claimed_job_is_requested_and_ends_cancelled_on_report() {
    each_impl(config(), |q| {
        q.set_cluster_capacity(C1, 1).unwrap();
        q.submit(job(1).cluster(C1)).unwrap();
        q.submit(job(2).depends_on([JobId(1)])).unwrap();
        let c = q.claim(R0).unwrap();
        assert_eq!(q.cancel(JobId(1)), Ok(CancelOutcome::Requested));
        let view = q.job(JobId(1)).unwrap();
        assert_eq!(
            (view.state, view.cancel_requested),
            (JobState::Scheduled, true)
        );
        assert_eq!(q.status().clusters[&C1].running, 1);
        assert_eq!(q.start(&c), Err(Error::CancelRequested(JobId(1))));
        assert_eq!(q.complete(c, Outcome::Success), Ok(Completion::Cancelled));
        assert_eq!(state(q, 1), JobState::Cancelled);
        assert_eq!(state(q, 2), JobState::Cancelled);
        assert_eq!(q.status().clusters[&C1].running, 0);
        let m = q.metrics();
        assert_eq!((m.completed, m.cancelled, m.failed), (0, 2, 0));

        // A running job with retries left: a failure still ends Cancelled.
        q.submit(job(3).cluster(C1).max_retries(3)).unwrap();
        let c = q.claim(R0).unwrap();
        q.start(&c).unwrap();
        assert_eq!(q.cancel(JobId(3)), Ok(CancelOutcome::Requested));
        assert_eq!(q.job(JobId(3)).unwrap().state, JobState::Running);
        assert_eq!(q.complete(c, Outcome::Failure), Ok(Completion::Cancelled));
        assert_eq!(state(q, 3), JobState::Cancelled);
        let m = q.metrics();
        assert_eq!((m.retried, m.cancelled, m.failed), (0, 3, 0));
    });
}

#[test]
fn a_job_given_a_failed_or_cancelled_dependency_ends_the_same_way() {
    each_impl(config(), |q| {
        q.submit(job(1)).unwrap();
        let c = q.claim(R0).unwrap();
        q.complete(c, Outcome::Failure).unwrap();
        q.submit(job(2)).unwrap();
        q.cancel(JobId(2)).unwrap();
        let before = q.metrics();
        assert_eq!((before.failed, before.cancelled), (1, 1));

        assert_eq!(q.submit(job(3).depends_on([JobId(1)])), Ok(JobId(3)));
        assert_eq!(state(q, 3), JobState::Failed);
        assert_eq!(q.submit(job(4).depends_on([JobId(2)])), Ok(JobId(4)));
        assert_eq!(state(q, 4), JobState::Cancelled);

        // Through add_dependencies, on a pending and on a waiting job.
        q.submit(job(5)).unwrap();
        q.submit(job(9).runner(R1)).unwrap();
        q.submit(job(6).depends_on([JobId(9)])).unwrap();
        assert_eq!(q.add_dependencies(JobId(5), &[JobId(1)]), Ok(()));
        assert_eq!(state(q, 5), JobState::Failed);
        assert_eq!(q.add_dependencies(JobId(6), &[JobId(2)]), Ok(()));
        assert_eq!(state(q, 6), JobState::Cancelled);

        let m = q.metrics();
        assert_eq!((m.failed, m.cancelled), (3, 3));
        assert_eq!(q.claim(R0), None);
        assert_eq!(q.schedulable(R0), Vec::<JobId>::new());
    });
}

#[test]
fn dependencies_completed_unfinished_and_added_later() {
    each_impl(config(), |q| {
        q.submit(job(1)).unwrap();
        run_all(q, R0);
        // A completed dependency: pending at once.
        q.submit(job(2).depends_on([JobId(1)])).unwrap();
        assert_eq!(state(q, 2), JobState::Pending);
        assert_eq!(q.dependencies_satisfied(JobId(2)), Ok(true));
        // A completed one added later is recorded only.
        q.submit(job(3)).unwrap();
        q.add_dependencies(JobId(3), &[JobId(1)]).unwrap();
        assert_eq!(state(q, 3), JobState::Pending);
        // An unfinished one sends a pending job back to waiting, out of its lane.
        q.submit(job(4).runner(R1)).unwrap();
        q.add_dependencies(JobId(3), &[JobId(4), JobId(1)]).unwrap();
        assert_eq!(state(q, 3), JobState::Waiting);
        assert_eq!(q.dependencies_satisfied(JobId(3)), Ok(false));
        // Adding a dependency it already has changes nothing.
        q.add_dependencies(JobId(3), &[JobId(4)]).unwrap();
        assert_eq!(jobs_of(&drain(q, R0)), ids([2]));
        let c = q.claim(R1).unwrap();
        q.complete(c, Outcome::Success).unwrap();
        assert_eq!(state(q, 3), JobState::Pending);
        assert_eq!(jobs_of(&drain(q, R0)), ids([3]));
    });
}

#[test]
fn dependents_are_released_in_registration_order() {
    each_impl(config(), |q| {
        q.submit(job(1)).unwrap();
        for id in [30, 10, 20] {
            q.submit(job(id).depends_on([JobId(1)])).unwrap();
        }
        q.submit(job(40)).unwrap();
        q.add_dependencies(JobId(40), &[JobId(1)]).unwrap();
        let c = q.claim(R0).unwrap();
        q.complete(c, Outcome::Success).unwrap();
        assert_eq!(jobs_of(&drain(q, R0)), ids([30, 10, 20, 40]));
    });
}

#[test]
fn reprioritize_moves_to_the_back_of_the_new_lane() {
    each_impl(config(), |q| {
        for id in 1..=4 {
            q.submit(job(id)).unwrap();
        }
        // Same level: nothing changes.
        q.reprioritize(JobId(1), Priority::Normal).unwrap();
        assert_eq!(q.schedulable(R0), ids([1, 2, 3, 4]));
        // Away and back: the back of the lane.
        q.reprioritize(JobId(1), Priority::High).unwrap();
        assert_eq!(q.schedulable(R0), ids([1, 2, 3, 4]));
        q.reprioritize(JobId(1), Priority::Normal).unwrap();
        q.reprioritize(JobId(3), Priority::Low).unwrap();
        assert_eq!(q.job(JobId(3)).unwrap().priority, Priority::Low);
        assert_eq!(q.status().queued_by_priority, [0, 0, 3, 1, 0]);
        // A waiting job takes its new level when released.
        q.submit(job(9).runner(R1)).unwrap();
        q.submit(job(5).depends_on([JobId(9)])).unwrap();
        q.reprioritize(JobId(5), Priority::Critical).unwrap();
        assert_eq!(state(q, 5), JobState::Waiting);
        let c = q.claim(R1).unwrap();
        q.complete(c, Outcome::Success).unwrap();
        assert_eq!(jobs_of(&drain(q, R0)), ids([5, 2, 4, 1, 3]));
    });
}

#[test]
fn cluster_capacity_is_respected() {
    each_impl(config(), |q| {
        q.set_cluster_capacity(C1, 2).unwrap();
        for id in 1..=4 {
            q.submit(job(id).cluster(C1)).unwrap();
        }
        q.submit(job(9).priority(Priority::Low)).unwrap();
        let a = q.claim(R0).unwrap();
        let b = q.claim(R0).unwrap();
        assert_eq!((a.job(), b.job()), (JobId(1), JobId(2)));
        let cluster = q.status().clusters[&C1];
        assert_eq!(
            (cluster.running, cluster.queued, cluster.can_accept),
            (2, 2, false)
        );
        // The full cluster is skipped, other groups still served.
        assert_eq!(q.schedulable(R0), ids([9]));
        assert_eq!(claim_of(q, R0), JobId(9));
        assert_eq!(q.claim(R0), None);
        q.complete(a, Outcome::Success).unwrap();
        let c = q.claim(R0).unwrap();
        assert_eq!(c.job(), JobId(3));
        assert_eq!(q.claim(R0), None);
        // Lowering the capacity below the running count stops new claims
        // until enough finish.
        q.set_cluster_capacity(C1, 1).unwrap();
        q.complete(b, Outcome::Success).unwrap();
        assert_eq!(q.claim(R0), None);
        assert!(!q.status().clusters[&C1].can_accept);
        q.complete(c, Outcome::Success).unwrap();
        assert_eq!(claim_of(q, R0), JobId(4));
        let cluster = q.status().clusters[&C1];
        assert_eq!(
            (cluster.running, cluster.capacity, cluster.queued),
            (1, 1, 0)
        );
    });
}

#[test]
fn a_cluster_named_by_a_job_gets_the_default_capacity() {
    let three = dagqueue::JobQueue::builder()
        .default_capacity(3)
        .config()
        .unwrap();
    each_impl(three, |q| {
        for id in 1..=5 {
            q.submit(job(id).cluster(C2)).unwrap();
        }
        let cluster = q.status().clusters[&C2];
        assert_eq!(
            (cluster.capacity, cluster.paused, cluster.queued),
            (3, false, 5)
        );
        assert_eq!(cluster.resources, None);
        assert_eq!(drain(q, R0).len(), 3);
    });
}

#[test]
fn pause_and_resume_a_cluster() {
    each_impl(config(), |q| {
        q.submit(job(1).cluster(C1)).unwrap();
        q.submit(job(2).cluster(C1)).unwrap();
        q.submit(job(3).cluster(C1)).unwrap();
        let running = q.claim(R0).unwrap();
        q.start(&running).unwrap();
        q.pause_cluster(C1).unwrap();
        let cluster = q.status().clusters[&C1];
        assert_eq!(
            (cluster.paused, cluster.can_accept, cluster.running),
            (true, false, 1)
        );
        assert_eq!(q.claim(R0), None);
        assert_eq!(q.schedulable(R0), Vec::<JobId>::new());
        // Pausing twice is fine; running jobs go on.
        q.pause_cluster(C1).unwrap();
        assert_eq!(
            q.complete(running, Outcome::Success),
            Ok(Completion::Completed)
        );
        assert_eq!(q.claim(R0), None);
        q.resume_cluster(C1).unwrap();
        q.resume_cluster(C1).unwrap(); // resuming a running cluster is no error
        assert!(!q.status().clusters[&C1].paused);
        assert_eq!(jobs_of(&drain(q, R0)), ids([2, 3]));
    });
}

#[test]
fn jobs_that_do_not_fit_are_set_aside_until_resources_change() {
    let slot = |cores| Resources {
        cores,
        memory_gb: 16,
    };
    each_impl(config(), |q| {
        q.set_cluster_resources(C1, slot(4)).unwrap();
        q.submit(job(1).cluster(C1).resources(slot(8))).unwrap();
        q.submit(job(2).cluster(C1).resources(slot(2))).unwrap();
        q.submit(job(3).cluster(C1).resources(slot(6))).unwrap();
        q.submit(job(4).cluster(C1).resources(slot(4))).unwrap();
        assert_eq!(q.schedulable(R0), ids([2, 4]));
        assert_eq!(jobs_of(&drain(q, R0)), ids([2, 4]));
        assert_eq!(state(q, 1), JobState::Pending);
        assert_eq!(state(q, 3), JobState::Pending);
        assert_eq!(q.status().clusters[&C1].resources, Some(slot(4)));
        // A later job that fits is claimed past the set-aside ones.
        q.submit(job(5).cluster(C1)).unwrap();
        assert_eq!(jobs_of(&drain(q, R0)), ids([5]));
        // Bigger slots: the set-aside jobs come back, in the order set aside,
        // behind a job already waiting in the lane.
        q.submit(job(6).cluster(C1).resources(slot(1))).unwrap();
        q.set_cluster_resources(C1, slot(8)).unwrap();
        let mut preview = q.schedulable(R0);
        preview.sort();
        assert_eq!(preview, ids([1, 3, 6]));
        assert_eq!(jobs_of(&drain(q, R0)), ids([6, 1, 3]));
    });
}

/// Runs `attempt` until it is conclusive (returns `Some`): an attempt is
/// inconclusive when the machine stalled long enough to age a job that was
/// meant to be fresh.
fn until_conclusive(mut attempt: impl FnMut(u64) -> Option<()>) {
    for round in 0..10 {
        if attempt(round).is_some() {
            return;
        }
    }
    panic!("the machine stalled in every attempt; aging never measurable");
}

/// A Low job that waited past the aging threshold is served at Normal, ahead
/// of a Normal job that entered after it was promoted. (Promotion may happen
/// lazily, when a claim runs: a claim of an unrelated Critical job after the
/// wait makes sure it happened before the Normal job is submitted.)
#[test]
fn aging_serves_an_old_job_one_level_higher() {
    let aging = Duration::from_millis(50);
    let aged = dagqueue::JobQueue::builder().aging(aging).config().unwrap();
    each_impl(aged, |q| {
        until_conclusive(|round| {
            let (old, trigger, new) =
                (JobId(round * 3), JobId(round * 3 + 1), JobId(round * 3 + 2));
            q.submit(JobSpec::new(old).priority(Priority::Low)).unwrap();
            q.submit(JobSpec::new(trigger).priority(Priority::Critical))
                .unwrap();
            std::thread::sleep(aging + Duration::from_millis(30));
            assert_eq!(q.claim(R0).unwrap().job(), trigger);
            let fresh_since = Instant::now();
            q.submit(JobSpec::new(new).priority(Priority::Normal))
                .unwrap();
            let preview = q.schedulable(R0);
            let first = q.claim(R0).unwrap().job();
            let conclusive = fresh_since.elapsed() < aging;
            drain(q, R0);
            if !conclusive {
                return None;
            }
            assert_eq!(preview, vec![old, new]);
            assert_eq!(first, old);
            // Its priority itself did not change.
            assert_eq!(q.job(old).unwrap().priority, Priority::Low);
            Some(())
        });
    });
}

#[test]
fn aging_lifts_by_one_level_only() {
    let aging = Duration::from_millis(30);
    let aged = dagqueue::JobQueue::builder().aging(aging).config().unwrap();
    each_impl(aged, |q| {
        q.submit(job(1).priority(Priority::Background)).unwrap();
        q.submit(job(2).priority(Priority::Low)).unwrap();
        std::thread::sleep(aging * 3);
        q.submit(job(3).priority(Priority::High)).unwrap();
        // Job 2 is served at Normal, job 1 at Low only (lifted twice it
        // would be at Normal too, and ahead of job 2, having entered first);
        // job 3, fresh or aged, is ahead of both.
        let order = jobs_of(&drain(q, R0));
        assert_eq!(order, ids([3, 2, 1]));
    });
}

#[test]
fn without_aging_an_old_low_job_waits() {
    each_impl(config(), |q| {
        q.submit(job(1).priority(Priority::Low)).unwrap();
        std::thread::sleep(Duration::from_millis(60));
        q.submit(job(2)).unwrap();
        assert_eq!(jobs_of(&drain(q, R0)), ids([2, 1]));
    });
}

/// Starts a thread blocked in `claim_wait` (long timeout), runs `wake` once
/// the thread is (very likely) asleep, and returns what the wait returned.
fn wait_then(q: &dyn Scheduler, runner: RunnerType, wake: impl FnOnce()) -> Option<Claim> {
    let returned = AtomicBool::new(false);
    std::thread::scope(|s| {
        let waiter = s.spawn(|| {
            let claim = q.claim_wait(runner, Duration::from_secs(10));
            returned.store(true, Ordering::SeqCst);
            claim.ok()
        });
        std::thread::sleep(Duration::from_millis(30));
        assert!(
            !returned.load(Ordering::SeqCst),
            "claim_wait returned with nothing claimable"
        );
        wake();
        waiter.join().unwrap()
    })
}

#[test]
fn claim_wait_wakes_on_submit() {
    each_impl(config(), |q| {
        let claim = wait_then(q, R0, || {
            q.submit(job(1)).unwrap();
        });
        assert_eq!(claim.map(|c| c.job()), Some(JobId(1)));
    });
}

#[test]
fn claim_wait_wakes_when_a_dependency_completes() {
    each_impl(config(), |q| {
        q.submit(job(1).runner(R1)).unwrap();
        q.submit(job(2).depends_on([JobId(1)])).unwrap();
        let first = q.claim(R1).unwrap();
        let claim = wait_then(q, R0, || {
            q.complete(first, Outcome::Success).unwrap();
        });
        assert_eq!(claim.map(|c| c.job()), Some(JobId(2)));
    });
}

#[test]
fn claim_wait_wakes_on_resume_capacity_and_resources() {
    each_impl(config(), |q| {
        // Resume.
        q.submit(job(1).cluster(C1)).unwrap();
        q.pause_cluster(C1).unwrap();
        let claim = wait_then(q, R0, || q.resume_cluster(C1).unwrap());
        assert_eq!(claim.clone().map(|c| c.job()), Some(JobId(1)));
        // A slot freed by a completion.
        q.set_cluster_capacity(C1, 1).unwrap();
        q.submit(job(2).cluster(C1)).unwrap();
        let claim = wait_then(q, R0, || {
            q.complete(claim.unwrap(), Outcome::Success).unwrap();
        });
        assert_eq!(claim.map(|c| c.job()), Some(JobId(2)));
        // A raised capacity.
        q.submit(job(3).cluster(C1)).unwrap();
        let claim = wait_then(q, R0, || q.set_cluster_capacity(C1, 2).unwrap());
        assert_eq!(claim.map(|c| c.job()), Some(JobId(3)));
        // Bigger slots.
        q.set_cluster_resources(
            C2,
            Resources {
                cores: 1,
                memory_gb: 1,
            },
        )
        .unwrap();
        let big = Resources {
            cores: 4,
            memory_gb: 4,
        };
        q.submit(job(4).cluster(C2).resources(big)).unwrap();
        assert_eq!(q.claim(R0), None); // sets it aside
        let claim = wait_then(q, R0, || q.set_cluster_resources(C2, big).unwrap());
        assert_eq!(claim.map(|c| c.job()), Some(JobId(4)));
        // A retry.
        q.submit(job(5).max_retries(1).runner(R1)).unwrap();
        let first = q.claim(R1).unwrap();
        let claim = wait_then(q, R1, || {
            q.complete(first, Outcome::Failure).unwrap();
        });
        assert_eq!(claim.map(|c| (c.job(), c.attempt())), Some((JobId(5), 2)));
    });
}

#[test]
fn claim_wait_wakes_every_waiter_that_can_be_served() {
    each_impl(config(), |q| {
        const WAITERS: usize = 4;
        let claims = std::thread::scope(|s| {
            let waiters: Vec<_> = (0..WAITERS)
                .map(|_| s.spawn(|| q.claim_wait(R0, Duration::from_secs(10))))
                .collect();
            std::thread::sleep(Duration::from_millis(30));
            for id in 0..WAITERS as u64 {
                q.submit(job(id)).unwrap();
            }
            waiters
                .into_iter()
                .map(|w| w.join().unwrap())
                .collect::<Vec<_>>()
        });
        let mut got: Vec<JobId> = claims
            .into_iter()
            .map(|c| c.expect("woken").job())
            .collect();
        got.sort();
        assert_eq!(got, ids(0..WAITERS as u64));
    });
}

#[test]
fn claim_wait_times_out() {
    each_impl(config(), |q| {
        let timeout = Duration::from_millis(40);
        let started = Instant::now();
        assert_eq!(q.claim_wait(R0, timeout), Err(WaitError::TimedOut));
        assert!(started.elapsed() >= timeout);
        // Something there, but not claimable: still None after the timeout.
        q.submit(job(1).cluster(C1)).unwrap();
        q.pause_cluster(C1).unwrap();
        q.submit(job(2).runner(R1)).unwrap();
        let started = Instant::now();
        assert_eq!(q.claim_wait(R0, timeout), Err(WaitError::TimedOut));
        assert!(started.elapsed() >= timeout);
        // Something claimable: at once.
        q.submit(job(3)).unwrap();
        assert_eq!(q.claim_wait(R0, timeout).map(|c| c.job()), Ok(JobId(3)));
        assert_eq!(q.claim_wait(R0, Duration::ZERO), Err(WaitError::TimedOut));
    });
}

#[test]
fn prune_forgets_finished_jobs_only() {
    each_impl(config(), |q| {
        q.submit(job(1)).unwrap();
        q.submit(job(2)).unwrap();
        q.submit(job(3)).unwrap();
        let c = q.claim(R0).unwrap();
        q.complete(c, Outcome::Success).unwrap();
        let c = q.claim(R0).unwrap();
        q.complete(c, Outcome::Failure).unwrap();
        q.cancel(JobId(3)).unwrap();
        q.submit(job(4).depends_on([JobId(1)])).unwrap(); // pending
        q.submit(job(5).depends_on([JobId(4)])).unwrap(); // waiting
        q.submit(job(6).runner(R1)).unwrap();
        let running = q.claim(R1).unwrap();
        q.start(&running).unwrap();
        let metrics = q.metrics();

        assert_eq!(q.prune_finished().len(), 3);
        for id in 1..=3 {
            assert_eq!(q.state(JobId(id)), Err(Error::UnknownJob(JobId(id))));
        }
        assert_eq!(state(q, 4), JobState::Pending);
        assert_eq!(q.dependencies_satisfied(JobId(4)), Ok(true));
        assert_eq!(state(q, 5), JobState::Waiting);
        assert_eq!(state(q, 6), JobState::Running);
        assert_eq!(q.status().by_state.total(), 3);
        assert_eq!(q.metrics(), metrics);
        assert_eq!(
            q.submit(job(7).depends_on([JobId(1)])),
            Err(Error::UnknownDependency {
                job: JobId(7),
                dependency: JobId(1)
            })
        );
        assert_eq!(q.prune_finished().len(), 0);
        // The id is free again.
        assert_eq!(q.submit(job(1)), Ok(JobId(1)));
        // The survivors still work.
        q.complete(running, Outcome::Success).unwrap();
        assert_eq!(run_all(q, R0), ids([4, 1, 5]));
        assert_eq!(q.prune_finished().len(), 4);
        assert_eq!(q.status().by_state.total(), 0);
    });
}

#[test]
fn metrics_are_exact() {
    each_impl(config(), |q| {
        assert_eq!(q.metrics().average_wait, Duration::ZERO);
        assert_eq!(q.metrics().failure_rate(), 0.0);
        q.submit(job(1).max_retries(1)).unwrap();
        q.submit(job(2)).unwrap();
        q.submit(job(3)).unwrap();
        q.submit(job(4).depends_on([JobId(3)])).unwrap();
        q.submit(job(5)).unwrap();
        let expect_claim = |id| {
            let c = q.claim(R0).unwrap();
            assert_eq!(c.job(), JobId(id));
            c
        };
        let c = expect_claim(1);
        assert_eq!(q.complete(c, Outcome::Failure), Ok(Completion::Retrying));
        let c = expect_claim(2);
        assert_eq!(q.complete(c, Outcome::Failure), Ok(Completion::Failed));
        let c = expect_claim(3);
        assert_eq!(q.complete(c, Outcome::Failure), Ok(Completion::Failed));
        assert_eq!(q.cancel(JobId(5)), Ok(CancelOutcome::Cancelled));
        let c = expect_claim(1);
        assert_eq!(c.attempt(), 2);
        assert_eq!(
            q.complete(c.clone(), Outcome::Success),
            Ok(Completion::Completed)
        );
        // Rejected reports count nothing.
        assert!(q.complete(c, Outcome::Success).is_err());

        let m = q.metrics();
        assert_eq!(
            (m.scheduled, m.completed, m.failed, m.retried, m.cancelled),
            (4, 1, 3, 1, 1)
        );
        assert_eq!(m.completed_in_window, 1);
        assert_eq!(m.failure_rate(), 0.75);
        assert_eq!(m.jobs_per_hour(), 60.0);
        assert_eq!(q.status().metrics.completed, 1);
        let status = status(q);
        assert_eq!(status.by_state.get(JobState::Completed), 1);
        assert_eq!(status.by_state.get(JobState::Failed), 3);
        assert_eq!(status.by_state.get(JobState::Cancelled), 1);
        assert_eq!(status.queued_by_priority, [0; 5]);
        assert_eq!(status.unfinished_by_runner.values().sum::<usize>(), 0);
    });
}

#[test]
fn status_counts_by_state_priority_runner_and_cluster() {
    each_impl(config(), |q| {
        q.set_cluster_capacity(C1, 5).unwrap();
        q.submit(job(1).cluster(C1).priority(Priority::High))
            .unwrap();
        q.submit(job(2).cluster(C1).depends_on([JobId(1)])).unwrap();
        q.submit(job(3).runner(R1).priority(Priority::Low)).unwrap();
        q.submit(job(4).cluster(C2)).unwrap();
        let c = q.claim(R0).unwrap();
        assert_eq!(c.job(), JobId(1));
        q.start(&c).unwrap();
        let status = status(q);
        let counts: Vec<usize> = JobState::ALL
            .iter()
            .map(|&s| status.by_state.get(s))
            .collect();
        assert_eq!(counts, [1, 2, 0, 1, 0, 0, 0]);
        assert_eq!(status.queued_by_priority, [0, 0, 2, 1, 0]);
        assert_eq!(status.unfinished_by_runner.get(&R0), Some(&3));
        assert_eq!(status.unfinished_by_runner.get(&R1), Some(&1));
        let c1 = status.clusters[&C1];
        assert_eq!(
            (c1.running, c1.capacity, c1.queued, c1.can_accept),
            (1, 5, 1, true)
        );
        let c2 = status.clusters[&C2];
        assert_eq!((c2.running, c2.capacity, c2.queued), (0, 8, 1));
        assert_eq!(status.clusters.len(), 2);
    });
}

/// A pruned id reused by a new job is a different job: the old job's
/// dependents stay satisfied, and a dependency on them closes no cycle.
#[test]
fn a_pruned_id_reused_is_a_new_job() {
    each_impl(config(), |q| {
        q.submit(job(11)).unwrap();
        run_all(q, R0);
        q.submit(job(1).depends_on([JobId(11)]).runner(R1)).unwrap();
        assert_eq!(q.prune_finished().len(), 1);
        q.submit(job(11)).unwrap();
        assert_eq!(q.dependencies_satisfied(JobId(1)), Ok(true));
        assert_eq!(state(q, 1), JobState::Pending);
        // The new 11 may depend on 1 (which depended on the old 11).
        assert_eq!(q.add_dependencies(JobId(11), &[JobId(1)]), Ok(()));
        assert_eq!(state(q, 11), JobState::Waiting);
        // Failing the new 11 does not touch 1.
        let c = q.claim(R1).unwrap();
        assert_eq!(c.job(), JobId(1));
        q.complete(c, Outcome::Success).unwrap();
        let c = q.claim(R0).unwrap();
        assert_eq!(c.job(), JobId(11));
        assert_eq!(q.complete(c, Outcome::Failure), Ok(Completion::Failed));
        assert_eq!(state(q, 1), JobState::Completed);
    });
}
