//! Multi-threaded stress test, on every implementation: a layered random DAG
//! over clusters with small capacities, jobs that fail (and are retried, or
//! fail their dependents), cancels, a paused-and-resumed cluster, jobs set
//! aside until their cluster's slots grow; worker threads claim_wait, start
//! and complete, recording every step in an `audit::EventLog`. The run is
//! then verified from the log: each attempt handed out once, no job claimed
//! before its dependencies completed, no cluster over capacity, no claim on
//! a paused cluster, every job terminal exactly once, none lost; and the
//! queue's own counts must match the log exactly.
//!
//! Size: `DAGQUEUE_STRESS_JOBS` (default 2000) jobs per run.

mod common;

use common::*;
use dagqueue::{
    ClusterId, JobId, JobSpec, JobState, Outcome, Priority, Resources, RunnerType, UserId,
};
use harness::audit::{verify, AuditReport, DagInfo, EventKind, EventLog};
use harness::Scheduler;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

const RUNNERS: [RunnerType; 2] = [RunnerType(0), RunnerType(1)];
const WORKERS_PER_RUNNER: usize = 2;
/// (cluster, capacity). Cluster 1 is paused now and then; cluster 2's slots
/// start too small for its big jobs.
const CLUSTERS: [(ClusterId, u32); 3] = [(ClusterId(0), 1), (ClusterId(1), 2), (ClusterId(2), 3)];
const PAUSED: ClusterId = ClusterId(1);
const SMALL: ClusterId = ClusterId(2);
const SMALL_SLOT: Resources = Resources {
    cores: 8,
    memory_gb: 32,
};
const BIG_SLOT: Resources = Resources {
    cores: 32,
    memory_gb: 32,
};
const LAYERS: u64 = 8;
/// Give up (and let the audit report what is stuck) after this long.
const DEADLINE: Duration = Duration::from_secs(60);

/// How a job behaves: its first `fail_first` attempts fail.
#[derive(Clone, Copy, Debug)]
struct Plan {
    fail_first: u32,
    max_retries: u32,
    cancel: bool,
}

struct Workload {
    specs: Vec<JobSpec>,
    plans: Vec<Plan>,
    dag: DagInfo,
}

