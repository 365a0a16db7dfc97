//! Loom models of every concurrent protocol in dagqueue, run against the
//! crate's real code (the public `JobQueue` API) with loom's atomics, locks
//! and container stand-ins swapped in by the sync facade.
//!
//! Run: `LOOM_MAX_PREEMPTIONS=100 scripts/loom.sh` (`.ci/run` does): the
//! models run on loom 0.7.3 with `loom-tests/loom-dpor.patch` applied (see
//! model 0 and the script).
//!
//! Each model states its preemption bound if it is lower than the default.
//!
//! A model asserts only after joining every thread it spawned: a panic
//! while another loom thread is blocked panics again in loom's cleanup and
//! aborts the whole binary (every other model's result is lost), so each
//! model reads what it checks first and asserts after the joins. (A spawned
//! thread may assert on its own state before it returns.)
#![cfg(dagqueue_loom)]

use dagqueue::__loom::{
    cluster_word, expire_leases_at, live_lane_entries, release_due_at, set_time, Faults,
    LeaseSlotProbe, RecordFifoProbe,
};
use dagqueue::{
    CancelOutcome, Claim, ClusterId, Completion, DependencyKind, Error, EventKind, JobEnd, JobId,
    JobQueue, JobSpec, JobState, Outcome, Priority, RunnerType, WaitError,
};
use loom::sync::atomic::{AtomicBool, Ordering};
use loom::thread;
use std::sync::Arc;
use std::time::Duration;

const R: RunnerType = RunnerType::DEFAULT;

/// Runs `body` under loom, exploring every interleaving up to a preemption
/// bound: `LOOM_MAX_PREEMPTIONS` when set (any number; one above the most
/// preemptions a model can have, such as 100, leaves it unbounded), else
/// `default_bound`. Prints the bound and how many executions loom explored
/// (`cargo test -- --nocapture` shows them; DESIGN.md keeps the table).
fn model(default_bound: usize, body: impl Fn() + Sync + Send + 'static) {
    model_capped(default_bound, usize::MAX, body)
}

/// [`model`] for a model whose state space is too large to run unbounded
/// (three threads, long operations): the bound is at most `cap` whatever
/// `LOOM_MAX_PREEMPTIONS` says. DESIGN.md's table gives each cap.
fn model_capped(default_bound: usize, cap: usize, body: impl Fn() + Sync + Send + 'static) {
    use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
    let bound = match std::env::var("LOOM_MAX_PREEMPTIONS") {
        Ok(value) => Some(value.parse().expect("LOOM_MAX_PREEMPTIONS: a number")),
        Err(_) => Some(default_bound),
    }
    .map(|bound: usize| bound.min(cap));
    let mut builder = loom::model::Builder::new();
    builder.preemption_bound = bound;
    // Counted outside loom (a std atomic): one per execution of the body.
    let executions = Arc::new(AtomicU64::new(0));
    let counter = Arc::clone(&executions);
    builder.check(move || {
        counter.fetch_add(1, Relaxed);
        body()
    });
    let name = std::thread::current().name().unwrap_or("model").to_string();
    let bound = bound.map_or("none".to_string(), |b| b.to_string());
    eprintln!(
        "loom: {name}: {} executions, preemption bound {bound}",
        executions.load(Relaxed)
    );
}

fn queue() -> Arc<JobQueue> {
    Arc::new(JobQueue::new())
}

fn faulty(faults: Faults) -> Arc<JobQueue> {
    Arc::new(JobQueue::builder().__with_faults(faults).build().unwrap())
}

fn submit(q: &JobQueue, id: u64) {
    q.submit(JobSpec::new(JobId(id))).unwrap();
}

fn claimed(q: &JobQueue, id: u64) -> Claim {
    let claim = q.claim(R).expect("a ready job");
    assert_eq!(claim.job(), JobId(id));
    claim
}

// ---------------------------------------------------------------- model 0

/// Model 0, a check of the checker: a thread loads an atomic and then
/// stores to it while another loads it once. Both outcomes of that load
/// must be explored. Stock loom 0.7.3 explores one (its DPOR remembers
/// only the last access to an atomic, and the writer's own load hides the
/// reader's: tokio-rs/loom#166, #392); `scripts/loom.sh` runs the models on
/// loom with `loom-tests/loom-dpor.patch`, which makes a write depend on
/// every thread's last load, and this model fails on an unpatched loom.
#[test]
fn m00_loom_explores_a_load_before_a_later_write() {
    let seen = Arc::new(std::sync::Mutex::new(std::collections::BTreeSet::new()));
    let record = Arc::clone(&seen);
    model(3, move || {
        let flag = Arc::new(AtomicBool::new(false));
        let writer = Arc::clone(&flag);
        let t = thread::spawn(move || {
            let _ = writer.load(Ordering::Relaxed);
            writer.store(true, Ordering::Relaxed);
        });
        let read = flag.load(Ordering::Relaxed);
        t.join().unwrap();
        record.lock().unwrap().insert(read);
    });
    let seen = seen.lock().unwrap().clone();
    assert_eq!(
        seen.into_iter().collect::<Vec<_>>(),
        vec![false, true],
        "loom explored only some outcomes: is loom-tests/loom-dpor.patch applied (scripts/loom.sh)?"
    );
}

// ---------------------------------------------------------------- model 1

fn two_claimers_one_job(q: Arc<JobQueue>) {
    submit(&q, 1);
    let q1 = Arc::clone(&q);
    let t = thread::spawn(move || q1.claim(R));
    let mine = q.claim(R);
    let theirs = t.join().unwrap();
    let winners = usize::from(mine.is_some()) + usize::from(theirs.is_some());
    assert_eq!(winners, 1, "exactly one claimer gets the job");
    assert_eq!(q.state(JobId(1)), Ok(JobState::Scheduled));
    assert_eq!(q.metrics().scheduled, 1);
}

/// Model 1: two claimers race for one ready job: exactly one gets it.
#[test]
fn m01_two_claimers_race_for_one_job() {
    model(3, || two_claimers_one_job(queue()));
}

// ---------------------------------------------------------------- model 2

fn dependency_finishes_during_submit(q: Arc<JobQueue>) {
    submit(&q, 1);
    let claim = claimed(&q, 1);
    let q1 = Arc::clone(&q);
    let t = thread::spawn(move || {
        q1.complete(claim, Outcome::Success).unwrap();
    });
    q.submit(JobSpec::new(JobId(2)).depends_on([JobId(1)]))
        .unwrap();
    // Read now, asserted after the join (a panic while a loom thread runs
    // aborts the whole binary instead of reporting).
    let (dependent, dependency) = (q.state(JobId(2)), q.state(JobId(1)));
    t.join().unwrap();
    if dependent == Ok(JobState::Pending) {
        assert_eq!(
            dependency,
            Ok(JobState::Completed),
            "released before its dependency finished"
        );
    }
    assert_eq!(
        q.state(JobId(2)),
        Ok(JobState::Pending),
        "dependent released once its dependency completed"
    );
    assert_eq!(q.claim(R).map(|c| c.job()), Some(JobId(2)));
    assert_eq!(q.claim(R), None, "released exactly once");
}

/// Model 2: a dependency finishes while a dependent is being submitted.
#[test]
fn m02_dependency_finishes_while_dependent_submitted() {
    model(3, || dependency_finishes_during_submit(queue()));
}

/// Negative control for model 2: a dependents list that is not sealed lets a
/// late registration slip in after the release pass, and it waits forever.
#[test]
#[should_panic(expected = "dependent released once")]
fn m02_negative_unsealed_dependents_is_caught() {
    model(3, || {
        dependency_finishes_during_submit(faulty(Faults {
            unsealed_dependents: true,
            ..Faults::default()
        }))
    });
}

// ---------------------------------------------------------------- model 3

/// Model 3: two dependencies of one job finish at the same time: the job is
/// released exactly once.
#[test]
fn m03_two_dependencies_finish_together() {
    model(3, || {
        let q = queue();
        submit(&q, 1);
        submit(&q, 2);
        q.submit(JobSpec::new(JobId(3)).depends_on([JobId(1), JobId(2)]))
            .unwrap();
        let a = claimed(&q, 1);
        let b = claimed(&q, 2);
        let q1 = Arc::clone(&q);
        let t = thread::spawn(move || q1.complete(a, Outcome::Success).unwrap());
        q.complete(b, Outcome::Success).unwrap();
        t.join().unwrap();
        assert_eq!(q.state(JobId(3)), Ok(JobState::Pending));
        assert_eq!(q.claim(R).map(|c| c.job()), Some(JobId(3)));
        assert_eq!(q.claim(R), None, "released exactly once");
    });
}

// ---------------------------------------------------------------- model 4

fn cancel_races_claim(q: Arc<JobQueue>) {
    submit(&q, 1);
    let q1 = Arc::clone(&q);
    let t = thread::spawn(move || q1.cancel(JobId(1)).unwrap());
    let claim = q.claim(R);
    let cancel = t.join().unwrap();
    match claim {
        Some(claim) => {
            assert_eq!(
                cancel,
                CancelOutcome::Requested,
                "claimed a job that was cancelled"
            );
            let view = q.job(JobId(1)).unwrap();
            assert_eq!(view.state, JobState::Scheduled);
            assert!(view.cancel_requested);
            assert_eq!(
                q.complete(claim, Outcome::Success),
                Ok(Completion::Cancelled)
            );
        }
        None => assert_eq!(cancel, CancelOutcome::Cancelled),
    }
    assert_eq!(q.state(JobId(1)), Ok(JobState::Cancelled));
    assert_eq!(q.claim(R), None);
    assert_eq!(q.metrics().cancelled, 1);
}

/// Model 4: cancel races claim: the job ends cancelled, or claimed with
/// cancellation requested (and then cancelled when its worker reports);
/// never claimed and lost.
#[test]
fn m04_cancel_races_claim() {
    model(3, || cancel_races_claim(queue()));
}

/// Negative control for models 1 and 4: a claim by load-then-store instead
/// of compare-and-swap overwrites a concurrent cancellation.
#[test]
#[should_panic(expected = "claimed a job that was cancelled")]
fn m04_negative_racy_claim_is_caught() {
    model(3, || {
        cancel_races_claim(faulty(Faults {
            racy_claim: true,
            ..Faults::default()
        }))
    });
}

