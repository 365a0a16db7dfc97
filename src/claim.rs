//! What a claim hands to a worker and what the worker reports back.

use crate::ids::{ClusterId, JobId, RunnerType};
use crate::job::Job;
use std::sync::Arc;

/// The ticket a successful claim hands to one worker: one attempt of one
/// job record, in one queue.
///
/// It holds the claimed job's record itself (a reference count, no copy),
/// so the worker reads its job, attempt, runner and cluster without a
/// lookup, and a report goes straight to the record: no table lookup on
/// `start`, `heartbeat` or `complete`, from any thread. A report of an
/// earlier attempt, of a job that was pruned (even if a new job reuses its
/// id), or of a job of another queue is recognised as stale (`StaleClaim`)
/// and changes nothing. It is opaque: only a queue makes one. Cloning it is
/// allowed (a clone names the same attempt; of two reports only the first
/// counts). 16 bytes, and `Option<Claim>` is 16 bytes too.
///
/// ```
/// use dagqueue::{JobId, JobQueue, JobSpec, Outcome, RunnerType};
/// let queue = JobQueue::new();
/// queue.submit(JobSpec::new(JobId(1))).unwrap();
/// let claim = queue.claim(RunnerType::DEFAULT).unwrap();
/// assert_eq!((claim.job(), claim.attempt(), claim.runner()), (JobId(1), 1, RunnerType::DEFAULT));
/// assert_eq!(claim.cluster(), None);
/// queue.complete(claim, Outcome::Success).unwrap();
/// assert_eq!(std::mem::size_of::<Option<dagqueue::Claim>>(), 16);
/// ```
#[must_use = "a claimed job is held until its claim is reported"]
pub struct Claim<T = ()> {
    record: Arc<Job<T>>,
    attempt: u32,
}

impl<T> Clone for Claim<T> {
    /// The same attempt of the same job (a reference count; `T` is not
    /// cloned).
    fn clone(&self) -> Claim<T> {
        Claim {
            record: Arc::clone(&self.record),
            attempt: self.attempt,
        }
    }
}

impl<T> PartialEq for Claim<T> {
    /// Same job record (incarnation) and attempt.
    fn eq(&self, other: &Claim<T>) -> bool {
        self.attempt == other.attempt
            && self.record.id == other.record.id
            && self.record.incarnation == other.record.incarnation
    }
}

impl<T> Eq for Claim<T> {}

impl<T> core::hash::Hash for Claim<T> {
    fn hash<H: core::hash::Hasher>(&self, state: &mut H) {
        (self.record.id, self.record.incarnation, self.attempt).hash(state);
    }
}

impl<T> core::fmt::Debug for Claim<T> {
    /// The job and the attempt (the record is an internal detail).
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Claim")
            .field("job", &self.record.id)
            .field("attempt", &self.attempt)
            .finish_non_exhaustive()
    }
}

impl<T> Claim<T> {
    /// The ticket for `attempt` (≥ 1) of the claimed `record`.
    #[inline]
    pub(crate) fn new(record: Arc<Job<T>>, attempt: u32) -> Claim<T> {
        Claim { record, attempt }
    }

    /// The claimed job's record.
    #[inline]
    pub(crate) fn record(&self) -> &Arc<Job<T>> {
        &self.record
    }

    /// The claimed job.
    ///
    /// ```
    /// # use dagqueue::*;
    /// let queue = JobQueue::new();
    /// queue.submit(JobSpec::new(JobId(7))).unwrap();
    /// assert_eq!(queue.claim(RunnerType::DEFAULT).unwrap().job(), JobId(7));
    /// ```
    #[inline]
    pub fn job(&self) -> JobId {
        self.record.id
    }

    /// The attempt: 1 for the first claim, 2 for the first retry...
    ///
    /// ```
    /// # use dagqueue::*;
    /// let queue = JobQueue::new();
    /// queue.submit(JobSpec::new(JobId(7)).max_retries(1)).unwrap();
    /// let first = queue.claim(RunnerType::DEFAULT).unwrap();
    /// queue.complete(first, Outcome::Failure).unwrap();
    /// assert_eq!(queue.claim(RunnerType::DEFAULT).unwrap().attempt(), 2);
    /// ```
    #[inline]
    pub fn attempt(&self) -> u32 {
        self.attempt
    }

    /// The runner type the job was submitted for.
    ///
    /// ```
    /// # use dagqueue::*;
    /// let queue = JobQueue::new();
    /// queue.submit(JobSpec::new(JobId(7)).runner(RunnerType(3))).unwrap();
    /// assert_eq!(queue.claim(RunnerType(3)).unwrap().runner(), RunnerType(3));
    /// ```
    #[inline]
    pub fn runner(&self) -> RunnerType {
        self.record.runner
    }

