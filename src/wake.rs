//! Waking workers sleeping in `claim_wait`, without busy polling and without
//! lost wake-ups.
//!
//! A sleeper announces itself (`sleepers + 1`, then a SeqCst fence), retries
//! its claim, and only then sleeps, under the mutex, until the epoch moves.
//! A notifier first makes its job visible (lane push, slot release), then
//! issues a SeqCst fence and reads `sleepers`. By the fences' total order,
//! either the notifier sees the sleeper (and bumps the epoch under the
//! mutex, waking it), or the sleeper's retry sees the job. The common case —
//! nobody sleeping — costs the notifier one fence and one load of a
//! read-mostly line.

use crate::sync::{condvar_wait, fence, AtomicUsize, Condvar, Mutex, Ordering};
use std::time::{Duration, Instant};

pub(crate) struct WakeSignal {
    sleepers: AtomicUsize,
    epoch: Mutex<u64>,
    condvar: Condvar,
}

impl WakeSignal {
    pub(crate) fn new() -> WakeSignal {
        WakeSignal {
            sleepers: AtomicUsize::new(0),
            epoch: Mutex::new(0),
            condvar: Condvar::new(),
        }
    }

    /// Something became claimable: wake every sleeper, if any.
    #[inline]
    pub(crate) fn notify(&self) {
        fence(Ordering::SeqCst);
        if self.sleepers.load(Ordering::Relaxed) > 0 {
            let mut epoch = self.epoch.lock();
            *epoch = epoch.wrapping_add(1);
            self.condvar.notify_all();
        }
    }

    /// Calls `attempt` until it returns `Some` or `timeout` passes, sleeping
    /// between attempts until notified.
    pub(crate) fn wait_for<T>(
        &self,
        timeout: Duration,
        mut attempt: impl FnMut() -> Option<T>,
    ) -> Option<T> {
        if let Some(found) = attempt() {
            return Some(found);
        }
        let deadline = Instant::now().checked_add(timeout);
        self.sleepers.fetch_add(1, Ordering::SeqCst);
        fence(Ordering::SeqCst);
        let found = loop {
            let seen = *self.epoch.lock();
            if let Some(found) = attempt() {
                break Some(found);
            }
            let mut epoch = self.epoch.lock();
            let mut timed_out = false;
            while *epoch == seen && !timed_out {
                let left = match deadline {
                    Some(deadline) => deadline.saturating_duration_since(Instant::now()),
                    None => Duration::from_secs(3600),
                };
                if left.is_zero() {
                    timed_out = true;
                } else {
                    timed_out = condvar_wait(&self.condvar, &mut epoch, left);
                }
            }
            if *epoch == seen && timed_out {
                drop(epoch);
                break attempt();
            }
        };
        self.sleepers.fetch_sub(1, Ordering::SeqCst);
        found
    }
}