// ---------------------------------------------------------------- model 5

fn capacity_one(q: Arc<JobQueue>) {
    q.set_cluster_capacity(ClusterId(0), 1).unwrap();
    for id in 1..=2 {
        q.submit(JobSpec::new(JobId(id)).cluster(ClusterId(0)))
            .unwrap();
    }
    let q1 = Arc::clone(&q);
    let t = thread::spawn(move || q1.claim(R));
    let mine = q.claim(R);
    let theirs = t.join().unwrap();
    let running = usize::from(mine.is_some()) + usize::from(theirs.is_some());
    assert!(running <= 1, "two jobs running on a cluster of capacity 1");
    let cluster = q.status().clusters[&ClusterId(0)];
    assert_eq!(cluster.running as usize, running);
}

/// Model 5: concurrent claims against a cluster of capacity 1: never two running.
#[test]
fn m05_capacity_one_never_two_running() {
    model(3, || capacity_one(queue()));
}

/// Negative control for model 5: checking capacity and incrementing in two
/// steps lets both claimers in.
#[test]
#[should_panic(expected = "two jobs running")]
fn m05_negative_two_step_reserve_is_caught() {
    model(3, || {
        capacity_one(faulty(Faults {
            two_step_reserve: true,
            ..Faults::default()
        }))
    });
}

// ---------------------------------------------------------------- model 6

/// Model 6: pause races claim: a claim that starts after `pause_cluster`
/// returned never succeeds, and no slot is taken after it returned.
#[test]
fn m06_pause_races_claim() {
    model(3, || {
        let q = queue();
        q.set_cluster_capacity(ClusterId(0), 2).unwrap();
        for id in 1..=2 {
            q.submit(JobSpec::new(JobId(id)).cluster(ClusterId(0)))
                .unwrap();
        }
        let paused = Arc::new(AtomicBool::new(false));
        let (q1, paused1) = (Arc::clone(&q), Arc::clone(&paused));
        let t = thread::spawn(move || {
            q1.pause_cluster(ClusterId(0)).unwrap();
            paused1.store(true, Ordering::SeqCst);
            let (running, reserving, _, is_paused) = cluster_word(&q1, ClusterId(0)).unwrap();
            assert!(is_paused);
            assert_eq!(reserving, 0, "pause returned with a claim in flight");
            running
        });
        let first = q.claim(R);
        let pause_returned = paused.load(Ordering::SeqCst);
        let second = q.claim(R);
        let running_after_pause = t.join().unwrap();
        if pause_returned {
            assert_eq!(second, None, "claim succeeded after pause returned");
        }
        let (running, _, _, _) = cluster_word(&q, ClusterId(0)).unwrap();
        assert_eq!(
            running, running_after_pause,
            "a claim took a slot after pause returned"
        );
        assert_eq!(
            running as usize,
            usize::from(first.is_some()) + usize::from(second.is_some())
        );
        assert_eq!(q.claim(R), None);
    });
}

// ---------------------------------------------------------------- model 7

/// Model 7: duplicate completion of one claim from two threads: completes
/// once, counts once.
#[test]
fn m07_duplicate_completion_counts_once() {
    model(3, || {
        let q = queue();
        submit(&q, 1);
        let claim = claimed(&q, 1);
        let (q1, duplicate) = (Arc::clone(&q), claim.clone());
        let t = thread::spawn(move || q1.complete(duplicate, Outcome::Success));
        let mine = q.complete(claim, Outcome::Success);
        let theirs = t.join().unwrap();
        assert_eq!(usize::from(mine.is_ok()) + usize::from(theirs.is_ok()), 1);
        let err = if mine.is_err() { mine } else { theirs };
        assert_eq!(
            err,
            Err(Error::StaleClaim {
                job: JobId(1),
                attempt: 1
            })
        );
        assert_eq!(q.metrics().completed, 1);
        assert_eq!(q.state(JobId(1)), Ok(JobState::Completed));
    });
}

// ---------------------------------------------------------------- model 8

/// Model 8: a late completion of attempt 1 races the retry (attempt 2): it
/// never completes attempt 2.
#[test]
fn m08_late_completion_never_completes_retry() {
    model(3, || {
        let q = Arc::new(JobQueue::new());
        q.submit(JobSpec::new(JobId(1)).max_retries(1)).unwrap();
        let first = claimed(&q, 1);
        let (q1, report) = (Arc::clone(&q), first.clone());
        let t = thread::spawn(move || {
            let failed = q1.complete(report, Outcome::Failure);
            let retry = q1.claim(R);
            (failed, retry)
        });
        let late = q.complete(first, Outcome::Success);
        let (failed, retry) = t.join().unwrap();
        match late {
            Ok(Completion::Completed) => {
                assert!(failed.is_err());
                assert_eq!(retry, None);
                assert_eq!(q.state(JobId(1)), Ok(JobState::Completed));
            }
            Ok(other) => panic!("unexpected {other:?}"),
            Err(_) => {
                assert_eq!(failed, Ok(Completion::Retrying));
                let retry = retry.expect("the retry is claimable");
                assert_eq!(retry.attempt(), 2);
                let view = q.job(JobId(1)).unwrap();
                assert_eq!((view.state, view.attempt), (JobState::Scheduled, 2));
                assert_eq!(q.metrics().completed, 0);
            }
        }
    });
}

// ---------------------------------------------------------------- model 9

/// Model 9: reprioritize races claim: the job is claimed at most once and is
/// in exactly one lane afterwards.
#[test]
fn m09_reprioritize_races_claim() {
    model(3, || reprioritize_races_claim(queue()));
}

/// Negative control for model 9: a job put in its lane twice is seen by
/// the lane probe (claims alone would not see it: the CAS refuses the
/// second entry).
#[test]
#[should_panic(expected = "a duplicate lane entry")]
fn m09_negative_double_enqueue_is_caught() {
    model(3, || {
        reprioritize_races_claim(faulty(Faults {
            double_enqueue: true,
            ..Faults::default()
        }))
    });
}

fn reprioritize_races_claim(q: Arc<JobQueue>) {
    q.submit(JobSpec::new(JobId(1)).priority(Priority::Low))
        .unwrap();
    let q1 = Arc::clone(&q);
    let t = thread::spawn(move || q1.reprioritize(JobId(1), Priority::High));
    let claim = q.claim(R);
    let changed = t.join().unwrap();
    match claim {
        Some(_) => {
            assert_eq!(
                live_lane_entries(&q, JobId(1)),
                0,
                "left in a lane: a duplicate lane entry"
            );
            assert_eq!(q.claim(R), None, "claimed twice");
            assert_eq!(q.state(JobId(1)), Ok(JobState::Scheduled));
        }
        None => {
            assert_eq!(changed, Ok(()));
            // A duplicate entry would be claimed once (the CAS) and
            // go unseen by claims: count the lanes' live entries.
            assert_eq!(
                live_lane_entries(&q, JobId(1)),
                1,
                "in more than one lane: a duplicate lane entry"
            );
            assert_eq!(q.claim(R).map(|c| c.job()), Some(JobId(1)));
            assert_eq!(q.claim(R), None, "claimed twice");
        }
    }
    assert_eq!(q.metrics().scheduled, 1);
}

// ---------------------------------------------------------------- model 10

/// Model 10: a reader races a writer: it never sees a state that never
/// existed (running above capacity, a job both pending and claimed, a job
/// missing or counted twice).
///
/// The reader uses the per-word reads that `status()` is built from (`job()`
/// views and one cluster-word read) rather than `status()` itself: loom 0.7.3
/// trips its own internal assertion (tokio-rs/loom#252, "VersionVec assertion
/// failures") on `status()`'s scan; see docs/DESIGN.md.
#[test]
fn m10_reader_races_writer() {
    model(3, || {
        let q = queue();
        q.set_cluster_capacity(ClusterId(0), 1).unwrap();
        for id in 1..=2 {
            q.submit(JobSpec::new(JobId(id)).cluster(ClusterId(0)))
                .unwrap();
        }
        let q1 = Arc::clone(&q);
        let t = thread::spawn(move || {
            let claim = q1.claim(R).unwrap();
            q1.start(&claim).unwrap();
            q1.complete(claim, Outcome::Success).unwrap();
        });
        let views: Vec<_> = (1..=2).map(|id| q.job(JobId(id)).unwrap()).collect();
        let (running, reserving, capacity, _) = cluster_word(&q, ClusterId(0)).unwrap();
        // Asserted after the join (a panic while a loom thread runs aborts
        // the whole binary instead of reporting).
        t.join().unwrap();
        assert!(running + reserving <= capacity, "running above capacity");
        for view in &views {
            match view.state {
                JobState::Pending => assert_eq!(view.attempt, 0),
                JobState::Scheduled | JobState::Running | JobState::Completed => {
                    assert_eq!(view.attempt, 1)
                }
                other => panic!("a state that never existed: {other:?}"),
            }
        }
        let claimed = views.iter().filter(|v| v.state.is_claimed()).count();
        assert!(claimed <= 1, "two jobs claimed on a cluster of capacity 1");
        let states: Vec<_> = (1..=2).map(|id| q.state(JobId(id)).unwrap()).collect();
        assert_eq!(states, vec![JobState::Completed, JobState::Pending]);
        assert_eq!(cluster_word(&q, ClusterId(0)).unwrap().0, 0);
    });
}

// ---------------------------------------------------------------- model 11

/// Model 11: a failure cascade races a new dependent's submission: the new
/// dependent ends failed, never waiting forever.
#[test]
fn m11_failure_cascade_races_new_dependent() {
    model(3, || {
        let q = queue();
        submit(&q, 1);
        let claim = claimed(&q, 1);
        let q1 = Arc::clone(&q);
        let t = thread::spawn(move || q1.complete(claim, Outcome::Failure).unwrap());
        let submitted = q.submit(JobSpec::new(JobId(2)).depends_on([JobId(1)]));
        assert_eq!(t.join().unwrap(), Completion::Failed);
        assert_eq!(submitted, Ok(JobId(2)));
        assert_eq!(
            q.state(JobId(2)),
            Ok(JobState::Failed),
            "the dependent of a failed job must fail"
        );
        assert_eq!(q.metrics().failed, 2);
    });
}

