//! Counted status: how many jobs each lane group holds in each state, kept
//! as the transitions happen, so `status()` reads O(groups × threads)
//! counters instead of every job.
//!
//! Each (thread, queue) has its own rows (a [`Tally`]), written only by its
//! thread with a plain load and store per counter: no read-modify-write, no
//! cache line shared with another writer (the lease slots' shape).
//! `status()` sums every thread's rows. A job counted into a state by one
//! thread and out of it by another is fine: only the sums mean anything.
//!
//! The sums are exact once no transition is in flight. While some are, a
//! sum is some recent value, possibly mid-transition (a job counted out of
//! its old state and not yet into its new one, or the other way round), and
//! a sum read below zero is shown as zero.
//!
//! A thread's rows outlive it (its counts are part of the sums); a thread
//! that registers later adopts the rows of one that exited, so a queue keeps
//! as many tallies as it had threads alive at once.

use crate::job::word::Word;
use crate::spec::Priority;
use crate::sync::{AtomicU64, Mutex, OnceLock, Ordering};
use crate::view::JobState;
use std::collections::HashMap;
use std::sync::Arc;

/// The states a word can be in, as indices (`JobState as usize`).
const STATES: usize = 7;
/// Rows per chunk; a tally allocates chunks as groups appear.
const CHUNK: usize = 32;
/// Chunks per tally: groups beyond `CHUNK * CHUNKS` count in the shared
/// tally.
const CHUNKS: usize = 64;

/// One lane group's counts, as one thread saw its transitions: jobs by
/// state, and queued (waiting or pending) jobs by declared priority. Each
/// counter is a wrapping sum of +1s and −1s (read as `i64`).
pub(crate) struct Row {
    states: [AtomicU64; STATES],
    queued: [AtomicU64; Priority::LEVELS],
}

impl Row {
    fn new() -> Row {
        Row {
            states: core::array::from_fn(|_| AtomicU64::new(0)),
            queued: core::array::from_fn(|_| AtomicU64::new(0)),
        }
    }
}

/// Sums of rows: one group's totals.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Totals {
    pub(crate) states: [i64; STATES],
    pub(crate) queued: [i64; Priority::LEVELS],
}

impl Totals {
    fn add(&mut self, row: &Row) {
        // Relaxed: counters order nothing (see the module comment).
        for (sum, cell) in self.states.iter_mut().zip(&row.states) {
            *sum = sum.wrapping_add(cell.load(Ordering::Relaxed) as i64);
        }
        for (sum, cell) in self.queued.iter_mut().zip(&row.queued) {
            *sum = sum.wrapping_add(cell.load(Ordering::Relaxed) as i64);
        }
    }

    /// Jobs in `state` (never below zero).
    pub(crate) fn state(&self, state: JobState) -> usize {
        self.states[state as usize].max(0) as usize
    }

    /// Queued jobs of declared priority `level` (never below zero).
    pub(crate) fn queued(&self, level: usize) -> usize {
        self.queued[level].max(0) as usize
    }
}

/// One thread's rows for one queue, by lane group index.
pub(crate) struct Tally {
    chunks: [OnceLock<Box<[Row]>>; CHUNKS],
    /// Written by several threads (the shared tally): read-modify-writes.
    shared: bool,
}

impl Tally {
    fn new(shared: bool) -> Tally {
        let tally = Tally {
            chunks: core::array::from_fn(|_| OnceLock::new()),
            shared,
        };
        // The first chunk now: most queues have few groups, and under loom
        // its atomics are then made before any model thread reads them.
        let _ = tally.chunks[0].set(Self::chunk());
        tally
    }

    fn chunk() -> Box<[Row]> {
        (0..CHUNK).map(|_| Row::new()).collect()
    }

    /// The row of group `group`, made if needed; `None` beyond capacity.
    #[inline]
    fn row(&self, group: usize) -> Option<&Row> {
        let chunk = self.chunks.get(group / CHUNK)?;
        Some(&chunk.get_or_init(Self::chunk)[group % CHUNK])
    }

    /// The row of group `group` if made.
    fn row_if_made(&self, group: usize) -> Option<&Row> {
        Some(&self.chunks.get(group / CHUNK)?.get()?[group % CHUNK])
    }

