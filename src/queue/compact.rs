//! Compaction: a lane's stale entries stay below its live ones.
//!
//! An entry goes stale when its job leaves the lane another way than by a
//! claim: cancelled, reprioritized to another level, promoted by aging,
//! given a new dependency, or ended by one. Nothing searches a lane (a
//! lock-free FIFO cannot remove from the middle); the claimer that pops a
//! stale entry drops it. Without claims they pile up: 2M `reprioritize`
//! calls on one job once left 2M entries (48 MB), and the next claim
//! skipped them all (29 ms).
//!
//! So the operation that turns an entry stale counts it in its group, at
//! the entry's level ([`LaneGroup::stale`]; whoever drops one counts it
//! down, at the level the entry remembers), and when that level's stale
//! entries number at least [`MIN_STALE`] and more than half of its lane
//! and the group's set-aside list together, compacts the level: it takes
//! each entry of the lane and of the set-aside list out once, in order,
//! and puts the current ones back at the back (and its aging queue's, if
//! that grew past twice the lane). A lane therefore holds at most its live
//! entries plus as many stale ones (fewer when entries are set aside),
//! plus 31 (plus those turned stale during a compaction), and a claim skips
//! no more than that in it: a lane with no live job holds at most 31 stale
//! entries, whatever the other lanes hold. A compaction's work, at most
//! twice the stale entries it drops, is paid once per entry turned stale,
//! like a vector's doubling.
//!
//! Order: a compaction keeps the order of the entries it moves; a job that
//! enters the lane while it runs may be served before older ones of its
//! level (and an aging entry may wait behind a newer one for as long as
//! the compaction took).
//!
//! ## With claims
//!
//! While a compaction holds an entry between its pop and its push, a claim
//! could find the lane empty and return `None` with a job pending. So a
//! compaction makes its runner type's [`Compaction::generation`] odd before
//! its first pop and even after its last push, holding
//! [`Compaction::running`] throughout; [`JobQueue::claim_from`] reads the
//! generation before it looks and, if it found nothing, again after: if
//! it moved or is odd, it waits for the compaction's lock and looks again.
//! Orderings: the first increment is sequenced before the compaction's
//! pops, each a release on the lane (the head's AcqRel CAS in
//! `record_fifo.rs`, a mutex in the model builds); a claim that found the
//! lane empty because of such a pop read that write with an acquire, so
//! its second read of the generation (after, in program order) sees the
//! increment. The last increment is a
//! release after the last push; a claim whose second read returns it
//! acquires the pushes, and its next look finds them.
//!
//! Loom model 37 races a compaction with a claim, with the negative
//! control `unguarded_compaction` (claims do not check the generation).

use super::JobQueue;
use crate::job::word::Word;
use crate::job::Job;
use crate::lanes::{Compaction, LaneEntry, LaneGroup};
use crate::sync::{Mutex, Ordering};
use crate::view::JobState;

/// The fewest stale entries that make a lane worth compacting (one, in the
/// model builds, so that a model with a few jobs reaches a compaction).
#[cfg(not(any(dagqueue_loom, dagqueue_shuttle)))]
pub(crate) const MIN_STALE: usize = 32;
#[cfg(any(dagqueue_loom, dagqueue_shuttle))]
pub(crate) const MIN_STALE: usize = 1;

impl<T> JobQueue<T> {
    /// `job`'s current lane entry, of level `level` (in its lane or set
    /// aside), just went stale by the caller's CAS: count it, and compact
    /// that level if its stale entries outnumber the rest.
    pub(super) fn entry_went_stale(&self, job: &Job<T>, level: usize) {
        let group = job.group();
        // Relaxed: a count that decides when to compact; a wrong reading
        // only moves a compaction earlier or later.
        let stale = group.stale[level]
            .fetch_add(1, Ordering::Relaxed)
            .wrapping_add(1);
        // Below zero for a moment (another thread dropped an entry before
        // its counting) it wraps to a huge value: one compaction too many,
        // a cost only.
        if stale >= MIN_STALE
            && stale.saturating_mul(2) > group.lanes[level].len() + group.set_aside.len()
        {
            self.compact(group, level);
        }
    }

    /// The caller's CAS took `job` from `old`: if that was `Pending`, the
    /// job's lane entry (of `old`'s level) just went stale. For the
    /// operations that end or block a queued job (cancel, an end by a
    /// dependency, a new dependency); a move to another lane (reprioritize,
    /// aging) knows its level and calls [`Self::entry_went_stale`].
    pub(super) fn left_pending(&self, job: &Job<T>, old: Word) {
        if old.state() == Some(JobState::Pending) {
            self.entry_went_stale(job, old.level());
        }
    }

    /// A stale entry of `group` was dropped.
    #[inline]
    pub(super) fn stale_entry_dropped(group: &LaneGroup<T>, entry: &LaneEntry<T>) {
        // Relaxed: as `entry_went_stale`.
        group.stale[usize::from(entry.level)].fetch_sub(1, Ordering::Relaxed);
    }

