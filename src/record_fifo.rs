//! A lock-free FIFO of `(Arc<R>, tag)` entries whose popper can see the
//! records of the entries queued behind the one it takes: the ready lanes.
//!
//! With a million jobs queued, a claim's first touch of its job's record
//! is a miss to memory (issue 12, item 7: `scale`); crossbeam's `SegQueue`,
//! which the lanes used before, shows no entry but the one popped. Here a
//! popper hands the next entries' record addresses to a prefetch while it
//! still holds its own slot, so the claimer that takes them finds them in
//! cache (BENCHMARKS.md, "Lanes that show the next record").
//!
//! # Layout
//!
//! Entries live in blocks of `BLOCK` slots, chained in FIFO order. A slot
//! is two atomics: the tag, and the record pointer (from `Arc::into_raw`),
//! null until the slot is written. A slot is written once and taken once;
//! a block is never reused: the popper that releases its last slot frees
//! it. A pointer read in a slot is only ever dereferenced by the popper
//! that took that slot; anyone else uses it as an address to prefetch.
//!
//! # Positions
//!
//! `head` and `tail` each hold a position and the block it is in. Position
//! `p` is slot `p % LAP` of its block, where `LAP = BLOCK + 1`: offset
//! `BLOCK` is no slot but a mark meaning "the end is moving to the next
//! block", during which the end's block pointer may be stale, so nobody
//! reads it. Positions only grow, so a compare-and-swap that succeeds on a
//! position proves nothing moved it since it was loaded.
//!
//! - **push** (linearization point: the tail CAS from `p` to `p + 1`)
//!   reserves slot `p`; the pusher of a block's last slot also installs
//!   the next block (allocated before the CAS, so the mark lasts three
//!   stores) and moves the tail past the mark. Then it writes the tag and
//!   publishes the record pointer (Release).
//! - **pop** (linearization point: the head CAS from `p` to `p + 1`, made
//!   only after a load of the tail showed `p` reserved) takes slot `p`; the
//!   popper of a block's last slot waits for the next block and moves the
//!   head past the mark. Then it waits for the slot's record pointer
//!   (Acquire; its pusher may be between its CAS and its store), reads the
//!   following slots' record pointers for the prefetch, and releases its
//!   slot.
//! - **release**: each popper adds one to its block's count of released
//!   slots when it is done with the block (AcqRel); the one that brings it
//!   to `BLOCK` frees the block. Nobody else can still reach it: both ends
//!   moved past it before its last slot was published (the pusher of the
//!   last slot moved the tail before publishing, its popper moved the head
//!   before releasing), every slot was taken by a popper that is done with
//!   it, and a thread that loaded an end's block pointer dereferences it
//!   only after its CAS on that end's position succeeded, which keeps one
//!   of the block's slots unreleased.
//!
//! # Progress
//!
//! Lock-free but for three short waits, each on a thread between its CAS
//! and the stores that follow it (as in crossbeam's `SegQueue`): a pusher
//! at the tail's mark waits for the pusher moving the tail to the next
//! block; a popper at the head's mark waits for the popper moving the
//! head; that popper waits for the pusher of the block's last slot to link
//! the next block; and a popper waits for the pusher of its slot to write
//! it. A pusher, once past its CAS, waits for nobody, so the waits form no
//! cycle: each ends as soon as the thread waited on is scheduled.

use crate::sync::{spin_wait, AtomicPtr, AtomicU64, AtomicUsize, CachePadded, Ordering};
use core::marker::PhantomData;
use core::ptr;
use std::sync::Arc;

/// Slots in a block: 31 (a block is 512 bytes: 31 slots of 16 and a
/// header), 2 in a model build, so that a model with a few entries crosses
/// blocks.
const BLOCK: usize = if crate::sync::LOOM { 2 } else { 31 };

/// Positions a block spans: its slots and the mark.
const LAP: usize = BLOCK + 1;

/// How many entries behind the one taken a popper reports for the
/// prefetch: at about 65 ns a claim and its completion, four claims ahead
/// is more than a miss to memory takes (BENCHMARKS.md: two ahead left the
/// 1M-queued claim slower).
pub(crate) const LOOK_AHEAD: usize = if BLOCK < 4 { BLOCK } else { 4 };

