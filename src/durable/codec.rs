//! The rows a durable queue stores, and their byte encodings
//! (docs/DURABILITY.md, "What is stored").
//!
//! Every row starts with the format version and ends with a CRC-32 of the
//! bytes before it, so that a row the store hands back but that does not
//! decode (a bug, a disk the store's own checksums did not cover, a file
//! written by a newer version) is reported with where it failed, never
//! decoded into something else. Integers are little-endian.

use crate::ids::{ClusterId, JobId, RunnerType, UserId};
use crate::spec::{DependencyKind, JobSpec, Priority, Resources, RetryBackoff};
use crate::view::{JobEnd, JobState};
use std::sync::Arc;
use std::time::Duration;

/// The format this build writes, and the newest it reads.
pub(crate) const FORMAT_VERSION: u8 = 1;

/// How a durable queue writes a job's payload to disk and reads it back.
///
/// Implemented for `()` (no payload: nothing written), `Vec<u8>` and
/// `String`; implement it for your own payload type (with the serde format
/// of your choice, for instance).
///
/// ```
/// use dagqueue::DurablePayload;
/// let mut bytes = Vec::new();
/// "render frame 7".to_string().encode(&mut bytes);
/// assert_eq!(String::decode(&bytes).as_deref(), Some("render frame 7"));
/// assert_eq!(String::decode(&[0xff]), None); // not UTF-8
/// ```
pub trait DurablePayload: Sized {
    /// Appends the payload's bytes to `out`.
    fn encode(&self, out: &mut Vec<u8>);
    /// The payload of `bytes` (what `encode` wrote), or `None` if they are
    /// not one: recovery then reports the job's row as corrupt.
    fn decode(bytes: &[u8]) -> Option<Self>;
}

impl DurablePayload for () {
    fn encode(&self, _: &mut Vec<u8>) {}
    fn decode(bytes: &[u8]) -> Option<()> {
        bytes.is_empty().then_some(())
    }
}

impl DurablePayload for Vec<u8> {
    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(self);
    }
    fn decode(bytes: &[u8]) -> Option<Vec<u8>> {
        Some(bytes.to_vec())
    }
}

impl DurablePayload for String {
    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(self.as_bytes());
    }
    fn decode(bytes: &[u8]) -> Option<String> {
        String::from_utf8(bytes.to_vec()).ok()
    }
}

/// Why a row did not decode: what was being read, at which byte.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct DecodeError {
    /// The field or check that failed.
    pub(crate) what: &'static str,
    /// Its offset in the row.
    pub(crate) at: usize,
}

/// A job's spec as stored, written once, at its submit (by the submitting
/// thread, which knows the spec).
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct SpecRow<T> {
    /// The spec, naming no dependency (they are an [`EdgesRow`]), with no
    /// delay (it is `not_before`).
    pub(crate) spec: JobSpec<T>,
    /// When it may first run, as wall-clock microseconds since the Unix
    /// epoch (a restart cannot keep an `Instant`).
    pub(crate) not_before: Option<u64>,
}

/// A job's dependencies as stored, written by the committer (which knows
/// every job's record number) at the job's first write and again when
/// `add_dependencies` gives it more.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct EdgesRow {
    /// Each dependency's record number and the edge's kind.
    pub(crate) edges: Vec<(u64, DependencyKind)>,
}

/// A job's state as stored: rewritten as it changes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct StateRow {
    /// Its state.
    pub(crate) state: JobState,
    /// Pruned, kept only because a job that has not ended names it.
    pub(crate) pruned: bool,
    /// Its current priority (after any reprioritize).
    pub(crate) priority: Priority,
    /// Attempts made.
    pub(crate) attempt: u32,
    /// A cancel was requested while it was claimed.
    pub(crate) cancel_requested: bool,
    /// How it ended, once terminal.
    pub(crate) end: Option<JobEnd>,
    /// A retry waiting for its backoff: when it is due, as wall-clock
    /// microseconds since the Unix epoch.
    pub(crate) retry_at: Option<u64>,
}

