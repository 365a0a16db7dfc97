//! What the records of one `submit_many` batch share (one `Arc<Batch>`):
//!
//! - its **dependency lists**, one after another, in one allocation: the
//!   record at position `p` has incarnation `first_incarnation + p` (a
//!   batch's incarnations are consecutive) and reads its list at `p`
//!   (`Dependencies`), until `add_dependencies` gives it one of its own;
//!   an edge to another job of the batch is that job's position and the
//!   edge's kind in a `u32` ([`BatchLists`]);
//! - its **dependents inside itself**, by position: each position's
//!   dependents' positions with their edges' kinds, packed into one `u32`
//!   an edge (a compressed sparse row, [`DependentEdges`]);
//! - its **records**, in batch order, while a job with dependents in the
//!   batch has not ended.
//!
//! A batch job with dependents in the batch registers them without a node:
//! its dependents list is made *marked* (`dependents.rs`), and whoever
//! seals the list reads them here, at the job's position. Registering them
//! costs no allocation (a node a job was a malloc at submit and a free at
//! the seal, ~190 and ~80 instructions: BENCHMARKS.md, issue 12, ninth
//! session) and releasing them no reference count.
//!
//! The batch holds its records, and every record with a list or dependents
//! in the batch holds the batch: a cycle, which the batch breaks itself.
//! It counts its jobs with dependents in it whose lists are not sealed yet
//! (`unsealed`); the seal that brings the count to zero takes the records
//! out, and `JobQueue`'s drop takes them from every batch still holding
//! them. A batch's records are therefore freed together, once every one of
//! its jobs with dependents in it has ended (or its queue is dropped),
//! however early each was pruned from the job table.

use super::{dismantle, DependencyList, DependencyRef, Job};
use crate::faults::Faults;
use crate::ids::JobId;
use crate::spec::DependencyKind;
use crate::sync::{snapshot_load, snapshot_new, snapshot_store, snapshot_swap};
use crate::sync::{AtomicUsize, Ordering, Snapshot};
use std::sync::Arc;

/// The most jobs a batch may have (`MAX_BATCH`, `Error::BatchTooLarge`
/// beyond): a position and an edge's kind share a `u32`.
pub(crate) const MAX_LINKED_BATCH: usize = 1 << 30;

/// How many dependents ahead a seal prefetches the state word of the one
/// it will release (`Batch::seal_dependents_of`).
const RELEASE_AHEAD: usize = 4;

/// Each position's dependents in a batch, by position (a compressed
/// sparse row): `edges[starts[p]..starts[p + 1]]` are position `p`'s, in
/// batch order, each a dependent's position above the two bits of its
/// edge's kind. Built by `submit_many`'s graph (which orders the batch by
/// it) and then moved into the batch.
#[derive(Default)]
pub(crate) struct DependentEdges {
    starts: Box<[usize]>,
    edges: Box<[u32]>,
}

impl DependentEdges {
    /// Packs a dependent's `position` and its edge's `kind` into one edge.
    #[inline]
    pub(crate) fn edge(position: usize, kind: DependencyKind) -> u32 {
        debug_assert!(position < MAX_LINKED_BATCH);
        (position as u32) << 2 | kind.bits()
    }

    /// A packed edge's dependent position and kind.
    #[inline]
    pub(crate) fn unpack(edge: u32) -> (usize, DependencyKind) {
        ((edge >> 2) as usize, DependencyKind::from_bits(edge))
    }

    /// The rows `edges[starts[p]..starts[p + 1]]` (packed by
    /// [`edge`](Self::edge)).
    pub(crate) fn new(starts: Vec<usize>, edges: Vec<u32>) -> Self {
        debug_assert_eq!(starts.last().copied(), Some(edges.len()));
        DependentEdges {
            starts: starts.into_boxed_slice(),
            edges: edges.into_boxed_slice(),
        }
    }

    /// Whether position `position` has dependents (none in an empty table:
    /// a batch published as single submits would publish it).
    #[inline]
    pub(crate) fn has_dependents(&self, position: usize) -> bool {
        self.starts
            .get(position..position + 2)
            .is_some_and(|row| row[0] != row[1])
    }

