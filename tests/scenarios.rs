//! Eleven concurrency scenarios (racing claims, completions, cancels,
//! dependency releases, pauses, previews), on every implementation, with
//! real OS threads released together by a barrier, many rounds each, and
//! exact counts. They began as the test suite of the asyncio job manager
//! this crate replaces, which asserted only `>= 1` where these assert
//! exact numbers.

mod common;

use common::*;
use dagqueue::{
    ClusterId, Completion, Error, JobId, JobSpec, JobState, Outcome, Priority, QueueConfig,
    Resources, RunnerType,
};
use harness::audit::{verify, DagInfo, EventKind, EventLog, Recorder};
use harness::Claim;
use harness::Scheduler;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// Completes `claim` successfully and records what the verifier needs of it:
/// the slot release (before the report, as the queue releases it inside
/// `complete`), then the report with its result.
fn complete_logged(
    q: &dyn Scheduler,
    rec: &mut Recorder<'_>,
    claim: Claim,
    cluster: Option<ClusterId>,
) {
    rec.record(EventKind::Released {
        claim: claim.clone(),
        cluster,
    });
    let result = q.complete(claim.clone(), Outcome::Success);
    rec.record(EventKind::Reported {
        claim,
        outcome: Outcome::Success,
        result,
    });
}

const R0: RunnerType = RunnerType(0);

fn priority_of(id: u64) -> Priority {
    Priority::ALL[(id % 5) as usize]
}

fn spec(id: u64) -> JobSpec {
    JobSpec::new(JobId(id)).priority(priority_of(id))
}

/// The levels of a list of jobs whose priority is `priority_of(id)`.
fn levels(jobs: &[JobId]) -> Vec<u8> {
    jobs.iter().map(|j| priority_of(j.0).level()).collect()
}

fn is_sorted(levels: &[u8]) -> bool {
    levels.windows(2).all(|w| w[0] <= w[1])
}

/// Scenario 1: concurrent submit of 20 jobs. Four threads each submit all 20
/// ids (in different orders): every id is accepted exactly once, every other
/// attempt is `DuplicateJob`, and the queue holds exactly 20 pending jobs.
#[test]
fn s01_concurrent_submit_each_job_present_exactly_once() {
    const JOBS: u64 = 20;
    each_round(rounds(200), config(), |q, _| {
        let results = race(4, |t| {
            (0..JOBS)
                .map(|k| {
                    let id = (k + 5 * t as u64) % JOBS;
                    (id, q.submit(spec(id)))
                })
                .collect::<Vec<_>>()
        });
        let mut accepted = [0usize; JOBS as usize];
        for (id, result) in results.into_iter().flatten() {
            match result {
                Ok(job) => {
                    assert_eq!(job, JobId(id));
                    accepted[id as usize] += 1;
                }
                Err(error) => assert_eq!(error, Error::DuplicateJob(JobId(id))),
            }
        }
        assert_eq!(accepted, [1; JOBS as usize]);

        let status = status(q);
        assert_eq!(status.by_state.get(JobState::Pending), JOBS as usize);
        assert_eq!(status.by_state.total(), JOBS as usize);
        assert_eq!(status.queued_by_priority, [4; 5]);
        assert_eq!(status.unfinished_by_runner.get(&R0), Some(&(JOBS as usize)));

        let preview = q.schedulable(R0);
        assert_eq!(preview.len(), JOBS as usize);
        assert_eq!(
            preview.iter().collect::<BTreeSet<_>>(),
            ids(0..JOBS).iter().collect()
        );
        assert!(is_sorted(&levels(&preview)), "{preview:?}");

        let claims = drain(q, R0);
        assert_eq!(claims.len(), JOBS as usize);
        assert!(claims.iter().all(|c| c.attempt() == 1));
        let claimed: BTreeSet<JobId> = jobs_of(&claims).into_iter().collect();
        assert_eq!(claimed.len(), JOBS as usize);
        assert!(is_sorted(&levels(&jobs_of(&claims))));
    });
}

