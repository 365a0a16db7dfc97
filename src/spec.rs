//! What a job asks for: [`JobSpec`], its [`Priority`] and [`Resources`], the
//! limits, and [`JobSpec::validate`], the one copy of the checks a spec must
//! pass before any queue looks at it.

use crate::error::Error;
use crate::ids::{ClusterId, JobId, RunnerType, UserId};
use std::time::{Duration, Instant};

/// A job's priority. Five levels; a more urgent priority compares greater
/// (`Critical > Background`), and is served first.
///
/// ```
/// use dagqueue::Priority;
/// assert!(Priority::Critical > Priority::Background);
/// assert_eq!(Priority::ALL.iter().max(), Some(&Priority::Critical));
/// assert_eq!(Priority::try_from(1u8), Ok(Priority::High));
/// assert!(Priority::try_from(5u8).is_err());
/// assert_eq!(Priority::Normal.level(), 2);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
#[repr(u8)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum Priority {
    /// Level 0, served first.
    Critical = 0,
    /// Level 1.
    High = 1,
    /// Level 2, the default.
    #[default]
    Normal = 2,
    /// Level 3.
    Low = 3,
    /// Level 4, served last.
    Background = 4,
}

impl Ord for Priority {
    /// More urgent is greater: the level (0 = Critical) compared in reverse.
    fn cmp(&self, other: &Priority) -> core::cmp::Ordering {
        other.level().cmp(&self.level())
    }
}

impl PartialOrd for Priority {
    fn partial_cmp(&self, other: &Priority) -> Option<core::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Priority {
    /// The number of priority levels.
    pub const LEVELS: usize = 5;

    /// All levels, served-first first (Critical to Background).
    pub const ALL: [Priority; 5] = [
        Priority::Critical,
        Priority::High,
        Priority::Normal,
        Priority::Low,
        Priority::Background,
    ];

    /// The numeric level, 0 (Critical) to 4 (Background).
    ///
    /// ```
    /// assert_eq!(dagqueue::Priority::Critical.level(), 0);
    /// ```
    pub fn level(self) -> u8 {
        self as u8
    }

    /// The priority of a numeric level.
    ///
    /// # Errors
    /// [`InvalidPriority`] for a level above 4.
    ///
    /// ```
    /// use dagqueue::{InvalidPriority, Priority};
    /// assert_eq!(Priority::from_level(4), Ok(Priority::Background));
    /// assert_eq!(Priority::from_level(9), Err(InvalidPriority(9)));
    /// ```
    pub fn from_level(level: u8) -> Result<Priority, InvalidPriority> {
        match level {
            0 => Ok(Priority::Critical),
            1 => Ok(Priority::High),
            2 => Ok(Priority::Normal),
            3 => Ok(Priority::Low),
            4 => Ok(Priority::Background),
            other => Err(InvalidPriority(other.into())),
        }
    }
}

impl TryFrom<u8> for Priority {
    type Error = InvalidPriority;
    fn try_from(level: u8) -> Result<Priority, InvalidPriority> {
        Priority::from_level(level)
    }
}

impl TryFrom<i64> for Priority {
    type Error = InvalidPriority;
    fn try_from(level: i64) -> Result<Priority, InvalidPriority> {
        match u8::try_from(level) {
            Ok(l) if l < 5 => Priority::from_level(l),
            _ => Err(InvalidPriority(level)),
        }
    }
}

/// A priority level outside `0..=4`, rejected by [`Priority::try_from`] and
/// [`Priority::from_level`] (no queue operation takes a raw level).
///
/// ```
/// use dagqueue::{InvalidPriority, Priority};
/// let error = Priority::try_from(-1i64).unwrap_err();
/// assert_eq!(error, InvalidPriority(-1));
/// assert_eq!(error.to_string(), "priority -1 is not in 0..=4");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct InvalidPriority(pub i64);

impl core::fmt::Display for InvalidPriority {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "priority {} is not in 0..=4", self.0)
    }
}

impl std::error::Error for InvalidPriority {}

