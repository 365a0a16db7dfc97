//! Exact metrics without a shared hot counter.
//!
//! Totals are striped: each thread adds to one of several cache-padded
//! counters, and a read sums them. A transition is counted by the one thread
//! whose compare-and-swap made it, so totals are exact; a read taken while
//! transitions are in flight sees each of them either counted or not.

use crate::sync::{AtomicU64, CachePadded, Ordering};
use crate::view::Metrics;
use std::time::Duration;

const STRIPES: usize = crate::sync::METRIC_STRIPES;

/// Seconds kept by the throughput window (one bucket a second).
const WINDOW_SECS: u64 = 60;
const BUCKETS: usize = 64;
const COUNT_BITS: u32 = 24;

/// Which stripe this thread uses: threads take stripes round-robin on first
/// use, so up to `STRIPES` threads never share one.
#[inline]
fn stripe() -> usize {
    crate::sync::thread_index() % STRIPES
}

/// The counters of one stripe.
struct Stripe {
    submitted: AtomicU64,
    scheduled: AtomicU64,
    completed: AtomicU64,
    failed: AtomicU64,
    retried: AtomicU64,
    cancelled: AtomicU64,
    /// Per-second completion buckets: `second << 24 | count`.
    window: [AtomicU64; BUCKETS],
    /// f64 bits of this stripe's average wait in µs, or `NO_SAMPLE`. Every
    /// claim counted in `scheduled` folds one sample into it, so `scheduled`
    /// is also its sample count.
    average_wait: AtomicU64,
}

impl Stripe {
    fn new() -> Stripe {
        Stripe {
            submitted: AtomicU64::new(0),
            scheduled: AtomicU64::new(0),
            completed: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            retried: AtomicU64::new(0),
            cancelled: AtomicU64::new(0),
            window: core::array::from_fn(|_| AtomicU64::new(0)),
            average_wait: AtomicU64::new(NO_SAMPLE),
        }
    }
}

/// Which total to add to.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Counter {
    Submitted,
    Scheduled,
    Completed,
    Failed,
    Retried,
    Cancelled,
}

pub(crate) struct MetricsCell {
    stripes: Box<[CachePadded<Stripe>]>,
}

const NO_SAMPLE: u64 = u64::MAX;
const ALPHA: f64 = 0.1;

impl MetricsCell {
    pub(crate) fn new() -> MetricsCell {
        MetricsCell {
            stripes: (0..STRIPES)
                .map(|_| CachePadded::new(Stripe::new()))
                .collect(),
        }
    }

    /// Adds `n` to a total. Release (free on x86: every RMW is a full
    /// barrier there): a reader of `unfinished` that acquires a terminal
    /// count also sees the submit count of that job, counted before it was
    /// published. The totals order nothing else; a reader wanting them
    /// exact waits for the operations (joins the threads) first.
    #[inline]
    pub(crate) fn add(&self, counter: Counter, n: u64) {
        let stripe = &self.stripes[stripe()];
        let cell = match counter {
            Counter::Submitted => &stripe.submitted,
            Counter::Scheduled => &stripe.scheduled,
            Counter::Completed => &stripe.completed,
            Counter::Failed => &stripe.failed,
            Counter::Retried => &stripe.retried,
            Counter::Cancelled => &stripe.cancelled,
        };
        cell.fetch_add(n, Ordering::Release);
    }

    /// Jobs submitted and not yet terminal. Exact when no operation is in
    /// flight; under concurrent operations never below the true count of
    /// jobs that are unfinished for the whole read: the terminal counts are
    /// read first (Acquire, pairing with `add`'s Release), so every job
    /// counted terminal has its submit counted too.
    pub(crate) fn unfinished(&self) -> u64 {
        let mut terminal = 0u64;
        for stripe in self.stripes.iter() {
            terminal += stripe.completed.load(Ordering::Acquire);
            terminal += stripe.failed.load(Ordering::Acquire);
            terminal += stripe.cancelled.load(Ordering::Acquire);
        }
        let submitted: u64 = self
            .stripes
            .iter()
            .map(|stripe| stripe.submitted.load(Ordering::Relaxed))
            .sum();
        submitted.saturating_sub(terminal)
    }

    /// Counts one completion in the throughput window at second `now_secs`.
    #[inline]
    pub(crate) fn record_completion(&self, now_secs: u64) {
        let bucket = &self.stripes[stripe()].window[(now_secs % BUCKETS as u64) as usize];
        let mut current = bucket.load(Ordering::Relaxed);
        loop {
            let next = if current >> COUNT_BITS == now_secs {
                current + 1
            } else {
                (now_secs << COUNT_BITS) | 1
            };
            match bucket.compare_exchange_weak(current, next, Ordering::Relaxed, Ordering::Relaxed)
            {
                Ok(_) => return,
                Err(actual) => current = actual,
            }
        }
    }

    /// Folds one wait sample (µs) into this thread's stripe's moving
    /// average: a CAS loop, so every sample is applied exactly once. One
    /// thread's samples form one exact EMA; see [`MetricsCell::read`] for how
    /// stripes combine.
    #[inline]
    pub(crate) fn record_wait(&self, wait_micros: u64) {
        let stripe = &self.stripes[stripe()];
        let sample = wait_micros as f64;
        let mut current = stripe.average_wait.load(Ordering::Relaxed);
        loop {
            let next = if current == NO_SAMPLE {
                sample
            } else {
                let average = f64::from_bits(current);
                average + ALPHA * (sample - average)
            };
            match stripe.average_wait.compare_exchange_weak(
                current,
                next.to_bits(),
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => return,
                Err(actual) => current = actual,
            }
        }
    }

    /// Sums the stripes.
    pub(crate) fn read(&self, now_secs: u64) -> Metrics {
        let mut metrics = Metrics::default();
        for stripe in self.stripes.iter() {
            metrics.submitted += stripe.submitted.load(Ordering::Relaxed);
            metrics.scheduled += stripe.scheduled.load(Ordering::Relaxed);
            metrics.completed += stripe.completed.load(Ordering::Relaxed);
            metrics.failed += stripe.failed.load(Ordering::Relaxed);
            metrics.retried += stripe.retried.load(Ordering::Relaxed);
            metrics.cancelled += stripe.cancelled.load(Ordering::Relaxed);
            for bucket in &stripe.window {
                let value = bucket.load(Ordering::Relaxed);
                let second = value >> COUNT_BITS;
                if second <= now_secs && now_secs - second < WINDOW_SECS {
                    metrics.completed_in_window += value & ((1 << COUNT_BITS) - 1);
                }
            }
        }
        // The stripes' averages, weighted by their sample counts: with one
        // claiming thread this is exactly the EMA of its samples; with
        // several, concurrent claims have no single order to average over,
        // and each thread's EMA counts in proportion to its claims.
        let (mut weighted, mut samples) = (0.0, 0u64);
        for stripe in self.stripes.iter() {
            let average = stripe.average_wait.load(Ordering::Relaxed);
            let count = stripe.scheduled.load(Ordering::Relaxed);
            if average != NO_SAMPLE && count > 0 {
                weighted += f64::from_bits(average) * count as f64;
                samples += count;
            }
        }
        if samples > 0 {
            metrics.average_wait =
                Duration::from_secs_f64((weighted / samples as f64).max(0.0) / 1e6);
        }
        metrics
    }
}
