//! Linearizability checking of real concurrent histories: a recorder, a
//! Wing–Gong / Lowe search with memoization, and a sequential specification
//! of the queue written for it.
//!
//! * [`Recorder`] and [`Log`]: each thread records every operation it runs
//!   on the queue under test (its invocation and response stamps, taken from
//!   one shared atomic counter, the operation and its result, errors and
//!   `None` included) into its own log: nothing shared but the counter.
//! * [`Checker`]: the search of Wing and Gong as Lowe ("Testing for
//!   linearizability", 2017) and Porcupine run it: from a configuration
//!   (the set of operations linearized so far and the specification's
//!   state), try every *minimal* operation (one invoked before every
//!   pending operation's response) whose step the specification allows
//!   with the recorded result; memoize the configurations seen, so each
//!   is expanded once. A thread's operations are sequential, so the set of
//!   linearized operations is, per thread, a prefix of its log: the bitset of
//!   Lowe's algorithm is stored as one prefix length per thread, which is
//!   exact and small. The search is exhaustive (no early exit): it returns
//!   every state a linearization of the whole epoch can end in.
//! * Epochs: a run may be cut into epochs that every thread leaves before
//!   any enters the next (a barrier); operations of different epochs are then
//!   ordered by real time, so the check goes epoch by epoch, from *every*
//!   state some linearization of the previous epoch ended in (the claims'
//!   and the settlements' nondeterminism can leave several).
//! * [`QueueModel`]: the sequential specification, a small `Clone + Hash`
//!   model of `JobQueue`'s semantics for the operations of [`Op`]; it is
//!   nondeterministic where the queue's sequential behaviour is an
//!   implementation choice (which job of a level a claim takes, which of two
//!   ended dependencies a job names) and where `JobQueue` is not atomic by
//!   design (see below). The test `tests/linearizability.rs` checks it against
//!   the mutex baseline on sequential histories.
//!
//! # What the specification allows, and why
//!
//! * **Dependency settlement is not atomic with the operation that ends a
//!   dependency** (`docs/DESIGN.md`: the release of a dependent is its own
//!   linearization point, after the dependency's terminal CAS; a submit
//!   publishes its job `Waiting` with a guard it releases before it
//!   returns). The model keeps, per waiting job, its unsettled dependencies
//!   and its submit's guard; settling one is an *internal step* the search
//!   may take at any time once the dependency is terminal, and must take
//!   before any operation invoked after the later of the responses of the
//!   job's submit and of the operation that ended the dependency (the
//!   settlement is done by one of those two threads, before it returns).
//!   A cascade (a failed or cancelled dependency ending its dependent)
//!   inherits that deadline.
//! * **Claims** ([`Op::Claim`]): `Some(job)` must be a pending job of that
//!   runner type, which becomes scheduled with the next attempt. With
//!   `strict: false` a claim may return a job of any level, or `None`, at
//!   any time: `JobQueue`'s claim scans the levels one after the other and
//!   pops a lane entry before its CAS (the popped job is invisible to other
//!   claimers until then), so neither "the best level" nor "`None` means
//!   nothing was claimable" is a linearizable property of a concurrent
//!   claim (`docs/DESIGN.md`, "Claim returning None"). With `strict: true`
//!   (for a claim run while no other operation is in flight) the job must be
//!   of the best pending level of its runner type, and `None` means no job of
//!   that runner type was pending.
//! * **A rejected submit's error**: `UnknownDependency` is accepted even
//!   where a job of the same id exists (the sequential order of checks
//!   says `DuplicateJob`), if the dependency is unknown and those before it
//!   are known: `JobQueue::submit` looks for a duplicate and then looks its
//!   dependencies up in separate reads, so a job of that id submitted by
//!   another thread in between is not seen. The checker found this on
//!   `JobQueue` (a submit preempted between the two reads); the error
//!   precedence documented for `submit` holds only without a racing submit
//!   of the same id. A successful submit and `DuplicateJob` are exact.
//! * **A submit reserves its id before it publishes the job**
//!   (`docs/DESIGN.md`, submit's linearization point): in between, a racing
//!   submit of that id gets `DuplicateJob` while every reader, and a submit
//!   naming it as a dependency, still finds it unknown. Where a
//!   `DuplicateJob` overlaps a successful submit of the same id, the checker
//!   adds the reservation as a step of its own ([`Op::Reserve`], anywhere in
//!   the submit's interval before its publication); the checker found this
//!   window too (a submit preempted after its reservation: a `DuplicateJob`
//!   then `UnknownDependency` and `UnknownJob` reads of the same id).
//! * Reads (`job`) are exact: state, priority level, attempt, cancel
//!   request and how the job ended (a failure's reason aside: the histories
//!   here report with `complete`, which gives none).
//! * [`Op::Prune`] is modelled only with no settlement outstanding (run it
//!   while no other operation is in flight).
//!
//! # Partitioning
//!
//! P-compositionality (checking each job's sub-history alone) holds only for
//! operations on one object; a claim reads every pending job of its runner
//! type, and settlements link jobs, so the history is checked as a whole.
//! What keeps the search small is the per-thread prefix memoization, the
//! epochs, and a small id space ([`JOB_IDS`]) pruned between epochs.

use crate::{Claim, Scheduler};
use dagqueue::{
    CancelOutcome, Completion, Error, JobEnd, JobId, JobSpec, JobState, JobView, Outcome, Priority,
    RunnerType, MAX_RETRIES,
};
use std::collections::{HashMap, HashSet};
use std::fmt;
use std::hash::Hash;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

// ----------------------------------------------------------------------------
// Histories
// ----------------------------------------------------------------------------

/// When an operation ran: stamps from the [`Recorder`]'s counter, taken just
/// before the call and just after it returned. The recorded interval holds
/// the real one, so an operation that really returned before another was
/// called has the smaller response stamp than the other's invocation stamp.
/// The invocation stamp is unique: it is the operation's id.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Call {
    /// The stamp taken before the call.
    pub invoke: u64,
    /// The stamp taken after it returned.
    pub respond: u64,
}

/// One recorded operation.
#[derive(Clone, Debug)]
pub struct Entry<O, R> {
    /// The thread that ran it (any number; a thread's operations must not
    /// overlap).
    pub thread: usize,
    /// Its stamps.
    pub call: Call,
    /// The operation.
    pub op: O,
    /// What it returned.
    pub ret: R,
}

/// The shared clock of a recording: one atomic counter.
#[derive(Debug)]
pub struct Recorder {
    clock: AtomicU64,
}

impl Default for Recorder {
    fn default() -> Recorder {
        Recorder::new()
    }
}

impl Recorder {
    /// A clock at 1 (0 is never a stamp).
    pub fn new() -> Recorder {
        Recorder {
            clock: AtomicU64::new(1),
        }
    }

    /// The next stamp (SeqCst: stamps follow real time across threads).
    pub fn stamp(&self) -> u64 {
        self.clock.fetch_add(1, Ordering::SeqCst)
    }

    /// A log for one thread.
    pub fn log<O, R>(&self, thread: usize) -> Log<'_, O, R> {
        Log {
            recorder: self,
            thread,
            entries: Vec::new(),
        }
    }
}

/// One thread's log of operations.
#[derive(Debug)]
pub struct Log<'r, O, R> {
    recorder: &'r Recorder,
    thread: usize,
    entries: Vec<Entry<O, R>>,
}

