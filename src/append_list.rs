//! An append-only list of set-once slots that readers walk without a lock,
//! a snapshot or a write to shared memory.
//!
//! Values are only ever added (by one writer at a time: the caller holds a
//! lock of its own), never removed or moved, so a reader loads the length
//! (Acquire) and then reads slots below it, each set once before the length
//! that covers it was published (Release). The lane groups of a runner type
//! (a claim walks them: an arc-swap load there was ~85% of a claim's
//! instructions) and the wake signals of the runner types using a cluster
//! (a report that frees a slot walks them) live in one.
//!
//! Slots live in chunks of doubling size (8, 16, 32...), allocated when first
//! needed, so the list grows without ever moving a slot.

use crate::sync::{AtomicUsize, OnceLock, Ordering};

/// An append-only list; see the module docs.
pub(crate) struct AppendList<V> {
    len: AtomicUsize,
    chunks: [OnceLock<Box<[OnceLock<V>]>>; CHUNKS],
}

const FIRST_CHUNK: usize = 8;
/// 8 × (2^40 − 1) slots: unbounded in practice.
const CHUNKS: usize = 40;

/// The chunk and offset of slot `index`.
fn locate(index: usize) -> (usize, usize) {
    let q = index / FIRST_CHUNK + 1;
    let chunk = (usize::BITS - 1 - q.leading_zeros()) as usize;
    (chunk, index - FIRST_CHUNK * ((1 << chunk) - 1))
}

impl<V> AppendList<V> {
    /// An empty list (no chunk allocated).
    pub(crate) fn new() -> AppendList<V> {
        AppendList {
            len: AtomicUsize::new(0),
            chunks: core::array::from_fn(|_| OnceLock::new()),
        }
    }

    /// The number of values. Acquire: pairs with `push`'s Release, so every
    /// slot below the length is visible as set.
    #[inline]
    pub(crate) fn len(&self) -> usize {
        self.len.load(Ordering::Acquire)
    }

    /// Value `index`, which must be below a length read before.
    #[inline]
    pub(crate) fn get(&self, index: usize) -> &V {
        let (chunk, offset) = locate(index);
        self.chunks[chunk]
            .get()
            .and_then(|slots| slots[offset].get())
            .expect("a slot below the published length is set")
    }

    /// Every value, in the order they were added.
    pub(crate) fn iter(&self) -> impl Iterator<Item = &V> {
        (0..self.len()).map(|index| self.get(index))
    }

    /// Appends `value`. The caller serialises pushes (one writer at a time);
    /// readers need nothing.
    pub(crate) fn push(&self, value: V) {
        let index = self.len.load(Ordering::Relaxed);
        let (chunk, offset) = locate(index);
        let slots = self.chunks[chunk]
            .get_or_init(|| (0..FIRST_CHUNK << chunk).map(|_| OnceLock::new()).collect());
        let _ = slots[offset].set(value);
        // Release: publishes the slot to readers that acquire the length.
        self.len.store(index + 1, Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_are_laid_out_in_doubling_chunks() {
        assert_eq!(locate(0), (0, 0));
        assert_eq!(locate(7), (0, 7));
        assert_eq!(locate(8), (1, 0));
        assert_eq!(locate(23), (1, 15));
        assert_eq!(locate(24), (2, 0));
        assert_eq!(locate(55), (2, 31));
        assert_eq!(locate(56), (3, 0));
    }

    #[test]
    fn values_stay_in_order_and_in_place_as_the_list_grows() {
        let list = AppendList::new();
        assert_eq!(list.len(), 0);
        assert_eq!(list.iter().count(), 0);
        list.push(0usize);
        let first: *const usize = list.get(0);
        for value in 1..1000 {
            list.push(value);
        }
        assert_eq!(list.len(), 1000);
        assert!(list.iter().copied().eq(0..1000));
        assert!(core::ptr::eq(first, list.get(0)), "a slot moved");
    }
}