/// Scenario 2: concurrent `schedulable()` previews agree, and claim nothing.
/// 30 jobs: some waiting on a dependency, some on a paused cluster, one too
/// big for its cluster's slot; the expected preview is known exactly.
#[test]
fn s02_concurrent_previews_agree_and_claim_nothing() {
    let paused = ClusterId(1);
    let small = ClusterId(2);
    each_round(rounds(200), config(), |q, _| {
        q.set_cluster_capacity(paused, 4).unwrap();
        q.set_cluster_resources(
            small,
            Resources {
                cores: 4,
                memory_gb: 8,
            },
        )
        .unwrap();
        let mut expected = Vec::new();
        // Submitted in id order, so entry order agrees with id order.
        for id in 0..30u64 {
            let mut s = spec(id);
            let claimable = match id % 6 {
                0 if id > 0 => {
                    s = s.depends_on([JobId(id - 1)]); // waiting
                    false
                }
                1 => {
                    s = s.cluster(paused);
                    false
                }
                2 if id == 8 => {
                    s = s.cluster(small).resources(Resources {
                        cores: 8,
                        memory_gb: 1,
                    });
                    false
                }
                2 => {
                    s = s.cluster(small).resources(Resources {
                        cores: 4,
                        memory_gb: 8,
                    });
                    true
                }
                _ => true,
            };
            q.submit(s).unwrap();
            if claimable {
                expected.push(JobId(id));
            }
        }
        q.pause_cluster(paused).unwrap();
        expected.sort_by_key(|j| (priority_of(j.0).level(), j.0));
        let before = snapshot(q, &ids(0..30));

        let previews = race(4, |_| {
            (0..5)
                .map(|_| {
                    let preview = q.schedulable(R0);
                    let _ = q.status();
                    preview
                })
                .collect::<Vec<_>>()
        });
        for preview in previews.into_iter().flatten() {
            assert_eq!(preview, expected);
        }
        assert_eq!(snapshot(q, &ids(0..30)), before);
        assert_eq!(q.metrics().scheduled, 0);
    });
}

/// Scenario 3: ten threads claim five jobs; each job is handed out exactly
/// once, exactly five claims in all. Odd rounds: the threads claim until
/// nothing is left, over 50 jobs.
#[test]
fn s03_ten_claimers_each_job_handed_out_once() {
    each_round(rounds(200), config(), |q, round| {
        let jobs: u64 = if round % 2 == 0 { 5 } else { scale(50, 12) };
        for id in 0..jobs {
            q.submit(spec(id)).unwrap();
        }
        let claims = race(10, |_| {
            if round % 2 == 0 {
                q.claim(R0).into_iter().collect::<Vec<_>>()
            } else {
                drain(q, R0)
            }
        });
        let claims: Vec<_> = claims.into_iter().flatten().collect();
        assert_eq!(claims.len(), jobs as usize);
        assert!(claims.iter().all(|c| c.attempt() == 1));
        let claimed: BTreeSet<JobId> = jobs_of(&claims).into_iter().collect();
        assert_eq!(claimed, ids(0..jobs).into_iter().collect());
        assert_eq!(q.claim(R0), None);
        assert_eq!(q.metrics().scheduled, jobs);
        let status = status(q);
        assert_eq!(status.by_state.get(JobState::Scheduled), jobs as usize);
        assert_eq!(status.by_state.total(), jobs as usize);
        for id in 0..jobs {
            assert_eq!(q.state(JobId(id)), Ok(JobState::Scheduled));
        }
    });
}

