//! Identifiers, priorities, job specifications, claims and outcomes: the plain
//! data that every operation of [`Scheduler`](crate::Scheduler) speaks.

use core::fmt;

/// A job's identifier, chosen by the caller (usually a database row id).
///
/// ```
/// use dagqueue::JobId;
/// assert_eq!(JobId(7).to_string(), "job 7");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct JobId(pub u64);

impl fmt::Display for JobId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "job {}", self.0)
    }
}

/// A runner type (local, SSH, SLURM, ...), named by a small integer the caller
/// chooses. Workers claim jobs of one runner type at a time.
///
/// ```
/// use dagqueue::RunnerId;
/// assert_eq!(RunnerId::DEFAULT, RunnerId(0));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct RunnerId(pub u32);

impl RunnerId {
    /// The runner type of a [`JobSpec`] that names none.
    pub const DEFAULT: RunnerId = RunnerId(0);
}

/// A cluster (a pool of execution slots with a concurrency limit), named by a
/// small integer the caller chooses.
///
/// ```
/// use dagqueue::ClusterId;
/// assert_eq!(ClusterId(3).to_string(), "cluster 3");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ClusterId(pub u32);

impl fmt::Display for ClusterId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "cluster {}", self.0)
    }
}

/// The user a job belongs to, for fair share.
///
/// ```
/// use dagqueue::UserId;
/// assert_eq!(UserId::default(), UserId(0));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct UserId(pub u32);

/// A job's priority: lower levels run first.
///
/// ```
/// use dagqueue::Priority;
/// assert!(Priority::Critical < Priority::Background);
/// assert_eq!(Priority::try_from(1u8), Ok(Priority::High));
/// assert!(Priority::try_from(5u8).is_err());
/// assert_eq!(Priority::Normal.level(), 2);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
#[repr(u8)]
pub enum Priority {
    /// Level 0, served first.
    Critical = 0,
    /// Level 1.
    High = 1,
    /// Level 2, the default.
    #[default]
    Normal = 2,
    /// Level 3.
    Low = 3,
    /// Level 4, served last.
    Background = 4,
}

impl Priority {
    /// The number of priority levels.
    pub const LEVELS: usize = 5;

    /// All levels, best first.
    pub const ALL: [Priority; 5] = [
        Priority::Critical,
        Priority::High,
        Priority::Normal,
        Priority::Low,
        Priority::Background,
    ];

    /// The numeric level, 0 (Critical) to 4 (Background).
    pub fn level(self) -> u8 {
        self as u8
    }

    /// The priority of a numeric level.
    ///
    /// # Errors
    /// [`Error::InvalidPriority`](crate::Error::InvalidPriority) for a level above 4.
    pub fn from_level(level: u8) -> Result<Priority, crate::Error> {
        match level {
            0 => Ok(Priority::Critical),
            1 => Ok(Priority::High),
            2 => Ok(Priority::Normal),
            3 => Ok(Priority::Low),
            4 => Ok(Priority::Background),
            other => Err(crate::Error::InvalidPriority(other.into())),
        }
    }
}

impl TryFrom<u8> for Priority {
    type Error = crate::Error;
    fn try_from(level: u8) -> Result<Priority, crate::Error> {
        Priority::from_level(level)
    }
}

impl TryFrom<i64> for Priority {
    type Error = crate::Error;
    fn try_from(level: i64) -> Result<Priority, crate::Error> {
        match u8::try_from(level) {
            Ok(l) if l < 5 => Priority::from_level(l),
            _ => Err(crate::Error::InvalidPriority(level)),
        }
    }
}

/// What a job needs from one execution slot of its cluster.
///
/// A cluster's [`Resources`] describe one slot (a node); a job is eligible
/// on the cluster only if its needs fit within that slot. They are checked per
/// job, not summed over the running jobs: the cluster's capacity bounds how many
/// run at once (SLURM's whole-node model).
///
/// ```
/// use dagqueue::Resources;
/// let node = Resources { cores: 32, memory_gb: 128 };
/// assert!(Resources { cores: 8, memory_gb: 16 }.fits_in(&node));
/// assert!(!Resources { cores: 64, memory_gb: 16 }.fits_in(&node));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct Resources {
    /// CPU cores.
    pub cores: u32,
    /// Memory in GiB.
    pub memory_gb: u32,
}

