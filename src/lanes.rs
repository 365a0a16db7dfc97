//! Ready lanes: lock-free FIFO queues of pending jobs, one per priority level,
//! grouped per (runner type, cluster[, user]).
//!
//! An entry carries the job and the version its state word had when the job
//! entered the lane. Entries are never searched for or removed from the
//! middle: when a job leaves its lane another way (cancelled, reprioritized,
//! promoted by aging, given a new dependency) its version moves on, and the
//! claimer that later pops the old entry sees the mismatch and skips it.

use crate::append_list::AppendList;
use crate::cluster::Cluster;
use crate::ids::{ClusterId, UserId};
use crate::job::Job;
use crate::spec::Priority;
use crate::sync::{AtomicU64, AtomicUsize, CachePadded, Fifo, Mutex, RecordQueue};
use crate::wake::WakeSignal;
use std::sync::Arc;

/// One lane entry: the job, the version that makes the entry current, and
/// the level of the lane it was put in (set aside, it keeps it: its stale
/// count is that level's).
pub(crate) struct LaneEntry<T> {
    pub(crate) job: Arc<Job<T>>,
    pub(crate) version: u32,
    pub(crate) level: u8,
}

/// One level's lane of a group: its entries in FIFO order, in a queue
/// whose claimer can prefetch the records of the entries behind the one it
/// takes (`record_fifo.rs`). An entry's version and level travel as its
/// tag.
pub(crate) struct Lane<T>(RecordQueue<Job<T>>);

impl<T> Lane<T> {
    fn new() -> Lane<T> {
        Lane(RecordQueue::new())
    }

    /// Appends an entry.
    #[inline]
    pub(crate) fn push(&self, entry: LaneEntry<T>) {
        let tag = u64::from(entry.version) | u64::from(entry.level) << 32;
        self.0.push(entry.job, tag);
    }

    /// Takes the oldest entry.
    #[inline]
    pub(crate) fn pop(&self) -> Option<LaneEntry<T>> {
        self.0.pop().map(entry_of)
    }

    /// Takes the oldest entry and prefetches the records of the next ones
    /// (`record_fifo::LOOK_AHEAD`), so that the claims that take them do
    /// not wait for memory: at a million queued jobs, a claim's first touch
    /// of its record was a miss to DRAM (BENCHMARKS.md, "Lanes that show
    /// the next record").
    #[inline]
    pub(crate) fn pop_prefetching(&self) -> Option<LaneEntry<T>> {
        self.0.pop_looking_ahead(Job::prefetch).map(entry_of)
    }

    /// Whether it holds no entry.
    #[inline]
    pub(crate) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// How many entries it holds, stale ones included.
    pub(crate) fn len(&self) -> usize {
        self.0.len()
    }

    /// How many entries satisfy `matches` (the models' lane probe).
    #[cfg(any(dagqueue_loom, dagqueue_shuttle))]
    pub(crate) fn count(&self, matches: impl Fn(&LaneEntry<T>) -> bool) -> usize {
        self.0
            .count(|job, tag| matches(&entry_of((Arc::clone(job), tag))))
    }
}

/// The entry a lane's `(record, tag)` stands for.
#[inline]
fn entry_of<T>((job, tag): (Arc<Job<T>>, u64)) -> LaneEntry<T> {
    LaneEntry {
        job,
        version: tag as u32,
        level: (tag >> 32) as u8,
    }
}