    /// Position `position`'s dependents, in batch order, each with the kind
    /// of its edge.
    #[inline]
    pub(crate) fn of(
        &self,
        position: usize,
    ) -> impl Iterator<Item = (usize, DependencyKind)> + Clone + '_ {
        let row = match self.starts.get(position..position + 2) {
            Some(row) => &self.edges[row[0]..row[1]],
            None => &[],
        };
        row.iter().map(|&edge| Self::unpack(edge))
    }

    /// How many positions have dependents.
    fn positions_with_dependents(&self) -> usize {
        self.starts
            .windows(2)
            .filter(|row| row[0] != row[1])
            .count()
    }
}

/// A batch's dependency lists, one after another, an edge in a `u32`:
/// `edges[starts[p]..starts[p + 1]]` is position `p`'s, and the record at
/// position `p` has incarnation `first_incarnation + p`. An edge to another
/// job of the batch is that job's position above the two bits of its kind
/// (the id is `ids[position]`, the incarnation follows from the position);
/// an edge to a job already in the queue is the code [`OUTSIDE`], and the
/// edge itself is the next of its row's in `outside` (the rows' slices of
/// it start at `outside_starts`, which is empty when no edge leaves the
/// batch). 4 bytes an edge and 8 a job, where a `DependencyRef` an edge
/// was 16: a 100k-job workflow of ~10 edges a job holds 11 MB less, and
/// `submit_many` writes and reads back that much less (BENCHMARKS.md,
/// issue 12, eleventh session). Built by `submit_many`'s graph, which
/// reads them to order the batch, then moved into the batch.
pub(crate) struct BatchLists<T> {
    edges: Box<[u32]>,
    starts: Box<[usize]>,
    ids: Box<[JobId]>,
    outside: Box<[DependencyRef<T>]>,
    outside_starts: Box<[usize]>,
    first_incarnation: u64,
}

/// The code of an edge that leaves the batch (no kind's code is 3).
pub(crate) const OUTSIDE: u32 = 3;

impl<T> BatchLists<T> {
    /// The lists `edges[starts[p]..starts[p + 1]]` of the records with
    /// incarnations `first_incarnation + p` and ids `ids[p]`; the edges
    /// leaving the batch in batch order, `outside[outside_starts[p]..
    /// outside_starts[p + 1]]` position `p`'s (no starts: none leaves).
    pub(crate) fn new(
        edges: Vec<u32>,
        starts: Vec<usize>,
        ids: Vec<JobId>,
        outside: Vec<DependencyRef<T>>,
        outside_starts: Vec<usize>,
        first_incarnation: u64,
    ) -> Self {
        debug_assert_eq!(starts.last().copied(), Some(edges.len()));
        debug_assert_eq!(starts.len(), ids.len() + 1);
        debug_assert!(
            outside_starts.is_empty() && outside.is_empty()
                || outside_starts.len() == starts.len()
                    && outside_starts.last().copied() == Some(outside.len())
        );
        BatchLists {
            edges: edges.into_boxed_slice(),
            starts: starts.into_boxed_slice(),
            ids: ids.into_boxed_slice(),
            outside: outside.into_boxed_slice(),
            outside_starts: outside_starts.into_boxed_slice(),
            first_incarnation,
        }
    }

    /// The code of an edge to the batch's job at `position`, of `kind`.
    #[inline]
    pub(crate) fn inside_edge(position: usize, kind: DependencyKind) -> u32 {
        debug_assert!(position < MAX_LINKED_BATCH);
        (position as u32) << 2 | kind.bits()
    }

    /// The position and kind of an edge inside the batch; `None` for an
    /// edge that leaves it.
    #[inline]
    pub(crate) fn inside(code: u32) -> Option<(usize, DependencyKind)> {
        (code & 3 != OUTSIDE).then(|| ((code >> 2) as usize, DependencyKind::from_bits(code)))
    }

    /// How many positions it has.
    pub(crate) fn len(&self) -> usize {
        self.starts.len().saturating_sub(1)
    }

    /// Position `position`'s edges, coded.
    #[inline]
    pub(crate) fn row(&self, position: usize) -> &[u32] {
        &self.edges[self.starts[position]..self.starts[position + 1]]
    }

