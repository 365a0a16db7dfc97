//! Leases, both halves: a claim of a job with a lease starts it (the lease
//! word, then an entry in the lane of that lease duration); `heartbeat`
//! extends it; the sweep, run by claimers (and `claim_wait` sleepers, who
//! wake for it) when the earliest lease may be due, takes back the leases
//! that ran out.
//!
//! A lane has one stripe per claiming thread (modulo the stripe count).
//! A stripe keeps the lease its thread started last in `latest`; a report
//! of that attempt by the same thread clears it (the usual worker loop:
//! claim, work, report, so most leases cost a lock of the thread's own
//! stripe at claim and at report, and nothing else). A lease still
//! unreported when its thread claims again moves to the back of the
//! stripe's FIFO, whose deadlines therefore only grow (every lease of a
//! lane is `now + the lane's duration`, and the sweep re-queues an extended
//! entry at the back with its later deadline). So a sweep pops entries of
//! ended attempts and due leases, stops at the first live lease not due,
//! then looks at `latest`: O(popped + stripes), each entry popped once,
//! never a scan of the claimed jobs. Claimers also sweep every
//! `cleanup_every` (at most), so entries of attempts reported later (or by
//! another thread) do not pile up for a whole lease duration behind a live
//! head. An entry holds the job's id and incarnation, not the job: the
//! sweep finds the record in the job table (where a claimed job always is).
//!
//! Exactly once: a due lease is first marked expired by CAS on the lease
//! word (after which no heartbeat can extend it, and before which a
//! heartbeat's CAS makes the sweep look again), then its attempt is ended by
//! the state word's CAS, the same one a report uses: of the expiry and the
//! worker's report, exactly one ends the attempt, counts it and releases its
//! slot.

use super::lease_slot::LeaseSlots;
use super::report::stale;
use super::JobQueue;
use super::Now;
use crate::claim::{Claim, Outcome};
use crate::error::Error;
use crate::ids::JobId;
use crate::job::lease::{ExtendRefusal, Lease, SweepFinding};
use crate::job::Job;
use crate::sync::{AtomicBool, AtomicU64, Mutex, OnceLock, Ordering};
use crate::view::JobState;
use std::sync::Arc;
use std::time::Duration;

/// How often claimers sweep, at most, to drop the entries of attempts
/// already reported: an eighth of the shortest lease, and at least every
/// 100 ms.
fn cleanup_every(shortest_micros: u64) -> u64 {
    (shortest_micros / 8).min(100_000)
}

/// One claimed attempt's lease: the job (found again in the job table when
/// the sweep looks at it: the entry holds no reference, so keeping it
/// costs no reference count), its ticket, and the deadline it was queued
/// with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct LeaseEntry {
    pub(crate) job: JobId,
    /// The record's incarnation and the attempt (`ticket`).
    pub(crate) ticket: u64,
    pub(crate) deadline: u64,
}

impl LeaseEntry {
    fn incarnation(&self) -> u64 {
        self.ticket >> ATTEMPT_BITS
    }

    fn attempt(&self) -> u32 {
        (self.ticket & ((1 << ATTEMPT_BITS) - 1)) as u32
    }
}

/// Bits of a ticket that hold the attempt (attempts stay below 2^11: see
/// `MAX_RETRIES`).
const ATTEMPT_BITS: u32 = 11;

/// A record's incarnation and an attempt in one word: unique to that
/// attempt of that record, never 0 (the attempt is at least 1, below 2^11;
/// the incarnation below 2^53).
pub(super) fn ticket(incarnation: u64, attempt: u32) -> u64 {
    incarnation << ATTEMPT_BITS | u64::from(attempt)
}

/// What the sweep found for a lease entry.
enum Look<T> {
    /// Its attempt is no longer claimed: forget the entry.
    Gone,
    /// Due, and marked expired by this sweep: take the attempt back.
    Expired(Arc<Job<T>>),
    /// Live, due at this deadline.
    Live(u64),
}