fn jobs() -> u64 {
    if cfg!(miri) {
        return 24;
    }
    std::env::var("DAGQUEUE_STRESS_JOBS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2000)
}

fn workload(n: u64, seed: u64) -> Workload {
    let mut rng = Rng::new(seed);
    let layer_start = |layer: u64| layer * n / LAYERS;
    let mut specs = Vec::new();
    let mut plans = Vec::new();
    for id in 0..n {
        let layer = id * LAYERS / n;
        let mut spec = JobSpec::new(JobId(id))
            .priority(Priority::ALL[rng.below(5) as usize])
            .runner(RUNNERS[rng.below(2) as usize])
            .user(UserId(rng.below(3) as u32));
        if layer > 0 {
            // Mostly from the previous layer, sometimes from any earlier one.
            let previous = layer_start(layer - 1)..layer_start(layer);
            let deps = (0..rng.below(4)).map(|_| {
                let d = if rng.chance(75) {
                    previous.start + rng.below(previous.end - previous.start)
                } else {
                    rng.below(previous.start.max(1))
                };
                JobId(d)
            });
            spec = spec.depends_on(deps.collect::<Vec<_>>());
        }
        match rng.below(4) {
            0 => {}
            k => {
                let (cluster, _) = CLUSTERS[k as usize - 1];
                spec = spec.cluster(cluster);
                if cluster == SMALL && rng.chance(15) {
                    spec = spec.resources(Resources {
                        cores: 16,
                        memory_gb: 8,
                    });
                }
            }
        }
        let r = rng.below(100);
        let plan = if r < 70 {
            Plan {
                fail_first: 0,
                max_retries: rng.below(2) as u32,
                cancel: false,
            }
        } else if r < 85 {
            Plan {
                fail_first: 1,
                max_retries: 1 + rng.below(2) as u32,
                cancel: false,
            }
        } else if r < 95 {
            Plan {
                fail_first: u32::MAX,
                max_retries: rng.below(2) as u32,
                cancel: false,
            }
        } else {
            Plan {
                fail_first: 0,
                max_retries: 0,
                cancel: true,
            }
        };
        specs.push(spec.max_retries(plan.max_retries));
        plans.push(plan);
    }
    let mut dag = DagInfo::from_specs(&specs);
    for (cluster, capacity) in CLUSTERS {
        dag.set_capacity(cluster, capacity);
    }
    Workload { specs, plans, dag }
}

/// One run on one queue; returns the audit report (or panics with the
/// violations).
fn run(q: &dyn Scheduler, work: &Workload, seed: u64) -> AuditReport {
    let n = work.specs.len();
    for (cluster, capacity) in CLUSTERS {
        q.set_cluster_capacity(cluster, capacity).unwrap();
    }
    q.set_cluster_resources(SMALL, SMALL_SLOT).unwrap();

    let log = EventLog::new();
    let submitted = AtomicUsize::new(0);
    let done = AtomicBool::new(false);
    let started_at = Instant::now();
    let workers = RUNNERS.len() * WORKERS_PER_RUNNER;

    race(workers + 3, |t| {
        let mut rec = log.recorder();
        let mut rng = Rng::new(seed ^ ((t as u64 + 1) * 0x1234_5678));
        if t < workers {
            // A worker.
            let runner = RUNNERS[t % RUNNERS.len()];
            while !done.load(Ordering::SeqCst) {
                let began = rec.tick();
                let Ok(claim) = q.claim_wait(runner, Duration::from_millis(5)) else {
                    continue;
                };
                let job = claim.job().0 as usize;
                let cluster = work.specs[job].get_cluster();
                rec.record(EventKind::Claimed {
                    claim: claim.clone(),
                    cluster,
                    began,
                });
                let result = q.start(&claim);
                rec.record(EventKind::Started {
                    claim: claim.clone(),
                    result,
                });
                if rng.chance(10) {
                    std::thread::yield_now();
                }
                let outcome = if claim.attempt() <= work.plans[job].fail_first {
                    Outcome::Failure
                } else {
                    Outcome::Success
                };
                rec.record(EventKind::Released {
                    claim: claim.clone(),
                    cluster,
                });
                let result = q.complete(claim.clone(), outcome);
                rec.record(EventKind::Reported {
                    claim,
                    outcome,
                    result,
                });
            }
        } else if t == workers {
            // The submitter (cancelling half the cancel targets at once),
            // then the resources change.
            for (spec, plan) in work.specs.iter().zip(&work.plans) {
                q.submit(spec.clone()).unwrap();
                submitted.fetch_add(1, Ordering::SeqCst);
                if plan.cancel && spec.id().0 % 2 == 0 {
                    let result = q.cancel(spec.id());
                    rec.record(EventKind::CancelCalled {
                        job: spec.id(),
                        result,
                    });
                }
            }
            q.set_cluster_resources(SMALL, BIG_SLOT).unwrap();
            // Then the controller: stop everybody once all jobs finished.
            while started_at.elapsed() < scale(DEADLINE, Duration::from_secs(1 << 30)) {
                let status = q.status();
                let finished: usize = [JobState::Completed, JobState::Failed, JobState::Cancelled]
                    .iter()
                    .map(|&s| status.by_state.get(s))
                    .sum();
                if finished == n {
                    break;
                }
                std::thread::sleep(Duration::from_millis(2));
            }
            done.store(true, Ordering::SeqCst);
        } else if t == workers + 1 {
            // The canceller: the other half of the cancel targets.
            for (id, plan) in work.plans.iter().enumerate() {
                if !plan.cancel || id % 2 == 0 {
                    continue;
                }
                while submitted.load(Ordering::SeqCst) <= id && !done.load(Ordering::SeqCst) {
                    std::thread::yield_now();
                }
                for _ in 0..rng.below(200) {
                    std::thread::yield_now();
                }
                let job = JobId(id as u64);
                let result = q.cancel(job);
                rec.record(EventKind::CancelCalled { job, result });
            }
        } else {
            // The pauser: short pauses of one cluster, ending resumed.
            while !done.load(Ordering::SeqCst) {
                let began = rec.tick();
                q.pause_cluster(PAUSED).unwrap();
                rec.record(EventKind::Paused {
                    cluster: PAUSED,
                    began,
                });
                for _ in 0..rng.below(50) {
                    std::thread::yield_now();
                }
                let began = rec.tick();
                q.resume_cluster(PAUSED).unwrap();
                rec.record(EventKind::Resumed {
                    cluster: PAUSED,
                    began,
                });
                std::thread::sleep(Duration::from_micros(200));
            }
        }
    });

    log.record_final_states(q, (0..n as u64).map(JobId));
    let report = match verify(&log.events(), &work.dag) {
        Ok(report) => report,
        Err(violations) => panic!(
            "{} violations, the first ones: {:#?}",
            violations.len(),
            &violations[..violations.len().min(20)]
        ),
    };
    check_plans(q, work, &report);
    let pauses = log
        .events()
        .iter()
        .filter(|e| matches!(e.kind, EventKind::Paused { .. }))
        .count();
    eprintln!(
        "{n} jobs: {} claims, {} retries, {} completed, {} failed, {} cancelled, \
         {pauses} pauses, peak running {:?}, {} events, {:?}",
        report.claims,
        report.retries,
        report.completed,
        report.failed,
        report.cancelled,
        report.peak_running,
        report.events,
        started_at.elapsed()
    );
    report
}

/// The queue's counts and each job's end, against the log and the plans.
fn check_plans(q: &dyn Scheduler, work: &Workload, report: &AuditReport) {
    let n = work.specs.len();
    let metrics = q.metrics();
    assert_eq!(metrics.scheduled, report.claims as u64, "scheduled");
    assert_eq!(metrics.completed, report.completed as u64, "completed");
    assert_eq!(metrics.failed, report.failed as u64, "failed");
    assert_eq!(metrics.cancelled, report.cancelled as u64, "cancelled");
    assert_eq!(metrics.retried, report.retries as u64, "retried");
    assert_eq!(report.completed + report.failed + report.cancelled, n);

    let status = q.status();
    assert_eq!(status.by_state.total(), n);
    assert_eq!(status.by_state.get(JobState::Completed), report.completed);
    assert_eq!(status.by_state.get(JobState::Failed), report.failed);
    assert_eq!(status.by_state.get(JobState::Cancelled), report.cancelled);
    assert_eq!(status.queued_by_priority, [0; 5]);
    assert_eq!(status.unfinished_by_runner.values().sum::<usize>(), 0);
    for (cluster, capacity) in CLUSTERS {
        let c = status.clusters[&cluster];
        assert_eq!(
            (c.running, c.capacity, c.paused, c.queued),
            (0, capacity, false, 0)
        );
        assert!(report.peak_running.get(&cluster).copied().unwrap_or(0) <= capacity);
    }

    let mut ends: BTreeMap<JobState, usize> = BTreeMap::new();
    for (id, plan) in work.plans.iter().enumerate() {
        let job = JobId(id as u64);
        let state = q.state(job).unwrap();
        *ends.entry(state).or_default() += 1;
        let attempts = report.attempts.get(&job).copied().unwrap_or(0);
        match state {
            JobState::Completed => {
                assert!(plan.fail_first <= plan.max_retries, "{job}: {plan:?}");
                assert_eq!(attempts, plan.fail_first + 1, "{job}: {plan:?}");
            }
            JobState::Failed if attempts > 0 => {
                assert!(plan.fail_first > plan.max_retries, "{job}: {plan:?}");
                assert_eq!(attempts, plan.max_retries + 1, "{job}: {plan:?}");
            }
            // Failed by the cascade, or cancelled: the audit checked the cause.
            _ => {}
        }
        if !plan.cancel && state == JobState::Cancelled {
            let cancelled_dependency = work.specs[id]
                .dependencies()
                .iter()
                .any(|d| q.state(*d) == Ok(JobState::Cancelled));
            assert!(cancelled_dependency, "{job} cancelled without a cause");
        }
    }
    // Sanity: the workload exercised every ending.
    if !cfg!(miri) && n >= 500 {
        for state in [JobState::Completed, JobState::Failed, JobState::Cancelled] {
            assert!(
                ends.get(&state).copied().unwrap_or(0) > 0,
                "no job ended {state:?}"
            );
        }
        assert!(report.retries > 0);
    }
}

#[test]
fn stress_plain() {
    let n = jobs();
    let work = workload(n, 1);
    for (name, q) in impls(
        dagqueue::JobQueue::builder()
            .default_capacity(2)
            .config()
            .unwrap(),
    ) {
        let _context = Context(name.to_string());
        run(&*q, &work, 1);
    }
}

#[test]
fn stress_fair_share_and_aging() {
    let n = jobs();
    let work = workload(n, 2);
    let config = dagqueue::JobQueue::builder()
        .default_capacity(2)
        .fair_share(true)
        .aging(Duration::from_millis(1))
        .config()
        .unwrap();
    for (name, q) in impls(config) {
        let _context = Context(name.to_string());
        run(&*q, &work, 2);
    }
}