/// The lanes of one (runner, cluster[, user]) group.
pub(crate) struct LaneGroup<T> {
    /// The identity of the queue it belongs to: a report of a claim checks
    /// it, so a claim of another queue is stale there.
    pub(crate) queue: u64,
    /// Its number in the queue (0, 1, 2... in order of creation): its row
    /// in the status counts.
    pub(crate) index: usize,
    /// The runner type whose jobs it holds.
    pub(crate) runner: crate::ids::RunnerType,
    /// The waiters of its runner type (shared by the runner's groups): a
    /// job entering one of its lanes wakes one.
    pub(crate) wake: Arc<WakeSignal>,
    /// The cluster whose slots this group's jobs take (`None`: unlimited).
    pub(crate) cluster: Option<Arc<Cluster>>,
    /// That cluster's id, kept here so that a submit finds its group
    /// without touching the cluster (whose first cache line holds the slot
    /// word every claim and completion changes). A cluster, once
    /// registered, is never replaced: the id names it.
    cluster_id: Option<ClusterId>,
    /// With fair share, the user whose jobs this group holds.
    pub(crate) user: Option<UserId>,
    /// One lane per level, best first.
    pub(crate) lanes: [Lane<T>; Priority::LEVELS],
    /// With aging: entries waiting to be promoted, per level (level 0 unused).
    pub(crate) aging: [Fifo<AgingEntry<T>>; Priority::LEVELS],
    /// The aging sweeper's looked-at-but-not-yet-due entry per level; only the
    /// sweeper (holding the queue's aging lock) touches it.
    pub(crate) aging_head: Mutex<[Option<AgingEntry<T>>; Priority::LEVELS]>,
    /// Entries set aside because their job does not fit a slot of the
    /// group's cluster, until that cluster's resources change
    /// (`queue/clusters.rs` holds the protocol). Kept here, not in the
    /// cluster, so that a cluster knows nothing of lanes.
    pub(crate) set_aside: Fifo<LaneEntry<T>>,
    /// Per level, about how many entries of that level (in its lane or set
    /// aside) are stale: raised by the operation that turns an entry stale,
    /// lowered by whoever drops one (`queue/compact.rs`). Padded: they
    /// change on reprioritize and cancel, and must not share a line that
    /// every claim reads.
    pub(crate) stale: CachePadded<[AtomicUsize; Priority::LEVELS]>,
    /// The compactions of its runner type's lanes (shared by the runner's
    /// groups).
    pub(crate) compaction: Arc<Compaction>,
}

/// The compactions of one runner type's lanes: a compaction takes each
/// entry out of its lane and puts the current ones back (`queue/compact.rs`
/// holds the protocol).
pub(crate) struct Compaction {
    /// Odd while a compaction may hold an entry out of its lane: a claim
    /// that found nothing reads it before and after looking, and looks
    /// again if it moved.
    pub(crate) generation: AtomicU64,
    /// Held by the thread compacting (taken with `try_lock`: a compaction
    /// never waits for another); a claim that found nothing while it was
    /// held waits for it, then looks again.
    pub(crate) running: Mutex<()>,
}

impl Compaction {
    fn new() -> Compaction {
        Compaction {
            generation: AtomicU64::new(0),
            running: Mutex::new(()),
        }
    }
}

/// An entry of an aging queue: promote the job at `due_micros` if it is still
/// pending at `version`.
pub(crate) struct AgingEntry<T> {
    pub(crate) job: Arc<Job<T>>,
    pub(crate) version: u32,
    pub(crate) due_micros: u64,
}

impl<T> LaneGroup<T> {
    fn new(
        queue: u64,
        index: usize,
        runner: crate::ids::RunnerType,
        wake: Arc<WakeSignal>,
        compaction: Arc<Compaction>,
        cluster: Option<Arc<Cluster>>,
        user: Option<UserId>,
    ) -> LaneGroup<T> {
        LaneGroup {
            queue,
            index,
            runner,
            wake,
            cluster_id: cluster.as_ref().map(|cluster| cluster.id),
            cluster,
            user,
            lanes: core::array::from_fn(|_| Lane::new()),
            aging: core::array::from_fn(|_| Fifo::new()),
            aging_head: Mutex::new([None, None, None, None, None]),
            set_aside: Fifo::new(),
            stale: CachePadded::new(core::array::from_fn(|_| AtomicUsize::new(0))),
            compaction,
        }
    }

    /// The entries in its lanes and set aside, stale ones included.
    pub(crate) fn entries(&self) -> usize {
        self.lanes.iter().map(Lane::len).sum::<usize>() + self.set_aside.len()
    }

    /// Whether this group serves `cluster` (and `user`, with fair share).
    fn serves(&self, cluster: Option<ClusterId>, user: Option<UserId>) -> bool {
        self.cluster_id == cluster && self.user == user
    }
}

/// The lane groups of one runner type, in order of first use: added (under
/// `RunnerLanes::grow`), never removed, so a claim reads the list without
/// writing any shared memory.
pub(crate) type GroupList<T> = AppendList<Arc<LaneGroup<T>>>;

