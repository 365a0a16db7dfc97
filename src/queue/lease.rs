//! Leases, both halves: a claim of a job with a lease starts it (the lease
//! word, then an entry in the lane of that lease duration); `heartbeat`
//! extends it; the sweep, run by claimers (and `claim_wait` sleepers, who
//! wake for it) when the earliest lease may be due, takes back the leases
//! that ran out. Each lane is a FIFO of entries whose deadlines only grow
//! (every entry of a lane is `now + the lane's duration`, and the sweep
//! re-queues an extended entry at the back with its later deadline), so a
//! sweep pops entries of ended attempts and due leases and stops at the
//! first live lease not due: O(popped + lanes), each entry popped once,
//! never a scan of the claimed jobs. Claimers also sweep every
//! `CLEANUP_EVERY` (at most), so entries of attempts already reported do
//! not pile up for a whole lease duration behind a live head.
//!
//! Exactly once: a due lease is first marked expired by CAS on the lease
//! word (after which no heartbeat can extend it, and before which a
//! heartbeat's CAS makes the sweep look again), then its attempt is ended by
//! the state word's CAS, the same one a report uses: of the expiry and the
//! worker's report, exactly one ends the attempt, counts it and releases its
//! slot.

use super::report::stale;
use super::JobQueue;
use crate::claim::{Claim, Outcome};
use crate::error::Error;
use crate::job::lease::{ExtendRefusal, Lease, SweepFinding};
use crate::job::Job;
use crate::sync::{
    thread_index, AtomicBool, AtomicU64, CachePadded, ConcurrentMap, Fifo, Mutex, OnceLock,
    Ordering, METRIC_STRIPES,
};
use crate::view::JobState;
use std::sync::Arc;
use std::time::Duration;

/// How often claimers sweep, at most, to drop the entries of attempts
/// already reported: an eighth of the shortest lease, and at least every
/// 100 ms.
fn cleanup_every(shortest_micros: u64) -> u64 {
    (shortest_micros / 8).min(100_000)
}

/// One claimed attempt's lease, queued in the lane of its duration.
struct LeaseEntry<T> {
    job: Arc<Job<T>>,
    attempt: u32,
    deadline: u64,
}

/// The leases of one duration, in stripes (a claiming thread pushes to its
/// own, as with the metrics: no shared tail between claimers); in each
/// stripe, deadlines in order (to a clock tick).
struct LeaseLane<T> {
    stripes: Box<[CachePadded<LeaseStripe<T>>]>,
}

struct LeaseStripe<T> {
    entries: Fifo<LeaseEntry<T>>,
    /// The sweep's looked-at-but-not-due entry; only the sweeper (holding
    /// `Leases::sweeping`) touches it.
    head: Mutex<Option<LeaseEntry<T>>>,
}

impl<T> LeaseLane<T> {
    fn new() -> LeaseLane<T> {
        LeaseLane {
            stripes: (0..METRIC_STRIPES)
                .map(|_| {
                    CachePadded::new(LeaseStripe {
                        entries: Fifo::new(),
                        head: Mutex::new(None),
                    })
                })
                .collect(),
        }
    }

    #[inline]
    fn push(&self, entry: LeaseEntry<T>) {
        self.stripes[thread_index() % self.stripes.len()]
            .entries
            .push(entry);
    }
}

/// The queue's lease lanes and sweep state.
pub(super) struct Leases<T> {
    /// Whether any lease was ever started: until then claims skip the check.
    active: AtomicBool,
    /// The lane of the first lease duration used (most queues use one):
    /// found without the map.
    first: OnceLock<(u32, Arc<LeaseLane<T>>)>,
    lanes: ConcurrentMap<u32, Arc<LeaseLane<T>>>,
    /// No lease is due before this (µs): `claim_wait` sleepers wake for it.
    next_expiry: AtomicU64,
    /// Claimers sweep once this passes (µs): `next_expiry`, or sooner to
    /// drop the entries of reported attempts.
    next_sweep: AtomicU64,
    /// The shortest lease of any lane (µs): a lease started after a sweep
    /// is due no earlier than that sweep's time plus this.
    shortest: AtomicU64,
    /// Held by the one sweeper, and by a thread adding a lane.
    sweeping: Mutex<()>,
}

