//! Randomized-schedule scenarios of dagqueue under shuttle: 3 to 8 threads
//! and dozens of jobs, beyond what loom can explore exhaustively, run
//! against the crate's real code (the public `JobQueue` API) with shuttle's
//! atomics, locks and thread-locals swapped in by the sync facade
//! (`--cfg dagqueue_shuttle`; the same stand-ins for dashmap, crossbeam,
//! arc-swap and event-listener as the loom build).
//!
//! Run: `scripts/shuttle.sh` (release, its own target directory). Each
//! scenario runs under shuttle's PCT scheduler (depth
//! `DAGQUEUE_SHUTTLE_PCT_DEPTH`, default 3) and its uniform random
//! scheduler, `DAGQUEUE_SHUTTLE_ITERATIONS` schedules each (default
//! [`DEFAULT_ITERATIONS`]), seeded from `DAGQUEUE_SHUTTLE_SEED` (default a
//! fixed seed, so CI explores the same schedules every run; a long run sets
//! its own). A failing schedule is printed by shuttle for `shuttle::replay`.
//!
//! Every scenario ends each schedule with exact checks: every job ended, in
//! exactly one terminal state, reached once; no (job, attempt) claimed
//! twice; no dependent claimed before its dependencies completed; never
//! more claims held on a cluster than its capacity (the test's own
//! counters); `status()` and `metrics()` agree with the final views and
//! with what the threads saw. The negative controls switch a protocol step
//! off (`Faults`) and must be caught.
#![cfg(dagqueue_shuttle)]

use dagqueue::__loom::{cluster_word, Faults, RecordFifoProbe};
use dagqueue::{
    CancelOutcome, Claim, ClusterId, Completion, Error, JobEnd, JobId, JobQueue, JobSpec, JobState,
    Outcome, Priority, RunnerType, WaitError,
};
use shuttle::scheduler::{PctScheduler, RandomScheduler};
use shuttle::thread;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const R: RunnerType = RunnerType::DEFAULT;

/// Schedules per scheduler per scenario when `DAGQUEUE_SHUTTLE_ITERATIONS`
/// is not set: sized so that the suite takes about a minute in release on
/// a 2-core machine (`scripts/shuttle.sh` prints the counts and times).
const DEFAULT_ITERATIONS: usize = 2000;

/// The schedules a negative control may take to find its bug (it stops at
/// the first failure, so a caught bug costs far fewer).
const NEGATIVE_BUDGET: usize = 3000;

fn env_usize(name: &str, default: usize) -> usize {
    match std::env::var(name) {
        Ok(value) => value
            .parse()
            .unwrap_or_else(|_| panic!("{name}: a number, not {value:?}")),
        Err(_) => default,
    }
}

/// The default seed: CI explores the same schedules every run.
const SEED: u64 = 0x5eed_da60_0e0e;

/// The seed of scenario `name`: from `DAGQUEUE_SHUTTLE_SEED` (or [`SEED`]),
/// except for the negative controls, which always use [`SEED`], so that
/// each is caught, by the same schedule, on every run.
fn seed_for(name: &str) -> u64 {
    let base = match std::env::var("DAGQUEUE_SHUTTLE_SEED") {
        Ok(value) if !name.contains("negative") => value
            .parse()
            .unwrap_or_else(|_| panic!("DAGQUEUE_SHUTTLE_SEED: a number, not {value:?}")),
        _ => SEED,
    };
    // FNV-1a of the scenario's name: each scenario its own schedules.
    name.bytes().fold(base ^ 0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    })
}

fn config() -> shuttle::Config {
    let mut config = shuttle::Config::new();
    // Shuttle warns once that it treats every ordering as SeqCst: that is
    // what these runs are (loom checks the orderings).
    config.silence_warnings = true;
    config.stack_size = 0x4_0000;
    config
}

/// Runs `body` under PCT and then under the random scheduler, `iterations`
/// schedules each, and prints how many each explored.
fn explore(name: &str, iterations: usize, depth: usize, body: impl Fn() + Send + Sync + 'static) {
    let seed = seed_for(name);
    let body = Arc::new(body);
    let started = Instant::now();
    let pct = {
        let body = Arc::clone(&body);
        shuttle::Runner::new(
            PctScheduler::new_from_seed(seed, depth, iterations),
            config(),
        )
        .run(move || body())
    };
    let random = {
        let body = Arc::clone(&body);
        shuttle::Runner::new(
            RandomScheduler::new_from_seed(seed.rotate_left(17), iterations),
            config(),
        )
        .run(move || body())
    };
    eprintln!(
        "shuttle: {name}: {} schedules (pct depth {depth}: {pct}, random: {random}), seed {seed:#x}, {:.1} s",
        pct + random,
        started.elapsed().as_secs_f64()
    );
}