/// What a job needs from one execution slot of its cluster.
///
/// A cluster's [`Resources`] describe one slot (a node); a job is eligible
/// on the cluster only if its needs fit within that slot. They are checked per
/// job, not summed over the running jobs: the cluster's capacity bounds how many
/// run at once (SLURM's whole-node model).
///
/// ```
/// use dagqueue::Resources;
/// let node = Resources { cores: 32, memory_gb: 128 };
/// assert!(Resources { cores: 8, memory_gb: 16 }.fits_in(&node));
/// assert!(!Resources { cores: 64, memory_gb: 16 }.fits_in(&node));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Resources {
    /// CPU cores.
    pub cores: u32,
    /// Memory in GiB.
    pub memory_gb: u32,
}

impl Resources {
    /// Whether these needs fit within `available`.
    pub fn fits_in(&self, available: &Resources) -> bool {
        self.cores <= available.cores && self.memory_gb <= available.memory_gb
    }
}

/// The largest `max_retries` a job may ask for.
///
/// ```
/// use dagqueue::{Error, JobId, JobQueue, JobSpec, MAX_RETRIES};
/// let q = JobQueue::new();
/// let spec = JobSpec::new(JobId(1)).max_retries(MAX_RETRIES + 1);
/// assert_eq!(q.submit(spec), Err(Error::TooManyRetries(MAX_RETRIES + 1)));
/// ```
pub const MAX_RETRIES: u32 = 1000;

/// The shortest lease a job may hold: 1 ms (the queue's clock ticks in
/// milliseconds).
pub const MIN_LEASE: Duration = Duration::from_millis(1);

/// The longest lease a job may hold: 12 hours (as SQS's longest visibility
/// timeout; a worker that needs more heartbeats).
///
/// ```
/// use dagqueue::{Error, JobId, JobQueue, JobSpec, MAX_LEASE};
/// let q = JobQueue::new();
/// let spec = JobSpec::new(JobId(1)).lease(MAX_LEASE * 2);
/// assert_eq!(q.submit(spec), Err(Error::InvalidLease(MAX_LEASE * 2)));
/// ```
pub const MAX_LEASE: Duration = Duration::from_secs(12 * 3600);

/// The longest a job may be delayed, by `delay`, `not_before` or a retry
/// backoff: a year.
///
/// ```
/// use dagqueue::{Error, JobId, JobQueue, JobSpec, MAX_DELAY};
/// let q = JobQueue::new();
/// let spec = JobSpec::new(JobId(1)).delay(MAX_DELAY * 2);
/// assert_eq!(q.submit(spec), Err(Error::InvalidDelay(MAX_DELAY * 2)));
/// ```
pub const MAX_DELAY: Duration = Duration::from_secs(365 * 24 * 3600);

/// How long a failed attempt's retry waits: exponential backoff with full
/// jitter and a cap (the AWS architecture blog's "full jitter"; Sidekiq and
/// Oban back off exponentially too). Retry `n` (after attempt `n` failed)
/// waits a time drawn uniformly from `0..=min(cap, base * 2^(n-1))`. A zero
/// `base` retries at once.
///
/// ```
/// use dagqueue::RetryBackoff;
/// use std::time::{Duration, Instant};
/// let backoff = RetryBackoff::new(Duration::from_millis(20), Duration::from_secs(1)).unwrap();
/// assert!(backoff.delay(1, 7) <= Duration::from_millis(20));
/// assert!(backoff.delay(3, 7) <= Duration::from_millis(80));
/// assert!(backoff.delay(30, 7) <= Duration::from_secs(1)); // capped
/// assert_eq!(RetryBackoff::NONE.delay(5, 7), Duration::ZERO);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct RetryBackoff {
    base: Duration,
    cap: Duration,
}

impl RetryBackoff {
    /// No backoff: a failed attempt is retried at once (the default).
    pub const NONE: RetryBackoff = RetryBackoff {
        base: Duration::ZERO,
        cap: Duration::ZERO,
    };

    /// A backoff from `base` doubling up to `cap`.
    ///
    /// # Errors
    /// [`Error::InvalidDelay`] if `cap` is above [`MAX_DELAY`] or below
    /// `base`.
    pub fn new(base: Duration, cap: Duration) -> Result<RetryBackoff, Error> {
        if cap > MAX_DELAY {
            return Err(Error::InvalidDelay(cap));
        }
        if base > cap {
            return Err(Error::InvalidDelay(base));
        }
        Ok(RetryBackoff { base, cap })
    }

