//! The job record: what never changes about a job, plus its state word, its
//! dependency snapshot and its dependents list.

pub(crate) mod batch;
pub(crate) mod dependencies;
pub(crate) mod dependents;
pub(crate) mod lease;
pub(crate) mod registration;
pub(crate) mod word;

use crate::ids::{JobId, RunnerType};
use crate::lanes::LaneGroup;
use crate::set_once::SetOnce;
use crate::spec::DependencyKind;
use crate::spec::Resources;
pub(crate) use batch::Batch;
use dependencies::Dependencies;
pub(crate) use dependencies::{DependencyList, DependencyRef};
use dependents::DependentsList;
use lease::Timestamp;
pub(crate) use registration::Registration;
use std::sync::Arc;
use word::{StateWord, Word};

impl<T> Drop for Job<T> {
    /// A job's dependents list holds its dependents (`Arc`s), and a batch
    /// job's batch may hold its batch's records: dropped as fields, the
    /// last reference to a job would drop its dependents' from inside its
    /// own drop, a stack frame a job down a chain of waiting jobs (a
    /// 300,000-job chain overflowed the stack when its queue was dropped).
    /// Instead the dependents are taken out here and let go in a loop; a
    /// job whose last reference this is gives up what it holds to the loop
    /// first.
    fn drop(&mut self) {
        let mut dropping: Vec<Arc<Job<T>>> = Vec::new();
        self.give_up_dependents(&mut dropping);
        dismantle(dropping);
    }
}

/// Drops `held` and everything only it keeps alive, one record at a time
/// (see `Job`'s drop).
pub(crate) fn dismantle<T>(mut held: Vec<Arc<Job<T>>>) {
    while let Some(job) = held.pop() {
        if let Some(job) = Arc::into_inner(job) {
            job.give_up_dependents(&mut held);
            // `job` drops here with an empty list: no recursion.
        }
    }
}

/// One job. Shared as `Arc<Job>` by the job table, lane entries and the
/// dependents lists of its dependencies.
///
/// Size: 88 bytes (72 before claims named an incarnation and jobs had a
/// lease; its lane group in one pointer, not a 16-byte `OnceLock`, made
/// room for a batch job's lists); 104 with its `Arc` header (a 112-byte
/// heap block with glibc's malloc, the most that block holds), plus its
/// table slot (16) and, with dependencies of its own, one
/// shared list (40 bytes + 16 a dependency edge: the dependency and its kind;
/// a `submit_many` job's edges are in its batch's lists, 4 bytes an edge
/// inside the batch and 8 a job: `batch.rs`). A finished job's dependents
/// list is empty (sealed) and it is in no lane, so that is all it keeps
/// until pruned. Its cluster is its lane group's. Its state word lies
/// on a different cache line from the `Arc` header (see `word`).
#[repr(C)]
pub(crate) struct Job<T = ()> {
    /// Unique to this record in the process (`sync::next_incarnation`): a
    /// claim's ticket and the per-record notes are keyed by it.
    pub(crate) incarnation: u64,
    pub(crate) id: JobId,
    /// Its lease in ms (0: none), from its spec or the queue's default.
    pub(crate) lease_millis: u32,
    pub(crate) max_retries: u32,
    pub(crate) runner: RunnerType,
    /// Where its last event is in the event rings (`events::Link`; 0:
    /// none); written and read only by a thread whose transition marked the
    /// word. 32 bits, in what was padding.
    pub(crate) last_event: crate::sync::AtomicU32,
    pub(crate) resources: Resources,
    /// Its lane group; set once by `submit` before the job is published
    /// (one pointer: `set_once.rs`).
    pub(crate) group: SetOnce<LaneGroup<T>>,
    /// Its dependencies, by id and incarnation (`DependencyRef`): a pruned
    /// dependency is freed, and a new job reusing a pruned id is never
    /// mistaken for it.
    pub(crate) dependencies: Dependencies<T>,
    /// State, attempt, priority, level, remaining dependencies, version.
    /// At byte 64 of the record, `timestamp` beside it (`repr(C)` keeps
    /// this order): the record is 16-aligned behind a 16-byte `Arc` header,
    /// so these two words (bytes 80..96 of the heap block) always share one
    /// cache line, and never the header's: a submitter cloning the `Arc`
    /// of a dependency (every edge) does not write the line every claim,
    /// start and completion CASes.
    pub(crate) word: StateWord,
    /// While pending, when it became pending (µs since the queue's epoch);
    /// while claimed with a lease, the lease (`lease.rs`).
    pub(crate) timestamp: Timestamp,
    /// The jobs waiting on this one; sealed when it finishes.
    pub(crate) dependents: DependentsList<Registration<T>>,
    /// What the user gave it to carry to its worker (`JobSpec::payload`);
    /// zero bytes for `()`. Last, so it changes no other field's place.
    pub(crate) payload: T,
}

