//! Mutex baselines: the same [`Scheduler`] operations with one lock around
//! plain collections.
//!
//! [`StdMutexQueue`] uses [`std::sync::Mutex`] and [`std::sync::Condvar`];
//! [`ParkingLotQueue`] uses [`parking_lot::Mutex`] and
//! [`parking_lot::Condvar`]. Both share one implementation and have exactly
//! the semantics documented on [`Scheduler`]; they are what the lock-free
//! [`JobQueue`](dagqueue::JobQueue) is tested against and benchmarked against.
//!
//! They are reasonable designs, not strawmen: a hash map of job records,
//! per-(runner, lane group, level) FIFO lanes, per-job dependents lists and
//! unfinished-dependency counters, so claim and complete never scan the queue
//! (a claim is O(1) unless it skips dead lane entries, full clusters or jobs
//! that do not fit). Every operation takes the one lock once; `claim_wait`
//! sleeps on a condition variable tied to that lock.
//!
//! ```
//! use harness::baseline::{ParkingLotQueue, StdMutexQueue};
//! use harness::Scheduler;
//! use dagqueue::{JobId, JobSpec, Outcome, QueueConfig, RunnerType};
//!
//! fn run(queue: &dyn Scheduler) {
//!     queue.submit(JobSpec::new(JobId(1))).unwrap();
//!     queue.submit(JobSpec::new(JobId(2)).depends_on([JobId(1)])).unwrap();
//!     let first = queue.claim(RunnerType::DEFAULT).unwrap();
//!     assert_eq!(first.job(), JobId(1));
//!     assert!(queue.claim(RunnerType::DEFAULT).is_none()); // job 2 waits for job 1
//!     queue.complete(first, Outcome::Success).unwrap();
//!     assert_eq!(queue.claim(RunnerType::DEFAULT).unwrap().job(), JobId(2));
//! }
//! run(&StdMutexQueue::new(QueueConfig::default()));
//! run(&ParkingLotQueue::new(QueueConfig::default()));
//! ```

mod state;

use crate::{Claim, Scheduler};
use dagqueue::{
    CancelOutcome, ClusterId, Completion, DependencyKind, Error, JobId, JobSpec, JobView, Metrics,
    Outcome, Priority, QueueConfig, QueueStatus, Resources, RunnerType, WaitError,
};
use state::State;
use std::fmt;
use std::ops::DerefMut;
use std::time::{Duration, Instant};

/// The longest single condition-variable wait (a `claim_wait` with a longer
/// or unbounded timeout waits in steps of this).
const MAX_WAIT_STEP: Duration = Duration::from_secs(3600);

/// A mutex around the [`State`] with a condition variable tied to it.
trait Lock: Send + Sync {
    /// The guard that gives access to the state.
    type Guard<'a>: DerefMut<Target = State>
    where
        Self: 'a;

    fn new(state: State) -> Self;

    fn lock(&self) -> Self::Guard<'_>;

    /// Releases the lock, sleeps until notified or `timeout` passes (spurious
    /// wake-ups allowed), takes the lock again.
    fn wait_for<'a>(&'a self, guard: Self::Guard<'a>, timeout: Duration) -> Self::Guard<'a>;

    fn notify_all(&self);
}

/// [`std::sync::Mutex`] and [`std::sync::Condvar`]. A poisoned lock is
/// used anyway: no operation panics half-way through a change.
struct StdLock {
    mutex: std::sync::Mutex<State>,
    condvar: std::sync::Condvar,
}

impl Lock for StdLock {
    type Guard<'a> = std::sync::MutexGuard<'a, State>;

    fn new(state: State) -> StdLock {
        StdLock {
            mutex: std::sync::Mutex::new(state),
            condvar: std::sync::Condvar::new(),
        }
    }

    fn lock(&self) -> Self::Guard<'_> {
        self.mutex
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn wait_for<'a>(&'a self, guard: Self::Guard<'a>, timeout: Duration) -> Self::Guard<'a> {
        match self.condvar.wait_timeout(guard, timeout) {
            Ok((guard, _)) => guard,
            Err(poisoned) => poisoned.into_inner().0,
        }
    }

    fn notify_all(&self) {
        self.condvar.notify_all();
    }
}

/// [`parking_lot::Mutex`] and [`parking_lot::Condvar`].
struct ParkingLotLock {
    mutex: parking_lot::Mutex<State>,
    condvar: parking_lot::Condvar,
}

impl Lock for ParkingLotLock {
    type Guard<'a> = parking_lot::MutexGuard<'a, State>;