    /// The first retry's ceiling.
    ///
    /// ```
    /// use dagqueue::RetryBackoff;
    /// use std::time::Duration;
    /// let backoff = RetryBackoff::new(Duration::from_millis(20), Duration::from_secs(1)).unwrap();
    /// assert_eq!((backoff.base(), backoff.cap()), (Duration::from_millis(20), Duration::from_secs(1)));
    /// ```
    pub fn base(&self) -> Duration {
        self.base
    }

    /// The longest wait.
    ///
    /// ```
    /// assert_eq!(dagqueue::RetryBackoff::NONE.cap(), std::time::Duration::ZERO);
    /// ```
    pub fn cap(&self) -> Duration {
        self.cap
    }

    /// The ceiling of retry `retry`'s wait: `min(cap, base * 2^(retry-1))`.
    pub fn ceiling(&self, retry: u32) -> Duration {
        let doublings = retry.saturating_sub(1).min(40);
        self.base
            .checked_mul(1u32 << doublings.min(31))
            .and_then(|d| d.checked_mul(1u32 << doublings.saturating_sub(31)))
            .map_or(self.cap, |d| d.min(self.cap))
    }

    /// Retry `retry`'s wait, drawn from `0..=ceiling(retry)` by a hash of
    /// `salt` and `retry` (a queue salts it with the job record, so jobs
    /// failing together spread out; the same draw every time for the same
    /// record and retry).
    pub fn delay(&self, retry: u32, salt: u64) -> Duration {
        let ceiling = self.ceiling(retry).as_micros() as u64;
        if ceiling == 0 {
            return Duration::ZERO;
        }
        let mut z = salt ^ u64::from(retry).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        Duration::from_micros(((u128::from(z) * u128::from(ceiling + 1)) >> 64) as u64)
    }
}

/// When a job may first be claimed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum NotBefore {
    /// This long after it is submitted.
    Delay(Duration),
    /// At this instant (at once if it has passed).
    At(Instant),
}

/// Whether `lease` is within [`MIN_LEASE`]..=[`MAX_LEASE`]; the one check,
/// for specs and the builder's default.
pub(crate) fn check_lease(lease: Duration) -> Result<u32, Error> {
    if (MIN_LEASE..=MAX_LEASE).contains(&lease) {
        Ok(lease.as_millis() as u32)
    } else {
        Err(Error::InvalidLease(lease))
    }
}

/// The most dependencies one job may have.
///
/// ```
/// assert_eq!(dagqueue::MAX_DEPENDENCIES, (1 << 20) - 2);
/// ```
pub const MAX_DEPENDENCIES: usize = (1 << 20) - 2;

/// The most jobs one [`submit_many`](crate::JobQueue::submit_many) batch
/// may hold (`BatchTooLarge` beyond): a batch links its jobs to their
/// dependents inside it by 30-bit positions. A billion jobs, far more
/// than memory holds (a job takes over 100 bytes).
///
/// ```
/// assert_eq!(dagqueue::MAX_BATCH, 1 << 30);
/// ```
pub const MAX_BATCH: usize = crate::job::batch::MAX_LINKED_BATCH;

/// What a dependent waits for from one dependency (SLURM's `afterok`,
/// `afterany`, `afternotok`).
///
/// ```
/// use dagqueue::{DependencyKind, JobEnd, JobId, JobQueue, JobSpec, JobState, Outcome, RunnerType};
/// let q = JobQueue::new();
/// q.submit(JobSpec::new(JobId(1))).unwrap();
/// q.submit(JobSpec::new(JobId(2)).depends_on_kind(DependencyKind::AfterAny, [JobId(1)])).unwrap();
/// q.submit(JobSpec::new(JobId(3)).depends_on_kind(DependencyKind::AfterFailure, [JobId(1)])).unwrap();
/// let claim = q.claim(RunnerType::DEFAULT).unwrap();
/// q.complete(claim, Outcome::Failure).unwrap(); // job 1 failed
/// assert_eq!(q.state(JobId(2)), Ok(JobState::Pending)); // cleanup runs anyway
/// assert_eq!(q.state(JobId(3)), Ok(JobState::Pending)); // the error handler runs
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum DependencyKind {
    /// Runs only once the dependency completed; if it fails or is cancelled,
    /// so is the dependent (the default).
    #[default]
    AfterSuccess,
    /// Runs once the dependency ended, however it ended (cleanup,
    /// reporting).
    AfterAny,
    /// Runs only if the dependency failed or was cancelled (an error
    /// handler); if it completed, the dependent ends `Cancelled`
    /// ([`JobEnd::DependencySucceeded`](crate::JobEnd::DependencySucceeded)).
    AfterFailure,
}

