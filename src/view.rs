//! Read-only views: one job, the whole queue, the metrics.

use crate::ids::{ClusterId, JobId, RunnerType};
use crate::spec::{Priority, Resources};
use std::collections::BTreeMap;
use std::time::Duration;

/// A job's state. See `docs/DESIGN.md` for the state machine.
///
/// ```
/// use dagqueue::JobState;
/// assert!(JobState::Completed.is_terminal());
/// assert!(!JobState::Pending.is_terminal());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum JobState {
    /// Submitted; some dependency has not completed yet, or it waits for
    /// its time (a `delay`, `not_before`, or a retry's backoff).
    Waiting = 0,
    /// All dependencies completed; queued in its lane, ready to be claimed.
    Pending = 1,
    /// Claimed by a worker, not started yet.
    Scheduled = 2,
    /// Started by its worker.
    Running = 3,
    /// Finished successfully (terminal).
    Completed = 4,
    /// Failed with no attempts left, or a dependency failed (terminal).
    Failed = 5,
    /// Cancelled, or a dependency was cancelled (terminal).
    Cancelled = 6,
}

impl JobState {
    /// All states, in state-machine order.
    pub const ALL: [JobState; 7] = [
        JobState::Waiting,
        JobState::Pending,
        JobState::Scheduled,
        JobState::Running,
        JobState::Completed,
        JobState::Failed,
        JobState::Cancelled,
    ];

    /// Whether no transition leaves this state.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            JobState::Completed | JobState::Failed | JobState::Cancelled
        )
    }

    /// Whether a worker holds the job (scheduled or running).
    pub fn is_claimed(self) -> bool {
        matches!(self, JobState::Scheduled | JobState::Running)
    }
}

/// How a terminal job ended.
///
/// ```
/// use dagqueue::{JobEnd, JobId, JobQueue, JobSpec, RunnerType};
/// let q = JobQueue::new();
/// q.submit(JobSpec::new(JobId(1))).unwrap();
/// q.submit(JobSpec::new(JobId(2)).depends_on([JobId(1)])).unwrap();
/// let claim = q.claim(RunnerType::DEFAULT).unwrap();
/// q.fail(claim, "out of memory").unwrap();
/// assert_eq!(
///     q.job(JobId(1)).unwrap().end,
///     Some(JobEnd::Failed { attempts: 1, reason: Some("out of memory".into()) })
/// );
/// assert_eq!(q.job(JobId(2)).unwrap().end, Some(JobEnd::DependencyFailed { dependency: JobId(1) }));
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum JobEnd {
    /// Its worker reported success (`Completed`).
    Succeeded,
    /// Its worker reported a failure with no retry left (`Failed`), after
    /// `attempts` attempts; `reason` is the last failure's, if the worker
    /// gave one ([`JobQueue::fail`](crate::JobQueue::fail)), at most
    /// [`MAX_REASON_BYTES`](crate::MAX_REASON_BYTES).
    Failed {
        /// Attempts made (claims).
        attempts: u32,
        /// The last failure's reason, if one was given.
        reason: Option<std::sync::Arc<str>>,
    },
    /// A dependency failed, so it never ran (`Failed`): `dependency` is the
    /// one whose failure reached it first (itself perhaps failed by its own
    /// dependency).
    DependencyFailed {
        /// The dependency that failed.
        dependency: JobId,
    },
    /// Its last attempt's lease ran out with no retry left (`Failed`):
    /// neither reported nor extended in time, after `attempts` attempts.
    LeaseExpired {
        /// Attempts made (claims).
        attempts: u32,
    },
    /// Cancelled by `cancel` (`Cancelled`), queued or at its worker's report.
    Cancelled,
    /// A dependency was cancelled, so it never ran (`Cancelled`).
    DependencyCancelled {
        /// The dependency that was cancelled.
        dependency: JobId,
    },
    /// An after-failure dependency completed, so it was not needed
    /// (`Cancelled`).
    DependencySucceeded {
        /// The dependency that completed.
        dependency: JobId,
    },
}

