//! Identifiers chosen by the caller: jobs, runner types, clusters, users.

use core::fmt;
use core::hash::{BuildHasherDefault, Hasher};
/// A job's identifier, chosen by the caller (usually a database row id).
///
/// ```
/// use dagqueue::JobId;
/// assert_eq!(JobId(7).to_string(), "job 7");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct JobId(pub u64);

impl fmt::Display for JobId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "job {}", self.0)
    }
}

/// A runner type: the kind of execution backend a job needs (a local
/// process pool, an SSH host, a SLURM account...), named by a small integer
/// the caller chooses. A worker claims jobs of one runner type at a time;
/// each runner type has its own lanes.
///
/// ```
/// use dagqueue::RunnerType;
/// assert_eq!(RunnerType::DEFAULT, RunnerType(0));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct RunnerType(pub u32);

impl RunnerType {
    /// The runner type of a [`JobSpec`](crate::JobSpec) that names none.
    pub const DEFAULT: RunnerType = RunnerType(0);
}

/// A cluster (a pool of execution slots with a concurrency limit), named by a
/// small integer the caller chooses.
///
/// ```
/// use dagqueue::ClusterId;
/// assert_eq!(ClusterId(3).to_string(), "cluster 3");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct ClusterId(pub u32);

impl fmt::Display for ClusterId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "cluster {}", self.0)
    }
}

/// The user a job belongs to, for fair share.
///
/// ```
/// use dagqueue::UserId;
/// assert_eq!(UserId::default(), UserId(0));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct UserId(pub u32);

/// Hashes the crate's integer ids with one multiply (Fx-style) instead
/// of SipHash: ids come from the caller's own database, not from an
/// adversary, and the multiply spreads them over dashmap's shard bits.
#[derive(Default, Clone, Copy)]
pub(crate) struct IdHasher(u64);

impl Hasher for IdHasher {
    #[inline]
    fn finish(&self) -> u64 {
        self.0
    }
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.write_u64(u64::from(byte));
        }
    }
    #[inline]
    fn write_u32(&mut self, value: u32) {
        self.write_u64(u64::from(value));
    }
    #[inline]
    fn write_u64(&mut self, value: u64) {
        self.0 = (self.0.rotate_left(5) ^ value).wrapping_mul(0x517c_c1b7_2722_0a95);
    }
}

/// A `HashMap` keyed by job id with [`IdHasher`] (a batch's index of its
/// own jobs).
pub(crate) type IdMap<V> = std::collections::HashMap<JobId, V, BuildHasherDefault<IdHasher>>;
