//! Submission: `submit` publishes a new job, `add_dependencies` gives a
//! queued one more; both register the job with its dependencies (the
//! registration half of the release protocol, in `release.rs`).

use super::{not_queued, JobQueue, Now};
use crate::error::Error;
use crate::ids::{IdMap, JobId};
use crate::job::word::{EndKind, Enqueue, Word};
use crate::job::{DependencyRef, Job};
use crate::spec::{DependencyKind, JobSpec, MAX_DEPENDENCIES};
use crate::view::JobState;
use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

/// A job built and reserved, not yet published: what `submit` and
/// `submit_many` hand from their checks to `publish_staged`.
struct Staged<T> {
    job: Arc<Job<T>>,
    /// Its spec, the payload taken out (moved into the record).
    spec: JobSpec,
    delay: Duration,
    /// How many dependency edges it waits on (besides guard and timer).
    waits: usize,
}

impl<T> JobQueue<T> {
    /// Adds a job. It is `Pending` at once if all its dependencies already
    /// completed, otherwise `Waiting` (and it ends `Failed` or `Cancelled` at
    /// once if one of them already did). Registers its cluster, if new, with
    /// the default capacity (unless clusters must be declared).
    ///
    /// # Errors
    /// `Closed` once the queue is [closed](JobQueue::close); then, in this
    /// order: those of [`JobSpec::validate`] (`TooManyRetries`,
    /// `SelfDependency`, `TooManyDependencies`), then `DuplicateJob`,
    /// `UnknownCluster` (with declared clusters only), `UnknownDependency`.
    /// A rejected submit registers nothing.
    ///
    /// ```
    /// use dagqueue::*;
    /// let q = JobQueue::new();
    /// q.submit(JobSpec::new(JobId(1))).unwrap();
    /// q.submit(JobSpec::new(JobId(2)).depends_on([JobId(1)])).unwrap();
    /// assert_eq!(q.state(JobId(2)), Ok(JobState::Waiting));
    /// assert_eq!(q.submit(JobSpec::new(JobId(3)).depends_on([JobId(3)])), Err(Error::SelfDependency(JobId(3))));
    /// ```
    // Linearization point: the store that publishes the job (reserved →
    // waiting) in `StateWord::publish` in `job/word.rs`. Before it, the id is
    // reserved in the table (so a racing duplicate fails) but every
    // operation treats the job as unknown.
    pub fn submit(&self, spec: JobSpec<T>) -> Result<JobId, Error> {
        if self.is_closed() {
            return Err(Error::Closed);
        }
        spec.validate()?;
        let id = spec.id();
        if self.jobs.contains_key(&id) {
            return Err(Error::DuplicateJob(id));
        }
        if let Some(cluster) = spec.get_cluster() {
            self.check_cluster_named(cluster)?;
        }
        let dependencies = spec
            .dependencies_with_kinds()
            .map(|(dependency, kind)| {
                self.lookup(dependency)
                    .map(|found| (found, kind))
                    .map_err(|_| Error::UnknownDependency {
                        job: id,
                        dependency,
                    })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let edges = dependencies
            .iter()
            .map(|(dependency, kind)| DependencyRef::to(dependency, *kind))
            .collect();
        let staged = self.stage(spec, edges);
        if self
            .jobs
            .insert_if_absent(id, Arc::clone(&staged.job))
            .is_err()
        {
            return Err(Error::DuplicateJob(id));
        }
        self.publish_staged(
            &staged,
            dependencies
                .iter()
                .map(|(dependency, kind)| (dependency, *kind)),
        );
        Ok(id)
    }

    /// Adds a batch of jobs, all or nothing: a workflow submitted at once.
    /// A job may depend on jobs already in the queue and on jobs of the
    /// batch, named in any order (the batch is published in a topological
    /// order of its own edges: the order given when it already is one).
    /// Each job then starts as [`submit`](JobQueue::submit) would start it.
    ///
    /// Faster than one `submit` a job for an edge-heavy graph: a dependency
    /// inside the batch is resolved from the batch itself, not looked up in
    /// the job table.
    ///
    /// Jobs are published one at a time, each after its dependencies in
    /// the batch: another thread may see (and claim) the first jobs before
    /// the last ones are published, never a job before its dependencies.
    /// That is, a successful batch is the same as submitting its jobs one
    /// by one in a topological order, except that a bad one anywhere stops
    /// them all.
    ///
    /// # Errors
    /// The first error found, and then the queue is exactly as it was:
    /// `Closed`; then, checking each spec in batch order, those of
    /// [`JobSpec::validate`], `DuplicateJob` (already in the queue or
    /// named twice in the batch), `UnknownCluster` (with declared clusters
    /// only); then, again in batch order, `UnknownDependency` (in neither
    /// the queue nor the batch); then `DependencyCycle` (a cycle of
    /// dependencies inside the batch: `job` and `dependency` name one edge
    /// on it). A racing `submit` of one of the batch's ids fails the batch
    /// with `DuplicateJob`.
    ///
    /// ```
    /// use dagqueue::*;
    /// let q = JobQueue::new();
    /// q.submit(JobSpec::new(JobId(1))).unwrap();
    /// // Job 3 is named before job 2, which it depends on.
    /// q.submit_many([
    ///     JobSpec::new(JobId(3)).depends_on([JobId(1), JobId(2)]),
    ///     JobSpec::new(JobId(2)),
    /// ])
    /// .unwrap();
    /// assert_eq!(q.state(JobId(3)), Ok(JobState::Waiting));
    /// assert_eq!(q.state(JobId(2)), Ok(JobState::Pending));
    ///
    /// // A cycle anywhere in the batch rejects all of it.
    /// let rejected = q.submit_many([
    ///     JobSpec::new(JobId(4)),
    ///     JobSpec::new(JobId(5)).depends_on([JobId(6)]),
    ///     JobSpec::new(JobId(6)).depends_on([JobId(5)]),
    /// ]);
    /// assert!(matches!(rejected, Err(Error::DependencyCycle { .. })));
    /// assert_eq!(q.state(JobId(4)), Err(Error::UnknownJob(JobId(4))));
    /// ```
    // Linearization points: each job's publishing store (as `submit`), in
    // the publishing order. Nothing is published before every check passed
    // and every id was reserved; a reservation that fails takes back the
    // earlier ones (reserved ids are unknown to every operation).
    pub fn submit_many(&self, specs: impl IntoIterator<Item = JobSpec<T>>) -> Result<(), Error> {
        if self.is_closed() {
            return Err(Error::Closed);
        }
        let specs: Vec<JobSpec<T>> = specs.into_iter().collect();
        let mut positions: IdMap<usize> = IdMap::default();
        positions.reserve(specs.len());
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
        let graph = BatchGraph::resolve(&specs, &positions, |id| self.lookup(id).ok())?;
        let order = graph.topological_order(&specs)?;

        // Built in publishing order: a job's dependencies in the batch are
        // built before it. `built[position]`: its index in `staged`.
        let mut staged: Vec<Staged<T>> = Vec::with_capacity(specs.len());
        let mut built = vec![0usize; specs.len()];
        let mut stage = |position: usize, spec: JobSpec<T>, staged: &mut Vec<Staged<T>>| {
            let edges = graph
                .edges_of(position)
                .iter()
                .map(|edge| DependencyRef::to(edge.target(staged, &built), edge.kind))
                .collect();
            built[position] = staged.len();
            staged.push(self.stage(spec, edges));
        };
        if graph.in_order {
            // The common case: no spec moved but into its record.
            for (position, spec) in specs.into_iter().enumerate() {
                stage(position, spec, &mut staged);
            }
        } else {
            let mut specs: Vec<Option<JobSpec<T>>> = specs.into_iter().map(Some).collect();
            for &position in &order {
                let spec = specs[position]
                    .take()
                    .expect("a topological order names each position once");
                stage(position, spec, &mut staged);
            }
        }
        for (reserved, job) in staged.iter().enumerate() {
            if self
                .jobs
                .insert_if_absent(job.job.id, Arc::clone(&job.job))
                .is_err()
            {
                // A racing submit took the id: give back what was reserved.
                for earlier in &staged[..reserved] {
                    self.jobs.remove(&earlier.job.id);
                }
                return Err(Error::DuplicateJob(job.job.id));
            }
        }
        for (job, &position) in staged.iter().zip(&order) {
            let dependencies = graph
                .edges_of(position)
                .iter()
                .map(|edge| (edge.target(&staged, &built), edge.kind));
            self.publish_staged(job, dependencies);
        }
        Ok(())
    }

    /// Builds the record of a job about to be submitted, reserved (unknown
    /// to every operation), waiting for its `edges`, a guard, and its
    /// timer if it has a delay.
    fn stage(&self, spec: JobSpec<T>, edges: Vec<DependencyRef<T>>) -> Staged<T> {
        // The guard (+1) keeps the job waiting until every dependency is
        // registered; a delayed job waits on one more unit, its timer.
        let delay = spec.delay_from_now();
        let waits = edges.len();
        let timer = u64::from(!delay.is_zero());
        let word = Word::reserved(spec.get_priority(), waits as u64 + 1 + timer);
        let lease_millis = spec
            .get_lease()
            .or(self.config.lease())
            .map_or(0, |lease| lease.as_millis() as u32);
        let (spec, payload) = spec.split_payload();
        let job = Arc::new(Job::new(
            &spec,
            payload,
            word,
            edges,
            lease_millis,
            self.faults,
        ));
        Staged {
            job,
            spec,
            delay,
            waits,
        }
    }

    /// Publishes a staged job already reserved in the table, registers it
    /// with its `dependencies` (each already published) and releases its
    /// guard: from here it is `submit`'s job.
    fn publish_staged<'a>(
        &self,
        staged: &Staged<T>,
        dependencies: impl Iterator<Item = (&'a Arc<Job<T>>, DependencyKind)>,
    ) where
        T: 'a,
    {
        let Staged {
            job,
            spec,
            delay,
            waits,
        } = staged;
        // Registered only now: a rejected submit registers nothing.
        let cluster = spec
            .get_cluster()
            .map(|c| self.cluster_or_create(c, self.config.default_capacity()).0);
        let user = self.config.fair_share().then_some(spec.get_user());
        let group = self.lane_group(spec.get_runner(), cluster.as_ref(), user);
        let _ = job.group.set(group);
        // Counted before it can end (see `MetricsCell::unfinished`).
        self.with_tally(|tally| tally.metrics.count_submit(tally.shared));
        // Nothing but the guard holds it: straight to pending.
        let timer = !delay.is_zero();
        let ready = *waits == 0 && !timer;
        let (old, new) = job.word.publish(ready, self.marking());
        let now = Now::unread();
        self.transitioned(job, old, new);

        if let Some(backoff) = spec.get_retry_backoff() {
            self.retry_backoffs
                .insert_or_replace_if(job.incarnation, backoff, |_| true);
        }
        if timer {
            let due = self.now_micros().saturating_add(delay.as_micros() as u64);
            self.start_timer(job, due);
        }
        if ready {
            self.enqueue_at(job, Enqueue::of(new), &now);
        } else {
            self.register_dependent(job, dependencies);
            if let Some(at) = self.release_one(job) {
                self.enqueue(job, at);
            }
        }
        trace_event!(job = job.id.0, "submitted");
    }

    /// Adds dependencies to a job that is still `Waiting` or `Pending`.
    /// Dependencies it already has are ignored; completed ones are recorded
    /// only. If any new one is unfinished, a `Pending` job goes back to
    /// `Waiting` (leaving its lane).
    ///
    /// # Errors
    /// `UnknownJob`, `NotQueued`, `SelfDependency`, `UnknownDependency`,
    /// `DependencyCycle`, `TooManyDependencies`.
    ///
    /// ```
    /// use dagqueue::*;
    /// let q = JobQueue::new();
    /// q.submit(JobSpec::new(JobId(1))).unwrap();
    /// q.submit(JobSpec::new(JobId(2))).unwrap();
    /// q.add_dependencies(JobId(2), &[JobId(1)]).unwrap();
    /// assert_eq!(q.state(JobId(2)), Ok(JobState::Waiting));
    /// assert!(matches!(q.add_dependencies(JobId(1), &[JobId(2)]), Err(Error::DependencyCycle { .. })));
    /// ```
    // Serialised with other `add_dependencies` calls by a lock (cycle
    // checks need a stable graph); the claim path never takes it.
    // Linearization point: the CAS that makes the job wait for the new
    // dependencies (`StateWord::add_waits` in `job/word.rs`), or that ends it
    // when a new dependency already failed.
    pub fn add_dependencies(&self, id: JobId, dependencies: &[JobId]) -> Result<(), Error> {
        self.add_dependencies_of_kind(id, DependencyKind::AfterSuccess, dependencies)
    }

    /// [`add_dependencies`](JobQueue::add_dependencies) with edges of one
    /// [`DependencyKind`]: a new dependency that already ended in a way its
    /// kind accepts is recorded only; one that ended in a way it does not
    /// ends the job.
    ///
    /// # Errors
    /// As `add_dependencies`.
    ///
    /// ```
    /// use dagqueue::*;
    /// let q = JobQueue::new();
    /// q.submit(JobSpec::new(JobId(1))).unwrap();
    /// q.submit(JobSpec::new(JobId(2))).unwrap();
    /// q.add_dependencies_of_kind(JobId(2), DependencyKind::AfterAny, &[JobId(1)]).unwrap();
    /// q.cancel(JobId(1)).unwrap();
    /// assert_eq!(q.state(JobId(2)), Ok(JobState::Pending)); // runs anyway
    /// ```
    pub fn add_dependencies_of_kind(
        &self,
        id: JobId,
        kind: DependencyKind,
        dependencies: &[JobId],
    ) -> Result<(), Error> {
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
        let mut known: HashSet<*const Job<T>> =
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
        all.extend(new.iter().map(|d| DependencyRef::to(d, kind)));

        let ended = new.iter().find_map(|d| match d.word.load().state() {
            Some(t) if t.is_terminal() && !kind.releases(t) => Some((d.id, t)),
            _ => None,
        });
        if let Some((dependency, terminal)) = ended {
            // As `end_by_dependency`: the note first, then the CAS with the
            // terminal state of the note that stands.
            let (_, terminal) = self
                .dependency_ends
                .get_or_insert_with(job.incarnation, || (dependency, terminal));
            match job.word.end_queued(terminal, self.marking()) {
                Ok((old, new)) => self.transitioned(&job, old, new),
                Err(state) => {
                    // Claimed meanwhile (a job ended by a dependency keeps its note).
                    if !job.word.load().ended_by_dependency() {
                        self.dependency_ends.remove(&job.incarnation);
                    }
                    return Err(not_queued(id, state));
                }
            }
            job.dependencies.store(all);
            self.finished(&job, EndKind::by_dependency(terminal).0);
            return Ok(());
        }
        let unfinished: Vec<(Arc<Job<T>>, DependencyKind)> = new
            .into_iter()
            .filter(|d| !d.word.load().state().is_some_and(JobState::is_terminal))
            .map(|d| (d, kind))
            .collect();
        if unfinished.is_empty() {
            // Only dependencies that ended as their kind accepts: recorded,
            // nothing else changes.
            job.dependencies.store(all);
            return Ok(());
        }
        let (old, new) = job
            .word
            .add_waits(unfinished.len() as u64, self.marking())
            .map_err(|state| not_queued(id, state))?;
        self.transitioned(&job, old, new);
        job.dependencies.store(all);
        self.register_dependent(&job, unfinished.iter().map(|(d, kind)| (d, *kind)));
        if let Some(at) = self.release_one(&job) {
            self.enqueue(&job, at);
        }
        Ok(())
    }

    /// Whether `target` is reachable from `from` along dependency edges
    /// (edges to pruned jobs end the path: a pruned job is finished).
    /// `seen` holds jobs known not to reach `target`: a search that returns
    /// false explored every descendant of what it visited, so one set serves
    /// every search for the same target.
    pub(super) fn reaches(
        from: &Arc<Job<T>>,
        target: &Arc<Job<T>>,
        seen: &mut HashSet<*const Job<T>>,
    ) -> bool {
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

/// One dependency edge of a batch job: to another job of the batch (by
/// position in the batch) or to a job already in the queue.
struct BatchEdge<T> {
    target: BatchTarget<T>,
    kind: DependencyKind,
}

enum BatchTarget<T> {
    InBatch(usize),
    Queued(Arc<Job<T>>),
}

impl<T> BatchEdge<T> {
    /// The job this edge points to: a queued one, or a batch job already
    /// staged (`built` maps batch positions to `staged` indices).
    fn target<'a>(&'a self, staged: &'a [Staged<T>], built: &[usize]) -> &'a Arc<Job<T>> {
        match &self.target {
            BatchTarget::Queued(job) => job,
            BatchTarget::InBatch(position) => &staged[built[*position]].job,
        }
    }
}

/// A batch's dependency edges, resolved: every spec's edges in one flat
/// list (`starts[i]..starts[i + 1]` are spec `i`'s), no allocation per job.
struct BatchGraph<T> {
    edges: Vec<BatchEdge<T>>,
    starts: Vec<usize>,
    /// Whether every edge inside the batch points to an earlier position
    /// (the batch order is then a topological order).
    in_order: bool,
}

impl<T> BatchGraph<T> {
    /// Resolves every spec's dependencies against the batch (`positions`)
    /// and then the queue (`lookup`).
    fn resolve(
        specs: &[JobSpec<T>],
        positions: &IdMap<usize>,
        lookup: impl Fn(JobId) -> Option<Arc<Job<T>>>,
    ) -> Result<BatchGraph<T>, Error> {
        let mut graph = BatchGraph {
            edges: Vec::with_capacity(specs.iter().map(|s| s.dependencies().len()).sum()),
            starts: Vec::with_capacity(specs.len() + 1),
            in_order: true,
        };
        for (position, spec) in specs.iter().enumerate() {
            graph.starts.push(graph.edges.len());
            for (dependency, kind) in spec.dependencies_with_kinds() {
                let target = match positions.get(&dependency) {
                    Some(&at) => {
                        graph.in_order &= at < position;
                        BatchTarget::InBatch(at)
                    }
                    None => {
                        BatchTarget::Queued(lookup(dependency).ok_or(Error::UnknownDependency {
                            job: spec.id(),
                            dependency,
                        })?)
                    }
                };
                graph.edges.push(BatchEdge { target, kind });
            }
        }
        graph.starts.push(graph.edges.len());
        Ok(graph)
    }

    fn edges_of(&self, position: usize) -> &[BatchEdge<T>] {
        &self.edges[self.starts[position]..self.starts[position + 1]]
    }

    /// The batch positions in an order where each job comes after its
    /// dependencies in the batch (the batch order itself when it is one;
    /// otherwise Kahn's algorithm, which keeps the batch order among jobs
    /// ready at the same time), or the cycle error naming one edge of a
    /// cycle.
    fn topological_order(&self, specs: &[JobSpec<T>]) -> Result<Vec<usize>, Error> {
        let n = specs.len();
        if self.in_order {
            return Ok((0..n).collect());
        }
        // Each job's waiting count, and its dependents in the batch (CSR).
        let mut waiting = vec![0usize; n];
        let mut dependents_start = vec![0usize; n + 1];
        for (position, waits) in waiting.iter_mut().enumerate() {
            for edge in self.edges_of(position) {
                if let BatchTarget::InBatch(at) = edge.target {
                    *waits += 1;
                    dependents_start[at + 1] += 1;
                }
            }
        }
        for i in 0..n {
            dependents_start[i + 1] += dependents_start[i];
        }
        let mut fill = dependents_start.clone();
        let mut dependents = vec![0usize; dependents_start[n]];
        for position in 0..n {
            for edge in self.edges_of(position) {
                if let BatchTarget::InBatch(at) = edge.target {
                    dependents[fill[at]] = position;
                    fill[at] += 1;
                }
            }
        }
        let mut ready: std::collections::VecDeque<usize> =
            (0..n).filter(|&p| waiting[p] == 0).collect();
        let mut order = Vec::with_capacity(n);
        while let Some(position) = ready.pop_front() {
            order.push(position);
            for &dependent in
                &dependents[dependents_start[position]..dependents_start[position + 1]]
            {
                waiting[dependent] -= 1;
                if waiting[dependent] == 0 {
                    ready.push_back(dependent);
                }
            }
        }
        if order.len() == n {
            return Ok(order);
        }
        // A job left waiting has a dependency left waiting: walking those
        // from any of them must come back to a job already walked, and the
        // edge that does is on a cycle.
        let mut walked = vec![false; n];
        let mut current = (0..n).find(|&p| waiting[p] > 0).unwrap_or(0);
        loop {
            walked[current] = true;
            let next = self
                .edges_of(current)
                .iter()
                .find_map(|edge| match edge.target {
                    BatchTarget::InBatch(at) if waiting[at] > 0 => Some(at),
                    _ => None,
                });
            let Some(next) = next else {
                unreachable!("a job left waiting has a dependency left waiting");
            };
            if walked[next] {
                return Err(Error::DependencyCycle {
                    job: specs[current].id(),
                    dependency: specs[next].id(),
                });
            }
            current = next;
        }
    }
}
