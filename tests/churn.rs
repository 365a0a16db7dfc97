//! Stale lane entries stay proportional to live jobs (issue 12, item 5):
//! reprioritize, cancel, add_dependencies and set-aside churn leave at most
//! a lane's pending jobs plus as many stale entries plus 31
//! (`JobQueue::lane_entries`), and compaction keeps every live job, its
//! level and the order within its level. Memory and claim latency after
//! millions of calls are measured by `harness/src/bin/churn.rs`
//! (docs/BENCHMARKS.md).

use dagqueue::{
    CancelOutcome, ClusterId, JobId, JobQueue, JobSpec, JobState, Outcome, Priority, Resources,
    RunnerType,
};
use std::sync::Arc;
use std::time::Duration;

const R: RunnerType = RunnerType::DEFAULT;

/// The bound with one thread at a time, no entry set aside: each lane
/// holds its pending jobs' entries, at most as many stale ones, plus 31;
/// `levels`: how many lanes the churn leaves stale entries in.
fn bound(pending: usize, levels: usize) -> usize {
    2 * pending + 31 * levels
}

/// `even` on even calls, `odd` on odd ones.
fn alternate(call: u32, even: Priority, odd: Priority) -> Priority {
    if call % 2 == 0 {
        even
    } else {
        odd
    }
}

/// Claims everything, completing each job; returns the ids in claim order.
fn drain(queue: &JobQueue) -> Vec<u64> {
    let mut order = Vec::new();
    while let Some(claim) = queue.claim(R) {
        order.push(claim.job().0);
        queue.start(&claim).unwrap();
        queue.complete(claim, Outcome::Success).unwrap();
    }
    order
}

#[test]
fn reprioritizing_one_job_leaves_a_bounded_lane() {
    let queue = JobQueue::new();
    queue
        .submit(JobSpec::new(JobId(0)).priority(Priority::Low))
        .unwrap();
    let mut most = 0;
    for call in 0..200_000u32 {
        queue
            .reprioritize(JobId(0), alternate(call, Priority::High, Priority::Low))
            .unwrap();
        most = most.max(queue.lane_entries());
    }
    assert!(most <= bound(1, 2), "{most} lane entries for one job");
    assert!(most > 1, "no stale entry was ever counted: {most}");
    assert_eq!(drain(&queue), vec![0]);
    assert_eq!(queue.lane_entries(), 0);
}

#[test]
fn compaction_keeps_every_live_job_in_its_level_and_order() {
    let queue = JobQueue::new();
    // 500 jobs at Normal, in id order, and one job churned between Normal
    // and Low: its stale entries in the Normal lane make compactions move
    // the 500 live ones too.
    for id in 1..=500 {
        queue.submit(JobSpec::new(JobId(id))).unwrap();
    }
    queue
        .submit(JobSpec::new(JobId(1000)).priority(Priority::Low))
        .unwrap();
    for call in 0..50_000u32 {
        queue
            .reprioritize(
                JobId(1000),
                alternate(call, Priority::Normal, Priority::Low),
            )
            .unwrap();
        let entries = queue.lane_entries();
        assert!(entries <= bound(501, 2), "{entries} entries at call {call}");
    }
    // Ends at Low (the last call is odd): served last; the Normal jobs in
    // submission order first.
    let mut expected: Vec<u64> = (1..=500).collect();
    expected.push(1000);
    assert_eq!(drain(&queue), expected);
}

#[test]
fn submit_and_cancel_churn_leaves_no_trail() {
    let queue = JobQueue::new();
    queue.submit(JobSpec::new(JobId(0))).unwrap();
    for id in 1..=100_000 {
        queue.submit(JobSpec::new(JobId(id))).unwrap();
        assert_eq!(queue.cancel(JobId(id)), Ok(CancelOutcome::Cancelled));
        let entries = queue.lane_entries();
        assert!(
            entries <= bound(1, 1),
            "{entries} entries after {id} cancels"
        );
        if id % 10_000 == 0 {
            assert_eq!(queue.prune_finished().len(), 10_000);
        }
    }
    assert_eq!(drain(&queue), vec![0]);
}

