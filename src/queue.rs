//! [`JobQueue`]: the public facade that ties the job table, the state words,
//! the lanes, the clusters, the dependents lists and the metrics together.
//!
//! Every operation's linearization point is one compare-and-swap on one word,
//! named in its doc comment; `docs/DESIGN.md` collects them.

use crate::cluster::Cluster;
use crate::error::Error;
use crate::job::{DependencyRef, Job};
use crate::lanes::{AgingEntry, LaneEntry, LaneGroup, RunnerLanes};
use crate::metrics::{Counter, MetricsCell};
use crate::notify::WakeSignal;
use crate::scheduler::{QueueConfig, Scheduler, MAX_CAPACITY};
use crate::state::{Enqueue, StartRefusal, Word};
use crate::status::{ClusterStatus, Metrics, QueueStatus, StateCounts};
use crate::sync::OnceLock;
use crate::sync::{fence, AtomicU64, ConcurrentMap, Mutex, Ordering};
use crate::types::{
    CancelOutcome, Claim, ClusterId, Completion, JobId, JobSpec, JobState, JobView, Outcome,
    Priority, Resources, RunnerId, UserId, MAX_DEPENDENCIES, MAX_RETRIES_LIMIT,
};
use std::collections::{BTreeMap, HashSet, VecDeque};
use std::sync::Arc;
use std::time::Duration;

/// Runner ids below this are looked up in a plain array, not the map.
#[cfg(not(dagqueue_loom))]
const FAST_RUNNERS: usize = 64;
/// Under loom every runner goes through the (loom-visible) map: the array's
/// `OnceLock` synchronises through std atomics, which loom cannot see.
#[cfg(dagqueue_loom)]
const FAST_RUNNERS: usize = 0;

#[cfg(not(dagqueue_loom))]
thread_local! {
    /// The job this thread claimed last, with its queue's id (see
    /// `JobQueue::remember_claimed`).
    static LAST_CLAIMED: std::cell::RefCell<Option<Remembered>> =
        const { std::cell::RefCell::new(None) };
}

/// The lock-free job queue.
///
/// Share it by reference or `Arc`; every method may be called from any number
/// of threads at once. See [`Scheduler`] for the operations.
///
/// ```
/// use dagqueue::{JobId, JobQueue, JobSpec, Outcome, Priority, RunnerId, Scheduler};
/// use std::sync::Arc;
///
/// let queue = Arc::new(JobQueue::builder().default_capacity(4).build());
/// for id in 0..100 {
///     queue.submit(JobSpec::new(JobId(id)).priority(Priority::Normal)).unwrap();
/// }
/// let workers: Vec<_> = (0..2)
///     .map(|_| {
///         let queue = Arc::clone(&queue);
///         std::thread::spawn(move || {
///             let mut done = 0;
///             while let Some(claim) = queue.claim(RunnerId::DEFAULT) {
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
pub struct JobQueue {
    config: QueueConfig,
    jobs: ConcurrentMap<JobId, Arc<Job>>,
    fast_runners: Box<[OnceLock<Arc<RunnerLanes>>]>,
    runners: ConcurrentMap<RunnerId, Arc<RunnerLanes>>,
    clusters: ConcurrentMap<ClusterId, Arc<Cluster>>,
    metrics: MetricsCell,
    wake: WakeSignal,
    /// Serialises `add_dependencies` (cycle check + edge insertion); never
    /// taken on the claim / complete path.
    graph: Mutex<()>,
    clock: crate::clock::Clock,
    aging: Option<Aging>,
    faults: crate::faults::Faults,
    /// Unique per queue in this process: tags the per-thread claim memory
    /// (which loom builds leave out).
    #[cfg_attr(dagqueue_loom, allow(dead_code))]
    uid: u64,
}

/// A runner type's lanes, borrowed or shared.
enum RunnerRef<'a> {
    Borrowed(&'a RunnerLanes),
    Shared(Arc<RunnerLanes>),
}

impl core::ops::Deref for RunnerRef<'_> {
    type Target = RunnerLanes;
    #[inline]
    fn deref(&self) -> &RunnerLanes {
        match self {
            RunnerRef::Borrowed(lanes) => lanes,
            RunnerRef::Shared(lanes) => lanes,
        }
    }
}

/// A claimed job kept by the claiming thread, tagged with its queue's id.
#[cfg(not(dagqueue_loom))]
struct Remembered {
    queue: u64,
    job: Arc<Job>,
}

struct Aging {
    after_micros: u64,
    sweep_every_micros: u64,
    next_sweep: AtomicU64,
    /// Held (by `try_lock` only) by the one claimer sweeping.
    sweeping: Mutex<()>,
}

/// Builds a [`JobQueue`].
///
/// ```
/// use dagqueue::JobQueue;
/// use std::time::Duration;
/// let queue = JobQueue::builder()
///     .default_capacity(16)
///     .fair_share(true)
///     .aging(Duration::from_secs(60))
///     .build();
/// assert_eq!(queue.config().default_capacity, 16);
/// ```
#[derive(Clone, Debug, Default)]
pub struct JobQueueBuilder {
    config: QueueConfig,
    faults: crate::faults::Faults,
}