impl<T> Job<T> {
    /// Prefetches the cache line of the state word of the record at
    /// `record` (a release's CAS, and its timestamp). A hint, as
    /// [`prefetch`](Self::prefetch).
    #[inline(always)]
    pub(crate) fn prefetch_word(record: *const Job<T>) {
        crate::sync::prefetch(
            record
                .cast::<u8>()
                .wrapping_add(core::mem::offset_of!(Job<T>, word)),
        );
    }

    /// Prefetches the cache lines of the record at `record` that a claim
    /// and its completion touch: from its `Arc` header (the counts, 16
    /// bytes before the record) to the end of its fields, the payload
    /// included up to four lines in all. A hint: `record` may be dangling
    /// (another claimer may have taken and dropped it); nothing is read.
    #[inline(always)]
    pub(crate) fn prefetch(record: *const Job<T>) {
        const LINE: usize = 64;
        const ARC_HEADER: usize = 16;
        let start = record.cast::<u8>().wrapping_sub(ARC_HEADER);
        let span = (ARC_HEADER + core::mem::size_of::<Job<T>>()).min(4 * LINE);
        let mut offset = 0;
        while offset < span {
            crate::sync::prefetch(start.wrapping_add(offset));
            offset += LINE;
        }
        // The last line, when the span ends past the last line started.
        crate::sync::prefetch(start.wrapping_add(span - 1));
    }

    pub(crate) fn new(
        spec: &crate::spec::JobSpec,
        payload: T,
        word: Word,
        dependencies: DependencyList<T>,
        lease_millis: u32,
        faults: crate::faults::Faults,
        incarnation: u64,
    ) -> Job<T> {
        // A batch job with dependents in its batch: they are registered by
        // the mark on its list (`batch.rs`).
        let marked = matches!(&dependencies,
            DependencyList::Batch(batch) if batch.has_dependents_at(incarnation));
        Job {
            id: spec.id(),
            incarnation,
            word: StateWord::new(word, faults),
            runner: spec.get_runner(),
            max_retries: spec.get_max_retries(),
            resources: spec.get_resources(),
            group: SetOnce::new(),
            last_event: crate::sync::AtomicU32::new(0),
            dependents: DependentsList::with_faults(faults, marked),
            dependencies: Dependencies::new(dependencies),
            timestamp: Timestamp::new(),
            lease_millis,
            payload,
        }
    }

    /// A record of no queue, with only an id and an incarnation (what a
    /// made-up claim names: see `Claim::__from_parts`). It has no lane
    /// group, so every queue takes a report of it as stale.
    pub(crate) fn detached(id: JobId, incarnation: u64, payload: T) -> Job<T> {
        Job::new(
            &crate::spec::JobSpec::new(id),
            payload,
            Word::reserved(crate::spec::Priority::Normal, 1),
            Vec::new().into(),
            0,
            crate::faults::Faults::default(),
            incarnation,
        )
    }