/// A scenario under the default (CI) or configured number of schedules.
/// Each schedule returns the races it saw (named); with at least 100
/// schedules per scheduler, the run must have seen every one of `races`:
/// the schedules really interleave what the scenario races.
fn scenario(
    name: &str,
    races: &[&'static str],
    body: impl Fn() -> BTreeSet<&'static str> + Send + Sync + 'static,
) {
    let iterations = env_usize("DAGQUEUE_SHUTTLE_ITERATIONS", DEFAULT_ITERATIONS);
    let seen = Arc::new(Mutex::new(BTreeSet::new()));
    let record = Arc::clone(&seen);
    let depth = env_usize("DAGQUEUE_SHUTTLE_PCT_DEPTH", 3);
    explore(name, iterations, depth, move || {
        let races = body();
        record.lock().unwrap().extend(races);
    });
    if iterations >= 100 {
        let seen = seen.lock().unwrap();
        assert_eq!(
            seen.iter().copied().collect::<Vec<_>>(),
            races
                .iter()
                .copied()
                .collect::<BTreeSet<_>>()
                .into_iter()
                .collect::<Vec<_>>(),
            "{name}: the races seen over the run"
        );
    }
}

/// A negative control: the same scenario with a fault switched on, which
/// must fail. Prints after how many schedules it was caught. Always the
/// fixed seed and PCT depth 3, whatever the environment says, so that each
/// is caught by the same schedule, with the same message, on every run.
fn negative<R>(name: &str, body: impl Fn() -> R + Send + Sync + 'static) {
    struct Report(&'static str, Arc<AtomicUsize>);
    impl Drop for Report {
        fn drop(&mut self) {
            if std::thread::panicking() {
                eprintln!(
                    "shuttle: {}: caught at schedule {}",
                    self.0,
                    self.1.load(SeqCst)
                );
            }
        }
    }
    let runs = Arc::new(AtomicUsize::new(0));
    let name: &'static str = Box::leak(name.to_string().into_boxed_str());
    let _report = Report(name, Arc::clone(&runs));
    explore(name, NEGATIVE_BUDGET, 3, move || {
        runs.fetch_add(1, SeqCst);
        body();
    });
}

// ------------------------------------------------------------- the jobs

/// One job of a scenario, as the test knows it.
#[derive(Clone, Debug)]
struct Job {
    id: u64,
    deps: Vec<u64>,
    cluster: Option<ClusterId>,
    priority: Priority,
    max_retries: u32,
}

impl Job {
    fn new(id: u64) -> Job {
        Job {
            id,
            deps: Vec::new(),
            cluster: None,
            priority: Priority::Normal,
            max_retries: 0,
        }
    }

    fn spec(&self) -> JobSpec {
        let mut spec = JobSpec::new(JobId(self.id))
            .priority(self.priority)
            .max_retries(self.max_retries)
            .depends_on(self.deps.iter().map(|&d| JobId(d)));
        if let Some(cluster) = self.cluster {
            spec = spec.cluster(cluster);
        }
        spec
    }
}

const PRIORITIES: [Priority; 3] = [Priority::Low, Priority::Normal, Priority::High];

/// `chains` interleaved chains of diamonds, `diamonds` in all: diamond k is
/// top (4k), two middles (4k+1, 4k+2) on the top, and a bottom (4k+3) on
/// both middles; a top depends on the bottom of the diamond `chains` before
/// it, and a bottom also on a middle of the diamond just before it (across
/// chains): multi-dependency joins, diamonds, and fan-out of 2 to 3.
fn diamonds(diamonds: u64, chains: u64) -> Vec<Job> {
    let mut jobs = Vec::new();
    for k in 0..diamonds {
        let base = 4 * k;
        let mut top = Job::new(base);
        if k >= chains {
            top.deps.push(4 * (k - chains) + 3);
        }
        jobs.push(top);
        for m in 1..=2 {
            let mut middle = Job::new(base + m);
            middle.deps.push(base);
            jobs.push(middle);
        }
        let mut bottom = Job::new(base + 3);
        bottom.deps.extend([base + 1, base + 2]);
        if k >= 1 {
            bottom.deps.push(4 * (k - 1) + 1);
        }
        jobs.push(bottom);
    }
    for job in &mut jobs {
        job.priority = PRIORITIES[(job.id % 3) as usize];
    }
    jobs
}

// ----------------------------------------------------------- the ledger

/// What the threads saw, kept by the test (a std mutex, never held across
/// a queue call, so invisible to shuttle's scheduler).
#[derive(Default)]
struct Ledger {
    /// Every (job, attempt) claimed.
    claims: BTreeSet<(u64, u32)>,
    /// Jobs whose worker was about to report success.
    reported_success: BTreeSet<u64>,
    /// Every report's result, by job.
    reports: BTreeMap<u64, Vec<Completion>>,
    /// Every cancel's result, by job.
    cancels: BTreeMap<u64, Vec<Result<CancelOutcome, Error>>>,
    /// Claims held now, by cluster.
    held: BTreeMap<ClusterId, u32>,
    /// The most claims held at once, by cluster.
    most_held: BTreeMap<ClusterId, u32>,
}

/// A scenario's shared state.
struct World {
    q: Arc<JobQueue>,
    jobs: Vec<Job>,
    /// Each cluster's capacity, as set by the test.
    capacity: BTreeMap<ClusterId, u32>,
    ledger: Mutex<Ledger>,
    /// Producers (threads other than workers that may make work
    /// claimable) still running.
    producers: AtomicUsize,
    /// Workers holding a claim (from its claim to its report's return).
    holders: AtomicUsize,
    /// Decides each attempt's outcome.
    policy: fn(u64, u32) -> Outcome,
}

fn always_succeed(_: u64, _: u32) -> Outcome {
    Outcome::Success
}

impl World {
    /// `producers`: threads other than workers that the workers must
    /// outlive (each calls [`World::produced`] when done).
    fn with(
        q: JobQueue,
        jobs: Vec<Job>,
        capacity: BTreeMap<ClusterId, u32>,
        policy: fn(u64, u32) -> Outcome,
        producers: usize,
    ) -> Arc<World> {
        for (&cluster, &cap) in &capacity {
            q.set_cluster_capacity(cluster, cap).unwrap();
        }
        Arc::new(World {
            q: Arc::new(q),
            jobs,
            capacity,
            ledger: Mutex::new(Ledger::default()),
            producers: AtomicUsize::new(producers),
            holders: AtomicUsize::new(0),
            policy,
        })
    }

    fn job(&self, id: u64) -> &Job {
        &self.jobs[id as usize]
    }

    fn submit_all(&self) {
        for job in &self.jobs {
            self.q.submit(job.spec()).unwrap();
        }
    }

    /// A producer is done (see `producers`).
    fn produced(&self) {
        self.producers.fetch_sub(1, SeqCst);
    }

    /// What a worker does with a claim: checks it, starts it, lets others
    /// run, reports the policy's outcome.
    fn work(&self, claim: Claim) {
        let (id, attempt) = (claim.job().0, claim.attempt());
        // Read before the ledger is locked: the ledger is a std mutex, which
        // shuttle does not schedule, so no queue call (a point where shuttle
        // may switch threads, which would then block on it for good) runs
        // while it is held.
        let cluster = claim.cluster();
        {
            let mut ledger = self.ledger.lock().unwrap();
            assert!(
                ledger.claims.insert((id, attempt)),
                "job {id} claimed twice in the same attempt {attempt}"
            );
            for &dep in &self.job(id).deps {
                assert!(
                    ledger.reported_success.contains(&dep),
                    "job {id} claimed before its dependency {dep} was reported"
                );
            }
            if let Some(cluster) = cluster {
                let held = ledger.held.entry(cluster).or_default();
                *held += 1;
                let now = *held;
                let most = ledger.most_held.entry(cluster).or_default();
                *most = (*most).max(now);
                let cap = self.capacity.get(&cluster).copied().unwrap_or(8);
                assert!(
                    now <= cap,
                    "more running on cluster {cluster:?} than its capacity: {now} > {cap}"
                );
            }
        }
        for &dep in &self.job(id).deps {
            assert_eq!(
                self.q.state(JobId(dep)),
                Ok(JobState::Completed),
                "job {id} claimed before its dependency {dep} completed"
            );
        }
        match self.q.start(&claim) {
            Ok(()) | Err(Error::CancelRequested(_)) => {}
            Err(other) => panic!("start of a current claim of job {id}: {other}"),
        }
        thread::yield_now();
        let outcome = (self.policy)(id, attempt);
        let mut ledger = self.ledger.lock().unwrap();
        if let Some(cluster) = cluster {
            *ledger.held.get_mut(&cluster).unwrap() -= 1;
        }
        if outcome == Outcome::Success {
            ledger.reported_success.insert(id);
        }
        drop(ledger);
        let completion = match outcome {
            Outcome::Success => self.q.complete(claim, Outcome::Success),
            Outcome::Failure => self.q.fail(claim, &format!("attempt {attempt}")),
        }
        .unwrap_or_else(|e| panic!("report of a current claim of job {id}: {e}"));
        let mut ledger = self.ledger.lock().unwrap();
        ledger.reports.entry(id).or_default().push(completion);
    }

    /// Claims, works and reports while there is work; whether it claimed.
    fn claim_and_work(&self) -> bool {
        match self.q.claim(R) {
            Some(claim) => {
                self.holders.fetch_add(1, SeqCst);
                self.work(claim);
                self.holders.fetch_sub(1, SeqCst);
                true
            }
            None => false,
        }
    }

    /// A polling worker: claims until nothing is claimable and no thread
    /// can make anything claimable any more. Work becomes claimable only
    /// by a producer (before it counts itself out) or by a report (of a
    /// holder, which then claims again itself), so a worker that finds
    /// neither running and then fails one more claim may stop: that claim
    /// sees everything they did.
    fn poll_worker(&self) -> usize {
        let mut claims = 0;
        loop {
            if self.claim_and_work() {
                claims += 1;
                continue;
            }
            if self.producers.load(SeqCst) == 0 && self.holders.load(SeqCst) == 0 {
                if self.claim_and_work() {
                    claims += 1;
                    continue;
                }
                return claims;
            }
            thread::yield_now();
        }
    }

    /// A worker asleep in `claim_wait` when there is nothing to claim,
    /// until the queue is closed.
    fn waiting_worker(&self) -> usize {
        let mut claims = 0;
        loop {
            match self.q.claim_wait(R, Duration::from_secs(3600)) {
                Ok(claim) => {
                    claims += 1;
                    self.work(claim);
                }
                Err(WaitError::Closed) => return claims,
                Err(WaitError::TimedOut) => panic!("claim_wait timed out in a model"),
            }
        }
    }

    /// Every job's view, by id; each must have ended.
    fn views(&self) -> BTreeMap<u64, dagqueue::JobView> {
        let mut views = BTreeMap::new();
        for job in &self.jobs {
            let view = self.q.job(JobId(job.id)).unwrap();
            assert!(
                view.state.is_terminal(),
                "job {} never ended: {:?}",
                job.id,
                view.state
            );
            views.insert(job.id, view);
        }
        views
    }

    /// The checks every schedule ends with, once every thread has joined.
    /// Returns the final views by id.
    fn check_end(&self) -> BTreeMap<u64, dagqueue::JobView> {
        let q = &self.q;
        let views = self.views();
        let ledger = self.ledger.lock().unwrap();
        assert_eq!(q.claim(R), None, "a claimable job is left");
        for (&id, view) in &views {
            let reports = ledger.reports.get(&id).map_or(&[][..], Vec::as_slice);
            let finals: Vec<_> = reports.iter().filter(|c| c.is_final()).collect();
            let cancelled_by_cancel = ledger.cancels.get(&id).map_or(0, |c| {
                c.iter()
                    .filter(|r| **r == Ok(CancelOutcome::Cancelled))
                    .count()
            });
            let by_dependency = matches!(
                view.end,
                Some(
                    JobEnd::DependencyFailed { .. }
                        | JobEnd::DependencyCancelled { .. }
                        | JobEnd::DependencySucceeded { .. }
                )
            );
            assert_eq!(
                finals.len() + cancelled_by_cancel + usize::from(by_dependency),
                1,
                "job {id} did not end exactly once: reports {reports:?}, cancels {:?}, end {:?}",
                ledger.cancels.get(&id),
                view.end
            );
            // How it ended agrees with who ended it.
            match (view.state, finals.first(), &view.end) {
                (JobState::Completed, Some(Completion::Completed), Some(JobEnd::Succeeded)) => {}
                (
                    JobState::Failed,
                    Some(Completion::Failed),
                    Some(JobEnd::Failed { attempts, reason }),
                ) => {
                    assert_eq!(*attempts, view.attempt);
                    assert_eq!(
                        reason.as_deref(),
                        Some(format!("attempt {attempts}").as_str())
                    );
                }
                (JobState::Cancelled, Some(Completion::Cancelled), Some(JobEnd::Cancelled)) => {
                    assert!(view.cancel_requested);
                }
                (JobState::Cancelled, None, Some(JobEnd::Cancelled)) => {
                    assert_eq!(cancelled_by_cancel, 1);
                }
                (JobState::Failed, None, Some(JobEnd::DependencyFailed { dependency }))
                | (JobState::Cancelled, None, Some(JobEnd::DependencyCancelled { dependency })) => {
                    assert!(self.job(id).deps.contains(&dependency.0));
                    assert_eq!(views[&dependency.0].state, view.state);
                }
                other => panic!("job {id} ended inconsistently: {other:?}"),
            }
            // Attempts: one claim per attempt, numbered 1, 2, ...
            let attempts: Vec<u32> = ledger
                .claims
                .range((id, 0)..=(id, u32::MAX))
                .map(|&(_, a)| a)
                .collect();
            assert_eq!(
                attempts,
                (1..=view.attempt).collect::<Vec<_>>(),
                "job {id}'s attempts"
            );
            assert_eq!(
                reports.len(),
                attempts.len(),
                "job {id}: one report per claim"
            );
            if view.state == JobState::Completed {
                for dep in &self.job(id).deps {
                    assert_eq!(views[dep].state, JobState::Completed);
                }
            }
        }
        for (cluster, held) in &ledger.held {
            assert_eq!(*held, 0, "claims still held on {cluster:?}");
        }
        // status() and metrics() agree with the views and the ledger.
        let count = |state: JobState| views.values().filter(|v| v.state == state).count();
        let reports = ledger.reports.values().flatten();
        let retried = reports.filter(|c| **c == Completion::Retrying).count();
        let status = q.status();
        for state in JobState::ALL {
            assert_eq!(
                status.by_state.get(state),
                count(state),
                "status count of {state:?}"
            );
        }
        assert_eq!(status.by_state.total(), self.jobs.len());
        assert_eq!(status.queued_by_priority, [0; Priority::LEVELS]);
        assert!(status.unfinished_by_runner.values().all(|&n| n == 0));
        for (cluster, c) in &status.clusters {
            assert_eq!(
                (c.running, c.queued),
                (0, 0),
                "cluster {cluster:?} at the end"
            );
            assert_eq!(cluster_word(q, *cluster).map(|w| (w.0, w.1)), Some((0, 0)));
        }
        let m = q.metrics();
        assert_eq!(m, status.metrics);
        assert_eq!(m.submitted, self.jobs.len() as u64);
        assert_eq!(m.scheduled, ledger.claims.len() as u64);
        assert_eq!(m.completed, count(JobState::Completed) as u64);
        assert_eq!(m.failed, count(JobState::Failed) as u64);
        assert_eq!(m.cancelled, count(JobState::Cancelled) as u64);
        assert_eq!(m.retried, retried as u64);
        views
    }
}

fn spawn<T: Send + 'static>(
    world: &Arc<World>,
    f: impl FnOnce(&World) -> T + Send + 'static,
) -> thread::JoinHandle<T> {
    let world = Arc::clone(world);
    thread::spawn(move || f(&world))
}

fn faulty(faults: Faults) -> JobQueue {
    JobQueue::builder().__with_faults(faults).build().unwrap()
}

// ------------------------------------------------- scenario 1: the DAG

/// A DAG of 32 jobs (diamonds in two chains, joins of up to three
/// dependencies) submitted by one thread while four workers drain it.
fn dag_drained_while_submitted(q: JobQueue) -> BTreeSet<&'static str> {
    let world = World::with(q, diamonds(8, 2), BTreeMap::new(), always_succeed, 1);
    let submitter = spawn(&world, |w| {
        for job in &w.jobs {
            w.q.submit(job.spec()).unwrap();
            if job.id % 4 == 3 {
                thread::yield_now();
            }
        }
        w.produced();
    });
    let workers: Vec<_> = (0..4).map(|_| spawn(&world, World::poll_worker)).collect();
    submitter.join().unwrap();
    let claims: usize = workers.into_iter().map(|w| w.join().unwrap()).sum();
    let views = world.check_end();
    assert_eq!(claims, 32);
    assert!(views
        .values()
        .all(|v| v.state == JobState::Completed && v.attempt == 1));
    BTreeSet::new()
}

