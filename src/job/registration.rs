//! What a job's dependents list holds: a registration of one dependent
//! (`submit`, `add_dependencies`, and a `submit_many` job's dependencies
//! already in the queue: one node an edge). A `submit_many` job's
//! dependents in its own batch take no node: its list is marked, and its
//! batch lists them (`job/batch.rs`).

use super::Job;
use crate::spec::DependencyKind;
use std::sync::Arc;

/// One dependent and the kind of its edge (16 bytes).
pub(crate) struct Registration<T> {
    pub(crate) job: Arc<Job<T>>,
    pub(crate) kind: DependencyKind,
}
