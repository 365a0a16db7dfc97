//! [`JobQueue`]: the public facade that ties the job table, the state words,
//! the lanes, the clusters, the dependents lists and the metrics together.
//!
//! One file per protocol, both halves of it together: `submit.rs`,
//! `release.rs` (dependents registered, then sealed and settled),
//! `claim.rs`, `report.rs` (start, complete, cancel, reprioritize),
//! `clusters.rs` (capacity, pause, resources, set-aside), `aging.rs`,
//! `compact.rs` (stale lane entries bounded),
//! `inspect.rs` (views, status, pruning), `lease.rs` (with `lease_slot.rs`,
//! a thread's latest lease), `delay.rs`,
//! `shutdown.rs`, `wait.rs` (waiting for a claim, blocking or async). Every operation's linearization point is one compare-and-swap on
//! one word, named in a comment above its function; `docs/DESIGN.md`
//! collects them.

mod aging;
mod claim;
mod clusters;
mod compact;
mod delay;
mod inspect;
pub(crate) mod lease;
pub(crate) mod lease_slot;
mod release;
mod report;
#[cfg(feature = "durable")]
pub(crate) mod restore;
mod shutdown;
mod submit;
mod transition;
mod wait;

use crate::cluster::Cluster;
use crate::config::{JobQueueBuilder, QueueConfig};
use crate::error::Error;
use crate::ids::{ClusterId, JobId, RunnerType, UserId};
use crate::job::word::Enqueue;
use crate::job::{DependencyRef, Job};
use crate::lanes::{AgingEntry, LaneEntry, LaneGroup, RunnerLanes};
use crate::spec::Priority;
use crate::sync::{
    AtomicBool, AtomicU64, AtomicUsize, ConcurrentMap, Mutex, OnceLock, Ordering, FAST_RUNNERS,
    LOOM,
};
use crate::view::JobState;
use aging::Aging;
use std::sync::Arc;