    /// Position `position`'s dependency list.
    #[inline]
    pub(crate) fn of(&self, position: usize) -> BatchEdges<'_, T> {
        let outside = match self.outside_starts.get(position..position + 2) {
            Some(row) => &self.outside[row[0]..row[1]],
            None => &[],
        };
        BatchEdges {
            lists: self,
            codes: self.row(position),
            outside,
        }
    }

    /// The position of the batch's record with `incarnation`, or `None` for
    /// a record of no position of it: the batch's incarnations were drawn
    /// for it alone, so an edge whose incarnation is in their range is an
    /// edge inside the batch.
    #[inline]
    pub(crate) fn position(&self, incarnation: u64) -> Option<usize> {
        let offset = incarnation.wrapping_sub(self.first_incarnation);
        (offset < self.len() as u64).then_some(offset as usize)
    }
}

impl<T> Default for BatchLists<T> {
    fn default() -> Self {
        BatchLists::new(Vec::new(), vec![0], Vec::new(), Vec::new(), Vec::new(), 0)
    }
}

/// One position's dependency list in its batch's lists (see
/// [`BatchLists`]), in its spec's order.
pub(crate) struct BatchEdges<'a, T> {
    lists: &'a BatchLists<T>,
    codes: &'a [u32],
    /// The row's edges that leave the batch, in order.
    outside: &'a [DependencyRef<T>],
}

impl<T> Clone for BatchEdges<'_, T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T> Copy for BatchEdges<'_, T> {}

impl<'a, T> BatchEdges<'a, T> {
    /// How many edges.
    #[inline]
    pub(crate) fn len(&self) -> usize {
        self.codes.len()
    }

    /// Whether it has none.
    #[inline]
    pub(crate) fn is_empty(&self) -> bool {
        self.codes.is_empty()
    }

    /// The edges, in order.
    #[inline]
    pub(crate) fn iter(&self) -> impl Iterator<Item = DependencyRef<T>> + 'a {
        let lists = self.lists;
        let mut outside = self.outside.iter();
        self.codes
            .iter()
            .map(move |&code| match BatchLists::<T>::inside(code) {
                Some((position, kind)) => DependencyRef::to_parts(
                    lists.ids[position],
                    lists.first_incarnation + position as u64,
                    kind,
                ),
                None => *outside
                    .next()
                    .expect("a row has an outside edge for each of its OUTSIDE codes"),
            })
    }
}

/// What a batch's records share; see the module docs.
pub(crate) struct Batch<T> {
    lists: BatchLists<T>,
    dependents: DependentEdges,
    /// The records, in batch order (set by [`link`](Self::link) before any
    /// is published), until the last of its jobs with dependents in it
    /// seals its list.
    records: Snapshot<Box<[Arc<Job<T>>]>>,
    /// Its jobs with dependents in it whose lists are not sealed yet.
    unsealed: AtomicUsize,
    /// Loom negative controls only (zero-sized otherwise).
    faults: Faults,
}

impl<T> Batch<T> {
    /// The batch of `lists`, whose dependents in it are `dependents` (an
    /// empty table when none is registered through it), applying `faults`.
    pub(crate) fn new(lists: BatchLists<T>, dependents: DependentEdges, faults: Faults) -> Self {
        Batch {
            lists,
            dependents,
            records: snapshot_new(None),
            unsealed: AtomicUsize::new(0),
            faults,
        }
    }