/// Scenario 4: five concurrent completion reports of one claim: exactly one
/// is accepted, four are `StaleClaim`, the metrics count it once. Reports mix
/// Success and Failure (the job has one retry); the accepted one decides.
#[test]
fn s04_concurrent_completions_count_once() {
    let cluster = ClusterId(1);
    each_round(rounds(200), config(), |q, round| {
        let job = JobId(7);
        q.submit(JobSpec::new(job).cluster(cluster).max_retries(1))
            .unwrap();
        let claim = q.claim(R0).unwrap();
        if round % 2 == 0 {
            q.start(&claim).unwrap();
        }
        let all_success = round % 3 == 0;
        let outcome = |t: usize| {
            if all_success || t % 2 == 0 {
                Outcome::Success
            } else {
                Outcome::Failure
            }
        };
        let results = race(5, |t| (outcome(t), q.complete(claim.clone(), outcome(t))));
        let accepted: Vec<_> = results.iter().filter(|(_, r)| r.is_ok()).collect();
        assert_eq!(accepted.len(), 1, "{results:?}");
        for (_, result) in &results {
            if let Err(error) = result {
                assert_eq!(
                    *error,
                    Error::StaleClaim {
                        job,
                        attempt: claim.attempt()
                    }
                );
            }
        }
        let metrics = q.metrics();
        assert_eq!(metrics.scheduled, 1);
        assert_eq!(q.status().clusters[&cluster].running, 0);
        match accepted[0] {
            (Outcome::Success, Ok(completion)) => {
                assert_eq!(*completion, Completion::Completed);
                assert_eq!(q.state(job), Ok(JobState::Completed));
                assert_eq!((metrics.completed, metrics.retried), (1, 0));
            }
            (Outcome::Failure, Ok(completion)) => {
                assert_eq!(*completion, Completion::Retrying);
                assert_eq!(q.state(job), Ok(JobState::Pending));
                assert_eq!((metrics.completed, metrics.retried), (0, 1));
            }
            other => unreachable!("{other:?}"),
        }
        assert_eq!(metrics.failed, 0);
    });
}

/// Scenario 5: a chain 1 → 2 → 3 → 4 (each depends on the previous):
/// concurrent dependency checks see only job 1 satisfied; while job 1
/// completes concurrently, job 2 flips to satisfied once and never back, and
/// jobs 3 and 4 stay unsatisfied.
#[test]
fn s05_concurrent_dependency_checks_on_a_chain() {
    each_round(rounds(200), config(), |q, _| {
        q.submit(JobSpec::new(JobId(1))).unwrap();
        for id in 2..=4 {
            q.submit(JobSpec::new(JobId(id)).depends_on([JobId(id - 1)]))
                .unwrap();
        }
        let seen = race(4, |_| {
            (0..5)
                .map(|_| {
                    (1..=4)
                        .map(|id| q.dependencies_satisfied(JobId(id)).unwrap())
                        .collect::<Vec<_>>()
                })
                .collect::<Vec<_>>()
        });
        for observation in seen.into_iter().flatten() {
            assert_eq!(observation, [true, false, false, false]);
        }
        assert_eq!(q.state(JobId(1)), Ok(JobState::Pending));
        for id in 2..=4 {
            assert_eq!(q.state(JobId(id)), Ok(JobState::Waiting));
        }

        // Job 1 completes while three threads keep checking.
        let claim = q.claim(R0).unwrap();
        assert_eq!(claim.job(), JobId(1));
        let seen = race(4, |t| {
            if t == 0 {
                q.complete(claim.clone(), Outcome::Success).unwrap();
                return Vec::new();
            }
            (0..20)
                .map(|_| {
                    (1..=4)
                        .map(|id| q.dependencies_satisfied(JobId(id)).unwrap())
                        .collect::<Vec<_>>()
                })
                .collect()
        });
        for thread in seen {
            let mut satisfied_2 = false;
            for observation in thread {
                assert!(observation[0]);
                assert!(!observation[2] && !observation[3], "{observation:?}");
                assert!(!satisfied_2 || observation[1], "job 2 went back");
                satisfied_2 = observation[1];
            }
        }
        let after: Vec<bool> = (1..=4)
            .map(|id| q.dependencies_satisfied(JobId(id)).unwrap())
            .collect();
        assert_eq!(after, [true, true, false, false]);
        assert_eq!(q.state(JobId(2)), Ok(JobState::Pending));
    });
}