/// One entry's place.
struct Slot<R> {
    /// Null until written; then the pointer `Arc::into_raw` gave for the
    /// entry's record, whose strong reference the slot owns until a popper
    /// takes it.
    record: AtomicPtr<R>,
    /// The entry's tag, written before the record pointer is published.
    tag: AtomicU64,
}

/// `BLOCK` slots and the link to the next block.
struct Block<R> {
    slots: [Slot<R>; BLOCK],
    /// Null until the pusher of this block's last slot installs the next
    /// block.
    next: AtomicPtr<Block<R>>,
    /// How many of its slots' poppers are done with this block.
    released: AtomicUsize,
}

impl<R> Block<R> {
    fn new() -> Box<Block<R>> {
        Box::new(Block {
            slots: core::array::from_fn(|_| Slot {
                record: AtomicPtr::new(ptr::null_mut()),
                tag: AtomicU64::new(0),
            }),
            next: AtomicPtr::new(ptr::null_mut()),
            released: AtomicUsize::new(0),
        })
    }

    /// The popper of one of this block's slots is done with the block: the
    /// last one frees it.
    ///
    /// # Safety
    ///
    /// `block` points to a live block, one of whose slots the caller took
    /// and has not released; the caller does not touch the block after.
    unsafe fn release(block: *mut Block<R>) {
        // AcqRel: each popper's reads of the block happen before its
        // increment (Release), and the increments form one chain, so the
        // popper whose increment is the last one (Acquire) frees the block
        // after every other popper's last read of it.
        // SAFETY: the caller's slot is unreleased, so the block is alive.
        let released = unsafe { &(*block).released }.fetch_add(1, Ordering::AcqRel) + 1;
        if released == BLOCK {
            // SAFETY: every slot is released, so no popper will touch the
            // block again, and neither end points to it any more (module
            // docs); it came from `Box::into_raw`.
            drop(unsafe { Box::from_raw(block) });
        }
    }
}

/// One end of the queue: a position and the block it is in.
struct End<R> {
    position: AtomicUsize,
    /// The block of `position`, except while `position` is a mark.
    block: AtomicPtr<Block<R>>,
}

/// A lock-free FIFO of `(Arc<R>, u64)` entries; see the module docs.
pub(crate) struct RecordFifo<R> {
    /// Padded: pushers and poppers are usually different threads.
    head: CachePadded<End<R>>,
    tail: CachePadded<End<R>>,
    /// The models' negative controls (zero-sized in a normal build).
    faults: crate::faults::Faults,
    /// Owns the records its slots point to.
    _owns: PhantomData<Arc<R>>,
}

// SAFETY: the queue owns `Arc<R>`s and hands them from thread to thread,
// as a `Mutex<VecDeque<Arc<R>>>` would: sending or sharing it is sound
// exactly when `Arc<R>` is `Send` (`R: Send + Sync`). Its raw pointers are
// to blocks it owns and to records it holds strong references to.
unsafe impl<R: Send + Sync> Send for RecordFifo<R> {}
// SAFETY: as above; every method taking `&self` is safe to call from any
// number of threads at once (the protocol in the module docs).
unsafe impl<R: Send + Sync> Sync for RecordFifo<R> {}

/// The number of entries pushed before position `position`.
fn entries_before(position: usize) -> usize {
    position / LAP * BLOCK + (position % LAP).min(BLOCK)
}

impl<R> RecordFifo<R> {
    /// An empty queue (one block allocated).
    pub(crate) fn new() -> RecordFifo<R> {
        Self::with_faults(crate::faults::Faults::default())
    }

    /// An empty queue with the models' `faults`.
    pub(crate) fn with_faults(faults: crate::faults::Faults) -> RecordFifo<R> {
        let block = Box::into_raw(Block::new());
        RecordFifo {
            head: CachePadded::new(End {
                position: AtomicUsize::new(0),
                block: AtomicPtr::new(block),
            }),
            tail: CachePadded::new(End {
                position: AtomicUsize::new(0),
                block: AtomicPtr::new(block),
            }),
            faults,
            _owns: PhantomData,
        }
    }