impl JobQueueBuilder {
    /// Capacity of a cluster first named by a job (default 8; 0 is raised to 1,
    /// values above [`MAX_CAPACITY`] are lowered to it).
    ///
    /// ```
    /// use dagqueue::{ClusterId, JobId, JobQueue, JobSpec, Scheduler};
    /// let q = JobQueue::builder().default_capacity(2).build();
    /// q.submit(JobSpec::new(JobId(1)).cluster(ClusterId(5))).unwrap();
    /// assert_eq!(q.status().clusters[&ClusterId(5)].capacity, 2);
    /// ```
    pub fn default_capacity(mut self, capacity: u32) -> Self {
        self.config.default_capacity = capacity.clamp(1, MAX_CAPACITY);
        self
    }

    /// Round-robin between users within a priority level.
    ///
    /// ```
    /// use dagqueue::{JobId, JobQueue, JobSpec, RunnerId, Scheduler, UserId};
    /// let q = JobQueue::builder().fair_share(true).build();
    /// for id in 0..3 {
    ///     q.submit(JobSpec::new(JobId(id)).user(UserId(1))).unwrap();
    /// }
    /// q.submit(JobSpec::new(JobId(9)).user(UserId(2))).unwrap();
    /// let order: Vec<u64> = (0..4).map(|_| q.claim(RunnerId::DEFAULT).unwrap().job.0).collect();
    /// assert_eq!(order, vec![0, 9, 1, 2]); // user 2 does not wait behind user 1
    /// ```
    pub fn fair_share(mut self, on: bool) -> Self {
        self.config.fair_share = on;
        self
    }

    /// Serve a job that waited longer than `after` at its level one level higher.
    ///
    /// ```
    /// use dagqueue::{JobId, JobQueue, JobSpec, Priority, Scheduler};
    /// use std::time::Duration;
    /// let q = JobQueue::builder().aging(Duration::from_secs(600)).build();
    /// q.submit(JobSpec::new(JobId(1)).priority(Priority::Low)).unwrap();
    /// assert_eq!(q.config().aging, Some(Duration::from_secs(600)));
    /// ```
    pub fn aging(mut self, after: Duration) -> Self {
        self.config.aging = Some(after);
        self
    }

    /// Loom negative controls only: build a queue with deliberately broken
    /// protocol steps.
    #[cfg(dagqueue_loom)]
    #[doc(hidden)]
    pub fn __with_faults(mut self, faults: crate::faults::Faults) -> Self {
        self.faults = faults;
        self
    }

    /// Builds the queue.
    ///
    /// ```
    /// let queue = dagqueue::JobQueue::builder().build();
    /// assert!(format!("{queue:?}").starts_with("JobQueue"));
    /// ```
    pub fn build(self) -> JobQueue {
        let mut queue = JobQueue::with_config(self.config);
        queue.faults = self.faults;
        queue
    }
}

impl JobQueue {
    /// A builder with the default configuration.
    ///
    /// ```
    /// let queue = dagqueue::JobQueue::builder().build();
    /// assert_eq!(queue.config(), dagqueue::QueueConfig::default());
    /// ```
    pub fn builder() -> JobQueueBuilder {
        JobQueueBuilder::default()
    }

    /// A queue with this configuration.
    ///
    /// ```
    /// use dagqueue::{JobQueue, QueueConfig};
    /// let queue = JobQueue::with_config(QueueConfig { fair_share: true, ..QueueConfig::default() });
    /// assert!(queue.config().fair_share);
    /// ```
    pub fn with_config(mut config: QueueConfig) -> JobQueue {
        config.default_capacity = config.default_capacity.clamp(1, MAX_CAPACITY);
        let aging = config.aging.map(|after| {
            let after_micros = after.as_micros().min(u128::from(u64::MAX / 4)) as u64;
            Aging {
                after_micros,
                sweep_every_micros: (after_micros / 8).min(100_000),
                next_sweep: AtomicU64::new(0),
                sweeping: Mutex::new(()),
            }
        });
        JobQueue {
            config,
            jobs: ConcurrentMap::new(),
            fast_runners: (0..FAST_RUNNERS).map(|_| OnceLock::new()).collect(),
            runners: ConcurrentMap::new(),
            clusters: ConcurrentMap::new(),
            metrics: MetricsCell::new(),
            wake: WakeSignal::new(),
            graph: Mutex::new(()),
            clock: crate::clock::Clock::new(),
            aging,
            faults: crate::faults::Faults::default(),
            uid: crate::sync::next_queue_uid(),
        }
    }

    /// The configuration it was built with.
    ///
    /// ```
    /// let queue = dagqueue::JobQueue::builder().default_capacity(3).build();
    /// assert_eq!(queue.config().default_capacity, 3);
    /// ```
    pub fn config(&self) -> QueueConfig {
        self.config
    }

    #[inline]
    fn now_micros(&self) -> u64 {
        self.clock.now_micros()
    }

    /// A published job (a job still being submitted is unknown).
    #[inline]
    fn lookup(&self, id: JobId) -> Result<Arc<Job>, Error> {
        match self.jobs.get_cloned(&id) {
            Some(job) if job.word.load().state().is_some() => Ok(job),
            _ => Err(Error::UnknownJob(id)),
        }
    }

