//! A slot for one `Arc`, set once by the thread that owns its record before
//! the record is shared, and read without a lock afterwards.
//!
//! A job's lane group is chosen while the job is reserved (only its
//! submitter can reach it) and read by every claim, start and report after.
//! `std::sync::OnceLock` did the same in 16 bytes, and its `set` goes
//! through `Once`'s general slow path (a CAS and an indirect call; ~100
//! instructions a submit, measured with callgrind); this slot is one
//! pointer, set with one store.

use crate::sync::{AtomicPtr, Ordering};
use core::marker::PhantomData;
use core::ptr;
use std::sync::Arc;

/// One `Arc<T>`, set once; see the module docs.
pub(crate) struct SetOnce<T> {
    /// Null, or the pointer `Arc::into_raw` gave for the `Arc` this slot
    /// owns.
    ptr: AtomicPtr<T>,
    /// Owns an `Arc<T>`: `Send` and `Sync` only as `Arc<T>` is.
    _owns: PhantomData<Arc<T>>,
}

impl<T> SetOnce<T> {
    /// An empty slot.
    pub(crate) fn new() -> SetOnce<T> {
        SetOnce {
            ptr: AtomicPtr::new(ptr::null_mut()),
            _owns: PhantomData,
        }
    }

    /// Sets the value, or hands it back if the slot is set already.
    ///
    /// For the thread that owns the slot's record before it shares it: a
    /// load and a store, not a CAS. Were two threads to set it at once
    /// (no caller does), the one overwritten would leak its `Arc`, never
    /// free it: a reader holding a reference into it stays valid.
    /// Release store: a reader that loads the pointer (Acquire) sees the
    /// value it points to.
    pub(crate) fn set(&self, value: Arc<T>) -> Result<(), Arc<T>> {
        if !self.ptr.load(Ordering::Relaxed).is_null() {
            return Err(value);
        }
        self.ptr
            .store(Arc::into_raw(value).cast_mut(), Ordering::Release);
        Ok(())
    }

    /// The value, if set.
    #[inline]
    pub(crate) fn get(&self) -> Option<&T> {
        let value = self.ptr.load(Ordering::Acquire);
        // SAFETY: a non-null pointer here came from `Arc::into_raw` in `set`
        // (Acquire pairs with its Release store, so the pointee is fully
        // visible), and the slot holds that strong reference until it is
        // dropped, which cannot happen while `&self` lives; a pointer is
        // never replaced by a caller of `set` (and one that a racing `set`
        // replaced would be leaked, never freed). So the pointee outlives
        // the returned reference.
        (!value.is_null()).then(|| unsafe { &*value })
    }
}

impl<T> Drop for SetOnce<T> {
    fn drop(&mut self) {
        let value = self.ptr.load(Ordering::Acquire);
        if !value.is_null() {
            // SAFETY: the pointer came from `Arc::into_raw` in `set`, and this
            // is the slot's one release of the strong reference it owns
            // (`&mut self`: no reader is left).
            drop(unsafe { Arc::from_raw(value) });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_once_then_read_then_freed_with_the_slot() {
        let value = Arc::new(7);
        let slot = SetOnce::new();
        assert!(slot.get().is_none());
        assert!(slot.set(Arc::clone(&value)).is_ok());
        assert_eq!(slot.get(), Some(&7));
        assert_eq!(Arc::strong_count(&value), 2);
        // A second set is refused and hands its value back.
        let other = Arc::new(8);
        let refused = slot.set(Arc::clone(&other)).unwrap_err();
        assert!(Arc::ptr_eq(&refused, &other));
        assert_eq!(slot.get(), Some(&7));
        drop(refused);
        assert_eq!(Arc::strong_count(&other), 1);
        drop(slot);
        assert_eq!(Arc::strong_count(&value), 1, "the slot's Arc was freed");
    }

    #[test]
    fn an_empty_slot_frees_nothing() {
        let slot: SetOnce<String> = SetOnce::new();
        assert!(slot.get().is_none());
        drop(slot);
    }

    #[test]
    fn readers_on_other_threads_see_the_value() {
        let slot = Arc::new(SetOnce::new());
        slot.set(Arc::new(vec![1, 2, 3])).unwrap();
        let reader = {
            let slot = Arc::clone(&slot);
            std::thread::spawn(move || slot.get().map(|v| v.iter().sum::<i32>()))
        };
        assert_eq!(reader.join().unwrap(), Some(6));
    }
}