/// Scenario 1: a DAG with diamonds and multi-dependency joins, submitted
/// while four workers race to drain it (6 threads, 32 jobs).
#[test]
fn s1_dag_with_diamonds_drained_by_racing_workers() {
    scenario("s1_dag", &[], || {
        dag_drained_while_submitted(JobQueue::new())
    });
}

/// Negative control for scenario 1: a dependents list taken but not sealed
/// lets a dependent submitted as its dependency finishes register too
/// late: it is never released.
#[test]
#[should_panic(expected = "never ended")]
fn s1_negative_unsealed_dependents_is_caught() {
    negative("s1_negative_unsealed_dependents", || {
        dag_drained_while_submitted(faulty(Faults {
            unsealed_dependents: true,
            ..Faults::default()
        }))
    });
}

// ---------------------------------------------- scenario 2: the clusters

const C1: ClusterId = ClusterId(1);
const C2: ClusterId = ClusterId(2);

/// 24 jobs, two thirds on two small clusters (capacity 2 and 1), the later
/// half depending on the earlier; five workers hold their claims across a
/// yield, so claims meet full clusters and slots are handed over; an
/// observer reads the cluster words meanwhile.
fn clusters_at_capacity(q: JobQueue) -> BTreeSet<&'static str> {
    let mut jobs: Vec<Job> = (0..24).map(Job::new).collect();
    for job in &mut jobs {
        job.cluster = [None, Some(C1), Some(C2)][(job.id % 3) as usize];
        if job.id >= 12 {
            job.deps.push(job.id - 12);
        }
        job.priority = PRIORITIES[(job.id % 2) as usize];
    }
    let world = World::with(
        q,
        jobs,
        BTreeMap::from([(C1, 2), (C2, 1)]),
        always_succeed,
        1,
    );
    world.submit_all();
    let observer = spawn(&world, |w| {
        for _ in 0..6 {
            for (&cluster, &cap) in &w.capacity {
                let (running, reserving, capacity, paused) = cluster_word(&w.q, cluster).unwrap();
                assert_eq!((capacity, paused), (cap, false));
                assert!(
                    running + reserving <= cap,
                    "more claimed on cluster {cluster:?} than its capacity (its word): {running} running + {reserving} reserving > {cap}"
                );
            }
            thread::yield_now();
        }
        w.produced();
    });
    let workers: Vec<_> = (0..5).map(|_| spawn(&world, World::poll_worker)).collect();
    observer.join().unwrap();
    let claims: usize = workers.into_iter().map(|w| w.join().unwrap()).sum();
    let views = world.check_end();
    assert_eq!(claims, 24);
    assert!(views.values().all(|v| v.state == JobState::Completed));
    let ledger = world.ledger.lock().unwrap();
    assert!(ledger.most_held[&C1] <= 2 && ledger.most_held[&C2] == 1);
    match ledger.most_held[&C1] {
        2 => BTreeSet::from(["cluster 1 held at its capacity"]),
        _ => BTreeSet::from(["cluster 1 never full"]),
    }
}

