//! The whole queue as plain collections, meant to live behind one lock.
//!
//! Every method takes `&mut self` and runs to completion: the caller holds the
//! lock. Nothing here blocks, allocates unboundedly per call or panics on bad
//! input. Validation always comes before the first change, so a method that
//! returns an error changed nothing.
//!
//! Layout:
//! * `jobs`: one [`JobRecord`] per known job: its state, its dependencies and
//!   the count of unfinished ones, its dependents in registration order, and
//!   where it sits in the lanes.
//! * `runners`: per runner type, lane groups in order of first use, each with
//!   one FIFO lane per priority level, and the round-robin cursor.
//! * `clusters`: capacity, running count, paused flag, slot resources and the
//!   list of set-aside jobs.
//!
//! Lane entries are `(job, seq)`; the entry is live while the job's
//! `entry == Some(seq)`. Leaving a lane other than by being popped (cancel,
//! reprioritize, promotion, going back to `Waiting`) just clears `entry`: the
//! dead entry is skipped when popped, and a lane whose dead entries outnumber
//! its live ones is compacted. `seq` is a strictly increasing counter, so it
//! also orders entries by the time they entered their lane.

use crate::Claim;
use dagqueue::{
    bounded_reason, check_capacity, CancelOutcome, ClusterId, Completion, DependencyKind, Error,
    JobEnd, JobId, JobSpec, JobState, JobView, Metrics, Outcome, Priority, QueueConfig,
    QueueStatus, Resources, RetryBackoff, RunnerType, UserId, MAX_DEPENDENCIES,
};
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const LEVELS: usize = Priority::LEVELS;

/// A dependency edge: the other job and the kind of the edge.
type Edge = (JobId, DependencyKind);

/// How a job ends, and in which state, because `dependency` ended in
/// `state` in a way its edge's kind does not accept (`JobQueue`'s rule).
fn by_dependency(dependency: JobId, state: JobState) -> (JobState, JobEnd) {
    match state {
        JobState::Failed => (JobState::Failed, JobEnd::DependencyFailed { dependency }),
        JobState::Completed => (
            JobState::Cancelled,
            JobEnd::DependencySucceeded { dependency },
        ),
        _ => (
            JobState::Cancelled,
            JobEnd::DependencyCancelled { dependency },
        ),
    }
}

