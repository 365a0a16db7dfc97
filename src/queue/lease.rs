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

use super::report::stale;
use super::JobQueue;
use super::Now;
use crate::claim::{Claim, Outcome};
use crate::error::Error;
use crate::ids::JobId;
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

/// One claimed attempt's lease: which record and attempt (found again in
/// the job table when the sweep looks at it: the entry holds no reference,
/// so keeping it costs no reference count), and the deadline it was queued
/// with.
struct LeaseEntry {
    job: JobId,
    incarnation: u64,
    attempt: u32,
    deadline: u64,
}

impl LeaseEntry {
    /// Its record's incarnation and its attempt in one word: unique to
    /// this attempt of this record, never 0 (the attempt is at least 1,
    /// below 2^11; the incarnation below 2^53).
    fn ticket(&self) -> u64 {
        ticket(self.incarnation, self.attempt)
    }
}

fn ticket(incarnation: u64, attempt: u32) -> u64 {
    incarnation << 11 | u64::from(attempt)
}

/// The leases of one duration, in stripes (a claiming thread uses its own,
/// as with the metrics: no shared tail between claimers).
struct LeaseLane {
    stripes: Box<[CachePadded<LeaseStripe>]>,
}

/// One stripe: the lease its thread started last, in `latest`, and the
/// older ones still unreported when a newer one took that place, in
/// `entries`, in the order they were started (so deadlines in order, to a
/// clock tick). A worker that reports an attempt before it claims the next
/// (the usual loop) clears `latest_ticket` itself, which marks `latest` as
/// reported: its lease never reaches `entries`, and the sweep never looks
/// at it.
struct LeaseStripe {
    latest: Mutex<Option<LeaseEntry>>,
    /// The ticket of `latest` while it may be unreported; 0 once its own
    /// report cleared it (one CAS: the report takes no lock). Written under
    /// `latest`'s lock except for that clearing CAS.
    latest_ticket: AtomicU64,
    entries: Fifo<LeaseEntry>,
    /// The sweep's looked-at-but-not-due entry; only the sweeper (holding
    /// `Leases::sweeping`) touches it.
    head: Mutex<Option<LeaseEntry>>,
}

impl LeaseLane {
    fn new() -> LeaseLane {
        LeaseLane {
            stripes: (0..METRIC_STRIPES)
                .map(|_| {
                    CachePadded::new(LeaseStripe {
                        latest: Mutex::new(None),
                        latest_ticket: AtomicU64::new(0),
                        entries: Fifo::new(),
                        head: Mutex::new(None),
                    })
                })
                .collect(),
        }
    }

    /// This thread's stripe.
    #[inline]
    fn stripe(&self) -> &LeaseStripe {
        &self.stripes[thread_index() % self.stripes.len()]
    }

    /// Makes `entry` its stripe's latest; the one it displaces, unless
    /// its report cleared it, joins the back of `entries` (under the same
    /// lock, so `entries` stays in the order the leases started).
    #[inline]
    fn push(&self, entry: LeaseEntry) {
        let stripe = self.stripe();
        let mut latest = stripe.latest.lock();
        // Relaxed: under the lock this reads the ticket stored with
        // `latest` (the lock orders it) or the clearing CAS after it; a
        // clearing not seen yet only sends a reported entry to `entries`,
        // where the sweep drops it.
        let unreported = stripe.latest_ticket.load(Ordering::Relaxed);
        stripe
            .latest_ticket
            .store(entry.ticket(), Ordering::Relaxed);
        if let Some(displaced) = latest.replace(entry) {
            if displaced.ticket() == unreported {
                stripe.entries.push(displaced);
            }
        }
    }

