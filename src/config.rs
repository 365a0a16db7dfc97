//! How a queue is configured: [`QueueConfig`], validated once by its builder
//! [`JobQueueBuilder`], and the capacity rule every cluster operation shares.

use crate::error::Error;
use crate::ids::ClusterId;
use crate::queue::JobQueue;
use crate::spec::RetryBackoff;
use std::time::Duration;

/// The largest cluster capacity.
///
/// ```
/// use dagqueue::{ClusterId, Error, JobQueue, MAX_CAPACITY};
/// let q = JobQueue::new();
/// assert!(q.set_cluster_capacity(ClusterId(0), MAX_CAPACITY).is_ok());
/// assert!(matches!(
///     q.set_cluster_capacity(ClusterId(0), MAX_CAPACITY + 1),
///     Err(Error::CapacityTooLarge { .. })
/// ));
/// ```
pub const MAX_CAPACITY: u32 = (1 << 20) - 1;

/// The capacity rule: `1..=MAX_CAPACITY`, else `ZeroCapacity` or
/// `CapacityTooLarge`. The one copy, used by `set_cluster_capacity` of every
/// implementation (the workspace's mutex baselines call it too).
#[doc(hidden)]
pub fn check_capacity(cluster: ClusterId, capacity: u32) -> Result<(), Error> {
    match capacity {
        0 => Err(Error::ZeroCapacity(cluster)),
        c if c > MAX_CAPACITY => Err(Error::CapacityTooLarge { cluster, capacity }),
        _ => Ok(()),
    }
}

/// A queue's configuration: built and validated only by [`JobQueueBuilder`]
/// (so every value it holds is valid), read through its accessors.
///
/// ```
/// use dagqueue::{JobQueue, QueueConfig};
/// let config = QueueConfig::default();
/// assert_eq!(config.default_capacity(), 8);
/// assert!(!config.fair_share());
/// assert_eq!(config.aging(), None);
/// assert!(!config.declared_clusters_only());
/// let custom = JobQueue::builder().default_capacity(2).config().unwrap();
/// assert_eq!(custom.default_capacity(), 2);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QueueConfig {
    default_capacity: u32,
    fair_share: bool,
    aging: Option<Duration>,
    declared_clusters_only: bool,
    lease: Option<Duration>,
    retry_backoff: RetryBackoff,
}

impl Default for QueueConfig {
    fn default() -> QueueConfig {
        QueueConfig {
            default_capacity: 8,
            fair_share: false,
            aging: None,
            declared_clusters_only: false,
            lease: None,
            retry_backoff: RetryBackoff::NONE,
        }
    }
}

impl QueueConfig {
    /// Capacity of a cluster registered without one (default 8).
    pub fn default_capacity(&self) -> u32 {
        self.default_capacity
    }

    /// Whether users are served round-robin within a level (default off).
    pub fn fair_share(&self) -> bool {
        self.fair_share
    }

    /// After how long a pending job is served one level higher (default off).
    pub fn aging(&self) -> Option<Duration> {
        self.aging
    }

    /// Whether clusters must be declared before use (default off).
    pub fn declared_clusters_only(&self) -> bool {
        self.declared_clusters_only
    }

    /// The lease of a claim whose job sets none (default none).
    pub fn lease(&self) -> Option<Duration> {
        self.lease
    }

    /// How the retries of a job that sets none wait (default: at once).
    pub fn retry_backoff(&self) -> RetryBackoff {
        self.retry_backoff
    }
}

/// Builds a [`JobQueue`] (or just its [`QueueConfig`]); every setting is
/// checked once, in [`config`](JobQueueBuilder::config).
///
/// ```
/// use dagqueue::JobQueue;
/// use std::time::Duration;
/// let queue = JobQueue::builder()
///     .default_capacity(16)
///     .fair_share(true)
///     .aging(Duration::from_secs(60))
///     .build()
///     .unwrap();
/// assert_eq!(queue.config().default_capacity(), 16);
/// ```
#[derive(Clone, Debug, Default)]
pub struct JobQueueBuilder {
    config: QueueConfig,
    faults: crate::faults::Faults,
}

