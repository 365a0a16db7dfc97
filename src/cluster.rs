//! Clusters: a concurrency limit, a paused flag and slot resources.
//!
//! The running count, the in-flight reservations, the capacity and the paused
//! flag share one `AtomicU64`, so "is there room, and take it" is a single
//! compare-and-swap: two claimers can never both take the last slot, and a
//! claim can never slip past a pause.
//!
//! | bits   | field     |
//! |--------|-----------|
//! | 0..21  | running   |
//! | 21..42 | reserving |
//! | 42..63 | capacity  |
//! | 63     | paused    |
//!
//! A claim first [reserves](Cluster::try_reserve) a slot (reserving + 1, only
//! if not paused and running + reserving < capacity), then takes a job from a
//! lane, then [commits](Cluster::commit) (reserving − 1, running + 1) or
//! [cancels](Cluster::cancel_reservation) the reservation. `pause` sets the
//! flag and then waits for reservations in flight to settle, so once it
//! returns no claim on the cluster can still succeed.

use crate::append_list::AppendList;
use crate::faults::Faults;
use crate::ids::ClusterId;
use crate::spec::Resources;
use crate::sync::{spin_wait, AtomicU64, Mutex, Ordering};
use crate::wake::WakeSignal;
use std::sync::Arc;

const FIELD_BITS: u32 = 21;
const FIELD_MASK: u64 = (1 << FIELD_BITS) - 1;
const RESERVING_SHIFT: u32 = 21;
const CAPACITY_SHIFT: u32 = 42;
const PAUSED_BIT: u64 = 1 << 63;
const NO_RESOURCES: u64 = u64::MAX;

/// A decoded cluster word.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct ClusterWord(u64);

impl ClusterWord {
    fn new(capacity: u32) -> ClusterWord {
        ClusterWord(u64::from(capacity) << CAPACITY_SHIFT)
    }
    pub(crate) fn running(self) -> u32 {
        (self.0 & FIELD_MASK) as u32
    }
    pub(crate) fn reserving(self) -> u32 {
        ((self.0 >> RESERVING_SHIFT) & FIELD_MASK) as u32
    }
    pub(crate) fn capacity(self) -> u32 {
        ((self.0 >> CAPACITY_SHIFT) & FIELD_MASK) as u32
    }
    pub(crate) fn paused(self) -> bool {
        self.0 & PAUSED_BIT != 0
    }
    /// Whether a new claim could start now.
    pub(crate) fn can_accept(self) -> bool {
        !self.paused() && self.running() + self.reserving() < self.capacity()
    }
    fn with_capacity(self, capacity: u32) -> ClusterWord {
        ClusterWord(
            (self.0 & !(FIELD_MASK << CAPACITY_SHIFT)) | (u64::from(capacity) << CAPACITY_SHIFT),
        )
    }
}

/// One cluster.
pub(crate) struct Cluster {
    pub(crate) id: ClusterId,
    word: AtomicU64,
    /// Packed `cores << 32 | memory_gb`, or `NO_RESOURCES`.
    resources: AtomicU64,
    /// Bumped by every `set_resources`, after storing the resources.
    resources_generation: AtomicU64,
    /// Serialises configuration changes (never taken by claim or complete).
    config: Mutex<()>,
    /// The wake signals of the runner types whose jobs use it (a lane
    /// group of each; a runner type has one signal), noted as groups are
    /// made, so that a freed slot wakes a waiter of each (one runner: just
    /// its own). Read without a lock (`AppendList`); `noting` serialises
    /// the notes.
    wakes: AppendList<Arc<WakeSignal>>,
    noting: Mutex<()>,
    /// Loom negative controls only (zero-sized otherwise).
    faults: Faults,
}

impl Cluster {
    pub(crate) fn new(id: ClusterId, capacity: u32, faults: Faults) -> Cluster {
        Cluster {
            id,
            word: AtomicU64::new(ClusterWord::new(capacity).0),
            resources: AtomicU64::new(NO_RESOURCES),
            resources_generation: AtomicU64::new(0),
            config: Mutex::new(()),
            wakes: AppendList::new(),
            noting: Mutex::new(()),
            faults,
        }
    }

    /// Notes that jobs of the runner type whose waiters `wake` wakes use
    /// this cluster (a new lane group; before the group is published).
    pub(crate) fn note_runner(&self, wake: &Arc<WakeSignal>) {
        let _noting = self.noting.lock();
        if !self.wakes.iter().any(|noted| Arc::ptr_eq(noted, wake)) {
            // Release (the list's push): published before the group's
            // first job.
            self.wakes.push(Arc::clone(wake));
        }
    }