/// A cluster as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ClusterRow {
    /// The cluster.
    pub(crate) cluster: ClusterId,
    /// Its capacity.
    pub(crate) capacity: u32,
    /// Paused.
    pub(crate) paused: bool,
    /// Its resources, if set.
    pub(crate) resources: Option<Resources>,
}

/// Appends fields, then the version in front and the CRC behind.
struct Writer(Vec<u8>);

impl Writer {
    fn new() -> Writer {
        Writer(vec![FORMAT_VERSION])
    }
    fn u8(&mut self, v: u8) {
        self.0.push(v);
    }
    fn u32(&mut self, v: u32) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn u64(&mut self, v: u64) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn bool(&mut self, v: bool) {
        self.u8(u8::from(v));
    }
    fn bytes(&mut self, v: &[u8]) {
        self.u32(v.len() as u32);
        self.0.extend_from_slice(v);
    }
    fn option<V>(&mut self, v: Option<V>, write: impl FnOnce(&mut Writer, V)) {
        self.bool(v.is_some());
        if let Some(v) = v {
            write(self, v);
        }
    }
    fn finish(mut self) -> Vec<u8> {
        let crc = crc32fast::hash(&self.0);
        self.u32(crc);
        self.0
    }
}

/// Reads fields back, each failure naming its field and offset.
struct Reader<'a> {
    row: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    /// Checks the CRC and the version; reads from just after the version.
    fn open(row: &'a [u8]) -> Result<Reader<'a>, DecodeError> {
        let fail = |what, at| Err(DecodeError { what, at });
        let Some(body_len) = row.len().checked_sub(4).filter(|&len| len >= 1) else {
            return fail("row shorter than its version and CRC", 0);
        };
        let (body, crc) = row.split_at(body_len);
        if crc32fast::hash(body) != u32::from_le_bytes(crc.try_into().expect("4 bytes")) {
            return fail("CRC", body_len);
        }
        match body[0] {
            FORMAT_VERSION => Ok(Reader { row: body, at: 1 }),
            0 => fail("format version 0", 0),
            _ => fail("format version newer than this build", 0),
        }
    }
    fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], DecodeError> {
        let bytes = self
            .row
            .get(self.at..self.at.saturating_add(n))
            .ok_or(DecodeError { what, at: self.at })?;
        self.at += n;
        Ok(bytes)
    }
    fn u8(&mut self, what: &'static str) -> Result<u8, DecodeError> {
        Ok(self.take(1, what)?[0])
    }
    fn u32(&mut self, what: &'static str) -> Result<u32, DecodeError> {
        Ok(u32::from_le_bytes(
            self.take(4, what)?.try_into().expect("4 bytes"),
        ))
    }
    fn u64(&mut self, what: &'static str) -> Result<u64, DecodeError> {
        Ok(u64::from_le_bytes(
            self.take(8, what)?.try_into().expect("8 bytes"),
        ))
    }
    fn bool(&mut self, what: &'static str) -> Result<bool, DecodeError> {
        let at = self.at;
        match self.u8(what)? {
            0 => Ok(false),
            1 => Ok(true),
            _ => Err(DecodeError { what, at }),
        }
    }
    fn bytes(&mut self, what: &'static str) -> Result<&'a [u8], DecodeError> {
        let len = self.u32(what)? as usize;
        self.take(len, what)
    }
    fn option<V>(
        &mut self,
        what: &'static str,
        read: impl FnOnce(&mut Self) -> Result<V, DecodeError>,
    ) -> Result<Option<V>, DecodeError> {
        if self.bool(what)? {
            read(self).map(Some)
        } else {
            Ok(None)
        }
    }
    /// A value that must map to something, else an error at its offset.
    fn checked<V>(
        &mut self,
        what: &'static str,
        read: impl FnOnce(&mut Self) -> Result<Option<V>, DecodeError>,
    ) -> Result<V, DecodeError> {
        let at = self.at;
        read(self)?.ok_or(DecodeError { what, at })
    }
    fn end(self) -> Result<(), DecodeError> {
        if self.at == self.row.len() {
            Ok(())
        } else {
            Err(DecodeError {
                what: "bytes after the last field",
                at: self.at,
            })
        }
    }
}