impl JobQueueBuilder {
    /// Capacity of a cluster registered without one: by a job naming it, by
    /// `set_cluster_resources` or by `pause_cluster` (default 8). Must be in
    /// `1..=`[`MAX_CAPACITY`], like every capacity.
    ///
    /// ```
    /// use dagqueue::{ClusterId, Error, JobId, JobQueue, JobSpec};
    /// let q = JobQueue::builder().default_capacity(2).build().unwrap();
    /// q.submit(JobSpec::new(JobId(1)).cluster(ClusterId(5))).unwrap();
    /// assert_eq!(q.status().clusters[&ClusterId(5)].capacity, 2);
    /// assert_eq!(JobQueue::builder().default_capacity(0).build().unwrap_err(), Error::InvalidDefaultCapacity(0));
    /// ```
    pub fn default_capacity(mut self, capacity: u32) -> Self {
        self.config.default_capacity = capacity;
        self
    }

    /// Round-robin between users within a priority level.
    ///
    /// ```
    /// use dagqueue::{JobId, JobQueue, JobSpec, RunnerType, UserId};
    /// let q = JobQueue::builder().fair_share(true).build().unwrap();
    /// for id in 0..3 {
    ///     q.submit(JobSpec::new(JobId(id)).user(UserId(1))).unwrap();
    /// }
    /// q.submit(JobSpec::new(JobId(9)).user(UserId(2))).unwrap();
    /// let order: Vec<u64> = (0..4).map(|_| q.claim(RunnerType::DEFAULT).unwrap().job().0).collect();
    /// assert_eq!(order, vec![0, 9, 1, 2]); // user 2 does not wait behind user 1
    /// ```
    pub fn fair_share(mut self, on: bool) -> Self {
        self.config.fair_share = on;
        self
    }

    /// Serve a job that waited longer than `after` at its level one level
    /// higher (once; `Duration::ZERO` promotes at the next claim).
    ///
    /// ```
    /// use dagqueue::JobQueue;
    /// use std::time::Duration;
    /// let q = JobQueue::builder().aging(Duration::from_secs(600)).build().unwrap();
    /// assert_eq!(q.config().aging(), Some(Duration::from_secs(600)));
    /// ```
    pub fn aging(mut self, after: Duration) -> Self {
        self.config.aging = Some(after);
        self
    }

    /// Clusters must be declared (by `set_cluster_capacity` or
    /// `set_cluster_resources`) before anything else names them: a job, a
    /// pause or a resume naming an undeclared cluster gets
    /// [`Error::UnknownCluster`], so a mistyped cluster id is an error, not a
    /// new cluster (SLURM's "invalid partition"). Off by default: then any
    /// operation naming a cluster registers it with the default capacity.
    ///
    /// ```
    /// use dagqueue::{ClusterId, Error, JobId, JobQueue, JobSpec};
    /// let q = JobQueue::builder().declared_clusters_only(true).build().unwrap();
    /// q.set_cluster_capacity(ClusterId(1), 4).unwrap();
    /// q.submit(JobSpec::new(JobId(1)).cluster(ClusterId(1))).unwrap();
    /// let typo = JobSpec::new(JobId(2)).cluster(ClusterId(11));
    /// assert_eq!(q.submit(typo), Err(Error::UnknownCluster(ClusterId(11))));
    /// ```
    pub fn declared_clusters_only(mut self, on: bool) -> Self {
        self.config.declared_clusters_only = on;
        self
    }

    /// Gives every claim a lease of `lease`, unless its job sets its own
    /// ([`JobSpec::lease`](crate::JobSpec::lease)): a claim neither reported
    /// nor extended by [`heartbeat`](JobQueue::heartbeat) within its lease is
    /// taken back, its attempt counted as failed (retried while attempts
    /// remain, else the job ends [`LeaseExpired`](crate::JobEnd::LeaseExpired)).
    /// Default: no lease (a claim is held until reported), as in a queue
    /// whose workers live in the same process; set one when workers can die
    /// or stall. Between [`MIN_LEASE`](crate::MIN_LEASE) and
    /// [`MAX_LEASE`](crate::MAX_LEASE).
    ///
    /// ```
    /// use dagqueue::{Error, JobQueue};
    /// use std::time::Duration;
    /// let q = JobQueue::builder().lease(Duration::from_secs(30)).build().unwrap();
    /// assert_eq!(q.config().lease(), Some(Duration::from_secs(30)));
    /// assert_eq!(
    ///     JobQueue::builder().lease(Duration::ZERO).build().unwrap_err(),
    ///     Error::InvalidLease(Duration::ZERO)
    /// );
    /// ```
    pub fn lease(mut self, lease: Duration) -> Self {
        self.config.lease = Some(lease);
        self
    }