// ---------------------------------------------------------------- model 12

/// Model 12: a worker in `claim_wait` goes to sleep while another thread
/// makes a job ready: it is woken. (Under loom a condvar wait has no
/// timeout, so a lost wake-up is a deadlock, which loom reports.)
#[test]
fn m12_claim_wait_is_woken() {
    model(3, || {
        let q = queue();
        let q1 = Arc::clone(&q);
        let t = thread::spawn(move || q1.claim_wait(R, Duration::from_secs(3600)));
        submit(&q, 1);
        let claim = t.join().unwrap();
        assert_eq!(claim.map(|c| c.job()), Ok(JobId(1)));
    });
}

/// Negative control for model 12: a job put in its lane without waking a
/// waiter leaves the sleeper behind (a deadlock).
#[test]
#[should_panic(expected = "deadlock")]
fn m12_negative_silent_enqueue_is_caught() {
    model(3, || {
        let q = faulty(Faults {
            silent_enqueue: true,
            ..Faults::default()
        });
        let q1 = Arc::clone(&q);
        let t = thread::spawn(move || q1.claim_wait(R, Duration::from_secs(3600)));
        submit(&q, 1);
        let _ = t.join().unwrap();
    });
}

// ---------------------------------------------------------------- model 14

/// Model 14: `close` races a worker going to sleep in `claim_wait`: the
/// worker is never left asleep; it returns `Closed`. (A lost wake-up is a
/// deadlock, which loom reports.)
fn close_races_claim_wait(q: Arc<JobQueue>) {
    let q1 = Arc::clone(&q);
    let t = thread::spawn(move || q1.claim_wait(R, Duration::from_secs(3600)));
    q.close();
    assert_eq!(t.join().unwrap(), Err(WaitError::Closed));
    assert_eq!(q.submit(JobSpec::new(JobId(1))), Err(Error::Closed));
}

#[test]
fn m14_close_races_claim_wait() {
    model(3, || close_races_claim_wait(queue()));
}

/// Negative control for model 14: a close that sets its flag without the
/// wake-up protocol (fence, then wake the sleepers) leaves a sleeper behind.
#[test]
#[should_panic(expected = "deadlock")]
fn m14_negative_silent_close_is_caught() {
    model(3, || {
        close_races_claim_wait(faulty(Faults {
            silent_close: true,
            ..Faults::default()
        }))
    });
}

// ---------------------------------------------------------------- model 13

/// Model 13 (beyond the list): a claimer sets a job aside because it
/// does not fit its cluster's slot while another thread raises the slot's
/// resources: the job is never stranded in the set-aside list (the
/// generation check and fences of `set_aside` / `set_cluster_resources`).
fn set_aside_races_resource_raise(q: Arc<JobQueue>) {
    {
        let small = dagqueue::Resources {
            cores: 1,
            memory_gb: 1,
        };
        let big = dagqueue::Resources {
            cores: 4,
            memory_gb: 1,
        };
        q.set_cluster_resources(ClusterId(0), small).unwrap();
        q.submit(JobSpec::new(JobId(1)).cluster(ClusterId(0)).resources(big))
            .unwrap();
        let q1 = Arc::clone(&q);
        let t = thread::spawn(move || q1.set_cluster_resources(ClusterId(0), big).unwrap());
        let first = q.claim(R);
        t.join().unwrap();
        let claimed = first.or_else(|| q.claim(R));
        assert_eq!(
            claimed.map(|c| c.job()),
            Some(JobId(1)),
            "a job that fits after the raise was stranded"
        );
    }
}

#[test]
fn m13_set_aside_races_resource_raise() {
    model(3, || set_aside_races_resource_raise(queue()));
}

/// Negative control for model 13: setting a job aside without re-checking
/// the resources generation strands it.
#[test]
#[should_panic(expected = "stranded")]
fn m13_negative_unchecked_set_aside_is_caught() {
    model(3, || {
        set_aside_races_resource_raise(faulty(Faults {
            unchecked_set_aside: true,
            ..Faults::default()
        }))
    });
}

// ---------------------------------------------------------------- model 15

/// Model 15: a caller goes to sleep in `wait_idle` while the last job is
/// completed: it is woken and sees an idle queue.
fn wait_idle_races_last_completion(q: Arc<JobQueue>) {
    submit(&q, 1);
    let claim = claimed(&q, 1);
    let q1 = Arc::clone(&q);
    let t = thread::spawn(move || q1.wait_idle(Duration::from_secs(3600)));
    q.complete(claim, Outcome::Success).unwrap();
    assert!(t.join().unwrap(), "wait_idle gave up on an idle queue");
}

#[test]
fn m15_wait_idle_races_last_completion() {
    model(3, || wait_idle_races_last_completion(queue()));
}

/// Negative control for model 15: a terminal transition that does not wake
/// the idle waiters leaves one asleep.
#[test]
#[should_panic(expected = "deadlock")]
fn m15_negative_silent_finish_is_caught() {
    model(3, || {
        wait_idle_races_last_completion(faulty(Faults {
            silent_finish: true,
            ..Faults::default()
        }))
    });
}

// ---------------------------------------------------------------- model 16

/// `job` ended because of a dependency: its state, its view and the named
/// dependency's state agree (failed with a failed one; cancelled with a
/// cancelled one, or as not needed by a completed after-failure one).
fn assert_ended_as_its_dependency_says(q: &JobQueue, job: JobId) {
    let view = q.job(job).unwrap();
    let (dependency, state, dependency_state) = match view.end {
        Some(JobEnd::DependencyFailed { dependency }) => {
            (dependency, JobState::Failed, JobState::Failed)
        }
        Some(JobEnd::DependencyCancelled { dependency }) => {
            (dependency, JobState::Cancelled, JobState::Cancelled)
        }
        Some(JobEnd::DependencySucceeded { dependency }) => {
            (dependency, JobState::Cancelled, JobState::Completed)
        }
        other => panic!("{job} ended {other:?}"),
    };
    assert_eq!(view.state, state);
    assert_eq!(
        q.state(dependency),
        Ok(dependency_state),
        "the view and the word disagree on how {job} ended"
    );
}

/// Model 16: a job's two dependencies end differently at the same time (one
/// fails, one is cancelled): the job ends once, and its view names a
/// dependency that really ended the way the job's state says.
fn two_dependencies_end_differently(q: Arc<JobQueue>) {
    submit(&q, 1);
    submit(&q, 2);
    q.submit(JobSpec::new(JobId(3)).depends_on([JobId(1), JobId(2)]))
        .unwrap();
    let claim = claimed(&q, 1);
    let q1 = Arc::clone(&q);
    let t = thread::spawn(move || q1.complete(claim, Outcome::Failure).unwrap());
    let cancel = q.cancel(JobId(2));
    assert_eq!(t.join().unwrap(), Completion::Failed);
    assert_eq!(cancel, Ok(CancelOutcome::Cancelled));
    assert_ended_as_its_dependency_says(&q, JobId(3));
    let metrics = q.metrics();
    assert_eq!(metrics.failed + metrics.cancelled, 3, "job 3 counted once");
}

#[test]
fn m16_two_dependencies_end_differently() {
    model(3, || two_dependencies_end_differently(queue()));
}

/// Negative control for model 16: ending the job first and noting the
/// dependency after lets the note name the other dependency.
#[test]
#[should_panic(expected = "disagree")]
fn m16_negative_note_after_end_is_caught() {
    model(3, || {
        two_dependencies_end_differently(faulty(Faults {
            note_after_end: true,
            ..Faults::default()
        }))
    });
}

// ------------------------------------------------------- models 17 to 19

/// A queue whose claims hold a lease of 10 ms, its clock at 0 (loom has no
/// time: the models set the clock and sweep at chosen instants).
fn leased(faults: Faults) -> Arc<JobQueue> {
    let q = Arc::new(
        JobQueue::builder()
            .lease(Duration::from_millis(10))
            .__with_faults(faults)
            .build()
            .unwrap(),
    );
    set_time(&q, 0);
    q
}

/// Model 17: a lease's expiry races the worker's report: exactly one ends
/// the attempt, the cluster slot is released once, each is counted once.
fn expiry_races_complete(q: Arc<JobQueue>) {
    q.set_cluster_capacity(ClusterId(0), 1).unwrap();
    q.submit(JobSpec::new(JobId(1)).cluster(ClusterId(0)).max_retries(1))
        .unwrap();
    let claim = claimed(&q, 1);
    let q1 = Arc::clone(&q);
    let t = thread::spawn(move || q1.complete(claim, Outcome::Success));
    let expired = expire_leases_at(&q, 20_000); // the lease ran out at 10_000
    let reported = t.join().unwrap();
    match reported {
        Ok(Completion::Completed) => {
            assert_eq!(expired, 0);
            assert_eq!(q.state(JobId(1)), Ok(JobState::Completed));
        }
        Err(Error::StaleClaim { .. }) => {
            assert_eq!(expired, 1);
            assert_eq!(q.state(JobId(1)), Ok(JobState::Pending)); // retried
        }
        other => panic!("report: {other:?}"),
    }
    assert_eq!(
        cluster_word(&q, ClusterId(0)),
        Some((0, 0, 1, false)),
        "the slot was released twice or not at all"
    );
    let metrics = q.metrics();
    assert_eq!(metrics.completed + metrics.retried, 1);
}

#[test]
fn m17_expiry_races_complete() {
    model(3, || expiry_races_complete(leased(Faults::default())));
}

/// Negative control for model 17: releasing the slot before the CAS that
/// decides who ends the attempt releases it twice when the report wins.
#[test]
#[should_panic(expected = "released twice")]
fn m17_negative_early_expiry_release_is_caught() {
    model(3, || {
        expiry_races_complete(leased(Faults {
            early_expiry_release: true,
            ..Faults::default()
        }))
    });
}

