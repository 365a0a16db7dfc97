//! The job state word: everything that changes about a job, in one `AtomicU64`
//! changed only by compare-and-swap.
//!
//! Layout (bit 0 is the lowest):
//!
//! | bits   | field            | meaning                                             |
//! |--------|------------------|-----------------------------------------------------|
//! | 0..3   | state            | [`JobState`] as 0..=6, or [`RESERVED`] (7)          |
//! | 3      | cancel requested | set on a claimed job by `cancel`                    |
//! | 4..7   | priority         | declared priority level                             |
//! | 7..10  | level            | level it is served at (priority, or one better once aged) |
//! | 10..21 | attempt          | number of claims so far                             |
//! | 21..41 | remaining        | unfinished dependencies (+1 while a guard is held); once terminal, how the job ended ([`EndKind`]) |
//! | 41..63 | version          | bumped whenever the job (re-)enters a lane          |
//! | 63     | marked           | set by a transition whose event is being written (see [`StateWord::transition`]) |
//!
//! Because state, attempt and version live in one word, a claim's
//! compare-and-swap both checks that the lane entry is current (version) and
//! takes the job (state), and a completion both checks the attempt and
//! finishes it: no transition can be applied twice or to the wrong attempt.
//!
//! Every transition below is a pure function from an old word to a new one,
//! applied by [`StateWord::transition`], a CAS loop. The CAS is the
//! linearization point of the operation that calls it.

use crate::claim::Outcome;
use crate::faults::Faults;
use crate::spec::Priority;
use crate::sync::{AtomicU64, Ordering};
use crate::view::JobState;

/// The internal state of a job whose `submit` has not yet linearized: every
/// operation treats it as unknown.
pub(crate) const RESERVED: u64 = 7;

const STATE_MASK: u64 = 0b111;
const CANCEL_BIT: u64 = 1 << 3;
const PRIORITY_SHIFT: u32 = 4;
const LEVEL_SHIFT: u32 = 7;
const ATTEMPT_SHIFT: u32 = 10;
const ATTEMPT_BITS: u32 = 11;
const REMAINING_SHIFT: u32 = 21;
const REMAINING_BITS: u32 = 20;
const VERSION_SHIFT: u32 = 41;
const VERSION_BITS: u32 = 22;
/// Set by a transition made while someone subscribes to events, until its
/// thread has written the event: the next transition of the job waits for
/// it, so one job's events are written in the order of its transitions.
const MARK_BIT: u64 = 1 << 63;

/// The fields below `remaining` (state, cancel, priority, level, attempt):
/// what an event keeps of a word.
pub(crate) const LOW_FIELDS_BITS: u32 = REMAINING_SHIFT;

/// The largest number a `remaining` field can hold.
pub(crate) const MAX_REMAINING: u64 = (1 << REMAINING_BITS) - 1;
/// Versions wrap at this many lane entries; a wrapped version can only make a
/// stale entry look current, which changes which lane serves the job, never
/// whether it is claimed once.
pub(crate) const VERSION_MODULUS: u64 = 1 << VERSION_BITS;

/// How a terminal job ended, written by the CAS that ended it into the
/// `remaining` bits (unused once a job is terminal).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum EndKind {
    Succeeded = 1,
    FailedByWorker = 2,
    DependencyFailed = 3,
    CancelledByUser = 4,
    DependencyCancelled = 5,
    LeaseExpired = 6,
    DependencySucceeded = 7,
}

impl EndKind {
    /// How a job ends, and in which state, because a dependency whose kind
    /// does not let it go on ended in `terminal`: failed or cancelled with
    /// it, or cancelled because an after-failure dependency completed.
    pub(crate) fn by_dependency(terminal: JobState) -> (JobState, EndKind) {
        match terminal {
            JobState::Failed => (JobState::Failed, EndKind::DependencyFailed),
            JobState::Completed => (JobState::Cancelled, EndKind::DependencySucceeded),
            _ => (JobState::Cancelled, EndKind::DependencyCancelled),
        }
    }
}

/// A decoded state word.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Word(pub(crate) u64);

fn field(word: u64, shift: u32, bits: u32) -> u64 {
    (word >> shift) & ((1 << bits) - 1)
}

fn with_field(word: u64, shift: u32, bits: u32, value: u64) -> u64 {
    let mask = ((1u64 << bits) - 1) << shift;
    (word & !mask) | ((value << shift) & mask)
}