impl Resources {
    /// Whether these needs fit within `available`.
    pub fn fits_in(&self, available: &Resources) -> bool {
        self.cores <= available.cores && self.memory_gb <= available.memory_gb
    }
}

/// The largest `max_retries` a job may ask for.
///
/// ```
/// use dagqueue::{Error, JobId, JobQueue, JobSpec, Scheduler, MAX_RETRIES_LIMIT};
/// let q = JobQueue::builder().build();
/// let spec = JobSpec::new(JobId(1)).max_retries(MAX_RETRIES_LIMIT + 1);
/// assert_eq!(q.submit(spec), Err(Error::TooManyRetries(MAX_RETRIES_LIMIT + 1)));
/// ```
pub const MAX_RETRIES_LIMIT: u32 = 1000;

/// The most dependencies one job may have.
///
/// ```
/// assert_eq!(dagqueue::MAX_DEPENDENCIES, (1 << 20) - 2);
/// ```
pub const MAX_DEPENDENCIES: usize = (1 << 20) - 2;

/// `ids` without repeats, first occurrences in order: linear time (a seen-set
/// beyond a handful of ids), so a job with a million dependencies is checked
/// as fast as it is built.
pub(crate) fn dedup_in_order(ids: &[JobId]) -> Vec<JobId> {
    const LINEAR_SCAN_UP_TO: usize = 16;
    let mut unique = Vec::with_capacity(ids.len());
    if ids.len() <= LINEAR_SCAN_UP_TO {
        for &id in ids {
            if !unique.contains(&id) {
                unique.push(id);
            }
        }
    } else {
        let mut seen = std::collections::HashSet::with_capacity(ids.len());
        unique.extend(ids.iter().copied().filter(|id| seen.insert(*id)));
    }
    unique
}

/// A job to submit, built with chained methods.
///
/// ```
/// use dagqueue::{ClusterId, JobId, JobSpec, Priority, Resources, RunnerId, UserId};
/// let spec = JobSpec::new(JobId(10))
///     .priority(Priority::High)
///     .depends_on([JobId(1), JobId(2)])
///     .runner(RunnerId(1))
///     .cluster(ClusterId(0))
///     .user(UserId(42))
///     .max_retries(2)
///     .resources(Resources { cores: 8, memory_gb: 16 });
/// assert_eq!(spec.id, JobId(10));
/// assert_eq!(spec.dependencies, vec![JobId(1), JobId(2)]);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JobSpec {
    /// The job's id; a duplicate is an error.
    pub id: JobId,
    /// Its priority (default Normal).
    pub priority: Priority,
    /// Jobs that must all complete before this one may run.
    pub dependencies: Vec<JobId>,
    /// Its runner type (default [`RunnerId::DEFAULT`]).
    pub runner: RunnerId,
    /// Its cluster, if any; `None` means no cluster limit applies.
    pub cluster: Option<ClusterId>,
    /// Its user (for fair share).
    pub user: UserId,
    /// How many times a failed attempt is retried (default 0).
    pub max_retries: u32,
    /// What it needs from a slot of its cluster.
    pub resources: Resources,
}

impl JobSpec {
    /// A Normal-priority job with no dependencies, default runner, no cluster.
    pub fn new(id: JobId) -> JobSpec {
        JobSpec {
            id,
            priority: Priority::Normal,
            dependencies: Vec::new(),
            runner: RunnerId::DEFAULT,
            cluster: None,
            user: UserId::default(),
            max_retries: 0,
            resources: Resources::default(),
        }
    }

    /// Sets the priority.
    pub fn priority(mut self, priority: Priority) -> JobSpec {
        self.priority = priority;
        self
    }

