//! Opening a store: what it holds, checked and turned back into a queue
//! (docs/DURABILITY.md, "Recovery semantics").
//!
//! Clusters first (capacities, pauses, resources), then every job in a
//! topological order of the stored edges (record order among jobs ready
//! together), through [`JobQueue::restore`]. Any row that does not decode,
//! a job missing one of its rows, an edge to no job, a cycle, or a job the
//! queue refuses is an error naming it: never a smaller queue.

use super::codec::{ClusterRow, EdgesRow, SpecRow, StateRow, FORMAT_VERSION};
use super::journal::Stored;
use super::store::{
    Changes, DurabilityError, DurabilityErrorKind, Store, Table, META_NEXT_RECORD, META_VERSION,
};
use super::DurablePayload;
use crate::error::Error;
use crate::job::Job;
use crate::queue::restore::{Restored, RestoredJob};
use crate::queue::JobQueue;
use crate::view::JobState;
use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, HashMap};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// What the committer starts from.
pub(crate) struct Recovered<T> {
    pub(crate) next_record: u64,
    pub(crate) records: HashMap<u64, u64>,
    pub(crate) stored: HashMap<u64, Stored<T>>,
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

/// Every row of `table`, decoded by `decode`, by key.
fn read_table<S: Store, R>(
    store: &S,
    table: Table,
    decode: impl Fn(&[u8]) -> Result<R, super::codec::DecodeError>,
) -> Result<BTreeMap<u64, R>, Error> {
    let mut rows = BTreeMap::new();
    store.scan(table, &mut |key, bytes| {
        let row =
            decode(bytes).map_err(|error| DurabilityError::corrupt_row(table, key, &error))?;
        rows.insert(key, row);
        Ok(())
    })?;
    Ok(rows)
}

/// Reads the meta rows: the next record number, after checking the format
/// version (a new store gets its version written here).
fn read_meta<S: Store>(store: &mut S) -> Result<u64, Error> {
    let meta = read_table(store, Table::Meta, |bytes| Ok(bytes.to_vec()))?;
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

    let mut specs = read_table(store, Table::Specs, SpecRow::<T>::decode)?;
    let states = read_table(store, Table::States, StateRow::decode)?;
    let edges = read_table(store, Table::Edges, EdgesRow::decode)?;
    for (table, keys) in [
        (Table::States, states.keys().collect::<Vec<_>>()),
        (Table::Edges, edges.keys().collect()),
    ] {
        if let Some(key) = keys.into_iter().find(|key| !specs.contains_key(key)) {
            return Err(corrupt(format!(
                "table {}, key {key}: no spec row for it",
                table.name()
            )));
        }
    }
    for &key in specs.keys() {
        for (table, present) in [
            (Table::States, states.contains_key(&key)),
            (Table::Edges, edges.contains_key(&key)),
        ] {
            if !present {
                return Err(corrupt(format!(
                    "record {key}: no row in table {}",
                    table.name()
                )));
            }
        }
        next_record = next_record.max(key + 1);
    }

    // A topological order of the edges; record order among ready jobs.
    let mut waiting: HashMap<u64, usize> = HashMap::with_capacity(specs.len());
    let mut dependents: HashMap<u64, Vec<u64>> = HashMap::new();
    for (&key, row) in &edges {
        for &(dependency, _) in &row.edges {
            if !specs.contains_key(&dependency) {
                return Err(corrupt(format!(
                    "table edges, key {key}: names record {dependency}, which has no rows"
                )));
            }
            dependents.entry(dependency).or_default().push(key);
        }
        waiting.insert(key, row.edges.len());
    }
    let mut ready: BinaryHeap<Reverse<u64>> = waiting
        .iter()
        .filter(|(_, &count)| count == 0)
        .map(|(&key, _)| Reverse(key))
        .collect();
    let mut order = Vec::with_capacity(specs.len());
    while let Some(Reverse(key)) = ready.pop() {
        order.push(key);
        for dependent in dependents.get(&key).into_iter().flatten() {
            let count = waiting.get_mut(dependent).expect("every record waits");
            *count -= 1;
            if *count == 0 {
                ready.push(Reverse(*dependent));
            }
        }
    }
    if order.len() != specs.len() {
        let stuck = waiting
            .iter()
            .filter(|(_, &count)| count > 0)
            .map(|(&key, _)| key)
            .min()
            .unwrap_or(0);
        return Err(corrupt(format!(
            "table edges: a dependency cycle through record {stuck}"
        )));
    }

    let position: HashMap<u64, usize> = order
        .iter()
        .enumerate()
        .map(|(at, &key)| (key, at))
        .collect();
    let now = unix_micros();
    let mut jobs = Vec::with_capacity(order.len());
    for &key in &order {
        let SpecRow { spec, not_before } = specs.remove(&key).expect("checked above");
        let state = &states[&key];
        let mut spec = spec.priority(state.priority);
        let restored = match (&state.end, state.pruned) {
            (Some(end), true) => Restored::Pruned(end.clone()),
            (Some(end), false) => Restored::Ended(end.clone()),
            (None, _) if state.state.is_claimed() => Restored::Claimed {
                cancel_requested: state.cancel_requested,
            },
            (None, _) => {
                let remaining = not_before.map_or(0, |at| at.saturating_sub(now));
                if remaining > 0 && state.state == JobState::Waiting {
                    spec = spec.delay(Duration::from_micros(remaining));
                }
                Restored::Queued
            }
        };
        jobs.push(RestoredJob {
            spec,
            dependencies: edges[&key]
                .edges
                .iter()
                .map(|&(dependency, kind)| (position[&dependency], kind))
                .collect(),
            attempt: state.attempt,
            state: restored,
        });
    }
    let restored: Vec<Arc<Job<T>>> = queue
        .restore(jobs)
        .map_err(|error| corrupt(format!("the stored jobs do not make a queue: {error:?}")))?;

    let rewrite = order
        .iter()
        .copied()
        .filter(|key| states[key].end.is_none() && states[key].state.is_claimed())
        .collect();
    let mut records = HashMap::with_capacity(order.len());
    let mut stored: HashMap<u64, Stored<T>> = HashMap::with_capacity(order.len());
    for (&key, record) in order.iter().zip(restored) {
        records.insert(record.incarnation, key);
        let state = &states[&key];
        stored.insert(
            key,
            Stored {
                record,
                written: Some(state.state),
                pruned: state.pruned,
                dependencies: edges[&key].edges.iter().map(|&(d, _)| d).collect(),
                named_by: 0,
            },
        );
    }
    for row in edges.values() {
        for (dependency, _) in &row.edges {
            if let Some(named) = stored.get_mut(dependency) {
                named.named_by += 1;
            }
        }
    }
    Ok(Recovered {
        next_record,
        records,
        stored,
        rewrite,
    })
}