    fn new(state: State) -> ParkingLotLock {
        ParkingLotLock {
            mutex: parking_lot::Mutex::new(state),
            condvar: parking_lot::Condvar::new(),
        }
    }

    fn lock(&self) -> Self::Guard<'_> {
        self.mutex.lock()
    }

    fn wait_for<'a>(&'a self, mut guard: Self::Guard<'a>, timeout: Duration) -> Self::Guard<'a> {
        self.condvar.wait_for(&mut guard, timeout);
        guard
    }

    fn notify_all(&self) {
        self.condvar.notify_all();
    }
}

/// The one implementation, generic over the lock.
struct MutexQueue<L> {
    config: QueueConfig,
    lock: L,
}

impl<L: Lock> MutexQueue<L> {
    fn new(config: QueueConfig) -> MutexQueue<L> {
        MutexQueue {
            config,
            lock: L::new(State::new(config)),
        }
    }

    /// Runs `attempt` under the lock until it returns `Some` or `timeout`
    /// passes, sleeping on the condition variable in between.
    fn wait_until<R>(
        &self,
        timeout: Duration,
        mut attempt: impl FnMut(&mut State) -> Option<R>,
    ) -> Option<R> {
        let deadline = Instant::now().checked_add(timeout);
        let mut guard = self.lock.lock();
        loop {
            let found = attempt(&mut guard);
            if std::mem::take(&mut guard.wake) {
                self.lock.notify_all();
            }
            if found.is_some() {
                return found;
            }
            let now = Instant::now();
            let step = match deadline {
                Some(deadline) => {
                    if now >= deadline {
                        return None;
                    }
                    (deadline - now).min(MAX_WAIT_STEP)
                }
                None => MAX_WAIT_STEP,
            };
            // Wake for the next lease that may run out: the retry is ours.
            let step = guard
                .next_event()
                .map_or(step, |lease| step.min(lease.saturating_duration_since(now)));
            guard = self.lock.wait_for(guard, step);
        }
    }

    /// Runs `op` under the lock; wakes the sleepers afterwards if it asked to.
    fn with<R>(&self, op: impl FnOnce(&mut State) -> R) -> R {
        let mut guard = self.lock.lock();
        let result = op(&mut guard);
        let wake = std::mem::take(&mut guard.wake);
        drop(guard);
        if wake {
            self.lock.notify_all();
        }
        result
    }
}

impl<L: Lock> Scheduler for MutexQueue<L> {
    fn submit(&self, spec: JobSpec) -> Result<JobId, Error> {
        self.with(|state| state.submit(spec))
    }

    fn submit_many(&self, specs: Vec<JobSpec>) -> Result<(), Error> {
        self.with(|state| state.submit_many(specs))
    }

    fn add_dependencies(&self, job: JobId, dependencies: &[JobId]) -> Result<(), Error> {
        self.with(|state| state.add_dependencies(job, DependencyKind::AfterSuccess, dependencies))
    }

    fn add_dependencies_of_kind(
        &self,
        job: JobId,
        kind: DependencyKind,
        dependencies: &[JobId],
    ) -> Result<(), Error> {
        self.with(|state| state.add_dependencies(job, kind, dependencies))
    }

    fn claim(&self, runner: RunnerType) -> Option<Claim> {
        self.with(|state| state.claim(runner))
    }

    fn claim_wait(&self, runner: RunnerType, timeout: Duration) -> Result<Claim, WaitError> {
        self.wait_until(timeout, |state| {
            if state.closed {
                return Some(Err(WaitError::Closed));
            }
            state.claim(runner).map(Ok)
        })
        .unwrap_or(Err(WaitError::TimedOut))
    }

    fn close(&self) {
        self.with(State::close);
    }

    fn is_closed(&self) -> bool {
        self.with(|state| state.closed)
    }

    fn wait_idle(&self, timeout: Duration) -> bool {
        self.wait_until(timeout, |state| (state.unfinished() == 0).then_some(()))
            .is_some()
    }

    fn start(&self, claim: &Claim) -> Result<(), Error> {
        self.with(|state| state.start(claim))
    }

    fn complete(&self, claim: Claim, outcome: Outcome) -> Result<Completion, Error> {
        self.with(|state| state.complete(claim, outcome))
    }

    fn fail(&self, claim: Claim, reason: &str) -> Result<Completion, Error> {
        self.with(|state| state.fail(claim, reason))
    }

    fn heartbeat(&self, claim: &Claim) -> Result<bool, Error> {
        self.with(|state| state.heartbeat(claim))
    }

    fn expire_leases(&self) -> usize {
        self.with(|state| state.expire_leases(Instant::now()))
    }

