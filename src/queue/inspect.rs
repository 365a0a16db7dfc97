//! Reading the queue without changing it: one job, its dependencies, the
//! schedulable list, status and metrics; and `prune_finished`.

use super::JobQueue;
use crate::error::Error;
use crate::ids::{JobId, RunnerType};
use crate::job::word::{EndKind, Word};
use crate::job::Job;
use crate::view::{JobEnd, JobState, JobView, Metrics, QueueStatus};
use std::sync::Arc;

impl<T> JobQueue<T> {
    /// A job's state.
    ///
    /// # Errors
    /// `UnknownJob`.
    ///
    /// ```
    /// use dagqueue::*;
    /// let q = JobQueue::new();
    /// q.submit(JobSpec::new(JobId(1))).unwrap();
    /// assert_eq!(q.state(JobId(1)), Ok(JobState::Pending));
    /// assert_eq!(q.state(JobId(2)), Err(Error::UnknownJob(JobId(2))));
    /// ```
    pub fn state(&self, job: JobId) -> Result<JobState, Error> {
        self.job(job).map(|view| view.state)
    }

    /// A consistent view of one job.
    ///
    /// # Errors
    /// `UnknownJob`.
    ///
    /// ```
    /// use dagqueue::*;
    /// let q = JobQueue::new();
    /// q.submit(JobSpec::new(JobId(1)).priority(Priority::High)).unwrap();
    /// let view = q.job(JobId(1)).unwrap();
    /// assert_eq!((view.state, view.priority, view.attempt), (JobState::Pending, Priority::High, 0));
    /// ```
    pub fn job(&self, id: JobId) -> Result<JobView, Error> {
        let job = self.lookup(id)?;
        self.view(&job, job.word.load())
            .ok_or(Error::UnknownJob(id))
    }

    /// The view of `job` at `word` (`None` while it is being submitted).
    pub(super) fn view(&self, job: &Job<T>, word: Word) -> Option<JobView> {
        let end = word.end_kind().map(|kind| self.end_of(job, word, kind));
        Some(JobView::new(
            job.id,
            word.state()?,
            word.priority(),
            word.attempt(),
            word.cancel_requested(),
            end,
        ))
    }

    /// How a terminal job ended, with the details kept beside its word.
    fn end_of(&self, job: &Job<T>, word: Word, kind: EndKind) -> JobEnd {
        let dependency = || {
            // Written before the CAS that ended the job: always there.
            self.dependency_ends
                .get_cloned(&job.incarnation)
                .map_or(job.id, |(dependency, _)| dependency)
        };
        match kind {
            EndKind::Succeeded => JobEnd::Succeeded,
            EndKind::FailedByWorker => JobEnd::Failed {
                attempts: word.attempt(),
                reason: self
                    .failure_reasons
                    .get_cloned(&job.incarnation)
                    .map(|(_, reason)| reason),
            },
            EndKind::DependencyFailed => JobEnd::DependencyFailed {
                dependency: dependency(),
            },
            EndKind::LeaseExpired => JobEnd::LeaseExpired {
                attempts: word.attempt(),
            },
            EndKind::CancelledByUser => JobEnd::Cancelled,
            EndKind::DependencyCancelled => JobEnd::DependencyCancelled {
                dependency: dependency(),
            },
            EndKind::DependencySucceeded => JobEnd::DependencySucceeded {
                dependency: dependency(),
            },
        }
    }

    /// Whether every dependency of the job has ended in a way its edge's
    /// kind accepts (completed, for the default after-success edges).
    ///
    /// # Errors
    /// `UnknownJob`.
    ///
    /// ```
    /// use dagqueue::*;
    /// let q = JobQueue::new();
    /// q.submit(JobSpec::new(JobId(1))).unwrap();
    /// q.submit(JobSpec::new(JobId(2)).depends_on([JobId(1)])).unwrap();
    /// assert_eq!(q.dependencies_satisfied(JobId(1)), Ok(true));
    /// assert_eq!(q.dependencies_satisfied(JobId(2)), Ok(false));
    /// ```
    // Reads the job's dependency snapshot and each dependency's state word.
    pub fn dependencies_satisfied(&self, id: JobId) -> Result<bool, Error> {
        let job = self.lookup(id)?;
        let dependencies = job.dependency_list();
        let satisfied = dependencies
            .iter()
            .all(|edge| match self.resolve_edge(&edge) {
                Some(dependency) => dependency
                    .word
                    .load()
                    .state()
                    .is_some_and(|state| state.is_terminal() && edge.kind().releases(state)),
                // Pruned: it had finished; had it ended in a way the
                // edge does not accept, this job would have ended too and nobody
                // would ask.
                None => true,
            });
        Ok(satisfied)
    }

