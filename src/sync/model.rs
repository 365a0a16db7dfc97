//! The primitives of a model build, shared by both model checkers: loom
//! (`--cfg dagqueue_loom`, exhaustive up to a preemption bound, with
//! loom's memory model) and shuttle (`--cfg dagqueue_shuttle`, randomized
//! schedules, PCT or uniform random, sequentially consistent). Their
//! atomics and locks, and stand-ins, with the same interfaces, for the
//! containers neither checker sees inside (a model `Mutex` around a
//! `HashMap` or a `VecDeque`, an `RwLock<Option<Arc<T>>>`), so that the
//! checker schedules every step of the claim / complete / release paths.
//!
//! One copy of the stand-ins: they are written against `backend`, which is
//! `::loom` or `::shuttle` (the two crates give `sync::{Mutex, MutexGuard,
//! Condvar, RwLock}`, `sync::atomic`, `thread::yield_now`,
//! `future::block_on` and `thread_local!` with the same shapes).

#[cfg(dagqueue_loom)]
use ::loom as backend;
#[cfg(all(dagqueue_shuttle, not(dagqueue_loom)))]
use ::shuttle as backend;

pub(crate) use backend::sync::atomic::{
    fence, AtomicBool, AtomicPtr, AtomicU32, AtomicU64, AtomicUsize,
};

/// A model-visible stand-in for event-listener's `Event` (which switches to
/// loom only under the global `--cfg loom`, and has no shuttle support): a
/// count of registered waiters and of notifications not yet consumed,
/// under a model mutex, and
/// an epoch for "wake everyone". Same interface as the std build's; the
/// models check the protocol around it (register, re-check, wait; publish,
/// notify), event-listener's own tests check event-listener.
pub(crate) struct Event {
    state: backend::sync::Mutex<EventState>,
    condvar: backend::sync::Condvar,
}

#[derive(Default)]
struct EventState {
    /// Registered, not yet woken or dropped.
    listeners: usize,
    /// Notifications waiting to be consumed (at most `listeners`).
    tokens: usize,
    /// Bumped by `notify_all`: every listener registered before wakes.
    epoch: u64,
    /// Listeners awaited as futures: (listener id, its waker).
    wakers: Vec<(u64, std::task::Waker)>,
    next_id: u64,
}

impl EventState {
    /// Wakes every awaiting listener (each checks for itself).
    fn wake_futures(&mut self) {
        for (_, waker) in self.wakers.drain(..) {
            waker.wake();
        }
    }
}

/// One waiter registered on an [`Event`].
pub(crate) struct EventListener<'a> {
    event: &'a Event,
    epoch: u64,
    id: u64,
    done: bool,
}

impl Event {
    pub(crate) fn new() -> Event {
        Event {
            state: backend::sync::Mutex::new(EventState::default()),
            condvar: backend::sync::Condvar::new(),
        }
    }

    pub(crate) fn listen(&self) -> EventListener<'_> {
        let mut state = self.state.lock().unwrap();
        state.listeners += 1;
        state.next_id += 1;
        EventListener {
            event: self,
            epoch: state.epoch,
            id: state.next_id,
            done: false,
        }
    }

    pub(crate) fn notify_one(&self) {
        let mut state = self.state.lock().unwrap();
        if state.tokens < state.listeners {
            state.tokens += 1;
            self.condvar.notify_all();
            state.wake_futures();
        }
    }

    /// Wakes one waiter unless a notification is already waiting to be
    /// taken (the std build's non-additional notify).
    pub(crate) fn notify_unless_pending(&self) {
        let mut state = self.state.lock().unwrap();
        if state.tokens == 0 && state.listeners > 0 {
            state.tokens = 1;
            self.condvar.notify_all();
            state.wake_futures();
        }
    }

    pub(crate) fn notify_all(&self) {
        let mut state = self.state.lock().unwrap();
        if state.listeners > 0 {
            state.epoch += 1;
            state.tokens = 0;
            self.condvar.notify_all();
            state.wake_futures();
        }
    }
}

impl EventListener<'_> {
    /// Blocks until notified (a model has no time: the deadline is
    /// ignored, so a lost wake-up is a deadlock the checker reports).
    pub(crate) fn wait_until(mut self, _deadline: Option<std::time::Instant>) -> bool {
        let event = self.event;
        let mut state = event.state.lock().unwrap();
        while !self.take(&mut state) {
            state = event.condvar.wait(state).unwrap();
        }
        true
    }
}

impl EventListener<'_> {
    /// Takes the notification meant for it, if any (under the lock).
    fn take(&mut self, state: &mut EventState) -> bool {
        let notified = if state.epoch != self.epoch {
            true
        } else if state.tokens > 0 {
            state.tokens -= 1;
            true
        } else {
            false
        };
        if notified {
            state.listeners -= 1;
            state.wakers.retain(|(id, _)| *id != self.id);
            self.done = true;
        }
        notified
    }
}

