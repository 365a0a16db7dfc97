//! A subscriber: its cursor in every ring, and the merge that hands out a
//! job's events in the order of its transitions.

use super::ring::{Link, Read, Ring};
use super::{unpack, Event, Hub};
use crate::sync::EventListener;
use crate::sync::Ordering;
use crate::wake::Sleeping;
use std::collections::VecDeque;
use std::sync::Arc;

/// Why [`Subscriber::recv`] returned no event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RecvError {
    /// This many events were overwritten before this subscriber read them
    /// (it fell more than [`EVENT_BUFFER`](crate::EVENT_BUFFER) events
    /// behind a thread that writes them). The stream goes on after them.
    Lagged(u64),
    /// The queue was dropped and every event was received.
    Closed,
}

/// Why [`Subscriber::try_recv`] returned no event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TryRecvError {
    /// No event now.
    Empty,
    /// As [`RecvError::Lagged`].
    Lagged(u64),
    /// As [`RecvError::Closed`].
    Closed,
}

impl std::fmt::Display for RecvError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RecvError::Lagged(missed) => write!(f, "missed {missed} events"),
            RecvError::Closed => write!(f, "the queue is gone"),
        }
    }
}

impl std::error::Error for RecvError {}

/// What the merge hands out next.
enum Item {
    Event(Event),
    Lagged(u64),
}

/// A subscriber about to sleep: registered on the hub's list, and counted
/// in its sleepers until dropped.
type Asleep<'h> = (EventListener<'h>, Sleeping<'h>);

/// Events the merge takes per call before handing one out.
const BATCH: usize = 256;

/// How long a caught-up blocking receiver pauses before it looks again
/// (and only then sleeps until woken): the added latency of an event that
/// arrives in a busy stream.
const CATCH_UP_PAUSE: std::time::Duration = std::time::Duration::from_micros(100);

/// A receiver of a queue's transition events, from
/// [`JobQueue::subscribe`](crate::JobQueue::subscribe): every transition
/// made after it subscribed, each job's in the order they happened.
/// Blocking ([`recv`](Subscriber::recv)), polling
/// ([`try_recv`](Subscriber::try_recv)) or async
/// ([`recv_async`](Subscriber::recv_async)); it does not borrow the queue.
/// Dropping it unsubscribes.
///
/// ```
/// use dagqueue::*;
/// let q = JobQueue::new();
/// let mut events = q.subscribe();
/// q.submit(JobSpec::new(JobId(1))).unwrap();
/// let claim = q.claim(RunnerType::DEFAULT).unwrap();
/// q.complete(claim, Outcome::Success).unwrap();
/// let kinds: Vec<EventKind> = std::iter::from_fn(|| events.try_recv().ok()).map(|e| e.kind).collect();
/// assert_eq!(kinds, [EventKind::Submitted, EventKind::Claimed, EventKind::Completed]);
/// assert_eq!(events.try_recv(), Err(TryRecvError::Empty));
/// ```
pub struct Subscriber {
    hub: Arc<Hub>,
    rings: Vec<Arc<Ring>>,
    /// Per ring: the next position to hand out.
    cursors: Vec<u64>,
    ready: VecDeque<Item>,
    /// The ring to look at first next time (round robin).
    next_ring: usize,
}

impl Subscriber {
    pub(crate) fn new(hub: Arc<Hub>) -> Subscriber {
        // SeqCst with `rings.lock()` after: any ring position written from
        // now on is at or past the cursors taken below.
        hub.subscribers.fetch_add(1, Ordering::SeqCst);
        let rings = hub.rings.lock().clone();
        let cursors = rings.iter().map(|ring| ring.head()).collect();
        Subscriber {
            hub,
            rings,
            cursors,
            ready: VecDeque::new(),
            next_ring: 0,
        }
    }

    /// The next event if there is one now.
    ///
    /// # Errors
    /// `Empty`, `Lagged(n)` (then the events after them), `Closed`.
    pub fn try_recv(&mut self) -> Result<Event, TryRecvError> {
        loop {
            match self.ready.pop_front() {
                Some(Item::Event(event)) => return Ok(event),
                Some(Item::Lagged(missed)) => return Err(TryRecvError::Lagged(missed)),
                None => {}
            }
            // Acquire: pairs with `Hub::close`; every event was written
            // before the queue was dropped.
            let closed = self.hub.closed.load(Ordering::Acquire);
            if !self.collect() {
                return Err(if closed {
                    TryRecvError::Closed
                } else {
                    TryRecvError::Empty
                });
            }
        }
    }

    /// The next event, waiting for it.
    ///
    /// # Errors
    /// `Lagged(n)` (then the events after them), `Closed`.
    pub fn recv(&mut self) -> Result<Event, RecvError> {
        let hub = Arc::clone(&self.hub);
        loop {
            // What is collected already, or ready in the rings: no pause.
            if let Some(result) = self.ready_or_closed() {
                return result;
            }
            // Caught up. A busy stream has more within microseconds: pause
            // briefly (not registered, so no writer wakes this thread) and
            // take what came meanwhile as one batch, instead of chasing the
            // writers event by event (each read of a line a writer is
            // still filling moves it between cores, and each wake-up is a
            // system call on the writer's side). Sleep for real only when
            // the pause brought nothing.
            std::thread::sleep(CATCH_UP_PAUSE);
            if let Some(result) = self.ready_or_closed() {
                return result;
            }
            match self.register(&hub) {
                Ok(result) => return result,
                Err((listener, _sleeping)) => {
                    listener.wait_until(None);
                }
            }
        }
    }

