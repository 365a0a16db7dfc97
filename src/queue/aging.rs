//! Aging: a pending job that waited longer than the configured time at its
//! level is served one level higher, once. Each lane group keeps an aging
//! FIFO per level; claimers sweep them, one at a time, at most once per
//! sweep interval.

use super::JobQueue;
use super::Now;
use crate::spec::Priority;
use crate::sync::{AtomicU64, Mutex, Ordering};
use std::time::Duration;

/// The aging settings and the sweep's state.
pub(super) struct Aging {
    pub(super) after_micros: u64,
    sweep_every_micros: u64,
    next_sweep: AtomicU64,
    /// Held (by `try_lock` only) by the one claimer sweeping.
    sweeping: Mutex<()>,
}

impl Aging {
    pub(super) fn new(after: Duration) -> Aging {
        let after_micros = after.as_micros().min(u128::from(u64::MAX / 4)) as u64;
        Aging {
            after_micros,
            sweep_every_micros: (after_micros / 8).min(100_000),
            next_sweep: AtomicU64::new(0),
            sweeping: Mutex::new(()),
        }
    }
}

impl<T> JobQueue<T> {
    /// Aging: promotes pending jobs that waited too long at their level. Run
    /// by at most one claimer at a time (`try_lock`: nobody waits for it),
    /// at most once per sweep interval.
    ///
    /// Out of line, as the timers' release and the lease sweep: inlined into
    /// `claim`, the three made it a 1,950-instruction function with a
    /// 392-byte frame that every claim set up, the default queue running
    /// none of them (out of line: ~1 ns off a 56 ns job in `drain_cost`).
    #[inline(never)]
    pub(super) fn promote_aged(&self, aging: &Aging, now: &Now) {
        let now = now.get(self);
        if now < aging.next_sweep.load(Ordering::Relaxed) {
            return;
        }
        let Some(_sweeping) = aging.sweeping.try_lock() else {
            return;
        };
        aging
            .next_sweep
            .store(now + aging.sweep_every_micros, Ordering::Relaxed);
        for lanes in self.all_runner_lanes() {
            for group in lanes.groups.iter() {
                let mut heads = group.aging_head.lock();
                for level in 1..Priority::LEVELS {
                    loop {
                        let Some(entry) = heads[level].take().or_else(|| group.aging[level].pop())
                        else {
                            break;
                        };
                        if entry.due_micros > now {
                            heads[level] = Some(entry);
                            break;
                        }
                        if let Some(at) = entry.job.word.promote(entry.version) {
                            self.enqueue(&entry.job, at);
                            self.entry_went_stale(&entry.job, at.level + 1);
                        }
                    }
                }
            }
        }
    }
}