impl Word {
    /// A reserved word: the job is being submitted.
    pub(crate) fn reserved(priority: Priority, remaining: u64) -> Word {
        let w = RESERVED
            | (u64::from(priority.level()) << PRIORITY_SHIFT)
            | (u64::from(priority.level()) << LEVEL_SHIFT);
        Word(with_field(w, REMAINING_SHIFT, REMAINING_BITS, remaining))
    }

    /// The state, or `None` while reserved.
    pub(crate) fn state(self) -> Option<JobState> {
        Some(match self.0 & STATE_MASK {
            0 => JobState::Waiting,
            1 => JobState::Pending,
            2 => JobState::Scheduled,
            3 => JobState::Running,
            4 => JobState::Completed,
            5 => JobState::Failed,
            6 => JobState::Cancelled,
            _ => return None,
        })
    }

    fn is(self, state: JobState) -> bool {
        self.0 & STATE_MASK == state as u64
    }

    fn set_state(self, state: JobState) -> Word {
        Word((self.0 & !STATE_MASK) | state as u64)
    }

    pub(crate) fn cancel_requested(self) -> bool {
        self.0 & CANCEL_BIT != 0
    }

    /// The state field as an index (7: reserved), for counting.
    #[inline]
    pub(crate) fn state_index(self) -> usize {
        (self.0 & STATE_MASK) as usize
    }

    /// The declared priority level, for counting.
    #[inline]
    pub(crate) fn priority_index(self) -> usize {
        field(self.0, PRIORITY_SHIFT, 3) as usize
    }

    /// Whether a transition's thread still writes its event.
    pub(crate) fn is_marked(self) -> bool {
        self.0 & MARK_BIT != 0
    }

    /// `new`, marked if `mark` and `old` → `new` is a transition an event
    /// reports ([`is_event`](Self::is_event)): its thread then writes the
    /// event before it clears the mark.
    #[inline]
    fn marked_if_event(old: Word, new: Word, mark: bool) -> Word {
        if mark && Word::is_event(old, new) {
            Word(new.0 | MARK_BIT)
        } else {
            new
        }
    }

    /// Whether `old` → `new` is a transition an event reports: the state,
    /// the declared priority or the cancel request changed (not a
    /// dependency counted down, nor a level served at).
    #[inline]
    pub(crate) fn is_event(old: Word, new: Word) -> bool {
        const REPORTED: u64 = STATE_MASK | CANCEL_BIT | (0b111 << PRIORITY_SHIFT);
        (old.0 ^ new.0) & REPORTED != 0
    }

    pub(crate) fn priority(self) -> Priority {
        level_to_priority(field(self.0, PRIORITY_SHIFT, 3))
    }

    /// The level the job is served at.
    pub(crate) fn level(self) -> usize {
        field(self.0, LEVEL_SHIFT, 3) as usize
    }

    pub(crate) fn attempt(self) -> u32 {
        field(self.0, ATTEMPT_SHIFT, ATTEMPT_BITS) as u32
    }

    pub(crate) fn remaining(self) -> u64 {
        field(self.0, REMAINING_SHIFT, REMAINING_BITS)
    }

    pub(crate) fn version(self) -> u32 {
        field(self.0, VERSION_SHIFT, VERSION_BITS) as u32
    }

    fn set_priority(self, priority: Priority) -> Word {
        Word(with_field(
            self.0,
            PRIORITY_SHIFT,
            3,
            u64::from(priority.level()),
        ))
    }

    fn set_level(self, level: usize) -> Word {
        Word(with_field(self.0, LEVEL_SHIFT, 3, level as u64))
    }

    /// The terminal state and how it was reached, in one step.
    fn end(self, state: JobState, kind: EndKind) -> Word {
        debug_assert!(state.is_terminal());
        Word(with_field(
            self.set_state(state).0,
            REMAINING_SHIFT,
            REMAINING_BITS,
            kind as u64,
        ))
    }

    /// How a terminal job ended (`None` before it is terminal).
    pub(crate) fn end_kind(self) -> Option<EndKind> {
        if !self.state().is_some_and(JobState::is_terminal) {
            return None;
        }
        Some(match self.remaining() {
            1 => EndKind::Succeeded,
            2 => EndKind::FailedByWorker,
            3 => EndKind::DependencyFailed,
            4 => EndKind::CancelledByUser,
            5 => EndKind::DependencyCancelled,
            6 => EndKind::LeaseExpired,
            _ => EndKind::DependencySucceeded,
        })
    }

