//! Shutdown and completion: `close` (no new job; sleepers told at once),
//! and `wait_idle` (sleep until every submitted job is terminal). Both halves
//! of each wake-up are here: the flag or the counts, then the wake.

use super::JobQueue;
use crate::sync::Ordering;
use std::time::Duration;

impl<T> JobQueue<T> {
    /// Closes the queue: later submits get [`Error::Closed`](crate::Error::Closed);
    /// `claim` hands out nothing and every `claim_wait` caller, asleep or
    /// not, returns [`WaitError::Closed`](crate::WaitError::Closed) at once.
    /// Everything else goes on: claims in flight may still be started and
    /// reported (a retry goes back to `Pending` and stays there), jobs may be
    /// cancelled, reprioritized and inspected. Closing is a stop, not a
    /// drain: to let the workers finish every job first, call
    /// [`wait_idle`](JobQueue::wait_idle), then `close`. Closing twice is
    /// not an error; a queue cannot be reopened.
    ///
    /// ```
    /// use dagqueue::*;
    /// use std::time::Duration;
    /// let q = std::sync::Arc::new(JobQueue::new());
    /// let worker = {
    ///     let q = q.clone();
    ///     std::thread::spawn(move || q.claim_wait(RunnerType::DEFAULT, Duration::from_secs(3600)))
    /// };
    /// q.close(); // wakes the worker at once
    /// assert_eq!(worker.join().unwrap(), Err(WaitError::Closed));
    /// assert_eq!(q.submit(JobSpec::new(JobId(1))), Err(Error::Closed));
    /// assert!(q.is_closed());
    /// ```
    // Linearization point: the store of the closed flag. SeqCst, then the
    // wake-up's own SeqCst fence: a sleeper either sees the flag on its retry
    // or is seen, and woken, by the notify (wake.rs's protocol).
    pub fn close(&self) {
        self.closed.store(true, Ordering::SeqCst);
        if self.faults.silent_close() {
            return; // loom negative control: the sleepers are never told
        }
        // SeqCst fence: the Dekker pair with a waiter that registered on a
        // runner made after `all_runner_lanes` read them (its own fence,
        // then its look at the flag).
        crate::sync::fence(Ordering::SeqCst);
        self.wake_all_runners();
    }

    /// Whether [`close`](JobQueue::close) was called.
    ///
    /// ```
    /// let q = dagqueue::JobQueue::new();
    /// assert!(!q.is_closed());
    /// ```
    #[inline]
    pub fn is_closed(&self) -> bool {
        // Acquire: pairs with close's store; a reader that sees the flag
        // sees everything done before the close.
        self.closed.load(Ordering::Acquire)
    }

    /// Sleeps (without polling) until every submitted job is terminal
    /// (completed, failed or cancelled), or `timeout` passes; returns
    /// whether the queue was idle. Pruning does not matter: a pruned job was
    /// terminal. New submits may make it busy again at once.
    ///
    /// ```
    /// use dagqueue::*;
    /// use std::time::Duration;
    /// let q = std::sync::Arc::new(JobQueue::new());
    /// q.submit(JobSpec::new(JobId(1))).unwrap();
    /// assert!(!q.wait_idle(Duration::from_millis(1))); // job 1 is pending
    /// let worker = {
    ///     let q = q.clone();
    ///     std::thread::spawn(move || {
    ///         let claim = q.claim_wait(RunnerType::DEFAULT, Duration::from_secs(10)).unwrap();
    ///         q.complete(claim, Outcome::Success).unwrap();
    ///     })
    /// };
    /// assert!(q.wait_idle(Duration::from_secs(10)));
    /// worker.join().unwrap();
    /// ```
    pub fn wait_idle(&self, timeout: Duration) -> bool {
        self.idle
            .wait_for(timeout, || (self.unfinished() == 0).then_some(()))
            .is_some()
    }
}
