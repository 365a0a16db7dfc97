//! The operations every queue implementation offers: [`Scheduler`], and the
//! configuration they are built from.
//!
//! [`JobQueue`](crate::JobQueue) (lock-free) and the mutex baselines in
//! [`baseline`](crate::baseline) implement the same trait with the same
//! semantics, so tests run the same scenarios on all of them and benchmarks
//! compare them.

use crate::error::Error;
use crate::status::{Metrics, QueueStatus};
use crate::types::{
    CancelOutcome, Claim, ClusterId, Completion, JobId, JobSpec, JobState, JobView, Outcome,
    Priority, Resources, RunnerId,
};
use std::time::Duration;

/// The largest cluster capacity.
///
/// ```
/// use dagqueue::{ClusterId, Error, JobQueue, Scheduler, MAX_CAPACITY};
/// let q = JobQueue::builder().build();
/// assert!(q.set_cluster_capacity(ClusterId(0), MAX_CAPACITY).is_ok());
/// assert!(matches!(
///     q.set_cluster_capacity(ClusterId(0), MAX_CAPACITY + 1),
///     Err(Error::CapacityTooLarge { .. })
/// ));
/// ```
pub const MAX_CAPACITY: u32 = (1 << 20) - 1;

/// How a queue is built. See [`JobQueue::builder`](crate::JobQueue::builder).
///
/// ```
/// use dagqueue::QueueConfig;
/// let config = QueueConfig::default();
/// assert_eq!(config.default_capacity, 8);
/// assert!(!config.fair_share);
/// assert_eq!(config.aging, None);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QueueConfig {
    /// Capacity of a cluster first named by a job (default 8).
    pub default_capacity: u32,
    /// Round-robin between users within a priority level (default off).
    pub fair_share: bool,
    /// A pending job that has waited longer than this at its level is served
    /// one level higher (default off).
    pub aging: Option<Duration>,
}

impl Default for QueueConfig {
    fn default() -> QueueConfig {
        QueueConfig {
            default_capacity: 8,
            fair_share: false,
            aging: None,
        }
    }
}

/// A concurrent job queue with dependencies, priorities and cluster limits.
///
/// Every method is safe to call from any number of threads at once. A method
/// that returns an error changed nothing.
///
/// # Semantics shared by every implementation
///
/// * **States**: `Waiting` (a dependency unfinished) → `Pending` (in its lane)
///   → `Scheduled` (claimed) → `Running` (started) → `Completed`, `Failed` or
///   `Cancelled`. A failed attempt with retries left goes back to `Pending`.
/// * **Lanes**: each runner type has lane groups, one per cluster (`None`
///   included) or, with fair share, one per (cluster, user); groups are kept
///   in order of first use. Each group has one FIFO lane per priority level.
///   A job entering `Pending` (on submit with no unfinished dependency, on
///   release, on retry, on reprioritize) goes to the back of its lane.
/// * **Claim order**: levels best first; within a level the runner's groups
///   are visited round-robin from the runner's cursor, and the cursor moves
///   just past the group a claim was served from. A group whose cluster is
///   paused or full is skipped. A job whose resources do not fit its
///   cluster's slot is set aside (still `Pending`) until
///   `set_cluster_resources` is called for that cluster, which puts the set
///   aside jobs back at the back of their lanes in the order they were set aside.
/// * **Dependencies**: a job is released (`Waiting` → `Pending`) when its last
///   dependency completes; its dependents are released in the order they were
///   registered. A job whose dependency fails ends `Failed`, and one whose
///   dependency is cancelled ends `Cancelled`, transitively, in the same order;
///   this holds also for a job submitted (or given dependencies) after its
///   dependency already failed or was cancelled.
/// * **Attempts**: each claim increments the job's attempt; a [`Claim`] names
///   the attempt. Only the current attempt, `Scheduled` or `Running`, may be
///   started or completed; anything else is [`Error::StaleClaim`].
/// * **Finished jobs** stay known (so new jobs may depend on them) until
///   [`Scheduler::prune_finished`].
pub trait Scheduler: Send + Sync {
    /// Adds a job. It is `Pending` at once if all its dependencies already
    /// completed, otherwise `Waiting`. Registers its cluster, if new, with the
    /// default capacity.
    ///
    /// # Errors
    /// `DuplicateJob`, `SelfDependency`, `UnknownDependency`,
    /// `TooManyDependencies`, `TooManyRetries`.
    ///
    /// ```
    /// use dagqueue::*;
    /// let q = JobQueue::builder().build();
    /// q.submit(JobSpec::new(JobId(1))).unwrap();
    /// q.submit(JobSpec::new(JobId(2)).depends_on([JobId(1)])).unwrap();
    /// assert_eq!(q.state(JobId(2)), Ok(JobState::Waiting));
    /// assert_eq!(q.submit(JobSpec::new(JobId(3)).depends_on([JobId(3)])), Err(Error::SelfDependency(JobId(3))));
    /// ```
    fn submit(&self, spec: JobSpec) -> Result<JobId, Error>;