/// Scenario 2: clusters at capacity, slots handed over (7 threads, 24
/// jobs).
#[test]
fn s2_clusters_at_capacity_hand_over_slots() {
    scenario(
        "s2_clusters",
        &["cluster 1 held at its capacity", "cluster 1 never full"],
        || clusters_at_capacity(JobQueue::new()),
    );
}

/// Negative control for scenario 2: capacity checked, then incremented, in
/// two steps: two claims pass the check for one slot.
#[test]
#[should_panic(expected = "than its capacity")]
fn s2_negative_two_step_reserve_is_caught() {
    negative("s2_negative_two_step_reserve", || {
        clusters_at_capacity(faulty(Faults {
            two_step_reserve: true,
            ..Faults::default()
        }))
    });
}

// ----------------------------------------------- scenario 3: the retries

/// How many times job `id`'s attempts fail before one succeeds.
fn failures(id: u64) -> u32 {
    (id % 4) as u32
}

fn fail_first_attempts(id: u64, attempt: u32) -> Outcome {
    if attempt <= failures(id) {
        Outcome::Failure
    } else {
        Outcome::Success
    }
}

/// 24 jobs on one cluster of capacity 2, each retried up to twice; job i
/// fails its first i % 4 attempts (so every fourth job fails for good) and
/// jobs 8.. depend on job i − 8 (chains of three: a failure cascades).
/// Four workers.
fn retries_on_a_cluster(q: JobQueue) -> BTreeSet<&'static str> {
    let mut jobs: Vec<Job> = (0..24).map(Job::new).collect();
    for job in &mut jobs {
        job.cluster = Some(C1);
        job.max_retries = 2;
        if job.id >= 8 {
            job.deps.push(job.id - 8);
        }
    }
    let world = World::with(q, jobs, BTreeMap::from([(C1, 2)]), fail_first_attempts, 0);
    world.submit_all();
    let workers: Vec<_> = (0..4).map(|_| spawn(&world, World::poll_worker)).collect();
    for worker in workers {
        worker.join().unwrap();
    }
    let views = world.check_end();
    // The exact outcome, job by job.
    let mut expected_retries = 0;
    for (&id, view) in &views {
        let failed_dep = (id >= 8 && views[&(id - 8)].state == JobState::Failed).then(|| id - 8);
        match failed_dep {
            Some(dep) => {
                assert_eq!(
                    view.end,
                    Some(JobEnd::DependencyFailed {
                        dependency: JobId(dep)
                    })
                );
                assert_eq!(view.attempt, 0);
            }
            None if failures(id) > 2 => {
                assert_eq!(view.state, JobState::Failed, "job {id}");
                assert_eq!(view.attempt, 3);
                expected_retries += 2;
            }
            None => {
                assert_eq!(view.state, JobState::Completed, "job {id}");
                assert_eq!(view.attempt, failures(id) + 1);
                expected_retries += failures(id);
            }
        }
    }
    let m = world.q.metrics();
    // Jobs 3 and 7 fail for good (two retries each); 11, 15, 19 and 23
    // follow them by cascade, never run: 6 failed. The 18 others complete,
    // job i after i % 4 retries: 22 retries in all.
    assert_eq!((m.completed, m.failed, m.retried), (18, 6, 22));
    assert_eq!(expected_retries, 22);
    BTreeSet::new()
}

