//! The event stream: every transition of every job, as it happens, to each
//! [`Subscriber`].
//!
//! * **No subscriber, no cost** but one Relaxed load per operation
//!   (`subscribers`, read by `JobQueue::marking`).
//! * **Writing** (someone subscribes): the thread whose compare-and-swap
//!   made a transition writes its event into its own ring (`ring.rs`: plain
//!   stores, no lock, no shared cache line), then wakes sleeping
//!   subscribers. A full ring overwrites its oldest event: a slow
//!   subscriber never slows or blocks the queue, and is told exactly how
//!   many events it missed ([`RecvError::Lagged`]).
//! * **Order within one job.** A transition made while someone subscribes
//!   sets the mark bit in the job's word with its CAS, and clears it after
//!   writing its event; the next transition of the job waits for the bit
//!   (`StateWord::transition`). So a job's events are written in the order
//!   of its transitions, and each names where the job's previous event is
//!   (its ring and position: a link). A subscriber merges the rings and,
//!   before it hands out an event, hands out the one its link names if it
//!   has not yet (that event is visible: it was written before the bit
//!   was cleared, which happened before this event's CAS). Events of
//!   different jobs come in no particular order.

mod receiver;
mod ring;

pub use receiver::{RecvError, Subscriber, TryRecvError};
pub(crate) use ring::Ring;

use crate::faults::Faults;
use crate::ids::JobId;
use crate::job::word::Word;
use crate::local::Local;
use crate::spec::Priority;
use crate::sync::{AtomicBool, AtomicUsize, Mutex, Ordering};
use crate::view::JobState;
use crate::wake::CountedSignal;
use ring::{Link, RawEvent};
use std::sync::Arc;
use std::time::Duration;

/// Events each producing thread's ring holds before it overwrites its
/// oldest: how far (per thread that changes jobs) a subscriber may fall
/// behind before it misses events.
pub const EVENT_BUFFER: usize = 4096;

/// A ring's slots: [`EVENT_BUFFER`], or 8 under loom (fewer atomics for the
/// model checker to make; the models write a few events).
const RING_SLOTS: usize = if crate::sync::LOOM { 8 } else { EVENT_BUFFER };

/// One transition of one job.
///
/// ```
/// use dagqueue::*;
/// let q = JobQueue::new();
/// let mut events = q.subscribe();
/// q.submit(JobSpec::new(JobId(1))).unwrap();
/// let event = events.try_recv().unwrap();
/// assert_eq!((event.job, event.kind, event.to), (JobId(1), EventKind::Submitted, JobState::Pending));
/// assert_eq!(event.from, None);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Event {
    /// The job.
    pub job: JobId,
    /// Its attempt after the transition (0 before its first claim).
    pub attempt: u32,
    /// What happened.
    pub kind: EventKind,
    /// Its state before (`None` for [`EventKind::Submitted`]).
    pub from: Option<JobState>,
    /// Its state after.
    pub to: JobState,
    /// Its declared priority after.
    pub priority: Priority,
    /// When, on the queue's clock (since it was built; the coarse clock of
    /// the metrics: a resolution of one kernel tick, 1–4 ms).
    pub at: Duration,
}

/// What a transition was.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum EventKind {
    /// Accepted by `submit` (waiting for dependencies or a delay, or
    /// pending at once).
    Submitted,
    /// Its last dependency, delay or retry backoff is done: pending.
    Ready,
    /// A new dependency (`add_dependencies`) took a pending job back to
    /// waiting.
    Blocked,
    /// Claimed by a worker (its attempt is the new one).
    Claimed,
    /// Its worker started it.
    Started,
    /// Its attempt failed and it will run again (pending, or waiting for
    /// its backoff).
    Retried,
    /// Its attempt's lease ran out: it will run again, or it failed.
    LeaseExpired,
    /// Completed.
    Completed,
    /// Failed (by its worker, or with a dependency).
    Failed,
    /// Cancelled (by the user, or with a dependency).
    Cancelled,
    /// Claimed, and asked to stop: its worker learns at its next heartbeat,
    /// start or report.
    CancelRequested,
    /// Its declared priority changed. (Aging's promotion of a pending job
    /// to the next level is no event: its declared priority, the one
    /// events and views carry, stays; only the lane it waits in changes.)
    Reprioritized,
}

impl EventKind {
    /// The kind of the transition `old` → `new` (`by_lease`: it ended an
    /// attempt whose lease ran out).
    fn of(old: Word, new: Word, by_lease: bool) -> EventKind {
        use JobState::*;
        match (old.state(), new.state()) {
            (None, _) => EventKind::Submitted,
            (Some(Scheduled | Running), Some(_)) if by_lease => EventKind::LeaseExpired,
            (Some(Waiting), Some(Pending)) => EventKind::Ready,
            (Some(Pending), Some(Waiting)) => EventKind::Blocked,
            (Some(Pending), Some(Scheduled)) => EventKind::Claimed,
            (Some(Scheduled), Some(Running)) => EventKind::Started,
            (Some(Scheduled | Running), Some(Waiting | Pending)) => EventKind::Retried,
            (_, Some(Completed)) => EventKind::Completed,
            (_, Some(Failed)) => EventKind::Failed,
            (_, Some(Cancelled)) => EventKind::Cancelled,
            _ if new.cancel_requested() && !old.cancel_requested() => EventKind::CancelRequested,
            _ => EventKind::Reprioritized,
        }
    }
}

/// The low bits of a state word an event needs: state, cancel request,
/// priority, level and attempt (`job/word.rs`'s layout).
const WORD_BITS: u32 = crate::job::word::LOW_FIELDS_BITS;

