//! A job's dependencies: its edges (`DependencyRef`, by id and
//! incarnation) and its dependency list, a snapshot that `add_dependencies`
//! replaces whole (`Dependencies`): the job's own list, or its slice of its
//! `submit_many` batch's lists (`Batch`).

use super::batch::{Batch, BatchEdges};
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

/// A job's dependency list: replaced whole by `add_dependencies`, read
/// without locks by cycle checks and `dependencies_satisfied`. Its own list
/// is a snapshot (a job without dependencies, most jobs, holds none, so it
/// costs no allocation); a `submit_many` batch job instead holds its batch's
/// lists and reads its slice of them, at its position (its incarnation less
/// the batch's first: a batch's incarnations are consecutive), until
/// `add_dependencies` gives it a list of its own. No allocation a batch
/// job: an `Arc` of a list for each was ~190 instructions of malloc and 40
/// bytes a job (BENCHMARKS.md, issue 12, eighth session).
pub(crate) struct Dependencies<T> {
    own: Snapshot<Vec<DependencyRef<T>>>,
    /// Set when the record is made, never changed: read only while `own`
    /// holds nothing.
    batch: Option<Arc<Batch<T>>>,
}

/// A dependency list as a record is made with it: its own, or its slice of
/// the lists of the `submit_many` batch it came in (one allocation for the
/// whole batch's edges, freed with the batch's last record).
pub(crate) enum DependencyList<T> {
    Own(Vec<DependencyRef<T>>),
    /// The record's slice of these lists is the one at its incarnation.
    Batch(Arc<Batch<T>>),
}

impl<T> From<Vec<DependencyRef<T>>> for DependencyList<T> {
    fn from(edges: Vec<DependencyRef<T>>) -> Self {
        DependencyList::Own(edges)
    }
}

impl<T> Dependencies<T> {
    pub(crate) fn new(edges: DependencyList<T>) -> Dependencies<T> {
        match edges {
            DependencyList::Own(edges) => Dependencies {
                own: snapshot_new((!edges.is_empty()).then(|| Arc::new(edges))),
                batch: None,
            },
            DependencyList::Batch(batch) => Dependencies {
                own: snapshot_new(None),
                batch: Some(batch),
            },
        }
    }

    /// Whether it holds no list at all (no allocation).
    #[cfg(test)]
    pub(crate) fn holds_no_list(&self) -> bool {
        snapshot_load(&self.own).is_none() && self.batch.is_none()
    }

    /// The current list of the record with `incarnation` (its own).
    #[inline]
    pub(crate) fn load(&self, incarnation: u64) -> Edges<'_, T> {
        match snapshot_load(&self.own) {
            Some(own) => Edges::Own(Some(own)),
            None => match &self.batch {
                Some(batch) => Edges::Batch(batch.of_incarnation(incarnation)),
                None => Edges::Own(None),
            },
        }
    }

    /// The batch the record came in, if it holds it.
    #[inline]
    pub(crate) fn batch(&self) -> Option<&Arc<Batch<T>>> {
        self.batch.as_ref()
    }

    /// Replaces the list. (Kept even when empty for a batch job, whose
    /// batch slice must not show through again.)
    pub(crate) fn store(&self, edges: Vec<DependencyRef<T>>) {
        let keep = !edges.is_empty() || self.batch.is_some();
        snapshot_store(&self.own, keep.then(|| Arc::new(edges)));
    }
}

/// One loaded dependency list (empty when there is none): the job's own,
/// or its slice of its batch's lists.
pub(crate) enum Edges<'a, T> {
    Own(Option<Arc<Vec<DependencyRef<T>>>>),
    Batch(BatchEdges<'a, T>),
}

impl<T> Edges<'_, T> {
    /// How many edges.
    pub(crate) fn len(&self) -> usize {
        match self {
            Edges::Own(own) => own.as_deref().map_or(0, Vec::len),
            Edges::Batch(edges) => edges.len(),
        }
    }

    /// Whether it has none.
    #[cfg(test)]
    pub(crate) fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The edges, in order (by value: a batch's are decoded as they are
    /// read).
    pub(crate) fn iter(&self) -> impl Iterator<Item = DependencyRef<T>> + '_ {
        let (own, batch) = match self {
            Edges::Own(own) => (own.as_deref().map_or(&[][..], Vec::as_slice), None),
            Edges::Batch(edges) => (&[][..], Some(edges.iter())),
        };
        own.iter().copied().chain(batch.into_iter().flatten())
    }
}
