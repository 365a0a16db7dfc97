//! Deliberately broken protocol steps, for the model checkers' negative
//! controls.
//!
//! Under `--cfg dagqueue_loom` or `--cfg dagqueue_shuttle`, a queue can be
//! built with faults switched on (`JobQueueBuilder::__with_faults`; the
//! models and the shuttle scenarios reach [`Faults`] through
//! `dagqueue::__loom`), so that they can show they catch the bugs each
//! protocol step prevents. The queue hands its `Faults` to what it
//! builds (each job's state word and dependents list, each cluster, each
//! batch), so the protocol steps read their own copy and no hot-path
//! signature carries it.
//! In every other build [`Faults`] has no fields (zero-sized: the records do
//! not grow) and each check is the constant `false`, so the faulty branches
//! compile away.

/// Which protocol steps to break.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Faults {
    /// Claim by load-then-store instead of compare-and-swap.
    #[cfg(any(dagqueue_loom, dagqueue_shuttle))]
    pub racy_claim: bool,
    /// Reserve a cluster slot in two steps: check capacity, then increment.
    #[cfg(any(dagqueue_loom, dagqueue_shuttle))]
    pub two_step_reserve: bool,
    /// Take a finished job's dependents without sealing the list.
    #[cfg(any(dagqueue_loom, dagqueue_shuttle))]
    pub unsealed_dependents: bool,
    /// Set a job aside without re-checking the resources generation.
    #[cfg(any(dagqueue_loom, dagqueue_shuttle))]
    pub unchecked_set_aside: bool,
    /// Close by setting the flag only, without waking the sleepers.
    #[cfg(any(dagqueue_loom, dagqueue_shuttle))]
    pub silent_close: bool,
    /// End jobs without waking the callers asleep in `wait_idle`.
    #[cfg(any(dagqueue_loom, dagqueue_shuttle))]
    pub silent_finish: bool,
    /// End a job by a dependency first, then note which dependency.
    #[cfg(any(dagqueue_loom, dagqueue_shuttle))]
    pub note_after_end: bool,
    /// Take a due lease back without first marking it expired.
    #[cfg(any(dagqueue_loom, dagqueue_shuttle))]
    pub unmarked_expiry: bool,
    /// Release a lease's slot before the CAS that ends its attempt.
    #[cfg(any(dagqueue_loom, dagqueue_shuttle))]
    pub early_expiry_release: bool,
    /// End an expired attempt by load-then-store instead of CAS.
    #[cfg(any(dagqueue_loom, dagqueue_shuttle))]
    pub racy_expiry: bool,
    /// Release a due timer into its lane without waking the sleepers.
    #[cfg(any(dagqueue_loom, dagqueue_shuttle))]
    pub silent_release: bool,
    /// Put a job that became claimable in its lane without waking a waiter.
    #[cfg(any(dagqueue_loom, dagqueue_shuttle))]
    pub silent_enqueue: bool,
    /// A waiter that claimed after a wake-up does not pass it on.
    #[cfg(any(dagqueue_loom, dagqueue_shuttle))]
    pub no_pass_on: bool,
    /// Clear a transition's event mark before writing its event.
    #[cfg(any(dagqueue_loom, dagqueue_shuttle))]
    pub early_unmark: bool,
    /// After registering with a dependency (the push beat the seal), also
    /// count the wait down if the dependency has finished meanwhile: the
    /// finisher counts it too, a double decrement.
    #[cfg(any(dagqueue_loom, dagqueue_shuttle))]
    pub double_release: bool,
    /// Publish a `submit_many` batch dependencies first: a job can then end
    /// (a cancel) while the dependents pre-registered on it are still
    /// reserved, unknown to the ending.
    #[cfg(any(dagqueue_loom, dagqueue_shuttle))]
    pub batch_dependencies_first: bool,
    /// Release a reported attempt's cluster slot before the CAS that ends
    /// it (so a stale or duplicate report releases it too).
    #[cfg(any(dagqueue_loom, dagqueue_shuttle))]
    pub early_report_release: bool,
    /// Put a job that became pending in its lane twice.
    #[cfg(any(dagqueue_loom, dagqueue_shuttle))]
    pub double_enqueue: bool,
    /// Resume a cluster without waking the callers asleep in `claim_wait`.
    #[cfg(any(dagqueue_loom, dagqueue_shuttle))]
    pub silent_resume: bool,
    /// A claim that found nothing does not look again after a compaction
    /// that ran while it looked.
    #[cfg(any(dagqueue_loom, dagqueue_shuttle))]
    pub unguarded_compaction: bool,
    /// Write an event without waking the subscribers asleep in `recv`.
    #[cfg(any(dagqueue_loom, dagqueue_shuttle))]
    pub silent_event: bool,
    /// A freed cluster slot wakes a waiter of its own runner type only,
    /// never one of the other runner types using the cluster.
    #[cfg(any(dagqueue_loom, dagqueue_shuttle))]
    pub own_runner_slot_wake: bool,
    /// A `submit_many` batch lets its records go at the first seal of one
    /// of its jobs with dependents in it, not at the last.
    #[cfg(any(dagqueue_loom, dagqueue_shuttle))]
    pub early_batch_unlink: bool,
    /// A lane's popper takes its slot by load-then-store of the head
    /// instead of compare-and-swap (`record_fifo.rs`).
    #[cfg(any(dagqueue_loom, dagqueue_shuttle))]
    pub racy_lane_pop: bool,
    /// A lane's pusher publishes its entry's record pointer Relaxed, not
    /// Release: a popper may see the pointer without the tag.
    #[cfg(any(dagqueue_loom, dagqueue_shuttle))]
    pub relaxed_lane_publish: bool,
}