/// A lock-free job queue with dependencies, priorities and cluster limits.
///
/// Share it by reference or `Arc`; every method may be called from any
/// number of threads at once. A method that returns an error changed
/// nothing.
///
/// ```
/// use dagqueue::{JobId, JobQueue, JobSpec, Outcome, Priority, RunnerType};
/// use std::sync::Arc;
///
/// let queue = Arc::new(JobQueue::builder().default_capacity(4).build().unwrap());
/// for id in 0..100 {
///     queue.submit(JobSpec::new(JobId(id)).priority(Priority::Normal)).unwrap();
/// }
/// let workers: Vec<_> = (0..2)
///     .map(|_| {
///         let queue = Arc::clone(&queue);
///         std::thread::spawn(move || {
///             let mut done = 0;
///             while let Some(claim) = queue.claim(RunnerType::DEFAULT) {
///                 queue.start(&claim).unwrap();
///                 queue.complete(claim, Outcome::Success).unwrap();
///                 done += 1;
///             }
///             done
///         })
///     })
///     .collect();
/// let done: u64 = workers.into_iter().map(|w| w.join().unwrap()).sum();
/// assert_eq!(done, 100);
/// assert_eq!(queue.metrics().completed, 100);
/// ```
///
///
/// # Semantics
///
/// * **States**: `Waiting` (a dependency unfinished, or its delay or retry
///   backoff not over) → `Pending` (in its lane)
///   → `Scheduled` (claimed) → `Running` (started) → `Completed`, `Failed` or
///   `Cancelled`. A failed attempt with retries left goes back to `Pending`
///   (or to `Waiting` for its retry backoff).
/// * **Lanes**: each runner type has lane groups, one per cluster (`None`
///   included) or, with fair share, one per (cluster, user); groups are kept
///   in order of first use. Each group has one FIFO lane per priority level.
///   A job entering `Pending` (on submit with no unfinished dependency, on
///   release, on retry, on reprioritize) goes to the back of its lane.
/// * **Claim order**: levels best first; within a level the runner's groups
///   are visited round-robin from the runner's cursor, and the cursor moves
///   just past the group a claim was served from. A group whose cluster is
///   paused or full is skipped. A job whose resources do not fit its
///   cluster's slot is set aside (still `Pending`) until
///   `set_cluster_resources` is called for that cluster, which puts the set
///   aside jobs back at the back of their lanes in the order they were set aside.
/// * **Dependencies**: a job is released (`Waiting` → `Pending`) when its last
///   dependency completes; its dependents are released in the order they were
///   registered. A job whose dependency fails ends `Failed`, and one whose
///   dependency is cancelled ends `Cancelled`, transitively, in the same order;
///   this holds also for a job submitted (or given dependencies) after its
///   dependency already failed or was cancelled.
/// * **Attempts**: each claim increments the job's attempt; a [`Claim`](crate::Claim) names
///   the attempt. Only the current attempt, `Scheduled` or `Running`, may be
///   started or completed; anything else is [`Error::StaleClaim`].
/// * **Finished jobs** stay known (so new jobs may depend on them) until
///   [`prune_finished`](JobQueue::prune_finished).
/// * **Runners, clusters, users**: a *runner type* (`RunnerType`) is what a
///   worker asks for work of (a local pool, an SSH host, a SLURM account);
///   a *cluster* (`ClusterId`) is a pool of slots with a capacity that
///   limits how many of its jobs are claimed at once, and can be paused; a
///   *user* (`UserId`) only matters with fair share.
/// * **Clusters are registered** with the default capacity by any operation
///   that names one, unless the queue was built with
///   [`declared_clusters_only`](JobQueueBuilder::declared_clusters_only).
/// * **`start` is optional**: `complete` accepts a `Scheduled` or `Running`
///   attempt; `start` only marks that the worker began (and refuses once a
///   cancel was requested).
pub struct JobQueue<T = ()> {
    config: QueueConfig,
    jobs: ConcurrentMap<JobId, Arc<Job<T>>>,
    fast_runners: Box<[OnceLock<Arc<RunnerLanes<T>>>]>,
    runners: ConcurrentMap<RunnerType, Arc<RunnerLanes<T>>>,
    clusters: ConcurrentMap<ClusterId, Arc<Cluster>>,
    /// Per job record (incarnation) that ended by a dependency: that
    /// dependency and how it ended. Written, first come, before the CAS that
    /// ends the job, which takes its terminal state from here: the word and
    /// this note always agree. Removed when the job is pruned.
    dependency_ends: ConcurrentMap<u64, (JobId, JobState)>,
    /// Per job record: the reason its worker gave for its last failure, with
    /// that attempt (a later attempt's reason is never replaced by an earlier
    /// one's). Removed when the job is pruned.
    failure_reasons: ConcurrentMap<u64, (u32, Arc<str>)>,
    /// Callers asleep in `wait_idle`.
    idle: crate::wake::CountedSignal,
    /// Set once by `close`.
    closed: AtomicBool,
    /// Serialises `add_dependencies` (cycle check + edge insertion); never
    /// taken on the claim / complete path.
    graph: Mutex<()>,
    /// The batches made by `submit_many` that hold their records, to break
    /// their cycles at the queue's drop (see the drop); a dead one is
    /// dropped from the list when it would grow.
    batches: Mutex<Vec<std::sync::Weak<crate::job::Batch<T>>>>,
    clock: crate::clock::Clock,
    /// The clock of a loom build (loom has no time); unused otherwise.
    loom_time: AtomicU64,
    aging: Option<Aging>,
    leases: lease::Leases,
    timers: delay::Timers<T>,
    /// Per job record whose spec sets its own retry backoff: that backoff.
    /// Removed when the job is pruned.
    retry_backoffs: ConcurrentMap<u64, crate::spec::RetryBackoff>,
    /// When each retry waiting for its backoff is due (µs, the queue's
    /// clock), by incarnation: what the durable queue stores so that a
    /// restart keeps the wait (feature `durable`; removed when pruned).
    #[cfg(feature = "durable")]
    retry_dues: ConcurrentMap<u64, u64>,
    faults: crate::faults::Faults,
    /// Unique per queue in this process: its lane groups carry it, so a
    /// report checks that a claim is this queue's.
    uid: u64,
    /// Lane groups made so far (the next group's index).
    group_count: AtomicUsize,
    /// Each thread's share: its status tally and its event ring.
    locals: crate::local::Locals,
    /// Jobs by lane group and state, counted at each transition (beyond
    /// the threads' own tallies).
    counts: crate::counts::Counts,
    /// The event stream's rings and subscribers.
    events: Arc<crate::events::Hub>,
}

