//! One producing thread's events: a fixed ring that its thread alone
//! writes, that every subscriber reads at its own cursor, and that
//! overwrites its oldest event when full (a subscriber that fell that far
//! behind is told how many it missed).
//!
//! Each slot is a single-writer sequence lock: its `stamp` is `2·pos + 1`
//! while the owner writes the event at position `pos`, `2·pos + 2` once
//! written. A reader takes the fields only if the stamp reads `2·pos + 2`
//! before and after them (a later stamp: overwritten, the reader lagged).
//! The owner never waits for a reader.

use crate::sync::{fence, AtomicU64, CachePadded, Ordering};

/// An event as the ring stores it (decoded by `events/mod.rs`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct RawEvent {
    pub(crate) job: u64,
    pub(crate) at: u64,
    /// Attempt, kind, states and priority, packed.
    pub(crate) info: u64,
    /// Where the job's previous event is ([`Link`]); 0: none.
    pub(crate) previous: u64,
}

struct Slot {
    stamp: AtomicU64,
    job: AtomicU64,
    at: AtomicU64,
    info: AtomicU64,
    previous: AtomicU64,
}

/// What a read of one position found.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Read {
    Event(RawEvent),
    /// Not written yet.
    Ahead,
    /// Written over by a later event: the reader lagged.
    Overwritten,
}

pub(crate) struct Ring {
    /// Its number in the hub (events name it in their links).
    pub(crate) index: usize,
    /// Positions written so far; only the owner stores it.
    head: CachePadded<AtomicU64>,
    slots: Box<[Slot]>,
}

impl Ring {
    /// A ring of `capacity` events (a power of two).
    pub(crate) fn new(index: usize, capacity: usize) -> Ring {
        debug_assert!(capacity.is_power_of_two());
        Ring {
            index,
            head: CachePadded::new(AtomicU64::new(0)),
            slots: (0..capacity)
                .map(|_| Slot {
                    stamp: AtomicU64::new(0),
                    job: AtomicU64::new(0),
                    at: AtomicU64::new(0),
                    info: AtomicU64::new(0),
                    previous: AtomicU64::new(0),
                })
                .collect(),
        }
    }

    fn slot(&self, position: u64) -> &Slot {
        &self.slots[(position as usize) & (self.slots.len() - 1)]
    }

    /// Appends an event and returns its position. Only the ring's owner
    /// calls this (its thread, or a holder of the hub's shared-ring lock).
    #[inline]
    pub(crate) fn push(&self, event: &RawEvent) -> u64 {
        // Relaxed: the owner wrote `head` last.
        let position = self.head.load(Ordering::Relaxed);
        let slot = self.slot(position);
        slot.stamp.store(2 * position + 1, Ordering::Relaxed);
        // Release fence: a reader that sees any field below also sees the
        // odd stamp (its Acquire fence pairs with this one), and retries.
        fence(Ordering::Release);
        slot.job.store(event.job, Ordering::Relaxed);
        slot.at.store(event.at, Ordering::Relaxed);
        slot.info.store(event.info, Ordering::Relaxed);
        slot.previous.store(event.previous, Ordering::Relaxed);
        // Release: a reader that sees the stamp (or the head) sees the fields.
        slot.stamp.store(2 * position + 2, Ordering::Release);
        self.head.store(position + 1, Ordering::Release);
        position
    }

    /// Positions written so far. Acquire: pairs with `push`'s last store,
    /// so every event below it can be read.
    #[inline]
    pub(crate) fn head(&self) -> u64 {
        self.head.load(Ordering::Acquire)
    }

    /// The oldest position that may still be read.
    pub(crate) fn oldest(&self) -> u64 {
        self.head().saturating_sub(self.slots.len() as u64)
    }

