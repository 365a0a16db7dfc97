//! Opening a store: what it holds, checked and turned back into a queue
//! (docs/DURABILITY.md, "Recovery semantics").
//!
//! Clusters first (capacities, pauses, resources), then every job in a
//! topological order of the stored edges (record order among jobs ready
//! together), through [`JobQueue::restore`]. Any row that does not decode,
//! a job missing one of its rows, an edge to no job, a cycle, or a job the
//! queue refuses is an error naming it: never a smaller queue.

use super::codec::{ClusterRow, EdgesRow, SpecRow, StateRow, FORMAT_VERSION};
use super::journal::{NumberMap, Stored};
use super::store::{
    Changes, DurabilityError, DurabilityErrorKind, Store, Table, META_NEXT_RECORD, META_VERSION,
};
use super::DurablePayload;
use crate::error::Error;
use crate::job::Job;
use crate::queue::restore::{Restored, RestoredJob};
use crate::queue::JobQueue;
use crate::spec::DependencyKind;
use crate::view::JobState;
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// What the committer starts from.
pub(crate) struct Recovered<T> {
    pub(crate) next_record: u64,
    pub(crate) records: NumberMap<u64>,
    pub(crate) stored: NumberMap<Stored<T>>,
    /// Jobs whose stored state the recovery changed (claimed at the crash):
    /// written again at once.
    pub(crate) rewrite: Vec<u64>,
}

/// Wall-clock microseconds since the Unix epoch (0 before it).
pub(crate) fn unix_micros() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_micros() as u64)
}

fn corrupt(detail: String) -> Error {
    Error::Durability(DurabilityError::new(DurabilityErrorKind::Corrupt, detail))
}

/// Every row of `table`, decoded by `decode`, in key order.
fn read_table<S: Store, R>(
    store: &S,
    table: Table,
    decode: impl Fn(&[u8]) -> Result<R, super::codec::DecodeError>,
) -> Result<Vec<(u64, R)>, Error> {
    let mut rows = Vec::new();
    store.scan(table, &mut |key, bytes| {
        let row =
            decode(bytes).map_err(|error| DurabilityError::corrupt_row(table, key, &error))?;
        debug_assert!(
            rows.last().is_none_or(|(last, _)| *last < key),
            "a scan in key order"
        );
        rows.push((key, row));
        Ok(())
    })?;
    Ok(rows)
}

/// Kahn's algorithm over `dependencies` (each job's dependencies, as
/// indices), smallest index first among jobs ready together; `None` if
/// the edges hold a cycle.
fn topological_order(dependencies: &[Vec<(usize, DependencyKind)>]) -> Option<Vec<usize>> {
    let n = dependencies.len();
    let mut waiting: Vec<usize> = dependencies.iter().map(Vec::len).collect();
    // Each job's dependents, flattened (CSR).
    let mut starts = vec![0usize; n + 1];
    for list in dependencies {
        for &(dependency, _) in list {
            starts[dependency + 1] += 1;
        }
    }
    for i in 0..n {
        starts[i + 1] += starts[i];
    }
    let mut fill = starts.clone();
    let mut dependents = vec![0usize; starts[n]];
    for (job, list) in dependencies.iter().enumerate() {
        for &(dependency, _) in list {
            dependents[fill[dependency]] = job;
            fill[dependency] += 1;
        }
    }
    let mut ready: BinaryHeap<Reverse<usize>> = (0..n)
        .filter(|&job| waiting[job] == 0)
        .map(Reverse)
        .collect();
    let mut order = Vec::with_capacity(n);
    while let Some(Reverse(job)) = ready.pop() {
        order.push(job);
        for &dependent in &dependents[starts[job]..starts[job + 1]] {
            waiting[dependent] -= 1;
            if waiting[dependent] == 0 {
                ready.push(Reverse(dependent));
            }
        }
    }
    (order.len() == n).then_some(order)
}

