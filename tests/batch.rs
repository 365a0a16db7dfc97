//! `submit_many`: a batch of jobs, all or nothing. Every implementation
//! gets the same batches: good ones in any order run each job after its
//! dependencies; a bad spec anywhere returns the exact typed error and
//! leaves the queue as it was (the snapshot of `tests/bad_input.rs`);
//! racing batches and submits admit each id once, with exact counts.

mod common;

use common::*;
use dagqueue::{
    ClusterId, DependencyKind, Error, JobEnd, JobId, JobQueue, JobSpec, JobState, Outcome,
    RunnerType, MAX_RETRIES,
};
use harness::workflow::Workflow;
use harness::Scheduler;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

const R0: RunnerType = RunnerType(0);

/// The workflow's jobs as specs, ids offset by `base`.
fn workflow_specs(graph: &Workflow, base: u64) -> Vec<JobSpec> {
    graph
        .dependencies
        .iter()
        .enumerate()
        .map(|(id, deps)| {
            JobSpec::new(JobId(base + id as u64)).depends_on(deps.iter().map(|&d| JobId(base + d)))
        })
        .collect()
}

/// Runs everything claimable; each job's completion rank by id.
fn completion_ranks(queue: &dyn Scheduler) -> HashMap<JobId, usize> {
    run_all(queue, R0)
        .into_iter()
        .enumerate()
        .map(|(rank, job)| (job, rank))
        .collect()
}

#[test]
fn a_batch_in_any_order_runs_every_job_once_after_its_dependencies() {
    let graph = Workflow::montage_like(scale(2_000, 200), 11);
    each_round(3, config(), |queue, round| {
        let mut specs = workflow_specs(&graph, 0);
        if round > 0 {
            // Shuffled (a fixed shuffle a round): dependents before their
            // dependencies.
            let mut rng = Rng::new(round as u64);
            for i in (1..specs.len()).rev() {
                specs.swap(i, rng.below(i as u64 + 1) as usize);
            }
        }
        queue.submit_many(specs).unwrap();
        let ranks = completion_ranks(queue);
        assert_eq!(ranks.len(), graph.len(), "every job ran exactly once");
        for (id, deps) in graph.dependencies.iter().enumerate() {
            let mine = ranks[&JobId(id as u64)];
            for &d in deps {
                assert!(
                    ranks[&JobId(d)] < mine,
                    "job {id} ran before its dependency {d}"
                );
            }
        }
    });
}

#[test]
fn a_batch_starts_each_job_as_one_submit_would() {
    each_impl(config(), |queue| {
        queue.submit(JobSpec::new(JobId(1))).unwrap();
        queue.submit(JobSpec::new(JobId(2))).unwrap();
        let failed = queue.claim(R0).unwrap();
        queue.complete(failed, Outcome::Failure).unwrap();
        queue
            .submit_many(vec![
                JobSpec::new(JobId(12)).depends_on([JobId(11)]),
                JobSpec::new(JobId(11)).depends_on([JobId(2)]),
                JobSpec::new(JobId(13)).depends_on([JobId(1)]),
                JobSpec::new(JobId(14))
                    .depends_on_kind(DependencyKind::AfterAny, [JobId(1), JobId(12)]),
                JobSpec::new(JobId(15)),
            ])
            .unwrap();
        let state = |id| queue.state(JobId(id)).unwrap();
        assert_eq!(state(11), JobState::Waiting);
        assert_eq!(state(12), JobState::Waiting);
        // Job 1 failed: its AfterSuccess dependent fails at once.
        assert_eq!(state(13), JobState::Failed);
        assert_eq!(state(14), JobState::Waiting);
        assert_eq!(state(15), JobState::Pending);
        let ran = run_all(queue, R0);
        assert_eq!(ran, ids([2, 15, 11, 12, 14]));
    });
}

#[test]
fn an_empty_batch_is_accepted_and_changes_nothing() {
    each_impl(config(), |queue| {
        let before = snapshot(queue, &ids(1..=3));
        queue.submit_many(Vec::new()).unwrap();
        assert_eq!(snapshot(queue, &ids(1..=3)), before);
    });
}