    /// Whether it ended because a dependency failed or was cancelled.
    pub(crate) fn ended_by_dependency(self) -> bool {
        matches!(
            self.end_kind(),
            Some(
                EndKind::DependencyFailed
                    | EndKind::DependencyCancelled
                    | EndKind::DependencySucceeded
            )
        )
    }

    fn set_remaining(self, remaining: u64) -> Word {
        Word(with_field(
            self.0,
            REMAINING_SHIFT,
            REMAINING_BITS,
            remaining,
        ))
    }

    fn bump_version(self) -> Word {
        let next = (u64::from(self.version()) + 1) % VERSION_MODULUS;
        Word(with_field(self.0, VERSION_SHIFT, VERSION_BITS, next))
    }

    fn set_attempt(self, attempt: u32) -> Word {
        Word(with_field(
            self.0,
            ATTEMPT_SHIFT,
            ATTEMPT_BITS,
            u64::from(attempt),
        ))
    }
}

fn level_to_priority(level: u64) -> Priority {
    match level {
        0 => Priority::Critical,
        1 => Priority::High,
        2 => Priority::Normal,
        3 => Priority::Low,
        _ => Priority::Background,
    }
}

/// Where a job's lane entry must go after a transition that (re-)queued it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Enqueue {
    /// The lane level.
    pub(crate) level: usize,
    /// The entry's version.
    pub(crate) version: u32,
    /// Whether aging already promoted it (it is not promoted twice).
    pub(crate) promoted: bool,
}

impl Enqueue {
    /// Where a job that `reprioritize` moved from `old` to `new` goes: a
    /// pending job whose level changed enters the new level's lane.
    pub(crate) fn after_reprioritize(old: Word, new: Word) -> Option<Enqueue> {
        (new.is(JobState::Pending) && old.version() != new.version()).then(|| Enqueue::of(new))
    }

    /// Where a job that became pending with `new` goes (a release's new
    /// word: `None` if it still waits).
    pub(crate) fn if_pending(new: Word) -> Option<Enqueue> {
        new.is(JobState::Pending).then(|| Enqueue::of(new))
    }

    pub(crate) fn of(word: Word) -> Enqueue {
        Enqueue {
            level: word.level(),
            version: word.version(),
            promoted: word.level() < usize::from(word.priority().level()),
        }
    }
}

/// The atomic state word of one job.
/// The word, and the faults it was built with (loom negative controls; a
/// zero-sized nothing in every other build).
pub(crate) struct StateWord(AtomicU64, Faults);

impl StateWord {
    pub(crate) fn new(word: Word, faults: Faults) -> StateWord {
        StateWord(AtomicU64::new(word.0), faults)
    }

    /// The current word. Acquire: a reader that sees a state also sees what
    /// the thread that made the transition wrote before it (lane pushes,
    /// sealed dependents lists).
    #[inline]
    pub(crate) fn load(&self) -> Word {
        Word(self.0.load(Ordering::Acquire))
    }

    /// Applies `step` with compare-and-swap until it succeeds or `step`
    /// refuses (returns `Err`). Returns the old and new words.
    ///
    /// Orderings: AcqRel on success, so a transition both publishes what its
    /// thread did before (Release) and sees what the previous transition's
    /// thread did (Acquire); Acquire on failure, since the retry reads the
    /// fresh word.
    ///
    /// Marking: with `mark` (someone subscribes to events), a transition
    /// that changes what an event reports ([`Word::is_event`]) stores the
    /// new word with the mark bit; its thread writes the event and then
    /// [`unmark`](StateWord::unmark)s. Every transition, marked or not,
    /// waits while the bit is set (a few stores of another thread), so the
    /// next transition of the job, and its event, come after that event.
    /// The returned new word keeps the bit (its accessors ignore it).
    #[inline]
    pub(crate) fn transition<E>(
        &self,
        mark: bool,
        mut step: impl FnMut(Word) -> Result<Word, E>,
    ) -> Result<(Word, Word), E> {
        let mut current = self.0.load(Ordering::Acquire);
        loop {
            if current & MARK_BIT != 0 {
                // Another thread is writing this job's last event.
                crate::sync::spin_wait();
                current = self.0.load(Ordering::Acquire);
                continue;
            }
            let next = Word::marked_if_event(Word(current), step(Word(current))?, mark);
            match self
                .0
                .compare_exchange_weak(current, next.0, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => return Ok((Word(current), next)),
                Err(actual) => current = actual,
            }
        }
    }

