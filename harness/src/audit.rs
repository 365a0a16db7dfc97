//! Event logs of a concurrent run, and a checker that replays them.
//!
//! Workers record what they did — claims, starts, completion reports, cancels,
//! pauses — into an [`EventLog`]. Every event takes a number from one global
//! counter at the moment it is recorded, so the numbers order the events in
//! real time. After the run, [`verify`] replays the log against a [`DagInfo`]
//! (each job's dependencies and cluster, each cluster's capacity) and reports
//! every [`Violation`] it can *prove*, or an [`AuditReport`] when there is
//! none.
//!
//! # Recording discipline
//!
//! The checks are sound (a reported violation really happened, whatever the
//! thread timing) only if each event is recorded on the right side of the
//! call it describes:
//!
//! | event | take / record |
//! | --- | --- |
//! | [`EventKind::Claimed`] | `began` from [`EventLog::tick`] *before* calling `claim`, the event *after* it returns |
//! | [`EventKind::Started`] | *after* `start` returns |
//! | [`EventKind::Released`] | *before* calling `complete` |
//! | [`EventKind::Reported`] | *after* `complete` returns |
//! | [`EventKind::CancelCalled`] | *after* `cancel` returns |
//! | [`EventKind::Paused`], [`EventKind::Resumed`] | `began` before the call, the event after it returns |
//! | [`EventKind::Final`] | once the run is over ([`EventLog::record_final_states`]) |
//!
//! A claim is then counted from after it happened until before it ended, so
//! the number of claims the replay sees held on a cluster is never more than
//! the number really held: a replayed count above the capacity proves the
//! capacity was exceeded. Likewise a claim recorded before its dependency's
//! completion was even called proves the dependency order was broken.
//!
//! ```
//! use harness::audit::{verify, DagInfo, EventKind, EventLog};
//! use dagqueue::{ClusterId, Completion, JobId, JobSpec, JobState, Outcome};
//! use harness::Claim;
//!
//! let spec = JobSpec::new(JobId(1)).cluster(ClusterId(0));
//! let mut dag = DagInfo::from_specs([&spec]);
//! dag.set_capacity(ClusterId(0), 1);
//!
//! let log = EventLog::new();
//! let claim = Claim::from_parts(JobId(1), 1, 1); // as a queue's claim returns it
//! let began = log.tick();
//! // ... queue.claim(..) returned `claim` ...
//! log.record(EventKind::Claimed { claim: claim.clone(), cluster: Some(ClusterId(0)), began });
//! log.record(EventKind::Released { claim: claim.clone(), cluster: Some(ClusterId(0)) });
//! // ... queue.complete(claim, Outcome::Success) returned Ok(Completed) ...
//! log.record(EventKind::Reported {
//!     claim,
//!     outcome: Outcome::Success,
//!     result: Ok(Completion::Completed),
//! });
//! log.record(EventKind::Final { job: JobId(1), state: Some(JobState::Completed) });
//!
//! let report = verify(&log.events(), &dag).unwrap();
//! assert_eq!((report.claims, report.completed), (1, 1));
//! ```

use crate::{Claim, Scheduler};
use dagqueue::{CancelOutcome, ClusterId, Completion, Error, JobId, JobSpec, JobState, Outcome};
use parking_lot::Mutex;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};

/// One recorded event: its global sequence number and what happened.
///
/// ```
/// use harness::audit::{Event, EventKind};
/// use dagqueue::{ClusterId, JobId};
/// let event = Event { seq: 3, kind: EventKind::Paused { cluster: ClusterId(1), began: 2 } };
/// assert_eq!(event.seq, 3);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    /// The global sequence number, taken when the event was recorded.
    pub seq: u64,
    /// What happened.
    pub kind: EventKind,
}

/// What an [`Event`] records. See the [module docs](self) for when each is
/// recorded.
///
/// ```
/// use harness::audit::EventKind;
/// use dagqueue::JobId;
/// use harness::Claim;
/// let claim = Claim::from_parts(JobId(1), 1, 1);
/// let kind = EventKind::Released { claim, cluster: None };
/// assert_eq!(kind.job(), JobId(1));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EventKind {
    /// `claim` (or `claim_wait`) returned this claim. Recorded after it
    /// returned; `began` is a [tick](EventLog::tick) taken before the call.
    Claimed {
        /// The claim handed out.
        claim: Claim,
        /// The job's cluster.
        cluster: Option<ClusterId>,
        /// A tick taken just before the call.
        began: u64,
    },
    /// `start` returned. Recorded after it returned.
    Started {
        /// The claim started.
        claim: Claim,
        /// What `start` returned.
        result: Result<(), Error>,
    },
    /// The worker is about to report this claim: recorded *before* calling
    /// `complete`; from here on the claim no longer counts as held.
    Released {
        /// The claim about to be reported.
        claim: Claim,
        /// The job's cluster.
        cluster: Option<ClusterId>,
    },
    /// `complete` returned. Recorded after it returned.
    Reported {
        /// The claim reported.
        claim: Claim,
        /// The outcome reported.
        outcome: Outcome,
        /// What `complete` returned.
        result: Result<Completion, Error>,
    },
    /// `cancel` returned. Recorded after it returned.
    CancelCalled {
        /// The job.
        job: JobId,
        /// What `cancel` returned.
        result: Result<CancelOutcome, Error>,
    },
    /// `pause_cluster` returned `Ok`. Recorded after it returned; `began` is a
    /// tick taken before the call.
    Paused {
        /// The cluster.
        cluster: ClusterId,
        /// A tick taken just before the call.
        began: u64,
    },
    /// `resume_cluster` returned `Ok`. Recorded after it returned; `began` is
    /// a tick taken before the call.
    Resumed {
        /// The cluster.
        cluster: ClusterId,
        /// A tick taken just before the call.
        began: u64,
    },
    /// A job's state once the run is over (`None`: the queue does not know
    /// it).
    Final {
        /// The job.
        job: JobId,
        /// Its final state.
        state: Option<JobState>,
    },
}

impl EventKind {
    /// The job the event is about; for a cluster event, `JobId(u64::MAX)`.
    ///
    /// ```
    /// use harness::audit::EventKind;
    /// use dagqueue::JobId;
    /// assert_eq!(EventKind::Final { job: JobId(4), state: None }.job(), JobId(4));
    /// ```
    pub fn job(&self) -> JobId {
        match self {
            EventKind::Claimed { claim, .. }
            | EventKind::Started { claim, .. }
            | EventKind::Released { claim, .. }
            | EventKind::Reported { claim, .. } => claim.job(),
            EventKind::CancelCalled { job, .. } | EventKind::Final { job, .. } => *job,
            EventKind::Paused { .. } | EventKind::Resumed { .. } => JobId(u64::MAX),
        }
    }
}