/// The queue's leases and sweep state.
pub(super) struct Leases {
    /// Whether any lease was ever started: until then claims skip the check.
    active: AtomicBool,
    /// The first lease duration used (most queues use one): known without
    /// the lock.
    first: OnceLock<u32>,
    /// Every lease duration used (ms), added under `sweeping`.
    durations: Mutex<Vec<u32>>,
    /// Each claiming thread's latest lease and the leases it holds across
    /// claims (`lease_slot.rs`).
    slots: LeaseSlots,
    /// Leases started by a thread whose thread-locals were being destroyed
    /// (no slot): looked at whole by every sweep. Empty in practice.
    stray: Mutex<Vec<LeaseEntry>>,
    /// No lease is due before this (µs): `claim_wait` sleepers wake for it.
    next_expiry: AtomicU64,
    /// Claimers sweep once this passes (µs): `next_expiry`, or sooner to
    /// drop the entries of reported attempts.
    next_sweep: AtomicU64,
    /// The shortest lease duration used (µs): a lease started after a sweep
    /// is due no earlier than that sweep's time plus this.
    shortest: AtomicU64,
    /// Held by the one sweeper, and by a thread adding a duration.
    sweeping: Mutex<()>,
}

impl Leases {
    pub(super) fn new(queue: u64) -> Leases {
        Leases {
            active: AtomicBool::new(false),
            first: OnceLock::new(),
            durations: Mutex::new(Vec::new()),
            slots: LeaseSlots::new(queue),
            stray: Mutex::new(Vec::new()),
            next_expiry: AtomicU64::new(u64::MAX),
            next_sweep: AtomicU64::new(u64::MAX),
            shortest: AtomicU64::new(u64::MAX),
            sweeping: Mutex::new(()),
        }
    }

    /// Whether a sweep may find something due at `now`.
    #[inline]
    fn due(&self, now: u64) -> bool {
        // Relaxed: a hint; the sweep itself reads every lease word.
        now >= self.next_sweep.load(Ordering::Relaxed)
    }

    /// Makes sure the sweep knows the lease duration `millis` (a new one,
    /// rarely, is added under the sweep lock: the sweep's bound on the next
    /// due lease must know every duration).
    #[inline]
    fn know_duration(&self, millis: u32, now: u64) {
        if self.first.get() == Some(&millis) || self.durations.lock().contains(&millis) {
            return;
        }
        let _sweeping = self.sweeping.lock();
        let mut durations = self.durations.lock();
        if durations.contains(&millis) {
            return;
        }
        durations.push(millis);
        let _ = self.first.set(millis);
        let micros = u64::from(millis) * 1000;
        if micros < self.shortest.load(Ordering::Relaxed) {
            self.shortest.store(micros, Ordering::Relaxed);
        }
        let first_due = now.saturating_add(micros);
        if first_due < self.next_expiry.load(Ordering::Relaxed) {
            self.next_expiry.store(first_due, Ordering::Relaxed);
        }
        let first_sweep = now.saturating_add(cleanup_every(micros));
        if first_sweep < self.next_sweep.load(Ordering::Relaxed) {
            self.next_sweep.store(first_sweep, Ordering::Relaxed);
        }
        // Release: a claimer that sees `active` (Acquire) sees the rest.
        self.active.store(true, Ordering::Release);
    }
}

impl<T> JobQueue<T> {
    /// Starts the lease of `attempt` of `job`, just claimed at `now`: the
    /// lease word, then this thread's slot.
    #[inline]
    pub(super) fn start_lease(&self, job: &Job<T>, attempt: u32, now: u64) {
        let millis = job.lease_millis;
        if millis == 0 {
            return;
        }
        let deadline = now.saturating_add(u64::from(millis) * 1000);
        job.timestamp.start_lease(Lease::new(deadline, attempt));
        self.leases.know_duration(millis, now);
        let entry = LeaseEntry {
            job: job.id,
            ticket: ticket(job.incarnation, attempt),
            deadline,
        };
        if let Err(entry) = self.leases.slots.replace(entry, millis) {
            self.leases.stray.lock().push(entry);
        }
    }

    /// After a report ended `attempt` of `job`: clears its lease from this
    /// thread's slot if it is there (the usual case: claim, work, report),
    /// so that nobody ever looks at it again. Otherwise a sweep drops it.
    #[inline]
    pub(super) fn forget_lease(&self, job: &Job<T>, attempt: u32) {
        if job.lease_millis != 0 {
            self.leases.slots.clear_if(ticket(job.incarnation, attempt));
        }
    }

    /// Sweeps the leases if one may be due (claim's step, like aging's).
    #[inline]
    pub(super) fn sweep_leases_if_due(&self, now: &Now) {
        // Acquire: pairs with the lane creation's Release.
        if !self.leases.active.load(Ordering::Acquire) {
            return;
        }
        let now = now.get(self);
        if self.leases.due(now) {
            if let Some(sweeping) = self.leases.sweeping.try_lock() {
                self.sweep_leases(now);
                drop(sweeping);
            }
        }
    }

