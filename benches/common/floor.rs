//! The floor: the same lifecycle with only the atomic operations it cannot
//! do without. A bare `SegQueue` of job indices is the ready queue; each job
//! is one `AtomicU64` state word (state + attempt) moved by compare-and-swap
//! (claim, start, complete), plus, for dependencies, an `AtomicU32` of
//! unfinished dependencies and a dependents list fixed when it is built. No
//! map, no priorities, no clusters, no metrics: what any queue must at least
//! pay per job.

use super::{Engine, Spec, Workload};
use crossbeam_queue::SegQueue;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

const WAITING: u64 = 0;
const PENDING: u64 = 1;
const SCHEDULED: u64 = 2;
const RUNNING: u64 = 3;
const COMPLETED: u64 = 4;
const STATE_MASK: u64 = 0xff;
const ATTEMPT_ONE: u64 = 1 << 8;

/// See the module docs.
pub struct Floor {
    ready: SegQueue<u32>,
    state: Box<[AtomicU64]>,
    remaining: Box<[AtomicU32]>,
    dependents: Box<[Vec<u32>]>,
}

impl Floor {
    #[inline]
    fn transition(&self, index: usize, from: u64, to: u64, bump: u64) -> bool {
        let word = &self.state[index];
        let current = word.load(Ordering::Acquire);
        if current & STATE_MASK != from {
            return false;
        }
        let next = ((current & !STATE_MASK) + bump) | to;
        word.compare_exchange(current, next, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
    }
}

impl Engine for Floor {
    const NAME: &'static str = "Floor";
    const BUILDS_WHOLE: bool = true;

    fn empty(capacity: usize) -> Floor {
        Floor {
            ready: SegQueue::new(),
            state: (0..capacity).map(|_| AtomicU64::new(WAITING)).collect(),
            remaining: (0..capacity).map(|_| AtomicU32::new(0)).collect(),
            dependents: (0..capacity).map(|_| Vec::new()).collect(),
        }
    }

    /// Independent jobs only (the dependents lists are fixed by `build`).
    #[inline]
    fn submit(&self, id: u64, spec: &Spec) {
        debug_assert!(spec.deps.is_empty(), "Floor::submit takes independent jobs");
        self.state[id as usize].store(PENDING, Ordering::Release);
        self.ready.push(id as u32);
    }

    fn build(workload: &Workload) -> Floor {
        let mut floor = Floor::empty(workload.len());
        let mut dependents: Vec<Vec<u32>> = vec![Vec::new(); workload.len()];
        for (id, spec) in workload.jobs.iter().enumerate() {
            for &d in &spec.deps {
                dependents[d as usize].push(id as u32);
            }
        }
        floor.dependents = dependents.into_boxed_slice();
        for (id, spec) in workload.jobs.iter().enumerate() {
            if spec.deps.is_empty() {
                floor.state[id].store(PENDING, Ordering::Relaxed);
                floor.ready.push(id as u32);
            } else {
                floor.remaining[id].store(spec.deps.len() as u32, Ordering::Relaxed);
            }
        }
        floor
    }

    #[inline]
    fn step(&self) -> bool {
        let Some(id) = self.ready.pop() else {
            return false;
        };
        let index = id as usize;
        // claim, start, complete: one CAS each.
        let claimed = self.transition(index, PENDING, SCHEDULED, ATTEMPT_ONE);
        debug_assert!(claimed);
        let started = self.transition(index, SCHEDULED, RUNNING, 0);
        debug_assert!(started);
        let completed = self.transition(index, RUNNING, COMPLETED, 0);
        debug_assert!(completed);
        for &dependent in &self.dependents[index] {
            if self.remaining[dependent as usize].fetch_sub(1, Ordering::AcqRel) == 1 {
                self.state[dependent as usize].store(PENDING, Ordering::Release);
                self.ready.push(dependent);
            }
        }
        true
    }
}
