//! A job's dependents list: a lock-free stack that is sealed once, when the
//! job finishes.
//!
//! A dependent registers itself with [`DependentsList::push`]; the thread that
//! makes the job terminal calls [`DependentsList::seal`], which atomically
//! takes every registered dependent and closes the list. A push that comes
//! after the seal fails and hands its value back, so the registering thread
//! knows the job already finished and settles the dependency itself. Each
//! registration is therefore settled exactly once: by the sealer if the push
//! won, by the pusher if the seal won.
//!
//! A list may also be made *marked*: its low head bit then stands for one
//! more registration, made before any push and held elsewhere (a
//! `submit_many` job's dependents in its batch, which its batch's table
//! lists: `job/batch.rs`). The mark costs no node and no allocation; the
//! sealer is told of it before the pushed values (it was registered
//! first), and it is taken with the list, exactly once.
//!
//! Nodes are only ever removed all at once by the single successful `seal`
//! (or by `Drop`), never popped one by one, so there is no ABA and no node is
//! freed while another thread can reach it.

use crate::faults::Faults;
use crate::sync::{AtomicPtr, Ordering};
use core::ptr;

struct Node<T> {
    value: T,
    /// The next node (pushed before this one), never marked.
    next: *mut Node<T>,
}

/// A sealable multi-producer stack; see the module docs.
pub(crate) struct DependentsList<T> {
    /// Null (open, empty), the sealed marker, or the newest node; with
    /// [`MARK`] set in its address while the list is open and marked.
    head: AtomicPtr<Node<T>>,
    /// Loom negative controls only (zero-sized otherwise).
    faults: Faults,
}

// SAFETY: the list owns its `T`s (moved in by `push`, moved out by `seal`),
// and every node is reachable from one `head`, accessed only through atomics;
// sending or sharing the list sends `T`s between threads, so `T: Send`
// suffices for both.
unsafe impl<T: Send> Send for DependentsList<T> {}
// SAFETY: as above; `&DependentsList` only allows push and seal, which move
// `T`s across threads but never share a `&T`.
unsafe impl<T: Send> Sync for DependentsList<T> {}

/// The head's mark bit: free in every node's address (a node holds a
/// pointer, so it is at least pointer-aligned) and never set in the sealed
/// marker (swapped in whole).
const MARK: usize = 1;

/// The sealed marker: a dangling, well-aligned address that no allocation
/// can have, never dereferenced.
fn sealed<T>() -> *mut Node<T> {
    ptr::dangling_mut()
}

/// `head` without its mark, and whether it had it.
fn unmark<T>(head: *mut Node<T>) -> (*mut Node<T>, bool) {
    (head.map_addr(|addr| addr & !MARK), head.addr() & MARK != 0)
}

impl<T> DependentsList<T> {
    /// An open, empty list.
    #[cfg(test)]
    pub(crate) fn new() -> Self {
        Self::with_faults(Faults::default(), false)
    }

    /// An empty list, marked if `marked` (see the module docs), that
    /// applies `faults` (loom negative controls).
    pub(crate) fn with_faults(faults: Faults, marked: bool) -> Self {
        let head = if marked {
            // Never dereferenced: an address without provenance.
            ptr::without_provenance_mut(MARK)
        } else {
            ptr::null_mut()
        };
        DependentsList {
            head: AtomicPtr::new(head),
            faults,
        }
    }

    /// Registers `value`; gives it back if the list is already sealed.
    ///
    /// Orderings: the successful CAS is Release, so the sealer's Acquire swap
    /// sees the node's contents. Reading the sealed marker is Acquire, so a
    /// pusher that finds the list sealed also sees the terminal state the
    /// sealer stored before sealing.
    pub(crate) fn push(&self, value: T) -> Result<(), T> {
        let node = Box::into_raw(Box::new(Node {
            value,
            next: ptr::null_mut(),
        }));
        let mut head = self.head.load(Ordering::Acquire);
        loop {
            if head == sealed() {
                // SAFETY: `node` came from `Box::into_raw` above and was never
                // published (every CAS so far failed), so we still own it.
                let node = unsafe { Box::from_raw(node) };
                return Err(node.value);
            }
            let (next, marked) = unmark(head);
            // SAFETY: `node` is unpublished, so this thread has exclusive access.
            unsafe { (*node).next = next };
            // The mark stays on the head.
            let new = node.map_addr(|addr| addr | usize::from(marked));
            match self
                .head
                .compare_exchange_weak(head, new, Ordering::Release, Ordering::Acquire)
            {
                Ok(_) => return Ok(()),
                Err(actual) => head = actual,
            }
        }
    }