    /// Takes every entry of `group`'s lane at `level` (and of its set-aside
    /// list, where the level's stale entries may also be) out once and puts
    /// the current ones back, in order; and its aging queue at that level if
    /// that has grown past twice the lane. Skipped if another compaction of
    /// the runner type is running (it is tried again at the next stale
    /// entry).
    pub(super) fn compact(&self, group: &LaneGroup<T>, level: usize) {
        let compaction = &*group.compaction;
        let Some(_running) = compaction.running.try_lock() else {
            return;
        };
        // Odd from here: see the module's comment for the orderings.
        compaction.generation.fetch_add(1, Ordering::AcqRel);
        let lane = &group.lanes[level];
        for _ in 0..lane.len() {
            let Some(entry) = lane.pop() else {
                break;
            };
            if is_current(&entry.job, entry.version) {
                lane.push(entry);
            } else {
                Self::stale_entry_dropped(group, &entry);
            }
        }
        if let Some(cluster) = group.cluster.as_deref() {
            // Put back through `set_aside`, judged with the resources read
            // before the pops: a change of resources meanwhile restores them
            // (its protocol, `queue/clusters.rs`).
            let generation = cluster.resources_generation();
            for _ in 0..group.set_aside.len() {
                let Some(entry) = group.set_aside.pop() else {
                    break;
                };
                if is_current(&entry.job, entry.version) {
                    self.set_aside(group, cluster, generation, entry);
                } else {
                    Self::stale_entry_dropped(group, &entry);
                }
            }
        }
        let aging = &group.aging[level];
        // Its live entries are at most the lane's: past twice that, at least
        // half of what is moved is dropped.
        if self.aging.is_some() && aging.len() > 2 * lane.len() + MIN_STALE {
            // The sweeper holds this lock while it looks at the aging queues.
            let _heads = group.aging_head.lock();
            for _ in 0..aging.len() {
                let Some(entry) = aging.pop() else {
                    break;
                };
                if is_current(&entry.job, entry.version) {
                    aging.push(entry);
                }
            }
        }
        // Even again. Release: a claim that reads this looks again and
        // finds the entries put back.
        compaction.generation.fetch_add(1, Ordering::Release);
    }
}

/// Whether an entry at `version` is still its job's current one.
fn is_current<T>(job: &Job<T>, version: u32) -> bool {
    let word = job.word.load();
    word.state() == Some(JobState::Pending) && word.version() == version
}

impl Compaction {
    /// The generation, read by a claim before it looks. Acquire: pairs
    /// with the release that ends a compaction.
    #[inline]
    pub(crate) fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// A claim that found nothing, having read `before` before it looked:
    /// whether it must look again (a compaction ran or runs meanwhile); if
    /// one is running, waits for it first.
    #[inline]
    pub(crate) fn look_again(&self, before: u64) -> bool {
        let now = self.generation();
        if now == before && now % 2 == 0 {
            return false;
        }
        if now % 2 == 1 {
            wait_for(&self.running);
        }
        true
    }
}

/// Waits until `lock` is free.
#[cold]
fn wait_for(lock: &Mutex<()>) {
    drop(lock.lock());
}

#[cfg(all(test, not(any(dagqueue_loom, dagqueue_shuttle))))]
mod tests {
    use crate::{JobId, JobQueue, JobSpec, Priority, RunnerType};

    const R: RunnerType = RunnerType::DEFAULT;

    /// The stale counts of the default runner's first group, by level.
    fn stale_counts(q: &JobQueue) -> Vec<usize> {
        let lanes = q.runner_lanes(R).expect("the runner's lanes");
        let group = lanes.groups.get(0);
        group
            .stale
            .iter()
            .map(|count| count.load(crate::sync::Ordering::Relaxed))
            .collect()
    }

    /// With aging on, each move to a level below the top also queues an
    /// aging entry there; a level's compaction drops its aging queue's
    /// stale entries once they outnumber twice the lane plus `MIN_STALE`,
    /// so that queue stays small however long the churn. (Mutation
    /// testing: the threshold inverted, or multiplied by `MIN_STALE`, let
    /// it grow.)
    #[test]
    fn aging_queues_stay_bounded_under_churn() {
        let q = JobQueue::builder()
            .aging(std::time::Duration::from_secs(3600))
            .build()
            .unwrap();
        // Ten jobs wait at Low (so that lane is never short), job 1 moves.
        for id in 1..=10 {
            q.submit(JobSpec::new(JobId(id)).priority(Priority::Low))
                .unwrap();
        }
        let lanes = q.runner_lanes(R).expect("the runner's lanes");
        let group = lanes.groups.get(0);
        // Fewer under Miri (still several compactions of each lane).
        let calls = if cfg!(miri) { 120 } else { 10_000 };
        for call in 0..calls {
            let priority = if call % 2 == 0 {
                Priority::Normal
            } else {
                Priority::Low
            };
            q.reprioritize(JobId(1), priority).unwrap();
            for level in 1..Priority::LEVELS {
                let (aging, lane) = (group.aging[level].len(), group.lanes[level].len());
                assert!(
                    aging <= 2 * lane + super::MIN_STALE + 1,
                    "call {call}: {aging} aging entries at level {level}, lane {lane}"
                );
            }
        }
    }

    /// Every stale entry counted up is counted down by whoever drops it: a
    /// claim that drains the lanes leaves every count at zero (a count that
    /// only grew would compact at every stale entry, however long the
    /// lane). (Mutation testing: the count-down emptied went unseen.)
    #[test]
    fn the_stale_counts_return_to_zero_when_the_lanes_are_drained() {
        let q = JobQueue::new();
        q.submit(JobSpec::new(JobId(1)).priority(Priority::Low))
            .unwrap();
        for call in 0..21 {
            let priority = if call % 2 == 0 {
                Priority::High
            } else {
                Priority::Low
            };
            q.reprioritize(JobId(1), priority).unwrap();
        }
        // 21 moves: 11 stale entries at Low, 10 at High (below MIN_STALE:
        // no compaction yet).
        assert_eq!(stale_counts(&q), [0, 10, 0, 11, 0]);
        assert_eq!(q.claim(R).map(|c| c.job()), Some(JobId(1)));
        assert!(q.claim(R).is_none());
        assert_eq!(stale_counts(&q), [0; 5]);
        assert_eq!(q.lane_entries(), 0);
    }
}