    /// Clears the mark of the marked word `new`, after its event is written.
    /// A plain store: while the bit is set no other thread changes the word.
    /// Release: the next transition (Acquire) sees the event and the job's
    /// event link written before it.
    #[inline]
    pub(crate) fn unmark(&self, new: Word) {
        debug_assert!(new.is_marked());
        self.0.store(new.0 & !MARK_BIT, Ordering::Release);
    }

    /// Submit's linearization point: reserved → waiting (dependencies and
    /// the submission guard are counted in `remaining`), or straight to
    /// pending when nothing but the guard holds it (`ready`; its thread
    /// enqueues it).
    ///
    /// A store, not a CAS: a reserved word is written by its submitter
    /// only (every other operation takes a reserved job for unknown and
    /// leaves it alone: `JobQueue::lookup`), so nothing can change it
    /// between this load and the store. Relaxed load: the submitter wrote
    /// it last. Release store: whoever sees the job published (an Acquire
    /// load or CAS of the word) sees the record, its dependency list and
    /// its dependents list as the submitter left them. A batch publishes
    /// 100,000 cold records in a row, where a CAS waits for each line
    /// (BENCHMARKS.md, issue 12, eighth session).
    pub(crate) fn publish(&self, ready: bool, mark: bool) -> (Word, Word) {
        let w = Word(self.0.load(Ordering::Relaxed));
        debug_assert_eq!(w.0 & STATE_MASK, RESERVED);
        let next = if ready {
            debug_assert_eq!(w.remaining(), 1);
            w.set_remaining(0)
                .set_state(JobState::Pending)
                .bump_version()
        } else {
            w.set_state(JobState::Waiting)
        };
        let next = Word::marked_if_event(w, next, mark);
        self.0.store(next.0, Ordering::Release);
        (w, next)
    }

    /// Recovery (feature `durable`): a reserved word takes the attempts a
    /// restored job had made. Before publishing, so no other thread reads it.
    #[cfg(feature = "durable")]
    pub(crate) fn restore_attempt(&self, attempt: u32) {
        let w = self.load();
        debug_assert_eq!(w.0 & STATE_MASK, RESERVED);
        // Relaxed: the record is not shared yet; publishing (a CAS) orders
        // this store before anyone can see the job.
        self.0.store(w.set_attempt(attempt).0, Ordering::Relaxed);
    }

    /// Recovery (feature `durable`): publishes a reserved word straight into
    /// a terminal state, `state` reached as `kind` says.
    #[cfg(feature = "durable")]
    pub(crate) fn publish_ended(&self, state: JobState, kind: EndKind, mark: bool) -> (Word, Word) {
        let published = self.transition(mark, |w| {
            debug_assert_eq!(w.0 & STATE_MASK, RESERVED);
            Ok::<_, ()>(w.end(state, kind))
        });
        match published {
            Ok(words) => words,
            Err(()) => unreachable!("publishing a reserved word cannot be refused"),
        }
    }

    /// One dependency (or guard) is done. Returns the old and new words if
    /// the job was waiting (it is pending if this was its last wait); a job
    /// that is no longer waiting is left alone.
    pub(crate) fn release_one(&self, mark: bool) -> Option<(Word, Word)> {
        self.transition(mark, |w| {
            if !w.is(JobState::Waiting) || w.remaining() == 0 {
                return Err(());
            }
            let w = w.set_remaining(w.remaining() - 1);
            if w.remaining() == 0 {
                Ok(w.set_state(JobState::Pending).bump_version())
            } else {
                Ok(w)
            }
        })
        .ok()
    }

    /// Claim's linearization point: pending at `version` → scheduled, with
    /// the attempt incremented. `None` if the entry is stale.
    #[inline]
    pub(crate) fn claim(&self, version: u32, mark: bool) -> Option<(Word, Word)> {
        if self.1.racy_claim() {
            // Negative control: check, then store. Two claimers can both pass.
            let w = self.load();
            if !w.is(JobState::Pending) || w.version() != version {
                return None;
            }
            crate::sync::spin_wait();
            let next = w
                .set_state(JobState::Scheduled)
                .set_attempt(w.attempt() + 1);
            self.0.store(next.0, Ordering::Release);
            return Some((w, next));
        }
        self.transition(mark, |w| {
            if !w.is(JobState::Pending) || w.version() != version {
                return Err(());
            }
            Ok(w.set_state(JobState::Scheduled)
                .set_attempt(w.attempt() + 1))
        })
        .ok()
    }

