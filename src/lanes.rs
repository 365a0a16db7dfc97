//! Ready lanes: lock-free FIFO queues of pending jobs, one per priority level,
//! grouped per (runner type, cluster[, user]).
//!
//! An entry carries the job and the version its state word had when the job
//! entered the lane. Entries are never searched for or removed from the
//! middle: when a job leaves its lane another way (cancelled, reprioritized,
//! promoted by aging, given a new dependency) its version moves on, and the
//! claimer that later pops the old entry sees the mismatch and skips it.

use crate::cluster::Cluster;
use crate::job::Job;
use crate::sync::{Fifo, Mutex, Snapshot};
use crate::types::{Priority, UserId};
use std::sync::Arc;

/// One lane entry: the job and the version that makes the entry current.
pub(crate) struct LaneEntry {
    pub(crate) job: Arc<Job>,
    pub(crate) version: u32,
}

/// The lanes of one (runner, cluster[, user]) group.
pub(crate) struct LaneGroup {
    /// The cluster whose slots this group's jobs take (`None`: unlimited).
    pub(crate) cluster: Option<Arc<Cluster>>,
    /// With fair share, the user whose jobs this group holds.
    pub(crate) user: Option<UserId>,
    /// One FIFO per level, best first.
    pub(crate) lanes: [Fifo<LaneEntry>; Priority::LEVELS],
    /// With aging: entries waiting to be promoted, per level (level 0 unused).
    pub(crate) aging: [Fifo<AgingEntry>; Priority::LEVELS],
    /// The aging sweeper's looked-at-but-not-yet-due entry per level; only the
    /// sweeper (holding the queue's aging lock) touches it.
    pub(crate) aging_head: Mutex<[Option<AgingEntry>; Priority::LEVELS]>,
}

/// An entry of an aging queue: promote the job at `due_micros` if it is still
/// pending at `version`.
pub(crate) struct AgingEntry {
    pub(crate) job: Arc<Job>,
    pub(crate) version: u32,
    pub(crate) due_micros: u64,
}

impl LaneGroup {
    fn new(cluster: Option<Arc<Cluster>>, user: Option<UserId>) -> LaneGroup {
        LaneGroup {
            cluster,
            user,
            lanes: core::array::from_fn(|_| Fifo::new()),
            aging: core::array::from_fn(|_| Fifo::new()),
            aging_head: Mutex::new([None, None, None, None, None]),
        }
    }

    /// Whether this group serves `cluster` (and `user`, with fair share).
    fn serves(&self, cluster: Option<&Arc<Cluster>>, user: Option<UserId>) -> bool {
        let same_cluster = match (&self.cluster, cluster) {
            (None, None) => true,
            (Some(a), Some(b)) => Arc::ptr_eq(a, b),
            _ => false,
        };
        same_cluster && self.user == user
    }
}

/// All lane groups of one runner type, in order of first use, and the
/// round-robin cursor over them.
pub(crate) struct RunnerLanes {
    /// Copy-on-write list: claimers read a snapshot; a new group (rare)
    /// replaces the whole list under `grow`.
    pub(crate) groups: Snapshot<Vec<Arc<LaneGroup>>>,
    /// Index of the group to look at first within a level.
    pub(crate) cursor: crate::sync::AtomicUsize,
    grow: Mutex<()>,
}

impl RunnerLanes {
    pub(crate) fn new() -> RunnerLanes {
        RunnerLanes {
            groups: crate::sync::snapshot_new(Vec::new()),
            cursor: crate::sync::AtomicUsize::new(0),
            grow: Mutex::new(()),
        }
    }

    /// The group for (cluster, user), created at the end of the list if new.
    pub(crate) fn group_for(
        &self,
        cluster: Option<&Arc<Cluster>>,
        user: Option<UserId>,
    ) -> Arc<LaneGroup> {
        let find =
            |groups: &Vec<Arc<LaneGroup>>| groups.iter().find(|g| g.serves(cluster, user)).cloned();
        if let Some(group) = find(&crate::sync::snapshot_read(&self.groups)) {
            return group;
        }
        let _grow = self.grow.lock();
        let current = crate::sync::snapshot_load(&self.groups);
        if let Some(group) = find(&current) {
            return group;
        }
        let group = Arc::new(LaneGroup::new(cluster.cloned(), user));
        let mut next = (*current).clone();
        next.push(Arc::clone(&group));
        self.groups.store(Arc::new(next));
        group
    }
}
