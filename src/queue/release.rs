//! The release protocol, both halves: a job registers on each unfinished
//! dependency's dependents list (`register_dependent`); the dependency, when
//! it ends, seals its list and releases (completed) or ends (failed,
//! cancelled) every registered dependent. A registration that finds the list
//! already sealed settles itself (`settle_registration`), so no dependent is
//! missed and none is settled twice.

use super::JobQueue;
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
        let mut work: VecDeque<Arc<Job>> = job.dependents.seal().into();
        while let Some(dependent) = work.pop_front() {
            if dependent.word.fail_by_dependency(terminal) {
                self.count_terminal(terminal);
                work.extend(dependent.dependents.seal());
            }
        }
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
                if job.word.fail_by_dependency(terminal) {
                    self.finished(job, terminal);
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