    /// Closes the list and takes what it held: whether it was marked, and
    /// each registered value, in registration order (the mark first). A
    /// second seal takes nothing. Sealing a list nobody pushed to (most
    /// jobs) costs the swap and nothing else.
    ///
    /// Orderings: AcqRel swap. Acquire to see the nodes pushed (Release);
    /// Release so that pushers that find the marker see what the sealer did
    /// before (the job's terminal state).
    /// With the `unsealed_dependents` fault (loom negative control), a take
    /// that leaves the list open.
    pub(crate) fn seal(&self) -> Sealed<T> {
        self.seal_visiting(|_| {})
    }

    /// [`seal`](Self::seal), handing each value taken to `visit` on the
    /// way (the walk that puts the chain in registration order touches
    /// every node anyway): the queue prefetches each dependent's state
    /// word there, so that the releases that follow find them in cache.
    pub(crate) fn seal_visiting(&self, mut visit: impl FnMut(&T)) -> Sealed<T> {
        let marker = if self.faults.unsealed_dependents() {
            ptr::null_mut()
        } else {
            sealed()
        };
        let taken = self.head.swap(marker, Ordering::AcqRel);
        if taken == sealed() {
            return Sealed {
                marked: false,
                next: ptr::null_mut(),
            };
        }
        let (mut current, marked) = unmark(taken);
        // Reverse the chain in place (it was pushed newest first).
        let mut reversed: *mut Node<T> = ptr::null_mut();
        while !current.is_null() {
            // SAFETY: every non-null, non-marker pointer reachable from head
            // (unmarked) was produced by `Box::into_raw` in `push` and
            // published by its CAS; the swap above unlinked the whole chain,
            // so this thread is its only owner. Each node is taken out of its
            // box here and put back with `Box::into_raw` at once (relinked,
            // not freed).
            let mut node = unsafe { Box::from_raw(current) };
            visit(&node.value);
            current = node.next;
            node.next = reversed;
            reversed = Box::into_raw(node);
        }
        Sealed {
            marked,
            next: reversed,
        }
    }

    /// Whether the list is sealed.
    #[cfg(test)]
    pub(crate) fn is_sealed(&self) -> bool {
        self.head.load(Ordering::Acquire) == sealed()
    }
}

impl<T> Drop for DependentsList<T> {
    fn drop(&mut self) {
        drop(self.seal());
    }
}

/// What one seal took: the mark, and the pushed values, yielded in
/// registration order (each node freed as its value is yielded; those not
/// yielded are dropped with it).
pub(crate) struct Sealed<T> {
    marked: bool,
    /// The taken chain, oldest first, owned by this value.
    next: *mut Node<T>,
}

impl<T> Sealed<T> {
    /// Whether the list was marked (its first registration, held elsewhere).
    pub(crate) fn marked(&self) -> bool {
        self.marked
    }
}

impl<T> Iterator for Sealed<T> {
    type Item = T;

    fn next(&mut self) -> Option<T> {
        if self.next.is_null() {
            return None;
        }
        // SAFETY: the chain holds exactly the nodes one seal unlinked, each
        // from `Box::into_raw`, owned by this value only (it is not `Send`,
        // and nothing else links to them); each is freed exactly once, here,
        // and unlinked from the chain before it is.
        let node = unsafe { Box::from_raw(self.next) };
        self.next = node.next;
        Some(node.value)
    }
}

