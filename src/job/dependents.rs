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
//! Nodes are only ever removed all at once by the single successful `seal`
//! (or by `Drop`), never popped one by one, so there is no ABA and no node is
//! freed while another thread can reach it.

use crate::faults::Faults;
use crate::sync::{AtomicPtr, Ordering};
use core::ptr;

struct Node<T> {
    value: T,
    next: *mut Node<T>,
}

/// A sealable multi-producer stack; see the module docs.
pub(crate) struct DependentsList<T> {
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

/// The sealed marker: a dangling, well-aligned address that no allocation
/// can have, never dereferenced.
fn sealed<T>() -> *mut Node<T> {
    ptr::dangling_mut()
}

impl<T> DependentsList<T> {
    /// An open, empty list.
    #[cfg(test)]
    pub(crate) fn new() -> Self {
        Self::with_faults(Faults::default())
    }

    /// An empty list that applies `faults` (loom negative controls).
    pub(crate) fn with_faults(faults: Faults) -> Self {
        DependentsList {
            head: AtomicPtr::new(ptr::null_mut()),
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
            // SAFETY: `node` is unpublished, so this thread has exclusive access.
            unsafe { (*node).next = head };
            match self
                .head
                .compare_exchange_weak(head, node, Ordering::Release, Ordering::Acquire)
            {
                Ok(_) => return Ok(()),
                Err(actual) => head = actual,
            }
        }
    }

    /// Registers `value` on the list of a record no other thread can reach
    /// yet (a batch job, reserved and unpublished, while its batch links
    /// it): a plain store instead of a CAS, which for 100,000 cold records
    /// in a row waits for each line.
    ///
    /// Relaxed: the record is published later by a Release store or CAS of
    /// its state word, which orders this node before anyone can reach the
    /// list. Debug builds check the list was open.
    pub(crate) fn push_unpublished(&self, value: T) {
        let head = self.head.load(Ordering::Relaxed);
        debug_assert!(head != sealed(), "an unpublished job's list is open");
        let node = Box::into_raw(Box::new(Node { value, next: head }));
        self.head.store(node, Ordering::Relaxed);
    }

    /// Closes the list and returns every registered value, in registration
    /// order. A second seal returns nothing.
    ///
    /// Orderings: AcqRel swap. Acquire to see the nodes pushed (Release);
    /// Release so that pushers that find the marker see what the sealer did
    /// before (the job's terminal state).
    /// With the `unsealed_dependents` fault (loom negative control), a take
    /// that leaves the list open.
    pub(crate) fn seal(&self) -> Vec<T> {
        let mut values = Vec::new();
        self.seal_each(|value| values.push(value));
        values
    }

    /// Like [`seal`](Self::seal), but hands each value to `f`, in
    /// registration order, without collecting them: sealing a list nobody
    /// registered with (most jobs) costs the swap and nothing else.
    #[inline]
    pub(crate) fn seal_each(&self, mut f: impl FnMut(T)) {
        let marker = if self.faults.unsealed_dependents() {
            ptr::null_mut()
        } else {
            sealed()
        };
        let mut current = self.head.swap(marker, Ordering::AcqRel);
        if current == sealed() || current.is_null() {
            return;
        }
        // Reverse the chain in place (it was pushed newest first).
        let mut reversed: *mut Node<T> = ptr::null_mut();
        while !current.is_null() {
            // SAFETY: every non-null, non-marker pointer reachable from head
            // was produced by `Box::into_raw` in `push` and published by its
            // CAS; the swap above unlinked the whole chain, so this thread is
            // its only owner. Each node is taken out of its box here and put
            // back with `Box::into_raw` at once (relinked, not freed).
            let mut node = unsafe { Box::from_raw(current) };
            current = node.next;
            node.next = reversed;
            reversed = Box::into_raw(node);
        }
        while !reversed.is_null() {
            // SAFETY: the reversed chain holds exactly the nodes unlinked
            // above, each from `Box::into_raw`, owned by this thread only;
            // each is freed exactly once here.
            let node = unsafe { Box::from_raw(reversed) };
            reversed = node.next;
            f(node.value);
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
        assert_eq!(list.seal(), vec![1, 2, 3]);
        assert!(list.is_sealed());
        assert_eq!(list.push(4), Err(4));
        assert_eq!(list.seal(), Vec::<i32>::new());
    }

    #[test]
    fn sealing_an_empty_list_closes_it_and_yields_nothing() {
        let list = DependentsList::new();
        let mut seen = Vec::new();
        list.seal_each(|value: i32| seen.push(value));
        assert!(seen.is_empty());
        assert!(list.is_sealed());
        assert_eq!(list.push(7), Err(7));
    }

    #[test]
    fn seal_each_hands_values_over_in_registration_order() {
        let list = DependentsList::new();
        for value in 0..100 {
            list.push(value).unwrap();
        }
        let mut seen = Vec::new();
        list.seal_each(|value| seen.push(value));
        assert_eq!(seen, (0..100).collect::<Vec<_>>());
        assert!(list.is_sealed());
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
        for _ in 0..rounds {
            let list = DependentsList::new();
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
                let sealed_values = s.spawn(|| list.seal()).join().unwrap();
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