impl core::future::Future for EventListener<'_> {
    type Output = ();

    fn poll(
        mut self: core::pin::Pin<&mut Self>,
        cx: &mut core::task::Context<'_>,
    ) -> core::task::Poll<()> {
        let event = self.event;
        let mut state = event.state.lock().unwrap();
        if self.done || self.take(&mut state) {
            return core::task::Poll::Ready(());
        }
        let id = self.id;
        state.wakers.retain(|(other, _)| *other != id);
        state.wakers.push((id, cx.waker().clone()));
        core::task::Poll::Pending
    }
}

/// Blocks (in the model) until one of `listeners` is notified; a model has
/// no time, so the deadline is ignored and a lost wake-up is a deadlock.
pub(crate) fn wait_any_until(
    mut listeners: Vec<EventListener<'_>>,
    deadline: Option<std::time::Instant>,
) -> bool {
    // One listener: its own blocking wait (as the std build does).
    if listeners.len() == 1 {
        if let Some(listener) = listeners.pop() {
            return listener.wait_until(deadline);
        }
    }
    backend::future::block_on(crate::wake::AnyOf::new(listeners));
    true
}

impl Drop for EventListener<'_> {
    fn drop(&mut self) {
        // Not while unwinding from a failed model (the checker would panic
        // again, inside this drop, and abort the test process).
        if self.done || std::thread::panicking() {
            return;
        }
        let mut state = self.event.state.lock().unwrap();
        state.listeners -= 1;
        let id = self.id;
        state.wakers.retain(|(other, _)| *other != id);
        // A notification meant for this waiter stays for another.
        state.tokens = state.tokens.min(state.listeners);
    }
}