    /// The pending jobs of this runner type that could be claimed now (their
    /// cluster not paused, not full, their resources fitting), best first:
    /// by level served at, then the time they entered it, then id. Claims nothing.
    ///
    /// A scan of every known job (O(jobs)), unlike [`status`](JobQueue::status):
    /// meant for a preview or a debugging view, not for every tick.
    ///
    /// ```
    /// use dagqueue::*;
    /// let q = JobQueue::new();
    /// q.submit(JobSpec::new(JobId(1)).priority(Priority::Low)).unwrap();
    /// q.submit(JobSpec::new(JobId(2)).priority(Priority::High)).unwrap();
    /// assert_eq!(q.schedulable(RunnerType::DEFAULT), vec![JobId(2), JobId(1)]);
    /// assert_eq!(q.status().by_state.get(JobState::Pending), 2); // nothing claimed
    /// ```
    pub fn schedulable(&self, runner: RunnerType) -> Vec<JobId> {
        let mut ready: Vec<(usize, u64, JobId)> = Vec::new();
        if self.runner_lanes(runner).is_none() {
            return Vec::new();
        }
        self.jobs.for_each_value(|job| {
            if job.runner != runner {
                return;
            }
            let word = job.word.load();
            if word.state() != Some(JobState::Pending) {
                return;
            }
            if let Some(cluster) = &job.group().cluster {
                if !cluster.load().can_accept() || !cluster.fits(&job.resources) {
                    return;
                }
            }
            ready.push((word.level(), job.ready_at(), job.id));
        });
        ready.sort_unstable();
        ready.into_iter().map(|(_, _, id)| id).collect()
    }

    /// Totals by state, priority, runner and cluster, and the metrics.
    ///
    /// Costs O(lane groups × threads that used the queue), not O(jobs): the
    /// counts are kept as the transitions happen (`counts.rs`). They are
    /// exact once no operation is in flight; while some are, each count is
    /// some recent value, possibly taken mid-transition (a job counted out
    /// of its old state but not yet into its new one), never below zero.
    ///
    /// ```
    /// use dagqueue::*;
    /// let q = JobQueue::new();
    /// q.set_cluster_capacity(ClusterId(1), 2).unwrap();
    /// q.submit(JobSpec::new(JobId(1)).cluster(ClusterId(1))).unwrap();
    /// let status = q.status();
    /// assert_eq!(status.by_state.get(JobState::Pending), 1);
    /// assert_eq!(status.clusters[&ClusterId(1)].queued, 1);
    /// ```
    pub fn status(&self) -> QueueStatus {
        let mut status = QueueStatus::default();
        let locals = self.locals.all();
        for lanes in self.all_runner_lanes() {
            for group in lanes.groups.iter() {
                let totals = self.counts.totals(&locals, group.index);
                let cluster = group.cluster.as_ref().map(|cluster| cluster.id);
                for state in JobState::ALL {
                    status.count_jobs(state, totals.state(state), group.runner, cluster);
                }
                for (level, queued) in status.queued_by_priority.iter_mut().enumerate() {
                    *queued += totals.queued(level);
                }
            }
        }
        for (id, cluster) in self.clusters.entries_cloned() {
            let word = cluster.load();
            status.add_cluster(
                id,
                word.running(),
                word.capacity(),
                word.paused(),
                word.can_accept(),
                cluster.resources(),
            );
        }
        status.metrics = self.metrics();
        status
    }

    /// The entries in every ready lane, stale ones included: a health gauge
    /// for an exporter. An entry goes stale when its job leaves the lane
    /// another way than by a claim (cancelled, reprioritized, promoted,
    /// given a dependency); the next claimer to reach it drops it, and a
    /// lane whose stale entries outnumber its live ones is compacted
    /// (`docs/DESIGN.md`, "Stale lane entries"). So with one thread at a
    /// time and nothing set aside, a lane holds at most its pending jobs'
    /// entries, as many stale ones, and 31 more, whatever the history.
    /// O(lane groups), exact once the queue is quiescent.
    ///
    /// ```
    /// use dagqueue::*;
    /// let q = JobQueue::new();
    /// q.submit(JobSpec::new(JobId(1)).priority(Priority::Low)).unwrap();
    /// for _ in 0..10_000 {
    ///     q.reprioritize(JobId(1), Priority::High).unwrap();
    ///     q.reprioritize(JobId(1), Priority::Low).unwrap();
    /// }
    /// // One pending job: its entry and at most 31 stale ones in each of
    /// // the two lanes, not 20,000.
    /// assert!(q.lane_entries() <= 1 + 2 * 31);
    /// assert_eq!(q.claim(RunnerType::DEFAULT).map(|c| c.job()), Some(JobId(1)));
    /// assert_eq!(q.lane_entries(), 0);
    /// ```
    pub fn lane_entries(&self) -> usize {
        self.all_runner_lanes()
            .iter()
            .flat_map(|lanes| lanes.groups.iter().map(|group| group.entries()))
            .sum()
    }