/// A thread-safe, append-only log of [`Event`]s with one global sequence.
///
/// Appending takes a sequence number (one atomic add) and pushes under a
/// lock; a [`Recorder`] buffers one thread's events instead and appends them
/// when flushed or dropped, so workers do not contend on the lock.
///
/// ```
/// use harness::audit::{EventKind, EventLog};
/// use dagqueue::{ClusterId, JobId};
/// let log = EventLog::new();
/// std::thread::scope(|s| {
///     for _ in 0..2 {
///         s.spawn(|| {
///             let mut recorder = log.recorder();
///             let began = recorder.tick();
///             recorder.record(EventKind::Paused { cluster: ClusterId(0), began });
///         });
///     }
/// });
/// assert_eq!(log.len(), 2);
/// ```
#[derive(Debug)]
pub struct EventLog {
    next: AtomicU64,
    events: Mutex<Vec<Event>>,
}

impl Default for EventLog {
    fn default() -> EventLog {
        EventLog::new()
    }
}

impl EventLog {
    /// An empty log.
    ///
    /// ```
    /// use harness::audit::EventLog;
    /// assert!(EventLog::new().is_empty());
    /// ```
    pub fn new() -> EventLog {
        EventLog {
            next: AtomicU64::new(0),
            events: Mutex::new(Vec::new()),
        }
    }

    /// Takes the next sequence number without recording anything (the
    /// `began` of a call).
    ///
    /// ```
    /// use harness::audit::EventLog;
    /// let log = EventLog::new();
    /// let first = log.tick();
    /// assert!(log.tick() > first);
    /// ```
    pub fn tick(&self) -> u64 {
        // AcqRel: the additions form one chain, so an event numbered before
        // another happened before it.
        self.next.fetch_add(1, Ordering::AcqRel)
    }

    /// Records an event now; returns its sequence number.
    ///
    /// ```
    /// use harness::audit::{EventKind, EventLog};
    /// use dagqueue::{JobId, JobState};
    /// let log = EventLog::new();
    /// let seq = log.record(EventKind::Final { job: JobId(1), state: Some(JobState::Completed) });
    /// assert_eq!(log.events()[0].seq, seq);
    /// ```
    pub fn record(&self, kind: EventKind) -> u64 {
        let seq = self.tick();
        self.events.lock().push(Event { seq, kind });
        seq
    }

    /// A per-thread buffer that numbers events as they happen and appends
    /// them to this log when flushed or dropped.
    ///
    /// ```
    /// use harness::audit::{EventKind, EventLog};
    /// use dagqueue::{JobId, JobState};
    /// let log = EventLog::new();
    /// {
    ///     let mut recorder = log.recorder();
    ///     recorder.record(EventKind::Final { job: JobId(1), state: None });
    ///     assert!(log.is_empty()); // still buffered
    /// }
    /// assert_eq!(log.len(), 1);
    /// ```
    pub fn recorder(&self) -> Recorder<'_> {
        Recorder {
            log: self,
            buffer: Vec::new(),
        }
    }

    /// The events appended so far, in sequence order.
    ///
    /// ```
    /// use harness::audit::{EventKind, EventLog};
    /// use dagqueue::JobId;
    /// let log = EventLog::new();
    /// log.record(EventKind::Final { job: JobId(2), state: None });
    /// log.record(EventKind::Final { job: JobId(1), state: None });
    /// let jobs: Vec<_> = log.events().iter().map(|e| e.kind.job()).collect();
    /// assert_eq!(jobs, [JobId(2), JobId(1)]);
    /// ```
    pub fn events(&self) -> Vec<Event> {
        let mut events = self.events.lock().clone();
        events.sort_by_key(|event| event.seq);
        events
    }

    /// The number of events appended so far.
    ///
    /// ```
    /// use harness::audit::EventLog;
    /// assert_eq!(EventLog::new().len(), 0);
    /// ```
    pub fn len(&self) -> usize {
        self.events.lock().len()
    }

    /// Whether nothing was appended yet.
    ///
    /// ```
    /// use harness::audit::EventLog;
    /// assert!(EventLog::new().is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Records the [final state](EventKind::Final) of each job, read from
    /// `queue` (call it once the run is over, before pruning).
    ///
    /// ```
    /// use harness::audit::{EventKind, EventLog};
    /// use dagqueue::{JobId, JobQueue, JobSpec, JobState};
    /// let queue = JobQueue::new();
    /// queue.submit(JobSpec::new(JobId(1))).unwrap();
    /// let log = EventLog::new();
    /// log.record_final_states(&queue, [JobId(1), JobId(2)]);
    /// let events = log.events();
    /// assert_eq!(events[0].kind, EventKind::Final { job: JobId(1), state: Some(JobState::Pending) });
    /// assert_eq!(events[1].kind, EventKind::Final { job: JobId(2), state: None });
    /// ```
    pub fn record_final_states(
        &self,
        queue: &dyn Scheduler,
        jobs: impl IntoIterator<Item = JobId>,
    ) {
        let mut recorder = self.recorder();
        for job in jobs {
            let state = queue.state(job).ok();
            recorder.record(EventKind::Final { job, state });
        }
    }
}

/// One thread's buffer of events for an [`EventLog`]: numbering is global
/// and immediate, appending is deferred to [`flush`](Recorder::flush) or drop.
///
/// ```
/// use harness::audit::{EventKind, EventLog};
/// use dagqueue::{JobId, JobState};
/// let log = EventLog::new();
/// let mut recorder = log.recorder();
/// recorder.record(EventKind::Final { job: JobId(1), state: Some(JobState::Failed) });
/// recorder.flush();
/// assert_eq!(log.len(), 1);
/// ```
#[derive(Debug)]
pub struct Recorder<'a> {
    log: &'a EventLog,
    buffer: Vec<Event>,
}