    /// Start's linearization point: scheduled → running for this attempt.
    pub(crate) fn start(&self, attempt: u32, mark: bool) -> Result<(Word, Word), StartRefusal> {
        self.transition(mark, |w| {
            if w.attempt() != attempt || !w.state().is_some_and(JobState::is_claimed) {
                return Err(StartRefusal::Stale);
            }
            // Cancellation first: it is what the worker must act on.
            if w.cancel_requested() {
                return Err(StartRefusal::CancelRequested);
            }
            if w.is(JobState::Running) {
                return Err(StartRefusal::AlreadyStarted);
            }
            Ok(w.set_state(JobState::Running))
        })
    }

    /// Complete's linearization point: ends this attempt. Returns the old
    /// and new words: pending (a retry; enqueue it), or terminal.
    /// `by_lease`: the attempt's lease ran out (its outcome is `Failure`);
    /// with no retry left the job ends `Failed` by `LeaseExpired`.
    /// `delayed_retry`: a retry waits (its backoff): the job goes back to
    /// `Waiting` on one timer (released by `release_one` when due), not to
    /// its lane.
    pub(crate) fn finish(
        &self,
        attempt: u32,
        outcome: Outcome,
        max_retries: u32,
        by_lease: bool,
        delayed_retry: bool,
        mark: bool,
    ) -> Result<(Word, Word), ()> {
        let failed = if by_lease {
            EndKind::LeaseExpired
        } else {
            EndKind::FailedByWorker
        };
        if by_lease && self.1.racy_expiry() {
            // Loom negative control: decide on a load, then store.
            let w = self.load();
            if w.attempt() != attempt || !w.state().is_some_and(JobState::is_claimed) {
                return Err(());
            }
            crate::sync::spin_wait();
            let next = if w.cancel_requested() {
                w.end(JobState::Cancelled, EndKind::CancelledByUser)
            } else if attempt <= max_retries {
                w.set_state(JobState::Pending)
                    .set_level(w.priority().level().into())
                    .bump_version()
            } else {
                w.end(JobState::Failed, failed)
            };
            self.0.store(next.0, Ordering::Release);
            return Ok((w, next));
        }
        self.transition(mark, |w| {
            if w.attempt() != attempt || !w.state().is_some_and(JobState::is_claimed) {
                return Err(());
            }
            let next = if w.cancel_requested() {
                w.end(JobState::Cancelled, EndKind::CancelledByUser)
            } else {
                match outcome {
                    Outcome::Success => w.end(JobState::Completed, EndKind::Succeeded),
                    Outcome::Failure if attempt <= max_retries && delayed_retry => w
                        .set_state(JobState::Waiting)
                        .set_level(w.priority().level().into())
                        .set_remaining(1),
                    Outcome::Failure if attempt <= max_retries => w
                        .set_state(JobState::Pending)
                        .set_level(w.priority().level().into())
                        .bump_version(),
                    Outcome::Failure => w.end(JobState::Failed, failed),
                }
            };
            Ok(next)
        })
    }

    /// Cancel's linearization point. Waiting or pending → cancelled;
    /// scheduled or running → cancel requested.
    pub(crate) fn cancel(&self, mark: bool) -> Result<(Word, Word), Option<JobState>> {
        self.transition(mark, |w| match w.state() {
            Some(JobState::Waiting | JobState::Pending) => {
                Ok(w.end(JobState::Cancelled, EndKind::CancelledByUser))
            }
            Some(JobState::Scheduled | JobState::Running) => Ok(Word(w.0 | CANCEL_BIT)),
            other => Err(other),
        })
    }

    /// A dependency of this waiting job ended in `terminal` in a way its
    /// kind does not accept: it ends too (`EndKind::by_dependency`). Only a
    /// waiting job can have an unfinished dependency.
    pub(crate) fn fail_by_dependency(
        &self,
        terminal: JobState,
        mark: bool,
    ) -> Option<(Word, Word)> {
        let (state, kind) = EndKind::by_dependency(terminal);
        self.transition(mark, |w| {
            if w.is(JobState::Waiting) {
                Ok(w.end(state, kind))
            } else {
                Err(())
            }
        })
        .ok()
    }