fn kind_code(kind: DependencyKind) -> u8 {
    match kind {
        DependencyKind::AfterSuccess => 0,
        DependencyKind::AfterAny => 1,
        DependencyKind::AfterFailure => 2,
    }
}

fn kind_of(code: u8) -> Option<DependencyKind> {
    Some(match code {
        0 => DependencyKind::AfterSuccess,
        1 => DependencyKind::AfterAny,
        2 => DependencyKind::AfterFailure,
        _ => return None,
    })
}

fn state_of(code: u8) -> Option<JobState> {
    JobState::ALL.get(usize::from(code)).copied()
}

fn micros(duration: Duration) -> u64 {
    duration.as_micros().try_into().unwrap_or(u64::MAX)
}

impl<T: DurablePayload> SpecRow<T> {
    /// The row's bytes (the queue writes [`encode_spec`]'s, from a spec it
    /// does not own yet).
    #[cfg(test)]
    pub(crate) fn encode(&self) -> Vec<u8> {
        encode_spec(&self.spec, self.not_before)
    }
}

/// The bytes of the spec row of `spec` (its dependencies and delay left
/// out) with `not_before`: what a submitting thread writes before the spec
/// moves into the queue.
pub(crate) fn encode_spec<T: DurablePayload>(
    spec: &JobSpec<T>,
    not_before: Option<u64>,
) -> Vec<u8> {
    {
        let mut w = Writer::new();
        w.u64(spec.id().0);
        w.u8(spec.get_priority().level());
        w.u32(spec.get_runner().0);
        w.option(spec.get_cluster(), |w, c| w.u32(c.0));
        w.u32(spec.get_user().0);
        w.u32(spec.get_max_retries());
        let resources = spec.get_resources();
        w.u32(resources.cores);
        w.u32(resources.memory_gb);
        w.option(spec.get_lease(), |w, lease| w.u64(micros(lease)));
        w.option(not_before, Writer::u64);
        w.option(spec.get_retry_backoff(), |w, backoff| {
            w.u64(micros(backoff.base()));
            w.u64(micros(backoff.cap()));
        });
        let mut payload = Vec::new();
        spec.get_payload().encode(&mut payload);
        w.bytes(&payload);
        w.finish()
    }
}

impl<T: DurablePayload> SpecRow<T> {
    /// The row of `bytes`.
    pub(crate) fn decode(bytes: &[u8]) -> Result<SpecRow<T>, DecodeError> {
        let mut r = Reader::open(bytes)?;
        let id = JobId(r.u64("id")?);
        let priority = r.checked("priority", |r| {
            Ok(Priority::from_level(r.u8("priority")?).ok())
        })?;
        let runner = RunnerType(r.u32("runner")?);
        let cluster = r.option("cluster", |r| r.u32("cluster").map(ClusterId))?;
        let user = UserId(r.u32("user")?);
        let max_retries = r.u32("max_retries")?;
        let resources = Resources {
            cores: r.u32("cores")?,
            memory_gb: r.u32("memory_gb")?,
        };
        let lease = r.option("lease", |r| r.u64("lease").map(Duration::from_micros))?;
        let not_before = r.option("not_before", |r| r.u64("not_before"))?;
        let backoff = r.option("retry_backoff", |r| {
            r.checked("retry_backoff", |r| {
                let base = Duration::from_micros(r.u64("backoff base")?);
                let cap = Duration::from_micros(r.u64("backoff cap")?);
                Ok(RetryBackoff::new(base, cap).ok())
            })
        })?;
        let payload = r.checked("payload", |r| Ok(T::decode(r.bytes("payload")?)))?;
        r.end()?;
        let mut spec = JobSpec::new(id)
            .priority(priority)
            .runner(runner)
            .user(user)
            .max_retries(max_retries)
            .resources(resources)
            .payload(payload);
        if let Some(cluster) = cluster {
            spec = spec.cluster(cluster);
        }
        if let Some(lease) = lease {
            spec = spec.lease(lease);
        }
        if let Some(backoff) = backoff {
            spec = spec.retry_backoff(backoff);
        }
        Ok(SpecRow { spec, not_before })
    }
}