    /// Position `position`'s dependency list.
    #[inline]
    pub(crate) fn of(&self, position: usize) -> BatchEdges<'_, T> {
        self.lists.of(position)
    }

    /// The position of the batch's record with `incarnation` (one of its
    /// records: a record holds its own batch only).
    #[inline]
    fn position(&self, incarnation: u64) -> usize {
        debug_assert!(self.lists.position(incarnation).is_some());
        (incarnation - self.lists.first_incarnation) as usize
    }

    /// The dependency list of the batch's record with `incarnation`.
    #[inline]
    pub(crate) fn of_incarnation(&self, incarnation: u64) -> BatchEdges<'_, T> {
        self.of(self.position(incarnation))
    }

    /// Whether the batch's record with `incarnation` has dependents in the
    /// batch (its dependents list is then made marked).
    #[inline]
    pub(crate) fn has_dependents_at(&self, incarnation: u64) -> bool {
        self.dependents.has_dependents(self.position(incarnation))
    }

    /// What the record at `position` is made with: the batch, if it has a
    /// list or dependents in it; otherwise an empty list of its own (it
    /// then holds nothing of the batch).
    pub(crate) fn list_of(self: &Arc<Self>, position: usize) -> DependencyList<T> {
        if self.of(position).is_empty() && !self.dependents.has_dependents(position) {
            DependencyList::Own(Vec::new())
        } else {
            DependencyList::Batch(Arc::clone(self))
        }
    }

    /// Gives the batch its records (batch order), before any is published,
    /// if any of its jobs has dependents in it; whether it took them (the
    /// queue then keeps a `Weak` of the batch, to break the cycle at its
    /// drop).
    ///
    /// Relaxed count: the records are published afterwards (each by a
    /// Release store or CAS of its state word), and a list is sealed only
    /// after its job's state was read with Acquire, so every sealer sees it.
    pub(crate) fn link(&self, records: impl FnOnce() -> Box<[Arc<Job<T>>]>) -> bool {
        let count = self.dependents.positions_with_dependents();
        if count == 0 {
            return false;
        }
        self.unsealed.store(count, Ordering::Relaxed);
        snapshot_store(&self.records, Some(Arc::new(records())));
        true
    }

    /// The marked list of the record with `incarnation` was sealed: hands
    /// each of its dependents in the batch, with the kind of its edge, to
    /// `f`, in batch order; frees the records if it was the last.
    #[inline]
    pub(crate) fn seal_dependents_of(
        &self,
        incarnation: u64,
        mut f: impl FnMut(&Arc<Job<T>>, DependencyKind),
    ) {
        if let Some(records) = snapshot_load(&self.records) {
            let dependents = self.dependents.of(self.position(incarnation));
            // Each dependent's state word is a miss to memory in a large
            // batch (its records are scattered): their prefetches are
            // issued a few dependents ahead, so the misses overlap.
            let mut ahead = dependents.clone();
            for (dependent, _) in ahead.by_ref().take(RELEASE_AHEAD) {
                Job::prefetch_word(Arc::as_ptr(&records[dependent]));
            }
            for (dependent, kind) in dependents {
                if let Some((later, _)) = ahead.next() {
                    Job::prefetch_word(Arc::as_ptr(&records[later]));
                }
                f(&records[dependent], kind);
            }
        }
        if let Some(records) = self.sealed_one() {
            dismantle(records);
        }
    }

    /// The marked list of a record was sealed by its drop: if it was the
    /// last, adds the records to `held` (see `Job`'s drop).
    pub(crate) fn give_up_dependents(&self, held: &mut Vec<Arc<Job<T>>>) {
        if let Some(records) = self.sealed_one() {
            held.extend(records);
        }
    }

    /// Takes the records out, if it still holds them, into `held`
    /// (`JobQueue`'s drop).
    pub(crate) fn unlink(&self, held: &mut Vec<Arc<Job<T>>>) {
        if let Some(records) = self.take() {
            held.extend(records);
        }
    }

    /// One marked list sealed: the records, if that was the last.
    ///
    /// AcqRel, as a reference count: each sealer reads the records before
    /// its decrement (Release), and the last one's take comes after every
    /// decrement (Acquire). (The snapshot would keep the records alive for
    /// a late reader in any case; the count only says when to let go.)
    /// With the `early_batch_unlink` fault (loom negative control), the
    /// first seal lets them go.
    fn sealed_one(&self) -> Option<Vec<Arc<Job<T>>>> {
        let last = self.unsealed.fetch_sub(1, Ordering::AcqRel) == 1;
        if last || self.faults.early_batch_unlink() {
            self.take()
        } else {
            None
        }
    }

    /// The records, taken out (once).
    fn take(&self) -> Option<Vec<Arc<Job<T>>>> {
        let records = snapshot_swap(&self.records, None)?;
        Some(match Arc::try_unwrap(records) {
            Ok(records) => records.into_vec(),
            // Still read by a sealer: its copy frees them.
            Err(shared) => shared.to_vec(),
        })
    }

    /// Whether it still holds its records.
    #[cfg(test)]
    pub(crate) fn holds_records(&self) -> bool {
        snapshot_load(&self.records).is_some()
    }
}

impl<T> Drop for Batch<T> {
    /// Never holding records here in practice (a record that holds the
    /// batch is among them): but were it to, they are let go one at a time.
    fn drop(&mut self) {
        if let Some(records) = self.take() {
            dismantle(records);
        }
    }
}