/// A runner type's lanes, borrowed or shared.
enum RunnerRef<'a, T> {
    Borrowed(&'a RunnerLanes<T>),
    Shared(Arc<RunnerLanes<T>>),
}

impl<T> core::ops::Deref for RunnerRef<'_, T> {
    type Target = RunnerLanes<T>;
    #[inline]
    fn deref(&self) -> &RunnerLanes<T> {
        match self {
            RunnerRef::Borrowed(lanes) => lanes,
            RunnerRef::Shared(lanes) => lanes,
        }
    }
}

impl<T> Default for JobQueue<T> {
    /// A queue with the default configuration, for any payload type.
    ///
    /// ```
    /// let queue: dagqueue::JobQueue<String> = Default::default();
    /// assert_eq!(queue.config(), dagqueue::QueueConfig::default());
    /// ```
    fn default() -> JobQueue<T> {
        JobQueue::from_parts(QueueConfig::default(), crate::faults::Faults::default())
    }
}

impl JobQueue {
    /// A queue with the default configuration ([`QueueConfig::default`])
    /// whose jobs carry no payload. For a payload type `T`:
    /// `JobQueue::<T>::default()`, or
    /// [`build_for`](JobQueueBuilder::build_for).
    ///
    /// ```
    /// let queue = dagqueue::JobQueue::new();
    /// assert_eq!(queue.config(), dagqueue::QueueConfig::default());
    /// ```
    pub fn new() -> JobQueue {
        JobQueue::with_config(QueueConfig::default())
    }

    /// A builder, starting from the default configuration.
    ///
    /// ```
    /// let queue = dagqueue::JobQueue::builder().fair_share(true).build().unwrap();
    /// assert!(queue.config().fair_share());
    /// ```
    pub fn builder() -> JobQueueBuilder {
        JobQueueBuilder::default()
    }

    /// A queue with this configuration (validated when it was built) whose
    /// jobs carry no payload.
    ///
    /// ```
    /// use dagqueue::JobQueue;
    /// let config = JobQueue::builder().fair_share(true).config().unwrap();
    /// assert!(JobQueue::with_config(config).config().fair_share());
    /// ```
    pub fn with_config(config: QueueConfig) -> JobQueue {
        JobQueue::from_parts(config, crate::faults::Faults::default())
    }
}

impl<T> JobQueue<T> {
    pub(crate) fn from_parts(config: QueueConfig, faults: crate::faults::Faults) -> JobQueue<T> {
        let uid = crate::sync::next_queue_uid();
        JobQueue {
            config,
            jobs: ConcurrentMap::new(),
            fast_runners: (0..FAST_RUNNERS).map(|_| OnceLock::new()).collect(),
            runners: ConcurrentMap::new(),
            clusters: ConcurrentMap::new(),
            dependency_ends: ConcurrentMap::new(),
            failure_reasons: ConcurrentMap::new(),
            idle: crate::wake::CountedSignal::new(),
            closed: AtomicBool::new(false),
            graph: Mutex::new(()),
            batches: Mutex::new(Vec::new()),
            clock: crate::clock::Clock::new(),
            loom_time: AtomicU64::new(0),
            aging: config.aging().map(Aging::new),
            leases: lease::Leases::new(uid),
            timers: delay::Timers::new(),
            retry_backoffs: ConcurrentMap::new(),
            #[cfg(feature = "durable")]
            retry_dues: ConcurrentMap::new(),
            faults,
            uid,
            group_count: AtomicUsize::new(0),
            locals: crate::local::Locals::new(uid),
            counts: crate::counts::Counts::new(),
            events: Arc::new(crate::events::Hub::new(faults)),
        }
    }

