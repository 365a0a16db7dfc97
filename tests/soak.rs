//! Soak: a mixed workload using every feature, run for a set time, with
//! invariants checked continuously while it runs and exact totals at the end.
//!
//! ```sh
//! cargo test --release --test soak -- --nocapture                          # 3 s
//! DAGQUEUE_SOAK_SECS=30 cargo test --release --test soak -- --nocapture    # CI
//! DAGQUEUE_SOAK_SECS=600 cargo test --release --test soak -- --nocapture   # 10 minutes
//! ```
//!
//! `DAGQUEUE_SOAK_SECS` (default 3, so that `cargo test --workspace` stays
//! fast), `DAGQUEUE_SOAK_SEED` (default 1), `DAGQUEUE_SOAK_PROGRESS` (seconds
//! between progress lines; default 10, or 1 below 30 s).
//!
//! **The run.** Submitter threads submit waves: small DAGs (after-success,
//! after-any and after-failure edges) behind a *gate* job of the
//! submitter's own runner type, which the submitter claims and completes
//! once the whole wave is in, so no job of a wave can end (and be pruned)
//! before its dependents were submitted. Jobs have random priorities, users
//! (fair share, aging), runner types, clusters and resources, retries with
//! per-queue or per-job backoff, delays, and leases: heartbeated ones, and
//! ones whose worker "crashes" (stops reporting) on a planned attempt so the
//! lease runs out. Blocking workers (`claim_wait`, `claim_wait_any`, a
//! minute-long wait: woken by the queue, never by a poll) and async ones
//! (`claim_async`, `claim_any_async` on tokio, each wait bounded by
//! `next_due` as the README says) cover every runner type. A chaos thread
//! cancels, reprioritizes and expires leases; an admin thread changes a
//! cluster's capacity, pauses and resumes another, and shrinks and restores a
//! third's resources; a subscriber consumes the event stream; a pruner calls
//! `prune_finished`; a checker samples status and metrics every 100 ms.
//!
//! **Checked while it runs** (each a [`Kind`] of violation):
//! * a (job, attempt) handed out twice (each job's claimed attempts are a
//!   bit set: a second claim of one attempt is a duplicate);
//! * a job claimed before its dependencies allowed it: for an after-success
//!   edge the dependency's worker must have *called* `complete(Success)`
//!   (marked before the call, so the queue's own release chain orders the
//!   mark before the dependent's claim), and the dependency's view (or, once
//!   pruned, the view `prune_finished` returned) must be terminal in a way
//!   the edge accepts;
//! * a cluster above its bound, from `status()` and from the workers' own
//!   in-flight counters (incremented after a claim returns, decremented
//!   before its report: never more than the queue's running count). The
//!   bound is raised before a capacity grows and lowered only once the
//!   queue's running count is under the new one after a pause drained the
//!   claims in flight, so it is never below the true limit;
//! * a paused cluster whose running count grows while paused;
//! * counts out of range (above the jobs ever submitted, metrics going
//!   backwards, more ended than submitted) and jobs retained above a bound
//!   (memory), and no progress for 10 s while jobs remain (liveness);
//! * each job's event history (the checks of tests/events.rs, streamed):
//!   starts with `Submitted`, each event starts where the one before ended,
//!   attempts grow only at claims, time never goes back, nothing after the
//!   end, and the end (state, attempt) equals the view `prune_finished`
//!   returned for it.
//!
//! **At the end**: stop submitting, `wait_idle`, `close`, join, prune, then
//! exact totals: every job pruned exactly once and ended consistently with
//! its plan and its dependencies' ends, the ends by kind equal the workers',
//! chaos's and the stream's tallies, the metrics equal those, the status is
//! empty, and the stream's counts by kind equal the ones counted outside it
//! (when the subscriber lagged, the difference must be within the lag it was
//! told).
//!
//! **Negative controls** (`Fault`): a worker recording a claim twice, a
//! worker running a job whose dependency has not ended, a worker's
//! in-flight count over its cluster's capacity, a subscriber dropping an
//! event; the checkers must report each.

mod common;

use common::with_watchdog;
use dagqueue::{
    CancelOutcome, Claim, ClusterId, Completion, DependencyKind, Error, Event, EventKind, JobEnd,
    JobId, JobQueue, JobSpec, JobState, JobView, Outcome, Priority, RecvError, Resources,
    RetryBackoff, RunnerType, TryRecvError, UserId, WaitError,
};
use harness::rng::Rng;
use parking_lot::Mutex;
use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicU8, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

// ---------------------------------------------------------------- settings

const SUBMITTERS: usize = 2;
/// Waves a submitter may have not yet pruned (back-pressure: bounds memory).
const WAVES_IN_FLIGHT: usize = 64;
const WAVE_MAX: u64 = 48;
/// Jobs the queue may retain (unfinished + finished not yet pruned): the
/// back-pressure's bound, plus the submits one `status()` may see ahead of
/// the prunes it sees (its counts are summed thread by thread, not at one
/// instant).
const RETAINED_LIMIT: usize =
    SUBMITTERS * WAVES_IN_FLIGHT * WAVE_MAX as usize + 2 * WAVE_MAX as usize;
const RUNNERS: [RunnerType; 3] = [RunnerType(0), RunnerType(1), RunnerType(2)];
/// Submitter s claims its gates as runner type `GATE + s`.
const GATE: u32 = 100;
/// Cluster 0: capacity changed; 1: paused and resumed; 2: resources shrunk.
const CLUSTERS: [ClusterId; 3] = [ClusterId(0), ClusterId(1), ClusterId(2)];
const BASE_CAPACITY: [u32; 3] = [4, 4, 6];
const SMALL_SLOT: Resources = Resources {
    cores: 8,
    memory_gb: 16,
};
const BIG_SLOT: Resources = Resources {
    cores: 32,
    memory_gb: 64,
};
const BIG_NEED: Resources = Resources {
    cores: 16,
    memory_gb: 8,
};
/// A heartbeated lease: far longer than any attempt's work.
const LONG_LEASE: Duration = Duration::from_secs(5);
/// No progress for this long while jobs remain: a lost wake-up.
const STALL: Duration = Duration::from_secs(10);
const CHECK_EVERY: Duration = Duration::from_millis(100);
const PRUNE_EVERY: Duration = Duration::from_millis(50);

/// A deliberately wrong step, to show the checkers catch it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Fault {
    None,
    /// A worker records one of its claims twice.
    RecordClaimTwice,
    /// A worker "runs" a job of a fresh wave that was never handed out
    /// (its dependencies have not ended), through the claim-time checks.
    RunUnreleasedJob,
    /// A worker counts one claim of cluster 2 as `capacity + 1` in flight.
    OverCapacity,
    /// The subscriber drops one `Started` event.
    DropEvent,
}

/// What a violation is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum Kind {
    DuplicateClaim,
    DependencyOrder,
    OverCapacity,
    PausedClaim,
    BadCount,
    Memory,
    Stall,
    History,
    JobEnd,
    Totals,
    Api,
}

const KINDS: usize = 11;

// ------------------------------------------------------------ shared state

/// One job's plan, fixed at submit.
struct Plan {
    /// (index in the wave, kind).
    deps: Vec<(u16, DependencyKind)>,
    /// Attempts up to this one fail (0: none; u32::MAX: all).
    fail_first: u32,
    /// The worker of this attempt crashes (0: none); the job has a short lease.
    crash_attempt: u32,
    max_retries: u32,
    cluster: Option<ClusterId>,
    /// A lease it heartbeats (5 s), or a short one (crashing plans).
    lease: Option<Duration>,
}

/// What the checkers know of one job, written as it happens.
#[derive(Default)]
struct Slot {
    /// Bit `a` set once attempt `a` was claimed.
    claimed: AtomicU64,
    /// Set before a worker calls `complete(Success)`.
    success_called: AtomicBool,
    /// Set before chaos calls `cancel`.
    cancel_called: AtomicBool,
    /// Its end as `prune_finished` returned it (`pack_view`), 0 before.
    view_end: AtomicU64,
    /// Its end as the event stream told it (`pack_stream`), 0 before.
    stream_end: AtomicU64,
    /// Two closes: the pruner's and the subscriber's.
    closes: AtomicU8,
}

struct Wave {
    id: u64,
    plans: Vec<Plan>,
    slots: Vec<Slot>,
    /// Jobs not closed twice yet.
    open: AtomicUsize,
    /// Jobs not pruned yet (the submitter's back-pressure).
    unpruned: AtomicUsize,
}

impl Wave {
    fn job(&self, index: usize) -> JobId {
        JobId((self.id << 16) | index as u64)
    }
}