    /// Adds dependencies to a job that is still `Waiting` or `Pending`.
    /// Dependencies it already has are ignored; completed ones are recorded
    /// only. If any new one is unfinished, a `Pending` job goes back to
    /// `Waiting` (leaving its lane).
    ///
    /// # Errors
    /// `UnknownJob`, `NotQueued`, `SelfDependency`, `UnknownDependency`,
    /// `DependencyCycle`, `TooManyDependencies`.
    ///
    /// ```
    /// use dagqueue::*;
    /// let q = JobQueue::builder().build();
    /// q.submit(JobSpec::new(JobId(1))).unwrap();
    /// q.submit(JobSpec::new(JobId(2))).unwrap();
    /// q.add_dependencies(JobId(2), &[JobId(1)]).unwrap();
    /// assert_eq!(q.state(JobId(2)), Ok(JobState::Waiting));
    /// assert!(matches!(q.add_dependencies(JobId(1), &[JobId(2)]), Err(Error::DependencyCycle { .. })));
    /// ```
    fn add_dependencies(&self, job: JobId, dependencies: &[JobId]) -> Result<(), Error>;

    /// Hands the best pending job of this runner type to exactly one caller
    /// (`Pending` → `Scheduled`), taking a slot of its cluster. `None` when no
    /// job of this runner type can be claimed now.
    ///
    /// ```
    /// use dagqueue::*;
    /// let q = JobQueue::builder().build();
    /// q.submit(JobSpec::new(JobId(1)).priority(Priority::Low)).unwrap();
    /// q.submit(JobSpec::new(JobId(2)).priority(Priority::High)).unwrap();
    /// assert_eq!(q.claim(RunnerId::DEFAULT), Some(Claim { job: JobId(2), attempt: 1 }));
    /// assert_eq!(q.claim(RunnerId(7)), None); // no job of that runner type
    /// ```
    fn claim(&self, runner: RunnerId) -> Option<Claim>;

    /// Like [`claim`](Scheduler::claim), but sleeps (without polling) until a
    /// job can be claimed or `timeout` passes.
    ///
    /// ```
    /// use dagqueue::*;
    /// let q = JobQueue::builder().build();
    /// use std::time::Duration;
    /// assert_eq!(q.claim_wait(RunnerId::DEFAULT, Duration::from_millis(5)), None); // timed out
    /// q.submit(JobSpec::new(JobId(1))).unwrap();
    /// assert!(q.claim_wait(RunnerId::DEFAULT, Duration::from_secs(1)).is_some());
    /// ```
    fn claim_wait(&self, runner: RunnerId, timeout: Duration) -> Option<Claim>;