impl<O, R> Log<'_, O, R> {
    /// Runs `run` as one operation and records it: `run` gets the operation
    /// and its id (the invocation stamp); what it returns is the result.
    pub fn record(&mut self, op: O, run: impl FnOnce(&O, u64) -> R) -> &Entry<O, R> {
        let invoke = self.recorder.stamp();
        let ret = run(&op, invoke);
        let respond = self.recorder.stamp();
        self.entries.push(Entry {
            thread: self.thread,
            call: Call { invoke, respond },
            op,
            ret,
        });
        &self.entries[self.entries.len() - 1]
    }

    /// The entries recorded since the last `take` (an epoch's).
    pub fn take(&mut self) -> Vec<Entry<O, R>> {
        std::mem::take(&mut self.entries)
    }
}

// ----------------------------------------------------------------------------
// The checker
// ----------------------------------------------------------------------------

/// A sequential specification, as the checker runs it.
pub trait Model: Clone + Eq + Hash + fmt::Debug {
    /// An operation.
    type Op: fmt::Debug;
    /// What an operation returns.
    type Ret: fmt::Debug;

    /// Every state `op` may lead to from this one when it returns `ret`
    /// (none: not allowed). `call` is the operation's recorded stamps.
    fn step(&self, op: &Self::Op, ret: &Self::Ret, call: Call) -> Vec<Self>;

    /// Every state one internal step (a step no operation is linearized
    /// at, such as a deferred settlement) leads to.
    fn internal_steps(&self) -> Vec<Self> {
        Vec::new()
    }

    /// The earliest deadline of the internal steps still owed: no operation
    /// invoked after this stamp may be linearized before they are taken. A
    /// state at the end of an epoch owes none.
    fn deadline(&self) -> Option<u64> {
        None
    }

    /// Forgets what only mattered within the epoch that just ended (stamps),
    /// so that equal end states compare equal.
    fn end_epoch(&mut self) {}

    /// Extra steps an epoch's operations take besides their own: each one an
    /// entry of a thread of its own (an id no real thread uses), with the
    /// stamps of the operation it belongs to. None by default.
    fn extra_entries(_entries: &[Entry<Self::Op, Self::Ret>]) -> Vec<Entry<Self::Op, Self::Ret>> {
        Vec::new()
    }
}

/// Why a history was not accepted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FailureKind {
    /// No linearization exists: the history is not linearizable.
    NotLinearizable,
    /// The search met its limit before finishing (no verdict).
    SearchLimit,
    /// The history is malformed (a thread's operations overlap, epochs
    /// overlap).
    Malformed,
}

/// A rejected history.
#[derive(Clone, Debug)]
pub struct Failure {
    /// Why.
    pub kind: FailureKind,
    /// The epoch (0-based).
    pub epoch: usize,
    /// The most operations of the epoch any partial linearization reached.
    pub linearized: usize,
    /// The epoch's operations.
    pub operations: usize,
    /// The deepest partial linearization's state and each thread's next
    /// operation, for the report.
    pub detail: String,
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:?} in epoch {}: {} of {} operations linearized at most\n{}",
            self.kind, self.epoch, self.linearized, self.operations, self.detail
        )
    }
}

/// What an accepted history cost.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Report {
    /// Operations checked.
    pub operations: usize,
    /// Epochs checked.
    pub epochs: usize,
    /// Configurations (linearized set, state) the searches expanded.
    pub configurations: u64,
    /// The most end states an epoch left (its possible states).
    pub most_end_states: usize,
}

impl Report {
    /// Adds another history's figures.
    pub fn add(&mut self, other: Report) {
        self.operations += other.operations;
        self.epochs += other.epochs;
        self.configurations += other.configurations;
        self.most_end_states = self.most_end_states.max(other.most_end_states);
    }
}

/// The search, with its limits.
#[derive(Clone, Copy, Debug)]
pub struct Checker {
    /// The most configurations one epoch's search may expand.
    pub max_configurations: usize,
    /// The most end states an epoch may leave.
    pub max_end_states: usize,
}

impl Default for Checker {
    fn default() -> Checker {
        Checker {
            max_configurations: 2_000_000,
            max_end_states: 10_000,
        }
    }
}

/// A configuration: per thread, how many of its operations are linearized;
/// and the specification's state.
type Config<M> = (Vec<u32>, M);

/// An epoch's entries, by thread.
type ByThread<'e, O, R> = HashMap<usize, Vec<&'e Entry<O, R>>>;

impl Checker {
    /// Checks a history cut into epochs (each epoch's operations all return
    /// before any of the next is invoked) from `initial`.
    ///
    /// # Errors
    /// The first epoch that no linearization explains, or the search's limit.
    pub fn check<M: Model>(
        &self,
        initial: M,
        epochs: &[Vec<Entry<M::Op, M::Ret>>],
    ) -> Result<Report, Failure> {
        let mut states = vec![initial];
        let mut report = Report::default();
        let mut last_respond = 0;
        for (index, entries) in epochs.iter().enumerate() {
            if let Some(first) = entries.iter().map(|e| e.call.invoke).min() {
                if first < last_respond {
                    return Err(Failure {
                        kind: FailureKind::Malformed,
                        epoch: index,
                        linearized: 0,
                        operations: entries.len(),
                        detail: format!(
                            "invoked at {first}, before the previous epoch's last response {last_respond}"
                        ),
                    });
                }
            }
            last_respond = entries
                .iter()
                .map(|e| e.call.respond)
                .max()
                .unwrap_or(last_respond);
            let (ends, configurations) = self.check_epoch(&states, entries, index)?;
            report.operations += entries.len();
            report.epochs += 1;
            report.configurations += configurations;
            report.most_end_states = report.most_end_states.max(ends.len());
            states = ends;
        }
        Ok(report)
    }