/// Model 18: a heartbeat races the sweep that finds its lease due: a
/// heartbeat that succeeded was in time (the lease is not taken back), and
/// one that failed was too late (it is).
fn expiry_races_heartbeat(q: Arc<JobQueue>) {
    submit(&q, 1);
    let claim = claimed(&q, 1); // at 0: due at 10_000
    set_time(&q, 5_000); // the heartbeat moves it to 15_000
    let q1 = Arc::clone(&q);
    let t = thread::spawn(move || q1.heartbeat(&claim));
    let expired = expire_leases_at(&q, 12_000);
    let beat = t.join().unwrap();
    match beat {
        Ok(_) => {
            assert_eq!(
                expired, 0,
                "a lease taken back after a heartbeat extended it"
            );
            assert_eq!(q.state(JobId(1)), Ok(JobState::Scheduled));
        }
        Err(_) => {
            assert_eq!(expired, 1);
            assert_eq!(q.state(JobId(1)), Ok(JobState::Failed));
        }
    }
}

#[test]
fn m18_expiry_races_heartbeat() {
    model(3, || expiry_races_heartbeat(leased(Faults::default())));
}

/// Negative control for model 18: deciding a lease is due without marking
/// it lets a heartbeat extend it after the decision.
#[test]
#[should_panic(expected = "after a heartbeat")]
fn m18_negative_unmarked_expiry_is_caught() {
    model(3, || {
        expiry_races_heartbeat(leased(Faults {
            unmarked_expiry: true,
            ..Faults::default()
        }))
    });
}

/// Model 19: a cancel races the expiry of the job's lease: the cancel is
/// never lost; the job ends cancelled.
fn expiry_races_cancel(q: Arc<JobQueue>) {
    q.submit(JobSpec::new(JobId(1)).max_retries(1)).unwrap();
    let _claim = claimed(&q, 1); // its worker never reports
    let q1 = Arc::clone(&q);
    let t = thread::spawn(move || q1.cancel(JobId(1)));
    expire_leases_at(&q, 20_000);
    let cancelled = t.join().unwrap();
    assert!(cancelled.is_ok());
    assert_eq!(
        q.state(JobId(1)),
        Ok(JobState::Cancelled),
        "the cancel was lost"
    );
    assert_eq!(q.metrics().cancelled, 1);
}

#[test]
fn m19_expiry_races_cancel() {
    model(3, || expiry_races_cancel(leased(Faults::default())));
}

/// Negative control for model 19: ending the expired attempt by
/// load-then-store overwrites a cancel request made in between.
#[test]
#[should_panic(expected = "the cancel was lost")]
fn m19_negative_racy_expiry_is_caught() {
    model(3, || {
        expiry_races_cancel(leased(Faults {
            racy_expiry: true,
            ..Faults::default()
        }))
    });
}

// ---------------------------------------------------------------- model 20

/// Model 20: a delayed job becomes due while a worker goes to sleep in
/// `claim_wait`: the worker is woken and claims it (no lost wake-up).
fn due_job_races_claim_wait(q: Arc<JobQueue>) {
    set_time(&q, 0);
    q.submit(JobSpec::new(JobId(1)).delay(Duration::from_millis(10)))
        .unwrap();
    let q1 = Arc::clone(&q);
    let t = thread::spawn(move || q1.claim_wait(R, Duration::from_secs(3600)));
    set_time(&q, 10_000);
    release_due_at(&q, 10_000);
    let claim = t.join().unwrap();
    assert_eq!(claim.map(|c| c.job()), Ok(JobId(1)));
}

#[test]
fn m20_due_job_races_claim_wait() {
    model(3, || due_job_races_claim_wait(queue()));
}

/// Negative control for model 20: releasing the due job into its lane
/// without the wake-up leaves the sleeper behind.
#[test]
#[should_panic(expected = "deadlock")]
fn m20_negative_silent_release_is_caught() {
    model(3, || {
        due_job_races_claim_wait(faulty(Faults {
            silent_release: true,
            ..Faults::default()
        }))
    });
}

// ---------------------------------------------------------------- model 21

/// Model 21: a mixed-kind job whose two dependencies end differently at the
/// same time: its after-success dependency fails while its after-failure
/// dependency completes. Both verdicts end it; it ends once, one way, and
/// its view names a dependency that ended the way its state says.
fn mixed_kinds_end_differently(q: Arc<JobQueue>) {
    submit(&q, 1);
    submit(&q, 2);
    q.submit(
        JobSpec::new(JobId(3))
            .depends_on([JobId(1)])
            .depends_on_kind(DependencyKind::AfterFailure, [JobId(2)]),
    )
    .unwrap();
    let first = claimed(&q, 1);
    let second = claimed(&q, 2);
    let q1 = Arc::clone(&q);
    let t = thread::spawn(move || q1.complete(first, Outcome::Failure).unwrap());
    let completed = q.complete(second, Outcome::Success);
    assert_eq!(t.join().unwrap(), Completion::Failed);
    assert_eq!(completed, Ok(Completion::Completed));
    assert_ended_as_its_dependency_says(&q, JobId(3));
    let metrics = q.metrics();
    assert_eq!(
        metrics.completed + metrics.failed + metrics.cancelled,
        3,
        "job 3 counted once"
    );
}

#[test]
fn m21_mixed_kinds_end_differently() {
    model(3, || mixed_kinds_end_differently(queue()));
}

/// Negative control for model 21: ending the job first and noting the
/// dependency after lets the note name the other dependency.
#[test]
#[should_panic(expected = "disagree")]
fn m21_negative_note_after_end_is_caught() {
    model(3, || {
        mixed_kinds_end_differently(faulty(Faults {
            note_after_end: true,
            ..Faults::default()
        }))
    });
}

// ---------------------------------------------------------------- model 22

/// Model 22: a thread's lease slot (a single-writer sequence lock) is read
/// whole by the sweep while its thread replaces the entry: the sweep sees
/// the old entry or the new one, never fields of both.
fn lease_slot_read_is_whole(torn: bool) {
    let slot = Arc::new(LeaseSlotProbe::new());
    slot.write(1, torn);
    let owner = Arc::clone(&slot);
    let t = thread::spawn(move || owner.write(2, torn));
    let seen = slot.read();
    t.join().unwrap();
    assert!(
        matches!(seen, Some([1, 1, 1, 1]) | Some([2, 2, 2, 2])),
        "torn read: {seen:?}"
    );
    assert_eq!(slot.read(), Some([2, 2, 2, 2]));
}

#[test]
fn m22_lease_slot_read_is_whole() {
    model(3, || lease_slot_read_is_whole(false));
}

/// Negative control for model 22: a write without the odd counter and its
/// fence lets the sweep read fields of two entries.
#[test]
#[should_panic(expected = "torn read")]
fn m22_negative_unguarded_write_is_caught() {
    model(3, || lease_slot_read_is_whole(true));
}

// ---------------------------------------------------------------- model 23

/// Model 23: an async worker (`claim_any_async` on two runner types, under
/// loom's `block_on`) goes to sleep while another thread makes a job of
/// the second runner type ready: it is woken and claims it. The async
/// form of model 12, through the wait on several signals.
fn async_claim_is_woken(q: Arc<JobQueue>) {
    // The waiter is the model's main thread (a deadlock then unwinds its
    // own stack, not a spawned thread's that loom tears down).
    let q1 = Arc::clone(&q);
    let t = thread::spawn(move || q1.submit(JobSpec::new(JobId(1)).runner(OTHER)).unwrap());
    let claimed = loom::future::block_on(q.claim_any_async(&[R, OTHER])).map(|c| c.job());
    t.join().unwrap();
    assert_eq!(claimed, Ok(JobId(1)));
}

const OTHER: RunnerType = RunnerType(9);

#[test]
fn m23_async_claim_is_woken() {
    model(3, || async_claim_is_woken(queue()));
}

/// Negative control for model 23: without the wake-up on enqueue the async
/// worker is left pending forever (a deadlock).
#[test]
#[should_panic(expected = "deadlock")]
fn m23_negative_silent_enqueue_is_caught() {
    model(3, || {
        async_claim_is_woken(faulty(Faults {
            silent_enqueue: true,
            ..Faults::default()
        }))
    });
}

// ---------------------------------------------------------------- model 24

/// Model 24: a claim races a cancel of the same job while someone
/// subscribes: the two threads write their events into their own rings,
/// and the subscriber still gets the job's events in the order of its
/// transitions (each event starts in the state the one before ended in,
/// the last ends in the job's final state).
fn events_of_a_job_in_order(q: Arc<JobQueue>) {
    let mut events = q.subscribe();
    q.submit(JobSpec::new(JobId(1))).unwrap();
    let q1 = Arc::clone(&q);
    let t = thread::spawn(move || q1.claim(R).map(|c| c.job()));
    let _ = q.cancel(JobId(1));
    let claimed = t.join().unwrap();
    let mut history = Vec::new();
    while let Ok(event) = events.try_recv() {
        history.push(event);
    }
    let kinds: Vec<EventKind> = history.iter().map(|e| e.kind).collect();
    for pair in history.windows(2) {
        assert_eq!(
            pair[1].from,
            Some(pair[0].to),
            "events out of order: {kinds:?}"
        );
    }
    let last = history.last().expect("events");
    assert_eq!(
        Ok(last.to),
        q.state(JobId(1)),
        "events out of order: {kinds:?}"
    );
    assert_eq!(
        history.len(),
        2 + usize::from(claimed.is_some()),
        "{kinds:?}"
    );
}

#[test]
fn m24_events_of_a_job_in_order() {
    model(3, || events_of_a_job_in_order(queue()));
}

/// Negative control for model 24: a transition that clears its mark before
/// writing its event lets the next transition's event be written first.
#[test]
#[should_panic(expected = "events out of order")]
fn m24_negative_early_unmark_is_caught() {
    model(3, || {
        events_of_a_job_in_order(faulty(Faults {
            early_unmark: true,
            ..Faults::default()
        }))
    });
}

// ------------------------------------------------------------- helpers 25+

/// The cluster's word agrees with the jobs: its running count is the
/// number of `jobs` claimed (scheduled or running) on it, and no
/// reservation is left over.
fn assert_cluster_counts(q: &JobQueue, cluster: ClusterId, jobs: &[u64]) {
    let claimed = jobs
        .iter()
        .filter(|&&id| q.state(JobId(id)).is_ok_and(|s| s.is_claimed()))
        .count() as u32;
    let (running, reserving, _, _) = cluster_word(q, cluster).unwrap();
    assert_eq!(
        (running, reserving),
        (claimed, 0),
        "the cluster's slots disagree with its jobs"
    );
}