    /// How long until a lease may be due (`None`: no lease held).
    pub(super) fn until_next_lease(&self) -> Option<Duration> {
        if !self.leases.active.load(Ordering::Acquire) {
            return None;
        }
        let next = self.leases.next_expiry.load(Ordering::Relaxed);
        (next != u64::MAX).then(|| Duration::from_micros(next.saturating_sub(self.now_micros())))
    }

    /// Takes back every lease due at `now`, re-queues the extended ones,
    /// and sets when to look again. The caller holds `sweeping`. Returns how
    /// many attempts it ended. Out of line: see `promote_aged`.
    #[inline(never)]
    fn sweep_leases(&self, now: u64) -> usize {
        let mut expired = 0;
        let mut earliest = u64::MAX;
        for slot in self.leases.slots.for_sweep() {
            // The leases its thread held across claims, oldest first.
            for held in slot.held_lanes() {
                let mut head = held.head.lock();
                while let Some(entry) = head.take().or_else(|| held.entries.pop()) {
                    match self.settle(&entry, now, &mut expired) {
                        // Reported, retried, pruned, or just taken back: dropped.
                        None => {}
                        // Live and not due: the lane's earliest; stop here.
                        Some(deadline) if deadline == entry.deadline => {
                            earliest = earliest.min(deadline);
                            *head = Some(entry);
                            break;
                        }
                        // Moved by a heartbeat: to the back, with its deadline.
                        Some(deadline) => held.entries.push(LeaseEntry { deadline, ..entry }),
                    }
                }
            }
            // Its latest lease (started after all of those).
            if let Some((entry, _)) = slot.read() {
                if let Some(deadline) = self.settle(&entry, now, &mut expired) {
                    earliest = earliest.min(deadline);
                }
            }
        }
        let mut stray = core::mem::take(&mut *self.leases.stray.lock());
        stray.retain(|entry| match self.settle(entry, now, &mut expired) {
            Some(deadline) => {
                earliest = earliest.min(deadline);
                true
            }
            None => false,
        });
        self.leases.stray.lock().extend(stray);
        // A lease started from now on is due no earlier than now plus the
        // shortest lease (which also covers one started during this sweep,
        // in a slot already looked at).
        let shortest = self.leases.shortest.load(Ordering::Relaxed);
        let next_expiry = earliest.min(now.saturating_add(shortest));
        self.leases
            .next_expiry
            .store(next_expiry, Ordering::Relaxed);
        let cleanup = now.saturating_add(cleanup_every(shortest));
        self.leases
            .next_sweep
            .store(next_expiry.min(cleanup), Ordering::Relaxed);
        expired
    }

    /// The sweep's step for one entry: takes its attempt back if its lease
    /// is due (counting it in `expired`); the deadline if it is live, `None`
    /// if the entry is done with.
    fn settle(&self, entry: &LeaseEntry, now: u64, expired: &mut usize) -> Option<u64> {
        match self.look_at(entry, now) {
            Look::Gone => None,
            Look::Expired(job) => {
                *expired += usize::from(self.expire(&job, entry.attempt()));
                None
            }
            Look::Live(deadline) => Some(deadline),
        }
    }

    /// What the sweep finds for one lease entry at `now`: its record (looked
    /// up by id, and only if it is the same record), and whether the
    /// attempt is still claimed; if so, the lease word decides, and a due
    /// lease is marked expired here (the CAS a heartbeat cannot pass).
    fn look_at(&self, entry: &LeaseEntry, now: u64) -> Look<T> {
        let Some(job) = self
            .jobs
            .get_cloned(&entry.job)
            .filter(|job| job.incarnation == entry.incarnation())
        else {
            return Look::Gone; // pruned (a finished job): nothing to take back
        };
        let word = job.word.load();
        if word.attempt() != entry.attempt() || !word.state().is_some_and(JobState::is_claimed) {
            return Look::Gone; // reported (or taken back)
        }
        let skip_mark = self.faults.unmarked_expiry();
        match job.timestamp.sweep(entry.attempt(), now, skip_mark) {
            // Reported (or retried, or expired by a heartbeat).
            SweepFinding::Gone => Look::Gone,
            SweepFinding::Expired => Look::Expired(job),
            SweepFinding::Extended(deadline) => Look::Live(deadline),
        }
    }