    /// Checks one epoch from each of `starts`; returns every state a
    /// linearization of it ends in, and the configurations expanded.
    ///
    /// # Errors
    /// No linearization (from any start), the search's limits, or a thread
    /// whose operations overlap.
    pub fn check_epoch<M: Model>(
        &self,
        starts: &[M],
        entries: &[Entry<M::Op, M::Ret>],
        epoch: usize,
    ) -> Result<(Vec<M>, u64), Failure> {
        let failure = |kind, linearized, detail| Failure {
            kind,
            epoch,
            linearized,
            operations: entries.len(),
            detail,
        };
        // Each thread's operations, in order.
        let extra = M::extra_entries(entries);
        let mut by_thread: ByThread<'_, M::Op, M::Ret> = HashMap::new();
        for entry in entries.iter().chain(&extra) {
            if entry.call.respond <= entry.call.invoke {
                return Err(failure(
                    FailureKind::Malformed,
                    0,
                    format!("{entry:?} responds before it is invoked"),
                ));
            }
            by_thread.entry(entry.thread).or_default().push(entry);
        }
        let mut threads: Vec<Vec<&Entry<M::Op, M::Ret>>> = by_thread.into_values().collect();
        threads.sort_by_key(|ops| ops[0].thread);
        for ops in &mut threads {
            ops.sort_by_key(|e| e.call.invoke);
            if let Some(w) = ops
                .windows(2)
                .find(|w| w[0].call.respond > w[1].call.invoke)
            {
                return Err(failure(
                    FailureKind::Malformed,
                    0,
                    format!("one thread's operations overlap: {:?} and {:?}", w[0], w[1]),
                ));
            }
        }
        let total = entries.len() + extra.len();
        let mut visited: HashSet<Config<M>> = HashSet::new();
        let mut stack: Vec<Config<M>> = Vec::new();
        for start in starts {
            let config = (vec![0u32; threads.len()], start.clone());
            if visited.insert(config.clone()) {
                stack.push(config);
            }
        }
        let mut ends: HashSet<M> = HashSet::new();
        let mut deepest: Option<(usize, Config<M>)> = None;
        let mut expanded: u64 = 0;
        while let Some((prefix, state)) = stack.pop() {
            expanded += 1;
            let done: usize = prefix.iter().map(|&n| n as usize).sum();
            if deepest.as_ref().is_none_or(|(d, _)| done > *d) {
                deepest = Some((done, (prefix.clone(), state.clone())));
            }
            let deadline = state.deadline();
            if done == total && deadline.is_none() {
                let mut end = state.clone();
                end.end_epoch();
                ends.insert(end);
                if ends.len() > self.max_end_states {
                    return Err(failure(
                        FailureKind::SearchLimit,
                        done,
                        format!("more than {} end states", self.max_end_states),
                    ));
                }
                continue;
            }
            let mut push = |config: Config<M>| {
                if !visited.contains(&config) {
                    visited.insert(config.clone());
                    stack.push(config);
                }
            };
            for next in state.internal_steps() {
                push((prefix.clone(), next));
            }
            // The minimal operations: invoked before every pending
            // operation's response (each thread's next one is its earliest
            // to respond), and before any owed internal step's deadline.
            let bound = threads
                .iter()
                .zip(&prefix)
                .filter_map(|(ops, &n)| ops.get(n as usize).map(|e| e.call.respond))
                .min()
                .unwrap_or(u64::MAX)
                .min(deadline.unwrap_or(u64::MAX));
            for (t, ops) in threads.iter().enumerate() {
                let Some(entry) = ops.get(prefix[t] as usize) else {
                    continue;
                };
                if entry.call.invoke > bound {
                    continue;
                }
                for next in state.step(&entry.op, &entry.ret, entry.call) {
                    let mut advanced = prefix.clone();
                    advanced[t] += 1;
                    push((advanced, next));
                }
            }
            if visited.len() > self.max_configurations {
                return Err(failure(
                    FailureKind::SearchLimit,
                    deepest.map_or(0, |(d, _)| d),
                    format!("more than {} configurations", self.max_configurations),
                ));
            }
        }
        if ends.is_empty() {
            let (done, (prefix, state)) = deepest.expect("at least one start");
            let mut detail = format!("deepest state: {state:?}\nnext operation of each thread:");
            for (t, ops) in threads.iter().enumerate() {
                match ops.get(prefix[t] as usize) {
                    Some(e) => detail.push_str(&format!(
                        "\n  thread {} [{}..{}]: {:?} -> {:?}",
                        e.thread, e.call.invoke, e.call.respond, e.op, e.ret
                    )),
                    None => detail.push_str(&format!("\n  thread {}: done", ops[0].thread)),
                }
            }
            return Err(failure(FailureKind::NotLinearizable, done, detail));
        }
        Ok((ends.into_iter().collect(), expanded))
    }
}

// ----------------------------------------------------------------------------
// The queue's operations and results
// ----------------------------------------------------------------------------

/// The model's job ids: `0..JOB_IDS` (an id at or above it is never
/// submitted, so always unknown).
pub const JOB_IDS: u64 = 32;

/// How a job ended, as the model compares it (a failure's reason aside).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum End {
    /// `JobEnd::Succeeded`.
    Succeeded,
    /// `JobEnd::Failed` after this many attempts.
    Failed(u32),
    /// `JobEnd::DependencyFailed` by this dependency.
    DependencyFailed(JobId),
    /// `JobEnd::Cancelled`.
    Cancelled,
    /// `JobEnd::DependencyCancelled` by this dependency.
    DependencyCancelled(JobId),
    /// Any other end (the model never produces one).
    Other,
}

/// A job as a read shows it, as the model compares it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct View {
    /// Its state.
    pub state: JobState,
    /// Its priority level.
    pub level: u8,
    /// Its attempt (claims so far).
    pub attempt: u32,
    /// Whether a cancel was requested while it was claimed.
    pub cancel_requested: bool,
    /// How it ended.
    pub end: Option<End>,
}

impl View {
    /// The view of a `JobView`.
    pub fn of(view: &JobView) -> View {
        let end = view.end.as_ref().map(|end| match end {
            JobEnd::Succeeded => End::Succeeded,
            JobEnd::Failed { attempts, .. } => End::Failed(*attempts),
            JobEnd::DependencyFailed { dependency } => End::DependencyFailed(*dependency),
            JobEnd::Cancelled => End::Cancelled,
            JobEnd::DependencyCancelled { dependency } => End::DependencyCancelled(*dependency),
            _ => End::Other,
        });
        View {
            state: view.state,
            level: view.priority.level(),
            attempt: view.attempt,
            cancel_requested: view.cancel_requested,
            end,
        }
    }
}

/// The claim a report names: its job and attempt, and the id of the claim
/// operation that handed it out (`None`: a claim no queue handed out).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ClaimRef {
    /// The job.
    pub job: JobId,
    /// The attempt.
    pub attempt: u32,
    /// The claim operation's id (its invocation stamp), or `None` (forged).
    pub issued: Option<u64>,
}

/// An operation of the queue.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Op {
    /// `submit` of a job of this id, priority level, runner type, retries
    /// and (after-success) dependencies.
    Submit {
        /// The id.
        job: JobId,
        /// The priority level (0..5).
        priority: u8,
        /// The runner type.
        runner: u32,
        /// The dependencies, in order.
        deps: Vec<JobId>,
        /// The retries.
        max_retries: u32,
    },
    /// `claim` for a runner type; `strict`: run with no other operation in
    /// flight (see the module docs).
    Claim {
        /// The runner type.
        runner: u32,
        /// Whether the best level and `None` are checked.
        strict: bool,
    },
    /// `start` of a claim.
    Start(ClaimRef),
    /// `complete` of a claim.
    Complete(ClaimRef, Outcome),
    /// `cancel`.
    Cancel(JobId),
    /// `reprioritize` to a level.
    Reprioritize(JobId, u8),
    /// `job`: a read of one job.
    Read(JobId),
    /// `prune_finished`.
    Prune,
    /// Not an operation of the queue: the first step of a successful
    /// `submit` of this id, which reserves the id (a racing submit of it is
    /// then `DuplicateJob`) before the submit publishes the job (readers
    /// see it only then). Added by the checker ([`Model::extra_entries`])
    /// where a `DuplicateJob` overlaps the submit; never run on a queue.
    Reserve(JobId),
}

/// What an operation returned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Ret {
    /// `submit`'s result.
    Submit(Result<JobId, Error>),
    /// The claimed job and attempt, or `None`.
    Claim(Option<(JobId, u32)>),
    /// `start`'s result.
    Start(Result<(), Error>),
    /// `complete`'s result.
    Complete(Result<Completion, Error>),
    /// `cancel`'s result.
    Cancel(Result<CancelOutcome, Error>),
    /// `reprioritize`'s result.
    Reprioritize(Result<(), Error>),
    /// `job`'s result.
    Read(Result<View, Error>),
    /// The pruned jobs, by id.
    Prune(Vec<(JobId, View)>),
}

// ----------------------------------------------------------------------------
// The sequential specification
// ----------------------------------------------------------------------------

/// One job of the model.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
struct Job {
    state: JobState,
    level: u8,
    runner: u32,
    attempt: u32,
    max_retries: u32,
    cancel_requested: bool,
    end: Option<End>,
    /// The claim operation that handed out its current (or last) attempt.
    claim: u64,
    /// Dependencies not settled yet, one bit per id.
    waits: u32,
    /// Its submit's guard is not released yet.
    guard: bool,
    /// Its submit's response stamp (0 once its epoch ended).
    submitted: u64,
    /// Once terminal: the deadline of its dependents' settlements (0 once
    /// its epoch ended).
    ended: u64,
}