    /// Appends an entry.
    pub(crate) fn push(&self, record: Arc<R>, tag: u64) {
        let mut spare: Option<Box<Block<R>>> = None;
        // Acquire (here and in the CAS's failure): pairs with the Release
        // store that moved the tail into its block (a CAS that may have
        // written this value continues that store's release sequence), so
        // the block pointer loaded next is this position's or a later one's.
        let mut position = self.tail.position.load(Ordering::Acquire);
        let (block, offset) = loop {
            let offset = position % LAP;
            if offset == BLOCK {
                spin_wait(); // another pusher is installing the next block
                position = self.tail.position.load(Ordering::Acquire);
                continue;
            }
            if offset + 1 == BLOCK && spare.is_none() {
                spare = Some(Block::new());
            }
            let block = self.tail.block.load(Ordering::Acquire);
            // Relaxed on success: the slot's contents are published by the
            // record pointer's store, not by this CAS. On failure, go on
            // from the position it read (the latest), not from a new load,
            // which could be as old as the last one.
            if let Err(current) = self.tail.position.compare_exchange_weak(
                position,
                position + 1,
                Ordering::Relaxed,
                Ordering::Acquire,
            ) {
                position = current;
                continue;
            }
            // The tail was `position` from the load to the CAS, so `block`
            // is its block, and the unwritten slot keeps it alive.
            if offset + 1 == BLOCK {
                let next = Box::into_raw(spare.take().expect("allocated above"));
                // Release (all three): a thread that loads one of them sees
                // the new block's initialised slots.
                // SAFETY: `block` is alive (our slot is unwritten).
                unsafe { &(*block).next }.store(next, Ordering::Release);
                self.tail.block.store(next, Ordering::Release);
                self.tail.position.store(position + 2, Ordering::Release);
            }
            break (block, offset);
        };
        // SAFETY: as above: we reserved this slot and have not written it.
        let slot = unsafe { &(*block).slots[offset] };
        slot.tag.store(tag, Ordering::Relaxed);
        // Release: the popper that loads the pointer (Acquire) sees the tag
        // and the record.
        let publish = if self.faults.relaxed_lane_publish() {
            Ordering::Relaxed // model negative control
        } else {
            Ordering::Release
        };
        slot.record.store(Arc::into_raw(record).cast_mut(), publish);
    }

    /// Takes the oldest entry, if any.
    // A model build's lanes are the stand-in; its models pop by looking.
    #[cfg_attr(any(dagqueue_loom, dagqueue_shuttle), allow(dead_code))]
    pub(crate) fn pop(&self) -> Option<(Arc<R>, u64)> {
        self.pop_looking_ahead(|_| {})
    }

    /// Takes the oldest entry, if any, and hands `look` the record
    /// addresses of up to [`LOOK_AHEAD`] entries behind it, those already
    /// written: in its block, or, for a block's last slot, the next
    /// block's first ones. Addresses to prefetch, never to read, since
    /// another popper may take and drop them at any time.
    pub(crate) fn pop_looking_ahead(
        &self,
        mut look: impl FnMut(*const R),
    ) -> Option<(Arc<R>, u64)> {
        // Acquire (here and in the CAS's failure): as in `push`, so the
        // block pointer is this position's or a later one's.
        let mut position = self.head.position.load(Ordering::Acquire);
        let (block, offset) = loop {
            let offset = position % LAP;
            if offset == BLOCK {
                spin_wait(); // another popper is moving to the next block
                position = self.head.position.load(Ordering::Acquire);
                continue;
            }
            // Acquire: a tail past `position` means slot `position` is
            // reserved. The tail is never behind a head read before it:
            // the head reached `position` by a CAS (Release, below) made
            // after a tail load showed it reserved.
            let tail = self.tail.position.load(Ordering::Acquire);
            if tail <= position {
                return None;
            }
            let block = self.head.block.load(Ordering::Acquire);
            if self.faults.racy_lane_pop() {
                // Model negative control: two poppers can take one slot.
                self.head.position.store(position + 1, Ordering::Release);
            } else if let Err(current) = self.head.position.compare_exchange_weak(
                position,
                position + 1,
                // AcqRel: Release for the tail-before-head argument above;
                // Acquire to keep the tail load before it.
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                // Go on from the position it read, as in `push`.
                position = current;
                continue;
            }
            // The head was `position` from the load to the CAS, so `block`
            // is its block; our slot, not yet released, keeps it alive.
            if offset + 1 == BLOCK {
                // SAFETY: `block` is alive (our slot is unreleased).
                // The wait: our slot's pusher is installing the next block,
                // whose slots its Release store of the link publishes.
                let next = wait_until_set(unsafe { &(*block).next });
                // Until the head moves into it, no popper can take a slot
                // of the next block, so none can free it: this is the one
                // time a popper may look into it, at the entries behind
                // ours.
                // SAFETY: the next block is alive (none of its slots can
                // be released before the store below).
                look_at(&unsafe { &(*next).slots }[..LOOK_AHEAD], &mut look);
                // Release: see `push`.
                self.head.block.store(next, Ordering::Release);
                self.head.position.store(position + 2, Ordering::Release);
            }
            break (block, offset);
        };
        // SAFETY: we took this slot and have not released it, so the block
        // is alive.
        let slots = unsafe { &(*block).slots };
        // The wait: its pusher reserved it and is writing it; its Release
        // store of the pointer publishes the tag and the record.
        let record = wait_until_set(&slots[offset].record);
        let tag = slots[offset].tag.load(Ordering::Relaxed);
        look_at(
            &slots[offset + 1..BLOCK.min(offset + 1 + LOOK_AHEAD)],
            &mut look,
        );
        // The negative control leaks its blocks: a slot taken twice would
        // free one early, under the other poppers.
        if !self.faults.racy_lane_pop() {
            // SAFETY: our slot is taken and we are done with the block.
            unsafe { Block::release(block) };
        }
        // SAFETY: the pointer came from `Arc::into_raw` in `push`, and the
        // slot's strong reference is ours: we alone took the slot.
        Some((unsafe { Arc::from_raw(record) }, tag))
    }

