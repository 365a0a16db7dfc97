//! Clusters as the queue sees them: registration, capacity, pause and resume,
//! slot resources, and the whole set-aside protocol (a claimer sets aside a
//! job that does not fit a slot; `set_cluster_resources` puts such jobs
//! back; the generation re-check between them loses none).

use super::JobQueue;
use crate::cluster::Cluster;
use crate::config::check_capacity;
use crate::error::Error;
use crate::ids::ClusterId;
use crate::lanes::{LaneEntry, LaneGroup};
use crate::spec::Resources;
use crate::sync::{fence, Ordering};
use crate::view::JobState;
use core::ptr;
use std::sync::Arc;

impl<T> JobQueue<T> {
    pub(super) fn cluster_or_create(&self, id: ClusterId, capacity: u32) -> (Arc<Cluster>, bool) {
        let mut created = false;
        let cluster = self.clusters.get_or_insert_with(id, || {
            created = true;
            Arc::new(Cluster::new(id, capacity, self.faults))
        });
        (cluster, created)
    }

    /// A cluster named by an operation other than a declaration (a job,
    /// `pause_cluster`, `resume_cluster`): registered with the default
    /// capacity if new, or `UnknownCluster` with declared clusters only.
    pub(super) fn named_cluster(&self, id: ClusterId) -> Result<Arc<Cluster>, Error> {
        self.check_cluster_named(id)?;
        Ok(self.cluster_or_create(id, self.config.default_capacity()).0)
    }

    /// Whether an operation may name cluster `id` (always, unless clusters
    /// must be declared and it was not). Registers nothing.
    pub(super) fn check_cluster_named(&self, id: ClusterId) -> Result<(), Error> {
        if self.config.declared_clusters_only() && self.clusters.get_cloned(&id).is_none() {
            return Err(Error::UnknownCluster(id));
        }
        Ok(())
    }

    /// Sets (or registers) a cluster's concurrency limit. Lowering it below the
    /// number running stops new claims until enough finish.
    ///
    /// # Errors
    /// `ZeroCapacity`, `CapacityTooLarge`.
    ///
    /// ```
    /// use dagqueue::*;
    /// let q = JobQueue::new();
    /// q.set_cluster_capacity(ClusterId(1), 1).unwrap();
    /// q.submit(JobSpec::new(JobId(1)).cluster(ClusterId(1))).unwrap();
    /// q.submit(JobSpec::new(JobId(2)).cluster(ClusterId(1))).unwrap();
    /// assert!(q.claim(RunnerType::DEFAULT).is_some());
    /// assert!(q.claim(RunnerType::DEFAULT).is_none()); // full
    /// assert_eq!(q.set_cluster_capacity(ClusterId(1), 0), Err(Error::ZeroCapacity(ClusterId(1))));
    /// ```
    pub fn set_cluster_capacity(&self, cluster: ClusterId, capacity: u32) -> Result<(), Error> {
        check_capacity(cluster, capacity)?;
        let (entry, created) = self.cluster_or_create(cluster, capacity);
        if !created {
            entry.set_capacity(capacity);
        }
        self.wake_all_runners();
        Ok(())
    }

    /// Pauses a cluster: running jobs go on; once this returns, no new claim
    /// on it succeeds until [`resume_cluster`](JobQueue::resume_cluster).
    ///
    /// Pausing a cluster nobody named yet registers it, paused, with the
    /// default capacity (a maintenance window can start before the jobs
    /// arrive), unless the queue takes [declared clusters
    /// only](crate::JobQueueBuilder::declared_clusters_only).
    ///
    /// # Errors
    /// `UnknownCluster`, only with declared clusters only.
    ///
    /// ```
    /// use dagqueue::*;
    /// let q = JobQueue::new();
    /// q.set_cluster_capacity(ClusterId(1), 4).unwrap();
    /// q.submit(JobSpec::new(JobId(1)).cluster(ClusterId(1))).unwrap();
    /// q.pause_cluster(ClusterId(1)).unwrap();
    /// assert!(q.claim(RunnerType::DEFAULT).is_none());
    /// q.pause_cluster(ClusterId(9)).unwrap(); // registered, paused
    /// assert!(q.status().clusters[&ClusterId(9)].paused);
    ///
    /// let strict = JobQueue::builder().declared_clusters_only(true).build().unwrap();
    /// assert_eq!(strict.pause_cluster(ClusterId(9)), Err(Error::UnknownCluster(ClusterId(9))));
    /// ```
    // Returns once the paused flag is set and every claim that reserved a
    // slot before it has settled.
    pub fn pause_cluster(&self, cluster: ClusterId) -> Result<(), Error> {
        let entry = self.named_cluster(cluster)?;
        entry.pause();
        Ok(())
    }

