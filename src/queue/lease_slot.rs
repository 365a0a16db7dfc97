//! A thread's latest lease: one slot per (thread, queue), written only by
//! its thread, read by the lease sweep.
//!
//! The usual worker loop is claim, work, report, on one thread. Its claim
//! writes the lease into the thread's slot, its report clears it, and the
//! lease never goes anywhere else: no lock, no read-modify-write, no shared
//! cache line (a lock of a shared stripe at claim and at report, before).
//! A lease still in the slot when its thread claims again moves to the
//! slot's FIFO of held leases of its duration (`HeldLane`). Only the owner
//! pushes there, in the order its leases started, so each FIFO's deadlines
//! only grow (to a clock tick); the sweep pops due and dead entries from the
//! front and stops at the first live one not due.
//!
//! The slot is a single-writer sequence lock (as in the seqlock pattern:
//! an odd `seq` while the owner writes, a fence between the counter and
//! the fields), so the sweep reads a whole entry or retries, and never
//! writes; the owner's own reads need no protocol. Clearing after a report
//! stores 0 in `ticket` alone: a reader that sees that half-cleared entry
//! takes it as empty (0 is no ticket), one that sees the ticket before the
//! clear looks up an attempt that has ended and drops it.
//!
//! Registration: a thread's first leased claim on a queue makes its slot,
//! kept both in the thread's list (thread-local) and in the queue's list
//! (for the sweep). A slot that only the queue still holds (its thread
//! exited) is emptied into the FIFO and forgotten by the next sweep; a
//! thread forgets the slots of dropped queues when it registers a new one.

use super::lease::LeaseEntry;
use crate::ids::JobId;
use crate::sync::{fence, spin_wait, AtomicU64, CachePadded, Fifo, Mutex, Ordering};
use std::cell::RefCell;
use std::sync::Arc;

/// The leases of one duration that one thread held across its later
/// claims, in the order they started.
pub(super) struct HeldLane {
    millis: u32,
    /// Pushed by the slot's owner (and by the sweep, re-queueing a lease a
    /// heartbeat extended: its new deadline is the latest).
    pub(super) entries: Fifo<LeaseEntry>,
    /// The sweep's looked-at-but-not-due entry; only the sweeper (holding
    /// the queue's sweep lock) touches it.
    pub(super) head: Mutex<Option<LeaseEntry>>,
}

/// One thread's latest lease on one queue, and the leases it holds.
pub(crate) struct LeaseSlot {
    /// Even when stable, odd while the owner writes.
    seq: AtomicU64,
    job: AtomicU64,
    /// The entry's ticket (its record's incarnation and attempt); 0: empty.
    ticket: AtomicU64,
    deadline: AtomicU64,
    /// The lease's duration (its lane).
    millis: AtomicU64,
    /// Leases held across claims, per duration; a duration is added
    /// (rarely) by the owner.
    held: Mutex<Vec<Arc<HeldLane>>>,
}

impl LeaseSlot {
    pub(crate) fn new() -> LeaseSlot {
        LeaseSlot {
            seq: AtomicU64::new(0),
            job: AtomicU64::new(0),
            ticket: AtomicU64::new(0),
            deadline: AtomicU64::new(0),
            millis: AtomicU64::new(0),
            held: Mutex::new(Vec::new()),
        }
    }

    /// Queues a lease this slot's thread still holds (its owner, or the
    /// sweep once the owner exited).
    fn hold(&self, entry: LeaseEntry, millis: u32) {
        let mut held = self.held.lock();
        match held.iter().find(|lane| lane.millis == millis) {
            Some(lane) => lane.entries.push(entry),
            None => {
                let lane = HeldLane {
                    millis,
                    entries: Fifo::new(),
                    head: Mutex::new(None),
                };
                lane.entries.push(entry);
                held.push(Arc::new(lane));
            }
        }
    }

    /// The held leases, per duration, for the sweep.
    pub(super) fn held_lanes(&self) -> Vec<Arc<HeldLane>> {
        self.held.lock().clone()
    }

    /// Whether it holds nothing at all.
    fn is_empty(&self) -> bool {
        self.read().is_none()
            && self
                .held
                .lock()
                .iter()
                .all(|lane| lane.entries.is_empty() && lane.head.lock().is_none())
    }

    /// The owner's look at its own slot (nobody else writes it).
    #[inline]
    fn owned(&self) -> Option<(LeaseEntry, u32)> {
        // Relaxed: this thread wrote every field last.
        let ticket = self.ticket.load(Ordering::Relaxed);
        (ticket != 0).then(|| {
            let entry = LeaseEntry {
                job: JobId(self.job.load(Ordering::Relaxed)),
                ticket,
                deadline: self.deadline.load(Ordering::Relaxed),
            };
            (entry, self.millis.load(Ordering::Relaxed) as u32)
        })
    }

    /// The owner replaces its entry (the write half of the sequence lock).
    #[inline]
    pub(crate) fn write(&self, entry: &LeaseEntry, millis: u32) {
        self.write_guarded(entry, millis, true);
    }