/// A queue with jobs 1 (pending), 2 (running), 3 (completed), 4 (waiting
/// on 1), on declared clusters only (cluster 1 declared).
fn fixture(queue: &dyn Scheduler) {
    queue.set_cluster_capacity(ClusterId(1), 4).unwrap();
    queue
        .submit(JobSpec::new(JobId(2)).cluster(ClusterId(1)))
        .unwrap();
    let running = queue.claim(R0).unwrap();
    queue.start(&running).unwrap();
    queue.submit(JobSpec::new(JobId(3))).unwrap();
    let completed = queue.claim(R0).unwrap();
    queue.complete(completed, Outcome::Success).unwrap();
    queue.submit(JobSpec::new(JobId(1))).unwrap();
    queue
        .submit(JobSpec::new(JobId(4)).depends_on([JobId(1)]))
        .unwrap();
}

/// Batch ids the bad batches use (10..=14), and the fixture's.
fn watched() -> Vec<JobId> {
    ids(1..=14)
}

/// A good batch of five (10..=14) over the fixture, with `bad` put at
/// `at` (replacing the job there).
fn batch_with(bad: JobSpec, at: usize) -> Vec<JobSpec> {
    let mut batch = vec![
        JobSpec::new(JobId(10)).depends_on([JobId(1), JobId(3)]),
        JobSpec::new(JobId(11)).depends_on([JobId(10)]),
        JobSpec::new(JobId(12)).cluster(ClusterId(1)),
        JobSpec::new(JobId(13)).depends_on([JobId(11), JobId(12)]),
        JobSpec::new(JobId(14)),
    ];
    batch[at] = bad;
    batch
}

#[test]
fn bad_input_anywhere_rejects_the_whole_batch_and_changes_nothing() {
    let declared = config_with(|b| b.declared_clusters_only(true));
    let cases: Vec<(&str, Vec<JobSpec>, Error)> = vec![
        (
            "duplicate of a queued job",
            batch_with(JobSpec::new(JobId(4)), 4),
            Error::DuplicateJob(JobId(4)),
        ),
        (
            "id named twice in the batch",
            batch_with(JobSpec::new(JobId(10)), 4),
            Error::DuplicateJob(JobId(10)),
        ),
        (
            "unknown dependency",
            batch_with(JobSpec::new(JobId(14)).depends_on([JobId(99)]), 4),
            Error::UnknownDependency {
                job: JobId(14),
                dependency: JobId(99),
            },
        ),
        (
            "self dependency",
            batch_with(JobSpec::new(JobId(14)).depends_on([JobId(14)]), 4),
            Error::SelfDependency(JobId(14)),
        ),
        (
            "too many retries",
            batch_with(JobSpec::new(JobId(12)).max_retries(MAX_RETRIES + 1), 2),
            Error::TooManyRetries(MAX_RETRIES + 1),
        ),
        (
            "undeclared cluster",
            batch_with(JobSpec::new(JobId(14)).cluster(ClusterId(7)), 4),
            Error::UnknownCluster(ClusterId(7)),
        ),
        (
            "two-job cycle inside the batch",
            batch_with(JobSpec::new(JobId(10)).depends_on([JobId(13)]), 0),
            // Kahn leaves 10, 11, 13 waiting; the walk from 10 goes
            // 10 → 13 → 11 → 10.
            Error::DependencyCycle {
                job: JobId(11),
                dependency: JobId(10),
            },
        ),
    ];
    for (what, batch, expected) in cases {
        each_impl(declared, |queue| {
            let _context = Context(what.to_string());
            fixture(queue);
            let before = snapshot(queue, &watched());
            assert_eq!(queue.submit_many(batch.clone()), Err(expected.clone()));
            assert_eq!(snapshot(queue, &watched()), before, "{what}: queue changed");
            // The same batch, repaired, is accepted whole.
            let repaired = batch_with(JobSpec::new(JobId(14)), 4);
            let repaired = if what.contains("cycle") || what.contains("retries") {
                batch_with(
                    JobSpec::new(JobId(if what.contains("cycle") { 10 } else { 12 })),
                    if what.contains("cycle") { 0 } else { 2 },
                )
            } else {
                repaired
            };
            queue.submit_many(repaired).unwrap();
            for id in 10..=14 {
                assert!(queue.state(JobId(id)).is_ok(), "{what}: job {id} missing");
            }
        });
    }
}