    /// The wake signals of the runner types whose jobs use it, if there is
    /// more than one (a freed slot then wakes a waiter of each); `None` if
    /// one runner type uses it, whose own signal the caller wakes. No lock
    /// and no write: a report walks it after freeing a slot.
    #[inline]
    pub(crate) fn shared_wakes(&self) -> Option<impl Iterator<Item = &Arc<WakeSignal>>> {
        (self.wakes.len() > 1).then(|| self.wakes.iter())
    }

    /// The current word (Acquire: pairs with the Release of every change).
    pub(crate) fn load(&self) -> ClusterWord {
        ClusterWord(self.word.load(Ordering::Acquire))
    }

    fn update(&self, mut step: impl FnMut(ClusterWord) -> Option<ClusterWord>) -> bool {
        let mut current = self.word.load(Ordering::Acquire);
        loop {
            let Some(next) = step(ClusterWord(current)) else {
                return false;
            };
            // AcqRel: each change is published to the next reader of the word,
            // and sees the previous one.
            match self.word.compare_exchange_weak(
                current,
                next.0,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => return true,
                Err(actual) => current = actual,
            }
        }
    }

    /// Takes a slot for a claim in progress: the capacity check and the
    /// increment are one CAS. Fails if paused or full.
    #[inline]
    pub(crate) fn try_reserve(&self) -> bool {
        if self.faults.two_step_reserve() {
            // Negative control: check capacity, then increment, in two steps.
            if !self.load().can_accept() {
                return false;
            }
            self.word.fetch_add(1 << RESERVING_SHIFT, Ordering::AcqRel);
            return true;
        }
        self.update(|w| {
            w.can_accept()
                .then_some(ClusterWord(w.0 + (1 << RESERVING_SHIFT)))
        })
    }

    /// The reservation became a claim: reserving − 1, running + 1.
    #[inline]
    pub(crate) fn commit(&self) {
        // One atomic add: subtracting 1 << 21 and adding 1. Cannot borrow or
        // carry out of either field: reserving ≥ 1 (ours), running < 2^21 − 1.
        self.word
            .fetch_add(1u64.wrapping_sub(1 << RESERVING_SHIFT), Ordering::AcqRel);
    }

    /// The reservation found no job: reserving − 1.
    #[inline]
    pub(crate) fn cancel_reservation(&self) {
        self.word.fetch_sub(1 << RESERVING_SHIFT, Ordering::AcqRel);
    }

    /// A claimed job finished: running − 1 (running ≥ 1: it held a slot).
    #[inline]
    pub(crate) fn release(&self) {
        self.word.fetch_sub(1, Ordering::AcqRel);
    }

    /// Sets the capacity.
    pub(crate) fn set_capacity(&self, capacity: u32) {
        let _config = self.config.lock();
        self.update(|w| Some(w.with_capacity(capacity)));
    }

    /// Sets the paused flag, then waits for claims that reserved a slot
    /// before it to commit or cancel: after this returns, no claim on the
    /// cluster succeeds until `resume`.
    pub(crate) fn pause(&self) {
        let _config = self.config.lock();
        self.update(|w| Some(ClusterWord(w.0 | PAUSED_BIT)));
        while self.load().reserving() > 0 {
            spin_wait();
        }
    }

    /// Clears the paused flag.
    pub(crate) fn resume(&self) {
        let _config = self.config.lock();
        self.update(|w| Some(ClusterWord(w.0 & !PAUSED_BIT)));
    }

    /// The resources of one slot, if set.
    pub(crate) fn resources(&self) -> Option<Resources> {
        let packed = self.resources.load(Ordering::Acquire);
        (packed != NO_RESOURCES).then_some(Resources {
            cores: (packed >> 32) as u32,
            memory_gb: packed as u32,
        })
    }

    /// Whether a job needing `needs` fits a slot.
    #[inline]
    pub(crate) fn fits(&self, needs: &Resources) -> bool {
        if *needs == Resources::default() {
            return true;
        }
        self.resources().is_none_or(|slot| needs.fits_in(&slot))
    }

    /// The generation of the resources; read before deciding a job does not fit.
    pub(crate) fn resources_generation(&self) -> u64 {
        self.resources_generation.load(Ordering::SeqCst)
    }

    /// Stores new slot resources and bumps the generation. The caller then
    /// puts the set-aside entries back.
    pub(crate) fn set_resources(&self, resources: Resources) {
        let _config = self.config.lock();
        let packed = (u64::from(resources.cores) << 32) | u64::from(resources.memory_gb);
        self.resources.store(packed, Ordering::Release);
        // SeqCst: pairs with the SeqCst fence and load in `JobQueue::set_aside`
        // (a claimer that set an entry aside with old resources either sees
        // this bump and restores the entry itself, or its entry is visible to
        // our caller's drain).
        self.resources_generation.fetch_add(1, Ordering::SeqCst);
        crate::sync::fence(Ordering::SeqCst);
    }
}