/// All lane groups of one runner type, in order of first use, and the
/// round-robin cursor over them.
pub(crate) struct RunnerLanes<T> {
    /// The identity of the queue its groups belong to.
    queue: u64,
    /// Its runner type.
    runner: crate::ids::RunnerType,
    /// The workers waiting for jobs of this runner type.
    pub(crate) wake: Arc<WakeSignal>,
    /// The compactions of its groups' lanes.
    pub(crate) compaction: Arc<Compaction>,
    /// Append-only; a new group (rare) is added under `grow`.
    pub(crate) groups: GroupList<T>,
    /// Index of the group to look at first within a level.
    pub(crate) cursor: crate::sync::AtomicUsize,
    grow: Mutex<()>,
}

impl<T> RunnerLanes<T> {
    /// Whether any lane of any group holds an entry (perhaps stale): a
    /// waiter that claimed passes its wake-up on if so. Entries set aside
    /// (waiting for a cluster's resources) do not count: a change of
    /// resources wakes every waiter.
    pub(crate) fn has_entries(&self) -> bool {
        self.groups
            .iter()
            .any(|group| group.lanes.iter().any(|lane| !lane.is_empty()))
    }

    pub(crate) fn new(queue: u64, runner: crate::ids::RunnerType) -> RunnerLanes<T> {
        RunnerLanes {
            queue,
            runner,
            wake: Arc::new(WakeSignal::new()),
            compaction: Arc::new(Compaction::new()),
            groups: AppendList::new(),
            cursor: crate::sync::AtomicUsize::new(0),
            grow: Mutex::new(()),
        }
    }

    /// The group for (cluster, user), created at the end of the list if new
    /// (numbered from the queue's `group_count`); `cluster_of` gives the
    /// cluster (registering it if new) only then.
    #[inline]
    pub(crate) fn group_for(
        &self,
        cluster: Option<ClusterId>,
        user: Option<UserId>,
        group_count: &crate::sync::AtomicUsize,
        cluster_of: impl FnOnce(ClusterId) -> Arc<Cluster>,
    ) -> Arc<LaneGroup<T>> {
        match self.find_group(cluster, user) {
            Some(group) => group,
            None => self.add_group(cluster.map(cluster_of).as_ref(), user, group_count),
        }
    }

    /// The group serving (cluster, user), if there is one yet.
    #[inline]
    fn find_group(
        &self,
        cluster: Option<ClusterId>,
        user: Option<UserId>,
    ) -> Option<Arc<LaneGroup<T>>> {
        self.groups
            .iter()
            .find(|g| g.serves(cluster, user))
            .cloned()
    }

    /// [`group_for`](Self::group_for)'s first call for (cluster, user):
    /// under `grow`, finds the group again or appends it. Out of line and
    /// cold: the new group is built on the stack (3.7 KB: its padded
    /// lanes), a frame every submit reserved while this was inlined.
    #[cold]
    #[inline(never)]
    fn add_group(
        &self,
        cluster: Option<&Arc<Cluster>>,
        user: Option<UserId>,
        group_count: &crate::sync::AtomicUsize,
    ) -> Arc<LaneGroup<T>> {
        let _grow = self.grow.lock();
        if let Some(group) = self.find_group(cluster.map(|cluster| cluster.id), user) {
            return group;
        }
        if let Some(cluster) = cluster {
            cluster.note_runner(&self.wake);
        }
        // Relaxed: only uniqueness matters (readers get the group, and its
        // index, through the list's publication).
        let index = group_count.fetch_add(1, crate::sync::Ordering::Relaxed);
        let group = Arc::new(LaneGroup::new(
            self.queue,
            index,
            self.runner,
            Arc::clone(&self.wake),
            Arc::clone(&self.compaction),
            cluster.cloned(),
            user,
        ));
        self.groups.push(Arc::clone(&group));
        group
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_runner_keeps_every_group_in_order() {
        let lanes = RunnerLanes::<()>::new(0, crate::ids::RunnerType::DEFAULT);
        let count = crate::sync::AtomicUsize::new(0);
        let groups: Vec<_> = (0..100)
            .map(|user| lanes.group_for(None, Some(UserId(user)), &count, |_| unreachable!()))
            .collect();
        assert_eq!(lanes.groups.len(), 100);
        for (index, group) in groups.iter().enumerate() {
            assert!(Arc::ptr_eq(lanes.groups.get(index), group));
            assert!(Arc::ptr_eq(
                &lanes.group_for(None, Some(UserId(index as u32)), &count, |_| unreachable!()),
                group
            ));
        }
        assert_eq!(lanes.groups.len(), 100);
    }
}