impl Recorder<'_> {
    /// Takes the next global sequence number (see [`EventLog::tick`]).
    ///
    /// ```
    /// use harness::audit::EventLog;
    /// let log = EventLog::new();
    /// let recorder = log.recorder();
    /// let a = recorder.tick();
    /// assert!(log.tick() > a);
    /// ```
    pub fn tick(&self) -> u64 {
        self.log.tick()
    }

    /// Numbers an event now and buffers it; returns its sequence number.
    ///
    /// ```
    /// use harness::audit::{EventKind, EventLog};
    /// use dagqueue::JobId;
    /// let log = EventLog::new();
    /// let mut recorder = log.recorder();
    /// let a = recorder.record(EventKind::Final { job: JobId(1), state: None });
    /// let b = recorder.record(EventKind::Final { job: JobId(2), state: None });
    /// assert!(a < b);
    /// ```
    pub fn record(&mut self, kind: EventKind) -> u64 {
        let seq = self.log.tick();
        self.buffer.push(Event { seq, kind });
        seq
    }

    /// Appends the buffered events to the log.
    ///
    /// ```
    /// use harness::audit::{EventKind, EventLog};
    /// use dagqueue::JobId;
    /// let log = EventLog::new();
    /// let mut recorder = log.recorder();
    /// recorder.record(EventKind::Final { job: JobId(1), state: None });
    /// recorder.flush();
    /// assert_eq!(log.len(), 1);
    /// ```
    pub fn flush(&mut self) {
        if !self.buffer.is_empty() {
            self.log.events.lock().append(&mut self.buffer);
        }
    }
}

impl Drop for Recorder<'_> {
    fn drop(&mut self) {
        self.flush();
    }
}

/// What [`verify`] needs to know of the run: each job's dependencies and
/// cluster, and each cluster's capacity (fixed for the whole run; a cluster
/// without one is not checked for capacity).
///
/// ```
/// use harness::audit::DagInfo;
/// use dagqueue::{ClusterId, JobId, JobSpec};
/// let a = JobSpec::new(JobId(1));
/// let b = JobSpec::new(JobId(2)).depends_on([JobId(1)]).cluster(ClusterId(0));
/// let mut dag = DagInfo::from_specs([&a, &b]);
/// dag.set_capacity(ClusterId(0), 2);
/// assert_eq!(dag.len(), 2);
/// assert_eq!(dag.node(JobId(2)).unwrap().dependencies, vec![JobId(1)]);
/// assert_eq!(dag.capacity(ClusterId(0)), Some(2));
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DagInfo {
    jobs: BTreeMap<JobId, JobNode>,
    capacities: BTreeMap<ClusterId, u32>,
}

/// One job of a [`DagInfo`].
///
/// ```
/// use harness::audit::JobNode;
/// use dagqueue::{ClusterId, JobId};
/// let node = JobNode { dependencies: vec![JobId(1)], cluster: Some(ClusterId(0)) };
/// assert_eq!(node.cluster, Some(ClusterId(0)));
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct JobNode {
    /// The jobs it depends on.
    pub dependencies: Vec<JobId>,
    /// Its cluster.
    pub cluster: Option<ClusterId>,
}

impl DagInfo {
    /// An empty DAG.
    ///
    /// ```
    /// use harness::audit::DagInfo;
    /// assert!(DagInfo::new().is_empty());
    /// ```
    pub fn new() -> DagInfo {
        DagInfo::default()
    }

    /// The DAG of these job specifications.
    ///
    /// ```
    /// use harness::audit::DagInfo;
    /// use dagqueue::{JobId, JobSpec};
    /// let specs = vec![JobSpec::new(JobId(1)), JobSpec::new(JobId(2))];
    /// assert_eq!(DagInfo::from_specs(&specs).len(), 2);
    /// ```
    pub fn from_specs<'a>(specs: impl IntoIterator<Item = &'a JobSpec>) -> DagInfo {
        let mut dag = DagInfo::new();
        for spec in specs {
            dag.add_job(spec);
        }
        dag
    }

    /// Adds (or replaces) a job, from its specification.
    ///
    /// ```
    /// use harness::audit::DagInfo;
    /// use dagqueue::{JobId, JobSpec};
    /// let mut dag = DagInfo::new();
    /// dag.add_job(&JobSpec::new(JobId(5)));
    /// assert!(dag.node(JobId(5)).is_some());
    /// ```
    pub fn add_job(&mut self, spec: &JobSpec) {
        self.jobs.insert(
            spec.id(),
            JobNode {
                dependencies: spec.dependencies().to_vec(),
                cluster: spec.get_cluster(),
            },
        );
    }

    /// Sets a cluster's capacity.
    ///
    /// ```
    /// use harness::audit::DagInfo;
    /// use dagqueue::ClusterId;
    /// let mut dag = DagInfo::new();
    /// dag.set_capacity(ClusterId(1), 3);
    /// assert_eq!(dag.capacity(ClusterId(1)), Some(3));
    /// ```
    pub fn set_capacity(&mut self, cluster: ClusterId, capacity: u32) {
        self.capacities.insert(cluster, capacity);
    }

    /// A cluster's capacity, if set.
    ///
    /// ```
    /// use harness::audit::DagInfo;
    /// use dagqueue::ClusterId;
    /// assert_eq!(DagInfo::new().capacity(ClusterId(1)), None);
    /// ```
    pub fn capacity(&self, cluster: ClusterId) -> Option<u32> {
        self.capacities.get(&cluster).copied()
    }

    /// A job's node, if known.
    ///
    /// ```
    /// use harness::audit::DagInfo;
    /// use dagqueue::JobId;
    /// assert!(DagInfo::new().node(JobId(1)).is_none());
    /// ```
    pub fn node(&self, job: JobId) -> Option<&JobNode> {
        self.jobs.get(&job)
    }

    /// The jobs, in id order.
    ///
    /// ```
    /// use harness::audit::DagInfo;
    /// use dagqueue::{JobId, JobSpec};
    /// let dag = DagInfo::from_specs(&[JobSpec::new(JobId(2)), JobSpec::new(JobId(1))]);
    /// assert_eq!(dag.jobs().collect::<Vec<_>>(), [JobId(1), JobId(2)]);
    /// ```
    pub fn jobs(&self) -> impl Iterator<Item = JobId> + '_ {
        self.jobs.keys().copied()
    }

    /// The number of jobs.
    ///
    /// ```
    /// use harness::audit::DagInfo;
    /// assert_eq!(DagInfo::new().len(), 0);
    /// ```
    pub fn len(&self) -> usize {
        self.jobs.len()
    }

    /// Whether there is no job.
    ///
    /// ```
    /// use harness::audit::DagInfo;
    /// assert!(DagInfo::new().is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.jobs.is_empty()
    }
}

