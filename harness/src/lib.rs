//! dagqueue's harness: everything the tests, benchmarks and the main job
//! need that is not the library itself. Not published.
//!
//! * [`Scheduler`]: the operations of a queue as a trait, implemented by
//!   [`dagqueue::JobQueue`] and by the mutex baselines, so one test or one
//!   benchmark runs on all of them;
//! * [`baseline`]: the same operations behind one `std` or `parking_lot`
//!   mutex, the reference the lock-free queue is tested and measured against;
//! * [`audit`]: an event log of a concurrent run and a verifier that replays it;
//! * [`differential`]: operation sequences applied to several queues with
//!   every result compared (tests/differential.rs and the fuzz target);
//! * [`linearizability`]: a history recorder, a linearizability checker and
//!   the queue's sequential specification;
//! * [`workload`]: the main job's layered DAG workload;
//! * [`workflow`]: real-shaped (Montage-like) workflow graphs, edge-heavy;
//! * [`rng`]: the one seeded generator every test, bench and workload uses.
#![deny(missing_docs)]

pub mod audit;
pub mod baseline;
pub mod differential;
pub mod linearizability;
pub mod rng;
mod scheduler;
pub mod workflow;
pub mod workload;

pub use scheduler::{Claim, Scheduler};
