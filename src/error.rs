//! The one error type: every rejected operation says why, and changes nothing.

use crate::ids::{ClusterId, JobId};
use crate::view::JobState;
use core::fmt;

/// Why an operation was rejected. A rejected operation leaves the queue exactly
/// as it was.
///
/// ```
/// use dagqueue::{Error, JobId, JobQueue, JobSpec};
/// let queue = JobQueue::new();
/// queue.submit(JobSpec::new(JobId(1))).unwrap();
/// assert_eq!(
///     queue.submit(JobSpec::new(JobId(1))),
///     Err(Error::DuplicateJob(JobId(1)))
/// );
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// No job has this id (never submitted, or pruned).
    UnknownJob(JobId),
    /// A job with this id already exists.
    DuplicateJob(JobId),
    /// A job may not depend on itself.
    SelfDependency(JobId),
    /// A named dependency does not exist.
    UnknownDependency {
        /// The job whose dependency is unknown.
        job: JobId,
        /// The unknown dependency.
        dependency: JobId,
    },
    /// Adding this dependency would close a cycle.
    DependencyCycle {
        /// The job being given a dependency.
        job: JobId,
        /// The dependency that (transitively) depends on `job`.
        dependency: JobId,
    },
    /// More dependencies than [`MAX_DEPENDENCIES`](crate::MAX_DEPENDENCIES).
    TooManyDependencies(JobId),
    /// More retries than [`MAX_RETRIES`](crate::MAX_RETRIES).
    TooManyRetries(u32),
    /// A [`submit_many`](crate::JobQueue::submit_many) batch of more jobs
    /// than [`MAX_BATCH`](crate::MAX_BATCH) (how many it held).
    BatchTooLarge(usize),
    /// The operation needs a job that is still waiting or pending.
    NotQueued {
        /// The job.
        job: JobId,
        /// Its state when the operation looked.
        state: JobState,
    },
    /// The claim is not the job's current attempt, or that attempt already
    /// ended, or it names a job record this queue no longer holds (pruned,
    /// even if a new job reuses the id) or never held (another queue's).
    StaleClaim {
        /// The job named by the claim.
        job: JobId,
        /// The attempt named by the claim.
        attempt: u32,
    },
    /// `start` on an attempt that is already running.
    AlreadyStarted(JobId),
    /// `start` on an attempt whose cancellation was requested: report its
    /// completion instead; the job ends `Cancelled`.
    CancelRequested(JobId),
    /// The job already finished; it cannot be cancelled.
    AlreadyFinished {
        /// The job.
        job: JobId,
        /// Its terminal state.
        state: JobState,
    },
    /// A cluster capacity of zero.
    ZeroCapacity(ClusterId),
    /// A cluster capacity above [`MAX_CAPACITY`](crate::MAX_CAPACITY).
    CapacityTooLarge {
        /// The cluster.
        cluster: ClusterId,
        /// The requested capacity.
        capacity: u32,
    },
    /// No cluster has this id. Only with
    /// [`declared_clusters_only`](crate::JobQueueBuilder::declared_clusters_only):
    /// clusters are then declared by `set_cluster_capacity` or
    /// `set_cluster_resources`, and any other operation naming an undeclared
    /// one is rejected.
    UnknownCluster(ClusterId),
    /// A lease outside [`MIN_LEASE`](crate::MIN_LEASE)..=[`MAX_LEASE`](crate::MAX_LEASE).
    InvalidLease(std::time::Duration),
    /// A delay or a retry backoff above [`MAX_DELAY`](crate::MAX_DELAY),
    /// or a backoff whose base exceeds its cap.
    InvalidDelay(std::time::Duration),
    /// The queue was closed ([`JobQueue::close`](crate::JobQueue::close)):
    /// it takes no new job.
    Closed,
    /// A builder's `default_capacity` of zero or above
    /// [`MAX_CAPACITY`](crate::MAX_CAPACITY).
    InvalidDefaultCapacity(u32),
    /// The durable queue's store failed, or holds what this build cannot
    /// read (feature `durable`; see [`DurabilityError`](crate::DurabilityError)).
    #[cfg(feature = "durable")]
    Durability(crate::DurabilityError),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::UnknownJob(job) => write!(f, "unknown {job}"),
            Error::DuplicateJob(job) => write!(f, "{job} already exists"),
            Error::SelfDependency(job) => write!(f, "{job} cannot depend on itself"),
            Error::UnknownDependency { job, dependency } => {
                write!(f, "{job} depends on unknown {dependency}")
            }
            Error::DependencyCycle { job, dependency } => {
                write!(f, "{job} depending on {dependency} would close a cycle")
            }
            Error::TooManyDependencies(job) => write!(f, "{job} has too many dependencies"),
            Error::TooManyRetries(n) => write!(f, "max_retries {n} is above the limit"),
            Error::BatchTooLarge(jobs) => write!(f, "a batch of {jobs} jobs is above the limit"),
            Error::NotQueued { job, state } => write!(f, "{job} is {state:?}, not queued"),
            Error::StaleClaim { job, attempt } => {
                write!(f, "attempt {attempt} of {job} is not current")
            }
            Error::AlreadyStarted(job) => write!(f, "{job} already started"),
            Error::CancelRequested(job) => write!(f, "{job} was asked to cancel"),
            Error::AlreadyFinished { job, state } => write!(f, "{job} already {state:?}"),
            Error::ZeroCapacity(cluster) => write!(f, "{cluster}: capacity must be at least 1"),
            Error::CapacityTooLarge { cluster, capacity } => {
                write!(f, "{cluster}: capacity {capacity} is above the limit")
            }
            Error::UnknownCluster(cluster) => write!(f, "unknown {cluster}"),
            Error::InvalidLease(lease) => write!(f, "lease {lease:?} is out of range"),
            Error::InvalidDelay(delay) => write!(f, "delay {delay:?} is out of range"),
            Error::Closed => write!(f, "the queue is closed"),
            Error::InvalidDefaultCapacity(capacity) => {
                write!(f, "default capacity {capacity} is not in 1..=MAX_CAPACITY")
            }
            #[cfg(feature = "durable")]
            Error::Durability(error) => write!(f, "{error}"),
        }
    }
}

impl std::error::Error for Error {}
