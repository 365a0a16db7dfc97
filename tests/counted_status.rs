//! `status()` is counted as transitions happen (not scanned): after racing
//! threads have submitted, claimed, failed, retried, cancelled,
//! reprioritized, added dependencies and pruned, the counts equal a scan of
//! every job's view, field by field.

mod common;

use common::{race, scale};
use dagqueue::*;
use harness::rng::Rng;
use std::collections::BTreeMap;
use std::sync::Mutex;

const THREADS: usize = 4;
const RUNNERS: [RunnerType; 2] = [RunnerType(0), RunnerType(3)];

/// The status a scan of the jobs' views gives (what `status()` computed
/// before it was counted), clusters as the queue reports them.
fn scanned(q: &JobQueue, jobs: &BTreeMap<JobId, (RunnerType, Option<ClusterId>)>) -> QueueStatus {
    let mut status = QueueStatus::default();
    for (&id, &(runner, cluster)) in jobs {
        if let Ok(view) = q.job(id) {
            status.count_job(view.state, view.priority, runner, cluster);
        }
    }
    let counted = q.status();
    for (id, cluster) in &counted.clusters {
        status.add_cluster(
            *id,
            cluster.running,
            cluster.capacity,
            cluster.paused,
            cluster.can_accept,
            cluster.resources,
        );
    }
    status.metrics = counted.metrics;
    status
}

#[test]
fn counted_status_equals_a_scan_after_racing_threads() {
    let q = JobQueue::new();
    q.set_cluster_capacity(ClusterId(1), 2).unwrap();
    q.set_cluster_capacity(ClusterId(2), 3).unwrap();
    let jobs = Mutex::new(BTreeMap::new());
    let per_thread = scale(600, 60);
    let counts = race(THREADS, |thread| {
        let mut rng = Rng::new(thread as u64 + 1);
        let mut held: Vec<Claim> = Vec::new();
        let mut done = 0usize;
        for n in 0..per_thread {
            let id = JobId((thread * per_thread + n) as u64);
            let runner = RUNNERS[rng.below(2) as usize];
            let cluster = match rng.below(3) {
                0 => None,
                c => Some(ClusterId(c as u32)),
            };
            let mut spec = JobSpec::new(id)
                .runner(runner)
                .priority(Priority::ALL[rng.below(5) as usize])
                .max_retries(1);
            if let Some(cluster) = cluster {
                spec = spec.cluster(cluster);
            }
            if n > 0 && rng.below(2) == 0 {
                let earlier = JobId((thread * per_thread + rng.below(n as u64) as usize) as u64);
                spec = spec.depends_on([earlier]);
            }
            if q.submit(spec).is_ok() {
                jobs.lock().unwrap().insert(id, (runner, cluster));
            }
            // Everything else on jobs of any thread.
            let any = JobId(rng.below(((thread + 1) * per_thread) as u64));
            match rng.below(10) {
                0 => drop(q.cancel(any)),
                1 => drop(q.reprioritize(any, Priority::ALL[rng.below(5) as usize])),
                2 => drop(q.add_dependencies(any, &[id])),
                3 if thread == 0 => drop(q.prune_finished()),
                _ => {}
            }
            if let Some(claim) = q.claim(RUNNERS[rng.below(2) as usize]) {
                if rng.below(2) == 0 {
                    let _ = q.start(&claim);
                }
                held.push(claim);
            }
            if held.len() > 2 || (n + 1 == per_thread && !held.is_empty()) {
                let claim = held.remove(rng.below(held.len() as u64) as usize);
                let outcome = if rng.below(4) == 0 {
                    Outcome::Failure
                } else {
                    Outcome::Success
                };
                if q.complete(claim, outcome) == Ok(Completion::Completed) {
                    done += 1;
                }
            }
        }
        for claim in held {
            if q.complete(claim, Outcome::Success) == Ok(Completion::Completed) {
                done += 1;
            }
        }
        done
    });
    assert!(counts.iter().sum::<usize>() > 0, "nothing ran");
    let jobs = jobs.into_inner().unwrap();
    let counted = q.status();
    let expected = scanned(&q, &jobs);
    assert_eq!(counted, expected);
    // The workload went through the transitions counted (the metrics'
    // totals are sums of the same flows, and pruning does not lower them).
    let metrics = q.metrics();
    assert!(metrics.completed > 0 && metrics.cancelled > 0 && metrics.retried > 0);
    assert_eq!(
        metrics.completed,
        counts.iter().map(|&n| n as u64).sum::<u64>()
    );
    assert!(
        counted.by_state.get(JobState::Pending) > 0,
        "no pending job"
    );
    // Pruning: the terminal counts drop to zero, the rest stay.
    q.prune_finished();
    let pruned = q.status();
    assert_eq!(pruned, scanned(&q, &jobs));
    assert_eq!(pruned.by_state.get(JobState::Completed), 0);
    assert_eq!(
        pruned.by_state.get(JobState::Pending),
        counted.by_state.get(JobState::Pending)
    );
}

#[test]
fn threads_that_exit_leave_their_counts() {
    let q = JobQueue::new();
    std::thread::scope(|s| {
        for thread in 0..8u64 {
            let q = &q;
            // Each thread submits, and claims a job another submitted.
            s.spawn(move || {
                q.submit(JobSpec::new(JobId(thread))).unwrap();
                let claim = q.claim(RunnerType::DEFAULT).unwrap();
                q.complete(claim, Outcome::Success).unwrap();
            });
        }
    });
    let status = q.status();
    assert_eq!(status.by_state.get(JobState::Completed), 8);
    assert_eq!(status.by_state.total(), 8);
    assert!(status.unfinished_by_runner.is_empty());
}

#[test]
fn more_lane_groups_than_a_threads_tally_holds_are_counted_everywhere() {
    // With fair share every user has its own lane group: 2,100 users is
    // more groups than a thread's tally has rows (2,056), so the last ones
    // are counted in the shared tally. Status, metrics and `wait_idle`
    // (which reads the metrics' flows) must all see them.
    let users: u32 = 2_100;
    let q = JobQueue::builder().fair_share(true).build().unwrap();
    for user in 0..users {
        q.submit(JobSpec::new(JobId(u64::from(user))).user(UserId(user)))
            .unwrap();
    }
    assert_eq!(q.status().by_state.get(JobState::Pending), users as usize);
    while let Some(claim) = q.claim(RunnerType::DEFAULT) {
        q.complete(claim, Outcome::Success).unwrap();
    }
    let status = q.status();
    assert_eq!(status.by_state.get(JobState::Completed), users as usize);
    assert_eq!(status.by_state.total(), users as usize);
    let metrics = q.metrics();
    assert_eq!(
        (metrics.scheduled, metrics.completed),
        (users.into(), users.into())
    );
    assert!(q.wait_idle(std::time::Duration::ZERO), "every job ended");
    q.prune_finished();
    assert_eq!(q.status().by_state.total(), 0);
}
