//! The durable queue (feature `durable`; docs/DURABILITY.md): a
//! [`JobQueue`] whose every acknowledged operation survives a crash.
//!
//! [`DurableQueue`] wraps an in-memory `JobQueue` (every check, error and
//! concurrent guarantee is that queue's) and a committer thread
//! ([`journal`]) that writes what each operation changed to an embedded
//! store ([`store`]) with group commit. [`DurableQueue::open`] recovers
//! what the directory holds ([`recover`]).

pub(crate) mod codec;
pub(crate) mod journal;
pub(crate) mod recover;
pub(crate) mod redb_store;
pub(crate) mod store;

pub use codec::DurablePayload;
pub use journal::SyncPolicy;
pub use store::{DurabilityError, DurabilityErrorKind};

use crate::claim::{CancelOutcome, Claim, Completion, Outcome, WaitError};
use crate::config::JobQueueBuilder;
use crate::error::Error;
use crate::ids::{ClusterId, JobId, RunnerType};
use crate::queue::JobQueue;
use crate::spec::{DependencyKind, JobSpec, Priority, Resources};
use crate::sync::{AtomicBool, AtomicU64, Ordering};
use crate::view::{JobState, JobView, Metrics, QueueStatus};
use journal::{Committer, Done, Mark, Marks, Message, Request};
use parking_lot::Mutex;
use std::path::Path;
use std::sync::mpsc::{self, Sender};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// The store the durable queue keeps its rows in.
type Backend = redb_store::RedbStore;

/// What the committer shares with the queue: its first failure (then the
/// queue's memory may be ahead of its disk) and its counts.
#[derive(Default)]
pub(crate) struct Shared {
    failed: AtomicBool,
    error: Mutex<Option<Error>>,
    /// Commits made, and how many of them were synced.
    commits: AtomicU64,
    synced: AtomicU64,
}

impl Shared {
    /// One commit made (`synced` or not).
    pub(crate) fn committed(&self, synced: bool) {
        // Relaxed: counters read for reporting only.
        self.commits.fetch_add(1, Ordering::Relaxed);
        if synced {
            self.synced.fetch_add(1, Ordering::Relaxed);
        }
    }

    pub(crate) fn set(&self, error: Error) {
        self.error.lock().get_or_insert(error);
        // Release: a thread that reads `true` finds the error set.
        self.failed.store(true, Ordering::Release);
    }

    fn check(&self) -> Result<(), Error> {
        // Acquire: pairs with `set`.
        if self.failed.load(Ordering::Acquire) {
            Err(self.error.lock().clone().expect("set before the flag"))
        } else {
            Ok(())
        }
    }
}

/// A job queue that survives a crash: [`JobQueue`]'s operations, each one
/// that returns `Ok` durable (with [`SyncPolicy::Always`]), recovered by
/// [`open`](DurableQueue::open) after a crash at any instant.
///
/// What waits for the disk: submits, reports (complete, fail), cancel,
/// reprioritize, `add_dependencies`, cluster changes and pruning. Claims,
/// `start` and heartbeats do not: a claim lost in a crash comes back as a
/// retry anyway (recovery counts a claimed job's attempt as lost, as if its
/// lease ran out). docs/DURABILITY.md has the reasoning and the recovery
/// semantics.
///
/// ```
/// use dagqueue::*;
/// let dir = std::env::temp_dir().join(format!("dagqueue-doc-{}", std::process::id()));
/// # let _ = std::fs::remove_dir_all(&dir);
/// {
///     let queue = DurableQueue::<()>::open(&dir, JobQueue::builder(), SyncPolicy::Always).unwrap();
///     queue.submit(JobSpec::new(JobId(1))).unwrap();
///     queue.submit(JobSpec::new(JobId(2)).depends_on([JobId(1)])).unwrap();
///     let claim = queue.claim(RunnerType::DEFAULT).unwrap();
///     queue.complete(claim, Outcome::Success).unwrap();
/// } // dropped (a crash would do as well: both reports were synced)
/// let queue = DurableQueue::<()>::open(&dir, JobQueue::builder(), SyncPolicy::Always).unwrap();
/// assert_eq!(queue.state(JobId(1)), Ok(JobState::Completed));
/// assert_eq!(queue.state(JobId(2)), Ok(JobState::Pending));
/// # drop(queue);
/// # std::fs::remove_dir_all(&dir).unwrap();
/// ```
pub struct DurableQueue<T = ()>
where
    T: DurablePayload + Send + Sync + 'static,
{
    queue: Arc<JobQueue<T>>,
    sender: Sender<Message<T>>,
    committer: Option<JoinHandle<()>>,
    policy: SyncPolicy,
    failure: Arc<Shared>,
}

