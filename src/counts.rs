//! Counted status: how many jobs each lane group holds in each state, kept
//! as the transitions happen, so `status()` reads O(groups × threads)
//! counters instead of every job.
//!
//! Each (thread, queue) has its own rows (a [`Tally`], in the thread's
//! `Local`, `local.rs`), written only by its thread with a plain load and
//! store per counter: no read-modify-write, no cache line shared with
//! another writer (the lease slots' shape). `status()` sums every thread's
//! rows. A job counted into a state by one thread and out of it by another
//! is fine: only the sums mean anything.
//!
//! The sums are exact once no transition is in flight. While some are, a
//! sum is some recent value, possibly mid-transition (a job counted out of
//! its old state and not yet into its new one, or the other way round), and
//! a sum read below zero is shown as zero.
//!
//! A transition that changes neither the state nor the declared priority
//! of a queued job (a dependency counted down, a cancel request) counts
//! nothing.

use crate::job::word::Word;
use crate::local::Local;
use crate::metrics::ThreadMetrics;
use crate::spec::Priority;
use crate::sync::{AtomicU64, Mutex, OnceLock, Ordering};
use crate::view::JobState;
use std::collections::HashMap;
use std::sync::Arc;

/// State indices in a row: the seven states, and 7 for a reserved word
/// (a job being submitted) or a forgotten one (pruned).
const STATES: usize = 8;
/// Rows kept inline in a tally (most queues have a few lane groups; one
/// under loom, whose atomics are large and made on a small stack).
const INLINE: usize = if crate::sync::LOOM { 1 } else { 8 };
/// Rows per further chunk, allocated as groups appear.
const CHUNK: usize = 32;
/// Further chunks per tally: groups beyond `INLINE + CHUNK * CHUNKS` are
/// counted in the shared tally's `beyond` rows.
const CHUNKS: usize = 64;

/// One lane group's counts, as one thread saw its transitions, as flows:
/// how many jobs went from each state to each other (`flows[from][to]`),
/// and how many entered and left the queued (waiting or pending) jobs of
/// each declared priority. One transition adds 1 to one flow (and, when it
/// enters or leaves the queue or moves a queued job's priority, to one or
/// two priority counters): no −1, no second counter for the same step.
pub(crate) struct Row {
    flows: [AtomicU64; STATES * STATES],
    entered: [AtomicU64; Priority::LEVELS],
    left: [AtomicU64; Priority::LEVELS],
    /// Claims (pending → scheduled) by declared priority: the commonest
    /// transition that leaves the queue, counted with one +1 instead of a
    /// flow and a `left`.
    claims: [AtomicU64; Priority::LEVELS],
}

impl Row {
    fn new() -> Row {
        Row {
            flows: core::array::from_fn(|_| AtomicU64::new(0)),
            entered: core::array::from_fn(|_| AtomicU64::new(0)),
            left: core::array::from_fn(|_| AtomicU64::new(0)),
            claims: core::array::from_fn(|_| AtomicU64::new(0)),
        }
    }
}

impl Row {
    /// The counter `step` adds 1 to.
    #[inline(always)]
    fn cell(&self, step: Step) -> &AtomicU64 {
        match step {
            Step::Flow(index) => &self.flows[index],
            Step::Entered(level) => &self.entered[level],
            Step::Left(level) => &self.left[level],
            Step::Claim(level) => &self.claims[level],
        }
    }
}

/// Sums of rows: one group's totals, as jobs in each state and queued jobs
/// of each priority.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Totals {
    states: [i64; STATES],
    queued: [i64; Priority::LEVELS],
}