    /// The configuration it was built with.
    ///
    /// ```
    /// let queue = dagqueue::JobQueue::builder().default_capacity(3).build().unwrap();
    /// assert_eq!(queue.config().default_capacity(), 3);
    /// ```
    pub fn config(&self) -> QueueConfig {
        self.config
    }

    #[inline]
    fn now_micros(&self) -> u64 {
        // Loom has no time: the models set the queue's clock by hand.
        if LOOM {
            return self.loom_time.load(Ordering::Relaxed);
        }
        self.clock.now_micros()
    }

    /// Loom models: sets the queue's clock (µs).
    pub(crate) fn set_loom_time(&self, micros: u64) {
        self.loom_time.store(micros, Ordering::Relaxed);
    }

    /// The record a dependency edge was made for, unless it was pruned.
    #[inline]
    fn resolve_edge(&self, edge: &DependencyRef<T>) -> Option<Arc<Job<T>>> {
        self.jobs
            .get_cloned(&edge.id)
            .filter(|job| job.incarnation == edge.incarnation())
    }

    /// A published job (a job still being submitted is unknown).
    pub(crate) fn lookup(&self, id: JobId) -> Result<Arc<Job<T>>, Error> {
        match self.jobs.get_cloned(&id) {
            Some(job) if job.word.load().state().is_some() => Ok(job),
            _ => Err(Error::UnknownJob(id)),
        }
    }