// ---------------------------------------------------------------- model 25

/// Model 25 (three threads): two jobs that each wait on two dependencies
/// are submitted, on two threads, while a third completes one of those
/// dependencies. Each registration either beats the dependency's seal
/// (the finisher counts it down) or finds the list sealed (the submitter
/// does): never both, never neither. With the other dependency still
/// running, both stay waiting; once it completes both are released, once.
fn dependents_submitted_while_one_dependency_completes(q: Arc<JobQueue>) {
    submit(&q, 1);
    submit(&q, 2);
    let (first, second) = (claimed(&q, 1), claimed(&q, 2));
    let q1 = Arc::clone(&q);
    let finisher = thread::spawn(move || q1.complete(first, Outcome::Success).unwrap());
    let q2 = Arc::clone(&q);
    let submitter = thread::spawn(move || {
        q2.submit(JobSpec::new(JobId(4)).depends_on([JobId(1), JobId(2)]))
            .unwrap()
    });
    q.submit(JobSpec::new(JobId(3)).depends_on([JobId(1), JobId(2)]))
        .unwrap();
    assert_eq!(finisher.join().unwrap(), Completion::Completed);
    submitter.join().unwrap();
    let waiting = [q.state(JobId(3)), q.state(JobId(4))];
    assert_eq!(
        waiting,
        [Ok(JobState::Waiting), Ok(JobState::Waiting)],
        "released before its second dependency finished"
    );
    q.complete(second, Outcome::Success).unwrap();
    let mut released: Vec<JobId> = std::iter::from_fn(|| q.claim(R).map(|c| c.job())).collect();
    released.sort();
    assert_eq!(released, vec![JobId(3), JobId(4)], "released exactly once");
}

#[test]
fn m25_dependents_submitted_while_one_dependency_completes() {
    model_capped(3, 3, || {
        dependents_submitted_while_one_dependency_completes(queue())
    });
}

/// Negative control for model 25: a registration that beat the seal also
/// counted down by its submitter (a double decrement) releases the job
/// while its other dependency still runs.
#[test]
#[should_panic(expected = "released before its second dependency finished")]
fn m25_negative_double_release_is_caught() {
    model_capped(3, 3, || {
        dependents_submitted_while_one_dependency_completes(faulty(Faults {
            double_release: true,
            ..Faults::default()
        }))
    });
}

// ---------------------------------------------------------------- model 26

/// Model 26: slot handover on a full cluster (capacity 1). A worker
/// completes the job holding the slot while another thread claims: a claim
/// that got the slot must see the job that held it finished (the release
/// happens before the reservation that reads it), and a third thread that
/// reads job 2 claimed then reads job 1 finished (never more jobs claimed
/// on the cluster than its capacity).
/// The orderings on the cluster word are what this model checks: weakened
/// to Relaxed by hand, it fails (docs/DESIGN.md, "The models").
fn slot_handover(q: Arc<JobQueue>) {
    q.set_cluster_capacity(ClusterId(0), 1).unwrap();
    for id in 1..=2 {
        q.submit(JobSpec::new(JobId(id)).cluster(ClusterId(0)))
            .unwrap();
    }
    let first = claimed(&q, 1);
    q.start(&first).unwrap();
    let q1 = Arc::clone(&q);
    let worker = thread::spawn(move || q1.complete(first, Outcome::Success).unwrap());
    let q2 = Arc::clone(&q);
    let reader = thread::spawn(move || {
        // Job 2 first: if it is claimed, it took the slot job 1 held, so
        // job 1's end happened before, and a later read of job 1 sees it.
        let second = q2.state(JobId(2)).unwrap();
        let first = q2.state(JobId(1)).unwrap();
        usize::from(first.is_claimed()) + usize::from(second.is_claimed())
    });
    let taken = q.claim(R).map(|claim| (claim.job(), q.state(JobId(1))));
    assert_eq!(worker.join().unwrap(), Completion::Completed);
    let claimed_at_once = reader.join().unwrap();
    if let Some((job, holder)) = taken {
        assert_eq!(job, JobId(2));
        assert_eq!(
            holder,
            Ok(JobState::Completed),
            "took the slot before its holder was seen finished"
        );
    }
    assert!(
        claimed_at_once <= 1,
        "two jobs claimed on a cluster of capacity 1"
    );
    assert_cluster_counts(&q, ClusterId(0), &[1, 2]);
}

#[test]
fn m26_slot_handover_on_a_full_cluster() {
    model(3, || slot_handover(queue()));
}

// ---------------------------------------------------------------- model 27

/// Model 27 (three threads): attempt 1 of a job holding the only slot of
/// its cluster is reported three times at once — a failure with a retry
/// left (then its worker claims the retry), a late success, a duplicate
/// failure. Exactly one report ends the attempt; the slot is released once
/// (the retry can take it, and the cluster's word always matches its
/// jobs); the others get `StaleClaim`.
fn reports_race_on_a_cluster(q: Arc<JobQueue>) {
    q.set_cluster_capacity(ClusterId(0), 1).unwrap();
    q.submit(JobSpec::new(JobId(1)).cluster(ClusterId(0)).max_retries(1))
        .unwrap();
    let first = claimed(&q, 1);
    let (q1, report) = (Arc::clone(&q), first.clone());
    let worker = thread::spawn(move || {
        let failed = q1.complete(report, Outcome::Failure);
        (failed, q1.claim(R))
    });
    let (q2, duplicate) = (Arc::clone(&q), first.clone());
    let duplicated = thread::spawn(move || q2.complete(duplicate, Outcome::Failure));
    let late = q.complete(first, Outcome::Success);
    let (failed, retry) = worker.join().unwrap();
    let duplicate = duplicated.join().unwrap();
    let reports = [&failed, &duplicate, &late];
    assert_eq!(
        reports.iter().filter(|r| r.is_ok()).count(),
        1,
        "one report ends the attempt: {reports:?}"
    );
    assert_cluster_counts(&q, ClusterId(0), &[1]);
    match (late, retry) {
        (Ok(Completion::Completed), retry) => {
            assert!(retry.is_none());
            assert_eq!(q.state(JobId(1)), Ok(JobState::Completed));
        }
        (Err(_), Some(retry)) => {
            assert_eq!(retry.attempt(), 2);
            q.complete(retry, Outcome::Success).unwrap();
            assert_eq!(q.state(JobId(1)), Ok(JobState::Completed));
        }
        (Err(_), None) => {
            // A failure ended attempt 1 and the retry waits: the slot is
            // free for it.
            assert_eq!(q.state(JobId(1)), Ok(JobState::Pending));
            let retry = q.claim(R).expect("the retry takes the freed slot");
            q.complete(retry, Outcome::Success).unwrap();
        }
        (other, _) => panic!("unexpected {other:?}"),
    }
    assert_cluster_counts(&q, ClusterId(0), &[1]);
    assert_eq!(q.metrics().completed, 1);
}

#[test]
fn m27_reports_race_on_a_cluster() {
    model(3, || reports_race_on_a_cluster(queue()));
}

/// Negative control for model 27: a report that releases the slot before
/// its CAS releases it even when the CAS fails (a stale or duplicate
/// report), and the cluster's word no longer matches its jobs.
#[test]
#[should_panic(expected = "slots disagree")]
fn m27_negative_early_report_release_is_caught() {
    model(3, || {
        reports_race_on_a_cluster(faulty(Faults {
            early_report_release: true,
            ..Faults::default()
        }))
    });
}

// ---------------------------------------------------------------- model 28

/// Model 28 (three threads): a diamond (2 and 3 wait on 1, 4 on 2 and 3).
/// Job 1 fails for good while one thread cancels 3 and another cancels 4.
/// The failure cascades down both sides of the diamond onto jobs that may
/// already be cancelled: every job ends exactly once, each job ended by a
/// dependency names one that ended the way its state says, and the
/// metrics count each job once.
fn diamond_cascade_races_cancels(q: Arc<JobQueue>) {
    submit(&q, 1);
    for id in [2, 3] {
        q.submit(JobSpec::new(JobId(id)).depends_on([JobId(1)]))
            .unwrap();
    }
    q.submit(JobSpec::new(JobId(4)).depends_on([JobId(2), JobId(3)]))
        .unwrap();
    let claim = claimed(&q, 1);
    let q1 = Arc::clone(&q);
    let worker = thread::spawn(move || q1.complete(claim, Outcome::Failure).unwrap());
    let q2 = Arc::clone(&q);
    let canceller = thread::spawn(move || q2.cancel(JobId(3)));
    let cancel_4 = q.cancel(JobId(4));
    assert_eq!(worker.join().unwrap(), Completion::Failed);
    let cancel_3 = canceller.join().unwrap();
    assert_eq!(q.state(JobId(1)), Ok(JobState::Failed));
    assert_ended_as_its_dependency_says(&q, JobId(2));
    for (id, cancel) in [(3, cancel_3), (4, cancel_4)] {
        match cancel {
            Ok(CancelOutcome::Cancelled) => {
                let view = q.job(JobId(id)).unwrap();
                assert_eq!(view.state, JobState::Cancelled);
                assert_eq!(view.end, Some(JobEnd::Cancelled), "job {id}");
            }
            // Ended by the cascade first: the cancel found it terminal.
            Err(Error::AlreadyFinished { .. }) => {
                assert_ended_as_its_dependency_says(&q, JobId(id))
            }
            other => panic!("cancel of {id}: {other:?}"),
        }
    }
    let metrics = q.metrics();
    assert_eq!(
        metrics.failed + metrics.cancelled,
        4,
        "every job counted once: {metrics:?}"
    );
    assert!(q.wait_idle(Duration::ZERO), "a job left unfinished");
}

#[test]
fn m28_diamond_cascade_races_cancels() {
    model_capped(3, 4, || diamond_cascade_races_cancels(queue()));
}

// ---------------------------------------------------------------- model 29

