//! Recovery's way in (feature `durable`): a queue rebuilt from what a store
//! recorded of each job (docs/DURABILITY.md, "Recovery semantics").
//!
//! The caller hands [`JobQueue::restore`] every job it recorded, each
//! after its dependencies (record order, or any topological order), each
//! dependency named by its position in that list rather than by id: an id
//! may have been pruned and submitted again while a job still names the
//! old one. A job is restored
//!
//! * queued ([`Restored::Queued`]): as `submit` would add it, with the
//!   attempts it had made; it waits again for its unfinished dependencies,
//!   and a dependency that already ended settles it exactly as at a submit
//!   (released, or ended with it);
//! * claimed at the crash ([`Restored::Claimed`]): that attempt is lost,
//!   as if its lease ran out: retried (after its backoff) while retries
//!   remain, else ended [`JobEnd::LeaseExpired`]; `Cancelled` if a cancel
//!   was requested;
//! * ended ([`Restored::Ended`]): published straight into its end, with
//!   the details its view shows (which dependency ended it, the failure's
//!   reason);
//! * pruned but still named by a job that had not ended
//!   ([`Restored::Pruned`]): a record that only settles the jobs naming it,
//!   never in the job table (its id stays unknown).
//!
//! No cluster is restored here (the caller sets capacities, pauses and
//! resources first, through the public operations), and no lease (its
//! claim is gone). Restored jobs count as submitted, and those restored
//! ended as ended, in `status()` and `metrics()`.

use super::JobQueue;
use crate::error::Error;
use crate::ids::JobId;
use crate::job::word::EndKind;
use crate::job::{DependencyRef, Job};
use crate::spec::{DependencyKind, JobSpec};
use crate::sync::next_incarnation;
use crate::view::{JobEnd, JobState};
use std::collections::HashSet;
use std::sync::Arc;

/// One recorded job, for [`JobQueue::restore`].
pub(crate) struct RestoredJob<T> {
    /// Its spec, naming no dependency (they are `dependencies`), with the
    /// job's current priority and, if it was waiting for a time, what
    /// remains of that wait as its delay.
    pub(crate) spec: JobSpec<T>,
    /// Its dependencies: positions of earlier entries, with each edge's kind.
    pub(crate) dependencies: Vec<(usize, DependencyKind)>,
    /// Attempts made (claims), the lost one included for a claimed job.
    pub(crate) attempt: u32,
    /// Where it was.
    pub(crate) state: Restored,
}

/// Where a recorded job was, for [`RestoredJob`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Restored {
    /// Waiting or pending.
    Queued,
    /// Scheduled or running: its attempt is lost.
    Claimed {
        /// `cancel` was called while it was claimed.
        cancel_requested: bool,
    },
    /// Ended, as its view said.
    Ended(JobEnd),
    /// Pruned, but named by a job that had not ended: it only settles them.
    Pruned(JobEnd),
}

/// Why [`JobQueue::restore`] refused its input (and restored nothing).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum RestoreError {
    /// Entry `position` names a dependency that is not an earlier entry.
    DependencyOrder {
        /// The entry.
        position: usize,
        /// The position it names.
        dependency: usize,
    },
    /// Entry `position`'s spec fails its checks, or names dependencies.
    Invalid {
        /// The entry.
        position: usize,
        /// What is wrong.
        error: Error,
    },
    /// Entry `position`'s id is held by an earlier entry or by the queue.
    Duplicate {
        /// The entry.
        position: usize,
        /// Its id.
        id: JobId,
    },
    /// Entry `position`'s attempts do not fit its retries or its end.
    Attempts {
        /// The entry.
        position: usize,
        /// Its attempts.
        attempt: u32,
    },
}

/// What ending as `end` writes: the terminal state, the end kind, which
/// dependency ended it (and how that one ended), the failure's reason.
type EndParts = (
    JobState,
    EndKind,
    Option<(JobId, JobState)>,
    Option<Arc<str>>,
);