/// Scenario 6: jobs submitted while two worker threads claim, start and
/// complete: nothing lost, every job completed exactly once, none before its
/// dependency (checked from an event log).
#[test]
fn s06_submit_while_workers_run_nothing_lost() {
    let jobs: u64 = scale(40, 8);
    each_round(rounds(100), config(), |q, round| {
        let mut rng = Rng::new(round as u64);
        let specs: Vec<JobSpec> = (0..jobs)
            .map(|id| {
                let s = spec(id);
                if id % 4 != 0 {
                    s.depends_on([JobId(id - 1 - rng.below(id.min(3)))])
                } else {
                    s
                }
            })
            .collect();
        let dag = DagInfo::from_specs(&specs);
        let log = EventLog::new();
        let completed = AtomicUsize::new(0);
        // Miri's clock is virtual: no deadline that could fire spuriously.
        let deadline =
            Instant::now() + scale(Duration::from_secs(20), Duration::from_secs(1 << 30));
        race(3, |t| {
            if t == 0 {
                for s in &specs {
                    q.submit(s.clone()).unwrap();
                }
                return;
            }
            let mut rec = log.recorder();
            while completed.load(Ordering::SeqCst) < jobs as usize && Instant::now() < deadline {
                let began = rec.tick();
                let Ok(claim) = q.claim_wait(R0, Duration::from_millis(2)) else {
                    continue;
                };
                rec.record(EventKind::Claimed {
                    claim: claim.clone(),
                    cluster: None,
                    began,
                });
                let result = q.start(&claim);
                rec.record(EventKind::Started {
                    claim: claim.clone(),
                    result,
                });
                complete_logged(q, &mut rec, claim, None);
                completed.fetch_add(1, Ordering::SeqCst);
            }
        });
        log.record_final_states(q, ids(0..jobs));
        let report = verify(&log.events(), &dag).unwrap_or_else(|v| panic!("{v:#?}"));
        assert_eq!(report.claims, jobs as usize);
        assert_eq!(report.completed, jobs as usize);
        let metrics = q.metrics();
        assert_eq!((metrics.scheduled, metrics.completed), (jobs, jobs));
        assert_eq!(status(q).by_state.get(JobState::Completed), jobs as usize);
    });
}

