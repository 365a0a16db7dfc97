//! [`Scheduler`]: the operations of a queue as one trait, so that a test or
//! a benchmark written once runs on [`JobQueue`] and on every mutex
//! baseline.
//!
//! It lives in the harness, not in the library: the library's users call
//! `JobQueue`'s inherent methods (no trait import), and the trait can grow
//! with the queue without a semver promise to outside implementors. Each
//! method's semantics are documented on the `JobQueue` method of the same
//! name; an implementation must match them exactly (the differential tests
//! check it).

use dagqueue::{
    CancelOutcome, ClusterId, Completion, DependencyKind, Error, JobId, JobQueue, JobSpec,
    JobState, JobView, Metrics, Outcome, Priority, QueueStatus, Resources, RunnerType, WaitError,
};
use std::time::Duration;

/// A claim as the [`Scheduler`] trait hands it out: [`JobQueue`]'s own
/// [`dagqueue::Claim`] (which holds its job record, so only a queue can make
/// one), or the parts a mutex baseline's claim is made of (the job, the
/// record's incarnation, the attempt), which tests also use to make up
/// stale or forged claims. A `JobQueue` takes a claim of parts as a claim of
/// no record of its own: `StaleClaim`.
///
/// ```
/// use dagqueue::JobId;
/// use harness::Claim;
/// let claim = Claim::from_parts(JobId(1), 7, 2);
/// assert_eq!((claim.job(), claim.incarnation(), claim.attempt()), (JobId(1), 7, 2));
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
pub enum Claim {
    /// A `JobQueue`'s claim.
    Queue(dagqueue::Claim),
    /// A baseline's claim, or one made up by a test.
    Parts {
        /// The claimed job.
        job: JobId,
        /// The incarnation of the job record it names.
        incarnation: u64,
        /// The attempt.
        attempt: u32,
    },
}

impl core::fmt::Debug for Claim {
    /// As `dagqueue::Claim` prints: the job and the attempt, whatever the
    /// variant (so that the differential tests compare outputs as text).
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Claim")
            .field("job", &self.job())
            .field("attempt", &self.attempt())
            .finish_non_exhaustive()
    }
}

impl Claim {
    /// A claim of parts (see the type). The attempt is clamped to what a
    /// claim can name: 1 to `MAX_RETRIES + 1`.
    pub fn from_parts(job: JobId, incarnation: u64, attempt: u32) -> Claim {
        Claim::Parts {
            job,
            incarnation,
            attempt: attempt.clamp(1, dagqueue::MAX_RETRIES + 1),
        }
    }

    /// The claimed job.
    pub fn job(&self) -> JobId {
        match self {
            Claim::Queue(claim) => claim.job(),
            Claim::Parts { job, .. } => *job,
        }
    }

    /// The attempt.
    pub fn attempt(&self) -> u32 {
        match self {
            Claim::Queue(claim) => claim.attempt(),
            Claim::Parts { attempt, .. } => *attempt,
        }
    }

    /// The incarnation of the job record it names.
    pub fn incarnation(&self) -> u64 {
        match self {
            Claim::Queue(claim) => claim.__incarnation(),
            Claim::Parts { incarnation, .. } => *incarnation,
        }
    }

    /// As a `JobQueue` claim: its own, or a made-up one of no record.
    fn into_queue(self) -> dagqueue::Claim {
        match self {
            Claim::Queue(claim) => claim,
            Claim::Parts {
                job,
                incarnation,
                attempt,
            } => dagqueue::Claim::__from_parts(job, incarnation, attempt),
        }
    }

    /// As a `JobQueue` claim, borrowed where it is one.
    fn with_queue<R>(&self, f: impl FnOnce(&dagqueue::Claim) -> R) -> R {
        match self {
            Claim::Queue(claim) => f(claim),
            parts => f(&parts.clone().into_queue()),
        }
    }
}

/// A concurrent job queue: every operation of [`JobQueue`], with its
/// semantics (see the method of the same name there).
pub trait Scheduler: Send + Sync {
    /// Adds a job. It is `Pending` at once if all its dependencies already
    /// completed, otherwise `Waiting`. Registers its cluster, if new, with the
    /// default capacity.
    ///
    /// # Errors
    /// `DuplicateJob`, `SelfDependency`, `UnknownDependency`,
    /// `TooManyDependencies`, `TooManyRetries`.
    fn submit(&self, spec: JobSpec) -> Result<JobId, Error>;

    /// Adds a batch of jobs, all or nothing ([`JobQueue::submit_many`]).
    fn submit_many(&self, specs: Vec<JobSpec>) -> Result<(), Error>;

