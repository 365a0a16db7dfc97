//! Waking workers asleep in `claim_wait` (and callers of `wait_idle`),
//! without busy polling and without lost wake-ups.
//!
//! One signal per runner type: a job that becomes claimable wakes a waiter
//! of its own runner type, never the waiters of others, who could not claim
//! it and would leave it behind asleep. What may let several claim, or
//! changes what every waiter should look at (a capacity raised, a cluster
//! resumed, the queue closed), wakes them all.
//!
//! A job entering its lane wakes a waiter only if no waiter already woken
//! is still on its way to look (`notify_unless_pending`): that one will see
//! this job too. A woken waiter that claims passes the wake-up on if its
//! runner's lanes still hold entries (`JobQueue::pass_on_wake`), so every
//! job of a burst still reaches a waiter, one wake-up after another,
//! instead of every job waking a thread from the thread that made it
//! ready (which, on a machine whose cores are all busy, preempted that
//! thread once per job: BENCHMARKS.md, issue 12 item 4). A freed cluster
//! slot still wakes one more waiter each time (`notify_one`).
//!
//! The protocol (event-listener's): a waiter registers (`listen`), checks
//! again, and only then sleeps; a notifier first makes its job visible
//! (lane push, slot release), then notifies, which begins with a full
//! fence. By the fences' order, either the notifier sees the registered
//! waiter (and wakes it), or the waiter's second check sees the job. A
//! waiter woken for a job that another claimer took first checks, fails,
//! and registers again; a notified waiter that times out or is dropped
//! hands its notification on. For a claimable job, nobody waiting (or a
//! woken waiter not yet looking) costs the notifier the fence and one
//! load.

use crate::sync::{fence, AtomicUsize, Event, EventListener, Ordering};
use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll};
use std::time::{Duration, Instant};

use crate::sync::wait_any_until;

/// The waiters of one runner type (or of `wait_idle`).
pub(crate) struct WakeSignal {
    event: Event,
}

impl WakeSignal {
    pub(crate) fn new() -> WakeSignal {
        WakeSignal {
            event: Event::new(),
        }
    }

    /// One more thing can be claimed: wake one more waiter, if any.
    #[inline]
    pub(crate) fn notify_one(&self) {
        self.event.notify_one();
    }

    /// One more job can be claimed: wake a waiter unless one already woken
    /// has not yet looked (it will see this job too). The waiter that
    /// claims after a wake-up passes it on while its runner's lanes hold
    /// entries (`JobQueue::pass_on_wake`), so a burst of
    /// jobs wakes waiters one after another instead of all at once from
    /// the thread that made them ready.
    #[inline]
    pub(crate) fn notify_unless_pending(&self) {
        self.event.notify_unless_pending();
    }

    /// Wake every waiter: each checks again.
    #[inline]
    pub(crate) fn notify_all(&self) {
        self.event.notify_all();
    }

    /// Registers a waiter (which then checks, then waits or awaits).
    #[inline]
    pub(crate) fn listen(&self) -> EventListener<'_> {
        self.event.listen()
    }

    /// Calls `attempt` until it returns `Some` or `timeout` passes, sleeping
    /// between attempts until notified.
    pub(crate) fn wait_for<R>(
        &self,
        timeout: Duration,
        mut attempt: impl FnMut() -> Option<R>,
    ) -> Option<R> {
        if let Some(found) = attempt() {
            return Some(found);
        }
        wait_any(&[self], timeout, attempt)
    }
}

/// A signal whose sleepers are counted, so that a frequent event wakes
/// them only when there are some: a compiler fence and one load when
/// nobody sleeps. Two users: the callers of `wait_idle`, woken by the end
/// of every job (an unconditional `notify_all` took event-listener's list
/// lock on every job's end, ~8% of a claim-start-complete cycle:
/// BENCHMARKS.md, issue 12 item 7), and the event stream's subscribers
/// asleep in `recv`, woken by every event written.
///
/// The handshake is Dekker's: the notifier publishes (the job's end
/// counted, the event written) and then loads `sleepers`; a sleeper
/// increments `sleepers` ([`sleeping`](CountedSignal::sleeping)) and then
/// looks again. The fences between (light on the notifying side, heavy on
/// the sleeping side: `sync::light_fence`) make at least one of them see
/// the other's write, so a sleeper either sees what was published or is
/// woken. Loom model 15 checks it through `wait_idle` (in a model both
/// fences are full ones; without the notifying side's fence it finds the
/// lost wake-up).
pub(crate) struct CountedSignal {
    sleepers: AtomicUsize,
    signal: WakeSignal,
}