impl Faults {
    #[inline(always)]
    pub(crate) fn racy_claim(self) -> bool {
        #[cfg(any(dagqueue_loom, dagqueue_shuttle))]
        return self.racy_claim;
        #[cfg(not(any(dagqueue_loom, dagqueue_shuttle)))]
        false
    }

    #[inline(always)]
    pub(crate) fn two_step_reserve(self) -> bool {
        #[cfg(any(dagqueue_loom, dagqueue_shuttle))]
        return self.two_step_reserve;
        #[cfg(not(any(dagqueue_loom, dagqueue_shuttle)))]
        false
    }

    #[inline(always)]
    pub(crate) fn unchecked_set_aside(self) -> bool {
        #[cfg(any(dagqueue_loom, dagqueue_shuttle))]
        return self.unchecked_set_aside;
        #[cfg(not(any(dagqueue_loom, dagqueue_shuttle)))]
        false
    }

    #[inline(always)]
    pub(crate) fn silent_close(self) -> bool {
        #[cfg(any(dagqueue_loom, dagqueue_shuttle))]
        return self.silent_close;
        #[cfg(not(any(dagqueue_loom, dagqueue_shuttle)))]
        false
    }

    #[inline(always)]
    pub(crate) fn early_expiry_release(self) -> bool {
        #[cfg(any(dagqueue_loom, dagqueue_shuttle))]
        return self.early_expiry_release;
        #[cfg(not(any(dagqueue_loom, dagqueue_shuttle)))]
        false
    }

    #[inline(always)]
    pub(crate) fn early_unmark(self) -> bool {
        #[cfg(any(dagqueue_loom, dagqueue_shuttle))]
        return self.early_unmark;
        #[cfg(not(any(dagqueue_loom, dagqueue_shuttle)))]
        false
    }

    #[inline(always)]
    pub(crate) fn silent_enqueue(self) -> bool {
        #[cfg(any(dagqueue_loom, dagqueue_shuttle))]
        return self.silent_enqueue;
        #[cfg(not(any(dagqueue_loom, dagqueue_shuttle)))]
        false
    }

    #[inline(always)]
    pub(crate) fn silent_release(self) -> bool {
        #[cfg(any(dagqueue_loom, dagqueue_shuttle))]
        return self.silent_release;
        #[cfg(not(any(dagqueue_loom, dagqueue_shuttle)))]
        false
    }

    #[inline(always)]
    pub(crate) fn racy_expiry(self) -> bool {
        #[cfg(any(dagqueue_loom, dagqueue_shuttle))]
        return self.racy_expiry;
        #[cfg(not(any(dagqueue_loom, dagqueue_shuttle)))]
        false
    }

    #[inline(always)]
    pub(crate) fn unmarked_expiry(self) -> bool {
        #[cfg(any(dagqueue_loom, dagqueue_shuttle))]
        return self.unmarked_expiry;
        #[cfg(not(any(dagqueue_loom, dagqueue_shuttle)))]
        false
    }

