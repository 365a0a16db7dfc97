//! Read-only views: queue status and metrics.

use crate::types::{ClusterId, JobState, Priority, Resources, RunnerId};
use std::collections::BTreeMap;
use std::time::Duration;

/// Job counts by state.
///
/// ```
/// use dagqueue::{JobState, StateCounts};
/// let mut counts = StateCounts::default();
/// counts.add(JobState::Running);
/// assert_eq!(counts.get(JobState::Running), 1);
/// assert_eq!(counts.total(), 1);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StateCounts(pub [usize; 7]);

impl StateCounts {
    /// The count for one state.
    pub fn get(&self, state: JobState) -> usize {
        self.0[state as usize]
    }
    /// Counts one job in `state`.
    pub fn add(&mut self, state: JobState) {
        self.0[state as usize] += 1;
    }
    /// All jobs counted.
    pub fn total(&self) -> usize {
        self.0.iter().sum()
    }
}

/// One cluster's status.
///
/// ```
/// use dagqueue::{ClusterId, JobQueue, Scheduler};
/// let queue = JobQueue::builder().build();
/// queue.set_cluster_capacity(ClusterId(1), 2).unwrap();
/// let cluster = queue.status().clusters[&ClusterId(1)];
/// assert_eq!((cluster.running, cluster.capacity, cluster.paused), (0, 2, false));
/// assert!(cluster.can_accept);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClusterStatus {
    /// Jobs claimed on it and not yet reported (scheduled or running).
    pub running: u32,
    /// Its concurrency limit.
    pub capacity: u32,
    /// Whether it is paused.
    pub paused: bool,
    /// Unfinished jobs (waiting, pending) that name it: its queue depth.
    pub queued: usize,
    /// Whether a new claim could start there now (not paused, not full).
    pub can_accept: bool,
    /// The resources of one of its slots, if set.
    pub resources: Option<Resources>,
}

/// A snapshot of the whole queue.
///
/// Each job is read from its own state word and each cluster from its own
/// cluster word, so every count describes states that existed; under
/// concurrent updates the totals are taken job by job, not at one instant.
///
/// ```
/// use dagqueue::{JobId, JobQueue, JobSpec, JobState, Priority, Scheduler};
/// let queue = JobQueue::builder().build();
/// queue.submit(JobSpec::new(JobId(1)).priority(Priority::High)).unwrap();
/// let status = queue.status();
/// assert_eq!(status.by_state.get(JobState::Pending), 1);
/// assert_eq!(status.queued_by_priority[Priority::High as usize], 1);
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct QueueStatus {
    /// Known jobs by state (pruned jobs are not counted).
    pub by_state: StateCounts,
    /// Waiting and pending jobs by priority level.
    pub queued_by_priority: [usize; Priority::LEVELS],
    /// Unfinished jobs (not terminal) by runner type.
    pub unfinished_by_runner: BTreeMap<RunnerId, usize>,
    /// Every known cluster.
    pub clusters: BTreeMap<ClusterId, ClusterStatus>,
    /// The metrics.
    pub metrics: Metrics,
}

/// Counters and rates since the queue was built. The counters are exact: each
/// transition is counted once, by the thread whose compare-and-swap made it.
///
/// ```
/// use dagqueue::{JobId, JobQueue, JobSpec, Outcome, RunnerId, Scheduler};
/// let queue = JobQueue::builder().build();
/// queue.submit(JobSpec::new(JobId(1))).unwrap();
/// let claim = queue.claim(RunnerId::DEFAULT).unwrap();
/// queue.complete(claim, Outcome::Success).unwrap();
/// let metrics = queue.metrics();
/// assert_eq!((metrics.scheduled, metrics.completed), (1, 1));
/// assert_eq!(metrics.failure_rate(), 0.0);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Metrics {
    /// Successful claims (each attempt counts).
    pub scheduled: u64,
    /// Jobs that reached `Completed`.
    pub completed: u64,
    /// Jobs that reached `Failed`, dependents failed by the cascade included.
    pub failed: u64,
    /// Failed attempts that were re-queued.
    pub retried: u64,
    /// Jobs that reached `Cancelled`, dependents cancelled by the cascade included.
    pub cancelled: u64,
    /// Exponential moving average (alpha 0.1) of the time from becoming
    /// pending to being claimed; zero before the first claim. `JobQueue`
    /// keeps one EMA per claiming thread (no shared hot word) and reports
    /// their mean weighted by claims: with one claimer it is exactly the EMA
    /// of its claims.
    pub average_wait: Duration,
    /// Jobs completed within the last [`Metrics::WINDOW`].
    pub completed_in_window: u64,
}

impl Metrics {
    /// The window over which recent throughput is counted.
    pub const WINDOW: Duration = Duration::from_secs(60);

    /// Completed jobs per hour, extrapolated from the last [`Metrics::WINDOW`].
    pub fn jobs_per_hour(&self) -> f64 {
        self.completed_in_window as f64 * (3600.0 / Metrics::WINDOW.as_secs_f64())
    }

    /// Failed / (completed + failed); zero when nothing finished.
    pub fn failure_rate(&self) -> f64 {
        let finished = self.completed + self.failed;
        if finished == 0 {
            0.0
        } else {
            self.failed as f64 / finished as f64
        }
    }
}