    /// Seals its dependents list and hands each registered dependent, with
    /// the kind of its edge, to `f`, in registration order: first its
    /// dependents in its batch (a marked list: `batch.rs`), then each node's.
    #[inline]
    pub(crate) fn seal_dependents(&self, mut f: impl FnMut(&Arc<Job<T>>, DependencyKind)) {
        // Each dependent's state word is likely a miss to memory in a large
        // queue: prefetched as the seal walks the list, so that the misses
        // overlap instead of following one another in `f`'s releases.
        let (sealed, batch) = self.seal_list(|registration| {
            Job::prefetch_word(Arc::as_ptr(&registration.job));
        });
        if let Some(batch) = batch {
            batch.seal_dependents_of(self.incarnation, &mut f);
        }
        for registration in sealed {
            f(&registration.job, registration.kind);
        }
    }

    /// Seals its dependents list and adds the dependents it held to `held`
    /// (and, if it was its batch's last job with dependents in it, the
    /// batch's records), without dropping a record (see `Job`'s drop).
    pub(crate) fn give_up_dependents(&self, held: &mut Vec<Arc<Job<T>>>) {
        let (sealed, batch) = self.seal_list(|_| {});
        if let Some(batch) = batch {
            batch.give_up_dependents(held);
        }
        held.extend(sealed.map(|registration| registration.job));
    }

    /// Seals its dependents list (each registration handed to `visit` on
    /// the way): what the seal took, and the batch that lists its other
    /// dependents if the list was marked.
    fn seal_list(
        &self,
        visit: impl FnMut(&Registration<T>),
    ) -> (dependents::Sealed<Registration<T>>, Option<&Arc<Batch<T>>>) {
        let sealed = self.dependents.seal_visiting(visit);
        let batch = sealed.marked().then(|| self.dependencies.batch()).flatten();
        (sealed, batch)
    }

    /// Its dependency list (see `Dependencies`).
    #[inline]
    pub(crate) fn dependency_list(&self) -> dependencies::Edges<'_, T> {
        self.dependencies.load(self.incarnation)
    }

    /// Its lane group (always set once the job is visible).
    #[inline]
    pub(crate) fn group(&self) -> &LaneGroup<T> {
        self.group
            .get()
            .expect("a published job has its lane group")
    }

    /// Records when it became pending.
    #[inline]
    pub(crate) fn set_ready_at(&self, micros: u64) {
        self.timestamp.set_ready_at(micros);
    }

    /// When it became pending (meaningful while it is pending).
    #[inline]
    pub(crate) fn ready_at(&self) -> u64 {
        self.timestamp.ready_at()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The documented footprint of a job (docs/DESIGN.md): the record is 88
    /// bytes, 104 with its `Arc` header, which glibc serves from a 112-byte
    /// block (the most it holds: one more word would take a 128-byte one);
    /// a job without dependencies allocates no dependency list, a batch job
    /// none of its own. Fail loudly if it grows.
    #[test]
    fn a_job_record_stays_small() {
        let size = core::mem::size_of::<Job>();
        assert!(size <= 88, "Job is {size} bytes");
        // The state word and the timestamp at 64..80: one cache line,
        // never the `Arc` header's (see `Job::word`).
        assert_eq!(core::mem::offset_of!(Job, word), 64);
        assert_eq!(core::mem::offset_of!(Job, timestamp), 72);
        assert_eq!(core::mem::offset_of!(Job<[u8; 64]>, word), 64);
        // A payload adds its own size and nothing else; `()` adds nothing.
        assert_eq!(core::mem::size_of::<Job<[u8; 64]>>(), size + 64);
        assert_eq!(core::mem::size_of::<DependencyRef<()>>(), 16);
        // Its own list (an `Arc` of a `Vec`, a 40-byte block) or its
        // batch's lists: two words in the record.
        assert_eq!(core::mem::size_of::<Dependencies<()>>(), 16);
        // A dependents-list node per edge: an `Arc` and a kind, 16 bytes,
        // as small with batch tables.
        assert_eq!(core::mem::size_of::<Registration<()>>(), 16);
        let job = Job::new(
            &crate::spec::JobSpec::new(JobId(1)),
            (),
            Word::reserved(crate::spec::Priority::Normal, 1),
            Vec::new().into(),
            0,
            crate::faults::Faults::default(),
            crate::sync::next_incarnation(),
        );
        assert!(job.dependency_list().is_empty());
        assert!(
            job.dependencies.holds_no_list(),
            "an empty list was allocated"
        );
    }
}