    #[inline(always)]
    pub(crate) fn note_after_end(self) -> bool {
        #[cfg(any(dagqueue_loom, dagqueue_shuttle))]
        return self.note_after_end;
        #[cfg(not(any(dagqueue_loom, dagqueue_shuttle)))]
        false
    }

    #[inline(always)]
    pub(crate) fn silent_event(self) -> bool {
        #[cfg(any(dagqueue_loom, dagqueue_shuttle))]
        return self.silent_event;
        #[cfg(not(any(dagqueue_loom, dagqueue_shuttle)))]
        false
    }

    #[inline(always)]
    pub(crate) fn silent_finish(self) -> bool {
        #[cfg(any(dagqueue_loom, dagqueue_shuttle))]
        return self.silent_finish;
        #[cfg(not(any(dagqueue_loom, dagqueue_shuttle)))]
        false
    }

    #[inline(always)]
    pub(crate) fn batch_dependencies_first(self) -> bool {
        #[cfg(any(dagqueue_loom, dagqueue_shuttle))]
        return self.batch_dependencies_first;
        #[cfg(not(any(dagqueue_loom, dagqueue_shuttle)))]
        false
    }

    #[inline(always)]
    pub(crate) fn double_release(self) -> bool {
        #[cfg(any(dagqueue_loom, dagqueue_shuttle))]
        return self.double_release;
        #[cfg(not(any(dagqueue_loom, dagqueue_shuttle)))]
        false
    }

    #[inline(always)]
    pub(crate) fn early_report_release(self) -> bool {
        #[cfg(any(dagqueue_loom, dagqueue_shuttle))]
        return self.early_report_release;
        #[cfg(not(any(dagqueue_loom, dagqueue_shuttle)))]
        false
    }

    #[inline(always)]
    pub(crate) fn double_enqueue(self) -> bool {
        #[cfg(any(dagqueue_loom, dagqueue_shuttle))]
        return self.double_enqueue;
        #[cfg(not(any(dagqueue_loom, dagqueue_shuttle)))]
        false
    }

    #[inline(always)]
    pub(crate) fn no_pass_on(self) -> bool {
        #[cfg(any(dagqueue_loom, dagqueue_shuttle))]
        return self.no_pass_on;
        #[cfg(not(any(dagqueue_loom, dagqueue_shuttle)))]
        false
    }

    #[inline(always)]
    pub(crate) fn own_runner_slot_wake(self) -> bool {
        #[cfg(any(dagqueue_loom, dagqueue_shuttle))]
        return self.own_runner_slot_wake;
        #[cfg(not(any(dagqueue_loom, dagqueue_shuttle)))]
        false
    }

    #[inline(always)]
    pub(crate) fn early_batch_unlink(self) -> bool {
        #[cfg(any(dagqueue_loom, dagqueue_shuttle))]
        return self.early_batch_unlink;
        #[cfg(not(any(dagqueue_loom, dagqueue_shuttle)))]
        false
    }

    #[inline(always)]
    pub(crate) fn silent_resume(self) -> bool {
        #[cfg(any(dagqueue_loom, dagqueue_shuttle))]
        return self.silent_resume;
        #[cfg(not(any(dagqueue_loom, dagqueue_shuttle)))]
        false
    }

    #[inline(always)]
    pub(crate) fn unguarded_compaction(self) -> bool {
        #[cfg(any(dagqueue_loom, dagqueue_shuttle))]
        return self.unguarded_compaction;
        #[cfg(not(any(dagqueue_loom, dagqueue_shuttle)))]
        false
    }

    #[inline(always)]
    pub(crate) fn racy_lane_pop(self) -> bool {
        #[cfg(any(dagqueue_loom, dagqueue_shuttle))]
        return self.racy_lane_pop;
        #[cfg(not(any(dagqueue_loom, dagqueue_shuttle)))]
        false
    }

    #[inline(always)]
    pub(crate) fn relaxed_lane_publish(self) -> bool {
        #[cfg(any(dagqueue_loom, dagqueue_shuttle))]
        return self.relaxed_lane_publish;
        #[cfg(not(any(dagqueue_loom, dagqueue_shuttle)))]
        false
    }

    #[inline(always)]
    pub(crate) fn unsealed_dependents(self) -> bool {
        #[cfg(any(dagqueue_loom, dagqueue_shuttle))]
        return self.unsealed_dependents;
        #[cfg(not(any(dagqueue_loom, dagqueue_shuttle)))]
        false
    }
}