    /// The cluster whose slot the attempt holds, if the job names one.
    ///
    /// ```
    /// # use dagqueue::*;
    /// let queue = JobQueue::new();
    /// queue.submit(JobSpec::new(JobId(7)).cluster(ClusterId(2))).unwrap();
    /// assert_eq!(queue.claim(RunnerType::DEFAULT).unwrap().cluster(), Some(ClusterId(2)));
    /// ```
    #[inline]
    pub fn cluster(&self) -> Option<ClusterId> {
        self.record
            .group
            .get()
            .and_then(|group| group.cluster.as_ref())
            .map(|cluster| cluster.id)
    }

    /// The incarnation of the job record it was claimed from (unique in
    /// this process).
    #[inline]
    pub(crate) fn incarnation(&self) -> u64 {
        self.record.incarnation
    }

    /// The incarnation, for other implementations (see `__from_parts`).
    #[doc(hidden)]
    pub fn __incarnation(&self) -> u64 {
        self.incarnation()
    }

    /// What the job carries ([`JobSpec::payload`](crate::JobSpec::payload)):
    /// the worker's input, read from the claimed record itself (no lookup,
    /// no copy). Shared: a retry's claim reads the same value.
    ///
    /// ```
    /// use dagqueue::*;
    /// let queue = JobQueue::<String>::default();
    /// queue.submit(JobSpec::new(JobId(1)).payload("render frame 1".to_string())).unwrap();
    /// let claim = queue.claim(RunnerType::DEFAULT).unwrap();
    /// assert_eq!(claim.payload(), "render frame 1");
    /// ```
    #[inline]
    pub fn payload(&self) -> &T {
        &self.record.payload
    }
}

impl Claim {
    /// A claim made up from parts, naming a record of no queue, for other
    /// implementations of the same operations (the workspace's mutex
    /// baselines) and for tests of stale or forged reports; not part of the
    /// API. A queue answers any report of it with `StaleClaim`.
    #[doc(hidden)]
    pub fn __from_parts(job: JobId, incarnation: u64, attempt: u32) -> Claim {
        Claim {
            record: Arc::new(Job::detached(job, incarnation, ())),
            attempt: attempt.max(1),
        }
    }
}

/// Why [`claim_wait`](crate::JobQueue::claim_wait) returned without a claim.
///
/// ```
/// use dagqueue::{JobQueue, RunnerType, WaitError};
/// use std::time::Duration;
/// let queue = JobQueue::new();
/// assert_eq!(queue.claim_wait(RunnerType::DEFAULT, Duration::ZERO), Err(WaitError::TimedOut));
/// queue.close();
/// assert_eq!(queue.claim_wait(RunnerType::DEFAULT, Duration::MAX), Err(WaitError::Closed));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum WaitError {
    /// Nothing could be claimed before the timeout.
    TimedOut,
    /// The queue was closed: a worker should stop asking.
    Closed,
}

impl core::fmt::Display for WaitError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            WaitError::TimedOut => "no job could be claimed before the timeout",
            WaitError::Closed => "the queue is closed",
        })
    }
}

impl std::error::Error for WaitError {}

/// The longest failure reason a queue keeps, in bytes (UTF-8); a longer one
/// is cut at the last character boundary within it. Enough for an error
/// message and a little context, not for a log.
///
/// ```
/// assert_eq!(dagqueue::MAX_REASON_BYTES, 1024);
/// ```
pub const MAX_REASON_BYTES: usize = 1024;

/// `reason`, cut to at most [`MAX_REASON_BYTES`] at a character boundary.
#[doc(hidden)]
pub fn bounded_reason(reason: &str) -> std::sync::Arc<str> {
    let mut end = reason.len().min(MAX_REASON_BYTES);
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    std::sync::Arc::from(&reason[..end])
}

/// How a worker's attempt ended.
///
/// ```
/// use dagqueue::Outcome;
/// assert_ne!(Outcome::Success, Outcome::Failure);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// The attempt succeeded.
    Success,
    /// The attempt failed; the job is retried while attempts remain.
    Failure,
}

/// What a completion report did.
///
/// ```
/// use dagqueue::Completion;
/// assert!(Completion::Completed.is_final());
/// assert!(!Completion::Retrying.is_final());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Completion {
    /// The job is now `Completed`; its dependents may be released.
    Completed,
    /// The attempt failed and the job was re-queued for another attempt.
    Retrying,
    /// The job is now `Failed` (no attempts left), and so are its dependents.
    Failed,
    /// Cancellation had been requested: the job is now `Cancelled`, and so are
    /// its dependents.
    Cancelled,
}

impl Completion {
    /// Whether the job reached a terminal state.
    pub fn is_final(self) -> bool {
        !matches!(self, Completion::Retrying)
    }
}

/// What `cancel` did.
///
/// ```
/// use dagqueue::CancelOutcome;
/// assert_ne!(CancelOutcome::Cancelled, CancelOutcome::Requested);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CancelOutcome {
    /// The job was waiting or pending and is now `Cancelled`.
    Cancelled,
    /// The job is scheduled or running: it is marked cancel-requested and ends
    /// `Cancelled` when its worker reports.
    Requested,
}