/// Thread-local storage per model thread (loom's or shuttle's: shuttle
/// runs every model thread on one OS thread, so std's would be shared).
/// Takes std's `const { .. }` initializer form (loom's own macro does not),
/// so the crate writes one declaration for every build.
#[cfg(dagqueue_loom)]
macro_rules! model_thread_local {
    ($(#[$attr:meta])* static $name:ident: $t:ty = const { $init:expr };) => {
        ::loom::thread_local!($(#[$attr])* static $name: $t = $init);
    };
}
/// See the loom build's definition.
#[cfg(all(dagqueue_shuttle, not(dagqueue_loom)))]
macro_rules! model_thread_local {
    ($(#[$attr:meta])* static $name:ident: $t:ty = const { $init:expr };) => {
        ::shuttle::thread_local!($(#[$attr])* static $name: $t = $init);
    };
}
pub(crate) use model_thread_local as thread_local;

/// Whether this is a model build, loom or shuttle (it is): the crate's
/// clock is set by hand, per-thread tallies are one shared tally, every
/// runner goes through the map, rings are small.
pub(crate) const LOOM: bool = true;

/// Yields to the checker's scheduler inside a retry loop.
#[inline]
pub(crate) fn spin_wait() {
    backend::thread::yield_now();
}

/// A sharded concurrent map: a locked `HashMap` in a model build.
pub(crate) type ConcurrentMap<K, V> = LockedMap<K, V>;

/// An unbounded FIFO: a locked `VecDeque` in a model build.
pub(crate) type Fifo<T> = LockedFifo<T>;

/// The ready lanes' FIFO: a locked `VecDeque` in a model build too, so that
/// the queue's models stay the size they were; the lock-free
/// `record_fifo.rs` has models of its own (`__loom::RecordFifoProbe`).
pub(crate) type RecordQueue<R> = LockedRecordFifo<R>;

/// A read-mostly snapshot cell: an `RwLock<Option<Arc<T>>>` in a model build.
pub(crate) type Snapshot<T> = LockedSnapshot<T>;

use std::collections::{HashMap, VecDeque};
use std::hash::Hash;
use std::ops::{Deref, DerefMut};

/// `parking_lot`-shaped wrapper over the checker's mutex.
#[derive(Debug, Default)]
pub(crate) struct Mutex<T>(backend::sync::Mutex<T>);
pub(crate) struct MutexGuard<'a, T>(Option<backend::sync::MutexGuard<'a, T>>);

impl<T> Mutex<T> {
    pub(crate) fn new(value: T) -> Self {
        Mutex(backend::sync::Mutex::new(value))
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

/// A deterministic hasher: a model checker replays each execution's
/// prefix and needs the same iteration order every time (std's
/// `RandomState` seeds each map differently, and loom then reports "Is the
/// model fully deterministic?").
type FixedState = std::hash::BuildHasherDefault<std::collections::hash_map::DefaultHasher>;

/// A `HashMap` behind a model mutex, with dashmap's method names.
pub(crate) struct LockedMap<K, V>(backend::sync::Mutex<HashMap<K, V, FixedState>>);

impl<K: Eq + Hash, V: Clone> LockedMap<K, V> {
    pub(crate) fn new() -> Self {
        LockedMap(backend::sync::Mutex::new(HashMap::default()))
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
    /// takes the lock once for the keys and once per value, so the checker
    /// explores writers running between the reads of two entries.
    pub(crate) fn for_each_value(&self, mut visit: impl FnMut(&V))
    where
        K: Clone,
    {
        for value in self.values_cloned() {
            visit(&value);
        }
    }
    /// Inserts `value`, or replaces the value there if `replaces` says so.
    pub(crate) fn insert_or_replace_if(&self, key: K, value: V, replaces: impl FnOnce(&V) -> bool) {
        let mut map = self.0.lock().unwrap();
        match map.entry(key) {
            std::collections::hash_map::Entry::Occupied(mut slot) => {
                if replaces(slot.get()) {
                    slot.insert(value);
                }
            }
            std::collections::hash_map::Entry::Vacant(slot) => {
                slot.insert(value);
            }
        }
    }
    pub(crate) fn contains_key(&self, key: &K) -> bool {
        self.0.lock().unwrap().contains_key(key)
    }
    pub(crate) fn remove(&self, key: &K) {
        self.0.lock().unwrap().remove(key);
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

/// A `VecDeque` behind a model mutex, with `SegQueue`'s method names.
pub(crate) struct LockedFifo<T>(backend::sync::Mutex<VecDeque<T>>);
impl<T> LockedFifo<T> {
    pub(crate) fn new() -> Self {
        LockedFifo(backend::sync::Mutex::new(VecDeque::new()))
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
    pub(crate) fn len(&self) -> usize {
        self.0.lock().unwrap().len()
    }
    /// How many entries satisfy `matches` (the models' lane probe; a
    /// `SegQueue` cannot be searched).
    pub(crate) fn count(&self, matches: impl Fn(&T) -> bool) -> usize {
        self.0.lock().unwrap().iter().filter(|e| matches(e)).count()
    }
}
impl<T> Default for LockedFifo<T> {
    fn default() -> Self {
        Self::new()
    }
}

/// A `VecDeque` of `(Arc<R>, tag)` behind a model mutex, with
/// `RecordFifo`'s method names.
pub(crate) struct LockedRecordFifo<R>(LockedFifo<(std::sync::Arc<R>, u64)>);
impl<R> LockedRecordFifo<R> {
    pub(crate) fn new() -> Self {
        LockedRecordFifo(LockedFifo::new())
    }
    pub(crate) fn push(&self, record: std::sync::Arc<R>, tag: u64) {
        self.0.push((record, tag));
    }
    pub(crate) fn pop(&self) -> Option<(std::sync::Arc<R>, u64)> {
        self.0.pop()
    }
    /// Pops, and hands `look` the next entry's record address.
    pub(crate) fn pop_looking_ahead(
        &self,
        mut look: impl FnMut(*const R),
    ) -> Option<(std::sync::Arc<R>, u64)> {
        let mut entries = self.0 .0.lock().unwrap();
        let front = entries.pop_front();
        if let Some((next, _)) = entries.front() {
            look(std::sync::Arc::as_ptr(next));
        }
        front
    }
    pub(crate) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    pub(crate) fn len(&self) -> usize {
        self.0.len()
    }
    /// How many entries satisfy `matches`.
    pub(crate) fn count(&self, matches: impl Fn(&std::sync::Arc<R>, u64) -> bool) -> usize {
        self.0.count(|(record, tag)| matches(record, *tag))
    }
}

/// An `RwLock<Option<Arc<T>>>` with arc-swap's method names.
pub(crate) struct LockedSnapshot<T>(backend::sync::RwLock<Option<std::sync::Arc<T>>>);
impl<T> From<Option<std::sync::Arc<T>>> for LockedSnapshot<T> {
    fn from(value: Option<std::sync::Arc<T>>) -> Self {
        LockedSnapshot(backend::sync::RwLock::new(value))
    }
}
impl<T> LockedSnapshot<T> {
    pub(crate) fn load_full(&self) -> Option<std::sync::Arc<T>> {
        self.0.read().unwrap().clone()
    }
    pub(crate) fn store(&self, value: Option<std::sync::Arc<T>>) {
        *self.0.write().unwrap() = value;
    }
    pub(crate) fn swap(&self, value: Option<std::sync::Arc<T>>) -> Option<std::sync::Arc<T>> {
        std::mem::replace(&mut *self.0.write().unwrap(), value)
    }
}

/// The writers' side of the asymmetric fences (`std.rs`): a model has no
/// membarrier, so both sides are full fences, the handshake loom checks
/// (shuttle is sequentially consistent: its fences are no-ops).
#[inline]
pub(crate) fn light_fence() {
    fence(std::sync::atomic::Ordering::SeqCst);
}

/// The sleeper's side (see [`light_fence`]).
pub(crate) fn heavy_fence() {
    fence(std::sync::atomic::Ordering::SeqCst);
}