/// Scenario 3: retries on a cluster at capacity, failures cascading (5
/// threads, 24 jobs).
#[test]
fn s3_retries_on_a_cluster() {
    scenario("s3_retries", &[], || retries_on_a_cluster(JobQueue::new()));
}

// ------------------------------------------------ scenario 4: the cancels

/// The jobs the canceller cancels, in order: tops (cascading to whole
/// diamonds and what follows), middles, bottoms, and one twice.
const CANCELLED: [u64; 7] = [12, 1, 7, 18, 23, 12, 3];

/// 24 jobs (diamonds in two chains); three workers drain them while a
/// canceller cancels seven, some queued, some claimed, some already ended.
fn cancels_race_claims(q: JobQueue) -> BTreeSet<&'static str> {
    let world = World::with(q, diamonds(6, 2), BTreeMap::new(), always_succeed, 1);
    world.submit_all();
    let canceller = spawn(&world, |w| {
        for id in CANCELLED {
            let result = w.q.cancel(JobId(id));
            w.ledger
                .lock()
                .unwrap()
                .cancels
                .entry(id)
                .or_default()
                .push(result);
            thread::yield_now();
        }
        w.produced();
    });
    let workers: Vec<_> = (0..3).map(|_| spawn(&world, World::poll_worker)).collect();
    canceller.join().unwrap();
    for worker in workers {
        worker.join().unwrap();
    }
    // What the cancels said first (the exact-once check would otherwise
    // report a racy claim's damage less directly), then the common checks.
    let views = world.views();
    let ledger = world.ledger.lock().unwrap();
    let mut races = BTreeSet::new();
    for (&id, results) in &ledger.cancels {
        let view = &views[&id];
        let claimed = ledger.claims.contains(&(id, 1));
        races.insert(match results[0] {
            Ok(CancelOutcome::Cancelled) => "cancelled queued",
            Ok(CancelOutcome::Requested) => "cancel requested of a claimed job",
            _ => "cancel after the job ended",
        });
        for result in results {
            match result {
                Ok(CancelOutcome::Cancelled) => {
                    assert!(!claimed, "claimed a job that was cancelled: job {id}");
                    assert_eq!(view.end, Some(JobEnd::Cancelled));
                }
                Ok(CancelOutcome::Requested) => {
                    assert!(claimed, "job {id}: cancel requested of a job never claimed");
                    assert_eq!(ledger.reports[&id], [Completion::Cancelled]);
                    assert_eq!(view.end, Some(JobEnd::Cancelled));
                }
                Err(Error::AlreadyFinished { job, state }) => {
                    assert_eq!((job.0, *state), (id, view.state));
                }
                Err(other) => panic!("cancel of job {id}: {other}"),
            }
        }
    }
    // A job not cancelled itself ends cancelled only by a cancelled
    // dependency, and completes otherwise.
    for (&id, view) in &views {
        if !ledger.cancels.contains_key(&id) {
            let any_dep_cancelled = world
                .job(id)
                .deps
                .iter()
                .any(|d| views[d].state == JobState::Cancelled);
            let expected = if any_dep_cancelled {
                JobState::Cancelled
            } else {
                JobState::Completed
            };
            assert_eq!(view.state, expected, "job {id}");
        }
    }
    // The second cancel of job 12 finds it ended.
    assert!(matches!(
        ledger.cancels[&12][1],
        Err(Error::AlreadyFinished { .. })
    ));
    drop(ledger);
    assert_eq!(world.check_end(), views);
    races
}