fn wave_of(job: JobId) -> (u64, usize) {
    (job.0 >> 16, (job.0 & 0xFFFF) as usize)
}

/// A job's payload: its wave and index (the worker needs no lookup).
struct Payload {
    wave: Arc<Wave>,
    index: u16,
}

type Queue = JobQueue<Payload>;

/// A cluster's bound and the workers' in-flight count.
#[derive(Default)]
struct Bound {
    /// (generation << 32) | the bound: never below the queue's true limit.
    allowed: AtomicU64,
    inflight: AtomicU32,
    peak_inflight: AtomicU32,
}

impl Bound {
    fn set(&self, allowed: u32) {
        let gen = (self.allowed.load(Ordering::SeqCst) >> 32) + 1;
        self.allowed
            .store((gen << 32) | u64::from(allowed), Ordering::SeqCst);
    }

    /// `count()` is within the bound: the bound read before and after it,
    /// unless it changed more than once meanwhile (then no verdict).
    fn check(&self, count: impl FnOnce() -> u32) -> Result<(), (u32, u32)> {
        let before = self.allowed.load(Ordering::SeqCst);
        let n = count();
        let after = self.allowed.load(Ordering::SeqCst);
        if (after >> 32) - (before >> 32) > 1 {
            return Ok(());
        }
        let bound = (before as u32).max(after as u32);
        if n > bound {
            Err((n, bound))
        } else {
            Ok(())
        }
    }
}

#[derive(Default)]
struct Tallies {
    submitted: AtomicU64,
    waves: AtomicU64,
    claims: AtomicU64,
    async_claims: AtomicU64,
    started: AtomicU64,
    reported: [AtomicU64; 4], // Completed, Retrying, Failed, Cancelled
    stale: AtomicU64,
    crashes: AtomicU64,
    heartbeats: AtomicU64,
    cancel_seen: AtomicU64,
    dep_checks: AtomicU64,
    cancels: [AtomicU64; 4], // Cancelled, Requested, AlreadyFinished, UnknownJob
    reprioritized: [AtomicU64; 3], // Ok, NotQueued, UnknownJob
    expire_calls: AtomicU64,
    expired_by_call: AtomicU64,
    capacity_changes: AtomicU64,
    pauses: AtomicU64,
    resource_changes: AtomicU64,
    prunes: AtomicU64,
    pruned: AtomicU64,
    /// By `JobEnd`: Succeeded, Failed, DependencyFailed, LeaseExpired,
    /// Cancelled, DependencyCancelled, DependencySucceeded.
    ends: [AtomicU64; 7],
    by_state: [AtomicU64; 7],
    checks: AtomicU64,
    /// `metrics()` readings with more jobs ended than submitted, and by
    /// how many at most.
    ended_above_submitted: AtomicU64,
    ended_above_submitted_max: AtomicU64,
    peak_retained: AtomicU64,
    peak_rss_kb: AtomicU64,
}

struct Violations {
    counts: [AtomicU64; KINDS],
    first: Mutex<Vec<String>>,
}

impl Violations {
    fn report(&self, kind: Kind, what: String) {
        self.counts[kind as usize].fetch_add(1, Ordering::SeqCst);
        let mut first = self.first.lock();
        if first.len() < 40 {
            eprintln!("VIOLATION {kind:?}: {what}");
            first.push(format!("{kind:?}: {what}"));
        }
    }

    fn count(&self, kind: Kind) -> u64 {
        self.counts[kind as usize].load(Ordering::SeqCst)
    }

    fn total(&self) -> u64 {
        self.counts.iter().map(|c| c.load(Ordering::SeqCst)).sum()
    }
}

struct Shared {
    fault: Fault,
    /// An event stamped earlier than the job's event before it is a
    /// `History` violation (tests/events.rs's "time went back"), unless
    /// `DAGQUEUE_SOAK_STRICT_TIME=0`, which counts and prints them
    /// (`clock_back`) instead. The soak found such events (a claim stamped
    /// its `Claimed` with the reading it took when it began, before another
    /// thread released the job: 681 of 30.5 million in a 10-minute run);
    /// every event now takes a fresh reading after its CAS
    /// (`queue/transition.rs`).
    strict_time: bool,
    seed: u64,
    started: Instant,
    /// Submitters, chaos and admin stop.
    stop: AtomicBool,
    /// Pruner and checker stop.
    done: AtomicBool,
    /// A liveness failure: everybody stops.
    abort: AtomicBool,
    registry: Mutex<HashMap<u64, Arc<Wave>>>,
    /// Fully submitted waves, for chaos: (first job, jobs).
    recent: Mutex<VecDeque<(u64, usize)>>,
    /// The last wave registered (for `Fault::RunUnreleasedJob`).
    newest: Mutex<Option<Arc<Wave>>>,
    next_wave: AtomicU64,
    bounds: [Bound; 3],
    tallies: Tallies,
    violations: Violations,
    fault_fired: AtomicBool,
}

impl Shared {
    fn violation(&self, kind: Kind, what: String) {
        self.violations.report(kind, what);
    }

    fn stopping(&self) -> bool {
        self.stop.load(Ordering::SeqCst) || self.abort.load(Ordering::SeqCst)
    }

    /// The first time only: whether this fault fires now.
    fn fire(&self, fault: Fault) -> bool {
        self.fault == fault && !self.fault_fired.swap(true, Ordering::SeqCst)
    }

    fn wave(&self, id: u64) -> Option<Arc<Wave>> {
        self.registry.lock().get(&id).cloned()
    }

    /// One of a job's two closes (pruned; end seen in the stream). The
    /// second compares the two ends; a wave whose jobs are all closed is
    /// checked whole and forgotten.
    fn close(&self, wave: &Arc<Wave>, index: usize) {
        let slot = &wave.slots[index];
        let closes = slot.closes.fetch_add(1, Ordering::SeqCst) + 1;
        if closes > 2 {
            self.violation(
                Kind::History,
                format!("{}: closed {closes} times", wave.job(index)),
            );
            return;
        }
        if closes < 2 {
            return;
        }
        let view = slot.view_end.load(Ordering::SeqCst);
        let stream = slot.stream_end.load(Ordering::SeqCst);
        if stream & STREAM_TAINTED == 0 && (view & 0xFF_FF07) != (stream & 0xFF_FF07) {
            self.violation(
                Kind::History,
                format!(
                    "{}: the stream ends {:?} attempt {}, the view {:?} attempt {}",
                    wave.job(index),
                    state_of(stream),
                    (stream >> 8) & 0xFFFF,
                    state_of(view),
                    (view >> 8) & 0xFFFF
                ),
            );
        }
        if wave.open.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.check_wave(wave);
            self.registry.lock().remove(&wave.id);
        }
    }

    /// Every job of a finished wave ended as its plan and its dependencies'
    /// ends allow.
    fn check_wave(&self, wave: &Wave) {
        let end = |i: usize| wave.slots[i].view_end.load(Ordering::SeqCst);
        for (i, plan) in wave.plans.iter().enumerate() {
            let packed = end(i);
            let job = wave.job(i);
            let attempt = ((packed >> 8) & 0xFFFF) as u32;
            let kind = (packed >> 3) & 7;
            let dep = ((packed >> 24) & 0xFFFF) as usize;
            let releases = |d: usize, k: DependencyKind| {
                state_of(end(d)).is_some_and(|state| k.releases(state))
            };
            let all_released = plan.deps.iter().all(|&(d, k)| releases(d as usize, k));
            let edge = plan.deps.iter().find(|e| e.0 as usize == dep).map(|e| e.1);
            let ok = match kind {
                // Succeeded: its dependencies allowed it, a successful attempt.
                0 => {
                    all_released
                        && attempt > plan.fail_first.min(plan.max_retries + 1)
                        && attempt <= plan.max_retries + 1
                }
                // Failed by its worker: every attempt used.
                1 => all_released && attempt == plan.max_retries + 1,
                2 => {
                    edge == Some(DependencyKind::AfterSuccess)
                        && state_of(end(dep)) == Some(JobState::Failed)
                }
                3 => all_released && attempt == plan.max_retries + 1 && plan.lease.is_some(),
                4 => wave.slots[i].cancel_called.load(Ordering::SeqCst),
                5 => {
                    edge == Some(DependencyKind::AfterSuccess)
                        && state_of(end(dep)) == Some(JobState::Cancelled)
                }
                6 => {
                    edge == Some(DependencyKind::AfterFailure)
                        && state_of(end(dep)) == Some(JobState::Completed)
                }
                _ => false,
            };
            if !ok {
                self.violation(
                    Kind::JobEnd,
                    format!(
                        "{job}: ended {} (attempt {attempt}, dependency {dep}), plan fail_first {} \
                         crash {} retries {} deps {:?}, their ends {:?}",
                        END_NAMES.get(kind as usize).unwrap_or(&"?"),
                        plan.fail_first,
                        plan.crash_attempt,
                        plan.max_retries,
                        plan.deps,
                        plan.deps
                            .iter()
                            .map(|&(d, _)| state_of(end(d as usize)))
                            .collect::<Vec<_>>()
                    ),
                );
            }
        }
    }
}