/// Scenario 7: concurrent priority changes. (a) Each thread changes its own
/// jobs (pending and waiting) many times: the last change of each job is
/// what remains, counts by level are exact, and the jobs come out in level
/// order, each once. (b) All threads change the same jobs: each job ends at
/// one thread's last value, and sits in exactly one lane.
#[test]
fn s07_concurrent_reprioritize_every_change_applied() {
    let blocker = JobId(1000);
    let other_runner = RunnerType(1);
    each_round(rounds(200), config(), |q, round| {
        q.submit(JobSpec::new(blocker).runner(other_runner))
            .unwrap();
        // Threads own jobs t*5 .. t*5+5; odd ids wait on the blocker.
        for id in 0..20u64 {
            let s = spec(id);
            q.submit(if id % 2 == 1 {
                s.depends_on([blocker])
            } else {
                s
            })
            .unwrap();
        }
        let plans: Vec<Vec<(u64, Priority)>> = (0..4)
            .map(|t| {
                let mut rng = Rng::new((round * 4 + t) as u64);
                (0..scale(30, 6))
                    .map(|_| {
                        let id = t as u64 * 5 + rng.below(5);
                        (id, Priority::ALL[rng.below(5) as usize])
                    })
                    .collect()
            })
            .collect();
        let results = race(4, |t| {
            plans[t]
                .iter()
                .map(|&(id, p)| q.reprioritize(JobId(id), p))
                .collect::<Vec<_>>()
        });
        assert!(results.iter().flatten().all(Result::is_ok), "{results:?}");
        let mut expected: BTreeMap<u64, Priority> =
            (0..20).map(|id| (id, priority_of(id))).collect();
        for plan in &plans {
            for &(id, p) in plan {
                expected.insert(id, p);
            }
        }
        let mut by_level = [0usize; 5];
        for (&id, &p) in &expected {
            let view = q.job(JobId(id)).unwrap();
            assert_eq!(view.priority, p, "job {id}");
            let state = if id % 2 == 1 {
                JobState::Waiting
            } else {
                JobState::Pending
            };
            assert_eq!(view.state, state, "job {id}");
            by_level[p.level() as usize] += 1;
        }
        by_level[Priority::Normal.level() as usize] += 1; // the blocker
        assert_eq!(status(q).queued_by_priority, by_level);

        // Release the waiting half, then drain: each job once, by level.
        let b = q.claim(other_runner).unwrap();
        q.complete(b, Outcome::Success).unwrap();
        let order: Vec<JobId> = jobs_of(&drain(q, R0));
        assert_eq!(order.len(), 20);
        assert_eq!(order.iter().collect::<BTreeSet<_>>().len(), 20);
        let order_levels: Vec<u8> = order.iter().map(|j| expected[&j.0].level()).collect();
        assert!(is_sorted(&order_levels), "{order_levels:?}");
    });

    // (b) the same five jobs from every thread.
    each_round(rounds(200), config(), |q, round| {
        for id in 0..5u64 {
            q.submit(spec(id)).unwrap();
        }
        let plans: Vec<Vec<(u64, Priority)>> = (0..4)
            .map(|t| {
                let mut rng = Rng::new((round * 4 + t) as u64 ^ 0xABCD);
                (0..20)
                    .map(|_| (rng.below(5), Priority::ALL[rng.below(5) as usize]))
                    .collect()
            })
            .collect();
        race(4, |t| {
            for &(id, p) in &plans[t] {
                q.reprioritize(JobId(id), p).unwrap();
            }
        });
        for id in 0..5u64 {
            let mut candidates: BTreeSet<Priority> = plans
                .iter()
                .filter_map(|plan| plan.iter().rev().find(|(j, _)| *j == id).map(|(_, p)| *p))
                .collect();
            if candidates.is_empty() {
                candidates.insert(priority_of(id));
            }
            let p = q.job(JobId(id)).unwrap().priority;
            assert!(
                candidates.contains(&p),
                "job {id}: {p:?} not in {candidates:?}"
            );
        }
        assert_eq!(status(q).queued_by_priority.iter().sum::<usize>(), 5);
        let preview = q.schedulable(R0);
        assert_eq!(preview.len(), 5, "{preview:?}");
        let order = jobs_of(&drain(q, R0));
        assert_eq!(order.len(), 5, "{order:?}");
        assert_eq!(order.iter().collect::<BTreeSet<_>>().len(), 5);
        // Same jobs; both in level order. (Their order within a level may
        // differ: concurrent moves take their entry time and their lane
        // place in separate steps.)
        assert_eq!(
            preview.iter().collect::<BTreeSet<_>>(),
            order.iter().collect::<BTreeSet<_>>()
        );
        let level = |j: &JobId| q.job(*j).unwrap().priority.level();
        assert!(is_sorted(&preview.iter().map(level).collect::<Vec<_>>()));
        assert!(is_sorted(&order.iter().map(level).collect::<Vec<_>>()));
    });
}