    /// Whether it holds no entry (at the moment of the tail's load).
    #[inline]
    pub(crate) fn is_empty(&self) -> bool {
        // Acquire, as in `pop`.
        let head = self.head.position.load(Ordering::Acquire);
        self.tail.position.load(Ordering::Acquire) <= head
    }

    /// The number of entries (exact when no push or pop runs at the same
    /// time; otherwise a value it had during the call, or close to one).
    pub(crate) fn len(&self) -> usize {
        loop {
            let tail = self.tail.position.load(Ordering::Acquire);
            let head = self.head.position.load(Ordering::Acquire);
            // Relaxed: only whether the tail moved meanwhile.
            if self.tail.position.load(Ordering::Relaxed) == tail {
                return entries_before(tail).saturating_sub(entries_before(head));
            }
        }
    }
}

/// The pointer `cell` holds once another thread, between its CAS and its
/// stores, has set it. Acquire: pairs with that thread's Release store, so
/// what it wrote before is visible.
#[inline]
fn wait_until_set<X>(cell: &AtomicPtr<X>) -> *mut X {
    loop {
        let value = cell.load(Ordering::Acquire);
        if !value.is_null() {
            return value;
        }
        spin_wait();
    }
}

/// Hands `look` the record address of each written slot of `slots`.
#[inline]
fn look_at<R>(slots: &[Slot<R>], look: &mut impl FnMut(*const R)) {
    for slot in slots {
        // Relaxed: only an address to prefetch (null if not written).
        let address = slot.record.load(Ordering::Relaxed);
        if !address.is_null() {
            look(address);
        }
    }
}

impl<R> Default for RecordFifo<R> {
    fn default() -> Self {
        Self::new()
    }
}

impl<R> Drop for RecordFifo<R> {
    fn drop(&mut self) {
        // `&mut self`: no push or pop runs, so neither end is at a mark and
        // every slot between them is written.
        let tail = self.tail.position.load(Ordering::Relaxed);
        let mut position = self.head.position.load(Ordering::Relaxed);
        let mut block = self.head.block.load(Ordering::Relaxed);
        while position != tail {
            let offset = position % LAP;
            if offset == BLOCK {
                // SAFETY: blocks from the head's on are alive and owned by
                // the queue.
                let next = unsafe { &(*block).next }.load(Ordering::Relaxed);
                // SAFETY: this one is done with (its slots walked), and it
                // came from `Box::into_raw`.
                drop(unsafe { Box::from_raw(block) });
                block = next;
            } else {
                // SAFETY: a written, untaken slot of a live block: its
                // pointer came from `Arc::into_raw`, its reference is ours.
                let record = unsafe { &(*block).slots[offset] }
                    .record
                    .load(Ordering::Relaxed);
                // SAFETY: as above: the slot's strong reference, ours.
                drop(unsafe { Arc::from_raw(record) });
            }
            position += 1;
        }
        // SAFETY: the tail's block, alive and owned by the queue.
        drop(unsafe { Box::from_raw(block) });
    }
}