impl CountedSignal {
    pub(crate) fn new() -> CountedSignal {
        CountedSignal {
            sleepers: AtomicUsize::new(0),
            signal: WakeSignal::new(),
        }
    }

    /// Something was published: wake every sleeper, if any.
    #[inline]
    pub(crate) fn notify_if_sleeping(&self) {
        crate::sync::light_fence();
        // Relaxed: ordered by the fences (see above).
        if self.sleepers.load(Ordering::Relaxed) != 0 {
            self.signal.notify_all();
        }
    }

    /// Wakes every listener, counted or not (a rare caller: `close`).
    pub(crate) fn notify_all(&self) {
        self.signal.notify_all();
    }

    /// Registers a listener (which then counts itself asleep, looks again,
    /// and only then waits or awaits).
    #[inline]
    pub(crate) fn listen(&self) -> EventListener<'_> {
        self.signal.listen()
    }

    /// Counts the caller as asleep until the guard drops; the caller looks
    /// again after this, before it sleeps.
    pub(crate) fn sleeping(&self) -> Sleeping<'_> {
        self.sleepers.fetch_add(1, Ordering::Relaxed);
        // Pairs with the notifiers' light fences (see above).
        crate::sync::heavy_fence();
        Sleeping(&self.sleepers)
    }

    /// [`WakeSignal::wait_for`], counted asleep from before its first
    /// check after the fence to its return (the look before it is free:
    /// no fence when it already finds what it waits for).
    pub(crate) fn wait_for<R>(
        &self,
        timeout: Duration,
        mut attempt: impl FnMut() -> Option<R>,
    ) -> Option<R> {
        if let Some(found) = attempt() {
            return Some(found);
        }
        let _sleeping = self.sleeping();
        self.signal.wait_for(timeout, attempt)
    }
}

/// A sleeper counted by a [`CountedSignal`] until dropped.
pub(crate) struct Sleeping<'a>(&'a AtomicUsize);

impl Drop for Sleeping<'_> {
    fn drop(&mut self) {
        // Not while unwinding (a model checker's panic, which must not
        // touch its atomics again): a count left too high only costs
        // needless wake-ups.
        if !std::thread::panicking() {
            self.0.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

/// The one sleeping loop, for one signal or several (a worker of several
/// runner types): register on every signal, fence, `attempt`, sleep until
/// one notifies or `timeout` passes (then one last `attempt`). The caller
/// has tried once already.
pub(crate) fn wait_any<R>(
    signals: &[&WakeSignal],
    timeout: Duration,
    mut attempt: impl FnMut() -> Option<R>,
) -> Option<R> {
    // `None`: too far to represent; waited without a deadline.
    let deadline = Instant::now().checked_add(timeout);
    loop {
        let listeners: Vec<_> = signals.iter().map(|signal| signal.listen()).collect();
        // SeqCst: the waiter's half of the Dekker pair with a notifier that
        // published something, then fenced, then looked for waiters
        // (event-listener's registration orders itself; the fence also
        // covers flags read by `attempt`, like `closed`).
        fence(Ordering::SeqCst);
        if let Some(found) = attempt() {
            return Some(found);
        }
        if !wait_any_until(listeners, deadline) {
            return attempt(); // timed out: one last look
        }
    }
}

/// A future ready when any of its listeners is notified (a wait on several
/// runner types). The others are dropped with it: a notification one of
/// them received meanwhile goes on to another waiter.
pub(crate) struct AnyOf<L> {
    listeners: Vec<L>,
}

impl<L> AnyOf<L> {
    pub(crate) fn new(listeners: Vec<L>) -> AnyOf<L> {
        AnyOf { listeners }
    }
}

impl<L: Future<Output = ()> + Unpin> Future for AnyOf<L> {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        for listener in self.listeners.iter_mut() {
            if Pin::new(listener).poll(cx).is_ready() {
                return Poll::Ready(());
            }
        }
        Poll::Pending
    }
}
