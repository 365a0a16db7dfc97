//! The queue's clock: microseconds since the queue was built, read from the
//! kernel's coarse monotonic clock where there is one.
//!
//! Timestamps feed only metrics (wait times, the throughput window), the
//! preview's order and aging, never a safety decision. On Linux they come from
//! `CLOCK_MONOTONIC_COARSE` (a vDSO read of the last tick, a few ns, resolution
//! one kernel tick, typically 1–4 ms) instead of `Instant::now()` (~25 ns
//! here), which was over a third of a job's claim-to-complete cost. Elsewhere
//! they come from `Instant`.

use std::time::Instant;

/// A monotonic microsecond clock with a fixed origin.
pub(crate) struct Clock {
    #[cfg(target_os = "linux")]
    origin_micros: u64,
    #[cfg(not(target_os = "linux"))]
    origin: Instant,
}

#[cfg(target_os = "linux")]
fn coarse_micros() -> u64 {
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `now` is a valid, writable timespec; CLOCK_MONOTONIC_COARSE
    // exists on every Linux since 2.6.32, and clock_gettime only writes it.
    let status = unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC_COARSE, &mut now) };
    if status != 0 {
        // Not expected on Linux; fall back to a process-relative fine clock.
        return fallback_micros();
    }
    (now.tv_sec as u64) * 1_000_000 + (now.tv_nsec as u64) / 1_000
}

#[cfg(target_os = "linux")]
fn fallback_micros() -> u64 {
    use crate::sync::OnceLock;
    static START: OnceLock<Instant> = OnceLock::new();
    START.get_or_init(Instant::now).elapsed().as_micros() as u64
}

impl Clock {
    pub(crate) fn new() -> Clock {
        Clock {
            #[cfg(target_os = "linux")]
            origin_micros: coarse_micros(),
            #[cfg(not(target_os = "linux"))]
            origin: Instant::now(),
        }
    }

    /// Microseconds since the clock was made.
    #[inline]
    pub(crate) fn now_micros(&self) -> u64 {
        #[cfg(target_os = "linux")]
        {
            coarse_micros().saturating_sub(self.origin_micros)
        }
        #[cfg(not(target_os = "linux"))]
        {
            self.origin.elapsed().as_micros() as u64
        }
    }
}

#[cfg(all(test, not(miri)))]
mod tests {
    use super::*;

    #[test]
    fn the_clock_is_monotonic_and_advances() {
        let clock = Clock::new();
        let first = clock.now_micros();
        std::thread::sleep(std::time::Duration::from_millis(30));
        let second = clock.now_micros();
        assert!(second >= first);
        // At least the sleep, less one coarse tick (≤ 10 ms) of resolution.
        assert!(second - first >= 20_000, "advanced {} µs", second - first);
    }
}