/// Scenario 8: concurrent pause / resume of one cluster while a thread
/// claims there. No deadlock (watchdog); the final state is the last
/// operation every thread did (all resume, or all pause); no claim succeeds
/// while the cluster is surely paused (checked from the event log).
#[test]
fn s08_concurrent_pause_resume_no_deadlock_consistent_state() {
    let limit = scale(Duration::from_secs(120), Duration::from_secs(1 << 30));
    with_watchdog(limit, "pause/resume scenario", || {
        let cluster = ClusterId(3);
        each_round(rounds(200), config(), |q, round| {
            let jobs: u64 = scale(100, 12);
            q.set_cluster_capacity(cluster, 1000).unwrap();
            let specs: Vec<JobSpec> = (0..jobs)
                .map(|id| JobSpec::new(JobId(id)).cluster(cluster))
                .collect();
            for s in &specs {
                q.submit(s.clone()).unwrap();
            }
            let end_paused = round % 2 == 1;
            let log = EventLog::new();
            race(5, |t| {
                let mut rec = log.recorder();
                if t == 4 {
                    // The claimer: claims, and reports at once.
                    for _ in 0..scale(30, 6) {
                        let began = rec.tick();
                        if let Some(claim) = q.claim(R0) {
                            rec.record(EventKind::Claimed {
                                claim: claim.clone(),
                                cluster: Some(cluster),
                                began,
                            });
                            complete_logged(q, &mut rec, claim, Some(cluster));
                        }
                    }
                    return;
                }
                let mut rng = Rng::new((round * 5 + t) as u64);
                let ops = scale(10, 3);
                for k in 0..ops {
                    let pause = if k == ops - 1 {
                        end_paused
                    } else {
                        rng.chance(50)
                    };
                    let began = rec.tick();
                    if pause {
                        q.pause_cluster(cluster).unwrap();
                        rec.record(EventKind::Paused { cluster, began });
                    } else {
                        q.resume_cluster(cluster).unwrap();
                        rec.record(EventKind::Resumed { cluster, began });
                    }
                }
            });
            let status = q.status().clusters[&cluster];
            assert_eq!(status.paused, end_paused);
            assert_eq!(status.can_accept, !end_paused);
            assert_eq!(status.running, 0);
            let mut rec = log.recorder();
            if end_paused {
                assert_eq!(q.claim(R0), None);
                assert_eq!(q.schedulable(R0), Vec::<JobId>::new());
                let began = rec.tick();
                q.resume_cluster(cluster).unwrap();
                rec.record(EventKind::Resumed { cluster, began });
            }
            // Drain the rest, logged too.
            loop {
                let began = rec.tick();
                let Some(claim) = q.claim(R0) else { break };
                rec.record(EventKind::Claimed {
                    claim: claim.clone(),
                    cluster: Some(cluster),
                    began,
                });
                complete_logged(q, &mut rec, claim, Some(cluster));
            }
            drop(rec);
            log.record_final_states(q, ids(0..jobs));
            let mut dag = DagInfo::from_specs(&specs);
            dag.set_capacity(cluster, 1000);
            let report = verify(&log.events(), &dag).unwrap_or_else(|v| panic!("{v:#?}"));
            assert_eq!(report.completed, jobs as usize);
            assert_eq!(q.metrics().completed, jobs);
        });
    });
}