/// Scenario 4: cancels race claims and cascade (5 threads, 24 jobs).
#[test]
fn s4_cancels_race_claims_and_cascade() {
    scenario(
        "s4_cancels",
        &[
            "cancelled queued",
            "cancel requested of a claimed job",
            "cancel after the job ended",
        ],
        || cancels_race_claims(JobQueue::new()),
    );
}

/// Negative control for scenario 4: a claim by load-then-store overwrites
/// a concurrent cancel.
#[test]
#[should_panic(expected = "claimed a job that was cancelled")]
fn s4_negative_racy_claim_is_caught() {
    negative("s4_negative_racy_claim", || {
        cancels_race_claims(faulty(Faults {
            racy_claim: true,
            ..Faults::default()
        }))
    });
}

// ------------------------------------------ scenario 5: reprioritization

/// 24 low-priority jobs (every third on the one before it); three workers
/// drain them while a reprioritizer moves them between levels.
fn reprioritize_races_claims(q: JobQueue) -> BTreeSet<&'static str> {
    let mut jobs: Vec<Job> = (0..24).map(Job::new).collect();
    for job in &mut jobs {
        job.priority = Priority::Low;
        if job.id % 3 == 2 {
            job.deps.push(job.id - 1);
        }
    }
    let world = World::with(q, jobs, BTreeMap::new(), always_succeed, 1);
    world.submit_all();
    let reprioritizer = spawn(&world, |w| {
        // Job by job, the priority its last successful reprioritize set.
        let mut last = BTreeMap::new();
        let mut races = BTreeSet::new();
        for round in 0..2u64 {
            for id in (0..24).rev().step_by(2) {
                let priority = [Priority::High, Priority::Critical, Priority::Normal]
                    [((id + round) % 3) as usize];
                match w.q.reprioritize(JobId(id), priority) {
                    Ok(()) => {
                        last.insert(id, priority);
                        races.insert("reprioritized while queued");
                    }
                    Err(Error::NotQueued { job, .. }) => {
                        assert_eq!(job, JobId(id));
                        races.insert("reprioritize after the claim");
                    }
                    Err(other) => panic!("reprioritize of job {id}: {other}"),
                }
                if id % 4 == 1 {
                    thread::yield_now();
                }
            }
        }
        w.produced();
        (last, races)
    });
    let workers: Vec<_> = (0..3).map(|_| spawn(&world, World::poll_worker)).collect();
    let (last, races) = reprioritizer.join().unwrap();
    let claims: usize = workers.into_iter().map(|w| w.join().unwrap()).sum();
    // The priorities first (a lost reprioritize is named as such), then
    // the common checks.
    let views = world.views();
    for (&id, view) in &views {
        assert_eq!(
            view.priority,
            last.get(&id).copied().unwrap_or(Priority::Low),
            "job {id}'s priority is not its last successful reprioritize's"
        );
    }
    assert_eq!(world.check_end(), views);
    assert_eq!(claims, 24, "each job claimed exactly once");
    for view in views.values() {
        assert_eq!((view.state, view.attempt), (JobState::Completed, 1));
    }
    races
}

