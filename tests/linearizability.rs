//! Linearizability of real concurrent histories (issue 11): threads hammer
//! one queue with a seeded random mix of operations, every operation's
//! invocation, response and result is recorded, and the history is checked
//! against the sequential specification `harness::linearizability::QueueModel`
//! (see that module for the checker, the specification and its limits).
//!
//! * `job_queue_histories_are_linearizable`: `JobQueue`, 4 threads, many
//!   seeds, at least 10^5 operations checked by default; zero violations.
//!   `DAGQUEUE_LIN_OPS=n` checks about `n` operations instead (a longer run:
//!   `DAGQUEUE_LIN_OPS=2000000 cargo test --release --test linearizability`).
//! * `sequential_histories_of_every_implementation_meet_the_spec`: the
//!   specification checked against the mutex baselines (and `JobQueue`) on
//!   single-threaded histories, where every claim is checked strictly.
//! * `a_queue_whose_claim_checks_then_takes_is_caught`: the negative
//!   control, a deliberately broken queue (check and take in two critical
//!   sections), must be reported non-linearizable within a few seeds; the
//!   same queue with an atomic claim must pass.
//!
//! Each run is cut into epochs by a barrier; after each epoch one thread
//! alone runs a strict claim per runner type (best level; `None` only if
//! nothing is pending) and `prune_finished`, so "nothing claimable was
//! lost" is checked where it is a linearizable property.

use dagqueue::{Error, JobId, JobQueue, Outcome, MAX_RETRIES};
use harness::baseline::{ParkingLotQueue, StdMutexQueue};
use harness::linearizability::{
    Checker, ClaimRef, Entry, Failure, FailureKind, ModelQueue, Op, QueueModel, Recorder, Report,
    Ret, Target, JOB_IDS,
};
use harness::rng::Rng;
use harness::Claim;
use std::sync::Barrier;
use std::time::Instant;

const RUNNERS: u32 = 2;

/// A run's shape.
#[derive(Clone, Copy, Debug)]
struct Plan {
    threads: usize,
    epochs: usize,
    /// Operations per thread per epoch.
    per_epoch: usize,
}

impl Plan {
    /// Operations a run records (the concurrent ones; each epoch adds
    /// `RUNNERS + 1` quiescent ones).
    fn operations(&self) -> usize {
        self.threads * self.epochs * self.per_epoch
    }
}

/// What one thread holds: the claims it got and has not reported, and a
/// few it reported (to report again: stale).
#[derive(Default)]
struct Worker {
    held: Vec<(ClaimRef, Claim)>,
    reported: Vec<(ClaimRef, Claim)>,
}

impl Worker {
    /// A claim to report: usually a held one (`take`: removed), else a
    /// reported one or a forged one (stale).
    fn pick(&mut self, rng: &mut Rng, take: bool) -> (ClaimRef, Option<Claim>) {
        if !self.held.is_empty() && rng.chance(90) {
            let index = rng.below(self.held.len() as u64) as usize;
            let picked = if take {
                let picked = self.held.swap_remove(index);
                self.reported.push(picked.clone());
                if self.reported.len() > 8 {
                    self.reported.remove(0);
                }
                picked
            } else {
                self.held[index].clone()
            };
            return (picked.0, Some(picked.1));
        }
        if !self.reported.is_empty() && rng.chance(70) {
            let index = rng.below(self.reported.len() as u64) as usize;
            let (r, c) = self.reported[index].clone();
            return (r, Some(c));
        }
        let forged = ClaimRef {
            job: JobId(rng.below(JOB_IDS)),
            attempt: 1 + rng.below(2) as u32,
            issued: None,
        };
        (forged, None)
    }
}