/// A number unique to each call in this process (job record incarnations).
fn next_incarnation() -> u64 {
    // Relaxed: only uniqueness matters.
    static NEXT: AtomicU64 = AtomicU64::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// Dead entries a lane tolerates before it is worth compacting.
const COMPACT_MIN_STALE: usize = 32;

/// Seconds in the completion window, one bucket each.
const WINDOW_SECS: usize = 60;

/// One job.
#[derive(Debug)]
struct JobRecord {
    /// Unique to this record in the process: its claims name it.
    incarnation: u64,
    /// How it ended, once terminal (a failure's reason is `reason`).
    end: Option<JobEnd>,
    /// Its last failure's reason, with that attempt.
    reason: Option<(u32, Arc<str>)>,
    /// Its lease (from its spec or the queue's default).
    lease: Option<Duration>,
    /// While claimed with a lease: when it runs out.
    lease_deadline: Option<Instant>,
    /// How its retries wait.
    backoff: RetryBackoff,
    runner: RunnerType,
    cluster: Option<ClusterId>,
    /// Index of its lane group in its runner's `groups`.
    group: usize,
    /// Declared priority (what `job()` shows).
    priority: Priority,
    /// The level it is served at (its lane); differs from `priority` only
    /// after an aging promotion.
    served: usize,
    state: JobState,
    attempt: u32,
    max_retries: u32,
    cancel_requested: bool,
    resources: Resources,
    /// Its dependencies with their kinds, in the order they were given.
    dependencies: Vec<Edge>,
    /// How many of them have not completed (only while `Waiting`).
    unfinished: usize,
    /// Jobs that registered on it while it was unfinished, in order.
    dependents: Vec<Edge>,
    /// The seq of its live lane entry, if it is in a lane.
    entry: Option<u64>,
    /// The token of its live set-aside entry, if it is set aside.
    set_aside: Option<u64>,
    /// Promoted by aging since it last entered `Pending` (or was moved by
    /// reprioritize).
    promoted: bool,
    /// When it last entered `Pending` (for the average wait).
    pending_since: Instant,
}

/// One FIFO lane.
#[derive(Debug, Default)]
struct Lane {
    entries: VecDeque<(JobId, u64)>,
    /// How many of `entries` are dead.
    stale: usize,
}

/// The lanes of one (cluster) or (cluster, user) group of a runner type.
#[derive(Debug)]
struct Group {
    cluster: Option<ClusterId>,
    lanes: [Lane; LEVELS],
}

/// A group's key: the cluster, and the user under fair share
/// (`UserId::default()` otherwise).
type GroupKey = (Option<ClusterId>, UserId);

/// The lanes of one runner type.
#[derive(Debug, Default)]
struct RunnerLanes {
    groups: Vec<Group>,
    index: HashMap<GroupKey, usize>,
    cursor: usize,
}

/// One cluster.
#[derive(Debug)]
struct Cluster {
    capacity: u32,
    running: u32,
    paused: bool,
    resources: Option<Resources>,
    /// Jobs set aside for not fitting, with their tokens, in order.
    set_aside: Vec<(JobId, u64)>,
}

impl JobRecord {
    fn view(&self, id: JobId) -> JobView {
        let end = match &self.end {
            Some(JobEnd::Failed { attempts, .. }) => Some(JobEnd::Failed {
                attempts: *attempts,
                reason: self.reason.as_ref().map(|(_, reason)| Arc::clone(reason)),
            }),
            other => other.clone(),
        };
        JobView::new(
            id,
            self.state,
            self.priority,
            self.attempt,
            self.cancel_requested,
            end,
        )
    }
}

impl Cluster {
    fn new(capacity: u32) -> Cluster {
        Cluster {
            capacity,
            running: 0,
            paused: false,
            resources: None,
            set_aside: Vec::new(),
        }
    }

    fn can_accept(&self) -> bool {
        !self.paused && self.running < self.capacity
    }

    fn fits(&self, needs: &Resources) -> bool {
        self.resources.is_none_or(|slot| needs.fits_in(&slot))
    }
}

/// Completions per second over the last [`WINDOW_SECS`] seconds.
#[derive(Debug)]
struct Window {
    epoch: Instant,
    /// `(second since epoch, completions in it)`, indexed by second modulo
    /// the window length.
    buckets: [(u64, u64); WINDOW_SECS],
}

impl Window {
    fn new(epoch: Instant) -> Window {
        Window {
            epoch,
            buckets: [(0, 0); WINDOW_SECS],
        }
    }

    fn second(&self, now: Instant) -> u64 {
        now.saturating_duration_since(self.epoch).as_secs()
    }

    fn record(&mut self, now: Instant) {
        let second = self.second(now);
        let bucket = &mut self.buckets[(second % WINDOW_SECS as u64) as usize];
        if bucket.0 != second {
            *bucket = (second, 0);
        }
        bucket.1 += 1;
    }

    fn count(&self, now: Instant) -> u64 {
        let second = self.second(now);
        self.buckets
            .iter()
            .filter(|(at, _)| *at <= second && second - *at < WINDOW_SECS as u64)
            .map(|(_, count)| count)
            .sum()
    }
}

/// The counters of [`Metrics`].
#[derive(Debug)]
struct Counters {
    submitted: u64,
    scheduled: u64,
    completed: u64,
    failed: u64,
    retried: u64,
    cancelled: u64,
    /// EMA of the wait, in seconds; `None` before the first claim.
    average_wait: Option<f64>,
    window: Window,
}

impl Counters {
    fn count_terminal(&mut self, state: JobState) {
        match state {
            JobState::Completed => self.completed += 1,
            JobState::Failed => self.failed += 1,
            JobState::Cancelled => self.cancelled += 1,
            _ => {}
        }
    }

    fn sample_wait(&mut self, wait: Duration) {
        let sample = wait.as_secs_f64();
        self.average_wait = Some(match self.average_wait {
            None => sample,
            Some(average) => average + 0.1 * (sample - average),
        });
    }
}

/// The whole queue.
#[derive(Debug)]
pub(super) struct State {
    config: QueueConfig,
    jobs: HashMap<JobId, JobRecord>,
    runners: HashMap<RunnerType, RunnerLanes>,
    clusters: HashMap<ClusterId, Cluster>,
    /// The last sequence number handed out.
    seq: u64,
    /// Lane entries that may be promoted by aging, oldest first:
    /// `(entered, job, seq)`. Only kept when aging is on.
    aging: VecDeque<(Instant, JobId, u64)>,
    counters: Counters,
    /// Set by any change that could let a sleeping `claim_wait` or
    /// `wait_idle` return; the lock wrapper clears it and notifies the
    /// condition variable.
    pub(super) wake: bool,
    /// Set once by `close`.
    pub(super) closed: bool,
    /// Lease deadlines of claimed attempts, earliest first: (deadline, job,
    /// incarnation, attempt). A heartbeat pushes a new one; an entry whose
    /// job no longer has that deadline is skipped when popped.
    leases: BinaryHeap<Reverse<(Instant, JobId, u64, u32)>>,
    /// Delayed jobs (a `delay` or a retry's backoff), earliest first:
    /// (due, job, incarnation).
    timers: BinaryHeap<Reverse<(Instant, JobId, u64)>>,
}

impl State {
    pub(super) fn new(config: QueueConfig) -> State {
        State {
            config,
            jobs: HashMap::new(),
            runners: HashMap::new(),
            clusters: HashMap::new(),
            seq: 0,
            aging: VecDeque::new(),
            counters: Counters {
                submitted: 0,
                scheduled: 0,
                completed: 0,
                failed: 0,
                retried: 0,
                cancelled: 0,
                average_wait: None,
                window: Window::new(Instant::now()),
            },
            wake: false,
            closed: false,
            leases: BinaryHeap::new(),
            timers: BinaryHeap::new(),
        }
    }

    fn next_seq(&mut self) -> u64 {
        self.seq += 1;
        self.seq
    }

    /// What `dependencies` mean for a job that takes them: the dependency
    /// that ends it at once and how (the first failed or cancelled one, in
    /// list order), and the unfinished ones it must wait for.
    fn classify(&self, dependencies: &[Edge]) -> (Option<(JobId, JobState)>, Vec<Edge>) {
        let mut ends = None;
        let mut unfinished = Vec::new();
        for &(dep, kind) in dependencies {
            match self.jobs.get(&dep).map(|job| job.state) {
                Some(state) if state.is_terminal() && !kind.releases(state) => {
                    ends.get_or_insert((dep, state));
                }
                // Pruned (it had ended), or ended as the edge accepts.
                None => {}
                Some(state) if state.is_terminal() => {}
                Some(_) => unfinished.push((dep, kind)),
            }
        }
        (ends, unfinished)
    }

    /// A cluster named by a job, a pause or a resume: registered if new, or
    /// `UnknownCluster` with declared clusters only (`JobQueue`'s rule).
    fn named_cluster(&mut self, cluster: ClusterId) -> Result<&mut Cluster, Error> {
        self.check_cluster_named(cluster)?;
        Ok(self.register_cluster(cluster))
    }

    /// Whether an operation may name `cluster`; registers nothing.
    fn check_cluster_named(&self, cluster: ClusterId) -> Result<(), Error> {
        if self.config.declared_clusters_only() && !self.clusters.contains_key(&cluster) {
            return Err(Error::UnknownCluster(cluster));
        }
        Ok(())
    }

    fn register_cluster(&mut self, cluster: ClusterId) -> &mut Cluster {
        let capacity = self.config.default_capacity();
        self.clusters
            .entry(cluster)
            .or_insert_with(|| Cluster::new(capacity))
    }

    /// The index of the lane group for this runner and key, created if new.
    fn group_for(&mut self, runner: RunnerType, cluster: Option<ClusterId>, user: UserId) -> usize {
        let key = (
            cluster,
            if self.config.fair_share() {
                user
            } else {
                UserId::default()
            },
        );
        let lanes = self.runners.entry(runner).or_default();
        if let Some(&index) = lanes.index.get(&key) {
            return index;
        }
        let index = lanes.groups.len();
        lanes.groups.push(Group {
            cluster,
            lanes: Default::default(),
        });
        lanes.index.insert(key, index);
        index
    }

    /// Puts a `Pending` job at the back of the lane of its served level.
    fn enlane(&mut self, id: JobId, now: Instant) {
        let seq = self.next_seq();
        let aging = self.config.aging().is_some();
        let Some(job) = self.jobs.get_mut(&id) else {
            return;
        };
        job.entry = Some(seq);
        if aging && job.served >= 1 && !job.promoted {
            self.aging.push_back((now, id, seq));
        }
        if let Some(group) = self
            .runners
            .get_mut(&job.runner)
            .and_then(|lanes| lanes.groups.get_mut(job.group))
        {
            group.lanes[job.served].entries.push_back((id, seq));
        }
    }

    /// Takes a job out of its lane or set-aside list (if it is in one).
    fn unlane(&mut self, id: JobId) {
        let State { jobs, runners, .. } = self;
        let Some(job) = jobs.get_mut(&id) else {
            return;
        };
        job.set_aside = None;
        if job.entry.take().is_none() {
            return;
        }
        let Some(lane) = runners
            .get_mut(&job.runner)
            .and_then(|lanes| lanes.groups.get_mut(job.group))
            .map(|group| &mut group.lanes[job.served])
        else {
            return;
        };
        lane.stale += 1;
        if lane.stale > COMPACT_MIN_STALE && lane.stale * 2 > lane.entries.len() {
            lane.entries
                .retain(|(id, seq)| jobs.get(id).is_some_and(|job| job.entry == Some(*seq)));
            lane.stale = 0;
        }
    }

    /// The job (which must exist) becomes `Pending` at the back of the lane
    /// of its declared level.
    fn enter_pending(&mut self, id: JobId, now: Instant) {
        let Some(job) = self.jobs.get_mut(&id) else {
            return;
        };
        job.state = JobState::Pending;
        job.served = job.priority.level() as usize;
        job.promoted = false;
        job.pending_since = now;
        self.enlane(id, now);
        self.wake = true;
    }

    /// The job (not in a lane) ends `Failed` or `Cancelled` (`end`), and its
    /// dependents are settled.
    fn finish(&mut self, id: JobId, state: JobState, end: JobEnd) {
        let Some(job) = self.jobs.get_mut(&id) else {
            return;
        };
        // Someone may wait for the last unfinished job.
        self.wake = true;
        job.state = state;
        job.end = Some(end);
        self.counters.count_terminal(state);
        self.settle_dependents(id, state, Instant::now());
    }

    /// Job `id` just ended in `terminal`: each dependent, in registration
    /// order, is released (one fewer unfinished dependency; pending at
    /// zero) if its edge's kind accepts that end, or else ends; an ended
    /// dependent's dependents are settled the same way, breadth first.
    fn settle_dependents(&mut self, id: JobId, terminal: JobState, now: Instant) {
        let mut queue = VecDeque::from([(id, terminal)]);
        while let Some((id, terminal)) = queue.pop_front() {
            let dependents = match self.jobs.get_mut(&id) {
                Some(job) => std::mem::take(&mut job.dependents),
                None => continue,
            };
            for &(dependent, kind) in &dependents {
                let Some(job) = self.jobs.get_mut(&dependent) else {
                    continue;
                };
                if kind.releases(terminal) {
                    job.unfinished = job.unfinished.saturating_sub(1);
                    if job.unfinished == 0 && job.state == JobState::Waiting {
                        self.enter_pending(dependent, now);
                    }
                } else if job.state == JobState::Waiting {
                    let (state, end) = by_dependency(id, terminal);
                    job.state = state;
                    job.end = Some(end);
                    self.counters.count_terminal(state);
                    self.wake = true;
                    queue.push_back((dependent, state));
                }
            }
            if let Some(job) = self.jobs.get_mut(&id) {
                job.dependents = dependents;
            }
        }
    }

    /// Whether `target` is reachable from `from` along dependency edges.
    /// `visited` may carry nodes already known not to reach `target`.
    fn reaches(&self, from: JobId, target: JobId, visited: &mut HashSet<JobId>) -> bool {
        let mut stack = vec![from];
        while let Some(id) = stack.pop() {
            if id == target {
                return true;
            }
            if !visited.insert(id) {
                continue;
            }
            // Every edge, whatever its kind and the job's state (a completed
            // job may hang on an after-any edge from one that ended by a
            // dependency still queued), as `JobQueue` does.
            if let Some(job) = self.jobs.get(&id) {
                stack.extend(
                    job.dependencies
                        .iter()
                        .rev()
                        .map(|edge| edge.0)
                        .filter(|dep| !visited.contains(dep)),
                );
            }
        }
        false
    }

    /// Aging: promotes every lane entry that has waited longer than the
    /// threshold at its level (and was not promoted since it entered
    /// `Pending`) to the back of the next better level.
    fn age(&mut self, now: Instant) {
        let Some(threshold) = self.config.aging() else {
            return;
        };
        while let Some(&(entered, id, seq)) = self.aging.front() {
            if now.saturating_duration_since(entered) <= threshold {
                break;
            }
            self.aging.pop_front();
            let eligible = self.jobs.get(&id).is_some_and(|job| {
                job.state == JobState::Pending
                    && job.entry == Some(seq)
                    && !job.promoted
                    && job.served >= 1
            });
            if !eligible {
                continue;
            }
            self.unlane(id);
            if let Some(job) = self.jobs.get_mut(&id) {
                job.served -= 1;
                job.promoted = true;
            }
            self.enlane(id, now);
        }
    }

    // ---------------------------------------------------------------- ops

    /// All or nothing: every check first (in `JobQueue::submit_many`'s
    /// order: each spec's own checks in batch order, then dependencies in
    /// batch order, then cycles inside the batch), then each job submitted
    /// in a topological order of the batch's edges (the batch order when
    /// it is one; otherwise Kahn's, first-in first-out from batch order).
    pub(super) fn submit_many(&mut self, specs: Vec<JobSpec>) -> Result<(), Error> {
        if self.closed {
            return Err(Error::Closed);
        }
        let mut positions: HashMap<JobId, usize> = HashMap::new();
        for (position, spec) in specs.iter().enumerate() {
            spec.validate()?;
            let id = spec.id();
            if positions.insert(id, position).is_some() || self.jobs.contains_key(&id) {
                return Err(Error::DuplicateJob(id));
            }
            if let Some(cluster) = spec.get_cluster() {
                self.check_cluster_named(cluster)?;
            }
        }
        // In-batch dependencies of each spec, by position.
        let mut inside: Vec<Vec<usize>> = Vec::with_capacity(specs.len());
        for spec in &specs {
            let mut mine = Vec::new();
            for dependency in spec.dependencies() {
                match positions.get(dependency) {
                    Some(&at) => mine.push(at),
                    None if self.jobs.contains_key(dependency) => {}
                    None => {
                        return Err(Error::UnknownDependency {
                            job: spec.id(),
                            dependency: *dependency,
                        })
                    }
                }
            }
            inside.push(mine);
        }
        let n = specs.len();
        let order: Vec<usize> = if (0..n).all(|p| inside[p].iter().all(|&at| at < p)) {
            (0..n).collect()
        } else {
            let mut waiting: Vec<usize> = inside.iter().map(Vec::len).collect();
            let mut dependents: Vec<Vec<usize>> = vec![Vec::new(); n];
            for (position, mine) in inside.iter().enumerate() {
                for &at in mine {
                    dependents[at].push(position);
                }
            }
            let mut ready: VecDeque<usize> = (0..n).filter(|&p| waiting[p] == 0).collect();
            let mut order = Vec::with_capacity(n);
            while let Some(position) = ready.pop_front() {
                order.push(position);
                for &dependent in &dependents[position] {
                    waiting[dependent] -= 1;
                    if waiting[dependent] == 0 {
                        ready.push_back(dependent);
                    }
                }
            }
            if order.len() < n {
                let mut walked = vec![false; n];
                let mut current = (0..n).find(|&p| waiting[p] > 0).unwrap_or(0);
                loop {
                    walked[current] = true;
                    let next = *inside[current]
                        .iter()
                        .find(|&&at| waiting[at] > 0)
                        .expect("a waiting job waits on a waiting dependency");
                    if walked[next] {
                        return Err(Error::DependencyCycle {
                            job: specs[current].id(),
                            dependency: specs[next].id(),
                        });
                    }
                    current = next;
                }
            }
            order
        };
        let mut specs: Vec<Option<JobSpec>> = specs.into_iter().map(Some).collect();
        for position in order {
            let spec = specs[position].take().expect("each position once");
            self.submit(spec).expect("checked above");
        }
        Ok(())
    }

    pub(super) fn submit(&mut self, spec: JobSpec) -> Result<JobId, Error> {
        if self.closed {
            return Err(Error::Closed);
        }
        spec.validate()?;
        let id = spec.id();
        if self.jobs.contains_key(&id) {
            return Err(Error::DuplicateJob(id));
        }
        let cluster = spec.get_cluster();
        if let Some(cluster) = cluster {
            self.check_cluster_named(cluster)?;
        }
        let dependencies: Vec<Edge> = spec.dependencies_with_kinds().collect();
        if let Some(&(dependency, _)) = dependencies
            .iter()
            .find(|(dep, _)| !self.jobs.contains_key(dep))
        {
            return Err(Error::UnknownDependency {
                job: id,
                dependency,
            });
        }
        let (priority, runner, user) = (spec.get_priority(), spec.get_runner(), spec.get_user());
        let delay = spec.get_delay(Instant::now());
        let backoff = spec
            .get_retry_backoff()
            .unwrap_or(self.config.retry_backoff());
        let (max_retries, resources) = (spec.get_max_retries(), spec.get_resources());
        if let Some(cluster) = cluster {
            self.register_cluster(cluster);
        }
        let group = self.group_for(runner, cluster, user);
        let (ends, unfinished) = self.classify(&dependencies);
        let now = Instant::now();
        self.counters.submitted += 1;
        self.jobs.insert(
            id,
            JobRecord {
                incarnation: next_incarnation(),
                end: None,
                reason: None,
                lease: spec.get_lease().or(self.config.lease()),
                backoff,
                lease_deadline: None,
                runner,
                cluster,
                group,
                priority,
                served: priority.level() as usize,
                state: JobState::Waiting,
                attempt: 0,
                max_retries,
                cancel_requested: false,
                resources,
                dependencies,
                unfinished: 0,
                dependents: Vec::new(),
                entry: None,
                set_aside: None,
                promoted: false,
                pending_since: now,
            },
        );
        // A delayed job waits on one more unit: its timer.
        let timer = usize::from(!delay.is_zero());
        if let Some((dependency, state)) = ends {
            let (state, end) = by_dependency(dependency, state);
            self.finish(id, state, end);
        } else if unfinished.is_empty() && timer == 0 {
            self.enter_pending(id, now);
        } else {
            for &(dep, kind) in &unfinished {
                if let Some(job) = self.jobs.get_mut(&dep) {
                    job.dependents.push((id, kind));
                }
            }
            if let Some(job) = self.jobs.get_mut(&id) {
                job.unfinished = unfinished.len() + timer;
            }
            if timer == 1 {
                self.start_timer(id, now + delay);
            }
        }
        Ok(id)
    }

    pub(super) fn add_dependencies(
        &mut self,
        id: JobId,
        kind: DependencyKind,
        dependencies: &[JobId],
    ) -> Result<(), Error> {
        let job = self.jobs.get(&id).ok_or(Error::UnknownJob(id))?;
        if !matches!(job.state, JobState::Waiting | JobState::Pending) {
            return Err(Error::NotQueued {
                job: id,
                state: job.state,
            });
        }
        let existing: HashSet<JobId> = job.dependencies.iter().map(|edge| edge.0).collect();
        let existing_len = job.dependencies.len();
        let mut added = Vec::new();
        let mut added_set = HashSet::new();
        let mut cleared = HashSet::new();
        for &dependency in dependencies {
            if dependency == id {
                return Err(Error::SelfDependency(id));
            }
            if !self.jobs.contains_key(&dependency) {
                return Err(Error::UnknownDependency {
                    job: id,
                    dependency,
                });
            }
            if existing.contains(&dependency) || !added_set.insert(dependency) {
                continue;
            }
            if self.reaches(dependency, id, &mut cleared) {
                return Err(Error::DependencyCycle {
                    job: id,
                    dependency,
                });
            }
            added.push((dependency, kind));
        }
        if existing_len + added.len() > MAX_DEPENDENCIES {
            return Err(Error::TooManyDependencies(id));
        }

        let (ends, unfinished) = self.classify(&added);
        let Some(job) = self.jobs.get_mut(&id) else {
            return Ok(());
        };
        job.dependencies.extend_from_slice(&added);
        if let Some((dependency, state)) = ends {
            self.unlane(id);
            let (state, end) = by_dependency(dependency, state);
            self.finish(id, state, end);
        } else if !unfinished.is_empty() {
            job.unfinished += unfinished.len();
            let was_pending = job.state == JobState::Pending;
            job.state = JobState::Waiting;
            job.promoted = false;
            if was_pending {
                self.unlane(id);
            }
            for &(dep, kind) in &unfinished {
                if let Some(job) = self.jobs.get_mut(&dep) {
                    job.dependents.push((id, kind));
                }
            }
        }
        Ok(())
    }

    pub(super) fn claim(&mut self, runner: RunnerType) -> Option<Claim> {
        if self.closed {
            return None;
        }
        let now = Instant::now();
        self.expire_leases(now);
        self.release_due(now);
        self.age(now);
        let State {
            jobs,
            runners,
            clusters,
            seq,
            counters,
            leases,
            ..
        } = self;
        let lanes = runners.get_mut(&runner)?;
        let n = lanes.groups.len();
        if n == 0 {
            return None;
        }
        let start = lanes.cursor % n;
        for level in 0..LEVELS {
            for i in 0..n {
                let group = &mut lanes.groups[(start + i) % n];
                let mut cluster = match group.cluster {
                    Some(id) => match clusters.get_mut(&id) {
                        Some(cluster) if cluster.can_accept() => Some(cluster),
                        Some(_) => continue,
                        None => None,
                    },
                    None => None,
                };
                let lane = &mut group.lanes[level];
                while let Some((id, entry)) = lane.entries.pop_front() {
                    let Some(job) = jobs.get_mut(&id).filter(|job| job.entry == Some(entry)) else {
                        lane.stale = lane.stale.saturating_sub(1);
                        continue;
                    };
                    job.entry = None;
                    if let Some(cluster) = cluster.as_deref_mut() {
                        if !cluster.fits(&job.resources) {
                            *seq += 1;
                            job.set_aside = Some(*seq);
                            cluster.set_aside.push((id, *seq));
                            continue;
                        }
                        cluster.running += 1;
                    }
                    job.state = JobState::Scheduled;
                    job.attempt += 1;
                    if let Some(lease) = job.lease {
                        let deadline = now + lease;
                        job.lease_deadline = Some(deadline);
                        leases.push(Reverse((deadline, id, job.incarnation, job.attempt)));
                    }
                    lanes.cursor = (start + i) % n + 1;
                    counters.scheduled += 1;
                    counters.sample_wait(now.saturating_duration_since(job.pending_since));
                    return Some(Claim::from_parts(id, job.incarnation, job.attempt));
                }
            }
        }
        None
    }

    /// The record `claim` was made from, if its attempt is current: the job
    /// of that id and incarnation, scheduled or running at that attempt.
    /// Anything else (a late or repeated report, a pruned job even if its id
    /// was reused, another queue's claim) is `StaleClaim`.
    fn claimed<'a>(
        jobs: &'a mut HashMap<JobId, JobRecord>,
        claim: &Claim,
    ) -> Result<&'a mut JobRecord, Error> {
        match jobs.get_mut(&claim.job()) {
            Some(job)
                if job.incarnation == claim.incarnation()
                    && job.state.is_claimed()
                    && job.attempt == claim.attempt() =>
            {
                Ok(job)
            }
            _ => Err(Error::StaleClaim {
                job: claim.job(),
                attempt: claim.attempt(),
            }),
        }
    }

    pub(super) fn start(&mut self, claim: &Claim) -> Result<(), Error> {
        let job = Self::claimed(&mut self.jobs, claim)?;
        if job.cancel_requested {
            return Err(Error::CancelRequested(claim.job()));
        }
        if job.state == JobState::Running {
            return Err(Error::AlreadyStarted(claim.job()));
        }
        job.state = JobState::Running;
        Ok(())
    }

    pub(super) fn complete(&mut self, claim: Claim, outcome: Outcome) -> Result<Completion, Error> {
        Self::claimed(&mut self.jobs, &claim)?;
        Ok(self.end_attempt(claim.job(), outcome, false))
    }

    /// Ends the current attempt of `id`, a claimed job: a report, or
    /// `by_lease`, its lease ran out (a failure; with no retry left the job
    /// ends `LeaseExpired`).
    fn end_attempt(&mut self, id: JobId, outcome: Outcome, by_lease: bool) -> Completion {
        let Some(job) = self.jobs.get_mut(&id) else {
            unreachable!("a claimed job is known");
        };
        job.lease_deadline = None;
        let now = Instant::now();
        let cancel_requested = job.cancel_requested;
        let retry = job.attempt <= job.max_retries;
        if let Some(cluster) = job.cluster.and_then(|c| self.clusters.get_mut(&c)) {
            cluster.running = cluster.running.saturating_sub(1);
        }
        self.wake = true;
        if cancel_requested {
            self.finish(id, JobState::Cancelled, JobEnd::Cancelled);
            return Completion::Cancelled;
        }
        match outcome {
            Outcome::Success => {
                job.state = JobState::Completed;
                job.end = Some(JobEnd::Succeeded);
                self.counters.completed += 1;
                self.counters.window.record(now);
                self.settle_dependents(id, JobState::Completed, now);
                Completion::Completed
            }
            Outcome::Failure if retry => {
                self.counters.retried += 1;
                let wait = job.backoff.delay(job.attempt, job.incarnation);
                if wait.is_zero() {
                    self.enter_pending(id, now);
                } else {
                    // Waits for its backoff, on one timer unit.
                    job.state = JobState::Waiting;
                    job.unfinished = 1;
                    self.start_timer(id, now + wait);
                }
                Completion::Retrying
            }
            Outcome::Failure => {
                let attempts = job.attempt;
                let end = if by_lease {
                    JobEnd::LeaseExpired { attempts }
                } else {
                    JobEnd::Failed {
                        attempts,
                        reason: None,
                    }
                };
                self.finish(id, JobState::Failed, end);
                Completion::Failed
            }
        }
    }

    /// Takes back every claim whose lease ran out by `now`; returns how many.
    pub(super) fn expire_leases(&mut self, now: Instant) -> usize {
        let mut expired = 0;
        while let Some(Reverse((deadline, id, incarnation, attempt))) = self.leases.peek().copied()
        {
            if deadline > now {
                break;
            }
            self.leases.pop();
            let current = self.jobs.get(&id).is_some_and(|job| {
                job.incarnation == incarnation
                    && job.attempt == attempt
                    && job.state.is_claimed()
                    && job.lease_deadline == Some(deadline)
            });
            if current {
                self.end_attempt(id, Outcome::Failure, true);
                expired += 1;
            }
        }
        expired
    }

    /// When the next lease may run out or delayed job be due.
    pub(super) fn next_event(&self) -> Option<Instant> {
        let lease = self.leases.peek().map(|Reverse((deadline, ..))| *deadline);
        let timer = self.timers.peek().map(|Reverse((due, ..))| *due);
        match (lease, timer) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    fn start_timer(&mut self, id: JobId, due: Instant) {
        let incarnation = self.jobs.get(&id).map_or(0, |job| job.incarnation);
        self.timers.push(Reverse((due, id, incarnation)));
    }

    /// Releases the timers due by `now` (like a dependency completing).
    fn release_due(&mut self, now: Instant) {
        while let Some(Reverse((due, id, incarnation))) = self.timers.peek().copied() {
            if due > now {
                break;
            }
            self.timers.pop();
            let release = match self.jobs.get_mut(&id) {
                Some(job) if job.incarnation == incarnation && job.state == JobState::Waiting => {
                    job.unfinished = job.unfinished.saturating_sub(1);
                    job.unfinished == 0
                }
                _ => false,
            };
            if release {
                self.enter_pending(id, now);
            }
        }
    }

    pub(super) fn heartbeat(&mut self, claim: &Claim) -> Result<bool, Error> {
        let now = Instant::now();
        let job = Self::claimed(&mut self.jobs, claim)?;
        let cancel_requested = job.cancel_requested;
        let Some(lease) = job.lease else {
            return Ok(cancel_requested);
        };
        if job.lease_deadline.is_some_and(|deadline| deadline <= now) {
            // Due: take it back now.
            self.expire_leases(now);
            return Err(Error::StaleClaim {
                job: claim.job(),
                attempt: claim.attempt(),
            });
        }
        let deadline = now + lease;
        job.lease_deadline = Some(deadline);
        let incarnation = job.incarnation;
        self.leases.push(Reverse((
            deadline,
            claim.job(),
            incarnation,
            claim.attempt(),
        )));
        Ok(cancel_requested)
    }

    pub(super) fn fail(&mut self, claim: Claim, reason: &str) -> Result<Completion, Error> {
        let (id, attempt) = (claim.job(), claim.attempt());
        let completion = self.complete(claim, Outcome::Failure)?;
        if matches!(completion, Completion::Retrying | Completion::Failed) {
            if let Some(job) = self.jobs.get_mut(&id) {
                if job
                    .reason
                    .as_ref()
                    .is_none_or(|(noted, _)| *noted < attempt)
                {
                    job.reason = Some((attempt, bounded_reason(reason)));
                }
            }
        }
        Ok(completion)
    }

    pub(super) fn cancel(&mut self, id: JobId) -> Result<CancelOutcome, Error> {
        let job = self.jobs.get_mut(&id).ok_or(Error::UnknownJob(id))?;
        match job.state {
            JobState::Waiting | JobState::Pending => {
                self.unlane(id);
                self.finish(id, JobState::Cancelled, JobEnd::Cancelled);
                Ok(CancelOutcome::Cancelled)
            }
            JobState::Scheduled | JobState::Running => {
                job.cancel_requested = true;
                Ok(CancelOutcome::Requested)
            }
            state => Err(Error::AlreadyFinished { job: id, state }),
        }
    }

    pub(super) fn reprioritize(&mut self, id: JobId, priority: Priority) -> Result<(), Error> {
        let job = self.jobs.get_mut(&id).ok_or(Error::UnknownJob(id))?;
        match job.state {
            JobState::Waiting => {
                job.priority = priority;
                Ok(())
            }
            JobState::Pending => {
                job.priority = priority;
                let level = priority.level() as usize;
                if level != job.served {
                    self.unlane(id);
                    if let Some(job) = self.jobs.get_mut(&id) {
                        job.served = level;
                        job.promoted = false;
                    }
                    self.enlane(id, Instant::now());
                    self.wake = true;
                }
                Ok(())
            }
            state => Err(Error::NotQueued { job: id, state }),
        }
    }

    pub(super) fn set_cluster_capacity(
        &mut self,
        cluster: ClusterId,
        capacity: u32,
    ) -> Result<(), Error> {
        check_capacity(cluster, capacity)?;
        self.register_cluster(cluster).capacity = capacity;
        self.wake = true;
        Ok(())
    }

    pub(super) fn pause_cluster(&mut self, cluster: ClusterId) -> Result<(), Error> {
        self.named_cluster(cluster)?.paused = true;
        Ok(())
    }

    pub(super) fn resume_cluster(&mut self, cluster: ClusterId) -> Result<(), Error> {
        self.named_cluster(cluster)?.paused = false;
        self.wake = true;
        Ok(())
    }

    pub(super) fn set_cluster_resources(
        &mut self,
        cluster: ClusterId,
        resources: Resources,
    ) -> Result<(), Error> {
        let entry = self.register_cluster(cluster);
        entry.resources = Some(resources);
        let set_aside = std::mem::take(&mut entry.set_aside);
        let now = Instant::now();
        for (id, token) in set_aside {
            if let Some(job) = self.jobs.get_mut(&id) {
                if job.state == JobState::Pending && job.set_aside == Some(token) {
                    job.set_aside = None;
                    self.enlane(id, now);
                }
            }
        }
        self.wake = true;
        Ok(())
    }

    pub(super) fn job(&self, id: JobId) -> Result<JobView, Error> {
        let job = self.jobs.get(&id).ok_or(Error::UnknownJob(id))?;
        Ok(job.view(id))
    }

    pub(super) fn dependencies_satisfied(&self, id: JobId) -> Result<bool, Error> {
        let job = self.jobs.get(&id).ok_or(Error::UnknownJob(id))?;
        Ok(job.dependencies.iter().all(|(dep, kind)| {
            self.jobs
                .get(dep)
                .is_none_or(|dep| dep.state.is_terminal() && kind.releases(dep.state))
        }))
    }

    pub(super) fn schedulable(&self, runner: RunnerType) -> Vec<JobId> {
        let Some(lanes) = self.runners.get(&runner) else {
            return Vec::new();
        };
        let mut found: Vec<(usize, u64, JobId)> = Vec::new();
        for group in &lanes.groups {
            let cluster = match group.cluster {
                Some(id) => match self.clusters.get(&id) {
                    Some(cluster) if cluster.can_accept() => Some(cluster),
                    Some(_) => continue,
                    None => None,
                },
                None => None,
            };
            for (level, lane) in group.lanes.iter().enumerate() {
                for &(id, seq) in &lane.entries {
                    let live = self.jobs.get(&id).is_some_and(|job| {
                        job.entry == Some(seq)
                            && cluster.is_none_or(|cluster| cluster.fits(&job.resources))
                    });
                    if live {
                        found.push((level, seq, id));
                    }
                }
            }
        }
        found.sort_unstable();
        found.into_iter().map(|(_, _, id)| id).collect()
    }

    pub(super) fn status(&self) -> QueueStatus {
        let mut status = QueueStatus::default();
        for job in self.jobs.values() {
            status.count_job(job.state, job.priority, job.runner, job.cluster);
        }
        for (&id, cluster) in &self.clusters {
            status.add_cluster(
                id,
                cluster.running,
                cluster.capacity,
                cluster.paused,
                cluster.can_accept(),
                cluster.resources,
            );
        }
        status.metrics = self.metrics();
        status
    }

    /// Jobs submitted and not yet terminal.
    pub(super) fn unfinished(&self) -> u64 {
        let c = &self.counters;
        c.submitted - (c.completed + c.failed + c.cancelled)
    }

    pub(super) fn close(&mut self) {
        self.closed = true;
        self.wake = true;
    }

    pub(super) fn metrics(&self) -> Metrics {
        let counters = &self.counters;
        let mut metrics = Metrics::default();
        metrics.submitted = counters.submitted;
        metrics.scheduled = counters.scheduled;
        metrics.completed = counters.completed;
        metrics.failed = counters.failed;
        metrics.retried = counters.retried;
        metrics.cancelled = counters.cancelled;
        metrics.average_wait = counters
            .average_wait
            .and_then(|secs| Duration::try_from_secs_f64(secs).ok())
            .unwrap_or(Duration::ZERO);
        metrics.completed_in_window = counters.window.count(Instant::now());
        metrics
    }

    pub(super) fn prune_finished(&mut self) -> Vec<JobView> {
        let mut views: Vec<JobView> = self
            .jobs
            .iter()
            .filter(|(_, job)| job.state.is_terminal())
            .map(|(&id, job)| job.view(id))
            .collect();
        views.sort_unstable_by_key(|view| view.id);
        let pruned: HashSet<JobId> = views.iter().map(|view| view.id).collect();
        if pruned.is_empty() {
            return views;
        }
        self.jobs.retain(|id, _| !pruned.contains(id));
        // Forget them in the remaining jobs' lists too, so that a new job
        // reusing a pruned id is not mistaken for the old one.
        for job in self.jobs.values_mut() {
            job.dependencies.retain(|(dep, _)| !pruned.contains(dep));
            job.dependents.retain(|(dep, _)| !pruned.contains(dep));
        }
        views
    }
}