    /// `write`; `guarded: false` (a loom negative control only) skips the
    /// odd counter and the fence, so a reader can take a torn entry.
    #[inline(always)]
    pub(crate) fn write_guarded(&self, entry: &LeaseEntry, millis: u32, guarded: bool) {
        let seq = self.seq.load(Ordering::Relaxed);
        if guarded {
            self.seq.store(seq + 1, Ordering::Relaxed);
            // Release fence: a reader that sees any field written below
            // also sees the odd counter (its Acquire fence pairs with this
            // one), so it retries rather than take a torn entry.
            fence(Ordering::Release);
        }
        self.job.store(entry.job.0, Ordering::Relaxed);
        self.ticket.store(entry.ticket, Ordering::Relaxed);
        self.deadline.store(entry.deadline, Ordering::Relaxed);
        self.millis.store(u64::from(millis), Ordering::Relaxed);
        // Release: a reader that sees the new even counter sees the fields.
        self.seq.store(seq + 2, Ordering::Release);
    }

    /// The owner clears its entry if it is `ticket` (just reported).
    #[inline]
    fn clear_if(&self, ticket: u64) {
        if self.ticket.load(Ordering::Relaxed) == ticket {
            // Relaxed: one field; see the module comment.
            self.ticket.store(0, Ordering::Relaxed);
        }
    }

    /// The sweep's read (the read half of the sequence lock): a whole
    /// entry, or `None` when the slot is empty.
    pub(crate) fn read(&self) -> Option<(LeaseEntry, u32)> {
        loop {
            // Acquire: pairs with the writer's final Release store.
            let before = self.seq.load(Ordering::Acquire);
            if before % 2 == 1 {
                spin_wait(); // the owner is writing (a few stores)
                continue;
            }
            let job = self.job.load(Ordering::Relaxed);
            let ticket = self.ticket.load(Ordering::Relaxed);
            let deadline = self.deadline.load(Ordering::Relaxed);
            let millis = self.millis.load(Ordering::Relaxed);
            // Acquire fence: pairs with the writer's Release fence, so a
            // field written after an odd counter makes `after` differ.
            fence(Ordering::Acquire);
            let after = self.seq.load(Ordering::Relaxed);
            if before != after {
                spin_wait();
                continue;
            }
            return (ticket != 0).then(|| {
                let entry = LeaseEntry {
                    job: JobId(job),
                    ticket,
                    deadline,
                };
                (entry, millis as u32)
            });
        }
    }
}

/// A slot on cache lines of its own: each thread writes its slot at every
/// leased claim and report, and two threads' slots, allocated one after
/// the other, could otherwise share a line. (On the 16-core Xeon this
/// alone did not change the 2-thread figure; the record's field order did:
/// see `Job`.)
type Padded = CachePadded<LeaseSlot>;

crate::sync::thread_local! {
    /// This thread's slots, one per queue it claimed leased jobs from
    /// (tagged with the queue's id).
    static SLOTS: RefCell<Vec<(u64, Arc<Padded>)>> = const { RefCell::new(Vec::new()) };
}

/// A queue's list of its threads' slots.
pub(super) struct LeaseSlots {
    /// The queue's id (what a thread's list is keyed by).
    queue: u64,
    slots: Mutex<Vec<Arc<Padded>>>,
}

impl LeaseSlots {
    pub(super) fn new(queue: u64) -> LeaseSlots {
        LeaseSlots {
            queue,
            slots: Mutex::new(Vec::new()),
        }
    }

    /// Makes `entry` (of duration `millis`) this thread's latest lease;
    /// the one it replaces, unless this thread reported it, moves to the
    /// slot's held leases. `Err(entry)`: this thread has no slot (its
    /// thread-locals are being destroyed): the caller keeps it elsewhere.
    #[inline]
    pub(super) fn replace(&self, entry: LeaseEntry, millis: u32) -> Result<(), LeaseEntry> {
        let replaced = SLOTS.try_with(|slots| {
            if let Ok(slots) = slots.try_borrow() {
                if let Some((_, slot)) = slots.iter().find(|(queue, _)| *queue == self.queue) {
                    if let Some((previous, millis)) = slot.owned() {
                        slot.hold(previous, millis);
                    }
                    slot.write(&entry, millis);
                    return true;
                }
            }
            self.register(slots, &entry, millis)
        });
        match replaced {
            Ok(true) => Ok(()),
            _ => Err(entry),
        }
    }

    /// This thread's first leased claim on this queue: makes its slot,
    /// holding `entry`. `false` if this thread's list is busy (it is not:
    /// nothing in between borrows it).
    #[cold]
    fn register(
        &self,
        slots: &RefCell<Vec<(u64, Arc<Padded>)>>,
        entry: &LeaseEntry,
        millis: u32,
    ) -> bool {
        let Ok(mut slots) = slots.try_borrow_mut() else {
            return false;
        };
        let slot = Arc::new(CachePadded::new(LeaseSlot::new()));
        slot.write(entry, millis);
        // Forget the slots of dropped queues (only this thread holds them).
        slots.retain(|(_, slot)| Arc::strong_count(slot) > 1);
        self.slots.lock().push(Arc::clone(&slot));
        slots.push((self.queue, slot));
        true
    }