    /// Adds dependencies to a job that is still `Waiting` or `Pending`.
    /// Dependencies it already has are ignored; completed ones are recorded
    /// only. If any new one is unfinished, a `Pending` job goes back to
    /// `Waiting` (leaving its lane).
    ///
    /// # Errors
    /// `UnknownJob`, `NotQueued`, `SelfDependency`, `UnknownDependency`,
    /// `DependencyCycle`, `TooManyDependencies`.
    fn add_dependencies(&self, job: JobId, dependencies: &[JobId]) -> Result<(), Error>;

    /// `add_dependencies` with edges of one kind.
    fn add_dependencies_of_kind(
        &self,
        job: JobId,
        kind: DependencyKind,
        dependencies: &[JobId],
    ) -> Result<(), Error>;

    /// Hands the best pending job of this runner type to exactly one caller
    /// (`Pending` → `Scheduled`), taking a slot of its cluster. `None` when no
    /// job of this runner type can be claimed now.
    fn claim(&self, runner: RunnerType) -> Option<Claim>;

    /// Like [`claim`](JobQueue::claim), but sleeps (without polling) until a
    /// job can be claimed or `timeout` passes.
    fn claim_wait(&self, runner: RunnerType, timeout: Duration) -> Result<Claim, WaitError>;

    /// No new job; claims and sleepers are told the queue is closed.
    fn close(&self);

    /// Whether `close` was called.
    fn is_closed(&self) -> bool;

    /// Sleeps until every submitted job is terminal or `timeout` passes;
    /// returns whether the queue was idle.
    fn wait_idle(&self, timeout: Duration) -> bool;

    /// Marks a claimed attempt as started (`Scheduled` → `Running`).
    ///
    /// # Errors
    /// `UnknownJob`, `StaleClaim`, `AlreadyStarted`, `CancelRequested`.
    fn start(&self, claim: &Claim) -> Result<(), Error>;

    /// Reports how a claimed attempt (scheduled or running) ended, freeing its
    /// cluster slot. Success completes the job; failure re-queues it while
    /// `attempt <= max_retries`, else fails it and its dependents; if
    /// cancellation was requested the job ends `Cancelled` whatever the outcome.
    ///
    /// # Errors
    /// `UnknownJob`, `StaleClaim` (a repeated or late report changes nothing).
    fn complete(&self, claim: Claim, outcome: Outcome) -> Result<Completion, Error>;

    /// Reports a failed attempt with its reason (`complete` with `Failure`).
    fn fail(&self, claim: Claim, reason: &str) -> Result<Completion, Error>;

    /// Extends a claim's lease; says whether a cancel was requested.
    fn heartbeat(&self, claim: &Claim) -> Result<bool, Error>;

    /// Takes back every claim whose lease ran out; returns how many.
    fn expire_leases(&self) -> usize;

    /// Cancels a job: a waiting or pending one at once, a claimed one when its
    /// worker reports. Waiting dependents of a cancelled job are cancelled too.
    /// Cancelling a claimed job twice is not an error.
    ///
    /// # Errors
    /// `UnknownJob`, `AlreadyFinished`.
    fn cancel(&self, job: JobId) -> Result<CancelOutcome, Error>;

    /// Changes the priority of a job not yet claimed. A pending job moves to
    /// the back of its new level's lane (same level: nothing changes).
    ///
    /// # Errors
    /// `UnknownJob`, `NotQueued`.
    fn reprioritize(&self, job: JobId, priority: Priority) -> Result<(), Error>;

    /// Sets (or registers) a cluster's concurrency limit. Lowering it below the
    /// number running stops new claims until enough finish.
    ///
    /// # Errors
    /// `ZeroCapacity`, `CapacityTooLarge`.
    fn set_cluster_capacity(&self, cluster: ClusterId, capacity: u32) -> Result<(), Error>;

    /// Pauses a cluster: running jobs go on; once this returns, no new claim
    /// on it succeeds until [`resume_cluster`](JobQueue::resume_cluster).
    ///
    /// # Errors
    /// `UnknownCluster`.
    fn pause_cluster(&self, cluster: ClusterId) -> Result<(), Error>;

    /// Resumes a paused cluster (resuming a running one is not an error).
    ///
    /// # Errors
    /// `UnknownCluster`.
    fn resume_cluster(&self, cluster: ClusterId) -> Result<(), Error>;

    /// Sets (or registers) the resources of one slot of a cluster, and puts
    /// back the jobs that were set aside for not fitting.
    fn set_cluster_resources(&self, cluster: ClusterId, resources: Resources) -> Result<(), Error>;

    /// A job's state.
    ///
    /// # Errors
    /// `UnknownJob`.
    fn state(&self, job: JobId) -> Result<JobState, Error> {
        self.job(job).map(|view| view.state)
    }

    /// A consistent view of one job.
    ///
    /// # Errors
    /// `UnknownJob`.
    fn job(&self, job: JobId) -> Result<JobView, Error>;

