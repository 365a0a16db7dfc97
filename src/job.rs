//! The job record: what never changes about a job, plus its state word, its
//! dependency snapshot and its dependents list.

use crate::dependents::DependentsList;
use crate::lanes::LaneGroup;
use crate::state::{StateWord, Word};
use crate::sync::OnceLock;
use crate::sync::{AtomicU64, Ordering, Snapshot};
use crate::types::{ClusterId, JobId, Resources, RunnerId};
use std::sync::{Arc, Weak};

/// One dependency edge: a weak reference to the dependency.
#[derive(Clone)]
pub(crate) struct DependencyRef {
    pub(crate) job: Weak<Job>,
}

impl DependencyRef {
    pub(crate) fn to(job: &Arc<Job>) -> DependencyRef {
        DependencyRef {
            job: Arc::downgrade(job),
        }
    }
}

/// One job. Shared as `Arc<Job>` by the job table, lane entries and the
/// dependents lists of its dependencies.
///
/// Size: 80 bytes, about 150 with its `Arc` header, dependency snapshot and
/// table slot, plus 8 bytes per dependency edge; a finished job's dependents
/// list is empty (sealed) and it is in no lane, so that is all it keeps
/// until pruned.
pub(crate) struct Job {
    pub(crate) id: JobId,
    /// State, attempt, priority, level, remaining dependencies, version.
    pub(crate) word: StateWord,
    pub(crate) runner: RunnerId,
    pub(crate) cluster: Option<ClusterId>,
    pub(crate) max_retries: u32,
    pub(crate) resources: Resources,
    /// Its lane group; set once by `submit` before the job is published.
    pub(crate) group: OnceLock<Arc<LaneGroup>>,
    /// Its dependencies: replaced whole by `add_dependencies`, read as a
    /// snapshot by cycle checks and `dependencies_satisfied`. Weak, so a
    /// pruned dependency is freed, and a new job reusing a pruned id is never
    /// mistaken for it.
    pub(crate) dependencies: Snapshot<Vec<DependencyRef>>,
    /// The jobs waiting on this one; sealed when it finishes.
    pub(crate) dependents: DependentsList<Arc<Job>>,
    /// When it last became pending (µs since the queue's epoch).
    pub(crate) ready_at: AtomicU64,
}

impl Job {
    pub(crate) fn new(
        spec: &crate::types::JobSpec,
        word: Word,
        dependencies: Vec<DependencyRef>,
    ) -> Job {
        Job {
            id: spec.id,
            word: StateWord::new(word),
            runner: spec.runner,
            cluster: spec.cluster,
            max_retries: spec.max_retries,
            resources: spec.resources,
            group: OnceLock::new(),
            dependencies: crate::sync::snapshot_new(dependencies),
            dependents: DependentsList::new(),
            ready_at: AtomicU64::new(0),
        }
    }

    /// Its lane group (always set once the job is visible).
    #[inline]
    pub(crate) fn group(&self) -> &Arc<LaneGroup> {
        self.group
            .get()
            .expect("a published job has its lane group")
    }

    /// Records when it became pending. Relaxed: a timestamp for metrics only;
    /// the lane push that follows publishes it to the claimer.
    #[inline]
    pub(crate) fn set_ready_at(&self, micros: u64) {
        self.ready_at.store(micros, Ordering::Relaxed);
    }

    #[inline]
    pub(crate) fn ready_at(&self) -> u64 {
        self.ready_at.load(Ordering::Relaxed)
    }
}

#[cfg(all(test, not(dagqueue_loom)))]
mod tests {
    use super::*;

    /// The documented footprint of a job (docs/DESIGN.md): the record is 80
    /// bytes; with its `Arc` header (16), its dependency snapshot (an `Arc`ed
    /// `Vec`, 40 + 8 per edge) and its table slot (16) about 150 bytes.
    /// Fail loudly if it grows.
    #[test]
    fn a_job_record_stays_small() {
        let size = core::mem::size_of::<Job>();
        assert!(size <= 80, "Job is {size} bytes");
        assert_eq!(core::mem::size_of::<DependencyRef>(), 8);
    }
}
