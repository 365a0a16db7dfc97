//! The lease word: while a job is claimed with a lease, its deadline, the
//! attempt it belongs to and whether it was taken back, in one `AtomicU64`
//! (the job record's timestamp, which holds when the job became pending
//! while it is pending: the two uses never overlap).
//!
//! | bits   | field    |
//! |--------|----------|
//! | 0      | lease: set in a lease word, clear in a pending timestamp (`ready_at << 1`) |
//! | 1      | expired: the sweeper took this lease back |
//! | 2..13  | attempt  |
//! | 13..64 | deadline, µs on the queue's clock |
//!
//! `heartbeat` moves the deadline by CAS, only for its attempt and only
//! while the lease is neither due nor taken back; the sweeper marks a due
//! lease expired by CAS before it ends the attempt. So of a heartbeat and
//! an expiry of the same lease exactly one happens, and the attempt itself
//! is then ended once, by the state word's CAS (a report or the expiry).

use crate::sync::{AtomicU64, Ordering};

const LEASE: u64 = 1;
const EXPIRED: u64 = 1 << 1;
const ATTEMPT_SHIFT: u32 = 2;
const ATTEMPT_BITS: u32 = 11;
const DEADLINE_SHIFT: u32 = 13;

/// A decoded lease word.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Lease(u64);

impl Lease {
    pub(crate) fn new(deadline_micros: u64, attempt: u32) -> Lease {
        Lease(
            (deadline_micros << DEADLINE_SHIFT)
                | (u64::from(attempt) & ((1 << ATTEMPT_BITS) - 1)) << ATTEMPT_SHIFT
                | LEASE,
        )
    }
    fn is_lease(self) -> bool {
        self.0 & LEASE != 0
    }
    pub(crate) fn deadline(self) -> u64 {
        self.0 >> DEADLINE_SHIFT
    }
    pub(crate) fn attempt(self) -> u32 {
        ((self.0 >> ATTEMPT_SHIFT) & ((1 << ATTEMPT_BITS) - 1)) as u32
    }
    pub(crate) fn expired(self) -> bool {
        self.0 & EXPIRED != 0
    }
}

/// Why a heartbeat could not extend a lease.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ExtendRefusal {
    /// The word holds another attempt's lease, or none.
    NotThisAttempt,
    /// The deadline passed, or the sweeper took the lease back.
    Expired,
}

/// What the sweeper found for a lease entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum SweepFinding {
    /// Due, and now marked expired by this caller: end the attempt.
    Expired,
    /// Extended by a heartbeat: look again at this deadline.
    Extended(u64),
    /// Not this attempt's lease any more (reported, retried...): forget it.
    Gone,
}

/// The timestamp / lease word of a job record.
pub(crate) struct Timestamp(AtomicU64);

impl Timestamp {
    pub(crate) fn new() -> Timestamp {
        Timestamp(AtomicU64::new(0))
    }

    /// Records when the job became pending. Relaxed: a timestamp for
    /// metrics and previews only; the lane push that follows publishes it.
    #[inline]
    pub(crate) fn set_ready_at(&self, micros: u64) {
        self.0.store(micros << 1, Ordering::Relaxed);
    }

    /// When the job became pending (meaningful while it is pending).
    #[inline]
    pub(crate) fn ready_at(&self) -> u64 {
        self.0.load(Ordering::Relaxed) >> 1
    }

    /// Starts the lease of a claimed attempt. Release: the lease entry is
    /// pushed after it, and whoever pops the entry and loads this word
    /// (Acquire) sees this lease or a later value.
    pub(crate) fn start_lease(&self, lease: Lease) {
        self.0.store(lease.0, Ordering::Release);
    }

    /// Heartbeat: moves the deadline of `attempt`'s lease to `deadline`, if
    /// it is not due at `now` and not taken back. The CAS orders it against
    /// the sweeper's (`sweep`).
    pub(crate) fn extend(
        &self,
        attempt: u32,
        now: u64,
        deadline: u64,
    ) -> Result<(), ExtendRefusal> {
        let mut current = self.0.load(Ordering::Acquire);
        loop {
            let lease = Lease(current);
            if !lease.is_lease() || lease.attempt() != attempt {
                return Err(ExtendRefusal::NotThisAttempt);
            }
            if lease.expired() || lease.deadline() <= now {
                return Err(ExtendRefusal::Expired);
            }
            let next = Lease::new(deadline.max(lease.deadline()), attempt);
            // AcqRel: the sweeper that later reads this word sees the
            // extension; a failed CAS re-reads what changed.
            match self
                .0
                .compare_exchange(current, next.0, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => return Ok(()),
                Err(actual) => current = actual,
            }
        }
    }

    /// The sweeper's look at `attempt`'s lease at `now`: marks it expired
    /// if it is due (the CAS that a heartbeat cannot pass any more).
    pub(crate) fn sweep(&self, attempt: u32, now: u64, skip_mark: bool) -> SweepFinding {
        let mut current = self.0.load(Ordering::Acquire);
        loop {
            let lease = Lease(current);
            if !lease.is_lease() || lease.attempt() != attempt || lease.expired() {
                return SweepFinding::Gone;
            }
            if lease.deadline() > now {
                return SweepFinding::Extended(lease.deadline());
            }
            if skip_mark {
                // Loom negative control: decide without marking.
                return SweepFinding::Expired;
            }
            match self.0.compare_exchange(
                current,
                current | EXPIRED,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => return SweepFinding::Expired,
                Err(actual) => current = actual,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lease_word_round_trips() {
        let lease = Lease::new(123_456_789, 7);
        assert_eq!(
            (lease.deadline(), lease.attempt(), lease.expired()),
            (123_456_789, 7, false)
        );
    }

    #[test]
    fn heartbeat_and_sweep_exclude_each_other() {
        let stamp = Timestamp::new();
        stamp.start_lease(Lease::new(100, 1));
        assert_eq!(stamp.extend(2, 50, 200), Err(ExtendRefusal::NotThisAttempt));
        assert_eq!(stamp.extend(1, 50, 200), Ok(()));
        assert_eq!(stamp.sweep(1, 150, false), SweepFinding::Extended(200));
        assert_eq!(stamp.sweep(1, 200, false), SweepFinding::Expired);
        assert_eq!(stamp.extend(1, 150, 300), Err(ExtendRefusal::Expired));
        assert_eq!(stamp.sweep(1, 400, false), SweepFinding::Gone);
        stamp.set_ready_at(5); // the job went back to pending
        assert_eq!(stamp.sweep(1, 400, false), SweepFinding::Gone);
    }
}