impl EdgesRow {
    /// The row's bytes.
    pub(crate) fn encode(&self) -> Vec<u8> {
        let mut w = Writer::new();
        w.u32(self.edges.len() as u32);
        for &(record, kind) in &self.edges {
            w.u64(record);
            w.u8(kind_code(kind));
        }
        w.finish()
    }

    /// The row of `bytes`.
    pub(crate) fn decode(bytes: &[u8]) -> Result<EdgesRow, DecodeError> {
        let mut r = Reader::open(bytes)?;
        let count = r.u32("edge count")? as usize;
        let mut edges = Vec::with_capacity(count.min(crate::spec::MAX_DEPENDENCIES));
        for _ in 0..count {
            let record = r.u64("edge")?;
            let kind = r.checked("edge kind", |r| Ok(kind_of(r.u8("edge kind")?)))?;
            edges.push((record, kind));
        }
        r.end()?;
        Ok(EdgesRow { edges })
    }
}

/// End codes: 0 for none, then one per `JobEnd` variant.
fn write_end(w: &mut Writer, end: &Option<JobEnd>) {
    match end {
        None => w.u8(0),
        Some(JobEnd::Succeeded) => w.u8(1),
        Some(JobEnd::Failed { attempts, reason }) => {
            w.u8(2);
            w.u32(*attempts);
            w.option(reason.as_deref(), |w, reason| w.bytes(reason.as_bytes()));
        }
        Some(JobEnd::DependencyFailed { dependency }) => {
            w.u8(3);
            w.u64(dependency.0);
        }
        Some(JobEnd::LeaseExpired { attempts }) => {
            w.u8(4);
            w.u32(*attempts);
        }
        Some(JobEnd::Cancelled) => w.u8(5),
        Some(JobEnd::DependencyCancelled { dependency }) => {
            w.u8(6);
            w.u64(dependency.0);
        }
        Some(JobEnd::DependencySucceeded { dependency }) => {
            w.u8(7);
            w.u64(dependency.0);
        }
    }
}

fn read_end(r: &mut Reader<'_>) -> Result<Option<JobEnd>, DecodeError> {
    let at = r.at;
    Ok(Some(match r.u8("end")? {
        0 => return Ok(None),
        1 => JobEnd::Succeeded,
        2 => JobEnd::Failed {
            attempts: r.u32("attempts")?,
            reason: r.option("reason", |r| {
                r.checked("reason", |r| {
                    Ok(std::str::from_utf8(r.bytes("reason")?)
                        .ok()
                        .map(Arc::<str>::from))
                })
            })?,
        },
        3 => JobEnd::DependencyFailed {
            dependency: JobId(r.u64("dependency")?),
        },
        4 => JobEnd::LeaseExpired {
            attempts: r.u32("attempts")?,
        },
        5 => JobEnd::Cancelled,
        6 => JobEnd::DependencyCancelled {
            dependency: JobId(r.u64("dependency")?),
        },
        7 => JobEnd::DependencySucceeded {
            dependency: JobId(r.u64("dependency")?),
        },
        _ => return Err(DecodeError { what: "end", at }),
    }))
}