impl Totals {
    fn add(&mut self, row: &Row) {
        // Relaxed: counters order nothing (see the module comment).
        for from in 0..STATES {
            for to in 0..STATES {
                let flow = row.flows[from * STATES + to].load(Ordering::Relaxed) as i64;
                self.states[to] = self.states[to].wrapping_add(flow);
                self.states[from] = self.states[from].wrapping_sub(flow);
            }
        }
        let (pending, scheduled) = (Flow::PENDING, Flow::SCHEDULED);
        for level in 0..Priority::LEVELS {
            let entered = row.entered[level].load(Ordering::Relaxed) as i64;
            let left = row.left[level].load(Ordering::Relaxed) as i64;
            let claims = row.claims[level].load(Ordering::Relaxed) as i64;
            self.queued[level] = self.queued[level]
                .wrapping_add(entered)
                .wrapping_sub(left)
                .wrapping_sub(claims);
            self.states[pending] = self.states[pending].wrapping_sub(claims);
            self.states[scheduled] = self.states[scheduled].wrapping_add(claims);
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

/// A counter of a row to add 1 to.
enum Step {
    Flow(usize),
    Entered(usize),
    Left(usize),
    /// A claim of a job of this declared priority.
    Claim(usize),
}

/// What the transition `old` → `new` adds 1 to: the flow between their
/// states, and the priority counters of a job entering or leaving the
/// queue or moving priority in it. On the words' raw fields (the state
/// index is the `JobState` discriminant, 7 when reserved; waiting and
/// pending are 0 and 1).
#[inline(always)]
fn steps(old: Word, new: Word, mut add: impl FnMut(Step)) {
    let (from, to) = (old.state_index(), new.state_index());
    if (from, to) == (Flow::PENDING, Flow::SCHEDULED) {
        add(Step::Claim(old.priority_index()));
        return;
    }
    if from != to {
        add(Step::Flow(from * STATES + to));
    }
    let (was, is) = (from <= 1, to <= 1);
    if was || is {
        let (before, after) = (old.priority_index(), new.priority_index());
        let moved = before != after;
        if was && (!is || moved) {
            add(Step::Left(before));
        }
        if is && (!was || moved) {
            add(Step::Entered(after));
        }
    }
}

/// A flow between two state indices (7: reserved, or forgotten), for the
/// metrics' sums (`metrics.rs`).
#[derive(Clone, Copy)]
pub(crate) struct Flow {
    from: usize,
    to: usize,
}

impl Flow {
    /// The flow at index `index` of [`Tally::flow_totals`].
    pub(crate) fn of(index: usize) -> Flow {
        Flow {
            from: index / STATES,
            to: index % STATES,
        }
    }

    const WAITING: usize = JobState::Waiting as usize;
    pub(crate) const PENDING: usize = JobState::Pending as usize;
    pub(crate) const SCHEDULED: usize = JobState::Scheduled as usize;
    const RUNNING: usize = JobState::Running as usize;

    /// A claim: pending → scheduled.
    pub(crate) fn is_claim(self) -> bool {
        (self.from, self.to) == (Self::PENDING, Self::SCHEDULED)
    }

    // No flow stays in its state (a transition that keeps the state
    // counts no flow), so a flow's target alone says what it was.

    /// Into a terminal state (pruning, which leaves one, goes to 7).
    pub(crate) fn is_terminal(self) -> bool {
        self.is_completion() || self.is_failure() || self.is_cancel()
    }

    pub(crate) fn is_completion(self) -> bool {
        self.to == JobState::Completed as usize
    }

    pub(crate) fn is_failure(self) -> bool {
        self.to == JobState::Failed as usize
    }

    pub(crate) fn is_cancel(self) -> bool {
        self.to == JobState::Cancelled as usize
    }

    /// An attempt that ended and left the job queued again.
    pub(crate) fn is_retry(self) -> bool {
        matches!(self.from, Self::SCHEDULED | Self::RUNNING)
            && matches!(self.to, Self::WAITING | Self::PENDING)
    }
}

/// One thread's rows for one queue, by lane group index, and its metrics
/// besides them.
pub(crate) struct Tally {
    inline: [Row; INLINE],
    chunks: [OnceLock<Box<[Row]>>; CHUNKS],
    /// Rows of the groups beyond the chunks (over 2,056 lane groups:
    /// runner types × clusters × users). Only the shared tally's are used:
    /// every thread counts those groups there (`Counts::count`).
    beyond: Mutex<HashMap<usize, Arc<Row>>>,
    /// Written by several threads (the shared tally): read-modify-writes.
    pub(crate) shared: bool,
    pub(crate) metrics: ThreadMetrics,
}

impl Tally {
    pub(crate) fn new(shared: bool) -> Tally {
        Tally {
            inline: core::array::from_fn(|_| Row::new()),
            chunks: core::array::from_fn(|_| OnceLock::new()),
            beyond: Mutex::new(HashMap::new()),
            shared,
            metrics: ThreadMetrics::new(),
        }
    }

    /// Every flow of this tally, summed over its rows (lane groups), by
    /// `from * 8 + to`; [`Flow::of`] names an index.
    pub(crate) fn flow_totals(&self, order: Ordering) -> [u64; STATES * STATES] {
        let mut totals = [0u64; STATES * STATES];
        let chunks = self.chunks.iter().filter_map(OnceLock::get);
        let beyond: Vec<Arc<Row>> = self.beyond.lock().values().cloned().collect();
        for row in self
            .inline
            .iter()
            .chain(chunks.flat_map(|chunk| chunk.iter()))
            .chain(beyond.iter().map(|row| &**row))
        {
            for (total, flow) in totals.iter_mut().zip(&row.flows) {
                *total += flow.load(order);
            }
            for claims in &row.claims {
                totals[Flow::PENDING * STATES + Flow::SCHEDULED] += claims.load(order);
            }
        }
        totals
    }

    fn chunk() -> Box<[Row]> {
        (0..CHUNK).map(|_| Row::new()).collect()
    }

    /// The row of group `group`, made if needed; `None` beyond capacity.
    #[inline(always)]
    fn row(&self, group: usize) -> Option<&Row> {
        if group < INLINE {
            return Some(&self.inline[group]);
        }
        self.row_beyond_inline(group)
    }

    #[inline(never)]
    fn row_beyond_inline(&self, group: usize) -> Option<&Row> {
        let index = group - INLINE;
        let chunk = self.chunks.get(index / CHUNK)?;
        Some(&chunk.get_or_init(Self::chunk)[index % CHUNK])
    }

    /// The row of group `group` if made.
    fn row_if_made(&self, group: usize) -> Option<&Row> {
        if group < INLINE {
            return Some(&self.inline[group]);
        }
        let index = group - INLINE;
        Some(&self.chunks.get(index / CHUNK)?.get()?[index % CHUNK])
    }

    #[inline(always)]
    fn bump(&self, cell: &AtomicU64) {
        // Release: see `metrics::unfinished` (free on x86, as every store).
        if self.shared {
            cell.fetch_add(1, Ordering::Release);
        } else {
            // Only this tally's thread writes it: a plain load and store.
            cell.store(
                cell.load(Ordering::Relaxed).wrapping_add(1),
                Ordering::Release,
            );
        }
    }

    /// A thread's count of its own transition `old` → `new` of a job of
    /// group `group`, in its inline rows: the path of every transition of
    /// a queue with at most `INLINE` lane groups, a few instructions with
    /// no call. `false` (nothing counted) for a group beyond them.
    #[inline(always)]
    pub(crate) fn count_own(&self, group: usize, old: Word, new: Word) -> bool {
        debug_assert!(!self.shared, "the shared tally has several writers");
        let Some(row) = self.inline.get(group) else {
            return false;
        };
        steps(old, new, |step| {
            let cell = row.cell(step);
            // Only this tally's thread writes it: a plain load and store.
            // Release: see `metrics::unfinished` (free on x86).
            cell.store(
                cell.load(Ordering::Relaxed).wrapping_add(1),
                Ordering::Release,
            );
        });
        true
    }

    /// Counts one transition of a job of group `group`; `false` if the
    /// group is beyond this tally's capacity.
    #[inline(always)]
    pub(crate) fn count(&self, group: usize, old: Word, new: Word) -> bool {
        let Some(row) = self.row(group) else {
            return false;
        };
        self.record(row, old, new);
        true
    }

    #[inline(always)]
    fn record(&self, row: &Row, old: Word, new: Word) {
        steps(old, new, |step| self.bump(row.cell(step)));
    }

    /// Counts a terminal job of group `group` forgotten by pruning (a flow
    /// to index 7); `false` if the group is beyond this tally's capacity.
    fn forget(&self, group: usize, state: JobState) -> bool {
        let Some(row) = self.row(group) else {
            return false;
        };
        self.record_forget(row, state);
        true
    }

    fn record_forget(&self, row: &Row, state: JobState) {
        self.bump(&row.flows[state as usize * STATES + (STATES - 1)]);
    }

    /// The row of group `group` beyond the chunks, made if needed.
    fn beyond_row(&self, group: usize) -> Arc<Row> {
        debug_assert!(
            self.shared,
            "only the shared tally counts beyond its chunks"
        );
        let mut beyond = self.beyond.lock();
        Arc::clone(beyond.entry(group).or_insert_with(|| Arc::new(Row::new())))
    }
}

/// A queue's counts beyond its threads' own tallies (`Local::tally`).
pub(crate) struct Counts {
    /// Used by a thread whose thread-locals are gone (its exit), by every
    /// thread under loom (fewer steps for the model checker than a
    /// registration per thread), and for the groups beyond a tally's
    /// chunks. Its metrics and flows are the queue's too.
    pub(crate) shared: Tally,
}

impl Counts {
    pub(crate) fn new() -> Counts {
        Counts {
            shared: Tally::new(true),
        }
    }

    /// Counts the transition `old` → `new` of a job of lane group `group`
    /// in `tally` (this thread's, past its inline rows), or where it
    /// cannot go there.
    #[cold]
    #[inline(never)]
    pub(crate) fn count(&self, tally: Option<&Tally>, group: usize, old: Word, new: Word) {
        let counted = match tally {
            Some(tally) => tally.count(group, old, new),
            None => self.shared.count(group, old, new),
        };
        if !counted {
            self.count_beyond(group, old, new);
        }
    }

    #[cold]
    fn count_beyond(&self, group: usize, old: Word, new: Word) {
        self.shared.record(&self.shared.beyond_row(group), old, new);
    }

    /// Counts a terminal job of group `group` that pruning forgot.
    pub(crate) fn forget(&self, tally: Option<&Tally>, group: usize, state: JobState) {
        let counted = match tally {
            Some(tally) => tally.forget(group, state),
            None => self.shared.forget(group, state),
        };
        if !counted {
            self.shared
                .record_forget(&self.shared.beyond_row(group), state);
        }
    }

    /// Group `group`'s totals over every thread's tally (`locals`, from
    /// [`Locals::all`]) and the shared one.
    pub(crate) fn totals(&self, locals: &[Arc<Local>], group: usize) -> Totals {
        let mut totals = Totals::default();
        if group >= INLINE + CHUNK * CHUNKS {
            if let Some(row) = self.shared.beyond.lock().get(&group) {
                totals.add(row);
            }
            return totals;
        }
        for local in locals {
            if let Some(row) = local.tally.row_if_made(group) {
                totals.add(row);
            }
        }
        if let Some(row) = self.shared.row_if_made(group) {
            totals.add(row);
        }
        totals
    }
}

#[cfg(all(test, not(any(dagqueue_loom, dagqueue_shuttle))))]
mod tests {
    use super::*;
    use crate::local::Locals;

    fn word(state: JobState, priority: Priority) -> Word {
        let reserved = Word::reserved(priority, 0);
        Word((reserved.0 & !0b111) | state as u64)
    }

    fn count(counts: &Counts, locals: &Locals, group: usize, old: Word, new: Word) {
        counts.count(locals.get().map(|local| &local.tally), group, old, new);
    }

    #[test]
    fn sums_follow_transitions_counted_by_any_thread() {
        let counts = Arc::new(Counts::new());
        let locals = Arc::new(Locals::new(u64::MAX - 3));
        let reserved = Word::reserved(Priority::High, 1);
        let waiting = word(JobState::Waiting, Priority::High);
        let pending = word(JobState::Pending, Priority::High);
        let scheduled = word(JobState::Scheduled, Priority::High);
        count(&counts, &locals, 3, reserved, waiting);
        count(&counts, &locals, 3, waiting, pending);
        let (c, l) = (Arc::clone(&counts), Arc::clone(&locals));
        std::thread::spawn(move || count(&c, &l, 3, pending, scheduled))
            .join()
            .unwrap();
        let totals = counts.totals(&locals.all(), 3);
        assert_eq!(totals.state(JobState::Waiting), 0);
        assert_eq!(totals.state(JobState::Pending), 0);
        assert_eq!(totals.state(JobState::Scheduled), 1);
        assert_eq!(totals.queued(1), 0);
        assert_eq!(counts.totals(&locals.all(), 4), Totals::default());
        // A priority move of a queued job moves its queued count.
        let low = word(JobState::Pending, Priority::Low);
        count(&counts, &locals, 5, reserved, pending);
        count(&counts, &locals, 5, pending, low);
        let totals = counts.totals(&locals.all(), 5);
        assert_eq!((totals.queued(1), totals.queued(3)), (0, 1));
        assert_eq!(totals.state(JobState::Pending), 1);
    }

    #[test]
    fn groups_beyond_a_tallys_capacity_are_counted_in_the_shared_tally() {
        let counts = Counts::new();
        let locals = Locals::new(u64::MAX - 4);
        let group = INLINE + CHUNK * CHUNKS + 5;
        let reserved = Word::reserved(Priority::Low, 1);
        count(
            &counts,
            &locals,
            group,
            reserved,
            word(JobState::Waiting, Priority::Low),
        );
        let totals = counts.totals(&locals.all(), group);
        assert_eq!((totals.state(JobState::Waiting), totals.queued(3)), (1, 1));
        // And in the flows the metrics sum (a claim, here).
        let pending = word(JobState::Pending, Priority::Low);
        let scheduled = word(JobState::Scheduled, Priority::Low);
        count(&counts, &locals, group, pending, scheduled);
        let flows = counts.shared.flow_totals(Ordering::Relaxed);
        assert_eq!(flows[Flow::PENDING * STATES + Flow::SCHEDULED], 1);
    }
}