/// A consistent view of one job: everything but `end`'s details is read
/// from its single state word.
///
/// ```
/// use dagqueue::{JobId, JobQueue, JobSpec, JobState, Priority};
/// let queue = JobQueue::new();
/// queue.submit(JobSpec::new(JobId(1)).priority(Priority::Low)).unwrap();
/// let view = queue.job(JobId(1)).unwrap();
/// assert_eq!(view.state, JobState::Pending);
/// assert_eq!(view.priority, Priority::Low);
/// assert_eq!(view.attempt, 0);
/// assert_eq!(view.end, None); // not terminal
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct JobView {
    /// Its id.
    pub id: JobId,
    /// Its state.
    pub state: JobState,
    /// Its current priority.
    pub priority: Priority,
    /// The number of claims so far (the current attempt once claimed).
    pub attempt: u32,
    /// Whether cancellation was requested while it was claimed.
    pub cancel_requested: bool,
    /// How it ended, once terminal (`None` before). How it ended is decided
    /// by the same compare-and-swap as the terminal state; a failure's
    /// reason is attached by its report just after that CAS, so a view
    /// taken in between shows `reason: None`.
    pub end: Option<JobEnd>,
}

impl JobView {
    /// A view with these fields: for other implementations of the same
    /// operations (the workspace's mutex baselines); not part of the API.
    #[doc(hidden)]
    pub fn new(
        id: JobId,
        state: JobState,
        priority: Priority,
        attempt: u32,
        cancel_requested: bool,
        end: Option<JobEnd>,
    ) -> JobView {
        JobView {
            id,
            state,
            priority,
            attempt,
            cancel_requested,
            end,
        }
    }
}

/// Job counts by state.
///
/// ```
/// use dagqueue::{JobState, StateCounts};
/// let counts = StateCounts::default();
/// assert_eq!(counts.get(JobState::Running), 0);
/// assert_eq!(counts.total(), 0);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct StateCounts([usize; JobState::ALL.len()]);

impl StateCounts {
    /// The count for one state.
    pub fn get(&self, state: JobState) -> usize {
        self.0[state as usize]
    }
    /// Counts one job in `state`.
    fn add(&mut self, state: JobState, jobs: usize) {
        self.0[state as usize] += jobs;
    }
    /// All jobs counted.
    pub fn total(&self) -> usize {
        self.0.iter().sum()
    }
}

/// One cluster's status.
///
/// ```
/// use dagqueue::{ClusterId, JobQueue};
/// let queue = JobQueue::new();
/// queue.set_cluster_capacity(ClusterId(1), 2).unwrap();
/// let cluster = queue.status().clusters[&ClusterId(1)];
/// assert_eq!((cluster.running, cluster.capacity, cluster.paused), (0, 2, false));
/// assert!(cluster.can_accept);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
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
/// use dagqueue::{JobId, JobQueue, JobSpec, JobState, Priority};
/// let queue = JobQueue::new();
/// queue.submit(JobSpec::new(JobId(1)).priority(Priority::High)).unwrap();
/// let status = queue.status();
/// assert_eq!(status.by_state.get(JobState::Pending), 1);
/// assert_eq!(status.queued_by_priority[Priority::High.level() as usize], 1);
/// ```
#[derive(Clone, Debug, Default, PartialEq)]
#[non_exhaustive]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct QueueStatus {
    /// Known jobs by state (pruned jobs are not counted).
    pub by_state: StateCounts,
    /// Waiting and pending jobs by priority level.
    pub queued_by_priority: [usize; Priority::LEVELS],
    /// Unfinished jobs (not terminal) by runner type.
    pub unfinished_by_runner: BTreeMap<RunnerType, usize>,
    /// Every known cluster.
    pub clusters: BTreeMap<ClusterId, ClusterStatus>,
    /// The metrics.
    pub metrics: Metrics,
}

// The one copy of status assembly: every implementation reads its jobs and
// clusters its own way and counts them here.
impl QueueStatus {
    /// Counts one known job. For implementations of the same operations (the
    /// queue and the workspace's mutex baselines); not part of the API.
    #[doc(hidden)]
    pub fn count_job(
        &mut self,
        state: JobState,
        priority: Priority,
        runner: RunnerType,
        cluster: Option<ClusterId>,
    ) {
        if matches!(state, JobState::Waiting | JobState::Pending) {
            self.queued_by_priority[usize::from(priority.level())] += 1;
        }
        self.count_jobs(state, 1, runner, cluster);
    }