impl StateRow {
    /// The row's bytes.
    pub(crate) fn encode(&self) -> Vec<u8> {
        let mut w = Writer::new();
        w.u8(self.state as u8);
        w.bool(self.pruned);
        w.u8(self.priority.level());
        w.u32(self.attempt);
        w.bool(self.cancel_requested);
        write_end(&mut w, &self.end);
        w.option(self.retry_at, Writer::u64);
        w.finish()
    }

    /// The row of `bytes`.
    pub(crate) fn decode(bytes: &[u8]) -> Result<StateRow, DecodeError> {
        let mut r = Reader::open(bytes)?;
        let state = r.checked("state", |r| Ok(state_of(r.u8("state")?)))?;
        let pruned = r.bool("pruned")?;
        let priority = r.checked("priority", |r| {
            Ok(Priority::from_level(r.u8("priority")?).ok())
        })?;
        let attempt = r.u32("attempt")?;
        let cancel_requested = r.bool("cancel_requested")?;
        let end_at = r.at;
        let end = read_end(&mut r)?;
        let retry_at = r.option("retry_at", |r| r.u64("retry_at"))?;
        r.end()?;
        if end.is_some() != state.is_terminal() || (pruned && end.is_none()) {
            return Err(DecodeError {
                what: "end does not match state",
                at: end_at,
            });
        }
        Ok(StateRow {
            state,
            pruned,
            priority,
            attempt,
            cancel_requested,
            end,
            retry_at,
        })
    }
}

impl ClusterRow {
    /// The row's bytes.
    pub(crate) fn encode(&self) -> Vec<u8> {
        let mut w = Writer::new();
        w.u32(self.cluster.0);
        w.u32(self.capacity);
        w.bool(self.paused);
        w.option(self.resources, |w, resources| {
            w.u32(resources.cores);
            w.u32(resources.memory_gb);
        });
        w.finish()
    }