#[test]
fn a_job_given_a_dependency_again_and_again_keeps_one_entry() {
    let queue = JobQueue::new();
    queue.submit(JobSpec::new(JobId(0))).unwrap();
    for round in 1..=2_000u64 {
        // 0 waits for `round`, which completes: 0 is pending again, with a
        // new entry; its old one went stale.
        queue
            .submit(JobSpec::new(JobId(round)).priority(Priority::Critical))
            .unwrap();
        queue.add_dependencies(JobId(0), &[JobId(round)]).unwrap();
        assert_eq!(queue.state(JobId(0)), Ok(JobState::Waiting));
        let claim = queue.claim(R).unwrap();
        assert_eq!(claim.job(), JobId(round));
        queue.start(&claim).unwrap();
        queue.complete(claim, Outcome::Success).unwrap();
        assert_eq!(queue.state(JobId(0)), Ok(JobState::Pending));
        let entries = queue.lane_entries();
        assert!(entries <= bound(1, 1), "{entries} entries in round {round}");
    }
    assert_eq!(drain(&queue), vec![0]);
}

#[test]
fn pending_jobs_ended_by_a_new_dependency_leave_no_trail() {
    // Job 0 failed; each new pending job is given 0 as a dependency
    // (after success), which ends it at once: its entry went stale.
    let queue = JobQueue::new();
    queue.submit(JobSpec::new(JobId(0))).unwrap();
    let claim = queue.claim(R).unwrap();
    queue.start(&claim).unwrap();
    queue.complete(claim, Outcome::Failure).unwrap();
    queue.submit(JobSpec::new(JobId(1))).unwrap();
    for id in 2..=2_000u64 {
        queue.submit(JobSpec::new(JobId(id))).unwrap();
        queue.add_dependencies(JobId(id), &[JobId(0)]).unwrap();
        assert_eq!(queue.state(JobId(id)), Ok(JobState::Failed));
        let entries = queue.lane_entries();
        assert!(entries <= bound(1, 1), "{entries} entries after job {id}");
    }
    assert_eq!(drain(&queue), vec![1]);
}

#[test]
fn set_aside_jobs_cancelled_again_and_again_leave_a_bounded_trail() {
    let queue = JobQueue::new();
    let cluster = ClusterId(1);
    let small = Resources {
        cores: 1,
        memory_gb: 1,
    };
    let big = Resources {
        cores: 8,
        memory_gb: 8,
    };
    queue.set_cluster_resources(cluster, small).unwrap();
    let spec = |id| JobSpec::new(JobId(id)).cluster(cluster).resources(big);
    // Job 0 stays: set aside until the cluster grows.
    queue.submit(spec(0)).unwrap();
    assert!(queue.claim(R).is_none());
    for id in 1..=20_000 {
        queue.submit(spec(id)).unwrap();
        // The claim sets it aside (it does not fit), then it is cancelled.
        assert!(queue.claim(R).is_none());
        assert_eq!(queue.cancel(JobId(id)), Ok(CancelOutcome::Cancelled));
        let entries = queue.lane_entries();
        assert!(
            entries <= bound(1, 1),
            "{entries} entries after {id} cancels"
        );
    }
    queue.set_cluster_resources(cluster, big).unwrap();
    assert_eq!(drain(&queue), vec![0]);
}

#[test]
fn reprioritize_churn_with_aging_keeps_promotion() {
    // Aging on: each move to a level below the top also queues an aging
    // entry. Job 0 waits at Low while job 5 is moved back and forth; the
    // compactions that churn triggers drop the stale aging entries and
    // keep the live ones, so both jobs still age.
    let queue = JobQueue::builder()
        .aging(Duration::from_millis(200))
        .build()
        .unwrap();
    for id in [0, 5] {
        queue
            .submit(JobSpec::new(JobId(id)).priority(Priority::Low))
            .unwrap();
    }
    for call in 0..20_001u32 {
        queue
            .reprioritize(JobId(5), alternate(call, Priority::Normal, Priority::Low))
            .unwrap();
        assert!(queue.lane_entries() <= bound(2, 2));
    }
    std::thread::sleep(Duration::from_millis(400));
    // A claim sweeps the aging queues (this one finds no job of its
    // runner type): job 5 (left at Normal by the last call) moves up to
    // High, job 0 from Low to the back of Normal.
    assert!(queue.claim(RunnerType(9)).is_none());
    // Job 1 enters Normal after job 0. Had a live aging entry been
    // dropped, its job would not have moved up.
    queue
        .submit(JobSpec::new(JobId(1)).priority(Priority::Normal))
        .unwrap();
    assert_eq!(drain(&queue), vec![5, 0, 1]);
}