/// Something the log proves went wrong. `seq` is the sequence number of the
/// event where it shows.
///
/// ```
/// use harness::audit::Violation;
/// use dagqueue::JobId;
/// let v = Violation::Lost { job: JobId(1), state: None };
/// assert!(matches!(v, Violation::Lost { .. }));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Violation {
    /// An event names a job that the DAG does not know.
    UnknownJob {
        /// The event.
        seq: u64,
        /// The job.
        job: JobId,
    },
    /// A claim's recorded cluster differs from the job's cluster in the DAG.
    WrongCluster {
        /// The event.
        seq: u64,
        /// The claim.
        claim: Claim,
        /// The cluster the DAG gives the job.
        expected: Option<ClusterId>,
        /// The cluster recorded.
        found: Option<ClusterId>,
    },
    /// An attempt was handed out twice, or an attempt number not above an
    /// earlier attempt of the job.
    DoubleClaim {
        /// The event.
        seq: u64,
        /// The claim.
        claim: Claim,
    },
    /// A job was claimed again while an earlier claim of it was still held.
    OverlappingAttempts {
        /// The event.
        seq: u64,
        /// The new claim.
        claim: Claim,
        /// The claim still held.
        held: Claim,
    },
    /// More claims were held on a cluster than its capacity. `running` is the
    /// replayed count, which is never above the true one.
    CapacityExceeded {
        /// The event.
        seq: u64,
        /// The cluster.
        cluster: ClusterId,
        /// Claims held at that point of the replay.
        running: u32,
        /// Its capacity.
        capacity: u32,
    },
    /// A job was claimed before one of its dependencies completed (its
    /// completion was reported only later, or never).
    DependencyNotCompleted {
        /// The event.
        seq: u64,
        /// The claim.
        claim: Claim,
        /// The dependency.
        dependency: JobId,
    },
    /// A claim began after a pause of its cluster returned and ended before
    /// any resume could have taken effect.
    ClaimWhilePaused {
        /// The event.
        seq: u64,
        /// The claim.
        claim: Claim,
        /// The cluster.
        cluster: ClusterId,
    },
    /// A start, release or report names a claim that was not held.
    NotHeld {
        /// The event.
        seq: u64,
        /// The claim.
        claim: Claim,
    },
    /// The queue rejected an operation that should have succeeded: a start
    /// (other than for a requested cancellation), a report of a held claim,
    /// or a cancel (other than of a finished job).
    Rejected {
        /// The event.
        seq: u64,
        /// The job.
        job: JobId,
        /// The error returned.
        error: Error,
    },
    /// A job reached a terminal state twice.
    DoubleTermination {
        /// The job.
        job: JobId,
        /// The first event that finished it.
        first_seq: u64,
        /// The second.
        second_seq: u64,
    },
    /// The final state differs from the terminal state the log saw the job
    /// reach (`observed: None`: completed without any completion report).
    FinalStateMismatch {
        /// The job.
        job: JobId,
        /// What the log saw.
        observed: Option<JobState>,
        /// Its final state.
        final_state: JobState,
    },
    /// A job ended failed or cancelled with no cause in the log: no failed
    /// report or cancel of its own, no dependency that ended so.
    UnexplainedTermination {
        /// The job.
        job: JobId,
        /// Its final state.
        state: JobState,
    },
    /// A job of the DAG is not terminal at the end (`state: None`: the queue
    /// does not know it).
    Lost {
        /// The job.
        job: JobId,
        /// Its final state.
        state: Option<JobState>,
    },
    /// No [`EventKind::Final`] was recorded for a job of the DAG.
    MissingFinalState {
        /// The job.
        job: JobId,
    },
}

/// What a clean log showed.
///
/// ```
/// use harness::audit::{verify, DagInfo};
/// let report = verify(&[], &DagInfo::new()).unwrap();
/// assert_eq!(report.claims, 0);
/// assert!(report.peak_running.is_empty());
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AuditReport {
    /// Events replayed.
    pub events: usize,
    /// Claims handed out.
    pub claims: usize,
    /// Reports that re-queued the job for another attempt.
    pub retries: usize,
    /// Jobs that ended `Completed`.
    pub completed: usize,
    /// Jobs that ended `Failed`.
    pub failed: usize,
    /// Jobs that ended `Cancelled`.
    pub cancelled: usize,
    /// Claims per job (jobs never claimed are absent).
    pub attempts: BTreeMap<JobId, u32>,
    /// The most claims the replay saw held at once on each cluster.
    pub peak_running: BTreeMap<ClusterId, u32>,
}

/// Replays `events` (in sequence order, whatever their order in the slice)
/// against `dag` and returns every violation it proves, or the report.
///
/// Checked: every event names a job of the DAG; each attempt is handed out
/// once, with increasing numbers, never while an earlier one is held; no
/// cluster holds more claims than its capacity; no job is claimed before all
/// its dependencies completed; no claim happens while its cluster is surely
/// paused; starts, releases and reports name held claims and are accepted;
/// each job finishes at most once, consistently with its final state, and
/// only for a cause in the log; every job of the DAG is terminal at the end.
///
/// ```
/// use harness::audit::{verify, DagInfo, EventKind, Violation};
/// use harness::audit::Event;
/// use dagqueue::{JobId, JobSpec, JobState};
/// let dag = DagInfo::from_specs(&[JobSpec::new(JobId(1))]);
/// let log = [Event { seq: 0, kind: EventKind::Final { job: JobId(1), state: Some(JobState::Pending) } }];
/// assert_eq!(
///     verify(&log, &dag),
///     Err(vec![Violation::Lost { job: JobId(1), state: Some(JobState::Pending) }])
/// );
/// ```
///
/// # Errors
/// Every [`Violation`] found, in the order of the events that show them,
/// then the end-of-run checks in job order.
pub fn verify(events: &[Event], dag: &DagInfo) -> Result<AuditReport, Vec<Violation>> {
    let mut events: Vec<&Event> = events.iter().collect();
    events.sort_by_key(|event| event.seq);
    let index = Index::build(&events);
    let mut replay = Replay::default();

    for event in &events {
        replay.step(event, dag, &index);
    }
    replay.finish(dag, &index);

    if replay.violations.is_empty() {
        Ok(AuditReport {
            events: events.len(),
            claims: replay.claims,
            retries: replay.retries,
            completed: replay.finished[0],
            failed: replay.finished[1],
            cancelled: replay.finished[2],
            attempts: replay.attempts,
            peak_running: replay.peak,
        })
    } else {
        Err(replay.violations)
    }
}

