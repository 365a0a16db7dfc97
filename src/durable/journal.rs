//! The committer: one thread per durable queue, the store's only writer,
//! and group commit (docs/DURABILITY.md, "Group commit" and "Cross-job
//! consistency").
//!
//! An operation applies itself to the in-memory queue first, then sends a
//! [`Request`] of [`Mark`]s (which jobs or clusters it changed) and, if it
//! must be durable, waits on the request's [`Done`]. The committer takes
//! every request pending, writes the **current** state of each job marked
//! (a later state than the operation left includes its effect), commits
//! them in one transaction, syncs once, then completes every request of
//! the batch: concurrent callers share one sync.
//!
//! Two rules keep what is on disk a state the queue really passed through:
//! * *closure*: a job written past `Waiting` has its dependencies written
//!   too unless they are stored terminal (in memory they are terminal, and
//!   terminal is final, so their current state is the one to write);
//! * *order*: a request naming a job whose submit has not reached the
//!   committer yet (its submitter was preempted between publishing and
//!   sending) waits, deferred, until it has.
//!
//! A pruned job's rows are deleted, unless a stored job names it: then its
//! state row stays as a tombstone (`pruned`), deleted when the last job
//! naming it is. A deleted job's record is kept (`gone`) while anything
//! else holds it: an operation that acted on it before the pruning may
//! still send its mark (its record says what it is), which is then
//! dropped (the pruning wrote the job's final state).

use super::codec::{ClusterRow, EdgesRow, StateRow};
use super::store::{Changes, Store, Table, META_NEXT_RECORD};
use crate::error::Error;
use crate::ids::ClusterId;
use crate::ids::IdHasher;
use crate::job::Job;
use crate::queue::JobQueue;
use crate::view::{JobState, JobView};
use parking_lot::{Condvar, Mutex};
use std::collections::{HashMap, HashSet};
use std::hash::BuildHasherDefault;
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// When the committer syncs.
///
/// ```
/// use dagqueue::SyncPolicy;
/// use std::time::Duration;
/// assert_eq!(SyncPolicy::default(), SyncPolicy::Always);
/// let relaxed = SyncPolicy::Every(Duration::from_millis(100));
/// assert_ne!(relaxed, SyncPolicy::Always);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SyncPolicy {
    /// Every operation that must be durable returns once its commit is
    /// synced; concurrent operations share one sync (group commit).
    #[default]
    Always,
    /// Operations return without waiting for the disk; the committer
    /// commits what gathered and syncs once per interval (Redis's
    /// `appendfsync everysec`). A crash loses at most the operations of
    /// the last interval and of the sync in flight: up to about twice the
    /// interval. `DurableQueue::sync` waits for everything so far.
    Every(Duration),
}

/// What an operation changed, for the committer to write.
pub(crate) enum Mark<T> {
    /// A job submitted: its record and its encoded spec row.
    Submitted { record: Arc<Job<T>>, spec: Vec<u8> },
    /// A job's state changed; `edges`: it has new dependencies.
    Changed { record: Arc<Job<T>>, edges: bool },
    /// Jobs pruned: each one's last view (details included) and record.
    Pruned(Vec<(JobView, Arc<Job<T>>)>),
    /// A cluster's capacity, pause or resources changed.
    Cluster(ClusterId),
}

/// One operation's marks, and how it waits (`None`: it does not).
pub(crate) struct Request<T> {
    pub(crate) marks: Marks<T>,
    pub(crate) done: Option<Arc<Done>>,
}

/// A request's marks: most operations change one job, and need no `Vec`.
pub(crate) enum Marks<T> {
    One(Mark<T>),
    Many(Vec<Mark<T>>),
}

impl<T> Marks<T> {
    fn iter(&self) -> std::slice::Iter<'_, Mark<T>> {
        match self {
            Marks::One(mark) => std::slice::from_ref(mark).iter(),
            Marks::Many(marks) => marks.iter(),
        }
    }
}