    /// Reads the event at `position`.
    pub(crate) fn read(&self, position: u64) -> Read {
        let slot = self.slot(position);
        let written = 2 * position + 2;
        // Acquire: pairs with the Release store of the stamp.
        let before = slot.stamp.load(Ordering::Acquire);
        if before < written {
            // Not written yet (an earlier lap's stamp), or being written.
            return Read::Ahead;
        }
        if before > written {
            return Read::Overwritten;
        }
        let event = RawEvent {
            job: slot.job.load(Ordering::Relaxed),
            at: slot.at.load(Ordering::Relaxed),
            info: slot.info.load(Ordering::Relaxed),
            previous: slot.previous.load(Ordering::Relaxed),
        };
        // Acquire fence: pairs with `push`'s Release fence, so fields of a
        // later event make the stamp below differ.
        fence(Ordering::Acquire);
        if slot.stamp.load(Ordering::Relaxed) != written {
            return Read::Overwritten;
        }
        Read::Event(event)
    }
}

/// Where an event is, in 32 bits (the job record keeps its last event's):
/// its ring (12 bits: rings 0..4094) and the low 20 bits of its position;
/// 0: nowhere. A subscriber takes the position as the latest one below
/// the ring's head with those low bits ([`Link::resolve`]). That is exact
/// for any event still in the ring (rings hold 4,096 events, far fewer
/// than 2^20); for an older one it may name a later event of the ring,
/// which only makes the subscriber hand out that ring a little earlier
/// (events of different jobs have no order to keep). Events written by a
/// ring numbered 4095 or more (more writing threads at once than that) get
/// no link, and their job's order is not kept.
pub(crate) struct Link;

impl Link {
    const POSITION_BITS: u32 = 20;
    const POSITION_MASK: u64 = (1 << Self::POSITION_BITS) - 1;
    const RINGS: usize = (1 << (32 - Self::POSITION_BITS)) - 1;

    pub(crate) fn pack(ring: usize, position: u64) -> u32 {
        if ring >= Self::RINGS {
            return 0;
        }
        (((ring + 1) as u32) << Self::POSITION_BITS) | (position & Self::POSITION_MASK) as u32
    }

    /// The ring and the low bits of the position.
    pub(crate) fn unpack(link: u32) -> Option<(usize, u64)> {
        (link != 0).then(|| {
            (
                (link >> Self::POSITION_BITS) as usize - 1,
                u64::from(link) & Self::POSITION_MASK,
            )
        })
    }

    /// The latest position below `head` whose low bits are `low`.
    pub(crate) fn resolve(low: u64, head: u64) -> Option<u64> {
        let last = head.checked_sub(1)?;
        let back = (last.wrapping_sub(low)) & Self::POSITION_MASK;
        last.checked_sub(back)
    }
}

#[cfg(all(test, not(any(dagqueue_loom, dagqueue_shuttle))))]
mod tests {
    use super::*;

    fn event(job: u64) -> RawEvent {
        RawEvent {
            job,
            at: job * 10,
            info: job + 1,
            previous: 0,
        }
    }

    #[test]
    fn reads_what_was_written_and_knows_when_it_was_overwritten() {
        let ring = Ring::new(3, 4);
        assert_eq!(ring.read(0), Read::Ahead);
        for job in 0..6 {
            assert_eq!(ring.push(&event(job)), job);
        }
        assert_eq!(ring.head(), 6);
        assert_eq!(ring.oldest(), 2);
        assert_eq!(ring.read(1), Read::Overwritten);
        assert_eq!(ring.read(2), Read::Event(event(2)));
        assert_eq!(ring.read(5), Read::Event(event(5)));
        assert_eq!(ring.read(6), Read::Ahead);
    }

    #[test]
    fn links_name_the_ring_and_resolve_the_position() {
        assert_eq!(Link::unpack(0), None);
        assert_eq!(Link::unpack(Link::pack(0, 0)), Some((0, 0)));
        let far = (3 << 20) + 77;
        let (ring, low) = Link::unpack(Link::pack(9, far)).unwrap();
        assert_eq!((ring, low), (9, 77));
        assert_eq!(Link::resolve(low, far + 1), Some(far));
        assert_eq!(Link::resolve(low, far + 4096), Some(far));
        assert_eq!(Link::resolve(low, 50), None, "not written yet");
        assert_eq!(Link::pack(Link::RINGS, 5), 0, "beyond the linked rings");
    }
}