    /// The metrics.
    ///
    /// ```
    /// use dagqueue::*;
    /// let q = JobQueue::new();
    /// q.submit(JobSpec::new(JobId(1))).unwrap();
    /// let claim = q.claim(RunnerType::DEFAULT).unwrap();
    /// q.complete(claim, Outcome::Failure).unwrap();
    /// let metrics = q.metrics();
    /// assert_eq!((metrics.scheduled, metrics.failed), (1, 1));
    /// assert_eq!(metrics.failure_rate(), 1.0);
    /// ```
    pub fn metrics(&self) -> Metrics {
        self.read_metrics(self.now_micros() / 1_000_000)
    }

    /// Forgets every finished job and hands back what it removed: each
    /// one's last view (id, terminal state, priority, attempts), by id, so a
    /// caller can clean its own tables (id → payload) without a scan.
    ///
    /// After pruning, the id is unknown: a new job naming it as a dependency
    /// gets `UnknownDependency`, and a late report of a pruned job's claim
    /// gets `StaleClaim`. The id may be submitted again; the new job is a
    /// new record, never mistaken for the old one (a job that depended on
    /// the old one does not depend on the new one). A long-running
    /// scheduler calls this periodically; jobs still running are kept.
    ///
    /// ```
    /// use dagqueue::*;
    /// let q = JobQueue::new();
    /// q.submit(JobSpec::new(JobId(1))).unwrap();
    /// q.submit(JobSpec::new(JobId(2))).unwrap();
    /// let claim = q.claim(RunnerType::DEFAULT).unwrap();
    /// q.complete(claim, Outcome::Success).unwrap();
    /// let pruned = q.prune_finished();
    /// assert_eq!(pruned.len(), 1);
    /// assert_eq!((pruned[0].id, pruned[0].state), (JobId(1), JobState::Completed));
    /// assert_eq!(q.state(JobId(1)), Err(Error::UnknownJob(JobId(1))));
    /// assert_eq!(q.state(JobId(2)), Ok(JobState::Pending)); // unfinished: kept
    /// ```
    pub fn prune_finished(&self) -> Vec<JobView> {
        let mut pruned = Vec::new();
        self.prune_each(|view, _| pruned.push(view));
        pruned.sort_unstable_by_key(|view| view.id);
        pruned
    }

    /// [`prune_finished`](JobQueue::prune_finished), handing each pruned
    /// job's last view (taken before its details were forgotten) and record
    /// to `pruned`.
    pub(crate) fn prune_each(&self, mut pruned: impl FnMut(JobView, &Arc<Job<T>>)) {
        self.jobs.retain(|_, job| {
            let word = job.word.load();
            match self.view(job, word) {
                Some(view) if view.state.is_terminal() => {
                    let group = job.group().index;
                    let tally = self.locals.get().map(|local| &local.tally);
                    self.counts.forget(tally, group, view.state);
                    pruned(view, job);
                    self.dependency_ends.remove(&job.incarnation);
                    self.failure_reasons.remove(&job.incarnation);
                    self.retry_backoffs.remove(&job.incarnation);
                    #[cfg(feature = "durable")]
                    self.retry_dues.remove(&job.incarnation);
                    false
                }
                _ => true,
            }
        });
    }

    /// How long `job`'s retry still waits for its backoff, if it is
    /// waiting for one (zero once due).
    #[cfg(feature = "durable")]
    pub(crate) fn retry_wait(&self, job: &Job<T>) -> Option<std::time::Duration> {
        let due = self.retry_dues.get_cloned(&job.incarnation)?;
        let now = self.now_micros();
        Some(std::time::Duration::from_micros(due.saturating_sub(now)))
    }

    /// The view of `job` now (`None` while it is being submitted).
    #[cfg(feature = "durable")]
    pub(crate) fn view_of(&self, job: &Job<T>) -> Option<JobView> {
        self.view(job, job.word.load())
    }
}