    /// Reprioritize's linearization point. Returns the old and new words;
    /// [`Enqueue::after_reprioritize`] says where a pending job whose level
    /// changed goes.
    pub(crate) fn reprioritize(
        &self,
        priority: Priority,
        mark: bool,
    ) -> Result<(Word, Word), Option<JobState>> {
        let level = usize::from(priority.level());
        self.transition(mark, |w| match w.state() {
            Some(JobState::Waiting) => Ok(w.set_priority(priority).set_level(level)),
            Some(JobState::Pending) if w.level() == level => Ok(w.set_priority(priority)),
            Some(JobState::Pending) => Ok(w.set_priority(priority).set_level(level).bump_version()),
            other => Err(other),
        })
    }

    /// Aging: a pending job at `version` is served one level better (no
    /// event: nothing an event reports changes).
    pub(crate) fn promote(&self, version: u32) -> Option<Enqueue> {
        self.transition(false, |w| {
            if !w.is(JobState::Pending) || w.version() != version || w.level() == 0 {
                return Err(());
            }
            Ok(w.set_level(w.level() - 1).bump_version())
        })
        .ok()
        .map(|(_, new)| Enqueue::of(new))
    }

    /// add_dependencies: a waiting or pending job takes `extra` more
    /// unfinished dependencies plus one guard, and waits (leaving its lane).
    pub(crate) fn add_waits(
        &self,
        extra: u64,
        mark: bool,
    ) -> Result<(Word, Word), Option<JobState>> {
        self.transition(mark, |w| match w.state() {
            Some(JobState::Waiting) => {
                debug_assert!(w.remaining() + extra < MAX_REMAINING);
                Ok(w.set_remaining(w.remaining() + extra + 1))
            }
            Some(JobState::Pending) => Ok(w
                .set_state(JobState::Waiting)
                .set_remaining(extra + 1)
                .bump_version()),
            other => Err(other),
        })
    }

    /// add_dependencies with a dependency that already ended in `terminal`
    /// in a way its kind does not accept: a waiting or pending job ends
    /// (`EndKind::by_dependency`).
    pub(crate) fn end_queued(
        &self,
        terminal: JobState,
        mark: bool,
    ) -> Result<(Word, Word), Option<JobState>> {
        let (state, kind) = EndKind::by_dependency(terminal);
        self.transition(mark, |w| match w.state() {
            Some(JobState::Waiting | JobState::Pending) => Ok(w.end(state, kind)),
            other => Err(other),
        })
    }
}

/// Why `start` was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum StartRefusal {
    Stale,
    AlreadyStarted,
    CancelRequested,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A published, pending job's word at `priority`'s level.
    fn pending(priority: Priority) -> StateWord {
        let word = StateWord::new(Word::reserved(priority, 1), Faults::default());
        word.publish(true, false);
        assert!(word.load().is(JobState::Pending));
        word
    }

    /// Aging promotes a pending job at the entry's version by one level,
    /// and nothing else: not through a stale entry (the job was
    /// reprioritized or promoted since), not a job no longer pending, not
    /// a job at the top level. Each guard alone (the single-operator
    /// mutants of `promote`'s condition let a stale entry through).
    #[test]
    fn promote_moves_only_a_pending_job_at_the_entrys_version() {
        let word = pending(Priority::Low);
        let version = word.load().version();
        let stale = version.wrapping_sub(1) % VERSION_MODULUS as u32;
        assert_eq!(word.promote(stale), None, "a stale entry promoted");
        assert_eq!(word.load().level(), 3);
        let promoted = word.promote(version).expect("a current entry promotes");
        assert_eq!(promoted.level, 2);
        assert_eq!(word.load().level(), 2);
        assert_eq!(word.promote(version), None, "the same entry promoted twice");

        let claimed = pending(Priority::Low);
        let version = claimed.load().version();
        claimed.claim(version, false).expect("claimed");
        assert_eq!(claimed.promote(version), None, "a claimed job promoted");
        assert_eq!(claimed.load().level(), 3);

        let top = pending(Priority::Critical);
        assert_eq!(top.promote(top.load().version()), None);
        assert_eq!(top.load().level(), 0);
    }
}