const END_NAMES: [&str; 7] = [
    "Succeeded",
    "Failed",
    "DependencyFailed",
    "LeaseExpired",
    "Cancelled",
    "DependencyCancelled",
    "DependencySucceeded",
];
const SET: u64 = 1 << 63;
const STREAM_TAINTED: u64 = 1 << 62;

fn state_index(state: JobState) -> u64 {
    JobState::ALL.iter().position(|&s| s == state).unwrap() as u64
}

fn state_of(packed: u64) -> Option<JobState> {
    (packed & SET != 0).then(|| JobState::ALL[(packed & 7) as usize])
}

/// A pruned job's view: state, how it ended, attempt, the dependency named.
fn pack_view(view: &JobView, wave: u64) -> Result<(u64, usize), String> {
    let (kind, dependency) = match &view.end {
        Some(JobEnd::Succeeded) => (0, None),
        Some(JobEnd::Failed { attempts, .. }) => {
            if *attempts != view.attempt {
                return Err(format!("{view:?}: attempts"));
            }
            (1, None)
        }
        Some(JobEnd::DependencyFailed { dependency }) => (2, Some(*dependency)),
        Some(JobEnd::LeaseExpired { attempts }) => {
            if *attempts != view.attempt {
                return Err(format!("{view:?}: attempts"));
            }
            (3, None)
        }
        Some(JobEnd::Cancelled) => (4, None),
        Some(JobEnd::DependencyCancelled { dependency }) => (5, Some(*dependency)),
        Some(JobEnd::DependencySucceeded { dependency }) => (6, Some(*dependency)),
        other => return Err(format!("{:?}: end {other:?}", view.id)),
    };
    let dep = match dependency {
        None => 0,
        Some(d) if wave_of(d).0 == wave => wave_of(d).1 as u64,
        Some(d) => return Err(format!("{:?}: names {d} of another wave", view.id)),
    };
    Ok((
        SET | state_index(view.state) | (kind << 3) | (u64::from(view.attempt) << 8) | (dep << 24),
        kind as usize,
    ))
}

fn pack_stream(state: JobState, attempt: u32, tainted: bool) -> u64 {
    SET | state_index(state) | (u64::from(attempt) << 8) | if tainted { STREAM_TAINTED } else { 0 }
}

fn rss_kb() -> u64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1)?.parse::<u64>().ok())
        .map_or(0, |pages| pages * 4)
}

fn add(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::SeqCst);
}

fn get(counter: &AtomicU64) -> u64 {
    counter.load(Ordering::SeqCst)
}

// --------------------------------------------------------------- submitter

fn build_wave(shared: &Shared, rng: &mut Rng, submitter: usize) -> (Arc<Wave>, Vec<JobSpec<()>>) {
    let id = shared.next_wave.fetch_add(1, Ordering::SeqCst);
    let n = 4 + rng.below(WAVE_MAX - 3) as usize;
    let mut plans = Vec::with_capacity(n);
    let mut specs = Vec::with_capacity(n);
    // The gate.
    plans.push(Plan {
        deps: Vec::new(),
        fail_first: 0,
        crash_attempt: 0,
        max_retries: 0,
        cluster: None,
        lease: None,
    });
    specs.push(JobSpec::new(JobId(id << 16)).runner(RunnerType(GATE + submitter as u32)));
    for i in 1..n {
        let mut deps: Vec<(u16, DependencyKind)> = Vec::new();
        if i > 1 {
            for _ in 0..rng.below(4) {
                let d = 1 + rng.below(i as u64 - 1) as u16;
                let kind = match rng.below(20) {
                    0..=14 => DependencyKind::AfterSuccess,
                    15..=17 => DependencyKind::AfterAny,
                    _ => DependencyKind::AfterFailure,
                };
                if !deps.iter().any(|e| e.0 == d) {
                    deps.push((d, kind));
                }
            }
        }
        if deps.is_empty() {
            deps.push((0, DependencyKind::AfterSuccess));
        }
        let r = rng.below(100);
        let (fail_first, crash_attempt, max_retries, lease) = match r {
            0..=54 => (0, 0, rng.below(2) as u32, None),
            55..=69 => (1, 0, 1 + rng.below(2) as u32, None),
            70..=77 => (u32::MAX, 0, rng.below(2) as u32, None),
            78..=84 => (0, 1, 1, Some(Duration::from_millis(5 + rng.below(20)))),
            85..=88 => (0, 1, 0, Some(Duration::from_millis(5 + rng.below(20)))),
            _ => (if rng.chance(20) { 1 } else { 0 }, 0, 1, Some(LONG_LEASE)),
        };
        let mut spec = JobSpec::new(JobId((id << 16) | i as u64))
            .priority(Priority::ALL[rng.below(5) as usize])
            .runner(RUNNERS[rng.below(3) as usize])
            .user(UserId(rng.below(4) as u32))
            .max_retries(max_retries);
        for kind in [
            DependencyKind::AfterSuccess,
            DependencyKind::AfterAny,
            DependencyKind::AfterFailure,
        ] {
            let of_kind: Vec<JobId> = deps
                .iter()
                .filter(|e| e.1 == kind)
                .map(|e| JobId((id << 16) | u64::from(e.0)))
                .collect();
            if !of_kind.is_empty() {
                spec = spec.depends_on_kind(kind, of_kind);
            }
        }
        let cluster = match rng.below(4) {
            0 => None,
            c => Some(CLUSTERS[c as usize - 1]),
        };
        if let Some(c) = cluster {
            spec = spec.cluster(c);
            if c == CLUSTERS[2] && rng.chance(15) {
                spec = spec.resources(BIG_NEED);
            }
        }
        if let Some(lease) = lease {
            spec = spec.lease(lease);
        }
        if rng.chance(12) {
            spec = spec.delay(Duration::from_millis(1 + rng.below(30)));
        }
        if rng.chance(30) {
            spec = spec.retry_backoff(RetryBackoff::NONE);
        }
        plans.push(Plan {
            deps,
            fail_first,
            crash_attempt,
            max_retries,
            cluster,
            lease,
        });
        specs.push(spec);
    }
    let wave = Arc::new(Wave {
        id,
        slots: (0..n).map(|_| Slot::default()).collect(),
        plans,
        open: AtomicUsize::new(n),
        unpruned: AtomicUsize::new(n),
    });
    (wave, specs)
}

fn submitter(shared: &Shared, q: &Queue, s: usize) {
    let mut rng = Rng::new(shared.seed ^ ((0x5u64 + s as u64) * 0x9E37_79B9));
    let gate_runner = RunnerType(GATE + s as u32);
    let mut mine: VecDeque<Arc<Wave>> = VecDeque::new();
    while !shared.stopping() {
        // Back-pressure: at most WAVES_IN_FLIGHT waves not yet pruned.
        while mine
            .front()
            .is_some_and(|w| w.unpruned.load(Ordering::SeqCst) == 0)
        {
            mine.pop_front();
        }
        if mine.len() >= WAVES_IN_FLIGHT {
            std::thread::sleep(Duration::from_millis(1));
            continue;
        }
        let (wave, specs) = build_wave(shared, &mut rng, s);
        shared.registry.lock().insert(wave.id, Arc::clone(&wave));
        *shared.newest.lock() = Some(Arc::clone(&wave));
        for (index, spec) in specs.into_iter().enumerate() {
            let spec = spec.payload(Payload {
                wave: Arc::clone(&wave),
                index: index as u16,
            });
            match q.submit(spec) {
                Ok(_) => add(&shared.tallies.submitted),
                Err(e) => shared.violation(Kind::Api, format!("submit: {e}")),
            }
        }
        // Every job of the wave is in: open the gate.
        match q.claim_wait(gate_runner, STALL) {
            Ok(claim) if claim.job() == wave.job(0) => {
                add(&shared.tallies.claims);
                record_claim(shared, &claim, false);
                wave.slots[0].success_called.store(true, Ordering::SeqCst);
                match q.complete(claim, Outcome::Success) {
                    Ok(Completion::Completed) => add(&shared.tallies.reported[0]),
                    other => shared.violation(Kind::Api, format!("gate complete: {other:?}")),
                }
            }
            other => shared.violation(
                Kind::Api,
                format!(
                    "gate {}: claim_wait gave {:?}",
                    wave.job(0),
                    other.map(|c| c.job())
                ),
            ),
        }
        add(&shared.tallies.waves);
        let mut recent = shared.recent.lock();
        recent.push_back((wave.job(0).0, wave.plans.len()));
        if recent.len() > 64 {
            recent.pop_front();
        }
        drop(recent);
        mine.push_back(wave);
    }
}