    #[inline]
    fn add(&self, cell: &AtomicU64, delta: i64) {
        if self.shared {
            cell.fetch_add(delta as u64, Ordering::Relaxed);
        } else {
            // Only this tally's thread writes it: a plain load and store.
            cell.store(
                cell.load(Ordering::Relaxed).wrapping_add(delta as u64),
                Ordering::Relaxed,
            );
        }
    }

    /// Counts one transition of a job of group `group`; `false` if the
    /// group is beyond this tally's capacity.
    #[inline]
    fn count(&self, group: usize, old: Word, new: Word) -> bool {
        let Some(row) = self.row(group) else {
            return false;
        };
        deltas(old, new, |counter, delta| match counter {
            Counter::State(state) => self.add(&row.states[state], delta),
            Counter::Queued(level) => self.add(&row.queued[level], delta),
        });
        true
    }

    /// Counts a terminal job of group `group` forgotten by pruning.
    fn forget(&self, group: usize, state: JobState) -> bool {
        let Some(row) = self.row(group) else {
            return false;
        };
        self.add(&row.states[state as usize], -1);
        true
    }
}

/// A counter of a row.
enum Counter {
    State(usize),
    Queued(usize),
}

/// What the transition `old` → `new` adds to which counter: −1 to the old
/// state and +1 to the new one (none for a reserved word), and the same
/// for the queued count of the declared priority.
#[inline]
fn deltas(old: Word, new: Word, mut add: impl FnMut(Counter, i64)) {
    let (from, to) = (old.state(), new.state());
    if from != to {
        if let Some(from) = from {
            add(Counter::State(from as usize), -1);
        }
        if let Some(to) = to {
            add(Counter::State(to as usize), 1);
        }
    }
    let queued = |state: Option<JobState>, word: Word| {
        matches!(state, Some(JobState::Waiting | JobState::Pending))
            .then(|| usize::from(word.priority().level()))
    };
    let (was, is) = (queued(from, old), queued(to, new));
    if was != is {
        if let Some(level) = was {
            add(Counter::Queued(level), -1);
        }
        if let Some(level) = is {
            add(Counter::Queued(level), 1);
        }
    }
}

crate::sync::thread_local! {
    /// This thread's tallies, by queue identity.
    static TALLIES: core::cell::RefCell<Vec<(u64, Arc<Tally>)>> =
        const { core::cell::RefCell::new(Vec::new()) };
}

/// A queue's counts: every thread's tally, and a shared one for what no
/// thread's own can take.
pub(crate) struct Counts {
    queue: u64,
    tallies: Mutex<Vec<Arc<Tally>>>,
    /// Used by a thread whose thread-locals are gone (its exit), for groups
    /// beyond a tally's capacity, and by every thread under loom (fewer
    /// steps for the model checker than a registration per thread).
    shared: Tally,
    /// Groups beyond a tally's capacity (over 2,048 lane groups: runner
    /// types × clusters × users), counted under a lock.
    overflow: Mutex<HashMap<usize, Totals>>,
}

impl Counts {
    pub(crate) fn new(queue: u64) -> Counts {
        Counts {
            queue,
            tallies: Mutex::new(Vec::new()),
            shared: Tally::new(true),
            overflow: Mutex::new(HashMap::new()),
        }
    }

    /// Runs `step` on this thread's tally (registering it first if needed),
    /// or on the shared one when `step` declines or there is no tally.
    #[inline]
    fn with_tally(&self, group: usize, step: impl Fn(&Tally) -> bool) -> bool {
        if group >= CHUNK * CHUNKS {
            return false;
        }
        if !crate::sync::LOOM {
            let done = TALLIES.try_with(|tallies| {
                if let Ok(tallies) = tallies.try_borrow() {
                    if let Some((_, tally)) = tallies.iter().find(|(q, _)| *q == self.queue) {
                        return step(tally);
                    }
                }
                self.register(tallies).is_some_and(|tally| step(&tally))
            });
            if matches!(done, Ok(true)) {
                return true;
            }
        }
        step(&self.shared)
    }

