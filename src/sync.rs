//! The sync facade: the only place that names atomics, locks and the
//! concurrent containers.
//!
//! Normally these are `std` atomics, `parking_lot` locks, `dashmap`,
//! `crossbeam` and `arc-swap`. Under `--cfg dagqueue_loom` they become loom's
//! atomics and locks, and the containers loom cannot see inside become small
//! loom-visible stand-ins with the same interface (a loom `Mutex` around a
//! `HashMap` or `VecDeque`, an `RwLock<Arc<T>>`), so that the model checker
//! explores every interleaving of the claim / complete / release paths.
//! `docs/DESIGN.md` lists what loom does and does not see.

#[cfg(not(dagqueue_loom))]
pub(crate) use std::sync::atomic::{fence, AtomicPtr, AtomicU64, AtomicUsize};

#[cfg(dagqueue_loom)]
pub(crate) use loom::sync::atomic::{fence, AtomicPtr, AtomicU64, AtomicUsize};

pub(crate) use std::sync::atomic::Ordering;

/// A set-once cell. Always std's: loom has none, so what is published
/// through one must also be published by a loom-visible step (see
/// docs/DESIGN.md, "what loom does not see").
pub(crate) use std::sync::OnceLock;

/// A small number unique to the calling thread (0, 1, 2... in order of first
/// call), for striping counters.
#[cfg(not(dagqueue_loom))]
#[inline]
pub(crate) fn thread_index() -> usize {
    use std::cell::Cell;
    // A process-wide ticket; Relaxed: only uniqueness matters.
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    thread_local!(static INDEX: Cell<usize> = const { Cell::new(usize::MAX) });
    INDEX.with(|index| {
        if index.get() == usize::MAX {
            index.set(NEXT.fetch_add(1, Ordering::Relaxed));
        }
        index.get()
    })
}