/// Scenario 9: 50 jobs under mixed concurrent submit, previews, status and a
/// delayed submitter: all 50 present exactly once, previews always
/// duplicate-free and in level order, then all 50 run once.
#[test]
fn s09_mixed_operations_fifty_jobs_all_present_once() {
    each_round(rounds(200), config(), |q, round| {
        let with_deps = |id: u64| {
            let s = spec(id);
            // Dependencies only within the same submitter's range, on
            // earlier ids, so they exist.
            if id % 3 == 2 {
                s.depends_on([JobId(id - 1)])
            } else {
                s
            }
        };
        let previews = race(4, |t| match t {
            0 => {
                for id in 0..25 {
                    q.submit(with_deps(id)).unwrap();
                }
                Vec::new()
            }
            1 => {
                // The delayed submitter.
                for _ in 0..(round % 7) * 20 {
                    std::thread::yield_now();
                }
                for id in 25..50 {
                    q.submit(with_deps(id)).unwrap();
                }
                Vec::new()
            }
            2 => (0..scale(20, 4)).map(|_| q.schedulable(R0)).collect(),
            _ => {
                for _ in 0..10 {
                    let status = q.status();
                    assert!(status.by_state.total() <= 50);
                    let waiting = status.by_state.get(JobState::Waiting);
                    let pending = status.by_state.get(JobState::Pending);
                    assert_eq!(waiting + pending, status.by_state.total());
                }
                Vec::new()
            }
        });
        for preview in previews.into_iter().flatten() {
            let unique: BTreeSet<_> = preview.iter().collect();
            assert_eq!(unique.len(), preview.len(), "duplicates in {preview:?}");
            assert!(preview.iter().all(|j| j.0 < 50));
            assert!(preview.iter().all(|j| j.0 % 3 != 2), "{preview:?}");
            assert!(is_sorted(&levels(&preview)), "{preview:?}");
        }
        let status = status(q);
        assert_eq!(status.by_state.total(), 50);
        let waiting = (0..50).filter(|id| id % 3 == 2).count();
        assert_eq!(status.by_state.get(JobState::Waiting), waiting);
        assert_eq!(status.by_state.get(JobState::Pending), 50 - waiting);
        let preview = q.schedulable(R0);
        assert_eq!(
            preview.iter().copied().collect::<BTreeSet<_>>(),
            ids((0..50).filter(|id| id % 3 != 2)).into_iter().collect()
        );
        let order = run_all(q, R0);
        assert_eq!(order.len(), 50);
        assert_eq!(order.iter().collect::<BTreeSet<_>>().len(), 50);
        assert_eq!(q.metrics().completed, 50);
    });
}

/// Scenario 10: a self-dependency is rejected atomically. While one thread
/// keeps submitting a self-dependent job X, others never see X, and a job
/// depending on X is always `UnknownDependency`; `add_dependencies(z, [z])`
/// is rejected and leaves z as it was.
#[test]
fn s10_self_dependency_rejected_job_not_left_behind() {
    let x = JobId(100);
    let y = JobId(101);
    let z = JobId(102);
    each_round(rounds(200), config(), |q, _| {
        q.submit(JobSpec::new(z).priority(Priority::High)).unwrap();
        let z_before = q.job(z).unwrap();
        race(4, |t| match t {
            0 => {
                for _ in 0..10 {
                    let spec = JobSpec::new(x).depends_on([x]).cluster(ClusterId(9));
                    assert_eq!(q.submit(spec), Err(Error::SelfDependency(x)));
                }
            }
            1 => {
                for _ in 0..10 {
                    assert_eq!(q.state(x), Err(Error::UnknownJob(x)));
                    assert_eq!(q.add_dependencies(z, &[z]), Err(Error::SelfDependency(z)));
                }
            }
            2 => {
                for _ in 0..10 {
                    assert_eq!(
                        q.submit(JobSpec::new(y).depends_on([x])),
                        Err(Error::UnknownDependency {
                            job: y,
                            dependency: x
                        })
                    );
                }
            }
            _ => {
                for id in 0..10 {
                    q.submit(spec(id)).unwrap();
                }
            }
        });
        assert_eq!(q.state(x), Err(Error::UnknownJob(x)));
        assert_eq!(q.state(y), Err(Error::UnknownJob(y)));
        assert_eq!(q.job(z), Ok(z_before));
        assert!(q.dependencies_satisfied(z).unwrap());
        let status = status(q);
        assert_eq!(status.by_state.total(), 11);
        assert!(!status.clusters.contains_key(&ClusterId(9)));
        // The id was not reserved.
        assert_eq!(q.submit(JobSpec::new(x)), Ok(x));
    });
}