impl DependencyKind {
    /// The kind's two-bit code (0, 1 or 2) in the edges packed in memory
    /// (`DependencyRef`, a batch's table of dependents).
    #[inline]
    pub(crate) fn bits(self) -> u32 {
        match self {
            DependencyKind::AfterSuccess => 0,
            DependencyKind::AfterAny => 1,
            DependencyKind::AfterFailure => 2,
        }
    }

    /// The kind of a two-bit code made by [`bits`](Self::bits) (3, never
    /// made, reads as `AfterFailure`).
    #[inline]
    pub(crate) fn from_bits(bits: u32) -> DependencyKind {
        match bits & 3 {
            0 => DependencyKind::AfterSuccess,
            1 => DependencyKind::AfterAny,
            _ => DependencyKind::AfterFailure,
        }
    }

    /// Whether a dependency that ended in `terminal` lets the dependent go
    /// on (`true`), or ends it (`false`): the one verdict every
    /// implementation applies.
    #[doc(hidden)]
    pub fn releases(self, terminal: crate::view::JobState) -> bool {
        use crate::view::JobState;
        match self {
            DependencyKind::AfterSuccess => terminal == JobState::Completed,
            DependencyKind::AfterAny => true,
            DependencyKind::AfterFailure => terminal != JobState::Completed,
        }
    }
}

/// `items` without repeated ids, first occurrences in order: linear time (a
/// seen-set beyond a handful), so a job with a million dependencies is
/// checked as fast as it is built.
pub(crate) fn dedup_in_order<T: Copy>(items: &[T], id: impl Fn(&T) -> JobId) -> Vec<T> {
    const LINEAR_SCAN_UP_TO: usize = 16;
    let mut unique: Vec<T> = Vec::with_capacity(items.len());
    if items.len() <= LINEAR_SCAN_UP_TO {
        for item in items {
            if !unique.iter().any(|u| id(u) == id(item)) {
                unique.push(*item);
            }
        }
    } else {
        let mut seen = std::collections::HashSet::with_capacity(items.len());
        unique.extend(items.iter().copied().filter(|item| seen.insert(id(item))));
    }
    unique
}

/// A job to submit, built with chained methods. The fields are private (a
/// spec grows with new options without breaking callers); read them back
/// with [`id`](JobSpec::id), [`dependencies`](JobSpec::dependencies) and the
/// `get_` accessors (the plain names are the setters, as on
/// `std::process::Command`).
///
/// ```
/// use dagqueue::{ClusterId, JobId, JobSpec, Priority, Resources, RunnerType, UserId};
/// let spec = JobSpec::new(JobId(10))
///     .priority(Priority::High)
///     .depends_on([JobId(1), JobId(2), JobId(1)])
///     .runner(RunnerType(1))
///     .cluster(ClusterId(0))
///     .user(UserId(42))
///     .max_retries(2)
///     .resources(Resources { cores: 8, memory_gb: 16 });
/// assert_eq!(spec.id(), JobId(10));
/// assert_eq!(spec.dependencies(), &[JobId(1), JobId(2)]); // repeats count once
/// assert_eq!(spec.get_cluster(), Some(ClusterId(0)));
/// assert_eq!(spec.get_max_retries(), 2);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JobSpec<T = ()> {
    /// Everything but the payload.
    options: SpecOptions,
    payload: T,
}