    /// The lanes of a runner type, if it has any. Borrowed from the array
    /// for small ids (no reference count traffic), an `Arc` from the map
    /// otherwise.
    #[inline]
    fn runner_lanes(&self, runner: RunnerType) -> Option<RunnerRef<'_, T>> {
        match self.fast_runners.get(runner.0 as usize) {
            Some(slot) => slot.get().map(|lanes| RunnerRef::Borrowed(lanes)),
            None => self.runners.get_cloned(&runner).map(RunnerRef::Shared),
        }
    }

    /// The lane group of (runner, cluster[, user]), creating the runner's
    /// lanes and the group if new. Borrows the runner's lanes (no reference
    /// count traffic on a line every submitter of that runner shares).
    /// The cluster is looked up (and registered with the default capacity
    /// if new) only when the group is new: a submit to an existing group
    /// touches neither the clusters map nor the cluster.
    fn lane_group(
        &self,
        runner: RunnerType,
        cluster: Option<ClusterId>,
        user: Option<UserId>,
    ) -> Arc<LaneGroup<T>> {
        self.runner_lanes_or_create(runner)
            .group_for(cluster, user, &self.group_count, |id| {
                self.cluster_or_create(id, self.config.default_capacity()).0
            })
    }

    /// The lanes of a runner type, made (empty) if it has none yet: a
    /// worker waits on its runner's signal before any job of it exists.
    fn runner_lanes_or_create(&self, runner: RunnerType) -> RunnerRef<'_, T> {
        match self.fast_runners.get(runner.0 as usize) {
            Some(slot) => RunnerRef::Borrowed(
                slot.get_or_init(|| Arc::new(RunnerLanes::new(self.uid, runner))),
            ),
            None => RunnerRef::Shared(
                self.runners
                    .get_or_insert_with(runner, || Arc::new(RunnerLanes::new(self.uid, runner))),
            ),
        }
    }

    /// A slot of `group`'s cluster was freed: wake one waiter of its runner
    /// type and, if other runner types use the cluster, one of each of
    /// theirs (any of them may be waiting for that slot).
    ///
    /// The cluster keeps its runner types' signals: walking every runner
    /// type's lanes instead (a `Vec` of them, collected through the
    /// runners map's shards, on every report) cost a single worker of the
    /// main job half its time on a 16-CPU machine, where dashmap makes 64
    /// shards (BENCHMARKS.md, issue 12, eighth session).
    #[inline]
    fn wake_slot_waiters(&self, group: &LaneGroup<T>) {
        group.wake.notify_one();
        if self.faults.own_runner_slot_wake() {
            return;
        }
        let Some(wakes) = group.cluster.as_deref().and_then(Cluster::shared_wakes) else {
            return;
        };
        for wake in wakes {
            if !Arc::ptr_eq(wake, &group.wake) {
                wake.notify_one();
            }
        }
    }

    /// Something changed that may let several waiters claim, or that every
    /// waiter must see (a capacity, a resume, resources, closing): wake
    /// every waiter of every runner type.
    fn wake_all_runners(&self) {
        for lanes in self.all_runner_lanes() {
            lanes.wake.notify_all();
        }
    }

    fn all_runner_lanes(&self) -> Vec<Arc<RunnerLanes<T>>> {
        let mut all: Vec<_> = self
            .fast_runners
            .iter()
            .filter_map(|s| s.get().cloned())
            .collect();
        all.extend(self.runners.values_cloned());
        all
    }

    /// Puts a job that just became pending at the back of its lane, and wakes
    /// sleeping workers.
    fn enqueue(&self, job: &Arc<Job<T>>, at: Enqueue) {
        self.enqueue_at(job, at, &Now::unread());
    }

    /// [`enqueue`](JobQueue::enqueue) by an operation that may have read
    /// the clock already (`now`).
    fn enqueue_at(&self, job: &Arc<Job<T>>, at: Enqueue, now: &Now) {
        self.enqueue_quietly_at(job, at, now);
        if self.faults.silent_enqueue() {
            return; // loom negative control: nobody is told
        }
        job.group().wake.notify_unless_pending();
    }

    /// [`enqueue`](JobQueue::enqueue) without the wake-up.
    fn enqueue_quietly(&self, job: &Arc<Job<T>>, at: Enqueue) {
        self.enqueue_quietly_at(job, at, &Now::unread());
    }

    fn enqueue_quietly_at(&self, job: &Arc<Job<T>>, at: Enqueue, now: &Now) {
        job.set_ready_at(now.get(self));
        let group = job.group();
        group.lanes[at.level].push(LaneEntry {
            job: Arc::clone(job),
            version: at.version,
            level: at.level as u8,
        });
        if self.faults.double_enqueue() {
            // Loom negative control: a second live entry.
            group.lanes[at.level].push(LaneEntry {
                job: Arc::clone(job),
                version: at.version,
                level: at.level as u8,
            });
        }
        if let Some(aging) = &self.aging {
            if at.level >= 1 && !at.promoted {
                group.aging[at.level].push(AgingEntry {
                    job: Arc::clone(job),
                    version: at.version,
                    due_micros: now.get(self).saturating_add(aging.after_micros),
                });
            }
        }
    }
}

/// The queue's clock, read at most once by one operation (the first step
/// that needs it reads it; the others reuse that reading).
pub(super) struct Now(core::cell::Cell<Option<u64>>);

impl Now {
    /// Not read yet.
    #[inline]
    pub(super) fn unread() -> Now {
        Now(core::cell::Cell::new(None))
    }

    /// The reading, taken now if this is the first call.
    #[inline]
    pub(super) fn get<T>(&self, queue: &JobQueue<T>) -> u64 {
        match self.0.get() {
            Some(micros) => micros,
            None => {
                let micros = queue.now_micros();
                self.0.set(Some(micros));
                micros
            }
        }
    }
}

