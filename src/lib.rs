//! # dagqueue
//!
//! A lock-free, concurrent job queue with dependencies, priorities and
//! per-cluster limits, for schedulers that cannot afford a global lock.
//!
//! ```
//! use dagqueue::{JobId, JobQueue, JobSpec, Outcome, RunnerId, Scheduler};
//!
//! let queue = JobQueue::builder().build();
//! queue.submit(JobSpec::new(JobId(1))).unwrap();
//! queue.submit(JobSpec::new(JobId(2)).depends_on([JobId(1)])).unwrap();
//!
//! let first = queue.claim(RunnerId::DEFAULT).unwrap();
//! assert_eq!(first.job, JobId(1));
//! assert!(queue.claim(RunnerId::DEFAULT).is_none()); // job 2 waits for job 1
//! queue.start(&first).unwrap();
//! queue.complete(first, Outcome::Success).unwrap();
//! assert_eq!(queue.claim(RunnerId::DEFAULT).unwrap().job, JobId(2));
//! ```
//!
//! See `docs/DESIGN.md` for the state machine, the linearization point of
//! every operation and the memory orderings.
#![deny(missing_docs)]
#![forbid(unsafe_op_in_unsafe_fn)]

pub(crate) mod sync;

mod error;
mod faults;
mod scheduler;
mod status;
mod types;

pub mod audit;
pub mod baseline;
mod clock;
mod cluster;
mod dependents;
mod job;
mod lanes;
mod metrics;
mod notify;
mod queue;
mod state;

/// Internals the loom models need; only under `--cfg dagqueue_loom`.
#[cfg(dagqueue_loom)]
#[doc(hidden)]
pub mod __loom {
    pub use crate::faults::Faults;

    /// One read of a cluster's word: (running, reserving, capacity, paused).
    pub fn cluster_word(
        queue: &crate::JobQueue,
        cluster: crate::ClusterId,
    ) -> Option<(u32, u32, u32, bool)> {
        queue.cluster_word(cluster)
    }
}

/// The README's usage example, compiled and run as a doctest.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;

pub use error::Error;
pub use queue::{JobQueue, JobQueueBuilder};
pub use scheduler::{QueueConfig, Scheduler, MAX_CAPACITY};
pub use status::{ClusterStatus, Metrics, QueueStatus, StateCounts};
pub use types::{
    CancelOutcome, Claim, ClusterId, Completion, JobId, JobSpec, JobState, JobView, Outcome,
    Priority, Resources, RunnerId, UserId, MAX_DEPENDENCIES, MAX_RETRIES_LIMIT,
};