// ----------------------------------------------------------------- workers

/// Records a claim: its attempt must not have been claimed before.
fn record_claim(shared: &Shared, claim: &Claim<Payload>, twice: bool) {
    let p = claim.payload();
    let slot = &p.wave.slots[p.index as usize];
    let bit = 1u64 << claim.attempt().min(63);
    for _ in 0..if twice { 2 } else { 1 } {
        if slot.claimed.fetch_or(bit, Ordering::SeqCst) & bit != 0 {
            shared.violation(
                Kind::DuplicateClaim,
                format!("{} attempt {} claimed twice", claim.job(), claim.attempt()),
            );
        }
    }
}

/// The claim-time checks of a job's dependencies.
fn check_dependencies(shared: &Shared, q: &Queue, wave: &Arc<Wave>, index: usize) {
    add(&shared.tallies.dep_checks);
    let job = wave.job(index);
    for &(d, kind) in &wave.plans[index].deps {
        let dep = wave.job(d as usize);
        let slot = &wave.slots[d as usize];
        if kind == DependencyKind::AfterSuccess && !slot.success_called.load(Ordering::SeqCst) {
            shared.violation(
                Kind::DependencyOrder,
                format!("{job} claimed before its dependency {dep}'s success was reported"),
            );
        }
        let state = match q.state(dep) {
            Ok(state) => Some(state),
            Err(Error::UnknownJob(_)) => {
                // Pruned: the pruner records the view it got, right after.
                let deadline = Instant::now() + STALL;
                loop {
                    if let Some(state) = state_of(slot.view_end.load(Ordering::SeqCst)) {
                        break Some(state);
                    }
                    if Instant::now() > deadline {
                        break None;
                    }
                    std::thread::yield_now();
                }
            }
            Err(e) => {
                shared.violation(Kind::Api, format!("state({dep}): {e}"));
                continue;
            }
        };
        match state {
            Some(state) if state.is_terminal() && kind.releases(state) => {}
            other => shared.violation(
                Kind::DependencyOrder,
                format!("{job} claimed while its {kind:?} dependency {dep} is {other:?}"),
            ),
        }
    }
}

/// After a claim returned: record it, check it, count it in flight.
/// Returns the cluster whose in-flight count it holds.
fn on_claimed(shared: &Shared, q: &Queue, claim: &Claim<Payload>) {
    add(&shared.tallies.claims);
    let p = claim.payload();
    record_claim(shared, claim, shared.fire(Fault::RecordClaimTwice));
    check_dependencies(shared, q, &p.wave, p.index as usize);
    if shared.fault == Fault::RunUnreleasedJob && !shared.fault_fired.load(Ordering::SeqCst) {
        // Run a job of the newest wave that nobody was handed, at claims
        // that find it still waiting with an after-success dependency not
        // yet reported done (one waiting on a delay, or whose dependencies
        // are done, would prove nothing), until the checks report it once
        // (the dependency can still be reported done between the look and
        // the checks: then the next claim tries again).
        let newest = shared.newest.lock().clone();
        if let Some(wave) = newest {
            let last = wave.plans.len() - 1;
            let unreported = wave.plans[last].deps.iter().any(|&(d, kind)| {
                kind == DependencyKind::AfterSuccess
                    && !wave.slots[d as usize].success_called.load(Ordering::SeqCst)
            });
            if unreported && q.state(wave.job(last)) == Ok(JobState::Waiting) {
                let before = shared.violations.count(Kind::DependencyOrder);
                check_dependencies(shared, q, &wave, last);
                if shared.violations.count(Kind::DependencyOrder) > before {
                    shared.fault_fired.store(true, Ordering::SeqCst);
                }
            }
        }
    }
    if let Some(c) = counted_cluster(claim) {
        let bound = &shared.bounds[c.0 as usize];
        let extra = if c == CLUSTERS[2] && shared.fire(Fault::OverCapacity) {
            BASE_CAPACITY[2] + 1
        } else {
            1
        };
        let checked = bound.check(|| {
            let n = bound.inflight.fetch_add(extra, Ordering::SeqCst) + extra;
            bound.peak_inflight.fetch_max(n, Ordering::SeqCst);
            n
        });
        if extra > 1 {
            bound.inflight.fetch_sub(extra - 1, Ordering::SeqCst);
        }
        if let Err((n, allowed)) = checked {
            shared.violation(
                Kind::OverCapacity,
                format!(
                    "cluster {}: {n} claims held by workers, bound {allowed}",
                    c.0
                ),
            );
        }
    }
}

/// The cluster whose workers' in-flight count holds this claim: none for a
/// job with a short lease (its lease may run out, and its slot be taken
/// back, while its worker still holds the claim; then the workers' count
/// would no longer be below the queue's).
fn counted_cluster(claim: &Claim<Payload>) -> Option<ClusterId> {
    let p = claim.payload();
    let plan = &p.wave.plans[p.index as usize];
    plan.cluster
        .filter(|_| plan.lease.is_none_or(|lease| lease == LONG_LEASE))
}

fn release_inflight(shared: &Shared, claim: &Claim<Payload>) {
    if let Some(c) = counted_cluster(claim) {
        shared.bounds[c.0 as usize]
            .inflight
            .fetch_sub(1, Ordering::SeqCst);
    }
}

/// What a worker does with a claim after `on_claimed`: crash, or start,
/// work (heartbeats), and report as planned.
enum Step {
    Crash,
    Work { heartbeats: u32 },
}

fn begin(shared: &Shared, q: &Queue, claim: &Claim<Payload>, rng: &mut Rng) -> Option<Step> {
    let p = claim.payload();
    let plan = &p.wave.plans[p.index as usize];
    if plan.crash_attempt == claim.attempt() {
        // The worker dies: no report, no heartbeat; the lease runs out.
        add(&shared.tallies.crashes);
        release_inflight(shared, claim);
        return Some(Step::Crash);
    }
    match q.start(claim) {
        Ok(()) => add(&shared.tallies.started),
        Err(Error::CancelRequested(_)) => add(&shared.tallies.cancel_seen),
        Err(Error::StaleClaim { .. }) => {
            // Its lease ran out already (a worker stalled for 5 s).
            add(&shared.tallies.stale);
            release_inflight(shared, claim);
            return None;
        }
        Err(e) => shared.violation(Kind::Api, format!("start {}: {e}", claim.job())),
    }
    Some(Step::Work {
        heartbeats: if plan.lease.is_some() {
            rng.below(4) as u32
        } else {
            0
        },
    })
}

/// One heartbeat: `Some(true)` to go on, `Some(false)` to stop (cancel
/// requested), `None` if the lease was lost.
fn heartbeat(shared: &Shared, q: &Queue, claim: &Claim<Payload>) -> Option<bool> {
    add(&shared.tallies.heartbeats);
    match q.heartbeat(claim) {
        Ok(false) => Some(true),
        Ok(true) => {
            add(&shared.tallies.cancel_seen);
            Some(false)
        }
        Err(Error::StaleClaim { .. }) => {
            add(&shared.tallies.stale);
            release_inflight(shared, claim);
            None
        }
        Err(e) => {
            shared.violation(Kind::Api, format!("heartbeat {}: {e}", claim.job()));
            Some(true)
        }
    }
}

fn report(shared: &Shared, q: &Queue, claim: Claim<Payload>, rng: &mut Rng) {
    let p = claim.payload();
    let plan = &p.wave.plans[p.index as usize];
    let success = claim.attempt() > plan.fail_first;
    if success {
        p.wave.slots[p.index as usize]
            .success_called
            .store(true, Ordering::SeqCst);
    }
    release_inflight(shared, &claim);
    let job = claim.job();
    let result = if success {
        q.complete(claim, Outcome::Success)
    } else if rng.chance(50) {
        q.fail(claim, "planned failure")
    } else {
        q.complete(claim, Outcome::Failure)
    };
    match result {
        Ok(c) => add(&shared.tallies.reported[match c {
            Completion::Completed => 0,
            Completion::Retrying => 1,
            Completion::Failed => 2,
            Completion::Cancelled => 3,
        }]),
        Err(Error::StaleClaim { .. }) => add(&shared.tallies.stale),
        Err(e) => shared.violation(Kind::Api, format!("complete {job}: {e}")),
    }
}

