//! Submission: `submit` publishes a new job, `add_dependencies` gives a
//! queued one more; both register the job with its dependencies (the
//! registration half of the release protocol, in `release.rs`).

use super::{not_queued, JobQueue, Now};
use crate::error::Error;
use crate::ids::{ClusterId, IdMap, JobId, RunnerType, UserId};
use crate::job::batch::{BatchLists, DependentEdges, MAX_LINKED_BATCH, OUTSIDE};
use crate::job::word::{EndKind, Enqueue, Word};
use crate::job::{Batch, DependencyList, DependencyRef, Job};
use crate::spec::{DependencyKind, JobSpec, RetryBackoff, MAX_DEPENDENCIES};
use crate::sync::{next_incarnation, next_incarnations};
use crate::view::JobState;
use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

/// A job built and reserved, not yet published: what `submit` and
/// `submit_many` hand from their checks to `publish_staged`.
/// Only what publishing needs is kept: a batch holds every job staged at
/// once, and the specs (their dependency lists) are dropped as they are
/// staged.
pub(super) struct Staged<T> {
    pub(super) job: Arc<Job<T>>,
    cluster: Option<ClusterId>,
    runner: RunnerType,
    user: UserId,
    retry_backoff: Option<RetryBackoff>,
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
        self.submit_record(spec).map(|job| job.id)
    }

    /// [`submit`](JobQueue::submit), handing back the new job's record.
    pub(crate) fn submit_record(&self, spec: JobSpec<T>) -> Result<Arc<Job<T>>, Error> {
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
        // Sized once: collected from a fallible iterator, the vector grew
        // from 4 by doubling (two reallocations for ten dependencies).
        let mut dependencies = Vec::with_capacity(spec.dependencies().len());
        for (dependency, kind) in spec.dependencies_with_kinds() {
            dependencies.push((self.lookup_dependency(id, dependency)?, kind));
        }
        let edges: Vec<DependencyRef<T>> = dependencies
            .iter()
            .map(|(dependency, kind)| DependencyRef::to(dependency, *kind))
            .collect();
        let staged = self.stage(spec, edges, dependencies.len(), next_incarnation());
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
            true,
        );
        Ok(staged.job)
    }

    /// Adds a batch of jobs, all or nothing: a workflow submitted at once.
    /// A job may depend on jobs already in the queue and on jobs of the
    /// batch, named in any order (the batch is published in a topological
    /// order of its own edges: the order given when it already is one).
    /// Each job then starts as [`submit`](JobQueue::submit) would start it.
    ///
    /// Faster than one `submit` a job for an edge-heavy graph: a dependency
    /// inside the batch is resolved from the batch itself, not looked up in
    /// the job table, and a job's dependents inside the batch are
    /// registered with it all at once, before anything is published, by
    /// a mark on its dependents list that sends its sealer to the batch's
    /// table of dependents (no allocation and no reference count a
    /// dependency edge). The batch holds its records meanwhile: a batch's
    /// records are freed together, once every job of it with dependents in
    /// it has ended (`prune_finished` forgets each finished job at once;
    /// its record, about 112 bytes, is freed with the batch's). The batch's
    /// dependency lists are one allocation too, freed with the last of its
    /// records.
    ///
    /// Jobs are published one at a time, dependents first (a reverse
    /// topological order of the batch's edges), each `Waiting` on a guard,
    /// so that every job of the batch is known by the time any of its
    /// dependencies can end; then they register with their dependencies
    /// already in the queue and the guards are released, both in
    /// topological order, so jobs ready at once, and jobs a queued
    /// dependency releases together, enter their lanes in the order single
    /// submits would have put them there (and the lane groups and clusters
    /// they create are registered in that order too). Another thread may
    /// meanwhile see a job of the batch `Waiting` while a dependency of it
    /// in the batch is still unknown (published next), and a job with no
    /// dependency `Waiting` for a moment before it turns `Pending`; no job
    /// of the batch can be claimed before every job of it is published. A
    /// batch is therefore not one atomic step for an observer, only all or
    /// nothing: it either fails before publishing anything or publishes
    /// everything. (A batch naming a job already in the queue that already
    /// ended in a way its edge does not accept is published as single
    /// submits would be, job by job in topological order, so that the jobs
    /// it ends are named after the same dependencies.)
    ///
    /// # Errors
    /// The first error found, and then the queue is exactly as it was:
    /// `Closed`; `BatchTooLarge` (more than [`MAX_BATCH`](crate::MAX_BATCH)
    /// jobs); then, checking each spec in batch order, those of
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
    // the publishing order (reverse topological); a job ready at once turns
    // `Pending` at its guard's release, in topological order. Nothing is published
    // before every check passed, every record was built (its dependency
    // list set, its dependents list marked if it has dependents in the
    // batch), every id was reserved (a reservation that fails takes back the
    // earlier ones: reserved ids are unknown to every operation) and the
    // batch holds its records.
    // A job's dependents in the batch are published before it, so whoever
    // ends it (claim and complete, cancel) settles published jobs only.
    pub fn submit_many(&self, specs: impl IntoIterator<Item = JobSpec<T>>) -> Result<(), Error> {
        self.submit_batch(specs).map(drop)
    }

    /// [`submit_many`](JobQueue::submit_many), handing back the batch's
    /// records, in batch order.
    #[cfg(feature = "durable")]
    pub(crate) fn submit_many_records(
        &self,
        specs: impl IntoIterator<Item = JobSpec<T>>,
    ) -> Result<Vec<Arc<Job<T>>>, Error> {
        let staged = self.submit_batch(specs)?;
        Ok(staged.into_iter().map(|staged| staged.job).collect())
    }

    /// `submit_many`'s work; the staged jobs, in batch order.
    fn submit_batch(
        &self,
        specs: impl IntoIterator<Item = JobSpec<T>>,
    ) -> Result<Vec<Staged<T>>, Error> {
        if self.is_closed() {
            return Err(Error::Closed);
        }
        let specs = specs.into_iter();
        // Before collecting, when the iterator knows it is too long.
        if specs.size_hint().0 > MAX_LINKED_BATCH {
            return Err(Error::BatchTooLarge(specs.size_hint().0));
        }
        let specs: Vec<JobSpec<T>> = specs.collect();
        if specs.len() > MAX_LINKED_BATCH {
            return Err(Error::BatchTooLarge(specs.len()));
        }
        let mut positions = Positions::for_ids(specs.iter().map(JobSpec::id));
        for (position, spec) in specs.iter().enumerate() {
            spec.validate()?;
            let id = spec.id();
            if !positions.insert(id, position) || self.jobs.contains_key(&id) {
                return Err(Error::DuplicateJob(id));
            }
            if let Some(cluster) = spec.get_cluster() {
                self.check_cluster_named(cluster)?;
            }
        }
        // Each record names its dependencies by incarnation: drawn for the
        // whole batch before any edge is resolved, consecutive (a record
        // finds its slice of the batch's lists by its incarnation).
        let first = next_incarnations(specs.len() as u64);
        let mut graph = BatchGraph::resolve(&specs, &positions, first, |id| self.lookup(id).ok())?;
        let order = graph.topological_order(&specs)?;
        let batch = graph.make_batch(self.faults);

        // Records, in batch order, reserved and waiting on every edge, each
        // holding the batch if it has a list or dependents in it (a
        // record with dependents in the batch is made with its list marked:
        // they are registered by then, without a node).
        let staged: Vec<Staged<T>> = specs
            .into_iter()
            .enumerate()
            .map(|(position, spec)| {
                let waits = batch.of(position).len();
                self.stage(
                    spec,
                    batch.list_of(position),
                    waits,
                    first + position as u64,
                )
            })
            .collect();
        // A dependency already in the queue that has already ended in a way
        // its edge does not accept ends its dependents at once, and a job
        // that such endings reach by several paths is named after the first
        // dependency, in its spec's order, that had ended when it was
        // submitted. To keep that name what single submits would give it,
        // such a batch (rare: it mostly fails or cancels jobs as it submits
        // them) is published as single submits would publish it, in
        // topological order, each job registering with each dependency.
        if graph.ends_at_once {
            self.publish_in_order(&graph, &positions, &order, &staged)?;
            return Ok(staged);
        }
        self.reserve_all(&staged)?;
        // The batch holds its records before any is published (reserved ids
        // are unknown to every other operation), if any has dependents in
        // it; the queue then keeps it to break the cycle at its drop.
        if batch.link(|| {
            staged
                .iter()
                .map(|staged| Arc::clone(&staged.job))
                .collect()
        }) {
            let mut batches = self.batches.lock();
            if batches.len() == batches.capacity() {
                batches.retain(|batch| batch.strong_count() > 0);
            }
            batches.push(Arc::downgrade(&batch));
        }
        drop(batch);
        // Clusters and lane groups are registered in the order single
        // submits would have registered them (the order claims scan groups
        // in).
        for &position in &order {
            self.assign_group(&staged[position]);
        }
        let forward = self.faults.batch_dependencies_first();
        for step in 0..order.len() {
            let position = if forward {
                order[step] // loom negative control
            } else {
                order[order.len() - 1 - step]
            };
            // Its dependents in the batch are linked already; its
            // dependencies already in the queue register below.
            self.publish_staged(&staged[position], std::iter::empty(), false);
        }
        // Then each job registers with its dependencies already in the
        // queue, in the topological order (the batch order when it is one),
        // each still held by its guard: jobs that such a dependency releases
        // together (its list is served in registration order) enter their
        // lanes in the order single submits would have put them there.
        if graph.has_outside_edges() {
            for &position in &order {
                self.register_dependent(&staged[position].job, graph.outside_of(position));
            }
        }
        // Then the guards, in the topological order: jobs that are ready at
        // once enter their lanes in that order too.
        for &position in &order {
            self.release_guard(&staged[position].job);
        }
        Ok(staged)
    }

    /// Reserves every staged id in the table, or none: a racing submit that
    /// took one fails the batch, and the ids reserved before are given back.
    fn reserve_all(&self, staged: &[Staged<T>]) -> Result<(), Error> {
        for (reserved, job) in staged.iter().enumerate() {
            if self
                .jobs
                .insert_if_absent(job.job.id, Arc::clone(&job.job))
                .is_err()
            {
                for earlier in &staged[..reserved] {
                    self.jobs.remove(&earlier.job.id);
                }
                return Err(Error::DuplicateJob(job.job.id));
            }
        }
        Ok(())
    }

    /// A batch published as single submits would publish it: reserved,
    /// then each job in topological order published, registered with each
    /// of its dependencies (in its spec's order) and its guard released.
    fn publish_in_order(
        &self,
        graph: &BatchGraph<T>,
        positions: &Positions,
        order: &[usize],
        staged: &[Staged<T>],
    ) -> Result<(), Error> {
        self.reserve_all(staged)?;
        for &position in order {
            // Its record's list names its dependencies in its spec's order:
            // those in the batch by id, the others in `outside`, in order.
            let edges = staged[position].job.dependency_list();
            let mut outside = graph.outside_of(position);
            let dependencies = edges.iter().map(|edge| match positions.get(edge.id) {
                Some(at) => (&staged[at].job, edge.kind()),
                None => outside
                    .next()
                    .expect("an edge not in the batch is outside it"),
            });
            self.publish_staged(&staged[position], dependencies, true);
        }
        Ok(())
    }

    /// The record of `dependency`, which `job` names, or
    /// `UnknownDependency`.
    fn lookup_dependency(&self, job: JobId, dependency: JobId) -> Result<Arc<Job<T>>, Error> {
        self.lookup(dependency)
            .map_err(|_| Error::UnknownDependency { job, dependency })
    }

    /// Builds the record of a job about to be submitted, reserved (unknown
    /// to every operation), with its dependency list `edges`, waiting for
    /// `waits` dependencies, a guard, and its timer if it has a delay.
    pub(super) fn stage(
        &self,
        spec: JobSpec<T>,
        edges: impl Into<DependencyList<T>>,
        waits: usize,
        incarnation: u64,
    ) -> Staged<T> {
        // The guard (+1) keeps the job waiting until every dependency is
        // registered; a delayed job waits on one more unit, its timer.
        let delay = spec.delay_from_now();
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
            edges.into(),
            lease_millis,
            self.faults,
            incarnation,
        ));
        Staged {
            job,
            cluster: spec.get_cluster(),
            runner: spec.get_runner(),
            user: spec.get_user(),
            retry_backoff: spec.get_retry_backoff(),
            delay,
            waits,
        }
    }

    /// Publishes a staged job already reserved in the table, registers it
    /// with its `dependencies` (each already published) and releases its
    /// guard: from here it is `submit`'s job.
    pub(super) fn publish_staged<'a>(
        &self,
        staged: &Staged<T>,
        dependencies: impl Iterator<Item = (&'a Arc<Job<T>>, DependencyKind)>,
        release_guard: bool,
    ) where
        T: 'a,
    {
        self.assign_group(staged);
        let Staged {
            job,
            retry_backoff,
            delay,
            waits,
            ..
        } = staged;
        // Counted before it can end (see `MetricsCell::unfinished`).
        self.with_tally(|tally| tally.metrics.count_submit(tally.shared));
        // Nothing but the guard holds it: straight to pending (unless the
        // caller keeps the guard, to release it later).
        let timer = !delay.is_zero();
        let ready = release_guard && *waits == 0 && !timer;
        let (old, new) = job.word.publish(ready, self.marking());
        let now = Now::unread();
        self.transitioned(job, old, new);

        if let Some(backoff) = *retry_backoff {
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
            if release_guard {
                self.release_guard(job);
            }
        }
        trace_event!(job = job.id.0, "submitted");
    }

    /// Gives a staged job its lane group (registering its cluster and the
    /// group if new), unless it has one. Only once the submit can no longer
    /// be rejected: a rejected submit registers nothing.
    pub(super) fn assign_group(&self, staged: &Staged<T>) {
        if staged.job.group.get().is_some() {
            return;
        }
        let user = self.config.fair_share().then_some(staged.user);
        let group = self.lane_group(staged.runner, staged.cluster, user);
        let _ = staged.job.group.set(group);
    }

    /// Releases a published job's guard: pending (and in its lane) if
    /// nothing else held it.
    fn release_guard(&self, job: &Arc<Job<T>>) {
        if let Some(at) = self.release_one(job) {
            self.enqueue(job, at);
        }
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
        let existing = job.dependency_list();
        // Edges already recorded or named twice, by incarnation (not id: an
        // id may have been pruned and reused).
        let mut known: HashSet<u64> = existing.iter().map(|edge| edge.incarnation()).collect();
        // Jobs a failed cycle search already explored cannot reach `job`.
        let mut explored = HashSet::new();
        let mut new = Vec::new();
        for &dependency in dependencies {
            if dependency == id {
                return Err(Error::SelfDependency(id));
            }
            let resolved = self.lookup_dependency(id, dependency)?;
            if !known.insert(resolved.incarnation) {
                continue;
            }
            if self.reaches(&resolved, &job, &mut explored) {
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
        let mut all: Vec<DependencyRef<T>> = existing.iter().collect();
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
                Ok((old, new)) => {
                    self.transitioned(&job, old, new);
                    self.left_pending(&job, old);
                }
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
        self.left_pending(&job, old);
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
    fn reaches(&self, from: &Arc<Job<T>>, target: &Job<T>, seen: &mut HashSet<u64>) -> bool {
        let mut stack = vec![Arc::clone(from)];
        while let Some(job) = stack.pop() {
            if job.incarnation == target.incarnation {
                return true;
            }
            if !seen.insert(job.incarnation) {
                continue;
            }
            stack.extend(
                job.dependency_list()
                    .iter()
                    .filter_map(|edge| self.resolve_edge(&edge)),
            );
        }
        false
    }
}

/// Where each id of a batch is in it. Ids drawn from a range no wider than
/// the batch (the usual numbering of a workflow) index a flat array; other
/// batches use a hash map.
enum Positions {
    /// `at[id - first]`: the position of `id`, or `usize::MAX`.
    Dense {
        first: u64,
        at: Vec<usize>,
    },
    Sparse(IdMap<usize>),
}

impl Positions {
    /// An empty index for a batch of these ids.
    fn for_ids(ids: impl Iterator<Item = JobId> + Clone) -> Positions {
        let count = ids.clone().count();
        let (low, high) = ids.fold((u64::MAX, 0), |(low, high), id| {
            (low.min(id.0), high.max(id.0))
        });
        if count > 0 && high - low < count as u64 {
            Positions::Dense {
                first: low,
                at: vec![usize::MAX; (high - low + 1) as usize],
            }
        } else {
            let mut map = IdMap::default();
            map.reserve(count);
            Positions::Sparse(map)
        }
    }

    /// Records `id` at `position`; false if the batch already named it.
    fn insert(&mut self, id: JobId, position: usize) -> bool {
        match self {
            Positions::Dense { first, at } => {
                let slot = &mut at[(id.0 - *first) as usize];
                let fresh = *slot == usize::MAX;
                if fresh {
                    *slot = position;
                }
                fresh
            }
            Positions::Sparse(map) => map.insert(id, position).is_none(),
        }
    }

    /// The position of `id` in the batch, if it is one of the batch's.
    #[inline]
    fn get(&self, id: JobId) -> Option<usize> {
        match self {
            Positions::Dense { first, at } => {
                id.0.checked_sub(*first)
                    .and_then(|offset| at.get(usize::try_from(offset).ok()?))
                    .copied()
                    .filter(|&position| position != usize::MAX)
            }
            Positions::Sparse(map) => map.get(&id).copied(),
        }
    }
}

/// A batch's dependency edges, resolved: each spec's dependency list as its
/// record will hold it (all in one allocation, shared by the records),
/// the edges to jobs already in the queue, and the reverse edges inside the
/// batch (each job's dependents in it, with the kind of the edge) as one
/// flat array; no allocation a job. The lists and the reverse edges are
/// then moved into the batch (`Batch`).
struct BatchGraph<T> {
    /// Every spec's dependency list, as its record will hold it.
    lists: BatchLists<T>,
    /// The edges to jobs already in the queue, in batch order, each spec's
    /// in its order: its position, the job, the edge's kind.
    outside: Vec<(usize, Arc<Job<T>>, DependencyKind)>,
    /// Each job's dependents in the batch (moved into the batch's table).
    dependents: DependentEdges,
    /// Whether every edge inside the batch points to an earlier position
    /// (the batch order is then a topological order).
    in_order: bool,
    /// Whether a dependency already in the queue has already ended in a
    /// way its edge does not accept (its dependent ends as it is
    /// submitted).
    ends_at_once: bool,
}

impl<T> BatchGraph<T> {
    /// Resolves every spec's dependencies against the batch (`positions`;
    /// the record at position `p` will have incarnation `first + p`) and
    /// then the queue (`lookup`).
    fn resolve(
        specs: &[JobSpec<T>],
        positions: &Positions,
        first: u64,
        lookup: impl Fn(JobId) -> Option<Arc<Job<T>>>,
    ) -> Result<BatchGraph<T>, Error> {
        let n = specs.len();
        let total = specs.iter().map(|s| s.dependencies().len()).sum();
        let mut lists: Vec<u32> = Vec::with_capacity(total);
        let mut list_starts = Vec::with_capacity(n + 1);
        let mut outside = Vec::new();
        let mut in_order = true;
        let mut ends_at_once = false;
        // How many dependents each job has in the batch (`counts[at]`);
        // made into the table's row starts below.
        let mut counts = vec![0usize; n + 1];
        for (position, spec) in specs.iter().enumerate() {
            list_starts.push(lists.len());
            for (dependency, kind) in spec.dependencies_with_kinds() {
                match positions.get(dependency) {
                    Some(at) => {
                        in_order &= at < position;
                        counts[at] += 1;
                        lists.push(BatchLists::<T>::inside_edge(at, kind));
                    }
                    None => {
                        let job = lookup(dependency).ok_or(Error::UnknownDependency {
                            job: spec.id(),
                            dependency,
                        })?;
                        ends_at_once |= job
                            .word
                            .load()
                            .state()
                            .is_some_and(|state| state.is_terminal() && !kind.releases(state));
                        lists.push(OUTSIDE);
                        outside.push((position, job, kind));
                    }
                }
            }
        }
        list_starts.push(lists.len());
        // The lists' side table of edges leaving the batch, from `outside`
        // (in batch order): each row's slice starts where `outside_of`'s
        // does. None at all when no edge leaves the batch.
        let (outside_refs, outside_starts) = if outside.is_empty() {
            (Vec::new(), Vec::new())
        } else {
            let refs = outside
                .iter()
                .map(|(_, job, kind)| DependencyRef::to(job, *kind))
                .collect();
            let starts = (0..=n)
                .map(|position| outside.partition_point(|(at, ..)| *at < position))
                .collect();
            (refs, starts)
        };
        let ids = specs.iter().map(JobSpec::id).collect();
        let lists = BatchLists::new(lists, list_starts, ids, outside_refs, outside_starts, first);
        // The reverse edges, a counting sort: `ends[at]` starts at the end
        // of `at`'s row and counts down as the edges are placed, from the
        // last dependent to the first, so each row lists its dependents in
        // batch order and `ends` finishes as the rows' starts. The edges
        // inside the batch are read back from the lists (their codes hold
        // the dependency's position), not kept in a second array.
        let mut ends = counts;
        for at in 1..n {
            ends[at] += ends[at - 1];
        }
        let inside_total = n.checked_sub(1).map_or(0, |last| ends[last]);
        ends[n] = inside_total;
        let mut dependents = vec![0; inside_total];
        for position in (0..n).rev() {
            for &code in lists.row(position).iter().rev() {
                if let Some((at, kind)) = BatchLists::<T>::inside(code) {
                    ends[at] -= 1;
                    dependents[ends[at]] = DependentEdges::edge(position, kind);
                }
            }
        }
        let dependents_starts = ends;
        Ok(BatchGraph {
            lists,
            outside,
            dependents: DependentEdges::new(dependents_starts, dependents),
            in_order,
            ends_at_once,
        })
    }

    /// Moves the lists and the reverse edges into the batch its records
    /// will share. A batch that single submits' order publishes
    /// (`ends_at_once`) registers its jobs' dependents with nodes, as they
    /// would: its batch has no reverse edges, so no list is marked.
    fn make_batch(&mut self, faults: crate::faults::Faults) -> Arc<Batch<T>> {
        let dependents = std::mem::take(&mut self.dependents);
        Arc::new(Batch::new(
            std::mem::take(&mut self.lists),
            if self.ends_at_once {
                DependentEdges::default()
            } else {
                dependents
            },
            faults,
        ))
    }

    /// Whether any edge goes to a job already in the queue.
    fn has_outside_edges(&self) -> bool {
        !self.outside.is_empty()
    }

    /// Spec `position`'s dependencies already in the queue, in its order,
    /// with the kinds of their edges.
    fn outside_of(
        &self,
        position: usize,
    ) -> impl Iterator<Item = (&Arc<Job<T>>, DependencyKind)> + '_ {
        let start = self.outside.partition_point(|(at, ..)| *at < position);
        self.outside[start..]
            .iter()
            .take_while(move |(at, ..)| *at == position)
            .map(|(_, job, kind)| (job, *kind))
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
        // How many of each job's dependencies are in the batch (only an
        // unordered batch, rare, pays for counting them).
        let mut waiting: Vec<u32> = (0..n)
            .map(|p| {
                self.lists
                    .of(p)
                    .iter()
                    .filter(|edge| self.lists.position(edge.incarnation()).is_some())
                    .count() as u32
            })
            .collect();
        let mut ready: std::collections::VecDeque<usize> =
            (0..n).filter(|&p| waiting[p] == 0).collect();
        let mut order = Vec::with_capacity(n);
        while let Some(position) = ready.pop_front() {
            order.push(position);
            for (dependent, _) in self.dependents.of(position) {
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
            let next = self.lists.row(current).iter().find_map(|&code| {
                BatchLists::<T>::inside(code)
                    .map(|(at, _)| at)
                    .filter(|&at| waiting[at] > 0)
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