    #[cold]
    fn register(
        &self,
        tallies: &core::cell::RefCell<Vec<(u64, Arc<Tally>)>>,
    ) -> Option<Arc<Tally>> {
        let mut mine = tallies.try_borrow_mut().ok()?;
        // Forget the tallies of dropped queues (only this thread holds them).
        mine.retain(|(_, tally)| Arc::strong_count(tally) > 1);
        let mut all = self.tallies.lock();
        // Adopt an exited thread's tally: `get_mut` succeeds only when the
        // list holds the last reference, and (Acquire) sees every count its
        // old thread wrote, so this thread goes on from them.
        let tally = match all.iter_mut().position(|t| Arc::get_mut(t).is_some()) {
            Some(index) => Arc::clone(&all[index]),
            None => {
                let tally = Arc::new(Tally::new(false));
                all.push(Arc::clone(&tally));
                tally
            }
        };
        mine.push((self.queue, Arc::clone(&tally)));
        Some(tally)
    }

    /// Counts the transition `old` → `new` of a job of lane group `group`.
    #[inline]
    pub(crate) fn count(&self, group: usize, old: Word, new: Word) {
        if !self.with_tally(group, |tally| tally.count(group, old, new)) {
            let mut overflow = self.overflow.lock();
            let totals = overflow.entry(group).or_default();
            deltas(old, new, |counter, delta| match counter {
                Counter::State(state) => totals.states[state] += delta,
                Counter::Queued(level) => totals.queued[level] += delta,
            });
        }
    }

    /// Counts a terminal job of group `group` that pruning forgot.
    pub(crate) fn forget(&self, group: usize, state: JobState) {
        if !self.with_tally(group, |tally| tally.forget(group, state)) {
            let mut overflow = self.overflow.lock();
            overflow.entry(group).or_default().states[state as usize] -= 1;
        }
    }

    /// Group `group`'s totals over every tally.
    pub(crate) fn totals(&self, group: usize) -> Totals {
        if group >= CHUNK * CHUNKS {
            return self
                .overflow
                .lock()
                .get(&group)
                .copied()
                .unwrap_or_default();
        }
        let mut totals = Totals::default();
        for tally in self.tallies.lock().iter() {
            if let Some(row) = tally.row_if_made(group) {
                totals.add(row);
            }
        }
        if let Some(row) = self.shared.row_if_made(group) {
            totals.add(row);
        }
        totals
    }
}

#[cfg(all(test, not(dagqueue_loom)))]
mod tests {
    use super::*;

    fn word(state: JobState, priority: Priority) -> Word {
        let reserved = Word::reserved(priority, 0);
        Word((reserved.0 & !0b111) | state as u64)
    }

    #[test]
    fn sums_follow_transitions_counted_by_any_thread() {
        let counts = Arc::new(Counts::new(u64::MAX - 3));
        let reserved = Word::reserved(Priority::High, 1);
        let waiting = word(JobState::Waiting, Priority::High);
        let pending = word(JobState::Pending, Priority::High);
        let scheduled = word(JobState::Scheduled, Priority::High);
        counts.count(3, reserved, waiting);
        counts.count(3, waiting, pending);
        let theirs = Arc::clone(&counts);
        std::thread::spawn(move || theirs.count(3, pending, scheduled))
            .join()
            .unwrap();
        let totals = counts.totals(3);
        assert_eq!(totals.state(JobState::Waiting), 0);
        assert_eq!(totals.state(JobState::Pending), 0);
        assert_eq!(totals.state(JobState::Scheduled), 1);
        assert_eq!(totals.queued(1), 0);
        assert_eq!(counts.totals(4), Totals::default());
        // The exited thread's tally is adopted, not duplicated.
        let theirs = Arc::clone(&counts);
        std::thread::spawn(move || theirs.count(3, scheduled, pending))
            .join()
            .unwrap();
        assert_eq!(counts.tallies.lock().len(), 2);
        let totals = counts.totals(3);
        assert_eq!((totals.state(JobState::Pending), totals.queued(1)), (1, 1));
    }

    #[test]
    fn groups_beyond_a_tallys_capacity_are_counted_under_a_lock() {
        let counts = Counts::new(u64::MAX - 4);
        let group = CHUNK * CHUNKS + 5;
        let reserved = Word::reserved(Priority::Low, 1);
        counts.count(group, reserved, word(JobState::Waiting, Priority::Low));
        let totals = counts.totals(group);
        assert_eq!((totals.state(JobState::Waiting), totals.queued(3)), (1, 1));
    }
}