/// The next random operation, and the claim it reports.
fn next_op(rng: &mut Rng, worker: &mut Worker, strict: bool) -> (Op, Option<Claim>) {
    let id = |rng: &mut Rng| JobId(rng.below(JOB_IDS));
    match rng.below(100) {
        0..=21 => {
            let job = id(rng);
            let mut deps: Vec<JobId> = Vec::new();
            for _ in 0..rng.below(3) {
                let dep = if rng.chance(4) {
                    JobId(JOB_IDS + 1) // never submitted: UnknownDependency
                } else if rng.chance(3) {
                    job // SelfDependency
                } else {
                    id(rng)
                };
                if !deps.contains(&dep) {
                    deps.push(dep);
                }
            }
            let max_retries = if rng.chance(2) {
                MAX_RETRIES + 1
            } else {
                rng.below(3) as u32
            };
            let op = Op::Submit {
                job,
                priority: rng.below(5) as u8,
                runner: rng.below(u64::from(RUNNERS)) as u32,
                deps,
                max_retries,
            };
            (op, None)
        }
        22..=41 => (
            Op::Claim {
                runner: rng.below(u64::from(RUNNERS)) as u32,
                strict,
            },
            None,
        ),
        42..=49 => {
            let (r, claim) = worker.pick(rng, false);
            (Op::Start(r), claim)
        }
        50..=69 => {
            let (r, claim) = worker.pick(rng, true);
            let outcome = if rng.chance(60) {
                Outcome::Success
            } else {
                Outcome::Failure
            };
            (Op::Complete(r, outcome), claim)
        }
        70..=77 => (Op::Cancel(id(rng)), None),
        78..=85 => (Op::Reprioritize(id(rng), rng.below(5) as u8), None),
        _ => (Op::Read(JobId(rng.below(JOB_IDS + 2))), None),
    }
}

/// Runs one recorded operation; keeps a claim it hands out.
fn run_op(
    log: &mut harness::linearizability::Log<'_, Op, Ret>,
    target: &dyn Target,
    worker: &mut Worker,
    op: Op,
    claim: Option<Claim>,
) {
    let mut handed = None;
    let entry = log.record(op, |op, _| {
        let (ret, got) = target.apply(op, claim.as_ref());
        handed = got;
        ret
    });
    if let (Some(claim), Ret::Claim(Some((job, attempt)))) = (handed, &entry.ret) {
        let r = ClaimRef {
            job: *job,
            attempt: *attempt,
            issued: Some(entry.call.invoke),
        };
        worker.held.push((r, claim));
    }
}

/// Runs `plan` on `target` with `seed`; returns the history, epoch by
/// epoch (each concurrent epoch followed by its quiescent one).
fn record(target: &dyn Target, seed: u64, plan: Plan) -> Vec<Vec<Entry<Op, Ret>>> {
    let recorder = Recorder::new();
    let barrier = Barrier::new(plan.threads);
    let sequential = plan.threads == 1;
    let per_thread: Vec<Vec<Vec<Entry<Op, Ret>>>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..plan.threads)
            .map(|t| {
                let (recorder, barrier) = (&recorder, &barrier);
                s.spawn(move || {
                    let mut rng = Rng::new(seed.wrapping_mul(0x9E37_79B9).wrapping_add(t as u64));
                    let mut log = recorder.log(t);
                    let mut worker = Worker::default();
                    let mut epochs = Vec::new();
                    for _ in 0..plan.epochs {
                        barrier.wait();
                        for _ in 0..plan.per_epoch {
                            let (op, claim) = next_op(&mut rng, &mut worker, sequential);
                            run_op(&mut log, target, &mut worker, op, claim);
                        }
                        epochs.push(log.take());
                        barrier.wait();
                        if t == 0 {
                            // Quiescent: strict claims, and a prune.
                            for runner in 0..RUNNERS {
                                let op = Op::Claim {
                                    runner,
                                    strict: true,
                                };
                                run_op(&mut log, target, &mut worker, op, None);
                            }
                            run_op(&mut log, target, &mut worker, Op::Prune, None);
                        }
                        epochs.push(log.take());
                    }
                    epochs
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("a recording thread panicked"))
            .collect()
    });
    let mut epochs: Vec<Vec<Entry<Op, Ret>>> = vec![Vec::new(); plan.epochs * 2];
    for thread in per_thread {
        for (index, entries) in thread.into_iter().enumerate() {
            epochs[index].extend(entries);
        }
    }
    epochs
}