#[test]
fn a_cycle_error_names_an_edge_on_the_cycle() {
    // A longer cycle behind a chain: 20 → 21 → 22 → 23 → 21.
    let batch = vec![
        JobSpec::new(JobId(20)).depends_on([JobId(21)]),
        JobSpec::new(JobId(21)).depends_on([JobId(22)]),
        JobSpec::new(JobId(22)).depends_on([JobId(23)]),
        JobSpec::new(JobId(23)).depends_on([JobId(21)]),
        JobSpec::new(JobId(24)),
    ];
    each_impl(config(), |queue| {
        let Err(Error::DependencyCycle { job, dependency }) = queue.submit_many(batch.clone())
        else {
            panic!("a cycle must be refused");
        };
        let on_cycle = [(21, 22), (22, 23), (23, 21)];
        assert!(
            on_cycle.contains(&(job.0, dependency.0)),
            "{job} → {dependency} is not an edge of the cycle"
        );
        assert_eq!(queue.state(JobId(24)), Err(Error::UnknownJob(JobId(24))));
    });
}

#[test]
fn a_closed_queue_refuses_a_batch() {
    each_impl(config(), |queue| {
        queue.close();
        assert_eq!(
            queue.submit_many(vec![JobSpec::new(JobId(1))]),
            Err(Error::Closed)
        );
        assert_eq!(queue.state(JobId(1)), Err(Error::UnknownJob(JobId(1))));
    });
}

#[test]
fn a_batch_above_max_batch_is_refused_before_it_is_read() {
    let queue = JobQueue::new();
    queue.submit(JobSpec::new(JobId(1))).unwrap();
    // A lazy iterator of MAX_BATCH + 1 specs, which knows its length: the
    // batch is refused before any spec is made (a billion would not fit).
    let made = AtomicU64::new(0);
    let specs = (0..=dagqueue::MAX_BATCH as u64).map(|id| {
        made.fetch_add(1, Ordering::Relaxed);
        JobSpec::new(JobId(id + 2))
    });
    let refused = queue.submit_many(specs);
    assert_eq!(refused, Err(Error::BatchTooLarge(dagqueue::MAX_BATCH + 1)));
    assert_eq!(
        refused.unwrap_err().to_string(),
        format!(
            "a batch of {} jobs is above the limit",
            dagqueue::MAX_BATCH + 1
        )
    );
    assert_eq!(made.load(Ordering::Relaxed), 0, "a spec was made");
    assert_eq!(queue.state(JobId(2)), Err(Error::UnknownJob(JobId(2))));
    assert_eq!(queue.status().by_state.total(), 1);
}

#[test]
fn racing_batches_with_one_shared_id_admit_exactly_one_whole_batch() {
    // Two batches of 50 share id 1,000; each other id is its own.
    each_round(rounds(50), config(), |queue, _| {
        let results = race(2, |thread| {
            let base = 1 + thread as u64 * 100;
            let mut batch: Vec<JobSpec> = (base..base + 49)
                .map(|id| JobSpec::new(JobId(id)))
                .collect();
            batch.push(JobSpec::new(JobId(1_000)).depends_on([JobId(base)]));
            queue.submit_many(batch)
        });
        let admitted: Vec<usize> = (0..2).filter(|&t| results[t].is_ok()).collect();
        assert_eq!(admitted.len(), 1, "{results:?}");
        let loser = 1 - admitted[0];
        assert_eq!(results[loser], Err(Error::DuplicateJob(JobId(1_000))));
        let base = 1 + loser as u64 * 100;
        for id in base..base + 49 {
            assert_eq!(
                queue.state(JobId(id)),
                Err(Error::UnknownJob(JobId(id))),
                "a rejected batch left job {id}"
            );
        }
        assert_eq!(run_all(queue, R0).len(), 50);
        // Nothing of the loser is left reserved either: its ids are free.
        queue
            .submit_many(
                (base..base + 49)
                    .map(|id| JobSpec::new(JobId(id)))
                    .collect(),
            )
            .unwrap();
        assert_eq!(run_all(queue, R0).len(), 49);
    });
}