/// Reads the meta rows: the next record number, after checking the format
/// version (a new store gets its version written here).
fn read_meta<S: Store>(store: &mut S) -> Result<u64, Error> {
    let meta: HashMap<u64, Vec<u8>> = read_table(store, Table::Meta, |bytes| Ok(bytes.to_vec()))?
        .into_iter()
        .collect();
    let word = |key: u64| -> Result<Option<u64>, Error> {
        match meta.get(&key) {
            None => Ok(None),
            Some(bytes) => match <[u8; 8]>::try_from(bytes.as_slice()) {
                Ok(bytes) => Ok(Some(u64::from_le_bytes(bytes))),
                Err(_) => Err(corrupt(format!("table meta, key {key}: not 8 bytes"))),
            },
        }
    };
    match word(META_VERSION)? {
        None if store.is_marked() => Err(corrupt(
            "the store has lost its contents: no format version (table meta, key 0)".into(),
        )),
        None => {
            let mut any = false;
            for table in [Table::Specs, Table::States, Table::Edges, Table::Clusters] {
                store.scan(table, &mut |_, _| {
                    any = true;
                    Ok(())
                })?;
            }
            if any {
                return Err(Error::Durability(DurabilityError::new(
                    DurabilityErrorKind::Missing,
                    "rows without the store's format version (table meta, key 0)",
                )));
            }
            let mut changes = Changes::default();
            changes.put(
                Table::Meta,
                META_VERSION,
                u64::from(FORMAT_VERSION).to_le_bytes().to_vec(),
            );
            changes.put(Table::Meta, META_NEXT_RECORD, 0u64.to_le_bytes().to_vec());
            store.commit(changes, true)?;
            store.mark()?;
            Ok(0)
        }
        Some(version) if version > u64::from(FORMAT_VERSION) => {
            Err(Error::Durability(DurabilityError::new(
                DurabilityErrorKind::NewerFormat,
                format!("format version {version}; this build reads up to {FORMAT_VERSION}"),
            )))
        }
        Some(0) => Err(corrupt("table meta, key 0: format version 0".into())),
        Some(_) if !store.is_marked() => Err(Error::Durability(DurabilityError::new(
            DurabilityErrorKind::Missing,
            "the store's marker file (DAGQUEUE) is missing",
        ))),
        Some(_) => Ok(word(META_NEXT_RECORD)?.unwrap_or(0)),
    }
}

