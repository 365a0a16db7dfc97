//! What a worker reports, and what a user changes about a queued job:
//! `start`, `complete`, `cancel`, `reprioritize`; each is one CAS on the
//! job's state word, then the steps that follow from it.

use super::{not_queued, JobQueue, Now};
use crate::claim::{bounded_reason, CancelOutcome, Claim, Completion, Outcome};
use crate::error::Error;
use crate::ids::JobId;
use crate::job::word::{Enqueue, StartRefusal};
use crate::job::Job;
use crate::spec::Priority;
use crate::view::JobState;
use std::sync::Arc;
use std::time::Duration;

impl<T> JobQueue<T> {
    /// Marks a claimed attempt as started (`Scheduled` → `Running`).
    ///
    /// # Errors
    /// `StaleClaim` (not this job's current attempt, or its job was pruned,
    /// or the claim is another queue's), `AlreadyStarted`, `CancelRequested`.
    ///
    /// ```
    /// use dagqueue::*;
    /// let q = JobQueue::new();
    /// q.submit(JobSpec::new(JobId(1))).unwrap();
    /// let claim = q.claim(RunnerType::DEFAULT).unwrap();
    /// q.start(&claim).unwrap();
    /// assert_eq!(q.state(JobId(1)), Ok(JobState::Running));
    /// assert_eq!(q.start(&claim), Err(Error::AlreadyStarted(JobId(1))));
    /// ```
    // Linearization point: the CAS scheduled → running.
    pub fn start(&self, claim: &Claim<T>) -> Result<(), Error> {
        let job = self.claimed(claim)?;
        let (old, new) = job
            .word
            .start(claim.attempt(), self.marking())
            .map_err(|refusal| match refusal {
                StartRefusal::Stale => stale(claim),
                StartRefusal::AlreadyStarted => Error::AlreadyStarted(claim.job()),
                StartRefusal::CancelRequested => Error::CancelRequested(claim.job()),
            })?;
        self.transitioned(job, old, new);
        Ok(())
    }

    /// Reports how a claimed attempt (scheduled or running) ended, freeing its
    /// cluster slot. Success completes the job; failure re-queues it while
    /// `attempt <= max_retries`, else fails it and its dependents; if
    /// cancellation was requested the job ends `Cancelled` whatever the outcome.
    ///
    /// # Errors
    /// `StaleClaim`: a repeated or late report, a report of a pruned job
    /// (even if a new job reuses its id) or of another queue's claim changes
    /// nothing.
    ///
    /// ```
    /// use dagqueue::*;
    /// let q = JobQueue::new();
    /// q.submit(JobSpec::new(JobId(1)).max_retries(1)).unwrap();
    /// let first = q.claim(RunnerType::DEFAULT).unwrap();
    /// assert_eq!(q.complete(first.clone(), Outcome::Failure), Ok(Completion::Retrying));
    /// let second = q.claim(RunnerType::DEFAULT).unwrap();
    /// assert_eq!(second.attempt(), 2);
    /// assert!(q.complete(first, Outcome::Success).is_err()); // a late report of attempt 1
    /// assert_eq!(q.complete(second, Outcome::Success), Ok(Completion::Completed));
    /// ```
    // Linearization point: the CAS that ends the attempt
    // (`StateWord::finish` in `job/word.rs`); it checks the attempt, so a
    // repeated or late report fails it and changes nothing.
    pub fn complete(&self, claim: Claim<T>, outcome: Outcome) -> Result<Completion, Error> {
        self.report(&claim, outcome)
    }

    /// `complete` without consuming the claim.
    fn report(&self, claim: &Claim<T>, outcome: Outcome) -> Result<Completion, Error> {
        let job = self.claimed(claim)?;
        let completion = self
            .end_attempt(job, claim.attempt(), outcome, false, &Now::unread())
            .ok_or_else(|| stale(claim))?;
        self.forget_lease(job, claim.attempt());
        trace_event!(
            job = claim.job().0,
            attempt = claim.attempt(),
            completion = ?completion,
            "reported"
        );
        Ok(completion)
    }