fn not_queued(job: JobId, state: Option<JobState>) -> Error {
    match state {
        Some(state) => Error::NotQueued { job, state },
        None => Error::UnknownJob(job),
    }
}

impl<T> Drop for JobQueue<T> {
    /// A lane group's lanes, aging queues and set-aside list hold their
    /// jobs (`Arc<Job<T>>`), and a job holds its lane group (so that a release
    /// or a retry finds its lane without a lookup): a reference cycle by
    /// design, while the queue lives. Dropping the queue empties all three
    /// in every group, which breaks the cycles and frees every job (one at
    /// a time, however long its chain of dependents: see `Job`'s drop).
    /// A `submit_many` batch holds its records until its last job with
    /// dependents in it ends, and its records hold it (`job/batch.rs`):
    /// the drop also takes the records out of every batch still alive,
    /// which breaks those cycles.
    fn drop(&mut self) {
        self.events.close();
        let mut held = Vec::new();
        let batches = std::mem::take(&mut *self.batches.lock());
        for batch in batches.iter().filter_map(std::sync::Weak::upgrade) {
            batch.unlink(&mut held);
        }
        crate::job::dismantle(held);
        for lanes in self.all_runner_lanes() {
            for group in lanes.groups.iter() {
                for level in 0..Priority::LEVELS {
                    while group.lanes[level].pop().is_some() {}
                    while group.aging[level].pop().is_some() {}
                }
                *group.aging_head.lock() = [None, None, None, None, None];
                while group.set_aside.pop().is_some() {}
            }
        }
    }
}