    /// The next event, as a future (any executor; dropping it loses
    /// nothing).
    ///
    /// # Errors
    /// As [`recv`](Subscriber::recv).
    ///
    /// ```
    /// use dagqueue::*;
    /// let q = JobQueue::new();
    /// let mut events = q.subscribe();
    /// q.submit(JobSpec::new(JobId(1))).unwrap();
    /// let event = futures_lite_block_on(events.recv_async()).unwrap();
    /// assert_eq!(event.kind, EventKind::Submitted);
    /// # fn futures_lite_block_on<F: std::future::Future>(f: F) -> F::Output {
    /// #     let waker = std::task::Waker::noop();
    /// #     let mut cx = std::task::Context::from_waker(&waker);
    /// #     let mut f = std::pin::pin!(f);
    /// #     loop { if let std::task::Poll::Ready(v) = f.as_mut().poll(&mut cx) { return v; } }
    /// # }
    /// ```
    pub async fn recv_async(&mut self) -> Result<Event, RecvError> {
        let hub = Arc::clone(&self.hub);
        loop {
            if let Some(result) = self.ready_or_closed() {
                return result;
            }
            match self.register(&hub) {
                Ok(result) => return result,
                // Both dropped with the future, too.
                Err((listener, _sleeping)) => listener.await,
            }
        }
    }

    /// Registers on `hub`'s list and counts itself asleep, then looks
    /// again: an event written after that look wakes the listener it
    /// returns (see `wake::CountedSignal`); or what that look found.
    fn register<'h>(&mut self, hub: &'h Hub) -> Result<Result<Event, RecvError>, Asleep<'h>> {
        let listener = hub.wake.listen();
        let sleeping = hub.wake.sleeping();
        match self.ready_or_closed() {
            Some(result) => Ok(result),
            None => Err((listener, sleeping)),
        }
    }

    fn ready_or_closed(&mut self) -> Option<Result<Event, RecvError>> {
        match self.try_recv() {
            Ok(event) => Some(Ok(event)),
            Err(TryRecvError::Lagged(missed)) => Some(Err(RecvError::Lagged(missed))),
            Err(TryRecvError::Closed) => Some(Err(RecvError::Closed)),
            Err(TryRecvError::Empty) => None,
        }
    }

    /// Takes up to `BATCH` events from the rings into `ready`; whether it
    /// took any (or noted a lag).
    fn collect(&mut self) -> bool {
        self.refresh_rings();
        let count = self.rings.len();
        let mut taken = 0;
        for offset in 0..count {
            let ring = (self.next_ring + offset) % count;
            while taken < BATCH && self.cursors[ring] < self.rings[ring].head() {
                let before = (self.cursors[ring], self.ready.len());
                taken += self.take_from(ring);
                if (self.cursors[ring], self.ready.len()) == before {
                    break; // cannot happen (see `take_from`); never spin on it
                }
            }
            if taken >= BATCH {
                self.next_ring = (ring + 1) % count;
                break;
            }
        }
        !self.ready.is_empty()
    }

    /// Rings registered since this subscriber last looked (new threads).
    fn refresh_rings(&mut self) {
        let rings = self.hub.rings.lock();
        for ring in &rings[self.rings.len()..] {
            // A ring made after this subscriber subscribed: all of it is new.
            self.rings.push(Arc::clone(ring));
            self.cursors.push(0);
        }
    }

    /// Hands out the event at `ring`'s cursor, first the not yet handed out
    /// events its link chain needs. Returns how many it handed out.
    fn take_from(&mut self, ring: usize) -> usize {
        let mut handed = 0;
        let mut stack = vec![ring];
        while let Some(&top) = stack.last() {
            let position = self.cursors[top];
            match self.rings[top].read(position) {
                Read::Ahead => {
                    // Only the first ring's head said there was one; a
                    // linked event is always written (see `mod.rs`).
                    stack.pop();
                }
                Read::Overwritten => {
                    let oldest = self.rings[top].oldest().max(position + 1);
                    self.cursors[top] = oldest;
                    self.note_lag(oldest - position);
                }
                Read::Event(raw) => {
                    if let Some((previous_ring, low)) = Link::unpack(raw.previous as u32) {
                        if previous_ring >= self.rings.len() {
                            self.refresh_rings();
                        }
                        // The linked event was written before this one
                        // (see `mod.rs`), so a fresh head covers it.
                        let previous = self
                            .rings
                            .get(previous_ring)
                            .and_then(|ring| Link::resolve(low, ring.head()));
                        let pending = previous.is_some_and(|previous| {
                            previous >= self.cursors[previous_ring]
                                && !stack.contains(&previous_ring)
                        });
                        if pending {
                            stack.push(previous_ring);
                            continue;
                        }
                    }
                    self.cursors[top] = position + 1;
                    self.ready.push_back(Item::Event(unpack(&raw)));
                    handed += 1;
                    stack.pop();
                }
            }
        }
        handed
    }

    fn note_lag(&mut self, missed: u64) {
        if let Some(Item::Lagged(total)) = self.ready.back_mut() {
            *total += missed;
        } else {
            self.ready.push_back(Item::Lagged(missed));
        }
    }
}

impl Drop for Subscriber {
    fn drop(&mut self) {
        // A model checker's failed run unwinds through this drop and must
        // not see its atomics touched again (loom model 40's negative
        // control); elsewhere the count stays exact, even while unwinding.
        #[cfg(any(dagqueue_loom, dagqueue_shuttle))]
        if std::thread::panicking() {
            return;
        }
        self.hub.subscribers.fetch_sub(1, Ordering::Relaxed);
    }
}

impl std::fmt::Debug for Subscriber {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Subscriber")
            .field("rings", &self.rings.len())
            .field("ready", &self.ready.len())
            .finish_non_exhaustive()
    }
}