impl Job {
    fn view(&self) -> View {
        View {
            state: self.state,
            level: self.level,
            attempt: self.attempt,
            cancel_requested: self.cancel_requested,
            end: self.end,
        }
    }

    /// Ends a queued (waiting or pending) job; its settlements are void.
    fn end_queued(&mut self, state: JobState, end: End, deadline: u64) {
        self.state = state;
        self.end = Some(end);
        self.ended = deadline;
        self.waits = 0;
        self.guard = false;
    }

    /// Pending once nothing holds it.
    fn release_if_free(&mut self) {
        if self.state == JobState::Waiting && self.waits == 0 && !self.guard {
            self.state = JobState::Pending;
        }
    }
}

/// The sequential specification of the queue's operations in [`Op`] (see
/// the module docs for what it allows): jobs `0..JOB_IDS`, with their
/// state, level, runner type, attempt, cancel request, end, and the
/// settlements they are owed.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct QueueModel {
    jobs: [Option<Job>; JOB_IDS as usize],
    /// Ids reserved by a submit not published yet, one bit per id.
    reserved: u32,
}

impl Default for QueueModel {
    fn default() -> QueueModel {
        QueueModel::new()
    }
}

impl fmt::Debug for QueueModel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map()
            .entries(
                self.jobs
                    .iter()
                    .enumerate()
                    .filter_map(|(id, job)| job.as_ref().map(|job| (id, job))),
            )
            .finish()
    }
}

fn bit(id: JobId) -> u32 {
    1 << id.0
}

impl QueueModel {
    /// An empty queue.
    pub fn new() -> QueueModel {
        QueueModel {
            jobs: [None; JOB_IDS as usize],
            reserved: 0,
        }
    }

    fn get(&self, id: JobId) -> Option<&Job> {
        self.jobs.get(id.0 as usize)?.as_ref()
    }

    fn get_mut(&mut self, id: JobId) -> Option<&mut Job> {
        self.jobs.get_mut(id.0 as usize)?.as_mut()
    }

    /// The pending jobs of a runner type, by (level, id).
    pub fn pending(&self, runner: u32) -> Vec<(u8, JobId)> {
        let mut pending: Vec<(u8, JobId)> = self
            .jobs
            .iter()
            .enumerate()
            .filter_map(|(id, job)| {
                let job = job.as_ref()?;
                (job.state == JobState::Pending && job.runner == runner)
                    .then_some((job.level, JobId(id as u64)))
            })
            .collect();
        pending.sort();
        pending
    }

    /// The read of a job.
    pub fn view(&self, id: JobId) -> Result<View, Error> {
        self.get(id).map(Job::view).ok_or(Error::UnknownJob(id))
    }

    /// Whether a claim of `runner` may return `claimed` (job, attempt) now,
    /// and the state after it. `claim` is the claim operation's id.
    pub fn claim(
        &self,
        runner: u32,
        strict: bool,
        claimed: Option<(JobId, u32)>,
        claim: u64,
    ) -> Option<QueueModel> {
        let pending = self.pending(runner);
        match claimed {
            None => (!strict || pending.is_empty()).then(|| self.clone()),
            Some((id, attempt)) => {
                let job = self.get(id)?;
                let allowed = job.state == JobState::Pending
                    && job.runner == runner
                    && attempt == job.attempt + 1
                    && (!strict || pending.first().map(|&(level, _)| level) == Some(job.level));
                if !allowed {
                    return None;
                }
                let mut next = self.clone();
                let job = next.get_mut(id)?;
                job.state = JobState::Scheduled;
                job.attempt = attempt;
                job.claim = claim;
                Some(next)
            }
        }
    }

    /// A report's claim, if current: the job's, handed out by that claim
    /// operation, still claimed.
    fn current(&self, claim: &ClaimRef) -> Result<&Job, Error> {
        let stale = Error::StaleClaim {
            job: claim.job,
            attempt: claim.attempt,
        };
        match (self.get(claim.job), claim.issued) {
            (Some(job), Some(issued))
                if job.claim == issued
                    && job.attempt == claim.attempt
                    && job.state.is_claimed() =>
            {
                Ok(job)
            }
            _ => Err(stale),
        }
    }

    /// Runs an operation other than a claim: its result and the state
    /// after it, or `None` where the model does not cover it (a submit of an
    /// id at or above [`JOB_IDS`], a prune with settlements outstanding,
    /// an invalid level). `call` gives the deadlines of the settlements it
    /// creates.
    pub fn run(&self, op: &Op, call: Call) -> Option<(Ret, QueueModel)> {
        let mut next = self.clone();
        let ret = match op {
            Op::Claim { .. } | Op::Reserve(_) => return None,
            Op::Submit {
                job: id,
                priority,
                runner,
                deps,
                max_retries,
            } => Ret::Submit(next.submit(*id, *priority, *runner, deps, *max_retries, call)?),
            Op::Start(claim) => Ret::Start(match self.current(claim) {
                Err(stale) => Err(stale),
                Ok(job) if job.cancel_requested => Err(Error::CancelRequested(claim.job)),
                Ok(job) if job.state == JobState::Running => Err(Error::AlreadyStarted(claim.job)),
                Ok(_) => {
                    next.get_mut(claim.job)?.state = JobState::Running;
                    Ok(())
                }
            }),
            Op::Complete(claim, outcome) => Ret::Complete(match self.current(claim) {
                Err(stale) => Err(stale),
                Ok(_) => {
                    let job = next.get_mut(claim.job)?;
                    job.ended = call.respond;
                    Ok(if job.cancel_requested {
                        job.state = JobState::Cancelled;
                        job.end = Some(End::Cancelled);
                        Completion::Cancelled
                    } else if *outcome == Outcome::Success {
                        job.state = JobState::Completed;
                        job.end = Some(End::Succeeded);
                        Completion::Completed
                    } else if job.attempt <= job.max_retries {
                        job.state = JobState::Pending;
                        Completion::Retrying
                    } else {
                        job.state = JobState::Failed;
                        job.end = Some(End::Failed(job.attempt));
                        Completion::Failed
                    })
                }
            }),
            Op::Cancel(id) => Ret::Cancel(match next.get_mut(*id) {
                None => Err(Error::UnknownJob(*id)),
                Some(job) => match job.state {
                    JobState::Waiting | JobState::Pending => {
                        job.end_queued(JobState::Cancelled, End::Cancelled, call.respond);
                        Ok(CancelOutcome::Cancelled)
                    }
                    JobState::Scheduled | JobState::Running => {
                        job.cancel_requested = true;
                        Ok(CancelOutcome::Requested)
                    }
                    state => Err(Error::AlreadyFinished { job: *id, state }),
                },
            }),
            Op::Reprioritize(id, level) => {
                if usize::from(*level) >= Priority::LEVELS {
                    return None;
                }
                Ret::Reprioritize(match next.get_mut(*id) {
                    None => Err(Error::UnknownJob(*id)),
                    Some(job) => match job.state {
                        JobState::Waiting | JobState::Pending => {
                            job.level = *level;
                            Ok(())
                        }
                        state => Err(Error::NotQueued { job: *id, state }),
                    },
                })
            }
            Op::Read(id) => Ret::Read(self.view(*id)),
            Op::Prune => {
                if self.deadline().is_some() {
                    return None;
                }
                let mut pruned = Vec::new();
                for (id, slot) in next.jobs.iter_mut().enumerate() {
                    if slot.is_some_and(|job| job.state.is_terminal()) {
                        let job = slot.take()?;
                        pruned.push((JobId(id as u64), job.view()));
                    }
                }
                Ret::Prune(pruned)
            }
        };
        Some((ret, next))
    }