/// How often each kind of result came up (so a degenerate mix fails).
#[derive(Debug, Default)]
struct Mix {
    claimed: usize,
    claimed_none: usize,
    submitted: usize,
    duplicate: usize,
    unknown_dependency: usize,
    completed: usize,
    retried: usize,
    failed: usize,
    cancelled_at_report: usize,
    stale: usize,
    cancelled: usize,
    cancel_requested: usize,
    reprioritized: usize,
    not_queued: usize,
    reads_known: usize,
    reads_waiting: usize,
    dependency_ends: usize,
    pruned: usize,
}

impl Mix {
    fn count(&mut self, epochs: &[Vec<Entry<Op, Ret>>]) {
        use dagqueue::{CancelOutcome, Completion, JobState};
        for entry in epochs.iter().flatten() {
            match &entry.ret {
                Ret::Claim(Some(_)) => self.claimed += 1,
                Ret::Claim(None) => self.claimed_none += 1,
                Ret::Submit(Ok(_)) => self.submitted += 1,
                Ret::Submit(Err(Error::DuplicateJob(_))) => self.duplicate += 1,
                Ret::Submit(Err(Error::UnknownDependency { .. })) => self.unknown_dependency += 1,
                Ret::Complete(Ok(Completion::Completed)) => self.completed += 1,
                Ret::Complete(Ok(Completion::Retrying)) => self.retried += 1,
                Ret::Complete(Ok(Completion::Failed)) => self.failed += 1,
                Ret::Complete(Ok(Completion::Cancelled)) => self.cancelled_at_report += 1,
                Ret::Complete(Err(Error::StaleClaim { .. }))
                | Ret::Start(Err(Error::StaleClaim { .. })) => self.stale += 1,
                Ret::Cancel(Ok(CancelOutcome::Cancelled)) => self.cancelled += 1,
                Ret::Cancel(Ok(CancelOutcome::Requested)) => self.cancel_requested += 1,
                Ret::Reprioritize(Ok(())) => self.reprioritized += 1,
                Ret::Reprioritize(Err(Error::NotQueued { .. })) => self.not_queued += 1,
                Ret::Read(Ok(view)) => {
                    self.reads_known += 1;
                    if view.state == JobState::Waiting {
                        self.reads_waiting += 1;
                    }
                    if matches!(
                        view.end,
                        Some(
                            harness::linearizability::End::DependencyFailed(_)
                                | harness::linearizability::End::DependencyCancelled(_)
                        )
                    ) {
                        self.dependency_ends += 1;
                    }
                }
                Ret::Prune(pruned) => self.pruned += pruned.len(),
                _ => {}
            }
        }
    }

    /// Every kind came up at least once.
    fn assert_covered(&self) {
        let counts = [
            ("claimed", self.claimed),
            ("claimed none", self.claimed_none),
            ("submitted", self.submitted),
            ("duplicate", self.duplicate),
            ("unknown dependency", self.unknown_dependency),
            ("completed", self.completed),
            ("retried", self.retried),
            ("failed", self.failed),
            ("cancelled at report", self.cancelled_at_report),
            ("stale", self.stale),
            ("cancelled", self.cancelled),
            ("cancel requested", self.cancel_requested),
            ("reprioritized", self.reprioritized),
            ("not queued", self.not_queued),
            ("reads", self.reads_known),
            ("reads of waiting jobs", self.reads_waiting),
            ("ended by a dependency", self.dependency_ends),
            ("pruned", self.pruned),
        ];
        for (what, count) in counts {
            assert!(count > 0, "no {what} in the histories: {self:?}");
        }
    }
}

/// Records and checks one run; returns its report.
fn check_run(target: &dyn Target, seed: u64, plan: Plan, mix: &mut Mix) -> Result<Report, Failure> {
    let epochs = record(target, seed, plan);
    mix.count(&epochs);
    Checker::default().check(QueueModel::new(), &epochs)
}

