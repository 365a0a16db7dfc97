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

    /// Runs `step` on this thread's `Local` for this queue (made or adopted
    /// on first use); `None` while the thread's thread-locals are being
    /// destroyed (its exit), or under loom.
    #[inline]
    pub(crate) fn with<R>(&self, step: impl FnOnce(&Local) -> R) -> Option<R> {
        if crate::sync::LOOM {
            return None;
        }
        let (queue, local) = LAST.try_with(Cell::get).ok()?;
        if queue == self.queue {
            // SAFETY: `LAST` names a `Local` that `OWNED` holds (an `Arc`)
            // for queue `queue`: it is set only below, from an entry of
            // `OWNED`, and reset when `OWNED` is dropped; `OWNED` forgets
            // only entries of dropped queues (`register`), and queue
            // identities are never reused, so a live queue's entry is
            // still there. Only this thread reads `LAST` and `OWNED`.
            return Some(step(unsafe { &*local }));
        }
        self.with_slow(step)
    }

    #[cold]
    fn with_slow<R>(&self, step: impl FnOnce(&Local) -> R) -> Option<R> {
        let local = OWNED
            .try_with(|owned| {
                let mut owned = owned.try_borrow_mut().ok()?;
                let local = match owned.0.iter().find(|(queue, _)| *queue == self.queue) {
                    Some((_, local)) => Arc::clone(local),
                    None => self.register(&mut owned.0),
                };
                let _ = LAST.try_with(|last| last.set((self.queue, Arc::as_ptr(&local))));
                Some(local)
            })
            .ok()??;
        Some(step(&local))
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

#[cfg(all(test, not(dagqueue_loom)))]
mod tests {
    use super::*;

    #[test]
    fn a_thread_gets_its_own_local_per_queue_and_an_exited_ones_is_adopted() {
        let (a, b) = (Locals::new(u64::MAX - 10), Locals::new(u64::MAX - 11));
        let first = a.with(|l| l as *const Local).unwrap();
        assert_eq!(a.with(|l| l as *const Local), Some(first));
        let other = b.with(|l| l as *const Local).unwrap();
        assert_ne!(first, other);
        assert_eq!(
            a.with(|l| l as *const Local),
            Some(first),
            "after another queue"
        );
        let a = Arc::new(a);
        let theirs = Arc::clone(&a);
        let seen = std::thread::spawn(move || theirs.with(|l| l as *const Local as usize))
            .join()
            .unwrap()
            .unwrap();
        assert_ne!(seen, first as usize);
        let again = Arc::clone(&a);
        let adopted = std::thread::spawn(move || again.with(|l| l as *const Local as usize))
            .join()
            .unwrap()
            .unwrap();
        assert_eq!(adopted, seen, "the exited thread's Local is adopted");
        assert_eq!(a.all().len(), 2);
    }

    #[test]
    fn a_dropped_queues_local_is_forgotten_without_a_dangling_pointer() {
        let old = Locals::new(u64::MAX - 12);
        old.with(|_| ()).unwrap();
        drop(old); // its Local now only held by this thread
        let new = Locals::new(u64::MAX - 13);
        new.with(|_| ()).unwrap(); // registering forgets the old one
        let count = OWNED.with(|owned| {
            owned
                .borrow()
                .0
                .iter()
                .filter(|(queue, _)| *queue == u64::MAX - 12)
                .count()
        });
        assert_eq!(count, 0);
        assert_eq!(new.with(|_| 7), Some(7));
    }
}