#[test]
fn batches_submitted_while_workers_drain_run_every_job_once_in_dependency_order() {
    let batches = scale(40, 4);
    let graph = Workflow::montage_like(200, 3);
    let queue = job_queue(config());
    let done = AtomicU64::new(0);
    let total = (2 * batches * graph.len()) as u64;
    // Sequence numbers by job: when its `complete` was called, when its
    // `claim` returned.
    let finished: Mutex<HashMap<JobId, u64>> = Mutex::new(HashMap::new());
    let claimed_at: Mutex<HashMap<JobId, u64>> = Mutex::new(HashMap::new());
    let clock = AtomicU64::new(0);
    race(4, |thread| {
        if thread < 2 {
            for b in 0..batches {
                let base = ((thread * batches + b) * graph.len()) as u64;
                let mut specs = workflow_specs(&graph, base);
                specs.reverse(); // dependents first: Kahn's order
                queue.submit_many(specs).unwrap();
            }
        } else {
            while done.load(Ordering::SeqCst) < total {
                let Some(claim) = queue.claim(R0) else {
                    std::thread::yield_now();
                    continue;
                };
                let job = claim.job();
                let at = clock.fetch_add(1, Ordering::SeqCst);
                assert!(
                    claimed_at.lock().unwrap().insert(job, at).is_none(),
                    "{job} claimed twice"
                );
                queue.start(&claim).unwrap();
                // Stamped before the call: a dependent claimed (stamped
                // after `claim` returned) must come later.
                let at = clock.fetch_add(1, Ordering::SeqCst);
                finished.lock().unwrap().insert(job, at);
                queue.complete(claim, Outcome::Success).unwrap();
                done.fetch_add(1, Ordering::SeqCst);
            }
        }
    });
    let (finished, claimed_at) = (
        finished.into_inner().unwrap(),
        claimed_at.into_inner().unwrap(),
    );
    assert_eq!(finished.len() as u64, total, "every job completed once");
    for batch in 0..2 * batches {
        let base = (batch * graph.len()) as u64;
        for (id, deps) in graph.dependencies.iter().enumerate() {
            let claimed = claimed_at[&JobId(base + id as u64)];
            for &d in deps {
                assert!(
                    finished[&JobId(base + d)] < claimed,
                    "job {} claimed before its dependency {} completed",
                    base + id as u64,
                    base + d
                );
            }
        }
    }
    assert_eq!(queue.status().metrics.completed, total);
}

#[test]
fn a_batch_job_ended_by_several_dependencies_names_the_first_in_its_spec_order() {
    // Job 7 is cancelled; in the batch, 6 depends on 7, and 0 on 6 and 7
    // (in one spec order or the other). Single submits in topological
    // order end 6 by 7, then 0 by the first of its dependencies, in its
    // spec's order, that had ended.
    for (first, second) in [(6, 7), (7, 6)] {
        each_impl(config(), |queue| {
            queue.submit(JobSpec::new(JobId(7))).unwrap();
            queue.cancel(JobId(7)).unwrap();
            queue
                .submit_many(vec![
                    JobSpec::new(JobId(0)).depends_on([JobId(first), JobId(second)]),
                    JobSpec::new(JobId(6)).depends_on([JobId(7)]),
                ])
                .unwrap();
            let view = queue.job(JobId(0)).unwrap();
            assert_eq!(view.state, JobState::Cancelled);
            assert_eq!(
                view.end,
                Some(JobEnd::DependencyCancelled {
                    dependency: JobId(first)
                })
            );
        });
    }
}

/// A batch whose ids lie far apart (an id taken from a database sequence
/// beside a small one) is indexed by a map, not by an array as wide as the
/// range: it goes in and runs like any other. (Mutation testing: the
/// choice of index inverted, which would allocate one slot an id of the
/// range, went unseen.)
#[test]
fn a_batch_with_ids_far_apart() {
    let far = JobId(u64::MAX / 2);
    let q = dagqueue::JobQueue::new();
    q.submit_many([
        JobSpec::new(JobId(1)),
        JobSpec::new(far).depends_on([JobId(1)]),
    ])
    .unwrap();
    let first = q.claim(dagqueue::RunnerType::DEFAULT).unwrap();
    assert_eq!(first.job(), JobId(1));
    q.complete(first, dagqueue::Outcome::Success).unwrap();
    let second = q.claim(dagqueue::RunnerType::DEFAULT).unwrap();
    assert_eq!(second.job(), far);
}

