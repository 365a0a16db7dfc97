//! The primitives of a normal build: std atomics, `parking_lot` locks,
//! `dashmap`, crossbeam's `SegQueue` and arc-swap. `model.rs` has the same
//! items, built on loom or shuttle.

use core::future::Future;
pub(crate) use std::sync::atomic::{
    fence, AtomicBool, AtomicPtr, AtomicU32, AtomicU64, AtomicUsize,
};

/// Thread-local storage (std's).
pub(crate) use std::thread_local;

/// Whether this is a model build, loom or shuttle (it is not).
pub(crate) const LOOM: bool = false;

/// A lock used only off the claim/complete hot path.
pub(crate) type Mutex<T> = parking_lot::Mutex<T>;

/// A list of waiters that can be woken one or all at a time: smol-rs's
/// event-listener (blocking and async waits on one list).
pub(crate) struct Event(event_listener::Event);

/// One waiter registered on an [`Event`]; dropping it unregisters it (and
/// hands a notification it received but did not consume on to another).
pub(crate) struct EventListener<'a>(
    event_listener::EventListener,
    core::marker::PhantomData<&'a Event>,
);

impl Event {
    pub(crate) fn new() -> Event {
        Event(event_listener::Event::new())
    }

    /// Registers a waiter. The caller checks its condition again after
    /// this and before it waits: a notification from then on reaches it.
    #[inline]
    pub(crate) fn listen(&self) -> EventListener<'_> {
        EventListener(self.0.listen(), core::marker::PhantomData)
    }

    /// Wakes one waiter more than those already woken (if there is one).
    /// A full fence first (event-listener's), then event-listener 5.4 takes
    /// its list's lock, even when nobody waits: for the rarer wake-ups (a
    /// freed slot); a claimable job uses `notify_unless_pending`.
    #[inline]
    pub(crate) fn notify_one(&self) {
        use event_listener::IntoNotification;
        self.0.notify(1.additional());
    }

    /// Wakes one waiter unless one already woken has not yet taken its
    /// notification (event-listener's non-additional `notify(1)`), with a
    /// lock-free fast path: a full fence, then one load.
    ///
    /// The fast path reads event-listener's count of notified listeners
    /// (`is_notified`: true when some listener holds a notification not
    /// yet taken, or when there is no listener to notify, in which cases
    /// `notify(1)` does nothing); only when it is false (listeners, none
    /// notified) does it take the list's lock. SeqCst fence: the
    /// notifier's half of the Dekker pair with a waiter that registered
    /// (event-listener updates that count under the list's lock, then the
    /// waiter fences) and then looks for a job: either this load sees the
    /// waiter unnotified and notifies it, or the waiter's look sees the
    /// job. A stale "notified" (that waiter is being removed as it wakes)
    /// is the same case: the woken waiter registers again, fences and
    /// looks after its removal, so it sees the job.
    #[inline]
    pub(crate) fn notify_unless_pending(&self) {
        fence(std::sync::atomic::Ordering::SeqCst);
        if !self.0.is_notified() {
            self.0.notify(1);
        }
    }

    /// Wakes every waiter.
    #[inline]
    pub(crate) fn notify_all(&self) {
        self.0.notify(usize::MAX);
    }
}

impl core::future::Future for EventListener<'_> {
    type Output = ();

    fn poll(
        mut self: core::pin::Pin<&mut Self>,
        cx: &mut core::task::Context<'_>,
    ) -> core::task::Poll<()> {
        core::pin::Pin::new(&mut self.0).poll(cx)
    }
}