/// What the committer's thread receives.
pub(crate) enum Message<T> {
    Request(Request<T>),
    /// Sync everything so far, then complete this.
    Sync(Arc<Done>),
    /// Sync, give the space of deleted rows back, then complete this.
    Compact(Arc<Done>),
    /// Commit and sync what is pending, then stop.
    Stop,
}

/// A waiting operation's completion: set once by the committer.
#[derive(Default)]
pub(crate) struct Done {
    result: Mutex<Option<Result<(), Error>>>,
    set: Condvar,
}

impl Done {
    pub(crate) fn new() -> Arc<Done> {
        Arc::new(Done::default())
    }

    fn complete(&self, result: Result<(), Error>) {
        *self.result.lock() = Some(result);
        self.set.notify_all();
    }

    /// Waits until the committer completed it.
    pub(crate) fn wait(&self) -> Result<(), Error> {
        let mut result = self.result.lock();
        loop {
            if let Some(result) = result.as_ref() {
                return result.clone();
            }
            self.set.wait(&mut result);
        }
    }
}

/// A map keyed by record number or incarnation, hashed with one multiply
/// ([`IdHasher`]): the committer's maps hold every stored job.
pub(crate) type NumberMap<V> = HashMap<u64, V, BuildHasherDefault<IdHasher>>;

/// What the committer knows of a stored job.
pub(crate) struct Stored<T> {
    pub(crate) record: Arc<Job<T>>,
    /// The state last written (`None`: no state row yet).
    pub(crate) written: Option<JobState>,
    /// Its state row is a tombstone.
    pub(crate) pruned: bool,
    /// The record numbers its edges row names.
    pub(crate) dependencies: Vec<u64>,
    /// How many stored jobs name it.
    pub(crate) named_by: u32,
}

/// The committer's state: the store and what it knows of every stored job.
pub(crate) struct Committer<T, S> {
    pub(crate) queue: Arc<JobQueue<T>>,
    pub(crate) store: S,
    pub(crate) policy: SyncPolicy,
    /// The next record number to draw.
    pub(crate) next_record: u64,
    /// Record number of each stored record, by incarnation.
    pub(crate) records: NumberMap<u64>,
    /// Each stored job, by record number.
    pub(crate) stored: NumberMap<Stored<T>>,
    /// Requests waiting for a job's submit to arrive, in arrival order.
    pub(crate) deferred: Vec<Request<T>>,
    /// Deleted records, by incarnation, until nothing else holds them.
    pub(crate) gone: NumberMap<Arc<Job<T>>>,
    /// Syncs asked for while requests sent before them were deferred.
    pub(crate) waiting_syncs: Vec<Arc<Done>>,
    /// Jobs whose state this batch has written already: every operation
    /// of the batch happened before the batch was taken, so the first write
    /// (made after) holds them all; a second would write the same row.
    pub(crate) written_now: HashSet<u64, BuildHasherDefault<IdHasher>>,
    /// Set at the first failed commit or sync.
    pub(crate) failure: Arc<super::Shared>,
}