/// A spec's settings (all of it but the payload, so that a spec changes its
/// payload type by moving this whole).
#[derive(Clone, Debug, PartialEq, Eq)]
struct SpecOptions {
    id: JobId,
    priority: Priority,
    /// Without repeats, in the order given.
    dependencies: Vec<JobId>,
    /// The kind of each dependency; empty when all are `AfterSuccess`.
    kinds: Vec<DependencyKind>,
    runner: RunnerType,
    cluster: Option<ClusterId>,
    user: UserId,
    max_retries: u32,
    resources: Resources,
    lease: Option<Duration>,
    not_before: Option<NotBefore>,
    retry_backoff: Option<RetryBackoff>,
}

impl JobSpec {
    /// A Normal-priority job with no dependencies, default runner, no cluster,
    /// no retries.
    ///
    /// ```
    /// use dagqueue::{JobId, JobSpec, Priority, RunnerType};
    /// let spec = JobSpec::new(JobId(1));
    /// assert_eq!((spec.get_priority(), spec.get_runner(), spec.get_max_retries()), (Priority::Normal, RunnerType::DEFAULT, 0));
    /// ```
    pub fn new(id: JobId) -> JobSpec {
        JobSpec {
            options: SpecOptions {
                id,
                priority: Priority::Normal,
                dependencies: Vec::new(),
                kinds: Vec::new(),
                runner: RunnerType::DEFAULT,
                cluster: None,
                user: UserId::default(),
                max_retries: 0,
                resources: Resources::default(),
                lease: None,
                not_before: None,
                retry_backoff: None,
            },
            payload: (),
        }
    }
}

impl<T> JobSpec<T> {
    /// Gives the job a payload: what its worker receives with the claim
    /// ([`Claim::payload`](crate::Claim::payload)), for a queue of that
    /// payload type (`JobQueue<T>`). A spec without one carries `()`,
    /// which takes no space.
    ///
    /// ```
    /// use dagqueue::{JobId, JobQueue, JobSpec, RunnerType};
    /// let queue = JobQueue::<Vec<u8>>::default();
    /// queue.submit(JobSpec::new(JobId(1)).payload(vec![1, 2, 3])).unwrap();
    /// assert_eq!(queue.claim(RunnerType::DEFAULT).unwrap().payload(), &[1, 2, 3]);
    /// ```
    pub fn payload<U>(self, payload: U) -> JobSpec<U> {
        self.replace_payload(payload).0
    }

    /// The payload.
    ///
    /// ```
    /// use dagqueue::{JobId, JobSpec};
    /// assert_eq!(JobSpec::new(JobId(1)).payload(7u8).get_payload(), &7);
    /// ```
    pub fn get_payload(&self) -> &T {
        &self.payload
    }

    /// The spec without its payload, and the payload.
    pub(crate) fn split_payload(self) -> (JobSpec, T) {
        self.replace_payload(())
    }

    /// The spec with another payload, and the one it had.
    fn replace_payload<U>(self, payload: U) -> (JobSpec<U>, T) {
        let spec = JobSpec {
            options: self.options,
            payload,
        };
        (spec, self.payload)
    }

    /// Sets the priority.
    pub fn priority(mut self, priority: Priority) -> JobSpec<T> {
        self.options.priority = priority;
        self
    }

    /// Adds dependencies that must complete first
    /// ([`DependencyKind::AfterSuccess`]); repeated ids count once.
    pub fn depends_on(self, dependencies: impl IntoIterator<Item = JobId>) -> JobSpec<T> {
        self.depends_on_kind(DependencyKind::AfterSuccess, dependencies)
    }

    /// Adds dependencies of one kind; an id already named keeps its first
    /// kind.
    ///
    /// ```
    /// use dagqueue::{DependencyKind, JobId, JobSpec};
    /// let spec = JobSpec::new(JobId(9))
    ///     .depends_on([JobId(1)])
    ///     .depends_on_kind(DependencyKind::AfterAny, [JobId(2), JobId(1)]);
    /// let edges: Vec<_> = spec.dependencies_with_kinds().collect();
    /// assert_eq!(edges, vec![(JobId(1), DependencyKind::AfterSuccess), (JobId(2), DependencyKind::AfterAny)]);
    /// ```
    pub fn depends_on_kind(
        mut self,
        kind: DependencyKind,
        dependencies: impl IntoIterator<Item = JobId>,
    ) -> JobSpec<T> {
        let mut edges: Vec<(JobId, DependencyKind)> = self.dependencies_with_kinds().collect();
        edges.extend(dependencies.into_iter().map(|id| (id, kind)));
        let edges = dedup_in_order(&edges, |edge| edge.0);
        self.options.dependencies = edges.iter().map(|edge| edge.0).collect();
        self.options.kinds = if edges
            .iter()
            .all(|edge| edge.1 == DependencyKind::AfterSuccess)
        {
            Vec::new()
        } else {
            edges.iter().map(|edge| edge.1).collect()
        };
        self
    }

