//! What one thread keeps for one queue: its status tally and, once it has
//! written an event, its event ring. Found through a thread-local pointer
//! to the last queue the thread used (one load and a compare), so counting
//! a transition costs a handful of plain loads and stores.
//!
//! Each `Local` is owned by one thread at a time and written only by it.
//! The queue's list keeps every `Local` (its counts stay part of the sums
//! after its thread exits); a thread that registers later adopts one whose
//! thread exited, so a queue keeps as many as it had threads alive at once.

use crate::counts::Tally;
use crate::events::Ring;
use crate::sync::{Mutex, OnceLock};
use core::cell::{Cell, RefCell};
use std::sync::Arc;

/// One thread's share of one queue.
pub(crate) struct Local {
    pub(crate) tally: Tally,
    /// Its event ring, made (or, with an adopted `Local`, kept) when it
    /// first writes an event.
    pub(crate) ring: OnceLock<Arc<Ring>>,
}

/// This thread's `Local`s, by queue identity; on drop (thread exit) it
/// empties `LAST`, so no pointer to a freed `Local` is ever followed.
struct Owned(Vec<(u64, Arc<Local>)>);

impl Drop for Owned {
    fn drop(&mut self) {
        // `LAST` has no destructor: always accessible.
        LAST.with(|last| last.set(NONE));
    }
}

const NONE: (u64, *const Local) = (u64::MAX, core::ptr::null());

crate::sync::thread_local! {
    static OWNED: RefCell<Owned> = const { RefCell::new(Owned(Vec::new())) };
}

crate::sync::thread_local! {
    /// The queue this thread used last, and its `Local` there (owned by
    /// `OWNED`).
    static LAST: Cell<(u64, *const Local)> = const { Cell::new(NONE) };
}

/// A queue's `Local`s.
pub(crate) struct Locals {
    queue: u64,
    all: Mutex<Vec<Arc<Local>>>,
}

impl Locals {
    pub(crate) fn new(queue: u64) -> Locals {
        Locals {
            queue,
            all: Mutex::new(Vec::new()),
        }
    }

    /// This thread's `Local` for this queue (made or adopted on first
    /// use); `None` while the thread's thread-locals are being destroyed
    /// (its exit), or under loom.
    #[inline]
    pub(crate) fn get(&self) -> Option<&Local> {
        if crate::sync::LOOM {
            return None;
        }
        let (queue, local) = LAST.try_with(Cell::get).ok()?;
        if queue != self.queue {
            return self.get_slow();
        }
        // SAFETY: `LAST` names a `Local` that `OWNED` holds (an `Arc`) for
        // queue `queue`: it is set only in `get_slow`, from an entry of
        // `OWNED`, and reset when `OWNED` is dropped (this thread's exit,
        // which cannot happen while `self` is borrowed here). `OWNED`
        // forgets only entries of dropped queues (`register`), and queue
        // identities are never reused, so the entry of this live queue
        // (borrowed as `self`) stays while the reference lives. Only this
        // thread reads or writes `LAST` and `OWNED`.
        Some(unsafe { &*local })
    }

    #[cold]
    #[inline(never)]
    fn get_slow(&self) -> Option<&Local> {
        let local = OWNED
            .try_with(|owned| {
                let mut owned = owned.try_borrow_mut().ok()?;
                let local = match owned.0.iter().find(|(queue, _)| *queue == self.queue) {
                    Some((_, local)) => Arc::as_ptr(local),
                    None => Arc::as_ptr(&self.register(&mut owned.0)),
                };
                LAST.try_with(|last| last.set((self.queue, local))).ok()?;
                Some(local)
            })
            .ok()??;
        // SAFETY: as in `get`: `OWNED` holds this `Local` for this live
        // queue until the thread exits.
        Some(unsafe { &*local })
    }

    fn register(&self, owned: &mut Vec<(u64, Arc<Local>)>) -> Arc<Local> {
        // Forget the `Local`s of dropped queues (only this thread holds
        // them); `LAST` names the queue about to be set, not one of these.
        owned.retain(|(_, local)| Arc::strong_count(local) > 1);
        let mut all = self.all.lock();
        // Adopt an exited thread's `Local`: `get_mut` succeeds only when the
        // list holds the last reference, and (Acquire) sees every count
        // and event its old thread wrote, so this thread goes on from them.
        let local = match all.iter_mut().position(|l| Arc::get_mut(l).is_some()) {
            Some(index) => Arc::clone(&all[index]),
            None => {
                let local = Arc::new(Local {
                    tally: Tally::new(false),
                    ring: OnceLock::new(),
                });
                all.push(Arc::clone(&local));
                local
            }
        };
        owned.push((self.queue, Arc::clone(&local)));
        local
    }

    /// Every `Local` (for the status sums).
    pub(crate) fn all(&self) -> Vec<Arc<Local>> {
        self.all.lock().clone()
    }
}

#[cfg(all(test, not(any(dagqueue_loom, dagqueue_shuttle))))]
mod tests {
    use super::*;

    #[test]
    fn a_thread_gets_its_own_local_per_queue_and_an_exited_ones_is_adopted() {
        let (a, b) = (Locals::new(u64::MAX - 10), Locals::new(u64::MAX - 11));
        let pointer = |locals: &Locals| locals.get().map(|l| l as *const Local);
        let first = pointer(&a).unwrap();
        assert_eq!(pointer(&a), Some(first));
        let other = pointer(&b).unwrap();
        assert_ne!(first, other);
        assert_eq!(pointer(&a), Some(first), "after another queue");
        let a = Arc::new(a);
        let theirs = Arc::clone(&a);
        let seen = std::thread::spawn(move || theirs.get().map(|l| l as *const Local as usize))
            .join()
            .unwrap()
            .unwrap();
        assert_ne!(seen, first as usize);
        let again = Arc::clone(&a);
        let adopted = std::thread::spawn(move || again.get().map(|l| l as *const Local as usize))
            .join()
            .unwrap()
            .unwrap();
        assert_eq!(adopted, seen, "the exited thread's Local is adopted");
        assert_eq!(a.all().len(), 2);
    }

    #[test]
    fn a_dropped_queues_local_is_forgotten_without_a_dangling_pointer() {
        let old = Locals::new(u64::MAX - 12);
        assert!(old.get().is_some());
        drop(old); // its Local now only held by this thread
        let new = Locals::new(u64::MAX - 13);
        assert!(new.get().is_some()); // registering forgets the old one
        let count = OWNED.with(|owned| {
            owned
                .borrow()
                .0
                .iter()
                .filter(|(queue, _)| *queue == u64::MAX - 12)
                .count()
        });
        assert_eq!(count, 0);
        assert!(new.get().is_some());
    }
}