fn end_parts(end: &JobEnd) -> EndParts {
    match end {
        JobEnd::Succeeded => (JobState::Completed, EndKind::Succeeded, None, None),
        JobEnd::Failed { reason, .. } => (
            JobState::Failed,
            EndKind::FailedByWorker,
            None,
            reason.clone(),
        ),
        JobEnd::DependencyFailed { dependency } => (
            JobState::Failed,
            EndKind::DependencyFailed,
            Some((*dependency, JobState::Failed)),
            None,
        ),
        JobEnd::LeaseExpired { .. } => (JobState::Failed, EndKind::LeaseExpired, None, None),
        JobEnd::Cancelled => (JobState::Cancelled, EndKind::CancelledByUser, None, None),
        JobEnd::DependencyCancelled { dependency } => (
            JobState::Cancelled,
            EndKind::DependencyCancelled,
            Some((*dependency, JobState::Cancelled)),
            None,
        ),
        JobEnd::DependencySucceeded { dependency } => (
            JobState::Cancelled,
            EndKind::DependencySucceeded,
            Some((*dependency, JobState::Completed)),
            None,
        ),
    }
}

/// The attempts an end names, if it names them.
fn end_attempts(end: &JobEnd) -> Option<u32> {
    match end {
        JobEnd::Failed { attempts, .. } | JobEnd::LeaseExpired { attempts } => Some(*attempts),
        _ => None,
    }
}

impl<T> JobQueue<T> {
    /// Adds every recorded job, as the module says. All or nothing: the
    /// input is checked whole before anything is added. For a queue that
    /// no other thread uses yet (recovery runs before the queue is handed
    /// out).
    ///
    /// Returns each job's record, in list order.
    ///
    /// # Errors
    /// [`RestoreError`], the first found in list order; then the queue is
    /// as it was.
    pub(crate) fn restore(
        &self,
        jobs: Vec<RestoredJob<T>>,
    ) -> Result<Vec<Arc<Job<T>>>, RestoreError> {
        self.check_restored(&jobs)?;
        let mut records: Vec<Arc<Job<T>>> = Vec::with_capacity(jobs.len());
        for job in jobs {
            let record = self.restore_one(job, &records);
            records.push(record);
        }
        Ok(records)
    }

    fn check_restored(&self, jobs: &[RestoredJob<T>]) -> Result<(), RestoreError> {
        let mut ids = HashSet::with_capacity(jobs.len());
        for (position, job) in jobs.iter().enumerate() {
            let invalid = |error| RestoreError::Invalid { position, error };
            job.spec.validate().map_err(invalid)?;
            if let Some(&dependency) = job.spec.dependencies().first() {
                return Err(invalid(Error::UnknownDependency {
                    job: job.spec.id(),
                    dependency,
                }));
            }
            if let Some(&(dependency, _)) = job.dependencies.iter().find(|(at, _)| *at >= position)
            {
                return Err(RestoreError::DependencyOrder {
                    position,
                    dependency,
                });
            }
            let id = job.spec.id();
            let in_table = !matches!(job.state, Restored::Pruned(_));
            if in_table && (!ids.insert(id) || self.jobs.contains_key(&id)) {
                return Err(RestoreError::Duplicate { position, id });
            }
            // Attempts a job may make: one plus its retries.
            let limit = job.spec.get_max_retries() + 1;
            let attempts_fit = match &job.state {
                Restored::Queued => job.attempt < limit,
                Restored::Claimed { .. } => (1..=limit).contains(&job.attempt),
                Restored::Ended(end) | Restored::Pruned(end) => {
                    job.attempt <= limit && end_attempts(end).is_none_or(|n| n == job.attempt)
                }
            };
            if !attempts_fit {
                return Err(RestoreError::Attempts {
                    position,
                    attempt: job.attempt,
                });
            }
        }
        Ok(())
    }