impl<T> std::fmt::Debug for JobQueue<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JobQueue")
            .field("config", &self.config)
            .field("jobs", &self.jobs.len())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::claim::{Completion, Outcome};
    use crate::spec::{JobSpec, Resources};
    use std::time::Duration;

    #[test]
    fn debug_shows_the_configuration_and_the_job_count() {
        let q = JobQueue::builder().default_capacity(3).build().unwrap();
        q.submit(JobSpec::new(crate::ids::JobId(1))).unwrap();
        let shown = format!("{q:?}");
        assert!(shown.starts_with("JobQueue {"), "{shown}");
        assert!(shown.contains("jobs: 1"), "{shown}");
        assert!(shown.contains("default_capacity: 3"), "{shown}");
    }

    #[test]
    fn dropping_a_queue_frees_its_jobs() {
        let queue = JobQueue::builder()
            .aging(Duration::from_secs(60))
            .build()
            .unwrap();
        queue
            .submit(JobSpec::new(JobId(1)).priority(Priority::Low))
            .unwrap();
        queue
            .submit(JobSpec::new(JobId(2)).depends_on([JobId(1)]))
            .unwrap();
        let weak = Arc::downgrade(&queue.jobs.get_cloned(&JobId(1)).unwrap());
        drop(queue);
        assert!(weak.upgrade().is_none(), "a queued job outlived its queue");
    }

    #[test]
    fn a_batch_lets_its_records_go_when_its_last_job_with_dependents_in_it_ends() {
        // 1 <- 2 <- 3, and 4 alone: jobs 1 and 2 have dependents in the
        // batch, so the batch holds its records until both have ended.
        let queue = JobQueue::new();
        queue
            .submit_many([
                JobSpec::new(JobId(1)),
                JobSpec::new(JobId(2)).depends_on([JobId(1)]),
                JobSpec::new(JobId(3)).depends_on([JobId(2)]),
                JobSpec::new(JobId(4)),
            ])
            .unwrap();
        let third = queue.jobs.get_cloned(&JobId(3)).unwrap();
        let batch = Arc::clone(third.dependencies.batch().unwrap());
        assert!(queue
            .jobs
            .get_cloned(&JobId(4))
            .unwrap()
            .dependencies
            .batch()
            .is_none());
        let records: Vec<_> = (1..=4)
            .map(|id| Arc::downgrade(&queue.jobs.get_cloned(&JobId(id)).unwrap()))
            .collect();
        drop(third);
        assert!(batch.holds_records());
        let mut ended = Vec::new();
        while let Some(claim) = queue.claim(RunnerType::DEFAULT) {
            ended.push(claim.job().0);
            queue.complete(claim, Outcome::Success).unwrap();
            let both = ended.contains(&1) && ended.contains(&2);
            assert_eq!(batch.holds_records(), !both, "ended: {ended:?}");
        }
        ended.sort();
        assert_eq!(ended, [1, 2, 3, 4]);
        // Pruned, the records nothing else names are freed at once.
        drop(batch);
        assert_eq!(queue.prune_finished().len(), 4);
        for (id, record) in (1..=4).zip(records) {
            assert!(record.upgrade().is_none(), "job {id} outlived its pruning");
        }
    }

    #[test]
    fn dropping_a_queue_frees_a_batch_whose_table_is_alive() {
        // Jobs 1..=4: 2 and 3 depend on 1, 4 on 2 and 3; one more batch
        // (5, 6) depends on 4. Only job 1 runs: the batches keep their records.
        let queue = JobQueue::new();
        queue
            .submit_many((1..=4).map(|id| {
                let deps: &[u64] = match id {
                    2 | 3 => &[1],
                    4 => &[2, 3],
                    _ => &[],
                };
                JobSpec::new(JobId(id)).depends_on(deps.iter().map(|&d| JobId(d)))
            }))
            .unwrap();
        queue
            .submit_many([
                JobSpec::new(JobId(6)).depends_on([JobId(5), JobId(4)]),
                JobSpec::new(JobId(5)).depends_on([JobId(4)]),
            ])
            .unwrap();
        let claim = queue.claim(RunnerType::DEFAULT).unwrap();
        queue.complete(claim, Outcome::Success).unwrap();
        assert_eq!(queue.prune_finished().len(), 1);
        assert_eq!(queue.batches.lock().len(), 2);
        let records: Vec<_> = (2..=6)
            .map(|id| Arc::downgrade(&queue.jobs.get_cloned(&JobId(id)).unwrap()))
            .collect();
        drop(queue);
        for (id, record) in (2..=6).zip(records) {
            assert!(record.upgrade().is_none(), "job {id} outlived its queue");
        }
    }

    #[test]
    fn a_reused_pruned_id_is_not_mistaken_for_the_old_dependency() {
        let queue = JobQueue::new();
        queue.submit(JobSpec::new(JobId(1))).unwrap();
        let claim = queue.claim(RunnerType::DEFAULT).unwrap();
        queue.complete(claim, Outcome::Success).unwrap();
        queue
            .submit(JobSpec::new(JobId(2)).depends_on([JobId(1)]))
            .unwrap();
        assert_eq!(queue.prune_finished().len(), 1);
        queue.submit(JobSpec::new(JobId(1))).unwrap(); // the id again, a new job
        assert_eq!(queue.dependencies_satisfied(JobId(2)), Ok(true));
        // Job 2 no longer depends on anything live: the new job 1 may depend on it.
        assert_eq!(queue.add_dependencies(JobId(1), &[JobId(2)]), Ok(()));
    }

    #[test]
    fn a_claim_of_a_pruned_namesake_is_stale() {
        let queue = JobQueue::new();
        queue.submit(JobSpec::new(JobId(1))).unwrap();
        // This thread claims the first job 1.
        let old = queue.claim(RunnerType::DEFAULT).unwrap();
        let new = std::thread::scope(|s| {
            s.spawn(|| {
                // Another thread finishes it, prunes it, and claims a new job 1.
                queue.complete(old.clone(), Outcome::Success).unwrap();
                assert_eq!(queue.prune_finished().len(), 1);
                queue.submit(JobSpec::new(JobId(1))).unwrap();
                queue.claim(RunnerType::DEFAULT).unwrap()
            })
            .join()
            .unwrap()
        });
        // Same id and attempt as the old (pruned) job, another record:
        // the old claim is stale, the new one reaches the table's job.
        assert_eq!((new.job(), new.attempt()), (old.job(), old.attempt()));
        assert_ne!(new, old);
        let stale = Err(Error::StaleClaim {
            job: JobId(1),
            attempt: 1,
        });
        assert_eq!(queue.start(&old), stale);
        assert_eq!(queue.complete(old, Outcome::Success).map(|_| ()), stale);
        let claim = new;
        assert_eq!(queue.start(&claim), Ok(()));
        assert_eq!(queue.state(JobId(1)), Ok(JobState::Running));
        assert_eq!(
            queue.complete(claim, Outcome::Success),
            Ok(Completion::Completed)
        );
        assert_eq!(queue.metrics().completed, 2);
    }

    #[test]
    fn runners_beyond_the_array_are_served_from_the_map() {
        // Runner ids below FAST_RUNNERS live in an array, the others in the
        // map: both paths claim only their own runner's jobs.
        let queue = JobQueue::new();
        let runners = [
            RunnerType(0),
            RunnerType(FAST_RUNNERS as u32),
            RunnerType(u32::MAX),
        ];
        for (index, &runner) in runners.iter().enumerate() {
            for n in 0..3 {
                let id = JobId((index * 10 + n) as u64);
                queue.submit(JobSpec::new(id).runner(runner)).unwrap();
            }
        }
        assert_eq!(queue.claim(RunnerType(7)), None, "a runner with no jobs");
        assert!(queue.schedulable(RunnerType(7)).is_empty());
        for (index, &runner) in runners.iter().enumerate() {
            let expected: Vec<JobId> = (0..3).map(|n| JobId((index * 10 + n) as u64)).collect();
            assert_eq!(queue.schedulable(runner), expected);
            for &id in &expected {
                let claim = queue.claim(runner).unwrap();
                assert_eq!(claim.job(), id);
                queue.start(&claim).unwrap();
                assert_eq!(
                    queue.complete(claim, Outcome::Success),
                    Ok(Completion::Completed)
                );
            }
            assert_eq!(queue.claim(runner), None);
        }
        assert_eq!(queue.metrics().completed, 9);
    }

    #[test]
    fn set_aside_jobs_come_back_when_resources_grow() {
        let queue = JobQueue::new();
        let big = Resources {
            cores: 16,
            memory_gb: 8,
        };
        queue
            .set_cluster_resources(
                ClusterId(0),
                Resources {
                    cores: 8,
                    memory_gb: 8,
                },
            )
            .unwrap();
        queue
            .submit(JobSpec::new(JobId(1)).cluster(ClusterId(0)).resources(big))
            .unwrap();
        assert_eq!(queue.claim(RunnerType::DEFAULT), None);
        assert_eq!(queue.state(JobId(1)), Ok(JobState::Pending));
        queue.set_cluster_resources(ClusterId(0), big).unwrap();
        assert_eq!(
            queue.claim(RunnerType::DEFAULT).map(|c| c.job()),
            Some(JobId(1))
        );
    }

    #[test]
    fn aging_promotes_a_job_once() {
        let queue = JobQueue::builder().aging(Duration::ZERO).build().unwrap();
        queue
            .submit(JobSpec::new(JobId(1)).priority(Priority::Low))
            .unwrap();
        queue
            .submit(JobSpec::new(JobId(2)).priority(Priority::Normal))
            .unwrap();
        // Both age at once: job 1 is served at Normal, job 2 at High.
        assert_eq!(
            queue.claim(RunnerType::DEFAULT).map(|c| c.job()),
            Some(JobId(2))
        );
        assert_eq!(
            queue.claim(RunnerType::DEFAULT).map(|c| c.job()),
            Some(JobId(1))
        );
        assert_eq!(queue.job(JobId(1)).unwrap().priority, Priority::Low);
    }
}