    /// Marks a claimed attempt as started (`Scheduled` → `Running`).
    ///
    /// # Errors
    /// `UnknownJob`, `StaleClaim`, `AlreadyStarted`, `CancelRequested`.
    ///
    /// ```
    /// use dagqueue::*;
    /// let q = JobQueue::builder().build();
    /// q.submit(JobSpec::new(JobId(1))).unwrap();
    /// let claim = q.claim(RunnerId::DEFAULT).unwrap();
    /// q.start(&claim).unwrap();
    /// assert_eq!(q.state(JobId(1)), Ok(JobState::Running));
    /// assert_eq!(q.start(&claim), Err(Error::AlreadyStarted(JobId(1))));
    /// ```
    fn start(&self, claim: &Claim) -> Result<(), Error>;

    /// Reports how a claimed attempt (scheduled or running) ended, freeing its
    /// cluster slot. Success completes the job; failure re-queues it while
    /// `attempt <= max_retries`, else fails it and its dependents; if
    /// cancellation was requested the job ends `Cancelled` whatever the outcome.
    ///
    /// # Errors
    /// `UnknownJob`, `StaleClaim` (a repeated or late report changes nothing).
    ///
    /// ```
    /// use dagqueue::*;
    /// let q = JobQueue::builder().build();
    /// q.submit(JobSpec::new(JobId(1)).max_retries(1)).unwrap();
    /// let first = q.claim(RunnerId::DEFAULT).unwrap();
    /// assert_eq!(q.complete(first, Outcome::Failure), Ok(Completion::Retrying));
    /// let second = q.claim(RunnerId::DEFAULT).unwrap();
    /// assert_eq!(second.attempt, 2);
    /// assert!(q.complete(first, Outcome::Success).is_err()); // a late report of attempt 1
    /// assert_eq!(q.complete(second, Outcome::Success), Ok(Completion::Completed));
    /// ```
    fn complete(&self, claim: Claim, outcome: Outcome) -> Result<Completion, Error>;

    /// Cancels a job: a waiting or pending one at once, a claimed one when its
    /// worker reports. Waiting dependents of a cancelled job are cancelled too.
    /// Cancelling a claimed job twice is not an error.
    ///
    /// # Errors
    /// `UnknownJob`, `AlreadyFinished`.
    ///
    /// ```
    /// use dagqueue::*;
    /// let q = JobQueue::builder().build();
    /// q.submit(JobSpec::new(JobId(1))).unwrap();
    /// q.submit(JobSpec::new(JobId(2)).depends_on([JobId(1)])).unwrap();
    /// assert_eq!(q.cancel(JobId(1)), Ok(CancelOutcome::Cancelled));
    /// assert_eq!(q.state(JobId(2)), Ok(JobState::Cancelled)); // its dependent too
    /// ```
    fn cancel(&self, job: JobId) -> Result<CancelOutcome, Error>;

    /// Changes the priority of a job not yet claimed. A pending job moves to
    /// the back of its new level's lane (same level: nothing changes).
    ///
    /// # Errors
    /// `UnknownJob`, `NotQueued`.
    ///
    /// ```
    /// use dagqueue::*;
    /// let q = JobQueue::builder().build();
    /// q.submit(JobSpec::new(JobId(1)).priority(Priority::Low)).unwrap();
    /// q.submit(JobSpec::new(JobId(2))).unwrap();
    /// q.reprioritize(JobId(1), Priority::Critical).unwrap();
    /// assert_eq!(q.claim(RunnerId::DEFAULT).map(|c| c.job), Some(JobId(1)));
    /// ```
    fn reprioritize(&self, job: JobId, priority: Priority) -> Result<(), Error>;