impl<T> DurableQueue<T>
where
    T: DurablePayload + Send + Sync + 'static,
{
    /// Opens the queue kept in `dir` (created if missing; a new queue if
    /// empty), recovering what it holds, with `builder`'s configuration
    /// (the configuration is not stored: give the same one each time).
    ///
    /// # Errors
    /// `builder`'s own; [`Error::Durability`] if the store cannot be
    /// opened or read, or holds what this build cannot read (corrupt rows,
    /// a newer format, a missing part): nothing is opened then.
    pub fn open(
        dir: impl AsRef<Path>,
        builder: JobQueueBuilder,
        policy: SyncPolicy,
    ) -> Result<DurableQueue<T>, Error> {
        let queue = Arc::new(builder.build_for::<T>()?);
        // The store checks every page's checksum at open, so a damaged file
        // is an error; should its library still panic on one, that too is
        // reported as a corrupt store, never passed on as a panic.
        let opened = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let mut store = Backend::open(dir.as_ref())?;
            let recovered = recover::recover(&queue, &mut store)?;
            Ok::<_, Error>((store, recovered))
        }));
        let file = dir.as_ref().join(redb_store::STORE_FILE);
        let (store, recovered) = opened
            .unwrap_or_else(|panic| {
                let message = panic
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_default();
                Err(Error::Durability(DurabilityError::new(
                    DurabilityErrorKind::Corrupt,
                    format!("reading failed: {message}"),
                )))
            })
            .map_err(|error| match error {
                // A corrupt store's error names its file, then where in it.
                Error::Durability(mut error)
                    if error.kind == DurabilityErrorKind::Corrupt
                        && !error.detail.contains(redb_store::STORE_FILE) =>
                {
                    error.detail = format!("{}: {}", file.display(), error.detail);
                    Error::Durability(error)
                }
                other => other,
            })?;
        let failure = Arc::new(Shared::default());
        let mut committer = Committer {
            queue: Arc::clone(&queue),
            store,
            policy,
            next_record: recovered.next_record,
            records: recovered.records,
            stored: recovered.stored,
            deferred: Vec::new(),
            gone: Default::default(),
            waiting_syncs: Vec::new(),
            written_now: Default::default(),
            failure: Arc::clone(&failure),
        };
        committer.rewrite(&recovered.rewrite)?;
        let (sender, receiver) = mpsc::channel();
        let committer = std::thread::Builder::new()
            .name("dagqueue-committer".into())
            .spawn(move || committer.run(receiver))
            .map_err(|error| DurabilityError::io("starting the committer thread", error))?;
        Ok(DurableQueue {
            queue,
            sender,
            committer: Some(committer),
            policy,
            failure,
        })
    }

    /// Hands `marks` to the committer; with `wait` (and
    /// [`SyncPolicy::Always`]), returns once they are synced.
    fn record(&self, marks: Marks<T>, wait: bool) -> Result<(), Error> {
        let done = (wait && self.policy == SyncPolicy::Always).then(Done::new);
        let request = Request {
            marks,
            done: done.clone(),
        };
        if self.sender.send(Message::Request(request)).is_err() {
            return Err(committer_gone());
        }
        match done {
            Some(done) => done.wait(),
            None => Ok(()),
        }
    }

    /// Hands the committer `record`, whose state changed; with `wait`, as
    /// [`record`](Self::record).
    fn changed(&self, record: Arc<crate::job::Job<T>>, wait: bool) -> Result<(), Error> {
        let mark = Mark::Changed {
            record,
            edges: false,
        };
        self.record(Marks::One(mark), wait)
    }

    /// Records a claim (not waited for).
    fn claimed(&self, claim: Claim<T>) -> Claim<T> {
        // A failed store is reported by the next operation that waits.
        let _ = self.changed(Arc::clone(claim.record()), false);
        claim
    }

    /// A report (`complete`, `fail`) of `claim`, durable.
    fn report(
        &self,
        claim: Claim<T>,
        report: impl FnOnce(Claim<T>) -> Result<Completion, Error>,
    ) -> Result<Completion, Error> {
        self.failure.check()?;
        let record = Arc::clone(claim.record());
        let completion = report(claim)?;
        self.changed(record, true)?;
        Ok(completion)
    }

    /// [`JobQueue::submit`], durable.
    ///
    /// # Errors
    /// `submit`'s; [`Error::Durability`] if the store failed (the queue
    /// refuses every durable operation from then on).
    pub fn submit(&self, spec: JobSpec<T>) -> Result<JobId, Error> {
        self.failure.check()?;
        let row = codec::encode_spec(&spec, not_before(&spec));
        let record = self.queue.submit_record(spec)?;
        let id = record.id;
        self.record(Marks::One(Mark::Submitted { record, spec: row }), true)?;
        Ok(id)
    }

    /// [`JobQueue::submit_many`], durable: the whole batch in one commit.
    ///
    /// # Errors
    /// As `submit`.
    pub fn submit_many(&self, specs: impl IntoIterator<Item = JobSpec<T>>) -> Result<(), Error> {
        self.failure.check()?;
        let specs: Vec<JobSpec<T>> = specs.into_iter().collect();
        let rows: Vec<Vec<u8>> = specs
            .iter()
            .map(|spec| codec::encode_spec(spec, not_before(spec)))
            .collect();
        let records = self.queue.submit_many_records(specs)?;
        let marks = records
            .into_iter()
            .zip(rows)
            .map(|(record, spec)| Mark::Submitted { record, spec })
            .collect();
        self.record(Marks::Many(marks), true)
    }

    /// [`JobQueue::claim`]; the claim is written with the next commit, not
    /// waited for.
    #[must_use = "a claimed job is held until its claim is reported"]
    pub fn claim(&self, runner: RunnerType) -> Option<Claim<T>> {
        self.queue.claim(runner).map(|claim| self.claimed(claim))
    }

    /// [`JobQueue::claim_wait`].
    ///
    /// # Errors
    /// As `claim_wait`.
    #[must_use = "a claimed job is held until its claim is reported"]
    pub fn claim_wait(&self, runner: RunnerType, timeout: Duration) -> Result<Claim<T>, WaitError> {
        self.queue
            .claim_wait(runner, timeout)
            .map(|claim| self.claimed(claim))
    }

    /// [`JobQueue::claim_wait_any`].
    ///
    /// # Errors
    /// As `claim_wait_any`.
    #[must_use = "a claimed job is held until its claim is reported"]
    pub fn claim_wait_any(
        &self,
        runners: &[RunnerType],
        timeout: Duration,
    ) -> Result<Claim<T>, WaitError> {
        self.queue
            .claim_wait_any(runners, timeout)
            .map(|claim| self.claimed(claim))
    }

    /// [`JobQueue::claim_async`].
    ///
    /// # Errors
    /// As `claim_async`.
    pub async fn claim_async(&self, runner: RunnerType) -> Result<Claim<T>, WaitError> {
        let claim = self.queue.claim_async(runner).await?;
        Ok(self.claimed(claim))
    }

    /// [`JobQueue::claim_any_async`].
    ///
    /// # Errors
    /// As `claim_any_async`.
    pub async fn claim_any_async(&self, runners: &[RunnerType]) -> Result<Claim<T>, WaitError> {
        let claim = self.queue.claim_any_async(runners).await?;
        Ok(self.claimed(claim))
    }

    /// [`JobQueue::start`]; not waited for.
    ///
    /// # Errors
    /// As `start`.
    pub fn start(&self, claim: &Claim<T>) -> Result<(), Error> {
        self.queue.start(claim)?;
        let _ = self.changed(Arc::clone(claim.record()), false);
        Ok(())
    }

    /// [`JobQueue::heartbeat`] (not written: a lease is not recovered).
    ///
    /// # Errors
    /// As `heartbeat`.
    pub fn heartbeat(&self, claim: &Claim<T>) -> Result<bool, Error> {
        self.queue.heartbeat(claim)
    }

    /// [`JobQueue::complete`], durable.
    ///
    /// # Errors
    /// As `complete`, and as `submit` for the store.
    pub fn complete(&self, claim: Claim<T>, outcome: Outcome) -> Result<Completion, Error> {
        self.report(claim, |claim| self.queue.complete(claim, outcome))
    }

    /// [`JobQueue::fail`], durable.
    ///
    /// # Errors
    /// As `complete`.
    pub fn fail(&self, claim: Claim<T>, reason: &str) -> Result<Completion, Error> {
        self.report(claim, |claim| self.queue.fail(claim, reason))
    }

    /// [`JobQueue::cancel`], durable.
    ///
    /// # Errors
    /// As `cancel`, and as `submit` for the store.
    pub fn cancel(&self, id: JobId) -> Result<CancelOutcome, Error> {
        self.failure.check()?;
        let record = self.queue.lookup(id)?;
        let outcome = self.queue.cancel_record(&record)?;
        self.changed(record, true)?;
        Ok(outcome)
    }

    /// [`JobQueue::reprioritize`], durable.
    ///
    /// # Errors
    /// As `reprioritize`, and as `submit` for the store.
    pub fn reprioritize(&self, id: JobId, priority: Priority) -> Result<(), Error> {
        self.failure.check()?;
        let record = self.queue.lookup(id)?;
        self.queue.reprioritize_record(&record, priority)?;
        self.changed(record, true)
    }

    /// [`JobQueue::add_dependencies_of_kind`], durable.
    ///
    /// # Errors
    /// As `add_dependencies_of_kind`, and as `submit` for the store.
    pub fn add_dependencies_of_kind(
        &self,
        id: JobId,
        kind: DependencyKind,
        dependencies: &[JobId],
    ) -> Result<(), Error> {
        self.failure.check()?;
        let before = self.queue.lookup(id)?;
        self.queue
            .add_dependencies_of_kind(id, kind, dependencies)?;
        let mut marks = Vec::with_capacity(2);
        // The record the call changed: the one found before, unless that
        // was pruned and the id submitted again meanwhile.
        if let Ok(after) = self.queue.lookup(id) {
            if !Arc::ptr_eq(&after, &before) {
                marks.push(Mark::Changed {
                    record: after,
                    edges: true,
                });
            }
        }
        marks.push(Mark::Changed {
            record: before,
            edges: true,
        });
        self.record(Marks::Many(marks), true)
    }

    /// [`JobQueue::add_dependencies`], durable.
    ///
    /// # Errors
    /// As `add_dependencies_of_kind`.
    pub fn add_dependencies(&self, id: JobId, dependencies: &[JobId]) -> Result<(), Error> {
        self.add_dependencies_of_kind(id, DependencyKind::AfterSuccess, dependencies)
    }

    /// Records a cluster change, durably.
    fn cluster_changed(&self, cluster: ClusterId) -> Result<(), Error> {
        self.record(Marks::One(Mark::Cluster(cluster)), true)
    }

    /// [`JobQueue::set_cluster_capacity`], durable.
    ///
    /// # Errors
    /// As `set_cluster_capacity`, and as `submit` for the store.
    pub fn set_cluster_capacity(&self, cluster: ClusterId, capacity: u32) -> Result<(), Error> {
        self.failure.check()?;
        self.queue.set_cluster_capacity(cluster, capacity)?;
        self.cluster_changed(cluster)
    }

    /// [`JobQueue::pause_cluster`], durable.
    ///
    /// # Errors
    /// As `pause_cluster`, and as `submit` for the store.
    pub fn pause_cluster(&self, cluster: ClusterId) -> Result<(), Error> {
        self.failure.check()?;
        self.queue.pause_cluster(cluster)?;
        self.cluster_changed(cluster)
    }

    /// [`JobQueue::resume_cluster`], durable.
    ///
    /// # Errors
    /// As `resume_cluster`, and as `submit` for the store.
    pub fn resume_cluster(&self, cluster: ClusterId) -> Result<(), Error> {
        self.failure.check()?;
        self.queue.resume_cluster(cluster)?;
        self.cluster_changed(cluster)
    }

    /// [`JobQueue::set_cluster_resources`], durable.
    ///
    /// # Errors
    /// As `set_cluster_resources`, and as `submit` for the store.
    pub fn set_cluster_resources(
        &self,
        cluster: ClusterId,
        resources: Resources,
    ) -> Result<(), Error> {
        self.failure.check()?;
        self.queue.set_cluster_resources(cluster, resources)?;
        self.cluster_changed(cluster)
    }

    /// [`JobQueue::prune_finished`], durable: the pruned jobs' rows leave
    /// the store (a job still named by a stored job that has not been
    /// pruned keeps a small tombstone until that one is).
    ///
    /// # Errors
    /// As `submit` for the store (the jobs are pruned from memory anyway).
    pub fn prune_finished(&self) -> Result<Vec<JobView>, Error> {
        self.failure.check()?;
        let mut pruned = Vec::new();
        self.queue
            .prune_each(|view, record| pruned.push((view, Arc::clone(record))));
        let mut views: Vec<JobView> = pruned.iter().map(|(view, _)| view.clone()).collect();
        views.sort_unstable_by_key(|view| view.id);
        if !pruned.is_empty() {
            self.record(Marks::One(Mark::Pruned(pruned)), true)?;
        }
        Ok(views)
    }

    /// Returns once everything done so far is durable (what
    /// [`SyncPolicy::Every`] would sync at its next tick).
    ///
    /// # Errors
    /// As `submit` for the store.
    pub fn sync(&self) -> Result<(), Error> {
        self.failure.check()?;
        let done = Done::new();
        if self.sender.send(Message::Sync(Arc::clone(&done))).is_err() {
            return Err(committer_gone());
        }
        done.wait()
    }

    /// Gives the space of deleted rows back to the file system (the store
    /// reuses it meanwhile: without this the file stays as large as it was
    /// at its fullest). Blocks the committer while it runs.
    ///
    /// # Errors
    /// As `submit` for the store.
    pub fn compact(&self) -> Result<(), Error> {
        self.failure.check()?;
        let done = Done::new();
        if self
            .sender
            .send(Message::Compact(Arc::clone(&done)))
            .is_err()
        {
            return Err(committer_gone());
        }
        done.wait()
    }

    /// Commits made to the store so far, and how many of them were synced
    /// (with [`SyncPolicy::Always`], every one): fewer than the operations
    /// that waited for them when callers share commits.
    ///
    /// ```
    /// use dagqueue::*;
    /// let dir = std::env::temp_dir().join(format!("dagqueue-commits-{}", std::process::id()));
    /// # let _ = std::fs::remove_dir_all(&dir);
    /// let queue = DurableQueue::<()>::open(&dir, JobQueue::builder(), SyncPolicy::Always).unwrap();
    /// queue.submit_many((0..100).map(|i| JobSpec::new(JobId(i)))).unwrap();
    /// let (commits, synced) = queue.commits();
    /// assert!(commits >= 1 && synced <= commits);
    /// # drop(queue);
    /// # std::fs::remove_dir_all(&dir).unwrap();
    /// ```
    pub fn commits(&self) -> (u64, u64) {
        (
            self.failure.commits.load(Ordering::Relaxed),
            self.failure.synced.load(Ordering::Relaxed),
        )
    }

    /// [`JobQueue::expire_leases`]. An expiry is written with the job's
    /// next write (until then, recovery counts that attempt lost anyway).
    pub fn expire_leases(&self) -> usize {
        self.queue.expire_leases()
    }

    /// [`JobQueue::state`].
    ///
    /// # Errors
    /// As `state`.
    pub fn state(&self, id: JobId) -> Result<JobState, Error> {
        self.queue.state(id)
    }

    /// [`JobQueue::job`].
    ///
    /// # Errors
    /// As `job`.
    pub fn job(&self, id: JobId) -> Result<JobView, Error> {
        self.queue.job(id)
    }

    /// [`JobQueue::dependencies_satisfied`].
    ///
    /// # Errors
    /// As `dependencies_satisfied`.
    pub fn dependencies_satisfied(&self, id: JobId) -> Result<bool, Error> {
        self.queue.dependencies_satisfied(id)
    }

    /// [`JobQueue::schedulable`].
    pub fn schedulable(&self, runner: RunnerType) -> Vec<JobId> {
        self.queue.schedulable(runner)
    }

    /// [`JobQueue::config`].
    pub fn config(&self) -> crate::QueueConfig {
        self.queue.config()
    }

    /// [`JobQueue::is_closed`].
    pub fn is_closed(&self) -> bool {
        self.queue.is_closed()
    }

    /// [`JobQueue::lane_entries`].
    pub fn lane_entries(&self) -> usize {
        self.queue.lane_entries()
    }

    /// [`JobQueue::status`].
    pub fn status(&self) -> QueueStatus {
        self.queue.status()
    }

    /// [`JobQueue::metrics`].
    pub fn metrics(&self) -> Metrics {
        self.queue.metrics()
    }

    /// [`JobQueue::next_due`].
    pub fn next_due(&self) -> Option<Duration> {
        self.queue.next_due()
    }

    /// [`JobQueue::subscribe`].
    pub fn subscribe(&self) -> crate::Subscriber {
        self.queue.subscribe()
    }

    /// [`JobQueue::close`] (in memory: a closed queue reopens open).
    pub fn close(&self) {
        self.queue.close();
    }

    /// [`JobQueue::wait_idle`].
    pub fn wait_idle(&self, timeout: Duration) -> bool {
        self.queue.wait_idle(timeout)
    }
}

impl<T> Drop for DurableQueue<T>
where
    T: DurablePayload + Send + Sync + 'static,
{
    /// Commits and syncs what is pending, then stops the committer.
    fn drop(&mut self) {
        let _ = self.sender.send(Message::Stop);
        if let Some(committer) = self.committer.take() {
            let _ = committer.join();
        }
    }
}

impl<T> std::fmt::Debug for DurableQueue<T>
where
    T: DurablePayload + Send + Sync + 'static,
{
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DurableQueue")
            .field("policy", &self.policy)
            .field("queue", &self.queue)
            .finish()
    }
}

/// When `spec` may first run, as wall-clock microseconds, if it waits.
fn not_before<T>(spec: &JobSpec<T>) -> Option<u64> {
    let delay = spec.get_delay(Instant::now());
    (!delay.is_zero()).then(|| recover::unix_micros().saturating_add(delay.as_micros() as u64))
}

fn committer_gone() -> Error {
    Error::Durability(DurabilityError::new(
        DurabilityErrorKind::Io,
        "the committer thread has stopped",
    ))
}