    fn submit(
        &mut self,
        id: JobId,
        priority: u8,
        runner: u32,
        deps: &[JobId],
        max_retries: u32,
        call: Call,
    ) -> Option<Result<JobId, Error>> {
        // As `JobSpec::validate`, then the queue's checks, in their order.
        if max_retries > MAX_RETRIES {
            return Some(Err(Error::TooManyRetries(max_retries)));
        }
        if deps.contains(&id) {
            return Some(Err(Error::SelfDependency(id)));
        }
        if self.get(id).is_some() || (id.0 < JOB_IDS && self.reserved & bit(id) != 0) {
            return Some(Err(Error::DuplicateJob(id)));
        }
        if let Some(&dependency) = deps.iter().find(|&&d| self.get(d).is_none()) {
            return Some(Err(Error::UnknownDependency {
                job: id,
                dependency,
            }));
        }
        if id.0 >= JOB_IDS || usize::from(priority) >= Priority::LEVELS {
            return None;
        }
        let waits = deps.iter().fold(0, |mask, &d| mask | bit(d));
        self.jobs[id.0 as usize] = Some(Job {
            state: if deps.is_empty() {
                JobState::Pending
            } else {
                JobState::Waiting
            },
            level: priority,
            runner,
            attempt: 0,
            max_retries,
            cancel_requested: false,
            end: None,
            claim: 0,
            waits,
            guard: !deps.is_empty(),
            submitted: call.respond,
            ended: 0,
        });
        Some(Ok(id))
    }

    /// The settlements owed now: (job, `None` for its guard or the
    /// dependency, deadline).
    fn owed(&self) -> impl Iterator<Item = (JobId, Option<JobId>, u64)> + '_ {
        self.jobs.iter().enumerate().flat_map(move |(id, job)| {
            let job = job.as_ref();
            let guard = job
                .filter(|job| job.guard)
                .map(|job| (JobId(id as u64), None, job.submitted));
            let deps = job.into_iter().flat_map(move |job| {
                (0..JOB_IDS).filter_map(move |d| {
                    let dependency = self.get(JobId(d))?;
                    (job.waits & bit(JobId(d)) != 0 && dependency.state.is_terminal()).then(|| {
                        (
                            JobId(id as u64),
                            Some(JobId(d)),
                            job.submitted.max(dependency.ended),
                        )
                    })
                })
            });
            guard.into_iter().chain(deps)
        })
    }

    /// Whether a submit may be rejected `UnknownDependency` now even though
    /// the sequential order of checks would report `DuplicateJob` first:
    /// `JobQueue::submit` looks for a duplicate, then looks each dependency
    /// up, in separate reads, so a job of that id submitted between the two
    /// (another thread's) is not seen. Allowed: the spec's own checks pass,
    /// the named dependency is unknown and those before it are known.
    fn unknown_dependency_allowed(&self, op: &Op, ret: &Ret) -> bool {
        let (
            Op::Submit {
                job,
                deps,
                max_retries,
                ..
            },
            Ret::Submit(Err(Error::UnknownDependency {
                job: rejected,
                dependency,
            })),
        ) = (op, ret)
        else {
            return false;
        };
        let Some(position) = deps.iter().position(|d| d == dependency) else {
            return false;
        };
        rejected == job
            && *max_retries <= MAX_RETRIES
            && !deps.contains(job)
            && self.get(*dependency).is_none()
            && deps[..position].iter().all(|&d| self.get(d).is_some())
    }

    /// The state after one settlement.
    fn settle(&self, id: JobId, unit: Option<JobId>, deadline: u64) -> Option<QueueModel> {
        let mut next = self.clone();
        let dependency = match unit {
            Some(d) => Some((d, self.get(d)?.state)),
            None => None,
        };
        let job = next.get_mut(id)?;
        match dependency {
            None => job.guard = false,
            Some((d, JobState::Completed)) => job.waits &= !bit(d),
            Some((d, JobState::Failed)) => {
                job.end_queued(JobState::Failed, End::DependencyFailed(d), deadline)
            }
            Some((d, _)) => {
                job.end_queued(JobState::Cancelled, End::DependencyCancelled(d), deadline)
            }
        }
        job.release_if_free();
        Some(next)
    }

    /// Takes every owed settlement, in id order (what an atomic
    /// implementation does).
    pub fn settle_all(&mut self) {
        loop {
            let first = self.owed().next();
            let Some(next) = first.and_then(|(id, unit, deadline)| self.settle(id, unit, deadline))
            else {
                break;
            };
            *self = next;
        }
    }
}

impl Model for QueueModel {
    type Op = Op;
    type Ret = Ret;

    fn step(&self, op: &Op, ret: &Ret, call: Call) -> Vec<QueueModel> {
        if let (Op::Claim { runner, strict }, Ret::Claim(claimed)) = (op, ret) {
            return self
                .claim(*runner, *strict, *claimed, call.invoke)
                .into_iter()
                .collect();
        }
        if self.unknown_dependency_allowed(op, ret) {
            return vec![self.clone()];
        }
        match (op, ret) {
            (Op::Reserve(id), _) => {
                let free =
                    id.0 < JOB_IDS && self.get(*id).is_none() && self.reserved & bit(*id) == 0;
                let mut next = self.clone();
                next.reserved |= bit(*id);
                return if free { vec![next] } else { Vec::new() };
            }
            (Op::Submit { job, .. }, Ret::Submit(Ok(_)))
                if job.0 < JOB_IDS && self.reserved & bit(*job) != 0 =>
            {
                // Publishing what its reservation held.
                let mut unreserved = self.clone();
                unreserved.reserved &= !bit(*job);
                return match unreserved.run(op, call) {
                    Some((expected, next)) if expected == *ret => vec![next],
                    _ => Vec::new(),
                };
            }
            _ => {}
        }
        match self.run(op, call) {
            Some((expected, next)) if expected == *ret => vec![next],
            _ => Vec::new(),
        }
    }

    fn internal_steps(&self) -> Vec<QueueModel> {
        self.owed()
            .filter_map(|(id, unit, deadline)| self.settle(id, unit, deadline))
            .collect()
    }

    fn deadline(&self) -> Option<u64> {
        self.owed().map(|(_, _, deadline)| deadline).min()
    }

    fn extra_entries(entries: &[Entry<Op, Ret>]) -> Vec<Entry<Op, Ret>> {
        // A reservation is seen only by a racing submit's `DuplicateJob`:
        // elsewhere it is taken with the publication, at no cost to the search.
        let duplicates: Vec<(JobId, Call)> = entries
            .iter()
            .filter_map(|e| match (&e.op, &e.ret) {
                (Op::Submit { job, .. }, Ret::Submit(Err(Error::DuplicateJob(_)))) => {
                    Some((*job, e.call))
                }
                _ => None,
            })
            .collect();
        entries
            .iter()
            .filter_map(|e| match (&e.op, &e.ret) {
                (Op::Submit { job, .. }, Ret::Submit(Ok(_)))
                    if duplicates.iter().any(|(id, d)| {
                        id == job && d.invoke < e.call.respond && e.call.invoke < d.respond
                    }) =>
                {
                    Some(Entry {
                        thread: usize::MAX - e.call.invoke as usize,
                        call: e.call,
                        op: Op::Reserve(*job),
                        ret: e.ret.clone(),
                    })
                }
                _ => None,
            })
            .collect()
    }