/// What the loom models reach of the crate's internals: [`Faults`] and one
/// read of a cluster's word. Hidden; not part of the API.
pub mod __loom {
    pub use super::Faults;

    /// Sweeps the leases as at `now` (µs on the queue's clock); returns
    /// how many it took back.
    pub fn expire_leases_at(queue: &crate::JobQueue, now: u64) -> usize {
        queue.expire_leases_at(now)
    }

    /// Releases the delayed jobs due at `now` (µs); returns how many.
    pub fn release_due_at(queue: &crate::JobQueue, now: u64) -> usize {
        queue.release_due(now)
    }

    /// Sets the queue's clock (µs) of a loom build.
    pub fn set_time(queue: &crate::JobQueue, micros: u64) {
        queue.set_loom_time(micros);
    }

    /// A thread's lease slot on its own (`queue/lease_slot.rs`), for the
    /// model of its sequence lock.
    pub struct LeaseSlotProbe(crate::queue::lease_slot::LeaseSlot);

    impl LeaseSlotProbe {
        /// An empty slot.
        #[allow(clippy::new_without_default)]
        pub fn new() -> LeaseSlotProbe {
            LeaseSlotProbe(crate::queue::lease_slot::LeaseSlot::new())
        }

        /// The owner writes entry `k` (every field `k`); `torn` skips the
        /// sequence lock's odd counter and fence (the negative control).
        pub fn write(&self, k: u64, torn: bool) {
            let entry = crate::queue::lease::LeaseEntry {
                job: crate::JobId(k),
                ticket: k,
                deadline: k,
            };
            self.0.write_guarded(&entry, k as u32, !torn);
        }

        /// The sweep's read: every field, or `None` if empty.
        pub fn read(&self) -> Option<[u64; 4]> {
            self.0
                .read()
                .map(|(e, millis)| [e.job.0, e.ticket, e.deadline, u64::from(millis)])
        }
    }

    /// The ready lanes' lock-free FIFO on its own (`record_fifo.rs`), for
    /// its models: each entry a record holding a number, tagged with the
    /// same number. The models keep a clone of each record they push, so
    /// that they can check its count at the end and read the records a
    /// popper is shown.
    pub struct RecordFifoProbe(crate::record_fifo::RecordFifo<u64>);

    impl RecordFifoProbe {
        /// An empty FIFO with `faults` (its two: `racy_lane_pop`,
        /// `relaxed_lane_publish`).
        pub fn new(faults: Faults) -> RecordFifoProbe {
            RecordFifoProbe(crate::record_fifo::RecordFifo::with_faults(faults))
        }

        /// Pushes `record`, tagged with its number.
        pub fn push(&self, record: std::sync::Arc<u64>) {
            let tag = *record;
            self.0.push(record, tag);
        }

        /// Pops an entry: its record, its tag (the record's number unless
        /// the entry was read before it was written), and the numbers of
        /// the records the popper was shown behind it.
        ///
        /// # Safety
        ///
        /// Every record pushed is still alive: the caller holds a clone of
        /// each (the records shown are read, and another popper may have
        /// taken and dropped the queue's reference to them).
        pub unsafe fn pop(&self) -> Option<(std::sync::Arc<u64>, u64, Vec<u64>)> {
            let mut behind = Vec::new();
            let (record, tag) = self.0.pop_looking_ahead(|address| {
                // SAFETY: the caller keeps every record pushed alive.
                behind.push(unsafe { *address })
            })?;
            Some((record, tag, behind))
        }

        /// Whether it looks empty.
        pub fn is_empty(&self) -> bool {
            self.0.is_empty()
        }

        /// How many entries it holds.
        pub fn len(&self) -> usize {
            self.0.len()
        }
    }

    /// How many entries of job `job` its lanes hold that a claim would take
    /// (their version is its word's): 1 while it is pending, else 0.
    #[cfg(any(dagqueue_loom, dagqueue_shuttle))]
    pub fn live_lane_entries(queue: &crate::JobQueue, job: crate::JobId) -> usize {
        queue.live_lane_entries(job)
    }

    /// One read of a cluster's word: (running, reserving, capacity, paused).
    pub fn cluster_word(
        queue: &crate::JobQueue,
        cluster: crate::ClusterId,
    ) -> Option<(u32, u32, u32, bool)> {
        queue.cluster_word(cluster)
    }
}