impl<T> Drop for Sealed<T> {
    fn drop(&mut self) {
        for value in self.by_ref() {
            drop(value);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn seal_returns_registration_order_and_closes() {
        let list = DependentsList::new();
        list.push(1).unwrap();
        list.push(2).unwrap();
        list.push(3).unwrap();
        assert!(!list.is_sealed());
        assert_eq!(list.seal().collect::<Vec<_>>(), vec![1, 2, 3]);
        assert!(list.is_sealed());
        assert_eq!(list.push(4), Err(4));
        assert_eq!(list.seal().count(), 0);
    }

    #[test]
    fn sealing_an_empty_list_closes_it_and_yields_nothing() {
        let list = DependentsList::new();
        let sealed = list.seal();
        assert!(!sealed.marked());
        assert_eq!(sealed.count(), 0);
        assert!(list.is_sealed());
        assert_eq!(list.push(7), Err(7));
    }

    #[test]
    fn seal_hands_values_over_in_registration_order() {
        let list = DependentsList::new();
        for value in 0..100 {
            list.push(value).unwrap();
        }
        let seen: Vec<_> = list.seal().collect();
        assert_eq!(seen, (0..100).collect::<Vec<_>>());
        assert!(list.is_sealed());
    }

    #[test]
    fn a_marked_list_keeps_its_mark_under_pushes_and_hands_it_over_once() {
        let list = DependentsList::with_faults(Faults::default(), true);
        list.push(1).unwrap();
        list.push(2).unwrap();
        let sealed = list.seal();
        assert!(sealed.marked());
        assert_eq!(sealed.collect::<Vec<_>>(), vec![1, 2]);
        let again = list.seal();
        assert!(!again.marked(), "the mark is taken once");
        assert_eq!(again.count(), 0);
        assert_eq!(list.push(3), Err(3));
        // Marked and empty: the mark alone.
        let list = DependentsList::<i32>::with_faults(Faults::default(), true);
        let sealed = list.seal();
        assert!(sealed.marked());
        assert_eq!(sealed.count(), 0);
    }

    #[test]
    fn values_a_seal_took_but_nobody_read_are_freed_with_it() {
        let value = Arc::new(());
        let list = DependentsList::with_faults(Faults::default(), true);
        for _ in 0..3 {
            list.push(Arc::clone(&value)).unwrap();
        }
        let mut sealed = list.seal();
        drop(sealed.next());
        drop(sealed);
        assert_eq!(Arc::strong_count(&value), 1);
    }

    #[test]
    fn drop_frees_unsealed_values() {
        let value = Arc::new(());
        let list = DependentsList::new();
        list.push(Arc::clone(&value)).unwrap();
        list.push(Arc::clone(&value)).unwrap();
        assert_eq!(Arc::strong_count(&value), 3);
        drop(list);
        assert_eq!(Arc::strong_count(&value), 1);
    }

    #[test]
    fn concurrent_pushes_and_seal_settle_each_value_once() {
        let rounds = if cfg!(miri) { 5 } else { 200 };
        for round in 0..rounds {
            // Every other round marked: the mark is taken once, by the seal.
            let marked = round % 2 == 1;
            let list = DependentsList::with_faults(Faults::default(), marked);
            let (sealed_values, rejected) = std::thread::scope(|s| {
                let pushers: Vec<_> = (0..2)
                    .map(|t| {
                        let list = &list;
                        s.spawn(move || {
                            (0..10)
                                .filter_map(|i| list.push(t * 100 + i).err())
                                .collect::<Vec<_>>()
                        })
                    })
                    .collect();
                let sealed_values = s
                    .spawn(|| {
                        let sealed = list.seal();
                        assert_eq!(sealed.marked(), marked);
                        sealed.collect::<Vec<_>>()
                    })
                    .join()
                    .unwrap();
                let rejected: Vec<_> = pushers
                    .into_iter()
                    .flat_map(|p| p.join().unwrap())
                    .collect();
                (sealed_values, rejected)
            });
            let mut all: Vec<_> = sealed_values.iter().chain(&rejected).copied().collect();
            all.sort();
            let expected: Vec<_> = (0..2)
                .flat_map(|t| (0..10).map(move |i| t * 100 + i))
                .collect();
            assert_eq!(all, expected, "every push is settled exactly once");
        }
    }
}