    /// Adds dependencies (repeated ids count once).
    pub fn depends_on(mut self, dependencies: impl IntoIterator<Item = JobId>) -> JobSpec {
        self.dependencies.extend(dependencies);
        self.dependencies = dedup_in_order(&self.dependencies);
        self
    }

    /// Sets the runner type.
    pub fn runner(mut self, runner: RunnerId) -> JobSpec {
        self.runner = runner;
        self
    }

    /// Sets the cluster.
    pub fn cluster(mut self, cluster: ClusterId) -> JobSpec {
        self.cluster = Some(cluster);
        self
    }

    /// Sets the user.
    pub fn user(mut self, user: UserId) -> JobSpec {
        self.user = user;
        self
    }

    /// Sets how many times a failure is retried (at most [`MAX_RETRIES_LIMIT`]).
    pub fn max_retries(mut self, max_retries: u32) -> JobSpec {
        self.max_retries = max_retries;
        self
    }

    /// Sets the resources needed from a cluster slot.
    pub fn resources(mut self, resources: Resources) -> JobSpec {
        self.resources = resources;
        self
    }
}

/// The ticket a successful claim hands to one worker: the job and the attempt.
///
/// Completion reports carry it back, so a late report from an earlier attempt
/// is recognised as stale and changes nothing.
///
/// ```
/// use dagqueue::{Claim, JobId};
/// let claim = Claim { job: JobId(1), attempt: 1 };
/// let copy = claim; // Copy
/// assert_eq!(copy, claim);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Claim {
    /// The claimed job.
    pub job: JobId,
    /// The attempt number, 1 for the first claim, 2 for the first retry...
    pub attempt: u32,
}

/// How a worker's attempt ended.
///
/// ```
/// use dagqueue::Outcome;
/// assert_ne!(Outcome::Success, Outcome::Failure);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// The attempt succeeded.
    Success,
    /// The attempt failed; the job is retried while attempts remain.
    Failure,
}

/// What a completion report did.
///
/// ```
/// use dagqueue::Completion;
/// assert!(Completion::Completed.is_final());
/// assert!(!Completion::Retrying.is_final());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Completion {
    /// The job is now `Completed`; its dependents may be released.
    Completed,
    /// The attempt failed and the job was re-queued for another attempt.
    Retrying,
    /// The job is now `Failed` (no attempts left), and so are its dependents.
    Failed,
    /// Cancellation had been requested: the job is now `Cancelled`, and so are
    /// its dependents.
    Cancelled,
}

impl Completion {
    /// Whether the job reached a terminal state.
    pub fn is_final(self) -> bool {
        !matches!(self, Completion::Retrying)
    }
}

/// What `cancel` did.
///
/// ```
/// use dagqueue::CancelOutcome;
/// assert_ne!(CancelOutcome::Cancelled, CancelOutcome::Requested);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CancelOutcome {
    /// The job was waiting or pending and is now `Cancelled`.
    Cancelled,
    /// The job is scheduled or running: it is marked cancel-requested and ends
    /// `Cancelled` when its worker reports.
    Requested,
}

/// A job's state. See `docs/DESIGN.md` for the state machine.
///
/// ```
/// use dagqueue::JobState;
/// assert!(JobState::Completed.is_terminal());
/// assert!(!JobState::Pending.is_terminal());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum JobState {
    /// Submitted; some dependency has not completed yet.
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

/// A consistent view of one job, read from its single state word.
///
/// ```
/// use dagqueue::{JobId, JobQueue, JobSpec, JobState, Priority, Scheduler};
/// let queue = JobQueue::builder().build();
/// queue.submit(JobSpec::new(JobId(1)).priority(Priority::Low)).unwrap();
/// let view = queue.job(JobId(1)).unwrap();
/// assert_eq!(view.state, JobState::Pending);
/// assert_eq!(view.priority, Priority::Low);
/// assert_eq!(view.attempt, 0);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
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
}
