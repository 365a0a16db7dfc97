//! Waiting for a claim: blocking (`claim_wait`, `claim_wait_any`) and async
//! (`claim_async`, `claim_any_async`), for one runner type or several.
//! Every form is the same loop: try to claim; register on the runner
//! types' signals (`wake.rs`); try again; sleep until notified. Only the
//! sleep differs: a blocked thread, or a pending future.

use super::JobQueue;
use crate::claim::{Claim, WaitError};
use crate::ids::RunnerType;
use crate::sync::{fence, spin_wait, Ordering};
use crate::wake::{wait_any, AnyOf};
use std::time::{Duration, Instant};

impl<T> JobQueue<T> {
    /// Like [`claim`](JobQueue::claim), but sleeps (without polling) until a
    /// job can be claimed, the queue is [closed](JobQueue::close) or
    /// `timeout` passes.
    ///
    /// # Errors
    /// [`WaitError::TimedOut`], [`WaitError::Closed`] (at once, for every
    /// sleeper, when the queue is closed).
    ///
    /// ```
    /// use dagqueue::*;
    /// let q = JobQueue::new();
    /// use std::time::{Duration, Instant};
    /// let timed_out = q.claim_wait(RunnerType::DEFAULT, Duration::from_millis(5));
    /// assert_eq!(timed_out, Err(WaitError::TimedOut));
    /// q.submit(JobSpec::new(JobId(1))).unwrap();
    /// assert!(q.claim_wait(RunnerType::DEFAULT, Duration::from_secs(1)).is_ok());
    /// ```
    #[must_use = "a claimed job is held until its claim is reported"]
    pub fn claim_wait(&self, runner: RunnerType, timeout: Duration) -> Result<Claim<T>, WaitError> {
        self.claim_wait_any(&[runner], timeout)
    }

    /// Like [`claim_wait`](JobQueue::claim_wait), for a worker that can run
    /// jobs of several runner types: it claims from the first of `runners`
    /// that has a claimable job (so list them in the order you prefer), and
    /// sleeps until a job of any of them can be claimed.
    ///
    /// # Errors
    /// As `claim_wait`; `TimedOut` at once for an empty `runners` (nothing
    /// could ever be claimed).
    ///
    /// ```
    /// use dagqueue::*;
    /// use std::time::Duration;
    /// let q = JobQueue::new();
    /// q.submit(JobSpec::new(JobId(1)).runner(RunnerType(2))).unwrap();
    /// let claim = q.claim_wait_any(&[RunnerType(1), RunnerType(2)], Duration::from_secs(1)).unwrap();
    /// assert_eq!((claim.job(), claim.runner()), (JobId(1), RunnerType(2)));
    /// ```
    #[must_use = "a claimed job is held until its claim is reported"]
    pub fn claim_wait_any(
        &self,
        runners: &[RunnerType],
        timeout: Duration,
    ) -> Result<Claim<T>, WaitError> {
        if runners.is_empty() {
            return Err(WaitError::TimedOut);
        }
        let attempt = || self.claim_or_closed(runners);
        // A job ready now needs no signal (nor the allocations below).
        if let Some(found) = attempt() {
            return found;
        }
        // `None`: a timeout too long to represent, waited in hour-long steps.
        let deadline = Instant::now().checked_add(timeout);
        // The runners' signals (their lanes are made now if no job of
        // theirs exists yet).
        let lanes: Vec<_> = runners
            .iter()
            .map(|&runner| self.runner_lanes_or_create(runner))
            .collect();
        let signals: Vec<_> = lanes.iter().map(|lanes| &*lanes.wake).collect();
        loop {
            // Wake for the next lease that may run out or delayed job that
            // may be due (neither needs a thread of its own: the sleepers
            // do it), else for the timeout.
            let left = deadline.map_or(Duration::from_secs(3600), |deadline| {
                deadline.saturating_duration_since(Instant::now())
            });
            let step = self.next_due().map_or(left, |next| next.min(left));
            if let Some(found) = wait_any(&signals, step, attempt) {
                return self.passing_on(found, &lanes);
            }
            if deadline.is_some_and(|deadline| Instant::now() >= deadline) {
                return Err(WaitError::TimedOut);
            }
            if step.is_zero() {
                // Due, but another thread is sweeping or releasing.
                spin_wait();
            }
        }
    }