    fn cancel(&self, job: JobId) -> Result<CancelOutcome, Error> {
        self.with(|state| state.cancel(job))
    }

    fn reprioritize(&self, job: JobId, priority: Priority) -> Result<(), Error> {
        self.with(|state| state.reprioritize(job, priority))
    }

    fn set_cluster_capacity(&self, cluster: ClusterId, capacity: u32) -> Result<(), Error> {
        self.with(|state| state.set_cluster_capacity(cluster, capacity))
    }

    fn pause_cluster(&self, cluster: ClusterId) -> Result<(), Error> {
        self.with(|state| state.pause_cluster(cluster))
    }

    fn resume_cluster(&self, cluster: ClusterId) -> Result<(), Error> {
        self.with(|state| state.resume_cluster(cluster))
    }

    fn set_cluster_resources(&self, cluster: ClusterId, resources: Resources) -> Result<(), Error> {
        self.with(|state| state.set_cluster_resources(cluster, resources))
    }

    fn job(&self, job: JobId) -> Result<JobView, Error> {
        self.with(|state| state.job(job))
    }

    fn dependencies_satisfied(&self, job: JobId) -> Result<bool, Error> {
        self.with(|state| state.dependencies_satisfied(job))
    }

    fn schedulable(&self, runner: RunnerType) -> Vec<JobId> {
        self.with(|state| state.schedulable(runner))
    }

    fn status(&self) -> QueueStatus {
        self.with(|state| state.status())
    }

    fn metrics(&self) -> Metrics {
        self.with(|state| state.metrics())
    }

    fn prune_finished(&self) -> Vec<JobView> {
        self.with(|state| state.prune_finished())
    }
}

/// Declares one public baseline type around `MutexQueue<$lock>`.
macro_rules! baseline_queue {
    ($(#[$doc:meta])* $name:ident, $lock:ty) => {
        $(#[$doc])*
        pub struct $name(MutexQueue<$lock>);

        impl $name {
            /// An empty queue built from `config`.
            ///
            #[doc = concat!(
                "```\n",
                "use harness::baseline::", stringify!($name), ";\n",
                "use harness::Scheduler;\n",
                "use dagqueue::{JobId, JobQueue, JobSpec, RunnerType};\n",
                "let config = JobQueue::builder().fair_share(true).config().unwrap();\n",
                "let queue = ", stringify!($name), "::new(config);\n",
                "assert!(queue.config().fair_share());\n",
                "queue.submit(JobSpec::new(JobId(1))).unwrap();\n",
                "assert_eq!(queue.claim(RunnerType::DEFAULT).unwrap().job(), JobId(1));\n",
                "```",
            )]
            pub fn new(config: QueueConfig) -> $name {
                $name(MutexQueue::new(config))
            }

            /// The configuration it was built from.
            ///
            #[doc = concat!(
                "```\n",
                "use harness::baseline::", stringify!($name), ";\n",
                "use harness::Scheduler;\n",
                "use dagqueue::QueueConfig;\n",
                "let queue = ", stringify!($name), "::default();\n",
                "assert_eq!(queue.config(), QueueConfig::default());\n",
                "```",
            )]
            pub fn config(&self) -> QueueConfig {
                self.0.config
            }
        }

        impl Default for $name {
            /// An empty queue with [`QueueConfig::default`].
            fn default() -> $name {
                $name::new(QueueConfig::default())
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_struct(stringify!($name))
                    .field("config", &self.0.config)
                    .finish_non_exhaustive()
            }
        }

        impl Scheduler for $name {
            fn submit(&self, spec: JobSpec) -> Result<JobId, Error> {
                self.0.submit(spec)
            }
            fn submit_many(&self, specs: Vec<JobSpec>) -> Result<(), Error> {
                self.0.submit_many(specs)
            }
            fn add_dependencies(&self, job: JobId, dependencies: &[JobId]) -> Result<(), Error> {
                self.0.add_dependencies(job, dependencies)
            }
            fn add_dependencies_of_kind(
                &self,
                job: JobId,
                kind: DependencyKind,
                dependencies: &[JobId],
            ) -> Result<(), Error> {
                self.0.add_dependencies_of_kind(job, kind, dependencies)
            }
            fn claim(&self, runner: RunnerType) -> Option<Claim> {
                self.0.claim(runner)
            }
            fn claim_wait(
                &self,
                runner: RunnerType,
                timeout: Duration,
            ) -> Result<Claim, WaitError> {
                self.0.claim_wait(runner, timeout)
            }
            fn close(&self) {
                self.0.close()
            }
            fn is_closed(&self) -> bool {
                self.0.is_closed()
            }
            fn wait_idle(&self, timeout: Duration) -> bool {
                self.0.wait_idle(timeout)
            }
            fn start(&self, claim: &Claim) -> Result<(), Error> {
                self.0.start(claim)
            }
            fn complete(&self, claim: Claim, outcome: Outcome) -> Result<Completion, Error> {
                self.0.complete(claim, outcome)
            }
            fn fail(&self, claim: Claim, reason: &str) -> Result<Completion, Error> {
                self.0.fail(claim, reason)
            }
            fn heartbeat(&self, claim: &Claim) -> Result<bool, Error> {
                self.0.heartbeat(claim)
            }
            fn expire_leases(&self) -> usize {
                self.0.expire_leases()
            }
            fn cancel(&self, job: JobId) -> Result<CancelOutcome, Error> {
                self.0.cancel(job)
            }
            fn reprioritize(&self, job: JobId, priority: Priority) -> Result<(), Error> {
                self.0.reprioritize(job, priority)
            }
            fn set_cluster_capacity(&self, cluster: ClusterId, capacity: u32) -> Result<(), Error> {
                self.0.set_cluster_capacity(cluster, capacity)
            }
            fn pause_cluster(&self, cluster: ClusterId) -> Result<(), Error> {
                self.0.pause_cluster(cluster)
            }
            fn resume_cluster(&self, cluster: ClusterId) -> Result<(), Error> {
                self.0.resume_cluster(cluster)
            }
            fn set_cluster_resources(
                &self,
                cluster: ClusterId,
                resources: Resources,
            ) -> Result<(), Error> {
                self.0.set_cluster_resources(cluster, resources)
            }
            fn job(&self, job: JobId) -> Result<JobView, Error> {
                self.0.job(job)
            }
            fn dependencies_satisfied(&self, job: JobId) -> Result<bool, Error> {
                self.0.dependencies_satisfied(job)
            }
            fn schedulable(&self, runner: RunnerType) -> Vec<JobId> {
                self.0.schedulable(runner)
            }
            fn status(&self) -> QueueStatus {
                self.0.status()
            }
            fn metrics(&self) -> Metrics {
                self.0.metrics()
            }
            fn prune_finished(&self) -> Vec<JobView> {
                self.0.prune_finished()
            }
        }
    };
}