    fn end_epoch(&mut self) {
        for job in self.jobs.iter_mut().flatten() {
            job.submitted = 0;
            job.ended = 0;
        }
    }
}

// ----------------------------------------------------------------------------
// Running operations on a queue
// ----------------------------------------------------------------------------

/// A queue the operations of [`Op`] run on: every [`Scheduler`], and the
/// [`ModelQueue`].
pub trait Target: Sync {
    /// Runs `op` (`id`: its invocation stamp; `claim`: the claim a start or
    /// a complete reports, which the caller looked up from its
    /// [`ClaimRef`]); returns the result and the claim a claim handed out.
    fn apply(&self, op: &Op, claim: Option<&Claim>) -> (Ret, Option<Claim>);
}

impl<S: Scheduler + ?Sized> Target for S {
    fn apply(&self, op: &Op, claim: Option<&Claim>) -> (Ret, Option<Claim>) {
        let report = |c: &ClaimRef| {
            claim
                .cloned()
                .unwrap_or_else(|| Claim::from_parts(c.job, 0, c.attempt))
        };
        let ret = match op {
            Op::Submit {
                job,
                priority,
                runner,
                deps,
                max_retries,
            } => {
                let spec = JobSpec::new(*job)
                    .priority(Priority::from_level(*priority).unwrap_or(Priority::Normal))
                    .runner(RunnerType(*runner))
                    .max_retries(*max_retries)
                    .depends_on(deps.iter().copied());
                Ret::Submit(self.submit(spec))
            }
            Op::Claim { runner, .. } => {
                let claim = self.claim(RunnerType(*runner));
                let ret = Ret::Claim(claim.as_ref().map(|c| (c.job(), c.attempt())));
                return (ret, claim);
            }
            Op::Start(c) => Ret::Start(self.start(&report(c))),
            Op::Complete(c, outcome) => Ret::Complete(self.complete(report(c), *outcome)),
            Op::Cancel(job) => Ret::Cancel(self.cancel(*job)),
            Op::Reprioritize(job, level) => Ret::Reprioritize(self.reprioritize(
                *job,
                Priority::from_level(*level).unwrap_or(Priority::Normal),
            )),
            Op::Read(job) => Ret::Read(self.job(*job).map(|view| View::of(&view))),
            Op::Prune => Ret::Prune(
                self.prune_finished()
                    .iter()
                    .map(|view| (view.id, View::of(view)))
                    .collect(),
            ),
            Op::Reserve(_) => panic!("Op::Reserve is the checker's, not the queue's"),
        };
        (ret, None)
    }
}

/// The specification run as a queue: a [`QueueModel`] behind a mutex,
/// settlements taken at once, a claim taking the best level's lowest id.
///
/// With [`ModelQueue::with_split_claim`] it is the checker's negative
/// control, a deliberately broken queue: its claim looks for the job in one
/// critical section and takes it in another (a yield between them), so two
/// claimers can take the same job, and a job cancelled in between is
/// claimed anyway. A test-only switch: nothing else uses it.
#[derive(Debug)]
pub struct ModelQueue {
    /// The model and the last claim id handed out.
    state: Mutex<(QueueModel, u64)>,
    split_claim: bool,
}

impl Default for ModelQueue {
    fn default() -> ModelQueue {
        ModelQueue::new()
    }
}

impl ModelQueue {
    /// A correct (atomic) model queue.
    pub fn new() -> ModelQueue {
        ModelQueue {
            state: Mutex::new((QueueModel::new(), 0)),
            split_claim: false,
        }
    }

