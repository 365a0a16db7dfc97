//! What a claim hands to a worker and what the worker reports back.

use crate::ids::JobId;

/// The ticket a successful claim hands to one worker: the job and the attempt.
///
/// Completion reports carry it back, so a late report from an earlier attempt
/// is recognised as stale and changes nothing.
///
/// ```
/// use dagqueue::{Claim, JobId};
/// let claim = Claim { job: JobId(1), attempt: 1 };
/// let copy = claim; // Copy
/// assert_eq!(copy, claim);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Claim {
    /// The claimed job.
    pub job: JobId,
    /// The attempt number, 1 for the first claim, 2 for the first retry...
    pub attempt: u32,
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
