//! Submission: `submit` publishes a new job, `add_dependencies` gives a
//! queued one more; both register the job with its dependencies (the
//! registration half of the release protocol, in `release.rs`).

use super::{not_queued, JobQueue, Now};
use crate::error::Error;
use crate::ids::JobId;
use crate::job::word::{EndKind, Enqueue, Word};
use crate::job::{DependencyRef, Job};
use crate::spec::{DependencyKind, JobSpec, MAX_DEPENDENCIES};
use crate::view::JobState;
use std::collections::HashSet;
use std::sync::Arc;

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
        if self.jobs.get_cloned(&id).is_some() {
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

        // The guard (+1) keeps the job waiting until every dependency is
        // registered; a delayed job waits on one more unit, its timer.
        let delay = spec.get_delay(std::time::Instant::now());
        let timer = u64::from(!delay.is_zero());
        let word = Word::reserved(spec.get_priority(), dependencies.len() as u64 + 1 + timer);
        let edges = dependencies
            .iter()
            .map(|(dependency, kind)| DependencyRef::to(dependency, *kind))
            .collect();
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
        if self.jobs.insert_if_absent(id, Arc::clone(&job)).is_err() {
            return Err(Error::DuplicateJob(id));
        }
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
        let ready = dependencies.is_empty() && timer == 0;
        let (old, new) = job.word.publish(ready, self.marking());
        let now = Now::unread();
        self.transitioned(&job, old, new);

        if let Some(backoff) = spec.get_retry_backoff() {
            self.retry_backoffs
                .insert_or_replace_if(job.incarnation, backoff, |_| true);
        }
        if timer == 1 {
            let due = self.now_micros().saturating_add(delay.as_micros() as u64);
            self.start_timer(&job, due);
        }
        if ready {
            self.enqueue_at(&job, Enqueue::of(new), &now);
        } else {
            self.register_dependent(&job, &dependencies);
            if let Some(at) = self.release_one(&job) {
                self.enqueue(&job, at);
            }
        }
        trace_event!(job = id.0, "submitted");
        Ok(id)
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
        self.register_dependent(&job, &unfinished);
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