/// Scenario 5: reprioritize races claims (5 threads, 24 jobs).
#[test]
fn s5_reprioritize_races_claims() {
    scenario(
        "s5_reprioritize",
        &["reprioritized while queued", "reprioritize after the claim"],
        || reprioritize_races_claims(JobQueue::new()),
    );
}

/// Negative control for scenario 5: a claim by load-then-store overwrites
/// a concurrent reprioritize, whose new priority is lost.
#[test]
#[should_panic(expected = "not its last successful reprioritize")]
fn s5_negative_racy_claim_is_caught() {
    negative("s5_negative_racy_claim", || {
        reprioritize_races_claims(faulty(Faults {
            racy_claim: true,
            ..Faults::default()
        }))
    });
}

// ------------------------------------------- scenario 6: claim_wait, close

/// 24 jobs (diamonds; the bottoms on a cluster of capacity 1) submitted by
/// one thread while four workers sleep in `claim_wait`; the main thread
/// waits in `wait_idle`, then closes the queue, which must wake every
/// worker with `Closed` (a lost wake-up is a deadlock shuttle reports).
fn claim_wait_then_close(q: JobQueue) -> BTreeSet<&'static str> {
    let mut jobs = diamonds(6, 2);
    for job in &mut jobs {
        if job.id % 4 == 3 {
            job.cluster = Some(C1);
        }
    }
    let world = World::with(q, jobs, BTreeMap::from([(C1, 1)]), always_succeed, 0);
    let workers: Vec<_> = (0..4)
        .map(|_| spawn(&world, World::waiting_worker))
        .collect();
    let submitter = spawn(&world, |w| {
        for job in &w.jobs {
            w.q.submit(job.spec()).unwrap();
            if job.id % 5 == 0 {
                thread::yield_now();
            }
        }
    });
    submitter.join().unwrap();
    assert!(world.q.wait_idle(Duration::from_secs(3600)));
    world.q.close();
    let claims: usize = workers.into_iter().map(|w| w.join().unwrap()).sum();
    assert_eq!(claims, 24);
    assert_eq!(
        world
            .q
            .claim_wait(R, Duration::from_secs(1))
            .map(|c| c.job()),
        Err(WaitError::Closed)
    );
    let views = world.check_end();
    assert!(views.values().all(|v| v.state == JobState::Completed));
    BTreeSet::new()
}

/// Scenario 6: `claim_wait` sleepers woken by submits, releases and slot
/// handovers, then by `close` (6 threads, 24 jobs).
#[test]
fn s6_claim_wait_then_close() {
    scenario("s6_claim_wait_close", &[], || {
        claim_wait_then_close(JobQueue::new())
    });
}

/// Negative control for scenario 6: `close` that sets its flag without the
/// wake-up protocol leaves a sleeper behind: shuttle reports the deadlock.
#[test]
#[should_panic(expected = "deadlock")]
fn s6_negative_silent_close_is_caught() {
    negative("s6_negative_silent_close", || {
        claim_wait_then_close(faulty(Faults {
            silent_close: true,
            ..Faults::default()
        }))
    });
}