    /// Sets (or registers) a cluster's concurrency limit. Lowering it below the
    /// number running stops new claims until enough finish.
    ///
    /// # Errors
    /// `ZeroCapacity`, `CapacityTooLarge`.
    ///
    /// ```
    /// use dagqueue::*;
    /// let q = JobQueue::builder().build();
    /// q.set_cluster_capacity(ClusterId(1), 1).unwrap();
    /// q.submit(JobSpec::new(JobId(1)).cluster(ClusterId(1))).unwrap();
    /// q.submit(JobSpec::new(JobId(2)).cluster(ClusterId(1))).unwrap();
    /// assert!(q.claim(RunnerId::DEFAULT).is_some());
    /// assert!(q.claim(RunnerId::DEFAULT).is_none()); // full
    /// assert_eq!(q.set_cluster_capacity(ClusterId(1), 0), Err(Error::ZeroCapacity(ClusterId(1))));
    /// ```
    fn set_cluster_capacity(&self, cluster: ClusterId, capacity: u32) -> Result<(), Error>;

    /// Pauses a cluster: running jobs go on; once this returns, no new claim
    /// on it succeeds until [`resume_cluster`](Scheduler::resume_cluster).
    ///
    /// # Errors
    /// `UnknownCluster`.
    ///
    /// ```
    /// use dagqueue::*;
    /// let q = JobQueue::builder().build();
    /// q.set_cluster_capacity(ClusterId(1), 4).unwrap();
    /// q.submit(JobSpec::new(JobId(1)).cluster(ClusterId(1))).unwrap();
    /// q.pause_cluster(ClusterId(1)).unwrap();
    /// assert!(q.claim(RunnerId::DEFAULT).is_none());
    /// assert_eq!(q.pause_cluster(ClusterId(9)), Err(Error::UnknownCluster(ClusterId(9))));
    /// ```
    fn pause_cluster(&self, cluster: ClusterId) -> Result<(), Error>;

    /// Resumes a paused cluster (resuming a running one is not an error).
    ///
    /// # Errors
    /// `UnknownCluster`.
    ///
    /// ```
    /// use dagqueue::*;
    /// let q = JobQueue::builder().build();
    /// q.set_cluster_capacity(ClusterId(1), 4).unwrap();
    /// q.submit(JobSpec::new(JobId(1)).cluster(ClusterId(1))).unwrap();
    /// q.pause_cluster(ClusterId(1)).unwrap();
    /// q.resume_cluster(ClusterId(1)).unwrap();
    /// assert!(q.claim(RunnerId::DEFAULT).is_some());
    /// ```
    fn resume_cluster(&self, cluster: ClusterId) -> Result<(), Error>;

    /// Sets (or registers) the resources of one slot of a cluster, and puts
    /// back the jobs that were set aside for not fitting.
    ///
    /// ```
    /// use dagqueue::*;
    /// let q = JobQueue::builder().build();
    /// let node = Resources { cores: 8, memory_gb: 32 };
    /// q.set_cluster_resources(ClusterId(1), node).unwrap();
    /// let big = Resources { cores: 16, memory_gb: 8 };
    /// q.submit(JobSpec::new(JobId(1)).cluster(ClusterId(1)).resources(big)).unwrap();
    /// assert!(q.claim(RunnerId::DEFAULT).is_none()); // set aside: it does not fit
    /// q.set_cluster_resources(ClusterId(1), big).unwrap();
    /// assert!(q.claim(RunnerId::DEFAULT).is_some());
    /// ```
    fn set_cluster_resources(&self, cluster: ClusterId, resources: Resources) -> Result<(), Error>;

    /// A job's state.
    ///
    /// # Errors
    /// `UnknownJob`.
    ///
    /// ```
    /// use dagqueue::*;
    /// let q = JobQueue::builder().build();
    /// q.submit(JobSpec::new(JobId(1))).unwrap();
    /// assert_eq!(q.state(JobId(1)), Ok(JobState::Pending));
    /// assert_eq!(q.state(JobId(2)), Err(Error::UnknownJob(JobId(2))));
    /// ```
    fn state(&self, job: JobId) -> Result<JobState, Error> {
        self.job(job).map(|view| view.state)
    }

