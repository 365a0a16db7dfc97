//! What a claim hands to a worker and what the worker reports back.

use crate::ids::JobId;
use core::num::NonZeroU64;

/// The ticket a successful claim hands to one worker: one attempt of one
/// incarnation of one job, in one queue.
///
/// Reports carry it back (`start`, `complete`), so a report of an earlier
/// attempt, of a job that was pruned (even if a new job reuses its id), or
/// of a job of another queue is recognised as stale (`StaleClaim`) and
/// changes nothing. It is opaque: only a queue makes one. 16 bytes, and
/// `Option<Claim>` is 16 bytes too.
///
/// ```
/// use dagqueue::{JobId, JobQueue, JobSpec, Outcome, RunnerType};
/// let queue = JobQueue::new();
/// queue.submit(JobSpec::new(JobId(1))).unwrap();
/// let claim = queue.claim(RunnerType::DEFAULT).unwrap();
/// assert_eq!((claim.job(), claim.attempt()), (JobId(1), 1));
/// queue.complete(claim, Outcome::Success).unwrap();
/// assert_eq!(std::mem::size_of::<Option<dagqueue::Claim>>(), 16);
/// ```
#[must_use = "a claimed job is held until its claim is reported"]
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Claim {
    job: JobId,
    /// The job record's incarnation (above `ATTEMPT_BITS`) and the attempt
    /// (below): nonzero, since the attempt is at least 1.
    ticket: NonZeroU64,
}

impl core::fmt::Debug for Claim {
    /// The job and the attempt (the incarnation is an internal detail).
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Claim")
            .field("job", &self.job)
            .field("attempt", &self.attempt())
            .finish_non_exhaustive()
    }
}

/// Bits of a ticket that hold the attempt (attempts stay below 2^11: see
/// `MAX_RETRIES`).
const ATTEMPT_BITS: u32 = 11;

impl Claim {
    /// The ticket for `attempt` (≥ 1) of the job record `incarnation`.
    pub(crate) fn new(job: JobId, incarnation: u64, attempt: u32) -> Claim {
        debug_assert!((1..1 << ATTEMPT_BITS).contains(&attempt));
        let ticket = (incarnation << ATTEMPT_BITS) | u64::from(attempt);
        Claim {
            job,
            ticket: NonZeroU64::new(ticket).unwrap_or(NonZeroU64::MIN),
        }
    }

    /// A claim made up from parts, for other implementations of the same
    /// operations (the workspace's mutex baselines) and for tests of stale
    /// or forged reports; not part of the API.
    #[doc(hidden)]
    pub fn __from_parts(job: JobId, incarnation: u64, attempt: u32) -> Claim {
        Claim::new(job, incarnation, attempt.clamp(1, (1 << ATTEMPT_BITS) - 1))
    }

    /// The claimed job.
    pub fn job(&self) -> JobId {
        self.job
    }

    /// The attempt: 1 for the first claim, 2 for the first retry...
    pub fn attempt(&self) -> u32 {
        (self.ticket.get() & ((1 << ATTEMPT_BITS) - 1)) as u32
    }

    /// The incarnation of the job record it was claimed from (unique in
    /// this process).
    pub(crate) fn incarnation(&self) -> u64 {
        self.ticket.get() >> ATTEMPT_BITS
    }

    /// The incarnation, for other implementations (see `__from_parts`).
    #[doc(hidden)]
    pub fn __incarnation(&self) -> u64 {
        self.incarnation()
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