    /// Whether every dependency of the job has completed.
    ///
    /// # Errors
    /// `UnknownJob`.
    fn dependencies_satisfied(&self, job: JobId) -> Result<bool, Error>;

    /// The pending jobs of this runner type that could be claimed now (their
    /// cluster not paused, not full, their resources fitting), best first:
    /// by level served at, then the time they entered it, then id. Claims nothing.
    fn schedulable(&self, runner: RunnerType) -> Vec<JobId>;

    /// Totals by state, priority, runner and cluster, and the metrics.
    fn status(&self) -> QueueStatus;

    /// The metrics.
    fn metrics(&self) -> Metrics;

    /// Forgets every finished job; returns their last views, by id.
    fn prune_finished(&self) -> Vec<JobView>;
}

/// Forwards every [`Scheduler`] method to the inherent method of the same name.
impl Scheduler for JobQueue {
    fn submit(&self, spec: JobSpec) -> Result<JobId, Error> {
        JobQueue::submit(self, spec)
    }
    fn submit_many(&self, specs: Vec<JobSpec>) -> Result<(), Error> {
        JobQueue::submit_many(self, specs)
    }
    fn add_dependencies(&self, job: JobId, dependencies: &[JobId]) -> Result<(), Error> {
        JobQueue::add_dependencies(self, job, dependencies)
    }
    fn add_dependencies_of_kind(
        &self,
        job: JobId,
        kind: DependencyKind,
        dependencies: &[JobId],
    ) -> Result<(), Error> {
        JobQueue::add_dependencies_of_kind(self, job, kind, dependencies)
    }
    fn claim(&self, runner: RunnerType) -> Option<Claim> {
        JobQueue::claim(self, runner).map(Claim::Queue)
    }
    fn claim_wait(&self, runner: RunnerType, timeout: Duration) -> Result<Claim, WaitError> {
        JobQueue::claim_wait(self, runner, timeout).map(Claim::Queue)
    }
    fn close(&self) {
        JobQueue::close(self)
    }
    fn is_closed(&self) -> bool {
        JobQueue::is_closed(self)
    }
    fn wait_idle(&self, timeout: Duration) -> bool {
        JobQueue::wait_idle(self, timeout)
    }
    fn start(&self, claim: &Claim) -> Result<(), Error> {
        claim.with_queue(|claim| JobQueue::start(self, claim))
    }
    fn complete(&self, claim: Claim, outcome: Outcome) -> Result<Completion, Error> {
        JobQueue::complete(self, claim.into_queue(), outcome)
    }
    fn fail(&self, claim: Claim, reason: &str) -> Result<Completion, Error> {
        JobQueue::fail(self, claim.into_queue(), reason)
    }
    fn heartbeat(&self, claim: &Claim) -> Result<bool, Error> {
        claim.with_queue(|claim| JobQueue::heartbeat(self, claim))
    }
    fn expire_leases(&self) -> usize {
        JobQueue::expire_leases(self)
    }
    fn cancel(&self, job: JobId) -> Result<CancelOutcome, Error> {
        JobQueue::cancel(self, job)
    }
    fn reprioritize(&self, job: JobId, priority: Priority) -> Result<(), Error> {
        JobQueue::reprioritize(self, job, priority)
    }
    fn set_cluster_capacity(&self, cluster: ClusterId, capacity: u32) -> Result<(), Error> {
        JobQueue::set_cluster_capacity(self, cluster, capacity)
    }
    fn pause_cluster(&self, cluster: ClusterId) -> Result<(), Error> {
        JobQueue::pause_cluster(self, cluster)
    }
    fn resume_cluster(&self, cluster: ClusterId) -> Result<(), Error> {
        JobQueue::resume_cluster(self, cluster)
    }
    fn set_cluster_resources(&self, cluster: ClusterId, resources: Resources) -> Result<(), Error> {
        JobQueue::set_cluster_resources(self, cluster, resources)
    }
    fn state(&self, job: JobId) -> Result<JobState, Error> {
        JobQueue::state(self, job)
    }
    fn job(&self, job: JobId) -> Result<JobView, Error> {
        JobQueue::job(self, job)
    }
    fn dependencies_satisfied(&self, job: JobId) -> Result<bool, Error> {
        JobQueue::dependencies_satisfied(self, job)
    }
    fn schedulable(&self, runner: RunnerType) -> Vec<JobId> {
        JobQueue::schedulable(self, runner)
    }
    fn status(&self) -> QueueStatus {
        JobQueue::status(self)
    }
    fn metrics(&self) -> Metrics {
        JobQueue::metrics(self)
    }
    fn prune_finished(&self) -> Vec<JobView> {
        JobQueue::prune_finished(self)
    }
}
