//! The release protocol, both halves: a job registers on each unfinished
//! dependency's dependents list (`register_dependent`); the dependency, when
//! it ends, seals its list and releases (completed) or ends (failed,
//! cancelled) every registered dependent. A registration that finds the list
//! already sealed settles itself (`settle_registration`), so no dependent is
//! missed and none is settled twice.

use super::JobQueue;
use crate::ids::JobId;
use crate::job::Job;
use crate::metrics::Counter;
use crate::view::JobState;
use std::collections::VecDeque;
use std::sync::Arc;

impl JobQueue {
    /// The one step after any CAS that made `job` terminal: count it, then
    /// settle its dependents.
    pub(super) fn finished(&self, job: &Job, terminal: JobState) {
        self.count_terminal(terminal);
        self.settle_dependents(job, terminal);
    }

    /// The job just became terminal (`terminal`): seal its dependents list and
    /// release (on completion) or end (on failure / cancellation) them,
    /// transitively, in registration order.
    pub(super) fn settle_dependents(&self, job: &Job, terminal: JobState) {
        if terminal == JobState::Completed {
            job.dependents.seal_each(|dependent| {
                if let Some(at) = dependent.word.release_one() {
                    self.enqueue(&dependent, at);
                }
            });
            return;
        }
        let mut work: VecDeque<(Arc<Job>, JobId, JobState)> = VecDeque::new();
        let settle = |work: &mut VecDeque<_>, ended: &Job, terminal: JobState| {
            let dependents = ended.dependents.seal();
            work.extend(dependents.into_iter().map(|d| (d, ended.id, terminal)));
        };
        settle(&mut work, job, terminal);
        while let Some((dependent, dependency, terminal)) = work.pop_front() {
            if let Some(ended) = self.end_by_dependency(&dependent, dependency, terminal) {
                self.count_terminal(ended);
                settle(&mut work, &dependent, ended);
            }
        }
    }

    /// `dependency` ended in `terminal` (failed or cancelled): `job`, if
    /// still waiting, ends too. The note of which dependency ended it is
    /// written first, first come first served, and the CAS takes the
    /// terminal state from the note that stands, so a job reached by two
    /// ending dependencies at once ends one way, named in its view. Returns
    /// the state it ended in, if this call ended it.
    pub(super) fn end_by_dependency(
        &self,
        job: &Job,
        dependency: JobId,
        terminal: JobState,
    ) -> Option<JobState> {
        if self.faults.note_after_end() {
            // Loom negative control: the CAS with this caller's own state,
            // then the note, which may name another dependency.
            let ended = job.word.fail_by_dependency(terminal);
            self.dependency_ends
                .get_or_insert_with(job.incarnation, || (dependency, terminal));
            return ended.then_some(terminal);
        }
        let (_, terminal) = self
            .dependency_ends
            .get_or_insert_with(job.incarnation, || (dependency, terminal));
        job.word.fail_by_dependency(terminal).then_some(terminal)
    }

    pub(super) fn count_terminal(&self, terminal: JobState) {
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
        // Someone may wait for the last unfinished job (`wait_idle`).
        if !self.faults.silent_finish() {
            self.idle.notify();
        }
    }

    /// A job registered with `dependency` learnt that it already finished.
    pub(super) fn settle_registration(&self, job: &Arc<Job>, dependency: &Job) {
        match dependency.word.load().state() {
            Some(JobState::Completed) => {
                if let Some(at) = job.word.release_one() {
                    self.enqueue(job, at);
                }
            }
            Some(terminal @ (JobState::Failed | JobState::Cancelled)) => {
                if let Some(ended) = self.end_by_dependency(job, dependency.id, terminal) {
                    self.finished(job, ended);
                }
            }
            // Sealed lists belong to terminal jobs only.
            _ => unreachable!("a sealed dependents list belongs to a finished job"),
        }
    }

    /// Registers `job` as a dependent of each of `dependencies`.
    pub(super) fn register_dependent(&self, job: &Arc<Job>, dependencies: &[Arc<Job>]) {
        for dependency in dependencies {
            if let Err(job) = dependency.dependents.push(Arc::clone(job)) {
                self.settle_registration(&job, dependency);
            }
        }
    }
}