    /// Reports that a claimed attempt failed, and why: as
    /// [`complete`](JobQueue::complete) with [`Outcome::Failure`], and the
    /// reason (cut to [`MAX_REASON_BYTES`](crate::MAX_REASON_BYTES)) is kept
    /// as the job's last failure reason, shown in its view once it ends
    /// [`Failed`](crate::JobEnd::Failed).
    ///
    /// # Errors
    /// As `complete`.
    ///
    /// ```
    /// use dagqueue::*;
    /// let q = JobQueue::new();
    /// q.submit(JobSpec::new(JobId(1)).max_retries(1)).unwrap();
    /// let first = q.claim(RunnerType::DEFAULT).unwrap();
    /// assert_eq!(q.fail(first, "disk full"), Ok(Completion::Retrying));
    /// let second = q.claim(RunnerType::DEFAULT).unwrap();
    /// assert_eq!(q.fail(second, "disk still full"), Ok(Completion::Failed));
    /// let reason = Some("disk still full".into());
    /// assert_eq!(q.job(JobId(1)).unwrap().end, Some(JobEnd::Failed { attempts: 2, reason }));
    /// ```
    pub fn fail(&self, claim: Claim<T>, reason: &str) -> Result<Completion, Error> {
        let completion = self.report(&claim, Outcome::Failure)?;
        if matches!(completion, Completion::Retrying | Completion::Failed) {
            let attempt = claim.attempt();
            self.failure_reasons.insert_or_replace_if(
                claim.incarnation(),
                (attempt, bounded_reason(reason)),
                |(noted, _)| *noted < attempt,
            );
            // Pruned meanwhile? Then nobody else will remove the note.
            let held = self
                .jobs
                .get_cloned(&claim.job())
                .is_some_and(|job| Arc::ptr_eq(&job, claim.record()));
            if !held {
                self.failure_reasons.remove(&claim.incarnation());
            }
        }
        Ok(completion)
    }