fn blocking_worker(shared: &Shared, q: &Queue, w: usize) {
    let mut rng = Rng::new(shared.seed ^ ((w as u64 + 0x77) * 0x2545_F491));
    let runners: &[RunnerType] = match w % 4 {
        0 => &RUNNERS[0..1],
        1 => &RUNNERS[1..2],
        2 => &RUNNERS[2..3],
        _ => &RUNNERS[..],
    };
    loop {
        // A long wait: the queue wakes us; a lost wake-up shows as a stall.
        let claim = if runners.len() == 1 {
            q.claim_wait(runners[0], Duration::from_secs(60))
        } else {
            q.claim_wait_any(runners, Duration::from_secs(60))
        };
        let claim = match claim {
            Ok(claim) => claim,
            Err(WaitError::Closed) => return,
            Err(WaitError::TimedOut) => continue,
        };
        on_claimed(shared, q, &claim);
        let Some(Step::Work { heartbeats }) = begin(shared, q, &claim, &mut rng) else {
            continue;
        };
        let mut lost = false;
        for _ in 0..heartbeats {
            std::thread::sleep(Duration::from_micros(50 + rng.below(200)));
            match heartbeat(shared, q, &claim) {
                Some(true) => {}
                Some(false) => break,
                None => {
                    lost = true;
                    break;
                }
            }
        }
        if lost {
            continue;
        }
        if rng.chance(20) {
            std::thread::sleep(Duration::from_micros(rng.below(300)));
        }
        report(shared, q, claim, &mut rng);
    }
}

async fn async_worker(shared: Arc<Shared>, q: Arc<Queue>, w: usize) {
    let mut rng = Rng::new(shared.seed ^ ((w as u64 + 0x99) * 0x1656_67B1));
    let runners: &[RunnerType] = if w % 2 == 0 {
        &RUNNERS[1..3]
    } else {
        &RUNNERS[0..1]
    };
    loop {
        // Bounded by the next lease or delay (README: async waits are
        // woken by events only); the blocking workers need no such bound.
        let bound = q.next_due().unwrap_or(Duration::from_secs(1));
        let wait = async {
            if runners.len() == 1 {
                q.claim_async(runners[0]).await
            } else {
                q.claim_any_async(runners).await
            }
        };
        let claim = match tokio::time::timeout(bound, wait).await {
            Ok(Ok(claim)) => claim,
            Ok(Err(WaitError::Closed)) => return,
            Ok(Err(WaitError::TimedOut)) => {
                shared.violation(Kind::Api, "claim_async timed out".into());
                return;
            }
            Err(_elapsed) => continue,
        };
        add(&shared.tallies.async_claims);
        on_claimed(&shared, &q, &claim);
        let Some(Step::Work { heartbeats }) = begin(&shared, &q, &claim, &mut rng) else {
            continue;
        };
        let mut lost = false;
        for _ in 0..heartbeats {
            tokio::task::yield_now().await;
            match heartbeat(&shared, &q, &claim) {
                Some(true) => {}
                Some(false) => break,
                None => {
                    lost = true;
                    break;
                }
            }
        }
        if !lost {
            report(&shared, &q, claim, &mut rng);
        }
    }
}

// ------------------------------------------------- chaos, admin, pruner

fn chaos(shared: &Shared, q: &Queue) {
    let mut rng = Rng::new(shared.seed ^ 0x000C_4A05);
    let t = &shared.tallies;
    while !shared.stopping() {
        std::thread::sleep(Duration::from_micros(500 + rng.below(1500)));
        let pick = {
            let recent = shared.recent.lock();
            if recent.is_empty() {
                continue;
            }
            let (first, n) = recent[rng.below(recent.len() as u64) as usize];
            JobId(first + rng.below(n as u64))
        };
        match rng.below(20) {
            0..=5 => {
                if let Some(wave) = shared.wave(wave_of(pick).0) {
                    wave.slots[wave_of(pick).1]
                        .cancel_called
                        .store(true, Ordering::SeqCst);
                }
                match q.cancel(pick) {
                    Ok(CancelOutcome::Cancelled) => add(&t.cancels[0]),
                    Ok(CancelOutcome::Requested) => add(&t.cancels[1]),
                    Err(Error::AlreadyFinished { .. }) => add(&t.cancels[2]),
                    Err(Error::UnknownJob(_)) => add(&t.cancels[3]),
                    Err(e) => shared.violation(Kind::Api, format!("cancel {pick}: {e}")),
                }
            }
            6..=18 => match q.reprioritize(pick, Priority::ALL[rng.below(5) as usize]) {
                Ok(()) => add(&t.reprioritized[0]),
                Err(Error::NotQueued { .. }) => add(&t.reprioritized[1]),
                Err(Error::UnknownJob(_)) => add(&t.reprioritized[2]),
                Err(e) => shared.violation(Kind::Api, format!("reprioritize {pick}: {e}")),
            },
            _ => {
                add(&t.expire_calls);
                t.expired_by_call
                    .fetch_add(q.expire_leases() as u64, Ordering::SeqCst);
            }
        }
    }
}

fn running(q: &Queue, c: ClusterId) -> u32 {
    q.status().clusters.get(&c).map_or(0, |s| s.running)
}