    /// The row of `bytes`.
    pub(crate) fn decode(bytes: &[u8]) -> Result<ClusterRow, DecodeError> {
        let mut r = Reader::open(bytes)?;
        let row = ClusterRow {
            cluster: ClusterId(r.u32("cluster")?),
            capacity: r.u32("capacity")?,
            paused: r.bool("paused")?,
            resources: r.option("resources", |r| {
                Ok(Resources {
                    cores: r.u32("cores")?,
                    memory_gb: r.u32("memory_gb")?,
                })
            })?,
        };
        r.end()?;
        Ok(row)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn full_spec() -> SpecRow<String> {
        SpecRow {
            spec: JobSpec::new(JobId(42))
                .priority(Priority::High)
                .runner(RunnerType(3))
                .cluster(ClusterId(7))
                .user(UserId(9))
                .max_retries(4)
                .resources(Resources {
                    cores: 8,
                    memory_gb: 32,
                })
                .lease(Duration::from_secs(30))
                .retry_backoff(
                    RetryBackoff::new(Duration::from_millis(20), Duration::from_secs(2)).unwrap(),
                )
                .payload("frame 7".to_string()),
            not_before: Some(1_800_000_000_000_000),
        }
    }

    #[test]
    fn rows_round_trip() {
        let spec = full_spec();
        assert_eq!(SpecRow::<String>::decode(&spec.encode()), Ok(spec));
        let plain = SpecRow {
            spec: JobSpec::new(JobId(1)),
            not_before: None,
        };
        assert_eq!(SpecRow::<()>::decode(&plain.encode()), Ok(plain));
        let edges = EdgesRow {
            edges: vec![
                (1, DependencyKind::AfterSuccess),
                (5, DependencyKind::AfterAny),
                (u64::MAX, DependencyKind::AfterFailure),
            ],
        };
        assert_eq!(EdgesRow::decode(&edges.encode()), Ok(edges));
        let none = EdgesRow { edges: Vec::new() };
        assert_eq!(EdgesRow::decode(&none.encode()), Ok(none));
        let ends = [
            None,
            Some(JobEnd::Succeeded),
            Some(JobEnd::Failed {
                attempts: 3,
                reason: Some("disk full".into()),
            }),
            Some(JobEnd::Failed {
                attempts: 1,
                reason: None,
            }),
            Some(JobEnd::DependencyFailed {
                dependency: JobId(8),
            }),
            Some(JobEnd::LeaseExpired { attempts: 2 }),
            Some(JobEnd::Cancelled),
            Some(JobEnd::DependencyCancelled {
                dependency: JobId(8),
            }),
            Some(JobEnd::DependencySucceeded {
                dependency: JobId(8),
            }),
        ];
        for end in ends {
            let state = match &end {
                None => JobState::Running,
                Some(JobEnd::Succeeded) => JobState::Completed,
                Some(JobEnd::Cancelled | JobEnd::DependencyCancelled { .. }) => JobState::Cancelled,
                Some(JobEnd::DependencySucceeded { .. }) => JobState::Cancelled,
                Some(_) => JobState::Failed,
            };
            let row = StateRow {
                state,
                pruned: false,
                priority: Priority::Low,
                attempt: 3,
                cancel_requested: end.is_none(),
                retry_at: end.is_none().then_some(1_800_000_000_000_000),
                end,
            };
            assert_eq!(StateRow::decode(&row.encode()), Ok(row));
        }
        let cluster = ClusterRow {
            cluster: ClusterId(2),
            capacity: 16,
            paused: true,
            resources: Some(Resources {
                cores: 64,
                memory_gb: 256,
            }),
        };
        assert_eq!(ClusterRow::decode(&cluster.encode()), Ok(cluster));
    }

    #[test]
    fn a_damaged_row_is_an_error_naming_where() {
        let bytes = full_spec().encode();
        // Every single flipped bit is caught (by the CRC, or the version).
        for at in 0..bytes.len() {
            for bit in 0..8 {
                let mut damaged = bytes.clone();
                damaged[at] ^= 1 << bit;
                assert!(
                    SpecRow::<String>::decode(&damaged).is_err(),
                    "byte {at} bit {bit}"
                );
            }
        }
        // Every truncation too.
        for len in 0..bytes.len() {
            assert!(
                SpecRow::<String>::decode(&bytes[..len]).is_err(),
                "{len} bytes"
            );
        }
        let mut newer = bytes[..bytes.len() - 4].to_vec();
        newer[0] = FORMAT_VERSION + 1;
        let crc = crc32fast::hash(&newer);
        newer.extend_from_slice(&crc.to_le_bytes());
        assert_eq!(
            SpecRow::<String>::decode(&newer),
            Err(DecodeError {
                what: "format version newer than this build",
                at: 0
            })
        );
    }

    #[test]
    fn a_well_formed_row_that_does_not_fit_is_an_error() {
        // A valid CRC around a state code that is no state.
        let mut w = Writer::new();
        w.u8(9);
        assert_eq!(
            StateRow::decode(&w.finish()),
            Err(DecodeError {
                what: "state",
                at: 1
            })
        );
        // A terminal state without its end.
        let row = StateRow {
            state: JobState::Completed,
            pruned: false,
            priority: Priority::Normal,
            attempt: 1,
            cancel_requested: false,
            end: None,
            retry_at: None,
        };
        assert!(matches!(
            StateRow::decode(&row.encode()),
            Err(DecodeError {
                what: "end does not match state",
                ..
            })
        ));
        // A payload its codec refuses.
        let bytes = SpecRow {
            spec: JobSpec::new(JobId(1)).payload(vec![0xff_u8]),
            not_before: None,
        }
        .encode();
        // Re-read as a String payload: not UTF-8.
        assert!(matches!(
            SpecRow::<String>::decode(&bytes),
            Err(DecodeError {
                what: "payload",
                ..
            })
        ));
    }
}