/// Scenario 11: a dependency that would close a cycle is rejected and changes
/// nothing; two threads adding a → b and b → a: exactly one succeeds; four
/// threads adding the edges of a 4-ring: exactly three succeed.
#[test]
fn s11_cycle_rejected_atomically_exactly_one_winner() {
    each_round(rounds(200), config(), |q, round| {
        // A chain 1 <- 2 <- 3: job 1 depending on 3 or 2 closes a cycle.
        q.submit(JobSpec::new(JobId(1))).unwrap();
        q.submit(JobSpec::new(JobId(2)).depends_on([JobId(1)]))
            .unwrap();
        q.submit(JobSpec::new(JobId(3)).depends_on([JobId(2)]))
            .unwrap();
        let chain = ids(1..=3);
        let before = snapshot(q, &chain);
        assert_eq!(
            q.add_dependencies(JobId(1), &[JobId(3)]),
            Err(Error::DependencyCycle {
                job: JobId(1),
                dependency: JobId(3)
            })
        );
        assert_eq!(
            q.add_dependencies(JobId(2), &[JobId(3)]),
            Err(Error::DependencyCycle {
                job: JobId(2),
                dependency: JobId(3)
            })
        );
        assert_eq!(snapshot(q, &chain), before);

        // Two threads, opposite edges.
        let (a, b) = (JobId(10), JobId(11));
        q.submit(JobSpec::new(a)).unwrap();
        q.submit(JobSpec::new(b)).unwrap();
        let results = race(2, |t| {
            if t == 0 {
                q.add_dependencies(a, &[b])
            } else {
                q.add_dependencies(b, &[a])
            }
        });
        let winners: Vec<usize> = (0..2).filter(|&t| results[t].is_ok()).collect();
        assert_eq!(winners.len(), 1, "{results:?}");
        let (winner, loser) = if winners[0] == 0 { (a, b) } else { (b, a) };
        assert_eq!(
            results[1 - winners[0]],
            Err(Error::DependencyCycle {
                job: loser,
                dependency: winner
            })
        );
        assert_eq!(q.state(winner), Ok(JobState::Waiting));
        assert_eq!(q.state(loser), Ok(JobState::Pending));
        assert_eq!(q.dependencies_satisfied(winner), Ok(false));

        // Four threads, the edges of a ring: i depends on i+1 (mod 4).
        let ring: Vec<JobId> = ids(20..24);
        for &j in &ring {
            q.submit(JobSpec::new(j)).unwrap();
        }
        let results = race(4, |t| q.add_dependencies(ring[t], &[ring[(t + 1) % 4]]));
        let failed: Vec<usize> = (0..4).filter(|&t| results[t].is_err()).collect();
        assert_eq!(failed.len(), 1, "{results:?}");
        let f = failed[0];
        assert_eq!(
            results[f],
            Err(Error::DependencyCycle {
                job: ring[f],
                dependency: ring[(f + 1) % 4]
            })
        );
        // The ring minus the failed edge is a path: ring[f] has no
        // dependency left and runs first, then ring[f-1], and so on.
        let order = run_all(q, R0);
        let expected_tail: Vec<JobId> = (0..4).map(|k| ring[(f + 4 - k) % 4]).collect();
        let ring_order: Vec<JobId> = order.iter().copied().filter(|j| ring.contains(j)).collect();
        assert_eq!(ring_order, expected_tail, "round {round}");
        assert_eq!(order.len(), 3 + 2 + 4);
        let pos = |j: JobId| order.iter().position(|&o| o == j).unwrap();
        assert!(pos(loser) < pos(winner));
    });
}

#[test]
fn scenario_helpers_sanity() {
    // The level helper agrees with the priorities the scenarios submit.
    assert_eq!(levels(&ids([0, 4, 7])), [0, 4, 2]);
    assert!(is_sorted(&[0, 0, 1, 4]));
    assert!(!is_sorted(&[1, 0]));
    let _ = QueueConfig::default();
}