    /// The broken one (see the type): check and take in two critical
    /// sections.
    pub fn with_split_claim() -> ModelQueue {
        ModelQueue {
            split_claim: true,
            ..ModelQueue::new()
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, (QueueModel, u64)> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn claim(&self, runner: u32) -> Option<Claim> {
        let choose = |model: &QueueModel| {
            let (_, id) = *model.pending(runner).first()?;
            Some((id, model.get(id)?.attempt + 1))
        };
        if self.split_claim {
            // Check...
            let (id, attempt) = choose(&self.lock().0)?;
            std::thread::yield_now();
            // ...then take, without checking again.
            let mut guard = self.lock();
            guard.1 += 1;
            let claim_id = guard.1;
            let job = guard.0.get_mut(id)?;
            job.state = JobState::Scheduled;
            job.attempt = attempt;
            job.claim = claim_id;
            return Some(Claim::from_parts(id, claim_id, attempt));
        }
        let mut guard = self.lock();
        let (id, attempt) = choose(&guard.0)?;
        guard.1 += 1;
        let claim_id = guard.1;
        let next = guard.0.claim(runner, true, Some((id, attempt)), claim_id)?;
        guard.0 = next;
        Some(Claim::from_parts(id, claim_id, attempt))
    }
}

impl Target for ModelQueue {
    fn apply(&self, op: &Op, claim: Option<&Claim>) -> (Ret, Option<Claim>) {
        if let Op::Claim { runner, .. } = op {
            let claim = self.claim(*runner);
            return (
                Ret::Claim(claim.as_ref().map(|c| (c.job(), c.attempt()))),
                claim,
            );
        }
        // A report names the claim operation by the claim's incarnation
        // (this queue's claim id; 0, never handed out, when forged).
        let op = match (op, claim) {
            (Op::Start(c), Some(claim)) => Op::Start(ClaimRef {
                issued: Some(claim.incarnation()),
                ..*c
            }),
            (Op::Complete(c, outcome), Some(claim)) => Op::Complete(
                ClaimRef {
                    issued: Some(claim.incarnation()),
                    ..*c
                },
                *outcome,
            ),
            (op, _) => op.clone(),
        };
        let mut guard = self.lock();
        let stamps = Call {
            invoke: 0,
            respond: 0,
        };
        match guard.0.run(&op, stamps) {
            Some((ret, mut next)) => {
                next.settle_all();
                guard.0 = next;
                (ret, None)
            }
            None => panic!("ModelQueue does not cover {op:?}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Builds a history from (thread, invoke, respond, op, ret).
    fn history(entries: Vec<(usize, u64, u64, Op, Ret)>) -> Vec<Entry<Op, Ret>> {
        entries
            .into_iter()
            .map(|(thread, invoke, respond, op, ret)| Entry {
                thread,
                call: Call { invoke, respond },
                op,
                ret,
            })
            .collect()
    }

    fn check(entries: Vec<(usize, u64, u64, Op, Ret)>) -> Result<Report, Failure> {
        Checker::default().check(QueueModel::new(), &[history(entries)])
    }

    fn submit(job: u64, priority: u8, deps: &[u64]) -> Op {
        Op::Submit {
            job: JobId(job),
            priority,
            runner: 0,
            deps: deps.iter().map(|&d| JobId(d)).collect(),
            max_retries: 0,
        }
    }

    fn ok(job: u64) -> Ret {
        Ret::Submit(Ok(JobId(job)))
    }

    fn claim(strict: bool) -> Op {
        Op::Claim { runner: 0, strict }
    }

    fn claimed(job: u64, attempt: u32) -> Ret {
        Ret::Claim(Some((JobId(job), attempt)))
    }

    fn of(job: u64, attempt: u32, issued: u64) -> ClaimRef {
        ClaimRef {
            job: JobId(job),
            attempt,
            issued: Some(issued),
        }
    }

    fn view(state: JobState, level: u8, attempt: u32, end: Option<End>) -> Ret {
        Ret::Read(Ok(View {
            state,
            level,
            attempt,
            cancel_requested: false,
            end,
        }))
    }

    fn rejected(result: Result<Report, Failure>) -> bool {
        matches!(
            result,
            Err(Failure {
                kind: FailureKind::NotLinearizable,
                ..
            })
        )
    }

    #[test]
    fn a_sequential_lifecycle_is_accepted() {
        let report = check(vec![
            (0, 1, 2, submit(1, 2, &[]), ok(1)),
            (0, 3, 4, claim(true), claimed(1, 1)),
            (0, 5, 6, Op::Start(of(1, 1, 3)), Ret::Start(Ok(()))),
            (
                0,
                7,
                8,
                Op::Complete(of(1, 1, 3), Outcome::Success),
                Ret::Complete(Ok(Completion::Completed)),
            ),
            (
                0,
                9,
                10,
                Op::Complete(of(1, 1, 3), Outcome::Success),
                Ret::Complete(Err(Error::StaleClaim {
                    job: JobId(1),
                    attempt: 1,
                })),
            ),
            (
                0,
                11,
                12,
                Op::Read(JobId(1)),
                view(JobState::Completed, 2, 1, Some(End::Succeeded)),
            ),
            (0, 13, 14, claim(true), Ret::Claim(None)),
        ])
        .unwrap();
        assert_eq!(report.operations, 7);
        assert_eq!(report.epochs, 1);
    }

    #[test]
    fn a_duplicate_success_report_is_rejected() {
        let base = vec![
            (0, 1, 2, submit(1, 2, &[]), ok(1)),
            (0, 3, 4, claim(true), claimed(1, 1)),
            (
                0,
                5,
                6,
                Op::Complete(of(1, 1, 3), Outcome::Success),
                Ret::Complete(Ok(Completion::Completed)),
            ),
        ];
        let mut twice = base.clone();
        twice.push((
            0,
            7,
            8,
            Op::Complete(of(1, 1, 3), Outcome::Success),
            Ret::Complete(Ok(Completion::Completed)),
        ));
        assert!(check(base).is_ok());
        assert!(rejected(check(twice)));
    }

    #[test]
    fn overlapping_claims_may_return_two_jobs_in_either_order() {
        // Two claims overlap; jobs 1 and 2 are of one level: either may go
        // to either claim.
        for (first, second) in [(1, 2), (2, 1)] {
            let result = check(vec![
                (0, 1, 2, submit(1, 2, &[]), ok(1)),
                (0, 3, 4, submit(2, 2, &[]), ok(2)),
                (0, 5, 8, claim(false), claimed(first, 1)),
                (1, 6, 7, claim(false), claimed(second, 1)),
            ]);
            assert!(result.is_ok(), "{result:?}");
        }
    }

    #[test]
    fn overlapping_claims_of_the_same_job_are_rejected() {
        let result = check(vec![
            (0, 1, 2, submit(1, 2, &[]), ok(1)),
            (0, 3, 6, claim(false), claimed(1, 1)),
            (1, 4, 5, claim(false), claimed(1, 1)),
        ]);
        assert!(rejected(result));
    }

    #[test]
    fn a_strict_none_while_a_job_was_pending_throughout_is_rejected() {
        let pending = vec![
            (0, 1, 2, submit(1, 2, &[]), ok(1)),
            (1, 3, 4, claim(true), Ret::Claim(None)),
        ];
        assert!(rejected(check(pending)));
        // Overlapping the submit, the None may come first.
        let overlapping = vec![
            (0, 1, 4, submit(1, 2, &[]), ok(1)),
            (1, 2, 3, claim(true), Ret::Claim(None)),
        ];
        assert!(check(overlapping).is_ok());
        // Overlapping a cancel of the only pending job, likewise.
        let cancelled = vec![
            (0, 1, 2, submit(1, 2, &[]), ok(1)),
            (
                0,
                3,
                6,
                Op::Cancel(JobId(1)),
                Ret::Cancel(Ok(CancelOutcome::Cancelled)),
            ),
            (1, 4, 5, claim(true), Ret::Claim(None)),
        ];
        assert!(check(cancelled).is_ok());
    }

    #[test]
    fn a_strict_claim_must_take_the_best_level() {
        let history = |job| {
            vec![
                (0, 1, 2, submit(1, 3, &[]), ok(1)),
                (0, 3, 4, submit(2, 1, &[]), ok(2)),
                (0, 5, 6, claim(true), claimed(job, 1)),
            ]
        };
        assert!(check(history(2)).is_ok());
        assert!(rejected(check(history(1))));
    }

    #[test]
    fn a_read_of_a_state_the_job_never_had_is_rejected() {
        let read = |ret| {
            check(vec![
                (0, 1, 2, submit(1, 2, &[]), ok(1)),
                (0, 3, 6, claim(false), claimed(1, 1)),
                (1, 4, 5, Op::Read(JobId(1)), ret),
            ])
        };
        // Before or after the overlapping claim.
        assert!(read(view(JobState::Pending, 2, 0, None)).is_ok());
        assert!(read(view(JobState::Scheduled, 2, 1, None)).is_ok());
        // Never: running, another level, pending at attempt 1.
        assert!(rejected(read(view(JobState::Running, 2, 1, None))));
        assert!(rejected(read(view(JobState::Scheduled, 3, 1, None))));
        assert!(rejected(read(view(JobState::Pending, 2, 1, None))));
    }

    #[test]
    fn a_lost_cancel_is_rejected() {
        let result = check(vec![
            (0, 1, 2, submit(1, 2, &[]), ok(1)),
            (
                0,
                3,
                4,
                Op::Cancel(JobId(1)),
                Ret::Cancel(Ok(CancelOutcome::Cancelled)),
            ),
            (
                1,
                5,
                6,
                Op::Read(JobId(1)),
                view(JobState::Pending, 2, 0, None),
            ),
        ]);
        assert!(rejected(result));
    }

    #[test]
    fn errors_are_checked_exactly() {
        let base = || {
            vec![
                (0, 1, 2, submit(1, 2, &[]), ok(1)),
                (
                    0,
                    3,
                    4,
                    submit(1, 2, &[]),
                    Ret::Submit(Err(Error::DuplicateJob(JobId(1)))),
                ),
                (
                    0,
                    5,
                    6,
                    submit(2, 2, &[9]),
                    Ret::Submit(Err(Error::UnknownDependency {
                        job: JobId(2),
                        dependency: JobId(9),
                    })),
                ),
                (
                    0,
                    7,
                    8,
                    Op::Start(ClaimRef {
                        job: JobId(1),
                        attempt: 1,
                        issued: None,
                    }),
                    Ret::Start(Err(Error::StaleClaim {
                        job: JobId(1),
                        attempt: 1,
                    })),
                ),
            ]
        };
        assert!(check(base()).is_ok());
        // A duplicate accepted.
        let mut wrong = base();
        wrong[1].4 = ok(1);
        assert!(rejected(check(wrong)));
        // A forged claim started.
        let mut wrong = base();
        wrong[3].4 = Ret::Start(Ok(()));
        assert!(rejected(check(wrong)));
    }

    #[test]
    fn a_rejected_submit_may_miss_a_racing_duplicate_only() {
        let history = |deps: &[u64], dependency| {
            vec![
                (0, 1, 2, submit(3, 2, &[]), ok(3)),
                (0, 3, 4, submit(1, 2, &[]), ok(1)),
                (
                    1,
                    5,
                    6,
                    submit(1, 2, deps),
                    Ret::Submit(Err(Error::UnknownDependency {
                        job: JobId(1),
                        dependency: JobId(dependency),
                    })),
                ),
            ]
        };
        // Job 1 exists, yet the dependency lookup may report 9 unknown.
        assert!(check(history(&[3, 9], 9)).is_ok());
        // Not a known dependency, nor one after an unknown one.
        assert!(rejected(check(history(&[3, 9], 3))));
        assert!(rejected(check(history(&[8, 9], 9))));
    }

    #[test]
    fn a_duplicate_may_see_a_reservation_that_readers_do_not() {
        // Thread 0's submit of job 2 is slow: thread 1 gets DuplicateJob,
        // then still reads it unknown (JobQueue's reserve-then-publish).
        let history = |read| {
            vec![
                (0, 1, 20, submit(2, 2, &[]), ok(2)),
                (
                    1,
                    2,
                    3,
                    submit(2, 2, &[]),
                    Ret::Submit(Err(Error::DuplicateJob(JobId(2)))),
                ),
                (1, 4, 5, Op::Read(JobId(2)), read),
            ]
        };
        assert!(check(history(Ret::Read(Err(Error::UnknownJob(JobId(2)))))).is_ok());
        assert!(check(history(view(JobState::Pending, 2, 0, None))).is_ok());
        // Without a racing submit, a duplicate of an unknown job is wrong.
        let alone = vec![
            (
                1,
                2,
                3,
                submit(2, 2, &[]),
                Ret::Submit(Err(Error::DuplicateJob(JobId(2)))),
            ),
            (0, 4, 20, submit(2, 2, &[]), ok(2)),
        ];
        assert!(rejected(check(alone)));
    }

    #[test]
    fn settlements_may_lag_only_while_their_operations_run() {
        // Job 2 depends on job 1, which completes. While the completion
        // runs, job 2 may still be seen waiting; after it returned, not.
        let history = |read_at: (u64, u64)| {
            vec![
                (0, 1, 2, submit(1, 2, &[]), ok(1)),
                (0, 3, 4, submit(2, 2, &[1]), ok(2)),
                (0, 5, 6, claim(true), claimed(1, 1)),
                (
                    0,
                    7,
                    10,
                    Op::Complete(of(1, 1, 5), Outcome::Success),
                    Ret::Complete(Ok(Completion::Completed)),
                ),
                (
                    1,
                    read_at.0,
                    read_at.1,
                    Op::Read(JobId(2)),
                    view(JobState::Waiting, 2, 0, None),
                ),
            ]
        };
        assert!(check(history((8, 9))).is_ok());
        assert!(rejected(check(history((11, 12)))));
        // A submit publishes its job waiting, with a guard it releases
        // before it returns.
        let guarded = |read_at: (u64, u64)| {
            vec![
                (0, 1, 2, submit(1, 2, &[]), ok(1)),
                (0, 3, 4, claim(true), claimed(1, 1)),
                (
                    0,
                    5,
                    6,
                    Op::Complete(of(1, 1, 3), Outcome::Success),
                    Ret::Complete(Ok(Completion::Completed)),
                ),
                (0, 7, 10, submit(2, 2, &[1]), ok(2)),
                (
                    1,
                    read_at.0,
                    read_at.1,
                    Op::Read(JobId(2)),
                    view(JobState::Waiting, 2, 0, None),
                ),
            ]
        };
        assert!(check(guarded((8, 9))).is_ok());
        assert!(rejected(check(guarded((11, 12)))));
    }

    #[test]
    fn a_failed_dependency_fails_its_dependent() {
        let history = |end| {
            vec![
                (0, 1, 2, submit(1, 2, &[]), ok(1)),
                (0, 3, 4, submit(2, 1, &[1]), ok(2)),
                (0, 5, 6, claim(true), claimed(1, 1)),
                (
                    0,
                    7,
                    8,
                    Op::Complete(of(1, 1, 5), Outcome::Failure),
                    Ret::Complete(Ok(Completion::Failed)),
                ),
                (0, 9, 10, Op::Read(JobId(2)), end),
            ]
        };
        let failed = |dependency| {
            view(
                JobState::Failed,
                1,
                0,
                Some(End::DependencyFailed(JobId(dependency))),
            )
        };
        assert!(check(history(failed(1))).is_ok());
        assert!(rejected(check(history(failed(2)))));
        assert!(rejected(check(history(view(
            JobState::Pending,
            1,
            0,
            None
        )))));
    }

    #[test]
    fn epochs_carry_every_possible_state() {
        // Two overlapping reprioritizations of a waiting job: either may
        // be last. The next epoch's read may see either level, not a third.
        let first = history(vec![
            (0, 1, 2, submit(1, 2, &[]), ok(1)),
            (0, 3, 4, submit(2, 2, &[1]), ok(2)),
            (
                0,
                5,
                8,
                Op::Reprioritize(JobId(2), 0),
                Ret::Reprioritize(Ok(())),
            ),
            (
                1,
                6,
                7,
                Op::Reprioritize(JobId(2), 4),
                Ret::Reprioritize(Ok(())),
            ),
        ]);
        let read = |level| {
            history(vec![(
                2,
                10,
                11,
                Op::Read(JobId(2)),
                view(JobState::Waiting, level, 0, None),
            )])
        };
        let checker = Checker::default();
        for level in [0, 4] {
            let report = checker
                .check(QueueModel::new(), &[first.clone(), read(level)])
                .unwrap();
            assert_eq!(report.epochs, 2);
            assert_eq!(report.operations, 5);
        }
        let result = checker.check(QueueModel::new(), &[first.clone(), read(2)]);
        assert!(matches!(
            result,
            Err(Failure {
                kind: FailureKind::NotLinearizable,
                epoch: 1,
                ..
            })
        ));
    }

    #[test]
    fn malformed_histories_are_reported() {
        let result = check(vec![
            (0, 1, 4, submit(1, 2, &[]), ok(1)),
            (
                0,
                2,
                3,
                Op::Read(JobId(1)),
                view(JobState::Pending, 2, 0, None),
            ),
        ]);
        assert!(matches!(
            result,
            Err(Failure {
                kind: FailureKind::Malformed,
                ..
            })
        ));
    }

    #[test]
    fn the_recorder_brackets_operations_in_real_time() {
        let recorder = Recorder::new();
        let mut log = recorder.log::<Op, Ret>(3);
        let first = log.record(Op::Read(JobId(1)), |_, id| {
            assert_eq!(id, 1);
            Ret::Read(Err(Error::UnknownJob(JobId(1))))
        });
        assert_eq!(
            first.call,
            Call {
                invoke: 1,
                respond: 2
            }
        );
        assert_eq!(first.thread, 3);
        let second = log.record(Op::Prune, |_, _| Ret::Prune(Vec::new())).call;
        assert_eq!(
            second,
            Call {
                invoke: 3,
                respond: 4
            }
        );
        assert_eq!(log.take().len(), 2);
        assert!(log.take().is_empty());
    }

    #[test]
    fn the_model_queue_takes_settlements_at_once() {
        let queue = ModelQueue::new();
        let run = |op: Op, claim: Option<&Claim>| queue.apply(&op, claim);
        assert_eq!(run(submit(1, 2, &[]), None).0, ok(1));
        assert_eq!(run(submit(2, 2, &[1]), None).0, ok(2));
        let (ret, claim) = run(claim(true), None);
        assert_eq!(ret, claimed(1, 1));
        let claim = claim.unwrap();
        let (ret, _) = run(Op::Complete(of(1, 1, 0), Outcome::Success), Some(&claim));
        assert_eq!(ret, Ret::Complete(Ok(Completion::Completed)));
        assert_eq!(
            run(Op::Read(JobId(2)), None).0,
            view(JobState::Pending, 2, 0, None)
        );
    }
}