#[cfg(all(test, not(any(dagqueue_loom, dagqueue_shuttle))))]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn entries_come_out_in_order_across_blocks() {
        let fifo = RecordFifo::new();
        assert!(fifo.is_empty());
        assert_eq!(fifo.pop().map(|(r, _)| *r), None::<u32>);
        for round in 0..3u64 {
            for i in 0..100u64 {
                fifo.push(Arc::new(i as u32), round * 1000 + i);
            }
            assert_eq!(fifo.len(), 100);
            assert!(!fifo.is_empty());
            for i in 0..100u64 {
                let (record, tag) = fifo.pop().expect("an entry");
                assert_eq!((*record, tag), (i as u32, round * 1000 + i));
            }
            assert!(fifo.is_empty());
            assert_eq!(fifo.len(), 0);
            assert!(fifo.pop().is_none());
        }
    }

    #[test]
    fn a_popper_sees_the_records_behind_its_entry() {
        let fifo = RecordFifo::new();
        let records: Vec<Arc<u32>> = (0..3 * BLOCK as u32 + 2).map(Arc::new).collect();
        for (i, record) in records.iter().enumerate() {
            fifo.push(Arc::clone(record), i as u64);
        }
        let mut seen = Vec::new();
        for i in 0..records.len() {
            seen.clear();
            let (_, tag) = fifo
                .pop_looking_ahead(|address| seen.push(address))
                .expect("an entry");
            assert_eq!(tag, i as u64);
            // In its block; from a block's last slot, the next block's
            // first ones.
            let shown = if i % BLOCK == BLOCK - 1 {
                LOOK_AHEAD
            } else {
                (BLOCK - 1 - i % BLOCK).min(LOOK_AHEAD)
            };
            let expected: Vec<*const u32> = records
                .iter()
                .skip(i + 1)
                .take(shown)
                .map(Arc::as_ptr)
                .collect();
            assert_eq!(seen, expected, "entry {i}");
        }
    }

    #[test]
    fn dropping_it_drops_every_record_it_holds() {
        let record = Arc::new(7u32);
        {
            let fifo = RecordFifo::new();
            for i in 0..(3 * BLOCK as u64 + 5) {
                fifo.push(Arc::clone(&record), i);
            }
            for _ in 0..BLOCK + 2 {
                fifo.pop().expect("an entry");
            }
            assert_eq!(Arc::strong_count(&record), 1 + 2 * BLOCK + 3);
        }
        assert_eq!(Arc::strong_count(&record), 1);
    }

    #[test]
    fn concurrent_pushers_and_poppers_move_each_entry_once() {
        let pushers = 2u64;
        let per_pusher = if cfg!(miri) { 200 } else { 50_000 };
        let fifo = Arc::new(RecordFifo::new());
        let taken = Arc::new(crate::sync::Mutex::new(Vec::new()));
        let popped = Arc::new(AtomicUsize::new(0));
        let total = (pushers * per_pusher) as usize;
        std::thread::scope(|scope| {
            for pusher in 0..pushers {
                let fifo = &fifo;
                scope.spawn(move || {
                    for i in 0..per_pusher {
                        fifo.push(Arc::new(pusher), pusher << 32 | i);
                    }
                });
            }
            for _ in 0..2 {
                let (fifo, taken, popped) = (&fifo, &taken, &popped);
                scope.spawn(move || {
                    let mut mine = Vec::new();
                    let mut last = [None::<u64>; 2];
                    while popped.load(Ordering::Relaxed) < total {
                        let Some((record, tag)) = fifo.pop_looking_ahead(|_| {}) else {
                            std::thread::yield_now();
                            continue;
                        };
                        popped.fetch_add(1, Ordering::Relaxed);
                        let pusher = (tag >> 32) as usize;
                        assert_eq!(*record as usize, pusher, "tag and record of one push");
                        // One pusher's entries come out in its order.
                        let i = tag & 0xffff_ffff;
                        assert!(last[pusher].is_none_or(|last| last < i));
                        last[pusher] = Some(i);
                        mine.push(tag);
                    }
                    taken.lock().extend(mine);
                });
            }
        });
        let taken = taken.lock();
        assert_eq!(taken.len(), total);
        let distinct: HashSet<u64> = taken.iter().copied().collect();
        assert_eq!(distinct.len(), total, "an entry popped twice");
        assert!(fifo.is_empty());
    }
}