impl<T, S> Committer<T, S>
where
    T: Send + Sync + 'static,
    S: Store,
{
    /// Writes the current state of `jobs` (those recovery changed) in one
    /// synced commit.
    pub(crate) fn rewrite(&mut self, jobs: &[u64]) -> Result<(), Error> {
        if jobs.is_empty() {
            return Ok(());
        }
        let mut changes = Changes::default();
        for &number in jobs {
            self.write_state(number, &mut changes);
        }
        self.store.commit(changes, true).map_err(Error::from)
    }

    /// The committer's loop, until `Stop` or every sender is gone.
    pub(crate) fn run(mut self, receiver: Receiver<Message<T>>) {
        let mut last_sync = Instant::now();
        let mut failed: Option<Error> = None;
        loop {
            let first = match self.policy {
                SyncPolicy::Always => receiver.recv().ok(),
                SyncPolicy::Every(interval) => {
                    let wait = interval.saturating_sub(last_sync.elapsed());
                    match receiver.recv_timeout(wait) {
                        Ok(message) => Some(message),
                        Err(RecvTimeoutError::Timeout) => {
                            self.sync_now(&mut failed, &mut last_sync);
                            continue;
                        }
                        Err(RecvTimeoutError::Disconnected) => None,
                    }
                }
            };
            let Some(first) = first else {
                self.sync_now(&mut failed, &mut last_sync);
                return;
            };
            let mut batch = vec![first];
            batch.extend(receiver.try_iter());
            let stop = batch.iter().any(|m| matches!(m, Message::Stop));
            let mut requests = std::mem::take(&mut self.deferred);
            // Syncs wait for the requests sent before them, deferred ones too.
            let mut syncs = std::mem::take(&mut self.waiting_syncs);
            let mut compactions = Vec::new();
            for message in batch {
                match message {
                    Message::Request(request) => requests.push(request),
                    Message::Sync(done) => syncs.push(done),
                    Message::Compact(done) => compactions.push(done),
                    Message::Stop => {}
                }
            }
            // Should this batch panic (a bug), its callers get an error
            // instead of waiting for ever, and so does every later one.
            let dones: Vec<Arc<Done>> = requests
                .iter()
                .filter_map(|request| request.done.clone())
                .chain(syncs.iter().cloned())
                .chain(compactions.iter().cloned())
                .collect();
            let batch = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                self.commit_batch(
                    requests,
                    syncs,
                    compactions,
                    stop,
                    &mut failed,
                    &mut last_sync,
                )
            }));
            if batch.is_err() {
                let error = Error::Durability(super::store::DurabilityError::new(
                    super::store::DurabilityErrorKind::Io,
                    "the committer panicked",
                ));
                self.failure.set(error.clone());
                failed = Some(error.clone());
                self.deferred.clear();
                for done in dones.into_iter().chain(self.waiting_syncs.drain(..)) {
                    done.complete(Err(error.clone()));
                }
            }
            // A record only this map holds can be named by no mark any more.
            self.gone.retain(|_, record| Arc::strong_count(record) > 1);
            if stop {
                return;
            }
        }
    }

    /// Applies `requests` (to a fixpoint; what still waits is deferred),
    /// commits, and completes what was applied, the syncs and the
    /// compactions.
    fn commit_batch(
        &mut self,
        mut requests: Vec<Request<T>>,
        mut syncs: Vec<Arc<Done>>,
        compactions: Vec<Arc<Done>>,
        stop: bool,
        failed: &mut Option<Error>,
        last_sync: &mut Instant,
    ) {
        let mut changes = Changes::default();
        let mut applied = Vec::new();
        self.written_now.clear();
        if failed.is_some() {
            applied = requests;
        } else {
            // Until nothing more can be applied: a request may wait for
            // a submit later in the same batch.
            loop {
                let before = requests.len();
                let mut waiting = Vec::new();
                for request in requests {
                    if self.ready(&request) {
                        self.apply(&request, &mut changes);
                        applied.push(request);
                    } else {
                        waiting.push(request);
                    }
                }
                requests = waiting;
                if requests.is_empty() || requests.len() == before {
                    break;
                }
            }
            self.deferred = requests;
        }
        if !self.deferred.is_empty() {
            self.waiting_syncs.append(&mut syncs);
        }
        let result = match &failed {
            Some(error) => Err(error.clone()),
            None => {
                changes.put(
                    Table::Meta,
                    META_NEXT_RECORD,
                    self.next_record.to_le_bytes().to_vec(),
                );
                let sync = self.policy == SyncPolicy::Always
                    || !syncs.is_empty()
                    || !compactions.is_empty()
                    || stop;
                let committed = self.store.commit(changes, sync).map_err(Error::from);
                if sync {
                    *last_sync = Instant::now();
                }
                if committed.is_ok() {
                    self.failure.committed(sync);
                }
                if let Err(error) = &committed {
                    *failed = Some(error.clone());
                    self.failure.set(error.clone());
                }
                committed
            }
        };
        for request in applied {
            if let Some(done) = request.done {
                done.complete(result.clone());
            }
        }
        for done in syncs {
            done.complete(result.clone());
        }
        if !compactions.is_empty() {
            let compacted = result.and_then(|()| self.store.compact().map_err(Error::from));
            if let Err(error) = &compacted {
                self.failure.set(error.clone());
                failed.get_or_insert(error.clone());
            }
            for done in compactions {
                done.complete(compacted.clone());
            }
        }
    }

    fn sync_now(&mut self, failed: &mut Option<Error>, last_sync: &mut Instant) {
        if failed.is_none() {
            if let Err(error) = self.store.sync() {
                let error = Error::from(error);
                self.failure.set(error.clone());
                *failed = Some(error);
            }
        }
        *last_sync = Instant::now();
    }

    /// Whether every job `request` names is known (stored, or submitted by
    /// the request itself), and every dependency of the jobs it submits.
    fn ready(&self, request: &Request<T>) -> bool {
        let submitted: HashSet<u64> = request
            .marks
            .iter()
            .filter_map(|mark| match mark {
                Mark::Submitted { record, .. } => Some(record.incarnation),
                _ => None,
            })
            .collect();
        let known = |incarnation: u64| {
            self.records.contains_key(&incarnation)
                || self.gone.contains_key(&incarnation)
                || submitted.contains(&incarnation)
        };
        let edges_known = |record: &Job<T>| {
            record
                .dependency_list()
                .iter()
                .all(|edge| known(edge.incarnation()))
        };
        request.marks.iter().all(|mark| match mark {
            Mark::Submitted { record, .. } => edges_known(record),
            Mark::Changed { record, edges } => {
                known(record.incarnation) && (!edges || edges_known(record))
            }
            Mark::Pruned(pruned) => pruned.iter().all(|(_, record)| known(record.incarnation)),
            Mark::Cluster(_) => true,
        })
    }

    /// Writes what `request` changed into `changes`: first a record number
    /// for each job it submits (a batch's jobs may name each other in any
    /// order), then each mark in order.
    fn apply(&mut self, request: &Request<T>, changes: &mut Changes) {
        for mark in request.marks.iter() {
            if let Mark::Submitted { record, spec } = mark {
                let number = self.next_record;
                self.next_record += 1;
                self.records.insert(record.incarnation, number);
                self.stored.insert(
                    number,
                    Stored {
                        record: Arc::clone(record),
                        written: None,
                        pruned: false,
                        dependencies: Vec::new(),
                        named_by: 0,
                    },
                );
                changes.put(Table::Specs, number, spec.clone());
            }
        }
        for mark in request.marks.iter() {
            self.apply_mark(mark, changes);
        }
    }

    fn apply_mark(&mut self, mark: &Mark<T>, changes: &mut Changes) {
        match mark {
            Mark::Submitted { record, .. } => {
                let number = self.records[&record.incarnation];
                self.write_edges(number, changes);
                self.write_state(number, changes);
            }
            Mark::Changed { record, edges } => {
                // Not stored any more: pruned since, and its final state
                // written then.
                let Some(&number) = self.records.get(&record.incarnation) else {
                    return;
                };
                if *edges {
                    self.write_edges(number, changes);
                }
                if !self.written_now.contains(&number) {
                    self.write_state(number, changes);
                }
            }
            Mark::Pruned(pruned) => {
                for (view, record) in pruned {
                    if let Some(&number) = self.records.get(&record.incarnation) {
                        self.prune(number, view, changes);
                    }
                }
            }
            Mark::Cluster(cluster) => {
                if let Some(status) = self.queue.status().clusters.get(cluster) {
                    let row = ClusterRow {
                        cluster: *cluster,
                        capacity: status.capacity,
                        paused: status.paused,
                        resources: status.resources,
                    };
                    changes.put(Table::Clusters, u64::from(cluster.0), row.encode());
                }
            }
        }
    }

    /// Writes job `number`'s edges row from its record's current list,
    /// counting each new dependency as named by it. A dependency whose rows
    /// are gone (it had ended and was pruned before this edge reached the
    /// committer) is left out: the edge changed nothing but this job's own
    /// state, which its state row holds.
    fn write_edges(&mut self, number: u64, changes: &mut Changes) {
        let record = Arc::clone(&self.stored[&number].record);
        let edges: Vec<(u64, crate::spec::DependencyKind)> = record
            .dependency_list()
            .iter()
            .filter_map(|edge| {
                let dependency = self.records.get(&edge.incarnation())?;
                Some((*dependency, edge.kind()))
            })
            .collect();
        let old: HashSet<u64> = self.stored[&number].dependencies.iter().copied().collect();
        for &(dependency, _) in &edges {
            if !old.contains(&dependency) {
                if let Some(stored) = self.stored.get_mut(&dependency) {
                    stored.named_by += 1;
                }
            }
        }
        self.stored.get_mut(&number).expect("stored").dependencies =
            edges.iter().map(|&(dependency, _)| dependency).collect();
        changes.put(Table::Edges, number, EdgesRow { edges }.encode());
    }

    /// Writes job `number`'s current state, and (closure) the dependencies
    /// of every job written past `Waiting` that are not stored terminal.
    fn write_state(&mut self, number: u64, changes: &mut Changes) {
        let mut work = vec![number];
        while let Some(number) = work.pop() {
            let Some(stored) = self.stored.get_mut(&number) else {
                continue;
            };
            if stored.pruned {
                continue;
            }
            let Some(view) = self.queue.view_of(&stored.record) else {
                continue;
            };
            stored.written = Some(view.state);
            self.written_now.insert(number);
            let mut row = state_row(&view, false);
            if view.state == JobState::Waiting && view.attempt > 0 {
                // A retry waiting for its backoff keeps its due time.
                row.retry_at = self.queue.retry_wait(&stored.record).map(|wait| {
                    super::recover::unix_micros().saturating_add(wait.as_micros() as u64)
                });
            }
            changes.put(Table::States, number, row.encode());
            if view.state != JobState::Waiting {
                let stored = &self.stored[&number];
                for dependency in &stored.dependencies {
                    let written = self.stored.get(dependency).and_then(|d| d.written);
                    if !written.is_some_and(JobState::is_terminal) {
                        work.push(*dependency);
                    }
                }
            }
        }
    }

    /// Job `number` was pruned (`view`: its last view): its rows go, or
    /// stay as a tombstone while a stored job names it.
    fn prune(&mut self, number: u64, view: &JobView, changes: &mut Changes) {
        let Some(stored) = self.stored.get_mut(&number) else {
            return;
        };
        if stored.named_by > 0 {
            stored.pruned = true;
            stored.written = Some(view.state);
            changes.put(Table::States, number, state_row(view, true).encode());
            return;
        }
        let mut work = vec![number];
        while let Some(number) = work.pop() {
            let Some(stored) = self.stored.remove(&number) else {
                continue;
            };
            self.records.remove(&stored.record.incarnation);
            self.gone
                .insert(stored.record.incarnation, Arc::clone(&stored.record));
            for table in [Table::Specs, Table::States, Table::Edges] {
                changes.delete(table, number);
            }
            for dependency in stored.dependencies {
                if let Some(named) = self.stored.get_mut(&dependency) {
                    named.named_by -= 1;
                    if named.named_by == 0 && named.pruned {
                        work.push(dependency);
                    }
                }
            }
        }
    }
}