    /// Clears this thread's latest lease if it is `ticket` (just reported
    /// by this thread).
    #[inline]
    pub(super) fn clear_if(&self, ticket: u64) {
        let _ = SLOTS.try_with(|slots| {
            if let Ok(slots) = slots.try_borrow() {
                if let Some((_, slot)) = slots.iter().find(|(queue, _)| *queue == self.queue) {
                    slot.clear_if(ticket);
                }
            }
        });
    }

    /// The slots, for the sweep. The slot of a thread that exited (only
    /// this list holds it; nobody writes it any more) has its latest lease
    /// moved to its held leases, and is forgotten once it holds nothing.
    pub(super) fn for_sweep(&self) -> Vec<Arc<Padded>> {
        let mut slots = self.slots.lock();
        slots.retain(|slot| {
            if Arc::strong_count(slot) > 1 {
                return true;
            }
            // The sequence lock's read: Acquire against the exited owner's
            // last write (a count read alone would not order it).
            if let Some((entry, millis)) = slot.read() {
                slot.hold(entry, millis);
                slot.clear_if(entry.ticket);
            }
            !slot.is_empty()
        });
        slots.clone()
    }
}

#[cfg(all(test, not(any(dagqueue_loom, dagqueue_shuttle))))]
mod tests {
    use super::*;

    fn entry(job: u64, ticket: u64) -> LeaseEntry {
        LeaseEntry {
            job: JobId(job),
            ticket,
            deadline: job * 10,
        }
    }

    fn held(slot: &LeaseSlot) -> Vec<u64> {
        let mut tickets = Vec::new();
        for lane in slot.held_lanes() {
            while let Some(entry) = lane.entries.pop() {
                tickets.push(entry.ticket);
            }
        }
        tickets
    }

    #[test]
    fn a_thread_keeps_its_latest_lease_until_it_reports_it() {
        let slots = LeaseSlots::new(u64::MAX - 1);
        assert_eq!(slots.replace(entry(1, 11), 5), Ok(()));
        let slot = slots.for_sweep().remove(0);
        let (seen, millis) = slot.read().unwrap();
        assert_eq!(
            (seen.job, seen.ticket, seen.deadline, millis),
            (JobId(1), 11, 10, 5)
        );
        // Held across the next claim: moved to the held leases.
        assert_eq!(slots.replace(entry(2, 22), 5), Ok(()));
        assert_eq!(held(&slot), [11]);
        // Reported: cleared, so the next claim holds nothing back.
        slots.clear_if(11); // not the latest: no effect
        assert_eq!(slot.read().map(|(e, _)| e.ticket), Some(22));
        slots.clear_if(22);
        assert!(slot.read().is_none());
        assert_eq!(slots.replace(entry(3, 33), 5), Ok(()));
        assert!(held(&slot).is_empty());
    }

    /// (Mutation testing: the registration's clean-up, kept as `> 1`, went
    /// unseen turned into keeping every slot or none.)
    #[test]
    fn a_thread_forgets_the_slots_of_dropped_queues_and_keeps_the_others() {
        std::thread::spawn(|| {
            let mine = || SLOTS.with(|s| s.borrow().iter().map(|(q, _)| *q).collect::<Vec<_>>());
            let (a, b, c) = (u64::MAX - 3, u64::MAX - 4, u64::MAX - 5);
            let first = LeaseSlots::new(a);
            let second = LeaseSlots::new(b);
            assert_eq!(first.replace(entry(1, 11), 5), Ok(()));
            assert_eq!(second.replace(entry(2, 22), 5), Ok(()));
            assert_eq!(mine(), [a, b], "a live queue's slot is kept");
            drop(first);
            let third = LeaseSlots::new(c);
            assert_eq!(third.replace(entry(3, 33), 5), Ok(()));
            assert_eq!(mine(), [b, c], "a dropped queue's slot is forgotten");
        })
        .join()
        .unwrap();
    }

    #[test]
    fn the_slot_of_an_exited_thread_is_swept_then_forgotten() {
        let slots = Arc::new(LeaseSlots::new(u64::MAX - 2));
        let theirs = Arc::clone(&slots);
        // `join` (not a scope's end) waits for the thread's thread-locals
        // to be destroyed.
        std::thread::spawn(move || assert_eq!(theirs.replace(entry(7, 77), 5), Ok(())))
            .join()
            .unwrap();
        let orphan = slots.for_sweep();
        assert_eq!(orphan.len(), 1);
        assert!(orphan[0].read().is_none(), "moved to the held leases");
        assert_eq!(held(&orphan[0]), [77]);
        drop(orphan);
        assert!(slots.for_sweep().is_empty(), "forgotten once empty");
    }
}