/// Restores what `store` holds into `queue` (new, used by no other thread).
pub(crate) fn recover<T: DurablePayload, S: Store>(
    queue: &JobQueue<T>,
    store: &mut S,
) -> Result<Recovered<T>, Error> {
    let mut next_record = read_meta(store)?;

    for (key, row) in read_table(store, Table::Clusters, ClusterRow::decode)? {
        let refused = |error: Error| corrupt(format!("table clusters, key {key}: {error}"));
        queue
            .set_cluster_capacity(row.cluster, row.capacity)
            .map_err(refused)?;
        if let Some(resources) = row.resources {
            queue
                .set_cluster_resources(row.cluster, resources)
                .map_err(refused)?;
        }
        if row.paused {
            queue.pause_cluster(row.cluster).map_err(refused)?;
        }
    }

    // Rows come in key order: the three job tables must name the same
    // records, so row i of each is record `keys[i]`.
    let specs = read_table(store, Table::Specs, SpecRow::<T>::decode)?;
    let states = read_table(store, Table::States, StateRow::decode)?;
    let edges = read_table(store, Table::Edges, EdgesRow::decode)?;
    let keys: Vec<u64> = specs.iter().map(|(key, _)| *key).collect();
    for (table, rows) in [
        (
            Table::States,
            states.iter().map(|(key, _)| *key).collect::<Vec<_>>(),
        ),
        (Table::Edges, edges.iter().map(|(key, _)| *key).collect()),
    ] {
        if rows != keys {
            let at = keys.iter().zip(&rows).position(|(a, b)| a != b);
            let detail = match at.map(|at| (keys[at], rows[at])) {
                Some((spec, row)) if row < spec => {
                    format!("table {}, key {row}: no spec row for it", table.name())
                }
                Some((spec, _)) => format!("record {spec}: no row in table {}", table.name()),
                None if rows.len() > keys.len() => format!(
                    "table {}, key {}: no spec row for it",
                    table.name(),
                    rows[keys.len()]
                ),
                None => format!(
                    "record {}: no row in table {}",
                    keys[rows.len()],
                    table.name()
                ),
            };
            return Err(corrupt(detail));
        }
    }
    if let Some(&last) = keys.last() {
        next_record = next_record.max(last + 1);
    }
    let n = keys.len();
    let index_of = |record: u64| keys.binary_search(&record).ok();

    // Each job's dependencies as indices; a dependency with no rows is
    // corruption.
    let mut dependencies: Vec<Vec<(usize, DependencyKind)>> = Vec::with_capacity(n);
    let mut in_order = true;
    for (at, (key, row)) in edges.iter().enumerate() {
        let mut list = Vec::with_capacity(row.edges.len());
        for &(dependency, kind) in &row.edges {
            let Some(index) = index_of(dependency) else {
                return Err(corrupt(format!(
                    "table edges, key {key}: names record {dependency}, which has no rows"
                )));
            };
            in_order &= index < at;
            list.push((index, kind));
        }
        dependencies.push(list);
    }
    // Record order is topological unless a dependency was added later or a
    // batch named its jobs out of order; then a topological order of the
    // edges, record order among jobs ready together.
    let order: Vec<usize> = if in_order {
        (0..n).collect()
    } else {
        topological_order(&dependencies).ok_or_else(|| {
            corrupt("table edges: a dependency cycle among the stored jobs".into())
        })?
    };
    let mut position = vec![0usize; n];
    for (at, &index) in order.iter().enumerate() {
        position[index] = at;
    }

    let now = unix_micros();
    let mut specs: Vec<Option<SpecRow<T>>> = specs.into_iter().map(|(_, row)| Some(row)).collect();
    let mut jobs = Vec::with_capacity(n);
    for &index in &order {
        let SpecRow { spec, not_before } = specs[index].take().expect("each record once");
        let state = &states[index].1;
        let mut spec = spec.priority(state.priority);
        let restored = match (&state.end, state.pruned) {
            (Some(end), true) => Restored::Pruned(end.clone()),
            (Some(end), false) => Restored::Ended(end.clone()),
            (None, _) if state.state.is_claimed() => Restored::Claimed {
                cancel_requested: state.cancel_requested,
            },
            (None, _) => {
                // What remains of its first delay, or of a retry's backoff.
                let until = if state.attempt > 0 {
                    state.retry_at
                } else {
                    not_before
                };
                let remaining = until.map_or(0, |at| at.saturating_sub(now));
                if remaining > 0 && state.state == JobState::Waiting {
                    spec = spec.delay(Duration::from_micros(remaining));
                }
                Restored::Queued
            }
        };
        jobs.push(RestoredJob {
            spec,
            dependencies: dependencies[index]
                .iter()
                .map(|&(dependency, kind)| (position[dependency], kind))
                .collect(),
            attempt: state.attempt,
            state: restored,
        });
    }
    let restored: Vec<Arc<Job<T>>> = queue
        .restore(jobs)
        .map_err(|error| corrupt(format!("the stored jobs do not make a queue: {error:?}")))?;

    let rewrite = (0..n)
        .filter(|&index| {
            let state = &states[index].1;
            state.end.is_none() && state.state.is_claimed()
        })
        .map(|index| keys[index])
        .collect();
    let mut named_by = vec![0u32; n];
    for list in &dependencies {
        for &(dependency, _) in list {
            named_by[dependency] += 1;
        }
    }
    let mut records = NumberMap::default();
    records.reserve(n);
    let mut stored = NumberMap::default();
    stored.reserve(n);
    for (record, &index) in restored.into_iter().zip(&order) {
        let key = keys[index];
        records.insert(record.incarnation, key);
        let state = &states[index].1;
        stored.insert(
            key,
            Stored {
                record,
                written: Some(state.state),
                pruned: state.pruned,
                dependencies: dependencies[index].iter().map(|&(d, _)| keys[d]).collect(),
                named_by: named_by[index],
            },
        );
    }
    Ok(Recovered {
        next_record,
        records,
        stored,
        rewrite,
    })
}