/// Model 29: a dependency is added to a waiting job while its only other
/// dependency completes: the job is released only when both are done,
/// once. (Whichever comes first: the job is still waiting, or was just
/// released and goes back to waiting.)
fn dependency_added_while_other_completes(q: Arc<JobQueue>) {
    submit(&q, 1);
    submit(&q, 2);
    q.submit(JobSpec::new(JobId(3)).depends_on([JobId(1)]))
        .unwrap();
    let (first, second) = (claimed(&q, 1), claimed(&q, 2));
    let q1 = Arc::clone(&q);
    let finisher = thread::spawn(move || q1.complete(first, Outcome::Success).unwrap());
    let added = q.add_dependencies(JobId(3), &[JobId(2)]);
    assert_eq!(finisher.join().unwrap(), Completion::Completed);
    match added {
        Ok(()) => {
            assert_eq!(
                q.state(JobId(3)),
                Ok(JobState::Waiting),
                "released before its added dependency finished"
            );
            q.complete(second, Outcome::Success).unwrap();
        }
        // Claimed between its release and the add: not possible here (no
        // one claims), so an error is a bug.
        Err(e) => panic!("add_dependencies: {e:?}"),
    }
    assert_eq!(q.claim(R).map(|c| c.job()), Some(JobId(3)));
    assert_eq!(q.claim(R), None, "released exactly once");
}

#[test]
fn m29_dependency_added_while_other_completes() {
    model(3, || dependency_added_while_other_completes(queue()));
}

// ---------------------------------------------------------------- model 30

/// Model 30: pruning races the submission of a job that names a finished
/// dependency: the submission either resolves it before it is pruned (and
/// the job is released: its dependency completed) or finds it gone
/// (`UnknownDependency`, nothing submitted); never a job left waiting.
#[test]
fn m30_prune_races_dependent_submit() {
    model(3, || {
        let q = queue();
        submit(&q, 1);
        let claim = claimed(&q, 1);
        q.complete(claim, Outcome::Success).unwrap();
        let q1 = Arc::clone(&q);
        let pruner = thread::spawn(move || q1.prune_finished().len());
        let submitted = q.submit(JobSpec::new(JobId(2)).depends_on([JobId(1)]));
        let pruned = pruner.join().unwrap();
        assert_eq!(
            pruned,
            1,
            "job 1 is pruned: {:?} {:?} {:?}",
            q.state(JobId(1)),
            submitted,
            q.state(JobId(2))
        );
        match submitted {
            Ok(_) => {
                assert_eq!(q.state(JobId(2)), Ok(JobState::Pending), "left waiting");
                assert_eq!(q.claim(R).map(|c| c.job()), Some(JobId(2)));
            }
            Err(e) => {
                assert_eq!(
                    e,
                    Error::UnknownDependency {
                        job: JobId(2),
                        dependency: JobId(1)
                    }
                );
                assert_eq!(q.state(JobId(2)), Err(Error::UnknownJob(JobId(2))));
            }
        }
        assert_eq!(q.claim(R), None);
    });
}

// ---------------------------------------------------------------- model 31

/// Model 31: `resume_cluster` races a worker going to sleep in
/// `claim_wait` on the paused cluster's only job: the worker is woken and
/// claims it. (A lost wake-up is a deadlock, which loom reports.)
fn resume_races_claim_wait(q: Arc<JobQueue>) {
    q.set_cluster_capacity(ClusterId(0), 1).unwrap();
    q.submit(JobSpec::new(JobId(1)).cluster(ClusterId(0)))
        .unwrap();
    q.pause_cluster(ClusterId(0)).unwrap();
    let q1 = Arc::clone(&q);
    let worker = thread::spawn(move || q1.claim_wait(R, Duration::from_secs(3600)));
    q.resume_cluster(ClusterId(0)).unwrap();
    let claim = worker.join().unwrap();
    assert_eq!(claim.map(|c| c.job()), Ok(JobId(1)));
    assert_cluster_counts(&q, ClusterId(0), &[1]);
}

#[test]
fn m31_resume_races_claim_wait() {
    model(3, || resume_races_claim_wait(queue()));
}

/// Negative control for model 31: a resume that wakes nobody leaves the
/// worker asleep beside a claimable job.
#[test]
#[should_panic(expected = "deadlock")]
fn m31_negative_silent_resume_is_caught() {
    model(3, || {
        resume_races_claim_wait(faulty(Faults {
            silent_resume: true,
            ..Faults::default()
        }))
    });
}

// ---------------------------------------------------------------- model 32

/// Model 32: two claims race on a cluster of capacity 2 whose other slot is
/// taken (a job running): one of them gets the free slot, never both. The
/// capacity check counts running and reserving slots together (a check
/// that let a reservation offset a running job would let both in).
#[test]
fn m32_two_claims_for_the_last_slot() {
    model(3, || {
        let q = queue();
        q.set_cluster_capacity(ClusterId(0), 2).unwrap();
        for id in 1..=3 {
            q.submit(JobSpec::new(JobId(id)).cluster(ClusterId(0)))
                .unwrap();
        }
        let running = claimed(&q, 1);
        q.start(&running).unwrap();
        let q1 = Arc::clone(&q);
        let t = thread::spawn(move || q1.claim(R).map(|c| c.job()));
        let mine = q.claim(R).map(|c| c.job());
        let theirs = t.join().unwrap();
        assert_eq!(
            usize::from(mine.is_some()) + usize::from(theirs.is_some()),
            1,
            "the last slot taken twice (or by nobody): {mine:?} {theirs:?}"
        );
        assert_cluster_counts(&q, ClusterId(0), &[1, 2, 3]);
    });
}

/// Negative control for model 28: a job ended by a dependency first, with
/// the dependency noted after, can name the wrong side of the diamond.
#[test]
#[should_panic(expected = "disagree")]
fn m28_negative_note_after_end_is_caught() {
    model_capped(3, 3, || {
        diamond_cascade_races_cancels(faulty(Faults {
            note_after_end: true,
            ..Faults::default()
        }))
    });
}

// ---------------------------------------------------------------- model 33

/// Model 33: two claimers race for one job on a cluster of capacity 2:
/// both may reserve a slot, one takes the job, and the other gives its
/// reservation back (a leaked reservation would shrink the cluster for
/// good: no test or model saw one before).
#[test]
fn m33_a_claim_that_finds_no_job_returns_its_reservation() {
    model(3, || {
        let q = queue();
        q.set_cluster_capacity(ClusterId(0), 2).unwrap();
        q.submit(JobSpec::new(JobId(1)).cluster(ClusterId(0)))
            .unwrap();
        let q1 = Arc::clone(&q);
        let t = thread::spawn(move || q1.claim(R).map(|c| c.job()));
        let mine = q.claim(R).map(|c| c.job());
        let theirs = t.join().unwrap();
        assert_eq!(
            usize::from(mine.is_some()) + usize::from(theirs.is_some()),
            1
        );
        assert_cluster_counts(&q, ClusterId(0), &[1]);
    });
}

// ---------------------------------------------------------------- model 34

/// Model 34 body: a batch of job 1 and its dependent 2 is submitted while
/// another thread cancels job 1 (which may not be published yet). The
/// batch registers 2 on 1 before publishing either, and publishes 2
/// first; so once the cancel finds 1, it finds 2 too, and 2 is cancelled
/// with it. Either the cancel came first (1 unknown: both stay queued) or
/// both end cancelled; never 2 left waiting on a cancelled job.
fn batch_races_cancel(q: Arc<JobQueue>) {
    let q1 = Arc::clone(&q);
    let t = thread::spawn(move || q1.cancel(JobId(1)));
    q.submit_many([
        JobSpec::new(JobId(1)),
        JobSpec::new(JobId(2)).depends_on([JobId(1)]),
    ])
    .unwrap();
    let cancel = t.join().unwrap();
    let states = (q.state(JobId(1)), q.state(JobId(2)));
    match cancel {
        Err(Error::UnknownJob(_)) => assert_eq!(
            states,
            (Ok(JobState::Pending), Ok(JobState::Waiting)),
            "a cancel that found no job changed the batch"
        ),
        Ok(outcome) => {
            assert_eq!(outcome, CancelOutcome::Cancelled);
            assert_eq!(
                states,
                (Ok(JobState::Cancelled), Ok(JobState::Cancelled)),
                "a dependent left waiting on a cancelled job"
            );
        }
        Err(other) => panic!("cancel: {other:?}"),
    }
}

#[test]
fn m34_batch_races_cancel_of_its_dependency() {
    model(3, || batch_races_cancel(queue()));
}

/// Negative control for model 34: a batch published dependencies first
/// lets the cancel end job 1 while 2 is still reserved; 2 is then
/// published waiting on a job that already ended.
#[test]
#[should_panic(expected = "left waiting")]
fn m34_negative_batch_dependencies_first_is_caught() {
    model(3, || {
        batch_races_cancel(faulty(Faults {
            batch_dependencies_first: true,
            ..Faults::default()
        }))
    });
}

// ---------------------------------------------------------------- model 35

/// Model 35: `add_dependencies` gives job 3 (waiting on job 1) a new
/// dependency, job 2, that already failed, while job 1's worker reports a
/// failure that cascades onto job 3. Both write their note and then race
/// to end the job; whichever wins, job 3 ends failed once, and its view
/// names one of the two dependencies (the note that stood when it ended,
/// which either may have written first). The loser must leave that note
/// alone (`add_dependencies` takes its note back only when the job
/// did not end by a dependency: the mutant that always takes it back,
/// which nothing killed, leaves a view naming job 3 itself).
#[test]
fn m35_add_dependencies_races_a_cascade() {
    model(3, || {
        let q = queue();
        submit(&q, 2);
        let b = claimed(&q, 2);
        q.complete(b, Outcome::Failure).unwrap();
        submit(&q, 1);
        q.submit(JobSpec::new(JobId(3)).depends_on([JobId(1)]))
            .unwrap();
        let a = claimed(&q, 1);
        let q1 = Arc::clone(&q);
        let t = thread::spawn(move || q1.add_dependencies(JobId(3), &[JobId(2)]));
        q.complete(a, Outcome::Failure).unwrap();
        let added = t.join().unwrap();
        let view = q.job(JobId(3)).unwrap();
        assert_eq!(view.state, JobState::Failed);
        match view.end {
            Some(JobEnd::DependencyFailed { dependency }) => assert!(
                dependency == JobId(1) || dependency == JobId(2),
                "job 3's view names {dependency} ({added:?})"
            ),
            other => panic!("job 3 ended {other:?}"),
        }
    });
}

