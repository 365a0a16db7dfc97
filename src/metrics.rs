//! Exact metrics without a shared hot counter, kept with the status counts.
//!
//! The totals (claims, completions, failures, retries, cancels) are not
//! counted separately: they are sums of the flows every thread's tally
//! already keeps for `status()` (`counts.rs`): claims are the flows from
//! pending to scheduled, completions the flows into completed, retries the
//! flows from claimed back to queued, and so on. What the flows cannot say
//! lives beside them, per thread ([`ThreadMetrics`]): jobs accepted (counted
//! before they are published, see [`unfinished`]), the moving average of
//! the wait, and the throughput window. Each thread writes its own with
//! plain loads and stores; the shared tally (threads with no thread-locals
//! left, loom) with read-modify-writes.
//!
//! A transition is counted by the one thread whose compare-and-swap made
//! it, so totals are exact once no operation is in flight; a read taken
//! while some are sees each of them either counted or not.

use crate::counts::{Flow, Tally};
use crate::sync::{AtomicU32, AtomicU64, Ordering};
use crate::view::Metrics;
use std::time::Duration;

/// Seconds kept by the throughput window (one bucket a second).
const WINDOW_SECS: u64 = 60;
const BUCKETS: usize = 64;
const COUNT_BITS: u32 = 24;
const NO_SAMPLE: u64 = u64::MAX;
const ALPHA: f64 = 0.1;
/// One claim in this many (per thread, the thread's first claim among
/// them) times its wait and folds it into the thread's average: the other
/// claims read no clock for the metrics. Counts are never sampled.
pub(crate) const WAIT_SAMPLE_EVERY: u32 = 16;

/// One thread's metrics besides its flows.
pub(crate) struct ThreadMetrics {
    /// Jobs accepted by `submit`, counted before they are published.
    submitted: AtomicU64,
    /// f64 bits of this thread's average wait in µs, or `NO_SAMPLE`. Every
    /// sampled claim this thread makes (`wait_sample_due`) folds its wait
    /// into it.
    average_wait: AtomicU64,
    /// Claims this thread makes before its next wait sample.
    wait_countdown: AtomicU32,
    /// Per-second completion buckets: `second << 24 | count`.
    window: [AtomicU64; BUCKETS],
}

impl ThreadMetrics {
    pub(crate) fn new() -> ThreadMetrics {
        ThreadMetrics {
            submitted: AtomicU64::new(0),
            average_wait: AtomicU64::new(NO_SAMPLE),
            wait_countdown: AtomicU32::new(0),
            window: core::array::from_fn(|_| AtomicU64::new(0)),
        }
    }

    /// Replaces `cell`'s value `v` by `next(v)`: a plain load and store
    /// when only this thread writes it, a CAS loop when several do
    /// (`shared`), so that every update is applied exactly once.
    #[inline(always)]
    fn update(cell: &AtomicU64, shared: bool, order: Ordering, next: impl Fn(u64) -> u64) {
        if !shared {
            cell.store(next(cell.load(Ordering::Relaxed)), order);
            return;
        }
        let mut current = cell.load(Ordering::Relaxed);
        loop {
            match cell.compare_exchange_weak(current, next(current), order, Ordering::Relaxed) {
                Ok(_) => return,
                Err(actual) => current = actual,
            }
        }
    }

    /// Counts one accepted job, before its publishing CAS. Release: a
    /// reader of [`unfinished`] that sees any later transition of the job
    /// (Acquire) sees this count.
    #[inline]
    pub(crate) fn count_submit(&self, shared: bool) {
        Self::update(&self.submitted, shared, Ordering::Release, |n| n + 1);
    }

    /// Whether this claim's wait is a sample (one claim in
    /// [`WAIT_SAMPLE_EVERY`], the first included). A shared tally (threads
    /// with no thread-locals left, loom) samples every claim: its
    /// countdown would need a read-modify-write, which costs more than
    /// the sample it saves.
    #[inline]
    pub(crate) fn wait_sample_due(&self, shared: bool) -> bool {
        if shared {
            return true;
        }
        // Relaxed, plain load and store: only this thread writes it.
        let left = self.wait_countdown.load(Ordering::Relaxed);
        let (due, next) = match left {
            0 => (true, WAIT_SAMPLE_EVERY - 1),
            left => (false, left - 1),
        };
        self.wait_countdown.store(next, Ordering::Relaxed);
        due
    }

