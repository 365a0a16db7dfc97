//! The one step after every transition of a job's state word: count it in
//! the status counts and, when someone subscribes, write its event.
//!
//! Every operation that changes a job's word calls a `StateWord` method with
//! [`marking`](JobQueue::marking)'s answer, then hands the old and new words
//! to [`transitioned`](JobQueue::transitioned). Nothing else changes a word.

use super::{JobQueue, Now};
use crate::counts::Tally;
use crate::events::Subscriber;
use crate::job::word::{Enqueue, Word};
use crate::job::Job;
use crate::local::Local;
use crate::sync::Ordering;
use std::sync::Arc;

impl<T> JobQueue<T> {
    /// Whether the transitions of an operation starting now are marked for
    /// their events: one Relaxed load (see `events.rs`), false while nobody
    /// subscribes.
    #[inline]
    pub(super) fn marking(&self) -> bool {
        self.events.active()
    }

    /// After the CAS `old` → `new` of `job`'s word: counts it and, if it is
    /// marked, writes its event and clears the mark.
    #[inline]
    pub(super) fn transitioned(&self, job: &Job<T>, old: Word, new: Word) {
        self.observe(job, old, new, false);
    }

    /// [`transitioned`](JobQueue::transitioned) for the end of an attempt,
    /// which may have been its lease running out.
    #[inline]
    pub(super) fn attempt_ended(&self, job: &Job<T>, old: Word, new: Word, by_lease: bool) {
        self.observe(job, old, new, by_lease);
    }

    #[inline(always)]
    fn observe(&self, job: &Job<T>, old: Word, new: Word, by_lease: bool) {
        let group = job.group().index;
        let local = self.locals.get();
        match local {
            Some(local) if local.tally.count_own(group, old, new) => {}
            // Off the path (cold, a call): a thread without a tally, a
            // group beyond its inline rows.
            _ => self
                .counts
                .count(local.map(|local| &local.tally), group, old, new),
        }
        if new.is_marked() {
            self.write_event(local, job, old, new, by_lease);
        }
    }

    #[inline(never)]
    fn write_event(
        &self,
        local: Option<&Local>,
        job: &Job<T>,
        old: Word,
        new: Word,
        by_lease: bool,
    ) {
        if self.faults.early_unmark() {
            // Loom negative control: the next transition need not wait.
            job.word.unmark(new);
        }
        // The job's previous event's link, written by the thread that made
        // its previous marked transition before it cleared the mark (our
        // CAS acquired that): Relaxed.
        let previous = job.last_event.load(Ordering::Relaxed);
        // A fresh reading, not the one the operation took when it began:
        // the job's previous event was stamped before its writer cleared
        // the mark, which happened before our CAS, so this reading (a
        // monotonic clock) is never earlier. An earlier reading could be:
        // a claim that began before another thread released the job
        // stamped its Claimed before the job's Ready (the soak saw it).
        let at = Now::unread().get(self);
        let link = self
            .events
            .write(local, job.id, old, new, by_lease, at, previous);
        job.last_event.store(link, Ordering::Relaxed);
        if !self.faults.early_unmark() {
            // Release (in `unmark`): the next transition sees the link and
            // the event.
            job.word.unmark(new);
        }
    }

    /// A receiver of every transition from now on: see [`Subscriber`].
    /// While nobody subscribes, writing events costs one Relaxed load per
    /// operation; while someone does, each transition writes its event to
    /// its thread's ring (plain stores) and a job's next transition waits
    /// for the previous one's event to be written.
    ///
    /// ```
    /// use dagqueue::*;
    /// let q = JobQueue::new();
    /// q.submit(JobSpec::new(JobId(1))).unwrap(); // before: not seen
    /// let mut events = q.subscribe();
    /// q.cancel(JobId(1)).unwrap();
    /// let event = events.try_recv().unwrap();
    /// assert_eq!((event.job, event.kind), (JobId(1), EventKind::Cancelled));
    /// assert_eq!((event.from, event.to), (Some(JobState::Pending), JobState::Cancelled));
    /// ```
    pub fn subscribe(&self) -> Subscriber {
        Subscriber::new(Arc::clone(&self.events))
    }

    /// Runs `step` on this thread's tally (the shared one where this
    /// thread has none: its exit, loom).
    #[inline]
    pub(super) fn with_tally<R>(&self, step: impl Fn(&Tally) -> R) -> R {
        match self.locals.get() {
            Some(local) => step(&local.tally),
            None => step(&self.counts.shared),
        }
    }

    /// Every tally: the threads' (`locals`, from `Locals::all`) and the
    /// shared one.
    fn tallies<'a>(&'a self, locals: &'a [Arc<Local>]) -> impl Iterator<Item = &'a Tally> + Clone {
        locals
            .iter()
            .map(|local| &local.tally)
            .chain([&self.counts.shared])
    }

    /// Jobs submitted and not yet terminal (see `metrics::unfinished`).
    pub(super) fn unfinished(&self) -> u64 {
        crate::metrics::unfinished(self.tallies(&self.locals.all()))
    }

    /// The metrics over every tally.
    pub(super) fn read_metrics(&self, now_secs: u64) -> crate::view::Metrics {
        crate::metrics::read(self.tallies(&self.locals.all()), now_secs)
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
