//! Delayed jobs and retry backoff, both halves: a job that may not be
//! claimed yet (its `delay` or `not_before`, or a retry's backoff) is
//! `Waiting` on one more unit of its word's `remaining` count, a timer, and
//! has an entry in the queue's timer heap; when the entry is due, the timer
//! is released like a dependency (`release_one`), so the job enters its lane
//! exactly when nothing else holds it back. It takes no lane slot while it
//! waits.
//!
//! The heap sits behind a lock that only delayed submits, delayed retries
//! and the release of due entries take; a claim only reads the earliest due
//! time (one load of a read-mostly word) and releases the due entries when
//! it has passed. `claim_wait` sleepers wake for it.

use super::JobQueue;
use super::Now;
use crate::job::Job;
use crate::sync::{AtomicBool, AtomicU64, Mutex, Ordering};
use std::cmp::{Ordering as Order, Reverse};
use std::collections::BinaryHeap;
use std::sync::Arc;
use std::time::Duration;

/// A job waiting for its time.
struct TimerEntry<T> {
    due: u64,
    job: Arc<Job<T>>,
}

impl<T> PartialEq for TimerEntry<T> {
    fn eq(&self, other: &TimerEntry<T>) -> bool {
        self.due == other.due
    }
}
impl<T> Eq for TimerEntry<T> {}
impl<T> PartialOrd for TimerEntry<T> {
    fn partial_cmp(&self, other: &TimerEntry<T>) -> Option<Order> {
        Some(self.cmp(other))
    }
}
impl<T> Ord for TimerEntry<T> {
    fn cmp(&self, other: &TimerEntry<T>) -> Order {
        self.due.cmp(&other.due)
    }
}

/// The timer heap and the earliest due time.
pub(super) struct Timers<T> {
    /// Whether any job was ever delayed: until then claims skip the check.
    active: AtomicBool,
    heap: Mutex<BinaryHeap<Reverse<TimerEntry<T>>>>,
    /// The earliest due time in the heap (µs), `u64::MAX` if none; written
    /// under the heap's lock.
    next_due: AtomicU64,
}

impl<T> Timers<T> {
    pub(super) fn new() -> Timers<T> {
        Timers {
            active: AtomicBool::new(false),
            heap: Mutex::new(BinaryHeap::new()),
            next_due: AtomicU64::new(u64::MAX),
        }
    }
}

impl<T> JobQueue<T> {
    /// Puts `job`, waiting on one timer unit, in the heap until `due` (µs).
    pub(super) fn start_timer(&self, job: &Arc<Job<T>>, due: u64) {
        let mut heap = self.timers.heap.lock();
        heap.push(Reverse(TimerEntry {
            due,
            job: Arc::clone(job),
        }));
        // Under the lock: the earliest due time and the heap agree.
        if due < self.timers.next_due.load(Ordering::Relaxed) {
            self.timers.next_due.store(due, Ordering::Relaxed);
        }
        // Release: a claimer that sees `active` (Acquire) sees the heap.
        self.timers.active.store(true, Ordering::Release);
        drop(heap);
        // A sleeper's wait may have been bounded by a later due time.
        job.group().wake.notify_all();
    }

    /// Releases the timers that are due, if the earliest one is (claim's
    /// step). One load a claim when nothing is due.
    #[inline]
    pub(super) fn release_due_if_any(&self, now: &Now) {
        if !self.timers.active.load(Ordering::Acquire) {
            return;
        }
        let now = now.get(self);
        // Relaxed: a hint; the heap decides under its lock.
        if now >= self.timers.next_due.load(Ordering::Relaxed) {
            self.release_due(now);
        }
    }

    /// Releases every timer due at `now`: each job's timer unit is released
    /// like a dependency, which makes it pending if nothing else holds it.
    /// Out of line: see `promote_aged`.
    #[inline(never)]
    pub(crate) fn release_due(&self, now: u64) -> usize {
        let Some(mut heap) = self.timers.heap.try_lock() else {
            return 0; // another claimer is releasing them
        };
        let mut due = Vec::new();
        while heap.peek().is_some_and(|Reverse(entry)| entry.due <= now) {
            if let Some(Reverse(entry)) = heap.pop() {
                due.push(entry.job);
            }
        }
        let next = heap.peek().map_or(u64::MAX, |Reverse(entry)| entry.due);
        self.timers.next_due.store(next, Ordering::Relaxed);
        drop(heap);
        let released = due.len();
        for job in due {
            // A retry's backoff is over: the durable queue no longer stores
            // its due time. Before the release: once pending, the job may
            // be claimed, fail and wait for a new backoff at once.
            #[cfg(feature = "durable")]
            self.retry_dues.remove(&job.incarnation);
            if let Some(at) = self.release_one(&job) {
                if self.faults.silent_release() {
                    // Loom negative control: enqueued, nobody woken.
                    self.enqueue_quietly(&job, at);
                } else {
                    self.enqueue(&job, at);
                }
            }
        }
        released
    }

    /// How long until a timer may be due (`None`: none waits).
    pub(super) fn until_next_timer(&self) -> Option<Duration> {
        if !self.timers.active.load(Ordering::Acquire) {
            return None;
        }
        let next = self.timers.next_due.load(Ordering::Relaxed);
        (next != u64::MAX).then(|| Duration::from_micros(next.saturating_sub(self.now_micros())))
    }
}