/// Operations to check in all: `DAGQUEUE_LIN_OPS`, or `default`.
fn total_ops(default: usize) -> usize {
    std::env::var("DAGQUEUE_LIN_OPS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[test]
fn job_queue_histories_are_linearizable() {
    let plan = Plan {
        threads: 4,
        epochs: 50,
        per_epoch: 64,
    };
    let total = total_ops(100_000);
    let seeds = total.div_ceil(plan.operations()).max(1) as u64;
    let started = Instant::now();
    let mut report = Report::default();
    let mut mix = Mix::default();
    for seed in 0..seeds {
        let queue = JobQueue::new();
        match check_run(&queue, seed, plan, &mut mix) {
            Ok(run) => report.add(run),
            Err(failure) => panic!("seed {seed}: JobQueue's history is not accepted: {failure}"),
        }
    }
    println!(
        "JobQueue: {} operations checked ({} threads, {} seeds, {} epochs), 0 violations; \
         {} configurations expanded, at most {} end states an epoch; {:.1?}",
        report.operations,
        plan.threads,
        seeds,
        report.epochs,
        report.configurations,
        report.most_end_states,
        started.elapsed()
    );
    println!("result mix: {mix:?}");
    assert!(
        report.operations >= total,
        "{} < {total}",
        report.operations
    );
    assert_eq!(report.epochs as u64, seeds * plan.epochs as u64 * 2);
    mix.assert_covered();
}

#[test]
fn sequential_histories_of_every_implementation_meet_the_spec() {
    let plan = Plan {
        threads: 1,
        epochs: 40,
        per_epoch: 100,
    };
    /// Makes a fresh queue.
    type Make = fn() -> Box<dyn Target>;
    let targets: [(&str, Make); 4] = [
        ("StdMutexQueue", || {
            Box::new(StdMutexQueue::new(Default::default()))
        }),
        ("ParkingLotQueue", || {
            Box::new(ParkingLotQueue::new(Default::default()))
        }),
        ("JobQueue", || Box::new(JobQueue::new())),
        ("ModelQueue", || Box::new(ModelQueue::new())),
    ];
    for (name, make) in &targets {
        let mut report = Report::default();
        let mut mix = Mix::default();
        for seed in 0..5 {
            let queue = make();
            match check_run(&*queue, seed, plan, &mut mix) {
                Ok(run) => report.add(run),
                Err(failure) => panic!("{name}, seed {seed}: {failure}"),
            }
        }
        println!(
            "{name}: {} sequential operations accepted",
            report.operations
        );
        assert_eq!(report.operations, 5 * (plan.operations() + plan.epochs * 3));
        mix.assert_covered();
    }
}

#[test]
fn a_queue_whose_claim_checks_then_takes_is_caught() {
    let plan = Plan {
        threads: 4,
        epochs: 10,
        per_epoch: 64,
    };
    // The same queue with an atomic claim passes: what is caught is the
    // split claim.
    let mut mix = Mix::default();
    for seed in 0..3 {
        let report = check_run(&ModelQueue::new(), seed, plan, &mut mix)
            .unwrap_or_else(|failure| panic!("atomic ModelQueue, seed {seed}: {failure}"));
        assert_eq!(report.operations, plan.operations() + plan.epochs * 3);
    }
    const SEEDS: u64 = 20;
    let mut caught = Vec::new();
    for seed in 0..SEEDS {
        match check_run(&ModelQueue::with_split_claim(), seed, plan, &mut mix) {
            Ok(_) => {}
            Err(failure) => {
                assert_eq!(failure.kind, FailureKind::NotLinearizable, "{failure}");
                if caught.is_empty() {
                    println!("split claim, seed {seed}: {failure}");
                }
                caught.push(seed);
            }
        }
    }
    println!(
        "split claim: caught in {} of {SEEDS} seeds: {caught:?}",
        caught.len()
    );
    assert!(
        !caught.is_empty(),
        "the broken queue passed {SEEDS} seeds: the checker cannot fail"
    );
}