#[test]
fn racing_claims_and_churn_lose_no_job() {
    // Four threads: two reprioritize the 200 jobs back and forth (each
    // call a stale entry, compactions running), two claim and complete.
    // Every job is claimed exactly once.
    let queue = Arc::new(JobQueue::new());
    let jobs = 200u64;
    for id in 0..jobs {
        queue.submit(JobSpec::new(JobId(id))).unwrap();
    }
    let claimed = std::thread::scope(|s| {
        for seed in 0..2u64 {
            let queue = &queue;
            s.spawn(move || {
                for call in 0..40_000u64 {
                    let id = JobId((call * 7 + seed) % jobs);
                    let priority = if (call + seed) % 2 == 0 {
                        Priority::High
                    } else {
                        Priority::Low
                    };
                    // NotQueued once claimed: fine.
                    let _ = queue.reprioritize(id, priority);
                }
            });
        }
        let claimers: Vec<_> = (0..2)
            .map(|_| {
                let queue = &queue;
                s.spawn(move || {
                    let mut mine = Vec::new();
                    while queue.metrics().completed < jobs {
                        let Some(claim) = queue.claim(R) else {
                            std::thread::yield_now();
                            continue;
                        };
                        mine.push(claim.job().0);
                        queue.start(&claim).unwrap();
                        queue.complete(claim, Outcome::Success).unwrap();
                    }
                    mine
                })
            })
            .collect();
        claimers
            .into_iter()
            .flat_map(|c| c.join().unwrap())
            .collect::<Vec<_>>()
    });
    let mut sorted = claimed.clone();
    sorted.sort_unstable();
    assert_eq!(sorted, (0..jobs).collect::<Vec<_>>(), "each job once");
    assert_eq!(queue.metrics().completed, jobs);
    // A claim that finds nothing drops every stale entry on its way.
    assert!(queue.claim(R).is_none());
    assert_eq!(queue.lane_entries(), 0);
}

#[test]
fn a_lane_without_live_jobs_keeps_at_most_31_stale_entries() {
    // 1,000 jobs wait at Low; jobs submitted and cancelled at Normal leave
    // stale entries only in the Normal lane, which holds no live job: it
    // stays at 31 at most (a bound per group would let it reach 1,000, and
    // every claim skip them before reaching Low).
    let queue = JobQueue::new();
    for id in 0..1_000 {
        queue
            .submit(JobSpec::new(JobId(id)).priority(Priority::Low))
            .unwrap();
    }
    for id in 1_000..21_000 {
        queue.submit(JobSpec::new(JobId(id))).unwrap();
        assert_eq!(queue.cancel(JobId(id)), Ok(CancelOutcome::Cancelled));
        let entries = queue.lane_entries();
        assert!(entries <= 1_000 + 31, "{entries} entries after {id}");
    }
    assert_eq!(drain(&queue), (0..1_000).collect::<Vec<_>>());
}

#[test]
fn a_lane_with_live_jobs_and_entries_set_aside_stays_bounded() {
    // Two big jobs set aside on a small cluster, 100 small ones pending in
    // the same lane group, and submit + cancel churn beside them: the
    // Normal lane's stale entries are weighed against its live entries
    // plus the set-aside ones. (Mutation testing: a product in place of
    // that sum never compacted the lane.)
    let queue = JobQueue::new();
    let cluster = ClusterId(1);
    let small = Resources {
        cores: 1,
        memory_gb: 1,
    };
    let big = Resources {
        cores: 8,
        memory_gb: 8,
    };
    queue.set_cluster_resources(cluster, small).unwrap();
    let spec = |id, size| JobSpec::new(JobId(id)).cluster(cluster).resources(size);
    queue.submit(spec(0, big)).unwrap();
    queue.submit(spec(1, big)).unwrap();
    assert!(queue.claim(R).is_none(), "both set aside");
    for id in 10..110 {
        queue.submit(spec(id, small)).unwrap();
    }
    for id in 1_000..11_000 {
        queue.submit(spec(id, small)).unwrap();
        assert_eq!(queue.cancel(JobId(id)), Ok(CancelOutcome::Cancelled));
        let entries = queue.lane_entries();
        // 100 live and 2 set aside, as many stale, plus 31.
        assert!(entries <= 2 * 102 + 31, "{entries} entries after {id}");
    }
    let mut small_ones: Vec<u64> = Vec::new();
    while let Some(claim) = queue.claim(R) {
        small_ones.push(claim.job().0);
        queue.start(&claim).unwrap();
        queue.complete(claim, Outcome::Success).unwrap();
    }
    assert_eq!(small_ones, (10..110).collect::<Vec<_>>());
    queue.set_cluster_resources(cluster, big).unwrap();
    assert_eq!(drain(&queue), vec![0, 1]);
}