baseline_queue! {
    /// The mutex baseline on [`std::sync::Mutex`] and [`std::sync::Condvar`]:
    /// every operation takes one lock around plain collections.
    ///
    /// ```
    /// use harness::baseline::StdMutexQueue;
    /// use harness::Scheduler;
    /// use dagqueue::{JobId, JobSpec, JobState, Outcome, RunnerType};
    /// let queue = StdMutexQueue::default();
    /// queue.submit(JobSpec::new(JobId(1))).unwrap();
    /// let claim = queue.claim(RunnerType::DEFAULT).unwrap();
    /// queue.start(&claim).unwrap();
    /// queue.complete(claim, Outcome::Success).unwrap();
    /// assert_eq!(queue.state(JobId(1)), Ok(JobState::Completed));
    /// ```
    StdMutexQueue, StdLock
}

baseline_queue! {
    /// The mutex baseline on [`parking_lot::Mutex`] and
    /// [`parking_lot::Condvar`]: every operation takes one lock around plain
    /// collections.
    ///
    /// ```
    /// use harness::baseline::ParkingLotQueue;
    /// use harness::Scheduler;
    /// use dagqueue::{JobId, JobSpec, JobState, Outcome, RunnerType};
    /// let queue = ParkingLotQueue::default();
    /// queue.submit(JobSpec::new(JobId(1))).unwrap();
    /// let claim = queue.claim(RunnerType::DEFAULT).unwrap();
    /// queue.start(&claim).unwrap();
    /// queue.complete(claim, Outcome::Success).unwrap();
    /// assert_eq!(queue.state(JobId(1)), Ok(JobState::Completed));
    /// ```
    ParkingLotQueue, ParkingLotLock
}

#[cfg(test)]
mod tests {
    use super::{ParkingLotQueue, StdMutexQueue};
    use dagqueue::QueueConfig;

    #[test]
    fn debug_and_default() {
        let std_queue = StdMutexQueue::default();
        let pl_queue = ParkingLotQueue::default();
        assert!(format!("{std_queue:?}").starts_with("StdMutexQueue"));
        assert!(format!("{pl_queue:?}").starts_with("ParkingLotQueue"));
        assert_eq!(std_queue.config(), QueueConfig::default());
        assert_eq!(pl_queue.config(), QueueConfig::default());
    }
}