    /// A consistent view of one job.
    ///
    /// # Errors
    /// `UnknownJob`.
    ///
    /// ```
    /// use dagqueue::*;
    /// let q = JobQueue::builder().build();
    /// q.submit(JobSpec::new(JobId(1)).priority(Priority::High)).unwrap();
    /// let view = q.job(JobId(1)).unwrap();
    /// assert_eq!((view.state, view.priority, view.attempt), (JobState::Pending, Priority::High, 0));
    /// ```
    fn job(&self, job: JobId) -> Result<JobView, Error>;

    /// Whether every dependency of the job has completed.
    ///
    /// # Errors
    /// `UnknownJob`.
    ///
    /// ```
    /// use dagqueue::*;
    /// let q = JobQueue::builder().build();
    /// q.submit(JobSpec::new(JobId(1))).unwrap();
    /// q.submit(JobSpec::new(JobId(2)).depends_on([JobId(1)])).unwrap();
    /// assert_eq!(q.dependencies_satisfied(JobId(1)), Ok(true));
    /// assert_eq!(q.dependencies_satisfied(JobId(2)), Ok(false));
    /// ```
    fn dependencies_satisfied(&self, job: JobId) -> Result<bool, Error>;

    /// The pending jobs of this runner type that could be claimed now (their
    /// cluster not paused, not full, their resources fitting), best first:
    /// by level served at, then the time they entered it, then id. Claims nothing.
    ///
    /// ```
    /// use dagqueue::*;
    /// let q = JobQueue::builder().build();
    /// q.submit(JobSpec::new(JobId(1)).priority(Priority::Low)).unwrap();
    /// q.submit(JobSpec::new(JobId(2)).priority(Priority::High)).unwrap();
    /// assert_eq!(q.schedulable(RunnerId::DEFAULT), vec![JobId(2), JobId(1)]);
    /// assert_eq!(q.status().by_state.get(JobState::Pending), 2); // nothing claimed
    /// ```
    fn schedulable(&self, runner: RunnerId) -> Vec<JobId>;

    /// Totals by state, priority, runner and cluster, and the metrics.
    ///
    /// ```
    /// use dagqueue::*;
    /// let q = JobQueue::builder().build();
    /// q.set_cluster_capacity(ClusterId(1), 2).unwrap();
    /// q.submit(JobSpec::new(JobId(1)).cluster(ClusterId(1))).unwrap();
    /// let status = q.status();
    /// assert_eq!(status.by_state.get(JobState::Pending), 1);
    /// assert_eq!(status.clusters[&ClusterId(1)].queued, 1);
    /// ```
    fn status(&self) -> QueueStatus;

    /// The metrics.
    ///
    /// ```
    /// use dagqueue::*;
    /// let q = JobQueue::builder().build();
    /// q.submit(JobSpec::new(JobId(1))).unwrap();
    /// let claim = q.claim(RunnerId::DEFAULT).unwrap();
    /// q.complete(claim, Outcome::Failure).unwrap();
    /// let metrics = q.metrics();
    /// assert_eq!((metrics.scheduled, metrics.failed), (1, 1));
    /// assert_eq!(metrics.failure_rate(), 1.0);
    /// ```
    fn metrics(&self) -> Metrics;

    /// Forgets every finished job; returns how many. New jobs can no longer
    /// depend on them (`UnknownDependency`).
    ///
    /// ```
    /// use dagqueue::*;
    /// let q = JobQueue::builder().build();
    /// q.submit(JobSpec::new(JobId(1))).unwrap();
    /// let claim = q.claim(RunnerId::DEFAULT).unwrap();
    /// q.complete(claim, Outcome::Success).unwrap();
    /// assert_eq!(q.prune_finished(), 1);
    /// assert_eq!(q.state(JobId(1)), Err(Error::UnknownJob(JobId(1))));
    /// ```
    fn prune_finished(&self) -> usize;
}