/// Packs what an event says besides its job, time and link: the low bits
/// of the old and new words, and whether the lease ran out. The writer
/// only masks and shifts; the subscriber works out the kind (`unpack`).
#[inline]
fn pack(old: Word, new: Word, by_lease: bool) -> u64 {
    let low = (1u64 << WORD_BITS) - 1;
    (old.0 & low) | (new.0 & low) << WORD_BITS | u64::from(by_lease) << (2 * WORD_BITS)
}

fn unpack(raw: &RawEvent) -> Event {
    let low = (1u64 << WORD_BITS) - 1;
    let old = Word(raw.info & low);
    let new = Word((raw.info >> WORD_BITS) & low);
    let by_lease = (raw.info >> (2 * WORD_BITS)) & 1 == 1;
    Event {
        job: JobId(raw.job),
        attempt: new.attempt(),
        kind: EventKind::of(old, new, by_lease),
        from: old.state(),
        to: new.state().unwrap_or(JobState::Waiting),
        priority: new.priority(),
        at: Duration::from_micros(raw.at),
    }
}

/// A queue's event rings and its subscribers' wake-up list.
pub(crate) struct Hub {
    /// Live subscribers: while 0, nothing is marked or written.
    subscribers: AtomicUsize,
    /// Every ring, by index; ring 0 is shared (below).
    rings: Mutex<Vec<Arc<Ring>>>,
    /// Held while writing ring 0: the ring of a thread whose thread-locals
    /// are gone (its exit).
    shared: Mutex<()>,
    /// Subscribers asleep (or about to sleep) in `recv`, counted: writers
    /// wake them only while there are some.
    wake: CountedSignal,
    /// Set when the queue is dropped: no event will come.
    closed: AtomicBool,
    /// Loom negative controls only (zero-sized otherwise).
    faults: Faults,
}

impl Hub {
    /// A hub with no subscriber that applies `faults` (loom negative
    /// controls).
    pub(crate) fn new(faults: Faults) -> Hub {
        Hub {
            faults,
            subscribers: AtomicUsize::new(0),
            rings: Mutex::new(vec![Arc::new(Ring::new(0, RING_SLOTS))]),
            shared: Mutex::new(()),
            wake: CountedSignal::new(),
            closed: AtomicBool::new(false),
        }
    }

    /// Whether anyone subscribes. Relaxed: a subscriber that subscribed
    /// before an operation began (happens-before) is seen by coherence; one
    /// subscribing meanwhile may miss that operation's events.
    #[inline]
    pub(crate) fn active(&self) -> bool {
        self.subscribers.load(Ordering::Relaxed) != 0
    }

    /// Writes the event of the marked transition `old` → `new` of job `job`
    /// whose previous event is at `previous`, into the ring of `local` (this
    /// thread's; `None`: the shared ring, under its lock); returns this
    /// one's link.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn write(
        &self,
        local: Option<&Local>,
        job: JobId,
        old: Word,
        new: Word,
        by_lease: bool,
        at: u64,
        previous: u32,
    ) -> u32 {
        let event = RawEvent {
            job: job.0,
            at,
            info: pack(old, new, by_lease),
            previous: u64::from(previous),
        };
        let link = match local {
            Some(local) => {
                let ring = local.ring.get_or_init(|| self.new_ring());
                Link::pack(ring.index, ring.push(&event))
            }
            None => {
                let _only_writer = self.shared.lock();
                let shared = Arc::clone(&self.rings.lock()[0]);
                Link::pack(0, shared.push(&event))
            }
        };
        // Wakes subscribers asleep in `recv`: a compiler fence and one load
        // while none sleeps (the handshake: `wake::CountedSignal`).
        if !self.faults.silent_event() {
            self.wake.notify_if_sleeping();
        }
        link
    }

    /// A ring for a thread's `Local` (kept with it: a thread that adopts
    /// the `Local` of one that exited goes on writing its ring).
    #[cold]
    fn new_ring(&self) -> Arc<Ring> {
        let mut rings = self.rings.lock();
        let ring = Arc::new(Ring::new(rings.len(), RING_SLOTS));
        rings.push(Arc::clone(&ring));
        ring
    }

    /// The queue is gone: subscribers get what is left, then `Closed`.
    /// (`close` notifies unconditionally: its caller is not hot.)
    pub(crate) fn close(&self) {
        self.closed.store(true, Ordering::Release);
        self.wake.notify_all();
    }
}

#[cfg(all(test, not(any(dagqueue_loom, dagqueue_shuttle))))]
mod tests {
    use super::*;

    #[test]
    fn what_an_event_says_survives_its_packing() {
        let reserved = Word::reserved(Priority::Low, 1);
        let waiting = Word(reserved.0 & !0b111);
        let pending = Word(waiting.0 | JobState::Pending as u64);
        for (old, new, by_lease, kind) in [
            (reserved, waiting, false, EventKind::Submitted),
            (waiting, pending, false, EventKind::Ready),
            (pending, waiting, false, EventKind::Blocked),
        ] {
            let raw = RawEvent {
                job: 7,
                at: 1_500,
                info: pack(old, new, by_lease),
                previous: 0,
            };
            let event = unpack(&raw);
            assert_eq!((event.job, event.kind), (JobId(7), kind));
            assert_eq!((event.from, Some(event.to)), (old.state(), new.state()));
            assert_eq!(event.priority, Priority::Low);
            assert_eq!(event.at, Duration::from_micros(1_500));
        }
    }
}