    /// Its dependencies with their kinds, in order.
    pub fn dependencies_with_kinds(&self) -> impl Iterator<Item = (JobId, DependencyKind)> + '_ {
        self.options
            .dependencies
            .iter()
            .enumerate()
            .map(|(index, &id)| {
                (
                    id,
                    self.options.kinds.get(index).copied().unwrap_or_default(),
                )
            })
    }

    /// Sets the runner type.
    pub fn runner(mut self, runner: RunnerType) -> JobSpec<T> {
        self.options.runner = runner;
        self
    }

    /// Sets the cluster.
    pub fn cluster(mut self, cluster: ClusterId) -> JobSpec<T> {
        self.options.cluster = Some(cluster);
        self
    }

    /// Sets the user.
    pub fn user(mut self, user: UserId) -> JobSpec<T> {
        self.options.user = user;
        self
    }

    /// Sets how many times a failure is retried (at most [`MAX_RETRIES`]).
    pub fn max_retries(mut self, max_retries: u32) -> JobSpec<T> {
        self.options.max_retries = max_retries;
        self
    }

    /// Sets the resources needed from a cluster slot.
    pub fn resources(mut self, resources: Resources) -> JobSpec<T> {
        self.options.resources = resources;
        self
    }

    /// Gives each claim of this job a lease of `lease` (overriding the
    /// queue's default): a claim neither reported nor extended by
    /// [`heartbeat`](crate::JobQueue::heartbeat) within it is taken back
    /// (the attempt counts as failed). Between [`MIN_LEASE`] and
    /// [`MAX_LEASE`].
    ///
    /// ```
    /// use dagqueue::{JobId, JobSpec};
    /// use std::time::{Duration, Instant};
    /// let spec = JobSpec::new(JobId(1)).lease(Duration::from_secs(30));
    /// assert_eq!(spec.get_lease(), Some(Duration::from_secs(30)));
    /// ```
    pub fn lease(mut self, lease: Duration) -> JobSpec<T> {
        self.options.lease = Some(lease);
        self
    }

    /// Its own lease, if it sets one.
    pub fn get_lease(&self) -> Option<Duration> {
        self.options.lease
    }

    /// It may not be claimed until `delay` after it is submitted (and its
    /// dependencies completed): until then it is `Waiting` and takes no
    /// lane slot. At most [`MAX_DELAY`].
    ///
    /// ```
    /// use dagqueue::{JobId, JobQueue, JobSpec, JobState, RunnerType};
    /// use std::time::{Duration, Instant};
    /// let q = JobQueue::new();
    /// q.submit(JobSpec::new(JobId(1)).delay(Duration::from_millis(30))).unwrap();
    /// assert_eq!(q.state(JobId(1)), Ok(JobState::Waiting));
    /// assert!(q.claim(RunnerType::DEFAULT).is_none());
    /// let claim = q.claim_wait(RunnerType::DEFAULT, Duration::from_secs(10)).unwrap();
    /// assert_eq!(claim.job(), JobId(1));
    /// ```
    pub fn delay(mut self, delay: Duration) -> JobSpec<T> {
        self.options.not_before = Some(NotBefore::Delay(delay));
        self
    }

    /// It may not be claimed before `at` (SLURM's `--begin`): as
    /// [`delay`](JobSpec::delay), measured from submission.
    pub fn not_before(mut self, at: Instant) -> JobSpec<T> {
        self.options.not_before = Some(NotBefore::At(at));
        self
    }

    /// How long, from its submission, it must wait before it may be claimed.
    pub fn get_delay(&self, submitted: Instant) -> Duration {
        match self.options.not_before {
            None => Duration::ZERO,
            Some(NotBefore::Delay(delay)) => delay,
            Some(NotBefore::At(at)) => at.saturating_duration_since(submitted),
        }
    }

    /// Its delay if it were submitted now: reads the clock only for a
    /// spec that names an instant (most name none).
    pub(crate) fn delay_from_now(&self) -> Duration {
        match self.options.not_before {
            None => Duration::ZERO,
            Some(NotBefore::Delay(delay)) => delay,
            Some(NotBefore::At(at)) => at.saturating_duration_since(Instant::now()),
        }
    }

    /// Its retries wait by `backoff` (overriding the queue's).
    ///
    /// ```
    /// use dagqueue::{JobId, JobSpec, RetryBackoff};
    /// use std::time::{Duration, Instant};
    /// let backoff = RetryBackoff::new(Duration::from_secs(1), Duration::from_secs(60)).unwrap();
    /// let spec = JobSpec::new(JobId(1)).max_retries(5).retry_backoff(backoff);
    /// assert_eq!(spec.get_retry_backoff(), Some(backoff));
    /// ```
    pub fn retry_backoff(mut self, backoff: RetryBackoff) -> JobSpec<T> {
        self.options.retry_backoff = Some(backoff);
        self
    }

    /// Its own retry backoff, if it sets one.
    pub fn get_retry_backoff(&self) -> Option<RetryBackoff> {
        self.options.retry_backoff
    }

    /// The job's id.
    pub fn id(&self) -> JobId {
        self.options.id
    }

    /// Its dependencies, without repeats, in the order given.
    pub fn dependencies(&self) -> &[JobId] {
        &self.options.dependencies
    }

    /// Its priority.
    pub fn get_priority(&self) -> Priority {
        self.options.priority
    }

    /// Its runner type.
    pub fn get_runner(&self) -> RunnerType {
        self.options.runner
    }

    /// Its cluster, if any (`None`: no cluster limit applies).
    pub fn get_cluster(&self) -> Option<ClusterId> {
        self.options.cluster
    }

    /// Its user (for fair share).
    pub fn get_user(&self) -> UserId {
        self.options.user
    }

    /// How many times a failed attempt is retried.
    pub fn get_max_retries(&self) -> u32 {
        self.options.max_retries
    }

    /// What it needs from a slot of its cluster.
    pub fn get_resources(&self) -> Resources {
        self.options.resources
    }

    /// The checks a spec must pass on its own, before any queue looks at it,
    /// in this order: `max_retries` at most [`MAX_RETRIES`]
    /// (`TooManyRetries`), no dependency on itself (`SelfDependency`), at
    /// most [`MAX_DEPENDENCIES`] dependencies (`TooManyDependencies`), a
    /// lease within [`MIN_LEASE`]..=[`MAX_LEASE`] (`InvalidLease`), a delay
    /// of at most [`MAX_DELAY`] (`InvalidDelay`).
    /// `submit` calls it first, then checks the spec against the queue:
    /// `DuplicateJob`, `UnknownCluster` (only with declared clusters only),
    /// `UnknownDependency`.
    ///
    /// # Errors
    /// The first check that fails, as above.
    ///
    /// ```
    /// use dagqueue::{Error, JobId, JobSpec};
    /// assert_eq!(JobSpec::new(JobId(1)).validate(), Ok(()));
    /// let cyclic = JobSpec::new(JobId(1)).depends_on([JobId(1)]);
    /// assert_eq!(cyclic.validate(), Err(Error::SelfDependency(JobId(1))));
    /// ```
    pub fn validate(&self) -> Result<(), Error> {
        if self.options.max_retries > MAX_RETRIES {
            return Err(Error::TooManyRetries(self.options.max_retries));
        }
        if self.options.dependencies.contains(&self.options.id) {
            return Err(Error::SelfDependency(self.options.id));
        }
        if self.options.dependencies.len() > MAX_DEPENDENCIES {
            return Err(Error::TooManyDependencies(self.options.id));
        }
        if let Some(lease) = self.options.lease {
            check_lease(lease)?;
        }
        let delay = self.delay_from_now();
        if delay > MAX_DELAY {
            return Err(Error::InvalidDelay(delay));
        }
        Ok(())
    }
}