impl<T> Leases<T> {
    pub(super) fn new() -> Leases<T> {
        Leases {
            active: AtomicBool::new(false),
            first: OnceLock::new(),
            lanes: ConcurrentMap::new(),
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

    /// Pushes `entry` into the lane of `millis`, created (rarely) if new.
    #[inline]
    fn push(&self, millis: u32, now: u64, entry: LeaseEntry<T>) {
        match self.first.get() {
            Some((first, lane)) if *first == millis => lane.push(entry),
            _ => self.lane(millis, now).push(entry),
        }
    }

    /// The lane of `millis`, created (rarely) if new.
    fn lane(&self, millis: u32, now: u64) -> Arc<LeaseLane<T>> {
        if let Some(lane) = self.lanes.get_cloned(&millis) {
            return lane;
        }
        // Under the sweep lock: the sweep's bound on the next due lease
        // must know every lane's duration.
        let _sweeping = self.sweeping.lock();
        let lane = self
            .lanes
            .get_or_insert_with(millis, || Arc::new(LeaseLane::new()));
        let _ = self.first.set((millis, Arc::clone(&lane)));
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
        // Release: a claimer that sees `active` (Acquire) sees the lane.
        self.active.store(true, Ordering::Release);
        lane
    }
}

impl<T> JobQueue<T> {
    /// Starts the lease of `attempt` of `job`, just claimed at `now`.
    #[inline]
    pub(super) fn start_lease(&self, job: &Arc<Job<T>>, attempt: u32, now: u64) {
        let millis = job.lease_millis;
        if millis == 0 {
            return;
        }
        let deadline = now.saturating_add(u64::from(millis) * 1000);
        job.timestamp.start_lease(Lease::new(deadline, attempt));
        let entry = LeaseEntry {
            job: Arc::clone(job),
            attempt,
            deadline,
        };
        self.leases.push(millis, now, entry);
    }

    /// Sweeps the leases if one may be due (claim's step, like aging's).
    #[inline]
    pub(super) fn sweep_leases_if_due(&self) {
        // Acquire: pairs with the lane creation's Release.
        if !self.leases.active.load(Ordering::Acquire) {
            return;
        }
        let now = self.now_micros();
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
    /// many attempts it ended.
    fn sweep_leases(&self, now: u64) -> usize {
        let mut expired = 0;
        let mut earliest = u64::MAX;
        let stripes = self.leases.lanes.values_cloned();
        for stripe in stripes.iter().flat_map(|lane| lane.stripes.iter()) {
            let mut head = stripe.head.lock();
            loop {
                let Some(entry) = head.take().or_else(|| stripe.entries.pop()) else {
                    break;
                };
                let word = entry.job.word.load();
                if word.attempt() != entry.attempt
                    || !word.state().is_some_and(JobState::is_claimed)
                {
                    continue; // reported (or taken back): drop the entry
                }
                let skip_mark = self.faults.unmarked_expiry();
                match entry.job.timestamp.sweep(entry.attempt, now, skip_mark) {
                    // Reported (or retried, or expired by a heartbeat): drop.
                    SweepFinding::Gone => {}
                    SweepFinding::Expired => {
                        if self.expire(&entry.job, entry.attempt) {
                            expired += 1;
                        }
                    }
                    // Live and not due: the lane's earliest; stop here.
                    SweepFinding::Extended(deadline) if deadline == entry.deadline => {
                        earliest = earliest.min(deadline);
                        *head = Some(entry);
                        break;
                    }
                    // Moved by a heartbeat: to the back, with its deadline.
                    SweepFinding::Extended(deadline) => {
                        stripe.entries.push(LeaseEntry { deadline, ..entry })
                    }
                }
            }
        }
        // A lease started from now on is due no earlier than now plus the
        // shortest lease (which also covers one started during this sweep,
        // behind a lane already looked at).
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
        self.end_attempt(job, attempt, Outcome::Failure, true)
            .is_some()
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
