//! A job's dependencies: its edges (`DependencyRef`, by id and
//! incarnation) and its dependency list, a snapshot that `add_dependencies`
//! replaces whole (`Dependencies`): the job's own list, or its slice of its
//! `submit_many` batch's lists (`BatchLists`).

use super::Job;
use crate::ids::JobId;
use crate::spec::DependencyKind;
use crate::sync::{snapshot_load, snapshot_new, snapshot_store, Snapshot};
use core::marker::PhantomData;
use std::sync::Arc;

/// One dependency edge: the dependency named by id and incarnation, and the
/// edge's kind. Not a pointer: an edge keeps nothing alive (a pruned
/// dependency is freed at once) and costs no reference count when it is
/// made or dropped, one of each per edge otherwise. An edge resolves
/// through the job table (`JobQueue::resolve_edge`) to the record it was
/// made for, and to nothing once that record is pruned, even if its id was
/// reused since.
pub(crate) struct DependencyRef<T> {
    pub(crate) id: JobId,
    /// The incarnation above two bits of kind.
    tagged: u64,
    _job: PhantomData<fn() -> T>,
}

impl<T> Clone for DependencyRef<T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T> Copy for DependencyRef<T> {}

impl<T> DependencyRef<T> {
    pub(crate) fn to(job: &Job<T>, kind: DependencyKind) -> DependencyRef<T> {
        Self::to_parts(job.id, job.incarnation, kind)
    }

    /// An edge to the record of `id` that has (or will have) `incarnation`.
    pub(crate) fn to_parts(id: JobId, incarnation: u64, kind: DependencyKind) -> DependencyRef<T> {
        // Incarnations count up from 1,024 a block per thread: far below 2^62.
        debug_assert!(incarnation < 1 << 62);
        DependencyRef {
            id,
            tagged: incarnation << 2 | u64::from(kind.bits()),
            _job: PhantomData,
        }
    }

    /// The incarnation of the record it was made for.
    pub(crate) fn incarnation(&self) -> u64 {
        self.tagged >> 2
    }

    /// The edge's kind.
    pub(crate) fn kind(&self) -> DependencyKind {
        DependencyKind::from_bits((self.tagged & 3) as u32)
    }
}

/// A job's dependency list as a snapshot: replaced whole by
/// `add_dependencies`, read without locks by cycle checks and
/// `dependencies_satisfied`. A job without dependencies (most jobs) holds no
/// list at all, so it costs no allocation.
pub(crate) struct Dependencies<T>(Snapshot<DependencyList<T>>);

/// One dependency list: the job's own, or its slice of the lists of the
/// `submit_many` batch it came in (one allocation for the whole batch's
/// edges, freed with the batch's last record or replaced list).
pub(crate) enum DependencyList<T> {
    Own(Vec<DependencyRef<T>>),
    Batch {
        lists: Arc<BatchLists<T>>,
        position: u32,
    },
}

impl<T> From<Vec<DependencyRef<T>>> for DependencyList<T> {
    fn from(edges: Vec<DependencyRef<T>>) -> Self {
        DependencyList::Own(edges)
    }
}

impl<T> DependencyList<T> {
    fn as_slice(&self) -> &[DependencyRef<T>] {
        match self {
            DependencyList::Own(edges) => edges,
            DependencyList::Batch { lists, position } => lists.of(*position as usize),
        }
    }
}

/// The dependency lists of a batch's jobs, one after another:
/// `edges[starts[p]..starts[p + 1]]` is position `p`'s.
pub(crate) struct BatchLists<T> {
    edges: Box<[DependencyRef<T>]>,
    starts: Box<[usize]>,
}

impl<T> BatchLists<T> {
    /// The lists `edges[starts[p]..starts[p + 1]]`.
    pub(crate) fn new(edges: Vec<DependencyRef<T>>, starts: Vec<usize>) -> Self {
        debug_assert_eq!(starts.last().copied(), Some(edges.len()));
        BatchLists {
            edges: edges.into_boxed_slice(),
            starts: starts.into_boxed_slice(),
        }
    }

    /// Position `position`'s list.
    #[inline]
    pub(crate) fn of(&self, position: usize) -> &[DependencyRef<T>] {
        &self.edges[self.starts[position]..self.starts[position + 1]]
    }

    /// Position `position`'s list, for its record (nothing if empty).
    pub(crate) fn list_of(self: &Arc<Self>, position: usize) -> DependencyList<T> {
        if self.of(position).is_empty() {
            DependencyList::Own(Vec::new())
        } else {
            DependencyList::Batch {
                lists: Arc::clone(self),
                position: position as u32,
            }
        }
    }
}

impl<T> Dependencies<T> {
    pub(crate) fn new(edges: DependencyList<T>) -> Dependencies<T> {
        Dependencies(snapshot_new(Self::shared(edges)))
    }

    /// What the cell holds for `edges`: nothing for an empty list.
    fn shared(edges: DependencyList<T>) -> Option<Arc<DependencyList<T>>> {
        (!edges.as_slice().is_empty()).then(|| Arc::new(edges))
    }

    /// Whether it holds no list at all (no allocation).
    #[cfg(test)]
    pub(crate) fn holds_no_list(&self) -> bool {
        self.0.load().is_none()
    }

    /// The current list.
    #[inline]
    pub(crate) fn load(&self) -> Edges<T> {
        Edges(snapshot_load(&self.0))
    }

    /// Replaces the list.
    pub(crate) fn store(&self, edges: Vec<DependencyRef<T>>) {
        snapshot_store(&self.0, Self::shared(DependencyList::Own(edges)));
    }
}

/// One loaded dependency list (a slice; empty when there is none).
pub(crate) struct Edges<T>(Option<Arc<DependencyList<T>>>);

impl<T> core::ops::Deref for Edges<T> {
    type Target = [DependencyRef<T>];
    fn deref(&self) -> &[DependencyRef<T>] {
        self.0.as_deref().map_or(&[], DependencyList::as_slice)
    }
}