    /// Claims a job of this runner type, waiting (asynchronously, without
    /// polling) until one can be claimed or the queue is closed. Works
    /// under any executor: the future is woken by the queue itself.
    ///
    /// Dropping the future at any point loses no job and leaves no waiter
    /// registered (a wake-up it received and did not use goes to another
    /// waiter). A timeout is the caller's: wrap it in the runtime's timeout
    /// (`tokio::time::timeout`...). The future is woken by events (a job
    /// becoming claimable, a slot freed, `close`), not by time: a delayed
    /// job becoming due or a lease running out is noticed by the next
    /// claim, so a pool that uses them should bound each wait by
    /// [`next_due`](JobQueue::next_due) and claim again.
    ///
    /// # Errors
    /// [`WaitError::Closed`] once the queue is closed (never `TimedOut`).
    ///
    /// ```
    /// use dagqueue::*;
    /// let q = std::sync::Arc::new(JobQueue::new());
    /// let worker = {
    ///     let q = q.clone();
    ///     std::thread::spawn(move || {
    ///         // Any executor drives it; a blocking one for the example.
    ///         let claim = block_on(q.claim_async(RunnerType::DEFAULT)).unwrap();
    ///         q.complete(claim, Outcome::Success).unwrap();
    ///     })
    /// };
    /// q.submit(JobSpec::new(JobId(1))).unwrap();
    /// worker.join().unwrap();
    /// assert_eq!(q.metrics().completed, 1);
    /// # fn block_on<F: std::future::Future>(future: F) -> F::Output {
    /// #     struct Unpark(std::thread::Thread);
    /// #     impl std::task::Wake for Unpark { fn wake(self: std::sync::Arc<Self>) { self.0.unpark() } }
    /// #     let waker = std::task::Waker::from(std::sync::Arc::new(Unpark(std::thread::current())));
    /// #     let mut cx = std::task::Context::from_waker(&waker);
    /// #     let mut future = std::pin::pin!(future);
    /// #     loop {
    /// #         if let std::task::Poll::Ready(out) = future.as_mut().poll(&mut cx) { return out; }
    /// #         std::thread::park();
    /// #     }
    /// # }
    /// ```
    pub async fn claim_async(&self, runner: RunnerType) -> Result<Claim<T>, WaitError> {
        self.claim_any_async(&[runner]).await
    }