/// Jobs of a batch that a job already in the queue releases together run
/// in batch order, as single submits would have them run. (They used to
/// register with it in the publishing order, dependents first, which is
/// the reverse of the batch order: a batch of 2, 3, 4 all after job 1 ran
/// 4, 3, 2.)
#[test]
fn jobs_released_together_by_a_queued_job_keep_batch_order() {
    let drain_after_one = |queue: &JobQueue| {
        let claim = queue.claim(RunnerType::DEFAULT).unwrap();
        assert_eq!(claim.job(), JobId(1));
        queue.complete(claim, Outcome::Success).unwrap();
        let mut order = Vec::new();
        while let Some(claim) = queue.claim(RunnerType::DEFAULT) {
            order.push(claim.job().0);
            queue.complete(claim, Outcome::Success).unwrap();
        }
        order
    };
    let specs = || (2..=6).map(|id| JobSpec::new(JobId(id)).depends_on([JobId(1)]));
    let batched = JobQueue::new();
    batched.submit(JobSpec::new(JobId(1))).unwrap();
    batched.submit_many(specs()).unwrap();
    let single = JobQueue::new();
    single.submit(JobSpec::new(JobId(1))).unwrap();
    for spec in specs() {
        single.submit(spec).unwrap();
    }
    assert_eq!(drain_after_one(&single), vec![2, 3, 4, 5, 6]);
    assert_eq!(drain_after_one(&batched), vec![2, 3, 4, 5, 6]);
}

/// A cycle that does not pass through the batch's first job, on a job
/// whose first dependency in the batch is not on it: the error names an
/// edge of the cycle, and nothing is added. (The search for that edge
/// started at the batch's first job, or followed a finished dependency,
/// in two mutants nothing caught: both hit its `unreachable!`, a panic.)
#[test]
fn a_cycle_away_from_the_first_job_names_an_edge_on_it() {
    let queue = JobQueue::new();
    let rejected = queue.submit_many([
        JobSpec::new(JobId(1)),
        JobSpec::new(JobId(2)).depends_on([JobId(1), JobId(3)]),
        JobSpec::new(JobId(3)).depends_on([JobId(2)]),
    ]);
    assert_eq!(
        rejected,
        Err(Error::DependencyCycle {
            job: JobId(3),
            dependency: JobId(2)
        })
    );
    assert_eq!(queue.state(JobId(1)), Err(Error::UnknownJob(JobId(1))));
    assert_eq!(queue.status().by_state.total(), 0);
}

/// A batch job reads its dependency list as a slice of its batch's lists
/// (found by its incarnation) until `add_dependencies` gives it one of its
/// own: both forms answer `dependencies_satisfied` and the cycle checks,
/// and the job waits for every dependency of either form. Two batches in a
/// row (so the second's incarnations follow the first's) each find their
/// own slices.
#[test]
fn a_batch_jobs_dependency_list_reads_and_grows_as_a_single_submits_does() {
    let q = JobQueue::new();
    q.submit(JobSpec::new(JobId(100))).unwrap();
    q.submit_many([
        JobSpec::new(JobId(1)),
        JobSpec::new(JobId(2)).depends_on([JobId(1), JobId(100)]),
        JobSpec::new(JobId(3)).depends_on([JobId(2)]),
    ])
    .unwrap();
    q.submit_many([
        JobSpec::new(JobId(10)).depends_on([JobId(3)]),
        JobSpec::new(JobId(11)).depends_on([JobId(10), JobId(1)]),
    ])
    .unwrap();
    assert_eq!(q.dependencies_satisfied(JobId(1)), Ok(true));
    assert_eq!(q.dependencies_satisfied(JobId(2)), Ok(false));
    // A cycle through the batches' slices: 1 ← 2 ← 3 ← 10 ← 11.
    assert!(matches!(
        q.add_dependencies(JobId(1), &[JobId(11)]),
        Err(Error::DependencyCycle { .. })
    ));
    // Job 3 gets a list of its own: its batch slice (2) and job 200.
    q.submit(JobSpec::new(JobId(200))).unwrap();
    q.add_dependencies(JobId(3), &[JobId(200)]).unwrap();
    assert!(matches!(
        q.add_dependencies(JobId(2), &[JobId(3)]),
        Err(Error::DependencyCycle { .. })
    ));
    let mut order = Vec::new();
    while let Some(claim) = q.claim(RunnerType::DEFAULT) {
        order.push(claim.job());
        q.complete(claim, Outcome::Success).unwrap();
    }
    assert_eq!(
        order,
        [100, 1, 200, 2, 3, 10, 11].map(JobId),
        "every job ran once, after its dependencies of both forms"
    );
    assert_eq!(q.dependencies_satisfied(JobId(3)), Ok(true));
    assert_eq!(q.dependencies_satisfied(JobId(11)), Ok(true));
}