    /// Folds one wait sample (µs) into this thread's moving average.
    #[inline]
    pub(crate) fn record_wait(&self, shared: bool, wait_micros: u64) {
        let sample = wait_micros as f64;
        Self::update(&self.average_wait, shared, Ordering::Relaxed, |current| {
            if current == NO_SAMPLE {
                sample.to_bits()
            } else {
                let average = f64::from_bits(current);
                (average + ALPHA * (sample - average)).to_bits()
            }
        });
    }

    /// Counts one completion in the throughput window at second `now_secs`.
    #[inline]
    pub(crate) fn record_completion(&self, shared: bool, now_secs: u64) {
        let bucket = &self.window[(now_secs % BUCKETS as u64) as usize];
        Self::update(bucket, shared, Ordering::Relaxed, |current| {
            if current >> COUNT_BITS == now_secs {
                current + 1
            } else {
                (now_secs << COUNT_BITS) | 1
            }
        });
    }
}

/// Jobs submitted and not yet terminal, over `tallies`. Exact when no
/// operation is in flight; under concurrent operations never below the
/// true count of jobs that are unfinished for the whole read: the terminal
/// flows are read first (Acquire, pairing with the Release of every flow
/// count and of `count_submit`), so every job counted terminal has its
/// submit counted too (it was counted before the job was published, which
/// happened before the transition that ended it).
pub(crate) fn unfinished<'a>(tallies: impl Iterator<Item = &'a Tally> + Clone) -> u64 {
    let terminal: u64 = tallies
        .clone()
        .map(|tally| sum(&tally.flow_totals(Ordering::Acquire), Flow::is_terminal))
        .sum();
    let submitted: u64 = tallies
        .map(|tally| tally.metrics.submitted.load(Ordering::Relaxed))
        .sum();
    submitted.saturating_sub(terminal)
}

/// The flows `which` selects, summed.
fn sum(flows: &[u64], which: fn(Flow) -> bool) -> u64 {
    flows
        .iter()
        .enumerate()
        .filter(|&(index, _)| which(Flow::of(index)))
        .map(|(_, flow)| flow)
        .sum()
}

/// The metrics over `tallies`, at second `now_secs`.
///
/// As in [`unfinished`], every tally's flows are read (Acquire) before any
/// tally's submit count, so a reading never shows more jobs ended than
/// submitted, even while operations are in flight.
pub(crate) fn read<'a>(tallies: impl Iterator<Item = &'a Tally> + Clone, now_secs: u64) -> Metrics {
    let mut metrics = Metrics::default();
    // The tallies' averages, weighted by their sample counts (their
    // claims): with one claiming thread this is exactly the EMA of its
    // samples; with several, concurrent claims have no single order to
    // average over, and each thread's EMA counts in proportion to its claims.
    let (mut weighted, mut samples) = (0.0, 0u64);
    for tally in tallies.clone() {
        let flows = tally.flow_totals(Ordering::Acquire);
        let claims = sum(&flows, Flow::is_claim);
        metrics.scheduled += claims;
        metrics.completed += sum(&flows, Flow::is_completion);
        metrics.failed += sum(&flows, Flow::is_failure);
        metrics.cancelled += sum(&flows, Flow::is_cancel);
        metrics.retried += sum(&flows, Flow::is_retry);
        for bucket in &tally.metrics.window {
            let value = bucket.load(Ordering::Relaxed);
            let second = value >> COUNT_BITS;
            if second <= now_secs && now_secs - second < WINDOW_SECS {
                metrics.completed_in_window += value & ((1 << COUNT_BITS) - 1);
            }
        }
        let average = tally.metrics.average_wait.load(Ordering::Relaxed);
        if average != NO_SAMPLE && claims > 0 {
            weighted += f64::from_bits(average) * claims as f64;
            samples += claims;
        }
    }
    metrics.submitted = tallies
        .map(|tally| tally.metrics.submitted.load(Ordering::Relaxed))
        .sum();
    if samples > 0 {
        metrics.average_wait = Duration::from_secs_f64((weighted / samples as f64).max(0.0) / 1e6);
    }
    metrics
}