    /// Resumes a paused cluster (resuming a running one is not an error;
    /// naming a new one registers it, as [`pause_cluster`](JobQueue::pause_cluster) does).
    ///
    /// # Errors
    /// `UnknownCluster`, only with declared clusters only.
    ///
    /// ```
    /// use dagqueue::*;
    /// let q = JobQueue::new();
    /// q.set_cluster_capacity(ClusterId(1), 4).unwrap();
    /// q.submit(JobSpec::new(JobId(1)).cluster(ClusterId(1))).unwrap();
    /// q.pause_cluster(ClusterId(1)).unwrap();
    /// q.resume_cluster(ClusterId(1)).unwrap();
    /// assert!(q.claim(RunnerType::DEFAULT).is_some());
    /// ```
    pub fn resume_cluster(&self, cluster: ClusterId) -> Result<(), Error> {
        let entry = self.named_cluster(cluster)?;
        entry.resume();
        if !self.faults.silent_resume() {
            self.wake_all_runners();
        }
        Ok(())
    }

    /// Sets (or registers, with the default capacity) the resources of one
    /// slot of a cluster, and puts back the jobs that were set aside for not
    /// fitting. Never fails today; the `Result` leaves room for checks.
    ///
    /// # Errors
    /// None yet.
    ///
    /// ```
    /// use dagqueue::*;
    /// let q = JobQueue::new();
    /// let node = Resources { cores: 8, memory_gb: 32 };
    /// q.set_cluster_resources(ClusterId(1), node).unwrap();
    /// let big = Resources { cores: 16, memory_gb: 8 };
    /// q.submit(JobSpec::new(JobId(1)).cluster(ClusterId(1)).resources(big)).unwrap();
    /// assert!(q.claim(RunnerType::DEFAULT).is_none()); // set aside: it does not fit
    /// q.set_cluster_resources(ClusterId(1), big).unwrap();
    /// assert!(q.claim(RunnerType::DEFAULT).is_some());
    /// ```
    pub fn set_cluster_resources(
        &self,
        cluster: ClusterId,
        resources: Resources,
    ) -> Result<(), Error> {
        let (entry, _) = self.cluster_or_create(cluster, self.config.default_capacity());
        entry.set_resources(resources);
        self.restore_set_aside(&entry);
        self.wake_all_runners();
        Ok(())
    }

    /// Sets aside an entry of `group` whose job does not fit a slot of the
    /// group's `cluster`, judged with the resources of `generation`.
    pub(super) fn set_aside(
        &self,
        group: &LaneGroup<T>,
        cluster: &Cluster,
        generation: u64,
        entry: LaneEntry<T>,
    ) {
        group.set_aside.push(entry);
        // SeqCst fence, then SeqCst load: if `set_cluster_resources` bumped
        // the generation after we read it, either we see the bump here and
        // restore the entry ourselves, or its drain (after its own fence)
        // sees our push.
        fence(Ordering::SeqCst);
        if cluster.resources_generation() != generation && !self.faults.unchecked_set_aside() {
            self.restore_set_aside(cluster);
        }
    }

    /// Puts the entries set aside in every group of `cluster` that are
    /// still current back at the back of their lanes, each group's in the
    /// order they were set aside (rare: on a resources change, or when a
    /// claimer saw one race its set-aside).
    pub(super) fn restore_set_aside(&self, cluster: &Cluster) {
        let mut restored = false;
        for lanes in self.all_runner_lanes() {
            for group in lanes.groups.iter() {
                if !group
                    .cluster
                    .as_deref()
                    .is_some_and(|c| ptr::eq(c, cluster))
                {
                    continue;
                }
                while let Some(entry) = group.set_aside.pop() {
                    let word = entry.job.word.load();
                    if word.state() == Some(JobState::Pending) && word.version() == entry.version {
                        group.lanes[word.level()].push(entry);
                        restored = true;
                    } else {
                        Self::stale_entry_dropped(group, &entry);
                    }
                }
            }
        }
        if restored {
            self.wake_all_runners();
        }
    }

    /// The live entries of job `id` in its lane group's lanes (loom
    /// models): entries whose version is its word's, which a claim would
    /// take. One while it is pending, none otherwise.
    #[cfg(any(dagqueue_loom, dagqueue_shuttle))]
    pub(crate) fn live_lane_entries(&self, id: crate::JobId) -> usize {
        let Ok(job) = self.lookup(id) else {
            return 0;
        };
        let version = job.word.load().version();
        job.group()
            .lanes
            .iter()
            .map(|lane| {
                lane.count(|entry| Arc::ptr_eq(&entry.job, &job) && entry.version == version)
            })
            .sum()
    }

    /// One read of a cluster's word (loom models).
    #[allow(dead_code)] // read by the loom models, through `faults::__loom`
    pub(crate) fn cluster_word(&self, id: ClusterId) -> Option<(u32, u32, u32, bool)> {
        let word = self.clusters.get_cloned(&id)?.load();
        Some((
            word.running(),
            word.reserving(),
            word.capacity(),
            word.paused(),
        ))
    }
}