// ------------------------------------------- scenario 7: the lanes' FIFO

/// The ready lanes' lock-free FIFO on its own (`record_fifo.rs`, two slots
/// a block in a model build): three pushers of eight entries each and three
/// poppers at once, so that the ends cross a block every other entry and
/// the waits at the marks and on unwritten slots meet. Every entry comes
/// out once, with its tag; each popper gets each pusher's entries in that
/// pusher's order, and is shown behind an entry only records still to be
/// taken then (by anyone); at the end every record's only reference is
/// the test's.
fn lane_fifo_under_three_and_three(faults: Faults) -> BTreeSet<&'static str> {
    const PUSHERS: u64 = 3;
    const EACH: u64 = 8;
    let records: Vec<Arc<u64>> = (0..PUSHERS * EACH).map(|i| Arc::new(i + 1)).collect();
    let lane = Arc::new(RecordFifoProbe::new(faults));
    let taken = Arc::new(AtomicUsize::new(0));
    let total = records.len();
    let pushers: Vec<_> = (0..PUSHERS)
        .map(|pusher| {
            let lane = Arc::clone(&lane);
            let mine: Vec<Arc<u64>> = records
                .iter()
                .skip((pusher * EACH) as usize)
                .take(EACH as usize)
                .cloned()
                .collect();
            thread::spawn(move || mine.into_iter().for_each(|record| lane.push(record)))
        })
        .collect();
    // The values taken so far (a std mutex: never held across a step
    // shuttle schedules), so that a popper stops at the first entry taken
    // twice, before a lost entry leaves another popper waiting for ever.
    let seen = Arc::new(Mutex::new(BTreeSet::new()));
    let poppers: Vec<_> = (0..3)
        .map(|_| {
            let (lane, taken, seen) = (Arc::clone(&lane), Arc::clone(&taken), Arc::clone(&seen));
            thread::spawn(move || {
                let mut pops = Vec::new();
                while taken.load(SeqCst) < total {
                    // SAFETY: the test holds a clone of every record until
                    // it has checked them all.
                    match unsafe { lane.pop() } {
                        Some(pop) => {
                            let value = *pop.0;
                            if !seen.lock().unwrap().insert(value) {
                                // This popper's references are not all its
                                // own: leave them.
                                std::mem::forget((pops, pop));
                                panic!("each entry popped once: {value} twice");
                            }
                            taken.fetch_add(1, SeqCst);
                            pops.push(pop);
                        }
                        None => thread::yield_now(),
                    }
                }
                pops
            })
        })
        .collect();
    pushers.into_iter().for_each(|p| p.join().unwrap());
    let pops: Vec<Vec<(Arc<u64>, u64, Vec<u64>)>> =
        poppers.into_iter().map(|p| p.join().unwrap()).collect();
    let mut values: Vec<u64> = pops.iter().flatten().map(|(r, _, _)| **r).collect();
    values.sort();
    if values != (1..=total as u64).collect::<Vec<_>>() {
        // Counts are wrong and blocks may be freed early: leave them.
        std::mem::forget((pops, lane));
        panic!("each entry popped once: took {values:?}");
    }
    let mut races = BTreeSet::new();
    for mine in &pops {
        let order: Vec<u64> = mine.iter().map(|(r, _, _)| **r).collect();
        for pusher in 0..PUSHERS {
            let theirs: Vec<u64> = order
                .iter()
                .copied()
                .filter(|v| (v - 1) / EACH == pusher)
                .collect();
            assert!(
                theirs.windows(2).all(|w| w[0] < w[1]),
                "pusher {pusher}'s order: {theirs:?}"
            );
        }
        for (record, tag, shown) in mine {
            assert_eq!(**record, *tag, "tag and record of one entry");
            if !shown.is_empty() {
                races.insert("a popper shown records behind its entry");
            }
        }
        if !mine.is_empty() && mine.len() < total {
            races.insert("poppers shared the entries");
        }
    }
    drop(pops);
    assert!(lane.is_empty() && lane.len() == 0, "drained");
    drop(lane);
    for record in &records {
        assert_eq!(Arc::strong_count(record), 1, "record {record} dropped once");
    }
    races
}

/// Scenario 7: the lanes' FIFO under three pushers and three poppers.
#[test]
fn s7_lane_fifo_under_three_pushers_and_three_poppers() {
    scenario(
        "s7_lane_fifo",
        &[
            "a popper shown records behind its entry",
            "poppers shared the entries",
        ],
        || lane_fifo_under_three_and_three(Faults::default()),
    );
}

/// Negative control for scenario 7: poppers that take the head by
/// load-then-store take one slot twice, or move the head back past slots
/// already taken, so that a popper waits for ever for a slot no pusher
/// will write (shuttle stops the schedule at its step bound): either is
/// the bug caught.
#[test]
fn s7_negative_racy_lane_pop_is_caught() {
    let caught = std::panic::catch_unwind(|| {
        negative("s7_negative_racy_lane_pop", || {
            lane_fifo_under_three_and_three(Faults {
                racy_lane_pop: true,
                ..Faults::default()
            })
        })
    })
    .expect_err("the racy pop was not caught");
    let message = caught
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| caught.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_default();
    assert!(
        message.contains("each entry popped once") || message.contains("exceeded max_steps"),
        "caught by something else: {message}"
    );
}