    /// Ends `attempt` of `job` because its lease ran out (its lease word is
    /// marked expired): counted as a failed attempt. `false`: the worker's
    /// report ended it first.
    fn expire(&self, job: &Arc<Job<T>>, attempt: u32) -> bool {
        if self.faults.early_expiry_release() {
            // Loom negative control: the slot released before the CAS that
            // decides whether the expiry or the worker's report ends it.
            if let Some(cluster) = job.group().cluster.as_deref() {
                cluster.release();
            }
        }
        let expired = self
            .end_attempt(job, attempt, Outcome::Failure, true, &Now::unread())
            .is_some();
        if expired {
            trace_event!(job = job.id.0, attempt, "lease expired");
        }
        expired
    }

    /// Takes back every claim whose lease ran out, now, and returns how many.
    /// Claims (and `claim_wait` sleepers) do it anyway once a lease may be
    /// due; this is for a caller that wants it at a moment of its choosing
    /// (a monitor, a test).
    ///
    /// ```
    /// use dagqueue::*;
    /// use std::time::Duration;
    /// let q = JobQueue::builder().lease(Duration::from_millis(20)).build().unwrap();
    /// q.submit(JobSpec::new(JobId(1)).max_retries(1)).unwrap();
    /// let claim = q.claim(RunnerType::DEFAULT).unwrap();
    /// assert_eq!(q.expire_leases(), 0); // not due yet
    /// std::thread::sleep(Duration::from_millis(60));
    /// assert_eq!(q.expire_leases(), 1);
    /// assert_eq!(q.state(JobId(1)), Ok(JobState::Pending)); // retried
    /// assert!(q.complete(claim, Outcome::Success).is_err()); // too late
    /// ```
    pub fn expire_leases(&self) -> usize {
        if !self.leases.active.load(Ordering::Acquire) {
            return 0;
        }
        let _sweeping = self.leases.sweeping.lock();
        self.sweep_leases(self.now_micros())
    }

    /// Loom models: sweeps the leases as at `now` (µs).
    pub(crate) fn expire_leases_at(&self, now: u64) -> usize {
        let _sweeping = self.leases.sweeping.lock();
        self.sweep_leases(now)
    }

    /// Extends the lease of a claimed attempt by its job's lease duration,
    /// from now, and says whether a cancel was requested (so a worker learns
    /// of a cancel within one heartbeat). A claim without a lease may
    /// heartbeat too: it only gets the cancel flag.
    ///
    /// # Errors
    /// `StaleClaim`: not the current attempt (reported, pruned, another
    /// queue's), or its lease already ran out (it is being, or was, taken
    /// back; the job will be retried or fail).
    ///
    /// ```
    /// use dagqueue::*;
    /// use std::time::Duration;
    /// let q = JobQueue::builder().lease(Duration::from_secs(30)).build().unwrap();
    /// q.submit(JobSpec::new(JobId(1))).unwrap();
    /// let claim = q.claim(RunnerType::DEFAULT).unwrap();
    /// assert_eq!(q.heartbeat(&claim), Ok(false));
    /// q.cancel(JobId(1)).unwrap();
    /// assert_eq!(q.heartbeat(&claim), Ok(true)); // stop working on it
    /// ```
    // Linearization point: the CAS that moves the lease word's deadline
    // (`Timestamp::extend`); without a lease, the load of the state word.
    pub fn heartbeat(&self, claim: &Claim<T>) -> Result<bool, Error> {
        let job = self.claimed(claim)?;
        let attempt = claim.attempt();
        let current = |job: &Job<T>| {
            let word = job.word.load();
            (word.attempt() == attempt && word.state().is_some_and(JobState::is_claimed))
                .then(|| word.cancel_requested())
        };
        if current(job).is_none() {
            return Err(stale(claim));
        }
        if job.lease_millis == 0 {
            return current(job).ok_or_else(|| stale(claim));
        }
        let now = self.now_micros();
        let deadline = now.saturating_add(u64::from(job.lease_millis) * 1000);
        match job.timestamp.extend(attempt, now, deadline) {
            Ok(()) => current(job).ok_or_else(|| stale(claim)),
            Err(ExtendRefusal::NotThisAttempt) => Err(stale(claim)),
            Err(ExtendRefusal::Expired) => {
                // Due: take it back now rather than wait for a sweep.
                if job.timestamp.sweep(attempt, now, false) == SweepFinding::Expired {
                    self.expire(job, attempt);
                }
                Err(stale(claim))
            }
        }
    }
}