    /// How a failed attempt's retry waits, unless its job sets its own
    /// ([`JobSpec::retry_backoff`](crate::JobSpec::retry_backoff)); default
    /// [`RetryBackoff::NONE`]: at once. A retry that waits is `Waiting` and
    /// takes no lane slot until it is due.
    ///
    /// ```
    /// use dagqueue::{JobQueue, RetryBackoff};
    /// use std::time::Duration;
    /// let backoff = RetryBackoff::new(Duration::from_millis(100), Duration::from_secs(30)).unwrap();
    /// let q = JobQueue::builder().retry_backoff(backoff).build().unwrap();
    /// assert_eq!(q.config().retry_backoff(), backoff);
    /// ```
    pub fn retry_backoff(mut self, backoff: RetryBackoff) -> Self {
        self.config.retry_backoff = backoff;
        self
    }

    /// Loom negative controls only: build a queue with deliberately broken
    /// protocol steps.
    #[doc(hidden)]
    pub fn __with_faults(mut self, faults: crate::faults::Faults) -> Self {
        self.faults = faults;
        self
    }

    /// The validated configuration (for [`JobQueue::with_config`] or another
    /// implementation of the same operations).
    ///
    /// # Errors
    /// [`Error::InvalidDefaultCapacity`] for a default capacity of zero or
    /// above [`MAX_CAPACITY`]; [`Error::InvalidLease`] for a lease out of
    /// range.
    ///
    /// ```
    /// use dagqueue::{Error, JobQueue, MAX_CAPACITY};
    /// assert!(JobQueue::builder().default_capacity(MAX_CAPACITY).config().is_ok());
    /// assert_eq!(
    ///     JobQueue::builder().default_capacity(MAX_CAPACITY + 1).config(),
    ///     Err(Error::InvalidDefaultCapacity(MAX_CAPACITY + 1))
    /// );
    /// ```
    pub fn config(&self) -> Result<QueueConfig, Error> {
        let capacity = self.config.default_capacity;
        if check_capacity(ClusterId(0), capacity).is_err() {
            return Err(Error::InvalidDefaultCapacity(capacity));
        }
        if let Some(lease) = self.config.lease {
            crate::spec::check_lease(lease)?;
        }
        Ok(self.config)
    }

    /// Builds the queue (its jobs carry no payload: see
    /// [`build_for`](JobQueueBuilder::build_for)).
    ///
    /// # Errors
    /// As [`config`](JobQueueBuilder::config).
    ///
    /// ```
    /// let queue = dagqueue::JobQueue::builder().fair_share(true).build().unwrap();
    /// assert!(format!("{queue:?}").starts_with("JobQueue"));
    /// ```
    pub fn build(self) -> Result<JobQueue, Error> {
        self.build_for()
    }

    /// Builds a queue whose jobs carry a payload of type `T`
    /// ([`JobSpec::payload`](crate::JobSpec::payload)), handed to the worker
    /// with its claim ([`Claim::payload`](crate::Claim::payload)).
    ///
    /// # Errors
    /// As [`config`](JobQueueBuilder::config).
    ///
    /// ```
    /// use dagqueue::{JobId, JobQueue, JobSpec, RunnerType};
    /// use std::time::Duration;
    /// struct Render { frame: u32 }
    /// let queue = JobQueue::builder()
    ///     .lease(Duration::from_secs(60))
    ///     .build_for::<Render>()
    ///     .unwrap();
    /// queue.submit(JobSpec::new(JobId(1)).payload(Render { frame: 7 })).unwrap();
    /// assert_eq!(queue.claim(RunnerType::DEFAULT).unwrap().payload().frame, 7);
    /// ```
    pub fn build_for<T>(self) -> Result<JobQueue<T>, Error> {
        Ok(JobQueue::from_parts(self.config()?, self.faults))
    }
}