    /// [`claim_async`](JobQueue::claim_async) for a worker that can run
    /// jobs of several runner types: claims from the first of `runners`
    /// with a claimable job, and waits on all of them.
    ///
    /// # Errors
    /// [`WaitError::Closed`] once the queue is closed; `TimedOut` at once
    /// for an empty `runners` (nothing could ever be claimed).
    ///
    /// ```
    /// use dagqueue::*;
    /// let q = JobQueue::new();
    /// q.submit(JobSpec::new(JobId(1)).runner(RunnerType(2))).unwrap();
    /// let claim = block_on(q.claim_any_async(&[RunnerType(1), RunnerType(2)])).unwrap();
    /// assert_eq!((claim.job(), claim.runner()), (JobId(1), RunnerType(2)));
    /// # fn block_on<F: std::future::Future>(future: F) -> F::Output {
    /// #     struct Unpark(std::thread::Thread);
    /// #     impl std::task::Wake for Unpark { fn wake(self: std::sync::Arc<Self>) { self.0.unpark() } }
    /// #     let waker = std::task::Waker::from(std::sync::Arc::new(Unpark(std::thread::current())));
    /// #     let mut cx = std::task::Context::from_waker(&waker);
    /// #     let mut future = std::pin::pin!(future);
    /// #     loop {
    /// #         if let std::task::Poll::Ready(out) = future.as_mut().poll(&mut cx) { return out; }
    /// #         std::thread::park();
    /// #     }
    /// # }
    /// ```
    pub async fn claim_any_async(&self, runners: &[RunnerType]) -> Result<Claim<T>, WaitError> {
        if runners.is_empty() {
            return Err(WaitError::TimedOut);
        }
        // A job ready now needs no signal (nor the allocations below).
        if let Some(found) = self.claim_or_closed(runners) {
            return found;
        }
        let lanes: Vec<_> = runners
            .iter()
            .map(|&runner| self.runner_lanes_or_create(runner))
            .collect();
        loop {
            let listeners: Vec<_> = lanes.iter().map(|lanes| lanes.wake.listen()).collect();
            // SeqCst: as in `wake::wait_any` (registered, then fence,
            // then look: a notifier either sees us or we see its job).
            fence(Ordering::SeqCst);
            if let Some(found) = self.claim_or_closed(runners) {
                return self.passing_on(found, &lanes);
            }
            // `close` wakes every signal, so it reaches this wait too.
            AnyOf::new(listeners).await;
            if let Some(found) = self.claim_or_closed(runners) {
                return self.passing_on(found, &lanes);
            }
        }
    }

    /// How long until a lease may run out or a delayed job may be due
    /// (`None`: no lease held, no job delayed): what an async worker pool
    /// should bound each wait by (`claim_wait` does it itself).
    ///
    /// ```
    /// use dagqueue::*;
    /// use std::time::Duration;
    /// let q = JobQueue::new();
    /// assert_eq!(q.next_due(), None);
    /// q.submit(JobSpec::new(JobId(1)).delay(Duration::from_secs(60))).unwrap();
    /// assert!(q.next_due().unwrap() <= Duration::from_secs(60));
    /// ```
    pub fn next_due(&self) -> Option<Duration> {
        match (self.until_next_lease(), self.until_next_timer()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// What a waiter that registered found, after passing its wake-up on
    /// if it claimed ([`pass_on_wake`](JobQueue::pass_on_wake)).
    fn passing_on<L: core::ops::Deref<Target = crate::lanes::RunnerLanes<T>>>(
        &self,
        found: Result<Claim<T>, WaitError>,
        lanes: &[L],
    ) -> Result<Claim<T>, WaitError> {
        if found.is_ok() {
            self.pass_on_wake(lanes);
        }
        found
    }

    /// A waiter claimed after registering: pass the wake-up on to another
    /// waiter of each of its runner types whose lanes still hold entries.
    ///
    /// A job made ready while a woken waiter had not yet looked woke
    /// nobody (`WakeSignal::notify_unless_pending`): the woken waiter looks
    /// after its notification is taken (it registers again and fences
    /// first), so it sees every such job; it claims one, and this hands the
    /// rest on. An entry may be stale or its job unclaimable (cluster full
    /// or paused), which costs one waiter a wake-up for nothing, never a
    /// job left behind.
    fn pass_on_wake<L: core::ops::Deref<Target = crate::lanes::RunnerLanes<T>>>(
        &self,
        lanes: &[L],
    ) {
        if self.faults.no_pass_on() {
            return; // loom negative control: the burst stops at one waiter
        }
        for lanes in lanes {
            if lanes.has_entries() {
                lanes.wake.notify_unless_pending();
            }
        }
    }

    /// One try: `Closed`, or a claim from the first runner type that has
    /// one, or nothing.
    fn claim_or_closed(&self, runners: &[RunnerType]) -> Option<Result<Claim<T>, WaitError>> {
        if self.is_closed() {
            return Some(Err(WaitError::Closed));
        }
        runners
            .iter()
            .find_map(|&runner| self.claim(runner))
            .map(Ok)
    }
}