/// Blocks until one of `listeners` is notified or `deadline` passes
/// (`None`: none); whether one was notified. Several are polled as futures
/// with a waker that unparks this thread.
pub(crate) fn wait_any_until(
    mut listeners: Vec<EventListener<'_>>,
    deadline: Option<std::time::Instant>,
) -> bool {
    if listeners.len() == 1 {
        if let Some(listener) = listeners.pop() {
            return listener.wait_until(deadline);
        }
    }
    struct Unpark(std::thread::Thread);
    impl std::task::Wake for Unpark {
        fn wake(self: std::sync::Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = std::task::Waker::from(std::sync::Arc::new(Unpark(std::thread::current())));
    let mut cx = core::task::Context::from_waker(&waker);
    let mut any = core::pin::pin!(crate::wake::AnyOf::new(listeners));
    loop {
        if any.as_mut().poll(&mut cx).is_ready() {
            return true;
        }
        match deadline {
            Some(deadline) => {
                let now = std::time::Instant::now();
                if now >= deadline {
                    return false;
                }
                std::thread::park_timeout(deadline - now);
            }
            None => std::thread::park(),
        }
    }
}

impl EventListener<'_> {
    /// Blocks until notified or `deadline` (`None`: none); whether it was
    /// notified.
    pub(crate) fn wait_until(self, deadline: Option<std::time::Instant>) -> bool {
        use event_listener::Listener;
        match deadline {
            Some(deadline) => self.0.wait_deadline(deadline).is_some(),
            None => {
                self.0.wait();
                true
            }
        }
    }
}

/// Backs off inside a retry loop that waits for another thread's short step.
#[inline]
pub(crate) fn spin_wait() {
    std::thread::yield_now();
}

/// A sharded concurrent map: dashmap.
pub(crate) type ConcurrentMap<K, V> = ShardedMap<K, V>;

/// An unbounded lock-free FIFO: crossbeam's `SegQueue`.
pub(crate) type Fifo<T> = crossbeam_queue::SegQueue<T>;

/// The ready lanes' FIFO of `(Arc<R>, tag)` entries, whose popper sees the
/// records behind its entry: the crate's own (`record_fifo.rs`).
pub(crate) type RecordQueue<R> = crate::record_fifo::RecordFifo<R>;

/// A read-mostly snapshot cell that may be empty: arc-swap's
/// `ArcSwapOption`. Empty costs no allocation.
pub(crate) type Snapshot<T> = arc_swap::ArcSwapOption<T>;

// dashmap, behind the few methods the crate uses (the same ones the loom
// stand-in offers). Values are cheap to clone (`Arc`s), and no method hands
// out a guard, so no caller can hold a shard lock by mistake.

use crate::ids::IdHasher;
use dashmap::mapref::entry::Entry;
use dashmap::DashMap;
use std::hash::{BuildHasherDefault, Hash};

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
    /// Inserts `value`, or replaces the value there if `replaces` says so.
    pub(crate) fn insert_or_replace_if(&self, key: K, value: V, replaces: impl FnOnce(&V) -> bool) {
        match self.0.entry(key) {
            Entry::Occupied(mut slot) => {
                if replaces(slot.get()) {
                    slot.insert(value);
                }
            }
            Entry::Vacant(slot) => {
                slot.insert(value);
            }
        }
    }
    #[inline]
    pub(crate) fn contains_key(&self, key: &K) -> bool {
        self.0.contains_key(key)
    }
    pub(crate) fn remove(&self, key: &K) {
        self.0.remove(key);
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

/// Asymmetric fences: a cheap one for the frequent side of a Dekker-style
/// handshake and an expensive one for the rare side, which together order
/// like two full fences. The event stream's writers (every transition while
/// someone subscribes) take the light one; a subscriber about to sleep
/// takes the heavy one. On Linux the heavy one is `membarrier(2)`'s
/// private expedited command, which runs a full memory barrier on every
/// CPU running a thread of this process, so the light one is only a
/// compiler fence: any write a writer made before its light fence is
/// visible after the heavy fence, or the writer's later load sees what
/// the sleeper stored before it (folly's asymmetric barriers; Linux's
/// `sys_membarrier` documentation). Where membarrier is missing, refused,
/// or unknown to the tool running the tests (Miri), both are full fences.
mod asymmetric {
    use std::sync::atomic::{compiler_fence, fence, AtomicU8, Ordering};

    const UNKNOWN: u8 = 0;
    const AVAILABLE: u8 = 1;
    const MISSING: u8 = 2;

    /// Whether membarrier was registered for this process. Relaxed loads:
    /// a writer that reads `AVAILABLE` runs after the registration (the
    /// store below happens after the syscall returns), and one that reads
    /// anything else takes a full fence, which is always enough.
    static STATE: AtomicU8 = AtomicU8::new(UNKNOWN);

    #[cfg(all(target_os = "linux", not(miri)))]
    fn membarrier(command: libc::c_int) -> bool {
        // SAFETY: membarrier takes two integers (command, flags; a third,
        // cpu_id, only for commands with MEMBARRIER_CMD_FLAG_CPU) and
        // touches no memory of ours; an unknown command returns -1/EINVAL.
        unsafe {
            libc::syscall(
                libc::SYS_membarrier,
                command,
                0 as libc::c_int,
                0 as libc::c_int,
            ) == 0
        }
    }

    /// Registers this process for expedited membarrier once; whether the
    /// heavy fence is a membarrier.
    fn available() -> bool {
        match STATE.load(Ordering::Acquire) {
            AVAILABLE => return true,
            MISSING => return false,
            _ => {}
        }
        #[cfg(all(target_os = "linux", not(miri)))]
        {
            // MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED (16), then a first
            // MEMBARRIER_CMD_PRIVATE_EXPEDITED (8) to check it works.
            if membarrier(16) && membarrier(8) {
                STATE.store(AVAILABLE, Ordering::Release);
                return true;
            }
        }
        STATE.store(MISSING, Ordering::Release);
        false
    }

    /// The writers' side.
    #[inline]
    pub(crate) fn light_fence() {
        if STATE.load(Ordering::Relaxed) == AVAILABLE {
            compiler_fence(Ordering::SeqCst);
        } else {
            fence(Ordering::SeqCst);
        }
    }

    /// The sleeper's side.
    pub(crate) fn heavy_fence() {
        #[cfg(all(target_os = "linux", not(miri)))]
        if available() && membarrier(8) {
            return;
        }
        let _ = available();
        fence(Ordering::SeqCst);
    }
}

pub(crate) use asymmetric::{heavy_fence, light_fence};