// ---------------------------------------------------------------- model 36

/// Model 36: two workers asleep, one in `claim_wait` and one in
/// `claim_async`, while another thread makes two jobs ready. The second
/// job wakes nobody when the first one's wake-up has not yet been taken
/// (`notify_unless_pending`); the waiter that claims passes the wake-up
/// on, so both jobs are claimed, one by each worker. (A waiter left asleep
/// is a deadlock, which loom reports.) Three threads: capped at bound 2
/// (11,494 executions; bound 3 explores 278,177 in about 100 s).
fn burst_reaches_every_waiter(q: Arc<JobQueue>) {
    // The async waiter is the model's main thread (a deadlock then unwinds
    // its own stack, not a spawned thread's that loom tears down).
    let (q1, q2) = (Arc::clone(&q), Arc::clone(&q));
    let blocking = thread::spawn(move || {
        q1.claim_wait(R, Duration::from_secs(3600))
            .map(|c| c.job())
            .ok()
    });
    let submitter = thread::spawn(move || {
        submit(&q2, 1);
        submit(&q2, 2);
    });
    let awaited = loom::future::block_on(q.claim_async(R))
        .map(|c| c.job())
        .ok();
    submitter.join().unwrap();
    let mut claimed = [blocking.join().unwrap(), awaited];
    claimed.sort();
    assert_eq!(claimed, [Some(JobId(1)), Some(JobId(2))]);
}

#[test]
fn m36_burst_reaches_every_waiter() {
    model_capped(2, 2, || burst_reaches_every_waiter(queue()));
}

/// Negative control for model 36: a waiter that claims without passing the
/// wake-up on leaves the other asleep beside the second job.
#[test]
#[should_panic(expected = "deadlock")]
fn m36_negative_no_pass_on_is_caught() {
    model_capped(2, 2, || {
        burst_reaches_every_waiter(faulty(Faults {
            no_pass_on: true,
            ..Faults::default()
        }))
    });
}

// ---------------------------------------------------------------- model 37

/// Model 37: a compaction races a claim. Jobs 2, 3 and 4 wait at Normal;
/// job 3 is cancelled before the threads start (one stale entry against
/// three). A thread cancels job 4, and that second stale entry compacts the
/// Normal lane (`MIN_STALE` is 1 in the model builds): each entry is popped
/// and the current ones pushed back, job 2's among them. A claim racing it
/// must get a job: one that finds the lanes empty while the compaction
/// holds job 2's entry sees the generation move and looks again
/// (`queue/compact.rs`). (The compaction is triggered by a cancel, not a
/// move: a move's CAS comes before its push, so a claim may find nothing
/// of the moved job for a moment without any compaction, a window the
/// linearizability checker's spec allows.)
fn compaction_races_claim(q: Arc<JobQueue>) {
    for id in 2..=4 {
        submit(&q, id);
    }
    assert_eq!(q.cancel(JobId(3)), Ok(CancelOutcome::Cancelled));
    assert_eq!(q.lane_entries(), 3, "no compaction before the race");
    let canceller = {
        let q = Arc::clone(&q);
        thread::spawn(move || q.cancel(JobId(4)))
    };
    let claimed = q.claim(R).map(|c| c.job());
    let cancelled = canceller.join().unwrap();
    let second = q.claim(R).map(|c| c.job());
    let third = q.claim(R).map(|c| c.job());
    let entries = q.lane_entries();
    assert!(
        claimed.is_some(),
        "a claim found nothing while job 2 was pending"
    );
    // Job 2 claimed once; job 4 claimed only if a claim beat the cancel.
    let mut got = [claimed, second, third];
    got.sort();
    match cancelled {
        Ok(CancelOutcome::Cancelled) => assert_eq!(got, [None, None, Some(JobId(2))]),
        Ok(CancelOutcome::Requested) => {
            assert_eq!(got, [None, Some(JobId(2)), Some(JobId(4))])
        }
        other => panic!("cancel: {other:?}"),
    }
    assert_eq!(entries, 0, "entries left after the claims");
}

#[test]
fn m37_compaction_races_claim() {
    model(3, || compaction_races_claim(queue()));
}

/// Negative control for model 37: a claim that does not look again after
/// a compaction returns nothing while the compaction holds job 2's entry.
#[test]
#[should_panic(expected = "a claim found nothing while job 2 was pending")]
fn m37_negative_unguarded_compaction_is_caught() {
    model(3, || {
        compaction_races_claim(faulty(Faults {
            unguarded_compaction: true,
            ..Faults::default()
        }))
    });
}

// ---------------------------------------------------------------- model 38

/// Model 38: a batch that fails after reserving gives its ids back, and a
/// job named as a dependency meanwhile was never known. The batch (2, 3)
/// races a thread that submits 3 (so the batch's reservation of 3 may
/// fail after 2 was reserved) and then 4, depending on 2. A reserved id is
/// unknown to every operation: if the batch failed, 4 was refused
/// (`UnknownDependency`), never left waiting on a job that does not exist.
/// (Kills the mutant that lets `lookup` return a reserved job: nothing
/// else saw it, docs/MUTANTS.md.)
fn failed_batch_races_a_dependent(q: Arc<JobQueue>) {
    let batch = {
        let q = Arc::clone(&q);
        thread::spawn(move || q.submit_many([JobSpec::new(JobId(2)), JobSpec::new(JobId(3))]))
    };
    let three = q.submit(JobSpec::new(JobId(3)));
    let four = q.submit(JobSpec::new(JobId(4)).depends_on([JobId(2)]));
    let batch = batch.join().unwrap();
    let four_state = q.state(JobId(4));
    let two_state = q.state(JobId(2));
    // Exactly one of the batch and the single submit got id 3.
    assert!(batch.is_ok() != three.is_ok(), "{batch:?} {three:?}");
    if batch.is_err() {
        assert_eq!(two_state, Err(Error::UnknownJob(JobId(2))));
        assert_eq!(
            four,
            Err(Error::UnknownDependency {
                job: JobId(4),
                dependency: JobId(2)
            }),
            "a job depending on a given-back id was accepted"
        );
        assert_eq!(four_state, Err(Error::UnknownJob(JobId(4))));
    } else if four.is_ok() {
        assert_eq!(four_state, Ok(JobState::Waiting));
    }
}

#[test]
fn m38_failed_batch_races_a_dependent() {
    model(3, || failed_batch_races_a_dependent(queue()));
}

// ---------------------------------------------------------------- model 39

/// Model 39: a batch of 2 and 3, both after job 1 (already in the queue),
/// is submitted while another thread claims and completes job 1. The batch
/// registers its jobs with job 1 after publishing them (in batch order)
/// and before releasing their guards; however the completion interleaves,
/// each is released exactly once. (In which order is not fixed when the
/// completion races the registrations, for single submits either: the
/// completer may still hold 2's release when 3 finds the list sealed and
/// settles itself. tests/batch.rs checks the order once job 1 completes
/// after the batch.)
#[test]
fn m39_batch_released_by_a_queued_job_once() {
    // Capped at 4 (7,649 executions, 1 s; unbounded: 483,746, 80 s).
    model_capped(3, 4, || {
        let q = queue();
        q.submit(JobSpec::new(JobId(1))).unwrap();
        let worker = {
            let q = Arc::clone(&q);
            thread::spawn(move || {
                let claim = q.claim(R).expect("job 1 is pending");
                assert_eq!(claim.job(), JobId(1));
                q.complete(claim, Outcome::Success).unwrap();
            })
        };
        q.submit_many([
            JobSpec::new(JobId(2)).depends_on([JobId(1)]),
            JobSpec::new(JobId(3)).depends_on([JobId(1)]),
        ])
        .unwrap();
        worker.join().unwrap();
        let mut claimed = [q.claim(R), q.claim(R)].map(|c| c.map(|c| c.job()));
        claimed.sort();
        assert_eq!(claimed, [Some(JobId(2)), Some(JobId(3))]);
        assert!(q.claim(R).is_none(), "a job released twice");
    });
}

// ---------------------------------------------------------------- model 40

/// Model 40: a subscriber goes to sleep in `recv` while a job is
/// submitted: the event's writer wakes it and it receives the job's
/// `Submitted` event (the writer's side of `wake::CountedSignal` for the
/// event stream; model 15 checks the same signal for `wait_idle`).
fn subscriber_asleep_in_recv_races_an_event(q: Arc<JobQueue>) {
    let mut events = q.subscribe();
    let subscriber = thread::spawn(move || events.recv());
    submit(&q, 1);
    let event = subscriber.join().unwrap().expect("the queue is alive");
    assert_eq!((event.job, event.kind), (JobId(1), EventKind::Submitted));
}

#[test]
fn m40_subscriber_asleep_in_recv_races_an_event() {
    model(3, || subscriber_asleep_in_recv_races_an_event(queue()));
}

/// Negative control for model 40: an event written without waking the
/// subscribers leaves one asleep.
#[test]
#[should_panic(expected = "deadlock")]
fn m40_negative_silent_event_is_caught() {
    model(3, || {
        subscriber_asleep_in_recv_races_an_event(faulty(Faults {
            silent_event: true,
            ..Faults::default()
        }))
    });
}

// ---------------------------------------------------------------- model 41

/// Model 41: a job of runner type `OTHER` is submitted to a full cluster
/// (its lane group, and the cluster's note of `OTHER`, made then) and its
/// worker goes to sleep waiting for it, while the job of runner type `R`
/// holding the cluster's only slot completes: the report that frees the
/// slot wakes the other runner type's waiter (through the cluster's list
/// of its runner types' signals), which claims the job.
fn freed_slot_wakes_another_runner_type(q: Arc<JobQueue>) {
    q.set_cluster_capacity(ClusterId(0), 1).unwrap();
    q.submit(JobSpec::new(JobId(1)).cluster(ClusterId(0)))
        .unwrap();
    let first = claimed(&q, 1);
    let q1 = Arc::clone(&q);
    let worker = thread::spawn(move || q1.complete(first, Outcome::Success).unwrap());
    q.submit(JobSpec::new(JobId(2)).cluster(ClusterId(0)).runner(OTHER))
        .unwrap();
    // The waiter is the model's main thread (see model 23).
    let taken = loom::future::block_on(q.claim_async(OTHER)).map(|c| c.job());
    let completed = worker.join().unwrap();
    assert_eq!(completed, Completion::Completed);
    assert_eq!(taken, Ok(JobId(2)));
}

