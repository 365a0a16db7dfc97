//! # dagqueue
//!
//! A lock-free, concurrent job queue with dependencies, priorities and
//! per-cluster limits, for schedulers that cannot afford a global lock.
//!
//! ```
//! use dagqueue::{JobId, JobQueue, JobSpec, Outcome, RunnerType};
//!
//! let queue = JobQueue::new();
//! queue.submit(JobSpec::new(JobId(1))).unwrap();
//! queue.submit(JobSpec::new(JobId(2)).depends_on([JobId(1)])).unwrap();
//!
//! let first = queue.claim(RunnerType::DEFAULT).unwrap();
//! assert_eq!(first.job(), JobId(1));
//! assert!(queue.claim(RunnerType::DEFAULT).is_none()); // job 2 waits for job 1
//! queue.start(&first).unwrap();
//! queue.complete(first, Outcome::Success).unwrap();
//! assert_eq!(queue.claim(RunnerType::DEFAULT).unwrap().job(), JobId(2));
//! ```
//!
//! Start with [`JobQueue`] (every operation, its semantics, a worker pool)
//! and [`JobSpec`] (what a job asks for). The [`docs`] module holds the
//! design: the state machine, the linearization point of every operation,
//! the memory orderings, what the model checker sees.
#![deny(missing_docs)]
#![deny(unreachable_pub)]
#![deny(clippy::undocumented_unsafe_blocks)]

mod sync;
#[macro_use]
mod trace;

mod append_list;
mod claim;
mod clock;
mod cluster;
mod config;
mod counts;
#[cfg(feature = "durable")]
mod durable;
mod error;
mod events;
mod faults;
mod ids;
mod job;
mod lanes;
mod local;
mod metrics;
mod queue;
mod record_fifo;
#[cfg(feature = "serde")]
mod serde_impls;
mod set_once;
mod spec;
mod view;
mod wake;

pub mod docs;

/// Internals the loom models need (`Faults`, a cluster word read); what it
/// holds outside a `--cfg dagqueue_loom` or `--cfg dagqueue_shuttle` build
/// is not part of the API.
#[doc(hidden)]
pub use faults::__loom;

/// The README, whose examples are compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;

#[doc(hidden)]
pub use claim::bounded_reason;
pub use claim::{CancelOutcome, Claim, Completion, Outcome, WaitError, MAX_REASON_BYTES};
#[doc(hidden)]
pub use config::check_capacity;
pub use config::{JobQueueBuilder, QueueConfig, MAX_CAPACITY};
#[cfg(feature = "durable")]
pub use durable::{DurabilityError, DurabilityErrorKind, DurablePayload, DurableQueue, SyncPolicy};
pub use error::Error;
pub use events::{Event, EventKind, RecvError, Subscriber, TryRecvError, EVENT_BUFFER};
pub use ids::{ClusterId, JobId, RunnerType, UserId};
pub use queue::JobQueue;
pub use spec::{
    DependencyKind, InvalidPriority, JobSpec, Priority, Resources, RetryBackoff, MAX_BATCH,
    MAX_DELAY, MAX_DEPENDENCIES, MAX_LEASE, MAX_RETRIES, MIN_LEASE,
};
pub use view::{ClusterStatus, JobEnd, JobState, JobView, Metrics, QueueStatus, StateCounts};