    /// Marks this thread's latest lease reported if it is `attempt` of
    /// `job` (just reported, which ended the attempt: so the entry is dead
    /// whatever the ordering, and dropping it later is always right).
    #[inline]
    fn forget<T>(&self, job: &Job<T>, attempt: u32) {
        let ticket = ticket(job.incarnation, attempt);
        // Relaxed: see `push`.
        let _ = self.stripe().latest_ticket.compare_exchange(
            ticket,
            0,
            Ordering::Relaxed,
            Ordering::Relaxed,
        );
    }
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

/// The queue's lease lanes and sweep state.
pub(super) struct Leases {
    /// Whether any lease was ever started: until then claims skip the check.
    active: AtomicBool,
    /// The lane of the first lease duration used (most queues use one):
    /// found without the map.
    first: OnceLock<(u32, Arc<LeaseLane>)>,
    lanes: ConcurrentMap<u32, Arc<LeaseLane>>,
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

impl Leases {
    pub(super) fn new() -> Leases {
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
    fn push(&self, millis: u32, now: u64, entry: LeaseEntry) {
        match self.first.get() {
            Some((first, lane)) if *first == millis => lane.push(entry),
            _ => self.lane(millis, now).push(entry),
        }
    }

    /// Runs `f` on the lane of `millis`, if it exists.
    #[inline]
    fn with_lane(&self, millis: u32, f: impl FnOnce(&LeaseLane)) {
        match self.first.get() {
            Some((first, lane)) if *first == millis => f(lane),
            _ => {
                if let Some(lane) = self.lanes.get_cloned(&millis) {
                    f(&lane)
                }
            }
        }
    }

    /// The lane of `millis`, created (rarely) if new.
    fn lane(&self, millis: u32, now: u64) -> Arc<LeaseLane> {
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
    pub(super) fn start_lease(&self, job: &Job<T>, attempt: u32, now: u64) {
        let millis = job.lease_millis;
        if millis == 0 {
            return;
        }
        let deadline = now.saturating_add(u64::from(millis) * 1000);
        job.timestamp.start_lease(Lease::new(deadline, attempt));
        let entry = LeaseEntry {
            job: job.id,
            incarnation: job.incarnation,
            attempt,
            deadline,
        };
        self.leases.push(millis, now, entry);
    }

    /// After a report ended `attempt` of `job`: drops its lease entry if it
    /// is this thread's latest (the usual case: claim, work, report), so
    /// that nobody ever looks at it again. Otherwise a sweep drops it.
    #[inline]
    pub(super) fn forget_lease(&self, job: &Job<T>, attempt: u32) {
        if job.lease_millis != 0 {
            self.leases
                .with_lane(job.lease_millis, |lane| lane.forget(job, attempt));
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
    /// many attempts it ended.
    fn sweep_leases(&self, now: u64) -> usize {
        let mut expired = 0;
        let mut earliest = u64::MAX;
        let lanes = self.leases.lanes.values_cloned();
        for stripe in lanes.iter().flat_map(|lane| lane.stripes.iter()) {
            let mut head = stripe.head.lock();
            while let Some(entry) = head.take().or_else(|| stripe.entries.pop()) {
                match self.look_at(&entry, now) {
                    // Reported, retried, pruned...: drop the entry.
                    Look::Gone => {}
                    Look::Expired(job) => expired += usize::from(self.expire(&job, entry.attempt)),
                    // Live and not due: the stripe's earliest; stop here.
                    Look::Live(deadline) if deadline == entry.deadline => {
                        earliest = earliest.min(deadline);
                        *head = Some(entry);
                        break;
                    }
                    // Moved by a heartbeat: to the back, with its deadline.
                    Look::Live(deadline) => stripe.entries.push(LeaseEntry { deadline, ..entry }),
                }
            }
            drop(head);
            // The stripe's latest lease (started after all of `entries`),
            // unless its report marked it.
            let mut latest = stripe.latest.lock();
            let unreported = stripe.latest_ticket.load(Ordering::Relaxed);
            let look = latest
                .as_ref()
                .map(|entry| match entry.ticket() == unreported {
                    true => self.look_at(entry, now),
                    false => Look::Gone,
                });
            match look {
                None => {}
                Some(Look::Live(deadline)) => earliest = earliest.min(deadline),
                Some(Look::Gone) => {
                    *latest = None;
                    stripe.latest_ticket.store(0, Ordering::Relaxed);
                }
                Some(Look::Expired(job)) => {
                    let attempt = latest.take().map_or(0, |entry| entry.attempt);
                    stripe.latest_ticket.store(0, Ordering::Relaxed);
                    // Not under the lock: ending the attempt re-queues or
                    // finishes the job, which may take other locks.
                    drop(latest);
                    expired += usize::from(self.expire(&job, attempt));
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

    /// What the sweep finds for one lease entry at `now`: its record (looked
    /// up by id, and only if it is the same record), and whether the
    /// attempt is still claimed; if so, the lease word decides, and a due
    /// lease is marked expired here (the CAS a heartbeat cannot pass).
    fn look_at(&self, entry: &LeaseEntry, now: u64) -> Look<T> {
        let Some(job) = self
            .jobs
            .get_cloned(&entry.job)
            .filter(|job| job.incarnation == entry.incarnation)
        else {
            return Look::Gone; // pruned (a finished job): nothing to take back
        };
        let word = job.word.load();
        if word.attempt() != entry.attempt || !word.state().is_some_and(JobState::is_claimed) {
            return Look::Gone; // reported (or taken back)
        }
        let skip_mark = self.faults.unmarked_expiry();
        match job.timestamp.sweep(entry.attempt, now, skip_mark) {
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