/// What the replay needs to know ahead of the events: a first pass.
#[derive(Default)]
struct Index {
    /// Release sequence of each claim (the first, if repeated).
    released: HashMap<Claim, u64>,
    /// For each completed job, the release sequence of the attempt whose
    /// report completed it (the earliest, if several did).
    completed: HashMap<JobId, u64>,
    /// Jobs whose `cancel` returned `Requested`.
    cancel_requested: HashSet<JobId>,
    /// Per cluster, the sequence windows `(after, before)` in which it was
    /// surely paused: a claim with `began > after` and `seq < before` broke
    /// the pause.
    paused: HashMap<ClusterId, Vec<(u64, u64)>>,
    /// Final states.
    finals: HashMap<JobId, Option<JobState>>,
}

impl Index {
    fn build(events: &[&Event]) -> Index {
        let mut index = Index::default();
        let mut pauses: HashMap<ClusterId, Vec<(u64, u64)>> = HashMap::new();
        let mut resumes: HashMap<ClusterId, Vec<(u64, u64)>> = HashMap::new();
        for event in events {
            match &event.kind {
                EventKind::Released { claim, .. } => {
                    index.released.entry(claim.clone()).or_insert(event.seq);
                }
                EventKind::Reported {
                    claim,
                    result: Ok(Completion::Completed),
                    ..
                } => {
                    // A report without a release is flagged `NotHeld`; for
                    // the dependency check it counts from the beginning, so
                    // that it proves nothing it should not.
                    let released = index.released.get(claim).copied().unwrap_or(0);
                    let entry = index.completed.entry(claim.job()).or_insert(released);
                    *entry = (*entry).min(released);
                }
                EventKind::CancelCalled {
                    job,
                    result: Ok(CancelOutcome::Requested),
                } => {
                    index.cancel_requested.insert(*job);
                }
                EventKind::Paused { cluster, began } => {
                    pauses
                        .entry(*cluster)
                        .or_default()
                        .push((*began, event.seq));
                }
                EventKind::Resumed { cluster, began } => {
                    resumes
                        .entry(*cluster)
                        .or_default()
                        .push((*began, event.seq));
                }
                EventKind::Final { job, state } => {
                    index.finals.insert(*job, *state);
                }
                _ => {}
            }
        }
        // A pause (began, ended) surely holds from `ended` until the first
        // resume that might take effect after it: any resume that did not
        // end before the pause began.
        for (cluster, pauses) in pauses {
            let resumes = resumes.remove(&cluster).unwrap_or_default();
            let windows = pauses
                .into_iter()
                .map(|(began, ended)| {
                    let until = resumes
                        .iter()
                        .filter(|(_, resume_ended)| *resume_ended > began)
                        .map(|(resume_began, _)| *resume_began)
                        .min()
                        .unwrap_or(u64::MAX);
                    (ended, until)
                })
                .filter(|(after, before)| after < before)
                .collect();
            index.paused.insert(cluster, windows);
        }
        index
    }
}

/// The second pass: replays the events in order.
#[derive(Default)]
struct Replay {
    violations: Vec<Violation>,
    /// The claim each job holds now.
    held: HashMap<JobId, Claim>,
    /// The highest attempt handed out per job.
    last_attempt: HashMap<JobId, u32>,
    attempts: BTreeMap<JobId, u32>,
    running: HashMap<ClusterId, u32>,
    peak: BTreeMap<ClusterId, u32>,
    /// The first event that finished each job, and the state it finished in.
    terminated: HashMap<JobId, (u64, JobState)>,
    claims: usize,
    retries: usize,
    /// Final Completed, Failed, Cancelled.
    finished: [usize; 3],
}

