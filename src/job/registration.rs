//! What a job's dependents list holds: a registration of one dependent
//! (`submit`, `add_dependencies`: one node per edge), or a job's place in
//! its batch's table of dependents (`submit_many`: one node for all of its
//! dependents in the batch).
//!
//! A batch's table ([`BatchDependents`]) is built once, before the batch
//! is published, and never changes: the batch's records (one `Arc` each)
//! and, for each position, the positions of its dependents in the batch
//! and the kinds of their edges, packed into one `u32` an edge (a
//! compressed sparse row). Registering a batch job's dependents then costs
//! one `Arc` clone of the table, not one of each dependent, and releasing
//! them touches no reference count at all.
//!
//! The table holds every record of its batch, and each batch job with
//! dependents in the batch holds the table on its list until it is
//! sealed: a cycle, broken when the list is sealed (the job ends), or by
//! `JobQueue`'s drop (which keeps a `Weak` of each table it made and seals
//! the lists of the jobs of every table still alive). A batch's records are therefore freed together,
//! once every one of its jobs with dependents in it has ended (or its
//! queue is dropped), however early each was pruned from the table.

use super::Job;
use crate::spec::DependencyKind;
use std::sync::Arc;

/// One node's worth of dependents. 16 bytes either way (the tag fits
/// beside the position), so a one-dependent node costs no more than the
/// `Arc` and the kind it holds.
pub(crate) enum Registration<T> {
    /// One dependent and the kind of its edge.
    One {
        job: Arc<Job<T>>,
        kind: DependencyKind,
    },
    /// The dependents in its batch of the job at `position` in it.
    Batch {
        table: Arc<BatchDependents<T>>,
        position: u32,
    },
}

impl<T> Registration<T> {
    /// Hands each dependent it registers, with the kind of its edge, to
    /// `f`, in registration order; then drops itself.
    #[inline]
    pub(crate) fn for_each(self, mut f: impl FnMut(&Arc<Job<T>>, DependencyKind)) {
        match self {
            Registration::One { job, kind } => f(&job, kind),
            Registration::Batch { table, position } => {
                for (job, kind) in table.dependents_of(position) {
                    f(job, kind);
                }
            }
        }
    }

    /// Takes it apart without dropping a record: the dependent it holds, or
    /// its batch's table (see `Job`'s drop).
    pub(crate) fn into_held(self) -> Held<T> {
        match self {
            Registration::One { job, .. } => Held::Job(job),
            Registration::Batch { table, .. } => Held::Table(table),
        }
    }
}

/// A reference that a dismantling job gives up (`Job`'s drop): dropped in a
/// loop, never from inside another record's drop.
pub(crate) enum Held<T> {
    Job(Arc<Job<T>>),
    Table(Arc<BatchDependents<T>>),
}

/// The most jobs a batch may have (`MAX_BATCH`, `Error::BatchTooLarge`
/// beyond): a position and an edge's kind share a `u32`.
pub(crate) const MAX_LINKED_BATCH: usize = 1 << 30;

/// Each position's dependents in a batch, by position (a compressed
/// sparse row): `edges[starts[p]..starts[p + 1]]` are position `p`'s, in
/// batch order, each a dependent's position above the two bits of its
/// edge's kind. Built by `submit_many`'s graph (which orders the batch by
/// it) and then moved into the batch's table.
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

    /// Whether position `position` has dependents.
    pub(crate) fn has_dependents(&self, position: usize) -> bool {
        self.starts[position] != self.starts[position + 1]
    }

    /// Position `position`'s dependents, in batch order, each with the kind
    /// of its edge.
    #[inline]
    pub(crate) fn of(&self, position: usize) -> impl Iterator<Item = (usize, DependencyKind)> + '_ {
        self.edges[self.starts[position]..self.starts[position + 1]]
            .iter()
            .map(|&edge| Self::unpack(edge))
    }
}

/// A batch's dependents inside itself: see the module docs.
pub(crate) struct BatchDependents<T> {
    /// The batch's records, in batch order.
    jobs: Box<[Arc<Job<T>>]>,
    dependents: DependentEdges,
}

impl<T> BatchDependents<T> {
    /// The table of `jobs` (batch order), whose dependents are `dependents`.
    pub(crate) fn new(jobs: Box<[Arc<Job<T>>]>, dependents: DependentEdges) -> Self {
        debug_assert_eq!(dependents.starts.len(), jobs.len() + 1);
        BatchDependents { jobs, dependents }
    }

    /// Whether position `position` has dependents in the batch.
    pub(crate) fn has_dependents(&self, position: usize) -> bool {
        self.dependents.has_dependents(position)
    }

    /// Position `position`'s dependents in the batch, in batch order, each
    /// with the kind of its edge.
    #[inline]
    pub(crate) fn dependents_of(
        &self,
        position: u32,
    ) -> impl Iterator<Item = (&Arc<Job<T>>, DependencyKind)> {
        self.dependents
            .of(position as usize)
            .map(|(dependent, kind)| (&self.jobs[dependent], kind))
    }

    /// Its records, in batch order.
    pub(crate) fn jobs(&self) -> &[Arc<Job<T>>] {
        &self.jobs
    }

    /// Gives up its records (see `Job`'s drop).
    pub(crate) fn into_jobs(self) -> Vec<Arc<Job<T>>> {
        self.jobs.into_vec()
    }
}