/// A number unique to each call in this process (queue identities).
pub(crate) fn next_queue_uid() -> u64 {
    // A std atomic even under loom: a process-wide counter is not part of any
    // protocol a model checks. Relaxed: only uniqueness matters.
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// Backs off inside a retry loop that waits for another thread's short step.
#[inline]
pub(crate) fn spin_wait() {
    #[cfg(not(dagqueue_loom))]
    {
        std::thread::yield_now();
    }
    #[cfg(dagqueue_loom)]
    {
        loom::thread::yield_now();
    }
}

/// A lock used only off the claim/complete hot path.
#[cfg(not(dagqueue_loom))]
pub(crate) type Mutex<T> = parking_lot::Mutex<T>;
#[cfg(not(dagqueue_loom))]
pub(crate) type MutexGuard<'a, T> = parking_lot::MutexGuard<'a, T>;
/// A condition variable for sleeping workers.
#[cfg(not(dagqueue_loom))]
pub(crate) type Condvar = parking_lot::Condvar;

#[cfg(dagqueue_loom)]
pub(crate) use loom_shim::{Condvar, Mutex, MutexGuard};

/// Waits on `condvar` for at most `timeout`; returns whether it timed out.
#[cfg(not(dagqueue_loom))]
pub(crate) fn condvar_wait<T>(
    condvar: &Condvar,
    guard: &mut MutexGuard<'_, T>,
    timeout: std::time::Duration,
) -> bool {
    condvar.wait_for(guard, timeout).timed_out()
}

#[cfg(dagqueue_loom)]
pub(crate) fn condvar_wait<T>(
    condvar: &Condvar,
    guard: &mut MutexGuard<'_, T>,
    _timeout: std::time::Duration,
) -> bool {
    // loom has no time: a wait ends only when notified, so a model in which
    // the wake-up is lost deadlocks and loom reports it.
    condvar.wait(guard);
    false
}

/// A sharded concurrent map (dashmap; a locked `HashMap` under loom).
#[cfg(not(dagqueue_loom))]
pub(crate) type ConcurrentMap<K, V> = sharded::ShardedMap<K, V>;
#[cfg(dagqueue_loom)]
pub(crate) type ConcurrentMap<K, V> = loom_shim::LockedMap<K, V>;

/// An unbounded lock-free FIFO (crossbeam `SegQueue`; a locked `VecDeque`
/// under loom).
#[cfg(not(dagqueue_loom))]
pub(crate) type Fifo<T> = crossbeam_queue::SegQueue<T>;
#[cfg(dagqueue_loom)]
pub(crate) type Fifo<T> = loom_shim::LockedFifo<T>;

/// A read-mostly snapshot cell that may be empty (arc-swap's
/// `ArcSwapOption`; an `RwLock<Option<Arc<T>>>` under loom). Empty costs no
/// allocation.
#[cfg(not(dagqueue_loom))]
pub(crate) type Snapshot<T> = arc_swap::ArcSwapOption<T>;
#[cfg(dagqueue_loom)]
pub(crate) type Snapshot<T> = loom_shim::LockedSnapshot<T>;

/// Loads the current value of a snapshot cell.
#[inline]
pub(crate) fn snapshot_load<T>(cell: &Snapshot<T>) -> Option<std::sync::Arc<T>> {
    cell.load_full()
}

/// Replaces the value of a snapshot cell.
#[inline]
pub(crate) fn snapshot_store<T>(cell: &Snapshot<T>, value: Option<std::sync::Arc<T>>) {
    cell.store(value);
}

/// A new snapshot cell.
pub(crate) fn snapshot_new<T>(value: Option<std::sync::Arc<T>>) -> Snapshot<T> {
    Snapshot::from(value)
}

/// Pads a value to its own cache line.
pub(crate) use crossbeam_utils::CachePadded;

#[cfg(not(dagqueue_loom))]
mod sharded {
    //! dashmap, behind the few methods the crate uses (the same ones the loom
    //! stand-in offers). Values are cheap to clone (`Arc`s), and no method
    //! hands out a guard, so no caller can hold a shard lock by mistake.
    use dashmap::mapref::entry::Entry;
    use dashmap::DashMap;
    use std::hash::{BuildHasherDefault, Hash, Hasher};

    /// Hashes the crate's integer ids with one multiply (Fx-style) instead
    /// of SipHash: ids come from the caller's own database, not from an
    /// adversary, and the multiply spreads them over dashmap's shard bits.
    #[derive(Default, Clone, Copy)]
    pub(crate) struct IdHasher(u64);

    impl Hasher for IdHasher {
        #[inline]
        fn finish(&self) -> u64 {
            self.0
        }
        #[inline]
        fn write(&mut self, bytes: &[u8]) {
            for &byte in bytes {
                self.write_u64(u64::from(byte));
            }
        }
        #[inline]
        fn write_u32(&mut self, value: u32) {
            self.write_u64(u64::from(value));
        }
        #[inline]
        fn write_u64(&mut self, value: u64) {
            self.0 = (self.0.rotate_left(5) ^ value).wrapping_mul(0x517c_c1b7_2722_0a95);
        }
    }

    pub(crate) struct ShardedMap<K, V>(DashMap<K, V, BuildHasherDefault<IdHasher>>);

    impl<K: Eq + Hash + Clone, V: Clone> ShardedMap<K, V> {
        pub(crate) fn new() -> Self {
            ShardedMap(DashMap::default())
        }
        #[inline]
        pub(crate) fn get_cloned(&self, key: &K) -> Option<V> {
            self.0.get(key).map(|v| v.value().clone())
        }
        pub(crate) fn insert_if_absent(&self, key: K, value: V) -> Result<(), V> {
            match self.0.entry(key) {
                Entry::Occupied(_) => Err(value),
                Entry::Vacant(slot) => {
                    slot.insert(value);
                    Ok(())
                }
            }
        }
        pub(crate) fn get_or_insert_with(&self, key: K, make: impl FnOnce() -> V) -> V {
            if let Some(v) = self.get_cloned(&key) {
                return v;
            }
            self.0.entry(key).or_insert_with(make).value().clone()
        }
        /// Visits every value in place, one shard read-locked at a time (no
        /// reference-count traffic). `visit` must not touch this map.
        pub(crate) fn for_each_value(&self, mut visit: impl FnMut(&V)) {
            for entry in self.0.iter() {
                visit(entry.value());
            }
        }
        pub(crate) fn values_cloned(&self) -> Vec<V> {
            self.0.iter().map(|e| e.value().clone()).collect()
        }
        pub(crate) fn entries_cloned(&self) -> Vec<(K, V)> {
            self.0
                .iter()
                .map(|e| (e.key().clone(), e.value().clone()))
                .collect()
        }
        pub(crate) fn retain(&self, keep: impl FnMut(&K, &mut V) -> bool) {
            self.0.retain(keep);
        }
        pub(crate) fn len(&self) -> usize {
            self.0.len()
        }
    }
}

#[cfg(dagqueue_loom)]
mod loom_shim {
    //! Loom-visible stand-ins with the subset of the container APIs we use.
    use std::collections::{HashMap, VecDeque};
    use std::hash::Hash;
    use std::ops::{Deref, DerefMut};

    /// `parking_lot`-shaped wrapper over loom's mutex.
    #[derive(Debug, Default)]
    pub(crate) struct Mutex<T>(loom::sync::Mutex<T>);
    pub(crate) struct MutexGuard<'a, T>(Option<loom::sync::MutexGuard<'a, T>>);

    impl<T> Mutex<T> {
        pub(crate) fn new(value: T) -> Self {
            Mutex(loom::sync::Mutex::new(value))
        }
        pub(crate) fn lock(&self) -> MutexGuard<'_, T> {
            MutexGuard(Some(self.0.lock().unwrap()))
        }
        pub(crate) fn try_lock(&self) -> Option<MutexGuard<'_, T>> {
            self.0.try_lock().ok().map(|g| MutexGuard(Some(g)))
        }
    }
    impl<T> Deref for MutexGuard<'_, T> {
        type Target = T;
        fn deref(&self) -> &T {
            self.0.as_ref().unwrap()
        }
    }
    impl<T> DerefMut for MutexGuard<'_, T> {
        fn deref_mut(&mut self) -> &mut T {
            self.0.as_mut().unwrap()
        }
    }

    #[derive(Debug, Default)]
    pub(crate) struct Condvar(loom::sync::Condvar);
    impl Condvar {
        pub(crate) fn new() -> Self {
            Condvar(loom::sync::Condvar::new())
        }
        pub(crate) fn wait<T>(&self, guard: &mut MutexGuard<'_, T>) {
            let inner = guard.0.take().unwrap();
            guard.0 = Some(self.0.wait(inner).unwrap());
        }
        pub(crate) fn notify_all(&self) {
            self.0.notify_all();
        }
    }

    /// A `HashMap` behind a loom mutex, with dashmap's method names.
    pub(crate) struct LockedMap<K, V>(loom::sync::Mutex<HashMap<K, V>>);

    impl<K: Eq + Hash, V: Clone> LockedMap<K, V> {
        pub(crate) fn new() -> Self {
            LockedMap(loom::sync::Mutex::new(HashMap::new()))
        }
        pub(crate) fn get_cloned(&self, key: &K) -> Option<V> {
            self.0.lock().unwrap().get(key).cloned()
        }
        pub(crate) fn insert_if_absent(&self, key: K, value: V) -> Result<(), V> {
            match self.0.lock().unwrap().entry(key) {
                std::collections::hash_map::Entry::Occupied(_) => Err(value),
                std::collections::hash_map::Entry::Vacant(slot) => {
                    slot.insert(value);
                    Ok(())
                }
            }
        }
        pub(crate) fn get_or_insert_with(&self, key: K, make: impl FnOnce() -> V) -> V {
            self.0
                .lock()
                .unwrap()
                .entry(key)
                .or_insert_with(make)
                .clone()
        }
        /// Like dashmap's iteration, which locks one shard at a time, this
        /// takes the lock once for the keys and once per value, so loom
        /// explores writers running between the reads of two entries.
        pub(crate) fn for_each_value(&self, mut visit: impl FnMut(&V))
        where
            K: Clone,
        {
            for value in self.values_cloned() {
                visit(&value);
            }
        }
        pub(crate) fn values_cloned(&self) -> Vec<V>
        where
            K: Clone,
        {
            self.entries_cloned().into_iter().map(|(_, v)| v).collect()
        }
        pub(crate) fn entries_cloned(&self) -> Vec<(K, V)>
        where
            K: Clone,
        {
            let keys: Vec<K> = self.0.lock().unwrap().keys().cloned().collect();
            keys.into_iter()
                .filter_map(|k| {
                    let v = self.get_cloned(&k)?;
                    Some((k, v))
                })
                .collect()
        }
        pub(crate) fn retain(&self, keep: impl FnMut(&K, &mut V) -> bool) {
            self.0.lock().unwrap().retain(keep);
        }
        pub(crate) fn len(&self) -> usize {
            self.0.lock().unwrap().len()
        }
    }

    /// A `VecDeque` behind a loom mutex, with `SegQueue`'s method names.
    pub(crate) struct LockedFifo<T>(loom::sync::Mutex<VecDeque<T>>);
    impl<T> LockedFifo<T> {
        pub(crate) fn new() -> Self {
            LockedFifo(loom::sync::Mutex::new(VecDeque::new()))
        }
        pub(crate) fn push(&self, value: T) {
            self.0.lock().unwrap().push_back(value);
        }
        pub(crate) fn pop(&self) -> Option<T> {
            self.0.lock().unwrap().pop_front()
        }
        pub(crate) fn is_empty(&self) -> bool {
            self.0.lock().unwrap().is_empty()
        }
    }
    impl<T> Default for LockedFifo<T> {
        fn default() -> Self {
            Self::new()
        }
    }

    /// An `RwLock<Option<Arc<T>>>` with arc-swap's method names.
    pub(crate) struct LockedSnapshot<T>(loom::sync::RwLock<Option<std::sync::Arc<T>>>);
    impl<T> From<Option<std::sync::Arc<T>>> for LockedSnapshot<T> {
        fn from(value: Option<std::sync::Arc<T>>) -> Self {
            LockedSnapshot(loom::sync::RwLock::new(value))
        }
    }
    impl<T> LockedSnapshot<T> {
        pub(crate) fn load_full(&self) -> Option<std::sync::Arc<T>> {
            self.0.read().unwrap().clone()
        }
        pub(crate) fn store(&self, value: Option<std::sync::Arc<T>>) {
            *self.0.write().unwrap() = value;
        }
    }
}