    /// Adds one checked job whose dependencies are `records`' entries.
    fn restore_one(&self, job: RestoredJob<T>, records: &[Arc<Job<T>>]) -> Arc<Job<T>> {
        let RestoredJob {
            mut spec,
            dependencies,
            attempt,
            state,
        } = job;
        let incarnation = next_incarnation();
        // A claimed job's attempt is lost: as `end_attempt` with its lease
        // run out (`finish`: a cancel request first, then a retry if one is
        // left, after the job's or the queue's backoff).
        let state = match state {
            Restored::Claimed {
                cancel_requested: true,
            } => Restored::Ended(JobEnd::Cancelled),
            Restored::Claimed { .. } if attempt > spec.get_max_retries() => {
                Restored::Ended(JobEnd::LeaseExpired { attempts: attempt })
            }
            Restored::Claimed { .. } => {
                let wait = spec
                    .get_retry_backoff()
                    .unwrap_or(self.config.retry_backoff())
                    .delay(attempt, incarnation);
                if !wait.is_zero() {
                    spec = spec.delay(wait);
                }
                Restored::Queued
            }
            other => other,
        };
        let edges: Vec<DependencyRef<T>> = dependencies
            .iter()
            .map(|&(at, kind)| DependencyRef::to(&records[at], kind))
            .collect();
        let id = spec.id();
        match state {
            Restored::Queued | Restored::Claimed { .. } => {
                let staged = self.stage(spec, edges, dependencies.len(), incarnation);
                staged.job.word.restore_attempt(attempt);
                let inserted = self.jobs.insert_if_absent(id, Arc::clone(&staged.job));
                debug_assert!(inserted.is_ok(), "checked: {id:?} is new");
                self.publish_staged(
                    &staged,
                    dependencies.iter().map(|&(at, kind)| (&records[at], kind)),
                    true,
                );
                staged.job
            }
            Restored::Ended(end) => {
                let (terminal, kind, note, reason) = end_parts(&end);
                let staged = self.stage(spec, edges, 0, incarnation);
                let job = &staged.job;
                job.word.restore_attempt(attempt);
                // The details first, as the CAS that ends a job writes them
                // first: a view never lacks them.
                if let Some(note) = note {
                    self.dependency_ends
                        .get_or_insert_with(incarnation, || note);
                }
                if let Some(reason) = reason {
                    self.failure_reasons.insert_or_replace_if(
                        incarnation,
                        (attempt, reason),
                        |_| true,
                    );
                }
                let inserted = self.jobs.insert_if_absent(id, Arc::clone(job));
                debug_assert!(inserted.is_ok(), "checked: {id:?} is new");
                self.assign_group(&staged);
                self.with_tally(|tally| tally.metrics.count_submit(tally.shared));
                let (old, new) = job.word.publish_ended(terminal, kind, self.marking());
                self.transitioned(job, old, new);
                // Seals its (empty) dependents list: a job restored after it
                // that names it settles at its registration.
                self.finished(job, terminal);
                staged.job
            }
            Restored::Pruned(end) => {
                let (terminal, kind, _, _) = end_parts(&end);
                let staged = self.stage(spec, edges, 0, incarnation);
                staged.job.word.restore_attempt(attempt);
                // Not in the table, not counted, no event: it only settles
                // the jobs restored after it that name it.
                staged.job.word.publish_ended(terminal, kind, false);
                staged.job.seal_dependents(|_, _| {
                    unreachable!("nothing registered with a record not yet handed out")
                });
                staged.job
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{RestoreError, Restored, RestoredJob};
    use crate::ids::{JobId, RunnerType};
    use crate::spec::{DependencyKind, JobSpec, RetryBackoff};
    use crate::view::{JobEnd, JobState};
    use crate::{Error, JobQueue, Outcome};
    use std::time::Duration;

    const R: RunnerType = RunnerType::DEFAULT;

    fn job(id: u64, state: Restored, dependencies: &[usize]) -> RestoredJob<()> {
        RestoredJob {
            spec: JobSpec::new(JobId(id)),
            dependencies: dependencies
                .iter()
                .map(|&at| (at, DependencyKind::AfterSuccess))
                .collect(),
            attempt: 0,
            state,
        }
    }

    /// Claims, starts and completes the next job; its id.
    fn run_next(queue: &JobQueue) -> Option<u64> {
        let claim = queue.claim(R)?;
        let id = claim.job().0;
        queue.start(&claim).unwrap();
        queue.complete(claim, Outcome::Success).unwrap();
        Some(id)
    }

    #[test]
    fn a_chain_waits_again_behind_its_unfinished_jobs() {
        let queue = JobQueue::new();
        let restored = queue
            .restore(vec![
                job(1, Restored::Ended(JobEnd::Succeeded), &[]),
                job(2, Restored::Queued, &[0]),
                job(3, Restored::Queued, &[1]),
            ])
            .unwrap();
        assert_eq!(restored.len(), 3);
        assert_eq!(queue.state(JobId(1)), Ok(JobState::Completed));
        assert_eq!(queue.state(JobId(2)), Ok(JobState::Pending));
        assert_eq!(queue.state(JobId(3)), Ok(JobState::Waiting));
        let status = queue.status();
        assert_eq!(status.by_state.get(JobState::Completed), 1);
        assert_eq!(status.by_state.get(JobState::Pending), 1);
        assert_eq!(status.by_state.get(JobState::Waiting), 1);
        assert_eq!(status.metrics.submitted, 3);
        assert_eq!((run_next(&queue), run_next(&queue)), (Some(2), Some(3)));
        assert_eq!(run_next(&queue), None);
    }

    #[test]
    fn a_claimed_job_loses_its_attempt() {
        let queue = JobQueue::new();
        let retried = JobSpec::new(JobId(1)).max_retries(2);
        let spent = JobSpec::new(JobId(2)).max_retries(1);
        let cancelled = JobSpec::new(JobId(3)).max_retries(5);
        let claimed = |spec, attempt, cancel_requested| RestoredJob {
            spec,
            dependencies: Vec::new(),
            attempt,
            state: Restored::Claimed { cancel_requested },
        };
        queue
            .restore(vec![
                claimed(retried, 2, false),
                claimed(spent, 2, false),
                claimed(cancelled, 1, true),
            ])
            .unwrap();
        let view = queue.job(JobId(1)).unwrap();
        assert_eq!((view.state, view.attempt), (JobState::Pending, 2));
        let view = queue.job(JobId(2)).unwrap();
        assert_eq!(view.state, JobState::Failed);
        assert_eq!(view.end, Some(JobEnd::LeaseExpired { attempts: 2 }));
        assert_eq!(queue.job(JobId(3)).unwrap().end, Some(JobEnd::Cancelled));
        // The retry is the third attempt, and the last.
        let claim = queue.claim(R).unwrap();
        assert_eq!((claim.job(), claim.attempt()), (JobId(1), 3));
        queue.start(&claim).unwrap();
        queue.complete(claim, Outcome::Failure).unwrap();
        assert_eq!(queue.state(JobId(1)), Ok(JobState::Failed));
    }

    #[test]
    fn a_claimed_job_waits_for_its_backoff() {
        let queue = JobQueue::new();
        let backoff = RetryBackoff::new(Duration::from_secs(60), Duration::from_secs(60)).unwrap();
        queue
            .restore(vec![RestoredJob {
                spec: JobSpec::new(JobId(1)).max_retries(3).retry_backoff(backoff),
                dependencies: Vec::new(),
                attempt: 1,
                state: Restored::Claimed {
                    cancel_requested: false,
                },
            }])
            .unwrap();
        assert_eq!(queue.state(JobId(1)), Ok(JobState::Waiting));
        assert!(queue.claim(R).is_none());
        assert!(queue
            .next_due()
            .is_some_and(|due| due <= Duration::from_secs(60)));
    }

    #[test]
    fn a_pruned_dependency_settles_its_dependents_and_stays_unknown() {
        let queue = JobQueue::new();
        let failed = JobEnd::Failed {
            attempts: 1,
            reason: None,
        };
        let mut any = job(3, Restored::Queued, &[]);
        any.dependencies = vec![(0, DependencyKind::AfterAny)];
        let mut old = job(1, Restored::Pruned(failed), &[]);
        old.attempt = 1;
        queue
            .restore(vec![
                old,
                job(2, Restored::Queued, &[0]),
                any,
                // Id 1 submitted again after the pruning: a new job.
                job(1, Restored::Queued, &[]),
            ])
            .unwrap();
        assert_eq!(
            queue.job(JobId(2)).unwrap().end,
            Some(JobEnd::DependencyFailed {
                dependency: JobId(1)
            })
        );
        assert_eq!(queue.state(JobId(3)), Ok(JobState::Pending));
        assert_eq!(queue.state(JobId(1)), Ok(JobState::Pending));
        let status = queue.status();
        assert_eq!(status.metrics.submitted, 3);
        assert_eq!(status.by_state.get(JobState::Failed), 1);
        assert_eq!(status.by_state.get(JobState::Pending), 2);
    }

    #[test]
    fn ended_jobs_keep_what_their_views_showed() {
        let queue = JobQueue::new();
        let failed = JobEnd::Failed {
            attempts: 2,
            reason: Some("disk full".into()),
        };
        let cancelled_by = JobEnd::DependencyCancelled {
            dependency: JobId(7),
        };
        let mut first = job(1, Restored::Ended(failed.clone()), &[]);
        first.spec = first.spec.max_retries(1);
        first.attempt = 2;
        queue
            .restore(vec![
                first,
                job(2, Restored::Ended(cancelled_by.clone()), &[]),
            ])
            .unwrap();
        let view = queue.job(JobId(1)).unwrap();
        assert_eq!((view.end, view.attempt), (Some(failed), 2));
        assert_eq!(queue.job(JobId(2)).unwrap().end, Some(cancelled_by));
        // Ended jobs are finished: pruned like any other.
        assert_eq!(queue.prune_finished().len(), 2);
    }

    #[test]
    fn bad_input_restores_nothing() {
        let queue = JobQueue::new();
        queue.submit(JobSpec::new(JobId(9))).unwrap();
        let forward = vec![
            job(1, Restored::Queued, &[1]),
            job(2, Restored::Queued, &[]),
        ];
        assert_eq!(
            queue.restore(forward).err(),
            Some(RestoreError::DependencyOrder {
                position: 0,
                dependency: 1
            })
        );
        let twice = vec![job(1, Restored::Queued, &[]), job(1, Restored::Queued, &[])];
        assert_eq!(
            queue.restore(twice).err(),
            Some(RestoreError::Duplicate {
                position: 1,
                id: JobId(1)
            })
        );
        let in_queue = vec![job(9, Restored::Queued, &[])];
        assert!(matches!(
            queue.restore(in_queue),
            Err(RestoreError::Duplicate { .. })
        ));
        let mut spent = job(1, Restored::Queued, &[]);
        spent.attempt = 1; // no retry: a queued job has made no attempt
        assert_eq!(
            queue.restore(vec![spent]).err(),
            Some(RestoreError::Attempts {
                position: 0,
                attempt: 1
            })
        );
        let mut named = job(1, Restored::Queued, &[]);
        named.spec = named.spec.depends_on([JobId(9)]);
        assert!(matches!(
            queue.restore(vec![named]),
            Err(RestoreError::Invalid {
                error: Error::UnknownDependency { .. },
                ..
            })
        ));
        let mismatch = vec![job(
            1,
            Restored::Ended(JobEnd::LeaseExpired { attempts: 3 }),
            &[],
        )];
        assert!(matches!(
            queue.restore(mismatch),
            Err(RestoreError::Attempts { .. })
        ));
        // Nothing of it was added.
        assert_eq!(queue.status().by_state.total(), 1);
        assert_eq!(queue.state(JobId(1)), Err(Error::UnknownJob(JobId(1))));
    }

    /// A retry's due time is kept (for the durable queue) while it waits
    /// for its backoff, and dropped once its timer releases it, not kept
    /// until the job is pruned.
    #[test]
    fn a_retry_due_time_goes_when_its_timer_fires() {
        let queue: JobQueue = JobQueue::new();
        let backoff =
            RetryBackoff::new(Duration::from_millis(5), Duration::from_millis(5)).unwrap();
        queue
            .submit(JobSpec::new(JobId(1)).max_retries(2).retry_backoff(backoff))
            .unwrap();
        let claim = queue.claim(R).unwrap();
        queue.complete(claim, Outcome::Failure).unwrap();
        let job = queue.lookup(JobId(1)).unwrap();
        assert!(queue.retry_wait(&job).is_some(), "waiting for its backoff");
        assert_eq!(queue.retry_dues.len(), 1);
        std::thread::sleep(Duration::from_millis(20));
        let again = queue.claim(R).expect("released by its timer");
        assert_eq!(again.attempt(), 2);
        assert_eq!(queue.retry_wait(&job), None, "its due time is gone");
        assert_eq!(queue.retry_dues.len(), 0);
        // A second failure waits for a new backoff, stored again.
        queue.complete(again, Outcome::Failure).unwrap();
        assert!(queue.retry_wait(&job).is_some());
    }
}
