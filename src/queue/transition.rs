//! The one step after every transition of a job's state word: count it in
//! the status counts and, when someone subscribes, write its event.
//!
//! Every operation that changes a job's word calls a `StateWord` method with
//! [`marking`](JobQueue::marking)'s answer, then hands the old and new words
//! to [`transitioned`](JobQueue::transitioned). Nothing else changes a word.

use super::JobQueue;
use crate::job::word::{Enqueue, Word};
use crate::job::Job;

impl<T> JobQueue<T> {
    /// Whether the transitions of an operation starting now are marked for
    /// their events: one Relaxed load (see `events.rs`), false while nobody
    /// subscribes.
    #[inline]
    pub(super) fn marking(&self) -> bool {
        false
    }

    /// After the CAS `old` → `new` of `job`'s word: counts it and, if it is
    /// marked, writes its event and clears the mark.
    #[inline]
    pub(super) fn transitioned(&self, job: &Job<T>, old: Word, new: Word) {
        self.counts.count(job.group().index, old, new);
        if new.is_marked() {
            job.word.unmark(new);
        }
    }

    /// One unit of a waiting job's wait is done (a dependency, the submit
    /// guard, a timer): where to enqueue it if that made it pending.
    #[inline]
    pub(super) fn release_one(&self, job: &Job<T>) -> Option<Enqueue> {
        let (old, new) = job.word.release_one(self.marking())?;
        self.transitioned(job, old, new);
        Enqueue::if_pending(new)
    }
}
