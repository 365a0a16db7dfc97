//! Identifiers chosen by the caller: jobs, runner types, clusters, users.

use core::fmt;
/// A job's identifier, chosen by the caller (usually a database row id).
///
/// ```
/// use dagqueue::JobId;
/// assert_eq!(JobId(7).to_string(), "job 7");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct JobId(pub u64);

impl fmt::Display for JobId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "job {}", self.0)
    }
}

/// A runner type (local, SSH, SLURM, ...), named by a small integer the caller
/// chooses. Workers claim jobs of one runner type at a time.
///
/// ```
/// use dagqueue::RunnerId;
/// assert_eq!(RunnerId::DEFAULT, RunnerId(0));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct RunnerId(pub u32);

impl RunnerId {
    /// The runner type of a [`JobSpec`](crate::JobSpec) that names none.
    pub const DEFAULT: RunnerId = RunnerId(0);
}

/// A cluster (a pool of execution slots with a concurrency limit), named by a
/// small integer the caller chooses.
///
/// ```
/// use dagqueue::ClusterId;
/// assert_eq!(ClusterId(3).to_string(), "cluster 3");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
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
pub struct UserId(pub u32);