#[cfg(all(test, not(any(dagqueue_loom, dagqueue_shuttle))))]
mod tests {
    use super::*;
    use crate::{JobQueue, JobSpec};
    use DependencyKind::{AfterAny, AfterFailure, AfterSuccess};

    /// Each position's edges, decoded: (id, incarnation, kind).
    fn decoded<T>(lists: &BatchLists<T>, position: usize) -> Vec<(JobId, u64, DependencyKind)> {
        lists
            .of(position)
            .iter()
            .map(|edge| (edge.id, edge.incarnation(), edge.kind()))
            .collect()
    }

    #[test]
    fn coded_lists_decode_to_their_edges_in_order() {
        let out_x = DependencyRef::<()>::to_parts(JobId(77), 5, AfterSuccess);
        let out_y = DependencyRef::<()>::to_parts(JobId(88), 6, AfterAny);
        let lists = BatchLists::new(
            vec![
                BatchLists::<()>::inside_edge(0, AfterAny),
                OUTSIDE,
                BatchLists::<()>::inside_edge(2, AfterFailure),
                OUTSIDE,
            ],
            vec![0, 0, 3, 4],
            vec![JobId(10), JobId(11), JobId(12)],
            vec![out_x, out_y],
            vec![0, 0, 1, 2],
            1_000,
        );
        assert_eq!(decoded(&lists, 0), vec![]);
        assert_eq!(
            decoded(&lists, 1),
            vec![
                (JobId(10), 1_000, AfterAny),
                (JobId(77), 5, AfterSuccess),
                (JobId(12), 1_002, AfterFailure)
            ]
        );
        assert_eq!(decoded(&lists, 2), vec![(JobId(88), 6, AfterAny)]);
        assert_eq!(lists.of(1).len(), 3);
        assert_eq!(BatchLists::<()>::inside(OUTSIDE), None);
        assert_eq!(
            BatchLists::<()>::inside(BatchLists::<()>::inside_edge(2, AfterFailure)),
            Some((2, AfterFailure))
        );
        assert_eq!(
            (lists.position(1_002), lists.position(1_003)),
            (Some(2), None)
        );
    }

    #[test]
    fn a_batch_records_lists_name_batch_and_queue_jobs_in_spec_order() {
        let q = JobQueue::new();
        q.submit(JobSpec::new(JobId(100))).unwrap();
        q.submit(JobSpec::new(JobId(200))).unwrap();
        // Job 1 has no edge leaving the batch, job 3 the first one (the
        // rows' outside starts are made there), job 4 two, between edges
        // inside the batch, named before some of them.
        q.submit_many([
            JobSpec::new(JobId(1)),
            JobSpec::new(JobId(2)).depends_on([JobId(1)]),
            JobSpec::new(JobId(3)).depends_on_kind(AfterAny, [JobId(200), JobId(2)]),
            JobSpec::new(JobId(4))
                .depends_on([JobId(5)])
                .depends_on_kind(AfterFailure, [JobId(100)])
                .depends_on([JobId(3), JobId(200)]),
            JobSpec::new(JobId(5)),
        ])
        .unwrap();
        let edges = |id: u64| -> Vec<(JobId, u64, DependencyKind)> {
            let job = q.lookup(JobId(id)).unwrap();
            let list = job.dependency_list();
            list.iter()
                .map(|edge| (edge.id, edge.incarnation(), edge.kind()))
                .collect()
        };
        let incarnation = |id: u64| q.lookup(JobId(id)).unwrap().incarnation;
        assert_eq!(edges(1), vec![]);
        assert_eq!(edges(2), vec![(JobId(1), incarnation(1), AfterSuccess)]);
        assert_eq!(
            edges(3),
            vec![
                (JobId(200), incarnation(200), AfterAny),
                (JobId(2), incarnation(2), AfterAny)
            ]
        );
        assert_eq!(
            edges(4),
            vec![
                (JobId(5), incarnation(5), AfterSuccess),
                (JobId(100), incarnation(100), AfterFailure),
                (JobId(3), incarnation(3), AfterSuccess),
                (JobId(200), incarnation(200), AfterSuccess)
            ]
        );
        assert_eq!(edges(5), vec![]);
    }
}
