//! Claiming: reserve a slot of the group's cluster, pop the lane, CAS the
//! job `Pending` → `Scheduled`, commit the slot. Waiting for a claim,
//! blocking or async, is `wait.rs`.

use super::JobQueue;
use super::Now;
use crate::claim::Claim;
use crate::cluster::Cluster;
use crate::ids::RunnerType;
use crate::job::word::Word;
use crate::job::Job;
use crate::lanes::{LaneGroup, RunnerLanes};
use crate::spec::Priority;
use crate::sync::Ordering;
use crate::view::JobState;
use std::sync::Arc;

impl<T> JobQueue<T> {
    /// Hands the best pending job of this runner type to exactly one caller
    /// (`Pending` → `Scheduled`), taking a slot of its cluster. `None` when no
    /// job of this runner type can be claimed now, or the queue is closed.
    ///
    /// ```
    /// use dagqueue::*;
    /// let q = JobQueue::new();
    /// q.submit(JobSpec::new(JobId(1)).priority(Priority::Low)).unwrap();
    /// q.submit(JobSpec::new(JobId(2)).priority(Priority::High)).unwrap();
    /// assert_eq!(q.claim(RunnerType::DEFAULT).map(|c| c.job()), Some(JobId(2)));
    /// assert_eq!(q.claim(RunnerType(7)), None); // no job of that runner type
    /// ```
    // Linearization point: the CAS pending → scheduled
    // (`StateWord::claim` in `job/word.rs`), made while a slot of the job's
    // cluster is reserved.
    #[must_use = "a claimed job is held until its claim is reported"]
    pub fn claim(&self, runner: RunnerType) -> Option<Claim<T>> {
        if self.is_closed() {
            return None;
        }
        // One clock read serves every step of the claim.
        let now = Now::unread();
        self.sweep_leases_if_due(&now);
        self.release_due_if_any(&now);
        if let Some(aging) = &self.aging {
            self.promote_aged(aging, &now);
        }
        // No closure here: the claim is built straight into the caller's
        // return slot (a 24-byte value handed back through a closure was
        // copied with a 16-byte load over narrower stores, a store-forwarding
        // stall on every claim).
        let lanes = self.runner_lanes(runner)?;
        self.claim_from(&lanes, &now)
    }

    /// Claims from one runner type's lanes: the best job of the first group,
    /// from the cursor on, that has one at the best level.
    pub(super) fn claim_from(&self, lanes: &RunnerLanes<T>, now: &Now) -> Option<Claim<T>> {
        loop {
            // A compaction may hold an entry out of its lane while we look:
            // a claim that found nothing looks again if one ran meanwhile
            // (`queue/compact.rs`).
            let before = lanes.compaction.generation();
            if let Some(claim) = self.look(lanes, now) {
                return Some(claim);
            }
            if self.faults.unguarded_compaction() || !lanes.compaction.look_again(before) {
                return None;
            }
        }
    }

    /// One look over the runner type's groups, level by level.
    fn look(&self, lanes: &RunnerLanes<T>, now: &Now) -> Option<Claim<T>> {
        let groups = &lanes.groups;
        let count = groups.len();
        if count == 0 {
            return None;
        }
        if count == 1 {
            // The common case (one cluster, no fair share): the group
            // looked up once, not once a level. The cursor still records
            // that group 0 was served last, as below: a group added later
            // is looked at first by the next claim (round robin).
            let group = groups.get(0);
            for level in 0..Priority::LEVELS {
                if let Some(claim) = self.claim_in(group, level, now) {
                    served(lanes, 0);
                    return Some(claim);
                }
            }
            return None;
        }
        // Relaxed: the cursor is a fairness hint; any value is safe.
        // It holds one past the group served last (taken modulo the current
        // count: groups may have been added since); no division in the
        // common cases.
        let start = match lanes.cursor.load(Ordering::Relaxed) {
            cursor if cursor < count => cursor,
            cursor if cursor == count => 0,
            cursor => cursor % count,
        };
        for level in 0..Priority::LEVELS {
            let mut index = start;
            for _ in 0..count {
                let group = groups.get(index);
                if let Some(claim) = self.claim_in(group, level, now) {
                    served(lanes, index);
                    return Some(claim);
                }
                index = if index + 1 == count { 0 } else { index + 1 };
            }
        }
        None
    }