/// Waits (bounded) until the queue's running count on `c` is at most `n`.
fn wait_running_at_most(shared: &Shared, q: &Queue, c: ClusterId, n: u32) {
    let deadline = Instant::now() + STALL;
    while running(q, c) > n {
        if Instant::now() > deadline {
            shared.violation(Kind::Stall, format!("cluster {} stays above {n}", c.0));
            return;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

fn admin(shared: &Shared, q: &Queue) {
    let mut rng = Rng::new(shared.seed ^ 0xAD_0315);
    let t = &shared.tallies;
    let mut capacity = BASE_CAPACITY[0];
    let set_capacity = |capacity: &mut u32, new: u32| {
        let c = CLUSTERS[0];
        let bound = &shared.bounds[0];
        if new >= *capacity {
            bound.set(new); // the bound first, then the queue
            q.set_cluster_capacity(c, new).unwrap();
        } else {
            q.set_cluster_capacity(c, new).unwrap();
            // Claims that reserved under the old capacity settle in the
            // pause; after that none exceeds the new one.
            q.pause_cluster(c).unwrap();
            q.resume_cluster(c).unwrap();
            wait_running_at_most(shared, q, c, new);
            bound.set(new);
        }
        *capacity = new;
        add(&t.capacity_changes);
    };
    while !shared.stopping() {
        std::thread::sleep(Duration::from_millis(5 + rng.below(30)));
        match rng.below(3) {
            0 => set_capacity(&mut capacity, 1 + rng.below(8) as u32),
            1 => {
                // A pause: the running count may only fall while paused.
                let c = CLUSTERS[1];
                q.pause_cluster(c).unwrap();
                add(&t.pauses);
                let mut last = running(q, c);
                for _ in 0..1 + rng.below(4) {
                    std::thread::sleep(Duration::from_millis(1 + rng.below(8)));
                    let now = running(q, c);
                    if now > last {
                        shared.violation(
                            Kind::PausedClaim,
                            format!("cluster 1 paused: running went {last} -> {now}"),
                        );
                    }
                    last = now;
                }
                q.resume_cluster(c).unwrap();
            }
            _ => {
                // Shrink the slots: big jobs are set aside until restored.
                let c = CLUSTERS[2];
                q.set_cluster_resources(c, SMALL_SLOT).unwrap();
                std::thread::sleep(Duration::from_millis(1 + rng.below(20)));
                q.set_cluster_resources(c, BIG_SLOT).unwrap();
                add(&t.resource_changes);
            }
        }
    }
    set_capacity(&mut capacity, BASE_CAPACITY[0]);
}

/// Records what `prune_finished` returned: each job pruned once, its view.
fn prune(shared: &Shared, q: &Queue) -> usize {
    let views = q.prune_finished();
    add(&shared.tallies.prunes);
    let t = &shared.tallies;
    for view in &views {
        let (wave_id, index) = wave_of(view.id);
        let Some(wave) = shared.wave(wave_id) else {
            shared.violation(Kind::History, format!("{}: pruned, but unknown", view.id));
            continue;
        };
        if !view.state.is_terminal() {
            shared.violation(Kind::BadCount, format!("pruned unfinished {view:?}"));
        }
        match pack_view(view, wave_id) {
            Ok((packed, kind)) => {
                let slot = &wave.slots[index];
                if slot
                    .view_end
                    .compare_exchange(0, packed, Ordering::SeqCst, Ordering::SeqCst)
                    .is_err()
                {
                    shared.violation(Kind::History, format!("{}: pruned twice", view.id));
                    continue;
                }
                add(&t.ends[kind]);
                add(&t.by_state[state_index(view.state) as usize]);
                add(&t.pruned);
                wave.unpruned.fetch_sub(1, Ordering::SeqCst);
                shared.close(&wave, index);
            }
            Err(what) => shared.violation(Kind::JobEnd, what),
        }
    }
    views.len()
}

// ------------------------------------------------------------- subscriber

/// Per job: the end of its last event, its attempt, its time.
struct Open {
    to: JobState,
    attempt: u32,
    at: Duration,
}

#[derive(Default, Debug)]
struct StreamStats {
    received: u64,
    lagged: u64,
    by_kind: HashMap<EventKind, u64>,
    /// Lease expiries by the state they ended in: retried, failed, cancelled.
    lease_expired_to: [u64; 3],
    /// History problems (violations unless the subscriber lagged).
    suspect: Vec<String>,
    suspects: u64,
    peak_open: usize,
    /// Jobs whose history was cut by a lag (not compared).
    tainted: u64,
    /// Events stamped earlier than the job's event before (see `ClockBack`).
    clock_back: u64,
    clock_back_max: Duration,
}

fn subscriber(shared: &Shared, mut events: dagqueue::Subscriber) -> (StreamStats, Vec<JobId>) {
    let mut stats = StreamStats::default();
    let mut open: HashMap<JobId, Open> = HashMap::new();
    let mut tainted: std::collections::HashSet<JobId> = std::collections::HashSet::new();
    let suspect = |stats: &mut StreamStats, what: String| {
        stats.suspects += 1;
        if stats.suspect.len() < 20 {
            stats.suspect.push(what);
        }
    };
    loop {
        // What is there now, then a blocking wait. (`recv` alone pauses
        // 100 µs before every event, even with events waiting: about 5,000
        // events/s, below what this workload writes.)
        let next = match events.try_recv() {
            Ok(event) => Ok(event),
            Err(TryRecvError::Lagged(n)) => Err(RecvError::Lagged(n)),
            Err(TryRecvError::Closed) => Err(RecvError::Closed),
            Err(TryRecvError::Empty) => events.recv(),
        };
        let event: Event = match next {
            Ok(event) => event,
            Err(RecvError::Closed) => break,
            Err(RecvError::Lagged(n)) => {
                stats.lagged += n;
                // Every job open now may have lost events.
                tainted.extend(open.keys().copied());
                continue;
            }
        };
        if event.kind == EventKind::Started && shared.fire(Fault::DropEvent) {
            continue;
        }
        stats.received += 1;
        *stats.by_kind.entry(event.kind).or_default() += 1;
        if event.kind == EventKind::LeaseExpired {
            stats.lease_expired_to[match event.to {
                JobState::Failed => 1,
                JobState::Cancelled => 2,
                _ => 0,
            }] += 1;
        }
        let id = event.job;
        if event.kind == EventKind::Submitted {
            if event.from.is_some() || open.contains_key(&id) {
                suspect(&mut stats, format!("{id}: submitted again: {event:?}"));
            }
            open.insert(
                id,
                Open {
                    to: event.to,
                    attempt: event.attempt,
                    at: event.at,
                },
            );
        } else if let Some(last) = open.get_mut(&id) {
            let expected = last.attempt + u32::from(event.kind == EventKind::Claimed);
            if event.at < last.at {
                // Counted; a violation unless `DAGQUEUE_SOAK_STRICT_TIME=0`.
                stats.clock_back += 1;
                stats.clock_back_max = stats.clock_back_max.max(last.at - event.at);
            }
            let back = event.at < last.at && shared.strict_time;
            if event.from != Some(last.to) || event.attempt != expected || back {
                if !tainted.contains(&id) {
                    suspect(
                        &mut stats,
                        format!(
                            "{id}: after ({:?}, attempt {}, at {:?}) came {event:?}",
                            last.to, last.attempt, last.at
                        ),
                    );
                }
                tainted.insert(id);
            }
            last.to = event.to;
            last.attempt = event.attempt;
            last.at = event.at;
        } else if stats.lagged == 0 {
            suspect(
                &mut stats,
                format!("{id}: an event of no open job: {event:?}"),
            );
            continue;
        } else {
            // Its earlier events were lost in a lag.
            tainted.insert(id);
            open.insert(
                id,
                Open {
                    to: event.to,
                    attempt: event.attempt,
                    at: event.at,
                },
            );
        }
        stats.peak_open = stats.peak_open.max(open.len());
        if event.to.is_terminal() {
            open.remove(&id);
            let cut = tainted.remove(&id);
            stats.tainted += u64::from(cut);
            let (wave_id, index) = wave_of(id);
            match shared.wave(wave_id) {
                Some(wave) => {
                    wave.slots[index]
                        .stream_end
                        .store(pack_stream(event.to, event.attempt, cut), Ordering::SeqCst);
                    shared.close(&wave, index);
                }
                None => suspect(&mut stats, format!("{id}: ended in the stream, unknown")),
            }
        }
    }
    // Jobs whose end never came (only possible after a lag).
    (stats, open.into_keys().collect())
}

// ----------------------------------------------------------------- checker

#[derive(Default)]
struct Last {
    metrics: [u64; 6],
    progress: u64,
    progress_at: Option<Instant>,
    line_at: Option<Instant>,
    line_ended: u64,
}

fn check_once(shared: &Shared, q: &Queue, last: &mut Last, progress_every: Duration) {
    let t = &shared.tallies;
    add(&t.checks);
    let submitted_before = get(&t.submitted);
    let mut status = None;
    for (i, c) in CLUSTERS.iter().enumerate() {
        let bound = &shared.bounds[i];
        let checked = bound.check(|| {
            let s = q.status();
            let running = s.clusters.get(c).map_or(0, |c| c.running);
            status = Some(s);
            running
        });
        if let Err((n, allowed)) = checked {
            shared.violation(
                Kind::OverCapacity,
                format!("cluster {}: status running {n}, bound {allowed}", c.0),
            );
        }
        if let Err((n, allowed)) = bound.check(|| bound.inflight.load(Ordering::SeqCst)) {
            shared.violation(
                Kind::OverCapacity,
                format!(
                    "cluster {}: {n} claims held by workers, bound {allowed}",
                    c.0
                ),
            );
        }
    }
    let status = status.unwrap();
    let m = q.metrics();
    // Submits are counted by the queue before they return: allow the ones
    // in flight (one per submitter) above the submitters' tally.
    let submitted = get(&t.submitted) + SUBMITTERS as u64 + 1;
    let total = status.by_state.total();
    let retained_limit = RETAINED_LIMIT;
    for state in JobState::ALL {
        let n = status.by_state.get(state) as u64;
        if n > submitted {
            shared.violation(
                Kind::BadCount,
                format!("{n} jobs {state:?}, {submitted} submitted"),
            );
        }
    }
    let queued: usize = status.queued_by_priority.iter().sum();
    let unfinished: usize = status.unfinished_by_runner.values().sum();
    if queued as u64 > submitted || unfinished as u64 > submitted {
        shared.violation(
            Kind::BadCount,
            format!("queued {queued}, unfinished {unfinished}, submitted {submitted}"),
        );
    }
    if total > retained_limit {
        shared.violation(Kind::Memory, format!("{total} jobs retained"));
    }
    t.peak_retained.fetch_max(total as u64, Ordering::SeqCst);
    let now = [
        m.submitted,
        m.scheduled,
        m.completed,
        m.failed,
        m.retried,
        m.cancelled,
    ];
    for (i, (&a, &b)) in last.metrics.iter().zip(&now).enumerate() {
        if b < a {
            shared.violation(Kind::BadCount, format!("metric {i} went back: {a} -> {b}"));
        }
    }
    let ended = m.completed + m.failed + m.cancelled;
    // A submit is counted by the queue before it returns to its submitter,
    // so the submitters' tally read before `metrics()` is a floor of its
    // `submitted`, and the tally read after it, plus the submits in flight,
    // a ceiling of every count.
    let ceiling = get(&t.submitted) + SUBMITTERS as u64;
    if m.submitted < submitted_before || m.submitted > ceiling || ended > ceiling {
        shared.violation(
            Kind::BadCount,
            format!(
                "metrics submitted {}, ended {ended}; submitted {submitted_before} before, \
                 at most {ceiling} after",
                m.submitted
            ),
        );
    }
    // `metrics()` sums the threads' tallies one after the other, so one
    // reading may count a job's end and not its submit: counted, not a
    // violation (`Metrics` promises exact counts, not one instant).
    if ended > m.submitted {
        add(&t.ended_above_submitted);
        t.ended_above_submitted_max
            .fetch_max(ended - m.submitted, Ordering::SeqCst);
    }
    last.metrics = now;
    // Liveness: claims or ends must move while jobs remain.
    let progress = m.scheduled + ended;
    let at = Instant::now();
    if progress != last.progress || ended == m.submitted {
        last.progress = progress;
        last.progress_at = Some(at);
    } else if at - *last.progress_at.get_or_insert(at) > STALL {
        shared.violation(
            Kind::Stall,
            format!(
                "no claim nor end for {STALL:?} with {} jobs unfinished: {status:?}",
                m.submitted - ended
            ),
        );
        shared.abort.store(true, Ordering::SeqCst);
    }
    let rss = rss_kb();
    t.peak_rss_kb.fetch_max(rss, Ordering::SeqCst);
    let line_at = *last.line_at.get_or_insert(shared.started);
    if at - line_at >= progress_every {
        let rate = (ended - last.line_ended) as f64 / (at - line_at).as_secs_f64();
        eprintln!(
            "soak {:>6.1}s: {ended} jobs ended ({rate:.0}/s), {} claims, {} retained (peak {}), \
             {} checks, {} dependency checks, {} pruned, rss {} MiB, {} violations",
            shared.started.elapsed().as_secs_f64(),
            m.scheduled,
            total,
            get(&t.peak_retained),
            get(&t.checks),
            get(&t.dep_checks),
            get(&t.pruned),
            rss / 1024,
            shared.violations.total()
        );
        last.line_at = Some(at);
        last.line_ended = ended;
    }
}

// --------------------------------------------------------------- the run

struct SoakReport {
    violations: Vec<(Kind, u64)>,
    first: Vec<String>,
    summary: String,
}

fn run_soak(secs: f64, fault: Fault, seed: u64, progress_every: Duration) -> SoakReport {
    let q: Arc<Queue> = Arc::new(
        JobQueue::builder()
            .default_capacity(4)
            .fair_share(true)
            .aging(Duration::from_millis(20))
            .retry_backoff(
                RetryBackoff::new(Duration::from_millis(1), Duration::from_millis(20)).unwrap(),
            )
            .build_for::<Payload>()
            .unwrap(),
    );
    let shared = Arc::new(Shared {
        fault,
        strict_time: env::<u8>("DAGQUEUE_SOAK_STRICT_TIME") != Some(0),
        seed,
        started: Instant::now(),
        stop: AtomicBool::new(false),
        done: AtomicBool::new(false),
        abort: AtomicBool::new(false),
        registry: Mutex::new(HashMap::new()),
        recent: Mutex::new(VecDeque::new()),
        newest: Mutex::new(None),
        next_wave: AtomicU64::new(1),
        bounds: Default::default(),
        tallies: Tallies::default(),
        violations: Violations {
            counts: Default::default(),
            first: Mutex::new(Vec::new()),
        },
        fault_fired: AtomicBool::new(false),
    });
    for (i, c) in CLUSTERS.iter().enumerate() {
        q.set_cluster_capacity(*c, BASE_CAPACITY[i]).unwrap();
        shared.bounds[i].set(BASE_CAPACITY[i]);
    }
    q.set_cluster_resources(CLUSTERS[2], BIG_SLOT).unwrap();
    let events = q.subscribe();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_time()
        .build()
        .unwrap();
    let async_workers: Vec<_> = (0..4)
        .map(|w| runtime.spawn(async_worker(Arc::clone(&shared), Arc::clone(&q), w)))
        .collect();
    let deadline = shared.started + Duration::from_secs_f64(secs);

    let subscriber = {
        let shared = Arc::clone(&shared);
        std::thread::spawn(move || subscriber(&shared, events))
    };

    let (status, metrics, idle) = std::thread::scope(|s| {
        let (sh, qq) = (&*shared, &*q);
        let mut threads = Vec::new();
        for w in 0..4 {
            threads.push(s.spawn(move || blocking_worker(sh, qq, w)));
        }
        let mut producers = Vec::new();
        for i in 0..SUBMITTERS {
            producers.push(s.spawn(move || submitter(sh, qq, i)));
        }
        producers.push(s.spawn(move || chaos(sh, qq)));
        producers.push(s.spawn(move || admin(sh, qq)));
        let pruner = s.spawn(move || {
            while !sh.done.load(Ordering::SeqCst) {
                std::thread::sleep(PRUNE_EVERY);
                prune(sh, qq);
            }
        });
        let checker = s.spawn(move || {
            let mut last = Last::default();
            while !sh.done.load(Ordering::SeqCst) {
                std::thread::sleep(CHECK_EVERY);
                check_once(sh, qq, &mut last, progress_every);
            }
        });

        while Instant::now() < deadline && !sh.abort.load(Ordering::SeqCst) {
            std::thread::sleep(Duration::from_millis(20));
        }
        sh.stop.store(true, Ordering::SeqCst);
        for p in producers {
            p.join().unwrap();
        }
        let stopped = Instant::now();
        // Drain: every job ends (a bounded wait: a lost wake-up fails).
        let idle = sh.abort.load(Ordering::SeqCst) || qq.wait_idle(Duration::from_secs(60));
        if !idle {
            sh.violation(
                Kind::Stall,
                format!("not idle after 60 s: {:?}", qq.status()),
            );
        }
        let drained = stopped.elapsed();
        qq.close();
        for t in threads {
            t.join().unwrap();
        }
        for w in async_workers {
            runtime.block_on(w).unwrap();
        }
        sh.done.store(true, Ordering::SeqCst);
        pruner.join().unwrap();
        checker.join().unwrap();
        prune(sh, qq);
        eprintln!(
            "soak: stopped {:.1}s after the deadline, drained in {drained:?}, joined in {:?}",
            (stopped - deadline).as_secs_f64(),
            stopped.elapsed() - drained
        );
        (qq.status(), qq.metrics(), idle)
    });
    // Nobody holds the queue any more: dropping it closes the stream, after
    // the subscriber received every event written.
    drop(runtime);
    drop(Arc::into_inner(q).expect("every thread let go of the queue"));
    let (stream, unseen) = subscriber.join().unwrap();
    final_checks(&shared, &status, &metrics, &stream, &unseen, idle)
}

fn final_checks(
    shared: &Shared,
    status: &dagqueue::QueueStatus,
    m: &dagqueue::Metrics,
    stream: &StreamStats,
    unseen: &[JobId],
    idle: bool,
) -> SoakReport {
    let t = &shared.tallies;
    let totals = |ok: bool, what: String| {
        if !ok {
            shared.violation(Kind::Totals, what);
        }
    };
    // Jobs whose end never came through the stream: closed now.
    for &id in unseen {
        let (wave_id, index) = wave_of(id);
        if let Some(wave) = shared.wave(wave_id) {
            wave.slots[index]
                .stream_end
                .store(STREAM_TAINTED | SET, Ordering::SeqCst);
            shared.close(&wave, index);
        }
    }
    if stream.lagged == 0 {
        totals(
            unseen.is_empty(),
            format!("{} jobs never ended in the stream", unseen.len()),
        );
        for s in &stream.suspect {
            shared.violation(Kind::History, s.clone());
        }
        totals(
            stream.suspects == 0,
            format!("{} history problems", stream.suspects),
        );
    }
    let left: Vec<(u64, usize)> = shared
        .registry
        .lock()
        .values()
        .map(|w| (w.id, w.open.load(Ordering::SeqCst)))
        .collect();
    totals(
        left.is_empty(),
        format!("waves not closed (id, open jobs): {left:?}"),
    );

    let submitted = get(&t.submitted);
    let ends: Vec<u64> = t.ends.iter().map(get).collect();
    let state = |s: JobState| get(&t.by_state[state_index(s) as usize]);
    let (completed, failed, cancelled) = (
        state(JobState::Completed),
        state(JobState::Failed),
        state(JobState::Cancelled),
    );
    let reported: Vec<u64> = t.reported.iter().map(get).collect();
    let cancels: Vec<u64> = t.cancels.iter().map(get).collect();
    totals(idle, "never idle".into());
    totals(
        get(&t.pruned) == submitted && completed + failed + cancelled == submitted,
        format!(
            "submitted {submitted}, pruned {}, ended {completed}+{failed}+{cancelled}",
            get(&t.pruned)
        ),
    );
    totals(
        (m.submitted, m.completed, m.failed, m.cancelled)
            == (submitted, completed, failed, cancelled),
        format!("metrics {m:?} vs submitted {submitted}, ended {completed}/{failed}/{cancelled}"),
    );
    totals(
        m.scheduled == get(&t.claims),
        format!(
            "metrics.scheduled {} vs claims {}",
            m.scheduled,
            get(&t.claims)
        ),
    );
    totals(
        ends[0] == reported[0],
        format!(
            "succeeded {} vs reported Completed {}",
            ends[0], reported[0]
        ),
    );
    totals(
        ends[1] == reported[2],
        format!("failed {} vs reported Failed {}", ends[1], reported[2]),
    );
    totals(
        status.by_state.total() == 0
            && status.queued_by_priority == [0; 5]
            && status.unfinished_by_runner.values().all(|&n| n == 0)
            && status
                .clusters
                .values()
                .all(|c| c.running == 0 && c.queued == 0 && !c.paused),
        format!("status after the final prune: {status:?}"),
    );
    for (i, bound) in shared.bounds.iter().enumerate() {
        let n = bound.inflight.load(Ordering::SeqCst);
        totals(
            n == 0,
            format!("cluster {i}: {n} still in flight at the workers"),
        );
    }
    // Against the stream (exact when it did not lag).
    let kind = |k: EventKind| stream.by_kind.get(&k).copied().unwrap_or(0);
    let [le_retried, le_failed, le_cancelled] = stream.lease_expired_to;
    let exact = [
        ("Submitted", kind(EventKind::Submitted), submitted),
        ("Claimed", kind(EventKind::Claimed), m.scheduled),
        ("Started", kind(EventKind::Started), get(&t.started)),
        ("Completed", kind(EventKind::Completed), m.completed),
        ("Retried", kind(EventKind::Retried), reported[1]),
        ("Failed", kind(EventKind::Failed) + le_failed, m.failed),
        (
            "Cancelled",
            kind(EventKind::Cancelled) + le_cancelled,
            m.cancelled,
        ),
        (
            "LeaseExpired",
            kind(EventKind::LeaseExpired),
            get(&t.crashes) + get(&t.stale),
        ),
        ("Blocked", kind(EventKind::Blocked), 0),
    ];
    let missing: u64 = exact
        .iter()
        .map(|(_, got, want)| want.saturating_sub(*got))
        .sum();
    let excess: Vec<_> = exact.iter().filter(|(_, got, want)| got > want).collect();
    totals(
        excess.is_empty(),
        format!("more events than transitions: {excess:?}"),
    );
    if stream.lagged == 0 {
        totals(
            missing == 0,
            format!("events by kind vs counted outside: {exact:?}"),
        );
        totals(
            m.retried == reported[1] + le_retried,
            format!(
                "retried {} vs reported {} + expired {le_retried}",
                m.retried, reported[1]
            ),
        );
        totals(
            ends[3] == le_failed,
            format!("lease-expired ends {} vs stream {le_failed}", ends[3]),
        );
        totals(
            ends[4] == cancels[0] + reported[3] + le_cancelled,
            format!(
                "cancelled ends {} vs cancel {} + reported {} + expired {le_cancelled}",
                ends[4], cancels[0], reported[3]
            ),
        );
    } else {
        totals(
            missing <= stream.lagged,
            format!("{missing} events missing, told of {} lagged", stream.lagged),
        );
    }
    totals(
        kind(EventKind::CancelRequested) <= cancels[1]
            && kind(EventKind::Reprioritized) <= get(&t.reprioritized[0]),
        format!(
            "cancel-requested / reprioritized events above the calls: {:?}",
            stream.by_kind
        ),
    );

    let summary = format!(
        "{:.1}s: {submitted} jobs in {} waves ({:.0} jobs/s): {completed} completed, {failed} failed, \
         {cancelled} cancelled; ends {:?}; {} claims ({} async), {} started, {} heartbeats, \
         {} crashes, {} stale reports, {} cancels seen by workers; chaos cancels {cancels:?}, \
         reprioritize {:?}, {} expire_leases calls ({} expired); {} capacity changes, {} pauses, \
         {} resource changes; {} checks ({} metrics readings with more ended than submitted, by at most {}), \
         {} dependency checks, {} prunes; peak retained {} jobs, \
         peak in flight {:?}, peak rss {} MiB; stream: {} events, {} lagged, {} tainted, peak open {}, \
         {} stamped before the job's previous event (at most {:?} before), by kind {:?}; violations {}",
        shared.started.elapsed().as_secs_f64(),
        get(&t.waves),
        submitted as f64 / shared.started.elapsed().as_secs_f64(),
        END_NAMES.iter().zip(&ends).collect::<Vec<_>>(),
        get(&t.claims),
        get(&t.async_claims),
        get(&t.started),
        get(&t.heartbeats),
        get(&t.crashes),
        get(&t.stale),
        get(&t.cancel_seen),
        t.reprioritized.iter().map(get).collect::<Vec<_>>(),
        get(&t.expire_calls),
        get(&t.expired_by_call),
        get(&t.capacity_changes),
        get(&t.pauses),
        get(&t.resource_changes),
        get(&t.checks),
        get(&t.ended_above_submitted),
        get(&t.ended_above_submitted_max),
        get(&t.dep_checks),
        get(&t.prunes),
        get(&t.peak_retained),
        shared
            .bounds
            .iter()
            .map(|b| b.peak_inflight.load(Ordering::SeqCst))
            .collect::<Vec<_>>(),
        get(&t.peak_rss_kb) / 1024,
        stream.received,
        stream.lagged,
        stream.tainted,
        stream.peak_open,
        stream.clock_back,
        stream.clock_back_max,
        {
            let mut v: Vec<_> = stream.by_kind.iter().map(|(k, n)| (format!("{k:?}"), *n)).collect();
            v.sort();
            v
        },
        shared.violations.total(),
    );
    let kinds = [
        Kind::DuplicateClaim,
        Kind::DependencyOrder,
        Kind::OverCapacity,
        Kind::PausedClaim,
        Kind::BadCount,
        Kind::Memory,
        Kind::Stall,
        Kind::History,
        Kind::JobEnd,
        Kind::Totals,
        Kind::Api,
    ];
    SoakReport {
        violations: kinds
            .iter()
            .map(|&k| (k, shared.violations.count(k)))
            .filter(|&(_, n)| n > 0)
            .collect(),
        first: shared.violations.first.lock().clone(),
        summary,
    }
}

fn env<T: std::str::FromStr>(name: &str) -> Option<T> {
    std::env::var(name).ok().and_then(|v| v.parse().ok())
}

#[test]
fn soak() {
    let secs: f64 = env("DAGQUEUE_SOAK_SECS").unwrap_or(3.0);
    let seed: u64 = env("DAGQUEUE_SOAK_SEED").unwrap_or(1);
    let every = Duration::from_secs_f64(env("DAGQUEUE_SOAK_PROGRESS").unwrap_or(if secs < 30.0 {
        1.0
    } else {
        10.0
    }));
    let report = with_watchdog(
        Duration::from_secs_f64(secs + 180.0),
        "the soak",
        move || run_soak(secs, Fault::None, seed, every),
    );
    eprintln!("soak (seed {seed}) {}", report.summary);
    assert!(
        report.violations.is_empty(),
        "violations {:?}, the first ones:\n{}",
        report.violations,
        report.first.join("\n")
    );
}

/// Each fault, injected into a short soak, is reported by the checker meant
/// to catch it (and only by the checkers its effect reaches).
#[test]
fn negative_controls_the_checkers_catch_injected_faults() {
    for (fault, expected) in [
        (Fault::RecordClaimTwice, vec![Kind::DuplicateClaim]),
        (Fault::RunUnreleasedJob, vec![Kind::DependencyOrder]),
        (Fault::OverCapacity, vec![Kind::OverCapacity]),
        (Fault::DropEvent, vec![Kind::History, Kind::Totals]),
    ] {
        let report = with_watchdog(Duration::from_secs(120), "a negative control", move || {
            run_soak(1.0, fault, 7, Duration::from_secs(60))
        });
        eprintln!("{fault:?}: {:?}", report.violations);
        let kinds: Vec<Kind> = report.violations.iter().map(|v| v.0).collect();
        assert_eq!(kinds, expected, "{fault:?}: {:#?}", report.first);
        for (kind, n) in &report.violations {
            assert!(*n >= 1, "{fault:?}: {kind:?}");
        }
    }
}