    /// Counts `jobs` known jobs in `state` of one runner type and cluster,
    /// all but their priority (`queued_by_priority` is the caller's). Not
    /// part of the API, as above.
    #[doc(hidden)]
    pub fn count_jobs(
        &mut self,
        state: JobState,
        jobs: usize,
        runner: RunnerType,
        cluster: Option<ClusterId>,
    ) {
        if jobs == 0 {
            return;
        }
        self.by_state.add(state, jobs);
        if matches!(state, JobState::Waiting | JobState::Pending) {
            if let Some(cluster) = cluster {
                self.clusters.entry(cluster).or_default().queued += jobs;
            }
        }
        if !state.is_terminal() {
            *self.unfinished_by_runner.entry(runner).or_default() += jobs;
        }
    }

    /// Records one cluster's word (its queue depth comes from
    /// [`count_job`](QueueStatus::count_job), before or after). Not part of
    /// the API, as above.
    #[doc(hidden)]
    pub fn add_cluster(
        &mut self,
        id: ClusterId,
        running: u32,
        capacity: u32,
        paused: bool,
        can_accept: bool,
        resources: Option<Resources>,
    ) {
        let status = self.clusters.entry(id).or_default();
        status.running = running;
        status.capacity = capacity;
        status.paused = paused;
        status.can_accept = can_accept;
        status.resources = resources;
    }
}

/// Counters and rates since the queue was built. The counters are exact: each
/// transition is counted once, by the thread whose compare-and-swap made it.
///
/// ```
/// use dagqueue::{JobId, JobQueue, JobSpec, Outcome, RunnerType};
/// let queue = JobQueue::new();
/// queue.submit(JobSpec::new(JobId(1))).unwrap();
/// let claim = queue.claim(RunnerType::DEFAULT).unwrap();
/// queue.complete(claim, Outcome::Success).unwrap();
/// let metrics = queue.metrics();
/// assert_eq!((metrics.scheduled, metrics.completed), (1, 1));
/// assert_eq!(metrics.failure_rate(), 0.0);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq)]
#[non_exhaustive]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Metrics {
    /// Jobs accepted by `submit`.
    pub submitted: u64,
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
    /// their mean weighted by claims. The waits are **sampled**: each
    /// thread times its first claim and then one claim in
    /// [`Metrics::WAIT_SAMPLE_EVERY`], so that the other claims read no
    /// clock; with one claimer it is exactly the EMA of its sampled claims.
    /// The counts (`scheduled`, `completed`, ...) are never sampled.
    pub average_wait: Duration,
    /// Jobs completed within the last [`Metrics::WINDOW`].
    pub completed_in_window: u64,
}

impl Metrics {
    /// The window over which recent throughput is counted.
    pub const WINDOW: Duration = Duration::from_secs(60);

    /// A claiming thread times the wait of its first claim and then of one
    /// claim in this many; [`average_wait`](Metrics::average_wait) averages
    /// those samples (a clock reading on every claim was ~5% of a claim,
    /// start and completion: BENCHMARKS.md, issue 12 item 7).
    ///
    /// ```
    /// use dagqueue::*;
    /// let queue = JobQueue::new();
    /// for id in 0..3 {
    ///     queue.submit(JobSpec::new(JobId(id))).unwrap();
    /// }
    /// queue.claim(RunnerType::DEFAULT).unwrap(); // timed: this thread's first claim
    /// let first = queue.metrics().average_wait;
    /// queue.claim(RunnerType::DEFAULT).unwrap(); // not timed
    /// assert_eq!(queue.metrics().average_wait, first);
    /// assert_eq!(Metrics::WAIT_SAMPLE_EVERY, 16);
    /// ```
    pub const WAIT_SAMPLE_EVERY: u32 = crate::metrics::WAIT_SAMPLE_EVERY;

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
