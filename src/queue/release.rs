//! The release protocol, both halves: a job registers on each unfinished
//! dependency's dependents list (`register_dependent`); the dependency, when
//! it ends, seals its list and releases (completed) or ends (failed,
//! cancelled) every registered dependent. A registration that finds the list
//! already sealed settles itself (`settle_registration`), so no dependent is
//! missed and none is settled twice.

use super::{JobQueue, Now};
use crate::ids::JobId;
use crate::job::word::EndKind;
use crate::job::{Job, Registration};
use crate::spec::DependencyKind;
use crate::view::JobState;
use std::collections::VecDeque;
use std::sync::Arc;

impl<T> JobQueue<T> {
    /// The one step after any CAS that made `job` terminal: count it, then
    /// settle its dependents.
    pub(super) fn finished(&self, job: &Job<T>, terminal: JobState) {
        self.finished_at(job, terminal, &Now::unread());
    }

    /// [`finished`](JobQueue::finished) by an operation that may have read
    /// the clock already (`now`).
    pub(super) fn finished_at(&self, job: &Job<T>, terminal: JobState, now: &Now) {
        self.count_terminal(terminal, now);
        self.settle_dependents(job, terminal);
    }

    /// The job just became terminal (`terminal`): seal its dependents list
    /// and, in registration order, release each dependent whose edge's kind
    /// accepts that end ([`DependencyKind::releases`]), or end it; an ended
    /// dependent settles its own dependents the same way, transitively.
    pub(super) fn settle_dependents(&self, job: &Job<T>, terminal: JobState) {
        // The common case, all in one pass: a completion releasing
        // after-success dependents. Dependents to end wait in `work`.
        let mut work: VecDeque<(Arc<Job<T>>, JobId, JobState)> = VecDeque::new();
        job.seal_dependents(|dependent, kind| {
            if kind.releases(terminal) {
                self.release_dependent(dependent);
            } else {
                work.push_back((Arc::clone(dependent), job.id, terminal));
            }
        });
        while let Some((dependent, dependency, terminal)) = work.pop_front() {
            let Some(ended) = self.end_by_dependency(&dependent, dependency, terminal) else {
                continue;
            };
            self.count_terminal(ended, &Now::unread());
            let id = dependent.id;
            dependent.seal_dependents(|next, kind| {
                if kind.releases(ended) {
                    self.release_dependent(next);
                } else {
                    work.push_back((Arc::clone(next), id, ended));
                }
            });
        }
    }

    /// One of `job`'s dependencies let it go on: one unit of its wait done.
    fn release_dependent(&self, job: &Arc<Job<T>>) {
        if let Some(at) = self.release_one(job) {
            self.enqueue(job, at);
        }
    }

    /// `dependency` ended in `terminal` in a way its edge's kind does not
    /// accept: `job`, if still waiting, ends (failed or cancelled with it,
    /// or cancelled as not needed). The note of which dependency ended it is
    /// written first, first come first served, and the CAS takes the
    /// dependency's end from the note that stands, so a job reached by two
    /// ending dependencies at once ends one way, named in its view. Returns
    /// the state it ended in, if this call ended it.
    pub(super) fn end_by_dependency(
        &self,
        job: &Job<T>,
        dependency: JobId,
        terminal: JobState,
    ) -> Option<JobState> {
        if self.faults.note_after_end() {
            // Loom negative control: the CAS with this caller's own state,
            // then the note, which may name another dependency.
            let ended = job.word.fail_by_dependency(terminal, self.marking());
            if let Some((old, new)) = ended {
                self.transitioned(job, old, new);
            }
            self.dependency_ends
                .get_or_insert_with(job.incarnation, || (dependency, terminal));
            return ended.map(|_| EndKind::by_dependency(terminal).0);
        }
        let (_, terminal) = self
            .dependency_ends
            .get_or_insert_with(job.incarnation, || (dependency, terminal));
        let (old, new) = job.word.fail_by_dependency(terminal, self.marking())?;
        self.transitioned(job, old, new);
        Some(EndKind::by_dependency(terminal).0)
    }

    pub(super) fn count_terminal(&self, terminal: JobState, now: &Now) {
        // The count itself is the transition's flow (`transitioned`).
        if terminal == JobState::Completed {
            let second = now.get(self) / 1_000_000;
            self.with_tally(|tally| tally.metrics.record_completion(tally.shared, second));
        }
        // Someone may wait for the last unfinished job (`wait_idle`).
        if !self.faults.silent_finish() {
            self.idle.notify_if_sleeping();
        }
    }

    /// A job registered with `dependency` (an edge of `kind`) learnt that
    /// it already finished: the same verdict as the seal's.
    pub(super) fn settle_registration(
        &self,
        job: &Arc<Job<T>>,
        kind: DependencyKind,
        dependency: &Job<T>,
    ) {
        let Some(terminal) = dependency.word.load().state() else {
            unreachable!("a sealed dependents list belongs to a finished job");
        };
        // Sealed lists belong to terminal jobs only.
        debug_assert!(terminal.is_terminal());
        if kind.releases(terminal) {
            self.release_dependent(job);
        } else if let Some(ended) = self.end_by_dependency(job, dependency.id, terminal) {
            self.finished(job, ended);
        }
    }

    /// Registers `job` as a dependent of each of `dependencies` (with the
    /// kind of each edge).
    pub(super) fn register_dependent<'a>(
        &self,
        job: &Arc<Job<T>>,
        dependencies: impl IntoIterator<Item = (&'a Arc<Job<T>>, DependencyKind)>,
    ) where
        T: 'a,
    {
        for (dependency, kind) in dependencies {
            let registration = Registration {
                job: Arc::clone(job),
                kind,
            };
            if let Err(registration) = dependency.dependents.push(registration) {
                self.settle_registration(&registration.job, registration.kind, dependency);
            } else if self.faults.double_release()
                && dependency
                    .word
                    .load()
                    .state()
                    .is_some_and(JobState::is_terminal)
            {
                // Loom negative control: the finisher counts this one too.
                self.settle_registration(job, kind, dependency);
            }
        }
    }
}