    /// The record `claim` was made from, if it is this queue's (its lane
    /// group says so); a claim of another queue, or made up, is
    /// `StaleClaim`. A pruned record needs no check here: it is finished,
    /// so its word refuses every report.
    #[inline]
    pub(super) fn claimed<'c>(&self, claim: &'c Claim<T>) -> Result<&'c Arc<Job<T>>, Error> {
        let job = claim.record();
        match job.group.get() {
            Some(group) if group.queue == self.uid => Ok(job),
            _ => Err(stale(claim)),
        }
    }

    /// Ends `attempt` of `job` (a report, or `by_lease`: its lease ran out):
    /// the CAS, then the slot release and the retry or the terminal step.
    /// `None`: not the current attempt (someone else ended it).
    pub(super) fn end_attempt(
        &self,
        job: &Arc<Job<T>>,
        attempt: u32,
        outcome: Outcome,
        by_lease: bool,
        now: &Now,
    ) -> Option<Completion> {
        // Only a failure with a retry left waits; only then is the job's
        // own backoff looked up (not on every completion).
        let wait = if outcome == Outcome::Failure && attempt <= job.max_retries {
            self.retry_backoffs
                .get_cloned(&job.incarnation)
                .unwrap_or(self.config.retry_backoff())
                .delay(attempt, job.incarnation)
        } else {
            Duration::ZERO
        };
        // Loom negative control: the slot released before the CAS, so a
        // stale or duplicate report releases it too.
        let early_release = self.faults.early_report_release() && !by_lease;
        if early_release {
            if let Some(cluster) = job.group().cluster.as_deref() {
                cluster.release();
            }
        }
        let (old, word) = job
            .word
            .finish(
                attempt,
                outcome,
                job.max_retries,
                by_lease,
                !wait.is_zero(),
                self.marking(),
            )
            .ok()?;
        self.attempt_ended(job, old, word, by_lease);
        let cluster = job.group().cluster.as_deref();
        if let Some(cluster) = cluster.filter(|_| !early_release) {
            cluster.release();
        }
        let (terminal, completion) = match word.state() {
            Some(JobState::Pending) => {
                self.enqueue(job, Enqueue::of(word));
                return Some(Completion::Retrying);
            }
            Some(JobState::Waiting) => {
                // A retry that waits for its backoff.
                let due = now.get(self).saturating_add(wait.as_micros() as u64);
                #[cfg(feature = "durable")]
                self.retry_dues
                    .insert_or_replace_if(job.incarnation, due, |_| true);
                self.start_timer(job, due);
                return Some(Completion::Retrying);
            }
            Some(JobState::Completed) => (JobState::Completed, Completion::Completed),
            Some(JobState::Failed) => (JobState::Failed, Completion::Failed),
            _ => (JobState::Cancelled, Completion::Cancelled),
        };
        self.finished_at(job, terminal, now);
        if cluster.is_some() {
            self.wake_slot_waiters(job.group());
        }
        Some(completion)
    }

    /// Cancels a job: a waiting or pending one at once, a claimed one when its
    /// worker reports. Waiting dependents of a cancelled job are cancelled too.
    /// Cancelling a claimed job twice is not an error.
    ///
    /// # Errors
    /// `UnknownJob`, `AlreadyFinished`.
    ///
    /// ```
    /// use dagqueue::*;
    /// let q = JobQueue::new();
    /// q.submit(JobSpec::new(JobId(1))).unwrap();
    /// q.submit(JobSpec::new(JobId(2)).depends_on([JobId(1)])).unwrap();
    /// assert_eq!(q.cancel(JobId(1)), Ok(CancelOutcome::Cancelled));
    /// assert_eq!(q.state(JobId(2)), Ok(JobState::Cancelled)); // its dependent too
    /// ```
    // Linearization point: the CAS that cancels a queued job or marks a
    // claimed one.
    pub fn cancel(&self, id: JobId) -> Result<CancelOutcome, Error> {
        self.cancel_record(&self.lookup(id)?)
    }

    /// [`cancel`](JobQueue::cancel) of `job`, a record found by its id.
    pub(crate) fn cancel_record(&self, job: &Arc<Job<T>>) -> Result<CancelOutcome, Error> {
        let id = job.id;
        match job.word.cancel(self.marking()) {
            Ok((old, new)) => {
                self.transitioned(job, old, new);
                self.left_pending(job, old);
                if new.state() == Some(JobState::Cancelled) {
                    self.finished(job, JobState::Cancelled);
                    Ok(CancelOutcome::Cancelled)
                } else {
                    Ok(CancelOutcome::Requested)
                }
            }
            Err(Some(state)) => Err(Error::AlreadyFinished { job: id, state }),
            Err(None) => Err(Error::UnknownJob(id)),
        }
    }

    /// Changes the priority of a job not yet claimed. A pending job moves to
    /// the back of its new level's lane (same level: nothing changes).
    ///
    /// # Errors
    /// `UnknownJob`, `NotQueued`.
    ///
    /// ```
    /// use dagqueue::*;
    /// let q = JobQueue::new();
    /// q.submit(JobSpec::new(JobId(1)).priority(Priority::Low)).unwrap();
    /// q.submit(JobSpec::new(JobId(2))).unwrap();
    /// q.reprioritize(JobId(1), Priority::Critical).unwrap();
    /// assert_eq!(q.claim(RunnerType::DEFAULT).map(|c| c.job()), Some(JobId(1)));
    /// ```
    // Linearization point: the CAS that changes the priority (and, for a
    // pending job, the version, which turns its old lane entry stale).
    pub fn reprioritize(&self, id: JobId, priority: Priority) -> Result<(), Error> {
        self.reprioritize_record(&self.lookup(id)?, priority)
    }

    /// [`reprioritize`](JobQueue::reprioritize) of `job`, a record found
    /// by its id.
    pub(crate) fn reprioritize_record(
        &self,
        job: &Arc<Job<T>>,
        priority: Priority,
    ) -> Result<(), Error> {
        let id = job.id;
        let (old, new) = job
            .word
            .reprioritize(priority, self.marking())
            .map_err(|state| not_queued(id, state))?;
        self.transitioned(job, old, new);
        if let Some(at) = Enqueue::after_reprioritize(old, new) {
            self.enqueue(job, at);
            self.entry_went_stale(job, old.level());
        }
        Ok(())
    }
}

/// The error of a report whose claim is not current.
pub(super) fn stale<T>(claim: &Claim<T>) -> Error {
    Error::StaleClaim {
        job: claim.job(),
        attempt: claim.attempt(),
    }
}