#[test]
fn m41_freed_slot_wakes_another_runner_type() {
    model(3, || freed_slot_wakes_another_runner_type(queue()));
}

/// Negative control for model 41: a freed slot that wakes only its own
/// runner type's waiters leaves the other runner type's worker asleep.
#[test]
#[should_panic(expected = "deadlock")]
fn m41_negative_own_runner_slot_wake_is_caught() {
    model(3, || {
        freed_slot_wakes_another_runner_type(faulty(Faults {
            own_runner_slot_wake: true,
            ..Faults::default()
        }))
    });
}

// ---------------------------------------------------------------- model 42

/// Model 42 (three threads): a `submit_many` batch in which jobs 1 and 2
/// each have a dependent (3 after 1, 4 after 2: their lists marked, their
/// dependents listed by the batch), and two workers complete 1 and 2 at
/// once. Each seal reads its dependents from the batch's records, and the
/// seal that counts the batch's last marked list down lets the records go:
/// whichever seal comes first, both dependents are released, once each.
fn batch_jobs_with_dependents_in_it_end_at_once(q: Arc<JobQueue>) {
    q.submit_many([
        JobSpec::new(JobId(1)),
        JobSpec::new(JobId(2)),
        JobSpec::new(JobId(3)).depends_on([JobId(1)]),
        JobSpec::new(JobId(4)).depends_on([JobId(2)]),
    ])
    .unwrap();
    let (first, second) = (claimed(&q, 1), claimed(&q, 2));
    let (q1, q2) = (Arc::clone(&q), Arc::clone(&q));
    let one = thread::spawn(move || q1.complete(first, Outcome::Success).unwrap());
    let two = thread::spawn(move || q2.complete(second, Outcome::Success).unwrap());
    assert_eq!(one.join().unwrap(), Completion::Completed);
    assert_eq!(two.join().unwrap(), Completion::Completed);
    let mut released: Vec<JobId> = std::iter::from_fn(|| q.claim(R).map(|c| c.job())).collect();
    released.sort();
    assert_eq!(
        released,
        [JobId(3), JobId(4)],
        "each dependent released once"
    );
}

#[test]
fn m42_batch_jobs_with_dependents_in_it_end_at_once() {
    model(3, || batch_jobs_with_dependents_in_it_end_at_once(queue()));
}

/// Negative control for model 42: a batch that lets its records go at the
/// first seal leaves the second sealer nothing to read its dependent from.
#[test]
#[should_panic(expected = "each dependent released once")]
fn m42_negative_early_batch_unlink_is_caught() {
    model(3, || {
        batch_jobs_with_dependents_in_it_end_at_once(faulty(Faults {
            early_batch_unlink: true,
            ..Faults::default()
        }))
    });
}

// ------------------------------------------------------------ models 43, 44

/// What the lane models saw: each pop's record, tag and the records it was
/// shown behind its entry, in the order of one popper's pops.
type Pops = Vec<(Arc<u64>, u64, Vec<u64>)>;

/// Pops up to `at_most` entries from the lane (stops at the first `None`).
fn pop_some(lane: &RecordFifoProbe, at_most: usize) -> Pops {
    let mut pops = Vec::new();
    for _ in 0..at_most {
        // SAFETY: every model keeps a clone of each record it pushes until
        // it has checked them all.
        match unsafe { lane.pop() } {
            Some(pop) => pops.push(pop),
            None => break,
        }
    }
    pops
}

/// The checks shared by the lane models, made after every join: every
/// record pushed came out once, with its own tag; each popper got one
/// pusher's entries in that pusher's order (`orders`) and was shown, behind
/// an entry, only records it or another popper took later; and once the
/// lane is dropped, each record's only reference is the model's.
/// On a record popped twice, the popped references are forgotten before
/// the panic (their counts are wrong) and so is the lane, whose blocks the
/// extra release may have freed early.
fn check_lane(
    lane: Arc<RecordFifoProbe>,
    records: &[Arc<u64>],
    poppers: Vec<Pops>,
    orders: &[&[u64]],
) {
    let mut taken: Vec<u64> = poppers
        .iter()
        .flatten()
        .map(|(record, _, _)| **record)
        .collect();
    taken.sort();
    let pushed: Vec<u64> = records.iter().map(|record| **record).collect();
    if taken != pushed {
        std::mem::forget(poppers);
        std::mem::forget(lane);
        panic!("each entry popped once: took {taken:?} of {pushed:?}");
    }
    for pops in &poppers {
        let values: Vec<u64> = pops.iter().map(|(record, _, _)| **record).collect();
        for order in orders {
            let mine: Vec<u64> = values
                .iter()
                .copied()
                .filter(|v| order.contains(v))
                .collect();
            let mut sorted = mine.clone();
            sorted.sort_by_key(|v| order.iter().position(|o| o == v));
            assert_eq!(mine, sorted, "one pusher's entries in its order");
        }
        for (index, (record, tag, shown)) in pops.iter().enumerate() {
            assert_eq!(**record, *tag, "tag and record of one entry");
            for value in shown {
                let later_here = values[index + 1..].contains(value);
                let elsewhere = poppers.iter().any(|other| {
                    !std::ptr::eq(other, pops) && other.iter().any(|(r, _, _)| **r == *value)
                });
                assert!(
                    later_here || elsewhere,
                    "shown {value}, which was not behind"
                );
            }
        }
    }
    drop(poppers);
    assert!(lane.is_empty() && lane.len() == 0, "drained");
    drop(lane);
    for record in records {
        assert_eq!(Arc::strong_count(record), 1, "record {record} dropped once");
    }
}

// Models 43 and 44 are capped at two preemptions. At three, loom builds
// schedules in which two threads spin at once (a popper waiting for the
// next block, a pusher or popper waiting at a mark) on a third, preempted
// between its CAS and its stores, and switches between the two spinners
// forever: a yield is a free switch, so that unfair schedule costs no
// preemption, and it exceeds loom's branch limit. The waits cannot form
// a cycle (`record_fifo.rs`, "Progress"), so under a fair scheduler both
// spinners get through; shuttle's scenario 7 runs the FIFO with more
// threads and entries.

/// Model 43: the ready lanes' lock-free FIFO (`record_fifo.rs`, two slots
/// a block in a model build), two pushers and a popper at once: entry 1
/// queued, one pusher adds 2 and 3, the other 4 (the tail crosses into a
/// second block and a third), while the popper takes up to three. Every
/// entry comes out once, with its tag, in its pusher's order, and the
/// records shown behind an entry are ones still to be taken.
fn lane_pushers_and_a_popper(faults: Faults) {
    let records: Vec<Arc<u64>> = (1..=4).map(Arc::new).collect();
    let lane = Arc::new(RecordFifoProbe::new(faults));
    lane.push(Arc::clone(&records[0]));
    let (lane_a, lane_b) = (Arc::clone(&lane), Arc::clone(&lane));
    let (two, three, four) = (
        Arc::clone(&records[1]),
        Arc::clone(&records[2]),
        Arc::clone(&records[3]),
    );
    let a = thread::spawn(move || {
        lane_a.push(two);
        lane_a.push(three);
    });
    let b = thread::spawn(move || lane_b.push(four));
    let mut pops = pop_some(&lane, 3);
    a.join().unwrap();
    b.join().unwrap();
    pops.extend(pop_some(&lane, 4));
    check_lane(lane, &records, vec![pops], &[&[1, 2, 3], &[4]]);
}

#[test]
fn m43_lane_pushers_and_a_popper() {
    model_capped(2, 2, || lane_pushers_and_a_popper(Faults::default()));
}

/// Negative control for model 43: a pusher that publishes its record
/// pointer Relaxed lets the popper read the slot's tag before it is
/// written.
#[test]
#[should_panic(expected = "tag and record of one entry")]
fn m43_negative_relaxed_lane_publish_is_caught() {
    model_capped(2, 2, || {
        lane_pushers_and_a_popper(Faults {
            relaxed_lane_publish: true,
            ..Faults::default()
        })
    });
}

/// Model 44: two poppers race over a block's last slot while a pusher
/// fills it and moves the tail to the next block: entry 1 queued, the
/// pusher adds 2 (the first block's last slot) and 3, each popper takes
/// up to two. Every entry comes out once, each popper's in FIFO order, and
/// the first block is freed by whichever popper releases it last.
fn lane_poppers_across_a_block(faults: Faults) {
    let records: Vec<Arc<u64>> = (1..=3).map(Arc::new).collect();
    let lane = Arc::new(RecordFifoProbe::new(faults));
    lane.push(Arc::clone(&records[0]));
    let (pusher, popper) = (Arc::clone(&lane), Arc::clone(&lane));
    let (two, three) = (Arc::clone(&records[1]), Arc::clone(&records[2]));
    let push = thread::spawn(move || {
        pusher.push(two);
        pusher.push(three);
    });
    let pop = thread::spawn(move || pop_some(&popper, 2));
    let mine = pop_some(&lane, 2);
    push.join().unwrap();
    let theirs = pop.join().unwrap();
    // A record both took (the negative control): stop before the drain,
    // which would walk a block the extra release freed.
    if mine
        .iter()
        .any(|(a, _, _)| theirs.iter().any(|(b, _, _)| Arc::ptr_eq(a, b)))
    {
        std::mem::forget((mine, theirs, lane));
        panic!("each entry popped once: a record popped by both");
    }
    let rest = pop_some(&lane, 3);
    check_lane(lane, &records, vec![mine, theirs, rest], &[&[1, 2, 3]]);
}

#[test]
fn m44_lane_poppers_across_a_block() {
    model_capped(2, 2, || lane_poppers_across_a_block(Faults::default()));
}

/// Negative control for model 44: poppers that take the head by
/// load-then-store can both take one slot.
#[test]
#[should_panic(expected = "each entry popped once")]
fn m44_negative_racy_lane_pop_is_caught() {
    model_capped(2, 2, || {
        lane_poppers_across_a_block(Faults {
            racy_lane_pop: true,
            ..Faults::default()
        })
    });
}