impl Replay {
    fn step(&mut self, event: &Event, dag: &DagInfo, index: &Index) {
        let seq = event.seq;
        let job = event.kind.job();
        let node = match &event.kind {
            EventKind::Paused { .. } | EventKind::Resumed { .. } => None,
            _ => match dag.node(job) {
                Some(node) => Some(node),
                None => {
                    self.violations.push(Violation::UnknownJob { seq, job });
                    return;
                }
            },
        };
        match &event.kind {
            EventKind::Claimed {
                claim,
                cluster,
                began,
            } => {
                let node = node.expect("job events have a node");
                self.claimed(seq, claim.clone(), *cluster, *began, node, dag, index);
            }
            EventKind::Started { claim, result } => {
                if self.held.get(&job) != Some(claim) {
                    self.violations.push(Violation::NotHeld {
                        seq,
                        claim: claim.clone(),
                    });
                }
                match result {
                    Ok(()) => {}
                    Err(Error::CancelRequested(j))
                        if *j == job && index.cancel_requested.contains(&job) => {}
                    Err(error) => self.violations.push(Violation::Rejected {
                        seq,
                        job,
                        error: error.clone(),
                    }),
                }
            }
            EventKind::Released { claim, .. } => {
                if self.held.get(&job) == Some(claim) {
                    self.held.remove(&job);
                    let cluster = node.and_then(|node| node.cluster);
                    if let Some(cluster) = cluster {
                        let running = self.running.entry(cluster).or_default();
                        *running = running.saturating_sub(1);
                    }
                } else {
                    self.violations.push(Violation::NotHeld {
                        seq,
                        claim: claim.clone(),
                    });
                }
            }
            EventKind::Reported { claim, result, .. } => {
                let released_before = matches!(index.released.get(claim), Some(r) if *r < seq);
                if !released_before {
                    self.violations.push(Violation::NotHeld {
                        seq,
                        claim: claim.clone(),
                    });
                }
                match result {
                    Ok(Completion::Retrying) => self.retries += 1,
                    Ok(Completion::Completed) => self.terminate(job, JobState::Completed, seq),
                    Ok(Completion::Failed) => self.terminate(job, JobState::Failed, seq),
                    Ok(Completion::Cancelled) => {
                        if !index.cancel_requested.contains(&job) {
                            self.violations.push(Violation::UnexplainedTermination {
                                job,
                                state: JobState::Cancelled,
                            });
                        }
                        self.terminate(job, JobState::Cancelled, seq);
                    }
                    Err(error) => self.violations.push(Violation::Rejected {
                        seq,
                        job,
                        error: error.clone(),
                    }),
                }
            }
            EventKind::CancelCalled { result, .. } => match result {
                Ok(CancelOutcome::Cancelled) => self.terminate(job, JobState::Cancelled, seq),
                Ok(CancelOutcome::Requested) | Err(Error::AlreadyFinished { .. }) => {}
                Err(error) => self.violations.push(Violation::Rejected {
                    seq,
                    job,
                    error: error.clone(),
                }),
            },
            EventKind::Paused { .. } | EventKind::Resumed { .. } | EventKind::Final { .. } => {}
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn claimed(
        &mut self,
        seq: u64,
        claim: Claim,
        recorded_cluster: Option<ClusterId>,
        began: u64,
        node: &JobNode,
        dag: &DagInfo,
        index: &Index,
    ) {
        let job = claim.job();
        self.claims += 1;
        *self.attempts.entry(job).or_default() += 1;
        if recorded_cluster != node.cluster {
            self.violations.push(Violation::WrongCluster {
                seq,
                claim: claim.clone(),
                expected: node.cluster,
                found: recorded_cluster,
            });
        }
        let last = self.last_attempt.entry(job).or_default();
        if claim.attempt() <= *last {
            self.violations.push(Violation::DoubleClaim {
                seq,
                claim: claim.clone(),
            });
        }
        *last = (*last).max(claim.attempt());
        if let Some(held) = self.held.insert(job, claim.clone()) {
            self.violations.push(Violation::OverlappingAttempts {
                seq,
                claim: claim.clone(),
                held,
            });
        }
        for &dependency in &node.dependencies {
            let completed_before = index
                .completed
                .get(&dependency)
                .is_some_and(|released| *released < seq);
            if !completed_before {
                self.violations.push(Violation::DependencyNotCompleted {
                    seq,
                    claim: claim.clone(),
                    dependency,
                });
            }
        }
        let Some(cluster) = node.cluster else {
            return;
        };
        let windows = index.paused.get(&cluster).map(Vec::as_slice);
        if windows
            .unwrap_or_default()
            .iter()
            .any(|&(after, before)| after < began && seq < before)
        {
            self.violations.push(Violation::ClaimWhilePaused {
                seq,
                claim: claim.clone(),
                cluster,
            });
        }
        let running = self.running.entry(cluster).or_default();
        *running += 1;
        let running = *running;
        let peak = self.peak.entry(cluster).or_default();
        *peak = (*peak).max(running);
        if let Some(capacity) = dag.capacity(cluster) {
            if running > capacity {
                self.violations.push(Violation::CapacityExceeded {
                    seq,
                    cluster,
                    running,
                    capacity,
                });
            }
        }
    }

    fn terminate(&mut self, job: JobId, state: JobState, seq: u64) {
        match self.terminated.get(&job) {
            Some(&(first_seq, _)) => self.violations.push(Violation::DoubleTermination {
                job,
                first_seq,
                second_seq: seq,
            }),
            None => {
                self.terminated.insert(job, (seq, state));
            }
        }
    }

    fn finish(&mut self, dag: &DagInfo, index: &Index) {
        for (job, node) in &dag.jobs {
            let job = *job;
            let state = match index.finals.get(&job) {
                None => {
                    self.violations.push(Violation::MissingFinalState { job });
                    continue;
                }
                Some(Some(state)) if state.is_terminal() => *state,
                Some(state) => {
                    self.violations.push(Violation::Lost { job, state: *state });
                    continue;
                }
            };
            match state {
                JobState::Completed => self.finished[0] += 1,
                JobState::Failed => self.finished[1] += 1,
                _ => self.finished[2] += 1,
            }
            match self.terminated.get(&job) {
                Some(&(_, observed)) if observed != state => {
                    self.violations.push(Violation::FinalStateMismatch {
                        job,
                        observed: Some(observed),
                        final_state: state,
                    });
                }
                Some(_) => {}
                None if state == JobState::Completed => {
                    self.violations.push(Violation::FinalStateMismatch {
                        job,
                        observed: None,
                        final_state: state,
                    });
                }
                None => {
                    // Finished by the cascade: some dependency ended the same way.
                    let caused = node
                        .dependencies
                        .iter()
                        .any(|dependency| index.finals.get(dependency) == Some(&Some(state)));
                    if !caused {
                        self.violations
                            .push(Violation::UnexplainedTermination { job, state });
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const C: ClusterId = ClusterId(0);

    fn claim(job: u64, attempt: u32) -> Claim {
        Claim::from_parts(JobId(job), 1, attempt)
    }

    /// Builds a log by hand: events and ticks take consecutive numbers.
    #[derive(Default)]
    struct Script {
        events: Vec<Event>,
        next: u64,
    }

    impl Script {
        fn tick(&mut self) -> u64 {
            self.next += 1;
            self.next - 1
        }
        fn push(&mut self, kind: EventKind) -> u64 {
            let seq = self.tick();
            self.events.push(Event { seq, kind });
            seq
        }
        fn claimed(&mut self, c: Claim, cluster: Option<ClusterId>) {
            let began = self.tick();
            self.push(EventKind::Claimed {
                claim: c.clone(),
                cluster,
                began,
            });
        }
        fn report(&mut self, c: Claim, cluster: Option<ClusterId>, result: Completion) {
            self.push(EventKind::Released {
                claim: c.clone(),
                cluster,
            });
            let outcome = if result == Completion::Completed {
                Outcome::Success
            } else {
                Outcome::Failure
            };
            self.push(EventKind::Reported {
                claim: c.clone(),
                outcome,
                result: Ok(result),
            });
        }
        fn run(&mut self, c: Claim, cluster: Option<ClusterId>, result: Completion) {
            self.claimed(c.clone(), cluster);
            self.push(EventKind::Started {
                claim: c.clone(),
                result: Ok(()),
            });
            self.report(c, cluster, result);
        }
        fn finals(&mut self, states: &[(u64, JobState)]) {
            for &(job, state) in states {
                self.push(EventKind::Final {
                    job: JobId(job),
                    state: Some(state),
                });
            }
        }
    }

    /// Job 1 and 2 on cluster 0 (capacity 1), job 3 depends on both.
    fn dag() -> DagInfo {
        let mut dag = DagInfo::from_specs(&[
            JobSpec::new(JobId(1)).cluster(C),
            JobSpec::new(JobId(2)).cluster(C),
            JobSpec::new(JobId(3)).depends_on([JobId(1), JobId(2)]),
        ]);
        dag.set_capacity(C, 1);
        dag
    }

    fn clean() -> Script {
        let mut s = Script::default();
        s.run(claim(1, 1), Some(C), Completion::Completed);
        s.run(claim(2, 1), Some(C), Completion::Retrying);
        s.run(claim(2, 2), Some(C), Completion::Completed);
        s.run(claim(3, 1), None, Completion::Completed);
        s.finals(&[
            (1, JobState::Completed),
            (2, JobState::Completed),
            (3, JobState::Completed),
        ]);
        s
    }

    #[test]
    fn a_clean_log_passes_with_exact_counts() {
        let report = verify(&clean().events, &dag()).unwrap();
        assert_eq!(report.claims, 4);
        assert_eq!(report.retries, 1);
        assert_eq!(
            (report.completed, report.failed, report.cancelled),
            (3, 0, 0)
        );
        assert_eq!(report.attempts[&JobId(2)], 2);
        assert_eq!(report.peak_running[&C], 1);
    }

    #[test]
    fn order_of_the_slice_does_not_matter() {
        let mut log = clean().events;
        log.reverse();
        assert!(verify(&log, &dag()).is_ok());
    }

    #[test]
    fn double_completion_is_reported() {
        let mut s = clean();
        // A second, accepted completion report of job 1's attempt.
        let second = s.push(EventKind::Reported {
            claim: claim(1, 1),
            outcome: Outcome::Success,
            result: Ok(Completion::Completed),
        });
        let violations = verify(&s.events, &dag()).unwrap_err();
        assert!(
            violations.iter().any(|v| matches!(
                v,
                Violation::DoubleTermination { job: JobId(1), second_seq, .. } if *second_seq == second
            )),
            "{violations:?}"
        );
    }

    #[test]
    fn capacity_exceeded_is_reported() {
        let mut s = Script::default();
        s.claimed(claim(1, 1), Some(C));
        s.claimed(claim(2, 1), Some(C)); // capacity 1, job 1 still held
        s.report(claim(1, 1), Some(C), Completion::Completed);
        s.report(claim(2, 1), Some(C), Completion::Completed);
        s.run(claim(3, 1), None, Completion::Completed);
        s.finals(&[
            (1, JobState::Completed),
            (2, JobState::Completed),
            (3, JobState::Completed),
        ]);
        let violations = verify(&s.events, &dag()).unwrap_err();
        assert_eq!(
            violations,
            vec![Violation::CapacityExceeded {
                seq: 3,
                cluster: C,
                running: 2,
                capacity: 1
            }]
        );
    }

    #[test]
    fn a_release_before_the_next_claim_keeps_within_capacity() {
        // Claim 2 recorded after claim 1's release: fine even though the
        // report comes later.
        let mut s = Script::default();
        s.claimed(claim(1, 1), Some(C));
        s.push(EventKind::Released {
            claim: claim(1, 1),
            cluster: Some(C),
        });
        s.claimed(claim(2, 1), Some(C));
        s.push(EventKind::Reported {
            claim: claim(1, 1),
            outcome: Outcome::Success,
            result: Ok(Completion::Completed),
        });
        s.report(claim(2, 1), Some(C), Completion::Completed);
        s.run(claim(3, 1), None, Completion::Completed);
        s.finals(&[
            (1, JobState::Completed),
            (2, JobState::Completed),
            (3, JobState::Completed),
        ]);
        assert!(verify(&s.events, &dag()).is_ok());
    }

    #[test]
    fn dependency_order_violation_is_reported() {
        let mut s = Script::default();
        s.run(claim(1, 1), Some(C), Completion::Completed);
        s.claimed(claim(3, 1), None); // job 2 not completed yet
        s.run(claim(2, 1), Some(C), Completion::Completed);
        s.report(claim(3, 1), None, Completion::Completed);
        s.finals(&[
            (1, JobState::Completed),
            (2, JobState::Completed),
            (3, JobState::Completed),
        ]);
        let violations = verify(&s.events, &dag()).unwrap_err();
        assert_eq!(
            violations,
            vec![Violation::DependencyNotCompleted {
                seq: 6,
                claim: claim(3, 1),
                dependency: JobId(2)
            }]
        );
    }

    #[test]
    fn claiming_a_dependent_of_a_failed_job_is_reported() {
        let mut s = Script::default();
        s.run(claim(1, 1), Some(C), Completion::Completed);
        s.run(claim(2, 1), Some(C), Completion::Failed);
        s.run(claim(3, 1), None, Completion::Completed);
        s.finals(&[
            (1, JobState::Completed),
            (2, JobState::Failed),
            (3, JobState::Completed),
        ]);
        let violations = verify(&s.events, &dag()).unwrap_err();
        assert!(violations.contains(&Violation::DependencyNotCompleted {
            seq: 11,
            claim: claim(3, 1),
            dependency: JobId(2)
        }));
    }

    #[test]
    fn lost_jobs_are_reported() {
        let mut s = Script::default();
        s.run(claim(1, 1), Some(C), Completion::Completed);
        s.claimed(claim(2, 1), Some(C)); // never reported
        s.finals(&[(1, JobState::Completed), (2, JobState::Scheduled)]);
        s.push(EventKind::Final {
            job: JobId(3),
            state: None,
        });
        let violations = verify(&s.events, &dag()).unwrap_err();
        assert_eq!(
            violations,
            vec![
                Violation::Lost {
                    job: JobId(2),
                    state: Some(JobState::Scheduled)
                },
                Violation::Lost {
                    job: JobId(3),
                    state: None
                },
            ]
        );
        // And a job with no final state at all.
        s.events.pop();
        let violations = verify(&s.events, &dag()).unwrap_err();
        assert!(violations.contains(&Violation::MissingFinalState { job: JobId(3) }));
    }

    #[test]
    fn double_claim_and_overlapping_attempts_are_reported() {
        let mut s = Script::default();
        s.claimed(claim(3, 1), None);
        s.claimed(claim(3, 1), None);
        let dag = DagInfo::from_specs(&[JobSpec::new(JobId(3))]);
        let violations = verify(&s.events, &dag).unwrap_err();
        assert!(violations.contains(&Violation::DoubleClaim {
            seq: 3,
            claim: claim(3, 1)
        }));
        assert!(violations.contains(&Violation::OverlappingAttempts {
            seq: 3,
            claim: claim(3, 1),
            held: claim(3, 1)
        }));
    }

    #[test]
    fn claim_while_surely_paused_is_reported_but_not_a_racing_one() {
        let dag = DagInfo::from_specs(&[
            JobSpec::new(JobId(1)).cluster(C),
            JobSpec::new(JobId(2)).cluster(C),
        ]);
        // Pause returns, then a claim begins and ends, then resume is called.
        let mut s = Script::default();
        let began = s.tick();
        s.push(EventKind::Paused { cluster: C, began });
        s.run(claim(1, 1), Some(C), Completion::Completed);
        let began = s.tick();
        s.push(EventKind::Resumed { cluster: C, began });
        s.run(claim(2, 1), Some(C), Completion::Completed);
        s.finals(&[(1, JobState::Completed), (2, JobState::Completed)]);
        let violations = verify(&s.events, &dag).unwrap_err();
        assert_eq!(
            violations,
            vec![Violation::ClaimWhilePaused {
                seq: 3,
                claim: claim(1, 1),
                cluster: C
            }]
        );

        // A resume that overlaps the pause may have taken effect after it:
        // nothing is proven.
        let mut s = Script::default();
        let resume_began = s.tick();
        let began = s.tick();
        s.push(EventKind::Paused { cluster: C, began });
        s.push(EventKind::Resumed {
            cluster: C,
            began: resume_began,
        });
        s.run(claim(1, 1), Some(C), Completion::Completed);
        s.run(claim(2, 1), Some(C), Completion::Completed);
        s.finals(&[(1, JobState::Completed), (2, JobState::Completed)]);
        assert!(verify(&s.events, &dag).is_ok());

        // A claim that began before the pause returned proves nothing either.
        let mut s = Script::default();
        let began = s.tick();
        let claim_began = s.tick();
        s.push(EventKind::Paused { cluster: C, began });
        s.push(EventKind::Claimed {
            claim: claim(1, 1),
            cluster: Some(C),
            began: claim_began,
        });
        s.report(claim(1, 1), Some(C), Completion::Completed);
        s.run(claim(2, 1), Some(C), Completion::Completed);
        s.finals(&[(1, JobState::Completed), (2, JobState::Completed)]);
        let violations = verify(&s.events, &dag).unwrap_err();
        assert_eq!(
            violations,
            vec![Violation::ClaimWhilePaused {
                seq: 7,
                claim: claim(2, 1),
                cluster: C
            }]
        );
    }

    #[test]
    fn final_state_and_cascade_are_checked() {
        let mut s = Script::default();
        s.run(claim(1, 1), Some(C), Completion::Completed);
        s.run(claim(2, 1), Some(C), Completion::Completed);
        // Job 1, reported Completed, ends Failed; job 3 ends Cancelled with
        // no cause (no cancel, no cancelled dependency).
        s.finals(&[
            (1, JobState::Failed),
            (2, JobState::Completed),
            (3, JobState::Cancelled),
        ]);
        let violations = verify(&s.events, &dag()).unwrap_err();
        assert_eq!(
            violations,
            vec![
                Violation::FinalStateMismatch {
                    job: JobId(1),
                    observed: Some(JobState::Completed),
                    final_state: JobState::Failed
                },
                Violation::UnexplainedTermination {
                    job: JobId(3),
                    state: JobState::Cancelled
                },
            ]
        );

        // Job 2 failing explains job 3's failure; job 1 completed by nobody.
        let mut s = Script::default();
        s.run(claim(2, 1), Some(C), Completion::Failed);
        s.finals(&[
            (1, JobState::Completed),
            (2, JobState::Failed),
            (3, JobState::Failed),
        ]);
        let violations = verify(&s.events, &dag()).unwrap_err();
        assert_eq!(
            violations,
            vec![Violation::FinalStateMismatch {
                job: JobId(1),
                observed: None,
                final_state: JobState::Completed
            }]
        );
    }

    #[test]
    fn rejections_and_unheld_claims_are_reported() {
        let dag = DagInfo::from_specs(&[JobSpec::new(JobId(1)), JobSpec::new(JobId(2))]);
        let mut s = Script::default();
        s.claimed(claim(1, 1), None);
        s.push(EventKind::Started {
            claim: claim(1, 1),
            result: Err(Error::CancelRequested(JobId(1))), // never requested
        });
        s.push(EventKind::Released {
            claim: claim(1, 1),
            cluster: None,
        });
        s.push(EventKind::Reported {
            claim: claim(1, 1),
            outcome: Outcome::Success,
            result: Err(Error::StaleClaim {
                job: JobId(1),
                attempt: 1,
            }),
        });
        s.push(EventKind::Released {
            claim: claim(2, 1),
            cluster: None,
        });
        s.push(EventKind::CancelCalled {
            job: JobId(2),
            result: Ok(CancelOutcome::Cancelled),
        });
        s.push(EventKind::Final {
            job: JobId(1),
            state: Some(JobState::Cancelled),
        });
        s.push(EventKind::Final {
            job: JobId(2),
            state: Some(JobState::Cancelled),
        });
        s.push(EventKind::Final {
            job: JobId(9),
            state: None,
        });
        let violations = verify(&s.events, &dag).unwrap_err();
        assert_eq!(
            violations,
            vec![
                Violation::Rejected {
                    seq: 2,
                    job: JobId(1),
                    error: Error::CancelRequested(JobId(1))
                },
                Violation::Rejected {
                    seq: 4,
                    job: JobId(1),
                    error: Error::StaleClaim {
                        job: JobId(1),
                        attempt: 1
                    }
                },
                Violation::NotHeld {
                    seq: 5,
                    claim: claim(2, 1)
                },
                Violation::UnknownJob {
                    seq: 9,
                    job: JobId(9)
                },
                Violation::UnexplainedTermination {
                    job: JobId(1),
                    state: JobState::Cancelled
                },
            ]
        );
    }

    #[test]
    fn a_log_recorded_by_threads_is_in_sequence_order() {
        let log = EventLog::new();
        std::thread::scope(|s| {
            for t in 0..4u64 {
                let log = &log;
                s.spawn(move || {
                    let mut recorder = log.recorder();
                    for i in 0..100 {
                        recorder.record(EventKind::Final {
                            job: JobId(t * 1000 + i),
                            state: None,
                        });
                    }
                });
            }
        });
        let events = log.events();
        assert_eq!(events.len(), 400);
        let seqs: Vec<u64> = events.iter().map(|e| e.seq).collect();
        assert_eq!(seqs, (0..400).collect::<Vec<_>>());
    }
}