    /// The lanes of a runner type, if it has any. Borrowed from the array
    /// for small ids (no reference count traffic), an `Arc` from the map
    /// otherwise.
    #[inline]
    fn runner_lanes(&self, runner: RunnerId) -> Option<RunnerRef<'_>> {
        match self.fast_runners.get(runner.0 as usize) {
            Some(slot) => slot.get().map(|lanes| RunnerRef::Borrowed(lanes)),
            None => self.runners.get_cloned(&runner).map(RunnerRef::Shared),
        }
    }

    /// The lane group of (runner, cluster[, user]), creating the runner's
    /// lanes and the group if new. Borrows the runner's lanes (no reference
    /// count traffic on a line every submitter of that runner shares).
    fn lane_group(
        &self,
        runner: RunnerId,
        cluster: Option<&Arc<Cluster>>,
        user: Option<UserId>,
    ) -> Arc<LaneGroup> {
        match self.fast_runners.get(runner.0 as usize) {
            Some(slot) => slot
                .get_or_init(|| Arc::new(RunnerLanes::new()))
                .group_for(cluster, user),
            None => self
                .runners
                .get_or_insert_with(runner, || Arc::new(RunnerLanes::new()))
                .group_for(cluster, user),
        }
    }

    fn all_runner_lanes(&self) -> Vec<Arc<RunnerLanes>> {
        let mut all: Vec<_> = self
            .fast_runners
            .iter()
            .filter_map(|s| s.get().cloned())
            .collect();
        all.extend(self.runners.values_cloned());
        all
    }

    fn cluster_or_create(&self, id: ClusterId, capacity: u32) -> (Arc<Cluster>, bool) {
        let mut created = false;
        let cluster = self.clusters.get_or_insert_with(id, || {
            created = true;
            Arc::new(Cluster::new(id, capacity))
        });
        (cluster, created)
    }

    /// Puts a job that just became pending at the back of its lane, and wakes
    /// sleeping workers.
    fn enqueue(&self, job: &Arc<Job>, at: Enqueue) {
        let now = self.now_micros();
        job.set_ready_at(now);
        let group = job.group();
        group.lanes[at.level].push(LaneEntry {
            job: Arc::clone(job),
            version: at.version,
        });
        if let Some(aging) = &self.aging {
            if at.level >= 1 && !at.promoted {
                group.aging[at.level].push(AgingEntry {
                    job: Arc::clone(job),
                    version: at.version,
                    due_micros: now.saturating_add(aging.after_micros),
                });
            }
        }
        self.wake.notify();
    }

    /// The one step after any CAS that made `job` terminal: count it, then
    /// settle its dependents.
    fn finished(&self, job: &Job, terminal: JobState) {
        self.count_terminal(terminal);
        self.settle_dependents(job, terminal);
    }

    /// The job just became terminal (`terminal`): seal its dependents list and
    /// release (on completion) or end (on failure / cancellation) them,
    /// transitively, in registration order.
    fn settle_dependents(&self, job: &Job, terminal: JobState) {
        if terminal == JobState::Completed {
            job.dependents.seal_each(self.faults, |dependent| {
                if let Some(at) = dependent.word.release_one() {
                    self.enqueue(&dependent, at);
                }
            });
            return;
        }
        let mut work: VecDeque<Arc<Job>> = job.dependents.seal_with(self.faults).into();
        while let Some(dependent) = work.pop_front() {
            if dependent.word.fail_by_dependency(terminal) {
                self.count_terminal(terminal);
                work.extend(dependent.dependents.seal_with(self.faults));
            }
        }
    }

    fn count_terminal(&self, terminal: JobState) {
        let counter = match terminal {
            JobState::Completed => Counter::Completed,
            JobState::Failed => Counter::Failed,
            _ => Counter::Cancelled,
        };
        self.metrics.add(counter, 1);
        if terminal == JobState::Completed {
            self.metrics
                .record_completion(self.now_micros() / 1_000_000);
        }
    }

    /// A job registered with `dependency` learnt that it already finished.
    fn settle_registration(&self, job: &Arc<Job>, dependency: &Job) {
        match dependency.word.load().state() {
            Some(JobState::Completed) => {
                if let Some(at) = job.word.release_one() {
                    self.enqueue(job, at);
                }
            }
            Some(terminal @ (JobState::Failed | JobState::Cancelled)) => {
                if job.word.fail_by_dependency(terminal) {
                    self.finished(job, terminal);
                }
            }
            // Sealed lists belong to terminal jobs only.
            _ => unreachable!("a sealed dependents list belongs to a finished job"),
        }
    }

    /// Registers `job` as a dependent of each of `dependencies`.
    fn register_dependent(&self, job: &Arc<Job>, dependencies: &[Arc<Job>]) {
        for dependency in dependencies {
            if let Err(job) = dependency.dependents.push(Arc::clone(job)) {
                self.settle_registration(&job, dependency);
            }
        }
    }

    /// Tries the lanes of one group at one level, with a slot of its cluster
    /// already reserved. Returns the claimed job and its new word.
    fn take_from_lane(&self, group: &LaneGroup, level: usize) -> Option<(Arc<Job>, Word)> {
        let lane = &group.lanes[level];
        let cluster = group.cluster.as_deref();
        let generation = cluster.map(Cluster::resources_generation);
        while let Some(entry) = lane.pop() {
            // Cheap filter before the CAS: skip entries that are stale.
            let word = entry.job.word.load();
            if word.state() != Some(JobState::Pending) || word.version() != entry.version {
                continue;
            }
            if let (Some(cluster), Some(generation)) = (cluster, generation) {
                if !cluster.fits(&entry.job.resources) {
                    self.set_aside(cluster, generation, entry);
                    continue;
                }
            }
            if let Some(new) = entry.job.word.claim(entry.version, self.faults) {
                return Some((entry.job, new));
            }
        }
        None
    }

    /// Sets aside an entry whose job does not fit `cluster`'s slot, judged
    /// with the resources of `generation`.
    fn set_aside(&self, cluster: &Cluster, generation: u64, entry: LaneEntry) {
        cluster.set_aside.push(entry);
        // SeqCst fence, then SeqCst load: if `set_cluster_resources` bumped
        // the generation after we read it, either we see the bump here and
        // restore the entry ourselves, or its drain (after its own fence)
        // sees our push.
        fence(Ordering::SeqCst);
        if cluster.resources_generation() != generation && !self.faults.unchecked_set_aside() {
            self.restore_set_aside(cluster);
        }
    }

    /// Puts set-aside entries that are still current back at the back of
    /// their lanes, in the order they were set aside.
    fn restore_set_aside(&self, cluster: &Cluster) {
        let mut restored = false;
        while let Some(entry) = cluster.set_aside.pop() {
            let word = entry.job.word.load();
            if word.state() == Some(JobState::Pending) && word.version() == entry.version {
                let group = Arc::clone(entry.job.group());
                group.lanes[word.level()].push(entry);
                restored = true;
            }
        }
        if restored {
            self.wake.notify();
        }
    }

    fn claim_from(&self, lanes: &RunnerLanes) -> Option<Claim> {
        let groups = &lanes.groups;
        let count = groups.len();
        if count == 0 {
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
                if let Some(claim) = self.claim_in(group, level) {
                    // Write only when it moves: an unchanged cursor stays a
                    // read-shared cache line.
                    if lanes.cursor.load(Ordering::Relaxed) != index + 1 {
                        lanes.cursor.store(index + 1, Ordering::Relaxed);
                    }
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
    #[inline]
    fn claim_in(&self, group: &LaneGroup, level: usize) -> Option<Claim> {
        if group.lanes[level].is_empty() {
            return None;
        }
        let cluster = group.cluster.as_deref();
        if let Some(cluster) = cluster {
            if !cluster.try_reserve(self.faults) {
                return None;
            }
        }
        let Some((job, word)) = self.take_from_lane(group, level) else {
            if let Some(cluster) = cluster {
                cluster.cancel_reservation();
                // A claimer may have found the cluster full because of our
                // reservation.
                self.wake.notify();
            }
            return None;
        };
        if let Some(cluster) = cluster {
            cluster.commit();
        }
        self.metrics.add(Counter::Scheduled, 1);
        let now = self.now_micros();
        self.metrics.record_wait(now.saturating_sub(job.ready_at()));
        let claim = Claim {
            job: job.id,
            attempt: word.attempt(),
        };
        self.remember_claimed(job);
        Some(claim)
    }

    /// Aging: promotes pending jobs that waited too long at their level. Run
    /// by at most one claimer at a time (`try_lock`: nobody waits for it),
    /// at most once per sweep interval.
    fn promote_aged(&self, aging: &Aging) {
        let now = self.now_micros();
        if now < aging.next_sweep.load(Ordering::Relaxed) {
            return;
        }
        let Some(_sweeping) = aging.sweeping.try_lock() else {
            return;
        };
        aging
            .next_sweep
            .store(now + aging.sweep_every_micros, Ordering::Relaxed);
        for lanes in self.all_runner_lanes() {
            for group in lanes.groups.iter() {
                let mut heads = group.aging_head.lock();
                for level in 1..Priority::LEVELS {
                    loop {
                        let Some(entry) = heads[level].take().or_else(|| group.aging[level].pop())
                        else {
                            break;
                        };
                        if entry.due_micros > now {
                            heads[level] = Some(entry);
                            break;
                        }
                        if let Some(at) = entry.job.word.promote(entry.version) {
                            self.enqueue(&entry.job, at);
                        }
                    }
                }
            }
        }
    }

    /// One read of a cluster's word (loom models).
    #[cfg(dagqueue_loom)]
    pub(crate) fn cluster_word(&self, id: ClusterId) -> Option<(u32, u32, u32, bool)> {
        let word = self.clusters.get_cloned(&id)?.load();
        Some((
            word.running(),
            word.reserving(),
            word.capacity(),
            word.paused(),
        ))
    }

    /// Keeps the job this thread just claimed, so that the `start` and
    /// `complete` it usually calls next skip the table lookup (a cold hash
    /// probe plus a shard lock at a million jobs). One job per thread is
    /// kept, tagged with this queue's id; it is only a hint: whenever the
    /// remembered job refuses a transition, the table is asked.
    #[inline]
    fn remember_claimed(&self, job: Arc<Job>) {
        #[cfg(not(dagqueue_loom))]
        {
            let remembered = Remembered {
                queue: self.uid,
                job,
            };
            // Replace, and drop the previous job outside the borrow. The
            // slot is only ever borrowed briefly by this thread's own calls,
            // none of which claims meanwhile, so the borrow cannot fail; if
            // it did, nothing would be remembered (only a hint is lost).
            let previous = LAST_CLAIMED.with(|slot| {
                slot.try_borrow_mut()
                    .map(|mut slot| slot.replace(remembered))
                    .ok()
                    .flatten()
            });
            drop(previous);
        }
        #[cfg(dagqueue_loom)]
        drop(job);
    }

    /// Runs `f` on the remembered job if it is `id` of this queue; the job
    /// stays remembered (it is dropped when this thread claims again).
    #[inline]
    fn with_remembered<R>(&self, id: JobId, f: impl FnOnce(&Arc<Job>) -> R) -> Option<R> {
        #[cfg(not(dagqueue_loom))]
        {
            LAST_CLAIMED.with(|slot| {
                let slot = slot.try_borrow().ok()?;
                match &*slot {
                    Some(remembered) if remembered.queue == self.uid && remembered.job.id == id => {
                        Some(f(&remembered.job))
                    }
                    _ => None,
                }
            })
        }
        #[cfg(dagqueue_loom)]
        {
            let _ = (id, f);
            None
        }
    }

    /// `complete` on a found job: the CAS that ends the attempt, then the
    /// slot release and the retry or the terminal step. `None`: the claim is
    /// stale. (A one-byte result: a wide `Result` handed back through the
    /// thread-local closure cost a store-forwarding stall per job.)
    fn complete_job(&self, job: &Arc<Job>, claim: Claim, outcome: Outcome) -> Option<Completion> {
        let word = job
            .word
            .finish(claim.attempt, outcome, job.max_retries)
            .ok()?;
        let cluster = job.group().cluster.as_deref();
        if let Some(cluster) = cluster {
            cluster.release();
        }
        let (terminal, completion) = match word.state() {
            Some(JobState::Pending) => {
                self.metrics.add(Counter::Retried, 1);
                self.enqueue(job, Enqueue::of(word));
                return Some(Completion::Retrying);
            }
            Some(JobState::Completed) => (JobState::Completed, Completion::Completed),
            Some(JobState::Failed) => (JobState::Failed, Completion::Failed),
            _ => (JobState::Cancelled, Completion::Cancelled),
        };
        self.finished(job, terminal);
        if cluster.is_some() {
            self.wake.notify();
        }
        Some(completion)
    }

    fn view(job: &Job, word: Word) -> Option<JobView> {
        Some(JobView {
            id: job.id,
            state: word.state()?,
            priority: word.priority(),
            attempt: word.attempt(),
            cancel_requested: word.cancel_requested(),
        })
    }

    /// Whether `target` is reachable from `from` along dependency edges
    /// (edges to pruned jobs end the path: a pruned job is finished).
    /// `seen` holds jobs known not to reach `target`: a search that returns
    /// false explored every descendant of what it visited, so one set serves
    /// every search for the same target.
    fn reaches(from: &Arc<Job>, target: &Arc<Job>, seen: &mut HashSet<*const Job>) -> bool {
        let mut stack = vec![Arc::clone(from)];
        while let Some(job) = stack.pop() {
            if Arc::ptr_eq(&job, target) {
                return true;
            }
            if !seen.insert(Arc::as_ptr(&job)) {
                continue;
            }
            stack.extend(
                job.dependencies
                    .load()
                    .iter()
                    .filter_map(|edge| edge.job.upgrade()),
            );
        }
        false
    }
}

impl Scheduler for JobQueue {
    /// Linearization point: the store that publishes the job (reserved →
    /// waiting) in `StateWord::publish` in `state.rs`. Before it, the id is
    /// reserved in the table (so a racing duplicate fails) but every
    /// operation treats the job as unknown.
    fn submit(&self, spec: JobSpec) -> Result<JobId, Error> {
        let id = spec.id;
        if spec.max_retries > MAX_RETRIES_LIMIT {
            return Err(Error::TooManyRetries(spec.max_retries));
        }
        if self.jobs.get_cloned(&id).is_some() {
            return Err(Error::DuplicateJob(id));
        }
        if spec.dependencies.contains(&id) {
            return Err(Error::SelfDependency(id));
        }
        let dependency_ids = crate::types::dedup_in_order(&spec.dependencies);
        if dependency_ids.len() > MAX_DEPENDENCIES {
            return Err(Error::TooManyDependencies(id));
        }
        let dependencies = dependency_ids
            .iter()
            .map(|&dependency| {
                self.lookup(dependency)
                    .map_err(|_| Error::UnknownDependency {
                        job: id,
                        dependency,
                    })
            })
            .collect::<Result<Vec<_>, _>>()?;

        // The guard (+1) keeps the job waiting until every dependency is registered.
        let word = Word::reserved(spec.priority, dependencies.len() as u64 + 1);
        let edges = dependencies.iter().map(DependencyRef::to).collect();
        let job = Arc::new(Job::new(&spec, word, edges));
        if self.jobs.insert_if_absent(id, Arc::clone(&job)).is_err() {
            return Err(Error::DuplicateJob(id));
        }
        let cluster = spec
            .cluster
            .map(|c| self.cluster_or_create(c, self.config.default_capacity).0);
        let user = self.config.fair_share.then_some(spec.user);
        let group = self.lane_group(spec.runner, cluster.as_ref(), user);
        let _ = job.group.set(group);
        job.word.publish();

        self.register_dependent(&job, &dependencies);
        if let Some(at) = job.word.release_one() {
            self.enqueue(&job, at);
        }
        Ok(id)
    }

    /// Serialised with other `add_dependencies` calls by a lock (cycle
    /// checks need a stable graph); the claim path never takes it.
    /// Linearization point: the CAS that makes the job wait for the new
    /// dependencies (`StateWord::add_waits` in `state.rs`), or that ends it
    /// when a new dependency already failed.
    fn add_dependencies(&self, id: JobId, dependencies: &[JobId]) -> Result<(), Error> {
        let _graph = self.graph.lock();
        let job = self.lookup(id)?;
        let word = job.word.load();
        let state = word.state().ok_or(Error::UnknownJob(id))?;
        if !matches!(state, JobState::Waiting | JobState::Pending) {
            return Err(Error::NotQueued { job: id, state });
        }
        let existing = job.dependencies.load();
        // Edges already recorded or named twice, by identity (not id: an id
        // may have been pruned and reused).
        let mut known: HashSet<*const Job> =
            existing.iter().map(|edge| edge.job.as_ptr()).collect();
        // Jobs a failed cycle search already explored cannot reach `job`.
        let mut explored = HashSet::new();
        let mut new = Vec::new();
        for &dependency in dependencies {
            if dependency == id {
                return Err(Error::SelfDependency(id));
            }
            let resolved = self
                .lookup(dependency)
                .map_err(|_| Error::UnknownDependency {
                    job: id,
                    dependency,
                })?;
            if !known.insert(Arc::as_ptr(&resolved)) {
                continue;
            }
            if Self::reaches(&resolved, &job, &mut explored) {
                return Err(Error::DependencyCycle {
                    job: id,
                    dependency,
                });
            }
            new.push(resolved);
        }
        if existing.len() + new.len() > MAX_DEPENDENCIES {
            return Err(Error::TooManyDependencies(id));
        }
        if new.is_empty() {
            return Ok(());
        }
        let mut all = existing.to_vec();
        all.extend(new.iter().map(DependencyRef::to));

        let ended = new.iter().find_map(|d| match d.word.load().state() {
            Some(t @ (JobState::Failed | JobState::Cancelled)) => Some(t),
            _ => None,
        });
        if let Some(terminal) = ended {
            job.word
                .end_queued(terminal)
                .map_err(|state| not_queued(id, state))?;
            job.dependencies.store(all);
            self.finished(&job, terminal);
            return Ok(());
        }
        let unfinished: Vec<Arc<Job>> = new
            .into_iter()
            .filter(|d| d.word.load().state() != Some(JobState::Completed))
            .collect();
        if unfinished.is_empty() {
            // Only completed dependencies: recorded, nothing else changes.
            job.dependencies.store(all);
            return Ok(());
        }
        job.word
            .add_waits(unfinished.len() as u64)
            .map_err(|state| not_queued(id, state))?;
        job.dependencies.store(all);
        self.register_dependent(&job, &unfinished);
        if let Some(at) = job.word.release_one() {
            self.enqueue(&job, at);
        }
        Ok(())
    }

    /// Linearization point: the CAS pending → scheduled
    /// (`StateWord::claim` in `state.rs`), made while a slot of the job's
    /// cluster is reserved.
    fn claim(&self, runner: RunnerId) -> Option<Claim> {
        if let Some(aging) = &self.aging {
            self.promote_aged(aging);
        }
        // No closure here: the claim is built straight into the caller's
        // return slot (a 24-byte value handed back through a closure was
        // copied with a 16-byte load over narrower stores, a store-forwarding
        // stall on every claim).
        let lanes = self.runner_lanes(runner)?;
        self.claim_from(&lanes)
    }

    fn claim_wait(&self, runner: RunnerId, timeout: Duration) -> Option<Claim> {
        self.wake.wait_for(timeout, || self.claim(runner))
    }

    /// Linearization point: the CAS scheduled → running.
    fn start(&self, claim: &Claim) -> Result<(), Error> {
        // Fast path: the job this thread just claimed. A refusal there may
        // come from a pruned namesake, so it is settled by the table.
        if self.with_remembered(claim.job, |job| job.word.start(claim.attempt).is_ok())
            == Some(true)
        {
            return Ok(());
        }
        let job = self.lookup(claim.job)?;
        job.word
            .start(claim.attempt)
            .map_err(|refusal| match refusal {
                StartRefusal::Stale => Error::StaleClaim {
                    job: claim.job,
                    attempt: claim.attempt,
                },
                StartRefusal::AlreadyStarted => Error::AlreadyStarted(claim.job),
                StartRefusal::CancelRequested => Error::CancelRequested(claim.job),
            })
    }

    /// Linearization point: the CAS that ends the attempt
    /// (`StateWord::finish` in `state.rs`); it checks the attempt, so a
    /// repeated or late report fails it and changes nothing.
    fn complete(&self, claim: Claim, outcome: Outcome) -> Result<Completion, Error> {
        // Fast path: the job this thread claimed last (no table lookup). If
        // its CAS fails it may be a pruned namesake: the table decides.
        if let Some(Some(completion)) =
            self.with_remembered(claim.job, |job| self.complete_job(job, claim, outcome))
        {
            return Ok(completion);
        }
        let job = self.lookup(claim.job)?;
        self.complete_job(&job, claim, outcome)
            .ok_or(Error::StaleClaim {
                job: claim.job,
                attempt: claim.attempt,
            })
    }

    /// Linearization point: the CAS that cancels a queued job or marks a
    /// claimed one.
    fn cancel(&self, id: JobId) -> Result<CancelOutcome, Error> {
        let job = self.lookup(id)?;
        match job.word.cancel() {
            Ok((_, new)) if new.state() == Some(JobState::Cancelled) => {
                self.finished(&job, JobState::Cancelled);
                Ok(CancelOutcome::Cancelled)
            }
            Ok(_) => Ok(CancelOutcome::Requested),
            Err(Some(state)) => Err(Error::AlreadyFinished { job: id, state }),
            Err(None) => Err(Error::UnknownJob(id)),
        }
    }

    /// Linearization point: the CAS that changes the priority (and, for a
    /// pending job, the version, which turns its old lane entry stale).
    fn reprioritize(&self, id: JobId, priority: Priority) -> Result<(), Error> {
        let job = self.lookup(id)?;
        match job.word.reprioritize(priority) {
            Ok(Some(at)) => {
                self.enqueue(&job, at);
                Ok(())
            }
            Ok(None) => Ok(()),
            Err(state) => Err(not_queued(id, state)),
        }
    }

    fn set_cluster_capacity(&self, cluster: ClusterId, capacity: u32) -> Result<(), Error> {
        if capacity == 0 {
            return Err(Error::ZeroCapacity(cluster));
        }
        if capacity > MAX_CAPACITY {
            return Err(Error::CapacityTooLarge { cluster, capacity });
        }
        let (entry, created) = self.cluster_or_create(cluster, capacity);
        if !created {
            entry.set_capacity(capacity);
        }
        self.wake.notify();
        Ok(())
    }

    /// Returns once the paused flag is set and every claim that reserved a
    /// slot before it has settled.
    fn pause_cluster(&self, cluster: ClusterId) -> Result<(), Error> {
        let entry = self
            .clusters
            .get_cloned(&cluster)
            .ok_or(Error::UnknownCluster(cluster))?;
        entry.pause();
        Ok(())
    }

    fn resume_cluster(&self, cluster: ClusterId) -> Result<(), Error> {
        let entry = self
            .clusters
            .get_cloned(&cluster)
            .ok_or(Error::UnknownCluster(cluster))?;
        entry.resume();
        self.wake.notify();
        Ok(())
    }

    fn set_cluster_resources(&self, cluster: ClusterId, resources: Resources) -> Result<(), Error> {
        let (entry, _) = self.cluster_or_create(cluster, self.config.default_capacity);
        entry.set_resources(resources);
        self.restore_set_aside(&entry);
        self.wake.notify();
        Ok(())
    }

    fn job(&self, id: JobId) -> Result<JobView, Error> {
        let job = self.lookup(id)?;
        Self::view(&job, job.word.load()).ok_or(Error::UnknownJob(id))
    }

    /// Reads the job's dependency snapshot and each dependency's state word.
    fn dependencies_satisfied(&self, id: JobId) -> Result<bool, Error> {
        let job = self.lookup(id)?;
        let dependencies = job.dependencies.load();
        Ok(dependencies.iter().all(|edge| match edge.job.upgrade() {
            Some(dependency) => dependency.word.load().state() == Some(JobState::Completed),
            // Pruned and freed: it had finished; had it failed or been
            // cancelled, this job would have ended too and nobody would ask.
            None => true,
        }))
    }

    fn schedulable(&self, runner: RunnerId) -> Vec<JobId> {
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

    fn status(&self) -> QueueStatus {
        let mut by_state = StateCounts::default();
        let mut queued_by_priority = [0; Priority::LEVELS];
        let mut unfinished_by_runner = BTreeMap::new();
        let mut queued_by_cluster: BTreeMap<ClusterId, usize> = BTreeMap::new();
        self.jobs.for_each_value(|job| {
            let word = job.word.load();
            let Some(state) = word.state() else { return };
            by_state.add(state);
            if matches!(state, JobState::Waiting | JobState::Pending) {
                queued_by_priority[usize::from(word.priority().level())] += 1;
                if let Some(cluster) = &job.group().cluster {
                    *queued_by_cluster.entry(cluster.id).or_default() += 1;
                }
            }
            if !state.is_terminal() {
                *unfinished_by_runner.entry(job.runner).or_default() += 1;
            }
        });
        let clusters = self
            .clusters
            .entries_cloned()
            .into_iter()
            .map(|(id, cluster)| {
                let word = cluster.load();
                let status = ClusterStatus {
                    running: word.running(),
                    capacity: word.capacity(),
                    paused: word.paused(),
                    queued: queued_by_cluster.get(&id).copied().unwrap_or(0),
                    can_accept: word.can_accept(),
                    resources: cluster.resources(),
                };
                (id, status)
            })
            .collect();
        QueueStatus {
            by_state,
            queued_by_priority,
            unfinished_by_runner,
            clusters,
            metrics: self.metrics(),
        }
    }

    fn metrics(&self) -> Metrics {
        self.metrics.read(self.now_micros() / 1_000_000)
    }

    fn prune_finished(&self) -> usize {
        let mut pruned = 0;
        self.jobs.retain(|_, job| {
            let keep = !job.word.load().state().is_some_and(JobState::is_terminal);
            if !keep {
                pruned += 1;
            }
            keep
        });
        pruned
    }
}

fn not_queued(job: JobId, state: Option<JobState>) -> Error {
    match state {
        Some(state) => Error::NotQueued { job, state },
        None => Error::UnknownJob(job),
    }
}

impl Drop for JobQueue {
    /// Lane entries hold their job, and a job holds its lane group: empty
    /// every lane, aging queue and set-aside list so that those reference
    /// cycles are broken and every job is freed.
    fn drop(&mut self) {
        for lanes in self.all_runner_lanes() {
            for group in lanes.groups.iter() {
                for level in 0..Priority::LEVELS {
                    while group.lanes[level].pop().is_some() {}
                    while group.aging[level].pop().is_some() {}
                }
                *group.aging_head.lock() = [None, None, None, None, None];
            }
        }
        for cluster in self.clusters.values_cloned() {
            while cluster.set_aside.pop().is_some() {}
        }
    }
}

impl std::fmt::Debug for JobQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JobQueue")
            .field("config", &self.config)
            .field("jobs", &self.jobs.len())
            .finish_non_exhaustive()
    }
}

#[cfg(all(test, not(dagqueue_loom)))]
mod tests {
    use super::*;

    #[test]
    fn dropping_a_queue_frees_its_jobs() {
        let queue = JobQueue::builder().aging(Duration::from_secs(60)).build();
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
    fn a_reused_pruned_id_is_not_mistaken_for_the_old_dependency() {
        let queue = JobQueue::builder().build();
        queue.submit(JobSpec::new(JobId(1))).unwrap();
        let claim = queue.claim(RunnerId::DEFAULT).unwrap();
        queue.complete(claim, Outcome::Success).unwrap();
        queue
            .submit(JobSpec::new(JobId(2)).depends_on([JobId(1)]))
            .unwrap();
        assert_eq!(queue.prune_finished(), 1);
        queue.submit(JobSpec::new(JobId(1))).unwrap(); // the id again, a new job
        assert_eq!(queue.dependencies_satisfied(JobId(2)), Ok(true));
        // Job 2 no longer depends on anything live: the new job 1 may depend on it.
        assert_eq!(queue.add_dependencies(JobId(1), &[JobId(2)]), Ok(()));
    }

    #[test]
    fn a_remembered_claim_of_a_pruned_namesake_defers_to_the_table() {
        let queue = JobQueue::builder().build();
        queue.submit(JobSpec::new(JobId(1))).unwrap();
        // This thread claims the first job 1 and remembers it.
        let old = queue.claim(RunnerId::DEFAULT).unwrap();
        std::thread::scope(|s| {
            s.spawn(|| {
                // Another thread finishes it, prunes it, and claims a new job 1.
                queue.complete(old, Outcome::Success).unwrap();
                assert_eq!(queue.prune_finished(), 1);
                queue.submit(JobSpec::new(JobId(1))).unwrap();
                let new = queue.claim(RunnerId::DEFAULT).unwrap();
                assert_eq!(
                    new,
                    Claim {
                        job: JobId(1),
                        attempt: 1
                    }
                );
            });
        });
        // Same id and attempt as the remembered (pruned) job: the table's job
        // is the one started and completed.
        let claim = Claim {
            job: JobId(1),
            attempt: 1,
        };
        assert_eq!(queue.start(&claim), Ok(()));
        assert_eq!(queue.state(JobId(1)), Ok(JobState::Running));
        assert_eq!(
            queue.complete(claim, Outcome::Success),
            Ok(Completion::Completed)
        );
        assert_eq!(queue.metrics().completed, 2);
    }

    #[test]
    fn a_remembered_claim_is_per_queue() {
        let first = JobQueue::builder().build();
        let second = JobQueue::builder().build();
        first.submit(JobSpec::new(JobId(1))).unwrap();
        second.submit(JobSpec::new(JobId(1))).unwrap();
        let claim = first.claim(RunnerId::DEFAULT).unwrap();
        // The same claim on the other queue names a job nobody claimed there.
        assert_eq!(
            second.complete(claim, Outcome::Success),
            Err(Error::StaleClaim {
                job: JobId(1),
                attempt: 1
            })
        );
        assert_eq!(
            first.complete(claim, Outcome::Success),
            Ok(Completion::Completed)
        );
    }

    #[test]
    fn runners_beyond_the_array_are_served_from_the_map() {
        // Runner ids below FAST_RUNNERS live in an array, the others in the
        // map: both paths claim only their own runner's jobs.
        let queue = JobQueue::builder().build();
        let runners = [
            RunnerId(0),
            RunnerId(FAST_RUNNERS as u32),
            RunnerId(u32::MAX),
        ];
        for (index, &runner) in runners.iter().enumerate() {
            for n in 0..3 {
                let id = JobId((index * 10 + n) as u64);
                queue.submit(JobSpec::new(id).runner(runner)).unwrap();
            }
        }
        assert_eq!(queue.claim(RunnerId(7)), None, "a runner with no jobs");
        assert!(queue.schedulable(RunnerId(7)).is_empty());
        for (index, &runner) in runners.iter().enumerate() {
            let expected: Vec<JobId> = (0..3).map(|n| JobId((index * 10 + n) as u64)).collect();
            assert_eq!(queue.schedulable(runner), expected);
            for &id in &expected {
                let claim = queue.claim(runner).unwrap();
                assert_eq!(claim.job, id);
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
        let queue = JobQueue::builder().build();
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
        assert_eq!(queue.claim(RunnerId::DEFAULT), None);
        assert_eq!(queue.state(JobId(1)), Ok(JobState::Pending));
        queue.set_cluster_resources(ClusterId(0), big).unwrap();
        assert_eq!(
            queue.claim(RunnerId::DEFAULT).map(|c| c.job),
            Some(JobId(1))
        );
    }

    #[test]
    fn aging_promotes_a_job_once() {
        let queue = JobQueue::builder().aging(Duration::ZERO).build();
        queue
            .submit(JobSpec::new(JobId(1)).priority(Priority::Low))
            .unwrap();
        queue
            .submit(JobSpec::new(JobId(2)).priority(Priority::Normal))
            .unwrap();
        // Both age at once: job 1 is served at Normal, job 2 at High.
        assert_eq!(
            queue.claim(RunnerId::DEFAULT).map(|c| c.job),
            Some(JobId(2))
        );
        assert_eq!(
            queue.claim(RunnerId::DEFAULT).map(|c| c.job),
            Some(JobId(1))
        );
        assert_eq!(queue.job(JobId(1)).unwrap().priority, Priority::Low);
    }
}