    /// Claims from one group's lane at one level, reserving a slot of its
    /// cluster first; `None` if the lane is empty or the cluster is full,
    /// paused, or has no job that fits.
    ///
    /// The emptiness check is inlined into the caller's loop over the
    /// levels: a claim of a `Normal` job passes two empty levels first, and
    /// a call of the claim's body for each was a frame built and torn down
    /// for nothing (inlining the check took a claim from 423 to 366
    /// instructions: BENCHMARKS.md, issue 12, eleventh session).
    #[inline(always)]
    pub(super) fn claim_in(
        &self,
        group: &LaneGroup<T>,
        level: usize,
        now: &Now,
    ) -> Option<Claim<T>> {
        if group.lanes[level].is_empty() {
            return None;
        }
        self.claim_in_lane(group, level, now)
    }

    /// [`claim_in`](Self::claim_in) of a lane found not empty.
    #[inline(never)]
    fn claim_in_lane(&self, group: &LaneGroup<T>, level: usize, now: &Now) -> Option<Claim<T>> {
        let cluster = group.cluster.as_deref();
        if let Some(cluster) = cluster {
            if !cluster.try_reserve() {
                return None;
            }
        }
        let Some((job, word)) = self.take_from_lane(group, level) else {
            if let Some(cluster) = cluster {
                cluster.cancel_reservation();
                // A claimer may have found the cluster full because of our
                // reservation.
                self.wake_slot_waiters(group);
            }
            return None;
        };
        if let Some(cluster) = cluster {
            cluster.commit();
        }
        // The wait of one claim in `WAIT_SAMPLE_EVERY` (per thread) is
        // timed: the others read no clock unless the job holds a lease.
        self.with_tally(|tally| {
            if tally.metrics.wait_sample_due(tally.shared) {
                let wait = now.get(self).saturating_sub(job.ready_at());
                tally.metrics.record_wait(tally.shared, wait);
            }
        });
        if job.lease_millis != 0 {
            self.start_lease(&job, word.attempt(), now.get(self));
        }
        // The lane entry's reference moves into the claim.
        trace_event!(job = job.id.0, attempt = word.attempt(), "claimed");
        Some(Claim::new(job, word.attempt()))
    }

    /// Tries the lanes of one group at one level, with a slot of its cluster
    /// already reserved. Returns the claimed job and its new word.
    pub(super) fn take_from_lane(
        &self,
        group: &LaneGroup<T>,
        level: usize,
    ) -> Option<(Arc<Job<T>>, Word)> {
        let lane = &group.lanes[level];
        let cluster = group.cluster.as_deref();
        let generation = cluster.map(Cluster::resources_generation);
        while let Some(entry) = lane.pop_prefetching() {
            // Cheap filter before the CAS: skip entries that are stale.
            let word = entry.job.word.load();
            if word.state() != Some(JobState::Pending) || word.version() != entry.version {
                Self::stale_entry_dropped(group, &entry);
                continue;
            }
            if let (Some(cluster), Some(generation)) = (cluster, generation) {
                if !cluster.fits(&entry.job.resources) {
                    self.set_aside(group, cluster, generation, entry);
                    continue;
                }
            }
            if let Some((old, new)) = entry.job.word.claim(entry.version, self.marking()) {
                self.transitioned(&entry.job, old, new);
                return Some((entry.job, new));
            }
            // It went stale since the load.
            Self::stale_entry_dropped(group, &entry);
        }
        None
    }
}

/// Group `index` of `lanes` was served: the cursor moves one past it.
/// Written only when it moves: an unchanged cursor stays a read-shared
/// cache line. Relaxed: the cursor is a fairness hint.
#[inline]
fn served<T>(lanes: &RunnerLanes<T>, index: usize) {
    if lanes.cursor.load(Ordering::Relaxed) != index + 1 {
        lanes.cursor.store(index + 1, Ordering::Relaxed);
    }
}