/// The state row of `view`.
pub(crate) fn state_row(view: &JobView, pruned: bool) -> StateRow {
    StateRow {
        state: view.state,
        pruned,
        priority: view.priority,
        attempt: view.attempt,
        cancel_requested: view.cancel_requested,
        end: view.end.clone(),
        retry_at: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::durable::codec::StateRow;
    use crate::durable::store::{DurabilityError, RowVisitor};
    use crate::ids::{JobId, RunnerType};
    use crate::spec::JobSpec;
    use crate::Outcome;
    use std::collections::BTreeMap;

    /// Rows in memory: what the committer's logic writes, with no disk;
    /// `panics`: its commits panic (a bug in the store or the committer).
    #[derive(Default)]
    struct MemStore(BTreeMap<(Table, u64), Vec<u8>>, bool);

    impl Store for MemStore {
        fn is_marked(&self) -> bool {
            true
        }
        fn mark(&mut self) -> Result<(), DurabilityError> {
            Ok(())
        }
        fn commit(&mut self, changes: Changes, _: bool) -> Result<(), DurabilityError> {
            assert!(!self.1, "injected");
            for (table, key, value) in changes.rows {
                match value {
                    Some(value) => self.0.insert((table, key), value),
                    None => self.0.remove(&(table, key)),
                };
            }
            Ok(())
        }
        fn sync(&mut self) -> Result<(), DurabilityError> {
            Ok(())
        }
        fn scan(&self, _: Table, _: &mut RowVisitor<'_>) -> Result<(), DurabilityError> {
            Ok(())
        }
        fn compact(&mut self) -> Result<(), DurabilityError> {
            Ok(())
        }
    }

    fn committer(queue: &Arc<JobQueue>) -> Committer<(), MemStore> {
        committer_on(queue, MemStore::default())
    }

    fn committer_on<S: Store>(queue: &Arc<JobQueue>, store: S) -> Committer<(), S> {
        Committer {
            queue: Arc::clone(queue),
            store,
            policy: SyncPolicy::Always,
            next_record: 0,
            records: NumberMap::default(),
            stored: NumberMap::default(),
            deferred: Vec::new(),
            gone: NumberMap::default(),
            waiting_syncs: Vec::new(),
            written_now: HashSet::default(),
            failure: Arc::default(),
        }
    }

    /// Applies `marks` as one request and commits, as one batch would.
    fn commit(committer: &mut Committer<(), MemStore>, marks: Vec<Mark<()>>) {
        let request = Request {
            marks: Marks::Many(marks),
            done: None,
        };
        assert!(committer.ready(&request));
        committer.written_now.clear();
        let mut changes = Changes::default();
        committer.apply(&request, &mut changes);
        committer.store.commit(changes, true).unwrap();
    }

    fn stored_state(committer: &Committer<(), MemStore>, number: u64) -> JobState {
        StateRow::decode(&committer.store.0[&(Table::States, number)])
            .unwrap()
            .state
    }

    fn submitted(queue: &JobQueue, spec: JobSpec) -> Mark<()> {
        Mark::Submitted {
            spec: Vec::new(),
            record: queue.submit_record(spec).unwrap(),
        }
    }

    #[test]
    fn a_job_written_past_waiting_brings_its_dependencies_ended() {
        let queue = Arc::new(JobQueue::new());
        let mut committer = committer(&queue);
        let p = submitted(&queue, JobSpec::new(JobId(1)));
        let d = submitted(&queue, JobSpec::new(JobId(2)).depends_on([JobId(1)]));
        commit(&mut committer, vec![p, d]);
        // P completes, but its completer is slow to send its mark; D runs
        // and its completion's mark arrives first.
        let claim = queue.claim(RunnerType::DEFAULT).unwrap();
        queue.complete(claim, Outcome::Success).unwrap();
        let claim = queue.claim(RunnerType::DEFAULT).unwrap();
        let record = Arc::clone(claim.record());
        queue.complete(claim, Outcome::Success).unwrap();
        commit(
            &mut committer,
            vec![Mark::Changed {
                record,
                edges: false,
            }],
        );
        assert_eq!(stored_state(&committer, 1), JobState::Completed);
        // The dependency too: never a completed job behind a running one.
        assert_eq!(stored_state(&committer, 0), JobState::Completed);
    }

    #[test]
    fn a_mark_for_a_job_not_yet_submitted_waits() {
        let queue = Arc::new(JobQueue::new());
        let committer = committer(&queue);
        let record = queue.submit_record(JobSpec::new(JobId(1))).unwrap();
        let early = Request {
            marks: Marks::One(Mark::Changed {
                record: Arc::clone(&record),
                edges: false,
            }),
            done: None,
        };
        assert!(!committer.ready(&early));
        // A submit naming it waits too.
        let named = Request {
            marks: Marks::One(submitted(
                &queue,
                JobSpec::new(JobId(2)).depends_on([JobId(1)]),
            )),
            done: None,
        };
        assert!(!committer.ready(&named));
    }

    #[test]
    fn a_pruned_job_stays_a_tombstone_while_named() {
        let queue = Arc::new(JobQueue::new());
        let mut committer = committer(&queue);
        let p = submitted(&queue, JobSpec::new(JobId(1)));
        let q = submitted(&queue, JobSpec::new(JobId(2)));
        let d = submitted(
            &queue,
            JobSpec::new(JobId(3)).depends_on([JobId(1), JobId(2)]),
        );
        commit(&mut committer, vec![p, q, d]);
        let claim = queue.claim(RunnerType::DEFAULT).unwrap();
        assert_eq!(claim.job(), JobId(1));
        let record = Arc::clone(claim.record());
        queue.complete(claim, Outcome::Success).unwrap();
        let mut pruned = Vec::new();
        queue.prune_each(|view, record| pruned.push((view, Arc::clone(record))));
        commit(
            &mut committer,
            vec![
                Mark::Changed {
                    record,
                    edges: false,
                },
                Mark::Pruned(pruned),
            ],
        );
        let tombstone = StateRow::decode(&committer.store.0[&(Table::States, 0)]).unwrap();
        assert!(tombstone.pruned);
        assert_eq!(tombstone.state, JobState::Completed);
        // D ends (cancelled), is pruned: the tombstone goes with it.
        queue.cancel(JobId(3)).unwrap();
        queue.cancel(JobId(2)).unwrap();
        let mut pruned = Vec::new();
        queue.prune_each(|view, record| pruned.push((view, Arc::clone(record))));
        assert_eq!(pruned.len(), 2);
        commit(&mut committer, vec![Mark::Pruned(pruned)]);
        assert!(
            committer.store.0.is_empty(),
            "{:?}",
            committer.store.0.keys()
        );
    }

    #[test]
    fn a_panicking_commit_answers_its_callers_and_every_later_one() {
        let queue = Arc::new(JobQueue::new());
        let committer = committer_on(&queue, MemStore(BTreeMap::new(), true));
        let failure = Arc::clone(&committer.failure);
        let (sender, receiver) = std::sync::mpsc::channel();
        let thread = std::thread::spawn(move || committer.run(receiver));
        let ask = |mark: Mark<()>| {
            let done = Done::new();
            let request = Request {
                marks: Marks::One(mark),
                done: Some(Arc::clone(&done)),
            };
            sender.send(Message::Request(request)).unwrap();
            done.wait()
        };
        let first = ask(submitted(&queue, JobSpec::new(JobId(1))));
        assert!(
            matches!(first, Err(crate::Error::Durability(_))),
            "{first:?}"
        );
        let later = ask(submitted(&queue, JobSpec::new(JobId(2))));
        assert_eq!(later, first);
        assert!(failure.check().is_err());
        sender.send(Message::Stop).unwrap();
        thread.join().unwrap();
    }
}
